/* What a token's mechanisms are (mechanisms.c). */
#ifndef PKCS11PROV_MECHANISMS_H
#define PKCS11PROV_MECHANISMS_H

#include "core/tokens.h"

/* Whether the token offers mechanism: it lists it in C_GetMechanismList,
 * or lists nothing (cannot say; then the standard mechanisms are tried). */
bool p11prov_token_offers(P11PROV_TOKEN *token, CK_MECHANISM_TYPE mechanism);

/* Unpublishes the list (another token is in the slot, or the record
 * goes); kept until p11prov_mechanisms_free. token->lock held, or the
 * record no longer shared. */
void p11prov_mechanisms_retire(P11PROV_TOKEN *token);

/* Frees every list the record held (the record is being freed). */
void p11prov_mechanisms_free(P11PROV_TOKEN *token);

/* "CKM_RSA_PKCS", ... for messages and traces. */
const char *p11prov_mechanism_name(CK_MECHANISM_TYPE mechanism);

/* The token's C_GetMechanismList answered CKR_OK with a count that cannot
 * be: it is taken to offer nothing. */
bool p11prov_token_mechanisms_bad(P11PROV_TOKEN *token);

/* Whether rv says a token refused a mechanism or its parameters (so the
 * work may be done another way). */
static inline bool p11prov_mechanism_refused(CK_RV rv)
{
    return rv == CKR_MECHANISM_PARAM_INVALID || rv == CKR_ARGUMENTS_BAD
           || rv == CKR_MECHANISM_INVALID;
}

#endif
