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

typedef struct p11prov_key {
    unsigned int magic; /* P11PROV_KEY_MAGIC: references are checked */
    int refs;
    P11PROV_CTX *provctx;
    P11PROV_KEY_KIND kind;
    EVP_PKEY *soft;        /* public twin, or the whole software key */
    bool soft_has_private; /* a software key with its private part */
    /* On a token (object.token NULL for software keys): */
    P11PROV_OBJECT object;
    CK_KEY_TYPE key_type;
    bool can_sign, can_decrypt, can_derive;
    CK_MECHANISM_TYPE *allowed; /* CKA_ALLOWED_MECHANISMS; NULL: any */
    CK_ULONG allowed_count;
    int bits; /* modulus or group order bits */
} P11PROV_KEY;

#define P11PROV_KEY_MAGIC 0x70313170u

/* key_kind.c: the kind's OpenSSL key type name ("RSA", "EC", "ED25519", ...). */
const char *p11prov_key_kind_name(P11PROV_KEY_KIND kind);

/* Reads a key object found on a token, in one batch of attributes: type,
 * usages, allowed mechanisms, and its public part when the object holds
 * it. A public part the object lacks is, with find_public, looked for here
 * (a public key object, then a certificate, with the key's CKA_ID: a
 * search each); without, key->soft stays NULL for the caller, who finds
 * many keys' public parts at once, to set with p11prov_key_set_public.
 * Returns NULL without raising an error for key types this provider does
 * not handle (*unsupported set), and NULL with an error raised on
 * failure. */
P11PROV_KEY *p11prov_key_from_token(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                                    CK_SESSION_HANDLE session,
                                    CK_OBJECT_HANDLE object,
                                    CK_OBJECT_CLASS object_class,
                                    bool find_public, bool *unsupported);

/* Gives the key its public part (takes pkey) and its size. */
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

/* key_kind.c: classifies a CKK_EC / CKK_EC_EDWARDS key by its CKA_EC_PARAMS (curve OID,
 * or the printable names SoftHSM uses for Edwards curves). Returns 1 and
 * sets kind and (for EC) the group name, 0 when unsupported. */
int p11prov_ec_params_kind(const unsigned char *params, CK_ULONG len,
                           P11PROV_KEY_KIND *kind, const char **group_name);

#endif
