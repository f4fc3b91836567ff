/*
 * error.h - status codes and the error-message convention of nqsvmc.
 *
 * Every function that can fail returns an int status (NQS_OK == 0) and records
 * a one-line, user-facing message in a thread-local buffer with NQS_ERROR.
 * Callers propagate with NQS_TRY, which keeps the first (innermost) message.
 * Only src/cli/main.c prints messages or exits.
 */
#ifndef NQS_ERROR_H
#define NQS_ERROR_H

enum nqs_status {
    NQS_OK = 0,
    NQS_EINVAL = 1,  /* bad input: unknown key, wrong type, impossible value */
    NQS_ENOMEM = 2,  /* allocation failed or the problem would not fit in memory */
    NQS_EIO = 3,     /* file cannot be read or written, corrupt or mismatched file */
    NQS_ENUMERIC = 4,/* NaN/Inf, failed factorisation, solver breakdown */
    NQS_EUNSUP = 5,  /* valid request this build or this lattice cannot serve */
    NQS_EINTERNAL = 6,
    NQS_NOTCONV = 7, /* not an error: an iterative process has not converged yet */
    NQS_STOPPED = 8  /* not an error: a run was asked to stop (signal) and saved its state */
};

/* Record a message (printf format) and return `code`. The message should say
 * what is wrong and, for input errors, name the file, line or key and the
 * accepted values. Thread safe (one buffer per thread). */
int nqs_error_set(int code, const char *src_file, int src_line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* The last message recorded on this thread ("" when none). */
const char *nqs_last_error(void);
/* Source location (file:line of the C code) of the last message, for debugging. */
const char *nqs_last_error_where(void);
/* Forget the last message. */
void nqs_error_clear(void);
/* Short name of a status code ("invalid input", "I/O error", ...). */
const char *nqs_status_name(int code);

/* Replace GSL's error handler (which aborts) by one that records the error
 * as a message (NQS_ENOMEM for allocation failures, else NQS_EINTERNAL) and
 * returns, so the failing GSL call returns its error value to our caller.
 * Process-wide; main.c installs it at start. */
void nqs_error_install_gsl_handler(void);

#define NQS_ERROR(code, ...) return nqs_error_set((code), __FILE__, __LINE__, __VA_ARGS__)
/* Record without returning (for allocators that then `goto fail` and return NULL). */
#define NQS_SET_ERROR(code, ...) ((void)nqs_error_set((code), __FILE__, __LINE__, __VA_ARGS__))
#define NQS_TRY(expr)                                                                          \
    do {                                                                                       \
        int nqs_try_rc_ = (expr);                                                              \
        if (nqs_try_rc_ != NQS_OK) return nqs_try_rc_;                                         \
    } while (0)

#ifdef NDEBUG
#define NQS_ASSERT(cond) ((void)0)
#else
#include <assert.h>
#define NQS_ASSERT(cond) assert(cond)
#endif

#endif
