/* A token's mechanisms: C_GetMechanismList read once per token in the
 * slot and published whole, so signing threads test it without a lock. */
#include "core/mechanisms.h"

#include <openssl/crypto.h>

#include "core/debug.h"

struct p11prov_mechanisms {
    CK_ULONG count;  /* 0: listed none, or could not */
    bool bad_answer; /* a count that cannot be: nothing is offered */
    struct p11prov_mechanisms *retired; /* the list this one replaced */
    CK_MECHANISM_TYPE types[];
};

/* Unpublishes the mechanism list (another token is in the slot, or the
 * record goes); kept until the record is freed. token->lock held, or the
 * record no longer shared. */
void p11prov_mechanisms_retire(P11PROV_TOKEN *t)
{
    struct p11prov_mechanisms *list = __atomic_exchange_n(
        &t->mechanisms, NULL, __ATOMIC_ACQ_REL);

    if (list != NULL) {
        list->retired = t->retired_mechanisms;
        t->retired_mechanisms = list;
    }
}

void p11prov_mechanisms_free(P11PROV_TOKEN *t)
{
    p11prov_mechanisms_retire(t);
    while (t->retired_mechanisms != NULL) {
        struct p11prov_mechanisms *list = t->retired_mechanisms;
        t->retired_mechanisms = list->retired;
        OPENSSL_free(list);
    }
}

/* No token has more; a larger count is a bad answer. */
#define MAX_MECHANISMS 4096

/* The module's list: a size call, then the list, asked again (a bounded
 * number of times) when it grew between the two. NULL when memory ran
 * out; a list of none when the module cannot say. */
static struct p11prov_mechanisms *ask_mechanisms(P11PROV_TOKEN *token)
{
    P11PROV_MODULE *m = token->module;
    struct p11prov_mechanisms *list = NULL;
    CK_RV rv = CKR_FUNCTION_NOT_SUPPORTED;

    for (int attempt = 0; attempt < 4; attempt++) {
        CK_ULONG count = 0, got;

        OPENSSL_free(list);
        list = NULL;
        if (m->fns->C_GetMechanismList != NULL)
            P11PROV_CALL(rv, m, C_GetMechanismList, token->slot_id, NULL,
                         &count);
        bool absurd = rv == CKR_OK && count >= MAX_MECHANISMS;
        if (rv != CKR_OK || absurd)
            count = 0; /* as if it listed nothing */
        /* One element more than the module asked for: p11-kit's RPC
         * client, purging the mechanisms it cannot carry, reads one past
         * the end of the list it fills (memmove of count - i from i + 1). */
        list = OPENSSL_zalloc(sizeof(*list)
                              + (count + 1) * sizeof(list->types[0]));
        if (list != NULL)
            list->bad_answer = absurd;
        if (list == NULL || count == 0)
            return list;
        got = count;
        P11PROV_CALL(rv, m, C_GetMechanismList, token->slot_id, list->types,
                     &got);
        if (rv == CKR_OK && got <= count) {
            list->count = got;
            return list;
        }
        if (rv == CKR_OK) {
            /* More than the buffer it was given, said to fit. */
            list->bad_answer = true;
            break;
        }
        if (rv != CKR_BUFFER_TOO_SMALL)
            break;
    }
    if (list != NULL)
        list->count = 0;
    return list;
}

/* The token's mechanism list, read now under token->lock unless another
 * thread did. Never NULL unless memory ran out. */
static struct p11prov_mechanisms *read_mechanisms(P11PROV_TOKEN *token)
{
    struct p11prov_mechanisms *list;

    pthread_mutex_lock(&token->lock);
    list = __atomic_load_n(&token->mechanisms, __ATOMIC_ACQUIRE);
    if (list == NULL && (list = ask_mechanisms(token)) != NULL)
        /* Published even when empty: a token that cannot list its
         * mechanisms is not asked again. */
        __atomic_store_n(&token->mechanisms, list, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&token->lock);
    return list;
}

bool p11prov_token_offers(P11PROV_TOKEN *token, CK_MECHANISM_TYPE mechanism)
{
    struct p11prov_mechanisms *list = __atomic_load_n(&token->mechanisms,
                                                      __ATOMIC_ACQUIRE);

    if (list == NULL && (list = read_mechanisms(token)) == NULL)
        return true; /* out of memory: let the token answer */
    if (list->bad_answer)
        return false;
    if (list->count == 0)
        return true;
    for (CK_ULONG i = 0; i < list->count; i++)
        if (list->types[i] == mechanism)
            return true;
    return false;
}

const char *p11prov_mechanism_name(CK_MECHANISM_TYPE mechanism)
{
    switch (mechanism) {
    case CKM_ECDSA:
        return "CKM_ECDSA";
    case CKM_RSA_PKCS:
        return "CKM_RSA_PKCS";
    case CKM_RSA_PKCS_PSS:
        return "CKM_RSA_PKCS_PSS";
    case CKM_RSA_X_509:
        return "CKM_RSA_X_509";
    case CKM_RSA_PKCS_OAEP:
        return "CKM_RSA_PKCS_OAEP";
    case CKM_EDDSA:
        return "CKM_EDDSA";
    case CKM_ECDH1_DERIVE:
        return "CKM_ECDH1_DERIVE";
    case CKM_RSA_PKCS_KEY_PAIR_GEN:
        return "CKM_RSA_PKCS_KEY_PAIR_GEN";
    case CKM_EC_KEY_PAIR_GEN:
        return "CKM_EC_KEY_PAIR_GEN";
    case CKM_EC_EDWARDS_KEY_PAIR_GEN:
        return "CKM_EC_EDWARDS_KEY_PAIR_GEN";
    default:
        return "mechanism";
    }
}

bool p11prov_token_mechanisms_bad(P11PROV_TOKEN *token)
{
    struct p11prov_mechanisms *list = __atomic_load_n(&token->mechanisms,
                                                      __ATOMIC_ACQUIRE);

    return list != NULL && list->bad_answer;
}
