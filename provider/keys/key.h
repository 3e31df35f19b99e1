/* Key objects: what keymgmt, signature and the store pass around. A token
 * key references its object (token, class, id, label, and the handle,
 * found again when the module was re-initialised) and holds a software
 * twin of its public part for all public-key work. A software key (made
 * by keymgmt import or generation, when OpenSSL picks this provider for a
 * key that is not on a token) is entirely the twin. */
#ifndef PKCS11PROV_KEY_H
#define PKCS11PROV_KEY_H

#include <openssl/core.h>
#include <openssl/evp.h>

#include "core/object.h"

typedef enum p11prov_key_kind {
    P11PROV_KEY_RSA,
    P11PROV_KEY_RSA_PSS,
    P11PROV_KEY_EC,
    P11PROV_KEY_ED25519,
    P11PROV_KEY_ED448,
} P11PROV_KEY_KIND;

typedef struct p11prov_companions P11PROV_COMPANIONS;

/* What OpenSSL's key managers report of any key of a kind and size,
 * which OpenSSL asks of every key it loads or signs with: bits, security
 * bits, largest signature, from 3.5 the security category, and the
 * default and mandatory digests. */
#define P11PROV_DIGEST_NAME_MAX 32
typedef struct p11prov_key_profile {
    int bits; /* modulus or group order bits; written last */
    int security_bits;
    int max_size;          /* largest signature or RSA block */
    int security_category; /* -1: this OpenSSL has none */
    /* "" and false: the key manager does not answer */
    char default_digest[P11PROV_DIGEST_NAME_MAX];
    char mandatory_digest[P11PROV_DIGEST_NAME_MAX];
    bool has_default_digest, has_mandatory_digest;
    /* EC keys: the group order, as long as each of ECDSA's r and s */
    unsigned char ec_order[66];
    int ec_order_len; /* 0: unknown */
} P11PROV_KEY_PROFILE;

typedef struct p11prov_key {
    unsigned int magic; /* P11PROV_KEY_MAGIC: references are checked */
    int refs;
    P11PROV_CTX *provctx;
    P11PROV_KEY_KIND kind;
    /* The whole software key, or a token key's public twin: built when
     * first needed (p11prov_key_public), set once. */
    EVP_PKEY *soft;
    bool soft_has_private; /* a software key with its private part */
    /* On a token (object.token NULL for software keys): */
    P11PROV_OBJECT object;
    CK_KEY_TYPE key_type;
    bool can_sign, can_decrypt, can_derive;
    CK_MECHANISM_TYPE *allowed; /* CKA_ALLOWED_MECHANISMS; NULL: any */
    CK_ULONG allowed_count;
    P11PROV_KEY_PROFILE profile; /* 0s until known */
    const char *group_name;      /* EC keys: the curve */
    /* Where the twin comes from: the key object's own public attributes
     * as read (modulus and exponent, or EC parameters and point), else
     * the public key objects and certificates found with it. */
    CK_ATTRIBUTE own_public[4];
    P11PROV_COMPANIONS *companions;
    bool public_missing; /* looked for everywhere, not found */
} P11PROV_KEY;

#define P11PROV_KEY_MAGIC 0x70313170u

/* key_kind.c: the kind's OpenSSL key type name ("RSA", "EC", "ED25519", ...). */
const char *p11prov_key_kind_name(P11PROV_KEY_KIND kind);

/* Reads a key object found on a token, in one batch of attributes: type,
 * usages, allowed mechanisms, size, and the public attributes the object
 * holds; its public part is built only when needed (p11prov_key_public),
 * from those, else from the companions given (which it references; may
 * be NULL), else from a search of its own. Returns NULL with an error
 * raised either way: *unsupported set for a key to pass over (a type
 * this provider does not handle, or values the module got wrong), unset
 * when reading it failed. */
P11PROV_KEY *p11prov_key_from_token(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                                    CK_SESSION_HANDLE session,
                                    CK_OBJECT_HANDLE object,
                                    CK_OBJECT_CLASS object_class,
                                    P11PROV_COMPANIONS *companions,
                                    bool *unsupported);

/* The key's public part (a software key's whole key): built on first use,
 * then kept. NULL, with an error raised, when the key has none anywhere.
 * Safe from any thread. */
EVP_PKEY *p11prov_key_public(const P11PROV_KEY *key);

/* Whether the key object itself carries its public part (as read). */
bool p11prov_key_has_own_public(const P11PROV_KEY *key);

/* Whether the key has a public part, without building it: a software
 * key's, or a token key's not yet found missing. */
bool p11prov_key_may_have_public(const P11PROV_KEY *key);

/* Gives a key just read its public part (takes pkey), before the key is
 * shared. */
void p11prov_key_set_public(P11PROV_KEY *key, EVP_PKEY *pkey);

/* An empty software key of the kind (keymgmt new/import/gen). */
P11PROV_KEY *p11prov_key_new_software(P11PROV_CTX *ctx,
                                      P11PROV_KEY_KIND kind);

P11PROV_KEY *p11prov_key_ref(P11PROV_KEY *key);
void p11prov_key_unref(P11PROV_KEY *key);

/* Whether CKA_ALLOWED_MECHANISMS (when present) permits mechanism. */
bool p11prov_key_allows(const P11PROV_KEY *key, CK_MECHANISM_TYPE mechanism);

/* Usable: configured in pkcs11-module-unlisted-mechanisms, or the key
 * permits the mechanism and the token lists it (or lists nothing, or the
 * key's own allowed list names it: tpm2-pkcs11 does PSS without listing
 * it). */
bool p11prov_mechanism_usable(P11PROV_KEY *key, CK_MECHANISM_TYPE mechanism);

/* The error for an operation whose mechanisms the key does not allow or
 * its token does not offer ("WHAT: not allowed for URI ..."); returns 0. */
int p11prov_refuse_mechanism(P11PROV_CTX *ctx, const P11PROV_KEY *key,
                             const char *what);

/* Whether the key is a private key on a token. */
static inline bool p11prov_key_on_token(const P11PROV_KEY *key)
{
    return key->object.token != NULL;
}

/* key_public.c: the attributes that hold a public part (on a key or
 * public key object). */
extern const CK_ATTRIBUTE_TYPE p11prov_public_attribute_types[];
extern const size_t p11prov_public_attribute_count;

/* The software twin of a public part from attributes as read (RSA modulus
 * and exponent, or EC parameters and point); NULL when they lack it. */
EVP_PKEY *p11prov_public_from_attributes(P11PROV_CTX *ctx,
                                         P11PROV_KEY_KIND kind,
                                         const CK_ATTRIBUTE *attrs,
                                         CK_ULONG count);

/* The twin from a DER certificate, if its key is of the kind. */
EVP_PKEY *p11prov_public_from_certificate(P11PROV_CTX *ctx,
                                          P11PROV_KEY_KIND kind,
                                          const unsigned char *der,
                                          CK_ULONG der_len);

/* The twin from a public key object whose handle is known. NULL when it
 * lacks the public part or cannot be read. */
EVP_PKEY *p11prov_public_from_object(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                                     CK_SESSION_HANDLE session,
                                     P11PROV_KEY_KIND kind,
                                     CK_OBJECT_HANDLE object);

/* The twin from the public key object, else the certificate, with the
 * key's CKA_ID (a search each): for one key. NULL when neither has it. */
EVP_PKEY *p11prov_public_from_companion(P11PROV_CTX *ctx,
                                        P11PROV_TOKEN *token,
                                        CK_SESSION_HANDLE session,
                                        const P11PROV_KEY *key);

/* Raises "no usable public key for URI"; returns 0. */
int p11prov_key_no_public(P11PROV_CTX *ctx, const P11PROV_KEY *key);

/* RSA keys this provider takes from a token: smaller ones are broken,
 * larger ones absurd. */
#define P11PROV_RSA_MIN_BITS 512
#define P11PROV_RSA_MAX_BITS 16384

/* What is wrong with an RSA modulus (n) and public exponent (e) as a token
 * gave them, either NULL when absent: NULL when nothing is (an odd modulus
 * of 512 to 16384 bits, an odd exponent above 1 and shorter). */
const char *p11prov_rsa_public_fault(const CK_ATTRIBUTE *n,
                                     const CK_ATTRIBUTE *e);

/* key_profile.c: what OpenSSL asks of every key, without its public part.
 * The bits of a big-endian modulus (leading zero bytes allowed). */
int p11prov_modulus_bits(const unsigned char *modulus, CK_ULONG len);
/* The profile of a key of the kind and curve (EC) or modulus size (RSA),
 * as OpenSSL's key managers report it (asked once per size). 0 when
 * unknown (an unsupported curve). */
int p11prov_key_profile_of(P11PROV_CTX *ctx, P11PROV_KEY_KIND kind,
                           const char *group_name, int modulus_bits,
                           P11PROV_KEY_PROFILE *profile);
/* The profile of a key that has its public part. */
void p11prov_key_profile_from(P11PROV_KEY_PROFILE *profile,
                              const EVP_PKEY *pkey);
/* Answers params when they ask only what the profile holds: 1; 0 when
 * some other parameter (or the profile, still unknown) needs the public
 * part; -1 when a parameter cannot take its value. */
int p11prov_key_profile_params(const P11PROV_KEY *key, OSSL_PARAM params[]);

/* key_companions.c: the public key objects and certificates that a search
 * for keys selects (template tmpl, without a class, values copied), read
 * once for all the keys of that search when the first of them needs its
 * public part, and paired by CKA_ID (by label for keys without one). */
P11PROV_COMPANIONS *p11prov_companions_new(P11PROV_CTX *ctx,
                                           P11PROV_TOKEN *token,
                                           const CK_ATTRIBUTE *tmpl,
                                           CK_ULONG count);
/* Public key objects and certificates the key search itself found (it had
 * no class in its template): all there are, so no search of their own is
 * made while the module is not re-initialised. Returns 0 when out of
 * memory. */
int p11prov_companions_know(P11PROV_COMPANIONS *companions,
                            CK_OBJECT_CLASS object_class,
                            CK_OBJECT_HANDLE handle);
void p11prov_companions_all_known(P11PROV_COMPANIONS *companions);
P11PROV_COMPANIONS *p11prov_companions_ref(P11PROV_COMPANIONS *companions);
void p11prov_companions_unref(P11PROV_COMPANIONS *companions);
/* The key's public part from its companions; NULL when none (or more than
 * one) pairs with it, or they could not be read (error raised). */
EVP_PKEY *p11prov_companions_public(P11PROV_COMPANIONS *companions,
                                    const P11PROV_KEY *key);

/* key_kind.c: classifies a CKK_EC / CKK_EC_EDWARDS key by its CKA_EC_PARAMS (curve OID,
 * or the printable names SoftHSM uses for Edwards curves). Returns 1 and
 * sets kind and (for EC) the group name, 0 when unsupported. */
int p11prov_ec_params_kind(const unsigned char *params, CK_ULONG len,
                           P11PROV_KEY_KIND *kind, const char **group_name);

#endif
