/* Signatures: RSA (PKCS#1 v1.5, PSS, raw), ECDSA, Ed25519, Ed448. Token
 * keys sign on the token; verification and software keys run in software
 * through another provider. */
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "ops/sig_encode.h"
#include "ops/signature.h"

static OSSL_FUNC_signature_freectx_fn sig_freectx;
static OSSL_FUNC_signature_dupctx_fn sig_dupctx;
static OSSL_FUNC_signature_sign_init_fn sig_sign_init;
static OSSL_FUNC_signature_sign_fn sig_sign;
static OSSL_FUNC_signature_verify_init_fn sig_verify_init;
static OSSL_FUNC_signature_verify_fn sig_verify;
static OSSL_FUNC_signature_digest_sign_init_fn sig_digest_sign_init;
static OSSL_FUNC_signature_digest_sign_update_fn sig_digest_update;
static OSSL_FUNC_signature_digest_sign_final_fn sig_digest_sign_final;
static OSSL_FUNC_signature_digest_sign_fn sig_digest_sign;
static OSSL_FUNC_signature_digest_verify_init_fn sig_digest_verify_init;
static OSSL_FUNC_signature_digest_verify_final_fn sig_digest_verify_final;
static OSSL_FUNC_signature_digest_verify_fn sig_digest_verify;

static void *sig_newctx(void *provctx, const char *propq)
{
    SIG_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    (void)propq; /* digests are fetched by their own properties */
    if (ctx == NULL)
        return NULL;
    ctx->provctx = provctx;
    ctx->pad_mode = RSA_PKCS1_PADDING;
    ctx->saltlen = RSA_PSS_SALTLEN_AUTO;
    return ctx;
}

static void sig_freectx(void *vctx)
{
    SIG_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    p11prov_key_unref(ctx->key);
    EVP_MD_free(ctx->md);
    EVP_MD_free(ctx->mgf1_md);
    EVP_MD_CTX_free(ctx->md_ctx);
    OPENSSL_free(ctx);
}

static void *sig_dupctx(void *vctx)
{
    SIG_CTX *ctx = vctx, *copy = OPENSSL_memdup(ctx, sizeof(*ctx));

    if (copy == NULL)
        return NULL;
    copy->md_ctx = NULL;
    if ((ctx->md != NULL && !EVP_MD_up_ref(ctx->md))
        || (ctx->mgf1_md != NULL && !EVP_MD_up_ref(ctx->mgf1_md))) {
        OPENSSL_free(copy);
        return NULL;
    }
    if (ctx->key != NULL)
        p11prov_key_ref(ctx->key);
    if (ctx->md_ctx != NULL
        && ((copy->md_ctx = EVP_MD_CTX_new()) == NULL
            || !EVP_MD_CTX_copy_ex(copy->md_ctx, ctx->md_ctx))) {
        sig_freectx(copy);
        return NULL;
    }
    return copy;
}

static bool is_rsa(const SIG_CTX *ctx)
{
    return ctx->key->kind == P11PROV_KEY_RSA
           || ctx->key->kind == P11PROV_KEY_RSA_PSS;
}

static bool is_eddsa(const SIG_CTX *ctx)
{
    return ctx->key->kind == P11PROV_KEY_ED25519
           || ctx->key->kind == P11PROV_KEY_ED448;
}

static int sig_init(SIG_CTX *ctx, void *keydata, int operation,
                    const OSSL_PARAM params[])
{
    P11PROV_KEY *key = keydata;

    if (key == NULL && ctx->key == NULL) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT, "no key");
        return 0;
    }
    if (key != NULL && key != ctx->key) {
        p11prov_key_unref(ctx->key);
        ctx->key = p11prov_key_ref(key);
    }
    /* Signing on the token needs only the key's size; everything else
     * runs in software on its public part. */
    bool on_token = operation == EVP_PKEY_OP_SIGN
                    && p11prov_key_on_token(ctx->key);
    if ((!on_token || ctx->key->profile.bits <= 0)
        && p11prov_key_public(ctx->key) == NULL)
        return 0; /* raised */
    ctx->operation = operation;
    ctx->digest_started = false;
    if (is_rsa(ctx) && key != NULL) {
        ctx->pad_mode = ctx->key->kind == P11PROV_KEY_RSA_PSS
                            ? RSA_PKCS1_PSS_PADDING
                            : RSA_PKCS1_PADDING;
        ctx->saltlen = RSA_PSS_SALTLEN_AUTO;
    }
    return p11prov_sig_set_ctx_params(ctx, params);
}

static int sig_sign_init(void *ctx, void *keydata, const OSSL_PARAM params[])
{
    return sig_init(ctx, keydata, EVP_PKEY_OP_SIGN, params);
}

static int sig_verify_init(void *ctx, void *keydata,
                           const OSSL_PARAM params[])
{
    return sig_init(ctx, keydata, EVP_PKEY_OP_VERIFY, params);
}

/* A software operation with the context's settings on the key's software
 * part: every verification, and signing with software keys. */
static EVP_PKEY_CTX *software_ctx(SIG_CTX *ctx, bool sign)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(
        ctx->provctx->libctx, p11prov_key_public(ctx->key),
        P11PROV_SOFTWARE_PROPQ);
    int ok = pctx != NULL
             && (sign ? EVP_PKEY_sign_init(pctx) : EVP_PKEY_verify_init(pctx))
                    > 0;

    if (ok && is_rsa(ctx)) {
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, ctx->pad_mode) > 0;
        if (ok && ctx->pad_mode == RSA_PKCS1_PSS_PADDING)
            ok = EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, ctx->saltlen) > 0
                 && EVP_PKEY_CTX_set_rsa_mgf1_md(
                        pctx, ctx->mgf1_md ? ctx->mgf1_md : ctx->md)
                        > 0;
    }
    if (ok && ctx->md != NULL)
        ok = EVP_PKEY_CTX_set_signature_md(pctx, ctx->md) > 0;
    if (!ok) {
        EVP_PKEY_CTX_free(pctx);
        return NULL;
    }
    return pctx;
}

static size_t max_signature_size(const SIG_CTX *ctx)
{
    if (p11prov_key_on_token(ctx->key) && ctx->key->profile.max_size > 0)
        return (size_t)ctx->key->profile.max_size;
    return (size_t)EVP_PKEY_get_size(p11prov_key_public(ctx->key));
}

static int sig_sign(void *vctx, unsigned char *sig, size_t *sig_len,
                    size_t sig_size, const unsigned char *tbs, size_t tbs_len)
{
    SIG_CTX *ctx = vctx;

    if (sig == NULL) {
        *sig_len = max_signature_size(ctx);
        return 1;
    }
    if (p11prov_key_on_token(ctx->key))
        return p11prov_token_sign(ctx, tbs, tbs_len, sig, sig_len, sig_size);
    EVP_PKEY_CTX *pctx = software_ctx(ctx, true);
    *sig_len = sig_size;
    int ok = pctx != NULL
             && EVP_PKEY_sign(pctx, sig, sig_len, tbs, tbs_len) > 0;
    EVP_PKEY_CTX_free(pctx);
    return ok;
}

static int sig_verify(void *vctx, const unsigned char *sig, size_t sig_len,
                      const unsigned char *tbs, size_t tbs_len)
{
    SIG_CTX *ctx = vctx;
    EVP_PKEY_CTX *pctx = software_ctx(ctx, false);
    int ok = pctx != NULL
             && EVP_PKEY_verify(pctx, sig, sig_len, tbs, tbs_len) > 0;

    EVP_PKEY_CTX_free(pctx);
    return ok;
}

static int digest_init(SIG_CTX *ctx, const char *mdname, void *keydata,
                       int operation, const OSSL_PARAM params[])
{
    if (!sig_init(ctx, keydata, operation, params))
        return 0;
    if (is_eddsa(ctx)) {
        if (mdname != NULL && *mdname != '\0') {
            P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                          "EdDSA takes no digest (got %s)", mdname);
            return 0;
        }
        return 1;
    }
    if (mdname == NULL || *mdname == '\0')
        mdname = "SHA256";
    if (!p11prov_digest_set(ctx->provctx, &ctx->md, mdname, NULL))
        return 0;
    if (ctx->md_ctx == NULL && (ctx->md_ctx = EVP_MD_CTX_new()) == NULL)
        return 0;
    return EVP_DigestInit_ex2(ctx->md_ctx, ctx->md, NULL);
}

static int sig_digest_sign_init(void *ctx, const char *mdname, void *keydata,
                                const OSSL_PARAM params[])
{
    return digest_init(ctx, mdname, keydata, EVP_PKEY_OP_SIGN, params);
}

static int sig_digest_verify_init(void *ctx, const char *mdname,
                                  void *keydata, const OSSL_PARAM params[])
{
    return digest_init(ctx, mdname, keydata, EVP_PKEY_OP_VERIFY, params);
}

static int sig_digest_update(void *vctx, const unsigned char *data,
                             size_t len)
{
    SIG_CTX *ctx = vctx;

    if (ctx->md_ctx == NULL || is_eddsa(ctx)) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "EdDSA signs a whole message at once");
        return 0;
    }
    ctx->digest_started = true;
    return EVP_DigestUpdate(ctx->md_ctx, data, len);
}

static int finish_digest(SIG_CTX *ctx, unsigned char *hash,
                         unsigned int *hash_len)
{
    ctx->digest_started = false;
    return ctx->md_ctx != NULL
           && EVP_DigestFinal_ex(ctx->md_ctx, hash, hash_len);
}

static int sig_digest_sign_final(void *vctx, unsigned char *sig,
                                 size_t *sig_len, size_t sig_size)
{
    SIG_CTX *ctx = vctx;
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int hash_len;

    if (sig == NULL) {
        *sig_len = max_signature_size(ctx);
        return 1;
    }
    return finish_digest(ctx, hash, &hash_len)
           && sig_sign(ctx, sig, sig_len, sig_size, hash, hash_len);
}

static int sig_digest_verify_final(void *vctx, const unsigned char *sig,
                                   size_t sig_len)
{
    SIG_CTX *ctx = vctx;
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int hash_len;

    return finish_digest(ctx, hash, &hash_len)
           && sig_verify(ctx, sig, sig_len, hash, hash_len);
}

/* EdDSA through software (verification, software keys). */
static int eddsa_software(SIG_CTX *ctx, bool sign, unsigned char *sig,
                          size_t *sig_len, const unsigned char *msg,
                          size_t msg_len)
{
    EVP_MD_CTX *md_ctx = EVP_MD_CTX_new();
    int ok = md_ctx != NULL;

    if (ok && sign)
        ok = EVP_DigestSignInit_ex(md_ctx, NULL, NULL, ctx->provctx->libctx,
                                   P11PROV_SOFTWARE_PROPQ,
                                   p11prov_key_public(ctx->key), NULL)
                 > 0
             && EVP_DigestSign(md_ctx, sig, sig_len, msg, msg_len) > 0;
    else if (ok)
        ok = EVP_DigestVerifyInit_ex(md_ctx, NULL, NULL, ctx->provctx->libctx,
                                     P11PROV_SOFTWARE_PROPQ,
                                     p11prov_key_public(ctx->key), NULL)
                 > 0
             && EVP_DigestVerify(md_ctx, sig, *sig_len, msg, msg_len) > 0;
    EVP_MD_CTX_free(md_ctx);
    return ok;
}

static int sig_digest_sign(void *vctx, unsigned char *sig, size_t *sig_len,
                           size_t sig_size, const unsigned char *tbs,
                           size_t tbs_len)
{
    SIG_CTX *ctx = vctx;

    if (sig == NULL) {
        *sig_len = max_signature_size(ctx);
        return 1;
    }
    if (!is_eddsa(ctx))
        return sig_digest_update(ctx, tbs, tbs_len)
               && sig_digest_sign_final(ctx, sig, sig_len, sig_size);
    if (p11prov_key_on_token(ctx->key))
        return p11prov_token_sign_message(ctx, tbs, tbs_len, sig, sig_len,
                                          sig_size);
    *sig_len = sig_size;
    return eddsa_software(ctx, true, sig, sig_len, tbs, tbs_len);
}

static int sig_digest_verify(void *vctx, const unsigned char *sig,
                             size_t sig_len, const unsigned char *tbs,
                             size_t tbs_len)
{
    SIG_CTX *ctx = vctx;

    if (!is_eddsa(ctx))
        return sig_digest_update(ctx, tbs, tbs_len)
               && sig_digest_verify_final(ctx, sig, sig_len);
    return eddsa_software(ctx, false, (unsigned char *)sig, &sig_len, tbs,
                          tbs_len);
}

#define SIGNATURE_FUNCTIONS(prefix)                                          \
    const OSSL_DISPATCH p11prov_##prefix##_signature_functions[] = {         \
        { OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))sig_newctx },          \
        { OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))sig_freectx },        \
        { OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))sig_dupctx },          \
        { OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))sig_sign_init },    \
        { OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))sig_sign },              \
        { OSSL_FUNC_SIGNATURE_VERIFY_INIT,                                   \
          (void (*)(void))sig_verify_init },                                 \
        { OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))sig_verify },          \
        { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT,                              \
          (void (*)(void))sig_digest_sign_init },                            \
        { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE,                            \
          (void (*)(void))sig_digest_update },                               \
        { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL,                             \
          (void (*)(void))sig_digest_sign_final },                           \
        { OSSL_FUNC_SIGNATURE_DIGEST_SIGN,                                   \
          (void (*)(void))sig_digest_sign },                                 \
        { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT,                            \
          (void (*)(void))sig_digest_verify_init },                          \
        { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE,                          \
          (void (*)(void))sig_digest_update },                               \
        { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL,                           \
          (void (*)(void))sig_digest_verify_final },                         \
        { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY,                                 \
          (void (*)(void))sig_digest_verify },                               \
        { OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS,                                \
          (void (*)(void))p11prov_sig_get_ctx_params },                      \
        { OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,                           \
          (void (*)(void))p11prov_##prefix##_sig_gettable_ctx_params },      \
        { OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS,                                \
          (void (*)(void))p11prov_sig_set_ctx_params },                      \
        { OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,                           \
          (void (*)(void))p11prov_##prefix##_sig_settable_ctx_params },      \
        { 0, NULL },                                                         \
    };

SIGNATURE_FUNCTIONS(rsa)
SIGNATURE_FUNCTIONS(ecdsa)
SIGNATURE_FUNCTIONS(eddsa)
