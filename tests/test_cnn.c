/*
 * test_cnn.c - the convolution primitive (conv.h) against hand-computed grids
 * and independent direct sums, and the twin models cnn / lcn: forward pass
 * against an independent reference written here (both hidden activations),
 * fast ratios against two full evaluations after thousands of accepted moves,
 * gradients against central finite differences, translation invariance (cnn)
 * and its absence (lcn), weight tying lcn == cnn on every configuration,
 * parameter counts against the formulas, the error paths, and the reason for
 * the poly hidden activation: across the branch cut of the principal log cosh
 * (Re z = 0 with |Im z| > pi/2 in a hidden layer) log psi stays smooth with
 * poly and jumps with logcosh; poly is the Taylor polynomial of log cosh.
 * log psi values are compared modulo 2 pi i (model.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gsl/gsl_rng.h>

#include "conv.h"
#include "error.h"
#include "lattice.h"
#include "model.h"
#include "nqs_test.h"
#include "options.h"

/* ------------------------------------------------------------------ helpers */

static struct nqs_lattice *lat_make(enum nqs_lattice_kind kind, int lx, int ly, int px, int py)
{
    int ext[2] = {lx, ly}, per[2] = {px, py};
    struct nqs_lattice *lat = nqs_lattice_alloc(kind, ext, per);
    assert_non_null(lat);
    return lat;
}

/* Hidden-layer activations, as indices of the `activation` choice "poly|logcosh". */
enum { ACT_POLY = 0, ACT_LOGCOSH = 1 };

/* Option values as the input layer produces them (channels, kernel,
 * activation, group = translations). */
static void opts_act(struct nqs_opt_val *v, const int *ch, int n_layers, int k, int act)
{
    memset(v, 0, 4 * sizeof *v);
    v[0].n_list = n_layers;
    for (int l = 0; l < n_layers; l++) v[0].list[l] = ch[l];
    v[1].i = k;
    v[1].x = k;
    v[2].i = act;
    snprintf(v[2].str, sizeof v[2].str, "%s", act == ACT_POLY ? "poly" : "logcosh");
    snprintf(v[3].str, sizeof v[3].str, "translations");
}

static void opts(struct nqs_opt_val *v, const int *ch, int n_layers, int k)
{
    opts_act(v, ch, n_layers, k, ACT_POLY);
}

static struct nqs_model *model_make_act(const char *name, const struct nqs_lattice *lat,
                                        const int *ch, int n_layers, int k, int act,
                                        unsigned long seed, double std)
{
    const struct nqs_model_ops *ops = nqs_model_find(name);
    assert_non_null(ops);
    struct nqs_opt_val v[4];
    opts_act(v, ch, n_layers, k, act);
    struct nqs_model *m = nqs_model_alloc(ops, lat, v);
    if (!m) fprintf(stderr, "%s\n", nqs_last_error());
    assert_non_null(m);
    nqs_model_init(m, seed, std);
    return m;
}

/* The default model (activation = poly). */
static struct nqs_model *model_make(const char *name, const struct nqs_lattice *lat, const int *ch,
                                    int n_layers, int k, unsigned long seed, double std)
{
    return model_make_act(name, lat, ch, n_layers, k, ACT_POLY, seed, std);
}

/* log psi values are equal when their real parts agree and their imaginary
 * parts agree modulo 2 pi (model.h: the phase is defined modulo 2 pi; the
 * last layer's sum of log cosh comes out on an arbitrary branch). */
static double logpsi_dist(double complex a, double complex b)
{
    return hypot(creal(a - b), remainder(cimag(a - b), 2.0 * M_PI));
}

static void assert_logpsi_close(double complex a, double complex b, double tol)
{
    assert_close(creal(a), creal(b), tol);
    assert_close(remainder(cimag(a) - cimag(b), 2.0 * M_PI), 0.0, tol);
}

static void random_config(gsl_rng *rng, int n, int8_t *s)
{
    for (int i = 0; i < n; i++) s[i] = gsl_rng_uniform(rng) < 0.5 ? -1 : 1;
}

static double cmax3(double a, double b, double c)
{
    return fmax(a, fmax(b, c));
}

/* ------------------------------------------------------- primitive: by hand */

/* The 3x3 grid [[1,2,3],[4,5,6],[7,8,9]], row y = 0 first (in[x + 3 y]). */
static const double grid3[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

static void conv_run(enum nqs_conv_pad px, enum nqs_conv_pad py, const double *kern, int kx,
                     int ky, double complex *out, int *n_out)
{
    int ext[2] = {3, 3}, k[2] = {kx, ky};
    enum nqs_conv_pad pad[2] = {px, py};
    struct nqs_conv_geom *g = nqs_conv_geom_alloc(2, ext, k, pad);
    assert_non_null(g);
    double complex in[9], K[16];
    for (int i = 0; i < 9; i++) in[i] = grid3[i];
    for (int i = 0; i < kx * ky; i++) K[i] = kern[i];
    nqs_conv_forward(g, 1, 1, K, NULL, in, out);
    *n_out = g->n_out_pos;
    nqs_conv_geom_free(g);
}

static void assert_grid(const double complex *out, const double *want, int n)
{
    for (int i = 0; i < n; i++) {
        assert_close(creal(out[i]), want[i], 1e-15);
        assert_close(cimag(out[i]), 0.0, 1e-15);
    }
}

static void test_conv_valid_by_hand(void **state)
{
    (void)state;
    /* 2x2 all-ones kernel: each output is the sum of a 2x2 block,
     * 1+2+4+5 = 12, 2+3+5+6 = 16, 4+5+7+8 = 24, 5+6+8+9 = 28. */
    const double ones[4] = {1, 1, 1, 1}, want[4] = {12, 16, 24, 28};
    double complex out[9];
    int n;
    conv_run(NQS_CONV_VALID, NQS_CONV_VALID, ones, 2, 2, out, &n);
    assert_int_equal(n, 4);
    assert_grid(out, want, 4);
}

static void test_conv_periodic_by_hand(void **state)
{
    (void)state;
    /* out[y][x] = in[y][x] + in[y][x+1] + in[y+1][x] + in[y+1][x+1], indices mod 3:
     *   y=0: 1+2+4+5 = 12, 2+3+5+6 = 16, 3+1+6+4 = 14
     *   y=1: 4+5+7+8 = 24, 5+6+8+9 = 28, 6+4+9+7 = 26
     *   y=2: 7+8+1+2 = 18, 8+9+2+3 = 22, 9+7+3+1 = 20 */
    const double ones[4] = {1, 1, 1, 1};
    const double want[9] = {12, 16, 14, 24, 28, 26, 18, 22, 20};
    double complex out[9];
    int n;
    conv_run(NQS_CONV_PERIODIC, NQS_CONV_PERIODIC, ones, 2, 2, out, &n);
    assert_int_equal(n, 9);
    assert_grid(out, want, 9);

    /* periodic along x, zero padding along y: the last row only sums its own
     * row pair (x, x+1 mod 3): 7+8 = 15, 8+9 = 17, 9+7 = 16 */
    const double want_mixed[9] = {12, 16, 14, 24, 28, 26, 15, 17, 16};
    conv_run(NQS_CONV_PERIODIC, NQS_CONV_ZERO, ones, 2, 2, out, &n);
    assert_int_equal(n, 9);
    assert_grid(out, want_mixed, 9);
}

static void test_conv_zero_by_hand(void **state)
{
    (void)state;
    /* kernel K[dy][dx] = [[1,2],[3,4]]: out = 1 in[y][x] + 2 in[y][x+1] + 3 in[y+1][x]
     * + 4 in[y+1][x+1], zero beyond the last row/column:
     *   y=0: 1+4+12+20 = 37, 2+6+15+24 = 47, 3+0+18+0 = 21
     *   y=1: 4+10+21+32 = 67, 5+12+24+36 = 77, 6+0+27+0 = 33
     *   y=2: 7+16 = 23, 8+18 = 26, 9 */
    const double kern[4] = {1, 2, 3, 4};
    const double want[9] = {37, 47, 21, 67, 77, 33, 23, 26, 9};
    double complex out[9];
    int n;
    conv_run(NQS_CONV_ZERO, NQS_CONV_ZERO, kern, 2, 2, out, &n);
    assert_int_equal(n, 9);
    assert_grid(out, want, 9);
}

static void test_conv_1d_by_hand(void **state)
{
    (void)state;
    /* in = [1,2,3,4], kernel [1,-1,2]:
     *   valid:    1-2+6 = 5, 2-3+8 = 7
     *   periodic: 5, 7, 3-4+2*1 = 1, 4-1+2*2 = 7
     *   zero:     5, 7, 3-4 = -1, 4 */
    const double want_v[2] = {5, 7}, want_p[4] = {5, 7, 1, 7}, want_z[4] = {5, 7, -1, 4};
    const double *want[3] = {want_v, want_p, want_z};
    enum nqs_conv_pad modes[3] = {NQS_CONV_VALID, NQS_CONV_PERIODIC, NQS_CONV_ZERO};
    int ext[1] = {4}, k[1] = {3};
    double complex in[4] = {1, 2, 3, 4}, K[3] = {1, -1, 2}, out[4];
    for (int m = 0; m < 3; m++) {
        struct nqs_conv_geom *g = nqs_conv_geom_alloc(1, ext, k, &modes[m]);
        assert_non_null(g);
        nqs_conv_forward(g, 1, 1, K, NULL, in, out);
        assert_int_equal(g->n_out_pos, m == 0 ? 2 : 4);
        assert_grid(out, want[m], g->n_out_pos);
        nqs_conv_geom_free(g);
    }
}

/* Random complex numbers in [-1,1] + i[-1,1]. */
static void crand(gsl_rng *rng, double complex *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = CMPLX(2 * gsl_rng_uniform(rng) - 1, 2 * gsl_rng_uniform(rng) - 1);
}

/* Direct sum with explicit coordinates (independent of the index tables). */
static double complex direct(int Lx, int Ly, int kx, int ky, const enum nqs_conv_pad *pad,
                             int n_in, const double complex *Kc /* [n_in][ky][kx] */,
                             double complex bias, const double complex *in, int x, int y)
{
    double complex acc = bias;
    for (int ci = 0; ci < n_in; ci++)
        for (int dy = 0; dy < ky; dy++)
            for (int dx = 0; dx < kx; dx++) {
                int xx = x + dx, yy = y + dy;
                if (xx >= Lx) {
                    if (pad[0] == NQS_CONV_ZERO) continue;
                    xx %= Lx;
                }
                if (yy >= Ly) {
                    if (pad[1] == NQS_CONV_ZERO) continue;
                    yy %= Ly;
                }
                acc += Kc[(ci * ky + dy) * kx + dx] * in[ci * Lx * Ly + xx + Lx * yy];
            }
    return acc;
}

static void test_conv_multichannel_complex(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 7);
    enum { LX = 5, LY = 4, KX = 3, KY = 2, CI = 3, CO = 2 };
    const enum nqs_conv_pad pads[3][2] = {{NQS_CONV_PERIODIC, NQS_CONV_ZERO},
                                          {NQS_CONV_VALID, NQS_CONV_PERIODIC},
                                          {NQS_CONV_ZERO, NQS_CONV_VALID}};
    double complex in[CI * LX * LY], K[CO * CI * KX * KY], b[CO], out[CO * LX * LY];
    crand(rng, in, CI * LX * LY);
    crand(rng, K, CO * CI * KX * KY);
    crand(rng, b, CO);
    for (int t = 0; t < 3; t++) {
        int ext[2] = {LX, LY}, k[2] = {KX, KY};
        struct nqs_conv_geom *g = nqs_conv_geom_alloc(2, ext, k, pads[t]);
        assert_non_null(g);
        nqs_conv_forward(g, CI, CO, K, b, in, out);
        int ox = pads[t][0] == NQS_CONV_VALID ? LX - KX + 1 : LX;
        int oy = pads[t][1] == NQS_CONV_VALID ? LY - KY + 1 : LY;
        assert_int_equal(g->n_out_pos, ox * oy);
        for (int co = 0; co < CO; co++)
            for (int y = 0; y < oy; y++)
                for (int x = 0; x < ox; x++) {
                    double complex want = direct(LX, LY, KX, KY, pads[t], CI,
                                                 K + co * CI * KX * KY, b[co], in, x, y);
                    double complex got = out[co * g->n_out_pos + x + ox * y];
                    /* sums of <= 18 products of O(1) numbers: rounding ~1e-15 */
                    assert_close(creal(got), creal(want), 1e-13);
                    assert_close(cimag(got), cimag(want), 1e-13);
                }
        nqs_conv_geom_free(g);
    }
    gsl_rng_free(rng);
}

static void test_conv_local_matches_shared_and_direct(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 11);
    enum { LX = 4, LY = 3, KX = 2, KY = 3, CI = 2, CO = 3, NP = LX * LY, BLK = CO * CI * KX * KY };
    int ext[2] = {LX, LY}, k[2] = {KX, KY};
    enum nqs_conv_pad pad[2] = {NQS_CONV_ZERO, NQS_CONV_PERIODIC};
    struct nqs_conv_geom *g = nqs_conv_geom_alloc(2, ext, k, pad);
    assert_non_null(g);
    static double complex in[CI * NP], K[BLK], b[CO], KL[NP * BLK], bL[NP * CO];
    double complex o1[CO * NP], o2[CO * NP];
    crand(rng, in, CI * NP);
    crand(rng, K, BLK);
    crand(rng, b, CO);
    /* the same kernel at every position reproduces the convolution exactly */
    for (int p = 0; p < NP; p++) {
        memcpy(KL + p * BLK, K, sizeof K);
        memcpy(bL + p * CO, b, sizeof b);
    }
    nqs_conv_forward(g, CI, CO, K, b, in, o1);
    nqs_conv_local_forward(g, CI, CO, KL, bL, in, o2);
    for (int j = 0; j < CO * NP; j++) {
        assert_true(creal(o1[j]) == creal(o2[j]));
        assert_true(cimag(o1[j]) == cimag(o2[j]));
    }
    /* position-dependent kernels against the direct sum with kernel block p */
    crand(rng, KL, NP * BLK);
    crand(rng, bL, NP * CO);
    nqs_conv_local_forward(g, CI, CO, KL, bL, in, o2);
    for (int p = 0; p < NP; p++)
        for (int co = 0; co < CO; co++) {
            double complex want = direct(LX, LY, KX, KY, pad, CI, KL + p * BLK + co * CI * KX * KY,
                                         bL[p * CO + co], in, p % LX, p / LX);
            assert_close(creal(o2[co * NP + p]), creal(want), 1e-13);
            assert_close(cimag(o2[co * NP + p]), cimag(want), 1e-13);
        }
    nqs_conv_geom_free(g);
    gsl_rng_free(rng);
}

static void test_conv_geom_errors(void **state)
{
    (void)state;
    int ext[2] = {3, 3}, k[2] = {2, 2}, kbig[2] = {4, 2}, k0[2] = {0, 2};
    enum nqs_conv_pad pad[2] = {NQS_CONV_VALID, NQS_CONV_VALID};
    enum nqs_conv_pad bad[2] = {(enum nqs_conv_pad)7, NQS_CONV_ZERO};
    nqs_error_clear();
    assert_null(nqs_conv_geom_alloc(3, ext, k, pad));
    assert_true(strstr(nqs_last_error(), "dimension") != NULL);
    assert_null(nqs_conv_geom_alloc(2, ext, kbig, pad));
    assert_true(strstr(nqs_last_error(), "VALID") != NULL);
    assert_null(nqs_conv_geom_alloc(2, ext, k0, pad));
    assert_true(strstr(nqs_last_error(), ">= 1") != NULL);
    assert_null(nqs_conv_geom_alloc(2, ext, k, bad));
    assert_true(strstr(nqs_last_error(), "boundary mode") != NULL);
    nqs_conv_geom_free(NULL);
}

/* -------------------------------------------------------------- the models */

/* Independent forward pass from the documented parameter layout (convnet.h),
 * with explicit coordinates, wrap and zero padding. */
/* Hidden activations written out as in the documentation (convnet.h). */
static double complex ref_act(int act, double complex z)
{
    if (act == ACT_LOGCOSH) return nqs_logcosh(z);
    return z * z / 2 - z * z * z * z / 12 + z * z * z * z * z * z / 45;
}

static double complex ref_log_psi(const struct nqs_lattice *lat, const int *ch, int n_layers, int k,
                                  int local, int act, const double complex *par, const int8_t *s)
{
    const int N = lat->n_sites, Lx = lat->extent[0], Ly = lat->dim > 1 ? lat->extent[1] : 1;
    const int ky = lat->dim > 1 ? k : 1, n_off = k * ky;
    int cmax = 1;
    for (int l = 0; l < n_layers; l++) cmax = ch[l] > cmax ? ch[l] : cmax;
    double complex *prev = calloc((size_t)N * cmax, sizeof *prev);
    double complex *next = calloc((size_t)N * cmax, sizeof *next);
    for (int i = 0; i < N; i++) prev[i] = s[i];
    const double complex *q = par;
    int ci_n = 1;
    for (int l = 0; l < n_layers; l++) {
        const int co_n = ch[l], rep = local ? N : 1;
        const double complex *K = q, *b = q + (size_t)rep * co_n * ci_n * n_off;
        q = b + (size_t)rep * co_n;
        for (int y = 0; y < Ly; y++)
            for (int x = 0; x < Lx; x++) {
                int i = x + Lx * y;
                const double complex *Ki = local ? K + (size_t)i * co_n * ci_n * n_off : K;
                const double complex *bi = local ? b + (size_t)i * co_n : b;
                for (int co = 0; co < co_n; co++) {
                    double complex z = bi[co];
                    for (int ci = 0; ci < ci_n; ci++)
                        for (int dy = 0; dy < ky; dy++)
                            for (int dx = 0; dx < k; dx++) {
                                int xx = x + dx, yy = y + dy;
                                if (xx >= Lx && !lat->periodic[0]) continue;
                                if (yy >= Ly && (lat->dim < 2 || !lat->periodic[1])) continue;
                                xx %= Lx;
                                yy %= Ly;
                                z += Ki[(co * ci_n + ci) * n_off + dx + k * dy] *
                                     prev[ci * N + xx + Lx * yy];
                            }
                    /* hidden layers: the activation; last layer: log cosh */
                    next[co * N + i] = l + 1 < n_layers ? ref_act(act, z) : nqs_logcosh(z);
                }
            }
        double complex *t = prev;
        prev = next;
        next = t;
        ci_n = co_n;
    }
    double complex lp = 0;
    for (int j = 0; j < N * ci_n; j++) lp += prev[j];
    free(prev);
    free(next);
    return lp;
}

struct lat_case {
    enum nqs_lattice_kind kind;
    int lx, ly, px, py;
};

static const struct lat_case forward_cases[] = {
    {NQS_LATTICE_CHAIN, 7, 1, 1, 0},      {NQS_LATTICE_CHAIN, 6, 1, 0, 0},
    {NQS_LATTICE_SQUARE, 4, 3, 1, 1},     {NQS_LATTICE_SQUARE, 4, 3, 1, 0},
    {NQS_LATTICE_SQUARE, 3, 4, 0, 0},     {NQS_LATTICE_TRIANGULAR, 3, 3, 1, 1},
    {NQS_LATTICE_CHAIN, 3, 1, 1, 0}, /* kernel 4 > extent 3: the kernel wraps twice */
};

static void test_cnn_forward_matches_reference(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 3);
    const int ch[3] = {3, 2, 2};
    for (size_t c = 0; c < sizeof forward_cases / sizeof *forward_cases; c++) {
        const struct lat_case *lc = &forward_cases[c];
        struct nqs_lattice *lat = lat_make(lc->kind, lc->lx, lc->ly, lc->px, lc->py);
        int k = lc->lx == 3 && lc->kind == NQS_LATTICE_CHAIN ? 4 : 2 + (int)(c % 2);
        for (int local = 0; local < 4; local++) {
            /* local & 1: lcn; local & 2: hidden layers with log cosh instead of poly */
            const int act = local & 2 ? ACT_LOGCOSH : ACT_POLY;
            struct nqs_model *m = model_make_act(local & 1 ? "lcn" : "cnn", lat, ch, 3, k, act,
                                                 100 + c, 0.3);
            int8_t s[16];
            for (int r = 0; r < 4; r++) {
                random_config(rng, lat->n_sites, s);
                double complex got = nqs_model_log_psi(m, s);
                double complex want = ref_log_psi(lat, ch, 3, k, local & 1, act, m->par, s);
                /* same sums in a different order (and log of a product for the
                 * last layer): rounding ~1e-15 |log psi| */
                double tol = 1e-12 * fmax(1.0, cabs(want));
                assert_logpsi_close(got, want, tol);
            }
            nqs_model_free(m);
        }
        nqs_lattice_free(lat);
    }
    gsl_rng_free(rng);
}

/* One layer, one channel, kernel 2 on a chain of 4: log psi written out by
 * hand, sigma_4 = sigma_0 (periodic) or 0 (open). */
static void test_cnn_open_chain_zero_padding_by_hand(void **state)
{
    (void)state;
    const int ch[1] = {1};
    const int8_t s[4] = {1, -1, -1, 1};
    for (int per = 0; per < 2; per++) {
        struct nqs_lattice *lat = lat_make(NQS_LATTICE_CHAIN, 4, 1, per, 0);
        struct nqs_model *m = model_make("cnn", lat, ch, 1, 2, 1, 0.1);
        assert_int_equal(m->n_par, 3); /* K[0], K[1], b */
        double complex w0 = CMPLX(0.31, -0.2), w1 = CMPLX(-0.57, 0.13), b = CMPLX(0.05, 0.4);
        m->par[0] = w0;
        m->par[1] = w1;
        m->par[2] = b;
        m->ops->refresh(m);
        double complex want = nqs_logcosh(b + w0 * 1 + w1 * -1) + nqs_logcosh(b + w0 * -1 + w1 * -1) +
                              nqs_logcosh(b + w0 * -1 + w1 * 1) +
                              nqs_logcosh(b + w0 * 1 + (per ? w1 * 1 : 0));
        double complex got = nqs_model_log_psi(m, s);
        assert_logpsi_close(got, want, 1e-14);
        nqs_model_free(m);
        nqs_lattice_free(lat);
    }
}

static void apply_flips(int8_t *s, int n, const int *f)
{
    for (int j = 0; j < n; j++) s[f[j]] = (int8_t)-s[f[j]];
}

/* 2000 accepted random moves (single flips, exchanges of opposite spins and
 * arbitrary pairs): every ratio against the difference of two full
 * evaluations (imaginary parts modulo 2 pi). The ratio propagates changes
 * (rounding ~1e-16 of the pre-activations) and the full evaluations round at
 * ~1e-16 |log psi| sqrt(N C): tolerance 1e-12 relative to max(1, |log psi|).
 * The updated cache is recomputed exactly, so at the end it must give
 * bit-identical ratios to a fresh cache_init (no drift at all). */
static void check_ratios(const struct nqs_model *m, gsl_rng *rng, int n_moves)
{
    const int N = m->n_sites;
    int8_t s[64], t[64];
    random_config(rng, N, s);
    void *cache = malloc(m->cache_size), *fresh = malloc(m->cache_size);
    double complex lp = m->ops->cache_init(m, s, cache);
    double complex lp_full = nqs_model_log_psi(m, s);
    assert_true(lp == lp_full);
    for (int mv = 0; mv < n_moves; mv++) {
        int f[3], nf;
        double u = gsl_rng_uniform(rng);
        f[0] = (int)gsl_rng_uniform_int(rng, (unsigned long)N);
        if (u < 0.4) {
            nf = 1;
        } else {
            nf = 2;
            /* u < 0.8: try for an exchange of opposite spins, else any pair */
            int tries = 0;
            do f[1] = (int)gsl_rng_uniform_int(rng, (unsigned long)N);
            while (f[1] == f[0] || (u < 0.8 && s[f[1]] == s[f[0]] && ++tries < 4 * N));
        }
        double complex r = m->ops->log_psi_ratio(m, cache, s, nf, f);
        memcpy(t, s, (size_t)N);
        apply_flips(t, nf, f);
        double complex lp2 = nqs_model_log_psi(m, t);
        double tol = 1e-12 * cmax3(1.0, cabs(lp), cabs(lp2));
        assert_logpsi_close(r, lp2 - lp, tol);
        m->ops->cache_update(m, cache, s, nf, f);
        memcpy(s, t, (size_t)N);
        lp = lp2;
    }
    m->ops->cache_init(m, s, fresh);
    for (int i = 0; i < N; i++) {
        int f2[2] = {i, (i + 1) % N};
        for (int nf = 1; nf <= 2; nf++) {
            double complex a = m->ops->log_psi_ratio(m, cache, s, nf, f2);
            double complex b = m->ops->log_psi_ratio(m, fresh, s, nf, f2);
            assert_true(creal(a) == creal(b) && cimag(a) == cimag(b));
        }
    }
    free(cache);
    free(fresh);
}

static const struct lat_case ratio_cases[] = {
    {NQS_LATTICE_CHAIN, 10, 1, 1, 0},     {NQS_LATTICE_SQUARE, 4, 4, 1, 1},
    {NQS_LATTICE_TRIANGULAR, 3, 3, 1, 1}, {NQS_LATTICE_CHAIN, 9, 1, 0, 0},
    {NQS_LATTICE_SQUARE, 4, 3, 1, 0},     {NQS_LATTICE_SQUARE, 5, 4, 0, 0},
};

static void test_cnn_ratio_matches_full_eval(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 2024);
    for (size_t c = 0; c < sizeof ratio_cases / sizeof *ratio_cases; c++) {
        const struct lat_case *lc = &ratio_cases[c];
        struct nqs_lattice *lat = lat_make(lc->kind, lc->lx, lc->ly, lc->px, lc->py);
        for (int local = 0; local < 2; local++) {
            /* default 2-layer net, and a deeper one with a narrower kernel
             * whose hidden layers use log cosh on every other lattice */
            const int ch2[2] = {4, 4}, ch3[3] = {2, 3, 2};
            struct nqs_model *m = model_make(local ? "lcn" : "cnn", lat, ch2, 2, 3, 5 + c, 0.25);
            check_ratios(m, rng, 2000);
            nqs_model_free(m);
            m = model_make_act(local ? "lcn" : "cnn", lat, ch3, 3, 2,
                               c % 2 ? ACT_LOGCOSH : ACT_POLY, 50 + c, 0.3);
            check_ratios(m, rng, 600);
            nqs_model_free(m);
        }
        nqs_lattice_free(lat);
    }
    gsl_rng_free(rng);
}

/* Repeated sites and more flips than NQS_MAX_FLIP: still exact, cache intact. */
static void test_cnn_ratio_odd_moves(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 77);
    struct nqs_lattice *lat = lat_make(NQS_LATTICE_SQUARE, 4, 4, 1, 1);
    const int ch[2] = {3, 2};
    for (int local = 0; local < 2; local++) {
        struct nqs_model *m = model_make(local ? "lcn" : "cnn", lat, ch, 2, 3, 9, 0.3);
        int8_t s[16], t[16];
        random_config(rng, 16, s);
        void *cache = malloc(m->cache_size);
        double complex lp = m->ops->cache_init(m, s, cache);
        int same[2] = {5, 5};
        double complex r0 = m->ops->log_psi_ratio(m, cache, s, 2, same);
        assert_true(creal(r0) == 0.0 && cimag(r0) == 0.0);
        int three[3] = {0, 7, 13};
        double complex r = m->ops->log_psi_ratio(m, cache, s, 3, three);
        memcpy(t, s, 16);
        apply_flips(t, 3, three);
        double complex lp3 = nqs_model_log_psi(m, t);
        double tol = 1e-12 * cmax3(1.0, cabs(lp), cabs(lp3));
        assert_logpsi_close(r, lp3 - lp, tol);
        /* the cache still describes s: a single flip is still right */
        int one[1] = {2};
        double complex r1 = m->ops->log_psi_ratio(m, cache, s, 1, one);
        memcpy(t, s, 16);
        apply_flips(t, 1, one);
        double complex lp1 = nqs_model_log_psi(m, t);
        assert_logpsi_close(r1, lp1 - lp, tol);
        /* and a 3-site update matches a fresh cache */
        m->ops->cache_update(m, cache, s, 3, three);
        apply_flips(s, 3, three);
        double complex a = m->ops->log_psi_ratio(m, cache, s, 1, one);
        void *fresh = malloc(m->cache_size);
        m->ops->cache_init(m, s, fresh);
        double complex b = m->ops->log_psi_ratio(m, fresh, s, 1, one);
        assert_true(a == b);
        assert_true(m->ops->log_psi_ratio(m, cache, s, 0, one) == 0);
        free(fresh);
        free(cache);
        nqs_model_free(m);
    }
    nqs_lattice_free(lat);
    gsl_rng_free(rng);
}

/* Central differences with step h = 1e-5 along Re and Im of every parameter
 * (holomorphic: both must equal O_p): truncation h^2 |f'''| ~ 1e-10, rounding
 * eps |log psi| / h ~ 1e-10. Tolerance 1e-6 relative to max(|O_p|, 1e-2). */
static void check_grad(struct nqs_model *m, gsl_rng *rng)
{
    const int N = m->n_sites;
    const double h = 1e-5;
    int8_t s[64];
    random_config(rng, N, s);
    void *cache = malloc(m->cache_size);
    double complex *O = malloc((size_t)m->n_par * sizeof *O);
    m->ops->cache_init(m, s, cache);
    m->ops->grad_log_psi(m, cache, s, O);
    for (int p = 0; p < m->n_par; p++) {
        double complex save = m->par[p], d[2];
        for (int dir = 0; dir < 2; dir++) {
            double complex e = dir ? I * h : h;
            m->par[p] = save + e;
            m->ops->refresh(m);
            double complex fp = nqs_model_log_psi(m, s);
            m->par[p] = save - e;
            m->ops->refresh(m);
            double complex fm = nqs_model_log_psi(m, s);
            /* log psi is defined modulo 2 pi i */
            double complex df = CMPLX(creal(fp - fm), remainder(cimag(fp - fm), 2.0 * M_PI));
            d[dir] = df / (2.0 * e);
        }
        m->par[p] = save;
        m->ops->refresh(m);
        double tol = 1e-6 * fmax(cabs(O[p]), 1e-2);
        for (int dir = 0; dir < 2; dir++) {
            assert_close(creal(d[dir]), creal(O[p]), tol);
            assert_close(cimag(d[dir]), cimag(O[p]), tol);
        }
    }
    /* the cache is unchanged by the gradient: a ratio still matches */
    int one[1] = {0};
    double complex r = m->ops->log_psi_ratio(m, cache, s, 1, one);
    int8_t t[64];
    memcpy(t, s, (size_t)N);
    t[0] = (int8_t)-t[0];
    double complex lp = nqs_model_log_psi(m, s), lp1 = nqs_model_log_psi(m, t);
    assert_logpsi_close(r, lp1 - lp, 1e-12 * cmax3(1, cabs(lp), cabs(lp1)));
    free(O);
    free(cache);
}

static void test_cnn_grad_matches_finite_differences(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 99);
    const struct lat_case cases[] = {
        {NQS_LATTICE_CHAIN, 6, 1, 1, 0},      {NQS_LATTICE_CHAIN, 5, 1, 0, 0},
        {NQS_LATTICE_SQUARE, 3, 3, 1, 1},     {NQS_LATTICE_SQUARE, 3, 2, 1, 0},
        {NQS_LATTICE_TRIANGULAR, 3, 3, 1, 1},
    };
    const int ch2[2] = {3, 2}, ch3[3] = {2, 2, 3};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const struct lat_case *lc = &cases[c];
        struct nqs_lattice *lat = lat_make(lc->kind, lc->lx, lc->ly, lc->px, lc->py);
        for (int local = 0; local < 2; local++) {
            struct nqs_model *m = model_make(local ? "lcn" : "cnn", lat, ch2, 2, 3, 21 + c, 0.3);
            check_grad(m, rng);
            nqs_model_free(m);
            /* the logcosh hidden activation on every other lattice; poly
             * three-layer nets at std 0.2, since at 0.3 the z^6 term makes
             * |log psi| ~ 4e3 and the finite-difference rounding
             * eps |log psi| / h ~ 1e-7 would exceed the tolerance */
            m = model_make_act(local ? "lcn" : "cnn", lat, ch3, 3, 2,
                               c % 2 ? ACT_LOGCOSH : ACT_POLY, 31 + c, c % 2 ? 0.3 : 0.2);
            check_grad(m, rng);
            nqs_model_free(m);
        }
        nqs_lattice_free(lat);
    }
    gsl_rng_free(rng);
}

/* log psi(T s) for every translation T of the lattice's group. */
static void translate(const struct nqs_lattice *lat, int t, const int8_t *s, int8_t *ts)
{
    for (int i = 0; i < lat->n_sites; i++) ts[lat->trans[t * lat->n_sites + i]] = s[i];
}

static void test_cnn_translation_invariant(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 4);
    const struct lat_case cases[] = {
        {NQS_LATTICE_CHAIN, 10, 1, 1, 0},
        {NQS_LATTICE_SQUARE, 4, 4, 1, 1},
        {NQS_LATTICE_TRIANGULAR, 3, 3, 1, 1},
        {NQS_LATTICE_SQUARE, 4, 3, 1, 0}, /* cylinder: translations along x only */
    };
    const int ch[2] = {4, 4};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const struct lat_case *lc = &cases[c];
        struct nqs_lattice *lat = lat_make(lc->kind, lc->lx, lc->ly, lc->px, lc->py);
        struct nqs_model *m = model_make("cnn", lat, ch, 2, 3, 8 + c, 0.3);
        struct nqs_model *u = model_make("lcn", lat, ch, 2, 3, 8 + c, 0.3);
        assert_int_equal(lat->n_trans, lc->kind == NQS_LATTICE_SQUARE && !lc->py ? 4 : lat->n_sites);
        int8_t s[16], ts[16];
        double lcn_max_dev = 0;
        for (int r = 0; r < 5; r++) {
            random_config(rng, lat->n_sites, s);
            double complex lp = nqs_model_log_psi(m, s), lpu = nqs_model_log_psi(u, s);
            for (int t = 0; t < lat->n_trans; t++) {
                translate(lat, t, s, ts);
                double complex lt = nqs_model_log_psi(m, ts);
                /* the same terms summed in another order */
                double tol = 1e-12 * fmax(1.0, cabs(lp));
                assert_logpsi_close(lt, lp, tol);
                lcn_max_dev = fmax(lcn_max_dev, logpsi_dist(nqs_model_log_psi(u, ts), lpu));
            }
        }
        /* random unshared weights: psi changes by O(1) under translations */
        assert_true(lcn_max_dev > 1e-2);
        nqs_model_free(m);
        nqs_model_free(u);
        nqs_lattice_free(lat);
    }
    gsl_rng_free(rng);
}

/* lcn with every site's kernel and bias equal to the cnn ones is cnn: same
 * arithmetic in the same order, so equal to rounding (in practice bit for
 * bit; tolerance 1e-14 relative), on all 2^N configurations. */
static void test_lcn_weight_tying_gives_cnn(void **state)
{
    (void)state;
    const struct lat_case cases[] = {
        {NQS_LATTICE_CHAIN, 10, 1, 1, 0},
        {NQS_LATTICE_CHAIN, 8, 1, 0, 0},
        {NQS_LATTICE_SQUARE, 4, 3, 1, 0},
        {NQS_LATTICE_TRIANGULAR, 3, 3, 1, 1},
    };
    const int ch[2] = {3, 2};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const struct lat_case *lc = &cases[c];
        struct nqs_lattice *lat = lat_make(lc->kind, lc->lx, lc->ly, lc->px, lc->py);
        const int N = lat->n_sites, n_off = lat->dim > 1 ? 9 : 3;
        struct nqs_model *m = model_make("cnn", lat, ch, 2, 3, 40 + c, 0.3);
        struct nqs_model *u = model_make("lcn", lat, ch, 2, 3, 1, 0.3);
        /* copy layer by layer following the layouts of convnet.h */
        const double complex *src = m->par;
        double complex *dst = u->par;
        int ci = 1;
        for (int l = 0; l < 2; l++) {
            int nk = ch[l] * ci * n_off, nb = ch[l];
            for (int i = 0; i < N; i++) memcpy(dst + i * nk, src, (size_t)nk * sizeof *src);
            dst += N * nk;
            src += nk;
            for (int i = 0; i < N; i++) memcpy(dst + i * nb, src, (size_t)nb * sizeof *src);
            dst += N * nb;
            src += nb;
            ci = ch[l];
        }
        assert_ptr_equal(dst, u->par + u->n_par);
        assert_ptr_equal(src, m->par + m->n_par);
        u->ops->refresh(u);
        int8_t s[16];
        for (long cfg = 0; cfg < (1L << N); cfg++) {
            for (int i = 0; i < N; i++) s[i] = (cfg >> i) & 1 ? 1 : -1;
            double complex a = nqs_model_log_psi(m, s), b = nqs_model_log_psi(u, s);
            double tol = 1e-14 * fmax(1.0, cabs(a));
            assert_logpsi_close(a, b, tol);
        }
        nqs_model_free(m);
        nqs_model_free(u);
        nqs_lattice_free(lat);
    }
}

/* Parameter counts by hand from P_cnn = sum_l C_l (C_{l-1} k^d + 1), C_0 = 1,
 * and P_lcn = N P_cnn; n_hidden = N C_max for both twins. */
static void test_cnn_parameter_counts(void **state)
{
    (void)state;
    const struct {
        struct lat_case lc;
        int n_layers, ch[3], k, p_cnn;
    } cases[] = {
        /* 4(1*3+1) + 4(4*3+1) = 16 + 52 */
        {{NQS_LATTICE_CHAIN, 10, 1, 1, 0}, 2, {4, 4, 0}, 3, 68},
        /* 4(9+1) + 4(36+1) = 40 + 148 */
        {{NQS_LATTICE_SQUARE, 4, 4, 1, 1}, 2, {4, 4, 0}, 3, 188},
        /* k^d = 4: 2(4+1) + 3(2*4+1) + 1(3*4+1) = 10 + 27 + 13 */
        {{NQS_LATTICE_TRIANGULAR, 3, 3, 1, 1}, 3, {2, 3, 1}, 2, 50},
        /* 8(25+1) */
        {{NQS_LATTICE_SQUARE, 10, 10, 1, 1}, 1, {8, 0, 0}, 5, 208},
        /* 3(4+1) + 2(3*4+1) = 15 + 26 */
        {{NQS_LATTICE_CHAIN, 7, 1, 0, 0}, 2, {3, 2, 0}, 4, 41},
        /* open 3x5, k=1: 5(1+1) + 6(5+1) = 10 + 36 */
        {{NQS_LATTICE_SQUARE, 3, 5, 0, 0}, 2, {5, 6, 0}, 1, 46},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const struct lat_case *lc = &cases[c].lc;
        struct nqs_lattice *lat = lat_make(lc->kind, lc->lx, lc->ly, lc->px, lc->py);
        struct nqs_model *m = model_make("cnn", lat, cases[c].ch, cases[c].n_layers, cases[c].k, 1, 0.1);
        struct nqs_model *u = model_make("lcn", lat, cases[c].ch, cases[c].n_layers, cases[c].k, 1, 0.1);
        int cmax = 0;
        for (int l = 0; l < cases[c].n_layers; l++) cmax = cases[c].ch[l] > cmax ? cases[c].ch[l] : cmax;
        assert_int_equal(m->n_par, cases[c].p_cnn);
        assert_int_equal(u->n_par, lat->n_sites * cases[c].p_cnn);
        assert_int_equal(m->n_hidden, lat->n_sites * cmax);
        assert_int_equal(u->n_hidden, m->n_hidden);
        assert_true(m->layout[0] != '\0' && strstr(m->layout, "kernel=") != NULL);
        nqs_model_free(m);
        nqs_model_free(u);
        nqs_lattice_free(lat);
    }
}

/* ------------------------------------------------ the hidden-layer branch cut */

/* Central difference of log psi(s) along parameter p (real direction), with
 * the imaginary part of the difference taken modulo 2 pi. */
static double complex fd_along(struct nqs_model *m, const int8_t *s, int p, double complex at,
                               double h)
{
    m->par[p] = at + h;
    m->ops->refresh(m);
    double complex fp = nqs_model_log_psi(m, s);
    m->par[p] = at - h;
    m->ops->refresh(m);
    double complex fm = nqs_model_log_psi(m, s);
    m->par[p] = at;
    m->ops->refresh(m);
    return CMPLX(creal(fp - fm), remainder(cimag(fp - fm), 2.0 * M_PI)) / (2.0 * h);
}

static double complex grad_at(struct nqs_model *m, const int8_t *s, int p)
{
    void *cache = malloc(m->cache_size);
    double complex *O = malloc((size_t)m->n_par * sizeof *O);
    assert_true(cache && O);
    m->ops->cache_init(m, s, cache);
    m->ops->grad_log_psi(m, cache, s, O);
    double complex g = O[p];
    free(cache);
    free(O);
    return g;
}

/* Why the hidden layers must not use the principal log cosh: on a periodic
 * chain of 4 with channels 1,1 and kernel 1 (P = 4: K1, b1, K2, b2),
 *   z1_i = b1 + K1 sigma_i,  a1_i = f(z1_i),  log psi = sum_i log cosh(b2 + K2 a1_i).
 * With K1 = 0.3 - 0.2i and b1 = (t - 0.3) + 2.2i, the three sites with
 * sigma_i = +1 have z1 = t + 2i: as t crosses 0, z1 crosses Re z = 0 where
 * cos(Im z) = cos 2 < 0, i.e. the cut of the principal log cosh, across which
 * log cosh jumps by 2 pi i.
 *  - poly (default): f is entire, log psi is smooth in t; the central
 *    difference across the crossing, h = 1e-5 (truncation ~h^2 |f'''| ~ 1e-9,
 *    rounding ~1e-16 |log psi| / h ~ 1e-11), equals the gradient at t = 0 to
 *    1e-6 relative.
 *  - logcosh (contrast): a1 jumps by 2 pi i at those three sites, so z2 jumps
 *    by 2 pi i K2 and psi itself jumps: log psi(+h) - log psi(-h) is O(1) and
 *    equals, to O(h), 3 [log cosh(b2 + K2 a1(+h)) - log cosh(b2 + K2 a1(-h))]
 *    computed here from nqs_logcosh; the gradient (correct on each side:
 *    the one-sided difference over t in [h, 3h] matches it) says nothing about
 *    the jump. */
static void test_cnn_poly_has_no_branch_cut(void **state)
{
    (void)state;
    struct nqs_lattice *lat = lat_make(NQS_LATTICE_CHAIN, 4, 1, 1, 0);
    const int ch[2] = {1, 1};
    const int8_t s[4] = {1, -1, 1, 1};
    const double complex K1 = CMPLX(0.3, -0.2), b1 = CMPLX(-0.3, 2.2);
    const double complex K2 = CMPLX(0.45, 0.25), b2 = CMPLX(0.1, -0.3);
    const double h = 1e-5;
    /* the crossing, from the formula above: z1(-h) left of the cut, z1(+h) right */
    const double complex zm = b1 - h + K1, zp = b1 + h + K1;
    assert_true(creal(zm) < 0 && creal(zp) > 0);
    assert_true(cos(cimag(zm)) < 0 && fabs(cimag(zm)) > M_PI / 2);
    /* ... and the principal log cosh indeed jumps there by 2 pi i */
    assert_close(fabs(cimag(nqs_logcosh(zp) - nqs_logcosh(zm))), 2 * M_PI, 1e-3);

    for (int act = ACT_POLY; act <= ACT_LOGCOSH; act++) {
        struct nqs_model *m = model_make_act("cnn", lat, ch, 2, 1, act, 1, 0.1);
        assert_int_equal(m->n_par, 4);
        m->par[0] = K1, m->par[1] = b1, m->par[2] = K2, m->par[3] = b2;
        m->ops->refresh(m);
        double complex O = grad_at(m, s, 1);
        double complex fd = fd_along(m, s, 1, b1, h);
        double tol = 1e-6 * fmax(1.0, cabs(O));
        if (act == ACT_POLY) {
            assert_close(creal(fd), creal(O), tol);
            assert_close(cimag(fd), cimag(O), tol);
        } else {
            /* contrast: psi jumps across the crossing */
            double complex jump = 2 * h * fd;
            double complex want = 3.0 * (nqs_logcosh(b2 + K2 * nqs_logcosh(zp)) -
                                         nqs_logcosh(b2 + K2 * nqs_logcosh(zm)));
            assert_true(cabs(jump) > 0.5);
            assert_logpsi_close(jump, want, 1e-3);
            assert_true(cabs(fd - O) > 1e4);
            /* on one side of the cut the gradient is right */
            m->par[1] = b1 + 2 * h;
            m->ops->refresh(m);
            double complex O2 = grad_at(m, s, 1), fd2 = fd_along(m, s, 1, b1 + 2 * h, h);
            assert_close(creal(fd2), creal(O2), 1e-6 * fmax(1.0, cabs(O2)));
            assert_close(cimag(fd2), cimag(O2), 1e-6 * fmax(1.0, cabs(O2)));
        }
        nqs_model_free(m);
    }
    nqs_lattice_free(lat);
}

/* The same on a random two-layer network (4x4 periodic, channels 4,4, kernel
 * 3, std 0.3, both twins): the layer-1 bias of channel 1 is set so that the
 * pre-activation of that channel at site 5 is exactly 2i (z1 computed here
 * from the parameter layout), and then moved by +-h. With poly the central
 * difference across the crossing matches the gradient (tolerances as in
 * check_grad); with logcosh it is off by the jump / 2h. */
static void test_cnn_poly_continuous_random_network(void **state)
{
    (void)state;
    struct nqs_lattice *lat = lat_make(NQS_LATTICE_SQUARE, 4, 4, 1, 1);
    const int ch[2] = {4, 4}, site = 5, chan = 1, L = 4;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 31);
    int8_t s[16];
    random_config(rng, 16, s);
    for (int variant = 0; variant < 4; variant++) {
        const int local = variant & 1, act = variant & 2 ? ACT_LOGCOSH : ACT_POLY;
        struct nqs_model *m = model_make_act(local ? "lcn" : "cnn", lat, ch, 2, 3, act,
                                             70 + (unsigned long)local, 0.3);
        /* layer 1: K1[(i)][c][0][o] then b1[(i)][c]; cnn has 36 kernel entries */
        const int rep = local ? 16 : 1, blk = 4 * 9;
        const double complex *K = m->par + (local ? site * blk : 0) + chan * 9;
        const int pb = rep * blk + (local ? site * 4 : 0) + chan;
        double complex z = m->par[pb];
        int x = site % L, y = site / L;
        for (int dy = 0; dy < 3; dy++)
            for (int dx = 0; dx < 3; dx++)
                z += K[dx + 3 * dy] * s[(x + dx) % L + L * ((y + dy) % L)];
        const double complex b = m->par[pb] - z + 2.0 * I; /* z1 = 2i at this site */
        m->par[pb] = b;
        m->ops->refresh(m);
        const double h = 1e-5;
        double complex O = grad_at(m, s, pb), fd = fd_along(m, s, pb, b, h);
        double tol = 1e-6 * fmax(1.0, cabs(O));
        if (act == ACT_POLY) {
            assert_close(creal(fd), creal(O), tol);
            assert_close(cimag(fd), cimag(O), tol);
        } else {
            assert_true(cabs(fd - O) > 1e3); /* a jump of O(0.1) or more over 2h */
        }
        nqs_model_free(m);
    }
    gsl_rng_free(rng);
    nqs_lattice_free(lat);
}

/* poly is the Taylor polynomial of log cosh through z^6. Scaling every
 * parameter by s (nqs_model_init draws std x the same standard normals), the
 * difference of log psi between the two hidden activations is
 * sum tanh(z_2) K_2 (log cosh - poly)(z_1) ~ s * s * s^8 = s^10, because
 * log cosh z - poly(z) = 17 z^8/2520 + O(z^10). A wrong coefficient of z^4 or
 * z^6 would give s^6 or s^8. Doubling s from 0.02 must therefore multiply the
 * difference by 2^10 (exponent within 10 +- 0.5; the next order shifts it by
 * ~ s^2 and rounding of |log psi| ~ 0.1 is 1e-17 against differences of
 * ~1e-12 and more). A single-layer network has no hidden layer and does not
 * depend on the option at all (bit for bit). */
static void test_cnn_poly_is_taylor_of_logcosh(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 12);
    struct nqs_lattice *lat = lat_make(NQS_LATTICE_SQUARE, 4, 3, 1, 0);
    const int ch2[2] = {3, 2}, ch1[1] = {3};
    int8_t s[20][12];
    for (int r = 0; r < 20; r++) random_config(rng, 12, s[r]);
    double diff[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        const double std = 0.02 * (1 + k);
        struct nqs_model *p2 = model_make_act("cnn", lat, ch2, 2, 3, ACT_POLY, 8, std);
        struct nqs_model *l2 = model_make_act("cnn", lat, ch2, 2, 3, ACT_LOGCOSH, 8, std);
        for (int r = 0; r < 20; r++)
            diff[k] += logpsi_dist(nqs_model_log_psi(p2, s[r]), nqs_model_log_psi(l2, s[r]));
        nqs_model_free(p2);
        nqs_model_free(l2);
    }
    assert_true(diff[0] > 1e-14 * 20);
    assert_close(log2(diff[1] / diff[0]), 10.0, 0.5);

    struct nqs_model *p1 = model_make_act("lcn", lat, ch1, 1, 2, ACT_POLY, 9, 0.5);
    struct nqs_model *l1 = model_make_act("lcn", lat, ch1, 1, 2, ACT_LOGCOSH, 9, 0.5);
    for (int r = 0; r < 20; r++) {
        double complex a = nqs_model_log_psi(p1, s[r]), b = nqs_model_log_psi(l1, s[r]);
        assert_true(a == b);
    }
    nqs_model_free(p1);
    nqs_model_free(l1);
    nqs_lattice_free(lat);
    gsl_rng_free(rng);
}

static void test_cnn_registry_and_twins(void **state)
{
    (void)state;
    const struct nqs_model_ops *c = nqs_model_find("cnn"), *l = nqs_model_find("lcn");
    assert_non_null(c);
    assert_non_null(l);
    assert_ptr_equal(nqs_model_find(c->twin), l);
    assert_ptr_equal(nqs_model_find(l->twin), c);
    assert_int_equal(c->shared, 1);
    assert_int_equal(l->shared, 0);
    assert_int_equal(c->n_options, l->n_options);
    for (int k = 0; k < c->n_options; k++) {
        assert_string_equal(c->options[k].name, l->options[k].name);
        assert_string_equal(c->options[k].def, l->options[k].def);
    }
    /* documented defaults: two layers of 4 channels, kernel 3, poly hidden
     * activation (index 0 of the choice, as ACT_POLY assumes) */
    assert_int_equal(c->n_options, 4);
    assert_string_equal(c->options[0].name, "channels");
    assert_string_equal(c->options[0].def, "4,4");
    assert_string_equal(c->options[1].name, "kernel");
    assert_string_equal(c->options[1].def, "3");
    assert_string_equal(c->options[2].name, "activation");
    assert_string_equal(c->options[2].def, "poly");
    assert_string_equal(c->options[2].choices, "poly|logcosh");
    assert_string_equal(l->options[2].choices, "poly|logcosh");
    assert_string_equal(c->options[3].name, "group");
    assert_string_equal(c->options[3].def, "translations");
    assert_string_equal(c->options[3].choices, "translations|space_group");
}

static void test_cnn_alloc_errors(void **state)
{
    (void)state;
    struct nqs_lattice *lat = lat_make(NQS_LATTICE_SQUARE, 10, 10, 1, 1);
    const struct nqs_model_ops *ops = nqs_model_find("lcn");
    struct nqs_opt_val v[4];
    const int ok[2] = {4, 4}, zero[2] = {4, 0}, huge[2] = {256, 256};

    opts(v, ok, 0, 3);
    assert_null(nqs_model_alloc(ops, lat, v));
    assert_true(strstr(nqs_last_error(), "channels") != NULL);

    opts(v, zero, 2, 3);
    assert_null(nqs_model_alloc(ops, lat, v));
    assert_true(strstr(nqs_last_error(), "channels: entry 2") != NULL);

    opts(v, ok, 2, 0);
    assert_null(nqs_model_alloc(ops, lat, v));
    assert_true(strstr(nqs_last_error(), "kernel") != NULL);

    /* the input layer only produces the indices 0 (poly) and 1 (logcosh) */
    opts_act(v, ok, 2, 3, 2);
    nqs_error_clear();
    assert_null(nqs_model_alloc(ops, lat, v));
    assert_true(strstr(nqs_last_error(), "activation") != NULL);
    assert_true(strstr(nqs_last_error(), "logcosh") != NULL);

    /* 100 * (256 (64^2 + 1) + 256 (256 * 64^2 + 1)) parameters > INT_MAX */
    opts(v, huge, 2, 64);
    nqs_error_clear();
    assert_null(nqs_model_alloc(ops, lat, v));
    assert_true(strstr(nqs_last_error(), "parameters") != NULL);
    nqs_lattice_free(lat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_valid_by_hand),
        cmocka_unit_test(test_conv_periodic_by_hand),
        cmocka_unit_test(test_conv_zero_by_hand),
        cmocka_unit_test(test_conv_1d_by_hand),
        cmocka_unit_test(test_conv_multichannel_complex),
        cmocka_unit_test(test_conv_local_matches_shared_and_direct),
        cmocka_unit_test(test_conv_geom_errors),
        cmocka_unit_test(test_cnn_forward_matches_reference),
        cmocka_unit_test(test_cnn_open_chain_zero_padding_by_hand),
        cmocka_unit_test(test_cnn_ratio_matches_full_eval),
        cmocka_unit_test(test_cnn_ratio_odd_moves),
        cmocka_unit_test(test_cnn_grad_matches_finite_differences),
        cmocka_unit_test(test_cnn_translation_invariant),
        cmocka_unit_test(test_lcn_weight_tying_gives_cnn),
        cmocka_unit_test(test_cnn_poly_has_no_branch_cut),
        cmocka_unit_test(test_cnn_poly_continuous_random_network),
        cmocka_unit_test(test_cnn_poly_is_taylor_of_logcosh),
        cmocka_unit_test(test_cnn_parameter_counts),
        cmocka_unit_test(test_cnn_registry_and_twins),
        cmocka_unit_test(test_cnn_alloc_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
