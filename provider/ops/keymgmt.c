/* Key management for RSA, RSA-PSS, EC, ED25519 and ED448. Token keys come
 * from the store (load); public-key work uses their software twin. When
 * OpenSSL picks this provider for a key that is not on a token (import,
 * or generation without a token URI, e.g. when pkcs11prov is listed before
 * the default provider), the key is made in software by another provider
 * and wrapped, so software keys keep working. Private parts of token keys
 * are never exported: OpenSSL then runs the operation here. */
#include <pthread.h>
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>

#include "keys/key.h"
#include "keys/token_keygen.h"

static OSSL_FUNC_keymgmt_free_fn km_free;
static OSSL_FUNC_keymgmt_load_fn km_load;
static OSSL_FUNC_keymgmt_has_fn km_has;
static OSSL_FUNC_keymgmt_match_fn km_match;
static OSSL_FUNC_keymgmt_import_fn km_import;
static OSSL_FUNC_keymgmt_export_fn km_export;
static OSSL_FUNC_keymgmt_get_params_fn km_get_params;
static OSSL_FUNC_keymgmt_gettable_params_fn km_gettable_params;
static OSSL_FUNC_keymgmt_set_params_fn km_set_params;
static OSSL_FUNC_keymgmt_settable_params_fn km_settable_params;
static OSSL_FUNC_keymgmt_dup_fn km_dup;
static OSSL_FUNC_keymgmt_gen_set_params_fn km_gen_set_params;
static OSSL_FUNC_keymgmt_gen_set_template_fn km_gen_set_template;
static OSSL_FUNC_keymgmt_gen_fn km_gen;
static OSSL_FUNC_keymgmt_gen_cleanup_fn km_gen_cleanup;

static void km_free(void *keydata)
{
    p11prov_key_unref(keydata);
}

/* The store hands out references: the address of a key it holds. */
static void *km_load(const void *reference, size_t reference_size)
{
    P11PROV_KEY *key;

    if (reference == NULL || reference_size != sizeof(key))
        return NULL;
    memcpy(&key, reference, sizeof(key));
    if (key == NULL || key->magic != P11PROV_KEY_MAGIC)
        return NULL;
    return p11prov_key_ref(key);
}

/* Whether a software key carries its private part. */
static bool soft_private(const EVP_PKEY *pkey, P11PROV_KEY_KIND kind)
{
    BIGNUM *bn = NULL;
    size_t len = 0;
    bool present;

    switch (kind) {
    case P11PROV_KEY_RSA:
    case P11PROV_KEY_RSA_PSS:
        present = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_D, &bn);
        break;
    case P11PROV_KEY_EC:
        present = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &bn);
        break;
    default:
        present = EVP_PKEY_get_octet_string_param(
                      pkey, OSSL_PKEY_PARAM_PRIV_KEY, NULL, 0, &len)
                  && len > 0;
        break;
    }
    BN_clear_free(bn);
    return present;
}

/* A software key's EVP_PKEY, and what is derived from it. */
static void set_soft(P11PROV_KEY *key, EVP_PKEY *pkey, bool has_private)
{
    EVP_PKEY_free(key->soft);
    key->soft = pkey;
    key->soft_has_private = has_private;
    p11prov_key_profile_from(&key->profile, pkey);
}

/* The key's public part for a question OpenSSL asks in passing: a key
 * without one is an answer, not an error. */
static EVP_PKEY *public_quietly(const P11PROV_KEY *key)
{
    EVP_PKEY *pkey;

    ERR_set_mark();
    pkey = p11prov_key_public(key);
    ERR_pop_to_mark();
    return pkey;
}

static int km_has(const void *keydata, int selection)
{
    const P11PROV_KEY *key = keydata;
    int ok = 1;

    if (key == NULL)
        return 0;
    if (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY)
        ok = ok && public_quietly(key) != NULL;
    if (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY)
        ok = ok
             && (p11prov_key_on_token(key)
                     ? key->object.object_class == CKO_PRIVATE_KEY
                     : key->soft_has_private);
    if (selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS)
        ok = ok
             && (key->kind != P11PROV_KEY_EC || key->group_name != NULL
                 || public_quietly(key) != NULL);
    return ok;
}

static int km_match(const void *keydata1, const void *keydata2, int selection)
{
    const P11PROV_KEY *a = keydata1, *b = keydata2;
    EVP_PKEY *pa, *pb;

    if (a->kind != b->kind || (pa = public_quietly(a)) == NULL
        || (pb = public_quietly(b)) == NULL)
        return 0;
    if (selection & OSSL_KEYMGMT_SELECT_KEYPAIR)
        return EVP_PKEY_eq(pa, pb) == 1;
    if (selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS)
        return EVP_PKEY_parameters_eq(pa, pb) == 1;
    return 1;
}

static int selection_to_fromdata(int selection)
{
    if (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY)
        return EVP_PKEY_KEYPAIR;
    if (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY)
        return EVP_PKEY_PUBLIC_KEY;
    return EVP_PKEY_KEY_PARAMETERS;
}

static int km_import(void *keydata, int selection, const OSSL_PARAM params[])
{
    P11PROV_KEY *key = keydata;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *pctx;

    if (p11prov_key_on_token(key)) {
        P11PROV_RAISE(key->provctx, P11PROV_R_BAD_ARGUMENT,
                      "cannot import into the token key %s", key->object.uri);
        return 0;
    }
    pctx = EVP_PKEY_CTX_new_from_name(key->provctx->libctx,
                                      p11prov_key_kind_name(key->kind),
                                      P11PROV_SOFTWARE_PROPQ);
    if (pctx == NULL || EVP_PKEY_fromdata_init(pctx) <= 0
        || EVP_PKEY_fromdata(pctx, &pkey, selection_to_fromdata(selection),
                             (OSSL_PARAM *)params)
               <= 0) {
        EVP_PKEY_CTX_free(pctx);
        return 0;
    }
    EVP_PKEY_CTX_free(pctx);
    set_soft(key, pkey, soft_private(pkey, key->kind));
    return 1;
}

static int km_export(void *keydata, int selection, OSSL_CALLBACK *callback,
                     void *callback_arg)
{
    P11PROV_KEY *key = keydata;

    EVP_PKEY *pkey;

    /* Quietly: OpenSSL asks for everything to see whether another provider
     * could run the operation, and then runs it here. */
    if ((p11prov_key_on_token(key)
         && (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY))
        || (pkey = public_quietly(key)) == NULL)
        return 0;
    return EVP_PKEY_export(pkey, selection, callback, callback_arg);
}

static int km_get_params(void *keydata, OSSL_PARAM params[])
{
    P11PROV_KEY *key = keydata;
    EVP_PKEY *pkey;

    /* What OpenSSL asks of every key it loads, without building its
     * public part (a listing of thousands of keys needs none). */
    if (p11prov_key_on_token(key)) {
        int answered = p11prov_key_profile_params(key, params);
        if (answered != 0)
            return answered > 0;
    }
    if ((pkey = p11prov_key_public(key)) == NULL)
        return 0;
    return EVP_PKEY_get_params(pkey, params);
}

static const OSSL_PARAM *km_gettable_params(void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_MANDATORY_DIGEST, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)provctx;
    return gettable;
}

static int km_set_params(void *keydata, const OSSL_PARAM params[])
{
    P11PROV_KEY *key = keydata;

    if (params == NULL || params[0].key == NULL)
        return 1;
    if (p11prov_key_on_token(key) || key->soft == NULL) {
        P11PROV_RAISE(key->provctx, P11PROV_R_BAD_ARGUMENT,
                      "the parameters of a token key cannot be changed");
        return 0;
    }
    return EVP_PKEY_set_params(key->soft, (OSSL_PARAM *)params);
}

static const OSSL_PARAM *km_settable_params(void *provctx)
{
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)provctx;
    return settable;
}

static void *km_dup(const void *keydata, int selection)
{
    const P11PROV_KEY *key = keydata;
    P11PROV_KEY *copy;

    (void)selection;
    /* A token key is immutable: sharing it is a copy. */
    if (p11prov_key_on_token(key))
        return p11prov_key_ref((P11PROV_KEY *)key);
    copy = p11prov_key_new_software(key->provctx, key->kind);
    if (copy == NULL || key->soft == NULL)
        return copy;
    EVP_PKEY *pkey = EVP_PKEY_dup(key->soft);
    if (pkey == NULL) {
        p11prov_key_unref(copy);
        return NULL;
    }
    set_soft(copy, pkey, key->soft_has_private);
    return copy;
}

/* Key generation in software (see the top of this file). */
typedef struct gen_ctx {
    P11PROV_CTX *provctx;
    P11PROV_KEY_KIND kind;
    int selection;
    EVP_PKEY_CTX *soft_ctx; /* generation in software */
    char *uri;              /* pkcs11_uri: generation on that token */
    P11PROV_KEYGEN_SPEC spec;
} GEN_CTX;

static int gen_soft_init(GEN_CTX *gen, EVP_PKEY_CTX *pctx)
{
    bool parameters_only = (gen->selection & OSSL_KEYMGMT_SELECT_KEYPAIR)
                           == 0;

    EVP_PKEY_CTX_free(gen->soft_ctx);
    gen->soft_ctx = pctx;
    if (pctx == NULL)
        return 0;
    return (parameters_only ? EVP_PKEY_paramgen_init(pctx)
                            : EVP_PKEY_keygen_init(pctx))
           > 0;
}

static void *gen_init(void *provctx, P11PROV_KEY_KIND kind, int selection,
                      const OSSL_PARAM params[])
{
    P11PROV_CTX *ctx = provctx;
    GEN_CTX *gen = OPENSSL_zalloc(sizeof(*gen));

    if (gen == NULL)
        return NULL;
    gen->provctx = ctx;
    gen->kind = kind;
    gen->selection = selection;
    gen->spec.kind = kind;
    if (!gen_soft_init(gen, EVP_PKEY_CTX_new_from_name(
                                ctx->libctx, p11prov_key_kind_name(kind),
                                P11PROV_SOFTWARE_PROPQ))
        || !km_gen_set_params(gen, params)) {
        km_gen_cleanup(gen);
        return NULL;
    }
    return gen;
}

/* What a generation on the token needs from the parameters the software
 * generator also gets. */
static int gen_read_token_params(GEN_CTX *gen, const OSSL_PARAM params[])
{
    const OSSL_PARAM *p;
    const char *text;

    p = OSSL_PARAM_locate_const(params, P11PROV_PARAM_KEYGEN_URI);
    if (p != NULL) {
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &text))
            return 0;
        OPENSSL_free(gen->uri);
        if ((gen->uri = OPENSSL_strdup(text)) == NULL)
            return 0;
    }
    p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_BITS);
    if (p != NULL && !OSSL_PARAM_get_size_t(p, &gen->spec.rsa_bits))
        return 0;
    p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_E);
    if (p != NULL && !OSSL_PARAM_get_BN(p, &gen->spec.rsa_exponent))
        return 0;
    p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME);
    if (p != NULL) {
        char *group = gen->spec.group;
        if (!OSSL_PARAM_get_utf8_string(p, &group, sizeof(gen->spec.group)))
            return 0;
    }
    return 1;
}

static int km_gen_set_params(void *genctx, const OSSL_PARAM params[])
{
    GEN_CTX *gen = genctx;

    if (params == NULL || params[0].key == NULL)
        return 1;
    if (!gen_read_token_params(gen, params)) {
        P11PROV_RAISE(gen->provctx, P11PROV_R_BAD_ARGUMENT,
                      "invalid key generation parameter");
        return 0;
    }
    return EVP_PKEY_CTX_set_params(gen->soft_ctx, params);
}

static int km_gen_set_template(void *genctx, void *templ)
{
    GEN_CTX *gen = genctx;
    P11PROV_KEY *key = templ;
    EVP_PKEY *pkey = p11prov_key_public(key);

    if (pkey == NULL)
        return 0;
    return gen_soft_init(
        gen, EVP_PKEY_CTX_new_from_pkey(gen->provctx->libctx, pkey,
                                        P11PROV_SOFTWARE_PROPQ));
}

static void *km_gen(void *genctx, OSSL_CALLBACK *callback, void *callback_arg)
{
    GEN_CTX *gen = genctx;
    EVP_PKEY *pkey = NULL;
    P11PROV_KEY *key;
    bool parameters_only = (gen->selection & OSSL_KEYMGMT_SELECT_KEYPAIR)
                           == 0;

    (void)callback;
    (void)callback_arg;
    if (gen->uri != NULL && !parameters_only)
        return p11prov_token_generate(gen->provctx, gen->uri, &gen->spec);
    if ((parameters_only ? EVP_PKEY_paramgen(gen->soft_ctx, &pkey)
                         : EVP_PKEY_generate(gen->soft_ctx, &pkey))
        <= 0)
        return NULL;
    key = p11prov_key_new_software(gen->provctx, gen->kind);
    if (key == NULL) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    set_soft(key, pkey, !parameters_only);
    return key;
}

static void km_gen_cleanup(void *genctx)
{
    GEN_CTX *gen = genctx;

    if (gen == NULL)
        return;
    EVP_PKEY_CTX_free(gen->soft_ctx);
    OPENSSL_free(gen->uri);
    BN_free(gen->spec.rsa_exponent);
    OPENSSL_free(gen);
}

/* The software implementation's parameter lists, for the kind. */
static EVP_KEYMGMT *software_keymgmt(P11PROV_CTX *ctx, P11PROV_KEY_KIND kind)
{
    return EVP_KEYMGMT_fetch(ctx->libctx, p11prov_key_kind_name(kind),
                             P11PROV_SOFTWARE_PROPQ);
}

/* The software generator's parameters plus pkcs11_uri, merged once per
 * kind (OpenSSL asks often) and freed when pkcs11prov.so is unloaded. */
static pthread_mutex_t gen_settable_lock = PTHREAD_MUTEX_INITIALIZER;
static OSSL_PARAM *gen_settable_tables[P11PROV_KEY_ED448 + 1];

__attribute__((destructor)) static void free_gen_settable(void)
{
    for (size_t i = 0; i < sizeof(gen_settable_tables) / sizeof(void *); i++)
        OPENSSL_free(gen_settable_tables[i]);
}

static const OSSL_PARAM *gen_settable(void *provctx, P11PROV_KEY_KIND kind)
{
    static const OSSL_PARAM ours[] = {
        OSSL_PARAM_utf8_string(P11PROV_PARAM_KEYGEN_URI, NULL, 0),
        OSSL_PARAM_END,
    };
    const OSSL_PARAM *table;

    pthread_mutex_lock(&gen_settable_lock);
    if (gen_settable_tables[kind] == NULL) {
        EVP_KEYMGMT *keymgmt = software_keymgmt(provctx, kind);
        const OSSL_PARAM *software = EVP_KEYMGMT_gen_settable_params(keymgmt);
        gen_settable_tables[kind] = OSSL_PARAM_merge(software, ours);
        EVP_KEYMGMT_free(keymgmt);
    }
    table = gen_settable_tables[kind] ? gen_settable_tables[kind] : ours;
    pthread_mutex_unlock(&gen_settable_lock);
    return table;
}

/* What import and export understand, per kind. */
static const OSSL_PARAM rsa_key_types[] = {
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_D, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_FACTOR1, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_FACTOR2, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_EXPONENT1, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_EXPONENT2, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_COEFFICIENT1, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_RSA_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_RSA_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_RSA_PSS_SALTLEN, NULL),
    OSSL_PARAM_END,
};
static const OSSL_PARAM ec_key_types[] = {
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL,
                           0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_PRIV_KEY, NULL, 0),
    OSSL_PARAM_END,
};
static const OSSL_PARAM ecx_key_types[] = {
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, NULL, 0),
    OSSL_PARAM_END,
};

static const char *operation_name(P11PROV_KEY_KIND kind, int operation_id)
{
    switch (kind) {
    case P11PROV_KEY_EC:
        return operation_id == OSSL_OP_KEYEXCH ? "ECDH" : "ECDSA";
    case P11PROV_KEY_RSA:
    case P11PROV_KEY_RSA_PSS:
        return "RSA";
    default:
        return p11prov_key_kind_name(kind);
    }
}

/* The entry points that need to know the kind, one set per kind. */
#define KIND_FUNCTIONS(prefix, KIND, types)                                  \
    static void *prefix##_new(void *provctx)                                 \
    {                                                                        \
        return p11prov_key_new_software(provctx, KIND);                      \
    }                                                                        \
    static const OSSL_PARAM *prefix##_types(int selection)                   \
    {                                                                        \
        (void)selection;                                                     \
        return types;                                                        \
    }                                                                        \
    static const char *prefix##_operation_name(int operation_id)             \
    {                                                                        \
        return operation_name(KIND, operation_id);                           \
    }                                                                        \
    static void *prefix##_gen_init(void *provctx, int selection,             \
                                   const OSSL_PARAM params[])                \
    {                                                                        \
        return gen_init(provctx, KIND, selection, params);                   \
    }                                                                        \
    static const OSSL_PARAM *prefix##_gen_settable(void *genctx,             \
                                                   void *provctx)            \
    {                                                                        \
        (void)genctx;                                                        \
        return gen_settable(provctx, KIND);                                  \
    }                                                                        \
    const OSSL_DISPATCH p11prov_##prefix##_keymgmt_functions[] = {           \
        { OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))prefix##_new },             \
        { OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))km_free },                 \
        { OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))km_load },                 \
        { OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))km_has },                   \
        { OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))km_match },               \
        { OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))km_import },             \
        { OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))prefix##_types },  \
        { OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))km_export },             \
        { OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))prefix##_types },  \
        { OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))km_get_params },     \
        { OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS,                                 \
          (void (*)(void))km_gettable_params },                              \
        { OSSL_FUNC_KEYMGMT_SET_PARAMS, (void (*)(void))km_set_params },     \
        { OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS,                                 \
          (void (*)(void))km_settable_params },                              \
        { OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,                            \
          (void (*)(void))prefix##_operation_name },                         \
        { OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))km_dup },                   \
        { OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))prefix##_gen_init },   \
        { OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS,                                  \
          (void (*)(void))km_gen_set_params },                               \
        { OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS,                             \
          (void (*)(void))prefix##_gen_settable },                           \
        { OSSL_FUNC_KEYMGMT_GEN_SET_TEMPLATE,                                \
          (void (*)(void))km_gen_set_template },                             \
        { OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))km_gen },                   \
        { OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))km_gen_cleanup },   \
        { 0, NULL },                                                         \
    };

KIND_FUNCTIONS(rsa, P11PROV_KEY_RSA, rsa_key_types)
KIND_FUNCTIONS(rsa_pss, P11PROV_KEY_RSA_PSS, rsa_key_types)
KIND_FUNCTIONS(ec, P11PROV_KEY_EC, ec_key_types)
KIND_FUNCTIONS(ed25519, P11PROV_KEY_ED25519, ecx_key_types)
KIND_FUNCTIONS(ed448, P11PROV_KEY_ED448, ecx_key_types)
