/*
 * tls_premaster: the TLS RSA key exchange as libssl does it, with a token
 * key loaded by URI: EVP_PKEY_decrypt with RSA_PKCS1_WITH_TLS_PADDING and
 * OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION (and _NEGOTIATED_VERSION).
 * Premaster secrets are encrypted here with the public key in the default
 * provider.
 *
 *   tls_premaster URI PUB.pem
 *
 * Each case prints "WHO: CASE: ok" (WHO "token" or "software"); a wrong
 * premaster (bad version, bad padding, wrong length) must decrypt
 * successfully to 48 random bytes, different each time, with nothing on
 * the error queue. Also: the OAEP parameters read back from a decryption
 * context, and the same TLS cases plus an OAEP round trip with a software
 * key (generated in the default provider) through pkcs11prov's RSA cipher
 * (property query "provider=pkcs11").
 * Exit status: 0 when every case behaved, 1 otherwise.
 */
#include <openssl/core_names.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#define PROG "tls_premaster"
#include "token_key_util.h"

#define PREMASTER 48
#define TLS12 0x0303
#define TLS10 0x0301

static EVP_PKEY *key, *pub; /* the private key and its public part */
static const char *propq;   /* for operations with key */
static const char *who = "token";
static int failures;

static void check(int ok, const char *what)
{
    printf("%s: %s: %s\n", who, what, ok ? "ok" : "FAILED");
    if (!ok) {
        ERR_print_errors_fp(stderr);
        failures++;
    }
}

/* The cipher of an operation on ctx comes from pkcs11prov. */
static int ours(const EVP_PKEY_CTX *ctx)
{
    const OSSL_PROVIDER *prov = EVP_PKEY_CTX_get0_provider(ctx);

    return prov != NULL
           && strcmp(OSSL_PROVIDER_get0_name(prov), "default") != 0;
}

/* PKCS#1 v1.5 encryption of a premaster of len bytes starting with the
 * version bytes major.minor; the ciphertext goes to ct (256+ bytes). */
static size_t encrypt(unsigned int version, size_t len, unsigned char *pm,
                      unsigned char *ct, size_t ct_size)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub,
                                                   "provider=default");
    size_t ct_len = ct_size;

    pm[0] = (unsigned char)(version >> 8);
    pm[1] = (unsigned char)version;
    if (RAND_bytes(pm + 2, (int)len - 2) <= 0 || ctx == NULL
        || EVP_PKEY_encrypt_init(ctx) <= 0
        || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0
        || EVP_PKEY_encrypt(ctx, ct, &ct_len, pm, len) <= 0)
        ct_len = 0;
    EVP_PKEY_CTX_free(ctx);
    return ct_len;
}

/* libssl's decryption (tls_process_cke_rsa): 1 when it returned 48 bytes. */
static int tls_decrypt(const unsigned char *ct, size_t ct_len,
                       unsigned int client_version, unsigned int alt_version,
                       unsigned char *out)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, propq);
    OSSL_PARAM params[3], *p = params;
    unsigned char buf[1024];
    size_t len = sizeof(buf);
    int ok;

    if (client_version != 0)
        *p++ = OSSL_PARAM_construct_uint(
            OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, &client_version);
    if (alt_version != 0)
        *p++ = OSSL_PARAM_construct_uint(
            OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION, &alt_version);
    *p = OSSL_PARAM_construct_end();
    ok = ctx != NULL && EVP_PKEY_decrypt_init(ctx) > 0 && ours(ctx)
         && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_WITH_TLS_PADDING) > 0
         && EVP_PKEY_CTX_set_params(ctx, params) > 0
         && EVP_PKEY_decrypt(ctx, buf, &len, ct, ct_len) > 0
         && len == PREMASTER;
    if (ok)
        memcpy(out, buf, PREMASTER);
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* A wrong premaster: two decryptions, both "succeed" with 48 bytes that
 * are neither the premaster nor each other, and leave no error. */
static void random_twice(const unsigned char *ct, size_t ct_len,
                         const unsigned char *pm, const char *what)
{
    unsigned char a[PREMASTER], b[PREMASTER];
    int ok = tls_decrypt(ct, ct_len, TLS12, 0, a)
             && tls_decrypt(ct, ct_len, TLS12, 0, b)
             && memcmp(a, pm, PREMASTER) != 0 && memcmp(a, b, PREMASTER) != 0
             && ERR_peek_error() == 0;
    check(ok, what);
}

static int is_name(const char *got, const char *a, const char *b)
{
    return strcmp(got, a) == 0 || strcmp(got, b) == 0;
}

/* OAEP settings read back as set (names as OpenSSL's default provider
 * gives them: the digest's first name). */
static int params_round_trip(void)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    unsigned char *label = (unsigned char *)OPENSSL_strdup("label");
    char md[64] = "", mgf1[64] = "", pad_name[16] = "";
    void *got_label = NULL;
    size_t got_len = 0;
    int pad = 0;
    int ok = ctx != NULL && label != NULL && EVP_PKEY_decrypt_init(ctx) > 0
             && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0
             && EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, "SHA384", NULL) > 0
             && EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, "SHA256", NULL) > 0
             && EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, 5) > 0;

    if (ok)
        label = NULL; /* the context owns it now */
    OSSL_PARAM params[] = {
        OSSL_PARAM_int(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, &pad),
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, md,
                               sizeof(md)),
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, mgf1,
                               sizeof(mgf1)),
        OSSL_PARAM_octet_ptr(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, &got_label,
                             0),
        OSSL_PARAM_END,
    };
    OSSL_PARAM by_name[] = {
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, pad_name,
                               sizeof(pad_name)),
        OSSL_PARAM_END,
    };
    ok = ok && EVP_PKEY_CTX_get_params(ctx, params) > 0
         && EVP_PKEY_CTX_get_params(ctx, by_name) > 0
         && (got_len = params[3].return_size) == 5
         && pad == RSA_PKCS1_OAEP_PADDING && strcmp(pad_name, "oaep") == 0
         && is_name(md, "SHA2-384", "SHA384")
         && is_name(mgf1, "SHA2-256", "SHA256") && got_label != NULL
         && memcmp(got_label, "label", 5) == 0;
    if (!ok)
        fprintf(stderr,
                "read back: pad %d \"%s\", digest \"%s\", mgf1 "
                "\"%s\", label of %zu bytes\n",
                pad, pad_name, md, mgf1, got_len);
    OPENSSL_free(label);
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* OAEP-SHA256 with a label: encrypted in the default provider, decrypted
 * with key through pkcs11prov, and the other way round. */
static int oaep_round_trip(void)
{
    static const unsigned char msg[] = "pkcs11prov OAEP test";
    unsigned char ct[1024], out[1024];
    size_t ct_len = sizeof(ct), out_len = sizeof(out);
    int ok = 1;

    for (int turn = 0; turn < 2 && ok; turn++) {
        EVP_PKEY_CTX *enc = EVP_PKEY_CTX_new_from_pkey(
            NULL, pub, turn == 0 ? "provider=default" : propq);
        EVP_PKEY_CTX *dec = EVP_PKEY_CTX_new_from_pkey(
            NULL, key, turn == 0 ? propq : "provider=default");
        unsigned char *l1 = OPENSSL_memdup("L", 1),
                      *l2 = OPENSSL_memdup("L", 1);
        ct_len = sizeof(ct);
        out_len = sizeof(out);
        ok = enc != NULL && dec != NULL && l1 != NULL && l2 != NULL
             && EVP_PKEY_encrypt_init(enc) > 0
             && EVP_PKEY_decrypt_init(dec) > 0 && ours(turn == 0 ? dec : enc)
             && EVP_PKEY_CTX_set_rsa_padding(enc, RSA_PKCS1_OAEP_PADDING) > 0
             && EVP_PKEY_CTX_set_rsa_padding(dec, RSA_PKCS1_OAEP_PADDING) > 0
             && EVP_PKEY_CTX_set_rsa_oaep_md_name(enc, "SHA256", NULL) > 0
             && EVP_PKEY_CTX_set_rsa_oaep_md_name(dec, "SHA256", NULL) > 0
             && EVP_PKEY_CTX_set0_rsa_oaep_label(enc, l1, 1) > 0
             && (l1 = NULL, EVP_PKEY_CTX_set0_rsa_oaep_label(dec, l2, 1) > 0)
             && (l2 = NULL,
                 EVP_PKEY_encrypt(enc, ct, &ct_len, msg, sizeof(msg)) > 0)
             && EVP_PKEY_decrypt(dec, out, &out_len, ct, ct_len) > 0
             && out_len == sizeof(msg) && memcmp(out, msg, sizeof(msg)) == 0;
        OPENSSL_free(l1);
        OPENSSL_free(l2);
        EVP_PKEY_CTX_free(enc);
        EVP_PKEY_CTX_free(dec);
    }
    return ok;
}

static void tls_cases(void)
{
    unsigned char pm[PREMASTER], ct[1024], out[PREMASTER];
    size_t ct_len;

    ct_len = encrypt(TLS12, PREMASTER, pm, ct, sizeof(ct));
    check(ct_len > 0 && tls_decrypt(ct, ct_len, TLS12, 0, out)
              && memcmp(out, pm, PREMASTER) == 0,
          "correct premaster returned");

    ct_len = encrypt(TLS10, PREMASTER, pm, ct, sizeof(ct));
    random_twice(ct, ct_len, pm, "wrong version gives random bytes");
    check(tls_decrypt(ct, ct_len, TLS12, TLS10, out)
              && memcmp(out, pm, PREMASTER) == 0,
          "negotiated version accepted when given");

    ct_len = encrypt(TLS12, PREMASTER, pm, ct, sizeof(ct));
    ct[ct_len / 2] ^= 0x01;
    random_twice(ct, ct_len, pm, "bad padding gives random bytes");

    ct_len = encrypt(TLS12, PREMASTER - 1, pm, ct, sizeof(ct));
    random_twice(ct, ct_len, pm, "wrong length gives random bytes");

    ct_len = encrypt(TLS12, PREMASTER, pm, ct, sizeof(ct));
    check(!tls_decrypt(ct, ct_len, 0, 0, out), "no client version refused");
    ERR_clear_error();
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: tls_premaster URI PUB.pem\n");
        return 2;
    }
    key = load_key(argv[1]);
    pub = read_public_key(argv[2]);
    if (key == NULL || pub == NULL)
        return 1;
    tls_cases();
    check(params_round_trip(), "params");
    EVP_PKEY_free(key);
    EVP_PKEY_free(pub);

    /* A software key through pkcs11prov: OpenSSL copies it into the
     * provider (keymgmt import), which decrypts in software. */
    who = "software";
    propq = "provider=pkcs11";
    key = EVP_PKEY_Q_keygen(NULL, "provider=default", "RSA", (size_t)2048);
    pub = key;
    if (key == NULL) {
        fprintf(stderr, "tls_premaster: no software RSA key\n");
        ERR_print_errors_fp(stderr);
        return 1;
    }
    tls_cases();
    check(oaep_round_trip(), "OAEP round trip");
    EVP_PKEY_free(key);
    return failures == 0 ? 0 : 1;
}
