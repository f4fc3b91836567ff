/*
 * conv.h - complex multi-channel convolution (cross-correlation) on a 1-D or
 * 2-D grid, and its locally connected variant.
 *
 *   out[co][y][x] = b[co] + sum_ci sum_{dy,dx} K[co][ci][dy][dx] * in[ci][y+dy][x+dx]
 *
 * The kernel is anchored at its first element (dy = dx = 0 reads the input at
 * the output position itself). Each direction has its own boundary mode:
 *   NQS_CONV_VALID     no padding, the output extent is in - k + 1;
 *   NQS_CONV_PERIODIC  y+dy, x+dx taken modulo the input extent (wrap);
 *   NQS_CONV_ZERO      input entries beyond the last one read as 0, the output
 *                      has the input extent.
 * The locally connected variant uses a kernel and bias of its own at every
 * output position p: K_p[co][ci][dy][dx], b_p[co].
 *
 * Layouts (all flat, row-major, x fastest, matching the lattice site index
 * i = x + Lx * y): a grid array of c channels is v[ch * n_pos + x + ext_x * y];
 * a kernel is K[((co * n_in + ci) * k_y + dy) * k_x + dx], i.e. the offset
 * index o = dx + k_x * dy runs fastest; a locally connected kernel is
 * K[p * n_out * n_in * n_off + (co * n_in + ci) * n_off + o] and its bias
 * b[p * n_out + co]. A 1-D grid has ext_y = 1 and k_y = 1.
 *
 * The geometry (extents, kernel size, boundary modes) is set up once with its
 * index tables; the forward functions allocate nothing and are thread safe.
 * Every function computes an output position by nqs_conv_point (or its local
 * twin), so a full pass and a sparse recomputation of some positions give
 * bit-identical numbers.
 */
#ifndef NQS_CONV_H
#define NQS_CONV_H

#include <complex.h>

enum nqs_conv_pad { NQS_CONV_VALID = 0, NQS_CONV_PERIODIC = 1, NQS_CONV_ZERO = 2 };

struct nqs_conv_geom {
    int dim;                    /* 1 or 2 */
    int in_ext[2], out_ext[2];  /* (x, y) extents; [1] = 1 in 1-D */
    int k[2];                   /* kernel extent (x, y); [1] = 1 in 1-D */
    enum nqs_conv_pad pad[2];
    int n_in_pos, n_out_pos;    /* in_ext[0]*in_ext[1], out_ext[0]*out_ext[1] */
    int n_off;                  /* k[0]*k[1] kernel offsets o = dx + k[0]*dy */
    /* Output p reads, for j < n_valid[p], input position in_pos[p*n_off + j]
     * with kernel offset off[p*n_off + j] (offsets that fall in the zero
     * padding are left out), in increasing o. */
    int *n_valid;
    int *in_pos;
    int *off;
    /* Input q is read, for j < n_read[q], by output position out_pos[q*n_off + j]
     * with kernel offset roff[q*n_off + j] (every (p, o) pair exactly once). */
    int *n_read;
    int *out_pos;
    int *roff;
};

/* Geometry for a grid of extent in_ext[0..dim) with a kernel of extent
 * k[0..dim) and boundary modes pad[0..dim). NULL with a message (NQS_EINVAL)
 * for dim not 1 or 2, extents or kernel sizes < 1, or a VALID direction whose
 * kernel is longer than the input; NQS_ENOMEM if the tables do not fit. */
struct nqs_conv_geom *nqs_conv_geom_alloc(int dim, const int *in_ext, const int *k,
                                          const enum nqs_conv_pad *pad);
void nqs_conv_geom_free(struct nqs_conv_geom *g);

/* All output channels at output position p: out[co * n_out_pos + p] for
 * co < n_out, from `in` (n_in channels, stride n_in_pos), kernel K and bias b
 * (b may be NULL for no bias). */
void nqs_conv_point(const struct nqs_conv_geom *g, int n_in, int n_out, const double complex *K,
                    const double complex *b, const double complex *in, int p,
                    double complex *out);

/* The whole output (n_out channels, stride n_out_pos). */
void nqs_conv_forward(const struct nqs_conv_geom *g, int n_in, int n_out, const double complex *K,
                      const double complex *b, const double complex *in, double complex *out);

/* Locally connected: position p uses kernel block p and bias block p (layouts above). */
void nqs_conv_local_point(const struct nqs_conv_geom *g, int n_in, int n_out,
                          const double complex *K, const double complex *b,
                          const double complex *in, int p, double complex *out);
void nqs_conv_local_forward(const struct nqs_conv_geom *g, int n_in, int n_out,
                            const double complex *K, const double complex *b,
                            const double complex *in, double complex *out);

#endif
