/*
 * basis.h - the bases of exact diagonalisation and exact enumeration, as bit
 * patterns (bit i set = spin i up):
 *   - all patterns of N <= 62 sites with a given number of up spins, in
 *     increasing order (nqs_basis_patterns; the sampler's exact enumeration
 *     uses it too);
 *   - a magnetisation block with its index tables: the index of a pattern x
 *     is start[x >> n_lo] + rank_lo[x & (2^n_lo - 1)] (Lin, PRB 42, 6561
 *     (1990)): patterns sorted numerically are grouped by their high bits,
 *     and within a group ordered by their low bits, all of one popcount;
 *   - the symmetry-adapted basis of a sector: orbit representatives under
 *     the sector's group, with the normalisation and the group element that
 *     maps each block state to its representative (the conventions are in
 *     exact.c's header and docs/symmetry.md).
 * Used by the Lanczos solver (exact.c) and the sampler (sampler.c).
 */
#ifndef NQS_BASIS_H
#define NQS_BASIS_H

#include <complex.h>
#include <stdint.h>

struct nqs_ham;
struct nqs_exact_sector;

#define NQS_BASIS_MAX_SITES 62

/* The bit patterns of N <= 62 sites with n_up set bits, or of all 2^N
 * configurations for n_up < 0, in increasing order. *out is malloc'd, *dim
 * its length. NQS_EINVAL for N > 62 (or the full space beyond 2^30),
 * NQS_ENOMEM. */
int nqs_basis_patterns(int n_sites, int n_up, uint64_t **out, int64_t *dim);

/* Binomial coefficient C(n, k) for n <= 62 (exact in uint64_t). */
uint64_t nqs_basis_binomial(int n, int k);

/* A magnetisation block of h (n_up up spins), or the full space when h does
 * not conserve the magnetisation. */
struct nqs_basis {
    int n_sites;
    int full;          /* 1: index == pattern */
    int n_up;          /* popcount of every pattern (sector only) */
    int64_t dim;
    uint64_t *state;   /* dim patterns in increasing order (sector only) */
    int n_lo;          /* low bits handled by rank_lo */
    uint64_t lo_mask;
    uint32_t *start;   /* 2^(N - n_lo): index of the first pattern with these high bits */
    uint32_t *rank_lo; /* 2^n_lo: rank of the low bits among those of equal popcount */
};

static inline uint64_t nqs_basis_pattern(const struct nqs_basis *b, int64_t r)
{
    return b->full ? (uint64_t)r : b->state[r];
}

static inline int64_t nqs_basis_index(const struct nqs_basis *b, uint64_t x)
{
    if (b->full) return (int64_t)x;
    return (int64_t)b->start[x >> b->n_lo] + (int64_t)b->rank_lo[x & b->lo_mask];
}

/* dim must be the block's dimension (nqs_exact_block_dimension). NQS_ENOMEM. */
int nqs_basis_build(struct nqs_basis *b, const struct nqs_ham *h, int n_up, int64_t dim);
void nqs_basis_free(struct nqs_basis *b);

/* The sector's group acting on bit patterns: the elements of sym with a
 * nonzero character (translations and the little co-group kept), times
 * {1, F} with F the global spin flip when the sector has a flip parity.
 * Element 0 is the identity. A permutation is applied with byte tables:
 * tab[(q * n_bytes + k) * 256 + v] is the image of the bits 8k..8k+7 of a
 * pattern with value v there, under permutation q. */
struct nqs_basis_group {
    int n;               /* elements, spin flip included */
    int n_perm;          /* distinct permutations */
    int n_bytes;
    uint64_t mask;       /* the N low bits */
    uint64_t *tab;       /* n_perm x n_bytes x 256 */
    int *perm_of;        /* n: permutation of the element */
    int *flip;           /* n: 1 when the element includes the spin flip */
    double complex *chi; /* n: character */
};

/* Symmetry-adapted basis: representatives r (the smallest pattern of their
 * orbit, kept when the character is 1 on the stabiliser) with basis vectors
 * |r~> = O_r^-1/2 sum_{s in orbit(r)} chi(h_s) |s>, h_s r = s. */
struct nqs_basis_sym {
    struct nqs_basis_group G;
    int cplx;             /* some character is not real */
    int64_t n_rep;
    uint64_t *rep;        /* n_rep patterns */
    double *sqrt_orbit;   /* n_rep: sqrt(O_r) */
    int32_t *rep_of;      /* block dim: representative of each pattern, -1 if its orbit is not in the sector */
    uint16_t *elem_of;    /* block dim: an element h with h r = pattern */
};

/* Representatives of the block b in sector s. NQS_ENOMEM, NQS_EUNSUP (more
 * than 65535 group elements or 2^31 representatives). */
int nqs_basis_sym_build(struct nqs_basis_sym *y, const struct nqs_basis *b,
                        const struct nqs_exact_sector *s);
void nqs_basis_sym_free(struct nqs_basis_sym *y);

#endif
