/*
 * What OP-TEE's PKCS#11 TA and its client library libckteec do, as the
 * p11optee module imposes it (see optee_module.c for the sources read):
 * the mechanisms of each TA version, the functions each libckteec version
 * lacks, the checks the TA makes on mechanism parameters and templates,
 * and the fields of its slot and token information. Pure functions: no
 * locking, no calls into the real module.
 */
#ifndef OPTEE_TA_H
#define OPTEE_TA_H

#include <stdbool.h>
#include <stddef.h>

#include <p11-kit/pkcs11.h>

/* A release as 100 * major + minor: 4.5 is 405. */
#define OPTEE_RELEASE(major, minor) ((major) * 100U + (minor))
#define OPTEE_OLDEST OPTEE_RELEASE(3, 12) /* TEE-identity login: 3.12 */
#define OPTEE_NEWEST OPTEE_RELEASE(4, 10)

typedef struct optee_profile {
    unsigned int ta_version;     /* optee_os: what the TA does */
    unsigned int client_version; /* optee_client: what libckteec does */
    bool rsa_x_509;              /* CFG_PKCS11_TA_RSA_X_509=y */
    bool identity_login;         /* the token uses TEE-identity login */
    bool identity_mismatch;      /* ... and this client is not its owner */
    char identity_pin[129];      /* the real token's PIN behind it */
    char log_path[4096];
} optee_profile;

/* "4.5" into *release; 0 if it is not a release from OPTEE_OLDEST to
 * OPTEE_NEWEST. */
int optee_parse_release(const char *text, unsigned int *release);

/* CKR_FUNCTION_NOT_SUPPORTED if this libckteec answers so for the
 * function ("C_DeriveKey") without asking the TA, else CKR_OK. */
CK_RV optee_client_lacks(const optee_profile *p, const char *function);

/* Whether the TA offers the mechanism for the function (a CKF_SIGN,
 * CKF_DECRYPT, ... flag; 0: for anything). */
bool optee_ta_offers(const optee_profile *p, CK_MECHANISM_TYPE type,
                     CK_FLAGS function);

/* C_GetMechanismList: the real module's list (n entries in list) filtered
 * to what the TA offers, into out (room for n). Returns the count. */
CK_ULONG optee_filter_mechanisms(const optee_profile *p,
                                 const CK_MECHANISM_TYPE *list, CK_ULONG n,
                                 CK_MECHANISM_TYPE *out);

/* C_GetMechanismInfo as the TA answers it, whatever the real module says:
 * CKR_MECHANISM_INVALID for a mechanism the TA does not know. */
CK_RV optee_mechanism_info(const optee_profile *p, CK_MECHANISM_TYPE type,
                           CK_MECHANISM_INFO *info);

/* C_*Init's checks on mechanism m for function (CKF_SIGN, ...): the TA's
 * answer, or CKR_OK when the real module may have the call. */
CK_RV optee_check_init(const optee_profile *p, const CK_MECHANISM *m,
                       CK_FLAGS function);

/* Whether libckteec would dereference m's NULL parameter in C_SignInit or
 * C_VerifyInit (CKM_EDDSA, releases 3.19 to 4.4). */
bool optee_client_crashes(const optee_profile *p, const CK_MECHANISM *m);

/* C_DeriveKey's checks of CKM_ECDH1_DERIVE's parameters; CKR_OK when the
 * TA would derive. */
CK_RV optee_check_ecdh(const CK_MECHANISM *m);

/* C_GenerateKeyPair's check of the curve in the public template
 * (CKM_EC_KEY_PAIR_GEN, CKM_EC_EDWARDS_KEY_PAIR_GEN). */
CK_RV optee_check_curve(const CK_MECHANISM *m, const CK_ATTRIBUTE *tmpl,
                        CK_ULONG count);

/* The TA's own fields over the real module's answers. slot_index: the
 * slot's place in the slot list (the TA's token id). */
void optee_slot_info(const optee_profile *p, CK_SLOT_INFO *info);
void optee_token_info(const optee_profile *p, CK_TOKEN_INFO *info,
                      CK_ULONG slot_index, CK_ULONG sessions,
                      CK_ULONG rw_sessions);
void optee_library_info(CK_INFO *info);

/* The bare point the TA keeps as an Ed25519 key's CKA_EC_POINT, from the
 * DER OCTET STRING the real module holds: *len shrinks, *value moves on.
 * Left alone when it is not such a string. */
void optee_bare_point(const unsigned char **value, CK_ULONG *len);

#endif
