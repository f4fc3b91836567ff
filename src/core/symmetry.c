/*
 * symmetry.c - space groups of the lattices as site permutations, their
 * one-dimensional representations (symmetry sectors), and the check that a
 * Hamiltonian commutes with them. Conventions and the irreps: symmetry.h.
 *
 * The group is built as the set of distinct permutations T_t P_p over the
 * lattice's translations t and the point operations p that map the lattice
 * graph onto itself; the multiplication table comes from composing
 * permutations and looking the result up in a hash table, so it does not
 * depend on how the operations were parametrised.
 */
#include "symmetry.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static void sym_matmul(int a[2][2], int b[2][2], int out[2][2])
{
    int c[2][2];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) c[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j];
    memcpy(out, c, sizeof c);
}

/* Candidate point operations r^j m^b of the lattice family; returns the count. */
static int sym_candidates(const struct nqs_lattice *lat, struct nqs_sym_point *cand, int *n_base)
{
    if (lat->kind == NQS_LATTICE_CHAIN) {
        *n_base = 1;
        cand[0] = (struct nqs_sym_point){{{1, 0}, {0, 1}}, 0, 0, "E"};
        cand[1] = (struct nqs_sym_point){{{-1, 0}, {0, 1}}, 0, 1, "m"};
        return 2;
    }
    int r_sq[2][2] = {{0, -1}, {1, 0}}, m_sq[2][2] = {{1, 0}, {0, -1}};
    int r_tr[2][2] = {{0, -1}, {1, 1}}, m_tr[2][2] = {{1, 1}, {0, -1}};
    int tri = lat->kind == NQS_LATTICE_TRIANGULAR;
    int n = tri ? 6 : 4;
    *n_base = n;
    int (*r)[2] = tri ? r_tr : r_sq, (*m)[2] = tri ? m_tr : m_sq;
    int k = 0;
    for (int b = 0; b < 2; b++) {
        int cur[2][2] = {{1, 0}, {0, 1}};
        if (b) memcpy(cur, m, sizeof cur);
        for (int j = 0; j < n; j++) {
            struct nqs_sym_point *p = &cand[k++];
            memcpy(p->R, cur, sizeof cur);
            p->rot = j;
            p->refl = b;
            int deg = j * 360 / n;
            if (b) snprintf(p->name, sizeof p->name, "m%d", deg / 2); /* axis angle */
            else if (j == 0) snprintf(p->name, sizeof p->name, "E");
            else snprintf(p->name, sizeof p->name, "R%d", deg);
            sym_matmul(r, cur, cur);
        }
    }
    return k;
}

/* Image of every site under x -> R (x - c) + c (c: centre of the open
 * directions); 0 if some image is not a site or two sites share one. */
static int sym_point_perm(const struct nqs_lattice *lat, int R[2][2], int *perm, char *seen)
{
    int N = lat->n_sites, Lx = lat->extent[0], Ly = lat->extent[1];
    int c2[2] = {lat->periodic[0] ? 0 : Lx - 1, lat->dim > 1 && !lat->periodic[1] ? Ly - 1 : 0};
    memset(seen, 0, (size_t)N);
    for (int i = 0; i < N; i++) {
        int x = i % Lx, y = i / Lx;
        int X = 2 * x - c2[0], Y = 2 * y - c2[1];
        int Xp = R[0][0] * X + R[0][1] * Y + c2[0], Yp = R[1][0] * X + R[1][1] * Y + c2[1];
        if ((Xp & 1) || (Yp & 1)) return 0;
        int xp = Xp / 2, yp = Yp / 2;
        if (lat->periodic[0]) xp = ((xp % Lx) + Lx) % Lx;
        if (lat->dim > 1 && lat->periodic[1]) yp = ((yp % Ly) + Ly) % Ly;
        if (xp < 0 || xp >= Lx || yp < 0 || yp >= Ly) return 0;
        int j = xp + Lx * yp;
        if (seen[j]) return 0;
        seen[j] = 1;
        perm[i] = j;
    }
    return 1;
}

static int sym_bond_cmp(const void *a, const void *b)
{
    const long *x = a, *y = b;
    return (*x > *y) - (*x < *y);
}

static long sym_bond_key(int order, int i, int j, int N)
{
    if (i > j) {
        int t = i;
        i = j;
        j = t;
    }
    return ((long)order * N + i) * N + j;
}

/* The permutation maps every bond onto a bond of the same order (graph only). */
static int sym_preserves_bonds(const struct nqs_lattice *lat, const int *perm, const long *keys)
{
    int N = lat->n_sites;
    for (int b = 0; b < lat->n_bonds; b++) {
        const struct nqs_bond *bd = &lat->bonds[b];
        long k = sym_bond_key(bd->order, perm[bd->i], perm[bd->j], N);
        if (!bsearch(&k, keys, (size_t)lat->n_bonds, sizeof *keys, sym_bond_cmp)) return 0;
    }
    return 1;
}

static unsigned long sym_hash(const int *p, int N)
{
    unsigned long h = 1469598103934665603UL;
    for (int i = 0; i < N; i++) {
        h ^= (unsigned long)(unsigned)p[i];
        h *= 1099511628211UL;
    }
    return h;
}

struct sym_table {
    int *slot; /* element index or -1 */
    unsigned long mask;
};

/* Index of permutation p among the elements, -1 if absent. */
static int sym_find(const struct sym_table *tb, const int *perm, int N, const int *p)
{
    unsigned long h = sym_hash(p, N) & tb->mask;
    while (tb->slot[h] >= 0) {
        int g = tb->slot[h];
        if (memcmp(perm + (size_t)g * (size_t)N, p, (size_t)N * sizeof *p) == 0) return g;
        h = (h + 1) & tb->mask;
    }
    return -1;
}

static void sym_insert(struct sym_table *tb, int N, const int *p, int g)
{
    unsigned long h = sym_hash(p, N) & tb->mask;
    while (tb->slot[h] >= 0) h = (h + 1) & tb->mask;
    tb->slot[h] = g;
}

struct nqs_symmetry *nqs_symmetry_alloc(const struct nqs_lattice *lat, enum nqs_sym_group kind)
{
    int N = lat->n_sites, T = lat->n_trans;
    struct nqs_sym_point cand[NQS_SYM_MAX_POINT];
    int n_base;
    int n_cand = sym_candidates(lat, cand, &n_base);
    if (kind == NQS_GROUP_TRANSLATIONS) n_cand = 1;
    struct nqs_symmetry *sym = calloc(1, sizeof *sym);
    int *pp = malloc((size_t)n_cand * (size_t)N * sizeof *pp);
    char *seen = malloc((size_t)N);
    long *keys = malloc((size_t)(lat->n_bonds > 0 ? lat->n_bonds : 1) * sizeof *keys);
    int *tmp = malloc((size_t)N * sizeof *tmp);
    struct sym_table tb = {NULL, 0};
    if (!sym || !pp || !seen || !keys || !tmp) goto nomem;
    sym->n_sites = N;
    sym->kind = kind;
    sym->n_trans = T;
    sym->n_base = n_base;
    for (int b = 0; b < lat->n_bonds; b++)
        keys[b] = sym_bond_key(lat->bonds[b].order, lat->bonds[b].i, lat->bonds[b].j, N);
    qsort(keys, (size_t)lat->n_bonds, sizeof *keys, sym_bond_cmp);
    int np = 0;
    for (int c = 0; c < n_cand; c++) {
        int *p = pp + (size_t)np * (size_t)N;
        if (!sym_point_perm(lat, cand[c].R, p, seen) || !sym_preserves_bonds(lat, p, keys)) continue;
        sym->point[np++] = cand[c];
    }
    sym->n_point = np;
    size_t max_elem = (size_t)T * (size_t)np;
    sym->perm = malloc(max_elem * (size_t)N * sizeof *sym->perm);
    sym->trans_of = malloc(max_elem * sizeof *sym->trans_of);
    sym->point_of = malloc(max_elem * sizeof *sym->point_of);
    sym->elem_of = malloc(max_elem * sizeof *sym->elem_of);
    unsigned long cap = 1;
    while (cap < 4 * max_elem) cap <<= 1;
    tb.slot = malloc(cap * sizeof *tb.slot);
    tb.mask = cap - 1;
    if (!sym->perm || !sym->trans_of || !sym->point_of || !sym->elem_of || !tb.slot) goto nomem;
    for (unsigned long h = 0; h < cap; h++) tb.slot[h] = -1;
    int ne = 0;
    for (int p = 0; p < np; p++)
        for (int t = 0; t < T; t++) {
            const int *tr = lat->trans + (size_t)t * (size_t)N, *pt = pp + (size_t)p * (size_t)N;
            for (int i = 0; i < N; i++) tmp[i] = tr[pt[i]];
            int g = sym_find(&tb, sym->perm, N, tmp);
            if (g < 0) {
                g = ne++;
                memcpy(sym->perm + (size_t)g * (size_t)N, tmp, (size_t)N * sizeof *tmp);
                sym->trans_of[g] = t;
                sym->point_of[g] = p;
                sym_insert(&tb, N, tmp, g);
            }
            sym->elem_of[(size_t)t * (size_t)np + (size_t)p] = g;
        }
    sym->n_elem = ne;
    sym->inv = malloc((size_t)ne * sizeof *sym->inv);
    if (!sym->inv) goto nomem;
    for (int g = 0; g < ne; g++) {
        const int *pg = sym->perm + (size_t)g * (size_t)N;
        for (int i = 0; i < N; i++) tmp[pg[i]] = i;
        sym->inv[g] = sym_find(&tb, sym->perm, N, tmp);
        if (sym->inv[g] < 0) {
            NQS_SET_ERROR(NQS_EINTERNAL, "symmetry group of %d elements is not closed", ne);
            goto fail;
        }
    }
    if (ne <= NQS_SYM_MAX_PRODUCT) {
        sym->product = malloc((size_t)ne * (size_t)ne * sizeof *sym->product);
        if (!sym->product) goto nomem;
        for (int g = 0; g < ne; g++) {
            const int *pg = sym->perm + (size_t)g * (size_t)N;
            for (int h = 0; h < ne; h++) {
                const int *ph = sym->perm + (size_t)h * (size_t)N;
                for (int i = 0; i < N; i++) tmp[i] = pg[ph[i]]; /* h first, then g */
                int gh = sym_find(&tb, sym->perm, N, tmp);
                if (gh < 0) {
                    NQS_SET_ERROR(NQS_EINTERNAL, "symmetry group of %d elements is not closed", ne);
                    goto fail;
                }
                sym->product[(size_t)g * (size_t)ne + (size_t)h] = gh;
            }
        }
    }
    if (kind == NQS_GROUP_TRANSLATIONS)
        snprintf(sym->name, sizeof sym->name, "translations (%d)", ne);
    else
        snprintf(sym->name, sizeof sym->name, "space group: %d translations x %d point operations (%d)",
                 T, np, ne);
    free(pp);
    free(seen);
    free(keys);
    free(tmp);
    free(tb.slot);
    return sym;
nomem:
    NQS_SET_ERROR(NQS_ENOMEM, "out of memory for the symmetry group of a %d-site lattice", N);
fail:
    free(pp);
    free(seen);
    free(keys);
    free(tmp);
    free(tb.slot);
    nqs_symmetry_free(sym);
    return NULL;
}

void nqs_symmetry_free(struct nqs_symmetry *sym)
{
    if (!sym) return;
    free(sym->perm);
    free(sym->inv);
    free(sym->trans_of);
    free(sym->point_of);
    free(sym->elem_of);
    free(sym->product);
    free(sym);
}

void nqs_symmetry_apply(const struct nqs_symmetry *sym, int g, const int8_t *s, int8_t *out)
{
    const int *p = sym->perm + (size_t)g * (size_t)sym->n_sites;
    for (int i = 0; i < sym->n_sites; i++) out[p[i]] = s[i];
}

/* ---- Hamiltonian check ------------------------------------------------ */

struct sym_elem {
    long key;
    double mel;
};

static int sym_elem_cmp(const void *a, const void *b)
{
    const struct sym_elem *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

/* Off-diagonal elements of a configuration as sorted (flip set, value) keys,
 * the flip sets mapped through perm (NULL: identity); equal keys summed. */
static int sym_elems(const struct nqs_conn *c, const int *perm, int N, struct sym_elem *e)
{
    for (int k = 0; k < c->n; k++) {
        int a = c->site[k][0], b = c->n_flip[k] > 1 ? c->site[k][1] : a;
        if (perm) {
            a = perm[a];
            b = perm[b];
        }
        e[k].key = sym_bond_key(c->n_flip[k] > 1 ? 1 : 0, a, b, N);
        e[k].mel = c->mel[k];
    }
    qsort(e, (size_t)c->n, sizeof *e, sym_elem_cmp);
    int n = 0;
    for (int k = 0; k < c->n; k++) {
        if (n > 0 && e[n - 1].key == e[k].key) e[n - 1].mel += e[k].mel;
        else e[n++] = e[k];
    }
    return n;
}

static int sym_same(double a, double b) { return fabs(a - b) <= 1e-12 * (1.0 + fabs(a) + fabs(b)); }

/* Compare H on s and on s2 = (g s) (or -s): 1 if the elements correspond. */
static int sym_compare(const struct nqs_ham *ham, const int8_t *s, const int8_t *s2, const int *perm,
                       struct nqs_conn *c1, struct nqs_conn *c2, struct sym_elem *e1,
                       struct sym_elem *e2)
{
    int N = ham->n_sites;
    ham->ops->connected(ham, s, c1);
    ham->ops->connected(ham, s2, c2);
    if (!sym_same(c1->diag, c2->diag)) return 0;
    int n1 = sym_elems(c1, perm, N, e1), n2 = sym_elems(c2, NULL, N, e2);
    int i = 0, j = 0;
    while (i < n1 || j < n2) { /* elements with value 0 may appear on one side only */
        if (j >= n2 || (i < n1 && e1[i].key < e2[j].key)) {
            if (!sym_same(e1[i++].mel, 0)) return 0;
        } else if (i >= n1 || e2[j].key < e1[i].key) {
            if (!sym_same(e2[j++].mel, 0)) return 0;
        } else {
            if (!sym_same(e1[i++].mel, e2[j++].mel)) return 0;
        }
    }
    return 1;
}

#define SYM_N_CHECK 12 /* configurations per element: all up, Neel-like, random ones */

/* Run `test` over the fixed configurations for element g (-1: spin flip). */
static int sym_check(const struct nqs_symmetry *sym, const struct nqs_ham *ham, int g, int *ok)
{
    int N = ham->n_sites;
    struct nqs_conn *c1 = nqs_conn_alloc(ham), *c2 = nqs_conn_alloc(ham);
    int8_t *s = malloc((size_t)N), *s2 = malloc((size_t)N);
    struct sym_elem *e1 = malloc((size_t)(ham->max_conn + 1) * sizeof *e1);
    struct sym_elem *e2 = malloc((size_t)(ham->max_conn + 1) * sizeof *e2);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    int rc = NQS_OK;
    if (!c1 || !c2 || !s || !s2 || !e1 || !e2 || !rng) {
        rc = NQS_ENOMEM;
        NQS_SET_ERROR(rc, "out of memory checking the symmetry of the Hamiltonian");
        goto done;
    }
    gsl_rng_set(rng, 20261204UL);
    *ok = 1;
    for (int k = 0; k < SYM_N_CHECK && *ok; k++) {
        for (int i = 0; i < N; i++) {
            if (k == 0) s[i] = 1;
            else if (k == 1) s[i] = (int8_t)((i % 2) ? -1 : 1);
            else if (k < 6) s[i] = (int8_t)(gsl_rng_uniform(rng) < 0.5 ? 1 : -1); /* Sz near 0 */
            else s[i] = (int8_t)(gsl_rng_uniform(rng) < 0.15 * (double)(k - 5) ? 1 : -1);
        }
        if (g >= 0) {
            nqs_symmetry_apply(sym, g, s, s2);
            *ok = sym_compare(ham, s, s2, sym->perm + (size_t)g * (size_t)N, c1, c2, e1, e2);
        } else {
            for (int i = 0; i < N; i++) s2[i] = (int8_t)-s[i];
            *ok = sym_compare(ham, s, s2, NULL, c1, c2, e1, e2);
        }
    }
done:
    nqs_conn_free(c1);
    nqs_conn_free(c2);
    free(s);
    free(s2);
    free(e1);
    free(e2);
    gsl_rng_free(rng);
    return rc;
}

int nqs_symmetry_check_hamiltonian(const struct nqs_symmetry *sym, const struct nqs_ham *ham)
{
    /* Generators suffice: every translation by one step and every point
     * operation; their products are then symmetries too. Checking all
     * elements is cheap enough for the lattices here and needs no argument. */
    for (int g = 1; g < sym->n_elem; g++) {
        int ok;
        NQS_TRY(sym_check(sym, ham, g, &ok));
        if (!ok) {
            const struct nqs_sym_point *p = &sym->point[sym->point_of[g]];
            NQS_ERROR(NQS_EINVAL,
                      "the Hamiltonian (%s) is not symmetric under %s%s translation %d combined with "
                      "point operation %s (e.g. disordered or custom couplings): that symmetry cannot "
                      "be used for a sector or a projection",
                      ham->ops->name, sym->name, ",", sym->trans_of[g], p->name);
        }
    }
    return NQS_OK;
}

int nqs_symmetry_ham_flip_invariant(const struct nqs_ham *ham)
{
    int ok = 0;
    if (sym_check(NULL, ham, -1, &ok) != NQS_OK) return 0;
    return ok;
}

/* ---- sectors ---------------------------------------------------------- */

const char *nqs_irrep_name(int irrep)
{
    static const char *const names[] = {"A1", "A2", "B1", "B2"};
    return irrep >= 0 && irrep <= 3 ? names[irrep] : "none";
}

static long sym_mod(long a, long m) { return ((a % m) + m) % m; }

int nqs_symmetry_characters(const struct nqs_symmetry *sym, const struct nqs_lattice *lat,
                            const struct nqs_sector *sec, double complex *chi)
{
    int L[2] = {lat->extent[0], lat->dim > 1 ? lat->extent[1] : 1};
    int per[2] = {lat->periodic[0], lat->dim > 1 ? lat->periodic[1] : 0};
    long m[2];
    for (int d = 0; d < 2; d++) {
        m[d] = sec->momentum[d];
        if (!per[d] && m[d] != 0)
            NQS_ERROR(NQS_EINVAL, "[symmetry] momentum: direction %d is open, so its momentum index "
                      "must be 0 (got %ld)", d + 1, m[d]);
        if (d >= lat->dim && m[d] != 0)
            NQS_ERROR(NQS_EINVAL, "[symmetry] momentum: a chain has one momentum index (got a second, %ld)",
                      m[d]);
        if (per[d]) m[d] = sym_mod(m[d], L[d]);
    }
    if (sec->irrep != NQS_IRREP_NONE && (sec->irrep < 0 || sec->irrep > NQS_IRREP_B2))
        NQS_ERROR(NQS_EINVAL, "[symmetry] point_group: unknown irrep %d (accepted: none, A1, A2, B1, B2)",
                  sec->irrep);
    if (sec->irrep != NQS_IRREP_NONE && sym->kind != NQS_GROUP_SPACE)
        NQS_ERROR(NQS_EINVAL, "[symmetry] point_group = %s needs the space group, but this group has "
                  "translations only", nqs_irrep_name(sec->irrep));
    /* Little co-group of k: R^T kappa = kappa mod 1 on the periodic components,
     * with kappa_d = m_d / L_d; exact in integers after multiplying by Lx Ly. */
    long LL = (long)L[0] * L[1];
    int little[NQS_SYM_MAX_POINT], n_rot = 0, j_step = 0, j0 = -1;
    for (int p = 0; p < sym->n_point; p++) {
        const struct nqs_sym_point *pt = &sym->point[p];
        little[p] = sec->irrep != NQS_IRREP_NONE || p == 0;
        for (int a = 0; a < 2 && little[p]; a++) {
            if (!per[a]) continue;
            long v = 0;
            for (int b = 0; b < 2; b++) v += (long)pt->R[b][a] * m[b] * (LL / L[b]);
            v -= m[a] * (LL / L[a]);
            if (sym_mod(v, LL) != 0) little[p] = 0; /* (R^T kappa - kappa)_a = v / LL */
        }
        if (!little[p]) continue;
        if (pt->refl) {
            if (j0 < 0 || pt->rot < j0) j0 = pt->rot;
        } else {
            n_rot++;
            if (pt->rot > 0 && (j_step == 0 || pt->rot < j_step)) j_step = pt->rot;
        }
    }
    if (j_step == 0) j_step = sym->n_base; /* only the identity rotation */
    if ((sec->irrep == NQS_IRREP_B1 || sec->irrep == NQS_IRREP_B2) && n_rot % 2 != 0)
        NQS_ERROR(NQS_EINVAL, "[symmetry] point_group = %s does not exist here: the little co-group of "
                  "this momentum has %d rotation%s (accepted: A1, A2%s)", nqs_irrep_name(sec->irrep),
                  n_rot, n_rot == 1 ? "" : "s", "");
    if (sec->irrep == NQS_IRREP_A2 && j0 < 0)
        NQS_ERROR(NQS_EINVAL, "[symmetry] point_group = A2 does not exist here: the little co-group of "
                  "this momentum has no reflection (accepted: A1%s)", n_rot % 2 == 0 ? ", B1" : "");
    /* Characters per (t, p), then per element, checking that (t, p) pairs
     * that give the same permutation agree. */
    int ntx = per[0] ? L[0] : 1;
    int np = sym->n_point;
    for (int g = 0; g < sym->n_elem; g++) chi[g] = NAN;
    for (int t = 0; t < sym->n_trans; t++) {
        int tx = t % ntx, ty = t / ntx;
        double phase = 2.0 * M_PI * ((double)(m[0] * tx) / L[0] + (double)(m[1] * ty) / L[1]);
        double complex ct = cexp(I * phase);
        for (int p = 0; p < np; p++) {
            const struct nqs_sym_point *pt = &sym->point[p];
            double complex c = 0;
            if (little[p]) {
                int j = pt->refl ? pt->rot - j0 : pt->rot;
                int jp = j / j_step; /* index in units of the little co-group's rotation */
                double cp = 1.0;
                if (sec->irrep == NQS_IRREP_A2 || sec->irrep == NQS_IRREP_B2) cp *= pt->refl ? -1 : 1;
                if (sec->irrep == NQS_IRREP_B1 || sec->irrep == NQS_IRREP_B2) cp *= (jp % 2) ? -1 : 1;
                c = ct * cp;
            }
            /* Pairs (t, p) that act alike are one operator: it belongs to the
             * sector's group if one of them does, and their characters agree
             * or the sector is empty. */
            int g = sym->elem_of[(size_t)t * (size_t)np + (size_t)p];
            if (isnan(creal(chi[g])) || chi[g] == 0) {
                chi[g] = c;
            } else if (c != 0 && cabs(chi[g] - c) > 1e-9) {
                NQS_ERROR(NQS_EINVAL, "[symmetry] sector momentum (%ld,%ld), point_group %s is empty "
                          "on this lattice: translation %d with %s acts like another element with a "
                          "different character", m[0], m[1], nqs_irrep_name(sec->irrep), t, pt->name);
            }
        }
    }
    return NQS_OK;
}
