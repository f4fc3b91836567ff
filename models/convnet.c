/*
 * convnet.c - forward pass, fast ratios and updates, and back-propagation of
 * the convolutional network behind `cnn` and its locally connected twin `lcn`
 * (network, activations and parameter layout in convnet.h).
 *
 * Last layer. With z' = z or -z such that Re z' >= 0,
 *   log cosh z = u + log q,   u = z' - log 2,   q = 1 + exp(-2 z'),  |q| <= 2,
 * so sum_j log cosh z_j = sum_j u_j + log prod_j q_j: one exp and one
 * sin/cos per term and a single complex log per evaluation, instead of a
 * complex exp, log1p and atan2 per term. The product is rescaled into the
 * log whenever its modulus leaves [2^-200, 2^200]. log psi therefore comes
 * out on some branch: its imaginary part is defined modulo 2 pi (model.h).
 * The cache keeps q_L, and tanh z = sign(Re z) (2 - q)/q gives the gradient.
 *
 * Cache of one chain (complex numbers first, then ints), position-major so
 * that the channels of one site are contiguous:
 *   state   a_0[N] (sigma as complex); z_l[N][C_l] for l = 1..L; a_l[N][C_l]
 *           for l < L; q_L[N][C_L];
 *   scratch the changes da_l[|S_l|][C_l] (l < L) and dz[|S_l|][C_l] of a
 *           ratio and the contributions w[k^d][C_l] of one changed input,
 *           the lists S_l of changed positions, a mark array (all zero
 *           between calls), two N x C_max back-propagation buffers.
 * refresh builds two channel-contiguous copies of the kernels (4 + 2 doubles
 * per complex weight, next to the 2 of the parameters): a gather copy for
 * recomputing one position (convnet_kt: per offset and input channel, the
 * output channels' real/imaginary parts arranged so that z += K v is one
 * real loop) and a scatter copy for propagating the change of one input to
 * all its readers (convnet_ks: one contiguous loop over readers x channels).
 * The channel loops are instantiated for C_l = 1, 2, 4, 8 so the compiler
 * unrolls and vectorises them.
 *
 * Flipping sites S_0 changes layer l only at the positions S_l whose receptive
 * field meets S_{l-1} (at most n_flip (l (k-1) + 1)^d sites, fewer when the
 * cone wraps around).
 *   log_psi_ratio propagates the changes only: dz_l[i] = sum over q in S_{l-1}
 *     read by i at offset o of K_l[o] da_{l-1}[q], da_l = f(z_l + dz_l) - a_l,
 *     and at the last layer the change of sum u + log prod q. This costs
 *     O(|S_{l-1}| k^d C_l C_{l-1}) instead of O(|S_l| k^d C_l C_{l-1}) for a
 *     recomputation, and leaves the cached state untouched.
 *   cache_update recomputes the positions S_l in place with the same point
 *     function as the full pass, so the updated cache is bit-identical to a
 *     fresh cache_init of the new configuration (no drift).
 * Gradient (holomorphic): delta_L = tanh z_L, g_{l-1}[q][c'] = sum_{c, (i, o):
 * i + o = q} K_l[c][c'][o] delta_l[i][c], delta_{l-1} = g_{l-1} f'(z_{l-1})
 * with f'(z) = z - z^3/3 + 2 z^5/15 (poly) or tanh z (logcosh);
 * dK_l[c][c'][o] = sum_i delta_l[i][c] a_{l-1}[i + o][c'] (cnn; lcn keeps the
 * term of each i), db_l = sum_i delta_l.
 * Complex products are written out on real and imaginary parts: this keeps
 * the inner loops free of the NaN-recovery branch of C complex multiplication.
 */
#include "convnet.h"
#include "convnet_math.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "error.h"
#include "hamiltonian.h" /* NQS_MAX_FLIP: connected configurations differ in <= 2 sites */

#define CONVNET_MAX_LAYERS NQS_OPT_MAXLIST
#define CONVNET_MAX_CHANNELS 256
#define CONVNET_MAX_KERNEL 64

enum convnet_act { CONVNET_ACT_POLY = 0, CONVNET_ACT_LOGCOSH = 1 };

const struct nqs_opt_def nqs_convnet_options[NQS_CONVNET_N_OPTIONS] = {
    [NQS_CONVNET_KEY_CHANNELS] = {"channels", NQS_OPT_INTLIST, "4,4",
        "channels C_1,...,C_L of the L convolution layers (input: 1 channel, sigma = +-1); "
        "log psi = sum of log cosh of the last layer",
        NULL, 1, CONVNET_MAX_CHANNELS},
    [NQS_CONVNET_KEY_KERNEL] = {"kernel", NQS_OPT_INT, "3",
        "kernel extent k in sites along each lattice direction (k^d offsets), same for all layers",
        NULL, 1, CONVNET_MAX_KERNEL},
    [NQS_CONVNET_KEY_ACTIVATION] = {"activation", NQS_OPT_CHOICE, "poly",
        "activation of the hidden layers (all but the last): poly = z^2/2 - z^4/12 + z^6/45 "
        "(entire); logcosh = principal log cosh, which jumps by 2 pi i across Re z = 0",
        "poly|logcosh", 0, 0},
    [NQS_CONVNET_KEY_GROUP] = {"group", NQS_OPT_CHOICE, "translations",
        "group the weights are shared over: translations = periodic/zero-padded convolutions; "
        "space_group = group-convolutional network (GCNN) over translations x point operations "
        "(cnn only; lcn shares nothing)",
        "translations|space_group", 0, 0},
};

struct convnet {
    int local;                             /* 0 cnn, 1 lcn */
    int act;                               /* enum convnet_act, hidden layers */
    int n_layers;
    int ch[CONVNET_MAX_LAYERS + 1];        /* ch[0] = 1 */
    int n_sites, c_max;
    struct nqs_conv_geom *geom;            /* shared by every layer */
    double complex *par;                   /* n_par, owned */
    int n_par;
    size_t off_K[CONVNET_MAX_LAYERS + 1];  /* parameter offsets, layers 1..L */
    size_t off_b[CONVNET_MAX_LAYERS + 1];
    double *kt;                            /* gather kernels (see convnet_kt), owned */
    size_t off_kt[CONVNET_MAX_LAYERS + 1]; /* in doubles */
    double *ks;                            /* scatter kernels (see convnet_ks), owned */
    size_t off_ks[CONVNET_MAX_LAYERS + 1]; /* in doubles */
    /* cache layout: offsets in complex numbers, then in ints from int_base bytes */
    size_t c_act[CONVNET_MAX_LAYERS + 1];  /* a_0 .. a_{L-1}, and q_L at index L */
    size_t c_pre[CONVNET_MAX_LAYERS + 1];  /* z_1 .. z_L */
    size_t c_da[CONVNET_MAX_LAYERS + 1];   /* da_0 .. da_{L-1} */
    size_t c_dz;                           /* max_l bound[l] C_l */
    size_t c_w;                            /* k^d C_max: one input's contributions */
    size_t c_grad[2];
    size_t int_base;
    size_t i_mark;
    size_t i_list[CONVNET_MAX_LAYERS + 1];
    int bound[CONVNET_MAX_LAYERS + 1];     /* max |S_l| */
};

void nqs_convnet_free(void *state)
{
    struct convnet *net = state;
    if (!net) return;
    nqs_conv_geom_free(net->geom);
    free(net->par);
    free(net->kt);
    free(net->ks);
    free(net);
}

/* Gather kernel of layer l at offset o (and site p for lcn): C_{l-1} rows of
 * 4 C_l doubles, k1 = (Re K[c], Im K[c]) then k2 = (-Im K[c], Re K[c]) over
 * the C_l outputs c, so that the real and imaginary parts of z += K v are the
 * single loop (z_re, z_im)[e] += k1[e] Re v + k2[e] Im v, e < 2 C_l. */
static inline const double *convnet_kt(const struct convnet *net, int l, int p, int o)
{
    const size_t row = 4 * (size_t)net->ch[l] * (size_t)net->ch[l - 1];
    const size_t n_off = (size_t)net->geom->n_off;
    return net->kt + net->off_kt[l] + ((net->local ? (size_t)p * n_off : 0) + (size_t)o) * row;
}

/* Scatter kernel of layer l for the changes of input q (lcn; cnn: one block
 * for every q): C_{l-1} rows, each the real parts of n_off x C_l entries then
 * the imaginary parts, entry j C_l + c being the weight with which input
 * channel c' of q enters output channel c of its j-th reader (cnn: of the
 * reader at offset o = j; lcn: of the reader out_pos[q n_off + j]). */
static inline const double *convnet_ks(const struct convnet *net, int l, int q)
{
    const size_t blk = 2 * (size_t)net->geom->n_off * net->ch[l] * net->ch[l - 1];
    return net->ks + net->off_ks[l] + (net->local ? (size_t)q * blk : 0);
}

void nqs_convnet_refresh(struct nqs_model *m)
{
    struct convnet *net = m->state;
    const struct nqs_conv_geom *g = net->geom;
    const int n_off = g->n_off, rep = net->local ? net->n_sites : 1;
    for (int l = 1; l <= net->n_layers; l++) {
        const int Ci = net->ch[l - 1], Co = net->ch[l];
        const size_t blk = (size_t)Co * Ci * n_off, row = (size_t)n_off * Co;
        for (int p = 0; p < rep; p++) {
            const double complex *K = net->par + net->off_K[l] + (size_t)p * blk;
            for (int o = 0; o < n_off; o++) {
                double *kt = (double *)convnet_kt(net, l, p, o);
                for (int ci = 0; ci < Ci; ci++, kt += 4 * Co)
                    for (int co = 0; co < Co; co++) {
                        double complex k = K[((size_t)co * Ci + ci) * n_off + o];
                        kt[co] = creal(k);
                        kt[Co + co] = cimag(k);
                        kt[2 * Co + co] = -cimag(k);
                        kt[3 * Co + co] = creal(k);
                    }
            }
        }
        for (int q = 0; q < rep; q++) {
            double *ks = (double *)convnet_ks(net, l, q);
            const int n_j = net->local ? g->n_read[q] : n_off;
            for (int j = 0; j < n_j; j++) {
                const int p = net->local ? g->out_pos[(size_t)q * n_off + j] : 0;
                const int o = net->local ? g->roff[(size_t)q * n_off + j] : j;
                const double complex *K = net->par + net->off_K[l] + (size_t)p * blk;
                for (int ci = 0; ci < Ci; ci++)
                    for (int co = 0; co < Co; co++) {
                        double complex k = K[((size_t)co * Ci + ci) * n_off + o];
                        ks[2 * ci * row + (size_t)j * Co + co] = creal(k);
                        ks[(2 * ci + 1) * row + (size_t)j * Co + co] = cimag(k);
                    }
            }
        }
    }
}

int nqs_convnet_alloc(struct nqs_model *m, const struct nqs_lattice *lat,
                      const struct nqs_opt_val *values, int local)
{
    const char *name = local ? "lcn" : "cnn";
    const struct nqs_opt_val *o_ch = &values[NQS_CONVNET_KEY_CHANNELS];
    const struct nqs_opt_val *o_k = &values[NQS_CONVNET_KEY_KERNEL];
    const struct nqs_opt_val *o_act = &values[NQS_CONVNET_KEY_ACTIVATION];
    if (o_ch->n_list < 1 || o_ch->n_list > CONVNET_MAX_LAYERS)
        NQS_ERROR(NQS_EINVAL, "[model] channels: %s needs 1 to %d layers, got %d", name,
                  CONVNET_MAX_LAYERS, o_ch->n_list);
    for (int l = 0; l < o_ch->n_list; l++)
        if (o_ch->list[l] < 1 || o_ch->list[l] > CONVNET_MAX_CHANNELS)
            NQS_ERROR(NQS_EINVAL, "[model] channels: entry %d is %d, accepted 1..%d", l + 1,
                      o_ch->list[l], CONVNET_MAX_CHANNELS);
    if (o_k->i < 1 || o_k->i > CONVNET_MAX_KERNEL)
        NQS_ERROR(NQS_EINVAL, "[model] kernel: %s kernel extent %ld out of range (accepted 1..%d)",
                  name, o_k->i, CONVNET_MAX_KERNEL);
    if (o_act->i != CONVNET_ACT_POLY && o_act->i != CONVNET_ACT_LOGCOSH)
        NQS_ERROR(NQS_EINVAL, "[model] activation: %s activation index %ld unknown (accepted: "
                  "poly, logcosh)", name, o_act->i);
    if (lat->dim < 1 || lat->dim > 2)
        NQS_ERROR(NQS_EUNSUP, "%s needs a 1-D or 2-D lattice, got dimension %d", name, lat->dim);
    struct convnet *net = calloc(1, sizeof *net);
    if (!net) NQS_ERROR(NQS_ENOMEM, "out of memory allocating model '%s'", name);
    int N = lat->n_sites, k = (int)o_k->i, dim = lat->dim;
    net->local = local;
    net->act = (int)o_act->i;
    net->n_layers = o_ch->n_list;
    net->n_sites = N;
    net->ch[0] = 1;
    net->c_max = 1;
    for (int l = 1; l <= net->n_layers; l++) {
        net->ch[l] = o_ch->list[l - 1];
        if (net->ch[l] > net->c_max) net->c_max = net->ch[l];
    }

    int ext[2] = {lat->extent[0], dim > 1 ? lat->extent[1] : 1}, kk[2] = {k, k};
    enum nqs_conv_pad pad[2];
    for (int d = 0; d < dim; d++) pad[d] = lat->periodic[d] ? NQS_CONV_PERIODIC : NQS_CONV_ZERO;
    net->geom = nqs_conv_geom_alloc(dim, ext, kk, pad);
    if (!net->geom) { /* inputs are valid here: only memory can fail */
        nqs_convnet_free(net);
        return NQS_ENOMEM;
    }
    if (net->geom->n_in_pos != N) {
        int n_pos = net->geom->n_in_pos;
        nqs_convnet_free(net);
        NQS_ERROR(NQS_EINTERNAL, "%s: lattice extents give %d grid points for %d sites", name,
                  n_pos, N);
    }
    int n_off = net->geom->n_off;

    /* parameters, and the kernel copy (2 doubles per kernel entry) */
    double n_par = 0;
    size_t off = 0, off_kt = 0;
    size_t rep = local ? (size_t)N : 1;
    for (int l = 1; l <= net->n_layers; l++) {
        size_t nk = rep * (size_t)net->ch[l] * (size_t)net->ch[l - 1] * (size_t)n_off;
        size_t nb = rep * (size_t)net->ch[l];
        net->off_K[l] = off;
        net->off_b[l] = off + nk;
        net->off_kt[l] = 2 * off_kt; /* 4 doubles per kernel entry */
        net->off_ks[l] = off_kt;     /* 2 doubles per kernel entry */
        off += nk + nb;
        off_kt += 2 * nk;
        n_par += (double)nk + (double)nb;
    }
    if (n_par > INT_MAX) {
        nqs_convnet_free(net);
        NQS_ERROR(NQS_ENOMEM, "%s would have %.0f parameters (more than %d): reduce channels or "
                  "kernel", name, n_par, INT_MAX);
    }
    /* Offsets beyond the extent wrap onto the same sites again (periodic) or
     * reach only zero padding (open): a kernel a little longer than a small
     * lattice is harmless, but one many times longer (64 on a 3x3 lattice)
     * only multiplies redundant parameters. Refused beyond twice the extent. */
    int k_max = 2 * lat->extent[0];
    if (lat->dim > 1 && 2 * lat->extent[1] < k_max) k_max = 2 * lat->extent[1];
    if (o_k->i > k_max) {
        nqs_convnet_free(net);
        NQS_ERROR(NQS_EINVAL, "[model] kernel: %s kernel extent %ld is more than twice the "
                  "lattice extent: offsets beyond it only repeat sites (periodic) or padding "
                  "(open) (accepted 1..%d on this lattice)", name, o_k->i, k_max);
    }

    net->n_par = (int)off;
    net->par = calloc(off, sizeof *net->par);
    net->kt = calloc(2 * off_kt, sizeof *net->kt);
    net->ks = calloc(off_kt, sizeof *net->ks);

    /* |S_l| <= n_flip * prod_d min(extent_d, l (k - 1) + 1), and <= N */
    for (int l = 0; l <= net->n_layers; l++) {
        long cone = 1;
        for (int d = 0; d < dim; d++) {
            long e = (long)l * (k - 1) + 1;
            cone *= e < ext[d] ? e : ext[d];
        }
        long b = NQS_MAX_FLIP * cone;
        net->bound[l] = b < N ? (int)b : N;
    }
    /* cache layout */
    size_t c = 0, dz = 0;
    net->c_act[0] = c;
    c += (size_t)N;
    for (int l = 1; l <= net->n_layers; l++) {
        net->c_pre[l] = c;
        c += (size_t)N * net->ch[l];
        net->c_act[l] = c; /* a_l, or q_L for the last layer */
        c += (size_t)N * net->ch[l];
    }
    for (int l = 0; l < net->n_layers; l++) {
        net->c_da[l] = c;
        c += (size_t)net->bound[l] * net->ch[l];
    }
    for (int l = 1; l <= net->n_layers; l++)
        if ((size_t)net->bound[l] * net->ch[l] > dz) dz = (size_t)net->bound[l] * net->ch[l];
    net->c_dz = c;
    c += dz;
    net->c_w = c;
    c += (size_t)n_off * net->c_max;
    net->c_grad[0] = c;
    c += (size_t)N * net->c_max;
    net->c_grad[1] = c;
    c += (size_t)N * net->c_max;
    net->int_base = c * sizeof(double complex);
    size_t i = 0;
    net->i_mark = i;
    i += (size_t)N;
    for (int l = 0; l <= net->n_layers; l++) {
        net->i_list[l] = i;
        i += (size_t)net->bound[l];
    }

    if (!net->par || !net->kt || !net->ks) {
        nqs_convnet_free(net);
        NQS_ERROR(NQS_ENOMEM, "out of memory for the %d parameters of '%s'", (int)off, name);
    }

    m->state = net;
    /* cnn: periodic convolutions summed over every position are invariant
     * under the lattice's translations, so a projection sums over cosets of
     * them (projected.c); lcn has a kernel per site and no symmetry. */
    m->invariance = local ? NQS_INVARIANT_NONE : NQS_INVARIANT_TRANSLATIONS;
    m->n_par = net->n_par;
    m->par = net->par;
    m->cache_size = net->int_base + i * sizeof(int);
    m->n_hidden = N * net->c_max;
    int len = snprintf(m->layout, sizeof m->layout, "channels=");
    for (int l = 1; l <= net->n_layers && len < (int)sizeof m->layout; l++)
        len += snprintf(m->layout + len, sizeof m->layout - (size_t)len, "%s%d", l > 1 ? "," : "",
                        net->ch[l]);
    if (len < (int)sizeof m->layout)
        len += snprintf(m->layout + len, sizeof m->layout - (size_t)len, " kernel=%d^%d %s %s:",
                        k, dim, net->act == CONVNET_ACT_POLY ? "poly" : "logcosh",
                        local ? "local" : "shared");
    for (int l = 1; l <= net->n_layers && len < (int)sizeof m->layout; l++) {
        if (local)
            len += snprintf(m->layout + len, sizeof m->layout - (size_t)len,
                            " K%d[%dx%dx%dx%d] b%d[%dx%d]", l, N, net->ch[l], net->ch[l - 1],
                            n_off, l, N, net->ch[l]);
        else
            len += snprintf(m->layout + len, sizeof m->layout - (size_t)len,
                            " K%d[%dx%dx%d] b%d[%d]", l, net->ch[l], net->ch[l - 1], n_off, l,
                            net->ch[l]);
    }
    return NQS_OK;
}

static inline double complex convnet_act(const struct convnet *net, double complex z)
{
    return net->act == CONVNET_ACT_POLY ? nqs_cn_poly(z) : nqs_logcosh(z);
}

/* ------------------------------------------------------------ forward pass */

/* z_l at position p, all C_l channels, into z[0..C_l), from a_{l-1} in `C`.
 * Every full pass and every cache update goes through convnet_point, so they
 * agree bit for bit. The body is instantiated with constant channel counts
 * for the common small ones (the compiler then unrolls and vectorises the
 * channel loop); the arithmetic is the same for every instance. */
static inline void convnet_point_co(const struct convnet *net, const double complex *C, int l,
                                    int p, double complex *z, const int Co)
{
    const struct nqs_conv_geom *g = net->geom;
    const int Ci = net->ch[l - 1], n_off = g->n_off, nv = g->n_valid[p];
    const int *iq = g->in_pos + (size_t)p * n_off, *io = g->off + (size_t)p * n_off;
    const double complex *b = net->par + net->off_b[l] + (net->local ? (size_t)p * Co : 0);
    const double complex *in = C + net->c_act[l - 1];
    double acc[2 * CONVNET_MAX_CHANNELS]; /* real parts, then imaginary parts */
    for (int co = 0; co < Co; co++) {
        acc[co] = creal(b[co]);
        acc[Co + co] = cimag(b[co]);
    }
    for (int j = 0; j < nv; j++) {
        const double complex *v = in + (size_t)iq[j] * Ci;
        const double *kt = convnet_kt(net, l, p, io[j]);
        for (int ci = 0; ci < Ci; ci++, kt += 4 * Co) {
            const double vr = creal(v[ci]), vi = cimag(v[ci]);
            const double *restrict k1 = kt, *restrict k2 = kt + 2 * Co;
            for (int e = 0; e < 2 * Co; e++) acc[e] += k1[e] * vr + k2[e] * vi;
        }
    }
    for (int co = 0; co < Co; co++) z[co] = CMPLX(acc[co], acc[Co + co]);
}

/* Kept out of line so that every caller runs the same machine code: GCC may
 * contract or vectorise an inlined copy differently (it emits FMAs in
 * vectorised code even without -ffp-contract=fast), and the exact cache
 * update must reproduce the full pass bit for bit. */
#if defined(__GNUC__)
#define CONVNET_NOINLINE __attribute__((noinline))
#else
#define CONVNET_NOINLINE
#endif

/* Position p of layer l: z_l into z[0..C_l) and the cached values derived
 * from it into a[0..C_l): a_l = f(z_l) for a hidden layer, q_L for the last.
 * The full pass and the exact update both compute every position here. */
static CONVNET_NOINLINE void convnet_position(const struct convnet *net, const double complex *C,
                                              int l, int p, double complex *z, double complex *a)
{
    const int Co = net->ch[l];
    switch (Co) {
    case 1: convnet_point_co(net, C, l, p, z, 1); break;
    case 2: convnet_point_co(net, C, l, p, z, 2); break;
    case 4: convnet_point_co(net, C, l, p, z, 4); break;
    case 8: convnet_point_co(net, C, l, p, z, 8); break;
    default: convnet_point_co(net, C, l, p, z, Co); break;
    }
    if (l < net->n_layers)
        for (int c = 0; c < Co; c++) a[c] = convnet_act(net, z[c]);
    else
        for (int c = 0; c < Co; c++) a[c] = nqs_cn_q(z[c]);
}

double complex nqs_convnet_cache_init(const struct nqs_model *m, const int8_t *s, void *cache)
{
    const struct convnet *net = m->state;
    const int N = net->n_sites, L = net->n_layers;
    double complex *C = cache;
    memset(cache, 0, m->cache_size); /* scratch marks must start at zero */
    double complex *a0 = C + net->c_act[0];
    for (int i = 0; i < N; i++) a0[i] = s[i];
    for (int l = 1; l <= L; l++) {
        const size_t Co = (size_t)net->ch[l];
        double complex *z = C + net->c_pre[l], *a = C + net->c_act[l];
        for (int p = 0; p < N; p++) convnet_position(net, C, l, p, z + p * Co, a + p * Co);
    }
    const size_t nL = (size_t)N * net->ch[L];
    const double complex *z = C + net->c_pre[L], *q = C + net->c_act[L];
    double complex u_sum = 0;
    struct nqs_cn_prod P = {1.0, 0.0};
    for (size_t j = 0; j < nL; j++) {
        u_sum += nqs_cn_u(z[j]);
        nqs_cn_prod_mul(&P, q[j]);
    }
    return u_sum + P.l + clog(P.p);
}

/* ------------------------------------------------------------ updates */

/* Flip `sites` (at most NQS_MAX_FLIP) in the cached network by recomputing
 * the affected positions in place. With `dlp` non-NULL the change of log psi
 * is returned there. */
static void convnet_apply(const struct convnet *net, void *cache, int n_flip, const int *sites,
                          double complex *dlp)
{
    double complex *C = cache;
    int *ib = (int *)((char *)cache + net->int_base);
    int *mark = ib + net->i_mark;
    const struct nqs_conv_geom *g = net->geom;
    const int n_off = g->n_off, L = net->n_layers;

    /* layer 0: S_0 = distinct flipped sites; a repeated site flips back */
    double complex *a0 = C + net->c_act[0];
    int *S = ib + net->i_list[0], nS = 0;
    for (int f = 0; f < n_flip; f++) {
        int i = sites[f];
        NQS_ASSERT(i >= 0 && i < net->n_sites);
        if (!mark[i]) {
            mark[i] = 1;
            S[nS++] = i;
        }
        a0[i] = -a0[i];
    }
    for (int t = 0; t < nS; t++) mark[S[t]] = 0;

    double complex u_sum = 0;
    struct nqs_cn_prod Pn = {1.0, 0.0}, Po = {1.0, 0.0};
    for (int l = 1; l <= L; l++) {
        const int *Sp = S, nSp = nS;
        S = ib + net->i_list[l];
        nS = 0;
        for (int t = 0; t < nSp; t++) {
            int q = Sp[t];
            const int *op = g->out_pos + (size_t)q * n_off;
            for (int j = 0; j < g->n_read[q]; j++) {
                int p = op[j];
                if (!mark[p]) {
                    mark[p] = 1;
                    S[nS++] = p;
                }
            }
        }
        NQS_ASSERT(nS <= net->bound[l]);
        const int Co = net->ch[l];
        double complex *z = C + net->c_pre[l], *a = C + net->c_act[l];
        double complex zt[CONVNET_MAX_CHANNELS], at[CONVNET_MAX_CHANNELS];
        for (int t = 0; t < nS; t++) {
            const size_t p = (size_t)S[t];
            mark[p] = 0;
            convnet_position(net, C, l, (int)p, zt, at);
            for (int c = 0; c < Co; c++) {
                const size_t j = p * Co + c;
                if (l == L && dlp) {
                    u_sum += nqs_cn_u(zt[c]) - nqs_cn_u(z[j]);
                    nqs_cn_prod_mul(&Pn, at[c]);
                    nqs_cn_prod_mul(&Po, a[j]);
                }
                a[j] = at[c];
                z[j] = zt[c];
            }
        }
    }
    if (dlp) *dlp = u_sum + (Pn.l - Po.l) + clog(Pn.p / Po.p);
}

/* Any number of flips in chunks of at most NQS_MAX_FLIP (the scratch lists
 * are sized for that many); returns the summed change of log psi. */
static double complex convnet_apply_chunks(const struct convnet *net, void *cache, int n_flip,
                                           const int *sites, int want)
{
    double complex dlp = 0, d = 0;
    for (int f = 0; f < n_flip; f += NQS_MAX_FLIP) {
        int n = n_flip - f < NQS_MAX_FLIP ? n_flip - f : NQS_MAX_FLIP;
        convnet_apply(net, cache, n, sites + f, want ? &d : NULL);
        dlp += d;
    }
    return dlp;
}

/* The changes of layer l from those of layer l-1 at the nSp positions Sp
 * (da_{l-1}: dap[t C_{l-1} + c']): for each q in Sp, w[j] = K_l[(i_j)][o_j]
 * da_{l-1}[q] for all its readers j in one contiguous loop over readers and
 * channels, then dz[slot of i_j] += w[j]. Lists the changed positions in S
 * (marking them with slot + 1) and returns their number. Instantiated with
 * constant channel counts like convnet_point_co. */
static inline int convnet_scatter(const struct convnet *net, double complex *C, int *mark, int l,
                                  const int *Sp, int nSp, const double complex *dap, int *S,
                                  double *dz, const int Co)
{
    const struct nqs_conv_geom *g = net->geom;
    const int n_off = g->n_off, Ci = net->ch[l - 1];
    int nS = 0;
    const size_t row = (size_t)n_off * Co;
    double *wr = (double *)(C + net->c_w), *wi = wr + row;
    for (int t = 0; t < nSp; t++) {
        const int q = Sp[t], nr = g->n_read[q];
        const int *op = g->out_pos + (size_t)q * n_off, *oo = g->roff + (size_t)q * n_off;
        const double complex *dv = dap + (size_t)t * Ci;
        const size_t nw = (size_t)(net->local ? nr : n_off) * Co;
        const double *ks = convnet_ks(net, l, q);
        for (int ci = 0; ci < Ci; ci++, ks += 2 * row) {
            const double vr = creal(dv[ci]), vi = cimag(dv[ci]);
            const double *restrict kr = ks, *restrict ki = ks + row;
            double *restrict xr = wr, *restrict xi = wi;
            if (ci == 0) {
                for (size_t e = 0; e < nw; e++) {
                    xr[e] = kr[e] * vr - ki[e] * vi;
                    xi[e] = kr[e] * vi + ki[e] * vr;
                }
            } else {
                for (size_t e = 0; e < nw; e++) {
                    xr[e] += kr[e] * vr - ki[e] * vi;
                    xi[e] += kr[e] * vi + ki[e] * vr;
                }
            }
        }
        for (int j = 0; j < nr; j++) {
            const int p = op[j];
            const size_t w0 = (size_t)(net->local ? j : oo[j]) * Co;
            int slot = mark[p] - 1;
            double *dr = dz + 2 * (size_t)(slot < 0 ? nS : slot) * Co, *di = dr + Co;
            if (slot < 0) {
                S[nS++] = p;
                mark[p] = nS;
                for (int co = 0; co < Co; co++) {
                    dr[co] = wr[w0 + co];
                    di[co] = wi[w0 + co];
                }
            } else {
                for (int co = 0; co < Co; co++) {
                    dr[co] += wr[w0 + co];
                    di[co] += wi[w0 + co];
                }
            }
        }
    }
    return nS;
}

/* log psi(s') - log psi(s) for at most NQS_MAX_FLIP flips by propagating the
 * changes through the layers (header comment); the cached state is only read. */
static double complex convnet_ratio(const struct convnet *net, void *cache, int n_flip,
                                    const int *sites)
{
    double complex *C = cache;
    int *ib = (int *)((char *)cache + net->int_base);
    int *mark = ib + net->i_mark;
    const int L = net->n_layers;
    double *dz = (double *)(C + net->c_dz); /* [slot][re/im][C_l] */

    /* layer 0: sites flipped an odd number of times, da_0 = -2 sigma */
    const double complex *a0 = C + net->c_act[0];
    int *S = ib + net->i_list[0];
    double complex *da = C + net->c_da[0];
    for (int f = 0; f < n_flip; f++) NQS_ASSERT(sites[f] >= 0 && sites[f] < net->n_sites);
    int nS = nqs_cn_flipped(a0, mark, n_flip, sites, S, da);
    if (nS == 0) return 0;

    double complex u_sum = 0;
    struct nqs_cn_prod Pn = {1.0, 0.0}, Po = {1.0, 0.0};
    for (int l = 1; l <= L; l++) {
        const int Co = net->ch[l];
        const int *Sp = S, nSp = nS;
        const double complex *dap = da;
        S = ib + net->i_list[l];
        switch (Co) {
        case 1: nS = convnet_scatter(net, C, mark, l, Sp, nSp, dap, S, dz, 1); break;
        case 2: nS = convnet_scatter(net, C, mark, l, Sp, nSp, dap, S, dz, 2); break;
        case 4: nS = convnet_scatter(net, C, mark, l, Sp, nSp, dap, S, dz, 4); break;
        case 8: nS = convnet_scatter(net, C, mark, l, Sp, nSp, dap, S, dz, 8); break;
        default: nS = convnet_scatter(net, C, mark, l, Sp, nSp, dap, S, dz, Co); break;
        }
        NQS_ASSERT(nS <= net->bound[l]);
        const double complex *z = C + net->c_pre[l], *a = C + net->c_act[l];
        da = l < L ? C + net->c_da[l] : NULL;
        for (int t = 0; t < nS; t++) {
            const size_t p = (size_t)S[t];
            mark[p] = 0;
            const double *dr = dz + 2 * (size_t)t * Co, *di = dr + Co;
            for (int c = 0; c < Co; c++) {
                const size_t j = p * Co + c;
                const double complex zn = CMPLX(creal(z[j]) + dr[c], cimag(z[j]) + di[c]);
                if (l < L) {
                    da[(size_t)t * Co + c] = convnet_act(net, zn) - a[j];
                } else {
                    u_sum += nqs_cn_u(zn) - nqs_cn_u(z[j]);
                    nqs_cn_prod_mul(&Pn, nqs_cn_q(zn));
                    nqs_cn_prod_mul(&Po, a[j]);
                }
            }
        }
    }
    return u_sum + (Pn.l - Po.l) + clog(Pn.p / Po.p);
}

double complex nqs_convnet_log_psi_ratio(const struct nqs_model *m, void *cache, const int8_t *s,
                                         int n_flip, const int *sites)
{
    (void)s; /* the cache holds sigma itself */
    const struct convnet *net = m->state;
    if (n_flip <= 0) return 0;
    if (n_flip > NQS_MAX_FLIP) {
        /* Rare (no Hamiltonian here needs it): flip forward, then back. The
         * recomputation is exact, so flipping back restores the cache bit for bit. */
        double complex dlp = convnet_apply_chunks(net, cache, n_flip, sites, 1);
        (void)convnet_apply_chunks(net, cache, n_flip, sites, 0);
        return dlp;
    }
    return convnet_ratio(net, cache, n_flip, sites);
}

void nqs_convnet_cache_update(const struct nqs_model *m, void *cache, const int8_t *s, int n_flip,
                              const int *sites)
{
    (void)s;
    (void)convnet_apply_chunks(m->state, cache, n_flip, sites, 0);
}

/* ------------------------------------------------------------ gradient */

/* One layer of back-propagation: from delta_l (D) accumulate dK_l, db_l into
 * O and, for l > 1, g_{l-1} into G. Instantiated with constant channel counts
 * like convnet_point_co. */
static inline void convnet_grad_layer(const struct convnet *net, const double complex *C,
                                      const double complex *D, double complex *G,
                                      double complex *O, int l, const int Co)
{
    const struct nqs_conv_geom *g = net->geom;
    const int N = net->n_sites, n_off = g->n_off, Ci = net->ch[l - 1];
    const size_t blk = (size_t)Co * Ci * n_off;
    const double complex *in = C + net->c_act[l - 1];
    double complex *OK = O + net->off_K[l], *Ob = O + net->off_b[l];
    if (l > 1) memset(G, 0, (size_t)N * Ci * sizeof *G);
    double dr[CONVNET_MAX_CHANNELS], di[CONVNET_MAX_CHANNELS];
    for (int p = 0; p < N; p++) {
        const int nv = g->n_valid[p];
        const int *iq = g->in_pos + (size_t)p * n_off, *io = g->off + (size_t)p * n_off;
        double complex *OKp = net->local ? OK + (size_t)p * blk : OK;
        double complex *Obp = net->local ? Ob + (size_t)p * Co : Ob;
        const double complex *d = D + (size_t)p * Co;
        for (int co = 0; co < Co; co++) {
            Obp[co] += d[co];
            dr[co] = creal(d[co]);
            di[co] = cimag(d[co]);
        }
        for (int j = 0; j < nv; j++) {
            const int q = iq[j], o = io[j];
            const double complex *v = in + (size_t)q * Ci;
            for (int ci = 0; ci < Ci; ci++) {
                const double vr = creal(v[ci]), vi = cimag(v[ci]);
                double complex *ok = OKp + (size_t)ci * n_off + o;
                for (int co = 0; co < Co; co++)
                    ok[(size_t)co * Ci * n_off] +=
                        CMPLX(dr[co] * vr - di[co] * vi, dr[co] * vi + di[co] * vr);
            }
            if (l > 1) {
                const double *kt = convnet_kt(net, l, p, o);
                double complex *gg = G + (size_t)q * Ci;
                for (int ci = 0; ci < Ci; ci++, kt += 4 * Co) {
                    const double *kr = kt, *ki = kt + Co;
                    double sr = 0, si = 0;
                    for (int co = 0; co < Co; co++) {
                        sr += kr[co] * dr[co] - ki[co] * di[co];
                        si += kr[co] * di[co] + ki[co] * dr[co];
                    }
                    gg[ci] += CMPLX(sr, si);
                }
            }
        }
    }
}

/* Uses the two back-propagation buffers in the scratch part of the cache: the
 * cached state itself is only read (see the note on grad_log_psi in model.h). */
void nqs_convnet_grad_log_psi(const struct nqs_model *m, const void *cache, const int8_t *s,
                              double complex *O)
{
    (void)s;
    const struct convnet *net = m->state;
    const int N = net->n_sites, L = net->n_layers;
    const double complex *C = cache;
    double complex *D = (double complex *)cache + net->c_grad[0]; /* delta_l [i][c] */
    double complex *G = (double complex *)cache + net->c_grad[1]; /* g_{l-1} [q][c'] */
    memset(O, 0, (size_t)net->n_par * sizeof *O);

    {
        const double complex *zL = C + net->c_pre[L], *qL = C + net->c_act[L];
        for (size_t j = 0; j < (size_t)N * net->ch[L]; j++) D[j] = nqs_cn_tanh_q(zL[j], qL[j]);
    }
    for (int l = L; l >= 1; l--) {
        switch (net->ch[l]) {
        case 1: convnet_grad_layer(net, C, D, G, O, l, 1); break;
        case 2: convnet_grad_layer(net, C, D, G, O, l, 2); break;
        case 4: convnet_grad_layer(net, C, D, G, O, l, 4); break;
        case 8: convnet_grad_layer(net, C, D, G, O, l, 8); break;
        default: convnet_grad_layer(net, C, D, G, O, l, net->ch[l]); break;
        }
        if (l > 1) {
            const int Ci = net->ch[l - 1];
            const double complex *z = C + net->c_pre[l - 1];
            for (size_t j = 0; j < (size_t)N * Ci; j++)
                D[j] = nqs_cn_mul(G[j], net->act == CONVNET_ACT_POLY ? nqs_cn_dpoly(z[j])
                                                                      : ctanh(z[j]));
        }
    }
}
