/*
 * exact.c - ground state by the implicitly restarted Lanczos method (ARPACK
 * dsaupd/dseupd, Lehoucq, Sorensen & Yang, ARPACK Users' Guide, SIAM 1998),
 * matrix-free: each row of H is generated from the Hamiltonian's `connected`
 * elements, rows in parallel (OpenMP), each row gathering from x, so y = H x
 * needs no atomics. Spaces of dimension <= 64 use dense LAPACK dsyev.
 *
 * Basis and sectors: see exact.h; the index of a pattern in its
 * magnetisation block follows Lin, PRB 42, 6561 (1990) (basis.h).
 *
 * Symmetry sectors (docs/symmetry.md): a basis of orbit representatives, the
 * standard momentum-basis method (e.g. Sandvik, AIP Conf. Proc. 1297, 135
 * (2010)). The sector's group G is the set of lattice permutations
 * with a nonzero character (translations and the little co-group of k), times
 * {1, spin flip} when a flip parity is asked. Within the magnetisation block,
 * the smallest pattern r of each orbit whose stabiliser has character 1 is a
 * representative, with the normalised state
 *   |r~> = O_r^-1/2 sum_{s in orbit(r)} chi(h_s) |s>,   h_s r = s,
 * which satisfies psi(g s) = chi(g) psi(s) (symmetry.h). Since H commutes with
 * G, H|r~> is evaluated at the representative patterns only:
 *   <r'~|H|r~> = sum_{s connected to r', rep(s) = r} H_{r' s} chi(h_s) sqrt(O_r' / O_r),
 * so a product is a gather over the rows r' with one table lookup per
 * connected pattern: rep_of (int32) and elem_of (uint16, the element h_s) for
 * every block state, filled in one pass over the block (the first pattern not
 * yet reached is its orbit's minimum; |G| bit permutations per orbit, by
 * byte tables). Why this rather than Lanczos on P H P in the block: the
 * vectors are |G| times shorter (|G| = 96 for a 24-site ring with reflection
 * and flip, 256 on the 4x4 lattice), which is what makes N = 24 fit in
 * 50-250 MB, and P never has to be applied.
 * Complex characters (k != 0, pi) give a complex Hermitian H = A + iB; it is
 * diagonalised as the real symmetric [[A, -B], [B, A]] acting on the
 * interleaved (Re, Im) vector, which has the same eigenvalues, each twice, so
 * the same ARPACK dsaupd path (and dense dsyev for <= 64 doubles) serves both
 * cases; Lanczos converges to the doubly degenerate lowest level as to a
 * simple one (the Krylov space of one start vector sees one copy).
 * The bases (patterns, index tables, representatives) are built in basis.c;
 * the command `nqs exact` is exact_cmd.c. Timings: docs/performance.md.
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

#include "basis.h"
#include "error.h"
#include "problem.h"

#define EXACT_DENSE_MAX 64 /* dimension up to which dsyev is used instead of ARPACK */
#define EXACT_PARALLEL_MIN_ROWS 32768 /* fewer rows: products on one thread */

/* Elements of the sector's group with a nonzero character, and the flip. */
static int exact_sector_order(const struct nqs_exact_sector *s)
{
    int n = 1;
    if (s->sym) {
        n = 0;
        for (int g = 0; g < s->sym->n_elem; g++) n += s->chi[g] != 0;
    }
    return s->spin_flip ? 2 * n : n;
}

void nqs_exact_opts_default(struct nqs_exact_opts *o)
{
    o->tol = 1e-12;
    o->ncv = 20;
    o->max_restarts = 1000;
    o->max_memory = 0;
    o->translations = 1;
    o->sector = NULL;
}

void nqs_exact_sector_default(const struct nqs_ham *h, struct nqs_exact_sector *s)
{
    memset(s, 0, sizeof *s);
    s->magnetisation = h->n_sites % 2;
    s->sector.irrep = NQS_IRREP_NONE;
}

void nqs_exact_sector_of_problem(const struct nqs_problem *p, struct nqs_exact_sector *s)
{
    nqs_exact_sector_default(p->ham, s);
    s->magnetisation = p->magnetisation;
    if (p->sector_given) {
        s->sym = p->sym;
        s->chi = p->chi;
        s->spin_flip = p->sector.spin_flip;
        s->sector = p->sector;
    }
}

int nqs_exact_sector_is_default(const struct nqs_exact_sector *s, const struct nqs_ham *h)
{
    if (!s) return 1;
    return !s->sym && s->spin_flip == 0 &&
           (!h->conserves_sz || s->magnetisation == h->n_sites % 2);
}

void nqs_exact_sector_describe(const struct nqs_exact_sector *s, const struct nqs_ham *h,
                               const struct nqs_lattice *lat, char *buf, size_t len)
{
    struct nqs_exact_sector def;
    if (!s) {
        nqs_exact_sector_default(h, &def);
        s = &def;
    }
    size_t n = 0;
    buf[0] = '\0';
#define EXACT_CAT(...)                                                                   \
    do {                                                                                 \
        if (n < len) {                                                                   \
            int w_ = snprintf(buf + n, len - n, __VA_ARGS__);                            \
            n += w_ > 0 ? (size_t)w_ : 0;                                                \
        }                                                                                \
    } while (0)
    if (s->sym) {
        int dim = lat ? lat->dim : 1;
        if (dim == 1) {
            EXACT_CAT("momentum %d [k = 2 pi %d/%d]", s->sector.momentum[0], s->sector.momentum[0],
                      lat ? lat->extent[0] : 0);
        } else {
            EXACT_CAT("momentum (%d,%d) [k = 2 pi (%d/%d, %d/%d)]", s->sector.momentum[0],
                      s->sector.momentum[1], s->sector.momentum[0], lat->extent[0],
                      s->sector.momentum[1], lat->extent[1]);
        }
        if (s->sector.irrep != NQS_IRREP_NONE)
            EXACT_CAT(", point group %s", nqs_irrep_name(s->sector.irrep));
        EXACT_CAT(", ");
    }
    if (s->spin_flip) EXACT_CAT("spin flip %s, ", s->spin_flip > 0 ? "even" : "odd");
    if (h->conserves_sz)
        EXACT_CAT("sum_i s_i = %s%d", s->magnetisation > 0 ? "+" : "", s->magnetisation);
    else
        EXACT_CAT("full space");
#undef EXACT_CAT
}

int64_t nqs_exact_block_dimension(const struct nqs_ham *h, int magnetisation)
{
    int N = h->n_sites;
    if (N > NQS_BASIS_MAX_SITES) return -1;
    if (!h->conserves_sz) return (int64_t)1 << N;
    if (magnetisation < -N || magnetisation > N || (N + magnetisation) % 2 != 0) return 0;
    return (int64_t)nqs_basis_binomial(N, (N + magnetisation) / 2);
}

int64_t nqs_exact_dimension(const struct nqs_ham *h)
{
    return nqs_exact_block_dimension(h, h->n_sites % 2);
}

/* Vector length (doubles) the solver expects for sector s: the block
 * dimension, or an estimate of the symmetric basis (exact.h). */
static double exact_vector_estimate(const struct nqs_ham *h, const struct nqs_exact_sector *s,
                                    int64_t block)
{
    if (!s->sym && !s->spin_flip) return (double)block;
    double order = exact_sector_order(s);
    double est = 2.0 * (double)block / order + 64.0;
    if (est > (double)block) est = (double)block;
    int cplx = 0;
    if (s->sym)
        for (int g = 0; g < s->sym->n_elem; g++)
            if (fabs(cimag(s->chi[g])) > 1e-12) cplx = 1;
    (void)h;
    return cplx ? 2.0 * est : est;
}

size_t nqs_exact_memory_estimate(const struct nqs_ham *h, const struct nqs_exact_opts *o)
{
    struct nqs_exact_opts def;
    if (!o) {
        nqs_exact_opts_default(&def);
        o = &def;
    }
    struct nqs_exact_sector sdef;
    const struct nqs_exact_sector *s = o->sector;
    if (!s) {
        nqs_exact_sector_default(h, &sdef);
        s = &sdef;
    }
    int64_t dim = nqs_exact_block_dimension(h, s->magnetisation);
    if (dim < 0) return SIZE_MAX;
    int symm = s->sym || s->spin_flip;
    double nv = exact_vector_estimate(h, s, dim);
    /* Doubles per basis state: ncv Lanczos vectors, workd (3), resid (1);
     * plus one 8-byte pattern per block state and the two rank tables for a
     * block, and 6 bytes per block state plus a pattern and a norm per
     * representative for a symmetric basis. */
    double bytes = 8.0 * ((o->ncv > 3 ? o->ncv : 3) + 4) * nv;
    if (h->conserves_sz) {
        int n_lo = h->n_sites / 2;
        bytes += 8.0 * (double)dim + 4.0 * (ldexp(1.0, n_lo) + ldexp(1.0, h->n_sites - n_lo));
    }
    if (symm) bytes += 6.0 * (double)dim + 16.0 * nv;
    if (nv <= EXACT_DENSE_MAX) bytes += 8.0 * nv * (nv + 1);
    bytes += 1 << 20; /* small arrays: ARPACK workl, per-thread workspaces */
    return bytes >= (double)SIZE_MAX ? SIZE_MAX : (size_t)bytes;
}

size_t nqs_exact_default_memory_limit(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return SIZE_MAX / 2;
    return (size_t)((double)pages * (double)page * 0.75);
}

/* Everything a matrix-vector product needs; one workspace per thread. */
struct exact_ctx {
    const struct nqs_ham *h;
    const struct nqs_basis *b;
    const struct nqs_basis_sym *sy; /* NULL: the plain block basis */
    int64_t n_vec;              /* doubles per vector: dim, n_rep, or 2 n_rep (complex) */
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
    const struct nqs_basis *b = c->b;
    const int N = b->n_sites;
    const int64_t dim = b->dim;
#ifdef _OPENMP
#pragma omp parallel num_threads(c->n_threads)
#endif
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        struct nqs_conn *conn = c->conn[t];
        int8_t *s = c->s + (size_t)t * (size_t)N;
#ifdef _OPENMP
#pragma omp for schedule(static, 8192)
#endif
        for (int64_t r = 0; r < dim; r++) {
            uint64_t p = nqs_basis_pattern(b, r);
            exact_spins((const int8_t(*)[8])c->byte_spins, p, N, s);
            c->h->ops->connected(c->h, s, conn);
            double acc = conn->diag * x[r];
            for (int k = 0; k < conn->n; k++) {
                uint64_t flip = (uint64_t)1 << conn->site[k][0];
                if (conn->n_flip[k] == 2) flip |= (uint64_t)1 << conn->site[k][1];
                acc += conn->mel[k] * x[nqs_basis_index(b, p ^ flip)];
            }
            y[r] = acc;
        }
    }
}

/* y = H x in the symmetry-adapted basis, by rows (gather):
 * y_r' = sum_{s connected to r'} H_{s r'} chi(h_s) sqrt(O_r' / O_r) x_r,
 * r = rep(s), h_s r = s (exact.c header). Real characters: x, y real. */
static void exact_matvec_sym(const struct exact_ctx *c, const double *x, double *y)
{
    const struct nqs_basis *b = c->b;
    const struct nqs_basis_sym *sy = c->sy;
    const int N = b->n_sites;
    const int64_t n = sy->n_rep;
    const double complex *xc = (const double complex *)(const void *)x;
    double complex *yc = (double complex *)(void *)y;
#ifdef _OPENMP
#pragma omp parallel num_threads(c->n_threads)
#endif
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        struct nqs_conn *conn = c->conn[t];
        int8_t *s = c->s + (size_t)t * (size_t)N;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 512)
#endif
        for (int64_t r = 0; r < n; r++) {
            uint64_t p = sy->rep[r];
            exact_spins((const int8_t(*)[8])c->byte_spins, p, N, s);
            c->h->ops->connected(c->h, s, conn);
            const double on = sy->sqrt_orbit[r];
            if (sy->cplx) {
                double complex acc = conn->diag * xc[r];
                for (int k = 0; k < conn->n; k++) {
                    uint64_t flip = (uint64_t)1 << conn->site[k][0];
                    if (conn->n_flip[k] == 2) flip |= (uint64_t)1 << conn->site[k][1];
                    int64_t j = nqs_basis_index(b, p ^ flip);
                    int32_t q = sy->rep_of[j];
                    if (q < 0) continue;
                    acc += conn->mel[k] * sy->G.chi[sy->elem_of[j]] * (on / sy->sqrt_orbit[q]) * xc[q];
                }
                yc[r] = acc;
            } else {
                double acc = conn->diag * x[r];
                for (int k = 0; k < conn->n; k++) {
                    uint64_t flip = (uint64_t)1 << conn->site[k][0];
                    if (conn->n_flip[k] == 2) flip |= (uint64_t)1 << conn->site[k][1];
                    int64_t j = nqs_basis_index(b, p ^ flip);
                    int32_t q = sy->rep_of[j];
                    if (q < 0) continue;
                    acc += conn->mel[k] * creal(sy->G.chi[sy->elem_of[j]]) * (on / sy->sqrt_orbit[q]) *
                           x[q];
                }
                y[r] = acc;
            }
        }
    }
}

/* y = H x in the basis of the context. */
static void exact_apply(const struct exact_ctx *c, const double *x, double *y)
{
    if (c->sy)
        exact_matvec_sym(c, x, y);
    else
        exact_matvec(c, x, y);
}

static void exact_ctx_free(struct exact_ctx *c)
{
    if (c->conn)
        for (int t = 0; t < c->n_threads; t++) nqs_conn_free(c->conn[t]);
    free(c->conn);
    free(c->s);
}

static int exact_ctx_init(struct exact_ctx *c, const struct nqs_ham *h, const struct nqs_basis *b,
                          const struct nqs_basis_sym *sy)
{
    memset(c, 0, sizeof *c);
    c->h = h;
    c->b = b;
    c->sy = sy;
    c->n_vec = sy ? (sy->cplx ? 2 * sy->n_rep : sy->n_rep) : b->dim;
    c->n_threads = 1;
    for (int v = 0; v < 256; v++)
        for (int i = 0; i < 8; i++) c->byte_spins[v][i] = (int8_t)(2 * ((v >> i) & 1) - 1);
#ifdef _OPENMP
    c->n_threads = omp_get_max_threads();
#endif
    /* Below ~2^15 rows a product takes well under a millisecond and waking
     * the threads costs more than it saves (measured on 2 busy cores: a
     * 4x4 momentum sector, 800 rows, 0.04 s on one thread, 0.19 s on two). */
    if ((sy ? sy->n_rep : b->dim) < EXACT_PARALLEL_MIN_ROWS) c->n_threads = 1;
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
    const a_int n = (a_int)c->n_vec;
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
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(c->n_threads)
#endif
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
        exact_apply(c, workd + ipntr[0] - 1, workd + ipntr[1] - 1);
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

/* Lowest eigenpair by dense dsyev (n_vec <= EXACT_DENSE_MAX): the matrix
 * (real symmetric, or the real form [[A, -B], [B, A]] of a complex Hermitian
 * A + iB) built column by column from products with unit vectors. */
static int exact_dense(const struct exact_ctx *c, double *energy, double **psi_out, double **keep)
{
    const int64_t dim = c->n_vec;
    double *a = calloc((size_t)(dim * dim), sizeof *a);
    double *w = malloc((size_t)(dim > 0 ? dim : 1) * sizeof *w);
    double *e = calloc((size_t)(dim > 0 ? dim : 1), sizeof *e);
    if (!a || !w || !e) {
        free(a);
        free(w);
        free(e);
        NQS_ERROR(NQS_ENOMEM, "out of memory for a dense %lld x %lld matrix", (long long)dim,
                  (long long)dim);
    }
    for (int64_t col = 0; col < dim; col++) {
        e[col] = 1.0;
        exact_apply(c, e, a + col * dim); /* row col of a symmetric matrix */
        e[col] = 0.0;
    }
    free(e);
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
    const struct nqs_basis *b = c->b;
    const int N = b->n_sites;
    double acc = 0.0;
#ifdef _OPENMP
#pragma omp parallel for schedule(static, 8192) reduction(+ : acc) num_threads(c->n_threads)
#endif
    for (int64_t r = 0; r < b->dim; r++) {
        uint64_t x = nqs_basis_pattern(b, r), y = 0;
        for (int i = 0; i < N; i++) y |= ((x >> i) & 1) << perm[i];
        double term = psi[r] * psi[nqs_basis_index(b, y)];
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

void nqs_exact_format_bytes(double bytes, char *buf, size_t len)
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
    struct nqs_exact_sector sdef;
    const struct nqs_exact_sector *sec = o->sector;
    if (!sec) {
        nqs_exact_sector_default(h, &sdef);
        sec = &sdef;
    }
    const int N = h->n_sites;
    const int symm = sec->sym != NULL || sec->spin_flip != 0;
    if (h->conserves_sz && (sec->magnetisation < -N || sec->magnetisation > N ||
                            (N + sec->magnetisation) % 2 != 0))
        NQS_ERROR(NQS_EINVAL, "[symmetry] magnetisation: %d is impossible for %d spins (accepted: "
                  "-%d..%d in steps of 2)", sec->magnetisation, N, N, N);
    if (sec->spin_flip && h->conserves_sz && sec->magnetisation != 0)
        NQS_ERROR(NQS_EINVAL, "[symmetry] spin_flip: the spin flip maps magnetisation %d to %d, so "
                  "it has no parity there (accepted: none, or magnetisation = 0)",
                  sec->magnetisation, -sec->magnetisation);
    if (sec->sym && (sec->sym->n_sites != N || !sec->chi))
        NQS_ERROR(NQS_EINVAL, "exact: the symmetry group (%d sites) does not fit the Hamiltonian "
                  "(%d sites) or has no characters", sec->sym->n_sites, N);

    double t0 = exact_now();
    memset(r, 0, sizeof *r);
    r->n_sites = N;
    r->full_space = !h->conserves_sz;
    r->magnetisation = h->conserves_sz ? sec->magnetisation : 0;
    r->symmetric = symm;
    r->group_order = exact_sector_order(sec);
    r->n_dirs = h->lat ? h->lat->dim : 0;
    r->translation[0] = r->translation[1] = NAN;
    r->translation_physical[0] = r->translation_physical[1] = NAN;

    size_t limit = o->max_memory ? o->max_memory : nqs_exact_default_memory_limit();
    size_t need = nqs_exact_memory_estimate(h, o);
    r->memory = need;
    int64_t dim = nqs_exact_block_dimension(h, sec->magnetisation);
    r->dim = dim;
    r->block_dim = dim;
    if (need > limit) {
        char sneed[32], slim[32], dims[32];
        nqs_exact_format_bytes((double)need, sneed, sizeof sneed);
        nqs_exact_format_bytes((double)limit, slim, sizeof slim);
        if (dim >= 0)
            snprintf(dims, sizeof dims, "%lld", (long long)dim);
        else
            snprintf(dims, sizeof dims, "2^%d", N);
        NQS_ERROR(NQS_ENOMEM,
                  "exact diagonalisation of '%s' on %d sites (%s of dimension %s%s) needs an "
                  "estimated %s (%zu bytes), above the memory limit of %s (%zu bytes%s)",
                  h->ops->name, N, h->conserves_sz ? "sector" : "full space", dims,
                  symm ? ", reduced by symmetry" : "", sneed, need, slim, limit,
                  o->max_memory ? "" : ", 3/4 of physical memory");
    }
    if (dim < 0 || dim > 2147483647)
        NQS_ERROR(NQS_EUNSUP, "exact diagonalisation on %d sites: dimension %s exceeds ARPACK's "
                              "32-bit index range", N, dim < 0 ? "> 2^62" : "> 2^31 - 1");

    struct nqs_basis b;
    NQS_TRY(nqs_basis_build(&b, h, (N + sec->magnetisation) / 2, dim));
    struct nqs_basis_sym sy, *syp = NULL;
    int rc = NQS_OK;
    if (symm) {
        rc = nqs_basis_sym_build(&sy, &b, sec);
        if (rc != NQS_OK) {
            nqs_basis_free(&b);
            return rc;
        }
        syp = &sy;
        r->dim = sy.n_rep;
        r->complex_basis = sy.cplx;
        if (sy.n_rep == 0) {
            char desc[256];
            nqs_exact_sector_describe(sec, h, h->lat, desc, sizeof desc);
            nqs_basis_sym_free(&sy);
            nqs_basis_free(&b);
            NQS_ERROR(NQS_EINVAL, "[symmetry] the sector (%s) has no states on this lattice: no "
                      "configuration of the block is compatible with these characters (change "
                      "momentum, point_group, spin_flip or magnetisation)", desc);
        }
    }
    struct exact_ctx c;
    rc = exact_ctx_init(&c, h, &b, syp);
    if (rc != NQS_OK) {
        nqs_basis_sym_free(syp);
        nqs_basis_free(&b);
        return rc;
    }
    const struct nqs_lattice *lat = h->lat;
    int want_vec = !symm && o->translations && lat &&
                   (lat->periodic[0] || (lat->dim > 1 && lat->periodic[1]));
    double *psi = NULL, *keep = NULL;
    if (c.n_vec <= EXACT_DENSE_MAX) {
        r->method = "lapack";
        rc = exact_dense(&c, &r->energy, &psi, &keep);
    } else {
        r->method = "arpack";
        rc = exact_arpack(&c, o, want_vec, &r->energy, &psi, &keep, r);
    }
    if (rc == NQS_OK && want_vec) {
        uint64_t mask = 0;
        if (h->marshall && lat->sublattice)
            for (int i = 0; i < N; i++)
                if (lat->sublattice[i] == 0) mask |= (uint64_t)1 << i;
        int n_tx = lat->periodic[0] ? lat->extent[0] : 1;
        for (int d = 0; d < lat->dim; d++) {
            if (!lat->periodic[d]) continue;
            int t = d == 0 ? 1 : n_tx; /* one step along d (lattice.h numbering) */
            const int *perm = lat->trans + (size_t)t * (size_t)N;
            r->translation[d] = exact_translation(&c, psi, perm, 0);
            r->translation_physical[d] = mask ? exact_translation(&c, psi, perm, mask)
                                              : r->translation[d];
        }
    }
    free(keep);
    exact_ctx_free(&c);
    nqs_basis_sym_free(syp);
    nqs_basis_free(&b);
    r->seconds = exact_now() - t0;
    return rc;
}

int nqs_exact_energy(const struct nqs_ham *h, struct nqs_exact_result *r)
{
    return nqs_exact_energy_sector(h, NULL, r);
}

int nqs_exact_energy_sector(const struct nqs_ham *h, const struct nqs_exact_sector *s,
                            struct nqs_exact_result *r)
{
    struct nqs_exact_opts o;
    nqs_exact_opts_default(&o);
    o.translations = 0;
    o.sector = s;
    return nqs_exact_solve(h, &o, r);
}
