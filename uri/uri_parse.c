/*
 * pkcs11uri: strict RFC 7512 parsing.
 *
 *   pk11-URI   = "pkcs11" ":" pk11-path *1("?" pk11-query)
 *   pk11-path  = *1(pk11-pattr *(";" pk11-pattr))
 *   pk11-query = *1(pk11-qattr *("&" pk11-qattr))
 *
 * One extension: pin-value and pin-source are also accepted in the path
 * ("pkcs11:token=a;pin-value=1234"), as p11-kit, libp11 and
 * latchset/pkcs11-provider accept them and tools write them there. They
 * mean exactly what they mean in the query, and the two places share one
 * value each: given in both, the second is a duplicate.
 *
 * Every error names the offending attribute (when there is one) and the
 * byte offset of the problem, never an attribute's value: the value may
 * be the PIN.
 */
#include "uri_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char scheme[] = "pkcs11:";
#define SCHEME_LEN (sizeof(scheme) - 1)

/* How much of an attribute name messages quote, so they stay whole
 * sentences within p11uri_error.message. */
#define SHOWN(len) ((int)((size_t)(len) > 40 ? 40 : (size_t)(len)))

typedef struct parser {
    const char *text;
    p11uri *uri;
    p11uri_error *err;
} parser;

/* One "name=value" of the path or the query, as offsets into the text. */
typedef struct segment {
    size_t start, eq, end; /* name is [start, eq), value (eq, end) */
    bool in_query;
    /* A PIN attribute in the path: its value may also hold the characters
     * only the query allows ("/" of pin-source=file:/path, "|"). */
    bool query_chars;
} segment;

/* Records an error: name (len bytes, may be NULL) is the offending
 * attribute, fmt/... the message. */
#if defined(__GNUC__)
__attribute__((format(printf, 6, 7)))
#endif
static p11uri_status
fail(parser *p, p11uri_status status, size_t pos, const char *name,
     size_t len, const char *fmt, ...)
{
    p11uri_error *err = p->err;
    va_list ap;

    if (err == NULL)
        return status;
    err->status = status;
    err->position = pos;
    if (name == NULL)
        len = 0;
    if (len >= sizeof(err->attribute))
        len = sizeof(err->attribute) - 1;
    if (len > 0)
        memcpy(err->attribute, name, len);
    err->attribute[len] = '\0';

    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return status;
}

/* An error about the attribute of s as a whole: "<what> "name" at
 * position N<tail>", positioned at its name. */
static p11uri_status fail_attr(parser *p, p11uri_status status,
                               const segment *s, const char *what,
                               const char *tail)
{
    const char *name = p->text + s->start;
    size_t len = s->eq - s->start;

    return fail(p, status, s->start, name, len,
                "%s \"%.*s\" at position %zu%s", what, SHOWN(len), name,
                s->start, tail);
}

static p11uri_status fail_memory(parser *p)
{
    return fail(p, P11URI_ERR_MEMORY, 0, NULL, 0,
                "out of memory while parsing the URI");
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool scheme_matches(const char *text)
{
    for (size_t i = 0; i < SCHEME_LEN; i++) {
        char c = text[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != scheme[i]) /* also stops at the terminating NUL */
            return false;
    }
    return true;
}

/* Checks a value's characters and escapes, then decodes it into a new
 * NUL-terminated buffer. */
static p11uri_status decode_value(parser *p, const segment *s,
                                  unsigned char **out, size_t *out_len)
{
    const char *t = p->text;
    const char *name = t + s->start;
    size_t name_len = s->eq - s->start;
    size_t n = 0;

    for (size_t i = s->eq + 1; i < s->end; i++) {
        if (t[i] == '%') {
            if (i + 2 >= s->end || hex_digit(t[i + 1]) < 0
                || hex_digit(t[i + 2]) < 0)
                return fail(
                    p, P11URI_ERR_BAD_ESCAPE, i, name, name_len,
                    "invalid percent escape in the value of \"%.*s\" at position %zu",
                    SHOWN(name_len), name, i);
            i += 2;
        } else if (!uri_is_value_char((unsigned char)t[i], s->in_query)
                   && !(s->query_chars
                        && uri_is_value_char((unsigned char)t[i], true))) {
            return fail(
                p, P11URI_ERR_SYNTAX, i, name, name_len,
                "character not allowed unescaped in the value of \"%.*s\" at position %zu",
                SHOWN(name_len), name, i);
        }
        n++;
    }

    unsigned char *buf = malloc(n + 1);
    if (buf == NULL)
        return fail_memory(p);
    n = 0;
    for (size_t i = s->eq + 1; i < s->end; i++) {
        if (t[i] == '%') {
            buf[n++] = (unsigned char)(hex_digit(t[i + 1]) << 4
                                       | hex_digit(t[i + 2]));
            i += 2;
        } else {
            buf[n++] = (unsigned char)t[i];
        }
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return P11URI_OK;
}

/* Appends a vendor attribute, taking ownership of data (also on error). */
static p11uri_status add_vendor(parser *p, const segment *s,
                                unsigned char *data, size_t len)
{
    p11uri *uri = p->uri;
    size_t name_len = s->eq - s->start;
    char *name = (char *)uri_memdup(p->text + s->start, name_len);
    p11uri_vendor_attr *grown = realloc(uri->vendor, (uri->vendor_count + 1)
                                                         * sizeof(*grown));

    if (grown != NULL)
        uri->vendor = grown;
    if (name == NULL || grown == NULL) {
        free(name);
        free(data);
        return fail_memory(p);
    }
    grown[uri->vendor_count++] = (p11uri_vendor_attr){
        .name = name,
        .data = data,
        .len = len,
        .in_query = s->in_query,
    };
    return P11URI_OK;
}

/* A standard attribute's value: typed ones allow no escapes, and must
 * parse; the PIN is never quoted. */
static p11uri_status store_standard(parser *p, const segment *s,
                                    p11uri_attr attr)
{
    const char *name = p->text + s->start;
    size_t name_len = s->eq - s->start;
    uri_typed typed = { { 0, 0 }, 0, 0 };
    unsigned char *data;
    size_t len;
    p11uri_status st;

    st = decode_value(p, s, &data, &len);
    if (st != P11URI_OK)
        return st;

    if (attr == P11URI_LIBRARY_VERSION || attr == P11URI_SLOT_ID
        || attr == P11URI_TYPE) {
        /* The grammar spells these with plain characters only. */
        const char *pct = memchr(p->text + s->eq + 1, '%',
                                 s->end - s->eq - 1);
        if (pct != NULL || !uri_check_typed(attr, data, len, &typed)) {
            size_t pos = pct != NULL ? (size_t)(pct - p->text) : s->eq + 1;
            free(data);
            return fail(p, P11URI_ERR_BAD_VALUE, pos, name, name_len,
                        "invalid value for \"%.*s\" at position %zu: %s",
                        SHOWN(name_len), name, pos,
                        pct != NULL ? "percent escapes are not allowed here"
                                    : uri_typed_expectation(attr));
        }
    }
    uri_store(p->uri, attr, data, len, &typed);
    return P11URI_OK;
}

static bool is_pin_attr(p11uri_attr attr)
{
    return attr == P11URI_PIN_VALUE || attr == P11URI_PIN_SOURCE;
}

static p11uri_status parse_attribute(parser *p, segment *s)
{
    const char *t = p->text;
    size_t i = s->start;

    if (s->start == s->end)
        return fail(p, P11URI_ERR_SYNTAX, s->start, NULL, 0,
                    "empty attribute at position %zu", s->start);
    for (; i < s->end && t[i] != '='; i++) {
        if (!uri_is_name_char((unsigned char)t[i]))
            return fail(
                p, P11URI_ERR_SYNTAX, i, NULL, 0,
                "character not allowed in an attribute name at position %zu",
                i);
    }
    if (i == s->end)
        return fail(p, P11URI_ERR_SYNTAX, s->start, NULL, 0,
                    "missing \"=\" in the attribute at position %zu",
                    s->start);
    if (i == s->start)
        return fail(p, P11URI_ERR_SYNTAX, s->start, NULL, 0,
                    "empty attribute name at position %zu", s->start);
    s->eq = i;

    const char *name = t + s->start;
    size_t name_len = s->eq - s->start;
    p11uri_attr attr = uri_lookup_attr(name, name_len);

    if (attr == P11URI_ATTR_COUNT) {
        /* Only "x-" names are vendor attributes: a typo such as "objet"
         * must not be ignored. */
        if (name_len <= 2 || memcmp(name, "x-", 2) != 0)
            return fail_attr(p, P11URI_ERR_UNKNOWN_ATTRIBUTE, s,
                             "unknown attribute", "");
        if (uri_find_vendor(p->uri, name, name_len) != NULL)
            return fail_attr(p, P11URI_ERR_DUPLICATE_ATTRIBUTE, s,
                             "duplicate attribute", "");
        unsigned char *data;
        size_t len;
        p11uri_status st = decode_value(p, s, &data, &len);
        return st != P11URI_OK ? st : add_vendor(p, s, data, len);
    }
    if (is_pin_attr(attr) && !s->in_query)
        s->query_chars = true;
    else if (uri_is_query_attr(attr) != s->in_query)
        return s->in_query
                   ? fail_attr(p, P11URI_ERR_SYNTAX, s, "path attribute",
                               " must come before \"?\"")
                   : fail_attr(p, P11URI_ERR_SYNTAX, s, "query attribute",
                               " must come after \"?\"");
    if (p->uri->values[attr].present)
        return fail_attr(
            p, P11URI_ERR_DUPLICATE_ATTRIBUTE, s, "duplicate attribute",
            is_pin_attr(attr) ? " (allowed once, in the path or the query)"
                              : "");
    return store_standard(p, s, attr);
}

/* Parses the attributes of [start, end) separated by sep. An empty
 * component is fine; an empty attribute within one is not. */
static p11uri_status parse_component(parser *p, size_t start, size_t end,
                                     char sep, bool in_query)
{
    if (start == end)
        return P11URI_OK;
    for (;;) {
        const char *stop = memchr(p->text + start, sep, end - start);
        segment s = {
            .start = start,
            .eq = start,
            .end = stop != NULL ? (size_t)(stop - p->text) : end,
            .in_query = in_query,
            .query_chars = false,
        };
        p11uri_status st = parse_attribute(p, &s);
        if (st != P11URI_OK)
            return st;
        if (stop == NULL)
            return P11URI_OK;
        start = s.end + 1;
    }
}

p11uri_status p11uri_parse(const char *text, p11uri **out, p11uri_error *err)
{
    parser p = { .text = text, .uri = NULL, .err = err };
    p11uri_status st;

    if (err != NULL)
        memset(err, 0, sizeof(*err));
    if (out == NULL)
        return fail(&p, P11URI_ERR_SYNTAX, 0, NULL, 0,
                    "no place to store the URI (position %zu)", (size_t)0);
    *out = NULL;
    if (text == NULL || !scheme_matches(text))
        return fail(&p, P11URI_ERR_SCHEME, 0, NULL, 0,
                    "the URI does not start with \"pkcs11:\" (position %zu)",
                    (size_t)0);

    p.uri = p11uri_new();
    if (p.uri == NULL)
        return fail_memory(&p);

    size_t total = strlen(text);
    const char *question = strchr(text + SCHEME_LEN, '?');
    size_t path_end = question != NULL ? (size_t)(question - text) : total;

    st = parse_component(&p, SCHEME_LEN, path_end, ';', false);
    if (st == P11URI_OK && question != NULL)
        st = parse_component(&p, path_end + 1, total, '&', true);
    if (st != P11URI_OK) {
        p11uri_free(p.uri); /* wipes a PIN parsed before the error */
        return st;
    }
    *out = p.uri;
    return P11URI_OK;
}
