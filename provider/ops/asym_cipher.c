/* RSA encryption and decryption ("asym_cipher"), with the parameters of
 * OpenSSL's default provider (pad mode, OAEP digest, MGF1 digest, label,
 * TLS versions) so that -pkeyopt, EVP_PKEY_CTX_set_rsa_* and libssl
 * configure it alike. Encryption needs only the public key: it always runs
 * in software, on the key's public twin. Decryption with a token key runs
 * on the token (asym_token.c); software keys decrypt in software. */
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "ops/asym_cipher.h"
#include "ops/rsa_params.h"
#include "ops/rsa_unpad.h"

static OSSL_FUNC_asym_cipher_newctx_fn rsa_newctx;
static OSSL_FUNC_asym_cipher_freectx_fn rsa_freectx;
static OSSL_FUNC_asym_cipher_dupctx_fn rsa_dupctx;
static OSSL_FUNC_asym_cipher_encrypt_init_fn rsa_encrypt_init;
static OSSL_FUNC_asym_cipher_encrypt_fn rsa_encrypt;
static OSSL_FUNC_asym_cipher_decrypt_init_fn rsa_decrypt_init;
static OSSL_FUNC_asym_cipher_decrypt_fn rsa_decrypt;
static OSSL_FUNC_asym_cipher_get_ctx_params_fn rsa_get_ctx_params;
static OSSL_FUNC_asym_cipher_gettable_ctx_params_fn rsa_gettable_ctx_params;
static OSSL_FUNC_asym_cipher_set_ctx_params_fn rsa_set_ctx_params;
static OSSL_FUNC_asym_cipher_settable_ctx_params_fn rsa_settable_ctx_params;

static void *rsa_newctx(void *provctx)
{
    RSA_ENC_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL)
        return NULL;
    ctx->provctx = provctx;
    ctx->pad_mode = RSA_PKCS1_PADDING;
    return ctx;
}

static void rsa_freectx(void *vctx)
{
    RSA_ENC_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    p11prov_key_unref(ctx->key);
    EVP_MD_free(ctx->oaep_md);
    EVP_MD_free(ctx->mgf1_md);
    OPENSSL_free(ctx->oaep_props);
    OPENSSL_free(ctx->mgf1_props);
    OPENSSL_free(ctx->label);
    OPENSSL_free(ctx);
}

static void *rsa_dupctx(void *vctx)
{
    RSA_ENC_CTX *ctx = vctx, *copy = OPENSSL_memdup(ctx, sizeof(*ctx));

    if (copy == NULL)
        return NULL;
    copy->oaep_props = copy->mgf1_props = NULL;
    copy->label = NULL;
    if ((ctx->oaep_md != NULL && !EVP_MD_up_ref(ctx->oaep_md))
        || (ctx->mgf1_md != NULL && !EVP_MD_up_ref(ctx->mgf1_md))) {
        OPENSSL_free(copy);
        return NULL;
    }
    if (ctx->key != NULL)
        p11prov_key_ref(ctx->key);
    if ((ctx->oaep_props != NULL
         && (copy->oaep_props = OPENSSL_strdup(ctx->oaep_props)) == NULL)
        || (ctx->mgf1_props != NULL
            && (copy->mgf1_props = OPENSSL_strdup(ctx->mgf1_props)) == NULL)
        || (ctx->label != NULL
            && (copy->label = OPENSSL_memdup(ctx->label, ctx->label_len))
                   == NULL)) {
        rsa_freectx(copy);
        return NULL;
    }
    return copy;
}

static const char *key_name(const RSA_ENC_CTX *ctx)
{
    return ctx->key != NULL && ctx->key->object.uri != NULL
               ? ctx->key->object.uri
               : "the software key";
}

/* "<key> <what>": what the key cannot do, or what went wrong. */
static int fail(RSA_ENC_CTX *ctx, int reason, const char *what)
{
    P11PROV_RAISE(ctx->provctx, reason, "%s %s", key_name(ctx), what);
    return 0;
}

static int rsa_init(RSA_ENC_CTX *ctx, void *keydata, bool decrypt,
                    const OSSL_PARAM params[])
{
    P11PROV_KEY *key = keydata;

    if (key == NULL) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT, "no key");
        return 0;
    }
    if (key != ctx->key) {
        p11prov_key_unref(ctx->key);
        ctx->key = p11prov_key_ref(key);
    }
    if (key->kind != P11PROV_KEY_RSA)
        return fail(ctx, P11PROV_R_BAD_ARGUMENT, "is not an RSA key");
    if (p11prov_key_public(key) == NULL)
        return fail(ctx, P11PROV_R_BAD_ARGUMENT, "has no key material");
    if (decrypt && p11prov_key_on_token(key)
        && (key->object.object_class != CKO_PRIVATE_KEY || !key->can_decrypt))
        return fail(ctx, P11PROV_R_UNSUPPORTED,
                    key->object.object_class != CKO_PRIVATE_KEY
                        ? "cannot decrypt (not a private key)"
                        : "cannot decrypt (CKA_DECRYPT is false)");
    if (decrypt && !p11prov_key_on_token(key) && !key->soft_has_private)
        return fail(ctx, P11PROV_R_BAD_ARGUMENT,
                    "cannot decrypt (no private key)");
    /* As OpenSSL: each init starts from PKCS#1 v1.5; the rest stays. */
    ctx->pad_mode = RSA_PKCS1_PADDING;
    return rsa_set_ctx_params(ctx, params);
}

static int rsa_encrypt_init(void *ctx, void *keydata,
                            const OSSL_PARAM params[])
{
    return rsa_init(ctx, keydata, false, params);
}

static int rsa_decrypt_init(void *ctx, void *keydata,
                            const OSSL_PARAM params[])
{
    return rsa_init(ctx, keydata, true, params);
}

/* The same operation in software, with the context's settings, on the
 * key's software part: every encryption, and software keys' decryption. */
static EVP_PKEY_CTX *software_ctx(RSA_ENC_CTX *ctx, bool decrypt)
{
    OSSL_PARAM params[10], *p = params;
    int pad_mode = ctx->pad_mode;

    *p++ = OSSL_PARAM_construct_int(OSSL_ASYM_CIPHER_PARAM_PAD_MODE,
                                    &pad_mode);
    if (pad_mode == RSA_PKCS1_OAEP_PADDING) {
        const EVP_MD *md = p11prov_rsa_oaep_md(ctx->provctx, &ctx->oaep_md,
                                               ctx->oaep_props);
        if (md == NULL)
            return NULL;
        *p++ = OSSL_PARAM_construct_utf8_string(
            OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, (char *)EVP_MD_get0_name(md),
            0);
        if (ctx->oaep_props != NULL)
            *p++ = OSSL_PARAM_construct_utf8_string(
                OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST_PROPS, ctx->oaep_props, 0);
        if (ctx->mgf1_md != NULL)
            *p++ = OSSL_PARAM_construct_utf8_string(
                OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST,
                (char *)EVP_MD_get0_name(ctx->mgf1_md), 0);
        if (ctx->mgf1_md != NULL && ctx->mgf1_props != NULL)
            *p++ = OSSL_PARAM_construct_utf8_string(
                OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST_PROPS, ctx->mgf1_props, 0);
        if (ctx->label != NULL)
            *p++ = OSSL_PARAM_construct_octet_string(
                OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, ctx->label,
                ctx->label_len);
    }
    if (ctx->client_version != 0)
        *p++ = OSSL_PARAM_construct_uint(
            OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, &ctx->client_version);
    if (ctx->alt_version != 0)
        *p++ = OSSL_PARAM_construct_uint(
            OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION, &ctx->alt_version);
    *p = OSSL_PARAM_construct_end();

    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(
        ctx->provctx->libctx, p11prov_key_public(ctx->key),
        P11PROV_SOFTWARE_PROPQ);
    if (pctx == NULL
        || (decrypt ? EVP_PKEY_decrypt_init_ex(pctx, params)
                    : EVP_PKEY_encrypt_init_ex(pctx, params))
               <= 0) {
        EVP_PKEY_CTX_free(pctx);
        return NULL;
    }
    return pctx;
}

static size_t modulus_size(const RSA_ENC_CTX *ctx)
{
    int size = EVP_PKEY_get_size(p11prov_key_public(ctx->key));
    return size > 0 ? (size_t)size : 0;
}

static int have_key(RSA_ENC_CTX *ctx)
{
    if (ctx->key != NULL)
        return 1;
    P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                  "no key: the operation was not initialised");
    return 0;
}

static int software_run(RSA_ENC_CTX *ctx, bool decrypt, unsigned char *out,
                        size_t *out_len, size_t out_size,
                        const unsigned char *in, size_t in_len)
{
    EVP_PKEY_CTX *pctx = software_ctx(ctx, decrypt);
    int ok;

    *out_len = out_size;
    ok = pctx != NULL
         && (decrypt ? EVP_PKEY_decrypt(pctx, out, out_len, in, in_len)
                     : EVP_PKEY_encrypt(pctx, out, out_len, in, in_len))
                > 0;
    EVP_PKEY_CTX_free(pctx);
    return ok;
}

static int rsa_encrypt(void *vctx, unsigned char *out, size_t *out_len,
                       size_t out_size, const unsigned char *in,
                       size_t in_len)
{
    RSA_ENC_CTX *ctx = vctx;

    if (!have_key(ctx))
        return 0;
    if (out == NULL) {
        *out_len = modulus_size(ctx);
        return *out_len > 0;
    }
    return software_run(ctx, false, out, out_len, out_size, in, in_len);
}

static int rsa_decrypt(void *vctx, unsigned char *out, size_t *out_len,
                       size_t out_size, const unsigned char *in,
                       size_t in_len)
{
    RSA_ENC_CTX *ctx = vctx;

    if (!have_key(ctx))
        return 0;
    size_t needed = ctx->pad_mode == RSA_PKCS1_WITH_TLS_PADDING
                        ? P11PROV_TLS_PREMASTER_LEN
                        : modulus_size(ctx);
    if (out == NULL) {
        *out_len = needed;
        return needed > 0;
    }
    if (out_size < needed) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "output buffer of %zu bytes for decryption with %s: "
                      "%zu needed",
                      out_size, key_name(ctx), needed);
        return 0;
    }
    if (p11prov_key_on_token(ctx->key))
        return p11prov_rsa_token_decrypt(ctx, out, out_len, out_size, in,
                                         in_len);
    return software_run(ctx, true, out, out_len, out_size, in, in_len);
}

/* ---- parameters ---------------------------------------------------------- */

static int bad_value(RSA_ENC_CTX *ctx, const char *name)
{
    P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                  "invalid value for RSA encryption parameter %s", name);
    return 0;
}

static int get_version(RSA_ENC_CTX *ctx, const OSSL_PARAM params[],
                       const char *key, unsigned int *version)
{
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, key);

    if (p != NULL && !OSSL_PARAM_get_uint(p, version))
        return bad_value(ctx, key);
    return 1;
}

static int rsa_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    RSA_ENC_CTX *ctx = vctx;
    const OSSL_PARAM *p;

    if (params == NULL)
        return 1;
    if (!p11prov_digest_param(ctx->provctx, params,
                              OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST,
                              OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST_PROPS,
                              &ctx->oaep_md, &ctx->oaep_props))
        return 0;
    p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_PAD_MODE);
    if (p != NULL) {
        int mode;
        if (!p11prov_rsa_pad_mode_get(p, P11PROV_RSA_FOR_CIPHER, &mode))
            return bad_value(ctx, OSSL_ASYM_CIPHER_PARAM_PAD_MODE);
        /* As OpenSSL: choosing OAEP settles its digest (SHA-1 if unset). */
        if (mode == RSA_PKCS1_OAEP_PADDING
            && p11prov_rsa_oaep_md(ctx->provctx, &ctx->oaep_md,
                                   ctx->oaep_props)
                   == NULL)
            return 0;
        ctx->pad_mode = mode;
    }
    if (!p11prov_digest_param(ctx->provctx, params,
                              OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST,
                              OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST_PROPS,
                              &ctx->mgf1_md, &ctx->mgf1_props))
        return 0;
    p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL);
    if (p != NULL) {
        void *label = NULL;
        size_t len = 0;
        if (!OSSL_PARAM_get_octet_string(p, &label, 0, &len))
            return bad_value(ctx, OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL);
        OPENSSL_free(ctx->label);
        ctx->label = label;
        ctx->label_len = len;
    }
    return get_version(ctx, params, OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION,
                       &ctx->client_version)
           && get_version(ctx, params,
                          OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION,
                          &ctx->alt_version);
}

static int set_md_name(OSSL_PARAM *params, const char *key, const EVP_MD *md)
{
    OSSL_PARAM *p = OSSL_PARAM_locate(params, key);

    return p == NULL
           || OSSL_PARAM_set_utf8_string(p, md ? EVP_MD_get0_name(md) : "");
}

static int rsa_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    RSA_ENC_CTX *ctx = vctx;
    OSSL_PARAM *p;

    p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_PAD_MODE);
    if (p != NULL && !p11prov_rsa_pad_mode_set(p, ctx->pad_mode))
        return 0;
    if (!set_md_name(params, OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, ctx->oaep_md)
        || !set_md_name(params, OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST,
                        ctx->mgf1_md ? ctx->mgf1_md : ctx->oaep_md))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL);
    if (p != NULL && !OSSL_PARAM_set_octet_ptr(p, ctx->label, ctx->label_len))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION);
    if (p != NULL && !OSSL_PARAM_set_uint(p, ctx->client_version))
        return 0;
    p = OSSL_PARAM_locate(params,
                          OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION);
    if (p != NULL && !OSSL_PARAM_set_uint(p, ctx->alt_version))
        return 0;
    return 1;
}

static const OSSL_PARAM gettable[] = {
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_DEFN(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, OSSL_PARAM_OCTET_PTR,
                    NULL, 0),
    OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, NULL),
    OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION, NULL),
    OSSL_PARAM_END,
};

static const OSSL_PARAM settable[] = {
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST_PROPS, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST_PROPS, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, NULL, 0),
    OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, NULL),
    OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION, NULL),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *rsa_gettable_ctx_params(void *ctx, void *provctx)
{
    (void)ctx;
    (void)provctx;
    return gettable;
}

static const OSSL_PARAM *rsa_settable_ctx_params(void *ctx, void *provctx)
{
    (void)ctx;
    (void)provctx;
    return settable;
}

const OSSL_DISPATCH p11prov_rsa_asym_cipher_functions[] = {
    { OSSL_FUNC_ASYM_CIPHER_NEWCTX, (void (*)(void))rsa_newctx },
    { OSSL_FUNC_ASYM_CIPHER_FREECTX, (void (*)(void))rsa_freectx },
    { OSSL_FUNC_ASYM_CIPHER_DUPCTX, (void (*)(void))rsa_dupctx },
    { OSSL_FUNC_ASYM_CIPHER_ENCRYPT_INIT, (void (*)(void))rsa_encrypt_init },
    { OSSL_FUNC_ASYM_CIPHER_ENCRYPT, (void (*)(void))rsa_encrypt },
    { OSSL_FUNC_ASYM_CIPHER_DECRYPT_INIT, (void (*)(void))rsa_decrypt_init },
    { OSSL_FUNC_ASYM_CIPHER_DECRYPT, (void (*)(void))rsa_decrypt },
    { OSSL_FUNC_ASYM_CIPHER_GET_CTX_PARAMS,
      (void (*)(void))rsa_get_ctx_params },
    { OSSL_FUNC_ASYM_CIPHER_GETTABLE_CTX_PARAMS,
      (void (*)(void))rsa_gettable_ctx_params },
    { OSSL_FUNC_ASYM_CIPHER_SET_CTX_PARAMS,
      (void (*)(void))rsa_set_ctx_params },
    { OSSL_FUNC_ASYM_CIPHER_SETTABLE_CTX_PARAMS,
      (void (*)(void))rsa_settable_ctx_params },
    { 0, NULL },
};
