/*
 * sampler.c - Metropolis Markov chains over spin configurations with
 * stationary distribution |psi(s)|^2 (acceptance min(1, |psi(s')/psi(s)|^2)),
 * local energies and log-derivatives per sample, and exact enumeration for
 * tiny systems. See sampler.h for the chain/row layout and determinism.
 *
 * Proposals are symmetric: a flip picks a site uniformly; an exchange picks a
 * site i uniformly and then a site j uniformly among the spins opposite to
 * s_i (at fixed magnetisation the pair probability (1/N)(1/N_up + 1/N_down)
 * is the same for the reverse move); a bond exchange picks a nearest-neighbour
 * bond uniformly and counts equal spins as a rejected proposal.
 */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "basis.h"
#include "observables.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Indices of the `move` and `method` choices, in the order of their words. */
enum { MOVE_AUTO, MOVE_FLIP, MOVE_EXCHANGE, MOVE_BOND_EXCHANGE };
enum { METHOD_METROPOLIS, METHOD_EXACT };

const struct nqs_opt_def nqs_sampler_options[NQS_SAMPLER_N_KEYS] = {
    [NQS_SAMPLER_KEY_CHAINS] = {"chains", NQS_OPT_INT, "16",
                                "independent Markov chains (the unit of parallel work)", NULL, 1,
                                1 << 20},
    [NQS_SAMPLER_KEY_SAMPLES] = {"samples", NQS_OPT_INT, "1024",
                                 "samples per iteration, all chains together (rounded up to a "
                                 "multiple of chains)",
                                 NULL, 1, 1e9},
    [NQS_SAMPLER_KEY_SWEEP] = {"sweep", NQS_OPT_INT, "0",
                               "Metropolis proposals between two samples (0: the number of sites)",
                               NULL, 0, 1e7},
    [NQS_SAMPLER_KEY_BURN_IN] = {"burn_in", NQS_OPT_INT, "5",
                                 "sweeps discarded per chain at the start of every iteration",
                                 NULL, 0, 1e7},
    [NQS_SAMPLER_KEY_BURN_IN_FIRST] = {"burn_in_first", NQS_OPT_INT, "100",
                                       "sweeps discarded per chain before the first iteration",
                                       NULL, 0, 1e7},
    [NQS_SAMPLER_KEY_MOVE] = {"move", NQS_OPT_CHOICE, "auto",
                              "proposal: flip one spin, exchange two opposite spins anywhere, or "
                              "on a nearest-neighbour bond; auto = exchange for "
                              "magnetisation-conserving Hamiltonians, flip otherwise",
                              "auto|flip|exchange|bond_exchange", 0, 0},
    [NQS_SAMPLER_KEY_SEED] = {"seed", NQS_OPT_INT, "1",
                              "seed of the chains' random streams (chain c uses stream (seed, c))",
                              NULL, 0, 4294967295.0},
    [NQS_SAMPLER_KEY_METHOD] = {"method", NQS_OPT_CHOICE, "metropolis",
                                "metropolis = Markov chains; exact = every configuration of the "
                                "space the moves explore (2^N, or the magnetisation sector for "
                                "exchange moves) weighted by |psi|^2, for N <= 20: exact "
                                "expectation values, error 0 (samples, sweep, burn_in are then "
                                "unused)",
                                "metropolis|exact", 0, 0},
};
const int nqs_sampler_n_options = NQS_SAMPLER_N_KEYS;

int nqs_sampler_opts_from(const struct nqs_opt_val *v, const struct nqs_ham *h, int magnetisation,
                          struct nqs_sampler_opts *o)
{
    memset(o, 0, sizeof *o);
    o->n_chains = (int)v[NQS_SAMPLER_KEY_CHAINS].i;
    o->n_samples = (int)v[NQS_SAMPLER_KEY_SAMPLES].i;
    o->sweep = v[NQS_SAMPLER_KEY_SWEEP].i > 0 ? (int)v[NQS_SAMPLER_KEY_SWEEP].i : h->n_sites;
    o->burn_in = (int)v[NQS_SAMPLER_KEY_BURN_IN].i;
    o->burn_in_first = (int)v[NQS_SAMPLER_KEY_BURN_IN_FIRST].i;
    o->seed = (unsigned long)v[NQS_SAMPLER_KEY_SEED].i;
    static const enum nqs_move moves[] = {[MOVE_FLIP] = NQS_MOVE_FLIP,
                                          [MOVE_EXCHANGE] = NQS_MOVE_EXCHANGE,
                                          [MOVE_BOND_EXCHANGE] = NQS_MOVE_BOND_EXCHANGE};
    long move = v[NQS_SAMPLER_KEY_MOVE].i;
    o->move = move == MOVE_AUTO ? (h->conserves_sz ? NQS_MOVE_EXCHANGE : NQS_MOVE_FLIP)
                                : moves[move];
    /* [symmetry] magnetisation (default: zero, or +1 for an odd number of sites). */
    int N = h->n_sites;
    if (magnetisation < -N || magnetisation > N || (N + magnetisation) % 2 != 0)
        NQS_ERROR(NQS_EINVAL, "[symmetry] magnetisation: %d is impossible for %d spins (accepted: "
                  "-%d..%d in steps of 2)", magnetisation, N, N, N);
    o->magnetisation = magnetisation;
    if (o->move == NQS_MOVE_FLIP && h->conserves_sz && magnetisation != N % 2)
        NQS_ERROR(NQS_EINVAL, "[sampler] move: flip moves change the magnetisation, so they cannot "
                  "keep [symmetry] magnetisation = %d (accepted: auto, exchange or bond_exchange)",
                  magnetisation);
    if (o->move != NQS_MOVE_FLIP && h->n_sites < 2)
        NQS_ERROR(NQS_EINVAL, "[sampler] move: exchange moves need at least two sites");
    /* Exchange moves never leave the sector sum(s) = magnetisation: for a
     * Hamiltonian that mixes sectors the energy would be that of the sector's
     * projection, not the ground state (TFIM chain 8: -8.46 against -10.25). */
    if (o->move != NQS_MOVE_FLIP && !h->conserves_sz)
        NQS_ERROR(NQS_EINVAL, "[sampler] move: %s keeps the magnetisation fixed, but this "
                  "Hamiltonian does not conserve it (accepted: auto or flip)",
                  o->move == NQS_MOVE_EXCHANGE ? "exchange" : "bond_exchange");
    o->exact = v[NQS_SAMPLER_KEY_METHOD].i == METHOD_EXACT;
    /* Exchange moves need two opposite spins (the proposal looks for one). */
    if (o->move == NQS_MOVE_EXCHANGE && !o->exact && (magnetisation == N || magnetisation == -N))
        NQS_ERROR(NQS_EINVAL, "[symmetry] magnetisation = %d leaves a single configuration, which "
                  "exchange moves cannot sample (accepted: |magnetisation| < %d, or [sampler] "
                  "method = exact)", magnetisation, N);
    if (o->exact && h->n_sites > NQS_EXACT_MAX_SITES)
        NQS_ERROR(NQS_EINVAL, "[sampler] method = exact enumerates every configuration and is limited "
                  "to %d sites (the lattice has %d): use method = metropolis", NQS_EXACT_MAX_SITES,
                  h->n_sites);
    return NQS_OK;
}

/* splitmix64: decorrelates the per-chain seeds derived from (seed, chain). */
static unsigned long sampler_chain_seed(unsigned long seed, int chain)
{
    unsigned long long z = (unsigned long long)seed + 0x9E3779B97F4A7C15ULL * (unsigned long long)(chain + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (unsigned long)(z & 0xFFFFFFFFUL); /* mt19937 uses 32 bits of the seed */
}

/* Random configuration; for exchange moves in the sector sum(s) = magnetisation. */
static void sampler_random_config(const struct nqs_sampler *smp, gsl_rng *rng, int8_t *s)
{
    int N = smp->n_sites;
    if (smp->o.move == NQS_MOVE_FLIP) {
        for (int i = 0; i < N; i++) s[i] = gsl_rng_uniform(rng) < 0.5 ? -1 : 1;
        return;
    }
    int n_up = (N + smp->o.magnetisation) / 2;
    for (int i = 0; i < N; i++) s[i] = i < n_up ? 1 : -1;
    for (int i = N - 1; i > 0; i--) { /* Fisher-Yates */
        int j = (int)gsl_rng_uniform_int(rng, (unsigned long)i + 1);
        int8_t t = s[i];
        s[i] = s[j];
        s[j] = t;
    }
}

/* Exact mode: basis, rows per chain and the logp buffer; NQS_OK or a message. */
static int sampler_exact_setup(struct nqs_sampler *smp, const struct nqs_model *m)
{
    int n_up = smp->o.move == NQS_MOVE_FLIP ? -1 : (smp->n_sites + smp->o.magnetisation) / 2;
    int64_t dim;
    NQS_TRY(nqs_basis_patterns(smp->n_sites, n_up, &smp->basis, &dim));
    smp->dim = (long)dim;
    smp->per_chain = (int)((smp->dim + smp->o.n_chains - 1) / smp->o.n_chains);
    smp->n_samples = smp->per_chain * smp->o.n_chains;
    double bytes = 16.0 * (double)smp->n_samples * (double)m->n_par;
    if (bytes > NQS_EXACT_MAX_BYTES)
        NQS_ERROR(NQS_ENOMEM, "[sampler] method = exact: %ld configurations x %d parameters need "
                  "%.1f GiB of log-derivatives (limit %.0f GiB): use method = metropolis", smp->dim,
                  m->n_par, bytes / 1073741824.0, NQS_EXACT_MAX_BYTES / 1073741824.0);
    smp->logp = malloc((size_t)(smp->n_local > 0 ? smp->n_local : 1) * (size_t)smp->per_chain *
                       sizeof *smp->logp);
    if (!smp->logp) NQS_ERROR(NQS_ENOMEM, "out of memory for the exact enumeration");
    return NQS_OK;
}

struct nqs_sampler *nqs_sampler_alloc(const struct nqs_sampler_opts *o, const struct nqs_model *m,
                                      const struct nqs_ham *h, int first_chain, int n_local)
{
    struct nqs_sampler *smp = calloc(1, sizeof *smp);
    if (!smp) goto nomem;
    smp->o = *o;
    smp->n_sites = h->n_sites;
    smp->per_chain = (o->n_samples + o->n_chains - 1) / o->n_chains;
    smp->n_samples = smp->per_chain * o->n_chains;
    smp->first_chain = first_chain;
    smp->n_local = n_local;
    int N = h->n_sites;
    const struct nqs_lattice *lat = h->lat;
    smp->n_bonds = lat->n_bonds_order[0];
    smp->nn_pairs = malloc(2 * (size_t)(smp->n_bonds > 0 ? smp->n_bonds : 1) * sizeof(int));
    smp->chains = calloc((size_t)(n_local > 0 ? n_local : 1), sizeof *smp->chains);
    smp->conn = calloc((size_t)(n_local > 0 ? n_local : 1), sizeof *smp->conn);
    if (!smp->nn_pairs || !smp->chains || !smp->conn) goto nomem;
    for (int b = 0; b < smp->n_bonds; b++) {
        smp->nn_pairs[2 * b] = lat->bonds[b].i;
        smp->nn_pairs[2 * b + 1] = lat->bonds[b].j;
    }
    if (o->move == NQS_MOVE_BOND_EXCHANGE && smp->n_bonds == 0) {
        NQS_SET_ERROR(NQS_EINVAL, "[sampler] move: bond_exchange needs nearest-neighbour bonds");
        nqs_sampler_free(smp);
        return NULL;
    }
    for (int c = 0; c < n_local; c++) {
        struct nqs_chain *ch = &smp->chains[c];
        ch->global_index = first_chain + c;
        ch->s = malloc((size_t)N);
        ch->cache = malloc(m->cache_size);
        ch->rng = gsl_rng_alloc(gsl_rng_mt19937);
        smp->conn[c] = nqs_conn_alloc(h);
        if (!ch->s || !ch->cache || !ch->rng || !smp->conn[c]) goto nomem;
        gsl_rng_set(ch->rng, sampler_chain_seed(o->seed, ch->global_index));
        sampler_random_config(smp, ch->rng, ch->s);
    }
    if (o->exact && sampler_exact_setup(smp, m) != NQS_OK) { /* the message stays set */
        nqs_sampler_free(smp);
        return NULL;
    }
    return smp;
nomem:
    nqs_sampler_free(smp);
    NQS_SET_ERROR(NQS_ENOMEM, "out of memory allocating %d Markov chains", n_local);
    return NULL;
}

void nqs_sampler_free(struct nqs_sampler *smp)
{
    if (!smp) return;
    for (int c = 0; smp->chains && c < smp->n_local; c++) {
        free(smp->chains[c].s);
        free(smp->chains[c].cache);
        if (smp->chains[c].rng) gsl_rng_free(smp->chains[c].rng);
        if (smp->conn) nqs_conn_free(smp->conn[c]);
    }
    free(smp->chains);
    free(smp->conn);
    free(smp->nn_pairs);
    free(smp->basis);
    free(smp->logp);
    free(smp);
}

/* One Metropolis proposal; returns 0, or 1 if the ratio was NaN or +inf. */
static int sampler_move(const struct nqs_sampler *smp, const struct nqs_model *m, struct nqs_chain *ch)
{
    int N = smp->n_sites, f[2], n_flip;
    int8_t *s = ch->s;
    switch (smp->o.move) {
    case NQS_MOVE_FLIP:
        f[0] = (int)gsl_rng_uniform_int(ch->rng, (unsigned long)N);
        n_flip = 1;
        break;
    case NQS_MOVE_EXCHANGE:
        f[0] = (int)gsl_rng_uniform_int(ch->rng, (unsigned long)N);
        do f[1] = (int)gsl_rng_uniform_int(ch->rng, (unsigned long)N);
        while (s[f[1]] == s[f[0]]);
        n_flip = 2;
        break;
    default: {
        int b = (int)gsl_rng_uniform_int(ch->rng, (unsigned long)smp->n_bonds);
        f[0] = smp->nn_pairs[2 * b];
        f[1] = smp->nn_pairs[2 * b + 1];
        n_flip = 2;
        if (s[f[0]] == s[f[1]]) { /* nothing to exchange: a rejected proposal */
            ch->n_prop++;
            return 0;
        }
    }
    }
    ch->n_prop++;
    double lr = m->ops->log_prob_ratio /* log |psi'/psi|^2 */
                    ? m->ops->log_prob_ratio(m, ch->cache, s, n_flip, f)
                    : 2.0 * creal(m->ops->log_psi_ratio(m, ch->cache, s, n_flip, f));
    if (isnan(lr) || lr == INFINITY) return 1;
    if (lr >= 0.0 || gsl_rng_uniform(ch->rng) < exp(lr)) {
        m->ops->cache_update(m, ch->cache, s, n_flip, f);
        for (int k = 0; k < n_flip; k++) s[f[k]] = (int8_t)-s[f[k]];
        ch->n_acc++;
    }
    return 0;
}

/* Clocks of the optional per-phase profile: CLOCK_MONOTONIC (vDSO, tens of
 * ns) around each phase, CLOCK_THREAD_CPUTIME_ID (a system call, ~1 us) once
 * per chain and run to turn the intervals into CPU time. */
static double sampler_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int sampler_run(struct nqs_sampler *smp, const struct nqs_model *m, const struct nqs_ham *h,
                       int first, int per_chain, double complex *eloc, double complex *O, size_t ld,
                       const struct nqs_obs *obs, double complex *obs_out)
{
    int bad = 0;
    long burn = (long)(first ? smp->o.burn_in_first : smp->o.burn_in) * smp->o.sweep;
    const int prof = smp->profile;
#pragma omp parallel for schedule(dynamic, 1) reduction(| : bad)
    for (int c = 0; c < smp->n_local; c++) {
        struct nqs_chain *ch = &smp->chains[c];
        double t0 = prof ? sampler_clock(CLOCK_MONOTONIC) : 0.0, t1 = t0, t2 = t0, t3 = t0;
        double start = t0, cpu0 = prof ? sampler_clock(CLOCK_THREAD_CPUTIME_ID) : 0.0;
        ch->t_move = ch->t_eloc = ch->t_grad = 0.0;
        m->ops->cache_init(m, ch->s, ch->cache);
        ch->n_prop = ch->n_acc = 0;
        for (long t = 0; t < burn; t++) bad |= sampler_move(smp, m, ch);
        for (int k = 0; k < per_chain; k++) {
            for (int t = 0; t < smp->o.sweep; t++) bad |= sampler_move(smp, m, ch);
            if (prof) t1 = sampler_clock(CLOCK_MONOTONIC);
            size_t row = (size_t)c * (size_t)per_chain + (size_t)k;
            eloc[row] = nqs_local_energy(m, h, ch->cache, ch->s, smp->conn[c]);
            if (!isfinite(creal(eloc[row])) || !isfinite(cimag(eloc[row]))) bad = 1;
            if (prof) t2 = sampler_clock(CLOCK_MONOTONIC);
            if (O) m->ops->grad_log_psi(m, ch->cache, ch->s, O + row * ld);
            if (obs) nqs_obs_eval(obs, c, m, ch->cache, ch->s, obs_out + row * (size_t)obs->n);
            if (prof) {
                t3 = sampler_clock(CLOCK_MONOTONIC);
                ch->t_move += t1 - t0;
                ch->t_eloc += t2 - t1;
                ch->t_grad += t3 - t2;
                t0 = t3;
            }
        }
        if (prof) { /* monotonic intervals -> CPU seconds: scale by the chain's CPU/wall */
            double wall = sampler_clock(CLOCK_MONOTONIC) - start;
            double f = wall > 0 ? (sampler_clock(CLOCK_THREAD_CPUTIME_ID) - cpu0) / wall : 1.0;
            ch->t_move = (ch->t_move + (wall - (t0 - start))) * f; /* + the tail after the last sample */
            ch->t_eloc *= f;
            ch->t_grad *= f;
        }
    }
    if (bad)
        NQS_ERROR(NQS_ENUMERIC, "the wavefunction produced a non-finite amplitude ratio or local "
                                "energy (parameters diverged)");
    return NQS_OK;
}

/* Exact enumeration: row k of local chain c is configuration
 * global_index * per_chain + k (the last one for padding rows). */
static int sampler_run_exact(struct nqs_sampler *smp, const struct nqs_model *m,
                             const struct nqs_ham *h, double complex *eloc, double complex *O,
                             size_t ld, const struct nqs_obs *obs, double complex *obs_out)
{
    int bad = 0;
    const int pc = smp->per_chain, N = smp->n_sites;
#pragma omp parallel for schedule(dynamic, 1) reduction(| : bad)
    for (int c = 0; c < smp->n_local; c++) {
        struct nqs_chain *ch = &smp->chains[c];
        ch->n_prop = ch->n_acc = 0;
        ch->t_move = ch->t_eloc = ch->t_grad = 0.0;
        for (int k = 0; k < pc; k++) {
            long idx = (long)ch->global_index * pc + k;
            uint64_t x = smp->basis[idx < smp->dim ? idx : smp->dim - 1];
            for (int i = 0; i < N; i++) ch->s[i] = (x >> i) & 1u ? 1 : -1;
            size_t row = (size_t)c * (size_t)pc + (size_t)k;
            double lp = 2.0 * creal(m->ops->cache_init(m, ch->s, ch->cache));
            if (isnan(lp) || lp == INFINITY) bad = 1;
            smp->logp[row] = idx < smp->dim ? lp : -INFINITY;
            eloc[row] = nqs_local_energy(m, h, ch->cache, ch->s, smp->conn[c]);
            if (!isfinite(creal(eloc[row])) || !isfinite(cimag(eloc[row]))) bad = 1;
            if (O) m->ops->grad_log_psi(m, ch->cache, ch->s, O + row * ld);
            if (obs) nqs_obs_eval(obs, c, m, ch->cache, ch->s, obs_out + row * (size_t)obs->n);
        }
    }
    if (bad)
        NQS_ERROR(NQS_ENUMERIC, "the wavefunction produced a non-finite amplitude or local energy "
                                "in the exact enumeration (parameters diverged)");
    return NQS_OK;
}

int nqs_sampler_exact_weights(const double *logp, long n, double *w)
{
    double lmax = -INFINITY;
    for (long r = 0; r < n; r++) {
        if (isnan(logp[r]) || logp[r] == INFINITY)
            NQS_ERROR(NQS_ENUMERIC, "exact enumeration: |psi|^2 is not finite at row %ld", r);
        if (logp[r] > lmax) lmax = logp[r];
    }
    if (lmax == -INFINITY) NQS_ERROR(NQS_ENUMERIC, "exact enumeration: psi vanishes everywhere");
    double z = 0;
    for (long r = 0; r < n; r++) z += w[r] = exp(logp[r] - lmax);
    for (long r = 0; r < n; r++) w[r] /= z;
    return NQS_OK;
}

int nqs_sampler_run(struct nqs_sampler *smp, const struct nqs_model *m, const struct nqs_ham *h,
                    int first, double complex *eloc, double complex *O, size_t ld)
{
    return nqs_sampler_sample(smp, m, h, first, smp->per_chain, eloc, O, ld, NULL, NULL);
}

int nqs_sampler_sample(struct nqs_sampler *smp, const struct nqs_model *m, const struct nqs_ham *h,
                       int first, int per_chain, double complex *eloc, double complex *O, size_t ld,
                       const struct nqs_obs *obs, double complex *obs_out)
{
    if (smp->o.exact) {
        if (per_chain != smp->per_chain)
            NQS_ERROR(NQS_EINTERNAL, "exact enumeration has %d rows per chain, not %d",
                      smp->per_chain, per_chain);
        return sampler_run_exact(smp, m, h, eloc, O, ld, obs, obs_out);
    }
    return sampler_run(smp, m, h, first, per_chain, eloc, O, ld, obs, obs_out);
}

void nqs_sampler_acceptance(const struct nqs_sampler *smp, long *n_prop, long *n_acc)
{
    *n_prop = *n_acc = 0;
    for (int c = 0; c < smp->n_local; c++) {
        *n_prop += smp->chains[c].n_prop;
        *n_acc += smp->chains[c].n_acc;
    }
}

size_t nqs_sampler_rng_size(void) { return gsl_rng_mt19937->size; }

void nqs_sampler_get_state(const struct nqs_sampler *smp, int8_t *spins, unsigned char *rng)
{
    size_t rs = nqs_sampler_rng_size();
    for (int c = 0; c < smp->n_local; c++) {
        memcpy(spins + (size_t)c * (size_t)smp->n_sites, smp->chains[c].s, (size_t)smp->n_sites);
        memcpy(rng + (size_t)c * rs, gsl_rng_state(smp->chains[c].rng), rs);
    }
}

/* The state of GSL's mt19937 (mt.c of GSL 1.x and 2.x: mt_state_t). GSL does
 * not export the type; nqs_sampler_check_state compares its size with the
 * generator's before relying on it. */
#define SAMPLER_MT_N 624
struct sampler_mt_state {
    unsigned long mt[SAMPLER_MT_N];
    int mti;
};

int nqs_sampler_check_state(const struct nqs_sampler *smp, int first, int n_chains,
                            const int8_t *spins, const unsigned char *rng)
{
    size_t rs = nqs_sampler_rng_size();
    if (rs != sizeof(struct sampler_mt_state))
        NQS_ERROR(NQS_EINTERNAL, "this GSL's mt19937 state has %zu bytes, expected %zu: the "
                  "checkpoint's RNG states cannot be checked", rs, sizeof(struct sampler_mt_state));
    for (int c = 0; c < n_chains; c++) {
        const int8_t *s = spins + (size_t)c * (size_t)smp->n_sites;
        int sum = 0;
        for (int i = 0; i < smp->n_sites; i++) {
            if (s[i] != 1 && s[i] != -1)
                NQS_ERROR(NQS_EIO, "checkpoint: chain %d holds a spin value %d (accepted: -1, +1)",
                          first + c, s[i]);
            sum += s[i];
        }
        if (smp->o.move != NQS_MOVE_FLIP && sum != smp->o.magnetisation)
            NQS_ERROR(NQS_EIO, "checkpoint: chain %d has magnetisation %d, the sampler needs %d",
                      first + c, sum, smp->o.magnetisation);
        struct sampler_mt_state mt;
        memcpy(&mt, rng + (size_t)c * rs, rs);
        if (mt.mti < 0 || mt.mti > SAMPLER_MT_N)
            NQS_ERROR(NQS_EIO, "checkpoint: chain %d has a corrupt random number generator state "
                      "(mt19937 index %d, accepted: 0..%d)", first + c, mt.mti, SAMPLER_MT_N);
        for (int k = 0; k < SAMPLER_MT_N; k++)
            if (mt.mt[k] > 0xFFFFFFFFUL)
                NQS_ERROR(NQS_EIO, "checkpoint: chain %d has a corrupt random number generator "
                          "state (mt19937 word %d = %#lx is not a 32-bit value)", first + c, k,
                          mt.mt[k]);
    }
    return NQS_OK;
}

int nqs_sampler_set_state(struct nqs_sampler *smp, const int8_t *spins, const unsigned char *rng)
{
    size_t rs = nqs_sampler_rng_size();
    int first = smp->n_local > 0 ? smp->chains[0].global_index : 0;
    NQS_TRY(nqs_sampler_check_state(smp, first, smp->n_local, spins, rng));
    for (int c = 0; c < smp->n_local; c++) {
        memcpy(smp->chains[c].s, spins + (size_t)c * (size_t)smp->n_sites, (size_t)smp->n_sites);
        memcpy(gsl_rng_state(smp->chains[c].rng), rng + (size_t)c * rs, rs);
    }
    return NQS_OK;
}

int nqs_exact_expectation(const struct nqs_model *m, const struct nqs_ham *h, double complex *energy,
                          double *variance)
{
    int N = h->n_sites;
    if (N > 24)
        NQS_ERROR(NQS_EINVAL, "exact enumeration is limited to 24 sites (got %d)", N);
    unsigned long dim = 1UL << N;
    double complex *lp = malloc(dim * sizeof *lp);
    double complex *el = malloc(dim * sizeof *el);
    int8_t *s = malloc((size_t)N);
    void *cache = malloc(m->cache_size);
    struct nqs_conn *conn = nqs_conn_alloc(h);
    if (!lp || !el || !s || !cache || !conn) {
        free(lp);
        free(el);
        free(s);
        free(cache);
        nqs_conn_free(conn);
        NQS_ERROR(NQS_ENOMEM, "out of memory enumerating 2^%d configurations", N);
    }
    double lmax = -INFINITY;
    for (unsigned long x = 0; x < dim; x++) {
        int sum = 0;
        for (int i = 0; i < N; i++) {
            s[i] = (x >> i) & 1 ? 1 : -1;
            sum += s[i];
        }
        if (h->conserves_sz && sum != N % 2) {
            lp[x] = -INFINITY;
            continue;
        }
        lp[x] = m->ops->cache_init(m, s, cache);
        el[x] = nqs_local_energy(m, h, cache, s, conn);
        if (creal(lp[x]) > lmax) lmax = creal(lp[x]);
    }
    double z = 0;
    double complex e = 0;
    for (unsigned long x = 0; x < dim; x++) {
        if (creal(lp[x]) == -INFINITY) continue;
        double w = exp(2.0 * (creal(lp[x]) - lmax));
        z += w;
        e += w * el[x];
    }
    e /= z;
    double var = 0;
    for (unsigned long x = 0; x < dim; x++) {
        if (creal(lp[x]) == -INFINITY) continue;
        double w = exp(2.0 * (creal(lp[x]) - lmax));
        double complex d = el[x] - e;
        var += w * (creal(d) * creal(d) + cimag(d) * cimag(d));
    }
    *energy = e;
    *variance = var / z;
    free(lp);
    free(el);
    free(s);
    free(cache);
    nqs_conn_free(conn);
    return NQS_OK;
}
