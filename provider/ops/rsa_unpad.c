/* Constant-time removal of RSA encryption padding (see rsa_unpad.h). */

/* RSA_padding_check_PKCS1_type_2 and RSA_padding_check_PKCS1_OAEP_mgf1 are
 * deprecated in OpenSSL 3.0, but they are the constant-time decoders
 * OpenSSL's own RSA decryption uses, and 3.0 offers no replacement that
 * works on a raw decryption done elsewhere (here: on a token). This file
 * alone uses them. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "ops/rsa_unpad.h"

#include <limits.h>
#include <stdint.h>

#include <openssl/err.h>
#include <openssl/rsa.h>

/* Constant-time helpers: masks are all ones (true) or zero (false). The
 * barrier keeps the compiler from turning mask arithmetic into branches. */
static inline size_t ct_barrier(size_t a)
{
    __asm__("" : "+r"(a));
    return a;
}

static inline size_t ct_msb(size_t a)
{
    return (size_t)0 - (a >> (sizeof(a) * CHAR_BIT - 1));
}

static inline size_t ct_is_zero(size_t a)
{
    return ct_msb(~a & (a - 1));
}

static inline size_t ct_eq(size_t a, size_t b)
{
    return ct_is_zero(a ^ b);
}

static inline unsigned char ct_select_8(size_t mask, unsigned char a,
                                        unsigned char b)
{
    mask = ct_barrier(mask);
    return (unsigned char)((mask & a) | (~mask & b));
}

static int int_size(size_t size)
{
    return size > INT_MAX ? INT_MAX : (int)size;
}

int p11prov_unpad_pkcs1(unsigned char *to, size_t to_size,
                        const unsigned char *em, size_t num)
{
    int ret;

    if (num > INT_MAX)
        return -1;
    /* The decoder raises an error and clears it again in constant time;
     * the caller reports every failure the same way. */
    ERR_set_mark();
    ret = RSA_padding_check_PKCS1_type_2(to, int_size(to_size), em, (int)num,
                                         (int)num);
    ERR_pop_to_mark();
    return ret;
}

int p11prov_unpad_oaep(unsigned char *to, size_t to_size,
                       const unsigned char *em, size_t num,
                       const unsigned char *label, size_t label_len,
                       const EVP_MD *md, const EVP_MD *mgf1_md)
{
    int ret;

    if (num > INT_MAX || label_len > INT_MAX)
        return -1;
    ERR_set_mark();
    ret = RSA_padding_check_PKCS1_OAEP_mgf1(to, int_size(to_size), em,
                                            (int)num, (int)num, label,
                                            (int)label_len, md, mgf1_md);
    ERR_pop_to_mark();
    return ret;
}

/* Copies the premaster secret pm when good (a mask) and its version is
 * right, else the random one. */
static void select_premaster(unsigned char *out, const unsigned char *pm,
                             size_t good, const unsigned char *random_secret,
                             unsigned int client_version,
                             unsigned int alt_version)
{
    size_t version_good = ct_eq(pm[0], (client_version >> 8) & 0xff)
                          & ct_eq(pm[1], client_version & 0xff);

    /* Clients with the rollback bug send the negotiated version instead
     * (libssl passes it only under SSL_OP_TLS_ROLLBACK_BUG). */
    if (alt_version > 0)
        version_good |= ct_eq(pm[0], (alt_version >> 8) & 0xff)
                        & ct_eq(pm[1], alt_version & 0xff);
    good &= version_good;
    for (size_t i = 0; i < P11PROV_TLS_PREMASTER_LEN; i++)
        out[i] = ct_select_8(good, pm[i], random_secret[i]);
}

void p11prov_tls_premaster_from_block(unsigned char *out,
                                      const unsigned char *em, size_t num,
                                      const unsigned char *random_secret,
                                      unsigned int client_version,
                                      unsigned int alt_version)
{
    /* 00 02 PS 00 M: PS at least 8 non-zero bytes, M exactly 48 bytes. */
    size_t zero_at, good;

    if (num < 2 + 8 + 1 + P11PROV_TLS_PREMASTER_LEN) {
        /* A key this small cannot carry a premaster (public). */
        for (size_t i = 0; i < P11PROV_TLS_PREMASTER_LEN; i++)
            out[i] = random_secret[i];
        return;
    }
    zero_at = num - P11PROV_TLS_PREMASTER_LEN - 1;
    good = ct_is_zero(em[0]) & ct_eq(em[1], 2) & ct_is_zero(em[zero_at]);
    for (size_t i = 2; i < zero_at; i++)
        good &= ~ct_is_zero(em[i]);
    select_premaster(out, em + zero_at + 1, good, random_secret,
                     client_version, alt_version);
}

void p11prov_tls_premaster_from_plain(unsigned char *out,
                                      const unsigned char *plain,
                                      size_t plain_len, int decrypted,
                                      const unsigned char *random_secret,
                                      unsigned int client_version,
                                      unsigned int alt_version)
{
    size_t good = ct_eq(plain_len, P11PROV_TLS_PREMASTER_LEN)
                  & ~ct_is_zero((size_t)(decrypted != 0));

    select_premaster(out, plain, good, random_secret, client_version,
                     alt_version);
}
