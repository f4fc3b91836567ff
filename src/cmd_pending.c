/*
 * cmd_pending.c - TEMPORARY placeholders for the commands implemented on
 * other branches (exact: src/exact.c, run: src/driver.c; bench is src/bench.c),
 * so that the command line links on its own. Delete this file at merge.
 */
#include "cli.h"
#include "error.h"

int nqs_cmd_exact(const struct nqs_cli *cli)
{
    (void)cli;
    NQS_ERROR(NQS_EUNSUP, "'exact' is not available in this build yet");
}

int nqs_cmd_run(const struct nqs_cli *cli)
{
    (void)cli;
    NQS_ERROR(NQS_EUNSUP, "'run' is not available in this build yet");
}
