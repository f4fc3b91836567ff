/*
 * rbm_symm.c - symmetric RBM, the shared twin of rbm (Carleo & Troyer,
 * Science 355, 602 (2017), Eq. 5 and supplement; over the space group as in
 * Nomura, PRB 104, 205138 (2021) and Roth, Szabo & MacDonald, PRB 108,
 * 054410 (2023)):
 *
 *     log psi(s) = a sum_i s_i + sum_f sum_{T in G} log cosh(b_f + sum_i W_f[i] s_{T(i)}),
 *
 * alpha feature filters W_f of length N, one hidden bias b_f per filter, one
 * visible bias a. G ([model] group) is the lattice's translation group
 * (translations along its periodic directions, |G| = lat->n_trans), the space
 * group (translations x the point operations of symmetry.h) or the identity
 * alone (none: alpha hidden units, for projections onto k != 0 sectors, where
 * a translation-invariant base would vanish). Elements act as site
 * permutations g; psi is invariant under G because theta_(f,g)(h s) =
 * theta_(f,h^-1 g)(s) only permutes the hidden units. Hidden units (f, g):
 * alpha |G|. P = alpha N + alpha + 1 (for any |G|), stored in m->par as
 *     a        at par[0],
 *     b[alpha] at par[1 + f],
 *     W[alpha][N] (filter-major) at par[1 + alpha + f N + k] = W_f[k].
 * The bare weight of hidden unit (f, g) on site i is W_f[g^-1(i)], so
 * refresh expands the filters into a dense bare RBM (hidden index f |G| + g)
 * and the fast updates are exactly those of the dense twin (rbm_engine.c).
 * Log-derivatives are orbit sums of the bare ones:
 *     O_a = sum_i s_i,  O_b_f = sum_g tanh theta_fg,
 *     O_W_f[k] = sum_g tanh theta_fg s_{g(k)}.
 * A fully open lattice has no translations: group = translations is refused
 * there (use space_group, none, or `rbm`).
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"
#include "rbm_engine.h"
#include "symmetry.h"

/* Default of [model] group: auto is resolved by the problem (src/core/problem.c),
 * which knows the Hamiltonian; a caller that allocates the model directly
 * and leaves it at auto gets the translations. */
#define RBM_SYMM_DEFAULT_GROUP "auto"

struct rbm_symm_state {
    struct nqs_rbm_engine e; /* a, b, w point to the expanded arrays below */
    int alpha, n_trans, n_sites; /* n_trans: |G| (the group's elements, not only translations) */
    int group;               /* RBM_SYMM_GROUP_* */
    const int *trans;        /* |G| x N: trans[g N + i] = g(i); lat->trans or perm_own */
    int *perm_own;           /* owned permutation table (space group, identity), else NULL */
    double complex *par;     /* 1 + alpha + alpha N */
    double complex *a_eff;   /* N copies of a */
    double complex *b_eff;   /* alpha |G|: b_eff[f |G| + t] = b_f */
    double complex *w_eff;   /* N x alpha |G| bare weights, site-major */
    int *map;                /* N x alpha |G|: f N + g^-1(i), index into W and zp/zm */
    double complex *zp, *zm; /* exp(-+4 W_f[k]), alpha N */
    /* Translations as coordinate shifts: T_t(x, y) = ((x + sx[t]) mod Lx,
     * (y + sy[t]) mod Ly), verified against the table at allocation (then
     * `shifted` = 1 and the gradient reads translated configurations as
     * contiguous windows of a doubled copy of s, without gathers; never for
     * the space group, whose point operations are not shifts). */
    int shifted, lx, ly;
    int *sx, *sy;
    size_t scratch_off;      /* bytes into the cache: 2 N doubles of scratch */
};

enum { RBM_SYMM_GROUP_TRANSLATIONS, RBM_SYMM_GROUP_SPACE, RBM_SYMM_GROUP_NONE, RBM_SYMM_GROUP_AUTO };

static const struct nqs_opt_def rbm_symm_options[NQS_RBM_N_KEYS] = {
    [NQS_RBM_KEY_ALPHA] = {"alpha", NQS_OPT_INT, "1",
        "hidden-unit density: alpha N hidden units (alpha filters x |G| translations if shared)",
        NULL, 1, 256},
    [NQS_RBM_KEY_GROUP] = {"group", NQS_OPT_CHOICE, RBM_SYMM_DEFAULT_GROUP,
        "group the filters are shared over (alpha |G| hidden units): translations, space_group "
        "(translations x the lattice's point group: psi invariant under both, k = 0 and A1), or "
        "none (alpha hidden units, no symmetry: a base for [model] projection onto k != 0); auto = "
        "space_group when the lattice has point operations the Hamiltonian commutes with and no "
        "[symmetry] sector is set, else translations",
        "translations|space_group|none|auto", 0, 0},
};

static void rbm_symm_free(void *state)
{
    struct rbm_symm_state *st = state;
    if (!st) return;
    nqs_rbm_engine_free(&st->e);
    free(st->perm_own);
    free(st->par);
    free(st->a_eff);
    free(st->b_eff);
    free(st->w_eff);
    free(st->map);
    free(st->zp);
    free(st->zm);
    free(st->sx);
    free(st->sy);
    free(st);
}

static void rbm_symm_refresh(struct nqs_model *m)
{
    struct rbm_symm_state *st = m->state;
    int N = st->n_sites, G = st->n_trans, A = st->alpha;
    size_t M = (size_t)A * (size_t)G;
    const double complex *b = st->par + 1, *W = st->par + 1 + A;
    for (int i = 0; i < N; i++) st->a_eff[i] = st->par[0];
    for (int f = 0; f < A; f++)
        for (int t = 0; t < G; t++) st->b_eff[(size_t)f * G + t] = b[f];
    for (size_t q = 0; q < (size_t)A * N; q++) {
        st->zp[q] = cexp(-4.0 * W[q]);
        st->zm[q] = cexp(4.0 * W[q]);
    }
    for (size_t x = 0; x < (size_t)N * M; x++) st->w_eff[x] = W[st->map[x]];
    nqs_rbm_engine_refresh_mapped(&st->e, st->zp, st->zm, st->map);
}

/* The group's permutation table: lat->trans (borrowed) for translations, an
 * owned copy of the space group's, or the identity. */
static int rbm_symm_group(struct rbm_symm_state *st, const struct nqs_lattice *lat, int group)
{
    int N = lat->n_sites;
    if (group == RBM_SYMM_GROUP_TRANSLATIONS) {
        st->trans = lat->trans;
        st->n_trans = lat->n_trans;
        return NQS_OK;
    }
    if (group == RBM_SYMM_GROUP_NONE) {
        st->perm_own = malloc((size_t)N * sizeof *st->perm_own);
        if (!st->perm_own) NQS_ERROR(NQS_ENOMEM, "out of memory for model 'rbm_symm'");
        for (int i = 0; i < N; i++) st->perm_own[i] = i;
        st->trans = st->perm_own;
        st->n_trans = 1;
        return NQS_OK;
    }
    struct nqs_symmetry *sym = nqs_symmetry_alloc(lat, NQS_GROUP_SPACE);
    if (!sym) return NQS_ENOMEM;
    size_t n = (size_t)sym->n_elem * (size_t)N;
    st->perm_own = malloc(n * sizeof *st->perm_own);
    if (!st->perm_own) {
        nqs_symmetry_free(sym);
        NQS_ERROR(NQS_ENOMEM, "out of memory for model 'rbm_symm' (space group of %d elements)",
                  sym->n_elem);
    }
    memcpy(st->perm_own, sym->perm, n * sizeof *st->perm_own);
    st->trans = st->perm_own;
    st->n_trans = sym->n_elem;
    nqs_symmetry_free(sym);
    return NQS_OK;
}

static int rbm_symm_alloc(struct nqs_model *m, const struct nqs_lattice *lat,
                          const struct nqs_opt_val *values)
{
    int N = lat->n_sites;
    long alpha = values[NQS_RBM_KEY_ALPHA].i;
    int group = (int)values[NQS_RBM_KEY_GROUP].i; /* index of the choice: RBM_SYMM_GROUP_* */
    if (group == RBM_SYMM_GROUP_AUTO) group = RBM_SYMM_GROUP_TRANSLATIONS;
    if (group == RBM_SYMM_GROUP_TRANSLATIONS && lat->n_trans < 2)
        NQS_ERROR(NQS_EUNSUP,
                  "model 'rbm_symm' with group = translations needs a translation group, but the "
                  "lattice is open in every direction; make a direction periodic ([lattice] "
                  "boundary), share over the point group ([model] group = space_group) or use "
                  "model 'rbm' (no weight sharing)");
    if (alpha < 1)
        NQS_ERROR(NQS_EINVAL,
                  "[model] alpha: must be an integer >= 1 for model 'rbm_symm', got %ld", alpha);
    struct rbm_symm_state *st = calloc(1, sizeof *st);
    if (!st) NQS_ERROR(NQS_ENOMEM, "out of memory allocating model 'rbm_symm'");
    st->n_sites = N;
    st->group = group;
    if (rbm_symm_group(st, lat, group) != NQS_OK) {
        rbm_symm_free(st);
        return NQS_ENOMEM;
    }
    int G = st->n_trans;
    /* The expanded tables have N x alpha |G| entries: keep their count in an int. */
    if ((double)alpha * G * N > (double)INT_MAX) {
        rbm_symm_free(st);
        NQS_ERROR(NQS_EINVAL,
                  "[model] alpha: %ld is too large for model 'rbm_symm' on %d sites with |G| = %d "
                  "(%.3g bare weights, at most %d)",
                  alpha, N, G, (double)alpha * G * N, INT_MAX);
    }
    /* alpha |G| N fits in an int now, and so do alpha and P = 1 + alpha + alpha N */
    int A = (int)alpha;
    int P = 1 + A + A * N;
    st->alpha = A;
    size_t M = (size_t)A * (size_t)G;
    st->par = calloc((size_t)P, sizeof *st->par);
    st->a_eff = malloc((size_t)N * sizeof *st->a_eff);
    st->b_eff = malloc(M * sizeof *st->b_eff);
    st->w_eff = malloc((size_t)N * M * sizeof *st->w_eff);
    st->map = malloc((size_t)N * M * sizeof *st->map);
    st->zp = malloc((size_t)A * N * sizeof *st->zp);
    st->zm = malloc((size_t)A * N * sizeof *st->zm);
    int *ginv = malloc((size_t)N * sizeof *ginv);
    if (!st->par || !st->a_eff || !st->b_eff || !st->w_eff || !st->map || !st->zp || !st->zm ||
        !ginv) {
        free(ginv);
        rbm_symm_free(st);
        NQS_ERROR(NQS_ENOMEM, "out of memory for model 'rbm_symm' (%d sites, %zu hidden units)",
                  N, M);
    }
    if (nqs_rbm_engine_alloc(&st->e, N, (int)M) != NQS_OK) {
        free(ginv);
        rbm_symm_free(st);
        return NQS_ENOMEM;
    }
    /* Bare weight of unit (f, g) on site i: W_f[g^-1(i)]. */
    for (int t = 0; t < G; t++) {
        const int *pg = st->trans + (size_t)t * N;
        for (int k = 0; k < N; k++) ginv[pg[k]] = k;
        for (int i = 0; i < N; i++)
            for (int f = 0; f < A; f++)
                st->map[(size_t)i * M + (size_t)f * G + t] = f * N + ginv[i];
    }
    free(ginv);
    st->e.a = st->a_eff;
    st->e.b = st->b_eff;
    st->e.w = st->w_eff;
    /* Coordinate shifts of the elements, if the table is of that form. */
    st->lx = lat->extent[0];
    st->ly = lat->dim > 1 ? lat->extent[1] : 1;
    st->sx = malloc((size_t)G * sizeof *st->sx);
    st->sy = malloc((size_t)G * sizeof *st->sy);
    if (!st->sx || !st->sy) {
        rbm_symm_free(st);
        NQS_ERROR(NQS_ENOMEM, "out of memory for model 'rbm_symm' (%d group elements)", G);
    }
    st->shifted = st->lx * st->ly == N;
    for (int t = 0; t < G && st->shifted; t++) {
        int img = st->trans[(size_t)t * N]; /* image of site (0, 0) */
        st->sx[t] = img % st->lx;
        st->sy[t] = img / st->lx;
        for (int i = 0; i < N && st->shifted; i++) {
            int x = i % st->lx, y = i / st->lx;
            int j = (x + st->sx[t]) % st->lx + st->lx * ((y + st->sy[t]) % st->ly);
            st->shifted = st->trans[(size_t)t * N + i] == j;
        }
    }
    m->state = st;
    m->n_par = P;
    m->par = st->par;
    m->invariance = group == RBM_SYMM_GROUP_TRANSLATIONS ? NQS_INVARIANT_TRANSLATIONS
                    : group == RBM_SYMM_GROUP_SPACE      ? NQS_INVARIANT_SPACE
                                                         : NQS_INVARIANT_NONE;
    /* scratch for the gradient after the engine's cache (8-byte aligned) */
    st->scratch_off = (nqs_rbm_engine_cache_size(&st->e) + 7) / 8 * 8;
    m->cache_size = st->scratch_off + 2 * (size_t)N * sizeof(double);
    m->n_hidden = (int)M;
    static const char *const gname[] = {"translations", "space group", "identity"};
    snprintf(m->layout, sizeof m->layout,
             "alpha=%d, G = %s, |G|=%d: a[1] b[%d] W[%d filters x %d sites] (W_f[k] at %d + f*%d "
             "+ k)",
             A, gname[group], G, A, A, N, 1 + A, N);
    snprintf(m->group_desc, sizeof m->group_desc, "%s (|G| = %d)", gname[group], G);
    rbm_symm_refresh(m);
    return NQS_OK;
}

static double complex rbm_symm_cache_init(const struct nqs_model *m, const int8_t *s, void *cache)
{
    const struct rbm_symm_state *st = m->state;
    return nqs_rbm_engine_init(&st->e, s, cache);
}

static double complex rbm_symm_log_psi_ratio(const struct nqs_model *m, void *cache,
                                             const int8_t *s, int n_flip, const int *sites)
{
    const struct rbm_symm_state *st = m->state;
    return nqs_rbm_engine_ratio(&st->e, cache, s, n_flip, sites);
}

static double complex rbm_symm_psi_ratio(const struct nqs_model *m, void *cache, const int8_t *s,
                                     int n_flip, const int *sites)
{
    const struct rbm_symm_state *st = m->state;
    return nqs_rbm_engine_psi_ratio(&st->e, cache, s, n_flip, sites);
}

static double rbm_symm_log_prob_ratio(const struct nqs_model *m, void *cache, const int8_t *s,
                                  int n_flip, const int *sites)
{
    const struct rbm_symm_state *st = m->state;
    return nqs_rbm_engine_log_prob_ratio(&st->e, cache, s, n_flip, sites);
}

static void rbm_symm_cache_update(const struct nqs_model *m, void *cache, const int8_t *s,
                                  int n_flip, const int *sites)
{
    const struct rbm_symm_state *st = m->state;
    nqs_rbm_engine_update(&st->e, cache, s, n_flip, sites);
}

#define RBM_SYMM_CHUNK 256 /* sites per chunk of the gathered, translated configuration */

/* row[2k] += src[k] tr, row[2k+1] += src[k] ti, k < n. */
static void rbm_symm_axpy(int n, double tr, double ti, const double *restrict src,
                          double *restrict row)
{
    for (int k = 0; k < n; k++) {
        row[2 * k] += src[k] * tr;
        row[2 * k + 1] += src[k] * ti;
    }
}

static void rbm_symm_grad_log_psi(const struct nqs_model *m, const void *cache, const int8_t *s,
                                  double complex *O)
{
    const struct rbm_symm_state *st = m->state;
    int N = st->n_sites, G = st->n_trans, A = st->alpha, M = A * G;
    double sum = 0;
    for (int i = 0; i < N; i++) sum += s[i];
    O[0] = sum;
    for (int f = 0; f < A; f++) {
        double complex ob = 0;
        for (int t = 0; t < G; t++) ob += nqs_rbm_cache_tanh(cache, M, f * G + t);
        O[1 + f] = ob;
    }
    /* O_W_f[k] = sum_g tanh(theta_fg) s_{g(k)}. */
    double *ow = (double *)(O + 1 + A); /* alpha rows of N complex, re/im interleaved */
    for (size_t x = 0; x < 2 * (size_t)A * N; x++) ow[x] = 0.0;
    if (st->shifted) {
        /* s_{T_t(x, y)} = d[(y + sy) mod Ly][x + sx] with d a copy of s whose
         * rows are doubled (Ly x 2 Lx doubles, scratch in the cache): every
         * translated row is a contiguous window, added to the filter's row
         * with a vectorisable loop, without the gathers of the general path. */
        const int Lx = st->lx, Ly = st->ly;
        double *d = (double *)((char *)(uintptr_t)cache + st->scratch_off);
        for (int y = 0; y < Ly; y++)
            for (int x = 0; x < 2 * Lx; x++) d[(size_t)y * 2 * Lx + x] = s[(x % Lx) + Lx * y];
        for (int t = 0; t < G; t++) {
            for (int f = 0; f < A; f++) {
                double complex th = nqs_rbm_cache_tanh(cache, M, f * G + t);
                double tr = creal(th), ti = cimag(th);
                for (int y = 0; y < Ly; y++) {
                    const double *src = d + (size_t)((y + st->sy[t]) % Ly) * 2 * Lx + st->sx[t];
                    double *row = ow + 2 * ((size_t)f * N + (size_t)y * Lx);
                    rbm_symm_axpy(Lx, tr, ti, src, row);
                }
            }
        }
        return;
    }
    /* General translation tables: for each translation the translated
     * configuration is gathered once (a chunk at a time, on the stack) and
     * added to every filter's row with a vectorisable loop. */
    double sk[RBM_SYMM_CHUNK];
    for (int t = 0; t < G; t++) {
        const int *tt = st->trans + (size_t)t * N;
        for (int k0 = 0; k0 < N; k0 += RBM_SYMM_CHUNK) {
            int nk = N - k0 < RBM_SYMM_CHUNK ? N - k0 : RBM_SYMM_CHUNK;
            for (int k = 0; k < nk; k++) sk[k] = s[tt[k0 + k]];
            for (int f = 0; f < A; f++) {
                double complex th = nqs_rbm_cache_tanh(cache, M, f * G + t);
                double tr = creal(th), ti = cimag(th);
                double *row = ow + 2 * ((size_t)f * N + k0);
                for (int k = 0; k < nk; k++) {
                    row[2 * k] += sk[k] * tr;
                    row[2 * k + 1] += sk[k] * ti;
                }
            }
        }
    }
}

/* Spins s_i = +-1 (sigma^z eigenvalues); parameters complex, holomorphic. */
const struct nqs_model_ops nqs_model_rbm_symm = {
    .name = "rbm_symm",
    .summary = "symmetric RBM: log psi = a sum_i s_i + sum_f sum_{g in G} log cosh(b_f + "
               "sum_i W_f[i] s_g(i)), G = translations or space group, alpha |G| hidden units, "
               "P = alpha N + alpha + 1",
    .shared = 1,
    .twin = "rbm",
    .options = rbm_symm_options,
    .n_options = NQS_RBM_N_KEYS,
    .alloc = rbm_symm_alloc,
    .free = rbm_symm_free,
    .refresh = rbm_symm_refresh,
    .cache_init = rbm_symm_cache_init,
    .log_psi_ratio = rbm_symm_log_psi_ratio,
    .cache_update = rbm_symm_cache_update,
    .grad_log_psi = rbm_symm_grad_log_psi,
    .psi_ratio = rbm_symm_psi_ratio,
    .log_prob_ratio = rbm_symm_log_prob_ratio,
};
