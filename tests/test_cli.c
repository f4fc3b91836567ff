/*
 * test_cli.c - the `nqs` executable seen from outside: a table of bad inputs
 * (file text, arguments, expected exit status, a piece of the message that must
 * name the key or file:line), plus --version, --help and NQS_DEBUG. Runs the
 * built binary (NQS_BINARY) with fork/exec in a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "hamiltonian.h"
#include "model.h"
#include "version.h"

static char tmpdir[64];
static char input_path[128];

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/nqs_test_cli_XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    snprintf(input_path, sizeof input_path, "%s/in.ini", tmpdir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *files[] = {"in.ini", "c_bad.txt", "c_oor.txt", "c_big.txt", "c_hugej.txt",
                           "c_long.txt", "out.txt", "err.txt"};
    char p[256];
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, files[k]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/c_dir", tmpdir);
    rmdir(p);
    rmdir(tmpdir);
    return 0;
}

static void write_file(const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void read_file(const char *name, char *buf, size_t len)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Run NQS_BINARY with args (NULL-terminated; "@" stands for the input file),
 * optionally with NQS_DEBUG=1; return the exit status, stdout and stderr. */
static int run_nqs(const char *const *args, int debug, char *out, size_t out_len, char *err,
                   size_t err_len)
{
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)NQS_BINARY;
    for (int k = 0; args[k] && n < 31; k++)
        argv[n++] = (char *)(strcmp(args[k], "@") == 0 ? input_path : args[k]);
    argv[n] = NULL;
    char po[256], pe[256];
    snprintf(po, sizeof po, "%s/out.txt", tmpdir);
    snprintf(pe, sizeof pe, "%s/err.txt", tmpdir);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen(po, "w", stdout) || !freopen(pe, "w", stderr)) _exit(127);
        if (debug)
            setenv("NQS_DEBUG", "1", 1);
        else
            unsetenv("NQS_DEBUG");
        execv(NQS_BINARY, argv);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    read_file("out.txt", out, out_len);
    read_file("err.txt", err, err_len);
    return WEXITSTATUS(status);
}

static void assert_contains(const char *text, const char *sub, const char *what)
{
    if (!strstr(text, sub)) {
        fprintf(stderr, "%s: '%s' lacks '%s'\n", what, text, sub);
        fail();
    }
}

#define LAT "[lattice]\ntype = chain\nextent = 8\n"

struct bad_row {
    const char *text;       /* in.ini, or NULL: no file written */
    const char *args[8];    /* "@" = in.ini */
    int status;             /* expected exit status */
    const char *msg;        /* must appear in stderr */
};

static const struct bad_row bad_rows[] = {
    /* input file structure */
    {LAT "\n[lattis]\nx = 1\n", {"info", "@"}, 2,
     "in.ini:5: unknown section [lattis] (accepted: lattice, hamiltonian, symmetry, model"},
    {LAT "extend = 8\n", {"info", "@"}, 2,
     "in.ini:4: [lattice] extend: unknown key (accepted: type, extent, boundary)"},
    {"[lattice]\ntype = chain\ntype = square\n", {"info", "@"}, 2,
     "in.ini:3: [lattice] type: duplicate key (first given at line 2)"},
    {"[lattice]\ntype = chain\nextent 8\n", {"info", "@"}, 2,
     "in.ini:3: syntax error: expected '[section]', 'key = value' or a comment"},
    /* types and values */
    {"[lattice]\ntype = chain\nextent = eight\n", {"info", "@"}, 2,
     "in.ini:3: [lattice] extent: 'eight' is not a comma-separated list of integers"},
    {"[lattice]\ntype = honeycomb\nextent = 8\n", {"info", "@"}, 2,
     "in.ini:2: [lattice] type: 'honeycomb' is not one of the choices (accepted: "
     "chain|square|triangular)"},
    {"[lattice]\ntype = chain\n", {"info", "@"}, 2,
     "in.ini: [lattice] extent: required key is missing"},
    /* impossible lattices */
    {"[lattice]\ntype = chain\nextent = 0\n", {"info", "@"}, 2,
     "in.ini:3: [lattice] extent: entry 1 ('0') is outside [1, 4096]"},
    {"[lattice]\ntype = chain\nextent = 1\n", {"info", "@"}, 2,
     "in.ini:3: [lattice] extent: chain lattice: extent 1 in direction 1 is impossible"},
    {"[lattice]\ntype = chain\nextent = 4,4\n", {"info", "@"}, 2,
     "in.ini:3: [lattice] extent: a chain lattice needs 1 extent, got 2"},
    {"[lattice]\ntype = square\nextent = 4,4\nboundary = open,open,periodic\n", {"info", "@"}, 2,
     "in.ini:4: [lattice] boundary: 3 entries for a 2-dimensional square lattice"},
    /* Hamiltonian */
    {LAT "[hamiltonian]\ntype = ising3d\n", {"info", "@"}, 2,
     "in.ini:5: [hamiltonian] type: unknown Hamiltonian 'ising3d' (accepted: "},
    {LAT "[hamiltonian]\ntype = heisenberg\ncouplings = c_bad.txt\n", {"info", "@"}, 2,
     "c_bad.txt:3: expected 'i j J_ij'"},
    {LAT "[hamiltonian]\ntype = heisenberg\ncouplings = c_oor.txt\n", {"info", "@"}, 2,
     "c_oor.txt:3: bond (1, 9) is impossible on 8 sites"},
    {LAT "[hamiltonian]\ntype = heisenberg\ncouplings = c_oor.txt\ndisorder = uniform\n",
     {"info", "@"}, 2, "in.ini:7: [hamiltonian] disorder: cannot be combined with 'couplings'"},
    /* hostile couplings files: an index beyond int (once wrapped to a valid
     * site), a line longer than the reader's buffer (once split into two
     * bonds), a directory (once 'no bonds found'), an endless device (once an
     * endless loop), a coupling that overflows the energies */
    {LAT "[hamiltonian]\ntype = heisenberg\ncouplings = c_big.txt\n", {"info", "@"}, 2,
     "c_big.txt:2: bond (0, 4294967297) is impossible on 8 sites"},
    {LAT "[hamiltonian]\ntype = heisenberg\ncouplings = c_long.txt\n", {"info", "@"}, 2,
     "c_long.txt:1: line longer than 1023 characters"},
    {LAT "[hamiltonian]\ntype = heisenberg\ncouplings = c_dir\n", {"info", "@"}, 2,
     "c_dir: the couplings file is a directory (accepted: a regular text file"},
    {LAT "[hamiltonian]\ntype = heisenberg\ncouplings = /dev/zero\n", {"info", "@"}, 2,
     "/dev/zero: the couplings file is not a regular file"},
    {LAT "[hamiltonian]\ntype = heisenberg\ncouplings = c_hugej.txt\n", {"info", "@"}, 2,
     "c_hugej.txt:1: J_ij = 1e+308 is out of range (accepted: a finite number in [-1e+06, 1e+06])"},
    /* degenerate values, refused up front with the key named */
    {LAT "[hamiltonian]\ntype = heisenberg\nJ = 1e308\n", {"info", "@"}, 2,
     "in.ini:6: [hamiltonian] J: 1e308 is outside [-1000000, 1000000]"},
    {LAT "[hamiltonian]\ntype = ising\nh = -2e300\n", {"exact", "@"}, 2,
     "in.ini:6: [hamiltonian] h: -2e300 is outside [-1000000, 1000000]"},
    {LAT "[hamiltonian]\ntype = heisenberg\n[model]\ninit_std = 1e300\n", {"info", "@"}, 2,
     "in.ini:7: [model] init_std: 1e300 is outside [0, 10]"},
    {LAT "[hamiltonian]\ntype = heisenberg\nreference_energy = 0\n", {"info", "@"}, 2,
     "in.ini:6: [hamiltonian] reference_energy: 0 gives no relative error"},
    {"[lattice]\ntype = square\nextent = 3,3\n[hamiltonian]\ntype = heisenberg\n[model]\n"
     "type = cnn\nkernel = 64\n", {"info", "@"}, 2,
     "[model] kernel: cnn kernel extent 64 is more than twice the lattice extent"},
    {LAT "[hamiltonian]\ntype = heisenberg\n[observables]\nstructure_factor = 1e308,0\n",
     {"run", "@", "-q"}, 2,
     "[observables] structure_factor: '1e308,0' is outside the accepted range"},
    {LAT "[hamiltonian]\ntype = ising\n[sampler]\nmove = exchange\n", {"run", "@", "-q"}, 2,
     "[sampler] move: exchange keeps the magnetisation fixed, but this Hamiltonian does not "
     "conserve it (accepted: auto or flip)"},
    {LAT "[hamiltonian]\ntype = ising\n[sampler]\nmove = bond_exchange\n", {"run", "@", "-q"}, 2,
     "[sampler] move: bond_exchange keeps the magnetisation fixed"},
    /* values that would not read back from the stored input: 'key =# x'
     * (found by tests/fuzz/fuzz_config), --set with a newline or a comment */
    {LAT "[hamiltonian]\ntype =# heisenberg\n", {"info", "@"}, 2,
     "in.ini:5: [hamiltonian] type: a value cannot start with '#'"},
    {LAT "[hamiltonian]\ntype = heisenberg\n",
     {"info", "@", "--set", "hamiltonian.reference_source=x\n[lattice]\nextent = 9"}, 2,
     "--set: control character 0x0a at position 31 of the override"},
    {LAT "[hamiltonian]\ntype = heisenberg\n",
     {"info", "@", "--set", "hamiltonian.reference_source=ED ; QMC"}, 2,
     "--set: [hamiltonian] reference_source: ';' at the start of the value or after a space "
     "starts a comment"},
    /* files and --set */
    {NULL, {"info", "/nonexistent/nqs/in.ini"}, 1,
     "cannot open input file '/nonexistent/nqs/in.ini'"},
    {LAT, {"info", "@", "--set", "lattice.extent"}, 2,
     "--set: malformed override 'lattice.extent' (accepted: section.key=value)"},
    {LAT, {"info", "--set=lattis.type=chain", "@"}, 2, "--set: unknown section [lattis]"},
    {LAT, {"info", "@", "--set", "lattice.extent=4,x"}, 2,
     "--set: [lattice] extent: '4,x' is not a comma-separated list"},
    {LAT, {"info", "@", "--set", "lattice.boundary=open", "--set", "lattice.bc=open"}, 2,
     "--set: [lattice] bc: unknown key (accepted: type, extent, boundary)"},
    {LAT "[hamiltonian]\ntype = heisenberg\n[sampler]\nmethod = exact\n", {"bench", "iteration", "@"}, 2,
     "[sampler] method = exact is not benchmarked (accepted: method = metropolis)"},
    {LAT "[hamiltonian]\ntype = heisenberg\n[sampler]\nmethod = enumerate\n", {"run", "@"}, 2,
     "in.ini:7: [sampler] method: 'enumerate'"},
    /* usage */
    {LAT, {"frobnicate", "@"}, 2, "unknown command 'frobnicate' (accepted: run, exact, info, bench, measure)"},
    {LAT, {"info", "@", "--frob"}, 2, "unknown option '--frob'"},
    {LAT, {"info"}, 2, "'info' needs a CONFIG file"},
    {LAT, {"info", "@", "extra.ini"}, 2, "unexpected argument 'extra.ini'"},
    {LAT, {"info", "@", "--restart", "x.h5"}, 2, "--restart FILE is not an option of 'info'"},
    {LAT, {"info", "@", "--set"}, 2, "--set needs a value"},
    {LAT, {"run"}, 2, "'run' needs a CONFIG file"},
    {NULL, {0}, 2, "no command given"},
};

static void test_cli_bad_inputs(void **state)
{
    (void)state;
    write_file("c_bad.txt", "0 1 1.0\n1 2 1.0\n2 three 1.0\n");
    write_file("c_oor.txt", "0 1 1\n# a comment\n1 9 1\n");
    write_file("c_big.txt", "0 1 1.0\n0 4294967297 1.0\n");
    write_file("c_hugej.txt", "0 1 1e308\n");
    static char longline[1200];
    snprintf(longline, sizeof longline, "0 1 1.0%1016s2 3 1.0\n", "");
    write_file("c_long.txt", longline);
    char dir[256];
    snprintf(dir, sizeof dir, "%s/c_dir", tmpdir);
    mkdir(dir, 0755);
    static char out[1 << 16], err[1 << 16];
    for (size_t k = 0; k < sizeof bad_rows / sizeof bad_rows[0]; k++) {
        const struct bad_row *r = &bad_rows[k];
        unlink(input_path);
        if (r->text) write_file("in.ini", r->text);
        int st = run_nqs(r->args, 0, out, sizeof out, err, sizeof err);
        if (st != r->status) {
            fprintf(stderr, "row %zu: exit status %d, expected %d; stderr: %s\n", k, st,
                    r->status, err);
            fail();
        }
        assert_contains(err, "nqs: error: ", "stderr");
        assert_contains(err, r->msg, "stderr");
        /* One message, no debugging location without NQS_DEBUG. */
        assert_null(strstr(err, "raised at"));
    }
}

/* GSL's default error handler aborts: a chain count whose random number
 * generators do not fit in memory (address space limited in the child) used
 * to end in "Default GSL error handler invoked" and SIGABRT. Now every limit
 * gives the one-line out-of-memory error and exit status 1. (AddressSanitizer
 * reserves terabytes of address space: skipped in that build.) */
static void test_cli_gsl_errors_do_not_abort(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    skip();
#else
    write_file("in.ini", LAT "[hamiltonian]\ntype = ising\n[model]\ntype = rbm\nalpha = 1\n"
                             "[sampler]\nchains = 1048576\nsamples = 1048576\n"
                             "[optimizer]\niterations = 1\n");
    char out_path[256], po[256], pe[256];
    snprintf(out_path, sizeof out_path, "%s/gsl.h5", tmpdir);
    snprintf(po, sizeof po, "%s/out.txt", tmpdir);
    snprintf(pe, sizeof pe, "%s/err.txt", tmpdir);
    static const long limits_mb[] = {250, 300, 400}; /* each aborted before */
    for (size_t k = 0; k < sizeof limits_mb / sizeof *limits_mb; k++) {
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            struct rlimit rl = {(rlim_t)limits_mb[k] << 20, (rlim_t)limits_mb[k] << 20};
            if (!freopen(po, "w", stdout) || !freopen(pe, "w", stderr)) _exit(127);
            setenv("OMP_NUM_THREADS", "1", 1);
            setrlimit(RLIMIT_AS, &rl);
            execl(NQS_BINARY, NQS_BINARY, "run", input_path, "-q", "--force", "-o", out_path,
                  (char *)NULL);
            _exit(127);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        static char err[1 << 14];
        read_file("err.txt", err, sizeof err);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 1) {
            fprintf(stderr, "limit %ld MB: status %#x; stderr: %s\n", limits_mb[k], status, err);
            fail();
        }
        assert_contains(err, "nqs: error: ", "stderr");
        assert_contains(err, "out of memory", "stderr");
        assert_null(strstr(err, "GSL error handler"));
    }
    unlink(out_path);
#endif
}

static void test_cli_unknown_hamiltonian_lists_names(void **state)
{
    (void)state;
    static char out[4096], err[4096];
    write_file("in.ini", LAT "[hamiltonian]\ntype = ising3d\n");
    const char *args[] = {"info", "@", NULL};
    assert_int_equal(run_nqs(args, 0, out, sizeof out, err, sizeof err), 2);
    for (int k = 0; nqs_ham_registry[k]; k++) assert_contains(err, nqs_ham_registry[k]->name, "stderr");
}

static void test_cli_debug_location(void **state)
{
    (void)state;
    static char out[4096], err[4096];
    write_file("in.ini", LAT "extend = 8\n");
    const char *args[] = {"info", "@", NULL};
    assert_int_equal(run_nqs(args, 1, out, sizeof out, err, sizeof err), 2);
    assert_contains(err, "nqs: error: ", "stderr");
    assert_contains(err, "raised at ", "stderr");
    assert_contains(err, ".c:", "stderr");
}

static void test_cli_version(void **state)
{
    (void)state;
    static char out[4096], err[4096];
    const char *args[] = {"--version", NULL};
    assert_int_equal(run_nqs(args, 0, out, sizeof out, err, sizeof err), 0);
    char want[128];
    snprintf(want, sizeof want, "nqs %s (git %s)\n", NQS_VERSION, NQS_GIT_COMMIT);
    assert_string_equal(out, want);
    assert_string_equal(err, "");
}

static void test_cli_help_mentions_everything(void **state)
{
    (void)state;
    static char out[1 << 17], err[4096];
    const char *args[] = {"--help", NULL};
    assert_int_equal(run_nqs(args, 0, out, sizeof out, err, sizeof err), 0);
    const char *must[] = {"run", "exact", "info", "bench", "--set", "--json", "--output",
                          "--force", "--restart", "--quiet", "--version", "[lattice]",
                          "[hamiltonian]", "[model]", "extent", "boundary", "couplings",
                          "disorder", "reference_energy", "init_std", "Pauli", "+1 or -1",
                          "Exit status"};
    for (size_t k = 0; k < sizeof must / sizeof must[0]; k++)
        assert_contains(out, must[k], "--help");
    for (int k = 0; nqs_ham_registry[k]; k++) assert_contains(out, nqs_ham_registry[k]->name, "--help");
    for (int k = 0; nqs_model_registry[k]; k++)
        assert_contains(out, nqs_model_registry[k]->name, "--help");

    /* Per-command help lists only that command's flags. */
    const char *info_help[] = {"info", "--help", NULL};
    assert_int_equal(run_nqs(info_help, 0, out, sizeof out, err, sizeof err), 0);
    assert_contains(out, "Usage: nqs info", "info --help");
    assert_contains(out, "--json", "info --help");
    assert_null(strstr(out, "--restart"));
    const char *run_help[] = {"run", "-h", NULL};
    assert_int_equal(run_nqs(run_help, 0, out, sizeof out, err, sizeof err), 0);
    assert_contains(out, "--restart FILE", "run --help");
}

/* Parameter counts of a twin pair from the formulas of README.md "Models", not from the code: on the
 * 4x4 periodic square lattice (N = 16) with alpha = 2 the symmetric RBM has
 * alpha*N + alpha + 1 = 35 parameters and the dense RBM N + alpha*N + alpha*N^2
 * = 560. */
static void test_cli_info_counts_twin_parameters(void **state)
{
    (void)state;
    assert_non_null(nqs_model_find("rbm_symm"));
    assert_non_null(nqs_model_find("rbm"));
    assert_non_null(nqs_ham_find("heisenberg"));
    static char out[1 << 16], err[4096];
    write_file("in.ini", "[lattice]\ntype = square\nextent = 4,4\n[hamiltonian]\n"
               "type = heisenberg\n[model]\ntype = rbm_symm\nalpha = 2\n"
               "[sampler]\nkey_info_does_not_read = 1\n");
    const char *args[] = {"info", "@", "--json", NULL};
    assert_int_equal(run_nqs(args, 0, out, sizeof out, err, sizeof err), 0);
    assert_contains(out, "\"n_params\": 35,", "info --json");
    assert_contains(out, "\"twin\": \"rbm\"", "info --json");
    assert_contains(out, "\"twin_n_params\": 560,", "info --json");
    assert_contains(out, "\"twin_ratio\": 16}", "info --json");
    assert_contains(out, "\"n_sites\": 16,", "info --json");
    assert_contains(out, "\"shared\": true,", "info --json");
    const char *dense[] = {"info", "@", "--json", "--set", "model.type=rbm", NULL};
    assert_int_equal(run_nqs(dense, 0, out, sizeof out, err, sizeof err), 0);
    assert_contains(out, "\"n_params\": 560,", "info --json");
    assert_contains(out, "\"twin_n_params\": 35,", "info --json");
    assert_contains(out, "\"shared\": false,", "info --json");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_bad_inputs),
        cmocka_unit_test(test_cli_gsl_errors_do_not_abort),
        cmocka_unit_test(test_cli_unknown_hamiltonian_lists_names),
        cmocka_unit_test(test_cli_debug_location),
        cmocka_unit_test(test_cli_version),
        cmocka_unit_test(test_cli_help_mentions_everything),
        cmocka_unit_test(test_cli_info_counts_twin_parameters),
    };
    /* NQS_TEST_FILTER=pattern (cmocka wildcards) runs only matching tests */
    if (getenv("NQS_TEST_FILTER")) cmocka_set_test_filter(getenv("NQS_TEST_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
