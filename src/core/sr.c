/*
 * sr.c - stochastic reconfiguration: centring of the log-derivatives, the
 * energy gradient F = Obar^H ebar and the solve (S + eps I + rho diag S) delta = F
 * by a dense Cholesky factorisation, matrix-free preconditioned conjugate
 * gradient, or in sample space (minSR, Chen & Heyl, Nat. Phys. 20, 1476 (2024),
 * delta = Obar^H (Obar Obar^H + eps)^{-1} ebar, equal to the eps-shifted SR
 * update by the push-through identity). Formulas: docs/physics.md "Stochastic
 * reconfiguration"; interface and conventions: sr.h.
 *
 * Reproducibility (sr.h "Chains and ranks"): every sum over samples is a sum
 * over chains of per-chain partial sums. A chain's partial sum is computed
 * by one thread from that chain's rows, by the loops below or by zherk (whose
 * bits do not depend on the OpenBLAS thread count when it sums over a chain's
 * few rows, unlike zgemv with a transposed row-major matrix, zgemm, ztrsm and
 * zpotrf: measured with OpenBLAS 0.3.21); the sum over chains and ranks is
 * exact (rsum.h). The zherk calls and the Cholesky factorisations run on one
 * OpenBLAS thread: on AMD EPYC (Zen kernels) the threaded zherk gave other
 * last bits than the serial one. Scalars that steer
 * conjugate gradient (dot products, norms) are plain loops, so every rank
 * takes the same decisions.
 *
 * Mixed-precision cg (sr.h cg_precision) keeps a single-precision copy of
 * Obar, row by row as P real parts then P imaginary parts, and takes S v
 * from it with per-chain plain loops of a fixed order (4 rows at a time, 8
 * lanes per sum); every residual that decides convergence is computed in
 * double from O itself.
 *
 * The per-row kernels are compiled for AVX-512, AVX2 and the baseline and
 * chosen at run time (SR_MULTIVERSION, GCC target_clones). Each version sums
 * in the order written, so the bits still do not depend on the thread or rank
 * count; two versions can differ in the last bits (GCC fuses some vectorised
 * complex multiply-adds into FMA instructions even with -ffp-contract=off),
 * so, as with OpenBLAS's CPU-specific zherk, runs on CPUs with different
 * vector units (AVX-512 against AVX2) may differ in the last bits.
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

#include "comm.h"
#include "error.h"
#include "rsum.h"

/* Hot loops compiled for AVX-512, AVX2 and the baseline, chosen at run time
 * (GCC function multiversioning; see the file header). Off under sanitizers. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    !defined(__SANITIZE_ADDRESS__)
#define SR_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SR_MULTIVERSION
#endif

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
    int mixed;                /* cg takes S v from obar_s (cg_precision) */
    float *obar_s;            /* n_max rows of 2 n_par: Re then Im of Obar (mixed cg) */
    float *ws;                /* 2 n_max: Obar v per row (mixed cg) */
    float *ys;                /* n_local x 2 n_par: per-chain S v partials (mixed cg) */
    double *dpart;            /* n_local x n_par: per-chain diag(S) partials (mixed cg) */
    double complex *w;        /* n_max: Obar v, and the minsr right-hand side */
    double complex *smat;     /* P x P lower, column-major (dense) */
    double complex *tmat;     /* N_s x N_s lower, column-major (minsr) */
    /* chain layout (nqs_sr_set_chains; default: each solve's rows are one chain) */
    int layout_set;
    int n_chains, first_chain, n_local, per_chain;
    int n_total_max;          /* N_s the minsr buffers hold: all ranks' samples */
    double complex *part;     /* n_local x n_par per-chain partial sums */
    double *racc;             /* NQS_RSUM_LEVELS x 2 n_par: exact-sum accumulators, vectors */
    double *sacc;             /* NQS_RSUM_LEVELS x P (P + 1): same for S's lower triangle (dense) */
    double complex *obar_all; /* minsr on several ranks: all N_s rows of Obar, then ebar */
    double complex *ebar_all;
    double complex *y;        /* N_s: minsr's sample-space vector */
    const double *wt;         /* NULL, or per-row probabilities (nqs_sr_set_weights, borrowed) */
    int mean_set;             /* sr->mean holds the <O> of the last solve (nqs_sr_metric) */
};

/* Row s of the weighted sums: Obar_s = (O_s - <O>) sqrt(w_s), ebar_s likewise;
 * without weights w_s = 1/N_s. */
static double sr_row_scale(const struct nqs_sr *sr, int s, double uniform)
{
    return sr->wt ? sqrt(sr->wt[s]) : uniform;
}

/* ------------------------------------------------------------------ reductions
 * Sums over samples: per-chain partial sums (one thread per chain, rows in
 * order), then the exact sum over chains and ranks (rsum.h). The per-chain
 * kernels are plain loops: without -ffast-math and with -ffp-contract=off
 * (GCC's default in ISO C mode) every partial sum is evaluated in the order
 * written, whatever the vector width. */

/* y += sum_s conj(A_s) x_s over `rows` rows of A (leading dimension lda),
 * column tiles of SR_TILE entries so y stays in L1 while the rows stream. */
#define SR_TILE 512
SR_MULTIVERSION static void sr_adjoint_rows(int P, const double complex *A, size_t lda, const double complex *x,
                            int rows, double complex *y)
{
    double *yy = (double *)y;
    for (int p0 = 0; p0 < P; p0 += SR_TILE) {
        int pn = P - p0 < SR_TILE ? P - p0 : SR_TILE;
        double *yt = yy + 2 * (size_t)p0;
        for (int s = 0; s < rows; s++) {
            const double *a = (const double *)(A + (size_t)s * lda + p0);
            const double xr = creal(x[s]), xi = cimag(x[s]);
            for (int k = 0; k < pn; k++) {
                double ar = a[2 * k], ai = a[2 * k + 1];
                yt[2 * k] += ar * xr + ai * xi;
                yt[2 * k + 1] += ar * xi - ai * xr;
            }
        }
    }
}

/* sum_p a_p v_p with four interleaved partial sums (fixed order). */
SR_MULTIVERSION static double complex sr_dot_row(int P, const double complex *a, const double complex *v)
{
    const double *x = (const double *)a, *y = (const double *)v;
    double re[4] = {0, 0, 0, 0}, im[4] = {0, 0, 0, 0};
    int p = 0;
    for (; p + 4 <= P; p += 4)
        for (int u = 0; u < 4; u++) {
            double ar = x[2 * (p + u)], ai = x[2 * (p + u) + 1];
            double vr = y[2 * (p + u)], vi = y[2 * (p + u) + 1];
            re[u] += ar * vr - ai * vi;
            im[u] += ar * vi + ai * vr;
        }
    for (; p < P; p++) {
        double ar = x[2 * p], ai = x[2 * p + 1], vr = y[2 * p], vi = y[2 * p + 1];
        re[0] += ar * vr - ai * vi;
        im[0] += ar * vi + ai * vr;
    }
    return CMPLX((re[0] + re[1]) + (re[2] + re[3]), (im[0] + im[1]) + (im[2] + im[3]));
}

/* conj(a) . b and ||a||^2 over P entries, in order: the same bits on every rank. */
static double complex sr_vdot(int P, const double complex *a, const double complex *b)
{
    double re = 0, im = 0;
    for (int p = 0; p < P; p++) {
        double ar = creal(a[p]), ai = cimag(a[p]), br = creal(b[p]), bi = cimag(b[p]);
        re += ar * br + ai * bi;
        im += ar * bi - ai * br;
    }
    return CMPLX(re, im);
}

static double sr_norm(int P, const double complex *a) { return sqrt(creal(sr_vdot(P, a, a))); }

/* Exact sum over chains and ranks of the n_local partial vectors in sr->part
 * (count complex entries each, stride n_par) into out. */
static int sr_reduce_part(struct nqs_sr *sr, size_t count, double complex *out)
{
    return nqs_rsum_terms((const double *)sr->part, sr->n_local, 2 * (size_t)sr->n_par,
                          2 * count, sr->n_chains, sr->racc, (double *)out);
}

/* Default layout: the rows of this call are one chain. */
static void sr_layout_for_call(struct nqs_sr *sr, int n)
{
    if (sr->layout_set) return;
    sr->n_chains = sr->n_local = 1;
    sr->first_chain = 0;
    sr->per_chain = n;
}

/* ------------------------------------------------------------------ helpers */

void nqs_sr_set_weights(struct nqs_sr *sr, const double *w) { sr->wt = w; }

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

/* Bytes of the dense solver: S (16 P^2) and the exact-sum accumulators of its
 * lower triangle (8 NQS_RSUM_LEVELS P (P + 1)). */
static double sr_dense_bytes(double P) { return 16.0 * P * P + 8.0 * NQS_RSUM_LEVELS * P * (P + 1); }

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
    double bytes_s = sr_dense_bytes(n_par), bytes_t = 16.0 * n_samples * n_samples;
    if (opt->solver == NQS_SR_DENSE && bytes_s > opt->mem_budget)
        NQS_ERROR(NQS_ENOMEM, "[optimizer] solver = dense needs %.0f bytes (%.3f GiB) for the "
                  "%d x %d matrix S and its exact-sum accumulators, over memory_budget = %.3f "
                  "GiB; raise memory_budget or use solver = cg", bytes_s, bytes_s / SR_GIB, n_par,
                  n_par, opt->mem_budget / SR_GIB);
    if (opt->solver == NQS_SR_MINSR && bytes_t > opt->mem_budget)
        NQS_ERROR(NQS_ENOMEM, "[optimizer] solver = minsr needs %.0f bytes (%.3f GiB) for the "
                  "%d x %d sample-space matrix, over memory_budget = %.3f GiB; raise "
                  "memory_budget or use solver = cg", bytes_t, bytes_t / SR_GIB, n_samples,
                  n_samples, opt->mem_budget / SR_GIB);
    return NQS_OK;
}

/* auto never picks a direct solver when P >= NQS_SR_CG_MIN_RATIO N_s (sr.h). */
static int sr_auto_cg_only(int n_par, int n_total)
{
    return (double)n_par >= NQS_SR_CG_MIN_RATIO * (double)n_total;
}

/* Buffers that depend on the chain layout: which solvers are possible (from
 * the total sample count N_s of all ranks), S and its accumulators, the minsr
 * matrix and vector, the per-chain partial sums, and on several ranks the
 * gathered rows for minsr. Frees the previous ones first. */
static int sr_layout_alloc(struct nqs_sr *sr, int n_total)
{
    double P = sr->n_par, N = n_total;
    double bytes_s = sr_dense_bytes(P), bytes_t = 16.0 * N * N;
    free(sr->smat);
    free(sr->sacc);
    free(sr->tmat);
    free(sr->y);
    free(sr->part);
    free(sr->obar_all);
    free(sr->ys);
    free(sr->dpart);
    sr->smat = sr->tmat = sr->y = sr->part = sr->obar_all = sr->ebar_all = NULL;
    sr->sacc = NULL;
    sr->ys = NULL;
    sr->dpart = NULL;
    sr->can_dense = sr->can_minsr = 0;
    sr->n_total_max = n_total;
    switch (sr->opt.solver) {
    case NQS_SR_DENSE: sr->can_dense = 1; break;
    case NQS_SR_MINSR: sr->can_minsr = 1; break;
    case NQS_SR_AUTO:
        /* The direct solvers only where nqs_sr_choose can pick them (P below
         * NQS_SR_CG_MIN_RATIO N_s): minsr for P > N_s; dense for P <= N_s, and
         * as the rho > 0 alternative to minsr when both matrices fit together. */
        if (!sr_auto_cg_only(sr->n_par, n_total)) {
            sr->can_minsr = sr->n_par > n_total && bytes_t <= sr->opt.mem_budget;
            sr->can_dense = sr->n_par <= NQS_SR_DENSE_MAX_PAR &&
                            bytes_s + (sr->can_minsr ? bytes_t : 0.0) <= sr->opt.mem_budget;
        }
        break;
    case NQS_SR_CG:
    case NQS_SR_NONE: break;
    }
    /* The double-precision copy of Obar serves the direct solvers and double
     * cg; mixed cg reads the single-precision copy and O itself (648 MB saved
     * at P = 40500, N_s = 1000, where auto can only pick cg). */
    free(sr->obar);
    sr->obar = NULL;
    if (sr->opt.solver != NQS_SR_NONE && (!sr->mixed || sr->can_dense || sr->can_minsr)) {
        sr->obar = sr_alloc_bytes(16.0 * (double)sr->n_max * P);
        if (!sr->obar) return NQS_ENOMEM;
    }
    sr->part = malloc((size_t)sr->n_local * (size_t)sr->n_par * sizeof *sr->part);
    if (!sr->part) return NQS_ENOMEM;
    if (sr->mixed) {
        sr->ys = malloc(2 * (size_t)sr->n_local * (size_t)sr->n_par * sizeof *sr->ys);
        sr->dpart = malloc((size_t)sr->n_local * (size_t)sr->n_par * sizeof *sr->dpart);
        if (!sr->ys || !sr->dpart) return NQS_ENOMEM;
    }
    /* Zeroed once: the factorisations only read and write the lower triangle. */
    if (sr->can_dense) {
        sr->smat = sr_alloc_bytes(16.0 * P * P);
        sr->sacc = sr_alloc_bytes(8.0 * NQS_RSUM_LEVELS * P * (P + 1));
        if (!sr->smat || !sr->sacc) return NQS_ENOMEM;
    }
    if (sr->can_minsr) {
        sr->tmat = sr_alloc_bytes(bytes_t);
        sr->y = malloc(N * sizeof *sr->y);
        if (!sr->tmat || !sr->y) return NQS_ENOMEM;
        if (nqs_comm_size() > 1) { /* rows of every rank, then ebar of every rank */
            sr->obar_all = sr_alloc_bytes(16.0 * N * (P + 1));
            if (!sr->obar_all) return NQS_ENOMEM;
            sr->ebar_all = sr->obar_all + (size_t)n_total * (size_t)sr->n_par;
        }
    }
    return NQS_OK;
}

struct nqs_sr *nqs_sr_alloc(int n_par, int n_samples, const struct nqs_sr_options *opt)
{
    struct nqs_sr *sr = NULL;
    if (nqs_sr_check(n_par, n_samples, opt) != NQS_OK) return NULL;
    double P = n_par, N = n_samples;

    sr = calloc(1, sizeof *sr);
    if (!sr) goto nomem;
    sr->n_par = n_par;
    sr->n_max = n_samples;
    sr->opt = *opt;
    sr->n_chains = sr->n_local = 1;
    sr->per_chain = n_samples;

    sr->ebar = malloc(N * sizeof *sr->ebar);
    sr->racc = malloc(2.0 * NQS_RSUM_LEVELS * P * sizeof *sr->racc);
    sr->mean = malloc(P * sizeof *sr->mean);
    if (!sr->ebar || !sr->racc || !sr->mean) goto nomem;
    /* Mixed cg when cg can be chosen (forced, or auto: auto picks cg at large
     * enough shifts for any size) and the precision asks for it; forced cg
     * then needs no double copy of Obar. */
    int cg_possible = opt->solver == NQS_SR_CG || opt->solver == NQS_SR_AUTO;
    sr->mixed = cg_possible && (opt->cg_precision == NQS_SR_PREC_MIXED ||
                                (opt->cg_precision == NQS_SR_PREC_AUTO &&
                                 n_par >= NQS_SR_MIXED_MIN_PAR));
    if (opt->solver != NQS_SR_NONE) {
        if (sr->mixed && (!(sr->obar_s = sr_alloc_bytes(8.0 * N * P)) ||
                          !(sr->ws = malloc(2 * N * sizeof *sr->ws))))
            goto nomem;
        sr->diag = malloc(P * sizeof *sr->diag);
        sr->minv = malloc(P * sizeof *sr->minv);
        sr->r = malloc(P * sizeof *sr->r);
        sr->z = malloc(P * sizeof *sr->z);
        sr->p = malloc(P * sizeof *sr->p);
        sr->q = malloc(P * sizeof *sr->q);
        sr->xbest = malloc(P * sizeof *sr->xbest);
        sr->xacc = malloc(P * sizeof *sr->xacc);
        sr->w = malloc(N * sizeof *sr->w);
        if (!sr->diag || !sr->minv || !sr->r || !sr->z || !sr->p || !sr->q || !sr->xbest ||
            !sr->xacc || !sr->w)
            goto nomem;
    }
    if (sr_layout_alloc(sr, n_samples) != NQS_OK) goto nomem;
    return sr;

nomem:
    NQS_SET_ERROR(NQS_ENOMEM, "out of memory allocating the SR solver (n_par = %d, n_samples = %d, "
                  "%.3f GiB for the centred log-derivatives)", n_par, n_samples,
                  16.0 * N * P / SR_GIB);
    nqs_sr_free(sr);
    return NULL;
}

int nqs_sr_set_chains(struct nqs_sr *sr, int n_chains, int first_chain, int n_local, int per_chain)
{
    if (n_chains < 1 || per_chain < 1 || n_local < 1 || first_chain < 0 ||
        first_chain + n_local > n_chains)
        NQS_ERROR(NQS_EINVAL, "SR chain layout: chains %d..%d of %d with %d samples each is not "
                  "a valid block", first_chain, first_chain + n_local - 1, n_chains, per_chain);
    if ((long)n_local * per_chain > sr->n_max)
        NQS_ERROR(NQS_EINVAL, "SR chain layout: %d chains x %d samples exceed the %d samples the "
                  "solver was allocated for", n_local, per_chain, sr->n_max);
    int split_first, split_count;
    nqs_comm_split(n_chains, nqs_comm_rank(), nqs_comm_size(), &split_first, &split_count);
    if (nqs_comm_size() > 1 && (first_chain != split_first || n_local != split_count))
        NQS_ERROR(NQS_EINVAL, "SR chain layout: rank %d holds chains %d..%d, nqs_comm_split "
                  "gives %d..%d", nqs_comm_rank(), first_chain, first_chain + n_local - 1,
                  split_first, split_first + split_count - 1);
    long n_total = (long)n_chains * per_chain;
    if (n_total > 1L << 30)
        NQS_ERROR(NQS_EINVAL, "SR: %ld samples per iteration over all ranks is too many", n_total);
    NQS_TRY(nqs_sr_check(sr->n_par, (int)n_total, &sr->opt));
    sr->layout_set = 1;
    sr->n_chains = n_chains;
    sr->first_chain = first_chain;
    sr->n_local = n_local;
    sr->per_chain = per_chain;
    if (sr_layout_alloc(sr, (int)n_total) != NQS_OK)
        NQS_ERROR(NQS_ENOMEM, "out of memory for the SR solver's chain layout (%d parameters, %ld "
                  "samples over all ranks)", sr->n_par, n_total);
    return NQS_OK;
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
    free(sr->obar_s);
    free(sr->ws);
    free(sr->ys);
    free(sr->dpart);
    free(sr->smat);
    free(sr->tmat);
    free(sr->racc);
    free(sr->sacc);
    free(sr->y);
    free(sr->part);
    free(sr->obar_all);
    free(sr);
}

/* The auto rule of sr.h. Everything it reads is the same on every rank: P,
 * the N_s of all ranks the buffers were sized for (n_total_max), the shifts,
 * and can_dense / can_minsr, which depend only on P, N_s and the budget. */
enum nqs_sr_solver nqs_sr_choose(const struct nqs_sr *sr, double diag_shift, double diag_scale)
{
    if (sr->opt.solver != NQS_SR_AUTO) return sr->opt.solver;
    const double m = sr->n_par < sr->n_total_max ? sr->n_par : sr->n_total_max;
    if (sr_auto_cg_only(sr->n_par, sr->n_total_max) ||
        m * sqrt(diag_shift) > NQS_SR_DIRECT_MAX_SCALE)
        return NQS_SR_CG;
    if (sr->can_minsr && diag_shift > 0 && diag_scale == 0) return NQS_SR_MINSR;
    if (sr->can_dense) return NQS_SR_DENSE;
    return NQS_SR_CG;
}

/* ------------------------------------------------------------------ E and F */

static int sr_check_args(struct nqs_sr *sr, int ld, int n_samples)
{
    if (n_samples < 1 || n_samples > sr->n_max)
        NQS_ERROR(NQS_EINVAL, "SR got %d samples, the solver was allocated for 1..%d", n_samples,
                  sr->n_max);
    if (ld < sr->n_par)
        NQS_ERROR(NQS_EINVAL, "SR: leading dimension %d of O is smaller than n_par = %d", ld,
                  sr->n_par);
    if (sr->layout_set && n_samples != sr->n_local * sr->per_chain)
        NQS_ERROR(NQS_EINVAL, "SR got %d samples, the chain layout says %d chains x %d", n_samples,
                  sr->n_local, sr->per_chain);
    sr_layout_for_call(sr, n_samples);
    return NQS_OK;
}

/* E = <eloc>, ebar = (eloc - E)/sqrt(N_s); *ntot = N_s over all ranks. */
static int sr_energy(struct nqs_sr *sr, const double complex *eloc, double complex *E, long *ntot)
{
    const int pc = sr->per_chain, n = sr->n_local * pc;
    *ntot = (long)sr->n_chains * pc;
    for (int c = 0; c < sr->n_local; c++) {
        double re = 0, im = 0;
        if (sr->wt) {
            for (int s = c * pc; s < (c + 1) * pc; s++) {
                re += sr->wt[s] * creal(eloc[s]);
                im += sr->wt[s] * cimag(eloc[s]);
            }
        } else {
            for (int s = c * pc; s < (c + 1) * pc; s++) {
                re += creal(eloc[s]);
                im += cimag(eloc[s]);
            }
        }
        sr->part[c] = CMPLX(re, im);
    }
    double complex sum;
    NQS_TRY(nqs_rsum_terms((const double *)sr->part, sr->n_local, 2, 2, sr->n_chains, sr->racc,
                           (double *)&sum));
    *E = sr->wt ? sum : sum / (double)*ntot;
    double scale = 1.0 / sqrt((double)*ntot);
    for (int s = 0; s < n; s++) sr->ebar[s] = (eloc[s] - *E) * sr_row_scale(sr, s, scale);
    return NQS_OK;
}

/* ||F|| and the finiteness of E and F. */
static int sr_force_check(struct nqs_sr *sr, const double complex *F, double complex E,
                          double *fnorm)
{
    *fnorm = sr_norm(sr->n_par, F);
    if (!isfinite(creal(E)) || !isfinite(cimag(E)) || !isfinite(*fnorm))
        NQS_ERROR(NQS_ENUMERIC, "SR: non-finite energy or gradient (E = %g%+gi, |F| = %g): a local "
                  "energy or log-derivative is NaN/Inf", creal(E), cimag(E), *fnorm);
    return NQS_OK;
}

/* F = alpha A^H ebar for A (local rows, row-major, lda); summed over chains and ranks. */
static int sr_force(struct nqs_sr *sr, const double complex *A, int lda, double alpha,
                    double complex *F, double complex E, double *fnorm)
{
    const int P = sr->n_par, pc = sr->per_chain;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < sr->n_local; c++) {
        double complex *y = sr->part + (size_t)c * P;
        memset(y, 0, (size_t)P * sizeof *y);
        sr_adjoint_rows(P, A + (size_t)c * pc * lda, (size_t)lda, sr->ebar + (size_t)c * pc, pc, y);
    }
    NQS_TRY(sr_reduce_part(sr, (size_t)P, F));
    for (int p = 0; p < P; p++) F[p] *= alpha;
    return sr_force_check(sr, F, E, fnorm);
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
    long ntot;
    NQS_TRY(sr_energy(sr, eloc, &E, &ntot));
    /* sum_s ebar_s sqrt(w_s) = 0, so O^H (ebar sqrt(w)) = Obar^H ebar without
     * centring O; without weights sqrt(w_s) = 1/sqrt(N_s), applied as alpha. */
    if (sr->wt)
        for (int s = 0; s < n_samples; s++) sr->ebar[s] *= sqrt(sr->wt[s]);
    NQS_TRY(sr_force(sr, O, ld, sr->wt ? 1.0 : 1.0 / sqrt((double)ntot), F, E, &fnorm));
    if (info) sr_info_init(info, NQS_SR_NONE, E, fnorm, ntot);
    return NQS_OK;
}

/* y += sum of `rows` rows of O (leading dimension ld), as 2P doubles. */
SR_MULTIVERSION static void sr_rows_sum(int P, const double *restrict O, size_t ld, int rows,
                                        double *restrict y)
{
    for (int s = 0; s < rows; s++) {
        const double *row = O + 2 * (size_t)s * ld;
        for (int k = 0; k < 2 * P; k++) y[k] += row[k];
    }
}

/* sr->mean = <O>: per-chain partial sums (weighted by w_s when set, else
 * divided by N_s), summed exactly over chains and ranks. */
static int sr_mean(struct nqs_sr *sr, const double complex *O, int ld, long ntot)
{
    const int P = sr->n_par, pc = sr->per_chain;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < sr->n_local; c++) {
        double complex *y = sr->part + (size_t)c * P;
        memset(y, 0, (size_t)P * sizeof *y);
        if (sr->wt)
            for (int s = c * pc; s < (c + 1) * pc; s++) {
                const double complex *row = O + (size_t)s * ld;
                for (int p = 0; p < P; p++) y[p] += sr->wt[s] * row[p];
            }
        else
            sr_rows_sum(P, (const double *)(O + (size_t)c * pc * ld), (size_t)ld, pc, (double *)y);
    }
    NQS_TRY(sr_reduce_part(sr, (size_t)P, sr->mean));
    if (!sr->wt)
        for (int p = 0; p < P; p++) sr->mean[p] /= (double)ntot;
    sr->mean_set = 1;
    return NQS_OK;
}

/* Obar = (O - <O>)/sqrt(N_s) into the solver's buffer. */
static int sr_centre(struct nqs_sr *sr, const double complex *O, int ld, long ntot)
{
    const int P = sr->n_par, n = sr->n_local * sr->per_chain;
    NQS_TRY(sr_mean(sr, O, ld, ntot));
    const double complex *mean = sr->mean;
    const double scale = 1.0 / sqrt((double)ntot);
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        const double complex *row = O + (size_t)s * ld;
        double complex *out = sr->obar + (size_t)s * P;
        const double rs = sr_row_scale(sr, s, scale);
        for (int p = 0; p < P; p++) out[p] = (row[p] - mean[p]) * rs;
    }
    return NQS_OK;
}

/* d_p = sum_s |Obar_sp|^2 over `rows` rows of Obar. */
static void sr_diag_rows(int P, const double complex *rows, int n_rows, double *d)
{
    for (int p = 0; p < P; p++) d[p] = 0;
    for (int s = 0; s < n_rows; s++) {
        const double complex *row = rows + (size_t)s * P;
        for (int p = 0; p < P; p++) d[p] += creal(row[p]) * creal(row[p]) + cimag(row[p]) * cimag(row[p]);
    }
}

/* Per-chain diag(S) partials into sr->part, viewed as doubles with stride 2P. */
static void sr_diag_part(struct nqs_sr *sr)
{
    const int P = sr->n_par, pc = sr->per_chain;
    double *d = (double *)sr->part;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < sr->n_local; c++)
        sr_diag_rows(P, sr->obar + (size_t)c * pc * P, pc, d + 2 * (size_t)c * P);
}

/* One chain's pass of mixed cg: o = (O_s - <O>) scale per row; f += conj(o)
 * ebar_s (the arithmetic and order of sr_adjoint_rows), d += |o|^2, and o in
 * single precision (Re then Im per row). Real arithmetic on doubles. */
SR_MULTIVERSION static void sr_rows_centre_mixed(int P, const double *restrict O, size_t ld,
                                                 int rows, const double *restrict mean,
                                                 double scale, const double *restrict ebar,
                                                 double *restrict f, double *restrict d,
                                                 float *restrict out)
{
    for (int s = 0; s < rows; s++) {
        const double *row = O + 2 * (size_t)s * ld;
        const double er = ebar[2 * s], ei = ebar[2 * s + 1];
        float *outr = out + 2 * (size_t)s * P, *outi = outr + P;
        for (int p = 0; p < P; p++) {
            double ar = (row[2 * p] - mean[2 * p]) * scale;
            double ai = (row[2 * p + 1] - mean[2 * p + 1]) * scale;
            f[2 * p] += ar * er + ai * ei;
            f[2 * p + 1] += ar * ei - ai * er;
            d[p] += ar * ar + ai * ai;
            outr[p] = (float)ar;
            outi[p] = (float)ai;
        }
    }
}

/* Mixed cg: <O> like sr_centre, then in one more pass per chain the
 * chain's partials of F = Obar^H ebar (into sr->part) and of diag(S)
 * (sr->dpart), and the single-precision copy of its rows of Obar. F and
 * diag(S) are then summed over chains and ranks. */
static int sr_centre_mixed(struct nqs_sr *sr, const double complex *O, int ld, long ntot,
                           double complex *F)
{
    const int P = sr->n_par, pc = sr->per_chain;
    NQS_TRY(sr_mean(sr, O, ld, ntot));
    const double complex *mean = sr->mean;
    const double scale = 1.0 / sqrt((double)ntot);
#pragma omp parallel for schedule(static)
    for (int c = 0; c < sr->n_local; c++) {
        double *f = (double *)(sr->part + (size_t)c * P), *d = sr->dpart + (size_t)c * P;
        memset(f, 0, 2 * (size_t)P * sizeof *f);
        memset(d, 0, (size_t)P * sizeof *d);
        if (sr->wt) /* one row at a time, each with its own scale sqrt(w_s) */
            for (int s = c * pc; s < (c + 1) * pc; s++)
                sr_rows_centre_mixed(P, (const double *)(O + (size_t)s * ld), (size_t)ld, 1,
                                     (const double *)mean, sqrt(sr->wt[s]),
                                     (const double *)(sr->ebar + s), f, d,
                                     sr->obar_s + 2 * (size_t)s * P);
        else
            sr_rows_centre_mixed(P, (const double *)(O + (size_t)c * pc * ld), (size_t)ld, pc,
                                 (const double *)mean, scale,
                                 (const double *)(sr->ebar + (size_t)c * pc), f, d,
                                 sr->obar_s + 2 * (size_t)c * pc * P);
    }
    NQS_TRY(sr_reduce_part(sr, (size_t)P, F));
    double *dp = (double *)sr->part; /* diag partials as doubles with stride 2P (sr_diag_part) */
    for (int c = 0; c < sr->n_local; c++)
        memcpy(dp + 2 * (size_t)c * P, sr->dpart + (size_t)c * P, (size_t)P * sizeof *dp);
    return nqs_rsum_terms(dp, sr->n_local, 2 * (size_t)P, (size_t)P, sr->n_chains, sr->racc,
                          sr->diag);
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

/* Cholesky factorisation (lower, column-major) with OpenBLAS on one thread.
 * OpenBLAS's threaded zpotrf blocks the matrix by its thread count, so the
 * last bits of the factor, and with them a whole run's trajectory, would
 * depend on OPENBLAS_NUM_THREADS / OMP_NUM_THREADS (measured with OpenBLAS
 * 0.3.21 for P >= 64), against the rule "same numbers on any number of
 * threads" (docs/architecture.md). zpotrs gave the same bits on 1 to 4
 * threads and keeps its threads; the serial factorisation costs P^3/3
 * against zherk's P^2 n. */
static int sr_potrf(int n, double complex *a)
{
    int threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    int info = (int)LAPACKE_zpotrf_work(LAPACK_COL_MAJOR, 'L', n, a, n);
    openblas_set_num_threads(threads);
    return info;
}

/* (S + eps + rho diag S) delta = F by Cholesky of conj(S) (see the file header).
 * S = sum over chains of S_c = Obar_c^H Obar_c (one zherk per chain, then the
 * exact sum of the lower triangles over chains and ranks). The grid of the
 * exact sum needs a bound known before the S_c: |S_c,ij| <= sqrt(S_c,ii S_c,jj)
 * <= max_p d_c,p, doubled for the rounding of zherk. */
static int sr_solve_dense(struct nqs_sr *sr, double eps, double rho, const double complex *F,
                          double complex *delta)
{
    const int P = sr->n_par, pc = sr->per_chain;
    double complex *a = sr->smat;
    sr_diag_part(sr);
    double bound = 0;
    for (int c = 0; c < sr->n_local; c++) {
        double b = nqs_rsum_bound((const double *)sr->part + 2 * (size_t)c * P, (size_t)P);
        bound = b > bound || isnan(b) ? b : bound;
    }
    bound *= 2.0;
    NQS_TRY(nqs_comm_max_double(&bound, 1));
    struct nqs_rsum r;
    nqs_rsum_begin(&r, sr->sacc, (size_t)P * (size_t)(P + 1), bound, sr->n_chains, 1);
    /* zherk on one OpenBLAS thread: OpenBLAS 0.3.21's threaded zherk gave
     * other last bits on 2 threads than on 1 on AMD EPYC (P = 636, 100 rows),
     * so the trajectory depended on the thread count. */
    int threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    for (int c = 0; c < sr->n_local; c++) {
        cblas_zherk(CblasColMajor, CblasLower, CblasNoTrans, P, pc, 1.0,
                    sr->obar + (size_t)c * pc * P, P, 0.0, a, P);
        /* column j, rows j..P-1, packed by columns; exact, so in any order */
#pragma omp parallel for schedule(dynamic, 8)
        for (int j = 0; j < P; j++)
            nqs_rsum_add(&r, 2 * ((size_t)j * P - (size_t)j * (j - 1) / 2),
                         (const double *)(a + (size_t)j * P + j), 2 * (size_t)(P - j));
    }
    openblas_set_num_threads(threads);
    NQS_TRY(nqs_rsum_reduce(&r));
#pragma omp parallel for schedule(dynamic, 8)
    for (int j = 0; j < P; j++)
        nqs_rsum_fold(&r, 2 * ((size_t)j * P - (size_t)j * (j - 1) / 2),
                      (double *)(a + (size_t)j * P + j), 2 * (size_t)(P - j));
    for (int p = 0; p < P; p++) {
        double d = creal(a[(size_t)p * P + p]);
        a[(size_t)p * P + p] = d * (1.0 + rho) + eps;
    }
    int info = sr_potrf(P, a);
    if (info != 0) return sr_cholesky_fail(info, "S", eps);
    for (int p = 0; p < P; p++) delta[p] = conj(F[p]);
    info = (int)LAPACKE_zpotrs_work(LAPACK_COL_MAJOR, 'L', P, 1, a, P, delta, P);
    if (info != 0) return sr_cholesky_fail(info, "S", eps);
    for (int p = 0; p < P; p++) delta[p] = conj(delta[p]);
    return NQS_OK;
}

/* delta = Obar^H (Obar Obar^H + eps)^{-1} ebar. Obar Obar^H (N_s x N_s) needs
 * every sample's row: on several ranks the rows and ebar are gathered (in
 * global chain order, so the matrix is the one-rank matrix, from the same
 * zherk call), every rank factorises it; delta = sum over chains of
 * Obar_c^H y_c is then summed like F from each rank's own chains. */
static int sr_solve_minsr(struct nqs_sr *sr, double eps, double complex *delta)
{
    const int P = sr->n_par, pc = sr->per_chain;
    const int nt = sr->n_chains * pc;
    const double complex *rows = sr->obar, *eb = sr->ebar;
    if (nqs_comm_size() > 1) {
        NQS_TRY(nqs_comm_allgather_chains(sr->obar, sr->obar_all,
                                          (size_t)pc * (size_t)P * sizeof *sr->obar, sr->n_chains));
        NQS_TRY(nqs_comm_allgather_chains(sr->ebar, sr->ebar_all, (size_t)pc * sizeof *sr->ebar,
                                          sr->n_chains));
        rows = sr->obar_all;
        eb = sr->ebar_all;
    }
    double complex *t = sr->tmat, *y = sr->y;
    /* One OpenBLAS thread: with K = P much larger than N = N_s, OpenBLAS's
     * Zen kernels split the sum over parameters between threads, so the bits
     * of Obar Obar^H (and of the whole trajectory) depended on the thread
     * count (measured with OpenBLAS 0.3.21 on AMD EPYC; the Intel kernels
     * split the output instead). */
    int threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    cblas_zherk(CblasColMajor, CblasLower, CblasConjTrans, nt, P, 1.0, rows, P, 0.0, t, nt);
    openblas_set_num_threads(threads);
    for (int s = 0; s < nt; s++) t[(size_t)s * nt + s] = creal(t[(size_t)s * nt + s]) + eps;
    int info = sr_potrf(nt, t);
    if (info != 0) return sr_cholesky_fail(info, "sample-space (minsr)", eps);
    for (int s = 0; s < nt; s++) y[s] = conj(eb[s]);
    info = (int)LAPACKE_zpotrs_work(LAPACK_COL_MAJOR, 'L', nt, 1, t, nt, y, nt);
    if (info != 0) return sr_cholesky_fail(info, "sample-space (minsr)", eps);
    for (int s = 0; s < nt; s++) y[s] = conj(y[s]);
#pragma omp parallel for schedule(static)
    for (int c = 0; c < sr->n_local; c++) {
        double complex *part = sr->part + (size_t)c * P;
        memset(part, 0, (size_t)P * sizeof *part);
        sr_adjoint_rows(P, sr->obar + (size_t)c * pc * P, (size_t)P,
                        y + (size_t)(sr->first_chain + c) * pc, pc, part);
    }
    return sr_reduce_part(sr, (size_t)P, delta);
}

/* out = (S + eps + rho diag S) v with S v = sum over chains of
 * Obar_c^H (Obar_c v): per chain, blocks of rows (about SR_BLOCK_BYTES of
 * Obar) are still in cache for the second product, which halves the memory
 * traffic when Obar is larger than the cache. The block size does not change
 * the order of any sum. */
#define SR_BLOCK_BYTES (512.0 * 1024)
#define SR_BLOCK_MIN_ROWS 6
/* Rows per block: SR_BLOCK_BYTES of Obar (the L2 cache), at least
 * SR_BLOCK_MIN_ROWS so that the update of the P partial sums is shared by
 * several rows (measured best for P = 1680 and 40500 with N_s = 1000). */
static int sr_block_rows(int P)
{
    return (int)fmax(SR_BLOCK_MIN_ROWS, SR_BLOCK_BYTES / (16.0 * P));
}

static int sr_apply(struct nqs_sr *sr, double eps, double rho, const double complex *v,
                    double complex *out)
{
    const int P = sr->n_par, pc = sr->per_chain;
    int block = sr_block_rows(P);
#pragma omp parallel for schedule(static)
    for (int c = 0; c < sr->n_local; c++) {
        double complex *y = sr->part + (size_t)c * P, *w = sr->w + (size_t)c * pc;
        const double complex *rows = sr->obar + (size_t)c * pc * P;
        memset(y, 0, (size_t)P * sizeof *y);
        for (int s0 = 0; s0 < pc; s0 += block) {
            int b = pc - s0 < block ? pc - s0 : block;
            for (int s = s0; s < s0 + b; s++) w[s] = sr_dot_row(P, rows + (size_t)s * P, v);
            sr_adjoint_rows(P, rows + (size_t)s0 * P, (size_t)P, w + s0, b, y);
        }
    }
    NQS_TRY(sr_reduce_part(sr, (size_t)P, out));
    for (int p = 0; p < P; p++) out[p] += (eps + rho * sr->diag[p]) * v[p];
    return NQS_OK;
}

/* ---------------------------------------------------------- mixed precision
 * Per-row products of the single-precision copy: row s holds P real parts,
 * then P imaginary parts. Sums in a fixed order: 8 lanes per row, 4 rows at
 * a time (so v is read once per 4 rows), lanes folded pairwise. */
#define SR_LANES 8

/* w_k = sum_p a_k,p v_p for the `rows` (1..4) rows starting at a (row
 * stride 2P); w holds (re, im) per row. */
SR_MULTIVERSION static void sr_f_dot(int P, int rows, const float *restrict a,
                                     const float *restrict vr, const float *restrict vi,
                                     float *restrict w)
{
    float accr[4][SR_LANES], acci[4][SR_LANES];
    memset(accr, 0, sizeof accr);
    memset(acci, 0, sizeof acci);
    const size_t rs = 2 * (size_t)P;
    int p = 0;
    if (rows == 4) {
        for (; p + SR_LANES <= P; p += SR_LANES)
            for (int u = 0; u < SR_LANES; u++) {
                float xr = vr[p + u], xi = vi[p + u];
                for (int k = 0; k < 4; k++) {
                    float ar = a[k * rs + p + u], ai = a[k * rs + P + p + u];
                    accr[k][u] += ar * xr - ai * xi;
                    acci[k][u] += ar * xi + ai * xr;
                }
            }
    } else {
        for (; p + SR_LANES <= P; p += SR_LANES)
            for (int k = 0; k < rows; k++)
                for (int u = 0; u < SR_LANES; u++) {
                    float xr = vr[p + u], xi = vi[p + u];
                    float ar = a[k * rs + p + u], ai = a[k * rs + P + p + u];
                    accr[k][u] += ar * xr - ai * xi;
                    acci[k][u] += ar * xi + ai * xr;
                }
    }
    for (int k = 0; k < rows; k++) {
        for (int q = p; q < P; q++) {
            float ar = a[k * rs + q], ai = a[k * rs + P + q];
            accr[k][0] += ar * vr[q] - ai * vi[q];
            acci[k][0] += ar * vi[q] + ai * vr[q];
        }
        for (int h = SR_LANES / 2; h > 0; h /= 2)
            for (int u = 0; u < h; u++) {
                accr[k][u] += accr[k][u + h];
                acci[k][u] += acci[k][u + h];
            }
        w[2 * k] = accr[k][0];
        w[2 * k + 1] = acci[k][0];
    }
}

/* y += sum_k conj(a_k) w_k over `rows` (1..4) rows (planar y). */
SR_MULTIVERSION static void sr_f_adjoint(int P, int rows, const float *restrict a,
                                         const float *restrict w, float *restrict yr,
                                         float *restrict yi)
{
    const size_t rs = 2 * (size_t)P;
    if (rows == 4) {
        for (int p = 0; p < P; p++) {
            float tr = 0, ti = 0;
            for (int k = 0; k < 4; k++) {
                float ar = a[k * rs + p], ai = a[k * rs + P + p];
                tr += ar * w[2 * k] + ai * w[2 * k + 1];
                ti += ar * w[2 * k + 1] - ai * w[2 * k];
            }
            yr[p] += tr;
            yi[p] += ti;
        }
        return;
    }
    for (int k = 0; k < rows; k++)
        for (int p = 0; p < P; p++) {
            float ar = a[k * rs + p], ai = a[k * rs + P + p];
            yr[p] += ar * w[2 * k] + ai * w[2 * k + 1];
            yi[p] += ar * w[2 * k + 1] - ai * w[2 * k];
        }
}

/* Rows per block of the single-precision products: about SR_FBLOCK_BYTES
 * of Obar, still in cache for the second product. */
#define SR_FBLOCK_BYTES (256.0 * 1024)

/* out = (S + eps + rho diag S) v with S v from the single-precision copy:
 * per chain, blocks of rows, groups of 4 rows; the chain's partial in single
 * precision, converted to double and summed over chains and ranks exactly. */
static int sr_apply_single(struct nqs_sr *sr, double eps, double rho, const double complex *v,
                           double complex *out)
{
    const int P = sr->n_par, pc = sr->per_chain;
    int block = (int)fmax(4.0, SR_FBLOCK_BYTES / (8.0 * P));
    block -= block % 4;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < sr->n_local; c++) {
        float *yr = sr->ys + 2 * (size_t)c * P, *yi = yr + P;
        /* v in single precision, planar, in the chain's own slot of q: the
         * first 2P floats of its partial (part is rewritten below) */
        float *vr = (float *)(sr->part + (size_t)c * P), *vi = vr + P;
        for (int p = 0; p < P; p++) {
            vr[p] = (float)creal(v[p]);
            vi[p] = (float)cimag(v[p]);
            yr[p] = yi[p] = 0.0f;
        }
        const float *rows = sr->obar_s + 2 * (size_t)c * pc * P;
        float *w = sr->ws + 2 * (size_t)c * pc;
        for (int s0 = 0; s0 < pc; s0 += block) {
            int b = pc - s0 < block ? pc - s0 : block;
            for (int s = s0; s < s0 + b; s += 4) {
                int k = s0 + b - s < 4 ? s0 + b - s : 4;
                sr_f_dot(P, k, rows + 2 * (size_t)s * P, vr, vi, w + 2 * s);
            }
            for (int s = s0; s < s0 + b; s += 4) {
                int k = s0 + b - s < 4 ? s0 + b - s : 4;
                sr_f_adjoint(P, k, rows + 2 * (size_t)s * P, w + 2 * s, yr, yi);
            }
        }
        double complex *part = sr->part + (size_t)c * P;
        for (int p = 0; p < P; p++) part[p] = CMPLX((double)yr[p], (double)yi[p]);
    }
    NQS_TRY(sr_reduce_part(sr, (size_t)P, out));
    for (int p = 0; p < P; p++) out[p] += (eps + rho * sr->diag[p]) * v[p];
    return NQS_OK;
}

/* The same product in double precision from the caller's O (mixed cg has no
 * double copy of Obar), centring on the fly: per chain,
 * w_s = (O_s . v - <O> . v) / sqrt(N_s), partial = (sum_s conj(O_s) w_s -
 * conj(<O>) sum_s w_s) / sqrt(N_s); summed over chains and ranks exactly. */
static int sr_apply_o(struct nqs_sr *sr, const double complex *O, int ld, long ntot, double eps,
                      double rho, const double complex *v, double complex *out)
{
    const int P = sr->n_par, pc = sr->per_chain;
    const double scale = 1.0 / sqrt((double)ntot);
    const double complex mv = sr_dot_row(P, sr->mean, v);
    int block = sr_block_rows(P);
#pragma omp parallel for schedule(static)
    for (int c = 0; c < sr->n_local; c++) {
        double complex *y = sr->part + (size_t)c * P, *w = sr->w + (size_t)c * pc;
        const double complex *rows = O + (size_t)c * pc * ld;
        memset(y, 0, (size_t)P * sizeof *y);
        double wr = 0, wi = 0;
        for (int s0 = 0; s0 < pc; s0 += block) {
            int b = pc - s0 < block ? pc - s0 : block;
            for (int s = s0; s < s0 + b; s++) {
                /* weighted: w_s (O_s - <O>) . v, and no common factor after the sum */
                double a = sr->wt ? sr->wt[(size_t)c * pc + s] : scale;
                w[s] = (sr_dot_row(P, rows + (size_t)s * ld, v) - mv) * a;
                wr += creal(w[s]);
                wi += cimag(w[s]);
            }
            sr_adjoint_rows(P, rows + (size_t)s0 * ld, (size_t)ld, w + s0, b, y);
        }
        const double fin = sr->wt ? 1.0 : scale;
        for (int p = 0; p < P; p++) y[p] = (y[p] - conj(sr->mean[p]) * CMPLX(wr, wi)) * fin;
    }
    NQS_TRY(sr_reduce_part(sr, (size_t)P, out));
    for (int p = 0; p < P; p++) out[p] += (eps + rho * sr->diag[p]) * v[p];
    return NQS_OK;
}

/* ------------------------------------------------------------------ cg */

/* The caller's O, for the double-precision products of mixed cg. */
struct sr_source {
    const double complex *O;
    int ld;
    long ntot;
};

/* ||F - A x|| in double precision, r = F - A x left in sr->r: from the double
 * copy of Obar, or from O when cg is mixed. */
static int sr_true_residual(struct nqs_sr *sr, const struct sr_source *src, double eps,
                            double rho, const double complex *F, const double complex *x,
                            double *rn)
{
    const int P = sr->n_par;
    if (sr->mixed)
        NQS_TRY(sr_apply_o(sr, src->O, src->ld, src->ntot, eps, rho, x, sr->q));
    else
        NQS_TRY(sr_apply(sr, eps, rho, x, sr->q));
    for (int k = 0; k < P; k++) sr->r[k] = F[k] - sr->q[k];
    *rn = sr_norm(P, sr->r);
    return NQS_OK;
}

/* One run of preconditioned conjugate gradient (Saad, Iterative Methods for
 * Sparse Linear Systems, Alg. 9.1; the preconditioner is the diagonal minv,
 * all ones without one) on A e = r from e = 0, adding e to x as it goes: x
 * enters as x0, sr->r holds F - A x0 (overwritten by the recursive residual).
 * S v in single precision when sr->mixed. Stops at recursive residual
 * <= target (*reached = 1), after `maxit` iterations, or on loss of positive
 * curvature. sr->xbest receives the iterate with the smallest recursive
 * residual (x0 if none is below r0n = ||r||). Returns the iterations done in
 * *it. Scalars are plain loops (sr_vdot), the same on every rank. */
static int sr_cg_run(struct nqs_sr *sr, double eps, double rho, double target, int maxit, int it0,
                     double complex *x, double r0n, int *reached, int *it_out)
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
        if (sr->mixed)
            NQS_TRY(sr_apply_single(sr, eps, rho, p, q));
        else
            NQS_TRY(sr_apply(sr, eps, rho, p, q));
        double complex pq = sr_vdot(P, p, q);
        if (!isfinite(creal(pq)))
            NQS_ERROR(NQS_ENUMERIC, "SR conjugate gradient: non-finite curvature at iteration %d",
                      it0 + it + 1);
        if (!(creal(pq) > 0)) break; /* not positive definite along p: keep the best iterate */
        double complex alpha = rz / creal(pq);
        for (int k = 0; k < P; k++) {
            x[k] += alpha * p[k];
            r[k] -= alpha * q[k];
        }
        double rn = sr_norm(P, r);
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
    *it_out = it;
    return NQS_OK;
}

/* Conjugate gradient from x = 0, preconditioned when cg_precond = jacobi.
 * Double precision: one run; converged when the recursive residual reaches
 * cg_tol ||F||; x is the iterate with the smallest recursive residual and
 * info->residual its true residual.
 * Mixed: runs with the single-precision product, each followed by the true
 * residual of its best iterate in double; converged when that is <= cg_tol
 * ||F||; otherwise, while iterations remain and the last run at least halved
 * the true residual, restart from the best iterate on its true residual
 * (iterative refinement). x is the iterate with the smallest true residual.
 * Returns NQS_NOTCONV when not converged. diag(S) is computed here (double)
 * or comes from sr_centre_mixed. */
static int sr_solve_cg(struct nqs_sr *sr, const struct sr_source *src, double eps, double rho,
                       const double complex *F, double fnorm, double complex *x,
                       struct nqs_sr_info *info)
{
    const int P = sr->n_par;
    double *d = sr->diag, *minv = sr->minv;

    if (!sr->mixed) { /* diag(S)_p = sum_s |Obar_sp|^2 */
        sr_diag_part(sr);
        NQS_TRY(nqs_rsum_terms((const double *)sr->part, sr->n_local, 2 * (size_t)P, (size_t)P,
                               sr->n_chains, sr->racc, d));
    }
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
        int reached = 0, it = 0;
        NQS_TRY(sr_cg_run(sr, eps, rho, target, sr->opt.cg_maxiter - total, total, x, racc,
                          &reached, &it));
        total += it;
        double rn;
        NQS_TRY(sr_true_residual(sr, src, eps, rho, F, sr->xbest, &rn)); /* sets sr->r */
        if (!sr->mixed) {
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
        /* restart from the accepted iterate on its true residual (in sr->r) */
        memcpy(x, sr->xacc, (size_t)P * sizeof *x);
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
    long ntot;
    NQS_TRY(sr_energy(sr, eloc, &E, &ntot));
    const int mixed_cg = solver == NQS_SR_CG && sr->mixed;
    if (mixed_cg) {
        NQS_TRY(sr_centre_mixed(sr, O, ld, ntot, F));
        NQS_TRY(sr_force_check(sr, F, E, &fnorm));
    } else {
        NQS_TRY(sr_centre(sr, O, ld, ntot));
        NQS_TRY(sr_force(sr, sr->obar, sr->n_par, 1.0, F, E, &fnorm));
    }
    sr_info_init(info, solver, E, fnorm, ntot);

    int rc = NQS_OK;
    switch (solver) {
    case NQS_SR_DENSE: rc = sr_solve_dense(sr, diag_shift, diag_scale, F, delta); break;
    case NQS_SR_MINSR: rc = sr_solve_minsr(sr, diag_shift, delta); break;
    case NQS_SR_CG:
        rc = sr_solve_cg(sr, &(struct sr_source){O, ld, ntot}, diag_shift, diag_scale, F, fnorm,
                         delta, info);
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

/* ------------------------------------------------------------------ metric */

/* ||Obar v||^2 = v^H S v from the caller's O and the <O> of the last solve or
 * gradient (sr->mean), centring on the fly so that it works for every solver
 * (mixed cg has no double copy of Obar): per chain, the sum over its rows of
 * |(O_s - <O>) . v|^2 times 1/N_s (or w_s), one thread per chain, then the
 * exact sum over chains and ranks. */
int nqs_sr_metric(struct nqs_sr *sr, const double complex *O, int ld, const double complex *v,
                  double *out)
{
    const int P = sr->n_par, pc = sr->per_chain;
    if (!sr->mean_set)
        NQS_ERROR(NQS_EINTERNAL, "SR metric asked before any solve (no <O> yet)");
    if (ld < P) NQS_ERROR(NQS_EINVAL, "SR metric: leading dimension %d < n_par = %d", ld, P);
    const double scale = 1.0 / ((double)sr->n_chains * (double)pc);
    const double complex mv = sr_dot_row(P, sr->mean, v);
#pragma omp parallel for schedule(static)
    for (int c = 0; c < sr->n_local; c++) {
        const double complex *rows = O + (size_t)c * pc * ld;
        double acc = 0;
        for (int s = 0; s < pc; s++) {
            double complex w = sr_dot_row(P, rows + (size_t)s * ld, v) - mv;
            double a = sr->wt ? sr->wt[(size_t)c * pc + s] : scale;
            acc += a * (creal(w) * creal(w) + cimag(w) * cimag(w));
        }
        sr->part[(size_t)c * P] = CMPLX(acc, 0.0);
    }
    double sum[2];
    NQS_TRY(nqs_rsum_terms((const double *)sr->part, sr->n_local, 2 * (size_t)P, 2, sr->n_chains,
                           sr->racc, sum));
    *out = sum[0];
    if (!isfinite(*out))
        NQS_ERROR(NQS_ENUMERIC, "SR: the metric norm of the update is not finite");
    return NQS_OK;
}
