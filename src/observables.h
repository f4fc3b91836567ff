/*
 * observables.h - observables measured in the final evaluation of a run, from
 * the same Markov-chain samples as the energy. Pauli operators, s_i = +-1.
 *
 *   magnetisation_sq  m^2 = (sum_i s_i / N)^2                      (diagonal)
 *   nn_correlation    C = (1/N_b) sum_<ij> s_i s_j, nearest bonds  (diagonal, zz part)
 *   structure_factor  S(q) = |sum_i e^{i q.r_i} s_i|^2 / N        (diagonal)
 *                     q in units of pi per Cartesian unit length (lattice.h positions)
 *   sx                <sigma^x> = (1/N) sum_i psi(s with i flipped)/psi(s)  (off-diagonal)
 */
#ifndef NQS_OBSERVABLES_H
#define NQS_OBSERVABLES_H

#include <complex.h>
#include <stdint.h>

#include "lattice.h"
#include "model.h"
#include "options.h"

#define NQS_OBS_MAX 4

struct nqs_obs {
    int n;                          /* observables switched on */
    int kind[NQS_OBS_MAX];
    char name[NQS_OBS_MAX][32];
    double q[2];                    /* structure-factor momentum (radians per unit length) */
    const struct nqs_lattice *lat;  /* borrowed */
};

extern const struct nqs_opt_def nqs_obs_options[];
extern const int nqs_obs_n_options;

/* From parsed [observables] values. NQS_EINVAL for a malformed momentum. */
int nqs_obs_setup(struct nqs_obs *obs, const struct nqs_opt_val *v, const struct nqs_lattice *lat);

/* Values of every switched-on observable for configuration s whose model
 * cache is valid: out[k], k < obs->n. No allocation. */
void nqs_obs_eval(const struct nqs_obs *obs, const struct nqs_model *m, void *cache, const int8_t *s,
                  double complex *out);

#endif
