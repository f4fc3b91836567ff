/*
 * fuzz_config.c - libFuzzer harness for the INI reader and `--set` overrides
 * (src/io/config.c).
 *
 * Input: INI text, then optional overrides, separated by NUL bytes:
 *   "[lattice]\ntype = chain\n" \0 "lattice.extent=8" \0 "sampler.seed=3"
 * The text is parsed as an input file, every override applied, and a table
 * with one key of every option type is read from each section. Besides
 * crashes and sanitizer reports, one property is checked (abort() on
 * failure): when everything was accepted, the effective input (the dump that
 * result files store for --restart) reads back without error and dumps to the
 * same text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"

/* One key of every type in each section (the names of real keys, so the
 * fuzzer meets the same parsing paths as real inputs). */
static const struct nqs_opt_def fuzz_lattice[] = {
    {"type", NQS_OPT_CHOICE, "chain", "", "chain|square|triangular", 0, 0},
    {"extent", NQS_OPT_INTLIST, "4", "", NULL, 1, 4096},
    {"boundary", NQS_OPT_STRING, "periodic", "", NULL, 0, 0},
};
static const struct nqs_opt_def fuzz_hamiltonian[] = {
    {"type", NQS_OPT_STRING, "heisenberg", "", NULL, 0, 0},
    {"J", NQS_OPT_REAL, "1", "", NULL, -1e6, 1e6},
    {"reference_energy", NQS_OPT_REAL, "", "", NULL, 0, 0},
    {"reference_source", NQS_OPT_STRING, "", "", NULL, 0, 0},
    {"marshall_sign", NQS_OPT_CHOICE, "auto", "", "auto|true|false", 0, 0},
};
static const struct nqs_opt_def fuzz_sampler[] = {
    {"chains", NQS_OPT_INT, "16", "", NULL, 1, 1048576},
    {"seed", NQS_OPT_INT, "1", "", NULL, 0, 4294967295.0},
};
static const struct nqs_opt_def fuzz_observables[] = {
    {"sx", NQS_OPT_BOOL, "false", "", NULL, 0, 0},
    {"structure_factor", NQS_OPT_STRING, "auto", "", NULL, 0, 0},
};

#define FUZZ_N(t) ((int)(sizeof(t) / sizeof((t)[0])))

/* Read every table; NQS_OK if all were accepted. */
static int fuzz_read(struct nqs_config *c)
{
    struct nqs_opt_val v[8];
    if (nqs_config_get(c, "lattice", fuzz_lattice, FUZZ_N(fuzz_lattice), v) != NQS_OK) return 1;
    if (nqs_config_get(c, "hamiltonian", fuzz_hamiltonian, FUZZ_N(fuzz_hamiltonian), v) != NQS_OK)
        return 1;
    if (nqs_config_get(c, "sampler", fuzz_sampler, FUZZ_N(fuzz_sampler), v) != NQS_OK) return 1;
    if (nqs_config_get(c, "observables", fuzz_observables, FUZZ_N(fuzz_observables), v) != NQS_OK)
        return 1;
    return nqs_config_check_unused(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    struct nqs_config *c = nqs_config_alloc();
    int ok = c != NULL && nqs_config_read_string(c, buf, "fuzz.ini") == NQS_OK;
    for (size_t pos = strlen(buf) + 1; ok && pos <= size; pos += strlen(buf + pos) + 1)
        ok = nqs_config_set(c, buf + pos) == NQS_OK;
    if (ok && fuzz_read(c) == NQS_OK) {
        char *dump = nqs_config_dump(c);
        struct nqs_config *back = nqs_config_alloc();
        if (!dump || !back) abort();
        if (nqs_config_read_string(back, dump, "dump") != NQS_OK || fuzz_read(back) != NQS_OK)
            abort(); /* the stored input would not restart */
        char *again = nqs_config_dump(back);
        if (!again || strcmp(again, dump) != 0) abort(); /* nor read back the same */
        free(again);
        free(dump);
        nqs_config_free(back);
    }
    nqs_config_free(c);
    free(buf);
    return 0;
}
