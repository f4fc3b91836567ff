/*
 * io_h5.h - the HDF5 result file of a run (layout: docs/results-format.md).
 *
 * Life of a file:
 *   nqs_h5_create()            root attributes, empty /history, two empty
 *                              checkpoint slots, then SWMR write mode
 *   nqs_h5_append()            one /history row per iteration, flushed
 *   nqs_h5_checkpoint_write()  into the inactive slot, then /checkpoint/active
 *   nqs_h5_finish()            leaves SWMR mode, writes /result, /reference
 *   nqs_h5_close()             closes (if still open) and frees the handle
 * or, to continue a run:
 *   nqs_h5_restart_open()      checks the file (read-only, nothing written)
 *   nqs_h5_checkpoint_read()   the state of any range of global chain indices
 *   nqs_h5_restart_commit()    truncates /history to the checkpoint, drops
 *                              /result and /reference, re-enters SWMR write
 *                              mode (nqs_h5_restart() = open + commit)
 *
 * While the run is going the file is in single-writer/multiple-reader mode:
 * readers open it with H5F_ACC_SWMR_READ (h5py: File(path, "r", swmr=True)).
 * Every append and checkpoint is flushed, so after a SIGKILL the file holds
 * every completed row and the last completed checkpoint; until the next
 * restart (or `h5clear -s FILE`) such a file must be opened with SWMR read,
 * because its superblock still says a writer has it open.
 * Only rank 0 of an MPI run uses this module. Not thread safe (HDF5 is not).
 * Every failure is NQS_EIO (NQS_EINVAL for bad arguments, NQS_ENOMEM) with a
 * message naming the file and the HDF5 object; HDF5's own error printing is
 * switched off.
 */
#ifndef NQS_IO_H5_H
#define NQS_IO_H5_H

#include <complex.h>
#include <stddef.h>
#include <stdint.h>

/* The float64 columns of /history, in file order, after the int64 column
 * `iteration`: X(name, one-line meaning). Adding a column is one line here;
 * the struct field, the dataset and its `description` attribute follow. */
#define NQS_H5_COLUMNS(X)                                                                  \
    X(energy, "Monte Carlo mean of Re E_loc (Pauli units)")                                \
    X(energy_imag, "mean of Im E_loc (should be ~0 within error)")                          \
    X(energy_error, "standard error of energy, autocorrelation-aware")                      \
    X(energy_variance, "<|E_loc - E|^2>")                                                   \
    X(v_score, "N * variance / energy^2")                                                   \
    X(acceptance, "Metropolis acceptance rate")                                             \
    X(rhat, "split-Rhat of E_loc over chains")                                              \
    X(tau, "integrated autocorrelation time of E_loc, in samples")                          \
    X(wall_time, "seconds since the run started (cumulative over restarts)")                \
    X(learning_rate, "learning rate used in this iteration's update")                       \
    X(diag_shift, "absolute SR diagonal shift used (0 for SGD/Adam)")                       \
    X(sr_residual, "relative residual of the SR linear solve (0 for direct solvers)")       \
    X(grad_norm, "||F||_2, norm of the energy gradient")                                    \
    X(n_samples, "samples used this iteration (all chains)")                                \
    X(samples_total, "cumulative samples used since the start of the run")                  \
    X(step_length, "Fubini-Study length of this iteration's update, eta sqrt(delta^H S delta) " \
                   "(NaN unless SR with max_step > 0)")                                      \
    X(rejections, "updates the step review has rejected since the start of the run")      \
    X(clipped, "samples whose local energy the update saw clamped ([optimizer] "             \
               "clip_local_energy; 0 when off or with exact enumeration)")

/* One /history row. */
struct nqs_h5_row {
    long iteration; /* int64 column `iteration`, from 0 */
#define NQS_H5_FIELD_(name, meaning) double name;
    NQS_H5_COLUMNS(NQS_H5_FIELD_)
#undef NQS_H5_FIELD_
};

#define NQS_H5_COUNT_(name, meaning) +1
enum { NQS_H5_N_COLS = 0 NQS_H5_COLUMNS(NQS_H5_COUNT_) }; /* float64 columns */
#undef NQS_H5_COUNT_

/* The float64 columns as a table (io_h5.c), in file order. */
struct nqs_h5_column {
    const char *name;
    const char *meaning;
    size_t offset; /* of the double in struct nqs_h5_row */
};
extern const struct nqs_h5_column nqs_h5_columns[NQS_H5_N_COLS];

struct nqs_lattice;
struct nqs_obs;

/* Root attributes and checkpoint sizes. For nqs_h5_create every pointer is
 * borrowed; NULL strings are written as "", except version, git_commit and
 * date which default to NQS_VERSION, NQS_GIT_COMMIT and the current UTC time
 * (ISO 8601). From nqs_h5_get_meta the strings belong to the handle. */
struct nqs_h5_meta {
    const char *version, *git_commit, *date, *command_line;
    const char *input;       /* effective INI text */
    const char *lattice;     /* e.g. "square 4x4 periodic,periodic" */
    const char *hamiltonian; /* registry name */
    const char *model;       /* registry name */
    int shared;              /* model shares weights over translations */
    int n_sites, n_params;   /* N, complex parameters: both >= 1 */
    int n_chains;            /* chains of the whole run (all ranks), >= 1 */
    int rng_state_bytes;     /* bytes of one chain's RNG state, >= 0 */
    int optimizer_state_len; /* doubles of optimiser state, >= 0 */
    /* nqs_h5_create only (borrowed, may be NULL): the lattice written as
     * /lattice, and the observables measured every obs->every iterations
     * (/history/observables, created with the file; none when every = 0) */
    const struct nqs_lattice *lat;
    const struct nqs_obs *history_obs;
};

/* One checkpoint. Arrays are caller-owned: params (n_params), optimizer_state
 * (optimizer_state_len; may be NULL when 0), chains (count x n_sites, row r is
 * global chain first + r), rng_state (count x rng_state_bytes). */
struct nqs_h5_checkpoint {
    long iteration;       /* iterations completed */
    double wall_time;     /* cumulative seconds */
    double samples_total; /* cumulative samples */
    double complex *params;
    double *optimizer_state;
    int8_t *chains;
    uint8_t *rng_state;
};

/* /result attributes computed by the caller; n_sites, n_params, model and
 * shared are taken from the file's meta. */
struct nqs_h5_result {
    double energy, energy_error, energy_variance, v_score;
    double tau, rhat, acceptance;
    long n_samples;
    /* optional (NULL: not written): the evaluated parameters (/result/params,
     * n_params values), the symmetry sector (attribute `sector`), and the
     * vector observables of obs (obs_value/obs_error: obs->n columns) as
     * groups of /result/observables; scalars go through nqs_h5_observable */
    const double complex *params;
    const char *sector;
    const struct nqs_obs *obs;
    const double *obs_value, *obs_error;
};

/* /reference: written when energy is finite. source and sector borrowed. */
struct nqs_h5_reference {
    double energy; /* Pauli units */
    const char *source;
    const char *sector; /* the run's symmetry sector (docs/symmetry.md); NULL: not written */
};

/* One scalar observable of the final evaluation: attributes `name` and
 * `name_error` of /result/observables. `name` must match [A-Za-z0-9_]+, must
 * not end in "_error" and must be unique. */
struct nqs_h5_observable {
    const char *name;
    double value, error;
};

/* The scalar observables of `obs` with their values and errors (columns of
 * value[], error[]), then, when lanczos != NULL (energy, error, alpha of
 * nqs_vstate_lanczos), energy_lanczos and lanczos_alpha (error NaN): into
 * out[NQS_H5_MAX_SCALARS]; returns the count. */
#define NQS_H5_MAX_SCALARS 18 /* NQS_OBS_MAX (observables.h) + 2 */
int nqs_h5_scalars(const struct nqs_obs *obs, const double *value, const double *error,
                   const double *lanczos, struct nqs_h5_observable *out);

struct nqs_h5;

/* Create `path` (see the life cycle above) and return the open handle in
 * *out. An existing path is refused unless `force` (then truncated):
 * NQS_EIO "refusing to overwrite FILE (use --force)". NQS_EIO naming the file
 * and the system's reason if it cannot be created; NQS_EINVAL for impossible
 * sizes in `meta`. */
int nqs_h5_create(const char *path, const struct nqs_h5_meta *meta, int force,
                  struct nqs_h5 **out);

/* Append one /history row to every column and flush. */
int nqs_h5_append(struct nqs_h5 *f, const struct nqs_h5_row *row);

/* Append one measurement of the per-iteration observables (obs->n values
 * and errors, measured on the samples of `iteration`) to
 * /history/observables and flush. */
int nqs_h5_append_obs(struct nqs_h5 *f, const struct nqs_obs *obs, long iteration,
                      const double *value, const double *error);

/* Restart: NQS_EIO unless /history/observables holds every observable of obs. */
int nqs_h5_check_history_obs(const struct nqs_h5 *f, const struct nqs_obs *obs);

/* Write a checkpoint of all n_chains chains into the inactive slot, flush and
 * fsync, then name it in /checkpoint/active and flush and fsync again; a crash
 * at any point leaves the previous checkpoint valid. ck->iteration = K means K
 * iterations are complete: NQS_EINVAL if fewer than K rows were appended
 * (append the row of iteration K - 1 first). */
int nqs_h5_checkpoint_write(struct nqs_h5 *f, const struct nqs_h5_checkpoint *ck);

/* Read the active checkpoint: scalars, params, optimiser state, and chains
 * and RNG states of the global chains [first, first + count), so a restart may
 * spread chains over ranks differently. NQS_EIO "FILE has no checkpoint" if
 * none was written, or "FILE is corrupt" for a negative or non-finite
 * wall_time or samples_total; NQS_EINVAL for a chain range outside
 * [0, n_chains). The contents of params, optimiser and RNG state are the
 * caller's to check (nqs_optimizer_state_set, nqs_sampler_check_state). */
int nqs_h5_checkpoint_read(struct nqs_h5 *f, int first, int count, struct nqs_h5_checkpoint *ck);

/* Leave SWMR mode, reopen normally and write /result (with `res`), the
 * observables and, if ref != NULL and ref->energy is finite, /reference with
 * relative_error = |E - E_ref| / |E_ref|. Closes the file; the handle must
 * still be released with nqs_h5_close(). NQS_EINVAL for a bad observable name.
 * A SWMR reader holding the file open does not stop it: when the locked
 * reopen fails, the file is reopened without HDF5's file lock. */
int nqs_h5_finish(struct nqs_h5 *f, const struct nqs_h5_result *res,
                  const struct nqs_h5_reference *ref, const struct nqs_h5_observable *obs,
                  int n_obs);

/* Close the file if still open and free the handle; NULL is a no-op. Returns
 * NQS_EIO if the final flush fails (the handle is freed regardless). */
int nqs_h5_close(struct nqs_h5 *f);

/* Continue from `path`: open it read-write (clearing the "open for writing"
 * mark a killed run leaves), check it is an nqsvmc file with a checkpoint,
 * and, if `expect` != NULL, that lattice, hamiltonian, model, n_sites,
 * n_params, n_chains, rng_state_bytes and optimizer_state_len match (NQS_EIO
 * naming the first difference; nothing in the file is changed then). Then
 * truncate every /history column to the checkpoint's iteration count, delete
 * /result and /reference, and re-enter SWMR write mode. Messages: "FILE has no
 * checkpoint", "FILE is not an HDF5 file", "FILE is not an nqsvmc result
 * file ...", "FILE is corrupt ...: <object>". Never call it on a file a live
 * run still writes. */
int nqs_h5_restart(const char *path, const struct nqs_h5_meta *expect, struct nqs_h5 **out);

/* The two halves of nqs_h5_restart, so that a caller can check everything it
 * reads from the checkpoint before the file is changed. nqs_h5_restart_open
 * makes every check of nqs_h5_restart on a read-only open and leaves the file
 * open read-only: nqs_h5_checkpoint_read works, nothing is written, and
 * nqs_h5_close releases it unchanged. Besides the messages above it checks
 * every dataset of /checkpoint (both slots) and /history against the sizes in
 * the root attributes ("FILE is corrupt: /checkpoint/slot0/params has shape
 * [1000], expected [10]"), the integer attributes for range, and that both
 * slots agree on the optimiser and RNG state sizes. nqs_h5_restart_commit
 * reopens read-write, checks again, and does the writes of nqs_h5_restart. */
int nqs_h5_restart_open(const char *path, const struct nqs_h5_meta *expect, struct nqs_h5 **out);

/* nqs_h5_restart_open for reading the state only (nqs measure): the same
 * checks of the root attributes and /checkpoint, none of /history, so a file
 * whose history lacks a column added since (io_h5.h: columns are only ever
 * added) can still be measured, though not continued. */
int nqs_h5_state_open(const char *path, struct nqs_h5 **out);

/* Read every attribute and dataset of `path` in a forked child process and
 * wait at most `timeout` seconds: some damaged files make libhdf5 crash or
 * loop forever inside a read (seen with 1.10.8 on fuzzed files), which no
 * check in this process could survive. NQS_EIO naming the file when the
 * child crashed, exited non-zero or did not finish; NQS_OK otherwise, including when the file
 * cannot be opened (the caller's own reads report that) or fork fails. */
int nqs_h5_probe(const char *path, double timeout);
int nqs_h5_restart_commit(struct nqs_h5 *f);

/* The file's meta (strings owned by the handle). */
const struct nqs_h5_meta *nqs_h5_get_meta(const struct nqs_h5 *f);
/* Rows in /history (after a restart: the checkpoint's iteration count). */
long nqs_h5_n_rows(const struct nqs_h5 *f);
/* Iteration of the active checkpoint, -1 if none. */
long nqs_h5_checkpoint_iteration(const struct nqs_h5 *f);

/* Read helpers; the file is opened read-only (SWMR read first, so they work
 * while a run writes the file and after a crash) and closed again. */
/* The /history column `name` (any numeric column, converted to double) into a
 * malloc'd array *out of *n entries (caller frees; NULL when *n == 0). */
int nqs_h5_read_column(const char *path, const char *name, double **out, long *n);
/* String attribute `name` of `object` ("/", "/reference", ...) as a malloc'd
 * string (caller frees). */
int nqs_h5_read_attr_string(const char *path, const char *object, const char *name, char **out);
/* Numeric attribute `name` of `object`, converted to double. */
int nqs_h5_read_attr_double(const char *path, const char *object, const char *name, double *out);

/* `nqs measure` (src/measure.c). The parameters stored as the complex
 * dataset `dataset` ("/result/params") of `path`: NQS_EIO naming the file
 * if it is missing or does not hold n values. */
int nqs_h5_read_params(const char *path, const char *dataset, double complex *par, int n);
/* 1 if `path` has an object named `name`, 0 if not, NQS_EIO-style negative never: unreadable files give 0. */
int nqs_h5_has_object(const char *path, const char *name);

/* One measurement of a state: written as the group /measure/<k> (k the
 * smallest unused integer, so nothing is overwritten) of an existing result
 * file, or of a new file (create: refused if it exists unless force) with
 * root attributes and /lattice. Pointers borrowed. */
struct nqs_h5_measurement {
    const struct nqs_h5_result *res;          /* energy, statistics; obs/obs_value/obs_error: vectors */
    const struct nqs_h5_observable *scalars;  /* scalar observables (attributes) */
    int n_scalars;
    const char *params_source;                /* e.g. "/result/params" */
    long iteration;                           /* iterations the measured parameters had seen */
    const char *input, *command_line, *source_file;
    const struct nqs_lattice *lat;            /* /lattice of a new file */
    const char *lattice, *hamiltonian, *model; /* root attributes of a new file */
    int n_params;
};
int nqs_h5_write_measurement(const char *path, int create, int force,
                             const struct nqs_h5_measurement *m, char *group, size_t len);

/* Testing only: make the next checkpoint writes stop (as if the process died)
 * after writing `n_datasets` datasets of the slot, before /checkpoint/active
 * is written; they return NQS_EIO "simulated crash". -1 switches it off. */
void nqs_h5_test_crash_checkpoint(int n_datasets);

#endif
