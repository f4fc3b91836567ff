/*
 * rbm_engine.c - cached hidden-unit state and fast log-ratios for RBMs
 * (Carleo & Troyer, Science 355, 602 (2017); docs/physics.md "RBM fast updates").
 *
 * log psi(s) = sum_i a_i s_i + sum_j log cosh(theta_j), theta = b + W s.
 * A ratio for flipped sites F is
 *     sum_{i in F} 2 s_i (sum_j W_ji - a_i) + log prod_j (v_j + u_j e^{2 delta_j}),
 * delta_j = -2 sum_{i in F} W_ji s_i, u = E/(1+E), v = 1/(1+E), E = e^{2 theta}
 * (rbm_engine.h explains the rearrangement). The product is taken in blocks
 * of RBM_BLOCK factors: factors first (an elementwise loop the compiler
 * vectorises), then a product with four independent accumulators; after each
 * block the running product is rescaled by a power of two and the exponent
 * kept apart, so nothing overflows for any hidden-unit count. A block whose
 * product leaves [2^-900, 2^900] (extreme weights, or a zero of cosh) sends
 * the whole ratio to the exact sum of log-cosh differences.
 *
 * Hot paths use real arithmetic on split real/imaginary arrays with restrict
 * pointers: C99 complex multiplication compiles to a library call (__muldc3)
 * without -fcx-limited-range, which would dominate the cost.
 */
#include "rbm_engine.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "error.h"
#include "model.h"

#define RBM_BLOCK   32 /* factors per block of the running product (multiple of 4) */
#define RBM_MAXFLIP 8  /* flips handled by the table path; more go to the exact path */

int nqs_rbm_engine_alloc(struct nqs_rbm_engine *e, int n_sites, int n_hidden)
{
    e->n_sites = n_sites;
    e->n_hidden = n_hidden;
    size_t n = 4 * (size_t)n_sites * (size_t)n_hidden;
    e->ew = malloc(n * sizeof *e->ew);
    e->rs = malloc((size_t)n_sites * sizeof *e->rs);
    e->vm = malloc(4 * (size_t)n_sites * sizeof *e->vm);
    e->vk = malloc(2 * (size_t)n_sites * sizeof *e->vk);
    if (!e->ew || !e->rs || !e->vm || !e->vk) {
        nqs_rbm_engine_free(e);
        NQS_ERROR(NQS_ENOMEM, "out of memory for the RBM tables (%d sites x %d hidden units)",
                  n_sites, n_hidden);
    }
    return NQS_OK;
}

void nqs_rbm_engine_free(struct nqs_rbm_engine *e)
{
    if (!e) return;
    free(e->ew);
    free(e->rs);
    free(e->vm);
    free(e->vk);
    e->ew = NULL;
    e->rs = NULL;
    e->vm = NULL;
    e->vk = NULL;
}

size_t nqs_rbm_engine_cache_size(const struct nqs_rbm_engine *e)
{
    return (size_t)NQS_RBM_N_BLOCKS * (size_t)e->n_hidden * sizeof(double) + sizeof(int64_t);
}

/* The update counter stored after the double blocks (8-byte aligned). */
static int64_t *rbm_engine_counter(const struct nqs_rbm_engine *e, void *cache)
{
    return (int64_t *)((double *)cache + (size_t)NQS_RBM_N_BLOCKS * (size_t)e->n_hidden);
}

/* exp(z) as mantissa m (|m| in [0.5, 1), or 0, or NaN) and exponent *k,
 * computed from exp(Im z) phases and the binary exponent of exp(Re z) without
 * overflow: exp(x) = 2^(x / ln 2). */
static double complex rbm_engine_exp_split(double complex z, int *k)
{
    double x = creal(z);
    *k = 0;
    if (!isfinite(x) || fabs(x) > 1e6) return cexp(z); /* NaN or absurd: as cexp would */
    double mag;
    if (fabs(x) < 700) { /* exp is finite and normal: split exactly */
        mag = frexp(exp(x), k);
    } else {             /* exp(x) = 2^(x / ln 2) without overflow */
        double y = x / M_LN2, fl = floor(y);
        mag = 0.5 * exp2(y - fl);
        *k = (int)fl + 1;
    }
    return mag * CMPLX(cos(cimag(z)), sin(cimag(z)));
}

/* rs[i] = 2 (sum_j W_ji - a_i) and the split exponentials exp(+-rs_i). */
static void rbm_engine_row_sums(struct nqs_rbm_engine *e)
{
    size_t M = (size_t)e->n_hidden;
    for (int i = 0; i < e->n_sites; i++) {
        const double complex *w = e->w + (size_t)i * M;
        double complex r = 0;
        for (size_t j = 0; j < M; j++) r += w[j];
        e->rs[i] = 2.0 * (r - e->a[i]);
        for (int sg = 0; sg < 2; sg++) {
            double complex v = rbm_engine_exp_split(sg ? -e->rs[i] : e->rs[i], &e->vk[2 * i + sg]);
            e->vm[4 * i + 2 * sg] = creal(v);
            e->vm[4 * i + 2 * sg + 1] = cimag(v);
        }
    }
}

void nqs_rbm_engine_refresh(struct nqs_rbm_engine *e)
{
    size_t M = (size_t)e->n_hidden;
    for (int i = 0; i < e->n_sites; i++) {
        double *row = e->ew + (size_t)i * 4 * M;
        const double complex *w = e->w + (size_t)i * M;
        for (size_t j = 0; j < M; j++) {
            double complex zp = cexp(-4.0 * w[j]), zm = cexp(4.0 * w[j]);
            row[j] = creal(zp);
            row[M + j] = cimag(zp);
            row[2 * M + j] = creal(zm);
            row[3 * M + j] = cimag(zm);
        }
    }
    rbm_engine_row_sums(e);
}

void nqs_rbm_engine_refresh_mapped(struct nqs_rbm_engine *e, const double complex *zp,
                                   const double complex *zm, const int *map)
{
    size_t M = (size_t)e->n_hidden;
    for (int i = 0; i < e->n_sites; i++) {
        double *row = e->ew + (size_t)i * 4 * M;
        const int *mp = map + (size_t)i * M;
        for (size_t j = 0; j < M; j++) {
            row[j] = creal(zp[mp[j]]);
            row[M + j] = cimag(zp[mp[j]]);
            row[2 * M + j] = creal(zm[mp[j]]);
            row[3 * M + j] = cimag(zm[mp[j]]);
        }
    }
    rbm_engine_row_sums(e);
}

/* u, v and E of hidden unit j from theta_j alone (initialisation, resync and
 * the rare saturated or near-pole units): the exponential is taken of
 * -2|Re theta| so it cannot overflow. */
static void rbm_engine_from_theta(double *c, size_t M, size_t j)
{
    double complex th = CMPLX(c[NQS_RBM_TH_RE * M + j], c[NQS_RBM_TH_IM * M + j]);
    double complex q, w, u, v, E;
    if (creal(th) >= 0) {
        q = cexp(-2.0 * th);
        w = 1.0 / (1.0 + q);
        u = w;
        v = q * w;
    } else {
        q = cexp(2.0 * th);
        w = 1.0 / (1.0 + q);
        u = q * w;
        v = w;
    }
    E = fabs(creal(th)) <= NQS_RBM_THETA_SAT ? cexp(2.0 * th) : CMPLX(NAN, NAN);
    c[NQS_RBM_E_RE * M + j] = creal(E);
    c[NQS_RBM_E_IM * M + j] = cimag(E);
    c[NQS_RBM_U_RE * M + j] = creal(u);
    c[NQS_RBM_U_IM * M + j] = cimag(u);
    c[NQS_RBM_V_RE * M + j] = creal(v);
    c[NQS_RBM_V_IM * M + j] = cimag(v);
}

/* theta = b + W s' with s' = s except sites[0..n_flip) flipped. */
static void rbm_engine_theta(const struct nqs_rbm_engine *e, double *c, const int8_t *s, int n_flip,
                             const int *sites)
{
    size_t M = (size_t)e->n_hidden;
    double *thr = c + NQS_RBM_TH_RE * M, *thi = c + NQS_RBM_TH_IM * M;
    for (size_t j = 0; j < M; j++) {
        thr[j] = creal(e->b[j]);
        thi[j] = cimag(e->b[j]);
    }
    for (int i = 0; i < e->n_sites; i++) {
        double sg = s[i];
        for (int f = 0; f < n_flip; f++)
            if (sites[f] == i) sg = -sg;
        const double *w = (const double *)(e->w + (size_t)i * M); /* re, im interleaved */
        for (size_t j = 0; j < M; j++) {
            thr[j] += sg * w[2 * j];
            thi[j] += sg * w[2 * j + 1];
        }
    }
}

double complex nqs_rbm_engine_init(const struct nqs_rbm_engine *e, const int8_t *s, void *cache)
{
    size_t M = (size_t)e->n_hidden;
    double *c = cache;
    rbm_engine_theta(e, c, s, 0, NULL);
    double complex lp = 0;
    for (int i = 0; i < e->n_sites; i++) lp += s[i] * e->a[i];
    for (size_t j = 0; j < M; j++) {
        lp += nqs_logcosh(CMPLX(c[NQS_RBM_TH_RE * M + j], c[NQS_RBM_TH_IM * M + j]));
        rbm_engine_from_theta(c, M, j);
    }
    *rbm_engine_counter(e, cache) = 0;
    return lp;
}

/* Recompute the whole cache for s' = s with sites[0..n_flip) flipped. */
static void rbm_engine_resync(const struct nqs_rbm_engine *e, double *c, const int8_t *s,
                              int n_flip, const int *sites)
{
    size_t M = (size_t)e->n_hidden;
    rbm_engine_theta(e, c, s, n_flip, sites);
    for (size_t j = 0; j < M; j++) rbm_engine_from_theta(c, M, j);
}

/* Exact log-ratio by log-cosh differences (no tables): for extreme weights. */
static double complex rbm_engine_ratio_exact(const struct nqs_rbm_engine *e, const double *c,
                                             const int8_t *s, int n_flip, const int *sites)
{
    size_t M = (size_t)e->n_hidden;
    double complex lr = 0;
    for (int f = 0; f < n_flip; f++) lr += -2.0 * s[sites[f]] * e->a[sites[f]];
    for (size_t j = 0; j < M; j++) {
        double complex th = CMPLX(c[NQS_RBM_TH_RE * M + j], c[NQS_RBM_TH_IM * M + j]);
        double complex d = 0;
        for (int f = 0; f < n_flip; f++) d += -2.0 * s[sites[f]] * e->w[(size_t)sites[f] * M + j];
        lr += nqs_logcosh(th + d) - nqs_logcosh(th);
    }
    return lr;
}

/* Table rows z = e^{2 delta} contributed by each flipped site: flipping
 * s_i = +1 gives delta = -2 W_ji, so z = exp(-4 W_ji). */
struct rbm_rows {
    const double *zr[RBM_MAXFLIP], *zi[RBM_MAXFLIP];
};

static void rbm_engine_rows(const struct nqs_rbm_engine *e, const int8_t *s, int n_flip,
                            const int *sites, struct rbm_rows *r)
{
    size_t M = (size_t)e->n_hidden;
    for (int f = 0; f < n_flip; f++) {
        const double *row = e->ew + (size_t)sites[f] * 4 * M + (s[sites[f]] > 0 ? 0 : 2 * M);
        r->zr[f] = row;
        r->zi[f] = row + M;
    }
}

/* Factors v + u z for nb units, z from one row. */
static void rbm_engine_factors1(int nb, const double *restrict ur, const double *restrict ui,
                                const double *restrict vr, const double *restrict vi,
                                const double *restrict zr, const double *restrict zi,
                                double *restrict fr, double *restrict fi)
{
    for (int k = 0; k < nb; k++) {
        fr[k] = vr[k] + ur[k] * zr[k] - ui[k] * zi[k];
        fi[k] = vi[k] + ur[k] * zi[k] + ui[k] * zr[k];
    }
}

/* Factors v + u z1 z2 for nb units. */
static void rbm_engine_factors2(int nb, const double *restrict ur, const double *restrict ui,
                                const double *restrict vr, const double *restrict vi,
                                const double *restrict ar, const double *restrict ai,
                                const double *restrict br, const double *restrict bi,
                                double *restrict fr, double *restrict fi)
{
    for (int k = 0; k < nb; k++) {
        double zr = ar[k] * br[k] - ai[k] * bi[k], zi = ar[k] * bi[k] + ai[k] * br[k];
        fr[k] = vr[k] + ur[k] * zr - ui[k] * zi;
        fi[k] = vi[k] + ur[k] * zi + ui[k] * zr;
    }
}

/* Product of z over the flipped sites for unit j (generic n_flip). */
static void rbm_engine_z(const struct rbm_rows *r, int n_flip, size_t j, double *zr, double *zi)
{
    double ar = r->zr[0][j], ai = r->zi[0][j];
    for (int f = 1; f < n_flip; f++) {
        double cr = r->zr[f][j], ci = r->zi[f][j];
        double tr = ar * cr - ai * ci;
        ai = ar * ci + ai * cr;
        ar = tr;
    }
    *zr = ar, *zi = ai;
}

/* prod_j (v_j + u_j z_j) by blocks as (*pr + i *pi) 2^(*expo), |*pr + i *pi| in
 * [2^-64, 2^64]; 0, or -1 if a block product left the safe range. */
static int rbm_engine_prod(const double *c, size_t M, const struct rbm_rows *r, int n_flip,
                           double *pr_out, double *pi_out, long *expo_out)
{
    double fr[RBM_BLOCK], fi[RBM_BLOCK];
    const double *ur = c + NQS_RBM_U_RE * M, *ui = c + NQS_RBM_U_IM * M;
    const double *vr = c + NQS_RBM_V_RE * M, *vi = c + NQS_RBM_V_IM * M;
    double pr = 1.0, pi = 0.0;
    long expo = 0;
    for (size_t j0 = 0; j0 < M; j0 += RBM_BLOCK) {
        int nb = M - j0 < RBM_BLOCK ? (int)(M - j0) : RBM_BLOCK;
        if (n_flip == 1) {
            rbm_engine_factors1(nb, ur + j0, ui + j0, vr + j0, vi + j0, r->zr[0] + j0,
                                r->zi[0] + j0, fr, fi);
        } else if (n_flip == 2) {
            rbm_engine_factors2(nb, ur + j0, ui + j0, vr + j0, vi + j0, r->zr[0] + j0,
                                r->zi[0] + j0, r->zr[1] + j0, r->zi[1] + j0, fr, fi);
        } else {
            for (int k = 0; k < nb; k++) {
                size_t j = j0 + (size_t)k;
                double zr, zi;
                rbm_engine_z(r, n_flip, j, &zr, &zi);
                fr[k] = vr[j] + ur[j] * zr - ui[j] * zi;
                fi[k] = vi[j] + ur[j] * zi + ui[j] * zr;
            }
        }
        for (; nb % 4; nb++) fr[nb] = 1.0, fi[nb] = 0.0;
        double ar[4] = {1.0, 1.0, 1.0, 1.0}, ai[4] = {0.0, 0.0, 0.0, 0.0};
        for (int k = 0; k < nb; k += 4)
            for (int l = 0; l < 4; l++) {
                double tr = ar[l] * fr[k + l] - ai[l] * fi[k + l];
                double ti = ar[l] * fi[k + l] + ai[l] * fr[k + l];
                ar[l] = tr, ai[l] = ti;
            }
        double b0r = ar[0] * ar[1] - ai[0] * ai[1], b0i = ar[0] * ai[1] + ai[0] * ar[1];
        double b1r = ar[2] * ar[3] - ai[2] * ai[3], b1i = ar[2] * ai[3] + ai[2] * ar[3];
        double br = b0r * b1r - b0i * b1i, bi = b0r * b1i + b0i * b1r;
        double mb = fabs(br) + fabs(bi);
        if (!(mb >= 0x1p-900 && mb <= 0x1p900)) return -1; /* also NaN */
        /* |p| is in [2^-64, 2^64] before the block and |b| in [2^-900, 2^900],
         * so the product is a normal number; rescale it by a power of two
         * (exact) when it leaves [2^-64, 2^64] */
        double tr = pr * br - pi * bi, ti = pr * bi + pi * br;
        pr = tr, pi = ti;
        double mp = fabs(pr) + fabs(pi);
        if (mp > 0x1p64 || mp < 0x1p-64) {
            int k2;
            frexp(mp, &k2);
            pr = ldexp(pr, -k2), pi = ldexp(pi, -k2);
            expo += k2;
        }
    }
    *pr_out = pr, *pi_out = pi, *expo_out = expo;
    return 0;
}

/* log prod_j (v_j + u_j z_j); 0 and the log in *out, or -1 (see rbm_engine_prod). */
static int rbm_engine_logprod(const double *c, size_t M, const struct rbm_rows *r, int n_flip,
                              double complex *out)
{
    double pr, pi;
    long expo;
    if (rbm_engine_prod(c, M, r, n_flip, &pr, &pi, &expo) != 0) return -1;
    *out = CMPLX(0.5 * log(pr * pr + pi * pi) + (double)expo * M_LN2, atan2(pi, pr));
    return 0;
}

double complex nqs_rbm_engine_ratio(const struct nqs_rbm_engine *e, const void *cache,
                                    const int8_t *s, int n_flip, const int *sites)
{
    if (n_flip <= 0) return 0;
    const double *c = cache;
    size_t M = (size_t)e->n_hidden;
    NQS_ASSERT(n_flip != 2 || sites[0] != sites[1]); /* flipped sites are distinct */
    if (n_flip > RBM_MAXFLIP) return rbm_engine_ratio_exact(e, c, s, n_flip, sites);
    struct rbm_rows r;
    rbm_engine_rows(e, s, n_flip, sites, &r);
    double complex lp;
    if (rbm_engine_logprod(c, M, &r, n_flip, &lp) != 0)
        return rbm_engine_ratio_exact(e, c, s, n_flip, sites);
    for (int f = 0; f < n_flip; f++) lp += s[sites[f]] * e->rs[sites[f]];
    return lp;
}

double complex nqs_rbm_engine_psi_ratio(const struct nqs_rbm_engine *e, const void *cache,
                                        const int8_t *s, int n_flip, const int *sites)
{
    if (n_flip <= 0) return 1;
    const double *c = cache;
    size_t M = (size_t)e->n_hidden;
    NQS_ASSERT(n_flip != 2 || sites[0] != sites[1]);
    if (n_flip > RBM_MAXFLIP) return cexp(rbm_engine_ratio_exact(e, c, s, n_flip, sites));
    struct rbm_rows r;
    rbm_engine_rows(e, s, n_flip, sites, &r);
    double pr, pi;
    long expo;
    if (rbm_engine_prod(c, M, &r, n_flip, &pr, &pi, &expo) != 0)
        return cexp(rbm_engine_ratio_exact(e, c, s, n_flip, sites));
    /* times exp(s_k rs_k) per flipped site, as mantissa and exponent */
    for (int f = 0; f < n_flip; f++) {
        int i = sites[f], sg = s[i] > 0 ? 0 : 1;
        double vr = e->vm[4 * i + 2 * sg], vi = e->vm[4 * i + 2 * sg + 1];
        double tr = pr * vr - pi * vi;
        pi = pr * vi + pi * vr;
        pr = tr;
        expo += e->vk[2 * i + sg];
    }
    int k = expo > 4096 ? 4096 : expo < -4096 ? -4096 : (int)expo; /* beyond: inf or 0 anyway */
    return CMPLX(ldexp(pr, k), ldexp(pi, k));
}

double nqs_rbm_engine_log_prob_ratio(const struct nqs_rbm_engine *e, const void *cache,
                                     const int8_t *s, int n_flip, const int *sites)
{
    if (n_flip <= 0) return 0;
    const double *c = cache;
    size_t M = (size_t)e->n_hidden;
    NQS_ASSERT(n_flip != 2 || sites[0] != sites[1]);
    if (n_flip > RBM_MAXFLIP) return 2.0 * creal(rbm_engine_ratio_exact(e, c, s, n_flip, sites));
    struct rbm_rows r;
    rbm_engine_rows(e, s, n_flip, sites, &r);
    double pr, pi;
    long expo;
    if (rbm_engine_prod(c, M, &r, n_flip, &pr, &pi, &expo) != 0)
        return 2.0 * creal(rbm_engine_ratio_exact(e, c, s, n_flip, sites));
    double lr = log(pr * pr + pi * pi) + 2.0 * (double)expo * M_LN2;
    for (int f = 0; f < n_flip; f++) lr += 2.0 * s[sites[f]] * creal(e->rs[sites[f]]);
    return lr;
}

/* The accumulated theta, E, u, v arrays of a cache. */
struct rbm_state_ptrs {
    double *thr, *thi, *er, *ei, *ur, *ui, *vr, *vi;
};

static struct rbm_state_ptrs rbm_engine_ptrs(double *c, size_t M)
{
    struct rbm_state_ptrs p = {c + NQS_RBM_TH_RE * M, c + NQS_RBM_TH_IM * M, c + NQS_RBM_E_RE * M,
                               c + NQS_RBM_E_IM * M,  c + NQS_RBM_U_RE * M,  c + NQS_RBM_U_IM * M,
                               c + NQS_RBM_V_RE * M,  c + NQS_RBM_V_IM * M};
    return p;
}

/* E <- E z, v = 1/(1+E), u = E v for unit j given z; counts in bad_ the units
 * that are saturated, near a pole (|1+E| small) or overflowed. */
#define RBM_UPDATE_EUV(j, zr, zi)                                                                  \
    do {                                                                                           \
        double Er_ = er[j] * (zr) - ei[j] * (zi), Ei_ = er[j] * (zi) + ei[j] * (zr);               \
        double dr_ = 1.0 + Er_;                                                                    \
        double den_ = dr_ * dr_ + Ei_ * Ei_, inv_ = 1.0 / den_;                                    \
        double wr_ = dr_ * inv_, wi_ = -Ei_ * inv_;                                                \
        er[j] = Er_, ei[j] = Ei_;                                                                  \
        vr[j] = wr_, vi[j] = wi_;                                                                  \
        ur[j] = Er_ * wr_ - Ei_ * wi_, ui[j] = Er_ * wi_ + Ei_ * wr_;                              \
        /* written so that the loop vectorises; NaN counts as bad */                               \
        bad_ += (fabs(thr[j]) <= NQS_RBM_THETA_SAT &&                                              \
                 den_ >= NQS_RBM_NEAR_POLE * NQS_RBM_NEAR_POLE && den_ <= 1e300)                   \
                    ? 0.0                                                                          \
                    : 1.0;                                                                         \
    } while (0)

/* One flipped site: theta += m2s W_i, E *= z. Returns 0 if some unit needs
 * the slow path. */
static int rbm_engine_update1(size_t M, double *restrict thr, double *restrict thi,
                              double *restrict er, double *restrict ei, double *restrict ur,
                              double *restrict ui, double *restrict vr, double *restrict vi,
                              const double *restrict w, double m2s, const double *restrict zr,
                              const double *restrict zi)
{
    double bad_ = 0.0;
    for (size_t j = 0; j < M; j++) {
        thr[j] += m2s * w[2 * j];
        thi[j] += m2s * w[2 * j + 1];
        RBM_UPDATE_EUV(j, zr[j], zi[j]);
    }
    return bad_ == 0.0;
}

/* Two flipped sites. */
static int rbm_engine_update2(size_t M, double *restrict thr, double *restrict thi,
                              double *restrict er, double *restrict ei, double *restrict ur,
                              double *restrict ui, double *restrict vr, double *restrict vi,
                              const double *restrict wa, double ma, const double *restrict wb,
                              double mb, const double *restrict ar, const double *restrict ai,
                              const double *restrict br, const double *restrict bi)
{
    double bad_ = 0.0;
    for (size_t j = 0; j < M; j++) {
        thr[j] += ma * wa[2 * j] + mb * wb[2 * j];
        thi[j] += ma * wa[2 * j + 1] + mb * wb[2 * j + 1];
        double zr = ar[j] * br[j] - ai[j] * bi[j], zi = ar[j] * bi[j] + ai[j] * br[j];
        RBM_UPDATE_EUV(j, zr, zi);
    }
    return bad_ == 0.0;
}

/* Generic 3..RBM_MAXFLIP flipped sites. */
static int rbm_engine_updaten(const struct nqs_rbm_engine *e, struct rbm_state_ptrs p,
                              const int8_t *s, int n_flip, const int *sites,
                              const struct rbm_rows *r)
{
    size_t M = (size_t)e->n_hidden;
    double *thr = p.thr, *thi = p.thi, *er = p.er, *ei = p.ei;
    double *ur = p.ur, *ui = p.ui, *vr = p.vr, *vi = p.vi;
    double bad_ = 0.0;
    for (size_t j = 0; j < M; j++) {
        for (int f = 0; f < n_flip; f++) {
            double complex w = e->w[(size_t)sites[f] * M + j];
            thr[j] += -2.0 * s[sites[f]] * creal(w);
            thi[j] += -2.0 * s[sites[f]] * cimag(w);
        }
        double zr, zi;
        rbm_engine_z(r, n_flip, j, &zr, &zi);
        RBM_UPDATE_EUV(j, zr, zi);
    }
    return bad_ == 0.0;
}

void nqs_rbm_engine_update(const struct nqs_rbm_engine *e, void *cache, const int8_t *s, int n_flip,
                           const int *sites)
{
    if (n_flip <= 0) return;
    double *c = cache;
    size_t M = (size_t)e->n_hidden;
    int64_t *count = rbm_engine_counter(e, cache);
    int64_t period = (int64_t)NQS_RBM_RESYNC * e->n_sites;
    if (++*count >= (period > 64 ? period : 64) || n_flip > RBM_MAXFLIP) {
        *count = 0;
        rbm_engine_resync(e, c, s, n_flip, sites);
        return;
    }
    struct rbm_rows r;
    rbm_engine_rows(e, s, n_flip, sites, &r);
    struct rbm_state_ptrs p = rbm_engine_ptrs(c, M);
    int ok;
    if (n_flip == 1) {
        ok = rbm_engine_update1(M, p.thr, p.thi, p.er, p.ei, p.ur, p.ui, p.vr, p.vi,
                                (const double *)(e->w + (size_t)sites[0] * M), -2.0 * s[sites[0]],
                                r.zr[0], r.zi[0]);
    } else if (n_flip == 2) {
        ok = rbm_engine_update2(M, p.thr, p.thi, p.er, p.ei, p.ur, p.ui, p.vr, p.vi,
                                (const double *)(e->w + (size_t)sites[0] * M), -2.0 * s[sites[0]],
                                (const double *)(e->w + (size_t)sites[1] * M), -2.0 * s[sites[1]],
                                r.zr[0], r.zi[0], r.zr[1], r.zi[1]);
    } else {
        ok = rbm_engine_updaten(e, p, s, n_flip, sites, &r);
    }
    if (ok) return;
    /* Units that are or were saturated (E stored as NaN), that overflowed, or
     * that are near a zero of cosh theta: everything from theta. */
    for (size_t j = 0; j < M; j++) {
        double dre = 1.0 + p.er[j], den = dre * dre + p.ei[j] * p.ei[j];
        if (!(fabs(p.thr[j]) <= NQS_RBM_THETA_SAT && den >= NQS_RBM_NEAR_POLE * NQS_RBM_NEAR_POLE &&
              den <= 1e300))
            rbm_engine_from_theta(c, M, j);
    }
}
