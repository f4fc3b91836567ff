/*
 * test_sectors.c - exact diagonalisation in symmetry sectors (src/core/exact.c,
 * symmetry-adapted basis) against numbers that do not come from that code:
 *   - dense diagonalisation of H restricted to the range of the projector
 *     P = (1/|G|) sum_g chi(g) U_g, U_g |s> = |g s> (so P psi has
 *     psi(g s) = chi(g) psi(s)), built here in the magnetisation block (or the
 *     full space) from `connected` with the test's own indexing: an
 *     orthonormal basis of range(P) by Gram-Schmidt on P's columns, Q^H H Q,
 *     LAPACK dsyev of its real form; the trace of P is the sector dimension,
 *     compared with the solver's count;
 *   - completeness: the minimum over all sectors is the unrestricted ground
 *     state (published values), and the translation sectors' dimensions add
 *     up to the block dimension;
 *   - the transverse-field Ising chain: even spin-flip sector = free fermions
 *     with antiperiodic momenta, odd sector = periodic momenta (derived below);
 *   - the Heisenberg ring N = 16 at sum_i s_i = 2 against a Lanczos with full
 *     reorthogonalisation written here, and its singlet-triplet gap;
 *   - impossible sectors through the binary: exit status 2 naming the key.
 */
#include <complex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <cblas.h>
#include <lapacke.h>

#include "error.h"
#include "exact.h"
#include "io_h5.h"
#include "model.h"
#include "sampler.h"
#include "ham_test_util.h"
#include "nqs_test.h"
#include "nqs_test_run.h"
#include "symmetry.h"

#define E_TOL 1e-9
#define NQS_MAX_OPTIONS_TEST 32

/* A sector built with the symmetry module (its own tests check the
 * characters); the solver under test only receives it. */
struct sec {
    struct nqs_symmetry *sym;
    double complex *chi;
    struct nqs_exact_sector s;
};

/* Returns 0 (and leaves *out empty) when the characters are refused
 * (irrep absent at this momentum). */
static int sec_make(const struct nqs_lattice *lat, const struct nqs_ham *h, int mx, int my, int irrep,
                    int flip, int magnetisation, struct sec *out)
{
    memset(out, 0, sizeof *out);
    out->s.magnetisation = magnetisation;
    out->s.spin_flip = flip;
    out->s.sector.irrep = irrep;
    out->s.sector.momentum[0] = mx;
    out->s.sector.momentum[1] = my;
    if (mx < 0) return 1; /* no lattice symmetry: spin flip / magnetisation only */
    out->sym = nqs_symmetry_alloc(lat, irrep == NQS_IRREP_NONE ? NQS_GROUP_TRANSLATIONS : NQS_GROUP_SPACE);
    assert_non_null(out->sym);
    assert_int_equal(nqs_symmetry_check_hamiltonian(out->sym, h), NQS_OK);
    out->chi = malloc((size_t)out->sym->n_elem * sizeof *out->chi);
    assert_non_null(out->chi);
    if (nqs_symmetry_characters(out->sym, lat, &out->s.sector, out->chi) != NQS_OK) {
        nqs_symmetry_free(out->sym);
        free(out->chi);
        memset(out, 0, sizeof *out);
        return 0;
    }
    out->s.sym = out->sym;
    out->s.chi = out->chi;
    return 1;
}

static void sec_free(struct sec *s)
{
    nqs_symmetry_free(s->sym);
    free(s->chi);
}

static double solve_sector(const struct nqs_ham *h, const struct sec *s, struct nqs_exact_result *r)
{
    int rc = nqs_exact_energy_sector(h, &s->s, r);
    if (rc != NQS_OK) fail_msg("exact: %s", nqs_last_error());
    return r->energy;
}

/* ------------------------------------------------ dense P H P reference */

/* Lowest eigenvalue of H on the range of P in the block sum s = M (all 2^N
 * states when h does not conserve it), and the trace of P (*trace). */
static double dense_projected(const struct nqs_ham *h, const struct sec *s, double *trace)
{
    int N = h->n_sites;
    int64_t full = (int64_t)1 << N;
    int *idx = malloc((size_t)full * sizeof *idx);
    uint64_t *st = malloc((size_t)full * sizeof *st);
    assert_non_null(idx);
    assert_non_null(st);
    int n_up = (N + s->s.magnetisation) / 2, dim = 0;
    for (int64_t x = 0; x < full; x++) {
        idx[x] = -1;
        if (!h->conserves_sz || __builtin_popcountll((unsigned long long)x) == n_up) {
            idx[x] = dim;
            st[dim++] = (uint64_t)x;
        }
    }
    size_t d2 = (size_t)dim * (size_t)dim;
    double complex *H = calloc(d2, sizeof *H), *P = calloc(d2, sizeof *P);
    int8_t *sp = malloc((size_t)N), *gs = malloc((size_t)N);
    struct nqs_conn *c = nqs_conn_alloc(h);
    assert_true(H && P && sp && gs && c);
    for (int r = 0; r < dim; r++) {
        util_spins(st[r], N, sp);
        h->ops->connected(h, sp, c);
        H[(size_t)r * dim + r] += c->diag;
        for (int k = 0; k < c->n; k++) {
            uint64_t y = st[r] ^ ((uint64_t)1 << c->site[k][0]);
            if (c->n_flip[k] == 2) y ^= (uint64_t)1 << c->site[k][1];
            assert_true(idx[y] >= 0);
            H[(size_t)idx[y] * dim + r] += c->mel[k];
        }
    }
    /* Elements: the sector's group (chi != 0) times {1, flip} if a parity is set. */
    int n_g = s->sym ? s->sym->n_elem : 1, order = 0;
    for (int g = 0; g < n_g; g++)
        if (!s->sym || s->chi[g] != 0) order++;
    int n_f = s->s.spin_flip ? 2 : 1;
    order *= n_f;
    for (int g = 0; g < n_g; g++) {
        double complex chi_g = s->sym ? s->chi[g] : 1.0;
        if (chi_g == 0) continue;
        for (int f = 0; f < n_f; f++) {
            double complex ch = chi_g * (f ? (double)s->s.spin_flip : 1.0);
            for (int r = 0; r < dim; r++) {
                util_spins(st[r], N, sp);
                if (s->sym)
                    for (int i = 0; i < N; i++) gs[s->sym->perm[(size_t)g * N + i]] = sp[i];
                else
                    memcpy(gs, sp, (size_t)N);
                uint64_t y = 0;
                for (int i = 0; i < N; i++)
                    if ((gs[i] > 0) != (f == 1)) y |= (uint64_t)1 << i;
                assert_true(idx[y] >= 0);
                P[(size_t)idx[y] * dim + r] += ch / order; /* <g s|P|s> */
            }
        }
    }
    double tr = 0;
    for (int r = 0; r < dim; r++) tr += creal(P[(size_t)r * dim + r]);
    *trace = tr;
    /* Orthonormal basis Q of the range of P: the columns P e_s, orthogonalised
     * twice (classical Gram-Schmidt) against those kept. */
    int rank = (int)lround(tr);
    double complex *Q = calloc((size_t)(rank > 0 ? rank : 1) * dim, sizeof *Q); /* row q = column q */
    double complex *v = malloc((size_t)dim * sizeof *v);
    assert_true(Q && v);
    int nq = 0;
    for (int col = 0; col < dim && nq < rank; col++) {
        for (int r = 0; r < dim; r++) v[r] = P[(size_t)r * dim + col];
        for (int pass = 0; pass < 2; pass++)
            for (int q = 0; q < nq; q++) {
                double complex ov = 0;
                for (int r = 0; r < dim; r++) ov += conj(Q[(size_t)q * dim + r]) * v[r];
                for (int r = 0; r < dim; r++) v[r] -= ov * Q[(size_t)q * dim + r];
            }
        double nv = 0;
        for (int r = 0; r < dim; r++) nv += creal(v[r] * conj(v[r]));
        if (nv < 1e-16) continue;
        for (int r = 0; r < dim; r++) Q[(size_t)nq * dim + r] = v[r] / sqrt(nv);
        nq++;
    }
    assert_int_equal(nq, rank);
    /* M = Q^H H Q (rank x rank, Hermitian), then its real form
     * [[Re M, -Im M], [Im M, Re M]] (same eigenvalues, each twice) by dsyev:
     * no complex LAPACK (OpenBLAS 0.3.21's zgemv_n, used by zheev, reads past
     * its buffers and was seen to crash here). */
    double complex *HQ = calloc((size_t)(rank > 0 ? rank : 1) * dim, sizeof *HQ);
    int n2 = 2 * rank;
    double *R = calloc((size_t)n2 * n2 + 1, sizeof *R);
    assert_true(HQ && R);
    for (int q = 0; q < rank; q++)
        for (int r = 0; r < dim; r++)
            for (int k = 0; k < dim; k++) {
                double complex hk = H[(size_t)r * dim + k];
                if (hk != 0) HQ[(size_t)q * dim + r] += hk * Q[(size_t)q * dim + k];
            }
    for (int a = 0; a < rank; a++)
        for (int b = 0; b < rank; b++) {
            double complex m = 0;
            for (int r = 0; r < dim; r++) m += conj(Q[(size_t)a * dim + r]) * HQ[(size_t)b * dim + r];
            R[(size_t)a * n2 + b] = creal(m);
            R[(size_t)(a + rank) * n2 + b + rank] = creal(m);
            R[(size_t)(a + rank) * n2 + b] = cimag(m);
            R[(size_t)a * n2 + b + rank] = -cimag(m);
        }
    double *w = malloc((size_t)(n2 > 0 ? n2 : 1) * sizeof *w);
    assert_non_null(w);
    assert_int_equal(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', n2, R, n2, w), 0);
    double e = w[0];
    nqs_conn_free(c);
    free(idx);
    free(st);
    free(H);
    free(P);
    free(Q);
    free(v);
    free(HQ);
    free(R);
    free(w);
    free(sp);
    free(gs);
    return e;
}

struct dense_case {
    const char *family;
    enum nqs_lattice_kind kind;
    int lx, ly, px, py;
    const char *opts[4];
    int mx, my, irrep, flip, magnetisation;
    int want_complex;
};

static void test_sectors_match_dense_projection(void **state)
{
    (void)state;
    enum { NONE = NQS_IRREP_NONE, A1 = NQS_IRREP_A1, A2 = NQS_IRREP_A2, B1 = NQS_IRREP_B1, B2 = NQS_IRREP_B2 };
    const struct dense_case cases[] = {
        /* complex characters, translations only (ARPACK path: ~2 x 77 doubles) */
        {"heisenberg", NQS_LATTICE_CHAIN, 12, 1, 1, 0, {NULL}, 5, 0, NONE, 0, 0, 1},
        {"heisenberg", NQS_LATTICE_CHAIN, 12, 1, 1, 0, {"marshall_sign=false", NULL}, 6, 0, NONE, 0, 0, 0},
        {"heisenberg", NQS_LATTICE_CHAIN, 11, 1, 1, 0, {NULL}, 3, 0, NONE, 0, 3, 1},
        /* reflections at k = 0, pi; spin-flip odd */
        {"heisenberg", NQS_LATTICE_CHAIN, 10, 1, 1, 0, {NULL}, 0, 0, A2, -1, 0, 0},
        {"j1j2", NQS_LATTICE_CHAIN, 10, 1, 1, 0, {"J2=0.4173", NULL}, 5, 0, A1, 1, 0, 0},
        {"j1j2", NQS_LATTICE_CHAIN, 10, 1, 1, 0, {"J2=0.4173", NULL}, 5, 0, A2, 0, 2, 0},
        /* square 4x3: C2v, complex momentum with its mirror, B irreps at Gamma */
        {"j1j2", NQS_LATTICE_SQUARE, 4, 3, 1, 1, {"J2=0.2931", NULL}, 1, 0, A2, 0, 0, 1},
        {"heisenberg", NQS_LATTICE_SQUARE, 4, 3, 1, 1, {NULL}, 0, 0, B1, -1, 0, 0},
        {"heisenberg", NQS_LATTICE_SQUARE, 4, 3, 1, 1, {NULL}, 2, 1, A2, 0, 2, 1},
        /* square 3x3 (C4v at Gamma), triangular 3x3 (C6v), odd N, complex */
        {"j1j2", NQS_LATTICE_SQUARE, 3, 3, 1, 1, {"J2=0.2931", NULL}, 0, 0, B1, 0, 1, 0},
        {"heisenberg", NQS_LATTICE_TRIANGULAR, 3, 3, 1, 1, {NULL}, 1, 1, A1, 0, 1, 1},
        {"heisenberg", NQS_LATTICE_TRIANGULAR, 3, 3, 1, 1, {NULL}, 0, 0, B2, 0, 3, 0},
        /* TFIM (full space): complex momentum with odd flip parity, flip only */
        {"ising", NQS_LATTICE_CHAIN, 10, 1, 1, 0, {"h=0.7313", NULL}, 2, 0, NONE, -1, 0, 1},
        {"ising", NQS_LATTICE_CHAIN, 8, 1, 1, 0, {"h=0.7313", NULL}, 0, 0, A2, 1, 0, 0},
        {"ising", NQS_LATTICE_CHAIN, 9, 1, 1, 0, {"h=1.3127", NULL}, -1, 0, NONE, -1, 0, 0},
        /* open chain: reflection only, flip even */
        {"heisenberg", NQS_LATTICE_CHAIN, 10, 1, 0, 0, {NULL}, 0, 0, A2, 1, 0, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const struct dense_case *dc = &cases[k];
        struct nqs_lattice *lat = util_lattice(dc->kind, dc->lx, dc->ly, dc->px, dc->py);
        struct nqs_ham *h = util_ham(dc->family, lat, dc->opts);
        struct sec s;
        if (!sec_make(lat, h, dc->mx, dc->my, dc->irrep, dc->flip, dc->magnetisation, &s))
            fail_msg("case %zu: characters refused: %s", k, nqs_last_error());
        struct nqs_exact_result r;
        double e = solve_sector(h, &s, &r), tr;
        double ref = dense_projected(h, &s, &tr);
        if (fabs(e - ref) > E_TOL || fabs(tr - (double)r.dim) > 1e-8 || r.complex_basis != dc->want_complex)
            fail_msg("case %zu (%s): E = %.12f, dense %.12f; dim %lld, trace P %.6f; complex %d", k,
                     dc->family, e, ref, (long long)r.dim, tr, r.complex_basis);
        assert_int_equal(r.symmetric, 1);
        sec_free(&s);
        nqs_ham_free(h);
        nqs_lattice_free(lat);
    }
}

/* ------------------------------------------------ completeness */

/* Minimum over every momentum, every irrep of its little co-group and both
 * flip parities, against a published ground-state energy; translation
 * sectors (both parities) add up to the block. */
static void all_sectors(enum nqs_lattice_kind kind, int lx, int ly, const char *family, const char *const *opts,
                        double e_ref, int magnetisation)
{
    struct nqs_lattice *lat = util_lattice(kind, lx, ly, 1, ly > 1);
    struct nqs_ham *h = util_ham(family, lat, opts);
    int ny = kind == NQS_LATTICE_CHAIN ? 1 : ly;
    double e_min = 1e300;
    int64_t dim_sum = 0, block = nqs_exact_block_dimension(h, magnetisation);
    int n_sectors = 0;
    for (int my = 0; my < ny; my++)
        for (int mx = 0; mx < lx; mx++)
            for (int irrep = NQS_IRREP_NONE; irrep <= NQS_IRREP_B2; irrep++)
                for (int flip = -1; flip <= 1; flip += 2) {
                    struct sec s;
                    if (!sec_make(lat, h, mx, my, irrep, flip, magnetisation, &s)) continue;
                    struct nqs_exact_result r;
                    int rc = nqs_exact_energy_sector(h, &s.s, &r);
                    if (rc == NQS_EINVAL && strstr(nqs_last_error(), "no states")) {
                        sec_free(&s);
                        continue;
                    }
                    if (rc != NQS_OK) fail_msg("(%d,%d) %d %d: %s", mx, my, irrep, flip, nqs_last_error());
                    if (irrep == NQS_IRREP_NONE) dim_sum += r.dim;
                    if (r.energy < e_min) e_min = r.energy;
                    n_sectors++;
                    sec_free(&s);
                }
    if (fabs(e_min - e_ref) > 1e-7 || dim_sum != block)
        fail_msg("%s %dx%d: min over %d sectors %.10f, reference %.10f; dimensions add up to %lld of %lld",
                 family, lx, ly, n_sectors, e_min, e_ref, (long long)dim_sum, (long long)block);
    nqs_ham_free(h);
    nqs_lattice_free(lat);
}

static void test_sectors_minimum_is_ground_state(void **state)
{
    (void)state;
    /* docs/physics.md values (Pauli units) */
    all_sectors(NQS_LATTICE_SQUARE, 4, 4, "heisenberg", NULL, -44.913932834, 0);
    all_sectors(NQS_LATTICE_CHAIN, 16, 1, "heisenberg", NULL, -28.569185442, 0);
    const char *tf[] = {"h=0.5", NULL};
    all_sectors(NQS_LATTICE_CHAIN, 8, 1, "ising", tf, -8.509082235140, 0);
}

/* ------------------------------------------------ TFIM chain */

/* H = -J sum Z_i Z_i+1 - h sum X_i, periodic. Jordan-Wigner with X_i = 1 -
 * 2 n_i: the spin flip prod_i X_i is the fermion parity (-1)^N_f, and
 * H = sum_k 2 (h - J cos k)(n_k - 1/2) + pairing between k and -k.
 * Even parity: antiperiodic fermions, k = pi (2m+1)/N; pairs (k, -k) in their
 * BCS vacuum (even) and, for odd N, the single mode k = pi empty:
 *   E_even = -sum_k sqrt(J^2 + h^2 - 2 J h cos k).
 * Odd parity: periodic fermions, k = 2 pi m / N. The pairs and k = pi (for
 * even N; 2 (h + J)(n - 1/2), empty: -(h + J) = -sqrt(J^2 + h^2 + 2 J h))
 * are as before and even, so the unpaired k = 0 mode, 2 (h - J)(n_0 - 1/2),
 * must be occupied whatever the sign of h - J:
 *   E_odd = -sum_{m = 1..N-1} sqrt(J^2 + h^2 - 2 J h cos(2 pi m/N)) - (J - h).
 * Checks: h = 0 gives -N J (the two ferromagnetic states, one of each
 * parity); J = 0 gives -(N - 2) h (one spin against the field). */
static double tfim_even(int N, double J, double h)
{
    double e = 0;
    for (int m = 0; m < N; m++) e -= sqrt(J * J + h * h - 2 * J * h * cos(M_PI * (2 * m + 1) / N));
    return e;
}

static double tfim_odd(int N, double J, double h)
{
    double e = -(J - h);
    for (int m = 1; m < N; m++) e -= sqrt(J * J + h * h - 2 * J * h * cos(2 * M_PI * m / N));
    return e;
}

static void test_sectors_tfim_parity(void **state)
{
    (void)state;
    assert_true(fabs(tfim_even(8, 1, 0.5) - -8.509082235140) < 1e-11); /* docs/physics.md */
    assert_true(fabs(tfim_odd(6, 1, 0) - -6) < 1e-12 && fabs(tfim_odd(6, 0, 1) - -4) < 1e-12);
    const struct {
        int N;
        double h;
    } cases[] = {{8, 0.5}, {8, 1.0}, {10, 1.7311}, {12, 0.8123}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int N = cases[k].N;
        char hb[32];
        snprintf(hb, sizeof hb, "h=%.17g", cases[k].h);
        const char *opts[] = {hb, NULL};
        struct nqs_lattice *lat = util_lattice(NQS_LATTICE_CHAIN, N, 1, 1, 0);
        struct nqs_ham *h = util_ham("ising", lat, opts);
        for (int flip = -1; flip <= 1; flip += 2) {
            double want = flip > 0 ? tfim_even(N, 1, cases[k].h) : tfim_odd(N, 1, cases[k].h);
            /* parity alone, and the parity with momentum 0 and the A1 irrep:
             * both lowest states are translation and reflection invariant */
            struct sec a, b;
            sec_make(lat, h, -1, 0, NQS_IRREP_NONE, flip, 0, &a);
            assert_true(sec_make(lat, h, 0, 0, NQS_IRREP_A1, flip, 0, &b));
            struct nqs_exact_result ra, rb;
            double ea = solve_sector(h, &a, &ra), eb = solve_sector(h, &b, &rb);
            if (fabs(ea - want) > E_TOL || fabs(eb - want) > E_TOL)
                fail_msg("N = %d, h = %g, flip %+d: %.12f (parity only), %.12f (k = 0, A1), free "
                         "fermions %.12f", N, cases[k].h, flip, ea, eb, want);
            assert_int_equal(ra.dim, (int64_t)1 << (N - 1));
            sec_free(&a);
            sec_free(&b);
        }
        nqs_ham_free(h);
        nqs_lattice_free(lat);
    }
}

/* ------------------------------------------------ Heisenberg ring N = 16 */

/* Lowest eigenvalue of H in the block with n_up up spins by Lanczos with
 * full reorthogonalisation (tridiagonal eigenvalues by LAPACK dstev), the
 * block indexed by binary search in the sorted patterns. */
static double lanczos_block(const struct nqs_ham *h, int n_up)
{
    int N = h->n_sites;
    int dim = 0;
    for (uint64_t x = 0; x < ((uint64_t)1 << N); x++) dim += __builtin_popcountll((unsigned long long)x) == n_up;
    uint64_t *st = malloc((size_t)dim * sizeof *st);
    assert_non_null(st);
    int n = 0;
    for (uint64_t x = 0; x < ((uint64_t)1 << N); x++)
        if (__builtin_popcountll((unsigned long long)x) == n_up) st[n++] = x;
    enum { M = 160 };
    double *V = malloc((size_t)(M + 1) * (size_t)dim * sizeof *V), *wv = malloc((size_t)dim * sizeof *wv);
    double alpha[M], beta[M], d[M], e[M];
    int8_t *sp = malloc((size_t)N);
    struct nqs_conn *c = nqs_conn_alloc(h);
    assert_true(V && wv && sp && c);
    double nrm = 0;
    for (int r = 0; r < dim; r++) {
        V[r] = sin(0.7 * r + 0.3) + 0.01 * (r % 7);
        nrm += V[r] * V[r];
    }
    for (int r = 0; r < dim; r++) V[r] /= sqrt(nrm);
    double e_prev = 0, e0 = 0;
    for (int j = 0; j < M; j++) {
        const double *v = V + (size_t)j * dim;
        for (int r = 0; r < dim; r++) {
            util_spins(st[r], N, sp);
            h->ops->connected(h, sp, c);
            double acc = c->diag * v[r];
            for (int k = 0; k < c->n; k++) {
                uint64_t y = st[r] ^ ((uint64_t)1 << c->site[k][0]);
                if (c->n_flip[k] == 2) y ^= (uint64_t)1 << c->site[k][1];
                int lo = 0, hi = dim - 1;
                while (lo < hi) {
                    int mid = (lo + hi) / 2;
                    if (st[mid] < y) lo = mid + 1;
                    else hi = mid;
                }
                assert_true(st[lo] == y);
                acc += c->mel[k] * v[lo];
            }
            wv[r] = acc;
        }
        alpha[j] = cblas_ddot(dim, wv, 1, v, 1);
        for (int pass = 0; pass < 2; pass++) /* full reorthogonalisation, twice */
            for (int i = 0; i <= j; i++) {
                double p = cblas_ddot(dim, wv, 1, V + (size_t)i * dim, 1);
                cblas_daxpy(dim, -p, V + (size_t)i * dim, 1, wv, 1);
            }
        beta[j] = cblas_dnrm2(dim, wv, 1);
        for (int i = 0; i <= j; i++) {
            d[i] = alpha[i];
            e[i] = beta[i];
        }
        assert_int_equal(LAPACKE_dstev(LAPACK_COL_MAJOR, 'N', j + 1, d, e, NULL, 1), 0);
        e0 = d[0];
        if (j > 20 && fabs(e0 - e_prev) < 1e-13 * fabs(e0)) break;
        e_prev = e0;
        if (beta[j] < 1e-12) break;
        for (int r = 0; r < dim; r++) V[(size_t)(j + 1) * dim + r] = wv[r] / beta[j];
    }
    nqs_conn_free(c);
    free(V);
    free(wv);
    free(sp);
    free(st);
    return e0;
}

static void test_sectors_heisenberg_ring_triplet(void **state)
{
    (void)state;
    for (int marshall = 0; marshall <= 1; marshall++) {
        const char *opts[] = {marshall ? "marshall_sign=true" : "marshall_sign=false", NULL};
        struct nqs_lattice *lat = util_lattice(NQS_LATTICE_CHAIN, 16, 1, 1, 0);
        struct nqs_ham *h = util_ham("heisenberg", lat, opts);
        double e2_ref = lanczos_block(h, 9); /* sum s = 2 */
        struct sec plain, k0, kpi;
        sec_make(lat, h, -1, 0, NQS_IRREP_NONE, 0, 2, &plain);
        sec_make(lat, h, 0, 0, NQS_IRREP_NONE, 0, 2, &k0);
        sec_make(lat, h, 8, 0, NQS_IRREP_NONE, 0, 2, &kpi);
        struct nqs_exact_result r;
        double e2 = solve_sector(h, &plain, &r);
        assert_int_equal(r.dim, 11440);
        assert_int_equal(r.magnetisation, 2);
        if (fabs(e2 - e2_ref) > E_TOL) fail_msg("sum s = 2: %.12f, test Lanczos %.12f", e2, e2_ref);
        /* The triplet of a 4n ring has k = pi; the Marshall rotation with an odd
         * number of up spins (9) shifts every momentum by pi (symmetry.h). */
        double ek0 = solve_sector(h, &k0, &r), ekpi = solve_sector(h, &kpi, &r);
        double e_at = marshall ? ek0 : ekpi, e_other = marshall ? ekpi : ek0;
        if (fabs(e_at - e2_ref) > E_TOL || !(e_other > e2_ref + 0.1))
            fail_msg("marshall %d: k = 0 %.12f, k = pi %.12f, block %.12f", marshall, ek0, ekpi, e2_ref);
        /* singlet-triplet gap, Pauli units: E(sum s = 2) - E0, E0 from docs/physics.md */
        double gap = e2 - -28.569185442;
        double e0_ref = lanczos_block(h, 8);
        assert_true(fabs(e0_ref - -28.569185442) < 1e-8);
        assert_true(fabs(gap - (e2_ref - e0_ref)) < 1e-8);
        assert_true(gap > 0.5 && gap < 2.0); /* ~ pi^2 J / N (spin-1/2) x 4: about 1.3 here */
        sec_free(&plain);
        sec_free(&k0);
        sec_free(&kpi);
        nqs_ham_free(h);
        nqs_lattice_free(lat);
    }
}

/* Magnetisation blocks of a Hamiltonian without conserved magnetisation: the
 * full space whatever the sector's magnetisation says. */
static void test_sectors_nonconserving_full_space(void **state)
{
    (void)state;
    struct nqs_lattice *lat = util_lattice(NQS_LATTICE_CHAIN, 8, 1, 1, 0);
    const char *tf[] = {"h=0.5", NULL};
    struct nqs_ham *h = util_ham("ising", lat, tf);
    struct nqs_exact_sector s;
    nqs_exact_sector_default(h, &s);
    assert_int_equal(nqs_exact_block_dimension(h, 0), 256);
    struct nqs_exact_result r;
    assert_int_equal(nqs_exact_energy_sector(h, &s, &r), NQS_OK);
    assert_int_equal(r.dim, 256);
    assert_int_equal(r.full_space, 1);
    assert_true(fabs(r.energy - -8.509082235140) < E_TOL);
    nqs_ham_free(h);
    nqs_lattice_free(lat);

    /* impossible blocks and parities, refused by the solver too */
    lat = util_lattice(NQS_LATTICE_CHAIN, 8, 1, 1, 0);
    h = util_ham("heisenberg", lat, NULL);
    nqs_exact_sector_default(h, &s);
    s.magnetisation = 3;
    assert_int_equal(nqs_exact_energy_sector(h, &s, &r), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "magnetisation"));
    s.magnetisation = 2;
    s.spin_flip = -1;
    assert_int_equal(nqs_exact_energy_sector(h, &s, &r), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "spin_flip"));
    s.magnetisation = 8; /* all up: one state, k = 0 only */
    s.spin_flip = 0;
    struct sec k1;
    assert_true(sec_make(lat, h, 1, 0, NQS_IRREP_NONE, 0, 8, &k1));
    assert_int_equal(nqs_exact_energy_sector(h, &k1.s, &r), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "no states"));
    sec_free(&k1);
    assert_true(sec_make(lat, h, 0, 0, NQS_IRREP_NONE, 0, 8, &k1));
    assert_int_equal(nqs_exact_energy_sector(h, &k1.s, &r), NQS_OK);
    assert_int_equal(r.dim, 1);
    assert_true(fabs(r.energy - 8.0) < 1e-12); /* 8 bonds, +1 each */
    sec_free(&k1);
    nqs_ham_free(h);
    nqs_lattice_free(lat);
}

/* ------------------------------------------------ sampler */

/* [sampler] values: defaults, then "key=value" overrides. */
static void sampler_values(struct nqs_opt_val *v, const char *const *set)
{
    assert_true(nqs_sampler_n_options <= 16);
    for (int k = 0; k < nqs_sampler_n_options; k++)
        util_opt_parse(&nqs_sampler_options[k], nqs_sampler_options[k].def, &v[k]);
    for (int s = 0; set && set[s]; s++) {
        const char *eq = strchr(set[s], '=');
        for (int k = 0; k < nqs_sampler_n_options; k++)
            if (strncmp(nqs_sampler_options[k].name, set[s], (size_t)(eq - set[s])) == 0 &&
                nqs_sampler_options[k].name[eq - set[s]] == '\0')
                util_opt_parse(&nqs_sampler_options[k], eq + 1, &v[k]);
    }
}

/* Chains start and stay at sum s = magnetisation (exchange and bond-exchange
 * moves), exact enumeration lists that block, flip moves and single-state
 * blocks are refused for Metropolis. */
static void test_sectors_sampler_magnetisation(void **state)
{
    (void)state;
    struct nqs_lattice *lat = util_lattice(NQS_LATTICE_CHAIN, 10, 1, 1, 0);
    struct nqs_ham *h = util_ham("heisenberg", lat, NULL);
    const struct nqs_model_ops *mops = nqs_model_find("rbm");
    assert_non_null(mops);
    struct nqs_opt_val mv[NQS_MAX_OPTIONS_TEST];
    for (int k = 0; k < mops->n_options; k++) util_opt_parse(&mops->options[k], mops->options[k].def, &mv[k]);
    struct nqs_model *m = nqs_model_alloc(mops, lat, mv);
    assert_non_null(m);
    nqs_model_init(m, 7, 0.2);
    struct nqs_opt_val v[16];
    struct nqs_sampler_opts o;
    const char *const moves[] = {"move=exchange", "move=bond_exchange", "move=auto"};
    for (int mv_k = 0; mv_k < 3; mv_k++) {
        for (int M = -6; M <= 8; M += 2) {
            const char *set[] = {moves[mv_k], "chains=3", "samples=30", "sweep=10", NULL};
            sampler_values(v, set);
            assert_int_equal(nqs_sampler_opts_from(v, h, M, &o), NQS_OK);
            assert_int_equal(o.magnetisation, M);
            struct nqs_sampler *smp = nqs_sampler_alloc(&o, m, h, 0, o.n_chains);
            assert_non_null(smp);
            double complex eloc[30];
            for (int c = 0; c < smp->n_local; c++) {
                int sum = 0;
                for (int i = 0; i < 10; i++) sum += smp->chains[c].s[i];
                assert_int_equal(sum, M); /* initial configuration */
            }
            assert_int_equal(nqs_sampler_run(smp, m, h, 1, eloc, NULL, 0), NQS_OK);
            for (int c = 0; c < smp->n_local; c++) {
                int sum = 0;
                for (int i = 0; i < 10; i++) sum += smp->chains[c].s[i];
                assert_int_equal(sum, M);
            }
            nqs_sampler_free(smp);
        }
    }
    const char *ex[] = {"method=exact", "chains=2", NULL};
    sampler_values(v, ex);
    assert_int_equal(nqs_sampler_opts_from(v, h, 4, &o), NQS_OK);
    struct nqs_sampler *smp = nqs_sampler_alloc(&o, m, h, 0, o.n_chains);
    assert_non_null(smp);
    assert_int_equal(smp->dim, 120); /* C(10, 7) */
    for (long r = 0; r < smp->dim; r++) assert_int_equal(__builtin_popcountll(smp->basis[r]), 7);
    nqs_sampler_free(smp);
    assert_int_equal(nqs_sampler_opts_from(v, h, 10, &o), NQS_OK); /* one state, enumerated */
    const char *fl[] = {"move=flip", NULL};
    sampler_values(v, fl);
    assert_int_equal(nqs_sampler_opts_from(v, h, 0, &o), NQS_OK); /* default block: allowed as before */
    assert_int_equal(nqs_sampler_opts_from(v, h, 2, &o), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "move"));
    sampler_values(v, NULL);
    assert_int_equal(nqs_sampler_opts_from(v, h, 10, &o), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "magnetisation"));
    assert_int_equal(nqs_sampler_opts_from(v, h, 3, &o), NQS_EINVAL);
    nqs_model_free(m);
    nqs_ham_free(h);
    nqs_lattice_free(lat);

    /* a Hamiltonian without conserved magnetisation: flip moves, any block value ignored */
    lat = util_lattice(NQS_LATTICE_CHAIN, 8, 1, 1, 0);
    const char *tf[] = {"h=0.5", NULL};
    h = util_ham("ising", lat, tf);
    sampler_values(v, NULL);
    assert_int_equal(nqs_sampler_opts_from(v, h, 0, &o), NQS_OK);
    assert_int_equal(o.move, NQS_MOVE_FLIP);
    nqs_ham_free(h);
    nqs_lattice_free(lat);
}

/* ------------------------------------------------ the binary */

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/nqs_test_sectors_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    const char *files[] = {"in.ini", "out.txt", "err.txt", "e.h5"};
    char p[256];
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, files[k]);
        unlink(p);
    }
    rmdir(tmpdir);
    return 0;
}

/* Run `nqs CMD in.ini [extra]` on `text`; exit status, stdout and stderr. */
static int run_nqs(const char *cmd, const char *text, const char *extra, char **out, char **err)
{
    char in[128], po[128], pe[128];
    snprintf(in, sizeof in, "%s/in.ini", tmpdir);
    snprintf(po, sizeof po, "%s/out.txt", tmpdir);
    snprintf(pe, sizeof pe, "%s/err.txt", tmpdir);
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    char *argv[] = {(char *)NQS_BINARY, (char *)cmd, in, (char *)extra, NULL};
    pid_t pid = nqs_test_start(argv, 1, po, pe);
    assert_true(pid > 0);
    int st = nqs_test_wait(pid);
    *out = nqs_test_slurp(po, NULL);
    *err = nqs_test_slurp(pe, NULL);
    assert_non_null(*out);
    assert_non_null(*err);
    return st;
}

static void test_sectors_cli_errors(void **state)
{
    (void)state;
    const char *chain = "[lattice]\ntype = chain\nextent = 8\n[hamiltonian]\ntype = heisenberg\n";
    const char *sq = "[lattice]\ntype = square\nextent = 4,2\n[hamiltonian]\ntype = heisenberg\n";
    const char *ising = "[lattice]\ntype = chain\nextent = 8\n[hamiltonian]\ntype = ising\n";
    struct {
        const char *base, *sym, *want;
    } cases[] = {
        {chain, "momentum = 1,0\n", "momentum"},
        {chain, "point_group = B1\n", "point_group"},
        {chain, "momentum = 1\npoint_group = A2\n", "point_group"},
        {chain, "magnetisation = 3\n", "magnetisation"},
        {chain, "magnetisation = 10\n", "magnetisation"},
        {chain, "magnetisation = 2\nspin_flip = odd\n", "spin_flip"},
        {ising, "magnetisation = 0\n", "magnetisation"},
        {sq, "momentum = 1,1\npoint_group = foo\n", "point_group"},
        {"[lattice]\ntype = chain\nextent = 8\nboundary = open\n[hamiltonian]\ntype = heisenberg\n",
         "momentum = 1\n", "momentum"},
        {chain, "magnetisation = 8\nmomentum = 1\n", "[symmetry]"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char text[512];
        snprintf(text, sizeof text, "%s[symmetry]\n%s", cases[k].base, cases[k].sym);
        char *out, *err;
        int st = run_nqs("exact", text, NULL, &out, &err);
        if (st != 2 || !strstr(err, cases[k].want))
            fail_msg("case %zu: exit %d (want 2), stderr '%s' should name '%s'", k, st, err, cases[k].want);
        free(out);
        free(err);
    }
}

/* `nqs run --json` of `text` with -o e.h5: the parsed members. */
static int run_json(const char *text, struct nqs_json_kv *kv, int max)
{
    char out_h5[128];
    snprintf(out_h5, sizeof out_h5, "%s/e.h5", tmpdir);
    char in[128], po[128], pe[128];
    snprintf(in, sizeof in, "%s/in.ini", tmpdir);
    snprintf(po, sizeof po, "%s/out.txt", tmpdir);
    snprintf(pe, sizeof pe, "%s/err.txt", tmpdir);
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    char *argv[] = {(char *)NQS_BINARY, "run", in, "--json", "-q", "--force", "-o", out_h5, NULL};
    pid_t pid = nqs_test_start(argv, 1, po, pe);
    assert_true(pid > 0);
    int st = nqs_test_wait(pid);
    char *out = nqs_test_slurp(po, NULL), *err = nqs_test_slurp(pe, NULL);
    if (st != 0) fail_msg("nqs run: exit %d: %s", st, err);
    int n = nqs_json_parse(out, kv, max);
    if (n <= 0) fail_msg("nqs run: no JSON object in '%s'", out);
    free(out);
    free(err);
    return n;
}

/* A run at sum s = 2 samples that block (exact enumeration: C(8,5) = 56
 * configurations, energies never below the block's ground state) and takes
 * the block's exact energy as its reference, recorded with the sector; the
 * literature table (4x4: -44.9139) is not used outside the default sector. */
static void test_sectors_run_reference(void **state)
{
    (void)state;
    struct nqs_json_kv kv[64];
    const char *chain = "[lattice]\ntype = chain\nextent = 8\n[hamiltonian]\ntype = heisenberg\n"
                        "[symmetry]\nmagnetisation = 2\n[model]\ntype = rbm_symm\nalpha = 2\n"
                        "[sampler]\nmethod = exact\nchains = 2\n[optimizer]\niterations = 60\n"
                        "learning_rate = 0.05\n";
    int n = run_json(chain, kv, 64);
    struct nqs_lattice *lat = util_lattice(NQS_LATTICE_CHAIN, 8, 1, 1, 0);
    struct nqs_ham *h = util_ham("heisenberg", lat, NULL);
    double e2 = lanczos_block(h, 5);
    nqs_ham_free(h);
    nqs_lattice_free(lat);
    const struct nqs_json_kv *ref = nqs_json_find(kv, n, "reference_energy");
    const struct nqs_json_kv *en = nqs_json_find(kv, n, "energy");
    const struct nqs_json_kv *ns = nqs_json_find(kv, n, "n_samples");
    assert_non_null(ref);
    assert_non_null(en);
    assert_non_null(ns);
    if (fabs(ref->num - e2) > 1e-9 || ns->num != 56 || en->num < e2 - 1e-9)
        fail_msg("reference %.12f (block sum s = 2: %.12f), samples %g (56), energy %.9f", ref->num, e2,
                 ns->num, en->num);
    char path[128], *sector = NULL;
    snprintf(path, sizeof path, "%s/e.h5", tmpdir);
    assert_int_equal(nqs_h5_read_attr_string(path, "/reference", "sector", &sector), NQS_OK);
    assert_string_equal(sector, "sum_i s_i = +2");
    free(sector);

    const char *sq = "[lattice]\ntype = square\nextent = 4,4\n[hamiltonian]\ntype = heisenberg\n"
                     "[symmetry]\nmagnetisation = %s\n[sampler]\nchains = 2\nsamples = 16\n"
                     "burn_in_first = 1\n[optimizer]\niterations = 1\n";
    char text[512];
    snprintf(text, sizeof text, sq, "2");
    n = run_json(text, kv, 64);
    lat = util_lattice(NQS_LATTICE_SQUARE, 4, 4, 1, 1);
    h = util_ham("heisenberg", lat, NULL);
    e2 = lanczos_block(h, 9);
    nqs_ham_free(h);
    nqs_lattice_free(lat);
    ref = nqs_json_find(kv, n, "reference_energy");
    const struct nqs_json_kv *src = nqs_json_find(kv, n, "reference_source");
    if (fabs(ref->num - e2) > 1e-9 || !strstr(src->str, "sum_i s_i = +2"))
        fail_msg("4x4 sum s = 2: reference %.12f (%s), block %.12f", ref->num, src->str, e2);
    snprintf(text, sizeof text, sq, "0"); /* the default block: the table */
    n = run_json(text, kv, 64);
    ref = nqs_json_find(kv, n, "reference_energy");
    src = nqs_json_find(kv, n, "reference_source");
    if (fabs(ref->num - -44.913932834) > 1e-8 || strstr(src->str, "ARPACK"))
        fail_msg("4x4 default block: reference %.12f (%s)", ref->num, src->str);
}

/* `nqs exact --json` and `-o` name the sector. */
static void test_sectors_cli_output(void **state)
{
    (void)state;
    const char *text = "[lattice]\ntype = square\nextent = 4,4\n[hamiltonian]\ntype = heisenberg\n"
                       "[symmetry]\nmomentum = 1,0\npoint_group = A1\nmagnetisation = 2\n";
    char *out, *err;
    int st = run_nqs("exact", text, "--json", &out, &err);
    if (st != 0) fail_msg("exit %d: %s", st, err);
    assert_non_null(strstr(out, "\"sector\": \"symmetry\""));
    assert_non_null(strstr(out, "\"momentum\": [1, 0]"));
    assert_non_null(strstr(out, "\"point_group\": \"A1\""));
    assert_non_null(strstr(out, "\"magnetisation\": 2"));
    assert_non_null(strstr(out, "\"spin_flip\": null"));
    free(out);
    free(err);
    /* keys at their defaults, as in the effective input of a result file
     * (what `nqs run --restart` reads back), select no sector */
    const char *defaults = "[lattice]\ntype = chain\nextent = 10\n[hamiltonian]\ntype = heisenberg\n"
                           "[symmetry]\nmomentum = \npoint_group = none\nspin_flip = none\n"
                           "magnetisation = \n";
    st = run_nqs("exact", defaults, "--json", &out, &err);
    if (st != 0) fail_msg("exit %d: %s", st, err);
    assert_non_null(strstr(out, "\"sector\": \"magnetisation\""));
    assert_non_null(strstr(out, "\"dim\": 252"));
    free(out);
    free(err);
    st = run_nqs("exact", text, NULL, &out, &err);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "momentum (1,0)"));
    assert_non_null(strstr(out, "point group A1"));
    free(out);
    free(err);
    /* nqs info: the lattice's group, the sector and the order of its group
     * (k = (pi/2, 0): 16 translations x {E, mirror y -> -y}) */
    st = run_nqs("info", text, "--json", &out, &err);
    if (st != 0) fail_msg("exit %d: %s", st, err);
    assert_non_null(strstr(out, "\"space_group_order\": 128"));
    assert_non_null(strstr(out, "\"sector_group_order\": 32"));
    assert_non_null(strstr(out, "\"point_group\": \"A1\""));
    assert_non_null(strstr(out, "\"magnetisation\": 2"));
    free(out);
    free(err);
    st = run_nqs("info", text, NULL, &out, &err);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "order 32"));
    assert_non_null(strstr(out, "point group A1, sum_i s_i = +2"));
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sectors_match_dense_projection),
        cmocka_unit_test(test_sectors_minimum_is_ground_state),
        cmocka_unit_test(test_sectors_tfim_parity),
        cmocka_unit_test(test_sectors_heisenberg_ring_triplet),
        cmocka_unit_test(test_sectors_nonconserving_full_space),
        cmocka_unit_test(test_sectors_sampler_magnetisation),
        cmocka_unit_test(test_sectors_cli_errors),
        cmocka_unit_test(test_sectors_cli_output),
        cmocka_unit_test(test_sectors_run_reference),
    };
    const char *only = getenv("NQS_TEST_FILTER"); /* e.g. "*tfim*" while developing */
    if (only && *only) cmocka_set_test_filter(only);
    return cmocka_run_group_tests(tests, setup, teardown);
}
