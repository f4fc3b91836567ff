/*
 * test_projection.c - symmetric RBM over the space group and projections onto
 * symmetry sectors (models/rbm_symm.c, models/projected.c):
 *   - characters: for random std-0.3 parameters, psi(g s) = chi(g) psi(s) to
 *     1e-12 for every element of the sector's group and psi(-s) = p psi(s),
 *     for projections of unshared and shared bases (rbm, rbm_symm over no
 *     group, the translations or the space group, cnn, the GCNN, lcn: the
 *     shared ones declare their invariance, so only cosets are summed) onto
 *     k = 0 and k != 0,
 *     A1/A2/B1/B2 and spin-flip sectors, on periodic and open chains, square
 *     and triangular lattices; rbm_symm over the space group is invariant
 *     under every element;
 *   - sectors a base cannot reach are refused with a message;
 *   - ground-state searches in non-trivial sectors reach the exact sector
 *     energies (tests/data/sector_references.py, dense ED in numpy): exact
 *     expectation values over the magnetisation sector and SR with a dense
 *     solve, written here so the test depends on the model interface only.
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
#include <gsl/gsl_rng.h>

#include "error.h"
#include "ham_test_util.h"
#include "model.h"
#include "nqs_test.h"
#include "problem.h"
#include "sampler.h"
#include "symmetry.h"

/* ------------------------------------------------------------ building */

/* Model `name` with defaults, then "key=value" overrides (NULL-terminated). */
static struct nqs_model *make_model(const char *name, const struct nqs_lattice *lat,
                                    const char *const *set)
{
    const struct nqs_model_ops *ops = nqs_model_find(name);
    assert_non_null(ops);
    struct nqs_opt_val v[NQS_MAX_PLUGIN_OPTIONS];
    for (int k = 0; k < ops->n_options; k++) {
        const char *text = ops->options[k].def;
        size_t len = strlen(ops->options[k].name);
        for (int q = 0; set && set[q]; q++)
            if (strncmp(set[q], ops->options[k].name, len) == 0 && set[q][len] == '=')
                text = set[q] + len + 1;
        util_opt_parse(&ops->options[k], text, &v[k]);
    }
    return nqs_model_alloc(ops, lat, v); /* NULL with a message */
}

struct proj {
    struct nqs_model *m;
    struct nqs_symmetry *sym;
    double complex *chi;
    struct nqs_sector sec;
};

/* Characters of `sec` on its group (space group if irrep != NONE); 0 when the
 * lattice has no such sector. */
static int sector_group(const struct nqs_lattice *lat, struct nqs_sector sec, struct proj *p)
{
    memset(p, 0, sizeof *p);
    p->sec = sec;
    p->sym = nqs_symmetry_alloc(lat, sec.irrep == NQS_IRREP_NONE ? NQS_GROUP_TRANSLATIONS
                                                                 : NQS_GROUP_SPACE);
    assert_non_null(p->sym);
    p->chi = malloc((size_t)p->sym->n_elem * sizeof *p->chi);
    assert_non_null(p->chi);
    if (nqs_symmetry_characters(p->sym, lat, &sec, p->chi) != NQS_OK) {
        nqs_symmetry_free(p->sym);
        free(p->chi);
        memset(p, 0, sizeof *p);
        return 0;
    }
    return 1;
}

static void proj_release(struct proj *p)
{
    nqs_model_free(p->m);
    nqs_symmetry_free(p->sym);
    free(p->chi);
    memset(p, 0, sizeof *p);
}

static void random_config(gsl_rng *rng, int N, int8_t *s)
{
    for (int i = 0; i < N; i++) s[i] = gsl_rng_uniform_int(rng, 2) ? 1 : -1;
}

/* |log a - log b - log c| with the phase modulo 2 pi (c != 0). */
static double log_mismatch(double complex la, double complex lb, double complex c)
{
    double complex d = la - lb - clog(c);
    return hypot(creal(d), remainder(cimag(d), 2.0 * M_PI));
}

/* psi(g s) = chi(g) psi(s) for every g with chi(g) != 0 (all of `sym` when chi
 * is NULL: invariance), psi(-s) = flip psi(s) when flip != 0, over n_rep random
 * configurations; returns the worst mismatch relative to max(1, |log psi|). */
static double check_transforms(const struct nqs_model *m, const struct nqs_symmetry *sym,
                               const double complex *chi, int flip, gsl_rng *rng, int n_rep,
                               int *n_nonzero)
{
    int N = m->n_sites;
    int8_t *s = malloc((size_t)N), *gs = malloc((size_t)N);
    assert_true(s && gs);
    double worst = 0;
    *n_nonzero = 0;
    for (int rep = 0; rep < n_rep; rep++) {
        random_config(rng, N, s);
        double complex lp = nqs_model_log_psi(m, s);
        double scale = fmax(1.0, cabs(lp));
        for (int g = 0; g < sym->n_elem; g++) {
            double complex c = chi ? chi[g] : 1.0;
            if (c == 0) continue;
            nqs_symmetry_apply(sym, g, s, gs);
            double complex lg = nqs_model_log_psi(m, gs);
            if (creal(lp) == -INFINITY || creal(lg) == -INFINITY) {
                assert_true(creal(lp) == creal(lg)); /* zeros map onto zeros */
                continue;
            }
            worst = fmax(worst, log_mismatch(lg, lp, c) / scale);
        }
        if (flip) {
            for (int i = 0; i < N; i++) gs[i] = (int8_t)-s[i];
            double complex lf = nqs_model_log_psi(m, gs);
            if (creal(lp) == -INFINITY || creal(lf) == -INFINITY)
                assert_true(creal(lp) == creal(lf));
            else
                worst = fmax(worst, log_mismatch(lf, lp, (double)flip) / scale);
        }
        *n_nonzero += creal(lp) != -INFINITY;
    }
    free(s), free(gs);
    return worst;
}

/* ------------------------------------------------------------ characters */

struct lat_case {
    const char *label;
    enum nqs_lattice_kind kind;
    int lx, ly, px, py;
};

static const struct lat_case lat_cases[] = {
    {"chain 10 periodic", NQS_LATTICE_CHAIN, 10, 1, 1, 0},
    {"chain 8 open", NQS_LATTICE_CHAIN, 8, 1, 0, 0},
    {"square 4x4 periodic", NQS_LATTICE_SQUARE, 4, 4, 1, 1},
    {"square 4x3 periodic,open", NQS_LATTICE_SQUARE, 4, 3, 1, 0},
    {"square 3x3 open", NQS_LATTICE_SQUARE, 3, 3, 0, 0},
    {"triangular 3x3 periodic", NQS_LATTICE_TRIANGULAR, 3, 3, 1, 1},
};
#define N_LAT_CASES ((int)(sizeof lat_cases / sizeof lat_cases[0]))

struct base_case {
    const char *label, *model;
    const char *set[3];
};

static const struct base_case base_cases[] = {
    {"rbm", "rbm", {"alpha=1", NULL}},
    {"rbm_symm[none]", "rbm_symm", {"alpha=2", "group=none", NULL}},
    {"rbm_symm[translations]", "rbm_symm", {"alpha=2", "group=translations", NULL}},
    {"rbm_symm[space]", "rbm_symm", {"alpha=2", "group=space_group", NULL}},
    {"cnn", "cnn", {"channels=2,2", "kernel=2", NULL}},
    {"cnn[space]", "cnn", {"channels=2,2", "group=space_group", NULL}},
    {"lcn", "lcn", {"channels=2", "kernel=2", NULL}},
};
#define N_BASE_CASES ((int)(sizeof base_cases / sizeof base_cases[0]))

static void test_projection_transforms_with_characters(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 5113);
    /* momentum m_x (m_y = m_x on square/triangular), irrep, spin flip */
    static const int sectors[][3] = {
        {0, NQS_IRREP_NONE, 0}, {1, NQS_IRREP_NONE, 0},  {0, NQS_IRREP_A1, 1},
        {0, NQS_IRREP_A2, 0},   {0, NQS_IRREP_B1, -1},   {0, NQS_IRREP_B2, 0},
        {2, NQS_IRREP_A1, 0},   {2, NQS_IRREP_B1, 1},    {1, NQS_IRREP_A2, -1},
    };
    int n_checked = 0, n_refused = 0;
    for (int l = 0; l < N_LAT_CASES; l++) {
        const struct lat_case *lc = &lat_cases[l];
        struct nqs_lattice *lat = util_lattice(lc->kind, lc->lx, lc->ly, lc->px, lc->py);
        for (int b = 0; b < N_BASE_CASES; b++)
            for (size_t q = 0; q < sizeof sectors / sizeof sectors[0]; q++) {
                struct nqs_sector sec = {{lc->px ? sectors[q][0] : 0,
                                          lc->kind != NQS_LATTICE_CHAIN && lc->py ? sectors[q][0] : 0},
                                         sectors[q][1], sectors[q][2]};
                if (sectors[q][0] && !lc->px && !lc->py) continue; /* no momentum when open */
                struct proj p;
                if (!sector_group(lat, sec, &p)) continue; /* no such irrep here */
                struct nqs_model *base = make_model(base_cases[b].model, lat, base_cases[b].set);
                if (!base) { /* rbm_symm over translations refuses open lattices */
                    nqs_error_clear();
                    proj_release(&p);
                    continue;
                }
                nqs_model_init(base, 99 + (unsigned long)(l * 31 + b * 7 + (int)q), 0.3);
                /* read before the projection, which owns (and on failure frees) the base */
                const enum nqs_model_invariance inv = base->invariance;
                p.m = nqs_model_project(base, p.sym, p.chi, sec.spin_flip);
                if (!p.m) { /* the base is invariant where chi is not trivial */
                    assert_non_null(strstr(nqs_last_error(), "vanishes identically"));
                    assert_true(inv != NQS_INVARIANT_NONE);
                    n_refused++;
                    proj_release(&p);
                    continue;
                }
                assert_true(strlen(p.m->projection) > 0);
                int nz;
                double worst = check_transforms(p.m, p.sym, p.chi, sec.spin_flip, rng, 6, &nz);
                if (!(worst <= 1e-12))
                    fail_msg("%s on %s, sector k=%d %s flip %d: mismatch %.3g", base_cases[b].label,
                             lc->label, sectors[q][0], nqs_irrep_name(sec.irrep), sec.spin_flip,
                             worst);
                n_checked++;
                proj_release(&p);
            }
        nqs_lattice_free(lat);
    }
    printf("# %d projections transform with their characters (1e-12), %d refused as unreachable\n",
           n_checked, n_refused);
    assert_true(n_checked >= 100);
    assert_true(n_refused >= 20);
    gsl_rng_free(rng);
}

/* rbm_symm over the space group: psi(g s) = psi(s) for every element. */
static void test_projection_space_rbm_is_invariant(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 77);
    static const char *const set[] = {"alpha=2", "group=space_group", NULL};
    for (int l = 0; l < N_LAT_CASES; l++) {
        const struct lat_case *lc = &lat_cases[l];
        struct nqs_lattice *lat = util_lattice(lc->kind, lc->lx, lc->ly, lc->px, lc->py);
        struct nqs_model *m = make_model("rbm_symm", lat, set);
        if (!m) fail_msg("%s", nqs_last_error());
        nqs_model_init(m, 5 + (unsigned long)l, 0.3);
        struct nqs_symmetry *sym = nqs_symmetry_alloc(lat, NQS_GROUP_SPACE);
        assert_non_null(sym);
        assert_int_equal(m->n_hidden, 2 * sym->n_elem);
        assert_int_equal(m->n_par, 2 * lat->n_sites + 2 + 1);
        assert_int_equal(m->invariance, NQS_INVARIANT_SPACE);
        int nz;
        double worst = check_transforms(m, sym, NULL, 0, rng, 20, &nz);
        assert_int_equal(nz, 20);
        printf("# rbm_symm[space] %-26s |G| = %3d, worst |log psi(gs) - log psi(s)| = %.2g\n",
               lc->label, sym->n_elem, worst);
        assert_true(worst <= 1e-12);
        nqs_symmetry_free(sym);
        nqs_model_free(m);
        nqs_lattice_free(lat);
    }
    gsl_rng_free(rng);
}

/* Unreachable sectors are refused with a message that says why. */
static void test_projection_refuses_unreachable_sectors(void **state)
{
    (void)state;
    struct nqs_lattice *lat = util_lattice(NQS_LATTICE_SQUARE, 4, 4, 1, 1);
    static const char *const tr[] = {"group=translations", NULL};
    static const char *const sp[] = {"group=space_group", NULL};
    struct {
        const char *const *set;
        struct nqs_sector sec;
    } cases[] = {
        {tr, {{1, 0}, NQS_IRREP_NONE, 0}}, /* translation invariant, k != 0 */
        {sp, {{0, 0}, NQS_IRREP_A2, 0}},   /* space-group invariant, not A1 */
        {sp, {{2, 2}, NQS_IRREP_A1, 0}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct proj p;
        assert_true(sector_group(lat, cases[c].sec, &p));
        struct nqs_model *base = make_model("rbm_symm", lat, cases[c].set);
        assert_non_null(base);
        nqs_error_clear();
        p.m = nqs_model_project(base, p.sym, p.chi, 0); /* frees base on failure */
        assert_null(p.m);
        assert_non_null(strstr(nqs_last_error(), "vanishes identically"));
        assert_non_null(strstr(nqs_last_error(), "rbm_symm"));
        proj_release(&p);
    }
    /* the invariant base in its own sector: one term (two with the spin flip) */
    struct proj p;
    assert_true(sector_group(lat, (struct nqs_sector){{0, 0}, NQS_IRREP_A1, 1}, &p));
    p.m = nqs_model_project(make_model("rbm_symm", lat, sp), p.sym, p.chi, 1);
    assert_non_null(p.m);
    assert_non_null(strstr(p.m->projection, "2 terms"));
    proj_release(&p);
    /* a translation-invariant base needs only the point group: 8 terms on 4x4 */
    assert_true(sector_group(lat, (struct nqs_sector){{0, 0}, NQS_IRREP_B2, 0}, &p));
    p.m = nqs_model_project(make_model("rbm_symm", lat, tr), p.sym, p.chi, 0);
    assert_non_null(p.m);
    assert_non_null(strstr(p.m->projection, "8 terms"));
    proj_release(&p);
    nqs_lattice_free(lat);
}

/* ------------------------------------------------------------ ground states */

/* Complex Cholesky solve of (A + shift I) x = b, A Hermitian P x P (row-major,
 * overwritten). */
static void chol_solve(int P, double complex *A, double shift, double complex *b)
{
    for (int i = 0; i < P; i++) A[i * P + i] += shift;
    for (int j = 0; j < P; j++) {
        double d = creal(A[j * P + j]);
        for (int k = 0; k < j; k++) d -= creal(A[j * P + k] * conj(A[j * P + k]));
        assert_true(d > 0);
        d = sqrt(d);
        A[j * P + j] = d;
        for (int i = j + 1; i < P; i++) {
            double complex v = A[i * P + j];
            for (int k = 0; k < j; k++) v -= A[i * P + k] * conj(A[j * P + k]);
            A[i * P + j] = v / d;
        }
    }
    for (int i = 0; i < P; i++) { /* L y = b */
        double complex v = b[i];
        for (int k = 0; k < i; k++) v -= A[i * P + k] * b[k];
        b[i] = v / creal(A[i * P + i]);
    }
    for (int i = P - 1; i >= 0; i--) { /* L^H x = y */
        double complex v = b[i];
        for (int k = i + 1; k < P; k++) v -= conj(A[k * P + i]) * b[k];
        b[i] = v / creal(A[i * P + i]);
    }
}

/* SR with exact expectation values over the configurations with sum_i s_i =
 * mag; returns the final energy. */
static double exact_sr(struct nqs_model *m, const struct nqs_ham *h, int mag, int iterations,
                       double lr, double shift)
{
    int N = m->n_sites, P = m->n_par;
    int n_up = (N + mag) / 2;
    int D = 0;
    int8_t *basis = malloc((size_t)N << N);
    assert_non_null(basis);
    for (uint64_t x = 0; x < (1ULL << N); x++) {
        if (__builtin_popcountll(x) != n_up) continue;
        util_spins(x, N, basis + (size_t)D * N);
        D++;
    }
    double *w = malloc((size_t)D * sizeof *w);
    double complex *el = malloc((size_t)D * sizeof *el);
    double complex *O = malloc((size_t)D * P * sizeof *O);
    double complex *S = malloc((size_t)P * P * sizeof *S), *F = malloc((size_t)P * sizeof *F);
    double complex *Om = malloc((size_t)P * sizeof *Om);
    void *cache = malloc(m->cache_size);
    struct nqs_conn *conn = nqs_conn_alloc(h);
    assert_true(w && el && O && S && F && Om && cache && conn);
    double E = 0;
    for (int it = 0; it <= iterations; it++) {
        double mx = -INFINITY;
        for (int d = 0; d < D; d++) {
            const int8_t *s = basis + (size_t)d * N;
            double complex lp = m->ops->cache_init(m, s, cache);
            w[d] = 2.0 * creal(lp);
            if (w[d] > mx) mx = w[d];
            el[d] = nqs_local_energy(m, h, cache, s, conn);
            m->ops->grad_log_psi(m, cache, s, O + (size_t)d * P);
        }
        double z = 0;
        for (int d = 0; d < D; d++) z += w[d] = exp(w[d] - mx);
        double complex Ec = 0;
        for (int d = 0; d < D; d++) {
            w[d] /= z;
            if (w[d] > 0) Ec += w[d] * el[d];
        }
        E = creal(Ec);
        if (it == iterations) break;
        for (int k = 0; k < P; k++) {
            Om[k] = 0;
            for (int d = 0; d < D; d++)
                if (w[d] > 0) Om[k] += w[d] * O[(size_t)d * P + k];
        }
        memset(S, 0, (size_t)P * P * sizeof *S);
        memset(F, 0, (size_t)P * sizeof *F);
        for (int d = 0; d < D; d++) {
            if (!(w[d] > 0)) continue;
            const double complex *o = O + (size_t)d * P;
            for (int k = 0; k < P; k++) {
                double complex ck = conj(o[k] - Om[k]) * w[d];
                F[k] += ck * (el[d] - Ec);
                for (int l = 0; l < P; l++) S[k * P + l] += ck * (o[l] - Om[l]);
            }
        }
        chol_solve(P, S, shift, F);
        for (int k = 0; k < P; k++) m->par[k] -= lr * F[k];
        m->ops->refresh(m);
    }
    free(basis), free(w), free(el), free(O), free(S), free(F), free(Om), free(cache);
    nqs_conn_free(conn);
    return E;
}

struct gs_case {
    const char *label;
    int marshall, mag;
    struct nqs_sector sec;
    int project;
    const char *model;
    const char *set[3];
    int iterations;
    double exact; /* tests/data/sector_references.py */
};

static void run_gs_case(const struct gs_case *c)
{
    struct nqs_lattice *lat = util_lattice(NQS_LATTICE_CHAIN, 10, 1, 1, 0);
    const char *hs[] = {c->marshall ? "marshall_sign=true" : "marshall_sign=false", NULL};
    struct nqs_ham *h = util_ham("heisenberg", lat, hs);
    struct proj p;
    assert_true(sector_group(lat, c->sec, &p));
    assert_int_equal(nqs_symmetry_check_hamiltonian(p.sym, h), NQS_OK);
    struct nqs_model *m = make_model(c->model, lat, c->set);
    if (!m) fail_msg("%s: %s", c->label, nqs_last_error());
    nqs_model_init(m, 3, 0.05);
    if (c->project) {
        m = nqs_model_project(m, p.sym, p.chi, c->sec.spin_flip);
        if (!m) fail_msg("%s: %s", c->label, nqs_last_error());
    }
    p.m = m;
    double E = exact_sr(m, h, c->mag, c->iterations, 0.05, 1e-3);
    double rel = fabs((E - c->exact) / c->exact);
    printf("# %-44s E = %.12f, exact %.12f, relative error %.2e (%d SR iterations)\n", c->label, E,
           c->exact, rel, c->iterations);
    assert_true(rel <= 1e-6);
    proj_release(&p);
    nqs_ham_free(h);
    nqs_lattice_free(lat);
}

/* k = pi without the Marshall sign: the N = 10 ring's ground state (complex
 * characters in general; here real, and the momentum sign structure must be
 * learnt) with a non-invariant rbm_symm (group = none) projected onto k. */
static void test_projection_ground_state_k_pi_without_marshall(void **state)
{
    (void)state;
    const struct gs_case c = {"ring 10, no Marshall, k = pi, P(rbm_symm[none])", 0, 0,
                              {{5, 0}, NQS_IRREP_NONE, 0}, 1, "rbm_symm",
                              {"alpha=2", "group=none", NULL}, 300, -18.06178541796819};
    run_gs_case(&c);
}

/* k = 2 pi / 10 (a complex character) without the Marshall sign. */
static void test_projection_ground_state_k1(void **state)
{
    (void)state;
    const struct gs_case c = {"ring 10, no Marshall, k = 2pi/10, P(rbm_symm[none])", 0, 0,
                              {{1, 0}, NQS_IRREP_NONE, 0}, 1, "rbm_symm",
                              {"alpha=2", "group=none", NULL}, 300, -12.98465966693034};
    run_gs_case(&c);
}

/* Magnetisation 2 (the lowest triplet; singlet-triplet gap 1.6929560310) with
 * the translation-invariant rbm_symm, no projection. */
static void test_projection_ground_state_triplet(void **state)
{
    (void)state;
    const struct gs_case c = {"ring 10, Marshall, magnetisation 2, rbm_symm", 1, 2,
                              {{0, 0}, NQS_IRREP_NONE, 0}, 0, "rbm_symm",
                              {"alpha=2", NULL}, 600, -16.36882938695465};
    run_gs_case(&c);
}

/* Odd under the spin flip, and odd under the reflection (A2): the projection
 * of the translation-invariant rbm_symm (2 terms each). */
static void test_projection_ground_state_odd_sectors(void **state)
{
    (void)state;
    const struct gs_case flip = {"ring 10, Marshall, k = 0, spin flip odd, P(rbm_symm)", 1, 0,
                                 {{0, 0}, NQS_IRREP_NONE, -1}, 1, "rbm_symm",
                                 {"alpha=2", NULL}, 300, -9.336972737255671};
    run_gs_case(&flip);
    const struct gs_case a2 = {"ring 10, Marshall, k = 0, A2, P(rbm_symm)", 1, 0,
                               {{0, 0}, NQS_IRREP_A2, 0}, 1, "rbm_symm",
                               {"alpha=2", NULL}, 300, -9.336972737255689};
    run_gs_case(&a2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_projection_space_rbm_is_invariant),
        cmocka_unit_test(test_projection_transforms_with_characters),
        cmocka_unit_test(test_projection_refuses_unreachable_sectors),
        cmocka_unit_test(test_projection_ground_state_k_pi_without_marshall),
        cmocka_unit_test(test_projection_ground_state_k1),
        cmocka_unit_test(test_projection_ground_state_triplet),
        cmocka_unit_test(test_projection_ground_state_odd_sectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
