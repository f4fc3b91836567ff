/*
 * common.c - what every section of `nqs bench` shares (bench.h): clocks and
 * the peak resident memory.
 */
#include <sys/resource.h>
#include <time.h>

#include "bench.h"

double nqs_bench_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double nqs_bench_peak_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}
