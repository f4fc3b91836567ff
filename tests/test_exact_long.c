/*
 * test_exact_long.c - exact diagonalisation at the size the solver is meant
 * for (label `long`): the periodic 24-site XX chain (xxz, delta = 0) in the
 * sector sum s = 0 with C(24, 12) = 2,704,156 states against the free-fermion
 * energy (Jordan-Wigner, ham_test_util.h), with the Marshall rotation on (the
 * default on this bipartite ring). Prints the wall time; it is a benchmark
 * figure, not asserted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "error.h"
#include "exact.h"
#include "nqs_test.h"
#include "ham_test_util.h"

/* Lanczos at tolerance 1e-12 gives the energy to rounding (|E| ~ 30:
 * ~1e-13); 1e-9 is a wide margin that any wrong element would exceed. */
static void test_exact_xx_chain_24(void **state)
{
    (void)state;
    struct nqs_lattice *lat = util_lattice(NQS_LATTICE_CHAIN, 24, 1, 1, 0);
    const char *set[] = {"J=0.7313", "delta=0", NULL};
    struct nqs_ham *h = util_ham("xxz", lat, set);
    assert_int_equal(h->marshall, 1);
    struct nqs_exact_result r;
    int rc = nqs_exact_solve(h, NULL, &r);
    if (rc != NQS_OK) fail_msg("exact: %s", nqs_last_error());
    assert_int_equal(r.dim, 2704156);
    assert_close(r.energy, util_xx_chain_energy(24, 0.7313, 1, 12), 1e-9);
    printf("# N = 24 XX chain: E0 = %.12f, %lld states, %d products, %.1f s\n", r.energy,
           (long long)r.dim, r.n_matvec, r.seconds);
    nqs_ham_free(h);
    nqs_lattice_free(lat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_xx_chain_24),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
