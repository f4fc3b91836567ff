/*
 * options.h - typed option tables shared by the input parser, --help and HDF5.
 *
 * Every plug-in (model, Hamiltonian) and every core section declares its keys
 * as a table of struct nqs_opt_def. The config layer (config.h) reads a table
 * from one INI section into an array of struct nqs_opt_val, validating types
 * and ranges, so parsing, `--help` text and the attributes written to result
 * files all come from the same table.
 */
#ifndef NQS_OPTIONS_H
#define NQS_OPTIONS_H

enum nqs_opt_type {
    NQS_OPT_REAL,    /* double, range [min, max] */
    NQS_OPT_INT,     /* long, range [min, max] */
    NQS_OPT_BOOL,    /* true/false/yes/no/on/off/1/0 */
    NQS_OPT_CHOICE,  /* one of the '|'-separated words in `choices` */
    NQS_OPT_INTLIST, /* comma-separated ints, 1..NQS_OPT_MAXLIST entries, each in [min, max] */
    NQS_OPT_STRING   /* free text (paths) */
};

#define NQS_OPT_MAXLIST 8
#define NQS_OPT_MAXSTR 1024

struct nqs_opt_def {
    const char *name;
    enum nqs_opt_type type;
    const char *def;     /* default as it would be written in the input; NULL = required */
    const char *help;    /* one line: meaning, units, convention */
    const char *choices; /* NQS_OPT_CHOICE only: "auto|true|false" */
    double min, max;     /* NQS_OPT_REAL/INT/INTLIST: accepted closed range */
};
/* Range and default conventions (config.c):
 *  - [min, max] is checked only when min < max. A table that leaves both out
 *    (0, 0), or gives min >= max, means "unbounded". For a one-sided range use
 *    -HUGE_VAL or HUGE_VAL for the open side (e.g. .min = 1, .max = HUGE_VAL).
 *  - def == NULL: the key is required. def == "": the key is optional with no
 *    value ("not set"); an empty value in the input means the same. Then str is
 *    "", x is NAN, i is 0 (-1 for NQS_OPT_CHOICE) and n_list is 0.
 *  - BOOL and CHOICE words are matched case-insensitively; str holds the
 *    spelling of the table. Key names are case-sensitive.
 *
 * Writing a table: name each key in an enum ending in a count, size the table
 * by the count and give every entry by its designated initialiser, so the
 * values array (struct nqs_opt_val v[COUNT]) is indexed by the same names:
 *
 *     enum { RBM_ALPHA, RBM_GROUP, RBM_N_OPT };
 *     static const struct nqs_opt_def rbm_options[RBM_N_OPT] = {
 *         [RBM_ALPHA] = {"alpha", NQS_OPT_INT, "1", "hidden-unit density", NULL, 1, 256},
 *         [RBM_GROUP] = {...},
 *     };
 *     ... alpha = opt[RBM_ALPHA].i;
 *
 * The order of the entries is the order of `--help` and of the HDF5
 * attributes. A member left without an entry has name NULL, which
 * nqs_config_get refuses (NQS_EINTERNAL) on the first read of the table. */

struct nqs_opt_val {
    double x;                  /* NQS_OPT_REAL (also set for INT) */
    long i;                    /* NQS_OPT_INT, NQS_OPT_BOOL (0/1), NQS_OPT_CHOICE (index) */
    int list[NQS_OPT_MAXLIST]; /* NQS_OPT_INTLIST */
    int n_list;
    char str[NQS_OPT_MAXSTR];  /* the text as given (or the default); CHOICE: the word */
    int given;                 /* 1 if the input set it, 0 if the default was used */
};

#endif
