/*
 * rbm_engine.h - the fast-update machinery shared by the twin RBMs (rbm and
 * rbm_symm). Internal to models/: not part of the public API.
 *
 * Both twins reduce to the same "bare" RBM
 *     log psi(s) = sum_i a_i s_i + sum_j log cosh(theta_j),
 *     theta_j    = b_j + sum_i W_ji s_i,
 * with n_sites visible and n_hidden hidden units. The dense RBM points the
 * engine at its own parameters; the symmetric RBM expands its filters into
 * bare weights W_(f,T) i = W_f[T^-1(i)] (docs/physics.md), so both twins have
 * exactly the same per-flip cost.
 *
 * Fast updates (docs/physics.md "RBM fast updates"). Flipping sites with spins s_k
 * changes theta_j by delta_j = -2 sum_k W_jk s_k and
 *     cosh(theta + delta) / cosh(theta) = cosh(delta) + tanh(theta) sinh(delta)
 *                                       = e^-delta (v + u e^{2 delta}),
 * with u = (1 + tanh theta)/2 = E/(1 + E), v = (1 - tanh theta)/2 = 1/(1 + E),
 * E = exp(2 theta). The second form is the same identity rearranged: it removes
 * the cancellation of 1 - tanh(theta) for large |theta| (u and v are computed
 * to full relative precision from E), so no exact log-cosh fallback is needed
 * except when a block of the running product leaves the floating-point range,
 * and it costs one complex multiply-add per hidden unit. The factors e^-delta_j
 * multiply to exp(2 sum_k s_k sum_j W_jk): a per-site row sum precomputed at
 * refresh. exp(-+4 W_ji) are tabulated at refresh, so a ratio evaluates no
 * transcendental function except one final complex log; E is updated
 * multiplicatively on acceptance (E <- E e^{2 delta}), so its relative error
 * grows like the square root of the number of updates, without the
 * amplification that updating tanh(theta) by the addition theorem would have.
 *
 * Drift stays bounded on long chains: every NQS_RBM_RESYNC x n_sites (at least
 * 64) updates of a cache, theta is recomputed from s and E, u, v from theta;
 * and a unit whose E comes near -1 (|1 + E| < 0.1, a zero of cosh theta, where
 * log cosh is ill-conditioned and the drift of E would be amplified by
 * 1/|1 + E|) takes E, u, v from theta at once. The accuracy of a ratio is then
 * that of a full evaluation, including near zeros of psi.
 *
 * Sites flipped together must be distinct.
 */
#ifndef NQS_RBM_ENGINE_H
#define NQS_RBM_ENGINE_H

#include <complex.h>
#include <stddef.h>
#include <stdint.h>

/* [model] keys of the twins rbm and rbm_symm (same names, so one input serves
 * both); each model's table is indexed by these. */
enum nqs_rbm_key { NQS_RBM_KEY_ALPHA, NQS_RBM_KEY_GROUP, NQS_RBM_N_KEYS };

struct nqs_rbm_engine {
    int n_sites;
    int n_hidden;
    const double complex *a; /* n_sites visible biases (borrowed) */
    const double complex *b; /* n_hidden hidden biases (borrowed) */
    const double complex *w; /* n_sites x n_hidden bare weights, site-major:
                                W_ji at w[i * n_hidden + j] (borrowed) */
    /* Tables, one row of 4 n_hidden doubles per site i, j fastest:
     * Re, Im of exp(-4 W_ji) (e^{2 delta} when s_i = +1 flips), then Re, Im of
     * exp(4 W_ji) (s_i = -1). */
    double *ew;
    /* Per site: 2 (sum_j W_ji - a_i), so that sum_k s_k rs[k] is the
     * visible-bias and e^-delta part of a log-ratio. */
    double complex *rs;
    /* exp(+-rs_i) as mantissa and exponent (exp = (re + i im) 2^k, |re + i im|
     * in [0.5, 1)), for the ratio itself without a transcendental function:
     * vm[4 i + 0..1] re, im of the mantissa of exp(rs_i) (s_i = +1 flips),
     * vm[4 i + 2..3] of exp(-rs_i) (s_i = -1); vk[2 i], vk[2 i + 1] the
     * exponents. Filled with rs at refresh. */
    double *vm;
    int *vk;
};

/* Cache of one chain: 8 n_hidden doubles, blocks of n_hidden in this order
 * (re/im of theta, of E = exp(2 theta), of u = E/(1+E), of v = 1/(1+E)),
 * then one int64_t counting updates since the last resynchronisation.
 * E is stored as NaN while |Re theta| > NQS_RBM_THETA_SAT (then u and v are
 * computed from theta directly). */
enum { NQS_RBM_TH_RE, NQS_RBM_TH_IM, NQS_RBM_E_RE, NQS_RBM_E_IM, NQS_RBM_U_RE, NQS_RBM_U_IM,
       NQS_RBM_V_RE, NQS_RBM_V_IM, NQS_RBM_N_BLOCKS };
#define NQS_RBM_THETA_SAT 100.0
#define NQS_RBM_RESYNC 4      /* resynchronise every 4 n_sites updates */
#define NQS_RBM_NEAR_POLE 0.1 /* |1 + E| below this: E from theta */

/* Block `which` (NQS_RBM_*) of a cache for an engine with n_hidden units. */
static inline const double *nqs_rbm_cache_block(const void *cache, int n_hidden, int which)
{
    return (const double *)cache + (size_t)which * (size_t)n_hidden;
}

/* Allocate the tables for n_sites x n_hidden (pointers a, b, w are set by the
 * caller). NQS_ENOMEM with a message. */
int nqs_rbm_engine_alloc(struct nqs_rbm_engine *e, int n_sites, int n_hidden);
void nqs_rbm_engine_free(struct nqs_rbm_engine *e);

/* Tables from e->a, e->w: two complex exponentials per bare weight. */
void nqs_rbm_engine_refresh(struct nqs_rbm_engine *e);
/* Tables from precomputed exponentials: entry (i, j) takes zp[map[i*n_hidden+j]]
 * = exp(-4 W_ji) and zm[...] = exp(4 W_ji) (for shared models, which need only
 * one exponential per distinct weight); e->a and e->w are read as well. */
void nqs_rbm_engine_refresh_mapped(struct nqs_rbm_engine *e, const double complex *zp,
                                   const double complex *zm, const int *map);

size_t nqs_rbm_engine_cache_size(const struct nqs_rbm_engine *e);

/* Full evaluation: fills the cache for s and returns log psi(s). */
double complex nqs_rbm_engine_init(const struct nqs_rbm_engine *e, const int8_t *s, void *cache);

/* log psi(s') - log psi(s), s' = s with sites[0..n_flip) flipped (distinct). */
double complex nqs_rbm_engine_ratio(const struct nqs_rbm_engine *e, const void *cache,
                                    const int8_t *s, int n_flip, const int *sites);

/* psi(s')/psi(s) itself (no log, atan2, exp or sincos on the table path);
 * overflows to inf and underflows to 0 where cexp(ratio) would. */
double complex nqs_rbm_engine_psi_ratio(const struct nqs_rbm_engine *e, const void *cache,
                                        const int8_t *s, int n_flip, const int *sites);

/* log |psi(s')/psi(s)|^2 = 2 Re of the log-ratio (one log, no atan2). */
double nqs_rbm_engine_log_prob_ratio(const struct nqs_rbm_engine *e, const void *cache,
                                     const int8_t *s, int n_flip, const int *sites);

/* Move the cache from s to s' (called before the caller flips s). */
void nqs_rbm_engine_update(const struct nqs_rbm_engine *e, void *cache, const int8_t *s,
                           int n_flip, const int *sites);

/* tanh(theta_j) = u_j - v_j from the cache. */
static inline double complex nqs_rbm_cache_tanh(const void *cache, int n_hidden, int j)
{
    const double *c = (const double *)cache;
    size_t M = (size_t)n_hidden;
    return CMPLX(c[NQS_RBM_U_RE * M + j] - c[NQS_RBM_V_RE * M + j],
                 c[NQS_RBM_U_IM * M + j] - c[NQS_RBM_V_IM * M + j]);
}

#endif
