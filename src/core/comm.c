/*
 * comm.c - the process layer of comm.h: MPI_COMM_WORLD when built with
 * NQS_HAVE_MPI and initialised, a single process otherwise. Chain data move
 * with MPI_Allgatherv / MPI_Gatherv / MPI_Scatterv of one contiguous datatype
 * per chain, so counts stay in chains (MPI counts are int) whatever the bytes.
 */
#include "comm.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#ifdef NQS_HAVE_MPI
#include <mpi.h>
#endif

static int comm_rank_ = 0, comm_size_ = 1, comm_on_ = 0;
static int comm_agreed_ = NQS_OK;
#ifdef NQS_HAVE_MPI
static int *comm_counts_, *comm_displs_; /* size entries each, for the v-collectives */
#endif

void nqs_comm_split(int n_items, int rank, int size, int *first, int *count)
{
    int base = n_items / size, extra = n_items % size;
    *count = base + (rank < extra ? 1 : 0);
    *first = rank * base + (rank < extra ? rank : extra);
}

int nqs_comm_rank(void) { return comm_rank_; }
int nqs_comm_size(void) { return comm_size_; }
int nqs_comm_agreed(void) { return comm_agreed_; }

#ifdef NQS_HAVE_MPI
/* Was this process started by an MPI launcher? Open MPI's mpirun/mpiexec
 * (OMPI_COMM_WORLD_SIZE), PMIx launchers including srun --mpi=pmix
 * (PMIX_RANK), Hydra (MPICH, Intel MPI) and srun --mpi=pmi2 (PMI_RANK,
 * PMI_SIZE), MVAPICH (MV2_COMM_WORLD_SIZE). NQS_MPI=1 / NQS_MPI=0 override. */
static int comm_launched(void)
{
    const char *force = getenv("NQS_MPI");
    if (force && *force) return strcmp(force, "0") != 0;
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE",
                                 "MV2_COMM_WORLD_SIZE"};
    for (size_t k = 0; k < sizeof vars / sizeof vars[0]; k++)
        if (getenv(vars[k])) return 1;
    return 0;
}
#endif

int nqs_comm_init(int *argc, char ***argv)
{
#ifdef NQS_HAVE_MPI
    /* A process started without a launcher is one process: MPI_Init would
     * only add Open MPI's singleton start-up (0.4 s, a helper daemon). */
    if (!comm_launched()) return NQS_OK;
    int provided = 0;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    comm_on_ = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &comm_rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &comm_size_);
    comm_counts_ = malloc((size_t)comm_size_ * sizeof *comm_counts_);
    comm_displs_ = malloc((size_t)comm_size_ * sizeof *comm_displs_);
    if (!comm_counts_ || !comm_displs_)
        NQS_ERROR(NQS_ENOMEM, "out of memory for the MPI layer (%d ranks)", comm_size_);
    if (provided < MPI_THREAD_FUNNELED)
        NQS_ERROR(NQS_EUNSUP, "the MPI library does not support MPI_THREAD_FUNNELED (OpenMP threads "
                  "inside MPI ranks); rebuild with -DNQS_WITH_MPI=OFF or use another MPI");
#else
    (void)argc;
    (void)argv;
#endif
    return NQS_OK;
}

void nqs_comm_finalize(void)
{
#ifdef NQS_HAVE_MPI
    if (comm_on_) {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) MPI_Finalize();
    }
    free(comm_counts_);
    free(comm_displs_);
    comm_counts_ = comm_displs_ = NULL;
#endif
    comm_on_ = 0;
    comm_rank_ = 0;
    comm_size_ = 1;
}

void nqs_comm_abort(int exit_code)
{
#ifdef NQS_HAVE_MPI
    if (comm_on_) MPI_Abort(MPI_COMM_WORLD, exit_code);
#endif
    exit(exit_code);
}

/* ------------------------------------------------------------------ status */

struct comm_error {
    int code, line;
    char file[240];
    char msg[1024];
};

int nqs_comm_check(int rc)
{
#ifdef NQS_HAVE_MPI
    if (comm_on_) {
        int key = rc != NQS_OK ? comm_rank_ : comm_size_, first = comm_size_;
        MPI_Allreduce(&key, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        comm_agreed_ = NQS_OK;
        if (first == comm_size_) return NQS_OK;
        struct comm_error e;
        memset(&e, 0, sizeof e);
        if (comm_rank_ == first) {
            e.code = rc;
            snprintf(e.msg, sizeof e.msg, "%s", nqs_last_error());
            const char *where = nqs_last_error_where();
            const char *colon = strrchr(where, ':');
            size_t len = colon ? (size_t)(colon - where) : strlen(where);
            if (len >= sizeof e.file) len = sizeof e.file - 1;
            memcpy(e.file, where, len);
            e.line = colon ? atoi(colon + 1) : 0;
        }
        MPI_Bcast(&e, (int)sizeof e, MPI_BYTE, first, MPI_COMM_WORLD);
        if (comm_rank_ != first) nqs_error_set(e.code, e.file, e.line, "%s", e.msg);
        comm_agreed_ = e.code;
        return e.code;
    }
#endif
    comm_agreed_ = rc;
    return rc;
}

/* ------------------------------------------------------------------ broadcast, reductions */

int nqs_comm_bcast(void *buf, size_t bytes, int root)
{
#ifdef NQS_HAVE_MPI
    if (comm_on_ && comm_size_ > 1) {
        char *p = buf;
        while (bytes > 0) { /* int counts: chunks of at most 1 GiB */
            size_t chunk = bytes > (1u << 30) ? (1u << 30) : bytes;
            MPI_Bcast(p, (int)chunk, MPI_BYTE, root, MPI_COMM_WORLD);
            p += chunk;
            bytes -= chunk;
        }
    }
#else
    (void)buf;
    (void)bytes;
    (void)root;
#endif
    return NQS_OK;
}

int nqs_comm_bcast_string(char **s, int root)
{
    if (comm_size_ == 1) return NQS_OK;
    long len = comm_rank_ == root ? (*s ? (long)strlen(*s) : -1) : 0;
    NQS_TRY(nqs_comm_bcast(&len, sizeof len, root));
    if (comm_rank_ != root) {
        *s = NULL;
        if (len < 0) return NQS_OK;
        *s = malloc((size_t)len + 1);
        if (!*s) NQS_ERROR(NQS_ENOMEM, "out of memory for a %ld-byte broadcast", len);
        (*s)[len] = '\0';
    }
    return len > 0 ? nqs_comm_bcast(*s, (size_t)len, root) : NQS_OK;
}

#ifdef NQS_HAVE_MPI
static int comm_allreduce(void *buf, size_t n, MPI_Datatype type, MPI_Op op)
{
    if (!comm_on_ || comm_size_ == 1 || n == 0) return NQS_OK;
    if (n > INT_MAX) NQS_ERROR(NQS_EINVAL, "MPI reduction of %zu values exceeds the int count limit", n);
    MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, type, op, MPI_COMM_WORLD);
    return NQS_OK;
}
#endif

int nqs_comm_sum_double(double *buf, size_t n)
{
#ifdef NQS_HAVE_MPI
    return comm_allreduce(buf, n, MPI_DOUBLE, MPI_SUM);
#else
    (void)buf;
    (void)n;
    return NQS_OK;
#endif
}

int nqs_comm_sum_long(long *buf, size_t n)
{
#ifdef NQS_HAVE_MPI
    return comm_allreduce(buf, n, MPI_LONG, MPI_SUM);
#else
    (void)buf;
    (void)n;
    return NQS_OK;
#endif
}

int nqs_comm_max_double(double *buf, size_t n)
{
#ifdef NQS_HAVE_MPI
    return comm_allreduce(buf, n, MPI_DOUBLE, MPI_MAX);
#else
    (void)buf;
    (void)n;
    return NQS_OK;
#endif
}

int nqs_comm_max_int(int *buf, size_t n)
{
#ifdef NQS_HAVE_MPI
    return comm_allreduce(buf, n, MPI_INT, MPI_MAX);
#else
    (void)buf;
    (void)n;
    return NQS_OK;
#endif
}

/* ------------------------------------------------------------------ chain data */

enum { COMM_ALLGATHER, COMM_GATHER, COMM_SCATTER };

static int comm_chains(int kind, const void *src, void *dst, size_t item_bytes, int n_items)
{
    int first, count;
    nqs_comm_split(n_items, comm_rank_, comm_size_, &first, &count);
    if (item_bytes > INT_MAX)
        NQS_ERROR(NQS_EINVAL, "one chain's data (%zu bytes) exceeds the 2^31-1 bytes an MPI "
                  "message item can hold; use fewer samples per chain", item_bytes);
#ifdef NQS_HAVE_MPI
    if (comm_on_ && comm_size_ > 1) {
        MPI_Datatype item;
        MPI_Type_contiguous((int)item_bytes, MPI_BYTE, &item);
        MPI_Type_commit(&item);
        for (int r = 0; r < comm_size_; r++)
            nqs_comm_split(n_items, r, comm_size_, &comm_displs_[r], &comm_counts_[r]);
        const char *all = kind == COMM_SCATTER ? (const char *)src : (const char *)dst;
        const char *local = kind == COMM_SCATTER ? (const char *)dst : (const char *)src;
        /* The local block may already sit at its place in `all`: MPI forbids
         * aliased buffers, MPI_IN_PLACE says it. */
        int in_place = all && local == all + (size_t)first * item_bytes;
        switch (kind) {
        case COMM_ALLGATHER:
            MPI_Allgatherv(in_place ? MPI_IN_PLACE : src, count, item, dst, comm_counts_,
                           comm_displs_, item, MPI_COMM_WORLD);
            break;
        case COMM_GATHER:
            if (comm_rank_ == 0)
                MPI_Gatherv(in_place ? MPI_IN_PLACE : src, count, item, dst, comm_counts_,
                            comm_displs_, item, 0, MPI_COMM_WORLD);
            else
                MPI_Gatherv(src, count, item, NULL, NULL, NULL, item, 0, MPI_COMM_WORLD);
            break;
        case COMM_SCATTER:
            if (comm_rank_ == 0)
                MPI_Scatterv(src, comm_counts_, comm_displs_, item, in_place ? MPI_IN_PLACE : dst,
                             count, item, 0, MPI_COMM_WORLD);
            else
                MPI_Scatterv(NULL, NULL, NULL, item, dst, count, item, 0, MPI_COMM_WORLD);
            break;
        }
        MPI_Type_free(&item);
        return NQS_OK;
    }
#endif
    /* One process: the local block is everything. */
    size_t bytes = (size_t)count * item_bytes;
    if (kind == COMM_SCATTER) {
        if (dst != src) memmove(dst, (const char *)src + (size_t)first * item_bytes, bytes);
    } else if ((const char *)dst + (size_t)first * item_bytes != src) {
        memmove((char *)dst + (size_t)first * item_bytes, src, bytes);
    }
    return NQS_OK;
}

int nqs_comm_allgather_chains(const void *local, void *all, size_t item_bytes, int n_items)
{
    return comm_chains(COMM_ALLGATHER, local, all, item_bytes, n_items);
}

int nqs_comm_gather_chains(const void *local, void *all, size_t item_bytes, int n_items)
{
    return comm_chains(COMM_GATHER, local, all, item_bytes, n_items);
}

int nqs_comm_scatter_chains(const void *all, void *local, size_t item_bytes, int n_items)
{
    return comm_chains(COMM_SCATTER, all, local, item_bytes, n_items);
}
