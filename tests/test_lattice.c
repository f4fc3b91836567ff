/*
 * test_lattice.c - lattices: neighbour counts and bond lists against hand
 * counts, the translation group is a group of bond-preserving permutations,
 * sublattices, custom couplings and their error paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "lattice.h"
#include "nqs_test.h"

static struct nqs_lattice *make(enum nqs_lattice_kind k, int lx, int ly, int px, int py)
{
    int ext[2] = {lx, ly}, per[2] = {px, py};
    struct nqs_lattice *lat = nqs_lattice_alloc(k, ext, per);
    assert_non_null(lat);
    return lat;
}

static int has_bond(const struct nqs_lattice *lat, int order, int i, int j)
{
    if (i > j) {
        int t = i;
        i = j;
        j = t;
    }
    for (int b = 0; b < lat->n_bonds; b++)
        if (lat->bonds[b].order == order && lat->bonds[b].i == i && lat->bonds[b].j == j) return 1;
    return 0;
}

static void degrees(const struct nqs_lattice *lat, int order, int *deg)
{
    memset(deg, 0, (size_t)lat->n_sites * sizeof *deg);
    for (int b = 0; b < lat->n_bonds; b++)
        if (lat->bonds[b].order == order) {
            deg[lat->bonds[b].i]++;
            deg[lat->bonds[b].j]++;
        }
}

/* Bond counts by hand: periodic square LxL has 2N nearest and 2N diagonal
 * bonds; periodic triangular has 3N and 3N; an open Lx x Ly square has
 * (Lx-1)Ly + Lx(Ly-1) nearest and 2(Lx-1)(Ly-1) diagonal bonds. */
static void test_lattice_bond_counts(void **state)
{
    (void)state;
    struct {
        enum nqs_lattice_kind k;
        int lx, ly, px, py, nn, nnn, deg_nn; /* deg_nn: bulk degree, -1 if not uniform */
    } cases[] = {
        {NQS_LATTICE_CHAIN, 10, 1, 1, 0, 10, 10, 2},
        {NQS_LATTICE_CHAIN, 10, 1, 0, 0, 9, 8, -1},
        {NQS_LATTICE_CHAIN, 4, 1, 1, 0, 4, 2, 2}, /* next-nearest (0,2),(1,3) reached twice */
        {NQS_LATTICE_SQUARE, 4, 4, 1, 1, 32, 32, 4},
        {NQS_LATTICE_SQUARE, 3, 3, 0, 0, 12, 8, -1},
        {NQS_LATTICE_SQUARE, 4, 3, 1, 0, 4 * 3 + 4 * 2, 2 * 4 * 2, -1},
        /* 3x3 torus: (-1,2) and (2,-1) are both -(1,1) mod 3, one next-nearest class */
        {NQS_LATTICE_TRIANGULAR, 3, 3, 1, 1, 27, 9, 6},
        {NQS_LATTICE_TRIANGULAR, 4, 4, 1, 1, 48, 48, 6},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct nqs_lattice *lat = make(cases[c].k, cases[c].lx, cases[c].ly, cases[c].px, cases[c].py);
        assert_int_equal(lat->n_bonds_order[0], cases[c].nn);
        assert_int_equal(lat->n_bonds_order[1], cases[c].nnn);
        assert_int_equal(lat->n_bonds, cases[c].nn + cases[c].nnn);
        int deg[64];
        degrees(lat, 0, deg);
        if (cases[c].deg_nn > 0)
            for (int i = 0; i < lat->n_sites; i++) assert_int_equal(deg[i], cases[c].deg_nn);
        for (int b = 0; b < lat->n_bonds; b++) assert_true(lat->bonds[b].i < lat->bonds[b].j);
        nqs_lattice_free(lat);
    }
}

/* Specific neighbours from the documented numbering i = x + Lx*y. */
static void test_lattice_numbering(void **state)
{
    (void)state;
    struct nqs_lattice *sq = make(NQS_LATTICE_SQUARE, 4, 3, 1, 1);
    /* site 0 = (0,0): right 1, up 4, wrap left 3, wrap down 8; diagonals 5 and (1,-1) = 9 */
    assert_true(has_bond(sq, 0, 0, 1) && has_bond(sq, 0, 0, 4));
    assert_true(has_bond(sq, 0, 0, 3) && has_bond(sq, 0, 0, 8));
    assert_true(has_bond(sq, 1, 0, 5) && has_bond(sq, 1, 0, 9));
    assert_false(has_bond(sq, 0, 0, 5));
    nqs_lattice_free(sq);
    struct nqs_lattice *tri = make(NQS_LATTICE_TRIANGULAR, 4, 4, 1, 1);
    /* (1,1) = 5: neighbours (2,1)=6, (1,2)=9, (2,0)=2, (0,1)=4, (1,0)=1, (0,2)=8 */
    int nb[] = {6, 9, 2, 4, 1, 8};
    for (int k = 0; k < 6; k++) assert_true(has_bond(tri, 0, 5, nb[k]));
    assert_false(has_bond(tri, 0, 5, 0)); /* (0,0) is a next-nearest neighbour */
    assert_true(has_bond(tri, 1, 5, 0));
    nqs_lattice_free(tri);
}

/* Closure, identity, inverse and bond preservation of the translation group. */
static void check_group(const struct nqs_lattice *lat)
{
    int N = lat->n_sites, G = lat->n_trans;
    for (int i = 0; i < N; i++) assert_int_equal(lat->trans[i], i);
    for (int a = 0; a < G; a++) {
        const int *ta = lat->trans + a * N;
        const int *tinv = lat->trans + lat->trans_inv[a] * N;
        for (int i = 0; i < N; i++) assert_int_equal(tinv[ta[i]], i);
        for (int b = 0; b < G; b++) {
            const int *tb = lat->trans + b * N;
            int found = 0;
            for (int c = 0; c < G && !found; c++) {
                const int *tc = lat->trans + c * N;
                int same = 1;
                for (int i = 0; i < N && same; i++) same = tc[i] == ta[tb[i]];
                found = same;
            }
            assert_true(found);
        }
        for (int b = 0; b < lat->n_bonds; b++)
            if (lat->periodic[0] && (lat->dim == 1 || lat->periodic[1]))
                assert_true(has_bond(lat, lat->bonds[b].order, ta[lat->bonds[b].i], ta[lat->bonds[b].j]));
    }
}

static void test_lattice_translation_group(void **state)
{
    (void)state;
    struct nqs_lattice *lats[] = {
        make(NQS_LATTICE_CHAIN, 7, 1, 1, 0),      make(NQS_LATTICE_SQUARE, 4, 3, 1, 1),
        make(NQS_LATTICE_TRIANGULAR, 3, 4, 1, 1), make(NQS_LATTICE_SQUARE, 4, 3, 1, 0),
        make(NQS_LATTICE_CHAIN, 6, 1, 0, 0),
    };
    int expect_g[] = {7, 12, 12, 4, 1};
    for (int k = 0; k < 5; k++) {
        assert_int_equal(lats[k]->n_trans, expect_g[k]);
        assert_int_equal(lats[k]->fully_periodic, expect_g[k] == lats[k]->n_sites);
        check_group(lats[k]);
        nqs_lattice_free(lats[k]);
    }
}

static void test_lattice_sublattices(void **state)
{
    (void)state;
    struct nqs_lattice *sq = make(NQS_LATTICE_SQUARE, 4, 4, 1, 1);
    assert_true(sq->bipartite);
    int n_a = 0;
    for (int i = 0; i < 16; i++) {
        n_a += sq->sublattice[i] == 0;
        /* checkerboard: (x + y) parity */
        assert_int_equal(sq->sublattice[i], sq->sublattice[0] ^ ((i % 4 + i / 4) & 1));
    }
    assert_int_equal(n_a, 8);
    for (int b = 0; b < sq->n_bonds_order[0]; b++)
        assert_int_not_equal(sq->sublattice[sq->bonds[b].i], sq->sublattice[sq->bonds[b].j]);
    nqs_lattice_free(sq);
    struct nqs_lattice *odd = make(NQS_LATTICE_CHAIN, 7, 1, 1, 0);
    assert_false(odd->bipartite);
    assert_null(odd->sublattice);
    nqs_lattice_free(odd);
    struct nqs_lattice *oddopen = make(NQS_LATTICE_CHAIN, 7, 1, 0, 0);
    assert_true(oddopen->bipartite);
    nqs_lattice_free(oddopen);
    struct nqs_lattice *tri = make(NQS_LATTICE_TRIANGULAR, 3, 3, 1, 1);
    assert_false(tri->bipartite);
    nqs_lattice_free(tri);
}

static void test_lattice_rejects_impossible(void **state)
{
    (void)state;
    int ext0[2] = {0, 4}, per[2] = {1, 1};
    assert_null(nqs_lattice_alloc(NQS_LATTICE_SQUARE, ext0, per));
    assert_non_null(strstr(nqs_last_error(), "extent 0"));
    int ext1[2] = {1, 1};
    assert_null(nqs_lattice_alloc(NQS_LATTICE_CHAIN, ext1, per));
    assert_non_null(strstr(nqs_last_error(), "accepted"));
    int open1[2] = {0, 0};
    assert_null(nqs_lattice_alloc(NQS_LATTICE_CHAIN, ext1, open1)); /* one site */
    assert_null(nqs_lattice_alloc((enum nqs_lattice_kind)7, ext1, per));
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_lattice_couplings_file(void **state)
{
    (void)state;
    char path[] = "/tmp/nqs_couplings_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct nqs_lattice *lat = make(NQS_LATTICE_CHAIN, 5, 1, 1, 0);
    write_file(path, "# ring with one weak link\n0 1 1.5\n1 2 0.25\n\n2 3 -1\n3 4 2 # comment\n4 0 0.5\n");
    assert_int_equal(nqs_lattice_load_couplings(lat, path), NQS_OK);
    assert_true(lat->custom_couplings);
    assert_int_equal(lat->n_bonds_order[0], 5);
    assert_int_equal(lat->n_bonds_order[1], 5); /* next-nearest bonds kept */
    assert_true(nqs_lattice_is_disordered(lat));
    assert_int_equal(lat->bonds[3].i, 2); /* sorted: (0,1) (0,4) (1,2) (2,3) (3,4) */
    assert_int_equal(lat->bonds[1].j, 4);
    assert_close(lat->bonds[1].w, 0.5, 0);
    assert_close(lat->bonds[3].w, -1.0, 0);
    nqs_lattice_free(lat);

    struct {
        const char *text, *needle;
    } bad[] = {
        {"0 1 1.0\n1 2 x\n", ":2: expected"},
        {"0 1 1.0\n0 9 1.0\n", ":2: bond (0, 9) is impossible"},
        {"0 0 1.0\n", ":1: bond (0, 0)"},
        {"0 1 1.0\n1 0 2.0\n", "listed twice"},
        {"# nothing\n", "no bonds"},
        {"0 1 1.0 7\n", ":1: expected"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        lat = make(NQS_LATTICE_CHAIN, 5, 1, 1, 0);
        write_file(path, bad[k].text);
        assert_int_equal(nqs_lattice_load_couplings(lat, path), NQS_EINVAL);
        assert_non_null(strstr(nqs_last_error(), bad[k].needle));
        assert_non_null(strstr(nqs_last_error(), path));
        nqs_lattice_free(lat);
    }
    unlink(path);
    lat = make(NQS_LATTICE_CHAIN, 5, 1, 1, 0);
    assert_int_equal(nqs_lattice_load_couplings(lat, "/nonexistent/couplings.txt"), NQS_EIO);
    assert_non_null(strstr(nqs_last_error(), "/nonexistent/couplings.txt"));
    nqs_lattice_free(lat);
}

static void test_lattice_disorder_reproducible(void **state)
{
    (void)state;
    struct nqs_lattice *a = make(NQS_LATTICE_CHAIN, 12, 1, 1, 0);
    struct nqs_lattice *b = make(NQS_LATTICE_CHAIN, 12, 1, 1, 0);
    assert_int_equal(nqs_lattice_disorder_uniform(a, 0.5, 1.5, 42), NQS_OK);
    assert_int_equal(nqs_lattice_disorder_uniform(b, 0.5, 1.5, 42), NQS_OK);
    double sum = 0;
    for (int k = 0; k < 12; k++) {
        assert_close(a->bonds[k].w, b->bonds[k].w, 0);
        assert_true(a->bonds[k].w >= 0.5 && a->bonds[k].w <= 1.5);
        sum += a->bonds[k].w;
    }
    assert_true(sum > 6 && sum < 18);
    assert_true(nqs_lattice_is_disordered(a));
    assert_close(a->bonds[12].w, 1.0, 0); /* next-nearest untouched */
    assert_int_equal(nqs_lattice_disorder_uniform(b, 2.0, 1.0, 1), NQS_EINVAL);
    nqs_lattice_free(a);
    nqs_lattice_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lattice_bond_counts),
        cmocka_unit_test(test_lattice_numbering),
        cmocka_unit_test(test_lattice_translation_group),
        cmocka_unit_test(test_lattice_sublattices),
        cmocka_unit_test(test_lattice_rejects_impossible),
        cmocka_unit_test(test_lattice_couplings_file),
        cmocka_unit_test(test_lattice_disorder_reproducible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
