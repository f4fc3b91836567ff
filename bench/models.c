/*
 * models.c - section "models" of `nqs bench`: single-thread micro-benchmarks
 * of the model kernels.
 *
 * for every registered model on periodic square lattices
 * L x L (L = 6, 8, 10, i.e. N = 36, 64, 100; a Heisenberg-like setting with
 * single-flip and exchange moves), the wall time per call of
 *   - log_psi_ratio for one flipped site (Metropolis proposal),
 *   - log_psi_ratio for an exchange pair s_i != s_j (Heisenberg off-diagonal
 *     element, conserved-magnetisation proposal),
 *   - cache_update after an accepted single flip,
 *   - grad_log_psi,
 * measured with clock_gettime(CLOCK_MONOTONIC) over enough repetitions for at
 * least BENCH_MIN_TIME seconds per figure. The cost per hidden unit of the
 * fast updates should be flat in N. The last column is thread CPU time over
 * wall time for the row: well below 1 means other processes competed for the
 * core and the wall-clock figures are inflated.
 *
 * Projected rows (bench_proj_cases) wrap a base model in its projection onto a
 * k = 0 sector (nqs_model_project): rbm_symm onto A1 of the point group (8
 * terms on the square lattice), cnn onto A1 likewise (it declares its
 * translation invariance), the dense rbm onto k = 0 (N terms); the options
 * column names the projection.
 *
 * Models are built generically from their option tables: defaults, then the
 * overrides listed in bench_model_cases for that model, through the input
 * layer (config.h); an override whose key the model does not have is skipped.
 * Models with an `alpha` key are run at alpha = 1 and 4, cnn/lcn with two
 * layers, cnn also over the space group (group = space_group).
 *
 * The command and the list of sections are in command.c (bench.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "config.h"
#include "error.h"
#include "lattice.h"
#include "model.h"
#include "options.h"
#include "problem.h"
#include "symmetry.h"

#define BENCH_MIN_TIME 0.2   /* seconds per figure */
#define BENCH_INIT_STD 0.1   /* parameter initialisation for the timed models */
#define BENCH_N_MOVES 1024   /* pre-drawn sites / pairs, cycled through */

/* Extra option rows: model name and ';'-separated "key=value" overrides. */
struct bench_case {
    const char *model;
    const char *overrides;
};

static const struct bench_case bench_model_cases[] = {
    {"*", "alpha=1"},  /* applied to every model that has the key */
    {"*", "alpha=4"},
    {"rbm_symm", "alpha=1;group=space_group"}, /* alpha |G| = 8 alpha N hidden units */
    {"rbm_symm", "alpha=4;group=space_group"},
    {"cnn", "channels=4,4"}, /* two layers */
    {"lcn", "channels=4,4"},
    {"cnn", "channels=4,4;group=space_group"}, /* the group-convolutional network */
};

/* Projected rows (models/projected.c): base model, overrides, and the sector:
 * BENCH_PROJ_POINT = k = 0, A1 over the space group (a translation-invariant
 * base needs the 8 point operations), BENCH_PROJ_TRANS = k = 0 over the
 * translations (N terms for an unshared base). The cost of a ratio should be
 * the number of terms times the base's. */
enum { BENCH_PROJ_NONE, BENCH_PROJ_POINT, BENCH_PROJ_TRANS };
struct bench_proj_case {
    const char *model, *overrides, *label;
    int sector;
};
static const struct bench_proj_case bench_proj_cases[] = {
    {"rbm_symm", "alpha=1", "alpha=1;P(A1)", BENCH_PROJ_POINT},
    {"rbm_symm", "alpha=4", "alpha=4;P(A1)", BENCH_PROJ_POINT},
    {"rbm", "alpha=1", "alpha=1;P(k=0)", BENCH_PROJ_TRANS},
    {"cnn", "channels=4,4", "channels=4,4;P(A1)", BENCH_PROJ_POINT}, /* 8 cosets of translations */
};

/* Option values of `ops` as the input layer would produce them: defaults,
 * then the overrides of `ovr` whose keys the model has (through
 * nqs_config_set / nqs_config_get, so values are validated like an input
 * file's). Sets *used to the number of overrides applied. */
static int bench_model_options(const struct nqs_model_ops *ops, const char *ovr,
                               struct nqs_opt_val *v, int *used)
{
    *used = 0;
    struct nqs_config *cfg = nqs_config_alloc();
    if (!cfg) return NQS_ENOMEM;
    int rc = NQS_OK;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", ovr ? ovr : "");
    for (char *tok = buf; rc == NQS_OK && tok && *tok;) {
        char *next = strchr(tok, ';');
        if (next) *next++ = '\0';
        char *eq = strchr(tok, '=');
        for (int k = 0; eq && k < ops->n_options; k++)
            if (strlen(ops->options[k].name) == (size_t)(eq - tok) &&
                strncmp(ops->options[k].name, tok, (size_t)(eq - tok)) == 0) {
                char assign[300];
                snprintf(assign, sizeof assign, "model.%s", tok);
                rc = nqs_config_set(cfg, assign);
                (*used)++;
            }
        tok = next;
    }
    if (rc == NQS_OK) rc = nqs_config_get(cfg, "model", ops->options, ops->n_options, v);
    nqs_config_free(cfg);
    return rc;
}

/* One timed kernel: run `reps` calls, return a value that depends on them. */
struct bench_ctx {
    const struct nqs_model *m;
    void *cache;
    int8_t *s;
    double complex *O;
    int site[BENCH_N_MOVES];
    int pair[BENCH_N_MOVES][2];
};

static double bench_ratio1(struct bench_ctx *c, long reps)
{
    double acc = 0;
    for (long r = 0; r < reps; r++)
        acc += creal(c->m->ops->log_psi_ratio(c->m, c->cache, c->s, 1,
                                              &c->site[r % BENCH_N_MOVES]));
    return acc;
}

static double bench_ratio2(struct bench_ctx *c, long reps)
{
    double acc = 0;
    for (long r = 0; r < reps; r++)
        acc += creal(c->m->ops->log_psi_ratio(c->m, c->cache, c->s, 2,
                                              c->pair[r % BENCH_N_MOVES]));
    return acc;
}

static double bench_update1(struct bench_ctx *c, long reps)
{
    for (long r = 0; r < reps; r++) {
        const int *i = &c->site[r % BENCH_N_MOVES];
        c->m->ops->cache_update(c->m, c->cache, c->s, 1, i);
        c->s[*i] = (int8_t)-c->s[*i];
    }
    return (double)c->s[0];
}

static double bench_grad(struct bench_ctx *c, long reps)
{
    double acc = 0;
    for (long r = 0; r < reps; r++) {
        c->m->ops->grad_log_psi(c->m, c->cache, c->s, c->O);
        acc += creal(c->O[r % c->m->n_par]);
    }
    return acc;
}

static volatile double bench_sink;

/* Nanoseconds per call of `fn` (wall clock, CLOCK_MONOTONIC), repeating
 * until BENCH_MIN_TIME is reached. Adds the thread's CPU time and the wall
 * time of the final run to *cpu and *wall: a ratio below ~0.9 means the
 * machine was busy and the figures are inflated. */
static double bench_time(double (*fn)(struct bench_ctx *, long), struct bench_ctx *c,
                         double *cpu, double *wall)
{
    long reps = 8;
    for (;;) {
        double c0 = nqs_bench_clock(CLOCK_THREAD_CPUTIME_ID), t0 = nqs_bench_clock(CLOCK_MONOTONIC);
        bench_sink = fn(c, reps);
        double dt = nqs_bench_clock(CLOCK_MONOTONIC) - t0;
        double dc = nqs_bench_clock(CLOCK_THREAD_CPUTIME_ID) - c0;
        if (dt >= BENCH_MIN_TIME) {
            *cpu += dc;
            *wall += dt;
            return 1e9 * dt / (double)reps;
        }
        /* aim at 1.2x the minimum from the current rate, at most 100x more */
        double f = dt > 0 ? 1.2 * BENCH_MIN_TIME / dt : 100.0;
        reps = (long)((double)reps * (f > 100.0 ? 100.0 : f < 2.0 ? 2.0 : f));
    }
}

struct bench_model_result {
    const char *model, *options;
    int n_sites, n_hidden, n_par;
    double ns_ratio, ns_exchange, ns_update, ns_gradient, cpu_over_wall;
};

static void bench_model_print(struct nqs_bench_out *o, const struct bench_model_result *r)
{
    double H = r->n_hidden > 0 ? r->n_hidden : 1;
    if (!o->json) {
        fprintf(o->f, "%-10s %-25s %5d %7d %9d %9.1f %7.3f %9.1f %9.1f %7.3f %10.1f %5.2f\n",
                r->model, r->options, r->n_sites, r->n_hidden, r->n_par, r->ns_ratio,
                r->ns_ratio / H, r->ns_exchange, r->ns_update, r->ns_update / H, r->ns_gradient,
                r->cpu_over_wall);
    } else {
        struct nqs_json_writer *w = &o->w;
        nqs_json_begin_object(w, NULL);
        nqs_json_put_string(w, "model", r->model);
        nqs_json_put_string(w, "options", r->options);
        nqs_json_put_int(w, "n_sites", r->n_sites);
        nqs_json_put_int(w, "n_hidden", r->n_hidden);
        nqs_json_put_int(w, "n_par", r->n_par);
        nqs_json_put_number(w, "ns_ratio", r->ns_ratio);
        nqs_json_put_number(w, "ns_exchange", r->ns_exchange);
        nqs_json_put_number(w, "ns_update", r->ns_update);
        nqs_json_put_number(w, "ns_gradient", r->ns_gradient);
        nqs_json_put_number(w, "cpu_over_wall", r->cpu_over_wall);
        nqs_json_end(w);
    }
    fflush(o->f);
}

static void bench_model_skipped(struct nqs_bench_out *o, const char *model, const char *options,
                                int L, const char *why)
{
    if (!o->json) {
        fprintf(o->f, "%-10s %-25s L=%d skipped: %s\n", model, options, L, why);
        return;
    }
    nqs_json_begin_object(&o->w, NULL);
    nqs_json_put_string(&o->w, "model", model);
    nqs_json_put_string(&o->w, "options", options);
    nqs_json_put_int(&o->w, "n_sites", L * L);
    nqs_json_put_string(&o->w, "skipped", why);
    nqs_json_end(&o->w);
}

/* One table row: model `ops` with options `v` on an L x L periodic square lattice. */
static int bench_model_row(struct nqs_bench_out *out, const struct nqs_model_ops *ops,
                           const struct nqs_opt_val *v, const char *label, int L, int project)
{
    int ext[2] = {L, L}, per[2] = {1, 1};
    int rc = NQS_OK;
    struct bench_ctx *c = calloc(1, sizeof *c);
    struct nqs_lattice *lat = nqs_lattice_alloc(NQS_LATTICE_SQUARE, ext, per);
    struct nqs_model *m = lat ? nqs_model_alloc(ops, lat, v) : NULL;
    struct nqs_symmetry *sym = NULL;
    double complex *chi = NULL;
    if (m && project != BENCH_PROJ_NONE) {
        sym = nqs_symmetry_alloc(lat, project == BENCH_PROJ_POINT ? NQS_GROUP_SPACE
                                                                   : NQS_GROUP_TRANSLATIONS);
        chi = sym ? malloc((size_t)sym->n_elem * sizeof *chi) : NULL;
        struct nqs_sector sec = {{0, 0}, project == BENCH_PROJ_POINT ? NQS_IRREP_A1 : NQS_IRREP_NONE, 0};
        if (!chi || nqs_symmetry_characters(sym, lat, &sec, chi) != NQS_OK) {
            nqs_model_free(m);
            m = NULL;
        } else {
            m = nqs_model_project(m, sym, chi, 0);
        }
    }
    if (!c || !lat || !m) {
        if (!c) NQS_SET_ERROR(NQS_ENOMEM, "bench: out of memory");
        rc = NQS_EINVAL;
        goto done;
    }
    int N = lat->n_sites;
    c->m = m;
    c->cache = malloc(m->cache_size);
    c->s = malloc((size_t)N);
    c->O = malloc((size_t)m->n_par * sizeof *c->O);
    if (!c->cache || !c->s || !c->O) {
        NQS_SET_ERROR(NQS_ENOMEM, "bench: out of memory for model '%s'", ops->name);
        rc = NQS_ENOMEM;
        goto done;
    }
    nqs_model_init(m, 1234, BENCH_INIT_STD);
    /* A fixed pseudo-random zero-magnetisation configuration and moves
     * (a small LCG: the benchmark needs no statistical quality). */
    unsigned long long x = 88172645463325252ULL;
#define BENCH_RAND(n) ((int)((x = x * 6364136223846793005ULL + 1442695040888963407ULL) >> 33) % (n))
    for (int i = 0; i < N; i++) c->s[i] = (int8_t)(i % 2 ? 1 : -1);
    for (int i = N - 1; i > 0; i--) {
        int k = BENCH_RAND(i + 1);
        int8_t t = c->s[i];
        c->s[i] = c->s[k], c->s[k] = t;
    }
    for (int r = 0; r < BENCH_N_MOVES; r++) {
        c->site[r] = BENCH_RAND(N);
        int i, j;
        do {
            i = BENCH_RAND(N);
            j = BENCH_RAND(N);
        } while (c->s[i] == c->s[j]);
        c->pair[r][0] = i, c->pair[r][1] = j;
    }
#undef BENCH_RAND
    m->ops->cache_init(m, c->s, c->cache); /* m->ops: a model may install a variant table */
    double cpu = 0, wall = 0;
    double t_ratio = bench_time(bench_ratio1, c, &cpu, &wall);
    double t_exch = bench_time(bench_ratio2, c, &cpu, &wall);
    double t_grad = bench_time(bench_grad, c, &cpu, &wall);
    double t_upd = bench_time(bench_update1, c, &cpu, &wall); /* last: it moves s */
    struct bench_model_result res = {.model = ops->name,
                                     .options = label,
                                     .n_sites = N,
                                     .n_hidden = m->n_hidden,
                                     .n_par = m->n_par,
                                     .ns_ratio = t_ratio,
                                     .ns_exchange = t_exch,
                                     .ns_update = t_upd,
                                     .ns_gradient = t_grad,
                                     .cpu_over_wall = wall > 0 ? cpu / wall : 0.0};
    bench_model_print(out, &res);
done:
    if (c) {
        free(c->cache);
        free(c->s);
        free(c->O);
        free(c);
    }
    nqs_model_free(m);
    nqs_symmetry_free(sym);
    free(chi);
    nqs_lattice_free(lat);
    return rc;
}

/* Every registered model, every applicable option case, N = 36, 64, 100. */
int nqs_bench_models(struct nqs_bench_out *out)
{
    static const int sizes[] = {6, 8, 10};
    const int n_cases = (int)(sizeof bench_model_cases / sizeof bench_model_cases[0]);
    if (!out->json) {
        fprintf(out->f,
                "== models: periodic square L x L, one thread, ns per call (init std %.2g) ==\n",
                BENCH_INIT_STD);
        fprintf(out->f, "%-10s %-25s %5s %7s %9s %9s %7s %9s %9s %7s %10s %5s\n", "model",
                "options", "N", "hidden", "params", "ratio", "/hidden", "exchange", "update",
                "/hidden", "gradient", "cpu");
    }
    for (int k = 0; nqs_model_registry[k]; k++) {
        const struct nqs_model_ops *ops = nqs_model_registry[k];
        struct nqs_opt_val v[NQS_MAX_PLUGIN_OPTIONS];
        if (ops->n_options > NQS_MAX_PLUGIN_OPTIONS)
            NQS_ERROR(NQS_EINTERNAL, "bench: too many options in model '%s'", ops->name);
        int n_rows = 0;
        for (int ci = 0; ci <= n_cases; ci++) {
            const char *ovr = "";
            const char *label = "defaults";
            if (ci < n_cases) {
                const struct bench_case *bc = &bench_model_cases[ci];
                if (strcmp(bc->model, "*") != 0 && strcmp(bc->model, ops->name) != 0) continue;
                ovr = bc->overrides;
                label = bc->overrides;
            } else if (n_rows > 0) {
                break; /* defaults only when no case applied */
            }
            int used;
            NQS_TRY(bench_model_options(ops, ovr, v, &used));
            if (ci < n_cases && used == 0) continue;
            for (size_t l = 0; l < sizeof sizes / sizeof sizes[0]; l++) {
                int rc = bench_model_row(out, ops, v, label, sizes[l], BENCH_PROJ_NONE);
                if (rc != NQS_OK) {
                    bench_model_skipped(out, ops->name, label, sizes[l], nqs_last_error());
                    nqs_error_clear();
                }
            }
            n_rows++;
        }
    }
    for (size_t q = 0; q < sizeof bench_proj_cases / sizeof bench_proj_cases[0]; q++) {
        const struct bench_proj_case *pc = &bench_proj_cases[q];
        const struct nqs_model_ops *ops = nqs_model_find(pc->model);
        if (!ops) {
            nqs_error_clear();
            continue;
        }
        struct nqs_opt_val v[NQS_MAX_PLUGIN_OPTIONS];
        int used;
        NQS_TRY(bench_model_options(ops, pc->overrides, v, &used));
        for (size_t l = 0; l < sizeof sizes / sizeof sizes[0]; l++) {
            int rc = bench_model_row(out, ops, v, pc->label, sizes[l], pc->sector);
            if (rc != NQS_OK) {
                bench_model_skipped(out, ops->name, pc->label, sizes[l], nqs_last_error());
                nqs_error_clear();
            }
        }
    }
    return NQS_OK;
}
