/*
 * model.c - model-independent parts of the wavefunction interface: allocation
 * through the ops table, seeded Gaussian initialisation, full evaluation and
 * the stable complex log cosh used by every RBM-like model.
 */
#include "model.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>

#include "error.h"

struct nqs_model *nqs_model_alloc(const struct nqs_model_ops *ops, const struct nqs_lattice *lat,
                                  const struct nqs_opt_val *values)
{
    struct nqs_model *m = calloc(1, sizeof *m);
    if (!m) {
        NQS_SET_ERROR(NQS_ENOMEM, "out of memory allocating model '%s'", ops->name);
        return NULL;
    }
    m->ops = ops;
    m->lat = lat;
    m->n_sites = lat->n_sites;
    if (ops->alloc(m, lat, values) != NQS_OK) {
        free(m);
        return NULL;
    }
    NQS_ASSERT(m->par != NULL && m->n_par > 0 && m->cache_size > 0);
    return m;
}

void nqs_model_free(struct nqs_model *m)
{
    if (!m) return;
    if (m->state) m->ops->free(m->state);
    free(m);
}

void nqs_model_init(struct nqs_model *m, unsigned long seed, double std)
{
    /* mt19937 with a fixed seed gives the same stream on every platform. */
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    for (int p = 0; p < m->n_par; p++) {
        double re = gsl_ran_gaussian_ziggurat(rng, std);
        double im = gsl_ran_gaussian_ziggurat(rng, std);
        m->par[p] = CMPLX(re, im);
    }
    gsl_rng_free(rng);
    m->ops->refresh(m);
}

double complex nqs_model_log_psi(const struct nqs_model *m, const int8_t *s)
{
    void *cache = malloc(m->cache_size);
    if (!cache) return CMPLX(NAN, NAN);
    double complex lp = m->ops->cache_init(m, s, cache);
    free(cache);
    return lp;
}

/* log(1 + w) for |w| <= 1, accurate for small |w| (real part via log1p). */
static double complex model_clog1p(double complex w)
{
    double x = creal(w), y = cimag(w);
    return CMPLX(0.5 * log1p(2.0 * x + x * x + y * y), atan2(y, 1.0 + x));
}

double complex nqs_logcosh(double complex z)
{
    /* log cosh is even; for Re z >= 0, cosh z = e^z (1 + e^{-2z}) / 2 and
     * e^{-2z} has modulus <= 1, so nothing overflows. */
    if (creal(z) < 0) z = -z;
    return z - M_LN2 + model_clog1p(cexp(-2.0 * z));
}
