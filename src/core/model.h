/*
 * model.h - the wavefunction (model) plug-in interface.
 *
 * A model computes log psi(s) for s in {-1,+1}^N with complex parameters
 * theta (double complex, stored contiguously in m->par so optimisers update
 * them in place). Per Markov chain the sampler keeps one cache of
 * m->cache_size bytes (e.g. theta = b + W s for an RBM, layer pre-activations
 * for a convolution) so that the ratio psi(s')/psi(s) for one or two flipped
 * sites costs O(hidden units) or O(receptive field x channels), not a full
 * re-evaluation.
 *
 * Calling protocol, for a chain holding configuration s and its cache c:
 *   lp = ops->cache_init(m, s, c);           full evaluation, returns log psi(s)
 *   r  = ops->log_psi_ratio(m, c, s, k, f);  log psi(s') - log psi(s), s' = s with
 *                                             sites f[0..k) flipped; s and the cached
 *                                             state unchanged (scratch may be used)
 *   ops->cache_update(m, c, s, k, f);        on acceptance, BEFORE the caller flips s
 *   ops->grad_log_psi(m, c, s, O);           O_p = d log psi(s) / d theta_p, all p
 * After the caller changes m->par it calls ops->refresh(m) (derived tables),
 * then cache_init again for every chain. Only `refresh` writes the model state;
 * every other function is thread safe for distinct caches and allocates nothing.
 * log_psi_ratio returns the complex log ratio; the imaginary part is a phase
 * defined modulo 2 pi.
 */
#ifndef NQS_MODEL_H
#define NQS_MODEL_H

#include <complex.h>
#include <stddef.h>
#include <stdint.h>

#include "lattice.h"
#include "options.h"

struct nqs_model;

struct nqs_model_ops {
    const char *name;      /* [model] type = name */
    const char *summary;   /* one line: log psi formula, parameter count */
    int shared;            /* weights shared over lattice translations */
    const char *twin;      /* registry name of the twin with the other sharing */
    const struct nqs_opt_def *options; /* model keys of [model]; twins use the same keys */
    int n_options;
    /* Build for `lat` (borrowed) with options aligned with `options`. Sets
     * m->state, m->n_par, m->par (owned by the state, zeroed), m->cache_size,
     * m->n_hidden and m->layout. NQS_EINVAL/NQS_EUNSUP with a message for a
     * lattice it cannot serve (e.g. no translation group). May replace m->ops
     * by a variant table with the same name, keys, sharing and twin (cnn does
     * for group = space_group); callers go through m->ops afterwards. */
    int (*alloc)(struct nqs_model *m, const struct nqs_lattice *lat,
                 const struct nqs_opt_val *values);
    void (*free)(void *state);
    /* Recompute derived tables after m->par changed. */
    void (*refresh)(struct nqs_model *m);
    double complex (*cache_init)(const struct nqs_model *m, const int8_t *s, void *cache);
    /* May use scratch space inside `cache` (sized into cache_size) but leaves
     * the cached state for s unchanged. */
    double complex (*log_psi_ratio)(const struct nqs_model *m, void *cache, const int8_t *s,
                                    int n_flip, const int *sites);
    void (*cache_update)(const struct nqs_model *m, void *cache, const int8_t *s, int n_flip,
                         const int *sites);
    /* `cache` is const because the cached state for s is only read. Like
     * log_psi_ratio, grad_log_psi may use scratch space inside the cache
     * (written through a cast; e.g. the back-propagation buffers of cnn/lcn,
     * which cannot live in the shared model state), so it must not run
     * concurrently with another call on the same cache; calls on distinct
     * caches stay thread safe. */
    void (*grad_log_psi)(const struct nqs_model *m, const void *cache, const int8_t *s,
                         double complex *O);
    /* Optional fast paths; NULL means the caller derives them from
     * log_psi_ratio. Same arguments, thread safety and scratch rules as
     * log_psi_ratio. */
    /* psi(s')/psi(s) itself, for local energies (which would only exponentiate
     * the log again); overflows to inf / underflows to 0 where
     * cexp(log_psi_ratio) would. */
    double complex (*psi_ratio)(const struct nqs_model *m, void *cache, const int8_t *s,
                                int n_flip, const int *sites);
    /* log |psi(s')/psi(s)|^2 = 2 Re log_psi_ratio, for the Metropolis
     * acceptance (no phase needed). */
    double (*log_prob_ratio)(const struct nqs_model *m, void *cache, const int8_t *s, int n_flip,
                             const int *sites);
};

/* The symmetry group a model's psi is invariant under by construction
 * (psi(g s) = psi(s)); a projection sums only over the cosets of it. */
enum nqs_model_invariance {
    NQS_INVARIANT_NONE = 0,         /* none known (the default of every model) */
    NQS_INVARIANT_TRANSLATIONS = 1, /* the lattice's translations (k = 0) */
    NQS_INVARIANT_SPACE = 2         /* translations x point group (k = 0, A1) */
};

struct nqs_model {
    const struct nqs_model_ops *ops;
    void *state;
    const struct nqs_lattice *lat; /* borrowed */
    int n_sites;
    int n_par;               /* number of complex parameters */
    double complex *par;     /* n_par parameters, owned by the model state */
    size_t cache_size;       /* bytes of one per-chain cache */
    int n_hidden;            /* hidden units (RBM) or neurons of the widest layer */
    char layout[256];        /* human-readable shape, e.g. "alpha=2: a[1] b[2] W[2x16]" */
    enum nqs_model_invariance invariance; /* set by alloc; NONE unless it knows better */
    char group_desc[96];     /* group the weights are shared over, e.g. "space group (|G| = 128)";
                                "" if the model does not say */
    char projection[256];    /* "" or the projection's description (nqs_model_project) */
};

extern const struct nqs_model_ops *const nqs_model_registry[];
/* NULL and a message listing the valid names for an unknown name. */
const struct nqs_model_ops *nqs_model_find(const char *name);

/* Allocate a model of kind `ops`; parameters are zero until nqs_model_init. */
struct nqs_model *nqs_model_alloc(const struct nqs_model_ops *ops, const struct nqs_lattice *lat,
                                  const struct nqs_opt_val *values);
void nqs_model_free(struct nqs_model *m);

struct nqs_symmetry;
/* Wrap `base` (ownership passes to the result, also on failure) into its
 * projection onto a symmetry sector (models/projected.c):
 *     psi_P(s) = sum_g conj(chi(g)) [psi(g s) + p psi(-g s)]
 * over the elements g of `sym` (borrowed: must outlive the result) with
 * characters chi (copied; chi(g) = 0 outside the sector's group) and spin-flip
 * parity p = spin_flip (0: no spin-flip term). Terms that the base's
 * invariance makes equal are merged (coset representatives), so a
 * translation-invariant base costs |P| (point group) base evaluations per
 * ratio, not |G|. The result shares the base's parameters (same n_par, par),
 * so optimisers and checkpoints see the base's parameter vector. NULL with a
 * message (NQS_EINVAL) when the projection vanishes identically (the base is
 * invariant under elements with chi != 1, e.g. a translation-invariant base
 * and k != 0), or NQS_ENOMEM. */
struct nqs_model *nqs_model_project(struct nqs_model *base, const struct nqs_symmetry *sym,
                                    const double complex *chi, int spin_flip);

/* Draw every parameter's real and imaginary part from N(0, std^2) with a GSL
 * mt19937 stream seeded by `seed` (same numbers on every machine), then refresh. */
void nqs_model_init(struct nqs_model *m, unsigned long seed, double std);

/* log psi(s) by full evaluation (allocates a temporary cache: not for hot loops). */
double complex nqs_model_log_psi(const struct nqs_model *m, const int8_t *s);

/* Numerically stable complex log cosh: z - log 2 + log(1 + exp(-2z)) for Re z >= 0, even. */
double complex nqs_logcosh(double complex z);

#endif
