/*
 * cnn.c - convolutional neural quantum state (weights shared over lattice
 * translations), twin of `lcn`.
 *
 *   z_l = b_l + K_l * a_{l-1} (cross-correlation on the lattice grid),
 *   a_l = log cosh z_l, a_0 = sigma,   log psi(sigma) = sum_{c,i} a_L[c][i],
 * with C_l channels per layer ([model] channels, default 4,4: two layers of 4
 * channels), a k x k (chain: k) kernel ([model] kernel, default 3), one bias
 * per channel, periodic wrapping along periodic lattice directions and zero
 * padding beyond the last site along open ones (the same weights then see a
 * zero-filled neighbourhood near the edge; psi stays invariant under the
 * translations along the periodic directions). Sum pooling of a translation
 * equivariant map makes log psi translation invariant (Carleo & Troyer,
 * Science 355, 602 (2017) for the shared-weight NQS; Choo et al., PRB 100,
 * 125124 (2019) for convolutional NQS).
 * P = sum_l C_l (C_{l-1} k^d + 1), C_0 = 1, independent of N.
 * Sigma = +-1, complex parameters, holomorphic; layout and fast updates in
 * convnet.h / convnet.c.
 */
#include "convnet.h"

static int cnn_alloc(struct nqs_model *m, const struct nqs_lattice *lat,
                     const struct nqs_opt_val *opt)
{
    return nqs_convnet_alloc(m, lat, opt, 0);
}

const struct nqs_model_ops nqs_model_cnn = {
    .name = "cnn",
    .summary = "log psi = sum of last-layer log cosh activations of shared periodic/zero-padded "
               "convolutions; P = sum_l C_l (C_{l-1} k^d + 1)",
    .shared = 1,
    .twin = "lcn",
    .options = nqs_convnet_options,
    .n_options = NQS_CONVNET_N_OPTIONS,
    .alloc = cnn_alloc,
    .free = nqs_convnet_free,
    .refresh = nqs_convnet_refresh,
    .cache_init = nqs_convnet_cache_init,
    .log_psi_ratio = nqs_convnet_log_psi_ratio,  /* recomputes the receptive-field cone */
    .cache_update = nqs_convnet_cache_update,
    .grad_log_psi = nqs_convnet_grad_log_psi,
};
