/*
 * pkcs11uri: formatting. The output always parses back to an equal URI:
 * only characters the parser accepts literally in that component are
 * left unescaped, and every delimiter is escaped.
 */
#include "uri_internal.h"

#include <stdlib.h>
#include <string.h>

/* Writes into out when it is not NULL, and always counts, so one routine
 * both sizes and fills the result. */
typedef struct sink {
    char *out;
    size_t len;
} sink;

static void put(sink *s, const char *text, size_t n)
{
    if (s->out != NULL)
        memcpy(s->out + s->len, text, n);
    s->len += n;
}

static void put_str(sink *s, const char *text)
{
    put(s, text, strlen(text));
}

/* Characters left literal in a value: unreserved plus a few pk11-res-avail
 * ones that read well (":" for "file:", "," in "Snake Oil, Inc."), and "/"
 * in the query (paths). "=", "&", ";", "?", "%", space and all non-ASCII
 * bytes are always escaped. */
static bool keep_literal(unsigned char c, bool in_query)
{
    if (uri_is_unreserved(c))
        return true;
    switch (c) {
    case ':':
    case '@':
    case '!':
    case '$':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
        return true;
    case '/':
        return in_query;
    default:
        return false;
    }
}

static void put_value(sink *s, const unsigned char *data, size_t len,
                      bool in_query, bool escape_all)
{
    static const char hex[] = "0123456789ABCDEF";

    for (size_t i = 0; i < len; i++) {
        if (!escape_all && keep_literal(data[i], in_query)) {
            put(s, (const char *)&data[i], 1);
        } else {
            char esc[3] = { '%', hex[data[i] >> 4], hex[data[i] & 0x0f] };
            put(s, esc, 3);
        }
    }
}

/* Emits the separator before an attribute: ';' between path attributes,
 * '?' before the first query attribute and '&' between the others. */
static void put_separator(sink *s, bool in_query, size_t *n_path,
                          size_t *n_query)
{
    if (!in_query) {
        if ((*n_path)++ > 0)
            put(s, ";", 1);
    } else {
        put(s, (*n_query)++ > 0 ? "&" : "?", 1);
    }
}

static void put_attribute(sink *s, const char *name,
                          const unsigned char *data, size_t len,
                          bool in_query, bool escape_all, size_t *n_path,
                          size_t *n_query)
{
    put_separator(s, in_query, n_path, n_query);
    put_str(s, name);
    put(s, "=", 1);
    put_value(s, data, len, in_query, escape_all);
}

static void put_vendor(sink *s, const p11uri *uri, bool in_query,
                       size_t *n_path, size_t *n_query)
{
    for (size_t i = 0; i < uri->vendor_count; i++) {
        const p11uri_vendor_attr *v = &uri->vendor[i];
        if (v->in_query == in_query)
            put_attribute(s, v->name, v->data, v->len, in_query, false,
                          n_path, n_query);
    }
}

static void put_uri(sink *s, const p11uri *uri, unsigned int flags)
{
    size_t n_path = 0, n_query = 0;

    put_str(s, "pkcs11:");
    for (int pass = 0; pass < 2; pass++) {
        bool in_query = pass == 1;
        for (size_t i = 0; i < P11URI_ATTR_COUNT; i++) {
            const p11uri_value *v = &uri->values[i];
            p11uri_attr attr = (p11uri_attr)i;

            if (!v->present || uri_is_query_attr(attr) != in_query)
                continue;
            if (attr == P11URI_PIN_VALUE && (flags & P11URI_FORMAT_OMIT_PIN))
                continue;
            /* ids are binary: always fully %XX, as RFC 7512 suggests */
            put_attribute(s, p11uri_attr_name(attr), v->data, v->len,
                          in_query, attr == P11URI_ID, &n_path, &n_query);
        }
        put_vendor(s, uri, in_query, &n_path, &n_query);
    }
}

char *p11uri_format(const p11uri *uri, unsigned int flags)
{
    sink measure = { NULL, 0 };

    if (uri == NULL)
        return NULL;
    put_uri(&measure, uri, flags);

    sink fill = { malloc(measure.len + 1), 0 };
    if (fill.out == NULL)
        return NULL;
    put_uri(&fill, uri, flags);
    fill.out[fill.len] = '\0';
    return fill.out;
}
