/*
 * lattice.c - chains, square and triangular lattices (see lattice.h for the
 * numbering and neighbour conventions): coordinates, bond lists per neighbour
 * order, two-colouring of the nearest-neighbour graph (sublattices), the
 * translation group as site permutations, and custom couplings (file or a
 * seeded uniform distribution).
 */
#include "lattice.h"

#include <errno.h>
#include <fcntl.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

/* Neighbour offsets (dx, dy) per kind and order; each undirected bond appears
 * once because only "forward" offsets are listed. */
struct lattice_offsets {
    int n[NQS_N_ORDERS];
    int d[NQS_N_ORDERS][3][2];
};

static const struct lattice_offsets lattice_offsets_of[] = {
    [NQS_LATTICE_CHAIN] = {{1, 1}, {{{1, 0}}, {{2, 0}}}},
    [NQS_LATTICE_SQUARE] = {{2, 2}, {{{1, 0}, {0, 1}}, {{1, 1}, {1, -1}}}},
    [NQS_LATTICE_TRIANGULAR] = {{3, 3}, {{{1, 0}, {0, 1}, {1, -1}}, {{1, 1}, {-1, 2}, {2, -1}}}},
};

int nqs_lattice_offsets(enum nqs_lattice_kind kind, int order, int d[3][2])
{
    const struct lattice_offsets *off = &lattice_offsets_of[kind];
    for (int k = 0; k < off->n[order]; k++) d[k][0] = off->d[order][k][0], d[k][1] = off->d[order][k][1];
    return off->n[order];
}

const char *nqs_lattice_kind_name(enum nqs_lattice_kind kind)
{
    static const char *const names[] = {"chain", "square", "triangular"};
    return (kind >= 0 && kind <= NQS_LATTICE_TRIANGULAR) ? names[kind] : "unknown";
}

int nqs_lattice_site(const struct nqs_lattice *lat, int x, int y)
{
    int c[2] = {x, y};
    for (int d = 0; d < 2; d++) {
        int L = lat->extent[d];
        if (c[d] < 0 || c[d] >= L) {
            if (!lat->periodic[d]) return -1;
            c[d] = ((c[d] % L) + L) % L;
        }
    }
    return c[0] + lat->extent[0] * c[1];
}

static int lattice_bond_cmp(const void *a, const void *b)
{
    const struct nqs_bond *x = a, *y = b;
    if (x->order != y->order) return x->order - y->order;
    if (x->i != y->i) return x->i - y->i;
    return x->j - y->j;
}

/* Sort by (order, i, j) and drop repeated pairs within an order (periodic
 * wrapping of small extents can reach the same pair twice). */
static void lattice_dedup_bonds(struct nqs_lattice *lat)
{
    qsort(lat->bonds, (size_t)lat->n_bonds, sizeof *lat->bonds, lattice_bond_cmp);
    int n = 0;
    for (int b = 0; b < lat->n_bonds; b++) {
        if (n > 0 && lattice_bond_cmp(&lat->bonds[n - 1], &lat->bonds[b]) == 0) continue;
        lat->bonds[n++] = lat->bonds[b];
    }
    lat->n_bonds = n;
    lat->n_bonds_order[0] = lat->n_bonds_order[1] = 0;
    for (int b = 0; b < n; b++) lat->n_bonds_order[lat->bonds[b].order]++;
}

static int lattice_build_bonds(struct nqs_lattice *lat)
{
    const struct lattice_offsets *off = &lattice_offsets_of[lat->kind];
    int max = lat->n_sites * (off->n[0] + off->n[1]);
    lat->bonds = malloc((size_t)max * sizeof *lat->bonds);
    if (!lat->bonds) NQS_ERROR(NQS_ENOMEM, "out of memory for %d bonds", max);
    int n = 0;
    for (int order = 0; order < NQS_N_ORDERS; order++)
        for (int i = 0; i < lat->n_sites; i++)
            for (int k = 0; k < off->n[order]; k++) {
                int x = lat->coord[i * lat->dim];
                int y = lat->dim > 1 ? lat->coord[i * lat->dim + 1] : 0;
                int j = nqs_lattice_site(lat, x + off->d[order][k][0], y + off->d[order][k][1]);
                if (j < 0 || j == i) continue;
                lat->bonds[n++] = (struct nqs_bond){i < j ? i : j, i < j ? j : i, order, 1.0};
            }
    lat->n_bonds = n;
    lattice_dedup_bonds(lat);
    return NQS_OK;
}

/* Two-colour the nearest-neighbour graph by breadth-first search. */
static int lattice_colour(struct nqs_lattice *lat)
{
    int N = lat->n_sites;
    int8_t *col = malloc((size_t)N);
    int *queue = malloc((size_t)N * sizeof *queue);
    if (!col || !queue) {
        free(col);
        free(queue);
        NQS_ERROR(NQS_ENOMEM, "out of memory colouring %d sites", N);
    }
    memset(col, -1, (size_t)N);
    int ok = 1;
    for (int root = 0; root < N && ok; root++) {
        if (col[root] >= 0) continue;
        int head = 0, tail = 0;
        col[root] = 0;
        queue[tail++] = root;
        while (head < tail && ok) {
            int u = queue[head++];
            for (int b = 0; b < lat->n_bonds_order[0]; b++) {
                const struct nqs_bond *e = &lat->bonds[b];
                int v = e->i == u ? e->j : e->j == u ? e->i : -1;
                if (v < 0) continue;
                if (col[v] < 0) {
                    col[v] = (int8_t)(1 - col[u]);
                    queue[tail++] = v;
                } else if (col[v] == col[u]) {
                    ok = 0;
                    break;
                }
            }
        }
    }
    free(queue);
    if (ok) {
        lat->bipartite = 1;
        lat->sublattice = col;
    } else {
        lat->bipartite = 0;
        free(col);
    }
    return NQS_OK;
}

static int lattice_build_translations(struct nqs_lattice *lat)
{
    int N = lat->n_sites;
    int ntx = lat->periodic[0] ? lat->extent[0] : 1;
    int nty = (lat->dim > 1 && lat->periodic[1]) ? lat->extent[1] : 1;
    lat->n_trans = ntx * nty;
    lat->fully_periodic = lat->n_trans == N;
    lat->trans = malloc((size_t)lat->n_trans * (size_t)N * sizeof *lat->trans);
    lat->trans_inv = malloc((size_t)lat->n_trans * sizeof *lat->trans_inv);
    if (!lat->trans || !lat->trans_inv)
        NQS_ERROR(NQS_ENOMEM, "out of memory for %d translations", lat->n_trans);
    for (int ty = 0; ty < nty; ty++)
        for (int tx = 0; tx < ntx; tx++) {
            int t = tx + ntx * ty;
            for (int i = 0; i < N; i++) {
                int x = lat->coord[i * lat->dim];
                int y = lat->dim > 1 ? lat->coord[i * lat->dim + 1] : 0;
                lat->trans[t * N + i] = nqs_lattice_site(lat, x + tx, y + ty);
            }
            lat->trans_inv[t] = ((ntx - tx) % ntx) + ntx * ((nty - ty) % nty);
        }
    return NQS_OK;
}

struct nqs_lattice *nqs_lattice_alloc(enum nqs_lattice_kind kind, const int *extent,
                                      const int *periodic)
{
    if (kind < NQS_LATTICE_CHAIN || kind > NQS_LATTICE_TRIANGULAR) {
        NQS_SET_ERROR(NQS_EINVAL, "unknown lattice kind %d (accepted: chain, square, triangular)",
                      (int)kind);
        return NULL;
    }
    int dim = kind == NQS_LATTICE_CHAIN ? 1 : 2;
    long n_sites = 1;
    for (int d = 0; d < dim; d++) {
        int min = periodic[d] ? 2 : 1;
        if (extent[d] < min || extent[d] > 4096) {
            NQS_SET_ERROR(NQS_EINVAL,
                          "%s lattice: extent %d in direction %d is impossible (accepted: %d..4096 "
                          "for a%s direction)",
                          nqs_lattice_kind_name(kind), extent[d], d + 1, min,
                          periodic[d] ? " periodic" : "n open");
            return NULL;
        }
        n_sites *= extent[d];
    }
    if (n_sites < 2 || n_sites > 65536) {
        NQS_SET_ERROR(NQS_EINVAL, "%s lattice with %ld sites is impossible (accepted: 2..65536)",
                      nqs_lattice_kind_name(kind), n_sites);
        return NULL;
    }
    struct nqs_lattice *lat = calloc(1, sizeof *lat);
    if (!lat) goto nomem;
    lat->kind = kind;
    lat->dim = dim;
    lat->extent[1] = 1;
    for (int d = 0; d < dim; d++) {
        lat->extent[d] = extent[d];
        lat->periodic[d] = periodic[d] ? 1 : 0;
    }
    lat->n_sites = (int)n_sites;
    lat->coord = malloc((size_t)n_sites * (size_t)dim * sizeof *lat->coord);
    lat->pos = malloc((size_t)n_sites * 2 * sizeof *lat->pos);
    if (!lat->coord || !lat->pos) goto nomem;
    for (int i = 0; i < lat->n_sites; i++) {
        int x = i % lat->extent[0], y = i / lat->extent[0];
        lat->coord[i * dim] = x;
        if (dim > 1) lat->coord[i * dim + 1] = y;
        if (kind == NQS_LATTICE_TRIANGULAR) {
            lat->pos[2 * i] = x + 0.5 * y;
            lat->pos[2 * i + 1] = 0.5 * sqrt(3.0) * y;
        } else {
            lat->pos[2 * i] = x;
            lat->pos[2 * i + 1] = y;
        }
    }
    if (lattice_build_bonds(lat) != NQS_OK || lattice_colour(lat) != NQS_OK ||
        lattice_build_translations(lat) != NQS_OK) {
        nqs_lattice_free(lat);
        return NULL;
    }
    return lat;
nomem:
    nqs_lattice_free(lat);
    NQS_SET_ERROR(NQS_ENOMEM, "out of memory for a lattice of %ld sites", n_sites);
    return NULL;
}

void nqs_lattice_free(struct nqs_lattice *lat)
{
    if (!lat) return;
    free(lat->coord);
    free(lat->pos);
    free(lat->bonds);
    free(lat->sublattice);
    free(lat->trans);
    free(lat->trans_inv);
    free(lat);
}

int nqs_lattice_set_couplings(struct nqs_lattice *lat, int n, const int *i, const int *j,
                              const double *J)
{
    if (n < 1) NQS_ERROR(NQS_EINVAL, "a coupling list needs at least one bond");
    int n_nnn = lat->n_bonds_order[1];
    struct nqs_bond *b = malloc((size_t)(n + n_nnn) * sizeof *b);
    if (!b) NQS_ERROR(NQS_ENOMEM, "out of memory for %d bonds", n + n_nnn);
    for (int k = 0; k < n; k++) {
        if (i[k] < 0 || i[k] >= lat->n_sites || j[k] < 0 || j[k] >= lat->n_sites) {
            free(b);
            NQS_ERROR(NQS_EINVAL, "coupling %d: site out of range in bond (%d, %d) (accepted: 0..%d)",
                      k + 1, i[k], j[k], lat->n_sites - 1);
        }
        if (i[k] == j[k]) {
            free(b);
            NQS_ERROR(NQS_EINVAL, "coupling %d: self-bond (%d, %d) is not allowed", k + 1, i[k], j[k]);
        }
        if (!isfinite(J[k])) {
            free(b);
            NQS_ERROR(NQS_EINVAL, "coupling %d: J must be finite", k + 1);
        }
        b[k] = (struct nqs_bond){i[k] < j[k] ? i[k] : j[k], i[k] < j[k] ? j[k] : i[k], 0, J[k]};
    }
    for (int k = 0; k < n_nnn; k++) b[n + k] = lat->bonds[lat->n_bonds_order[0] + k];
    qsort(b, (size_t)(n + n_nnn), sizeof *b, lattice_bond_cmp);
    for (int k = 1; k < n + n_nnn; k++)
        if (lattice_bond_cmp(&b[k - 1], &b[k]) == 0) {
            int bi = b[k].i, bj = b[k].j;
            free(b);
            NQS_ERROR(NQS_EINVAL, "bond (%d, %d) is listed twice", bi, bj);
        }
    free(lat->bonds);
    lat->bonds = b;
    lat->n_bonds = n + n_nnn;
    lat->n_bonds_order[0] = n;
    lat->custom_couplings = 1;
    /* The coupling graph may differ from the lattice's: recolour it. */
    free(lat->sublattice);
    lat->sublattice = NULL;
    return lattice_colour(lat);
}

/* Next line of f into buf (at most NQS_COUPLINGS_MAX_LINE characters and the
 * terminator, without the newline); *have = 0 at the end of the file. Error
 * statuses carry a message naming path and line. Reads byte by byte, so a
 * binary file or one endless line stops at the limit instead of filling
 * memory. */
static int lattice_read_line(FILE *f, const char *path, int line_no, char *buf, int *have)
{
    int len = 0, ch;
    *have = 0;
    while ((ch = getc(f)) != EOF && ch != '\n') {
        if (ch == '\0')
            return nqs_error_set(NQS_EINVAL, __FILE__, __LINE__,
                                 "%s:%d: not a text file (NUL byte); accepted: lines 'i j J_ij'",
                                 path, line_no);
        if (len == NQS_COUPLINGS_MAX_LINE)
            return nqs_error_set(NQS_EINVAL, __FILE__, __LINE__,
                                 "%s:%d: line longer than %d characters (accepted: lines 'i j "
                                 "J_ij')", path, line_no, NQS_COUPLINGS_MAX_LINE);
        buf[len++] = (char)ch;
    }
    if (ferror(f))
        return nqs_error_set(NQS_EIO, __FILE__, __LINE__, "%s:%d: read error: %s", path, line_no,
                             strerror(errno));
    buf[len] = '\0';
    *have = !(ch == EOF && len == 0);
    return NQS_OK;
}

/* One "i j J_ij" line: site indices as long (never wrapped into int) and a
 * finite J; *is_bond = 0 for a blank or comment line. */
static int lattice_parse_bond(char *line, const char *path, int line_no, int n_sites, int *i,
                              int *j, double *J, int *is_bond)
{
    *is_bond = 0;
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    char *p = line;
    while (*p == ' ' || *p == '\t' || *p == '\r') p++;
    if (*p == '\0') return NQS_OK;
    long v[2];
    char *end = p;
    int ok = 1;
    for (int k = 0; k < 2 && ok; k++) {
        v[k] = strtol(p, &end, 10);
        ok = end != p && (*end == ' ' || *end == '\t');
        /* on overflow strtol gives LONG_MIN or LONG_MAX: out of range below */
        p = end;
    }
    double x = 0;
    if (ok) {
        x = strtod(p, &end);
        ok = end != p;
        while (*end == ' ' || *end == '\t' || *end == '\r') end++;
        ok = ok && *end == '\0';
    }
    if (!ok)
        return nqs_error_set(NQS_EINVAL, __FILE__, __LINE__,
                             "%s:%d: expected 'i j J_ij' (two site indices and a number)", path,
                             line_no);
    if (v[0] < 0 || v[0] >= n_sites || v[1] < 0 || v[1] >= n_sites || v[0] == v[1])
        return nqs_error_set(NQS_EINVAL, __FILE__, __LINE__,
                             "%s:%d: bond (%ld, %ld) is impossible on %d sites (accepted: two "
                             "different sites 0..%d)",
                             path, line_no, v[0], v[1], n_sites, n_sites - 1);
    if (!isfinite(x) || fabs(x) > NQS_COUPLING_MAX)
        return nqs_error_set(NQS_EINVAL, __FILE__, __LINE__,
                             "%s:%d: J_ij = %g is out of range (accepted: a finite number in "
                             "[-%g, %g])", path, line_no, x, NQS_COUPLING_MAX, NQS_COUPLING_MAX);
    *i = (int)v[0];
    *j = (int)v[1];
    *J = x;
    *is_bond = 1;
    return NQS_OK;
}

int nqs_lattice_load_couplings(struct nqs_lattice *lat, const char *path)
{
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; a regular file
     * is read normally whatever the flag. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) NQS_ERROR(NQS_EIO, "%s: cannot open couplings file: %s", path, strerror(errno));
    struct stat st;
    int stat_ok = fstat(fd, &st) == 0;
    if (!stat_ok || !S_ISREG(st.st_mode)) {
        int dir = stat_ok && S_ISDIR(st.st_mode);
        close(fd);
        NQS_ERROR(NQS_EINVAL, "%s: the couplings file is %s (accepted: a regular text file of "
                  "'i j J_ij' lines)", path, dir ? "a directory" : "not a regular file");
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        NQS_ERROR(NQS_EIO, "%s: cannot open couplings file: %s", path, strerror(errno));
    }
    /* Distinct bonds are at most N(N-1)/2: more lines repeat a pair. */
    long max_bonds = (long)lat->n_sites * (lat->n_sites - 1) / 2;
    int cap = 64, n = 0, line_no = 0, rc = NQS_OK;
    int *bi = malloc((size_t)cap * sizeof *bi), *bj = malloc((size_t)cap * sizeof *bj);
    double *bJ = malloc((size_t)cap * sizeof *bJ);
    char line[NQS_COUPLINGS_MAX_LINE + 1];
    if (!bi || !bj || !bJ) {
        rc = nqs_error_set(NQS_ENOMEM, __FILE__, __LINE__, "out of memory reading %s", path);
        goto done;
    }
    for (;;) {
        line_no++;
        int have = 0, is_bond = 0, i = 0, j = 0;
        double J = 0;
        if ((rc = lattice_read_line(f, path, line_no, line, &have)) != NQS_OK) goto done;
        if (!have) break;
        rc = lattice_parse_bond(line, path, line_no, lat->n_sites, &i, &j, &J, &is_bond);
        if (rc != NQS_OK) goto done;
        if (!is_bond) continue;
        if (n == max_bonds) {
            rc = nqs_error_set(NQS_EINVAL, __FILE__, __LINE__,
                               "%s:%d: more bonds than the %ld site pairs of %d sites (a pair is "
                               "listed twice)", path, line_no, max_bonds, lat->n_sites);
            goto done;
        }
        if (n == cap) {
            cap *= 2;
            int *ni = realloc(bi, (size_t)cap * sizeof *bi);
            if (ni) bi = ni;
            int *nj = realloc(bj, (size_t)cap * sizeof *bj);
            if (nj) bj = nj;
            double *nJ = realloc(bJ, (size_t)cap * sizeof *bJ);
            if (nJ) bJ = nJ;
            if (!ni || !nj || !nJ) {
                rc = nqs_error_set(NQS_ENOMEM, __FILE__, __LINE__, "out of memory reading %s", path);
                goto done;
            }
        }
        bi[n] = i;
        bj[n] = j;
        bJ[n] = J;
        n++;
    }
    if (n == 0) {
        rc = nqs_error_set(NQS_EINVAL, __FILE__, __LINE__, "%s: no bonds found", path);
        goto done;
    }
    rc = nqs_lattice_set_couplings(lat, n, bi, bj, bJ);
    if (rc != NQS_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", nqs_last_error());
        rc = nqs_error_set(rc, __FILE__, __LINE__, "%s: %s", path, msg);
    }
done:
    fclose(f);
    free(bi);
    free(bj);
    free(bJ);
    return rc;
}

int nqs_lattice_disorder_uniform(struct nqs_lattice *lat, double lo, double hi, unsigned long seed)
{
    if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi))
        NQS_ERROR(NQS_EINVAL, "disorder range [%g, %g] is empty (need disorder_min <= disorder_max)",
                  lo, hi);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!rng) NQS_ERROR(NQS_ENOMEM, "out of memory for a random number generator");
    gsl_rng_set(rng, seed);
    for (int b = 0; b < lat->n_bonds_order[0]; b++)
        lat->bonds[b].w = lo + (hi - lo) * gsl_rng_uniform(rng);
    gsl_rng_free(rng);
    lat->custom_couplings = 1;
    return NQS_OK;
}

int nqs_lattice_is_disordered(const struct nqs_lattice *lat)
{
    if (!lat->custom_couplings) return 0;
    for (int b = 1; b < lat->n_bonds_order[0]; b++)
        if (lat->bonds[b].w != lat->bonds[0].w) return 1;
    return 0;
}

void nqs_lattice_describe(const struct nqs_lattice *lat, char *buf, int len)
{
    const char *bc[2] = {lat->periodic[0] ? "periodic" : "open",
                         lat->periodic[1] ? "periodic" : "open"};
    if (lat->dim == 1)
        snprintf(buf, (size_t)len, "%s %d %s (%d sites)", nqs_lattice_kind_name(lat->kind),
                 lat->extent[0], bc[0], lat->n_sites);
    else
        snprintf(buf, (size_t)len, "%s %dx%d %s,%s (%d sites)", nqs_lattice_kind_name(lat->kind),
                 lat->extent[0], lat->extent[1], bc[0], bc[1], lat->n_sites);
}
