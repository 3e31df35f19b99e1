/*
 * Internals shared by the files of the pkcs11uri library. Not installed,
 * not part of the API.
 *
 * Beware: p11-kit's pkcs11.h #defines a few common words (value, count,
 * slot_id, ...) to Cryptoki field names, so this code avoids them as
 * identifiers.
 */
#ifndef PKCS11PROV_URI_INTERNAL_H
#define PKCS11PROV_URI_INTERNAL_H

#include "pkcs11_uri.h"

/* RFC 3986 "unreserved": never needs escaping anywhere. */
static inline bool uri_is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
           || c == '~';
}

/* RFC 7512 pk11-res-avail: reserved characters allowed unescaped in
 * both components because they delimit nothing there. */
static inline bool uri_is_res_avail(unsigned char c)
{
    switch (c) {
    case ':':
    case '[':
    case ']':
    case '@':
    case '!':
    case '$':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
    case '=':
        return true;
    default:
        return false;
    }
}

/* pk11-pchar / pk11-qchar without pct-encoded: what a path or query
 * value may hold literally. "&" only delimits in the query, "/", "?"
 * and "|" are only allowed there. */
static inline bool uri_is_value_char(unsigned char c, bool in_query)
{
    if (uri_is_unreserved(c) || uri_is_res_avail(c))
        return true;
    if (in_query)
        return c == '/' || c == '?' || c == '|';
    return c == '&';
}

/* pk11-v-attr-nm-char: the characters of any attribute name. */
static inline bool uri_is_name_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static inline bool uri_is_query_attr(p11uri_attr attr)
{
    return attr >= P11URI_PIN_VALUE;
}

/* Typed forms of library-version, slot-id and type, before they are
 * committed to a URI. */
typedef struct uri_typed {
    CK_VERSION version;
    CK_SLOT_ID slot;
    CK_OBJECT_CLASS klass;
} uri_typed;

/* Overwrites n bytes so that the compiler cannot drop the stores. */
void uri_wipe(void *p, size_t n);

/* The attribute called exactly name[0..len), or P11URI_ATTR_COUNT. */
p11uri_attr uri_lookup_attr(const char *name, size_t len);

/* Validates a typed attribute's text (true for untyped attributes) and
 * fills the matching field of *out. */
bool uri_check_typed(p11uri_attr attr, const unsigned char *text, size_t len,
                     uri_typed *out);

/* A human description of what a typed attribute must look like. */
const char *uri_typed_expectation(p11uri_attr attr);

/* Stores buf (malloc()ed, len bytes plus a NUL, ownership taken) as the
 * attribute's value with its already validated typed form, wiping the
 * value it replaces when it is the PIN. */
void uri_store(p11uri *uri, p11uri_attr attr, unsigned char *buf, size_t len,
               const uri_typed *typed);

/* The vendor attribute called name[0..len), or NULL. */
const p11uri_vendor_attr *uri_find_vendor(const p11uri *uri, const char *name,
                                          size_t len);

/* A NUL-terminated malloc()ed copy of len bytes, or NULL. */
unsigned char *uri_memdup(const void *data, size_t len);

#endif /* PKCS11PROV_URI_INTERNAL_H */
