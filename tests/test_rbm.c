/*
 * test_rbm.c - the RBM twins against independent references:
 *   - weight tying: a symmetric RBM and a dense RBM whose weights are copied
 *     from it (W_dense[(f,t)][i] = W_f[T_t^-1(i)], b_dense = b_f, a_i = a) give
 *     the same log psi on all 2^N configurations, and the dense gradient summed
 *     over orbits is the symmetric gradient;
 *   - both models equal a direct long-double evaluation of the documented
 *     formula and parameter layout (also on a lattice periodic in one
 *     direction only, |G| < N);
 *   - nqs_logcosh is stable up to |Re z| = 1e4, even, matches clog(ccosh z)
 *     for moderate z and the Taylor series for tiny z;
 *   - ratios and cache updates stay exact (against long-double references)
 *     for |theta| ~ 50, for saturated units (|Re theta| > 100), for extreme
 *     weights that overflow the tables (exact fallback), and for 3..10 flipped
 *     sites at once;
 *   - error paths: open lattice for rbm_symm, alpha out of range.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "config.h"
#include "error.h"
#include "lattice.h"
#include "model.h"
#include "nqs_test.h"
#include "options.h"

/* ------------------------------------------------------------ helpers */

static struct nqs_lattice *make_lattice(enum nqs_lattice_kind kind, int lx, int ly, int px, int py)
{
    int ext[2] = {lx, ly}, per[2] = {px, py};
    struct nqs_lattice *lat = nqs_lattice_alloc(kind, ext, per);
    assert_non_null(lat);
    return lat;
}

/* Model `name` with alpha through the input layer (or NULL and the status in *rc). */
static struct nqs_model *make_model_rc(const char *name, const struct nqs_lattice *lat, long alpha,
                                       int *rc)
{
    const struct nqs_model_ops *ops = nqs_model_find(name);
    assert_non_null(ops);
    struct nqs_opt_val v[8];
    assert_true(ops->n_options <= 8);
    struct nqs_config *cfg = nqs_config_alloc();
    assert_int_equal(nqs_config_get(cfg, "model", ops->options, ops->n_options, v), NQS_OK);
    nqs_config_free(cfg);
    assert_string_equal(ops->options[0].name, "alpha");
    v[0].i = alpha; /* set directly: reaches the model's own checks beyond the table's range */
    v[0].x = (double)alpha;
    nqs_error_clear();
    struct nqs_model *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->ops = ops;
    m->lat = lat;
    m->n_sites = lat->n_sites;
    *rc = ops->alloc(m, lat, v);
    if (*rc != NQS_OK) {
        free(m);
        return NULL;
    }
    return m;
}

static struct nqs_model *make_model(const char *name, const struct nqs_lattice *lat, long alpha)
{
    int rc;
    struct nqs_model *m = make_model_rc(name, lat, alpha, &rc);
    if (!m) fprintf(stderr, "%s: %s\n", name, nqs_last_error());
    assert_non_null(m);
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

/* log cosh in long double (64-bit mantissa, range to 1e4932): the reference. */
static long double complex ref_logcosh(long double complex z)
{
    return clogl(ccoshl(z));
}

/* Dense RBM from the documented layout: a[N], b[M], W[i*M + j]. */
static long double complex ref_rbm(const struct nqs_model *m, const int8_t *s)
{
    int N = m->n_sites, M = m->n_hidden;
    const double complex *a = m->par, *b = m->par + N, *W = m->par + N + M;
    long double complex lp = 0;
    for (int i = 0; i < N; i++) lp += s[i] * (long double complex)a[i];
    for (int j = 0; j < M; j++) {
        long double complex th = b[j];
        for (int i = 0; i < N; i++) th += s[i] * (long double complex)W[(size_t)i * M + j];
        lp += ref_logcosh(th);
    }
    return lp;
}

/* Symmetric RBM from the documented layout: a, b[alpha], W[f*N + k];
 * theta_ft = b_f + sum_k W_f[k] s_{T_t(k)}. */
static long double complex ref_rbm_symm(const struct nqs_model *m, const int8_t *s)
{
    const struct nqs_lattice *lat = m->lat;
    int N = m->n_sites, G = lat->n_trans, A = m->n_hidden / G;
    const double complex *b = m->par + 1, *W = m->par + 1 + A;
    long double complex lp = 0;
    for (int i = 0; i < N; i++) lp += s[i] * (long double complex)m->par[0];
    for (int f = 0; f < A; f++)
        for (int t = 0; t < G; t++) {
            long double complex th = b[f];
            for (int k = 0; k < N; k++)
                th += s[lat->trans[t * N + k]] * (long double complex)W[f * N + k];
            lp += ref_logcosh(th);
        }
    return lp;
}

/* ------------------------------------------------------------ weight tying */

/* Copy a symmetric RBM into a dense one (hidden unit (f, t) -> f |G| + t). */
static void copy_symm_to_dense(const struct nqs_model *sym, struct nqs_model *den)
{
    const struct nqs_lattice *lat = sym->lat;
    int N = sym->n_sites, G = lat->n_trans, A = sym->n_hidden / G, M = den->n_hidden;
    assert_int_equal(M, A * G);
    double complex *a = den->par, *b = den->par + N, *W = den->par + N + M;
    for (int i = 0; i < N; i++) a[i] = sym->par[0];
    for (int f = 0; f < A; f++)
        for (int t = 0; t < G; t++) {
            b[f * G + t] = sym->par[1 + f];
            for (int i = 0; i < N; i++) {
                int tinv_i = lat->trans[lat->trans_inv[t] * N + i]; /* T_t^-1(i) */
                W[(size_t)i * M + f * G + t] = sym->par[1 + A + f * N + tinv_i];
            }
        }
    den->ops->refresh(den);
}

static void check_weight_tying(struct nqs_lattice *lat, int alpha)
{
    int N = lat->n_sites, G = lat->n_trans;
    assert_int_equal(G, N); /* fully periodic: the dense twin has alpha N = alpha |G| units */
    struct nqs_model *sym = make_model("rbm_symm", lat, alpha);
    struct nqs_model *den = make_model("rbm", lat, alpha);
    nqs_model_init(sym, 99, 0.3);
    copy_symm_to_dense(sym, den);
    int8_t *s = malloc((size_t)N);
    void *cs = malloc(sym->cache_size), *cd = malloc(den->cache_size);
    double complex *Os = malloc((size_t)sym->n_par * sizeof *Os);
    double complex *Od = malloc((size_t)den->n_par * sizeof *Od);
    assert_true(s && cs && cd && Os && Od);
    int M = den->n_hidden, A = alpha;
    double worst = 0, worst_grad = 0;
    for (long x = 0; x < (1L << N); x++) {
        for (int i = 0; i < N; i++) s[i] = (x >> i) & 1 ? 1 : -1;
        double complex ls = sym->ops->cache_init(sym, s, cs);
        double complex ld = den->ops->cache_init(den, s, cd);
        /* identical up to rounding: both sum the same M log-coshes */
        double err = logdist(ls, ld) / fmax(1.0, cabs(ld));
        worst = fmax(worst, err);
        assert_true(err <= 1e-12);
        if (x % 97 != 0) continue;
        /* orbit sums of the dense gradient give the shared gradient */
        sym->ops->grad_log_psi(sym, cs, s, Os);
        den->ops->grad_log_psi(den, cd, s, Od);
        double complex oa = 0;
        for (int i = 0; i < N; i++) oa += Od[i];
        worst_grad = fmax(worst_grad, cabs(Os[0] - oa));
        for (int f = 0; f < A; f++) {
            double complex ob = 0;
            for (int t = 0; t < G; t++) ob += Od[N + f * G + t];
            worst_grad = fmax(worst_grad, cabs(Os[1 + f] - ob));
            for (int k = 0; k < N; k++) {
                double complex ow = 0;
                for (int t = 0; t < G; t++) {
                    int i = lat->trans[t * N + k]; /* W_f[k] sits at site T_t(k) */
                    ow += Od[N + M + (size_t)i * M + f * G + t];
                }
                worst_grad = fmax(worst_grad, cabs(Os[1 + A + f * N + k] - ow));
            }
        }
    }
    /* sums of <= 12 terms of modulus <= ~3: rounding ~1e-15 */
    assert_true(worst_grad <= 1e-12);
    printf("# weight tying on %d sites, alpha %d: worst |log psi| difference %.2e, gradient %.2e\n",
           N, alpha, worst, worst_grad);
    free(s), free(cs), free(cd), free(Os), free(Od);
    nqs_model_free(sym);
    nqs_model_free(den);
}

static void test_rbm_weight_tying_matches_dense(void **state)
{
    (void)state;
    struct nqs_lattice *chain = make_lattice(NQS_LATTICE_CHAIN, 10, 1, 1, 1);
    check_weight_tying(chain, 2);
    nqs_lattice_free(chain);
    struct nqs_lattice *sq = make_lattice(NQS_LATTICE_SQUARE, 4, 3, 1, 1);
    check_weight_tying(sq, 1);
    nqs_lattice_free(sq);
}

/* ------------------------------------------------------------ layout */

/* Gradient of the symmetric RBM from the documented formulas (rbm_symm.c
 * header): O_a = sum_i s_i, O_b_f = sum_t tanh theta_ft,
 * O_W_f[k] = sum_t tanh theta_ft s_{T_t(k)}, theta in long double. */
static void ref_grad_symm(const struct nqs_model *m, const int8_t *s, double complex *O)
{
    const struct nqs_lattice *lat = m->lat;
    int N = m->n_sites, G = lat->n_trans, A = m->n_hidden / G;
    const double complex *b = m->par + 1, *W = m->par + 1 + A;
    O[0] = 0;
    for (int i = 0; i < N; i++) O[0] += s[i];
    for (int p = 1; p < m->n_par; p++) O[p] = 0;
    for (int f = 0; f < A; f++)
        for (int t = 0; t < G; t++) {
            long double complex th = b[f];
            for (int k = 0; k < N; k++)
                th += s[lat->trans[t * N + k]] * (long double complex)W[f * N + k];
            double complex tt = ctanh((double complex)th);
            O[1 + f] += tt;
            for (int k = 0; k < N; k++) O[1 + A + f * N + k] += tt * s[lat->trans[t * N + k]];
        }
}

static void check_against_reference(struct nqs_model *m, int symm, gsl_rng *rng)
{
    int N = m->n_sites;
    int8_t *s = malloc((size_t)N);
    void *cache = malloc(m->cache_size);
    double complex *O = malloc((size_t)m->n_par * sizeof *O);
    double complex *Or = malloc((size_t)m->n_par * sizeof *Or);
    assert_true(s && cache && O && Or);
    for (int rep = 0; rep < 50; rep++) {
        random_config(rng, N, s);
        double complex lp = nqs_model_log_psi(m, s);
        long double complex ref = symm ? ref_rbm_symm(m, s) : ref_rbm(m, s);
        /* double evaluation vs long double: rounding of ~M log-coshes */
        assert_true(logdist(lp, (double complex)ref) <= 1e-12 * fmax(1.0, cabs(lp)));
        if (!symm) continue;
        /* gradient: sums of at most |G| tanh values of modulus ~1 */
        m->ops->cache_init(m, s, cache);
        m->ops->grad_log_psi(m, cache, s, O);
        ref_grad_symm(m, s, Or);
        for (int p = 0; p < m->n_par; p++) assert_true(cabs(O[p] - Or[p]) <= 1e-12 * N);
    }
    free(s);
    free(cache);
    free(O);
    free(Or);
}

static void test_rbm_matches_documented_formula(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 555);
    struct nqs_lattice *lats[3] = {
        make_lattice(NQS_LATTICE_TRIANGULAR, 3, 3, 1, 1),
        make_lattice(NQS_LATTICE_SQUARE, 4, 3, 1, 0), /* |G| = 4 < N = 12 */
        make_lattice(NQS_LATTICE_CHAIN, 9, 1, 0, 0),  /* dense only */
    };
    for (int l = 0; l < 3; l++) {
        struct nqs_model *d = make_model("rbm", lats[l], 2);
        nqs_model_init(d, 7 + (unsigned long)l, 0.3);
        check_against_reference(d, 0, rng);
        nqs_model_free(d);
        if (lats[l]->n_trans < 2) continue;
        struct nqs_model *sy = make_model("rbm_symm", lats[l], 3);
        assert_int_equal(sy->n_hidden, 3 * lats[l]->n_trans);
        nqs_model_init(sy, 17 + (unsigned long)l, 0.3);
        check_against_reference(sy, 1, rng);
        nqs_model_free(sy);
    }
    for (int l = 0; l < 3; l++) nqs_lattice_free(lats[l]);
    gsl_rng_free(rng);
}

/* ------------------------------------------------------------ log cosh */

static void test_rbm_logcosh_is_stable(void **state)
{
    (void)state;
    /* Large |Re z|: log cosh z = z - log 2 + log(1 + e^{-2z}), the last term
     * below 1e-8000; no overflow even though cosh(1e4) is not a double. */
    const double complex big[] = {1e4 + 0.3 * I, -1e4 - 0.7 * I, 710.25 + 2.0 * I,
                                  -5000.5 + 100.0 * I};
    for (size_t k = 0; k < sizeof big / sizeof big[0]; k++) {
        double complex z = big[k], zz = creal(z) >= 0 ? z : -z;
        double complex l = nqs_logcosh(z);
        assert_true(isfinite(creal(l)) && isfinite(cimag(l)));
        /* the imaginary part is a phase: compare modulo 2 pi */
        assert_true(logdist(l, zz - M_LN2) <= 1e-15 * cabs(zz));
    }
    /* Even, and equal to clog(ccosh z) (mod 2 pi i) for moderate z. */
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 31);
    for (int k = 0; k < 2000; k++) {
        double complex z = CMPLX(gsl_ran_flat(rng, -6, 6), gsl_ran_flat(rng, -6, 6));
        double complex l = nqs_logcosh(z);
        assert_true(logdist(l, nqs_logcosh(-z)) <= 1e-15 * fmax(1.0, cabs(l)));
        double complex c = ccosh(z);
        if (cabs(c) < 1e-3) continue; /* clog(ccosh) itself is ill-conditioned there */
        assert_true(logdist(l, clog(c)) <= 1e-13);
    }
    gsl_rng_free(rng);
    /* Small z: log cosh z = z^2/2 - z^4/12 + ... Sums of log-coshes need
     * absolute accuracy (log psi is a sum of M of them), which is what the
     * z - log 2 + log(1 + e^{-2z}) form gives: ~1e-16 even when the value is
     * 1e-18 (relative accuracy is not provided there). */
    const double complex small[] = {1e-9 * (1.0 + I), 3e-7 - 2e-7 * I, 1e-12 * I, 1e-3 + 2e-3 * I};
    for (size_t k = 0; k < sizeof small / sizeof small[0]; k++) {
        double complex z = small[k], series = z * z / 2.0 - z * z * z * z / 12.0;
        assert_true(cabs(nqs_logcosh(z) - series) <= 1e-15);
    }
}

/* ------------------------------------------------------------ large theta */

/* Accepted random moves of n_flip sites, each ratio (log_psi_ratio, and the
 * fast paths psi_ratio and log_prob_ratio) against the long-double
 * reference, the cache updated as the sampler does. */
static void run_sequence(struct nqs_model *m, gsl_rng *rng, int n_moves, int max_flip,
                         double rtol, const char *what)
{
    int N = m->n_sites;
    int8_t *s = malloc((size_t)N);
    void *cache = malloc(m->cache_size);
    int *sites = malloc((size_t)N * sizeof *sites);
    assert_true(s && cache && sites);
    random_config(rng, N, s);
    m->ops->cache_init(m, s, cache);
    long double complex lp = ref_rbm(m, s);
    double worst = 0;
    for (int mv = 0; mv < n_moves; mv++) {
        int n = 1 + (int)gsl_rng_uniform_int(rng, (unsigned long)max_flip);
        /* n distinct sites: a partial Fisher-Yates shuffle */
        for (int i = 0; i < N; i++) sites[i] = i;
        for (int f = 0; f < n; f++) {
            int k = f + (int)gsl_rng_uniform_int(rng, (unsigned long)(N - f));
            int t = sites[f];
            sites[f] = sites[k], sites[k] = t;
        }
        double complex r = m->ops->log_psi_ratio(m, cache, s, n, sites);
        double complex pr = m->ops->psi_ratio(m, cache, s, n, sites);
        double lpr = m->ops->log_prob_ratio(m, cache, s, n, sites);
        m->ops->cache_update(m, cache, s, n, sites);
        for (int f = 0; f < n; f++) s[sites[f]] = (int8_t)-s[sites[f]];
        long double complex lp2 = ref_rbm(m, s);
        double complex exact = (double complex)(lp2 - lp);
        double err = logdist(r, exact) / fmax(1.0, cabs(exact));
        /* The fast paths against the same reference: log |ratio|^2 to the same
         * relative tolerance; the ratio itself, where it is a normal double
         * (|Re| < 700), through its log, else inf or 0 as cexp would give. */
        err = fmax(err, fabs(lpr - 2.0 * creal(exact)) / (2.0 * fmax(1.0, cabs(exact))));
        if (fabs(creal(exact)) < 700)
            err = fmax(err, logdist(clog(pr), exact) / fmax(1.0, cabs(exact)));
        else if (creal(exact) > 0)
            assert_true(isinf(creal(pr)) || isinf(cimag(pr)));
        else
            assert_true(cabs(pr) < 1e-300);
        worst = fmax(worst, err);
        if (!(err <= rtol)) {
            fprintf(stderr, "%s, move %d (%d flips): ratio %.17g%+.17gi, exact %.17g%+.17gi\n",
                    what, mv, n, creal(r), cimag(r), creal(exact), cimag(exact));
            fail();
        }
        lp = lp2;
    }
    printf("# %-44s worst relative error %.2e over %d moves\n", what, worst, n_moves);
    free(s), free(cache), free(sites);
}

static void test_rbm_ratio_accurate_for_large_theta(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 2718);
    struct nqs_lattice *lat = make_lattice(NQS_LATTICE_CHAIN, 10, 1, 1, 1);
    struct nqs_model *m = make_model("rbm", lat, 2);
    int N = m->n_sites, M = m->n_hidden;
    /* Hidden biases +-50 (random phases), weights std 0.3: |theta| ~ 50, where
     * 1 - tanh(theta) ~ e^-100 cancels in the textbook form. The reference
     * differences are O(1); 1e-12 relative to max(1, |ratio|). */
    nqs_model_init(m, 3, 0.3);
    for (int j = 0; j < M; j++) m->par[N + j] += (j % 2 ? 50.0 : -50.0) + 1.3 * I * j;
    m->ops->refresh(m);
    run_sequence(m, rng, 2000, 2, 1e-12, "|theta| ~ 50, W ~ 0.3");
    /* Biases ~ +-50 and weights ~ 15: theta crosses zero on a flip
     * (delta ~ 60), and |Re theta| exceeds the saturation threshold 100 for
     * some units and returns below it. The log-cosh differences are O(100);
     * the double reference sums are exact to ~1e-16 x 100 M. */
    nqs_model_init(m, 4, 15.0);
    for (int j = 0; j < M; j++) m->par[N + j] = (j % 3 ? 50.0 : -40.0) + 0.5 * I;
    m->ops->refresh(m);
    run_sequence(m, rng, 2000, 2, 1e-12, "theta crossing zero, |Re theta| > 100");
    /* Weights ~ 200: exp(4 W) overflows the tables, the exact log-cosh
     * fallback answers; differences are O(1e4) (ratio error relative). */
    nqs_model_init(m, 5, 200.0);
    run_sequence(m, rng, 300, 2, 1e-12, "weights ~ 200 (table overflow, exact path)");
    nqs_model_free(m);
    nqs_lattice_free(lat);
    gsl_rng_free(rng);
}

static void test_rbm_many_flips(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 1618);
    struct nqs_lattice *lat = make_lattice(NQS_LATTICE_SQUARE, 4, 3, 1, 1);
    struct nqs_model *m = make_model("rbm", lat, 3);
    nqs_model_init(m, 6, 0.3);
    /* 1..12 sites at once: the table path (<= 8) and the generic one */
    run_sequence(m, rng, 2000, 12, 1e-12, "1..12 flipped sites");
    nqs_model_free(m);
    nqs_lattice_free(lat);
    gsl_rng_free(rng);
}

/* ------------------------------------------------------------ errors */

static void test_rbm_symm_refuses_open_lattice(void **state)
{
    (void)state;
    struct nqs_lattice *lat = make_lattice(NQS_LATTICE_SQUARE, 3, 3, 0, 0);
    int rc;
    struct nqs_model *m = make_model_rc("rbm_symm", lat, 1, &rc);
    assert_null(m);
    assert_int_equal(rc, NQS_EUNSUP);
    assert_non_null(strstr(nqs_last_error(), "translation group"));
    assert_non_null(strstr(nqs_last_error(), "'rbm'"));
    /* the dense twin serves it */
    m = make_model("rbm", lat, 1);
    assert_int_equal(m->n_par, 9 + 9 + 81);
    nqs_model_free(m);
    /* the public allocator returns NULL with the message */
    const struct nqs_model_ops *ops = nqs_model_find("rbm_symm");
    struct nqs_opt_val v[2] = {{.i = 1}, {.i = 0}}; /* alpha = 1, group = translations */
    assert_int_equal(ops->n_options, 2);
    nqs_error_clear();
    assert_null(nqs_model_alloc(ops, lat, v));
    assert_non_null(strstr(nqs_last_error(), "rbm_symm"));
    nqs_lattice_free(lat);
}

static void test_rbm_rejects_bad_alpha(void **state)
{
    (void)state;
    struct nqs_lattice *lat = make_lattice(NQS_LATTICE_CHAIN, 10, 1, 1, 1);
    const char *names[] = {"rbm", "rbm_symm"};
    for (int k = 0; k < 2; k++) {
        int rc;
        assert_null(make_model_rc(names[k], lat, 0, &rc));
        assert_int_equal(rc, NQS_EINVAL);
        assert_non_null(strstr(nqs_last_error(), "alpha"));
        /* more parameters than an int can count */
        assert_null(make_model_rc(names[k], lat, 1L << 30, &rc));
        assert_int_equal(rc, NQS_EINVAL);
        assert_non_null(strstr(nqs_last_error(), "too large"));
    }
    /* the option table itself rejects alpha = 0 from an input */
    const struct nqs_model_ops *ops = nqs_model_find("rbm");
    struct nqs_config *cfg = nqs_config_alloc();
    struct nqs_opt_val v[1];
    assert_int_equal(nqs_config_set(cfg, "model.alpha=0"), NQS_OK);
    assert_int_equal(nqs_config_get(cfg, "model", ops->options, ops->n_options, v), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "alpha"));
    nqs_config_free(cfg);
    nqs_lattice_free(lat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rbm_weight_tying_matches_dense),
        cmocka_unit_test(test_rbm_matches_documented_formula),
        cmocka_unit_test(test_rbm_logcosh_is_stable),
        cmocka_unit_test(test_rbm_ratio_accurate_for_large_theta),
        cmocka_unit_test(test_rbm_many_flips),
        cmocka_unit_test(test_rbm_symm_refuses_open_lattice),
        cmocka_unit_test(test_rbm_rejects_bad_alpha),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
