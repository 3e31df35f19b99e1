/* Signature context parameters, with OpenSSL's names and values, so that
 * -sigopt, EVP_PKEY_CTX_set_rsa_* and libssl configure token signatures
 * exactly as they configure software ones. */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "ops/rsa_params.h"
#include "ops/sig_encode.h"
#include "ops/signature.h"

static int bad_value(SIG_CTX *ctx, const char *name)
{
    P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                  "invalid value for signature parameter %s", name);
    return 0;
}

int p11prov_sig_salt_length(const SIG_CTX *ctx)
{
    return p11prov_pss_salt_length(ctx->saltlen, ctx->md,
                                   ctx->key->profile.bits);
}

int p11prov_sig_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    SIG_CTX *ctx = vctx;
    const OSSL_PARAM *p;

    if (params == NULL)
        return 1;
    if (OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST) != NULL
        && ctx->digest_started) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "the digest cannot change once data was signed");
        return 0;
    }
    if (!p11prov_digest_param(ctx->provctx, params,
                              OSSL_SIGNATURE_PARAM_DIGEST,
                              OSSL_SIGNATURE_PARAM_PROPERTIES, &ctx->md, NULL)
        || !p11prov_digest_param(
            ctx->provctx, params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST,
            OSSL_SIGNATURE_PARAM_MGF1_PROPERTIES, &ctx->mgf1_md, NULL))
        return 0;
    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
    if (p != NULL
        && !p11prov_rsa_pad_mode_get(p, P11PROV_RSA_FOR_SIGNATURE,
                                     &ctx->pad_mode))
        return bad_value(ctx, OSSL_SIGNATURE_PARAM_PAD_MODE);
    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
    if (p != NULL && !p11prov_rsa_saltlen_get(p, &ctx->saltlen))
        return bad_value(ctx, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
    return 1;
}

static size_t algorithm_id(const SIG_CTX *ctx, unsigned char *out,
                           size_t out_size)
{
    if (ctx->key == NULL)
        return 0;
    switch (ctx->key->kind) {
    case P11PROV_KEY_EC:
        return ctx->md ? p11prov_aid_ecdsa(ctx->md, out, out_size) : 0;
    case P11PROV_KEY_ED25519:
        return p11prov_aid_eddsa(0, out, out_size);
    case P11PROV_KEY_ED448:
        return p11prov_aid_eddsa(1, out, out_size);
    default:
        break;
    }
    if (ctx->md == NULL)
        return 0;
    if (ctx->pad_mode == RSA_PKCS1_PADDING)
        return p11prov_aid_rsa_pkcs1(ctx->md, out, out_size);
    if (ctx->pad_mode == RSA_PKCS1_PSS_PADDING) {
        int salt = p11prov_sig_salt_length(ctx);
        return salt < 0 ? 0
                        : p11prov_aid_rsa_pss(
                              ctx->md, ctx->mgf1_md ? ctx->mgf1_md : ctx->md,
                              salt, out, out_size);
    }
    return 0;
}

int p11prov_sig_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    SIG_CTX *ctx = vctx;
    OSSL_PARAM *p;

    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID);
    if (p != NULL) {
        unsigned char aid[128];
        size_t len = algorithm_id(ctx, aid, sizeof(aid));
        if (len == 0 || !OSSL_PARAM_set_octet_string(p, aid, len))
            return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST);
    if (p != NULL && ctx->md != NULL
        && !OSSL_PARAM_set_utf8_string(p, EVP_MD_get0_name(ctx->md)))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
    if (p != NULL) {
        const EVP_MD *mgf1 = ctx->mgf1_md ? ctx->mgf1_md : ctx->md;
        if (mgf1 != NULL
            && !OSSL_PARAM_set_utf8_string(p, EVP_MD_get0_name(mgf1)))
            return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
    if (p != NULL && !p11prov_rsa_pad_mode_set(p, ctx->pad_mode))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
    if (p != NULL && !p11prov_rsa_saltlen_set(p, ctx->saltlen))
        return 0;
    return 1;
}

static const OSSL_PARAM rsa_gettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
    OSSL_PARAM_END,
};
static const OSSL_PARAM rsa_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_PROPERTIES, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
    OSSL_PARAM_END,
};
static const OSSL_PARAM ecdsa_gettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_END,
};
static const OSSL_PARAM ecdsa_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
    OSSL_PARAM_END,
};
static const OSSL_PARAM eddsa_gettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_END,
};
static const OSSL_PARAM eddsa_settable[] = { OSSL_PARAM_END };

#define PARAM_TABLES(prefix)                                                 \
    const OSSL_PARAM *p11prov_##prefix##_sig_gettable_ctx_params(            \
        void *ctx, void *provctx)                                            \
    {                                                                        \
        (void)ctx;                                                           \
        (void)provctx;                                                       \
        return prefix##_gettable;                                            \
    }                                                                        \
    const OSSL_PARAM *p11prov_##prefix##_sig_settable_ctx_params(            \
        void *ctx, void *provctx)                                            \
    {                                                                        \
        (void)ctx;                                                           \
        (void)provctx;                                                       \
        return prefix##_settable;                                            \
    }

PARAM_TABLES(rsa)
PARAM_TABLES(ecdsa)
PARAM_TABLES(eddsa)
