/* A token key's profile: what OpenSSL asks of every key it loads (bits,
 * security bits, max size, security category) or signs with (default and
 * mandatory digests), answered without building the key's public part.
 * OpenSSL's own key managers answer, once per kind and size (curve,
 * modulus bits), for a stand-in key of that size: their answers, whatever
 * the version, never a formula of ours. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>

#include "core/context.h"
#include "keys/key.h"

/* OpenSSL 3.5 asks it of every key it loads (PQC's NIST categories);
 * older headers do not name it. */
#ifndef OSSL_PKEY_PARAM_SECURITY_CATEGORY
#define OSSL_PKEY_PARAM_SECURITY_CATEGORY "security-category"
#endif

/* Filled once each, without a lock (fork-safe): a slot is claimed
 * (WRITING), written, then published (READY). A slot being written is
 * passed over; the reader computes the answer itself. */
enum { SLOT_EMPTY, SLOT_WRITING, SLOT_READY };
typedef struct profile_slot {
    int state;
    P11PROV_KEY_KIND kind;
    int nid, modulus_bits; /* what the profile depends on */
    P11PROV_KEY_PROFILE profile;
} PROFILE_SLOT;
#define PROFILE_SLOTS 32
static PROFILE_SLOT profile_cache[PROFILE_SLOTS];

int p11prov_modulus_bits(const unsigned char *modulus, CK_ULONG len)
{
    while (len > 0 && modulus[0] == 0) {
        modulus++;
        len--;
    }
    if (len == 0 || len > 8192)
        return 0;
    int bits = (int)len * 8;
    for (unsigned char top = modulus[0]; !(top & 0x80); top <<= 1)
        bits--;
    return bits;
}

/* A public key of the size: the modulus 2^(bits-1) + 1 (RSA), the curve's
 * generator (EC), any 32 or 57 bytes (EdDSA). Key managers check none of
 * it on import, and only the size is asked of it. */
static EVP_PKEY *stand_in(P11PROV_CTX *ctx, P11PROV_KEY_KIND kind, int nid,
                          int modulus_bits)
{
    static const unsigned char edwards[57];
    const char *name = p11prov_key_kind_name(kind);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    BIGNUM *n = NULL, *e = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_PKEY *pkey = NULL;
    int selection = EVP_PKEY_PUBLIC_KEY, ok = bld != NULL;

    switch (kind) {
    case P11PROV_KEY_RSA:
    case P11PROV_KEY_RSA_PSS:
        ok = ok && modulus_bits > 1 && (n = BN_new()) != NULL
             && (e = BN_new()) != NULL && BN_set_bit(n, modulus_bits - 1)
             && BN_set_bit(n, 0) && BN_set_word(e, 65537)
             && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n)
             && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
        break;
    case P11PROV_KEY_EC:
        selection = EVP_PKEY_KEY_PARAMETERS;
        ok = ok && nid != NID_undef
             && OSSL_PARAM_BLD_push_utf8_string(
                 bld, OSSL_PKEY_PARAM_GROUP_NAME, OBJ_nid2sn(nid), 0);
        break;
    case P11PROV_KEY_ED25519:
    case P11PROV_KEY_ED448:
        ok = ok
             && OSSL_PARAM_BLD_push_octet_string(
                 bld, OSSL_PKEY_PARAM_PUB_KEY, edwards,
                 kind == P11PROV_KEY_ED25519 ? 32 : 57);
        break;
    }
    ok = ok && (params = OSSL_PARAM_BLD_to_param(bld)) != NULL
         && (pctx = EVP_PKEY_CTX_new_from_name(ctx->libctx, name,
                                               P11PROV_SOFTWARE_PROPQ))
                != NULL
         && EVP_PKEY_fromdata_init(pctx) > 0
         && EVP_PKEY_fromdata(pctx, &pkey, selection, params) > 0;
    if (!ok) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return pkey;
}

static bool same_profile(const PROFILE_SLOT *slot, P11PROV_KEY_KIND kind,
                         int nid, int modulus_bits)
{
    return slot->kind == kind && slot->nid == nid
           && slot->modulus_bits == modulus_bits;
}

int p11prov_key_profile_of(P11PROV_CTX *ctx, P11PROV_KEY_KIND kind,
                           const char *group_name, int modulus_bits,
                           P11PROV_KEY_PROFILE *profile)
{
    int nid = NID_undef;

    if (kind == P11PROV_KEY_EC
        && (group_name == NULL
            || (nid = OBJ_sn2nid(group_name)) == NID_undef))
        return 0;
    if (kind != P11PROV_KEY_RSA && kind != P11PROV_KEY_RSA_PSS)
        modulus_bits = 0;
    else if (modulus_bits <= 1)
        return 0;
    for (size_t i = 0; i < PROFILE_SLOTS; i++) {
        PROFILE_SLOT *slot = &profile_cache[i];
        int state = __atomic_load_n(&slot->state, __ATOMIC_ACQUIRE);
        if (state == SLOT_EMPTY)
            break;
        if (state == SLOT_READY
            && same_profile(slot, kind, nid, modulus_bits)) {
            *profile = slot->profile;
            return 1;
        }
    }
    EVP_PKEY *pkey = stand_in(ctx, kind, nid, modulus_bits);
    if (pkey == NULL)
        return 0;
    p11prov_key_profile_from(profile, pkey);
    EVP_PKEY_free(pkey);
    if (profile->bits <= 0 || profile->max_size <= 0)
        return 0;
    for (size_t i = 0; i < PROFILE_SLOTS; i++) {
        PROFILE_SLOT *slot = &profile_cache[i];
        int empty = SLOT_EMPTY;
        if (__atomic_compare_exchange_n(&slot->state, &empty, SLOT_WRITING,
                                        false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
            slot->kind = kind;
            slot->nid = nid;
            slot->modulus_bits = modulus_bits;
            slot->profile = *profile;
            __atomic_store_n(&slot->state, SLOT_READY, __ATOMIC_RELEASE);
            break;
        }
        if (empty == SLOT_READY
            && same_profile(slot, kind, nid, modulus_bits))
            break; /* another thread's */
    }
    return 1;
}

/* One parameter of pkey, when its key manager answers it. */
static bool answered(const EVP_PKEY *pkey, OSSL_PARAM *param)
{
    OSSL_PARAM params[2] = { *param, OSSL_PARAM_END };

    if (!EVP_PKEY_get_params(pkey, params) || !OSSL_PARAM_modified(params))
        return false;
    *param = params[0];
    return true;
}

void p11prov_key_profile_from(P11PROV_KEY_PROFILE *profile,
                              const EVP_PKEY *pkey)
{
    int category = -1;
    OSSL_PARAM p;

    profile->security_bits = EVP_PKEY_get_security_bits(pkey);
    profile->max_size = EVP_PKEY_get_size(pkey);
    p = OSSL_PARAM_construct_int(OSSL_PKEY_PARAM_SECURITY_CATEGORY,
                                 &category);
    profile->security_category = answered(pkey, &p) ? category : -1;
    p = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST,
                                         profile->default_digest,
                                         sizeof(profile->default_digest));
    profile->has_default_digest = answered(pkey, &p);
    p = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_MANDATORY_DIGEST,
                                         profile->mandatory_digest,
                                         sizeof(profile->mandatory_digest));
    profile->has_mandatory_digest = answered(pkey, &p);
    BIGNUM *order = NULL;
    int order_len = (EVP_PKEY_get_bits(pkey) + 7) / 8;
    profile->ec_order_len = 0;
    if (EVP_PKEY_is_a(pkey, "EC")
        && order_len <= (int)sizeof(profile->ec_order)
        && EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_ORDER, &order)
        && BN_bn2binpad(order, profile->ec_order, order_len) == order_len)
        profile->ec_order_len = order_len;
    BN_free(order);
    /* bits last: readers take a profile whose bits are set as complete */
    __atomic_store_n(&profile->bits, EVP_PKEY_get_bits(pkey),
                     __ATOMIC_RELEASE);
}

/* The parameters a profile answers. */
static const char *const profile_names[] = {
    OSSL_PKEY_PARAM_BITS,           OSSL_PKEY_PARAM_SECURITY_BITS,
    OSSL_PKEY_PARAM_MAX_SIZE,       OSSL_PKEY_PARAM_SECURITY_CATEGORY,
    OSSL_PKEY_PARAM_DEFAULT_DIGEST, OSSL_PKEY_PARAM_MANDATORY_DIGEST,
};

static bool profile_holds(const char *name)
{
    for (size_t i = 0; i < sizeof(profile_names) / sizeof(profile_names[0]);
         i++)
        if (strcmp(name, profile_names[i]) == 0)
            return true;
    return false;
}

/* The profile's answer to one parameter it holds, as the key manager gave
 * it for the stand-in: one it left unanswered stays untouched here too.
 * false when p cannot take the value. */
static bool profile_param(const P11PROV_KEY_PROFILE *profile, OSSL_PARAM *p)
{
    if (strcmp(p->key, OSSL_PKEY_PARAM_BITS) == 0)
        return OSSL_PARAM_set_int(p, profile->bits);
    if (strcmp(p->key, OSSL_PKEY_PARAM_SECURITY_BITS) == 0)
        return OSSL_PARAM_set_int(p, profile->security_bits);
    if (strcmp(p->key, OSSL_PKEY_PARAM_MAX_SIZE) == 0)
        return OSSL_PARAM_set_int(p, profile->max_size);
    if (strcmp(p->key, OSSL_PKEY_PARAM_SECURITY_CATEGORY) == 0)
        return profile->security_category < 0
               || OSSL_PARAM_set_int(p, profile->security_category);
    if (strcmp(p->key, OSSL_PKEY_PARAM_DEFAULT_DIGEST) == 0)
        return !profile->has_default_digest
               || OSSL_PARAM_set_utf8_string(p, profile->default_digest);
    return !profile->has_mandatory_digest
           || OSSL_PARAM_set_utf8_string(p, profile->mandatory_digest);
}

int p11prov_key_profile_params(const P11PROV_KEY *key, OSSL_PARAM params[])
{
    if (__atomic_load_n(&key->profile.bits, __ATOMIC_ACQUIRE) <= 0)
        return 0;
    /* All or nothing: a parameter the profile does not hold sends the
     * whole request to the public part. */
    for (const OSSL_PARAM *p = params; p->key != NULL; p++)
        if (!profile_holds(p->key))
            return 0;
    for (OSSL_PARAM *p = params; p->key != NULL; p++)
        if (!profile_param(&key->profile, p))
            return -1;
    return 1;
}
