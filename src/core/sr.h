/*
 * sr.h - stochastic reconfiguration (SR): the energy gradient and the linear
 * solve (S + eps I + rho diag(S)) delta = F on the log-derivative matrix.
 *
 * Inputs per iteration (docs/physics.md "Stochastic reconfiguration"):
 *   O    n_samples x n_par complex, row-major with leading dimension ld:
 *        O[s*ld + p] = d log psi(sigma_s) / d theta_p, NOT centred;
 *   eloc n_samples complex local energies. Samples are equally weighted
 *        (or carry probabilities w_s, see nqs_sr_set_weights).
 * With N_s the number of samples (over all MPI ranks),
 *   Obar_sp = (O_sp - <O_p>)/sqrt(N_s),  ebar_s = (E_loc(s) - E)/sqrt(N_s),
 *   E = <E_loc>,  S = Obar^H Obar (P x P),  F = Obar^H ebar (dE/dtheta*).
 *
 * Solvers (docs/physics.md "Stochastic reconfiguration"):
 *   dense  S by zherk (one per chain), shifts on the diagonal, Cholesky
 *          (zpotrf/zpotrs); memory 16 P^2 bytes plus 16 P (P + 1) for the
 *          exact sum over chains.
 *   cg     matrix-free conjugate gradient, S v = Obar^H (Obar v) by two passes
 *          over Obar per iteration (by default over a single-precision copy,
 *          with double-precision residuals, see cg_precision), optionally
 *          with the Jacobi preconditioner
 *          (1+rho) diag(S) + eps; S is never formed.
 *   minsr  sample space (Chen & Heyl, Nat. Phys. 2024):
 *          delta = Obar^H (Obar Obar^H + eps I)^{-1} ebar, memory 16 N_s^2 bytes.
 *          Equal to the SR update with absolute shift eps and rho = 0 (push-through
 *          identity); needs eps > 0 (the all-ones vector is in the null space of
 *          Obar Obar^H) and refuses rho > 0 (no exact sample-space form).
 *   auto   cg when P >= 1.5 N_s or min(P, N_s) sqrt(eps) > 40; otherwise minsr
 *          when P > N_s, eps > 0, rho = 0 and 16 N_s^2 bytes fit the memory
 *          budget; otherwise dense when P <= 4000 and its bytes fit; otherwise
 *          cg (constants and measurements below). Which of these are possible is
 *          fixed at allocation (buffers), the choice among them per solve (eps, rho).
 *
 * Memory and ownership: the solver owns a centred copy Obar (16 n_samples n_par
 * bytes) filled from the caller's O at every solve, so O is read-only and may
 * be reused by the caller; every other work buffer is also allocated once by
 * nqs_sr_alloc and no solve allocates. The memory budget limits the solver
 * matrices (S or Obar Obar^H), not the Obar copy that every solver needs.
 *
 * Chains and ranks (nqs_sr_set_chains): the rows of a solve are the samples
 * of n_local consecutive Markov chains (per_chain rows each, chain-major) out
 * of n_chains over all MPI ranks; N_s = n_chains * per_chain. Every sum over
 * samples (E, <O>, F, S, S v, diag S, Obar^H y) is a sum over chains of
 * per-chain partial sums, each computed by one thread from its chain's rows,
 * and the sum over chains and ranks is exact (rsum.h); the Cholesky
 * factorisations run on one OpenBLAS thread. So E, F and delta have the same
 * bits for any split of the chains over ranks and threads (a one-rank,
 * one-thread run included) and are identical on every rank (on one kind of
 * CPU: the kernels are compiled per instruction set, see sr.c, like
 * OpenBLAS's). Communication per
 * solve: a few reductions of P values (F, <O>, diag S), one per cg iteration,
 * one of P (P + 1) values for dense S; minsr gathers every rank's rows of Obar
 * (16 N_s P bytes on each rank) and factorises the N_s x N_s matrix on every
 * rank. Without nqs_sr_set_chains the rows of each solve are one chain.
 * Memory: dense adds the exact-sum accumulators of S's lower triangle,
 * 16 P (P + 1) bytes, counted in the memory budget with S.
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

/* The choice of `auto` (nqs_sr_choose), per solve. It reads only quantities
 * that are the same on every MPI rank: P, N_s (all ranks), the shifts eps and
 * rho, and the memory budget. With m = min(P, N_s):
 *   cg     if P >= NQS_SR_CG_MIN_RATIO N_s or m sqrt(eps) > NQS_SR_DIRECT_MAX_SCALE;
 *   minsr  otherwise, if P > N_s, eps > 0, rho = 0 and 16 N_s^2 bytes fit;
 *   dense  otherwise, if P <= NQS_SR_DENSE_MAX_PAR and its bytes fit;
 *   cg     otherwise.
 * Why: per SR step (one thread) dense costs ~1.5e-10 s x N_s P^2 (+ the P^3/3
 * Cholesky), minsr ~1.0e-10 s x N_s^2 P, and mixed-precision cg ~6.5e-10 s x
 * N_s P per iteration, so cg is faster while its iteration count stays below
 * ~m / 5. That count grows as the shift shrinks, roughly like eps^-1/2 (cg
 * converges in ~sqrt(condition number) steps, lambda_max / eps): for P <= N_s
 * 20-55 iterations at eps = 0.1, 45-150 at 0.01, 100-440 at 1e-3, 140-1000 at
 * 1e-4, more later in a run than early. Hence the boundary m sqrt(eps) ~ 40.
 * For P > N_s the null space of S (dimension >= P - N_s + 1) takes one
 * iteration, and from P ~ 1.5 N_s on cg needed few enough to win at every
 * shift measured (P = 40500, N_s = 1000: 13-30 iterations, 4-6 times faster
 * than minsr). rho is not used (it only lowers the cg count); eps = 0 takes
 * a direct solver. Beyond P = 4000 dense was never faster at eps >= 1e-4,
 * and S with its accumulators (32 P^2 bytes) is not worth allocating.
 *
 * The measurements behind these constants (`nqs bench srsweep`, CPU seconds
 * of one SR step per solver and shift) are in docs/performance.md. */
#define NQS_SR_CG_MIN_RATIO 1.5     /* P / N_s from which auto always uses cg */
#define NQS_SR_DIRECT_MAX_SCALE 40.0 /* auto: direct solver only if min(P, N_s) sqrt(eps) <= this */
#define NQS_SR_DENSE_MAX_PAR 4000   /* largest P for which auto uses (and allocates) dense */

/* Arithmetic of the cg matrix-vector products. */
enum nqs_sr_precision {
    NQS_SR_PREC_AUTO = 0,  /* mixed when n_par >= NQS_SR_MIXED_MIN_PAR, else double */
    NQS_SR_PREC_DOUBLE = 1,
    NQS_SR_PREC_MIXED = 2  /* S v from a single-precision copy of Obar; residuals in double */
};
/* From this parameter count on, auto uses mixed precision: with ~1000 samples
 * Obar is then a few MB and S v memory bound. A parameter count, not a byte
 * count, so that every MPI rank (with its own share of the samples) makes the
 * same choice. */
#define NQS_SR_MIXED_MIN_PAR 256

/* Preconditioner of cg. */
enum nqs_sr_precond {
    NQS_SR_PRECOND_NONE = 0,  /* plain cg on S + eps + rho diag S */
    NQS_SR_PRECOND_JACOBI = 1 /* M = (1 + rho) diag S + eps */
};

struct nqs_sr_options {
    enum nqs_sr_solver solver; /* NQS_SR_AUTO lets the solver choose per solve */
    double cg_tol;             /* relative residual ||F - A delta|| / ||F|| for cg */
    int cg_maxiter;            /* cg iterations before giving up (NQS_NOTCONV) */
    double mem_budget;         /* bytes allowed for the solver matrix (S or Obar Obar^H) */
    enum nqs_sr_precision cg_precision; /* default auto */
    enum nqs_sr_precond cg_precond;     /* default none */
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
 * one step; the Jacobi scaling spreads it over eps / (diag S_p + eps). Even
 * on the synthetic O of bench/sr_synthetic.c, whose column scales span two decades,
 * plain cg needed 58 against 230 iterations.
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
 * cg_precision: mixed cg keeps x, r, p and every residual test in double and
 * takes S v from a single-precision copy of Obar (8 n P bytes, replacing the
 * 16 n P of the double copy when solver = cg); after the iterations it
 * computes the true residual F - (S + shifts) delta in double from O itself
 * and, if that is above cg_tol, restarts cg on it (iterative refinement;
 * Carson & Higham, SIAM J. Sci. Comput. 40, A817 (2018)), so any cg_tol is
 * reachable. The rounding of Obar to single precision perturbs S by ~1e-7
 * relative, far below its Monte Carlo error. The products are per-chain
 * plain loops with a fixed summation order, like the double ones, so the
 * reproducibility of "Chains and ranks" holds for both precisions. */
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
 * NQS_ENOMEM when a forced dense (16 n_par^2 + 16 n_par (n_par + 1) bytes) or
 * minsr (16 n_samples^2)
 * matrix exceeds opt->mem_budget; the message states the bytes needed.
 * nqs_sr_alloc fails with the same message in these cases (allocators return
 * NULL, so call this first when the status code matters). */
int nqs_sr_check(int n_par, int n_samples, const struct nqs_sr_options *opt);

/* Allocate a solver for n_par parameters and at most n_samples (local)
 * samples per solve. Buffers: Obar (unless NQS_SR_NONE), the CG vectors, S
 * and its accumulators when dense is forced or possible for auto, and Obar Obar^H
 * (16 N_s^2) when minsr is forced or possible for auto. Returns NULL with a
 * message: NQS_EINVAL for non-positive sizes or bad options, NQS_ENOMEM when a
 * forced dense/minsr matrix exceeds the memory budget (the message states the
 * bytes needed) or an allocation fails. */
struct nqs_sr *nqs_sr_alloc(int n_par, int n_samples, const struct nqs_sr_options *opt);
void nqs_sr_free(struct nqs_sr *sr);

/* Chain layout of the following solves (header, "Chains and ranks"): this
 * rank holds chains first_chain .. first_chain + n_local - 1 of n_chains, each
 * with per_chain samples; every solve then passes n_local * per_chain rows.
 * On several MPI ranks the blocks must be those of nqs_comm_split and every
 * rank must call this with the same n_chains and per_chain (a collective
 * setting: the solver choice of `auto` uses N_s = n_chains * per_chain).
 * Re-allocates the buffers that depend on N_s. NQS_EINVAL for an impossible
 * layout (more rows than allocated, a block outside 0..n_chains-1);
 * NQS_ENOMEM as nqs_sr_check for N_s, or when an allocation fails. */
int nqs_sr_set_chains(struct nqs_sr *sr, int n_chains, int first_chain, int n_local, int per_chain);

/* Weighted samples (exact enumeration, sampler.h): w holds one probability
 * per local row of the following solves (n_local * per_chain entries, the
 * weights of all ranks summing to 1), and every average over samples becomes
 * a weighted one: E = sum_s w_s E_loc(s), <O> = sum_s w_s O_s,
 * Obar_s = sqrt(w_s) (O_s - <O>), ebar_s = sqrt(w_s) (E_loc(s) - E), so S and
 * F are the exact expectations of the state. w is borrowed (the caller keeps
 * it alive and may change its values between solves); NULL restores equal
 * weights 1/N_s. Rows of weight 0 (padding) contribute nothing. */
void nqs_sr_set_weights(struct nqs_sr *sr, const double *w);

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

/* The metric norm of a parameter change v: v^H S v = ||Obar v||^2 (the
 * squared Fubini-Study length of the state change v to first order), for the
 * samples and the <O> of the last nqs_sr_solve (O must be the same matrix,
 * rows and weights). Exact per-chain sums, so the same bits for any split of
 * the chains over threads and ranks; collective on several ranks. Costs one
 * pass over O (as one S v product). NQS_EINTERNAL before any solve,
 * NQS_ENUMERIC if the result is not finite. */
int nqs_sr_metric(struct nqs_sr *sr, const double complex *O, int ld, const double complex *v,
                  double *out);

#endif
