/*
 * pkcs11uri: the URI object itself (creation, attribute storage, typed
 * attribute validation, comparison, wiping).
 */
#include "uri_internal.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Indexed by p11uri_attr. */
static const char *const attr_names[P11URI_ATTR_COUNT] = {
    [P11URI_TOKEN] = "token",
    [P11URI_MANUFACTURER] = "manufacturer",
    [P11URI_SERIAL] = "serial",
    [P11URI_MODEL] = "model",
    [P11URI_LIBRARY_MANUFACTURER] = "library-manufacturer",
    [P11URI_LIBRARY_DESCRIPTION] = "library-description",
    [P11URI_LIBRARY_VERSION] = "library-version",
    [P11URI_SLOT_MANUFACTURER] = "slot-manufacturer",
    [P11URI_SLOT_DESCRIPTION] = "slot-description",
    [P11URI_SLOT_ID] = "slot-id",
    [P11URI_OBJECT] = "object",
    [P11URI_ID] = "id",
    [P11URI_TYPE] = "type",
    [P11URI_PIN_VALUE] = "pin-value",
    [P11URI_PIN_SOURCE] = "pin-source",
    [P11URI_MODULE_NAME] = "module-name",
    [P11URI_MODULE_PATH] = "module-path",
};

/* type= values and the object classes they select. */
static const struct {
    const char *name;
    CK_OBJECT_CLASS klass;
} object_types[] = {
    { "private", CKO_PRIVATE_KEY }, { "public", CKO_PUBLIC_KEY },
    { "cert", CKO_CERTIFICATE },    { "secret-key", CKO_SECRET_KEY },
    { "data", CKO_DATA },
};

const char *p11uri_attr_name(p11uri_attr attr)
{
    if ((unsigned)attr >= P11URI_ATTR_COUNT)
        return "(invalid attribute)";
    return attr_names[attr];
}

const char *p11uri_status_string(p11uri_status status)
{
    switch (status) {
    case P11URI_OK:
        return "success";
    case P11URI_ERR_MEMORY:
        return "out of memory";
    case P11URI_ERR_SCHEME:
        return "not a pkcs11: URI";
    case P11URI_ERR_UNKNOWN_ATTRIBUTE:
        return "unknown attribute";
    case P11URI_ERR_DUPLICATE_ATTRIBUTE:
        return "duplicate attribute";
    case P11URI_ERR_BAD_ESCAPE:
        return "invalid percent escape";
    case P11URI_ERR_BAD_VALUE:
        return "invalid attribute value";
    case P11URI_ERR_SYNTAX:
        return "URI syntax error";
    }
    return "unknown status";
}

p11uri_attr uri_lookup_attr(const char *name, size_t len)
{
    for (size_t i = 0; i < P11URI_ATTR_COUNT; i++) {
        if (strlen(attr_names[i]) == len
            && memcmp(attr_names[i], name, len) == 0)
            return (p11uri_attr)i;
    }
    return P11URI_ATTR_COUNT;
}

void uri_wipe(void *p, size_t n)
{
    /* Volatile stores are observable behaviour: they cannot be elided
     * even though the memory is freed right after. */
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

unsigned char *uri_memdup(const void *data, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    unsigned char *buf = malloc(len + 1);
    if (buf == NULL)
        return NULL;
    if (len > 0)
        memcpy(buf, data, len);
    buf[len] = '\0';
    return buf;
}

/* Parses 1*DIGIT from text[*i..len) into *out, failing above max. */
static bool parse_decimal(const unsigned char *text, size_t len, size_t *i,
                          unsigned long max, unsigned long *out)
{
    size_t start = *i;
    unsigned long acc = 0;

    while (*i < len && text[*i] >= '0' && text[*i] <= '9') {
        unsigned long digit = (unsigned long)(text[*i] - '0');
        if (acc > (max - digit) / 10)
            return false;
        acc = acc * 10 + digit;
        (*i)++;
    }
    *out = acc;
    return *i > start;
}

bool uri_check_typed(p11uri_attr attr, const unsigned char *text, size_t len,
                     uri_typed *out)
{
    size_t i = 0;
    unsigned long major, minor = 0;

    switch (attr) {
    case P11URI_LIBRARY_VERSION:
        /* 1*DIGIT *1("." 1*DIGIT), each part a CK_BYTE; "M" is M.0 */
        if (!parse_decimal(text, len, &i, UCHAR_MAX, &major))
            return false;
        if (i < len) {
            if (text[i] != '.')
                return false;
            i++;
            if (!parse_decimal(text, len, &i, UCHAR_MAX, &minor))
                return false;
        }
        if (i != len)
            return false;
        out->version.major = (CK_BYTE)major;
        out->version.minor = (CK_BYTE)minor;
        return true;
    case P11URI_SLOT_ID:
        /* 1*DIGIT, a CK_ULONG */
        if (!parse_decimal(text, len, &i, ULONG_MAX, &major) || i != len)
            return false;
        out->slot = (CK_SLOT_ID)major;
        return true;
    case P11URI_TYPE:
        for (size_t t = 0; t < sizeof(object_types) / sizeof(object_types[0]);
             t++) {
            if (strlen(object_types[t].name) == len
                && memcmp(object_types[t].name, text, len) == 0) {
                out->klass = object_types[t].klass;
                return true;
            }
        }
        return false;
    default:
        return true;
    }
}

const char *uri_typed_expectation(p11uri_attr attr)
{
    switch (attr) {
    case P11URI_LIBRARY_VERSION:
        return "expected \"M\" or \"M.N\" with decimal numbers from 0 to 255";
    case P11URI_SLOT_ID:
        return "expected a decimal slot number";
    case P11URI_TYPE:
        return "expected private, public, cert, secret-key or data";
    default:
        return "";
    }
}

/* Releases a value's bytes, wiping them first when they are the PIN. */
static void release_value(p11uri_value *v, bool secret)
{
    if (v->data != NULL && secret)
        uri_wipe(v->data, v->len + 1);
    free(v->data);
    v->data = NULL;
    v->len = 0;
    v->present = false;
}

void uri_store(p11uri *uri, p11uri_attr attr, unsigned char *buf, size_t len,
               const uri_typed *typed)
{
    p11uri_value *v = &uri->values[attr];

    release_value(v, attr == P11URI_PIN_VALUE);
    v->data = buf;
    v->len = len;
    v->present = true;
    switch (attr) {
    case P11URI_LIBRARY_VERSION:
        uri->library_version = typed->version;
        break;
    case P11URI_SLOT_ID:
        uri->slot_id = typed->slot;
        break;
    case P11URI_TYPE:
        uri->object_class = typed->klass;
        break;
    default:
        break;
    }
}

p11uri *p11uri_new(void)
{
    /* calloc: every attribute absent, no vendor attributes */
    return calloc(1, sizeof(p11uri));
}

void p11uri_unset(p11uri *uri, p11uri_attr attr)
{
    if (uri == NULL || (unsigned)attr >= P11URI_ATTR_COUNT)
        return;
    release_value(&uri->values[attr], attr == P11URI_PIN_VALUE);
}

void p11uri_free(p11uri *uri)
{
    if (uri == NULL)
        return;
    for (size_t i = 0; i < P11URI_ATTR_COUNT; i++)
        p11uri_unset(uri, (p11uri_attr)i);
    for (size_t i = 0; i < uri->vendor_count; i++) {
        free(uri->vendor[i].name);
        free(uri->vendor[i].data);
    }
    free(uri->vendor);
    free(uri);
}

p11uri_status p11uri_set(p11uri *uri, p11uri_attr attr, const void *data,
                         size_t len)
{
    uri_typed typed = { { 0, 0 }, 0, 0 };

    if (uri == NULL || (unsigned)attr >= P11URI_ATTR_COUNT
        || (data == NULL && len > 0))
        return P11URI_ERR_BAD_VALUE;
    if (!uri_check_typed(attr, data, len, &typed))
        return P11URI_ERR_BAD_VALUE;

    unsigned char *buf = uri_memdup(data, len);
    if (buf == NULL)
        return P11URI_ERR_MEMORY;
    uri_store(uri, attr, buf, len, &typed);
    return P11URI_OK;
}

static bool same_bytes(const unsigned char *a, size_t alen,
                       const unsigned char *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

const p11uri_vendor_attr *uri_find_vendor(const p11uri *uri, const char *name,
                                          size_t len)
{
    for (size_t i = 0; i < uri->vendor_count; i++) {
        const p11uri_vendor_attr *v = &uri->vendor[i];
        if (strlen(v->name) == len && memcmp(v->name, name, len) == 0)
            return v;
    }
    return NULL;
}

bool p11uri_equal(const p11uri *a, const p11uri *b)
{
    if (a == NULL || b == NULL)
        return a == b;

    for (size_t i = 0; i < P11URI_ATTR_COUNT; i++) {
        const p11uri_value *va = &a->values[i], *vb = &b->values[i];
        if (va->present != vb->present)
            return false;
        if (va->present && !same_bytes(va->data, va->len, vb->data, vb->len))
            return false;
    }
    /* Typed forms follow from the text, so they need no comparison.
     * Vendor attributes compare as a set (names are unique, the parser
     * rejects repeats): formatting groups them by component, which may
     * change their relative order. */
    if (a->vendor_count != b->vendor_count)
        return false;
    for (size_t i = 0; i < a->vendor_count; i++) {
        const p11uri_vendor_attr *va = &a->vendor[i];
        const p11uri_vendor_attr *vb = uri_find_vendor(b, va->name,
                                                       strlen(va->name));
        if (vb == NULL || va->in_query != vb->in_query
            || !same_bytes(va->data, va->len, vb->data, vb->len))
            return false;
    }
    return true;
}
