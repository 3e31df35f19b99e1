/* Signing on the token: one C_SignInit + C_Sign per signature, on a pooled
 * session, with the raw mechanisms every token has (CKM_ECDSA,
 * CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_RSA_X_509, CKM_EDDSA); the hash is
 * computed in software beforehand. */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rsa.h>

#include "login.h"
#include "object.h"
#include "sig_encode.h"
#include "signature.h"

/* Big enough for a raw P-521 ECDSA signature and a 16384-bit RSA one. */
#define MAX_RAW_SIGNATURE 2048

static const char *mechanism_name(CK_MECHANISM_TYPE mechanism)
{
    switch (mechanism) {
    case CKM_ECDSA:
        return "CKM_ECDSA";
    case CKM_RSA_PKCS:
        return "CKM_RSA_PKCS";
    case CKM_RSA_PKCS_PSS:
        return "CKM_RSA_PKCS_PSS";
    case CKM_RSA_X_509:
        return "CKM_RSA_X_509";
    case CKM_EDDSA:
        return "CKM_EDDSA";
    default:
        return "mechanism";
    }
}

/* Usable: the key permits it, and the token lists it (or lists nothing,
 * or the key's own allowed list names it: tpm2-pkcs11 does PSS without
 * listing it). */
static bool mechanism_usable(P11PROV_KEY *key, CK_MECHANISM_TYPE mechanism)
{
    if (!p11prov_key_allows(key, mechanism))
        return false;
    return key->allowed != NULL
           || p11prov_token_has_mechanism(key->token, mechanism)
           || key->token->mechanism_count == 0;
}

/* One attempt; *retry says whether a fresh session / handle / login may
 * help. */
static CK_RV sign_once(P11PROV_KEY *key, CK_MECHANISM *mechanism,
                       const unsigned char *data, size_t data_len,
                       unsigned char *out, CK_ULONG *out_len, bool stale)
{
    P11PROV_TOKEN *token = key->token;
    P11PROV_MODULE *m = token->module;
    CK_SESSION_HANDLE session;
    CK_OBJECT_HANDLE handle;
    CK_RV rv;

    rv = p11prov_session_borrow(token, &session);
    if (rv != CKR_OK)
        return rv;
    rv = p11prov_key_handle(key, session, stale, &handle);
    if (rv == CKR_OK)
        P11PROV_CALL(rv, m, C_SignInit, session, mechanism, handle);
    if (rv == CKR_OK && key->always_authenticate)
        rv = p11prov_context_login(token, session);
    if (rv == CKR_OK) {
        P11PROV_CALL(rv, m, C_Sign, session, (CK_BYTE *)data,
                     (CK_ULONG)data_len, out, out_len);
        /* A session left with an active operation must not be pooled. */
        if (rv == CKR_BUFFER_TOO_SMALL)
            rv = CKR_GENERAL_ERROR;
    }
    p11prov_session_return(token, session,
                           rv == CKR_OK || !p11prov_session_broken(rv));
    return rv;
}

/* Signs with recovery: a stale pooled session, a handle from before the
 * module was re-initialised, a login the module lost (only with the PIN
 * that already worked; a wrong PIN is never retried). */
static int sign_with_mechanism(SIG_CTX *ctx, CK_MECHANISM *mechanism,
                               const unsigned char *data, size_t data_len,
                               unsigned char *out, size_t *out_len,
                               size_t out_size, CK_RV *result)
{
    P11PROV_KEY *key = ctx->key;
    bool stale = false, relogged = false;
    CK_RV rv = CKR_OK, ignored;

    if (result == NULL)
        result = &ignored;
    *result = CKR_GENERAL_ERROR;

    if (p11prov_token_needs_login(key->token)
        && !p11prov_token_login(ctx->provctx, key->token, NULL))
        return 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        CK_ULONG len = (CK_ULONG)out_size;
        rv = sign_once(key, mechanism, data, data_len, out, &len, stale);
        if (rv == CKR_OK) {
            if (len > out_size)
                break; /* the module wrote past what we gave it */
            *out_len = len;
            *result = CKR_OK;
            return 1;
        }
        if (rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_KEY_HANDLE_INVALID)
            stale = true;
        else if (rv == CKR_USER_NOT_LOGGED_IN && !relogged) {
            /* The module lost the login: one more C_Login, no more (each
             * may count against the PIN). */
            __atomic_store_n(&key->token->logged_in_at, 0, __ATOMIC_RELEASE);
            relogged = true;
        } else if (!p11prov_session_broken(rv))
            break;
        if (p11prov_token_needs_login(key->token)
            && !p11prov_token_login(ctx->provctx, key->token, NULL))
            return 0;
    }
    *result = rv;
    if (rv == CKR_OK)
        P11PROV_RAISE(ctx->provctx, P11PROV_R_MODULE_BAD_ANSWER,
                      "C_Sign with %s for %s returned a longer signature "
                      "than the buffer", mechanism_name(mechanism->mechanism),
                      key->uri);
    else {
        char what[64];
        snprintf(what, sizeof(what), "C_Sign with %s",
                 mechanism_name(mechanism->mechanism));
        P11PROV_RAISE_CKR(ctx->provctx, rv, what, key->uri);
    }
    return 0;
}

static int refuse_mechanism(SIG_CTX *ctx, const char *what)
{
    P11PROV_RAISE(ctx->provctx, P11PROV_R_UNSUPPORTED,
                  "%s: not allowed for %s (CKA_ALLOWED_MECHANISMS) or not "
                  "offered by its token", what, ctx->key->uri);
    return 0;
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
                      "an r||s pair", ctx->key->uri, raw_len);
        return 0;
    }
    return 1;
}

static CK_MECHANISM_TYPE pss_hash_mechanism(const EVP_MD *md,
                                            CK_RSA_PKCS_MGF_TYPE *mgf)
{
    static const struct {
        const char *name;
        CK_MECHANISM_TYPE hash;
        CK_RSA_PKCS_MGF_TYPE mgf;
    } table[] = {
        { "SHA1", CKM_SHA_1, CKG_MGF1_SHA1 },
        { "SHA224", CKM_SHA224, CKG_MGF1_SHA224 },
        { "SHA256", CKM_SHA256, CKG_MGF1_SHA256 },
        { "SHA384", CKM_SHA384, CKG_MGF1_SHA384 },
        { "SHA512", CKM_SHA512, CKG_MGF1_SHA512 },
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (EVP_MD_is_a(md, table[i].name)) {
            if (mgf != NULL)
                *mgf = table[i].mgf;
            return table[i].hash;
        }
    return CK_UNAVAILABLE_INFORMATION;
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
                      "that fits the key", key->uri);
        return 0;
    }
    params.hashAlg = pss_hash_mechanism(ctx->md, NULL);
    params.sLen = (CK_ULONG)salt_len;
    bool raw_usable = mechanism_usable(key, CKM_RSA_X_509);
    if (pss_hash_mechanism(mgf1_md, &mgf) != CK_UNAVAILABLE_INFORMATION
        && params.hashAlg != CK_UNAVAILABLE_INFORMATION
        && mechanism_usable(key, CKM_RSA_PKCS_PSS)) {
        params.mgf = mgf;
        CK_MECHANISM mechanism = { CKM_RSA_PKCS_PSS, &params, sizeof(params) };
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
        bool refused = rv == CKR_MECHANISM_PARAM_INVALID
                       || rv == CKR_ARGUMENTS_BAD || rv == CKR_MECHANISM_INVALID;
        if (!refused || !raw_usable) {
            ERR_clear_last_mark();
            return 0;
        }
        ERR_pop_to_mark();
        P11PROV_DEBUG(2, "token refused these PSS parameters for %s: "
                         "encoding here", key->uri);
    }
    /* No PSS on the token (OpenPGP cards, some TPMs): encode here and use
     * the raw RSA operation. */
    if (!raw_usable)
        return refuse_mechanism(ctx, "RSA-PSS signature (CKM_RSA_PKCS_PSS, "
                                     "or CKM_RSA_X_509 to encode it here)");
    unsigned char encoded[MAX_RAW_SIGNATURE];
    size_t encoded_len = p11prov_pss_encode(
        ctx->provctx->libctx, ctx->md, mgf1_md, hash, hash_len, salt_len,
        key->bits, encoded, sizeof(encoded));
    if (encoded_len == 0) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_INTERNAL,
                      "PSS encoding for %s failed", key->uri);
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
                              ctx->key->uri, EVP_MD_get0_name(ctx->md));
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
    if (ctx->key->object_class == CKO_PRIVATE_KEY && ctx->key->can_sign)
        return 1;
    P11PROV_RAISE(ctx->provctx, P11PROV_R_UNSUPPORTED,
                  "%s cannot sign (%s)", ctx->key->uri,
                  ctx->key->object_class == CKO_PRIVATE_KEY
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
                      "%s signs whole messages only", ctx->key->uri);
        return 0;
    }
}

int p11prov_token_sign_message(SIG_CTX *ctx, const unsigned char *msg,
                               size_t msg_len, unsigned char *sig,
                               size_t *sig_len, size_t sig_size)
{
    CK_MECHANISM mechanism = { CKM_EDDSA, NULL, 0 };

    if (!check_can_sign(ctx))
        return 0;
    if (!p11prov_key_allows(ctx->key, CKM_EDDSA))
        return refuse_mechanism(ctx, "EdDSA signature (CKM_EDDSA)");
    return sign_with_mechanism(ctx, &mechanism, msg, msg_len, sig, sig_len,
                               sig_size, NULL);
}
