/*
 * lattice.h - chains, square and triangular lattices with periodic or open
 * boundaries, their bonds, sublattices and translation group.
 *
 * Site numbering: a site with integer coordinates (x, y) has index
 * i = x + Lx * y (x fastest); a chain has y = 0. The triangular lattice uses
 * primitive vectors a1 = (1, 0), a2 = (1/2, sqrt(3)/2); nearest neighbours are
 * the offsets (1,0), (0,1), (1,-1) in (a1, a2) coordinates and next-nearest
 * neighbours (1,1), (-1,2), (2,-1).  Square lattice: nearest (1,0), (0,1),
 * next-nearest (1,1), (1,-1). Chain: nearest 1, next-nearest 2.
 *
 * Bonds are undirected pairs i < j listed once per neighbour order, even where
 * periodic wrapping reaches the same pair twice (small extents); self-bonds are
 * never listed. Periodic directions need extent >= 2, open ones extent >= 1
 * (the lattice needs at least two sites).
 */
#ifndef NQS_LATTICE_H
#define NQS_LATTICE_H

#include <stdint.h>

enum nqs_lattice_kind { NQS_LATTICE_CHAIN = 0, NQS_LATTICE_SQUARE = 1, NQS_LATTICE_TRIANGULAR = 2 };

#define NQS_MAX_DIM 2
#define NQS_N_ORDERS 2 /* neighbour orders kept: 0 nearest, 1 next-nearest */

struct nqs_bond {
    int i, j;   /* i < j */
    int order;  /* 0 nearest, 1 next-nearest */
    double w;   /* coupling weight: 1 for the plain lattice; with custom couplings
                   (file or disorder) the absolute nearest-neighbour coupling J_ij */
};

struct nqs_lattice {
    enum nqs_lattice_kind kind;
    int dim;                     /* 1 for chains, 2 otherwise */
    int extent[NQS_MAX_DIM];     /* sites per direction; extent[1] = 1 for chains */
    int periodic[NQS_MAX_DIM];   /* 1 periodic, 0 open, per direction */
    int n_sites;
    int *coord;                  /* n_sites x dim integer coordinates */
    double *pos;                 /* n_sites x 2 Cartesian positions (for structure factors) */

    int n_bonds;                 /* all orders together, order 0 first */
    struct nqs_bond *bonds;
    int n_bonds_order[NQS_N_ORDERS];
    int custom_couplings;        /* 1 if order-0 weights are absolute couplings */

    int bipartite;               /* nearest-neighbour graph two-colourable */
    int8_t *sublattice;          /* n_sites entries 0/1 (A/B) if bipartite, else NULL */

    /* Translation group: translations along periodic directions only.
     * n_trans = product of extents of the periodic directions (n_sites when
     * fully periodic, 1 when fully open). trans[t * n_sites + i] is the image
     * of site i under translation t; t = 0 is the identity; translation t is
     * by (t % n_tx, t / n_tx) lattice steps where n_tx = extent[0] if
     * periodic[0] else 1. trans_inv[t] is the index of the inverse. */
    int n_trans;
    int *trans;
    int *trans_inv;
    int fully_periodic;          /* every direction periodic: n_trans == n_sites */
};

/* Build a lattice. `extent` and `periodic` have `dim` entries where dim is 1
 * for chains and 2 otherwise. NULL with a message on impossible input. */
struct nqs_lattice *nqs_lattice_alloc(enum nqs_lattice_kind kind, const int *extent,
                                      const int *periodic);
void nqs_lattice_free(struct nqs_lattice *lat);

/* Replace the nearest-neighbour bonds by the list (i[k], j[k], J[k]), k < n,
 * given as absolute couplings (custom_couplings becomes 1). Sites are checked;
 * duplicate pairs and self-bonds are errors. Next-nearest bonds are kept. */
int nqs_lattice_set_couplings(struct nqs_lattice *lat, int n, const int *i, const int *j,
                              const double *J);

/* Largest |coupling| accepted anywhere (J, h, delta, J2, disorder bounds,
 * couplings files), in Pauli units: local energies sum O(N) such terms and
 * the exact solver squares them, so far larger values end in overflow and
 * solver noise. A Hamiltonian can always be rescaled. */
#define NQS_COUPLING_MAX 1e6

/* Read "i j J_ij" lines (blank lines and '#' comments allowed) and apply them
 * with nqs_lattice_set_couplings. Messages name path and line. Refused: a
 * path that is not a regular file (directory, device, pipe), lines of more
 * than NQS_COUPLINGS_MAX_LINE characters, NUL bytes, site indices outside
 * 0..n_sites-1 (parsed as long, never wrapped), |J_ij| > NQS_COUPLING_MAX,
 * more lines than site pairs. */
#define NQS_COUPLINGS_MAX_LINE 1023
int nqs_lattice_load_couplings(struct nqs_lattice *lat, const char *path);

/* Draw every nearest-neighbour coupling uniformly from [lo, hi] with a GSL
 * mt19937 stream seeded by `seed`, in bond order (reproducible everywhere). */
int nqs_lattice_disorder_uniform(struct nqs_lattice *lat, double lo, double hi,
                                 unsigned long seed);

/* Nearest-neighbour bonds have a weight other than 1 (translation symmetry of
 * the Hamiltonian is broken even on a periodic lattice). */
int nqs_lattice_is_disordered(const struct nqs_lattice *lat);

/* Site index of integer coordinates (x, y) (y = 0 for chains), wrapped in
 * periodic directions; -1 outside an open edge. */
int nqs_lattice_site(const struct nqs_lattice *lat, int x, int y);

/* The "forward" neighbour offsets (dx, dy) of `order` (0 nearest, 1
 * next-nearest) for `kind`, as listed above, into d; returns their number
 * (at most 3). */
int nqs_lattice_offsets(enum nqs_lattice_kind kind, int order, int d[3][2]);

/* Name of the kind ("chain", "square", "triangular"). */
const char *nqs_lattice_kind_name(enum nqs_lattice_kind kind);

/* Human-readable one-line description, e.g. "square 4x4 periodic,periodic (16 sites)". */
void nqs_lattice_describe(const struct nqs_lattice *lat, char *buf, int len);

#endif
