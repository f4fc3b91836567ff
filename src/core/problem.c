/*
 * problem.c - build the lattice, the Hamiltonian and (optionally) the model
 * from the [lattice], [hamiltonian] and [model] sections of an input
 * (problem.h). The key tables here are also what `nqs --help` and
 * docs/input.md describe.
 *
 * Order of construction: lattice -> custom couplings (file) or uniform
 * disorder, applied to the lattice's nearest-neighbour bonds -> Hamiltonian
 * (which reads the bond weights) -> model, initialised with
 * nqs_model_init(seed, init_std).
 */
#include "problem.h"

#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define PROBLEM_N(t) ((int)(sizeof(t) / sizeof((t)[0])))

enum { LAT_TYPE, LAT_EXTENT, LAT_BOUNDARY, LAT_N_KEYS };
static const struct nqs_opt_def problem_lattice_opts[LAT_N_KEYS] = {
    [LAT_TYPE] = {"type", NQS_OPT_CHOICE, NULL, "lattice family", "chain|square|triangular", 0, 0},
    [LAT_EXTENT] = {"extent", NQS_OPT_INTLIST, NULL,
        "sites per direction: L for a chain, Lx,Ly for square and triangular lattices "
        "(site i = x + Lx*y)",
        NULL, 1, 4096},
    [LAT_BOUNDARY] = {"boundary", NQS_OPT_STRING, "periodic",
        "periodic|open for every direction, or one per direction (periodic,open)", NULL, 0, 0},
};

/* Keys of [hamiltonian] that change the lattice's nearest-neighbour couplings. */
enum { CPL_FILE, CPL_DISORDER, CPL_MIN, CPL_MAX, CPL_SEED, CPL_N_KEYS };
static const struct nqs_opt_def problem_coupling_opts[CPL_N_KEYS] = {
    [CPL_FILE] = {"couplings", NQS_OPT_STRING, "",
        "file of 'i j J_ij' lines replacing the nearest-neighbour bonds (path relative to the "
        "input file)",
        NULL, 0, 0},
    [CPL_DISORDER] = {"disorder", NQS_OPT_CHOICE, "none",
        "none, or uniform: every nearest-neighbour coupling drawn from [disorder_min, "
        "disorder_max] in place of J",
        "none|uniform", 0, 0},
    [CPL_MIN] = {"disorder_min", NQS_OPT_REAL, "",
        "lower end of the uniform disorder (Pauli units)", NULL,
        -NQS_COUPLING_MAX, NQS_COUPLING_MAX},
    [CPL_MAX] = {"disorder_max", NQS_OPT_REAL, "",
        "upper end of the uniform disorder (Pauli units)", NULL,
        -NQS_COUPLING_MAX, NQS_COUPLING_MAX},
    [CPL_SEED] = {"disorder_seed", NQS_OPT_INT, "1",
        "seed of the mt19937 stream drawing the couplings",
        NULL, 0, HUGE_VAL},
};

enum { HAM_TYPE, HAM_REF, HAM_REF_SOURCE, HAM_N_KEYS };
static const struct nqs_opt_def problem_ham_opts[HAM_N_KEYS] = {
    [HAM_TYPE] = {"type", NQS_OPT_STRING, NULL,
        "Hamiltonian family (a registered name, see below)", NULL, 0,
        0},
    [HAM_REF] = {"reference_energy", NQS_OPT_REAL, "",
        "known ground-state energy in Pauli units, for relative errors (not set: unknown)", NULL, 0,
        0},
    [HAM_REF_SOURCE] = {"reference_source", NQS_OPT_STRING, "",
        "where the reference energy comes from (text)",
        NULL, 0, 0},
};

enum { MOD_TYPE, MOD_SEED, MOD_STD, MOD_PROJECTION, MOD_N_KEYS };
static const struct nqs_opt_def problem_model_opts[MOD_N_KEYS] = {
    [MOD_TYPE] = {"type", NQS_OPT_STRING, "rbm_symm",
        "wavefunction (a registered name, see below)", NULL, 0,
        0},
    [MOD_SEED] = {"seed", NQS_OPT_INT, "1",
        "seed of the Gaussian initial parameters (mt19937)", NULL, 0,
        HUGE_VAL},
    [MOD_STD] = {"init_std", NQS_OPT_REAL, "0.01",
        "standard deviation of the real and imaginary parts of the initial parameters (above ~1 "
        "|psi|^2 sits on a few configurations and the chains freeze)", NULL, 0, 10},
    [MOD_PROJECTION] = {"projection", NQS_OPT_CHOICE, "none",
        "none, or sector: psi_P(s) = sum_g conj(chi(g)) [psi(g s) + p psi(-g s)], the model "
        "projected onto the [symmetry] sector (cost per ratio ~ number of terms x the model's)",
        "none|sector", 0, 0},
};

/* [symmetry]: the sector of the state sought (symmetry.h for the conventions). */
enum { SYM_MOMENTUM, SYM_POINT_GROUP, SYM_SPIN_FLIP, SYM_MAGNETISATION, SYM_N_KEYS };
static const struct nqs_opt_def problem_symmetry_opts[SYM_N_KEYS] = {
    [SYM_MOMENTUM] = {"momentum", NQS_OPT_INTLIST, "",
        "crystal momentum of the sector: integers m_d, k_d = 2 pi m_d / L_d, one per lattice "
        "direction (0 along open directions); psi(T_d s) = exp(i k.d) psi(s) (not set: 0 when "
        "point_group or spin_flip is set, else no symmetry sector)",
        NULL, -65536, 65536},
    [SYM_POINT_GROUP] = {"point_group", NQS_OPT_CHOICE, "none",
        "one-dimensional irrep of the little co-group of k: A1 (symmetric), A2 (odd under "
        "mirrors), B1, B2 (odd under the 90/60-degree rotation; B1 even under the axis mirrors); "
        "none = the point group is not part of the sector",
        "none|A1|A2|B1|B2", 0, 0},
    [SYM_SPIN_FLIP] = {"spin_flip", NQS_OPT_CHOICE, "none",
        "parity under the global spin flip s -> -s (even|odd; magnetisation 0 only), or none",
        "none|even|odd", 0, 0},
    [SYM_MAGNETISATION] = {"magnetisation", NQS_OPT_INT, "",
        "total magnetisation sum_i s_i = N_up - N_down of the sector, for Hamiltonians that conserve "
        "it (not set: 0 for even N, 1 for odd N)",
        NULL, -65536, 65536},
};

/* Prefix the current message with the location of a key. */
static int problem_key_error(const struct nqs_config *cfg, int code, const char *section,
                             const char *key)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", nqs_last_error());
    return nqs_config_error(cfg, code, section, key, "%s", msg);
}

/* Parse `boundary` into periodic[0..dim). */
static int problem_boundary(const struct nqs_config *cfg, const char *text, int dim,
                            const char *kind, int *periodic)
{
    char buf[NQS_OPT_MAXSTR];
    snprintf(buf, sizeof buf, "%s", text);
    int n = 0, val[NQS_OPT_MAXLIST];
    char *p = buf;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        while (*p == ' ' || *p == '\t') p++;
        size_t len = strlen(p);
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) p[--len] = '\0';
        int v;
        if (strcmp(p, "periodic") == 0)
            v = 1;
        else if (strcmp(p, "open") == 0)
            v = 0;
        else
            return nqs_config_error(cfg, NQS_EINVAL, "lattice", "boundary",
                                    "'%s' is not a boundary condition (accepted: periodic|open, "
                                    "or %d comma-separated)",
                                    p, dim);
        if (n == NQS_OPT_MAXLIST) break;
        val[n++] = v;
        if (!comma) break;
        p = comma + 1;
    }
    if (n != 1 && n != dim)
        return nqs_config_error(cfg, NQS_EINVAL, "lattice", "boundary",
                                "%d entries for a %d-dimensional %s lattice (accepted: "
                                "periodic|open, or %d comma-separated)",
                                n, dim, kind, dim);
    for (int d = 0; d < dim; d++) periodic[d] = val[n == 1 ? 0 : d];
    return NQS_OK;
}

/* `couplings` resolved against the directory of the file that gave it. */
static int problem_couplings_path(const struct nqs_config *cfg, const char *path, char *out,
                                  size_t len)
{
    const char *source = NULL;
    int line = 0;
    int n;
    if (path[0] != '/' && nqs_config_origin(cfg, "hamiltonian", "couplings", &source, &line) &&
        line > 0) {
        char dir[NQS_OPT_MAXSTR];
        snprintf(dir, sizeof dir, "%s", source);
        const char *d = dirname(dir);
        n = strcmp(d, ".") == 0 ? snprintf(out, len, "%s", path)
                                : snprintf(out, len, "%s/%s", d, path);
    } else {
        n = snprintf(out, len, "%s", path);
    }
    if (n < 0 || (size_t)n >= len)
        return nqs_config_error(cfg, NQS_EINVAL, "hamiltonian", "couplings", "path too long");
    return NQS_OK;
}

int nqs_problem_lattice(struct nqs_config *cfg, struct nqs_lattice **out)
{
    *out = NULL;
    struct nqs_opt_val lattice_vals[PROBLEM_N(problem_lattice_opts)];
    struct nqs_opt_val coupling_vals[PROBLEM_N(problem_coupling_opts)];
    NQS_TRY(nqs_config_get(cfg, "lattice", problem_lattice_opts, PROBLEM_N(problem_lattice_opts),
                           lattice_vals));
    /* Nothing else reads [lattice]: report a misspelt key here, before the
     * remaining sections can fail for other reasons. */
    static const char *const lattice_only[] = {"lattice", NULL};
    NQS_TRY(nqs_config_check_unused_sections(cfg, lattice_only));
    enum nqs_lattice_kind kind = (enum nqs_lattice_kind)lattice_vals[LAT_TYPE].i;
    int dim = kind == NQS_LATTICE_CHAIN ? 1 : 2;
    if (lattice_vals[LAT_EXTENT].n_list != dim)
        return nqs_config_error(cfg, NQS_EINVAL, "lattice", "extent",
                                "a %s lattice needs %d %s, got %d (accepted: %s)",
                                lattice_vals[LAT_TYPE].str, dim, dim == 1 ? "extent" : "extents",
                                lattice_vals[LAT_EXTENT].n_list, dim == 1 ? "L" : "Lx,Ly");
    int periodic[NQS_MAX_DIM];
    NQS_TRY(problem_boundary(cfg, lattice_vals[LAT_BOUNDARY].str, dim, lattice_vals[LAT_TYPE].str,
                             periodic));

    NQS_TRY(nqs_config_get(cfg, "hamiltonian", problem_coupling_opts,
                           PROBLEM_N(problem_coupling_opts), coupling_vals));
    int has_file = coupling_vals[CPL_FILE].str[0] != '\0';
    int uniform = coupling_vals[CPL_DISORDER].i == 1;
    if (has_file && uniform)
        return nqs_config_error(cfg, NQS_EINVAL, "hamiltonian", "disorder",
                                "cannot be combined with 'couplings' (accepted: one of the two)");
    if (!uniform) {
        /* A key given with its default text sets nothing: the effective input
         * stored in a result file lists every key (disorder_min = , disorder_seed
         * = 1) and must read back for `nqs run --restart FILE`. */
        for (int k = CPL_MIN; k <= CPL_SEED; k++)
            if (coupling_vals[k].given && strcmp(coupling_vals[k].str, problem_coupling_opts[k].def) != 0)
                return nqs_config_error(cfg, NQS_EINVAL, "hamiltonian",
                                        problem_coupling_opts[k].name,
                                        "only used with disorder = uniform");
    } else {
        for (int k = CPL_MIN; k <= CPL_MAX; k++)
            if (coupling_vals[k].str[0] == '\0')
                return nqs_config_error(cfg, NQS_EINVAL, "hamiltonian",
                                        problem_coupling_opts[k].name,
                                        "required with disorder = uniform (accepted: a finite "
                                        "real number)");
        if (coupling_vals[CPL_MIN].x > coupling_vals[CPL_MAX].x)
            return nqs_config_error(cfg, NQS_EINVAL, "hamiltonian", "disorder_max",
                                    "%g is below disorder_min = %g", coupling_vals[CPL_MAX].x,
                                    coupling_vals[CPL_MIN].x);
    }

    struct nqs_lattice *lat = nqs_lattice_alloc(kind, lattice_vals[LAT_EXTENT].list, periodic);
    if (!lat) return problem_key_error(cfg, NQS_EINVAL, "lattice", "extent");
    int rc = NQS_OK;
    if (has_file) {
        char path[NQS_OPT_MAXSTR + 64];
        rc = problem_couplings_path(cfg, coupling_vals[CPL_FILE].str, path, sizeof path);
        /* The lattice's message names the couplings file and its line. */
        if (rc == NQS_OK) rc = nqs_lattice_load_couplings(lat, path);
    } else if (uniform) {
        rc = nqs_lattice_disorder_uniform(lat, coupling_vals[CPL_MIN].x, coupling_vals[CPL_MAX].x,
                                          (unsigned long)coupling_vals[CPL_SEED].i);
        if (rc != NQS_OK) problem_key_error(cfg, rc, "hamiltonian", "disorder");
    }
    if (rc != NQS_OK) {
        nqs_lattice_free(lat);
        return rc;
    }
    *out = lat;
    return NQS_OK;
}

/* Read the options of a plug-in from `section`. */
static int problem_plugin_options(struct nqs_config *cfg, const char *section, const char *name,
                                  const struct nqs_opt_def *defs, int n, struct nqs_opt_val *out)
{
    if (n > NQS_MAX_PLUGIN_OPTIONS)
        NQS_ERROR(NQS_EINTERNAL, "internal: '%s' declares %d options (at most %d)", name, n,
                  NQS_MAX_PLUGIN_OPTIONS);
    if (n == 0) return NQS_OK;
    return nqs_config_get(cfg, section, defs, n, out);
}

/* A plug-in's alloc failed: say which input section it came from. */
static int problem_plugin_error(const struct nqs_config *cfg, const char *section,
                                const char *name)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", nqs_last_error());
    return nqs_error_set(NQS_EINVAL, __FILE__, __LINE__, "%s: [%s] type = %s: %s",
                         nqs_config_name(cfg), section, name, msg);
}

struct nqs_model *nqs_problem_model_alloc(struct nqs_config *cfg, const struct nqs_model_ops *ops,
                                          const struct nqs_lattice *lat)
{
    struct nqs_opt_val model_opts[NQS_MAX_PLUGIN_OPTIONS];
    if (problem_plugin_options(cfg, "model", ops->name, ops->options, ops->n_options, model_opts) !=
        NQS_OK)
        return NULL;
    struct nqs_model *m = nqs_model_alloc(ops, lat, model_opts);
    if (!m) problem_plugin_error(cfg, "model", ops->name);
    return m;
}

/* Read [symmetry]; when a sector is asked for, build its group, check that
 * the Hamiltonian has that symmetry and compute the characters. */
static int problem_symmetry(struct nqs_config *cfg, struct nqs_problem *p)
{
    struct nqs_opt_val symmetry_vals[PROBLEM_N(problem_symmetry_opts)];
    NQS_TRY(nqs_config_get(cfg, "symmetry", problem_symmetry_opts, PROBLEM_N(problem_symmetry_opts),
                           symmetry_vals));
    const struct nqs_lattice *lat = p->lat;
    int N = lat->n_sites;
    p->magnetisation = N % 2;
    if (symmetry_vals[SYM_MAGNETISATION].str[0]) {
        long M = symmetry_vals[SYM_MAGNETISATION].i;
        if (!p->ham->conserves_sz)
            return nqs_config_error(cfg, NQS_EINVAL, "symmetry", "magnetisation",
                                    "the %s Hamiltonian does not conserve the magnetisation "
                                    "(accepted: leave it unset)", p->ham_ops->name);
        if (labs(M) > N || (M - N) % 2 != 0)
            return nqs_config_error(cfg, NQS_EINVAL, "symmetry", "magnetisation",
                                    "%ld is impossible for %d spins (accepted: -%d..%d in steps of 2)",
                                    M, N, N, N);
        p->magnetisation = (int)M;
    }
    struct nqs_sector *sec = &p->sector;
    memset(sec, 0, sizeof *sec);
    if (symmetry_vals[SYM_MOMENTUM].n_list > lat->dim)
        return nqs_config_error(cfg, NQS_EINVAL, "symmetry", "momentum",
                                "%d entries for a %d-dimensional lattice (accepted: %s)",
                                symmetry_vals[SYM_MOMENTUM].n_list, lat->dim, lat->dim == 1 ? "m" : "mx,my");
    for (int d = 0; d < symmetry_vals[SYM_MOMENTUM].n_list; d++)
        sec->momentum[d] = symmetry_vals[SYM_MOMENTUM].list[d];
    sec->irrep = (int)symmetry_vals[SYM_POINT_GROUP].i - 1; /* none = -1 = NQS_IRREP_NONE */
    long flip = symmetry_vals[SYM_SPIN_FLIP].i; /* index of none|even|odd */
    sec->spin_flip = flip == 0 ? 0 : flip == 1 ? 1 : -1;
    /* Values, not the presence of keys: the effective input stored in a
     * result file lists every key with its default (momentum = , point_group
     * = none, spin_flip = none) and must read back as the same problem for
     * `nqs run --restart FILE`. */
    p->sector_given = symmetry_vals[SYM_MOMENTUM].n_list > 0 || sec->irrep != NQS_IRREP_NONE ||
                      sec->spin_flip != 0;
    if (sec->spin_flip != 0) {
        if (p->ham->conserves_sz && p->magnetisation != 0)
            return nqs_config_error(cfg, NQS_EINVAL, "symmetry", "spin_flip",
                                    "the spin flip maps magnetisation %d to %d, so it has no parity "
                                    "there (accepted: none, or magnetisation = 0)",
                                    p->magnetisation, -p->magnetisation);
        if (!nqs_symmetry_ham_flip_invariant(p->ham))
            return nqs_config_error(cfg, NQS_EINVAL, "symmetry", "spin_flip",
                                    "the %s Hamiltonian does not commute with the global spin flip "
                                    "(accepted: none)", p->ham_ops->name);
    }
    if (!p->sector_given) return NQS_OK;
    p->sym = nqs_symmetry_alloc(lat, sec->irrep == NQS_IRREP_NONE ? NQS_GROUP_TRANSLATIONS
                                                                   : NQS_GROUP_SPACE);
    if (!p->sym) return NQS_ENOMEM;
    p->chi = malloc((size_t)p->sym->n_elem * sizeof *p->chi);
    if (!p->chi) NQS_ERROR(NQS_ENOMEM, "out of memory for %d characters", p->sym->n_elem);
    const char *key = sec->irrep != NQS_IRREP_NONE ? "point_group" : "momentum";
    if (nqs_symmetry_characters(p->sym, lat, sec, p->chi) != NQS_OK ||
        nqs_symmetry_check_hamiltonian(p->sym, p->ham) != NQS_OK)
        return problem_key_error(cfg, NQS_EINVAL, "symmetry", key);
    return NQS_OK;
}

/* [model] group = auto (the default of rbm_symm and its twin): the lattice's
 * space group when it has point operations (more elements than translations)
 * that the Hamiltonian commutes with and no [symmetry] sector is asked for
 * (the space-group models are k = 0, A1); else the translations. Resolved
 * here because the model sees only the lattice; the model then receives the
 * chosen word. Why the space group: sharing over it is what takes the 4x4 and
 * 6x6 Heisenberg lattices below 1e-3 (README "Accuracy"). */
static int problem_model_group(struct nqs_problem *p, const struct nqs_model_ops *ops,
                               struct nqs_opt_val *opt)
{
    for (int k = 0; k < ops->n_options; k++) {
        const struct nqs_opt_def *o = &ops->options[k];
        if (o->type != NQS_OPT_CHOICE || strcmp(o->name, "group") != 0 || !o->choices) continue;
        const char *words[3] = {"auto", "space_group", "translations"};
        long idx[3];
        for (int w = 0; w < 3; w++)
            idx[w] = nqs_config_choice_index(o->choices, words[w], strlen(words[w]), NULL);
        long i_auto = idx[0], i_space = idx[1], i_trans = idx[2];
        if (i_auto < 0 || opt[k].i != i_auto || i_space < 0 || i_trans < 0) return NQS_OK;
        int space = 0;
        if (!p->sector_given) {
            struct nqs_symmetry *sym = nqs_symmetry_alloc(p->lat, NQS_GROUP_SPACE);
            if (!sym) return NQS_ENOMEM;
            space = sym->n_elem > p->lat->n_trans &&
                    nqs_symmetry_check_hamiltonian(sym, p->ham) == NQS_OK;
            nqs_symmetry_free(sym);
        }
        opt[k].i = space ? i_space : i_trans;
        opt[k].x = (double)opt[k].i;
        snprintf(opt[k].str, sizeof opt[k].str, "%s", words[space ? 1 : 2]);
    }
    return NQS_OK;
}

int nqs_problem_build(struct nqs_config *cfg, int flags, struct nqs_problem **out)
{
    *out = NULL;
    struct nqs_problem *p = calloc(1, sizeof *p);
    if (!p) NQS_ERROR(NQS_ENOMEM, "out of memory for the problem description");
    p->reference_energy = NAN;
    int rc;
    struct nqs_opt_val ham_vals[PROBLEM_N(problem_ham_opts)];
    struct nqs_opt_val model_vals[PROBLEM_N(problem_model_opts)];

    if ((rc = nqs_problem_lattice(cfg, &p->lat)) != NQS_OK) goto fail;
    rc = nqs_config_get(cfg, "hamiltonian", problem_ham_opts, PROBLEM_N(problem_ham_opts), ham_vals);
    if (rc != NQS_OK) goto fail;
    p->ham_ops = nqs_ham_find(ham_vals[HAM_TYPE].str);
    if (!p->ham_ops) {
        rc = problem_key_error(cfg, NQS_EINVAL, "hamiltonian", "type");
        goto fail;
    }
    if (ham_vals[HAM_REF].str[0]) p->reference_energy = ham_vals[HAM_REF].x;
    if (p->reference_energy == 0) {
        /* relative errors |E - E_ref| / |E_ref| would all be infinite */
        rc = nqs_config_error(cfg, NQS_EINVAL, "hamiltonian", "reference_energy",
                              "0 gives no relative error (accepted: a nonzero finite number; "
                              "leave the key out if the energy is unknown)");
        goto fail;
    }
    if (strlen(ham_vals[HAM_REF_SOURCE].str) >= sizeof p->reference_source) {
        rc = nqs_config_error(cfg, NQS_EINVAL, "hamiltonian", "reference_source",
                              "longer than %zu characters", sizeof p->reference_source - 1);
        goto fail;
    }
    memcpy(p->reference_source, ham_vals[HAM_REF_SOURCE].str, strlen(ham_vals[HAM_REF_SOURCE].str) + 1);
    rc = problem_plugin_options(cfg, "hamiltonian", p->ham_ops->name, p->ham_ops->options,
                                p->ham_ops->n_options, p->ham_opt);
    if (rc != NQS_OK) goto fail;
    p->ham = nqs_ham_alloc(p->ham_ops, p->lat, p->ham_opt);
    if (!p->ham) {
        rc = problem_plugin_error(cfg, "hamiltonian", p->ham_ops->name);
        goto fail;
    }
    if ((rc = problem_symmetry(cfg, p)) != NQS_OK) goto fail;

    if (flags & NQS_PROBLEM_MODEL) {
        rc = nqs_config_get(cfg, "model", problem_model_opts, PROBLEM_N(problem_model_opts), model_vals);
        if (rc != NQS_OK) goto fail;
        p->model_ops = nqs_model_find(model_vals[MOD_TYPE].str);
        if (!p->model_ops) {
            rc = problem_key_error(cfg, NQS_EINVAL, "model", "type");
            goto fail;
        }
        p->model_seed = (unsigned long)model_vals[MOD_SEED].i;
        p->init_std = model_vals[MOD_STD].x;
        rc = problem_plugin_options(cfg, "model", p->model_ops->name, p->model_ops->options,
                                    p->model_ops->n_options, p->model_opt);
        if (rc != NQS_OK) goto fail;
        if ((rc = problem_model_group(p, p->model_ops, p->model_opt)) != NQS_OK) goto fail;
        p->model = nqs_model_alloc(p->model_ops, p->lat, p->model_opt);
        if (!p->model) {
            rc = problem_plugin_error(cfg, "model", p->model_ops->name);
            goto fail;
        }
        nqs_model_init(p->model, p->model_seed, p->init_std);
        if (model_vals[MOD_PROJECTION].i == 1) {
            if (!p->sector_given) {
                rc = nqs_config_error(cfg, NQS_EINVAL, "model", "projection",
                                      "'sector' needs a sector in [symmetry] (momentum, "
                                      "point_group or spin_flip) (accepted: none, or set one)");
                goto fail;
            }
            /* the wrapper owns the base model, also when it fails */
            p->model = nqs_model_project(p->model, p->sym, p->chi, p->sector.spin_flip);
            if (!p->model) {
                rc = problem_key_error(cfg, NQS_EINVAL, "model", "projection");
                goto fail;
            }
        }
    }
    *out = p;
    return NQS_OK;
fail:
    nqs_problem_free(p);
    return rc;
}

void nqs_problem_free(struct nqs_problem *p)
{
    if (!p) return;
    nqs_model_free(p->model);
    nqs_ham_free(p->ham);
    nqs_symmetry_free(p->sym);
    free(p->chi);
    nqs_lattice_free(p->lat);
    free(p);
}

void nqs_problem_print_help(FILE *out)
{
    fprintf(out, "[lattice]\n");
    nqs_opt_print_help(out, problem_lattice_opts, PROBLEM_N(problem_lattice_opts));

    fprintf(out, "\n[symmetry] (the sector sought; conventions in docs/symmetry.md)\n");
    nqs_opt_print_help(out, problem_symmetry_opts, PROBLEM_N(problem_symmetry_opts));

    fprintf(out, "\n[hamiltonian]\n");
    nqs_opt_print_help(out, problem_ham_opts, PROBLEM_N(problem_ham_opts));
    nqs_opt_print_help(out, problem_coupling_opts, PROBLEM_N(problem_coupling_opts));
    if (!nqs_ham_registry[0]) fprintf(out, "  (no Hamiltonian is registered in this build)\n");
    for (int k = 0; nqs_ham_registry[k]; k++) {
        const struct nqs_ham_ops *h = nqs_ham_registry[k];
        fprintf(out, " type = %s: %s\n", h->name, h->summary ? h->summary : "");
        nqs_opt_print_help(out, h->options, h->n_options);
    }

    fprintf(out, "\n[model]\n");
    nqs_opt_print_help(out, problem_model_opts, PROBLEM_N(problem_model_opts));
    if (!nqs_model_registry[0]) fprintf(out, "  (no model is registered in this build)\n");
    for (int k = 0; nqs_model_registry[k]; k++) {
        const struct nqs_model_ops *m = nqs_model_registry[k];
        fprintf(out, " type = %s (%s, twin %s): %s\n", m->name,
                m->shared ? "weights shared over translations" : "no sharing",
                m->twin ? m->twin : "none", m->summary ? m->summary : "");
        nqs_opt_print_help(out, m->options, m->n_options);
    }
}
