/*
 * comm.h - the process layer: MPI ranks when the program is built with MPI
 * (compile definition NQS_HAVE_MPI, CMake option NQS_WITH_MPI), one process
 * otherwise. The rest of the code calls only these functions; without MPI, or
 * before nqs_comm_init, every one of them is the identity of a single process
 * (rank 0 of 1: reductions return their input, gathers copy).
 *
 * Work is split by Markov chains (docs/architecture.md "Rules the code keeps"): chain c has the
 * global index c and lives on exactly one rank; ranks hold contiguous blocks
 * in rank order (nqs_comm_split), so "rank order" and "global chain order"
 * are the same and every gather below returns the chains in global order.
 *
 * Errors: a rank-local failure (bad input file on one node, NaN, I/O on rank
 * 0) must end every rank with the same status and message, never a hang.
 * Every phase in which one rank may fail alone ends with nqs_comm_check, a
 * collective that gives every rank the status and message of the lowest
 * failing rank. Only main.c prints, and only on rank 0 for agreed errors;
 * a status that did not pass through nqs_comm_check
 * (nqs_comm_agreed() == 0) makes main.c call nqs_comm_abort.
 *
 * Threads: MPI is initialised with MPI_THREAD_FUNNELED; only the main thread
 * calls these functions (never inside an OpenMP parallel region).
 * Communication failures are fatal (MPI_ERRORS_ARE_FATAL aborts the job).
 */
#ifndef NQS_COMM_H
#define NQS_COMM_H

#include <stddef.h>

/* Initialise MPI (MPI_Init_thread with MPI_THREAD_FUNNELED) when built with
 * it and started by an MPI launcher (mpirun/mpiexec, srun with PMI or PMIx:
 * the launcher's environment variables say so; NQS_MPI=1 forces MPI, NQS_MPI=0
 * skips it); otherwise the process is rank 0 of 1 without MPI. NQS_EUNSUP if
 * the library cannot provide FUNNELED. main.c only. */
int nqs_comm_init(int *argc, char ***argv);
/* Finalise MPI (if initialised). main.c only. */
void nqs_comm_finalize(void);
/* End every rank at once with `exit_code` (MPI_Abort; exit() without MPI).
 * The last resort of main.c for an error the other ranks do not know about. */
void nqs_comm_abort(int exit_code);

/* This process's rank and the number of ranks (0 and 1 without MPI). */
int nqs_comm_rank(void);
int nqs_comm_size(void);

/* Contiguous split of n_items global items (chains) over `size` ranks: rank r
 * holds [*first, *first + *count), the first n_items % size ranks one item
 * more. Pure arithmetic, the same on every rank. */
void nqs_comm_split(int n_items, int rank, int size, int *first, int *count);

/* Collective status agreement. Every rank passes its local status (and has
 * its message in nqs_last_error()). Returns NQS_OK when all ranks passed
 * NQS_OK; otherwise every rank returns the status of the lowest failing rank
 * and holds that rank's message (and source location). Call it at the same
 * point on every rank. */
int nqs_comm_check(int rc);
/* Status the last nqs_comm_check agreed on (NQS_OK if it passed on every
 * rank): main.c compares a command's status with it to know whether every
 * rank ends with the same error. */
int nqs_comm_agreed(void);

/* Broadcast `bytes` bytes from rank `root`. */
int nqs_comm_bcast(void *buf, size_t bytes, int root);
/* Broadcast a string from `root`: on other ranks *s is replaced by a malloc'd
 * copy (caller frees; the previous pointer is not freed). NQS_ENOMEM. */
int nqs_comm_bcast_string(char **s, int root);

/* In-place sums and maxima over ranks, the result on every rank. Sums of
 * doubles are only reproducible when every partial sum is exact (as in
 * rsum.c); use nqs_rsum for floating-point sums of samples. */
int nqs_comm_sum_double(double *buf, size_t n);
int nqs_comm_sum_long(long *buf, size_t n);
int nqs_comm_max_double(double *buf, size_t n);
int nqs_comm_max_int(int *buf, size_t n);

/* Chain data in global chain order. Each rank holds the items of its block
 * (nqs_comm_split(n_items, rank, size)), item_bytes bytes each, contiguous.
 *   allgather: every rank receives all n_items items in `all`.
 *   gather:    rank 0 receives all items in `all` (ignored elsewhere).
 *   scatter:   rank 0 sends `all`; every rank receives its block in `local`.
 * NQS_EINVAL if item_bytes exceeds the 2^31-1 bytes MPI counts can express. */
int nqs_comm_allgather_chains(const void *local, void *all, size_t item_bytes, int n_items);
int nqs_comm_gather_chains(const void *local, void *all, size_t item_bytes, int n_items);
int nqs_comm_scatter_chains(const void *all, void *local, size_t item_bytes, int n_items);

#endif
