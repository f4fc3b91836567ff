/*
 * stats.c - mean, variance, autocorrelation-aware error (Sokal windowing),
 * blocking error (Flyvbjerg-Petersen with Jonsson's M-test), split-R-hat and
 * V-score of chain-major complex Monte Carlo samples. Formulas in stats.h.
 */
#include "stats.h"

#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_statistics_double.h>

#include "error.h"

/* Real and imaginary parts of a double complex array as strided doubles
 * (C11 6.2.5: a complex is laid out as an array of two reals). */
#define STATS_RE(x) ((const double *)(x))
#define STATS_IM(x) ((const double *)(x) + 1)

static void stats_fill_nan(struct nqs_stats *out)
{
    out->mean = out->mean_imag = out->variance = NAN;
    out->error = out->tau = out->rhat = NAN;
}

/* Index of the first sample with a non-finite part, or -1. */
static long stats_first_nonfinite(const double complex *x, long n)
{
    for (long i = 0; i < n; i++)
        if (!isfinite(creal(x[i])) || !isfinite(cimag(x[i]))) return i;
    return -1;
}

/* Chain-averaged autocovariance of Re x around `mu` at lag t (1/n normalisation). */
static double stats_autocov(const double complex *x, int n_chains, int n, double mu, int t)
{
    double sum = 0.0;
    for (int c = 0; c < n_chains; c++) {
        const double complex *xc = x + (long)c * n;
        for (int i = 0; i + t < n; i++)
            sum += (creal(xc[i]) - mu) * (creal(xc[i + t]) - mu);
    }
    return sum / ((double)n_chains * n);
}

/* Sokal's automatic window: grow W until W >= c tau(W). Sets *window. */
static double stats_tau(const double complex *x, int n_chains, int n, double mu, double c0,
                        int *window)
{
    *window = 0;
    if (n < 2 || !(c0 > 0.0)) return 0.5;
    double tau = 0.5;
    int w;
    for (w = 1; w < n; w++) {
        tau += stats_autocov(x, n_chains, n, mu, w) / c0;
        if (w >= NQS_STATS_SOKAL_C * tau) break;
    }
    *window = w < n ? w : n - 1;
    return tau < 0.5 ? 0.5 : tau;
}

/* Plain split-R-hat of Re x (see stats.h); NAN if the halves are shorter than 2. */
static double stats_split_rhat(const double complex *x, int n_chains, int n)
{
    int h = n / 2;
    if (h < 2) return NAN;
    int m = 2 * n_chains;
    /* Running sums over the m half-chains: mean of means, sum of means^2
     * (via Welford for the between part) and the within variances. */
    double mean_of_means = 0.0, m2_means = 0.0, w_sum = 0.0;
    for (int s = 0; s < m; s++) {
        int c = s / 2;
        /* second half starts at n - h, which skips the middle sample for odd n */
        const double *re = STATS_RE(x + (long)c * n + (s % 2 ? n - h : 0));
        double mj = gsl_stats_mean(re, 2, (size_t)h);
        w_sum += gsl_stats_variance_m(re, 2, (size_t)h, mj);
        double d = mj - mean_of_means;
        mean_of_means += d / (s + 1);
        m2_means += d * (mj - mean_of_means);
    }
    double W = w_sum / m;
    double B = h * m2_means / (m - 1);
    double var_plus = (h - 1.0) / h * W + B / h;
    if (W == 0.0) return B > 0.0 ? INFINITY : NAN;
    return sqrt(var_plus / W);
}

int nqs_stats_compute(const double complex *x, int n_chains, int n_per_chain,
                      struct nqs_stats *out)
{
    if (x == NULL || n_chains < 1 || n_per_chain < 1)
        NQS_ERROR(NQS_EINVAL, "statistics need at least one chain with one sample, got %d chains "
                  "of %d samples", n_chains, n_per_chain);
    long n = (long)n_chains * n_per_chain;
    out->n = n;
    out->window = 0;

    long bad = stats_first_nonfinite(x, n);
    if (bad >= 0) {
        stats_fill_nan(out);
        NQS_ERROR(NQS_ENUMERIC, "non-finite sample (%g%+gi) in chain %ld at position %ld",
                  creal(x[bad]), cimag(x[bad]), bad / n_per_chain, bad % n_per_chain);
    }

    out->mean = gsl_stats_mean(STATS_RE(x), 2, (size_t)n);
    out->mean_imag = gsl_stats_mean(STATS_IM(x), 2, (size_t)n);
    double c0 = gsl_stats_variance_with_fixed_mean(STATS_RE(x), 2, (size_t)n, out->mean);
    double var_im = gsl_stats_variance_with_fixed_mean(STATS_IM(x), 2, (size_t)n, out->mean_imag);
    out->variance = c0 + var_im;

    out->tau = stats_tau(x, n_chains, n_per_chain, out->mean, c0, &out->window);
    out->error = n >= 2 ? sqrt(c0 * 2.0 * out->tau / (double)n) : NAN;
    out->rhat = stats_split_rhat(x, n_chains, n_per_chain);
    return NQS_OK;
}

int nqs_stats_blocking(const double complex *x, int n_chains, int n_per_chain, double *work,
                       struct nqs_blocking *out)
{
    if (x == NULL || n_chains < 1 || n_per_chain < 2)
        NQS_ERROR(NQS_EINVAL, "blocking needs at least one chain of two samples, got %d chains "
                  "of %d samples", n_chains, n_per_chain);
    long n = (long)n_chains * n_per_chain;
    long bad = stats_first_nonfinite(x, n);
    if (bad >= 0)
        NQS_ERROR(NQS_ENUMERIC, "non-finite sample in chain %ld at position %ld",
                  bad / n_per_chain, bad % n_per_chain);

    double *y = work;
    if (y == NULL) {
        y = malloc((size_t)n * sizeof *y);
        if (y == NULL)
            NQS_ERROR(NQS_ENOMEM, "out of memory for the blocking work space (%ld doubles)", n);
    }
    for (long i = 0; i < n; i++) y[i] = creal(x[i]);

    /* Levels k = 0, 1, ... while every chain still has >= 2 blocks. The
     * blocks of chain c at a level sit at y[c * n_per_chain + 0 .. len). */
    enum { MAX_LEVELS = 64 };
    double err[MAX_LEVELS], mterm[MAX_LEVELS];
    long nblk[MAX_LEVELS];
    int n_levels = 0;
    for (int len = n_per_chain; len >= 2 && n_levels < MAX_LEVELS; len /= 2) {
        long m = (long)n_chains * len;
        double mu = 0.0;
        for (int c = 0; c < n_chains; c++)
            mu += gsl_stats_mean(y + (long)c * n_per_chain, 1, (size_t)len);
        mu /= n_chains;
        double s2 = 0.0, g = 0.0;
        for (int c = 0; c < n_chains; c++) {
            const double *yc = y + (long)c * n_per_chain;
            for (int i = 0; i < len; i++) {
                s2 += (yc[i] - mu) * (yc[i] - mu);
                if (i + 1 < len) g += (yc[i] - mu) * (yc[i + 1] - mu);
            }
        }
        s2 /= (double)m;
        g /= (double)m;
        err[n_levels] = sqrt(s2 / (double)(m - 1));
        mterm[n_levels] = s2 > 0.0 ? (double)m * (g / s2) * (g / s2) : 0.0;
        nblk[n_levels] = m;
        n_levels++;
        /* block in place: pairs of neighbours inside each chain */
        for (int c = 0; c < n_chains; c++) {
            double *yc = y + (long)c * n_per_chain;
            for (int i = 0; i < len / 2; i++) yc[i] = 0.5 * (yc[2 * i] + yc[2 * i + 1]);
        }
    }
    if (work == NULL) free(y);

    /* Jonsson's M-test: smallest k with sum_{j>=k} mterm_j < chi2_{0.99}(n_levels - k). */
    int k_sel = n_levels - 1;
    double tail = 0.0;
    double msum[MAX_LEVELS];
    for (int k = n_levels - 1; k >= 0; k--) {
        tail += mterm[k];
        msum[k] = tail;
    }
    for (int k = 0; k < n_levels; k++) {
        if (msum[k] < gsl_cdf_chisq_Qinv(0.01, (double)(n_levels - k))) {
            k_sel = k;
            break;
        }
    }
    out->error = err[k_sel];
    out->level = k_sel;
    out->n_levels = n_levels;
    out->n_blocks = nblk[k_sel];
    out->converged = k_sel < n_levels - 1;
    return NQS_OK;
}

double nqs_stats_vscore(int n_sites, double variance, double energy)
{
    return n_sites * variance / (energy * energy);
}

int nqs_stats_weighted(const double complex *x, const double *w, long n, struct nqs_stats *out)
{
    out->mean = out->mean_imag = out->variance = out->error = out->tau = out->rhat = NAN;
    out->n = 0;
    out->window = 0;
    double re = 0, im = 0;
    for (long r = 0; r < n; r++) {
        if (w[r] == 0) continue;
        if (!isfinite(creal(x[r])) || !isfinite(cimag(x[r])))
            NQS_ERROR(NQS_ENUMERIC, "non-finite value %g%+gi in enumerated row %ld", creal(x[r]),
                      cimag(x[r]), r);
        re += w[r] * creal(x[r]);
        im += w[r] * cimag(x[r]);
        out->n++;
    }
    double var = 0;
    for (long r = 0; r < n; r++) {
        if (w[r] == 0) continue;
        double dr = creal(x[r]) - re, di = cimag(x[r]) - im;
        var += w[r] * (dr * dr + di * di);
    }
    out->mean = re;
    out->mean_imag = im;
    out->variance = var;
    out->error = 0.0;
    return NQS_OK;
}
