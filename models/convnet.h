/*
 * convnet.h - the network shared by the twin models `cnn` (convolutions,
 * weights shared over translations) and `lcn` (locally connected: same
 * receptive fields, own weights per site). Internal to models/: cnn.c and
 * lcn.c fill their ops tables with these functions and differ only in `local`.
 *
 * Network (C_0 = 1 input channel a_0 = sigma in {-1,+1}, layers l = 1..L):
 *   z_l[c][i] = b_l[c] + sum_{c'} sum_{o} K_l[c][c'][o] a_{l-1}[c'][i + o]
 *   a_l = log cosh(z_l),   log psi = sum_{c, i} a_L[c][i]   (sum pooling)
 * on the lattice grid (site i = x + Lx y, offsets o = (dx, dy) in 0..k-1 per
 * direction, in (a1, a2) coordinates on the triangular lattice): periodic wrap
 * along periodic directions, zero padding beyond the last site along open
 * ones (conv.h, anchored kernel). For lcn, K_l and b_l carry the output site.
 *
 * Parameter layout, layer after layer (d = lattice dimension, n_off = k^d):
 *   cnn: K_l[C_l][C_{l-1}][n_off], then b_l[C_l];
 *        P = sum_l C_l (C_{l-1} k^d + 1)
 *   lcn: K_l[N][C_l][C_{l-1}][n_off], then b_l[N][C_l];
 *        P = N sum_l C_l (C_{l-1} k^d + 1)
 * with the offset index o = dx + k * dy.
 */
#ifndef NQS_MODELS_CONVNET_H
#define NQS_MODELS_CONVNET_H

#include "model.h"

#define NQS_CONVNET_N_OPTIONS 2
extern const struct nqs_opt_def nqs_convnet_options[NQS_CONVNET_N_OPTIONS];

/* local = 0 builds cnn, 1 builds lcn. NQS_EINVAL for bad channels/kernel,
 * NQS_ENOMEM if the parameters or tables do not fit. */
int nqs_convnet_alloc(struct nqs_model *m, const struct nqs_lattice *lat,
                      const struct nqs_opt_val *opt, int local);
void nqs_convnet_free(void *state);
void nqs_convnet_refresh(struct nqs_model *m);
double complex nqs_convnet_cache_init(const struct nqs_model *m, const int8_t *s, void *cache);
double complex nqs_convnet_log_psi_ratio(const struct nqs_model *m, void *cache, const int8_t *s,
                                         int n_flip, const int *sites);
void nqs_convnet_cache_update(const struct nqs_model *m, void *cache, const int8_t *s, int n_flip,
                              const int *sites);
void nqs_convnet_grad_log_psi(const struct nqs_model *m, const void *cache, const int8_t *s,
                              double complex *O);

#endif
