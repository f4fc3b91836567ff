/*
 * conv.c - complex multi-channel cross-correlation on 1-D/2-D grids with
 * VALID, PERIODIC or ZERO boundaries per direction, and the locally connected
 * variant (kernel per output position); formulas and layouts in conv.h.
 *
 * The geometry is reduced once to index tables (for each output position the
 * list of (input position, kernel offset) pairs that are not zero padding, and
 * the reverse lists used by sparse updates and back-propagation), so the inner
 * loop is a plain gather with no boundary tests. Channel counts are small
 * (a few to a few dozen) and the kernels short, so plain loops beat BLAS here.
 */
#include "conv.h"

#include <stdlib.h>

#include "error.h"

void nqs_conv_geom_free(struct nqs_conv_geom *g)
{
    if (!g) return;
    free(g->n_valid);
    free(g->in_pos);
    free(g->off);
    free(g->n_read);
    free(g->out_pos);
    free(g->roff);
    free(g);
}

/* Input coordinate read at output coordinate c + d along one direction, or
 * -1 inside the zero padding. */
static int conv_coord(int c, int d, int ext, enum nqs_conv_pad pad)
{
    int v = c + d;
    if (v < ext) return v;
    if (pad == NQS_CONV_PERIODIC) return v % ext;
    return -1; /* ZERO; VALID never gets here */
}

struct nqs_conv_geom *nqs_conv_geom_alloc(int dim, const int *in_ext, const int *k,
                                          const enum nqs_conv_pad *pad)
{
    static const char *const names[] = {"x", "y"};
    if (dim != 1 && dim != 2) {
        NQS_SET_ERROR(NQS_EINVAL, "convolution grid dimension must be 1 or 2, got %d", dim);
        return NULL;
    }
    for (int d = 0; d < dim; d++) {
        if (in_ext[d] < 1 || k[d] < 1) {
            NQS_SET_ERROR(NQS_EINVAL,
                          "convolution extent and kernel size must be >= 1 along %s, got %d and %d",
                          names[d], in_ext[d], k[d]);
            return NULL;
        }
        if (pad[d] != NQS_CONV_VALID && pad[d] != NQS_CONV_PERIODIC && pad[d] != NQS_CONV_ZERO) {
            NQS_SET_ERROR(NQS_EINVAL, "unknown convolution boundary mode %d along %s "
                          "(accepted: valid, periodic, zero)", (int)pad[d], names[d]);
            return NULL;
        }
        if (pad[d] == NQS_CONV_VALID && k[d] > in_ext[d]) {
            NQS_SET_ERROR(NQS_EINVAL,
                          "VALID convolution along %s needs kernel size <= extent, got %d > %d",
                          names[d], k[d], in_ext[d]);
            return NULL;
        }
    }
    struct nqs_conv_geom *g = calloc(1, sizeof *g);
    if (!g) goto nomem;
    g->dim = dim;
    for (int d = 0; d < 2; d++) {
        g->in_ext[d] = d < dim ? in_ext[d] : 1;
        g->k[d] = d < dim ? k[d] : 1;
        g->pad[d] = d < dim ? pad[d] : NQS_CONV_PERIODIC;
        g->out_ext[d] = g->pad[d] == NQS_CONV_VALID ? g->in_ext[d] - g->k[d] + 1 : g->in_ext[d];
    }
    g->n_in_pos = g->in_ext[0] * g->in_ext[1];
    g->n_out_pos = g->out_ext[0] * g->out_ext[1];
    g->n_off = g->k[0] * g->k[1];
    size_t n_out_tab = (size_t)g->n_out_pos * (size_t)g->n_off;
    size_t n_in_tab = (size_t)g->n_in_pos * (size_t)g->n_off;
    g->n_valid = calloc((size_t)g->n_out_pos, sizeof *g->n_valid);
    g->in_pos = malloc(n_out_tab * sizeof *g->in_pos);
    g->off = malloc(n_out_tab * sizeof *g->off);
    g->n_read = calloc((size_t)g->n_in_pos, sizeof *g->n_read);
    g->out_pos = malloc(n_in_tab * sizeof *g->out_pos);
    g->roff = malloc(n_in_tab * sizeof *g->roff);
    if (!g->n_valid || !g->in_pos || !g->off || !g->n_read || !g->out_pos || !g->roff)
        goto nomem;

    for (int y = 0; y < g->out_ext[1]; y++)
        for (int x = 0; x < g->out_ext[0]; x++) {
            int p = x + g->out_ext[0] * y;
            for (int dy = 0; dy < g->k[1]; dy++) {
                int cy = conv_coord(y, dy, g->in_ext[1], g->pad[1]);
                for (int dx = 0; dx < g->k[0]; dx++) {
                    int cx = conv_coord(x, dx, g->in_ext[0], g->pad[0]);
                    if (cx < 0 || cy < 0) continue;
                    int o = dx + g->k[0] * dy, q = cx + g->in_ext[0] * cy;
                    size_t j = (size_t)p * g->n_off + (size_t)g->n_valid[p]++;
                    g->in_pos[j] = q;
                    g->off[j] = o;
                    /* each (p, o) gives one q, so q collects at most n_off pairs */
                    size_t r = (size_t)q * g->n_off + (size_t)g->n_read[q]++;
                    g->out_pos[r] = p;
                    g->roff[r] = o;
                }
            }
        }
    return g;

nomem:
    nqs_conv_geom_free(g);
    NQS_SET_ERROR(NQS_ENOMEM, "out of memory for the convolution index tables");
    return NULL;
}

/* One output position, all output channels, kernel block K (n_out x n_in x
 * n_off) and bias block b (n_out or NULL). Real arithmetic on the parts keeps
 * the loop free of the NaN-recovery branch of C complex multiplication. */
static void conv_point_block(const struct nqs_conv_geom *g, int n_in, int n_out,
                             const double complex *K, const double complex *b,
                             const double complex *in, int p, double complex *out)
{
    const int n_off = g->n_off, nv = g->n_valid[p];
    const int *iq = g->in_pos + (size_t)p * n_off;
    const int *io = g->off + (size_t)p * n_off;
    for (int co = 0; co < n_out; co++) {
        double re = b ? creal(b[co]) : 0.0, im = b ? cimag(b[co]) : 0.0;
        const double complex *Kc = K + (size_t)co * n_in * n_off;
        for (int ci = 0; ci < n_in; ci++) {
            const double complex *v = in + (size_t)ci * g->n_in_pos;
            const double complex *kk = Kc + (size_t)ci * n_off;
            for (int j = 0; j < nv; j++) {
                double kr = creal(kk[io[j]]), ki = cimag(kk[io[j]]);
                double vr = creal(v[iq[j]]), vi = cimag(v[iq[j]]);
                re += kr * vr - ki * vi;
                im += kr * vi + ki * vr;
            }
        }
        out[(size_t)co * g->n_out_pos + p] = CMPLX(re, im);
    }
}

void nqs_conv_point(const struct nqs_conv_geom *g, int n_in, int n_out, const double complex *K,
                    const double complex *b, const double complex *in, int p,
                    double complex *out)
{
    conv_point_block(g, n_in, n_out, K, b, in, p, out);
}

void nqs_conv_forward(const struct nqs_conv_geom *g, int n_in, int n_out, const double complex *K,
                      const double complex *b, const double complex *in, double complex *out)
{
    for (int p = 0; p < g->n_out_pos; p++) conv_point_block(g, n_in, n_out, K, b, in, p, out);
}

void nqs_conv_local_point(const struct nqs_conv_geom *g, int n_in, int n_out,
                          const double complex *K, const double complex *b,
                          const double complex *in, int p, double complex *out)
{
    size_t blk = (size_t)n_out * n_in * g->n_off;
    conv_point_block(g, n_in, n_out, K + (size_t)p * blk, b ? b + (size_t)p * n_out : NULL, in, p,
                     out);
}

void nqs_conv_local_forward(const struct nqs_conv_geom *g, int n_in, int n_out,
                            const double complex *K, const double complex *b,
                            const double complex *in, double complex *out)
{
    for (int p = 0; p < g->n_out_pos; p++) nqs_conv_local_point(g, n_in, n_out, K, b, in, p, out);
}
