/*
 * nqs_test.h - small helpers shared by the cmocka test programs (Debian 12's
 * cmocka 1.1 has no floating-point assertions).
 */
#ifndef NQS_TEST_H
#define NQS_TEST_H

#include <math.h>
#include <stdio.h>

/* |a - b| <= tol, printing both values on failure. */
#define assert_close(a, b, tol)                                                                \
    do {                                                                                       \
        double nqs_a_ = (a), nqs_b_ = (b), nqs_t_ = (tol);                                     \
        if (!(fabs(nqs_a_ - nqs_b_) <= nqs_t_)) {                                              \
            fprintf(stderr, "%s:%d: %s = %.17g, %s = %.17g, |diff| = %.3g > %.3g\n", __FILE__, \
                    __LINE__, #a, nqs_a_, #b, nqs_b_, fabs(nqs_a_ - nqs_b_), nqs_t_);          \
            fail();                                                                            \
        }                                                                                      \
    } while (0)

/* |a - b| <= rtol * max(|a|, |b|, tiny). */
#define assert_rel_close(a, b, rtol)                                                           \
    do {                                                                                       \
        double nqs_ra_ = (a), nqs_rb_ = (b);                                                   \
        double nqs_s_ = fmax(fmax(fabs(nqs_ra_), fabs(nqs_rb_)), 1e-300);                      \
        assert_close(nqs_ra_, nqs_rb_, (rtol) * nqs_s_);                                       \
    } while (0)

#include <cmocka.h>
#include "config.h"
#include "error.h"

/* Option values of `defs` for `section`: the table's defaults, then the
 * override `key` = `value` when key != NULL. Goes through the config layer,
 * so values are parsed and validated exactly as for an input file. */
static inline void nqs_test_options(const char *section, const struct nqs_opt_def *defs, int n,
                                    const char *key, const char *value, struct nqs_opt_val *out)
{
    struct nqs_config *cfg = nqs_config_alloc();
    assert_non_null(cfg);
    if (key) {
        char assign[256];
        snprintf(assign, sizeof assign, "%s.%s=%s", section, key, value);
        assert_int_equal(nqs_config_set(cfg, assign), NQS_OK);
    }
    if (nqs_config_get(cfg, section, defs, n, out) != NQS_OK) fail_msg("%s", nqs_last_error());
    nqs_config_free(cfg);
}

#endif
