/*
 * hamiltonian.c - family-independent parts of the Hamiltonian interface:
 * allocation through the ops table, the connected-elements workspace, and the
 * local energy E_loc(s) = sum_s' H_ss' psi(s')/psi(s) of a model from its
 * fast-update ratios (docs/physics.md).
 */
#include "hamiltonian.h"

#include <complex.h>
#include <stdlib.h>

#include "error.h"
#include "model.h"

struct nqs_ham *nqs_ham_alloc(const struct nqs_ham_ops *ops, const struct nqs_lattice *lat,
                              const struct nqs_opt_val *values)
{
    struct nqs_ham *h = calloc(1, sizeof *h);
    if (!h) {
        NQS_SET_ERROR(NQS_ENOMEM, "out of memory allocating Hamiltonian '%s'", ops->name);
        return NULL;
    }
    h->ops = ops;
    h->lat = lat;
    h->n_sites = lat->n_sites;
    if (ops->alloc(h, lat, values) != NQS_OK) {
        free(h);
        return NULL;
    }
    return h;
}

void nqs_ham_free(struct nqs_ham *h)
{
    if (!h) return;
    if (h->state) h->ops->free(h->state);
    free(h);
}

struct nqs_conn *nqs_conn_alloc(const struct nqs_ham *h)
{
    struct nqs_conn *c = calloc(1, sizeof *c);
    int n = h->max_conn > 0 ? h->max_conn : 1;
    if (c) {
        c->site = calloc((size_t)n, sizeof *c->site);
        c->n_flip = calloc((size_t)n, sizeof *c->n_flip);
        c->mel = calloc((size_t)n, sizeof *c->mel);
    }
    if (!c || !c->site || !c->n_flip || !c->mel) {
        nqs_conn_free(c);
        NQS_SET_ERROR(NQS_ENOMEM, "out of memory for %d connected elements", n);
        return NULL;
    }
    return c;
}

void nqs_conn_free(struct nqs_conn *c)
{
    if (!c) return;
    free(c->site);
    free(c->n_flip);
    free(c->mel);
    free(c);
}

double complex nqs_local_energy(const struct nqs_model *m, const struct nqs_ham *h, void *cache,
                                const int8_t *s, struct nqs_conn *conn)
{
    h->ops->connected(h, s, conn);
    double complex e = conn->diag;
    if (m->ops->psi_ratio) {
        for (int k = 0; k < conn->n; k++)
            e += conn->mel[k] * m->ops->psi_ratio(m, cache, s, conn->n_flip[k], conn->site[k]);
        return e;
    }
    for (int k = 0; k < conn->n; k++)
        e += conn->mel[k] * cexp(m->ops->log_psi_ratio(m, cache, s, conn->n_flip[k], conn->site[k]));
    return e;
}
