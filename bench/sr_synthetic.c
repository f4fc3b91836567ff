/*
 * sr_synthetic.c - the synthetic part of section "sr" of `nqs bench`: timing
 * of one SR step (centring, E, F and the solve of
 * (S + eps I) delta = F, eps = 0.01) for each solver at the sizes of the
 * standard problems, with OpenBLAS on 2 threads, and the peak resident memory
 * (getrusage ru_maxrss, cumulative over the process). CPU seconds (all
 * threads) are printed next to wall seconds: on a shared machine they show the
 * work done when the wall time is inflated by other processes.
 *
 * The log-derivatives are synthetic but SR-like: O = c_p (L D R + 0.05 G) + m_p
 * with Gaussian L (N_s x 48), R (48 x P), G, singular-value weights
 * D_k = 0.75^k (eigenvalues of S spread over ~12 decades above a noise floor),
 * column scales c_p spread over two decades (so Jacobi preconditioning
 * matters: cg is timed without (the default) and with it, "cg-jac") and a
 * non-zero column mean m_p (so centring matters).
 */
#include <cblas.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"
#include "error.h"
#include "sr.h"

#define BENCH_RANK 48

/* N(0, sd^2) by Box-Muller (gsl_randist.h cannot be included next to
 * OpenBLAS's cblas.h: it pulls in gsl_cblas.h with the same enums). */
static double bench_sr_gauss(gsl_rng *rng, double sd)
{
    double u = gsl_rng_uniform_pos(rng), v = gsl_rng_uniform(rng);
    return sd * sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static double bench_sr_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

/* Fill O (n x P, ld P) and eloc as described in the file header. */
static int bench_sr_fill(int P, int n, unsigned long seed, double complex *O, double complex *eloc)
{
    const int r = BENCH_RANK;
    double complex *L = malloc((size_t)n * r * sizeof *L);
    double complex *R = malloc((size_t)r * P * sizeof *R);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!L || !R || !rng) {
        free(L);
        free(R);
        if (rng) gsl_rng_free(rng);
        NQS_ERROR(NQS_ENOMEM, "bench sr: out of memory for the synthetic O (P = %d)", P);
    }
    gsl_rng_set(rng, seed);
    for (int s = 0; s < n; s++)
        for (int k = 0; k < r; k++)
            L[(size_t)s * r + k] = pow(0.75, k) * CMPLX(bench_sr_gauss(rng, 1.0),
                                                        bench_sr_gauss(rng, 1.0));
    for (size_t k = 0; k < (size_t)r * P; k++)
        R[k] = CMPLX(bench_sr_gauss(rng, 1.0), bench_sr_gauss(rng, 1.0));
    const double complex one = 1.0, zero = 0.0;
    cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, P, r, &one, L, r, R, P, &zero, O, P);
    for (int s = 0; s < n; s++) {
        for (int p = 0; p < P; p++) {
            double c = pow(100.0, -(double)p / P);
            double complex g = CMPLX(bench_sr_gauss(rng, 0.05),
                                     bench_sr_gauss(rng, 0.05));
            O[(size_t)s * P + p] = c * (O[(size_t)s * P + p] + g) + CMPLX(0.3, -0.1 * (p % 7));
        }
        eloc[s] = CMPLX(-40.0 + 3.0 * creal(L[(size_t)s * r]) + bench_sr_gauss(rng, 1.0),
                        0.2 * bench_sr_gauss(rng, 1.0));
    }
    free(L);
    free(R);
    gsl_rng_free(rng);
    return NQS_OK;
}

static int bench_sr_case(struct nqs_bench_out *o, int P, int n, const struct nqs_bench_solver *solvers,
                         int n_solvers,
                         const char *label, int cg_maxiter)
{
    double complex *O = malloc((size_t)n * P * sizeof *O);
    double complex *eloc = malloc((size_t)n * sizeof *eloc);
    double complex *F = malloc((size_t)P * sizeof *F);
    double complex *delta = malloc((size_t)P * sizeof *delta);
    int rc = NQS_OK;
    if (!O || !eloc || !F || !delta) {
        rc = nqs_error_set(NQS_ENOMEM, __FILE__, __LINE__, "bench sr: out of memory (P = %d)", P);
        goto done;
    }
    if ((rc = bench_sr_fill(P, n, 1234u + (unsigned long)P, O, eloc)) != NQS_OK) goto done;
    for (int k = 0; k < n_solvers; k++) {
        struct nqs_sr_options so;
        nqs_sr_options_default(&so);
        so.solver = (enum nqs_sr_solver)solvers[k].solver;
        so.cg_precond = (enum nqs_sr_precond)solvers[k].precond;
        so.cg_precision = (enum nqs_sr_precision)solvers[k].precision;
        if (solvers[k].cg_tol > 0) so.cg_tol = solvers[k].cg_tol;
        so.mem_budget = 4.0 * 1024 * 1024 * 1024;
        so.cg_maxiter = cg_maxiter;
        struct nqs_sr *sr = nqs_sr_alloc(P, n, &so);
        if (!sr) {
            rc = NQS_ENOMEM;
            goto done;
        }
        /* small cases: best of 3 after a warm-up; the large one: a single step */
        int reps = (double)P * n > 1e7 ? 1 : 3;
        double best = INFINITY, best_cpu = INFINITY;
        struct nqs_sr_info info = {0};
        for (int rep = 0; rep < reps + (reps > 1); rep++) {
            double t0 = nqs_bench_clock(CLOCK_MONOTONIC), c0 = bench_sr_cpu();
            int r = nqs_sr_solve(sr, O, P, eloc, n, 0.01, 0.0, F, delta, &info);
            double t = nqs_bench_clock(CLOCK_MONOTONIC) - t0, c = bench_sr_cpu() - c0;
            if (r != NQS_OK && r != NQS_NOTCONV) {
                nqs_sr_free(sr);
                rc = r;
                goto done;
            }
            if (rep > 0 || reps == 1) {
                best = fmin(best, t);
                best_cpu = fmin(best_cpu, c);
            }
        }
        nqs_sr_free(sr);
        if (o->json) {
            struct nqs_json_writer *w = &o->w;
            nqs_json_begin_object(w, NULL);
            nqs_json_put_string(w, "data", "synthetic");
            nqs_json_put_string(w, "case", label);
            nqs_json_put_int(w, "n_par", P);
            nqs_json_put_int(w, "n_samples", n);
            nqs_json_put_string(w, "solver", solvers[k].name);
            nqs_json_put_int(w, "blas_threads", 2);
            nqs_bench_sr_step_json(w, best, best_cpu, &info);
            nqs_json_end(w);
        } else {
            char cg[64] = "";
            if (solvers[k].solver == NQS_SR_CG)
                snprintf(cg, sizeof cg, "  cg %4d it%s %6.2f ms/it  residual %.1e",
                         info.iterations, info.converged ? " " : "*",
                         1e3 * best / (info.iterations + 1), info.residual);
            fprintf(o->f,
                    "sr  %-18s P=%6d N_s=%5d  %-6s %8.3f s wall %8.3f s cpu  peak RSS %5.0f MiB%s\n",
                    label, P, n, solvers[k].name, best, best_cpu,
                    nqs_bench_peak_mib(), cg);
        }
        fflush(o->f);
    }
done:
    free(O);
    free(eloc);
    free(F);
    free(delta);
    return rc;
}

int nqs_bench_sr_synthetic(struct nqs_bench_out *o)
{
    static const struct nqs_bench_solver all[] = {
        {NQS_SR_DENSE, 0, 0, 0, "dense"}, {NQS_SR_CG, NQS_SR_PRECOND_NONE, 0, 0, "cg"},
        {NQS_SR_CG, NQS_SR_PRECOND_JACOBI, 0, 0, "cg-jac"}, {NQS_SR_MINSR, 0, 0, 0, "minsr"}};
    static const struct nqs_bench_solver big[] = {
        {NQS_SR_MINSR, 0, 0, 0, "minsr"}, {NQS_SR_CG, NQS_SR_PRECOND_NONE, 0, 0, "cg"},
        {NQS_SR_CG, NQS_SR_PRECOND_JACOBI, 0, 0, "cg-jac"}};
    int threads = openblas_get_num_threads();
    openblas_set_num_threads(2);
    struct nqs_sr_options def;
    nqs_sr_options_default(&def);
    if (!o->json)
        fprintf(o->f,
                "== sr, synthetic O: SR step (centre, E, F, solve), eps = 0.01, cg_tol %g (default "
                "options), OpenBLAS 2 threads ==\n"
                "# * = cg stopped at cg_maxiter (1000; 200 for the largest case, whose time per\n"
                "#     iteration is the figure to extrapolate from)\n",
                def.cg_tol);
    int rc = bench_sr_case(o, 1681, 1000, all, 4, "rbm a=1 N=40", 1000);
    if (rc == NQS_OK) rc = bench_sr_case(o, 41, 1000, all, 4, "rbm_symm a=1 N=40", 1000);
    if (rc == NQS_OK) rc = bench_sr_case(o, 40500, 1000, big, 3, "rbm a=4 10x10", 200);
    openblas_set_num_threads(threads);
    return rc;
}
