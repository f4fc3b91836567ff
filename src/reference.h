/*
 * reference.h - literature ground-state energies for systems too large for
 * exact diagonalisation (DESIGN.md "Reference energies"), in Pauli units.
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

#endif
