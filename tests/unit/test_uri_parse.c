/*
 * Parsing: the valid table with its decoded values, the invalid table
 * with status, attribute and position, and the error messages.
 */
#include "pkcs11_uri.h"
#include "test_util.h"
#include "uri_cases.h"

#include <stdio.h>
#include <string.h>

static const expected_attr *find_expected(const valid_case *c,
                                          p11uri_attr attr)
{
    for (const expected_attr *e = c->attrs; e->bytes != NULL; e++) {
        if (e->attr == attr)
            return e;
    }
    return NULL;
}

static void check_typed(const valid_case *c, const p11uri *uri)
{
    if (find_expected(c, P11URI_LIBRARY_VERSION) != NULL)
        CHECKF(uri->library_version.major == c->lib_major
                   && uri->library_version.minor == c->lib_minor,
               "%s: library-version %u.%u", c->text,
               uri->library_version.major, uri->library_version.minor);
    if (find_expected(c, P11URI_SLOT_ID) != NULL)
        CHECKF(uri->slot_id == c->slot, "%s: slot-id %lu", c->text,
               uri->slot_id);
    if (find_expected(c, P11URI_TYPE) != NULL)
        CHECKF(uri->object_class == c->klass, "%s: class %lu", c->text,
               uri->object_class);
}

static void check_vendor(const valid_case *c, const p11uri *uri)
{
    size_t n = 0;

    for (const expected_vendor *e = c->vendor; e->name != NULL; e++, n++) {
        bool found = false;
        for (size_t i = 0; i < uri->vendor_count; i++) {
            const p11uri_vendor_attr *v = &uri->vendor[i];
            if (strcmp(v->name, e->name) != 0)
                continue;
            found = true;
            CHECKF(v->in_query == e->in_query, "%s: %s component", c->text,
                   e->name);
            CHECKF(v->len == e->len && memcmp(v->data, e->bytes, e->len) == 0
                       && v->data[v->len] == '\0',
                   "%s: %s value", c->text, e->name);
        }
        CHECKF(found, "%s: vendor attribute %s missing", c->text, e->name);
    }
    CHECKF(uri->vendor_count == n, "%s: %zu vendor attributes, expected %zu",
           c->text, uri->vendor_count, n);
}

static void test_valid(void)
{
    char got[256], want[256];

    for (size_t i = 0; i < n_valid_cases; i++) {
        const valid_case *c = &valid_cases[i];
        p11uri *uri = NULL;
        p11uri_error err;
        p11uri_status st = p11uri_parse(c->text, &uri, &err);

        if (!CHECKF(st == P11URI_OK && uri != NULL, "%s: status %d (%s)",
                    c->text, (int)st, err.message))
            continue;
        CHECKF(err.status == P11URI_OK && err.message[0] == '\0', "%s",
               c->text);
        for (size_t a = 0; a < P11URI_ATTR_COUNT; a++) {
            const expected_attr *e = find_expected(c, (p11uri_attr)a);
            const p11uri_value *v = &uri->values[a];
            const char *name = p11uri_attr_name((p11uri_attr)a);

            if (e == NULL) {
                CHECKF(!v->present, "%s: unexpected %s", c->text, name);
                continue;
            }
            if (!CHECKF(v->present, "%s: %s missing", c->text, name))
                continue;
            CHECKF(v->len == e->len && memcmp(v->data, e->bytes, e->len) == 0,
                   "%s: %s is \"%s\", expected \"%s\"", c->text, name,
                   tu_escape(got, sizeof(got), v->data, v->len),
                   tu_escape(want, sizeof(want), e->bytes, e->len));
            CHECKF(v->data[v->len] == '\0', "%s: %s not NUL-terminated",
                   c->text, name);
        }
        check_typed(c, uri);
        check_vendor(c, uri);
        p11uri_free(uri);
    }
}

static void test_invalid(void)
{
    for (size_t i = 0; i < n_invalid_cases; i++) {
        const invalid_case *c = &invalid_cases[i];
        static p11uri sentinel;
        p11uri *uri = &sentinel; /* must be reset to NULL */
        p11uri_error err;
        p11uri_status st = p11uri_parse(c->text, &uri, &err);

        CHECKF(st == c->status, "\"%s\": status %s, expected %s (%s)",
               c->text, p11uri_status_string(st),
               p11uri_status_string(c->status), err.message);
        CHECKF(uri == NULL, "\"%s\": *out not NULL on failure", c->text);
        CHECKF(err.status == st, "\"%s\": err.status", c->text);
        CHECKF(strcmp(err.attribute, c->attribute) == 0,
               "\"%s\": attribute \"%s\", expected \"%s\"", c->text,
               err.attribute, c->attribute);
        CHECKF(err.position == c->position,
               "\"%s\": position %zu, expected %zu", c->text, err.position,
               c->position);

        /* A whole sentence giving the attribute and the position. */
        char where[48];
        snprintf(where, sizeof(where), "position %zu", c->position);
        CHECKF(strstr(err.message, where) != NULL, "\"%s\": message \"%s\"",
               c->text, err.message);
        if (c->attribute[0] != '\0') {
            char quoted[64];
            snprintf(quoted, sizeof(quoted), "\"%s\"", c->attribute);
            CHECKF(strstr(err.message, quoted) != NULL,
                   "\"%s\": message \"%s\"", c->text, err.message);
        }
        /* Without an error structure the status is the same. */
        uri = &sentinel;
        CHECK(p11uri_parse(c->text, &uri, NULL) == c->status && uri == NULL);
    }
}

static void test_messages(void)
{
    p11uri *uri;
    p11uri_error err;

    CHECK(p11uri_parse("pkcs11:objet=x", &uri, &err)
          == P11URI_ERR_UNKNOWN_ATTRIBUTE);
    CHECKF(strcmp(err.message, "unknown attribute \"objet\" at position 7")
               == 0,
           "%s", err.message);
    CHECK(p11uri_parse("pkcs11:token=a;token=b", &uri, &err)
          == P11URI_ERR_DUPLICATE_ATTRIBUTE);
    CHECKF(strcmp(err.message, "duplicate attribute \"token\" at position 15")
               == 0,
           "%s", err.message);
    /* A PIN attribute's duplicate may be in the other component: say so. */
    CHECK(p11uri_parse("pkcs11:pin-value=1?pin-value=1", &uri, &err)
          == P11URI_ERR_DUPLICATE_ATTRIBUTE);
    CHECKF(strcmp(err.message,
                  "duplicate attribute \"pin-value\" at position 19 "
                  "(allowed once, in the path or the query)")
               == 0,
           "%s", err.message);

    /* The PIN's characters never appear in a message. */
    static const char *const pin_errors[] = {
        "pkcs11:?pin-value=Zq81%G4",
        "pkcs11:?pin-value=Zq81 x",
        "pkcs11:?token=Zq81",
        "pkcs11:?pin-value=Zq81&pin-value=Zq81",
        "pkcs11:?pin-value=Zq81&objet=Zq8",
        "pkcs11:?pin-value=Zq81;",
        "pkcs11:?pin-value=Zq81%",
        /* the same in the path */
        "pkcs11:pin-value=Zq81%G4",
        "pkcs11:token=a;pin-value=Zq81 x",
        "pkcs11:pin-value=Zq81?pin-value=Zq81",
        "pkcs11:pin-value=Zq81;objet=Zq8",
        "pkcs11:pin-value=Zq81;",
        "pkcs11:pin-value=Zq81%",
        "pkcs11:pin-value=Zq81#",
        "pkcs11:pin-source=Zq81?pin-source=Zq81",
    };
    for (size_t i = 0; i < sizeof(pin_errors) / sizeof(pin_errors[0]); i++) {
        CHECK(p11uri_parse(pin_errors[i], &uri, &err) != P11URI_OK);
        CHECKF(strstr(err.message, "Zq8") == NULL
                   && strstr(err.attribute, "Zq8") == NULL,
               "%s leaks the PIN: %s", pin_errors[i], err.message);
        CHECKF(err.message[0] != '\0', "%s: no message", pin_errors[i]);
    }

    /* Long names are cut in the message but it stays a sentence. */
    char text[300] = "pkcs11:";
    memset(text + 7, 'q', 200);
    strcpy(text + 207, "=1");
    CHECK(p11uri_parse(text, &uri, &err) == P11URI_ERR_UNKNOWN_ATTRIBUTE);
    CHECKF(strstr(err.message, "at position 7") != NULL, "%s", err.message);
    CHECK(strlen(err.attribute) == sizeof(err.attribute) - 1);

    CHECK(p11uri_parse(NULL, &uri, &err) == P11URI_ERR_SCHEME && uri == NULL);
    CHECK(p11uri_parse("pkcs11:", NULL, &err) != P11URI_OK);
}

static void test_names(void)
{
    CHECK(strcmp(p11uri_attr_name(P11URI_LIBRARY_VERSION), "library-version")
          == 0);
    CHECK(strcmp(p11uri_attr_name(P11URI_MODULE_PATH), "module-path") == 0);
    CHECK(strcmp(p11uri_attr_name(P11URI_ATTR_COUNT), "(invalid attribute)")
          == 0);
    for (int st = P11URI_OK; st <= P11URI_ERR_SYNTAX; st++)
        CHECK(p11uri_status_string((p11uri_status)st)[0] != '\0');
    /* Every name parses back to its own attribute. */
    for (size_t a = 0; a < P11URI_ATTR_COUNT; a++) {
        char text[96];
        const char *value = a == P11URI_LIBRARY_VERSION ? "1"
                            : a == P11URI_SLOT_ID       ? "1"
                            : a == P11URI_TYPE          ? "data"
                                                        : "v";
        snprintf(text, sizeof(text), "pkcs11:%s%s=%s",
                 a >= P11URI_PIN_VALUE ? "?" : "",
                 p11uri_attr_name((p11uri_attr)a), value);
        p11uri *uri;
        if (CHECKF(p11uri_parse(text, &uri, NULL) == P11URI_OK, "%s", text)) {
            CHECKF(uri->values[a].present, "%s", text);
            p11uri_free(uri);
        }
    }
    /* Only the PIN attributes may also stand in the path. */
    for (size_t a = P11URI_PIN_VALUE; a < P11URI_ATTR_COUNT; a++) {
        char text[96];
        bool pin = a == P11URI_PIN_VALUE || a == P11URI_PIN_SOURCE;
        snprintf(text, sizeof(text), "pkcs11:%s=v",
                 p11uri_attr_name((p11uri_attr)a));
        p11uri *uri = NULL;
        p11uri_status st = p11uri_parse(text, &uri, NULL);
        CHECKF(pin ? st == P11URI_OK && uri->values[a].present
                   : st == P11URI_ERR_SYNTAX,
               "%s: %s", text, p11uri_status_string(st));
        p11uri_free(uri);
    }
}

int main(void)
{
    test_valid();
    test_invalid();
    test_messages();
    test_names();
    return tu_finish("test_uri_parse");
}
