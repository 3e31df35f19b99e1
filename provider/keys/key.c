/* Key objects: reading a token key's attributes, reference counting, and
 * the mechanisms a key may use. */
#include "keys/key.h"

#include <string.h>

#include <openssl/crypto.h>

#include "core/context.h"
#include "core/mechanisms.h"
#include "core/object.h"

static P11PROV_KEY *key_alloc(P11PROV_CTX *ctx, P11PROV_KEY_KIND kind)
{
    P11PROV_KEY *key = OPENSSL_zalloc(sizeof(*key));

    if (key == NULL) {
        P11PROV_RAISE(ctx, P11PROV_R_MEMORY, "allocating a key");
        return NULL;
    }
    key->magic = P11PROV_KEY_MAGIC;
    key->refs = 1;
    key->provctx = ctx;
    key->kind = kind;
    return key;
}

P11PROV_KEY *p11prov_key_new_software(P11PROV_CTX *ctx, P11PROV_KEY_KIND kind)
{
    return key_alloc(ctx, kind);
}

P11PROV_KEY *p11prov_key_ref(P11PROV_KEY *key)
{
    __atomic_add_fetch(&key->refs, 1, __ATOMIC_RELAXED);
    return key;
}

void p11prov_key_unref(P11PROV_KEY *key)
{
    if (key == NULL
        || __atomic_sub_fetch(&key->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    p11prov_object_clear(&key->object);
    EVP_PKEY_free(key->soft);
    OPENSSL_free(key->allowed);
    key->magic = 0;
    OPENSSL_free(key);
}

bool p11prov_key_allows(const P11PROV_KEY *key, CK_MECHANISM_TYPE mechanism)
{
    if (key->allowed == NULL)
        return true;
    for (CK_ULONG i = 0; i < key->allowed_count; i++)
        if (key->allowed[i] == mechanism)
            return true;
    return false;
}

static CK_RV read_allowed_mechanisms(P11PROV_KEY *key,
                                     CK_SESSION_HANDLE session,
                                     CK_OBJECT_HANDLE object)
{
    unsigned char *value;
    CK_ULONG len;
    CK_RV rv = p11prov_get_attribute(key->object.token, session, object,
                                     CKA_ALLOWED_MECHANISMS, &value, &len);

    if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE)
        return CKR_OK; /* no restriction */
    if (rv != CKR_OK)
        return rv;
    if (len % sizeof(CK_MECHANISM_TYPE) != 0) {
        OPENSSL_free(value);
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    /* An empty list is treated as "no restriction", as most modules mean
     * it (SoftHSM stores an empty array for keys made without one). */
    if (len == 0) {
        OPENSSL_free(value);
        return CKR_OK;
    }
    key->allowed = (CK_MECHANISM_TYPE *)value;
    key->allowed_count = len / sizeof(CK_MECHANISM_TYPE);
    return CKR_OK;
}

/* The kind from CKA_KEY_TYPE (and, for EC keys, the curve). */
static int key_kind(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                    CK_OBJECT_HANDLE object, CK_KEY_TYPE key_type,
                    P11PROV_KEY_KIND *kind)
{
    unsigned char *params;
    CK_ULONG len;
    const char *group;
    int ok;

    if (key_type == CKK_RSA) {
        *kind = P11PROV_KEY_RSA;
        return 1;
    }
    if (key_type != CKK_EC && key_type != CKK_EC_EDWARDS)
        return 0;
    if (p11prov_get_attribute(token, session, object, CKA_EC_PARAMS, &params,
                              &len)
        != CKR_OK)
        return 0;
    ok = p11prov_ec_params_kind(params, len, kind, &group);
    OPENSSL_free(params);
    return ok;
}

P11PROV_KEY *p11prov_key_from_token(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                                    CK_SESSION_HANDLE session,
                                    CK_OBJECT_HANDLE object,
                                    CK_OBJECT_CLASS object_class,
                                    bool *unsupported)
{
    CK_ULONG key_type;
    P11PROV_KEY_KIND kind;
    P11PROV_KEY *key;
    CK_RV rv;

    *unsupported = false;
    rv = p11prov_get_ulong(token, session, object, CKA_KEY_TYPE, &key_type);
    if (rv != CKR_OK || !key_kind(token, session, object, key_type, &kind)) {
        *unsupported = true;
        return NULL;
    }
    key = key_alloc(ctx, kind);
    if (key == NULL)
        return NULL;
    key->object.token = token;
    key->object.object_class = object_class;
    key->key_type = key_type;
    key->object.handle = object;
    key->object.handle_generation = p11prov_module_generation(token->module);
    rv = p11prov_get_attribute(token, session, object, CKA_ID,
                               &key->object.id, &key->object.id_len);
    if (rv == CKR_OK || rv == CKR_ATTRIBUTE_TYPE_INVALID)
        rv = p11prov_get_attribute(token, session, object, CKA_LABEL,
                                   &key->object.label,
                                   &key->object.label_len);
    if (rv == CKR_ATTRIBUTE_TYPE_INVALID)
        rv = CKR_OK;
    if (rv == CKR_OK && object_class == CKO_PRIVATE_KEY) {
        key->can_sign = p11prov_get_bool(token, session, object, CKA_SIGN,
                                         false);
        key->can_decrypt = p11prov_get_bool(token, session, object,
                                            CKA_DECRYPT, false);
        key->can_derive = p11prov_get_bool(token, session, object, CKA_DERIVE,
                                           false);
        key->object.always_authenticate = p11prov_get_bool(
            token, session, object, CKA_ALWAYS_AUTHENTICATE, false);
        rv = read_allowed_mechanisms(key, session, object);
    }
    if (rv == CKR_OK
        && (key->object.uri = p11prov_object_uri(
                token, key->object.label, key->object.label_len,
                key->object.id, key->object.id_len,
                object_class == CKO_PRIVATE_KEY ? "private" : "public"))
               == NULL)
        rv = CKR_HOST_MEMORY;
    if (rv != CKR_OK) {
        P11PROV_RAISE_CKR(ctx, rv, "reading key attributes", key->object.uri);
        p11prov_key_unref(key);
        return NULL;
    }
    key->soft = p11prov_public_from_token(ctx, token, session, key, object);
    if (key->soft == NULL) {
        p11prov_key_unref(key);
        return NULL;
    }
    key->bits = EVP_PKEY_get_bits(key->soft);
    return key;
}

bool p11prov_mechanism_usable(P11PROV_KEY *key, CK_MECHANISM_TYPE mechanism)
{
    /* Configured as implemented unlisted: such modules (tpm2-pkcs11) leave
     * it out of CKA_ALLOWED_MECHANISMS as well. */
    if (p11prov_config_assumes(&key->provctx->config, mechanism))
        return true;
    if (!p11prov_key_allows(key, mechanism))
        return false;
    return key->allowed != NULL
           || p11prov_token_offers(key->object.token, mechanism);
}

int p11prov_refuse_mechanism(P11PROV_CTX *ctx, const P11PROV_KEY *key,
                             const char *what)
{
    P11PROV_RAISE(ctx, P11PROV_R_UNSUPPORTED,
                  "%s: not allowed for %s (CKA_ALLOWED_MECHANISMS) or not "
                  "offered by its token",
                  what, key->object.uri);
    return 0;
}
