/* The provider's settings: its openssl.cnf section and the environment. */
#ifndef PKCS11PROV_CONFIG_H
#define PKCS11PROV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/core.h>
#include <p11-kit/pkcs11.h>

typedef struct p11prov_ctx P11PROV_CTX;

/* Used when neither the configuration nor PKCS11PROV_MODULE names a module:
 * every module registered with p11-kit is then reachable. */
#define P11PROV_DEFAULT_MODULE "p11-kit-proxy.so"

typedef struct p11prov_config {
    char *module_path; /* never NULL after loading */
    char *init_args;   /* pReserved for C_Initialize, or NULL */
    char *token_pin;   /* a PIN or "file:/path"; secret, cleansed on free */
    /* Mechanisms the module implements without listing them (tpm2-pkcs11
     * 1.9.1 does ECDH unlisted): used as if listed. */
    CK_MECHANISM_TYPE unlisted[16];
    size_t unlisted_count;
    /* Sign, decrypt and derive with a session-object copy of a token key
     * the token marks CKA_COPYABLE (faster on SoftHSM; object_copy.c). */
    bool copy_keys;
    /* How long a URI's search result is reused (store_cache.c); 0: off. */
    unsigned int cache_seconds;
    /* Connections to a key server (p11-kit's client) operations may use
     * at once, 1 to P11PROV_MAX_LANES (lanes.h). */
    unsigned int connections;
} P11PROV_CONFIG;

/* Reads the configuration the core passes at provider init. */
int p11prov_config_load(P11PROV_CTX *ctx, const OSSL_DISPATCH *in);
void p11prov_config_free(P11PROV_CONFIG *config);

/* Whether the configuration says the module implements mechanism unlisted. */
bool p11prov_config_assumes(const P11PROV_CONFIG *config,
                            CK_MECHANISM_TYPE mechanism);

#endif
