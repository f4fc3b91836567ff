/*
 * nqs.c - the program `nqs`: the command line is parsed and dispatched by
 * nqs_main (main.c, cli.h).
 */
#include "cli.h"

int main(int argc, char **argv)
{
    return nqs_main(argc, argv);
}
