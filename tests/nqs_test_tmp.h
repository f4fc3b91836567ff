/*
 * nqs_test_tmp.h - the temporary directory of a test program that writes
 * files (inputs, result files, captured output): `tmpdir` (filled by the
 * program's setup with mkdtemp), tp(name) for a path in it, TP() to keep one,
 * write_text() for a small input file. Include after <cmocka.h>.
 */
#ifndef NQS_TEST_TMP_H
#define NQS_TEST_TMP_H

#include <stdio.h>

static char tmpdir[64];

/* Path of `name` in the temporary directory, in one of 16 rotating buffers:
 * for arguments of one call. A path kept longer is copied with TP(). */
static const char *tp(const char *name)
{
    static char buf[16][320];
    static int k;
    k = (k + 1) % 16;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

#define TP(var, name)                                                                          \
    char var[320];                                                                             \
    snprintf(var, sizeof var, "%s/%s", tmpdir, name)

static void write_text(const char *name, const char *text)
{
    FILE *f = fopen(tp(name), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

#endif
