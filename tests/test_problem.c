/*
 * test_problem.c - the problem builder's input handling: lattices from
 * [lattice] (bond counts checked by hand), impossible lattices and key
 * combinations with their messages, couplings files resolved relative to the
 * input file, uniform disorder against an independent GSL mt19937 stream, the
 * unknown-Hamiltonian message, and the model options read for a twin through a
 * test-only model (not in the registry).
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
#include <gsl/gsl_rng.h>

#include "error.h"
#include "nqs_test.h"
#include "problem.h"

static void assert_msg(const char *sub)
{
    if (!strstr(nqs_last_error(), sub)) {
        fprintf(stderr, "message '%s' lacks '%s'\n", nqs_last_error(), sub);
        fail();
    }
}

static struct nqs_config *parse(const char *text)
{
    struct nqs_config *c = nqs_config_alloc();
    assert_non_null(c);
    assert_int_equal(nqs_config_read_string(c, text, "t.ini"), NQS_OK);
    return c;
}

/* Weight of the nearest-neighbour bond (i, j), i < j; NAN if absent. */
static double bond_w(const struct nqs_lattice *lat, int i, int j)
{
    for (int b = 0; b < lat->n_bonds_order[0]; b++)
        if (lat->bonds[b].i == i && lat->bonds[b].j == j) return lat->bonds[b].w;
    return NAN;
}

static void test_problem_lattice_square_mixed_boundary(void **state)
{
    (void)state;
    struct nqs_config *c = parse("[lattice]\ntype = square\nextent = 3, 4\n"
                                 "boundary = open, periodic\n");
    struct nqs_lattice *lat;
    assert_int_equal(nqs_problem_lattice(c, &lat), NQS_OK);
    assert_int_equal(lat->kind, NQS_LATTICE_SQUARE);
    assert_int_equal(lat->n_sites, 12);
    assert_int_equal(lat->extent[0], 3);
    assert_int_equal(lat->extent[1], 4);
    assert_int_equal(lat->periodic[0], 0);
    assert_int_equal(lat->periodic[1], 1);
    /* By hand: x bonds (open) 2 per row x 4 rows = 8, y bonds (periodic) 3 x 4 = 12. */
    assert_int_equal(lat->n_bonds_order[0], 20);
    assert_int_equal(lat->n_trans, 4); /* translations along y only */
    assert_int_equal(lat->custom_couplings, 0);
    nqs_lattice_free(lat);
    nqs_config_free(c);
}

static void test_problem_lattice_one_boundary_for_all(void **state)
{
    (void)state;
    struct nqs_config *c = parse("[lattice]\ntype = triangular\nextent = 3,3\nboundary = open\n");
    struct nqs_lattice *lat;
    assert_int_equal(nqs_problem_lattice(c, &lat), NQS_OK);
    assert_int_equal(lat->periodic[0], 0);
    assert_int_equal(lat->periodic[1], 0);
    /* Open 3x3 triangular: (1,0) 2x3 = 6, (0,1) 3x2 = 6, (1,-1) 2x2 = 4. */
    assert_int_equal(lat->n_bonds_order[0], 16);
    nqs_lattice_free(lat);
    nqs_config_free(c);
    /* Default boundary: periodic; a chain of 8 has 8 nearest bonds. */
    c = parse("[lattice]\ntype = chain\nextent = 8\n");
    assert_int_equal(nqs_problem_lattice(c, &lat), NQS_OK);
    assert_int_equal(lat->periodic[0], 1);
    assert_int_equal(lat->n_bonds_order[0], 8);
    nqs_lattice_free(lat);
    nqs_config_free(c);
}

static void test_problem_lattice_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *msg;
    } rows[] = {
        {"[lattice]\ntype = chain\nextent = 4,4\n",
         "t.ini:3: [lattice] extent: a chain lattice needs 1 extent, got 2 (accepted: L)"},
        {"[lattice]\ntype = square\nextent = 4\n",
         "t.ini:3: [lattice] extent: a square lattice needs 2 extents, got 1 (accepted: Lx,Ly)"},
        {"[lattice]\ntype = square\nextent = 4,4\nboundary = open,open,open\n",
         "t.ini:4: [lattice] boundary: 3 entries for a 2-dimensional square lattice"},
        {"[lattice]\ntype = chain\nextent = 4\nboundary = periodc\n",
         "t.ini:4: [lattice] boundary: 'periodc' is not a boundary condition"},
        {"[lattice]\ntype = chain\nextent = 1\n",
         "t.ini:3: [lattice] extent: chain lattice: extent 1 in direction 1 is impossible"},
        {"[lattice]\ntype = chain\nextent = 0\n", "t.ini:3: [lattice] extent: entry 1 ('0')"},
        {"[lattice]\ntype = kagome\nextent = 4\n",
         "t.ini:2: [lattice] type: 'kagome' is not one of the choices (accepted: "
         "chain|square|triangular)"},
        {"[lattice]\ntype = chain\nextent = 4\nperiodic = yes\n",
         "t.ini:4: [lattice] periodic: unknown key (accepted: type, extent, boundary)"},
        {"[lattice]\ntype = chain\nextent = 4\n[hamiltonian]\ncouplings = c.txt\n"
         "disorder = uniform\ndisorder_min = 0\ndisorder_max = 1\n",
         "t.ini:6: [hamiltonian] disorder: cannot be combined with 'couplings'"},
        {"[lattice]\ntype = chain\nextent = 4\n[hamiltonian]\ndisorder_min = 0.5\n",
         "t.ini:5: [hamiltonian] disorder_min: only used with disorder = uniform"},
        {"[lattice]\ntype = chain\nextent = 4\n[hamiltonian]\ndisorder = uniform\n"
         "disorder_min = 0.5\n",
         "t.ini: [hamiltonian] disorder_max: required with disorder = uniform"},
        {"[lattice]\ntype = chain\nextent = 4\n[hamiltonian]\ndisorder = uniform\n"
         "disorder_min = 0.5\ndisorder_max = 0.25\n",
         "t.ini:7: [hamiltonian] disorder_max: 0.25 is below disorder_min = 0.5"},
    };
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        struct nqs_config *c = parse(rows[k].text);
        static struct nqs_lattice dummy;
        struct nqs_lattice *lat = &dummy; /* must be reset to NULL */
        assert_int_equal(nqs_problem_lattice(c, &lat), NQS_EINVAL);
        assert_null(lat);
        assert_msg(rows[k].msg);
        nqs_config_free(c);
    }
}

/* Write `text` to dir/name; return the path in `path`. */
static void write_file(const char *dir, const char *name, const char *text, char *path,
                       size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_problem_couplings_relative_to_input(void **state)
{
    (void)state;
    char dir[] = "/tmp/nqs_test_problem_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cpath[256], bpath[256], ipath[256], ipath2[256];
    write_file(dir, "c.txt", "# ring of 4\n0 1 0.5\n\n1 2 -0.25  # comment\n2 3 1.5\n3 0 2\n",
               cpath, sizeof cpath);
    write_file(dir, "bad.txt", "0 1 0.5\n1 2\n", bpath, sizeof bpath);
    write_file(dir, "in.ini", "[lattice]\ntype = chain\nextent = 4\n[hamiltonian]\n"
               "couplings = c.txt\n", ipath, sizeof ipath);
    write_file(dir, "bad.ini", "[lattice]\ntype = chain\nextent = 4\n[hamiltonian]\n"
               "couplings = bad.txt\n", ipath2, sizeof ipath2);

    /* The test runs in the build directory, not in `dir`: c.txt is found only
     * relative to the input file. */
    struct nqs_config *c = nqs_config_alloc();
    struct nqs_lattice *lat;
    assert_int_equal(nqs_config_read_file(c, ipath), NQS_OK);
    assert_int_equal(nqs_problem_lattice(c, &lat), NQS_OK);
    assert_int_equal(lat->custom_couplings, 1);
    assert_int_equal(lat->n_bonds_order[0], 4);
    assert_close(bond_w(lat, 0, 1), 0.5, 0.0);
    assert_close(bond_w(lat, 1, 2), -0.25, 0.0);
    assert_close(bond_w(lat, 2, 3), 1.5, 0.0);
    assert_close(bond_w(lat, 0, 3), 2.0, 0.0);
    nqs_lattice_free(lat);
    nqs_config_free(c);

    /* A bad line: the message names the couplings file and its line. */
    c = nqs_config_alloc();
    assert_int_equal(nqs_config_read_file(c, ipath2), NQS_OK);
    assert_int_equal(nqs_problem_lattice(c, &lat), NQS_EINVAL);
    char want[300];
    snprintf(want, sizeof want, "%s:2:", bpath);
    assert_msg(want);
    nqs_config_free(c);

    /* --set paths are taken as given (relative to the working directory). */
    c = nqs_config_alloc();
    assert_int_equal(nqs_config_read_file(c, ipath), NQS_OK);
    assert_int_equal(nqs_config_set(c, "hamiltonian.couplings=c.txt"), NQS_OK);
    assert_int_equal(nqs_problem_lattice(c, &lat), NQS_EIO);
    assert_msg("c.txt: cannot open couplings file");
    char set[300];
    snprintf(set, sizeof set, "hamiltonian.couplings=%s", cpath);
    assert_int_equal(nqs_config_set(c, set), NQS_OK);
    assert_int_equal(nqs_problem_lattice(c, &lat), NQS_OK);
    assert_close(bond_w(lat, 0, 3), 2.0, 0.0);
    nqs_lattice_free(lat);
    nqs_config_free(c);

    unlink(cpath);
    unlink(bpath);
    unlink(ipath);
    unlink(ipath2);
    rmdir(dir);
}

static void test_problem_disorder_matches_gsl_stream(void **state)
{
    (void)state;
    const double lo = 0.5, hi = 1.5;
    struct nqs_config *c = parse("[lattice]\ntype = chain\nextent = 6\n[hamiltonian]\n"
                                 "disorder = uniform\ndisorder_min = 0.5\ndisorder_max = 1.5\n"
                                 "disorder_seed = 7\n");
    struct nqs_lattice *lat;
    assert_int_equal(nqs_problem_lattice(c, &lat), NQS_OK);
    assert_int_equal(lat->custom_couplings, 1);
    assert_true(nqs_lattice_is_disordered(lat));
    /* Independent stream: mt19937 seeded with disorder_seed, one uniform draw
     * per nearest-neighbour bond in bond order. Same arithmetic, so exact. */
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 7);
    for (int b = 0; b < lat->n_bonds_order[0]; b++) {
        double w = lo + (hi - lo) * gsl_rng_uniform(rng);
        assert_close(lat->bonds[b].w, w, 0.0);
        assert_true(lat->bonds[b].w >= lo && lat->bonds[b].w <= hi);
    }
    gsl_rng_free(rng);
    /* Next-nearest bonds keep weight 1. */
    for (int b = lat->n_bonds_order[0]; b < lat->n_bonds; b++)
        assert_close(lat->bonds[b].w, 1.0, 0.0);
    nqs_lattice_free(lat);

    /* Another seed gives other couplings. */
    assert_int_equal(nqs_config_set(c, "hamiltonian.disorder_seed=8"), NQS_OK);
    struct nqs_lattice *lat8;
    assert_int_equal(nqs_problem_lattice(c, &lat8), NQS_OK);
    rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 7);
    assert_true(lat8->bonds[0].w != lo + (hi - lo) * gsl_rng_uniform(rng));
    gsl_rng_free(rng);
    nqs_lattice_free(lat8);
    nqs_config_free(c);
}

/* rbm_symm's default group = auto, resolved by the problem builder: the space
 * group on the periodic 4x4 Heisenberg lattice (16 translations x C4v = 128
 * elements, counted by hand), the translations when a coupling that breaks
 * the point group is given (disorder), when a sector is asked for, or when it
 * is named. On the 4x2 torus the point group is C2v, whose y reflection
 * (y -> -y mod 2) is the identity permutation and the 180-degree rotation the
 * x reflection: 8 translations x 2 distinct permutations = 16 elements. */
static const char *problem_group_of(const char *text, int *order)
{
    struct nqs_config *c = parse(text);
    struct nqs_problem *p = NULL;
    assert_int_equal(nqs_problem_build(c, NQS_PROBLEM_MODEL, &p), NQS_OK);
    static char desc[96];
    snprintf(desc, sizeof desc, "%s", p->model->group_desc);
    const char *bar = strstr(desc, "|G| = ");
    *order = bar ? atoi(bar + 6) : -1;
    nqs_problem_free(p);
    nqs_config_free(c);
    return desc;
}

static void test_problem_auto_group(void **state)
{
    (void)state;
    const char *sq = "[lattice]\ntype = square\nextent = 4,4\n[hamiltonian]\ntype = heisenberg\n"
                     "[model]\ntype = rbm_symm\n";
    int order = 0;
    char text[512];
    assert_non_null(strstr(problem_group_of(sq, &order), "space group"));
    assert_int_equal(order, 128);
    snprintf(text, sizeof text, "%s", "[lattice]\ntype = square\nextent = 4,2\n"
             "[hamiltonian]\ntype = heisenberg\n[model]\ntype = rbm_symm\n");
    assert_non_null(strstr(problem_group_of(text, &order), "space group"));
    assert_int_equal(order, 16);
    snprintf(text, sizeof text, "%s", "[lattice]\ntype = square\nextent = 4,4\n"
             "[hamiltonian]\ntype = heisenberg\ndisorder = uniform\ndisorder_min = 0.5\n"
             "disorder_max = 1.5\n[model]\ntype = rbm_symm\n");
    assert_non_null(strstr(problem_group_of(text, &order), "translations"));
    assert_int_equal(order, 16);
    snprintf(text, sizeof text, "%s[symmetry]\nmomentum = 0,0\n", sq);
    assert_non_null(strstr(problem_group_of(text, &order), "translations"));
    snprintf(text, sizeof text, "%sgroup = translations\n", sq);
    assert_non_null(strstr(problem_group_of(text, &order), "translations"));
}

static void test_problem_unknown_hamiltonian(void **state)
{
    (void)state;
    struct nqs_config *c = parse("[lattice]\ntype = chain\nextent = 4\n\n[hamiltonian]\n"
                                 "type = nosuch\n");
    static struct nqs_problem dummy;
    struct nqs_problem *p = &dummy;
    assert_int_equal(nqs_problem_build(c, NQS_PROBLEM_MODEL, &p), NQS_EINVAL);
    assert_null(p);
    assert_msg("t.ini:6: [hamiltonian] type: unknown Hamiltonian 'nosuch' (accepted: ");
    for (int k = 0; nqs_ham_registry[k]; k++) assert_msg(nqs_ham_registry[k]->name);
    nqs_config_free(c);

    c = parse("[lattice]\ntype = chain\nextent = 4\n");
    assert_int_equal(nqs_problem_build(c, 0, &p), NQS_EINVAL);
    assert_msg("t.ini: [hamiltonian] type: required key is missing");
    nqs_config_free(c);
}

/* ---- a test-only model (not registered): n_par = alpha * n_sites + 1 ---- */

static const struct nqs_opt_def toy_options[] = {
    {"alpha", NQS_OPT_INT, "1", "feature maps", NULL, 1, 4},
};

static int toy_alloc(struct nqs_model *m, const struct nqs_lattice *lat,
                     const struct nqs_opt_val *opt)
{
    m->n_par = (int)opt[0].i * lat->n_sites + 1;
    m->par = calloc((size_t)m->n_par, sizeof *m->par);
    if (!m->par) NQS_ERROR(NQS_ENOMEM, "toy: out of memory");
    m->state = m->par;
    m->cache_size = 8;
    m->n_hidden = (int)opt[0].i * lat->n_sites;
    return NQS_OK;
}

static void toy_free(void *s) { free(s); }

static const struct nqs_model_ops toy_ops = {
    .name = "toy", .summary = "test only", .shared = 0, .twin = NULL,
    .options = toy_options, .n_options = 1, .alloc = toy_alloc, .free = toy_free,
};

static void test_problem_model_alloc_reads_model_options(void **state)
{
    (void)state;
    struct nqs_config *c = parse("[lattice]\ntype = chain\nextent = 6\n[model]\nalpha = 3\n");
    struct nqs_lattice *lat;
    assert_int_equal(nqs_problem_lattice(c, &lat), NQS_OK);
    struct nqs_model *m = nqs_problem_model_alloc(c, &toy_ops, lat);
    assert_non_null(m);
    assert_int_equal(m->n_par, 3 * 6 + 1);
    assert_int_equal(m->n_hidden, 18);
    nqs_model_free(m);
    const char *model_only[] = {"model", NULL};
    assert_int_equal(nqs_config_check_unused_sections(c, model_only), NQS_OK);

    assert_int_equal(nqs_config_set(c, "model.alpha=5"), NQS_OK);
    assert_null(nqs_problem_model_alloc(c, &toy_ops, lat));
    assert_msg("--set: [model] alpha: 5 is outside [1, 4]");

    assert_int_equal(nqs_config_set(c, "model.alpha=2"), NQS_OK);
    assert_int_equal(nqs_config_set(c, "model.beta=2"), NQS_OK);
    m = nqs_problem_model_alloc(c, &toy_ops, lat);
    assert_non_null(m);
    assert_int_equal(m->n_par, 13);
    nqs_model_free(m);
    assert_int_equal(nqs_config_check_unused_sections(c, model_only), NQS_EINVAL);
    assert_msg("--set: [model] beta: unknown key (accepted: alpha)");
    nqs_lattice_free(lat);
    nqs_config_free(c);
}

static void test_problem_help_lists_core_keys(void **state)
{
    (void)state;
    static char buf[1 << 17];
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    assert_non_null(f);
    nqs_problem_print_help(f);
    fclose(f);
    const char *keys[] = {"[lattice]", "[hamiltonian]", "[model]", "extent", "boundary",
                          "couplings", "disorder_seed", "reference_energy", "init_std"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        assert_non_null(strstr(buf, keys[k]));
    for (int k = 0; nqs_ham_registry[k]; k++)
        assert_non_null(strstr(buf, nqs_ham_registry[k]->name));
    for (int k = 0; nqs_model_registry[k]; k++)
        assert_non_null(strstr(buf, nqs_model_registry[k]->name));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_problem_lattice_square_mixed_boundary),
        cmocka_unit_test(test_problem_lattice_one_boundary_for_all),
        cmocka_unit_test(test_problem_lattice_errors),
        cmocka_unit_test(test_problem_couplings_relative_to_input),
        cmocka_unit_test(test_problem_disorder_matches_gsl_stream),
        cmocka_unit_test(test_problem_unknown_hamiltonian),
        cmocka_unit_test(test_problem_auto_group),
        cmocka_unit_test(test_problem_model_alloc_reads_model_options),
        cmocka_unit_test(test_problem_help_lists_core_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
