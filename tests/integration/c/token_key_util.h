/*
 * What ecdh_derive and token_keygen share: error reports, loading a private
 * key by URI with OSSL_STORE, a key's public part copied into the default
 * provider, writing files. Define PROG (the program's name) before
 * including this.
 */
#ifndef TOKEN_KEY_UTIL_H
#define TOKEN_KEY_UTIL_H

#include <stdio.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/store.h>
#include <openssl/x509.h>

/* Prints "PROG: WHAT failed" and OpenSSL's error queue; returns 0. */
static inline int fail(const char *what)
{
    fprintf(stderr, PROG ": %s failed\n", what);
    ERR_print_errors_fp(stderr);
    return 0;
}

/* The first private key the URI gives (the PIN from the URI or the
 * configuration: no passphrase callback). */
static inline EVP_PKEY *load_key(const char *uri)
{
    OSSL_STORE_CTX *store = OSSL_STORE_open_ex(uri, NULL, NULL, NULL, NULL,
                                               NULL, NULL, NULL);
    EVP_PKEY *pkey = NULL;

    if (store == NULL) {
        fail("OSSL_STORE_open_ex");
        return NULL;
    }
    if (OSSL_STORE_expect(store, OSSL_STORE_INFO_PKEY) != 1)
        fail("OSSL_STORE_expect");
    else
        while (pkey == NULL && !OSSL_STORE_eof(store)) {
            OSSL_STORE_INFO *info = OSSL_STORE_load(store);

            if (info == NULL) {
                if (OSSL_STORE_error(store))
                    break;
                continue;
            }
            if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
                pkey = OSSL_STORE_INFO_get1_PKEY(info);
            OSSL_STORE_INFO_free(info);
        }
    if (pkey == NULL)
        fail("loading a private key from the store");
    OSSL_STORE_close(store);
    return pkey;
}

/* The public part of pkey, decoded again in the default provider. */
static inline EVP_PKEY *software_public_key(EVP_PKEY *pkey)
{
    unsigned char *der = NULL;
    const unsigned char *p;
    int len = i2d_PUBKEY(pkey, &der);
    EVP_PKEY *pub = NULL;

    p = der;
    if (len <= 0)
        fail("i2d_PUBKEY of the token key");
    else if ((pub = d2i_PUBKEY_ex(NULL, &p, len, NULL,
                                  "provider=default")) == NULL)
        fail("d2i_PUBKEY_ex into the default provider");
    OPENSSL_free(der);
    return pub;
}

static inline int write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok = f != NULL && fwrite(buf, 1, len, f) == len;

    if (f != NULL && fclose(f) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, PROG ": cannot write %s\n", path);
    return ok;
}

static inline int pem_private(BIO *out, EVP_PKEY *pkey)
{
    return PEM_write_bio_PrivateKey(out, pkey, NULL, NULL, 0, NULL, NULL);
}

static inline int pem_public(BIO *out, EVP_PKEY *pkey)
{
    return PEM_write_bio_PUBKEY(out, pkey);
}

/* Writes what write_pem() (pem_private, pem_public) puts into a memory
 * BIO to path. */
static inline int write_pem_file(const char *path, EVP_PKEY *pkey,
                                 int (*write_pem)(BIO *, EVP_PKEY *))
{
    BIO *mem = BIO_new(BIO_s_mem());
    char *pem;
    long len;
    int ok = mem != NULL && write_pem(mem, pkey) == 1
             && (len = BIO_get_mem_data(mem, &pem)) > 0;

    if (!ok)
        fail(write_pem == pem_private ? "PEM_write_bio_PrivateKey"
                                      : "PEM_write_bio_PUBKEY");
    else
        ok = write_file(path, pem, (size_t)len);
    BIO_free(mem);
    return ok;
}

#endif
