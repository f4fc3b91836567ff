/*
 * common.c - what the sections of `nqs bench` share (bench.h): clocks, the
 * peak resident memory, the common members of an SR-step row of --json.
 */
#include <sys/resource.h>
#include <time.h>

#include "bench.h"
#include "sr.h"

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

void nqs_bench_sr_step_json(struct nqs_json_writer *w, double wall, double cpu,
                            const struct nqs_sr_info *info)
{
    nqs_json_put_number(w, "seconds_wall", wall);
    nqs_json_put_number(w, "seconds_cpu", cpu);
    nqs_json_put_number(w, "peak_rss_mib", nqs_bench_peak_mib());
    nqs_json_put_int(w, "cg_iterations", info->iterations);
    nqs_json_put_bool(w, "converged", info->converged);
    nqs_json_put_number(w, "residual", info->residual);
}
