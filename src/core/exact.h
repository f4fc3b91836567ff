/*
 * exact.h - exact ground-state energy by Lanczos (ARPACK dsaupd/dseupd,
 * matrix-free, OpenMP-parallel matrix-vector products).
 *
 * Hamiltonians that conserve total sigma^z (h->conserves_sz) are diagonalised
 * in one magnetisation block: by default the one of smallest |magnetisation|,
 * sum_i s_i = 0 for even N and sum_i s_i = +1 for odd N (Pauli units: the
 * number of up spins is ceil(N/2)), or the one a sector names
 * (struct nqs_exact_sector, [symmetry] magnetisation). Every family in the
 * registry with conserves_sz is invariant under a global spin flip, so the
 * -1 block has the same spectrum; the default block's ground state is the global one for SU(2)-invariant families (heisenberg,
 * j1j2), not necessarily for xxz (e.g. delta < -1). Other Hamiltonians use the
 * full 2^N space. Energies are in Pauli units, like the Hamiltonians.
 *
 * Basis states are bit patterns x with bit i set iff s_i = +1. The sector
 * basis is the sorted list of patterns with a fixed popcount; the index of a
 * pattern is start[x >> n_lo] + rank_lo[x & (2^n_lo - 1)] (two tables of
 * size 2^(N/2), Lin, PRB 42, 6561 (1990)), two loads per lookup.
 *
 * Symmetry sectors (momentum, point-group irrep, spin-flip parity; conventions
 * in symmetry.h and docs/symmetry.md) are diagonalised in a basis of orbit
 * representatives of the magnetisation block (exact.c explains the method).
 */
#ifndef NQS_EXACT_H
#define NQS_EXACT_H

#include <complex.h>
#include <stddef.h>
#include <stdint.h>

#include "hamiltonian.h"
#include "symmetry.h"

struct nqs_problem;

/* The sector diagonalised. Pointers are borrowed for the duration of a call. */
struct nqs_exact_sector {
    int magnetisation;              /* sum_i s_i of the block; used when h->conserves_sz */
    const struct nqs_symmetry *sym; /* lattice symmetry group, NULL: none */
    const double complex *chi;      /* sym->n_elem characters, 0 outside the sector's group */
    int spin_flip;                  /* +1 even, -1 odd, 0: not part of the sector */
    struct nqs_sector sector;       /* momentum and irrep (descriptions only) */
};

struct nqs_exact_opts {
    double tol;        /* ARPACK relative tolerance on the Ritz estimate; 0 = machine precision.
                        * The energy error is ~ tol^2 |E| / gap: the default 1e-12 gives
                        * machine-precision energies with ~4x fewer products than 0. */
    int ncv;           /* Lanczos basis size (ARPACK ncv), >= 3; memory grows as ncv * dim */
    int max_restarts;  /* ARPACK implicit restarts allowed (iparam[2]) */
    size_t max_memory; /* bytes; 0 = 3/4 of physical memory (sysconf) */
    int translations;  /* compute <T> of one-step translations on periodic directions
                        * (plain magnetisation blocks only; a symmetry sector fixes k) */
    const struct nqs_exact_sector *sector; /* NULL: the default sector (nqs_exact_sector_default) */
};

struct nqs_exact_result {
    double energy;      /* ground-state energy of the sector (Pauli units) */
    int n_sites;
    int64_t dim;        /* dimension of the space diagonalised */
    int full_space;     /* 1: whole 2^N space; 0: fixed-magnetisation block */
    int magnetisation;  /* sum_i s_i of the block; 0 when full_space */
    int symmetric;      /* 1: symmetry-adapted basis (dim representatives of block_dim states) */
    int complex_basis;  /* 1: complex characters, a complex Hermitian matrix */
    int group_order;    /* elements of the sector's group, spin flip included (1: none) */
    int64_t block_dim;  /* dimension of the magnetisation block (or 2^N) */
    const char *method; /* "arpack" (Lanczos) or "lapack" (dense dsyev, dim <= 64) */
    int iterations;     /* ARPACK restarts used (0 for lapack) */
    int n_matvec;       /* matrix-vector products (0 for lapack) */
    size_t memory;      /* the memory estimate the solve was checked against, bytes */
    double seconds;     /* wall time of the solve */
    /* Ground-state expectation <psi|T_d|psi> of the one-site translation
     * along direction d, for d < n_dirs (dim of the lattice). NAN when the
     * direction is open or translations were not requested. `translation`
     * is in the basis the Hamiltonian uses (with the Marshall rotation if
     * h->marshall); `translation_physical` in the unrotated sigma^z basis. For a
     * non-degenerate ground state of a translation-invariant H this is the
     * eigenvalue cos k = +1 (k = 0) or -1 (k = pi); a value strictly between
     * means a degenerate ground state or a Hamiltonian without translation
     * symmetry (e.g. disordered couplings). */
    int n_dirs;
    double translation[2];
    double translation_physical[2];
};

/* Defaults: tol 1e-12, ncv 20, max_restarts 1000, max_memory 0, translations 1,
 * sector NULL. */
void nqs_exact_opts_default(struct nqs_exact_opts *o);

/* The default sector of h: magnetisation N mod 2, no symmetry. */
void nqs_exact_sector_default(const struct nqs_ham *h, struct nqs_exact_sector *s);

/* The sector of a problem's [symmetry] section (p->magnetisation, p->sym,
 * p->chi, p->sector; borrowed from p). */
void nqs_exact_sector_of_problem(const struct nqs_problem *p, struct nqs_exact_sector *s);

/* 1 when s is the default sector of h (no symmetry, magnetisation N mod 2 or
 * h does not conserve it): the sector the literature references refer to. */
int nqs_exact_sector_is_default(const struct nqs_exact_sector *s, const struct nqs_ham *h);

/* One line naming the sector, e.g. "sum_i s_i = 0" or "momentum (1,0) [k = 2 pi
 * (1/4, 0/4)], point group A1, spin flip even, sum_i s_i = 0"; "full space"
 * for a Hamiltonian without conserved magnetisation and no symmetry. */
void nqs_exact_sector_describe(const struct nqs_exact_sector *s, const struct nqs_ham *h,
                               const struct nqs_lattice *lat, char *buf, size_t len);

/* Dimension of the default block of h (sum_i s_i = N mod 2, or 2^N);
 * -1 if it does not fit in int64_t. */
int64_t nqs_exact_dimension(const struct nqs_ham *h);

/* Dimension of the block sum_i s_i = magnetisation (2^N when h does not
 * conserve it); 0 for an impossible magnetisation, -1 beyond int64_t. */
int64_t nqs_exact_block_dimension(const struct nqs_ham *h, int magnetisation);

/* Bytes the solve needs for h with options o (NULL = defaults): Lanczos
 * vectors (ncv + 3) * dim doubles, the diagonal (dim doubles), the basis
 * (dim 8-byte patterns) and the lookup tables. In a symmetry sector the
 * dimension is estimated as 2 block_dim / |G| + 64 (twice that in doubles for
 * complex characters) and the representative tables take 6 bytes per block
 * state. SIZE_MAX if that overflows. */
size_t nqs_exact_memory_estimate(const struct nqs_ham *h, const struct nqs_exact_opts *o);

/* The default limit: 3/4 of physical memory (sysconf), or SIZE_MAX/2 if unknown. */
size_t nqs_exact_default_memory_limit(void);

/* `bytes` as text with a binary unit ("1.5 GiB"), for messages. */
void nqs_exact_format_bytes(double bytes, char *buf, size_t len);

/* Lowest energy of h in the sector o->sector (default sector when o or
 * o->sector is NULL). Fills *r.
 * NQS_ENOMEM when the estimate exceeds the limit (message with both numbers)
 * or an allocation fails; NQS_EUNSUP for more than 62 sites or a dimension
 * beyond ARPACK's 32-bit integers; NQS_EINVAL for bad options, an impossible
 * magnetisation, a spin-flip parity at nonzero magnetisation, or a sector
 * without states (the message names the [symmetry] keys); NQS_ENUMERIC when
 * ARPACK fails or does not converge within max_restarts. */
int nqs_exact_solve(const struct nqs_ham *h, const struct nqs_exact_opts *o,
                    struct nqs_exact_result *r);

/* Ground state with default options and without translation expectations
 * (the VMC driver's reference energy: r->energy, r->dim). Errors as above. */
int nqs_exact_energy(const struct nqs_ham *h, struct nqs_exact_result *r);

/* The same in sector `s` (NULL: default). */
int nqs_exact_energy_sector(const struct nqs_ham *h, const struct nqs_exact_sector *s,
                            struct nqs_exact_result *r);

/* `nqs exact` (cli.h) is implemented in exact.c as well: builds [lattice] and
 * [hamiltonian], solves, prints text or one JSON object, and with -o FILE
 * writes the result as attributes of an HDF5 file's root group. The memory
 * limit can be lowered with the environment variable NQS_EXACT_MAX_MEMORY
 * (bytes, optional suffix K, M, G, T: powers of 1024). */

#endif
