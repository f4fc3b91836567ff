/*
 * test_io_h5.c - the HDF5 result file (src/io/io_h5.c, docs/results-format.md).
 *
 * Every value written is a deterministic function of its position (row,
 * column, parameter or chain index and a seed) defined here, and is checked
 * after reopening the file through an independent path: the read helpers or
 * raw HDF5 calls. Crashes are real (fork + SIGKILL) or simulated with the
 * test hook that stops a checkpoint between the slot and /checkpoint/active.
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hdf5.h>

#include "error.h"
#include "io_h5.h"
#include "version.h"

enum { N_SITES = 6, N_PARAMS = 5, N_CHAINS = 3, RNG_BYTES = 7, OPT_LEN = 4 };

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nqs_io_h5_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    if (d == NULL) return -1;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        unlink(p);
    }
    closedir(d);
    return rmdir(tmpdir);
}

static void tpath(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmpdir, name);
}

static struct nqs_h5_meta test_meta(void)
{
    struct nqs_h5_meta m = {0};
    m.date = "2024-01-02T03:04:05Z";
    m.command_line = "nqs run runs/x.ini -o out.h5";
    m.input = "[lattice]\ntype = chain\nextent = 6\n";
    m.lattice = "chain 6 periodic";
    m.hamiltonian = "heisenberg";
    m.model = "rbm_symm";
    m.shared = 1;
    m.n_sites = N_SITES;
    m.n_params = N_PARAMS;
    m.n_chains = N_CHAINS;
    m.rng_state_bytes = RNG_BYTES;
    m.optimizer_state_len = OPT_LEN;
    return m;
}

/* Value of column k (0 = iteration) in row i: exact in binary. */
static double cell(long i, int k) { return k == 0 ? (double)i : 1000.0 * i + k + 0.25; }

static struct nqs_h5_row make_row(long i)
{
    struct nqs_h5_row r;
    r.iteration = i;
    for (int k = 0; k < NQS_H5_N_COLS; k++)
        *(double *)((char *)&r + nqs_h5_columns[k].offset) = cell(i, k + 1);
    return r;
}

static void append_rows(struct nqs_h5 *f, long from, long to)
{
    for (long i = from; i < to; i++) {
        struct nqs_h5_row r = make_row(i);
        assert_int_equal(nqs_h5_append(f, &r), NQS_OK);
    }
}

/* Checkpoint contents as functions of a seed. */
struct ckbuf {
    double complex params[N_PARAMS];
    double opt[OPT_LEN];
    int8_t chains[N_CHAINS * N_SITES];
    uint8_t rng[N_CHAINS * RNG_BYTES];
    struct nqs_h5_checkpoint ck;
};

static void ck_fill(struct ckbuf *b, int seed, long iteration)
{
    for (int p = 0; p < N_PARAMS; p++) b->params[p] = (p + 1) * 0.5 + seed - I * (p * 0.25 + seed);
    for (int k = 0; k < OPT_LEN; k++) b->opt[k] = seed * 10.0 + k * 0.125;
    for (int c = 0; c < N_CHAINS; c++)
        for (int s = 0; s < N_SITES; s++) b->chains[c * N_SITES + s] = ((c + s + seed) % 2) ? 1 : -1;
    for (int c = 0; c < N_CHAINS; c++)
        for (int k = 0; k < RNG_BYTES; k++) b->rng[c * RNG_BYTES + k] = (uint8_t)(c * 31 + k * 7 + seed * 101);
    b->ck.iteration = iteration;
    b->ck.wall_time = 12.5 * seed;
    b->ck.samples_total = 4096.0 * seed;
    b->ck.params = b->params;
    b->ck.optimizer_state = b->opt;
    b->ck.chains = b->chains;
    b->ck.rng_state = b->rng;
}

static void ck_zero(struct ckbuf *b)
{
    memset(b, 0, sizeof *b);
    b->ck.params = b->params;
    b->ck.optimizer_state = b->opt;
    b->ck.chains = b->chains;
    b->ck.rng_state = b->rng;
}

/* Compare a checkpoint read back (chains [first, first+count)) with seed's. */
static void ck_check(const struct ckbuf *got, int seed, long iteration, int first, int count)
{
    struct ckbuf want;
    ck_fill(&want, seed, iteration);
    assert_int_equal(got->ck.iteration, iteration);
    assert_true(got->ck.wall_time == want.ck.wall_time);
    assert_true(got->ck.samples_total == want.ck.samples_total);
    for (int p = 0; p < N_PARAMS; p++) assert_true(got->params[p] == want.params[p]);
    for (int k = 0; k < OPT_LEN; k++) assert_true(got->opt[k] == want.opt[k]);
    assert_memory_equal(got->chains, want.chains + first * N_SITES, (size_t)count * N_SITES);
    assert_memory_equal(got->rng, want.rng + first * RNG_BYTES, (size_t)count * RNG_BYTES);
}

/* Every column of `path` has at least `rows` rows (exactly, if exact) holding cell(i, k). */
static void check_history(const char *path, long rows, int exact)
{
    for (int k = 0; k <= NQS_H5_N_COLS; k++) {
        const char *name = k ? nqs_h5_columns[k - 1].name : "iteration";
        double *v;
        long n;
        int rc = nqs_h5_read_column(path, name, &v, &n);
        if (rc != NQS_OK) print_error("%s\n", nqs_last_error());
        assert_int_equal(rc, NQS_OK);
        if (exact)
            assert_int_equal(n, rows);
        else
            assert_true(n >= rows);
        for (long i = 0; i < rows; i++) assert_true(v[i] == cell(i, k));
        free(v);
    }
}

static void check_attr_str(const char *path, const char *obj, const char *name, const char *want)
{
    char *s = NULL;
    assert_int_equal(nqs_h5_read_attr_string(path, obj, name, &s), NQS_OK);
    assert_string_equal(s, want);
    free(s);
}

static void check_attr_num(const char *path, const char *obj, const char *name, double want)
{
    double v;
    assert_int_equal(nqs_h5_read_attr_double(path, obj, name, &v), NQS_OK);
    if (isnan(want))
        assert_true(isnan(v));
    else
        assert_true(v == want);
}

static int link_exists(const char *path, const char *obj)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    htri_t e = H5Lexists(f, obj, H5P_DEFAULT);
    H5Fclose(f);
    return e > 0;
}

/* ------------------------------------------------------------------ tests */

static void test_io_h5_roundtrip(void **state)
{
    (void)state;
    char path[256];
    tpath(path, sizeof path, "round.h5");
    struct nqs_h5_meta meta = test_meta();
    struct nqs_h5 *f = NULL;
    assert_int_equal(nqs_h5_create(path, &meta, 0, &f), NQS_OK);
    append_rows(f, 0, 5);
    struct ckbuf b;
    ck_fill(&b, 1, 5);
    assert_int_equal(nqs_h5_checkpoint_write(f, &b.ck), NQS_OK);
    assert_int_equal(nqs_h5_checkpoint_iteration(f), 5);
    append_rows(f, 5, 6);
    assert_int_equal(nqs_h5_n_rows(f), 6);
    struct nqs_h5_result res = {.energy = -44.5, .energy_error = 0.0625, .energy_variance = 1.75,
                                .v_score = 16 * 1.75 / (44.5 * 44.5), .tau = 3.5, .rhat = NAN,
                                .acceptance = 0.375, .n_samples = 8192};
    struct nqs_h5_reference ref = {.energy = -44.9139328, .source = "exact diagonalisation (ARPACK)"};
    struct nqs_h5_observable obs[2] = {{"magnetization", 0.125, 0.0078125},
                                       {"sz_corr_1", -0.5, 0.03125}};
    assert_int_equal(nqs_h5_finish(f, &res, &ref, obs, 2), NQS_OK);
    assert_int_equal(nqs_h5_append(f, &(struct nqs_h5_row){0}), NQS_EINTERNAL);
    assert_int_equal(nqs_h5_close(f), NQS_OK);

    /* after a clean close even a plain (non-SWMR) reader opens it */
    hid_t h = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(h >= 0);
    /* iteration is int64, energy float64 with its description, params compound r/i */
    hid_t ds = H5Dopen2(h, "/history/iteration", H5P_DEFAULT);
    hid_t t = H5Dget_type(ds);
    assert_int_equal(H5Tget_class(t), H5T_INTEGER);
    assert_int_equal(H5Tget_size(t), 8);
    H5Tclose(t);
    H5Dclose(ds);
    ds = H5Dopen2(h, "/history/energy", H5P_DEFAULT);
    t = H5Dget_type(ds);
    assert_int_equal(H5Tget_class(t), H5T_FLOAT);
    assert_int_equal(H5Tget_size(t), 8);
    H5Tclose(t);
    H5Dclose(ds);
    ds = H5Dopen2(h, "/checkpoint/slot0/params", H5P_DEFAULT);
    t = H5Dget_type(ds);
    assert_int_equal(H5Tget_class(t), H5T_COMPOUND);
    assert_int_equal(H5Tget_nmembers(t), 2);
    char *m0 = H5Tget_member_name(t, 0), *m1 = H5Tget_member_name(t, 1);
    assert_string_equal(m0, "r");
    assert_string_equal(m1, "i");
    H5free_memory(m0);
    H5free_memory(m1);
    H5Tclose(t);
    H5Dclose(ds);
    int active = -9;
    ds = H5Dopen2(h, "/checkpoint/active", H5P_DEFAULT);
    assert_true(H5Dread(ds, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, &active) >= 0);
    assert_int_equal(active, 0);
    H5Dclose(ds);
    H5Fclose(h);

    check_history(path, 6, 1);
    check_attr_str(path, "/history/energy", "description", nqs_h5_columns[0].meaning);
    check_attr_str(path, "/", "program", "nqsvmc");
    check_attr_str(path, "/", "version", NQS_VERSION);
    check_attr_str(path, "/", "git_commit", NQS_GIT_COMMIT);
    check_attr_str(path, "/", "date", meta.date);
    check_attr_str(path, "/", "command_line", meta.command_line);
    check_attr_str(path, "/", "convention", "pauli");
    check_attr_str(path, "/", "input", meta.input);
    check_attr_str(path, "/", "lattice", meta.lattice);
    check_attr_str(path, "/", "hamiltonian", meta.hamiltonian);
    check_attr_str(path, "/", "model", meta.model);
    check_attr_num(path, "/", "shared", 1);
    check_attr_num(path, "/", "n_sites", N_SITES);
    check_attr_num(path, "/", "n_params", N_PARAMS);
    check_attr_num(path, "/checkpoint", "n_chains", N_CHAINS);
    check_attr_num(path, "/checkpoint", "n_params", N_PARAMS);
    check_attr_num(path, "/checkpoint", "n_sites", N_SITES);
    check_attr_str(path, "/checkpoint", "model", meta.model);
    check_attr_str(path, "/checkpoint", "lattice", meta.lattice);
    check_attr_str(path, "/checkpoint", "hamiltonian", meta.hamiltonian);

    check_attr_num(path, "/result", "energy", -44.5);
    check_attr_num(path, "/result", "energy_error", 0.0625);
    check_attr_num(path, "/result", "energy_variance", 1.75);
    check_attr_num(path, "/result", "v_score", 16 * 1.75 / (44.5 * 44.5));
    check_attr_num(path, "/result", "n_sites", N_SITES);
    check_attr_num(path, "/result", "n_params", N_PARAMS);
    check_attr_num(path, "/result", "n_samples", 8192);
    check_attr_str(path, "/result", "model", "rbm_symm");
    check_attr_num(path, "/result", "shared", 1);
    check_attr_num(path, "/result", "tau", 3.5);
    check_attr_num(path, "/result", "rhat", NAN);
    check_attr_num(path, "/result", "acceptance", 0.375);
    check_attr_str(path, "/result", "convention", "pauli");
    check_attr_num(path, "/result/observables", "magnetization", 0.125);
    check_attr_num(path, "/result/observables", "magnetization_error", 0.0078125);
    check_attr_num(path, "/result/observables", "sz_corr_1", -0.5);
    check_attr_num(path, "/result/observables", "sz_corr_1_error", 0.03125);
    check_attr_num(path, "/reference", "energy", -44.9139328);
    check_attr_str(path, "/reference", "source", "exact diagonalisation (ARPACK)");
    check_attr_str(path, "/reference", "convention", "pauli");
    double rel;
    assert_int_equal(nqs_h5_read_attr_double(path, "/reference", "relative_error", &rel), NQS_OK);
    assert_true(fabs(rel - 0.4139328 / 44.9139328) < 1e-15);

    /* the checkpoint, whole and a sub-range of chains */
    assert_int_equal(nqs_h5_restart(path, &meta, &f), NQS_OK);
    const struct nqs_h5_meta *fm = nqs_h5_get_meta(f);
    assert_string_equal(fm->input, meta.input);
    assert_string_equal(fm->command_line, meta.command_line);
    assert_int_equal(fm->rng_state_bytes, RNG_BYTES);
    assert_int_equal(fm->optimizer_state_len, OPT_LEN);
    assert_int_equal(fm->n_chains, N_CHAINS);
    assert_int_equal(fm->shared, 1);
    struct ckbuf g;
    ck_zero(&g);
    assert_int_equal(nqs_h5_checkpoint_read(f, 0, N_CHAINS, &g.ck), NQS_OK);
    ck_check(&g, 1, 5, 0, N_CHAINS);
    ck_zero(&g);
    assert_int_equal(nqs_h5_checkpoint_read(f, 1, 2, &g.ck), NQS_OK);
    ck_check(&g, 1, 5, 1, 2);
    assert_int_equal(nqs_h5_checkpoint_read(f, 2, 2, &g.ck), NQS_EINVAL);
    assert_int_equal(nqs_h5_close(f), NQS_OK);
    /* restart truncated to the checkpoint (5 rows) and dropped /result */
    check_history(path, 5, 1);
    assert_false(link_exists(path, "/result"));
    assert_false(link_exists(path, "/reference"));
}

static void test_io_h5_finish_without_reference(void **state)
{
    (void)state;
    char path[256];
    tpath(path, sizeof path, "noref.h5");
    struct nqs_h5_meta meta = test_meta();
    meta.optimizer_state_len = 0; /* SR has no optimiser state: empty dataset */
    meta.version = "9.9.9";
    struct nqs_h5 *f;
    assert_int_equal(nqs_h5_create(path, &meta, 0, &f), NQS_OK);
    struct ckbuf b;
    ck_fill(&b, 3, 0);
    b.ck.optimizer_state = NULL;
    assert_int_equal(nqs_h5_checkpoint_write(f, &b.ck), NQS_OK);
    struct nqs_h5_result res = {.energy = -1.5};
    struct nqs_h5_reference ref = {.energy = NAN, .source = "none"};
    struct nqs_h5_observable bad[2] = {{"x", 1, 0}, {"x", 2, 0}};
    assert_int_equal(nqs_h5_finish(f, &res, &ref, bad, 2), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "'x' given twice"));
    bad[1].name = "x_error";
    assert_int_equal(nqs_h5_finish(f, &res, &ref, bad, 2), NQS_EINVAL);
    bad[1].name = "a/b";
    assert_int_equal(nqs_h5_finish(f, &res, &ref, bad, 2), NQS_EINVAL);
    /* the refused finish left the file usable */
    append_rows(f, 0, 1);
    assert_int_equal(nqs_h5_finish(f, &res, &ref, NULL, 0), NQS_OK);
    assert_int_equal(nqs_h5_close(f), NQS_OK);
    check_attr_str(path, "/", "version", "9.9.9");
    check_attr_num(path, "/result", "energy", -1.5);
    assert_true(link_exists(path, "/result/observables"));
    assert_false(link_exists(path, "/reference"));
    check_history(path, 1, 1);
    assert_int_equal(nqs_h5_restart(path, &meta, &f), NQS_OK);
    struct ckbuf g;
    ck_zero(&g);
    assert_int_equal(nqs_h5_checkpoint_read(f, 0, N_CHAINS, &g.ck), NQS_OK);
    assert_int_equal(g.ck.iteration, 0);
    assert_memory_equal(g.chains, b.chains, sizeof b.chains);
    nqs_h5_close(f);
    check_history(path, 0, 1);
}

static void test_io_h5_refuses_overwrite(void **state)
{
    (void)state;
    char path[256], want[400];
    tpath(path, sizeof path, "exists.h5");
    struct nqs_h5_meta meta = test_meta();
    struct nqs_h5 *f;
    assert_int_equal(nqs_h5_create(path, &meta, 0, &f), NQS_OK);
    append_rows(f, 0, 3);
    nqs_h5_close(f);
    f = (struct nqs_h5 *)&meta; /* must be reset to NULL on failure */
    assert_int_equal(nqs_h5_create(path, &meta, 0, &f), NQS_EIO);
    assert_null(f);
    snprintf(want, sizeof want, "refusing to overwrite %s (use --force)", path);
    assert_string_equal(nqs_last_error(), want);
    check_history(path, 3, 1); /* untouched */
    assert_int_equal(nqs_h5_create(path, &meta, 1, &f), NQS_OK);
    nqs_h5_close(f);
    check_history(path, 0, 1);

    /* a non-HDF5 file is refused as well, and --force replaces it */
    char txt[256];
    tpath(txt, sizeof txt, "notes.txt");
    FILE *fp = fopen(txt, "w");
    fputs("keep me\n", fp);
    fclose(fp);
    assert_int_equal(nqs_h5_create(txt, &meta, 0, &f), NQS_EIO);
    assert_int_equal(nqs_h5_create(txt, &meta, 1, &f), NQS_OK);
    nqs_h5_close(f);
    check_attr_str(txt, "/", "program", "nqsvmc");
}

static void test_io_h5_unwritable_path(void **state)
{
    (void)state;
    struct nqs_h5_meta meta = test_meta();
    struct nqs_h5 *f;
    char path[256];
    tpath(path, sizeof path, "no_such_dir/out.h5");
    assert_int_equal(nqs_h5_create(path, &meta, 0, &f), NQS_EIO);
    assert_null(f);
    assert_non_null(strstr(nqs_last_error(), path));
    assert_non_null(strstr(nqs_last_error(), "No such file or directory"));
    /* a path through a regular file (root may write anywhere, so no chmod test) */
    char plain[256];
    tpath(plain, sizeof plain, "plain");
    FILE *fp = fopen(plain, "w");
    fclose(fp);
    tpath(path, sizeof path, "plain/out.h5");
    assert_int_equal(nqs_h5_create(path, &meta, 1, &f), NQS_EIO);
    assert_non_null(strstr(nqs_last_error(), path));
    assert_non_null(strstr(nqs_last_error(), "Not a directory"));
    print_message("message: %s\n", nqs_last_error());
    /* impossible sizes */
    meta.n_chains = 0;
    tpath(path, sizeof path, "sizes.h5");
    assert_int_equal(nqs_h5_create(path, &meta, 0, &f), NQS_EINVAL);
    assert_non_null(strstr(nqs_last_error(), "n_chains = 0"));
}

/* A crash after the slot but before /checkpoint/active leaves the previous
 * checkpoint in force; a completed second checkpoint replaces it. */
static void test_io_h5_checkpoint_atomic(void **state)
{
    (void)state;
    char path[256];
    tpath(path, sizeof path, "atomic.h5");
    struct nqs_h5_meta meta = test_meta();
    struct nqs_h5 *f;
    assert_int_equal(nqs_h5_create(path, &meta, 0, &f), NQS_OK);
    append_rows(f, 0, 9);
    struct ckbuf a, b, g;
    ck_fill(&a, 1, 3);
    ck_fill(&b, 2, 7);
    assert_int_equal(nqs_h5_checkpoint_write(f, &a.ck), NQS_OK);
    /* partial slot (params and optimizer state only), then a complete slot
     * without the switch */
    nqs_h5_test_crash_checkpoint(2);
    assert_int_equal(nqs_h5_checkpoint_write(f, &b.ck), NQS_EIO);
    assert_non_null(strstr(nqs_last_error(), "simulated crash"));
    nqs_h5_test_crash_checkpoint(100);
    assert_int_equal(nqs_h5_checkpoint_write(f, &b.ck), NQS_EIO);
    nqs_h5_test_crash_checkpoint(-1);
    assert_int_equal(nqs_h5_checkpoint_iteration(f), 3);
    nqs_h5_close(f);
    assert_int_equal(nqs_h5_restart(path, &meta, &f), NQS_OK);
    assert_int_equal(nqs_h5_checkpoint_iteration(f), 3);
    ck_zero(&g);
    assert_int_equal(nqs_h5_checkpoint_read(f, 0, N_CHAINS, &g.ck), NQS_OK);
    ck_check(&g, 1, 3, 0, N_CHAINS);
    assert_int_equal(nqs_h5_n_rows(f), 3);
    /* now a real second checkpoint: goes to slot 1 and wins */
    append_rows(f, 3, 7);
    assert_int_equal(nqs_h5_checkpoint_write(f, &b.ck), NQS_OK);
    nqs_h5_close(f);
    assert_int_equal(nqs_h5_restart(path, &meta, &f), NQS_OK);
    ck_zero(&g);
    assert_int_equal(nqs_h5_checkpoint_read(f, 0, N_CHAINS, &g.ck), NQS_OK);
    ck_check(&g, 2, 7, 0, N_CHAINS);
    nqs_h5_close(f);

    /* the same with a real crash: the child dies right after the slot write */
    tpath(path, sizeof path, "atomic_kill.h5");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct nqs_h5 *cf;
        if (nqs_h5_create(path, &meta, 0, &cf) != NQS_OK) _exit(2);
        for (long i = 0; i < 9; i++) {
            struct nqs_h5_row r = make_row(i);
            if (nqs_h5_append(cf, &r) != NQS_OK) _exit(3);
        }
        if (nqs_h5_checkpoint_write(cf, &a.ck) != NQS_OK) _exit(4);
        nqs_h5_test_crash_checkpoint(100);
        nqs_h5_checkpoint_write(cf, &b.ck);
        raise(SIGKILL);
        _exit(5);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(nqs_h5_restart(path, &meta, &f), NQS_OK);
    ck_zero(&g);
    assert_int_equal(nqs_h5_checkpoint_read(f, 0, N_CHAINS, &g.ck), NQS_OK);
    ck_check(&g, 1, 3, 0, N_CHAINS);
    nqs_h5_close(f);
    check_history(path, 3, 1);
}

/* Restart: history cut to the checkpoint, results dropped, appends continue;
 * a mismatched input is refused without touching the file. */
static void test_io_h5_restart_truncates(void **state)
{
    (void)state;
    char path[256];
    tpath(path, sizeof path, "restart.h5");
    struct nqs_h5_meta meta = test_meta();
    struct nqs_h5 *f;
    assert_int_equal(nqs_h5_create(path, &meta, 0, &f), NQS_OK);
    append_rows(f, 0, 5);
    struct ckbuf a;
    ck_fill(&a, 4, 5);
    assert_int_equal(nqs_h5_checkpoint_write(f, &a.ck), NQS_OK);
    append_rows(f, 5, 8);
    struct nqs_h5_result res = {.energy = -2};
    struct nqs_h5_reference ref = {.energy = -2.5, .source = "input"};
    assert_int_equal(nqs_h5_finish(f, &res, &ref, NULL, 0), NQS_OK);
    nqs_h5_close(f);

    struct nqs_h5_meta other = meta;
    other.model = "rbm";
    assert_int_equal(nqs_h5_restart(path, &other, &f), NQS_EIO);
    assert_null(f);
    assert_non_null(strstr(nqs_last_error(), "model 'rbm_symm'"));
    assert_non_null(strstr(nqs_last_error(), "'rbm'"));
    other = meta;
    other.n_chains = 4;
    assert_int_equal(nqs_h5_restart(path, &other, &f), NQS_EIO);
    assert_non_null(strstr(nqs_last_error(), "n_chains = 3"));
    check_history(path, 8, 1); /* refused restarts changed nothing */
    assert_true(link_exists(path, "/result"));

    assert_int_equal(nqs_h5_restart(path, &meta, &f), NQS_OK);
    assert_int_equal(nqs_h5_n_rows(f), 5);
    assert_int_equal(nqs_h5_checkpoint_iteration(f), 5);
    append_rows(f, 5, 7); /* recomputed rows */
    nqs_h5_close(f);
    check_history(path, 7, 1);
    assert_false(link_exists(path, "/result"));
    assert_false(link_exists(path, "/reference"));

    /* a continued run finishes normally */
    assert_int_equal(nqs_h5_restart(path, &meta, &f), NQS_OK);
    append_rows(f, 5, 9);
    res.energy = -2.25;
    assert_int_equal(nqs_h5_finish(f, &res, &ref, NULL, 0), NQS_OK);
    assert_int_equal(nqs_h5_close(f), NQS_OK);
    check_history(path, 9, 1);
    check_attr_num(path, "/result", "energy", -2.25);
    check_attr_num(path, "/reference", "relative_error", fabs(-2.25 + 2.5) / 2.5);
}

static void expect_restart_error(const char *path, const char *fragment)
{
    struct nqs_h5 *f = NULL;
    assert_int_equal(nqs_h5_restart(path, NULL, &f), NQS_EIO);
    assert_null(f);
    print_message("message: %s\n", nqs_last_error());
    assert_non_null(strstr(nqs_last_error(), path));
    assert_non_null(strstr(nqs_last_error(), fragment));
}

static void test_io_h5_bad_files(void **state)
{
    (void)state;
    char path[256];
    struct nqs_h5_meta meta = test_meta();

    tpath(path, sizeof path, "missing.h5");
    expect_restart_error(path, "No such file or directory");

    tpath(path, sizeof path, "text.h5");
    FILE *fp = fopen(path, "w");
    fputs("energy = -44.9\n", fp);
    fclose(fp);
    expect_restart_error(path, "is not an HDF5 file");
    double *v;
    long n;
    assert_int_equal(nqs_h5_read_column(path, "energy", &v, &n), NQS_EIO);

    /* HDF5 written by someone else, with and without a program attribute */
    tpath(path, sizeof path, "other.h5");
    hid_t h = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(h >= 0);
    H5Fclose(h);
    expect_restart_error(path, "is not an nqsvmc result file (no root attribute 'program')");
    h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, 6);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t at = H5Acreate2(h, "program", st, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(at, st, "netket");
    H5Aclose(at);
    H5Sclose(sp);
    H5Tclose(st);
    H5Fclose(h);
    expect_restart_error(path, "is not an nqsvmc result file (program = 'netket')");
    check_attr_str(path, "/", "program", "netket"); /* fixed-length strings read too */

    /* no checkpoint yet */
    tpath(path, sizeof path, "nockpt.h5");
    struct nqs_h5 *f;
    assert_int_equal(nqs_h5_create(path, &meta, 0, &f), NQS_OK);
    append_rows(f, 0, 2);
    struct ckbuf g;
    ck_zero(&g);
    assert_int_equal(nqs_h5_checkpoint_read(f, 0, 1, &g.ck), NQS_EIO);
    nqs_h5_close(f);
    char want[300];
    snprintf(want, sizeof want, "%s has no checkpoint", path);
    expect_restart_error(path, want);
    assert_string_equal(nqs_last_error(), want);
    /* unknown column */
    assert_int_equal(nqs_h5_read_column(path, "energy_squared", &v, &n), NQS_EIO);
    assert_non_null(strstr(nqs_last_error(), "/history/energy_squared"));

    /* a truncated copy of a good file */
    tpath(path, sizeof path, "good.h5");
    assert_int_equal(nqs_h5_create(path, &meta, 0, &f), NQS_OK);
    append_rows(f, 0, 4);
    struct ckbuf a;
    ck_fill(&a, 1, 4);
    assert_int_equal(nqs_h5_checkpoint_write(f, &a.ck), NQS_OK);
    nqs_h5_close(f);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size / 2), 0);
    expect_restart_error(path, "corrupt");
    assert_int_equal(nqs_h5_read_column(path, "energy", &v, &n), NQS_EIO);
    assert_non_null(strstr(nqs_last_error(), path));

    /* a good file with a damaged active index */
    tpath(path, sizeof path, "badactive.h5");
    assert_int_equal(nqs_h5_create(path, &meta, 0, &f), NQS_OK);
    append_rows(f, 0, 4);
    assert_int_equal(nqs_h5_checkpoint_write(f, &a.ck), NQS_OK);
    nqs_h5_close(f);
    h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t ds = H5Dopen2(h, "/checkpoint/active", H5P_DEFAULT);
    int seven = 7;
    H5Dwrite(ds, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, &seven);
    H5Dclose(ds);
    H5Fclose(h);
    expect_restart_error(path, "is corrupt: /checkpoint/active = 7");
    /* history shorter than the checkpoint says */
    tpath(path, sizeof path, "short.h5");
    assert_int_equal(nqs_h5_create(path, &meta, 0, &f), NQS_OK);
    append_rows(f, 0, 2);
    assert_int_equal(nqs_h5_checkpoint_write(f, &a.ck), NQS_EINVAL); /* iteration 4 > 2 rows */
    append_rows(f, 2, 4);
    assert_int_equal(nqs_h5_checkpoint_write(f, &a.ck), NQS_OK);
    nqs_h5_close(f);
    h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    ds = H5Dopen2(h, "/history/tau", H5P_DEFAULT);
    hsize_t two = 2;
    assert_true(H5Dset_extent(ds, &two) >= 0);
    H5Dclose(ds);
    H5Fclose(h);
    expect_restart_error(path, "/history/tau has 2 rows but the checkpoint is at iteration 4");
}

/* ------------------------------------------------------- hostile files */

/* A good file with a checkpoint at iteration 4 (and its bytes, to check that
 * a refused restart changed nothing). */
static void make_good(const char *path)
{
    struct nqs_h5_meta meta = test_meta();
    struct nqs_h5 *f;
    unlink(path);
    assert_int_equal(nqs_h5_create(path, &meta, 0, &f), NQS_OK);
    append_rows(f, 0, 4);
    struct ckbuf a;
    ck_fill(&a, 1, 4);
    assert_int_equal(nqs_h5_checkpoint_write(f, &a.ck), NQS_OK);
    struct nqs_h5_result res = {.energy = -2.5};
    assert_int_equal(nqs_h5_finish(f, &res, NULL, NULL, 0), NQS_OK);
    assert_int_equal(nqs_h5_close(f), NQS_OK);
}

/* Replace dataset `obj` by one of class `type` with `rank` dims (0: scalar),
 * filled with zeros. */
static void replace_dataset(const char *path, const char *obj, hid_t type, int rank,
                            const hsize_t *dims)
{
    hid_t h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(h >= 0);
    assert_true(H5Ldelete(h, obj, H5P_DEFAULT) >= 0);
    hid_t sp = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t ds = H5Dcreate2(h, obj, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(ds >= 0);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Fclose(h);
}

/* Replace the root attribute `name` by one of `type` over `n` elements (0:
 * scalar); `buf` holds the value(s). */
static void replace_root_attr(const char *path, const char *name, hid_t type, hsize_t n,
                              const void *buf)
{
    hid_t h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(h >= 0);
    if (H5Aexists(h, name) > 0) assert_true(H5Adelete(h, name) >= 0);
    hid_t sp = n ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
    hid_t at = H5Acreate2(h, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(at >= 0);
    assert_true(H5Awrite(at, type, buf) >= 0);
    H5Aclose(at);
    H5Sclose(sp);
    H5Fclose(h);
}

/* A refused restart: NQS_EIO, the message names the file and `fragment`, and
 * the file is byte for byte what it was (no /result deleted, no truncation). */
static void expect_refused_unchanged(const char *path, const char *fragment)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    static char before[1 << 20], after[1 << 20];
    size_t nb = fread(before, 1, sizeof before, fp);
    fclose(fp);
    expect_restart_error(path, fragment);
    fp = fopen(path, "rb");
    size_t na = fread(after, 1, sizeof after, fp);
    fclose(fp);
    assert_int_equal(na, nb);
    assert_memory_equal(before, after, na);
}

/* Datasets whose size disagrees with the root attributes: each would make a
 * plain H5S_ALL read or write run past the caller's buffers. Every one is
 * refused on the read-only open, naming the dataset, with the file intact. */
static void test_io_h5_refuses_hostile_datasets(void **state)
{
    (void)state;
    char path[256];
    tpath(path, sizeof path, "hostile.h5");
    hid_t cplx = H5Tcreate(H5T_COMPOUND, 16);
    H5Tinsert(cplx, "r", 0, H5T_IEEE_F64LE);
    H5Tinsert(cplx, "i", 8, H5T_IEEE_F64LE);
    static const struct {
        const char *obj;
        int type; /* 0 complex, 1 float64, 2 int64, 3 uint8 */
        int rank;
        hsize_t dims[2];
        const char *msg;
    } cases[] = {
        {"/checkpoint/slot0/params", 0, 1, {1000, 0}, "/checkpoint/slot0/params has shape [1000], expected shape [5]"},
        {"/checkpoint/slot1/params", 0, 1, {1000, 0}, "/checkpoint/slot1/params has shape [1000], expected shape [5]"},
        {"/checkpoint/slot0/params", 1, 1, {5, 0}, "/checkpoint/slot0/params is not complex {r, i} data"},
        {"/checkpoint/slot1/optimizer_state", 1, 1, {5006, 0}, "/checkpoint/slot0/optimizer_state and /checkpoint/slot1/optimizer_state differ in size (4 and 5006)"},
        {"/checkpoint/slot0/iteration", 2, 1, {64, 0}, "/checkpoint/slot0/iteration has shape [64], expected a scalar"},
        {"/checkpoint/slot1/wall_time", 1, 1, {3, 0}, "/checkpoint/slot1/wall_time has shape [3], expected a scalar"},
        {"/checkpoint/active", 2, 1, {9, 0}, "/checkpoint/active has shape [9], expected a scalar"},
        {"/checkpoint/slot0/chains", 3, 2, {N_CHAINS, 2 * N_SITES}, "/checkpoint/slot0/chains has shape [3, 12], expected shape [3, 6]"},
        {"/checkpoint/slot1/chains", 1, 2, {N_CHAINS, N_SITES}, "/checkpoint/slot1/chains is not integer data"},
        {"/checkpoint/slot1/rng_state", 3, 2, {2 * N_CHAINS, RNG_BYTES}, "/checkpoint/slot1/rng_state has shape [6, 7], expected shape [3, 7]"},
        {"/checkpoint/slot0/rng_state", 3, 1, {RNG_BYTES, 0}, "/checkpoint/slot0/rng_state is missing or not 2-dimensional"},
        {"/history/energy", 1, 2, {4, 4}, "/history/energy has shape [4, 4], expected one extendible dimension"},
        {"/history/tau", 1, 1, {4, 0}, "/history/tau has shape [4], expected one extendible dimension"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        make_good(path);
        hid_t t = cases[c].type == 0 ? cplx : cases[c].type == 1 ? H5T_IEEE_F64LE
                  : cases[c].type == 2 ? H5T_STD_I64LE : H5T_STD_U8LE;
        replace_dataset(path, cases[c].obj, t, cases[c].rank, cases[c].dims);
        expect_refused_unchanged(path, cases[c].msg);
        check_attr_num(path, "/result", "energy", -2.5);
    }
    H5Tclose(cplx);

    /* a /history column a newer version added, absent: the file is named as
     * written by an older version, not as corrupt, and left as it was */
    make_good(path);
    {
        hid_t h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        assert_true(h >= 0);
        assert_true(H5Ldelete(h, "/history/step_length", H5P_DEFAULT) >= 0);
        H5Fclose(h);
    }
    expect_refused_unchanged(path, "has no /history/step_length: it was written by an older nqsvmc");
    /* ... but its state can still be read (nqs measure): the checkpoint
     * opens without /history */
    {
        struct nqs_h5 *f = NULL;
        if (nqs_h5_state_open(path, &f) != NQS_OK) fail_msg("%s", nqs_last_error());
        assert_true(nqs_h5_checkpoint_iteration(f) >= 0);
        nqs_h5_close(f);
    }

    /* root attributes: a size far outside int, a non-integer, several
     * elements where one is read (H5Aread would write all of them) */
    double big = 1e300, frac = 2.5, many[3] = {6, 6, 6};
    make_good(path);
    replace_root_attr(path, "n_sites", H5T_IEEE_F64LE, 0, &big);
    expect_refused_unchanged(path, "attribute n_sites of / = 1.0000000000000001e+300 (expected an "
                             "integer in [1, 2147483647])");
    make_good(path);
    replace_root_attr(path, "n_params", H5T_IEEE_F64LE, 0, &frac);
    expect_refused_unchanged(path, "attribute n_params of / = 2.5");
    make_good(path);
    replace_root_attr(path, "n_sites", H5T_IEEE_F64LE, 3, many);
    expect_refused_unchanged(path, "cannot read attribute n_sites of / (expected one number)");
    make_good(path);
    hid_t vs = H5Tcopy(H5T_C_S1);
    H5Tset_size(vs, H5T_VARIABLE);
    const char *strs[4] = {"a", "b", "c", "d"};
    replace_root_attr(path, "input", vs, 4, strs);
    H5Tclose(vs);
    expect_refused_unchanged(path, "cannot read attribute input of / (expected one string)");
    char *text = NULL;
    assert_int_equal(nqs_h5_read_attr_string(path, "/", "input", &text), NQS_EIO);
    assert_null(text);

    /* non-finite counters in the active slot: refused by the read */
    make_good(path);
    hid_t h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t ds = H5Dopen2(h, "/checkpoint/slot0/wall_time", H5P_DEFAULT);
    double nan = NAN;
    assert_true(H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &nan) >= 0);
    H5Dclose(ds);
    H5Fclose(h);
    struct nqs_h5 *f;
    struct nqs_h5_meta meta = test_meta();
    assert_int_equal(nqs_h5_restart_open(path, &meta, &f), NQS_OK);
    struct ckbuf g;
    ck_zero(&g);
    assert_int_equal(nqs_h5_checkpoint_read(f, 0, N_CHAINS, &g.ck), NQS_EIO);
    assert_non_null(strstr(nqs_last_error(), "/checkpoint/slot0/wall_time = nan"));
    assert_int_equal(nqs_h5_close(f), NQS_OK);
    check_attr_num(path, "/result", "energy", -2.5); /* nothing written */
}

/* The two halves of a restart: the open reads the checkpoint from a file it
 * does not change; the commit then truncates and drops /result. */
static void test_io_h5_restart_open_writes_nothing(void **state)
{
    (void)state;
    char path[256];
    tpath(path, sizeof path, "twohalves.h5");
    make_good(path);
    struct nqs_h5_meta meta = test_meta();
    struct nqs_h5 *f;
    assert_int_equal(nqs_h5_restart_open(path, &meta, &f), NQS_OK);
    struct ckbuf g;
    ck_zero(&g);
    assert_int_equal(nqs_h5_checkpoint_read(f, 0, N_CHAINS, &g.ck), NQS_OK);
    ck_check(&g, 1, 4, 0, N_CHAINS);
    assert_int_equal(nqs_h5_close(f), NQS_OK); /* refused by the caller */
    check_attr_num(path, "/result", "energy", -2.5);
    assert_int_equal(nqs_h5_restart_open(path, &meta, &f), NQS_OK);
    assert_int_equal(nqs_h5_restart_commit(f), NQS_OK);
    append_rows(f, 4, 6);
    assert_int_equal(nqs_h5_close(f), NQS_OK);
    assert_false(link_exists(path, "/result"));
    check_history(path, 6, 1);
}

/* A child appends rows and reports each completed append through a pipe; the
 * parent reads the file with a SWMR reader while the child runs, kills it
 * with SIGKILL after at least `min_rows` reported rows and finds every
 * reported row intact; a restart then recovers the file (which then opens
 * without SWMR too). */
static void kill_once(int trial, long min_rows)
{
    char path[256], name[32];
    snprintf(name, sizeof name, "killed%d.h5", trial);
    tpath(path, sizeof path, name);
    struct nqs_h5_meta meta = test_meta();
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        struct nqs_h5 *cf;
        if (nqs_h5_create(path, &meta, 0, &cf) != NQS_OK) _exit(2);
        struct ckbuf a;
        ck_fill(&a, 5, 10);
        for (long i = 0; i < 1000000; i++) {
            struct nqs_h5_row r = make_row(i);
            if (nqs_h5_append(cf, &r) != NQS_OK) _exit(3);
            if (i == 9 && nqs_h5_checkpoint_write(cf, &a.ck) != NQS_OK) _exit(4);
            long done = i + 1;
            if (write(fd[1], &done, sizeof done) != (ssize_t)sizeof done) _exit(5);
        }
        _exit(0);
    }
    close(fd[1]);
    long reported = 0, got;
    while (reported < min_rows && read(fd[0], &got, sizeof got) == (ssize_t)sizeof got)
        reported = got;
    assert_true(reported >= min_rows);

    /* SWMR reader while the writer is alive (bounded metadata retries: a
     * damaged file must fail, not hang) */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    assert_true(H5Pset_metadata_read_attempts(fapl, 25) >= 0);
    hid_t h = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl);
    H5Pclose(fapl);
    assert_true(h >= 0);
    hid_t ds = H5Dopen2(h, "/history/energy", H5P_DEFAULT);
    assert_true(ds >= 0);
    hid_t sp = H5Dget_space(ds);
    hsize_t len = 0;
    H5Sget_simple_extent_dims(sp, &len, NULL);
    H5Sclose(sp);
    assert_true((long)len >= reported);
    double *e = malloc(len * sizeof *e);
    assert_true(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, e) >= 0);
    for (long i = 0; i < reported; i++) assert_true(e[i] == cell(i, 1));
    free(e);
    H5Dclose(ds);
    H5Fclose(h);
    if (trial == 0)
        print_message("SWMR reader saw %llu rows while the writer had reported %ld\n",
                      (unsigned long long)len, reported);
    /* and the read helper works during the run as well */
    check_history(path, reported, 0);

    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    while (read(fd[0], &got, sizeof got) == (ssize_t)sizeof got) reported = got;
    close(fd[0]);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    if (trial == 0) print_message("child killed after %ld reported rows\n", reported);

    /* Every reported row is there (a row being written at the kill may be
     * partly present: columns may be one longer). */
    check_history(path, reported, 0);
    /* the stale writer mark: a plain open is refused until a restart */
    h = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(h < 0);
    struct nqs_h5 *f;
    assert_int_equal(nqs_h5_restart(path, &meta, &f), NQS_OK);
    struct ckbuf g;
    ck_zero(&g);
    assert_int_equal(nqs_h5_checkpoint_read(f, 0, N_CHAINS, &g.ck), NQS_OK);
    ck_check(&g, 5, 10, 0, N_CHAINS);
    nqs_h5_close(f);
    check_history(path, 10, 1);
    h = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(h >= 0);
    H5Fclose(h);
    unlink(path);
}

/* Kills at different moments. A kill in the middle of a metadata write could
 * tear an object header in about 1 % of kills before the file used paged file
 * space (see io_h5.c): NQS_IO_KILL_REPEAT=1000 turns this into that stress test
 * (about 2 minutes). */
static void test_io_h5_survives_sigkill(void **state)
{
    (void)state;
    const char *env = getenv("NQS_IO_KILL_REPEAT");
    int repeat = env ? atoi(env) : 4;
    for (int t = 0; t < repeat; t++) kill_once(t, 10 + 37 * (t % 5));
}

/* Cost of one append (16 datasets extended, written and flushed). */
static void test_io_h5_append_cost(void **state)
{
    (void)state;
    char path[256];
    tpath(path, sizeof path, "cost.h5");
    struct nqs_h5_meta meta = test_meta();
    struct nqs_h5 *f;
    assert_int_equal(nqs_h5_create(path, &meta, 0, &f), NQS_OK);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    append_rows(f, 0, 2000);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    nqs_h5_close(f);
    double us = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3 / 2000;
    struct stat sb;
    stat(path, &sb);
    print_message("append: %.1f us per row, file %lld bytes for 2000 rows\n", us,
                  (long long)sb.st_size);
    check_history(path, 2000, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_io_h5_roundtrip),
        cmocka_unit_test(test_io_h5_finish_without_reference),
        cmocka_unit_test(test_io_h5_refuses_overwrite),
        cmocka_unit_test(test_io_h5_unwritable_path),
        cmocka_unit_test(test_io_h5_checkpoint_atomic),
        cmocka_unit_test(test_io_h5_restart_truncates),
        cmocka_unit_test(test_io_h5_bad_files),
        cmocka_unit_test(test_io_h5_refuses_hostile_datasets),
        cmocka_unit_test(test_io_h5_restart_open_writes_nothing),
        cmocka_unit_test(test_io_h5_survives_sigkill),
        cmocka_unit_test(test_io_h5_append_cost),
    };
    /* NQS_TEST_FILTER=pattern (cmocka wildcards) runs only matching tests */
    if (getenv("NQS_TEST_FILTER")) cmocka_set_test_filter(getenv("NQS_TEST_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
