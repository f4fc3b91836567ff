/*
 * test_config.c - the INI input layer: every option type with its range and
 * error message, required and unknown keys, unknown sections, duplicates,
 * syntax errors with their line numbers, --set overrides, and the dump of the
 * effective input read back to the same values.
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

#include "config.h"
#include "error.h"
#include "nqs_test.h"

#define N_OF(t) ((int)(sizeof(t) / sizeof((t)[0])))

/* One table with every type; ranges chosen so that both ends are testable. */
static const struct nqs_opt_def defs_all[] = {
    {"h", NQS_OPT_REAL, "0.5", "field", NULL, -2.0, 3.0},
    {"n", NQS_OPT_INT, "4", "count", NULL, 1, 64},
    {"flag", NQS_OPT_BOOL, "false", "switch", NULL, 0, 0},
    {"mode", NQS_OPT_CHOICE, "auto", "solver", "auto|dense|cg", 0, 0},
    {"dims", NQS_OPT_INTLIST, "2,2", "extents", NULL, 1, 100},
    {"path", NQS_OPT_STRING, "out.h5", "file", NULL, 0, 0},
};
enum { I_H, I_N, I_FLAG, I_MODE, I_DIMS, I_PATH };

/* Parse `text` as "t.ini" into a fresh configuration; returns the status. */
static int parse(struct nqs_config **c, const char *text)
{
    *c = nqs_config_alloc();
    assert_non_null(*c);
    return nqs_config_read_string(*c, text, "t.ini");
}

/* The last message contains `sub`. */
static void assert_msg(const char *sub)
{
    if (!strstr(nqs_last_error(), sub)) {
        fprintf(stderr, "message '%s' lacks '%s'\n", nqs_last_error(), sub);
        fail();
    }
}

/* Read [sampler] with defs_all from `text`; expect `rc`, and `sub` in the message. */
static void expect_get(const char *text, int rc, const char *sub)
{
    struct nqs_config *c;
    struct nqs_opt_val v[N_OF(defs_all)];
    assert_int_equal(parse(&c, text), NQS_OK);
    assert_int_equal(nqs_config_get(c, "sampler", defs_all, N_OF(defs_all), v), rc);
    if (sub) assert_msg(sub);
    nqs_config_free(c);
}

static void test_config_reads_every_type(void **state)
{
    (void)state;
    struct nqs_config *c;
    struct nqs_opt_val v[N_OF(defs_all)];
    assert_int_equal(parse(&c, "[sampler]\nh = -1.25e0\nn = 64\nflag = Yes\nmode = CG\n"
                               "dims = 4, 6 ,8\npath = runs/a b.h5\n"),
                     NQS_OK);
    assert_int_equal(nqs_config_get(c, "sampler", defs_all, N_OF(defs_all), v), NQS_OK);
    assert_close(v[I_H].x, -1.25, 0.0);
    assert_int_equal(v[I_N].i, 64);
    assert_close(v[I_N].x, 64.0, 0.0);
    assert_int_equal(v[I_FLAG].i, 1);
    assert_int_equal(v[I_MODE].i, 2);
    assert_string_equal(v[I_MODE].str, "cg"); /* the table's spelling */
    assert_int_equal(v[I_DIMS].n_list, 3);
    assert_int_equal(v[I_DIMS].list[0], 4);
    assert_int_equal(v[I_DIMS].list[1], 6);
    assert_int_equal(v[I_DIMS].list[2], 8);
    assert_string_equal(v[I_PATH].str, "runs/a b.h5");
    for (int k = 0; k < N_OF(defs_all); k++) assert_int_equal(v[k].given, 1);
    assert_int_equal(nqs_config_check_unused(c), NQS_OK);
    nqs_config_free(c);
}

static void test_config_defaults_when_absent(void **state)
{
    (void)state;
    struct nqs_config *c;
    struct nqs_opt_val v[N_OF(defs_all)];
    assert_int_equal(parse(&c, "[sampler]\nn = 1\n"), NQS_OK);
    assert_int_equal(nqs_config_get(c, "sampler", defs_all, N_OF(defs_all), v), NQS_OK);
    assert_int_equal(v[I_N].given, 1);
    assert_int_equal(v[I_H].given, 0);
    assert_close(v[I_H].x, 0.5, 0.0);
    assert_int_equal(v[I_FLAG].i, 0);
    assert_int_equal(v[I_MODE].i, 0);
    assert_int_equal(v[I_DIMS].n_list, 2);
    assert_string_equal(v[I_PATH].str, "out.h5");
    nqs_config_free(c);
}

/* A table indexed by an enum whose member lacks its designated initialiser
 * (options.h "Writing a table") has a hole with no key name: refused as an
 * internal error naming the entry, not read as an unnamed key. */
static void test_config_table_hole_is_internal_error(void **state)
{
    (void)state;
    enum { K_A, K_B, K_N };
    static const struct nqs_opt_def d[K_N] = {
        [K_A] = {"a", NQS_OPT_INT, "1", "", NULL, 0, 0},
    };
    struct nqs_config *c;
    struct nqs_opt_val v[K_N];
    assert_int_equal(parse(&c, "[output]\na = 2\n"), NQS_OK);
    assert_int_equal(nqs_config_get(c, "output", d, K_N, v), NQS_EINTERNAL);
    assert_non_null(strstr(nqs_last_error(), "entry 1 of the [output] option table"));
    nqs_config_free(c);
}

static void test_config_bool_spellings(void **state)
{
    (void)state;
    static const struct nqs_opt_def d[] = {{"b", NQS_OPT_BOOL, NULL, "", NULL, 0, 0}};
    const char *yes[] = {"true", "yes", "on", "1", "TRUE"};
    const char *no[] = {"false", "no", "off", "0", "Off"};
    for (int k = 0; k < 10; k++) {
        char text[64];
        snprintf(text, sizeof text, "[output]\nb = %s\n", k < 5 ? yes[k] : no[k - 5]);
        struct nqs_config *c;
        struct nqs_opt_val v;
        assert_int_equal(parse(&c, text), NQS_OK);
        assert_int_equal(nqs_config_get(c, "output", d, 1, &v), NQS_OK);
        assert_int_equal(v.i, k < 5 ? 1 : 0);
        nqs_config_free(c);
    }
    expect_get("[sampler]\nflag = maybe\n", NQS_EINVAL,
               "t.ini:2: [sampler] flag: 'maybe' is not a boolean (accepted: "
               "true|false|yes|no|on|off|1|0)");
}

static void test_config_real_errors(void **state)
{
    (void)state;
    expect_get("[sampler]\nh = abc\n", NQS_EINVAL,
               "t.ini:2: [sampler] h: 'abc' is not a number (accepted: a finite real number in "
               "[-2, 3])");
    expect_get("[sampler]\nh = 1.5x\n", NQS_EINVAL, "'1.5x' is not a number");
    expect_get("[sampler]\nh = inf\n", NQS_EINVAL, "'inf' is not a finite number");
    expect_get("[sampler]\nh = nan\n", NQS_EINVAL, "'nan' is not a finite number");
    expect_get("[sampler]\nh = 1e999\n", NQS_EINVAL, "'1e999' is not a finite number");
    expect_get("[sampler]\n\nh = 3.0000001\n", NQS_EINVAL,
               "t.ini:3: [sampler] h: 3.0000001 is outside [-2, 3]");
    expect_get("[sampler]\nh = -2.5\n", NQS_EINVAL, "-2.5 is outside [-2, 3]");
    /* Both ends of the closed range are accepted. */
    expect_get("[sampler]\nh = -2\n", NQS_OK, NULL);
    expect_get("[sampler]\nh = 3\n", NQS_OK, NULL);
    expect_get("[sampler]\nh =\n", NQS_EINVAL, "t.ini:2: [sampler] h: empty value");
}

static void test_config_int_errors(void **state)
{
    (void)state;
    expect_get("[sampler]\nn = 2.0\n", NQS_EINVAL,
               "t.ini:2: [sampler] n: '2.0' is not an integer (accepted: an integer in [1, 64])");
    expect_get("[sampler]\nn = 1e3\n", NQS_EINVAL, "'1e3' is not an integer");
    expect_get("[sampler]\nn = 0\n", NQS_EINVAL, "0 is outside [1, 64]");
    expect_get("[sampler]\nn = 65\n", NQS_EINVAL, "65 is outside [1, 64]");
    expect_get("[sampler]\nn = 99999999999999999999999\n", NQS_EINVAL, "is outside [1, 64]");
}

static void test_config_choice_errors(void **state)
{
    (void)state;
    expect_get("[sampler]\nmode = lanczos\n", NQS_EINVAL,
               "t.ini:2: [sampler] mode: 'lanczos' is not one of the choices (accepted: "
               "auto|dense|cg)");
    /* A prefix of a choice is not that choice. */
    expect_get("[sampler]\nmode = den\n", NQS_EINVAL, "'den' is not one of the choices");
}

static void test_config_intlist_errors(void **state)
{
    (void)state;
    expect_get("[sampler]\ndims = 4,,4\n", NQS_EINVAL,
               "t.ini:2: [sampler] dims: '4,,4' is not a comma-separated list of integers "
               "(accepted: 1 to 8 comma-separated integers in [1, 100])");
    expect_get("[sampler]\ndims = 4,x\n", NQS_EINVAL, "is not a comma-separated list");
    expect_get("[sampler]\ndims = 4,101\n", NQS_EINVAL, "entry 2 ('101') is outside [1, 100]");
    expect_get("[sampler]\ndims = 0\n", NQS_EINVAL, "entry 1 ('0') is outside [1, 100]");
    expect_get("[sampler]\ndims = 1,2,3,4,5,6,7,8,9\n", NQS_EINVAL, "has more than 8 entries");
    expect_get("[sampler]\ndims = 1,2,3,4,5,6,7,8\n", NQS_OK, NULL);
}

static void test_config_string_too_long(void **state)
{
    (void)state;
    /* Longer than NQS_OPT_MAXSTR - 1 = 1023 characters: only --set can say that much. */
    char set[1200];
    strcpy(set, "sampler.path=");
    memset(set + strlen(set), 'a', 1030);
    set[13 + 1030] = '\0';
    struct nqs_config *c = nqs_config_alloc();
    struct nqs_opt_val v[N_OF(defs_all)];
    assert_int_equal(nqs_config_set(c, set), NQS_OK);
    assert_int_equal(nqs_config_get(c, "sampler", defs_all, N_OF(defs_all), v), NQS_EINVAL);
    assert_msg("--set: [sampler] path: value too long (1030 characters)");
    nqs_config_free(c);
}

static void test_config_unbounded_and_empty_default(void **state)
{
    (void)state;
    static const struct nqs_opt_def d[] = {
        {"x", NQS_OPT_REAL, "0", "", NULL, 0, 0},    /* no range given: unbounded */
        {"k", NQS_OPT_INT, "0", "", NULL, 5, 1},     /* min > max: unbounded */
        {"e", NQS_OPT_REAL, "", "", NULL, 0, 0},     /* optional, no value */
        {"f", NQS_OPT_REAL, "", "", NULL, 0, 0},     /* given empty: same */
        {"c", NQS_OPT_CHOICE, "", "", "a|b", 0, 0},  /* optional choice */
    };
    struct nqs_config *c;
    struct nqs_opt_val v[N_OF(d)];
    assert_int_equal(parse(&c, "[model]\nx = -1e300\nk = -7\nf =\n"), NQS_OK);
    assert_int_equal(nqs_config_get(c, "model", d, N_OF(d), v), NQS_OK);
    assert_close(v[0].x, -1e300, 0.0);
    assert_int_equal(v[1].i, -7);
    assert_true(isnan(v[2].x));
    assert_string_equal(v[2].str, "");
    assert_int_equal(v[2].given, 0);
    assert_true(isnan(v[3].x));
    assert_int_equal(v[3].given, 1);
    assert_int_equal(v[4].i, -1);
    nqs_config_free(c);
}

static void test_config_missing_required(void **state)
{
    (void)state;
    static const struct nqs_opt_def d[] = {
        {"type", NQS_OPT_CHOICE, NULL, "", "chain|square|triangular", 0, 0},
        {"extent", NQS_OPT_INTLIST, NULL, "", NULL, 1, 4096},
    };
    struct nqs_config *c;
    struct nqs_opt_val v[2];
    assert_int_equal(parse(&c, "[lattice]\ntype = chain\nextnt = 8\n"), NQS_OK);
    assert_int_equal(nqs_config_get(c, "lattice", d, 2, v), NQS_EINVAL);
    /* Names the key, the accepted values, and the misspelt key with its line. */
    assert_msg("t.ini: [lattice] extent: required key is missing (accepted: 1 to 8 "
               "comma-separated integers in [1, 4096]); not recognised: extnt (line 3)");
    nqs_config_free(c);
}

static void test_config_unknown_section(void **state)
{
    (void)state;
    struct nqs_config *c;
    assert_int_equal(parse(&c, "[lattice]\ntype = chain\n\n[sampeler]\nn = 3\n"), NQS_EINVAL);
    assert_msg("t.ini:4: unknown section [sampeler] (accepted: lattice, hamiltonian, symmetry, model, "
               "sampler, optimizer, output, observables)");
    nqs_config_free(c);
    /* An empty unknown section is still reported. */
    assert_int_equal(parse(&c, "[foo]\n"), NQS_EINVAL);
    assert_msg("t.ini:1: unknown section [foo]");
    nqs_config_free(c);
}

static void test_config_unknown_key_lists_accepted(void **state)
{
    (void)state;
    static const struct nqs_opt_def d1[] = {{"a", NQS_OPT_INT, "1", "", NULL, 0, 0}};
    static const struct nqs_opt_def d2[] = {{"b", NQS_OPT_INT, "1", "", NULL, 0, 0},
                                            {"c", NQS_OPT_INT, "1", "", NULL, 0, 0}};
    struct nqs_config *c;
    struct nqs_opt_val v[2];
    assert_int_equal(parse(&c, "[sampler]\na = 2\n; comment\nbb = 3\nc = 4\n[output]\nz = 1\n"),
                     NQS_OK);
    /* Two tables read from one section: the accepted list is their union. */
    assert_int_equal(nqs_config_get(c, "sampler", d1, 1, v), NQS_OK);
    assert_int_equal(nqs_config_get(c, "sampler", d2, 2, v), NQS_OK);
    assert_int_equal(nqs_config_check_unused(c), NQS_EINVAL);
    assert_msg("t.ini:4: [sampler] bb: unknown key (accepted: a, b, c)");
    /* Only [output] checked: [sampler] is not looked at. */
    const char *only_output[] = {"output", NULL};
    assert_int_equal(nqs_config_check_unused_sections(c, only_output), NQS_EINVAL);
    assert_msg("t.ini:7: [output] z: unknown key (no key of [output] is read by this command)");
    const char *only_lattice[] = {"lattice", "model", NULL};
    assert_int_equal(nqs_config_check_unused_sections(c, only_lattice), NQS_OK);
    nqs_config_free(c);
}

static void test_config_duplicate_key(void **state)
{
    (void)state;
    struct nqs_config *c;
    assert_int_equal(parse(&c, "[sampler]\nn = 1\n[output]\nn = 1\n[sampler]\nn = 2\n"),
                     NQS_EINVAL);
    assert_msg("t.ini:6: [sampler] n: duplicate key (first given at line 2)");
    nqs_config_free(c);
}

static void test_config_syntax_errors(void **state)
{
    (void)state;
    struct nqs_config *c;
    assert_int_equal(parse(&c, "[sampler]\nn = 1\n\nthis is not a key\nm = 2\n"), NQS_EINVAL);
    assert_msg("t.ini:4: syntax error: expected '[section]', 'key = value' or a comment, got "
               "'this is not a key'");
    nqs_config_free(c);
    assert_int_equal(parse(&c, "; c\n[sampler\nn = 1\n"), NQS_EINVAL);
    assert_msg("t.ini:2: syntax error: a section header is '[name]'");
    nqs_config_free(c);
    assert_int_equal(parse(&c, "[sampler]\n= 1\n"), NQS_EINVAL);
    assert_msg("t.ini:2: syntax error: key name missing");
    nqs_config_free(c);
    assert_int_equal(parse(&c, "n = 1\n"), NQS_EINVAL);
    assert_msg("t.ini:1: key 'n' is outside any section");
    nqs_config_free(c);
    char longline[600] = "[sampler]\npath = ";
    memset(longline + strlen(longline), 'x', 400);
    assert_int_equal(parse(&c, longline), NQS_EINVAL);
    assert_msg("t.ini:2: line too long");
    nqs_config_free(c);
}

static void test_config_comments_bom_indent(void **state)
{
    (void)state;
    struct nqs_config *c;
    struct nqs_opt_val v[N_OF(defs_all)];
    /* BOM, CRLF line ends, indented keys, ':' separator, inline ';' and '#'. */
    assert_int_equal(parse(&c, "\xEF\xBB\xBF# head\r\n[sampler]\r\n   n = 7 ; seven\r\n"
                               "\th: 1.5 # field\r\n  path = a#b\r\n"),
                     NQS_OK);
    assert_int_equal(nqs_config_get(c, "sampler", defs_all, N_OF(defs_all), v), NQS_OK);
    assert_int_equal(v[I_N].i, 7);
    assert_close(v[I_H].x, 1.5, 0.0);
    assert_string_equal(v[I_PATH].str, "a#b"); /* '#' without space before is text */
    nqs_config_free(c);
}

static void test_config_set_override_and_add(void **state)
{
    (void)state;
    struct nqs_config *c;
    struct nqs_opt_val v[N_OF(defs_all)];
    assert_int_equal(parse(&c, "[sampler]\nn = 7\n"), NQS_OK);
    assert_int_equal(nqs_config_set(c, "sampler.n=9"), NQS_OK);
    assert_int_equal(nqs_config_set(c, " sampler . mode = dense "), NQS_OK);
    assert_int_equal(nqs_config_set(c, "sampler.n=11"), NQS_OK); /* later wins */
    assert_int_equal(nqs_config_set(c, "output.extra=1"), NQS_OK);
    assert_true(nqs_config_has(c, "output", "extra"));
    assert_false(nqs_config_has(c, "output", "other"));
    const char *src;
    int line = -1;
    assert_int_equal(nqs_config_origin(c, "sampler", "n", &src, &line), 1);
    assert_string_equal(src, "--set");
    assert_int_equal(line, 0);
    assert_int_equal(nqs_config_get(c, "sampler", defs_all, N_OF(defs_all), v), NQS_OK);
    assert_int_equal(v[I_N].i, 11);
    assert_int_equal(v[I_MODE].i, 1);
    /* An override added with --set is checked like any key. */
    assert_int_equal(nqs_config_check_unused(c), NQS_EINVAL);
    assert_msg("--set: [output] extra: unknown key");
    /* A wrong --set value names --set as its origin. */
    assert_int_equal(nqs_config_set(c, "sampler.n=x"), NQS_OK);
    assert_int_equal(nqs_config_get(c, "sampler", defs_all, N_OF(defs_all), v), NQS_EINVAL);
    assert_msg("--set: [sampler] n: 'x' is not an integer");
    /* Reading a file after --set keeps the override (restart files). */
    assert_int_equal(nqs_config_set(c, "sampler.h=2.5"), NQS_OK);
    assert_int_equal(nqs_config_set(c, "sampler.n=12"), NQS_OK);
    assert_int_equal(
        nqs_config_read_string(c, "[sampler]\nh = 1\nn = 3\npath = r.h5\n", "restart.h5"),
        NQS_OK);
    assert_int_equal(nqs_config_get(c, "sampler", defs_all, N_OF(defs_all), v), NQS_OK);
    assert_close(v[I_H].x, 2.5, 0.0);
    assert_int_equal(v[I_N].i, 12);
    assert_string_equal(v[I_PATH].str, "r.h5");
    assert_string_equal(nqs_config_name(c), "restart.h5");
    nqs_config_free(c);
}

static void test_config_set_malformed(void **state)
{
    (void)state;
    struct nqs_config *c = nqs_config_alloc();
    const char *bad[] = {"samplern=3", "sampler.n", "n=3.5", ".n=3", "sampler.=3"};
    for (int k = 0; k < N_OF(bad); k++) {
        assert_int_equal(nqs_config_set(c, bad[k]), NQS_EINVAL);
        assert_msg("--set: malformed override");
        assert_msg("(accepted: section.key=value)");
    }
    assert_int_equal(nqs_config_set(c, "sampeler.n=3"), NQS_EINVAL);
    assert_msg("--set: unknown section [sampeler]");
    assert_string_equal(nqs_config_name(c), "--set");
    nqs_config_free(c);
}

static void test_config_dump_round_trip(void **state)
{
    (void)state;
    static const struct nqs_opt_def dl[] = {
        {"type", NQS_OPT_CHOICE, NULL, "", "chain|square", 0, 0},
        {"extent", NQS_OPT_INTLIST, NULL, "", NULL, 1, 99},
        {"boundary", NQS_OPT_STRING, "periodic", "", NULL, 0, 0},
    };
    static const struct nqs_opt_def dm[] = {
        {"alpha", NQS_OPT_INT, "2", "", NULL, 1, 9},
        {"std", NQS_OPT_REAL, "0.01", "", NULL, 0, 0},
        {"ref", NQS_OPT_REAL, "", "", NULL, 0, 0},
    };
    struct nqs_config *c;
    struct nqs_opt_val l1[3], m1[3], s1[N_OF(defs_all)], l2[3], m2[3], s2[N_OF(defs_all)];
    /* Sections in a different order than the dump's; a key of a section that is
     * never read does not appear. */
    assert_int_equal(parse(&c, "[sampler]\nh = -0.7313\nflag = on\n[model]\nalpha = 3\n"
                               "[lattice]\nextent = 4,4\ntype = square\n"),
                     NQS_OK);
    assert_int_equal(nqs_config_set(c, "sampler.dims=3,5,7"), NQS_OK);
    assert_int_equal(nqs_config_get(c, "sampler", defs_all, N_OF(defs_all), s1), NQS_OK);
    assert_int_equal(nqs_config_get(c, "lattice", dl, 3, l1), NQS_OK);
    assert_int_equal(nqs_config_get(c, "model", dm, 3, m1), NQS_OK);
    char *text = nqs_config_dump(c);
    assert_non_null(text);
    /* Section order of the data flow, defaults included. */
    const char *pl = strstr(text, "[lattice]"), *pm = strstr(text, "[model]");
    const char *ps = strstr(text, "[sampler]");
    assert_non_null(pl);
    assert_non_null(pm);
    assert_non_null(ps);
    assert_true(pl < pm && pm < ps);
    assert_non_null(strstr(text, "boundary = periodic\n"));
    assert_non_null(strstr(text, "path = out.h5\n"));
    assert_non_null(strstr(text, "dims = 3,5,7\n"));

    struct nqs_config *c2 = nqs_config_alloc();
    assert_int_equal(nqs_config_read_string(c2, text, "dump"), NQS_OK);
    assert_int_equal(nqs_config_get(c2, "sampler", defs_all, N_OF(defs_all), s2), NQS_OK);
    assert_int_equal(nqs_config_get(c2, "lattice", dl, 3, l2), NQS_OK);
    assert_int_equal(nqs_config_get(c2, "model", dm, 3, m2), NQS_OK);
    assert_int_equal(nqs_config_check_unused(c2), NQS_OK);
    for (int k = 0; k < N_OF(defs_all); k++) {
        assert_string_equal(s1[k].str, s2[k].str);
        assert_true(s1[k].x == s2[k].x);
        assert_int_equal(s1[k].i, s2[k].i);
        assert_int_equal(s1[k].n_list, s2[k].n_list);
        assert_memory_equal(s1[k].list, s2[k].list, sizeof s1[k].list);
    }
    for (int k = 0; k < 3; k++) {
        assert_string_equal(l1[k].str, l2[k].str);
        assert_string_equal(m1[k].str, m2[k].str);
    }
    assert_int_equal(l2[1].n_list, 2);
    assert_int_equal(m2[0].i, 3);
    assert_true(isnan(m2[2].x));
    /* The dump of the re-read input is the same text. */
    char *text2 = nqs_config_dump(c2);
    assert_string_equal(text, text2);
    free(text);
    free(text2);
    nqs_config_free(c2);
    nqs_config_free(c);
}

static void test_config_read_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/nqs_test_config_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/in.ini", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("[sampler]\nn = 5\nmode = dense\n", f);
    fclose(f);
    struct nqs_config *c = nqs_config_alloc();
    struct nqs_opt_val v[N_OF(defs_all)];
    assert_int_equal(nqs_config_read_file(c, path), NQS_OK);
    assert_string_equal(nqs_config_name(c), path);
    assert_int_equal(nqs_config_get(c, "sampler", defs_all, N_OF(defs_all), v), NQS_OK);
    assert_int_equal(v[I_N].i, 5);
    /* Messages carry the file name and the line. */
    assert_int_equal(nqs_config_error(c, NQS_EINVAL, "sampler", "mode", "not with %s", "cg"),
                     NQS_EINVAL);
    char want[300];
    snprintf(want, sizeof want, "%s:3: [sampler] mode: not with cg", path);
    assert_string_equal(nqs_last_error(), want);
    /* A duplicate inside one file is an error, but a second file replaces the first. */
    assert_int_equal(nqs_config_read_string(c, "[sampler]\nn = 6\n", "second.ini"), NQS_OK);
    assert_int_equal(nqs_config_get(c, "sampler", defs_all, N_OF(defs_all), v), NQS_OK);
    assert_int_equal(v[I_N].i, 6);
    nqs_config_free(c);
    unlink(path);
    rmdir(dir);

    c = nqs_config_alloc();
    assert_int_equal(nqs_config_read_file(c, "/nonexistent/nqs/in.ini"), NQS_EIO);
    assert_msg("cannot open input file '/nonexistent/nqs/in.ini'");
    nqs_config_free(c);
}

static void test_config_unknown_section_in_get(void **state)
{
    (void)state;
    struct nqs_config *c = nqs_config_alloc();
    struct nqs_opt_val v[N_OF(defs_all)];
    assert_int_equal(nqs_config_get(c, "nosuch", defs_all, 1, v), NQS_EINTERNAL);
    /* An invalid default in a table is a programming error, not an input error. */
    static const struct nqs_opt_def bad[] = {{"q", NQS_OPT_INT, "x", "", NULL, 0, 0}};
    assert_int_equal(nqs_config_get(c, "output", bad, 1, v), NQS_EINTERNAL);
    assert_msg("internal: the default 'x' is invalid");
    nqs_config_free(c);
}

static void test_config_help_lines(void **state)
{
    (void)state;
    char buf[4096] = "";
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    assert_non_null(f);
    nqs_opt_print_help(f, defs_all, N_OF(defs_all));
    static const struct nqs_opt_def req[] = {
        {"type", NQS_OPT_CHOICE, NULL, "lattice family", "chain|square", 0, 0}};
    nqs_opt_print_help(f, req, 1);
    fclose(f);
    assert_non_null(strstr(buf, "  h                  (real in [-2, 3], default 0.5): field\n"));
    assert_non_null(strstr(buf, "(integer in [1, 64], default 4): count"));
    assert_non_null(strstr(buf, "(auto|dense|cg, default auto): solver"));
    assert_non_null(strstr(buf, "(chain|square, required): lattice family"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_reads_every_type),
        cmocka_unit_test(test_config_defaults_when_absent),
        cmocka_unit_test(test_config_bool_spellings),
        cmocka_unit_test(test_config_real_errors),
        cmocka_unit_test(test_config_int_errors),
        cmocka_unit_test(test_config_choice_errors),
        cmocka_unit_test(test_config_intlist_errors),
        cmocka_unit_test(test_config_string_too_long),
        cmocka_unit_test(test_config_unbounded_and_empty_default),
        cmocka_unit_test(test_config_missing_required),
        cmocka_unit_test(test_config_unknown_section),
        cmocka_unit_test(test_config_unknown_key_lists_accepted),
        cmocka_unit_test(test_config_duplicate_key),
        cmocka_unit_test(test_config_syntax_errors),
        cmocka_unit_test(test_config_comments_bom_indent),
        cmocka_unit_test(test_config_set_override_and_add),
        cmocka_unit_test(test_config_set_malformed),
        cmocka_unit_test(test_config_dump_round_trip),
        cmocka_unit_test(test_config_read_file),
        cmocka_unit_test(test_config_unknown_section_in_get),
        cmocka_unit_test(test_config_help_lines),
        cmocka_unit_test(test_config_table_hole_is_internal_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
