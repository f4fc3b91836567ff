/*
 * vstate.h - a variational state for measurements: a model, the Hamiltonian,
 * a sampler with its chains, and a set of observables (observables.h). It
 * draws a given number of samples per chain (or the exact enumeration) and
 * returns the energy and every observable with its Monte Carlo error,
 * without touching the sampler's own sample count (the optimisation's
 * setting). Used by the driver's final evaluation, the per-iteration
 * observables and `nqs measure`.
 *
 * MPI: like the driver (docs/cluster.md), every rank samples its chains; the
 * local energies go to every rank (the same energy statistics everywhere),
 * the observables to rank 0, which alone computes their statistics.
 * Errors: nqs_stats_compute (autocorrelation-aware over chains) for Markov
 * chains, nqs_stats_weighted (error 0) for exact enumeration.
 * Buffers are allocated once in nqs_vstate_alloc; sampling allocates nothing.
 */
#ifndef NQS_VSTATE_H
#define NQS_VSTATE_H

#include <complex.h>

#include "hamiltonian.h"
#include "model.h"
#include "observables.h"
#include "sampler.h"
#include "stats.h"

struct nqs_vstate {
    struct nqs_model *m;        /* borrowed */
    const struct nqs_ham *h;    /* borrowed */
    struct nqs_sampler *smp;    /* borrowed: its chains move */
    const struct nqs_obs *obs;  /* borrowed; NULL or empty: energy only */
    int n_chains, first, n_local, rank;
    int per_chain;              /* samples per chain of nqs_vstate_sample */
    int per_max;                /* rows per chain the buffers hold */
    int n_obs;                  /* obs->n, at least 1 for the buffers */
    double complex *eloc;       /* local rows */
    double complex *eloc_all;   /* every chain's rows, global chain order (every rank) */
    double complex *obs_vals;   /* local rows x n_obs */
    double complex *obs_all;    /* rank 0: every row x n_obs */
    double complex *col;        /* rank 0: one observable column */
    double *logp_all, *w_all;   /* exact enumeration: every row's logp, probability */
    long n_prop, n_acc;         /* proposals and acceptances of the last sampling (all ranks) */
};

/* per_chain: samples per chain of nqs_vstate_sample (ignored for exact
 * sampling: the enumeration's rows); per_extra: also hold this many rows per
 * chain for nqs_vstate_obs_stats (the optimisation's samples). NULL with a
 * message. */
struct nqs_vstate *nqs_vstate_alloc(struct nqs_model *m, const struct nqs_ham *h,
                                    struct nqs_sampler *smp, const struct nqs_obs *obs,
                                    int per_chain, int per_extra, int first, int n_local, int rank);
void nqs_vstate_free(struct nqs_vstate *vs);

/* Collective: draw per_chain samples per chain (fresh: the first burn-in)
 * with local energies and observables, gather them and, for exact sampling,
 * the probabilities. */
int nqs_vstate_sample(struct nqs_vstate *vs, int fresh);

/* Energy statistics of the last nqs_vstate_sample (every rank). */
int nqs_vstate_energy(const struct nqs_vstate *vs, struct nqs_stats *st);

/* Acceptance of the last sampling; NaN for exact sampling. */
double nqs_vstate_acceptance(const struct nqs_vstate *vs);

/* Samples (rows) of the last sampling: the enumeration's dimension for exact sampling. */
long nqs_vstate_n_samples(const struct nqs_vstate *vs);

/* Collective: the observables of `obs_local` (this rank's rows, per_chain
 * per chain, as nqs_sampler_sample writes them; NULL: those of the last
 * nqs_vstate_sample) go to rank 0, which writes value[k] and error[k] for
 * every column k < obs->n. w: probabilities of every row in global order for
 * exact sampling (NULL: Markov chains; ignored after nqs_vstate_sample, which
 * has its own). */
int nqs_vstate_obs_stats(struct nqs_vstate *vs, const double complex *obs_local, int per_chain,
                         const double *w, double *value, double *error);

/* Rank 0, after nqs_vstate_obs_stats(vs, NULL, ...): the energy of one
 * Lanczos step (1 + alpha H) psi (nqs_lanczos_energy) from the samples' E_loc
 * and the moment_h2, moment_h2_mixed, moment_h3 columns, with a jackknife error over the
 * Markov chains (leave one chain out; 0 for exact enumeration). NaN when the
 * observables do not include the moments ([observables] lanczos = false).
 * Returns 1 when they do (on every rank), else 0. */
int nqs_vstate_lanczos(const struct nqs_vstate *vs, double *energy, double *error,
                        double *alpha);

#endif
