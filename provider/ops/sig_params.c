/* Signature context parameters, with OpenSSL's names and values, so that
 * -sigopt, EVP_PKEY_CTX_set_rsa_* and libssl configure token signatures
 * exactly as they configure software ones. */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "ops/sig_encode.h"
#include "ops/signature.h"

static const struct {
    int mode;
    const char *name;
} pad_modes[] = {
    { RSA_PKCS1_PADDING, OSSL_PKEY_RSA_PAD_MODE_PKCSV15 },
    { RSA_NO_PADDING, OSSL_PKEY_RSA_PAD_MODE_NONE },
    { RSA_X931_PADDING, OSSL_PKEY_RSA_PAD_MODE_X931 },
    { RSA_PKCS1_PSS_PADDING, OSSL_PKEY_RSA_PAD_MODE_PSS },
};

static const struct {
    int saltlen;
    const char *name;
} saltlen_names[] = {
    { RSA_PSS_SALTLEN_DIGEST, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST },
    { RSA_PSS_SALTLEN_MAX, OSSL_PKEY_RSA_PSS_SALT_LEN_MAX },
    { RSA_PSS_SALTLEN_AUTO, OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO },
};

static int get_pad_mode(const OSSL_PARAM *p, int *mode)
{
    if (p->data_type == OSSL_PARAM_UTF8_STRING) {
        for (size_t i = 0; i < sizeof(pad_modes) / sizeof(pad_modes[0]); i++)
            if (strcmp(p->data, pad_modes[i].name) == 0) {
                *mode = pad_modes[i].mode;
                return 1;
            }
        return 0;
    }
    if (!OSSL_PARAM_get_int(p, mode))
        return 0;
    for (size_t i = 0; i < sizeof(pad_modes) / sizeof(pad_modes[0]); i++)
        if (pad_modes[i].mode == *mode)
            return 1;
    return 0;
}

static int get_saltlen(const OSSL_PARAM *p, int *saltlen)
{
    if (p->data_type != OSSL_PARAM_UTF8_STRING)
        return OSSL_PARAM_get_int(p, saltlen) && *saltlen >= RSA_PSS_SALTLEN_MAX;
    for (size_t i = 0; i < sizeof(saltlen_names) / sizeof(saltlen_names[0]);
         i++)
        if (strcmp(p->data, saltlen_names[i].name) == 0) {
            *saltlen = saltlen_names[i].saltlen;
            return 1;
        }
    char *end;
    long value = strtol(p->data, &end, 10);
    if (*(const char *)p->data == '\0' || *end != '\0' || value < 0
        || value > 0xffff)
        return 0;
    *saltlen = (int)value;
    return 1;
}

static int bad_value(SIG_CTX *ctx, const char *name)
{
    P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                  "invalid value for signature parameter %s", name);
    return 0;
}

static int set_digest_param(SIG_CTX *ctx, const OSSL_PARAM params[],
                            const char *name_key, const char *props_key,
                            EVP_MD **slot)
{
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, name_key);
    const char *name = NULL, *props = NULL;

    if (p == NULL)
        return 1;
    if (!OSSL_PARAM_get_utf8_string_ptr(p, &name))
        return bad_value(ctx, name_key);
    const OSSL_PARAM *pp = OSSL_PARAM_locate_const(params, props_key);
    if (pp != NULL && !OSSL_PARAM_get_utf8_string_ptr(pp, &props))
        return bad_value(ctx, props_key);
    return p11prov_sig_set_md(ctx, slot, name, props);
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
    if (!set_digest_param(ctx, params, OSSL_SIGNATURE_PARAM_DIGEST,
                          OSSL_SIGNATURE_PARAM_PROPERTIES, &ctx->md)
        || !set_digest_param(ctx, params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST,
                             OSSL_SIGNATURE_PARAM_MGF1_PROPERTIES,
                             &ctx->mgf1_md))
        return 0;
    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
    if (p != NULL && !get_pad_mode(p, &ctx->pad_mode))
        return bad_value(ctx, OSSL_SIGNATURE_PARAM_PAD_MODE);
    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
    if (p != NULL && !get_saltlen(p, &ctx->saltlen))
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
                        : p11prov_aid_rsa_pss(ctx->md,
                                              ctx->mgf1_md ? ctx->mgf1_md
                                                           : ctx->md,
                                              salt, out, out_size);
    }
    return 0;
}

static int set_named_int(OSSL_PARAM *p, int value, const char *name)
{
    if (p->data_type == OSSL_PARAM_UTF8_STRING)
        return name != NULL && OSSL_PARAM_set_utf8_string(p, name);
    return OSSL_PARAM_set_int(p, value);
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
        if (mgf1 != NULL && !OSSL_PARAM_set_utf8_string(p, EVP_MD_get0_name(mgf1)))
            return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
    if (p != NULL) {
        const char *name = NULL;
        for (size_t i = 0; i < sizeof(pad_modes) / sizeof(pad_modes[0]); i++)
            if (pad_modes[i].mode == ctx->pad_mode)
                name = pad_modes[i].name;
        if (!set_named_int(p, ctx->pad_mode, name))
            return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
    if (p != NULL) {
        char number[16];
        const char *name = NULL;
        for (size_t i = 0;
             i < sizeof(saltlen_names) / sizeof(saltlen_names[0]); i++)
            if (saltlen_names[i].saltlen == ctx->saltlen)
                name = saltlen_names[i].name;
        if (name == NULL) {
            snprintf(number, sizeof(number), "%d", ctx->saltlen);
            name = number;
        }
        if (!set_named_int(p, ctx->saltlen, name))
            return 0;
    }
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
    const OSSL_PARAM *p11prov_##prefix##_sig_gettable_ctx_params(           \
        void *ctx, void *provctx)                                            \
    {                                                                        \
        (void)ctx;                                                           \
        (void)provctx;                                                       \
        return prefix##_gettable;                                            \
    }                                                                        \
    const OSSL_PARAM *p11prov_##prefix##_sig_settable_ctx_params(           \
        void *ctx, void *provctx)                                            \
    {                                                                        \
        (void)ctx;                                                           \
        (void)provctx;                                                       \
        return prefix##_settable;                                            \
    }

PARAM_TABLES(rsa)
PARAM_TABLES(ecdsa)
PARAM_TABLES(eddsa)
