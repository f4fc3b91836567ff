/* error.c - thread-local error messages (see error.h). */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

#include <gsl/gsl_errno.h>

static _Thread_local char error_msg[1024];
static _Thread_local char error_where[256];

int nqs_error_set(int code, const char *src_file, int src_line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_msg, sizeof error_msg, fmt, ap);
    va_end(ap);
    snprintf(error_where, sizeof error_where, "%s:%d", src_file, src_line);
    return code;
}

const char *nqs_last_error(void) { return error_msg; }
const char *nqs_last_error_where(void) { return error_where; }

void nqs_error_clear(void)
{
    error_msg[0] = '\0';
    error_where[0] = '\0';
}

const char *nqs_status_name(int code)
{
    switch (code) {
    case NQS_OK: return "ok";
    case NQS_EINVAL: return "invalid input";
    case NQS_ENOMEM: return "out of memory";
    case NQS_EIO: return "I/O error";
    case NQS_ENUMERIC: return "numerical failure";
    case NQS_EUNSUP: return "unsupported";
    case NQS_EINTERNAL: return "internal error";
    case NQS_NOTCONV: return "not converged";
    case NQS_STOPPED: return "stopped";
    default: return "unknown status";
    }
}

/* GSL reports errors through a handler whose default prints and calls
 * abort(). Ours records the message (an allocation failure becomes
 * NQS_ENOMEM) and returns, so the GSL function returns its error value (NULL
 * from gsl_rng_alloc, ...) which our callers already check. */
static void error_gsl_handler(const char *reason, const char *file, int line, int gsl_errno)
{
    nqs_error_set(gsl_errno == GSL_ENOMEM ? NQS_ENOMEM : NQS_EINTERNAL, file, line,
                  "GSL error: %s (%s)", reason ? reason : "", gsl_strerror(gsl_errno));
}

void nqs_error_install_gsl_handler(void) { gsl_set_error_handler(error_gsl_handler); }
