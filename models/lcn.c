/*
 * lcn.c - locally connected neural quantum state, the unshared twin of `cnn`:
 * the same layers, channels ([model] channels, default 4,4), receptive fields
 * ([model] kernel, default 3), boundary handling (periodic wrap / zero
 * padding), hidden activation ([model] activation, default poly: z^2/2 -
 * z^4/12 + z^6/45; see convnet.h for why not log cosh), last-layer log cosh
 * and sum pooling, but every output site i of every layer has its own kernel
 * K_l[i] and bias b_l[i]:
 *   z_l[c][i] = b_l[i][c] + sum_{c', o} K_l[i][c][c'][o] a_{l-1}[c'][i + o].
 * Same forward cost and hidden-unit count (N C_max) as cnn, no translation
 * symmetry. With K_l[i] = K_l and b_l[i] = b_l for all i it is exactly cnn.
 * P = N sum_l C_l (C_{l-1} k^d + 1), C_0 = 1, d the lattice dimension.
 * Sigma = +-1, complex parameters, holomorphic; layout and fast updates in
 * convnet.h / convnet.c.
 */
#include "convnet.h"
#include "error.h"

static int lcn_alloc(struct nqs_model *m, const struct nqs_lattice *lat,
                     const struct nqs_opt_val *values)
{
    if (values[NQS_CONVNET_KEY_GROUP].i != NQS_CONVNET_GROUP_TRANSLATIONS)
        NQS_ERROR(NQS_EINVAL, "[model] group: lcn shares no weights, so it has no group "
                  "(accepted: translations; group = space_group is the group-convolutional cnn)");
    return nqs_convnet_alloc(m, lat, values, 1);
}

const struct nqs_model_ops nqs_model_lcn = {
    .name = "lcn",
    .summary = "locally connected twin of cnn (own kernel and bias per site, same receptive "
               "fields); P = N sum_l C_l (C_{l-1} k^d + 1)",
    .shared = 0,
    .twin = "cnn",
    .options = nqs_convnet_options,
    .n_options = NQS_CONVNET_N_OPTIONS,
    .alloc = lcn_alloc,
    .free = nqs_convnet_free,
    .refresh = nqs_convnet_refresh,
    .cache_init = nqs_convnet_cache_init,
    .log_psi_ratio = nqs_convnet_log_psi_ratio,
    .cache_update = nqs_convnet_cache_update,
    .grad_log_psi = nqs_convnet_grad_log_psi,
};
