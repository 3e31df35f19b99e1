/* Removing RSA encryption padding from a raw decryption (CKM_RSA_X_509)
 * in constant time, for tokens that cannot do a padding themselves or
 * with the parameters asked for; and the TLS premaster rule. */
#ifndef PKCS11PROV_RSA_UNPAD_H
#define PKCS11PROV_RSA_UNPAD_H

#include <stddef.h>

#include <openssl/evp.h>

/* The TLS premaster secret's length (SSL_MAX_MASTER_KEY_LENGTH). */
#define P11PROV_TLS_PREMASTER_LEN 48

/* PKCS#1 v1.5 (block type 2) from em, the num-byte raw decryption (num the
 * modulus size): the message's length, written to to (at most to_size
 * bytes), or -1. Constant time; leaves no error on the queue. */
int p11prov_unpad_pkcs1(unsigned char *to, size_t to_size,
                        const unsigned char *em, size_t num);

/* OAEP with digest md, MGF1 digest mgf1_md (NULL: md) and label, as
 * p11prov_unpad_pkcs1. */
int p11prov_unpad_oaep(unsigned char *to, size_t to_size,
                       const unsigned char *em, size_t num,
                       const unsigned char *label, size_t label_len,
                       const EVP_MD *md, const EVP_MD *mgf1_md);

/* The TLS RSA key exchange rule (RFC 5246, 7.4.7.1): out receives the
 * premaster secret when em (the num-byte raw decryption) holds a PKCS#1
 * v1.5 block of a 48-byte secret that starts with client_version (or
 * alt_version, when not 0), else random_secret. Always 48 bytes, in
 * constant time, with no sign of which. */
void p11prov_tls_premaster_from_block(unsigned char *out,
                                      const unsigned char *em, size_t num,
                                      const unsigned char *random_secret,
                                      unsigned int client_version,
                                      unsigned int alt_version);

/* The same rule for a token that removed the padding itself: decrypted
 * says whether it succeeded, plain (at least 48 readable bytes) holds
 * plain_len bytes of its result. */
void p11prov_tls_premaster_from_plain(unsigned char *out,
                                      const unsigned char *plain,
                                      size_t plain_len, int decrypted,
                                      const unsigned char *random_secret,
                                      unsigned int client_version,
                                      unsigned int alt_version);

#endif
