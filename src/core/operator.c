/*
 * operator.c - Pauli-sum operators and wrapped Hamiltonians, their connected
 * elements and local estimators O_loc(s) = sum_s' O(s,s') psi(s')/psi(s)
 * (definitions and matrix-element conventions in operator.h).
 */
#include "operator.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "sampler.h"

struct nqs_operator *nqs_operator_alloc(int n_sites, const char *name)
{
    struct nqs_operator *op = calloc(1, sizeof *op);
    if (!op) {
        NQS_SET_ERROR(NQS_ENOMEM, "out of memory for operator '%s'", name);
        return NULL;
    }
    op->n_sites = n_sites;
    snprintf(op->name, sizeof op->name, "%s", name);
    return op;
}

struct nqs_operator *nqs_operator_from_ham(const struct nqs_ham *h)
{
    struct nqs_operator *op = nqs_operator_alloc(h->n_sites, h->ops->name);
    if (!op) return NULL;
    op->h = h;
    op->max_conn = h->max_conn;
    op->finalized = 1;
    return op;
}

void nqs_operator_free(struct nqs_operator *op)
{
    if (!op) return;
    free(op->terms);
    free(op->group_start);
    free(op->group_flip);
    free(op->group_nflip);
    free(op);
}

int nqs_operator_add(struct nqs_operator *op, double complex c, const char *paulis, const int *sites)
{
    if (op->finalized || op->h) NQS_ERROR(NQS_EINVAL, "operator '%s': term added after finalize", op->name);
    int n = (int)strlen(paulis);
    if (n > NQS_OP_MAX_FLIP)
        NQS_ERROR(NQS_EINVAL, "operator '%s': a term acts on %d sites (at most %d)", op->name, n,
                  NQS_OP_MAX_FLIP);
    struct nqs_op_term t = {.c = c, .n = n, .order = op->n_terms};
    for (int k = 0; k < n; k++) {
        if (paulis[k] != 'x' && paulis[k] != 'y' && paulis[k] != 'z')
            NQS_ERROR(NQS_EINVAL, "operator '%s': Pauli '%c' (accepted: x, y, z)", op->name, paulis[k]);
        if (sites[k] < 0 || sites[k] >= op->n_sites)
            NQS_ERROR(NQS_EINVAL, "operator '%s': site %d outside 0..%d", op->name, sites[k],
                      op->n_sites - 1);
        for (int l = 0; l < k; l++)
            if (sites[l] == sites[k])
                NQS_ERROR(NQS_EINVAL, "operator '%s': site %d twice in one term", op->name, sites[k]);
        t.site[k] = sites[k];
        t.pauli[k] = paulis[k];
    }
    if (op->n_terms == op->cap_terms) {
        int cap = op->cap_terms ? 2 * op->cap_terms : 16;
        struct nqs_op_term *p = realloc(op->terms, (size_t)cap * sizeof *p);
        if (!p) NQS_ERROR(NQS_ENOMEM, "out of memory for operator '%s'", op->name);
        op->terms = p;
        op->cap_terms = cap;
    }
    op->terms[op->n_terms++] = t;
    return NQS_OK;
}

/* Sorted flip set of a term (its x and y sites). */
static int op_flips(const struct nqs_op_term *t, int *f)
{
    int n = 0;
    for (int k = 0; k < t->n; k++)
        if (t->pauli[k] != 'z') {
            int v = t->site[k], p = n++;
            while (p > 0 && f[p - 1] > v) {
                f[p] = f[p - 1];
                p--;
            }
            f[p] = v;
        }
    return n;
}

static int op_cmp_flips(int na, const int *a, int nb, const int *b)
{
    if (na != nb) return na < nb ? -1 : 1;
    for (int k = 0; k < na; k++)
        if (a[k] != b[k]) return a[k] < b[k] ? -1 : 1;
    return 0;
}

static int op_cmp_terms(const void *pa, const void *pb)
{
    int fa[NQS_OP_MAX_FLIP], fb[NQS_OP_MAX_FLIP];
    int na = op_flips(pa, fa), nb = op_flips(pb, fb);
    int c = op_cmp_flips(na, fa, nb, fb);
    if (c) return c;
    const struct nqs_op_term *ta = pa, *tb = pb;
    return (ta->order > tb->order) - (ta->order < tb->order);
}

int nqs_operator_finalize(struct nqs_operator *op)
{
    if (op->finalized) return NQS_OK;
    /* by flip set, ties in the order the terms were added (qsort is not
     * stable; the index keeps the sums of a group reproducible) */
    qsort(op->terms, (size_t)op->n_terms, sizeof *op->terms, op_cmp_terms);
    int ng = 0;
    size_t cap = (size_t)op->n_terms + 1;
    op->group_start = malloc((cap + 1) * sizeof *op->group_start);
    op->group_flip = malloc(cap * sizeof *op->group_flip);
    op->group_nflip = malloc(cap * sizeof *op->group_nflip);
    if (!op->group_start || !op->group_flip || !op->group_nflip)
        NQS_ERROR(NQS_ENOMEM, "out of memory for operator '%s'", op->name);
    for (int a = 0; a < op->n_terms; a++) {
        int f[NQS_OP_MAX_FLIP], n = op_flips(&op->terms[a], f);
        if (ng == 0 || op_cmp_flips(n, f, op->group_nflip[ng - 1], op->group_flip[ng - 1]) != 0) {
            op->group_start[ng] = a;
            op->group_nflip[ng] = n;
            memcpy(op->group_flip[ng], f, (size_t)n * sizeof *f);
            ng++;
        }
    }
    op->group_start[ng] = op->n_terms;
    op->n_groups = ng;
    op->max_conn = ng;
    op->finalized = 1;
    return NQS_OK;
}

struct nqs_op_conn *nqs_op_conn_alloc(const struct nqs_operator *op)
{
    struct nqs_op_conn *c = calloc(1, sizeof *c);
    int n = op->max_conn > 0 ? op->max_conn : 1;
    if (c) {
        c->site = calloc((size_t)n, sizeof *c->site);
        c->n_flip = calloc((size_t)n, sizeof *c->n_flip);
        c->mel = calloc((size_t)n, sizeof *c->mel);
        if (op->h) c->ham = nqs_conn_alloc(op->h);
    }
    if (!c || !c->site || !c->n_flip || !c->mel || (op->h && !c->ham)) {
        nqs_op_conn_free(c);
        NQS_SET_ERROR(NQS_ENOMEM, "out of memory for %d connected elements", n);
        return NULL;
    }
    return c;
}

void nqs_op_conn_free(struct nqs_op_conn *c)
{
    if (!c) return;
    free(c->site);
    free(c->n_flip);
    free(c->mel);
    nqs_conn_free(c->ham);
    free(c);
}

/* <s| c prod_k sigma^{a_k}_{i_k} |s'> for s' = s with the term's x/y sites
 * flipped (operator.h conventions). */
static double complex op_term_element(const struct nqs_op_term *t, const int8_t *s)
{
    double complex v = t->c;
    for (int k = 0; k < t->n; k++) {
        double si = s[t->site[k]];
        if (t->pauli[k] == 'z') v *= si;
        else if (t->pauli[k] == 'y') v *= -I * si;
    }
    return v;
}

void nqs_operator_connected(const struct nqs_operator *op, const int8_t *s, struct nqs_op_conn *out)
{
    out->n = 0;
    out->diag = 0;
    if (op->h) {
        struct nqs_conn *hc = out->ham;
        op->h->ops->connected(op->h, s, hc);
        out->diag = hc->diag;
        for (int k = 0; k < hc->n; k++) {
            out->n_flip[k] = hc->n_flip[k];
            for (int l = 0; l < hc->n_flip[k]; l++) out->site[k][l] = hc->site[k][l];
            out->mel[k] = hc->mel[k];
        }
        out->n = hc->n;
        return;
    }
    for (int g = 0; g < op->n_groups; g++) {
        double complex v = 0;
        for (int a = op->group_start[g]; a < op->group_start[g + 1]; a++)
            v += op_term_element(&op->terms[a], s);
        if (op->group_nflip[g] == 0) {
            out->diag += v;
            continue;
        }
        if (v == 0) continue;
        int k = out->n++;
        out->n_flip[k] = op->group_nflip[g];
        memcpy(out->site[k], op->group_flip[g], (size_t)op->group_nflip[g] * sizeof(int));
        out->mel[k] = v;
    }
}

double complex nqs_operator_local(const struct nqs_operator *op, const struct nqs_model *m,
                                  void *cache, const int8_t *s, struct nqs_op_conn *ws,
                                  const int8_t *basis_sign)
{
    /* a wrapped Hamiltonian is the sampler's local energy itself (real
     * elements, the model's basis: basis_sign does not apply) */
    if (op->h) return nqs_local_energy(m, op->h, cache, s, ws->ham);
    nqs_operator_connected(op, s, ws);
    double complex v = ws->diag;
    for (int k = 0; k < ws->n; k++) {
        double sg = 1;
        for (int l = 0; basis_sign && l < ws->n_flip[k]; l++) sg *= basis_sign[ws->site[k][l]];
        v += sg * ws->mel[k] * nqs_op_psi_ratio(m, cache, s, ws->n_flip[k], ws->site[k]);
    }
    return v;
}
