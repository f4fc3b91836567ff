/*
 * cnn.c - convolutional neural quantum state (weights shared over lattice
 * translations), twin of `lcn`.
 *
 *   z_l = b_l + K_l * a_{l-1} (cross-correlation on the lattice grid), a_0 = sigma,
 *   a_l = f(z_l) for the hidden layers l < L,
 *   log psi(sigma) = sum_{c,i} log cosh z_L[c][i]   (sum pooling),
 * with C_l channels per layer ([model] channels, default 4,4: two layers of 4
 * channels), a k x k (chain: k) kernel ([model] kernel, default 3), one bias
 * per channel, periodic wrapping along periodic lattice directions and zero
 * padding beyond the last site along open ones (the same weights then see a
 * zero-filled neighbourhood near the edge; psi stays invariant under the
 * translations along the periodic directions). Hidden activation ([model]
 * activation): poly f(z) = z^2/2 - z^4/12 + z^6/45 (default, entire), or the
 * principal log cosh, whose 2 pi i jumps across Re z = 0 make psi itself
 * discontinuous in the parameters once a hidden pre-activation reaches
 * |Im z| > pi/2 (reason and details in convnet.h). Sum pooling of a
 * translation equivariant map makes log psi translation invariant (Carleo &
 * Troyer, Science 355, 602 (2017) for the shared-weight NQS; Choo et al.,
 * PRB 100, 125124 (2019) for convolutional NQS with polynomial activations).
 * P = sum_l C_l (C_{l-1} k^d + 1), C_0 = 1, independent of N.
 * Sigma = +-1, complex parameters, holomorphic; layout and fast updates in
 * convnet.h / convnet.c.
 * [model] group = space_group (default translations) builds instead the
 * group-convolutional network over translations x point operations (gcnn.c).
 */
#include "convnet.h"

/* [model] group: translations (this engine), or space_group (the
 * group-convolutional network of gcnn.c, which installs its own ops table). */
static int cnn_alloc(struct nqs_model *m, const struct nqs_lattice *lat,
                     const struct nqs_opt_val *values)
{
    if (values[NQS_CONVNET_KEY_GROUP].i == NQS_CONVNET_GROUP_SPACE)
        return nqs_gcnn_alloc(m, lat, values, 1);
    return nqs_convnet_alloc(m, lat, values, 0);
}

const struct nqs_model_ops nqs_model_cnn = {
    .name = "cnn",
    .summary = "log psi = sum of last-layer log cosh of shared periodic/zero-padded convolutions "
               "(hidden layers: poly or logcosh activation); P = sum_l C_l (C_{l-1} k^d + 1); "
               "group = space_group: the group-convolutional network over translations x point "
               "operations",
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
