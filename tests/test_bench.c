/*
 * test_bench.c - the plumbing of `nqs bench` (bench/command.c, bench/vmc.c):
 * section names on the command line, and the "iteration" section on the
 * problem of a small CONFIG with --json. No timing is asserted (speed is
 * reported by the benchmark, never tested); the checks are on what the
 * output must contain whatever the machine: the problem's parameter count
 * from the formula in README.md "Models", the sample count of the input, the solver
 * the input forces, and that the temporary HDF5 file is removed.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/nqs_test_bench_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    const char *files[] = {"in.ini", "out.txt", "err.txt"};
    char p[256];
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, files[k]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/tmp", tmpdir);
    rmdir(p);
    rmdir(tmpdir);
    return 0;
}

static void slurp(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Run NQS_BINARY with `args` (NULL-terminated), TMPDIR = tmpdir/tmp; returns
 * the exit status and stdout, stderr. */
static int run_nqs(const char *const *args, char *out, size_t out_len, char *err, size_t err_len)
{
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)NQS_BINARY;
    for (int k = 0; args[k] && n < 15; k++) argv[n++] = (char *)args[k];
    argv[n] = NULL;
    char po[256], pe[256], td[256];
    snprintf(po, sizeof po, "%s/out.txt", tmpdir);
    snprintf(pe, sizeof pe, "%s/err.txt", tmpdir);
    snprintf(td, sizeof td, "%s/tmp", tmpdir);
    if (access(td, F_OK) != 0) assert_int_equal(mkdir(td, 0700), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen(po, "w", stdout) || !freopen(pe, "w", stderr)) _exit(127);
        setenv("TMPDIR", td, 1);
        setenv("OMP_NUM_THREADS", "1", 1);
        execv(NQS_BINARY, argv);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    slurp(po, out, out_len);
    slurp(pe, err, err_len);
    return WEXITSTATUS(status);
}

/* Section words: single names, comma lists, "all"; anything else is 0 (then
 * main.c takes the word as the CONFIG path). Bits follow the section order
 * models, sampler, iteration, sr, srsweep; "all" leaves out the long srsweep. */
static void test_bench_sections_parse(void **state)
{
    (void)state;
    assert_int_equal(nqs_bench_sections("models"), 1u);
    assert_int_equal(nqs_bench_sections("sampler"), 2u);
    assert_int_equal(nqs_bench_sections("iteration"), 4u);
    assert_int_equal(nqs_bench_sections("sr"), 8u);
    assert_int_equal(nqs_bench_sections("sampler,sr"), 10u);
    assert_int_equal(nqs_bench_sections("all"), 15u);
    assert_int_equal(nqs_bench_sections("models,all"), 15u);
    assert_int_equal(nqs_bench_sections("srsweep"), 16u);
    assert_int_equal(nqs_bench_sections("all,srsweep"), 31u);
    assert_int_equal(nqs_bench_sections("run.ini"), 0u);
    assert_int_equal(nqs_bench_sections("models,foo"), 0u);
    assert_int_equal(nqs_bench_sections("model"), 0u);
    assert_int_equal(nqs_bench_sections("srx"), 0u);
}

/* rbm_symm, alpha 1 on a periodic chain of 8: P = alpha N + alpha + 1 = 10
 * (README.md "Models"); 4 chains x 16 samples; dense SR forced. */
static void test_bench_iteration_of_config_json(void **state)
{
    (void)state;
    char in[256];
    snprintf(in, sizeof in, "%s/in.ini", tmpdir);
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    fputs("[lattice]\ntype = chain\nextent = 8\n[hamiltonian]\ntype = heisenberg\n"
          "[model]\ntype = rbm_symm\nalpha = 1\n[sampler]\nchains = 4\nsamples = 64\n"
          "[optimizer]\nsolver = dense\n[output]\nfile = never-written.h5\n",
          f);
    fclose(f);
    static char out[1 << 14], err[1 << 14];
    const char *args[] = {"bench", "iteration", in, "--json", NULL};
    int st = run_nqs(args, out, sizeof out, err, sizeof err);
    if (st != 0) fprintf(stderr, "stderr: %s\n", err);
    assert_int_equal(st, 0);
    assert_int_equal(strncmp(out, "{\n  \"iteration\": [", 18), 0);
    assert_non_null(strstr(out, "\"n_par\": 10,"));
    assert_non_null(strstr(out, "\"n_samples\": 64,"));
    assert_non_null(strstr(out, "\"solver\": \"dense\""));
    assert_non_null(strstr(out, "\"ms_cpu\": "));
    assert_null(strstr(out, "\"models\""));
    size_t len = strlen(out);
    assert_true(len > 6 && strcmp(out + len - 6, "  ]\n}\n") == 0);
    /* the temporary result file is gone, and [output] file was not written */
    char td[256];
    snprintf(td, sizeof td, "%s/tmp", tmpdir);
    DIR *d = opendir(td);
    assert_non_null(d);
    int n_files = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n_files++;
    closedir(d);
    assert_int_equal(n_files, 0);
    assert_int_equal(access("never-written.h5", F_OK), -1);

    /* a word that is not a section is the CONFIG: a missing file is an error */
    const char *bad[] = {"bench", "iterations", NULL};
    assert_int_equal(run_nqs(bad, out, sizeof out, err, sizeof err), 1);
    assert_non_null(strstr(err, "iterations"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_sections_parse),
        cmocka_unit_test(test_bench_iteration_of_config_json),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
