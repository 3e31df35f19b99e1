/* The encodings a provider must do itself around a raw token signature:
 * DigestInfo for PKCS#1 v1.5, EMSA-PSS for tokens with only raw RSA,
 * ECDSA r||s to DER, and the signature AlgorithmIdentifier that X.509 and
 * CMS embed. Pure functions over OpenSSL's public API; no Cryptoki. */
#ifndef PKCS11PROV_SIG_ENCODE_H
#define PKCS11PROV_SIG_ENCODE_H

#include <stddef.h>

#include <openssl/evp.h>

/* The DER DigestInfo prefix for a digest (by OpenSSL name or alias, e.g.
 * "SHA256", "SHA2-256", "sha256"): SHA-1, SHA-224, SHA-256, SHA-384,
 * SHA-512, SHA-512/224, SHA-512/256, SHA3-224..512. Sets *len; NULL when
 * the digest has none. */
const unsigned char *p11prov_digest_info_prefix(const EVP_MD *md,
                                                size_t *len);

/* Writes prefix||hash into out (capacity out_size). Returns the length,
 * or 0 when the digest is unknown, hash_len differs from the digest's
 * size, or out is too small. */
size_t p11prov_digest_info(const EVP_MD *md, const unsigned char *hash,
                           size_t hash_len, unsigned char *out,
                           size_t out_size);

/* Salt-length conventions, as OpenSSL's RSA_PSS_SALTLEN_* values. */
#define P11PROV_PSS_SALTLEN_DIGEST (-1)
#define P11PROV_PSS_SALTLEN_MAX (-3)
#define P11PROV_PSS_SALTLEN_AUTO (-2) /* for signing: same as MAX */

/* The salt length a PSS signature over an RSA key of modulus_bits uses for
 * a requested saltlen (a P11PROV_PSS_SALTLEN_* value or >= 0). Returns -1
 * when it does not fit (key too small for digest + salt). */
int p11prov_pss_salt_length(int requested, const EVP_MD *md,
                            int modulus_bits);

/* EMSA-PSS-ENCODE (RFC 8017 9.1.1) of an already computed hash mHash,
 * with MGF1 over mgf1_md and a random salt of salt_len bytes (from
 * RAND_bytes_ex(libctx)), for a modulus of modulus_bits. Writes the
 * encoded message, left-padded with a zero byte when needed so it is
 * exactly ceil(modulus_bits / 8) bytes (ready for a raw RSA private
 * operation), into out. Returns that length or 0 on error. */
size_t p11prov_pss_encode(OSSL_LIB_CTX *libctx, const EVP_MD *md,
                          const EVP_MD *mgf1_md, const unsigned char *hash,
                          size_t hash_len, int salt_len, int modulus_bits,
                          unsigned char *out, size_t out_size);

/* A raw ECDSA signature r||s (each half field-size bytes, as PKCS#11's
 * CKM_ECDSA returns) to DER ECDSA-Sig-Value. Returns the DER length or 0
 * (sig_len odd or 0, out too small). */
size_t p11prov_ecdsa_raw_to_der(const unsigned char *raw, size_t raw_len,
                                unsigned char *out, size_t out_size);

/* The largest DER ECDSA signature for a curve whose order has order_bits
 * bits (what EVP_PKEY_get_size reports). */
size_t p11prov_ecdsa_der_max_size(int order_bits);

/* DER AlgorithmIdentifier of a signature, into out; returns the length or
 * 0 when the combination has none.
 *   RSA PKCS#1 v1.5: sha*WithRSAEncryption with NULL parameters
 *   RSA-PSS: RSASSA-PSS with RSASSA-PSS-params (hash, MGF1 hash, salt
 *            length as actually used, trailer omitted), as OpenSSL writes
 *   ECDSA: ecdsa-with-SHA* without parameters
 *   Ed25519 / Ed448: the key OID, no parameters (md NULL) */
size_t p11prov_aid_rsa_pkcs1(const EVP_MD *md, unsigned char *out,
                             size_t out_size);
size_t p11prov_aid_rsa_pss(const EVP_MD *md, const EVP_MD *mgf1_md,
                           int salt_len, unsigned char *out, size_t out_size);
size_t p11prov_aid_ecdsa(const EVP_MD *md, unsigned char *out,
                         size_t out_size);
size_t p11prov_aid_eddsa(int is_ed448, unsigned char *out, size_t out_size);

#endif
