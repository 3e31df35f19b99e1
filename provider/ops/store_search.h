/* OSSL_STORE search criteria (OSSL_STORE_find: subject, issuer and
 * serial, alias, fingerprint) turned into Cryptoki template attributes, so
 * the token narrows the search, and checked again on what it returns. */
#ifndef PKCS11PROV_STORE_SEARCH_H
#define PKCS11PROV_STORE_SEARCH_H

#include <stdbool.h>

#include <openssl/core.h>
#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#include "pkcs11_uri.h"

typedef struct p11prov_ctx P11PROV_CTX;

typedef struct store_search {
    unsigned char *subject, *issuer, *serial; /* DER Name, Name, INTEGER */
    CK_ULONG subject_len, issuer_len, serial_len;
    char *alias; /* a label */
    /* A certificate's fingerprint: no Cryptoki attribute holds it, so
     * the certificates the URI selects are checked here. */
    EVP_MD *digest;
    unsigned char *fingerprint;
    CK_ULONG fingerprint_len;
} STORE_SEARCH;

/* The settable parameters the store accepts for searching. */
#define P11PROV_STORE_SEARCH_PARAMS                                          \
    OSSL_PARAM_octet_string(OSSL_STORE_PARAM_SUBJECT, NULL, 0),              \
        OSSL_PARAM_octet_string(OSSL_STORE_PARAM_ISSUER, NULL, 0),           \
        OSSL_PARAM_BN(OSSL_STORE_PARAM_SERIAL, NULL, 0),                     \
        OSSL_PARAM_utf8_string(OSSL_STORE_PARAM_ALIAS, NULL, 0),             \
        OSSL_PARAM_utf8_string(OSSL_STORE_PARAM_DIGEST, NULL, 0),            \
        OSSL_PARAM_octet_string(OSSL_STORE_PARAM_FINGERPRINT, NULL, 0)

/* Takes the criteria from params; raises an error and returns 0 when one
 * is malformed. */
int p11prov_store_search_set(P11PROV_CTX *ctx, STORE_SEARCH *search,
                             const OSSL_PARAM params[]);

bool p11prov_store_search_active(const STORE_SEARCH *search);

/* Subject, issuer and serial, or a fingerprint, select certificates
 * only. */
bool p11prov_store_search_certs_only(const STORE_SEARCH *search);

/* Whether the alias contradicts the URI's own object label (then nothing
 * can match). */
bool p11prov_store_search_impossible(const STORE_SEARCH *search,
                                     const p11uri *uri);

/* Appends the criteria's attributes for objects of object_class to tmpl
 * (room for 4); returns how many. The label of an alias is left out when
 * the URI has one (the same, or the search is impossible). */
CK_ULONG p11prov_store_search_template(const STORE_SEARCH *search,
                                       const p11uri *uri,
                                       CK_OBJECT_CLASS object_class,
                                       CK_ATTRIBUTE *tmpl);

/* Whether a certificate (DER) meets the subject, issuer, serial and
 * fingerprint criteria: the token's CKA_SUBJECT and the like are not
 * trusted alone. */
bool p11prov_store_search_cert_matches(const STORE_SEARCH *search,
                                       const unsigned char *der,
                                       CK_ULONG der_len);

void p11prov_store_search_free(STORE_SEARCH *search);

#endif
