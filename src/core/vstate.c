/*
 * vstate.c - sampling a variational state with its observables and the
 * statistics of energy and observables (vstate.h).
 */
#include "vstate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "error.h"

struct nqs_vstate *nqs_vstate_alloc(struct nqs_model *m, const struct nqs_ham *h,
                                    struct nqs_sampler *smp, const struct nqs_obs *obs,
                                    int per_chain, int per_extra, int first, int n_local, int rank)
{
    struct nqs_vstate *vs = calloc(1, sizeof *vs);
    if (!vs) {
        NQS_SET_ERROR(NQS_ENOMEM, "out of memory for the variational state");
        return NULL;
    }
    vs->m = m;
    vs->h = h;
    vs->smp = smp;
    vs->obs = obs && obs->n > 0 ? obs : NULL;
    vs->n_chains = smp->o.n_chains;
    vs->first = first;
    vs->n_local = n_local;
    vs->rank = rank;
    vs->per_chain = smp->o.exact ? smp->per_chain : per_chain;
    vs->per_max = vs->per_chain > per_extra ? vs->per_chain : per_extra;
    vs->n_obs = vs->obs ? vs->obs->n : 1;
    size_t rows = (size_t)(n_local > 0 ? n_local : 1) * (size_t)vs->per_max;
    size_t rows_all = (size_t)vs->n_chains * (size_t)vs->per_max, no = (size_t)vs->n_obs;
    vs->eloc = malloc(rows * sizeof *vs->eloc);
    vs->eloc_all = malloc(rows_all * sizeof *vs->eloc_all);
    vs->obs_vals = malloc(rows * no * sizeof *vs->obs_vals);
    vs->obs_all = malloc((rank == 0 ? rows_all * no : 1) * sizeof *vs->obs_all);
    vs->col = malloc((rank == 0 ? rows_all : 1) * sizeof *vs->col);
    if (smp->o.exact) {
        vs->logp_all = malloc(rows_all * sizeof *vs->logp_all);
        vs->w_all = malloc(rows_all * sizeof *vs->w_all);
    }
    if (!vs->eloc || !vs->eloc_all || !vs->obs_vals || !vs->obs_all || !vs->col ||
        (smp->o.exact && (!vs->logp_all || !vs->w_all))) {
        int n_obs = vs->n_obs;
        nqs_vstate_free(vs);
        NQS_SET_ERROR(NQS_ENOMEM, "out of memory for %zu samples of %d observables", rows_all, n_obs);
        return NULL;
    }
    return vs;
}

void nqs_vstate_free(struct nqs_vstate *vs)
{
    if (!vs) return;
    free(vs->eloc);
    free(vs->eloc_all);
    free(vs->obs_vals);
    free(vs->obs_all);
    free(vs->col);
    free(vs->logp_all);
    free(vs->w_all);
    free(vs);
}

int nqs_vstate_sample(struct nqs_vstate *vs, int fresh)
{
    int per = vs->per_chain, nc = vs->n_chains;
    int rc = nqs_sampler_sample(vs->smp, vs->m, vs->h, fresh, per, vs->eloc, NULL, 0, vs->obs,
                                vs->obs_vals);
    NQS_TRY(nqs_comm_check(rc));
    NQS_TRY(nqs_comm_allgather_chains(vs->eloc, vs->eloc_all, (size_t)per * sizeof *vs->eloc, nc));
    if (vs->obs)
        NQS_TRY(nqs_comm_gather_chains(vs->obs_vals, vs->obs_all,
                                       (size_t)per * (size_t)vs->n_obs * sizeof *vs->obs_vals, nc));
    long acc[2];
    nqs_sampler_acceptance(vs->smp, &acc[0], &acc[1]);
    NQS_TRY(nqs_comm_sum_long(acc, 2));
    vs->n_prop = acc[0];
    vs->n_acc = acc[1];
    if (vs->smp->o.exact) {
        NQS_TRY(nqs_comm_allgather_chains(vs->smp->logp, vs->logp_all,
                                          (size_t)per * sizeof *vs->logp_all, nc));
        NQS_TRY(nqs_comm_check(nqs_sampler_exact_weights(vs->logp_all, (long)per * nc, vs->w_all)));
    }
    return NQS_OK;
}

static int vstate_stats(const struct nqs_vstate *vs, const double complex *x, int per_chain,
                        const double *w, struct nqs_stats *st)
{
    if (vs->smp->o.exact) return nqs_stats_weighted(x, w, (long)per_chain * vs->n_chains, st);
    return nqs_stats_compute(x, vs->n_chains, per_chain, st);
}

int nqs_vstate_energy(const struct nqs_vstate *vs, struct nqs_stats *st)
{
    return vstate_stats(vs, vs->eloc_all, vs->per_chain, vs->w_all, st);
}

double nqs_vstate_acceptance(const struct nqs_vstate *vs)
{
    if (vs->smp->o.exact) return NAN;
    return vs->n_prop > 0 ? (double)vs->n_acc / (double)vs->n_prop : 0.0;
}

long nqs_vstate_n_samples(const struct nqs_vstate *vs)
{
    return vs->smp->o.exact ? vs->smp->dim : (long)vs->per_chain * vs->n_chains;
}

int nqs_vstate_obs_stats(struct nqs_vstate *vs, const double complex *obs_local, int per_chain,
                         const double *w, double *value, double *error)
{
    if (!vs->obs) return NQS_OK;
    if (obs_local) {
        if (per_chain > vs->per_max)
            NQS_ERROR(NQS_EINTERNAL, "observables of %d samples per chain, room for %d", per_chain,
                      vs->per_max);
        NQS_TRY(nqs_comm_gather_chains(obs_local, vs->obs_all,
                                       (size_t)per_chain * (size_t)vs->n_obs * sizeof *obs_local,
                                       vs->n_chains));
    } else {
        per_chain = vs->per_chain;
        w = vs->w_all;
    }
    int rc = NQS_OK;
    if (vs->rank == 0) {
        size_t rows = (size_t)per_chain * (size_t)vs->n_chains, no = (size_t)vs->n_obs;
        for (size_t k = 0; k < no && rc == NQS_OK; k++) {
            for (size_t r = 0; r < rows; r++) vs->col[r] = vs->obs_all[r * no + k];
            struct nqs_stats st;
            rc = vstate_stats(vs, vs->col, per_chain, w, &st);
            value[k] = st.mean;
            error[k] = st.error;
        }
    }
    return nqs_comm_check(rc);
}

/* Weighted sums of Re E_loc, moment_h2, moment_h2_mixed, moment_h3 (columns
 * k[0..2]) and of the weights over the rows of chain c (probabilities for
 * exact enumeration, else 1): sum[0..3], sum[4]. */
static void vstate_chain_moments(const struct nqs_vstate *vs, const int k[3], int c, double sum[5])
{
    const size_t per = (size_t)vs->per_chain, no = (size_t)vs->n_obs;
    for (int j = 0; j < 5; j++) sum[j] = 0;
    for (size_t r = (size_t)c * per; r < (size_t)(c + 1) * per; r++) {
        double w = vs->smp->o.exact ? vs->w_all[r] : 1.0;
        sum[0] += w * creal(vs->eloc_all[r]);
        for (int j = 0; j < 3; j++) sum[j + 1] += w * creal(vs->obs_all[r * no + (size_t)k[j]]);
        sum[4] += w;
    }
}

/* The Lanczos energy of the sums `tot` less those of one chain (`less`, or NULL). */
static double vstate_lanczos_of(const double tot[5], const double *less, double *alpha)
{
    double h[4], w = tot[4] - (less ? less[4] : 0);
    for (int j = 0; j < 4; j++) h[j] = (tot[j] - (less ? less[j] : 0)) / w;
    return nqs_lanczos_energy(h[0], h[1], h[2], h[3], alpha);
}

int nqs_vstate_lanczos(const struct nqs_vstate *vs, double *energy, double *error,
                       double *alpha)
{
    *energy = *error = *alpha = NAN;
    int col[3] = {-1, -1, -1}; /* moment_h2, moment_h2_mixed, moment_h3 */
    for (int k = 0; vs->obs && k < vs->obs->n_items; k++) {
        enum nqs_obs_kind kd = vs->obs->item[k].kind;
        if (kd == NQS_OBS_MOMENT_H2) col[0] = vs->obs->item[k].offset;
        if (kd == NQS_OBS_MOMENT_H2_MIXED) col[1] = vs->obs->item[k].offset;
        if (kd == NQS_OBS_MOMENT_H3) col[2] = vs->obs->item[k].offset;
    }
    if (col[0] < 0 || col[1] < 0 || col[2] < 0) return 0;
    if (vs->rank != 0) return 1;
    const int n = vs->n_chains;
    double tot[5] = {0, 0, 0, 0, 0}, c_sum[5];
    for (int c = 0; c < n; c++) {
        vstate_chain_moments(vs, col, c, c_sum);
        for (int j = 0; j < 5; j++) tot[j] += c_sum[j];
    }
    *energy = vstate_lanczos_of(tot, NULL, alpha);
    if (vs->smp->o.exact) {
        *error = 0.0;
        return 1;
    }
    if (n < 2) return 1;
    /* leave-one-chain-out estimates, their mean and spread in one pass (Welford) */
    double mean = 0, m2 = 0;
    for (int c = 0; c < n; c++) {
        vstate_chain_moments(vs, col, c, c_sum);
        double e = vstate_lanczos_of(tot, c_sum, NULL), d = e - mean;
        mean += d / (c + 1);
        m2 += d * (e - mean);
    }
    *error = sqrt((double)(n - 1) / n * m2);
    return 1;
}
