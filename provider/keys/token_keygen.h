/* Key pair generation inside a token, for keymgmt's gen with pkcs11_uri. */
#ifndef PKCS11PROV_KEYGEN_H
#define PKCS11PROV_KEYGEN_H

#include <openssl/bn.h>

#include "keys/key.h"

/* The keygen parameter naming the token (and label/id) of the new key. */
#define P11PROV_PARAM_KEYGEN_URI "pkcs11_uri"

typedef struct p11prov_keygen_spec {
    P11PROV_KEY_KIND kind;
    size_t rsa_bits;      /* 0: 2048 */
    BIGNUM *rsa_exponent; /* NULL: 65537 */
    char group[64];       /* EC curve name; "" for others */
} P11PROV_KEYGEN_SPEC;

/* Generates the pair on the token the URI names (exactly one), with the
 * URI's object (label) and id (chosen when absent). The private key is
 * sensitive and never extractable. Refuses a label or id that exists.
 * The PIN comes from the URI or the configuration. */
P11PROV_KEY *p11prov_token_generate(P11PROV_CTX *ctx, const char *uri,
                                    const P11PROV_KEYGEN_SPEC *spec);

#endif
