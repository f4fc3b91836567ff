/*
 * registry.c - the lists of models and Hamiltonians known by name.
 * Adding a plug-in = one extern line and one array entry here, one source
 * line in CMakeLists.txt, and a test.
 */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "hamiltonian.h"
#include "model.h"

extern const struct nqs_model_ops nqs_model_rbm, nqs_model_rbm_symm;
extern const struct nqs_model_ops nqs_model_cnn, nqs_model_lcn;

const struct nqs_model_ops *const nqs_model_registry[] = {
    &nqs_model_rbm,
    &nqs_model_rbm_symm,
    &nqs_model_cnn,
    &nqs_model_lcn,
    NULL,
};

extern const struct nqs_ham_ops nqs_ham_ising;      /* hamiltonians/ising.c */
extern const struct nqs_ham_ops nqs_ham_heisenberg; /* hamiltonians/heisenberg.c */
extern const struct nqs_ham_ops nqs_ham_xxz;        /* hamiltonians/heisenberg.c */
extern const struct nqs_ham_ops nqs_ham_j1j2;       /* hamiltonians/heisenberg.c */

const struct nqs_ham_ops *const nqs_ham_registry[] = {
    &nqs_ham_ising, &nqs_ham_heisenberg, &nqs_ham_xxz, &nqs_ham_j1j2,
    NULL,
};

/* "a, b, c" of the names in a registry, for messages. */
#define REGISTRY_NAMES(reg, buf)                                                               \
    do {                                                                                       \
        buf[0] = '\0';                                                                         \
        for (int k_ = 0; reg[k_]; k_++) {                                                      \
            if (k_) strncat(buf, ", ", sizeof buf - strlen(buf) - 1);                          \
            strncat(buf, reg[k_]->name, sizeof buf - strlen(buf) - 1);                         \
        }                                                                                      \
    } while (0)

const struct nqs_model_ops *nqs_model_find(const char *name)
{
    for (int k = 0; nqs_model_registry[k]; k++)
        if (strcmp(nqs_model_registry[k]->name, name) == 0) return nqs_model_registry[k];
    char names[512];
    REGISTRY_NAMES(nqs_model_registry, names);
    NQS_SET_ERROR(NQS_EINVAL, "unknown model '%s' (accepted: %s)", name, names);
    return NULL;
}

const struct nqs_ham_ops *nqs_ham_find(const char *name)
{
    for (int k = 0; nqs_ham_registry[k]; k++)
        if (strcmp(nqs_ham_registry[k]->name, name) == 0) return nqs_ham_registry[k];
    char names[512];
    REGISTRY_NAMES(nqs_ham_registry, names);
    NQS_SET_ERROR(NQS_EINVAL, "unknown Hamiltonian '%s' (accepted: %s)", name, names);
    return NULL;
}
