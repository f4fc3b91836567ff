/*
 * operator.h - spin operators with complex matrix elements in the sigma^z
 * basis, and their local estimators for a variational state.
 *
 * An operator O is described, for a configuration s, by its connected
 * elements: the diagonal O(s,s) and the list of (s', O(s,s')) with s' != s,
 * each s' given as the sites flipped to go from s to s'. Its local estimator
 * (docs/physics.md "Observables") is
 *     O_loc(s) = sum_s' O(s,s') psi(s')/psi(s),
 * so <psi|O|psi>/<psi|psi> = E_{|psi|^2}[O_loc]; the ratios come from the
 * model's ratio operations on a chain's cache (never full re-evaluations).
 *
 * Two implementations share this interface:
 *  - Pauli sums: O = sum_t c_t prod_k sigma^{a_tk}_{i_tk} with complex c_t,
 *    a in {x, y, z}, at most NQS_OP_MAX_FLIP distinct sites per term. Pauli
 *    matrices, s_i = +1 is spin up: <s|sigma^z_i|s> = s_i,
 *    <s|sigma^x_i|s^i> = 1, <s|sigma^y_i|s^i> = -i s_i (s^i: s with i
 *    flipped). Terms with the same set of x/y sites connect s to the same s'
 *    and are merged when the operator is finalised, so e.g.
 *    sigma^x_i sigma^x_j + sigma^y_i sigma^y_j costs one ratio, and none when
 *    s_i = s_j (the elements cancel).
 *  - A Hamiltonian (hamiltonian.h) wrapped as an operator (connected gives
 *    its real elements as complex ones; the local estimator is
 *    nqs_local_energy).
 *
 * Why the Hamiltonian keeps its own path: the local energy in the sampler's
 * hot loop (nqs_local_energy, hamiltonian.c) multiplies the Hamiltonian's real
 * elements by the ratios. Routing it through this interface would add an
 * indirect call per configuration, a copy of every element into complex
 * form and a full complex product per element (a __muldc3 call under C99's
 * Annex G rules) where a real-times-complex product suffices; for finite
 * numbers the values are the same, so nothing is gained for the cost. The
 * wrapped form is for generic code (tests; H measured as one operator among
 * others); nqs_operator_local on a wrapped H calls nqs_local_energy.

 * Thread safety: an operator is read-only after nqs_operator_finalize;
 * nqs_operator_connected and nqs_operator_local write only the caller's
 * workspace (nqs_op_conn_alloc, one per thread) and allocate nothing.
 */
#ifndef NQS_OPERATOR_H
#define NQS_OPERATOR_H

#include <complex.h>
#include <stdint.h>

#include "hamiltonian.h"
#include "model.h"

#define NQS_OP_MAX_FLIP 4

/* Connected elements of one configuration (caller-owned workspace). */
struct nqs_op_conn {
    int n;                           /* off-diagonal elements filled */
    double complex diag;             /* O(s,s) */
    int (*site)[NQS_OP_MAX_FLIP];    /* element k flips site[k][0 .. n_flip[k]) */
    int *n_flip;
    double complex *mel;             /* O(s,s') */
    struct nqs_conn *ham;            /* wrapped Hamiltonian: its own workspace */
};

struct nqs_op_term {
    double complex c;
    int n;                           /* sites of the term */
    int site[NQS_OP_MAX_FLIP];
    char pauli[NQS_OP_MAX_FLIP];     /* 'x', 'y' or 'z' */
    int order;                       /* index in the order of nqs_operator_add */
};

struct nqs_operator {
    char name[64];
    int n_sites;
    int max_conn;                    /* upper bound on the off-diagonal elements */
    /* Pauli sum */
    int n_terms, cap_terms;
    struct nqs_op_term *terms;
    /* after nqs_operator_finalize: terms sorted into groups of equal flip set;
     * group g holds terms [group_start[g], group_start[g + 1]), flips
     * group_flip[g][0 .. group_nflip[g]) (0 sites: the diagonal group) */
    int n_groups;
    int *group_start;
    int (*group_flip)[NQS_OP_MAX_FLIP];
    int *group_nflip;
    int finalized;
    const struct nqs_ham *h;         /* non-NULL: a wrapped Hamiltonian, no terms */
};

/* An empty Pauli sum on n_sites sites. NULL with a message. */
struct nqs_operator *nqs_operator_alloc(int n_sites, const char *name);
/* The Hamiltonian h (borrowed) as an operator. NULL with a message. */
struct nqs_operator *nqs_operator_from_ham(const struct nqs_ham *h);
void nqs_operator_free(struct nqs_operator *op);

/* Add the term c * prod_k sigma^{paulis[k]}_{sites[k]} (paulis a string of
 * 'x', 'y', 'z' of length <= NQS_OP_MAX_FLIP; sites distinct and in range).
 * NQS_EINVAL naming the problem, NQS_ENOMEM. */
int nqs_operator_add(struct nqs_operator *op, double complex c, const char *paulis, const int *sites);

/* Group the terms by flip set (required before use; adding after it is an error). */
int nqs_operator_finalize(struct nqs_operator *op);

/* Workspace for connected/local of `op`. NULL with a message. */
struct nqs_op_conn *nqs_op_conn_alloc(const struct nqs_operator *op);
void nqs_op_conn_free(struct nqs_op_conn *c);

/* Connected elements of s. Elements that vanish exactly are left out. */
void nqs_operator_connected(const struct nqs_operator *op, const int8_t *s, struct nqs_op_conn *out);

/* psi(s')/psi(s) for s' = s with sites f[0 .. n) flipped, from the model's
 * psi_ratio or else cexp(log_psi_ratio) (model.h); `cache` valid for s.
 * Shared by the operator and observable estimators. */
static inline double complex nqs_op_psi_ratio(const struct nqs_model *m, void *cache, const int8_t *s,
                                              int n, const int *f)
{
    if (m->ops->psi_ratio) return m->ops->psi_ratio(m, cache, s, n, f);
    return cexp(m->ops->log_psi_ratio(m, cache, s, n, f));
}

/* O_loc(s) with `cache` valid for s. `basis_sign` (NULL: none) is for a
 * model written in a sign-rotated basis psi~(s) = sign(s) psi(s) with
 * sign(s') / sign(s) = prod over flipped sites i of basis_sign[i] (the
 * Marshall rotation (-1)^{N_up(A)}: -1 on sublattice A): the elements of a
 * Pauli sum (physical basis) are then taken with that factor. A wrapped
 * Hamiltonian is already in the model's basis and ignores it. */
double complex nqs_operator_local(const struct nqs_operator *op, const struct nqs_model *m,
                                  void *cache, const int8_t *s, struct nqs_op_conn *ws,
                                  const int8_t *basis_sign);

#endif
