/*
 * reference.h - literature ground-state energies for systems too large for
 * exact diagonalisation (docs/physics.md "Exact references"), in Pauli units.
 */
#ifndef NQS_REFERENCE_H
#define NQS_REFERENCE_H

#include <stddef.h>

#include "hamiltonian.h"
#include "options.h"

/* 1 and energy/source filled if (lattice, Hamiltonian, options) matches a
 * table entry (uniform couplings, periodic boundaries, J > 0; energies scale
 * with J); 0 otherwise. */
int nqs_reference_lookup(const struct nqs_lattice *lat, const struct nqs_ham_ops *ops,
                         const struct nqs_opt_val *opt, double *energy, char *source, size_t len);

/* The same for a problem, but only in the default sector: no [symmetry]
 * momentum, point_group or spin_flip, and the default magnetisation (N mod 2)
 * for a Hamiltonian that conserves it. The table's values are ground states
 * of the whole space (its default block), not of another sector. */
struct nqs_problem;
int nqs_reference_lookup_problem(const struct nqs_problem *p, double *energy, char *source,
                                 size_t len);

#endif
