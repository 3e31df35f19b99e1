/* Key objects: reading a token key's attributes, reference counting, and
 * the mechanisms a key may use. */
#include "keys/key.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "core/context.h"
#include "core/mechanisms.h"
#include "core/object.h"
#include "core/sessions.h"

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
    p11prov_attributes_free(key->own_public, p11prov_public_attribute_count);
    p11prov_companions_unref(key->companions);
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

/* CKA_ALLOWED_MECHANISMS as read: absent, sensitive or empty is "no
 * restriction", as most modules mean it (SoftHSM stores an empty array for
 * keys made without one). */
static CK_RV take_allowed_mechanisms(P11PROV_KEY *key, CK_ATTRIBUTE *attr)
{
    if (attr->pValue == NULL || attr->ulValueLen == 0)
        return CKR_OK;
    if (attr->ulValueLen % sizeof(CK_MECHANISM_TYPE) != 0)
        return CKR_ATTRIBUTE_VALUE_INVALID;
    key->allowed = attr->pValue;
    key->allowed_count = attr->ulValueLen / sizeof(CK_MECHANISM_TYPE);
    attr->pValue = NULL; /* the key owns it now */
    return CKR_OK;
}

/* The kind from CKA_KEY_TYPE (and, for EC keys, the curve). NULL when
 * known, else why the key cannot be used: *bad_answer says whether that
 * is the module's fault or a key this provider does not handle. */
static const char *key_kind(const CK_ATTRIBUTE *attrs, CK_ULONG count,
                            CK_KEY_TYPE *key_type, P11PROV_KEY_KIND *kind,
                            const char **group, bool *bad_answer)
{
    const CK_ATTRIBUTE *type = p11prov_attribute_find(attrs, count,
                                                      CKA_KEY_TYPE);
    const CK_ATTRIBUTE *params;

    *group = NULL;
    *bad_answer = true;
    if (type == NULL)
        return "no CKA_KEY_TYPE";
    if (type->ulValueLen != sizeof(CK_KEY_TYPE))
        return "a CKA_KEY_TYPE of the wrong size";
    memcpy(key_type, type->pValue, sizeof(*key_type));
    *bad_answer = false;
    if (*key_type == CKK_RSA) {
        *kind = P11PROV_KEY_RSA;
        return NULL;
    }
    if (*key_type != CKK_EC && *key_type != CKK_EC_EDWARDS)
        return "a CKA_KEY_TYPE this provider does not handle";
    params = p11prov_attribute_find(attrs, count, CKA_EC_PARAMS);
    *bad_answer = params == NULL;
    if (params == NULL)
        return "no CKA_EC_PARAMS";
    if (!p11prov_ec_params_kind(params->pValue, params->ulValueLen, kind,
                                group))
        return "CKA_EC_PARAMS that name no curve OpenSSL has";
    *bad_answer = true;
    if ((*key_type == CKK_EC) != (*kind == P11PROV_KEY_EC))
        return *key_type == CKK_EC
                   ? "CKK_EC with an Edwards curve"
                   : "CKK_EC_EDWARDS with a Weierstrass curve";
    return NULL;
}

/* The key's profile from the size its object gives: the modulus, or the
 * curve. An RSA key object without its modulus gets it with its public
 * part. */
static void key_profile(P11PROV_KEY *key, const CK_ATTRIBUTE *attrs,
                        CK_ULONG count)
{
    const CK_ATTRIBUTE *modulus = p11prov_attribute_find(attrs, count,
                                                         CKA_MODULUS);
    const CK_ATTRIBUTE *announced = p11prov_attribute_find(attrs, count,
                                                           CKA_MODULUS_BITS);
    int modulus_bits = modulus != NULL
                           ? p11prov_modulus_bits(modulus->pValue,
                                                  modulus->ulValueLen)
                           : 0;
    CK_ULONG bits;
    /* Without the modulus, the size it announces (public key objects). */
    if (modulus == NULL && announced != NULL
        && announced->ulValueLen == sizeof(bits)) {
        memcpy(&bits, announced->pValue, sizeof(bits));
        if (bits <= P11PROV_RSA_MAX_BITS)
            modulus_bits = (int)bits;
    }

    if (!p11prov_key_profile_of(key->provctx, key->kind, key->group_name,
                                modulus_bits, &key->profile))
        memset(&key->profile, 0, sizeof(key->profile));
}

static bool attribute_true(const CK_ATTRIBUTE *attrs, CK_ULONG count,
                           CK_ATTRIBUTE_TYPE type)
{
    const CK_ATTRIBUTE *a = p11prov_attribute_find(attrs, count, type);

    return a != NULL && a->ulValueLen == sizeof(CK_BBOOL)
           && *(CK_BBOOL *)a->pValue == CK_TRUE;
}

/* Moves an attribute's value into the key (id, label). */
static void take(const CK_ATTRIBUTE_TYPE type, CK_ATTRIBUTE *attrs,
                 CK_ULONG count, unsigned char **value, CK_ULONG *len)
{
    for (CK_ULONG i = 0; i < count; i++)
        if (attrs[i].type == type && attrs[i].pValue != NULL) {
            *value = attrs[i].pValue;
            *len = attrs[i].ulValueLen;
            attrs[i].pValue = NULL;
        }
}

bool p11prov_key_has_own_public(const P11PROV_KEY *key)
{
    const CK_ATTRIBUTE *a = key->own_public;
    CK_ULONG n = p11prov_public_attribute_count;

    if (key->kind == P11PROV_KEY_RSA || key->kind == P11PROV_KEY_RSA_PSS)
        return p11prov_attribute_find(a, n, CKA_MODULUS) != NULL
               && p11prov_attribute_find(a, n, CKA_PUBLIC_EXPONENT) != NULL;
    return p11prov_attribute_find(a, n, CKA_EC_POINT) != NULL;
}

/* A CKA_MODULUS_BITS no RSA key has, or a modulus of another size than
 * it says (a truncated or padded answer). NULL when they agree or it is
 * absent. Without the modulus, the key's public part from elsewhere is
 * held to it (twin_disagrees): it must be a size a key can have. */
static const char *modulus_bits_fault(const CK_ATTRIBUTE *attrs,
                                      CK_ULONG count)
{
    const CK_ATTRIBUTE *n = p11prov_attribute_find(attrs, count, CKA_MODULUS);
    const CK_ATTRIBUTE *bits = p11prov_attribute_find(attrs, count,
                                                      CKA_MODULUS_BITS);
    CK_ULONG announced;

    if (bits == NULL)
        return NULL;
    if (bits->ulValueLen != sizeof(announced))
        return "a CKA_MODULUS_BITS of the wrong size";
    memcpy(&announced, bits->pValue, sizeof(announced));
    if (announced < P11PROV_RSA_MIN_BITS || announced > P11PROV_RSA_MAX_BITS)
        return "a CKA_MODULUS_BITS out of the range of RSA keys";
    if (n == NULL)
        return NULL;
    const unsigned char *value = n->pValue;
    CK_ULONG len = n->ulValueLen;
    while (len > 0 && *value == 0) {
        value++;
        len--;
    }
    return (CK_ULONG)p11prov_modulus_bits(value, len) == announced
               ? NULL
               : "a CKA_MODULUS of another size than its CKA_MODULUS_BITS";
}

/* Everything a key is read with: one batch. */
static const CK_ATTRIBUTE_TYPE key_attribute_types[] = {
    CKA_KEY_TYPE,
    CKA_ID,
    CKA_LABEL,
    CKA_SIGN,
    CKA_DECRYPT,
    CKA_DERIVE,
    CKA_ALWAYS_AUTHENTICATE,
    CKA_ALLOWED_MECHANISMS,
    CKA_MODULUS,
    CKA_PUBLIC_EXPONENT,
    CKA_MODULUS_BITS,
    CKA_EC_PARAMS,
    CKA_EC_POINT,
};
#define KEY_ATTRIBUTES                                                       \
    (sizeof(key_attribute_types) / sizeof(key_attribute_types[0]))

P11PROV_KEY *p11prov_key_from_token(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                                    CK_SESSION_HANDLE session,
                                    CK_OBJECT_HANDLE object,
                                    CK_OBJECT_CLASS object_class,
                                    P11PROV_COMPANIONS *companions,
                                    bool *unsupported)
{
    CK_ATTRIBUTE attrs[KEY_ATTRIBUTES];
    CK_KEY_TYPE key_type;
    P11PROV_KEY_KIND kind;
    const char *group;
    P11PROV_KEY *key = NULL;
    CK_RV rv;

    *unsupported = false;
    for (size_t i = 0; i < KEY_ATTRIBUTES; i++)
        attrs[i].type = key_attribute_types[i];
    rv = p11prov_get_attributes(token, session, object, attrs,
                                KEY_ATTRIBUTES);
    if (rv != CKR_OK) {
        char *token_uri = p11prov_token_uri(token);
        p11prov_raise_read(ctx, rv, "reading key attributes", token_uri,
                           p11prov_bad_attribute(attrs, KEY_ATTRIBUTES));
        OPENSSL_free(token_uri);
        return NULL;
    }
    bool bad_answer;
    const char *unusable = key_kind(attrs, KEY_ATTRIBUTES, &key_type, &kind,
                                    &group, &bad_answer);
    if (unusable != NULL) {
        /* Skipped; said in case no other object is what was asked. */
        char *token_uri = p11prov_token_uri(token);
        P11PROV_RAISE(
            ctx,
            bad_answer ? P11PROV_R_MODULE_BAD_ANSWER : P11PROV_R_UNSUPPORTED,
            "key object %lu of %s skipped: it has %s", (unsigned long)object,
            token_uri ? token_uri : "", unusable);
        OPENSSL_free(token_uri);
        *unsupported = true;
        goto done;
    }
    if ((key = key_alloc(ctx, kind)) == NULL)
        goto done;
    key->object.token = token;
    key->object.object_class = object_class;
    key->key_type = key_type;
    key->object.handle = object;
    key->object.handle_generation = p11prov_module_generation(token->module);
    key->group_name = group;
    key_profile(key, attrs, KEY_ATTRIBUTES);
    take(CKA_ID, attrs, KEY_ATTRIBUTES, &key->object.id, &key->object.id_len);
    take(CKA_LABEL, attrs, KEY_ATTRIBUTES, &key->object.label,
         &key->object.label_len);
    if (object_class == CKO_PRIVATE_KEY) {
        key->can_sign = attribute_true(attrs, KEY_ATTRIBUTES, CKA_SIGN);
        key->can_decrypt = attribute_true(attrs, KEY_ATTRIBUTES, CKA_DECRYPT);
        key->can_derive = attribute_true(attrs, KEY_ATTRIBUTES, CKA_DERIVE);
        key->object.always_authenticate = attribute_true(
            attrs, KEY_ATTRIBUTES, CKA_ALWAYS_AUTHENTICATE);
        for (size_t i = 0; i < KEY_ATTRIBUTES && rv == CKR_OK; i++)
            if (attrs[i].type == CKA_ALLOWED_MECHANISMS)
                rv = take_allowed_mechanisms(key, &attrs[i]);
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
        key = NULL;
        goto done;
    }
    const char *fault =
        key->kind == P11PROV_KEY_RSA || key->kind == P11PROV_KEY_RSA_PSS
            ? p11prov_rsa_public_fault(
                  p11prov_attribute_find(attrs, KEY_ATTRIBUTES, CKA_MODULUS),
                  p11prov_attribute_find(attrs, KEY_ATTRIBUTES,
                                         CKA_PUBLIC_EXPONENT))
            : NULL;
    if (fault == NULL
        && (key->kind == P11PROV_KEY_RSA || key->kind == P11PROV_KEY_RSA_PSS))
        fault = modulus_bits_fault(attrs, KEY_ATTRIBUTES);
    if (fault != NULL) {
        P11PROV_RAISE(ctx, P11PROV_R_MODULE_BAD_ANSWER,
                      "the token's key %s has %s", key->object.uri, fault);
        p11prov_key_unref(key);
        key = NULL;
        *unsupported = true;
        goto done;
    }
    /* Kept to build the twin from when it is needed. Private EC and EdDSA
     * key objects rarely carry the point: their companions have it. */
    for (size_t i = 0; i < p11prov_public_attribute_count; i++) {
        key->own_public[i].type = p11prov_public_attribute_types[i];
        key->own_public[i].pValue = NULL;
        key->own_public[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
        take(key->own_public[i].type, attrs, KEY_ATTRIBUTES,
             (unsigned char **)&key->own_public[i].pValue,
             &key->own_public[i].ulValueLen);
    }
    if (object_class == CKO_PRIVATE_KEY && companions != NULL)
        key->companions = p11prov_companions_ref(companions);
    else if (object_class != CKO_PRIVATE_KEY
             && !p11prov_key_has_own_public(key)) {
        p11prov_key_no_public(ctx, key);
        p11prov_key_unref(key);
        key = NULL;
        *unsupported = true;
    }
done:
    p11prov_attributes_free(attrs, KEY_ATTRIBUTES);
    return key;
}

void p11prov_key_set_public(P11PROV_KEY *key, EVP_PKEY *pkey)
{
    EVP_PKEY_free(key->soft);
    key->soft = pkey;
    p11prov_key_profile_from(&key->profile, pkey);
}

/* The public key object or certificate with the key's id, found alone:
 * for keys read without companions, or whose companions lack it. */
static EVP_PKEY *public_by_search(const P11PROV_KEY *key)
{
    CK_SESSION_HANDLE session;
    EVP_PKEY *pkey;
    CK_RV rv = p11prov_session_borrow(key->provctx, key->object.token,
                                      &session);

    if (rv != CKR_OK) {
        P11PROV_RAISE_CKR(key->provctx, rv, "C_OpenSession", key->object.uri);
        return NULL;
    }
    pkey = p11prov_public_from_companion(key->provctx, key->object.token,
                                         session, key);
    p11prov_session_return(key->object.token, session, true);
    return pkey;
}

bool p11prov_key_may_have_public(const P11PROV_KEY *key)
{
    if (__atomic_load_n(&key->soft, __ATOMIC_ACQUIRE) != NULL)
        return true;
    return p11prov_key_on_token(key)
           && !__atomic_load_n(&key->public_missing, __ATOMIC_ACQUIRE);
}

/* Whether a key's own big integer attribute equals the twin's. */
static bool same_integer(const P11PROV_KEY *key, CK_ATTRIBUTE_TYPE type,
                         const EVP_PKEY *pkey, const char *param)
{
    const CK_ATTRIBUTE *own = p11prov_attribute_find(
        key->own_public, p11prov_public_attribute_count, type);
    BIGNUM *theirs = NULL, *ours;
    bool same;

    if (own == NULL)
        return true;
    ours = BN_bin2bn(own->pValue, (int)own->ulValueLen, NULL);
    same = ours != NULL && EVP_PKEY_get_bn_param(pkey, param, &theirs)
           && BN_cmp(ours, theirs) == 0;
    BN_free(ours);
    BN_free(theirs);
    return same;
}

/* What a public part found in another object (a public key object, a
 * certificate) contradicts in the key object's own attributes: NULL when
 * nothing. */
static const char *twin_disagrees(const P11PROV_KEY *key,
                                  const EVP_PKEY *pkey)
{
    if (key->profile.bits > 0 && EVP_PKEY_get_bits(pkey) != key->profile.bits)
        return "another size";
    if (key->kind == P11PROV_KEY_RSA || key->kind == P11PROV_KEY_RSA_PSS) {
        if (!same_integer(key, CKA_MODULUS, pkey, OSSL_PKEY_PARAM_RSA_N))
            return "another modulus";
        if (!same_integer(key, CKA_PUBLIC_EXPONENT, pkey,
                          OSSL_PKEY_PARAM_RSA_E))
            return "another public exponent";
    }
    char group[64];
    if (key->kind == P11PROV_KEY_EC && key->group_name != NULL
        && (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                            group, sizeof(group), NULL)
            || OBJ_txt2nid(group) != OBJ_txt2nid(key->group_name)))
        return "another curve";
    return NULL;
}

EVP_PKEY *p11prov_key_public(const P11PROV_KEY *key)
{
    /* Completed lazily: the twin is published once, atomically. */
    P11PROV_KEY *mutable_key = (P11PROV_KEY *)key;
    EVP_PKEY *pkey = __atomic_load_n(&key->soft, __ATOMIC_ACQUIRE);

    if (pkey != NULL || !p11prov_key_on_token(key))
        return pkey;
    if (__atomic_load_n(&key->public_missing, __ATOMIC_ACQUIRE)) {
        p11prov_key_no_public(key->provctx, key);
        return NULL;
    }
    /* What was wrong with a source that failed is kept if none works. */
    ERR_set_mark();
    pkey = p11prov_public_from_attributes(key->provctx, key->kind,
                                          key->own_public,
                                          p11prov_public_attribute_count);
    /* Another object's public part only when the key object has none of
     * its own (a malformed one is the module's error, not a gap), and
     * only if it agrees with what the key object does say. */
    bool elsewhere = pkey == NULL && !p11prov_key_has_own_public(key);
    if (elsewhere && key->companions != NULL)
        pkey = p11prov_companions_public(key->companions, key);
    if (elsewhere && pkey == NULL
        && key->object.object_class == CKO_PRIVATE_KEY)
        pkey = public_by_search(key);
    const char *disagreement = elsewhere && pkey != NULL
                                   ? twin_disagrees(key, pkey)
                                   : NULL;
    if (disagreement != NULL) {
        P11PROV_RAISE(key->provctx, P11PROV_R_MODULE_BAD_ANSWER,
                      "the public key found for %s has %s than the key "
                      "object",
                      key->object.uri, disagreement);
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    if (pkey == NULL) {
        ERR_clear_last_mark();
        __atomic_store_n(&mutable_key->public_missing, true,
                         __ATOMIC_RELEASE);
        p11prov_key_no_public(key->provctx, key);
        return NULL;
    }
    ERR_pop_to_mark();
    EVP_PKEY *expected = NULL;
    if (!__atomic_compare_exchange_n(&mutable_key->soft, &expected, pkey,
                                     false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        EVP_PKEY_free(pkey); /* another thread built it first */
        return expected;
    }
    if (__atomic_load_n(&key->profile.bits, __ATOMIC_ACQUIRE) <= 0)
        p11prov_key_profile_from(&mutable_key->profile, pkey);
    P11PROV_DEBUG(3, "built the public part of %s", key->object.uri);
    return pkey;
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
    if (p11prov_key_on_token(key)
        && p11prov_token_mechanisms_bad(key->object.token))
        P11PROV_RAISE(ctx, P11PROV_R_MODULE_BAD_ANSWER,
                      "%s: the token of %s is taken to offer nothing: its "
                      "C_GetMechanismList answered CKR_OK with an "
                      "impossible count",
                      what, key->object.uri);
    else
        P11PROV_RAISE(ctx, P11PROV_R_UNSUPPORTED,
                      "%s: not allowed for %s (CKA_ALLOWED_MECHANISMS) or "
                      "not offered by its token",
                      what, key->object.uri);
    return 0;
}
