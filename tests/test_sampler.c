/*
 * test_sampler.c - Metropolis sampling against exact |psi|^2, local energies
 * against brute-force sums, Monte Carlo energy against exact enumeration,
 * determinism over thread counts and bitwise continuation from saved state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <gsl/gsl_cdf.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "error.h"
#include "hamiltonian.h"
#include "lattice.h"
#include "model.h"
#include "nqs_test.h"
#include "options.h"
#include "sampler.h"
#include "stats.h"

struct fixture {
    struct nqs_lattice *lat;
    struct nqs_ham *ham;
    struct nqs_model *model;
};

static struct fixture *make(const char *ham_name, const char *ham_key, const char *ham_val,
                            int n_sites, unsigned long seed)
{
    struct fixture *f = calloc(1, sizeof *f);
    int ext[1] = {n_sites}, per[1] = {1};
    f->lat = nqs_lattice_alloc(NQS_LATTICE_CHAIN, ext, per);
    assert_non_null(f->lat);
    const struct nqs_ham_ops *hops = nqs_ham_find(ham_name);
    assert_non_null(hops);
    struct nqs_opt_val hv[16];
    nqs_test_options("hamiltonian", hops->options, hops->n_options, ham_key, ham_val, hv);
    f->ham = nqs_ham_alloc(hops, f->lat, hv);
    assert_non_null(f->ham);
    const struct nqs_model_ops *mops = nqs_model_find("rbm");
    assert_non_null(mops);
    struct nqs_opt_val mv[16];
    nqs_test_options("model", mops->options, mops->n_options, "alpha", "2", mv);
    f->model = nqs_model_alloc(mops, f->lat, mv);
    assert_non_null(f->model);
    /* std 0.15: |psi|^2 spans a factor ~50 over the configurations, far from
     * uniform yet unimodal enough that 200 sweeps of burn-in equilibrate every
     * chain (std 0.3 gives separated modes that single flips cross too rarely
     * for any affordable burn-in: the histogram test then fails). */
    nqs_model_init(f->model, seed, 0.15);
    return f;
}

static void destroy(struct fixture *f)
{
    nqs_model_free(f->model);
    nqs_ham_free(f->ham);
    nqs_lattice_free(f->lat);
    free(f);
}

/* Pearson chi^2 of `count` against n * p/z, merging consecutive bins until the
 * expected count reaches 5; configurations with p = 0 are skipped. */
static double chi2_binned(const double *count, const double *p, double z, int dim, int n, int *bins)
{
    double chi2 = 0, acc_o = 0, acc_e = 0;
    *bins = 0;
    for (int x = 0; x < dim; x++) {
        if (p[x] == 0) continue;
        acc_o += count[x];
        acc_e += n * p[x] / z;
        if (acc_e >= 5) {
            chi2 += (acc_o - acc_e) * (acc_o - acc_e) / acc_e;
            (*bins)++;
            acc_o = acc_e = 0;
        }
    }
    if (acc_e > 0) chi2 += (acc_o - acc_e) * (acc_o - acc_e) / acc_e, (*bins)++;
    return chi2;
}

/* Chi-square test of the visit histogram against exact |psi|^2. Every chain
 * contributes ONE sample after a burn-in of 200 sweeps, so the samples are
 * independent draws (up to the burn-in bias, which the test would expose) and
 * the Pearson statistic follows chi^2 with (bins - 1) degrees of freedom. We
 * reject at p = 1e-4: a correct sampler fails with probability 1e-4 for a
 * given seed (and the seed is fixed). The same counts must be rejected
 * against the wrong weighting |psi|, so the test has power. */
static void check_histogram(enum nqs_move move)
{
    struct fixture *f = make(move == NQS_MOVE_FLIP ? "ising" : "heisenberg", NULL, NULL, 8, 11);
    int N = 8, dim = 1 << N;
    struct nqs_sampler_opts o = {.n_chains = 20000, .n_samples = 20000, .sweep = N, .burn_in = 0,
                                 .burn_in_first = 200, .move = move, .seed = 5, .magnetisation = 0};
    struct nqs_sampler *smp = nqs_sampler_alloc(&o, f->model, f->ham, 0, o.n_chains);
    assert_non_null(smp);
    double complex *eloc = malloc(sizeof *eloc * (size_t)smp->n_samples);
    assert_int_equal(nqs_sampler_run(smp, f->model, f->ham, 1, eloc, NULL, 0), NQS_OK);
    double *count = calloc((size_t)dim, sizeof *count), *p = calloc((size_t)dim, sizeof *p);
    for (int c = 0; c < o.n_chains; c++) {
        int x = 0;
        for (int i = 0; i < N; i++) x |= (smp->chains[c].s[i] > 0) << i;
        count[x] += 1;
    }
    int8_t s[8];
    double z = 0;
    for (int x = 0; x < dim; x++) {
        int sum = 0;
        for (int i = 0; i < N; i++) sum += s[i] = (x >> i) & 1 ? 1 : -1;
        if (move != NQS_MOVE_FLIP && sum != 0) continue;
        p[x] = exp(2 * creal(nqs_model_log_psi(f->model, s)));
        z += p[x];
    }
    double pmax = 0, pmin = INFINITY;
    for (int x = 0; x < dim; x++)
        if (p[x] > 0) pmax = fmax(pmax, p[x] / z), pmin = fmin(pmin, p[x] / z);
    printf("  |psi|^2 ranges over a factor %.1f\n", pmax / pmin);
    int bins;
    double chi2 = chi2_binned(count, p, z, dim, o.n_chains, &bins);
    /* power: the same counts against |psi| (a sampler accepting with
     * |psi'/psi| instead of its square) must be rejected */
    double *wrong = malloc((size_t)dim * sizeof *wrong), zw = 0;
    for (int x = 0; x < dim; x++) zw += wrong[x] = sqrt(p[x]);
    int bins_w;
    double chi2_w = chi2_binned(count, wrong, zw, dim, o.n_chains, &bins_w);
    free(wrong);
    double crit = gsl_cdf_chisq_Qinv(1e-4, bins - 1);
    printf("  move %d: chi2 = %.1f for %d bins (critical %.1f at p = 1e-4); against |psi|: %.1f\n",
           (int)move, chi2, bins, crit, chi2_w);
    assert_true(bins > 20);
    assert_true(chi2 < crit);
    assert_true(chi2_w > gsl_cdf_chisq_Qinv(1e-4, bins_w - 1));
    for (int x = 0; x < dim; x++) if (p[x] == 0) assert_true(count[x] == 0); /* stays in the sector */
    free(count);
    free(p);
    free(eloc);
    nqs_sampler_free(smp);
    destroy(f);
}

static void test_sampler_flip_histogram(void **state)
{
    (void)state;
    check_histogram(NQS_MOVE_FLIP);
}

static void test_sampler_exchange_histogram(void **state)
{
    (void)state;
    check_histogram(NQS_MOVE_EXCHANGE);
}

static void test_sampler_bond_exchange_histogram(void **state)
{
    (void)state;
    check_histogram(NQS_MOVE_BOND_EXCHANGE);
}

/* E_loc from ratios equals sum_s' H_ss' psi(s')/psi(s) with full evaluations. */
static void test_local_energy_matches_full_evaluation(void **state)
{
    (void)state;
    struct fixture *f = make("ising", "h", "0.7313", 10, 3);
    struct nqs_conn *conn = nqs_conn_alloc(f->ham);
    void *cache = malloc(f->model->cache_size);
    int8_t s[10], t[10];
    for (int rep = 0; rep < 20; rep++) {
        for (int i = 0; i < 10; i++) s[i] = ((rep * 7 + i * i) % 3) ? 1 : -1;
        f->model->ops->cache_init(f->model, s, cache);
        double complex e = nqs_local_energy(f->model, f->ham, cache, s, conn);
        /* brute force: diagonal -J sum s_i s_i+1, off-diagonal -h for every single flip */
        double complex ref = 0, lp = nqs_model_log_psi(f->model, s);
        for (int i = 0; i < 10; i++) ref += -1.0 * s[i] * s[(i + 1) % 10];
        for (int i = 0; i < 10; i++) {
            memcpy(t, s, sizeof s);
            t[i] = (int8_t)-t[i];
            ref += -0.7313 * cexp(nqs_model_log_psi(f->model, t) - lp);
        }
        assert_rel_close(creal(e), creal(ref), 1e-11);
        assert_close(cimag(e), cimag(ref), 1e-11 * cabs(ref));
    }
    free(cache);
    nqs_conn_free(conn);
    destroy(f);
}

/* MC energy of a fixed random state within 4 error bars of exact enumeration
 * (error bar from the autocorrelation-aware estimator; for a correct sampler
 * a 4-sigma deviation has probability 6e-5). */
static void test_sampler_energy_matches_exact(void **state)
{
    (void)state;
    const char *hams[] = {"ising", "heisenberg"};
    for (int k = 0; k < 2; k++) {
        struct fixture *f = make(hams[k], NULL, NULL, 10, 17 + (unsigned long)k);
        double complex e_exact;
        double var_exact;
        assert_int_equal(nqs_exact_expectation(f->model, f->ham, &e_exact, &var_exact), NQS_OK);
        struct nqs_sampler_opts o = {.n_chains = 8, .n_samples = 40000, .sweep = 10, .burn_in = 0,
                                     .burn_in_first = 200,
                                     .move = k ? NQS_MOVE_EXCHANGE : NQS_MOVE_FLIP, .seed = 99};
        struct nqs_sampler *smp = nqs_sampler_alloc(&o, f->model, f->ham, 0, o.n_chains);
        double complex *eloc = malloc(sizeof *eloc * (size_t)smp->n_samples);
        assert_int_equal(nqs_sampler_run(smp, f->model, f->ham, 1, eloc, NULL, 0), NQS_OK);
        struct nqs_stats st;
        assert_int_equal(nqs_stats_compute(eloc, o.n_chains, smp->per_chain, &st), NQS_OK);
        printf("  %s: MC %.6f +- %.6f, exact %.6f; variance %.4f vs %.4f\n", hams[k], st.mean,
               st.error, creal(e_exact), st.variance, var_exact);
        assert_true(fabs(st.mean - creal(e_exact)) < 4 * st.error);
        assert_true(st.error < 0.02 * fabs(creal(e_exact))); /* the test has power */
        /* the variance estimate converges too: 20 % is many sigma for 40000 samples */
        assert_rel_close(st.variance, var_exact, 0.2);
        free(eloc);
        nqs_sampler_free(smp);
        destroy(f);
    }
}

/* method = exact: the rows are every configuration of the space once (2^10
 * for flips, the C(10,5) = 252 of the sector for exchange moves, checked by
 * popcount and strict order), split over 3 chains with padding rows of
 * probability 0; the probabilities are |psi|^2 / Z of a full evaluation
 * (nqs_model_log_psi, 1e-12), and the weighted energy and variance equal
 * nqs_exact_expectation's own enumeration to 1e-10 (sums of <= 1024 terms). */
static void test_sampler_exact_enumeration(void **state)
{
    (void)state;
    const char *hams[] = {"ising", "heisenberg"};
    for (int k = 0; k < 2; k++) {
        struct fixture *f = make(hams[k], NULL, NULL, 10, 23 + (unsigned long)k);
        struct nqs_sampler_opts o = {.n_chains = 3, .n_samples = 1, .sweep = 10,
                                     .move = k ? NQS_MOVE_EXCHANGE : NQS_MOVE_FLIP, .seed = 5,
                                     .exact = 1};
        struct nqs_sampler *smp = nqs_sampler_alloc(&o, f->model, f->ham, 0, o.n_chains);
        assert_non_null(smp);
        long D = k ? 252 : 1024;
        assert_int_equal(smp->dim, D);
        assert_int_equal(smp->per_chain, (D + 2) / 3);
        for (long r = 0; r < D; r++) {
            if (k) assert_int_equal(__builtin_popcount(smp->basis[r]), 5);
            if (r) assert_true(smp->basis[r] > smp->basis[r - 1]);
        }
        int n = smp->n_samples;
        double complex *eloc = malloc(sizeof *eloc * (size_t)n);
        double *w = malloc(sizeof *w * (size_t)n);
        assert_int_equal(nqs_sampler_run(smp, f->model, f->ham, 1, eloc, NULL, 0), NQS_OK);
        assert_int_equal(nqs_sampler_exact_weights(smp->logp, n, w), NQS_OK);
        double z = 0;
        int8_t s[10];
        for (long r = 0; r < D; r++) {
            for (int i = 0; i < 10; i++) s[i] = (smp->basis[r] >> i) & 1u ? 1 : -1;
            z += exp(2.0 * creal(nqs_model_log_psi(f->model, s)));
        }
        for (long r = 0; r < n; r++) {
            if (r >= D) {
                assert_true(w[r] == 0.0);
                continue;
            }
            for (int i = 0; i < 10; i++) s[i] = (smp->basis[r] >> i) & 1u ? 1 : -1;
            double want = exp(2.0 * creal(nqs_model_log_psi(f->model, s))) / z;
            assert_rel_close(w[r], want, 1e-12);
        }
        double complex e_exact;
        double var_exact;
        assert_int_equal(nqs_exact_expectation(f->model, f->ham, &e_exact, &var_exact), NQS_OK);
        struct nqs_stats st;
        assert_int_equal(nqs_stats_weighted(eloc, w, n, &st), NQS_OK);
        assert_rel_close(st.mean, creal(e_exact), 1e-10);
        assert_rel_close(st.variance, var_exact, 1e-10);
        assert_true(st.error == 0.0 && st.n == D);
        /* a vanishing wavefunction is an error, not a division by zero */
        for (long r = 0; r < n; r++) smp->logp[r] = -INFINITY;
        assert_int_equal(nqs_sampler_exact_weights(smp->logp, n, w), NQS_ENUMERIC);
        free(eloc);
        free(w);
        nqs_sampler_free(smp);
        destroy(f);
    }
}

static void run_once(struct fixture *f, int threads, double complex *eloc, double complex *O,
                     unsigned char *rng_out)
{
#ifdef _OPENMP
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
    struct nqs_sampler_opts o = {.n_chains = 6, .n_samples = 600, .sweep = 12, .burn_in = 2,
                                 .burn_in_first = 10, .move = NQS_MOVE_EXCHANGE, .seed = 7};
    struct nqs_sampler *smp = nqs_sampler_alloc(&o, f->model, f->ham, 0, o.n_chains);
    assert_int_equal(nqs_sampler_run(smp, f->model, f->ham, 1, eloc, O, (size_t)f->model->n_par), NQS_OK);
    if (rng_out) {
        int8_t *spins = malloc((size_t)o.n_chains * 12);
        nqs_sampler_get_state(smp, spins, rng_out);
        free(spins);
    }
    nqs_sampler_free(smp);
}

/* Same seed and chain count: identical numbers on 1 and 2 threads. */
static void test_sampler_independent_of_threads(void **state)
{
    (void)state;
    struct fixture *f = make("heisenberg", NULL, NULL, 12, 23);
    size_t P = (size_t)f->model->n_par;
    double complex *e1 = malloc(600 * sizeof *e1), *e2 = malloc(600 * sizeof *e2);
    double complex *o1 = malloc(600 * P * sizeof *o1), *o2 = malloc(600 * P * sizeof *o2);
    run_once(f, 1, e1, o1, NULL);
    run_once(f, 2, e2, o2, NULL);
    assert_memory_equal(e1, e2, 600 * sizeof *e1);
    assert_memory_equal(o1, o2, 600 * P * sizeof *o1);
    free(e1);
    free(e2);
    free(o1);
    free(o2);
    destroy(f);
}

/* Saving spins and RNG states and restoring them into a fresh sampler
 * continues the chains bitwise. */
static void test_sampler_state_roundtrip(void **state)
{
    (void)state;
    struct fixture *f = make("heisenberg", NULL, NULL, 12, 29);
    struct nqs_sampler_opts o = {.n_chains = 4, .n_samples = 200, .sweep = 12, .burn_in = 1,
                                 .burn_in_first = 5, .move = NQS_MOVE_EXCHANGE, .seed = 3};
    struct nqs_sampler *a = nqs_sampler_alloc(&o, f->model, f->ham, 0, 4);
    struct nqs_sampler *b = nqs_sampler_alloc(&o, f->model, f->ham, 0, 4);
    double complex *ea = malloc(200 * sizeof *ea), *eb = malloc(200 * sizeof *eb);
    assert_int_equal(nqs_sampler_run(a, f->model, f->ham, 1, ea, NULL, 0), NQS_OK);
    size_t rs = nqs_sampler_rng_size();
    int8_t spins[4 * 12];
    unsigned char *rng = malloc(4 * rs);
    nqs_sampler_get_state(a, spins, rng);
    assert_int_equal(nqs_sampler_set_state(b, spins, rng), NQS_OK);
    assert_int_equal(nqs_sampler_run(a, f->model, f->ham, 0, ea, NULL, 0), NQS_OK);
    assert_int_equal(nqs_sampler_run(b, f->model, f->ham, 0, eb, NULL, 0), NQS_OK);
    assert_memory_equal(ea, eb, 200 * sizeof *ea);
    spins[3] = 0; /* corrupt: not a spin */
    assert_int_equal(nqs_sampler_set_state(b, spins, rng), NQS_EIO);
    spins[3] = spins[4] = 1, spins[5] = 1, spins[6] = 1; /* wrong sector (most likely) */
    int sum = 0;
    for (int i = 0; i < 12; i++) sum += spins[i];
    if (sum != 0) assert_int_equal(nqs_sampler_set_state(b, spins, rng), NQS_EIO);
    free(rng);
    free(ea);
    free(eb);
    nqs_sampler_free(a);
    nqs_sampler_free(b);
    destroy(f);
}

/* The bench profile (sampler.h `profile`) only reads clocks: the samples, local
 * energies and log-derivatives are bitwise those of an unprofiled run, and the
 * phase times are positive and bounded by the process CPU time of the run. */
static void test_sampler_profile_changes_nothing(void **state)
{
    (void)state;
    struct fixture *f = make("heisenberg", NULL, 0, 12, 31);
    size_t P = (size_t)f->model->n_par;
    struct nqs_sampler_opts o = {.n_chains = 4, .n_samples = 200, .sweep = 12, .burn_in = 1,
                                 .burn_in_first = 5, .move = NQS_MOVE_EXCHANGE, .seed = 9};
    struct nqs_sampler *a = nqs_sampler_alloc(&o, f->model, f->ham, 0, 4);
    struct nqs_sampler *b = nqs_sampler_alloc(&o, f->model, f->ham, 0, 4);
    assert_non_null(a);
    assert_non_null(b);
    b->profile = 1;
    double complex *ea = malloc(200 * sizeof *ea), *eb = malloc(200 * sizeof *eb);
    double complex *oa = malloc(200 * P * sizeof *oa), *ob = malloc(200 * P * sizeof *ob);
    struct timespec t0, t1;
    assert_int_equal(nqs_sampler_run(a, f->model, f->ham, 1, ea, oa, P), NQS_OK);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    assert_int_equal(nqs_sampler_run(b, f->model, f->ham, 1, eb, ob, P), NQS_OK);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    assert_memory_equal(ea, eb, 200 * sizeof *ea);
    assert_memory_equal(oa, ob, 200 * P * sizeof *oa);
    double sum = 0, cpu = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    for (int c = 0; c < 4; c++) {
        const struct nqs_chain *ch = &b->chains[c];
        assert_true(ch->t_move > 0 && ch->t_eloc > 0 && ch->t_grad > 0);
        sum += ch->t_move + ch->t_eloc + ch->t_grad;
        assert_true(a->chains[c].t_move == 0 && a->chains[c].t_eloc == 0); /* off: untouched */
    }
    /* The phases are parts of the chains' CPU time; 10 % slack for the clocks'
     * granularity (the CPU clocks tick in microseconds, the run takes ms). */
    assert_true(sum <= 1.1 * cpu + 1e-4);
    free(ea);
    free(eb);
    free(oa);
    free(ob);
    nqs_sampler_free(a);
    nqs_sampler_free(b);
    destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_energy_matches_full_evaluation),
        cmocka_unit_test(test_sampler_flip_histogram),
        cmocka_unit_test(test_sampler_exchange_histogram),
        cmocka_unit_test(test_sampler_bond_exchange_histogram),
        cmocka_unit_test(test_sampler_energy_matches_exact),
        cmocka_unit_test(test_sampler_exact_enumeration),
        cmocka_unit_test(test_sampler_independent_of_threads),
        cmocka_unit_test(test_sampler_state_roundtrip),
        cmocka_unit_test(test_sampler_profile_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
