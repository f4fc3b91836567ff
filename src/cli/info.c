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
#include "json.h"
#include "problem.h"
#include "symmetry.h"

static const char *info_yes_no(int b)
{
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
    printf("%-24s %s\n", "bipartite", info_yes_no(lat->bipartite));
    printf("%-24s %s: %s\n", "hamiltonian", p->ham_ops->name,
           p->ham_ops->summary ? p->ham_ops->summary : "");
    printf("%-24s %s\n", "conserves magnetisation", info_yes_no(p->ham->conserves_sz));
    printf("%-24s %s\n", "Marshall sign rule", info_yes_no(p->ham->marshall));
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
    printf("%-24s %s\n", "shared weights", info_yes_no(p->model_ops->shared));
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
    struct nqs_json_writer w;
    nqs_json_init(&w, stdout, 0);
    nqs_json_begin_object(&w, NULL);

    nqs_json_begin_object(&w, "lattice");
    nqs_json_put_string(&w, "description", desc);
    nqs_json_put_string(&w, "type", nqs_lattice_kind_name(lat->kind));
    nqs_json_begin_array(&w, "extent");
    for (int d = 0; d < lat->dim; d++) nqs_json_put_int(&w, NULL, lat->extent[d]);
    nqs_json_end(&w);
    nqs_json_begin_array(&w, "periodic");
    for (int d = 0; d < lat->dim; d++) nqs_json_put_bool(&w, NULL, lat->periodic[d]);
    nqs_json_end(&w);
    nqs_json_begin_array(&w, "n_bonds");
    nqs_json_put_int(&w, NULL, lat->n_bonds_order[0]);
    nqs_json_put_int(&w, NULL, lat->n_bonds_order[1]);
    nqs_json_end(&w);
    nqs_json_put_int(&w, "n_translations", lat->n_trans);
    nqs_json_put_bool(&w, "bipartite", lat->bipartite);
    nqs_json_put_bool(&w, "custom_couplings", lat->custom_couplings);
    nqs_json_end(&w);

    nqs_json_begin_object(&w, "hamiltonian");
    nqs_json_put_string(&w, "name", p->ham_ops->name);
    nqs_json_put_string(&w, "summary", p->ham_ops->summary ? p->ham_ops->summary : "");
    nqs_json_put_bool(&w, "conserves_sz", p->ham->conserves_sz);
    nqs_json_put_bool(&w, "marshall", p->ham->marshall);
    nqs_json_put_number(&w, "reference_energy", p->reference_energy); /* NaN: null */
    nqs_json_put_string(&w, "reference_source", p->reference_source);
    nqs_json_put_string(&w, "energy_units", "pauli");
    nqs_json_end(&w);

    nqs_json_begin_object(&w, "symmetry");
    nqs_json_put_string(&w, "space_group", y->space);
    nqs_json_put_int(&w, "space_group_order", y->space_order);
    nqs_json_put_string(&w, "sector", y->sector);
    nqs_json_put_bool(&w, "sector_given", p->sector_given);
    nqs_json_put_string(&w, "sector_group", p->sector_given ? p->sym->name : NULL);
    nqs_json_put_int(&w, "sector_group_order", y->order);
    if (p->sector_given) {
        nqs_json_begin_array(&w, "momentum");
        for (int d = 0; d < p->lat->dim; d++) nqs_json_put_int(&w, NULL, p->sector.momentum[d]);
        nqs_json_end(&w);
    } else {
        nqs_json_put_null(&w, "momentum");
    }
    nqs_json_put_string(&w, "point_group", p->sector_given && p->sector.irrep != NQS_IRREP_NONE
                                              ? nqs_irrep_name(p->sector.irrep)
                                              : NULL);
    nqs_json_put_string(&w, "spin_flip",
                        y->sec.spin_flip > 0 ? "even" : y->sec.spin_flip < 0 ? "odd" : NULL);
    if (p->ham->conserves_sz)
        nqs_json_put_int(&w, "magnetisation", p->magnetisation);
    else
        nqs_json_put_null(&w, "magnetisation");
    nqs_json_end(&w);

    nqs_json_put_int(&w, "n_sites", lat->n_sites);
    nqs_json_put_string(&w, "model", p->model_ops->name);
    nqs_json_put_bool(&w, "shared", p->model_ops->shared);
    nqs_json_put_int(&w, "n_hidden", m->n_hidden);
    nqs_json_put_string(&w, "layout", m->layout);
    nqs_json_put_string(&w, "group", m->group_desc);
    nqs_json_put_string(&w, "projection", m->projection[0] ? m->projection : "none");
    nqs_json_put_int(&w, "n_params", m->n_par);
    if (tw->ops && tw->n_par > 0) {
        nqs_json_put_string(&w, "twin", tw->ops->name);
        nqs_json_put_int(&w, "twin_n_params", tw->n_par);
        nqs_json_put_number(&w, "twin_ratio", (double)tw->n_par / m->n_par);
    } else {
        nqs_json_put_null(&w, "twin");
        nqs_json_put_null(&w, "twin_n_params");
        nqs_json_put_null(&w, "twin_ratio");
        nqs_json_put_string(&w, "twin_unavailable", tw->why);
    }
    nqs_json_end(&w);
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
