/*
 * rbm_engine.c - cached hidden-unit state and fast log-ratios for RBMs
 * (Carleo & Troyer, Science 355, 602 (2017); PHYSICS.md "RBM fast updates").
 *
 * log psi(s) = sum_i a_i s_i + sum_j log cosh(theta_j), theta = b + W s.
 * A ratio for flipped sites F is
 *     sum_{i in F} -2 a_i s_i + log prod_j [u_j e^{delta_j} + v_j e^{-delta_j}],
 * delta_j = -2 sum_{i in F} W_ji s_i, u = E/(1+E), v = 1/(1+E), E = e^{2 theta}
 * (rbm_engine.h explains why this form has no cancellation). The product is
 * taken in blocks of RBM_BLOCK factors: factors first (an elementwise loop the
 * compiler vectorises), then a product with four independent accumulators;
 * after each block the running product is rescaled by a power of two and the
 * exponent kept apart, so nothing overflows for any hidden-unit count. A block
 * whose product leaves [2^-900, 2^900] (extreme weights near a zero of cosh)
 * sends the whole ratio to the exact sum of log-cosh differences.
 *
 * Hot paths use real arithmetic on split real/imaginary arrays: C99 complex
 * multiplication compiles to a library call (__muldc3) without
 * -fcx-limited-range, which would dominate the cost.
 */
#include "rbm_engine.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "error.h"
#include "model.h"

#define RBM_BLOCK 32   /* factors per block of the running product (multiple of 4) */
#define RBM_MAXFLIP 8  /* flips handled by the table path; more go to the exact path */

#if defined(__GNUC__)
#define RBM_INLINE static inline __attribute__((always_inline))
#else
#define RBM_INLINE static inline
#endif

int nqs_rbm_engine_alloc(struct nqs_rbm_engine *e, int n_sites, int n_hidden)
{
    e->n_sites = n_sites;
    e->n_hidden = n_hidden;
    size_t n = 4 * (size_t)n_sites * (size_t)n_hidden;
    e->ew = malloc(n * sizeof *e->ew);
    if (!e->ew)
        NQS_ERROR(NQS_ENOMEM, "out of memory for the RBM tables (%d sites x %d hidden units)",
                  n_sites, n_hidden);
    return NQS_OK;
}

void nqs_rbm_engine_free(struct nqs_rbm_engine *e)
{
    if (!e) return;
    free(e->ew);
    e->ew = NULL;
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

void nqs_rbm_engine_refresh(struct nqs_rbm_engine *e)
{
    size_t M = (size_t)e->n_hidden;
    for (int i = 0; i < e->n_sites; i++) {
        double *row = e->ew + (size_t)i * 4 * M;
        const double complex *w = e->w + (size_t)i * M;
        for (size_t j = 0; j < M; j++) {
            double complex ep = cexp(2.0 * w[j]), em = cexp(-2.0 * w[j]);
            row[j] = creal(ep);
            row[M + j] = cimag(ep);
            row[2 * M + j] = creal(em);
            row[3 * M + j] = cimag(em);
        }
    }
}

void nqs_rbm_engine_refresh_mapped(struct nqs_rbm_engine *e, const double complex *ep,
                                   const double complex *em, const int *map)
{
    size_t M = (size_t)e->n_hidden;
    for (int i = 0; i < e->n_sites; i++) {
        double *row = e->ew + (size_t)i * 4 * M;
        const int *mp = map + (size_t)i * M;
        for (size_t j = 0; j < M; j++) {
            row[j] = creal(ep[mp[j]]);
            row[M + j] = cimag(ep[mp[j]]);
            row[2 * M + j] = creal(em[mp[j]]);
            row[3 * M + j] = cimag(em[mp[j]]);
        }
    }
}

/* u, v and E of hidden unit j from theta_j alone (initialisation and the rare
 * saturated units): the exponential is taken of -2|Re theta| so it cannot
 * overflow. */
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

double complex nqs_rbm_engine_init(const struct nqs_rbm_engine *e, const int8_t *s, void *cache)
{
    size_t M = (size_t)e->n_hidden;
    double *c = cache;
    double *thr = c + NQS_RBM_TH_RE * M, *thi = c + NQS_RBM_TH_IM * M;
    for (size_t j = 0; j < M; j++) {
        thr[j] = creal(e->b[j]);
        thi[j] = cimag(e->b[j]);
    }
    double complex lp = 0;
    for (int i = 0; i < e->n_sites; i++) {
        const double *w = (const double *)(e->w + (size_t)i * M); /* re, im interleaved */
        double sg = s[i];
        lp += sg * e->a[i];
        for (size_t j = 0; j < M; j++) {
            thr[j] += sg * w[2 * j];
            thi[j] += sg * w[2 * j + 1];
        }
    }
    for (size_t j = 0; j < M; j++) {
        lp += nqs_logcosh(CMPLX(thr[j], thi[j]));
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
    double *thr = c + NQS_RBM_TH_RE * M, *thi = c + NQS_RBM_TH_IM * M;
    for (size_t j = 0; j < M; j++) {
        thr[j] = creal(e->b[j]);
        thi[j] = cimag(e->b[j]);
    }
    for (int i = 0; i < e->n_sites; i++) {
        double sg = s[i];
        for (int f = 0; f < n_flip; f++)
            if (sites[f] == i) sg = -sg;
        const double *w = (const double *)(e->w + (size_t)i * M);
        for (size_t j = 0; j < M; j++) {
            thr[j] += sg * w[2 * j];
            thi[j] += sg * w[2 * j + 1];
        }
    }
    for (size_t j = 0; j < M; j++) rbm_engine_from_theta(c, M, j);
}

/* Visible-bias part of a log-ratio. */
static double complex rbm_engine_visible(const struct nqs_rbm_engine *e, const int8_t *s,
                                         int n_flip, const int *sites)
{
    double complex lv = 0;
    for (int f = 0; f < n_flip; f++) lv += -2.0 * s[sites[f]] * e->a[sites[f]];
    return lv;
}

/* Exact log-ratio by log-cosh differences (no tables): for extreme weights. */
static double complex rbm_engine_ratio_exact(const struct nqs_rbm_engine *e, const double *c,
                                             const int8_t *s, int n_flip, const int *sites)
{
    size_t M = (size_t)e->n_hidden;
    double complex lr = rbm_engine_visible(e, s, n_flip, sites);
    for (size_t j = 0; j < M; j++) {
        double complex th = CMPLX(c[NQS_RBM_TH_RE * M + j], c[NQS_RBM_TH_IM * M + j]);
        double complex d = 0;
        for (int f = 0; f < n_flip; f++) d += -2.0 * s[sites[f]] * e->w[(size_t)sites[f] * M + j];
        lr += nqs_logcosh(th + d) - nqs_logcosh(th);
    }
    return lr;
}

/* Table pointers of e^{delta} (x) and e^{-delta} (y) for each flipped site:
 * flipping s_i = +1 gives delta = -2 W_ji, so x = exp(-2W) and y = exp(2W). */
struct rbm_rows {
    const double *xr[RBM_MAXFLIP], *xi[RBM_MAXFLIP], *yr[RBM_MAXFLIP], *yi[RBM_MAXFLIP];
};

static void rbm_engine_rows(const struct nqs_rbm_engine *e, const int8_t *s, int n_flip,
                            const int *sites, struct rbm_rows *r)
{
    size_t M = (size_t)e->n_hidden;
    for (int f = 0; f < n_flip; f++) {
        const double *row = e->ew + (size_t)sites[f] * 4 * M;
        const double *p = row, *m = row + 2 * M;
        if (s[sites[f]] > 0) {
            r->xr[f] = m, r->xi[f] = m + M, r->yr[f] = p, r->yi[f] = p + M;
        } else {
            r->xr[f] = p, r->xi[f] = p + M, r->yr[f] = m, r->yi[f] = m + M;
        }
    }
}

/* e^{delta_j} and e^{-delta_j} for the flipped sites; n_flip is a compile-time
 * constant at the specialised call sites. */
RBM_INLINE void rbm_engine_xy(const struct rbm_rows *r, int n_flip, size_t j, double *xr,
                              double *xi, double *yr, double *yi)
{
    double ar = r->xr[0][j], ai = r->xi[0][j], br = r->yr[0][j], bi = r->yi[0][j];
    for (int f = 1; f < n_flip; f++) {
        double cr = r->xr[f][j], ci = r->xi[f][j], dr = r->yr[f][j], di = r->yi[f][j];
        double tr = ar * cr - ai * ci, ti = ar * ci + ai * cr;
        ar = tr, ai = ti;
        tr = br * dr - bi * di, ti = br * di + bi * dr;
        br = tr, bi = ti;
    }
    *xr = ar, *xi = ai, *yr = br, *yi = bi;
}

/* Factors u e^delta + v e^-delta of hidden units [j0, j0 + nb). */
RBM_INLINE void rbm_engine_factors(const double *c, size_t M, const struct rbm_rows *r,
                                   int n_flip, size_t j0, int nb, double *fr, double *fi)
{
    const double *ur = c + NQS_RBM_U_RE * M + j0, *ui = c + NQS_RBM_U_IM * M + j0;
    const double *vr = c + NQS_RBM_V_RE * M + j0, *vi = c + NQS_RBM_V_IM * M + j0;
    if (n_flip == 1) {
        const double *xr = r->xr[0] + j0, *xi = r->xi[0] + j0;
        const double *yr = r->yr[0] + j0, *yi = r->yi[0] + j0;
        for (int k = 0; k < nb; k++) {
            fr[k] = ur[k] * xr[k] - ui[k] * xi[k] + vr[k] * yr[k] - vi[k] * yi[k];
            fi[k] = ur[k] * xi[k] + ui[k] * xr[k] + vr[k] * yi[k] + vi[k] * yr[k];
        }
        return;
    }
    for (int k = 0; k < nb; k++) {
        double xr, xi, yr, yi;
        rbm_engine_xy(r, n_flip, j0 + (size_t)k, &xr, &xi, &yr, &yi);
        fr[k] = ur[k] * xr - ui[k] * xi + vr[k] * yr - vi[k] * yi;
        fi[k] = ur[k] * xi + ui[k] * xr + vr[k] * yi + vi[k] * yr;
    }
}

/* log prod_j factor_j by blocks; returns 0 and the log in *out, or -1 if a
 * block product left the safe range. */
RBM_INLINE int rbm_engine_logprod(const double *c, size_t M, const struct rbm_rows *r,
                                  int n_flip, double complex *out)
{
    double fr[RBM_BLOCK], fi[RBM_BLOCK];
    double pr = 1.0, pi = 0.0;
    long expo = 0;
    for (size_t j0 = 0; j0 < M; j0 += RBM_BLOCK) {
        int nb = M - j0 < RBM_BLOCK ? (int)(M - j0) : RBM_BLOCK;
        rbm_engine_factors(c, M, r, n_flip, j0, nb, fr, fi);
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
        /* |p| is in [0.5, 1) here, so the product stays a normal number */
        double tr = pr * br - pi * bi, ti = pr * bi + pi * br;
        int k2;
        frexp(fabs(tr) + fabs(ti), &k2);
        pr = ldexp(tr, -k2), pi = ldexp(ti, -k2);
        expo += k2;
    }
    *out = CMPLX(0.5 * log(pr * pr + pi * pi) + (double)expo * M_LN2, atan2(pi, pr));
    return 0;
}

double complex nqs_rbm_engine_ratio(const struct nqs_rbm_engine *e, const void *cache,
                                    const int8_t *s, int n_flip, const int *sites)
{
    if (n_flip <= 0) return 0;
    const double *c = cache;
    size_t M = (size_t)e->n_hidden;
    if (n_flip > RBM_MAXFLIP) return rbm_engine_ratio_exact(e, c, s, n_flip, sites);
    struct rbm_rows r;
    rbm_engine_rows(e, s, n_flip, sites, &r);
    double complex lp;
    int rc;
    if (n_flip == 1)
        rc = rbm_engine_logprod(c, M, &r, 1, &lp);
    else if (n_flip == 2)
        rc = rbm_engine_logprod(c, M, &r, 2, &lp);
    else
        rc = rbm_engine_logprod(c, M, &r, n_flip, &lp);
    if (rc != 0) return rbm_engine_ratio_exact(e, c, s, n_flip, sites);
    return lp + rbm_engine_visible(e, s, n_flip, sites);
}

/* theta += delta, E *= e^{2 delta}, u = E/(1+E), v = 1/(1+E), all units. */
RBM_INLINE void rbm_engine_update_units(const struct nqs_rbm_engine *e, double *c,
                                        const int8_t *s, int n_flip, const int *sites,
                                        const struct rbm_rows *r)
{
    size_t M = (size_t)e->n_hidden;
    double *thr = c + NQS_RBM_TH_RE * M, *thi = c + NQS_RBM_TH_IM * M;
    double *er = c + NQS_RBM_E_RE * M, *ei = c + NQS_RBM_E_IM * M;
    double *ur = c + NQS_RBM_U_RE * M, *ui = c + NQS_RBM_U_IM * M;
    double *vr = c + NQS_RBM_V_RE * M, *vi = c + NQS_RBM_V_IM * M;
    const double *w[RBM_MAXFLIP];
    double m2s[RBM_MAXFLIP];
    for (int f = 0; f < n_flip; f++) {
        w[f] = (const double *)(e->w + (size_t)sites[f] * M);
        m2s[f] = -2.0 * s[sites[f]];
    }
    for (size_t j = 0; j < M; j++) {
        double dr = 0.0, di = 0.0;
        for (int f = 0; f < n_flip; f++) {
            dr += m2s[f] * w[f][2 * j];
            di += m2s[f] * w[f][2 * j + 1];
        }
        thr[j] += dr;
        thi[j] += di;
        double xr, xi, yr, yi;
        rbm_engine_xy(r, n_flip, j, &xr, &xi, &yr, &yi);
        (void)yr, (void)yi;
        double x2r = xr * xr - xi * xi, x2i = 2.0 * xr * xi;
        double Er = er[j] * x2r - ei[j] * x2i, Ei = er[j] * x2i + ei[j] * x2r;
        er[j] = Er, ei[j] = Ei;
        /* w = 1/(1+E); |E| <= e^{2 NQS_RBM_THETA_SAT} keeps the square in range */
        double dre = 1.0 + Er, inv = 1.0 / (dre * dre + Ei * Ei);
        double wr = dre * inv, wi = -Ei * inv;
        vr[j] = wr, vi[j] = wi;
        ur[j] = Er * wr - Ei * wi, ui[j] = Er * wi + Ei * wr;
    }
    /* Units that are or were saturated (E stored as NaN), that overflowed, or
     * that are near a zero of cosh theta: everything from theta. */
    for (size_t j = 0; j < M; j++) {
        double dre = 1.0 + er[j];
        if (!(fabs(thr[j]) <= NQS_RBM_THETA_SAT && isfinite(er[j]) && isfinite(ei[j]) &&
              isfinite(ur[j]) && isfinite(ui[j]) &&
              dre * dre + ei[j] * ei[j] >= NQS_RBM_NEAR_POLE * NQS_RBM_NEAR_POLE))
            rbm_engine_from_theta(c, M, j);
    }
}

void nqs_rbm_engine_update(const struct nqs_rbm_engine *e, void *cache, const int8_t *s,
                           int n_flip, const int *sites)
{
    if (n_flip <= 0) return;
    double *c = cache;
    int64_t *count = rbm_engine_counter(e, cache);
    int64_t period = (int64_t)NQS_RBM_RESYNC * e->n_sites;
    if (++*count >= (period > 64 ? period : 64)) {
        *count = 0;
        rbm_engine_resync(e, c, s, n_flip, sites);
        return;
    }
    if (n_flip > RBM_MAXFLIP) { /* rare generic case: recompute */
        rbm_engine_resync(e, c, s, n_flip, sites);
        return;
    }
    struct rbm_rows r;
    rbm_engine_rows(e, s, n_flip, sites, &r);
    if (n_flip == 1)
        rbm_engine_update_units(e, c, s, 1, sites, &r);
    else if (n_flip == 2)
        rbm_engine_update_units(e, c, s, 2, sites, &r);
    else
        rbm_engine_update_units(e, c, s, n_flip, sites, &r);
}
