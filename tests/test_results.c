/*
 * test_results.c - observables in result files, run as a user runs them (the
 * built binary NQS_BINARY in a temporary directory).
 *
 *   ed          a Heisenberg ring of 8 sites optimised with the exact sampler
 *               (150 SR iterations reach the Lanczos energy to ~1e-11) has
 *               C(r) = <sigma_0 . sigma_r> and C_zz(r) of the ground state:
 *               the ground state is computed here by dense diagonalisation
 *               (GSL) of the 70-state sector, built from the Hamiltonian's
 *               definition, and its correlations by applying Pauli matrices;
 *               agreement to 1e-5 (the energy's relative error 1e-11 bounds
 *               the state's infidelity by ~1e-10, so 1e-5 is a loose bound)
 *   every       [observables] every = K changes no bit of /history and
 *               /result; /history/observables has the rows of iterations
 *               K-1, 2K-1, ...; a run continued with --restart and more
 *               iterations repeats the uninterrupted run's
 *               /history/observables bitwise
 *   measure     `nqs measure` on a finished file: with the exact sampler its
 *               energy and observables equal /result's to 1e-12 (same
 *               parameters, deterministic enumeration); with Metropolis its
 *               energy is within 4 combined error bars of /result's; repeated
 *               measurements go to /measure/0, /measure/1; -o to an existing
 *               file is refused without --force; without /result it measures
 *               the checkpoint; a mismatched --set is refused
 *   doc walk    a file with every object (all observables, every > 0,
 *               /reference, one measurement) against the table "Every object"
 *               of docs/results-format.md, in both directions
 */
#include <complex.h>
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <gsl/gsl_eigen.h>
#include <gsl/gsl_matrix.h>
#include <hdf5.h>

#include "error.h"
#include "io_h5.h"
#include "nqs_test.h"
#include "nqs_test_run.h"
#include "nqs_test_tmp.h"
#include "observables.h"
#include "operator.h"


static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/nqs_test_results_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) unlink(tp(e->d_name));
        closedir(d);
    }
    rmdir(tmpdir);
    return 0;
}

static char *g_out, *g_err;

/* `nqs args...` (NULL-terminated) on `threads` threads; stdout/stderr kept. */
static int nqs(int threads, const char *arg0, ...)
{
    char *argv[40];
    int n = 0;
    argv[n++] = NULL;
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a && n < 39; a = va_arg(ap, const char *)) argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    pid_t pid = nqs_test_start(argv, threads, tp("stdout.txt"), tp("stderr.txt"));
    assert_true(pid > 0);
    int status = nqs_test_wait(pid);
    free(g_out);
    free(g_err);
    g_out = nqs_test_slurp(tp("stdout.txt"), NULL);
    g_err = nqs_test_slurp(tp("stderr.txt"), NULL);
    return status;
}

static void assert_status(int got, int want)
{
    if (got != want) fail_msg("nqs exit status %d, expected %d; stderr:\n%s", got, want, g_err);
}

static double attr(const char *path, const char *obj, const char *name)
{
    double v;
    if (nqs_h5_read_attr_double(path, obj, name, &v) != NQS_OK) fail_msg("%s", nqs_last_error());
    return v;
}

/* Dataset `name` as doubles (any numeric type); *n entries in total. */
static double *read_ds(const char *path, const char *name, long *n)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    if (ds < 0) fail_msg("%s has no %s", path, name);
    hid_t sp = H5Dget_space(ds);
    long cnt = (long)H5Sget_simple_extent_npoints(sp);
    double *v = malloc((size_t)(cnt > 0 ? cnt : 1) * sizeof *v);
    assert_non_null(v);
    if (cnt > 0) assert_true(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Sclose(sp);
    H5Dclose(ds);
    H5Fclose(f);
    *n = cnt;
    return v;
}

static void assert_ds_identical(const char *pa, const char *pb, const char *name)
{
    long na, nb;
    double *a = read_ds(pa, name, &na), *b = read_ds(pb, name, &nb);
    assert_int_equal(na, nb);
    if (na > 0 && memcmp(a, b, (size_t)na * sizeof *a) != 0) fail_msg("%s differs between %s and %s", name, pa, pb);
    free(a);
    free(b);
}

/* ------------------------------------------------------------ 1. ED */

/* Ground state of H = sum_i sigma_i . sigma_{i+1} on the ring of N sites in
 * the sector sum s = 0, by dense diagonalisation; c[r] = <sigma_0.sigma_r>,
 * z[r] = <s_0 s_r> averaged over origins. Returns the energy. */
static double ed_ring(int N, double *c, double *z)
{
    long full = 1L << N, dim = 0;
    long *basis = malloc((size_t)full * sizeof *basis), *index = malloc((size_t)full * sizeof *index);
    for (long x = 0; x < full; x++) {
        index[x] = -1;
        if (__builtin_popcountl((unsigned long)x) == N / 2) index[x] = dim, basis[dim++] = x;
    }
    gsl_matrix *H = gsl_matrix_calloc((size_t)dim, (size_t)dim);
    for (long a = 0; a < dim; a++) {
        long x = basis[a];
        for (int i = 0; i < N; i++) {
            int j = (i + 1) % N, si = (x >> i) & 1, sj = (x >> j) & 1;
            *gsl_matrix_ptr(H, (size_t)a, (size_t)a) += si == sj ? 1 : -1;
            if (si != sj) *gsl_matrix_ptr(H, (size_t)index[x ^ (1L << i) ^ (1L << j)], (size_t)a) += 2;
        }
    }
    gsl_vector *ev = gsl_vector_alloc((size_t)dim);
    gsl_matrix *V = gsl_matrix_alloc((size_t)dim, (size_t)dim);
    gsl_eigen_symmv_workspace *w = gsl_eigen_symmv_alloc((size_t)dim);
    assert_int_equal(gsl_eigen_symmv(H, ev, V, w), 0);
    gsl_eigen_symmv_sort(ev, V, GSL_EIGEN_SORT_VAL_ASC);
    double e0 = gsl_vector_get(ev, 0);
    assert_true(gsl_vector_get(ev, 1) - e0 > 0.1); /* non-degenerate */
    for (int r = 0; r < N; r++) {
        double sc = 0, sz = 0;
        for (int i = 0; i < N; i++) {
            int j = (i + r) % N;
            for (long a = 0; a < dim; a++) {
                double va = gsl_matrix_get(V, (size_t)a, 0);
                long x = basis[a];
                int si = (x >> i) & 1 ? 1 : -1, sj = (x >> j) & 1 ? 1 : -1;
                if (i == j) {
                    sc += 3 * va * va;
                    sz += va * va;
                    continue;
                }
                sz += si * sj * va * va;
                sc += si * sj * va * va;
                if (si != sj) /* (sigma^x sigma^x + sigma^y sigma^y)|x> = 2 |x with i, j swapped> */
                    sc += 2 * va * gsl_matrix_get(V, (size_t)index[x ^ (1L << i) ^ (1L << j)], 0);
            }
        }
        c[r] = sc / N;
        z[r] = sz / N;
    }
    gsl_eigen_symmv_free(w);
    gsl_matrix_free(V);
    gsl_vector_free(ev);
    gsl_matrix_free(H);
    free(basis);
    free(index);
    return e0;
}

static const char exh_ini[] = "[lattice]\ntype = chain\nextent = 8\n"
                              "[hamiltonian]\ntype = heisenberg\n"
                              "[model]\ntype = rbm_symm\nalpha = 2\nseed = 3\n"
                              "group = translations\n" /* converges to 1e-11 in 150 steps */
                              "[sampler]\nmethod = exact\nchains = 4\n"
                              "[optimizer]\niterations = 150\nlearning_rate = 0.05\ndiag_shift = 0.01\n"
                              "max_step = 0.1\n" /* calibrated with this bound */
                              "[observables]\ncorrelations = full\nstructure_factor = all\n";

static void test_converged_correlations_match_ed(void **state)
{
    (void)state;
    write_text("exh.ini", exh_ini);
    TP(path, "exh.h5");
    assert_status(nqs(1, "run", tp("exh.ini"), "-q", "-o", path, NULL), 0);
    double c[8], z[8];
    double e0 = ed_ring(8, c, z);
    /* the test's ED against the program's Lanczos reference: the same Hamiltonian */
    assert_rel_close(e0, attr(path, "/reference", "energy"), 1e-10);
    assert_rel_close(attr(path, "/result", "energy"), e0, 1e-8);
    long n, nr, nz;
    double *v = read_ds(path, "/result/observables/correlation_full/value", &n);
    double *r = read_ds(path, "/result/observables/correlation_full/r", &nr);
    double *vz = read_ds(path, "/result/observables/correlation_zz/value", &nz);
    assert_int_equal(n, 8);
    assert_int_equal(nr, 16);
    for (int k = 0; k < 8; k++) {
        int d = (int)r[2 * k];
        assert_true(r[2 * k + 1] == 0.0);
        assert_close(v[k], c[d], 1e-5);
        assert_close(vz[k], z[d], 1e-5);
    }
    /* S(q) = sum_r e^{iqr} C_zz(r) of the ED state at q = 2 pi m / 8 */
    double *sq = read_ds(path, "/result/observables/structure_factor_zz/value", &n);
    double *q = read_ds(path, "/result/observables/structure_factor_zz/q", &nr);
    assert_int_equal(n, 8);
    for (int k = 0; k < 8; k++) {
        double s = 0;
        for (int d = 0; d < 8; d++) s += cos(M_PI * q[2 * k] * d) * z[d];
        assert_close(sq[k], s, 1e-5);
    }
    free(v);
    free(r);
    free(vz);
    free(sq);
    free(q);
}

/* ------------------------------------------------------- 2. every = K */

static const char tf_ini[] = "[lattice]\ntype = chain\nextent = 8\n"
                             "[hamiltonian]\ntype = ising\nh = 0.8\n"
                             "[model]\ntype = rbm_symm\nalpha = 1\nseed = 2\n"
                             "[sampler]\nchains = 4\nsamples = 256\nseed = 3\n"
                             "[optimizer]\niterations = 20\nlearning_rate = 0.05\ndiag_shift = 0.1\n"
                             "[output]\ncheckpoint_every = 5\n"
                             "[observables]\ncorrelations = full\nstructure_factor = all\nsx = true\n"
                             "staggered_magnetisation_sq = true\ndimers = true\n";

static const char *const hist_cols[] = {"iteration", "energy", "energy_error", "energy_variance",
                                        "acceptance", "rhat", "tau", "grad_norm", "learning_rate"};
static const char *const obs_names[] = {"magnetisation_sq", "staggered_magnetisation_sq",
                                        "nn_correlation", "structure_factor_zz", "sx",
                                        "correlation_zz", "correlation_full", "bond_zz", "dimer_zz"};
#define N_OBS_NAMES (sizeof obs_names / sizeof *obs_names)

static void test_every_keeps_bits_and_restarts(void **state)
{
    (void)state;
    write_text("tf.ini", tf_ini);
    TP(plain, "tf0.h5");
    TP(every, "tf5.h5");
    TP(part, "tfr.h5");
    assert_status(nqs(1, "run", tp("tf.ini"), "-q", "-o", plain, NULL), 0);
    assert_status(nqs(1, "run", tp("tf.ini"), "-q", "-o", every, "--set", "observables.every=5", NULL), 0);
    for (size_t k = 0; k < sizeof hist_cols / sizeof *hist_cols; k++) {
        char name[64];
        snprintf(name, sizeof name, "/history/%s", hist_cols[k]);
        assert_ds_identical(plain, every, name);
    }
    assert_true(attr(plain, "/result", "energy") == attr(every, "/result", "energy"));
    assert_ds_identical(plain, every, "/result/observables/correlation_full/value");
    assert_false(nqs_h5_has_object(plain, "/history/observables"));
    long n;
    double *it = read_ds(every, "/history/observables/iteration", &n);
    assert_int_equal(n, 4);
    for (int k = 0; k < 4; k++) assert_true(it[k] == 5.0 * k + 4);
    free(it);
    long nv;
    double *v = read_ds(every, "/history/observables/correlation_full/value", &nv);
    assert_int_equal(nv, 4 * 8);
    for (int k = 0; k < 4; k++) assert_close(v[8 * k], 3.0, 1e-12); /* C(0) = 3 exactly */
    free(v);
    /* 7 iterations, then continued to 20 from the checkpoint at 5: rows of
     * iterations 4 survive the truncation, 9.. are recomputed */
    assert_status(nqs(1, "run", tp("tf.ini"), "-q", "-o", part, "--set", "observables.every=5", "--set",
                      "optimizer.iterations=7", NULL),
                  0);
    it = read_ds(part, "/history/observables/iteration", &n);
    assert_int_equal(n, 1);
    free(it);
    assert_status(nqs(1, "run", "--restart", part, "-q", "--set", "optimizer.iterations=20", NULL), 0);
    for (size_t k = 0; k < N_OBS_NAMES; k++) {
        char name[128];
        snprintf(name, sizeof name, "/history/observables/%s/value", obs_names[k]);
        assert_ds_identical(every, part, name);
        snprintf(name, sizeof name, "/history/observables/%s/error", obs_names[k]);
        assert_ds_identical(every, part, name);
    }
    assert_ds_identical(every, part, "/history/observables/iteration");
    /* a restart cannot add per-iteration observables */
    assert_status(nqs(1, "run", "--restart", plain, "-q", "--set", "optimizer.iterations=25", "--set",
                      "observables.every=5", NULL),
                  1);
    assert_non_null(strstr(g_err, "cannot be added on restart"));
}

/* A restart cuts /history/observables to the measurements of iterations
 * before the checkpoint (rows past it belong to iterations the continued
 * run recomputes), value/error rows included, like /history. */
static void test_restart_truncates_history_observables(void **state)
{
    (void)state;
    TP(path, "trunc.h5");
    int ext[1] = {4}, per[1] = {1};
    struct nqs_lattice *lat = nqs_lattice_alloc(NQS_LATTICE_CHAIN, ext, per);
    struct nqs_operator *op = nqs_operator_alloc(4, "z0");
    int s0 = 0;
    assert_int_equal(nqs_operator_add(op, 1, "z", &s0), NQS_OK);
    assert_int_equal(nqs_operator_finalize(op), NQS_OK);
    struct nqs_obs obs;
    nqs_obs_init(&obs, lat);
    assert_int_equal(nqs_obs_add_operator(&obs, op, "z0"), NQS_OK);
    obs.every = 5;
    struct nqs_h5_meta meta = {.input = "", .lattice = "chain 4", .hamiltonian = "ising", .model = "rbm",
                               .n_sites = 4, .n_params = 2, .n_chains = 1, .rng_state_bytes = 0,
                               .optimizer_state_len = 0, .lat = lat, .history_obs = &obs};
    struct nqs_h5 *f = NULL;
    if (nqs_h5_create(path, &meta, 1, &f) != NQS_OK) fail_msg("%s", nqs_last_error());
    double complex par[2] = {1, 2};
    int8_t chains[4] = {1, -1, 1, -1};
    uint8_t rng[1] = {0};
    for (long it = 0; it < 10; it++) {
        struct nqs_h5_row row = {.iteration = it};
        assert_int_equal(nqs_h5_append(f, &row), NQS_OK);
        double v = (double)it, e = 0.5;
        if ((it + 1) % 5 == 0) assert_int_equal(nqs_h5_append_obs(f, &obs, it, &v, &e), NQS_OK);
        if (it == 6) {
            struct nqs_h5_checkpoint ck = {.iteration = 7, .params = par, .chains = chains, .rng_state = rng};
            assert_int_equal(nqs_h5_checkpoint_write(f, &ck), NQS_OK);
        }
    }
    nqs_h5_close(f);
    long n;
    double *it = read_ds(path, "/history/observables/iteration", &n);
    assert_int_equal(n, 2);
    free(it);
    if (nqs_h5_restart(path, NULL, &f) != NQS_OK) fail_msg("%s", nqs_last_error());
    nqs_h5_close(f);
    it = read_ds(path, "/history/observables/iteration", &n);
    assert_int_equal(n, 1);
    assert_true(it[0] == 4.0);
    free(it);
    double *v = read_ds(path, "/history/observables/z0/value", &n);
    assert_int_equal(n, 1);
    assert_true(v[0] == 4.0);
    free(v);
    v = read_ds(path, "/history/observables/z0/error", &n);
    assert_int_equal(n, 1);
    free(v);
    nqs_obs_free(&obs);
    nqs_operator_free(op);
    nqs_lattice_free(lat);
}

/* ------------------------------------------------------- 3. measure */

static void test_measure_reproduces_final_evaluation(void **state)
{
    (void)state;
    /* exact sampler: the same numbers */
    write_text("exh.ini", exh_ini);
    TP(ex, "exm.h5");
    assert_status(nqs(1, "run", tp("exh.ini"), "-q", "-o", ex, "--set", "optimizer.iterations=20", NULL), 0);
    assert_status(nqs(1, "measure", ex, "-q", NULL), 0);
    assert_close(attr(ex, "/measure/0", "energy"), attr(ex, "/result", "energy"),
                 1e-12 * fabs(attr(ex, "/result", "energy")));
    long n1, n2;
    double *a = read_ds(ex, "/result/observables/correlation_full/value", &n1);
    double *b = read_ds(ex, "/measure/0/observables/correlation_full/value", &n2);
    assert_int_equal(n1, n2);
    for (long k = 0; k < n1; k++) assert_close(a[k], b[k], 1e-12);
    free(a);
    free(b);

    /* Metropolis: within 4 combined error bars; more samples than the run's */
    write_text("tf.ini", tf_ini);
    TP(mc, "tfm.h5");
    TP(other, "other.h5");
    assert_status(nqs(1, "run", tp("tf.ini"), "-q", "-o", mc, NULL), 0);
    assert_status(nqs(1, "measure", mc, "--samples", "8192", "--set", "sampler.seed=99", NULL), 0);
    assert_non_null(strstr(g_out, "/measure/0"));
    double e1 = attr(mc, "/result", "energy"), s1 = attr(mc, "/result", "energy_error");
    double e2 = attr(mc, "/measure/0", "energy"), s2 = attr(mc, "/measure/0", "energy_error");
    assert_true(attr(mc, "/measure/0", "n_samples") == 8192.0);
    assert_true(s1 > 0 && s2 > 0);
    if (!(fabs(e1 - e2) <= 4 * sqrt(s1 * s1 + s2 * s2)))
        fail_msg("measure %.6f +- %.6f, final evaluation %.6f +- %.6f", e2, s2, e1, s1);
    double m1 = attr(mc, "/result/observables", "sx"), m1e = attr(mc, "/result/observables", "sx_error");
    double m2 = attr(mc, "/measure/0/observables", "sx"),
           m2e = attr(mc, "/measure/0/observables", "sx_error");
    assert_true(fabs(m1 - m2) <= 4 * sqrt(m1e * m1e + m2e * m2e));
    /* a second measurement adds /measure/1 and keeps /measure/0 */
    assert_status(nqs(1, "measure", mc, "-q", "--samples", "512", NULL), 0);
    assert_true(attr(mc, "/measure/0", "energy") == e2);
    assert_true(attr(mc, "/measure/1", "n_samples") == 512.0);
    /* -o: a new file; an existing one only with --force */
    assert_status(nqs(1, "measure", mc, "-q", "-o", other, "--samples", "256", NULL), 0);
    assert_true(nqs_h5_has_object(other, "/measure/0/observables/dimer_zz/value"));
    assert_true(nqs_h5_has_object(other, "/lattice/bonds"));
    assert_status(nqs(1, "measure", mc, "-q", "-o", other, "--samples", "256", NULL), 1);
    assert_non_null(strstr(g_err, "refusing to overwrite"));
    assert_status(nqs(1, "measure", mc, "-q", "-o", other, "--samples", "256", "--force", NULL), 0);
    /* the model must be the file's */
    assert_status(nqs(1, "measure", mc, "-q", "--set", "model.alpha=2", NULL), 2);
    assert_non_null(strstr(g_err, "parameters"));
    /* without /result: the checkpoint's parameters */
    hid_t f = H5Fopen(mc, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0 && H5Ldelete(f, "/result", H5P_DEFAULT) >= 0);
    H5Fclose(f);
    assert_status(nqs(1, "measure", mc, "-q", "--samples", "256", NULL), 0);
    char *src = NULL;
    assert_int_equal(nqs_h5_read_attr_string(mc, "/measure/2", "params_source", &src), NQS_OK);
    assert_string_equal(src, "/checkpoint (iteration 20)");
    free(src);
    /* not a result file */
    assert_status(nqs(1, "measure", tp("tf.ini"), "-q", NULL), 1);
    assert_status(nqs(1, "measure", "-q", NULL), 2);
}

/* --------------------------------------------------------- 4. doc walk */

#define MAX_PATHS 256
struct paths {
    int n;
    char p[MAX_PATHS][256];
};

static void paths_add(struct paths *ps, const char *p)
{
    for (int k = 0; k < ps->n; k++)
        if (strcmp(ps->p[k], p) == 0) return;
    assert_true(ps->n < MAX_PATHS);
    snprintf(ps->p[ps->n++], sizeof ps->p[0], "%s", p);
}

static int paths_has(const struct paths *ps, const char *p)
{
    for (int k = 0; k < ps->n; k++)
        if (strcmp(ps->p[k], p) == 0) return 1;
    return 0;
}

/* The file's name with the doc's placeholders: slot0/1 -> slot<s>,
 * /measure/N -> /measure/<k>, the group below an `observables` group ->
 * <name>. */
static void normalise(const char *in, char *out, size_t len)
{
    char buf[256], res[256] = "";
    const char *tok[16];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", in);
    char *save = NULL;
    for (char *s = strtok_r(buf, "/", &save); s && n < 16; s = strtok_r(NULL, "/", &save)) tok[n++] = s;
    for (int k = 0; k < n; k++) {
        const char *t = tok[k];
        if (k > 0 && strcmp(tok[k - 1], "checkpoint") == 0 && strncmp(t, "slot", 4) == 0) t = "slot<s>";
        else if (k == 1 && strcmp(tok[0], "measure") == 0) t = "<k>";
        else if (k > 0 && strcmp(tok[k - 1], "observables") == 0 && strcmp(t, "iteration") != 0)
            t = "<name>";
        strcat(res, "/");
        strcat(res, t);
    }
    snprintf(out, len, "%s", res);
}

static herr_t visit_cb(hid_t obj, const char *name, const H5O_info_t *info, void *data)
{
    (void)obj;
    if (strcmp(name, ".") == 0) return 0;
    if (info->type != H5O_TYPE_GROUP && info->type != H5O_TYPE_DATASET) return 0;
    char full[256], norm[256];
    snprintf(full, sizeof full, "/%s", name);
    normalise(full, norm, sizeof norm);
    paths_add(data, norm);
    return 0;
}

static void test_file_matches_results_format_doc(void **state)
{
    (void)state;
    /* the paths of the doc's table "Every object" */
    size_t len = 0;
    char *doc = nqs_test_slurp(NQS_SOURCE_DIR "/docs/results-format.md", &len);
    assert_non_null(doc);
    char *sec = strstr(doc, "\n## Every object");
    assert_non_null(sec);
    struct paths want = {0}, have = {0};
    for (char *line = sec; (line = strstr(line, "\n| `/")) != NULL;) {
        line += 4;
        char *end = strchr(line, '`');
        assert_non_null(end);
        char p[128];
        snprintf(p, sizeof p, "%.*s", (int)(end - line), line);
        paths_add(&want, p);
    }
    free(doc);
    assert_true(want.n > 50);
    /* a file with every object */
    write_text("tf.ini", tf_ini);
    TP(path, "walk.h5");
    assert_status(nqs(1, "run", tp("tf.ini"), "-q", "-o", path, "--set", "observables.every=5", "--set",
                      "optimizer.iterations=10", NULL),
                  0);
    assert_status(nqs(1, "measure", path, "-q", "--samples", "256", NULL), 0);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_true(H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, visit_cb, &have) >= 0);
    H5Fclose(f);
    for (int k = 0; k < have.n; k++)
        if (!paths_has(&want, have.p[k]))
            fail_msg("%s is in the file but not in docs/results-format.md \"Every object\"", have.p[k]);
    for (int k = 0; k < want.n; k++)
        if (!paths_has(&have, want.p[k]))
            fail_msg("%s is in docs/results-format.md \"Every object\" but not in the file", want.p[k]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_converged_correlations_match_ed),
        cmocka_unit_test(test_every_keeps_bits_and_restarts),
        cmocka_unit_test(test_restart_truncates_history_observables),
        cmocka_unit_test(test_measure_reproduces_final_evaluation),
        cmocka_unit_test(test_file_matches_results_format_doc),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
