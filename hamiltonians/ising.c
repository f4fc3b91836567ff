/*
 * ising.c - transverse-field Ising model in Pauli matrices,
 *
 *     H = - sum_b J_b sigma^z_i sigma^z_j  -  h sum_i sigma^x_i ,
 *
 * over the nearest-neighbour (order 0) bonds b = (i, j) of the lattice.
 * J_b = J * w_b on a plain lattice (w_b = 1) and J_b = w_b, the absolute
 * coupling, when the lattice carries custom couplings (file or disorder; the
 * key J is then ignored). J > 0 is ferromagnetic. Spins s_i = +1/-1 are the
 * sigma^z eigenvalues, so the diagonal element is -sum_b J_b s_i s_j and each
 * single-site flip s -> s' (s'_i = -s_i) has the element -h. The periodic
 * chain is solved by the Jordan-Wigner transformation (Pfeuty, Ann. Phys. 57,
 * 79 (1970)); see docs/physics.md for the formula the tests use.
 */
#include <stdlib.h>

#include "error.h"
#include "hamiltonian.h"

/* Couplings in [-NQS_COUPLING_MAX, NQS_COUPLING_MAX] (lattice.h). */
enum { ISING_J, ISING_H, ISING_N_OPT };

static const struct nqs_opt_def ising_options[ISING_N_OPT] = {
    [ISING_J] = {"J", NQS_OPT_REAL, "1",
                 "zz coupling, H = -J sum_<ij> sz_i sz_j (J > 0 ferromagnetic; ignored with custom "
                 "couplings, which are absolute)",
                 NULL, -NQS_COUPLING_MAX, NQS_COUPLING_MAX},
    [ISING_H] = {"h", NQS_OPT_REAL, "1", "transverse field, H = ... - h sum_i sx_i", NULL,
                 -NQS_COUPLING_MAX, NQS_COUPLING_MAX},
};

struct ising_state {
    int n_bonds;
    int (*bond)[2]; /* nearest-neighbour pairs (i, j) */
    double *Jb;     /* J_b per bond */
    double h;
};

static void ising_free(void *state)
{
    struct ising_state *st = state;
    if (!st) return;
    free(st->bond);
    free(st->Jb);
    free(st);
}

static int ising_alloc(struct nqs_ham *h, const struct nqs_lattice *lat,
                       const struct nqs_opt_val *values)
{
    struct ising_state *st = calloc(1, sizeof *st);
    int nb = lat->n_bonds_order[0];
    if (st) {
        st->bond = malloc((size_t)(nb > 0 ? nb : 1) * sizeof *st->bond);
        st->Jb = malloc((size_t)(nb > 0 ? nb : 1) * sizeof *st->Jb);
    }
    if (!st || !st->bond || !st->Jb) {
        ising_free(st);
        NQS_ERROR(NQS_ENOMEM, "out of memory for the Ising Hamiltonian on %d sites", lat->n_sites);
    }
    double J = values[ISING_J].x;
    /* Order-0 bonds come first in lat->bonds (lattice.h). */
    for (int b = 0; b < nb; b++) {
        const struct nqs_bond *e = &lat->bonds[b];
        st->bond[b][0] = e->i;
        st->bond[b][1] = e->j;
        st->Jb[b] = lat->custom_couplings ? e->w : J * e->w;
    }
    st->n_bonds = nb;
    st->h = values[ISING_H].x;
    h->state = st;
    h->max_conn = lat->n_sites;
    h->conserves_sz = 0;
    h->marshall = 0;
    return NQS_OK;
}

static void ising_connected(const struct nqs_ham *h, const int8_t *s, struct nqs_conn *out)
{
    const struct ising_state *st = h->state;
    double d = 0.0;
    for (int b = 0; b < st->n_bonds; b++) d -= st->Jb[b] * s[st->bond[b][0]] * s[st->bond[b][1]];
    out->diag = d;
    out->n = 0;
    if (st->h == 0.0) return;
    for (int i = 0; i < h->n_sites; i++) {
        out->site[i][0] = i;
        out->n_flip[i] = 1;
        out->mel[i] = -st->h;
    }
    out->n = h->n_sites;
}

const struct nqs_ham_ops nqs_ham_ising = {
    .name = "ising",
    .summary = "transverse-field Ising, H = -sum_<ij> J_ij sz_i sz_j - h sum_i sx_i (Pauli)",
    .options = ising_options,
    .n_options = ISING_N_OPT,
    .alloc = ising_alloc,
    .free = ising_free,
    .connected = ising_connected,
};
