/*
 * test_sr.c - stochastic reconfiguration solvers and optimisers (src/core/sr.c,
 * src/core/optimizer.c) against independent references: S and F from explicit
 * loops solved with LAPACKE_zgesv, the exact energy gradient of a 4-state
 * wavefunction by finite differences, hand-computed rank-one SR, SGD and Adam
 * steps, and the push-through identity (dense = cg = minsr at rho = 0).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <complex.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "error.h"
#include "optimizer.h"
#include "sr.h"

/* ------------------------------------------------------------------ helpers */

/* SR-like random data: O = c_p (L D R + 0.01 G) + m_p with rank-8 L D R,
 * D_k = 0.5^k, column scales c_p over one decade and a non-zero column mean.
 * Row-major n x P with leading dimension ld (padding entries set to NaN so a
 * solver that reads them fails). */
static void make_data(int P, int n, int ld, unsigned long seed, double complex *O,
                      double complex *eloc)
{
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    enum { RANK = 8 };
    double complex L[RANK], *R = malloc((size_t)RANK * P * sizeof *R);
    for (int k = 0; k < RANK * P; k++)
        R[k] = CMPLX(gsl_ran_gaussian(rng, 1.0), gsl_ran_gaussian(rng, 1.0));
    for (int s = 0; s < n; s++) {
        for (int k = 0; k < RANK; k++)
            L[k] = pow(0.5, k) * CMPLX(gsl_ran_gaussian(rng, 1.0), gsl_ran_gaussian(rng, 1.0));
        for (int p = 0; p < P; p++) {
            double complex x = 0.01 * CMPLX(gsl_ran_gaussian(rng, 1.0), gsl_ran_gaussian(rng, 1.0));
            for (int k = 0; k < RANK; k++) x += L[k] * R[k * P + p];
            O[(size_t)s * ld + p] = pow(10.0, -(double)p / P) * x + CMPLX(0.7313, -0.21 * (p % 5));
        }
        for (int p = P; p < ld; p++) O[(size_t)s * ld + p] = CMPLX(NAN, NAN);
        eloc[s] = CMPLX(-12.5 + 2.0 * creal(L[0]) + gsl_ran_gaussian(rng, 0.5),
                        0.3 * gsl_ran_gaussian(rng, 1.0));
    }
    free(R);
    gsl_rng_free(rng);
}

/* Reference: S, F by explicit loops over the definitions of docs/physics.md. */
static void ref_S_F(int P, int n, int ld, const double complex *O, const double complex *eloc,
                    double complex *S, double complex *F, double complex *E_out)
{
    double complex E = 0;
    for (int s = 0; s < n; s++) E += eloc[s];
    E /= n;
    double complex *mean = calloc((size_t)P, sizeof *mean);
    for (int p = 0; p < P; p++) {
        for (int s = 0; s < n; s++) mean[p] += O[(size_t)s * ld + p];
        mean[p] /= n;
    }
    for (int a = 0; a < P; a++) {
        F[a] = 0;
        for (int s = 0; s < n; s++)
            F[a] += conj(O[(size_t)s * ld + a] - mean[a]) * (eloc[s] - E) / n;
        for (int b = 0; b < P; b++) {
            double complex x = 0;
            for (int s = 0; s < n; s++)
                x += conj(O[(size_t)s * ld + a] - mean[a]) * (O[(size_t)s * ld + b] - mean[b]);
            S[(size_t)a * P + b] = x / n;
        }
    }
    if (E_out) *E_out = E;
    free(mean);
}

/* Reference solve of (S + eps + rho diag S) x = F by LU (zgesv). */
static void ref_solve(int P, const double complex *S, const double complex *F, double eps,
                      double rho, double complex *x)
{
    double complex *M = malloc((size_t)P * P * sizeof *M);
    lapack_int *ipiv = malloc((size_t)P * sizeof *ipiv);
    memcpy(M, S, (size_t)P * P * sizeof *M);
    for (int p = 0; p < P; p++) M[(size_t)p * P + p] += eps + rho * creal(S[(size_t)p * P + p]);
    memcpy(x, F, (size_t)P * sizeof *x);
    assert_int_equal(LAPACKE_zgesv(LAPACK_ROW_MAJOR, P, 1, M, P, ipiv, x, 1), 0);
    free(M);
    free(ipiv);
}

static double rel_diff(int P, const double complex *a, const double complex *b)
{
    double num = 0, den = 0;
    for (int p = 0; p < P; p++) {
        num += cabs(a[p] - b[p]) * cabs(a[p] - b[p]);
        den += cabs(b[p]) * cabs(b[p]);
    }
    return sqrt(num / den);
}

static int all_finite(int P, const double complex *x)
{
    for (int p = 0; p < P; p++)
        if (!isfinite(creal(x[p])) || !isfinite(cimag(x[p]))) return 0;
    return 1;
}

/* Solve with a forced solver; returns the status. */
static int solve_with(enum nqs_sr_solver solver, int P, int n, int ld, const double complex *O,
                      const double complex *eloc, double eps, double rho, double complex *F,
                      double complex *delta, struct nqs_sr_info *info)
{
    struct nqs_sr_options so;
    nqs_sr_options_default(&so);
    so.solver = solver;
    so.cg_tol = 1e-13;
    so.cg_maxiter = 5000;
    struct nqs_sr *sr = nqs_sr_alloc(P, n, &so);
    assert_non_null(sr);
    int rc = nqs_sr_solve(sr, O, ld, eloc, n, eps, rho, F, delta, info);
    nqs_sr_free(sr);
    return rc;
}

/* ------------------------------------------------------------------ solvers */

/* dense = cg = minsr at rho = 0 (push-through identity), and all equal the
 * zgesv reference. eps = 1e-2 against lambda_max(S) = 28 (P < N_s) and 154
 * (P > N_s) gives condition numbers 2.8e3 and 1.5e4: measured agreement is
 * ~3e-13 for the direct solvers and <= 1e-10 for cg at tol 1e-13 (error <=
 * cond x residual), so 1e-8 leaves a margin of 100 while a wrong formula
 * (missing centring, 1/N_s or a conjugation) is off by O(1). */
static void check_agree(int P, int n, unsigned long seed)
{
    int ld = P;
    double complex *O = malloc((size_t)n * ld * sizeof *O), *eloc = malloc((size_t)n * sizeof *eloc);
    double complex *S = malloc((size_t)P * P * sizeof *S), *Fr = malloc((size_t)P * sizeof *Fr);
    double complex *xr = malloc((size_t)P * sizeof *xr), *F = malloc((size_t)P * sizeof *F);
    double complex *d[3];
    make_data(P, n, ld, seed, O, eloc);
    ref_S_F(P, n, ld, O, eloc, S, Fr, NULL);
    const double eps = 1e-2;
    ref_solve(P, S, Fr, eps, 0.0, xr);
    const enum nqs_sr_solver solvers[3] = {NQS_SR_DENSE, NQS_SR_CG, NQS_SR_MINSR};
    for (int k = 0; k < 3; k++) {
        struct nqs_sr_info info;
        d[k] = malloc((size_t)P * sizeof *d[k]);
        assert_int_equal(solve_with(solvers[k], P, n, ld, O, eloc, eps, 0.0, F, d[k], &info),
                         NQS_OK);
        assert_int_equal(info.solver, solvers[k]);
        assert_true(info.converged);
        assert_true(rel_diff(P, F, Fr) < 1e-12);
        assert_true(rel_diff(P, d[k], xr) < 1e-8);
        if (solvers[k] == NQS_SR_CG) {
            assert_true(info.iterations > 0);
            assert_true(info.residual < 1e-11);
        }
    }
    assert_true(rel_diff(P, d[1], d[0]) < 1e-8);
    assert_true(rel_diff(P, d[2], d[0]) < 1e-8);
    for (int k = 0; k < 3; k++) free(d[k]);
    free(O); free(eloc); free(S); free(Fr); free(xr); free(F);
}

static void test_sr_solvers_agree_few_params(void **state)
{
    (void)state;
    check_agree(30, 90, 11); /* P < N_s */
}

static void test_sr_solvers_agree_many_params(void **state)
{
    (void)state;
    check_agree(130, 40, 12); /* P > N_s: S has rank <= N_s - 1 */
}

/* Dense and cg with a relative shift against the zgesv reference, with a
 * padded leading dimension (padding is NaN). Same tolerance argument. */
static void test_sr_dense_cg_match_reference_with_diag_scale(void **state)
{
    (void)state;
    const int P = 25, n = 60, ld = 29;
    double complex O[60 * 29], eloc[60], S[25 * 25], Fr[25], xr[25], F[25], x[25];
    make_data(P, n, ld, 21, O, eloc);
    ref_S_F(P, n, ld, O, eloc, S, Fr, NULL);
    const double eps = 3e-3, rho = 0.05;
    ref_solve(P, S, Fr, eps, rho, xr);
    struct nqs_sr_info info;
    assert_int_equal(solve_with(NQS_SR_DENSE, P, n, ld, O, eloc, eps, rho, F, x, &info), NQS_OK);
    assert_true(rel_diff(P, x, xr) < 1e-9);
    assert_int_equal(info.iterations, 0);
    assert_int_equal(solve_with(NQS_SR_CG, P, n, ld, O, eloc, eps, rho, F, x, &info), NQS_OK);
    assert_true(rel_diff(P, x, xr) < 1e-8);
    /* auto must avoid minsr when rho > 0 */
    assert_int_equal(solve_with(NQS_SR_AUTO, P, n, ld, O, eloc, eps, rho, F, x, &info), NQS_OK);
    assert_int_not_equal(info.solver, NQS_SR_MINSR);
    assert_true(rel_diff(P, x, xr) < 1e-8);
}

/* Rank-one case by hand: samples O = (1, i) and (-1, 0), E_loc = 1 and 3.
 * E = 2; centred O/sqrt2: column 0 (1, -1)/sqrt2, column 1 (i/2, -i/2)/sqrt2;
 * S = u u^H with u = (1, -i/2), F = -u = (-1, i/2); so
 * (S + eps) delta = F gives delta = -u / (|u|^2 + eps) = -(1, -i/2)/1.26. */
static void test_sr_rank_one_by_hand(void **state)
{
    (void)state;
    const double complex O[4] = {1, I, -1, 0}, eloc[2] = {1, 3};
    const double complex expect[2] = {-1.0 / 1.26, 0.5 * I / 1.26};
    const enum nqs_sr_solver solvers[3] = {NQS_SR_DENSE, NQS_SR_CG, NQS_SR_MINSR};
    for (int k = 0; k < 3; k++) {
        double complex F[2], d[2];
        struct nqs_sr_info info;
        assert_int_equal(solve_with(solvers[k], 2, 2, 2, O, eloc, 0.01, 0.0, F, d, &info), NQS_OK);
        assert_true(cabs(info.energy - 2.0) < 1e-15);
        assert_true(cabs(F[0] + 1.0) < 1e-15 && cabs(F[1] - 0.5 * I) < 1e-15);
        assert_true(fabs(info.grad_norm - sqrt(1.25)) < 1e-15);
        assert_true(cabs(d[0] - expect[0]) < 1e-13 && cabs(d[1] - expect[1]) < 1e-13);
    }
}

/* F is dE/dtheta* for a 4-state wavefunction psi(x) = exp(a_x + sum_p theta_p f_p(x))
 * with |psi(x)|^2 = 1, 2, 3, 4 at theta = 0 (a_x = log(k)/2 + i phi_x), so the
 * 10 samples "x repeated k_x times" are an exact, equally weighted sample of
 * |psi|^2. E(theta) = psi^H H psi / psi^H psi with a Hermitian 4x4 H, and
 * dE/dtheta* = (dE/dRe theta + i dE/dIm theta)/2 by central differences with
 * h = 1e-5 (truncation error ~h^2 E''' ~ 1e-10; tolerance 1e-8). */
static const double complex toy_H[4][4] = {
    {0.7313, 0.4 - 0.2 * I, -0.3, 0.1 * I},
    {0.4 + 0.2 * I, -1.1, 0.25 + 0.5 * I, 0.6},
    {-0.3, 0.25 - 0.5 * I, 0.35, -0.45 - 0.1 * I},
    {-0.1 * I, 0.6, -0.45 + 0.1 * I, -0.2},
};
static const double complex toy_f[4][3] = {
    {0.3 + 0.1 * I, -0.5, 0.2 * I},
    {-0.7, 0.2 - 0.4 * I, 0.9},
    {0.15 * I, 0.8 + 0.3 * I, -0.35},
    {0.5 - 0.5 * I, -0.1, 0.45 + 0.2 * I},
};
static const double toy_phi[4] = {0.0, 0.9, -1.3, 2.2};

static void toy_psi(const double complex *theta, double complex *psi)
{
    for (int x = 0; x < 4; x++) {
        double complex lp = 0.5 * log(x + 1.0) + I * toy_phi[x];
        for (int p = 0; p < 3; p++) lp += theta[p] * toy_f[x][p];
        psi[x] = cexp(lp);
    }
}

static double toy_energy(const double complex *theta)
{
    double complex psi[4], num = 0;
    double den = 0;
    toy_psi(theta, psi);
    for (int x = 0; x < 4; x++) {
        den += creal(conj(psi[x]) * psi[x]);
        for (int y = 0; y < 4; y++) num += conj(psi[x]) * toy_H[x][y] * psi[y];
    }
    return creal(num) / den;
}

static void test_sr_force_is_energy_gradient(void **state)
{
    (void)state;
    const double complex theta0[3] = {0, 0, 0};
    double complex psi[4], O[10 * 3], eloc[10], F[3], d[3];
    toy_psi(theta0, psi);
    int s = 0;
    for (int x = 0; x < 4; x++) {
        double complex el = 0;
        for (int y = 0; y < 4; y++) el += toy_H[x][y] * psi[y] / psi[x];
        for (int k = 0; k <= x; k++, s++) {
            for (int p = 0; p < 3; p++) O[s * 3 + p] = toy_f[x][p];
            eloc[s] = el;
        }
    }
    assert_int_equal(s, 10);
    struct nqs_sr_info info;
    assert_int_equal(solve_with(NQS_SR_DENSE, 3, 10, 3, O, eloc, 0.01, 0.0, F, d, &info), NQS_OK);
    assert_true(fabs(creal(info.energy) - toy_energy(theta0)) < 1e-13);
    assert_true(fabs(cimag(info.energy)) < 1e-13);
    const double h = 1e-5;
    for (int p = 0; p < 3; p++) {
        double complex tp[3] = {0, 0, 0}, tm[3] = {0, 0, 0};
        tp[p] = h;
        tm[p] = -h;
        double dre = (toy_energy(tp) - toy_energy(tm)) / (2 * h);
        tp[p] = I * h;
        tm[p] = -I * h;
        double dim = (toy_energy(tp) - toy_energy(tm)) / (2 * h);
        double complex grad = 0.5 * (dre + I * dim);
        assert_true(cabs(F[p] - grad) < 1e-8);
    }
    /* the gradient-only path gives the same F */
    struct nqs_sr_options so;
    nqs_sr_options_default(&so);
    so.solver = NQS_SR_NONE;
    struct nqs_sr *sr = nqs_sr_alloc(3, 10, &so);
    assert_non_null(sr);
    double complex G[3];
    assert_int_equal(nqs_sr_gradient(sr, O, 3, eloc, 10, G, NULL), NQS_OK);
    assert_true(rel_diff(3, G, F) < 1e-13);
    assert_int_equal(nqs_sr_solve(sr, O, 3, eloc, 10, 0.01, 0, F, d, NULL), NQS_EINTERNAL);
    nqs_sr_free(sr);
}

/* A constant added to one column of O (O_p -> O_p + c) leaves delta unchanged
 * for every solver: centring removes it. Rounding of |c| ~ 4 against entries
 * ~ 1 costs ~1e-15 relative in Obar, amplified by cond ~ 1e2: 1e-10 is safe. */
static void test_sr_centring_removes_constant_shift(void **state)
{
    (void)state;
    const int P = 40, n = 30;
    double complex O[30 * 40], O2[30 * 40], eloc[30], F[40], a[40], b[40];
    make_data(P, n, P, 31, O, eloc);
    memcpy(O2, O, sizeof O);
    for (int s = 0; s < n; s++) O2[s * P + 7] += 3.7 - 1.2 * I;
    const enum nqs_sr_solver solvers[3] = {NQS_SR_DENSE, NQS_SR_CG, NQS_SR_MINSR};
    for (int k = 0; k < 3; k++) {
        assert_int_equal(solve_with(solvers[k], P, n, P, O, eloc, 0.02, 0, F, a, NULL), NQS_OK);
        assert_int_equal(solve_with(solvers[k], P, n, P, O2, eloc, 0.02, 0, F, b, NULL), NQS_OK);
        assert_true(rel_diff(P, b, a) < 1e-10);
    }
}

/* cg stopped after 3 iterations: status NQS_NOTCONV (not an error), finite
 * delta, and the reported residual is the true one, checked against the
 * explicit S (relative 1e-10: two evaluations of the same residual). */
static void test_sr_cg_not_converged_is_status(void **state)
{
    (void)state;
    const int P = 50, n = 80;
    double complex *O = malloc((size_t)n * P * sizeof *O), eloc[80], S[50 * 50], Fr[50], F[50],
                   x[50];
    make_data(P, n, P, 41, O, eloc);
    ref_S_F(P, n, P, O, eloc, S, Fr, NULL);
    struct nqs_sr_options so;
    nqs_sr_options_default(&so);
    so.solver = NQS_SR_CG;
    so.cg_tol = 1e-14;
    so.cg_maxiter = 3;
    struct nqs_sr *sr = nqs_sr_alloc(P, n, &so);
    struct nqs_sr_info info;
    const double eps = 1e-3;
    assert_int_equal(nqs_sr_solve(sr, O, P, eloc, n, eps, 0, F, x, &info), NQS_NOTCONV);
    assert_int_equal(info.converged, 0);
    assert_int_equal(info.iterations, 3);
    assert_true(all_finite(P, x));
    double rn = 0, fn = 0;
    for (int a = 0; a < P; a++) {
        double complex r = Fr[a] - eps * x[a];
        for (int b = 0; b < P; b++) r -= S[a * P + b] * x[b];
        rn += cabs(r) * cabs(r);
        fn += cabs(Fr[a]) * cabs(Fr[a]);
    }
    double res = sqrt(rn / fn);
    assert_true(fabs(info.residual - res) < 1e-10 * res);
    assert_true(res > 1e-14 && res < 1.0); /* better than delta = 0 (residual 1) */
    assert_non_null(strstr(nqs_last_error(), "3 iterations"));
    nqs_sr_free(sr);
    free(O);
}

/* The cg residual is not monotone in the iteration count (for this
 * Jacobi-preconditioned system it rises at several of the first 24
 * iterations, measured), so returning the best iterate seen makes the reported residual
 * non-increasing in cg_maxiter; returning the last iterate would not be.
 * Same iterates, same arithmetic: compared with a 1e-12 relative slack. */
static void test_sr_cg_returns_best_iterate(void **state)
{
    (void)state;
    const int P = 50, n = 80;
    double complex *O = malloc((size_t)n * P * sizeof *O), eloc[80], F[50], x[50];
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 41);
    for (int s = 0; s < n; s++) {
        for (int p = 0; p < P; p++)
            O[s * P + p] = pow(10.0, -2.0 * p / P) * (1 + 3 * (s % 3 == 0)) *
                           CMPLX(gsl_ran_gaussian(rng, 1), gsl_ran_gaussian(rng, 1));
        eloc[s] = gsl_ran_gaussian(rng, 1) + 2 * creal(O[s * P + 3]);
    }
    gsl_rng_free(rng);
    double prev = 1.0;
    for (int k = 1; k <= 24; k++) {
        struct nqs_sr_options so;
        nqs_sr_options_default(&so);
        so.solver = NQS_SR_CG;
        so.cg_precond = NQS_SR_PRECOND_JACOBI; /* the system described above */
        so.cg_tol = 1e-14;
        so.cg_maxiter = k;
        struct nqs_sr *sr = nqs_sr_alloc(P, n, &so);
        struct nqs_sr_info info;
        assert_int_equal(nqs_sr_solve(sr, O, P, eloc, n, 1e-3, 0, F, x, &info), NQS_NOTCONV);
        assert_true(info.residual <= prev * (1 + 1e-12));
        prev = info.residual;
        nqs_sr_free(sr);
    }
    assert_true(prev < 2e-3);
    free(O);
}

/* Mixed-precision cg (single-precision S v, double-precision residuals and
 * refinement) reaches double accuracy. For P < N_s and P > N_s, rho = 0 and
 * 0.05, no preconditioner and Jacobi, ld > P (NaN padding, so O is read with
 * its leading dimension): converged with true residual <= 1e-11 and delta
 * within 1e-7 of the zgesv reference (condition numbers <= 1.5e4 here, see
 * check_agree: error <= cond x residual = 1.5e-7; measured 7e-10..1e-8).
 * Single precision alone cannot do this: the reference solved with O rounded
 * to float differs from the double one by 1e-6..4e-6 (measured), and the
 * mixed solution must be 100 times closer, so the accuracy comes from the
 * double-precision residuals. */
/* Weighted rows (nqs_sr_set_weights, the exact sampler's SR): rows with
 * probabilities w_s = k_s / K must give the E, F and delta of the uniform
 * solve over the K rows in which row s appears k_s times (k_s = 0 included:
 * a padding row of weight 0 contributes nothing). Independent of the weighted
 * code: the reference is the unweighted path on replicated data. Tolerances
 * as check_agree (1e-8; mixed cg at cg_tol 1e-11 like check_mixed, 1e-7);
 * a missing sqrt(w) or an unweighted mean is off by O(1). Every solver,
 * the gradient-only path, and a 4-chain layout. */
static void test_sr_weights_equal_replicated_rows(void **state)
{
    (void)state;
    enum { P = 14, N = 20, NCH = 4 };
    int ld = P + 2, mult[N], K = 0;
    for (int s = 0; s < N; s++) K += mult[s] = (s * 7 + 3) % 4; /* 0..3, some zero */
    double complex *O = malloc((size_t)N * ld * sizeof *O), eloc[N];
    make_data(P, N, ld, 71, O, eloc);
    double complex *Or = malloc((size_t)K * ld * sizeof *Or), *er = malloc((size_t)K * sizeof *er);
    double w[N];
    for (int s = 0, r = 0; s < N; s++) {
        w[s] = (double)mult[s] / K;
        for (int k = 0; k < mult[s]; k++, r++) {
            memcpy(Or + (size_t)r * ld, O + (size_t)s * ld, (size_t)ld * sizeof *O);
            er[r] = eloc[s];
        }
    }
    double complex Fr[P], dr[P], F[P], d[P];
    const double eps = 1e-2;
    struct nqs_sr_info ri, info;
    assert_int_equal(solve_with(NQS_SR_DENSE, P, K, ld, Or, er, eps, 0.0, Fr, dr, &ri), NQS_OK);

    struct { enum nqs_sr_solver solver; enum nqs_sr_precision prec; double tol; } cases[] = {
        {NQS_SR_DENSE, NQS_SR_PREC_DOUBLE, 1e-8}, {NQS_SR_CG, NQS_SR_PREC_DOUBLE, 1e-8},
        {NQS_SR_CG, NQS_SR_PREC_MIXED, 1e-7}, {NQS_SR_MINSR, NQS_SR_PREC_DOUBLE, 1e-8}};
    for (int layout = 0; layout < 2; layout++)
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            struct nqs_sr_options so;
            nqs_sr_options_default(&so);
            so.solver = cases[k].solver;
            so.cg_precision = cases[k].prec;
            so.cg_tol = cases[k].prec == NQS_SR_PREC_MIXED ? 1e-11 : 1e-13;
            so.cg_maxiter = 5000;
            struct nqs_sr *sr = nqs_sr_alloc(P, N, &so);
            assert_non_null(sr);
            if (layout) assert_int_equal(nqs_sr_set_chains(sr, NCH, 0, NCH, N / NCH), NQS_OK);
            nqs_sr_set_weights(sr, w);
            assert_int_equal(nqs_sr_solve(sr, O, ld, eloc, N, eps, 0.0, F, d, &info), NQS_OK);
            assert_true(cabs(info.energy - ri.energy) < 1e-12 * cabs(ri.energy));
            assert_true(rel_diff(P, F, Fr) < 1e-12);
            assert_true(rel_diff(P, d, dr) < cases[k].tol);
            nqs_sr_set_weights(sr, NULL); /* back to equal weights: a different answer */
            assert_int_equal(nqs_sr_solve(sr, O, ld, eloc, N, eps, 0.0, F, d, &info), NQS_OK);
            assert_true(rel_diff(P, F, Fr) > 1e-3);
            nqs_sr_free(sr);
        }
    struct nqs_sr_options so;
    nqs_sr_options_default(&so);
    so.solver = NQS_SR_NONE;
    struct nqs_sr *sr = nqs_sr_alloc(P, N, &so);
    assert_non_null(sr);
    nqs_sr_set_weights(sr, w);
    assert_int_equal(nqs_sr_gradient(sr, O, ld, eloc, N, F, &info), NQS_OK);
    assert_true(rel_diff(P, F, Fr) < 1e-12);
    assert_true(cabs(info.energy - ri.energy) < 1e-12 * cabs(ri.energy));
    nqs_sr_free(sr);
    free(O); free(Or); free(er);
}

static void check_mixed(int P, int n, double rho, enum nqs_sr_precond pc, unsigned long seed)
{
    int ld = P + 3;
    double complex *O = malloc((size_t)n * ld * sizeof *O), *Of = malloc((size_t)n * ld * sizeof *Of);
    double complex *eloc = malloc((size_t)n * sizeof *eloc), *S = malloc((size_t)P * P * sizeof *S);
    double complex *Fr = malloc((size_t)P * sizeof *Fr), *xr = malloc((size_t)P * sizeof *xr);
    double complex *xf = malloc((size_t)P * sizeof *xf), *F = malloc((size_t)P * sizeof *F);
    double complex *x = malloc((size_t)P * sizeof *x);
    make_data(P, n, ld, seed, O, eloc);
    const double eps = 1e-2;
    ref_S_F(P, n, ld, O, eloc, S, Fr, NULL);
    ref_solve(P, S, Fr, eps, rho, xr);
    for (size_t k = 0; k < (size_t)n * ld; k++) Of[k] = (float complex)O[k];
    ref_S_F(P, n, ld, Of, eloc, S, F, NULL);
    ref_solve(P, S, F, eps, rho, xf);
    double single_err = rel_diff(P, xf, xr);

    struct nqs_sr_options so;
    nqs_sr_options_default(&so);
    so.solver = NQS_SR_CG;
    so.cg_precision = NQS_SR_PREC_MIXED;
    so.cg_precond = pc;
    so.cg_tol = 1e-11;
    so.cg_maxiter = 5000;
    struct nqs_sr *sr = nqs_sr_alloc(P, n, &so);
    assert_non_null(sr);
    struct nqs_sr_info info;
    assert_int_equal(nqs_sr_solve(sr, O, ld, eloc, n, eps, rho, F, x, &info), NQS_OK);
    assert_int_equal(info.solver, NQS_SR_CG);
    assert_true(info.converged);
    assert_true(info.residual <= 1e-11);
    assert_true(rel_diff(P, F, Fr) < 1e-12);
    assert_true(rel_diff(P, x, xr) < 1e-7);
    assert_true(rel_diff(P, x, xr) < 0.01 * single_err);
    /* centring: a constant added to a column (100 times the fluctuations)
     * changes nothing beyond the solver tolerance */
    for (int k = 0; k < n; k++) O[(size_t)k * ld + 7] += 37.0 - 12.0 * I;
    assert_int_equal(nqs_sr_solve(sr, O, ld, eloc, n, eps, rho, F, xf, &info), NQS_OK);
    assert_true(rel_diff(P, xf, x) < 1e-7);
    nqs_sr_free(sr);
    free(O); free(Of); free(eloc); free(S); free(Fr); free(xr); free(xf); free(F); free(x);
}

static void test_sr_mixed_cg_reaches_double_accuracy(void **state)
{
    (void)state;
    check_mixed(30, 90, 0.0, NQS_SR_PRECOND_NONE, 61);
    check_mixed(30, 90, 0.05, NQS_SR_PRECOND_JACOBI, 62);
    check_mixed(120, 70, 0.0, NQS_SR_PRECOND_JACOBI, 63);
    check_mixed(120, 70, 0.05, NQS_SR_PRECOND_NONE, 64);
}

/* Mixed cg over 6 chains (nqs_sr_set_chains): the same bits on 1 and 2
 * OpenMP threads (per-chain partial sums in a fixed order, exact sum over
 * chains, sr.h "Chains and ranks"), and the same solution as with all rows
 * in one chain to the solver tolerance: both at cg_tol 1e-11 with a
 * condition number below 1.5e4 (as in check_mixed), so they differ by at
 * most ~2 x 1.5e-7; 1e-7 is asserted (measured far below). */
static void test_sr_mixed_cg_chains_and_threads(void **state)
{
    (void)state;
    const int P = 300, n = 240, chains = 6;
    double complex *O = malloc((size_t)n * P * sizeof *O), *eloc = malloc((size_t)n * sizeof *eloc);
    double complex *F = malloc((size_t)P * sizeof *F), *x[3];
    make_data(P, n, P, 71, O, eloc);
    struct nqs_sr_options so;
    nqs_sr_options_default(&so);
    so.solver = NQS_SR_CG;
    so.cg_tol = 1e-11;
    so.cg_maxiter = 5000;
    assert_true(P >= NQS_SR_MIXED_MIN_PAR); /* auto precision: mixed */
#ifdef _OPENMP
    int saved = omp_get_max_threads();
#endif
    for (int k = 0; k < 3; k++) {
        x[k] = malloc((size_t)P * sizeof *x[k]);
        struct nqs_sr *sr = nqs_sr_alloc(P, n, &so);
        assert_non_null(sr);
        if (k < 2) assert_int_equal(nqs_sr_set_chains(sr, chains, 0, chains, n / chains), NQS_OK);
#ifdef _OPENMP
        omp_set_num_threads(k == 1 ? 2 : 1);
#endif
        struct nqs_sr_info info;
        assert_int_equal(nqs_sr_solve(sr, O, P, eloc, n, 1e-2, 0, F, x[k], &info), NQS_OK);
        assert_true(info.residual <= 1e-11);
        nqs_sr_free(sr);
    }
#ifdef _OPENMP
    omp_set_num_threads(saved);
#endif
    assert_memory_equal(x[0], x[1], (size_t)P * sizeof *x[0]);
    assert_true(rel_diff(P, x[0], x[2]) < 1e-7);
    for (int k = 0; k < 3; k++) free(x[k]);
    free(O);
    free(eloc);
    free(F);
}

/* Unknown cg_precision / cg_preconditioner values are refused. */
static void test_sr_cg_option_errors(void **state)
{
    (void)state;
    struct nqs_sr_options so;
    nqs_sr_options_default(&so);
    so.cg_precision = (enum nqs_sr_precision)3;
    assert_int_equal(nqs_sr_check(10, 10, &so), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "cg_precision"));
    nqs_sr_options_default(&so);
    so.cg_precond = (enum nqs_sr_precond)2;
    assert_int_equal(nqs_sr_check(10, 10, &so), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "cg_preconditioner"));
    assert_null(nqs_sr_alloc(10, 10, &so));
}

static void test_sr_error_paths(void **state)
{
    (void)state;
    const int P = 20, n = 8;
    double complex O[8 * 20], eloc[8], F[20], x[20];
    make_data(P, n, P, 51, O, eloc);
    struct nqs_sr_options so;
    nqs_sr_options_default(&so);

    /* minsr without an absolute shift, or with a relative one */
    so.solver = NQS_SR_MINSR;
    struct nqs_sr *sr = nqs_sr_alloc(P, n, &so);
    assert_non_null(sr);
    assert_int_equal(nqs_sr_solve(sr, O, P, eloc, n, 0.0, 0.0, F, x, NULL), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "diag_shift > 0"));
    assert_int_equal(nqs_sr_solve(sr, O, P, eloc, n, 0.01, 0.1, F, x, NULL), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "diag_scale"));
    /* wrong sizes and shifts */
    assert_int_equal(nqs_sr_solve(sr, O, P, eloc, n + 1, 0.01, 0, F, x, NULL), NQS_EINVAL);
    assert_int_equal(nqs_sr_solve(sr, O, P - 1, eloc, n, 0.01, 0, F, x, NULL), NQS_EINVAL);
    assert_int_equal(nqs_sr_solve(sr, O, P, eloc, n, -0.01, 0, F, x, NULL), NQS_EINVAL);
    nqs_sr_free(sr);

    /* dense forced over the budget: S 16 * 20^2 plus its exact-sum
     * accumulators 16 * 20 * 21 = 13120 bytes needed */
    so.solver = NQS_SR_DENSE;
    so.mem_budget = 13119;
    assert_int_equal(nqs_sr_check(P, n, &so), NQS_ENOMEM);
    assert_non_null(strstr(nqs_last_error(), "13120 bytes"));
    nqs_error_clear();
    assert_null(nqs_sr_alloc(P, n, &so));
    assert_non_null(strstr(nqs_last_error(), "13120 bytes"));
    so.mem_budget = 13120;
    assert_int_equal(nqs_sr_check(P, n, &so), NQS_OK);
    /* minsr over the budget: 16 * 8^2 = 1024 bytes */
    so.solver = NQS_SR_MINSR;
    so.mem_budget = 1000;
    assert_int_equal(nqs_sr_check(P, n, &so), NQS_ENOMEM);
    assert_non_null(strstr(nqs_last_error(), "1024 bytes"));
    assert_int_equal(nqs_sr_check(0, n, &so), NQS_EINVAL);

    /* NaN local energy */
    so.solver = NQS_SR_CG;
    so.mem_budget = 1e9;
    sr = nqs_sr_alloc(P, n, &so);
    eloc[3] = CMPLX(NAN, 0);
    assert_int_equal(nqs_sr_solve(sr, O, P, eloc, n, 0.01, 0, F, x, NULL), NQS_ENUMERIC);
    nqs_sr_free(sr);

    /* Cholesky failure: a constant column (0.5 exactly, so centring gives exact
     * zeros) makes S singular, and without a shift zpotrf stops at minor 1. */
    make_data(P, n, P, 52, O, eloc);
    for (int s = 0; s < n; s++) O[s * P] = 0.5;
    so.solver = NQS_SR_DENSE;
    sr = nqs_sr_alloc(P, n, &so);
    assert_int_equal(nqs_sr_solve(sr, O, P, eloc, n, 0.0, 0.0, F, x, NULL), NQS_ENUMERIC);
    assert_non_null(strstr(nqs_last_error(), "not positive definite"));
    nqs_sr_free(sr);
}

/* The automatic choice follows sr.h: with m = min(P, N_s), cg when
 * P >= 1.5 N_s or m sqrt(eps) > 40; otherwise minsr for P > N_s when eps > 0,
 * rho = 0 and 16 N_s^2 bytes fit; otherwise dense when P <= 4000 and S fits;
 * otherwise cg. Each expected value is worked out from these inequalities in
 * the comment next to it (shifts kept away from the boundaries by >= 3 %). */
static void test_sr_auto_choice(void **state)
{
    (void)state;
    struct nqs_sr_options so;
    nqs_sr_options_default(&so);
    /* P = 130 > N_s = 100 > P / 1.5, m = 100 */
    struct nqs_sr *sr = nqs_sr_alloc(130, 100, &so);
    assert_int_equal(nqs_sr_choose(sr, 0.01, 0.0), NQS_SR_MINSR); /* 100 x 0.1 = 10 */
    assert_int_equal(nqs_sr_choose(sr, 0.15, 0.0), NQS_SR_MINSR); /* 38.7 <= 40 */
    assert_int_equal(nqs_sr_choose(sr, 0.17, 0.0), NQS_SR_CG);    /* 41.2 > 40 */
    assert_int_equal(nqs_sr_choose(sr, 0.01, 0.1), NQS_SR_DENSE); /* rho > 0: no minsr */
    assert_int_equal(nqs_sr_choose(sr, 0.0, 0.0), NQS_SR_DENSE);  /* eps = 0: no minsr */
    nqs_sr_free(sr);
    /* P = 50 < N_s = 100, m = 50 */
    sr = nqs_sr_alloc(50, 100, &so);
    assert_int_equal(nqs_sr_choose(sr, 0.01, 0.0), NQS_SR_DENSE); /* 5 */
    assert_int_equal(nqs_sr_choose(sr, 0.6, 0.0), NQS_SR_DENSE);  /* 38.7 */
    assert_int_equal(nqs_sr_choose(sr, 0.7, 0.0), NQS_SR_CG);     /* 41.8 */
    nqs_sr_free(sr);
    /* P = 1.5 N_s: cg at any shift; just below, minsr at a small one */
    sr = nqs_sr_alloc(150, 100, &so);
    assert_int_equal(nqs_sr_choose(sr, 1e-6, 0.0), NQS_SR_CG);
    assert_int_equal(nqs_sr_choose(sr, 0.0, 0.1), NQS_SR_CG);
    nqs_sr_free(sr);
    sr = nqs_sr_alloc(149, 100, &so);
    assert_int_equal(nqs_sr_choose(sr, 1e-6, 0.0), NQS_SR_MINSR);
    nqs_sr_free(sr);
    so.mem_budget = 16.0 * 100 * 100; /* minsr fits, S (16 * 130^2 + more) does not */
    sr = nqs_sr_alloc(130, 100, &so);
    assert_int_equal(nqs_sr_choose(sr, 0.01, 0.0), NQS_SR_MINSR);
    assert_int_equal(nqs_sr_choose(sr, 0.01, 0.1), NQS_SR_CG);
    nqs_sr_free(sr);
    /* N_s is that of all chains (nqs_sr_set_chains), not this process's rows:
     * here 1 of 27 chains of 100 samples. Before the layout N_s = 100 and
     * P = 4001 >= 1.5 N_s; after it N_s = 2700, m = 2700. Above the dense
     * limit (P > 4000) a relative shift, which rules minsr out, gives cg. */
    so.mem_budget = 1e12;
    sr = nqs_sr_alloc(NQS_SR_DENSE_MAX_PAR + 1, 100, &so);
    assert_int_equal(nqs_sr_choose(sr, 1e-4, 0.0), NQS_SR_CG);
    assert_int_equal(nqs_sr_set_chains(sr, 27, 0, 1, 100), NQS_OK);
    assert_int_equal(nqs_sr_choose(sr, 1e-4, 0.0), NQS_SR_MINSR); /* 27 */
    assert_int_equal(nqs_sr_choose(sr, 1e-3, 0.0), NQS_SR_CG);    /* 85.4 */
    assert_int_equal(nqs_sr_choose(sr, 1e-4, 0.1), NQS_SR_CG);
    nqs_sr_free(sr);
    assert_string_equal(nqs_sr_solver_name(NQS_SR_MINSR), "minsr");
}

/* ------------------------------------------------------------------ optimisers */

static struct nqs_optimizer *make_opt(enum nqs_opt_method method, double lr, int P, int n)
{
    struct nqs_optimizer_params p;
    nqs_optimizer_params_default(&p);
    p.method = method;
    p.learning_rate = lr;
    p.learning_rate_max = 0; /* the plain schedule: eta = lr */
    p.diag_shift = 0.01;     /* the shift of the hand-computed examples (1.25 + 0.01) */
    p.max_step = 0.1;        /* above their step length 0.0992: the bound stays inactive */
    struct nqs_optimizer *opt = nqs_optimizer_alloc(&p, P, n);
    assert_non_null(opt);
    return opt;
}

/* SGD on the rank-one example: F = (-1, i/2) by hand, eta = 0.1:
 * par (0.3+0.2i, -0.1i) -> (0.4+0.2i, -0.15i). */
static void test_optimizer_sgd_first_step_by_hand(void **state)
{
    (void)state;
    const double complex O[4] = {1, I, -1, 0}, eloc[2] = {1, 3};
    double complex par[2] = {0.3 + 0.2 * I, -0.1 * I};
    struct nqs_optimizer *opt = make_opt(NQS_METHOD_SGD, 0.1, 2, 2);
    struct nqs_optimizer_info info;
    assert_int_equal(nqs_optimizer_step(opt, O, 2, eloc, 2, par, &info), NQS_OK);
    assert_true(cabs(par[0] - (0.4 + 0.2 * I)) < 1e-15);
    assert_true(cabs(par[1] - (-0.15 * I)) < 1e-15);
    assert_int_equal(info.solver, NQS_SR_NONE);
    assert_true(info.diag_shift == 0.0 && info.learning_rate == 0.1);
    nqs_optimizer_free(opt);
}

/* Adam on the same gradient g = (Re, Im) = (-1, 0, 0, 0.5) twice. Step 1:
 * m = 0.1 g, v = 0.001 g^2, mhat = g, vhat = g^2; step 2: m = 0.19 g,
 * v = 0.001999 g^2, bias corrections 0.19 and 0.001999 give again mhat = g,
 * vhat = g^2. Each step moves par by -eta g/(|g| + 1e-8) component-wise
 * (0 where g = 0). Without the bias correction step 2 would differ by ~2x.
 * Tolerance 1e-14: rounding of 1 - 0.999^t. */
static void test_optimizer_adam_two_steps_by_hand(void **state)
{
    (void)state;
    const double complex O[4] = {1, I, -1, 0}, eloc[2] = {1, 3};
    const double complex par0[2] = {0.3 + 0.2 * I, -0.1 * I};
    double complex par[2] = {par0[0], par0[1]};
    const double eta = 0.05;
    const double complex step[2] = {-1.0 / (1.0 + 1e-8), 0.5 * I / (0.5 + 1e-8)};
    struct nqs_optimizer *opt = make_opt(NQS_METHOD_ADAM, eta, 2, 2);
    for (int t = 1; t <= 2; t++) {
        assert_int_equal(nqs_optimizer_step(opt, O, 2, eloc, 2, par, NULL), NQS_OK);
        for (int k = 0; k < 2; k++) assert_true(cabs(par[k] - (par0[k] - t * eta * step[k])) < 1e-14);
    }
    nqs_optimizer_free(opt);
}

/* SR through the optimizer on the rank-one example: delta = -(1, -i/2)/1.26,
 * par <- par - 0.1 delta. */
static void test_optimizer_sr_step_by_hand(void **state)
{
    (void)state;
    const double complex O[4] = {1, I, -1, 0}, eloc[2] = {1, 3};
    double complex par[2] = {0.3 + 0.2 * I, -0.1 * I};
    struct nqs_optimizer *opt = make_opt(NQS_METHOD_SR, 0.1, 2, 2);
    struct nqs_optimizer_info info;
    assert_int_equal(nqs_optimizer_step(opt, O, 2, eloc, 2, par, &info), NQS_OK);
    assert_true(cabs(par[0] - (0.3 + 0.2 * I + 0.1 / 1.26)) < 1e-14);
    assert_true(cabs(par[1] - (-0.1 * I - 0.05 * I / 1.26)) < 1e-14);
    assert_true(info.diag_shift == 0.01 && info.step == 0);
    assert_true(fabs(info.delta_norm - sqrt(1.25) / 1.26) < 1e-14);
    assert_true(fabs(creal(info.energy) - 2.0) < 1e-15);
    nqs_optimizer_free(opt);
}

/* Schedules: eta_t = max(0.1 * 0.5^t, 0.02) = 0.1, 0.05, 0.025, 0.02;
 * eps_t = max(0.04 * 0.1^t, 1e-4) = 0.04, 0.004, 4e-4, 1e-4. */
static void test_optimizer_schedules(void **state)
{
    (void)state;
    const double eta[4] = {0.1, 0.05, 0.025, 0.02}, eps[4] = {0.04, 0.004, 4e-4, 1e-4};
    const int P = 6, n = 10;
    double complex O[60], eloc[10], par[6] = {0};
    make_data(P, n, P, 61, O, eloc);
    struct nqs_optimizer_params p;
    nqs_optimizer_params_default(&p);
    p.learning_rate = 0.1;
    p.learning_rate_decay = 0.5;
    p.learning_rate_min = 0.02;
    p.diag_shift = 0.04;
    p.diag_shift_decay = 0.1;
    p.diag_shift_min = 1e-4;
    p.max_step = 0; /* the schedule itself, without the step bound and growth */
    p.learning_rate_max = 0;
    struct nqs_optimizer *opt = nqs_optimizer_alloc(&p, P, n);
    for (int t = 0; t < 4; t++) {
        struct nqs_optimizer_info info;
        assert_int_equal(nqs_optimizer_step(opt, O, P, eloc, n, par, &info), NQS_OK);
        assert_true(fabs(info.learning_rate - eta[t]) < 1e-15);
        assert_true(fabs(info.diag_shift - eps[t]) < 1e-14 * eps[t]);
        assert_int_equal(info.step, t);
    }
    /* guard rail: x10 from the current 1e-4, then set back */
    assert_true(fabs(nqs_optimizer_raise_shift(opt, 10.0) - 1e-3) < 1e-18);
    assert_true(fabs(nqs_optimizer_shift(opt) - 1e-3) < 1e-18);
    assert_true(nqs_optimizer_raise_shift(opt, 0.5) < 0);
    nqs_optimizer_set_shift(opt, 1e-4);
    assert_true(nqs_optimizer_shift(opt) == 1e-4);
    assert_true(nqs_optimizer_learning_rate(opt) == 0.02);
    nqs_optimizer_free(opt);
    opt = make_opt(NQS_METHOD_ADAM, 0.01, P, n);
    assert_true(nqs_optimizer_raise_shift(opt, 10.0) < 0);
    nqs_optimizer_free(opt);
}

/* NaN in eloc: NQS_ENUMERIC for every method, par and state untouched. */
static void test_optimizer_nan_leaves_par_untouched(void **state)
{
    (void)state;
    const int P = 12, n = 20;
    double complex O[240], eloc[20], par[12], par_copy[12];
    make_data(P, n, P, 71, O, eloc);
    for (int k = 0; k < P; k++) par[k] = CMPLX(0.01 * k, -0.02 * k);
    const enum nqs_opt_method methods[3] = {NQS_METHOD_SR, NQS_METHOD_ADAM, NQS_METHOD_SGD};
    for (int m = 0; m < 3; m++) {
        struct nqs_optimizer *opt = make_opt(methods[m], 0.05, P, n);
        /* one good step so the Adam moments are non-zero */
        assert_int_equal(nqs_optimizer_step(opt, O, P, eloc, n, par, NULL), NQS_OK);
        size_t ns = nqs_optimizer_state_size(opt);
        double *s0 = malloc(ns * sizeof *s0), *s1 = malloc(ns * sizeof *s1);
        nqs_optimizer_state_get(opt, s0);
        memcpy(par_copy, par, sizeof par);
        double complex saved = eloc[5];
        eloc[5] = CMPLX(1.0, NAN);
        assert_int_equal(nqs_optimizer_step(opt, O, P, eloc, n, par, NULL), NQS_ENUMERIC);
        eloc[5] = saved;
        assert_memory_equal(par, par_copy, sizeof par);
        nqs_optimizer_state_get(opt, s1);
        assert_memory_equal(s0, s1, ns * sizeof *s0);
        free(s0);
        free(s1);
        nqs_optimizer_free(opt);
    }
}

/* Export after two steps, import into a fresh optimizer, and the third step
 * is bitwise identical (Adam with moments; SR with decaying schedules). */
static void test_optimizer_state_roundtrip_bitwise(void **state)
{
    (void)state;
    const int P = 16, n = 24;
    double complex O[3][24 * 16], eloc[3][24];
    for (int k = 0; k < 3; k++) make_data(P, n, P, 81 + k, O[k], eloc[k]);
    for (int m = 0; m < 2; m++) {
        struct nqs_optimizer_params p;
        nqs_optimizer_params_default(&p);
        p.method = m == 0 ? NQS_METHOD_ADAM : NQS_METHOD_SR;
        p.learning_rate = 0.03;
        p.learning_rate_decay = 0.97;
        p.diag_shift_decay = 0.9;
        struct nqs_optimizer *a = nqs_optimizer_alloc(&p, P, n), *b = nqs_optimizer_alloc(&p, P, n);
        double complex pa[16], pb[16];
        for (int k = 0; k < P; k++) pa[k] = CMPLX(0.02 * k, 0.01);
        assert_int_equal(nqs_optimizer_step(a, O[0], P, eloc[0], n, pa, NULL), NQS_OK);
        assert_int_equal(nqs_optimizer_step(a, O[1], P, eloc[1], n, pa, NULL), NQS_OK);
        size_t ns = nqs_optimizer_state_size(a);
        assert_int_equal(ns, 20 + 4 * P + (m == 0 ? 4 * P : 0) + 4 * p.anneal_window);
        double *st = malloc(ns * sizeof *st);
        nqs_optimizer_state_get(a, st);
        memcpy(pb, pa, sizeof pa);
        assert_int_equal(nqs_optimizer_state_set(b, st, ns), NQS_OK);
        assert_int_equal(nqs_optimizer_step(a, O[2], P, eloc[2], n, pa, NULL), NQS_OK);
        assert_int_equal(nqs_optimizer_step(b, O[2], P, eloc[2], n, pb, NULL), NQS_OK);
        assert_memory_equal(pa, pb, sizeof pa);
        /* a wrong size or another method is refused */
        assert_int_equal(nqs_optimizer_state_set(b, st, ns - 1), NQS_EIO);
        st[1] = m == 0 ? NQS_METHOD_SR : NQS_METHOD_ADAM;
        assert_int_equal(nqs_optimizer_state_set(b, st, ns), NQS_EIO);
        assert_non_null(strstr(nqs_last_error(), "method"));
        free(st);
        nqs_optimizer_free(a);
        nqs_optimizer_free(b);
    }
}

/* The option table's defaults and nqs_optimizer_params_default agree, and
 * cross-key checks name the key. */
static void test_optimizer_options_table(void **state)
{
    (void)state;
    assert_int_equal(nqs_optimizer_n_options, NQS_OPTK_COUNT);
    struct nqs_opt_val v[NQS_OPTK_COUNT];
    memset(v, 0, sizeof v);
    for (int k = 0; k < NQS_OPTK_COUNT; k++) {
        const struct nqs_opt_def *d = &nqs_optimizer_options[k];
        assert_non_null(d->name);
        assert_non_null(d->def);
        snprintf(v[k].str, sizeof v[k].str, "%s", d->def);
        if (d->type == NQS_OPT_CHOICE) {
            v[k].i = 0; /* the defaults are the first choice */
            assert_int_equal(strncmp(d->choices, d->def, strlen(d->def)), 0);
        } else if (d->type == NQS_OPT_BOOL) {
            v[k].i = strcmp(d->def, "true") == 0;
        } else {
            v[k].x = strtod(d->def, NULL);
            v[k].i = strtol(d->def, NULL, 10);
            assert_true(v[k].x >= d->min && v[k].x <= d->max);
        }
    }
    struct nqs_optimizer_params a, b;
    assert_int_equal(nqs_optimizer_params_from_options(v, &a), NQS_OK);
    nqs_optimizer_params_default(&b);
    assert_int_equal(a.method, b.method);
    assert_int_equal(a.iterations, b.iterations);
    assert_true(a.learning_rate == b.learning_rate && a.diag_shift == b.diag_shift);
    assert_true(a.learning_rate_decay == b.learning_rate_decay &&
                a.learning_rate_min == b.learning_rate_min);
    assert_true(a.diag_shift_decay == b.diag_shift_decay && a.diag_shift_min == b.diag_shift_min);
    assert_true(a.diag_scale == b.diag_scale);
    assert_true(a.max_step == b.max_step && a.learning_rate_max == b.learning_rate_max);
    assert_true(a.clip == b.clip && a.clip == 0.0);
    assert_int_equal(a.step_check, b.step_check);
    assert_int_equal(a.sr.solver, b.sr.solver);
    assert_true(a.sr.cg_tol == b.sr.cg_tol && a.sr.cg_maxiter == b.sr.cg_maxiter);
    assert_true(a.sr.mem_budget == b.sr.mem_budget);
    /* solver = minsr with diag_scale, and with a shift that decays to 0 */
    v[NQS_OPTK_SOLVER].i = 3;
    v[NQS_OPTK_DIAG_SCALE].x = 0.1;
    assert_int_equal(nqs_optimizer_params_from_options(v, &a), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "diag_scale"));
    v[NQS_OPTK_DIAG_SCALE].x = 0;
    v[NQS_OPTK_DIAG_SHIFT_DECAY].x = 0.9;
    v[NQS_OPTK_DIAG_SHIFT_MIN].x = 0;
    assert_int_equal(nqs_optimizer_params_from_options(v, &a), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "diag_shift"));
    v[NQS_OPTK_METHOD].i = 1; /* adam ignores SR keys */
    assert_int_equal(nqs_optimizer_params_from_options(v, &a), NQS_OK);
    assert_int_equal(a.method, NQS_METHOD_ADAM);
    /* dense forced over memory_budget = 1 GiB: 16 * 9000^2 + 16 * 9000 * 9001
     * = 2592144000 bytes (S and its exact-sum accumulators) */
    nqs_optimizer_params_default(&a);
    a.sr.solver = NQS_SR_DENSE;
    a.sr.mem_budget = 1024.0 * 1024 * 1024;
    assert_int_equal(nqs_optimizer_check(&a, 9000, 1000), NQS_ENOMEM);
    assert_non_null(strstr(nqs_last_error(), "2592144000 bytes"));
    assert_null(nqs_optimizer_alloc(&a, 9000, 1000));
    a.method = NQS_METHOD_ADAM; /* no S for Adam */
    assert_int_equal(nqs_optimizer_check(&a, 9000, 1000), NQS_OK);
    a.method = NQS_METHOD_SR;
    a.learning_rate = -1;
    assert_int_equal(nqs_optimizer_check(&a, 9000, 1000), NQS_EINVAL);
}

/* ------------------------------------------------------------- step control */

/* The step bound on the rank-one example (S and F by hand, as in
 * test_optimizer_sr_step_by_hand): delta = -(1, -i/2)/1.26 and
 * Obar delta = -(1.25/1.26)/sqrt(2) (1, -1), so delta^H S delta =
 * (1.25/1.26)^2 and the update's Fubini-Study length at eta = 0.1 is
 * 0.1 * 1.25/1.26 = 0.0992. max_step = 0.05 must shorten it to exactly 0.05
 * (eta = 0.05 * 1.26/1.25 along the same delta); max_step = 0.2 must leave
 * eta = 0.1; max_step = 0 is no bound. */
static void test_optimizer_step_bound_by_hand(void **state)
{
    (void)state;
    const double complex O[4] = {1, I, -1, 0}, eloc[2] = {1, 3};
    const double complex par0[2] = {0.3 + 0.2 * I, -0.1 * I};
    const double complex delta[2] = {-1.0 / 1.26, 0.5 * I / 1.26};
    const double len = 1.25 / 1.26; /* sqrt(delta^H S delta) */
    const double bounds[3] = {0.05, 0.2, 0.0}, eta_want[3] = {0.05 / len, 0.1, 0.1};
    for (int c = 0; c < 3; c++) {
        struct nqs_optimizer_params p;
        nqs_optimizer_params_default(&p);
        p.learning_rate = 0.1;
        p.learning_rate_max = 0;
        p.diag_shift = 0.01; /* 1.26 = 1.25 + 0.01 */
        p.max_step = bounds[c];
        struct nqs_optimizer *opt = nqs_optimizer_alloc(&p, 2, 2);
        assert_non_null(opt);
        double complex par[2] = {par0[0], par0[1]};
        struct nqs_optimizer_info info;
        assert_int_equal(nqs_optimizer_step(opt, O, 2, eloc, 2, par, &info), NQS_OK);
        for (int k = 0; k < 2; k++)
            assert_true(cabs(par[k] - (par0[k] - eta_want[c] * delta[k])) < 1e-14);
        assert_true(fabs(info.learning_rate - eta_want[c]) < 1e-14);
        assert_int_equal(info.bounded, c == 0);
        if (c < 2) {
            assert_true(fabs(info.metric - len * len) < 1e-14);
            assert_true(fabs(info.fs_step - (c == 0 ? 0.05 : 0.1 * len)) < 1e-14);
        } else {
            assert_true(isnan(info.metric)); /* not computed without a bound */
        }
        nqs_optimizer_free(opt);
    }
}

/* nqs_sr_metric = v^H S v with S from its definition (explicit loops), for
 * random O, v, and for weighted rows. */
static void test_sr_metric_is_quadratic_form(void **state)
{
    (void)state;
    enum { P = 7, N = 13 };
    double complex O[N * P], eloc[N], F[P], delta[P], v[P], mean[P];
    make_data(P, N, P, 91, O, eloc);
    for (int p = 0; p < P; p++) v[p] = CMPLX(0.3 * p - 1, 0.7313 - 0.1 * p * p);
    struct nqs_sr_options so;
    nqs_sr_options_default(&so);
    so.solver = NQS_SR_DENSE;
    struct nqs_sr *sr = nqs_sr_alloc(P, N, &so);
    assert_non_null(sr);
    assert_int_equal(nqs_sr_metric(sr, O, P, v, &(double){0}), NQS_EINTERNAL); /* no solve yet */
    assert_int_equal(nqs_sr_solve(sr, O, P, eloc, N, 0.01, 0.0, F, delta, NULL), NQS_OK);
    double q;
    assert_int_equal(nqs_sr_metric(sr, O, P, v, &q), NQS_OK);
    for (int p = 0; p < P; p++) {
        mean[p] = 0;
        for (int s = 0; s < N; s++) mean[p] += O[s * P + p] / N;
    }
    double want = 0;
    for (int s = 0; s < N; s++) {
        double complex w = 0;
        for (int p = 0; p < P; p++) w += (O[s * P + p] - mean[p]) * v[p];
        want += creal(w * conj(w)) / N;
    }
    if (!(fabs(q - want) <= 1e-12 * want)) fail_msg("metric %.17g, by hand %.17g", q, want);
    nqs_sr_free(sr);
}

/* The step review through the unit-level API: a forced bad update (samples
 * after it whose energy rose by 10 error bars) is rejected and redone 4 times
 * shorter from the parameters before it, and the next update uses half the
 * learning rate; an acceptance collapse is rejected the same way; the 4th
 * rejection takes the update back, and a complaint that persists there is
 * kept (a fluctuation), while frozen chains stop with NQS_ENUMERIC "cannot
 * recover" and the parameters before the update. */
static void test_optimizer_review_rejects_and_redoes(void **state)
{
    (void)state;
    const int P = 6, n = 10;
    double complex O[60], eloc[10], par[6], par0[6], par1[6];
    make_data(P, n, P, 61, O, eloc);
    struct nqs_optimizer_params p;
    nqs_optimizer_params_default(&p);
    p.learning_rate = 0.02;
    p.max_step = 0;
    p.learning_rate_max = 0;
    struct nqs_optimizer *opt = nqs_optimizer_alloc(&p, P, n);
    for (int k = 0; k < P; k++) par[k] = par0[k] = CMPLX(0.01 * k, -0.02);
    const struct nqs_optimizer_sample good = {-10.0, 0.1, 0.5, 1.01, 1.0};
    int rej = -1;
    char why[256];
    assert_int_equal(nqs_optimizer_review(opt, &good, par, &rej, why, sizeof why), NQS_OK);
    assert_int_equal(rej, 0);
    struct nqs_optimizer_info info;
    assert_int_equal(nqs_optimizer_step(opt, O, P, eloc, n, par, &info), NQS_OK);
    memcpy(par1, par, sizeof par);
    /* a rise of 5 sigma (sqrt(2) * 0.1 * 5 = 0.707) is tolerated, 10 sigma is not */
    struct nqs_optimizer_sample bad = {-10.0 + 0.7, 0.1, 0.5, 1.01, 1.0};
    assert_int_equal(nqs_optimizer_review(opt, &bad, par, &rej, why, sizeof why), NQS_OK);
    assert_int_equal(rej, 0);
    assert_memory_equal(par, par1, sizeof par);
    /* the tolerated samples became the reference; a new update from them */
    memcpy(par0, par, sizeof par);
    assert_int_equal(nqs_optimizer_step(opt, O, P, eloc, n, par, &info), NQS_OK);
    memcpy(par1, par, sizeof par);
    bad.energy = -9.3 + 10 * sqrt(2) * 0.1;
    assert_int_equal(nqs_optimizer_review(opt, &bad, par, &rej, why, sizeof why), NQS_OK);
    assert_int_equal(rej, 1);
    assert_non_null(strstr(why, "energy rose"));
    for (int k = 0; k < P; k++)
        assert_true(cabs(par[k] - (par0[k] - 0.25 * (par0[k] - par1[k]))) < 1e-15);
    assert_int_equal(nqs_optimizer_rejected(opt), 1);
    /* acceptance 0.5 -> 0.1: rejected again, now 1/16 of the update */
    bad = (struct nqs_optimizer_sample){-9.3, 0.1, 0.1, 1.01, 1.0};
    assert_int_equal(nqs_optimizer_review(opt, &bad, par, &rej, why, sizeof why), NQS_OK);
    assert_int_equal(rej, 1);
    assert_non_null(strstr(why, "acceptance"));
    for (int k = 0; k < P; k++)
        assert_true(cabs(par[k] - (par0[k] - 0.0625 * (par0[k] - par1[k]))) < 1e-15);
    /* 1/64, then the 4th rejection takes the update back; the complaint about
     * the samples of the parameters before it is kept (a fluctuation) */
    assert_int_equal(nqs_optimizer_review(opt, &bad, par, &rej, why, sizeof why), NQS_OK);
    assert_int_equal(rej, 1);
    for (int k = 0; k < P; k++)
        assert_true(cabs(par[k] - (par0[k] - pow(0.25, 3) * (par0[k] - par1[k]))) < 1e-15);
    assert_int_equal(nqs_optimizer_review(opt, &bad, par, &rej, why, sizeof why), NQS_OK);
    assert_int_equal(rej, 1);
    assert_non_null(strstr(why, "taken back"));
    assert_memory_equal(par, par0, sizeof par);
    assert_int_equal(nqs_optimizer_review(opt, &bad, par, &rej, why, sizeof why), NQS_OK);
    assert_int_equal(rej, 0);
    assert_memory_equal(par, par0, sizeof par);
    assert_int_equal(nqs_optimizer_rejected(opt), 4);
    /* not the update's fault: the damping of these 4 rejections is undone */
    memcpy(par0, par, sizeof par);
    assert_int_equal(nqs_optimizer_step(opt, O, P, eloc, n, par, &info), NQS_OK);
    assert_true(fabs(info.learning_rate - 0.02) < 1e-17);
    /* frozen chains after it, 4 rejections, still frozen: cannot recover */
    const struct nqs_optimizer_sample frozen = {-9.3, 0.1, 1e-4, 1.01, 1.0};
    for (int r = 0; r < 4; r++) {
        assert_int_equal(nqs_optimizer_review(opt, &frozen, par, &rej, why, sizeof why), NQS_OK);
        assert_int_equal(rej, 1);
    }
    assert_int_equal(nqs_optimizer_review(opt, &frozen, par, &rej, why, sizeof why), NQS_ENUMERIC);
    assert_non_null(strstr(nqs_last_error(), "cannot recover"));
    assert_memory_equal(par, par0, sizeof par);
    /* step_check = false: nothing is ever rejected */
    nqs_optimizer_free(opt);
    p.step_check = 0;
    opt = nqs_optimizer_alloc(&p, P, n);
    assert_int_equal(nqs_optimizer_review(opt, &good, par, &rej, why, sizeof why), NQS_OK);
    assert_int_equal(nqs_optimizer_step(opt, O, P, eloc, n, par, &info), NQS_OK);
    assert_int_equal(nqs_optimizer_review(opt, &frozen, par, &rej, why, sizeof why), NQS_OK);
    assert_int_equal(rej, 0);
    nqs_optimizer_free(opt);
}

/* Review of one update against a reference; returns whether it was rejected. */
static int review_once(const struct nqs_optimizer_sample *ref, const struct nqs_optimizer_sample *now,
                       char *why, size_t len)
{
    const int P = 6, n = 10;
    double complex O[60], eloc[10], par[6] = {0};
    make_data(P, n, P, 61, O, eloc);
    struct nqs_optimizer_params p;
    nqs_optimizer_params_default(&p);
    struct nqs_optimizer *opt = nqs_optimizer_alloc(&p, P, n);
    int rej = -1;
    assert_int_equal(nqs_optimizer_review(opt, ref, par, &rej, why, len), NQS_OK);
    assert_int_equal(nqs_optimizer_step(opt, O, P, eloc, n, par, NULL), NQS_OK);
    assert_int_equal(nqs_optimizer_review(opt, now, par, &rej, why, len), NQS_OK);
    nqs_optimizer_free(opt);
    return rej;
}

/* Variance explosion (optimizer.h "Step review"): the J1-J2 4x4 samples of
 * the robustness benchmark, E = -33.2 +- 0.1 with variance 11.5, then
 * -655 +- 832 with variance 9e8 (an energy fall within its error bar, an
 * acceptance of 0.08 against 0.22, not below 1/4), are rejected for the
 * variance alone; the threshold is 100 times the reference's variance
 * (1150: 1149 passes, 1151 does not), with a floor of 1e-6 E^2 for a nearly
 * exact reference (variance 0 at E = -10: 0.009 passes, 0.011 does not); a
 * NaN variance is rejected. */
static void test_optimizer_review_variance_explosion(void **state)
{
    (void)state;
    char why[256];
    const struct nqs_optimizer_sample ref = {-33.2, 0.1, 0.22, 1.0, 11.5};
    struct nqs_optimizer_sample now = {-655.5, 832.4, 0.08, 1.0, 9.0e8};
    assert_int_equal(review_once(&ref, &now, why, sizeof why), 1);
    assert_non_null(strstr(why, "variance of the local energy rose"));
    now = (struct nqs_optimizer_sample){-33.1, 0.3, 0.2, 1.0, 1149};
    assert_int_equal(review_once(&ref, &now, why, sizeof why), 0);
    now.variance = 1151;
    assert_int_equal(review_once(&ref, &now, why, sizeof why), 1);
    now.variance = NAN;
    assert_int_equal(review_once(&ref, &now, why, sizeof why), 1);
    const struct nqs_optimizer_sample exact = {-10.0, 0.0, 0.5, 1.0, 0.0};
    now = (struct nqs_optimizer_sample){-10.0, 0.0, 0.5, 1.0, 0.009};
    assert_int_equal(review_once(&exact, &now, why, sizeof why), 0);
    now.variance = 0.011;
    assert_int_equal(review_once(&exact, &now, why, sizeof why), 1);
}

/* Chains stuck in separate modes (optimizer.h): 49 accepted reviews in a
 * row with split-R-hat 2 are tolerated, one with 1.1 resets the count, and
 * the 50th in a row ends the run with NQS_ENUMERIC "cannot recover"; the
 * count travels with the exported state (49, exported and imported, then one
 * more: the end) and a damaged count is refused. */
static void test_optimizer_unmixed_chains_give_up(void **state)
{
    (void)state;
    const int P = 6, n = 10;
    double complex O[60], eloc[10], par[6] = {0};
    make_data(P, n, P, 61, O, eloc);
    struct nqs_optimizer_params p;
    nqs_optimizer_params_default(&p);
    struct nqs_optimizer *a = nqs_optimizer_alloc(&p, P, n), *b = nqs_optimizer_alloc(&p, P, n);
    const struct nqs_optimizer_sample bad = {-10.0, 0.1, 0.5, 2.0, 1.0};
    const struct nqs_optimizer_sample good = {-10.0, 0.1, 0.5, 1.1, 1.0};
    int rej;
    for (int t = 0; t < 49; t++)
        assert_int_equal(nqs_optimizer_review(a, &bad, par, &rej, NULL, 0), NQS_OK);
    assert_int_equal(nqs_optimizer_review(a, &good, par, &rej, NULL, 0), NQS_OK);
    for (int t = 0; t < 49; t++)
        assert_int_equal(nqs_optimizer_review(a, &bad, par, &rej, NULL, 0), NQS_OK);
    size_t ns = nqs_optimizer_state_size(a);
    double *st = malloc(ns * sizeof *st);
    nqs_optimizer_state_get(a, st);
    assert_int_equal(nqs_optimizer_state_set(b, st, ns), NQS_OK);
    assert_int_equal(nqs_optimizer_review(b, &bad, par, &rej, NULL, 0), NQS_ENUMERIC);
    assert_non_null(strstr(nqs_last_error(), "cannot recover: split-R-hat has stayed above 1.5 "
                                             "for 50 iterations in a row"));
    assert_int_equal(nqs_optimizer_review(a, &bad, par, &rej, NULL, 0), NQS_ENUMERIC);
    st[19] = 51;
    assert_int_equal(nqs_optimizer_state_set(b, st, ns), NQS_EIO);
    /* step_check = false: no review, no unmixed count and no stop */
    nqs_optimizer_free(b);
    p.step_check = 0;
    b = nqs_optimizer_alloc(&p, P, n);
    for (int t = 0; t < 2 * NQS_OPT_UNMIXED_MAX; t++)
        assert_int_equal(nqs_optimizer_review(b, &bad, par, &rej, NULL, 0), NQS_OK);
    free(st);
    nqs_optimizer_free(a);
    nqs_optimizer_free(b);
}

/* Growth: with learning_rate_max = 0.04, eta = 0.02 grows by 10% per update
 * the bound did not shorten: 0.02, 0.022, 0.0242, ... capped at 0.04; a
 * learning_rate of 0.1 starts at the ceiling 0.04. */
static void test_optimizer_learning_rate_growth(void **state)
{
    (void)state;
    const int P = 6, n = 10;
    double complex O[60], eloc[10], par[6] = {0};
    make_data(P, n, P, 61, O, eloc);
    struct nqs_optimizer_params p;
    nqs_optimizer_params_default(&p);
    p.learning_rate = 0.02;
    p.learning_rate_max = 0.04;
    p.max_step = 10; /* on (growth needs it), never reached here */
    struct nqs_optimizer *opt = nqs_optimizer_alloc(&p, P, n);
    double want = 0.02;
    for (int t = 0; t < 12; t++) {
        struct nqs_optimizer_info info;
        assert_int_equal(nqs_optimizer_step(opt, O, P, eloc, n, par, &info), NQS_OK);
        assert_true(fabs(info.learning_rate - want) < 1e-15);
        want = fmin(want * 1.1, 0.04);
    }
    assert_true(nqs_optimizer_learning_rate(opt) == 0.04);
    nqs_optimizer_free(opt);
    /* without the bound, or with Adam, eta does not grow */
    p.max_step = 0;
    opt = nqs_optimizer_alloc(&p, P, n);
    assert_int_equal(nqs_optimizer_step(opt, O, P, eloc, n, par, NULL), NQS_OK);
    assert_true(nqs_optimizer_learning_rate(opt) == 0.02);
    nqs_optimizer_free(opt);
    p.max_step = 10;
    p.method = NQS_METHOD_ADAM;
    opt = nqs_optimizer_alloc(&p, P, n);
    assert_int_equal(nqs_optimizer_step(opt, O, P, eloc, n, par, NULL), NQS_OK);
    assert_true(nqs_optimizer_learning_rate(opt) == 0.02);
    nqs_optimizer_free(opt);
    p.method = NQS_METHOD_SR;
    /* a learning_rate above the ceiling starts at it */
    p.learning_rate = 0.1;
    opt = nqs_optimizer_alloc(&p, P, n);
    assert_true(nqs_optimizer_learning_rate(opt) == 0.04);
    nqs_optimizer_free(opt);
}

/* Feed reviews with energies E_t = -a t, error bar s, and return the review
 * count at which the annealing first halved eta (0: not within n). */
static int anneal_first_halving(struct nqs_optimizer *opt, double a, double s, int n)
{
    double complex par[6] = {0};
    int rej;
    double scale = nqs_optimizer_anneal_scale(opt);
    for (int t = 0; t < n; t++) {
        struct nqs_optimizer_sample now = {-a * t, s, 0.5, 1.0, 1.0};
        assert_int_equal(nqs_optimizer_review(opt, &now, par, &rej, NULL, 0), NQS_OK);
        assert_int_equal(rej, 0);
        if (nqs_optimizer_anneal_scale(opt) != scale) return t + 1;
    }
    return 0;
}

/* Local-energy clipping by hand (optimizer.h): real parts {1, 2, 3, 4, 100}
 * have median 3 and mean absolute deviation (2 + 1 + 0 + 1 + 97)/5 = 20.2, so
 * c = 1 clamps 100 to 23.2 and keeps the rest; imaginary parts {0, 0, 0, 0.5,
 * -4} have median 0 and MAD 0.9: -4 goes to -0.9. Each rank clamps its own
 * part with the bounds of all samples (here: the last two of the five).
 * c = 5 clamps nothing on a sample without outliers; c = 0 is off. Then
 * through the update: the clipped force equals the force of the clamped
 * values, and differs from the unclipped one. */
static void test_optimizer_clip_by_hand(void **state)
{
    (void)state;
    const double complex all[5] = {1, 2, 3, CMPLX(4, 0.5), CMPLX(100, -4)};
    double complex out[5];
    double scratch[5];
    struct nqs_optimizer_params p;
    nqs_optimizer_params_default(&p);
    p.clip = 1.0;
    struct nqs_optimizer *opt = nqs_optimizer_alloc(&p, 2, 5);
    assert_int_equal(nqs_optimizer_clip(opt, all, 5, all, 5, out, scratch), 1);
    for (int k = 0; k < 3; k++) assert_true(out[k] == all[k]);
    assert_true(out[3] == all[3]);
    assert_true(fabs(creal(out[4]) - 23.2) < 1e-12 && fabs(cimag(out[4]) + 0.9) < 1e-12);
    /* a rank holding the last two samples, in place */
    double complex mine[2] = {all[3], all[4]};
    assert_int_equal(nqs_optimizer_clip(opt, all, 5, mine, 2, mine, scratch), 1);
    assert_true(mine[0] == all[3] && mine[1] == out[4]);
    nqs_optimizer_free(opt);
    p.clip = 5.0;
    opt = nqs_optimizer_alloc(&p, 2, 5);
    const double complex calm[5] = {1, 2, 3, 4, 5};
    assert_int_equal(nqs_optimizer_clip(opt, calm, 5, calm, 5, out, scratch), 0);
    assert_memory_equal(out, calm, sizeof calm);
    nqs_optimizer_free(opt);
    p.clip = 0.0;
    opt = nqs_optimizer_alloc(&p, 2, 5);
    assert_int_equal(nqs_optimizer_clip(opt, all, 5, all, 5, out, scratch), 0);
    assert_memory_equal(out, all, sizeof all);
    nqs_optimizer_free(opt);

    /* the update sees the clamped values: its gradient is that of `out` */
    const int P = 3, n = 40;
    double complex O[120], eloc[40], clipped[40], par1[3] = {0}, par2[3] = {0}, par3[3] = {0};
    double scr[40];
    make_data(P, n, P, 17, O, eloc);
    eloc[7] += 1000.0; /* one sample next to a node */
    nqs_optimizer_params_default(&p);
    p.clip = 5.0;
    p.step_check = 0;
    p.max_step = 0;
    p.learning_rate_max = 0;
    struct nqs_optimizer *a = nqs_optimizer_alloc(&p, P, n), *b = nqs_optimizer_alloc(&p, P, n),
                         *c = nqs_optimizer_alloc(&p, P, n);
    assert_int_equal(nqs_optimizer_clip(a, eloc, n, eloc, n, clipped, scr), 1);
    struct nqs_optimizer_info ia, ib, ic;
    assert_int_equal(nqs_optimizer_step(a, O, P, clipped, n, par1, &ia), NQS_OK);
    assert_int_equal(nqs_optimizer_step(b, O, P, eloc, n, par2, &ib), NQS_OK);
    assert_true(ib.grad_norm > 5 * ia.grad_norm); /* measured 69.7 against 7.66 */
    eloc[7] = clipped[7];
    assert_int_equal(nqs_optimizer_step(c, O, P, eloc, n, par3, &ic), NQS_OK);
    assert_memory_equal(par1, par3, sizeof par1);
    nqs_optimizer_free(a);
    nqs_optimizer_free(b);
    nqs_optimizer_free(c);
}

/* Plateau annealing by hand (optimizer.h): with W = 5 and error bars s = 0.1
 * the windows' combined error is sqrt(2W) s / W = 0.0632, and a slope a
 * separates their means by a W: a = 0.013 (0.065) keeps eta, a = 0.012
 * (0.060) halves it at the 2W-th review; a flat energy halves it every 2W
 * reviews down to the floor; the ring and the factor survive an export and
 * import bitwise; the previous state format is accepted with the annealing
 * fresh; damaged annealing fields are refused. */
static void test_optimizer_plateau_anneal(void **state)
{
    (void)state;
    const int P = 6, n = 10;
    double complex O[60], eloc[10], par[6] = {0};
    make_data(P, n, P, 61, O, eloc);
    struct nqs_optimizer_params p;
    nqs_optimizer_params_default(&p);
    p.step_check = 0;
    p.max_step = 0;
    p.learning_rate = 0.02;
    p.learning_rate_max = 0;
    p.anneal_window = 5;
    p.anneal_floor = 0.25;
    struct nqs_optimizer *opt = nqs_optimizer_alloc(&p, P, n);
    assert_int_equal(anneal_first_halving(opt, 0.013, 0.1, 40), 0);
    nqs_optimizer_free(opt);
    opt = nqs_optimizer_alloc(&p, P, n);
    assert_int_equal(anneal_first_halving(opt, 0.012, 0.1, 40), 10);
    assert_true(nqs_optimizer_anneal_scale(opt) == 0.5);
    struct nqs_optimizer_info info;
    assert_int_equal(nqs_optimizer_step(opt, O, P, eloc, n, par, &info), NQS_OK);
    assert_true(info.learning_rate == 0.01);
    /* flat: the next halving 2W reviews later, then the floor holds */
    assert_int_equal(anneal_first_halving(opt, 0.0, 0.1, 40), 10);
    assert_true(nqs_optimizer_anneal_scale(opt) == 0.25);
    assert_int_equal(anneal_first_halving(opt, 0.0, 0.1, 40), 0);
    nqs_optimizer_free(opt);

    /* export after 7 flat reviews, import, and both halve at the same review */
    struct nqs_optimizer *a = nqs_optimizer_alloc(&p, P, n), *b = nqs_optimizer_alloc(&p, P, n);
    assert_int_equal(anneal_first_halving(a, 0.0, 0.1, 7), 0);
    size_t ns = nqs_optimizer_state_size(a);
    double *st = malloc(ns * sizeof *st), *st2 = malloc(ns * sizeof *st2);
    nqs_optimizer_state_get(a, st);
    assert_int_equal(nqs_optimizer_state_set(b, st, ns), NQS_OK);
    assert_int_equal(anneal_first_halving(a, 0.0, 0.1, 10), 3);
    assert_int_equal(anneal_first_halving(b, 0.0, 0.1, 10), 3);
    nqs_optimizer_state_get(a, st);
    nqs_optimizer_state_get(b, st2);
    assert_memory_equal(st, st2, ns * sizeof *st);
    /* damaged annealing fields: window not an integer, factor above 1,
     * negative error bar in the ring */
    const double keep[3] = {st[15], st[16], st[ns - 1]};
    st[15] = 5.5;
    assert_int_equal(nqs_optimizer_state_set(b, st, ns), NQS_EIO);
    st[15] = keep[0];
    st[16] = 2.0;
    assert_int_equal(nqs_optimizer_state_set(b, st, ns), NQS_EIO);
    st[16] = keep[1];
    st[ns - 1] = -0.1;
    assert_int_equal(nqs_optimizer_state_set(b, st, ns), NQS_EIO);
    st[ns - 1] = keep[2];
    /* the previous format (tag 20261204, 15 header values, no ring) */
    size_t n2 = 15 + 4 * (size_t)P;
    double *v2 = malloc(n2 * sizeof *v2);
    memcpy(v2, st, 15 * sizeof *v2);
    memcpy(v2 + 15, st + 20, 4 * (size_t)P * sizeof *v2);
    v2[0] = 20261204.0;
    assert_int_equal(nqs_optimizer_state_set(b, v2, n2), NQS_OK);
    assert_true(nqs_optimizer_anneal_scale(b) == 1.0);
    assert_int_equal(anneal_first_halving(b, 0.0, 0.1, 20), 10);
    free(v2);
    free(st);
    free(st2);
    nqs_optimizer_free(a);
    nqs_optimizer_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sr_solvers_agree_few_params),
        cmocka_unit_test(test_sr_solvers_agree_many_params),
        cmocka_unit_test(test_sr_dense_cg_match_reference_with_diag_scale),
        cmocka_unit_test(test_sr_rank_one_by_hand),
        cmocka_unit_test(test_sr_force_is_energy_gradient),
        cmocka_unit_test(test_sr_centring_removes_constant_shift),
        cmocka_unit_test(test_sr_cg_not_converged_is_status),
        cmocka_unit_test(test_sr_cg_returns_best_iterate),
        cmocka_unit_test(test_sr_weights_equal_replicated_rows),
        cmocka_unit_test(test_sr_mixed_cg_reaches_double_accuracy),
        cmocka_unit_test(test_sr_mixed_cg_chains_and_threads),
        cmocka_unit_test(test_sr_cg_option_errors),
        cmocka_unit_test(test_sr_error_paths),
        cmocka_unit_test(test_sr_auto_choice),
        cmocka_unit_test(test_optimizer_sgd_first_step_by_hand),
        cmocka_unit_test(test_optimizer_adam_two_steps_by_hand),
        cmocka_unit_test(test_optimizer_sr_step_by_hand),
        cmocka_unit_test(test_optimizer_schedules),
        cmocka_unit_test(test_optimizer_nan_leaves_par_untouched),
        cmocka_unit_test(test_optimizer_state_roundtrip_bitwise),
        cmocka_unit_test(test_optimizer_options_table),
        cmocka_unit_test(test_optimizer_step_bound_by_hand),
        cmocka_unit_test(test_sr_metric_is_quadratic_form),
        cmocka_unit_test(test_optimizer_review_rejects_and_redoes),
        cmocka_unit_test(test_optimizer_learning_rate_growth),
        cmocka_unit_test(test_optimizer_plateau_anneal),
        cmocka_unit_test(test_optimizer_clip_by_hand),
        cmocka_unit_test(test_optimizer_review_variance_explosion),
        cmocka_unit_test(test_optimizer_unmixed_chains_give_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
