/*
 * ham_test_util.h - helpers for the Hamiltonian and exact-diagonalisation
 * tests: lattices, option values from a family's table (defaults, then
 * "key=value" overrides, parsed here so the tests do not depend on the config
 * layer), and spin patterns.
 */
#ifndef HAM_TEST_UTIL_H
#define HAM_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hamiltonian.h"
#include "lattice.h"

static inline struct nqs_lattice *util_lattice(enum nqs_lattice_kind k, int lx, int ly, int px, int py)
{
    int ext[2] = {lx, ly}, per[2] = {px, py};
    struct nqs_lattice *lat = nqs_lattice_alloc(k, ext, per);
    if (!lat) fprintf(stderr, "lattice: %s\n", nqs_last_error());
    assert_non_null(lat);
    return lat;
}

/* Parse `text` for option `d` into `v` (REAL, INT, BOOL, CHOICE only). */
static inline void util_opt_parse(const struct nqs_opt_def *d, const char *text, struct nqs_opt_val *v)
{
    memset(v, 0, sizeof *v);
    snprintf(v->str, sizeof v->str, "%s", text);
    switch (d->type) {
    case NQS_OPT_REAL:
    case NQS_OPT_INT:
        v->x = strtod(text, NULL);
        v->i = (long)v->x;
        break;
    case NQS_OPT_BOOL: v->i = strcmp(text, "true") == 0 || strcmp(text, "1") == 0; break;
    case NQS_OPT_CHOICE: {
        const char *c = d->choices;
        long idx = 0;
        size_t len = strlen(text);
        for (;;) {
            const char *bar = strchr(c, '|');
            size_t wl = bar ? (size_t)(bar - c) : strlen(c);
            if (wl == len && strncmp(c, text, len) == 0) break;
            assert_non_null(bar); /* the word must be one of the choices */
            c = bar + 1;
            idx++;
        }
        v->i = idx;
        break;
    }
    case NQS_OPT_INTLIST: { /* "2,2" */
        const char *c = text;
        v->n_list = 0;
        while (*c && v->n_list < NQS_OPT_MAXLIST) {
            char *end;
            v->list[v->n_list++] = (int)strtol(c, &end, 10);
            c = *end == ',' ? end + 1 : end;
            if (end == c && *c) break;
        }
        break;
    }
    default: fail_msg("option type %d not handled by the test helper", (int)d->type);
    }
}

/* Defaults of `ops`, then overrides "key=value" (NULL-terminated list);
 * keys the family does not have are skipped, so one list serves all families. */
static inline void util_opts(const struct nqs_ham_ops *ops, struct nqs_opt_val *v, const char *const *set)
{
    for (int k = 0; k < ops->n_options; k++) util_opt_parse(&ops->options[k], ops->options[k].def, &v[k]);
    for (int s = 0; set && set[s]; s++) {
        const char *eq = strchr(set[s], '=');
        assert_non_null(eq);
        for (int k = 0; k < ops->n_options; k++)
            if (strlen(ops->options[k].name) == (size_t)(eq - set[s]) &&
                strncmp(ops->options[k].name, set[s], (size_t)(eq - set[s])) == 0) {
                util_opt_parse(&ops->options[k], eq + 1, &v[k]);
                v[k].given = 1;
            }
    }
}

static inline struct nqs_ham *util_ham(const char *family, const struct nqs_lattice *lat,
                                const char *const *set)
{
    const struct nqs_ham_ops *ops = nqs_ham_find(family);
    assert_non_null(ops);
    struct nqs_opt_val v[16];
    assert_true(ops->n_options <= 16);
    util_opts(ops, v, set);
    struct nqs_ham *h = nqs_ham_alloc(ops, lat, v);
    if (!h) fprintf(stderr, "%s: %s\n", family, nqs_last_error());
    assert_non_null(h);
    return h;
}

/* s_i = +1 iff bit i of x is set (the exact solver's convention). */
static inline void util_spins(uint64_t x, int n, int8_t *s)
{
    for (int i = 0; i < n; i++) s[i] = (x >> i) & 1 ? 1 : -1;
}

/* Ground-state energy of the XX chain H = J sum (X_i X_j + Y_i Y_j) with n_f
 * up spins, by the Jordan-Wigner map to free fermions (up = occupied):
 * H = 2J sum_j (c+_j c_j+1 + h.c.), single-particle energies 4J cos k.
 * Open chain: k = pi n / (N + 1), n = 1..N. Periodic chain: the boundary
 * hop carries (-1)^(n_f - 1), so k = 2 pi m / N for odd n_f and
 * k = pi (2m + 1) / N for even n_f. E0 = sum of the n_f lowest levels. */
static int util_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline double util_xx_chain_energy(int N, double J, int periodic, int n_f)
{
    double eps[256];
    assert_true(N <= 256);
    for (int m = 0; m < N; m++) {
        double k = !periodic      ? M_PI * (m + 1) / (N + 1)
                   : (n_f % 2)    ? 2 * M_PI * m / N
                                  : M_PI * (2 * m + 1) / N;
        eps[m] = 4 * J * cos(k);
    }
    qsort(eps, (size_t)N, sizeof eps[0], util_cmp_double);
    double e = 0;
    for (int m = 0; m < n_f; m++) e += eps[m];
    return e;
}

#endif
