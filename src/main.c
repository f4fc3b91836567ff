/* main.c - command-line entry point (placeholder until the CLI lands). */
#include <stdio.h>

int main(void)
{
    printf("nqs %s (%s)\n", NQS_VERSION, NQS_GIT_COMMIT);
    return 0;
}
