/* Signature context shared by signature.c (the OpenSSL interface, params,
 * verification and software keys) and sig_token.c (signing on a token). */
#ifndef PKCS11PROV_SIGNATURE_H
#define PKCS11PROV_SIGNATURE_H

#include <openssl/core_dispatch.h>
#include <openssl/evp.h>

#include "keys/key.h"

typedef struct sig_ctx {
    P11PROV_CTX *provctx;
    P11PROV_KEY *key;
    int operation;      /* EVP_PKEY_OP_SIGN or EVP_PKEY_OP_VERIFY */
    EVP_MD *md;         /* NULL: sign the input as given */
    EVP_MD_CTX *md_ctx; /* the running digest of digest-sign */
    bool digest_started;
    int pad_mode;    /* RSA_PKCS1_PADDING, _PSS_, RSA_NO_PADDING */
    int saltlen;     /* as requested: RSA_PSS_SALTLEN_* or >= 0 */
    EVP_MD *mgf1_md; /* NULL: the signature digest */
} SIG_CTX;

/* Signs tbs (a digest when ctx->md is set, else the input as is) with the
 * token key; writes at most sig_size bytes. Raises errors. */
int p11prov_token_sign(SIG_CTX *ctx, const unsigned char *tbs, size_t tbs_len,
                       unsigned char *sig, size_t *sig_len, size_t sig_size);

/* EdDSA over a whole message, on the token. */
int p11prov_token_sign_message(SIG_CTX *ctx, const unsigned char *msg,
                               size_t msg_len, unsigned char *sig,
                               size_t *sig_len, size_t sig_size);

/* sig_params.c: the context's parameters. */
OSSL_FUNC_signature_get_ctx_params_fn p11prov_sig_get_ctx_params;
OSSL_FUNC_signature_set_ctx_params_fn p11prov_sig_set_ctx_params;
OSSL_FUNC_signature_gettable_ctx_params_fn
    p11prov_rsa_sig_gettable_ctx_params;
OSSL_FUNC_signature_settable_ctx_params_fn
    p11prov_rsa_sig_settable_ctx_params;
OSSL_FUNC_signature_gettable_ctx_params_fn
    p11prov_ecdsa_sig_gettable_ctx_params;
OSSL_FUNC_signature_settable_ctx_params_fn
    p11prov_ecdsa_sig_settable_ctx_params;
OSSL_FUNC_signature_gettable_ctx_params_fn
    p11prov_eddsa_sig_gettable_ctx_params;
OSSL_FUNC_signature_settable_ctx_params_fn
    p11prov_eddsa_sig_settable_ctx_params;

/* The salt length actually used for the context's RSA-PSS settings. */
int p11prov_sig_salt_length(const SIG_CTX *ctx);

#endif
