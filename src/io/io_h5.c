/*
 * io_h5.c - result files in HDF5 (layout: docs/results-format.md; API: io_h5.h).
 *
 * HDF5 1.10 C API only. Files use the latest format (libver bounds "latest",
 * needed for SWMR) and are kept in single-writer/multiple-reader mode
 * (H5Fstart_swmr_write) while a run appends to /history, so readers can
 * follow a run and a killed run leaves a readable file. Crash safety rests on
 * three rules: every append ends with H5Fflush (SWMR orders the metadata
 * writes so that the file on disk is consistent at every instant); file space
 * is paged so that no metadata write straddles a page boundary, which a
 * SIGKILL could cut (see io_h5_fcpl); and a checkpoint is written into the
 * slot that is not active, flushed and fsync'ed before the 4-byte
 * /checkpoint/active is overwritten (and flushed and fsync'ed again).
 * Checkpoint datasets are contiguous and allocated at creation, so writing
 * them changes raw data only, never metadata.
 *
 * Errors: HDF5's automatic error printing is switched off; after a failed
 * call the innermost message of the HDF5 error stack (for system calls the
 * strerror text HDF5 records) is appended to our one-line message.
 */
#include "io_h5.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>

#include "error.h"
#include "io_h5_results.h"
#include "version.h"

const struct nqs_h5_column nqs_h5_columns[NQS_H5_N_COLS] = {
#define IO_H5_COLUMN_(name, meaning) {#name, meaning, offsetof(struct nqs_h5_row, name)},
    NQS_H5_COLUMNS(IO_H5_COLUMN_)
#undef IO_H5_COLUMN_
};

#define IO_H5_ITERATION_MEANING "iteration index, from 0"
#define IO_H5_CHUNK 512 /* rows per /history chunk: 4 KiB, one file-space page */
#define IO_H5_PAGE 4096 /* file-space page = the usual OS page */

/* Checkpoint slot datasets, in the order they are written (iteration last). */
enum { SLOT_PARAMS, SLOT_OPT, SLOT_CHAINS, SLOT_RNG, SLOT_WALL, SLOT_SAMPLES, SLOT_ITERATION, SLOT_N };
static const char *const io_h5_slot_names[SLOT_N] = {
    "params", "optimizer_state", "chains", "rng_state", "wall_time", "samples_total", "iteration"};

/* Owned copies of the meta strings. */
enum { STR_VERSION, STR_GIT, STR_DATE, STR_CMD, STR_INPUT, STR_LATTICE, STR_HAM, STR_MODEL, STR_N };
static const char *const io_h5_root_str_names[STR_N] = {
    "version", "git_commit", "date", "command_line", "input", "lattice", "hamiltonian", "model"};

struct nqs_h5 {
    char *path;
    hid_t file;                     /* H5I_INVALID_HID once closed */
    hid_t hist[1 + NQS_H5_N_COLS];  /* iteration, then the float64 columns */
    hid_t slot[2][SLOT_N];
    hid_t active_ds;
    hid_t mspace1;                  /* memory space of one element */
    hid_t complex_mem;              /* compound {r, i} of native doubles */
    long n_rows;
    int active;                     /* -1, 0 or 1 */
    long ckpt_iteration;
    int restart_pending;            /* nqs_h5_restart_open done, nothing written yet */
    struct nqs_h5_meta meta;
    char *str[STR_N];
};

static int io_h5_crash_after = -1;

void nqs_h5_test_crash_checkpoint(int n_datasets) { io_h5_crash_after = n_datasets; }

/* ------------------------------------------------------------------ errors */

static herr_t io_h5_walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    (void)n;
    if (e->desc != NULL && e->desc[0] != '\0') snprintf(data, 512, "%s", e->desc);
    return 0;
}

#define IO_H5_NO_REASON "unknown HDF5 error"

/* Innermost message of the current HDF5 error stack, reduced to the system's
 * reason when HDF5 recorded one ("..., error message = 'Permission denied'"). */
static void io_h5_reason(char *buf, size_t len)
{
    char desc[512] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, io_h5_walk_cb, desc);
    H5Eclear2(H5E_DEFAULT);
    const char *p = strstr(desc, "error message = '");
    if (p != NULL) {
        p += strlen("error message = '");
        size_t k = strcspn(p, "'");
        snprintf(buf, len, "%.*s", (int)k, p);
    } else {
        snprintf(buf, len, "%s", desc[0] ? desc : IO_H5_NO_REASON);
    }
}

/* Record NQS_EIO "<formatted text>: <HDF5 reason>". Call right after the
 * failing HDF5 call: any later HDF5 call clears the error stack. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int io_h5_fail(int line, const char *fmt, ...)
{
    char what[768], reason[256];
    io_h5_reason(reason, sizeof reason);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (strcmp(reason, IO_H5_NO_REASON) == 0) /* our own check failed, not an HDF5 call */
        return nqs_error_set(NQS_EIO, __FILE__, line, "%s", what);
    return nqs_error_set(NQS_EIO, __FILE__, line, "%s: %s", what, reason);
}
#define IO_H5_FAIL(...) io_h5_fail(__LINE__, __VA_ARGS__)

static void io_h5_init(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void io_h5_close_id(hid_t *id)
{
    if (*id >= 0) H5Idec_ref(*id);
    *id = H5I_INVALID_HID;
}

/* ------------------------------------------------------------- attributes */

static hid_t io_h5_vlen_str_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

/* Create-or-replace a scalar attribute `name` on `loc` of file type `ftype`. */
static herr_t io_h5_attr_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype,
                               const void *buf)
{
    if (H5Aexists(loc, name) > 0 && H5Adelete(loc, name) < 0) return -1;
    hid_t sp = H5Screate(H5S_SCALAR);
    if (sp < 0) return -1;
    hid_t a = H5Acreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Sclose(sp);
    if (a < 0) return -1;
    herr_t rc = H5Awrite(a, mtype, buf);
    if (H5Aclose(a) < 0) rc = -1;
    return rc;
}

static herr_t io_h5_attr_str(hid_t loc, const char *name, const char *value)
{
    hid_t t = io_h5_vlen_str_type();
    if (t < 0) return -1;
    const char *v = value ? value : "";
    herr_t rc = io_h5_attr_write(loc, name, t, t, &v);
    H5Tclose(t);
    return rc;
}

static herr_t io_h5_attr_long(hid_t loc, const char *name, long value)
{
    return io_h5_attr_write(loc, name, H5T_STD_I64LE, H5T_NATIVE_LONG, &value);
}

static herr_t io_h5_attr_double(hid_t loc, const char *name, double value)
{
    return io_h5_attr_write(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

/* An attribute holds exactly one element (scalar, or a simple dataspace of
 * one point): H5Aread writes as many elements as the dataspace has, so a
 * reader with room for one must check this first. */
static int io_h5_attr_is_single(hid_t a)
{
    hid_t sp = H5Aget_space(a);
    if (sp < 0) return 0;
    H5S_class_t cl = H5Sget_simple_extent_type(sp);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    return (cl == H5S_SCALAR || cl == H5S_SIMPLE) && n == 1;
}

/* Largest string attribute read (the stored input is a few KiB): a bigger
 * one is a damaged or foreign file, not worth a large allocation. */
#define IO_H5_MAX_STR (64u << 20)

/* Read a string attribute (variable or fixed length) into a malloc'd string.
 * Defensive for files that are not ours: one element only (H5Aread writes
 * one pointer or one string per element) and a sane fixed size. */
static herr_t io_h5_attr_read_str(hid_t loc, const char *obj, const char *name, char **out)
{
    *out = NULL;
    hid_t a = H5Aopen_by_name(loc, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) return -1;
    herr_t rc = -1;
    hid_t ft = H5Aget_type(a), mt = H5I_INVALID_HID;
    if (ft < 0 || H5Tget_class(ft) != H5T_STRING || !io_h5_attr_is_single(a)) goto done;
    mt = H5Tcopy(ft);
    if (mt < 0) goto done;
    if (H5Tis_variable_str(ft) > 0) {
        char *s = NULL;
        if (H5Aread(a, mt, &s) < 0) goto done;
        *out = strdup(s ? s : "");
        H5free_memory(s);
    } else {
        size_t sz = H5Tget_size(ft);
        if (sz == 0 || sz > IO_H5_MAX_STR) goto done;
        char *s = calloc(sz + 1, 1);
        if (s == NULL) goto done;
        if (H5Aread(a, mt, s) < 0) {
            free(s);
            goto done;
        }
        *out = s;
    }
    rc = *out ? 0 : -1;
done:
    if (mt >= 0) H5Tclose(mt);
    if (ft >= 0) H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

/* Read a numeric scalar attribute converted to double. */
static herr_t io_h5_attr_read_num(hid_t loc, const char *obj, const char *name, double *out)
{
    hid_t a = H5Aopen_by_name(loc, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t ft = H5Aget_type(a);
    H5T_class_t cl = ft >= 0 ? H5Tget_class(ft) : H5T_NO_CLASS;
    if (ft >= 0) H5Tclose(ft);
    herr_t rc = -1;
    if ((cl == H5T_INTEGER || cl == H5T_FLOAT) && io_h5_attr_is_single(a))
        rc = H5Aread(a, H5T_NATIVE_DOUBLE, out);
    H5Aclose(a);
    return rc;
}

/* ----------------------------------------------------------------- handle */

static struct nqs_h5 *io_h5_handle_alloc(const char *path)
{
    struct nqs_h5 *f = calloc(1, sizeof *f);
    if (f == NULL) return NULL;
    f->file = f->active_ds = f->mspace1 = f->complex_mem = H5I_INVALID_HID;
    for (int k = 0; k <= NQS_H5_N_COLS; k++) f->hist[k] = H5I_INVALID_HID;
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < SLOT_N; k++) f->slot[s][k] = H5I_INVALID_HID;
    f->active = -1;
    f->ckpt_iteration = -1;
    f->path = strdup(path);
    if (f->path == NULL) {
        free(f);
        return NULL;
    }
    return f;
}

/* Close every object handle (not the file). */
static void io_h5_close_objects(struct nqs_h5 *f)
{
    for (int k = 0; k <= NQS_H5_N_COLS; k++) io_h5_close_id(&f->hist[k]);
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < SLOT_N; k++) io_h5_close_id(&f->slot[s][k]);
    io_h5_close_id(&f->active_ds);
    io_h5_close_id(&f->mspace1);
    io_h5_close_id(&f->complex_mem);
}

static void io_h5_point_meta(struct nqs_h5 *f)
{
    f->meta.version = f->str[STR_VERSION];
    f->meta.git_commit = f->str[STR_GIT];
    f->meta.date = f->str[STR_DATE];
    f->meta.command_line = f->str[STR_CMD];
    f->meta.input = f->str[STR_INPUT];
    f->meta.lattice = f->str[STR_LATTICE];
    f->meta.hamiltonian = f->str[STR_HAM];
    f->meta.model = f->str[STR_MODEL];
}

/* Close and free; with `report`, a failed close records a message. */
static int io_h5_release(struct nqs_h5 *f, int report)
{
    if (f == NULL) return NQS_OK;
    int rc = NQS_OK;
    io_h5_close_objects(f);
    if (f->file >= 0 && H5Fclose(f->file) < 0) {
        if (report)
            rc = IO_H5_FAIL("%s: cannot close the file", f->path);
        else
            H5Eclear2(H5E_DEFAULT);
    }
    for (int k = 0; k < STR_N; k++) free(f->str[k]);
    free(f->path);
    free(f);
    return rc;
}

int nqs_h5_close(struct nqs_h5 *f) { return io_h5_release(f, 1); }

static hid_t io_h5_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return fapl;
    if (H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST) < 0 ||
        /* keep locking, but do not fail on file systems without flock (Lustre, NFS) */
        H5Pset_file_locking(fapl, 1, 1) < 0) {
        H5Pclose(fapl);
        return H5I_INVALID_HID;
    }
    return fapl;
}

/* Paged file space: metadata smaller than a page never straddles a page
 * boundary. Linux may cut a write() short at a page boundary when the writer
 * receives SIGKILL (fatal signals are checked between pages), so without
 * paging a killed run can leave a torn object header that no reader can load
 * (observed with HDF5 1.10.8 in about 1 % of kills during appends); with
 * paging every metadata write lies inside one page and is all-or-nothing. */
static hid_t io_h5_fcpl(void)
{
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (fcpl < 0) return fcpl;
    if (H5Pset_file_space_strategy(fcpl, H5F_FSPACE_STRATEGY_PAGE, 0, 1) < 0 ||
        H5Pset_file_space_page_size(fcpl, IO_H5_PAGE) < 0) {
        H5Pclose(fcpl);
        return H5I_INVALID_HID;
    }
    return fcpl;
}

static hid_t io_h5_complex_type(hid_t member)
{
    hid_t t = H5Tcreate(H5T_COMPOUND, 2 * sizeof(double));
    if (t < 0) return t;
    if (H5Tinsert(t, "r", 0, member) < 0 || H5Tinsert(t, "i", sizeof(double), member) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

/* Open every dataset handle used while writing; the file is open. */
static int io_h5_open_objects(struct nqs_h5 *f, int history)
{
    char name[128];
    for (int k = 0; history && k <= NQS_H5_N_COLS; k++) {
        snprintf(name, sizeof name, "/history/%s", k ? nqs_h5_columns[k - 1].name : "iteration");
        f->hist[k] = H5Dopen2(f->file, name, H5P_DEFAULT);
        if (f->hist[k] < 0) return IO_H5_FAIL("%s is corrupt: cannot open %s", f->path, name);
    }
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < SLOT_N; k++) {
            snprintf(name, sizeof name, "/checkpoint/slot%d/%s", s, io_h5_slot_names[k]);
            f->slot[s][k] = H5Dopen2(f->file, name, H5P_DEFAULT);
            if (f->slot[s][k] < 0)
                return IO_H5_FAIL("%s is corrupt: cannot open %s", f->path, name);
        }
    f->active_ds = H5Dopen2(f->file, "/checkpoint/active", H5P_DEFAULT);
    if (f->active_ds < 0)
        return IO_H5_FAIL("%s is corrupt: cannot open /checkpoint/active", f->path);
    hsize_t one = 1;
    f->mspace1 = H5Screate_simple(1, &one, NULL);
    f->complex_mem = io_h5_complex_type(H5T_NATIVE_DOUBLE);
    if (f->mspace1 < 0 || f->complex_mem < 0)
        return IO_H5_FAIL("%s: cannot create HDF5 memory types", f->path);
    return NQS_OK;
}

/* Flush everything HDF5 buffers, then ask the OS to put it on disk. */
static int io_h5_sync(struct nqs_h5 *f)
{
    if (H5Fflush(f->file, H5F_SCOPE_LOCAL) < 0) return IO_H5_FAIL("%s: cannot flush", f->path);
    void *h = NULL;
    if (H5Fget_vfd_handle(f->file, H5P_DEFAULT, &h) >= 0 && h != NULL) {
        if (fsync(*(int *)h) != 0)
            NQS_ERROR(NQS_EIO, "%s: cannot sync to disk: %s", f->path, strerror(errno));
    } else {
        H5Eclear2(H5E_DEFAULT); /* not a POSIX file driver: the flush is all we can do */
    }
    return NQS_OK;
}

/* ----------------------------------------------------------------- create */

static int io_h5_check_meta(const struct nqs_h5_meta *m)
{
    if (m->n_sites < 1 || m->n_params < 1 || m->n_chains < 1 || m->rng_state_bytes < 0 ||
        m->optimizer_state_len < 0)
        NQS_ERROR(NQS_EINVAL, "result file sizes out of range: n_sites = %d, n_params = %d, "
                  "n_chains = %d (each >= 1), rng_state_bytes = %d, optimizer_state_len = %d "
                  "(each >= 0)", m->n_sites, m->n_params, m->n_chains, m->rng_state_bytes,
                  m->optimizer_state_len);
    return NQS_OK;
}

static int io_h5_copy_meta(struct nqs_h5 *f, const struct nqs_h5_meta *m)
{
    char date[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    const char *src[STR_N] = {m->version ? m->version : NQS_VERSION,
                              m->git_commit ? m->git_commit : NQS_GIT_COMMIT,
                              m->date ? m->date : date, m->command_line, m->input, m->lattice,
                              m->hamiltonian, m->model};
    for (int k = 0; k < STR_N; k++) {
        f->str[k] = strdup(src[k] ? src[k] : "");
        if (f->str[k] == NULL) NQS_ERROR(NQS_ENOMEM, "out of memory for result file attributes");
    }
    f->meta = *m;
    io_h5_point_meta(f);
    return NQS_OK;
}

/* Create a dataset under `loc`; `maxdims` NULL = fixed size, contiguous,
 * allocated now; otherwise chunked. Returns the dataset or a negative id. */
static hid_t io_h5_dataset(hid_t loc, const char *name, hid_t ftype, int rank,
                           const hsize_t *dims, const hsize_t *maxdims)
{
    hid_t sp = rank ? H5Screate_simple(rank, dims, maxdims) : H5Screate(H5S_SCALAR);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t ds = H5I_INVALID_HID;
    if (sp < 0 || dcpl < 0) goto done;
    if (maxdims != NULL) {
        hsize_t chunk = IO_H5_CHUNK;
        if (H5Pset_chunk(dcpl, 1, &chunk) < 0) goto done;
    } else if (H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) < 0) {
        goto done;
    }
    ds = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
done:
    if (dcpl >= 0) H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
    return ds;
}

static int io_h5_write_root(struct nqs_h5 *f)
{
    hid_t r = f->file;
    if (io_h5_attr_str(r, "program", "nqsvmc") < 0 || io_h5_attr_str(r, "convention", "pauli") < 0)
        return IO_H5_FAIL("%s: cannot write the attributes of /", f->path);
    for (int k = 0; k < STR_N; k++)
        if (io_h5_attr_str(r, io_h5_root_str_names[k], f->str[k]) < 0)
            return IO_H5_FAIL("%s: cannot write attribute %s of /", f->path, io_h5_root_str_names[k]);
    if (io_h5_attr_long(r, "shared", f->meta.shared ? 1 : 0) < 0 ||
        io_h5_attr_long(r, "n_sites", f->meta.n_sites) < 0 ||
        io_h5_attr_long(r, "n_params", f->meta.n_params) < 0)
        return IO_H5_FAIL("%s: cannot write the integer attributes of /", f->path);
    return NQS_OK;
}

static int io_h5_create_history(struct nqs_h5 *f)
{
    hid_t g = H5Gcreate2(f->file, "history", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return IO_H5_FAIL("%s: cannot create /history", f->path);
    int rc = NQS_OK;
    hsize_t zero = 0, unlimited = H5S_UNLIMITED;
    for (int k = 0; k <= NQS_H5_N_COLS && rc == NQS_OK; k++) {
        const char *name = k ? nqs_h5_columns[k - 1].name : "iteration";
        const char *meaning = k ? nqs_h5_columns[k - 1].meaning : IO_H5_ITERATION_MEANING;
        hid_t ds = io_h5_dataset(g, name, k ? H5T_IEEE_F64LE : H5T_STD_I64LE, 1, &zero,
                                 &unlimited);
        if (ds < 0 || io_h5_attr_str(ds, "description", meaning) < 0)
            rc = IO_H5_FAIL("%s: cannot create /history/%s", f->path, name);
        if (ds >= 0) H5Dclose(ds);
    }
    H5Gclose(g);
    return rc;
}

static int io_h5_create_slot(struct nqs_h5 *f, hid_t ckpt, int s)
{
    char name[16];
    snprintf(name, sizeof name, "slot%d", s);
    hid_t g = H5Gcreate2(ckpt, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return IO_H5_FAIL("%s: cannot create /checkpoint/%s", f->path, name);
    const struct nqs_h5_meta *m = &f->meta;
    hid_t cplx = io_h5_complex_type(H5T_IEEE_F64LE);
    int rc = cplx < 0 ? IO_H5_FAIL("%s: cannot create the complex type", f->path) : NQS_OK;
    for (int k = 0; k < SLOT_N && rc == NQS_OK; k++) {
        hsize_t dims[2] = {0, 0};
        hid_t ds = H5I_INVALID_HID;
        switch (k) {
        case SLOT_PARAMS:
            dims[0] = (hsize_t)m->n_params;
            ds = io_h5_dataset(g, io_h5_slot_names[k], cplx, 1, dims, NULL);
            break;
        case SLOT_OPT:
            dims[0] = (hsize_t)m->optimizer_state_len;
            ds = io_h5_dataset(g, io_h5_slot_names[k], H5T_IEEE_F64LE, 1, dims, NULL);
            break;
        case SLOT_CHAINS:
            dims[0] = (hsize_t)m->n_chains;
            dims[1] = (hsize_t)m->n_sites;
            ds = io_h5_dataset(g, io_h5_slot_names[k], H5T_STD_I8LE, 2, dims, NULL);
            break;
        case SLOT_RNG:
            dims[0] = (hsize_t)m->n_chains;
            dims[1] = (hsize_t)m->rng_state_bytes;
            ds = io_h5_dataset(g, io_h5_slot_names[k], H5T_STD_U8LE, 2, dims, NULL);
            break;
        case SLOT_ITERATION:
            ds = io_h5_dataset(g, io_h5_slot_names[k], H5T_STD_I64LE, 0, NULL, NULL);
            break;
        default: /* wall_time, samples_total */
            ds = io_h5_dataset(g, io_h5_slot_names[k], H5T_IEEE_F64LE, 0, NULL, NULL);
            break;
        }
        if (ds < 0)
            rc = IO_H5_FAIL("%s: cannot create /checkpoint/%s/%s", f->path, name,
                            io_h5_slot_names[k]);
        else
            H5Dclose(ds);
    }
    if (cplx >= 0) H5Tclose(cplx);
    H5Gclose(g);
    return rc;
}

static int io_h5_create_checkpoint(struct nqs_h5 *f)
{
    hid_t g = H5Gcreate2(f->file, "checkpoint", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return IO_H5_FAIL("%s: cannot create /checkpoint", f->path);
    int rc = NQS_OK;
    if (io_h5_attr_long(g, "n_chains", f->meta.n_chains) < 0 ||
        io_h5_attr_long(g, "n_params", f->meta.n_params) < 0 ||
        io_h5_attr_long(g, "n_sites", f->meta.n_sites) < 0 ||
        io_h5_attr_str(g, "model", f->meta.model) < 0 ||
        io_h5_attr_str(g, "lattice", f->meta.lattice) < 0 ||
        io_h5_attr_str(g, "hamiltonian", f->meta.hamiltonian) < 0)
        rc = IO_H5_FAIL("%s: cannot write the attributes of /checkpoint", f->path);
    for (int s = 0; s < 2 && rc == NQS_OK; s++) rc = io_h5_create_slot(f, g, s);
    if (rc == NQS_OK) {
        hid_t ds = io_h5_dataset(g, "active", H5T_STD_I32LE, 0, NULL, NULL);
        int none = -1;
        if (ds < 0 || H5Dwrite(ds, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, &none) < 0)
            rc = IO_H5_FAIL("%s: cannot create /checkpoint/active", f->path);
        if (ds >= 0) H5Dclose(ds);
    }
    H5Gclose(g);
    return rc;
}

/* Flush, enter SWMR write mode and open the dataset handles. */
static int io_h5_start_swmr(struct nqs_h5 *f)
{
    if (H5Fflush(f->file, H5F_SCOPE_LOCAL) < 0) return IO_H5_FAIL("%s: cannot flush", f->path);
    if (H5Fstart_swmr_write(f->file) < 0)
        return IO_H5_FAIL("%s: cannot enter single-writer/multiple-reader mode", f->path);
    return io_h5_open_objects(f, 1);
}

int nqs_h5_create(const char *path, const struct nqs_h5_meta *meta, int force,
                  struct nqs_h5 **out)
{
    *out = NULL;
    if (path == NULL || path[0] == '\0' || meta == NULL)
        NQS_ERROR(NQS_EINVAL, "result file: empty output path");
    NQS_TRY(io_h5_check_meta(meta));
    io_h5_init();
    struct stat st;
    if (!force && stat(path, &st) == 0)
        NQS_ERROR(NQS_EIO, "refusing to overwrite %s (use --force)", path);

    struct nqs_h5 *f = io_h5_handle_alloc(path);
    if (f == NULL) NQS_ERROR(NQS_ENOMEM, "out of memory opening %s", path);
    int rc = io_h5_copy_meta(f, meta);
    if (rc != NQS_OK) goto fail;
    hid_t fapl = io_h5_fapl();
    if (fapl < 0) {
        rc = IO_H5_FAIL("%s: cannot set up HDF5 file access", path);
        goto fail;
    }
    hid_t fcpl = io_h5_fcpl();
    if (fcpl < 0)
        rc = IO_H5_FAIL("%s: cannot set up HDF5 file creation", path);
    else
        f->file = H5Fcreate(path, force ? H5F_ACC_TRUNC : H5F_ACC_EXCL, fcpl, fapl);
    if (rc == NQS_OK && f->file < 0) rc = IO_H5_FAIL("cannot create result file %s", path);
    if (fcpl >= 0) H5Pclose(fcpl);
    H5Pclose(fapl);
    if (rc != NQS_OK) goto fail;
    if ((rc = io_h5_write_root(f)) != NQS_OK || (rc = io_h5_create_history(f)) != NQS_OK ||
        (meta->lat && (rc = nqs_h5r_write_lattice(f->file, path, meta->lat)) != NQS_OK) ||
        (meta->history_obs && meta->history_obs->every > 0 && meta->history_obs->n_items > 0 &&
         (rc = nqs_h5r_create_history_obs(f->file, path, meta->history_obs)) != NQS_OK) ||
        (rc = io_h5_create_checkpoint(f)) != NQS_OK || (rc = io_h5_start_swmr(f)) != NQS_OK)
        goto fail;
    f->meta.lat = NULL; /* borrowed for the creation only */
    f->meta.history_obs = NULL;
    *out = f;
    return NQS_OK;
fail:
    io_h5_release(f, 0); /* keep the first message */
    return rc;
}

/* ----------------------------------------------------------------- append */

int nqs_h5_append(struct nqs_h5 *f, const struct nqs_h5_row *row)
{
    if (f->file < 0) NQS_ERROR(NQS_EINTERNAL, "%s: append after the file was closed", f->path);
    hsize_t start = (hsize_t)f->n_rows, count = 1, size = start + 1;
    for (int k = 0; k <= NQS_H5_N_COLS; k++) {
        const char *name = k ? nqs_h5_columns[k - 1].name : "iteration";
        const void *src = k ? (const void *)((const char *)row + nqs_h5_columns[k - 1].offset)
                            : (const void *)&row->iteration;
        if (H5Dset_extent(f->hist[k], &size) < 0)
            return IO_H5_FAIL("%s: cannot extend /history/%s", f->path, name);
        hid_t fs = H5Dget_space(f->hist[k]);
        herr_t e = fs < 0 ? -1 : H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL);
        if (e >= 0)
            e = H5Dwrite(f->hist[k], k ? H5T_NATIVE_DOUBLE : H5T_NATIVE_LONG, f->mspace1, fs,
                         H5P_DEFAULT, src);
        if (e < 0) {
            int rc = IO_H5_FAIL("%s: cannot write row %ld of /history/%s", f->path, f->n_rows, name);
            if (fs >= 0) H5Sclose(fs);
            return rc;
        }
        H5Sclose(fs);
    }
    if (H5Fflush(f->file, H5F_SCOPE_LOCAL) < 0)
        return IO_H5_FAIL("%s: cannot flush /history", f->path);
    f->n_rows++;
    return NQS_OK;
}

/* ------------------------------------------------------------- checkpoint */

static int io_h5_slot_write(struct nqs_h5 *f, int s, int k, const struct nqs_h5_checkpoint *ck)
{
    const struct nqs_h5_meta *m = &f->meta;
    hid_t mt;
    const void *buf;
    long n;
    switch (k) {
    case SLOT_PARAMS: mt = f->complex_mem; buf = ck->params; n = m->n_params; break;
    case SLOT_OPT: mt = H5T_NATIVE_DOUBLE; buf = ck->optimizer_state; n = m->optimizer_state_len; break;
    case SLOT_CHAINS: mt = H5T_NATIVE_INT8; buf = ck->chains; n = (long)m->n_chains * m->n_sites; break;
    case SLOT_RNG:
        mt = H5T_NATIVE_UINT8; buf = ck->rng_state; n = (long)m->n_chains * m->rng_state_bytes;
        break;
    case SLOT_WALL: mt = H5T_NATIVE_DOUBLE; buf = &ck->wall_time; n = 1; break;
    case SLOT_SAMPLES: mt = H5T_NATIVE_DOUBLE; buf = &ck->samples_total; n = 1; break;
    default: mt = H5T_NATIVE_LONG; buf = &ck->iteration; n = 1; break;
    }
    if (n == 0) return NQS_OK;
    if (buf == NULL)
        NQS_ERROR(NQS_EINVAL, "%s: checkpoint %s is missing (NULL array)", f->path,
                  io_h5_slot_names[k]);
    if (H5Dwrite(f->slot[s][k], mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        return IO_H5_FAIL("%s: cannot write /checkpoint/slot%d/%s", f->path, s,
                          io_h5_slot_names[k]);
    return NQS_OK;
}

int nqs_h5_checkpoint_write(struct nqs_h5 *f, const struct nqs_h5_checkpoint *ck)
{
    if (f->file < 0) NQS_ERROR(NQS_EINTERNAL, "%s: checkpoint after the file was closed", f->path);
    if (ck->iteration < 0)
        NQS_ERROR(NQS_EINVAL, "%s: checkpoint iteration must be >= 0, got %ld", f->path,
                  ck->iteration);
    if (ck->iteration > f->n_rows)
        NQS_ERROR(NQS_EINVAL, "%s: checkpoint at iteration %ld but /history has only %ld rows "
                  "(append the iteration's row first)", f->path, ck->iteration, f->n_rows);
    int s = f->active == 0 ? 1 : 0;
    for (int k = 0; k < SLOT_N; k++) {
        if (k == io_h5_crash_after) {
            NQS_TRY(io_h5_sync(f));
            NQS_ERROR(NQS_EIO, "%s: simulated crash while writing checkpoint slot %d", f->path, s);
        }
        NQS_TRY(io_h5_slot_write(f, s, k, ck));
    }
    NQS_TRY(io_h5_sync(f));
    if (io_h5_crash_after >= SLOT_N)
        NQS_ERROR(NQS_EIO, "%s: simulated crash before /checkpoint/active", f->path);
    if (H5Dwrite(f->active_ds, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) < 0)
        return IO_H5_FAIL("%s: cannot write /checkpoint/active", f->path);
    NQS_TRY(io_h5_sync(f));
    f->active = s;
    f->ckpt_iteration = ck->iteration;
    return NQS_OK;
}

/* Read rows [first, first + count) of the 2-D dataset `ds` (count x cols). */
static herr_t io_h5_read_rows(hid_t ds, hid_t mt, int first, int count, int cols, void *buf)
{
    if (count == 0 || cols == 0) return 0;
    hsize_t start[2] = {(hsize_t)first, 0}, cnt[2] = {(hsize_t)count, (hsize_t)cols};
    hid_t fs = H5Dget_space(ds);
    if (fs < 0) return -1;
    hid_t ms = H5Screate_simple(2, cnt, NULL);
    herr_t e = ms < 0 ? -1 : H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL);
    if (e >= 0) e = H5Dread(ds, mt, ms, fs, H5P_DEFAULT, buf);
    if (ms >= 0) H5Sclose(ms);
    H5Sclose(fs);
    return e;
}

int nqs_h5_checkpoint_read(struct nqs_h5 *f, int first, int count, struct nqs_h5_checkpoint *ck)
{
    const struct nqs_h5_meta *m = &f->meta;
    if (f->file < 0) NQS_ERROR(NQS_EINTERNAL, "%s: checkpoint read after the file was closed", f->path);
    if (f->active < 0) NQS_ERROR(NQS_EIO, "%s has no checkpoint", f->path);
    if (first < 0 || count < 0 || first > m->n_chains - count)
        NQS_ERROR(NQS_EINVAL, "%s: chains [%d, %d) requested, the checkpoint holds chains [0, %d)",
                  f->path, first, first + count, m->n_chains);
    if (ck->params == NULL || (m->optimizer_state_len > 0 && ck->optimizer_state == NULL) ||
        (count > 0 && (ck->chains == NULL || (m->rng_state_bytes > 0 && ck->rng_state == NULL))))
        NQS_ERROR(NQS_EINVAL, "%s: checkpoint read into a NULL array", f->path);
    int s = f->active;
    const char *what = NULL;
    if (H5Dread(f->slot[s][SLOT_ITERATION], H5T_NATIVE_LONG, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                &ck->iteration) < 0)
        what = "iteration";
    else if (H5Dread(f->slot[s][SLOT_WALL], H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                     &ck->wall_time) < 0)
        what = "wall_time";
    else if (H5Dread(f->slot[s][SLOT_SAMPLES], H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                     &ck->samples_total) < 0)
        what = "samples_total";
    else if (H5Dread(f->slot[s][SLOT_PARAMS], f->complex_mem, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                     ck->params) < 0)
        what = "params";
    else if (m->optimizer_state_len > 0 &&
             H5Dread(f->slot[s][SLOT_OPT], H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                     ck->optimizer_state) < 0)
        what = "optimizer_state";
    else if (io_h5_read_rows(f->slot[s][SLOT_CHAINS], H5T_NATIVE_INT8, first, count, m->n_sites,
                             ck->chains) < 0)
        what = "chains";
    else if (io_h5_read_rows(f->slot[s][SLOT_RNG], H5T_NATIVE_UINT8, first, count,
                             m->rng_state_bytes, ck->rng_state) < 0)
        what = "rng_state";
    if (what != NULL)
        return IO_H5_FAIL("%s: cannot read /checkpoint/slot%d/%s", f->path, s, what);
    if (!(isfinite(ck->wall_time) && ck->wall_time >= 0))
        NQS_ERROR(NQS_EIO, "%s is corrupt: /checkpoint/slot%d/wall_time = %g (expected a finite "
                  "number >= 0)", f->path, s, ck->wall_time);
    if (!(isfinite(ck->samples_total) && ck->samples_total >= 0))
        NQS_ERROR(NQS_EIO, "%s is corrupt: /checkpoint/slot%d/samples_total = %g (expected a "
                  "finite number >= 0)", f->path, s, ck->samples_total);
    if (ck->iteration != f->ckpt_iteration)
        NQS_ERROR(NQS_EIO, "%s is corrupt: /checkpoint/slot%d/iteration = %ld changed to %ld",
                  f->path, s, f->ckpt_iteration, ck->iteration);
    return NQS_OK;
}

/* ----------------------------------------------------------------- finish */

static int io_h5_check_observables(const char *path, const struct nqs_h5_observable *obs, int n)
{
    for (int k = 0; k < n; k++) {
        const char *name = obs[k].name;
        size_t len = name ? strlen(name) : 0;
        int ok = len > 0 && strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789_") == len;
        if (!ok)
            NQS_ERROR(NQS_EINVAL, "%s: observable name '%s' must be letters, digits and '_'",
                      path, name ? name : "");
        if (len >= 6 && strcmp(name + len - 6, "_error") == 0)
            NQS_ERROR(NQS_EINVAL, "%s: observable name '%s' must not end in '_error' (reserved "
                      "for its error attribute)", path, name);
        for (int j = 0; j < k; j++)
            if (strcmp(obs[j].name, name) == 0)
                NQS_ERROR(NQS_EINVAL, "%s: observable '%s' given twice", path, name);
    }
    return NQS_OK;
}

/* Remove /result and /reference if present. */
static int io_h5_delete_results(hid_t file, const char *path)
{
    static const char *const names[] = {"/result", "/reference"};
    for (int k = 0; k < 2; k++) {
        htri_t ex = H5Lexists(file, names[k], H5P_DEFAULT);
        if (ex < 0 || (ex > 0 && H5Ldelete(file, names[k], H5P_DEFAULT) < 0))
            return IO_H5_FAIL("%s: cannot delete %s", path, names[k]);
    }
    return NQS_OK;
}

static int io_h5_write_result(struct nqs_h5 *f, const struct nqs_h5_result *res,
                              const struct nqs_h5_reference *ref,
                              const struct nqs_h5_observable *obs, int n_obs)
{
    NQS_TRY(io_h5_delete_results(f->file, f->path));
    hid_t g = H5Gcreate2(f->file, "result", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return IO_H5_FAIL("%s: cannot create /result", f->path);
    herr_t e = 0;
    e |= io_h5_attr_double(g, "energy", res->energy);
    e |= io_h5_attr_double(g, "energy_error", res->energy_error);
    e |= io_h5_attr_double(g, "energy_variance", res->energy_variance);
    e |= io_h5_attr_double(g, "v_score", res->v_score);
    e |= io_h5_attr_long(g, "n_sites", f->meta.n_sites);
    e |= io_h5_attr_long(g, "n_params", f->meta.n_params);
    e |= io_h5_attr_long(g, "n_samples", res->n_samples);
    e |= io_h5_attr_str(g, "model", f->meta.model);
    e |= io_h5_attr_long(g, "shared", f->meta.shared ? 1 : 0);
    e |= io_h5_attr_double(g, "tau", res->tau);
    e |= io_h5_attr_double(g, "rhat", res->rhat);
    e |= io_h5_attr_double(g, "acceptance", res->acceptance);
    e |= io_h5_attr_str(g, "convention", "pauli");
    if (res->sector) e |= io_h5_attr_str(g, "sector", res->sector);
    if (e < 0) {
        int rc = IO_H5_FAIL("%s: cannot write the attributes of /result", f->path);
        H5Gclose(g);
        return rc;
    }
    if (res->params) {
        int rc = nqs_h5r_write_complex(g, f->path, "params", res->params, f->meta.n_params,
                                       "the parameters evaluated in /result");
        if (rc != NQS_OK) {
            H5Gclose(g);
            return rc;
        }
    }
    hid_t o = H5Gcreate2(g, "observables", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
    if (o < 0) return IO_H5_FAIL("%s: cannot create /result/observables", f->path);
    if (res->obs) {
        int rc = nqs_h5r_write_vectors(o, f->path, "/result/observables", res->obs, res->obs_value,
                                       res->obs_error);
        if (rc != NQS_OK) {
            H5Gclose(o);
            return rc;
        }
    }
    for (int k = 0; k < n_obs; k++) {
        char ename[256];
        snprintf(ename, sizeof ename, "%s_error", obs[k].name);
        if (io_h5_attr_double(o, obs[k].name, obs[k].value) < 0 ||
            io_h5_attr_double(o, ename, obs[k].error) < 0) {
            int rc = IO_H5_FAIL("%s: cannot write observable %s", f->path, obs[k].name);
            H5Gclose(o);
            return rc;
        }
    }
    H5Gclose(o);
    if (ref == NULL || !isfinite(ref->energy)) return NQS_OK;

    hid_t r = H5Gcreate2(f->file, "reference", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (r < 0) return IO_H5_FAIL("%s: cannot create /reference", f->path);
    e = 0;
    e |= io_h5_attr_double(r, "energy", ref->energy);
    e |= io_h5_attr_str(r, "source", ref->source);
    e |= io_h5_attr_double(r, "relative_error", fabs(res->energy - ref->energy) / fabs(ref->energy));
    e |= io_h5_attr_str(r, "convention", "pauli");
    if (ref->sector) e |= io_h5_attr_str(r, "sector", ref->sector);
    int rc = e < 0 ? IO_H5_FAIL("%s: cannot write the attributes of /reference", f->path) : NQS_OK;
    H5Gclose(r);
    return rc;
}

int nqs_h5_finish(struct nqs_h5 *f, const struct nqs_h5_result *res,
                  const struct nqs_h5_reference *ref, const struct nqs_h5_observable *obs,
                  int n_obs)
{
    if (f->file < 0) NQS_ERROR(NQS_EINTERNAL, "%s: finish after the file was closed", f->path);
    if (n_obs < 0 || (n_obs > 0 && obs == NULL))
        NQS_ERROR(NQS_EINVAL, "%s: bad observable list", f->path);
    NQS_TRY(io_h5_check_observables(f->path, obs, n_obs));

    /* Objects and attributes cannot be created in SWMR write mode: close and
     * reopen normally. */
    io_h5_close_objects(f);
    herr_t e = H5Fclose(f->file);
    f->file = H5I_INVALID_HID;
    if (e < 0) return IO_H5_FAIL("%s: cannot close the file", f->path);
    hid_t fapl = io_h5_fapl();
    if (fapl < 0) return IO_H5_FAIL("%s: cannot set up HDF5 file access", f->path);
    f->file = H5Fopen(f->path, H5F_ACC_RDWR, fapl);
    if (f->file < 0) {
        /* A reader that follows the run (h5py File(path, "r", swmr=True),
         * nqs-analyze) holds a shared lock, and HDF5 refuses the exclusive
         * one ("Resource temporarily unavailable"). This process was the
         * only writer and has just closed the file: open it without the lock
         * rather than lose the result. The reader keeps working; it sees
         * /result after it reopens the file. */
        char reason[256];
        io_h5_reason(reason, sizeof reason);
        if (H5Pset_file_locking(fapl, 0, 1) >= 0) f->file = H5Fopen(f->path, H5F_ACC_RDWR, fapl);
        H5Eclear2(H5E_DEFAULT);
        if (f->file < 0) {
            H5Pclose(fapl);
            NQS_ERROR(NQS_EIO, "cannot reopen %s to write the result: %s (the history and the "
                      "last checkpoint are complete: `nqs run --restart %s` writes it)", f->path,
                      reason, f->path);
        }
    }
    int rc = NQS_OK;
    H5Pclose(fapl);
    if (rc == NQS_OK) rc = io_h5_write_result(f, res, ref, obs, n_obs);
    if (f->file >= 0) {
        e = H5Fclose(f->file);
        f->file = H5I_INVALID_HID;
        if (e < 0 && rc == NQS_OK) rc = IO_H5_FAIL("%s: cannot close the file", f->path);
    }
    return rc;
}

/* ---------------------------------------------------------------- reading */

/* Open `path` for reading (SWMR read, then plain) or, with `rdwr`, for
 * writing with the stale "open for writing" mark cleared. Messages say
 * whether the file is missing, not HDF5 or corrupt. */
static int io_h5_open_existing(const char *path, int rdwr, hid_t *out)
{
    io_h5_init();
    *out = H5I_INVALID_HID;
    htri_t is = H5Fis_hdf5(path);
    if (is < 0) {
        H5Eclear2(H5E_DEFAULT);
        if (access(path, R_OK) != 0) NQS_ERROR(NQS_EIO, "cannot open %s: %s", path, strerror(errno));
        NQS_ERROR(NQS_EIO, "cannot open %s: not readable as an HDF5 file", path);
    }
    if (is == 0) NQS_ERROR(NQS_EIO, "%s is not an HDF5 file", path);
    hid_t fapl = io_h5_fapl();
    /* HDF5 retries unreadable metadata of a SWMR file with exponentially
     * growing pauses: its default of 100 attempts hangs for hours on a
     * damaged file, 25 attempts give up after ~0.05 s. */
    if (fapl < 0 || H5Pset_metadata_read_attempts(fapl, 25) < 0) {
        int rc = IO_H5_FAIL("%s: cannot set up HDF5 file access", path);
        if (fapl >= 0) H5Pclose(fapl);
        return rc;
    }
    /* A clean file opens directly. A file a run was killed with is refused
     * ("already open for write", or "truncated" when the run had allocated
     * space it never wrote): a SWMR reader, which skips those checks only for
     * files marked as written by a SWMR writer, tells it from a damaged file.
     * To write, the marks are cleared with the library's own fapl properties
     * (those of `h5clear -s`); closing the file then extends it to its end of
     * allocation. */
    hid_t file = H5Fopen(path, rdwr ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl);
    if (file < 0) {
        char reason[256];
        io_h5_reason(reason, sizeof reason);
        file = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl);
        if (file >= 0 && rdwr) {
            H5Fclose(file);
            hbool_t yes = 1;
            if (H5Pexist(fapl, "clear_status_flags") > 0)
                H5Pset(fapl, "clear_status_flags", &yes);
            if (H5Pexist(fapl, "skip_eof_check") > 0) H5Pset(fapl, "skip_eof_check", &yes);
            H5Eclear2(H5E_DEFAULT);
            file = H5Fopen(path, H5F_ACC_RDWR, fapl);
            if (file < 0) io_h5_reason(reason, sizeof reason);
        }
        H5Eclear2(H5E_DEFAULT);
        if (file < 0) {
            H5Pclose(fapl);
            NQS_ERROR(NQS_EIO, "cannot open %s (corrupt or truncated HDF5 file?): %s", path,
                      reason);
        }
    }
    H5Pclose(fapl);
    *out = file;
    return NQS_OK;
}

int nqs_h5_read_column(const char *path, const char *name, double **out, long *n)
{
    *out = NULL;
    *n = 0;
    hid_t file;
    NQS_TRY(io_h5_open_existing(path, 0, &file));
    char obj[256];
    snprintf(obj, sizeof obj, "/history/%s", name);
    int rc = NQS_OK;
    hid_t ds = H5Dopen2(file, obj, H5P_DEFAULT), sp = H5I_INVALID_HID;
    hsize_t dims[2] = {0, 0};
    if (ds < 0) {
        rc = IO_H5_FAIL("%s: no history column %s", path, obj);
        goto done;
    }
    sp = H5Dget_space(ds);
    if (sp < 0 || H5Sget_simple_extent_ndims(sp) != 1 ||
        H5Sget_simple_extent_dims(sp, dims, NULL) < 0) {
        rc = IO_H5_FAIL("%s: %s is not a 1-D dataset", path, obj);
        goto done;
    }
    if (dims[0] > 0) {
        *out = malloc(dims[0] * sizeof **out);
        if (*out == NULL) {
            rc = nqs_error_set(NQS_ENOMEM, __FILE__, __LINE__, "out of memory reading %s", obj);
            goto done;
        }
        if (H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) < 0) {
            rc = IO_H5_FAIL("%s: cannot read %s", path, obj);
            free(*out);
            *out = NULL;
            goto done;
        }
    }
    *n = (long)dims[0];
done:
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    H5Fclose(file);
    return rc;
}

int nqs_h5_read_attr_string(const char *path, const char *object, const char *name, char **out)
{
    hid_t file;
    NQS_TRY(io_h5_open_existing(path, 0, &file));
    int rc = NQS_OK;
    if (io_h5_attr_read_str(file, object, name, out) < 0)
        rc = IO_H5_FAIL("%s: cannot read string attribute %s of %s", path, name, object);
    H5Fclose(file);
    return rc;
}

int nqs_h5_read_attr_double(const char *path, const char *object, const char *name, double *out)
{
    hid_t file;
    NQS_TRY(io_h5_open_existing(path, 0, &file));
    int rc = NQS_OK;
    if (io_h5_attr_read_num(file, object, name, out) < 0)
        rc = IO_H5_FAIL("%s: cannot read numeric attribute %s of %s", path, name, object);
    H5Fclose(file);
    return rc;
}

/* ------------------------------------------------------------------ probe */

/* Child side of nqs_h5_probe: read every attribute of an object. */
static herr_t io_h5_probe_attr(hid_t loc, const char *name, const H5A_info_t *info, void *op)
{
    (void)info;
    (void)op;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return 0;
    hid_t type = H5Aget_type(a), space = H5Aget_space(a);
    hssize_t n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    size_t size = type >= 0 ? H5Tget_size(type) : 0;
    if (n > 0 && n < (1 << 20) && size > 0 && (double)n * (double)size < 268435456.0) {
        if (H5Tis_variable_str(type) > 0) {
            char **s = calloc((size_t)n, sizeof *s);
            if (s && H5Aread(a, type, s) >= 0)
                for (hssize_t k = 0; k < n; k++) H5free_memory(s[k]);
            free(s);
        } else if (H5Tget_class(type) != H5T_VLEN) {
            void *buf = malloc((size_t)n * size);
            if (buf) H5Aread(a, type, buf);
            free(buf);
        }
    }
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    H5Aclose(a);
    return 0;
}

/* Child side of nqs_h5_probe: every object's attributes and fixed-size data. */
static herr_t io_h5_probe_obj(hid_t root, const char *name, const H5O_info_t *info, void *op)
{
    (void)op;
    hid_t o = H5Oopen(root, name, H5P_DEFAULT);
    if (o < 0) return 0;
    H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, io_h5_probe_attr, NULL);
    if (info->type == H5O_TYPE_DATASET) {
        hid_t type = H5Dget_type(o), space = H5Dget_space(o);
        hssize_t n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
        size_t size = type >= 0 ? H5Tget_size(type) : 0;
        if (n > 0 && size > 0 && H5Tget_class(type) != H5T_VLEN && H5Tis_variable_str(type) <= 0 &&
            (double)n * (double)size < 1073741824.0) {
            void *buf = malloc((size_t)n * size);
            if (buf) H5Dread(o, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
            free(buf);
        }
        if (space >= 0) H5Sclose(space);
        if (type >= 0) H5Tclose(type);
    }
    H5Oclose(o);
    return 0;
}

int nqs_h5_probe(const char *path, double timeout)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return NQS_OK; /* cannot probe: the reads below are still checked */
    if (pid == 0) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        hid_t file;
        if (io_h5_open_existing(path, 0, &file) == NQS_OK) {
            io_h5_probe_obj(file, "/", &(H5O_info_t){.type = H5O_TYPE_GROUP}, NULL);
            H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_NATIVE, io_h5_probe_obj, NULL, H5O_INFO_BASIC);
        }
        _exit(0); /* an unreadable file is reported by the caller's own reads */
    }
    /* Poll from 0.5 ms up to 20 ms: a healthy file is read in a few
     * milliseconds, and the fuzz harness probes every input. */
    long step_ns = 500000;
    int status = 0;
    for (double waited = 0;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (r < 0 && errno != EINTR) return NQS_OK;
        if (waited >= timeout) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            NQS_ERROR(NQS_EIO, "%s is damaged: reading it with libhdf5 did not finish within %g s "
                      "(a damaged HDF5 file can make the library loop); refusing to use it",
                      path, timeout);
        }
        nanosleep(&(struct timespec){0, step_ns}, NULL);
        waited += 1e-9 * (double)step_ns;
        if (step_ns < 20000000) step_ns *= 2;
    }
    if (WIFSIGNALED(status))
        NQS_ERROR(NQS_EIO, "%s is damaged: reading it crashed libhdf5 (signal %d); refusing to use "
                  "it", path, WTERMSIG(status));
    /* The child exits 0 after its reads whatever they returned; any other
     * status is a death inside the library that a sanitizer (or libhdf5's
     * own abort handling) turned into an exit code. */
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        NQS_ERROR(NQS_EIO, "%s is damaged: reading it made libhdf5 fail (exit status %d); refusing "
                  "to use it", path, WEXITSTATUS(status));
    return NQS_OK;
}

/* ---------------------------------------------------------------- restart */

/* A restart reads every dataset with H5S_ALL into buffers sized from the
 * root attributes, and later writes the inactive slot the same way: before
 * any of that, every dataset the run touches must have the rank, the extents
 * and the type class those sizes imply (a damaged or crafted file would
 * otherwise make HDF5 read or write past the buffers). */
struct io_h5_expect {
    const char *obj;
    H5T_class_t cl; /* H5T_INTEGER, H5T_FLOAT or H5T_COMPOUND (complex {r, i}) */
    int rank;       /* 0: exactly one element (scalar); 1 or 2: the extents below */
    hsize_t dims[2];
    int any_rows;   /* rank 1: any length (the /history columns) */
};

static void io_h5_fmt_dims(int rank, const hsize_t *dims, char *buf, size_t len)
{
    if (rank == 0) {
        snprintf(buf, len, "a scalar");
    } else if (rank == 1) {
        snprintf(buf, len, "shape [%llu]", (unsigned long long)dims[0]);
    } else if (rank == 2) {
        snprintf(buf, len, "shape [%llu, %llu]", (unsigned long long)dims[0],
                 (unsigned long long)dims[1]);
    } else {
        snprintf(buf, len, "rank %d", rank);
    }
}

static const char *io_h5_class_name(H5T_class_t cl)
{
    switch (cl) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "floating-point";
    case H5T_COMPOUND: return "complex {r, i}";
    default: return "another type";
    }
}

/* The type of `ds` is what `cl` asks for: an integer or float class, or a
 * compound of two floating-point members (a complex number). */
static int io_h5_type_ok(hid_t ds, H5T_class_t cl)
{
    hid_t t = H5Dget_type(ds);
    if (t < 0) return 0;
    int ok = H5Tget_class(t) == cl;
    if (ok && cl == H5T_COMPOUND) {
        ok = H5Tget_nmembers(t) == 2;
        for (unsigned k = 0; ok && k < 2; k++) ok = H5Tget_member_class(t, k) == H5T_FLOAT;
    }
    H5Tclose(t);
    return ok;
}

/* Check one dataset against `e`; *rows gets the length of a rank-1 dataset. */
static int io_h5_check_dataset(const struct nqs_h5 *f, hid_t file, const struct io_h5_expect *e,
                               hsize_t *rows)
{
    hid_t ds = H5Dopen2(file, e->obj, H5P_DEFAULT);
    if (ds < 0) return IO_H5_FAIL("%s is corrupt: cannot open %s", f->path, e->obj);
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[2] = {0, 0}, maxdims[2] = {0, 0};
    int rank = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    H5S_class_t sc = sp < 0 ? H5S_NO_CLASS : H5Sget_simple_extent_type(sp);
    hssize_t npoints = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    if (rank >= 1 && rank <= 2) H5Sget_simple_extent_dims(sp, dims, maxdims);
    if (sp >= 0) H5Sclose(sp);
    int type_ok = io_h5_type_ok(ds, e->cl);
    H5Dclose(ds);
    H5Eclear2(H5E_DEFAULT);
    if (rank < 0 || sc == H5S_NO_CLASS)
        NQS_ERROR(NQS_EIO, "%s is corrupt: cannot read the dataspace of %s", f->path, e->obj);
    if (!type_ok)
        NQS_ERROR(NQS_EIO, "%s is corrupt: %s is not %s data", f->path, e->obj,
                  io_h5_class_name(e->cl));
    int ok;
    if (e->rank == 0)
        ok = (sc == H5S_SCALAR || sc == H5S_SIMPLE) && npoints == 1;
    else if (e->any_rows) /* appended to and truncated: extendible */
        ok = sc == H5S_SIMPLE && rank == 1 && maxdims[0] == H5S_UNLIMITED;
    else
        ok = sc == H5S_SIMPLE && rank == e->rank && dims[0] == e->dims[0] &&
             (rank < 2 || dims[1] == e->dims[1]);
    if (!ok) {
        char have[64], want[64];
        if (sc == H5S_NULL) snprintf(have, sizeof have, "no data (null dataspace)");
        else io_h5_fmt_dims(rank, dims, have, sizeof have);
        if (e->any_rows) snprintf(want, sizeof want, "one extendible dimension");
        else io_h5_fmt_dims(e->rank, e->dims, want, sizeof want);
        NQS_ERROR(NQS_EIO, "%s is corrupt: %s has %s, expected %s", f->path, e->obj, have, want);
    }
    if (rows) *rows = dims[0];
    return NQS_OK;
}

/* An integer attribute in [lo, hi] (the file's sizes; a double that is not an
 * integer in range would make the (int) conversion undefined). */
static int io_h5_read_int_attr(const struct nqs_h5 *f, const char *obj, const char *name, int lo,
                               int hi, int *out)
{
    double v;
    if (io_h5_attr_read_num(f->file, obj, name, &v) < 0)
        return IO_H5_FAIL("%s is corrupt: cannot read attribute %s of %s (expected one number)",
                          f->path, name, obj);
    if (!(v >= lo && v <= hi) || v != floor(v))
        NQS_ERROR(NQS_EIO, "%s is corrupt: attribute %s of %s = %.17g (expected an integer in "
                  "[%d, %d])", f->path, name, obj, v, lo, hi);
    *out = (int)v;
    return NQS_OK;
}

/* The extent `which` of a checkpoint dataset in both slots, which must agree
 * (the sizes the input cannot give: optimiser state and RNG state bytes). */
static int io_h5_slot_extent(const struct nqs_h5 *f, const char *name, int which, int *out)
{
    hsize_t ext[2] = {0, 0};
    for (int s = 0; s < 2; s++) {
        char obj[64];
        snprintf(obj, sizeof obj, "/checkpoint/slot%d/%s", s, name);
        hid_t ds = H5Dopen2(f->file, obj, H5P_DEFAULT);
        hid_t sp = ds < 0 ? H5I_INVALID_HID : H5Dget_space(ds);
        hsize_t dims[2] = {0, 0};
        int rank = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
        int ok = rank == which + 1 && H5Sget_simple_extent_dims(sp, dims, NULL) >= 0;
        if (sp >= 0) H5Sclose(sp);
        if (ds >= 0) H5Dclose(ds);
        if (!ok) {
            H5Eclear2(H5E_DEFAULT);
            NQS_ERROR(NQS_EIO, "%s is corrupt: %s is missing or not %d-dimensional", f->path, obj,
                      which + 1);
        }
        ext[s] = dims[which];
        if (ext[s] > (hsize_t)INT_MAX)
            NQS_ERROR(NQS_EIO, "%s is corrupt: %s has %llu entries per row (at most %d)", f->path,
                      obj, (unsigned long long)ext[s], INT_MAX);
    }
    if (ext[0] != ext[1])
        NQS_ERROR(NQS_EIO, "%s is corrupt: /checkpoint/slot0/%s and /checkpoint/slot1/%s differ in "
                  "size (%llu and %llu)", f->path, name, name, (unsigned long long)ext[0],
                  (unsigned long long)ext[1]);
    *out = (int)ext[0];
    return NQS_OK;
}

/* Read the meta of an open nqsvmc file into the handle. */
static int io_h5_read_meta(struct nqs_h5 *f)
{
    char *prog = NULL;
    if (io_h5_attr_read_str(f->file, "/", "program", &prog) < 0) {
        H5Eclear2(H5E_DEFAULT);
        NQS_ERROR(NQS_EIO, "%s is not an nqsvmc result file (no root attribute 'program')",
                  f->path);
    }
    int is_ours = strcmp(prog, "nqsvmc") == 0;
    if (!is_ours) {
        nqs_error_set(NQS_EIO, __FILE__, __LINE__,
                      "%s is not an nqsvmc result file (program = '%.64s')", f->path, prog);
        free(prog);
        return NQS_EIO;
    }
    free(prog);
    for (int k = 0; k < STR_N; k++)
        if (io_h5_attr_read_str(f->file, "/", io_h5_root_str_names[k], &f->str[k]) < 0)
            return IO_H5_FAIL("%s is corrupt: cannot read attribute %s of / (expected one string)",
                              f->path, io_h5_root_str_names[k]);
    io_h5_point_meta(f);
    NQS_TRY(io_h5_read_int_attr(f, "/", "shared", 0, 1, &f->meta.shared));
    NQS_TRY(io_h5_read_int_attr(f, "/", "n_sites", 1, INT_MAX, &f->meta.n_sites));
    NQS_TRY(io_h5_read_int_attr(f, "/", "n_params", 1, INT_MAX, &f->meta.n_params));
    NQS_TRY(io_h5_read_int_attr(f, "/checkpoint", "n_chains", 1, INT_MAX, &f->meta.n_chains));
    NQS_TRY(io_h5_slot_extent(f, "rng_state", 1, &f->meta.rng_state_bytes));
    NQS_TRY(io_h5_slot_extent(f, "optimizer_state", 0, &f->meta.optimizer_state_len));
    return NQS_OK;
}

/* Every dataset of /checkpoint (both slots: the inactive one is written next)
 * has the layout the meta implies (/history: io_h5_check_history, which every
 * caller runs next, once the checkpoint's iteration is known). */
static int io_h5_check_layout(const struct nqs_h5 *f)
{
    const struct nqs_h5_meta *m = &f->meta;
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < SLOT_N; k++) {
            struct io_h5_expect e = {NULL, H5T_FLOAT, 0, {0, 0}, 0};
            char obj[64];
            snprintf(obj, sizeof obj, "/checkpoint/slot%d/%s", s, io_h5_slot_names[k]);
            e.obj = obj;
            switch (k) {
            case SLOT_PARAMS: e = (struct io_h5_expect){obj, H5T_COMPOUND, 1, {(hsize_t)m->n_params, 0}, 0}; break;
            case SLOT_OPT: e = (struct io_h5_expect){obj, H5T_FLOAT, 1, {(hsize_t)m->optimizer_state_len, 0}, 0}; break;
            case SLOT_CHAINS:
                e = (struct io_h5_expect){obj, H5T_INTEGER, 2, {(hsize_t)m->n_chains, (hsize_t)m->n_sites}, 0};
                break;
            case SLOT_RNG:
                e = (struct io_h5_expect){obj, H5T_INTEGER, 2,
                                          {(hsize_t)m->n_chains, (hsize_t)m->rng_state_bytes}, 0};
                break;
            case SLOT_ITERATION: e.cl = H5T_INTEGER; break;
            default: break; /* wall_time, samples_total: float scalars */
            }
            NQS_TRY(io_h5_check_dataset(f, f->file, &e, NULL));
        }
    struct io_h5_expect act = {"/checkpoint/active", H5T_INTEGER, 0, {0, 0}, 0};
    NQS_TRY(io_h5_check_dataset(f, f->file, &act, NULL));
    return NQS_OK;
}

/* The file must hold the same problem as `want`. */
static int io_h5_check_match(const struct nqs_h5 *f, const struct nqs_h5_meta *want)
{
    const struct nqs_h5_meta *m = &f->meta;
    const char *sn[] = {"lattice", "hamiltonian", "model"};
    const char *sf[] = {m->lattice, m->hamiltonian, m->model};
    const char *sw[] = {want->lattice, want->hamiltonian, want->model};
    for (int k = 0; k < 3; k++)
        if (sw[k] != NULL && strcmp(sf[k], sw[k]) != 0)
            NQS_ERROR(NQS_EIO, "cannot restart from %s: it holds %s '%.200s', the input asks for "
                      "'%s'", f->path, sn[k], sf[k], sw[k]);
    const char *in[] = {"n_sites", "n_params", "n_chains", "rng_state_bytes",
                        "optimizer_state_len"};
    int vf[] = {m->n_sites, m->n_params, m->n_chains, m->rng_state_bytes, m->optimizer_state_len};
    int vw[] = {want->n_sites, want->n_params, want->n_chains, want->rng_state_bytes,
                want->optimizer_state_len};
    for (int k = 0; k < 5; k++)
        if (vf[k] != vw[k])
            NQS_ERROR(NQS_EIO, "cannot restart from %s: it holds %s = %d, the input gives %d",
                      f->path, in[k], vf[k], vw[k]);
    return NQS_OK;
}

/* Active slot and its iteration count (the layout is checked). */
static int io_h5_read_active(struct nqs_h5 *f)
{
    hid_t ds = H5Dopen2(f->file, "/checkpoint/active", H5P_DEFAULT);
    int active = -2;
    herr_t e = ds < 0 ? -1 : H5Dread(ds, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, &active);
    int rc = e < 0 ? IO_H5_FAIL("%s is corrupt: cannot read /checkpoint/active", f->path) : NQS_OK;
    if (ds >= 0) H5Dclose(ds);
    NQS_TRY(rc);
    if (active == -1) NQS_ERROR(NQS_EIO, "%s has no checkpoint", f->path);
    if (active != 0 && active != 1)
        NQS_ERROR(NQS_EIO, "%s is corrupt: /checkpoint/active = %d (expected 0 or 1)", f->path,
                  active);
    char obj[64];
    snprintf(obj, sizeof obj, "/checkpoint/slot%d/iteration", active);
    long it = -1;
    ds = H5Dopen2(f->file, obj, H5P_DEFAULT);
    e = ds < 0 ? -1 : H5Dread(ds, H5T_NATIVE_LONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, &it);
    rc = e < 0 ? IO_H5_FAIL("%s is corrupt: cannot read %s", f->path, obj) : NQS_OK;
    if (ds >= 0) H5Dclose(ds);
    NQS_TRY(rc);
    if (it < 0) NQS_ERROR(NQS_EIO, "%s is corrupt: %s = %ld", f->path, obj, it);
    f->active = active;
    f->ckpt_iteration = it;
    return NQS_OK;
}

/* A /history column missing from a file that has the others: columns are
 * only ever added (io_h5.h), so the file comes from an older version. */
static int io_h5_older(const char *path, const char *name)
{
    NQS_ERROR(NQS_EIO, "%s has no %s: it was written by an older nqsvmc, whose result files this "
              "version cannot continue (start a new run, or continue it with the version named "
              "by its root attributes version and git_commit)", path, name);
}

/* Every /history column has one extendible dimension of its type and holds
 * at least the checkpoint's iteration count. */
static int io_h5_check_history(const struct nqs_h5 *f)
{
    for (int k = 0; k <= NQS_H5_N_COLS; k++) {
        char obj[128];
        snprintf(obj, sizeof obj, "/history/%s", k ? nqs_h5_columns[k - 1].name : "iteration");
        struct io_h5_expect e = {obj, k ? H5T_FLOAT : H5T_INTEGER, 1, {0, 0}, 1};
        hsize_t rows = 0;
        if (H5Lexists(f->file, obj, H5P_DEFAULT) == 0) return io_h5_older(f->path, obj);
        NQS_TRY(io_h5_check_dataset(f, f->file, &e, &rows));
        if (rows < (hsize_t)f->ckpt_iteration)
            NQS_ERROR(NQS_EIO, "%s is corrupt: %s has %llu rows but the checkpoint is at "
                      "iteration %ld", f->path, obj, (unsigned long long)rows, f->ckpt_iteration);
    }
    return NQS_OK;
}

/* Cut every /history column to the checkpoint's iteration count. */
static int io_h5_truncate_history(struct nqs_h5 *f)
{
    hsize_t keep = (hsize_t)f->ckpt_iteration;
    for (int k = 0; k <= NQS_H5_N_COLS; k++) {
        char obj[128];
        snprintf(obj, sizeof obj, "/history/%s", k ? nqs_h5_columns[k - 1].name : "iteration");
        hid_t ds = H5Dopen2(f->file, obj, H5P_DEFAULT);
        herr_t e = ds < 0 ? -1 : H5Dset_extent(ds, &keep);
        int rc = e < 0 ? IO_H5_FAIL("%s: cannot truncate %s", f->path, obj) : NQS_OK;
        if (ds >= 0) H5Dclose(ds);
        NQS_TRY(rc);
    }
    f->n_rows = f->ckpt_iteration;
    return nqs_h5r_truncate_history_obs(f->file, f->path, f->ckpt_iteration);
}

static int io_h5_read_open(const char *path, const struct nqs_h5_meta *expect, int history,
                           struct nqs_h5 **out)
{
    *out = NULL;
    if (path == NULL || path[0] == '\0') NQS_ERROR(NQS_EINVAL, "restart: empty file name");
    struct nqs_h5 *f = io_h5_handle_alloc(path);
    if (f == NULL) NQS_ERROR(NQS_ENOMEM, "out of memory opening %s", path);
    int rc;
    /* Every check on a read-only open: a refused restart leaves the file byte
     * for byte as it was (a read-write open and close already rewrites the
     * times in the superblock extension). */
    if ((rc = io_h5_open_existing(path, 0, &f->file)) != NQS_OK ||
        (rc = io_h5_read_meta(f)) != NQS_OK ||
        (expect != NULL && (rc = io_h5_check_match(f, expect)) != NQS_OK) ||
        (rc = io_h5_check_layout(f)) != NQS_OK || (rc = io_h5_read_active(f)) != NQS_OK ||
        (history && (rc = io_h5_check_history(f)) != NQS_OK) ||
        (rc = io_h5_open_objects(f, history)) != NQS_OK)
        goto fail;
    f->restart_pending = history;
    *out = f;
    return NQS_OK;
fail:
    io_h5_release(f, 0); /* keep the first message */
    return rc;
}

int nqs_h5_restart_open(const char *path, const struct nqs_h5_meta *expect, struct nqs_h5 **out)
{
    return io_h5_read_open(path, expect, 1, out);
}

int nqs_h5_state_open(const char *path, struct nqs_h5 **out)
{
    return io_h5_read_open(path, NULL, 0, out);
}

int nqs_h5_restart_commit(struct nqs_h5 *f)
{
    if (!f->restart_pending)
        NQS_ERROR(NQS_EINTERNAL, "%s: restart commit without nqs_h5_restart_open", f->path);
    long it = f->ckpt_iteration;
    int active = f->active;
    io_h5_close_objects(f);
    H5Fclose(f->file);
    f->file = H5I_INVALID_HID;
    NQS_TRY(io_h5_open_existing(f->path, 1, &f->file));
    /* The same checks on the file as it is now, then the first write. */
    NQS_TRY(io_h5_check_layout(f));
    NQS_TRY(io_h5_read_active(f));
    if (f->ckpt_iteration != it || f->active != active)
        NQS_ERROR(NQS_EIO, "%s changed while the restart was being prepared (checkpoint at "
                  "iteration %ld, now %ld)", f->path, it, f->ckpt_iteration);
    NQS_TRY(io_h5_check_history(f));
    NQS_TRY(io_h5_truncate_history(f));
    NQS_TRY(io_h5_delete_results(f->file, f->path));
    NQS_TRY(io_h5_start_swmr(f));
    f->restart_pending = 0;
    return NQS_OK;
}

int nqs_h5_restart(const char *path, const struct nqs_h5_meta *expect, struct nqs_h5 **out)
{
    NQS_TRY(nqs_h5_restart_open(path, expect, out));
    int rc = nqs_h5_restart_commit(*out);
    if (rc != NQS_OK) {
        io_h5_release(*out, 0);
        *out = NULL;
    }
    return rc;
}

int nqs_h5_read_params(const char *path, const char *dataset, double complex *par, int n)
{
    hid_t file;
    NQS_TRY(io_h5_open_existing(path, 0, &file));
    int rc = nqs_h5r_read_complex(file, path, dataset, par, n);
    H5Fclose(file);
    return rc;
}

int nqs_h5_has_object(const char *path, const char *name)
{
    hid_t file;
    if (io_h5_open_existing(path, 0, &file) != NQS_OK) return 0;
    int yes = H5Lexists(file, name, H5P_DEFAULT) > 0;
    H5Eclear2(H5E_DEFAULT);
    H5Fclose(file);
    return yes;
}

int nqs_h5_write_measurement(const char *path, int create, int force,
                             const struct nqs_h5_measurement *m, char *group, size_t len)
{
    io_h5_init();
    hid_t file = H5I_INVALID_HID;
    int rc = NQS_OK;
    if (create) {
        struct stat st;
        if (!force && stat(path, &st) == 0) NQS_ERROR(NQS_EIO, "refusing to overwrite %s (use --force)", path);
        hid_t fapl = io_h5_fapl(), fcpl = io_h5_fcpl();
        if (fapl >= 0 && fcpl >= 0) file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
        if (fapl >= 0) H5Pclose(fapl);
        if (fcpl >= 0) H5Pclose(fcpl);
        if (file < 0) return IO_H5_FAIL("cannot create %s", path);
        herr_t e = 0;
        e |= io_h5_attr_str(file, "program", "nqsvmc");
        e |= io_h5_attr_str(file, "version", NQS_VERSION);
        e |= io_h5_attr_str(file, "convention", "pauli");
        e |= io_h5_attr_str(file, "input", m->input ? m->input : "");
        e |= io_h5_attr_str(file, "source_file", m->source_file ? m->source_file : "");
        e |= io_h5_attr_str(file, "lattice", m->lattice ? m->lattice : "");
        e |= io_h5_attr_str(file, "hamiltonian", m->hamiltonian ? m->hamiltonian : "");
        e |= io_h5_attr_str(file, "model", m->model ? m->model : "");
        e |= io_h5_attr_long(file, "n_params", m->n_params);
        if (m->lat) e |= io_h5_attr_long(file, "n_sites", m->lat->n_sites);
        if (e < 0) rc = IO_H5_FAIL("%s: cannot write the attributes of /", path);
        if (rc == NQS_OK && m->lat) rc = nqs_h5r_write_lattice(file, path, m->lat);
    } else {
        NQS_TRY(io_h5_open_existing(path, 1, &file));
    }
    if (rc == NQS_OK) rc = nqs_h5r_write_measure(file, path, m, group, len);
    if (H5Fclose(file) < 0 && rc == NQS_OK) rc = IO_H5_FAIL("%s: cannot close the file", path);
    return rc;
}

int nqs_h5_append_obs(struct nqs_h5 *f, const struct nqs_obs *obs, long iteration,
                      const double *value, const double *error)
{
    if (f->file < 0) NQS_ERROR(NQS_EINTERNAL, "%s: append after the file was closed", f->path);
    return nqs_h5r_append_history_obs(f->file, f->path, obs, iteration, value, error);
}

int nqs_h5_check_history_obs(const struct nqs_h5 *f, const struct nqs_obs *obs)
{
    return nqs_h5r_check_history_obs(f->file, f->path, obs);
}

/* -------------------------------------------------------------- accessors */

const struct nqs_h5_meta *nqs_h5_get_meta(const struct nqs_h5 *f) { return &f->meta; }
long nqs_h5_n_rows(const struct nqs_h5 *f) { return f->n_rows; }
long nqs_h5_checkpoint_iteration(const struct nqs_h5 *f) { return f->ckpt_iteration; }
