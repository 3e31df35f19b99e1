/*
 * What the C test programs share: error reports, loading a private key by
 * URI with OSSL_STORE (with or without a passphrase prompt), a key's public
 * part copied into the default provider, signing and verifying, reading
 * and writing files. Define PROG (the program's name) before including
 * this.
 */
#ifndef TOKEN_KEY_UTIL_H
#define TOKEN_KEY_UTIL_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/store.h>
#include <openssl/ui.h>
#include <openssl/x509.h>

/* Prints "PROG[PID]: WHAT failed" and OpenSSL's error queue, in one piece
 * however many threads fail at once; returns 0. */
static inline int fail(const char *what)
{
    flockfile(stderr);
    fprintf(stderr, PROG "[%ld]: %s failed\n", (long)getpid(), what);
    ERR_print_errors_fp(stderr);
    funlockfile(stderr);
    return 0;
}

/* The answer to a store's passphrase prompt, and how often it was asked. */
struct passphrase {
    const char *pin; /* NULL: the prompt is refused */
    int prompts;
};

/* A pem_password_cb for UI_UTIL_wrap_read_pem_callback; u: a struct
 * passphrase. */
static inline int passphrase_cb(char *buf, int size, int rwflag, void *u)
{
    struct passphrase *pass = u;
    size_t len;

    (void)rwflag;
    pass->prompts++;
    if (pass->pin == NULL || (len = strlen(pass->pin)) >= (size_t)size)
        return -1;
    memcpy(buf, pass->pin, len);
    return (int)len;
}

/* The first private key the URI gives. With pass, a prompt for a
 * passphrase is answered (and counted) by passphrase_cb; without, there is
 * no passphrase callback: the PIN comes from the URI or the
 * configuration. */
static inline EVP_PKEY *load_key_prompted(const char *uri,
                                          struct passphrase *pass)
{
    UI_METHOD *ui = NULL;
    OSSL_STORE_CTX *store;
    EVP_PKEY *pkey = NULL;

    if (pass != NULL
        && (ui = UI_UTIL_wrap_read_pem_callback(passphrase_cb, 0)) == NULL) {
        fail("UI_UTIL_wrap_read_pem_callback");
        return NULL;
    }
    store = OSSL_STORE_open_ex(uri, NULL, NULL, ui, pass, NULL, NULL, NULL);
    if (store == NULL) {
        fail("OSSL_STORE_open_ex");
        if (ui != NULL)
            UI_destroy_method(ui);
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
    if (ui != NULL)
        UI_destroy_method(ui);
    return pkey;
}

/* load_key_prompted() without a passphrase callback. */
static inline EVP_PKEY *load_key(const char *uri)
{
    return load_key_prompted(uri, NULL);
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
    else if ((pub = d2i_PUBKEY_ex(NULL, &p, len, NULL, "provider=default"))
             == NULL)
        fail("d2i_PUBKEY_ex into the default provider");
    OPENSSL_free(der);
    return pub;
}

/* A PEM public key file, decoded in the default provider. */
static inline EVP_PKEY *read_public_key(const char *path)
{
    BIO *in = BIO_new_file(path, "r");
    EVP_PKEY *pub = in == NULL
                        ? NULL
                        : PEM_read_bio_PUBKEY_ex(in, NULL, NULL, NULL, NULL,
                                                 "provider=default");

    if (pub == NULL) {
        fprintf(stderr, PROG ": cannot read a public key from %s\n", path);
        ERR_print_errors_fp(stderr);
    }
    BIO_free(in);
    return pub;
}

/* The private key at uri, and its public key read from pub_path: they must
 * be the same key. Returns 0 (with *key and *pub freed) otherwise. */
static inline int load_key_and_public(const char *uri, const char *pub_path,
                                      EVP_PKEY **key, EVP_PKEY **pub)
{
    *key = NULL;
    if ((*pub = read_public_key(pub_path)) == NULL)
        return 0;
    if ((*key = load_key(uri)) != NULL && EVP_PKEY_eq(*key, *pub) == 1)
        return 1;
    if (*key != NULL)
        fprintf(stderr, PROG ": %s is not the key in %s\n", uri, pub_path);
    EVP_PKEY_free(*key);
    EVP_PKEY_free(*pub);
    *key = *pub = NULL;
    return 0;
}

/* The digest to sign with: none (one-shot) for EdDSA, else md. */
static inline const char *digest_for(const EVP_PKEY *pkey, const char *md)
{
    return EVP_PKEY_is_a(pkey, "ED25519") || EVP_PKEY_is_a(pkey, "ED448")
               ? NULL
               : md;
}

/* The digest to sign with: none (one-shot) for EdDSA, else SHA256. */
static inline const char *default_digest(const EVP_PKEY *pkey)
{
    return digest_for(pkey, "SHA256");
}

/* Signs data with key (a fresh EVP_MD_CTX); *sig is OPENSSL_malloc'ed. */
static inline int digest_sign(EVP_PKEY *key, const char *md,
                              const unsigned char *data, size_t data_len,
                              unsigned char **sig, size_t *sig_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = 0;

    *sig = NULL;
    if (ctx == NULL
        || EVP_DigestSignInit_ex(ctx, NULL, md, NULL, NULL, key, NULL) != 1
        || EVP_DigestSign(ctx, NULL, sig_len, data, data_len) != 1
        || (*sig = OPENSSL_malloc(*sig_len)) == NULL
        || EVP_DigestSign(ctx, *sig, sig_len, data, data_len) != 1) {
        fail("EVP_DigestSign with the token key");
        OPENSSL_free(*sig);
        *sig = NULL;
    } else {
        ok = 1;
    }
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* Verifies sig with pkey, the verification fetched with propq (NULL: any
 * provider); reports nothing. 1: it verifies, 0: it does not, -1: the
 * verification could not start. */
static inline int signature_verifies(EVP_PKEY *pkey, const char *propq,
                                     const char *md,
                                     const unsigned char *data,
                                     size_t data_len,
                                     const unsigned char *sig, size_t sig_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rv = -1;

    if (ctx != NULL
        && EVP_DigestVerifyInit_ex(ctx, NULL, md, NULL, propq, pkey, NULL)
               == 1)
        rv = EVP_DigestVerify(ctx, sig, sig_len, data, data_len) == 1;
    EVP_MD_CTX_free(ctx);
    return rv;
}

/* Verifies sig with pub in the default provider. */
static inline int digest_verify(EVP_PKEY *pub, const char *md,
                                const unsigned char *data, size_t data_len,
                                const unsigned char *sig, size_t sig_len)
{
    if (signature_verifies(pub, "provider=default", md, data, data_len, sig,
                           sig_len)
        == 1)
        return 1;
    return fail("EVP_DigestVerify in the default provider");
}

/* One signature with the token key, verified with pub (software). */
static inline int sign_and_verify(EVP_PKEY *key, EVP_PKEY *pub,
                                  const unsigned char *data, size_t data_len)
{
    const char *md = default_digest(pub);
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    int ok = digest_sign(key, md, data, data_len, &sig, &sig_len)
             && digest_verify(pub, md, data, data_len, sig, sig_len);

    OPENSSL_free(sig);
    return ok;
}

/* A command-line option that takes a whole number. */
struct int_option {
    const char *name;
    int *value;
};

/* If argv[*i] names one of options and a value follows, stores the value
 * and steps *i over it; returns 0 otherwise. */
static inline int take_int_option(const struct int_option *options,
                                  size_t count, int argc, char **argv, int *i)
{
    for (size_t k = 0; k < count; k++)
        if (strcmp(argv[*i], options[k].name) == 0 && *i + 1 < argc) {
            *options[k].value = atoi(argv[++*i]);
            return 1;
        }
    return 0;
}

static inline void deadline_passed(int signo)
{
    static const char msg[] = PROG ": timed out: deadlocked or far too "
                                   "slow\n";

    (void)signo;
    (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
    _exit(3);
}

/* After seconds, the process reports a timeout and exits 3: a deadlock
 * becomes a failure, not a hang. alarm() is per process: a forked child
 * has none until it arms its own. */
static inline void arm_deadline(unsigned int seconds)
{
    struct sigaction action;

    memset(&action, 0, sizeof(action));
    action.sa_handler = deadline_passed;
    sigaction(SIGALRM, &action, NULL);
    alarm(seconds);
}

/* The contents of path, or (path NULL) of the string fixed; *len is their
 * length. OPENSSL_malloc'ed; NULL (reported) when path cannot be read. */
static inline unsigned char *read_data_file(const char *path,
                                            const char *fixed, size_t *len)
{
    unsigned char *buf = NULL;
    FILE *f;
    long size;

    if (path == NULL) {
        *len = strlen(fixed);
        return OPENSSL_memdup(fixed, *len);
    }
    f = fopen(path, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0
        || (buf = OPENSSL_malloc(size > 0 ? (size_t)size : 1)) == NULL
        || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, PROG ": cannot read %s\n", path);
        OPENSSL_free(buf);
        buf = NULL;
    } else {
        *len = (size_t)size;
    }
    if (f != NULL)
        fclose(f);
    return buf;
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
