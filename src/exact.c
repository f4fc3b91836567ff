/*
 * exact.c - ground state by the implicitly restarted Lanczos method (ARPACK
 * dsaupd/dseupd, Lehoucq, Sorensen & Yang, ARPACK Users' Guide, SIAM 1998),
 * matrix-free: each row of H is generated from the Hamiltonian's `connected`
 * elements, rows in parallel (OpenMP), each row gathering from x, so y = H x
 * needs no atomics. Spaces of dimension <= 64 use dense LAPACK dsyev.
 *
 * Basis and sectors: see exact.h. The sector index of a pattern x is
 * start[x >> n_lo] + rank_lo[x & (2^n_lo - 1)] (Lin, PRB 42, 6561 (1990)):
 * patterns sorted numerically are grouped by their high bits, and within a
 * group ordered by their low bits, all of one popcount.
 */
#include "exact.h"

#include <arpack/arpack.h>
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "error.h"

#define EXACT_DENSE_MAX 64 /* dimension up to which dsyev is used instead of ARPACK */
#define EXACT_MAX_SITES 62

struct exact_basis {
    int n_sites;
    int full;          /* 1: index == pattern */
    int n_up;          /* popcount of every pattern (sector only) */
    int64_t dim;
    uint64_t *state;   /* dim patterns in increasing order (sector only) */
    int n_lo;          /* low bits handled by rank_lo */
    uint64_t lo_mask;
    uint32_t *start;   /* 2^(N - n_lo): index of the first pattern with these high bits */
    uint32_t *rank_lo; /* 2^n_lo: rank of the low bits among those of equal popcount */
};

static inline uint64_t exact_pattern(const struct exact_basis *b, int64_t r)
{
    return b->full ? (uint64_t)r : b->state[r];
}

static inline int64_t exact_index(const struct exact_basis *b, uint64_t x)
{
    if (b->full) return (int64_t)x;
    return (int64_t)b->start[x >> b->n_lo] + (int64_t)b->rank_lo[x & b->lo_mask];
}

/* Binomial coefficient C(n, k) for n <= 62 (exact in uint64_t, Pascal's rule). */
static uint64_t exact_binomial(int n, int k)
{
    if (k < 0 || k > n) return 0;
    uint64_t row[EXACT_MAX_SITES + 1] = {1};
    for (int m = 1; m <= n; m++)
        for (int j = m; j > 0; j--) row[j] += row[j - 1];
    return row[k];
}

void nqs_exact_opts_default(struct nqs_exact_opts *o)
{
    o->tol = 1e-12;
    o->ncv = 20;
    o->max_restarts = 1000;
    o->max_memory = 0;
    o->translations = 1;
}

/* Number of up spins of the sector: ceil(N/2), i.e. sum s = 0 or +1. */
static int exact_sector_up(int n_sites) { return (n_sites + 1) / 2; }

int64_t nqs_exact_dim(const struct nqs_ham *h)
{
    int N = h->n_sites;
    if (N > EXACT_MAX_SITES) return -1;
    if (h->conserves_sz) return (int64_t)exact_binomial(N, exact_sector_up(N));
    return (int64_t)1 << N;
}

size_t nqs_exact_memory_estimate(const struct nqs_ham *h, const struct nqs_exact_opts *o)
{
    struct nqs_exact_opts def;
    if (!o) {
        nqs_exact_opts_default(&def);
        o = &def;
    }
    int64_t dim = nqs_exact_dim(h);
    if (dim < 0) return SIZE_MAX;
    /* Doubles per basis state: ncv Lanczos vectors, workd (3), resid (1);
     * plus one 8-byte pattern per state and the two rank tables for a sector. */
    double per_state = 8.0 * ((o->ncv > 3 ? o->ncv : 3) + 4) + (h->conserves_sz ? 8.0 : 0.0);
    double bytes = per_state * (double)dim;
    if (h->conserves_sz) {
        int n_lo = h->n_sites / 2;
        bytes += 4.0 * (ldexp(1.0, n_lo) + ldexp(1.0, h->n_sites - n_lo));
    }
    if (dim <= EXACT_DENSE_MAX) bytes += 8.0 * (double)dim * (double)(dim + 1);
    bytes += 1 << 20; /* small arrays: ARPACK workl, per-thread workspaces */
    return bytes >= (double)SIZE_MAX ? SIZE_MAX : (size_t)bytes;
}

size_t nqs_exact_default_memory_limit(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return SIZE_MAX / 2;
    return (size_t)((double)pages * (double)page * 0.75);
}

static void exact_basis_free(struct exact_basis *b)
{
    free(b->state);
    free(b->start);
    free(b->rank_lo);
}

static int exact_basis_build(struct exact_basis *b, const struct nqs_ham *h, int64_t dim)
{
    int N = h->n_sites;
    memset(b, 0, sizeof *b);
    b->n_sites = N;
    b->dim = dim;
    if (!h->conserves_sz) {
        b->full = 1;
        return NQS_OK;
    }
    b->n_up = exact_sector_up(N);
    b->n_lo = N / 2;
    b->lo_mask = ((uint64_t)1 << b->n_lo) - 1;
    size_t n_lo_tab = (size_t)1 << b->n_lo, n_hi_tab = (size_t)1 << (N - b->n_lo);
    b->state = malloc((size_t)dim * sizeof *b->state);
    b->start = calloc(n_hi_tab, sizeof *b->start);
    b->rank_lo = malloc(n_lo_tab * sizeof *b->rank_lo);
    if (!b->state || !b->start || !b->rank_lo) {
        exact_basis_free(b);
        NQS_ERROR(NQS_ENOMEM, "out of memory for a basis of %lld states", (long long)dim);
    }
    uint32_t count[EXACT_MAX_SITES + 1] = {0};
    for (size_t lo = 0; lo < n_lo_tab; lo++) b->rank_lo[lo] = count[__builtin_popcountll(lo)]++;
    /* Gosper's hack: the next larger pattern with the same popcount. */
    uint64_t x = ((uint64_t)1 << b->n_up) - 1;
    uint64_t prev_hi = UINT64_MAX;
    for (int64_t r = 0; r < dim; r++) {
        b->state[r] = x;
        uint64_t hi = x >> b->n_lo;
        if (hi != prev_hi) {
            b->start[hi] = (uint32_t)r; /* first pattern of the group has rank_lo 0 */
            prev_hi = hi;
        }
        uint64_t c = x & (~x + 1), rr = x + c;
        x = (((rr ^ x) >> 2) / c) | rr;
    }
    return NQS_OK;
}

/* Everything a matrix-vector product needs; one workspace per thread. */
struct exact_ctx {
    const struct nqs_ham *h;
    const struct exact_basis *b;
    int n_threads;
    struct nqs_conn **conn; /* n_threads */
    int8_t *s;              /* n_threads x n_sites */
    int8_t byte_spins[256][8];
};

/* s[i] = +1 if bit i of x is set, else -1, eight sites per load from the
 * table byte_spins[v][k] = 2 * bit k of v - 1. */
static inline void exact_spins(const int8_t (*byte_spins)[8], uint64_t x, int n_sites, int8_t *s)
{
    int i = 0;
    for (; i + 8 <= n_sites; i += 8) memcpy(s + i, byte_spins[(x >> i) & 0xff], 8);
    if (i < n_sites) memcpy(s + i, byte_spins[(x >> i) & 0xff], (size_t)(n_sites - i));
}

/* y = H x: row r gathers H_{r c} x_c over the connected elements of its pattern. */
static void exact_matvec(const struct exact_ctx *c, const double *x, double *y)
{
    const struct exact_basis *b = c->b;
    const int N = b->n_sites;
    const int64_t dim = b->dim;
#pragma omp parallel num_threads(c->n_threads)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        struct nqs_conn *conn = c->conn[t];
        int8_t *s = c->s + (size_t)t * (size_t)N;
#pragma omp for schedule(static, 8192)
        for (int64_t r = 0; r < dim; r++) {
            uint64_t p = exact_pattern(b, r);
            exact_spins((const int8_t(*)[8])c->byte_spins, p, N, s);
            c->h->ops->connected(c->h, s, conn);
            double acc = conn->diag * x[r];
            for (int k = 0; k < conn->n; k++) {
                uint64_t flip = (uint64_t)1 << conn->site[k][0];
                if (conn->n_flip[k] == 2) flip |= (uint64_t)1 << conn->site[k][1];
                acc += conn->mel[k] * x[exact_index(b, p ^ flip)];
            }
            y[r] = acc;
        }
    }
}

static void exact_ctx_free(struct exact_ctx *c)
{
    if (c->conn)
        for (int t = 0; t < c->n_threads; t++) nqs_conn_free(c->conn[t]);
    free(c->conn);
    free(c->s);
}

static int exact_ctx_init(struct exact_ctx *c, const struct nqs_ham *h, const struct exact_basis *b)
{
    memset(c, 0, sizeof *c);
    c->h = h;
    c->b = b;
    c->n_threads = 1;
    for (int v = 0; v < 256; v++)
        for (int i = 0; i < 8; i++) c->byte_spins[v][i] = (int8_t)(2 * ((v >> i) & 1) - 1);
#ifdef _OPENMP
    c->n_threads = omp_get_max_threads();
#endif
    c->conn = calloc((size_t)c->n_threads, sizeof *c->conn);
    c->s = malloc((size_t)c->n_threads * (size_t)h->n_sites);
    if (!c->conn || !c->s) {
        exact_ctx_free(c);
        NQS_ERROR(NQS_ENOMEM, "out of memory for %d matrix-vector workspaces", c->n_threads);
    }
    for (int t = 0; t < c->n_threads; t++) {
        c->conn[t] = nqs_conn_alloc(h);
        if (!c->conn[t]) {
            exact_ctx_free(c);
            return NQS_ENOMEM;
        }
    }
    return NQS_OK;
}

/* Deterministic start vector, independent of the thread count: splitmix64
 * of the row index mapped to [-1, 1). */
static double exact_start_value(int64_t r)
{
    uint64_t z = (uint64_t)r * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-52 - 1.0;
}

static const char *exact_arpack_message(int info)
{
    switch (info) {
    case 1: return "maximum number of restarts reached";
    case 3: return "no shifts could be applied (increase ncv)";
    case -8: return "error in the tridiagonal eigenvalue calculation (LAPACK dsteqr)";
    case -9: return "the starting vector is zero";
    case -9999: return "could not build a Lanczos factorisation";
    default: return "invalid argument or internal error";
    }
}

/* Lowest eigenpair by ARPACK. psi (dim) receives the normalised eigenvector
 * when want_vec; it may alias nothing ARPACK uses (it is v's first column). */
static int exact_arpack(const struct exact_ctx *c, const struct nqs_exact_opts *o, int want_vec,
                        double *energy, double **psi_out, double **v_keep,
                        struct nqs_exact_result *res)
{
    const a_int n = (a_int)c->b->dim;
    a_int ncv = o->ncv < n ? o->ncv : n;
    a_int lworkl = ncv * (ncv + 8);
    double *v = malloc((size_t)n * (size_t)ncv * sizeof *v);
    double *workd = malloc(3 * (size_t)n * sizeof *workd);
    double *resid = malloc((size_t)n * sizeof *resid);
    double *workl = malloc((size_t)lworkl * sizeof *workl);
    a_int *select = calloc((size_t)ncv, sizeof *select);
    int rc = NQS_OK;
    if (!v || !workd || !resid || !workl || !select) {
        rc = nqs_error_set(NQS_ENOMEM, __FILE__, __LINE__,
                           "out of memory for %d Lanczos vectors of dimension %d", (int)ncv, (int)n);
        goto done;
    }
#pragma omp parallel for schedule(static) num_threads(c->n_threads)
    for (a_int r = 0; r < n; r++) resid[r] = exact_start_value(r);

    a_int iparam[11] = {0}, ipntr[14] = {0};
    iparam[0] = 1;               /* exact shifts */
    iparam[2] = o->max_restarts; /* maximum restarts */
    iparam[6] = 1;               /* mode 1: standard problem A x = lambda x */
    a_int ido = 0, info = 1;     /* info = 1: resid holds the start vector */
    int n_matvec = 0;
    /* OpenBLAS's own threads (inside ARPACK's BLAS calls) and the OpenMP
     * threads of the matvec spin against each other on few cores: measured
     * 2x slower wall time on 2 cores. Serial BLAS here, restored below. */
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    for (;;) {
        dsaupd_c(&ido, "I", n, "SA", 1, o->tol, resid, ncv, v, n, iparam, ipntr, workd, workl,
                 lworkl, &info);
        if (ido != -1 && ido != 1) break;
        exact_matvec(c, workd + ipntr[0] - 1, workd + ipntr[1] - 1);
        n_matvec++;
    }
    openblas_set_num_threads(blas_threads);
    if (info != 0) {
        rc = nqs_error_set(NQS_ENUMERIC, __FILE__, __LINE__,
                           "Lanczos (ARPACK dsaupd) failed on dimension %d: %s (info %d; ncv %d, "
                           "max_restarts %d, tol %g)",
                           (int)n, exact_arpack_message((int)info), (int)info, (int)ncv,
                           o->max_restarts, o->tol);
        goto done;
    }
    double d[1];
    /* Ritz vector into the first column of v (allowed by dseupd). */
    dseupd_c(want_vec, "A", select, d, v, n, 0.0, "I", n, "SA", 1, o->tol, resid, ncv, v, n,
             iparam, ipntr, workd, workl, lworkl, &info);
    if (info != 0) {
        rc = nqs_error_set(NQS_ENUMERIC, __FILE__, __LINE__,
                           "Lanczos (ARPACK dseupd) failed on dimension %d (info %d)", (int)n,
                           (int)info);
        goto done;
    }
    *energy = d[0];
    res->iterations = (int)iparam[2];
    res->n_matvec = n_matvec;
    if (want_vec) {
        *psi_out = v;
        *v_keep = v;
        v = NULL;
    }
done:
    free(v);
    free(workd);
    free(resid);
    free(workl);
    free(select);
    return rc;
}

/* Lowest eigenpair by dense dsyev (dim <= EXACT_DENSE_MAX). */
static int exact_dense(const struct exact_ctx *c, double *energy, double **psi_out, double **keep)
{
    const int64_t dim = c->b->dim;
    const int N = c->b->n_sites;
    double *a = calloc((size_t)(dim * dim), sizeof *a);
    double *w = malloc((size_t)dim * sizeof *w);
    if (!a || !w) {
        free(a);
        free(w);
        NQS_ERROR(NQS_ENOMEM, "out of memory for a dense %lld x %lld matrix", (long long)dim,
                  (long long)dim);
    }
    struct nqs_conn *conn = c->conn[0];
    for (int64_t r = 0; r < dim; r++) {
        uint64_t p = exact_pattern(c->b, r);
        exact_spins((const int8_t(*)[8])c->byte_spins, p, N, c->s);
        c->h->ops->connected(c->h, c->s, conn);
        a[r * dim + r] += conn->diag;
        for (int k = 0; k < conn->n; k++) {
            uint64_t flip = (uint64_t)1 << conn->site[k][0];
            if (conn->n_flip[k] == 2) flip |= (uint64_t)1 << conn->site[k][1];
            a[r * dim + exact_index(c->b, p ^ flip)] += conn->mel[k];
        }
    }
    lapack_int info = LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)dim, a,
                                    (lapack_int)dim, w);
    if (info != 0) {
        free(a);
        free(w);
        NQS_ERROR(NQS_ENUMERIC, "dense diagonalisation (LAPACK dsyev) failed, info %d", (int)info);
    }
    *energy = w[0];
    /* Eigenvector 0 is column 0 of the row-major result: gather it in place. */
    for (int64_t r = 0; r < dim; r++) a[r] = a[r * dim];
    free(w);
    *psi_out = a;
    *keep = a;
    return NQS_OK;
}

/* <psi|T|psi> for the site permutation perm (T moves site i to perm[i]);
 * `sign_mask` != 0 adds the Marshall factors (-1)^{popcount(x & mask)}. */
static double exact_translation(const struct exact_ctx *c, const double *psi, const int *perm,
                                uint64_t sign_mask)
{
    const struct exact_basis *b = c->b;
    const int N = b->n_sites;
    double acc = 0.0;
#pragma omp parallel for schedule(static, 8192) reduction(+ : acc) num_threads(c->n_threads)
    for (int64_t r = 0; r < b->dim; r++) {
        uint64_t x = exact_pattern(b, r), y = 0;
        for (int i = 0; i < N; i++) y |= ((x >> i) & 1) << perm[i];
        double term = psi[r] * psi[exact_index(b, y)];
        if (sign_mask && (__builtin_popcountll(x & sign_mask) + __builtin_popcountll(y & sign_mask)) & 1)
            term = -term;
        acc += term;
    }
    return acc;
}

static double exact_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void exact_format_bytes(double bytes, char *buf, size_t len)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 6) {
        bytes /= 1024.0;
        u++;
    }
    snprintf(buf, len, "%.3g %s", bytes, unit[u]);
}

int nqs_exact_solve(const struct nqs_ham *h, const struct nqs_exact_opts *o,
                    struct nqs_exact_result *r)
{
    struct nqs_exact_opts def;
    if (!o) {
        nqs_exact_opts_default(&def);
        o = &def;
    }
    if (!(o->tol >= 0.0) || !isfinite(o->tol))
        NQS_ERROR(NQS_EINVAL, "exact: tolerance %g is impossible (accepted: >= 0, 0 = machine "
                              "precision)", o->tol);
    if (o->ncv < 3) NQS_ERROR(NQS_EINVAL, "exact: ncv %d is too small (accepted: >= 3)", o->ncv);
    if (o->max_restarts < 1)
        NQS_ERROR(NQS_EINVAL, "exact: max_restarts %d is impossible (accepted: >= 1)",
                  o->max_restarts);

    double t0 = exact_now();
    memset(r, 0, sizeof *r);
    r->n_sites = h->n_sites;
    r->full_space = !h->conserves_sz;
    r->magnetisation = h->conserves_sz ? 2 * exact_sector_up(h->n_sites) - h->n_sites : 0;
    r->n_dirs = h->lat ? h->lat->dim : 0;
    r->translation[0] = r->translation[1] = NAN;
    r->translation_physical[0] = r->translation_physical[1] = NAN;

    size_t limit = o->max_memory ? o->max_memory : nqs_exact_default_memory_limit();
    size_t need = nqs_exact_memory_estimate(h, o);
    r->memory = need;
    int64_t dim = nqs_exact_dim(h);
    r->dim = dim;
    if (need > limit) {
        char sneed[32], slim[32], dims[32];
        exact_format_bytes((double)need, sneed, sizeof sneed);
        exact_format_bytes((double)limit, slim, sizeof slim);
        if (dim >= 0)
            snprintf(dims, sizeof dims, "%lld", (long long)dim);
        else
            snprintf(dims, sizeof dims, "2^%d", h->n_sites);
        NQS_ERROR(NQS_ENOMEM,
                  "exact diagonalisation of '%s' on %d sites (%s of dimension %s) needs an "
                  "estimated %s (%zu bytes), above the memory limit of %s (%zu bytes%s)",
                  h->ops->name, h->n_sites, h->conserves_sz ? "sector" : "full space", dims, sneed,
                  need, slim, limit, o->max_memory ? "" : ", 3/4 of physical memory");
    }
    if (dim < 0 || dim > 2147483647)
        NQS_ERROR(NQS_EUNSUP, "exact diagonalisation on %d sites: dimension %s exceeds ARPACK's "
                              "32-bit index range", h->n_sites, dim < 0 ? "> 2^62" : "> 2^31 - 1");

    struct exact_basis b;
    NQS_TRY(exact_basis_build(&b, h, dim));
    struct exact_ctx c;
    int rc = exact_ctx_init(&c, h, &b);
    if (rc != NQS_OK) {
        exact_basis_free(&b);
        return rc;
    }
    const struct nqs_lattice *lat = h->lat;
    int want_vec = o->translations && lat && (lat->periodic[0] || (lat->dim > 1 && lat->periodic[1]));
    double *psi = NULL, *keep = NULL;
    if (dim <= EXACT_DENSE_MAX) {
        r->method = "lapack";
        rc = exact_dense(&c, &r->energy, &psi, &keep);
    } else {
        r->method = "arpack";
        rc = exact_arpack(&c, o, want_vec, &r->energy, &psi, &keep, r);
    }
    if (rc == NQS_OK && want_vec) {
        uint64_t mask = 0;
        if (h->marshall && lat->sublattice)
            for (int i = 0; i < h->n_sites; i++)
                if (lat->sublattice[i] == 0) mask |= (uint64_t)1 << i;
        int n_tx = lat->periodic[0] ? lat->extent[0] : 1;
        for (int d = 0; d < lat->dim; d++) {
            if (!lat->periodic[d]) continue;
            int t = d == 0 ? 1 : n_tx; /* one step along d (lattice.h numbering) */
            const int *perm = lat->trans + (size_t)t * (size_t)h->n_sites;
            r->translation[d] = exact_translation(&c, psi, perm, 0);
            r->translation_physical[d] = mask ? exact_translation(&c, psi, perm, mask)
                                              : r->translation[d];
        }
    }
    free(keep);
    exact_ctx_free(&c);
    exact_basis_free(&b);
    r->seconds = exact_now() - t0;
    return rc;
}

int nqs_exact_energy(const struct nqs_ham *h, double *e0)
{
    struct nqs_exact_opts o;
    nqs_exact_opts_default(&o);
    o.translations = 0;
    struct nqs_exact_result r;
    NQS_TRY(nqs_exact_solve(h, &o, &r));
    *e0 = r.energy;
    return NQS_OK;
}
