/*
 * main.c - the `nqs` command line: parse flags, read the input file, apply
 * every --set override in order, dispatch to nqs_cmd_<command> (cli.h) and
 * turn the returned status into a message and an exit status:
 *   0 success, 1 error, 2 invalid input or usage (NQS_EINVAL),
 *   3 a run stopped on request with its state saved (NQS_STOPPED).
 * This is the only file that prints errors or exits.
 *
 * Under MPI (mpirun -np R nqs run ...) every rank parses the same command
 * line; only `run` is distributed, the other commands refuse R > 1. Rank 0
 * prints; an error every rank agreed on (comm.h nqs_comm_check) ends every
 * rank normally with the same exit status; an error one rank met alone, that
 * the others may be waiting on in a collective, ends the job with
 * nqs_comm_abort (MPI_Abort) after this rank printed it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "comm.h"
#include "error.h"
#include "problem.h"
#include "version.h"

enum {
    MAIN_F_SET = 1 << 0,
    MAIN_F_JSON = 1 << 1,
    MAIN_F_OUTPUT = 1 << 2,
    MAIN_F_FORCE = 1 << 3,
    MAIN_F_RESTART = 1 << 4,
    MAIN_F_QUIET = 1 << 5,
    MAIN_F_SAMPLES = 1 << 6,
};

enum { MAIN_CONFIG_REQUIRED, MAIN_CONFIG_OPTIONAL, MAIN_CONFIG_UNLESS_RESTART,
       MAIN_CONFIG_RESULT /* the positional argument is a result file, not an input */ };

struct main_command {
    const char *name;
    const char *args;    /* usage line after the name */
    const char *summary; /* one line for `nqs --help` */
    const char *text;    /* paragraph for `nqs <command> --help` */
    unsigned flags;      /* accepted MAIN_F_* */
    int config;          /* MAIN_CONFIG_* */
    int (*fn)(const struct nqs_cli *cli);
};

static const struct main_command main_commands[] = {
    {"run", "[options] CONFIG | [options] --restart FILE [CONFIG]",
     "optimise the model by variational Monte Carlo and write the results file",
     "Samples |psi|^2 with Metropolis chains, estimates the energy and its gradient and\n"
     "updates the parameters (stochastic reconfiguration, Adam or SGD), writing the history,\n"
     "checkpoints and the final evaluation to the HDF5 results file. Reads every section of\n"
     "CONFIG; a key no part of the run reads is an error. With --restart the run continues\n"
     "from a results or checkpoint file and CONFIG is optional (the input stored in the file\n"
     "is used; --set still overrides it).\n",
     MAIN_F_SET | MAIN_F_JSON | MAIN_F_OUTPUT | MAIN_F_FORCE | MAIN_F_RESTART | MAIN_F_QUIET,
     MAIN_CONFIG_UNLESS_RESTART, nqs_cmd_run},
    {"exact", "[options] CONFIG",
     "exact ground-state energy by Lanczos diagonalisation (small lattices)",
     "Diagonalises the Hamiltonian of [lattice] and [hamiltonian] exactly (ARPACK Lanczos,\n"
     "restricted to the magnetisation sector when the Hamiltonian conserves it) and prints\n"
     "the ground-state energy in Pauli units, for use as reference_energy. With a [symmetry]\n"
     "sector (momentum, point_group, spin_flip, magnetisation; docs/symmetry.md) it prints\n"
     "the lowest energy of that sector, from a basis of orbit representatives.\n",
     MAIN_F_SET | MAIN_F_JSON | MAIN_F_OUTPUT | MAIN_F_FORCE | MAIN_F_QUIET, MAIN_CONFIG_REQUIRED,
     nqs_cmd_exact},
    {"info", "[options] CONFIG",
     "describe lattice, Hamiltonian and model, and compare parameter counts with the twin",
     "Builds the lattice, the Hamiltonian and the model of CONFIG without sampling and\n"
     "prints the lattice (sites, bonds per neighbour order, translation group, bipartite),\n"
     "the Hamiltonian (conserved magnetisation, Marshall sign rule), the lattice's space\n"
     "group and the [symmetry] sector with the order of its group, the model (shared\n"
     "weights, hidden units, layout, parameters) and the parameter count of its twin, the\n"
     "same architecture with the other kind of weight sharing. Reads only [lattice],\n"
     "[hamiltonian], [symmetry] and [model]; the other sections of a run input are not\n"
     "checked.\n",
     MAIN_F_SET | MAIN_F_JSON | MAIN_F_QUIET, MAIN_CONFIG_REQUIRED, nqs_cmd_info},
    {"bench", "[options] [SECTION...] [CONFIG]",
     "time the model, Hamiltonian, sampler and solver kernels",
     "Times the hot kernels and prints the figures. SECTION is one of (default: all)\n"
     "  models     log-psi ratios, cache updates, gradients of every model (ns per call)\n"
     "  sampler    Metropolis moves and local energies per second per thread, 1 and 2 threads\n"
     "  iteration  one full VMC iteration with its per-phase breakdown, one thread, for the\n"
     "             built-in target problems, or for the problem of CONFIG when given\n"
     "  sr         one SR step per solver, synthetic and real log-derivatives\n"
     "  srsweep    SR step per solver and shift over a range of P and N_s (several minutes;\n"
     "             the measurements behind solver = auto)\n"
     "  all        every section but srsweep\n"
     "Several sections may be given, separated by spaces or commas.\n",
     MAIN_F_SET | MAIN_F_JSON | MAIN_F_OUTPUT | MAIN_F_FORCE | MAIN_F_QUIET,
     MAIN_CONFIG_OPTIONAL, nqs_cmd_bench},
    {"measure", "[options] FILE",
     "measure energy and observables of a finished or checkpointed run with fresh samples",
     "Reads the input and the parameters stored in the result FILE (/result/params of a\n"
     "finished run, else the last checkpoint), draws fresh Markov-chain samples (or the exact\n"
     "enumeration) without optimising, and writes the energy and the [observables] as a new\n"
     "group /measure/<k> of FILE (earlier groups are kept), or of a new file with -o.\n"
     "--set changes the stored input first (e.g. --set observables.correlations=full, or\n"
     "sampler.seed for other random streams); model, lattice and Hamiltonian must still\n"
     "match the file. Default samples: [output] final_samples, else 4 x [sampler] samples.\n"
     "Not for a file a run is still writing (stop it first; a killed run's file is fine).\n",
     MAIN_F_SET | MAIN_F_JSON | MAIN_F_OUTPUT | MAIN_F_FORCE | MAIN_F_QUIET | MAIN_F_SAMPLES,
     MAIN_CONFIG_RESULT, nqs_cmd_measure},
};
#define MAIN_N_COMMANDS ((int)(sizeof main_commands / sizeof main_commands[0]))

static const struct {
    unsigned flag;
    const char *spelling;
    const char *text;
} main_flags[] = {
    {MAIN_F_SET, "--set SECTION.KEY=VALUE",
     "override or add an input key (repeatable, applied in order; wins over the file)"},
    {MAIN_F_JSON, "--json", "print one JSON object on standard output"},
    {MAIN_F_OUTPUT, "-o, --output FILE", "output file (default: [output] file of the input)"},
    {MAIN_F_FORCE, "--force", "overwrite an existing output file"},
    {MAIN_F_RESTART, "--restart FILE", "continue from a results or checkpoint file"},
    {MAIN_F_QUIET, "-q, --quiet", "no progress lines"},
    {MAIN_F_SAMPLES, "--samples N", "samples of the measurement (all chains)"},
};
#define MAIN_N_FLAGS ((int)(sizeof main_flags / sizeof main_flags[0]))

static const char main_conventions[] =
    "Conventions:\n"
    "  Spins are s_i = +1 or -1 (s_i = +1 is spin up along z). Hamiltonians are written with\n"
    "  Pauli matrices sigma (not S = sigma/2), so every energy is in Pauli units, 4 times\n"
    "  the spin-1/2-operator value for two-spin terms: Heisenberg H = J sum_<ij> sigma_i.sigma_j,\n"
    "  4x4 periodic square lattice E0 = -44.9139328 (= 4 x -11.2284832). Transverse-field\n"
    "  Ising H = -J sum_<ij> sigma^z_i sigma^z_j - h sum_i sigma^x_i.\n"
    "  Site numbering: site i = x + Lx*y (x fastest). Couplings files hold 'i j J_ij' lines.\n"
    "  Parameters are complex; seeds make every run reproducible.\n";

static void main_print_version(void)
{
    printf("nqs %s (git %s)\n", NQS_VERSION, NQS_GIT_COMMIT);
}

static void main_print_flags(FILE *out, unsigned mask)
{
    for (int k = 0; k < MAIN_N_FLAGS; k++)
        if (mask & main_flags[k].flag)
            fprintf(out, "  %-26s %s\n", main_flags[k].spelling, main_flags[k].text);
}

static void main_print_help(void)
{
    printf("Usage: nqs <command> [options] [CONFIG]\n"
           "       nqs <command> --help\n"
           "       nqs --help | --version\n\n"
           "Ground states of spin-1/2 lattice models by variational Monte Carlo with\n"
           "neural-network wavefunctions, with and without weight sharing.\n\n"
           "Commands:\n");
    for (int k = 0; k < MAIN_N_COMMANDS; k++)
        printf("  %-8s %s\n", main_commands[k].name, main_commands[k].summary);
    printf("\nOptions (which command accepts which: nqs <command> --help):\n");
    main_print_flags(stdout, ~0u);
    printf("  %-26s %s\n", "-h, --help", "this help");
    printf("  %-26s %s\n\n", "-V, --version", "version and git commit");
    printf("Input: an INI file with the sections [lattice] [hamiltonian] [model] [sampler]\n"
           "[optimizer] [output] [observables]. Comments start with ';' or '#'. Unknown\n"
           "sections, unknown keys, repeated keys and malformed values are errors that name\n"
           "the file, the line and the accepted values.\n\n");
    printf("%s\n", main_conventions);
    printf("Keys (type, default): meaning\n");
    nqs_problem_print_help(stdout);
    nqs_driver_print_help(stdout);
    printf("\nExit status: 0 success, 1 error, 2 invalid input or usage, 3 run stopped on\n"
           "request with its state saved. NQS_DEBUG=1 also prints where an error was raised.\n");
}

static void main_print_command_help(const struct main_command *cmd)
{
    printf("Usage: nqs %s %s\n\n%s\nOptions:\n", cmd->name, cmd->args, cmd->text);
    main_print_flags(stdout, cmd->flags);
    printf("  %-26s %s\n", "-h, --help", "this help");
    if (cmd->fn == nqs_cmd_info || cmd->fn == nqs_cmd_exact || cmd->fn == nqs_cmd_run) {
        printf("\n%s\nKeys (type, default): meaning\n", main_conventions);
        nqs_problem_print_help(stdout);
        if (cmd->fn == nqs_cmd_run) nqs_driver_print_help(stdout);
    }
}

/* Usage errors are the same on every rank (same argv): rank 0 prints. */
static int main_usage_error(const char *fmt, const char *arg)
{
    if (nqs_comm_rank() != 0) return 2;
    fprintf(stderr, "nqs: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'nqs --help'.\n");
    return 2;
}

static int main_exit_status(int rc)
{
    return rc == NQS_OK ? 0 : rc == NQS_STOPPED ? 3 : rc == NQS_EINVAL ? 2 : 1;
}

/* Message and exit status of a command's status; rank 0 prints. A status
 * the other ranks do not share ends the whole job from here. */
static int main_report(int rc)
{
    if (nqs_comm_size() > 1 && rc != NQS_OK && rc != nqs_comm_agreed()) {
        fprintf(stderr, "nqs: error on MPI rank %d of %d (ending every rank): %s\n", nqs_comm_rank(),
                nqs_comm_size(), nqs_last_error()[0] ? nqs_last_error() : nqs_status_name(rc));
        fflush(stderr);
        nqs_comm_abort(main_exit_status(rc));
    }
    if (nqs_comm_rank() != 0) return main_exit_status(rc);
    switch (rc) {
    case NQS_OK: return 0;
    case NQS_STOPPED:
        fprintf(stderr, "nqs: stopped: %s\n", nqs_last_error());
        return 3;
    case NQS_NOTCONV:
        fprintf(stderr, "nqs: error: not converged: %s\n", nqs_last_error());
        break;
    default:
        fprintf(stderr, "nqs: error: %s\n", nqs_last_error()[0] ? nqs_last_error()
                                                                : nqs_status_name(rc));
    }
    const char *dbg = getenv("NQS_DEBUG");
    if (dbg && strcmp(dbg, "0") != 0 && dbg[0])
        fprintf(stderr, "nqs: (%s, raised at %s)\n", nqs_status_name(rc), nqs_last_error_where());
    return main_exit_status(rc);
}

/* Value of a flag: "--flag=value" or the next argument. */
static const char *main_flag_value(int argc, char **argv, int *k, const char *eq)
{
    if (eq) return eq + 1;
    if (*k + 1 >= argc) return NULL;
    return argv[++*k];
}

int nqs_main(int argc, char **argv)
{
    nqs_error_install_gsl_handler(); /* GSL errors become messages, not abort() */
    if (nqs_comm_init(&argc, &argv) != NQS_OK) {
        fprintf(stderr, "nqs: error: %s\n", nqs_last_error());
        nqs_comm_abort(1);
    }
    struct nqs_cli cli = {0};
    cli.argc = argc;
    cli.argv = argv;
    const char **sets = calloc((size_t)argc + 1, sizeof *sets);
    int n_sets = 0, help = 0, version = 0, status;
    unsigned given = 0;
    const struct main_command *cmd = NULL;
    if (!sets) {
        fprintf(stderr, "nqs: error: out of memory\n");
        nqs_comm_abort(1);
    }

    int only_positional = 0;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        if (!only_positional && a[0] == '-' && a[1] != '\0') {
            const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
            size_t len = eq ? (size_t)(eq - a) : strlen(a);
#define MAIN_IS(s) (len == strlen(s) && strncmp(a, s, len) == 0)
            const char *v;
            if (strcmp(a, "--") == 0) {
                only_positional = 1;
            } else if (MAIN_IS("-h") || MAIN_IS("--help")) {
                help = 1;
            } else if (MAIN_IS("-V") || MAIN_IS("--version")) {
                version = 1;
            } else if (MAIN_IS("--json") && !eq) {
                given |= MAIN_F_JSON;
                cli.json = 1;
            } else if (MAIN_IS("--force") && !eq) {
                given |= MAIN_F_FORCE;
                cli.force = 1;
            } else if ((MAIN_IS("-q") || MAIN_IS("--quiet")) && !eq) {
                given |= MAIN_F_QUIET;
                cli.quiet = 1;
            } else if (MAIN_IS("--set")) {
                if (!(v = main_flag_value(argc, argv, &k, eq))) {
                    status = main_usage_error("%s needs a value (section.key=value)", a);
                    goto done;
                }
                given |= MAIN_F_SET;
                sets[n_sets++] = v;
            } else if (MAIN_IS("-o") || MAIN_IS("--output")) {
                if (!(v = main_flag_value(argc, argv, &k, eq))) {
                    status = main_usage_error("%s needs a file name", a);
                    goto done;
                }
                if (cli.output) {
                    status = main_usage_error("%s given twice", "--output");
                    goto done;
                }
                given |= MAIN_F_OUTPUT;
                cli.output = v;
            } else if (MAIN_IS("--samples")) {
                char *end;
                if (!(v = main_flag_value(argc, argv, &k, eq)) || (cli.samples = strtol(v, &end, 10),
                                                                   *end != '\0' || end == v) ||
                    cli.samples < 1 || cli.samples > 1000000000L) {
                    status = main_usage_error("%s needs a number of samples in [1, 1e9]", "--samples");
                    goto done;
                }
                given |= MAIN_F_SAMPLES;
            } else if (MAIN_IS("--restart")) {
                if (!(v = main_flag_value(argc, argv, &k, eq))) {
                    status = main_usage_error("%s needs a file name", a);
                    goto done;
                }
                if (cli.restart) {
                    status = main_usage_error("%s given twice", "--restart");
                    goto done;
                }
                given |= MAIN_F_RESTART;
                cli.restart = v;
            } else {
                status = main_usage_error("unknown option '%s'", a);
                goto done;
            }
#undef MAIN_IS
        } else if (!cmd) {
            for (int c = 0; c < MAIN_N_COMMANDS; c++)
                if (strcmp(a, main_commands[c].name) == 0) cmd = &main_commands[c];
            if (!cmd) {
                status = main_usage_error("unknown command '%s' (accepted: run, exact, info, bench, measure)",
                                          a);
                goto done;
            }
        } else if (cmd->fn == nqs_cmd_bench && nqs_bench_sections(a)) {
            cli.bench_sections |= nqs_bench_sections(a);
        } else if (!cli.config_path) {
            cli.config_path = a;
        } else {
            status = main_usage_error("unexpected argument '%s' (one CONFIG file at most)", a);
            goto done;
        }
    }

    if (help) {
        if (nqs_comm_rank() == 0) {
            if (cmd)
                main_print_command_help(cmd);
            else
                main_print_help();
        }
        status = 0;
        goto done;
    }
    if (version) {
        if (nqs_comm_rank() == 0) main_print_version();
        status = 0;
        goto done;
    }
    if (!cmd) {
        status = main_usage_error("%sno command given (accepted: run, exact, info, bench, measure)", "");
        goto done;
    }
    cli.command = cmd->name;
    for (int k = 0; k < MAIN_N_FLAGS; k++)
        if ((given & main_flags[k].flag) && !(cmd->flags & main_flags[k].flag)) {
            char msg[128];
            snprintf(msg, sizeof msg, "%s is not an option of '%s'", main_flags[k].spelling,
                     cmd->name);
            status = main_usage_error("%s", msg);
            goto done;
        }
    if (!cli.config_path && cmd->config == MAIN_CONFIG_RESULT) {
        status = main_usage_error("'%s' needs a result FILE", cmd->name);
        goto done;
    }
    if (!cli.config_path && (cmd->config == MAIN_CONFIG_REQUIRED ||
                             (cmd->config == MAIN_CONFIG_UNLESS_RESTART && !cli.restart))) {
        status = main_usage_error("'%s' needs a CONFIG file", cmd->name);
        goto done;
    }
    if (nqs_comm_size() > 1 && cmd->fn != nqs_cmd_run) {
        char msg[160];
        snprintf(msg, sizeof msg, "'nqs %s' runs on one process, not on %d MPI ranks (only "
                 "'nqs run' is distributed): start it without mpirun", cmd->name, nqs_comm_size());
        status = main_usage_error("%s", msg);
        goto done;
    }

    cli.cfg = nqs_config_alloc();
    if (!cli.cfg) {
        status = main_report(NQS_ENOMEM);
        goto done;
    }
    int rc = cli.config_path && cmd->config != MAIN_CONFIG_RESULT
                 ? nqs_config_read_file(cli.cfg, cli.config_path)
                 : NQS_OK;
    for (int k = 0; rc == NQS_OK && k < n_sets; k++) rc = nqs_config_set(cli.cfg, sets[k]);
    rc = nqs_comm_check(rc); /* the input file may be unreadable on one node only */
    if (rc == NQS_OK) rc = cmd->fn(&cli);
    status = main_report(rc);

done:
    nqs_config_free(cli.cfg);
    free(sets);
    nqs_comm_finalize();
    return status;
}
