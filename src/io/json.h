/*
 * json.h - the one JSON writer of the program: every `--json` output (nqs run,
 * exact, info, bench) goes through it, so all of them escape strings and format
 * numbers the same way (RFC 8259).
 *
 * Values are written in order as they are produced (no tree is built): open a
 * container, put members, close it. Inside an object every value takes a key;
 * inside an array and at the top level the key is NULL. Commas, colons and
 * the closing newline after the top-level value are written by the writer.
 *
 * Numbers: the shortest of %.15g, %.16g and %.17g that reads back (strtod) to
 * the same double, so every real round-trips bit for bit and simple values stay
 * short (0.5, not 0.50000000000000000). JSON has no NaN or infinity: those are
 * written as null. Strings: '"' and '\' escaped, control characters as \n,
 * \t or \u00XX; other bytes (UTF-8) pass through unchanged.
 *
 * Layout: with pretty_depth = 0 the whole value is one line; otherwise each
 * member of a container opened at a depth below pretty_depth starts on its own
 * line, indented by two spaces per level (`nqs bench --json` uses 2: one line
 * per section and per table row).
 */
#ifndef NQS_JSON_H
#define NQS_JSON_H

#include <stddef.h>
#include <stdio.h>

#define NQS_JSON_MAX_DEPTH 16

struct nqs_json_writer {
    FILE *f;
    int pretty_depth;
    int depth;                          /* containers open */
    int n_members[NQS_JSON_MAX_DEPTH];  /* values written so far in each open container */
    char closer[NQS_JSON_MAX_DEPTH];    /* '}' or ']' of each open container */
};

void nqs_json_init(struct nqs_json_writer *w, FILE *f, int pretty_depth);

/* Open an object or array as member `key` (NULL in arrays and at the top).
 * Nesting deeper than NQS_JSON_MAX_DEPTH is a programming error (abort). */
void nqs_json_begin_object(struct nqs_json_writer *w, const char *key);
void nqs_json_begin_array(struct nqs_json_writer *w, const char *key);
/* Close the innermost container; after the top-level one, a newline. */
void nqs_json_end(struct nqs_json_writer *w);

void nqs_json_put_string(struct nqs_json_writer *w, const char *key, const char *s); /* NULL: null */
void nqs_json_put_number(struct nqs_json_writer *w, const char *key, double x);
void nqs_json_put_int(struct nqs_json_writer *w, const char *key, long long v);
void nqs_json_put_bool(struct nqs_json_writer *w, const char *key, int b);
void nqs_json_put_null(struct nqs_json_writer *w, const char *key);

/* The text nqs_json_put_number writes for x ("null" if x is not finite);
 * `buf` must hold NQS_JSON_NUMBER_MAX bytes. Returns buf. */
#define NQS_JSON_NUMBER_MAX 32
char *nqs_json_format_number(char *buf, double x);

/* `s` as a JSON string literal, quotes included. */
void nqs_json_write_string(FILE *f, const char *s);

#endif
