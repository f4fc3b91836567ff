/*
 * optimizer.c - one VMC parameter update: SR (sr.c), Adam (Kingma & Ba,
 * "Adam: a method for stochastic optimization", ICLR 2015, Algorithm 1) or
 * plain gradient descent, theta <- theta - eta_t delta, with exponential
 * learning-rate and diagonal-shift schedules and a checkpointable state.
 * Conventions and formulas: optimizer.h, docs/physics.md "Stochastic reconfiguration".
 */
#include "optimizer.h"

#include <cblas.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define ADAM_BETA1 0.9
#define ADAM_BETA2 0.999
#define ADAM_EPS 1e-8
#define OPTIMIZER_STATE_TAG_V2 20261204.0 /* version 2: no annealing section */
#define OPTIMIZER_STATE_TAG 20261205.0    /* format of the exported state, version 3 */
#define OPTIMIZER_STATE_HEADER_V2 15
#define OPTIMIZER_STATE_HEADER 20         /* + anneal W, factor, counter; last variance; unmixed */
#define OPTIMIZER_GIB (1024.0 * 1024.0 * 1024.0)

const struct nqs_opt_def nqs_optimizer_options[NQS_OPTK_COUNT] = {
    [NQS_OPTK_METHOD] = {"method", NQS_OPT_CHOICE, "sr",
        "update rule: stochastic reconfiguration, Adam on dE/dtheta*, or plain gradient descent",
        "sr|adam|sgd", 0, 0},
    [NQS_OPTK_ITERATIONS] = {"iterations", NQS_OPT_INT, "300",
        "number of optimisation iterations (parameter updates)", NULL, 0, 1e9},
    [NQS_OPTK_LEARNING_RATE] = {"learning_rate", NQS_OPT_REAL, "0.01",
        "initial step size eta (at most learning_rate_max): theta <- theta - eta delta", NULL, 0,
        100},
    [NQS_OPTK_LEARNING_RATE_DECAY] = {"learning_rate_decay", NQS_OPT_REAL, "1",
        "factor applied to eta after every iteration (1 = constant)", NULL, 0, 1},
    [NQS_OPTK_LEARNING_RATE_MIN] = {"learning_rate_min", NQS_OPT_REAL, "0",
        "floor of the decaying learning rate", NULL, 0, 100},
    [NQS_OPTK_DIAG_SHIFT] = {"diag_shift", NQS_OPT_REAL, "0.001",
        "SR: initial absolute shift eps added to the diagonal of S", NULL, 0, 1e6},
    [NQS_OPTK_DIAG_SHIFT_DECAY] = {"diag_shift_decay", NQS_OPT_REAL, "1",
        "SR: factor applied to eps after every iteration (1 = constant)", NULL, 0, 1},
    [NQS_OPTK_DIAG_SHIFT_MIN] = {"diag_shift_min", NQS_OPT_REAL, "1e-4",
        "SR: floor of the decaying shift eps", NULL, 0, 1e6},
    [NQS_OPTK_DIAG_SCALE] = {"diag_scale", NQS_OPT_REAL, "0",
        "SR: relative shift rho, S + eps I + rho diag(S) (not with solver = minsr)", NULL, 0, 1e6},
    [NQS_OPTK_SOLVER] = {"solver", NQS_OPT_CHOICE, "auto",
        "SR linear solver: auto (per step from n_params, n_samples, diag_shift, memory_budget; "
        "rule in the README), dense Cholesky, matrix-free conjugate gradient, or minsr (sample space)",
        "auto|dense|cg|minsr", 0, 0},
    [NQS_OPTK_CG_TOL] = {"cg_tol", NQS_OPT_REAL, "1e-4",
        "SR cg: relative residual at which conjugate gradient stops", NULL, 1e-16, 1},
    [NQS_OPTK_CG_MAXITER] = {"cg_maxiter", NQS_OPT_INT, "1000",
        "SR cg: iteration limit (the best iterate is used if it is reached)", NULL, 1, 1e8},
    [NQS_OPTK_MEMORY_BUDGET] = {"memory_budget", NQS_OPT_REAL, "4",
        "SR: GiB allowed for the solver matrix (dense 16 P^2, minsr 16 N_s^2 bytes)", NULL, 0,
        1e6},
    [NQS_OPTK_CG_PRECISION] = {"cg_precision", NQS_OPT_CHOICE, "auto",
        "SR cg: matrix-vector products in double, or mixed (single-precision copy of the "
        "log-derivatives, residuals and refinement in double); auto = mixed from 256 "
        "parameters",
        "auto|double|mixed", 0, 0},
    [NQS_OPTK_CG_PRECONDITIONER] = {"cg_preconditioner", NQS_OPT_CHOICE, "none",
        "SR cg: none, or jacobi ((1 + diag_scale) diag S + diag_shift; helps when parameters "
        "differ in scale by orders of magnitude)",
        "none|jacobi", 0, 0},
    [NQS_OPTK_MAX_STEP] = {"max_step", NQS_OPT_REAL, "0.05",
        "SR: bound on the Fubini-Study length of one update, eta sqrt(delta^H S delta); a longer "
        "update is shortened to it (0 = no bound)", NULL, 0, 10},
    [NQS_OPTK_STEP_CHECK] = {"step_check", NQS_OPT_BOOL, "true",
        "judge every update on the samples drawn after it: an energy rise of more than 5 error "
        "bars, a variance of the local energy 100 times the previous one, an acceptance collapse "
        "(below 1/4) or split-R-hat jumping from <= 1.2 above 1.5 rejects it and "
        "redoes it 4 times shorter with eta halved (the 4th rejection takes it back); the run "
        "stops if the energy is then non-finite or the chains frozen",
        NULL, 0, 0},
    [NQS_OPTK_LEARNING_RATE_MAX] = {"learning_rate_max", NQS_OPT_REAL, "0.03",
        "ceiling of eta: a larger learning_rate starts at this value; with SR and max_step > 0 a "
        "smaller one grows by 10% after every update the step bound did not shorten, up to it "
        "(no growth with learning_rate_decay < 1); 0 = no ceiling and no growth", NULL, 0, 100},
    [NQS_OPTK_TIME_LIMIT] = {"time_limit", NQS_OPT_REAL, "0",
        "wall-clock seconds of optimisation in this process: after the iteration that reaches it "
        "the run writes a checkpoint and goes on to the final evaluation (the result states the "
        "iterations done; --restart continues towards `iterations`); 0 = no limit", NULL, 0, 1e9},
    [NQS_OPTK_ANNEAL_WINDOW] = {"anneal_window", NQS_OPT_INT, "50",
        "plateau annealing: when the mean energy of the last W iterations is not below that of "
        "the W before by more than their combined error bar, eta is halved (at most once in 2W "
        "iterations, down to anneal_floor times its value); 0 = off", NULL, 0, 1e6},
    [NQS_OPTK_ANNEAL_FLOOR] = {"anneal_floor", NQS_OPT_REAL, "0.03125",
        "plateau annealing: the smallest factor it applies to eta (0.03125 = 5 halvings)", NULL,
        1e-6, 1},
    [NQS_OPTK_CLIP] = {"clip_local_energy", NQS_OPT_REAL, "0",
        "width c of the local-energy clipping of the update: the gradient (and SR's force) sees "
        "every local energy clamped to median +- c x (mean absolute deviation from the median), "
        "so a sample next to a node of psi cannot set the step alone; the reported energy is "
        "unclipped; 0 = off (the default; 5 is the usual width); not with [sampler] method = exact",
        NULL, 0, 1e6},
};
const int nqs_optimizer_n_options = NQS_OPTK_COUNT;

struct nqs_optimizer {
    struct nqs_optimizer_params par;
    int n_par, n_samples;
    struct nqs_sr *sr;
    double complex *F, *delta; /* n_par */
    double *m, *v;             /* adam: 2 n_par each, (re, im) interleaved */
    long step;                 /* successful steps so far */
    double eta, eps;           /* current schedule values */
    /* step review (nqs_optimizer_review), part of the exported state */
    double complex *before;    /* n_par: parameters before the last step */
    double complex *dstep;     /* n_par: the last step, par = before - dstep */
    int have_last;             /* a step was taken from samples whose statistics are in last */
    struct nqs_optimizer_sample last;
    int rejections;            /* consecutive rejections of the last step */
    double damp;               /* factor on eta_t after rejections, back to 1 by 1.2 per step */
    double damp_before;        /* damp before the first rejection of the last update */
    long n_rejected;           /* rejections in the whole run */
    long unmixed;              /* accepted reviews in a row with split-R-hat > NQS_OPT_REJECT_RHAT */
    /* plateau annealing (nqs_optimizer_review), part of the exported state */
    double anneal_scale;       /* factor on eta, halved at every plateau */
    long anneal_n;             /* accepted samples since the last halving (or the start) */
    double *anneal_e;          /* 2W energies and 2W error bars, ring indexed by anneal_n */
};

static int optimizer_validate(const struct nqs_optimizer_params *p);

void nqs_optimizer_params_default(struct nqs_optimizer_params *p)
{
    memset(p, 0, sizeof *p);
    p->method = NQS_METHOD_SR;
    p->iterations = 300;
    p->learning_rate = 0.01;
    p->learning_rate_decay = 1.0;
    p->learning_rate_min = 0.0;
    p->diag_shift = 0.001;
    p->diag_shift_decay = 1.0;
    p->diag_shift_min = 1e-4;
    p->diag_scale = 0.0;
    p->max_step = 0.05;
    p->step_check = 1;
    p->learning_rate_max = 0.03;
    p->anneal_window = 50;
    p->anneal_floor = 0.03125;
    p->clip = 0.0;
    nqs_sr_options_default(&p->sr);
}

int nqs_optimizer_params_from_options(const struct nqs_opt_val *val,
                                      struct nqs_optimizer_params *p)
{
    static const enum nqs_sr_solver solvers[] = {NQS_SR_AUTO, NQS_SR_DENSE, NQS_SR_CG,
                                                 NQS_SR_MINSR};
    nqs_optimizer_params_default(p);
    long m = val[NQS_OPTK_METHOD].i, s = val[NQS_OPTK_SOLVER].i;
    long cp = val[NQS_OPTK_CG_PRECISION].i, pc = val[NQS_OPTK_CG_PRECONDITIONER].i;
    if (m < 0 || m > 2 || s < 0 || s > 3 || cp < 0 || cp > 2 || pc < 0 || pc > 1)
        NQS_ERROR(NQS_EINVAL, "[optimizer] method, solver, cg_precision or cg_preconditioner "
                  "index out of range (%ld, %ld, %ld, %ld)", m, s, cp, pc);
    p->method = (enum nqs_opt_method)m;
    p->iterations = val[NQS_OPTK_ITERATIONS].i;
    p->learning_rate = val[NQS_OPTK_LEARNING_RATE].x;
    p->learning_rate_decay = val[NQS_OPTK_LEARNING_RATE_DECAY].x;
    p->learning_rate_min = val[NQS_OPTK_LEARNING_RATE_MIN].x;
    p->diag_shift = val[NQS_OPTK_DIAG_SHIFT].x;
    p->diag_shift_decay = val[NQS_OPTK_DIAG_SHIFT_DECAY].x;
    p->diag_shift_min = val[NQS_OPTK_DIAG_SHIFT_MIN].x;
    p->diag_scale = val[NQS_OPTK_DIAG_SCALE].x;
    p->max_step = val[NQS_OPTK_MAX_STEP].x;
    p->learning_rate_max = val[NQS_OPTK_LEARNING_RATE_MAX].x;
    p->step_check = val[NQS_OPTK_STEP_CHECK].i != 0;
    p->time_limit = val[NQS_OPTK_TIME_LIMIT].x;
    p->anneal_window = (int)val[NQS_OPTK_ANNEAL_WINDOW].i;
    p->anneal_floor = val[NQS_OPTK_ANNEAL_FLOOR].x;
    p->clip = val[NQS_OPTK_CLIP].x;
    p->sr.solver = solvers[s];
    p->sr.cg_tol = val[NQS_OPTK_CG_TOL].x;
    p->sr.cg_maxiter = (int)val[NQS_OPTK_CG_MAXITER].i;
    p->sr.mem_budget = val[NQS_OPTK_MEMORY_BUDGET].x * OPTIMIZER_GIB;
    p->sr.cg_precision = (enum nqs_sr_precision)cp; /* table order = enum order */
    p->sr.cg_precond = (enum nqs_sr_precond)pc;
    return optimizer_validate(p);
}

/* Cross-key constraints the option table cannot express. */
static int optimizer_validate(const struct nqs_optimizer_params *p)
{
    if ((int)p->method < 0 || (int)p->method > 2)
        NQS_ERROR(NQS_EINVAL, "[optimizer] method: unknown method %d (accepted: sr|adam|sgd)",
                  (int)p->method);
    if (!(p->learning_rate >= 0) || !(p->learning_rate_decay >= 0) ||
        !(p->learning_rate_min >= 0) || !(p->diag_shift >= 0) || !(p->diag_shift_decay >= 0) ||
        !(p->diag_shift_min >= 0) || !(p->diag_scale >= 0) || !(p->max_step >= 0) ||
        !isfinite(p->max_step))
        NQS_ERROR(NQS_EINVAL, "[optimizer] learning_rate, diag_shift, diag_scale, their decays "
                  "and floors, and max_step must be finite and >= 0");
    if (p->anneal_window < 0 || p->anneal_window > 1000000 || !(p->anneal_floor > 0) ||
        !(p->anneal_floor <= 1))
        NQS_ERROR(NQS_EINVAL, "[optimizer] anneal_window must be in [0, 1000000] and "
                  "anneal_floor in (0, 1] (got %d, %g)", p->anneal_window, p->anneal_floor);
    if (!(p->clip >= 0) || !isfinite(p->clip))
        NQS_ERROR(NQS_EINVAL, "[optimizer] clip_local_energy must be finite and >= 0 (got %g)",
                  p->clip);
    if (p->method == NQS_METHOD_SR && p->sr.solver == NQS_SR_MINSR) {
        if (p->diag_scale != 0)
            NQS_ERROR(NQS_EINVAL, "[optimizer] diag_scale = %g cannot be used with solver = minsr "
                      "(a relative shift has no sample-space form); set diag_scale = 0 or "
                      "solver = auto|dense|cg", p->diag_scale);
        if (!(p->diag_shift > 0) || (p->diag_shift_decay < 1 && !(p->diag_shift_min > 0)))
            NQS_ERROR(NQS_EINVAL, "[optimizer] solver = minsr needs diag_shift > 0 at every "
                      "iteration (got diag_shift = %g, diag_shift_decay = %g, diag_shift_min = "
                      "%g)", p->diag_shift, p->diag_shift_decay, p->diag_shift_min);
    }
    return NQS_OK;
}

int nqs_optimizer_check(const struct nqs_optimizer_params *p, int n_par, int n_samples)
{
    NQS_TRY(optimizer_validate(p));
    struct nqs_sr_options so = p->sr;
    if (p->method != NQS_METHOD_SR) so.solver = NQS_SR_NONE;
    return nqs_sr_check(n_par, n_samples, &so);
}

struct nqs_optimizer *nqs_optimizer_alloc(const struct nqs_optimizer_params *p, int n_par,
                                          int n_samples)
{
    struct nqs_optimizer *opt = NULL;
    if (nqs_optimizer_check(p, n_par, n_samples) != NQS_OK) return NULL;
    opt = calloc(1, sizeof *opt);
    if (!opt) goto nomem;
    opt->par = *p;
    opt->n_par = n_par;
    opt->n_samples = n_samples;
    opt->eta = p->learning_rate_max > 0 ? fmin(p->learning_rate, p->learning_rate_max)
                                        : p->learning_rate;
    opt->damp = opt->damp_before = 1.0;
    opt->anneal_scale = 1.0;
    opt->eps = p->method == NQS_METHOD_SR ? p->diag_shift : 0.0;
    struct nqs_sr_options so = p->sr;
    if (p->method != NQS_METHOD_SR) so.solver = NQS_SR_NONE;
    opt->sr = nqs_sr_alloc(n_par, n_samples, &so);
    if (!opt->sr) goto fail;
    opt->F = malloc((size_t)n_par * sizeof *opt->F);
    opt->delta = malloc((size_t)n_par * sizeof *opt->delta);
    opt->before = calloc((size_t)n_par, sizeof *opt->before);
    opt->dstep = calloc((size_t)n_par, sizeof *opt->dstep);
    if (!opt->F || !opt->delta || !opt->before || !opt->dstep) goto nomem;
    if (p->anneal_window > 0) {
        opt->anneal_e = calloc(4 * (size_t)p->anneal_window, sizeof *opt->anneal_e);
        if (!opt->anneal_e) goto nomem;
    }
    if (p->method == NQS_METHOD_ADAM) {
        opt->m = calloc(2 * (size_t)n_par, sizeof *opt->m);
        opt->v = calloc(2 * (size_t)n_par, sizeof *opt->v);
        if (!opt->m || !opt->v) goto nomem;
    }
    return opt;
nomem:
    NQS_SET_ERROR(NQS_ENOMEM, "out of memory allocating the optimizer (n_par = %d)", n_par);
fail:
    nqs_optimizer_free(opt);
    return NULL;
}

void nqs_optimizer_free(struct nqs_optimizer *opt)
{
    if (!opt) return;
    nqs_sr_free(opt->sr);
    free(opt->F);
    free(opt->delta);
    free(opt->before);
    free(opt->dstep);
    free(opt->m);
    free(opt->v);
    free(opt->anneal_e);
    free(opt);
}

int nqs_optimizer_set_chains(struct nqs_optimizer *opt, int n_chains, int first_chain, int n_local,
                             int per_chain)
{
    return nqs_sr_set_chains(opt->sr, n_chains, first_chain, n_local, per_chain);
}

void nqs_optimizer_set_weights(struct nqs_optimizer *opt, const double *w)
{
    nqs_sr_set_weights(opt->sr, w);
}

const struct nqs_optimizer_params *nqs_optimizer_params(const struct nqs_optimizer *opt)
{
    return &opt->par;
}

/* Adam direction from the gradient g (2 n_par reals) without touching m, v;
 * optimizer_adam_commit then applies the identical moment update. */
static void optimizer_adam_delta(const struct nqs_optimizer *opt, long t)
{
    const double *g = (const double *)opt->F;
    double *d = (double *)opt->delta;
    const double bc1 = 1.0 - pow(ADAM_BETA1, (double)t), bc2 = 1.0 - pow(ADAM_BETA2, (double)t);
    for (int k = 0; k < 2 * opt->n_par; k++) {
        double m = ADAM_BETA1 * opt->m[k] + (1.0 - ADAM_BETA1) * g[k];
        double v = ADAM_BETA2 * opt->v[k] + (1.0 - ADAM_BETA2) * g[k] * g[k];
        d[k] = (m / bc1) / (sqrt(v / bc2) + ADAM_EPS);
    }
}

static void optimizer_adam_commit(struct nqs_optimizer *opt)
{
    const double *g = (const double *)opt->F;
    for (int k = 0; k < 2 * opt->n_par; k++) {
        opt->m[k] = ADAM_BETA1 * opt->m[k] + (1.0 - ADAM_BETA1) * g[k];
        opt->v[k] = ADAM_BETA2 * opt->v[k] + (1.0 - ADAM_BETA2) * g[k] * g[k];
    }
}

int nqs_optimizer_step(struct nqs_optimizer *opt, const double complex *O, int ld,
                       const double complex *eloc, int n_samples, double complex *par,
                       struct nqs_optimizer_info *info)
{
    struct nqs_optimizer_info local;
    if (!info) info = &local;
    struct nqs_sr_info si;
    const int P = opt->n_par;
    int rc = NQS_OK;
    if (opt->par.method == NQS_METHOD_SR) {
        rc = nqs_sr_solve(opt->sr, O, ld, eloc, n_samples, opt->eps, opt->par.diag_scale, opt->F,
                          opt->delta, &si);
        if (rc != NQS_OK && rc != NQS_NOTCONV) return rc;
    } else {
        NQS_TRY(nqs_sr_gradient(opt->sr, O, ld, eloc, n_samples, opt->F, &si));
        if (opt->par.method == NQS_METHOD_ADAM)
            optimizer_adam_delta(opt, opt->step + 1);
        else
            memcpy(opt->delta, opt->F, (size_t)P * sizeof *opt->F);
    }
    /* nqs_sr_solve already checked its delta; Adam's can still overflow. */
    for (int k = 0; k < P; k++)
        if (!isfinite(creal(opt->delta[k])) || !isfinite(cimag(opt->delta[k])))
            NQS_ERROR(NQS_ENUMERIC, "optimizer: the update is NaN/Inf at parameter %d", k);

    /* Step control: the Fubini-Study length of the update, to first order
     * eta sqrt(delta^H S delta), is at most max_step (optimizer.h). */
    double eta = opt->eta * opt->damp * opt->anneal_scale, metric = NAN;
    int bounded = 0;
    if (opt->par.method == NQS_METHOD_SR && opt->par.max_step > 0) {
        int mrc = nqs_sr_metric(opt->sr, O, ld, opt->delta, &metric);
        if (mrc != NQS_OK) return mrc;
        if (eta * sqrt(metric) > opt->par.max_step) {
            eta = opt->par.max_step / sqrt(metric);
            bounded = 1;
        }
    }

    info->method = opt->par.method;
    info->solver = si.solver;
    info->iterations = si.iterations;
    info->residual = si.residual;
    info->converged = si.converged;
    info->energy = si.energy;
    info->grad_norm = si.grad_norm;
    info->delta_norm = cblas_dznrm2(P, opt->delta, 1);
    info->learning_rate = eta;
    info->learning_rate_schedule = opt->eta;
    info->metric = metric;
    info->fs_step = eta * sqrt(metric);
    info->bounded = bounded;
    info->diag_shift = opt->eps;
    info->step = opt->step;

    if (opt->par.method == NQS_METHOD_ADAM) optimizer_adam_commit(opt);
    for (int k = 0; k < P; k++) {
        opt->before[k] = par[k];
        opt->dstep[k] = eta * opt->delta[k];
        par[k] -= opt->dstep[k];
    }
    opt->rejections = 0;
    opt->step++;
    opt->damp = fmin(1.0, opt->damp * NQS_OPT_DAMP_RECOVER);
    opt->eta = fmax(opt->eta * opt->par.learning_rate_decay, opt->par.learning_rate_min);
    if (opt->par.method == NQS_METHOD_SR && opt->par.max_step > 0 &&
        opt->par.learning_rate_max > 0 && opt->par.learning_rate_decay == 1 && !bounded &&
        opt->eta < opt->par.learning_rate_max)
        opt->eta = fmin(opt->eta * NQS_OPT_GROW, opt->par.learning_rate_max);
    if (opt->par.method == NQS_METHOD_SR)
        opt->eps = fmax(opt->eps * opt->par.diag_shift_decay, opt->par.diag_shift_min);
    if (rc == NQS_NOTCONV) nqs_error_clear(); /* reported through info->converged */
    return NQS_OK;
}

/* Median and mean absolute deviation from it of x[n] (part `im` of
 * the complex values); scratch[n] is reordered. */
static void optimizer_median_mad(const double complex *x, long n, int im, double *scratch,
                                 double *med, double *mad)
{
    for (long k = 0; k < n; k++) scratch[k] = im ? cimag(x[k]) : creal(x[k]);
    *med = gsl_stats_median(scratch, 1, (size_t)n);
    *mad = gsl_stats_absdev_m(scratch, 1, (size_t)n, *med);
}

static double optimizer_clamp(double x, double med, double width)
{
    return fmin(fmax(x, med - width), med + width);
}

long nqs_optimizer_clip(const struct nqs_optimizer *opt, const double complex *all, long n_all,
                        const double complex *loc, int n_loc, double complex *out,
                        double *scratch)
{
    const double c = opt->par.clip;
    if (!(c > 0) || n_all < 2) {
        if (out != loc) memmove(out, loc, (size_t)n_loc * sizeof *out);
        return 0;
    }
    double med[2], mad[2];
    optimizer_median_mad(all, n_all, 0, scratch, &med[0], &mad[0]);
    optimizer_median_mad(all, n_all, 1, scratch, &med[1], &mad[1]);
    long n = 0;
    for (int k = 0; k < n_loc; k++) {
        double re = optimizer_clamp(creal(loc[k]), med[0], c * mad[0]);
        double im = optimizer_clamp(cimag(loc[k]), med[1], c * mad[1]);
        n += re != creal(loc[k]) || im != cimag(loc[k]);
        out[k] = CMPLX(re, im);
    }
    return n;
}

/* Why the samples `now`, drawn after the last step, condemn it (NULL: they
 * do not). Thresholds: optimizer.h "Step review". */
static const char *optimizer_verdict(const struct nqs_optimizer_sample *last,
                                     const struct nqs_optimizer_sample *now, char *buf, size_t len)
{
    /* an error bar that cannot be estimated (NaN) counts as 0 */
    double e0 = isfinite(last->error) ? last->error : 0, e1 = isfinite(now->error) ? now->error : 0;
    double sig = sqrt(e0 * e0 + e1 * e1);
    double rise = now->energy - last->energy;
    if (!isfinite(now->energy)) {
        snprintf(buf, len, "the energy is not finite");
        return buf;
    }
    if (rise > NQS_OPT_REJECT_SIGMAS * sig + NQS_OPT_REJECT_REL * fabs(last->energy)) {
        snprintf(buf, len, "the energy rose from %.6g +- %.2g to %.6g +- %.2g", last->energy,
                 last->error, now->energy, now->error);
        return buf;
    }
    if (isfinite(last->acceptance) && isfinite(now->acceptance) &&
        last->acceptance >= NQS_OPT_REJECT_ACC_MIN &&
        now->acceptance < NQS_OPT_REJECT_ACC_FACTOR * last->acceptance) {
        snprintf(buf, len, "the acceptance fell from %.3g to %.3g", last->acceptance,
                 now->acceptance);
        return buf;
    }
    if (isfinite(last->variance) && isfinite(last->energy) && !(now->variance <= NQS_OPT_REJECT_VAR *
            fmax(last->variance, NQS_OPT_VAR_FLOOR * last->energy * last->energy))) {
        snprintf(buf, len, "the variance of the local energy rose from %.3g to %.3g",
                 last->variance, now->variance);
        return buf;
    }
    if (isfinite(last->rhat) && isfinite(now->rhat) && now->rhat > NQS_OPT_REJECT_RHAT &&
        last->rhat <= NQS_OPT_MIXED_RHAT) {
        snprintf(buf, len, "split-R-hat rose from %.3g to %.3g", last->rhat, now->rhat);
        return buf;
    }
    return NULL;
}

/* The review's give-up test. The last of NQS_OPT_MAX_REJECTIONS rejections
 * takes the update back entirely, so the next samples are of the very
 * parameters the reference statistics were measured with. If they are still
 * non-finite or frozen, no step length helps: stop. Any other complaint
 * (energy, acceptance drop, R-hat) is then a fluctuation of the reference or
 * of the sampler, not an update's doing: accept. */
static int optimizer_hopeless(const struct nqs_optimizer_sample *now)
{
    return !now || !isfinite(now->energy) ||
           (isfinite(now->acceptance) && now->acceptance < NQS_OPT_FROZEN_ACC);
}

static int optimizer_reject(struct nqs_optimizer *opt, double complex *par, const char *why,
                            const struct nqs_optimizer_sample *now, int *rejected, char *act,
                            size_t len)
{
    const int P = opt->n_par;
    if (!opt->have_last || opt->step == 0)
        NQS_ERROR(NQS_ENUMERIC, "%s before any update could be taken back", why);
    if (opt->rejections >= NQS_OPT_MAX_REJECTIONS) {
        if (optimizer_hopeless(now)) {
            memcpy(par, opt->before, (size_t)P * sizeof *par);
            NQS_ERROR(NQS_ENUMERIC, "the optimisation cannot recover: %s with the parameters "
                      "before the last update, after it was rejected %d times and taken back; "
                      "lower [optimizer] learning_rate or max_step, raise diag_shift, or check "
                      "the sampler", why, NQS_OPT_MAX_REJECTIONS);
        }
        *rejected = 0; /* the update stays taken back; `now` becomes the reference */
        opt->last = *now;
        opt->damp = opt->damp_before; /* not the step's fault: no damping either */
        if (act && len) snprintf(act, len, "%s with the update taken back", why);
        return NQS_OK;
    }
    if (opt->rejections == 0) opt->damp_before = opt->damp;
    opt->n_rejected++;
    opt->rejections++;
    *rejected = 1;
    const int back = opt->rejections == NQS_OPT_MAX_REJECTIONS;
    for (int k = 0; k < P; k++) {
        opt->dstep[k] = back ? 0.0 : opt->dstep[k] * NQS_OPT_REJECT_SHRINK;
        par[k] = opt->before[k] - opt->dstep[k];
    }
    opt->damp *= 0.5;
    if (act && len)
        snprintf(act, len, "%s: the last update is rejected (%d of %d) and %s", why,
                 opt->rejections, NQS_OPT_MAX_REJECTIONS,
                 back ? "taken back" : "redone 4 times shorter");
    return NQS_OK;
}

/* Plateau annealing (optimizer.h): record the statistics of an accepted
 * iteration and halve anneal_scale when the last W energies are on average
 * not below the W before by more than their combined error bar. Both windows
 * lie after the last halving, so every level gets 2W iterations of its own. */
static void optimizer_anneal(struct nqs_optimizer *opt, const struct nqs_optimizer_sample *now)
{
    const long W = opt->par.anneal_window;
    if (W <= 0 || !isfinite(now->energy)) return;
    double *e = opt->anneal_e, *err = opt->anneal_e + 2 * W;
    long slot = opt->anneal_n % (2 * W);
    e[slot] = now->energy;
    err[slot] = isfinite(now->error) ? now->error : 0.0;
    opt->anneal_n++;
    if (opt->anneal_n < 2 * W || opt->anneal_scale <= opt->par.anneal_floor) return;
    double mean[2] = {0, 0}, var[2] = {0, 0};
    for (long k = 0; k < 2 * W; k++) { /* oldest first: window 0, then window 1 */
        long j = (opt->anneal_n + k) % (2 * W);
        mean[k / W] += e[j];
        var[k / W] += err[j] * err[j];
    }
    double drop = (mean[0] - mean[1]) / (double)W;
    double sigma = sqrt(var[0] + var[1]) / (double)W;
    if (drop <= sigma) {
        opt->anneal_scale = fmax(0.5 * opt->anneal_scale, opt->par.anneal_floor);
        opt->anneal_n = 0;
    }
}

/* Accepted samples `now`: the annealing records them, and the iterations in
 * a row whose chains disagree are counted; NQS_OPT_UNMIXED_MAX of them end
 * the run (optimizer.h). */
static int optimizer_accepted(struct nqs_optimizer *opt, const struct nqs_optimizer_sample *now)
{
    optimizer_anneal(opt, now);
    if (!opt->par.step_check) return NQS_OK; /* the unmixed stop is part of the review */
    opt->unmixed = isfinite(now->rhat) && now->rhat > NQS_OPT_REJECT_RHAT ? opt->unmixed + 1 : 0;
    if (opt->unmixed >= NQS_OPT_UNMIXED_MAX)
        NQS_ERROR(NQS_ENUMERIC, "the optimisation cannot recover: split-R-hat has stayed above "
                  "%g for %d iterations in a row (now %.3g, energy %.6g +- %.2g): the Markov "
                  "chains are stuck in separate modes of |psi|^2; use more chains, a longer "
                  "sweep, a smaller "
                  "[optimizer] learning_rate or max_step, or a larger diag_shift",
                  NQS_OPT_REJECT_RHAT, NQS_OPT_UNMIXED_MAX, now->rhat, now->energy, now->error);
    return NQS_OK;
}

int nqs_optimizer_review(struct nqs_optimizer *opt, const struct nqs_optimizer_sample *now,
                         double complex *par, int *rejected, char *why, size_t len)
{
    char buf[256];
    const char *v = NULL;
    *rejected = 0;
    if (opt->par.step_check && opt->have_last && opt->step > 0)
        v = optimizer_verdict(&opt->last, now, buf, sizeof buf);
    if (why && len) why[0] = '\0';
    if (!v) {
        opt->last = *now;
        opt->have_last = 1;
        return optimizer_accepted(opt, now);
    }
    int rc = optimizer_reject(opt, par, v, now, rejected, why, len);
    if (rc == NQS_OK && !*rejected) /* update taken back, samples accepted */
        rc = optimizer_accepted(opt, now);
    return rc;
}

int nqs_optimizer_final_check(const struct nqs_optimizer *opt,
                              const struct nqs_optimizer_sample *now, char *why, size_t len)
{
    char buf[256];
    if (why && len) why[0] = '\0';
    if (!opt->par.step_check || !opt->have_last) return 0;
    const char *v = optimizer_verdict(&opt->last, now, buf, sizeof buf);
    if (!v) return 0;
    if (why && len) snprintf(why, len, "%s", v);
    return 1;
}

int nqs_optimizer_final_review(struct nqs_optimizer *opt, const struct nqs_optimizer_sample *now,
                               double complex *par, char *why, size_t len)
{
    if (opt->step == 0 || !nqs_optimizer_final_check(opt, now, why, len)) {
        if (why && len) why[0] = '\0';
        return 0;
    }
    memcpy(par, opt->before, (size_t)opt->n_par * sizeof *par);
    return 1;
}

long nqs_optimizer_rejected(const struct nqs_optimizer *opt) { return opt->n_rejected; }

double nqs_optimizer_raise_shift(struct nqs_optimizer *opt, double factor)
{
    if (opt->par.method != NQS_METHOD_SR) {
        NQS_SET_ERROR(NQS_EINVAL, "[optimizer] diag_shift applies to method = sr only");
        return -1.0;
    }
    if (!(factor > 1) || !isfinite(factor)) {
        NQS_SET_ERROR(NQS_EINVAL, "optimizer: shift factor must be > 1, got %g", factor);
        return -1.0;
    }
    opt->eps = opt->eps > 0 ? opt->eps * factor : fmax(opt->par.diag_shift_min, 1e-4);
    return opt->eps;
}

double nqs_optimizer_shift(const struct nqs_optimizer *opt) { return opt->eps; }

void nqs_optimizer_set_shift(struct nqs_optimizer *opt, double shift)
{
    if (shift >= 0 && isfinite(shift)) opt->eps = shift;
}

double nqs_optimizer_learning_rate(const struct nqs_optimizer *opt) { return opt->eta; }

double nqs_optimizer_anneal_scale(const struct nqs_optimizer *opt) { return opt->anneal_scale; }

/* Size of a state with an annealing ring of 4 W values. */
static size_t optimizer_state_size_w(const struct nqs_optimizer *opt, size_t header, long W)
{
    return header + 4 * (size_t)opt->n_par + (opt->m ? 4 * (size_t)opt->n_par : 0) +
           4 * (size_t)W;
}

size_t nqs_optimizer_state_size(const struct nqs_optimizer *opt)
{
    return optimizer_state_size_w(opt, OPTIMIZER_STATE_HEADER, opt->par.anneal_window);
}

void nqs_optimizer_state_get(const struct nqs_optimizer *opt, double *state)
{
    const size_t P2 = 2 * (size_t)opt->n_par;
    state[0] = OPTIMIZER_STATE_TAG;
    state[1] = (double)opt->par.method;
    state[2] = (double)opt->n_par;
    state[3] = (double)opt->step;
    state[4] = opt->eta;
    state[5] = opt->eps;
    state[6] = (double)opt->have_last;
    state[7] = opt->last.energy;
    state[8] = opt->last.error;
    state[9] = opt->last.acceptance;
    state[10] = opt->last.rhat;
    state[11] = (double)opt->rejections;
    state[12] = (double)opt->n_rejected;
    state[13] = opt->damp;
    state[14] = opt->damp_before;
    state[15] = (double)opt->par.anneal_window;
    state[16] = opt->anneal_scale;
    state[17] = (double)opt->anneal_n;
    state[18] = opt->last.variance;
    state[19] = (double)opt->unmixed;
    double *x = state + OPTIMIZER_STATE_HEADER;
    memcpy(x, opt->before, P2 * sizeof *x);
    memcpy(x + P2, opt->dstep, P2 * sizeof *x);
    x += 2 * P2;
    if (opt->m) {
        memcpy(x, opt->m, P2 * sizeof *opt->m);
        memcpy(x + P2, opt->v, P2 * sizeof *opt->v);
        x += 2 * P2;
    }
    if (opt->anneal_e) memcpy(x, opt->anneal_e, 4 * (size_t)opt->par.anneal_window * sizeof *x);
}

void nqs_optimizer_restart_schedule(struct nqs_optimizer *opt, int learning_rate_given,
                                    int diag_shift_given)
{
    if (learning_rate_given) { /* the rate asked for, annealing from scratch */
        opt->eta = opt->par.learning_rate;
        opt->anneal_scale = 1.0;
        opt->anneal_n = 0;
    }
    if (opt->par.learning_rate_max > 0) opt->eta = fmin(opt->eta, opt->par.learning_rate_max);
    if (diag_shift_given) opt->eps = opt->par.diag_shift;
}

int nqs_optimizer_state_set(struct nqs_optimizer *opt, const double *state, size_t n)
{
    static const char *names[] = {"sr", "adam", "sgd"};
    const size_t P2 = 2 * (size_t)opt->n_par;
    /* version 2 (before the plateau annealing) restarts with the annealing fresh */
    const int v2 = n >= OPTIMIZER_STATE_HEADER_V2 && state[0] == OPTIMIZER_STATE_TAG_V2;
    const size_t header = v2 ? OPTIMIZER_STATE_HEADER_V2 : OPTIMIZER_STATE_HEADER;
    if (!v2 && (n < OPTIMIZER_STATE_HEADER || state[0] != OPTIMIZER_STATE_TAG))
        NQS_ERROR(NQS_EIO, "optimizer state: unknown format (%zu values, tag %g)", n,
                  n ? state[0] : 0.0);
    if (state[1] != (double)opt->par.method) {
        int w = state[1] == 0 || state[1] == 1 || state[1] == 2 ? (int)state[1] : -1;
        NQS_ERROR(NQS_EIO, "optimizer state was written with [optimizer] method = %s, this run "
                  "uses method = %s (start a new run to change the method)",
                  w >= 0 ? names[w] : "unknown", names[opt->par.method]);
    }
    if (state[2] != (double)opt->n_par)
        NQS_ERROR(NQS_EIO, "optimizer state is for %g parameters, this model has %d", state[2],
                  opt->n_par);
    /* Range checks before any conversion: (long) of a double beyond the range
     * of long is undefined behaviour. */
    long W_file = 0;
    if (!v2) {
        if (!(state[15] >= 0 && state[15] <= 1e6 && state[15] == floor(state[15])))
            NQS_ERROR(NQS_EIO, "optimizer state: anneal window %g is not an integer in [0, 1e6]",
                      state[15]);
        W_file = (long)state[15];
        if (!(state[16] > 0 && state[16] <= 1) ||
            !(state[17] >= 0 && state[17] <= 1e15 && state[17] == floor(state[17])))
            NQS_ERROR(NQS_EIO, "optimizer state: anneal factor %g is not in (0, 1] or its "
                      "counter %g not an integer in [0, 1e15]", state[16], state[17]);
        if (!(state[19] >= 0 && state[19] <= NQS_OPT_UNMIXED_MAX && state[19] == floor(state[19])))
            NQS_ERROR(NQS_EIO, "optimizer state: unmixed-iteration count %g is not an integer in "
                      "[0, %d]", state[19], NQS_OPT_UNMIXED_MAX);
    }
    if (n != optimizer_state_size_w(opt, header, W_file))
        NQS_ERROR(NQS_EIO, "optimizer state has %zu values, expected %zu", n,
                  optimizer_state_size_w(opt, header, W_file));
    if (!(state[3] >= 0 && state[3] <= 1e15 && state[3] == floor(state[3])))
        NQS_ERROR(NQS_EIO, "optimizer state: step counter %g is not an integer in [0, 1e15]",
                  state[3]);
    if (!(state[4] >= 0 && isfinite(state[4])) || !(state[5] >= 0 && isfinite(state[5])))
        NQS_ERROR(NQS_EIO, "optimizer state: learning rate %g or shift %g is not a finite number "
                  ">= 0", state[4], state[5]);
    for (int k = 11; k <= 12; k++) { /* consecutive (an int) and total rejections */
        double max = k == 11 ? 1e6 : 1e15;
        if (!(state[k] >= 0 && state[k] <= max && state[k] == floor(state[k])))
            NQS_ERROR(NQS_EIO, "optimizer state: rejection count %g is not an integer in [0, %g]",
                      state[k], max);
    }
    if (!(state[13] > 0 && isfinite(state[13])) || !(state[14] > 0 && isfinite(state[14])))
        NQS_ERROR(NQS_EIO, "optimizer state: step damping %g or %g is not a finite number > 0",
                  state[13], state[14]);
    /* after the header: before, dstep, [adam m, v (>= 0)], [anneal energies, errors (>= 0)] */
    const size_t second = opt->m ? header + 3 * P2 : n, ring = n - 4 * (size_t)W_file;
    for (size_t k = header; k < n; k++) {
        int nonneg = (k >= second && k < second + P2) || k >= ring + 2 * (size_t)W_file;
        if (!isfinite(state[k]) || (nonneg && state[k] < 0))
            NQS_ERROR(NQS_EIO, "optimizer state: value %zu = %g is not a finite number%s",
                      k - header, state[k], nonneg ? " >= 0" : "");
    }
    opt->step = (long)state[3];
    opt->eta = state[4];
    opt->eps = state[5];
    opt->have_last = state[6] != 0;
    opt->last.energy = state[7];
    opt->last.error = state[8];
    opt->last.acceptance = state[9];
    opt->last.rhat = state[10];
    opt->rejections = (int)state[11];
    opt->n_rejected = (long)state[12];
    opt->damp = state[13];
    opt->damp_before = state[14];
    opt->last.variance = v2 ? NAN : state[18];
    opt->unmixed = v2 ? 0 : (long)state[19];
    opt->anneal_scale = v2 ? 1.0 : fmax(state[16], opt->par.anneal_floor);
    opt->anneal_n = 0;
    const double *x = state + header;
    memcpy(opt->before, x, P2 * sizeof *x);
    memcpy(opt->dstep, x + P2, P2 * sizeof *x);
    if (opt->m) {
        memcpy(opt->m, x + 2 * P2, P2 * sizeof *opt->m);
        memcpy(opt->v, x + 3 * P2, P2 * sizeof *opt->v);
    }
    /* the ring continues only with the same window; another W starts it afresh */
    if (opt->anneal_e && W_file == opt->par.anneal_window) {
        memcpy(opt->anneal_e, state + ring, 4 * (size_t)W_file * sizeof *x);
        opt->anneal_n = (long)state[17];
    }
    return NQS_OK;
}
