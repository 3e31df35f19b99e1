/* Key objects: reading a token key's attributes, reference counting, and
 * finding the object again when its handle went stale. */
#include "keys/key.h"

#include <string.h>

#include <openssl/crypto.h>

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
    if (key == NULL || __atomic_sub_fetch(&key->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    p11prov_key_copy_destroy(key);
    EVP_PKEY_free(key->soft);
    OPENSSL_free(key->id);
    OPENSSL_free(key->label);
    OPENSSL_free(key->uri);
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
    CK_RV rv = p11prov_get_attribute(key->token, session, object,
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
                              &len) != CKR_OK)
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
    key->token = token;
    key->object_class = object_class;
    key->key_type = key_type;
    key->handle = object;
    key->handle_generation = p11prov_module_generation(token->module);
    rv = p11prov_get_attribute(token, session, object, CKA_ID, &key->id,
                               &key->id_len);
    if (rv == CKR_OK || rv == CKR_ATTRIBUTE_TYPE_INVALID)
        rv = p11prov_get_attribute(token, session, object, CKA_LABEL,
                                   &key->label, &key->label_len);
    if (rv == CKR_ATTRIBUTE_TYPE_INVALID)
        rv = CKR_OK;
    if (rv == CKR_OK && object_class == CKO_PRIVATE_KEY) {
        key->can_sign = p11prov_get_bool(token, session, object, CKA_SIGN, false);
        key->can_decrypt = p11prov_get_bool(token, session, object, CKA_DECRYPT,
                                     false);
        key->can_derive = p11prov_get_bool(token, session, object, CKA_DERIVE, false);
        key->always_authenticate = p11prov_get_bool(token, session, object,
                                             CKA_ALWAYS_AUTHENTICATE, false);
        rv = read_allowed_mechanisms(key, session, object);
    }
    if (rv == CKR_OK
        && (key->uri = p11prov_object_uri(
                token, key->label, key->label_len, key->id, key->id_len,
                object_class == CKO_PRIVATE_KEY ? "private" : "public"))
               == NULL)
        rv = CKR_HOST_MEMORY;
    if (rv != CKR_OK) {
        P11PROV_RAISE_CKR(ctx, rv, "reading key attributes", key->uri);
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

/* Finds the key object again by class, id and label. */
static CK_RV find_again(P11PROV_KEY *key, CK_SESSION_HANDLE session,
                        CK_OBJECT_HANDLE *handle)
{
    CK_BBOOL on_token = CK_TRUE;
    /* CKA_TOKEN: never our own session copy of the key (key_copy.c). */
    CK_ATTRIBUTE tmpl[4] = {
        { CKA_CLASS, &key->object_class, sizeof(key->object_class) },
        { CKA_TOKEN, &on_token, sizeof(on_token) },
    };
    CK_ULONG n = 2, count;
    CK_OBJECT_HANDLE *found;
    CK_RV rv;

    if (key->id != NULL)
        tmpl[n++] = (CK_ATTRIBUTE){ CKA_ID, key->id, key->id_len };
    if (key->label != NULL)
        tmpl[n++] = (CK_ATTRIBUTE){ CKA_LABEL, key->label, key->label_len };
    rv = p11prov_find_objects(key->token, session, tmpl, n, &found, &count);
    if (rv != CKR_OK)
        return rv;
    if (count != 1) {
        OPENSSL_free(found);
        /* Gone, or no longer unique: never sign with a different key. */
        return CKR_KEY_HANDLE_INVALID;
    }
    *handle = found[0];
    OPENSSL_free(found);
    return CKR_OK;
}

CK_RV p11prov_key_handle(P11PROV_KEY *key, CK_SESSION_HANDLE session,
                         bool stale, CK_OBJECT_HANDLE *handle)
{
    unsigned int generation = p11prov_module_generation(key->token->module);
    CK_OBJECT_HANDLE found;
    CK_RV rv;

    if (!stale && p11prov_key_copy_handle(key, generation, handle))
        return CKR_OK;
    if (stale)
        p11prov_key_copy_forget(key);
    /* Lock-free on the signing path: the handle is written before its
     * generation (release) and read after it (acquire), so a current
     * generation comes with its handle. A handle that went stale in the
     * meantime fails with CKR_*_HANDLE_INVALID and is found again. */
    if (!stale && __atomic_load_n(&key->handle_generation, __ATOMIC_ACQUIRE)
                      == generation) {
        found = __atomic_load_n(&key->handle, __ATOMIC_RELAXED);
    } else {
        rv = find_again(key, session, &found);
        if (rv != CKR_OK)
            return rv;
        __atomic_store_n(&key->handle, found, __ATOMIC_RELAXED);
        __atomic_store_n(&key->handle_generation, generation,
                         __ATOMIC_RELEASE);
        P11PROV_DEBUG(1, "found %s again", key->uri);
    }
    *handle = p11prov_key_copy_make(key, session, found, generation);
    return CKR_OK;
}
