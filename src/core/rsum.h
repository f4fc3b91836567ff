/*
 * rsum.h - reproducible sums of per-chain terms: the result has the same bits
 * whatever the order of the terms and however they are grouped over threads
 * and MPI ranks, so a run gives the same numbers on any number of threads and
 * ranks (docs/architecture.md "Rules the code keeps").
 *
 * Every sum over samples in the SR solver (energy, <O>, F, S, S v, diag S) is
 * written as a sum over chains of per-chain partial sums; a chain's partial
 * sum is computed by one thread from that chain's rows only, so it does not
 * depend on the split. The sum over chains is then made exact and
 * order-independent by pre-rounding every term to a common grid (Demmel &
 * Nguyen, "Fast reproducible floating-point summation", ARITH 21 (2013);
 * the error-free extraction of Rump, Ogita & Oishi, SIAM J. Sci. Comput. 31,
 * 189 (2008), "ExtractScalar"):
 *
 *   n terms with |x| <= M; choose k with 2^(k-1) >= n M and sigma = 1.5 * 2^k.
 *   q = fl(fl(sigma + x) - sigma) is x rounded to a multiple of u = 2^(k-52),
 *   without error, and x - q is exact with |x - q| <= u/2. The sum of n such
 *   q stays below 2^(k+1) = 2^53 u, so it is exact in any order and grouping,
 *   including MPI_Allreduce's.
 *
 * Two levels: level 1 takes q from x, level 2 from the remainder x - q (with
 * M_2 = u_1 / 2). The result fl(A_1 + A_2) differs from the exact sum by at
 * most one rounding plus the dropped level-2 remainders, n u_2 / 2 <=
 * n M 2^(2 c - 102) with c = ceil(log2 n): below 2^-62 of n M for the
 * n <= 2^20 chains the input allows, finer than the rounding of the result.
 * Terms far below M keep an absolute, not relative, accuracy of that size.
 *
 * Cost per term and value: four additions, no branch; the grid needs a global
 * bound M (one max-reduction over ranks, or a bound known in advance).
 */
#ifndef NQS_RSUM_H
#define NQS_RSUM_H

#include <stddef.h>

#define NQS_RSUM_LEVELS 2

struct nqs_rsum {
    double *acc;                    /* borrowed: NQS_RSUM_LEVELS * count doubles */
    size_t count;                   /* values per term */
    double sigma[NQS_RSUM_LEVELS];  /* 1.5 * 2^k per level; 0: level unused */
    int bad;                        /* bound not finite or too large: result NaN */
    int global;                     /* nqs_rsum_end sums over MPI ranks */
};

/* Start a sum of terms of `count` doubles: n_terms terms in all (over every
 * rank when `global`), each value of each term at most `bound` in magnitude.
 * The bound and n_terms must be the same on every rank and must not depend
 * on the split (e.g. a max over all chains, or a bound from global data) for
 * the result to be reproducible. `acc` holds NQS_RSUM_LEVELS * count doubles
 * and is zeroed here. A non-finite bound or n_terms * bound > 2^1000 makes the
 * result NaN (callers report NQS_ENUMERIC). */
void nqs_rsum_begin(struct nqs_rsum *r, double *acc, size_t count, double bound, long n_terms,
                    int global);

/* Add values x[0..n) of one term to the entries offset .. offset + n - 1 (a
 * term may be added in pieces). Values above the bound break exactness. */
void nqs_rsum_add(struct nqs_rsum *r, size_t offset, const double *x, size_t n);

/* Finish: sum the accumulators over ranks (when global; a collective) and
 * write the `count` results to out (out must not overlap acc). */
int nqs_rsum_end(struct nqs_rsum *r, double *out);
/* nqs_rsum_end in two steps, for results scattered over several arrays:
 * the sum over ranks (a collective when global), then the results of
 * entries offset .. offset + n - 1 into out[0..n). */
int nqs_rsum_reduce(struct nqs_rsum *r);
void nqs_rsum_fold(const struct nqs_rsum *r, size_t offset, double *out, size_t n);

/* max |x_i| of n values, +INFINITY if any is NaN or infinite. */
double nqs_rsum_bound(const double *x, size_t n);

/* The whole sum for terms stored as rows: term t is terms[t * ld .. t * ld +
 * count), t < n_local on this rank, n_terms over all ranks. The bound is the
 * max |value| over all ranks' terms (one max-reduction). `acc` holds
 * NQS_RSUM_LEVELS * count doubles; out receives count doubles. Collective. */
int nqs_rsum_terms(const double *terms, int n_local, size_t ld, size_t count, long n_terms,
                   double *acc, double *out);

#endif
