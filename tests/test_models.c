/*
 * test_models.c - conformance of EVERY registered model (nqs_model_registry)
 * with the calling protocol of model.h, on a periodic chain (N = 10), a
 * periodic square 4x3, a periodic triangular 3x3 and an open chain (N = 8):
 *   - a model either builds or refuses a lattice with NQS_EUNSUP/NQS_EINVAL and
 *     a message;
 *   - log_psi_ratio (single flips, exchange pairs, arbitrary pairs, n = 0), and
 *     the optional psi_ratio and log_prob_ratio where a model provides them,
 *     equals the difference of two independent full evaluations along 2000
 *     accepted moves applied with cache_update (cache drift), and the drifted
 *     cache still gives the fresh cache's gradient;
 *   - grad_log_psi equals central finite differences of log psi in the real
 *     and imaginary direction of every parameter (holomorphic: d/d(i x) = i O);
 *   - shared models are invariant under every lattice translation, unshared
 *     ones visibly are not (random weights);
 *   - parameter and hidden-unit counts match per-model formulas (table
 *     model_formulas below; models not listed are skipped in that test only).
 * The ratio, gradient and invariance loops also run the option variants of
 * `variants` (a registered name building another network, e.g. cnn with
 * group = space_group).
 * Parameters are drawn with std 0.3 so nothing is tested in the linear regime.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gsl/gsl_rng.h>

#include "config.h"
#include "error.h"
#include "lattice.h"
#include "model.h"
#include "nqs_test.h"
#include "options.h"
#include "problem.h"
#include "symmetry.h"

#define INIT_STD 0.3
#define N_MOVES 2000
#define MAX_OPT NQS_MAX_PLUGIN_OPTIONS

/* ------------------------------------------------------------ lattices */

struct lat_spec {
    const char *label;
    enum nqs_lattice_kind kind;
    int ext[2], per[2];
};

static const struct lat_spec lattices[] = {
    {"chain 10 periodic", NQS_LATTICE_CHAIN, {10, 1}, {1, 1}},
    {"square 4x3 periodic", NQS_LATTICE_SQUARE, {4, 3}, {1, 1}},
    {"triangular 3x3 periodic", NQS_LATTICE_TRIANGULAR, {3, 3}, {1, 1}},
    {"chain 8 open", NQS_LATTICE_CHAIN, {8, 1}, {0, 0}},
};
#define N_LAT ((int)(sizeof lattices / sizeof lattices[0]))

static struct nqs_lattice *make_lattice(const struct lat_spec *ls)
{
    struct nqs_lattice *lat = nqs_lattice_alloc(ls->kind, ls->ext, ls->per);
    if (!lat) fprintf(stderr, "lattice %s: %s\n", ls->label, nqs_last_error());
    assert_non_null(lat);
    return lat;
}

/* ------------------------------------------------------------ options */

/* Option values of a model as the input layer produces them (config.h):
 * defaults, then `key` = `value` if the model has `key` (key NULL: defaults
 * only). Every model must be constructible from its table alone. */
static void model_options(const struct nqs_model_ops *ops, const char *key, const char *value,
                          struct nqs_opt_val *v)
{
    assert_true(ops->n_options <= MAX_OPT);
    struct nqs_config *cfg = nqs_config_alloc();
    assert_non_null(cfg);
    for (int k = 0; key && k < ops->n_options; k++)
        if (strcmp(ops->options[k].name, key) == 0) {
            char assign[128];
            snprintf(assign, sizeof assign, "model.%s=%s", key, value);
            assert_int_equal(nqs_config_set(cfg, assign), NQS_OK);
        }
    int rc = nqs_config_get(cfg, "model", ops->options, ops->n_options, v);
    if (rc != NQS_OK) fprintf(stderr, "options of %s: %s\n", ops->name, nqs_last_error());
    assert_int_equal(rc, NQS_OK);
    nqs_config_free(cfg);
}

static long opt_int(const struct nqs_model_ops *ops, const struct nqs_opt_val *v, const char *key)
{
    for (int k = 0; k < ops->n_options; k++)
        if (strcmp(ops->options[k].name, key) == 0) return v[k].i;
    return -1;
}

/* Build like nqs_model_alloc but return the status code. */
static int try_model(const struct nqs_model_ops *ops, const struct nqs_lattice *lat,
                     const struct nqs_opt_val *v, struct nqs_model **out)
{
    *out = NULL;
    nqs_error_clear();
    struct nqs_model *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->ops = ops;
    m->lat = lat;
    m->n_sites = lat->n_sites;
    int rc = ops->alloc(m, lat, v);
    if (rc != NQS_OK) {
        free(m);
        return rc;
    }
    assert_non_null(m->state);
    assert_non_null(m->par);
    assert_true(m->n_par > 0);
    assert_true(m->cache_size > 0);
    assert_true(m->n_hidden > 0);
    *out = m;
    return NQS_OK;
}

/* Option variants that build a different network behind a registered name,
 * run through the conformance loops after the registry's defaults. */
static const struct {
    const char *model, *key, *value;
} variants[] = {
    {"cnn", "group", "space_group"}, /* the group-convolutional network (gcnn.c) */
};
#define N_VARIANTS ((int)(sizeof variants / sizeof variants[0]))

/* Registry entries, then the variants: how many configurations the loops run. */
static int n_conformance(void)
{
    int n = 0;
    while (nqs_model_registry[n]) n++;
    return n + N_VARIANTS;
}

/* Model for the conformance tests: alpha = 2 where the model has it, or the
 * variant's key. NULL if the model refuses the lattice (after checking the
 * refusal is proper). */
static struct nqs_model *conformance_model_kv(const struct nqs_model_ops *ops, const char *key,
                                              const char *value, const struct nqs_lattice *lat,
                                              const char *label)
{
    struct nqs_opt_val v[MAX_OPT];
    model_options(ops, key, value, v);
    struct nqs_model *m;
    int rc = try_model(ops, lat, v, &m);
    if (rc != NQS_OK) {
        if (!(rc == NQS_EUNSUP || rc == NQS_EINVAL) || strlen(nqs_last_error()) < 10) {
            fprintf(stderr, "model %s on %s: status %d, message '%s'\n", ops->name, label, rc,
                    nqs_last_error());
            fail();
        }
        return NULL;
    }
    nqs_model_init(m, 20240601UL + (unsigned long)lat->n_sites, INIT_STD);
    return m;
}

static struct nqs_model *conformance_model(const struct nqs_model_ops *ops,
                                           const struct nqs_lattice *lat, const char *label)
{
    return conformance_model_kv(ops, "alpha", "2", lat, label);
}

/* Configuration k of n_conformance(): registry entry k, or a variant. */
static struct nqs_model *conformance_nth(int k, const struct nqs_lattice *lat, const char *label)
{
    int n_reg = n_conformance() - N_VARIANTS;
    if (k < n_reg) return conformance_model(nqs_model_registry[k], lat, label);
    const struct nqs_model_ops *ops = nqs_model_find(variants[k - n_reg].model);
    assert_non_null(ops);
    printf("# variant %s %s = %s on %s\n", ops->name, variants[k - n_reg].key,
           variants[k - n_reg].value, label);
    return conformance_model_kv(ops, variants[k - n_reg].key, variants[k - n_reg].value, lat,
                                label);
}

/* ------------------------------------------------------------ symmetry variants */

/* Variants of registered models that the registry loop does not reach: other
 * values of a model key, and projections onto symmetry sectors
 * (nqs_model_project). They run through the same ratio and gradient checks. */
struct sym_variant {
    const char *label;
    const char *model, *key, *value; /* registered model with one key set (key may be NULL) */
    int project;                     /* wrap in a projection onto the sector below */
    int momentum, irrep, spin_flip;  /* momentum m along the first direction */
};

static const struct sym_variant sym_variants[] = {
    {"rbm_symm[space]", "rbm_symm", "group", "space_group", 0, 0, 0, 0},
    {"rbm_symm[none]", "rbm_symm", "group", "none", 0, 0, 0, 0},
    {"P(rbm_symm)A2-", "rbm_symm", NULL, NULL, 1, 0, NQS_IRREP_A2, -1},
    {"P(rbm_symm)B1", "rbm_symm", NULL, NULL, 1, 0, NQS_IRREP_B1, 0},
    {"P(rbm)k1+", "rbm", NULL, NULL, 1, 1, NQS_IRREP_NONE, 1},
    {"P(rbm_symm[none])k1A1", "rbm_symm", "group", "none", 1, 1, NQS_IRREP_A1, 0},
    {"P(rbm_symm[space])+", "rbm_symm", "group", "space_group", 1, 0, NQS_IRREP_A1, 1},
};
#define N_SYM_VARIANTS ((int)(sizeof sym_variants / sizeof sym_variants[0]))

struct vmodel {
    struct nqs_model *m;
    struct nqs_symmetry *sym;
    double complex *chi;
};

static void vmodel_free(struct vmodel *v)
{
    nqs_model_free(v->m);
    nqs_symmetry_free(v->sym);
    free(v->chi);
    memset(v, 0, sizeof *v);
}

/* Build variant `va` on `lat` (std 0.3 parameters); 0 when the lattice has no
 * such sector or the model refuses the lattice (properly). */
static int sym_variant_model(const struct sym_variant *va, const struct nqs_lattice *lat, struct vmodel *out)
{
    memset(out, 0, sizeof *out);
    const struct nqs_model_ops *ops = nqs_model_find(va->model);
    assert_non_null(ops);
    struct nqs_opt_val v[MAX_OPT];
    model_options(ops, "alpha", "2", v);
    if (va->key) {
        struct nqs_opt_val v2[MAX_OPT];
        model_options(ops, va->key, va->value, v2);
        for (int k = 0; k < ops->n_options; k++)
            if (strcmp(ops->options[k].name, va->key) == 0) v[k] = v2[k];
    }
    struct nqs_model *m;
    int rc = try_model(ops, lat, v, &m);
    if (rc != NQS_OK) {
        assert_true(rc == NQS_EUNSUP || rc == NQS_EINVAL);
        return 0;
    }
    nqs_model_init(m, 777UL + (unsigned long)lat->n_sites, INIT_STD);
    if (va->project) {
        struct nqs_sector sec = {{va->momentum, 0}, va->irrep, va->spin_flip};
        if (lat->n_trans < 2 && va->momentum) { /* no momentum on an open lattice */
            nqs_model_free(m);
            return 0;
        }
        out->sym = nqs_symmetry_alloc(lat, va->irrep == NQS_IRREP_NONE ? NQS_GROUP_TRANSLATIONS
                                                                      : NQS_GROUP_SPACE);
        assert_non_null(out->sym);
        out->chi = malloc((size_t)out->sym->n_elem * sizeof *out->chi);
        assert_non_null(out->chi);
        if (nqs_symmetry_characters(out->sym, lat, &sec, out->chi) != NQS_OK) {
            nqs_model_free(m); /* e.g. B1 on a chain: no such irrep */
            vmodel_free(out);
            return 0;
        }
        m = nqs_model_project(m, out->sym, out->chi, va->spin_flip);
        if (!m) fprintf(stderr, "%s: %s\n", va->label, nqs_last_error());
        assert_non_null(m);
    }
    out->m = m;
    return 1;
}

/* ------------------------------------------------------------ helpers */

/* |a - b| for log-amplitudes, the imaginary part taken modulo 2 pi. */
static double logdist(double complex a, double complex b)
{
    double complex d = a - b;
    return hypot(creal(d), remainder(cimag(d), 2.0 * M_PI));
}

/* log-amplitudes equal to `tol`, or both exact zeros of psi (real part -inf:
 * projections vanish on configurations fixed by an element with chi != 1). */
static int lp_close(double complex a, double complex b, double tol)
{
    if (creal(a) == -INFINITY || creal(b) == -INFINITY) return creal(a) == creal(b);
    return logdist(a, b) <= tol;
}

static void random_config(gsl_rng *rng, int N, int8_t *s)
{
    for (int i = 0; i < N; i++) s[i] = gsl_rng_uniform_int(rng, 2) ? 1 : -1;
}

/* ------------------------------------------------------------ tests */

static void test_models_registry_is_consistent(void **state)
{
    (void)state;
    int n = 0;
    for (int k = 0; nqs_model_registry[k]; k++, n++) {
        const struct nqs_model_ops *ops = nqs_model_registry[k];
        assert_non_null(ops->name);
        assert_non_null(ops->summary);
        assert_true(ops->alloc && ops->free && ops->refresh && ops->cache_init &&
                    ops->log_psi_ratio && ops->cache_update && ops->grad_log_psi);
        assert_ptr_equal(nqs_model_find(ops->name), ops);
        /* Twins: registered, pointing back, other sharing, same option keys. */
        assert_non_null(ops->twin);
        const struct nqs_model_ops *tw = nqs_model_find(ops->twin);
        if (!tw) fprintf(stderr, "twin '%s' of '%s': %s\n", ops->twin, ops->name, nqs_last_error());
        assert_non_null(tw);
        assert_string_equal(tw->twin, ops->name);
        assert_int_not_equal(!!tw->shared, !!ops->shared);
        assert_int_equal(tw->n_options, ops->n_options);
        for (int o = 0; o < ops->n_options; o++) {
            assert_string_equal(tw->options[o].name, ops->options[o].name);
            assert_int_equal(tw->options[o].type, ops->options[o].type);
        }
    }
    assert_true(n >= 2);
    assert_null(nqs_model_find("no_such_model"));
    assert_non_null(strstr(nqs_last_error(), "rbm"));
}

/* Ratios along a long accepted sequence against full evaluations. */
static void check_ratios(const struct nqs_model *m, const char *label, gsl_rng *rng)
{
    int N = m->n_sites;
    int8_t *s = malloc((size_t)N), *s2 = malloc((size_t)N);
    void *cache = malloc(m->cache_size), *fresh = malloc(m->cache_size);
    double complex *O = malloc((size_t)m->n_par * sizeof *O);
    double complex *O2 = malloc((size_t)m->n_par * sizeof *O2);
    assert_true(s && s2 && cache && fresh && O && O2);
    random_config(rng, N, s);
    double complex lp = m->ops->cache_init(m, s, cache);
    assert_true(lp_close(lp, nqs_model_log_psi(m, s), 1e-12 * fmax(1.0, cabs(lp))));
    double worst = 0;
    int n_pairs = 0, n_zero = 0;
    for (int step = 0; step < N_MOVES; step++) {
        int sites[2], n_flip;
        int kind = (int)gsl_rng_uniform_int(rng, 3);
        sites[0] = (int)gsl_rng_uniform_int(rng, (unsigned long)N);
        if (kind == 0) {
            n_flip = 1;
        } else {
            /* kind 1: exchange (opposite spins, if any), kind 2: any two sites */
            int tries = 0;
            do sites[1] = (int)gsl_rng_uniform_int(rng, (unsigned long)N);
            while ((sites[1] == sites[0] || (kind == 1 && s[sites[1]] == s[sites[0]])) &&
                   ++tries < 100);
            n_flip = sites[1] == sites[0] ? 1 : 2;
        }
        n_pairs += n_flip == 2;
        memcpy(s2, s, (size_t)N);
        for (int f = 0; f < n_flip; f++) s2[sites[f]] = (int8_t)-s2[sites[f]];
        double complex lp2 = m->ops->cache_init(m, s2, fresh);
        double complex r = m->ops->log_psi_ratio(m, cache, s, n_flip, sites);
        if (creal(lp) == -INFINITY || creal(lp2) == -INFINITY) {
            /* A zero of psi (projections): into it the ratio is 0; out of
             * it the log-ratio is a large positive escape value. */
            n_zero++;
            if (creal(lp) == -INFINITY) {
                assert_true(creal(r) >= 700.0);
            } else {
                assert_true(creal(r) == -INFINITY);
                if (m->ops->psi_ratio) assert_true(m->ops->psi_ratio(m, cache, s, n_flip, sites) == 0);
                if (m->ops->log_prob_ratio)
                    assert_true(m->ops->log_prob_ratio(m, cache, s, n_flip, sites) == -INFINITY);
            }
            m->ops->cache_update(m, cache, s, n_flip, sites);
            memcpy(s, s2, (size_t)N);
            lp = lp2;
            continue;
        }
        /* Tolerance: 1e-12 x max(1, |log psi|) (each full evaluation rounds at
         * ~1e-16 x sum of |terms|), plus the conditioning of log psi itself:
         * perturbing every parameter by a relative 1e-15 (a few ulp) moves
         * log psi by up to kappa = sum_p |theta_p O_p|. Away from zeros of psi
         * kappa is O(100) and this term is negligible; near a zero no
         * evaluation can be more accurate than it. */
        m->ops->grad_log_psi(m, cache, s, O);
        m->ops->grad_log_psi(m, fresh, s2, O2);
        double kappa = 0;
        for (int p = 0; p < m->n_par; p++) kappa += cabs(m->par[p]) * (cabs(O[p]) + cabs(O2[p]));
        double tol = 1e-12 * fmax(1.0, fmax(cabs(lp), cabs(lp2))) + 1e-15 * kappa;
        double err = logdist(r, lp2 - lp);
        /* Optional fast paths (model.h), same reference and tolerance: log
         * |ratio|^2 against 2 Re, and the ratio itself through its log. */
        if (m->ops->log_prob_ratio)
            err = fmax(err, 0.5 * fabs(m->ops->log_prob_ratio(m, cache, s, n_flip, sites) -
                                       2.0 * creal(lp2 - lp)));
        if (m->ops->psi_ratio && fabs(creal(lp2 - lp)) < 700)
            err = fmax(err, logdist(clog(m->ops->psi_ratio(m, cache, s, n_flip, sites)), lp2 - lp));
        worst = fmax(worst, err / tol);
        if (!(err <= tol)) {
            fprintf(stderr, "%s on %s, step %d (%d flips): ratio %.17g%+.17gi, full %.17g%+.17gi\n",
                    m->ops->name, label, step, n_flip, creal(r), cimag(r), creal(lp2 - lp),
                    cimag(lp2 - lp));
            fail();
        }
        /* n_flip = 0 is the identity */
        assert_true(cabs(m->ops->log_psi_ratio(m, cache, s, 0, sites)) <= 1e-15);
        if (m->ops->psi_ratio) assert_true(cabs(m->ops->psi_ratio(m, cache, s, 0, sites) - 1) <= 1e-15);
        if (m->ops->log_prob_ratio)
            assert_true(fabs(m->ops->log_prob_ratio(m, cache, s, 0, sites)) <= 1e-15);
        m->ops->cache_update(m, cache, s, n_flip, sites);
        memcpy(s, s2, (size_t)N);
        lp = lp2;
    }
    assert_true(n_pairs > N_MOVES / 2);
    /* After the sequence the drifted cache still agrees with a fresh one. */
    m->ops->cache_init(m, s, fresh);
    m->ops->grad_log_psi(m, cache, s, O);
    m->ops->grad_log_psi(m, fresh, s, O2);
    for (int p = 0; p < m->n_par; p++)
        assert_true(cabs(O[p] - O2[p]) <= 1e-11 * fmax(1.0, cabs(O2[p])));
    for (int i = 0; i < N; i++) {
        double complex r1 = m->ops->log_psi_ratio(m, cache, s, 1, &i);
        double complex r2 = m->ops->log_psi_ratio(m, fresh, s, 1, &i);
        assert_true(lp_close(r1, r2, 1e-12 * fmax(1.0, cabs(lp))) || creal(lp) == -INFINITY);
    }
    printf("# %-10s %-24s ratio: worst error %.2f of tolerance over %d moves (%d at zeros)\n",
           m->ops->name, label, worst, N_MOVES, n_zero);
    free(s), free(s2), free(cache), free(fresh), free(O), free(O2);
}

static void test_models_ratio_matches_full_eval(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 7321);
    for (int k = 0; k < n_conformance(); k++) {
        int built = 0;
        for (int l = 0; l < N_LAT; l++) {
            struct nqs_lattice *lat = make_lattice(&lattices[l]);
            struct nqs_model *m = conformance_nth(k, lat, lattices[l].label);
            if (m) {
                check_ratios(m, lattices[l].label, rng);
                built++;
            } else {
                printf("# %-10s %-24s refused: %s\n", "", lattices[l].label, nqs_last_error());
            }
            nqs_model_free(m);
            nqs_lattice_free(lat);
        }
        assert_true(built >= 1);
    }
    for (int q = 0; q < N_SYM_VARIANTS; q++) {
        int built = 0;
        for (int l = 0; l < N_LAT; l++) {
            struct nqs_lattice *lat = make_lattice(&lattices[l]);
            struct vmodel vm;
            if (sym_variant_model(&sym_variants[q], lat, &vm)) {
                char label[96];
                snprintf(label, sizeof label, "%s %s", sym_variants[q].label, lattices[l].label);
                check_ratios(vm.m, label, rng);
                built++;
            }
            vmodel_free(&vm);
            nqs_lattice_free(lat);
        }
        assert_true(built >= 1);
    }
    gsl_rng_free(rng);
}

static void check_gradient(struct nqs_model *m, const char *label, gsl_rng *rng)
{
    int N = m->n_sites;
    int8_t *s = malloc((size_t)N);
    void *cache = malloc(m->cache_size);
    double complex *O = malloc((size_t)m->n_par * sizeof *O);
    assert_true(s && cache && O);
    int tries = 0; /* not at a zero of a projection (a sector may be empty on tiny lattices) */
    do random_config(rng, N, s);
    while (creal(m->ops->cache_init(m, s, cache)) == -INFINITY && ++tries < 1000);
    if (tries == 1000) {
        printf("# %-10s %-24s gradient: psi vanishes on 1000 random configurations, skipped\n",
               m->ops->name, label);
        free(s), free(cache), free(O);
        return;
    }
    m->ops->grad_log_psi(m, cache, s, O);
    /* Central differences, h = 1e-5: truncation ~h^2 |f'''| ~ 1e-10 and
     * rounding ~1e-16 |log psi| / h ~ 1e-10, far below the 1e-6 tolerance
     * (relative to max(1, |O|)). */
    const double h = 1e-5;
    double worst = 0;
    for (int p = 0; p < m->n_par; p++) {
        double complex keep = m->par[p];
        double complex dir[2] = {1.0, I};
        for (int d = 0; d < 2; d++) {
            m->par[p] = keep + h * dir[d];
            m->ops->refresh(m);
            double complex lp_plus = nqs_model_log_psi(m, s);
            m->par[p] = keep - h * dir[d];
            m->ops->refresh(m);
            double complex lp_minus = nqs_model_log_psi(m, s);
            double complex diff = lp_plus - lp_minus;
            diff = CMPLX(creal(diff), remainder(cimag(diff), 2.0 * M_PI));
            double complex fd = diff / (2.0 * h);
            double complex expect = dir[d] * O[p]; /* holomorphic */
            double err = cabs(fd - expect) / fmax(1.0, cabs(O[p]));
            worst = fmax(worst, err);
            if (!(err <= 1e-6)) {
                fprintf(stderr, "%s on %s: parameter %d direction %s: O = %.10g%+.10gi, fd = "
                        "%.10g%+.10gi\n", m->ops->name, label, p, d ? "imag" : "real",
                        creal(expect), cimag(expect), creal(fd), cimag(fd));
                fail();
            }
        }
        m->par[p] = keep;
    }
    m->ops->refresh(m);
    printf("# %-10s %-24s gradient: %d parameters, worst relative error %.2e\n", m->ops->name,
           label, m->n_par, worst);
    free(s), free(cache), free(O);
}

static void test_models_grad_matches_finite_differences(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 911);
    for (int k = 0; k < n_conformance(); k++)
        for (int l = 0; l < N_LAT; l++) {
            struct nqs_lattice *lat = make_lattice(&lattices[l]);
            struct nqs_model *m = conformance_nth(k, lat, lattices[l].label);
            if (m) check_gradient(m, lattices[l].label, rng);
            nqs_model_free(m);
            nqs_lattice_free(lat);
        }
    for (int q = 0; q < N_SYM_VARIANTS; q++)
        for (int l = 0; l < N_LAT; l++) {
            struct nqs_lattice *lat = make_lattice(&lattices[l]);
            struct vmodel vm;
            if (sym_variant_model(&sym_variants[q], lat, &vm)) {
                char label[96];
                snprintf(label, sizeof label, "%s %s", sym_variants[q].label, lattices[l].label);
                check_gradient(vm.m, label, rng);
            }
            vmodel_free(&vm);
            nqs_lattice_free(lat);
        }
    gsl_rng_free(rng);
}

static void test_models_translation_invariance(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 4242);
    for (int k = 0; k < n_conformance(); k++)
        for (int l = 0; l < N_LAT; l++) {
            struct nqs_lattice *lat = make_lattice(&lattices[l]);
            struct nqs_model *m = conformance_nth(k, lat, lattices[l].label);
            if (!m || lat->n_trans < 2) {
                nqs_model_free(m);
                nqs_lattice_free(lat);
                continue;
            }
            int N = lat->n_sites;
            int8_t *s = malloc((size_t)N), *ts = malloc((size_t)N);
            assert_true(s && ts);
            double worst = 0;
            for (int rep = 0; rep < 5; rep++) {
                random_config(rng, N, s);
                double complex lp = nqs_model_log_psi(m, s);
                for (int t = 1; t < lat->n_trans; t++) {
                    /* (T s)_{T(i)} = s_i */
                    for (int i = 0; i < N; i++) ts[lat->trans[t * N + i]] = s[i];
                    double complex lpt = nqs_model_log_psi(m, ts);
                    double err = logdist(lpt, lp);
                    worst = fmax(worst, err);
                    /* equal up to rounding of two full evaluations */
                    if (m->ops->shared) assert_true(err <= 1e-12 * fmax(1.0, cabs(lp)));
                }
            }
            /* Random std 0.3 weights break the symmetry at O(1); 0.05 is a
             * deliberately loose lower bound. */
            if (!m->ops->shared) assert_true(worst > 0.05);
            printf("# %-10s %-24s max |log psi(Ts) - log psi(s)| = %.3g\n", m->ops->name,
                   lattices[l].label, worst);
            free(s), free(ts);
            nqs_model_free(m);
            nqs_lattice_free(lat);
        }
    gsl_rng_free(rng);
}

/* ------------------------------------------------------------ counts */

/* Expected counts of a model on a lattice with its options (alpha read by name). */
struct model_formula {
    const char *name;
    int refuses_open;  /* needs a translation group */
    long (*n_par)(const struct nqs_lattice *lat, long alpha);
    long (*n_hidden)(const struct nqs_lattice *lat, long alpha);
};

static long rbm_n_par(const struct nqs_lattice *lat, long a)
{
    long N = lat->n_sites;
    return N + a * N + a * N * N;
}
static long rbm_n_hidden(const struct nqs_lattice *lat, long a) { return a * lat->n_sites; }
static long rbm_symm_n_par(const struct nqs_lattice *lat, long a)
{
    return a * lat->n_sites + a + 1;
}
static long rbm_symm_n_hidden(const struct nqs_lattice *lat, long a) { return a * lat->n_trans; }

/* cnn/lcn have no alpha: their defaults (channels = 4,4, kernel = 3) give
 * P_cnn = sum_l C_l (C_{l-1} k^d + 1) = 4 (k^d + 1) + 4 (4 k^d + 1), P_lcn = N P_cnn,
 * and N C_max = 4 N hidden units for both. */
static long cnn_n_par(const struct nqs_lattice *lat, long a)
{
    (void)a;
    long kd = lat->dim == 1 ? 3 : 9;
    return 4 * (kd + 1) + 4 * (4 * kd + 1);
}
static long lcn_n_par(const struct nqs_lattice *lat, long a)
{
    return lat->n_sites * cnn_n_par(lat, a);
}
static long cnn_n_hidden(const struct nqs_lattice *lat, long a)
{
    (void)a;
    return 4L * lat->n_sites;
}

static const struct model_formula model_formulas[] = {
    {"rbm", 0, rbm_n_par, rbm_n_hidden},
    {"rbm_symm", 1, rbm_symm_n_par, rbm_symm_n_hidden},
    {"cnn", 0, cnn_n_par, cnn_n_hidden},
    {"lcn", 0, lcn_n_par, cnn_n_hidden},
};

static void test_models_parameter_counts(void **state)
{
    (void)state;
    static const struct lat_spec count_lattices[] = {
        {"chain 10 periodic", NQS_LATTICE_CHAIN, {10, 1}, {1, 1}},
        {"chain 7 open", NQS_LATTICE_CHAIN, {7, 1}, {0, 0}},
        {"square 4x3 periodic", NQS_LATTICE_SQUARE, {4, 3}, {1, 1}},
        {"square 4x3 periodic,open", NQS_LATTICE_SQUARE, {4, 3}, {1, 0}},
        {"square 6x6 periodic", NQS_LATTICE_SQUARE, {6, 6}, {1, 1}},
        {"triangular 3x4 periodic", NQS_LATTICE_TRIANGULAR, {3, 4}, {1, 1}},
    };
    int n_checked = 0;
    for (int k = 0; nqs_model_registry[k]; k++) {
        const struct nqs_model_ops *ops = nqs_model_registry[k];
        const struct model_formula *mf = NULL;
        for (size_t q = 0; q < sizeof model_formulas / sizeof model_formulas[0]; q++)
            if (strcmp(model_formulas[q].name, ops->name) == 0) mf = &model_formulas[q];
        if (!mf) {
            printf("# %-10s parameter counts: no formula in the test table, skipped\n", ops->name);
            continue;
        }
        for (size_t l = 0; l < sizeof count_lattices / sizeof count_lattices[0]; l++)
            for (int alpha = 1; alpha <= 3; alpha++) {
                struct nqs_lattice *lat = make_lattice(&count_lattices[l]);
                struct nqs_opt_val v[MAX_OPT];
                char buf[8];
                snprintf(buf, sizeof buf, "%d", alpha);
                model_options(ops, "alpha", buf, v);
                struct nqs_model *m;
                int rc = try_model(ops, lat, v, &m);
                if (mf->refuses_open && lat->n_trans == 1) {
                    assert_int_equal(rc, NQS_EUNSUP);
                    assert_true(strlen(nqs_last_error()) > 10);
                } else {
                    if (rc != NQS_OK) fprintf(stderr, "%s: %s\n", ops->name, nqs_last_error());
                    assert_int_equal(rc, NQS_OK);
                    long a = opt_int(ops, v, "alpha");
                    assert_int_equal(m->n_par, mf->n_par(lat, a));
                    assert_int_equal(m->n_hidden, mf->n_hidden(lat, a));
                    assert_true(strlen(m->layout) > 0);
                    /* parameters start at zero (model.h) */
                    for (int p = 0; p < m->n_par; p++) assert_true(m->par[p] == 0);
                    n_checked++;
                }
                nqs_model_free(m);
                nqs_lattice_free(lat);
            }
    }
    assert_true(n_checked > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models_registry_is_consistent),
        cmocka_unit_test(test_models_parameter_counts),
        cmocka_unit_test(test_models_ratio_matches_full_eval),
        cmocka_unit_test(test_models_grad_matches_finite_differences),
        cmocka_unit_test(test_models_translation_invariance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
