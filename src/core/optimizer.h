/*
 * optimizer.h - the parameter update of one VMC iteration: stochastic
 * reconfiguration (sr), Adam or plain gradient descent (sgd), with the
 * learning-rate and diagonal-shift schedules of the [optimizer] section.
 *
 * Every method starts from the energy gradient F = Obar^H ebar = dE/dtheta*
 * (sr.h) and sets theta <- theta - eta_t delta:
 *   sr    (S + eps_t I + rho diag S) delta = F   (solver: sr.h)
 *   sgd   delta = F
 *   adam  Kingma & Ba, ICLR 2015, Alg. 1, with beta1 = 0.9, beta2 = 0.999,
 *         eps = 1e-8, bias-corrected, applied to the 2P real numbers
 *         (Re F_p, Im F_p) component-wise: delta_p = mhat_re/(sqrt(vhat_re)+eps)
 *         + i mhat_im/(sqrt(vhat_im)+eps). Since F = (dE/dRe theta + i dE/dIm theta)/2
 *         this is Adam on the real and imaginary parts as independent real parameters.
 * Schedules (per iteration t = 0, 1, ... counted in successful steps):
 *   eta_t = max(learning_rate * learning_rate_decay^t, learning_rate_min)
 *   eps_t = max(diag_shift * diag_shift_decay^t, diag_shift_min)
 * computed by multiplying the current value after every successful step and
 * clamping at the floor (a decay of 1 keeps the value constant, the floor then
 * does nothing). The current values are part of the exported state, so a
 * restart continues the schedule. diag_scale (rho) is constant.
 *
 * [optimizer] keys and defaults (table nqs_optimizer_options):
 *   method = sr (sr|adam|sgd)      iterations = 300
 *   learning_rate = 0.01           learning_rate_decay = 1   learning_rate_min = 0
 *   diag_shift = 0.001             diag_shift_decay = 1      diag_shift_min = 1e-4
 *   diag_scale = 0                 solver = auto (auto|dense|cg|minsr)
 *   cg_tol = 1e-4                  cg_maxiter = 1000         memory_budget = 4 (GiB)
 *   cg_precision = auto (auto|double|mixed)   cg_preconditioner = none (none|jacobi); sr.h
 *   max_step = 0.05                step_check = true         learning_rate_max = 0.03
 *   time_limit = 0 (seconds; the driver's, not the update's)
 *   anneal_window = 50             anneal_floor = 0.03125
 * The defaults favour robustness over speed: eta starts at 0.01 with
 * eps = 0.001 (NetKet's examples use eta 0.01-0.05 and eps 0.01-0.1), the step bound
 * max_step = 0.05 takes care of the first updates from the nearly uniform
 * initial state (init_std = 0.01, where S is tiny and delta = S^-1 F huge),
 * and eta grows to learning_rate_max = 0.03 once the bound is inactive; the
 * plateau annealing (below) halves it when the energy stops falling.
 * The ceiling, measured: 0.05 at first; 0.02 (before the annealing) after
 * the periodic 6x6 Heisenberg lattice, where 0.05 kept raising the energy by
 * ~10 error bars every few dozen updates (rbm_symm alpha 2, 250 iterations:
 * 2.1e-3 against 5.5e-4); with the annealing, 0.02 is too slow for the TFIM
 * chain N = 12 at h = 0.8 (2.8e-3 after 100 iterations; 0.03: 3.8e-4), while
 * 0.05 froze one J1-J2 4x4 run of the robustness benchmark (README) in a
 * metastable mode and 0.03 none; on the 6x6 lattice (alpha 4, 400
 * iterations) 0.05 gave 3.8e-4 against 4.8e-4 for 0.02.
 * The step bound, measured: 0.1 at first; 0.05 since rbm_symm alpha 8 on the
 * J1-J2 6x6 lattice (J2 = 0.5) and alpha 16 on the Heisenberg 6x6 lattice,
 * with the ceiling 0.03, took steps of Fubini-Study length 0.06-0.1 for
 * dozens of iterations and broke down (J1-J2: 15 rejections and E = -32 +- 15
 * after 100 iterations; Heisenberg alpha 16: from 1.9e-3 at iteration 31 to
 * 1.1e-2 at 140), while max_step 0.05 gives 1.9e-2 after 100 iterations
 * (0.04: 1.8e-2 with 1 rejection, 0.02: 2.0e-2 with none) and the TFIM chain
 * N = 12 keeps its 100-iteration figures (6.1e-4, 5.4e-4, 3.6e-4 for model
 * seeds 1-3; with 0.02 it misses 1e-3).
 * The shift, measured: 0.01 at first; 0.001 since the robustness benchmark
 * (500 iterations) showed a TFIM chain N = 40 run (model seed 3) stuck at
 * 4e-4 with 0.01, with or without the annealing, and at 9e-5 with 0.001,
 * the benchmark's largest ratio to the best learning rate falling from 3.2
 * to 2.5; the exact final-state energies of the 4x4 Heisenberg runs fell
 * from 5.3e-4 to 4.7e-4, and rbm_symm alpha 4 on 4x4 from 2.1e-5 to 1.8e-5
 * (300 iterations), alpha 4 on 6x6 from 4.8e-4 (variance 1.31) to 4.7e-4
 * (variance 1.10; 400 iterations).
 * For Adam eta = 0.01 is at the upper end of the
 * usual range (the bound and the growth are SR-only; the review and the
 * ceiling apply).
 *
 * Step control (sr only, max_step > 0). An SR update theta -> theta - eta delta
 * changes the state by a Fubini-Study length, to first order,
 *   d = eta sqrt(delta^H S delta) = eta ||Obar delta||
 * (sr.h nqs_sr_metric; ||Obar delta||^2 is the variance of the change of
 * log psi over the samples). When d > max_step the update is shortened to
 * eta_eff = max_step / ||Obar delta||, so d = max_step; otherwise eta_eff = eta.
 * The schedule value eta_t is not changed by the bound. Why: with small
 * initial parameters S is tiny and ill-conditioned, delta = S^-1 F is huge and
 * a fixed eta moves the state by most of the way to an orthogonal one in one
 * step (the chains then freeze); the bound caps exactly that, and it is
 * inactive once d < max_step (near convergence d ~ eta sqrt(Var E_loc) -> 0).
 *
 * Step review (step_check = true, every method). The driver samples the
 * parameters an update produced and hands the statistics to
 * nqs_optimizer_review before the next update. Compared with the statistics
 * of the samples the update came from, the update is rejected when
 *   E_new - E_old > NQS_OPT_REJECT_SIGMAS sqrt(err_old^2 + err_new^2)
 *                   + NQS_OPT_REJECT_REL |E_old|           (energy rise), or
 *   acc_new < NQS_OPT_REJECT_ACC_FACTOR acc_old, acc_old >= NQS_OPT_REJECT_ACC_MIN
 *                                                          (acceptance collapse), or
 *   rhat_new > NQS_OPT_REJECT_RHAT and rhat_old <= NQS_OPT_MIXED_RHAT
 *                                                          (chains stop mixing), or
 *   E_new is not finite.
 * A rejected update is redone NQS_OPT_REJECT_SHRINK times as long from the
 * parameters before it (theta_old - dstep/4), and eta is damped by 1/2 for
 * the following updates (the damping recovers by NQS_OPT_DAMP_RECOVER per
 * update); the driver then samples again (with burn_in_first sweeps). The
 * NQS_OPT_MAX_REJECTIONS-th rejection in a row takes the update back
 * entirely (theta_old). If the samples of theta_old, the parameters the
 * reference was measured with, still draw a complaint, the step is not to
 * blame: non-finite or frozen samples (acceptance < NQS_OPT_FROZEN_ACC) make
 * the review return NQS_ENUMERIC ("cannot recover", parameters = theta_old);
 * any other complaint is a fluctuation of the reference or of the sampler
 * and the run goes on from theta_old with these samples as the reference
 * and the damping of eta undone (the step was not to blame).
 *
 * Ceiling and growth (learning_rate_max > 0): eta_0 = min(learning_rate,
 * learning_rate_max); with SR, the step bound on (max_step > 0) and a
 * constant schedule (learning_rate_decay = 1), after every update that the
 * step bound did not shorten,
 * eta_t <- min(1.1 eta_t, learning_rate_max), so a small learning_rate is not
 * a slow run; a decaying schedule is the user's own and never grows.
 * learning_rate_max = 0 restores the plain schedule. Why a ceiling: in the
 * robustness benchmark (README) eta = 0.1 left one of three Heisenberg-chain
 * runs with a Markov chain stuck in a spurious high-energy mode late in the
 * run (relative error 2e-2 against 1e-4), which neither the bound (inactive
 * near convergence) nor the review (the mode was already there before the
 * update) can undo; 0.05 did not.
 * The variance test catches samples that sit next to a node of psi: a
 * local energy with a huge ratio psi(s')/psi(s) makes the variance jump by
 * orders of magnitude while the mean, with an error bar as large, proves
 * nothing (J1-J2 4x4 in the robustness benchmark: E = -33.2 +- 0.1, var 11.5,
 * then -655 +- 832, var 9e8; the update computed from those samples then
 * drove the state into a frozen, high-energy mode that the review, seeing
 * only acceptances, accepted as a fluctuation).
 * Chains stuck in separate modes: NQS_OPT_UNMIXED_MAX accepted iterations
 * in a row with split-R-hat above NQS_OPT_REJECT_RHAT make the review return
 * NQS_ENUMERIC ("cannot recover"). Why: |psi|^2 then has metastable modes the
 * chains fall into one by one and never leave (J1-J2 6x6, rbm_symm alpha 8:
 * E = -71.4 +- 0.1, then -49, -42, -35, -28, -21 as chains fell into a mode
 * of local energy ~ +40, R-hat 14-28, 195 iterations in a row, the run still
 * going with exit status 0); no step length undoes that, and a result from
 * such samples is not an estimate of anything. Healthy runs have no such
 * iteration at all (none in the 75 runs of the robustness benchmark).
 * step_check = false switches this stop off with the rest of the review.
 * Measured since (J1-J2 6x6, rbm_symm alpha 4, the modes being configurations
 * of ferromagnetic domains with |psi|^2 e^18 times the typical one and the
 * wrong phase): with the review off, a run with two of 16 chains stuck
 * released them after 45 and 125 iterations (the gradient of their samples
 * lowers the mode) and fell into another mode 300 iterations later; letting
 * only the energy judge updates while the reference is unmixed let
 * near-node samples (variances of 1e13, energies of -3e4) through and
 * wrecked the state. So the review stays as it is.
 * Exact sampling has error 0 and NaN acceptance: the energy test applies,
 * with the relative tolerance NQS_OPT_REJECT_REL, and the variance test.
 *
 * Plateau annealing (anneal_window = W > 0, every method). The statistics of
 * every accepted review (energy E_t, error bar s_t) enter a ring of the last
 * 2W; with at least 2W since the last change, the means of the older and the
 * newer W,
 *   Ebar_old - Ebar_new <= sqrt(sum_old s_t^2 + sum_new s_t^2) / W,
 * (the energy no longer falls by more than one combined error bar) halves the
 * factor anneal_scale on eta, down to anneal_floor, and empties the windows.
 * eta used = eta_t * damping * anneal_scale. Why: once a state is at the
 * plateau of its learning rate, the energy is set by the noise of the steps
 * (eta times the Monte Carlo error of the SR direction), and a smaller step
 * lowers it; measured on the periodic 6x6 Heisenberg lattice (rbm_symm alpha
 * 4 over the space group), 400 iterations at eta/4 after the plateau gained
 * 1.7x in relative error, four times the samples at the same cost 1.4x. The
 * rule looks only at the past, so a run continued by --restart is the same
 * run, bit for bit; the ring and the factor are in the exported state.
 */
#ifndef NQS_OPTIMIZER_H
#define NQS_OPTIMIZER_H

#include <complex.h>
#include <stddef.h>

#include "options.h"
#include "sr.h"

enum nqs_opt_method { NQS_METHOD_SR = 0, NQS_METHOD_ADAM = 1, NQS_METHOD_SGD = 2 };

/* Step review thresholds (see above). */
#define NQS_OPT_REJECT_SIGMAS 5.0
#define NQS_OPT_REJECT_REL 1e-9
#define NQS_OPT_REJECT_ACC_FACTOR 0.25
#define NQS_OPT_REJECT_ACC_MIN 0.01
#define NQS_OPT_REJECT_RHAT 1.5
#define NQS_OPT_REJECT_VAR 100.0  /* variance explosion factor (see below) */
#define NQS_OPT_UNMIXED_MAX 50    /* accepted iterations in a row with split-R-hat above
                                     NQS_OPT_REJECT_RHAT that end the run (see below) */
#define NQS_OPT_VAR_FLOOR 1e-6    /* ... relative to E^2, for nearly exact states */
#define NQS_OPT_MIXED_RHAT 1.2
#define NQS_OPT_REJECT_SHRINK 0.25
#define NQS_OPT_MAX_REJECTIONS 4
#define NQS_OPT_FROZEN_ACC 1e-3   /* acceptance of frozen chains (give-up test) */
#define NQS_OPT_DAMP_RECOVER 1.2  /* the rejection damping recovers by this per update */
#define NQS_OPT_GROW 1.1          /* eta growth per unshortened update (learning_rate_max) */

/* The [optimizer] section as typed values. */
struct nqs_optimizer_params {
    enum nqs_opt_method method;
    long iterations;               /* for the driver: optimisation iterations to run */
    double learning_rate, learning_rate_decay, learning_rate_min;
    double diag_shift, diag_shift_decay, diag_shift_min; /* eps, absolute (sr only) */
    double diag_scale;             /* rho, relative to diag(S) (sr only) */
    double max_step;               /* bound on the Fubini-Study step length (sr only; 0 = off) */
    int step_check;                /* review every update on the next samples */
    double learning_rate_max;      /* eta_t grows up to this (0 = no growth) */
    double time_limit;             /* for the driver: seconds of optimisation (0 = no limit) */
    int anneal_window;             /* W of the plateau annealing (0 = off) */
    double anneal_floor;           /* smallest factor the annealing applies to eta */
    double clip;                   /* local-energy clipping width in mean absolute deviations
                                      (nqs_optimizer_clip; 0 = off) */
    struct nqs_sr_options sr;      /* solver, cg_tol, cg_maxiter, mem_budget (bytes), cg_precision */
};

/* Option table of [optimizer], in the order of enum nqs_optimizer_key. */
extern const struct nqs_opt_def nqs_optimizer_options[];
extern const int nqs_optimizer_n_options;

enum nqs_optimizer_key {
    NQS_OPTK_METHOD, NQS_OPTK_ITERATIONS, NQS_OPTK_LEARNING_RATE, NQS_OPTK_LEARNING_RATE_DECAY,
    NQS_OPTK_LEARNING_RATE_MIN, NQS_OPTK_DIAG_SHIFT, NQS_OPTK_DIAG_SHIFT_DECAY,
    NQS_OPTK_DIAG_SHIFT_MIN, NQS_OPTK_DIAG_SCALE, NQS_OPTK_SOLVER, NQS_OPTK_CG_TOL,
    NQS_OPTK_CG_MAXITER, NQS_OPTK_MEMORY_BUDGET,
    NQS_OPTK_CG_PRECISION, NQS_OPTK_CG_PRECONDITIONER, NQS_OPTK_MAX_STEP, NQS_OPTK_STEP_CHECK,
    NQS_OPTK_LEARNING_RATE_MAX, NQS_OPTK_TIME_LIMIT, NQS_OPTK_ANNEAL_WINDOW,
    NQS_OPTK_ANNEAL_FLOOR, NQS_OPTK_CLIP, NQS_OPTK_COUNT
};

/* Defaults of the table, as typed values (for tests and library users). */
void nqs_optimizer_params_default(struct nqs_optimizer_params *p);

/* Typed values from the parsed [optimizer] options (aligned with
 * nqs_optimizer_options, e.g. from nqs_config_get). NQS_EINVAL naming the key
 * for combinations the table cannot express: solver = minsr with
 * diag_scale > 0, or with a diag_shift schedule that can reach 0; method
 * adam/sgd with SR-only keys is accepted (they are ignored). */
int nqs_optimizer_params_from_options(const struct nqs_opt_val *val,
                                      struct nqs_optimizer_params *p);

struct nqs_optimizer;

/* Validate p for (n_par, n_samples) without allocating, returning the status
 * that nqs_optimizer_alloc would only report through its message: NQS_EINVAL
 * (bad values, sizes, cross-key constraints), NQS_ENOMEM when a forced dense
 * or minsr matrix exceeds memory_budget (the message states the bytes needed). */
int nqs_optimizer_check(const struct nqs_optimizer_params *p, int n_par, int n_samples);

/* Allocate for n_par parameters and at most n_samples samples per step (all
 * buffers, including the SR solver's, are sized here; steps do not allocate).
 * NULL with a message on bad parameters or memory (see nqs_sr_alloc). */
struct nqs_optimizer *nqs_optimizer_alloc(const struct nqs_optimizer_params *p, int n_par,
                                          int n_samples);
void nqs_optimizer_free(struct nqs_optimizer *opt);

/* Chain layout of the samples of every following step (nqs_sr_set_chains):
 * chains first_chain .. first_chain + n_local - 1 of n_chains over all MPI
 * ranks, per_chain samples each; steps then pass n_local * per_chain rows and
 * compute E, F and the update from all ranks' samples, with the same bits for
 * any split (sr.h "Chains and ranks"). Statuses as nqs_sr_set_chains. */
int nqs_optimizer_set_chains(struct nqs_optimizer *opt, int n_chains, int first_chain, int n_local,
                             int per_chain);

/* Probabilities of the rows of every following step (exact enumeration;
 * nqs_sr_set_weights: borrowed, NULL for equal weights). */
void nqs_optimizer_set_weights(struct nqs_optimizer *opt, const double *w);

/* The parameters it was built from. */
const struct nqs_optimizer_params *nqs_optimizer_params(const struct nqs_optimizer *opt);

/* What one step did (values used in this step, before the schedule advanced). */
struct nqs_optimizer_info {
    enum nqs_opt_method method;
    enum nqs_sr_solver solver;  /* sr: solver used; NQS_SR_NONE for adam/sgd */
    int iterations;             /* cg iterations, else 0 */
    double residual;            /* cg relative residual, else 0 */
    int converged;              /* 0 if cg stopped at cg_maxiter (the update was still applied) */
    double complex energy;      /* E = <E_loc> of the samples */
    double grad_norm;           /* ||F||_2 */
    double delta_norm;          /* ||delta||_2 */
    double learning_rate;       /* eta used: eta_t, or less when the step bound shortened it */
    double learning_rate_schedule; /* eta_t of the schedule */
    double metric;              /* delta^H S delta (NaN unless sr with max_step > 0) */
    double fs_step;             /* learning_rate sqrt(metric): the step's Fubini-Study length */
    int bounded;                /* 1 if max_step shortened the update */
    double diag_shift;          /* eps_t used (0 for adam/sgd) */
    long step;                  /* t of this step, from 0 */
};

/* One update from O (n_samples x n_par, row-major, leading dimension ld, not
 * centred) and eloc: computes E, F and delta and sets par <- par - eta_t delta
 * (par: n_par entries, e.g. model->par), then advances the schedules and the
 * step counter. A cg solve that stops at cg_maxiter is not an error: the best
 * iterate is applied, info->converged = 0 and NQS_OK is returned.
 * With step control the update is shortened to the Fubini-Study length
 * max_step (above). The parameters before the update and the update itself
 * are kept for nqs_optimizer_review.
 * Errors leave par, the schedules, the Adam moments and the counter untouched:
 * NQS_ENUMERIC if E, F or delta is NaN/Inf or the Cholesky factorisation fails
 * (a caller may raise the shift and retry), NQS_EINVAL for bad sizes. */
int nqs_optimizer_step(struct nqs_optimizer *opt, const double complex *O, int ld,
                       const double complex *eloc, int n_samples, double complex *par,
                       struct nqs_optimizer_info *info);

/* Statistics of the samples of one iteration, for the step review: the
 * energy, its error bar (0 for exact expectations), the acceptance rate and
 * split-R-hat (NaN when unknown, e.g. exact sampling). */
/* Local-energy clipping for the update (FermiNet: Pfau et al., Phys. Rev.
 * Research 2, 033429 (2020), Sec. "Optimization"): a sample next to a node
 * of psi has a local energy orders of magnitude away from the others, and
 * that one sample then sets the gradient and the SR step. With c =
 * [optimizer] clip_local_energy > 0 the real parts of the local energies the
 * update sees are clamped to median +- c MAD, MAD = mean |E_loc - median| over
 * all `n_all` samples of the iteration (every rank passes the same gathered
 * `all`, so every rank clamps alike), the imaginary parts likewise around
 * their own median. The reported energy and error use the unclipped values.
 * For a distribution without outliers (|E_loc - median| < c MAD for every
 * sample; c = 5 is about 4 standard deviations of a Gaussian) nothing
 * changes; near an eigenstate the MAD goes to 0 with the force itself.
 * Writes the n_loc values of `loc` to `out` (the two may be the same array),
 * uses scratch[n_all]; returns the number of clamped local values. Not for
 * exact enumeration (its weights are not samples): the driver skips it. */
long nqs_optimizer_clip(const struct nqs_optimizer *opt, const double complex *all, long n_all,
                        const double complex *loc, int n_loc, double complex *out,
                        double *scratch);

struct nqs_optimizer_sample {
    double energy, error, acceptance, rhat;
    double variance;            /* of the local energy (NaN: unknown, the test is skipped) */
};

/* Step review (above), called after sampling the parameters of the last
 * update and before the next one. Accepted (*rejected = 0): `now` becomes the
 * reference for the next review; also the case before the first update and
 * with step_check = false. Rejected (*rejected = 1, the reason in why[len]):
 * par is set to the parameters before the last update minus that update
 * shortened NQS_OPT_REJECT_SHRINK times (the NQS_OPT_MAX_REJECTIONS-th
 * time: taken back), eta damped by 1/2; why says which. The caller
 * refreshes the model and samples again. A complaint about the samples of
 * the taken-back update: NQS_ENUMERIC (message "cannot recover", par = the
 * parameters before the update) if they are non-finite or frozen, else
 * accepted (*rejected = 0) with the complaint in why (the caller may warn). */
int nqs_optimizer_review(struct nqs_optimizer *opt, const struct nqs_optimizer_sample *now,
                         double complex *par, int *rejected, char *why, size_t len);

/* Review of the last update by the final evaluation, which has no next
 * update to redo: when `now` (the final samples) condemns it as a review
 * would, par is set to the parameters before it and 1 is returned with the
 * reason in why[len] (the caller evaluates again); else 0 and par unchanged.
 * Always 0 with step_check = false or before any update. The optimiser state
 * is not changed (a restart continues from the last checkpoint). */
int nqs_optimizer_final_review(struct nqs_optimizer *opt, const struct nqs_optimizer_sample *now,
                               double complex *par, char *why, size_t len);

/* The review's verdict on `now` against the last accepted samples, changing
 * nothing: 1 with the reason in why[len] when it would condemn them, else 0
 * (also without a reference, and with step_check = false, which switches
 * every judgement of samples off). The driver
 * uses it on the final samples it reports, to warn that they are not like
 * the optimisation's (e.g. a variance exploding next to nodes of psi). */
int nqs_optimizer_final_check(const struct nqs_optimizer *opt,
                              const struct nqs_optimizer_sample *now, char *why, size_t len);

/* Rejections over the whole run (exported with the state). */
long nqs_optimizer_rejected(const struct nqs_optimizer *opt);

/* Guard rail for retries: multiply the current diagonal shift eps_t by
 * `factor` (> 1, e.g. 10; a zero shift becomes max(diag_shift_min, 1e-4)).
 * The raised value persists and follows the schedule from there; use
 * nqs_optimizer_set_shift to restore. Returns the new shift, or a negative
 * number with an NQS_EINVAL message if the method is not sr or factor <= 1. */
double nqs_optimizer_raise_shift(struct nqs_optimizer *opt, double factor);
/* Current eps_t and eta_t; setting the shift to a negative value is ignored. */
double nqs_optimizer_shift(const struct nqs_optimizer *opt);
void nqs_optimizer_set_shift(struct nqs_optimizer *opt, double shift);
double nqs_optimizer_learning_rate(const struct nqs_optimizer *opt);
/* The plateau annealing's factor on eta (1 until the first plateau). */
double nqs_optimizer_anneal_scale(const struct nqs_optimizer *opt);

/* After nqs_optimizer_state_set on a restart: the schedule continues from the
 * stored values, except that a learning_rate (diag_shift) the command line
 * sets anew (--set) restarts eta (eps) from it, and eta never exceeds the
 * run's learning_rate_max, so that a restart that lowers the ceiling or the
 * rate gets what it asks for. Without such --set and with the ceiling
 * unchanged it changes nothing (eta <= learning_rate_max always holds), so
 * restarts stay bitwise. */
void nqs_optimizer_restart_schedule(struct nqs_optimizer *opt, int learning_rate_given,
                                    int diag_shift_given);

/* Checkpoint state as an array of doubles: a format tag, method, n_par, step
 * counter, current eta and eps, the step review's reference statistics and
 * counters, the annealing's W, factor and counter, the last variance, the
 * count of unmixed iterations, the parameters before the
 * last update and that update (4 n_par), then for adam the moments m and v
 * (4 n_par), then the annealing ring (4 W). A state of the previous format
 * (no annealing) is accepted and starts the annealing afresh; so does one
 * written with another anneal_window (the factor is kept).
 * Importing it into an optimizer built from the same parameters makes the
 * following steps bitwise identical to an uninterrupted run. */
size_t nqs_optimizer_state_size(const struct nqs_optimizer *opt);
void nqs_optimizer_state_get(const struct nqs_optimizer *opt, double *state);
/* NQS_EIO naming what differs when `n` or the header does not match this
 * optimizer (another method, parameter count or format). */
int nqs_optimizer_state_set(struct nqs_optimizer *opt, const double *state, size_t n);

#endif
