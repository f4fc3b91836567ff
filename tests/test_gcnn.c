/*
 * test_gcnn.c - the group-convolutional network: `cnn` with
 * [model] group = space_group (models/gcnn.c).
 *   - psi(g s) = psi(s) to 1e-12 (relative to max(1, |log psi|)) for every
 *     element g of the space group, random parameters (std 0.3, three layers,
 *     poly and logcosh), on periodic and open chains, periodic, cylindrical
 *     and open square lattices and periodic triangular lattices; the plain cnn
 *     visibly breaks the point symmetry on the same lattices (the check can fail);
 *   - over the translations alone it is cnn (the kernel shifted by -(k-1)/2):
 *     same parameters, same log psi and gradient;
 *   - ratios for any number of flips (repeated sites, more than two) against
 *     full evaluations along accepted moves, and gradients against finite
 *     differences (the conformance loop of test_models.c runs the default
 *     model as well);
 *   - parameter counts, the layout naming the group and its order, errors;
 *   - a deterministic ground-state search (`[sampler] method = exact`) on the
 *     periodic Heisenberg chain N = 12 reaches the Lanczos energy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <gsl/gsl_rng.h>

#include "../models/convnet.h"
#include "config.h"
#include "error.h"
#include "lattice.h"
#include "model.h"
#include "nqs_test.h"
#include "nqs_test_run.h"
#include "options.h"
#include "symmetry.h"

struct lat_case {
    const char *label;
    enum nqs_lattice_kind kind;
    int ext[2], per[2];
    int n_point; /* point operations the space group must keep */
};

static const struct lat_case cases[] = {
    {"chain 10 periodic", NQS_LATTICE_CHAIN, {10, 1}, {1, 0}, 2},
    {"chain 7 open", NQS_LATTICE_CHAIN, {7, 1}, {0, 0}, 2},
    {"square 4x4 periodic", NQS_LATTICE_SQUARE, {4, 4}, {1, 1}, 8},
    {"square 5x5 periodic", NQS_LATTICE_SQUARE, {5, 5}, {1, 1}, 8},
    {"square 4x3 periodic", NQS_LATTICE_SQUARE, {4, 3}, {1, 1}, 4},
    {"square 4x3 periodic,open", NQS_LATTICE_SQUARE, {4, 3}, {1, 0}, 4},
    {"square 3x3 open", NQS_LATTICE_SQUARE, {3, 3}, {0, 0}, 8},
    {"triangular 3x3 periodic", NQS_LATTICE_TRIANGULAR, {3, 3}, {1, 1}, 12},
    {"triangular 4x4 periodic", NQS_LATTICE_TRIANGULAR, {4, 4}, {1, 1}, 12},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static struct nqs_lattice *lat_make(const struct lat_case *c)
{
    struct nqs_lattice *lat = nqs_lattice_alloc(c->kind, c->ext, c->per);
    if (!lat) fprintf(stderr, "%s: %s\n", c->label, nqs_last_error());
    assert_non_null(lat);
    return lat;
}

/* cnn options through the input layer: "key=value;key=value". */
static void cnn_options(const char *assign, struct nqs_opt_val *v)
{
    const struct nqs_model_ops *ops = nqs_model_find("cnn");
    assert_non_null(ops);
    struct nqs_config *cfg = nqs_config_alloc();
    assert_non_null(cfg);
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", assign);
    for (char *t = strtok_r(buf, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
        char kv[128];
        snprintf(kv, sizeof kv, "model.%s", t);
        assert_int_equal(nqs_config_set(cfg, kv), NQS_OK);
    }
    int rc = nqs_config_get(cfg, "model", ops->options, ops->n_options, v);
    if (rc != NQS_OK) fprintf(stderr, "%s\n", nqs_last_error());
    assert_int_equal(rc, NQS_OK);
    nqs_config_free(cfg);
}

static struct nqs_model *cnn_make(const struct nqs_lattice *lat, const char *assign,
                                  unsigned long seed, double std)
{
    struct nqs_opt_val v[NQS_CONVNET_N_OPTIONS];
    cnn_options(assign, v);
    struct nqs_model *m = nqs_model_alloc(nqs_model_find("cnn"), lat, v);
    if (!m) fprintf(stderr, "cnn %s: %s\n", assign, nqs_last_error());
    assert_non_null(m);
    nqs_model_init(m, seed, std);
    return m;
}

static double logdist(double complex a, double complex b)
{
    double complex d = a - b;
    return hypot(creal(d), remainder(cimag(d), 2.0 * M_PI));
}

static void random_config(gsl_rng *rng, int N, int8_t *s)
{
    for (int i = 0; i < N; i++) s[i] = gsl_rng_uniform_int(rng, 2) ? 1 : -1;
}

/* ------------------------------------------------------------ invariance */

/* max over elements g and random s of |log psi(g s) - log psi(s)| / max(1, |log psi|). */
static double worst_invariance(const struct nqs_model *m, const struct nqs_symmetry *sym,
                               gsl_rng *rng)
{
    const int N = m->n_sites;
    int8_t *s = malloc((size_t)N), *gs = malloc((size_t)N);
    assert_true(s && gs);
    double worst = 0;
    for (int rep = 0; rep < 4; rep++) {
        random_config(rng, N, s);
        double complex lp = nqs_model_log_psi(m, s);
        assert_true(isfinite(creal(lp)));
        for (int g = 0; g < sym->n_elem; g++) {
            nqs_symmetry_apply(sym, g, s, gs);
            double err = logdist(nqs_model_log_psi(m, gs), lp) / fmax(1.0, cabs(lp));
            worst = fmax(worst, err);
        }
    }
    free(s), free(gs);
    return worst;
}

static void test_gcnn_invariant_under_space_group(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 5150);
    static const char *const nets[] = {
        "group=space_group;channels=3,2,2;kernel=3",
        "group=space_group;channels=2,3;kernel=2;activation=logcosh",
        "group=space_group;channels=4;kernel=4",
    };
    for (int c = 0; c < N_CASES; c++) {
        struct nqs_lattice *lat = lat_make(&cases[c]);
        struct nqs_symmetry *sym = nqs_symmetry_alloc(lat, NQS_GROUP_SPACE);
        assert_non_null(sym);
        assert_int_equal(sym->n_point, cases[c].n_point); /* the test is not vacuous */
        for (size_t k = 0; k < sizeof nets / sizeof *nets; k++) {
            struct nqs_model *m = cnn_make(lat, nets[k], 77 + (unsigned long)c, 0.3);
            assert_non_null(strstr(m->layout, sym->name)); /* nqs info shows group and order */
            double w = worst_invariance(m, sym, rng);
            printf("# %-26s %-55s |G| = %3d: max |log psi(g s) - log psi(s)| = %.2e\n",
                   cases[c].label, nets[k], sym->n_elem, w);
            assert_true(w <= 1e-12);
            nqs_model_free(m);
        }
        /* The plain cnn shares over translations only: a point operation
         * changes psi at O(1) with these weights (0.05 is a loose bound). */
        struct nqs_model *m = cnn_make(lat, "channels=3,2;kernel=3", 91, 0.3);
        double w = worst_invariance(m, sym, rng);
        printf("# %-26s %-55s |G| = %3d: max |log psi(g s) - log psi(s)| = %.2e\n",
               cases[c].label, "plain cnn (group=translations)", sym->n_elem, w);
        assert_true(w > 0.05);
        nqs_model_free(m);
        nqs_symmetry_free(sym);
        nqs_lattice_free(lat);
    }
    gsl_rng_free(rng);
}

/* ------------------------------------------------------------ cnn as a special case */

static void test_gcnn_translations_only_is_cnn(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 99);
    static const char *const nets[] = {"channels=3,2,2;kernel=3", "channels=2,4;kernel=2",
                                       "channels=2,2;kernel=3;activation=logcosh"};
    for (int c = 0; c < N_CASES; c++) {
        if (!cases[c].per[0] || (cases[c].kind != NQS_LATTICE_CHAIN && !cases[c].per[1]))
            continue; /* cnn zero-pads open directions; the group network has no padding */
        struct nqs_lattice *lat = lat_make(&cases[c]);
        for (size_t k = 0; k < sizeof nets / sizeof *nets; k++) {
            struct nqs_model *cnn = cnn_make(lat, nets[k], 5, 0.3);
            struct nqs_opt_val v[NQS_CONVNET_N_OPTIONS];
            cnn_options(nets[k], v);
            struct nqs_model *g = calloc(1, sizeof *g);
            assert_non_null(g);
            g->ops = nqs_model_find("cnn");
            g->lat = lat;
            g->n_sites = lat->n_sites;
            assert_int_equal(nqs_gcnn_alloc(g, lat, v, 0), NQS_OK);
            assert_ptr_not_equal(g->ops, cnn->ops);
            assert_string_equal(g->ops->name, "cnn");
            assert_int_equal(g->n_par, cnn->n_par);
            memcpy(g->par, cnn->par, (size_t)g->n_par * sizeof *g->par);
            g->ops->refresh(g);
            const int N = lat->n_sites;
            int8_t *s = malloc((size_t)N);
            void *c1 = malloc(cnn->cache_size), *c2 = malloc(g->cache_size);
            double complex *O1 = malloc((size_t)g->n_par * sizeof *O1);
            double complex *O2 = malloc((size_t)g->n_par * sizeof *O2);
            assert_true(s && c1 && c2 && O1 && O2);
            for (int rep = 0; rep < 5; rep++) {
                random_config(rng, N, s);
                double complex l1 = cnn->ops->cache_init(cnn, s, c1);
                double complex l2 = g->ops->cache_init(g, s, c2);
                assert_true(logdist(l1, l2) <= 1e-12 * fmax(1.0, cabs(l1)));
                cnn->ops->grad_log_psi(cnn, c1, s, O1);
                g->ops->grad_log_psi(g, c2, s, O2);
                for (int p = 0; p < g->n_par; p++)
                    assert_true(cabs(O1[p] - O2[p]) <= 1e-10 * fmax(1.0, cabs(O1[p])));
            }
            free(s), free(c1), free(c2), free(O1), free(O2);
            nqs_model_free(g);
            nqs_model_free(cnn);
        }
        nqs_lattice_free(lat);
    }
    gsl_rng_free(rng);
}

/* ------------------------------------------------------------ ratios, gradient */

/* `state_bytes`: the cached state at the start of the cache (sigma, then z_l
 * and a_l of every layer; gcnn.c), before the scratch space. */
static void check_moves(const struct nqs_model *m, const char *label, gsl_rng *rng, int n_moves,
                        size_t state_bytes)
{
    const int N = m->n_sites;
    int8_t *s = malloc((size_t)N), *s2 = malloc((size_t)N);
    void *cache = malloc(m->cache_size), *fresh = malloc(m->cache_size);
    assert_true(s && s2 && cache && fresh);
    random_config(rng, N, s);
    double complex lp = m->ops->cache_init(m, s, cache);
    double worst = 0;
    for (int step = 0; step < n_moves; step++) {
        /* 0..5 flips, sites may repeat (a site flipped twice is unchanged) */
        int sites[6], n_flip = (int)gsl_rng_uniform_int(rng, 6);
        for (int f = 0; f < n_flip; f++) sites[f] = (int)gsl_rng_uniform_int(rng, (unsigned)N);
        memcpy(s2, s, (size_t)N);
        for (int f = 0; f < n_flip; f++) s2[sites[f]] = (int8_t)-s2[sites[f]];
        double complex lp2 = m->ops->cache_init(m, s2, fresh);
        double complex r = m->ops->log_psi_ratio(m, cache, s, n_flip, sites);
        double err = logdist(r, lp2 - lp) / fmax(1.0, fmax(cabs(lp), cabs(lp2)));
        worst = fmax(worst, err);
        if (!(err <= 1e-12)) {
            fprintf(stderr, "%s step %d (%d flips): ratio %.17g%+.17gi, full %.17g%+.17gi\n",
                    label, step, n_flip, creal(r), cimag(r), creal(lp2 - lp), cimag(lp2 - lp));
            fail();
        }
        if (gsl_rng_uniform(rng) < 0.7) { /* accept */
            m->ops->cache_update(m, cache, s, n_flip, sites);
            memcpy(s, s2, (size_t)N);
            lp = lp2;
            /* the update recomputes with the full pass's arithmetic: bit for bit */
            m->ops->cache_init(m, s, fresh);
            assert_memory_equal(cache, fresh, state_bytes);
        }
    }
    printf("# %-26s ratio vs full evaluation, %d moves of 0..5 flips: worst %.2e\n", label,
           n_moves, worst);
    free(s), free(s2), free(cache), free(fresh);
}

static void test_gcnn_ratio_any_flips(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 314);
    for (int c = 0; c < N_CASES; c++) {
        struct nqs_lattice *lat = lat_make(&cases[c]);
        struct nqs_model *m = cnn_make(lat, "group=space_group;channels=3,2,2;kernel=3", 11, 0.3);
        struct nqs_symmetry *sym = nqs_symmetry_alloc(lat, NQS_GROUP_SPACE);
        assert_non_null(sym);
        size_t state_bytes = ((size_t)lat->n_sites + 2 * (size_t)sym->n_elem * (3 + 2 + 2)) *
                             sizeof(double complex);
        assert_true(state_bytes < m->cache_size);
        check_moves(m, cases[c].label, rng, 300, state_bytes);
        nqs_symmetry_free(sym);
        nqs_model_free(m);
        nqs_lattice_free(lat);
    }
    gsl_rng_free(rng);
}

static void test_gcnn_grad_matches_finite_differences(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 2718);
    static const int pick[] = {0, 1, 5, 7};
    /* Two layers: three poly layers with std 0.3 weights reach |log psi| ~ 1e5
     * on the triangular lattice, where a central difference of the phase
     * cannot be resolved modulo 2 pi. */
    static const char *const nets[] = {
        "group=space_group;channels=2,3;kernel=2",
        "group=space_group;channels=2,3;kernel=3;activation=logcosh",
    };
    for (size_t pc = 0; pc < sizeof pick / sizeof *pick; pc++)
        for (size_t k = 0; k < sizeof nets / sizeof *nets; k++) {
            const struct lat_case *lc = &cases[pick[pc]];
            struct nqs_lattice *lat = lat_make(lc);
            struct nqs_model *m = cnn_make(lat, nets[k], 3, 0.3);
            const int N = lat->n_sites;
            int8_t *s = malloc((size_t)N);
            void *cache = malloc(m->cache_size);
            double complex *O = malloc((size_t)m->n_par * sizeof *O);
            assert_true(s && cache && O);
            random_config(rng, N, s);
            m->ops->cache_init(m, s, cache);
            m->ops->grad_log_psi(m, cache, s, O);
            const double h = 1e-5;
            double worst = 0;
            for (int p = 0; p < m->n_par; p++) {
                double complex keep = m->par[p];
                m->par[p] = keep + h;
                m->ops->refresh(m);
                double complex lpp = nqs_model_log_psi(m, s);
                m->par[p] = keep - h;
                m->ops->refresh(m);
                double complex lpm = nqs_model_log_psi(m, s);
                m->par[p] = keep;
                double complex d = lpp - lpm;
                double complex fd = CMPLX(creal(d), remainder(cimag(d), 2.0 * M_PI)) / (2 * h);
                double err = cabs(fd - O[p]) / fmax(1.0, cabs(O[p]));
                worst = fmax(worst, err);
                if (!(err <= 1e-6))
                    fail_msg("%s %s: parameter %d: O = %.10g%+.10gi, fd = %.10g%+.10gi", lc->label,
                             nets[k], p, creal(O[p]), cimag(O[p]), creal(fd), cimag(fd));
            }
            m->ops->refresh(m);
            printf("# %-26s %-55s gradient: %d parameters, worst %.2e\n", lc->label, nets[k],
                   m->n_par, worst);
            free(s), free(cache), free(O);
            nqs_model_free(m);
            nqs_lattice_free(lat);
        }
    gsl_rng_free(rng);
}

/* ------------------------------------------------------------ counts, errors */

static void test_gcnn_counts_and_layout(void **state)
{
    (void)state;
    /* square 4x4 periodic, k = 3: n_d = 9 filter sites, n_k = 9 x 8 = 72
     * kernel elements, |G| = 128: P = 4 (9 + 1) + 4 (4 x 72 + 1) */
    struct nqs_lattice *lat = lat_make(&cases[2]);
    struct nqs_model *m = cnn_make(lat, "group=space_group", 1, 0.01);
    assert_int_equal(m->n_par, 4 * (9 + 1) + 4 * (4 * 72 + 1));
    assert_int_equal(m->n_hidden, 128 * 4);
    assert_non_null(strstr(m->layout, "(128)"));
    assert_non_null(strstr(m->layout, "8 point operations"));
    assert_int_equal(m->ops->shared, 1);
    assert_string_equal(m->ops->twin, "lcn");
    nqs_model_free(m);
    nqs_lattice_free(lat);
    /* open chain of 7: no translations, the filter spans the chain (n_d = 7),
     * kernel = the 2 point operations: P = 3 (7 + 1) + 2 (3 x 2 + 1) */
    lat = lat_make(&cases[1]);
    m = cnn_make(lat, "group=space_group;channels=3,2", 1, 0.01);
    assert_int_equal(m->n_par, 3 * (7 + 1) + 2 * (3 * 2 + 1));
    assert_int_equal(m->n_hidden, 2 * 3);
    nqs_model_free(m);
    /* lcn has no group */
    struct nqs_opt_val v[NQS_CONVNET_N_OPTIONS];
    cnn_options("group=space_group", v);
    nqs_error_clear();
    assert_null(nqs_model_alloc(nqs_model_find("lcn"), lat, v));
    assert_non_null(strstr(nqs_last_error(), "[model] group"));
    /* the input layer rejects other groups */
    struct nqs_config *cfg = nqs_config_alloc();
    assert_int_equal(nqs_config_set(cfg, "model.group=point_group"), NQS_OK);
    const struct nqs_model_ops *ops = nqs_model_find("cnn");
    assert_int_not_equal(nqs_config_get(cfg, "model", ops->options, ops->n_options, v), NQS_OK);
    assert_non_null(strstr(nqs_last_error(), "space_group"));
    nqs_config_free(cfg);
    nqs_lattice_free(lat);
}

/* ------------------------------------------------------------ ground state */

static double json_num(const struct nqs_json_kv *kv, int n, const char *key)
{
    const struct nqs_json_kv *e = nqs_json_find(kv, n, key);
    if (!e || e->type != NQS_JSON_NUM) fail_msg("--json: no number '%s'", key);
    return e->num;
}

/* Periodic Heisenberg ring N = 12 (Marshall sign), cnn over the space group
 * (24 elements), channels 4,4, kernel 3, exact expectation values (method =
 * exact: no Monte Carlo noise, the same numbers on every run), 300 SR
 * iterations. E0 from `nqs exact` (ARPACK Lanczos, independent of the model):
 * -21.5495636698 (Pauli units). Required relative error 1e-4. */
static void test_gcnn_ground_state_chain_12(void **state)
{
    (void)state;
    char dir[] = "/tmp/nqs_test_gcnn_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char in[256], out[256], po[256], pe[256];
    snprintf(in, sizeof in, "%s/in.ini", dir);
    snprintf(out, sizeof out, "%s/out.h5", dir);
    snprintf(po, sizeof po, "%s/out.txt", dir);
    snprintf(pe, sizeof pe, "%s/err.txt", dir);
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    fputs("[lattice]\ntype = chain\nextent = 12\n"
          "[hamiltonian]\ntype = heisenberg\n"
          "[model]\ntype = cnn\ngroup = space_group\nchannels = 4,4\nkernel = 5\nseed = 3\n"
          "init_std = 0.05\n"
          "[sampler]\nmethod = exact\nchains = 4\n"
          "[optimizer]\nmethod = sr\niterations = 300\nlearning_rate = 0.05\ndiag_shift = 0.01\n"
          "diag_shift_decay = 0.98\ndiag_shift_min = 1e-5\n"
          "[output]\nexact_reference = true\n",
          f);
    fclose(f);
    char *argv[] = {NULL, "run", in, "-o", out, "--force", "-q", "--json", NULL};
    pid_t pid = nqs_test_start(argv, 1, po, pe);
    assert_true(pid > 0);
    int status = nqs_test_wait(pid);
    char *text = nqs_test_slurp(po, NULL), *err = nqs_test_slurp(pe, NULL);
    assert_non_null(text);
    assert_non_null(err);
    if (status != 0) fail_msg("nqs run: exit status %d: %s", status, err);
    struct nqs_json_kv kv[40];
    int n = nqs_json_parse(text, kv, 40);
    if (n < 0) fail_msg("--json output is not one JSON object: %s", text);
    const double e0 = -21.54956366978; /* nqs exact, cross-checked below */
    double e = json_num(kv, n, "energy"), ref = json_num(kv, n, "reference_energy");
    double rel = fabs(e - ref) / fabs(ref);
    printf("# Heisenberg ring 12, cnn group=space_group: E = %.10f, E0 = %.10f, rel. error %.2e "
           "(%d parameters)\n", e, ref, rel, (int)json_num(kv, n, "n_params"));
    assert_rel_close(ref, e0, 1e-8);
    assert_true(e >= ref - 1e-9 * fabs(ref)); /* exact expectation values are variational */
    assert_true(rel <= 1e-4);
    free(text), free(err);
    unlink(in), unlink(out), unlink(po), unlink(pe);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gcnn_invariant_under_space_group),
        cmocka_unit_test(test_gcnn_translations_only_is_cnn),
        cmocka_unit_test(test_gcnn_ratio_any_flips),
        cmocka_unit_test(test_gcnn_grad_matches_finite_differences),
        cmocka_unit_test(test_gcnn_counts_and_layout),
        cmocka_unit_test(test_gcnn_ground_state_chain_12),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
