/*
 * sr.h - stochastic reconfiguration (SR): the energy gradient and the linear
 * solve (S + eps I + rho diag(S)) delta = F on the log-derivative matrix.
 *
 * Inputs per iteration (PHYSICS.md "Stochastic reconfiguration"):
 *   O    n_samples x n_par complex, row-major with leading dimension ld:
 *        O[s*ld + p] = d log psi(sigma_s) / d theta_p, NOT centred;
 *   eloc n_samples complex local energies. Samples are equally weighted.
 * With N_s the number of samples (over all MPI ranks, later),
 *   Obar_sp = (O_sp - <O_p>)/sqrt(N_s),  ebar_s = (E_loc(s) - E)/sqrt(N_s),
 *   E = <E_loc>,  S = Obar^H Obar (P x P),  F = Obar^H ebar (dE/dtheta*).
 *
 * Solvers (DESIGN.md "Solvers for SR"):
 *   dense  S by one zherk, shifts on the diagonal, Cholesky (zpotrf/zpotrs);
 *          memory 16 P^2 bytes.
 *   cg     matrix-free conjugate gradient, S v = Obar^H (Obar v) by two gemv per
 *          iteration (in single precision with double-precision residuals by
 *          default, see cg_precision), optionally with the Jacobi preconditioner
 *          (1+rho) diag(S) + eps; S is never formed.
 *   minsr  sample space (Chen & Heyl, Nat. Phys. 2024):
 *          delta = Obar^H (Obar Obar^H + eps I)^{-1} ebar, memory 16 N_s^2 bytes.
 *          Equal to the SR update with absolute shift eps and rho = 0 (push-through
 *          identity); needs eps > 0 (the all-ones vector is in the null space of
 *          Obar Obar^H) and refuses rho > 0 (no exact sample-space form).
 *   auto   minsr when P > N_s, 16 N_s^2 bytes fit the memory budget, eps > 0 and
 *          rho = 0; otherwise dense when 16 P^2 bytes fit the budget and
 *          P <= NQS_SR_DENSE_MAX_PAR; otherwise cg. Which of these are possible is
 *          fixed at allocation (buffers), the choice among them per solve (eps, rho).
 *
 * Memory and ownership: the solver owns a centred copy Obar (16 n_samples n_par
 * bytes) filled from the caller's O at every solve, so O is read-only and may
 * be reused by the caller; every other work buffer is also allocated once by
 * nqs_sr_alloc and no solve allocates. The memory budget limits the solver
 * matrices (S or Obar Obar^H), not the Obar copy that every solver needs.
 *
 * Parallel layout: every sum over samples goes through one internal reduction
 * in sr.c (the identity in this serial build, MPI_Allreduce later). A later MPI
 * build passes only the rank's local samples (n_samples = local count) and
 * gets the global E, F and delta on every rank; minsr will then gather the
 * samples (see sr.c).
 */
#ifndef NQS_SR_H
#define NQS_SR_H

#include <complex.h>
#include <stddef.h>
#include <stdio.h>

enum nqs_sr_solver {
    NQS_SR_AUTO = 0,
    NQS_SR_DENSE = 1,
    NQS_SR_CG = 2,
    NQS_SR_MINSR = 3,
    NQS_SR_NONE = 4 /* gradient only (Adam, SGD): no Obar copy, no solver buffers */
};

/* Largest P for which `auto` prefers the dense solver over CG. Measured on
 * 2 cores (OpenBLAS, synthetic SR-like O of src/bench_sr.c, eps = 0.01,
 * cg_tol 1e-6, where cg needs 260-410 iterations), CPU seconds dense / cg:
 * P = 500, 1000, 2000, 3000, 4000 (N_s = 2P, 2P, 2P, P, P) gave 0.30, 0.28,
 * 0.38, 0.51, 0.59. Both costs grow with N_s alike and the ratio grows ~P,
 * reaching 1 near P ~ 6500; beyond, 16 P^2 bytes also becomes large.
 * (Measured before mixed-precision cg without preconditioner and cg_tol 1e-4,
 * which made cg 3-5 times faster per solve: at P = 1681, N_s = 1000 synthetic,
 * dense 0.40 s, cg 0.056 s. The crossover is now lower; to be re-measured over
 * a range of shifts before this value is changed.) */
#define NQS_SR_DENSE_MAX_PAR 6000

/* Arithmetic of the cg matrix-vector products (added by the perf branch). */
enum nqs_sr_precision {
    NQS_SR_PREC_AUTO = 0,  /* mixed when Obar has at least NQS_SR_MIXED_MIN_BYTES, else double */
    NQS_SR_PREC_DOUBLE = 1,
    NQS_SR_PREC_MIXED = 2  /* S v from a single-precision copy of Obar; residuals in double */
};
#define NQS_SR_MIXED_MIN_BYTES (4.0 * 1024 * 1024)

/* Preconditioner of cg (added by the perf branch). */
enum nqs_sr_precond {
    NQS_SR_PRECOND_NONE = 0,  /* plain cg on S + eps + rho diag S */
    NQS_SR_PRECOND_JACOBI = 1 /* M = (1 + rho) diag S + eps */
};

struct nqs_sr_options {
    enum nqs_sr_solver solver; /* NQS_SR_AUTO lets the solver choose per solve */
    double cg_tol;             /* relative residual ||F - A delta|| / ||F|| for cg */
    int cg_maxiter;            /* cg iterations before giving up (NQS_NOTCONV) */
    double mem_budget;         /* bytes allowed for the solver matrix (S or Obar Obar^H) */
    enum nqs_sr_precision cg_precision; /* added by the perf branch; default auto */
    enum nqs_sr_precond cg_precond;     /* added by the perf branch; default none */
};

/* Defaults: auto, cg_tol 1e-4, cg_maxiter 1000, mem_budget 4 GiB, cg_precision auto,
 * cg_precond none.
 *
 * cg_precond: on log-derivatives sampled from real models (1000 samples,
 * eps = 0.01, after 30 SR iterations) plain cg needed fewer iterations than
 * Jacobi in every case measured, at cg_tol 1e-4: TFIM chain 40 rbm alpha 1
 * 88 against 121, alpha 2 89 / 122, Heisenberg 10x10 rbm alpha 1 25 / 77,
 * TFIM 6x6 cnn 8,8 10 / 50-71. The shift eps I gives the null space of S
 * (dimension >= P - N_s + 1) a single eigenvalue eps, which cg resolves in
 * one step; the Jacobi scaling spreads it over eps / (diag S_p + eps). Jacobi
 * pays off when the columns of O differ in scale by orders of magnitude (the
 * synthetic O of bench_sr.c).
 *
 * cg_tol: the error of delta after cg is measured at 6-9 x cg_tol (relative,
 * TFIM chain N = 40, dense RBM, 1680 parameters, eps = 0.01, after 30 SR
 * iterations, against the Cholesky solution, cg_tol 1e-2 ... 1e-6), while the
 * statistical error of delta from 1000 samples is ~45 % (half the difference
 * of the updates from two independent halves of the samples). 1e-4 keeps the
 * algebraic error ~500 times below the statistical one there, and below it up
 * to ~1e8 samples, at 98 instead of 154 iterations for 1e-6 (nqs bench sr).
 * A warm start from the previous update was measured to need MORE iterations
 * (the previous delta differs from the new one by about its own size, that
 * statistical error), so cg starts from 0.
 *
 * cg_precision: mixed mixed-precision cg keeps x, r, p and every residual
 * test in double and takes S v from a single-precision copy of Obar
 * (cgemv; 8 n P extra bytes); after the iterations it computes the true
 * residual F - (S + shifts) delta in double and, if that is above cg_tol,
 * restarts cg on it (iterative refinement; Carson & Higham, SIAM J. Sci.
 * Comput. 40, A817 (2018)), so any cg_tol is reachable. The rounding of Obar
 * to single precision perturbs S by ~1e-7 relative, far below its Monte Carlo
 * error. Measured one-thread cost of S v (2 gemv, blocks in cache) at
 * P = 1680, N_s = 1000: 1.85 ms double, 0.49 ms mixed; P = 40500: 52 ms,
 * 24 ms. */
void nqs_sr_options_default(struct nqs_sr_options *opt);

/* What one solve did. */
struct nqs_sr_info {
    enum nqs_sr_solver solver; /* solver actually used (never AUTO) */
    int iterations;            /* cg iterations (0 for the direct solvers) */
    double residual;           /* cg: true relative residual ||F - A delta||/||F|| of the
                                  returned delta; 0 for the direct solvers */
    int converged;             /* 1 unless cg stopped before reaching cg_tol */
    double complex energy;     /* E = <E_loc> */
    double grad_norm;          /* ||F||_2 */
    long n_samples;            /* N_s, samples over all ranks */
};

struct nqs_sr;

/* Check that a solver for (n_par, n_samples) with these options can be built,
 * without allocating: NQS_EINVAL for non-positive sizes or bad options,
 * NQS_ENOMEM when a forced dense (16 n_par^2 bytes) or minsr (16 n_samples^2)
 * matrix exceeds opt->mem_budget; the message states the bytes needed.
 * nqs_sr_alloc fails with the same message in these cases (allocators return
 * NULL, so call this first when the status code matters). */
int nqs_sr_check(int n_par, int n_samples, const struct nqs_sr_options *opt);

/* Allocate a solver for n_par parameters and at most n_samples (local)
 * samples per solve. Buffers: Obar (unless NQS_SR_NONE), the CG vectors, S
 * (16 P^2 bytes) when dense is forced or possible for auto, and Obar Obar^H
 * (16 N_s^2) when minsr is forced or possible for auto. Returns NULL with a
 * message: NQS_EINVAL for non-positive sizes or bad options, NQS_ENOMEM when a
 * forced dense/minsr matrix exceeds the memory budget (the message states the
 * bytes needed) or an allocation fails. */
struct nqs_sr *nqs_sr_alloc(int n_par, int n_samples, const struct nqs_sr_options *opt);
void nqs_sr_free(struct nqs_sr *sr);

/* Solver a solve with these shifts would use (never NQS_SR_AUTO unless the
 * object was allocated with NQS_SR_NONE, which returns NQS_SR_NONE). */
enum nqs_sr_solver nqs_sr_choose(const struct nqs_sr *sr, double diag_shift, double diag_scale);

/* "auto", "dense", "cg", "minsr", "none". */
const char *nqs_sr_solver_name(enum nqs_sr_solver solver);

/* Energy and gradient only: E and F = Obar^H ebar (computed as O^H ebar,
 * divided by sqrt(N_s), equal because sum_s ebar_s = 0). F has n_par entries.
 * NQS_EINVAL for n_samples outside [1, allocated] or ld < n_par;
 * NQS_ENUMERIC when E or F is not finite. */
int nqs_sr_gradient(struct nqs_sr *sr, const double complex *O, int ld,
                    const double complex *eloc, int n_samples, double complex *F,
                    struct nqs_sr_info *info);

/* Full SR: centre O into the solver's copy, compute E, F and solve
 * (S + diag_shift I + diag_scale diag(S)) delta = F with the configured solver.
 * F and delta are caller buffers of n_par entries; info may be NULL.
 * Returns NQS_OK; NQS_NOTCONV (not an error) when cg stopped at cg_maxiter or
 * broke down: delta is then the iterate with the smallest residual seen and
 * info->converged = 0; NQS_EINVAL for bad sizes or shifts (negative, minsr
 * with diag_shift = 0 or diag_scale > 0, NQS_SR_NONE object); NQS_ENUMERIC for
 * NaN/Inf in E, F or delta, or when the shifted matrix is not positive
 * definite for the Cholesky factorisation (the message suggests raising
 * diag_shift). On error delta is unspecified. */
int nqs_sr_solve(struct nqs_sr *sr, const double complex *O, int ld, const double complex *eloc,
                 int n_samples, double diag_shift, double diag_scale, double complex *F,
                 double complex *delta, struct nqs_sr_info *info);

/* Benchmark (src/bench_sr.c): time per SR step for each solver at the sizes of
 * the standard problems, OpenBLAS with 2 threads, peak memory; prints a table
 * to `out`. Returns a status (NQS_ENOMEM if a case cannot be allocated). */
int nqs_bench_sr(FILE *out);

#endif
