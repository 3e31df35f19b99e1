/* The provider side: pkcs11prov loaded by path next to OpenSSL's default
 * provider, the key loaded by URI with OSSL_STORE, and each operation the
 * way an application does it (a fresh operation context every time). */
#include <stdlib.h>
#include <string.h>

#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/store.h>
#include <openssl/ui.h>

#include "p11bench.h"

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
    const char *answer = u;
    size_t len = answer != NULL ? strlen(answer) : 0;

    (void)rwflag;
    if (answer == NULL || len >= (size_t)size)
        return -1;
    memcpy(buf, answer, len);
    return (int)len;
}

static OSSL_PROVIDER *pkcs11prov, *default_provider;

void provider_load(const char *dir, const char *module)
{
    if (setenv("PKCS11PROV_MODULE", module, 1) != 0)
        die("setenv PKCS11PROV_MODULE");
    if (!OSSL_PROVIDER_set_default_search_path(NULL, dir)
        || (pkcs11prov = OSSL_PROVIDER_load(NULL, "pkcs11prov")) == NULL
        || (default_provider = OSSL_PROVIDER_load(NULL, "default")) == NULL)
        die("loading the providers");
}

/* Without it, what the providers cached is reported as leaked. */
void provider_unload(void)
{
    OSSL_PROVIDER_unload(pkcs11prov);
    OSSL_PROVIDER_unload(default_provider);
    pkcs11prov = default_provider = NULL;
}

EVP_PKEY *provider_load_key(const char *uri, const char *pin)
{
    UI_METHOD *ui = UI_UTIL_wrap_read_pem_callback(pass_cb, 0);
    OSSL_STORE_CTX *store;
    EVP_PKEY *key = NULL;

    store = OSSL_STORE_open_ex(uri, NULL, NULL, ui, (void *)pin, NULL, NULL,
                               NULL);
    if (store == NULL || OSSL_STORE_expect(store, OSSL_STORE_INFO_PKEY) != 1)
        die("OSSL_STORE_open_ex");
    while (key == NULL && !OSSL_STORE_eof(store)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(store);

        if (info != NULL
            && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
            key = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
        if (info == NULL && OSSL_STORE_error(store))
            break;
    }
    OSSL_STORE_close(store);
    UI_destroy_method(ui);
    if (key == NULL)
        die("loading the key by URI");
    return key;
}

static int sign(const bench_case *bcase, EVP_PKEY *key,
                const bench_inputs *in, EVP_MD_CTX *md_ctx,
                unsigned char *out, size_t *out_len)
{
    EVP_PKEY_CTX *pctx = NULL;

    EVP_MD_CTX_reset(md_ctx);
    if (EVP_DigestSignInit_ex(md_ctx, &pctx, bcase->md, NULL, NULL, key, NULL)
        != 1)
        return 0;
    if (bcase->pss
        && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1
            || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST)
                   != 1))
        return 0;
    return EVP_DigestSign(md_ctx, out, out_len, in->message, in->message_len)
           == 1;
}

/* The peer was checked once when it was made; OpenSSL's check of it on
 * every EVP_PKEY_derive_set_peer is software work that has nothing to do
 * with the token, so it is left out (validate_peer = 0). */
static int derive(EVP_PKEY *key, const bench_inputs *in, unsigned char *out,
                  size_t *out_len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    int ok = ctx != NULL && EVP_PKEY_derive_init(ctx) == 1
             && EVP_PKEY_derive_set_peer_ex(ctx, in->peer, 0) == 1
             && EVP_PKEY_derive(ctx, out, out_len) == 1;

    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static int decrypt(const bench_case *bcase, EVP_PKEY *key,
                   const bench_inputs *in, unsigned char *out,
                   size_t *out_len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    int ok = ctx != NULL && EVP_PKEY_decrypt_init(ctx) == 1
             && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1
             && EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, bcase->md, NULL) == 1
             && EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, bcase->md, NULL) == 1
             && EVP_PKEY_decrypt(ctx, out, out_len, in->ciphertext,
                                 in->ciphertext_len)
                    == 1;

    EVP_PKEY_CTX_free(ctx);
    return ok;
}

int provider_op(const bench_case *bcase, EVP_PKEY *key,
                const bench_inputs *in, EVP_MD_CTX *md_ctx,
                unsigned char *out, size_t *out_len)
{
    switch (bcase->op) {
    case OP_SIGN:
        return sign(bcase, key, in, md_ctx, out, out_len);
    case OP_DERIVE:
        return derive(key, in, out, out_len);
    case OP_DECRYPT:
        return decrypt(bcase, key, in, out, out_len);
    }
    return 0;
}
