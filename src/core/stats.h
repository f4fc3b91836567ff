/*
 * stats.h - Monte Carlo statistics of complex samples from several Markov chains.
 *
 * Samples are stored chain-major: x[c * n_per_chain + t] is sample t of chain c.
 * Chains are independent; samples inside a chain are correlated. Every
 * estimator below describes Re x (the local energy of a Hermitian operator is
 * real in expectation); the mean of Im x is reported so that a caller can check
 * it vanishes within the error.
 *
 *  - mean, mean_imag: sample means of Re x and Im x over all N = n_chains *
 *    n_per_chain samples.
 *  - variance: <|x - xbar|^2> = (1/N) sum |x_i - xbar|^2 (real plus imaginary
 *    part, 1/N normalisation as in docs/physics.md).
 *  - tau: integrated autocorrelation time of Re x, in samples,
 *        tau(W) = 1/2 + sum_{t=1}^{W} rho(t),   rho(t) = C(t)/C(0),
 *    where C(t) is the chain-averaged autocovariance around the grand mean,
 *        C(t) = 1/(n_chains n) sum_c sum_{i=0}^{n-1-t} (x_{c,i} - xbar)(x_{c,i+t} - xbar)
 *    (1/n normalisation: positive semi-definite, the usual choice of Geyer and
 *    Stan). The window is Sokal's automatic one: the smallest W with
 *    W >= NQS_STATS_SOKAL_C * tau(W) (A. D. Sokal, "Monte Carlo methods in
 *    statistical mechanics", Cargese lectures 1996, sec. 3). Using the grand
 *    mean, not the chain means, lets a between-chain offset show up as a long
 *    correlation, which makes the error conservative for chains that have not
 *    mixed. tau is clamped to >= 1/2 (the value for independent samples).
 *  - error: sqrt(C(0) * 2 tau / N), the standard error of mean.
 *  - rhat: split-R-hat of Re x (Vehtari, Gelman, Simpson, Carpenter, Buerkner,
 *    Bayesian Analysis 16, 667 (2021), eqs. 3-4, without the rank
 *    normalisation): each chain is cut into two halves of h = floor(n/2)
 *    samples (for odd n the middle sample is dropped), giving m = 2 n_chains
 *    sequences; W = mean of the within-sequence variances (1/(h-1)), B = h *
 *    variance of the sequence means (1/(m-1)), var+ = (h-1)/h W + B/h,
 *    rhat = sqrt(var+/W).
 *
 * Cost: O(N) for the moments and R-hat, O(N * W) for tau with the direct lag
 * sum (W ~ 5 tau, so a few hundred operations per sample for tau ~ 20; the
 * pathological worst case of chains stuck for their whole length costs
 * O(N * n_per_chain)). No allocation: nqs_stats_compute works in place.
 */
#ifndef NQS_STATS_H
#define NQS_STATS_H

#include <complex.h>

/* Sokal's window constant c in W >= c tau(W). */
#define NQS_STATS_SOKAL_C 5.0

struct nqs_stats {
    double mean;      /* mean of Re x */
    double mean_imag; /* mean of Im x */
    double variance;  /* <|x - xbar|^2>, 1/N normalisation */
    double error;     /* autocorrelation-aware standard error of `mean`; NAN if N < 2 */
    double tau;       /* integrated autocorrelation time of Re x, in samples, >= 0.5 */
    double rhat;      /* split-R-hat of Re x; NAN if a half-chain has < 2 samples */
    long n;           /* N = n_chains * n_per_chain */
    int window;       /* Sokal window W used for tau (0 if n_per_chain == 1 or C(0) == 0) */
};

/* Fill `out` with the statistics above.
 *
 * Degenerate input: all samples equal (C(0) == 0) gives tau = 0.5, error = 0
 * and rhat = NAN (0/0). n_per_chain == 1 gives tau = 0.5 (chains are
 * independent), error = sqrt(C(0)/N) and rhat = NAN. If the window condition
 * is never met (tau comparable to the chain length), W = n_per_chain - 1 is
 * used and the error is an underestimate; rhat will then usually be large.
 * Chains whose halves have zero variance but different means give rhat = +INF.
 *
 * Errors: NQS_EINVAL if n_chains < 1 or n_per_chain < 1 (or x == NULL).
 * NQS_ENUMERIC if any sample has a non-finite real or imaginary part: then
 * every double in `out` is NAN (n and window are still set) and the message
 * names the first offending chain and sample, so a NaN local energy stops a
 * run instead of silently propagating into averages. */
int nqs_stats_compute(const double complex *x, int n_chains, int n_per_chain,
                      struct nqs_stats *out);

/* Result of the blocking analysis. */
struct nqs_blocking {
    double error;      /* standard error of the mean of Re x at the chosen level */
    int level;         /* chosen level k: blocks of 2^k consecutive samples */
    int n_levels;      /* levels examined (the last one has >= 2 blocks per chain) */
    long n_blocks;     /* blocks at the chosen level, all chains together */
    int converged;     /* 1 if the M-test accepted a level below the last one */
};

/* Blocking (Flyvbjerg & Petersen, J. Chem. Phys. 91, 461 (1989)) of Re x, as
 * a cross-check of nqs_stats_compute's error. Level k replaces every pair of
 * neighbouring samples of each chain by their mean (an odd trailing sample of
 * a chain is dropped at that level); blocks never straddle two chains. The
 * error at level k is sqrt(s2_k / (M_k - 1)) with s2_k the 1/M_k variance of
 * the M_k blocks. The level is chosen automatically with Jonsson's M-test
 * (M. Jonsson, Phys. Rev. E 98, 043304 (2018)): the smallest k for which
 *     M_k = sum_{j >= k} M_j (gamma_j / s2_j)^2
 * (gamma_j the lag-1 autocovariance of the blocks inside chains) is below the
 * 99 % quantile of chi^2 with (number of levels - k) degrees of freedom;
 * `converged` is 0 when only the last level passes, i.e. the data are too
 * short for a plateau and the error is unreliable.
 *
 * `work` holds n_chains * n_per_chain doubles (the blocks are formed in it);
 * pass NULL to let the function allocate it once for the call.
 * Errors: NQS_EINVAL for n_chains < 1 or n_per_chain < 2, NQS_ENOMEM,
 * NQS_ENUMERIC for a non-finite sample. */
int nqs_stats_blocking(const double complex *x, int n_chains, int n_per_chain, double *work,
                       struct nqs_blocking *out);

/* V-score V = n_sites * variance / energy^2 (Wu et al., Science 2024) for a
 * traceless Hamiltonian (E_inf = 0). IEEE rules apply: energy == 0 gives +INF
 * (or NAN if the variance is also 0). */
double nqs_stats_vscore(int n_sites, double variance, double energy);

/* Exact expectation values from enumerated rows with probabilities w
 * (sum w = 1; sampler.h "Exact enumeration"): mean = sum w Re x, mean_imag,
 * variance = sum w |x - xbar|^2, error = 0 (no sampling), tau = rhat = NAN
 * (no chains), n = rows with w > 0, window = 0. Sums in row order.
 * NQS_ENUMERIC (every double NAN) if a row of weight > 0 is not finite. */
int nqs_stats_weighted(const double complex *x, const double *w, long n, struct nqs_stats *out);

#endif
