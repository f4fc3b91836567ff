/*
 * info.c - `nqs info CONFIG`: build the problem of an input (lattice,
 * Hamiltonian, model) without sampling and describe it, with the parameter
 * count of the model next to that of its twin (the same architecture with the
 * other kind of weight sharing), e.g. a symmetric RBM with alpha feature maps
 * has alpha*N + alpha + 1 parameters where the dense RBM with the same hidden
 * units has N + alpha*N + alpha*N^2. Also the lattice's space group and the
 * symmetry sector of [symmetry] (docs/symmetry.md) with the order of its group.
 * Reads only [lattice], [hamiltonian], [symmetry] and [model], so a full run
 * input is accepted.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "exact.h"
#include "problem.h"
#include "symmetry.h"

/* A JSON string literal for `s`. */
static void info_json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

/* Shortest of %.15g/%.16g/%.17g that reads back to the same double. */
static void info_json_num(FILE *out, double x)
{
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    fputs(buf, out);
}

static const char *info_bool(int b, int json)
{
    if (json) return b ? "true" : "false";
    return b ? "yes" : "no";
}

/* The lattice's space group and the sector. */
struct info_sym {
    char space[96];  /* name of the lattice's space group ("" if it could not be built) */
    int space_order;
    char sector[256]; /* nqs_exact_sector_describe */
    int order;        /* elements of the sector's group, spin flip included (1: none) */
    struct nqs_exact_sector sec;
};

static void info_sym_fill(const struct nqs_problem *p, struct info_sym *y)
{
    memset(y, 0, sizeof *y);
    struct nqs_symmetry *g = nqs_symmetry_alloc(p->lat, NQS_GROUP_SPACE);
    if (g) {
        snprintf(y->space, sizeof y->space, "%s", g->name);
        y->space_order = g->n_elem;
        nqs_symmetry_free(g);
    }
    nqs_exact_sector_of_problem(p, &y->sec);
    nqs_exact_sector_describe(&y->sec, p->ham, p->lat, y->sector, sizeof y->sector);
    y->order = 1;
    if (y->sec.sym) {
        y->order = 0;
        for (int e = 0; e < y->sec.sym->n_elem; e++) y->order += y->sec.chi[e] != 0;
    }
    if (y->sec.spin_flip) y->order *= 2;
}

struct info_twin {
    const struct nqs_model_ops *ops; /* NULL: no twin registered */
    int n_par;                       /* 0 when it could not be built */
    char why[512];                   /* reason when not available */
};

static void info_print_text(const struct nqs_problem *p, const struct info_twin *tw,
                            const struct info_sym *y)
{
    const struct nqs_lattice *lat = p->lat;
    const struct nqs_model *m = p->model;
    char desc[256];
    nqs_lattice_describe(lat, desc, sizeof desc);
    printf("%-24s %s\n", "lattice", desc);
    printf("%-24s %d\n", "sites", lat->n_sites);
    printf("%-24s %d nearest, %d next-nearest\n", "bonds", lat->n_bonds_order[0],
           lat->n_bonds_order[1]);
    printf("%-24s %s\n", "couplings",
           lat->custom_couplings ? (nqs_lattice_is_disordered(lat) ? "custom (not uniform)"
                                                                  : "custom (uniform)")
                                 : "uniform (lattice)");
    printf("%-24s %d\n", "translation group", lat->n_trans);
    printf("%-24s %s\n", "bipartite", info_bool(lat->bipartite, 0));
    printf("%-24s %s: %s\n", "hamiltonian", p->ham_ops->name,
           p->ham_ops->summary ? p->ham_ops->summary : "");
    printf("%-24s %s\n", "conserves magnetisation", info_bool(p->ham->conserves_sz, 0));
    printf("%-24s %s\n", "Marshall sign rule", info_bool(p->ham->marshall, 0));
    printf("%-24s %s\n", "lattice symmetry", y->space[0] ? y->space : "(not available)");
    printf("%-24s %s%s\n", "sector", y->sector, p->sector_given ? "" : " (default)");
    if (p->sector_given)
        printf("%-24s order %d: the elements with a character (translations%s) of the %s%s\n",
               "sector group", y->order,
               p->sector.irrep != NQS_IRREP_NONE ? " x little co-group of k" : "", p->sym->name,
               y->sec.spin_flip ? ", x spin flip" : "");
    if (!isnan(p->reference_energy))
        printf("%-24s %.10g (Pauli units%s%s)\n", "reference energy", p->reference_energy,
               p->reference_source[0] ? "; " : "", p->reference_source);
    printf("%-24s %s\n", "model", p->model_ops->name);
    printf("%-24s %s\n", "shared weights", info_bool(p->model_ops->shared, 0));
    printf("%-24s %d\n", "hidden units", m->n_hidden);
    printf("%-24s %s\n", "layout", m->layout);
    printf("%-24s %s\n", "weights shared over", m->group_desc[0] ? m->group_desc : "(not stated)");
    printf("%-24s %s\n", "projection", m->projection[0] ? m->projection : "none");
    printf("%-24s %d\n", "parameters", m->n_par);
    if (tw->ops && tw->n_par > 0)
        printf("%-24s %s: %d parameters (%.4g times as many)\n", "twin", tw->ops->name, tw->n_par,
               (double)tw->n_par / m->n_par);
    else
        printf("%-24s %s\n", "twin", tw->why);
}

static void info_print_json(const struct nqs_problem *p, const struct info_twin *tw,
                            const struct info_sym *y)
{
    const struct nqs_lattice *lat = p->lat;
    const struct nqs_model *m = p->model;
    char desc[256];
    nqs_lattice_describe(lat, desc, sizeof desc);
    printf("{\"lattice\": {\"description\": ");
    info_json_str(stdout, desc);
    printf(", \"type\": \"%s\", \"extent\": [", nqs_lattice_kind_name(lat->kind));
    for (int d = 0; d < lat->dim; d++) printf("%s%d", d ? ", " : "", lat->extent[d]);
    printf("], \"periodic\": [");
    for (int d = 0; d < lat->dim; d++) printf("%s%s", d ? ", " : "", info_bool(lat->periodic[d], 1));
    printf("], \"n_bonds\": [%d, %d], \"n_translations\": %d, \"bipartite\": %s, "
           "\"custom_couplings\": %s},\n",
           lat->n_bonds_order[0], lat->n_bonds_order[1], lat->n_trans,
           info_bool(lat->bipartite, 1), info_bool(lat->custom_couplings, 1));
    printf(" \"hamiltonian\": {\"name\": ");
    info_json_str(stdout, p->ham_ops->name);
    printf(", \"summary\": ");
    info_json_str(stdout, p->ham_ops->summary ? p->ham_ops->summary : "");
    printf(", \"conserves_sz\": %s, \"marshall\": %s, \"reference_energy\": ",
           info_bool(p->ham->conserves_sz, 1), info_bool(p->ham->marshall, 1));
    if (isnan(p->reference_energy))
        printf("null");
    else
        info_json_num(stdout, p->reference_energy);
    printf(", \"reference_source\": ");
    info_json_str(stdout, p->reference_source);
    printf(", \"energy_units\": \"pauli\"},\n");
    printf(" \"symmetry\": {\"space_group\": ");
    info_json_str(stdout, y->space);
    printf(", \"space_group_order\": %d, \"sector\": ", y->space_order);
    info_json_str(stdout, y->sector);
    printf(", \"sector_given\": %s, \"sector_group\": ", info_bool(p->sector_given, 1));
    if (p->sector_given)
        info_json_str(stdout, p->sym->name);
    else
        printf("null");
    printf(", \"sector_group_order\": %d, \"momentum\": ", y->order);
    if (p->sector_given) {
        printf("[");
        for (int d = 0; d < p->lat->dim; d++) printf("%s%d", d ? ", " : "", p->sector.momentum[d]);
        printf("]");
    } else {
        printf("null");
    }
    printf(", \"point_group\": ");
    if (p->sector_given && p->sector.irrep != NQS_IRREP_NONE)
        printf("\"%s\"", nqs_irrep_name(p->sector.irrep));
    else
        printf("null");
    printf(", \"spin_flip\": %s, \"magnetisation\": ",
           y->sec.spin_flip > 0 ? "\"even\"" : y->sec.spin_flip < 0 ? "\"odd\"" : "null");
    if (p->ham->conserves_sz)
        printf("%d", p->magnetisation);
    else
        printf("null");
    printf("},\n");
    printf(" \"n_sites\": %d, \"model\": ", lat->n_sites);
    info_json_str(stdout, p->model_ops->name);
    printf(", \"shared\": %s, \"n_hidden\": %d, \"layout\": ", info_bool(p->model_ops->shared, 1),
           m->n_hidden);
    info_json_str(stdout, m->layout);
    printf(", \"group\": ");
    info_json_str(stdout, m->group_desc);
    printf(", \"projection\": ");
    info_json_str(stdout, m->projection[0] ? m->projection : "none");
    printf(", \"n_params\": %d,\n \"twin\": ", m->n_par);
    if (tw->ops && tw->n_par > 0) {
        info_json_str(stdout, tw->ops->name);
        printf(", \"twin_n_params\": %d, \"twin_ratio\": ", tw->n_par);
        info_json_num(stdout, (double)tw->n_par / m->n_par);
    } else {
        printf("null, \"twin_n_params\": null, \"twin_ratio\": null, \"twin_unavailable\": ");
        info_json_str(stdout, tw->why);
    }
    printf("}\n");
}

int nqs_cmd_info(const struct nqs_cli *cli)
{
    static const char *const sections[] = {"lattice", "hamiltonian", "symmetry", "model", NULL};
    struct nqs_problem *p = NULL;
    NQS_TRY(nqs_problem_build(cli->cfg, NQS_PROBLEM_MODEL, &p));

    struct info_twin tw = {NULL, 0, ""};
    const char *twin = p->model_ops->twin;
    if (!twin || !twin[0]) {
        snprintf(tw.why, sizeof tw.why, "none declared by '%s'", p->model_ops->name);
    } else if (!(tw.ops = nqs_model_find(twin))) {
        snprintf(tw.why, sizeof tw.why, "'%s' is not registered in this build", twin);
    } else {
        struct nqs_model *t = nqs_problem_model_alloc(cli->cfg, tw.ops, p->lat);
        if (t) {
            tw.n_par = t->n_par;
            nqs_model_free(t);
        } else {
            snprintf(tw.why, sizeof tw.why, "'%s' cannot be built here: %s", twin,
                     nqs_last_error());
        }
    }
    nqs_error_clear();

    struct info_sym y;
    info_sym_fill(p, &y);
    nqs_error_clear();
    int rc = nqs_config_check_unused_sections(cli->cfg, sections);
    if (rc == NQS_OK) {
        if (cli->json)
            info_print_json(p, &tw, &y);
        else
            info_print_text(p, &tw, &y);
        if (fflush(stdout) != 0)
            rc = nqs_error_set(NQS_EIO, __FILE__, __LINE__, "cannot write to standard output");
    }
    nqs_problem_free(p);
    return rc;
}
