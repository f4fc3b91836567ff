/*
 * problem.h - build the lattice, Hamiltonian and (optionally) the model
 * described by the [lattice], [hamiltonian] and [model] sections of an input.
 *
 * [lattice]     type = chain|square|triangular, extent = 16 | 4,4,
 *               boundary = periodic|open (or one per direction: periodic,open)
 * [hamiltonian] type = <registry name>, the family's own keys (J, h, delta, J2,
 *               marshall_sign, ...), couplings = FILE (i j J_ij per line,
 *               replacing the nearest-neighbour couplings), disorder = none|uniform
 *               with disorder_min, disorder_max, disorder_seed,
 *               reference_energy (Pauli units) and reference_source (text)
 * [symmetry]    momentum = 0 | mx,my, point_group = none|A1|A2|B1|B2,
 *               spin_flip = none|even|odd, magnetisation = sum_i s_i
 * [model]       type = <registry name>, seed, init_std, the model's own keys
 */
#ifndef NQS_PROBLEM_H
#define NQS_PROBLEM_H

#include "config.h"
#include "hamiltonian.h"
#include "lattice.h"
#include "model.h"
#include "symmetry.h"

#define NQS_MAX_PLUGIN_OPTIONS 32

struct nqs_problem {
    struct nqs_lattice *lat;
    const struct nqs_ham_ops *ham_ops;
    struct nqs_opt_val ham_opt[NQS_MAX_PLUGIN_OPTIONS];
    struct nqs_ham *ham;

    /* [symmetry]: the sector sought (symmetry.h). magnetisation = sum_i s_i
     * (default N mod 2); sector_given = 1 when momentum is set or point_group
     * or spin_flip is not none (values, not the presence of the keys), and then sym is the sector's group (the space group
     * if point_group != none, else the translations), checked against the
     * Hamiltonian, with chi its characters (0 outside the sector's group). */
    int magnetisation;
    int sector_given;
    struct nqs_sector sector;
    struct nqs_symmetry *sym;
    double complex *chi;

    /* reference energy from the input, NAN when not given */
    double reference_energy;
    char reference_source[256];

    /* only with NQS_PROBLEM_MODEL: */
    const struct nqs_model_ops *model_ops;
    struct nqs_opt_val model_opt[NQS_MAX_PLUGIN_OPTIONS];
    struct nqs_model *model;  /* initialised from model_seed and init_std */
    unsigned long model_seed;
    double init_std;
};

enum { NQS_PROBLEM_MODEL = 1 };

/* Read the sections and build everything. The caller still calls
 * nqs_config_check_unused() after reading its own sections. NQS_EINVAL with a
 * message naming file, line and key on bad input. */
int nqs_problem_build(struct nqs_config *cfg, int flags, struct nqs_problem **out);
void nqs_problem_free(struct nqs_problem *p);

/* Allocate (not initialise) the model `ops` with the option values parsed
 * for it from [model] of `cfg`: used for a model's twin in `nqs info`. */
struct nqs_model *nqs_problem_model_alloc(struct nqs_config *cfg, const struct nqs_model_ops *ops,
                                          const struct nqs_lattice *lat);

/* --- added by the config branch --------------------------------------- */

/* Build only the lattice: reads [lattice] and the coupling keys of
 * [hamiltonian] (couplings, disorder, disorder_min, disorder_max,
 * disorder_seed) and applies the couplings file or the uniform disorder to the
 * nearest-neighbour bonds. nqs_problem_build() calls it first. The caller owns
 * *out (nqs_lattice_free). NQS_EINVAL/NQS_EIO with a message naming the key,
 * or the couplings file and its line. */
int nqs_problem_lattice(struct nqs_config *cfg, struct nqs_lattice **out);

/* Print the keys of [lattice], [hamiltonian] and [model] for --help: the core
 * keys and the options of every registered Hamiltonian and model. */
#include <stdio.h>
void nqs_problem_print_help(FILE *out);

#endif
