/*
 * rsum.c - reproducible (order- and grouping-independent) sums by two-level
 * pre-rounding to a common grid; method, exactness argument and accuracy in
 * rsum.h (Demmel & Nguyen, ARITH 21 (2013); Rump, Ogita & Oishi, SIAM J. Sci.
 * Comput. 31, 189 (2008)).
 *
 * The extraction q = (sigma + x) - sigma must be evaluated as written: the
 * project compiles in ISO C mode without -ffast-math, so the compiler neither
 * reassociates it nor contracts anything into an FMA (-ffp-contract=off is
 * GCC's default for -std=c11).
 */
#include "rsum.h"

#include <math.h>
#include <string.h>

#include "comm.h"
#include "error.h"

/* Largest n * bound accepted: keeps 1.5 * 2^k finite with room. */
#define RSUM_MAX_SCALE 0x1p1000
/* Smallest level exponent: sigma = 1.5 * 2^k stays normal and its grid
 * 2^(k-52) = 2^-1073 is still representable. Level 1 is clamped to it (terms
 * keep 2^-1073 resolution), a later level below it is dropped. */
#define RSUM_MIN_EXP (-1021)

/* Exponent k with 2^(k-1) >= n * bound (n * bound > 0). */
static int rsum_level_exp(double n_times_bound)
{
    int e;
    frexp(n_times_bound, &e); /* n_times_bound < 2^e */
    return e + 1;
}

void nqs_rsum_begin(struct nqs_rsum *r, double *acc, size_t count, double bound, long n_terms,
                    int global)
{
    r->acc = acc;
    r->count = count;
    r->global = global;
    double nb = (double)(n_terms > 0 ? n_terms : 1) * bound;
    r->bad = !(nb <= RSUM_MAX_SCALE); /* NaN, Inf, too large */
    memset(acc, 0, NQS_RSUM_LEVELS * count * sizeof *acc);
    for (int l = 0; l < NQS_RSUM_LEVELS; l++) r->sigma[l] = 0.0;
    if (r->bad || !(nb > 0)) return; /* all-zero terms: sigma = 0 adds them exactly */
    int k = rsum_level_exp(nb);
    if (k < RSUM_MIN_EXP) k = RSUM_MIN_EXP;
    for (int l = 0; l < NQS_RSUM_LEVELS && k >= RSUM_MIN_EXP; l++) {
        r->sigma[l] = ldexp(1.5, k);
        /* remainders of this level are at most half its grid 2^(k-52) */
        k = rsum_level_exp((double)(n_terms > 0 ? n_terms : 1) * ldexp(1.0, k - 53));
    }
}

void nqs_rsum_add(struct nqs_rsum *r, size_t offset, const double *x, size_t n)
{
    const double s1 = r->sigma[0], s2 = r->sigma[1];
    double *a1 = r->acc + offset, *a2 = r->acc + r->count + offset;
    if (s1 == 0.0) { /* zero bound: the terms are zeros */
        for (size_t j = 0; j < n; j++) a1[j] += x[j];
        return;
    }
    if (s2 == 0.0) { /* second level below the representable range */
        for (size_t j = 0; j < n; j++) a1[j] += (s1 + x[j]) - s1;
        return;
    }
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t j = 0; j < n; j++) {
        double v = x[j];
        double q = (s1 + v) - s1;
        a1[j] += q;
        v -= q;
        a2[j] += (s2 + v) - s2;
    }
}

int nqs_rsum_reduce(struct nqs_rsum *r)
{
    return r->global ? nqs_comm_sum_double(r->acc, NQS_RSUM_LEVELS * r->count) : NQS_OK;
}

void nqs_rsum_fold(const struct nqs_rsum *r, size_t offset, double *out, size_t n)
{
    const double *a1 = r->acc + offset, *a2 = r->acc + r->count + offset;
    for (size_t j = 0; j < n; j++) out[j] = r->bad ? NAN : a1[j] + a2[j];
}

int nqs_rsum_end(struct nqs_rsum *r, double *out)
{
    NQS_TRY(nqs_rsum_reduce(r));
    nqs_rsum_fold(r, 0, out, r->count);
    return NQS_OK;
}

double nqs_rsum_bound(const double *x, size_t n)
{
    double m = 0.0;
    int bad = 0;
    for (size_t j = 0; j < n; j++) {
        double a = fabs(x[j]);
        bad |= !(a <= 0x1.fffffffffffffp+1023); /* NaN or Inf */
        m = a > m ? a : m;
    }
    return bad ? INFINITY : m;
}

int nqs_rsum_terms(const double *terms, int n_local, size_t ld, size_t count, long n_terms,
                   double *acc, double *out)
{
    double bound = 0.0;
    for (int t = 0; t < n_local; t++) {
        double b = nqs_rsum_bound(terms + (size_t)t * ld, count);
        bound = b > bound || isnan(b) ? b : bound;
    }
    NQS_TRY(nqs_comm_max_double(&bound, 1));
    struct nqs_rsum r;
    nqs_rsum_begin(&r, acc, count, bound, n_terms, 1);
    for (int t = 0; t < n_local; t++) nqs_rsum_add(&r, 0, terms + (size_t)t * ld, count);
    return nqs_rsum_end(&r, out);
}
