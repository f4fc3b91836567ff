/*
 * hamiltonian.h - the Hamiltonian plug-in interface.
 *
 * Conventions (docs/physics.md "Conventions"): spins s_i in {-1, +1} stored as int8_t, s_i = +1 is
 * spin up along z; operators are Pauli matrices (NetKet / varbench convention).
 * Every family here is 2-local, so a connected configuration differs from s in
 * one or two sites. Matrix elements are real in the sigma^z basis for all
 * families (with or without the Marshall sign rotation).
 *
 * For a configuration s, `connected` returns the diagonal element H_ss and the
 * off-diagonal elements H_ss' != 0 as (sites flipped to go from s to s', value).
 * The local energy uses model ratios psi(s')/psi(s) for these, never full
 * re-evaluations.
 */
#ifndef NQS_HAMILTONIAN_H
#define NQS_HAMILTONIAN_H

#include <complex.h>
#include <stdint.h>

#include "lattice.h"
#include "options.h"

#define NQS_MAX_FLIP 2

struct nqs_conn {
    int n;                         /* number of off-diagonal elements filled */
    double diag;                   /* H_ss */
    /* element k: s' = s with sites site[k][0..n_flip[k]) flipped, H_ss' = mel[k] */
    int (*site)[NQS_MAX_FLIP];     /* max_conn entries, owned by the caller */
    int *n_flip;                   /* max_conn entries */
    double *mel;                   /* max_conn entries */
};

struct nqs_ham;

struct nqs_ham_ops {
    const char *name;        /* input name: [hamiltonian] type = name */
    const char *summary;     /* one line with the formula and convention */
    const struct nqs_opt_def *options; /* keys of [hamiltonian] besides the common ones */
    int n_options;
    /* Build the state for `lat` (borrowed, outlives h) and options (aligned
     * with `options`). Must set h->state, h->max_conn, h->conserves_sz,
     * h->marshall. NQS_EINVAL with a message for impossible combinations. */
    int (*alloc)(struct nqs_ham *h, const struct nqs_lattice *lat,
                 const struct nqs_opt_val *values);
    void (*free)(void *state);
    /* Fill `out` for configuration s (n_sites entries). Thread safe; no allocation. */
    void (*connected)(const struct nqs_ham *h, const int8_t *s, struct nqs_conn *out);
};

struct nqs_ham {
    const struct nqs_ham_ops *ops;
    void *state;
    const struct nqs_lattice *lat; /* borrowed */
    int n_sites;
    int max_conn;        /* upper bound on out->n for any s */
    int conserves_sz;    /* commutes with total sigma^z: sample at fixed magnetisation */
    int marshall;        /* the Marshall sign rotation is applied to the basis */
};

/* Registry (src/core/registry.c): NULL-terminated list and lookup. nqs_ham_find
 * returns NULL and sets a message listing the valid names for an unknown name. */
extern const struct nqs_ham_ops *const nqs_ham_registry[];
const struct nqs_ham_ops *nqs_ham_find(const char *name);

/* Allocate a Hamiltonian of family `ops`. NULL with a message on failure. */
struct nqs_ham *nqs_ham_alloc(const struct nqs_ham_ops *ops, const struct nqs_lattice *lat,
                              const struct nqs_opt_val *values);
void nqs_ham_free(struct nqs_ham *h);

/* Workspace for `connected`: arrays sized from h->max_conn. */
struct nqs_conn *nqs_conn_alloc(const struct nqs_ham *h);
void nqs_conn_free(struct nqs_conn *c);

/* Local energy E_loc(s) = sum_s' H_ss' psi(s')/psi(s) of the model m, with
 * `cache` valid for s; `conn` a workspace of h. The hot loop of sampling. */
struct nqs_model;
double complex nqs_local_energy(const struct nqs_model *m, const struct nqs_ham *h,
                                void *cache, const int8_t *s, struct nqs_conn *conn);

#endif
