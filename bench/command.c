/*
 * command.c - the command `nqs bench [SECTION...] [CONFIG]` (also the program
 * nqs-bench): runs the named sections (comma- or space-separated; none or
 * "all": every section but the long "srsweep", in the order of
 * bench_sections), each printing a table, or with --json one member (an array
 * of rows) of one JSON object.
 *
 * Sections: "models" (models.c), "sampler", "iteration", the real-O part of
 * "sr" and "srsweep" (vmc.c), the synthetic part of "sr" (sr_synthetic.c).
 * They share bench.h and common.c; this file is the only one that knows them
 * all, and none of them includes it.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "config.h"
#include "error.h"

static int bench_sampler_section(struct nqs_bench_out *out, struct nqs_config *cfg)
{
    (void)cfg;
    return nqs_bench_sampler(out);
}

static int bench_models_section(struct nqs_bench_out *out, struct nqs_config *cfg)
{
    (void)cfg;
    return nqs_bench_models(out);
}

static int bench_sr_sweep_section(struct nqs_bench_out *out, struct nqs_config *cfg)
{
    (void)cfg;
    return nqs_bench_sr_sweep(out);
}

/* "sr": the synthetic SR-like O (sr_synthetic.c), then real O from the models (vmc.c). */
static int bench_sr_section(struct nqs_bench_out *out, struct nqs_config *cfg)
{
    (void)cfg;
    NQS_TRY(nqs_bench_sr_synthetic(out));
    return nqs_bench_sr_real(out);
}

static const struct {
    const char *name;
    int (*run)(struct nqs_bench_out *out, struct nqs_config *cfg);
} bench_sections[] = {
    {"models", bench_models_section},
    {"sampler", bench_sampler_section},
    {"iteration", nqs_bench_iteration},
    {"sr", bench_sr_section},
    {"srsweep", bench_sr_sweep_section}, /* long: not part of "all" */
};
#define BENCH_N_SECTIONS ((int)(sizeof bench_sections / sizeof bench_sections[0]))
#define BENCH_ALL_MASK 15u /* "all": the first four sections */

unsigned nqs_bench_sections(const char *word)
{
    unsigned mask = 0;
    const char *p = word;
    while (*p) {
        size_t len = strcspn(p, ",");
        unsigned bit = 0;
        if (len == 3 && strncmp(p, "all", 3) == 0) bit = BENCH_ALL_MASK;
        for (int k = 0; k < BENCH_N_SECTIONS; k++)
            if (strlen(bench_sections[k].name) == len && strncmp(p, bench_sections[k].name, len) == 0)
                bit = 1u << k;
        if (!bit) return 0;
        mask |= bit;
        p += len;
        if (*p == ',') p++;
    }
    return mask;
}

/* Sections run in order; with --json each writes one member of the object. */
int nqs_cmd_bench(const struct nqs_cli *cli)
{
    struct nqs_bench_out out = {.f = stdout, .json = cli ? cli->json : 0};
    nqs_json_init(&out.w, out.f, 2);
    unsigned mask = cli && cli->bench_sections ? cli->bench_sections
                                               : BENCH_ALL_MASK;
    struct nqs_config *cfg = cli && cli->config_path ? cli->cfg : NULL;
    int rc = NQS_OK, n_done = 0;
    if (out.json) nqs_json_begin_object(&out.w, NULL);
    for (int k = 0; k < BENCH_N_SECTIONS && rc == NQS_OK; k++) {
        if (!(mask & (1u << k))) continue;
        if (out.json)
            nqs_json_begin_array(&out.w, bench_sections[k].name);
        else if (n_done)
            fputc('\n', out.f);
        rc = bench_sections[k].run(&out, cfg);
        if (out.json) nqs_json_end(&out.w);
        fflush(out.f);
        n_done++;
    }
    if (out.json) nqs_json_end(&out.w);
    return rc;
}
