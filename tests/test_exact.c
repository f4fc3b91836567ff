/*
 * test_exact.c - exact ground states (src/core/exact.c) against numbers that do
 * not come from the solver: published Heisenberg energies (docs/physics.md), the
 * Jordan-Wigner solution of the periodic transverse-field Ising chain
 * (computed here), dense LAPACK diagonalisations built in this file from
 * `connected` with the test's own basis indexing, and a dense Hamiltonian
 * built directly from Pauli Kronecker products (independent of `connected`).
 * Also: the Marshall rotation leaves the spectrum unchanged, crystal momentum
 * of Heisenberg rings (docs/physics.md: k = pi for N = 4n + 2 without the rotation,
 * k = 0 with it), and the error paths (memory refusal, no convergence, bad
 * options).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cblas.h>
#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>
#include <lapacke.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cli.h"
#include "config.h"
#include "error.h"
#include "exact.h"
#include "hamiltonian.h"
#include "lattice.h"
#include "nqs_test.h"
#include "ham_test_util.h"

/* Lanczos energies: ARPACK's default tolerance 1e-12 on the Ritz residual
 * gives an eigenvalue error ~ 1e-24 |E| / gap, so the energies agree with
 * dense LAPACK to rounding (~1e-13 for |E| ~ 50). 1e-9 leaves a wide margin
 * and still catches any wrong matrix element (a changed element moves E0 by
 * far more). Published references are given to 9-10 decimals: 1e-7. */
#define E_TOL 1e-9
#define REF_TOL 1e-7

static double solve(const struct nqs_ham *h, struct nqs_exact_result *r)
{
    int rc = nqs_exact_solve(h, NULL, r);
    if (rc != NQS_OK) fail_msg("exact: %s", nqs_last_error());
    return r->energy;
}

/* ------------------------------------------------ dense references */

/* Lowest eigenvalue of the symmetric n x n row-major matrix a (destroyed). */
static double dense_min_eig(double *a, int n)
{
    double *w = malloc((size_t)n * sizeof *w);
    assert_non_null(w);
    assert_int_equal(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', n, a, n, w), 0);
    double e = w[0];
    free(w);
    return e;
}

/* Dense H from `connected` on the patterns with popcount n_up (all 2^N when
 * n_up < 0). Indexing by a full 2^N table (independent of the solver's). */
static double *dense_from_connected(const struct nqs_ham *h, int n_up, int *dim_out)
{
    int N = h->n_sites;
    int64_t full = (int64_t)1 << N;
    int *idx = malloc((size_t)full * sizeof *idx);
    uint64_t *st = malloc((size_t)full * sizeof *st);
    assert_non_null(idx);
    assert_non_null(st);
    int dim = 0;
    for (int64_t x = 0; x < full; x++) {
        idx[x] = -1;
        if (n_up < 0 || __builtin_popcountll((uint64_t)x) == n_up) {
            idx[x] = dim;
            st[dim++] = (uint64_t)x;
        }
    }
    double *a = calloc((size_t)dim * (size_t)dim, sizeof *a);
    assert_non_null(a);
    struct nqs_conn *c = nqs_conn_alloc(h);
    int8_t s[64];
    for (int r = 0; r < dim; r++) {
        util_spins(st[r], N, s);
        h->ops->connected(h, s, c);
        a[(size_t)r * dim + r] += c->diag;
        for (int k = 0; k < c->n; k++) {
            uint64_t y = st[r] ^ ((uint64_t)1 << c->site[k][0]);
            if (c->n_flip[k] == 2) y ^= (uint64_t)1 << c->site[k][1];
            assert_true(idx[y] >= 0); /* the element stays in the space */
            a[(size_t)r * dim + idx[y]] += c->mel[k];
        }
    }
    nqs_conn_free(c);
    free(idx);
    free(st);
    *dim_out = dim;
    return a;
}

/* ------------------------------------------------ Pauli Kronecker products */

/* Single-site Pauli operators in the basis (bit 0 = down s = -1, bit 1 = up
 * s = +1). Z = diag(-1, +1), X swaps. Y = [[0, i], [-i, 0]] in this order is
 * not real, but iY = [[0, -1], [1, 0]] is, and Y_i Y_j = -(iY)_i (iY)_j. */
static const double pauli_x[4] = {0, 1, 1, 0};
static const double pauli_iy[4] = {0, -1, 1, 0};
static const double pauli_z[4] = {-1, 0, 0, 1};

/* op on site i of N: I_(2^(N-1-i)) (x) op (x) I_(2^i) (site i = bit i of the
 * row index, the high factor on the left). Returns a 2^N x 2^N matrix. */
static double *kron_site(const double *op, int i, int N)
{
    int D = 1 << N;
    double *m = calloc((size_t)D * D, sizeof *m);
    assert_non_null(m);
    for (int r = 0; r < D; r++)
        for (int c = 0; c < D; c++) {
            /* every factor but site i is the identity: other bits must agree */
            if ((r ^ c) & ~(1 << i)) continue;
            m[(size_t)r * D + c] = op[((r >> i) & 1) * 2 + ((c >> i) & 1)];
        }
    return m;
}

/* acc += alpha * A B (D x D). */
static void add_product(double *acc, double alpha, const double *A, const double *B, int D)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, D, D, D, alpha, A, D, B, D, 1.0, acc, D);
}

/* Heisenberg / TFIM on the periodic N-chain from Kronecker products, bonds
 * (i, i+1 mod N) written out here:
 *   heis: H = J sum (X X + Y Y + Z Z) = J sum (X X - iY iY + Z Z)
 *   tfim: H = -J sum Z Z - h sum X                                   */
static double *kron_chain(int N, int heis, double J, double hfield)
{
    int D = 1 << N;
    double *H = calloc((size_t)D * D, sizeof *H);
    double *X[16], *IY[16], *Z[16];
    assert_true(N <= 16);
    for (int i = 0; i < N; i++) {
        X[i] = kron_site(pauli_x, i, N);
        IY[i] = kron_site(pauli_iy, i, N);
        Z[i] = kron_site(pauli_z, i, N);
    }
    for (int i = 0; i < N; i++) {
        int j = (i + 1) % N;
        if (heis) {
            add_product(H, J, X[i], X[j], D);
            add_product(H, -J, IY[i], IY[j], D);
            add_product(H, J, Z[i], Z[j], D);
        } else {
            add_product(H, -J, Z[i], Z[j], D);
            for (size_t k = 0; k < (size_t)D * D; k++) H[k] -= hfield * X[i][k];
        }
    }
    for (int i = 0; i < N; i++) {
        free(X[i]);
        free(IY[i]);
        free(Z[i]);
    }
    return H;
}

/* ------------------------------------------------ tests */

static void test_exact_heisenberg_square_4x4(void **state)
{
    (void)state;
    struct nqs_lattice *lat = util_lattice(NQS_LATTICE_SQUARE, 4, 4, 1, 1);
    struct nqs_ham *h = util_ham("heisenberg", lat, NULL);
    struct nqs_exact_result r;
    assert_close(solve(h, &r), -44.913932834, REF_TOL);
    assert_int_equal(r.dim, 12870); /* C(16, 8) */
    assert_int_equal(r.full_space, 0);
    assert_int_equal(r.magnetisation, 0);
    assert_int_equal(r.n_sites, 16);
    assert_string_equal(r.method, "arpack");
    assert_true(r.iterations >= 1 && r.n_matvec > 0);
    /* non-degenerate singlet at momentum (0, 0) */
    for (int d = 0; d < 2; d++) {
        assert_close(r.translation[d], 1.0, 1e-8);
        assert_close(r.translation_physical[d], 1.0, 1e-8);
    }
    struct nqs_exact_result re;
    assert_int_equal(nqs_exact_energy(h, &re), NQS_OK);
    assert_close(re.energy, r.energy, 1e-10);
    assert_int_equal(re.dim, 12870);
    assert_true(isnan(re.translation[0])); /* not requested by nqs_exact_energy */
    nqs_ham_free(h);

    /* the Marshall rotation is a diagonal similarity: same energy */
    const char *off[] = {"marshall_sign=false", NULL};
    h = util_ham("heisenberg", lat, off);
    assert_close(solve(h, &r), -44.913932834, REF_TOL);
    nqs_ham_free(h);
    nqs_lattice_free(lat);
}

static void test_exact_heisenberg_chain_16(void **state)
{
    (void)state;
    struct nqs_lattice *lat = util_lattice(NQS_LATTICE_CHAIN, 16, 1, 1, 0);
    struct nqs_ham *h = util_ham("heisenberg", lat, NULL);
    struct nqs_exact_result r;
    assert_close(solve(h, &r), -28.569185442, REF_TOL);
    assert_int_equal(r.n_dirs, 1);
    assert_close(r.translation[0], 1.0, 1e-8); /* N = 4n: k = 0 */
#ifdef _OPENMP
    /* rows are computed independently and ARPACK is serial: the energy does
     * not depend on the thread count, bit for bit */
    int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    struct nqs_exact_result r1;
    solve(h, &r1);
    omp_set_num_threads(nt > 1 ? nt : 2);
    struct nqs_exact_result r2;
    solve(h, &r2);
    omp_set_num_threads(nt);
    assert_true(r1.energy == r.energy && r2.energy == r.energy);
#endif
    nqs_ham_free(h);
    nqs_lattice_free(lat);
}

/* E0 of the periodic TFIM chain, even fermion parity: k = pi (2m+1) / N. */
static double tfim_jordan_wigner(int N, double J, double h)
{
    double e = 0;
    for (int m = 0; m < N; m++) {
        double k = M_PI * (2 * m + 1) / N;
        e -= sqrt(J * J + h * h - 2 * J * h * cos(k));
    }
    return e;
}

static void test_exact_tfim_chain_jordan_wigner(void **state)
{
    (void)state;
    /* the formula itself against docs/physics.md's check values */
    assert_close(tfim_jordan_wigner(8, 1, 0.5), -8.509082235140, 1e-11);
    assert_close(tfim_jordan_wigner(8, 1, 1), -10.251661790966, 1e-11);
    struct {
        int N;
        const char *J, *h;
    } cases[] = {{8, "1", "0.5"}, {8, "1", "1"}, {10, "0.7313", "1.37"}, {12, "1", "0.3"},
                 {9, "1.2", "2.5"}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char js[32], hs[32];
        snprintf(js, sizeof js, "J=%s", cases[c].J);
        snprintf(hs, sizeof hs, "h=%s", cases[c].h);
        const char *set[] = {js, hs, NULL};
        struct nqs_lattice *lat = util_lattice(NQS_LATTICE_CHAIN, cases[c].N, 1, 1, 0);
        struct nqs_ham *h = util_ham("ising", lat, set);
        struct nqs_exact_result r;
        double want = tfim_jordan_wigner(cases[c].N, atof(cases[c].J), atof(cases[c].h));
        assert_close(solve(h, &r), want, E_TOL);
        assert_int_equal(r.full_space, 1);
        assert_int_equal(r.dim, (int64_t)1 << cases[c].N);
        assert_close(r.translation[0], 1.0, 1e-8); /* unique k = 0 ground state for h > 0 */
        nqs_ham_free(h);
        nqs_lattice_free(lat);
    }
}

/* XX chains (xxz, delta = 0) against free fermions (ham_test_util.h), in
 * sectors large enough for the two-level index: periodic even and odd N, both
 * fermion parities, an open chain, with and without the Marshall rotation. */
static void test_exact_xx_chain_free_fermions(void **state)
{
    (void)state;
    struct {
        int N, periodic;
        const char *J, *marshall;
    } cases[] = {{16, 1, "0.7313", "auto"}, {14, 1, "1", "false"}, {13, 1, "1", "auto"},
                 {15, 1, "0.7313", "auto"}, {14, 0, "1.25", "true"},  {15, 0, "1", "false"}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char js[32], ms[48];
        snprintf(js, sizeof js, "J=%s", cases[c].J);
        snprintf(ms, sizeof ms, "marshall_sign=%s", cases[c].marshall);
        const char *set[] = {js, ms, "delta=0", NULL};
        struct nqs_lattice *lat = util_lattice(NQS_LATTICE_CHAIN, cases[c].N, 1, cases[c].periodic, 0);
        struct nqs_ham *h = util_ham("xxz", lat, set);
        struct nqs_exact_result r;
        int n_f = (cases[c].N + 1) / 2;
        double want = util_xx_chain_energy(cases[c].N, atof(cases[c].J), cases[c].periodic, n_f);
        double e = solve(h, &r);
        if (fabs(e - want) > E_TOL)
            fail_msg("XX chain N=%d %s: exact %.12f, free fermions %.12f", cases[c].N,
                     cases[c].periodic ? "periodic" : "open", e, want);
        nqs_ham_free(h);
        nqs_lattice_free(lat);
    }
}

/* Every family on small lattices (plain, frustrated, open, disordered)
 * against dense dsyev of the same sector built here; SU(2)-invariant
 * families also against the whole 2^N spectrum (every multiplet has a member
 * with sum s = 0, or +1 for odd N). */
static void test_exact_matches_dense_small(void **state)
{
    (void)state;
    struct {
        const char *name;
        enum nqs_lattice_kind kind;
        int lx, ly, px, py, disorder;
    } lats[] = {
        {"chain 8 periodic", NQS_LATTICE_CHAIN, 8, 1, 1, 0, 0},
        {"chain 7 open", NQS_LATTICE_CHAIN, 7, 1, 0, 0, 0},
        {"square 3x3 periodic", NQS_LATTICE_SQUARE, 3, 3, 1, 1, 0},
        {"square 4x2 open", NQS_LATTICE_SQUARE, 4, 2, 0, 0, 0},
        {"triangular 3x3 periodic", NQS_LATTICE_TRIANGULAR, 3, 3, 1, 1, 0},
        {"chain 10 periodic disordered", NQS_LATTICE_CHAIN, 10, 1, 1, 0, 1},
        {"triangular 3x2 open disordered", NQS_LATTICE_TRIANGULAR, 3, 2, 0, 0, 1},
    };
    struct {
        const char *fam;
        const char *set[4];
        int su2;
    } fams[] = {
        {"ising", {"J=0.7313", "h=1.37", NULL}, 0},
        {"heisenberg", {"J=1", NULL}, 1},
        {"xxz", {"J=1", "delta=0.37", NULL}, 0},
        {"j1j2", {"J=1", "J2=0.5", NULL}, 1},
    };
    for (size_t l = 0; l < sizeof lats / sizeof lats[0]; l++) {
        struct nqs_lattice *lat =
            util_lattice(lats[l].kind, lats[l].lx, lats[l].ly, lats[l].px, lats[l].py);
        if (lats[l].disorder)
            assert_int_equal(nqs_lattice_disorder_uniform(lat, 0.2, 1.8, 42), NQS_OK);
        int N = lat->n_sites;
        for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
            struct nqs_ham *h = util_ham(fams[f].fam, lat, fams[f].set);
            struct nqs_exact_result r;
            double e = solve(h, &r);
            int dim;
            int n_up = h->conserves_sz ? (N + 1) / 2 : -1;
            double *a = dense_from_connected(h, n_up, &dim);
            assert_int_equal(r.dim, dim);
            assert_int_equal(r.magnetisation, h->conserves_sz ? (N % 2) : 0);
            double e_dense = dense_min_eig(a, dim);
            free(a);
            if (fabs(e - e_dense) > E_TOL)
                fail_msg("%s on %s: exact %.12f, dense %.12f", fams[f].fam, lats[l].name, e,
                         e_dense);
            if (fams[f].su2) {
                a = dense_from_connected(h, -1, &dim);
                assert_close(dense_min_eig(a, dim), e, E_TOL);
                free(a);
            }
            nqs_ham_free(h);
        }
        nqs_lattice_free(lat);
    }
}

/* Independent of `connected`: H from Pauli Kronecker products for the
 * periodic 6-chain equals the dense matrix from `connected` element by
 * element (heisenberg without and with the Marshall rotation D H D,
 * D = diag (-1)^{N_up(A)}, A = even sites; TFIM), and the solver's energy
 * is its lowest eigenvalue. */
static void test_exact_kronecker_products(void **state)
{
    (void)state;
    const int N = 6, D = 1 << N;
    const double J = 0.7313, hf = 1.37;
    struct nqs_lattice *lat = util_lattice(NQS_LATTICE_CHAIN, N, 1, 1, 0);
    for (int model = 0; model < 3; model++) { /* 0 heis, 1 heis + Marshall, 2 tfim */
        double *K = kron_chain(N, model < 2, J, hf);
        if (model == 1)
            for (int r = 0; r < D; r++)
                for (int c = 0; c < D; c++) {
                    int up_a = __builtin_popcount((unsigned)(r & 0x15)) +
                               __builtin_popcount((unsigned)(c & 0x15)); /* sites 0, 2, 4 */
                    if (up_a & 1) K[r * D + c] = -K[r * D + c];
                }
        const char *heis_set[] = {"J=0.7313", model == 1 ? "marshall_sign=true" : "marshall_sign=false",
                                  NULL};
        const char *tfim_set[] = {"J=0.7313", "h=1.37", NULL};
        struct nqs_ham *h = util_ham(model < 2 ? "heisenberg" : "ising", lat,
                                     model < 2 ? heis_set : tfim_set);
        int dim;
        double *a = dense_from_connected(h, -1, &dim);
        assert_int_equal(dim, D);
        for (int k = 0; k < D * D; k++) assert_close(a[k], K[k], 1e-14);
        free(a);
        struct nqs_exact_result r;
        double e = solve(h, &r);
        assert_close(e, dense_min_eig(K, D), E_TOL);
        free(K);
        nqs_ham_free(h);
    }
    nqs_lattice_free(lat);
}

/* The Marshall rotation leaves the spectrum unchanged (j1j2 on 4x4 at
 * J2 = 0.5, where the sign rule is not exact, and xxz on an open chain), and
 * moves the momentum of the N = 4n + 2 Heisenberg ring from pi to 0 in the
 * rotated basis while the physical momentum stays pi (docs/physics.md). */
static void test_exact_marshall_spectrum_and_momentum(void **state)
{
    (void)state;
    struct nqs_exact_result r0, r1;
    struct nqs_lattice *sq = util_lattice(NQS_LATTICE_SQUARE, 4, 4, 1, 1);
    const char *j0[] = {"J2=0.5", "marshall_sign=false", NULL};
    const char *j1[] = {"J2=0.5", "marshall_sign=true", NULL};
    struct nqs_ham *h0 = util_ham("j1j2", sq, j0), *h1 = util_ham("j1j2", sq, j1);
    assert_close(solve(h1, &r1), solve(h0, &r0), E_TOL);
    nqs_ham_free(h0);
    nqs_ham_free(h1);
    nqs_lattice_free(sq);

    struct nqs_lattice *oc = util_lattice(NQS_LATTICE_CHAIN, 12, 1, 0, 0);
    const char *x0[] = {"delta=0.37", "marshall_sign=false", NULL};
    const char *x1[] = {"delta=0.37", "marshall_sign=true", NULL};
    h0 = util_ham("xxz", oc, x0);
    h1 = util_ham("xxz", oc, x1);
    assert_close(solve(h1, &r1), solve(h0, &r0), E_TOL);
    assert_int_equal(r0.n_dirs, 1);
    assert_true(isnan(r0.translation[0])); /* open: no translation */
    nqs_ham_free(h0);
    nqs_ham_free(h1);
    nqs_lattice_free(oc);

    for (int N = 6; N <= 10; N += 2) {
        struct nqs_lattice *ring = util_lattice(NQS_LATTICE_CHAIN, N, 1, 1, 0);
        const char *m0[] = {"marshall_sign=false", NULL}, *m1[] = {"marshall_sign=true", NULL};
        h0 = util_ham("heisenberg", ring, m0);
        h1 = util_ham("heisenberg", ring, m1);
        assert_close(solve(h1, &r1), solve(h0, &r0), E_TOL);
        double k_phys = N % 4 == 2 ? -1.0 : 1.0;
        assert_close(r0.translation[0], k_phys, 1e-8);
        assert_close(r0.translation_physical[0], k_phys, 1e-8);
        assert_close(r1.translation_physical[0], k_phys, 1e-8);
        assert_close(r1.translation[0], 1.0, 1e-8); /* momentum 0 in the rotated basis */
        nqs_ham_free(h0);
        nqs_ham_free(h1);
        nqs_lattice_free(ring);
    }
}

/* Estimated memory above the limit: NQS_ENOMEM, message with both numbers. */
static void test_exact_memory_refusal(void **state)
{
    (void)state;
    struct nqs_lattice *lat = util_lattice(NQS_LATTICE_CHAIN, 12, 1, 1, 0);
    struct nqs_ham *h = util_ham("heisenberg", lat, NULL);
    struct nqs_exact_opts o;
    nqs_exact_opts_default(&o);
    size_t est = nqs_exact_memory_estimate(h, &o);
    /* at least the ncv + 4 Lanczos-sized vectors of C(12, 6) = 924 doubles */
    assert_true(est >= (size_t)(o.ncv + 4) * 924 * 8);
    assert_true(est < ((size_t)64 << 20));
    assert_int_equal(nqs_exact_memory_estimate(h, NULL), est);
    o.max_memory = 100000;
    struct nqs_exact_result r;
    nqs_error_clear();
    assert_int_equal(nqs_exact_solve(h, &o, &r), NQS_ENOMEM);
    char want[64];
    snprintf(want, sizeof want, "(%zu bytes)", est);
    assert_non_null(strstr(nqs_last_error(), want));
    assert_non_null(strstr(nqs_last_error(), "100000 bytes"));
    assert_true(nqs_exact_default_memory_limit() > 0);
    nqs_ham_free(h);

    /* 6x6: C(36, 18) = 9075135300 states, far above any default limit here */
    struct nqs_lattice *big = util_lattice(NQS_LATTICE_SQUARE, 6, 6, 1, 1);
    h = util_ham("heisenberg", big, NULL);
    assert_int_equal(nqs_exact_dimension(h), 9075135300LL);
    assert_int_equal(nqs_exact_solve(h, NULL, &r), NQS_ENOMEM);
    assert_non_null(strstr(nqs_last_error(), "9075135300"));
    nqs_ham_free(h);
    nqs_lattice_free(big);
    nqs_lattice_free(lat);
}

/* ARPACK stopped after one restart with a tiny basis: NQS_ENUMERIC; bad
 * options: NQS_EINVAL naming the option. */
static void test_exact_not_converged_and_bad_options(void **state)
{
    (void)state;
    struct nqs_lattice *lat = util_lattice(NQS_LATTICE_CHAIN, 16, 1, 1, 0);
    struct nqs_ham *h = util_ham("heisenberg", lat, NULL);
    struct nqs_exact_opts o;
    struct nqs_exact_result r;
    nqs_exact_opts_default(&o);
    o.ncv = 3;
    o.max_restarts = 1;
    o.tol = 1e-15;
    assert_int_equal(nqs_exact_solve(h, &o, &r), NQS_ENUMERIC);
    assert_non_null(strstr(nqs_last_error(), "restarts"));
    nqs_exact_opts_default(&o);
    o.ncv = 2;
    assert_int_equal(nqs_exact_solve(h, &o, &r), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "ncv"));
    nqs_exact_opts_default(&o);
    o.tol = -1;
    assert_int_equal(nqs_exact_solve(h, &o, &r), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "tolerance"));
    nqs_exact_opts_default(&o);
    o.max_restarts = 0;
    assert_int_equal(nqs_exact_solve(h, &o, &r), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "max_restarts"));
    nqs_ham_free(h);
    nqs_lattice_free(lat);
}

static void test_exact_dense_path_tiny(void **state)
{
    (void)state;
    /* 2-site chain: H = J (XX + YY + ZZ) on one bond; singlet energy -3J,
     * sector sum s = 0 of dimension 2 (dense path). */
    struct nqs_lattice *lat = util_lattice(NQS_LATTICE_CHAIN, 2, 1, 0, 0);
    const char *set[] = {"J=0.7313", NULL};
    struct nqs_ham *h = util_ham("heisenberg", lat, set);
    struct nqs_exact_result r;
    assert_close(solve(h, &r), -3 * 0.7313, 1e-14);
    assert_string_equal(r.method, "lapack");
    assert_int_equal(r.dim, 2);
    nqs_ham_free(h);
    /* 2-site TFIM, open: H = -J ZZ - h (X1 + X2); E0 = -sqrt(J^2 + 4 h^2) */
    const char *tset[] = {"J=0.7313", "h=1.37", NULL};
    h = util_ham("ising", lat, tset);
    assert_close(solve(h, &r), -sqrt(0.7313 * 0.7313 + 4 * 1.37 * 1.37), 1e-13);
    assert_int_equal(r.dim, 4);
    nqs_ham_free(h);
    nqs_lattice_free(lat);
}

/* Run nqs_cmd_exact with stdout captured into `out` (len bytes). */
static int run_cmd_captured(const struct nqs_cli *cli, char *out, size_t len)
{
    char path[] = "/tmp/test_exact_stdout_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);
    int rc = nqs_cmd_exact(cli);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, out, len - 1);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return rc;
}

static double h5_attr_double(hid_t f, const char *name)
{
    double x = NAN;
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Aread(a, H5T_NATIVE_DOUBLE, &x) >= 0);
    H5Aclose(a);
    return x;
}

static void h5_attr_str(hid_t f, const char *name, char *buf, size_t len)
{
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    assert_true(a >= 0);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    char *v = NULL;
    assert_true(H5Aread(a, t, &v) >= 0);
    snprintf(buf, len, "%s", v);
    H5free_memory(v);
    H5Tclose(t);
    H5Aclose(a);
}

/* `nqs exact` through its command function: JSON on stdout with the
 * Jordan-Wigner energy of a 10-site TFIM ring, the HDF5 file's root
 * attributes, refusal to overwrite without --force, and keys of other
 * sections ignored while an unknown [hamiltonian] key is an error. */
static void test_exact_command_json_and_hdf5(void **state)
{
    (void)state;
    const char *ini = "[lattice]\ntype = chain\nextent = 10\n"
                      "[hamiltonian]\ntype = ising\nJ = 0.7313\nh = 1.37\n"
                      "[sampler]\nnot_read_by_exact = 1\n";
    struct nqs_config *cfg = nqs_config_alloc();
    assert_non_null(cfg);
    assert_int_equal(nqs_config_read_string(cfg, ini, "tfim.ini"), NQS_OK);
    char h5path[64];
    snprintf(h5path, sizeof h5path, "/tmp/test_exact_%ld.h5", (long)getpid());
    unlink(h5path);
    char *argv[] = {"nqs", "exact", "tfim.ini", NULL};
    struct nqs_cli cli = {.command = "exact", .config_path = "tfim.ini", .cfg = cfg, .json = 1,
                          .output = h5path, .argc = 3, .argv = argv};
    char out[4096];
    int rc = run_cmd_captured(&cli, out, sizeof out);
    if (rc != NQS_OK) fail_msg("nqs exact: %s", nqs_last_error());
    double want = tfim_jordan_wigner(10, 0.7313, 1.37);
    const char *e = strstr(out, "{\"energy\": ");
    assert_non_null(e);
    assert_close(strtod(e + strlen("{\"energy\": "), NULL), want, E_TOL);
    assert_non_null(strstr(out, "\"convention\": \"pauli\""));
    assert_non_null(strstr(out, "\"dim\": 1024"));
    assert_non_null(strstr(out, "\"sector\": \"full\""));
    assert_non_null(strstr(out, "\"n_sites\": 10"));
    assert_non_null(strstr(out, "\"hamiltonian\": \"ising\""));
    assert_non_null(strstr(out, "\"lattice\": \"chain 10 periodic (10 sites)\""));
    assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out)); /* one line */

    hid_t f = H5Fopen(h5path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_close(h5_attr_double(f, "energy"), want, E_TOL);
    assert_close(h5_attr_double(f, "energy_per_site"), want / 10, E_TOL);
    assert_close(h5_attr_double(f, "n_sites"), 10, 0);
    assert_close(h5_attr_double(f, "dim"), 1024, 0);
    char buf[256];
    h5_attr_str(f, "convention", buf, sizeof buf);
    assert_string_equal(buf, "pauli");
    h5_attr_str(f, "sector", buf, sizeof buf);
    assert_string_equal(buf, "full");
    h5_attr_str(f, "hamiltonian", buf, sizeof buf);
    assert_string_equal(buf, "ising");
    h5_attr_str(f, "command_line", buf, sizeof buf);
    assert_string_equal(buf, "nqs exact tfim.ini");
    H5Fclose(f);

    /* existing file: refused, message names it; --force overwrites */
    rc = run_cmd_captured(&cli, out, sizeof out);
    assert_int_equal(rc, NQS_EIO);
    assert_non_null(strstr(nqs_last_error(), h5path));
    assert_non_null(strstr(nqs_last_error(), "--force"));
    cli.force = 1;
    cli.json = 0;
    assert_int_equal(run_cmd_captured(&cli, out, sizeof out), NQS_OK);
    assert_non_null(strstr(out, "energy per site"));
    unlink(h5path);
    nqs_config_free(cfg);

    cfg = nqs_config_alloc();
    assert_int_equal(nqs_config_read_string(cfg, ini, "tfim.ini"), NQS_OK);
    assert_int_equal(nqs_config_set(cfg, "hamiltonian.hx=1"), NQS_OK);
    cli.cfg = cfg;
    cli.output = NULL;
    assert_int_equal(run_cmd_captured(&cli, out, sizeof out), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "hx"));
    nqs_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_heisenberg_square_4x4),
        cmocka_unit_test(test_exact_heisenberg_chain_16),
        cmocka_unit_test(test_exact_tfim_chain_jordan_wigner),
        cmocka_unit_test(test_exact_xx_chain_free_fermions),
        cmocka_unit_test(test_exact_matches_dense_small),
        cmocka_unit_test(test_exact_kronecker_products),
        cmocka_unit_test(test_exact_marshall_spectrum_and_momentum),
        cmocka_unit_test(test_exact_memory_refusal),
        cmocka_unit_test(test_exact_not_converged_and_bad_options),
        cmocka_unit_test(test_exact_dense_path_tiny),
        cmocka_unit_test(test_exact_command_json_and_hdf5),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
