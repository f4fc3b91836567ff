/*
 * sampler.h - Metropolis sampling of |psi(s)|^2 over independent Markov chains,
 * with the local energy and the log-derivatives evaluated on each sample while
 * the chain's model cache is valid for it.
 *
 * Chains are the unit of parallel work (docs/architecture.md): chain c has the global
 * index c, its own GSL mt19937 stream seeded from (seed, c), its own spin
 * configuration and model cache. OpenMP spreads chains over threads; every
 * result is written to rows owned by its chain (chain-major: the samples of
 * chain c are rows c*per_chain .. (c+1)*per_chain-1), so the numbers do not
 * depend on the number of threads.
 *
 * Local energy: E_loc(s) = H_ss + sum_s' H_ss' psi(s')/psi(s), using model
 * ratios from the chain's cache (never full re-evaluations).
 */
#ifndef NQS_SAMPLER_H
#define NQS_SAMPLER_H

#include <complex.h>
#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

#include "hamiltonian.h"
#include "model.h"
#include "options.h"

enum nqs_move {
    NQS_MOVE_FLIP = 0,          /* flip one random spin */
    NQS_MOVE_EXCHANGE = 1,      /* swap two opposite spins anywhere on the lattice */
    NQS_MOVE_BOND_EXCHANGE = 2, /* swap the spins of a random nearest-neighbour bond */
};

struct nqs_sampler_opts {
    int n_chains;        /* independent Markov chains (global count) */
    int n_samples;       /* samples per iteration, all chains; rounded up to a multiple of n_chains */
    int sweep;           /* Metropolis proposals between two samples (0: n_sites) */
    int burn_in;         /* sweeps discarded per chain at the start of each iteration */
    int burn_in_first;   /* sweeps discarded per chain before the first iteration */
    enum nqs_move move;
    unsigned long seed;
    int magnetisation;   /* sum of s_i for exchange moves (chains start in this sector) */
    int exact;           /* 1: exact enumeration instead of Metropolis (see below) */
};

/* Exact enumeration ([sampler] method = exact, N <= NQS_EXACT_MAX_SITES):
 * every configuration of the space the moves would explore (all 2^N for
 * flip moves, the sector sum(s) = magnetisation for exchange moves) is a
 * row, with probability w = |psi|^2 / sum |psi|^2 over the rows. The D
 * configurations, in increasing order of their bit patterns (bit i set =
 * spin i up), are split over the chains in contiguous blocks of
 * per_chain = ceil(D / n_chains) rows; rows past D (padding) repeat the last
 * configuration with probability 0. n_samples = per_chain * n_chains, every
 * iteration is the same enumeration (no burn-in, no randomness: the RNG
 * streams are untouched), and a run's averages are exact expectation values
 * of the current state (error 0). */
#define NQS_EXACT_MAX_SITES 20
#define NQS_EXACT_MAX_BYTES (4.0 * 1073741824.0) /* log-derivatives of all rows */

struct nqs_chain {
    int8_t *s;               /* current configuration */
    void *cache;             /* model cache for s */
    gsl_rng *rng;
    long n_prop, n_acc;      /* proposals and acceptances in the current iteration */
    int global_index;
    /* CPU seconds of this chain in the last run spent on: cache_init and
     * Metropolis proposals, local energies, log-derivatives (and observables).
     * Measured only while the sampler's `profile` is set (nqs bench), as
     * CLOCK_MONOTONIC intervals scaled by the chain's thread-CPU/wall ratio,
     * so time the thread spent descheduled is not counted. */
    double t_move, t_eloc, t_grad;
};

struct nqs_sampler {
    struct nqs_sampler_opts o;
    int n_sites;
    int per_chain;           /* samples per chain per iteration */
    int n_samples;           /* per_chain * n_chains (>= requested) */
    int first_chain;         /* global index of local chain 0 (MPI); chains are local */
    int n_local;             /* chains held by this process */
    struct nqs_chain *chains;
    int n_bonds;             /* nearest-neighbour pairs for bond exchange */
    int *nn_pairs;           /* 2 * n_bonds site indices */
    struct nqs_conn **conn;  /* one connected-elements workspace per local chain */
    int profile;             /* 1: fill the chains' t_move, t_eloc, t_grad (bench) */
    /* exact enumeration (o.exact) */
    long dim;                /* D: configurations enumerated */
    uint64_t *basis;         /* D bit patterns, increasing (nqs_basis_patterns) */
    double *logp;            /* per local row: 2 Re log psi (-inf for padding rows) */
};

/* Options table of the [sampler] section (indexed by enum nqs_sampler_key)
 * and the parsed values -> opts. */
enum nqs_sampler_key {
    NQS_SAMPLER_KEY_CHAINS, NQS_SAMPLER_KEY_SAMPLES, NQS_SAMPLER_KEY_SWEEP,
    NQS_SAMPLER_KEY_BURN_IN, NQS_SAMPLER_KEY_BURN_IN_FIRST, NQS_SAMPLER_KEY_MOVE,
    NQS_SAMPLER_KEY_SEED, NQS_SAMPLER_KEY_METHOD, NQS_SAMPLER_N_KEYS
};
extern const struct nqs_opt_def nqs_sampler_options[NQS_SAMPLER_N_KEYS];
extern const int nqs_sampler_n_options;
/* Convert parsed [sampler] values; `conserves_sz` decides move = auto, and
 * exchange moves keep sum_i s_i = magnetisation (the problem's [symmetry]
 * magnetisation, default N mod 2). NQS_EINVAL naming the key for impossible
 * combinations: an impossible magnetisation, or flip moves (which change it)
 * with a magnetisation other than the default for a Hamiltonian that
 * conserves it. */
int nqs_sampler_opts_from(const struct nqs_opt_val *v, const struct nqs_ham *h, int magnetisation,
                          struct nqs_sampler_opts *o);

/* Allocate chains first_chain .. first_chain + n_local - 1 (of o->n_chains),
 * random initial configurations in the requested sector. NULL with a message. */
struct nqs_sampler *nqs_sampler_alloc(const struct nqs_sampler_opts *o, const struct nqs_model *m,
                                      const struct nqs_ham *h, int first_chain, int n_local);
void nqs_sampler_free(struct nqs_sampler *smp);

/* One iteration: re-initialise every chain's cache for the current parameters,
 * burn in, then draw per_chain samples per chain; for each sample store
 * eloc[row] and, if O != NULL, the log-derivatives O[row * ld + p]. Rows are
 * local (row 0 = first local chain's first sample). `first` selects
 * burn_in_first instead of burn_in. Returns NQS_ENUMERIC if a model ratio is
 * not finite. */
int nqs_sampler_run(struct nqs_sampler *smp, const struct nqs_model *m, const struct nqs_ham *h,
                    int first, double complex *eloc, double complex *O, size_t ld);

/* Like nqs_sampler_run (`first`, O and ld as there; O may be NULL) with
 * per_chain samples per chain instead of smp->per_chain (rows are
 * c * per_chain + k), also evaluating the observables `obs` (NULL: none) on
 * every sample: obs_out[row * obs->n + k]. The observables only read the
 * chains' caches, so the chains, RNG streams and eloc/O are those of the same
 * call without them. Exact enumeration: per_chain must be smp->per_chain.
 * Used for the final evaluation, `nqs measure` and per-iteration observables. */
struct nqs_obs;
int nqs_sampler_sample(struct nqs_sampler *smp, const struct nqs_model *m, const struct nqs_ham *h,
                       int first, int per_chain, double complex *eloc, double complex *O, size_t ld,
                       const struct nqs_obs *obs, double complex *obs_out);

/* Exact enumeration: probabilities w_r = exp(logp_r - max) / sum over the n
 * rows of every chain in global order (logp gathered from every rank), in a
 * fixed summation order, so every rank computes the same bits. NQS_ENUMERIC
 * if no row has a finite logp or a logp is NaN/+inf. */
int nqs_sampler_exact_weights(const double *logp, long n, double *w);

/* Acceptance rate of the last run over the local chains (proposals, accepted). */
void nqs_sampler_acceptance(const struct nqs_sampler *smp, long *n_prop, long *n_acc);

/* Size in bytes of one chain's RNG state, and copy it out / in (checkpoints). */
size_t nqs_sampler_rng_size(void);
void nqs_sampler_get_state(const struct nqs_sampler *smp, int8_t *spins, unsigned char *rng);
int nqs_sampler_set_state(struct nqs_sampler *smp, const int8_t *spins, const unsigned char *rng);
/* Check saved states of n_chains chains (global indices first, first + 1,
 * ...) without changing the sampler: n_sites spins per chain, each -1 or +1
 * and, for exchange moves, summing to the sampler's magnetisation; and a GSL
 * mt19937 state per chain (624 words below 2^32 and an index in [0, 624];
 * anything else makes GSL read outside its state). NQS_EIO naming the chain.
 * nqs_sampler_set_state makes the same checks on its local chains. */
int nqs_sampler_check_state(const struct nqs_sampler *smp, int first, int n_chains,
                            const int8_t *spins, const unsigned char *rng);

/* Exact expectation over all configurations (full space, or the sector of
 * h->conserves_sz) weighted by |psi|^2: energy, variance <|E_loc - E|^2>.
 * Refuses n_sites > 24. For tests and tiny systems. */
int nqs_exact_expectation(const struct nqs_model *m, const struct nqs_ham *h, double complex *energy,
                          double *variance);

#endif
