/*
 * test_driver.c - acceptance tests of the ground-state search `nqs run`, run as
 * a user runs it: the built binary (NQS_BINARY) in a temporary directory, with
 * signals sent to the child process.
 *
 *   restart    a run stopped by SIGTERM (exit status 3) and continued with
 *              --restart repeats the uninterrupted run bitwise: every /history
 *              column except wall_time, /result, its observables, /reference;
 *              the same for a run continued with more iterations
 *   fault      after SIGKILL the file opens (SWMR read), holds every iteration
 *              the child had reported with finite values, and --restart goes on
 *              from the last checkpoint to the uninterrupted result, bitwise
 *   threads    OMP_NUM_THREADS = 1 and 2 give bitwise identical runs with the
 *              dense, minsr and cg SR solvers
 *   refusals   existing output without --force, mismatched restarts, a file
 *              without checkpoint, an unwritable output, --restart with -o:
 *              exit status, a message naming the file or what differs, and
 *              the file unchanged byte for byte
 *   guard rail bounded retries then a stop with the completed rows intact; a
 *              failed Cholesky factorisation recovered by the raised shift; a
 *              blown-up update rolled back (step control off); the step
 *              review rejecting a forced bad update and redoing it, and
 *              giving up (status 1, file and checkpoint intact) on frozen chains
 *   --json     one valid JSON object matching /result and /reference
 *   final      the observables and the energy of /result against exact
 *              enumeration over all 2^8 configurations of the final model
 *   exact      [sampler] method = exact: final values equal the enumeration
 *              to rounding, SR on exact expectations reaches the Lanczos
 *              energy to 1e-8, the size limit is refused
 *
 * The problems are small (chains of 8 and 12 sites, <= 40 iterations): the
 * whole program takes ~12 s on 2 idle cores (~25 s next to other tests).
 * Every comparison with another run is bitwise (the driver promises bitwise
 * reproducibility); statistical comparisons state their tolerance where they
 * are made.
 */
#include <complex.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hdf5.h>

#include "config.h"
#include "error.h"
#include "io_h5.h"
#include "model.h"
#include "nqs_test.h"
#include "nqs_test_run.h"
#include "nqs_test_tmp.h"
#include "problem.h"
#include "sampler.h"

/* ------------------------------------------------------------ fixture */


/* Heisenberg chain N = 12 (Marshall sign on, exchange moves), symmetric RBM
 * alpha = 1 (14 parameters); ~15 ms per iteration on 2 threads, so a signal
 * sent at iteration 10 lands well before iteration 40. */
static const char input_a[] = "[lattice]\ntype = chain\nextent = 12\n"
                              "[hamiltonian]\ntype = heisenberg\n"
                              "[model]\ntype = rbm_symm\nalpha = 1\nseed = 3\n"
                              "group = translations\n" /* the calibration of the tests */
                              "[sampler]\nchains = 8\nsamples = 1024\nseed = 7\n"
                              "[optimizer]\niterations = 40\nlearning_rate = 0.02\n"
                              "diag_shift = 0.1\nmax_step = 0.1\n" /* the calibration's bound */
                              "[output]\ncheckpoint_every = 1\n";
#define A_ITERATIONS 40

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/nqs_test_driver_XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    FILE *f = fopen(tp("a.ini"), "w");
    if (!f) return -1;
    fputs(input_a, f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            const char *p = tp(e->d_name);
            struct stat st;
            if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
                chmod(p, 0755);
                rmdir(p);
            } else {
                unlink(p);
            }
        }
        closedir(d);
    }
    rmdir(tmpdir);
    return 0;
}

/* ------------------------------------------------------ running nqs */

static char *g_out, *g_err; /* stdout and stderr of the last finished run */

/* Start `nqs args...` (NULL-terminated) with `threads` OpenMP threads. */
static pid_t nqs_start(int threads, const char *arg0, va_list ap)
{
    char *argv[40];
    int n = 0;
    argv[n++] = NULL; /* NQS_BINARY */
    for (const char *a = arg0; a && n < 39; a = va_arg(ap, const char *)) argv[n++] = (char *)a;
    argv[n] = NULL;
    pid_t pid = nqs_test_start(argv, threads, tp("stdout.txt"), tp("stderr.txt"));
    assert_true(pid > 0);
    return pid;
}

static pid_t nqs_spawn(int threads, const char *arg0, ...)
{
    va_list ap;
    va_start(ap, arg0);
    pid_t pid = nqs_start(threads, arg0, ap);
    va_end(ap);
    return pid;
}

/* Wait for pid; keep its stdout/stderr in g_out/g_err; return the status. */
static int nqs_finish(pid_t pid)
{
    int status = nqs_test_wait(pid);
    free(g_out);
    free(g_err);
    g_out = nqs_test_slurp(tp("stdout.txt"), NULL);
    g_err = nqs_test_slurp(tp("stderr.txt"), NULL);
    assert_non_null(g_out);
    assert_non_null(g_err);
    return status;
}

static int nqs(int threads, const char *arg0, ...)
{
    va_list ap;
    va_start(ap, arg0);
    pid_t pid = nqs_start(threads, arg0, ap);
    va_end(ap);
    return nqs_finish(pid);
}

static void assert_contains(const char *text, const char *sub)
{
    if (!strstr(text, sub)) {
        fprintf(stderr, "expected '%s' in:\n%s\n", sub, text);
        fail();
    }
}

static void assert_status(int got, int want)
{
    if (got != want) {
        fprintf(stderr, "nqs exit status %d, expected %d; stderr:\n%s\n", got, want, g_err);
        fail();
    }
}

/* ------------------------------------------------------ result files */

struct hist {
    long n;                           /* rows of the shortest column */
    long len[NQS_H5_N_COLS + 1];      /* rows of each column */
    double *c[NQS_H5_N_COLS + 1];     /* c[0] = iteration, then nqs_h5_columns order */
};

static const char *col_name(int k) { return k ? nqs_h5_columns[k - 1].name : "iteration"; }

static int col_index(const char *name)
{
    for (int k = 0; k <= NQS_H5_N_COLS; k++)
        if (strcmp(col_name(k), name) == 0) return k;
    fail_msg("no history column %s", name);
    return -1;
}

static void hist_read(const char *path, struct hist *h)
{
    memset(h, 0, sizeof *h);
    h->n = -1;
    for (int k = 0; k <= NQS_H5_N_COLS; k++) {
        int rc = nqs_h5_read_column(path, col_name(k), &h->c[k], &h->len[k]);
        if (rc != NQS_OK) fail_msg("%s", nqs_last_error());
        if (h->n < 0 || h->len[k] < h->n) h->n = h->len[k];
    }
}

static void hist_free(struct hist *h)
{
    for (int k = 0; k <= NQS_H5_N_COLS; k++) free(h->c[k]);
}

/* Every column except wall_time bitwise equal, same length. */
static void assert_hist_identical(const struct hist *a, const struct hist *b)
{
    assert_int_equal(a->n, b->n);
    for (int k = 0; k <= NQS_H5_N_COLS; k++) {
        if (strcmp(col_name(k), "wall_time") == 0) continue;
        assert_int_equal(a->len[k], b->len[k]);
        for (long r = 0; r < a->len[k]; r++)
            if (memcmp(&a->c[k][r], &b->c[k][r], sizeof(double)) != 0)
                fail_msg("/history/%s row %ld: %.17g != %.17g", col_name(k), r, a->c[k][r],
                         b->c[k][r]);
    }
}

static double attr(const char *path, const char *obj, const char *name)
{
    double v;
    if (nqs_h5_read_attr_double(path, obj, name, &v) != NQS_OK) fail_msg("%s", nqs_last_error());
    return v;
}

/* /result (with observables) and /reference of two files bitwise equal. */
static void assert_results_identical(const char *pa, const char *pb)
{
    static const char *const res[] = {"energy", "energy_error", "energy_variance", "v_score",
                                      "tau", "rhat", "acceptance", "n_samples", "n_params"};
    static const char *const obs[] = {"magnetisation_sq", "magnetisation_sq_error",
                                      "nn_correlation", "nn_correlation_error",
                                      "structure_factor", "structure_factor_error"};
    static const char *const ref[] = {"energy", "relative_error"};
    struct {
        const char *obj;
        const char *const *names;
        size_t n;
    } groups[] = {{"/result", res, sizeof res / sizeof *res},
                  {"/result/observables", obs, sizeof obs / sizeof *obs},
                  {"/reference", ref, sizeof ref / sizeof *ref}};
    for (size_t g = 0; g < 3; g++)
        for (size_t k = 0; k < groups[g].n; k++) {
            double a = attr(pa, groups[g].obj, groups[g].names[k]);
            double b = attr(pb, groups[g].obj, groups[g].names[k]);
            if (memcmp(&a, &b, sizeof a) != 0)
                fail_msg("%s %s: %.17g != %.17g", groups[g].obj, groups[g].names[k], a, b);
        }
}

/* Iteration of the active checkpoint (-1: none) and, if params != NULL, its
 * n_par parameters; `poison` overwrites the parameters with NaN. Direct HDF5
 * (docs/results-format.md), SWMR read so it also opens a killed run's file. */
static long ckpt_access(const char *path, double complex *params, int n_par, int poison)
{
    hid_t f = H5Fopen(path, poison ? H5F_ACC_RDWR : H5F_ACC_RDONLY | H5F_ACC_SWMR_READ,
                      H5P_DEFAULT);
    assert_true(f >= 0);
    int active = -2;
    hid_t ds = H5Dopen2(f, "/checkpoint/active", H5P_DEFAULT);
    assert_true(ds >= 0);
    assert_true(H5Dread(ds, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, &active) >= 0);
    H5Dclose(ds);
    long it = -1;
    if (active >= 0) {
        char obj[64];
        snprintf(obj, sizeof obj, "/checkpoint/slot%d/iteration", active);
        ds = H5Dopen2(f, obj, H5P_DEFAULT);
        assert_true(ds >= 0);
        assert_true(H5Dread(ds, H5T_NATIVE_LONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, &it) >= 0);
        H5Dclose(ds);
        if (params || poison) {
            snprintf(obj, sizeof obj, "/checkpoint/slot%d/params", active);
            ds = H5Dopen2(f, obj, H5P_DEFAULT);
            assert_true(ds >= 0);
            hid_t sp = H5Dget_space(ds);
            hsize_t dim = 0;
            H5Sget_simple_extent_dims(sp, &dim, NULL);
            H5Sclose(sp);
            hid_t t = H5Tcreate(H5T_COMPOUND, 2 * sizeof(double));
            H5Tinsert(t, "r", 0, H5T_NATIVE_DOUBLE);
            H5Tinsert(t, "i", sizeof(double), H5T_NATIVE_DOUBLE);
            double *v = malloc(2 * dim * sizeof *v);
            assert_non_null(v);
            if (poison) {
                for (hsize_t k = 0; k < 2 * dim; k++) v[k] = NAN;
                assert_true(H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
            } else {
                assert_int_equal((long)dim, n_par);
                assert_true(H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
                for (int k = 0; k < n_par; k++) params[k] = v[2 * k] + I * v[2 * k + 1];
            }
            free(v);
            H5Tclose(t);
            H5Dclose(ds);
        }
    }
    H5Fclose(f);
    return it;
}

/* Byte snapshot of a file, to check that a refused command left it unchanged. */
struct snap {
    char *bytes;
    size_t len;
};

/* HDF5 stamps object headers with times in whole seconds: wait until the
 * clock has left the second of the file's last change, so that anything that
 * rewrites those times changes the bytes. */
static void wait_next_second(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    while (time(NULL) <= st.st_mtime) nanosleep(&(struct timespec){0, 20000000}, NULL);
}

static struct snap snap_take(const char *path)
{
    wait_next_second(path);
    struct snap s = {NULL, 0};
    s.bytes = nqs_test_slurp(path, &s.len);
    assert_non_null(s.bytes);
    return s;
}

static void assert_unchanged(struct snap *s, const char *path)
{
    size_t len = 0;
    char *now = nqs_test_slurp(path, &len);
    assert_non_null(now);
    if (len != s->len || memcmp(now, s->bytes, len) != 0) fail_msg("%s was modified", path);
    free(now);
    free(s->bytes);
    s->bytes = NULL;
}

/* ------------------------------------------------- the reference run */

/* Input A run uninterrupted, once per program: ref.h5 and its --json output. */
static char *ref_json;

static void ensure_reference(void)
{
    if (ref_json) return;
    assert_status(nqs(2, "run", tp("a.ini"), "-o", tp("ref.h5"), "-q", "--json", NULL), 0);
    ref_json = strdup(g_out);
    assert_non_null(ref_json);
    struct hist h;
    hist_read(tp("ref.h5"), &h);
    assert_int_equal(h.n, A_ITERATIONS);
    hist_free(&h);
}

/* --------------------------------------------------------- 1. restart */

/* SIGTERM once the history (read with SWMR while the child writes) has 10
 * rows: the run finishes its iteration, writes a checkpoint and exits with
 * status 3; --restart FILE (input from the file) completes it bitwise. */
static void test_run_sigterm_then_restart_is_bitwise(void **state)
{
    (void)state;
    ensure_reference();
    TP(path, "term.h5");
    pid_t pid = nqs_spawn(2, "run", tp("a.ini"), "-o", path, NULL);
    long n = 0;
    for (int poll = 0; poll < 120000; poll++) { /* 1 ms polls, at most 2 minutes */
        double *v = NULL;
        if (nqs_h5_read_column(path, "samples_total", &v, &n) != NQS_OK) n = 0;
        free(v);
        if (n >= 10) break;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    assert_true(n >= 10);
    assert_int_equal(kill(pid, SIGTERM), 0);
    assert_status(nqs_finish(pid), 3);
    /* "nqs: stopped: stopped by signal 15 after iteration K; checkpoint written
     * to FILE (continue with: nqs run --restart FILE)" */
    const char *m = strstr(g_err, "nqs: stopped: stopped by signal 15 after iteration ");
    assert_non_null(m);
    long k = strtol(m + strlen("nqs: stopped: stopped by signal 15 after iteration "), NULL, 10);
    assert_true(k >= 10 && k < A_ITERATIONS);
    char want[1024];
    snprintf(want, sizeof want, "checkpoint written to %s (continue with: nqs run --restart %s)",
             path, path);
    assert_contains(g_err, want);
    struct hist h, ref;
    hist_read(path, &h);
    assert_int_equal(h.n, k);
    assert_int_equal(ckpt_access(path, NULL, 0, 0), k);
    hist_free(&h);

    assert_status(nqs(2, "run", "--restart", path, "-q", NULL), 0);
    hist_read(path, &h);
    hist_read(tp("ref.h5"), &ref);
    assert_hist_identical(&h, &ref);
    assert_results_identical(path, tp("ref.h5"));
    hist_free(&h);
    hist_free(&ref);
}

/* A run of 10 iterations continued with --set optimizer.iterations=40 is the
 * 40-iteration run (the final evaluation of the short run does not disturb
 * the chains: the checkpoint precedes it). */
static void test_run_restart_with_more_iterations_is_bitwise(void **state)
{
    (void)state;
    ensure_reference();
    TP(path, "short.h5");
    assert_status(nqs(2, "run", tp("a.ini"), "-o", path, "-q", "--set",
                      "optimizer.iterations=10", NULL),
                  0);
    assert_status(nqs(2, "run", "--restart", path, "-q", "--set", "optimizer.iterations=40", NULL),
                  0);
    struct hist h, ref;
    hist_read(path, &h);
    hist_read(tp("ref.h5"), &ref);
    assert_hist_identical(&h, &ref);
    assert_results_identical(path, tp("ref.h5"));
    hist_free(&h);
    hist_free(&ref);
}

/* Plateau annealing with a short window (anneal_window = 3) halves the
 * learning rate of input A at iterations 27, 33 and 39 (seen in the
 * learning_rate column); a run stopped after 30 iterations and continued to
 * 40 by --restart equals the uninterrupted 40-iteration run bitwise, so the
 * annealing's ring and factor travel with the checkpoint. */
static void test_run_anneal_restart_is_bitwise(void **state)
{
    (void)state;
    TP(ref, "anneal-ref.h5");
    TP(path, "anneal.h5");
    assert_status(nqs(2, "run", tp("a.ini"), "-o", ref, "-q", "--set",
                      "optimizer.anneal_window=3", NULL),
                  0);
    assert_status(nqs(2, "run", tp("a.ini"), "-o", path, "-q", "--set",
                      "optimizer.anneal_window=3", "--set", "optimizer.iterations=30", NULL),
                  0);
    assert_status(nqs(2, "run", "--restart", path, "-q", "--set", "optimizer.iterations=40", NULL),
                  0);
    struct hist h, r;
    hist_read(path, &h);
    hist_read(ref, &r);
    assert_hist_identical(&h, &r);
    assert_results_identical(path, ref);
    /* eta (at its ceiling 0.02 by then, the step bound inactive) was halved
     * before the checkpoint at 30 and again after it */
    const double *lr = r.c[col_index("learning_rate")];
    int halved_early = 0, halved_late = 0;
    for (long t = 1; t < r.n; t++)
        if (lr[t] <= 0.5 * lr[t - 1] * (1 + 1e-12)) *(t < 30 ? &halved_early : &halved_late) = 1;
    assert_true(halved_early);
    assert_true(halved_late);
    hist_free(&h);
    hist_free(&r);
}

/* [optimizer] time_limit: a limit every iteration exceeds stops the run after
 * its first iteration with a checkpoint and the final evaluation (exit 0,
 * "iterations": 1 in the JSON line); --restart with the limit lifted
 * completes the uninterrupted run bitwise. */
static const struct nqs_json_kv *json_num(const struct nqs_json_kv *kv, int n, const char *key);

static void test_run_time_limit_stops_and_restart_completes(void **state)
{
    (void)state;
    ensure_reference();
    TP(path, "timelimit.h5");
    assert_status(nqs(2, "run", tp("a.ini"), "-o", path, "-q", "--json", "--set",
                      "optimizer.time_limit=1e-9", NULL),
                  0);
    struct nqs_json_kv kv[40];
    int n = nqs_json_parse(g_out, kv, 40);
    if (n < 0) fail_msg("--json output is not one JSON object: %s", g_out);
    assert_true(json_num(kv, n, "iterations")->num == 1);
    assert_true(isfinite(attr(path, "/result", "energy")));
    struct hist h, ref;
    hist_read(path, &h);
    assert_int_equal(h.n, 1);
    assert_int_equal(ckpt_access(path, NULL, 0, 0), 1);
    hist_free(&h);
    assert_status(nqs(2, "run", "--restart", path, "-q", "--set", "optimizer.time_limit=0", NULL), 0);
    hist_read(path, &h);
    hist_read(tp("ref.h5"), &ref);
    assert_hist_identical(&h, &ref);
    assert_results_identical(path, tp("ref.h5"));
    hist_free(&h);
    hist_free(&ref);
}

/* A restart that sets a lower learning_rate_max, or a new learning_rate,
 * gets it from its first update on (the schedule value stored in the
 * checkpoint, 0.02 for input A, is not carried over). */
static void test_run_restart_applies_new_learning_rate(void **state)
{
    (void)state;
    TP(path, "lr.h5");
    int klr = 0;
    for (int k = 1; k <= NQS_H5_N_COLS; k++)
        if (strcmp(col_name(k), "learning_rate") == 0) klr = k;
    assert_true(klr > 0);
    const char *sets[2][3] = {{"optimizer.learning_rate_max=0.005", "optimizer.iterations=16",
                               "output.print_every=10"},
                              {"optimizer.learning_rate=0.001", "optimizer.iterations=22",
                               "optimizer.learning_rate_max=0"}};
    const double cap[2] = {0.005, 0.001};
    assert_status(nqs(2, "run", tp("a.ini"), "-o", path, "-q", "--set", "optimizer.iterations=10",
                      NULL),
                  0);
    struct hist h;
    hist_read(path, &h);
    assert_true(h.c[klr][9] > 0.015); /* the stored schedule value: input A's 0.02 */
    hist_free(&h);
    for (int r = 0; r < 2; r++) {
        long before = r == 0 ? 10 : 16;
        assert_status(nqs(2, "run", "--restart", path, "-q", "--set", sets[r][0], "--set",
                          sets[r][1], "--set", sets[r][2], NULL),
                      0);
        hist_read(path, &h);
        assert_int_equal(h.n, r == 0 ? 16 : 22);
        for (long i = before; i < h.n; i++)
            if (!(h.c[klr][i] > 0 && h.c[klr][i] <= cap[r] * (1 + 1e-12)))
                fail_msg("restart %d: row %ld has learning rate %g, above %g", r, i, h.c[klr][i],
                         cap[r]);
        hist_free(&h);
    }
}

/* ----------------------------------------------------------- 2. fault */

/* Last progress line "   K/40 ..." the child printed (print_every = 1). */
static long reported_iterations(void)
{
    char *err = nqs_test_slurp(tp("stderr.txt"), NULL);
    long last = 0;
    for (char *line = err; line && *line;) {
        char *nl = strchr(line, '\n');
        if (!nl) break; /* an unfinished line does not count */
        long k, total;
        if (sscanf(line, "%ld/%ld", &k, &total) == 2 && total == A_ITERATIONS) last = k;
        line = nl + 1;
    }
    free(err);
    return last;
}

/* SIGKILL at iteration >= 8 (checkpoint every 3): the file opens with SWMR
 * read, every column holds at least the reported rows, all finite; the active
 * checkpoint is the last multiple of 3 reported or later; --restart continues
 * from it (its first progress line is iteration K + 1) to the uninterrupted
 * result, bitwise. */
static void test_run_sigkill_leaves_readable_file_and_restarts(void **state)
{
    (void)state;
    ensure_reference();
    TP(path, "kill.h5");
    pid_t pid = nqs_spawn(2, "run", tp("a.ini"), "-o", path, "--set", "output.checkpoint_every=3",
                          "--set", "output.print_every=1", NULL);
    long seen = 0;
    for (int poll = 0; poll < 120000 && seen < 8; poll++) {
        seen = reported_iterations();
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    assert_true(seen >= 8);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_status(nqs_finish(pid), 128 + SIGKILL);
    long reported = reported_iterations();
    assert_true(reported >= seen && reported < A_ITERATIONS);

    struct hist h, ref;
    hist_read(path, &h);
    assert_true(h.n >= reported);
    for (int k = 0; k <= NQS_H5_N_COLS; k++)
        for (long r = 0; r < h.n; r++)
            if (!isfinite(h.c[k][r]))
                fail_msg("/history/%s row %ld = %g", col_name(k), r, h.c[k][r]);
    hist_read(tp("ref.h5"), &ref);
    /* The reported rows are the reference's. (A row being written at the kill
     * may be present in some columns with the fill value 0: results-format.md.) */
    for (int k = 0; k <= NQS_H5_N_COLS; k++)
        if (strcmp(col_name(k), "wall_time") != 0)
            assert_memory_equal(h.c[k], ref.c[k], (size_t)reported * sizeof(double));
    long ck = ckpt_access(path, NULL, 0, 0);
    assert_true(ck % 3 == 0 && ck >= reported - reported % 3 && ck <= h.n);
    hist_free(&h);

    assert_status(nqs(2, "run", "--restart", path, NULL), 0);
    char first[64];
    snprintf(first, sizeof first, "%6ld/%d  E = ", ck + 1, A_ITERATIONS);
    assert_contains(g_err, first);
    snprintf(first, sizeof first, "%6ld/%d  E = ", ck, A_ITERATIONS);
    assert_null(strstr(g_err, first));
    hist_read(path, &h);
    assert_hist_identical(&h, &ref);
    assert_results_identical(path, tp("ref.h5"));
    hist_free(&h);
    hist_free(&ref);
}

/* -------------------------------------------------------- 3. threads */

/* Dense RBM on 12 sites (P = 12 + 12 + 144 = 168): above ~64 parameters
 * OpenBLAS's threaded Cholesky changed the last bits with the thread count
 * (measured before sr.c pinned it to one thread). Every column except
 * wall_time and /result must be bitwise equal for 1 and 2 threads. */
static void test_run_same_bits_on_one_and_two_threads(void **state)
{
    (void)state;
    write_text("d.ini", "[lattice]\ntype = chain\nextent = 12\n"
                        "[hamiltonian]\ntype = heisenberg\n"
                        "[model]\ntype = rbm\nalpha = 1\nseed = 5\n"
                        "[sampler]\nchains = 8\nsamples = 256\nseed = 11\n"
                        "[optimizer]\niterations = 8\nlearning_rate = 0.02\ndiag_shift = 0.1\n");
    static const char *const solvers[][2] = {
        {"optimizer.solver=dense", "sampler.samples=256"},
        {"optimizer.solver=minsr", "sampler.samples=128"},
        {"optimizer.solver=cg", "sampler.samples=256"},
    };
    for (int s = 0; s < 3; s++) {
        assert_status(nqs(1, "run", tp("d.ini"), "-q", "-o", tp("d1.h5"), "--force", "--set",
                          solvers[s][0], "--set", solvers[s][1], NULL),
                      0);
        assert_status(nqs(2, "run", tp("d.ini"), "-q", "-o", tp("d2.h5"), "--force", "--set",
                          solvers[s][0], "--set", solvers[s][1], NULL),
                      0);
        struct hist h1, h2;
        hist_read(tp("d1.h5"), &h1);
        hist_read(tp("d2.h5"), &h2);
        assert_int_equal(h1.n, 8);
        assert_hist_identical(&h1, &h2);
        assert_results_identical(tp("d1.h5"), tp("d2.h5"));
        hist_free(&h1);
        hist_free(&h2);
    }
}

/* ------------------------------------------------------- 4. refusals */

/* Without --force an existing output is refused (status 1, the message names
 * the file) before anything else, even before an exact reference energy that
 * could not be computed; with --force it is replaced. */
static void test_run_refuses_to_overwrite_without_force(void **state)
{
    (void)state;
    TP(path, "over.h5");
    assert_status(nqs(2, "run", tp("a.ini"), "-q", "-o", path, "--set", "optimizer.iterations=2",
                      NULL),
                  0);
    struct snap s = snap_take(path);
    char want[1024];
    snprintf(want, sizeof want, "nqs: error: refusing to overwrite %s (use --force)", path);
    assert_status(nqs(2, "run", tp("a.ini"), "-q", "-o", path, "--set", "optimizer.iterations=3",
                      NULL),
                  1);
    assert_contains(g_err, want);
    /* 40 sites: exact diagonalisation would fail (terabytes); the refusal comes first. */
    assert_status(nqs(2, "run", tp("a.ini"), "-q", "-o", path, "--set", "lattice.extent=40",
                      "--set", "output.exact_reference=true", NULL),
                  1);
    assert_contains(g_err, want);
    assert_unchanged(&s, path);

    assert_status(nqs(2, "run", tp("a.ini"), "-q", "-o", path, "--force", "--set",
                      "optimizer.iterations=3", NULL),
                  0);
    struct hist h;
    hist_read(path, &h);
    assert_int_equal(h.n, 3);
    hist_free(&h);
    char *cmd = NULL;
    assert_int_equal(nqs_h5_read_attr_string(path, "/", "command_line", &cmd), NQS_OK);
    assert_contains(cmd, "--force");
    free(cmd);
}

/* A restart whose input describes another problem is refused (status 1) with
 * the differing quantity in the message, and the file is not touched. */
static void test_run_restart_refuses_mismatched_input(void **state)
{
    (void)state;
    TP(path, "mis.h5");
    assert_status(nqs(2, "run", tp("a.ini"), "-q", "-o", path, "--set", "optimizer.iterations=2",
                      NULL),
                  0);
    struct snap s = snap_take(path);
    static const char *const cases[][2] = {
        {"lattice.extent=14",
         "it holds lattice 'chain 12 periodic (12 sites)', the input asks for 'chain 14 periodic "
         "(14 sites)'"},
        {"model.type=rbm", "it holds model 'rbm_symm', the input asks for 'rbm'"},
        /* rbm_symm: P = alpha N + alpha + 1 = 14 (alpha 1), 27 (alpha 2) */
        {"model.alpha=2", "it holds n_params = 14, the input gives 27"},
        {"sampler.chains=4", "it holds n_chains = 8, the input gives 4"},
        {"lattice.type=square", "it holds lattice 'chain 12"},
    };
    char want[1024];
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const char *set = cases[c][0];
        if (strcmp(set, "lattice.type=square") == 0)
            assert_status(nqs(2, "run", "--restart", path, "-q", "--set", set, "--set",
                              "lattice.extent=4,3", NULL),
                          1);
        else
            assert_status(nqs(2, "run", "--restart", path, "-q", "--set", set, NULL), 1);
        snprintf(want, sizeof want, "nqs: error: cannot restart from %s: %s", path, cases[c][1]);
        assert_contains(g_err, want);
    }
    /* The same with an explicit CONFIG instead of the file's input. */
    write_text("alpha2.ini", "[lattice]\ntype = chain\nextent = 12\n"
                             "[hamiltonian]\ntype = heisenberg\n"
                             "[model]\ntype = rbm_symm\nalpha = 2\nseed = 3\n"
                             "[sampler]\nchains = 8\nsamples = 1024\nseed = 7\n");
    assert_status(nqs(2, "run", "--restart", path, tp("alpha2.ini"), "-q", NULL), 1);
    assert_contains(g_err, "the input gives 27");
    assert_unchanged(&s, path);
}

/* A finished run of 0 iterations has /result but no checkpoint; a text file
 * and a missing file are no result files either. */
static void test_run_restart_refuses_file_without_checkpoint(void **state)
{
    (void)state;
    TP(path, "zero.h5");
    assert_status(nqs(2, "run", tp("a.ini"), "-q", "-o", path, "--set", "optimizer.iterations=0",
                      NULL),
                  0);
    assert_true(isfinite(attr(path, "/result", "energy")));
    assert_int_equal(ckpt_access(path, NULL, 0, 0), -1);
    struct snap s = snap_take(path);
    char want[1024];
    snprintf(want, sizeof want, "nqs: error: %s has no checkpoint", path);
    assert_status(nqs(2, "run", "--restart", path, "-q", NULL), 1);
    assert_contains(g_err, want);
    assert_unchanged(&s, path);

    snprintf(want, sizeof want, "nqs: error: %s is not an HDF5 file", tp("a.ini"));
    assert_status(nqs(2, "run", "--restart", tp("a.ini"), "-q", NULL), 1);
    assert_contains(g_err, want);
    snprintf(want, sizeof want, "nqs: error: cannot open %s: No such file or directory",
             tp("missing.h5"));
    assert_status(nqs(2, "run", "--restart", tp("missing.h5"), "-q", NULL), 1);
    assert_contains(g_err, want);
}

/* An output that cannot be created: status 1, the message names the file and
 * the system's reason. Permission bits do not stop root, so the portable
 * cases are a missing directory and a regular file used as a directory; a
 * read-only directory is checked too when the test does not run as root. */
static void test_run_refuses_unwritable_output(void **state)
{
    (void)state;
    char want[1024];
    TP(p1, "no_such_dir/out.h5");
    assert_status(nqs(2, "run", tp("a.ini"), "-q", "-o", p1, NULL), 1);
    snprintf(want, sizeof want,
             "nqs: error: cannot create result file %s: No such file or directory", p1);
    assert_contains(g_err, want);
    TP(p2, "a.ini/out.h5");
    assert_status(nqs(2, "run", tp("a.ini"), "-q", "-o", p2, NULL), 1);
    snprintf(want, sizeof want, "nqs: error: cannot create result file %s: Not a directory", p2);
    assert_contains(g_err, want);
    if (geteuid() != 0) {
        assert_int_equal(mkdir(tp("ro"), 0555), 0);
        TP(p3, "ro/out.h5");
        assert_status(nqs(2, "run", tp("a.ini"), "-q", "-o", p3, NULL), 1);
        snprintf(want, sizeof want, "nqs: error: cannot create result file %s: Permission denied",
                 p3);
        assert_contains(g_err, want);
    }
}

/* --restart continues in its own file: another -o is a usage error (status 2)
 * naming both files; neither file is created or changed. */
static void test_run_refuses_restart_with_other_output(void **state)
{
    (void)state;
    TP(path, "ro.h5");
    assert_status(nqs(2, "run", tp("a.ini"), "-q", "-o", path, "--set", "optimizer.iterations=2",
                      NULL),
                  0);
    struct snap s = snap_take(path);
    TP(other, "other.h5");
    assert_status(nqs(2, "run", "--restart", path, "-o", other, "-q", NULL), 2);
    char want[1024];
    snprintf(want, sizeof want, "nqs: error: --restart continues in %s; -o %s cannot be combined "
             "with it", path, other);
    assert_contains(g_err, want);
    assert_int_equal(access(other, F_OK), -1);
    assert_unchanged(&s, path);
}

/* <sigma^x> is zero in the fixed-magnetisation sector that exchange moves
 * sample; measuring it through single-flip ratios there would print a
 * meaningless number, so the input is refused naming the key (exit 2). */
static void test_run_refuses_sx_with_exchange_moves(void **state)
{
    (void)state;
    TP(path, "sx.h5");
    assert_status(nqs(2, "run", tp("a.ini"), "-q", "-o", path, "--set", "observables.sx=true",
                      "--set", "optimizer.iterations=2", NULL),
                  2);
    assert_contains(g_err, "[observables] sx: <sigma^x> needs single-flip sampling");
    assert_int_equal(access(path, F_OK), -1);
}

/* Overwrite `len` bytes at byte `offset` of the active slot's dataset `name`
 * (read and written as raw bytes of its native type: int8 chains, uint8 RNG
 * states). */
static void ckpt_poke(const char *path, const char *name, size_t offset, const void *bytes,
                      size_t len)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    int active = -2;
    hid_t ds = H5Dopen2(f, "/checkpoint/active", H5P_DEFAULT);
    assert_true(H5Dread(ds, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, &active) >= 0);
    H5Dclose(ds);
    assert_true(active == 0 || active == 1);
    char obj[64];
    snprintf(obj, sizeof obj, "/checkpoint/slot%d/%s", active, name);
    ds = H5Dopen2(f, obj, H5P_DEFAULT);
    assert_true(ds >= 0);
    hid_t t = H5Dget_type(ds);
    hid_t mt = H5Tget_native_type(t, H5T_DIR_DEFAULT);
    size_t n = (size_t)H5Dget_storage_size(ds);
    unsigned char *buf = malloc(n);
    assert_non_null(buf);
    assert_true(offset + len <= n);
    assert_true(H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    memcpy(buf + offset, bytes, len);
    assert_true(H5Dwrite(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    free(buf);
    H5Tclose(mt);
    H5Tclose(t);
    H5Dclose(ds);
    H5Fclose(f);
}

/* A restart refused for what the checkpoint holds (another optimiser method,
 * a spin of 5, a corrupt mt19937 index, an out-of-range step counter) is
 * refused before the file changes: /result, /reference and every row stay,
 * byte for byte. Before, /result and /reference were deleted and the history
 * truncated first. */
static void test_run_refused_restart_keeps_results(void **state)
{
    (void)state;
    TP(path, "keep.h5");
    TP(base, "keep_base.h5");
    assert_status(nqs(2, "run", tp("a.ini"), "-q", "-o", base, "--set", "optimizer.iterations=3",
                      "--set", "output.checkpoint_every=2", NULL),
                  0);
    size_t len = 0;
    char *orig = nqs_test_slurp(base, &len);
    assert_non_null(orig);
    struct {
        const char *set;    /* --set of the restart, or the dataset to poke */
        size_t offset;      /* poke: byte offset */
        const char *bytes;  /* poke: bytes written, NULL for a --set case */
        const char *msg;
        size_t len;         /* poke: bytes (0: 4) */
    } cases[] = {
        {"optimizer.method=sgd", 0, NULL,
         "optimizer state was written with [optimizer] method = sr, this run uses method = sgd", 0},
        {"chains", 5, "\x05\x05\x05\x05", "checkpoint: chain 0 holds a spin value 5 (accepted: -1, +1)", 0},
        /* mt19937 index (after 624 unsigned longs) of chain 1 = 0x7f7f7f7f */
        {"rng_state", 5000 + 624 * sizeof(unsigned long), "\x7f\x7f\x7f\x7f",
         "checkpoint: chain 1 has a corrupt random number generator state (mt19937 index", 0},
        {"rng_state", 3 * 8 + 4, "\x01\x00\x00\x00",
         "checkpoint: chain 0 has a corrupt random number generator state (mt19937 word 3", 0},
        /* the step counter (optimizer.h: tag, method, n_par, step, eta, eps) = 1e300, which
         * went through an undefined (long) conversion */
        {"optimizer_state", 3 * sizeof(double), (const char *)&(const double){1e300},
         "optimizer state: step counter 1e+300 is not an integer in [0, 1e15]", sizeof(double)},
        {"optimizer_state", 4 * sizeof(double), (const char *)&(const double){NAN},
         "optimizer state: learning rate nan or shift", sizeof(double)},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        FILE *fp = fopen(path, "wb");
        assert_non_null(fp);
        assert_int_equal(fwrite(orig, 1, len, fp), len);
        fclose(fp);
        if (cases[c].bytes)
            ckpt_poke(path, cases[c].set, cases[c].offset, cases[c].bytes,
                      cases[c].len ? cases[c].len : 4);
        struct snap s = snap_take(path);
        if (cases[c].bytes)
            assert_status(nqs(2, "run", "--restart", path, "-q", "--set", "optimizer.iterations=6", NULL), 1);
        else
            assert_status(nqs(2, "run", "--restart", path, "-q", "--set", cases[c].set, NULL), 1);
        char want[1024];
        snprintf(want, sizeof want, "nqs: error: cannot restart from %s: %s", path, cases[c].msg);
        assert_contains(g_err, want);
        assert_unchanged(&s, path);
        assert_true(isfinite(attr(path, "/result", "energy")));
    }
    free(orig);
}

/* A reader following the run with SWMR (what the README suggests) holds the
 * file open until after the run ends: the run still writes /result and
 * exits 0. Before, the final reopen failed with 'Resource temporarily
 * unavailable' and the run exited 1 without a result. */
static void test_run_finishes_while_a_reader_holds_the_file(void **state)
{
    (void)state;
    TP(path, "watched.h5");
    pid_t pid = nqs_spawn(2, "run", tp("a.ini"), "-q", "-o", path, "--set",
                          "optimizer.iterations=30", NULL);
    hid_t h = H5I_INVALID_HID;
    for (int k = 0; k < 2000 && h < 0; k++) {
        H5E_BEGIN_TRY { h = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT); }
        H5E_END_TRY;
        if (h < 0) nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    assert_true(h >= 0);
    hid_t ds = H5Dopen2(h, "/history/energy", H5P_DEFAULT);
    assert_true(ds >= 0);
    int status = nqs_finish(pid); /* the reader is still open */
    H5Dclose(ds);
    H5Fclose(h);
    assert_status(status, 0);
    assert_true(isfinite(attr(path, "/result", "energy")));
    struct hist hh;
    hist_read(path, &hh);
    assert_int_equal(hh.n, 30);
    hist_free(&hh);
}

/* -o naming the input file under another spelling, with --force: refused
 * (status 2) before anything is written, the input intact. */
static void test_run_refuses_output_over_input(void **state)
{
    (void)state;
    write_text("self.ini", input_a);
    TP(in, "self.ini");
    TP(other, "./self.ini");
    TP(hard, "self_link.ini");
    unlink(hard);
    assert_int_equal(link(in, hard), 0);
    const char *outs[2] = {other, hard};
    for (int k = 0; k < 2; k++) {
        assert_status(nqs(2, "run", in, "-q", "--force", "-o", outs[k], NULL), 2);
        char want[1024];
        snprintf(want, sizeof want, "nqs: error: refusing to write the result file %s over the "
                 "input file %s", outs[k], in);
        assert_contains(g_err, want);
        char *text = nqs_test_slurp(in, NULL);
        assert_non_null(text);
        assert_string_equal(text, input_a);
        free(text);
    }
}

/* A stop signal during setup (here: a long exact reference energy, before the
 * result file exists) ends the process at once: nothing is written. Before,
 * the handler was installed first, so the signal was only noticed after the
 * whole setup and one iteration (and a setup that never ended ignored it). */
static void test_run_signal_during_setup_ends_at_once(void **state)
{
    (void)state;
    TP(path, "setup_sig.h5");
    write_text("slow.ini", "[lattice]\ntype = chain\nextent = 20\n[hamiltonian]\ntype = heisenberg\n"
                           "J = 0.7\n[model]\ntype = rbm_symm\nalpha = 1\n[sampler]\nchains = 2\n"
                           "samples = 64\n[optimizer]\niterations = 3\n"
                           "[output]\nexact_reference = true\n");
    pid_t pid = nqs_spawn(1, "run", tp("slow.ini"), "-q", "-o", path, NULL);
    nanosleep(&(struct timespec){0, 300000000}, NULL);
    assert_int_equal(kill(pid, SIGTERM), 0);
    assert_status(nqs_finish(pid), 128 + SIGTERM);
    assert_int_equal(access(path, F_OK), -1);
}

/* Plain gradient descent with a step of 100 runs the parameters off until
 * |psi|^2 sits on a few configurations: E_loc is then their diagonal energy
 * with ~0 variance. The run completes (the file has everything) but says so
 * on stderr, also with -q; a normal run does not. */
static void test_run_warns_about_collapsed_state(void **state)
{
    (void)state;
    TP(path, "collapsed.h5");
    /* With the step review and the learning-rate ceiling (the defaults) this
     * run does not collapse; switched off, SGD at 100 does. */
    assert_status(nqs(2, "run", tp("a.ini"), "-q", "-o", path, "--set", "optimizer.method=sgd",
                      "--set", "optimizer.learning_rate=100", "--set", "optimizer.iterations=30",
                      "--set", "optimizer.step_check=false", "--set", "optimizer.learning_rate_max=0",
                      NULL),
                  0);
    assert_contains(g_err, "nqs: warning: the final state has collapsed onto a few configurations");
    assert_true(isfinite(attr(path, "/result", "energy")));
    assert_status(nqs(2, "run", tp("a.ini"), "-q", "-o", path, "--force", "--set",
                      "optimizer.iterations=30", NULL),
                  0);
    assert_null(strstr(g_err, "collapsed"));
}

/* The last update has no next iteration to review it: the final evaluation
 * does. SGD at learning rate 100 (capped at 0.05; the review keeps the run going) leaves a
 * last update that raises the energy by about 2 (about 40 error bars) on
 * this input; the final evaluation must say so, take it back and report an
 * energy within 5 combined error bars of the last history row (whose samples
 * are of the parameters before that update). */
static void test_run_final_evaluation_reviews_last_update(void **state)
{
    (void)state;
    TP(path, "final.h5");
    /* calibrated without local-energy clipping (the default, named here) */
    assert_status(nqs(2, "run", tp("a.ini"), "-o", path, "--set", "optimizer.method=sgd",
                      "--set", "optimizer.learning_rate=100", "--set", "optimizer.iterations=30",
                      "--set", "optimizer.learning_rate_max=0.05", "--set",
                      "optimizer.clip_local_energy=0", NULL),
                  0);
    assert_contains(g_err, "final evaluation: the energy rose");
    struct hist h;
    hist_read(path, &h);
    int ke = 0, kerr = 0;
    for (int k = 1; k <= NQS_H5_N_COLS; k++) {
        if (strcmp(col_name(k), "energy") == 0) ke = k;
        if (strcmp(col_name(k), "energy_error") == 0) kerr = k;
    }
    assert_true(ke > 0 && kerr > 0 && h.n == 30);
    double e_last = h.c[ke][h.n - 1], s_last = h.c[kerr][h.n - 1];
    double e = attr(path, "/result", "energy"), s = attr(path, "/result", "energy_error");
    assert_true(fabs(e - e_last) < 5 * sqrt(s * s + s_last * s_last));
    hist_free(&h);
    /* switched off, the same run reports the condemned state */
    assert_status(nqs(2, "run", tp("a.ini"), "-q", "-o", path, "--force", "--set",
                      "optimizer.method=sgd", "--set", "optimizer.learning_rate=100", "--set",
                      "optimizer.iterations=30", "--set", "optimizer.step_check=false", "--set",
                      "optimizer.learning_rate_max=0.05", NULL),
                  0);
    assert_null(strstr(g_err, "final evaluation"));
}

/* A file whose reading never finishes (libhdf5 1.10.8 loops forever inside
 * H5Aread on some fuzzer-damaged result files; a FIFO with no writer blocks
 * the same way, without shipping such a file): the restart probes the file
 * in a forked reader first and refuses it (status 1, the message names the
 * file) instead of hanging. The probe's timeout is shortened to 2 s here. */
static void test_run_restart_refuses_file_that_hangs_libhdf5(void **state)
{
    (void)state;
    TP(path, "hang.h5");
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    setenv("NQS_TEST_PROBE_TIMEOUT", "2", 1);
    assert_status(nqs(2, "run", "--restart", path, "-q", NULL), 1);
    unsetenv("NQS_TEST_PROBE_TIMEOUT");
    assert_contains(g_err, "is damaged: reading it with libhdf5 did not finish");
    unlink(path);
}

/* ----------------------------------------------------- 5. guard rail */

/* Parameters that are not finite (as a non-finite update would leave them;
 * written into the checkpoint of a 5-iteration run): every sampling attempt
 * fails, the run retries DRIVER_MAX_RETRIES = 3 times, then stops with status
 * 1 and a message; the file still opens and holds the 5 completed rows
 * unchanged, and no /result. */
static void test_run_guard_rail_stops_after_bounded_retries(void **state)
{
    (void)state;
    TP(path, "nan.h5");
    assert_status(nqs(2, "run", tp("a.ini"), "-q", "-o", path, "--set", "optimizer.iterations=5",
                      NULL),
                  0);
    struct hist before, after;
    hist_read(path, &before);
    assert_int_equal(before.n, 5);
    assert_int_equal(ckpt_access(path, NULL, 0, 1), 5);
    assert_status(nqs(2, "run", "--restart", path, "--set", "optimizer.iterations=10", NULL), 1);
    for (int k = 1; k <= 3; k++) {
        char r[64];
        snprintf(r, sizeof r, "(retry %d of 3)", k);
        assert_contains(g_err, r);
    }
    assert_null(strstr(g_err, "(retry 4 of 3)"));
    assert_contains(g_err, "iteration 5: the wavefunction produced a non-finite amplitude ratio");
    char want[1024];
    snprintf(want, sizeof want,
             "nqs: error: iteration 5 failed after 3 retries: the wavefunction produced a "
             "non-finite amplitude ratio or local energy (parameters diverged); %s keeps 5 "
             "completed iterations and its last checkpoint", path);
    assert_contains(g_err, want);
    hist_read(path, &after);
    assert_hist_identical(&after, &before);
    for (int k = 0; k <= NQS_H5_N_COLS; k++) /* the rows, wall_time included, are the old ones */
        assert_memory_equal(after.c[k], before.c[k], 5 * sizeof(double));
    double e;
    assert_int_not_equal(nqs_h5_read_attr_double(path, "/result", "energy", &e), NQS_OK);
    hist_free(&before);
    hist_free(&after);
}

/* diag_shift = 0 with fewer samples (32) than parameters (168): S has rank
 * <= 31, the Cholesky factorisation fails at iteration 0;
 * the retry raises the shift to max(diag_shift_min, 1e-4) = 1e-4 (optimizer.h)
 * and the run completes with that shift. */
static void test_run_guard_rail_recovers_from_failed_cholesky(void **state)
{
    (void)state;
    TP(path, "chol.h5");
    assert_status(nqs(2, "run", tp("a.ini"), "-o", path, "--set", "model.type=rbm", "--set",
                      "sampler.samples=32", "--set", "sampler.chains=4", "--set",
                      "optimizer.solver=dense", "--set", "optimizer.diag_shift=0", "--set",
                      "optimizer.diag_shift_min=0", "--set", "optimizer.iterations=3", NULL),
                  0);
    assert_contains(g_err, "iteration 0: SR: the shifted S matrix is not positive definite "
                           "(leading minor ");
    assert_contains(g_err, "parameters rolled back, SR shift raised (retry 1 of 3)");
    assert_null(strstr(g_err, "retry 2 of 3"));
    struct hist h;
    hist_read(path, &h);
    assert_int_equal(h.n, 3);
    int ds = col_index("diag_shift"), en = col_index("energy");
    for (long r = 0; r < 3; r++) {
        assert_true(h.c[ds][r] == 1e-4);
        assert_true(isfinite(h.c[en][r]));
    }
    hist_free(&h);
}

/* learning_rate = 100 for the first step only (decay 0, floor 0.01) blows the
 * parameters up when the step control is off (max_step = 0, step_check =
 * false, learning_rate_max = 0: the old behaviour, still reachable by these keys);
 * sampling at iteration 1 meets non-finite ratios (burn_in = 0
 * keeps the chains away from the new maximum). The driver must go back to the
 * parameters before that update, raise the shift (0.1 -> 1) and go on: row 1
 * is then measured with the initial, nearly uniform wavefunction (|theta| ~
 * 0.01, acceptance 0.996 in row 0), so its acceptance stays above 0.9; kept
 * blown-up parameters accept < 0.06 (measured before the fix). */
static void test_run_guard_rail_rolls_back_blown_up_update(void **state)
{
    (void)state;
    TP(path, "blow.h5");
    assert_status(nqs(2, "run", tp("a.ini"), "-o", path, "--set", "optimizer.learning_rate=100",
                      "--set", "optimizer.learning_rate_decay=0", "--set",
                      "optimizer.learning_rate_min=0.01", "--set", "sampler.burn_in=0", "--set",
                      "optimizer.iterations=5", "--set", "optimizer.max_step=0", "--set",
                      "optimizer.step_check=false", "--set", "optimizer.learning_rate_max=0", NULL),
                  0);
    assert_contains(g_err, "iteration 1: the wavefunction produced a non-finite amplitude ratio");
    assert_contains(g_err, "parameters rolled back to before the last update, SR shift raised "
                           "(retry 1 of 3)");
    struct hist h;
    hist_read(path, &h);
    assert_int_equal(h.n, 5);
    int acc = col_index("acceptance"), lr = col_index("learning_rate");
    int ds = col_index("diag_shift");
    assert_true(h.c[acc][0] > 0.9);
    assert_true(h.c[acc][1] > 0.9);
    assert_true(h.c[lr][0] == 100.0);
    for (long r = 1; r < 5; r++) assert_true(h.c[lr][r] == 0.01);
    assert_rel_close(h.c[ds][0], 0.1, 1e-15);
    assert_rel_close(h.c[ds][1], 1.0, 1e-15);
    assert_true(isfinite(attr(path, "/result", "energy")));
    hist_free(&h);
}

/* A forced bad update (NQS_TEST_STEP_REVIEW=rise:3, driver.c: the review is
 * told that the energy after the update of iteration 2 rose by 100 error
 * bars) is rejected and redone 4 times shorter: the message names it, rows
 * 0-2 equal the unhooked run bitwise, row 3 does not (other parameters), and
 * the run completes with finite energies. */
static void test_run_step_review_rejects_forced_bad_update(void **state)
{
    (void)state;
    TP(ref, "rv0.h5");
    TP(path, "rv1.h5");
    assert_status(nqs(1, "run", tp("a.ini"), "-q", "-o", ref, "--set", "optimizer.iterations=6",
                      NULL), 0);
    setenv("NQS_TEST_STEP_REVIEW", "rise:3", 1);
    int st = nqs(1, "run", tp("a.ini"), "-o", path, "--set", "optimizer.iterations=6", NULL);
    unsetenv("NQS_TEST_STEP_REVIEW");
    assert_status(st, 0);
    assert_contains(g_err, "iteration 3: the energy rose from");
    assert_contains(g_err, "the last update is rejected (1 of 4) and redone 4 times shorter");
    assert_null(strstr(g_err, "(2 of 4)"));
    struct hist a, b;
    hist_read(ref, &a);
    hist_read(path, &b);
    assert_int_equal(b.n, 6);
    int en = col_index("energy");
    assert_memory_equal(a.c[en], b.c[en], 3 * sizeof(double));
    assert_true(a.c[en][3] != b.c[en][3]);
    for (long r = 0; r < 6; r++) assert_true(isfinite(b.c[en][r]));
    /* the history says so: `rejections` 0 for rows 0-2, 1 from row 3 on (the
     * review of iteration 3 rejected the update of iteration 2); every SR
     * update's Fubini-Study length is finite and within max_step = 0.1 */
    int rj = col_index("rejections"), sl = col_index("step_length");
    for (long r = 0; r < 6; r++) {
        assert_true(a.c[rj][r] == 0);
        assert_true(b.c[rj][r] == (r < 3 ? 0 : 1));
        assert_true(isfinite(b.c[sl][r]) && b.c[sl][r] > 0 && b.c[sl][r] <= 0.1 * (1 + 1e-12));
    }
    hist_free(&a);
    hist_free(&b);
}

/* Local-energy clipping (optimizer.h), clip_local_energy = 5:
 * /history/clipped counts the clamped samples of every iteration, between 0
 * and n_samples and not all 0 on the heavy-tailed start of a random state;
 * the energies are unclamped (the first row, sampled before any update, is
 * bitwise the unclipped run's), and the default (0, off) gives 0 throughout
 * and another trajectory. */
static void test_run_records_clipped_samples(void **state)
{
    (void)state;
    TP(a, "clip.h5");
    TP(b, "noclip.h5");
    assert_status(nqs(1, "run", tp("a.ini"), "-q", "-o", a, "--set", "optimizer.iterations=8", "--set",
                      "optimizer.clip_local_energy=5", NULL),
                  0);
    assert_status(nqs(1, "run", tp("a.ini"), "-q", "-o", b, "--set", "optimizer.iterations=8", NULL), 0);
    struct hist ha, hb;
    hist_read(a, &ha);
    hist_read(b, &hb);
    int cl = col_index("clipped"), ns = col_index("n_samples"), en = col_index("energy");
    double total = 0;
    for (long r = 0; r < 8; r++) {
        assert_true(ha.c[cl][r] >= 0 && ha.c[cl][r] <= ha.c[ns][r]);
        assert_true(ha.c[cl][r] == floor(ha.c[cl][r]));
        assert_true(hb.c[cl][r] == 0);
        total += ha.c[cl][r];
    }
    assert_true(total > 0);
    assert_memory_equal(&ha.c[en][0], &hb.c[en][0], sizeof(double));
    assert_true(memcmp(ha.c[en], hb.c[en], 8 * sizeof(double)) != 0);
    hist_free(&ha);
    hist_free(&hb);
}

/* Chains stuck in separate modes (NQS_TEST_STEP_REVIEW=unmixed:3: split-R-hat
 * 2 from iteration 3 on, the samples untouched): the jump from <= 1.2 rejects
 * the update of iteration 2 four times, it is taken back and the samples are
 * accepted as a fluctuation (the 1st unmixed iteration); every later one is
 * accepted (the reference is unmixed too), and the 50th in a row, iteration
 * 52, stops the run with status 1 and "cannot recover"; the history keeps the
 * 52 completed iterations and the file its last checkpoint. */
static void test_run_unmixed_chains_stop_the_run(void **state)
{
    (void)state;
    TP(path, "unmixed.h5");
    setenv("NQS_TEST_STEP_REVIEW", "unmixed:3", 1);
    int st = nqs(1, "run", tp("a.ini"), "-o", path, "--set", "optimizer.iterations=80", NULL);
    unsetenv("NQS_TEST_STEP_REVIEW");
    assert_status(st, 1);
    assert_contains(g_err, "the optimisation cannot recover: split-R-hat has stayed above 1.5 "
                           "for 50 iterations in a row");
    assert_contains(g_err, "nqs: error: iteration 52 failed: the optimisation cannot recover");
    assert_contains(g_err, "keeps 52 completed iterations and its last checkpoint");
    struct hist h;
    hist_read(path, &h);
    assert_int_equal(h.n, 52);
    hist_free(&h);
}

/* Final samples the step review would condemn (NQS_TEST_STEP_REVIEW=
 * final-variance: their variance reported 1e6 times too large) give a
 * warning that the final energy is unreliable, also with -q; the run still
 * writes its result and exits 0. Without the hook there is no warning. */
static void test_run_warns_about_unreliable_final_samples(void **state)
{
    (void)state;
    TP(path, "finvar.h5");
    setenv("NQS_TEST_STEP_REVIEW", "final-variance", 1);
    int st = nqs(1, "run", tp("a.ini"), "-q", "-o", path, "--set", "optimizer.iterations=5", NULL);
    unsetenv("NQS_TEST_STEP_REVIEW");
    assert_status(st, 0);
    assert_contains(g_err, "warning: final evaluation: the variance of the local energy rose from");
    assert_contains(g_err, "the final energy and its error bar are unreliable");
    assert_status(nqs(1, "run", tp("a.ini"), "-q", "-o", path, "--force", "--set",
                      "optimizer.iterations=5", NULL),
                  0);
    assert_null(strstr(g_err, "unreliable"));
}

/* A run that cannot recover (NQS_TEST_STEP_REVIEW=frozen:3: from iteration 3
 * on the chains are reported frozen, so the update of iteration 2 is rejected
 * 4 times, taken back, and the samples are still frozen) stops with status 1
 * and a message saying so; the file keeps rows 0-2 as the unhooked run wrote
 * them, its checkpoint (iteration 3) is readable, there is no /result, and
 * --restart without the hook goes on to the end. */
static void test_run_step_review_gives_up_with_file_intact(void **state)
{
    (void)state;
    TP(ref, "gv0.h5");
    TP(path, "gv1.h5");
    assert_status(nqs(1, "run", tp("a.ini"), "-q", "-o", ref, "--set", "optimizer.iterations=6",
                      NULL), 0);
    setenv("NQS_TEST_STEP_REVIEW", "frozen:3", 1);
    int st = nqs(1, "run", tp("a.ini"), "-o", path, "--set", "optimizer.iterations=6", NULL);
    unsetenv("NQS_TEST_STEP_REVIEW");
    assert_status(st, 1);
    assert_contains(g_err, "the last update is rejected (4 of 4) and taken back");
    assert_contains(g_err, "nqs: error: iteration 3 failed: the optimisation cannot recover: the "
                           "acceptance fell from");
    assert_contains(g_err, "keeps 3 completed iterations and its last checkpoint");
    struct hist a, b;
    hist_read(ref, &a);
    hist_read(path, &b);
    assert_int_equal(b.n, 3);
    int en = col_index("energy");
    assert_memory_equal(a.c[en], b.c[en], 3 * sizeof(double));
    hist_free(&a);
    hist_free(&b);
    assert_int_equal(ckpt_access(path, NULL, 0, 0), 3);
    double e;
    assert_int_not_equal(nqs_h5_read_attr_double(path, "/result", "energy", &e), NQS_OK);
    assert_status(nqs(1, "run", "--restart", path, "-q", NULL), 0);
    assert_true(isfinite(attr(path, "/result", "energy")));
}

/* ------------------------------------------------------------ 6. --json */

static const struct nqs_json_kv *json_num(const struct nqs_json_kv *kv, int n, const char *key)
{
    const struct nqs_json_kv *e = nqs_json_find(kv, n, key);
    if (!e || e->type != NQS_JSON_NUM) fail_msg("--json: no number '%s'", key);
    return e;
}

/* The reference run's stdout is exactly one JSON object; its numbers equal
 * the file's /result and /reference to the printed precision (%.12g for
 * energies: relative 1e-11; %.6g for the rest: relative 1e-5). */
static void test_run_json_matches_result_file(void **state)
{
    (void)state;
    ensure_reference();
    struct nqs_json_kv kv[40];
    int n = nqs_json_parse(ref_json, kv, 40);
    if (n < 0) fail_msg("--json output is not one JSON object: %s", ref_json);
    TP(path, "ref.h5");
    assert_rel_close(json_num(kv, n, "energy")->num, attr(path, "/result", "energy"), 1e-11);
    assert_rel_close(json_num(kv, n, "energy_error")->num, attr(path, "/result", "energy_error"),
                     1e-5);
    assert_rel_close(json_num(kv, n, "energy_variance")->num,
                     attr(path, "/result", "energy_variance"), 1e-5);
    assert_rel_close(json_num(kv, n, "v_score")->num, attr(path, "/result", "v_score"), 1e-5);
    assert_true(json_num(kv, n, "n_params")->num == 14);
    assert_true(attr(path, "/result", "n_params") == 14);
    /* the exact ground state of the Heisenberg ring N = 12 (Pauli units) */
    assert_rel_close(json_num(kv, n, "reference_energy")->num, -21.5495636698, 1e-10);
    assert_rel_close(json_num(kv, n, "reference_energy")->num, attr(path, "/reference", "energy"),
                     1e-11);
    assert_rel_close(json_num(kv, n, "relative_error")->num,
                     attr(path, "/reference", "relative_error"), 1e-5);
    const struct nqs_json_kv *f = nqs_json_find(kv, n, "file");
    assert_non_null(f);
    assert_int_equal(f->type, NQS_JSON_STR);
    assert_string_equal(f->str, path);
    assert_int_equal(nqs_json_find(kv, n, "shared")->type, NQS_JSON_TRUE);
}

/* [observables] lanczos = true: the final evaluation's energy of one
 * Lanczos step reaches the JSON, /result/observables (energy_lanczos with its
 * error, lanczos_alpha) and the text report; it lies below the state's
 * energy by more than 3 combined error bars (the ring N = 12 after 8
 * iterations: 3.5e-2, the Lanczos step 6.9e-3, 0.61 +- 0.03 lower) and not
 * below the exact ground state by more than 4 of its error bars; nqs measure
 * writes the same keys into /measure/0. */
static void test_run_lanczos_step_reported(void **state)
{
    (void)state;
    TP(path, "lanczos.h5");
    assert_status(nqs(2, "run", tp("a.ini"), "-q", "-o", path, "--json", "--set",
                      "observables.lanczos=true", "--set", "output.final_samples=8192", "--set",
                      "optimizer.iterations=8", NULL),
                  0);
    struct nqs_json_kv kv[48];
    int n = nqs_json_parse(g_out, kv, 48);
    if (n < 0) fail_msg("--json output is not one JSON object: %s", g_out);
    double el = json_num(kv, n, "energy_lanczos")->num, ee = json_num(kv, n, "energy_lanczos_error")->num;
    assert_rel_close(el, attr(path, "/result/observables", "energy_lanczos"), 1e-12);
    assert_rel_close(ee, attr(path, "/result/observables", "energy_lanczos_error"), 1e-12);
    assert_rel_close(json_num(kv, n, "lanczos_alpha")->num,
                     attr(path, "/result/observables", "lanczos_alpha"), 1e-12);
    assert_true(isnan(attr(path, "/result/observables", "lanczos_alpha_error")));
    double e = attr(path, "/result", "energy"), s = attr(path, "/result", "energy_error");
    if (!(ee > 0 && el < e - 3 * sqrt(s * s + ee * ee)))
        fail_msg("E = %.8f +- %.2g, Lanczos step %.8f +- %.2g", e, s, el, ee);
    assert_true(el > -21.5495636698 - 4 * ee);
    assert_status(nqs(2, "run", tp("a.ini"), "-o", tp("lanczos2.h5"), "--set",
                      "observables.lanczos=true", "--set", "output.final_samples=512", NULL),
                  0);
    assert_contains(g_out, "lanczos      -");
    assert_status(nqs(2, "measure", path, "--samples", "2048", NULL), 0);
    assert_contains(g_out, "lanczos      -"); /* the input stored in the file asks for it */
    assert_true(isfinite(attr(path, "/measure/0/observables", "energy_lanczos")));
}

/* A zero Hamiltonian (J = h = 0): energy, variance and reference are 0, so
 * v_score = 0/0 and relative_error = 0/0 are not numbers: JSON has no NaN,
 * they must be null, and the object must still parse. */
static void test_run_json_prints_null_for_nan(void **state)
{
    (void)state;
    write_text("zero.ini", "[lattice]\ntype = chain\nextent = 6\n"
                           "[hamiltonian]\ntype = ising\nJ = 0\nh = 0\n"
                           "[sampler]\nchains = 4\nsamples = 64\n[optimizer]\niterations = 2\n");
    TP(path, "zeroj.h5");
    assert_status(nqs(2, "run", tp("zero.ini"), "-q", "--json", "-o", path, NULL), 0);
    struct nqs_json_kv kv[40];
    int n = nqs_json_parse(g_out, kv, 40);
    if (n < 0) fail_msg("--json output is not one JSON object: %s", g_out);
    assert_true(json_num(kv, n, "energy")->num == 0.0);
    assert_int_equal(nqs_json_find(kv, n, "v_score")->type, NQS_JSON_NULL);
    assert_int_equal(nqs_json_find(kv, n, "relative_error")->type, NQS_JSON_NULL);
    assert_true(isnan(attr(path, "/result", "v_score")));
}

/* ------------------------------------------------ 7. final evaluation */

struct exact_obs {
    double energy, m2, nn, sq, sx;
};

/* Expectations in |psi|^2 of the final model by enumeration of every
 * configuration of the N-site ring (only sum s = 0 when `sector`), with the
 * definitions of observables.h written out for a chain: m^2 = (sum s / N)^2,
 * nn = (1/N) sum_i s_i s_{i+1}, S(pi) = (sum_i (-1)^i s_i)^2 / N,
 * sx = (1/N) sum_i Re psi(s^i)/psi(s). The energy comes from the library's
 * nqs_exact_expectation (sampler.c), an enumeration independent of the run. */
static void exact_final(const char *path, int sector, struct exact_obs *x)
{
    char *text = NULL;
    assert_int_equal(nqs_h5_read_attr_string(path, "/", "input", &text), NQS_OK);
    struct nqs_config *cfg = nqs_config_alloc();
    assert_int_equal(nqs_config_read_string(cfg, text, path), NQS_OK);
    free(text);
    struct nqs_problem *p = NULL;
    if (nqs_problem_build(cfg, NQS_PROBLEM_MODEL, &p) != NQS_OK) fail_msg("%s", nqs_last_error());
    struct nqs_model *m = p->model;
    int N = m->n_sites;
    assert_true(ckpt_access(path, m->par, m->n_par, 0) > 0);
    m->ops->refresh(m);
    double complex e;
    double var;
    assert_int_equal(nqs_exact_expectation(m, p->ham, &e, &var), NQS_OK);
    x->energy = creal(e);

    unsigned long dim = 1UL << N;
    double complex *lp = malloc(dim * sizeof *lp);
    assert_non_null(lp);
    int8_t s[32];
    double lmax = -INFINITY;
    for (unsigned long c = 0; c < dim; c++) {
        for (int i = 0; i < N; i++) s[i] = (int8_t)((c >> i) & 1 ? 1 : -1);
        lp[c] = nqs_model_log_psi(m, s);
        if (creal(lp[c]) > lmax) lmax = creal(lp[c]);
    }
    double z = 0, m2 = 0, nn = 0, sq = 0, sx = 0;
    for (unsigned long c = 0; c < dim; c++) {
        int sum = 0, stag = 0, bonds = 0;
        for (int i = 0; i < N; i++) {
            int si = (c >> i) & 1 ? 1 : -1, sj = (c >> ((i + 1) % N)) & 1 ? 1 : -1;
            sum += si;
            stag += i % 2 ? -si : si;
            bonds += si * sj;
        }
        if (sector && sum != 0) continue;
        double w = exp(2.0 * (creal(lp[c]) - lmax));
        double flip = 0;
        for (int i = 0; i < N; i++) flip += creal(cexp(lp[c ^ (1UL << i)] - lp[c]));
        z += w;
        m2 += w * (double)(sum * sum) / (double)(N * N);
        nn += w * bonds / (double)N;
        sq += w * (double)(stag * stag) / N;
        sx += w * flip / N;
    }
    x->m2 = m2 / z;
    x->nn = nn / z;
    x->sq = sq / z;
    x->sx = sx / z;
    free(lp);
    nqs_problem_free(p);
    nqs_config_free(cfg);
}

/* |value - exact| <= 4 error bars (a 4-sigma band: with 5 checks a false
 * alarm has probability ~3e-4 for a random seed; the seeds are fixed), and
 * the error bar small enough for the check to mean something. */
static void assert_within_4_sigma(const char *path, const char *name, double exact, double max_err)
{
    char en[64];
    snprintf(en, sizeof en, "%s_error", name);
    double v = attr(path, "/result/observables", name), err = attr(path, "/result/observables", en);
    if (!(err > 0 && err <= max_err))
        fail_msg("%s error bar %g outside (0, %g]", name, err, max_err);
    if (!(fabs(v - exact) <= 4 * err))
        fail_msg("%s = %.6f +- %.6f, exact %.6f (%.1f sigma)", name, v, err, exact,
                 fabs(v - exact) / err);
}

/* TFIM ring N = 8 at h = 0.5 (ordered side, m^2 far from the uniform 1/8)
 * after 20 SR iterations, 16384 final samples, sx switched on. */
static void test_run_final_observables_match_enumeration_tfim(void **state)
{
    (void)state;
    write_text("tfim8.ini", "[lattice]\ntype = chain\nextent = 8\n"
                            "[hamiltonian]\ntype = ising\nJ = 1\nh = 0.5\n"
                            "[model]\ntype = rbm_symm\nalpha = 2\nseed = 2\n"
                            "[sampler]\nchains = 8\nsamples = 512\nseed = 3\n"
                            "[optimizer]\niterations = 20\nlearning_rate = 0.05\ndiag_shift = 0.1\n"
                            "learning_rate_max = 0.05\n"
                            "[output]\nfinal_samples = 16384\n[observables]\nsx = true\n");
    TP(path, "tfim8.h5");
    assert_status(nqs(2, "run", tp("tfim8.ini"), "-q", "-o", path, NULL), 0);
    struct exact_obs x;
    exact_final(path, 0, &x);
    /* the optimised state is ordered: m^2 well above the 1/8 of a uniform state */
    assert_true(x.m2 > 0.4);
    double e = attr(path, "/result", "energy"), ee = attr(path, "/result", "energy_error");
    if (!(ee > 0 && fabs(e - x.energy) <= 4 * ee))
        fail_msg("energy %.6f +- %.6f, exact %.6f", e, ee, x.energy);
    assert_within_4_sigma(path, "magnetisation_sq", x.m2, 0.02);
    assert_within_4_sigma(path, "nn_correlation", x.nn, 0.02);
    assert_within_4_sigma(path, "structure_factor", x.sq, 0.05);
    assert_within_4_sigma(path, "sx", x.sx, 0.02);
}

/* Heisenberg ring N = 8 (exchange moves in the sum s = 0 sector): m^2 is
 * exactly 0 with error 0; nn and S(pi) against the sector enumeration. */
static void test_run_final_observables_match_enumeration_heisenberg(void **state)
{
    (void)state;
    write_text("heis8.ini", "[lattice]\ntype = chain\nextent = 8\n"
                            "[hamiltonian]\ntype = heisenberg\n"
                            "[model]\ntype = rbm_symm\nalpha = 2\nseed = 4\n"
                            "[sampler]\nchains = 8\nsamples = 512\nseed = 5\n"
                            "[optimizer]\niterations = 20\nlearning_rate = 0.05\ndiag_shift = 0.1\n"
                            "[output]\nfinal_samples = 16384\n");
    TP(path, "heis8.h5");
    assert_status(nqs(2, "run", tp("heis8.ini"), "-q", "-o", path, NULL), 0);
    struct exact_obs x;
    exact_final(path, 1, &x);
    assert_true(attr(path, "/result/observables", "magnetisation_sq") == 0.0);
    assert_true(attr(path, "/result/observables", "magnetisation_sq_error") == 0.0);
    double e = attr(path, "/result", "energy"), ee = attr(path, "/result", "energy_error");
    if (!(ee > 0 && fabs(e - x.energy) <= 4 * ee))
        fail_msg("energy %.6f +- %.6f, exact %.6f", e, ee, x.energy);
    /* antiferromagnetic correlations have built up */
    assert_true(x.nn < -0.3);
    assert_within_4_sigma(path, "nn_correlation", x.nn, 0.02);
    assert_within_4_sigma(path, "structure_factor", x.sq, 0.05);
}

/* ------------------------------------------------- 8. exact enumeration */

/* [sampler] method = exact on the TFIM ring N = 8 (flip moves: all 256
 * configurations): the final energy and observables are exact expectation
 * values of the final state, so they equal the independent enumeration of
 * exact_final to rounding (1e-10 relative/absolute: sums of 256 terms), with
 * error 0; every history row has error 0, acceptance NaN and 256 samples; and
 * 1 and 2 threads give the same bits. */
static void test_run_exact_sampler_matches_enumeration(void **state)
{
    (void)state;
    write_text("ex8.ini", "[lattice]\ntype = chain\nextent = 8\n"
                          "[hamiltonian]\ntype = ising\nJ = 1\nh = 0.5\n"
                          "[model]\ntype = rbm_symm\nalpha = 2\nseed = 2\n"
                          "[sampler]\nmethod = exact\nchains = 3\n"
                          "[optimizer]\niterations = 15\nlearning_rate = 0.05\ndiag_shift = 0.1\n"
                          "[observables]\nsx = true\n");
    TP(path, "ex8.h5");
    assert_status(nqs(1, "run", tp("ex8.ini"), "-q", "-o", path, NULL), 0);
    struct exact_obs x;
    exact_final(path, 0, &x);
    double e = attr(path, "/result", "energy");
    if (!(fabs(e - x.energy) <= 1e-10 * fabs(x.energy)))
        fail_msg("exact-sampler energy %.15f, enumeration %.15f", e, x.energy);
    assert_true(attr(path, "/result", "energy_error") == 0.0);
    assert_true(attr(path, "/result", "n_samples") == 256.0);
    static const char *const names[] = {"magnetisation_sq", "nn_correlation", "structure_factor", "sx"};
    const double want[] = {x.m2, x.nn, x.sq, x.sx};
    for (int k = 0; k < 4; k++) {
        double v = attr(path, "/result/observables", names[k]);
        if (!(fabs(v - want[k]) <= 1e-10)) fail_msg("%s = %.15f, enumeration %.15f", names[k], v, want[k]);
    }
    struct hist h1, h2;
    hist_read(path, &h1);
    assert_int_equal(h1.n, 15);
    for (int k = 0; k <= NQS_H5_N_COLS; k++)
        for (long r = 0; r < h1.n; r++) {
            if (strcmp(col_name(k), "energy_error") == 0) assert_true(h1.c[k][r] == 0.0);
            if (strcmp(col_name(k), "acceptance") == 0) assert_true(isnan(h1.c[k][r]));
            if (strcmp(col_name(k), "n_samples") == 0) assert_true(h1.c[k][r] == 256.0);
        }
    TP(path2, "ex8b.h5");
    assert_status(nqs(2, "run", tp("ex8.ini"), "-q", "-o", path2, NULL), 0);
    hist_read(path2, &h2);
    assert_hist_identical(&h1, &h2);
    assert_results_identical(path, path2);
    hist_free(&h1);
    hist_free(&h2);
}

/* SR on exact expectation values is deterministic: the Heisenberg ring N = 8
 * (sector sum s = 0, 70 configurations) with rbm_symm alpha = 2, which can
 * represent its ground state, converges to the Lanczos energy of /reference
 * (computed by nqs exact's code, not by the model) to 1e-8 relative in 150
 * iterations (measured 1e-13 at N = 10 after 150; a wrong S or F stalls at
 * 1e-3..1e-5 like a noisy run), with variance -> 0. */
static void test_run_exact_sampler_reaches_ground_state(void **state)
{
    (void)state;
    write_text("exh.ini", "[lattice]\ntype = chain\nextent = 8\n"
                          "[hamiltonian]\ntype = heisenberg\n"
                          "[model]\ntype = rbm_symm\nalpha = 2\nseed = 3\n"
                          "group = translations\n"
                          "[sampler]\nmethod = exact\nchains = 4\n"
                          "[optimizer]\niterations = 150\nlearning_rate = 0.05\ndiag_shift = 0.01\n"
                          "max_step = 0.1\n"); /* calibrated with this bound */
    TP(path, "exh.h5");
    assert_status(nqs(1, "run", tp("exh.ini"), "-q", "-o", path, NULL), 0);
    double e = attr(path, "/result", "energy"), ref = attr(path, "/reference", "energy");
    if (!(fabs((e - ref) / ref) <= 1e-8)) fail_msg("energy %.15f, Lanczos %.15f", e, ref);
    assert_true(attr(path, "/result", "energy_variance") < 1e-8);
    assert_true(attr(path, "/result", "n_samples") == 70.0);
}

/* Too many sites for the enumeration: exit status 2, one line naming the key. */
static void test_run_exact_sampler_refuses_large_lattice(void **state)
{
    (void)state;
    write_text("ex22.ini", "[lattice]\ntype = chain\nextent = 22\n[hamiltonian]\ntype = heisenberg\n"
                           "[sampler]\nmethod = exact\n");
    assert_status(nqs(1, "run", tp("ex22.ini"), "-q", "-o", tp("ex22.h5"), NULL), 2);
    assert_non_null(strstr(g_err, "[sampler] method = exact"));
    assert_non_null(strstr(g_err, "20 sites"));
    assert_int_equal(access(tp("ex22.h5"), F_OK), -1);
}

/* Frozen chains: a dense RBM with init_std = 3 has |psi|^2 so peaked that the
 * exchange moves are almost never accepted (measured acceptance ~0.02,
 * split-R-hat ~2.6): the run warns once on stderr and still finishes; a
 * well-mixed run (init_std 0.01, acceptance ~0.9) does not warn. */
static void count_warnings(const char *extra, int want)
{
    write_text("fz.ini", "[lattice]\ntype = chain\nextent = 12\n[hamiltonian]\ntype = heisenberg\n"
                         "[model]\ntype = rbm\nalpha = 1\nseed = 4\n"
                         "[sampler]\nchains = 4\nsamples = 64\n[optimizer]\niterations = 3\n");
    assert_status(nqs(1, "run", tp("fz.ini"), "-o", tp("fz.h5"), "--force", "--set", extra, NULL), 0);
    int n = 0;
    for (const char *q = g_err; (q = strstr(q, "warning: iteration")) != NULL; q++) n++;
    if (n != want) fail_msg("%d warnings, expected %d; stderr:\n%s", n, want, g_err);
    if (want) assert_non_null(strstr(g_err, "barely move"));
}

static void test_run_warns_once_about_frozen_chains(void **state)
{
    (void)state;
    count_warnings("model.init_std=3", 1);
    count_warnings("model.init_std=0.01", 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_sigterm_then_restart_is_bitwise),
        cmocka_unit_test(test_run_restart_with_more_iterations_is_bitwise),
        cmocka_unit_test(test_run_anneal_restart_is_bitwise),
        cmocka_unit_test(test_run_time_limit_stops_and_restart_completes),
        cmocka_unit_test(test_run_restart_applies_new_learning_rate),
        cmocka_unit_test(test_run_sigkill_leaves_readable_file_and_restarts),
        cmocka_unit_test(test_run_same_bits_on_one_and_two_threads),
        cmocka_unit_test(test_run_refuses_to_overwrite_without_force),
        cmocka_unit_test(test_run_restart_refuses_mismatched_input),
        cmocka_unit_test(test_run_restart_refuses_file_without_checkpoint),
        cmocka_unit_test(test_run_refuses_unwritable_output),
        cmocka_unit_test(test_run_refuses_restart_with_other_output),
        cmocka_unit_test(test_run_refuses_sx_with_exchange_moves),
        cmocka_unit_test(test_run_refused_restart_keeps_results),
        cmocka_unit_test(test_run_finishes_while_a_reader_holds_the_file),
        cmocka_unit_test(test_run_refuses_output_over_input),
        cmocka_unit_test(test_run_signal_during_setup_ends_at_once),
        cmocka_unit_test(test_run_warns_about_collapsed_state),
        cmocka_unit_test(test_run_final_evaluation_reviews_last_update),
        cmocka_unit_test(test_run_restart_refuses_file_that_hangs_libhdf5),
        cmocka_unit_test(test_run_guard_rail_stops_after_bounded_retries),
        cmocka_unit_test(test_run_guard_rail_recovers_from_failed_cholesky),
        cmocka_unit_test(test_run_guard_rail_rolls_back_blown_up_update),
        cmocka_unit_test(test_run_step_review_rejects_forced_bad_update),
        cmocka_unit_test(test_run_step_review_gives_up_with_file_intact),
        cmocka_unit_test(test_run_unmixed_chains_stop_the_run),
        cmocka_unit_test(test_run_records_clipped_samples),
        cmocka_unit_test(test_run_warns_about_unreliable_final_samples),
        cmocka_unit_test(test_run_json_matches_result_file),
        cmocka_unit_test(test_run_lanczos_step_reported),
        cmocka_unit_test(test_run_json_prints_null_for_nan),
        cmocka_unit_test(test_run_final_observables_match_enumeration_tfim),
        cmocka_unit_test(test_run_final_observables_match_enumeration_heisenberg),
        cmocka_unit_test(test_run_exact_sampler_matches_enumeration),
        cmocka_unit_test(test_run_exact_sampler_reaches_ground_state),
        cmocka_unit_test(test_run_exact_sampler_refuses_large_lattice),
        cmocka_unit_test(test_run_warns_once_about_frozen_chains),
    };
    /* NQS_TEST_FILTER=pattern (cmocka wildcards) runs only matching tests */
    if (getenv("NQS_TEST_FILTER")) cmocka_set_test_filter(getenv("NQS_TEST_FILTER"));
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    free(g_out);
    free(g_err);
    free(ref_json);
    return rc;
}
