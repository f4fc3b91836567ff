/*
 * basis.c - bit-pattern bases for exact diagonalisation and enumeration
 * (basis.h): Gosper's enumeration of fixed-popcount patterns, the Lin index
 * tables of a magnetisation block, and the symmetry-adapted basis of orbit
 * representatives (exact.c's header states the method and its references).
 */
#include "basis.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "exact.h"
#include "hamiltonian.h"
#include "symmetry.h"

/* Binomial coefficient C(n, k) for n <= 62 (exact in uint64_t, Pascal's rule). */
uint64_t nqs_basis_binomial(int n, int k)
{
    if (k < 0 || k > n) return 0;
    uint64_t row[NQS_BASIS_MAX_SITES + 1] = {1};
    for (int m = 1; m <= n; m++)
        for (int j = m; j > 0; j--) row[j] += row[j - 1];
    return row[k];
}

void nqs_basis_free(struct nqs_basis *b)
{
    free(b->state);
    free(b->start);
    free(b->rank_lo);
}

int nqs_basis_patterns(int n_sites, int n_up, uint64_t **out, int64_t *dim)
{
    *out = NULL;
    *dim = 0;
    if (n_sites < 0 || n_sites > NQS_BASIS_MAX_SITES || (n_up < 0 && n_sites > 30))
        NQS_ERROR(NQS_EINVAL, "cannot list the configurations of %d sites", n_sites);
    int64_t d = n_up < 0 ? (int64_t)1 << n_sites : (int64_t)nqs_basis_binomial(n_sites, n_up);
    uint64_t *x = malloc((size_t)(d > 0 ? d : 1) * sizeof *x);
    if (!x) NQS_ERROR(NQS_ENOMEM, "out of memory for a basis of %lld states", (long long)d);
    if (n_up < 0) {
        for (int64_t r = 0; r < d; r++) x[r] = (uint64_t)r;
    } else if (d > 0) {
        /* Gosper's hack: the next larger pattern with the same popcount. */
        uint64_t v = ((uint64_t)1 << n_up) - 1;
        for (int64_t r = 0; r < d; r++) {
            x[r] = v;
            uint64_t c = v & (~v + 1), rr = v + c;
            v = c ? (((rr ^ v) >> 2) / c) | rr : 0; /* n_up = 0: the single pattern 0 */
        }
    }
    *out = x;
    *dim = d;
    return NQS_OK;
}

int nqs_basis_build(struct nqs_basis *b, const struct nqs_ham *h, int n_up, int64_t dim)
{
    int N = h->n_sites;
    memset(b, 0, sizeof *b);
    b->n_sites = N;
    b->dim = dim;
    if (!h->conserves_sz) {
        b->full = 1;
        return NQS_OK;
    }
    b->n_up = n_up;
    b->n_lo = N / 2;
    b->lo_mask = ((uint64_t)1 << b->n_lo) - 1;
    size_t n_lo_tab = (size_t)1 << b->n_lo, n_hi_tab = (size_t)1 << (N - b->n_lo);
    int64_t d;
    NQS_TRY(nqs_basis_patterns(N, b->n_up, &b->state, &d));
    b->start = calloc(n_hi_tab, sizeof *b->start);
    b->rank_lo = malloc(n_lo_tab * sizeof *b->rank_lo);
    if (!b->start || !b->rank_lo) {
        nqs_basis_free(b);
        NQS_ERROR(NQS_ENOMEM, "out of memory for a basis of %lld states", (long long)dim);
    }
    uint32_t count[NQS_BASIS_MAX_SITES + 1] = {0};
    for (size_t lo = 0; lo < n_lo_tab; lo++) b->rank_lo[lo] = count[__builtin_popcountll(lo)]++;
    uint64_t prev_hi = UINT64_MAX;
    for (int64_t r = 0; r < dim; r++) {
        uint64_t hi = b->state[r] >> b->n_lo;
        if (hi != prev_hi) {
            b->start[hi] = (uint32_t)r; /* first pattern of the group has rank_lo 0 */
            prev_hi = hi;
        }
    }
    return NQS_OK;
}

static void basis_group_free(struct nqs_basis_group *G)
{
    free(G->tab);
    free(G->perm_of);
    free(G->flip);
    free(G->chi);
}

void nqs_basis_sym_free(struct nqs_basis_sym *y)
{
    if (!y) return;
    basis_group_free(&y->G);
    free(y->rep);
    free(y->sqrt_orbit);
    free(y->rep_of);
    free(y->elem_of);
}

static inline uint64_t basis_group_apply(const struct nqs_basis_group *G, int e, uint64_t x)
{
    const uint64_t *t = G->tab + (size_t)G->perm_of[e] * (size_t)G->n_bytes * 256;
    uint64_t y = 0;
    for (int k = 0; k < G->n_bytes; k++) y |= t[k * 256 + ((x >> (8 * k)) & 0xff)];
    return G->flip[e] ? ~y & G->mask : y;
}

static int basis_group_build(struct nqs_basis_group *G, const struct nqs_exact_sector *s, int N)
{
    memset(G, 0, sizeof *G);
    const struct nqs_symmetry *sym = s->sym;
    int n_g = sym ? sym->n_elem : 1;
    G->n_bytes = (N + 7) / 8;
    G->mask = N == 64 ? ~(uint64_t)0 : ((uint64_t)1 << N) - 1;
    int n_max = 2 * n_g;
    G->tab = calloc((size_t)n_g * (size_t)G->n_bytes * 256, sizeof *G->tab);
    G->perm_of = malloc((size_t)n_max * sizeof *G->perm_of);
    G->flip = malloc((size_t)n_max * sizeof *G->flip);
    G->chi = malloc((size_t)n_max * sizeof *G->chi);
    if (!G->tab || !G->perm_of || !G->flip || !G->chi) {
        basis_group_free(G);
        NQS_ERROR(NQS_ENOMEM, "out of memory for the symmetry tables of %d elements", n_max);
    }
    for (int g = 0; g < n_g; g++) {
        if (sym && s->chi[g] == 0) continue;
        int q = G->n_perm++;
        for (int i = 0; i < N; i++) {
            int to = sym ? sym->perm[(size_t)g * (size_t)N + (size_t)i] : i; /* bit i -> bit perm(i) */
            uint64_t *t = G->tab + ((size_t)q * (size_t)G->n_bytes + (size_t)(i / 8)) * 256;
            for (int v = 0; v < 256; v++)
                if ((v >> (i % 8)) & 1) t[v] |= (uint64_t)1 << to;
        }
        G->perm_of[G->n] = q;
        G->flip[G->n] = 0;
        G->chi[G->n] = sym ? s->chi[g] : 1.0;
        G->n++;
    }
    if (s->spin_flip) {
        int n0 = G->n;
        for (int e = 0; e < n0; e++) {
            G->perm_of[G->n] = G->perm_of[e];
            G->flip[G->n] = 1;
            G->chi[G->n] = G->chi[e] * (double)s->spin_flip;
            G->n++;
        }
    }
    if (G->n > 65535) {
        basis_group_free(G);
        NQS_ERROR(NQS_EUNSUP, "exact: a symmetry group of %d elements is too large (at most 65535)",
                  G->n);
    }
    return NQS_OK;
}

/* Representatives of block b: patterns in increasing order; the first one
 * not yet reached is the smallest of its orbit. Cost: |G| applications per
 * orbit, i.e. about one per block state. */
int nqs_basis_sym_build(struct nqs_basis_sym *y, const struct nqs_basis *b,
                           const struct nqs_exact_sector *s)
{
    memset(y, 0, sizeof *y);
    NQS_TRY(basis_group_build(&y->G, s, b->n_sites));
    const struct nqs_basis_group *G = &y->G;
    for (int e = 0; e < G->n; e++)
        if (fabs(cimag(G->chi[e])) > 1e-12) y->cplx = 1;
    int64_t dim = b->dim, cap = 1024;
    y->rep_of = malloc((size_t)dim * sizeof *y->rep_of);
    y->elem_of = malloc((size_t)dim * sizeof *y->elem_of);
    y->rep = malloc((size_t)cap * sizeof *y->rep);
    y->sqrt_orbit = malloc((size_t)cap * sizeof *y->sqrt_orbit);
    if (!y->rep_of || !y->elem_of || !y->rep || !y->sqrt_orbit) goto nomem;
    for (int64_t j = 0; j < dim; j++) y->rep_of[j] = -2; /* not reached yet */
    for (int64_t j = 0; j < dim; j++) {
        if (y->rep_of[j] != -2) continue;
        uint64_t x = nqs_basis_pattern(b, j);
        int ok = 1;
        int64_t orbit = 0;
        if (y->n_rep > INT32_MAX - 1) {
            nqs_basis_sym_free(y);
            NQS_ERROR(NQS_EUNSUP, "exact: more than 2^31 representatives");
        }
        for (int e = 0; e < G->n; e++) {
            uint64_t gx = basis_group_apply(G, e, x);
            int64_t k = nqs_basis_index(b, gx);
            /* The stabiliser must act trivially, or the projection of x vanishes. */
            if (gx == x && cabs(G->chi[e] - 1.0) > 1e-9) ok = 0;
            if (y->rep_of[k] == -2) {
                y->rep_of[k] = (int32_t)y->n_rep;
                y->elem_of[k] = (uint16_t)e;
                orbit++;
            }
        }
        if (!ok) {
            for (int e = 0; e < G->n; e++) y->rep_of[nqs_basis_index(b, basis_group_apply(G, e, x))] = -1;
            continue;
        }
        if (y->n_rep == cap) {
            cap *= 2;
            uint64_t *nr = realloc(y->rep, (size_t)cap * sizeof *nr);
            if (nr) y->rep = nr;
            double *no = realloc(y->sqrt_orbit, (size_t)cap * sizeof *no);
            if (no) y->sqrt_orbit = no;
            if (!nr || !no) goto nomem;
        }
        y->rep[y->n_rep] = x;
        y->sqrt_orbit[y->n_rep] = sqrt((double)orbit);
        y->n_rep++;
    }
    return NQS_OK;
nomem:
    nqs_basis_sym_free(y);
    NQS_ERROR(NQS_ENOMEM, "out of memory for the symmetry-adapted basis of %lld states",
              (long long)dim);
}
