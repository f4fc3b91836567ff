/*
 * observables.c - final-evaluation observables (see observables.h for the
 * definitions and conventions).
 */
#include "observables.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

enum { OBS_M2, OBS_NN, OBS_SQ, OBS_SX };

const struct nqs_opt_def nqs_obs_options[] = {
    {"magnetisation_sq", NQS_OPT_BOOL, "true", "measure m^2 = (sum_i s_i / N)^2", NULL, 0, 0},
    {"nn_correlation", NQS_OPT_BOOL, "true",
     "measure (1/N_b) sum over nearest-neighbour bonds of s_i s_j (zz part)", NULL, 0, 0},
    {"structure_factor", NQS_OPT_STRING, "auto",
     "momentum q of S(q) = |sum_i exp(i q.r_i) s_i|^2 / N in units of pi, 'qx' or 'qx,qy'; auto: "
     "pi (chain), (pi,pi) (square), K = (4/3 pi, 0) (triangular); none: off",
     NULL, 0, 0},
    {"sx", NQS_OPT_BOOL, "false", "measure <sigma^x> = (1/N) sum_i psi(s^i)/psi(s) (off-diagonal)", NULL, 0, 0},
};
const int nqs_obs_n_options = sizeof nqs_obs_options / sizeof nqs_obs_options[0];

static void obs_add(struct nqs_obs *obs, int kind, const char *name)
{
    obs->kind[obs->n] = kind;
    snprintf(obs->name[obs->n], sizeof obs->name[0], "%s", name);
    obs->n++;
}

int nqs_obs_setup(struct nqs_obs *obs, const struct nqs_opt_val *v, const struct nqs_lattice *lat)
{
    memset(obs, 0, sizeof *obs);
    obs->lat = lat;
    if (v[0].i) obs_add(obs, OBS_M2, "magnetisation_sq");
    if (v[1].i) obs_add(obs, OBS_NN, "nn_correlation");
    const char *q = v[2].str;
    if (strcmp(q, "none") != 0) {
        double qx = 1, qy = lat->dim > 1 ? 1 : 0;
        if (strcmp(q, "auto") == 0) {
            if (lat->kind == NQS_LATTICE_TRIANGULAR) qx = 4.0 / 3.0, qy = 0;
        } else {
            char *end;
            qx = strtod(q, &end);
            qy = 0;
            if (*end == ',') qy = strtod(end + 1, &end);
            if (end == q || *end != '\0' || !isfinite(qx) || !isfinite(qy))
                NQS_ERROR(NQS_EINVAL,
                          "[observables] structure_factor: '%s' is not a momentum (accepted: auto, "
                          "none, qx or qx,qy in units of pi)",
                          q);
            /* S(q) is periodic in q with the reciprocal lattice (period 2 in
             * units of pi along the square axes, 4 in x for the triangular
             * lattice): [-4, 4] holds every distinct momentum, and larger
             * components lose every digit in q.r (1e308 pi overflows). */
            if (fabs(qx) > 4 || fabs(qy) > 4)
                NQS_ERROR(NQS_EINVAL,
                          "[observables] structure_factor: '%s' is outside the accepted range "
                          "(accepted: auto, none, qx or qx,qy in units of pi, each in [-4, 4])",
                          q);
        }
        obs->q[0] = M_PI * qx;
        obs->q[1] = M_PI * qy;
        obs_add(obs, OBS_SQ, "structure_factor");
    }
    if (v[3].i) obs_add(obs, OBS_SX, "sx");
    return NQS_OK;
}

void nqs_obs_eval(const struct nqs_obs *obs, const struct nqs_model *m, void *cache, const int8_t *s,
                  double complex *out)
{
    const struct nqs_lattice *lat = obs->lat;
    int N = lat->n_sites;
    for (int k = 0; k < obs->n; k++) {
        double complex v = 0;
        switch (obs->kind[k]) {
        case OBS_M2: {
            double sum = 0;
            for (int i = 0; i < N; i++) sum += s[i];
            v = (sum / N) * (sum / N);
            break;
        }
        case OBS_NN: {
            int nb = lat->n_bonds_order[0];
            double sum = 0;
            for (int b = 0; b < nb; b++) sum += s[lat->bonds[b].i] * s[lat->bonds[b].j];
            v = nb > 0 ? sum / nb : 0;
            break;
        }
        case OBS_SQ: {
            double complex a = 0;
            for (int i = 0; i < N; i++)
                a += s[i] * cexp(I * (obs->q[0] * lat->pos[2 * i] + obs->q[1] * lat->pos[2 * i + 1]));
            v = (creal(a) * creal(a) + cimag(a) * cimag(a)) / N;
            break;
        }
        case OBS_SX:
            for (int i = 0; i < N; i++) v += cexp(m->ops->log_psi_ratio(m, cache, s, 1, &i));
            v /= N;
            break;
        }
        out[k] = v;
    }
}
