/* The token-operation runner: every private-key operation on a token
 * (sign, decrypt, derive, generate a key pair) runs here, on a borrowed
 * session, with the recovery each needs: a stale pooled session, a handle
 * from before the module was re-initialised, a login the module lost, a
 * module that does the operation only in a read-write session. The
 * operation files above say what to run and word the failure. */
#ifndef PKCS11PROV_RUNNER_H
#define PKCS11PROV_RUNNER_H

#include "core/object.h"

typedef enum p11prov_token_op {
    P11PROV_TOKEN_SIGN,     /* C_SignInit + C_Sign */
    P11PROV_TOKEN_DECRYPT,  /* C_DecryptInit + C_Decrypt */
    P11PROV_TOKEN_DERIVE,   /* C_DeriveKey, the secret's CKA_VALUE read,
                              * the secret destroyed */
    P11PROV_TOKEN_GENERATE, /* C_GenerateKeyPair, usages narrowed */
} P11PROV_TOKEN_OP;

/* Where an operation ended. */
typedef enum p11prov_op_status {
    P11PROV_OP_DONE,        /* the result is written */
    P11PROV_OP_INIT_FAILED, /* the first call (C_*Init, C_DeriveKey,
                              * C_GenerateKeyPair, or the context login)
                              * said *rv */
    P11PROV_OP_CALL_FAILED, /* the call after it (C_Sign, C_Decrypt, the
                              * secret's C_GetAttributeValue) said *rv */
    P11PROV_OP_RAISED,      /* failed, error raised: the login, or an
                              * answer longer than the buffer */
} P11PROV_OP_STATUS;

/* Runs a single-part C_Sign or C_Decrypt with the object, or C_DeriveKey
 * (the mechanism carries the peer's data; in is unused) into a session
 * secret of max_len bytes. The answer is the module's, so its length is
 * checked: between min_len and max_len bytes (the buffer's size), what the
 * key and operation imply; anything else is raised as a bad answer
 * (P11PROV_OP_RAISED). One attempt, then at most one recovery of each
 * kind: a fresh session, the object found again, one re-login with the
 * PIN that already worked (a wrong PIN is never retried), a read-write
 * session. Raises no error for a Cryptoki failure: the caller words it
 * (decryption must not tell padding failures apart), with
 * p11prov_token_op_raise when it has nothing to hide. */
P11PROV_OP_STATUS p11prov_token_operation(
    P11PROV_CTX *ctx, P11PROV_OBJECT *object, P11PROV_TOKEN_OP op,
    CK_MECHANISM *mechanism, const unsigned char *in, size_t in_len,
    unsigned char *out, size_t *out_len, size_t min_len, size_t max_len,
    CK_RV *rv);

/* What C_GenerateKeyPair is given, and the usages turned off on the new
 * objects afterwards (a refusal is only traced: tpm2-pkcs11 fails, and
 * leaks TPM objects, when a template's usages differ from its own). */
typedef struct p11prov_keypair_request {
    CK_MECHANISM *mechanism;
    CK_ATTRIBUTE *public_template, *private_template;
    CK_ULONG public_count, private_count;
    const CK_ATTRIBUTE_TYPE *public_off, *private_off;
    size_t public_off_count, private_off_count;
} P11PROV_KEYPAIR_REQUEST;

/* Generates a key pair on the token in a read-write session, with the
 * same recovery (no handle to find again). uri names the token in
 * errors. */
P11PROV_OP_STATUS p11prov_token_generate_pair(
    P11PROV_CTX *ctx, P11PROV_TOKEN *token, const char *uri,
    const P11PROV_KEYPAIR_REQUEST *request, CK_OBJECT_HANDLE *public_key,
    CK_OBJECT_HANDLE *private_key, CK_RV *rv);

/* Raises the error for an operation that ended with status: "<call> with
 * <mechanism> for <uri>: <CKR_*>" (nothing when the status says it was
 * raised already). Returns 0. */
int p11prov_token_op_raise(P11PROV_CTX *ctx, P11PROV_TOKEN_OP op,
                           P11PROV_OP_STATUS status,
                           CK_MECHANISM_TYPE mechanism, const char *uri,
                           CK_RV rv);

#endif
