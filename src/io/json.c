/*
 * json.c - streaming JSON writer (json.h): separators, nesting, string
 * escaping and the one number format of every `--json` output.
 */
#include "json.h"

#include <math.h>
#include <stdlib.h>

void nqs_json_init(struct nqs_json_writer *w, FILE *f, int pretty_depth)
{
    w->f = f;
    w->pretty_depth = pretty_depth;
    w->depth = 0;
}

static void json_newline(struct nqs_json_writer *w, int depth)
{
    fputc('\n', w->f);
    for (int k = 0; k < depth; k++) fputs("  ", w->f);
}

/* The separator before a value, then its key. */
static void json_member(struct nqs_json_writer *w, const char *key)
{
    if (w->depth > 0) {
        int first = w->n_members[w->depth - 1]++ == 0;
        if (!first) fputc(',', w->f);
        if (w->depth <= w->pretty_depth)
            json_newline(w, w->depth);
        else if (!first)
            fputc(' ', w->f);
    }
    if (key) {
        nqs_json_write_string(w->f, key);
        fputs(": ", w->f);
    }
}

static void json_open(struct nqs_json_writer *w, const char *key, char open, char close)
{
    if (w->depth >= NQS_JSON_MAX_DEPTH) abort(); /* the outputs nest at most three deep */
    json_member(w, key);
    fputc(open, w->f);
    w->n_members[w->depth] = 0;
    w->closer[w->depth] = close;
    w->depth++;
}

void nqs_json_begin_object(struct nqs_json_writer *w, const char *key)
{
    json_open(w, key, '{', '}');
}

void nqs_json_begin_array(struct nqs_json_writer *w, const char *key)
{
    json_open(w, key, '[', ']');
}

void nqs_json_end(struct nqs_json_writer *w)
{
    if (w->depth <= 0) abort(); /* more closed than opened */
    w->depth--;
    if (w->depth < w->pretty_depth && w->n_members[w->depth]) json_newline(w, w->depth);
    fputc(w->closer[w->depth], w->f);
    if (w->depth == 0) fputc('\n', w->f);
}

/* A scalar: at the top level it is the whole document, so it ends the line. */
static void json_scalar_done(struct nqs_json_writer *w)
{
    if (w->depth == 0) fputc('\n', w->f);
}

void nqs_json_put_string(struct nqs_json_writer *w, const char *key, const char *s)
{
    json_member(w, key);
    if (s)
        nqs_json_write_string(w->f, s);
    else
        fputs("null", w->f);
    json_scalar_done(w);
}

void nqs_json_put_number(struct nqs_json_writer *w, const char *key, double x)
{
    char buf[NQS_JSON_NUMBER_MAX];
    json_member(w, key);
    fputs(nqs_json_format_number(buf, x), w->f);
    json_scalar_done(w);
}

void nqs_json_put_int(struct nqs_json_writer *w, const char *key, long long v)
{
    json_member(w, key);
    fprintf(w->f, "%lld", v);
    json_scalar_done(w);
}

void nqs_json_put_bool(struct nqs_json_writer *w, const char *key, int b)
{
    json_member(w, key);
    fputs(b ? "true" : "false", w->f);
    json_scalar_done(w);
}

void nqs_json_put_null(struct nqs_json_writer *w, const char *key)
{
    json_member(w, key);
    fputs("null", w->f);
    json_scalar_done(w);
}

/* 15 significant digits print most values of a computation as a reader
 * expects (0.1, not 0.10000000000000001); 17 always suffice to round-trip
 * an IEEE double. */
char *nqs_json_format_number(char *buf, double x)
{
    if (!isfinite(x)) {
        snprintf(buf, NQS_JSON_NUMBER_MAX, "null");
        return buf;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, NQS_JSON_NUMBER_MAX, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    return buf;
}

void nqs_json_write_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}
