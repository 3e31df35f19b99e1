/* URI key files: a file that stands for a private key on a token by
 * holding the key's pkcs11: URI instead of key material. The layout is
 * latchset/pkcs11-provider's, so files written by either provider load in
 * the other:
 *
 *   PEM label  "PKCS#11 PROVIDER URI"
 *   DER        SEQUENCE {
 *                desc VisibleString "PKCS#11 Provider URI v1.0",
 *                uri  UTF8String    -- RFC 7512 URI
 *              }
 *
 * This codec uses only libcrypto (PEM helpers) and the URI library. */
#ifndef PKCS11PROV_URI_FILE_H
#define PKCS11PROV_URI_FILE_H

#include <stddef.h>

#define P11PROV_URI_FILE_PEM_LABEL "PKCS#11 PROVIDER URI"
#define P11PROV_URI_FILE_DESC "PKCS#11 Provider URI v1.0"
/* The data structure name a decoder that read the PEM passes on with the
 * DER (latchset's name for it, so either provider's key decoders accept
 * the other's PEM decoder output). */
#define P11PROV_URI_FILE_STRUCTURE "pk11-uri"
/* Limits: a URI file is small; anything larger is not one. */
#define P11PROV_URI_FILE_MAX_URI 8192
#define P11PROV_URI_FILE_MAX_DER 16384
#define P11PROV_URI_FILE_MSG_MAX 160

typedef enum p11prov_uri_file_status {
    P11PROV_URI_FILE_OK = 0,
    /* Not a URI file at all (no SEQUENCE starting with a VisibleString):
     * some other DER structure, for other decoders. */
    P11PROV_URI_FILE_NOT_OURS,
    /* Starts like a URI file but is malformed: bad or truncated DER,
     * wrong element types, bytes after the structure. */
    P11PROV_URI_FILE_CORRUPT,
    P11PROV_URI_FILE_BAD_DESC, /* not exactly P11PROV_URI_FILE_DESC */
    P11PROV_URI_FILE_BAD_URI,  /* not UTF-8, or not a valid pkcs11: URI */
    P11PROV_URI_FILE_MEMORY,
} p11prov_uri_file_status;

/* The DER of a URI file for uri, which must be a valid pkcs11: URI. The
 * URI is written in its canonical form (p11uri_format) without its
 * pin-value: a key file must never carry a PIN. A pin-source is kept: it
 * names where the PIN is (a file path, a command), which is not secret,
 * and lets a key file bring its PIN source along. *der is
 * OPENSSL_malloc()ed. On failure *der is NULL and msg says why. */
p11prov_uri_file_status p11prov_uri_file_encode(
    const char *uri, unsigned char **der, size_t *der_len,
    char msg[P11PROV_URI_FILE_MSG_MAX]);

/* Parses the DER of a URI file, strictly: exactly the SEQUENCE of the
 * description and the URI, definite lengths that match (the long form is
 * accepted even where the short one would do: some tools write it
 * always), nothing after it, the exact description, and a URI that is
 * UTF-8 without NUL and parses as a pkcs11: URI. *uri is the URI text as
 * stored, NUL-terminated and OPENSSL_malloc()ed. On failure *uri is NULL
 * and msg says why (for every status but OK). */
p11prov_uri_file_status p11prov_uri_file_decode(
    const unsigned char *der, size_t der_len, char **uri,
    char msg[P11PROV_URI_FILE_MSG_MAX]);

/* Whether der (possibly incomplete) begins like a URI file: a SEQUENCE
 * whose first element is a VisibleString. Used to tell a truncated URI
 * file from other data. */
int p11prov_uri_file_looks_ours(const unsigned char *der, size_t der_len);

#endif
