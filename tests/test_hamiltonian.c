/*
 * test_hamiltonian.c - the Hamiltonian families in hamiltonians/:
 * hermiticity of `connected` and sigma^z conservation on random
 * configurations of several lattices for every registered family, matrix
 * elements of small configurations computed by hand (in the comments), the
 * Marshall sign rotation, custom couplings and the error paths.
 */
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
#include "hamiltonian.h"
#include "lattice.h"
#include "nqs_test.h"
#include "ham_test_util.h"

/* Non-trivial couplings used throughout (deterministic, not round numbers). */
static const char *const util_set[] = {"J=0.7313", "h=1.37", "delta=0.37", "J2=0.4142", NULL};

/* Elements are compared to 1e-14 relative: each is one stored coupling (or a
 * sum of at most two for merged pairs) read twice, so they agree to rounding. */
#define MEL_TOL 1e-14

static int sum_s(const int8_t *s, int n)
{
    int m = 0;
    for (int i = 0; i < n; i++) m += s[i];
    return m;
}

/* Sorted flipped sites of element k, second entry -1 for single flips. */
static void elem_sites(const struct nqs_conn *c, int k, int *a, int *b)
{
    int x = c->site[k][0], y = c->n_flip[k] == 2 ? c->site[k][1] : -1;
    if (y >= 0 && y < x) {
        int t = x;
        x = y;
        y = t;
    }
    *a = x;
    *b = y;
}

/* Index of the element of c with the same flipped sites, or -1. */
static int find_elem(const struct nqs_conn *c, int a, int b)
{
    for (int k = 0; k < c->n; k++) {
        int x, y;
        elem_sites(c, k, &x, &y);
        if (x == a && y == b) return k;
    }
    return -1;
}

struct lat_case {
    const char *name;
    enum nqs_lattice_kind kind;
    int lx, ly, px, py;
    int disorder; /* uniform couplings in [0.3, 1.7] */
};

static const struct lat_case lat_cases[] = {
    {"chain 8 periodic", NQS_LATTICE_CHAIN, 8, 1, 1, 0, 0},
    {"chain 7 open", NQS_LATTICE_CHAIN, 7, 1, 0, 0, 0},
    {"chain 3 periodic (nn = nnn pairs)", NQS_LATTICE_CHAIN, 3, 1, 1, 0, 0},
    {"square 4x4 periodic", NQS_LATTICE_SQUARE, 4, 4, 1, 1, 0},
    {"square 3x3 periodic", NQS_LATTICE_SQUARE, 3, 3, 1, 1, 0},
    {"square 3x2 open", NQS_LATTICE_SQUARE, 3, 2, 0, 0, 0},
    {"triangular 3x3 periodic", NQS_LATTICE_TRIANGULAR, 3, 3, 1, 1, 0},
    {"triangular 4x3 periodic,open", NQS_LATTICE_TRIANGULAR, 4, 3, 1, 0, 0},
    {"chain 10 periodic, disordered", NQS_LATTICE_CHAIN, 10, 1, 1, 0, 1},
    {"square 4x4 periodic, disordered", NQS_LATTICE_SQUARE, 4, 4, 1, 1, 1},
};
#define N_LAT_CASES ((int)(sizeof lat_cases / sizeof lat_cases[0]))

static struct nqs_lattice *case_lattice(const struct lat_case *lc)
{
    struct nqs_lattice *lat = util_lattice(lc->kind, lc->lx, lc->ly, lc->px, lc->py);
    if (lc->disorder) assert_int_equal(nqs_lattice_disorder_uniform(lat, 0.3, 1.7, 11), NQS_OK);
    return lat;
}

/* For every family and lattice, on 40 random configurations: each element
 * is well formed, listed once, and H_{s's} = H_{ss'} (s is found among the
 * elements of s' with the same value); families with conserves_sz flip
 * exactly one antiparallel pair, so sum_i s_i is unchanged. */
static void test_ham_connected_is_hermitian(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 20240611);
    for (int f = 0; nqs_ham_registry[f]; f++)
        for (int l = 0; l < N_LAT_CASES; l++) {
            struct nqs_lattice *lat = case_lattice(&lat_cases[l]);
            struct nqs_ham *h = util_ham(nqs_ham_registry[f]->name, lat, util_set);
            struct nqs_conn *c = nqs_conn_alloc(h), *c2 = nqs_conn_alloc(h);
            assert_non_null(c);
            assert_non_null(c2);
            int N = lat->n_sites, checked = 0;
            int8_t s[64], s2[64];
            for (int rep = 0; rep < 40; rep++) {
                for (int i = 0; i < N; i++) s[i] = gsl_rng_uniform_int(rng, 2) ? 1 : -1;
                h->ops->connected(h, s, c);
                assert_true(c->n >= 0 && c->n <= h->max_conn);
                for (int k = 0; k < c->n; k++) {
                    int a, b;
                    elem_sites(c, k, &a, &b);
                    assert_true(c->n_flip[k] == 1 || c->n_flip[k] == 2);
                    assert_true(a >= 0 && a < N && b < N && a != b);
                    assert_true(c->mel[k] != 0.0);
                    assert_int_equal(find_elem(c, a, b), k); /* listed once */
                    memcpy(s2, s, (size_t)N);
                    s2[a] = (int8_t)-s2[a];
                    if (b >= 0) s2[b] = (int8_t)-s2[b];
                    if (h->conserves_sz) {
                        assert_int_equal(c->n_flip[k], 2);
                        assert_int_equal(s[a] * s[b], -1);
                        assert_int_equal(sum_s(s2, N), sum_s(s, N));
                    }
                    h->ops->connected(h, s2, c2);
                    int back = find_elem(c2, a, b);
                    if (back < 0)
                        fail_msg("%s on %s: s' has no element back to s", h->ops->name,
                                 lat_cases[l].name);
                    assert_rel_close(c2->mel[back], c->mel[k], MEL_TOL);
                    checked++;
                }
            }
            assert_true(checked > 0);
            nqs_conn_free(c);
            nqs_conn_free(c2);
            nqs_ham_free(h);
            nqs_lattice_free(lat);
        }
    gsl_rng_free(rng);
}

static void test_ham_registry_lookup(void **state)
{
    (void)state;
    const char *names[] = {"ising", "heisenberg", "xxz", "j1j2"};
    for (int k = 0; k < 4; k++) {
        const struct nqs_ham_ops *ops = nqs_ham_find(names[k]);
        assert_non_null(ops);
        assert_string_equal(ops->name, names[k]);
    }
    assert_null(nqs_ham_find("hubbard"));
    assert_non_null(strstr(nqs_last_error(), "hubbard"));
    assert_non_null(strstr(nqs_last_error(), "heisenberg"));
}

/* Heisenberg and XXZ on an open 4-site chain, bonds (0,1) (1,2) (2,3),
 * s = (+1, +1, -1, +1):
 *   sum_b s_i s_j = (+1) + (-1) + (-1) = -1  ->  diag = -J (heisenberg),
 *   -delta J (xxz); antiparallel pairs (1,2) and (2,3) -> elements 2J each,
 *   -2J with the Marshall rotation (both pairs join sublattices A and B). */
static void test_heisenberg_open_chain_by_hand(void **state)
{
    (void)state;
    const double J = 0.7313, delta = 0.37;
    struct nqs_lattice *lat = util_lattice(NQS_LATTICE_CHAIN, 4, 1, 0, 0);
    const int8_t s[4] = {1, 1, -1, 1};
    const char *fam[] = {"heisenberg", "xxz"};
    const double diag[] = {-J, -delta * J};
    for (int f = 0; f < 2; f++)
        for (int m = 0; m < 2; m++) {
            const char *set[] = {"J=0.7313", "delta=0.37",
                                 m ? "marshall_sign=true" : "marshall_sign=false", NULL};
            struct nqs_ham *h = util_ham(fam[f], lat, set);
            assert_int_equal(h->marshall, m);
            assert_int_equal(h->conserves_sz, 1);
            struct nqs_conn *c = nqs_conn_alloc(h);
            h->ops->connected(h, s, c);
            assert_close(c->diag, diag[f], 1e-15);
            assert_int_equal(c->n, 2);
            int k12 = find_elem(c, 1, 2), k23 = find_elem(c, 2, 3);
            assert_true(k12 >= 0 && k23 >= 0);
            double want = m ? -2 * J : 2 * J;
            assert_close(c->mel[k12], want, 1e-15);
            assert_close(c->mel[k23], want, 1e-15);
            nqs_conn_free(c);
            nqs_ham_free(h);
        }
    nqs_lattice_free(lat);
}

/* Ising on the 3-site ring, bonds (0,1) (1,2) (0,2), s = (+1, -1, +1):
 *   sum_b s_i s_j = -1 - 1 + 1 = -1  ->  diag = -J * (-1) = +J,
 *   three single flips with element -h each. With h = 0 none. */
static void test_ising_ring3_by_hand(void **state)
{
    (void)state;
    const double J = 0.7313, h_field = 1.37;
    struct nqs_lattice *lat = util_lattice(NQS_LATTICE_CHAIN, 3, 1, 1, 0);
    const int8_t s[3] = {1, -1, 1};
    struct nqs_ham *h = util_ham("ising", lat, util_set);
    assert_int_equal(h->conserves_sz, 0);
    assert_int_equal(h->marshall, 0);
    struct nqs_conn *c = nqs_conn_alloc(h);
    h->ops->connected(h, s, c);
    assert_close(c->diag, J, 1e-15);
    assert_int_equal(c->n, 3);
    for (int i = 0; i < 3; i++) {
        int k = find_elem(c, i, -1);
        assert_true(k >= 0);
        assert_int_equal(c->n_flip[k], 1);
        assert_close(c->mel[k], -h_field, 1e-15);
    }
    nqs_conn_free(c);
    nqs_ham_free(h);

    const char *zero[] = {"J=0.7313", "h=0", NULL};
    h = util_ham("ising", lat, zero);
    c = nqs_conn_alloc(h);
    h->ops->connected(h, s, c);
    assert_int_equal(c->n, 0);
    assert_close(c->diag, J, 1e-15);
    nqs_conn_free(c);
    nqs_ham_free(h);
    nqs_lattice_free(lat);
}

/* J1-J2 on the 5-site ring (not bipartite: Marshall auto is off),
 * s = (+1, +1, -1, +1, -1).
 *   nn  (0,1) (1,2) (2,3) (3,4) (0,4): products +1 -1 -1 -1 -1 = -3
 *   nnn (0,2) (1,3) (2,4) (0,3) (1,4): products -1 +1 +1 +1 -1 = +1
 *   diag = -3 J + J2; exchanges: nn (1,2) (2,3) (3,4) (0,4) -> 2J,
 *   nnn (0,2) (1,4) -> 2 J2. */
static void test_j1j2_ring5_by_hand(void **state)
{
    (void)state;
    const double J = 0.7313, J2 = 0.4142;
    struct nqs_lattice *lat = util_lattice(NQS_LATTICE_CHAIN, 5, 1, 1, 0);
    const int8_t s[5] = {1, 1, -1, 1, -1};
    struct nqs_ham *h = util_ham("j1j2", lat, util_set);
    assert_int_equal(h->marshall, 0);
    struct nqs_conn *c = nqs_conn_alloc(h);
    h->ops->connected(h, s, c);
    assert_close(c->diag, -3 * J + J2, 1e-15);
    assert_int_equal(c->n, 6);
    const int nn[4][2] = {{1, 2}, {2, 3}, {3, 4}, {0, 4}}, nnn[2][2] = {{0, 2}, {1, 4}};
    for (int k = 0; k < 4; k++) {
        int e = find_elem(c, nn[k][0], nn[k][1]);
        assert_true(e >= 0);
        assert_close(c->mel[e], 2 * J, 1e-15);
    }
    for (int k = 0; k < 2; k++) {
        int e = find_elem(c, nnn[k][0], nnn[k][1]);
        assert_true(e >= 0);
        assert_close(c->mel[e], 2 * J2, 1e-15);
    }
    nqs_conn_free(c);
    nqs_ham_free(h);

    /* J2 = 0 (the default) drops the next-nearest terms: diag = -3J, 4 elements. */
    const char *no_j2[] = {"J=0.7313", NULL};
    h = util_ham("j1j2", lat, no_j2);
    c = nqs_conn_alloc(h);
    h->ops->connected(h, s, c);
    assert_close(c->diag, -3 * J, 1e-15);
    assert_int_equal(c->n, 4);
    nqs_conn_free(c);
    nqs_ham_free(h);
    nqs_lattice_free(lat);
}

/* Marshall rotation: same diagonal and same connected set; the element
 * changes sign exactly when the two sites lie on different sublattices
 * (all nearest-neighbour pairs; next-nearest pairs of the square lattice
 * and the chain join equal sublattices and keep their sign). `auto` equals
 * `true` on bipartite lattices. */
static void test_marshall_flips_intersublattice_sign(void **state)
{
    (void)state;
    struct {
        const char *fam;
        enum nqs_lattice_kind kind;
        int lx, ly, px, py;
    } cases[] = {
        {"heisenberg", NQS_LATTICE_SQUARE, 4, 4, 1, 1}, {"j1j2", NQS_LATTICE_SQUARE, 4, 4, 1, 1},
        {"xxz", NQS_LATTICE_CHAIN, 6, 1, 1, 0},         {"j1j2", NQS_LATTICE_CHAIN, 8, 1, 1, 0},
        {"heisenberg", NQS_LATTICE_CHAIN, 5, 1, 0, 0},
    };
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 5);
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        struct nqs_lattice *lat =
            util_lattice(cases[t].kind, cases[t].lx, cases[t].ly, cases[t].px, cases[t].py);
        assert_true(lat->bipartite);
        const char *off[] = {"J=0.7313", "J2=0.4142", "delta=0.37", "marshall_sign=false", NULL};
        const char *on[] = {"J=0.7313", "J2=0.4142", "delta=0.37", "marshall_sign=true", NULL};
        const char *au[] = {"J=0.7313", "J2=0.4142", "delta=0.37", NULL};
        struct nqs_ham *h0 = util_ham(cases[t].fam, lat, off);
        struct nqs_ham *h1 = util_ham(cases[t].fam, lat, on);
        struct nqs_ham *ha = util_ham(cases[t].fam, lat, au);
        assert_int_equal(h0->marshall, 0);
        assert_int_equal(h1->marshall, 1);
        assert_int_equal(ha->marshall, 1);
        struct nqs_conn *c0 = nqs_conn_alloc(h0), *c1 = nqs_conn_alloc(h1),
                        *ca = nqs_conn_alloc(ha);
        int N = lat->n_sites, same_seen = 0, diff_seen = 0;
        int8_t s[64];
        for (int rep = 0; rep < 30; rep++) {
            for (int i = 0; i < N; i++) s[i] = gsl_rng_uniform_int(rng, 2) ? 1 : -1;
            h0->ops->connected(h0, s, c0);
            h1->ops->connected(h1, s, c1);
            ha->ops->connected(ha, s, ca);
            assert_close(c1->diag, c0->diag, 1e-15);
            assert_close(ca->diag, c0->diag, 1e-15);
            assert_int_equal(c1->n, c0->n);
            assert_int_equal(ca->n, c0->n);
            for (int k = 0; k < c0->n; k++) {
                int a, b;
                elem_sites(c0, k, &a, &b);
                int k1 = find_elem(c1, a, b), ka = find_elem(ca, a, b);
                assert_true(k1 >= 0 && ka >= 0);
                int differ = lat->sublattice[a] != lat->sublattice[b];
                assert_close(c1->mel[k1], differ ? -c0->mel[k] : c0->mel[k], 1e-15);
                assert_close(ca->mel[ka], c1->mel[k1], 1e-15);
                differ ? diff_seen++ : same_seen++;
            }
        }
        assert_true(diff_seen > 0);
        /* j1j2 has next-nearest exchanges inside a sublattice, the others none. */
        if (strcmp(cases[t].fam, "j1j2") == 0)
            assert_true(same_seen > 0);
        else
            assert_int_equal(same_seen, 0);
        nqs_conn_free(c0);
        nqs_conn_free(c1);
        nqs_conn_free(ca);
        nqs_ham_free(h0);
        nqs_ham_free(h1);
        nqs_ham_free(ha);
        nqs_lattice_free(lat);
    }
    gsl_rng_free(rng);
}

/* marshall_sign = true on a lattice that is not bipartite is refused with a
 * message naming the key and the lattice; auto quietly turns it off. */
static void test_marshall_true_on_triangular_is_error(void **state)
{
    (void)state;
    struct nqs_lattice *tri = util_lattice(NQS_LATTICE_TRIANGULAR, 3, 3, 1, 1);
    struct nqs_lattice *ring5 = util_lattice(NQS_LATTICE_CHAIN, 5, 1, 1, 0);
    const char *fam[] = {"heisenberg", "xxz", "j1j2"};
    for (int f = 0; f < 3; f++) {
        const struct nqs_ham_ops *ops = nqs_ham_find(fam[f]);
        struct nqs_opt_val v[16];
        const char *set[] = {"marshall_sign=true", NULL};
        util_opts(ops, v, set);
        nqs_error_clear();
        assert_null(nqs_ham_alloc(ops, f == 1 ? ring5 : tri, v));
        assert_non_null(strstr(nqs_last_error(), "marshall_sign"));
        assert_non_null(strstr(nqs_last_error(), f == 1 ? "chain 5" : "triangular 3x3"));
        assert_non_null(strstr(nqs_last_error(), "bipartite"));
        struct nqs_ham *h = util_ham(fam[f], tri, NULL); /* auto */
        assert_int_equal(h->marshall, 0);
        nqs_ham_free(h);
    }
    /* the status code, through a family's alloc directly */
    struct nqs_ham hh = {0};
    hh.ops = nqs_ham_find("heisenberg");
    hh.lat = tri;
    hh.n_sites = tri->n_sites;
    struct nqs_opt_val v[16];
    const char *set[] = {"marshall_sign=true", NULL};
    util_opts(hh.ops, v, set);
    assert_int_equal(hh.ops->alloc(&hh, tri, v), NQS_EINVAL);
    assert_null(hh.state);
    nqs_lattice_free(tri);
    nqs_lattice_free(ring5);
}

/* Custom couplings replace J * w_b by the absolute J_ij (J is ignored) and
 * may add bonds the lattice lacks. Open 4-chain with couplings
 * (0,1) 0.5, (1,2) -1.25, (2,3) 2.0, (0,3) 0.3 and s = (+1, -1, -1, +1):
 *   sum J_ij s_i s_j = -0.5 - 1.25 - 2.0 + 0.3 = -3.45
 *   heisenberg: diag -3.45, exchanges (0,1) 2*0.5 = 1.0, (2,3) 4.0;
 *   the 4-ring 0-1-2-3 is bipartite, so Marshall gives -1.0, -4.0;
 *   ising: diag +3.45;
 *   j1j2 (J2 = 0.4142, the open chain's nnn bonds (0,2) (1,3), products -1, -1):
 *   diag -3.45 - 2 J2, extra exchanges 2 J2 on (0,2) and (1,3). */
static void test_custom_couplings_are_used(void **state)
{
    (void)state;
    const double J2 = 0.4142;
    struct nqs_lattice *lat = util_lattice(NQS_LATTICE_CHAIN, 4, 1, 0, 0);
    const int bi[] = {0, 1, 2, 0}, bj[] = {1, 2, 3, 3};
    const double bJ[] = {0.5, -1.25, 2.0, 0.3};
    assert_int_equal(nqs_lattice_set_couplings(lat, 4, bi, bj, bJ), NQS_OK);
    const int8_t s[4] = {1, -1, -1, 1};
    const char *set[] = {"J=5", "h=1.37", "J2=0.4142", "marshall_sign=false", NULL};

    struct nqs_ham *h = util_ham("heisenberg", lat, set);
    struct nqs_conn *c = nqs_conn_alloc(h);
    h->ops->connected(h, s, c);
    assert_close(c->diag, -3.45, 1e-14);
    assert_int_equal(c->n, 2);
    assert_close(c->mel[find_elem(c, 0, 1)], 1.0, 1e-15);
    assert_close(c->mel[find_elem(c, 2, 3)], 4.0, 1e-15);
    nqs_conn_free(c);
    nqs_ham_free(h);

    const char *set_m[] = {"J=5", "marshall_sign=true", NULL};
    h = util_ham("heisenberg", lat, set_m);
    c = nqs_conn_alloc(h);
    h->ops->connected(h, s, c);
    assert_close(c->mel[find_elem(c, 0, 1)], -1.0, 1e-15);
    assert_close(c->mel[find_elem(c, 2, 3)], -4.0, 1e-15);
    nqs_conn_free(c);
    nqs_ham_free(h);

    h = util_ham("ising", lat, set);
    c = nqs_conn_alloc(h);
    h->ops->connected(h, s, c);
    assert_close(c->diag, 3.45, 1e-14);
    nqs_conn_free(c);
    nqs_ham_free(h);

    h = util_ham("j1j2", lat, set);
    c = nqs_conn_alloc(h);
    h->ops->connected(h, s, c);
    assert_close(c->diag, -3.45 - 2 * J2, 1e-14);
    assert_int_equal(c->n, 4);
    assert_close(c->mel[find_elem(c, 0, 2)], 2 * J2, 1e-15);
    assert_close(c->mel[find_elem(c, 1, 3)], 2 * J2, 1e-15);
    nqs_conn_free(c);
    nqs_ham_free(h);
    nqs_lattice_free(lat);
}

/* Disordered couplings: the diagonal equals sum_b w_b s_i s_j (heisenberg)
 * and -sum_b w_b s_i s_j (ising) over the lattice's bond weights, computed
 * here from lat->bonds; the plain lattice's J is not applied. */
static void test_disordered_couplings_diagonal(void **state)
{
    (void)state;
    struct nqs_lattice *lat = util_lattice(NQS_LATTICE_SQUARE, 4, 4, 1, 1);
    assert_int_equal(nqs_lattice_disorder_uniform(lat, -0.5, 1.5, 3), NQS_OK);
    assert_true(nqs_lattice_is_disordered(lat));
    struct nqs_ham *hh = util_ham("heisenberg", lat, util_set);
    struct nqs_ham *hi = util_ham("ising", lat, util_set);
    struct nqs_conn *c = nqs_conn_alloc(hh), *ci = nqs_conn_alloc(hi);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 9);
    int8_t s[16];
    for (int rep = 0; rep < 20; rep++) {
        for (int i = 0; i < 16; i++) s[i] = gsl_rng_uniform_int(rng, 2) ? 1 : -1;
        double want = 0;
        for (int b = 0; b < lat->n_bonds_order[0]; b++)
            want += lat->bonds[b].w * s[lat->bonds[b].i] * s[lat->bonds[b].j];
        hh->ops->connected(hh, s, c);
        hi->ops->connected(hi, s, ci);
        assert_close(c->diag, want, 1e-13);
        assert_close(ci->diag, -want, 1e-13);
        for (int k = 0; k < c->n; k++) {
            int a, b, found = 0;
            elem_sites(c, k, &a, &b);
            for (int e = 0; e < lat->n_bonds_order[0]; e++)
                if (lat->bonds[e].i == a && lat->bonds[e].j == b) {
                    int sgn = lat->sublattice[a] != lat->sublattice[b] ? -1 : 1; /* Marshall auto */
                    assert_close(c->mel[k], sgn * 2 * lat->bonds[e].w, 1e-15);
                    found = 1;
                }
            assert_true(found);
        }
    }
    gsl_rng_free(rng);
    nqs_conn_free(c);
    nqs_conn_free(ci);
    nqs_ham_free(hh);
    nqs_ham_free(hi);
    nqs_lattice_free(lat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ham_registry_lookup),
        cmocka_unit_test(test_ham_connected_is_hermitian),
        cmocka_unit_test(test_heisenberg_open_chain_by_hand),
        cmocka_unit_test(test_ising_ring3_by_hand),
        cmocka_unit_test(test_j1j2_ring5_by_hand),
        cmocka_unit_test(test_marshall_flips_intersublattice_sign),
        cmocka_unit_test(test_marshall_true_on_triangular_is_error),
        cmocka_unit_test(test_custom_couplings_are_used),
        cmocka_unit_test(test_disordered_couplings_diagonal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
