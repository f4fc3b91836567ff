/*
 * projected.c - projection of any model onto a symmetry sector (Nomura,
 * PRB 104, 205138 (2021); Roth, Szabo & MacDonald, PRB 108, 054410 (2023);
 * conventions of the group and the characters: symmetry.h):
 *
 *     psi_P(s) = sum_r c_r psi(s_r),   s_r = sigma_r g_r s,
 *
 * over terms r = (g_r, sigma_r): elements g of the sector's group with
 * coefficient conj(chi(g)), each twice with sigma = +1 and -1 (coefficient
 * times the spin-flip parity p) when the sector fixes the spin flip. Then
 * psi_P(h s) = chi(h) psi_P(s) and psi_P(-s) = p psi_P(s) for any base psi.
 * When the base is invariant under a normal subgroup H (the translations, or
 * the whole space group), psi(T g s) = psi(g s) for T in H, so the terms of a
 * coset are merged: c_rep = sum over the coset of conj(chi(g)), which keeps a
 * translation-invariant base at |P| terms (the point group) instead of |G|,
 * and which is zero for every coset when the sector's characters are not
 * trivial on H (the projection vanishes: refused at construction).
 *
 * Not a registered model: nqs_model_project() wraps an allocated base model
 * and shares its parameter vector, so the optimisers, the sampler, the driver
 * and the checkpoints work on the wrapper through the ops table unchanged.
 *
 * Per-chain cache (one block, offsets in struct proj_state):
 *   header   log psi_P(s), zero flag, update counter
 *   lp[R]    log psi(s_r) (complex)
 *   w[R]     weights c_r psi(s_r) / psi_P(s): psi_P(s')/psi_P(s) = sum_r w_r
 *            psi(s_r')/psi(s_r), and O_k = sum_r w_r O_k(s_r) for the
 *            log-derivatives of psi_P
 *   L[R]     scratch: log psi(s_r') of a proposed move
 *   s_r      R configurations (int8)
 *   scratch  flipped sites of one term, one base gradient (n_par complex)
 *   base     R base caches (base->cache_size each, 64-byte aligned)
 * Flipping site i of s flips site g_r(i) of s_r, so a ratio is R base ratios
 * of the same flip count: cost ~ R x the base's. The log-sum-exp of the R
 * amplitudes is taken relative to the largest real part; ratios for local
 * energies and the Metropolis test are the weighted sums of base ratios (no
 * transcendental function per term when the base has psi_ratio), with the
 * log-sum-exp as fallback when a base ratio over- or underflows.
 *
 * Zeros: a configuration fixed by an element with chi != 1 has psi_P = 0
 * exactly (the terms cancel in pairs). A sum below PROJ_ZERO times the sum of
 * the moduli of its terms is taken as such a zero: log psi_P = -inf, ratios
 * from it 0 (exact enumeration gives it weight 0, so its local energy only
 * needs to be finite) or PROJ_ESCAPE in the log forms (a Metropolis chain that
 * starts there accepts the first move away), ratios into it 0, log-derivatives 0.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"
#include "symmetry.h"

#define PROJ_ZERO   1e-10 /* relative size of a sum taken as an exact cancellation */
#define PROJ_ESCAPE 700.0 /* log-ratio returned from a zero-amplitude configuration */
#define PROJ_ALIGN  64
#define PROJ_RESYNC 4     /* log psi(s_r) recomputed every 4 N updates (at least 64) */

struct proj_header {
    double complex lp;  /* log psi_P(s); real part -inf when zero */
    int64_t count;      /* updates since the last full evaluation */
    int zero;           /* psi_P(s) = 0 */
};

struct proj_state {
    struct nqs_model *base; /* owned */
    int n_sites, n_terms;
    int *perm;              /* n_terms x N: site i of s goes to perm[r N + i] of s_r */
    int8_t *sign;           /* n_terms: +1, or -1 for the spin-flipped terms */
    double complex *coef;   /* n_terms */
    size_t off_lp, off_w, off_lr, off_s, off_sites, off_grad, off_base, stride;
};

static size_t proj_align(size_t x) { return (x + PROJ_ALIGN - 1) / PROJ_ALIGN * PROJ_ALIGN; }

static struct proj_header *proj_hdr(void *c) { return (struct proj_header *)c; }
static double complex *proj_lp(const struct proj_state *st, void *c)
{
    return (double complex *)((char *)c + st->off_lp);
}
static double complex *proj_w(const struct proj_state *st, void *c)
{
    return (double complex *)((char *)c + st->off_w);
}
static int8_t *proj_s(const struct proj_state *st, void *c, int r)
{
    return (int8_t *)((char *)c + st->off_s) + (size_t)r * (size_t)st->n_sites;
}
static int *proj_sites(const struct proj_state *st, void *c)
{
    return (int *)((char *)c + st->off_sites);
}
static void *proj_base(const struct proj_state *st, void *c, int r)
{
    return (char *)c + st->off_base + (size_t)r * st->stride;
}

static void proj_free(void *state)
{
    struct proj_state *st = state;
    if (!st) return;
    nqs_model_free(st->base);
    free(st->perm);
    free(st->sign);
    free(st->coef);
    free(st);
}

static void proj_refresh(struct nqs_model *m)
{
    struct proj_state *st = m->state;
    st->base->ops->refresh(st->base);
}

/* log psi_P and the weights from lp[]. */
static void proj_finish(const struct proj_state *st, void *cache)
{
    struct proj_header *h = proj_hdr(cache);
    double complex *lp = proj_lp(st, cache), *w = proj_w(st, cache);
    int R = st->n_terms;
    double mx = -INFINITY;
    for (int r = 0; r < R; r++)
        if (creal(lp[r]) > mx) mx = creal(lp[r]);
    double complex sum = 0;
    double mag = 0;
    for (int r = 0; r < R; r++) {
        double complex t = st->coef[r] * cexp(lp[r] - mx);
        sum += t;
        mag += cabs(t);
    }
    if (!(cabs(sum) > PROJ_ZERO * mag) || !isfinite(mx)) {
        h->zero = 1;
        h->lp = CMPLX(-INFINITY, 0.0);
        for (int r = 0; r < R; r++) w[r] = 0;
        return;
    }
    h->zero = 0;
    h->lp = mx + clog(sum);
    for (int r = 0; r < R; r++) w[r] = st->coef[r] * cexp(lp[r] - h->lp);
}

static double complex proj_cache_init(const struct nqs_model *m, const int8_t *s, void *cache)
{
    const struct proj_state *st = m->state;
    const struct nqs_model *b = st->base;
    int N = st->n_sites;
    double complex *lp = proj_lp(st, cache);
    for (int r = 0; r < st->n_terms; r++) {
        int8_t *sr = proj_s(st, cache, r);
        const int *pr = st->perm + (size_t)r * N;
        for (int i = 0; i < N; i++) sr[pr[i]] = (int8_t)(st->sign[r] * s[i]);
        lp[r] = b->ops->cache_init(b, sr, proj_base(st, cache, r));
    }
    proj_hdr(cache)->count = 0;
    proj_finish(st, cache);
    return proj_hdr(cache)->lp;
}

/* Sites of s_r flipped by flipping sites[0..n) of s. */
static const int *proj_map(const struct proj_state *st, void *cache, int r, int n,
                           const int *sites)
{
    int *out = proj_sites(st, cache);
    const int *pr = st->perm + (size_t)r * st->n_sites;
    for (int k = 0; k < n; k++) out[k] = pr[sites[k]];
    return out;
}

/* log psi_P(s') - log psi_P(s) by the log-sum-exp of the terms (also when
 * base ratios over- or underflow). */
static double complex proj_log_ratio_lse(const struct proj_state *st, void *cache, int n_flip,
                                         const int *sites)
{
    const struct nqs_model *b = st->base;
    const double complex *lp = proj_lp(st, cache);
    double complex *L = (double complex *)((char *)cache + st->off_lr);
    int R = st->n_terms;
    double mx = -INFINITY;
    for (int r = 0; r < R; r++) {
        const int *f = proj_map(st, cache, r, n_flip, sites);
        L[r] = lp[r] +
               b->ops->log_psi_ratio(b, proj_base(st, cache, r), proj_s(st, cache, r), n_flip, f);
        if (creal(L[r]) > mx) mx = creal(L[r]);
    }
    double complex sum = 0;
    double mag = 0;
    for (int r = 0; r < R; r++) {
        double complex t = st->coef[r] * cexp(L[r] - mx);
        sum += t;
        mag += cabs(t);
    }
    if (!(cabs(sum) > PROJ_ZERO * mag) || !isfinite(mx)) return CMPLX(-INFINITY, 0.0);
    return mx + clog(sum) - proj_hdr(cache)->lp;
}

/* psi_P(s')/psi_P(s) = sum_r w_r psi(s_r')/psi(s_r); *ok = 0 when a base ratio
 * is not finite (then the caller takes the log-sum-exp path). */
static double complex proj_ratio_sum(const struct proj_state *st, void *cache, int n_flip,
                                     const int *sites, int *ok)
{
    const struct nqs_model *b = st->base;
    const double complex *w = proj_w(st, cache);
    double sr = 0, si = 0, mag = 0;
    *ok = 1;
    for (int r = 0; r < st->n_terms; r++) {
        const int *f = proj_map(st, cache, r, n_flip, sites);
        void *bc = proj_base(st, cache, r);
        int8_t *s_r = proj_s(st, cache, r);
        double complex q = b->ops->psi_ratio ? b->ops->psi_ratio(b, bc, s_r, n_flip, f)
                                             : cexp(b->ops->log_psi_ratio(b, bc, s_r, n_flip, f));
        double qr = creal(q), qi = cimag(q), wr = creal(w[r]), wi = cimag(w[r]);
        double tr = wr * qr - wi * qi, ti = wr * qi + wi * qr;
        sr += tr;
        si += ti;
        mag += fabs(tr) + fabs(ti);
    }
    if (!isfinite(mag)) {
        *ok = 0;
        return 0;
    }
    if (!(fabs(sr) + fabs(si) > PROJ_ZERO * mag)) return 0;
    return CMPLX(sr, si);
}

static double complex proj_log_psi_ratio(const struct nqs_model *m, void *cache, const int8_t *s,
                                         int n_flip, const int *sites)
{
    (void)s;
    const struct proj_state *st = m->state;
    if (n_flip <= 0) return 0;
    if (proj_hdr(cache)->zero) return PROJ_ESCAPE;
    return proj_log_ratio_lse(st, cache, n_flip, sites);
}

static double complex proj_psi_ratio(const struct nqs_model *m, void *cache, const int8_t *s,
                                     int n_flip, const int *sites)
{
    (void)s;
    const struct proj_state *st = m->state;
    if (n_flip <= 0) return 1;
    if (proj_hdr(cache)->zero) return 0;
    int ok;
    double complex q = proj_ratio_sum(st, cache, n_flip, sites, &ok);
    if (ok) return q;
    return cexp(proj_log_ratio_lse(st, cache, n_flip, sites));
}

static double proj_log_prob_ratio(const struct nqs_model *m, void *cache, const int8_t *s,
                                  int n_flip, const int *sites)
{
    (void)s;
    const struct proj_state *st = m->state;
    if (n_flip <= 0) return 0;
    if (proj_hdr(cache)->zero) return PROJ_ESCAPE;
    int ok;
    double complex q = proj_ratio_sum(st, cache, n_flip, sites, &ok);
    if (ok) {
        double a = creal(q) * creal(q) + cimag(q) * cimag(q);
        if (a > 0 && isfinite(a)) return log(a);
        if (a == 0) return -INFINITY;
    }
    return 2.0 * creal(proj_log_ratio_lse(st, cache, n_flip, sites));
}

static void proj_cache_update(const struct nqs_model *m, void *cache, const int8_t *s, int n_flip,
                              const int *sites)
{
    const struct proj_state *st = m->state;
    const struct nqs_model *b = st->base;
    if (n_flip <= 0) return;
    struct proj_header *h = proj_hdr(cache);
    int64_t period = (int64_t)PROJ_RESYNC * st->n_sites;
    int resync = ++h->count >= (period > 64 ? period : 64);
    if (resync) h->count = 0;
    double complex *lp = proj_lp(st, cache);
    for (int r = 0; r < st->n_terms; r++) {
        const int *f = proj_map(st, cache, r, n_flip, sites);
        void *bc = proj_base(st, cache, r);
        int8_t *s_r = proj_s(st, cache, r);
        if (resync) {
            for (int k = 0; k < n_flip; k++) s_r[f[k]] = (int8_t)-s_r[f[k]];
            lp[r] = b->ops->cache_init(b, s_r, bc);
            continue;
        }
        lp[r] += b->ops->log_psi_ratio(b, bc, s_r, n_flip, f);
        b->ops->cache_update(b, bc, s_r, n_flip, f);
        for (int k = 0; k < n_flip; k++) s_r[f[k]] = (int8_t)-s_r[f[k]];
    }
    (void)s;
    proj_finish(st, cache);
}

static void proj_grad_log_psi(const struct nqs_model *m, const void *cache, const int8_t *s,
                              double complex *O)
{
    (void)s;
    const struct proj_state *st = m->state;
    const struct nqs_model *b = st->base;
    void *c = (void *)(uintptr_t)cache; /* scratch: the base gradient, base scratch */
    int P = m->n_par;
    double *o = (double *)O;
    for (int k = 0; k < 2 * P; k++) o[k] = 0.0;
    if (proj_hdr(c)->zero) return;
    const double complex *w = proj_w(st, c);
    double complex *gb = (double complex *)((char *)c + st->off_grad);
    const double *g = (const double *)gb;
    for (int r = 0; r < st->n_terms; r++) {
        b->ops->grad_log_psi(b, proj_base(st, c, r), proj_s(st, c, r), gb);
        double wr = creal(w[r]), wi = cimag(w[r]);
        for (int k = 0; k < P; k++) {
            double gr = g[2 * k], gi = g[2 * k + 1];
            o[2 * k] += wr * gr - wi * gi;
            o[2 * k + 1] += wr * gi + wi * gr;
        }
    }
}

static const struct nqs_model_ops proj_ops = {
    .name = "projected",
    .summary = "projection of a base model onto a symmetry sector: psi_P(s) = sum_g conj(chi(g)) "
               "[psi(g s) + p psi(-g s)]",
    .shared = 0,
    .twin = NULL,
    .options = NULL,
    .n_options = 0,
    .alloc = NULL, /* built by nqs_model_project */
    .free = proj_free,
    .refresh = proj_refresh,
    .cache_init = proj_cache_init,
    .log_psi_ratio = proj_log_psi_ratio,
    .cache_update = proj_cache_update,
    .grad_log_psi = proj_grad_log_psi,
    .psi_ratio = proj_psi_ratio,
    .log_prob_ratio = proj_log_prob_ratio,
};

/* Coset representative of element g for a base invariant under `inv`. */
static int proj_rep(const struct nqs_symmetry *sym, enum nqs_model_invariance inv, int g)
{
    if (inv == NQS_INVARIANT_SPACE) return 0;
    if (inv == NQS_INVARIANT_TRANSLATIONS) return sym->elem_of[sym->point_of[g]]; /* T_0 P_p */
    return g;
}

struct nqs_model *nqs_model_project(struct nqs_model *base, const struct nqs_symmetry *sym,
                                    const double complex *chi, int spin_flip)
{
    struct nqs_model *m = NULL;
    struct proj_state *st = NULL;
    double complex *acc = NULL;
    int G = sym->n_elem, N = base->n_sites;
    static const char *const inv_name[] = {"no declared group", "translations", "the space group"};
    if (sym->n_sites != N) {
        NQS_SET_ERROR(NQS_EINVAL, "projection: the group acts on %d sites, the model has %d",
                      sym->n_sites, N);
        goto fail;
    }
    acc = calloc((size_t)G, sizeof *acc);
    st = calloc(1, sizeof *st);
    m = calloc(1, sizeof *m);
    if (!acc || !st || !m) goto nomem;
    /* Coefficients of the coset representatives; a sum that cancels to
     * rounding (relative to the number of terms) is zero. */
    double cmax = 0, cnorm = 0;
    for (int g = 0; g < G; g++) {
        acc[proj_rep(sym, base->invariance, g)] += conj(chi[g]);
        cnorm += cabs(chi[g]);
    }
    for (int g = 0; g < G; g++) {
        if (!(cabs(acc[g]) > 1e-9 * cnorm)) acc[g] = 0;
        if (cabs(acc[g]) > cmax) cmax = cabs(acc[g]);
    }
    int n_rep = 0;
    for (int g = 0; g < G; g++) n_rep += acc[g] != 0;
    if (n_rep == 0) {
        NQS_SET_ERROR(NQS_EINVAL,
                      "the projection onto this sector vanishes identically: "
                      "model '%s' is invariant under %s, on which the sector's characters are "
                      "not all 1 (k != 0, or an irrep other than A1); use a base that is not "
                      "invariant there (rbm_symm with group = translations for k = 0 irreps, "
                      "group = none or rbm for k != 0)",
                      base->ops->name, inv_name[base->invariance]);
        goto fail;
    }
    int nsf = spin_flip ? 2 : 1;
    int R = n_rep * nsf;
    st->base = base;
    st->n_sites = N;
    st->n_terms = R;
    st->perm = malloc((size_t)R * (size_t)N * sizeof *st->perm);
    st->sign = malloc((size_t)R);
    st->coef = malloc((size_t)R * sizeof *st->coef);
    if (!st->perm || !st->sign || !st->coef) goto nomem;
    int r = 0;
    for (int g = 0; g < G; g++) {
        if (acc[g] == 0) continue;
        for (int f = 0; f < nsf; f++, r++) {
            memcpy(st->perm + (size_t)r * N, sym->perm + (size_t)g * N, (size_t)N * sizeof(int));
            st->sign[r] = (int8_t)(f ? -1 : 1);
            st->coef[r] = acc[g] / cmax * (f ? (double)spin_flip : 1.0);
        }
    }
    /* cache layout */
    size_t off = proj_align(sizeof(struct proj_header));
    st->off_lp = off;
    off = proj_align(off + (size_t)R * sizeof(double complex));
    st->off_w = off;
    off = proj_align(off + (size_t)R * sizeof(double complex));
    st->off_lr = off;
    off = proj_align(off + (size_t)R * sizeof(double complex));
    st->off_s = off;
    off = proj_align(off + (size_t)R * (size_t)N);
    st->off_sites = off;
    off = proj_align(off + (size_t)N * sizeof(int));
    st->off_grad = off;
    off = proj_align(off + (size_t)base->n_par * sizeof(double complex));
    st->off_base = off;
    st->stride = proj_align(base->cache_size);
    m->ops = &proj_ops;
    m->state = st;
    m->lat = base->lat;
    m->n_sites = N;
    m->n_par = base->n_par;
    m->par = base->par;
    m->cache_size = off + (size_t)R * st->stride;
    m->n_hidden = base->n_hidden;
    m->invariance = NQS_INVARIANT_NONE;
    memcpy(m->layout, base->layout, sizeof m->layout);
    memcpy(m->group_desc, base->group_desc, sizeof m->group_desc);
    snprintf(m->projection, sizeof m->projection,
             "%d terms = %d coset representatives of %s%s (base invariant under %s)", R, n_rep,
             sym->name, spin_flip ? " x spin flip" : "", inv_name[base->invariance]);
    free(acc);
    return m;
nomem:
    NQS_SET_ERROR(NQS_ENOMEM, "out of memory for the projection of model '%s' (%d elements)",
                  base->ops->name, G);
fail:
    free(acc);
    free(m);
    if (st) {
        st->base = NULL;
        proj_free(st);
    }
    nqs_model_free(base);
    return NULL;
}
