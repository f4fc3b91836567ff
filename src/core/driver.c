/*
 * driver.c - the ground-state search, `nqs run CONFIG [-o FILE]`.
 *
 * One iteration: sample the chains (sampler.c) giving E_loc and O_k per sample,
 * statistics of E_loc (stats.c), one optimiser update theta <- theta - eta delta
 * (optimizer.c: SR (S + eps I + rho diag S) delta = F, Adam or SGD), one
 * /history row appended and flushed (io_h5.c), a checkpoint every
 * checkpoint_every iterations and when a stop signal arrives. After the last
 * iteration a final evaluation with final_samples samples gives the reported
 * energy, error, variance, V-score and observables, and /result and /reference
 * are written.
 *
 * Determinism: with the same input (seeds, chain count) the trajectory is the
 * same on any number of threads, and a run continued from a checkpoint
 * (`--restart FILE`) repeats the uninterrupted run bitwise: the checkpoint
 * holds parameters, optimiser state, every chain's spins and RNG state.
 *
 * MPI (docs/cluster.md): the chains are split over the ranks in contiguous
 * blocks by global index (nqs_comm_split), every rank samples its own chains
 * with OpenMP threads, the local energies are gathered in global chain order
 * so every rank computes the same statistics, and the SR sums are exact over
 * chains and ranks (sr.h), so the history has the same bits for any number of
 * ranks and threads. Only rank 0 reads and writes the result file; a
 * checkpoint gathers every chain to rank 0, and a restart scatters them by
 * global index, so it may use another rank count. Every phase in which one
 * rank can fail alone ends with nqs_comm_check, which gives all ranks the
 * first failure; a stop signal seen by any rank stops all of them after the
 * same iteration.
 *
 * Guard rail: a non-finite local energy, gradient or update rolls the
 * parameters back to the last good ones, multiplies the SR shift by 10 and
 * retries, at most DRIVER_MAX_RETRIES times per iteration; then the run stops
 * with a message and the file keeps every completed iteration and the last
 * checkpoint. A non-finite amplitude found while sampling is the fault of the
 * previous update (the parameters it produced would fail again): the first
 * such retry goes back to the parameters before that update.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cli.h"
#include "comm.h"
#include "error.h"
#include "exact.h"
#include "io_h5.h"
#include "json.h"
#include "observables.h"
#include "optimizer.h"
#include "problem.h"
#include "reference.h"
#include "sampler.h"
#include "stats.h"
#include "vstate.h"

#define DRIVER_MAX_RETRIES 3
/* Seconds a forked reader may take over a restart file before it is called
 * damaged (reading a sound file of a large run takes well under a second). */
#define DRIVER_PROBE_TIMEOUT 60.0
/* Frozen chains: below this acceptance, or above this split-R-hat (1.1 is
 * the usual "not mixed" threshold; 1.5 leaves room for short chains), a run
 * warns once on stderr. Diagnostic only: the run goes on. */
#define DRIVER_LOW_ACCEPTANCE 1e-3
#define DRIVER_HIGH_RHAT 1.5

enum { OUT_FILE, OUT_CKPT_EVERY, OUT_FINAL_SAMPLES, OUT_EXACT_REF, OUT_PRINT_EVERY, OUT_N };

static const struct nqs_opt_def driver_output_options[OUT_N] = {
    [OUT_FILE] = {"file", NQS_OPT_STRING, "results.h5",
        "HDF5 result file (the -o option overrides it)", NULL, 0, 0},
    [OUT_CKPT_EVERY] = {"checkpoint_every", NQS_OPT_INT, "10",
        "write a checkpoint every K iterations (and at the end and on SIGTERM/SIGINT/SIGUSR1)", NULL, 1, 1e9},
    [OUT_FINAL_SAMPLES] = {"final_samples", NQS_OPT_INT, "0",
        "samples of the final evaluation (0: 4 x [sampler] samples)", NULL, 0, 1e9},
    [OUT_EXACT_REF] = {"exact_reference", NQS_OPT_CHOICE, "auto",
        "reference energy by exact diagonalisation: auto = when neither [hamiltonian] "
        "reference_energy nor the literature table (periodic TFIM chains, Heisenberg 4x4..10x10, "
        "J1-J2 6x6, periodic Heisenberg chains 40 and 80) gives one and the sector has at most 3e6 "
        "states",
        "auto|true|false", 0, 0},
    [OUT_PRINT_EVERY] = {"print_every", NQS_OPT_INT, "10",
        "progress line every K iterations when stderr is not a terminal",
        NULL, 1, 1e9},
};

/* Samples of the final evaluation: [output] final_samples, or 4 x [sampler]
 * samples when it is 0. */
static long driver_final_samples(long given, long sampler_samples)
{
    return given > 0 ? given : 4L * sampler_samples;
}

int nqs_driver_final_samples(struct nqs_config *cfg, long sampler_samples, long *n)
{
    struct nqs_opt_val out[OUT_N];
    NQS_TRY(nqs_config_get(cfg, "output", driver_output_options, OUT_N, out));
    *n = driver_final_samples(out[OUT_FINAL_SAMPLES].i, sampler_samples);
    return NQS_OK;
}

void nqs_driver_print_help(FILE *out)
{
    fprintf(out, "\n[sampler]\n");
    nqs_opt_print_help(out, nqs_sampler_options, nqs_sampler_n_options);
    fprintf(out, "\n[optimizer]\n");
    nqs_opt_print_help(out, nqs_optimizer_options, nqs_optimizer_n_options);
    fprintf(out, "\n[output]\n");
    nqs_opt_print_help(out, driver_output_options, OUT_N);
    fprintf(out, "\n[observables] (measured in the final evaluation, and every K iterations with every = K)\n");
    nqs_opt_print_help(out, nqs_obs_options, nqs_obs_n_options);
}

static volatile sig_atomic_t driver_stop_signal = 0;
static const int driver_signals[] = {SIGTERM, SIGINT, SIGUSR1};
#define DRIVER_N_SIGNALS 3

static void driver_on_signal(int sig) { driver_stop_signal = sig; }

struct driver {
    const struct nqs_cli *cli;
    struct nqs_config *own_cfg; /* restart without CONFIG: the input stored in the file */
    struct nqs_config *cfg;     /* borrowed or own_cfg */
    struct nqs_problem *prob;
    struct nqs_sampler_opts sampler_opts;
    struct nqs_sampler *smp;
    struct nqs_optimizer_params optimizer_params;
    struct nqs_optimizer *opt;
    struct nqs_obs obs;
    struct nqs_opt_val out[OUT_N];
    char path[NQS_OPT_MAXSTR];
    struct nqs_h5 *h5;
    char *input_text;
    char lattice_desc[128];
    char command_line[4096];
    double complex *eloc, *O, *par_good, *par_prev;
    struct nqs_vstate *vs;      /* final evaluation and per-iteration observables */
    double *obs_value, *obs_error; /* rank 0: the last per-iteration measurement */
    int obs_measured;           /* the last driver_iteration measured the observables */
    int sampling_failed;        /* the last driver_iteration failed while sampling */
    int rejected;               /* the last driver_iteration rejected the previous update */
    int unrecoverable;          /* the step review gave up (no retry helps) */
    int reburn;                 /* the next sampling starts with burn_in_first sweeps */
    char reject_why[256];
    int test_review_done;       /* NQS_TEST_STEP_REVIEW=rise:K fired */
    double complex *eloc_all;   /* every chain's local energies, global chain order */
    double complex *eloc_clip;  /* this rank's local energies as the update sees them */
    double *clip_scratch;       /* one real per sample of all chains (median, MAD) */
    double lanczos[3];          /* final evaluation: energy of one Lanczos step, error, alpha */
    int have_lanczos;           /* [observables] lanczos: lanczos[] is set (rank 0) */
    double *logp_all, *w_all;   /* exact enumeration: every row's 2 Re log psi and probability */
    double *opt_state;
    int8_t *ck_chains;          /* every chain (rank 0), this rank's block at chain `first` */
    uint8_t *ck_rng;
    int rank, size;             /* MPI rank and rank count (0 and 1 without MPI) */
    int first, n_local;         /* this rank's chains: first .. first + n_local - 1 */
    int ns_local;               /* samples of this rank per iteration */
    int verbose;                /* progress lines: rank 0 without --quiet */
    double t_sample, t_opt;     /* seconds in sampling (+ statistics) and in the optimiser */
    double ref_energy;
    char ref_source[256];
    char ref_sector[256]; /* the run's sector (nqs_exact_sector_describe), /reference sector */
    long it0;
    long it_done;               /* iterations completed when the loop ended (time_limit) */
    double wall_offset, samples_total;
    double t_loop;              /* monotonic time at the start of the loop */
    int signals_caught;         /* driver_catch_signals installed the stop handler */
    struct sigaction old_action[DRIVER_N_SIGNALS];
};

static double driver_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Re-apply every `--set` of the command line (restart from the file's input;
 * `nqs measure`, cli.h). */
int nqs_driver_apply_sets(struct nqs_config *cfg, int argc, char **argv)
{
    for (int k = 1; k < argc; k++) {
        if (strcmp(argv[k], "--set") == 0 && k + 1 < argc) NQS_TRY(nqs_config_set(cfg, argv[++k]));
        else if (strncmp(argv[k], "--set=", 6) == 0) NQS_TRY(nqs_config_set(cfg, argv[k] + 6));
    }
    return NQS_OK;
}

/* Whether `[section] key` was given with --set (on a restart: anew, over the
 * input stored in the file). */
static int driver_set_on_command_line(const struct driver *d, const char *section, const char *key)
{
    const char *source = NULL;
    return nqs_config_origin(d->cfg, section, key, &source, NULL) && strcmp(source, "--set") == 0;
}

static int driver_read_config(struct driver *d)
{
    const struct nqs_cli *cli = d->cli;
    if (cli->restart) {
        /* Before libhdf5 reads anything of the file in this process. The
         * timeout can be shortened for tests (NQS_TEST_PROBE_TIMEOUT, seconds;
         * a test hook, not a user option). */
        const char *tv = getenv("NQS_TEST_PROBE_TIMEOUT");
        double timeout = tv && atof(tv) > 0 ? atof(tv) : DRIVER_PROBE_TIMEOUT;
        NQS_TRY(nqs_comm_check(d->rank == 0 ? nqs_h5_probe(cli->restart, timeout) : NQS_OK));
    }
    if (cli->restart && !cli->config_path) {
        char *text = NULL; /* rank 0 reads the input stored in the file, the others get it */
        int rc = d->rank == 0 ? nqs_h5_read_attr_string(cli->restart, "/", "input", &text) : NQS_OK;
        rc = nqs_comm_check(rc);
        if (rc == NQS_OK) rc = nqs_comm_bcast_string(&text, 0);
        if (rc != NQS_OK) {
            free(text);
            return rc;
        }
        d->own_cfg = nqs_config_alloc();
        if (!d->own_cfg) {
            free(text);
            return NQS_ENOMEM;
        }
        rc = nqs_config_read_string(d->own_cfg, text, cli->restart);
        free(text);
        NQS_TRY(rc);
        NQS_TRY(nqs_driver_apply_sets(d->own_cfg, cli->argc, cli->argv));
        d->cfg = d->own_cfg;
    } else {
        d->cfg = cli->cfg;
    }
    if (!d->cfg) NQS_ERROR(NQS_EINVAL, "run needs an input file (nqs run CONFIG)");
    return NQS_OK;
}

/* Reference energy: the input's, else the literature table (default sector
 * only: its values are ground states of the whole space), else exact
 * diagonalisation in the run's sector ([symmetry]) when allowed and small
 * enough. */
static int driver_reference(struct driver *d)
{
    struct nqs_problem *p = d->prob;
    d->ref_energy = NAN;
    d->ref_source[0] = '\0';
    struct nqs_exact_sector sec;
    nqs_exact_sector_of_problem(p, &sec);
    nqs_exact_sector_describe(&sec, p->ham, p->lat, d->ref_sector, sizeof d->ref_sector);
    if (isfinite(p->reference_energy)) {
        d->ref_energy = p->reference_energy;
        snprintf(d->ref_source, sizeof d->ref_source, "%s",
                 p->reference_source[0] ? p->reference_source : "input");
        return NQS_OK;
    }
    if (nqs_reference_lookup_problem(p, &d->ref_energy, d->ref_source, sizeof d->ref_source))
        return NQS_OK;
    long mode = d->out[OUT_EXACT_REF].i; /* 0 auto, 1 true, 2 false */
    if (mode == 2) return NQS_OK;
    if (mode == 0 && nqs_exact_block_dimension(p->ham, sec.magnetisation) > 3000000) return NQS_OK;
    struct nqs_exact_result r;
    NQS_TRY(nqs_exact_energy_sector(p->ham, &sec, &r));
    d->ref_energy = r.energy;
    if (nqs_exact_sector_is_default(&sec, p->ham))
        snprintf(d->ref_source, sizeof d->ref_source,
                 "exact diagonalisation (ARPACK Lanczos, %lld states)", (long long)r.dim);
    else
        snprintf(d->ref_source, sizeof d->ref_source,
                 "exact diagonalisation (ARPACK Lanczos, %lld states; sector %.160s)",
                 (long long)r.dim, d->ref_sector);
    return NQS_OK;
}

/* Test hook, read here only: NQS_TEST_FAIL_RANK=r makes rank r fail after its
 * first sampling, r:setup while it sets up (before any collective), r:alone
 * before the first collective without telling the others (the error main.c
 * ends with MPI_Abort), so tests can check that one rank's error ends every
 * rank with one message and never hangs. For tests only; not a user option. */
static int driver_test_fault(const struct driver *d, const char *phase)
{
    const char *v = getenv("NQS_TEST_FAIL_RANK");
    if (!v || !*v) return NQS_OK;
    char *end;
    long r = strtol(v, &end, 10);
    const char *want = *end == ':' ? end + 1 : "sample";
    if (end == v || r != d->rank || strcmp(want, phase) != 0) return NQS_OK;
    NQS_ERROR(NQS_EIO, "test fault on rank %d while %s (NQS_TEST_FAIL_RANK=%s, a test hook)",
              d->rank, strcmp(phase, "sample") == 0 ? "sampling" : "setting up", v);
}

/* Test hook, read here only: NQS_TEST_STEP_REVIEW=rise:K reports to the step
 * review, at the first sampling of iteration K, an energy 100 error bars
 * above the measured one (a forced bad update, to be rejected and redone);
 * NQS_TEST_STEP_REVIEW=frozen:K reports acceptance 0 at every sampling from
 * iteration K on (chains that never move again, to be given up on);
 * NQS_TEST_STEP_REVIEW=unmixed:K reports split-R-hat 2 from iteration K on
 * (chains stuck in separate modes); NQS_TEST_STEP_REVIEW=final-variance
 * reports the final evaluation's variance 1e6 times too large to the check
 * that warns about unreliable final samples (driver_final). The
 * samples themselves are untouched. For tests only; not a user option. */
static void driver_test_review(struct driver *d, long it, struct nqs_optimizer_sample *now)
{
    const char *v = getenv("NQS_TEST_STEP_REVIEW");
    if (!v || !*v) return;
    long k = -1;
    if (sscanf(v, "rise:%ld", &k) == 1 && it == k && !d->test_review_done) {
        d->test_review_done = 1;
        now->energy += 100.0 * (now->error > 0 ? now->error : 1.0);
    } else if (sscanf(v, "frozen:%ld", &k) == 1 && it >= k) {
        now->acceptance = 0.0;
    } else if (sscanf(v, "unmixed:%ld", &k) == 1 && it >= k) {
        now->rhat = 2.0;
    }
}

/* Everything every rank builds for itself: problem, options, its chains, the
 * optimiser and the buffers. May fail on one rank alone (memory, test hook). */
static int driver_setup_local(struct driver *d)
{
    const struct nqs_cli *cli = d->cli;
    NQS_TRY(driver_test_fault(d, "setup"));
    NQS_TRY(nqs_problem_build(d->cfg, NQS_PROBLEM_MODEL, &d->prob));
    struct nqs_problem *p = d->prob;
    struct nqs_opt_val sampler_vals[16], optimizer_vals[NQS_OPTK_COUNT], observable_vals[NQS_OBS_N_OPTIONS];
    NQS_TRY(nqs_config_get(d->cfg, "sampler", nqs_sampler_options, nqs_sampler_n_options, sampler_vals));
    NQS_TRY(nqs_config_get(d->cfg, "optimizer", nqs_optimizer_options, nqs_optimizer_n_options,
                           optimizer_vals));
    NQS_TRY(nqs_config_get(d->cfg, "output", driver_output_options, OUT_N, d->out));
    NQS_TRY(nqs_config_get(d->cfg, "observables", nqs_obs_options, nqs_obs_n_options, observable_vals));
    NQS_TRY(nqs_config_check_unused(d->cfg));
    NQS_TRY(nqs_sampler_opts_from(sampler_vals, p->ham, p->magnetisation, &d->sampler_opts));
    NQS_TRY(nqs_optimizer_params_from_options(optimizer_vals, &d->optimizer_params));
    NQS_TRY(nqs_obs_setup(&d->obs, observable_vals, p->lat));
    NQS_TRY(nqs_obs_set_marshall(&d->obs, p->ham->marshall));
    nqs_obs_set_hamiltonian(&d->obs, p->ham, p->model);
    NQS_TRY(nqs_obs_check_moves(&d->obs, d->cfg, d->sampler_opts.move == NQS_MOVE_FLIP));
    if (cli->restart) {
        if (cli->output && strcmp(cli->output, cli->restart) != 0)
            NQS_ERROR(NQS_EINVAL, "--restart continues in %s; -o %s cannot be combined with it",
                      cli->restart, cli->output);
        snprintf(d->path, sizeof d->path, "%s", cli->restart);
    } else {
        snprintf(d->path, sizeof d->path, "%s", cli->output ? cli->output : d->out[OUT_FILE].str);
    }
    int nc = d->sampler_opts.n_chains;
    if (d->size > nc)
        NQS_ERROR(NQS_EINVAL, "[sampler] chains = %d cannot be spread over %d MPI ranks: every rank "
                  "needs at least one chain (raise chains or start at most %d ranks)", nc, d->size,
                  nc);
    nqs_comm_split(nc, d->rank, d->size, &d->first, &d->n_local);

    struct nqs_model *m = p->model;
    d->smp = nqs_sampler_alloc(&d->sampler_opts, m, p->ham, d->first, d->n_local);
    if (!d->smp) return NQS_ENOMEM;
    int per_chain = d->smp->per_chain;
    d->ns_local = per_chain * d->n_local;
    d->opt = nqs_optimizer_alloc(&d->optimizer_params, m->n_par, d->ns_local);
    if (!d->opt) return NQS_ENOMEM;
    NQS_TRY(nqs_optimizer_set_chains(d->opt, nc, d->first, d->n_local, per_chain));
    long fs = driver_final_samples(d->out[OUT_FINAL_SAMPLES].i, d->sampler_opts.n_samples);
    /* samples per chain of the final evaluation (the variational state's own
     * buffers; the driver's below hold one iteration) */
    int final_per_chain = (int)((fs + nc - 1) / nc);
    if (d->sampler_opts.exact) final_per_chain = per_chain; /* the same enumeration, exact */
    size_t rows = (size_t)d->n_local * (size_t)per_chain, rows_all = (size_t)nc * (size_t)per_chain;
    size_t P = (size_t)m->n_par, n_obs = (size_t)(d->obs.n > 0 ? d->obs.n : 1);
    NQS_TRY(nqs_obs_workspaces(&d->obs, d->n_local));
    d->vs = nqs_vstate_alloc(m, p->ham, d->smp, &d->obs, final_per_chain,
                             d->obs.every > 0 ? per_chain : 0, d->first, d->n_local, d->rank);
    if (!d->vs) return NQS_ENOMEM;
    d->obs_value = malloc(n_obs * sizeof *d->obs_value);
    d->obs_error = malloc(n_obs * sizeof *d->obs_error);
    d->eloc = malloc(rows * sizeof *d->eloc);
    d->eloc_all = malloc(rows_all * sizeof *d->eloc_all);
    d->eloc_clip = malloc(rows * sizeof *d->eloc_clip);
    d->clip_scratch = malloc(rows_all * sizeof *d->clip_scratch);
    d->O = malloc((size_t)d->ns_local * P * sizeof *d->O);
    d->par_good = malloc(P * sizeof *d->par_good);
    d->par_prev = malloc(P * sizeof *d->par_prev);
    d->opt_state = malloc((nqs_optimizer_state_size(d->opt) + 1) * sizeof *d->opt_state);
    d->ck_chains = malloc((size_t)nc * (size_t)m->n_sites);
    d->ck_rng = malloc((size_t)nc * nqs_sampler_rng_size());
    if (d->sampler_opts.exact) {
        d->logp_all = malloc(rows_all * sizeof *d->logp_all);
        d->w_all = malloc(rows_all * sizeof *d->w_all);
        if (!d->logp_all || !d->w_all) NQS_ERROR(NQS_ENOMEM, "out of memory for the exact enumeration");
        /* SR averages with this rank's rows' probabilities (set every iteration) */
        nqs_optimizer_set_weights(d->opt, d->w_all + (size_t)d->first * (size_t)per_chain);
    }
    if (!d->eloc || !d->eloc_all || !d->eloc_clip || !d->clip_scratch || !d->O || !d->par_good ||
        !d->par_prev || !d->obs_value || !d->obs_error || !d->opt_state || !d->ck_chains || !d->ck_rng)
        NQS_ERROR(NQS_ENOMEM, "out of memory for %d samples x %d parameters (%.1f GiB)", d->ns_local,
                  m->n_par, (double)d->ns_local * (double)P * 16.0 / 1073741824.0);

    d->input_text = nqs_config_dump(d->cfg);
    nqs_lattice_describe(p->lat, d->lattice_desc, sizeof d->lattice_desc);
    size_t pos = 0;
    for (int k = 0; k < cli->argc && pos + 2 < sizeof d->command_line; k++)
        pos += (size_t)snprintf(d->command_line + pos, sizeof d->command_line - pos, "%s%s",
                                k ? " " : "", cli->argv[k]);
    return NQS_OK;
}

/* Stop signals: until the first write (reading the input, the couplings, an
 * exact reference energy) they keep their default action and end the
 * process at once, as nothing needs saving; from here on they set the flag
 * the loop polls, which stops after the current iteration with a checkpoint. */
static void driver_catch_signals(struct driver *d)
{
    if (d->signals_caught) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = driver_on_signal;
    sigemptyset(&sa.sa_mask);
    for (int k = 0; k < DRIVER_N_SIGNALS; k++) sigaction(driver_signals[k], &sa, &d->old_action[k]);
    d->signals_caught = 1;
}

/* Rank 0, restart: what the checkpoint holds besides sizes (io_h5.c checks
 * those) must be usable, before the file is changed: an optimiser state of
 * this method with values in range, spins of +-1 in the sampler's sector, and
 * sound RNG states. (Parameters that are not finite are the guard rail's
 * business: the first iteration fails, retries and stops with the file
 * intact.) */
static int driver_check_checkpoint(struct driver *d)
{
    size_t n_state = nqs_optimizer_state_size(d->opt);
    int rc = nqs_optimizer_state_set(d->opt, d->opt_state, n_state);
    if (rc == NQS_OK)
        rc = nqs_sampler_check_state(d->smp, 0, d->sampler_opts.n_chains, d->ck_chains, d->ck_rng);
    if (rc != NQS_OK) {
        char msg[768];
        snprintf(msg, sizeof msg, "%s", nqs_last_error());
        NQS_ERROR(rc, "cannot restart from %s: %s", d->path, msg);
    }
    return NQS_OK;
}

/* Rank 0, new run: the result file must not be the input file itself, under
 * any spelling (./a.ini, a link): --force would replace the input with HDF5.
 * Compared by device and inode. */
static int driver_check_output(const struct driver *d)
{
    struct stat out, in;
    const char *input = d->cli->config_path;
    if (input && stat(d->path, &out) == 0 && stat(input, &in) == 0 && in.st_dev == out.st_dev &&
        in.st_ino == out.st_ino)
        NQS_ERROR(NQS_EINVAL, "refusing to write the result file %s over the input file %s (the "
                  "same file; accepted: another -o FILE or [output] file)", d->path, input);
    return NQS_OK;
}

/* Rank 0: reference energy, then the result file (created, or opened to
 * continue with every chain of the checkpoint read). */
static int driver_setup_files(struct driver *d)
{
    const struct nqs_cli *cli = d->cli;
    struct nqs_problem *p = d->prob;
    struct nqs_model *m = p->model;
    /* Refusal of an existing output comes before the (possibly long) exact
     * reference energy; nqs_h5_create checks again when it creates the file. */
    if (!cli->restart) NQS_TRY(driver_check_output(d));
    if (!cli->restart && !cli->force && access(d->path, F_OK) == 0)
        NQS_ERROR(NQS_EIO, "refusing to overwrite %s (use --force)", d->path);
    NQS_TRY(driver_reference(d));
    struct nqs_h5_meta meta = {
        .command_line = d->command_line, .input = d->input_text, .lattice = d->lattice_desc,
        .hamiltonian = p->ham_ops->name, .model = p->model_ops->name, .shared = p->model_ops->shared,
        .n_sites = m->n_sites, .n_params = m->n_par, .n_chains = d->sampler_opts.n_chains,
        .rng_state_bytes = (int)nqs_sampler_rng_size(),
        .optimizer_state_len = (int)nqs_optimizer_state_size(d->opt),
        .lat = p->lat, .history_obs = &d->obs,
    };
    if (cli->restart) {
        /* Everything read from the file is checked before its first change:
         * a refused restart leaves /result, /reference and the history as
         * they were. */
        NQS_TRY(nqs_h5_restart_open(d->path, &meta, &d->h5));
        if (d->obs.every > 0) NQS_TRY(nqs_h5_check_history_obs(d->h5, &d->obs));
        struct nqs_h5_checkpoint ck = {.params = m->par, .optimizer_state = d->opt_state,
                                       .chains = d->ck_chains, .rng_state = d->ck_rng};
        NQS_TRY(nqs_h5_checkpoint_read(d->h5, 0, d->sampler_opts.n_chains, &ck));
        NQS_TRY(driver_check_checkpoint(d));
        d->it0 = ck.iteration;
        d->wall_offset = ck.wall_time;
        d->samples_total = ck.samples_total;
        driver_catch_signals(d);
        NQS_TRY(nqs_h5_restart_commit(d->h5));
    } else {
        driver_catch_signals(d);
        NQS_TRY(nqs_h5_create(d->path, &meta, cli->force, &d->h5));
    }
    return NQS_OK;
}

/* Every rank: the parameters (and on restart the optimiser state, the
 * counters and this rank's chains) from rank 0. */
static int driver_setup_share(struct driver *d)
{
    struct nqs_model *m = d->prob->model;
    driver_catch_signals(d); /* ranks > 0; rank 0 did before its first write */
    double hdr[3] = {(double)d->it0, d->wall_offset, d->samples_total};
    NQS_TRY(nqs_comm_bcast(hdr, sizeof hdr, 0));
    NQS_TRY(nqs_comm_bcast(m->par, (size_t)m->n_par * sizeof *m->par, 0));
    m->ops->refresh(m);
    if (!d->cli->restart) return NQS_OK;
    d->it0 = (long)hdr[0];
    d->wall_offset = hdr[1];
    d->samples_total = hdr[2];
    size_t n_state = nqs_optimizer_state_size(d->opt), N = (size_t)m->n_sites;
    size_t rs = nqs_sampler_rng_size();
    NQS_TRY(nqs_comm_bcast(d->opt_state, n_state * sizeof *d->opt_state, 0));
    int8_t *chains = d->ck_chains + (size_t)d->first * N;
    uint8_t *rng = d->ck_rng + (size_t)d->first * rs;
    NQS_TRY(nqs_comm_scatter_chains(d->ck_chains, chains, N, d->sampler_opts.n_chains));
    NQS_TRY(nqs_comm_scatter_chains(d->ck_rng, rng, rs, d->sampler_opts.n_chains));
    NQS_TRY(nqs_optimizer_state_set(d->opt, d->opt_state, n_state));
    nqs_optimizer_restart_schedule(d->opt,
                                   driver_set_on_command_line(d, "optimizer", "learning_rate"),
                                   driver_set_on_command_line(d, "optimizer", "diag_shift"));
    return nqs_sampler_set_state(d->smp, chains, rng);
}

static int driver_setup(struct driver *d)
{
    NQS_TRY(nqs_comm_check(driver_read_config(d)));
    NQS_TRY(nqs_comm_check(driver_setup_local(d)));
    NQS_TRY(nqs_comm_check(d->rank == 0 ? driver_setup_files(d) : NQS_OK));
    return nqs_comm_check(driver_setup_share(d));
}

/* Collective: every rank's chains to rank 0, which writes the checkpoint. */
static int driver_checkpoint(struct driver *d, long iterations_done)
{
    struct nqs_model *m = d->prob->model;
    size_t N = (size_t)m->n_sites, rs = nqs_sampler_rng_size();
    nqs_optimizer_state_get(d->opt, d->opt_state);
    nqs_sampler_get_state(d->smp, d->ck_chains + (size_t)d->first * N, d->ck_rng + (size_t)d->first * rs);
    NQS_TRY(nqs_comm_gather_chains(d->ck_chains + (size_t)d->first * N, d->ck_chains, N, d->sampler_opts.n_chains));
    NQS_TRY(nqs_comm_gather_chains(d->ck_rng + (size_t)d->first * rs, d->ck_rng, rs, d->sampler_opts.n_chains));
    int rc = NQS_OK;
    if (d->rank == 0) {
        struct nqs_h5_checkpoint ck = {
            .iteration = iterations_done,
            .wall_time = d->wall_offset + driver_now() - d->t_loop,
            .samples_total = d->samples_total,
            .params = m->par, .optimizer_state = d->opt_state, .chains = d->ck_chains,
            .rng_state = d->ck_rng,
        };
        rc = nqs_h5_checkpoint_write(d->h5, &ck);
    }
    return nqs_comm_check(rc);
}

/* Exact enumeration: every row's logp to every rank (all = 1) or to rank 0,
 * then the probabilities w_all in global row order (the same bits everywhere). */
static int driver_exact_weights(struct driver *d, int all)
{
    int per_chain = d->smp->per_chain, nc = d->sampler_opts.n_chains;
    size_t bytes = (size_t)per_chain * sizeof *d->logp_all;
    if (all)
        NQS_TRY(nqs_comm_allgather_chains(d->smp->logp, d->logp_all, bytes, nc));
    else
        NQS_TRY(nqs_comm_gather_chains(d->smp->logp, d->logp_all, bytes, nc));
    int rc = all || d->rank == 0
                 ? nqs_sampler_exact_weights(d->logp_all, (long)per_chain * nc, d->w_all)
                 : NQS_OK;
    return nqs_comm_check(rc);
}

/* Statistics of per_chain values per chain, every chain in global order:
 * weighted by the enumeration's probabilities w_all for exact sampling. */
static int driver_stats(const struct driver *d, const double complex *x, int per_chain,
                        struct nqs_stats *st)
{
    int nc = d->sampler_opts.n_chains;
    if (d->sampler_opts.exact) return nqs_stats_weighted(x, d->w_all, (long)per_chain * nc, st);
    return nqs_stats_compute(x, nc, per_chain, st);
}

/* Acceptance rate; NaN for exact sampling (no Markov chain). */
static double driver_acceptance(const struct driver *d, long n_prop, long n_acc)
{
    if (d->sampler_opts.exact) return NAN;
    return n_prop > 0 ? (double)n_acc / (double)n_prop : 0.0;
}

/* Sampling, statistics and one update; fills the history row. */
static int driver_iteration(struct driver *d, long it, struct nqs_h5_row *row)
{
    struct nqs_problem *p = d->prob;
    struct nqs_model *m = p->model;
    int per_chain = d->smp->per_chain;
    double t0 = driver_now();
    d->rejected = 0;
    d->obs_measured = 0;
    /* per-iteration observables: evaluated on this iteration's samples (they
     * only read the chains' caches, so the trajectory keeps its bits) */
    int measure = d->obs.every > 0 && d->obs.n > 0 && (it + 1) % d->obs.every == 0;
    int rc = nqs_sampler_sample(d->smp, m, p->ham, it == 0 || d->reburn, per_chain, d->eloc, d->O,
                                (size_t)m->n_par, measure ? &d->obs : NULL,
                                measure ? d->vs->obs_vals : NULL);
    d->reburn = 0;
    if (rc == NQS_OK && it == d->it0) rc = driver_test_fault(d, "sample");
    rc = nqs_comm_check(rc);
    if (rc == NQS_OK && d->sampler_opts.exact) rc = driver_exact_weights(d, 1);
    d->sampling_failed = rc != NQS_OK;
    NQS_TRY(rc);
    /* Statistics from every chain, in global order, on every rank. */
    NQS_TRY(nqs_comm_allgather_chains(d->eloc, d->eloc_all, (size_t)per_chain * sizeof *d->eloc,
                                      d->sampler_opts.n_chains));
    struct nqs_stats st;
    NQS_TRY(nqs_comm_check(driver_stats(d, d->eloc_all, per_chain, &st)));
    long acc[2];
    nqs_sampler_acceptance(d->smp, &acc[0], &acc[1]);
    NQS_TRY(nqs_comm_sum_long(acc, 2));
    long n_prop = acc[0], n_acc = acc[1];
    double t1 = driver_now();
    d->t_sample += t1 - t0;
    /* Step review (optimizer.h): the statistics are the same on every rank,
     * so is the verdict. A rejected update is redone shorter by the
     * optimiser; the caller samples again. */
    struct nqs_optimizer_sample now = {st.mean, st.error, driver_acceptance(d, n_prop, n_acc),
                                       st.rhat, st.variance};
    driver_test_review(d, it, &now);
    rc = nqs_optimizer_review(d->opt, &now, m->par, &d->rejected, d->reject_why,
                              sizeof d->reject_why);
    if (rc != NQS_OK) {
        d->unrecoverable = 1;
        m->ops->refresh(m);
        return rc;
    }
    if (d->rejected) {
        m->ops->refresh(m);
        return NQS_OK;
    }
    if (measure) {
        NQS_TRY(nqs_vstate_obs_stats(d->vs, d->vs->obs_vals, per_chain, d->sampler_opts.exact ? d->w_all : NULL,
                                     d->obs_value, d->obs_error));
        d->obs_measured = 1;
    }
    if (d->reject_why[0] && d->verbose)
        fprintf(stderr, "warning: iteration %ld: %s: a fluctuation of the sampler, not an update's "
                "doing; going on from there\n", it, d->reject_why);
    /* Clipping (optimizer.h) from the statistics of all chains, alike on
     * every rank; exact enumeration has no outliers, only weights. */
    long n_clipped = 0;
    const double complex *eloc_update = d->eloc;
    if (!d->sampler_opts.exact && d->optimizer_params.clip > 0) {
        n_clipped = nqs_optimizer_clip(d->opt, d->eloc_all, (long)per_chain * d->sampler_opts.n_chains,
                                       d->eloc, d->ns_local, d->eloc_clip, d->clip_scratch);
        eloc_update = d->eloc_clip;
        NQS_TRY(nqs_comm_sum_long(&n_clipped, 1));
    }
    struct nqs_optimizer_info info;
    rc = nqs_optimizer_step(d->opt, d->O, m->n_par, eloc_update, d->ns_local, m->par, &info);
    NQS_TRY(nqs_comm_check(rc));
    /* The update has the same bits on every rank (sr.h); rank 0's copy makes
     * that hold even across nodes whose libraries round differently. */
    NQS_TRY(nqs_comm_bcast(m->par, (size_t)m->n_par * sizeof *m->par, 0));
    d->t_opt += driver_now() - t1;
    m->ops->refresh(m);
    row->iteration = it;
    row->energy = st.mean;
    row->energy_imag = st.mean_imag;
    row->energy_error = st.error;
    row->energy_variance = st.variance;
    row->v_score = nqs_stats_vscore(m->n_sites, st.variance, st.mean);
    row->acceptance = driver_acceptance(d, n_prop, n_acc);
    row->rhat = st.rhat;
    row->tau = st.tau;
    row->learning_rate = info.learning_rate;
    row->diag_shift = info.diag_shift;
    row->sr_residual = info.residual;
    row->grad_norm = info.grad_norm;
    row->step_length = info.fs_step;
    row->rejections = (double)nqs_optimizer_rejected(d->opt);
    row->clipped = (double)n_clipped;
    row->n_samples = d->sampler_opts.exact ? (double)d->smp->dim
                                           : (double)per_chain * d->sampler_opts.n_chains;
    return NQS_OK;
}

static void driver_progress(const struct driver *d, const struct nqs_h5_row *row, long total,
                            double elapsed, int tty)
{
    long done = row->iteration + 1 - d->it0;
    double eta = done > 0 ? elapsed / (double)done * (double)(total - row->iteration - 1) : 0;
    char ref[64] = "";
    if (isfinite(d->ref_energy))
        snprintf(ref, sizeof ref, "  rel.err %.2e", fabs((row->energy - d->ref_energy) / d->ref_energy));
    char acc[32] = "  exact";
    if (!d->sampler_opts.exact) snprintf(acc, sizeof acc, "  acc %.2f", row->acceptance);
    fprintf(stderr, "%s%6ld/%ld  E = %.6f +- %.6f  var %.4g%s%s  ETA %.0fs%s",
            tty ? "\r" : "", row->iteration + 1, total, row->energy, row->energy_error,
            row->energy_variance, ref, acc, eta, tty ? "   " : "\n");
    fflush(stderr);
}

static int driver_loop_body(struct driver *d, int8_t *snap_s, unsigned char *snap_rng);

static int driver_loop(struct driver *d)
{
    struct nqs_model *m = d->prob->model;
    /* The chains as they were before an iteration's first sampling, i.e. in
     * equilibrium with the parameters the step review's reference came from:
     * a rejected update is sampled again from there (with the RNG streams
     * going on), not from wherever the bad update drove the chains. */
    size_t n_spins = (size_t)d->n_local * (size_t)m->n_sites;
    size_t n_rng = (size_t)d->n_local * nqs_sampler_rng_size();
    int8_t *snap_s = malloc(2 * n_spins + 1);
    unsigned char *snap_rng = malloc(2 * n_rng + 1);
    if (!snap_s || !snap_rng) {
        free(snap_s);
        free(snap_rng);
        NQS_ERROR(NQS_ENOMEM, "out of memory for the chain snapshot");
    }
    int rc_loop = driver_loop_body(d, snap_s, snap_rng);
    free(snap_s);
    free(snap_rng);
    return rc_loop;
}

static int driver_loop_body(struct driver *d, int8_t *snap_s, unsigned char *snap_rng)
{
    struct nqs_model *m = d->prob->model;
    long total = d->optimizer_params.iterations;
    int tty = d->verbose && isatty(STDERR_FILENO);
    long every = d->out[OUT_CKPT_EVERY].i, print_every = d->out[OUT_PRINT_EVERY].i;
    double t0 = d->t_loop = driver_now();
    int have_prev = 0; /* par_prev holds the parameters before the last update */
    int warned = 0;    /* the frozen-chain warning is given once per run */
    double anneal_scale = nqs_optimizer_anneal_scale(d->opt);
    size_t n_spins = (size_t)d->n_local * (size_t)m->n_sites;
    size_t n_rng = (size_t)d->n_local * nqs_sampler_rng_size();
    d->it_done = d->it0;
    for (long it = d->it0; it < total; it++) {
        struct nqs_h5_row row;
        memset(&row, 0, sizeof row);
        memcpy(d->par_good, m->par, (size_t)m->n_par * sizeof *m->par);
        if (!d->sampler_opts.exact) nqs_sampler_get_state(d->smp, snap_s, snap_rng);
        int rc;
        for (int attempt = 0;;) {
            rc = driver_iteration(d, it, &row);
            if (rc == NQS_OK && d->rejected) {
                /* the previous update, redone shorter: sample it again, from
                 * the chains of before this iteration, RNG streams going on */
                memcpy(d->par_good, m->par, (size_t)m->n_par * sizeof *m->par);
                have_prev = 0;
                d->reburn = 1;
                if (!d->sampler_opts.exact) {
                    nqs_sampler_get_state(d->smp, snap_s + n_spins, snap_rng + n_rng);
                    NQS_TRY(nqs_sampler_set_state(d->smp, snap_s, snap_rng + n_rng));
                }
                if (d->verbose)
                    fprintf(stderr, "%siteration %ld: %s, learning rate halved\n",
                            tty ? "\n" : "", it, d->reject_why);
                continue;
            }
            if (rc != NQS_ENUMERIC || d->unrecoverable || attempt == DRIVER_MAX_RETRIES) break;
            char msg[512];
            snprintf(msg, sizeof msg, "%s", nqs_last_error());
            const char *to = "";
            if (d->sampling_failed && have_prev) {
                memcpy(d->par_good, d->par_prev, (size_t)m->n_par * sizeof *m->par);
                have_prev = 0;
                to = " to before the last update";
            }
            memcpy(m->par, d->par_good, (size_t)m->n_par * sizeof *m->par);
            m->ops->refresh(m);
            double s = d->optimizer_params.method == NQS_METHOD_SR ? nqs_optimizer_raise_shift(d->opt, 10.0) : 0;
            if (d->verbose)
                fprintf(stderr, "%siteration %ld: %s; parameters rolled back%s%s (retry %d of %d)\n",
                        tty ? "\n" : "", it, msg, to, s > 0 ? ", SR shift raised" : "", attempt + 1,
                        DRIVER_MAX_RETRIES);
            attempt++;
        }
        if (rc != NQS_OK) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", nqs_last_error());
            if (rc != NQS_ENUMERIC || d->unrecoverable)
                NQS_ERROR(rc, "iteration %ld failed: %s; %s keeps %ld completed iterations and its "
                              "last checkpoint", it, msg, d->path, it);
            NQS_ERROR(rc, "iteration %ld failed after %d retries: %s; %s keeps %ld completed iterations "
                          "and its last checkpoint",
                      it, DRIVER_MAX_RETRIES, msg, d->path, it);
        }
        memcpy(d->par_prev, d->par_good, (size_t)m->n_par * sizeof *m->par);
        have_prev = 1;
        double scale = nqs_optimizer_anneal_scale(d->opt);
        if (d->verbose && scale != anneal_scale)
            fprintf(stderr, "%siteration %ld: the energy has stopped falling (plateau over %d "
                    "iterations); learning rate x%g\n", tty ? "\n" : "", it,
                    2 * d->optimizer_params.anneal_window, scale);
        anneal_scale = scale;
        d->samples_total += row.n_samples;
        row.samples_total = d->samples_total;
        double elapsed = driver_now() - t0;
        row.wall_time = d->wall_offset + elapsed;
        NQS_TRY(nqs_comm_check(d->rank == 0 ? nqs_h5_append(d->h5, &row) : NQS_OK));
        if (d->obs_measured)
            NQS_TRY(nqs_comm_check(d->rank == 0 ? nqs_h5_append_obs(d->h5, &d->obs, it, d->obs_value,
                                                                    d->obs_error)
                                                : NQS_OK));
        /* A signal seen by any rank stops every rank after this iteration;
         * so does the time limit when any rank has reached it. */
        double limit = d->optimizer_params.time_limit;
        int flags[2] = {(int)driver_stop_signal, limit > 0 && driver_now() - t0 >= limit};
        NQS_TRY(nqs_comm_max_int(flags, 2));
        int stop = flags[0], timeup = flags[1] && it + 1 < total;
        d->it_done = it + 1;
        if ((it + 1) % every == 0 || it + 1 == total || stop || timeup)
            NQS_TRY(driver_checkpoint(d, it + 1));
        if (d->verbose && !warned && !d->sampler_opts.exact &&
            (row.acceptance < DRIVER_LOW_ACCEPTANCE || row.rhat > DRIVER_HIGH_RHAT)) {
            warned = 1;
            fprintf(stderr, "%swarning: iteration %ld: acceptance %.2g, split-R-hat %.3g: the "
                    "Markov chains barely move (|psi|^2 sharply peaked), so the energy and its "
                    "error may be biased; if it persists, lower [optimizer] learning_rate, raise "
                    "diag_shift, or use more chains or a longer sweep\n",
                    tty ? "\n" : "", it, row.acceptance, row.rhat);
        }
        if (d->verbose &&
            (tty || (it + 1) % print_every == 0 || it + 1 == total || it == d->it0 || timeup))
            driver_progress(d, &row, total, elapsed, tty);
        if (stop) {
            if (tty) fputc('\n', stderr);
            return nqs_comm_check(nqs_error_set(
                NQS_STOPPED, __FILE__, __LINE__,
                "stopped by signal %d after iteration %ld; checkpoint written to %s (continue "
                "with: nqs run --restart %s)", stop, it + 1, d->path, d->path));
        }
        if (timeup) {
            if (d->verbose)
                fprintf(stderr, "%s[optimizer] time_limit = %g s reached after iteration %ld of %ld; "
                        "checkpoint written, final evaluation follows (continue with: nqs run "
                        "--restart %s)\n", tty ? "\n" : "", limit, it + 1, total, d->path);
            return NQS_OK;
        }
    }
    if (tty) fputc('\n', stderr);
    return NQS_OK;
}

/* Rank 0: statistics of every chain's final samples, /result and /reference.
 * Collective (the observables' statistics gather to rank 0). */
static int driver_final_write(struct driver *d, struct nqs_h5_result *res)
{
    struct nqs_model *m = d->prob->model;
    struct nqs_stats st;
    NQS_TRY(nqs_comm_check(nqs_vstate_energy(d->vs, &st)));
    NQS_TRY(nqs_vstate_obs_stats(d->vs, NULL, 0, NULL, d->obs_value, d->obs_error));
    *res = (struct nqs_h5_result){
        .energy = st.mean, .energy_error = st.error, .energy_variance = st.variance,
        .v_score = nqs_stats_vscore(m->n_sites, st.variance, st.mean), .tau = st.tau, .rhat = st.rhat,
        .acceptance = nqs_vstate_acceptance(d->vs), .n_samples = nqs_vstate_n_samples(d->vs),
        .params = m->par, .sector = d->ref_sector, .obs = &d->obs, .obs_value = d->obs_value,
        .obs_error = d->obs_error,
    };
    if (d->rank != 0) return NQS_OK;
    struct nqs_h5_observable obs[NQS_H5_MAX_SCALARS]; /* attributes of /result/observables */
    d->have_lanczos = nqs_vstate_lanczos(d->vs, &d->lanczos[0], &d->lanczos[1], &d->lanczos[2]);
    int n_obs = nqs_h5_scalars(&d->obs, d->obs_value, d->obs_error,
                               d->have_lanczos ? d->lanczos : NULL, obs);
    struct nqs_h5_reference ref = {d->ref_energy, d->ref_source, d->ref_sector};
    return nqs_h5_finish(d->h5, res, isfinite(d->ref_energy) ? &ref : NULL, obs, n_obs);
}

/* The final samples' statistics, as the step review reads them. Collective. */
static int driver_final_sample(struct driver *d, struct nqs_optimizer_sample *s)
{
    struct nqs_stats st;
    NQS_TRY(nqs_comm_check(nqs_vstate_energy(d->vs, &st)));
    *s = (struct nqs_optimizer_sample){st.mean, st.error, nqs_vstate_acceptance(d->vs), st.rhat,
                                       st.variance};
    return NQS_OK;
}

static int driver_final(struct driver *d, struct nqs_h5_result *res)
{
    struct nqs_model *m = d->prob->model;
    /* chains that never ran (iterations = 0) get the first burn-in */
    NQS_TRY(nqs_vstate_sample(d->vs, d->it_done == 0));
    struct nqs_optimizer_sample fin;
    NQS_TRY(driver_final_sample(d, &fin));
    /* The last update was never reviewed (no iteration followed it): the
     * final samples review it like any other, on every rank alike (same
     * statistics everywhere). If they condemn it, the parameters before it
     * are evaluated instead, from freshly equilibrated chains. */
    char why[256];
    if (d->it_done > d->it0 && nqs_optimizer_final_review(d->opt, &fin, m->par, why, sizeof why)) {
        if (d->verbose)
            fprintf(stderr, "final evaluation: %s, so the last update is taken back and the "
                    "parameters before it are evaluated\n", why);
        m->ops->refresh(m);
        NQS_TRY(nqs_vstate_sample(d->vs, 1));
        NQS_TRY(driver_final_sample(d, &fin));
    }
    /* Samples that the review would still condemn (typically a variance
     * exploding next to nodes of psi, where the local energy is heavy-tailed)
     * give an energy nobody should quote without a warning. */
    const char *hook = getenv("NQS_TEST_STEP_REVIEW"); /* test hook, see driver_test_review */
    if (hook && strcmp(hook, "final-variance") == 0) fin.variance *= 1e6;
    if (nqs_optimizer_final_check(d->opt, &fin, why, sizeof why) && d->rank == 0)
        fprintf(stderr, "warning: final evaluation: %s against the last iteration's samples: the "
                "final energy and its error bar are unreliable (heavy-tailed local energies, "
                "e.g. near nodes of psi, or unmixed chains); compare the last iterations of "
                "/history, or measure again with more samples (nqs measure)\n", why);
    int rc = driver_final_write(d, res);
    return nqs_comm_check(rc);
}

static int driver_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static void driver_report(const struct driver *d, const struct nqs_h5_result *res, double wall)
{
    const struct nqs_problem *p = d->prob;
    double rel = isfinite(d->ref_energy) ? fabs((res->energy - d->ref_energy) / d->ref_energy) : NAN;
    if (d->cli->json) {
        /* A collapsed run has v_score = 0/0: the writer prints null (json.h). */
        struct nqs_json_writer w;
        nqs_json_init(&w, stdout, 0);
        nqs_json_begin_object(&w, NULL);
        nqs_json_put_number(&w, "energy", res->energy);
        nqs_json_put_number(&w, "energy_error", res->energy_error);
        nqs_json_put_number(&w, "energy_variance", res->energy_variance);
        nqs_json_put_number(&w, "v_score", res->v_score);
        nqs_json_put_int(&w, "n_params", p->model->n_par);
        nqs_json_put_int(&w, "n_sites", p->model->n_sites);
        nqs_json_put_string(&w, "model", p->model_ops->name);
        nqs_json_put_bool(&w, "shared", p->model_ops->shared);
        nqs_json_put_string(&w, "hamiltonian", p->ham_ops->name);
        nqs_json_put_string(&w, "lattice", d->lattice_desc);
        nqs_json_put_int(&w, "n_samples", res->n_samples);
        nqs_json_put_int(&w, "iterations", d->it_done);
        nqs_json_put_number(&w, "reference_energy", d->ref_energy);
        if (isfinite(d->ref_energy)) nqs_json_put_string(&w, "reference_source", d->ref_source);
        nqs_json_put_number(&w, "relative_error", rel);
        nqs_json_put_string(&w, "file", d->path);
        nqs_json_put_int(&w, "ranks", d->size);
        nqs_json_put_int(&w, "threads", driver_threads());
        nqs_json_put_number(&w, "time_sampling", d->t_sample);
        nqs_json_put_number(&w, "time_optimizer", d->t_opt);
        nqs_json_put_number(&w, "wall_time", wall);
        if (d->have_lanczos) {
            nqs_json_put_number(&w, "energy_lanczos", d->lanczos[0]);
            nqs_json_put_number(&w, "energy_lanczos_error", d->lanczos[1]);
            nqs_json_put_number(&w, "lanczos_alpha", d->lanczos[2]);
        }
        nqs_json_put_string(&w, "convention", "pauli");
        nqs_json_end(&w);
        return;
    }
    printf("model        %s (%s, %d parameters)\n", p->model_ops->name,
           p->model_ops->shared ? "shared" : "unshared", p->model->n_par);
    printf("system       %s, %s\n", d->lattice_desc, p->ham_ops->name);
    if (d->sampler_opts.exact)
        printf("energy       %.10f (Pauli units, exact over %ld configurations)\n", res->energy,
               res->n_samples);
    else
        printf("energy       %.8f +- %.8f (Pauli units, %ld samples)\n", res->energy,
               res->energy_error, res->n_samples);
    printf("per site     %.8f\n", res->energy / p->model->n_sites);
    printf("variance     %.6g   V-score %.4g\n", res->energy_variance, res->v_score);
    if (isfinite(d->ref_energy))
        printf("reference    %.8f (%s), relative error %.3e\n", d->ref_energy, d->ref_source, rel);
    if (d->have_lanczos) {
        printf("lanczos      %.8f +- %.8f (energy of (1 + alpha H) psi, alpha = %.6g)", d->lanczos[0],
               d->lanczos[1], d->lanczos[2]);
        if (isfinite(d->ref_energy))
            printf(", relative error %.3e", fabs((d->lanczos[0] - d->ref_energy) / d->ref_energy));
        printf("\n");
    }
    long total = d->optimizer_params.iterations;
    printf("iterations   %ld of %ld%s\n", d->it_done, total,
           d->it_done < total ? " (time_limit reached; --restart continues)" : "");
    printf("result file  %s\n", d->path);
    printf("time         %.1f s (sampling %.1f s, optimiser %.1f s) on %d rank%s x %d thread%s\n", wall,
           d->t_sample, d->t_opt, d->size, d->size == 1 ? "" : "s", driver_threads(),
           driver_threads() == 1 ? "" : "s");
}

/* Rank 0, after the final write: a wavefunction whose parameters ran off (a
 * step far too large, init_std far too wide) puts |psi|^2 on a few
 * configurations; every ratio to a neighbour is then ~0, E_loc is the
 * diagonal energy of those configurations, and the variance collapses to
 * ~0, which looks like an eigenstate. Say so instead of reporting it
 * silently. Thresholds: a V-score below 1e-12 is beyond what a converged
 * run reaches except for single-configuration ground states, and converged
 * parameters stay well below 10 in magnitude. */
#define DRIVER_COLLAPSED_VSCORE 1e-12
#define DRIVER_COLLAPSED_PARAM 10.0
static void driver_warn_collapsed(const struct driver *d, const struct nqs_h5_result *res)
{
    const struct nqs_model *m = d->prob->model;
    double pmax = 0;
    for (int k = 0; k < m->n_par; k++)
        if (cabs(m->par[k]) > pmax || !isfinite(cabs(m->par[k]))) pmax = cabs(m->par[k]);
    if (!(res->v_score < DRIVER_COLLAPSED_VSCORE) || !(pmax > DRIVER_COLLAPSED_PARAM)) return;
    fprintf(stderr, "nqs: warning: the final state has collapsed onto a few configurations "
            "(energy variance %.3g, V-score %.3g, largest |parameter| %.3g): E = %.6f is their "
            "diagonal energy, not a converged variational estimate (expected only if the ground "
            "state is a single configuration); lower [optimizer] learning_rate or [model] "
            "init_std\n", res->energy_variance, res->v_score, pmax, res->energy);
}

static void driver_free(struct driver *d)
{
    nqs_h5_close(d->h5);
    nqs_sampler_free(d->smp);
    nqs_optimizer_free(d->opt);
    nqs_problem_free(d->prob);
    nqs_config_free(d->own_cfg);
    free(d->input_text);
    free(d->eloc);
    free(d->eloc_all);
    free(d->eloc_clip);
    free(d->clip_scratch);
    free(d->logp_all);
    free(d->w_all);
    free(d->O);
    free(d->par_good);
    free(d->par_prev);
    nqs_vstate_free(d->vs);
    free(d->obs_value);
    free(d->obs_error);
    nqs_obs_free(&d->obs);
    free(d->opt_state);
    free(d->ck_chains);
    free(d->ck_rng);
}

int nqs_cmd_run(const struct nqs_cli *cli)
{
    struct driver d;
    memset(&d, 0, sizeof d);
    d.cli = cli;
    d.rank = nqs_comm_rank();
    d.size = nqs_comm_size();
    d.verbose = d.rank == 0 && !cli->quiet;
    driver_stop_signal = 0;

    double t0 = driver_now();
    struct nqs_h5_result res;
    int rc = driver_test_fault(&d, "alone");
    if (rc == NQS_OK) rc = driver_setup(&d);
    if (rc == NQS_OK) rc = driver_loop(&d);
    if (rc == NQS_OK) rc = driver_final(&d, &res);
    if (rc == NQS_OK && d.rank == 0) driver_warn_collapsed(&d, &res);
    if (rc == NQS_OK && d.rank == 0) driver_report(&d, &res, driver_now() - t0);
    driver_free(&d);
    if (d.signals_caught)
        for (int k = 0; k < DRIVER_N_SIGNALS; k++) sigaction(driver_signals[k], &d.old_action[k], NULL);
    return rc;
}
