/* RSA encryption context shared by asym_cipher.c (the OpenSSL interface,
 * parameters, encryption and software keys) and asym_token.c (decryption
 * with a token key). */
#ifndef PKCS11PROV_ASYM_CIPHER_H
#define PKCS11PROV_ASYM_CIPHER_H

#include <openssl/evp.h>

#include "keys/key.h"

typedef struct rsa_enc_ctx {
    P11PROV_CTX *provctx;
    P11PROV_KEY *key;
    int pad_mode;     /* RSA_PKCS1_PADDING, _OAEP_, _NO_, ... */
    EVP_MD *oaep_md;  /* NULL: SHA-1 */
    char *oaep_props; /* the properties it was fetched with */
    EVP_MD *mgf1_md;  /* NULL: the OAEP digest */
    char *mgf1_props;
    unsigned char *label; /* OAEP label, may be NULL */
    size_t label_len;
    /* RSA_PKCS1_WITH_TLS_PADDING (libssl's RSA key exchange) */
    unsigned int client_version, alt_version;
} RSA_ENC_CTX;

/* Decrypts in (in_len bytes, at most the modulus size) with the token key
 * into out (out_size bytes: at least the modulus size, or 48 for the TLS
 * padding). Raises errors: every failure that depends on the ciphertext's
 * content is reported by one and the same error. */
int p11prov_rsa_token_decrypt(RSA_ENC_CTX *ctx, unsigned char *out,
                              size_t *out_len, size_t out_size,
                              const unsigned char *in, size_t in_len);

#endif
