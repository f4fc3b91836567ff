/*
 * bench_models.c - stand-alone driver of the model benchmark (the "models"
 * section of `nqs bench`), usable before the command line dispatches to it.
 * Not a test: it is not registered with ctest.
 */
#include <stdio.h>

#include "cli.h"
#include "error.h"

int main(int argc, char **argv)
{
    struct nqs_cli cli = {.command = "bench", .argc = argc, .argv = argv};
    int rc = nqs_cmd_bench(&cli);
    if (rc != NQS_OK) {
        fprintf(stderr, "bench_models: error: %s\n", nqs_last_error());
        return 1;
    }
    return 0;
}
