/*
 * observables.c - the observables of observables.h: option parsing, the
 * lattice tables (displacement classes, momenta, dimer bonds) built once, and
 * the per-sample local estimators (no allocation in nqs_obs_eval).
 */
#include "observables.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "hamiltonian.h"

enum { K_M2, K_NN, K_SQ, K_SX, K_CORR, K_MS2, K_DIMERS, K_EVERY, K_LANCZOS, K_N };

const struct nqs_opt_def nqs_obs_options[] = {
    {"magnetisation_sq", NQS_OPT_BOOL, "true", "measure m^2 = (sum_i s_i / N)^2", NULL, 0, 0},
    {"nn_correlation", NQS_OPT_BOOL, "true",
     "measure (1/N_b) sum over nearest-neighbour bonds of s_i s_j (zz part)", NULL, 0, 0},
    {"structure_factor", NQS_OPT_STRING, "auto",
     "S(q) = |sum_i exp(i q.r_i) s_i|^2 / N: a momentum q in units of pi, 'qx' or 'qx,qy'; auto: "
     "pi (chain), (pi,pi) (square), K = (4/3 pi, 0) (triangular); all: every q = m1/L1 b1 + "
     "m2/L2 b2 of the lattice (dataset structure_factor_zz); none: off",
     NULL, 0, 0},
    {"sx", NQS_OPT_BOOL, "false", "measure <sigma^x> = (1/N) sum_i psi(s^i)/psi(s) (off-diagonal)", NULL, 0, 0},
    {"correlations", NQS_OPT_CHOICE, "none",
     "spin correlations C(r) = <s_0 s_r> for every displacement r, averaged over origins: zz "
     "(dataset correlation_zz), full (correlation_zz and correlation_full = <sigma_0 . sigma_r>, "
     "off-diagonal)", "none|zz|full", 0, 0},
    {"staggered_magnetisation_sq", NQS_OPT_BOOL, "false",
     "measure m_s^2 = (sum_i eps_i s_i / N)^2, eps = +-1 on the two sublattices (bipartite lattices)",
     NULL, 0, 0},
    {"dimers", NQS_OPT_BOOL, "false",
     "nearest-neighbour dimer correlations <D_{0,a} D_{r,b}>, D_{i,a} = s_i s_{i+a} (datasets "
     "dimer_zz, bond_zz)", NULL, 0, 0},
    {"every", NQS_OPT_INT, "0",
     "also measure every K iterations on the optimisation's samples (/history/observables); 0: "
     "final evaluation only", NULL, 0, 1e9},
    {"lanczos", NQS_OPT_BOOL, "false",
     "measure <H^2> and <H^3> (moment_h2, moment_h2_mixed, moment_h3) and the energy of one "
     "Lanczos step, (1 + alpha H) psi with the best alpha (energy_lanczos, a variational energy "
     "below the state's); costs about max_conn local energies per sample; final evaluation and nqs measure "
     "only (not with every > 0)", NULL, 0, 0},
};
const int nqs_obs_n_options = sizeof nqs_obs_options / sizeof nqs_obs_options[0];
_Static_assert(sizeof nqs_obs_options / sizeof nqs_obs_options[0] == K_N, "option table");
_Static_assert(K_N == NQS_OBS_N_OPTIONS, "NQS_OBS_N_OPTIONS (observables.h)");

static int obs_add(struct nqs_obs *obs, enum nqs_obs_kind kind, const char *name, int n, int vector)
{
    if (obs->n_items == NQS_OBS_MAX) NQS_ERROR(NQS_EINVAL, "more than %d observables", NQS_OBS_MAX);
    struct nqs_obs_item *it = &obs->item[obs->n_items++];
    memset(it, 0, sizeof *it);
    it->kind = kind;
    snprintf(it->name, sizeof it->name, "%s", name);
    it->offset = obs->n;
    it->n = n;
    it->vector = vector;
    obs->n += n;
    return NQS_OK;
}

void nqs_obs_init(struct nqs_obs *obs, const struct nqs_lattice *lat)
{
    memset(obs, 0, sizeof *obs);
    obs->lat = lat;
}

/* Lattice vectors a1, a2 (lattice.h). */
static void obs_axes(const struct nqs_lattice *lat, double a[2][2])
{
    a[0][0] = 1, a[0][1] = 0;
    if (lat->kind == NQS_LATTICE_TRIANGULAR) a[1][0] = 0.5, a[1][1] = 0.5 * sqrt(3.0);
    else a[1][0] = 0, a[1][1] = 1;
}

static int obs_x(const struct nqs_lattice *lat, int i, int d)
{
    return d < lat->dim ? lat->coord[i * lat->dim + d] : 0;
}

/* Displacement classes: every ordered pair (i, j) gets the class of
 * r = coord_j - coord_i, reduced modulo L in periodic directions. Classes
 * are numbered in increasing (dy, dx), keeping those that occur. */
static int obs_setup_classes(struct nqs_obs *obs)
{
    const struct nqs_lattice *lat = obs->lat;
    int N = lat->n_sites, lo[2], nx[2];
    for (int d = 0; d < 2; d++) {
        int L = lat->extent[d], per = d < lat->dim ? lat->periodic[d] : 1;
        lo[d] = per ? 0 : -(L - 1);
        nx[d] = per ? L : 2 * L - 1;
    }
    int nkey = nx[0] * nx[1];
    int *key_class = malloc((size_t)nkey * sizeof *key_class);
    double *cnt = calloc((size_t)nkey, sizeof *cnt);
    obs->pair_r = malloc((size_t)N * (size_t)N * sizeof *obs->pair_r);
    if (!key_class || !cnt || !obs->pair_r) {
        free(key_class);
        free(cnt);
        NQS_ERROR(NQS_ENOMEM, "out of memory for the correlation tables");
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            int k = 0, mul = 1;
            for (int d = 0; d < 2; d++) {
                int r = obs_x(lat, j, d) - obs_x(lat, i, d);
                if (d < lat->dim && lat->periodic[d]) r = ((r % nx[d]) + nx[d]) % nx[d];
                k += (r - lo[d]) * mul;
                mul *= nx[d];
            }
            obs->pair_r[(size_t)i * N + j] = k; /* the key for now */
            cnt[k] += 1;
        }
    int n_r = 0;
    for (int k = 0; k < nkey; k++) key_class[k] = cnt[k] > 0 ? n_r++ : -1;
    obs->n_r = n_r;
    obs->r_int = malloc((size_t)n_r * 2 * sizeof(double));
    obs->r_cart = malloc((size_t)n_r * 2 * sizeof(double));
    obs->r_dist = malloc((size_t)n_r * sizeof(double));
    obs->r_count = malloc((size_t)n_r * sizeof(double));
    if (!obs->r_int || !obs->r_cart || !obs->r_dist || !obs->r_count) {
        free(key_class);
        free(cnt);
        NQS_ERROR(NQS_ENOMEM, "out of memory for the correlation tables");
    }
    double a[2][2];
    obs_axes(lat, a);
    for (int k = 0; k < nkey; k++) {
        int c = key_class[k];
        if (c < 0) continue;
        int r[2] = {k % nx[0] + lo[0], k / nx[0] + lo[1]};
        obs->r_int[2 * c] = r[0];
        obs->r_int[2 * c + 1] = r[1];
        obs->r_count[c] = cnt[k];
        for (int e = 0; e < 2; e++) obs->r_cart[2 * c + e] = r[0] * a[0][e] + r[1] * a[1][e];
        /* shortest periodic image (for plots against distance) */
        double best = INFINITY;
        for (int s0 = -1; s0 <= 1; s0++)
            for (int s1 = -1; s1 <= 1; s1++) {
                if ((s0 && !(lat->dim > 0 && lat->periodic[0])) || (s1 && !(lat->dim > 1 && lat->periodic[1])))
                    continue;
                double x = r[0] + s0 * lat->extent[0], y = r[1] + s1 * lat->extent[1];
                double px = x * a[0][0] + y * a[1][0], py = x * a[0][1] + y * a[1][1];
                double dist = sqrt(px * px + py * py);
                if (dist < best) best = dist;
            }
        obs->r_dist[c] = best;
    }
    for (size_t p = 0; p < (size_t)N * (size_t)N; p++) obs->pair_r[p] = key_class[obs->pair_r[p]];
    free(key_class);
    free(cnt);
    return NQS_OK;
}

static int obs_setup_momenta(struct nqs_obs *obs)
{
    const struct nqs_lattice *lat = obs->lat;
    int N = lat->n_sites, L0 = lat->extent[0], L1 = lat->dim > 1 ? lat->extent[1] : 1;
    int nq = L0 * L1;
    obs->n_q = nq;
    obs->q_pi = malloc((size_t)nq * 2 * sizeof(double));
    obs->q_int = malloc((size_t)nq * 2 * sizeof(double));
    obs->phase = malloc((size_t)nq * (size_t)N * sizeof *obs->phase);
    if (!obs->q_pi || !obs->q_int || !obs->phase) NQS_ERROR(NQS_ENOMEM, "out of memory for the momenta");
    /* reciprocal vectors in units of pi: b.a = 2 pi */
    double b[2][2] = {{2, 0}, {0, 2}};
    if (lat->kind == NQS_LATTICE_TRIANGULAR) b[0][1] = -2 / sqrt(3.0), b[1][1] = 4 / sqrt(3.0);
    for (int m1 = 0; m1 < L1; m1++)
        for (int m0 = 0; m0 < L0; m0++) {
            int k = m0 + L0 * m1;
            obs->q_int[2 * k] = m0;
            obs->q_int[2 * k + 1] = m1;
            for (int e = 0; e < 2; e++)
                obs->q_pi[2 * k + e] = (double)m0 / L0 * b[0][e] + (double)m1 / L1 * b[1][e];
            for (int j = 0; j < N; j++) {
                double ph = 2 * M_PI * ((double)m0 * obs_x(lat, j, 0) / L0 +
                                        (double)m1 * obs_x(lat, j, 1) / L1);
                obs->phase[(size_t)k * N + j] = cos(ph) + I * sin(ph);
            }
        }
    return NQS_OK;
}

static int obs_setup_dimers(struct nqs_obs *obs)
{
    const struct nqs_lattice *lat = obs->lat;
    int dirs[3][2]; /* the nearest-neighbour directions a: the lattice's bond offsets */
    int N = lat->n_sites, nd = nqs_lattice_offsets(lat->kind, 0, dirs);
    int nr = obs->n_r;
    obs->n_dir = nd;
    obs->dimer_j = malloc((size_t)N * (size_t)nd * sizeof *obs->dimer_j);
    obs->dimer_count = calloc((size_t)nd * nd * nr, sizeof(double));
    obs->dimer_ab = malloc((size_t)nd * nd * nr * 2 * sizeof(double));
    obs->dimer_r = malloc((size_t)nd * nd * nr * 2 * sizeof(double));
    obs->bond_count = calloc((size_t)nd, sizeof(double));
    obs->bond_dir = malloc((size_t)nd * sizeof(double));
    if (!obs->dimer_j || !obs->dimer_count || !obs->dimer_ab || !obs->dimer_r || !obs->bond_count || !obs->bond_dir)
        NQS_ERROR(NQS_ENOMEM, "out of memory for the dimer tables");
    for (int i = 0; i < N; i++)
        for (int a = 0; a < nd; a++) {
            int j = nqs_lattice_site(lat, obs_x(lat, i, 0) + dirs[a][0], obs_x(lat, i, 1) + dirs[a][1]);
            obs->dimer_j[i * nd + a] = j == i ? -1 : j; /* no self-bond (extent 1) */
            if (obs->dimer_j[i * nd + a] >= 0) obs->bond_count[a] += 1;
        }
    for (int a = 0; a < nd; a++) obs->bond_dir[a] = a;
    for (int a = 0; a < nd; a++)
        for (int b = 0; b < nd; b++)
            for (int r = 0; r < nr; r++) {
                size_t k = ((size_t)a * nd + b) * nr + r;
                obs->dimer_ab[2 * k] = a;
                obs->dimer_ab[2 * k + 1] = b;
                obs->dimer_r[2 * k] = obs->r_int[2 * r];
                obs->dimer_r[2 * k + 1] = obs->r_int[2 * r + 1];
            }
    for (int i = 0; i < N; i++)
        for (int k = 0; k < N; k++) {
            int r = obs->pair_r[(size_t)i * N + k];
            for (int a = 0; a < nd; a++)
                for (int b = 0; b < nd; b++)
                    if (obs->dimer_j[i * nd + a] >= 0 && obs->dimer_j[k * nd + b] >= 0)
                        obs->dimer_count[((size_t)a * nd + b) * nr + r] += 1;
        }
    return NQS_OK;
}

int nqs_obs_setup(struct nqs_obs *obs, const struct nqs_opt_val *v, const struct nqs_lattice *lat)
{
    nqs_obs_init(obs, lat);
    if (v[K_M2].i) NQS_TRY(obs_add(obs, NQS_OBS_M2, "magnetisation_sq", 1, 0));
    if (v[K_MS2].i) {
        if (!lat->bipartite)
            NQS_ERROR(NQS_EINVAL, "[observables] staggered_magnetisation_sq: the lattice is not "
                      "bipartite, so there is no staggered sign (accepted: false)");
        obs->eps = malloc((size_t)lat->n_sites);
        if (!obs->eps) NQS_ERROR(NQS_ENOMEM, "out of memory for the staggered signs");
        for (int i = 0; i < lat->n_sites; i++) obs->eps[i] = lat->sublattice[i] ? -1 : 1;
        NQS_TRY(obs_add(obs, NQS_OBS_MS2, "staggered_magnetisation_sq", 1, 0));
    }
    if (v[K_NN].i) NQS_TRY(obs_add(obs, NQS_OBS_NN, "nn_correlation", 1, 0));
    const char *q = v[K_SQ].str;
    if (strcmp(q, "all") == 0) {
        NQS_TRY(obs_setup_momenta(obs));
        NQS_TRY(obs_add(obs, NQS_OBS_SQ_ALL, "structure_factor_zz", obs->n_q, 1));
    } else if (strcmp(q, "none") != 0) {
        double qx = 1, qy = lat->dim > 1 ? 1 : 0;
        if (strcmp(q, "auto") == 0) {
            if (lat->kind == NQS_LATTICE_TRIANGULAR) qx = 4.0 / 3.0, qy = 0;
        } else {
            char *end;
            qx = strtod(q, &end);
            qy = 0;
            if (*end == ',') qy = strtod(end + 1, &end);
            if (end == q || *end != '\0' || !isfinite(qx) || !isfinite(qy))
                NQS_ERROR(NQS_EINVAL,
                          "[observables] structure_factor: '%s' is not a momentum (accepted: auto, "
                          "all, none, qx or qx,qy in units of pi)",
                          q);
            /* S(q) is periodic in q with the reciprocal lattice (period 2 in
             * units of pi along the square axes, 4 in x for the triangular
             * lattice): [-4, 4] holds every distinct momentum, and larger
             * components lose every digit in q.r (1e308 pi overflows). */
            if (fabs(qx) > 4 || fabs(qy) > 4)
                NQS_ERROR(NQS_EINVAL,
                          "[observables] structure_factor: '%s' is outside the accepted range "
                          "(accepted: auto, all, none, qx or qx,qy in units of pi, each in [-4, 4])",
                          q);
        }
        obs->q[0] = M_PI * qx;
        obs->q[1] = M_PI * qy;
        /* the phases of this one q, once per lattice (nqs_obs_eval shares
         * the loop of structure_factor = all) */
        obs->phase = malloc((size_t)lat->n_sites * sizeof *obs->phase);
        if (!obs->phase) NQS_ERROR(NQS_ENOMEM, "out of memory for the structure-factor phases");
        for (int i = 0; i < lat->n_sites; i++)
            obs->phase[i] = cexp(I * (obs->q[0] * lat->pos[2 * i] + obs->q[1] * lat->pos[2 * i + 1]));
        NQS_TRY(obs_add(obs, NQS_OBS_SQ, "structure_factor", 1, 0));
    }
    if (v[K_SX].i) NQS_TRY(obs_add(obs, NQS_OBS_SX, "sx", 1, 0));
    long corr = v[K_CORR].i; /* 0 none, 1 zz, 2 full */
    if (corr > 0 || v[K_DIMERS].i) NQS_TRY(obs_setup_classes(obs));
    if (corr > 0) NQS_TRY(obs_add(obs, NQS_OBS_CORR_ZZ, "correlation_zz", obs->n_r, 1));
    if (corr > 1) NQS_TRY(obs_add(obs, NQS_OBS_CORR_FULL, "correlation_full", obs->n_r, 1));
    if (v[K_DIMERS].i) {
        NQS_TRY(obs_setup_dimers(obs));
        NQS_TRY(obs_add(obs, NQS_OBS_BOND, "bond_zz", obs->n_dir, 1));
        NQS_TRY(obs_add(obs, NQS_OBS_DIMER, "dimer_zz", obs->n_dir * obs->n_dir * obs->n_r, 1));
    }
    obs->every = (int)v[K_EVERY].i;
    if (v[K_LANCZOS].i) {
        if (obs->every > 0)
            NQS_ERROR(NQS_EINVAL, "[observables] lanczos = true is measured in the final evaluation "
                      "and by nqs measure only, not every %d iterations (it costs about one local "
                      "energy per connected configuration of every sample); accepted: every = 0, "
                      "or lanczos = false", obs->every);
        NQS_TRY(obs_add(obs, NQS_OBS_MOMENT_H2, "moment_h2", 1, 0));
        NQS_TRY(obs_add(obs, NQS_OBS_MOMENT_H2_MIXED, "moment_h2_mixed", 1, 0));
        NQS_TRY(obs_add(obs, NQS_OBS_MOMENT_H3, "moment_h3", 1, 0));
    }
    return NQS_OK;
}

void nqs_obs_set_hamiltonian(struct nqs_obs *obs, const struct nqs_ham *h,
                             const struct nqs_model *m)
{
    obs->ham = h;
    obs->lz_cache = m ? m->cache_size : 0;
}

static int obs_has(const struct nqs_obs *obs, enum nqs_obs_kind kind)
{
    for (int k = 0; k < obs->n_items; k++)
        if (obs->item[k].kind == kind) return 1;
    return 0;
}

double nqs_lanczos_energy(double h1, double h2, double g2, double h3, double *alpha)
{
    double m = 0.5 * (h2 + g2);
    double a = h2 - h1 * h1, b = 2.0 * m * h1 - h1 * h2 - h3, c = h1 * h3 - m * m;
    if (alpha) *alpha = 0.0;
    if (!(a > 0)) return h1;
    /* both roots without cancellation (q/a and c/q); a > 0, the lower one */
    double q = -0.5 * (b + copysign(sqrt(fmax(b * b - 4.0 * a * c, 0.0)), b));
    double e = q != 0 ? fmin(q / a, c / q) : 0.0; /* q = 0: b = c = 0, a double root at 0 */
    if (alpha) *alpha = (e - h1) / (m - e * h1);
    return e;
}

int nqs_obs_add_operator(struct nqs_obs *obs, const struct nqs_operator *op, const char *name)
{
    if (!op->finalized) NQS_ERROR(NQS_EINVAL, "operator '%s' is not finalised", op->name);
    NQS_TRY(obs_add(obs, NQS_OBS_OPERATOR, name, 1, 0));
    obs->item[obs->n_items - 1].op = op;
    return NQS_OK;
}

int nqs_obs_set_marshall(struct nqs_obs *obs, int marshall)
{
    free(obs->msign);
    obs->msign = NULL;
    if (!marshall) return NQS_OK;
    const struct nqs_lattice *lat = obs->lat;
    if (!lat->bipartite) NQS_ERROR(NQS_EINVAL, "Marshall sign on a lattice that is not bipartite");
    obs->msign = malloc((size_t)lat->n_sites);
    if (!obs->msign) NQS_ERROR(NQS_ENOMEM, "out of memory for the Marshall signs");
    for (int i = 0; i < lat->n_sites; i++) obs->msign[i] = lat->sublattice[i] == 0 ? -1 : 1;
    return NQS_OK;
}

int nqs_obs_check_moves(const struct nqs_obs *obs, const struct nqs_config *cfg, int single_flip)
{
    for (int k = 0; k < obs->n_items; k++)
        if (obs->item[k].kind == NQS_OBS_SX && !single_flip)
            return nqs_config_error(cfg, NQS_EINVAL, "observables", "sx",
                                    "<sigma^x> needs single-flip sampling; exchange moves keep the "
                                    "magnetisation fixed, where <sigma^x> = 0 (accepted: false, or "
                                    "[sampler] move = flip)");
    return NQS_OK;
}

/* Per-chain buffers of the moments of H. */
static int obs_lanczos_workspaces(struct nqs_obs *obs, int n_chains)
{
    if (!obs->ham || !obs->lz_cache)
        NQS_ERROR(NQS_EINVAL, "[observables] lanczos: no Hamiltonian and model given "
                  "(nqs_obs_set_hamiltonian before nqs_obs_workspaces)");
    obs->lz_buf = calloc((size_t)n_chains, sizeof *obs->lz_buf);
    obs->lz_conn = calloc(2 * (size_t)n_chains, sizeof *obs->lz_conn);
    if (!obs->lz_buf || !obs->lz_conn) goto nomem;
    for (int c = 0; c < n_chains; c++) {
        obs->lz_buf[c] = malloc(obs->lz_cache + (size_t)obs->lat->n_sites);
        obs->lz_conn[2 * c] = nqs_conn_alloc(obs->ham);
        obs->lz_conn[2 * c + 1] = nqs_conn_alloc(obs->ham);
        if (!obs->lz_buf[c] || !obs->lz_conn[2 * c] || !obs->lz_conn[2 * c + 1]) goto nomem;
    }
    return NQS_OK;
nomem:
    NQS_ERROR(NQS_ENOMEM, "out of memory for the Lanczos-moment workspaces of %d chains", n_chains);
}

int nqs_obs_workspaces(struct nqs_obs *obs, int n_chains)
{
    if (n_chains < 1) return NQS_OK;
    obs->n_ws = n_chains; /* before any allocation: nqs_obs_free frees n_ws of each */
    if (obs_has(obs, NQS_OBS_MOMENT_H2)) NQS_TRY(obs_lanczos_workspaces(obs, n_chains));
    if (!obs_has(obs, NQS_OBS_OPERATOR)) return NQS_OK;
    obs->ws = calloc((size_t)n_chains * (size_t)obs->n_items, sizeof *obs->ws);
    if (!obs->ws) NQS_ERROR(NQS_ENOMEM, "out of memory for the operator workspaces of %d chains", n_chains);
    for (int c = 0; c < n_chains; c++)
        for (int k = 0; k < obs->n_items; k++)
            if (obs->item[k].kind == NQS_OBS_OPERATOR) {
                struct nqs_op_conn *w = nqs_op_conn_alloc(obs->item[k].op);
                if (!w) return NQS_ENOMEM;
                obs->ws[(size_t)c * obs->n_items + k] = w;
            }
    return NQS_OK;
}

void nqs_obs_free(struct nqs_obs *obs)
{
    if (!obs) return;
    for (int p = 0; obs->ws && p < obs->n_ws * obs->n_items; p++) nqs_op_conn_free(obs->ws[p]);
    free(obs->ws);
    for (int c = 0; obs->lz_buf && c < obs->n_ws; c++) free(obs->lz_buf[c]);
    for (int c = 0; obs->lz_conn && c < 2 * obs->n_ws; c++) nqs_conn_free(obs->lz_conn[c]);
    free(obs->lz_buf);
    free(obs->lz_conn);
    free(obs->pair_r);
    free(obs->r_int);
    free(obs->r_cart);
    free(obs->r_dist);
    free(obs->r_count);
    free(obs->q_pi);
    free(obs->q_int);
    free(obs->phase);
    free(obs->eps);
    free(obs->msign);
    free(obs->dimer_j);
    free(obs->dimer_count);
    free(obs->dimer_ab);
    free(obs->dimer_r);
    free(obs->bond_count);
    free(obs->bond_dir);
    const struct nqs_lattice *lat = obs->lat;
    nqs_obs_init(obs, lat);
}

int nqs_obs_off_diagonal(const struct nqs_obs *obs)
{
    for (int k = 0; k < obs->n_items; k++) {
        enum nqs_obs_kind kd = obs->item[k].kind;
        if (kd == NQS_OBS_SX || kd == NQS_OBS_CORR_FULL || kd == NQS_OBS_OPERATOR ||
            kd == NQS_OBS_MOMENT_H2)
            return 1;
    }
    return 0;
}

/* E_loc(s) and E2_loc(s) = sum_s' H_ss' psi(s')/psi(s) E_loc(s') (header):
 * each connected s' gets a copy of the cache, moved there by cache_update,
 * and its own local energy. Chain c's buffers; no allocation. */
static void obs_moments(const struct nqs_obs *obs, int c, const struct nqs_model *m, void *cache,
                        const int8_t *s, double complex *e1, double complex *e2)
{
    const struct nqs_ham *h = obs->ham;
    struct nqs_conn *conn = obs->lz_conn[2 * c], *conn2 = obs->lz_conn[2 * c + 1];
    unsigned char *cache2 = obs->lz_buf[c];
    int8_t *s2 = (int8_t *)(cache2 + obs->lz_cache);
    const int N = obs->lat->n_sites;
    h->ops->connected(h, s, conn);
    double complex a = conn->diag, b = 0;
    for (int k = 0; k < conn->n; k++) {
        double complex r = nqs_op_psi_ratio(m, cache, s, conn->n_flip[k], conn->site[k]);
        a += conn->mel[k] * r;
        if (r == 0) continue;
        memcpy(cache2, cache, obs->lz_cache);
        memcpy(s2, s, (size_t)N);
        m->ops->cache_update(m, cache2, s2, conn->n_flip[k], conn->site[k]);
        for (int f = 0; f < conn->n_flip[k]; f++) s2[conn->site[k][f]] = (int8_t)-s2[conn->site[k][f]];
        b += conn->mel[k] * r * nqs_local_energy(m, h, cache2, s2, conn2);
    }
    *e1 = a;
    *e2 = b + conn->diag * a;
}

void nqs_obs_eval(const struct nqs_obs *obs, int c, const struct nqs_model *m, void *cache,
                  const int8_t *s, double complex *out)
{
    const struct nqs_lattice *lat = obs->lat;
    int N = lat->n_sites;
    for (int k = 0; k < obs->n_items; k++) {
        const struct nqs_obs_item *it = &obs->item[k];
        double complex *o = out + it->offset;
        for (int p = 0; p < it->n; p++) o[p] = 0;
        switch (it->kind) {
        case NQS_OBS_M2:
        case NQS_OBS_MS2: {
            double sum = 0;
            if (it->kind == NQS_OBS_M2)
                for (int i = 0; i < N; i++) sum += s[i];
            else
                for (int i = 0; i < N; i++) sum += obs->eps[i] * s[i];
            o[0] = (sum / N) * (sum / N);
            break;
        }
        case NQS_OBS_NN: {
            int nb = lat->n_bonds_order[0];
            double sum = 0;
            for (int b = 0; b < nb; b++) sum += s[lat->bonds[b].i] * s[lat->bonds[b].j];
            o[0] = nb > 0 ? sum / nb : 0;
            break;
        }
        case NQS_OBS_SQ:
        case NQS_OBS_SQ_ALL: /* it->n momenta: one, or all n_q */
            for (int q = 0; q < it->n; q++) {
                const double complex *ph = obs->phase + (size_t)q * N;
                double re = 0, im = 0;
                for (int i = 0; i < N; i++) re += s[i] * creal(ph[i]), im += s[i] * cimag(ph[i]);
                o[q] = (re * re + im * im) / N;
            }
            break;
        case NQS_OBS_SX:
            for (int i = 0; i < N; i++)
                o[0] += (obs->msign ? obs->msign[i] : 1) * nqs_op_psi_ratio(m, cache, s, 1, &i);
            o[0] /= N;
            break;
        case NQS_OBS_CORR_ZZ:
        case NQS_OBS_CORR_FULL: {
            int full = it->kind == NQS_OBS_CORR_FULL;
            for (int i = 0; i < N; i++) {
                o[obs->pair_r[(size_t)i * N + i]] += full ? 3 : 1;
                for (int j = i + 1; j < N; j++) {
                    double complex v = s[i] * s[j];
                    if (full && s[i] != s[j]) {
                        int f[2] = {i, j};
                        double sg = obs->msign ? obs->msign[i] * obs->msign[j] : 1;
                        v += 2 * sg * nqs_op_psi_ratio(m, cache, s, 2, f);
                    }
                    o[obs->pair_r[(size_t)i * N + j]] += v;
                    o[obs->pair_r[(size_t)j * N + i]] += v;
                }
            }
            for (int r = 0; r < it->n; r++) o[r] /= obs->r_count[r];
            break;
        }
        case NQS_OBS_BOND:
        case NQS_OBS_DIMER: {
            int nd = obs->n_dir, nr = obs->n_r;
            if (it->kind == NQS_OBS_BOND) {
                for (int i = 0; i < N; i++)
                    for (int a = 0; a < nd; a++) {
                        int j = obs->dimer_j[i * nd + a];
                        if (j >= 0) o[a] += s[i] * s[j];
                    }
                for (int a = 0; a < nd; a++) o[a] = obs->bond_count[a] > 0 ? o[a] / obs->bond_count[a] : 0;
                break;
            }
            for (int i = 0; i < N; i++)
                for (int a = 0; a < nd; a++) {
                    int j = obs->dimer_j[i * nd + a];
                    if (j < 0) continue;
                    int di = s[i] * s[j];
                    for (int k2 = 0; k2 < N; k2++) {
                        int r = obs->pair_r[(size_t)i * N + k2];
                        for (int b = 0; b < nd; b++) {
                            int l = obs->dimer_j[k2 * nd + b];
                            if (l >= 0) o[((size_t)a * nd + b) * nr + r] += di * s[k2] * s[l];
                        }
                    }
                }
            for (int p = 0; p < it->n; p++) o[p] = obs->dimer_count[p] > 0 ? o[p] / obs->dimer_count[p] : 0;
            break;
        }
        case NQS_OBS_OPERATOR:
            o[0] = nqs_operator_local(it->op, m, cache, s, obs->ws[(size_t)c * obs->n_items + k],
                                      obs->msign);
            break;
        case NQS_OBS_MOMENT_H2: { /* and the next two items (nqs_obs_setup) */
            double complex e1, e2;
            obs_moments(obs, c, m, cache, s, &e1, &e2);
            o[0] = creal(e1) * creal(e1) + cimag(e1) * cimag(e1);
            out[obs->item[k + 1].offset] = e2;
            out[obs->item[k + 2].offset] = conj(e1) * e2;
            k += 2;
            break;
        }
        case NQS_OBS_MOMENT_H2_MIXED: /* written with moment_h2 */
        case NQS_OBS_MOMENT_H3:
            break;
        }
    }
}

int nqs_obs_coords(const struct nqs_obs *obs, int k, struct nqs_obs_coord *c, const char **units,
                   const char **description)
{
    const struct nqs_obs_item *it = &obs->item[k];
    *units = "dimensionless (Pauli operators)";
    int n = 0;
    switch (it->kind) {
    case NQS_OBS_CORR_ZZ:
    case NQS_OBS_CORR_FULL:
    case NQS_OBS_DIMER:
        *description = it->kind == NQS_OBS_CORR_ZZ ? "(1/N_r) sum over ordered pairs (i,j) at displacement r of <s_i s_j>"
                       : it->kind == NQS_OBS_CORR_FULL
                           ? "(1/N_r) sum over ordered pairs (i,j) at displacement r of <sigma_i . sigma_j>"
                           : "(1/count) sum_i <D_{i,a} D_{i+r,b}>, D_{i,a} = s_i s_{i+a} (not connected)";
        if (it->kind == NQS_OBS_DIMER) {
            /* rows are (a, b, r) with r fastest: coordinates repeat per (a, b) */
            c[n++] = (struct nqs_obs_coord){"ab", "bond directions a, b (index into bond_zz)", 2, 1,
                                            obs->dimer_ab};
            c[n++] = (struct nqs_obs_coord){"count", "origins averaged over", 1, 1, obs->dimer_count};
            c[n++] = (struct nqs_obs_coord){"r", "displacement from bond a's origin to bond b's in "
                                            "lattice steps along (a1, a2)", 2, 1, obs->dimer_r};
            return n;
        }
        c[n++] = (struct nqs_obs_coord){"r", "displacement in lattice steps along (a1, a2)", 2, 1,
                                        obs->r_int};
        c[n++] = (struct nqs_obs_coord){"r_cartesian", "displacement in Cartesian units (lattice "
                                        "spacing 1)", 2, 0, obs->r_cart};
        c[n++] = (struct nqs_obs_coord){"distance", "length of the shortest periodic image of r",
                                        1, 0, obs->r_dist};
        c[n++] = (struct nqs_obs_coord){"count", "ordered site pairs averaged over (N_r)", 1, 1,
                                        obs->r_count};
        return n;
    case NQS_OBS_SQ_ALL:
        *description = "S(q) = (1/N) <|sum_i exp(i q.r_i) s_i|^2>";
        c[n++] = (struct nqs_obs_coord){"q", "momentum in units of pi per unit length (Cartesian)",
                                        2, 0, obs->q_pi};
        c[n++] = (struct nqs_obs_coord){"q_index", "(m1, m2): q = m1/L1 b1 + m2/L2 b2", 2, 1,
                                        obs->q_int};
        return n;
    case NQS_OBS_BOND:
        *description = "(1/N_a) sum_i <s_i s_{i+a}> per nearest-neighbour direction a";
        c[n++] = (struct nqs_obs_coord){"direction", "a: 0 = (1,0), 1 = (0,1), 2 = (1,-1) in "
                                        "lattice steps", 1, 1, obs->bond_dir};
        c[n++] = (struct nqs_obs_coord){"count", "bonds averaged over", 1, 1, obs->bond_count};
        return n;
    default:
        *description = "";
        return 0;
    }
}
