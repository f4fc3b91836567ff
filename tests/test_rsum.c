/*
 * test_rsum.c - reproducible sums (src/core/rsum.c) against exact sums computed in
 * 128-bit integer arithmetic, hand-computed cancellation cases, and the
 * property the MPI runs rely on: the same bits for any order of the terms and
 * any grouping of them into separately accumulated blocks ("ranks").
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gsl/gsl_rng.h>

#include "error.h"
#include "rsum.h"

__extension__ typedef __int128 rsum_i128;

/* Terms a * 2^s with integer |a| < 2^20 and s in [-20, 20]: every term is an
 * integer multiple of 2^-20 and their exact sum fits an __int128 in those
 * units. With M < 2^40 and n = 64 the two levels capture every term exactly
 * (grid of level 2 below 2^-48, rsum.h), so the result must be the exact sum
 * correctly rounded: one rounding, of the int128 -> double conversion. */
static void test_rsum_matches_exact_sum(void **state)
{
    (void)state;
    enum { N = 64, C = 3 };
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 7313);
    for (int trial = 0; trial < 50; trial++) {
        double x[N * C];
        rsum_i128 exact[C] = {0};
        for (int t = 0; t < N; t++)
            for (int j = 0; j < C; j++) {
                long a = (long)gsl_rng_uniform_int(rng, 1UL << 20) - (1L << 19);
                int s = (int)gsl_rng_uniform_int(rng, 41) - 20;
                x[t * C + j] = ldexp((double)a, s);
                exact[j] += (rsum_i128)a * ((rsum_i128)1 << (s + 20));
            }
        double acc[NQS_RSUM_LEVELS * C], out[C];
        assert_int_equal(nqs_rsum_terms(x, N, C, C, N, acc, out), NQS_OK);
        for (int j = 0; j < C; j++) assert_true(out[j] == ldexp((double)exact[j], -20));
    }
    gsl_rng_free(rng);
}

/* 1e16 + 1 - 1e16 + 1 = 2 exactly (hand computation); left-to-right double
 * addition gives 1 (1e16 + 1 rounds to 1e16). */
static void test_rsum_survives_cancellation(void **state)
{
    (void)state;
    const double x[4] = {1e16, 1.0, -1e16, 1.0};
    double naive = ((x[0] + x[1]) + x[2]) + x[3];
    assert_true(naive == 1.0);
    double acc[NQS_RSUM_LEVELS], out;
    assert_int_equal(nqs_rsum_terms(x, 4, 1, 1, 4, acc, &out), NQS_OK);
    assert_true(out == 2.0);
    /* Opposite pairs cancel to exactly zero. */
    const double y[4] = {0.1, 1e-300, -0.1, -1e-300};
    assert_int_equal(nqs_rsum_terms(y, 4, 1, 1, 4, acc, &out), NQS_OK);
    assert_true(out == 0.0);
}

/* Random doubles with full mantissas over 12 decades, summed (a) in order,
 * (b) in a shuffled order, (c) in 2, 3 and 7 groups accumulated separately
 * and combined by adding the accumulators (what MPI_Allreduce does): all
 * results have the same bits. The same numbers summed naively in the two
 * orders differ (checked, so the test would notice a trivial input). */
static void test_rsum_is_independent_of_order_and_grouping(void **state)
{
    (void)state;
    enum { N = 301, C = 5 };
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 4242);
    static double x[N * C], y[N * C];
    int perm[N];
    for (int t = 0; t < N; t++) {
        perm[t] = t;
        for (int j = 0; j < C; j++)
            x[t * C + j] = (gsl_rng_uniform(rng) - 0.3) * pow(10.0, 12.0 * gsl_rng_uniform(rng) - 6);
    }
    for (int t = N - 1; t > 0; t--) {
        int u = (int)gsl_rng_uniform_int(rng, (unsigned long)t + 1), v = perm[t];
        perm[t] = perm[u];
        perm[u] = v;
    }
    for (int t = 0; t < N; t++) memcpy(y + t * C, x + perm[t] * C, C * sizeof *x);
    double bound = nqs_rsum_bound(x, N * C);

    double acc[NQS_RSUM_LEVELS * C], ref[C], out[C];
    struct nqs_rsum r;
    nqs_rsum_begin(&r, acc, C, bound, N, 0);
    for (int t = 0; t < N; t++) nqs_rsum_add(&r, 0, x + t * C, C);
    assert_int_equal(nqs_rsum_end(&r, ref), NQS_OK);

    nqs_rsum_begin(&r, acc, C, bound, N, 0);
    for (int t = 0; t < N; t++) nqs_rsum_add(&r, 0, y + t * C, C);
    assert_int_equal(nqs_rsum_end(&r, out), NQS_OK);
    assert_memory_equal(out, ref, sizeof ref);

    const int groups[3] = {2, 3, 7};
    for (int g = 0; g < 3; g++) {
        double total[NQS_RSUM_LEVELS * C] = {0}, part[NQS_RSUM_LEVELS * C];
        for (int k = 0; k < groups[g]; k++) {
            int lo = N * k / groups[g], hi = N * (k + 1) / groups[g];
            nqs_rsum_begin(&r, part, C, bound, N, 0);
            /* each group in reverse order, pieces of 2 and 3 values */
            for (int t = hi - 1; t >= lo; t--) {
                nqs_rsum_add(&r, 0, y + t * C, 2);
                nqs_rsum_add(&r, 2, y + t * C + 2, 3);
            }
            for (int j = 0; j < NQS_RSUM_LEVELS * C; j++) total[j] += part[j];
        }
        memcpy(acc, total, sizeof total);
        r.acc = acc;
        assert_int_equal(nqs_rsum_end(&r, out), NQS_OK);
        assert_memory_equal(out, ref, sizeof ref);
    }

    int naive_differs = 0;
    for (int j = 0; j < C; j++) {
        double a = 0, b = 0;
        for (int t = 0; t < N; t++) {
            a += x[t * C + j];
            b += y[t * C + j];
        }
        naive_differs |= a != b;
        /* and the naive sum is within its error bound (N - 1) u sum|x| <=
         * N^2 u max|x| of the reproducible one */
        assert_true(fabs(ref[j] - a) <= (double)N * N * bound * 0x1p-53);
    }
    assert_true(naive_differs);
    gsl_rng_free(rng);
}

/* NaN or Inf anywhere makes the bound infinite and the result NaN (the SR
 * solver turns that into NQS_ENUMERIC); all-zero terms sum to zero. */
static void test_rsum_nonfinite_gives_nan(void **state)
{
    (void)state;
    double x[6] = {1.0, 2.0, NAN, 4.0, 5.0, 6.0}, acc[NQS_RSUM_LEVELS * 2], out[2];
    assert_true(isinf(nqs_rsum_bound(x, 6)));
    assert_int_equal(nqs_rsum_terms(x, 3, 2, 2, 3, acc, out), NQS_OK);
    assert_true(isnan(out[0]) && isnan(out[1]));
    x[2] = INFINITY;
    assert_int_equal(nqs_rsum_terms(x, 3, 2, 2, 3, acc, out), NQS_OK);
    assert_true(isnan(out[0]) && isnan(out[1]));
    double z[4] = {0.0, -0.0, 0.0, 0.0};
    assert_int_equal(nqs_rsum_terms(z, 2, 2, 2, 2, acc, out), NQS_OK);
    assert_true(out[0] == 0.0 && out[1] == 0.0);
    /* a bound too large for the grid (n * bound > 2^1000) is refused as NaN */
    double big[2] = {6e300, -6e300};
    assert_int_equal(nqs_rsum_terms(big, 2, 1, 1, 2, acc, out), NQS_OK);
    assert_true(isnan(out[0]));
}

/* Tiny magnitudes: terms near 1e-310 (subnormal range) still sum exactly:
 * level 1 is clamped to the grid 2^-1073, on which these terms lie, and
 * level 2 (below the representable range) is dropped. */
static void test_rsum_tiny_terms(void **state)
{
    (void)state;
    const double x[3] = {0x1p-1030, 0x1p-1031, -0x1p-1032};
    double acc[NQS_RSUM_LEVELS], out;
    assert_int_equal(nqs_rsum_terms(x, 3, 1, 1, 3, acc, &out), NQS_OK);
    assert_true(out == 0x1p-1030 + 0x1p-1031 - 0x1p-1032);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsum_matches_exact_sum),
        cmocka_unit_test(test_rsum_survives_cancellation),
        cmocka_unit_test(test_rsum_is_independent_of_order_and_grouping),
        cmocka_unit_test(test_rsum_nonfinite_gives_nan),
        cmocka_unit_test(test_rsum_tiny_terms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
