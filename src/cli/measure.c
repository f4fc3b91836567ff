/*
 * measure.c - `nqs measure FILE [--samples N] [-o OUT]`: the energy and the
 * observables (observables.h) of the state stored in a result file, from
 * fresh samples, without optimising (docs/results-format.md "/measure").
 *
 * The file is checked like a restart: nqs_h5_probe reads all of it in a
 * forked child first (a damaged file cannot crash this process inside
 * libhdf5), nqs_h5_restart_open checks the layout and the checkpoint
 * read-only, and the stored root attributes must name the lattice,
 * Hamiltonian and model the (possibly --set-changed) input builds, with the
 * same parameter count. The parameters are /result/params of a finished run
 * (the ones /result evaluated) or else the active checkpoint's. Sampling
 * uses fresh chains from [sampler] seed with the first burn-in, through the
 * same variational-state object as the run's final evaluation (vstate.h), so
 * with the same seed and samples it repeats that evaluation's estimator on
 * new chains. One process (no MPI).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "exact.h"
#include "io_h5.h"
#include "json.h"
#include "observables.h"
#include "problem.h"
#include "sampler.h"
#include "stats.h"
#include "vstate.h"

#define MEASURE_PROBE_TIMEOUT 60.0


struct measure {
    struct nqs_config *cfg;
    struct nqs_problem *p;
    struct nqs_sampler *smp;
    struct nqs_vstate *vs;
    struct nqs_obs obs;
    struct nqs_h5 *h5;
    double *value, *error;
    char source[128];
    long iteration;
};

/* The stored run must be the one the input builds. */
static int measure_check_meta(const char *path, const struct nqs_h5_meta *meta, const struct nqs_problem *p)
{
    char lat[128];
    nqs_lattice_describe(p->lat, lat, sizeof lat);
    const char *what = NULL, *file = NULL, *want = NULL;
    if (strcmp(meta->lattice, lat) != 0) what = "lattice", file = meta->lattice, want = lat;
    else if (strcmp(meta->hamiltonian, p->ham_ops->name) != 0)
        what = "hamiltonian", file = meta->hamiltonian, want = p->ham_ops->name;
    else if (strcmp(meta->model, p->model_ops->name) != 0)
        what = "model", file = meta->model, want = p->model_ops->name;
    if (what)
        NQS_ERROR(NQS_EINVAL, "cannot measure %s: its %s is '%s', the input builds '%s' (--set may "
                  "change sampler and observables, not the state)", path, what, file, want);
    if (meta->n_params != p->model->n_par)
        NQS_ERROR(NQS_EINVAL, "cannot measure %s: it holds %d parameters, the input's model has %d "
                  "(--set may change sampler and observables, not the model)", path,
                  meta->n_params, p->model->n_par);
    return NQS_OK;
}

/* Parameters: /result/params, else the active checkpoint. */
static int measure_params(struct measure *ms, const char *path)
{
    struct nqs_model *m = ms->p->model;
    NQS_TRY(nqs_h5_state_open(path, &ms->h5));
    const struct nqs_h5_meta *meta = nqs_h5_get_meta(ms->h5);
    NQS_TRY(measure_check_meta(path, meta, ms->p));
    ms->iteration = nqs_h5_checkpoint_iteration(ms->h5);
    if (nqs_h5_has_object(path, "/result/params")) {
        nqs_h5_close(ms->h5);
        ms->h5 = NULL;
        snprintf(ms->source, sizeof ms->source, "/result/params");
        return nqs_h5_read_params(path, "/result/params", m->par, m->n_par);
    }
    /* no chains (count 0): sampling starts fresh, and nqs_h5_probe has
     * already read every dataset of the file */
    double *opt = malloc(((size_t)meta->optimizer_state_len + 1) * sizeof *opt);
    int rc = opt ? NQS_OK : NQS_ENOMEM;
    struct nqs_h5_checkpoint ck = {.params = m->par, .optimizer_state = opt};
    if (rc == NQS_OK) rc = nqs_h5_checkpoint_read(ms->h5, 0, 0, &ck);
    free(opt);
    nqs_h5_close(ms->h5);
    ms->h5 = NULL;
    snprintf(ms->source, sizeof ms->source, "/checkpoint (iteration %ld)", ck.iteration);
    return rc;
}

static int measure_setup(struct measure *ms, const struct nqs_cli *cli, long *n_samples)
{
    const char *path = cli->config_path;
    NQS_TRY(nqs_h5_probe(path, MEASURE_PROBE_TIMEOUT));
    char *text = NULL;
    NQS_TRY(nqs_h5_read_attr_string(path, "/", "input", &text));
    ms->cfg = nqs_config_alloc();
    int rc = ms->cfg ? nqs_config_read_string(ms->cfg, text, path) : NQS_ENOMEM;
    free(text);
    NQS_TRY(rc);
    NQS_TRY(nqs_driver_apply_sets(ms->cfg, cli->argc, cli->argv));
    NQS_TRY(nqs_problem_build(ms->cfg, NQS_PROBLEM_MODEL, &ms->p));
    struct nqs_problem *p = ms->p;
    struct nqs_opt_val sv[16], ov[NQS_OBS_N_OPTIONS];
    NQS_TRY(nqs_config_get(ms->cfg, "sampler", nqs_sampler_options, nqs_sampler_n_options, sv));
    NQS_TRY(nqs_config_get(ms->cfg, "observables", nqs_obs_options, nqs_obs_n_options, ov));
    static const char *const checked[] = {"lattice", "hamiltonian", "symmetry", "model", "sampler",
                                          "observables", NULL};
    NQS_TRY(nqs_config_check_unused_sections(ms->cfg, checked));
    struct nqs_sampler_opts so;
    NQS_TRY(nqs_sampler_opts_from(sv, p->ham, p->magnetisation, &so));
    NQS_TRY(nqs_obs_setup(&ms->obs, ov, p->lat));
    NQS_TRY(nqs_obs_set_marshall(&ms->obs, p->ham->marshall));
    nqs_obs_set_hamiltonian(&ms->obs, p->ham, p->model);
    NQS_TRY(nqs_obs_check_moves(&ms->obs, ms->cfg, so.move == NQS_MOVE_FLIP));
    NQS_TRY(measure_params(ms, path));
    p->model->ops->refresh(p->model);
    long n = cli->samples;
    if (n <= 0) NQS_TRY(nqs_driver_final_samples(ms->cfg, so.n_samples, &n));
    int per = (int)((n + so.n_chains - 1) / so.n_chains);
    ms->smp = nqs_sampler_alloc(&so, p->model, p->ham, 0, so.n_chains);
    if (!ms->smp) return NQS_ENOMEM;
    NQS_TRY(nqs_obs_workspaces(&ms->obs, so.n_chains));
    ms->vs = nqs_vstate_alloc(p->model, p->ham, ms->smp, &ms->obs, per, 0, 0, so.n_chains, 0);
    if (!ms->vs) return NQS_ENOMEM;
    size_t no = (size_t)(ms->obs.n > 0 ? ms->obs.n : 1);
    ms->value = malloc(no * sizeof *ms->value);
    ms->error = malloc(no * sizeof *ms->error);
    if (!ms->value || !ms->error) NQS_ERROR(NQS_ENOMEM, "out of memory for %zu observable columns", no);
    *n_samples = nqs_vstate_n_samples(ms->vs);
    return NQS_OK;
}

static void measure_report(const struct nqs_cli *cli, const struct nqs_h5_result *res, const char *out,
                           const char *group, const char *source, const double *lz)
{
    if (cli->json) {
        struct nqs_json_writer w;
        nqs_json_init(&w, stdout, 0);
        nqs_json_begin_object(&w, NULL);
        nqs_json_put_number(&w, "energy", res->energy);
        nqs_json_put_number(&w, "energy_error", res->energy_error);
        nqs_json_put_number(&w, "energy_variance", res->energy_variance);
        nqs_json_put_int(&w, "n_samples", res->n_samples);
        nqs_json_put_string(&w, "file", out);
        nqs_json_put_string(&w, "group", group);
        nqs_json_put_string(&w, "params", source);
        if (lz) {
            nqs_json_put_number(&w, "energy_lanczos", lz[0]);
            nqs_json_put_number(&w, "energy_lanczos_error", lz[1]);
            nqs_json_put_number(&w, "lanczos_alpha", lz[2]);
        }
        nqs_json_end(&w);
        return;
    }
    printf("energy       %.8f +- %.8f (Pauli units, %ld samples)\n", res->energy, res->energy_error,
           res->n_samples);
    printf("variance     %.6g\n", res->energy_variance);
    if (lz)
        printf("lanczos      %.8f +- %.8f (energy of (1 + alpha H) psi, alpha = %.6g)\n", lz[0],
               lz[1], lz[2]);
    printf("parameters   %s\n", source);
    printf("written to   %s:%s\n", out, group);
}

int nqs_cmd_measure(const struct nqs_cli *cli)
{
    struct measure ms;
    memset(&ms, 0, sizeof ms);
    long n_samples = 0;
    int rc = measure_setup(&ms, cli, &n_samples);
    struct nqs_h5_result res;
    memset(&res, 0, sizeof res);
    char group[64] = "", sector[256] = "", cmd[4096] = "";
    if (rc == NQS_OK) rc = nqs_vstate_sample(ms.vs, 1);
    struct nqs_stats st;
    if (rc == NQS_OK) rc = nqs_vstate_energy(ms.vs, &st);
    if (rc == NQS_OK) rc = nqs_vstate_obs_stats(ms.vs, NULL, 0, NULL, ms.value, ms.error);
    if (rc == NQS_OK) {
        struct nqs_model *m = ms.p->model;
        struct nqs_exact_sector sec;
        nqs_exact_sector_of_problem(ms.p, &sec);
        nqs_exact_sector_describe(&sec, ms.p->ham, ms.p->lat, sector, sizeof sector);
        size_t pos = 0;
        for (int k = 0; k < cli->argc && pos + 2 < sizeof cmd; k++)
            pos += (size_t)snprintf(cmd + pos, sizeof cmd - pos, "%s%s", k ? " " : "", cli->argv[k]);
        res = (struct nqs_h5_result){
            .energy = st.mean, .energy_error = st.error, .energy_variance = st.variance,
            .v_score = nqs_stats_vscore(m->n_sites, st.variance, st.mean), .tau = st.tau,
            .rhat = st.rhat, .acceptance = nqs_vstate_acceptance(ms.vs), .n_samples = n_samples,
            .params = m->par, .sector = sector, .obs = &ms.obs, .obs_value = ms.value,
            .obs_error = ms.error,
        };
        struct nqs_h5_observable sc[NQS_H5_MAX_SCALARS];
        double lz[3];
        int have_lz = nqs_vstate_lanczos(ms.vs, &lz[0], &lz[1], &lz[2]);
        int n_sc = nqs_h5_scalars(&ms.obs, ms.value, ms.error, have_lz ? lz : NULL, sc);
        char *input = nqs_config_dump(ms.cfg), lat[128];
        nqs_lattice_describe(ms.p->lat, lat, sizeof lat);
        struct nqs_h5_measurement meas = {
            .res = &res, .scalars = sc, .n_scalars = n_sc, .params_source = ms.source,
            .iteration = ms.iteration, .input = input, .command_line = cmd,
            .source_file = cli->config_path, .lat = ms.p->lat, .n_params = m->n_par,
            .lattice = lat, .hamiltonian = ms.p->ham_ops->name, .model = ms.p->model_ops->name,
        };
        int create = cli->output && strcmp(cli->output, cli->config_path) != 0;
        const char *out = create ? cli->output : cli->config_path;
        rc = nqs_h5_write_measurement(out, create, cli->force, &meas, group, sizeof group);
        free(input);
        if (rc == NQS_OK) measure_report(cli, &res, out, group, ms.source, have_lz ? lz : NULL);
    }
    nqs_h5_close(ms.h5);
    nqs_vstate_free(ms.vs);
    nqs_sampler_free(ms.smp);
    nqs_obs_free(&ms.obs);
    nqs_problem_free(ms.p);
    nqs_config_free(ms.cfg);
    free(ms.value);
    free(ms.error);
    return rc;
}
