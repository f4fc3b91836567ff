/*
 * test_mpi.c - `nqs run` over MPI ranks (mpiexec NQS_MPIEXEC, the built
 * binary NQS_BINARY), checked against the one-process run of the same input:
 *
 *  - the same history, checkpoint parameters and final energy, bit for bit,
 *    for 1 rank x 1 thread (reference), 1 x 2, 2 x 1, 2 x 2 and 4 x 1 (an
 *    uneven split, 6 chains as 2+2+1+1), with the dense, cg and minsr SR
 *    solvers, and for P = 636 where OpenBLAS runs threaded kernels. Bitwise
 *    equality is the promise of sr.h / rsum.h (exact sums over chains, one
 *    chain per thread); no tolerance is needed and none is allowed;
 *  - a checkpoint written by 2 ranks continued by 1 rank, and one written by
 *    1 rank continued by 3 (from the input stored in the file), repeat the
 *    uninterrupted run;
 *  - SIGUSR1 delivered to ONE rank stops every rank after the same iteration
 *    (exit status 3), and the checkpoint continues the uninterrupted run;
 *  - an error on rank 1 only (test hook NQS_TEST_FAIL_RANK, while sampling,
 *    while setting up, or without telling the others) and errors of rank 0
 *    (existing output file), of the input (more ranks than chains) and of the
 *    command (`nqs exact` on 2 ranks) end every rank with exactly one message
 *    and a non-zero status, within a timeout (no hang).
 *
 * Problem: Heisenberg chain N = 12 (periodic), rbm_symm alpha = 1 (P = 14),
 * 6 chains, 600 samples, 20 SR iterations (learning rate 0.05).
 * Open MPI settings come from the environment (CMakeLists.txt): run as root,
 * oversubscription, no binding, shared-memory transport, yield when idle.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <complex.h>
#include <dirent.h>
#include <hdf5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io_h5.h"

#define RUN_TIMEOUT 300 /* seconds; a run that takes longer is a hang */

static char tmpdir[64];

static const char input_text[] =
    "[lattice]\ntype = chain\nextent = 12\nboundary = periodic\n"
    "[hamiltonian]\ntype = heisenberg\n"
    "[model]\ntype = rbm_symm\nalpha = 1\nseed = 3\n"
    "[sampler]\nchains = 6\nsamples = 600\nburn_in_first = 20\nseed = 11\n"
    "[optimizer]\nmethod = sr\niterations = 20\nlearning_rate = 0.05\n"
    "[output]\nexact_reference = false\nfinal_samples = 600\ncheckpoint_every = 5\n";

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/nqs_test_mpi_XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    char p[128];
    snprintf(p, sizeof p, "%s/in.ini", tmpdir);
    FILE *f = fopen(p, "w");
    if (!f) return -1;
    fputs(input_text, f);
    fclose(f);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    DIR *dir = opendir(tmpdir);
    if (dir) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(dir)))
            if (e->d_name[0] != '.') {
                snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
                unlink(p);
            }
        closedir(dir);
    }
    rmdir(tmpdir);
    return 0;
}

static const char *tmp_path(const char *name)
{
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

/* Start `nqs ARGS` on `ranks` MPI ranks (0: without mpiexec) with
 * OMP_NUM_THREADS = threads and one optional extra "NAME=VALUE" in the
 * environment, in tmpdir, stdout/stderr to out.txt/err.txt. ARGS is
 * NULL-terminated. Returns the pid (its own process group). */
static pid_t start(int ranks, int threads, const char *env, const char *const *args)
{
    char *argv[48], np[16];
    int n = 0;
    if (ranks > 0) {
        snprintf(np, sizeof np, "%d", ranks);
        argv[n++] = (char *)NQS_MPIEXEC;
        argv[n++] = (char *)NQS_MPIEXEC_NP_FLAG;
        argv[n++] = np;
    }
    argv[n++] = (char *)NQS_BINARY;
    for (int k = 0; args[k] && n < 47; k++) argv[n++] = (char *)args[k];
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        if (chdir(tmpdir) != 0 || !freopen("out.txt", "w", stdout) ||
            !freopen("err.txt", "w", stderr))
            _exit(127);
        char t[16];
        snprintf(t, sizeof t, "%d", threads);
        setenv("OMP_NUM_THREADS", t, 1);
        unsetenv("NQS_TEST_FAIL_RANK");
        if (env) putenv((char *)env);
        execvp(argv[0], argv);
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

/* Wait for pid at most RUN_TIMEOUT seconds; on timeout kill its process
 * group and fail the test (a hang). Returns the exit status. */
static int finish(pid_t pid)
{
    struct timespec tick = {0, 20000000};
    for (long waited = 0; waited < RUN_TIMEOUT * 50L; waited++) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        assert_true(r >= 0);
        if (r == pid) {
            assert_true(WIFEXITED(status));
            return WEXITSTATUS(status);
        }
        nanosleep(&tick, NULL);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fprintf(stderr, "run did not end within %d s (hang)\n", RUN_TIMEOUT);
    fail();
    return -1;
}

static int run(int ranks, int threads, const char *env, const char *const *args)
{
    return finish(start(ranks, threads, env, args));
}

static void read_text(const char *name, char *buf, size_t len)
{
    FILE *f = fopen(tmp_path(name), "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static int count(const char *text, const char *sub)
{
    int n = 0;
    for (const char *p = strstr(text, sub); p; p = strstr(p + 1, sub)) n++;
    return n;
}

/* The checkpoint parameters of the active slot (HDF5 directly: the module
 * API reads checkpoints only to continue a run). */
static int read_params(const char *path, double complex *par, int max)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
    assert_true(f >= 0);
    int active = -1;
    hid_t d = H5Dopen2(f, "/checkpoint/active", H5P_DEFAULT);
    assert_true(d >= 0);
    assert_true(H5Dread(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, &active) >= 0);
    H5Dclose(d);
    assert_true(active == 0 || active == 1);
    char name[64];
    snprintf(name, sizeof name, "/checkpoint/slot%d/params", active);
    d = H5Dopen2(f, name, H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t sp = H5Dget_space(d);
    int n = (int)H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    assert_true(n >= 1 && n <= max);
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(double complex));
    H5Tinsert(t, "r", 0, H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "i", sizeof(double), H5T_NATIVE_DOUBLE);
    assert_true(H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, par) >= 0);
    H5Tclose(t);
    H5Dclose(d);
    H5Fclose(f);
    return n;
}

/* Every /history column but wall_time, the checkpoint parameters and the
 * final energy of b equal those of a, bit for bit, over the first `rows`
 * rows (rows = 0: all rows, and the lengths must agree). */
static void assert_same_run(const char *a, const char *b, long rows, int with_result)
{
    const char *cols[NQS_H5_N_COLS + 1];
    int nc = 0;
    cols[nc++] = "iteration";
    for (int k = 0; k < NQS_H5_N_COLS; k++)
        if (strcmp(nqs_h5_columns[k].name, "wall_time") != 0) cols[nc++] = nqs_h5_columns[k].name;
    for (int k = 0; k < nc; k++) {
        double *x = NULL, *y = NULL;
        long nx = 0, ny = 0;
        assert_int_equal(nqs_h5_read_column(a, cols[k], &x, &nx), 0);
        assert_int_equal(nqs_h5_read_column(b, cols[k], &y, &ny), 0);
        long n = rows > 0 ? rows : nx;
        if (rows == 0) assert_int_equal(nx, ny);
        assert_true(nx >= n && ny >= n && n > 0);
        if (memcmp(x, y, (size_t)n * sizeof *x) != 0) {
            for (long r = 0; r < n; r++)
                if (memcmp(&x[r], &y[r], sizeof *x) != 0) {
                    fprintf(stderr, "%s vs %s: column %s differs at row %ld: %.17g vs %.17g\n", a, b,
                            cols[k], r, x[r], y[r]);
                    break;
                }
            fail();
        }
        free(x);
        free(y);
    }
    if (!with_result) return;
    static double complex pa[1024], pb[1024];
    int na = read_params(a, pa, 1024), nb = read_params(b, pb, 1024);
    assert_int_equal(na, nb);
    assert_memory_equal(pa, pb, (size_t)na * sizeof *pa);
    double ea, eb;
    assert_int_equal(nqs_h5_read_attr_double(a, "/result", "energy", &ea), 0);
    assert_int_equal(nqs_h5_read_attr_double(b, "/result", "energy", &eb), 0);
    assert_memory_equal(&ea, &eb, sizeof ea);
}

/* nqs run in.ini -o OUT --force -q with up to two --set overrides. */
static int run_input(int ranks, int threads, const char *out, const char *set1, const char *set2)
{
    const char *args[16] = {"run", "in.ini", "-o", out, "--force", "-q"};
    int n = 6;
    if (set1) {
        args[n++] = "--set";
        args[n++] = set1;
    }
    if (set2) {
        args[n++] = "--set";
        args[n++] = set2;
    }
    args[n] = NULL;
    return run(ranks, threads, NULL, args);
}

static void test_mpi_ranks_and_threads_give_same_bits(void **state)
{
    (void)state;
    static const char *solvers[] = {"optimizer.solver=dense", "optimizer.solver=cg",
                                    "optimizer.solver=minsr"};
    /* ranks (0: no mpiexec) x threads */
    static const int layouts[][2] = {{0, 2}, {2, 1}, {2, 2}, {4, 1}};
    for (int s = 0; s < 3; s++) {
        assert_int_equal(run_input(0, 1, "ref.h5", solvers[s], NULL), 0);
        for (int l = 0; l < 4; l++) {
            if (s > 0 && l >= 2) continue; /* 2 x 2 and 4 x 1 with dense only: runtime */
            assert_int_equal(run_input(layouts[l][0], layouts[l][1], "par.h5", solvers[s], NULL), 0);
            assert_same_run(tmp_path("ref.h5"), tmp_path("par.h5"), 0, 1);
        }
    }
}

/* [sampler] method = exact: the 924 configurations of the sector split over
 * the ranks by chain; every rank gathers the logp of all rows and the
 * probabilities are computed in global row order, so 1 rank and 2 ranks (and
 * 2 threads) give the same bits, dense and cg. */
static void test_mpi_exact_sampler_same_bits(void **state)
{
    (void)state;
    static const char *solvers[] = {"optimizer.solver=dense", "optimizer.solver=cg"};
    for (int s = 0; s < 2; s++) {
        assert_int_equal(run_input(0, 1, "ref.h5", "sampler.method=exact", solvers[s]), 0);
        assert_int_equal(run_input(2, 1, "par.h5", "sampler.method=exact", solvers[s]), 0);
        assert_same_run(tmp_path("ref.h5"), tmp_path("par.h5"), 0, 1);
        assert_int_equal(run_input(0, 2, "par.h5", "sampler.method=exact", solvers[s]), 0);
        assert_same_run(tmp_path("ref.h5"), tmp_path("par.h5"), 0, 1);
    }
}

/* A dense RBM with P = 12 + 12 alpha + 144 alpha = 636 parameters: zherk
 * and the Cholesky factorisation are large enough for OpenBLAS to thread
 * them, which the one-thread potrf and the per-chain sums must make harmless. */
static void test_mpi_large_model_same_bits(void **state)
{
    (void)state;
    static const char *solvers[] = {"optimizer.solver=dense", "optimizer.solver=cg",
                                    "optimizer.solver=minsr"};
    for (int s = 0; s < 3; s++) {
        const char *model[] = {"run", "in.ini", "-o", NULL, "--force", "-q", "--set", "model.type=rbm",
                               "--set", "model.alpha=4", "--set", "optimizer.iterations=3",
                               "--set", solvers[s], NULL};
        model[3] = "ref.h5";
        assert_int_equal(run(0, 1, NULL, model), 0);
        model[3] = "par.h5";
        assert_int_equal(run(0, 2, NULL, model), 0);
        assert_same_run(tmp_path("ref.h5"), tmp_path("par.h5"), 0, 1);
        assert_int_equal(run(2, 1, NULL, model), 0);
        assert_same_run(tmp_path("ref.h5"), tmp_path("par.h5"), 0, 1);
    }
}

static void test_mpi_restart_across_rank_counts(void **state)
{
    (void)state;
    assert_int_equal(run_input(0, 1, "ref.h5", NULL, NULL), 0);
    /* 10 iterations on 2 ranks, continued to 20 on 1 rank */
    assert_int_equal(run_input(2, 1, "half.h5", "optimizer.iterations=10", NULL), 0);
    const char *cont[] = {"run", "--restart", "half.h5", "in.ini", "-q", NULL};
    assert_int_equal(run(0, 1, NULL, cont), 0);
    assert_same_run(tmp_path("ref.h5"), tmp_path("half.h5"), 0, 1);
    /* 10 iterations on 1 rank, continued to 20 on 3 ranks with the input
     * stored in the file (rank 0 reads it and sends it to the others) */
    assert_int_equal(run_input(0, 1, "half.h5", "optimizer.iterations=10", NULL), 0);
    const char *cont_file[] = {"run", "--restart", "half.h5", "-q", "--set",
                               "optimizer.iterations=20", NULL};
    assert_int_equal(run(3, 1, NULL, cont_file), 0);
    assert_same_run(tmp_path("ref.h5"), tmp_path("half.h5"), 0, 1);
}

/* The pids of the processes whose parent is `parent` and whose name is nqs. */
static int children(pid_t parent, pid_t *pids, int max)
{
    int n = 0;
    DIR *dir = opendir("/proc");
    assert_non_null(dir);
    struct dirent *e;
    while ((e = readdir(dir)) && n < max) {
        char p[300], buf[512];
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        snprintf(p, sizeof p, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(p, "r");
        if (!f) continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *close = strrchr(buf, ')'); /* "pid (comm) state ppid ..." */
        if (!close || !strstr(buf, "(nqs)")) continue;
        char state;
        int ppid;
        if (sscanf(close + 1, " %c %d", &state, &ppid) == 2 && ppid == parent)
            pids[n++] = (pid_t)atoi(e->d_name);
    }
    closedir(dir);
    return n;
}

static void test_mpi_signal_on_one_rank_stops_all(void **state)
{
    (void)state;
    const char *args[] = {"run", "in.ini", "-o", "sig.h5", "--force", "-q", "--set",
                          "optimizer.iterations=1000000", NULL};
    pid_t pid = start(2, 1, NULL, args);
    /* wait for a few completed iterations, then signal the last rank only */
    long rows = 0;
    struct timespec tick = {0, 50000000};
    for (int k = 0; k < RUN_TIMEOUT * 20 && rows < 3; k++) {
        nanosleep(&tick, NULL);
        double *x = NULL;
        if (nqs_h5_read_column(tmp_path("sig.h5"), "energy", &x, &rows) != 0) rows = 0;
        free(x);
    }
    assert_true(rows >= 3);
    pid_t ranks[8];
    int n = children(pid, ranks, 8);
    assert_int_equal(n, 2);
    kill(ranks[n - 1], SIGUSR1);
    assert_int_equal(finish(pid), 3);
    char err[8192];
    read_text("err.txt", err, sizeof err);
    assert_int_equal(count(err, "nqs: stopped"), 1);
    assert_int_equal(count(err, "nqs: error"), 0);
    /* every rank stopped after the same iteration K: the file holds K rows and
     * a checkpoint of iteration K with every chain */
    double *it = NULL;
    long k_rows = 0;
    assert_int_equal(nqs_h5_read_column(tmp_path("sig.h5"), "iteration", &it, &k_rows), 0);
    free(it);
    long K = k_rows;
    assert_true(K >= 3);
    char set[64];
    snprintf(set, sizeof set, "optimizer.iterations=%ld", K + 3);
    const char *cont[] = {"run", "--restart", "sig.h5", "in.ini", "-q", "--set", set, NULL};
    assert_int_equal(run(0, 1, NULL, cont), 0);
    assert_int_equal(run_input(0, 1, "ref.h5", set, NULL), 0);
    assert_same_run(tmp_path("ref.h5"), tmp_path("sig.h5"), 0, 1);
}

/* One failing rank ends both with one message (and no hang: finish() fails
 * the test after RUN_TIMEOUT seconds). */
static void test_mpi_error_on_one_rank_ends_all(void **state)
{
    (void)state;
    static const char *faults[] = {"NQS_TEST_FAIL_RANK=1", "NQS_TEST_FAIL_RANK=1:setup",
                                   "NQS_TEST_FAIL_RANK=1:alone"};
    const char *args[] = {"run", "in.ini", "-o", "err.h5", "--force", "-q", NULL};
    for (int k = 0; k < 3; k++) {
        int status = run(2, 1, faults[k], args);
        char err[8192];
        read_text("err.txt", err, sizeof err);
        if (status == 0 || count(err, "nqs: error") != 1 || !strstr(err, "test fault on rank 1")) {
            fprintf(stderr, "%s: status %d, stderr:\n%s\n", faults[k], status, err);
            fail();
        }
    }
}

static void test_mpi_input_and_file_errors_once(void **state)
{
    (void)state;
    char err[8192];
    /* rank 0 cannot create the output: it exists and --force is missing */
    assert_int_equal(run_input(0, 1, "exists.h5", "optimizer.iterations=1", NULL), 0);
    const char *again[] = {"run", "in.ini", "-o", "exists.h5", "-q", NULL};
    assert_int_equal(run(2, 1, NULL, again), 1);
    read_text("err.txt", err, sizeof err);
    assert_int_equal(count(err, "nqs: error"), 1);
    assert_non_null(strstr(err, "refusing to overwrite"));
    /* more ranks than chains */
    assert_int_equal(run_input(7, 1, "x.h5", NULL, NULL), 2);
    read_text("err.txt", err, sizeof err);
    assert_int_equal(count(err, "nqs: error"), 1);
    assert_non_null(strstr(err, "chains = 6 cannot be spread over 7 MPI ranks"));
    /* a one-process command */
    const char *exact[] = {"exact", "in.ini", NULL};
    assert_int_equal(run(2, 1, NULL, exact), 2);
    read_text("err.txt", err, sizeof err);
    assert_int_equal(count(err, "nqs: error"), 1);
    assert_non_null(strstr(err, "runs on one process"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mpi_ranks_and_threads_give_same_bits),
        cmocka_unit_test(test_mpi_large_model_same_bits),
        cmocka_unit_test(test_mpi_exact_sampler_same_bits),
        cmocka_unit_test(test_mpi_restart_across_rank_counts),
        cmocka_unit_test(test_mpi_signal_on_one_rank_stops_all),
        cmocka_unit_test(test_mpi_error_on_one_rank_ends_all),
        cmocka_unit_test(test_mpi_input_and_file_errors_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
