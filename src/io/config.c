/*
 * config.c - INI input files (libinih) with `--set` overrides, typed option
 * reading through nqs_opt_def tables, unused-key detection and the dump of the
 * effective input (see config.h).
 *
 * libinih does the INI tokenising. Its packaged build does not hand line
 * numbers to the handler, so the text goes through our own reader
 * (config_reader) which counts lines: inih calls the handler right after the
 * reader returned the line, so the handler knows the current line. The reader
 * also normalises every line before inih sees it, which keeps the behaviour
 * independent of how the library was configured at build time:
 *   - leading white space is removed (no multi-line continuation values, so an
 *     indented key is a key, not a continuation of the previous value);
 *   - inline comments ("; ..." or "# ..." after white space) are removed;
 *   - a UTF-8 byte-order mark on line 1 is removed;
 *   - section headers are checked against the known sections and lines that
 *     are neither a header, a key = value pair nor a comment are reported with
 *     their line number; reading stops at the first error.
 */
#include "config.h"

#include <ini.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"

/* Known sections, in the order of the data flow (also the order of the dump). */
static const char *const config_sections[] = {"lattice", "hamiltonian", "symmetry", "model", "sampler",
                                              "optimizer", "output", "observables"};
#define CONFIG_N_SECTIONS ((int)(sizeof config_sections / sizeof config_sections[0]))
#define CONFIG_SECTION_LIST "lattice, hamiltonian, symmetry, model, sampler, optimizer, output, observables"

struct config_entry {
    int section;  /* index in config_sections */
    char *key;
    char *value;
    char *source; /* file name or "--set" */
    int line;     /* 0 for --set */
    int used;
    int gen;      /* which read call created it (duplicates inside one file are errors) */
};

/* A key some nqs_config_get() call read: the accepted keys of a section and
 * the effective value for the dump. */
struct config_read {
    int section;
    char *key;
    char *value; /* NULL until a value was validated */
};

struct nqs_config {
    struct config_entry *e;
    int n, cap;
    struct config_read *r;
    int n_read, cap_read;
    char *name;
    int gen;
};

/* ------------------------------------------------------------ small helpers */

static char *config_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int config_section_index(const char *name)
{
    for (int k = 0; k < CONFIG_N_SECTIONS; k++)
        if (strcmp(config_sections[k], name) == 0) return k;
    return -1;
}

static struct config_entry *config_find(const struct nqs_config *c, int section, const char *key)
{
    for (int k = 0; k < c->n; k++)
        if (c->e[k].section == section && strcmp(c->e[k].key, key) == 0) return &c->e[k];
    return NULL;
}

/* Append an entry (copies the strings). */
static int config_add(struct nqs_config *c, int section, const char *key, const char *value,
                      const char *source, int line)
{
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 32;
        struct config_entry *e = realloc(c->e, (size_t)cap * sizeof *e);
        if (!e) NQS_ERROR(NQS_ENOMEM, "out of memory reading the input");
        c->e = e;
        c->cap = cap;
    }
    struct config_entry *e = &c->e[c->n];
    e->section = section;
    e->key = config_strdup(key);
    e->value = config_strdup(value);
    e->source = config_strdup(source);
    e->line = line;
    e->used = 0;
    e->gen = c->gen;
    if (!e->key || !e->value || !e->source) {
        free(e->key);
        free(e->value);
        free(e->source);
        NQS_ERROR(NQS_ENOMEM, "out of memory reading the input");
    }
    c->n++;
    return NQS_OK;
}

/* Replace value and origin of an existing entry; it counts as unread again. */
static int config_replace(struct nqs_config *c, struct config_entry *e, const char *value,
                          const char *source, int line)
{
    char *v = config_strdup(value), *s = config_strdup(source);
    if (!v || !s) {
        free(v);
        free(s);
        NQS_ERROR(NQS_ENOMEM, "out of memory reading the input");
    }
    free(e->value);
    free(e->source);
    e->value = v;
    e->source = s;
    e->line = line;
    e->used = 0;
    e->gen = c->gen;
    return NQS_OK;
}

/* "FILE:LINE: [section] key" for an entry, or "NAME: [section] key" when the
 * key is absent (defaults, missing required keys) or came from --set. */
static void config_where(const struct nqs_config *c, const struct config_entry *e,
                         const char *section, const char *key, char *buf, size_t len)
{
    if (e && e->line > 0)
        snprintf(buf, len, "%s:%d: [%s] %s", e->source, e->line, section, key);
    else if (e)
        snprintf(buf, len, "%s: [%s] %s", e->source, section, key);
    else
        snprintf(buf, len, "%s: [%s] %s", nqs_config_name(c), section, key);
}

/* min >= max (in particular both 0, what a table that leaves them out gets)
 * means: no range check. */
static int config_has_range(const struct nqs_opt_def *d) { return d->min < d->max; }

static void config_fmt_bound(double v, char *buf, size_t len)
{
    if (isinf(v))
        snprintf(buf, len, "%s", v > 0 ? "inf" : "-inf");
    else
        snprintf(buf, len, "%.10g", v);
}

static void config_fmt_range(const struct nqs_opt_def *d, char *buf, size_t len)
{
    char lo[32], hi[32];
    config_fmt_bound(d->min, lo, sizeof lo);
    config_fmt_bound(d->max, hi, sizeof hi);
    snprintf(buf, len, "[%s, %s]", lo, hi);
}

/* What the key accepts, for messages and --help. */
static void config_accepted(const struct nqs_opt_def *d, char *buf, size_t len)
{
    char range[80] = "";
    if (config_has_range(d)) config_fmt_range(d, range, sizeof range);
    switch (d->type) {
    case NQS_OPT_REAL:
        snprintf(buf, len, "a finite real number%s%s", range[0] ? " in " : "", range);
        break;
    case NQS_OPT_INT:
        snprintf(buf, len, "an integer%s%s", range[0] ? " in " : "", range);
        break;
    case NQS_OPT_BOOL:
        snprintf(buf, len, "true|false|yes|no|on|off|1|0");
        break;
    case NQS_OPT_CHOICE:
        snprintf(buf, len, "%s", d->choices ? d->choices : "");
        break;
    case NQS_OPT_INTLIST:
        snprintf(buf, len, "1 to %d comma-separated integers%s%s", NQS_OPT_MAXLIST,
                 range[0] ? " in " : "", range);
        break;
    case NQS_OPT_STRING:
        snprintf(buf, len, "text of at most %d characters", NQS_OPT_MAXSTR - 1);
        break;
    }
}

/* Short type text for --help: "real in [0, inf)", "chain|square", ... */
static void config_type_text(const struct nqs_opt_def *d, char *buf, size_t len)
{
    char range[80] = "";
    if (config_has_range(d)) config_fmt_range(d, range, sizeof range);
    const char *sep = range[0] ? " in " : "";
    switch (d->type) {
    case NQS_OPT_REAL: snprintf(buf, len, "real%s%s", sep, range); break;
    case NQS_OPT_INT: snprintf(buf, len, "integer%s%s", sep, range); break;
    case NQS_OPT_BOOL: snprintf(buf, len, "bool"); break;
    case NQS_OPT_CHOICE: snprintf(buf, len, "%s", d->choices ? d->choices : ""); break;
    case NQS_OPT_INTLIST:
        snprintf(buf, len, "list of 1..%d integers%s%s", NQS_OPT_MAXLIST, sep, range);
        break;
    case NQS_OPT_STRING: snprintf(buf, len, "text"); break;
    }
}

/* ------------------------------------------------------------ allocation */

struct nqs_config *nqs_config_alloc(void)
{
    struct nqs_config *c = calloc(1, sizeof *c);
    if (!c) NQS_SET_ERROR(NQS_ENOMEM, "out of memory allocating the input configuration");
    return c;
}

void nqs_config_free(struct nqs_config *c)
{
    if (!c) return;
    for (int k = 0; k < c->n; k++) {
        free(c->e[k].key);
        free(c->e[k].value);
        free(c->e[k].source);
    }
    for (int k = 0; k < c->n_read; k++) {
        free(c->r[k].key);
        free(c->r[k].value);
    }
    free(c->e);
    free(c->r);
    free(c->name);
    free(c);
}

const char *nqs_config_name(const struct nqs_config *c)
{
    return c && c->name ? c->name : "--set";
}

/* ------------------------------------------------------------ INI reading */

struct config_parse {
    struct nqs_config *c;
    const char *name; /* file name for messages */
    const char *text;
    size_t pos;
    int line;
    int rc; /* first error; reading stops there */
};

static int config_is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v'; }

/* Cut an inline comment: ';' or '#' preceded by white space. */
static void config_strip_comment(char *s)
{
    for (char *p = s + 1; *p; p++)
        if ((*p == ';' || *p == '#') && config_is_space(p[-1])) {
            *p = '\0';
            break;
        }
    size_t n = strlen(s);
    while (n > 0 && config_is_space(s[n - 1])) s[--n] = '\0';
}

/* Check one normalised line. Section headers must name a known section;
 * everything else must be empty, a comment, or contain '=' or ':'. */
static int config_check_line(struct config_parse *st, const char *s)
{
    if (s[0] == '\0' || s[0] == ';' || s[0] == '#') return NQS_OK;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != '\0')
            NQS_ERROR(NQS_EINVAL, "%s:%d: syntax error: a section header is '[name]', got '%s'",
                      st->name, st->line, s);
        int len = (int)(end - s - 1);
        char sec[64];
        if (len >= (int)sizeof sec) len = (int)sizeof sec - 1;
        memcpy(sec, s + 1, (size_t)len);
        sec[len] = '\0';
        if (config_section_index(sec) < 0)
            NQS_ERROR(NQS_EINVAL, "%s:%d: unknown section [%s] (accepted: %s)", st->name,
                      st->line, sec, CONFIG_SECTION_LIST);
        return NQS_OK;
    }
    if (!strpbrk(s, "=:"))
        NQS_ERROR(NQS_EINVAL,
                  "%s:%d: syntax error: expected '[section]', 'key = value' or a comment, got '%s'",
                  st->name, st->line, s);
    if (s[0] == '=' || s[0] == ':')
        NQS_ERROR(NQS_EINVAL, "%s:%d: syntax error: key name missing before '%c'", st->name,
                  st->line, s[0]);
    return NQS_OK;
}

/* ini_reader: hand inih the next normalised line; NULL at the end or after an error. */
static char *config_reader(char *str, int num, void *stream)
{
    struct config_parse *st = stream;
    if (st->rc != NQS_OK || st->text[st->pos] == '\0') return NULL;
    const char *start = st->text + st->pos;
    const char *nl = strchr(start, '\n');
    size_t len = nl ? (size_t)(nl - start) : strlen(start);
    st->pos += len + (nl ? 1 : 0);
    st->line++;

    if (st->line == 1 && len >= 3 && memcmp(start, "\xEF\xBB\xBF", 3) == 0) {
        start += 3;
        len -= 3;
    }
    while (len > 0 && config_is_space(*start)) {
        start++;
        len--;
    }
    /* inih needs room for the line, a newline and the terminator. */
    if (num < 3 || len > (size_t)num - 3) {
        st->rc = nqs_error_set(NQS_EINVAL, __FILE__, __LINE__,
                               "%s:%d: line too long (%zu characters, at most %d accepted)",
                               st->name, st->line, len, num - 3);
        return NULL;
    }
    memcpy(str, start, len);
    str[len] = '\0';
    if (str[0] != ';' && str[0] != '#') config_strip_comment(str);
    else str[0] = '\0';
    st->rc = config_check_line(st, str);
    if (st->rc != NQS_OK) return NULL;
    return str;
}

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
    struct config_parse *st = user;
    if (st->rc != NQS_OK) return 0;
    int sec = config_section_index(section);
    if (section[0] == '\0') {
        st->rc = nqs_error_set(NQS_EINVAL, __FILE__, __LINE__,
                               "%s:%d: key '%s' is outside any section (accepted sections: %s)",
                               st->name, st->line, name, CONFIG_SECTION_LIST);
        return 0;
    }
    if (sec < 0) { /* the reader checked headers already */
        st->rc = nqs_error_set(NQS_EINVAL, __FILE__, __LINE__,
                               "%s:%d: unknown section [%s] (accepted: %s)", st->name, st->line,
                               section, CONFIG_SECTION_LIST);
        return 0;
    }
    if (name[0] == '\0') {
        st->rc = nqs_error_set(NQS_EINVAL, __FILE__, __LINE__,
                               "%s:%d: syntax error: key name missing", st->name, st->line);
        return 0;
    }
    /* "key =# x" gives the value "# x", which the stored effective input
     * ("key = # x") would read back as a comment (found by fuzzing). */
    if (value[0] == ';' || value[0] == '#') {
        st->rc = nqs_error_set(NQS_EINVAL, __FILE__, __LINE__,
                               "%s:%d: [%s] %s: a value cannot start with '%c' (it starts a "
                               "comment after 'key = '; accepted: a value, or a comment after a "
                               "space)", st->name, st->line, section, name, value[0]);
        return 0;
    }
    struct config_entry *e = config_find(st->c, sec, name);
    if (e && e->gen == st->c->gen) {
        st->rc = nqs_error_set(NQS_EINVAL, __FILE__, __LINE__,
                               "%s:%d: [%s] %s: duplicate key (first given at line %d)",
                               st->name, st->line, section, name, e->line);
        return 0;
    }
    if (e && e->line == 0) return 1; /* a --set override wins over any file */
    st->rc = e ? config_replace(st->c, e, value, st->name, st->line)
               : config_add(st->c, sec, name, value, st->name, st->line);
    return st->rc == NQS_OK;
}

int nqs_config_read_string(struct nqs_config *c, const char *text, const char *name)
{
    char *nm = config_strdup(name);
    if (!nm) NQS_ERROR(NQS_ENOMEM, "out of memory reading '%s'", name);
    free(c->name);
    c->name = nm;
    c->gen++;

    struct config_parse st = {.c = c, .name = c->name, .text = text, .pos = 0, .line = 0,
                              .rc = NQS_OK};
    int ret = ini_parse_stream(config_reader, &st, config_handler, &st);
    if (st.rc != NQS_OK) return st.rc;
    if (ret == -2) NQS_ERROR(NQS_ENOMEM, "out of memory parsing '%s'", c->name);
    if (ret != 0)
        NQS_ERROR(NQS_EINVAL, "%s:%d: syntax error: expected '[section]', 'key = value' or a comment",
                  c->name, ret);
    return NQS_OK;
}

int nqs_config_read_file(struct nqs_config *c, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) NQS_ERROR(NQS_EIO, "cannot open input file '%s': %s", path, strerror(errno));
    char *text = NULL;
    size_t len = 0, cap = 0;
    int rc = NQS_OK;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? 2 * cap : 8192;
            char *t = realloc(text, cap);
            if (!t) {
                rc = nqs_error_set(NQS_ENOMEM, __FILE__, __LINE__, "out of memory reading '%s'",
                                   path);
                break;
            }
            text = t;
        }
        size_t got = fread(text + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                rc = nqs_error_set(NQS_EIO, __FILE__, __LINE__, "cannot read input file '%s': %s",
                                   path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (rc == NQS_OK) {
        text[len] = '\0';
        if (strlen(text) != len)
            rc = nqs_error_set(NQS_EINVAL, __FILE__, __LINE__,
                               "%s: not a text file (contains a NUL byte)", path);
        else
            rc = nqs_config_read_string(c, text, path);
    }
    free(text);
    return rc;
}

/* Trim white space in place; returns the start. */
static char *config_trim(char *s)
{
    while (config_is_space(*s) || *s == '\n') s++;
    size_t n = strlen(s);
    while (n > 0 && (config_is_space(s[n - 1]) || s[n - 1] == '\n')) s[--n] = '\0';
    return s;
}

int nqs_config_set(struct nqs_config *c, const char *assignment)
{
    char buf[NQS_OPT_MAXSTR + 128];
    if (strlen(assignment) >= sizeof buf)
        NQS_ERROR(NQS_EINVAL, "--set: assignment too long (at most %zu characters)",
                  sizeof buf - 1);
    /* The effective input is stored in result files as INI text and read
     * back by --restart: a newline would inject lines into it, and other
     * control characters have no place in a value either. */
    for (const char *p = assignment; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            NQS_ERROR(NQS_EINVAL, "--set: control character 0x%02x at position %d of the "
                      "override (accepted: section.key=value on one line of printable text)",
                      ch, (int)(p - assignment) + 1);
    }
    strcpy(buf, assignment);
    char *eq = strchr(buf, '=');
    char *dot = strchr(buf, '.');
    if (!eq || !dot || dot > eq)
        NQS_ERROR(NQS_EINVAL, "--set: malformed override '%s' (accepted: section.key=value)",
                  assignment);
    *eq = '\0';
    *dot = '\0';
    char *section = config_trim(buf), *key = config_trim(dot + 1), *value = config_trim(eq + 1);
    if (section[0] == '\0' || key[0] == '\0')
        NQS_ERROR(NQS_EINVAL, "--set: malformed override '%s' (accepted: section.key=value)",
                  assignment);
    int sec = config_section_index(section);
    if (sec < 0)
        NQS_ERROR(NQS_EINVAL, "--set: unknown section [%s] in '%s' (accepted: %s)", section,
                  assignment, CONFIG_SECTION_LIST);
    /* ...and what an input file would read as a comment would not read back. */
    for (char *p = value; *p; p++)
        if ((*p == ';' || *p == '#') && (p == value || config_is_space(p[-1])))
            NQS_ERROR(NQS_EINVAL, "--set: [%s] %s: '%c' at the start of the value or after a "
                      "space starts a comment in an input file, so the stored input would not "
                      "read back (accepted: a value without ' ;' and ' #')", section, key, *p);
    struct config_entry *e = config_find(c, sec, key);
    if (e) return config_replace(c, e, value, "--set", 0);
    return config_add(c, sec, key, value, "--set", 0);
}

/* ------------------------------------------------------------ typed reading */

static struct config_read *config_record_key(struct nqs_config *c, int section, const char *key)
{
    for (int k = 0; k < c->n_read; k++)
        if (c->r[k].section == section && strcmp(c->r[k].key, key) == 0) return &c->r[k];
    if (c->n_read == c->cap_read) {
        int cap = c->cap_read ? 2 * c->cap_read : 32;
        struct config_read *r = realloc(c->r, (size_t)cap * sizeof *r);
        if (!r) return NULL;
        c->r = r;
        c->cap_read = cap;
    }
    struct config_read *r = &c->r[c->n_read];
    r->section = section;
    r->key = config_strdup(key);
    r->value = NULL;
    if (!r->key) return NULL;
    c->n_read++;
    return r;
}

/* Parse a long, the whole string. */
static int config_parse_long(const char *s, long *v)
{
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (end == s || *end != '\0') return -1;
    if (errno == ERANGE) return -2;
    *v = x;
    return 0;
}

/* Validate `text` for option `d` into `out`. On failure, writes the problem
 * (without location) to `why` and returns NQS_EINVAL. */
long nqs_config_choice_index(const char *choices, const char *word, size_t len, const char **canon)
{
    const char *c = choices ? choices : "";
    for (long idx = 0;; idx++) {
        const char *bar = strchr(c, '|');
        size_t wl = bar ? (size_t)(bar - c) : strlen(c);
        if (wl == len && strncasecmp(c, word, wl) == 0) {
            if (canon) *canon = c;
            return idx;
        }
        if (!bar) return -1;
        c = bar + 1;
    }
}

static int config_parse_value(const struct nqs_opt_def *d, const char *text,
                              struct nqs_opt_val *out, char *why, size_t len)
{
    size_t tl = strlen(text);
    if (tl >= NQS_OPT_MAXSTR) {
        snprintf(why, len, "value too long (%zu characters)", tl);
        return NQS_EINVAL;
    }
    memcpy(out->str, text, tl + 1);
    out->x = 0;
    out->i = 0;
    out->n_list = 0;

    /* An empty value is accepted only where the default is empty ("not set"). */
    if (text[0] == '\0' && d->type != NQS_OPT_STRING) {
        if (d->def && d->def[0] == '\0') {
            out->x = NAN;
            out->i = d->type == NQS_OPT_CHOICE ? -1 : 0;
            return NQS_OK;
        }
        snprintf(why, len, "empty value");
        return NQS_EINVAL;
    }
    char range[80];
    config_fmt_range(d, range, sizeof range);
    switch (d->type) {
    case NQS_OPT_REAL: {
        char *end;
        errno = 0;
        double x = strtod(text, &end);
        if (end == text || *end != '\0') {
            snprintf(why, len, "'%s' is not a number", text);
            return NQS_EINVAL;
        }
        if (!isfinite(x)) {
            snprintf(why, len, "'%s' is not a finite number", text);
            return NQS_EINVAL;
        }
        if (config_has_range(d) && (x < d->min || x > d->max)) {
            snprintf(why, len, "%s is outside %s", text, range);
            return NQS_EINVAL;
        }
        out->x = x;
        return NQS_OK;
    }
    case NQS_OPT_INT: {
        long v;
        int r = config_parse_long(text, &v);
        if (r == -1) {
            snprintf(why, len, "'%s' is not an integer", text);
            return NQS_EINVAL;
        }
        if (r == -2 || (config_has_range(d) && ((double)v < d->min || (double)v > d->max))) {
            snprintf(why, len, "%s is outside %s", text,
                     config_has_range(d) ? range : "the range of a long integer");
            return NQS_EINVAL;
        }
        out->i = v;
        out->x = (double)v;
        return NQS_OK;
    }
    case NQS_OPT_BOOL: {
        static const char *const yes[] = {"true", "yes", "on", "1"};
        static const char *const no[] = {"false", "no", "off", "0"};
        for (int k = 0; k < 4; k++) {
            if (strcasecmp(text, yes[k]) == 0) {
                out->i = 1;
                out->x = 1;
                return NQS_OK;
            }
            if (strcasecmp(text, no[k]) == 0) return NQS_OK;
        }
        snprintf(why, len, "'%s' is not a boolean", text);
        return NQS_EINVAL;
    }
    case NQS_OPT_CHOICE: {
        const char *word = NULL;
        long idx = nqs_config_choice_index(d->choices, text, tl, &word);
        if (idx < 0) {
            snprintf(why, len, "'%s' is not one of the choices", text);
            return NQS_EINVAL;
        }
        memcpy(out->str, word, tl); /* canonical spelling */
        out->str[tl] = '\0';
        out->i = idx;
        out->x = (double)idx;
        return NQS_OK;
    }
    case NQS_OPT_INTLIST: {
        char tmp[NQS_OPT_MAXSTR];
        memcpy(tmp, text, tl + 1);
        int n = 0;
        char *save = tmp;
        for (;;) {
            char *comma = strchr(save, ',');
            if (comma) *comma = '\0';
            char *item = config_trim(save);
            long v;
            if (n == NQS_OPT_MAXLIST) {
                snprintf(why, len, "'%s' has more than %d entries", text, NQS_OPT_MAXLIST);
                return NQS_EINVAL;
            }
            int r = config_parse_long(item, &v);
            if (r == -1) {
                snprintf(why, len, "'%s' is not a comma-separated list of integers", text);
                return NQS_EINVAL;
            }
            double lo = config_has_range(d) ? d->min : INT_MIN;
            double hi = config_has_range(d) ? d->max : INT_MAX;
            if (r == -2 || (double)v < lo || (double)v > hi || v < INT_MIN || v > INT_MAX) {
                char b[80];
                config_fmt_bound(lo, b, sizeof b);
                char b2[40];
                config_fmt_bound(hi, b2, sizeof b2);
                snprintf(why, len, "entry %d ('%s') is outside [%s, %s]", n + 1, item, b, b2);
                return NQS_EINVAL;
            }
            out->list[n++] = (int)v;
            if (!comma) break;
            save = comma + 1;
        }
        out->n_list = n;
        return NQS_OK;
    }
    case NQS_OPT_STRING:
        return NQS_OK;
    }
    snprintf(why, len, "option type %d unknown", (int)d->type);
    return NQS_EINTERNAL;
}

/* For a missing required key: "; not recognised: extnt (line 4)" naming the
 * unread keys of the section that this table does not know either (typos). */
static void config_unknown_hint(const struct nqs_config *c, int sec,
                                const struct nqs_opt_def *defs, int n, char *buf, size_t len)
{
    buf[0] = '\0';
    for (int k = 0; k < c->n; k++) {
        const struct config_entry *e = &c->e[k];
        if (e->section != sec || e->used) continue;
        int known = 0;
        for (int d = 0; d < n; d++) known |= strcmp(defs[d].name, e->key) == 0;
        if (known) continue;
        size_t used = strlen(buf);
        if (e->line > 0)
            snprintf(buf + used, len - used, "%s%s (line %d)", used ? ", " : "; not recognised: ",
                     e->key, e->line);
        else
            snprintf(buf + used, len - used, "%s%s (--set)", used ? ", " : "; not recognised: ",
                     e->key);
    }
}

int nqs_config_get(struct nqs_config *c, const char *section, const struct nqs_opt_def *defs,
                   int n, struct nqs_opt_val *out)
{
    int sec = config_section_index(section);
    if (sec < 0)
        NQS_ERROR(NQS_EINTERNAL, "internal: options read from unknown section [%s]", section);
    /* Tables are indexed by an enum through designated initialisers (options.h):
     * an enum member without its entry leaves a hole with no name. */
    for (int k = 0; k < n; k++)
        if (!defs[k].name)
            NQS_ERROR(NQS_EINTERNAL, "internal: entry %d of the [%s] option table has no key", k,
                      section);
    /* Record every key first, so an 'accepted' list is complete even when a
     * later key of this table is wrong. */
    for (int k = 0; k < n; k++)
        if (!config_record_key(c, sec, defs[k].name))
            NQS_ERROR(NQS_ENOMEM, "out of memory reading [%s]", section);

    for (int k = 0; k < n; k++) {
        const struct nqs_opt_def *d = &defs[k];
        struct config_entry *e = config_find(c, sec, d->name);
        char why[NQS_OPT_MAXSTR + 128], acc[256], where[NQS_OPT_MAXSTR + 64];
        const char *text;
        memset(&out[k], 0, sizeof out[k]);
        if (e) {
            e->used = 1;
            text = e->value;
            out[k].given = 1;
        } else if (d->def) {
            text = d->def;
        } else {
            char hint[256];
            config_accepted(d, acc, sizeof acc);
            config_where(c, NULL, section, d->name, where, sizeof where);
            config_unknown_hint(c, sec, defs, n, hint, sizeof hint);
            NQS_ERROR(NQS_EINVAL, "%s: required key is missing (accepted: %s)%s", where, acc,
                      hint);
        }
        int rc = config_parse_value(d, text, &out[k], why, sizeof why);
        if (rc != NQS_OK) {
            config_accepted(d, acc, sizeof acc);
            config_where(c, e, section, d->name, where, sizeof where);
            if (!e)
                NQS_ERROR(NQS_EINTERNAL, "%s: internal: the default '%s' is invalid: %s", where,
                          text, why);
            NQS_ERROR(rc, "%s: %s (accepted: %s)", where, why, acc);
        }
        out[k].given = e != NULL;
        struct config_read *r = config_record_key(c, sec, d->name);
        char *v = config_strdup(text);
        if (!r || !v) {
            free(v);
            NQS_ERROR(NQS_ENOMEM, "out of memory reading [%s]", section);
        }
        free(r->value);
        r->value = v;
    }
    return NQS_OK;
}

int nqs_config_has(const struct nqs_config *c, const char *section, const char *key)
{
    int sec = config_section_index(section);
    return sec >= 0 && config_find(c, sec, key) != NULL;
}

int nqs_config_origin(const struct nqs_config *c, const char *section, const char *key,
                      const char **source, int *line)
{
    int sec = config_section_index(section);
    const struct config_entry *e = sec >= 0 ? config_find(c, sec, key) : NULL;
    if (!e) return 0;
    if (source) *source = e->source;
    if (line) *line = e->line;
    return 1;
}

int nqs_config_error(const struct nqs_config *c, int code, const char *section, const char *key,
                     const char *fmt, ...)
{
    int sec = config_section_index(section);
    const struct config_entry *e = sec >= 0 ? config_find(c, sec, key) : NULL;
    char where[NQS_OPT_MAXSTR + 64], msg[1024];
    config_where(c, e, section, key, where, sizeof where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nqs_error_set(code, __FILE__, __LINE__, "%s: %s", where, msg);
}

/* ------------------------------------------------------------ unused keys */

static int config_unused_error(const struct nqs_config *c, const struct config_entry *e)
{
    char acc[1024] = "", where[NQS_OPT_MAXSTR + 64];
    for (int k = 0; k < c->n_read; k++) {
        if (c->r[k].section != e->section) continue;
        if (acc[0]) strncat(acc, ", ", sizeof acc - strlen(acc) - 1);
        strncat(acc, c->r[k].key, sizeof acc - strlen(acc) - 1);
    }
    const char *sname = config_sections[e->section];
    config_where(c, e, sname, e->key, where, sizeof where);
    if (!acc[0])
        NQS_ERROR(NQS_EINVAL, "%s: unknown key (no key of [%s] is read by this command)", where,
                  sname);
    NQS_ERROR(NQS_EINVAL, "%s: unknown key (accepted: %s)", where, acc);
}

int nqs_config_check_unused(const struct nqs_config *c)
{
    for (int k = 0; k < c->n; k++)
        if (!c->e[k].used) return config_unused_error(c, &c->e[k]);
    return NQS_OK;
}

int nqs_config_check_unused_sections(const struct nqs_config *c, const char *const *sections)
{
    for (int k = 0; k < c->n; k++) {
        if (c->e[k].used) continue;
        for (int s = 0; sections[s]; s++)
            if (strcmp(sections[s], config_sections[c->e[k].section]) == 0)
                return config_unused_error(c, &c->e[k]);
    }
    return NQS_OK;
}

/* ------------------------------------------------------------ dump and help */

char *nqs_config_dump(const struct nqs_config *c)
{
    size_t cap = 256, len = 0;
    for (int k = 0; k < c->n_read; k++)
        if (c->r[k].value) cap += strlen(c->r[k].key) + strlen(c->r[k].value) + 8;
    cap += (size_t)CONFIG_N_SECTIONS * 32;
    char *out = malloc(cap);
    if (!out) {
        NQS_SET_ERROR(NQS_ENOMEM, "out of memory writing the effective input");
        return NULL;
    }
    out[0] = '\0';
    for (int sec = 0; sec < CONFIG_N_SECTIONS; sec++) {
        int header = 0;
        for (int k = 0; k < c->n_read; k++) {
            if (c->r[k].section != sec || !c->r[k].value) continue;
            if (!header) {
                len += (size_t)snprintf(out + len, cap - len, "%s[%s]\n", len ? "\n" : "",
                                        config_sections[sec]);
                header = 1;
            }
            len += (size_t)snprintf(out + len, cap - len, "%s = %s\n", c->r[k].key,
                                    c->r[k].value);
        }
    }
    return out;
}

void nqs_opt_print_help(FILE *out, const struct nqs_opt_def *defs, int n)
{
    for (int k = 0; k < n; k++) {
        char type[256], def[NQS_OPT_MAXSTR + 16];
        config_type_text(&defs[k], type, sizeof type);
        if (!defs[k].def)
            snprintf(def, sizeof def, "required");
        else if (!defs[k].def[0])
            snprintf(def, sizeof def, "default: not set");
        else
            snprintf(def, sizeof def, "default %s", defs[k].def);
        fprintf(out, "  %-18s (%s, %s): %s\n", defs[k].name, type, def,
                defs[k].help ? defs[k].help : "");
    }
}
