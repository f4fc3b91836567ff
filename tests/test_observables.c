/*
 * test_observables.c - operators and observables against numbers that do not
 * come from the code under test.
 *
 *   operators   Pauli sums with sigma^x, sigma^y, sigma^z terms (complex
 *               coefficients): sum_s |psi|^2 O_loc(s) / sum |psi|^2 equals
 *               <psi|O|psi>/<psi|psi> computed here by applying the Pauli
 *               matrices to the dense vector psi (sigma^y|up> = i|down>,
 *               sigma^y|down> = -i|up>), to 1e-12 relative; a wrapped
 *               Hamiltonian gives nqs_local_energy's values bitwise
 *   exact       every observable of observables.h measured with the exact
 *               sampler (nqs_vstate) equals the dense expectation of its
 *               definition, written out here with the test's own site
 *               geometry, to 1e-10: an open 2x3 square TFIM state (all
 *               observables, sigma^x), a periodic Heisenberg ring of 6 sites
 *               with the Marshall-rotated basis (exchange sector), and a
 *               periodic 3x3 triangular TFIM state
 *   metropolis  the same observables with Metropolis chains (fixed seeds)
 *               within 4 error bars of the dense values (4 sigma: with the
 *               ~100 components checked a false alarm for a random seed has
 *               probability ~0.6 %; the seeds are fixed); components that are
 *               constant (C(0) = 1) must have error 0 and the exact value;
 *               the square, Heisenberg and triangular states
 *
 *   moments     moment_h2 = moment_h2_mixed = <H^2>, moment_h3 = <H^3> and the Lanczos-step
 *               energy against H applied here to the dense psi as a sum of
 *               Pauli strings over the test's own bonds (the TFIM and the
 *               Heisenberg ring above): exact sampler to 1e-10, the energy of
 *               (1 + alpha H) psi at the returned alpha equal to the returned
 *               energy and not above it at alpha +- 1e-3; Metropolis within 4
 *               error bars (jackknife over chains for the energy)
 *
 * Random complex RBM parameters (init_std 0.3) make every amplitude ratio a
 * complex number with a phase, so sign and conjugation mistakes show.
 */
#include <complex.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "error.h"
#include "nqs_test.h"
#include "observables.h"
#include "operator.h"
#include "problem.h"
#include "sampler.h"
#include "vstate.h"

/* ------------------------------------------------------------ dense state */

struct dense {
    int N;
    long dim;
    double complex *psi; /* physical-basis amplitudes, normalised */
};

static int spin(long x, int i) { return (x >> i) & 1 ? 1 : -1; }

/* psi of the model (physical basis: the Marshall sign (-1)^{N_up(A)} undone
 * when the Hamiltonian rotates the basis), restricted to sum s = mag when
 * `sector`. */
static void dense_state(const struct nqs_problem *p, int sector, int mag, struct dense *d)
{
    const struct nqs_model *m = p->model;
    int N = m->n_sites;
    d->N = N;
    d->dim = 1L << N;
    d->psi = malloc((size_t)d->dim * sizeof *d->psi);
    assert_non_null(d->psi);
    double complex *lp = malloc((size_t)d->dim * sizeof *lp);
    int8_t s[32];
    double lmax = -INFINITY;
    for (long x = 0; x < d->dim; x++) {
        int sum = 0;
        for (int i = 0; i < N; i++) sum += s[i] = (int8_t)spin(x, i);
        lp[x] = sector && sum != mag ? -INFINITY : nqs_model_log_psi(m, s);
        if (creal(lp[x]) > lmax) lmax = creal(lp[x]);
    }
    double z = 0;
    for (long x = 0; x < d->dim; x++) {
        d->psi[x] = creal(lp[x]) == -INFINITY ? 0 : cexp(lp[x] - lmax);
        if (p->ham->marshall) {
            int up_a = 0;
            for (int i = 0; i < N; i++) up_a += p->lat->sublattice[i] == 0 && spin(x, i) > 0;
            if (up_a % 2) d->psi[x] = -d->psi[x];
        }
        z += creal(d->psi[x] * conj(d->psi[x]));
    }
    for (long x = 0; x < d->dim; x++) d->psi[x] /= sqrt(z);
    free(lp);
}

/* <psi| c prod_k sigma^{p[k]}_{site[k]} |psi> (dense_pauli_apply below). */
static void dense_pauli_apply(const struct dense *d, double complex c, const char *p, const int *site,
                              const double complex *in, double complex *out);
static double complex dense_pauli(const struct dense *d, double complex c, const char *p, const int *site)
{
    double complex *v = calloc((size_t)d->dim, sizeof *v), e = 0;
    assert_non_null(v);
    dense_pauli_apply(d, c, p, site, d->psi, v);
    for (long y = 0; y < d->dim; y++) e += conj(d->psi[y]) * v[y];
    free(v);
    return e;
}

/* <psi| f(s) |psi> for a diagonal f. */
static double dense_diag(const struct dense *d, double (*f)(const int *s, const void *ctx), const void *ctx)
{
    double e = 0;
    int s[32];
    for (long x = 0; x < d->dim; x++) {
        double w = creal(d->psi[x] * conj(d->psi[x]));
        if (w == 0) continue;
        for (int i = 0; i < d->N; i++) s[i] = spin(x, i);
        e += w * f(s, ctx);
    }
    return e;
}

/* --------------------------------------------------------- problem setup */

static struct nqs_problem *build(const char *text)
{
    struct nqs_config *cfg = nqs_config_alloc();
    assert_non_null(cfg);
    if (nqs_config_read_string(cfg, text, "test") != NQS_OK) fail_msg("%s", nqs_last_error());
    struct nqs_problem *p = NULL;
    if (nqs_problem_build(cfg, NQS_PROBLEM_MODEL, &p) != NQS_OK) fail_msg("%s", nqs_last_error());
    nqs_config_free(cfg);
    return p;
}

static void obs_from(const char *settings, const struct nqs_problem *p, struct nqs_obs *obs)
{
    struct nqs_config *cfg = nqs_config_alloc();
    assert_int_equal(nqs_config_read_string(cfg, settings, "test"), NQS_OK);
    struct nqs_opt_val v[16];
    if (nqs_config_get(cfg, "observables", nqs_obs_options, nqs_obs_n_options, v) != NQS_OK)
        fail_msg("%s", nqs_last_error());
    if (nqs_obs_setup(obs, v, p->lat) != NQS_OK) fail_msg("%s", nqs_last_error());
    assert_int_equal(nqs_obs_set_marshall(obs, p->ham->marshall), NQS_OK);
    nqs_obs_set_hamiltonian(obs, p->ham, p->model);
    nqs_config_free(cfg);
}

/* Site of integer coordinates (x, y) on the test's own reading of the
 * lattice (index x + Lx y, wrap in periodic directions), -1 off the edge. */
static int site_at(const struct nqs_lattice *lat, int x, int y)
{
    int L[2] = {lat->extent[0], lat->dim > 1 ? lat->extent[1] : 1}, c[2] = {x, y};
    for (int d = 0; d < 2; d++) {
        int per = d < lat->dim ? lat->periodic[d] : 1;
        if (per) c[d] = ((c[d] % L[d]) + L[d]) % L[d];
        else if (c[d] < 0 || c[d] >= L[d]) return -1;
    }
    return c[0] + L[0] * c[1];
}

static int xof(const struct nqs_lattice *lat, int i) { return i % lat->extent[0]; }
static int yof(const struct nqs_lattice *lat, int i) { return i / lat->extent[0]; }

/* 1 if j - i equals displacement r (modulo L in periodic directions). */
static int at_r(const struct nqs_lattice *lat, int i, int j, int rx, int ry)
{
    int d[2] = {xof(lat, j) - xof(lat, i) - rx, yof(lat, j) - yof(lat, i) - ry};
    int L[2] = {lat->extent[0], lat->dim > 1 ? lat->extent[1] : 1};
    for (int k = 0; k < 2; k++) {
        int per = k < lat->dim ? lat->periodic[k] : 1;
        if (per ? ((d[k] % L[k]) + L[k]) % L[k] != 0 : d[k] != 0) return 0;
    }
    return 1;
}

struct diag_ctx {
    const struct nqs_lattice *lat;
    int kind;
    double q[2]; /* units of pi */
    int a, b, rx, ry;
};

static const int dirs[3][2] = {{1, 0}, {0, 1}, {1, -1}};

static double f_diag(const int *s, const void *vctx)
{
    const struct diag_ctx *c = vctx;
    const struct nqs_lattice *lat = c->lat;
    int N = lat->n_sites;
    switch (c->kind) {
    case 0: { /* m^2 */
        double m = 0;
        for (int i = 0; i < N; i++) m += s[i];
        return m * m / ((double)N * N);
    }
    case 1: { /* m_s^2 with eps = +1 on sublattice 0 */
        double m = 0;
        for (int i = 0; i < N; i++) m += lat->sublattice[i] ? -s[i] : s[i];
        return m * m / ((double)N * N);
    }
    case 2: { /* S(q) */
        double complex a = 0;
        for (int i = 0; i < N; i++)
            a += s[i] * cexp(I * M_PI * (c->q[0] * lat->pos[2 * i] + c->q[1] * lat->pos[2 * i + 1]));
        return creal(a * conj(a)) / N;
    }
    case 3: { /* bond_zz(a) */
        double v = 0, n = 0;
        for (int i = 0; i < N; i++) {
            int j = site_at(lat, xof(lat, i) + dirs[c->a][0], yof(lat, i) + dirs[c->a][1]);
            if (j >= 0 && j != i) v += s[i] * s[j], n++;
        }
        return n > 0 ? v / n : 0;
    }
    case 4: { /* dimer_zz(a, b, r) */
        double v = 0, n = 0;
        for (int i = 0; i < N; i++)
            for (int k = 0; k < N; k++) {
                if (!at_r(lat, i, k, c->rx, c->ry)) continue;
                int j = site_at(lat, xof(lat, i) + dirs[c->a][0], yof(lat, i) + dirs[c->a][1]);
                int l = site_at(lat, xof(lat, k) + dirs[c->b][0], yof(lat, k) + dirs[c->b][1]);
                if (j < 0 || j == i || l < 0 || l == k) continue;
                v += s[i] * s[j] * s[k] * s[l];
                n++;
            }
        return n > 0 ? v / n : 0;
    }
    default: { /* nn_correlation: the lattice's nearest bonds */
        double v = 0;
        int nb = lat->n_bonds_order[0];
        for (int b = 0; b < nb; b++) v += s[lat->bonds[b].i] * s[lat->bonds[b].j];
        return v / nb;
    }
    }
}

/* Dense expectation of column `col` of item k. */
/* The Hamiltonian of the moment checks, written out here: heisenberg
 * (sum over bonds of xx + yy + zz, J = 1) or ising (-J zz - h x); bonds
 * (x, y)-(x+1, y) and (x, y)-(x, y+1) read with site_at. */
static struct {
    int ising;
    double J, h;
} dense_h;

/* out += c P in for the Pauli string p on sites `site`, applied to every
 * basis state y: P|y> = phase(y) |y xor mask>. */
static void dense_pauli_apply(const struct dense *d, double complex c, const char *p, const int *site,
                              const double complex *in, double complex *out)
{
    long mask = 0;
    for (int k = 0; p[k]; k++)
        if (p[k] != 'z') mask ^= 1L << site[k];
    for (long y = 0; y < d->dim; y++) {
        if (in[y] == 0) continue;
        double complex ph = c;
        for (int k = 0; p[k]; k++) {
            int sy = spin(y, site[k]);
            if (p[k] == 'z') ph *= sy;
            else if (p[k] == 'y') ph *= I * sy;
        }
        out[y ^ mask] += ph * in[y];
    }
}

/* out = H in. */
static void dense_h_apply(const struct dense *d, const struct nqs_lattice *lat, const double complex *in,
                          double complex *out)
{
    memset(out, 0, (size_t)d->dim * sizeof *out);
    int L[2] = {lat->extent[0], lat->dim > 1 ? lat->extent[1] : 1};
    for (int y = 0; y < L[1]; y++)
        for (int x = 0; x < L[0]; x++) {
            int i = site_at(lat, x, y);
            if (dense_h.ising) {
                int one[1] = {i};
                dense_pauli_apply(d, -dense_h.h, "x", one, in, out);
            }
            for (int dir = 0; dir < 2; dir++) {
                int j = site_at(lat, x + (dir == 0), y + (dir == 1));
                if (j < 0 || j == i) continue;
                int ij[2] = {i, j};
                if (dense_h.ising) {
                    dense_pauli_apply(d, -dense_h.J, "zz", ij, in, out);
                } else {
                    dense_pauli_apply(d, dense_h.J, "xx", ij, in, out);
                    dense_pauli_apply(d, dense_h.J, "yy", ij, in, out);
                    dense_pauli_apply(d, dense_h.J, "zz", ij, in, out);
                }
            }
        }
}

/* <H>, <H^2>, <H^3> of the normalised dense psi. */
static void dense_moments(const struct dense *d, const struct nqs_lattice *lat, double h[3],
                          double complex **hpsi_out)
{
    double complex *a = malloc((size_t)d->dim * sizeof *a), *b = malloc((size_t)d->dim * sizeof *b);
    assert_true(a && b);
    dense_h_apply(d, lat, d->psi, a);
    dense_h_apply(d, lat, a, b);
    double complex m[3] = {0, 0, 0};
    for (long y = 0; y < d->dim; y++) {
        m[0] += conj(d->psi[y]) * a[y];
        m[1] += conj(a[y]) * a[y];
        m[2] += conj(a[y]) * b[y];
    }
    for (int k = 0; k < 3; k++) h[k] = creal(m[k]);
    free(b);
    if (hpsi_out) *hpsi_out = a;
    else free(a);
}

/* Energy of psi + alpha H psi (hpsi = H psi), applying H once more. */
static double dense_lanczos_energy(const struct dense *d, const struct nqs_lattice *lat,
                                   const double complex *hpsi, double alpha)
{
    double complex *v = calloc((size_t)d->dim, sizeof *v), *hv = calloc((size_t)d->dim, sizeof *hv);
    assert_true(v && hv);
    for (long y = 0; y < d->dim; y++) v[y] = d->psi[y] + alpha * hpsi[y];
    dense_h_apply(d, lat, v, hv);
    double complex num = 0, den = 0;
    for (long y = 0; y < d->dim; y++) {
        num += conj(v[y]) * hv[y];
        den += conj(v[y]) * v[y];
    }
    free(v);
    free(hv);
    return creal(num) / creal(den);
}

static double dense_value(const struct dense *d, const struct nqs_obs *obs, int k, int col)
{
    const struct nqs_obs_item *it = &obs->item[k];
    const struct nqs_lattice *lat = obs->lat;
    int N = lat->n_sites;
    struct diag_ctx c = {.lat = lat};
    switch (it->kind) {
    case NQS_OBS_M2: c.kind = 0; break;
    case NQS_OBS_MS2: c.kind = 1; break;
    case NQS_OBS_NN: c.kind = 5; break;
    case NQS_OBS_SQ:
        c.kind = 2;
        c.q[0] = obs->q[0] / M_PI;
        c.q[1] = obs->q[1] / M_PI;
        break;
    case NQS_OBS_SQ_ALL: {
        /* the file's label q (units of pi), checked against (m1/L1) b1 + (m2/L2) b2 */
        c.kind = 2;
        c.q[0] = obs->q_pi[2 * col];
        c.q[1] = obs->q_pi[2 * col + 1];
        int m1 = (int)obs->q_int[2 * col], m2 = (int)obs->q_int[2 * col + 1];
        double L1 = lat->extent[0], L2 = lat->dim > 1 ? lat->extent[1] : 1;
        double b1[2] = {2, 0}, b2[2] = {0, 2};
        if (lat->kind == NQS_LATTICE_TRIANGULAR) b1[1] = -2 / sqrt(3.0), b2[1] = 4 / sqrt(3.0);
        assert_close(c.q[0], m1 / L1 * b1[0] + m2 / L2 * b2[0], 1e-14);
        assert_close(c.q[1], m1 / L1 * b1[1] + m2 / L2 * b2[1], 1e-14);
        break;
    }
    case NQS_OBS_SX: {
        double complex e = 0;
        for (int i = 0; i < N; i++) e += dense_pauli(d, 1.0 / N, "x", &i);
        return creal(e);
    }
    case NQS_OBS_BOND:
        c.kind = 3;
        c.a = col;
        break;
    case NQS_OBS_DIMER: {
        c.kind = 4;
        int nd = obs->n_dir;
        c.a = (int)obs->dimer_ab[2 * col];
        c.b = (int)obs->dimer_ab[2 * col + 1];
        assert_int_equal(col / obs->n_r, c.a * nd + c.b);
        c.rx = (int)obs->dimer_r[2 * col];
        c.ry = (int)obs->dimer_r[2 * col + 1];
        break;
    }
    case NQS_OBS_CORR_ZZ:
    case NQS_OBS_CORR_FULL: {
        int rx = (int)obs->r_int[2 * col], ry = (int)obs->r_int[2 * col + 1];
        double complex e = 0;
        int n = 0;
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                if (!at_r(lat, i, j, rx, ry)) continue;
                n++;
                int ij[2] = {i, j};
                if (i == j) e += it->kind == NQS_OBS_CORR_FULL ? 3 : 1;
                else if (it->kind == NQS_OBS_CORR_ZZ) e += dense_pauli(d, 1, "zz", ij);
                else
                    e += dense_pauli(d, 1, "xx", ij) + dense_pauli(d, 1, "yy", ij) +
                         dense_pauli(d, 1, "zz", ij);
            }
        assert_int_equal(n, (int)obs->r_count[col]);
        return creal(e) / n;
    }
    case NQS_OBS_MOMENT_H2:
    case NQS_OBS_MOMENT_H2_MIXED:
    case NQS_OBS_MOMENT_H3: {
        double h[3];
        dense_moments(d, lat, h, NULL);
        return it->kind == NQS_OBS_MOMENT_H3 ? h[2] : h[1];
    }
    default: fail_msg("unexpected observable %s", it->name);
    }
    return dense_diag(d, f_diag, &c);
}

/* Measure obs on p's model with the sampler options `smp_text` and compare
 * with the dense values: exact (tol) or within 4 error bars (tol < 0). */
static void check_obs(struct nqs_problem *p, struct nqs_obs *obs, const char *smp_text, int samples_per_chain,
                      int sector)
{
    struct nqs_config *cfg = nqs_config_alloc();
    assert_int_equal(nqs_config_read_string(cfg, smp_text, "test"), NQS_OK);
    struct nqs_opt_val sv[16];
    assert_int_equal(nqs_config_get(cfg, "sampler", nqs_sampler_options, nqs_sampler_n_options, sv), NQS_OK);
    struct nqs_sampler_opts so;
    if (nqs_sampler_opts_from(sv, p->ham, p->magnetisation, &so) != NQS_OK) fail_msg("%s", nqs_last_error());
    nqs_config_free(cfg);
    struct nqs_sampler *smp = nqs_sampler_alloc(&so, p->model, p->ham, 0, so.n_chains);
    assert_non_null(smp);
    assert_int_equal(nqs_obs_workspaces(obs, so.n_chains), NQS_OK);
    struct nqs_vstate *vs =
        nqs_vstate_alloc(p->model, p->ham, smp, obs, samples_per_chain, 0, 0, so.n_chains, 0);
    assert_non_null(vs);
    if (nqs_vstate_sample(vs, 1) != NQS_OK) fail_msg("%s", nqs_last_error());
    double *val = malloc((size_t)obs->n * sizeof *val), *err = malloc((size_t)obs->n * sizeof *err);
    assert_int_equal(nqs_vstate_obs_stats(vs, NULL, 0, NULL, val, err), NQS_OK);
    struct dense d;
    dense_state(p, sector, p->magnetisation, &d);
    int n_checked = 0, n_noisy = 0;
    for (int k = 0; k < obs->n_items; k++)
        for (int c = 0; c < obs->item[k].n; c++) {
            double want = dense_value(&d, obs, k, c), v = val[obs->item[k].offset + c],
                   e = err[obs->item[k].offset + c];
            n_checked++;
            if (so.exact) {
                if (!(fabs(v - want) <= 1e-10))
                    fail_msg("%s[%d] = %.15g, dense %.15g", obs->item[k].name, c, v, want);
                assert_true(e == 0.0);
            } else if (e == 0.0) { /* a constant estimator: must be the value */
                if (!(fabs(v - want) <= 1e-12))
                    fail_msg("%s[%d] = %.15g with error 0, dense %.15g", obs->item[k].name, c, v, want);
            } else {
                n_noisy++;
                if (!(fabs(v - want) <= 4 * e))
                    fail_msg("%s[%d] = %.6f +- %.6f, dense %.6f (%.1f sigma)", obs->item[k].name, c,
                             v, e, want, fabs(v - want) / e);
            }
        }
    assert_true(n_checked == obs->n);
    if (!so.exact) assert_true(n_noisy > obs->n / 3); /* the check is not vacuous */
    double el, ee, ea;
    if (nqs_vstate_lanczos(vs, &el, &ee, &ea)) {
        double h[3];
        double complex *hpsi;
        dense_moments(&d, p->lat, h, &hpsi);
        double want = nqs_lanczos_energy(h[0], h[1], h[1], h[2], NULL);
        double at = dense_lanczos_energy(&d, p->lat, hpsi, ea);
        if (so.exact) { /* the energy is that of the state at the returned alpha, a minimum */
            if (!(fabs(el - want) <= 1e-10 && fabs(at - el) <= 1e-10))
                fail_msg("Lanczos energy %.15g at alpha %.10g: dense %.15g, from dense moments %.15g",
                         el, ea, at, want);
            assert_true(ee == 0.0);
            assert_true(dense_lanczos_energy(&d, p->lat, hpsi, ea + 1e-3) >= el - 1e-12);
            assert_true(dense_lanczos_energy(&d, p->lat, hpsi, ea - 1e-3) >= el - 1e-12);
            assert_true(el < h[0] - 1e-6); /* below the state's energy */
        } else if (!(ee > 0 && fabs(el - want) <= 4 * ee)) {
            fail_msg("Lanczos energy %.6f +- %.6f, dense %.6f (%.1f sigma)", el, ee, want,
                     fabs(el - want) / ee);
        }
        free(hpsi);
    }
    free(val);
    free(err);
    free(d.psi);
    nqs_vstate_free(vs);
    nqs_sampler_free(smp);
}

/* ------------------------------------------------------------- operators */

static void test_pauli_sum_matches_dense(void **state)
{
    (void)state;
    struct nqs_problem *p = build("[lattice]\ntype = chain\nextent = 5\nboundary = open\n"
                                  "[hamiltonian]\ntype = ising\nh = 0.7\n"
                                  "[model]\ntype = rbm\nalpha = 2\ninit_std = 0.3\nseed = 5\n");
    struct nqs_model *m = p->model;
    struct nqs_operator *op = nqs_operator_alloc(5, "mix");
    int s01[2] = {0, 1}, s13[2] = {1, 3}, s2[1] = {2}, s4[1] = {4}, s024[3] = {0, 2, 4};
    assert_int_equal(nqs_operator_add(op, 0.5, "xy", s01), NQS_OK);
    assert_int_equal(nqs_operator_add(op, 0.25 - 0.5 * I, "yy", s13), NQS_OK);
    assert_int_equal(nqs_operator_add(op, 1.5, "xx", s13), NQS_OK); /* merges with the yy term */
    assert_int_equal(nqs_operator_add(op, 0.3 * I, "y", s2), NQS_OK);
    assert_int_equal(nqs_operator_add(op, -0.7, "z", s4), NQS_OK);
    assert_int_equal(nqs_operator_add(op, 0.9, "zyx", s024), NQS_OK);
    assert_int_equal(nqs_operator_finalize(op), NQS_OK);
    assert_int_equal(op->n_groups, 5); /* {}, {0,1}, {1,3}, {2}, {2,4} */
    assert_int_not_equal(nqs_operator_add(op, 1, "z", s2), NQS_OK);
    struct nqs_op_conn *ws = nqs_op_conn_alloc(op);
    struct dense d;
    dense_state(p, 0, 0, &d);
    double complex want = dense_pauli(&d, 0.5, "xy", s01) + dense_pauli(&d, 0.25 - 0.5 * I, "yy", s13) +
                          dense_pauli(&d, 1.5, "xx", s13) + dense_pauli(&d, 0.3 * I, "y", s2) +
                          dense_pauli(&d, -0.7, "z", s4) + dense_pauli(&d, 0.9, "zyx", s024);
    void *cache = malloc(m->cache_size);
    int8_t s[5];
    double complex got = 0;
    for (long x = 0; x < d.dim; x++) {
        for (int i = 0; i < 5; i++) s[i] = (int8_t)spin(x, i);
        m->ops->cache_init(m, s, cache);
        got += creal(d.psi[x] * conj(d.psi[x])) * nqs_operator_local(op, m, cache, s, ws, NULL);
    }
    assert_rel_close(creal(got), creal(want), 1e-12);
    assert_rel_close(cimag(got), cimag(want), 1e-12);
    assert_true(fabs(cimag(want)) > 1e-3); /* a non-Hermitian operator: the imaginary part is tested */
    /* bad terms */
    int twice[2] = {1, 1}, out[1] = {5};
    struct nqs_operator *bad = nqs_operator_alloc(5, "bad");
    assert_int_equal(nqs_operator_add(bad, 1, "xx", twice), NQS_EINVAL);
    assert_int_equal(nqs_operator_add(bad, 1, "x", out), NQS_EINVAL);
    assert_int_equal(nqs_operator_add(bad, 1, "q", s2), NQS_EINVAL);
    nqs_operator_free(bad);
    free(cache);
    free(d.psi);
    nqs_op_conn_free(ws);
    nqs_operator_free(op);
    nqs_problem_free(p);
}

static void test_wrapped_hamiltonian_is_local_energy(void **state)
{
    (void)state;
    struct nqs_problem *p = build("[lattice]\ntype = square\nextent = 3,3\n"
                                  "[hamiltonian]\ntype = j1j2\nJ2 = 0.4\n"
                                  "[model]\ntype = rbm\nalpha = 1\ninit_std = 0.2\nseed = 2\n");
    struct nqs_model *m = p->model;
    struct nqs_operator *op = nqs_operator_from_ham(p->ham);
    struct nqs_op_conn *ws = nqs_op_conn_alloc(op);
    struct nqs_conn *conn = nqs_conn_alloc(p->ham);
    void *cache = malloc(m->cache_size);
    int8_t s[9];
    for (long x = 0; x < 512; x += 7) {
        for (int i = 0; i < 9; i++) s[i] = (int8_t)spin(x, i);
        m->ops->cache_init(m, s, cache);
        double complex a = nqs_local_energy(m, p->ham, cache, s, conn);
        double complex b = nqs_operator_local(op, m, cache, s, ws, NULL);
        assert_memory_equal(&a, &b, sizeof a);
    }
    free(cache);
    nqs_conn_free(conn);
    nqs_op_conn_free(ws);
    nqs_operator_free(op);
    nqs_problem_free(p);
}

/* ----------------------------------------------------------- observables */

static const char square_open[] =
    "[lattice]\ntype = square\nextent = 2,3\nboundary = open\n"
    "[hamiltonian]\ntype = ising\nh = 0.8\n"
    "[model]\ntype = rbm\nalpha = 1\ninit_std = 0.3\nseed = 11\n";
static const char square_obs[] =
    "[observables]\ncorrelations = full\nstructure_factor = all\nsx = true\n"
    "staggered_magnetisation_sq = true\ndimers = true\n";
static const char heis_ring[] =
    "[lattice]\ntype = chain\nextent = 6\n"
    "[hamiltonian]\ntype = heisenberg\n"
    "[model]\ntype = rbm\nalpha = 1\ninit_std = 0.3\nseed = 4\n";
static const char heis_obs[] =
    "[observables]\ncorrelations = full\nstructure_factor = all\n"
    "staggered_magnetisation_sq = true\ndimers = true\n";
static const char tri[] =
    "[lattice]\ntype = triangular\nextent = 3,3\n"
    "[hamiltonian]\ntype = ising\nh = 1.2\n"
    "[model]\ntype = rbm\nalpha = 1\ninit_std = 0.3\nseed = 8\n";
static const char tri_obs[] = "[observables]\ncorrelations = full\nstructure_factor = auto\ndimers = true\n"
                              "sx = true\n";

static void run_case(const char *prob, const char *obs_text, const char *smp, int per_chain, int sector)
{
    struct nqs_problem *p = build(prob);
    struct nqs_obs obs;
    obs_from(obs_text, p, &obs);
    check_obs(p, &obs, smp, per_chain, sector);
    nqs_obs_free(&obs);
    nqs_problem_free(p);
}

static void test_exact_square_open(void **state)
{
    (void)state;
    run_case(square_open, square_obs, "[sampler]\nmethod = exact\nchains = 3\n", 0, 0);
}

static void test_exact_heisenberg_marshall(void **state)
{
    (void)state;
    struct nqs_problem *p = build(heis_ring);
    assert_true(p->ham->marshall); /* the rotated basis is what this case tests */
    nqs_problem_free(p);
    run_case(heis_ring, heis_obs, "[sampler]\nmethod = exact\nchains = 2\n", 0, 1);
}

static void test_exact_triangular(void **state)
{
    (void)state;
    run_case(tri, tri_obs, "[sampler]\nmethod = exact\nchains = 4\n", 0, 0);
}

static void test_metropolis_square_open(void **state)
{
    (void)state;
    run_case(square_open, square_obs, "[sampler]\nchains = 8\nsamples = 1024\nseed = 3\n", 2000, 0);
}

static void test_metropolis_triangular(void **state)
{
    (void)state;
    run_case(tri, tri_obs, "[sampler]\nchains = 8\nsamples = 1024\nseed = 7\n", 1500, 0);
}

static void test_metropolis_heisenberg_marshall(void **state)
{
    (void)state;
    run_case(heis_ring, heis_obs, "[sampler]\nchains = 8\nsamples = 1024\nseed = 5\n", 2000, 1);
}

static const char moments_obs[] = "[observables]\nlanczos = true\n";

/* The moments on the open TFIM state (h = 0.8) and the Heisenberg ring, with
 * the samplers' settings `smp_square`, `smp_ring`. */
static void moments_cases(const char *smp_square, const char *smp_ring, int per_chain)
{
    dense_h.ising = 1, dense_h.J = 1.0, dense_h.h = 0.8;
    run_case(square_open, moments_obs, smp_square, per_chain, 0);
    dense_h.ising = 0, dense_h.J = 1.0;
    run_case(heis_ring, moments_obs, smp_ring, per_chain, 1);
}

static void test_moments_exact(void **state)
{
    (void)state;
    moments_cases("[sampler]\nmethod = exact\nchains = 3\n", "[sampler]\nmethod = exact\nchains = 2\n", 0);
}

static void test_moments_metropolis(void **state)
{
    (void)state;
    moments_cases("[sampler]\nchains = 8\nsamples = 1024\nseed = 3\n",
                  "[sampler]\nchains = 8\nsamples = 1024\nseed = 5\n", 4000);
}

/* lanczos = true with every > 0 is refused, naming both keys. */
static void test_moments_refused_every(void **state)
{
    (void)state;
    struct nqs_problem *p = build(heis_ring);
    struct nqs_config *cfg = nqs_config_alloc();
    assert_int_equal(nqs_config_read_string(cfg, "[observables]\nlanczos = true\nevery = 5\n", "t"), NQS_OK);
    struct nqs_opt_val v[16];
    assert_int_equal(nqs_config_get(cfg, "observables", nqs_obs_options, nqs_obs_n_options, v), NQS_OK);
    struct nqs_obs obs;
    assert_int_equal(nqs_obs_setup(&obs, v, p->lat), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "lanczos"));
    assert_non_null(strstr(nqs_last_error(), "every"));
    nqs_obs_free(&obs);
    nqs_config_free(cfg);
    nqs_problem_free(p);
    /* by hand: a Lanczos step from an eigenstate's moments stays there
     * (alpha 0); on two levels E = -1, +1 with psi = (cos t, sin t), t = pi/6
     * (h1 = h3 = -cos 2t = -0.5, h2 = 1) it reaches E = -1 exactly, with
     * alpha = -1 (psi - H psi = (2 cos t, 0)) */
    double a;
    assert_true(nqs_lanczos_energy(-2.0, 4.0, 4.0, -8.0, &a) == -2.0 && a == 0.0);
    assert_true(fabs(nqs_lanczos_energy(-0.5, 1.0, 1.0, -0.5, &a) + 1.0) < 1e-15);
    assert_true(fabs(a + 1.0) < 1e-15);
}

/* Bad input: staggered magnetisation on a lattice that is not bipartite. */
static void test_staggered_refused_on_triangular(void **state)
{
    (void)state;
    struct nqs_problem *p = build(tri);
    struct nqs_config *cfg = nqs_config_alloc();
    assert_int_equal(nqs_config_read_string(cfg, "[observables]\nstaggered_magnetisation_sq = true\n", "t"),
                     NQS_OK);
    struct nqs_opt_val v[16];
    assert_int_equal(nqs_config_get(cfg, "observables", nqs_obs_options, nqs_obs_n_options, v), NQS_OK);
    struct nqs_obs obs;
    assert_int_equal(nqs_obs_setup(&obs, v, p->lat), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "staggered_magnetisation_sq"));
    nqs_obs_free(&obs);
    nqs_config_free(cfg);
    nqs_problem_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pauli_sum_matches_dense),
        cmocka_unit_test(test_wrapped_hamiltonian_is_local_energy),
        cmocka_unit_test(test_exact_square_open),
        cmocka_unit_test(test_exact_heisenberg_marshall),
        cmocka_unit_test(test_exact_triangular),
        cmocka_unit_test(test_metropolis_square_open),
        cmocka_unit_test(test_metropolis_heisenberg_marshall),
        cmocka_unit_test(test_metropolis_triangular),
        cmocka_unit_test(test_staggered_refused_on_triangular),
        cmocka_unit_test(test_moments_exact),
        cmocka_unit_test(test_moments_metropolis),
        cmocka_unit_test(test_moments_refused_every),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
