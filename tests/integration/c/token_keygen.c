/*
 * token_keygen: generates a key pair ON A TOKEN from C, as the provider
 * documents it: EVP_PKEY_CTX_new_from_name(NULL, ALG, "provider=pkcs11"),
 * EVP_PKEY_keygen_init, EVP_PKEY_CTX_set_params with the key's parameters
 * and "pkcs11_uri", EVP_PKEY_generate. Then signs with the new key
 * (EVP_DigestSign, SHA-256; Ed25519/Ed448 one-shot), verifies the signature
 * with the key's public part copied into the default provider, loads the
 * private key again by the URI (OSSL_STORE) and checks it is the same key.
 *
 *   token_keygen --alg EC|RSA|ED25519|ED448 [--group NAME] [--bits N]
 *                --uri URI [--find URI] [--in FILE] [--pub-out FILE]
 *                [--sig-out FILE] [--key-out FILE]
 *     --group NAME    EC curve ("group"), e.g. P-256
 *     --bits N        RSA modulus size ("bits")
 *     --uri URI       the "pkcs11_uri" parameter: where to create the key
 *     --find URI      the URI that loads the new private key (default: the
 *                     --uri one)
 *     --in FILE       data to sign (default: a fixed text)
 *     --pub-out FILE  the public key, PEM SubjectPublicKeyInfo
 *     --sig-out FILE  the signature
 *     --key-out FILE  the key as PEM_write_bio_PrivateKey writes it (a URI
 *                     key file)
 *
 * Prints "provider: NAME" (the provider of the generated key) and
 * "generated, signed and verified" (before the files are written). Exit
 * status: 0 when all of it worked and every file was written, 1 otherwise
 * (with OpenSSL's error queue on stderr), 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#define PROG "token_keygen"
#include "token_key_util.h"

static const char fixed_data[] = "pkcs11prov token_keygen test data\n";

static EVP_PKEY *generate(const char *alg, const char *group, size_t bits,
                          const char *uri)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, alg,
                                                   "provider=pkcs11");
    OSSL_PARAM params[4], *p = params;
    EVP_PKEY *pkey = NULL;

    if (group != NULL)
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                (char *)group, 0);
    if (bits != 0)
        *p++ = OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_RSA_BITS, &bits);
    *p++ = OSSL_PARAM_construct_utf8_string("pkcs11_uri", (char *)uri, 0);
    *p = OSSL_PARAM_construct_end();

    if (ctx == NULL)
        fail("EVP_PKEY_CTX_new_from_name(..., \"provider=pkcs11\")");
    else if (EVP_PKEY_keygen_init(ctx) != 1)
        fail("EVP_PKEY_keygen_init");
    else if (EVP_PKEY_CTX_set_params(ctx, params) != 1)
        fail("EVP_PKEY_CTX_set_params (key parameters and pkcs11_uri)");
    else if (EVP_PKEY_generate(ctx, &pkey) != 1)
        fail("EVP_PKEY_generate");
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

static int usage(void)
{
    fprintf(stderr, "usage: token_keygen --alg EC|RSA|ED25519|ED448 "
                    "[--group NAME] [--bits N] --uri URI [--find URI] "
                    "[--in FILE] [--pub-out FILE] [--sig-out FILE] "
                    "[--key-out FILE]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *alg = NULL, *group = NULL, *uri = NULL, *find = NULL,
               *in = NULL, *pub_out = NULL, *sig_out = NULL, *key_out = NULL;
    const char *md;
    size_t bits = 0, data_len = 0, sig_len = 0;
    unsigned char *data = NULL, *sig = NULL;
    EVP_PKEY *key = NULL, *pub = NULL, *found = NULL;
    const OSSL_PROVIDER *prov;
    int ok = 0;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];

        if (i + 1 >= argc)
            return usage();
        if (strcmp(arg, "--alg") == 0)
            alg = argv[++i];
        else if (strcmp(arg, "--group") == 0)
            group = argv[++i];
        else if (strcmp(arg, "--bits") == 0)
            bits = strtoul(argv[++i], NULL, 10);
        else if (strcmp(arg, "--uri") == 0)
            uri = argv[++i];
        else if (strcmp(arg, "--find") == 0)
            find = argv[++i];
        else if (strcmp(arg, "--in") == 0)
            in = argv[++i];
        else if (strcmp(arg, "--pub-out") == 0)
            pub_out = argv[++i];
        else if (strcmp(arg, "--sig-out") == 0)
            sig_out = argv[++i];
        else if (strcmp(arg, "--key-out") == 0)
            key_out = argv[++i];
        else
            return usage();
    }
    if (alg == NULL || uri == NULL)
        return usage();

    if ((data = read_data_file(in, fixed_data, &data_len)) == NULL
        || (key = generate(alg, group, bits, uri)) == NULL)
        goto end;
    prov = EVP_PKEY_get0_provider(key);
    printf("provider: %s\n",
           prov != NULL ? OSSL_PROVIDER_get0_name(prov) : "(none)");
    if ((pub = software_public_key(key)) == NULL)
        goto end;
    md = default_digest(pub);
    if (!digest_sign(key, md, data, data_len, &sig, &sig_len)
        || !digest_verify(pub, md, data, data_len, sig, sig_len))
        goto end;
    /* The key is on the token: found again by its URI, the same key. */
    if ((found = load_key(find != NULL ? find : uri)) == NULL)
        goto end;
    if (EVP_PKEY_eq(found, pub) != 1) {
        fail("EVP_PKEY_eq of the generated key and the one found by URI");
        goto end;
    }
    printf("generated, signed and verified\n");
    if ((pub_out != NULL && !write_pem_file(pub_out, pub, pem_public))
        || (sig_out != NULL && !write_file(sig_out, sig, sig_len))
        || (key_out != NULL && !write_pem_file(key_out, key, pem_private)))
        goto end;
    ok = 1;
end:
    OPENSSL_free(sig);
    OPENSSL_free(data);
    EVP_PKEY_free(found);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(key);
    return ok ? 0 : 1;
}
