/*
 * io_h5_results.c - /lattice, observable datasets with coordinates, the
 * per-iteration observables of /history/observables and complex parameter
 * datasets (io_h5_results.h; layout in docs/results-format.md).
 */
#include "io_h5_results.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "io_h5.h"
#include "version.h"

#define H5R_CHUNK_ROWS 64 /* measurements per chunk of /history/observables */

static int h5r_fail(const char *path, const char *what, const char *obj)
{
    H5Eclear2(H5E_DEFAULT);
    NQS_ERROR(NQS_EIO, "%s: cannot %s %s", path, what, obj);
}

static herr_t h5r_attr_str(hid_t loc, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return -1;
    herr_t e = H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0 ? -1 : 0;
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = e < 0 || sp < 0 ? -1 : H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, t, &value) < 0) e = -1;
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    H5Tclose(t);
    return e;
}

/* Scalar numeric attribute: file type ftype, value *v of memory type mtype. */
static herr_t h5r_attr_num(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = sp < 0 ? -1 : H5Acreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = a < 0 || H5Awrite(a, mtype, v) < 0 ? -1 : 0;
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    return e;
}

static herr_t h5r_attr_long(hid_t loc, const char *name, long v)
{
    return h5r_attr_num(loc, name, H5T_STD_I64LE, H5T_NATIVE_LONG, &v);
}

static herr_t h5r_attr_double(hid_t loc, const char *name, double v)
{
    return h5r_attr_num(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

/* Fixed-size dataset of rows x cols doubles (cols 0: 1-D), written as int64
 * when `integer` (the values are whole numbers) or float64. */
static int h5r_write(hid_t loc, const char *path, const char *name, long rows, int cols, int integer,
                     const double *v, const char *description)
{
    hsize_t dims[2] = {(hsize_t)rows, (hsize_t)(cols > 0 ? cols : 1)};
    int rank = cols > 0 ? 2 : 1;
    size_t n = (size_t)rows * (size_t)(cols > 0 ? cols : 1);
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t ds = sp < 0 ? -1
                      : H5Dcreate2(loc, name, integer ? H5T_STD_I64LE : H5T_IEEE_F64LE, sp,
                                   H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = ds < 0 ? -1 : 0;
    if (e == 0 && n > 0) {
        if (integer) {
            long *buf = malloc(n * sizeof *buf);
            if (!buf) e = -1;
            for (size_t k = 0; buf && k < n; k++) buf[k] = (long)v[k];
            if (buf && H5Dwrite(ds, H5T_NATIVE_LONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) e = -1;
            free(buf);
        } else if (H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
            e = -1;
        }
    }
    if (e == 0 && description && h5r_attr_str(ds, "description", description) < 0) e = -1;
    if (ds >= 0) H5Dclose(ds);
    if (sp >= 0) H5Sclose(sp);
    return e < 0 ? h5r_fail(path, "write dataset", name) : NQS_OK;
}

/* The compound {r, i} of two doubles (a double complex in memory); negative on failure. */
static hid_t h5r_complex_type(void)
{
    hid_t t = H5Tcreate(H5T_COMPOUND, 2 * sizeof(double));
    if (t < 0) return t;
    if (H5Tinsert(t, "r", 0, H5T_NATIVE_DOUBLE) < 0 || H5Tinsert(t, "i", sizeof(double), H5T_NATIVE_DOUBLE) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

int nqs_h5r_write_complex(hid_t loc, const char *path, const char *name, const double complex *v, int n,
                          const char *description)
{
    hid_t t = h5r_complex_type();
    if (t < 0) return h5r_fail(path, "create the complex type for", name);
    hsize_t dim = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    hid_t ds = sp < 0 ? -1 : H5Dcreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = ds < 0 || (n > 0 && H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) ? -1 : 0;
    if (e == 0 && description) e = h5r_attr_str(ds, "description", description);
    if (ds >= 0) H5Dclose(ds);
    if (sp >= 0) H5Sclose(sp);
    H5Tclose(t);
    return e < 0 ? h5r_fail(path, "write dataset", name) : NQS_OK;
}

int nqs_h5r_write_lattice(hid_t file, const char *path, const struct nqs_lattice *lat)
{
    hid_t g = H5Gcreate2(file, "lattice", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return h5r_fail(path, "create", "/lattice");
    int N = lat->n_sites, dim = lat->dim, B = lat->n_bonds, rc = NQS_OK;
    char desc[128];
    nqs_lattice_describe(lat, desc, sizeof desc);
    if (h5r_attr_str(g, "kind", nqs_lattice_kind_name(lat->kind)) < 0 ||
        h5r_attr_str(g, "description", desc) < 0 || h5r_attr_long(g, "n_sites", N) < 0 ||
        h5r_attr_long(g, "dim", dim) < 0 || h5r_attr_long(g, "bipartite", lat->bipartite) < 0 ||
        h5r_attr_long(g, "custom_couplings", lat->custom_couplings) < 0)
        rc = h5r_fail(path, "write the attributes of", "/lattice");
    size_t big = (size_t)(N > B ? N : B) * 2 + 2 * (size_t)dim + (size_t)N * (size_t)lat->n_trans + 4;
    double *buf = malloc(big * sizeof *buf);
    if (!buf && rc == NQS_OK) rc = nqs_error_set(NQS_ENOMEM, __FILE__, __LINE__, "out of memory for /lattice");
    if (rc == NQS_OK) {
        for (int d = 0; d < dim; d++) buf[d] = lat->extent[d], buf[dim + d] = lat->periodic[d];
        rc = h5r_write(g, path, "extent", dim, 0, 1, buf, "sites per direction (a1, a2)");
    }
    if (rc == NQS_OK)
        rc = h5r_write(g, path, "periodic", dim, 0, 1, buf + dim, "1 periodic, 0 open, per direction");
    if (rc == NQS_OK)
        rc = h5r_write(g, path, "positions", N, 2, 0, lat->pos,
                       "Cartesian site positions (lattice spacing 1), row i = site i");
    if (rc == NQS_OK) {
        for (size_t k = 0; k < (size_t)N * (size_t)dim; k++) buf[k] = lat->coord[k];
        rc = h5r_write(g, path, "coordinates", N, dim, 1, buf,
                       "integer coordinates along (a1, a2); site index = x + L1 y");
    }
    if (rc == NQS_OK) {
        for (int b = 0; b < B; b++) buf[2 * b] = lat->bonds[b].i, buf[2 * b + 1] = lat->bonds[b].j;
        rc = h5r_write(g, path, "bonds", B, 2, 1, buf, "site pairs (i < j), nearest first");
    }
    if (rc == NQS_OK) {
        for (int b = 0; b < B; b++) buf[b] = lat->bonds[b].order;
        rc = h5r_write(g, path, "bond_order", B, 0, 1, buf, "0 nearest, 1 next-nearest neighbours");
    }
    if (rc == NQS_OK) {
        for (int b = 0; b < B; b++) buf[b] = lat->bonds[b].w;
        rc = h5r_write(g, path, "couplings", B, 0, 0, buf,
                       "bond weight: 1 on the plain lattice; the absolute coupling J_ij of "
                       "nearest-neighbour bonds with custom couplings (file or disorder)");
    }
    if (rc == NQS_OK && lat->bipartite) {
        for (int i = 0; i < N; i++) buf[i] = lat->sublattice[i];
        rc = h5r_write(g, path, "sublattice", N, 0, 1, buf, "0 (A) or 1 (B)");
    }
    if (rc == NQS_OK) {
        for (size_t k = 0; k < (size_t)N * (size_t)lat->n_trans; k++) buf[k] = lat->trans[k];
        rc = h5r_write(g, path, "translations", lat->n_trans, N, 1, buf,
                       "row t: image of every site under translation t (t = 0 identity)");
    }
    free(buf);
    H5Gclose(g);
    return rc;
}

/* The coordinate datasets and attributes of vector observable k into group g. */
static int h5r_coords(hid_t g, const char *path, const struct nqs_obs *obs, int k)
{
    struct nqs_obs_coord c[NQS_OBS_MAX_COORDS];
    const char *units = "", *desc = "";
    int nc = nqs_obs_coords(obs, k, c, &units, &desc);
    const struct nqs_obs_item *it = &obs->item[k];
    if (h5r_attr_str(g, "units", units) < 0 || h5r_attr_str(g, "description", desc) < 0 ||
        h5r_attr_long(g, "n", it->n) < 0)
        return h5r_fail(path, "write the attributes of observable", it->name);
    for (int j = 0; j < nc; j++)
        NQS_TRY(h5r_write(g, path, c[j].name, it->n, c[j].cols > 1 ? c[j].cols : 0, c[j].integer,
                          c[j].v, c[j].description));
    return NQS_OK;
}

int nqs_h5r_write_vectors(hid_t loc, const char *path, const char *where, const struct nqs_obs *obs,
                          const double *value, const double *error)
{
    if (!obs) return NQS_OK;
    for (int k = 0; k < obs->n_items; k++) {
        const struct nqs_obs_item *it = &obs->item[k];
        if (!it->vector) continue;
        hid_t g = H5Gcreate2(loc, it->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0) {
            char obj[256];
            snprintf(obj, sizeof obj, "%s/%s", where, it->name);
            return h5r_fail(path, "create", obj);
        }
        int rc = h5r_write(g, path, "value", it->n, 0, 0, value + it->offset, "Monte Carlo mean");
        if (rc == NQS_OK)
            rc = h5r_write(g, path, "error", it->n, 0, 0, error + it->offset,
                           "standard error, autocorrelation-aware (0 for exact enumeration)");
        if (rc == NQS_OK) rc = h5r_coords(g, path, obs, k);
        H5Gclose(g);
        NQS_TRY(rc);
    }
    return NQS_OK;
}

/* Extendible rows x n dataset (n 0: 1-D). */
static hid_t h5r_extendible(hid_t loc, const char *name, hid_t type, int n)
{
    int rank = n > 0 ? 2 : 1;
    hsize_t dims[2] = {0, (hsize_t)(n > 0 ? n : 1)}, maxd[2] = {H5S_UNLIMITED, dims[1]};
    hsize_t chunk[2] = {H5R_CHUNK_ROWS, dims[1]};
    hid_t sp = H5Screate_simple(rank, dims, maxd), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t ds = -1;
    if (sp >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, rank, chunk) >= 0)
        ds = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
    return ds;
}

int nqs_h5r_create_history_obs(hid_t file, const char *path, const struct nqs_obs *obs)
{
    hid_t g = H5Gcreate2(file, "/history/observables", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return h5r_fail(path, "create", "/history/observables");
    int rc = NQS_OK;
    hid_t ds = h5r_extendible(g, "iteration", H5T_STD_I64LE, 0);
    if (ds < 0 || h5r_attr_str(ds, "description", "iteration whose samples were measured") < 0 ||
        h5r_attr_long(g, "every", obs->every) < 0)
        rc = h5r_fail(path, "create", "/history/observables/iteration");
    if (ds >= 0) H5Dclose(ds);
    for (int k = 0; k < obs->n_items && rc == NQS_OK; k++) {
        const struct nqs_obs_item *it = &obs->item[k];
        hid_t o = H5Gcreate2(g, it->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (o < 0) {
            rc = h5r_fail(path, "create /history/observables/", it->name);
            break;
        }
        for (int e = 0; e < 2 && rc == NQS_OK; e++) {
            hid_t d = h5r_extendible(o, e ? "error" : "value", H5T_IEEE_F64LE, it->n);
            if (d < 0) rc = h5r_fail(path, "create the history of observable", it->name);
            else H5Dclose(d);
        }
        if (rc == NQS_OK && it->vector) rc = h5r_coords(o, path, obs, k);
        H5Gclose(o);
    }
    H5Gclose(g);
    return rc;
}

/* Extend dataset `name` of loc to rows + 1 rows and write row `rows`. */
static herr_t h5r_append_row(hid_t loc, const char *name, hid_t mtype, int n, hsize_t rows, const void *v)
{
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    int rank = n > 0 ? 2 : 1;
    hsize_t dims[2] = {rows + 1, (hsize_t)(n > 0 ? n : 1)}, start[2] = {rows, 0},
            count[2] = {1, dims[1]};
    herr_t e = H5Dset_extent(ds, dims);
    hid_t fs = e < 0 ? -1 : H5Dget_space(ds);
    hid_t ms = H5Screate_simple(rank, count, NULL);
    if (fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        H5Dwrite(ds, mtype, ms, fs, H5P_DEFAULT, v) < 0)
        e = -1;
    if (e >= 0 && H5Dflush(ds) < 0) e = -1;
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    H5Dclose(ds);
    return e;
}

static long h5r_rows(hid_t loc, const char *name)
{
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[2] = {0, 0};
    long n = sp >= 0 && H5Sget_simple_extent_dims(sp, dims, NULL) >= 0 ? (long)dims[0] : -1;
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(ds);
    return n;
}

int nqs_h5r_append_history_obs(hid_t file, const char *path, const struct nqs_obs *obs, long iteration,
                               const double *value, const double *error)
{
    hid_t g = H5Gopen2(file, "/history/observables", H5P_DEFAULT);
    if (g < 0) return h5r_fail(path, "open", "/history/observables");
    long rows = h5r_rows(g, "iteration");
    int rc = rows < 0 ? h5r_fail(path, "read", "/history/observables/iteration") : NQS_OK;
    for (int k = 0; k < obs->n_items && rc == NQS_OK; k++) {
        const struct nqs_obs_item *it = &obs->item[k];
        hid_t o = H5Gopen2(g, it->name, H5P_DEFAULT);
        if (o < 0 ||
            h5r_append_row(o, "value", H5T_NATIVE_DOUBLE, it->n, (hsize_t)rows, value + it->offset) < 0 ||
            h5r_append_row(o, "error", H5T_NATIVE_DOUBLE, it->n, (hsize_t)rows, error + it->offset) < 0)
            rc = h5r_fail(path, "append to /history/observables/", it->name);
        if (o >= 0) H5Gclose(o);
    }
    /* iteration last: a reader (or a crash) sees only complete rows below it */
    if (rc == NQS_OK && h5r_append_row(g, "iteration", H5T_NATIVE_LONG, 0, (hsize_t)rows, &iteration) < 0)
        rc = h5r_fail(path, "append to", "/history/observables/iteration");
    H5Gclose(g);
    return rc;
}

static herr_t h5r_set_rows(hid_t loc, const char *name, hsize_t rows)
{
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[2] = {0, 0};
    herr_t e = sp < 0 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0 ? -1 : 0;
    dims[0] = rows;
    if (e >= 0) e = H5Dset_extent(ds, dims);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(ds);
    return e;
}

int nqs_h5r_truncate_history_obs(hid_t file, const char *path, long keep)
{
    htri_t ex = H5Lexists(file, "/history/observables", H5P_DEFAULT);
    if (ex <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return NQS_OK;
    }
    hid_t g = H5Gopen2(file, "/history/observables", H5P_DEFAULT);
    if (g < 0) return h5r_fail(path, "open", "/history/observables");
    long rows = h5r_rows(g, "iteration"), n = 0;
    long *it = malloc((size_t)(rows > 0 ? rows : 1) * sizeof *it);
    hid_t ds = H5Dopen2(g, "iteration", H5P_DEFAULT);
    int rc = NQS_OK;
    if (rows < 0 || !it || ds < 0 ||
        (rows > 0 && H5Dread(ds, H5T_NATIVE_LONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, it) < 0))
        rc = h5r_fail(path, "read", "/history/observables/iteration");
    if (ds >= 0) H5Dclose(ds);
    while (rc == NQS_OK && n < rows && it[n] < keep) n++; /* iterations increase */
    free(it);
    /* every member (value/error of each observable, iteration) is cut to n
     * rows; the value and error datasets may be longer than iteration after
     * a crash between the appends */
    H5G_info_t info;
    if (rc == NQS_OK && H5Gget_info(g, &info) < 0) rc = h5r_fail(path, "list", "/history/observables");
    for (hsize_t k = 0; rc == NQS_OK && k < info.nlinks; k++) {
        char name[256];
        if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, k, name, sizeof name, H5P_DEFAULT) < 0) {
            rc = h5r_fail(path, "list", "/history/observables");
            break;
        }
        if (strcmp(name, "iteration") == 0) {
            if (h5r_set_rows(g, name, (hsize_t)n) < 0) rc = h5r_fail(path, "truncate /history/observables/", name);
            continue;
        }
        hid_t o = H5Gopen2(g, name, H5P_DEFAULT);
        if (o < 0 || h5r_set_rows(o, "value", (hsize_t)n) < 0 || h5r_set_rows(o, "error", (hsize_t)n) < 0)
            rc = h5r_fail(path, "truncate /history/observables/", name);
        if (o >= 0) H5Gclose(o);
    }
    H5Gclose(g);
    return rc;
}

int nqs_h5r_check_history_obs(hid_t file, const char *path, const struct nqs_obs *obs)
{
    htri_t ex = H5Lexists(file, "/history/observables", H5P_DEFAULT);
    hid_t g = ex > 0 ? H5Gopen2(file, "/history/observables", H5P_DEFAULT) : -1;
    H5Eclear2(H5E_DEFAULT);
    int rc = NQS_OK;
    for (int k = 0; k < obs->n_items && rc == NQS_OK; k++) {
        const struct nqs_obs_item *it = &obs->item[k];
        hsize_t dims[2] = {0, 0};
        if (g >= 0 && H5Lexists(g, it->name, H5P_DEFAULT) > 0) {
            hid_t o = H5Gopen2(g, it->name, H5P_DEFAULT);
            hid_t ds = o < 0 ? -1 : H5Dopen2(o, "value", H5P_DEFAULT);
            hid_t sp = ds < 0 ? -1 : H5Dget_space(ds);
            if (sp < 0 || H5Sget_simple_extent_ndims(sp) != 2 ||
                H5Sget_simple_extent_dims(sp, dims, NULL) < 0)
                dims[1] = 0;
            if (sp >= 0) H5Sclose(sp);
            if (ds >= 0) H5Dclose(ds);
            if (o >= 0) H5Gclose(o);
        }
        H5Eclear2(H5E_DEFAULT);
        if (dims[1] != (hsize_t)it->n)
            rc = nqs_error_set(NQS_EIO, __FILE__, __LINE__,
                               "%s has no per-iteration observable %s with %d components: "
                               "[observables] every and the observables must be those the run "
                               "started with (they cannot be added on restart)",
                               path, it->name, it->n);
    }
    if (g >= 0) H5Gclose(g);
    return rc;
}

int nqs_h5r_read_complex(hid_t file, const char *path, const char *name, double complex *v, int n)
{
    hid_t ds = H5Lexists(file, name, H5P_DEFAULT) > 0 ? H5Dopen2(file, name, H5P_DEFAULT) : -1;
    H5Eclear2(H5E_DEFAULT);
    if (ds < 0) NQS_ERROR(NQS_EIO, "%s has no dataset %s", path, name);
    hid_t sp = H5Dget_space(ds);
    hsize_t dim = 0;
    int ok = sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1 &&
             H5Sget_simple_extent_dims(sp, &dim, NULL) >= 0 && dim == (hsize_t)n;
    if (sp >= 0) H5Sclose(sp);
    hid_t t = h5r_complex_type();
    if (ok && (t < 0 || H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)) ok = -1;
    if (t >= 0) H5Tclose(t);
    H5Dclose(ds);
    H5Eclear2(H5E_DEFAULT);
    if (ok == 0)
        NQS_ERROR(NQS_EIO, "%s is corrupt: %s has %llu entries, the model has %d parameters", path,
                  name, (unsigned long long)dim, n);
    if (ok < 0) NQS_ERROR(NQS_EIO, "%s: cannot read %s as complex values", path, name);
    return NQS_OK;
}

int nqs_h5r_write_measure(hid_t file, const char *path, const struct nqs_h5_measurement *m, char *group,
                          size_t len)
{
    htri_t ex = H5Lexists(file, "/measure", H5P_DEFAULT);
    hid_t top = ex > 0 ? H5Gopen2(file, "/measure", H5P_DEFAULT)
                       : H5Gcreate2(file, "/measure", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Eclear2(H5E_DEFAULT);
    if (top < 0) return h5r_fail(path, "open or create", "/measure");
    char name[32];
    int k = 0;
    for (;; k++) { /* the first free index: earlier measurements stay */
        snprintf(name, sizeof name, "%d", k);
        if (H5Lexists(top, name, H5P_DEFAULT) <= 0) break;
    }
    H5Eclear2(H5E_DEFAULT);
    snprintf(group, len, "/measure/%d", k);
    hid_t g = H5Gcreate2(top, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(top);
    if (g < 0) return h5r_fail(path, "create", group);
    const struct nqs_h5_result *r = m->res;
    herr_t e = 0;
    e |= h5r_attr_double(g, "energy", r->energy);
    e |= h5r_attr_double(g, "energy_error", r->energy_error);
    e |= h5r_attr_double(g, "energy_variance", r->energy_variance);
    e |= h5r_attr_double(g, "v_score", r->v_score);
    e |= h5r_attr_double(g, "tau", r->tau);
    e |= h5r_attr_double(g, "rhat", r->rhat);
    e |= h5r_attr_double(g, "acceptance", r->acceptance);
    e |= h5r_attr_long(g, "n_samples", r->n_samples);
    e |= h5r_attr_long(g, "iteration", m->iteration);
    e |= h5r_attr_str(g, "params_source", m->params_source ? m->params_source : "");
    e |= h5r_attr_str(g, "input", m->input ? m->input : "");
    e |= h5r_attr_str(g, "command_line", m->command_line ? m->command_line : "");
    e |= h5r_attr_str(g, "sector", r->sector ? r->sector : "");
    e |= h5r_attr_str(g, "version", NQS_VERSION);
    e |= h5r_attr_str(g, "convention", "pauli");
    int rc = e < 0 ? h5r_fail(path, "write the attributes of", group) : NQS_OK;
    if (rc == NQS_OK && r->params)
        rc = nqs_h5r_write_complex(g, path, "params", r->params, m->n_params, "the measured parameters");
    hid_t o = rc == NQS_OK ? H5Gcreate2(g, "observables", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    if (rc == NQS_OK && o < 0) rc = h5r_fail(path, "create the observables of", group);
    for (int j = 0; rc == NQS_OK && j < m->n_scalars; j++) {
        char en[256];
        snprintf(en, sizeof en, "%s_error", m->scalars[j].name);
        if (h5r_attr_double(o, m->scalars[j].name, m->scalars[j].value) < 0 ||
            h5r_attr_double(o, en, m->scalars[j].error) < 0)
            rc = h5r_fail(path, "write observable", m->scalars[j].name);
    }
    if (rc == NQS_OK) rc = nqs_h5r_write_vectors(o, path, group, r->obs, r->obs_value, r->obs_error);
    if (o >= 0) H5Gclose(o);
    H5Gclose(g);
    return rc;
}

_Static_assert(NQS_H5_MAX_SCALARS == NQS_OBS_MAX + 2, "NQS_H5_MAX_SCALARS (io_h5.h)");

int nqs_h5_scalars(const struct nqs_obs *obs, const double *value, const double *error,
                   const double *lanczos, struct nqs_h5_observable *out)
{
    int n = 0;
    for (int k = 0; k < obs->n_items; k++)
        if (!obs->item[k].vector) {
            int c = obs->item[k].offset;
            out[n++] = (struct nqs_h5_observable){obs->item[k].name, value[c], error[c]};
        }
    if (lanczos) {
        out[n++] = (struct nqs_h5_observable){"energy_lanczos", lanczos[0], lanczos[1]};
        out[n++] = (struct nqs_h5_observable){"lanczos_alpha", lanczos[2], NAN};
    }
    return n;
}
