/*
 * software_key: with pkcs11prov loaded next to the default provider,
 * software keys must keep working and stay in the default provider:
 * generates an RSA-2048 and an EC P-256 key with EVP_PKEY_Q_keygen, signs
 * and verifies with each (SHA-256), and builds an RSA public key with
 * EVP_PKEY_fromdata as tss2-esys does inside tpm2-pkcs11's C_Login.
 *
 *   software_key --config NAME
 *       the providers come from OPENSSL_CONF; NAME is our provider's name
 *       there (must be available)
 *   software_key --load DIR
 *       OSSL_PROVIDER_set_default_search_path(NULL, DIR), then
 *       OSSL_PROVIDER_load(NULL, "default") and (NULL, "pkcs11prov")
 *
 * Exit status 0 when everything worked and every key, key generation and
 * signature context belongs to the default provider; 1 otherwise.
 */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/provider.h>

#define PROG "software_key"
#include "token_key_util.h"

static const unsigned char data[] = "pkcs11prov software key test";

static int from_default(const char *what, const OSSL_PROVIDER *prov)
{
    const char *name = prov != NULL ? OSSL_PROVIDER_get0_name(prov)
                                    : "(none)";

    if (strcmp(name, "default") == 0)
        return 1;
    fprintf(stderr, "software_key: %s belongs to provider %s, not default\n",
            what, name);
    return 0;
}

/* Signs data with key, checks the context's provider, verifies with
 * verifier, and checks that a corrupted signature does not verify. */
static int sign_verify(const char *what, EVP_PKEY *key, EVP_PKEY *verifier)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char sig[1024];
    size_t sig_len = sizeof(sig);
    int ok = 0;

    if (ctx == NULL
        || EVP_DigestSignInit_ex(ctx, &pctx, "SHA256", NULL, NULL, key, NULL)
               != 1
        || EVP_DigestSign(ctx, sig, &sig_len, data, sizeof(data)) != 1) {
        fail(what);
        goto end;
    }
    if (!from_default(what, EVP_PKEY_CTX_get0_provider(pctx)))
        goto end;
    if (signature_verifies(verifier, NULL, "SHA256", data, sizeof(data), sig,
                           sig_len)
        != 1) {
        fail("verifying a software signature");
        goto end;
    }
    sig[sig_len / 2] ^= 0x01;
    if (signature_verifies(verifier, NULL, "SHA256", data, sizeof(data), sig,
                           sig_len)
        != 0) {
        fail("rejecting a corrupted signature (it verified, or the check "
             "could not run)");
        goto end;
    }
    ERR_clear_error();
    ok = 1;
end:
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* The RSA public key of rsa, rebuilt with EVP_PKEY_fromdata (what
 * tss2-esys does with the TPM's keys). */
static EVP_PKEY *rsa_public_from_data(EVP_PKEY *rsa)
{
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM params[3];
    unsigned char nbuf[512], ebuf[8];
    int nlen, elen;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pub = NULL;

    if (EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_N, &n) != 1
        || EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_E, &e) != 1
        || (nlen = BN_bn2nativepad(n, nbuf, BN_num_bytes(n))) < 0
        || (elen = BN_bn2nativepad(e, ebuf, BN_num_bytes(e))) < 0) {
        fail("reading n and e of the RSA key");
        goto end;
    }
    params[0] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_RSA_N, nbuf, nlen);
    params[1] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_RSA_E, ebuf, elen);
    params[2] = OSSL_PARAM_construct_end();
    if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL
        || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pub, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        fail("EVP_PKEY_fromdata of an RSA public key");
        goto end;
    }
    if (!from_default("EVP_PKEY_fromdata's RSA key",
                      EVP_PKEY_get0_provider(pub))) {
        EVP_PKEY_free(pub);
        pub = NULL;
    }
end:
    EVP_PKEY_CTX_free(ctx);
    BN_free(n);
    BN_free(e);
    return pub;
}

static int usage(void)
{
    fprintf(stderr, "usage: software_key --config NAME | --load DIR\n");
    return 2;
}

int main(int argc, char **argv)
{
    OSSL_PROVIDER *deflt = NULL, *ours = NULL;
    EVP_PKEY *rsa = NULL, *ec = NULL, *rsa_pub = NULL;
    const char *name;
    int ok = 0;

    if (argc != 3)
        return usage();
    if (strcmp(argv[1], "--config") == 0) {
        name = argv[2];
        if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1) {
            fail("loading OPENSSL_CONF");
            goto end;
        }
    } else if (strcmp(argv[1], "--load") == 0) {
        name = "pkcs11prov";
        if (OSSL_PROVIDER_set_default_search_path(NULL, argv[2]) != 1
            || (deflt = OSSL_PROVIDER_load(NULL, "default")) == NULL
            || (ours = OSSL_PROVIDER_load(NULL, name)) == NULL) {
            fail("OSSL_PROVIDER_load of default and pkcs11prov");
            goto end;
        }
    } else {
        return usage();
    }
    if (OSSL_PROVIDER_available(NULL, name) != 1) {
        fprintf(stderr, "software_key: provider %s is not loaded\n", name);
        goto end;
    }
    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (rsa == NULL || ec == NULL) {
        fail("EVP_PKEY_Q_keygen");
        goto end;
    }
    if (!from_default("the RSA key", EVP_PKEY_get0_provider(rsa))
        || !from_default("the EC key", EVP_PKEY_get0_provider(ec))
        || !sign_verify("signing with the RSA key", rsa, rsa)
        || !sign_verify("signing with the EC key", ec, ec)
        || (rsa_pub = rsa_public_from_data(rsa)) == NULL
        || !sign_verify("signing for the fromdata key", rsa, rsa_pub))
        goto end;
    if (deflt != NULL
        && (EVP_PKEY_get0_provider(rsa) != deflt
            || EVP_PKEY_get0_provider(ec) != deflt)) {
        fprintf(stderr, "software_key: the keys' provider is not the "
                        "default provider this program loaded\n");
        goto end;
    }
    printf("software keys: RSA-2048 and EC P-256 generated, signed and "
           "verified in the default provider\n");
    ok = 1;
end:
    EVP_PKEY_free(rsa_pub);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    if (ours != NULL)
        OSSL_PROVIDER_unload(ours);
    if (deflt != NULL)
        OSSL_PROVIDER_unload(deflt);
    return ok ? 0 : 1;
}
