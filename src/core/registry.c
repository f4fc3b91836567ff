/*
 * registry.c - the lists of models and Hamiltonians known by name.
 * Adding a plug-in = its file in models/ or hamiltonians/ (CMakeLists.txt
 * compiles every .c there) and one line in NQS_MODELS or NQS_HAMILTONIANS
 * below, which declares its ops table and registers it; then a test
 * (docs/architecture.md "Adding a model or a Hamiltonian").
 */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "hamiltonian.h"
#include "model.h"

/* X(ops table) per registered plug-in, in the order of `--help` and of the
 * "accepted" lists of messages. */
#define NQS_MODELS(X)                                                                          \
    X(nqs_model_rbm)      /* models/rbm.c */                                                   \
    X(nqs_model_rbm_symm) /* models/rbm_symm.c */                                              \
    X(nqs_model_cnn)      /* models/cnn.c (and gcnn.c for group = space_group) */              \
    X(nqs_model_lcn)      /* models/lcn.c */

#define NQS_HAMILTONIANS(X)                                                                    \
    X(nqs_ham_ising)      /* hamiltonians/ising.c */                                           \
    X(nqs_ham_heisenberg) /* hamiltonians/heisenberg.c */                                      \
    X(nqs_ham_xxz)        /* hamiltonians/heisenberg.c */                                      \
    X(nqs_ham_j1j2)       /* hamiltonians/heisenberg.c */

#define REGISTRY_DECLARE_MODEL(ops) extern const struct nqs_model_ops ops;
#define REGISTRY_DECLARE_HAM(ops) extern const struct nqs_ham_ops ops;
#define REGISTRY_ENTRY(ops) &ops,
NQS_MODELS(REGISTRY_DECLARE_MODEL)
NQS_HAMILTONIANS(REGISTRY_DECLARE_HAM)

const struct nqs_model_ops *const nqs_model_registry[] = {NQS_MODELS(REGISTRY_ENTRY) NULL};
const struct nqs_ham_ops *const nqs_ham_registry[] = {NQS_HAMILTONIANS(REGISTRY_ENTRY) NULL};

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
