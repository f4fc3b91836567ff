/*
 * heisenberg.c - the SU(2)/U(1) exchange family in Pauli matrices, three
 * registry entries sharing one `connected` function:
 *
 *   heisenberg  H = sum_b J_b (sx_i sx_j + sy_i sy_j + sz_i sz_j)
 *   xxz         H = sum_b J_b (sx_i sx_j + sy_i sy_j + delta sz_i sz_j)
 *   j1j2        H = sum_nn J_b sigma_i.sigma_j + J2 sum_nnn sigma_i.sigma_j
 *
 * J_b = J * w_b over nearest-neighbour bonds on a plain lattice, J_b = w_b (the
 * absolute coupling; J ignored) with custom couplings (lattice.h). J > 0 is
 * antiferromagnetic. In the sigma^z basis (s_i = +1/-1) the diagonal element
 * is sum_b Jz_b s_i s_j (Jz_b = J_b, or delta J_b for xxz) and, because
 * sx sx + sy sy = 2 (s+ s- + s- s+), an antiparallel pair on bond b is
 * exchanged with the element 2 J_b.
 *
 * Marshall sign rule (Marshall, Proc. R. Soc. A 232, 48 (1955); docs/physics.md):
 * with marshall_sign on, the basis is rotated by (-1)^{N_up(A)}, which flips
 * the sign of the exchange element between sites on different sublattices
 * (-2 J_b) and keeps it between sites of the same sublattice (next-nearest
 * bonds of the square lattice and the chain: +2 J2). The spectrum is
 * unchanged. auto = on exactly when the (coupling) graph is bipartite.
 *
 * j1j2 on a lattice without next-nearest bonds (none is missing for the three
 * kinds here, but a 2-site chain has none) just has no J2 terms. Bonds that
 * coincide as site pairs (next-nearest pairs equal to nearest ones on tiny
 * periodic lattices, e.g. a 3-site ring) are merged into one pair whose
 * couplings add, so `connected` lists every s' at most once.
 */
#include <stdlib.h>

#include "error.h"
#include "hamiltonian.h"

enum heis_marshall_choice { HEIS_MARSHALL_AUTO, HEIS_MARSHALL_TRUE, HEIS_MARSHALL_FALSE };

/* Couplings in [-NQS_COUPLING_MAX, NQS_COUPLING_MAX] (lattice.h). */
#define HEIS_OPT_J                                                                             \
    {"J", NQS_OPT_REAL, "1",                                                                   \
     "nearest-neighbour exchange, H = J sum_<ij> sigma_i.sigma_j (J > 0 antiferromagnetic; "   \
     "ignored with custom couplings, which are absolute)",                                     \
     NULL, -NQS_COUPLING_MAX, NQS_COUPLING_MAX}
#define HEIS_OPT_MARSHALL                                                                      \
    {"marshall_sign", NQS_OPT_CHOICE, "auto",                                                  \
     "rotate the basis by the Marshall sign (-1)^N_up(A): exchange across sublattices becomes " \
     "-2J; auto = on for bipartite lattices",                                                  \
     "auto|true|false", 0, 0}

enum { HEIS_J, HEIS_MARSHALL, HEIS_N_OPT };
static const struct nqs_opt_def heisenberg_options[HEIS_N_OPT] = {
    [HEIS_J] = HEIS_OPT_J,
    [HEIS_MARSHALL] = HEIS_OPT_MARSHALL,
};

enum { XXZ_J, XXZ_DELTA, XXZ_MARSHALL, XXZ_N_OPT };
static const struct nqs_opt_def xxz_options[XXZ_N_OPT] = {
    [XXZ_J] = HEIS_OPT_J,
    [XXZ_DELTA] = {"delta", NQS_OPT_REAL, "1",
                   "anisotropy: H = sum J_ij (sx sx + sy sy + delta sz sz); delta = 1 is Heisenberg",
                   NULL, -NQS_COUPLING_MAX, NQS_COUPLING_MAX},
    [XXZ_MARSHALL] = HEIS_OPT_MARSHALL,
};

enum { J1J2_J, J1J2_J2, J1J2_MARSHALL, J1J2_N_OPT };
static const struct nqs_opt_def j1j2_options[J1J2_N_OPT] = {
    [J1J2_J] = HEIS_OPT_J,
    [J1J2_J2] = {"J2", NQS_OPT_REAL, "0",
                 "next-nearest-neighbour exchange, H = ... + J2 sum_<<ij>> sigma_i.sigma_j", NULL,
                 -NQS_COUPLING_MAX, NQS_COUPLING_MAX},
    [J1J2_MARSHALL] = HEIS_OPT_MARSHALL,
};

/* One site pair with its diagonal (zz) and exchange (flip) coefficients;
 * `flip` already carries the Marshall sign. */
struct heis_pair {
    int i, j;
    double zz, flip;
};

struct heis_state {
    int n_pairs;
    struct heis_pair *pair;
};

static void heis_free(void *state)
{
    struct heis_state *st = state;
    if (!st) return;
    free(st->pair);
    free(st);
}

static int heis_pair_cmp(const void *a, const void *b)
{
    const struct heis_pair *x = a, *y = b;
    return x->i != y->i ? (x->i > y->i) - (x->i < y->i) : (x->j > y->j) - (x->j < y->j);
}

/* Build the pair list. Nearest-neighbour bonds get (zz, flip) = (delta J_b,
 * 2 J_b); next-nearest ones (only when J2 != 0) (J2 w_b, 2 J2 w_b). */
static int heis_build(struct nqs_ham *h, const struct nqs_lattice *lat, double J, double delta,
                      double J2, const struct nqs_opt_val *marshall_opt)
{
    int marshall;
    switch (marshall_opt->i) {
    case HEIS_MARSHALL_TRUE:
        if (!lat->bipartite) {
            char desc[128];
            nqs_lattice_describe(lat, desc, sizeof desc);
            NQS_ERROR(NQS_EINVAL,
                      "marshall_sign = true needs a bipartite lattice, but %s is not bipartite "
                      "(accepted here: auto, false)",
                      desc);
        }
        marshall = 1;
        break;
    case HEIS_MARSHALL_FALSE: marshall = 0; break;
    default: marshall = lat->bipartite; break;
    }

    int nb = lat->n_bonds_order[0] + (J2 != 0.0 ? lat->n_bonds_order[1] : 0);
    struct heis_state *st = calloc(1, sizeof *st);
    if (st) st->pair = malloc((size_t)(nb > 0 ? nb : 1) * sizeof *st->pair);
    if (!st || !st->pair) {
        heis_free(st);
        NQS_ERROR(NQS_ENOMEM, "out of memory for the %s Hamiltonian on %d sites", h->ops->name,
                  lat->n_sites);
    }
    /* Nearest-neighbour pairs first, sorted by (i, j); every next-nearest
     * bond is then merged into an equal nearest pair (binary search) or
     * appended. Pairs within one order are distinct (lattice.h). */
    int n0 = lat->n_bonds_order[0], n = 0;
    for (int b = 0; b < nb; b++) {
        const struct nqs_bond *e = &lat->bonds[b];
        double Jb = e->order == 0 ? (lat->custom_couplings ? e->w : J * e->w) : J2 * e->w;
        double zz = e->order == 0 ? delta * Jb : Jb;
        double flip = 2.0 * Jb;
        if (marshall && lat->sublattice[e->i] != lat->sublattice[e->j]) flip = -flip;
        struct heis_pair key = {e->i, e->j, zz, flip}, *same = NULL;
        if (b == n0) qsort(st->pair, (size_t)n0, sizeof *st->pair, heis_pair_cmp);
        if (b >= n0) same = bsearch(&key, st->pair, (size_t)n0, sizeof *st->pair, heis_pair_cmp);
        if (same) {
            same->zz += zz;
            same->flip += flip;
        } else {
            st->pair[n++] = key;
        }
    }
    st->n_pairs = n;
    h->state = st;
    h->max_conn = n;
    h->conserves_sz = 1;
    h->marshall = marshall;
    return NQS_OK;
}

static int heisenberg_alloc(struct nqs_ham *h, const struct nqs_lattice *lat,
                            const struct nqs_opt_val *values)
{
    return heis_build(h, lat, values[HEIS_J].x, 1.0, 0.0, &values[HEIS_MARSHALL]);
}

static int xxz_alloc(struct nqs_ham *h, const struct nqs_lattice *lat,
                     const struct nqs_opt_val *values)
{
    return heis_build(h, lat, values[XXZ_J].x, values[XXZ_DELTA].x, 0.0, &values[XXZ_MARSHALL]);
}

static int j1j2_alloc(struct nqs_ham *h, const struct nqs_lattice *lat,
                      const struct nqs_opt_val *values)
{
    return heis_build(h, lat, values[J1J2_J].x, 1.0, values[J1J2_J2].x, &values[J1J2_MARSHALL]);
}

/* Branch-free: every pair writes a candidate entry at position n, which is
 * kept only for an antiparallel pair with a non-zero exchange (n <= k, so the
 * write stays inside max_conn = n_pairs). Two partial sums shorten the
 * floating-point dependency chain of the diagonal. */
static void heis_connected(const struct nqs_ham *h, const int8_t *s, struct nqs_conn *out)
{
    const struct heis_state *st = h->state;
    double d[2] = {0.0, 0.0};
    int n = 0;
    for (int k = 0; k < st->n_pairs; k++) {
        const struct heis_pair *p = &st->pair[k];
        int prod = s[p->i] * s[p->j];
        d[k & 1] += p->zz * prod;
        out->site[n][0] = p->i;
        out->site[n][1] = p->j;
        out->n_flip[n] = 2;
        out->mel[n] = p->flip;
        n += (prod < 0) & (p->flip != 0.0);
    }
    out->diag = d[0] + d[1];
    out->n = n;
}

const struct nqs_ham_ops nqs_ham_heisenberg = {
    .name = "heisenberg",
    .summary = "Heisenberg, H = sum_<ij> J_ij sigma_i.sigma_j (Pauli; 4x4 periodic E0 = -44.9139)",
    .options = heisenberg_options,
    .n_options = HEIS_N_OPT,
    .alloc = heisenberg_alloc,
    .free = heis_free,
    .connected = heis_connected,
};

const struct nqs_ham_ops nqs_ham_xxz = {
    .name = "xxz",
    .summary = "XXZ, H = sum_<ij> J_ij (sx sx + sy sy + delta sz sz) (Pauli)",
    .options = xxz_options,
    .n_options = XXZ_N_OPT,
    .alloc = xxz_alloc,
    .free = heis_free,
    .connected = heis_connected,
};

const struct nqs_ham_ops nqs_ham_j1j2 = {
    .name = "j1j2",
    .summary = "J1-J2, H = J sum_<ij> sigma_i.sigma_j + J2 sum_<<ij>> sigma_i.sigma_j (Pauli)",
    .options = j1j2_options,
    .n_options = J1J2_N_OPT,
    .alloc = j1j2_alloc,
    .free = heis_free,
    .connected = heis_connected,
};
