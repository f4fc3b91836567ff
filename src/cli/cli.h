/*
 * cli.h - the parsed command line handed from main.c to each command.
 *
 * main.c parses global flags, reads the input file, applies every `--set`
 * override and dispatches to nqs_cmd_<command>. A command returns a status
 * (error.h); main.c prints "nqs: error: <message>" and maps NQS_EINVAL to exit
 * status 2 and every other error to 1. Commands print their normal output
 * (human-readable, or one JSON object with --json) to stdout.
 */
#ifndef NQS_CLI_H
#define NQS_CLI_H

#include "config.h"

struct nqs_cli {
    const char *command;     /* "run", "exact", "info", "bench" */
    const char *config_path; /* the CONFIG argument, or NULL (bench may run without one) */
    struct nqs_config *cfg;  /* input with overrides applied (never NULL for run/exact/info) */
    int json;                /* --json: one JSON object on stdout */
    int force;               /* --force: overwrite an existing output file */
    const char *output;      /* -o/--output FILE, or NULL (then [output] file) */
    const char *restart;     /* --restart FILE (run), or NULL */
    int quiet;               /* -q: no progress lines */
    int argc;                /* full command line, for provenance in result files */
    char **argv;
    unsigned bench_sections; /* bench: sections named on the command line (0: all) */
    long samples;            /* measure: --samples N (0: not given) */
};

int nqs_cmd_info(const struct nqs_cli *cli);    /* src/cli/info.c */
int nqs_cmd_exact(const struct nqs_cli *cli);   /* src/cli/exact_cmd.c */
int nqs_cmd_run(const struct nqs_cli *cli);     /* src/core/driver.c */
int nqs_cmd_bench(const struct nqs_cli *cli);   /* bench/command.c */
int nqs_cmd_measure(const struct nqs_cli *cli); /* src/cli/measure.c: cli->config_path is the result file */

/* Apply every `--set` of argv to cfg, in order (src/core/driver.c). */
int nqs_driver_apply_sets(struct nqs_config *cfg, int argc, char **argv);
/* Samples of a final evaluation for the input cfg: [output] final_samples, or
 * 4 x [sampler] samples (`sampler_samples`) when it is 0 (src/core/driver.c). */
int nqs_driver_final_samples(struct nqs_config *cfg, long sampler_samples, long *n);

/* The whole command line of `nqs` (src/cli/main.c); src/cli/nqs.c's main() and
 * nqs-bench's (bench/main.c, which inserts the word "bench") call it. Returns
 * the exit status. */
int nqs_main(int argc, char **argv);

/* Bit mask of the `nqs bench` sections named by
 * `word` ("models", "sampler", "iteration", "sr", "all", or a comma-separated
 * list of them); 0 if `word` is not such a list (then it is the CONFIG). */
unsigned nqs_bench_sections(const char *word);

/* Keys of [sampler] [optimizer] [output] [observables] for --help (src/core/driver.c). */
#include <stdio.h>
void nqs_driver_print_help(FILE *out);

#endif
