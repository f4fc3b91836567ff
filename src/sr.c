/*
 * sr.c - stochastic reconfiguration: centring of the log-derivatives, the
 * energy gradient F = Obar^H ebar and the solve (S + eps I + rho diag S) delta = F
 * by a dense Cholesky factorisation, matrix-free preconditioned conjugate
 * gradient, or in sample space (minSR, Chen & Heyl, Nat. Phys. 20, 1476 (2024),
 * delta = Obar^H (Obar Obar^H + eps)^{-1} ebar, equal to the eps-shifted SR
 * update by the push-through identity). Formulas: PHYSICS.md "Stochastic
 * reconfiguration"; interface and conventions: sr.h.
 *
 * Storage: Obar is n x P row-major (ld = P), which LAPACK/BLAS in column-major
 * order see as the P x n matrix A = Obar^T. Then A A^H = conj(S) and
 * A^H A = conj(Obar Obar^H); both are Hermitian, so we factorise the conjugated
 * matrix in column-major order (LAPACKE_*_work, which neither copies nor
 * allocates, unlike the row-major LAPACKE wrappers) and solve
 * conj(M) y = conj(b), i.e. M conj(y) = b.
 */
#include "sr.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

struct nqs_sr {
    int n_par;
    int n_max;                /* local samples the buffers hold */
    struct nqs_sr_options opt;
    int can_dense, can_minsr; /* buffers present for these solvers */
    double complex *obar;     /* n_max x n_par, centred and scaled by 1/sqrt(N_s) */
    double complex *ebar;     /* n_max */
    double complex *mean;     /* n_par: <O_p> */
    double *diag;             /* n_par: diag(S) */
    double *minv;             /* n_par: Jacobi preconditioner, inverse */
    double complex *r, *z, *p, *q, *xbest; /* n_par each: cg vectors */
    double complex *xacc;     /* n_par: cg, accepted iterate of the refinement */
    double complex *w;        /* n_max: Obar v, and the minsr right-hand side */
    double complex *smat;     /* P x P lower, column-major (dense) */
    double complex *tmat;     /* n_max x n_max lower, column-major (minsr) */
    /* mixed-precision cg: Obar in single precision, and S v's work vectors */
    float complex *obar_s;    /* n_max x n_par: (O - c) / sqrt(N_s), or NULL (cg in double) */
    double complex *shift;    /* n_par: c, the rank's first row of O (mixed cg) */
    double complex *dshift;   /* n_par: <O> - c, so that Obar = obar_s - dshift / sqrt(N_s) */
    float complex *vs, *outs; /* n_par each */
    float complex *ws;        /* n_max */
};

/* ------------------------------------------------------------------ reductions
 * Every sum over samples passes through exactly one of these. In this serial
 * build they are the identity; the MPI layer replaces the bodies by
 * MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_C_DOUBLE_COMPLEX / MPI_DOUBLE /
 * MPI_LONG, MPI_SUM, comm). Callers pass rank-local partial sums and get the
 * global sum on every rank. For the reproducibility promise of DESIGN.md
 * ("same numbers on any number of ranks") the MPI version must reduce in rank
 * order (e.g. gather + ordered sum) rather than rely on MPI_Allreduce's order. */

/* Sum of complex partial sums over ranks (means, S, F, Obar^H w). */
static void sr_allreduce(struct nqs_sr *sr, double complex *buf, size_t count)
{
    (void)sr;
    (void)buf;
    (void)count;
}

/* Sum of real partial sums over ranks (diag(S) for the preconditioner). */
static void sr_allreduce_real(struct nqs_sr *sr, double *buf, size_t count)
{
    (void)sr;
    (void)buf;
    (void)count;
}

/* Total number of samples over ranks. */
static long sr_allreduce_count(struct nqs_sr *sr, long n_local)
{
    (void)sr;
    return n_local;
}

/* minSR works on all N_s samples at once: Obar Obar^H is N_s x N_s. With MPI
 * the rows of Obar and ebar live on different ranks; this function must then
 * gather them (MPI_Allgatherv of the local row blocks, in rank order, into a
 * buffer of N_s rows sized from the global count at allocation), after which
 * every rank factorises the same matrix, and delta = Obar^H y is computed from
 * the gathered rows (or from local rows and y's local block + sr_allreduce).
 * Serial build: the local rows are all rows; returns the row count. */
static int sr_gather_samples(struct nqs_sr *sr, int n_local)
{
    (void)sr;
    return n_local;
}

/* ------------------------------------------------------------------ helpers */

void nqs_sr_options_default(struct nqs_sr_options *opt)
{
    opt->solver = NQS_SR_AUTO;
    opt->cg_tol = 1e-4;
    opt->cg_maxiter = 1000;
    opt->mem_budget = 4.0 * 1024.0 * 1024.0 * 1024.0;
    opt->cg_precision = NQS_SR_PREC_AUTO;
    opt->cg_precond = NQS_SR_PRECOND_NONE;
}

const char *nqs_sr_solver_name(enum nqs_sr_solver solver)
{
    switch (solver) {
    case NQS_SR_AUTO: return "auto";
    case NQS_SR_DENSE: return "dense";
    case NQS_SR_CG: return "cg";
    case NQS_SR_MINSR: return "minsr";
    case NQS_SR_NONE: return "none";
    }
    return "unknown";
}

#define SR_GIB (1024.0 * 1024.0 * 1024.0)

/* malloc + memset: the pages are touched here, so the first solve does not
 * pay the page faults (0.5-1 s for a 0.6 GiB Obar) and a budget overrun shows
 * at allocation rather than in the middle of a run. */
static void *sr_alloc_bytes(double bytes)
{
    if (bytes > (double)SIZE_MAX / 2) return NULL;
    size_t n = (size_t)bytes;
    if (n == 0) n = 1;
    void *ptr = malloc(n);
    if (ptr) memset(ptr, 0, n);
    return ptr;
}

int nqs_sr_check(int n_par, int n_samples, const struct nqs_sr_options *opt)
{
    if (n_par <= 0 || n_samples <= 0)
        NQS_ERROR(NQS_EINVAL, "SR needs a positive parameter and sample count, got n_par = %d, "
                  "n_samples = %d", n_par, n_samples);
    if ((int)opt->solver < NQS_SR_AUTO || (int)opt->solver > NQS_SR_NONE)
        NQS_ERROR(NQS_EINVAL, "[optimizer] solver: unknown solver %d (accepted: auto|dense|cg|"
                  "minsr)", (int)opt->solver);
    if ((int)opt->cg_precision < NQS_SR_PREC_AUTO || (int)opt->cg_precision > NQS_SR_PREC_MIXED)
        NQS_ERROR(NQS_EINVAL, "[optimizer] cg_precision: unknown value %d (accepted: "
                  "auto|double|mixed)", (int)opt->cg_precision);
    if ((int)opt->cg_precond < NQS_SR_PRECOND_NONE || (int)opt->cg_precond > NQS_SR_PRECOND_JACOBI)
        NQS_ERROR(NQS_EINVAL, "[optimizer] cg_preconditioner: unknown value %d (accepted: "
                  "none|jacobi)", (int)opt->cg_precond);
    if (!(opt->cg_tol > 0) || opt->cg_maxiter < 1 || !(opt->mem_budget >= 0))
        NQS_ERROR(NQS_EINVAL, "[optimizer] cg_tol must be > 0, cg_maxiter >= 1 and memory_budget "
                  ">= 0 (got %g, %d, %g bytes)", opt->cg_tol, opt->cg_maxiter, opt->mem_budget);
    double bytes_s = 16.0 * n_par * n_par, bytes_t = 16.0 * n_samples * n_samples;
    if (opt->solver == NQS_SR_DENSE && bytes_s > opt->mem_budget)
        NQS_ERROR(NQS_ENOMEM, "[optimizer] solver = dense needs %.0f bytes (%.3f GiB) for the "
                  "%d x %d matrix S, over memory_budget = %.3f GiB; raise memory_budget or use "
                  "solver = cg", bytes_s, bytes_s / SR_GIB, n_par, n_par,
                  opt->mem_budget / SR_GIB);
    if (opt->solver == NQS_SR_MINSR && bytes_t > opt->mem_budget)
        NQS_ERROR(NQS_ENOMEM, "[optimizer] solver = minsr needs %.0f bytes (%.3f GiB) for the "
                  "%d x %d sample-space matrix, over memory_budget = %.3f GiB; raise "
                  "memory_budget or use solver = cg", bytes_t, bytes_t / SR_GIB, n_samples,
                  n_samples, opt->mem_budget / SR_GIB);
    return NQS_OK;
}

struct nqs_sr *nqs_sr_alloc(int n_par, int n_samples, const struct nqs_sr_options *opt)
{
    struct nqs_sr *sr = NULL;
    if (nqs_sr_check(n_par, n_samples, opt) != NQS_OK) return NULL;
    double P = n_par, N = n_samples;
    double bytes_s = 16.0 * P * P, bytes_t = 16.0 * N * N;

    sr = calloc(1, sizeof *sr);
    if (!sr) goto nomem;
    sr->n_par = n_par;
    sr->n_max = n_samples;
    sr->opt = *opt;
    switch (opt->solver) {
    case NQS_SR_DENSE: sr->can_dense = 1; break;
    case NQS_SR_MINSR: sr->can_minsr = 1; break;
    case NQS_SR_AUTO:
        /* minsr first (P > N_s, rho = 0); dense as the rho > 0 alternative when
         * both matrices fit together, or as the first choice for P <= N_s. */
        sr->can_minsr = n_par > n_samples && bytes_t <= opt->mem_budget;
        sr->can_dense = n_par <= NQS_SR_DENSE_MAX_PAR &&
                        bytes_s + (sr->can_minsr ? bytes_t : 0.0) <= opt->mem_budget;
        break;
    case NQS_SR_CG:
    case NQS_SR_NONE: break;
    }

    /* Single-precision copy for cg when cg can be chosen (forced, or auto
     * without a dense matrix: with a rho > 0 or eps = 0 shift auto falls back
     * to cg when minsr is not applicable). */
    int cg_possible = opt->solver == NQS_SR_CG || (opt->solver == NQS_SR_AUTO && !sr->can_dense);
    int mixed = cg_possible && (opt->cg_precision == NQS_SR_PREC_MIXED ||
                                (opt->cg_precision == NQS_SR_PREC_AUTO &&
                                 16.0 * N * P >= NQS_SR_MIXED_MIN_BYTES));
    sr->ebar = malloc(N * sizeof *sr->ebar);
    if (!sr->ebar) goto nomem;
    if (opt->solver != NQS_SR_NONE) {
        /* mixed cg reads the caller's O instead of a centred double copy */
        if (!(mixed && opt->solver == NQS_SR_CG) && !(sr->obar = sr_alloc_bytes(16.0 * N * P)))
            goto nomem;
        sr->mean = malloc(P * sizeof *sr->mean);
        sr->diag = malloc(P * sizeof *sr->diag);
        sr->minv = malloc(P * sizeof *sr->minv);
        sr->r = malloc(P * sizeof *sr->r);
        sr->z = malloc(P * sizeof *sr->z);
        sr->p = malloc(P * sizeof *sr->p);
        sr->q = malloc(P * sizeof *sr->q);
        sr->xbest = malloc(P * sizeof *sr->xbest);
        sr->xacc = malloc(P * sizeof *sr->xacc);
        sr->w = malloc(N * sizeof *sr->w);
        if (!sr->mean || !sr->diag || !sr->minv || !sr->r || !sr->z || !sr->p ||
            !sr->q || !sr->xbest || !sr->xacc || !sr->w)
            goto nomem;
    }
    if (mixed) {
        sr->obar_s = sr_alloc_bytes(8.0 * N * P);
        sr->vs = malloc(P * sizeof *sr->vs);
        sr->outs = malloc(P * sizeof *sr->outs);
        sr->ws = malloc(N * sizeof *sr->ws);
        sr->shift = malloc(P * sizeof *sr->shift);
        sr->dshift = malloc(P * sizeof *sr->dshift);
        if (!sr->obar_s || !sr->vs || !sr->outs || !sr->ws || !sr->shift || !sr->dshift)
            goto nomem;
    }
    /* Zeroed once: the factorisations only read and write the lower triangle,
     * so the upper one stays defined (for the MPI reduction of the full array). */
    if (sr->can_dense && !(sr->smat = sr_alloc_bytes(bytes_s))) goto nomem;
    if (sr->can_minsr && !(sr->tmat = sr_alloc_bytes(bytes_t))) goto nomem;
    return sr;

nomem:
    NQS_SET_ERROR(NQS_ENOMEM, "out of memory allocating the SR solver (n_par = %d, n_samples = %d, "
                  "%.3f GiB for the centred log-derivatives)", n_par, n_samples,
                  16.0 * N * P / SR_GIB);
    nqs_sr_free(sr);
    return NULL;
}

void nqs_sr_free(struct nqs_sr *sr)
{
    if (!sr) return;
    free(sr->obar);
    free(sr->ebar);
    free(sr->mean);
    free(sr->diag);
    free(sr->minv);
    free(sr->r);
    free(sr->z);
    free(sr->p);
    free(sr->q);
    free(sr->xbest);
    free(sr->xacc);
    free(sr->w);
    free(sr->smat);
    free(sr->tmat);
    free(sr->obar_s);
    free(sr->vs);
    free(sr->outs);
    free(sr->ws);
    free(sr->shift);
    free(sr->dshift);
    free(sr);
}

enum nqs_sr_solver nqs_sr_choose(const struct nqs_sr *sr, double diag_shift, double diag_scale)
{
    if (sr->opt.solver != NQS_SR_AUTO) return sr->opt.solver;
    if (sr->can_minsr && diag_shift > 0 && diag_scale == 0) return NQS_SR_MINSR;
    if (sr->can_dense) return NQS_SR_DENSE;
    return NQS_SR_CG;
}

/* ------------------------------------------------------------------ E and F */

static int sr_check_args(const struct nqs_sr *sr, int ld, int n_samples)
{
    if (n_samples < 1 || n_samples > sr->n_max)
        NQS_ERROR(NQS_EINVAL, "SR got %d samples, the solver was allocated for 1..%d", n_samples,
                  sr->n_max);
    if (ld < sr->n_par)
        NQS_ERROR(NQS_EINVAL, "SR: leading dimension %d of O is smaller than n_par = %d", ld,
                  sr->n_par);
    return NQS_OK;
}

/* E = <eloc>, ebar = (eloc - E)/sqrt(N_s); returns N_s (global). */
static long sr_energy(struct nqs_sr *sr, const double complex *eloc, int n, double complex *E)
{
    long ntot = sr_allreduce_count(sr, n);
    double complex sum = 0;
    for (int s = 0; s < n; s++) sum += eloc[s];
    sr_allreduce(sr, &sum, 1);
    *E = sum / (double)ntot;
    double scale = 1.0 / sqrt((double)ntot);
    for (int s = 0; s < n; s++) sr->ebar[s] = (eloc[s] - *E) * scale;
    return ntot;
}

/* F from its local partial sums: reduced over ranks, norm, finiteness. */
static int sr_force_finish(struct nqs_sr *sr, double complex *F, double complex E, double *fnorm)
{
    sr_allreduce(sr, F, (size_t)sr->n_par);
    *fnorm = cblas_dznrm2(sr->n_par, F, 1);
    if (!isfinite(creal(E)) || !isfinite(cimag(E)) || !isfinite(*fnorm))
        NQS_ERROR(NQS_ENUMERIC, "SR: non-finite energy or gradient (E = %g%+gi, |F| = %g): a local "
                  "energy or log-derivative is NaN/Inf", creal(E), cimag(E), *fnorm);
    return NQS_OK;
}

/* F = alpha A^H ebar for A (n x P, row-major, lda); reduced over ranks. */
static int sr_force(struct nqs_sr *sr, const double complex *A, int lda, int n, double alpha,
                    double complex *F, double complex E, double *fnorm)
{
    const double complex a = alpha, zero = 0.0;
    cblas_zgemv(CblasRowMajor, CblasConjTrans, n, sr->n_par, &a, A, lda, sr->ebar, 1, &zero, F,
                1);
    return sr_force_finish(sr, F, E, fnorm);
}

static void sr_info_init(struct nqs_sr_info *info, enum nqs_sr_solver solver, double complex E,
                         double fnorm, long ntot)
{
    info->solver = solver;
    info->iterations = 0;
    info->residual = 0.0;
    info->converged = 1;
    info->energy = E;
    info->grad_norm = fnorm;
    info->n_samples = ntot;
}

int nqs_sr_gradient(struct nqs_sr *sr, const double complex *O, int ld,
                    const double complex *eloc, int n_samples, double complex *F,
                    struct nqs_sr_info *info)
{
    NQS_TRY(sr_check_args(sr, ld, n_samples));
    double complex E;
    double fnorm;
    long ntot = sr_energy(sr, eloc, n_samples, &E);
    /* sum_s ebar_s = 0, so O^H ebar / sqrt(N_s) = Obar^H ebar without centring O. */
    NQS_TRY(sr_force(sr, O, ld, n_samples, 1.0 / sqrt((double)ntot), F, E, &fnorm));
    if (info) sr_info_init(info, NQS_SR_NONE, E, fnorm, ntot);
    return NQS_OK;
}

/* <O> (reduced over ranks) into sr->mean, then, in one more pass over O,
 * the local part of F = Obar^H ebar and:
 *   SR_CENTRE_DOUBLE  Obar = (O - <O>)/sqrt(N_s) into the double buffer;
 *   SR_CENTRE_CG      the same and the local part of diag(S)_p = sum_s |Obar_sp|^2.
 * Two passes over O. */
enum { SR_CENTRE_DOUBLE, SR_CENTRE_CG };
static void sr_centre(struct nqs_sr *sr, const double complex *O, int ld, int n, long ntot,
                      int mode, double complex *F)
{
    const int P = sr->n_par;
    double complex *mean = sr->mean;
    for (int p = 0; p < P; p++) mean[p] = 0;
    for (int s = 0; s < n; s++) {
        const double complex *row = O + (size_t)s * ld;
        for (int p = 0; p < P; p++) mean[p] += row[p];
    }
    sr_allreduce(sr, mean, (size_t)P);
    for (int p = 0; p < P; p++) mean[p] /= (double)ntot;
    const double scale = 1.0 / sqrt((double)ntot);
    double *d = sr->diag;
    for (int p = 0; p < P; p++) F[p] = 0;
    if (mode == SR_CENTRE_CG)
        for (int p = 0; p < P; p++) d[p] = 0;
    for (int s = 0; s < n; s++) {
        const double complex *row = O + (size_t)s * ld;
        const double er = creal(sr->ebar[s]), ei = cimag(sr->ebar[s]);
        double *f = (double *)F; /* re, im interleaved: conj(o) ebar without __muldc3 */
        double complex *out = sr->obar + (size_t)s * P;
        for (int p = 0; p < P; p++) {
            double complex o = (row[p] - mean[p]) * scale;
            double orr = creal(o), oi = cimag(o);
            f[2 * p] += orr * er + oi * ei;
            f[2 * p + 1] += orr * ei - oi * er;
            out[p] = o;
        }
        if (mode == SR_CENTRE_CG)
            for (int p = 0; p < P; p++) d[p] += creal(out[p]) * creal(out[p]) +
                                                cimag(out[p]) * cimag(out[p]);
    }
}

/* One row of the mixed-precision pass: y = O_s - c accumulated into the sums
 * of y (sy), |y|^2 (sq) and conj(y) ebar_s (f), and stored as single
 * precision y scale. Split real arithmetic with restrict pointers so that the
 * loop vectorises (the pass is the only read of O besides the final residual). */
static void sr_mixed_row(int P, const double *restrict row, const double *restrict c, double scale,
                         double er, double ei, double *restrict sy, double *restrict sq,
                         double *restrict f, float *restrict outs)
{
    for (int p = 0; p < P; p++) {
        double yr = row[2 * p] - c[2 * p], yi = row[2 * p + 1] - c[2 * p + 1];
        sy[2 * p] += yr;
        sy[2 * p + 1] += yi;
        sq[p] += yr * yr + yi * yi;
        f[2 * p] += yr * er + yi * ei;
        f[2 * p + 1] += yr * ei - yi * er;
        outs[2 * p] = (float)(yr * scale);
        outs[2 * p + 1] = (float)(yi * scale);
    }
}

/* Mixed cg in ONE pass over O: with c = the rank's first row of O (a shift
 * that keeps the single-precision values at the scale of the fluctuations,
 * not of the mean), y_s = O_s - c is stored in single precision, and
 *   <O> = c + sum_s y_s / N_s (the sums reduced over ranks, each rank with
 *         its own c), d = <O> - c, Obar_s = (y_s - d) / sqrt(N_s),
 *   F = (sum_s conj(y_s) ebar_s - conj(d) sum_s ebar_s) / sqrt(N_s),
 *   diag(S) = (sum_s |y_s|^2 - 2 Re(conj(d) sum_s y_s) + n |d|^2) / N_s,
 * every sum over the rank's samples (F and diag reduced later, like the
 * other paths). The products of cg apply the rank-one correction d. */
static void sr_centre_mixed(struct nqs_sr *sr, const double complex *O, int ld, int n, long ntot,
                            double complex *F)
{
    const int P = sr->n_par;
    double complex *mean = sr->mean, *c = sr->shift, *dsh = sr->dshift;
    double *d = sr->diag;
    const double scale = 1.0 / sqrt((double)ntot);
    memcpy(c, O, (size_t)P * sizeof *c);
    for (int p = 0; p < P; p++) {
        mean[p] = 0; /* sum of y first */
        F[p] = 0;
        d[p] = 0;
    }
    double complex esum = 0;
    for (int s = 0; s < n; s++) {
        esum += sr->ebar[s];
        sr_mixed_row(P, (const double *)(O + (size_t)s * ld), (const double *)c, scale,
                     creal(sr->ebar[s]), cimag(sr->ebar[s]), (double *)mean, d, (double *)F,
                     (float *)(sr->obar_s + (size_t)s * P));
    }
    /* d_p and diag need the local sum of y before <O> replaces it */
    for (int p = 0; p < P; p++) {
        double complex sy = mean[p];
        mean[p] = (double)n * c[p] + sy;
        dsh[p] = sy; /* keep the local sum of y until <O> is known */
    }
    sr_allreduce(sr, mean, (size_t)P);
    for (int p = 0; p < P; p++) {
        mean[p] /= (double)ntot;
        double complex sy = dsh[p], dd = mean[p] - c[p];
        dsh[p] = dd;
        F[p] = (F[p] - conj(dd) * esum) * scale;
        d[p] = (d[p] - 2.0 * (creal(dd) * creal(sy) + cimag(dd) * cimag(sy)) +
                (double)n * (creal(dd) * creal(dd) + cimag(dd) * cimag(dd))) * scale * scale;
        if (d[p] < 0) d[p] = 0; /* rounding of an (almost) constant column */
    }
}

/* ------------------------------------------------------------------ solvers */

static int sr_cholesky_fail(int info, const char *what, double eps)
{
    if (info < 0)
        NQS_ERROR(NQS_EINTERNAL, "SR: LAPACK rejected argument %d of the %s factorisation", -info,
                  what);
    NQS_ERROR(NQS_ENUMERIC, "SR: the shifted %s matrix is not positive definite (leading minor %d) "
              "with diag_shift = %g; raise [optimizer] diag_shift", what, info, eps);
}

/* (S + eps + rho diag S) delta = F by Cholesky of conj(S) (see the file header). */
static int sr_solve_dense(struct nqs_sr *sr, int n, double eps, double rho, const double complex *F,
                          double complex *delta)
{
    const int P = sr->n_par;
    double complex *a = sr->smat;
    cblas_zherk(CblasColMajor, CblasLower, CblasNoTrans, P, n, 1.0, sr->obar, P, 0.0, a, P);
    sr_allreduce(sr, a, (size_t)P * P);
    for (int p = 0; p < P; p++) {
        double d = creal(a[(size_t)p * P + p]);
        a[(size_t)p * P + p] = d * (1.0 + rho) + eps;
    }
    int info = (int)LAPACKE_zpotrf_work(LAPACK_COL_MAJOR, 'L', P, a, P);
    if (info != 0) return sr_cholesky_fail(info, "S", eps);
    for (int p = 0; p < P; p++) delta[p] = conj(F[p]);
    info = (int)LAPACKE_zpotrs_work(LAPACK_COL_MAJOR, 'L', P, 1, a, P, delta, P);
    if (info != 0) return sr_cholesky_fail(info, "S", eps);
    for (int p = 0; p < P; p++) delta[p] = conj(delta[p]);
    return NQS_OK;
}

/* delta = Obar^H (Obar Obar^H + eps)^{-1} ebar. */
static int sr_solve_minsr(struct nqs_sr *sr, int n, double eps, double complex *delta)
{
    const int P = sr->n_par;
    const double complex one = 1.0, zero = 0.0;
    int nt = sr_gather_samples(sr, n);
    double complex *t = sr->tmat, *y = sr->w;
    cblas_zherk(CblasColMajor, CblasLower, CblasConjTrans, nt, P, 1.0, sr->obar, P, 0.0, t, nt);
    for (int s = 0; s < nt; s++) t[(size_t)s * nt + s] = creal(t[(size_t)s * nt + s]) + eps;
    int info = (int)LAPACKE_zpotrf_work(LAPACK_COL_MAJOR, 'L', nt, t, nt);
    if (info != 0) return sr_cholesky_fail(info, "sample-space (minsr)", eps);
    for (int s = 0; s < nt; s++) y[s] = conj(sr->ebar[s]);
    info = (int)LAPACKE_zpotrs_work(LAPACK_COL_MAJOR, 'L', nt, 1, t, nt, y, nt);
    if (info != 0) return sr_cholesky_fail(info, "sample-space (minsr)", eps);
    for (int s = 0; s < nt; s++) y[s] = conj(y[s]);
    cblas_zgemv(CblasRowMajor, CblasConjTrans, nt, P, &one, sr->obar, P, y, 1, &zero, delta, 1);
    return NQS_OK;
}

/* out = (S + eps + rho diag S) v with S v = Obar^H (Obar v): two gemv per
 * block of rows. The blocks are still in cache for the second product, which
 * halves the memory traffic when Obar is larger than the cache. Block size:
 * SR_BLOCK_BYTES, but at least SR_BLOCK_MIN_ROWS rows, so that the update of
 * `out` (n_par entries) is shared by several rows. Measured one thread, ms per
 * product (P = 1680 / P = 40500, N_s = 1000): double 1.85 / 52 with these
 * blocks against 2.5 / 81 unblocked; single precision 0.49 / 24 against
 * 0.62 / 43. */
#define SR_BLOCK_BYTES (512.0 * 1024)
#define SR_BLOCK_MIN_ROWS 6
static int sr_block_rows(int n_par, double elem_bytes)
{
    return (int)fmax(SR_BLOCK_MIN_ROWS, SR_BLOCK_BYTES / (elem_bytes * n_par));
}

static void sr_apply(struct nqs_sr *sr, int n, double eps, double rho, const double complex *v,
                     double complex *out)
{
    const int P = sr->n_par;
    const double complex one = 1.0, zero = 0.0;
    int block = sr_block_rows(P, 16.0);
    for (int s0 = 0; s0 < n; s0 += block) {
        int b = n - s0 < block ? n - s0 : block;
        const double complex *rows = sr->obar + (size_t)s0 * P;
        cblas_zgemv(CblasRowMajor, CblasNoTrans, b, P, &one, rows, P, v, 1, &zero, sr->w + s0, 1);
        cblas_zgemv(CblasRowMajor, CblasConjTrans, b, P, &one, rows, P, sr->w + s0, 1,
                    s0 == 0 ? &zero : &one, out, 1);
    }
    sr_allreduce(sr, out, (size_t)P);
    for (int p = 0; p < P; p++) out[p] += (eps + rho * sr->diag[p]) * v[p];
}

/* The same product in double precision from the caller's O (ld) for mixed
 * cg, centring on the fly: Obar v = (O v - (<O>.v) 1)/sqrt(N_s) and
 * Obar^H w = (O^H w - conj(<O>) sum_s w_s)/sqrt(N_s). */
static void sr_apply_o(struct nqs_sr *sr, const double complex *O, int ld, int n, long ntot,
                       double eps, double rho, const double complex *v, double complex *out)
{
    const int P = sr->n_par;
    const double complex one = 1.0, zero = 0.0;
    const double scale = 1.0 / sqrt((double)ntot);
    double complex mv;
    cblas_zdotu_sub(P, sr->mean, 1, v, 1, &mv);
    int block = sr_block_rows(P, 16.0);
    double complex wsum = 0;
    for (int s0 = 0; s0 < n; s0 += block) {
        int b = n - s0 < block ? n - s0 : block;
        const double complex *rows = O + (size_t)s0 * ld;
        double complex *w = sr->w + s0;
        cblas_zgemv(CblasRowMajor, CblasNoTrans, b, P, &one, rows, ld, v, 1, &zero, w, 1);
        for (int k = 0; k < b; k++) {
            w[k] = (w[k] - mv) * scale;
            wsum += w[k];
        }
        cblas_zgemv(CblasRowMajor, CblasConjTrans, b, P, &one, rows, ld, w, 1,
                    s0 == 0 ? &zero : &one, out, 1);
    }
    for (int p = 0; p < P; p++) out[p] = (out[p] - conj(sr->mean[p]) * wsum) * scale;
    sr_allreduce(sr, out, (size_t)P);
    for (int p = 0; p < P; p++) out[p] += (eps + rho * sr->diag[p]) * v[p];
}

/* The same product from the single-precision copy (mixed cg): v is rounded
 * to single precision, S v accumulated in single precision with the
 * rank-one centring correction of sr_centre_mixed (Obar = obar_s -
 * dshift / sqrt(N_s)), returned in double, the shifts applied in double. */
static void sr_apply_single(struct nqs_sr *sr, int n, long ntot, double eps, double rho,
                            const double complex *v, double complex *out)
{
    const int P = sr->n_par;
    const float complex one = 1.0f, zero = 0.0f;
    const double scale = 1.0 / sqrt((double)ntot);
    int block = sr_block_rows(P, 8.0);
    double complex dv;
    cblas_zdotu_sub(P, sr->dshift, 1, v, 1, &dv);
    const float complex dvs = (float complex)(dv * scale);
    for (int p = 0; p < P; p++) sr->vs[p] = (float complex)v[p];
    double complex wsum = 0;
    for (int s0 = 0; s0 < n; s0 += block) {
        int b = n - s0 < block ? n - s0 : block;
        const float complex *rows = sr->obar_s + (size_t)s0 * P;
        float complex *w = sr->ws + s0;
        cblas_cgemv(CblasRowMajor, CblasNoTrans, b, P, &one, rows, P, sr->vs, 1, &zero, w, 1);
        for (int k = 0; k < b; k++) {
            w[k] -= dvs;
            wsum += w[k];
        }
        cblas_cgemv(CblasRowMajor, CblasConjTrans, b, P, &one, rows, P, w, 1,
                    s0 == 0 ? &zero : &one, sr->outs, 1);
    }
    for (int p = 0; p < P; p++)
        out[p] = (double complex)sr->outs[p] - conj(sr->dshift[p]) * scale * wsum;
    sr_allreduce(sr, out, (size_t)P);
    for (int p = 0; p < P; p++) out[p] += (eps + rho * sr->diag[p]) * v[p];
}

/* One run of preconditioned conjugate gradient (Saad, Iterative Methods for
 * Sparse Linear Systems, Alg. 9.1; the preconditioner is the diagonal minv,
 * all ones without one) on A e = r from e = 0, adding
 * e to x as it goes: x enters as x0, r holds F - A x0 (overwritten by the
 * recursive residual). `single` takes A v from the single-precision copy.
 * Stops at recursive residual <= target (*reached = 1), after `maxit`
 * iterations, or on loss of positive curvature. sr->xbest receives the
 * iterate with the smallest recursive residual (x0 if none is below
 * r0n = ||r||); returns the iterations done, or -1 (message set) for a
 * non-finite curvature. */
static int sr_cg_run(struct nqs_sr *sr, int n, long ntot, double eps, double rho, int single,
                     double target, int maxit, int it0, double complex *x, double r0n,
                     double *best_out, int *reached)
{
    const int P = sr->n_par;
    const double *minv = sr->minv;
    double complex *r = sr->r, *z = sr->z, *p = sr->p, *q = sr->q, *xb = sr->xbest;
    double rz = 0;
    for (int k = 0; k < P; k++) {
        z[k] = minv[k] * r[k];
        p[k] = z[k];
        rz += minv[k] * (creal(r[k]) * creal(r[k]) + cimag(r[k]) * cimag(r[k]));
    }
    memcpy(xb, x, (size_t)P * sizeof *x);
    double best = r0n;
    int it = 0;
    *reached = 0;
    while (it < maxit) {
        if (single)
            sr_apply_single(sr, n, ntot, eps, rho, p, q);
        else
            sr_apply(sr, n, eps, rho, p, q);
        double complex pq;
        cblas_zdotc_sub(P, p, 1, q, 1, &pq);
        if (!isfinite(creal(pq))) {
            nqs_error_set(NQS_ENUMERIC, __FILE__, __LINE__, "SR conjugate gradient: non-finite "
                          "curvature at iteration %d", it0 + it + 1);
            return -1;
        }
        if (!(creal(pq) > 0)) break; /* not positive definite along p: keep the best iterate */
        double complex alpha = rz / creal(pq), malpha = -alpha;
        cblas_zaxpy(P, &alpha, p, 1, x, 1);
        cblas_zaxpy(P, &malpha, q, 1, r, 1);
        double rn = cblas_dznrm2(P, r, 1);
        it++;
        if (rn < best) {
            best = rn;
            memcpy(xb, x, (size_t)P * sizeof *x);
        }
        if (rn <= target) {
            *reached = 1;
            break;
        }
        double rz_new = 0;
        for (int k = 0; k < P; k++) {
            z[k] = minv[k] * r[k];
            rz_new += minv[k] * (creal(r[k]) * creal(r[k]) + cimag(r[k]) * cimag(r[k]));
        }
        double beta = rz_new / rz;
        rz = rz_new;
        for (int k = 0; k < P; k++) p[k] = z[k] + beta * p[k];
    }
    *best_out = best;
    return it;
}

/* The caller's O for the double-precision products of mixed cg. */
struct sr_source {
    const double complex *O;
    int ld;
    long ntot;
};

/* ||F - A x|| in double precision, with r = F - A x left in sr->r; from the
 * centred double copy, or from the caller's O when there is none (mixed). */
static double sr_true_residual(struct nqs_sr *sr, const struct sr_source *src, int n, double eps,
                               double rho, const double complex *F, const double complex *x)
{
    const int P = sr->n_par;
    if (sr->obar_s)
        sr_apply_o(sr, src->O, src->ld, n, src->ntot, eps, rho, x, sr->q);
    else
        sr_apply(sr, n, eps, rho, x, sr->q);
    for (int k = 0; k < P; k++) sr->r[k] = F[k] - sr->q[k];
    return cblas_dznrm2(P, sr->r, 1);
}

/* Preconditioned conjugate gradient from x = 0.
 * Double precision (no single copy): one run; converged when the recursive
 * residual reaches cg_tol ||F||; x is the iterate with the smallest recursive
 * residual and info->residual its true residual.
 * Mixed (sr->obar_s): runs with the single-precision product, each followed
 * by the true residual of its best iterate in double; converged when that is
 * <= cg_tol ||F||; otherwise, while iterations remain and the last run at
 * least halved the true residual, restart from the best iterate on its true
 * residual (iterative refinement). x is the iterate with the smallest true
 * residual. Returns NQS_NOTCONV when not converged. diag(S) comes from
 * sr_centre. */
static int sr_solve_cg(struct nqs_sr *sr, const struct sr_source *src, int n, double eps,
                       double rho, const double complex *F, double fnorm, double complex *x,
                       struct nqs_sr_info *info)
{
    const int P = sr->n_par;
    double *d = sr->diag, *minv = sr->minv;
    const int single = sr->obar_s != NULL;

    sr_allreduce_real(sr, d, (size_t)P);
    const int jacobi = sr->opt.cg_precond == NQS_SR_PRECOND_JACOBI;
    for (int k = 0; k < P; k++) {
        double m = (1.0 + rho) * d[k] + eps;
        minv[k] = jacobi && m > 0 ? 1.0 / m : 1.0;
    }

    for (int k = 0; k < P; k++) x[k] = sr->xacc[k] = 0;
    info->iterations = 0;
    if (fnorm == 0) {
        info->residual = 0;
        info->converged = 1;
        return NQS_OK;
    }
    memcpy(sr->r, F, (size_t)P * sizeof *F);
    const double target = sr->opt.cg_tol * fnorm;
    double racc = fnorm; /* true residual of the accepted iterate xacc */
    int converged = 0, total = 0;
    for (;;) {
        double best;
        int reached;
        int it = sr_cg_run(sr, n, src->ntot, eps, rho, single, target, sr->opt.cg_maxiter - total,
                           total, x, racc, &best, &reached);
        if (it < 0) return NQS_ENUMERIC;
        total += it;
        double rn = sr_true_residual(sr, src, n, eps, rho, F, sr->xbest); /* sets sr->r */
        if (!single) {
            memcpy(sr->xacc, sr->xbest, (size_t)P * sizeof *x);
            racc = rn;
            converged = reached;
            break;
        }
        int progress = rn < 0.5 * racc;
        if (rn < racc) {
            memcpy(sr->xacc, sr->xbest, (size_t)P * sizeof *x);
            racc = rn;
        }
        if (racc <= target) {
            converged = 1;
            break;
        }
        if (it == 0 || !progress || total >= sr->opt.cg_maxiter) break;
        /* restart on the true residual of the accepted iterate */
        memcpy(x, sr->xacc, (size_t)P * sizeof *x);
        if (rn != racc) sr_true_residual(sr, src, n, eps, rho, F, x);
    }
    memcpy(x, sr->xacc, (size_t)P * sizeof *x);
    info->iterations = total;
    info->residual = racc / fnorm;
    info->converged = converged;
    return converged ? NQS_OK : NQS_NOTCONV;
}

int nqs_sr_solve(struct nqs_sr *sr, const double complex *O, int ld, const double complex *eloc,
                 int n_samples, double diag_shift, double diag_scale, double complex *F,
                 double complex *delta, struct nqs_sr_info *info)
{
    struct nqs_sr_info local;
    if (!info) info = &local;
    if (sr->opt.solver == NQS_SR_NONE)
        NQS_ERROR(NQS_EINTERNAL, "SR solve called on a gradient-only (solver none) object");
    NQS_TRY(sr_check_args(sr, ld, n_samples));
    if (!(diag_shift >= 0) || !(diag_scale >= 0) || !isfinite(diag_shift) ||
        !isfinite(diag_scale))
        NQS_ERROR(NQS_EINVAL, "[optimizer] diag_shift and diag_scale must be finite and >= 0 "
                  "(got %g and %g)", diag_shift, diag_scale);
    enum nqs_sr_solver solver = nqs_sr_choose(sr, diag_shift, diag_scale);
    if (solver == NQS_SR_MINSR && !(diag_shift > 0))
        NQS_ERROR(NQS_EINVAL, "[optimizer] solver = minsr needs diag_shift > 0 (Obar Obar^H is "
                  "singular after centring), got %g", diag_shift);
    if (solver == NQS_SR_MINSR && diag_scale != 0)
        NQS_ERROR(NQS_EINVAL, "[optimizer] solver = minsr cannot apply diag_scale = %g (a relative "
                  "shift has no sample-space form): set diag_scale = 0 or use solver = "
                  "auto|dense|cg", diag_scale);

    double complex E;
    double fnorm;
    long ntot = sr_energy(sr, eloc, n_samples, &E);
    if (solver == NQS_SR_CG && sr->obar_s)
        sr_centre_mixed(sr, O, ld, n_samples, ntot, F);
    else
        sr_centre(sr, O, ld, n_samples, ntot, solver == NQS_SR_CG ? SR_CENTRE_CG : SR_CENTRE_DOUBLE,
                  F);
    NQS_TRY(sr_force_finish(sr, F, E, &fnorm));
    sr_info_init(info, solver, E, fnorm, ntot);

    int rc = NQS_OK;
    switch (solver) {
    case NQS_SR_DENSE: rc = sr_solve_dense(sr, n_samples, diag_shift, diag_scale, F, delta); break;
    case NQS_SR_MINSR: rc = sr_solve_minsr(sr, n_samples, diag_shift, delta); break;
    case NQS_SR_CG:
        rc = sr_solve_cg(sr, &(struct sr_source){O, ld, ntot}, n_samples, diag_shift, diag_scale,
                         F, fnorm, delta, info);
        break;
    default: NQS_ERROR(NQS_EINTERNAL, "SR: no solver selected");
    }
    if (rc != NQS_OK && rc != NQS_NOTCONV) return rc;
    for (int k = 0; k < sr->n_par; k++)
        if (!isfinite(creal(delta[k])) || !isfinite(cimag(delta[k])))
            NQS_ERROR(NQS_ENUMERIC, "SR (%s): the update delta is NaN/Inf at parameter %d; raise "
                      "[optimizer] diag_shift", nqs_sr_solver_name(solver), k);
    if (rc == NQS_NOTCONV)
        nqs_error_set(NQS_NOTCONV, __FILE__, __LINE__, "SR conjugate gradient stopped after %d "
                      "iterations at relative residual %.3g (cg_tol = %g)", info->iterations,
                      info->residual, sr->opt.cg_tol);
    return rc;
}
