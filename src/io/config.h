/*
 * config.h - INI input files (libinih) with command-line overrides.
 *
 * An input file has the sections [lattice] [hamiltonian] [model] [sampler]
 * [optimizer] [output] [observables]. `--set section.key=value` overrides or
 * adds a key. Keys are read through option tables (options.h); every key read
 * is marked used, and nqs_config_check_unused() turns anything left over into
 * an error naming the file, line, key and the keys that section accepts.
 * Messages have the form  "FILE:LINE: [section] key: what is wrong (accepted: ...)".
 */
#ifndef NQS_CONFIG_H
#define NQS_CONFIG_H

#include <stddef.h>

#include "options.h"

struct nqs_config;

/* Empty configuration; NULL (with message) if out of memory. */
struct nqs_config *nqs_config_alloc(void);
void nqs_config_free(struct nqs_config *c);

/* Parse an INI file. NQS_EIO if unreadable, NQS_EINVAL for syntax errors, a
 * duplicate key or an unknown section (message names file and line). */
int nqs_config_read_file(struct nqs_config *c, const char *path);
/* Parse INI text; `name` stands for the file name in messages (tests, restarts). */
int nqs_config_read_string(struct nqs_config *c, const char *text, const char *name);
/* Apply one "section.key=value" override (from --set); replaces an existing key. */
int nqs_config_set(struct nqs_config *c, const char *assignment);

/* Read the options `defs[0..n)` from `section` into `out[0..n)`, applying
 * defaults and validating. Marks the keys used and records them as the keys the
 * section accepts. NQS_EINVAL with a message naming file:line, key and the
 * accepted values/range on a wrong type or value, or on a missing required key. */
int nqs_config_get(struct nqs_config *c, const char *section, const struct nqs_opt_def *defs,
                   int n, struct nqs_opt_val *out);

/* Is the key present (from file or --set)? Does not mark it used. */
int nqs_config_has(const struct nqs_config *c, const char *section, const char *key);

/* NQS_EINVAL naming the first key that no nqs_config_get() call consumed,
 * with the list of keys its section accepts. */
int nqs_config_check_unused(const struct nqs_config *c);

/* The effective input (after overrides) as INI text, every key that was read,
 * defaults included, in section order. Caller frees with free(). */
char *nqs_config_dump(const struct nqs_config *c);

/* Name used in messages for the input ("runs/x.ini", or "--set"). */
const char *nqs_config_name(const struct nqs_config *c);

/* --- added by the config branch --------------------------------------- */

/* Like nqs_config_check_unused() but only for keys of the listed sections
 * (NULL-terminated names), for commands that accept a full run input but read
 * only some sections (`nqs info`). */
int nqs_config_check_unused_sections(const struct nqs_config *c, const char *const *sections);

/* Index of `word` (its first `len` characters, compared without regard to
 * case) in the choice list `choices` ("a|b|c"), or -1; *canon (may be NULL)
 * points at the list's spelling of it. */
long nqs_config_choice_index(const char *choices, const char *word, size_t len, const char **canon);

/* Where a key was given: returns 1 and sets *source (file name or "--set",
 * owned by the configuration) and *line (0 for --set) if present, else 0.
 * Either pointer may be NULL. Used to resolve paths relative to their file. */
int nqs_config_origin(const struct nqs_config *c, const char *section, const char *key,
                      const char **source, int *line);

/* Record a message about a key in the standard form
 * "FILE:LINE: [section] key: <fmt...>" (or "NAME: [section] key: ..." when the
 * key came from --set or was not given) and return `code`. For checks a table
 * cannot express (list lengths that depend on another key, key combinations). */
int nqs_config_error(const struct nqs_config *c, int code, const char *section, const char *key,
                     const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* Notes on semantics: a key set with --set wins over the same key in any file,
 * whether the file is read before or after the override (a restart file read
 * into a configuration that already holds overrides keeps the overrides); a
 * key repeated inside one file is an error; a later file replaces the keys of
 * an earlier one. Comments start with ';' or '#' at the start of a line or
 * after white space; indented lines are ordinary lines (no continuation). */

/* Write "  key  (type, default X): help" lines for a table to `out` (for --help). */
#include <stdio.h>
void nqs_opt_print_help(FILE *out, const struct nqs_opt_def *defs, int n);

#endif
