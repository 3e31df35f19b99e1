/* One private-key operation on a token (C_SignInit + C_Sign, or
 * C_DecryptInit + C_Decrypt) on a pooled session, with the recovery every
 * such operation needs: a stale pooled session, a handle from before the
 * module was re-initialised, a login the module lost. Shared by signing
 * (sig_token.c) and decryption (asym_cipher.c). */
#ifndef PKCS11PROV_TOKEN_OP_H
#define PKCS11PROV_TOKEN_OP_H

#include "keys/key.h"

typedef enum p11prov_token_op {
    P11PROV_TOKEN_SIGN,      /* C_SignInit + C_Sign */
    P11PROV_TOKEN_DECRYPT,   /* C_DecryptInit + C_Decrypt */
} P11PROV_TOKEN_OP;

/* Where an operation ended. */
typedef enum p11prov_op_status {
    P11PROV_OP_DONE,         /* *out_len bytes written */
    P11PROV_OP_INIT_FAILED,  /* C_*Init (or the context login) said *rv */
    P11PROV_OP_CALL_FAILED,  /* C_Sign / C_Decrypt said *rv */
    P11PROV_OP_RAISED,       /* failed, error raised: the login, or an
                              * answer longer than the buffer */
} P11PROV_OP_STATUS;

/* Runs one single-part operation with the key's object: one Init and one
 * call per attempt, at most three attempts (a fresh session, the object
 * found again, one re-login with the PIN that already worked; a wrong PIN
 * is never retried). Raises no error for a Cryptoki failure: the caller
 * words it (decryption must not tell padding failures apart). */
P11PROV_OP_STATUS p11prov_token_operation(P11PROV_CTX *ctx, P11PROV_KEY *key,
                                          P11PROV_TOKEN_OP op,
                                          CK_MECHANISM *mechanism,
                                          const unsigned char *in,
                                          size_t in_len, unsigned char *out,
                                          size_t *out_len, size_t out_size,
                                          CK_RV *rv);

/* Usable: configured in pkcs11-module-unlisted-mechanisms, or the key
 * permits the mechanism and the token lists it (or lists nothing, or the
 * key's own allowed list names it: tpm2-pkcs11 does PSS without listing
 * it). */
bool p11prov_mechanism_usable(P11PROV_KEY *key, CK_MECHANISM_TYPE mechanism);

/* The error for an operation whose mechanisms the key does not allow or
 * its token does not offer ("WHAT: not allowed for URI ..."); returns 0. */
int p11prov_refuse_mechanism(P11PROV_CTX *ctx, const P11PROV_KEY *key,
                             const char *what);

#endif
