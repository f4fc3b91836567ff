/*
 * bench.h - internal interface between the sections of `nqs bench`
 * (bench.c: command, "models"; bench_vmc.c: "sampler", "iteration" and the
 * real-O part of "sr"; bench_sr.c: the synthetic part of "sr"). Not part of
 * the library's public API.
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

/* Section "sr", synthetic part (bench_sr.c). */
int nqs_bench_sr_synthetic(struct nqs_bench_out *out);

/* Section "srsweep" (bench_vmc.c; not part of "all", several minutes): SR
 * step per solver and shift on real O over a range of P and N_s, the
 * measurements behind the `auto` rule of sr.h. */
int nqs_bench_sr_sweep(struct nqs_bench_out *out);

#endif
