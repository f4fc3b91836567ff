/*
 * test_comm.c - the process layer (src/core/comm.c) and the reproducible sums
 * across ranks (src/core/rsum.c). Built twice: test_comm runs as one process
 * (the identity of every collective, also in an MPI build without
 * nqs_comm_init), test_comm_mpi initialises MPI and runs under
 * `mpiexec -n 3`, every rank executing every test (collectives in the same
 * order). Expected values are hand-computed (splits, sums of rank numbers)
 * or built independently of the code under test (byte patterns from global
 * indices; the one-process exact sum of all terms).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "error.h"
#include "rsum.h"

static void test_comm_split_by_hand(void **state)
{
    (void)state;
    /* 10 items over 3 ranks: 4 + 3 + 3; 6 over 4: 2 + 2 + 1 + 1 */
    const int f10[3] = {0, 4, 7}, c10[3] = {4, 3, 3};
    const int f6[4] = {0, 2, 4, 5}, c6[4] = {2, 2, 1, 1};
    int first, count;
    for (int r = 0; r < 3; r++) {
        nqs_comm_split(10, r, 3, &first, &count);
        assert_int_equal(first, f10[r]);
        assert_int_equal(count, c10[r]);
    }
    for (int r = 0; r < 4; r++) {
        nqs_comm_split(6, r, 4, &first, &count);
        assert_int_equal(first, f6[r]);
        assert_int_equal(count, c6[r]);
    }
    nqs_comm_split(5, 0, 1, &first, &count);
    assert_int_equal(first, 0);
    assert_int_equal(count, 5);
}

/* Item g (global index) of 3 bytes holds 3g, 3g+1, 3g+2. */
static void fill_items(unsigned char *buf, int first, int count)
{
    for (int g = first; g < first + count; g++)
        for (int j = 0; j < 3; j++) buf[(g - first) * 3 + j] = (unsigned char)(3 * g + j);
}

static void test_comm_chain_gathers(void **state)
{
    (void)state;
    enum { N = 7 };
    int rank = nqs_comm_rank(), size = nqs_comm_size(), first, count;
    nqs_comm_split(N, rank, size, &first, &count);
    unsigned char local[3 * N], all[3 * N], want[3 * N];
    fill_items(want, 0, N);
    fill_items(local, first, count);

    memset(all, 0xff, sizeof all);
    assert_int_equal(nqs_comm_allgather_chains(local, all, 3, N), NQS_OK);
    assert_memory_equal(all, want, sizeof want);

    memset(all, 0xff, sizeof all);
    assert_int_equal(nqs_comm_gather_chains(local, all, 3, N), NQS_OK);
    if (rank == 0) assert_memory_equal(all, want, sizeof want);

    /* in place: the local block already sits at its place in `all` */
    memset(all, 0xff, sizeof all);
    fill_items(all + 3 * first, first, count);
    assert_int_equal(nqs_comm_allgather_chains(all + 3 * first, all, 3, N), NQS_OK);
    assert_memory_equal(all, want, sizeof want);

    memset(local, 0xff, sizeof local);
    if (rank == 0) memcpy(all, want, sizeof want);
    assert_int_equal(nqs_comm_scatter_chains(all, local, 3, N), NQS_OK);
    assert_memory_equal(local, want + 3 * first, (size_t)(3 * count));
}

/* The lowest failing rank's status and message reach every rank. */
static void test_comm_check_agrees_on_first_failure(void **state)
{
    (void)state;
    int rank = nqs_comm_rank(), size = nqs_comm_size();
    int bad = size > 1 ? 1 : 0; /* the rank that fails first */
    nqs_error_clear();
    assert_int_equal(nqs_comm_check(NQS_OK), NQS_OK);
    assert_int_equal(nqs_comm_agreed(), NQS_OK);

    int rc = NQS_OK;
    if (rank == bad) rc = nqs_error_set(NQS_EIO, __FILE__, __LINE__, "disk full on rank %d", rank);
    if (size > 2 && rank == 2) rc = nqs_error_set(NQS_ENUMERIC, __FILE__, __LINE__, "NaN on rank 2");
    char want[64];
    snprintf(want, sizeof want, "disk full on rank %d", bad);
    assert_int_equal(nqs_comm_check(rc), NQS_EIO);
    assert_string_equal(nqs_last_error(), want);
    assert_int_equal(nqs_comm_agreed(), NQS_EIO);
    assert_non_null(strstr(nqs_last_error_where(), "test_comm.c"));

    assert_int_equal(nqs_comm_check(NQS_OK), NQS_OK);
    assert_int_equal(nqs_comm_agreed(), NQS_OK);
}

static void test_comm_reductions_and_broadcasts(void **state)
{
    (void)state;
    int rank = nqs_comm_rank(), size = nqs_comm_size();
    long sums[2] = {rank + 1, 10};
    assert_int_equal(nqs_comm_sum_long(sums, 2), NQS_OK);
    assert_int_equal(sums[0], (long)size * (size + 1) / 2);
    assert_int_equal(sums[1], 10L * size);
    int imax = 7 * rank;
    assert_int_equal(nqs_comm_max_int(&imax, 1), NQS_OK);
    assert_int_equal(imax, 7 * (size - 1));
    double dmax = -0.5 * rank, dsum = 0.25 * rank; /* sums of quarters are exact */
    assert_int_equal(nqs_comm_max_double(&dmax, 1), NQS_OK);
    assert_true(dmax == 0.0);
    assert_int_equal(nqs_comm_sum_double(&dsum, 1), NQS_OK);
    assert_true(dsum == 0.125 * size * (size - 1));

    double v[3] = {rank == 0 ? 1.5 : 0, rank == 0 ? -2.0 : 0, rank == 0 ? 3.25 : 0};
    assert_int_equal(nqs_comm_bcast(v, sizeof v, 0), NQS_OK);
    assert_true(v[0] == 1.5 && v[1] == -2.0 && v[2] == 3.25);
    char *s = rank == 0 ? strdup("effective input text") : NULL;
    assert_int_equal(nqs_comm_bcast_string(&s, 0), NQS_OK);
    assert_non_null(s);
    assert_string_equal(s, "effective input text");
    free(s);
}

/* 11 terms (chains) of 5 values spread over the ranks and summed with
 * nqs_rsum_terms give the bits of the one-process sum of all 11 terms. */
static void test_comm_rsum_independent_of_split(void **state)
{
    (void)state;
    enum { T = 11, C = 5 };
    double x[T * C];
    unsigned long z = 12345;
    for (int k = 0; k < T * C; k++) { /* the same pseudo-random terms on every rank */
        z = z * 6364136223846793005UL + 1442695040888963407UL;
        double u = (double)(z >> 11) * 0x1p-53;
        x[k] = (u - 0.4) * (k % 3 == 0 ? 1e8 : k % 3 == 1 ? 1.0 : 1e-7);
    }
    double acc[NQS_RSUM_LEVELS * C], ref[C], out[C];
    struct nqs_rsum r;
    nqs_rsum_begin(&r, acc, C, nqs_rsum_bound(x, T * C), T, 0);
    for (int t = T - 1; t >= 0; t--) nqs_rsum_add(&r, 0, x + t * C, C);
    assert_int_equal(nqs_rsum_end(&r, ref), NQS_OK);

    int first, count;
    nqs_comm_split(T, nqs_comm_rank(), nqs_comm_size(), &first, &count);
    assert_int_equal(nqs_rsum_terms(x + first * C, count, C, C, T, acc, out), NQS_OK);
    assert_memory_equal(out, ref, sizeof ref);
}

int main(int argc, char **argv)
{
#ifdef NQS_TEST_COMM_INIT_MPI
    if (nqs_comm_init(&argc, &argv) != NQS_OK) return 1;
#else
    (void)argc;
    (void)argv;
#endif
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_comm_split_by_hand),
        cmocka_unit_test(test_comm_chain_gathers),
        cmocka_unit_test(test_comm_check_agrees_on_first_failure),
        cmocka_unit_test(test_comm_reductions_and_broadcasts),
        cmocka_unit_test(test_comm_rsum_independent_of_split),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
#ifdef NQS_TEST_COMM_INIT_MPI
    nqs_comm_finalize();
#endif
    return rc;
}
