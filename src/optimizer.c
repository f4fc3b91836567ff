/*
 * optimizer.c - one VMC parameter update: SR (sr.c), Adam (Kingma & Ba,
 * "Adam: a method for stochastic optimization", ICLR 2015, Algorithm 1) or
 * plain gradient descent, theta <- theta - eta_t delta, with exponential
 * learning-rate and diagonal-shift schedules and a checkpointable state.
 * Conventions and formulas: optimizer.h, PHYSICS.md "Stochastic reconfiguration".
 */
#include "optimizer.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define ADAM_BETA1 0.9
#define ADAM_BETA2 0.999
#define ADAM_EPS 1e-8
#define OPTIMIZER_STATE_TAG 20261126.0 /* format of the exported state, version 1 */
#define OPTIMIZER_STATE_HEADER 6
#define OPTIMIZER_GIB (1024.0 * 1024.0 * 1024.0)

const struct nqs_opt_def nqs_optimizer_options[] = {
    [NQS_OPTK_METHOD] = {"method", NQS_OPT_CHOICE, "sr",
        "update rule: stochastic reconfiguration, Adam on dE/dtheta*, or plain gradient descent",
        "sr|adam|sgd", 0, 0},
    [NQS_OPTK_ITERATIONS] = {"iterations", NQS_OPT_INT, "300",
        "number of optimisation iterations (parameter updates)", NULL, 0, 1e9},
    [NQS_OPTK_LEARNING_RATE] = {"learning_rate", NQS_OPT_REAL, "0.01",
        "initial step size eta: theta <- theta - eta delta", NULL, 0, 100},
    [NQS_OPTK_LEARNING_RATE_DECAY] = {"learning_rate_decay", NQS_OPT_REAL, "1",
        "factor applied to eta after every iteration (1 = constant)", NULL, 0, 1},
    [NQS_OPTK_LEARNING_RATE_MIN] = {"learning_rate_min", NQS_OPT_REAL, "0",
        "floor of the decaying learning rate", NULL, 0, 100},
    [NQS_OPTK_DIAG_SHIFT] = {"diag_shift", NQS_OPT_REAL, "0.01",
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
    p->diag_shift = 0.01;
    p->diag_shift_decay = 1.0;
    p->diag_shift_min = 1e-4;
    p->diag_scale = 0.0;
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
        !(p->diag_shift_min >= 0) || !(p->diag_scale >= 0))
        NQS_ERROR(NQS_EINVAL, "[optimizer] learning_rate, diag_shift, diag_scale, their decays "
                  "and floors must be >= 0");
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
    opt->eta = p->learning_rate;
    opt->eps = p->method == NQS_METHOD_SR ? p->diag_shift : 0.0;
    struct nqs_sr_options so = p->sr;
    if (p->method != NQS_METHOD_SR) so.solver = NQS_SR_NONE;
    opt->sr = nqs_sr_alloc(n_par, n_samples, &so);
    if (!opt->sr) goto fail;
    opt->F = malloc((size_t)n_par * sizeof *opt->F);
    opt->delta = malloc((size_t)n_par * sizeof *opt->delta);
    if (!opt->F || !opt->delta) goto nomem;
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
    free(opt->m);
    free(opt->v);
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

    info->method = opt->par.method;
    info->solver = si.solver;
    info->iterations = si.iterations;
    info->residual = si.residual;
    info->converged = si.converged;
    info->energy = si.energy;
    info->grad_norm = si.grad_norm;
    info->delta_norm = cblas_dznrm2(P, opt->delta, 1);
    info->learning_rate = opt->eta;
    info->diag_shift = opt->eps;
    info->step = opt->step;

    if (opt->par.method == NQS_METHOD_ADAM) optimizer_adam_commit(opt);
    for (int k = 0; k < P; k++) par[k] -= opt->eta * opt->delta[k];
    opt->step++;
    opt->eta = fmax(opt->eta * opt->par.learning_rate_decay, opt->par.learning_rate_min);
    if (opt->par.method == NQS_METHOD_SR)
        opt->eps = fmax(opt->eps * opt->par.diag_shift_decay, opt->par.diag_shift_min);
    if (rc == NQS_NOTCONV) nqs_error_clear(); /* reported through info->converged */
    return NQS_OK;
}

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

size_t nqs_optimizer_state_size(const struct nqs_optimizer *opt)
{
    return OPTIMIZER_STATE_HEADER + (opt->m ? 4 * (size_t)opt->n_par : 0);
}

void nqs_optimizer_state_get(const struct nqs_optimizer *opt, double *state)
{
    state[0] = OPTIMIZER_STATE_TAG;
    state[1] = (double)opt->par.method;
    state[2] = (double)opt->n_par;
    state[3] = (double)opt->step;
    state[4] = opt->eta;
    state[5] = opt->eps;
    if (opt->m) {
        memcpy(state + OPTIMIZER_STATE_HEADER, opt->m, 2 * (size_t)opt->n_par * sizeof *opt->m);
        memcpy(state + OPTIMIZER_STATE_HEADER + 2 * (size_t)opt->n_par, opt->v,
               2 * (size_t)opt->n_par * sizeof *opt->v);
    }
}

int nqs_optimizer_state_set(struct nqs_optimizer *opt, const double *state, size_t n)
{
    static const char *names[] = {"sr", "adam", "sgd"};
    if (n < OPTIMIZER_STATE_HEADER || state[0] != OPTIMIZER_STATE_TAG)
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
    if (n != nqs_optimizer_state_size(opt))
        NQS_ERROR(NQS_EIO, "optimizer state has %zu values, expected %zu", n,
                  nqs_optimizer_state_size(opt));
    /* Range checks before any conversion: (long) of a double beyond the range
     * of long is undefined behaviour. */
    if (!(state[3] >= 0 && state[3] <= 1e15 && state[3] == floor(state[3])))
        NQS_ERROR(NQS_EIO, "optimizer state: step counter %g is not an integer in [0, 1e15]",
                  state[3]);
    if (!(state[4] >= 0 && isfinite(state[4])) || !(state[5] >= 0 && isfinite(state[5])))
        NQS_ERROR(NQS_EIO, "optimizer state: learning rate %g or shift %g is not a finite number "
                  ">= 0", state[4], state[5]);
    for (size_t k = OPTIMIZER_STATE_HEADER; k < n; k++) {
        int second_moment = k >= OPTIMIZER_STATE_HEADER + 2 * (size_t)opt->n_par;
        if (!isfinite(state[k]) || (second_moment && state[k] < 0))
            NQS_ERROR(NQS_EIO, "optimizer state: Adam moment %zu = %g is not a finite number%s",
                      k - OPTIMIZER_STATE_HEADER, state[k], second_moment ? " >= 0" : "");
    }
    opt->step = (long)state[3];
    opt->eta = state[4];
    opt->eps = state[5];
    if (opt->m) {
        memcpy(opt->m, state + OPTIMIZER_STATE_HEADER, 2 * (size_t)opt->n_par * sizeof *opt->m);
        memcpy(opt->v, state + OPTIMIZER_STATE_HEADER + 2 * (size_t)opt->n_par,
               2 * (size_t)opt->n_par * sizeof *opt->v);
    }
    return NQS_OK;
}
