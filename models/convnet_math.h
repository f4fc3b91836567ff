/*
 * convnet_math.h - complex arithmetic shared by the convolutional models
 * (convnet.c: cnn/lcn; gcnn.c: the group-convolutional cnn). Internal to
 * models/. Written out in real arithmetic in a fixed order, so the results
 * do not depend on how the compiler expands complex multiplication.
 *
 * Activation poly f(z) = z^2/2 - z^4/12 + z^6/45 and its derivative (why
 * poly: convnet.h); log cosh split as log cosh z = u + log q with z' = +-z,
 * Re z' >= 0, u = z' - log 2, q = 1 + exp(-2 z'); long products kept as
 * p exp(l).
 */
#ifndef NQS_MODELS_CONVNET_MATH_H
#define NQS_MODELS_CONVNET_MATH_H

#include <complex.h>
#include <math.h>

static inline double complex nqs_cn_mul(double complex a, double complex b)
{
    double ar = creal(a), ai = cimag(a), br = creal(b), bi = cimag(b);
    return CMPLX(ar * br - ai * bi, ar * bi + ai * br);
}

/* f(z) = z^2/2 - z^4/12 + z^6/45 = w (1/2 + w (-1/12 + w/45)), w = z^2. */
static inline double complex nqs_cn_poly(double complex z)
{
    double complex w = nqs_cn_mul(z, z);
    double complex t = CMPLX(creal(w) * (1.0 / 45) - 1.0 / 12, cimag(w) * (1.0 / 45));
    t = nqs_cn_mul(w, t);
    t = CMPLX(creal(t) + 0.5, cimag(t));
    return nqs_cn_mul(w, t);
}

/* f'(z) = z - z^3/3 + 2 z^5/15 = z (1 + w (-1/3 + 2 w/15)). */
static inline double complex nqs_cn_dpoly(double complex z)
{
    double complex w = nqs_cn_mul(z, z);
    double complex t = CMPLX(creal(w) * (2.0 / 15) - 1.0 / 3, cimag(w) * (2.0 / 15));
    t = nqs_cn_mul(w, t);
    t = CMPLX(creal(t) + 1.0, cimag(t));
    return nqs_cn_mul(z, t);
}

/* log cosh z = u + log q with z' = +-z, Re z' >= 0, u = z' - log 2 and
 * q = 1 + exp(-2 z'). */
static inline double complex nqs_cn_u(double complex z)
{
    return creal(z) < 0 ? CMPLX(-creal(z) - M_LN2, -cimag(z)) : CMPLX(creal(z) - M_LN2, cimag(z));
}

static inline double complex nqs_cn_q(double complex z)
{
    double x = creal(z), y = cimag(z);
    if (x < 0) {
        x = -x;
        y = -y;
    }
    double e = exp(-2.0 * x);
    return CMPLX(1.0 + e * cos(2.0 * y), -e * sin(2.0 * y));
}

/* tanh z from q: tanh z' = (1 - e^{-2z'}) / (1 + e^{-2z'}) = (2 - q) / q, odd. */
static inline double complex nqs_cn_tanh_q(double complex z, double complex q)
{
    double complex t = (2.0 - q) / q;
    return creal(z) < 0 ? -t : t;
}

/* A product kept as p * exp(l): p is folded into l when |p| leaves [2^-200, 2^200]. */
struct nqs_cn_prod {
    double complex p, l;
};

static inline void nqs_cn_prod_mul(struct nqs_cn_prod *a, double complex q)
{
    a->p = nqs_cn_mul(a->p, q);
    double s = fabs(creal(a->p)) + fabs(cimag(a->p));
    if (!(s <= 0x1p200 && s >= 0x1p-200)) {
        a->l += clog(a->p);
        a->p = 1.0;
    }
}

/* Layer 0 of a ratio: the sites of `sites` flipped an odd number of times
 * (a repeated site flips back) into S, with da = -2 a0[i] = -2 sigma_i; the
 * marks (n_sites ints, all 0) are cleared again. Returns their number. */
static inline int nqs_cn_flipped(const double complex *a0, int *mark, int n_flip, const int *sites,
                                 int *S, double complex *da)
{
    int nS = 0;
    for (int f = 0; f < n_flip; f++) {
        int i = sites[f];
        if (!mark[i]) {
            S[nS] = i;
            da[nS] = -2.0 * a0[i];
            mark[i] = ++nS;
        } else {
            int t = mark[i] - 1;
            da[t] = da[t] == 0 ? -2.0 * a0[i] : 0;
        }
    }
    int nz = 0;
    for (int t = 0; t < nS; t++) {
        mark[S[t]] = 0;
        if (da[t] != 0) {
            S[nz] = S[t];
            da[nz++] = da[t];
        }
    }
    return nz;
}

#endif
