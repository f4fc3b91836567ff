/*
 * main.c - the program `nqs-bench`: the benchmarks as their own executable.
 * `nqs-bench ARGS...` is `nqs bench ARGS...` (same sections, CONFIG, flags,
 * output and exit status): the word "bench" is inserted and the command line
 * goes through the same parser (nqs_main, src/cli/main.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int main(int argc, char **argv)
{
    char **args = calloc((size_t)argc + 2, sizeof *args);
    if (!args) {
        fprintf(stderr, "nqs: error: out of memory\n");
        return 1;
    }
    static char bench_word[] = "bench";
    args[0] = argv[0];
    args[1] = bench_word;
    if (argc > 1) memcpy(args + 2, argv + 1, (size_t)(argc - 1) * sizeof *args);
    int status = nqs_main(argc + 1, args);
    free(args);
    return status;
}
