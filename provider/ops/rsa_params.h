/* RSA parameters shared by signature and asym_cipher, with OpenSSL's names
 * and values: pad modes, digests (OAEP, MGF1, the signature's), PSS salt
 * lengths, and the PKCS#11 hash and MGF1 mechanisms for a digest. */
#ifndef PKCS11PROV_RSA_PARAMS_H
#define PKCS11PROV_RSA_PARAMS_H

#include <stdbool.h>

#include <openssl/core.h>
#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

typedef struct p11prov_ctx P11PROV_CTX;

/* Which operation asks: each accepts its own pad modes. */
#define P11PROV_RSA_FOR_SIGNATURE 1u
#define P11PROV_RSA_FOR_CIPHER 2u

/* Reads a pad-mode parameter, by name or number; 0 when the mode is not
 * one the operation takes. */
int p11prov_rsa_pad_mode_get(const OSSL_PARAM *p, unsigned int operation,
                             int *mode);

/* Writes a pad mode as the parameter's type asks (name or number). */
int p11prov_rsa_pad_mode_set(OSSL_PARAM *p, int mode);

/* Reads a PSS salt length parameter: a number, "digest", "max", "auto" or
 * a decimal string. */
int p11prov_rsa_saltlen_get(const OSSL_PARAM *p, int *saltlen);
int p11prov_rsa_saltlen_set(OSSL_PARAM *p, int saltlen);

/* (ECDSA's digest parameters too.) Sets *slot to the digest the parameter name_key names, with the
 * properties in props_key (saved in *props_slot when that is not NULL);
 * keeps the digest there when it is the same. Absent: 1, unchanged. Raises
 * an error naming the parameter and returns 0 when it is bad. */
int p11prov_digest_param(P11PROV_CTX *ctx, const OSSL_PARAM params[],
                         const char *name_key, const char *props_key,
                         EVP_MD **slot, char **props_slot);

/* The OAEP digest in *slot, SHA-1 (OpenSSL's default, fetched with props)
 * when none is set; NULL with an error raised when it cannot be had. */
const EVP_MD *p11prov_rsa_oaep_md(P11PROV_CTX *ctx, EVP_MD **slot,
                                  const char *props);

/* The CKM_SHA* mechanism of a digest (SHA-1, SHA-224..SHA-512) for the
 * parameters of CKM_RSA_PKCS_PSS and CKM_RSA_PKCS_OAEP, and its
 * CKG_MGF1_* in *mgf (mgf may be NULL); CK_UNAVAILABLE_INFORMATION when
 * PKCS#11 names none. */
CK_MECHANISM_TYPE p11prov_hash_mechanism(const EVP_MD *md,
                                         CK_RSA_PKCS_MGF_TYPE *mgf);

#endif
