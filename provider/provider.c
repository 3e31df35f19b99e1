/* Provider entry point: parameters, the operations offered, teardown. */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "buildinfo.h"
#include "core/context.h"
#include "core/debug.h"
#include "core/module.h"
#include "implementations.h"
#include "ops/store.h"

static OSSL_FUNC_provider_gettable_params_fn p11prov_gettable_params;
static OSSL_FUNC_provider_get_params_fn p11prov_get_params;
static OSSL_FUNC_provider_query_operation_fn p11prov_query_operation;
static OSSL_FUNC_provider_get_reason_strings_fn p11prov_get_reason_strings;
static OSSL_FUNC_provider_teardown_fn p11prov_teardown;

/* Names as the default provider's, so token keys are "RSA", "EC", ... to
 * every application and to libssl. */
#define NAMES_RSA "RSA:rsaEncryption:1.2.840.113549.1.1.1"
#define NAMES_RSA_PSS "RSA-PSS:RSASSA-PSS:1.2.840.113549.1.1.10"
#define NAMES_EC "EC:id-ecPublicKey:1.2.840.10045.2.1"
#define NAMES_ED25519 "ED25519:1.3.101.112"
#define NAMES_ED448 "ED448:1.3.101.113"

static const OSSL_ALGORITHM keymgmt_algorithms[] = {
    { NAMES_RSA, P11PROV_PROPERTY, p11prov_rsa_keymgmt_functions,
      "RSA keys on PKCS#11 tokens" },
    { NAMES_RSA_PSS, P11PROV_PROPERTY, p11prov_rsa_pss_keymgmt_functions,
      "RSA-PSS keys on PKCS#11 tokens" },
    { NAMES_EC, P11PROV_PROPERTY, p11prov_ec_keymgmt_functions,
      "EC keys on PKCS#11 tokens" },
    { NAMES_ED25519, P11PROV_PROPERTY, p11prov_ed25519_keymgmt_functions,
      "Ed25519 keys on PKCS#11 tokens" },
    { NAMES_ED448, P11PROV_PROPERTY, p11prov_ed448_keymgmt_functions,
      "Ed448 keys on PKCS#11 tokens" },
    { NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM signature_algorithms[] = {
    { NAMES_RSA, P11PROV_PROPERTY, p11prov_rsa_signature_functions,
      "RSA signatures on PKCS#11 tokens" },
    { "ECDSA", P11PROV_PROPERTY, p11prov_ecdsa_signature_functions,
      "ECDSA signatures on PKCS#11 tokens" },
    { NAMES_ED25519, P11PROV_PROPERTY, p11prov_eddsa_signature_functions,
      "Ed25519 signatures on PKCS#11 tokens" },
    { NAMES_ED448, P11PROV_PROPERTY, p11prov_eddsa_signature_functions,
      "Ed448 signatures on PKCS#11 tokens" },
    { NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM keyexch_algorithms[] = {
    { "ECDH", P11PROV_PROPERTY, p11prov_ecdh_keyexch_functions,
      "ECDH with EC keys on PKCS#11 tokens" },
    { NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM store_algorithms[] = {
    { "pkcs11", P11PROV_PROPERTY, p11prov_store_functions,
      "PKCS#11 objects addressed by RFC 7512 URIs" },
    { NULL, NULL, NULL, NULL },
};

static const OSSL_PARAM *p11prov_gettable_params(void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_DEFN(OSSL_PROV_PARAM_NAME, OSSL_PARAM_UTF8_PTR, NULL, 0),
        OSSL_PARAM_DEFN(OSSL_PROV_PARAM_VERSION, OSSL_PARAM_UTF8_PTR, NULL,
                        0),
        OSSL_PARAM_DEFN(OSSL_PROV_PARAM_BUILDINFO, OSSL_PARAM_UTF8_PTR, NULL,
                        0),
        OSSL_PARAM_DEFN(OSSL_PROV_PARAM_STATUS, OSSL_PARAM_INTEGER, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)provctx;
    return gettable;
}

static int p11prov_get_params(void *provctx, OSSL_PARAM params[])
{
    OSSL_PARAM *p;

    (void)provctx;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, P11PROV_NAME))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, P11PROV_VERSION))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, P11PROV_BUILDINFO))
        return 0;
    /* Loading is lazy: a provider that initialised is usable; module and
     * token problems are reported by the operation that meets them. */
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
    if (p != NULL && !OSSL_PARAM_set_int(p, 1))
        return 0;
    return 1;
}

static const OSSL_ALGORITHM asym_cipher_algorithms[] = {
    { NAMES_RSA, P11PROV_PROPERTY, p11prov_rsa_asym_cipher_functions,
      "RSA decryption with keys on PKCS#11 tokens" },
    { NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM *p11prov_query_operation(void *provctx,
                                                     int operation_id,
                                                     int *no_cache)
{
    (void)provctx;
    *no_cache = 0;
    switch (operation_id) {
    case OSSL_OP_ENCODER:
        return p11prov_encoder_algorithms;
    case OSSL_OP_DECODER:
        return p11prov_decoder_algorithms;
    case OSSL_OP_STORE:
        return store_algorithms;
    case OSSL_OP_KEYMGMT:
        return keymgmt_algorithms;
    case OSSL_OP_SIGNATURE:
        return signature_algorithms;
    case OSSL_OP_KEYEXCH:
        return keyexch_algorithms;
    case OSSL_OP_ASYM_CIPHER:
        return asym_cipher_algorithms;
    default:
        return NULL;
    }
}

/* TLS groups for the curves of our EC keymgmt. libssl offers a group only
 * from the provider whose keymgmt an "EC" fetch returns; when that is this
 * provider (listed first, or preferred by a property query) the default
 * provider's EC groups would vanish and TLS 1.2 with ECDSA certificates
 * would find no shared cipher. Ephemeral keys and ECDHE then run in
 * software through our wrappers. Values as the default provider's. */
#define TLS_GROUP(name, internal, id, bits)                                  \
    { OSSL_PARAM_utf8_string(OSSL_CAPABILITY_TLS_GROUP_NAME, name,           \
                             sizeof(name)),                                  \
      OSSL_PARAM_utf8_string(OSSL_CAPABILITY_TLS_GROUP_NAME_INTERNAL,        \
                             internal, sizeof(internal)),                    \
      OSSL_PARAM_utf8_string(OSSL_CAPABILITY_TLS_GROUP_ALG, "EC",            \
                             sizeof("EC")),                                  \
      OSSL_PARAM_uint(OSSL_CAPABILITY_TLS_GROUP_ID, &tls_group_ids[id]),     \
      OSSL_PARAM_uint(OSSL_CAPABILITY_TLS_GROUP_SECURITY_BITS,               \
                      &tls_group_bits[bits]),                                \
      OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MIN_TLS, &tls_versions[0]),   \
      OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MAX_TLS, &tls_versions[1]),   \
      OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MIN_DTLS, &tls_versions[2]),  \
      OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MAX_DTLS, &tls_versions[3]),  \
      OSSL_PARAM_END }

/* IANA group ids and security bits of secp256r1, secp384r1, secp521r1. */
static unsigned int tls_group_ids[] = { 23, 24, 25 };
static unsigned int tls_group_bits[] = { 128, 192, 256 };
/* TLS 1.0 and DTLS 1.0 up; 0: no maximum. */
static int tls_versions[] = { 0x0301, 0, 0xFEFF, 0 };

static const OSSL_PARAM tls_groups[][10] = {
    TLS_GROUP("secp256r1", "prime256v1", 0, 0),
    TLS_GROUP("P-256", "prime256v1", 0, 0),
    TLS_GROUP("secp384r1", "secp384r1", 1, 1),
    TLS_GROUP("P-384", "secp384r1", 1, 1),
    TLS_GROUP("secp521r1", "secp521r1", 2, 2),
    TLS_GROUP("P-521", "secp521r1", 2, 2),
};

static int p11prov_get_capabilities(void *provctx, const char *capability,
                                    OSSL_CALLBACK *callback, void *arg)
{
    (void)provctx;
    if (OPENSSL_strcasecmp(capability, "TLS-GROUP") != 0)
        return 0;
    for (size_t i = 0; i < sizeof(tls_groups) / sizeof(tls_groups[0]); i++)
        if (!callback(tls_groups[i], arg))
            return 0;
    return 1;
}

static const OSSL_ITEM *p11prov_get_reason_strings(void *provctx)
{
    (void)provctx;
    return p11prov_reason_strings();
}

static void p11prov_teardown(void *provctx)
{
    P11PROV_CTX *ctx = provctx;

    if (ctx == NULL)
        return;
    /* Cached keys hold sessions' objects: gone before their modules. */
    p11prov_store_cache_free(ctx);
    p11prov_modules_release(ctx);
    p11prov_config_free(&ctx->config);
    p11prov_fetch_cache_free(&ctx->digests);
    pthread_mutex_destroy(&ctx->digests.lock);
    OSSL_LIB_CTX_free(ctx->libctx);
    pthread_mutex_destroy(&ctx->modules_lock);
    OPENSSL_free(ctx->name);
    OPENSSL_free(ctx);
}

static const OSSL_DISPATCH provider_functions[] = {
    { OSSL_FUNC_PROVIDER_GETTABLE_PARAMS,
      (void (*)(void))p11prov_gettable_params },
    { OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))p11prov_get_params },
    { OSSL_FUNC_PROVIDER_QUERY_OPERATION,
      (void (*)(void))p11prov_query_operation },
    { OSSL_FUNC_PROVIDER_GET_CAPABILITIES,
      (void (*)(void))p11prov_get_capabilities },
    { OSSL_FUNC_PROVIDER_GET_REASON_STRINGS,
      (void (*)(void))p11prov_get_reason_strings },
    { OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))p11prov_teardown },
    { 0, NULL },
};

static void take_core_error_functions(P11PROV_CTX *ctx,
                                      const OSSL_DISPATCH *in)
{
    for (; in->function_id != 0; in++) {
        switch (in->function_id) {
        case OSSL_FUNC_CORE_NEW_ERROR:
            ctx->core_new_error = OSSL_FUNC_core_new_error(in);
            break;
        case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
            ctx->core_set_error_debug = OSSL_FUNC_core_set_error_debug(in);
            break;
        case OSSL_FUNC_CORE_VSET_ERROR:
            ctx->core_vset_error = OSSL_FUNC_core_vset_error(in);
            break;
        default:
            break;
        }
    }
}

/* The one symbol the module exports (see exports.map). */
OSSL_provider_init_fn OSSL_provider_init
    __attribute__((visibility("default")));

int OSSL_provider_init(const OSSL_CORE_HANDLE *handle,
                       const OSSL_DISPATCH *in, const OSSL_DISPATCH **out,
                       void **provctx)
{
    P11PROV_CTX *ctx;

    p11prov_debug_init();
    ctx = OPENSSL_zalloc(sizeof(*ctx));
    if (ctx == NULL)
        return 0;
    ctx->handle = handle;
    pthread_mutex_init(&ctx->modules_lock, NULL);
    pthread_mutex_init(&ctx->digests.lock, NULL);
    take_core_error_functions(ctx, in);
    /* Software work the provider does itself (hashing before a token
     * signature, decoding) runs in a child of the application's context,
     * through whatever providers the application loaded. */
    ctx->libctx = OSSL_LIB_CTX_new_child(handle, in);
    if (ctx->libctx == NULL || !p11prov_config_load(ctx, in)) {
        p11prov_teardown(ctx);
        return 0;
    }
    *out = provider_functions;
    *provctx = ctx;
    return 1;
}
