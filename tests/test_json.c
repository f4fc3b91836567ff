/*
 * test_json.c - the JSON writer (src/io/json.c) against hand-written expected
 * text: separators and nesting of objects and arrays, the pretty layout of
 * `nqs bench --json`, string escaping (RFC 8259 section 7), null for
 * non-finite numbers, and the number format: every double reads back
 * (strtod) to the same bits, checked on hand-picked edge cases and on
 * 100000 random bit patterns from a fixed seed.
 */
#include <float.h>
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

#include "json.h"

/* The writer's output for the calls in `body`, as a malloc'ed string. */
#define JSON_CAPTURE(text, pretty, body)                       \
    do {                                                       \
        size_t len_ = 0;                                       \
        FILE *f_ = open_memstream(&(text), &len_);             \
        assert_non_null(f_);                                   \
        struct nqs_json_writer w_;                             \
        nqs_json_init(&w_, f_, (pretty));                      \
        struct nqs_json_writer *w = &w_;                       \
        body;                                                  \
        assert_int_equal(fclose(f_), 0);                       \
    } while (0)

static void test_json_nesting_and_separators(void **state)
{
    (void)state;
    char *t = NULL;
    JSON_CAPTURE(t, 0, {
        nqs_json_begin_object(w, NULL);
        nqs_json_put_number(w, "e", -1.5);
        nqs_json_put_int(w, "n", 16);
        nqs_json_begin_array(w, "k");
        nqs_json_put_int(w, NULL, 0);
        nqs_json_put_int(w, NULL, -2);
        nqs_json_end(w);
        nqs_json_begin_array(w, "empty");
        nqs_json_end(w);
        nqs_json_begin_object(w, "sub");
        nqs_json_put_bool(w, "yes", 1);
        nqs_json_put_bool(w, "no", 0);
        nqs_json_put_null(w, "none");
        nqs_json_put_string(w, "s", NULL);
        nqs_json_end(w);
        nqs_json_begin_array(w, "rows");
        nqs_json_begin_object(w, NULL);
        nqs_json_put_int(w, "a", 1);
        nqs_json_end(w);
        nqs_json_begin_object(w, NULL);
        nqs_json_end(w);
        nqs_json_end(w);
        nqs_json_end(w);
    });
    assert_string_equal(t, "{\"e\": -1.5, \"n\": 16, \"k\": [0, -2], \"empty\": [], "
                           "\"sub\": {\"yes\": true, \"no\": false, \"none\": null, \"s\": null}, "
                           "\"rows\": [{\"a\": 1}, {}]}\n");
    free(t);
}

/* pretty_depth 2: the layout test_bench.c expects of `nqs bench --json`. */
static void test_json_pretty_layout(void **state)
{
    (void)state;
    char *t = NULL;
    JSON_CAPTURE(t, 2, {
        nqs_json_begin_object(w, NULL);
        nqs_json_begin_array(w, "models");
        nqs_json_begin_object(w, NULL);
        nqs_json_put_string(w, "m", "rbm");
        nqs_json_put_number(w, "x", 0.25);
        nqs_json_end(w);
        nqs_json_begin_object(w, NULL);
        nqs_json_put_int(w, "y", 3);
        nqs_json_end(w);
        nqs_json_end(w);
        nqs_json_begin_array(w, "sr");
        nqs_json_end(w);
        nqs_json_end(w);
    });
    assert_string_equal(t, "{\n  \"models\": [\n    {\"m\": \"rbm\", \"x\": 0.25},\n"
                           "    {\"y\": 3}\n  ],\n  \"sr\": []\n}\n");
    free(t);
}

static void test_json_string_escaping(void **state)
{
    (void)state;
    char *t = NULL;
    JSON_CAPTURE(t, 0, {
        nqs_json_begin_object(w, NULL);
        nqs_json_put_string(w, "q\"k", "a\"b\\c/d\ne\tf\x01g\x1fh\x7f");
        nqs_json_put_string(w, "utf8", "\xc3\xa9\xe2\x86\x92"); /* e acute, arrow: unchanged */
        nqs_json_put_string(w, "", "");
        nqs_json_end(w);
    });
    assert_string_equal(t, "{\"q\\\"k\": \"a\\\"b\\\\c/d\\ne\\tf\\u0001g\\u001fh\x7f\", "
                           "\"utf8\": \"\xc3\xa9\xe2\x86\x92\", \"\": \"\"}\n");
    free(t);
}

static void test_json_non_finite_is_null(void **state)
{
    (void)state;
    char *t = NULL;
    JSON_CAPTURE(t, 0, {
        nqs_json_begin_array(w, NULL);
        nqs_json_put_number(w, NULL, NAN);
        nqs_json_put_number(w, NULL, INFINITY);
        nqs_json_put_number(w, NULL, -INFINITY);
        nqs_json_put_number(w, NULL, 0.0 / 0.0 * -1.0);
        nqs_json_put_number(w, NULL, 2.0);
        nqs_json_end(w);
    });
    assert_string_equal(t, "[null, null, null, null, 2]\n");
    free(t);
}

/* x printed and read back gives the same bits; returns the text's length. */
static size_t json_round_trip(double x)
{
    char buf[NQS_JSON_NUMBER_MAX];
    nqs_json_format_number(buf, x);
    char *end = NULL;
    double y = strtod(buf, &end);
    if (*end || memcmp(&x, &y, sizeof x) != 0)
        fail_msg("%.17g printed as '%s' reads back as %.17g", x, buf, y);
    return strlen(buf);
}

static void test_json_numbers_round_trip(void **state)
{
    (void)state;
    /* hand-picked: short decimals stay short, the extremes need 17 digits */
    char buf[NQS_JSON_NUMBER_MAX];
    assert_string_equal(nqs_json_format_number(buf, 0.1), "0.1");
    assert_string_equal(nqs_json_format_number(buf, -8.509082235140), "-8.50908223514");
    assert_string_equal(nqs_json_format_number(buf, 1e300), "1e+300");
    assert_string_equal(nqs_json_format_number(buf, -0.0), "-0");
    assert_string_equal(nqs_json_format_number(buf, 0.1 + 0.2), "0.30000000000000004");
    const double edge[] = {0.0, -0.0, 1.0, 0.1, 1.0 / 3.0, M_PI, DBL_MAX, -DBL_MAX, DBL_MIN,
                           DBL_EPSILON, 4.9406564584124654e-324, 1 + DBL_EPSILON, 1e22, 1e23,
                           9007199254740993.0, -25.49098968636, 123456789012345678.0};
    for (size_t k = 0; k < sizeof edge / sizeof edge[0]; k++) json_round_trip(edge[k]);
    /* random bit patterns (every exponent, subnormals included) */
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 14);
    for (int t = 0; t < 100000; t++) {
        uint64_t bits = (uint64_t)gsl_rng_get(rng) << 32 | (uint64_t)gsl_rng_get(rng);
        double x;
        memcpy(&x, &bits, sizeof x);
        if (!isfinite(x)) continue;
        assert_true(json_round_trip(x) < NQS_JSON_NUMBER_MAX);
    }
    gsl_rng_free(rng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_nesting_and_separators),
        cmocka_unit_test(test_json_pretty_layout),
        cmocka_unit_test(test_json_string_escaping),
        cmocka_unit_test(test_json_non_finite_is_null),
        cmocka_unit_test(test_json_numbers_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
