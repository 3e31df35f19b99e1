/* Signing on the token: one C_SignInit + C_Sign per signature, on a pooled
 * session, with the raw mechanisms every token has (CKM_ECDSA,
 * CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_RSA_X_509, CKM_EDDSA); the hash is
 * computed in software beforehand. */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rsa.h>

#include "core/mechanisms.h"
#include "core/pkcs11_v3.h"
#include "core/runner.h"
#include "ops/rsa_params.h"
#include "ops/sig_encode.h"
#include "ops/signature.h"

/* Big enough for a raw P-521 ECDSA signature and a 16384-bit RSA one. */
#define MAX_RAW_SIGNATURE 2048

/* The length every signature by the key has: the modulus (RSA), r||s
 * of the group order's size each (ECDSA), 64 or 114 bytes (EdDSA); 0 when
 * the key's size is unknown. */
static size_t signature_length(const P11PROV_KEY *key)
{
    size_t bytes = (size_t)(key->profile.bits + 7) / 8;

    switch (key->kind) {
    case P11PROV_KEY_RSA:
    case P11PROV_KEY_RSA_PSS:
        return key->profile.bits > 0 ? bytes : 0;
    case P11PROV_KEY_EC:
        return key->profile.bits > 0 ? 2 * bytes : 0;
    case P11PROV_KEY_ED25519:
        return 64;
    case P11PROV_KEY_ED448:
        return 114;
    }
    return 0;
}

static bool all_zero(const unsigned char *p, size_t len)
{
    unsigned char any = 0;

    for (size_t i = 0; i < len; i++)
        any |= p[i];
    return any == 0;
}

/* What the length cannot show: an RSA signature is a number below the
 * modulus (when the key object gave it), ECDSA's r and s are not zero.
 * NULL when the value may be a signature, else what is wrong. */
static const char *signature_value_fault(const P11PROV_KEY *key,
                                         const unsigned char *sig, size_t len)
{
    if (key->kind == P11PROV_KEY_EC) {
        size_t half = len / 2;
        if (all_zero(sig, half) || all_zero(sig + half, half))
            return "r or s zero";
        if (key->profile.ec_order_len == (int)half
            && (memcmp(sig, key->profile.ec_order, half) >= 0
                || memcmp(sig + half, key->profile.ec_order, half) >= 0))
            return "r or s not below the group order";
        return NULL;
    }
    if (key->kind != P11PROV_KEY_RSA && key->kind != P11PROV_KEY_RSA_PSS)
        return NULL;
    const CK_ATTRIBUTE *n = p11prov_attribute_find(
        key->own_public, p11prov_public_attribute_count, CKA_MODULUS);
    if (n == NULL || n->pValue == NULL || n->ulValueLen != len)
        return NULL; /* equal lengths: the profile came from it */
    return memcmp(sig, n->pValue, len) >= 0 ? "a number not below the modulus"
                                            : NULL;
}

/* Signs through the runner; errors name the call, mechanism and key. */
static int sign_with_mechanism(SIG_CTX *ctx, CK_MECHANISM *mechanism,
                               const unsigned char *data, size_t data_len,
                               unsigned char *out, size_t *out_len,
                               size_t out_size, CK_RV *result)
{
    size_t expected = signature_length(ctx->key);
    CK_RV rv, ignored;
    P11PROV_OP_STATUS status;
    const char *fault;

    if (result == NULL)
        result = &ignored;
    *result = CKR_OK;
    if (expected > out_size) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "a signature by %s takes %zu bytes, the buffer has %zu",
                      ctx->key->object.uri, expected, out_size);
        return 0;
    }
    status = p11prov_token_operation(
        ctx->provctx, &ctx->key->object, P11PROV_TOKEN_SIGN, mechanism, data,
        data_len, out, out_len, expected ? expected : 1,
        expected ? expected : out_size, &rv);
    *result = rv;
    if (status != P11PROV_OP_DONE)
        return p11prov_token_op_raise(ctx->provctx, P11PROV_TOKEN_SIGN,
                                      status, mechanism->mechanism,
                                      ctx->key->object.uri, rv);
    if ((fault = signature_value_fault(ctx->key, out, *out_len)) != NULL) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_MODULE_BAD_ANSWER,
                      "C_Sign with %s for %s returned %s",
                      p11prov_mechanism_name(mechanism->mechanism),
                      ctx->key->object.uri, fault);
        OPENSSL_cleanse(out, *out_len);
        return 0;
    }
    return 1;
}

static int refuse_mechanism(SIG_CTX *ctx, const char *what)
{
    return p11prov_refuse_mechanism(ctx->provctx, ctx->key, what);
}

static int ecdsa_sign(SIG_CTX *ctx, const unsigned char *tbs, size_t tbs_len,
                      unsigned char *sig, size_t *sig_len, size_t sig_size)
{
    CK_MECHANISM mechanism = { CKM_ECDSA, NULL, 0 };
    unsigned char raw[MAX_RAW_SIGNATURE];
    size_t raw_len;

    if (!p11prov_key_allows(ctx->key, CKM_ECDSA))
        return refuse_mechanism(ctx, "ECDSA signature (CKM_ECDSA)");
    if (!sign_with_mechanism(ctx, &mechanism, tbs, tbs_len, raw, &raw_len,
                             sizeof(raw), NULL))
        return 0;
    *sig_len = p11prov_ecdsa_raw_to_der(raw, raw_len, sig, sig_size);
    if (*sig_len == 0) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_MODULE_BAD_ANSWER,
                      "C_Sign with CKM_ECDSA for %s returned %zu bytes, not "
                      "an r||s pair",
                      ctx->key->object.uri, raw_len);
        return 0;
    }
    return 1;
}

static int rsa_pss_sign(SIG_CTX *ctx, const unsigned char *hash,
                        size_t hash_len, unsigned char *sig, size_t *sig_len,
                        size_t sig_size)
{
    P11PROV_KEY *key = ctx->key;
    const EVP_MD *mgf1_md = ctx->mgf1_md ? ctx->mgf1_md : ctx->md;
    CK_RSA_PKCS_PSS_PARAMS params;
    CK_RSA_PKCS_MGF_TYPE mgf;
    int salt_len = p11prov_sig_salt_length(ctx);

    if (ctx->md == NULL || (size_t)EVP_MD_get_size(ctx->md) != hash_len
        || salt_len < 0) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "RSA-PSS with %s needs a digest of its size and a salt "
                      "that fits the key",
                      key->object.uri);
        return 0;
    }
    params.hashAlg = p11prov_hash_mechanism(ctx->md, NULL);
    params.sLen = (CK_ULONG)salt_len;
    bool raw_usable = p11prov_mechanism_usable(key, CKM_RSA_X_509);
    if (p11prov_hash_mechanism(mgf1_md, &mgf) != CK_UNAVAILABLE_INFORMATION
        && params.hashAlg != CK_UNAVAILABLE_INFORMATION
        && p11prov_mechanism_usable(key, CKM_RSA_PKCS_PSS)) {
        params.mgf = mgf;
        CK_MECHANISM mechanism = { CKM_RSA_PKCS_PSS, &params,
                                   sizeof(params) };
        CK_RV rv;
        ERR_set_mark();
        if (sign_with_mechanism(ctx, &mechanism, hash, hash_len, sig, sig_len,
                                sig_size, &rv)) {
            ERR_clear_last_mark();
            return 1;
        }
        /* Tokens that do PSS only with the digest as MGF1 hash and salt
         * length (TPMs; SoftHSM for some combinations) refuse the rest:
         * those are encoded here when raw RSA is available. */
        if (!p11prov_mechanism_refused(rv)) {
            ERR_clear_last_mark();
            return 0;
        }
        if (!raw_usable) {
            ERR_clear_last_mark();
            return refuse_mechanism(ctx, "RSA-PSS with these parameters "
                                         "(refused for CKM_RSA_PKCS_PSS; "
                                         "CKM_RSA_X_509 to encode them "
                                         "here)");
        }
        ERR_pop_to_mark();
        P11PROV_DEBUG(2,
                      "token refused these PSS parameters for %s: "
                      "encoding here",
                      key->object.uri);
    }
    /* No PSS on the token (OpenPGP cards, some TPMs): encode here and use
     * the raw RSA operation. */
    if (!raw_usable)
        return refuse_mechanism(ctx, "RSA-PSS signature (CKM_RSA_PKCS_PSS, "
                                     "or CKM_RSA_X_509 to encode it here)");
    unsigned char encoded[MAX_RAW_SIGNATURE];
    size_t encoded_len = p11prov_pss_encode(
        ctx->provctx->libctx, ctx->md, mgf1_md, hash, hash_len, salt_len,
        key->profile.bits, encoded, sizeof(encoded));
    if (encoded_len == 0) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_INTERNAL,
                      "PSS encoding for %s failed", key->object.uri);
        return 0;
    }
    CK_MECHANISM mechanism = { CKM_RSA_X_509, NULL, 0 };
    int ok = sign_with_mechanism(ctx, &mechanism, encoded, encoded_len, sig,
                                 sig_len, sig_size, NULL);
    OPENSSL_cleanse(encoded, sizeof(encoded));
    return ok;
}

static int rsa_sign(SIG_CTX *ctx, const unsigned char *tbs, size_t tbs_len,
                    unsigned char *sig, size_t *sig_len, size_t sig_size)
{
    unsigned char digest_info[128];

    switch (ctx->pad_mode) {
    case RSA_PKCS1_PSS_PADDING:
        return rsa_pss_sign(ctx, tbs, tbs_len, sig, sig_len, sig_size);
    case RSA_NO_PADDING: {
        CK_MECHANISM mechanism = { CKM_RSA_X_509, NULL, 0 };
        if (!p11prov_key_allows(ctx->key, CKM_RSA_X_509))
            return refuse_mechanism(ctx, "raw RSA (CKM_RSA_X_509)");
        return sign_with_mechanism(ctx, &mechanism, tbs, tbs_len, sig,
                                   sig_len, sig_size, NULL);
    }
    case RSA_PKCS1_PADDING: {
        CK_MECHANISM mechanism = { CKM_RSA_PKCS, NULL, 0 };
        if (!p11prov_key_allows(ctx->key, CKM_RSA_PKCS))
            return refuse_mechanism(ctx, "RSA PKCS#1 v1.5 signature "
                                         "(CKM_RSA_PKCS)");
        if (ctx->md != NULL) {
            tbs_len = p11prov_digest_info(ctx->md, tbs, tbs_len, digest_info,
                                          sizeof(digest_info));
            tbs = digest_info;
            if (tbs_len == 0) {
                P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                              "input for %s is not a %s digest",
                              ctx->key->object.uri,
                              EVP_MD_get0_name(ctx->md));
                return 0;
            }
        }
        return sign_with_mechanism(ctx, &mechanism, tbs, tbs_len, sig,
                                   sig_len, sig_size, NULL);
    }
    default:
        P11PROV_RAISE(ctx->provctx, P11PROV_R_UNSUPPORTED,
                      "RSA padding mode %d is not supported for signing",
                      ctx->pad_mode);
        return 0;
    }
}

static int check_can_sign(SIG_CTX *ctx)
{
    if (ctx->key->object.object_class == CKO_PRIVATE_KEY
        && ctx->key->can_sign)
        return 1;
    P11PROV_RAISE(ctx->provctx, P11PROV_R_UNSUPPORTED, "%s cannot sign (%s)",
                  ctx->key->object.uri,
                  ctx->key->object.object_class == CKO_PRIVATE_KEY
                      ? "CKA_SIGN is false"
                      : "not a private key");
    return 0;
}

int p11prov_token_sign(SIG_CTX *ctx, const unsigned char *tbs, size_t tbs_len,
                       unsigned char *sig, size_t *sig_len, size_t sig_size)
{
    if (!check_can_sign(ctx))
        return 0;
    switch (ctx->key->kind) {
    case P11PROV_KEY_EC:
        return ecdsa_sign(ctx, tbs, tbs_len, sig, sig_len, sig_size);
    case P11PROV_KEY_RSA:
    case P11PROV_KEY_RSA_PSS:
        return rsa_sign(ctx, tbs, tbs_len, sig, sig_len, sig_size);
    default:
        P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "%s signs whole messages only", ctx->key->object.uri);
        return 0;
    }
}

int p11prov_token_sign_message(SIG_CTX *ctx, const unsigned char *msg,
                               size_t msg_len, unsigned char *sig,
                               size_t *sig_len, size_t sig_size)
{
    P11PROV_CK_EDDSA_PARAMS pure = { CK_FALSE, 0, NULL };
    CK_MECHANISM mechanism = { CKM_EDDSA, NULL, 0 };

    if (!check_can_sign(ctx))
        return 0;
    if (ctx->key->object.token->module->eddsa_needs_params) {
        mechanism.pParameter = &pure;
        mechanism.ulParameterLen = sizeof(pure);
    }
    if (!p11prov_key_allows(ctx->key, CKM_EDDSA))
        return refuse_mechanism(ctx, "EdDSA signature (CKM_EDDSA)");
    return sign_with_mechanism(ctx, &mechanism, msg, msg_len, sig, sig_len,
                               sig_size, NULL);
}
