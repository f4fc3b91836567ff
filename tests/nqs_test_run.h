/*
 * nqs_test_run.h - helpers for test programs that run the built `nqs` binary
 * (NQS_BINARY) the way a user does: start it with a chosen OMP_NUM_THREADS and
 * stdout/stderr captured in files, wait for its exit status, read files whole,
 * and a strict parser for the flat JSON object `nqs run --json` prints (RFC 8259
 * grammar for an object of string, number, true/false and null members; no
 * NaN or Inf, which JSON does not have).
 */
#ifndef NQS_TEST_RUN_H
#define NQS_TEST_RUN_H

#include <ctype.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Start NQS_BINARY with argv[1..] (argv[0] is replaced; NULL-terminated),
 * OMP_NUM_THREADS = threads and OPENBLAS_NUM_THREADS unset (so OpenBLAS follows
 * OMP_NUM_THREADS too), stdout and stderr written to the given files.
 * Returns the child's pid, or -1 if fork failed. */
static inline pid_t nqs_test_start(char **argv, int threads, const char *out_path,
                                   const char *err_path)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0) return pid;
    int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0) _exit(127);
    char t[16];
    snprintf(t, sizeof t, "%d", threads);
    setenv("OMP_NUM_THREADS", t, 1);
    unsetenv("OPENBLAS_NUM_THREADS");
    unsetenv("GOTO_NUM_THREADS");
    unsetenv("NQS_DEBUG");
    argv[0] = (char *)NQS_BINARY;
    execv(NQS_BINARY, argv);
    _exit(127);
}

/* Wait for the child: its exit status, or 128 + signal if a signal ended it
 * (as a shell reports it), -1 if waitpid failed. */
static inline int nqs_test_wait(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, 0) != pid) return -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

/* The whole file as a NUL-terminated malloc'd string (NULL if unreadable);
 * *len (if not NULL) gets the byte count. */
static inline char *nqs_test_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        char *nb = realloc(buf, 2 * cap);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

/* ------------------------------------------------------------------ JSON */

enum { NQS_JSON_NUM, NQS_JSON_STR, NQS_JSON_TRUE, NQS_JSON_FALSE, NQS_JSON_NULL };

struct nqs_json_kv {
    char key[64];
    int type;
    double num;
    char str[1024];
};

static inline const char *nqs_json_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

/* p at the opening quote; the unescaped text (non-ASCII \u escapes as '?')
 * into out; returns the position after the closing quote, NULL on bad syntax. */
static inline const char *nqs_json_string(const char *p, char *out, size_t len)
{
    if (*p++ != '"') return NULL;
    size_t n = 0;
    for (;;) {
        unsigned char c = (unsigned char)*p++;
        if (c == '"') break;
        if (c < 0x20) return NULL; /* also the end of the text */
        if (c == '\\') {
            char e = *p++;
            switch (e) {
            case '"': case '\\': case '/': c = (unsigned char)e; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                char hex[5] = {0};
                for (int k = 0; k < 4; k++) {
                    if (!isxdigit((unsigned char)p[k])) return NULL;
                    hex[k] = p[k];
                }
                unsigned long v = strtoul(hex, NULL, 16);
                c = v < 0x80 ? (unsigned char)v : '?';
                p += 4;
                break;
            }
            default: return NULL;
            }
        }
        if (n + 1 >= len) return NULL;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return p;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static inline const char *nqs_json_number(const char *p, double *v)
{
    const char *s = p;
    if (*p == '-') p++;
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9') while (isdigit((unsigned char)*p)) p++;
    else return NULL;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) return NULL;
        while (isdigit((unsigned char)*p)) p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!isdigit((unsigned char)*p)) return NULL;
        while (isdigit((unsigned char)*p)) p++;
    }
    *v = strtod(s, NULL);
    return p;
}

/* Parse text holding exactly one flat JSON object (white space around it
 * allowed): its members into kv[0..max). Returns the member count, or -1 on a
 * syntax error, a nested value, a duplicate key or more than max members. */
static inline int nqs_json_parse(const char *text, struct nqs_json_kv *kv, int max)
{
    const char *p = nqs_json_ws(text);
    if (*p++ != '{') return -1;
    int n = 0;
    p = nqs_json_ws(p);
    if (*p == '}') return *nqs_json_ws(p + 1) ? -1 : 0;
    for (;;) {
        if (n == max) return -1;
        struct nqs_json_kv *e = &kv[n];
        memset(e, 0, sizeof *e);
        if (!(p = nqs_json_string(p, e->key, sizeof e->key))) return -1;
        for (int k = 0; k < n; k++)
            if (strcmp(kv[k].key, e->key) == 0) return -1;
        p = nqs_json_ws(p);
        if (*p++ != ':') return -1;
        p = nqs_json_ws(p);
        if (*p == '"') {
            e->type = NQS_JSON_STR;
            p = nqs_json_string(p, e->str, sizeof e->str);
        } else if (strncmp(p, "true", 4) == 0) {
            e->type = NQS_JSON_TRUE;
            p += 4;
        } else if (strncmp(p, "false", 5) == 0) {
            e->type = NQS_JSON_FALSE;
            p += 5;
        } else if (strncmp(p, "null", 4) == 0) {
            e->type = NQS_JSON_NULL;
            p += 4;
        } else {
            e->type = NQS_JSON_NUM;
            p = nqs_json_number(p, &e->num);
        }
        if (!p) return -1;
        n++;
        p = nqs_json_ws(p);
        if (*p == '}') break;
        if (*p++ != ',') return -1;
        p = nqs_json_ws(p);
    }
    return *nqs_json_ws(p + 1) ? -1 : n;
}

/* The member `key`, or NULL. */
static inline const struct nqs_json_kv *nqs_json_find(const struct nqs_json_kv *kv, int n,
                                                      const char *key)
{
    for (int k = 0; k < n; k++)
        if (strcmp(kv[k].key, key) == 0) return &kv[k];
    return NULL;
}

#endif
