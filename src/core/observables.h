/*
 * observables.h - observables measured from the Markov-chain samples of a
 * variational state (final evaluation, `[observables] every = K` during the
 * run, `nqs measure`). Pauli operators, s_i = +-1; each observable is the
 * Monte Carlo mean of a local estimator O_loc(s) (operator.h), with an
 * autocorrelation-aware error (stats.h). Definitions (docs/physics.md
 * "Observables", layout in docs/results-format.md):
 *
 * Scalars (attributes of /result/observables, as before):
 *   magnetisation_sq   m^2 = (sum_i s_i / N)^2                          (diagonal)
 *   staggered_magnetisation_sq  m_s^2 = (sum_i eps_i s_i / N)^2, eps = +1 on
 *                      sublattice A, -1 on B (bipartite lattices)      (diagonal)
 *   nn_correlation     C = (1/N_b) sum_<ij> s_i s_j, nearest bonds     (diagonal, zz part)
 *   structure_factor   S(q) = |sum_i e^{i q.r_i} s_i|^2 / N at one q   (diagonal)
 *                      q in units of pi per Cartesian unit length (lattice.h positions)
 *   sx                 <sigma^x> = (1/N) sum_i psi(s^i)/psi(s)          (off-diagonal)
 * Vectors (groups of /result/observables with value, error, coordinates):
 *   correlation_zz(r)   (1/N_r) sum_{(i,j): r_j - r_i = r} <s_i s_j>
 *   correlation_full(r) (1/N_r) sum_{(i,j): r_j - r_i = r} <sigma_i . sigma_j>;
 *                       sigma_i.sigma_j = s_i s_j + 2 [s_i != s_j] psi(s^{ij})/psi(s)
 *                       for i != j, 3 for i = j
 *     The sum runs over ordered site pairs (i = j included at r = 0) whose
 *     displacement in lattice steps (dx, dy) along (a1, a2) is r: reduced
 *     modulo the extent in periodic directions (every site is an origin,
 *     N_r = N), unreduced in open ones (every pair that fits, N_r pairs).
 *   structure_factor_zz(q)  S(q) at every q = (m1/L1) b1 + (m2/L2) b2,
 *                       m_d = 0..L_d - 1 (b the reciprocal vectors, b.a = 2 pi);
 *                       the same grid for open directions.
 *   dimer_zz(a, b, r)   (1/N) sum_i <D_{i,a} D_{i+r,b}>, D_{i,a} = s_i s_{i+a},
 *                       a, b nearest-neighbour directions (chain: 1; square:
 *                       (1,0), (0,1); triangular: (1,0), (0,1), (1,-1)); the sum
 *                       over origins i with both bonds on the lattice (count
 *                       stored); not connected (subtract <D_a><D_b> from
 *                       bond_zz for the connected part).
 *   bond_zz(a)          (1/N_a) sum_i <D_{i,a}>, the dimer means.
 * User operators (nqs_obs_add_operator, e.g. tests) are scalars too.
 * Moments of H for one Lanczos step ([observables] lanczos; Becca & Sorella,
 * "Quantum Monte Carlo Approaches for Correlated Systems" (CUP 2017),
 * Sec. 6.4; Hu, Becca, Parola & Sorella, PRB 88, 060402 (2013)), scalars:
 *   moment_h2          <H^2> = <|E_loc|^2>,  E_loc(s) = (H psi)(s)/psi(s)
 *   moment_h2_mixed    <H^2> = <E2_loc>,
 *                      E2_loc(s) = (H^2 psi)(s)/psi(s) = sum_s' H_ss' psi(s')/psi(s) E_loc(s')
 *   moment_h3          <H^3> = <conj(E_loc) E2_loc>
 *   The energy of (1 + alpha H) psi with the best alpha follows from them
 *   (nqs_lanczos_energy). The two estimates of <H^2> agree in expectation;
 *   the mixed one enters where the energy of psi_1 = (1 + alpha H) psi,
 *   written per sample as |1 + alpha E_loc|^2 (E_loc + alpha E2_loc)/(1 +
 *   alpha E_loc) (the local energy of psi_1 reweighted from |psi|^2), has it:
 *   there the large fluctuations of E2_loc and of conj(E_loc) E2_loc cancel
 *   sample by sample, which they do not between separate means (a 6x6 J1-J2
 *   state: a 16x smaller error bar). E2_loc costs one local energy per
 *   connected configuration: about max_conn times a sample's local energy.
 */
#ifndef NQS_OBSERVABLES_H
#define NQS_OBSERVABLES_H

#include <complex.h>
#include <stdint.h>

#include "lattice.h"
#include "model.h"
#include "operator.h"
#include "options.h"

#define NQS_OBS_MAX 16 /* observables (scalar or vector) in one set */

enum nqs_obs_kind {
    NQS_OBS_M2, NQS_OBS_NN, NQS_OBS_SQ, NQS_OBS_SX, NQS_OBS_MS2, NQS_OBS_CORR_ZZ,
    NQS_OBS_CORR_FULL, NQS_OBS_SQ_ALL, NQS_OBS_DIMER, NQS_OBS_BOND, NQS_OBS_OPERATOR,
    NQS_OBS_MOMENT_H2,   /* evaluates moment_h2 and the two items right after it */
    NQS_OBS_MOMENT_H2_MIXED, NQS_OBS_MOMENT_H3
};

struct nqs_obs_item {
    enum nqs_obs_kind kind;
    char name[32];
    int offset, n;       /* its components are columns offset .. offset + n - 1 */
    int vector;          /* 1: a dataset group with coordinates; 0: a scalar attribute */
    const struct nqs_operator *op; /* NQS_OBS_OPERATOR (borrowed) */
};

/* A coordinate of a vector observable: n x cols values (row-major), written
 * as int64 when `integer`, else float64. */
struct nqs_obs_coord {
    const char *name;
    const char *description;
    int cols, integer;
    const double *v;
};
#define NQS_OBS_MAX_COORDS 5

struct nqs_obs {
    int n;                          /* columns: components of every observable */
    int n_items;
    struct nqs_obs_item item[NQS_OBS_MAX];
    int every;                      /* [observables] every: measure every K iterations (0: off) */
    double q[2];                    /* structure-factor momentum (radians per unit length) */
    const struct nqs_lattice *lat;  /* borrowed */
    /* displacement classes of ordered site pairs (correlations, dimers) */
    int n_r;
    int *pair_r;                    /* N x N: class of (i, j) */
    double *r_int, *r_cart, *r_dist, *r_count; /* n_r x 2, n_r x 2, n_r, n_r */
    /* momenta of structure_factor = all */
    int n_q;
    double *q_pi, *q_int;           /* n_q x 2 */
    double complex *phase;          /* exp(i q.r_j): n_q x N (structure_factor = all), else N (q) */
    int8_t *eps;                    /* staggered signs, N */
    int8_t *msign;                  /* Marshall-rotated model basis: -1 on sublattice A, else NULL */
    /* dimers */
    int n_dir;
    int *dimer_j;                   /* N x n_dir: the site i + a, -1 off the lattice */
    double *dimer_count, *dimer_ab, *dimer_r; /* per component: count; (a, b); r (x 2) */
    double *bond_count, *bond_dir;  /* n_dir; n_dir */
    /* per-chain workspaces for operators */
    int n_ws;
    struct nqs_op_conn **ws;        /* n_ws x n_items (NULL where unused) */
    /* moments of H (lanczos): the Hamiltonian, and per chain a copy of the
     * model cache and of s for a connected configuration, two conn buffers */
    const struct nqs_ham *ham;      /* borrowed (nqs_obs_set_hamiltonian) */
    size_t lz_cache;                /* bytes of one model cache */
    unsigned char **lz_buf;         /* n_ws buffers: cache copy, then N spins */
    struct nqs_conn **lz_conn;      /* 2 n_ws */
};

/* Energy of one Lanczos step from the moments h1 = <H>, h2 = <H^2> (norm of
 * H psi), g2 = <H^2> (the mixed estimate, <psi|H|H psi>), h3 = <H^3> of psi:
 * the lowest E of the 2x2 problem in the basis {psi, H psi},
 *   [[h1, m], [m, h3]] v = E [[1, h1], [h1, h2]] v,  m = (h2 + g2)/2:
 *   (h2 - h1^2) E^2 + (2 m h1 - h1 h2 - h3) E + (h1 h3 - m^2) = 0,
 * the energy of (1 + alpha H) psi with alpha = (E - h1)/(m - E h1) (written
 * to *alpha if not NULL). A variance h2 - h1^2 <= 0 (an eigenstate, or
 * moments that rounding made inconsistent) gives E = h1, alpha = 0. With
 * h2 > h1^2 the metric [[1, h1], [h1, h2]] is positive definite, so both
 * roots are real for any h3 (the discriminant is clamped at 0 against
 * rounding). */
double nqs_lanczos_energy(double h1, double h2, double g2, double h3, double *alpha);

#define NQS_OBS_N_OPTIONS 9 /* entries of nqs_obs_options: size of a parsed-values array */
extern const struct nqs_opt_def nqs_obs_options[];
extern const int nqs_obs_n_options;

/* From parsed [observables] values. NQS_EINVAL for a malformed momentum or
 * an observable the lattice cannot have (staggered on a non-bipartite one). */
int nqs_obs_setup(struct nqs_obs *obs, const struct nqs_opt_val *v, const struct nqs_lattice *lat);
/* An empty set for `lat` (then nqs_obs_add_operator). */
void nqs_obs_init(struct nqs_obs *obs, const struct nqs_lattice *lat);
/* Add a user operator (borrowed, finalised) as scalar observable `name`. */
int nqs_obs_add_operator(struct nqs_obs *obs, const struct nqs_operator *op, const char *name);
/* The model's basis is rotated by the Marshall sign (-1)^{N_up(A)}
 * (h->marshall): off-diagonal estimators take the sign ratio of the flipped
 * sites, so every observable is measured in the physical basis. */
int nqs_obs_set_marshall(struct nqs_obs *obs, int marshall);
/* Observables that need the sampler's moves to leave the magnetisation
 * free: <sigma^x> with moves other than single flips (exchange moves keep
 * the magnetisation fixed, where <sigma^x> = 0) is NQS_EINVAL with the
 * standard message on [observables] sx (nqs_config_error of cfg). */
struct nqs_config;
int nqs_obs_check_moves(const struct nqs_obs *obs, const struct nqs_config *cfg, int single_flip);
/* The Hamiltonian (borrowed) whose moments `lanczos` measures; required
 * before nqs_obs_workspaces when the set has them, with the model whose
 * caches they copy. */
struct nqs_ham;
void nqs_obs_set_hamiltonian(struct nqs_obs *obs, const struct nqs_ham *h,
                             const struct nqs_model *m);
/* Workspaces for n_chains chains evaluated concurrently (chain index c of
 * nqs_obs_eval < n_chains). Call after the last add. */
int nqs_obs_workspaces(struct nqs_obs *obs, int n_chains);
void nqs_obs_free(struct nqs_obs *obs);

/* 1 if the set needs psi ratios of configurations with flipped spins. */
int nqs_obs_off_diagonal(const struct nqs_obs *obs);

/* Values of every column for configuration s whose model cache is valid:
 * out[0 .. obs->n), chain c's workspace. No allocation. */
void nqs_obs_eval(const struct nqs_obs *obs, int c, const struct nqs_model *m, void *cache,
                  const int8_t *s, double complex *out);

/* Coordinates of vector observable k (up to NQS_OBS_MAX_COORDS), its units
 * and description; returns the number of coordinates. */
int nqs_obs_coords(const struct nqs_obs *obs, int k, struct nqs_obs_coord *c, const char **units,
                   const char **description);

#endif
