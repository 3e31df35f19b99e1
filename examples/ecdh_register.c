/*
 * ecdh_register: the device-registration pattern with an EC key on a
 * PKCS#11 token (through the pkcs11prov OpenSSL provider). The device
 * derives a shared secret between its token key and the registration
 * server's public key (ECDH, EVP_PKEY_derive; the private key never leaves
 * the token); the server derives the same secret from its private key and
 * the device's public key. For the demo the program also plays the server:
 * given the server's private key it derives the other side in software and
 * shows that both secrets are equal.
 *
 *   ecdh_register --key URI --peer-pub FILE [--peer-key FILE]
 *                 [--module PATH] [--pin-file FILE] [--provider NAME|PATH]
 *
 *   --key URI         the device's EC private key: pkcs11:token=...;object=...
 *   --peer-pub FILE   the server's public key (PEM), on the same curve
 *   --peer-key FILE   the server's private key (PEM): the demo's other side
 *   --module PATH     the PKCS#11 module, passed to the provider through the
 *                     environment variable PKCS11PROV_MODULE
 *   --pin-file FILE   the user PIN (first line of FILE), given to the store
 *                     as the passphrase; or put it in the URI / openssl.cnf
 *   --provider NAME   loaded when openssl.cnf has not activated a provider
 *                     named "pkcs11" (default "pkcs11prov", or a path)
 *
 * Prints "device secret: HEX" and, with --peer-key, "server secret: HEX"
 * and "secrets equal". Exit status: 0 on success (and equal secrets), 1 on
 * any error, 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/ui.h>
#include <openssl/x509.h>

#define PROG "ecdh_register"

static OSSL_PROVIDER *prov_pkcs11, *prov_default;

static void report(const char *what)
{
    fprintf(stderr, PROG ": %s\n", what);
    ERR_print_errors_fp(stderr);
}

static int load_providers(const char *module, const char *provider)
{
    if (module != NULL && setenv("PKCS11PROV_MODULE", module, 1) != 0)
        return 0;
    if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1) {
        report("cannot initialise OpenSSL (openssl.cnf)");
        return 0;
    }
    if (OSSL_PROVIDER_available(NULL, "pkcs11"))
        return 1; /* activated by openssl.cnf */
    if ((prov_pkcs11 = OSSL_PROVIDER_load(NULL, provider)) == NULL
        || (prov_default = OSSL_PROVIDER_load(NULL, "default")) == NULL) {
        report("cannot load the providers");
        return 0;
    }
    return 1;
}

static char *read_pin(const char *path)
{
    char buf[256], *pin = NULL;
    FILE *f = fopen(path, "r");

    if (f != NULL && fgets(buf, sizeof(buf), f) != NULL) {
        buf[strcspn(buf, "\r\n")] = '\0';
        pin = OPENSSL_strdup(buf);
        OPENSSL_cleanse(buf, sizeof(buf));
    }
    if (f != NULL)
        fclose(f);
    if (pin == NULL)
        fprintf(stderr, PROG ": cannot read a PIN from %s\n", path);
    return pin;
}

static int pin_cb(char *buf, int size, int rwflag, void *u)
{
    const char *pin = u;
    size_t len;

    (void)rwflag;
    if (pin == NULL || (len = strlen(pin)) >= (size_t)size)
        return -1;
    memcpy(buf, pin, len);
    return (int)len;
}

static EVP_PKEY *load_token_key(const char *uri, const char *pin)
{
    UI_METHOD *ui = UI_UTIL_wrap_read_pem_callback(pin_cb, 0);
    OSSL_STORE_CTX *store = NULL;
    EVP_PKEY *key = NULL;

    if (ui != NULL)
        store = OSSL_STORE_open_ex(uri, NULL, NULL, ui, (void *)pin, NULL,
                                   NULL, NULL);
    if (store != NULL && OSSL_STORE_expect(store, OSSL_STORE_INFO_PKEY) == 1)
        while (key == NULL && !OSSL_STORE_eof(store)) {
            OSSL_STORE_INFO *info = OSSL_STORE_load(store);

            if (info == NULL && OSSL_STORE_error(store))
                break;
            if (info != NULL
                && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
                key = OSSL_STORE_INFO_get1_PKEY(info);
            OSSL_STORE_INFO_free(info);
        }
    OSSL_STORE_close(store);
    UI_destroy_method(ui);
    if (key == NULL)
        report("cannot load the device key (--key)");
    return key;
}

/* A software key from a PEM file, in the default provider. */
static EVP_PKEY *read_pem_key(const char *path, int private)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *key = NULL;

    if (f != NULL) {
        key = private ? PEM_read_PrivateKey_ex(f, NULL, NULL, NULL, NULL,
                                               "provider=default")
                      : PEM_read_PUBKEY_ex(f, NULL, NULL, NULL, NULL,
                                           "provider=default");
        fclose(f);
    }
    if (key == NULL) {
        fprintf(stderr, PROG ": cannot read the %s key in %s\n",
                private ? "private" : "public", path);
        ERR_print_errors_fp(stderr);
    }
    return key;
}

/* The public part of a (token) key as a software key: what the device
 * sends the server at registration. */
static EVP_PKEY *public_part(EVP_PKEY *key)
{
    unsigned char *der = NULL;
    const unsigned char *p;
    int len = i2d_PUBKEY(key, &der);
    EVP_PKEY *pub = NULL;

    p = der;
    if (len > 0)
        pub = d2i_PUBKEY_ex(NULL, &p, len, NULL, "provider=default");
    OPENSSL_free(der);
    if (pub == NULL)
        report("cannot export the device's public key");
    return pub;
}

/* ECDH between own and peer (fetched with propq); the secret in *out
 * (OPENSSL_free). */
static int derive(EVP_PKEY *own, EVP_PKEY *peer, const char *propq,
                  unsigned char **out, size_t *len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, own, propq);
    int ok = ctx != NULL && EVP_PKEY_derive_init(ctx) == 1
             && EVP_PKEY_derive_set_peer(ctx, peer) == 1
             && EVP_PKEY_derive(ctx, NULL, len) == 1
             && (*out = OPENSSL_malloc(*len)) != NULL
             && EVP_PKEY_derive(ctx, *out, len) == 1;

    EVP_PKEY_CTX_free(ctx);
    if (!ok)
        report("ECDH derivation failed");
    return ok;
}

static void print_hex(const char *label, const unsigned char *buf, size_t len)
{
    printf("%s: ", label);
    for (size_t i = 0; i < len; i++)
        printf("%02x", buf[i]);
    printf("\n");
}

static int usage(void)
{
    fprintf(stderr, "usage: " PROG " --key URI --peer-pub FILE [--peer-key "
                    "FILE] [--module PATH] [--pin-file FILE] "
                    "[--provider NAME|PATH]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *uri = NULL, *peer_pub_file = NULL, *peer_key_file = NULL;
    const char *module = NULL, *pin_file = NULL, *provider = "pkcs11prov";
    EVP_PKEY *key = NULL, *peer_pub = NULL, *peer_key = NULL, *dev_pub = NULL;
    unsigned char *mine = NULL, *theirs = NULL;
    size_t mine_len = 0, theirs_len = 0;
    char *pin = NULL;
    int ok = 0;

    for (int i = 1; i < argc; i += 2) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

        if (val == NULL)
            return usage();
        if (strcmp(opt, "--key") == 0)
            uri = val;
        else if (strcmp(opt, "--peer-pub") == 0)
            peer_pub_file = val;
        else if (strcmp(opt, "--peer-key") == 0)
            peer_key_file = val;
        else if (strcmp(opt, "--module") == 0)
            module = val;
        else if (strcmp(opt, "--pin-file") == 0)
            pin_file = val;
        else if (strcmp(opt, "--provider") == 0)
            provider = val;
        else
            return usage();
    }
    if (uri == NULL || peer_pub_file == NULL)
        return usage();

    if (!load_providers(module, provider)
        || (pin_file != NULL && (pin = read_pin(pin_file)) == NULL)
        || (key = load_token_key(uri, pin)) == NULL
        || (peer_pub = read_pem_key(peer_pub_file, 0)) == NULL)
        goto end;

    /* The device side: token key x server public key, on the token. */
    if (!derive(key, peer_pub, NULL, &mine, &mine_len))
        goto end;
    print_hex("device secret", mine, mine_len);
    ok = 1;

    /* The server side (demo): server private key x device public key. */
    if (peer_key_file != NULL) {
        ok = (peer_key = read_pem_key(peer_key_file, 1)) != NULL
             && (dev_pub = public_part(key)) != NULL
             && derive(peer_key, dev_pub, "provider=default", &theirs,
                       &theirs_len);
        if (ok) {
            print_hex("server secret", theirs, theirs_len);
            ok = mine_len == theirs_len
                 && CRYPTO_memcmp(mine, theirs, mine_len) == 0;
            printf(ok ? "secrets equal\n" : "secrets DIFFER\n");
        }
    }
end:
    OPENSSL_clear_free(mine, mine_len);
    OPENSSL_clear_free(theirs, theirs_len);
    if (pin != NULL)
        OPENSSL_clear_free(pin, strlen(pin));
    EVP_PKEY_free(key);
    EVP_PKEY_free(peer_pub);
    EVP_PKEY_free(peer_key);
    EVP_PKEY_free(dev_pub);
    if (prov_pkcs11 != NULL)
        OSSL_PROVIDER_unload(prov_pkcs11);
    if (prov_default != NULL)
        OSSL_PROVIDER_unload(prov_default);
    return ok ? 0 : 1;
}
