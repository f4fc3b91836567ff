/*
 * rbm.c - dense restricted Boltzmann machine (no weight sharing), the
 * unshared twin of rbm_symm (Carleo & Troyer, Science 355, 602 (2017), Eq. 2):
 *
 *     log psi(s) = sum_i a_i s_i + sum_j log cosh(b_j + sum_i W_ji s_i),
 *
 * N visible spins s_i = +-1, M = alpha N hidden units, P = N + M + M N complex
 * parameters, stored in m->par as
 *     a[N]            at par[i],
 *     b[M]            at par[N + j],
 *     W (site-major)  at par[N + M + i M + j] = W_ji,
 * so that flipping site i reads one contiguous row of M weights.
 * Log-derivatives: O_a_i = s_i, O_b_j = tanh theta_j, O_W_ji = s_i tanh theta_j.
 * Ratios and cache updates are those of rbm_engine.c (O(M) per flipped site).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "model.h"
#include "rbm_engine.h"

struct rbm_state {
    struct nqs_rbm_engine e; /* a, b, w point into par */
    int alpha;
    double complex *par;
};

static const struct nqs_opt_def rbm_options[NQS_RBM_N_KEYS] = {
    [NQS_RBM_KEY_ALPHA] = {"alpha", NQS_OPT_INT, "1",
        "hidden-unit density: alpha N hidden units (alpha filters x |G| translations if shared)",
        NULL, 1, 256},
    /* The twin's key (twins share their keys, so one input serves both and
     * a restart can name the other twin); the dense RBM shares nothing. */
    [NQS_RBM_KEY_GROUP] = {"group", NQS_OPT_CHOICE, "auto",
        "rbm_symm: group the filters are shared over; the dense rbm shares no weights and "
        "ignores it",
        "translations|space_group|none|auto", 0, 0},
};

static void rbm_free(void *state)
{
    struct rbm_state *st = state;
    if (!st) return;
    nqs_rbm_engine_free(&st->e);
    free(st->par);
    free(st);
}

static void rbm_refresh(struct nqs_model *m)
{
    struct rbm_state *st = m->state;
    nqs_rbm_engine_refresh(&st->e);
}

static int rbm_alloc(struct nqs_model *m, const struct nqs_lattice *lat,
                     const struct nqs_opt_val *values)
{
    int N = lat->n_sites;
    long alpha = values[NQS_RBM_KEY_ALPHA].i;
    if (alpha < 1)
        NQS_ERROR(NQS_EINVAL, "[model] alpha: must be an integer >= 1 for model 'rbm', got %ld",
                  alpha);
    /* P = N + M + M N must fit an int. */
    if ((double)alpha * N * (N + 1.0) + N > (double)INT_MAX)
        NQS_ERROR(NQS_EINVAL,
                  "[model] alpha: %ld is too large for model 'rbm' on %d sites "
                  "(%.3g parameters, at most %d)",
                  alpha, N, (double)alpha * N * (N + 1.0) + N, INT_MAX);
    int M = (int)alpha * N;
    int P = N + M + M * N;
    struct rbm_state *st = calloc(1, sizeof *st);
    if (!st) NQS_ERROR(NQS_ENOMEM, "out of memory allocating model 'rbm'");
    st->alpha = (int)alpha;
    st->par = calloc((size_t)P, sizeof *st->par);
    if (!st->par) {
        free(st);
        NQS_ERROR(NQS_ENOMEM, "out of memory for %d parameters of model 'rbm'", P);
    }
    if (nqs_rbm_engine_alloc(&st->e, N, M) != NQS_OK) {
        rbm_free(st);
        return NQS_ENOMEM;
    }
    st->e.a = st->par;
    st->e.b = st->par + N;
    st->e.w = st->par + N + M;
    m->state = st;
    m->n_par = P;
    m->par = st->par;
    m->cache_size = nqs_rbm_engine_cache_size(&st->e);
    m->n_hidden = M;
    snprintf(m->layout, sizeof m->layout,
             "alpha=%d: a[%d] b[%d] W[%d sites x %d hidden] (site-major, W_ji at %d + i*%d + j)",
             st->alpha, N, M, N, M, N + M, M);
    rbm_refresh(m);
    return NQS_OK;
}

static double complex rbm_cache_init(const struct nqs_model *m, const int8_t *s, void *cache)
{
    const struct rbm_state *st = m->state;
    return nqs_rbm_engine_init(&st->e, s, cache);
}

static double complex rbm_log_psi_ratio(const struct nqs_model *m, void *cache, const int8_t *s,
                                        int n_flip, const int *sites)
{
    const struct rbm_state *st = m->state;
    return nqs_rbm_engine_ratio(&st->e, cache, s, n_flip, sites);
}

static double complex rbm_psi_ratio(const struct nqs_model *m, void *cache, const int8_t *s,
                                     int n_flip, const int *sites)
{
    const struct rbm_state *st = m->state;
    return nqs_rbm_engine_psi_ratio(&st->e, cache, s, n_flip, sites);
}

static double rbm_log_prob_ratio(const struct nqs_model *m, void *cache, const int8_t *s,
                                  int n_flip, const int *sites)
{
    const struct rbm_state *st = m->state;
    return nqs_rbm_engine_log_prob_ratio(&st->e, cache, s, n_flip, sites);
}

static void rbm_cache_update(const struct nqs_model *m, void *cache, const int8_t *s, int n_flip,
                             const int *sites)
{
    const struct rbm_state *st = m->state;
    nqs_rbm_engine_update(&st->e, cache, s, n_flip, sites);
}

static void rbm_grad_log_psi(const struct nqs_model *m, const void *cache, const int8_t *s,
                             double complex *O)
{
    const struct rbm_state *st = m->state;
    int N = st->e.n_sites, M = st->e.n_hidden;
    double complex *Ob = O + N, *OW = O + N + M;
    for (int i = 0; i < N; i++) O[i] = s[i];
    for (int j = 0; j < M; j++) Ob[j] = nqs_rbm_cache_tanh(cache, M, j);
    for (int i = 0; i < N; i++) {
        double complex *row = OW + (size_t)i * M;
        if (s[i] > 0)
            for (int j = 0; j < M; j++) row[j] = Ob[j];
        else
            for (int j = 0; j < M; j++) row[j] = -Ob[j];
    }
}

/* Spins s_i = +-1 (sigma^z eigenvalues); parameters complex, holomorphic. */
const struct nqs_model_ops nqs_model_rbm = {
    .name = "rbm",
    .summary = "dense RBM: log psi = sum_i a_i s_i + sum_j log cosh(b_j + sum_i W_ji s_i), "
               "M = alpha N, P = N + M + M N",
    .shared = 0,
    .twin = "rbm_symm",
    .options = rbm_options,
    .n_options = NQS_RBM_N_KEYS,
    .alloc = rbm_alloc,
    .free = rbm_free,
    .refresh = rbm_refresh,
    .cache_init = rbm_cache_init,
    .log_psi_ratio = rbm_log_psi_ratio,
    .cache_update = rbm_cache_update,
    .grad_log_psi = rbm_grad_log_psi,
    .psi_ratio = rbm_psi_ratio,
    .log_prob_ratio = rbm_log_prob_ratio,
};
