/* The provider context: one per library context that loaded pkcs11prov.
 * Everything the provider does starts from it. */
#ifndef PKCS11PROV_CONTEXT_H
#define PKCS11PROV_CONTEXT_H

#include <pthread.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>

#include "core/config.h"
#include "core/errors.h"
#include "core/fetch_cache.h"

#define P11PROV_NAME "pkcs11prov"
#define P11PROV_VERSION "0.1.0"
/* Every algorithm carries this property, whatever name the provider was
 * loaded under, so "-propquery provider=pkcs11" always selects it. */
#define P11PROV_PROPERTY "provider=pkcs11"
/* Software work is done by any provider but this one. */
#define P11PROV_SOFTWARE_PROPQ "provider!=pkcs11"

#define P11PROV_MAX_MODULES 8

typedef struct p11prov_module P11PROV_MODULE;

struct p11prov_ctx {
    const OSSL_CORE_HANDLE *handle;
    OSSL_LIB_CTX *libctx; /* child of the application's context */
    char *name;           /* the name the provider was loaded under */
    P11PROV_CONFIG config;
    OSSL_FUNC_core_new_error_fn *core_new_error;
    OSSL_FUNC_core_set_error_debug_fn *core_set_error_debug;
    OSSL_FUNC_core_vset_error_fn *core_vset_error;
    /* Modules this context holds a reference on; loaded on first use. */
    pthread_mutex_t modules_lock;
    P11PROV_MODULE *modules[P11PROV_MAX_MODULES];
    size_t module_count;
    P11PROV_FETCH_CACHE digests;
    /* The store's search results (ops/store_cache.c); opaque down here. */
    struct p11prov_store_cache *store_cache;
};

#endif
