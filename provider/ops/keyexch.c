/* ECDH with the private key on the token: C_DeriveKey(CKM_ECDH1_DERIVE,
 * CKD_NULL) into a session-only generic secret that is read back and
 * destroyed. KDFs (X9.63) run in software on the shared secret, so tokens
 * that only do CKD_NULL still offer them. */
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/kdf.h>
#include <openssl/objects.h>
#include <openssl/params.h>

#include "core/mechanisms.h"
#include "core/runner.h"
#include "keys/key.h"

/* An uncompressed P-521 point is 133 bytes; a P-521 secret 66. */
#define MAX_POINT 160
#define MAX_SECRET 80

typedef struct ecdh_ctx {
    P11PROV_CTX *provctx;
    P11PROV_KEY *key, *peer;
    int cofactor_mode; /* -1: the key's default; accepted */
    bool x963kdf;
    EVP_MD *kdf_md;
    size_t kdf_outlen;
    unsigned char *kdf_ukm;
    size_t kdf_ukm_len;
} ECDH_CTX;

static OSSL_FUNC_keyexch_newctx_fn ecdh_newctx;
static OSSL_FUNC_keyexch_freectx_fn ecdh_freectx;
static OSSL_FUNC_keyexch_dupctx_fn ecdh_dupctx;
static OSSL_FUNC_keyexch_init_fn ecdh_init;
static OSSL_FUNC_keyexch_set_peer_fn ecdh_set_peer;
static OSSL_FUNC_keyexch_derive_fn ecdh_derive;
static OSSL_FUNC_keyexch_set_ctx_params_fn ecdh_set_ctx_params;
static OSSL_FUNC_keyexch_settable_ctx_params_fn ecdh_settable_ctx_params;
static OSSL_FUNC_keyexch_get_ctx_params_fn ecdh_get_ctx_params;
static OSSL_FUNC_keyexch_gettable_ctx_params_fn ecdh_gettable_ctx_params;

static void *ecdh_newctx(void *provctx)
{
    ECDH_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL)
        return NULL;
    ctx->provctx = provctx;
    ctx->cofactor_mode = -1;
    return ctx;
}

static void ecdh_freectx(void *vctx)
{
    ECDH_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    p11prov_key_unref(ctx->key);
    p11prov_key_unref(ctx->peer);
    EVP_MD_free(ctx->kdf_md);
    OPENSSL_free(ctx->kdf_ukm);
    OPENSSL_free(ctx);
}

static void *ecdh_dupctx(void *vctx)
{
    ECDH_CTX *ctx = vctx, *copy = ecdh_newctx(ctx->provctx);

    if (copy == NULL)
        return NULL;
    copy->cofactor_mode = ctx->cofactor_mode;
    copy->x963kdf = ctx->x963kdf;
    copy->kdf_outlen = ctx->kdf_outlen;
    copy->key = ctx->key ? p11prov_key_ref(ctx->key) : NULL;
    copy->peer = ctx->peer ? p11prov_key_ref(ctx->peer) : NULL;
    if (ctx->kdf_md != NULL && EVP_MD_up_ref(ctx->kdf_md))
        copy->kdf_md = ctx->kdf_md;
    if (ctx->kdf_ukm != NULL)
        copy->kdf_ukm = OPENSSL_memdup(ctx->kdf_ukm, ctx->kdf_ukm_len);
    copy->kdf_ukm_len = ctx->kdf_ukm_len;
    if ((ctx->kdf_md != NULL && copy->kdf_md == NULL)
        || (ctx->kdf_ukm != NULL && copy->kdf_ukm == NULL)) {
        ecdh_freectx(copy);
        return NULL;
    }
    return copy;
}

static int ecdh_init(void *vctx, void *keydata, const OSSL_PARAM params[])
{
    ECDH_CTX *ctx = vctx;
    P11PROV_KEY *key = keydata;

    if (key == NULL || key->kind != P11PROV_KEY_EC
        || p11prov_key_public(key) == NULL) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "ECDH needs an EC key");
        return 0;
    }
    p11prov_key_unref(ctx->key);
    ctx->key = p11prov_key_ref(key);
    return ecdh_set_ctx_params(ctx, params);
}

/* The curve's NID from the group name a key reports. */
static int group_nid(const EVP_PKEY *pkey)
{
    char name[64];

    if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                        name, sizeof(name), NULL))
        return NID_undef;
    int nid = OBJ_sn2nid(name);
    if (nid == NID_undef)
        nid = EC_curve_nist2nid(name);
    return nid;
}

static int ecdh_set_peer(void *vctx, void *peerdata)
{
    ECDH_CTX *ctx = vctx;
    P11PROV_KEY *peer = peerdata;

    if (peer == NULL || peer->kind != P11PROV_KEY_EC
        || p11prov_key_public(peer) == NULL) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "the ECDH peer is not an EC public key");
        return 0;
    }
    int ours = ctx->key ? group_nid(p11prov_key_public(ctx->key)) : NID_undef;
    int theirs = group_nid(p11prov_key_public(peer));
    if (ours == NID_undef || ours != theirs) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "the ECDH peer key is on curve %s, the key %s on %s",
                      OBJ_nid2sn(theirs),
                      ctx->key ? ctx->key->object.uri : "", OBJ_nid2sn(ours));
        return 0;
    }
    p11prov_key_unref(ctx->peer);
    ctx->peer = p11prov_key_ref(peer);
    return 1;
}

/* The peer's public point, uncompressed (04||X||Y): what CKM_ECDH1_DERIVE
 * takes everywhere (OP-TEE and tpm2-pkcs11 reject DER-wrapped points). */
static size_t peer_point(ECDH_CTX *ctx, unsigned char *out, size_t out_size)
{
    unsigned char encoded[MAX_POINT];
    size_t len = 0, written = 0;
    EC_GROUP *group = NULL;
    EC_POINT *point = NULL;

    if (!EVP_PKEY_get_octet_string_param(p11prov_key_public(ctx->peer),
                                         OSSL_PKEY_PARAM_PUB_KEY, encoded,
                                         sizeof(encoded), &len))
        return 0;
    if (len > 0 && encoded[0] == POINT_CONVERSION_UNCOMPRESSED) {
        if (len > out_size)
            return 0;
        memcpy(out, encoded, len);
        return len;
    }
    group = EC_GROUP_new_by_curve_name_ex(
        ctx->provctx->libctx, P11PROV_SOFTWARE_PROPQ,
        group_nid(p11prov_key_public(ctx->peer)));
    point = group ? EC_POINT_new(group) : NULL;
    if (point != NULL && EC_POINT_oct2point(group, point, encoded, len, NULL))
        written = EC_POINT_point2oct(
            group, point, POINT_CONVERSION_UNCOMPRESSED, out, out_size, NULL);
    EC_POINT_free(point);
    EC_GROUP_free(group);
    return written;
}

static int token_derive(ECDH_CTX *ctx, unsigned char *secret,
                        size_t *secret_len)
{
    P11PROV_KEY *key = ctx->key;
    unsigned char point[MAX_POINT];
    CK_ECDH1_DERIVE_PARAMS params = { CKD_NULL, 0, NULL, 0, NULL };
    CK_MECHANISM mechanism = { CKM_ECDH1_DERIVE, &params, sizeof(params) };
    char label[33];

    if (!p11prov_mechanism_usable(key, CKM_ECDH1_DERIVE)
        && p11prov_token_mechanisms_bad(key->object.token))
        return p11prov_refuse_mechanism(ctx->provctx, key,
                                        "ECDH (CKM_ECDH1_DERIVE)");
    if (!p11prov_mechanism_usable(key, CKM_ECDH1_DERIVE)) {
        P11PROV_RAISE(
            ctx->provctx, P11PROV_R_UNSUPPORTED,
            "token \"%s\" does not offer ECDH (CKM_ECDH1_DERIVE) for "
            "%s; if its module implements it without listing it, "
            "set pkcs11-module-unlisted-mechanisms = "
            "CKM_ECDH1_DERIVE",
            p11prov_token_label(key->object.token, label), key->object.uri);
        return 0;
    }
    if (key->object.object_class != CKO_PRIVATE_KEY || !key->can_derive) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_UNSUPPORTED,
                      "%s cannot derive (CKA_DERIVE is false)",
                      key->object.uri);
        return 0;
    }
    params.ulPublicDataLen = peer_point(ctx, point, sizeof(point));
    params.pPublicData = point;
    if (params.ulPublicDataLen == 0) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "cannot read the ECDH peer's public point");
        return 0;
    }
    /* The shared secret is the x-coordinate: as long as each of the
     * peer's (04||X||Y), neither shorter nor longer. */
    size_t field = (params.ulPublicDataLen - 1) / 2, len = 0;
    CK_RV rv;
    P11PROV_OP_STATUS status = p11prov_token_operation(
        ctx->provctx, &key->object, P11PROV_TOKEN_DERIVE, &mechanism, NULL, 0,
        secret, &len, field, field, &rv);
    if (status != P11PROV_OP_DONE)
        return p11prov_token_op_raise(ctx->provctx, P11PROV_TOKEN_DERIVE,
                                      status, CKM_ECDH1_DERIVE,
                                      key->object.uri, rv);
    *secret_len = len;
    return 1;
}

/* Software keys (e.g. TLS ephemeral keys when this provider is listed
 * first) derive through another provider. */
static int software_derive(ECDH_CTX *ctx, unsigned char *secret,
                           size_t *secret_len)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(
        ctx->provctx->libctx, p11prov_key_public(ctx->key),
        P11PROV_SOFTWARE_PROPQ);
    int ok = pctx != NULL && EVP_PKEY_derive_init(pctx) > 0;

    if (ok && ctx->cofactor_mode >= 0)
        ok = EVP_PKEY_CTX_set_ecdh_cofactor_mode(pctx, ctx->cofactor_mode)
             > 0;
    *secret_len = MAX_SECRET;
    ok = ok
         && EVP_PKEY_derive_set_peer(pctx, p11prov_key_public(ctx->peer)) > 0
         && EVP_PKEY_derive(pctx, secret, secret_len) > 0;
    EVP_PKEY_CTX_free(pctx);
    return ok;
}

static int x963kdf(ECDH_CTX *ctx, const unsigned char *z, size_t z_len,
                   unsigned char *out, size_t out_len)
{
    EVP_KDF *kdf = EVP_KDF_fetch(ctx->provctx->libctx, OSSL_KDF_NAME_X963KDF,
                                 P11PROV_SOFTWARE_PROPQ);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[4], *p = params;
    int ok;

    *p++ = OSSL_PARAM_construct_utf8_string(
        OSSL_KDF_PARAM_DIGEST, (char *)EVP_MD_get0_name(ctx->kdf_md), 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z,
                                             z_len);
    if (ctx->kdf_ukm != NULL)
        *p++ = OSSL_PARAM_construct_octet_string(
            OSSL_KDF_PARAM_INFO, ctx->kdf_ukm, ctx->kdf_ukm_len);
    *p = OSSL_PARAM_construct_end();
    ok = kctx != NULL && EVP_KDF_derive(kctx, out, out_len, params) > 0;
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return ok;
}

static int ecdh_derive(void *vctx, unsigned char *secret, size_t *secret_len,
                       size_t out_size)
{
    ECDH_CTX *ctx = vctx;
    unsigned char z[MAX_SECRET];
    size_t z_len = 0;
    int ok;

    if (ctx->key == NULL || ctx->peer == NULL) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "ECDH needs a key and a peer key");
        return 0;
    }
    if (ctx->x963kdf && (ctx->kdf_md == NULL || ctx->kdf_outlen == 0)) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "X963KDF needs kdf-digest and kdf-outlen");
        return 0;
    }
    if (secret == NULL) {
        *secret_len = ctx->x963kdf ? ctx->kdf_outlen
                                   : (size_t)(ctx->key->profile.bits + 7) / 8;
        return 1;
    }
    ok = p11prov_key_on_token(ctx->key) ? token_derive(ctx, z, &z_len)
                                        : software_derive(ctx, z, &z_len);
    if (ok && ctx->x963kdf) {
        ok = out_size >= ctx->kdf_outlen
             && x963kdf(ctx, z, z_len, secret, ctx->kdf_outlen);
        *secret_len = ctx->kdf_outlen;
    } else if (ok) {
        /* Like OpenSSL: a shorter buffer gets the leading bytes. */
        *secret_len = z_len < out_size ? z_len : out_size;
        memcpy(secret, z, *secret_len);
    }
    OPENSSL_cleanse(z, sizeof(z));
    return ok;
}

static int ecdh_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    ECDH_CTX *ctx = vctx;
    const OSSL_PARAM *p;
    const char *name = NULL, *props = NULL;

    if (params == NULL)
        return 1;
    p = OSSL_PARAM_locate_const(params,
                                OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE);
    if (p != NULL
        && (!OSSL_PARAM_get_int(p, &ctx->cofactor_mode)
            || ctx->cofactor_mode < -1 || ctx->cofactor_mode > 1))
        goto bad;
    p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_TYPE);
    if (p != NULL) {
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &name))
            goto bad;
        if (*name == '\0')
            ctx->x963kdf = false;
        else if (OPENSSL_strcasecmp(name, OSSL_KDF_NAME_X963KDF) == 0)
            ctx->x963kdf = true;
        else
            goto bad;
    }
    p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_DIGEST);
    if (p != NULL) {
        const OSSL_PARAM *pp = OSSL_PARAM_locate_const(
            params, OSSL_EXCHANGE_PARAM_KDF_DIGEST_PROPS);
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &name)
            || (pp != NULL && !OSSL_PARAM_get_utf8_string_ptr(pp, &props)))
            goto bad;
        EVP_MD *md = p11prov_digest_fetch(ctx->provctx, name, props);
        if (md == NULL)
            goto bad;
        EVP_MD_free(ctx->kdf_md);
        ctx->kdf_md = md;
    }
    p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_OUTLEN);
    if (p != NULL && !OSSL_PARAM_get_size_t(p, &ctx->kdf_outlen))
        goto bad;
    p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_UKM);
    if (p != NULL) {
        void *ukm = NULL;
        size_t len = 0;
        if (!OSSL_PARAM_get_octet_string(p, &ukm, 0, &len))
            goto bad;
        OPENSSL_free(ctx->kdf_ukm);
        ctx->kdf_ukm = ukm;
        ctx->kdf_ukm_len = len;
    }
    return 1;
bad:
    P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                  "invalid ECDH parameter %s", p ? p->key : "");
    return 0;
}

static const OSSL_PARAM *ecdh_settable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, NULL),
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST_PROPS, NULL, 0),
        OSSL_PARAM_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, NULL),
        OSSL_PARAM_octet_string(OSSL_EXCHANGE_PARAM_KDF_UKM, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)vctx;
    (void)provctx;
    return settable;
}

static int ecdh_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    ECDH_CTX *ctx = vctx;
    OSSL_PARAM *p;

    p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE);
    if (p != NULL && !OSSL_PARAM_set_int(p, ctx->cofactor_mode))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_TYPE);
    if (p != NULL
        && !OSSL_PARAM_set_utf8_string(p, ctx->x963kdf ? OSSL_KDF_NAME_X963KDF
                                                       : ""))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_DIGEST);
    if (p != NULL
        && !OSSL_PARAM_set_utf8_string(
            p, ctx->kdf_md ? EVP_MD_get0_name(ctx->kdf_md) : ""))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_OUTLEN);
    if (p != NULL && !OSSL_PARAM_set_size_t(p, ctx->kdf_outlen))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_UKM);
    if (p != NULL
        && !OSSL_PARAM_set_octet_ptr(p, ctx->kdf_ukm, ctx->kdf_ukm_len))
        return 0;
    return 1;
}

static const OSSL_PARAM *ecdh_gettable_ctx_params(void *vctx, void *provctx)
{
    static const OSSL_PARAM gettable[] = {
        OSSL_PARAM_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, NULL),
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, NULL, 0),
        OSSL_PARAM_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, NULL),
        OSSL_PARAM_DEFN(OSSL_EXCHANGE_PARAM_KDF_UKM, OSSL_PARAM_OCTET_PTR,
                        NULL, 0),
        OSSL_PARAM_END,
    };
    (void)vctx;
    (void)provctx;
    return gettable;
}

const OSSL_DISPATCH p11prov_ecdh_keyexch_functions[] = {
    { OSSL_FUNC_KEYEXCH_NEWCTX, (void (*)(void))ecdh_newctx },
    { OSSL_FUNC_KEYEXCH_FREECTX, (void (*)(void))ecdh_freectx },
    { OSSL_FUNC_KEYEXCH_DUPCTX, (void (*)(void))ecdh_dupctx },
    { OSSL_FUNC_KEYEXCH_INIT, (void (*)(void))ecdh_init },
    { OSSL_FUNC_KEYEXCH_SET_PEER, (void (*)(void))ecdh_set_peer },
    { OSSL_FUNC_KEYEXCH_DERIVE, (void (*)(void))ecdh_derive },
    { OSSL_FUNC_KEYEXCH_SET_CTX_PARAMS, (void (*)(void))ecdh_set_ctx_params },
    { OSSL_FUNC_KEYEXCH_SETTABLE_CTX_PARAMS,
      (void (*)(void))ecdh_settable_ctx_params },
    { OSSL_FUNC_KEYEXCH_GET_CTX_PARAMS, (void (*)(void))ecdh_get_ctx_params },
    { OSSL_FUNC_KEYEXCH_GETTABLE_CTX_PARAMS,
      (void (*)(void))ecdh_gettable_ctx_params },
    { 0, NULL },
};
