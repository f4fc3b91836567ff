/*
 * cmd_pending.c - TEMPORARY placeholders for the commands implemented on
 * other branches (run: src/driver.c; exact is src/exact.c, bench is src/bench.c),
 * so that the command line links on its own. Delete this file at merge.
 */
#include "cli.h"
#include "error.h"

int nqs_cmd_run(const struct nqs_cli *cli)
{
    (void)cli;
    NQS_ERROR(NQS_EUNSUP, "'run' is not available in this build yet");
}
