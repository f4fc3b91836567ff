/*
 * exact_cmd.c - the command `nqs exact` (cli.h): builds the problem, takes the
 * memory limit from NQS_EXACT_MAX_MEMORY, runs the solver of exact.c in the
 * problem's sector, prints the result as text or one JSON object (json.h) on
 * stdout, and optionally writes it as root attributes of an HDF5 file
 * (docs/results-format.md conventions).
 */
#include <ctype.h>
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cli.h"
#include "config.h"
#include "error.h"
#include "exact.h"
#include "json.h"
#include "problem.h"
#include "version.h"

/* NQS_EXACT_MAX_MEMORY: bytes with an optional K/M/G/T (1024-based) suffix. */
static int exact_env_memory(size_t *limit)
{
    const char *v = getenv("NQS_EXACT_MAX_MEMORY");
    *limit = 0;
    if (!v || !*v) return NQS_OK;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    double mult = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K': mult = 1024.0, end++; break;
    case 'M': mult = 1024.0 * 1024, end++; break;
    case 'G': mult = 1024.0 * 1024 * 1024, end++; break;
    case 'T': mult = 1024.0 * 1024 * 1024 * 1024, end++; break;
    default: break;
    }
    if (toupper((unsigned char)*end) == 'I' && end[1] && toupper((unsigned char)end[1]) == 'B')
        end += 2;
    else if (toupper((unsigned char)*end) == 'B')
        end++;
    if (end == v || *end || errno || !(x * mult >= 1) || x * mult >= (double)SIZE_MAX)
        NQS_ERROR(NQS_EINVAL,
                  "environment variable NQS_EXACT_MAX_MEMORY = '%s' is not a memory size "
                  "(accepted: bytes, optionally with suffix K, M, G or T, e.g. 8G)",
                  v);
    *limit = (size_t)(x * mult);
    return NQS_OK;
}

static int exact_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* What the command prints and writes, gathered once. */
struct exact_report {
    const struct nqs_problem *p;
    const struct nqs_exact_result *r;
    double tol;
    const struct nqs_exact_sector *sec;
    char lattice[256];
    char sector[64];       /* "magnetisation", "full" or "symmetry" */
    char sector_desc[256]; /* nqs_exact_sector_describe */
};

static void exact_print_text(const struct exact_report *e)
{
    const struct nqs_exact_result *r = e->r;
    char mem[32];
    nqs_exact_format_bytes((double)r->memory, mem, sizeof mem);
    printf("%-18s %s\n", "lattice", e->lattice);
    printf("%-18s %s%s\n", "hamiltonian", e->p->ham_ops->name,
           e->p->ham->marshall ? " (Marshall sign rule applied)" : "");
    if (r->symmetric)
        printf("%-18s %s: %lld representatives of %lld states, group of order %d%s\n", "sector",
               e->sector_desc, (long long)r->dim, (long long)r->block_dim, r->group_order,
               r->complex_basis ? ", complex" : "");
    else if (r->full_space)
        printf("%-18s full space, %lld states\n", "sector", (long long)r->dim);
    else
        printf("%-18s sum_i s_i = %s%d, %lld states\n", "sector", r->magnetisation > 0 ? "+" : "",
               r->magnetisation,
               (long long)r->dim);
    printf("%-18s %.12f\n", "energy", r->energy);
    printf("%-18s %.12f\n", "energy per site", r->energy / r->n_sites);
    printf("%-18s pauli (H written with Pauli matrices)\n", "convention");
    if (strcmp(r->method, "arpack") == 0)
        printf("%-18s ARPACK Lanczos, %d restarts, %d products, tol %g\n", "method", r->iterations,
               r->n_matvec, e->tol);
    else
        printf("%-18s dense LAPACK dsyev\n", "method");
    static const char *const axis[2] = {"x", "y"};
    for (int d = 0; d < r->n_dirs; d++)
        if (!isnan(r->translation[d])) {
            printf("%-18s <T_%s> = %.6f", "translation", axis[d], r->translation[d]);
            if (e->p->ham->marshall)
                printf(" (rotated basis), %.6f (physical)", r->translation_physical[d]);
            printf("\n");
        }
    printf("%-18s %s (estimate)\n", "memory", mem);
    printf("%-18s %.3f s (%d threads)\n", "time", r->seconds, exact_threads());
}

static void exact_print_json(const struct exact_report *e, const char *output)
{
    const struct nqs_exact_result *r = e->r;
    const struct nqs_exact_sector *sec = e->sec;
    struct nqs_json_writer w;
    nqs_json_init(&w, stdout, 0);
    nqs_json_begin_object(&w, NULL);
    nqs_json_put_number(&w, "energy", r->energy);
    nqs_json_put_number(&w, "energy_per_site", r->energy / r->n_sites);
    nqs_json_put_int(&w, "n_sites", r->n_sites);
    nqs_json_put_string(&w, "convention", "pauli");
    nqs_json_put_int(&w, "dim", (long long)r->dim);
    nqs_json_put_string(&w, "sector", e->sector);
    if (r->full_space)
        nqs_json_put_null(&w, "magnetisation");
    else
        nqs_json_put_int(&w, "magnetisation", r->magnetisation);
    nqs_json_put_string(&w, "sector_description", e->sector_desc);
    if (sec->sym) {
        nqs_json_begin_array(&w, "momentum");
        for (int d = 0; d < r->n_dirs; d++) nqs_json_put_int(&w, NULL, sec->sector.momentum[d]);
        nqs_json_end(&w);
    } else {
        nqs_json_put_null(&w, "momentum");
    }
    nqs_json_put_string(&w, "point_group", sec->sym && sec->sector.irrep != NQS_IRREP_NONE
                                              ? nqs_irrep_name(sec->sector.irrep)
                                              : NULL);
    nqs_json_put_string(&w, "spin_flip",
                        sec->spin_flip > 0 ? "even" : sec->spin_flip < 0 ? "odd" : NULL);
    nqs_json_put_int(&w, "group_order", r->group_order);
    nqs_json_put_int(&w, "block_dim", (long long)r->block_dim);
    nqs_json_put_bool(&w, "complex", r->complex_basis);
    nqs_json_put_string(&w, "lattice", e->lattice);
    nqs_json_put_string(&w, "hamiltonian", e->p->ham_ops->name);
    nqs_json_put_bool(&w, "marshall", e->p->ham->marshall);
    nqs_json_put_string(&w, "method", r->method);
    nqs_json_put_int(&w, "iterations", r->iterations);
    nqs_json_put_int(&w, "n_matvec", r->n_matvec);
    nqs_json_put_number(&w, "tolerance", e->tol);
    for (int phys = 0; phys < 2; phys++) {
        nqs_json_begin_array(&w, phys ? "translation_physical" : "translation");
        for (int d = 0; d < r->n_dirs; d++)
            nqs_json_put_number(&w, NULL, phys ? r->translation_physical[d] : r->translation[d]);
        nqs_json_end(&w);
    }
    nqs_json_put_int(&w, "memory_estimate", (long long)r->memory);
    nqs_json_put_number(&w, "seconds", r->seconds);
    nqs_json_put_int(&w, "threads", exact_threads());
    nqs_json_put_string(&w, "output", output);
    nqs_json_end(&w);
}

/* Scalar attributes on `loc`; each returns 0 or -1. */
static int exact_h5_str(hid_t loc, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), a = -1;
    int ok = t >= 0 && sp >= 0 && H5Tset_size(t, H5T_VARIABLE) >= 0 &&
             H5Tset_cset(t, H5T_CSET_UTF8) >= 0 &&
             (a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT)) >= 0 &&
             H5Awrite(a, t, &value) >= 0;
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    return ok ? 0 : -1;
}

static int exact_h5_num(hid_t loc, const char *name, hid_t type, const void *value, hsize_t n)
{
    hid_t sp = n ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR), a = -1;
    int ok = sp >= 0 && (a = H5Acreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT)) >= 0 &&
             H5Awrite(a, type, value) >= 0;
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    return ok ? 0 : -1;
}

static int exact_write_h5(const struct nqs_cli *cli, const struct exact_report *e,
                          const char *path)
{
    const struct nqs_exact_result *r = e->r;
    if (!cli->force && access(path, F_OK) == 0)
        NQS_ERROR(NQS_EIO, "%s: output file exists (use --force to overwrite)", path);
    char *input = nqs_config_dump(cli->cfg);
    size_t cl_len = 1;
    for (int k = 0; k < cli->argc; k++) cl_len += strlen(cli->argv[k]) + 1;
    char *cmdline = calloc(cl_len, 1);
    if (!input || !cmdline) {
        free(input);
        free(cmdline);
        NQS_ERROR(NQS_ENOMEM, "out of memory preparing %s", path);
    }
    for (int k = 0; k < cli->argc; k++) {
        if (k) strcat(cmdline, " ");
        strcat(cmdline, cli->argv[k]);
    }
    char date[32];
    time_t now = time(NULL);
    struct tm tmv;
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tmv));

    int bad = 0;
    hid_t f = -1;
    H5E_BEGIN_TRY
    {
        hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
        if (fapl >= 0) H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
        f = H5Fcreate(path, cli->force ? H5F_ACC_TRUNC : H5F_ACC_EXCL, H5P_DEFAULT, fapl);
        if (fapl >= 0) H5Pclose(fapl);
        if (f >= 0) {
            long long dim = r->dim;
            int n_sites = r->n_sites, marshall = e->p->ham->marshall;
            double eps = r->energy / r->n_sites;
            bad |= exact_h5_str(f, "program", "nqsvmc");
            bad |= exact_h5_str(f, "version", NQS_VERSION);
            bad |= exact_h5_str(f, "git_commit", NQS_GIT_COMMIT);
            bad |= exact_h5_str(f, "date", date);
            bad |= exact_h5_str(f, "command_line", cmdline);
            bad |= exact_h5_str(f, "input", input);
            bad |= exact_h5_str(f, "convention", "pauli");
            bad |= exact_h5_str(f, "lattice", e->lattice);
            bad |= exact_h5_str(f, "hamiltonian", e->p->ham_ops->name);
            bad |= exact_h5_num(f, "n_sites", H5T_NATIVE_INT, &n_sites, 0);
            bad |= exact_h5_num(f, "marshall", H5T_NATIVE_INT, &marshall, 0);
            bad |= exact_h5_num(f, "energy", H5T_NATIVE_DOUBLE, &r->energy, 0);
            bad |= exact_h5_num(f, "energy_per_site", H5T_NATIVE_DOUBLE, &eps, 0);
            bad |= exact_h5_num(f, "dim", H5T_NATIVE_LLONG, &dim, 0);
            bad |= exact_h5_str(f, "sector", e->sector);
            bad |= exact_h5_str(f, "sector_description", e->sector_desc);
            if (!r->full_space)
                bad |= exact_h5_num(f, "magnetisation", H5T_NATIVE_INT, &r->magnetisation, 0);
            long long bdim = r->block_dim;
            bad |= exact_h5_num(f, "block_dim", H5T_NATIVE_LLONG, &bdim, 0);
            bad |= exact_h5_num(f, "group_order", H5T_NATIVE_INT, &r->group_order, 0);
            if (e->sec->sym) {
                bad |= exact_h5_num(f, "momentum", H5T_NATIVE_INT, e->sec->sector.momentum,
                                    (hsize_t)(r->n_dirs > 0 ? r->n_dirs : 1));
                bad |= exact_h5_str(f, "point_group", nqs_irrep_name(e->sec->sector.irrep));
            }
            bad |= exact_h5_num(f, "spin_flip", H5T_NATIVE_INT, &e->sec->spin_flip, 0);
            bad |= exact_h5_str(f, "method", r->method);
            bad |= exact_h5_num(f, "iterations", H5T_NATIVE_INT, &r->iterations, 0);
            bad |= exact_h5_num(f, "n_matvec", H5T_NATIVE_INT, &r->n_matvec, 0);
            bad |= exact_h5_num(f, "tolerance", H5T_NATIVE_DOUBLE, &e->tol, 0);
            bad |= exact_h5_num(f, "seconds", H5T_NATIVE_DOUBLE, &r->seconds, 0);
            if (r->n_dirs > 0) {
                bad |= exact_h5_num(f, "translation", H5T_NATIVE_DOUBLE, r->translation,
                                    (hsize_t)r->n_dirs);
                bad |= exact_h5_num(f, "translation_physical", H5T_NATIVE_DOUBLE,
                                    r->translation_physical, (hsize_t)r->n_dirs);
            }
            if (H5Fclose(f) < 0) bad = 1;
        }
    }
    H5E_END_TRY;
    free(input);
    free(cmdline);
    if (f < 0) NQS_ERROR(NQS_EIO, "%s: cannot create the HDF5 file", path);
    if (bad) NQS_ERROR(NQS_EIO, "%s: cannot write the result attributes", path);
    return NQS_OK;
}

int nqs_cmd_exact(const struct nqs_cli *cli)
{
    static const char *const sections[] = {"lattice", "hamiltonian", "symmetry", NULL};
    struct nqs_problem *p = NULL;
    NQS_TRY(nqs_problem_build(cli->cfg, 0, &p));
    int rc = nqs_config_check_unused_sections(cli->cfg, sections);
    struct nqs_exact_opts o;
    nqs_exact_opts_default(&o);
    if (rc == NQS_OK) rc = exact_env_memory(&o.max_memory);
    struct nqs_exact_sector sec;
    nqs_exact_sector_of_problem(p, &sec);
    o.sector = &sec;
    struct nqs_exact_result r;
    if (rc == NQS_OK) rc = nqs_exact_solve(p->ham, &o, &r);
    if (rc == NQS_OK) {
        struct exact_report e = {p, &r, o.tol, &sec, "", "", ""};
        nqs_lattice_describe(p->lat, e.lattice, sizeof e.lattice);
        snprintf(e.sector, sizeof e.sector, "%s",
                 r.symmetric ? "symmetry" : r.full_space ? "full" : "magnetisation");
        nqs_exact_sector_describe(&sec, p->ham, p->lat, e.sector_desc, sizeof e.sector_desc);
        if (cli->output) rc = exact_write_h5(cli, &e, cli->output);
        if (rc == NQS_OK) {
            if (cli->json)
                exact_print_json(&e, cli->output);
            else
                exact_print_text(&e);
            if (fflush(stdout) != 0)
                rc = nqs_error_set(NQS_EIO, __FILE__, __LINE__, "cannot write to standard output");
        }
    }
    nqs_problem_free(p);
    return rc;
}
