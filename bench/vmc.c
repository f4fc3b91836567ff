/*
 * vmc.c - the sections of `nqs bench` that run the real pipeline:
 *
 *   sampler    Metropolis moves per second per thread and local energies per
 *              second per thread (Heisenberg 10x10 periodic, rbm and
 *              rbm_symm at alpha = 1 and 4, on 1 and 2 OpenMP threads; and the
 *              periodic chain N = 40 of target b);
 *   iteration  one full VMC iteration (sampling, local energies,
 *              log-derivatives, statistics, optimiser/SR step, refresh, HDF5
 *              append into a temporary file), per-phase breakdown, one thread,
 *              for the target problems below or the problem of a CONFIG;
 *   sr (real)  one SR step per solver on log-derivatives sampled from the
 *              model (after warm-up iterations, so S has the structure of a
 *              run rather than of the initial, almost uniform state);
 *   srsweep    the same per solver and shift over a range of P and N_s: the
 *              measurements behind the `auto` rule of sr.h (not in "all").
 *
 * Problems are built through the input layer (INI text -> config -> problem,
 * sampler and optimiser options), so they are what `nqs run` would build.
 * Times are CPU seconds: the sampler phases come from the sampler's profile
 * (per-chain CLOCK_MONOTONIC intervals scaled by the chain's thread-CPU/wall
 * ratio, summed over chains), the other phases and the iteration total from
 * CLOCK_PROCESS_CPUTIME_ID (all threads); the iteration's wall time is
 * printed too. On a shared machine the CPU figures are the robust ones; a
 * CPU/wall ratio well below the thread count means other processes competed
 * (or, for the HDF5 append, that it waited for I/O). The targets (2-core
 * machine, one thread) are printed next to the figures and judged on CPU time:
 *   a  Heisenberg chain N = 40, rbm_symm alpha 1, 1000 samples, dense SR:
 *      <= 0.05 s per iteration;
 *   b  the same problem: one sample (sweep of N exchange proposals plus one
 *      local energy) <= 25 us;
 *   c  TFIM chain N = 40, rbm alpha 1 (1680 parameters), cg solver: <= 0.1 s
 *      per iteration;
 *   d  Heisenberg 10x10, rbm alpha 4 (40500 parameters), 1000 samples: one SR
 *      step (auto solver, never dense) <= 5 s and <= 4 GiB peak.
 */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "config.h"
#include "error.h"
#include "io_h5.h"
#include "optimizer.h"
#include "problem.h"
#include "sampler.h"
#include "sr.h"
#include "stats.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* ------------------------------------------------------------ problems */

/* The target problems. Optimiser settings of the warm-up: a constant SR
 * shift of 0.01 and learning rate 0.02 (a stable, typical setting), so the
 * timed iterations see the S of a run in progress. */
#define BENCH_VMC_COMMON                                                                       \
    "[sampler]\nchains = 8\nsamples = 1000\n"                                                  \
    "[optimizer]\nmethod = sr\nlearning_rate = 0.02\ndiag_shift = 0.01\n"

static const char bench_vmc_ini_a[] =
    "[lattice]\ntype = chain\nextent = 40\nboundary = periodic\n"
    "[hamiltonian]\ntype = heisenberg\nJ = 1\n"
    "[model]\ntype = rbm_symm\nalpha = 1\nseed = 1\n" BENCH_VMC_COMMON "solver = dense\n";

static const char bench_vmc_ini_c[] =
    "[lattice]\ntype = chain\nextent = 40\nboundary = periodic\n"
    "[hamiltonian]\ntype = ising\nJ = 1\nh = 1\n"
    "[model]\ntype = rbm\nalpha = 1\nseed = 1\n" BENCH_VMC_COMMON "solver = cg\n";

static const char bench_vmc_ini_d[] =
    "[lattice]\ntype = square\nextent = 10,10\nboundary = periodic\n"
    "[hamiltonian]\ntype = heisenberg\nJ = 1\n"
    "[model]\ntype = rbm\nalpha = 4\nseed = 1\n" BENCH_VMC_COMMON "solver = auto\n";

struct bench_vmc_target {
    const char *label;
    const char *ini;
    int warmup, timed;  /* iterations */
    double target_iter; /* seconds of CPU per iteration, 0 = none */
    double target_sr;   /* seconds of CPU per SR step, 0 = none */
    double target_sample_us; /* microseconds per sample (sweep + local energy), 0 = none */
};

static const struct bench_vmc_target bench_vmc_targets[] = {
    {"a,b heis chain40 rbm_symm a=1", bench_vmc_ini_a, 50, 20, 0.05, 0, 25.0},
    {"c tfim chain40 rbm a=1 cg", bench_vmc_ini_c, 30, 10, 0.1, 0, 0},
    {"d heis 10x10 rbm a=4 auto", bench_vmc_ini_d, 1, 2, 0, 5.0, 0},
};

/* One built problem with everything an iteration needs. */
struct bench_vmc {
    struct nqs_config *cfg; /* owned unless borrowed_cfg */
    int borrowed_cfg;
    struct nqs_problem *prob;
    struct nqs_sampler_opts sampler_opts;
    struct nqs_sampler *smp;
    struct nqs_optimizer_params optimizer_params;
    struct nqs_optimizer *optimizer;
    double complex *eloc, *O;
    struct nqs_h5 *h5;
    char path[256];
    long it;
};

static void bench_vmc_free(struct bench_vmc *v)
{
    if (v->h5) nqs_h5_close(v->h5);
    if (v->path[0]) unlink(v->path);
    nqs_optimizer_free(v->optimizer);
    nqs_sampler_free(v->smp);
    nqs_problem_free(v->prob);
    if (!v->borrowed_cfg) nqs_config_free(v->cfg);
    free(v->eloc);
    free(v->O);
    memset(v, 0, sizeof *v);
}

/* Build from INI text `ini` (or the borrowed configuration `cfg`); with
 * `with_file` also create the temporary HDF5 result file. */
static int bench_vmc_build(struct bench_vmc *v, const char *ini, struct nqs_config *cfg,
                           int with_file)
{
    memset(v, 0, sizeof *v);
    if (cfg) {
        v->cfg = cfg;
        v->borrowed_cfg = 1;
    } else {
        v->cfg = nqs_config_alloc();
        if (!v->cfg) return NQS_ENOMEM;
        NQS_TRY(nqs_config_read_string(v->cfg, ini, "bench"));
    }
    NQS_TRY(nqs_problem_build(v->cfg, NQS_PROBLEM_MODEL, &v->prob));
    struct nqs_opt_val sampler_vals[NQS_SAMPLER_N_KEYS], optimizer_vals[NQS_OPTK_COUNT];
    NQS_TRY(nqs_config_get(v->cfg, "sampler", nqs_sampler_options, NQS_SAMPLER_N_KEYS,
                           sampler_vals));
    NQS_TRY(nqs_config_get(v->cfg, "optimizer", nqs_optimizer_options, NQS_OPTK_COUNT,
                           optimizer_vals));
    NQS_TRY(nqs_sampler_opts_from(sampler_vals, v->prob->ham, v->prob->magnetisation, &v->sampler_opts));
    if (v->sampler_opts.exact)
        NQS_ERROR(NQS_EINVAL, "nqs bench times Metropolis sampling; [sampler] method = exact is not "
                  "benchmarked (accepted: method = metropolis)");
    NQS_TRY(nqs_optimizer_params_from_options(optimizer_vals, &v->optimizer_params));
    struct nqs_model *m = v->prob->model;
    v->smp = nqs_sampler_alloc(&v->sampler_opts, m, v->prob->ham, 0, v->sampler_opts.n_chains);
    if (!v->smp) return NQS_ENOMEM;
    v->smp->profile = 1;
    int ns = v->smp->n_samples;
    v->optimizer = nqs_optimizer_alloc(&v->optimizer_params, m->n_par, ns);
    if (!v->optimizer) return NQS_ENOMEM;
    /* the chain layout of the driver: per-chain partial sums in SR */
    NQS_TRY(nqs_optimizer_set_chains(v->optimizer, v->sampler_opts.n_chains, 0, v->sampler_opts.n_chains,
                                     v->smp->per_chain));
    v->eloc = malloc((size_t)ns * sizeof *v->eloc);
    v->O = malloc((size_t)ns * (size_t)m->n_par * sizeof *v->O);
    if (!v->eloc || !v->O)
        NQS_ERROR(NQS_ENOMEM, "bench: out of memory for %d samples x %d parameters", ns, m->n_par);
    if (!with_file) return NQS_OK;
    const char *dir = getenv("TMPDIR");
    snprintf(v->path, sizeof v->path, "%s/nqs-bench-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(v->path);
    if (fd < 0) {
        v->path[0] = '\0';
        NQS_ERROR(NQS_EIO, "bench: cannot create a temporary file in %s (set TMPDIR)",
                  dir && *dir ? dir : "/tmp");
    }
    close(fd);
    struct nqs_h5_meta meta = {
        .command_line = "nqs bench iteration", .input = ini ? ini : "", .lattice = "bench",
        .hamiltonian = v->prob->ham_ops->name, .model = v->prob->model_ops->name,
        .shared = v->prob->model_ops->shared, .n_sites = m->n_sites, .n_params = m->n_par,
        .n_chains = v->sampler_opts.n_chains, .rng_state_bytes = (int)nqs_sampler_rng_size(),
        .optimizer_state_len = (int)nqs_optimizer_state_size(v->optimizer),
    };
    return nqs_h5_create(v->path, &meta, 1, &v->h5);
}

/* CPU seconds of one iteration per phase (the sampler's summed over
 * chains, the others process CPU time), and the iteration's wall time. */
struct bench_phase {
    double move, eloc, grad, sampler_wall, stats, sr, refresh, h5, wall, cpu;
    double acceptance;
    int cg_iterations, solver;
};

static void bench_phase_add(struct bench_phase *acc, const struct bench_phase *p)
{
    acc->move += p->move, acc->eloc += p->eloc, acc->grad += p->grad;
    acc->sampler_wall += p->sampler_wall, acc->stats += p->stats, acc->sr += p->sr;
    acc->refresh += p->refresh, acc->h5 += p->h5, acc->wall += p->wall, acc->cpu += p->cpu;
    acc->acceptance += p->acceptance;
    acc->cg_iterations += p->cg_iterations;
    acc->solver = p->solver;
}

/* Only the sampler: fills eloc and O (if `with_grad`) and the sampler phases. */
static int bench_vmc_sample(struct bench_vmc *v, int with_grad, struct bench_phase *ph)
{
    struct nqs_model *m = v->prob->model;
    double t0 = nqs_bench_clock(CLOCK_MONOTONIC);
    NQS_TRY(nqs_sampler_run(v->smp, m, v->prob->ham, v->it == 0, v->eloc,
                            with_grad ? v->O : NULL, (size_t)m->n_par));
    ph->sampler_wall = nqs_bench_clock(CLOCK_MONOTONIC) - t0;
    ph->move = ph->eloc = ph->grad = 0;
    for (int c = 0; c < v->smp->n_local; c++) {
        ph->move += v->smp->chains[c].t_move;
        ph->eloc += v->smp->chains[c].t_eloc;
        ph->grad += v->smp->chains[c].t_grad;
    }
    long n_prop, n_acc;
    nqs_sampler_acceptance(v->smp, &n_prop, &n_acc);
    ph->acceptance = n_prop > 0 ? (double)n_acc / (double)n_prop : 0.0;
    return NQS_OK;
}

/* One full iteration, as driver.c does it (without retries and checkpoints). */
static int bench_vmc_iteration(struct bench_vmc *v, struct bench_phase *ph)
{
    struct nqs_model *m = v->prob->model;
    int ns = v->smp->n_samples;
    memset(ph, 0, sizeof *ph);
    const clockid_t P = CLOCK_PROCESS_CPUTIME_ID;
    double t0 = nqs_bench_clock(CLOCK_MONOTONIC), c0 = nqs_bench_clock(P);
    NQS_TRY(bench_vmc_sample(v, 1, ph));
    double c1 = nqs_bench_clock(P);
    struct nqs_stats st;
    NQS_TRY(nqs_stats_compute(v->eloc, v->sampler_opts.n_chains, v->smp->per_chain, &st));
    double c2 = nqs_bench_clock(P);
    struct nqs_optimizer_info info;
    NQS_TRY(nqs_optimizer_step(v->optimizer, v->O, m->n_par, v->eloc, ns, m->par, &info));
    double c3 = nqs_bench_clock(P);
    m->ops->refresh(m);
    double c4 = nqs_bench_clock(P);
    struct nqs_h5_row row = {
        .iteration = v->it, .energy = st.mean, .energy_imag = st.mean_imag,
        .energy_error = st.error, .energy_variance = st.variance,
        .v_score = nqs_stats_vscore(m->n_sites, st.variance, st.mean),
        .acceptance = ph->acceptance, .rhat = st.rhat, .tau = st.tau,
        .wall_time = nqs_bench_clock(CLOCK_MONOTONIC) - t0,
        .learning_rate = info.learning_rate, .diag_shift = info.diag_shift,
        .sr_residual = info.residual, .grad_norm = info.grad_norm, .n_samples = ns,
        .samples_total = (double)ns * (double)(v->it + 1),
    };
    if (v->h5) NQS_TRY(nqs_h5_append(v->h5, &row));
    double c5 = nqs_bench_clock(P);
    ph->stats = c2 - c1;
    ph->sr = c3 - c2;
    ph->refresh = c4 - c3;
    ph->h5 = c5 - c4;
    ph->wall = nqs_bench_clock(CLOCK_MONOTONIC) - t0;
    ph->cpu = c5 - c0;
    ph->cg_iterations = info.iterations;
    ph->solver = (int)info.solver;
    v->it++;
    return NQS_OK;
}

/* ------------------------------------------------------------ threads */

static int bench_vmc_threads_get(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* OpenMP threads for the chains and OpenBLAS threads for SR. */
static void bench_vmc_threads_set(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    openblas_set_num_threads(n);
}

/* Undo bench_vmc_threads_set: the OpenMP and OpenBLAS counts saved before. */
static void bench_vmc_threads_restore(int omp, int blas)
{
#ifdef _OPENMP
    omp_set_num_threads(omp);
#else
    (void)omp;
#endif
    openblas_set_num_threads(blas);
}

/* ------------------------------------------------------------ iteration */

static void bench_vmc_iteration_print(struct nqs_bench_out *o, const char *label,
                                      const struct bench_vmc *v, int threads, int timed,
                                      const struct bench_phase *s,
                                      const struct bench_vmc_target *t)
{
    const struct nqs_model *m = v->prob->model;
    double k = 1.0 / timed, ns = v->smp->n_samples;
    double us_sample = 1e6 * (s->move + s->eloc) * k / ns;
    char verdict[160] = "";
    if (t) {
        size_t n = 0;
        if (t->target_iter > 0)
            n += (size_t)snprintf(verdict + n, sizeof verdict - n, " iter<=%gs:%s", t->target_iter,
                                  s->cpu * k <= t->target_iter ? "met" : "MISSED");
        if (t->target_sample_us > 0)
            n += (size_t)snprintf(verdict + n, sizeof verdict - n, " sample<=%gus:%s",
                                  t->target_sample_us,
                                  us_sample <= t->target_sample_us ? "met" : "MISSED");
        if (t->target_sr > 0)
            snprintf(verdict + n, sizeof verdict - n, " sr<=%gs,4GiB:%s", t->target_sr,
                     s->sr * k <= t->target_sr && nqs_bench_peak_mib() <= 4096 ? "met"
                                                                                : "MISSED");
    }
    const char *solver = nqs_sr_solver_name((enum nqs_sr_solver)s->solver);
    if (!o->json) {
        fprintf(o->f,
                "%-30s %6d %5d %2d %-5s %5.1f %4.2f %8.2f %8.2f %8.2f %6.2f %9.2f %6.2f %6.2f "
                "%9.2f %9.2f %7.2f %6.0f%s\n",
                label, m->n_par, v->smp->n_samples, threads, solver, s->cg_iterations * k,
                s->acceptance * k, 1e3 * s->move * k, 1e3 * s->eloc * k, 1e3 * s->grad * k,
                1e3 * s->stats * k, 1e3 * s->sr * k, 1e3 * s->refresh * k, 1e3 * s->h5 * k,
                1e3 * s->wall * k, 1e3 * s->cpu * k, us_sample, nqs_bench_peak_mib(), verdict);
    } else {
        struct nqs_json_writer *w = &o->w;
        nqs_json_begin_object(w, NULL);
        nqs_json_put_string(w, "problem", label);
        nqs_json_put_int(w, "n_par", m->n_par);
        nqs_json_put_int(w, "n_samples", v->smp->n_samples);
        nqs_json_put_int(w, "threads", threads);
        nqs_json_put_string(w, "solver", solver);
        nqs_json_put_int(w, "timed_iterations", timed);
        nqs_json_put_number(w, "cg_iterations", s->cg_iterations * k);
        nqs_json_put_number(w, "acceptance", s->acceptance * k);
        nqs_json_put_number(w, "ms_moves", 1e3 * s->move * k);
        nqs_json_put_number(w, "ms_eloc", 1e3 * s->eloc * k);
        nqs_json_put_number(w, "ms_grad", 1e3 * s->grad * k);
        nqs_json_put_number(w, "ms_stats", 1e3 * s->stats * k);
        nqs_json_put_number(w, "ms_sr", 1e3 * s->sr * k);
        nqs_json_put_number(w, "ms_refresh", 1e3 * s->refresh * k);
        nqs_json_put_number(w, "ms_h5", 1e3 * s->h5 * k);
        nqs_json_put_number(w, "ms_wall", 1e3 * s->wall * k);
        nqs_json_put_number(w, "ms_cpu", 1e3 * s->cpu * k);
        nqs_json_put_number(w, "us_per_sample", us_sample);
        nqs_json_put_number(w, "peak_rss_mib", nqs_bench_peak_mib());
        nqs_json_put_string(w, "targets", verdict[0] == ' ' ? verdict + 1 : verdict);
        nqs_json_end(w);
    }
    fflush(o->f);
}

static int bench_vmc_iteration_case(struct nqs_bench_out *o, const struct bench_vmc_target *t,
                                    struct nqs_config *cfg, int threads)
{
    struct bench_vmc v;
    int rc = bench_vmc_build(&v, t ? t->ini : NULL, cfg, 1);
    int warmup = t ? t->warmup : 5, timed = t ? t->timed : 10;
    struct bench_phase sum, ph;
    memset(&sum, 0, sizeof sum);
    for (int k = 0; rc == NQS_OK && k < warmup; k++) rc = bench_vmc_iteration(&v, &ph);
    for (int k = 0; rc == NQS_OK && k < timed; k++) {
        rc = bench_vmc_iteration(&v, &ph);
        bench_phase_add(&sum, &ph);
    }
    if (rc == NQS_OK)
        bench_vmc_iteration_print(o, t ? t->label : nqs_config_name(cfg), &v, threads, timed,
                                  &sum, t);
    bench_vmc_free(&v);
    return rc;
}

int nqs_bench_iteration(struct nqs_bench_out *o, struct nqs_config *cfg)
{
    int saved = bench_vmc_threads_get(), saved_blas = openblas_get_num_threads();
    int threads = cfg ? saved : 1;
    if (!o->json) {
        fprintf(o->f,
                "== iteration: CPU ms per iteration per phase, mean over the timed iterations "
                "after warm-up; total as wall and CPU ==\n");
        fprintf(o->f,
                "%-30s %6s %5s %2s %-5s %5s %4s %8s %8s %8s %6s %9s %6s %6s %9s %9s %7s %6s "
                "targets (on CPU time)\n",
                "problem", "params", "N_s", "th", "sr", "cg_it", "acc", "moves", "eloc", "grad",
                "stats", "sr_step", "refr", "h5", "wall", "cpu", "us/smp", "MiB");
    }
    bench_vmc_threads_set(threads);
    int rc = NQS_OK;
    if (cfg) {
        rc = bench_vmc_iteration_case(o, NULL, cfg, threads);
    } else {
        int n = (int)(sizeof bench_vmc_targets / sizeof bench_vmc_targets[0]);
        for (int k = 0; k < n && rc == NQS_OK; k++)
            rc = bench_vmc_iteration_case(o, &bench_vmc_targets[k], NULL, threads);
    }
    bench_vmc_threads_restore(saved, saved_blas);
    return rc;
}

/* ------------------------------------------------------------ sampler */

#define BENCH_VMC_MIN_TIME 0.3 /* seconds of sampling per row */

static int bench_vmc_sampler_row(struct nqs_bench_out *o, const char *label, const char *ini,
                                 int threads)
{
    struct bench_vmc v;
    int rc = bench_vmc_build(&v, ini, NULL, 0);
    struct bench_phase ph;
    double move = 0, eloc = 0, wall = 0, cpu = 0, acc = 0;
    long samples = 0, props = 0;
    int runs = 0;
    while (rc == NQS_OK && wall < BENCH_VMC_MIN_TIME) {
        double c0 = nqs_bench_clock(CLOCK_PROCESS_CPUTIME_ID);
        rc = bench_vmc_sample(&v, 0, &ph);
        if (rc != NQS_OK) break;
        cpu += nqs_bench_clock(CLOCK_PROCESS_CPUTIME_ID) - c0;
        long n_prop, n_acc;
        nqs_sampler_acceptance(v.smp, &n_prop, &n_acc);
        move += ph.move, eloc += ph.eloc, wall += ph.sampler_wall;
        props += n_prop, samples += v.smp->n_samples, acc += ph.acceptance;
        runs++;
        v.it++;
    }
    if (rc == NQS_OK) {
        const struct nqs_model *m = v.prob->model;
        double mps = props / move, eps = samples / eloc, us = 1e6 * (move + eloc) / samples;
        if (!o->json) {
            fprintf(o->f, "%-26s %5d %7d %2d %5.2f %12.0f %12.0f %10.2f %12.0f %6.2f\n", label,
                    m->n_sites, m->n_hidden, threads, acc / runs, mps, eps, us, samples / wall,
                    cpu / wall);
        } else {
            struct nqs_json_writer *w = &o->w;
            nqs_json_begin_object(w, NULL);
            nqs_json_put_string(w, "problem", label);
            nqs_json_put_int(w, "n_sites", m->n_sites);
            nqs_json_put_int(w, "n_hidden", m->n_hidden);
            nqs_json_put_int(w, "threads", threads);
            nqs_json_put_number(w, "acceptance", acc / runs);
            nqs_json_put_number(w, "moves_per_s_per_thread", mps);
            nqs_json_put_number(w, "eloc_per_s_per_thread", eps);
            nqs_json_put_number(w, "us_per_sample", us);
            nqs_json_put_number(w, "samples_per_s", samples / wall);
            nqs_json_put_number(w, "cpu_over_wall", cpu / wall);
            nqs_json_end(w);
        }
        fflush(o->f);
    }
    bench_vmc_free(&v);
    return rc;
}

int nqs_bench_sampler(struct nqs_bench_out *o)
{
    static const char *const models[] = {"rbm", "rbm_symm"};
    static const int alphas[] = {1, 4};
    int saved = bench_vmc_threads_get(), saved_blas = openblas_get_num_threads();
    if (!o->json) {
        fprintf(o->f, "== sampler: exchange moves, 4 chains, parameters at initialisation "
                      "(init_std 0.01), per thread: moves/s and local energies/s ==\n");
        fprintf(o->f, "%-26s %5s %7s %2s %5s %12s %12s %10s %12s %6s\n", "problem", "N",
                "hidden", "th", "acc", "moves/s/th", "eloc/s/th", "us/sample", "samples/s",
                "cpu");
    }
    int rc = NQS_OK;
    char ini[1024], label[64];
    for (int threads = 1; threads <= 2 && rc == NQS_OK; threads++) {
        bench_vmc_threads_set(threads);
        snprintf(ini, sizeof ini,
                 "[lattice]\ntype = chain\nextent = 40\nboundary = periodic\n"
                 "[hamiltonian]\ntype = heisenberg\n[model]\ntype = rbm_symm\nalpha = 1\n"
                 "[sampler]\nchains = 4\nsamples = 1000\nburn_in = 0\nburn_in_first = 0\n");
        rc = bench_vmc_sampler_row(o, "heis chain40 rbm_symm a=1", ini, threads);
        for (int mi = 0; mi < 2 && rc == NQS_OK; mi++)
            for (int ai = 0; ai < 2 && rc == NQS_OK; ai++) {
                snprintf(ini, sizeof ini,
                         "[lattice]\ntype = square\nextent = 10,10\nboundary = periodic\n"
                         "[hamiltonian]\ntype = heisenberg\n[model]\ntype = %s\nalpha = %d\n"
                         "[sampler]\nchains = 4\nsamples = 200\nburn_in = 0\n"
                         "burn_in_first = 0\n",
                         models[mi], alphas[ai]);
                snprintf(label, sizeof label, "heis 10x10 %s a=%d", models[mi], alphas[ai]);
                rc = bench_vmc_sampler_row(o, label, ini, threads);
            }
    }
    bench_vmc_threads_restore(saved, saved_blas);
    return rc;
}

/* ------------------------------------------------------------ sr, real O */

/* The problem of `ini` after `warmup` optimisation iterations, with one more
 * sample of O and E_loc in v, and buffers F and delta of n_par entries (the
 * caller frees them and v, also on error). */
static int bench_vmc_sampled(struct bench_vmc *v, const char *ini, int warmup, double complex **F,
                             double complex **delta)
{
    struct bench_phase ph;
    int rc = bench_vmc_build(v, ini, NULL, 0);
    for (int k = 0; rc == NQS_OK && k < warmup; k++) rc = bench_vmc_iteration(v, &ph);
    if (rc == NQS_OK) rc = bench_vmc_sample(v, 1, &ph);
    if (rc != NQS_OK) return rc;
    size_t P = (size_t)v->prob->model->n_par;
    *F = malloc(P * sizeof **F);
    *delta = malloc(P * sizeof **delta);
    if (!*F || !*delta) NQS_ERROR(NQS_ENOMEM, "bench: out of memory");
    return NQS_OK;
}

/* One SR step per solver on O sampled from the model of `t` after its
 * warm-up iterations. */
static int bench_vmc_sr_case(struct nqs_bench_out *o, const struct bench_vmc_target *t,
                             const struct nqs_bench_solver *solvers, int n_solvers,
                             int cg_maxiter)
{
    struct bench_vmc v;
    double complex *F = NULL, *delta = NULL;
    int rc = bench_vmc_sampled(&v, t->ini, t->warmup, &F, &delta);
    const struct nqs_model *m = rc == NQS_OK ? v.prob->model : NULL;
    for (int k = 0; rc == NQS_OK && k < n_solvers; k++) {
        struct nqs_sr_options sr_opts = v.optimizer_params.sr;
        sr_opts.solver = (enum nqs_sr_solver)solvers[k].solver;
        sr_opts.cg_precond = (enum nqs_sr_precond)solvers[k].precond;
        sr_opts.cg_precision = (enum nqs_sr_precision)solvers[k].precision;
        if (solvers[k].cg_tol > 0) sr_opts.cg_tol = solvers[k].cg_tol;
        sr_opts.cg_maxiter = cg_maxiter;
        if (nqs_sr_check(m->n_par, v.smp->n_samples, &sr_opts) != NQS_OK) {
            if (!o->json)
                fprintf(o->f, "sr  %-30s %-6s skipped: %s\n", t->label, solvers[k].name,
                        nqs_last_error());
            nqs_error_clear();
            continue;
        }
        struct nqs_sr *sr = nqs_sr_alloc(m->n_par, v.smp->n_samples, &sr_opts);
        if (!sr) {
            rc = NQS_ENOMEM;
            break;
        }
        if ((rc = nqs_sr_set_chains(sr, v.sampler_opts.n_chains, 0, v.sampler_opts.n_chains, v.smp->per_chain)) !=
            NQS_OK) {
            nqs_sr_free(sr);
            break;
        }
        struct nqs_sr_info info;
        double c0 = nqs_bench_clock(CLOCK_PROCESS_CPUTIME_ID), t0 = nqs_bench_clock(CLOCK_MONOTONIC);
        int r = nqs_sr_solve(sr, v.O, m->n_par, v.eloc, v.smp->n_samples, v.optimizer_params.diag_shift,
                             v.optimizer_params.diag_scale, F, delta, &info);
        double wall = nqs_bench_clock(CLOCK_MONOTONIC) - t0;
        double cpu = nqs_bench_clock(CLOCK_PROCESS_CPUTIME_ID) - c0;
        nqs_sr_free(sr);
        if (r != NQS_OK && r != NQS_NOTCONV) {
            rc = r;
            break;
        }
        nqs_error_clear();
        if (!o->json) {
            char cg[80] = "";
            if (info.solver == NQS_SR_CG)
                snprintf(cg, sizeof cg, "  cg %4d it%s %7.2f ms/it  residual %.1e",
                         info.iterations, info.converged ? " " : "*",
                         1e3 * wall / (info.iterations + 1), info.residual);
            char name[32];
            snprintf(name, sizeof name, "%s%s", solvers[k].name,
                     solvers[k].solver == NQS_SR_AUTO ? "->" : "");
            if (solvers[k].solver == NQS_SR_AUTO)
                snprintf(name + strlen(name), sizeof name - strlen(name), "%s",
                         nqs_sr_solver_name(info.solver));
            fprintf(o->f, "sr  %-30s P=%6d N_s=%5d  %-11s %8.3f s wall %8.3f s cpu  peak RSS %5.0f "
                          "MiB%s\n",
                    t->label, m->n_par, v.smp->n_samples, name, wall, cpu, nqs_bench_peak_mib(),
                    cg);
        } else {
            struct nqs_json_writer *w = &o->w;
            nqs_json_begin_object(w, NULL);
            nqs_json_put_string(w, "data", "model");
            nqs_json_put_string(w, "case", t->label);
            nqs_json_put_int(w, "n_par", m->n_par);
            nqs_json_put_int(w, "n_samples", v.smp->n_samples);
            nqs_json_put_string(w, "variant", solvers[k].name);
            nqs_json_put_string(w, "solver", nqs_sr_solver_name(info.solver));
            nqs_bench_sr_step_json(w, wall, cpu, &info);
            nqs_json_end(w);
        }
        fflush(o->f);
    }
    free(F);
    free(delta);
    bench_vmc_free(&v);
    return rc;
}

int nqs_bench_sr_real(struct nqs_bench_out *o)
{
    static const struct nqs_bench_solver all[] = {
        {NQS_SR_DENSE, 0, 0, 0, "dense"}, {NQS_SR_CG, NQS_SR_PRECOND_NONE, 0, 0, "cg"},
        {NQS_SR_CG, NQS_SR_PRECOND_JACOBI, 0, 0, "cg-jac"},
        {NQS_SR_CG, NQS_SR_PRECOND_NONE, NQS_SR_PREC_DOUBLE, 0, "cg-dbl"},
        {NQS_SR_CG, NQS_SR_PRECOND_NONE, 0, 1e-6, "cg-1e-6"},
        {NQS_SR_CG, NQS_SR_PRECOND_JACOBI, NQS_SR_PREC_DOUBLE, 1e-6, "cg-old"},
        {NQS_SR_MINSR, 0, 0, 0, "minsr"}, {NQS_SR_AUTO, 0, 0, 0, "auto"}};
    static const struct nqs_bench_solver big[] = {
        {NQS_SR_AUTO, 0, 0, 0, "auto"}, {NQS_SR_CG, NQS_SR_PRECOND_NONE, 0, 0, "cg"},
        {NQS_SR_CG, NQS_SR_PRECOND_JACOBI, 0, 0, "cg-jac"}};
    int saved = bench_vmc_threads_get(), saved_blas = openblas_get_num_threads();
    bench_vmc_threads_set(1);
    if (!o->json)
        fprintf(o->f, "== sr, real O sampled from the model after the warm-up iterations of the "
                      "target; one thread, eps = 0.01; cg = defaults (no preconditioner, mixed "
                      "precision, cg_tol 1e-4); -jac Jacobi, -dbl double precision, -1e-6 that "
                      "tolerance, cg-old = the former defaults (Jacobi, double, 1e-6) ==\n");
    int rc = bench_vmc_sr_case(o, &bench_vmc_targets[1], all, 8, 1000);
    if (rc == NQS_OK) rc = bench_vmc_sr_case(o, &bench_vmc_targets[2], big, 3, 300);
    bench_vmc_threads_restore(saved, saved_blas);
    return rc;
}

/* ------------------------------------------------------------ sr sweep */

/* Section "srsweep": the measurements behind the `auto` rule of sr.h. For
 * each problem, O and E_loc are sampled once after `warmup` iterations (SR,
 * cg, eps = 0.01, learning rate 0.02); then one SR step on that O is timed
 * (CPU seconds, one thread, OpenBLAS one thread, best of 3 when under
 * BENCH_SWEEP_REPEAT seconds) for dense and minsr (their cost does not depend
 * on the shift: timed at eps = 0.01; dense only for P <= BENCH_SWEEP_DENSE_MAX,
 * minsr only for P >= N_s / 2) and for cg (defaults: mixed precision, no
 * preconditioner, cg_tol 1e-4) at each shift of bench_sweep_shifts, rho = 0;
 * last column: the solver `auto` picks at each shift (nqs_sr_choose). */
#define BENCH_SWEEP_REPEAT 0.3
#define BENCH_SWEEP_DENSE_MAX 6000
#define BENCH_SWEEP_MAXITER 1000

static const double bench_sweep_shifts[] = {0.1, 0.01, 0.001, 1e-4};
#define BENCH_SWEEP_N_SHIFTS ((int)(sizeof bench_sweep_shifts / sizeof bench_sweep_shifts[0]))

#define BENCH_SWEEP_TFIM(N)                                                                    \
    "[lattice]\ntype = chain\nextent = " #N "\nboundary = periodic\n"                          \
    "[hamiltonian]\ntype = ising\nJ = 1\nh = 1\n[model]\ntype = rbm\nalpha = 1\nseed = 1\n"
#define BENCH_SWEEP_HEIS(N)                                                                    \
    "[lattice]\ntype = chain\nextent = " #N "\nboundary = periodic\n"                          \
    "[hamiltonian]\ntype = heisenberg\nJ = 1\n[model]\ntype = rbm\nalpha = 1\nseed = 1\n"
#define BENCH_SWEEP_HEIS2D(A)                                                                  \
    "[lattice]\ntype = square\nextent = 10,10\nboundary = periodic\n"                          \
    "[hamiltonian]\ntype = heisenberg\nJ = 1\n[model]\ntype = rbm\nalpha = " #A "\nseed = 1\n"
#define BENCH_SWEEP_LCN                                                                        \
    "[lattice]\ntype = square\nextent = 6,6\nboundary = periodic\n"                            \
    "[hamiltonian]\ntype = heisenberg\nJ = 1\n[model]\ntype = lcn\nchannels = 4\nseed = 1\n"

struct bench_sweep_case {
    const char *label;
    const char *physics; /* [lattice] [hamiltonian] [model] */
    int samples, warmup;
};

/* Dense rbm alpha 1 on chains N = 13, 21, 31, 38, 44, 62, 77, 88, 99: P =
 * N^2 + 2N = 195, 483, 1023, 1520, 2024, 3968, 6083, 7920, 9999; Heisenberg
 * 10x10 rbm: P = 10200 (alpha 1), 40500 (alpha 4); lcn with one layer of 4
 * channels (3x3 kernels) on 6x6: P = 1440. The long warm-ups show S later in
 * a run (cg needs more iterations there). About 20 minutes in all. */
static const struct bench_sweep_case bench_sweep_cases[] = {
    {"tfim chain13 rbm", BENCH_SWEEP_TFIM(13), 1000, 30},
    {"tfim chain21 rbm", BENCH_SWEEP_TFIM(21), 1000, 30},
    {"tfim chain31 rbm", BENCH_SWEEP_TFIM(31), 1000, 30},
    {"tfim chain31 rbm", BENCH_SWEEP_TFIM(31), 1000, 300},
    {"tfim chain38 rbm", BENCH_SWEEP_TFIM(38), 1000, 30},
    {"tfim chain44 rbm", BENCH_SWEEP_TFIM(44), 1000, 30},
    {"tfim chain62 rbm", BENCH_SWEEP_TFIM(62), 1000, 30},
    {"tfim chain99 rbm", BENCH_SWEEP_TFIM(99), 1000, 30},
    {"tfim chain13 rbm", BENCH_SWEEP_TFIM(13), 4000, 30},
    {"tfim chain21 rbm", BENCH_SWEEP_TFIM(21), 4000, 30},
    {"tfim chain31 rbm", BENCH_SWEEP_TFIM(31), 4000, 30},
    {"tfim chain44 rbm", BENCH_SWEEP_TFIM(44), 4000, 30},
    {"tfim chain62 rbm", BENCH_SWEEP_TFIM(62), 4000, 30},
    {"tfim chain77 rbm", BENCH_SWEEP_TFIM(77), 4000, 30},
    {"tfim chain88 rbm", BENCH_SWEEP_TFIM(88), 4000, 30},
    {"heis chain13 rbm", BENCH_SWEEP_HEIS(13), 1000, 30},
    {"heis chain21 rbm", BENCH_SWEEP_HEIS(21), 1000, 30},
    {"heis chain31 rbm", BENCH_SWEEP_HEIS(31), 1000, 30},
    {"heis chain38 rbm", BENCH_SWEEP_HEIS(38), 1000, 30},
    {"heis chain44 rbm", BENCH_SWEEP_HEIS(44), 1000, 30},
    {"heis chain44 rbm", BENCH_SWEEP_HEIS(44), 1000, 300},
    {"heis chain62 rbm", BENCH_SWEEP_HEIS(62), 1000, 30},
    {"heis chain44 rbm", BENCH_SWEEP_HEIS(44), 2000, 30},
    {"heis chain62 rbm", BENCH_SWEEP_HEIS(62), 2000, 30},
    {"heis chain13 rbm", BENCH_SWEEP_HEIS(13), 4000, 30},
    {"heis chain21 rbm", BENCH_SWEEP_HEIS(21), 4000, 30},
    {"heis chain31 rbm", BENCH_SWEEP_HEIS(31), 4000, 30},
    {"heis chain31 rbm", BENCH_SWEEP_HEIS(31), 4000, 300},
    {"heis chain44 rbm", BENCH_SWEEP_HEIS(44), 4000, 30},
    {"heis chain62 rbm", BENCH_SWEEP_HEIS(62), 4000, 30},
    {"heis 6x6 lcn c=4", BENCH_SWEEP_LCN, 1000, 30},
    {"heis 6x6 lcn c=4", BENCH_SWEEP_LCN, 2000, 30},
    {"heis 10x10 rbm a=1", BENCH_SWEEP_HEIS2D(1), 1000, 30},
    {"heis 10x10 rbm a=4", BENCH_SWEEP_HEIS2D(4), 1000, 1},
    {"heis 10x10 rbm a=4", BENCH_SWEEP_HEIS2D(4), 1000, 200},
};

/* CPU seconds of one SR step with `solver` at shift eps (best of 3 when
 * short); *info from the last step. Returns a status. */
static int bench_sweep_time(struct bench_vmc *v, double complex *F, double complex *delta,
                            enum nqs_sr_solver solver, double eps, double *cpu,
                            struct nqs_sr_info *info)
{
    const struct nqs_model *m = v->prob->model;
    struct nqs_sr_options sr_opts = v->optimizer_params.sr;
    sr_opts.solver = solver;
    sr_opts.cg_maxiter = BENCH_SWEEP_MAXITER;
    NQS_TRY(nqs_sr_check(m->n_par, v->smp->n_samples, &sr_opts));
    struct nqs_sr *sr = nqs_sr_alloc(m->n_par, v->smp->n_samples, &sr_opts);
    if (!sr) return NQS_ENOMEM;
    int rc = nqs_sr_set_chains(sr, v->sampler_opts.n_chains, 0, v->sampler_opts.n_chains, v->smp->per_chain);
    *cpu = INFINITY;
    for (int rep = 0; rc == NQS_OK && rep < 3; rep++) {
        double c0 = nqs_bench_clock(CLOCK_PROCESS_CPUTIME_ID);
        int r = nqs_sr_solve(sr, v->O, m->n_par, v->eloc, v->smp->n_samples, eps, 0.0, F, delta,
                             info);
        double c = nqs_bench_clock(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (r != NQS_OK && r != NQS_NOTCONV) rc = r;
        nqs_error_clear();
        *cpu = fmin(*cpu, c);
        if (c > BENCH_SWEEP_REPEAT) break;
    }
    nqs_sr_free(sr);
    return rc;
}

static void bench_sweep_json(struct nqs_bench_out *o, const struct bench_sweep_case *c,
                             const struct nqs_model *m, int ns, const char *solver, double eps,
                             double cpu, const struct nqs_sr_info *info)
{
    struct nqs_json_writer *w = &o->w;
    nqs_json_begin_object(w, NULL);
    nqs_json_put_string(w, "case", c->label);
    nqs_json_put_int(w, "warmup", c->warmup);
    nqs_json_put_int(w, "n_par", m->n_par);
    nqs_json_put_int(w, "n_samples", ns);
    nqs_json_put_string(w, "solver", solver);
    nqs_json_put_number(w, "diag_shift", eps);
    nqs_json_put_number(w, "seconds_cpu", cpu);
    nqs_json_put_int(w, "cg_iterations", info->iterations);
    nqs_json_put_bool(w, "converged", info->converged);
    nqs_json_end(w);
}

static int bench_sweep_case(struct nqs_bench_out *o, const struct bench_sweep_case *c)
{
    char ini[1024];
    snprintf(ini, sizeof ini,
             "%s[sampler]\nchains = 8\nsamples = %d\n[optimizer]\nmethod = sr\n"
             "learning_rate = 0.02\ndiag_shift = 0.01\nsolver = cg\n",
             c->physics, c->samples);
    struct bench_vmc v;
    double complex *F = NULL, *delta = NULL;
    int rc = bench_vmc_sampled(&v, ini, c->warmup, &F, &delta);
    const struct nqs_model *m = rc == NQS_OK ? v.prob->model : NULL;
    int ns = rc == NQS_OK ? v.smp->n_samples : 0;
    double t_dense = NAN, t_minsr = NAN, t_cg[BENCH_SWEEP_N_SHIFTS];
    int it_cg[BENCH_SWEEP_N_SHIFTS], conv_cg[BENCH_SWEEP_N_SHIFTS];
    struct nqs_sr_info info;
    if (rc == NQS_OK && m->n_par <= BENCH_SWEEP_DENSE_MAX) {
        rc = bench_sweep_time(&v, F, delta, NQS_SR_DENSE, 0.01, &t_dense, &info);
        if (rc == NQS_OK && o->json) bench_sweep_json(o, c, m, ns, "dense", 0.01, t_dense, &info);
    }
    if (rc == NQS_OK && 2L * m->n_par >= ns) {
        rc = bench_sweep_time(&v, F, delta, NQS_SR_MINSR, 0.01, &t_minsr, &info);
        if (rc == NQS_OK && o->json) bench_sweep_json(o, c, m, ns, "minsr", 0.01, t_minsr, &info);
    }
    for (int k = 0; rc == NQS_OK && k < BENCH_SWEEP_N_SHIFTS; k++) {
        rc = bench_sweep_time(&v, F, delta, NQS_SR_CG, bench_sweep_shifts[k], &t_cg[k], &info);
        it_cg[k] = info.iterations;
        conv_cg[k] = info.converged;
        if (rc == NQS_OK && o->json)
            bench_sweep_json(o, c, m, ns, "cg", bench_sweep_shifts[k], t_cg[k], &info);
    }
    /* what auto picks at each shift (nqs_sr_choose on an auto object) */
    char picks[BENCH_SWEEP_N_SHIFTS + 1] = "";
    if (rc == NQS_OK) {
        struct nqs_sr_options sr_opts = v.optimizer_params.sr;
        sr_opts.solver = NQS_SR_AUTO;
        struct nqs_sr *sr = nqs_sr_alloc(m->n_par, ns, &sr_opts);
        if (!sr) rc = NQS_ENOMEM;
        if (rc == NQS_OK)
            rc = nqs_sr_set_chains(sr, v.sampler_opts.n_chains, 0, v.sampler_opts.n_chains, v.smp->per_chain);
        for (int k = 0; rc == NQS_OK && k < BENCH_SWEEP_N_SHIFTS; k++)
            picks[k] = nqs_sr_solver_name(nqs_sr_choose(sr, bench_sweep_shifts[k], 0.0))[0];
        nqs_sr_free(sr);
    }
    if (rc == NQS_OK && !o->json) {
        fprintf(o->f, "%-20s %4d %6d %5d", c->label, c->warmup, m->n_par, ns);
        if (isnan(t_dense)) fprintf(o->f, " %8s", "-");
        else fprintf(o->f, " %8.3f", t_dense);
        if (isnan(t_minsr)) fprintf(o->f, " %8s", "-");
        else fprintf(o->f, " %8.3f", t_minsr);
        for (int k = 0; k < BENCH_SWEEP_N_SHIFTS; k++)
            fprintf(o->f, " %8.3f %4d%s", t_cg[k], it_cg[k], conv_cg[k] ? " " : "*");
        fprintf(o->f, " %s\n", picks);
    }
    fflush(o->f);
    free(F);
    free(delta);
    bench_vmc_free(&v);
    return rc;
}

int nqs_bench_sr_sweep(struct nqs_bench_out *o)
{
    int saved = bench_vmc_threads_get(), saved_blas = openblas_get_num_threads();
    bench_vmc_threads_set(1);
    if (!o->json) {
        fprintf(o->f, "== srsweep: CPU seconds per SR step on real O (after `warm` iterations), "
                      "one thread; dense and minsr at eps = 0.01 (shift-independent cost), cg "
                      "(defaults) at each eps with its iterations; * = not converged in %d; "
                      "auto: the solver auto picks at each eps (d dense, m minsr, c cg) ==\n",
                BENCH_SWEEP_MAXITER);
        fprintf(o->f, "%-20s %4s %6s %5s %8s %8s", "problem", "warm", "P", "N_s", "dense",
                "minsr");
        for (int k = 0; k < BENCH_SWEEP_N_SHIFTS; k++) {
            char h[24];
            snprintf(h, sizeof h, "cg@%g", bench_sweep_shifts[k]);
            fprintf(o->f, " %8s %4s ", h, "it");
        }
        fprintf(o->f, " auto\n");
    }
    int rc = NQS_OK;
    const int n = (int)(sizeof bench_sweep_cases / sizeof bench_sweep_cases[0]);
    for (int k = 0; k < n && rc == NQS_OK; k++) rc = bench_sweep_case(o, &bench_sweep_cases[k]);
    bench_vmc_threads_restore(saved, saved_blas);
    return rc;
}
