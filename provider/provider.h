/* The provider context and the pieces every file of the provider shares. */
#ifndef PKCS11PROV_PROVIDER_H
#define PKCS11PROV_PROVIDER_H

#include <pthread.h>
#include <stdbool.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>

#include <p11-kit/pkcs11.h>

#include "errors.h"

#define P11PROV_NAME "pkcs11prov"
#define P11PROV_VERSION "0.1.0"
/* Every algorithm carries this property, whatever name the provider was
 * loaded under, so "-propquery provider=pkcs11" always selects it. */
#define P11PROV_PROPERTY "provider=pkcs11"
/* Used when neither the configuration nor PKCS11PROV_MODULE names a module:
 * every module registered with p11-kit is then reachable. */
#define P11PROV_DEFAULT_MODULE "p11-kit-proxy.so"

typedef struct p11prov_module P11PROV_MODULE;

/* Settings from the provider's openssl.cnf section and the environment. */
typedef struct p11prov_config {
    char *module_path;   /* never NULL after loading */
    char *init_args;     /* pReserved for C_Initialize, or NULL */
    char *token_pin;     /* a PIN or "file:/path"; secret, cleansed on free */
    /* Mechanisms the module implements without listing them (tpm2-pkcs11
     * 1.9.1 does ECDH unlisted): used as if listed. */
    CK_MECHANISM_TYPE unlisted[16];
    size_t unlisted_count;
    /* Sign, decrypt and derive with a session-object copy of a token key
     * the token marks CKA_COPYABLE (faster on SoftHSM; key_copy.c). */
    bool copy_keys;
    /* How long a URI's search result is reused (store_cache.c); 0: off. */
    unsigned int cache_seconds;
} P11PROV_CONFIG;

#define P11PROV_MAX_MODULES 8

/* Digests fetched without properties, by the name asked (digests.c). */
#define P11PROV_DIGEST_CACHE_SIZE 16
typedef struct p11prov_digest_cache {
    pthread_mutex_t lock;        /* serialises writers only */
    size_t count;                /* published entries, read atomically */
    struct {
        char name[32];
        struct evp_md_st *md;
    } entries[P11PROV_DIGEST_CACHE_SIZE];
} P11PROV_DIGEST_CACHE;

struct p11prov_ctx {
    const OSSL_CORE_HANDLE *handle;
    OSSL_LIB_CTX *libctx;        /* child of the application's context */
    char *name;                  /* the name the provider was loaded under */
    P11PROV_CONFIG config;
    OSSL_FUNC_core_new_error_fn *core_new_error;
    OSSL_FUNC_core_set_error_debug_fn *core_set_error_debug;
    OSSL_FUNC_core_vset_error_fn *core_vset_error;
    /* Modules this context holds a reference on; loaded on first use. */
    pthread_mutex_t modules_lock;
    P11PROV_MODULE *modules[P11PROV_MAX_MODULES];
    size_t module_count;
    P11PROV_DIGEST_CACHE digests;
    struct p11prov_store_cache *store_cache; /* store_cache.c */
};

/* config.c */
int p11prov_config_load(P11PROV_CTX *ctx, const OSSL_DISPATCH *in);
void p11prov_config_free(P11PROV_CONFIG *config);
bool p11prov_config_assumes(const P11PROV_CONFIG *config,
                            CK_MECHANISM_TYPE mechanism);

/* digests.c: EVP_MD_fetch in the provider's library context, from the
 * cache when props is NULL. The caller frees the result (EVP_MD_free). */
struct evp_md_st *p11prov_digest_fetch(P11PROV_CTX *ctx, const char *name,
                                       const char *props);
void p11prov_digest_cache_free(P11PROV_DIGEST_CACHE *cache);

/* debug.c: PKCS11PROV_DEBUG=N | file:/path | file:/path,level:N */
extern int p11prov_debug_level;
void p11prov_debug_init(void);
void p11prov_debug_print(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
#define P11PROV_DEBUG(level, ...)                                          \
    do {                                                                   \
        if (p11prov_debug_level >= (level))                                \
            p11prov_debug_print(__VA_ARGS__);                              \
    } while (0)

/* store.c */
extern const OSSL_DISPATCH p11prov_store_functions[];

#endif
