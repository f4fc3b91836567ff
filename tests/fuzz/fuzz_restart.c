/*
 * fuzz_restart.c - libFuzzer harness for the restart reader (src/io/io_h5.c) on
 * result files.
 *
 * Each input is written to a temporary file and handled like `nqs run
 * --restart FILE` handles it: first nqs_h5_probe (every attribute and dataset
 * read in a forked child, so that files on which libhdf5 itself crashes or
 * loops are refused, not fatal), then the stored input and a history column
 * read with the read helpers, nqs_h5_restart_open (every check, read-only),
 * the checkpoint read into buffers sized from the file's meta (skipped above
 * FUZZ_MAX_BYTES), and the file closed unchanged: the reading half, where
 * every check of a restart happens. (The write half, nqs_h5_restart_commit,
 * runs only on files that passed those checks; HDF5's retries of damaged
 * metadata in SWMR mode make it too slow to fuzz.) Crashes, sanitizer
 * reports and leaks are what it looks for; refusals are normal outcomes. The
 * seeds (make_seeds.c) are small valid files.
 */
#include <complex.h>
#include <pthread.h>
#include <sanitizer/common_interface_defs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "io_h5.h"

#define FUZZ_MAX_BYTES (1 << 24)

static char fuzz_path[64];

static void fuzz_exercise(const char *path)
{
    if (nqs_h5_probe(path, 10.0) != NQS_OK) return;
    char *input = NULL;
    if (nqs_h5_read_attr_string(path, "/", "input", &input) == NQS_OK) free(input);
    double *col = NULL;
    long n = 0;
    if (nqs_h5_read_column(path, "energy", &col, &n) == NQS_OK) free(col);

    struct nqs_h5 *f = NULL;
    if (nqs_h5_restart_open(path, NULL, &f) != NQS_OK) return;
    const struct nqs_h5_meta *m = nqs_h5_get_meta(f);
    double bytes = 16.0 * m->n_params + 8.0 * m->optimizer_state_len +
                   (double)m->n_chains * ((double)m->n_sites + m->rng_state_bytes);
    if (bytes > FUZZ_MAX_BYTES) {
        nqs_h5_close(f);
        return;
    }
    struct nqs_h5_checkpoint ck = {
        .params = calloc((size_t)m->n_params, sizeof(double complex)),
        .optimizer_state = calloc((size_t)m->optimizer_state_len + 1, sizeof(double)),
        .chains = calloc((size_t)m->n_chains * (size_t)m->n_sites, 1),
        .rng_state = calloc((size_t)m->n_chains * (size_t)m->rng_state_bytes + 1, 1),
    };
    if (ck.params && ck.optimizer_state && ck.chains && ck.rng_state)
        nqs_h5_checkpoint_read(f, 0, m->n_chains, &ck);
    free(ck.params);
    free(ck.optimizer_state);
    free(ck.chains);
    free(ck.rng_state);
    nqs_h5_close(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The probe's child is a fork of the fuzzer: without this, a libhdf5 crash
 * the probe contains would run libFuzzer's death callback in the child and
 * leave a crash-* artifact although the harness handled the file. */
static void fuzz_child_after_fork(void) { __sanitizer_set_death_callback(NULL); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_path[0]) { /* first input */
        pthread_atfork(NULL, NULL, fuzz_child_after_fork);
        snprintf(fuzz_path, sizeof fuzz_path, "/tmp/nqs_fuzz_restart_%d.h5", (int)getpid());
    }
    FILE *fp = fopen(fuzz_path, "wb");
    if (!fp) return 0;
    size_t put = fwrite(data, 1, size, fp);
    fclose(fp);
    if (put == size) fuzz_exercise(fuzz_path);
    unlink(fuzz_path);
    return 0;
}
