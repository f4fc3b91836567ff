/*
 * test_symmetry.c - space groups as permutations: orders counted by hand,
 * group axioms and bond preservation checked independently of the
 * construction, characters that are homomorphisms and give projections that
 * transform as stated (psi_chi(h s) = chi(h) psi_chi(s) for an arbitrary
 * function psi, by brute force over every configuration), hand-computed
 * characters, empty sectors on tiny lattices, and the Hamiltonian check
 * (passes with uniform couplings and the Marshall rotation, fails with
 * disorder).
 */
#include <complex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "ham_test_util.h"
#include "nqs_test.h"
#include "symmetry.h"

static struct nqs_symmetry *space(const struct nqs_lattice *lat)
{
    struct nqs_symmetry *sym = nqs_symmetry_alloc(lat, NQS_GROUP_SPACE);
    if (!sym) fail_msg("%s", nqs_last_error());
    return sym;
}

/* Orders by hand: |T| x |P| with P the operations that fit the lattice. */
static void test_symmetry_orders(void **state)
{
    (void)state;
    struct {
        enum nqs_lattice_kind k;
        int lx, ly, px, py, n_point, n_elem;
    } cases[] = {
        {NQS_LATTICE_SQUARE, 4, 4, 1, 1, 8, 128},     /* p4m */
        {NQS_LATTICE_SQUARE, 6, 6, 1, 1, 8, 288},
        {NQS_LATTICE_SQUARE, 4, 6, 1, 1, 4, 96},      /* rectangle: C2v */
        {NQS_LATTICE_SQUARE, 4, 4, 0, 0, 8, 8},       /* open square: C4v about the centre */
        {NQS_LATTICE_SQUARE, 4, 3, 0, 0, 4, 4},       /* open rectangle */
        {NQS_LATTICE_SQUARE, 4, 4, 1, 0, 4, 16},      /* cylinder: mirror x, mirror y, C2 */
        {NQS_LATTICE_SQUARE, 4, 2, 1, 1, 4, 16},      /* y -> -y is the identity on 2 rows */
        {NQS_LATTICE_TRIANGULAR, 3, 3, 1, 1, 12, 108}, /* p6m */
        {NQS_LATTICE_TRIANGULAR, 4, 4, 1, 1, 12, 192},
        {NQS_LATTICE_TRIANGULAR, 4, 4, 0, 0, 4, 4},   /* rhombus: C2 and the long-diagonal mirror */
        {NQS_LATTICE_CHAIN, 8, 1, 1, 0, 2, 16},
        {NQS_LATTICE_CHAIN, 7, 1, 0, 0, 2, 2},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct nqs_lattice *lat = util_lattice(cases[c].k, cases[c].lx, cases[c].ly, cases[c].px, cases[c].py);
        struct nqs_symmetry *sym = space(lat);
        if (sym->n_point != cases[c].n_point || sym->n_elem != cases[c].n_elem)
            fail_msg("case %zu: %d point operations, %d elements (expected %d, %d)", c, sym->n_point,
                     sym->n_elem, cases[c].n_point, cases[c].n_elem);
        struct nqs_symmetry *tr = nqs_symmetry_alloc(lat, NQS_GROUP_TRANSLATIONS);
        assert_non_null(tr);
        assert_int_equal(tr->n_elem, lat->n_trans);
        for (int g = 0; g < tr->n_elem; g++) /* translations first, in lattice order */
            assert_memory_equal(tr->perm + (size_t)g * lat->n_sites, lat->trans + (size_t)g * lat->n_sites,
                                (size_t)lat->n_sites * sizeof(int));
        nqs_symmetry_free(tr);
        nqs_symmetry_free(sym);
        nqs_lattice_free(lat);
    }
}

static int has_bond(const struct nqs_lattice *lat, int order, int i, int j)
{
    for (int b = 0; b < lat->n_bonds; b++) {
        const struct nqs_bond *bd = &lat->bonds[b];
        if (bd->order == order && ((bd->i == i && bd->j == j) || (bd->i == j && bd->j == i))) return 1;
    }
    return 0;
}

/* Every element is a permutation preserving the bonds of each order; the
 * product table is composition; inverses; elements are distinct. */
static void test_symmetry_group_axioms(void **state)
{
    (void)state;
    struct nqs_lattice *lats[] = {
        util_lattice(NQS_LATTICE_SQUARE, 4, 4, 1, 1), util_lattice(NQS_LATTICE_TRIANGULAR, 3, 3, 1, 1),
        util_lattice(NQS_LATTICE_SQUARE, 4, 3, 1, 0), util_lattice(NQS_LATTICE_CHAIN, 6, 1, 1, 0)};
    for (size_t l = 0; l < sizeof lats / sizeof lats[0]; l++) {
        struct nqs_lattice *lat = lats[l];
        struct nqs_symmetry *sym = space(lat);
        int N = lat->n_sites, G = sym->n_elem;
        for (int g = 0; g < G; g++) {
            const int *p = sym->perm + (size_t)g * N;
            char seen[64] = {0};
            for (int i = 0; i < N; i++) {
                assert_true(p[i] >= 0 && p[i] < N && !seen[p[i]]);
                seen[p[i]] = 1;
            }
            for (int b = 0; b < lat->n_bonds; b++)
                assert_true(has_bond(lat, lat->bonds[b].order, p[lat->bonds[b].i], p[lat->bonds[b].j]));
            for (int h = 0; h < G; h++) {
                const int *q = sym->perm + (size_t)h * N;
                const int *gh = sym->perm + (size_t)sym->product[(size_t)g * G + h] * N;
                for (int i = 0; i < N; i++) assert_int_equal(gh[i], p[q[i]]);
                if (h < g) assert_true(memcmp(p, q, (size_t)N * sizeof *p) != 0);
            }
            assert_int_equal(sym->product[(size_t)g * G + sym->inv[g]], 0);
        }
        for (int i = 0; i < N; i++) assert_int_equal(sym->perm[i], i); /* element 0 = identity */
        nqs_symmetry_free(sym);
        nqs_lattice_free(lat);
    }
}

/* For every sector that exists: chi is a homomorphism on the subgroup where
 * it is non-zero, |chi| = 1 there, chi(identity) = 1. */
static void check_homomorphism(const struct nqs_symmetry *sym, const double complex *chi)
{
    int G = sym->n_elem;
    assert_close(creal(chi[0]), 1.0, 1e-14);
    for (int g = 0; g < G; g++) {
        if (chi[g] == 0) continue;
        assert_close(cabs(chi[g]), 1.0, 1e-12);
        for (int h = 0; h < G; h++) {
            if (chi[h] == 0) continue;
            double complex gh = chi[sym->product[(size_t)g * G + h]];
            assert_true(gh != 0); /* closed */
            assert_close(cabs(gh - chi[g] * chi[h]), 0.0, 1e-12);
        }
    }
}

/* psi_chi(s) = sum_g conj(chi(g)) f(g s) for a pseudo-random complex f,
 * over all configurations; then psi_chi(h s) = chi(h) psi_chi(s). */
static double complex fn(const int8_t *s, int N)
{
    unsigned long x = 0;
    for (int i = 0; i < N; i++) x = x * 2 + (s[i] > 0);
    unsigned long h = (x + 11) * 2654435761UL;
    return (double)(h % 1000) / 1000.0 + I * (double)((h / 1000) % 997) / 997.0 - 0.4;
}

static double complex project(const struct nqs_symmetry *sym, const double complex *chi, const int8_t *s,
                              int8_t *tmp)
{
    double complex acc = 0;
    for (int g = 0; g < sym->n_elem; g++) {
        if (chi[g] == 0) continue;
        nqs_symmetry_apply(sym, g, s, tmp);
        acc += conj(chi[g]) * fn(tmp, sym->n_sites);
    }
    return acc;
}

/* Dimension of the sector by the character formula (1/|H|) sum_g conj(chi(g)) tr(g),
 * tr(g) = 2^(cycles of g) on the spin-1/2 space: a non-negative integer for
 * a true one-dimensional representation. */
static double sector_dim(const struct nqs_symmetry *sym, const double complex *chi)
{
    int N = sym->n_sites, n_h = 0;
    double complex acc = 0;
    for (int g = 0; g < sym->n_elem; g++) {
        if (chi[g] == 0) continue;
        n_h++;
        const int *p = sym->perm + (size_t)g * N;
        char seen[64] = {0};
        int cycles = 0;
        for (int i = 0; i < N; i++) {
            if (seen[i]) continue;
            cycles++;
            for (int j = i; !seen[j]; j = p[j]) seen[j] = 1;
        }
        acc += conj(chi[g]) * ldexp(1.0, cycles);
    }
    acc /= n_h;
    assert_close(cimag(acc), 0, 1e-9);
    assert_close(creal(acc), nearbyint(creal(acc)), 1e-9);
    assert_true(creal(acc) > -0.5);
    return creal(acc);
}

static void check_projection(const struct nqs_symmetry *sym, const double complex *chi)
{
    int N = sym->n_sites;
    int8_t s[32], gs[32], tmp[32];
    int nonzero = 0;
    for (uint64_t x = 0; x < (1ULL << N); x++) {
        util_spins(x, N, s);
        double complex p = project(sym, chi, s, tmp);
        nonzero += cabs(p) > 1e-9;
        for (int h = 0; h < sym->n_elem; h++) {
            if (chi[h] == 0) continue;
            nqs_symmetry_apply(sym, h, s, gs);
            double complex q = project(sym, chi, gs, tmp);
            assert_close(cabs(q - chi[h] * p), 0.0, 1e-10);
        }
    }
    assert_int_equal(nonzero > 0, sector_dim(sym, chi) > 0.5);
}

static void test_symmetry_characters(void **state)
{
    (void)state;
    struct {
        enum nqs_lattice_kind k;
        int lx, ly, px, py;
        int project; /* brute-force projection (small N) */
    } cases[] = {
        {NQS_LATTICE_SQUARE, 4, 4, 1, 1, 0}, {NQS_LATTICE_SQUARE, 3, 3, 1, 1, 1},
        {NQS_LATTICE_SQUARE, 4, 2, 1, 1, 1}, {NQS_LATTICE_TRIANGULAR, 3, 3, 1, 1, 1},
        {NQS_LATTICE_CHAIN, 8, 1, 1, 0, 1},  {NQS_LATTICE_SQUARE, 3, 3, 1, 0, 1},
        {NQS_LATTICE_CHAIN, 7, 1, 0, 0, 1},
    };
    int n_ok = 0, n_refused = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct nqs_lattice *lat = util_lattice(cases[c].k, cases[c].lx, cases[c].ly, cases[c].px, cases[c].py);
        struct nqs_symmetry *sym = space(lat);
        double complex *chi = malloc((size_t)sym->n_elem * sizeof *chi);
        int mx_max = cases[c].px ? cases[c].lx : 1, my_max = lat->dim > 1 && cases[c].py ? cases[c].ly : 1;
        for (int mx = 0; mx < mx_max; mx++)
            for (int my = 0; my < my_max; my++)
                for (int irrep = -1; irrep <= 3; irrep++) {
                    struct nqs_sector sec = {{mx, my}, irrep, 0};
                    int rc = nqs_symmetry_characters(sym, lat, &sec, chi);
                    if (rc != NQS_OK) {
                        assert_int_equal(rc, NQS_EINVAL);
                        assert_true(irrep > 0); /* A1 and "none" exist at every k */
                        n_refused++;
                        continue;
                    }
                    n_ok++;
                    check_homomorphism(sym, chi);
                    sector_dim(sym, chi);
                    if (cases[c].project && (mx + my) % 2 == 0) check_projection(sym, chi);
                }
        free(chi);
        nqs_symmetry_free(sym);
        nqs_lattice_free(lat);
    }
    assert_true(n_ok > 50 && n_refused > 0);
}

/* Index of the element T_t P_p with the named point operation. */
static int elem(const struct nqs_symmetry *sym, int t, const char *point)
{
    for (int p = 0; p < sym->n_point; p++)
        if (strcmp(sym->point[p].name, point) == 0) return sym->elem_of[(size_t)t * sym->n_point + p];
    fail_msg("no point operation %s", point);
    return -1;
}

/* Values by hand. Square 4x4: B1 is +1 on the axis mirrors, -1 on the
 * diagonal ones and on the 90-degree rotation; momentum (1, 0) gives
 * exp(i pi/2) for a unit step in x. Chain 4x2: A2 and B2 are empty because
 * y -> -y acts as the identity on two rows. */
static void test_symmetry_hand_values(void **state)
{
    (void)state;
    struct nqs_lattice *lat = util_lattice(NQS_LATTICE_SQUARE, 4, 4, 1, 1);
    struct nqs_symmetry *sym = space(lat);
    double complex chi[128];
    struct nqs_sector b1 = {{0, 0}, NQS_IRREP_B1, 0};
    assert_int_equal(nqs_symmetry_characters(sym, lat, &b1, chi), NQS_OK);
    assert_close(creal(chi[elem(sym, 0, "R90")]), -1, 1e-15);
    assert_close(creal(chi[elem(sym, 0, "R180")]), 1, 1e-15);
    assert_close(creal(chi[elem(sym, 0, "m0")]), 1, 1e-15);
    assert_close(creal(chi[elem(sym, 0, "m90")]), 1, 1e-15);
    assert_close(creal(chi[elem(sym, 0, "m45")]), -1, 1e-15);
    assert_close(creal(chi[elem(sym, 5, "m45")]), -1, 1e-15);
    struct nqs_sector k10 = {{1, 0}, NQS_IRREP_A1, 0};
    assert_int_equal(nqs_symmetry_characters(sym, lat, &k10, chi), NQS_OK);
    assert_close(cabs(chi[1] - I), 0, 1e-15);                /* T by (1, 0) */
    assert_close(cabs(chi[4] - 1), 0, 1e-15);                /* T by (0, 1) */
    assert_close(cabs(chi[elem(sym, 0, "m0")] - 1), 0, 1e-15); /* y -> -y keeps k = (pi/2, 0) */
    assert_true(chi[elem(sym, 0, "R90")] == 0);               /* not in the little co-group */
    struct nqs_sector bad = {{0, 0}, NQS_IRREP_B1, 0};
    struct nqs_sector kpi = {{2, 2}, NQS_IRREP_B2, 0};
    assert_int_equal(nqs_symmetry_characters(sym, lat, &kpi, chi), NQS_OK);
    nqs_symmetry_free(sym);
    nqs_lattice_free(lat);

    lat = util_lattice(NQS_LATTICE_SQUARE, 4, 2, 1, 1);
    sym = space(lat);
    struct nqs_sector a2 = {{0, 0}, NQS_IRREP_A2, 0};
    assert_int_equal(nqs_symmetry_characters(sym, lat, &a2, chi), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "empty"));
    assert_int_equal(nqs_symmetry_characters(sym, lat, &bad, chi), NQS_OK);
    nqs_symmetry_free(sym);
    nqs_lattice_free(lat);

    lat = util_lattice(NQS_LATTICE_CHAIN, 6, 1, 0, 0); /* open: no momentum */
    sym = space(lat);
    struct nqs_sector k1 = {{1, 0}, NQS_IRREP_NONE, 0};
    assert_int_equal(nqs_symmetry_characters(sym, lat, &k1, chi), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "open"));
    struct nqs_sector odd = {{0, 0}, NQS_IRREP_A2, 0};
    assert_int_equal(nqs_symmetry_characters(sym, lat, &odd, chi), NQS_OK);
    assert_close(creal(chi[1]), -1, 1e-15);
    struct nqs_sector b = {{0, 0}, NQS_IRREP_B1, 0};
    assert_int_equal(nqs_symmetry_characters(sym, lat, &b, chi), NQS_EINVAL);
    nqs_symmetry_free(sym);
    sym = nqs_symmetry_alloc(lat, NQS_GROUP_TRANSLATIONS);
    assert_int_equal(nqs_symmetry_characters(sym, lat, &odd, chi), NQS_EINVAL); /* no point group */
    nqs_symmetry_free(sym);
    nqs_lattice_free(lat);
}

static void test_symmetry_hamiltonian_check(void **state)
{
    (void)state;
    const char *fams[] = {"heisenberg", "j1j2", "ising", "xxz"};
    const char *set[] = {"J2=0.4371", "h=0.7313", "delta=1.7", "marshall_sign=true", NULL};
    const char *set_nm[] = {"J2=0.4371", "h=0.7313", "delta=1.7", "marshall_sign=false", NULL};
    for (int f = 0; f < 4; f++)
        for (int marshall = 0; marshall < 2; marshall++) {
            struct nqs_lattice *lat = util_lattice(NQS_LATTICE_SQUARE, 4, 4, 1, 1);
            struct nqs_ham *h = util_ham(fams[f], lat, marshall ? set : set_nm);
            struct nqs_symmetry *sym = space(lat);
            if (nqs_symmetry_check_hamiltonian(sym, h) != NQS_OK) fail_msg("%s: %s", fams[f], nqs_last_error());
            assert_true(nqs_symmetry_ham_flip_invariant(h));
            nqs_symmetry_free(sym);
            nqs_ham_free(h);
            nqs_lattice_free(lat);
        }
    /* Disorder breaks the group: the check must say so. */
    struct nqs_lattice *lat = util_lattice(NQS_LATTICE_CHAIN, 8, 1, 1, 0);
    assert_int_equal(nqs_lattice_disorder_uniform(lat, 0.5, 1.5, 3), NQS_OK);
    struct nqs_ham *h = util_ham("heisenberg", lat, NULL);
    struct nqs_symmetry *sym = nqs_symmetry_alloc(lat, NQS_GROUP_TRANSLATIONS);
    assert_int_equal(nqs_symmetry_check_hamiltonian(sym, h), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "not symmetric"));
    nqs_symmetry_free(sym);
    nqs_ham_free(h);
    nqs_lattice_free(lat);
    /* A single changed coupling on the 4x4 square: translations and mirrors fail. */
    lat = util_lattice(NQS_LATTICE_SQUARE, 4, 4, 1, 1);
    int n = lat->n_bonds_order[0];
    int *bi = malloc((size_t)n * sizeof *bi), *bj = malloc((size_t)n * sizeof *bj);
    double *bJ = malloc((size_t)n * sizeof *bJ);
    for (int b = 0; b < n; b++) {
        bi[b] = lat->bonds[b].i;
        bj[b] = lat->bonds[b].j;
        bJ[b] = b == 3 ? 1.25 : 1.0;
    }
    assert_int_equal(nqs_lattice_set_couplings(lat, n, bi, bj, bJ), NQS_OK);
    h = util_ham("heisenberg", lat, NULL);
    sym = space(lat);
    assert_int_equal(nqs_symmetry_check_hamiltonian(sym, h), NQS_EINVAL);
    nqs_symmetry_free(sym);
    nqs_ham_free(h);
    nqs_lattice_free(lat);
    free(bi);
    free(bj);
    free(bJ);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_symmetry_orders),
        cmocka_unit_test(test_symmetry_group_axioms),
        cmocka_unit_test(test_symmetry_characters),
        cmocka_unit_test(test_symmetry_hand_values),
        cmocka_unit_test(test_symmetry_hamiltonian_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
