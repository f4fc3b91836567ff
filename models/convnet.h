/*
 * convnet.h - the network shared by the twin models `cnn` (convolutions,
 * weights shared over translations) and `lcn` (locally connected: same
 * receptive fields, own weights per site). Internal to models/: cnn.c and
 * lcn.c fill their ops tables with these functions and differ only in `local`.
 *
 * Network (C_0 = 1 input channel a_0 = sigma in {-1,+1}, layers l = 1..L):
 *   z_l[c][i] = b_l[c] + sum_{c'} sum_{o} K_l[c][c'][o] a_{l-1}[c'][i + o]
 *   a_l = f(z_l) for the hidden layers l < L,
 *   log psi = sum_{c, i} log cosh z_L[c][i]   (last layer, sum pooling)
 * on the lattice grid (site i = x + Lx y, offsets o = (dx, dy) in 0..k-1 per
 * direction, in (a1, a2) coordinates on the triangular lattice): periodic wrap
 * along periodic directions, zero padding beyond the last site along open
 * ones (conv.h, anchored kernel). For lcn, K_l and b_l carry the output site.
 *
 * Hidden-layer activation f ([model] activation):
 *   poly     f(z) = z^2/2 - z^4/12 + z^6/45 (default), the Taylor polynomial
 *            of log cosh z through order 6: an entire function;
 *   logcosh  f(z) = log cosh z on the principal branch (nqs_logcosh).
 * Why poly is the default: the principal log cosh jumps by 2 pi i where z
 * crosses Re z = 0 with cos(Im z) < 0. In an RBM only exp(log cosh) enters
 * psi, so the jump is invisible; here a_l feeds z_{l+1}, so a jump of a_l by
 * 2 pi i moves z_{l+1} by 2 pi i K_{l+1} and psi itself jumps: psi is then
 * discontinuous in the parameters and the gradient is wrong across the cut.
 * With an entire f, every z_l is an entire function of the parameters and psi
 * = prod cosh z_L is entire too; the last layer keeps log cosh, whose branch
 * only changes log psi by multiples of 2 pi i (invisible in psi, in ratios
 * and in d log psi / d theta = sum tanh z_L dz_L / d theta). A single-layer
 * network (L = 1) has no hidden layer and does not depend on the option.
 * Polynomial activations of this kind are the ones used for complex CNN
 * states by Choo, Neupert and Carleo, PRB 100, 125124 (2019).
 *
 * Parameter layout, layer after layer (d = lattice dimension, n_off = k^d):
 *   cnn: K_l[C_l][C_{l-1}][n_off], then b_l[C_l];
 *        P = sum_l C_l (C_{l-1} k^d + 1)
 *   lcn: K_l[N][C_l][C_{l-1}][n_off], then b_l[N][C_l];
 *        P = N sum_l C_l (C_{l-1} k^d + 1)
 * with the offset index o = dx + k * dy. The activation adds no parameters.
 */
#ifndef NQS_MODELS_CONVNET_H
#define NQS_MODELS_CONVNET_H

#include "model.h"

/* [model] keys of cnn, lcn and gcnn (one table, nqs_convnet_options). */
enum nqs_convnet_key {
    NQS_CONVNET_KEY_CHANNELS, NQS_CONVNET_KEY_KERNEL, NQS_CONVNET_KEY_ACTIVATION,
    NQS_CONVNET_KEY_GROUP, NQS_CONVNET_N_OPTIONS
};
/* Indices of the `group` choices. */
enum { NQS_CONVNET_GROUP_TRANSLATIONS, NQS_CONVNET_GROUP_SPACE };
extern const struct nqs_opt_def nqs_convnet_options[NQS_CONVNET_N_OPTIONS];

/* local = 0 builds cnn, 1 builds lcn. NQS_EINVAL for bad channels, kernel or
 * activation, NQS_ENOMEM if the parameters or tables do not fit. */
int nqs_convnet_alloc(struct nqs_model *m, const struct nqs_lattice *lat,
                      const struct nqs_opt_val *values, int local);
void nqs_convnet_free(void *state);
/* Rebuilds the two channel-contiguous copies of the kernels (gather and
 * scatter order, 3x the parameter memory) from m->par. */
void nqs_convnet_refresh(struct nqs_model *m);
double complex nqs_convnet_cache_init(const struct nqs_model *m, const int8_t *s, void *cache);
double complex nqs_convnet_log_psi_ratio(const struct nqs_model *m, void *cache, const int8_t *s,
                                         int n_flip, const int *sites);
void nqs_convnet_cache_update(const struct nqs_model *m, void *cache, const int8_t *s, int n_flip,
                              const int *sites);
void nqs_convnet_grad_log_psi(const struct nqs_model *m, const void *cache, const int8_t *s,
                              double complex *O);

/* The group-convolutional network (gcnn.c): cnn with group = space_group
 * (space_group = 1) or, for tests, over the translations alone (0). Sets
 * m->ops to its own table (name "cnn", the keys above). NQS_EINVAL for bad
 * options, NQS_ENOMEM. */
int nqs_gcnn_alloc(struct nqs_model *m, const struct nqs_lattice *lat,
                   const struct nqs_opt_val *values, int space_group);

#endif
