/*
 * bench.h - interface between the command `nqs bench` (command.c) and its
 * sections (models.c: "models"; vmc.c: "sampler", "iteration", the real-O
 * part of "sr", "srsweep"; sr_synthetic.c: the synthetic part of "sr"), and
 * what they share (common.c). The sections include this header only, never
 * command.c's; the benchmarks are not part of the core library (bench/ builds
 * the library nqs_bench, linked into nqs and nqs-bench).
 *
 * Each section prints a human-readable table, or with --json the elements of
 * one JSON array that the command wraps as a member of its single object.
 */
#ifndef NQS_BENCH_H
#define NQS_BENCH_H

#include <stdio.h>
#include <time.h>

#include "config.h"
#include "json.h"

struct nqs_bench_out {
    FILE *f;
    int json;
    struct nqs_json_writer w; /* with --json: the one object, a member array per section */
};

/* Seconds on clock `id` (CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID, ...). */
double nqs_bench_clock(clockid_t id);

/* Peak resident memory of the process so far, MiB (getrusage ru_maxrss). */
double nqs_bench_peak_mib(void);

/* The members of an "sr" row that every SR step has: seconds_wall,
 * seconds_cpu, peak_rss_mib and the solver's cg_iterations, converged and
 * residual. */
struct nqs_sr_info;
void nqs_bench_sr_step_json(struct nqs_json_writer *w, double wall, double cpu,
                            const struct nqs_sr_info *info);

/* Section "models" (models.c): log-psi ratios, cache updates and gradients
 * of every registered model, ns per call. */
int nqs_bench_models(struct nqs_bench_out *out);

/* A solver variant timed by the sr section. */
struct nqs_bench_solver {
    int solver;    /* enum nqs_sr_solver */
    int precond;   /* enum nqs_sr_precond (cg only) */
    int precision; /* enum nqs_sr_precision (cg only) */
    double cg_tol; /* 0: the default */
    const char *name;
};

/* Section "sampler": Metropolis moves and local energies per second per
 * thread (Heisenberg 10x10 periodic, rbm and rbm_symm at alpha 1 and 4, on 1
 * and 2 threads). */
int nqs_bench_sampler(struct nqs_bench_out *out);

/* Section "iteration": one full VMC iteration (sampling, local energies,
 * log-derivatives, statistics, SR step, refresh, HDF5 append into a
 * temporary file) with its per-phase breakdown, on one thread, for the
 * built-in target problems, or for the problem of `cfg` when it is not NULL
 * (then on the default number of OpenMP threads). */
int nqs_bench_iteration(struct nqs_bench_out *out, struct nqs_config *cfg);

/* Section "sr" with real log-derivatives sampled from the models of the
 * target problems: SR step time per solver. */
int nqs_bench_sr_real(struct nqs_bench_out *out);

/* Section "sr", synthetic part (sr_synthetic.c). */
int nqs_bench_sr_synthetic(struct nqs_bench_out *out);

/* Section "srsweep" (vmc.c; not part of "all", several minutes): SR
 * step per solver and shift on real O over a range of P and N_s, the
 * measurements behind the `auto` rule of sr.h. */
int nqs_bench_sr_sweep(struct nqs_bench_out *out);

#endif
