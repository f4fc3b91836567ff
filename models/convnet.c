/*
 * convnet.c - forward pass, sparse (fast) updates and back-propagation of the
 * log-cosh convolutional network behind `cnn` and its locally connected twin
 * `lcn` (network and parameter layout in convnet.h).
 *
 * Cache of one chain (complex numbers first, then ints):
 *   state   a_0[N] (sigma as complex), z_l[C_l][N], a_l[C_l][N] for l = 1..L;
 *   scratch saved old values of the positions a ratio recomputes, the lists
 *           S_l of those positions, a mark array (all zero between calls), and
 *           two N x C_max buffers for back-propagation.
 * Fast update: flipping sites S_0 changes layer l only at the positions S_l
 * whose receptive field meets S_{l-1} (at most n_flip (l (k-1) + 1)^d sites,
 * fewer when the cone wraps around). Those positions are recomputed in place
 * with the same point function as the full pass (conv.h), so the updated
 * cache is bit-identical to a fresh cache_init of the new configuration (no
 * drift), and the log ratio is sum over S_L and channels of a_new - a_old.
 * log_psi_ratio saves the old values and restores them afterwards; cost
 * O(sum_l |S_l| C_l C_{l-1} k^d), independent of N once the cone is smaller
 * than the lattice.
 * Gradient (holomorphic, d log cosh z / dz = tanh z): delta_L = tanh z_L,
 * g_{l-1}[c'][q] = sum_{c, (i, o): i + o = q} K_l[c][c'][o] delta_l[c][i],
 * delta_{l-1} = g_{l-1} tanh z_{l-1}; dK_l[c][c'][o] = sum_i delta_l[c][i]
 * a_{l-1}[c'][i + o] (cnn; lcn keeps the term of each i), db_l = sum_i delta_l.
 */
#include "convnet.h"

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

const struct nqs_opt_def nqs_convnet_options[NQS_CONVNET_N_OPTIONS] = {
    {"channels", NQS_OPT_INTLIST, "4,4",
     "channels C_1,...,C_L of the L log-cosh convolution layers (input: 1 channel, sigma = +-1)",
     NULL, 1, CONVNET_MAX_CHANNELS},
    {"kernel", NQS_OPT_INT, "3",
     "kernel extent k in sites along each lattice direction (k^d offsets), same for all layers",
     NULL, 1, CONVNET_MAX_KERNEL},
};

struct convnet {
    int local;                             /* 0 cnn, 1 lcn */
    int n_layers;
    int ch[CONVNET_MAX_LAYERS + 1];        /* ch[0] = 1 */
    int n_sites, c_max;
    struct nqs_conv_geom *geom;            /* shared by every layer */
    double complex *par;                   /* n_par, owned */
    int n_par;
    size_t off_K[CONVNET_MAX_LAYERS + 1];  /* parameter offsets, layers 1..L */
    size_t off_b[CONVNET_MAX_LAYERS + 1];
    /* cache layout: offsets in complex numbers, then in ints from int_base bytes */
    size_t c_act[CONVNET_MAX_LAYERS + 1];  /* a_0 .. a_L */
    size_t c_pre[CONVNET_MAX_LAYERS + 1];  /* z_1 .. z_L */
    size_t c_sav_a[CONVNET_MAX_LAYERS + 1];
    size_t c_sav_z[CONVNET_MAX_LAYERS + 1];
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
    free(net);
}

/* The parameters are used in place: nothing is derived from them. */
void nqs_convnet_refresh(struct nqs_model *m)
{
    (void)m;
}

int nqs_convnet_alloc(struct nqs_model *m, const struct nqs_lattice *lat,
                      const struct nqs_opt_val *opt, int local)
{
    const char *name = local ? "lcn" : "cnn";
    const struct nqs_opt_val *o_ch = &opt[0], *o_k = &opt[1];
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
    if (lat->dim < 1 || lat->dim > 2)
        NQS_ERROR(NQS_EUNSUP, "%s needs a 1-D or 2-D lattice, got dimension %d", name, lat->dim);

    struct convnet *net = calloc(1, sizeof *net);
    if (!net) NQS_ERROR(NQS_ENOMEM, "out of memory allocating model '%s'", name);
    int N = lat->n_sites, k = (int)o_k->i, dim = lat->dim;
    net->local = local;
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

    /* parameters */
    double n_par = 0;
    size_t off = 0;
    size_t rep = local ? (size_t)N : 1;
    for (int l = 1; l <= net->n_layers; l++) {
        size_t nk = rep * (size_t)net->ch[l] * (size_t)net->ch[l - 1] * (size_t)n_off;
        size_t nb = rep * (size_t)net->ch[l];
        net->off_K[l] = off;
        net->off_b[l] = off + nk;
        off += nk + nb;
        n_par += (double)nk + (double)nb;
    }
    if (n_par > INT_MAX) {
        nqs_convnet_free(net);
        NQS_ERROR(NQS_ENOMEM, "%s would have %.0f parameters (more than %d): reduce channels or "
                  "kernel", name, n_par, INT_MAX);
    }
    net->n_par = (int)off;
    net->par = calloc(off, sizeof *net->par);

    /* cache layout */
    size_t c = 0;
    net->c_act[0] = c;
    c += (size_t)N;
    for (int l = 1; l <= net->n_layers; l++) {
        net->c_pre[l] = c;
        c += (size_t)N * net->ch[l];
        net->c_act[l] = c;
        c += (size_t)N * net->ch[l];
    }
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
    net->c_sav_a[0] = c;
    c += (size_t)net->bound[0];
    for (int l = 1; l <= net->n_layers; l++) {
        net->c_sav_a[l] = c;
        c += (size_t)net->bound[l] * net->ch[l];
        net->c_sav_z[l] = c;
        c += (size_t)net->bound[l] * net->ch[l];
    }
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

    if (!net->par) {
        nqs_convnet_free(net);
        NQS_ERROR(NQS_ENOMEM, "out of memory for the %d parameters of '%s'", (int)off, name);
    }

    m->state = net;
    m->n_par = net->n_par;
    m->par = net->par;
    m->cache_size = net->int_base + i * sizeof(int);
    m->n_hidden = N * net->c_max;
    int len = snprintf(m->layout, sizeof m->layout, "channels=");
    for (int l = 1; l <= net->n_layers && len < (int)sizeof m->layout; l++)
        len += snprintf(m->layout + len, sizeof m->layout - (size_t)len, "%s%d", l > 1 ? "," : "",
                        net->ch[l]);
    if (len < (int)sizeof m->layout)
        len += snprintf(m->layout + len, sizeof m->layout - (size_t)len, " kernel=%d^%d %s:", k,
                        dim, local ? "local" : "shared");
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

/* z_l at position p from a_{l-1} (in the cache `C`), all channels. */
static inline void convnet_point(const struct convnet *net, double complex *C, int l, int p)
{
    const double complex *K = net->par + net->off_K[l], *b = net->par + net->off_b[l];
    if (net->local)
        nqs_conv_local_point(net->geom, net->ch[l - 1], net->ch[l], K, b, C + net->c_act[l - 1], p,
                             C + net->c_pre[l]);
    else
        nqs_conv_point(net->geom, net->ch[l - 1], net->ch[l], K, b, C + net->c_act[l - 1], p,
                       C + net->c_pre[l]);
}

double complex nqs_convnet_cache_init(const struct nqs_model *m, const int8_t *s, void *cache)
{
    const struct convnet *net = m->state;
    const int N = net->n_sites;
    double complex *C = cache;
    memset(cache, 0, m->cache_size); /* scratch marks must start at zero */
    double complex *a0 = C + net->c_act[0];
    for (int i = 0; i < N; i++) a0[i] = s[i];
    for (int l = 1; l <= net->n_layers; l++) {
        for (int p = 0; p < N; p++) convnet_point(net, C, l, p);
        const double complex *z = C + net->c_pre[l];
        double complex *a = C + net->c_act[l];
        for (size_t j = 0; j < (size_t)N * net->ch[l]; j++) a[j] = nqs_logcosh(z[j]);
    }
    const double complex *aL = C + net->c_act[net->n_layers];
    double complex lp = 0;
    for (size_t j = 0; j < (size_t)N * net->ch[net->n_layers]; j++) lp += aL[j];
    return lp;
}

/* Flip `sites` in the cached network by recomputing the affected positions in
 * place; with `save` the old values are kept in scratch for convnet_restore.
 * count[l] receives |S_l|. Returns the change of log psi. */
static double complex convnet_apply(const struct convnet *net, void *cache, int n_flip,
                                    const int *sites, int save, int *count)
{
    double complex *C = cache;
    int *ib = (int *)((char *)cache + net->int_base);
    int *mark = ib + net->i_mark;
    const struct nqs_conv_geom *g = net->geom;
    const int N = net->n_sites, n_off = g->n_off;

    /* layer 0: S_0 = distinct flipped sites; a repeated site flips back */
    double complex *a0 = C + net->c_act[0];
    int *S = ib + net->i_list[0], nS = 0;
    for (int f = 0; f < n_flip; f++) {
        int i = sites[f];
        NQS_ASSERT(i >= 0 && i < N);
        if (!mark[i]) {
            mark[i] = 1;
            if (save) C[net->c_sav_a[0] + (size_t)nS] = a0[i];
            S[nS++] = i;
        }
        a0[i] = -a0[i];
    }
    for (int t = 0; t < nS; t++) mark[S[t]] = 0;
    count[0] = nS;

    double complex dlp = 0;
    for (int l = 1; l <= net->n_layers; l++) {
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
        count[l] = nS;
        const int Cl = net->ch[l], last = l == net->n_layers;
        double complex *z = C + net->c_pre[l], *a = C + net->c_act[l];
        double complex *sz = C + net->c_sav_z[l], *sa = C + net->c_sav_a[l];
        for (int t = 0; t < nS; t++) {
            int p = S[t];
            mark[p] = 0;
            if (save)
                for (int c = 0; c < Cl; c++) {
                    sz[(size_t)t * Cl + c] = z[(size_t)c * N + p];
                    sa[(size_t)t * Cl + c] = a[(size_t)c * N + p];
                }
            convnet_point(net, C, l, p);
            for (int c = 0; c < Cl; c++) {
                size_t j = (size_t)c * N + p;
                double complex anew = nqs_logcosh(z[j]);
                if (last) dlp += anew - a[j];
                a[j] = anew;
            }
        }
    }
    return dlp;
}

/* Undo convnet_apply(save = 1) from the saved values and the lists S_l. */
static void convnet_restore(const struct convnet *net, void *cache, const int *count)
{
    double complex *C = cache;
    const int *ib = (const int *)((const char *)cache + net->int_base);
    const int N = net->n_sites;
    const int *S = ib + net->i_list[0];
    double complex *a0 = C + net->c_act[0];
    for (int t = 0; t < count[0]; t++) a0[S[t]] = C[net->c_sav_a[0] + (size_t)t];
    for (int l = 1; l <= net->n_layers; l++) {
        const int Cl = net->ch[l];
        double complex *z = C + net->c_pre[l], *a = C + net->c_act[l];
        const double complex *sz = C + net->c_sav_z[l], *sa = C + net->c_sav_a[l];
        S = ib + net->i_list[l];
        for (int t = 0; t < count[l]; t++)
            for (int c = 0; c < Cl; c++) {
                z[(size_t)c * N + S[t]] = sz[(size_t)t * Cl + c];
                a[(size_t)c * N + S[t]] = sa[(size_t)t * Cl + c];
            }
    }
}

/* Apply any number of flips in chunks of at most NQS_MAX_FLIP (the scratch
 * lists are sized for that many); returns the summed change of log psi. */
static double complex convnet_apply_chunks(const struct convnet *net, void *cache, int n_flip,
                                           const int *sites)
{
    int count[CONVNET_MAX_LAYERS + 1];
    double complex dlp = 0;
    for (int f = 0; f < n_flip; f += NQS_MAX_FLIP) {
        int n = n_flip - f < NQS_MAX_FLIP ? n_flip - f : NQS_MAX_FLIP;
        dlp += convnet_apply(net, cache, n, sites + f, 0, count);
    }
    return dlp;
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
        double complex dlp = convnet_apply_chunks(net, cache, n_flip, sites);
        (void)convnet_apply_chunks(net, cache, n_flip, sites);
        return dlp;
    }
    int count[CONVNET_MAX_LAYERS + 1];
    double complex dlp = convnet_apply(net, cache, n_flip, sites, 1, count);
    convnet_restore(net, cache, count);
    return dlp;
}

void nqs_convnet_cache_update(const struct nqs_model *m, void *cache, const int8_t *s, int n_flip,
                              const int *sites)
{
    (void)s;
    (void)convnet_apply_chunks(m->state, cache, n_flip, sites);
}

/* Uses the two back-propagation buffers in the scratch part of the cache: the
 * cached state itself is only read (see the note on grad_log_psi in model.h). */
void nqs_convnet_grad_log_psi(const struct nqs_model *m, const void *cache, const int8_t *s,
                              double complex *O)
{
    (void)s;
    const struct convnet *net = m->state;
    const struct nqs_conv_geom *g = net->geom;
    const int N = net->n_sites, n_off = g->n_off;
    const double complex *C = cache;
    double complex *D = (double complex *)cache + net->c_grad[0]; /* delta_l */
    double complex *G = (double complex *)cache + net->c_grad[1]; /* g_{l-1} */
    memset(O, 0, (size_t)net->n_par * sizeof *O);

    const int L = net->n_layers;
    const double complex *zL = C + net->c_pre[L];
    for (size_t j = 0; j < (size_t)N * net->ch[L]; j++) D[j] = ctanh(zL[j]);

    for (int l = L; l >= 1; l--) {
        const int Ci = net->ch[l - 1], Co = net->ch[l];
        const size_t blk = (size_t)Co * Ci * n_off;
        const double complex *in = C + net->c_act[l - 1];
        const double complex *K = net->par + net->off_K[l];
        double complex *OK = O + net->off_K[l], *Ob = O + net->off_b[l];
        if (l > 1) memset(G, 0, (size_t)N * Ci * sizeof *G);
        for (int p = 0; p < N; p++) {
            const int nv = g->n_valid[p];
            const int *iq = g->in_pos + (size_t)p * n_off, *io = g->off + (size_t)p * n_off;
            double complex *OKp = net->local ? OK + (size_t)p * blk : OK;
            double complex *Obp = net->local ? Ob + (size_t)p * Co : Ob;
            const double complex *Kp = net->local ? K + (size_t)p * blk : K;
            for (int co = 0; co < Co; co++) {
                const double complex d = D[(size_t)co * N + p];
                Obp[co] += d;
                for (int ci = 0; ci < Ci; ci++) {
                    const double complex *v = in + (size_t)ci * N;
                    double complex *ok = OKp + ((size_t)co * Ci + ci) * n_off;
                    for (int j = 0; j < nv; j++) ok[io[j]] += d * v[iq[j]];
                    if (l > 1) {
                        const double complex *kk = Kp + ((size_t)co * Ci + ci) * n_off;
                        double complex *gg = G + (size_t)ci * N;
                        for (int j = 0; j < nv; j++) gg[iq[j]] += kk[io[j]] * d;
                    }
                }
            }
        }
        if (l > 1) {
            const double complex *z = C + net->c_pre[l - 1];
            for (size_t j = 0; j < (size_t)N * Ci; j++) D[j] = G[j] * ctanh(z[j]);
        }
    }
}
