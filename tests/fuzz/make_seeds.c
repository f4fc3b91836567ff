/*
 * make_seeds.c - seed corpora for the fuzz harnesses: small valid result
 * files for fuzz_restart (with and without a checkpoint, one with a finished
 * /result) and a few inputs for fuzz_config. Usage: make_seeds DIR, writes
 * DIR/restart/ and DIR/config/.
 */
#include <complex.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "io_h5.h"

static int seeds_result(const char *path, int checkpoint, int finish)
{
    struct nqs_h5_meta meta = {.command_line = "nqs run fuzz.ini",
                               .input = "[lattice]\ntype = chain\nextent = 2\n",
                               .lattice = "chain 2 periodic (2 sites)", .hamiltonian = "heisenberg",
                               .model = "rbm_symm", .shared = 1, .n_sites = 2, .n_params = 2,
                               .n_chains = 2, .rng_state_bytes = 8, .optimizer_state_len = 3};
    struct nqs_h5 *f;
    if (nqs_h5_create(path, &meta, 1, &f) != NQS_OK) return 1;
    struct nqs_h5_row row = {.iteration = 0, .energy = -1.5};
    nqs_h5_append(f, &row);
    row.iteration = 1;
    nqs_h5_append(f, &row);
    double complex par[2] = {0.25 - 0.5 * I, 1.0};
    double opt[3] = {1, 2, 3};
    int8_t chains[4] = {1, -1, -1, 1};
    uint8_t rng[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    struct nqs_h5_checkpoint ck = {2, 1.5, 64, par, opt, chains, rng};
    if (checkpoint && nqs_h5_checkpoint_write(f, &ck) != NQS_OK) return 1;
    struct nqs_h5_result res = {.energy = -1.5};
    struct nqs_h5_reference ref = {-2.0, "seed"};
    if (finish && nqs_h5_finish(f, &res, &ref, NULL, 0) != NQS_OK) return 1;
    return nqs_h5_close(f) != NQS_OK;
}

static int seeds_text(const char *path, const char *text, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return 1;
    size_t put = fwrite(text, 1, len, fp);
    return fclose(fp) != 0 || put != len;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds DIR\n");
        return 2;
    }
    char p[512];
    snprintf(p, sizeof p, "%s/restart", argv[1]);
    mkdir(argv[1], 0755);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/config", argv[1]);
    mkdir(p, 0755);
    int bad = 0;
    static const char *const names[3] = {"nockpt.h5", "ckpt.h5", "finished.h5"};
    for (int k = 0; k < 3; k++) {
        snprintf(p, sizeof p, "%s/restart/%s", argv[1], names[k]);
        bad |= seeds_result(p, k >= 1, k == 2);
    }
    static const char ini[] = "[lattice]\ntype = square\nextent = 4,4\nboundary = periodic,open\n"
                              "[hamiltonian]\ntype = heisenberg\nJ = 1.0 ; comment\n"
                              "reference_energy = -44.9\n[sampler]\nchains = 8\n"
                              "[observables]\nsx = yes\n";
    snprintf(p, sizeof p, "%s/config/input.ini", argv[1]);
    bad |= seeds_text(p, ini, sizeof ini - 1);
    static const char sets[] = "[lattice]\ntype = chain\n\0lattice.extent=8\0"
                               "hamiltonian.reference_source=Bethe ansatz\0sampler.seed=7";
    snprintf(p, sizeof p, "%s/config/sets", argv[1]);
    bad |= seeds_text(p, sets, sizeof sets - 1);
    if (bad) fprintf(stderr, "make_seeds: %s\n", nqs_last_error());
    return bad;
}
