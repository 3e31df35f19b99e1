/*
 * RFC 7512 "pkcs11:" URIs: parse strictly, match against Cryptoki info
 * structures, build object search templates, and format.
 *
 * Plain C11 with no OpenSSL dependency; only the PKCS#11 types are used.
 */
#ifndef PKCS11PROV_URI_H
#define PKCS11PROV_URI_H

#include <stdbool.h>
#include <stddef.h>

#include <p11-kit/pkcs11.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every attribute RFC 7512 defines, path attributes first, then query. */
typedef enum p11uri_attr {
    P11URI_TOKEN,
    P11URI_MANUFACTURER,
    P11URI_SERIAL,
    P11URI_MODEL,
    P11URI_LIBRARY_MANUFACTURER,
    P11URI_LIBRARY_DESCRIPTION,
    P11URI_LIBRARY_VERSION,
    P11URI_SLOT_MANUFACTURER,
    P11URI_SLOT_DESCRIPTION,
    P11URI_SLOT_ID,
    P11URI_OBJECT,
    P11URI_ID,
    P11URI_TYPE,
    /* query attributes; the parser also takes pin-value and pin-source
     * in the path, where p11-kit and others accept them */
    P11URI_PIN_VALUE,
    P11URI_PIN_SOURCE,
    P11URI_MODULE_NAME,
    P11URI_MODULE_PATH,
    P11URI_ATTR_COUNT
} p11uri_attr;

/* A decoded attribute value. data is NUL-terminated for convenience, but
 * may contain NUL bytes itself (binary id, labels): len is authoritative. */
typedef struct p11uri_value {
    bool present;
    unsigned char *data;
    size_t len;
} p11uri_value;

/* A vendor ("x-" prefixed) attribute, kept so formatting round-trips. */
typedef struct p11uri_vendor_attr {
    char *name;          /* including the "x-" prefix */
    unsigned char *data; /* decoded value, NUL-terminated */
    size_t len;
    bool in_query; /* path or query component */
} p11uri_vendor_attr;

typedef struct p11uri {
    p11uri_value values[P11URI_ATTR_COUNT];
    /* Typed forms of the attributes that have one; valid when present. */
    CK_VERSION library_version;
    CK_SLOT_ID slot_id;
    CK_OBJECT_CLASS object_class; /* from type= */
    p11uri_vendor_attr *vendor;
    size_t vendor_count;
} p11uri;

typedef enum p11uri_status {
    P11URI_OK = 0,
    P11URI_ERR_MEMORY,
    P11URI_ERR_SCHEME,            /* does not start with "pkcs11:" */
    P11URI_ERR_UNKNOWN_ATTRIBUTE, /* e.g. "objet=" */
    P11URI_ERR_DUPLICATE_ATTRIBUTE,
    P11URI_ERR_BAD_ESCAPE, /* "%" not followed by two hex digits */
    P11URI_ERR_BAD_VALUE,  /* type, library-version, slot-id, ... */
    P11URI_ERR_SYNTAX      /* missing "=", empty name, bad character */
} p11uri_status;

/* Where and why parsing failed. attribute is the offending name ("" when
 * none applies); position is the byte offset into the input text. */
typedef struct p11uri_error {
    p11uri_status status;
    size_t position;
    char attribute[48];
    char message[160];
} p11uri_error;

/* Parses text into a newly allocated URI. On failure returns the status,
 * leaves *out NULL and fills err (which may be NULL). pin-value and
 * pin-source are accepted in the path too, with the same meaning as in the
 * query (each at most once across both); formatting puts them in the
 * query. */
p11uri_status p11uri_parse(const char *text, p11uri **out, p11uri_error *err);

/* An empty URI ("pkcs11:"), for building one attribute by attribute. */
p11uri *p11uri_new(void);

/* Frees the URI; the pin-value is wiped first. NULL is fine. */
void p11uri_free(p11uri *uri);

/* Sets (replaces) an attribute from raw, already-decoded bytes. Typed
 * attributes (library-version, slot-id, type) are validated as in parsing.
 * Returns P11URI_OK, P11URI_ERR_BAD_VALUE or P11URI_ERR_MEMORY. */
p11uri_status p11uri_set(p11uri *uri, p11uri_attr attr, const void *data,
                         size_t len);

/* Removes an attribute (wiping it if it is the PIN). */
void p11uri_unset(p11uri *uri, p11uri_attr attr);

/* The attribute's RFC 7512 name, e.g. "library-version". */
const char *p11uri_attr_name(p11uri_attr attr);

/* Human-readable text for a status. */
const char *p11uri_status_string(p11uri_status status);

/* Matching. An attribute absent from the URI matches anything; a present
 * one must equal the info field with its space padding removed. */
bool p11uri_match_module_info(const p11uri *uri, const CK_INFO *info);
bool p11uri_match_slot_info(const p11uri *uri, CK_SLOT_ID slot_id,
                            const CK_SLOT_INFO *info);
bool p11uri_match_token_info(const p11uri *uri, const CK_TOKEN_INFO *info);

/* Sets token, manufacturer, serial and model from a token's info (trailing
 * padding removed): describes the token an object was found on. */
p11uri_status p11uri_set_token_info(p11uri *uri, const CK_TOKEN_INFO *info);

/* Fills tmpl with the C_FindObjectsInit template for the URI: CKA_CLASS
 * (from type), CKA_LABEL (object), CKA_ID (id), in that order, only those
 * present. The entries point into uri. Returns the number used (<= 3). */
size_t p11uri_object_template(const p11uri *uri, CK_ATTRIBUTE tmpl[3]);

/* Formats the URI (path attributes in the order of p11uri_attr, vendor
 * attributes after them, then query attributes). With
 * P11URI_FORMAT_OMIT_PIN the pin-value is left out (for messages and
 * logs). Returns a malloc()ed string, or NULL when out of memory. */
#define P11URI_FORMAT_OMIT_PIN 0x1u
char *p11uri_format(const p11uri *uri, unsigned int flags);

/* True when both URIs hold the same attributes with the same values. */
bool p11uri_equal(const p11uri *a, const p11uri *b);

#ifdef __cplusplus
}
#endif

#endif /* PKCS11PROV_URI_H */
