/*
 * gcnn.c - group-convolutional neural quantum state: `cnn` with
 * [model] group = space_group (Roth & MacDonald, arXiv:2104.05085 (2021);
 * Roth, Szabo & MacDonald, PRB 107, 195131 (2023)). Feature maps live on the
 * elements g of the lattice's space group G (symmetry.h: g = T_t P_p, site
 * permutations with (g s)[perm_g(i)] = s[i]) instead of on the sites:
 *
 *   embedding   z_1[g][c] = b_1[c] + sum_{j < n_d} W_1[c][j] sigma[perm_g(d_j)]
 *   group conv  z_l[g][c] = b_l[c] + sum_{c'} sum_{j < n_k} K_l[c][c'][j] a_{l-1}[g h_j][c']
 *   a_l = f(z_l) for the hidden layers l < L (poly or logcosh, as cnn),
 *   log psi = sum_{g, c} log cosh z_L[g][c].
 *
 * Supports. The filter sites d_j: along a periodic direction the k offsets
 * -(k-1)/2 .. k/2 (rounded towards -inf, k = [model] kernel) around site 0,
 * along an open direction every coordinate 0 .. L-1 (open directions have no
 * translations, so a filter there must see the whole extent); j runs x
 * fastest. The kernel elements h_j = T_o P_q for the same periodic offsets o
 * and every point operation q of the group, j = q n_off + o (n_off = k^(number
 * of periodic directions)): |K| = n_k = n_off |P|. Entries that coincide on
 * small lattices (offsets wrapping around, operations acting alike) are kept
 * as separate parameters, as cnn keeps a wrapped kernel.
 *
 * Invariance is exact for any supports: the embedding of h s is that of s
 * moved by g -> h^-1 g, z_1[g](h s) = z_1[h^-1 g](s), because perm_{h^-1} o
 * perm_g = perm_{h^-1 g}; the group convolution multiplies on the right and so
 * commutes with that left multiplication; the sum over all g is then the same
 * sum in another order: psi(h s) = psi(s) for every h in G, to rounding.
 *
 * Output: the sum of log cosh over group elements and channels, i.e. psi is a
 * product of cosh, not log sum_g exp(z_L[g]) (the other choice of the papers).
 * A flip changes a few z_L[g], and the product's ratio involves only those;
 * a log-sum-exp ratio needs the whole sum, which would have to be kept in the
 * cache and updated by differences (drift, cancellation between phases), and
 * its gradient involves every element. Non-trivial symmetry sectors are the
 * business of a projection on top of the model, not of this output layer.
 * The last layer and the hidden activations are those of cnn (convnet.h:
 * log cosh = u + log q, products rescaled; poly keeps psi entire).
 *
 * With G = translations only (|P| = 1) and periodic directions this is cnn
 * itself, with the kernel shifted by -(k-1)/2: the same parameters give the
 * same log psi (tests/test_gcnn.c checks it).
 *
 * Parameters, layer after layer: W_1[C_1][n_d], b_1[C_1], then for l >= 2
 * K_l[C_l][C_{l-1}][n_k], b_l[C_l]. P = C_1 (n_d + 1) + sum_{l>=2} C_l (C_{l-1}
 * n_k + 1); n_d = k^d on a periodic lattice.
 *
 * Cost. Full pass O(|G| n_k C^2) per layer. A flip of site i changes z_1 at
 * the elements reading i (|P| n_d of them on a periodic lattice), and a
 * change at g' changes z_l at its readers g = g' h_j^-1, j < n_k: layer l
 * changes at most |P| (|cone_l| translations) elements, so a ratio costs
 * O(|P|^2 cone k^d C^2) per layer instead of O(|G| ...). log_psi_ratio
 * propagates the changes only (scatter: the contributions of one changed
 * input to all its readers in one contiguous loop over a scatter copy of the
 * kernels, then added into the readers' slots), leaving the cache untouched;
 * cache_update recomputes the changed elements in place with the function of
 * the full pass, so the updated cache equals a fresh one bit for bit.
 * Per-chain cache (complex numbers, then ints): a_0[N] (sigma), z_l[|G|][C_l],
 * a_l[|G|][C_l] (q_L = 1 + exp(-2 z') for the last layer), scratch: da_0[N],
 * two da buffers and dz [|G|][C_max], one input's contributions
 * [max(n_d, n_k)][C_max], two back-propagation buffers, lists and a mark
 * array (zero between calls). No allocation after alloc. refresh builds the
 * gather and scatter copies of the kernels (4 doubles per weight).
 */
#include "convnet.h"
#include "convnet_math.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "symmetry.h"

#define GCNN_MAX_LAYERS NQS_OPT_MAXLIST
#define GCNN_MAX_CHANNELS 256

enum gcnn_act { GCNN_ACT_POLY = 0, GCNN_ACT_LOGCOSH = 1 };

struct gcnn {
    int act;
    int n_layers;
    int ch[GCNN_MAX_LAYERS + 1]; /* ch[0] = 1 */
    int c_max;
    int n_sites, n_elem, n_point;
    int n_d;                     /* embedding filter sites */
    int n_k;                     /* group-kernel elements */
    int *in1;                    /* n_elem x n_d: site perm_g(d_j) read by g */
    int *rd1_beg;                /* n_sites + 1: CSR of the readers of a site */
    int *rd1;                    /* g n_d + j, grouped by the site read */
    int *inp;                    /* n_elem x n_k: g h_j */
    int *rdr;                    /* n_elem x n_k: g h_j^-1 (reads g at j) */
    double complex *par;         /* n_par, owned */
    int n_par;
    size_t off_K[GCNN_MAX_LAYERS + 1], off_b[GCNN_MAX_LAYERS + 1];
    double *kt;                  /* gather copy [j][c'][Re c..., Im c...], owned */
    size_t off_kt[GCNN_MAX_LAYERS + 1];
    double *ks;                  /* scatter copy [c'][Re, Im][j][c], owned */
    size_t off_ks[GCNN_MAX_LAYERS + 1];
    /* cache: offsets in complex numbers, then ints from int_base bytes */
    size_t c_act[GCNN_MAX_LAYERS + 1]; /* a_0 .. a_{L-1}, q_L at L */
    size_t c_pre[GCNN_MAX_LAYERS + 1]; /* z_1 .. z_L */
    size_t c_da0, c_da[2], c_dz, c_w, c_grad[2];
    size_t int_base, i_mark, i_list0, i_list[2];
};

static void gcnn_free(void *state)
{
    struct gcnn *net = state;
    if (!net) return;
    free(net->in1);
    free(net->rd1_beg);
    free(net->rd1);
    free(net->inp);
    free(net->rdr);
    free(net->par);
    free(net->kt);
    free(net->ks);
    free(net);
}

/* Row of the kernel copy of layer l at kernel index j, input channel ci:
 * 2 C_l doubles, the real parts of K_l[c][ci][j] over c, then the imaginary. */
static inline const double *gcnn_kt(const struct gcnn *net, int l, int j, int ci)
{
    return net->kt + net->off_kt[l] +
           ((size_t)j * net->ch[l - 1] + (size_t)ci) * 2 * (size_t)net->ch[l];
}

static void gcnn_refresh(struct nqs_model *m)
{
    struct gcnn *net = m->state;
    for (int l = 1; l <= net->n_layers; l++) {
        const int Ci = net->ch[l - 1], Co = net->ch[l], nj = l == 1 ? net->n_d : net->n_k;
        const double complex *K = net->par + net->off_K[l];
        for (int j = 0; j < nj; j++)
            for (int ci = 0; ci < Ci; ci++) {
                double *row = (double *)gcnn_kt(net, l, j, ci);
                double *sr = net->ks + net->off_ks[l] + 2 * (size_t)ci * nj * Co + (size_t)j * Co;
                double *si = sr + (size_t)nj * Co;
                for (int co = 0; co < Co; co++) {
                    double complex k = K[((size_t)co * Ci + ci) * nj + j];
                    row[co] = creal(k);
                    row[Co + co] = cimag(k);
                    sr[co] = creal(k);
                    si[co] = cimag(k);
                }
            }
    }
}

static inline double complex gcnn_act(const struct gcnn *net, double complex z)
{
    return net->act == GCNN_ACT_POLY ? nqs_cn_poly(z) : nqs_logcosh(z);
}

/* ------------------------------------------------------------ forward pass */

/* Kept out of line so that the full pass and the exact update run the same
 * machine code (see the note at convnet_position). */
#if defined(__GNUC__)
#define GCNN_NOINLINE __attribute__((noinline))
#else
#define GCNN_NOINLINE
#endif

/* z_l at element g into z[0..C_l). The body is instantiated with constant
 * channel counts for the common small ones (unrolled, vectorised channel
 * loop); the arithmetic is the same for every instance. */
static inline void gcnn_point_co(const struct gcnn *net, const double complex *C, int l, int g,
                                 double complex *z, const int Co)
{
    const int Ci = net->ch[l - 1];
    const int nj = l == 1 ? net->n_d : net->n_k;
    const int *src = l == 1 ? net->in1 + (size_t)g * nj : net->inp + (size_t)g * nj;
    const double complex *b = net->par + net->off_b[l];
    const double complex *in = C + net->c_act[l - 1];
    double acc[2 * GCNN_MAX_CHANNELS];
    for (int co = 0; co < Co; co++) {
        acc[co] = creal(b[co]);
        acc[Co + co] = cimag(b[co]);
    }
    for (int j = 0; j < nj; j++) {
        const double complex *v = in + (size_t)src[j] * Ci;
        const double *kt = gcnn_kt(net, l, j, 0);
        for (int ci = 0; ci < Ci; ci++, kt += 2 * Co) {
            const double vr = creal(v[ci]), vi = cimag(v[ci]);
            const double *restrict kr = kt, *restrict ki = kt + Co;
            for (int co = 0; co < Co; co++) {
                acc[co] += kr[co] * vr - ki[co] * vi;
                acc[Co + co] += kr[co] * vi + ki[co] * vr;
            }
        }
    }
    for (int co = 0; co < Co; co++) z[co] = CMPLX(acc[co], acc[Co + co]);
}

/* z_l at element g into z[0..C_l), and a_l = f(z_l) (or q_L) into a. */
static GCNN_NOINLINE void gcnn_position(const struct gcnn *net, const double complex *C, int l,
                                        int g, double complex *z, double complex *a)
{
    const int Co = net->ch[l];
    switch (Co) {
    case 1: gcnn_point_co(net, C, l, g, z, 1); break;
    case 2: gcnn_point_co(net, C, l, g, z, 2); break;
    case 4: gcnn_point_co(net, C, l, g, z, 4); break;
    case 8: gcnn_point_co(net, C, l, g, z, 8); break;
    default: gcnn_point_co(net, C, l, g, z, Co); break;
    }
    if (l < net->n_layers)
        for (int co = 0; co < Co; co++) a[co] = gcnn_act(net, z[co]);
    else
        for (int co = 0; co < Co; co++) a[co] = nqs_cn_q(z[co]);
}

static double complex gcnn_cache_init(const struct nqs_model *m, const int8_t *s, void *cache)
{
    const struct gcnn *net = m->state;
    const int G = net->n_elem, L = net->n_layers;
    double complex *C = cache;
    memset(cache, 0, m->cache_size); /* marks start at zero */
    double complex *a0 = C + net->c_act[0];
    for (int i = 0; i < net->n_sites; i++) a0[i] = s[i];
    for (int l = 1; l <= L; l++) {
        const size_t Co = (size_t)net->ch[l];
        double complex *z = C + net->c_pre[l], *a = C + net->c_act[l];
        for (int g = 0; g < G; g++) gcnn_position(net, C, l, g, z + g * Co, a + g * Co);
    }
    const size_t nL = (size_t)G * net->ch[L];
    const double complex *z = C + net->c_pre[L], *q = C + net->c_act[L];
    double complex u_sum = 0;
    struct nqs_cn_prod P = {1.0, 0.0};
    for (size_t j = 0; j < nL; j++) {
        u_sum += nqs_cn_u(z[j]);
        nqs_cn_prod_mul(&P, q[j]);
    }
    return u_sum + P.l + clog(P.p);
}

/* ------------------------------------------------------------ ratio */

/* Sites flipped an odd number of times into S with da_0 = -2 sigma
 * (nqs_cn_flipped); returns their number. */
static int gcnn_flipped(const struct gcnn *net, const double complex *a0, int *mark, int n_flip,
                        const int *sites, int *S, double complex *da)
{
    (void)net; /* read by the assertion only */
    for (int f = 0; f < n_flip; f++) NQS_ASSERT(sites[f] >= 0 && sites[f] < net->n_sites);
    return nqs_cn_flipped(a0, mark, n_flip, sites, S, da);
}

/* The changes of layer l from those of layer l-1: for each changed input q
 * (a site for l = 1, an element otherwise) with change dap[t], first the
 * contributions w[j] = K_l[.][.][j] da(q) to all its readers in one
 * contiguous loop over kernel entries and channels (the scatter copy ks),
 * then dz[slot of reader] += w[j]. Lists the changed elements in S (mark =
 * slot + 1) and returns their number. Instantiated with constant C_l. */
static inline int gcnn_scatter_co(const struct gcnn *net, double complex *C, int *mark, int l,
                                  const int *Sp, int nSp, const double complex *dap, int *S,
                                  double *dz, const int Co)
{
    const int Ci = net->ch[l - 1], nj = l == 1 ? net->n_d : net->n_k;
    const size_t row = (size_t)nj * Co;
    double *wr = (double *)(C + net->c_w), *wi = wr + row;
    int nS = 0;
    for (int t = 0; t < nSp; t++) {
        const double complex *dv = dap + (size_t)t * Ci;
        const double *ks = net->ks + net->off_ks[l];
        for (int ci = 0; ci < Ci; ci++, ks += 2 * row) {
            const double vr = creal(dv[ci]), vi = cimag(dv[ci]);
            const double *restrict kr = ks, *restrict ki = ks + row;
            double *restrict xr = wr, *restrict xi = wi;
            if (ci == 0) {
                for (size_t e = 0; e < row; e++) {
                    xr[e] = kr[e] * vr - ki[e] * vi;
                    xi[e] = kr[e] * vi + ki[e] * vr;
                }
            } else {
                for (size_t e = 0; e < row; e++) {
                    xr[e] += kr[e] * vr - ki[e] * vi;
                    xi[e] += kr[e] * vi + ki[e] * vr;
                }
            }
        }
        /* readers: (g, j) pairs of the site (l = 1), or g = q h_j^-1 for all j */
        const int q = Sp[t];
        const int nr = l == 1 ? net->rd1_beg[q + 1] - net->rd1_beg[q] : net->n_k;
        const int *rd = l == 1 ? net->rd1 + net->rd1_beg[q] : net->rdr + (size_t)q * net->n_k;
        for (int r = 0; r < nr; r++) {
            const int g = l == 1 ? rd[r] / net->n_d : rd[r];
            const int j = l == 1 ? rd[r] % net->n_d : r;
            const double *restrict ur = wr + (size_t)j * Co, *restrict ui = wi + (size_t)j * Co;
            int slot = mark[g] - 1;
            double *restrict dr = dz + 2 * (size_t)(slot < 0 ? nS : slot) * Co;
            double *restrict di = dr + Co;
            if (slot < 0) {
                S[nS++] = g;
                mark[g] = nS;
                for (int co = 0; co < Co; co++) {
                    dr[co] = ur[co];
                    di[co] = ui[co];
                }
            } else {
                for (int co = 0; co < Co; co++) {
                    dr[co] += ur[co];
                    di[co] += ui[co];
                }
            }
        }
    }
    return nS;
}

static double complex gcnn_log_psi_ratio(const struct nqs_model *m, void *cache, const int8_t *s,
                                         int n_flip, const int *sites)
{
    (void)s; /* the cache holds sigma */
    const struct gcnn *net = m->state;
    if (n_flip <= 0) return 0;
    double complex *C = cache;
    int *ib = (int *)((char *)cache + net->int_base);
    int *mark = ib + net->i_mark;
    double *dz = (double *)(C + net->c_dz);
    const int L = net->n_layers;

    int *Sp = ib + net->i_list0;
    double complex *dap = C + net->c_da0;
    int nSp = gcnn_flipped(net, C + net->c_act[0], mark, n_flip, sites, Sp, dap);
    if (nSp == 0) return 0;

    double complex u_sum = 0;
    struct nqs_cn_prod Pn = {1.0, 0.0}, Po = {1.0, 0.0};
    for (int l = 1; l <= L; l++) {
        const int Co = net->ch[l];
        int *S = ib + net->i_list[l & 1], nS;
        switch (Co) {
        case 1: nS = gcnn_scatter_co(net, C, mark, l, Sp, nSp, dap, S, dz, 1); break;
        case 2: nS = gcnn_scatter_co(net, C, mark, l, Sp, nSp, dap, S, dz, 2); break;
        case 4: nS = gcnn_scatter_co(net, C, mark, l, Sp, nSp, dap, S, dz, 4); break;
        case 8: nS = gcnn_scatter_co(net, C, mark, l, Sp, nSp, dap, S, dz, 8); break;
        default: nS = gcnn_scatter_co(net, C, mark, l, Sp, nSp, dap, S, dz, Co); break;
        }
        const double complex *z = C + net->c_pre[l], *a = C + net->c_act[l];
        double complex *da = l < L ? C + net->c_da[l & 1] : NULL;
        for (int t = 0; t < nS; t++) {
            const size_t g = (size_t)S[t];
            mark[g] = 0;
            const double *dr = dz + 2 * (size_t)t * Co, *di = dr + Co;
            for (int c = 0; c < Co; c++) {
                const size_t j = g * Co + c;
                const double complex zn = CMPLX(creal(z[j]) + dr[c], cimag(z[j]) + di[c]);
                if (l < L) {
                    da[(size_t)t * Co + c] = gcnn_act(net, zn) - a[j];
                } else {
                    u_sum += nqs_cn_u(zn) - nqs_cn_u(z[j]);
                    nqs_cn_prod_mul(&Pn, nqs_cn_q(zn));
                    nqs_cn_prod_mul(&Po, a[j]);
                }
            }
        }
        Sp = S;
        nSp = nS;
        dap = da;
    }
    return u_sum + (Pn.l - Po.l) + clog(Pn.p / Po.p);
}

/* ------------------------------------------------------------ update */

static void gcnn_cache_update(const struct nqs_model *m, void *cache, const int8_t *s, int n_flip,
                              const int *sites)
{
    (void)s;
    const struct gcnn *net = m->state;
    double complex *C = cache;
    int *ib = (int *)((char *)cache + net->int_base);
    int *mark = ib + net->i_mark;
    double complex *a0 = C + net->c_act[0];
    int *Sp = ib + net->i_list0;
    int nSp = gcnn_flipped(net, a0, mark, n_flip, sites, Sp, C + net->c_da0);
    /* real assignment: +0 imaginary part, as in a fresh cache */
    for (int t = 0; t < nSp; t++) a0[Sp[t]] = -creal(a0[Sp[t]]);
    for (int l = 1; l <= net->n_layers; l++) {
        int *S = ib + net->i_list[l & 1], nS = 0;
        for (int t = 0; t < nSp; t++) {
            const int q = Sp[t];
            const int *rd = l == 1 ? net->rd1 + net->rd1_beg[q] : net->rdr + (size_t)q * net->n_k;
            const int nr = l == 1 ? net->rd1_beg[q + 1] - net->rd1_beg[q] : net->n_k;
            for (int r = 0; r < nr; r++) {
                const int g = l == 1 ? rd[r] / net->n_d : rd[r];
                if (!mark[g]) {
                    mark[g] = 1;
                    S[nS++] = g;
                }
            }
        }
        const size_t Co = (size_t)net->ch[l];
        double complex *z = C + net->c_pre[l], *a = C + net->c_act[l];
        for (int t = 0; t < nS; t++) {
            const size_t g = (size_t)S[t];
            mark[g] = 0;
            gcnn_position(net, C, l, (int)g, z + g * Co, a + g * Co);
        }
        Sp = S;
        nSp = nS;
    }
}

/* ------------------------------------------------------------ gradient */

/* delta_L = tanh z_L; for l = L..1: db_l = sum_g delta_l, dK_l[c][c'][j] =
 * sum_g delta_l[g][c] a_{l-1}[src_j(g)][c'], and for l > 1 g_{l-1}[src] +=
 * K_l delta_l, delta_{l-1} = g_{l-1} f'(z_{l-1}). Uses the two buffers in the
 * scratch part of the cache (model.h). */
static void gcnn_grad_log_psi(const struct nqs_model *m, const void *cache, const int8_t *s,
                              double complex *O)
{
    (void)s;
    const struct gcnn *net = m->state;
    const int G = net->n_elem, L = net->n_layers;
    const double complex *C = cache;
    double complex *D = (double complex *)cache + net->c_grad[0];
    double complex *B = (double complex *)cache + net->c_grad[1];
    memset(O, 0, (size_t)net->n_par * sizeof *O);
    {
        const double complex *zL = C + net->c_pre[L], *qL = C + net->c_act[L];
        for (size_t j = 0; j < (size_t)G * net->ch[L]; j++) D[j] = nqs_cn_tanh_q(zL[j], qL[j]);
    }
    for (int l = L; l >= 1; l--) {
        const int Ci = net->ch[l - 1], Co = net->ch[l], nj = l == 1 ? net->n_d : net->n_k;
        const double complex *in = C + net->c_act[l - 1];
        double complex *OK = O + net->off_K[l], *Ob = O + net->off_b[l];
        if (l > 1) memset(B, 0, (size_t)net->n_elem * Ci * sizeof *B);
        for (int g = 0; g < G; g++) {
            const int *src = l == 1 ? net->in1 + (size_t)g * nj : net->inp + (size_t)g * nj;
            const double complex *d = D + (size_t)g * Co;
            double dr[GCNN_MAX_CHANNELS], di[GCNN_MAX_CHANNELS];
            for (int co = 0; co < Co; co++) {
                Ob[co] += d[co];
                dr[co] = creal(d[co]);
                di[co] = cimag(d[co]);
            }
            for (int j = 0; j < nj; j++) {
                const double complex *v = in + (size_t)src[j] * Ci;
                for (int ci = 0; ci < Ci; ci++) {
                    const double vr = creal(v[ci]), vi = cimag(v[ci]);
                    double complex *ok = OK + (size_t)ci * nj + j;
                    for (int co = 0; co < Co; co++)
                        ok[(size_t)co * Ci * nj] +=
                            CMPLX(dr[co] * vr - di[co] * vi, dr[co] * vi + di[co] * vr);
                }
                if (l > 1) {
                    const double *kt = gcnn_kt(net, l, j, 0);
                    double complex *bb = B + (size_t)src[j] * Ci;
                    for (int ci = 0; ci < Ci; ci++, kt += 2 * Co) {
                        const double *kr = kt, *ki = kt + Co;
                        double sr = 0, si = 0;
                        for (int co = 0; co < Co; co++) {
                            sr += kr[co] * dr[co] - ki[co] * di[co];
                            si += kr[co] * di[co] + ki[co] * dr[co];
                        }
                        bb[ci] += CMPLX(sr, si);
                    }
                }
            }
        }
        if (l > 1) {
            const double complex *z = C + net->c_pre[l - 1];
            for (size_t j = 0; j < (size_t)G * Ci; j++)
                D[j] = nqs_cn_mul(B[j], net->act == GCNN_ACT_POLY ? nqs_cn_dpoly(z[j]) : ctanh(z[j]));
        }
    }
}

/* ------------------------------------------------------------ construction */

/* Index of the element whose permutation is `p`, by the buckets of the image
 * of site 0 (first[v] .. first[v + 1] in `by0`); -1 if none. */
static int gcnn_find(const struct nqs_symmetry *sym, const int *first, const int *by0,
                     const int *p)
{
    const int N = sym->n_sites;
    for (int r = first[p[0]]; r < first[p[0] + 1]; r++) {
        const int e = by0[r];
        if (memcmp(sym->perm + (size_t)e * N, p, (size_t)N * sizeof *p) == 0) return e;
    }
    return -1;
}

static const struct nqs_model_ops gcnn_ops;

int nqs_gcnn_alloc(struct nqs_model *m, const struct nqs_lattice *lat,
                   const struct nqs_opt_val *values, int space_group)
{
    const struct nqs_opt_val *o_ch = &values[NQS_CONVNET_KEY_CHANNELS];
    const struct nqs_opt_val *o_k = &values[NQS_CONVNET_KEY_KERNEL];
    const struct nqs_opt_val *o_act = &values[NQS_CONVNET_KEY_ACTIVATION];
    if (o_ch->n_list < 1 || o_ch->n_list > GCNN_MAX_LAYERS)
        NQS_ERROR(NQS_EINVAL, "[model] channels: cnn needs 1 to %d layers, got %d",
                  GCNN_MAX_LAYERS, o_ch->n_list);
    for (int l = 0; l < o_ch->n_list; l++)
        if (o_ch->list[l] < 1 || o_ch->list[l] > GCNN_MAX_CHANNELS)
            NQS_ERROR(NQS_EINVAL, "[model] channels: entry %d is %d, accepted 1..%d", l + 1,
                      o_ch->list[l], GCNN_MAX_CHANNELS);
    if (o_k->i < 1 || o_k->i > 64)
        NQS_ERROR(NQS_EINVAL, "[model] kernel: cnn kernel extent %ld out of range (accepted 1..64)",
                  o_k->i);
    if (o_act->i != GCNN_ACT_POLY && o_act->i != GCNN_ACT_LOGCOSH)
        NQS_ERROR(NQS_EINVAL, "[model] activation: cnn activation index %ld unknown (accepted: "
                  "poly, logcosh)", o_act->i);
    if (lat->dim < 1 || lat->dim > 2)
        NQS_ERROR(NQS_EUNSUP, "cnn needs a 1-D or 2-D lattice, got dimension %d", lat->dim);

    struct nqs_symmetry *sym =
        nqs_symmetry_alloc(lat, space_group ? NQS_GROUP_SPACE : NQS_GROUP_TRANSLATIONS);
    if (!sym) return NQS_ENOMEM;
    struct gcnn *net = calloc(1, sizeof *net);
    int *first = NULL, *by0 = NULL, *tmp = NULL, *cnt = NULL;
    int rc = NQS_ENOMEM;
    if (!net) goto fail;
    const int N = lat->n_sites, G = sym->n_elem, k = (int)o_k->i, dim = lat->dim;
    net->act = (int)o_act->i;
    net->n_layers = o_ch->n_list;
    net->n_sites = N;
    net->n_elem = G;
    net->n_point = sym->n_point;
    net->ch[0] = 1;
    net->c_max = 1;
    for (int l = 1; l <= net->n_layers; l++) {
        net->ch[l] = o_ch->list[l - 1];
        if (net->ch[l] > net->c_max) net->c_max = net->ch[l];
    }

    /* supports: per direction, the periodic offsets lo .. lo + k - 1 or the
     * open coordinates 0 .. L - 1 */
    const int lo = -((k - 1) / 2);
    int ext[2] = {lat->extent[0], dim > 1 ? lat->extent[1] : 1};
    int per[2] = {lat->periodic[0], dim > 1 ? lat->periodic[1] : 0};
    int nd[2], noff[2];
    for (int d = 0; d < 2; d++) {
        int active = d < dim;
        nd[d] = !active ? 1 : per[d] ? k : ext[d];
        noff[d] = active && per[d] ? k : 1;
    }
    net->n_d = nd[0] * nd[1];
    const int n_off = noff[0] * noff[1];
    net->n_k = n_off * sym->n_point;
    if ((double)G * net->n_d > INT_MAX / 2 || (double)G * net->n_k > INT_MAX / 2) {
        rc = NQS_EINVAL;
        NQS_SET_ERROR(rc, "[model] kernel: cnn group tables of %d elements x %d kernel entries "
                      "are too large: reduce kernel", G, net->n_k > net->n_d ? net->n_k : net->n_d);
        goto fail;
    }
    const int ntx = per[0] ? ext[0] : 1;
    int *dsite = malloc((size_t)net->n_d * sizeof *dsite);
    int *htr = malloc((size_t)n_off * sizeof *htr);
    if (!dsite || !htr) {
        free(dsite);
        free(htr);
        goto fail;
    }
    for (int y = 0; y < nd[1]; y++)
        for (int x = 0; x < nd[0]; x++) {
            int cx = per[0] ? ((x + lo) % ext[0] + ext[0]) % ext[0] : x;
            int cy = per[1] ? ((y + lo) % ext[1] + ext[1]) % ext[1] : y;
            dsite[x + nd[0] * y] = cx + ext[0] * cy;
        }
    for (int y = 0; y < noff[1]; y++)
        for (int x = 0; x < noff[0]; x++) {
            int tx = per[0] ? ((x + lo) % ext[0] + ext[0]) % ext[0] : 0;
            int ty = per[1] ? ((y + lo) % ext[1] + ext[1]) % ext[1] : 0;
            htr[x + noff[0] * y] = tx + ntx * ty;
        }

    net->in1 = malloc((size_t)G * net->n_d * sizeof *net->in1);
    net->rd1_beg = calloc((size_t)N + 1, sizeof *net->rd1_beg);
    net->rd1 = malloc((size_t)G * net->n_d * sizeof *net->rd1);
    net->inp = malloc((size_t)G * net->n_k * sizeof *net->inp);
    net->rdr = malloc((size_t)G * net->n_k * sizeof *net->rdr);
    first = calloc((size_t)N + 1, sizeof *first);
    by0 = malloc((size_t)G * sizeof *by0);
    tmp = malloc((size_t)N * sizeof *tmp);
    cnt = calloc((size_t)N, sizeof *cnt);
    int *hk = malloc((size_t)net->n_k * sizeof *hk);
    if (!net->in1 || !net->rd1_beg || !net->rd1 || !net->inp || !net->rdr || !first || !by0 ||
        !tmp || !cnt || !hk) {
        free(dsite), free(htr), free(hk);
        goto fail;
    }
    /* embedding: element g reads site perm_g(d_j); readers of each site (CSR) */
    for (int g = 0; g < G; g++)
        for (int j = 0; j < net->n_d; j++) {
            int i = sym->perm[(size_t)g * N + dsite[j]];
            net->in1[(size_t)g * net->n_d + j] = i;
            net->rd1_beg[i + 1]++;
        }
    for (int i = 0; i < N; i++) net->rd1_beg[i + 1] += net->rd1_beg[i];
    for (int g = 0; g < G; g++)
        for (int j = 0; j < net->n_d; j++) {
            int i = net->in1[(size_t)g * net->n_d + j];
            net->rd1[net->rd1_beg[i] + cnt[i]++] = g * net->n_d + j;
        }
    /* kernel elements h_j = T_o P_q, j = q n_off + o; the translation of
     * offset o must move site 0 to the offset's site (lattice.h numbering) */
    for (int q = 0; q < sym->n_point; q++)
        for (int o = 0; o < n_off; o++) {
            int e = sym->elem_of[(size_t)htr[o] * sym->n_point + q];
            hk[q * n_off + o] = e;
        }
    for (int o = 0; o < n_off && rc == NQS_ENOMEM; o++) {
        int x = o % noff[0], y = o / noff[0];
        int cx = per[0] ? ((x + lo) % ext[0] + ext[0]) % ext[0] : 0;
        int cy = per[1] ? ((y + lo) % ext[1] + ext[1]) % ext[1] : 0;
        if (lat->trans[(size_t)htr[o] * N] != cx + ext[0] * cy) rc = NQS_EINTERNAL;
    }
    free(dsite);
    free(htr);
    if (rc == NQS_EINTERNAL) {
        free(hk);
        NQS_SET_ERROR(rc, "cnn: translation numbering differs from lattice.h");
        goto fail;
    }
    /* products g h_j and g h_j^-1 by composing permutations */
    for (int e = 0; e < G; e++) first[sym->perm[(size_t)e * N] + 1]++;
    for (int i = 0; i < N; i++) first[i + 1] += first[i];
    memset(cnt, 0, (size_t)N * sizeof *cnt);
    for (int e = 0; e < G; e++) {
        int v = sym->perm[(size_t)e * N];
        by0[first[v] + cnt[v]++] = e;
    }
    for (int g = 0; g < G && rc == NQS_ENOMEM; g++) {
        const int *pg = sym->perm + (size_t)g * N;
        for (int j = 0; j < net->n_k; j++) {
            const int *ph = sym->perm + (size_t)hk[j] * N;
            const int *phi = sym->perm + (size_t)sym->inv[hk[j]] * N;
            for (int i = 0; i < N; i++) tmp[i] = pg[ph[i]];
            int a = gcnn_find(sym, first, by0, tmp);
            for (int i = 0; i < N; i++) tmp[i] = pg[phi[i]];
            int b = gcnn_find(sym, first, by0, tmp);
            if (a < 0 || b < 0) {
                rc = NQS_EINTERNAL;
                break;
            }
            net->inp[(size_t)g * net->n_k + j] = a;
            net->rdr[(size_t)g * net->n_k + j] = b;
        }
    }
    free(hk);
    if (rc == NQS_EINTERNAL) {
        NQS_SET_ERROR(rc, "cnn: the symmetry group is not closed under products");
        goto fail;
    }

    /* parameters and the kernel copy */
    size_t off = 0, off_kt = 0;
    for (int l = 1; l <= net->n_layers; l++) {
        size_t nk = (size_t)net->ch[l] * net->ch[l - 1] * (size_t)(l == 1 ? net->n_d : net->n_k);
        net->off_K[l] = off;
        net->off_b[l] = off + nk;
        net->off_kt[l] = off_kt;
        net->off_ks[l] = off_kt;
        off += nk + (size_t)net->ch[l];
        off_kt += 2 * nk;
    }
    if (off > INT_MAX) {
        rc = NQS_EINVAL;
        NQS_SET_ERROR(rc, "cnn would have %zu parameters (more than %d): reduce channels or "
                      "kernel", off, INT_MAX);
        goto fail;
    }
    net->n_par = (int)off;
    net->par = calloc(off, sizeof *net->par);
    net->kt = calloc(off_kt, sizeof *net->kt);
    net->ks = calloc(off_kt, sizeof *net->ks);
    if (!net->par || !net->kt || !net->ks) goto fail;

    /* cache layout */
    size_t c = 0;
    const size_t gc = (size_t)G * net->c_max;
    net->c_act[0] = c;
    c += (size_t)N;
    for (int l = 1; l <= net->n_layers; l++) {
        net->c_pre[l] = c;
        c += (size_t)G * net->ch[l];
        net->c_act[l] = c;
        c += (size_t)G * net->ch[l];
    }
    net->c_da0 = c;
    c += (size_t)N;
    net->c_da[0] = c;
    c += gc;
    net->c_da[1] = c;
    c += gc;
    net->c_dz = c; /* 2 C doubles = C complex per changed element */
    c += gc;
    net->c_w = c; /* one input's contributions: (n_d or n_k) x C_max */
    c += (size_t)(net->n_d > net->n_k ? net->n_d : net->n_k) * net->c_max;
    net->c_grad[0] = c;
    c += gc;
    net->c_grad[1] = c;
    c += gc;
    net->int_base = c * sizeof(double complex);
    size_t i = 0;
    net->i_mark = i;
    i += (size_t)(N > G ? N : G);
    net->i_list0 = i;
    i += (size_t)N;
    net->i_list[0] = i;
    i += (size_t)G;
    net->i_list[1] = i;
    i += (size_t)G;

    m->state = net;
    m->ops = &gcnn_ops; /* the variant table: same name, keys and twin as cnn */
    /* psi(h s) = psi(s) for every h of G (header): a projection sums over
     * the cosets of G only (projected.c) */
    m->invariance = space_group ? NQS_INVARIANT_SPACE : NQS_INVARIANT_TRANSLATIONS;
    m->n_par = net->n_par;
    m->par = net->par;
    m->cache_size = net->int_base + i * sizeof(int);
    m->n_hidden = G * net->c_max;
    int len = snprintf(m->layout, sizeof m->layout, "group=%s channels=", sym->name);
    for (int l = 1; l <= net->n_layers && len < (int)sizeof m->layout; l++)
        len += snprintf(m->layout + len, sizeof m->layout - (size_t)len, "%s%d", l > 1 ? "," : "",
                        net->ch[l]);
    if (len < (int)sizeof m->layout)
        len += snprintf(m->layout + len, sizeof m->layout - (size_t)len,
                        " kernel=%d (%d sites, %d elements) %s:", k, net->n_d, net->n_k,
                        net->act == GCNN_ACT_POLY ? "poly" : "logcosh");
    for (int l = 1; l <= net->n_layers && len < (int)sizeof m->layout; l++)
        len += snprintf(m->layout + len, sizeof m->layout - (size_t)len, " K%d[%dx%dx%d] b%d[%d]",
                        l, net->ch[l], net->ch[l - 1], l == 1 ? net->n_d : net->n_k, l,
                        net->ch[l]);
    free(first), free(by0), free(tmp), free(cnt);
    nqs_symmetry_free(sym);
    return NQS_OK;

fail:
    if (rc == NQS_ENOMEM) NQS_SET_ERROR(rc, "out of memory building the group-convolutional cnn");
    free(first), free(by0), free(tmp), free(cnt);
    gcnn_free(net);
    nqs_symmetry_free(sym);
    return rc;
}

/* Not in the registry: cnn's alloc installs it for group = space_group. */
static const struct nqs_model_ops gcnn_ops = {
    .name = "cnn",
    .summary = "group-convolutional network over the space group (group = space_group): "
               "embedding and group convolutions, log psi = sum over elements and channels of "
               "log cosh; P = C_1 (n_d + 1) + sum_{l>1} C_l (C_{l-1} n_k + 1)",
    .shared = 1,
    .twin = "lcn",
    .options = nqs_convnet_options,
    .n_options = NQS_CONVNET_N_OPTIONS,
    .alloc = NULL, /* built through cnn's alloc */
    .free = gcnn_free,
    .refresh = gcnn_refresh,
    .cache_init = gcnn_cache_init,
    .log_psi_ratio = gcnn_log_psi_ratio,
    .cache_update = gcnn_cache_update,
    .grad_log_psi = gcnn_grad_log_psi,
};
