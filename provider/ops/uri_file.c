/* URI key files: DER encoding and strict parsing (see uri_file.h). The
 * structure is two strings in a SEQUENCE, so the TLVs are read and written
 * here directly: nothing is left to a lenient general-purpose parser. */
#include "ops/uri_file.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "pkcs11_uri.h"

#define TAG_SEQUENCE 0x30
#define TAG_UTF8STRING 0x0c
#define TAG_VISIBLESTRING 0x1a

typedef struct tlv {
    unsigned char tag;
    const unsigned char *value;
    size_t len;
} TLV;

static p11prov_uri_file_status fail(char *msg, p11prov_uri_file_status status,
                                    const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static p11prov_uri_file_status fail(char *msg, p11prov_uri_file_status status,
                                    const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    vsnprintf(msg, P11PROV_URI_FILE_MSG_MAX, fmt, args);
    va_end(args);
    return status;
}

/* The length of a TLV header's length octets, and its value: short form,
 * or long form with 1 to 4 octets (not minimal: accepted). 0 when
 * malformed, indefinite, or beyond the available bytes. */
static size_t length_octets(const unsigned char *p, size_t avail, size_t *len)
{
    size_t n;

    if (avail < 1)
        return 0;
    if (p[0] < 0x80) {
        *len = p[0];
        return 1;
    }
    n = p[0] & 0x7fu;
    if (n == 0 || n > 4 || avail < 1 + n)
        return 0;
    *len = 0;
    for (size_t i = 1; i <= n; i++)
        *len = (*len << 8) | p[i];
    return 1 + n;
}

/* One TLV of [*p, end) with a single-octet tag, whose value lies wholly
 * inside. Advances *p past it. */
static bool read_tlv(const unsigned char **p, const unsigned char *end,
                     TLV *tlv)
{
    const unsigned char *q = *p;
    size_t n, len;

    if (q >= end || (q[0] & 0x1fu) == 0x1fu)
        return false;
    n = length_octets(q + 1, (size_t)(end - q) - 1, &len);
    if (n == 0 || len > (size_t)(end - q) - 1 - n)
        return false;
    tlv->tag = q[0];
    tlv->value = q + 1 + n;
    tlv->len = len;
    *p = tlv->value + len;
    return true;
}

int p11prov_uri_file_looks_ours(const unsigned char *der, size_t der_len)
{
    size_t n, len;

    if (der == NULL || der_len < 2 || der[0] != TAG_SEQUENCE)
        return 0;
    /* An indefinite length (refused by the parser) still starts one. */
    n = der[1] == 0x80 ? 1 : length_octets(der + 1, der_len - 1, &len);
    return n > 0 && der_len > 1 + n && der[1 + n] == TAG_VISIBLESTRING;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF,
 * and no NUL (the URI becomes a C string). */
static bool valid_utf8(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t extra;
        unsigned long cp;

        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            extra = 1;
            cp = c & 0x1fu;
        } else if (c >= 0xe0 && c <= 0xef) {
            extra = 2;
            cp = c & 0x0fu;
        } else if (c >= 0xf0 && c <= 0xf4) {
            extra = 3;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (len - i <= extra)
            return false;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xc0u) != 0x80u)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        if ((extra == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
            || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        i += extra + 1;
    }
    return true;
}

/* The description as found, printable for a message. */
static void printable(char *out, size_t size, const unsigned char *s,
                      size_t len)
{
    size_t i, n = len < size - 4 ? len : size - 4;

    for (i = 0; i < n; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
    if (n < len) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

p11prov_uri_file_status p11prov_uri_file_decode(
    const unsigned char *der, size_t der_len, char **uri,
    char msg[P11PROV_URI_FILE_MSG_MAX])
{
    const unsigned char *p = der, *end = der + der_len, *q, *inner_end;
    TLV seq, desc, text;
    p11uri_error error;
    p11uri *parsed = NULL;
    char shown[48];

    *uri = NULL;
    if (!p11prov_uri_file_looks_ours(der, der_len))
        return fail(msg, P11PROV_URI_FILE_NOT_OURS,
                    "not a PKCS#11 URI file (no SEQUENCE starting with a "
                    "VisibleString)");
    if (der_len > P11PROV_URI_FILE_MAX_DER)
        return fail(msg, P11PROV_URI_FILE_CORRUPT,
                    "URI file of %zu bytes: more than %d", der_len,
                    P11PROV_URI_FILE_MAX_DER);
    if (!read_tlv(&p, end, &seq))
        return fail(msg, P11PROV_URI_FILE_CORRUPT,
                    "URI file DER truncated or malformed (its SEQUENCE "
                    "claims more bytes than the %zu there are, or an "
                    "indefinite length)",
                    der_len);
    if (p != end)
        return fail(msg, P11PROV_URI_FILE_CORRUPT,
                    "%zu bytes after the URI file's SEQUENCE",
                    (size_t)(end - p));
    q = seq.value;
    inner_end = seq.value + seq.len;
    if (!read_tlv(&q, inner_end, &desc) || desc.tag != TAG_VISIBLESTRING)
        return fail(msg, P11PROV_URI_FILE_CORRUPT,
                    "URI file description malformed or truncated");
    if (!read_tlv(&q, inner_end, &text))
        return fail(msg, P11PROV_URI_FILE_CORRUPT,
                    "URI file has no well-formed URI element after its "
                    "description");
    if (text.tag != TAG_UTF8STRING)
        return fail(msg, P11PROV_URI_FILE_CORRUPT,
                    "URI file's URI is not a UTF8String (tag 0x%02x)",
                    text.tag);
    if (q != inner_end)
        return fail(msg, P11PROV_URI_FILE_CORRUPT,
                    "URI file has %zu unexpected bytes after its URI",
                    (size_t)(inner_end - q));
    if (desc.len != strlen(P11PROV_URI_FILE_DESC)
        || memcmp(desc.value, P11PROV_URI_FILE_DESC, desc.len) != 0) {
        printable(shown, sizeof(shown), desc.value, desc.len);
        return fail(msg, P11PROV_URI_FILE_BAD_DESC,
                    "URI file description is \"%s\", not \"%s\"", shown,
                    P11PROV_URI_FILE_DESC);
    }
    if (text.len == 0 || text.len > P11PROV_URI_FILE_MAX_URI)
        return fail(msg, P11PROV_URI_FILE_BAD_URI,
                    "URI file's URI is %zu bytes long (1 to %d allowed)",
                    text.len, P11PROV_URI_FILE_MAX_URI);
    if (!valid_utf8(text.value, text.len))
        return fail(msg, P11PROV_URI_FILE_BAD_URI,
                    "URI file's URI is not valid UTF-8 (or holds a NUL)");
    *uri = OPENSSL_malloc(text.len + 1);
    if (*uri == NULL)
        return fail(msg, P11PROV_URI_FILE_MEMORY, "out of memory");
    memcpy(*uri, text.value, text.len);
    (*uri)[text.len] = '\0';
    /* The parser's message names the attribute and position, never a
     * PIN value. */
    if (p11uri_parse(*uri, &parsed, &error) != P11URI_OK) {
        OPENSSL_free(*uri);
        *uri = NULL;
        if (error.status == P11URI_ERR_MEMORY)
            return fail(msg, P11PROV_URI_FILE_MEMORY, "out of memory");
        return fail(msg, P11PROV_URI_FILE_BAD_URI,
                    "URI file's URI is not a valid pkcs11: URI: %s",
                    error.message);
    }
    p11uri_free(parsed);
    return P11PROV_URI_FILE_OK;
}

static size_t header_size(size_t len)
{
    size_t n = 0;

    if (len < 0x80)
        return 2;
    for (size_t v = len; v > 0; v >>= 8)
        n++;
    return 2 + n;
}

static unsigned char *put_header(unsigned char *p, unsigned char tag,
                                 size_t len)
{
    size_t n = header_size(len) - 2;

    *p++ = tag;
    if (n == 0) {
        *p++ = (unsigned char)len;
        return p;
    }
    *p++ = (unsigned char)(0x80u | n);
    for (size_t i = n; i-- > 0;)
        *p++ = (unsigned char)(len >> (8 * i));
    return p;
}

p11prov_uri_file_status p11prov_uri_file_encode(
    const char *uri, unsigned char **der, size_t *der_len,
    char msg[P11PROV_URI_FILE_MSG_MAX])
{
    size_t desc_len = strlen(P11PROV_URI_FILE_DESC), text_len, inner;
    p11uri *parsed = NULL;
    p11uri_error error;
    char *text;
    unsigned char *p;

    *der = NULL;
    *der_len = 0;
    if (strlen(uri) > P11PROV_URI_FILE_MAX_URI)
        return fail(msg, P11PROV_URI_FILE_BAD_URI, "URI longer than %d bytes",
                    P11PROV_URI_FILE_MAX_URI);
    if (p11uri_parse(uri, &parsed, &error) != P11URI_OK) {
        if (error.status == P11URI_ERR_MEMORY)
            return fail(msg, P11PROV_URI_FILE_MEMORY, "out of memory");
        return fail(msg, P11PROV_URI_FILE_BAD_URI,
                    "not a valid pkcs11: URI: %s", error.message);
    }
    p11uri_unset(parsed, P11URI_PIN_VALUE);
    text = p11uri_format(parsed, P11URI_FORMAT_OMIT_PIN);
    p11uri_free(parsed);
    if (text == NULL)
        return fail(msg, P11PROV_URI_FILE_MEMORY, "out of memory");
    text_len = strlen(text);
    if (text_len > P11PROV_URI_FILE_MAX_URI) {
        free(text);
        return fail(msg, P11PROV_URI_FILE_BAD_URI, "URI longer than %d bytes",
                    P11PROV_URI_FILE_MAX_URI);
    }
    inner = header_size(desc_len) + desc_len + header_size(text_len)
            + text_len;
    *der_len = header_size(inner) + inner;
    *der = OPENSSL_malloc(*der_len);
    if (*der == NULL) {
        free(text);
        *der_len = 0;
        return fail(msg, P11PROV_URI_FILE_MEMORY, "out of memory");
    }
    p = put_header(*der, TAG_SEQUENCE, inner);
    p = put_header(p, TAG_VISIBLESTRING, desc_len);
    memcpy(p, P11PROV_URI_FILE_DESC, desc_len);
    p = put_header(p + desc_len, TAG_UTF8STRING, text_len);
    memcpy(p, text, text_len);
    free(text);
    return P11PROV_URI_FILE_OK;
}
