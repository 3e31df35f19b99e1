/*
 * Formatting: exact output for a few URIs, parse(format(x)) == x for every
 * valid table entry and for URIs built with p11uri_set (including random
 * binary values), P11URI_FORMAT_OMIT_PIN, p11uri_set validation and
 * p11uri_equal.
 */
#include "pkcs11_uri.h"
#include "test_util.h"
#include "uri_cases.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* parse(format(uri)) must give an equal URI; returns the text (owned). */
static char *check_round_trip(const p11uri *uri, const char *what)
{
    char *text = p11uri_format(uri, 0);
    p11uri *again = NULL;
    p11uri_error err;

    if (!CHECKF(text != NULL, "%s: format failed", what))
        return NULL;
    if (CHECKF(p11uri_parse(text, &again, &err) == P11URI_OK,
               "%s: \"%s\" does not parse: %s", what, text, err.message)) {
        CHECKF(p11uri_equal(uri, again), "%s: \"%s\" parses differently",
               what, text);
        /* Formatting is canonical: a second round gives the same text. */
        char *second = p11uri_format(again, 0);
        CHECKF(second != NULL && strcmp(second, text) == 0,
               "%s: \"%s\" vs \"%s\"", what, text,
               second ? second : "(null)");
        free(second);
    }
    p11uri_free(again);
    return text;
}

static void test_table_round_trip(void)
{
    for (size_t i = 0; i < n_valid_cases; i++) {
        p11uri *uri = NULL;
        if (!CHECKF(p11uri_parse(valid_cases[i].text, &uri, NULL)
                        == P11URI_OK,
                    "%s", valid_cases[i].text))
            continue;
        free(check_round_trip(uri, valid_cases[i].text));
        p11uri_free(uri);
    }
}

static void expect_format(const char *input, unsigned int flags,
                          const char *expected)
{
    p11uri *uri = NULL;
    if (!CHECKF(p11uri_parse(input, &uri, NULL) == P11URI_OK, "%s", input))
        return;
    char *text = p11uri_format(uri, flags);
    CHECKF(text != NULL && strcmp(text, expected) == 0,
           "%s: got \"%s\", expected \"%s\"", input, text ? text : "(null)",
           expected);
    free(text);
    p11uri_free(uri);
}

static void test_exact_output(void)
{
    expect_format("pkcs11:", 0, "pkcs11:");
    expect_format("PKCS11:?", 0, "pkcs11:");
    /* Path attributes in enum order, vendor ones after, then the query. */
    expect_format(
        "pkcs11:type=cert;x-v=1;object=o;token=t?module-name=m&pin-value=1",
        0,
        "pkcs11:token=t;object=o;type=cert;x-v=1?pin-value=1&module-name=m");
    expect_format("pkcs11:id=abc", 0, "pkcs11:id=%61%62%63");
    expect_format("pkcs11:id=%ab%0f", 0, "pkcs11:id=%AB%0F");
    expect_format("pkcs11:object=%41%7e", 0, "pkcs11:object=A~");
    expect_format("pkcs11:object=a&b=c", 0, "pkcs11:object=a%26b%3Dc");
    expect_format("pkcs11:token=Snake%20Oil,%20Inc.", 0,
                  "pkcs11:token=Snake%20Oil,%20Inc.");
    expect_format("pkcs11:?pin-source=file:/etc/pin%3Fx", 0,
                  "pkcs11:?pin-source=file:/etc/pin%3Fx");
    expect_format("pkcs11:object=%2F", 0, "pkcs11:object=%2F");
    expect_format("pkcs11:library-version=1.23;slot-id=0042", 0,
                  "pkcs11:library-version=1.23;slot-id=0042");

    /* OMIT_PIN drops the pin-value only, and the "?" when nothing is left. */
    expect_format("pkcs11:token=t?pin-value=1234&module-name=m",
                  P11URI_FORMAT_OMIT_PIN, "pkcs11:token=t?module-name=m");
    expect_format("pkcs11:token=t?pin-value=1234", P11URI_FORMAT_OMIT_PIN,
                  "pkcs11:token=t");
    expect_format("pkcs11:?pin-value=1234&x-q=1", P11URI_FORMAT_OMIT_PIN,
                  "pkcs11:?x-q=1");
    expect_format("pkcs11:?pin-value=1234", 0, "pkcs11:?pin-value=1234");

    /* PIN attributes given in the path are written in the query, their
     * canonical place, and OMIT_PIN drops a path pin-value all the same. */
    expect_format("pkcs11:serial=0123;pin-value=S3cret;id=%01", 0,
                  "pkcs11:serial=0123;id=%01?pin-value=S3cret");
    expect_format("pkcs11:serial=0123;pin-value=S3cret;id=%01",
                  P11URI_FORMAT_OMIT_PIN, "pkcs11:serial=0123;id=%01");
    expect_format("pkcs11:pin-value=1234", P11URI_FORMAT_OMIT_PIN, "pkcs11:");
    expect_format("pkcs11:token=t;pin-source=file:/etc/pin|x;object=o", 0,
                  "pkcs11:token=t;object=o?pin-source=file:/etc/pin%7Cx");
    expect_format("pkcs11:token=t;pin-value=a&b;pin-source=/p?module-name=m",
                  P11URI_FORMAT_OMIT_PIN,
                  "pkcs11:token=t?pin-source=/p&module-name=m");
    expect_format("pkcs11:token=t;pin-value=a&b", 0,
                  "pkcs11:token=t?pin-value=a%26b");
}

static void test_set_round_trip(void)
{
#define S(lit) (lit), sizeof(lit) - 1
    static const struct {
        p11uri_attr attr;
        const char *bytes;
        size_t len;
    } sets[] = {
        { P11URI_ID, S("\x00\xff\x00%;\x80") },
        { P11URI_OBJECT, S("my key / with ? and ; and % and & and = and #") },
        { P11URI_TOKEN, S("Z\xc3\xbcrich \xe2\x82\xac token") },
        { P11URI_MANUFACTURER, S("Snake Oil, Inc.") },
        { P11URI_SERIAL, S("") },
        { P11URI_MODEL, S("a|b[c]@d") },
        { P11URI_LIBRARY_MANUFACTURER, S("\x7f\x01\x1f") },
        { P11URI_LIBRARY_DESCRIPTION, S("  padded  ") },
        { P11URI_LIBRARY_VERSION, S("2.40") },
        { P11URI_SLOT_MANUFACTURER, S("+!$'()*,:") },
        { P11URI_SLOT_DESCRIPTION, S("slot\0with NUL") },
        { P11URI_SLOT_ID, S("12") },
        { P11URI_TYPE, S("secret-key") },
        { P11URI_PIN_VALUE, S("p&i=n?;/%") },
        { P11URI_PIN_SOURCE, S("file:/home/u s/pin") },
        { P11URI_MODULE_NAME, S("softhsm2") },
        { P11URI_MODULE_PATH, S("/usr/lib/softhsm/libsofthsm2.so") },
    };
#undef S
    p11uri *uri = p11uri_new();
    if (!CHECK(uri != NULL))
        return;
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
        CHECKF(p11uri_set(uri, sets[i].attr, sets[i].bytes, sets[i].len)
                   == P11URI_OK,
               "set %s", p11uri_attr_name(sets[i].attr));
        /* Round trip after each addition, not only with everything set. */
        free(check_round_trip(uri, p11uri_attr_name(sets[i].attr)));
    }
    CHECK(uri->library_version.major == 2
          && uri->library_version.minor == 40);
    CHECK(uri->slot_id == 12 && uri->object_class == CKO_SECRET_KEY);

    char *text = check_round_trip(uri, "all attributes");
    /* Delimiters in values are always escaped. */
    CHECKF(text != NULL
               && strstr(text, "object=my%20key%20%2F%20with%20%3F") != NULL,
           "%s", text ? text : "");
    CHECKF(text != NULL
               && strstr(text, "pin-value=p%26i%3Dn%3F%3B/%25") != NULL,
           "%s", text ? text : "");
    CHECKF(text != NULL && strstr(text, "id=%00%FF%00%25%3B%80;") != NULL,
           "%s", text ? text : "");
    free(text);

    /* OMIT_PIN output has no trace of the PIN, and parses without one. */
    text = p11uri_format(uri, P11URI_FORMAT_OMIT_PIN);
    p11uri *no_pin = NULL;
    CHECK(text != NULL && strstr(text, "pin-value") == NULL
          && strstr(text, "p%26i") == NULL);
    CHECK(text != NULL && p11uri_parse(text, &no_pin, NULL) == P11URI_OK
          && !no_pin->values[P11URI_PIN_VALUE].present
          && no_pin->values[P11URI_PIN_SOURCE].present);
    p11uri_unset(uri, P11URI_PIN_VALUE);
    CHECK(p11uri_equal(uri, no_pin));
    p11uri_free(no_pin);
    free(text);
    p11uri_free(uri);
}

/* Deterministic pseudo-random values for every string attribute. */
static uint64_t rng_state = 12345;
static unsigned rng(void)
{
    rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
    return (unsigned)(rng_state >> 33);
}

static void test_random_round_trip(void)
{
    unsigned char buf[40];
    int failures_before = 0;

    for (int iter = 0; iter < 2000; iter++) {
        p11uri *uri = p11uri_new();
        if (!CHECK(uri != NULL))
            return;
        for (size_t a = 0; a < P11URI_ATTR_COUNT; a++) {
            if (a == P11URI_LIBRARY_VERSION || a == P11URI_SLOT_ID
                || a == P11URI_TYPE || rng() % 3 == 0)
                continue;
            size_t len = rng() % sizeof(buf);
            for (size_t i = 0; i < len; i++)
                buf[i] = (unsigned char)rng();
            CHECK(p11uri_set(uri, (p11uri_attr)a, buf, len) == P11URI_OK);
        }
        char *text = p11uri_format(uri, 0);
        p11uri *again = NULL;
        bool ok = text != NULL
                  && p11uri_parse(text, &again, NULL) == P11URI_OK
                  && p11uri_equal(uri, again);
        if (!CHECKF(ok, "random URI %d: \"%s\"", iter,
                    text ? text : "(null)"))
            failures_before++;
        p11uri_free(again);
        free(text);
        p11uri_free(uri);
        if (failures_before > 5)
            break;
    }
}

static void test_set_validation(void)
{
    p11uri *uri = p11uri_new();
    if (!CHECK(uri != NULL))
        return;
    static const struct {
        p11uri_attr attr;
        const char *text;
        p11uri_status expect;
    } cases[] = {
        { P11URI_LIBRARY_VERSION, "1.2.3", P11URI_ERR_BAD_VALUE },
        { P11URI_LIBRARY_VERSION, "256", P11URI_ERR_BAD_VALUE },
        { P11URI_LIBRARY_VERSION, "", P11URI_ERR_BAD_VALUE },
        { P11URI_LIBRARY_VERSION, "7", P11URI_OK },
        { P11URI_SLOT_ID, "x", P11URI_ERR_BAD_VALUE },
        { P11URI_SLOT_ID, "99999999999999999999999", P11URI_ERR_BAD_VALUE },
        { P11URI_SLOT_ID, "5", P11URI_OK },
        { P11URI_TYPE, "certificate", P11URI_ERR_BAD_VALUE },
        { P11URI_TYPE, "public", P11URI_OK },
        { P11URI_ATTR_COUNT, "x", P11URI_ERR_BAD_VALUE },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECKF(p11uri_set(uri, cases[i].attr, cases[i].text,
                          strlen(cases[i].text))
                   == cases[i].expect,
               "set %d to \"%s\"", (int)cases[i].attr, cases[i].text);
    /* A rejected value leaves the previous one in place. */
    CHECK(uri->library_version.major == 7 && uri->library_version.minor == 0);
    CHECK(uri->values[P11URI_LIBRARY_VERSION].len == 1);
    CHECK(uri->slot_id == 5 && uri->object_class == CKO_PUBLIC_KEY);
    CHECK(p11uri_set(uri, P11URI_OBJECT, NULL, 1) == P11URI_ERR_BAD_VALUE);
    CHECK(p11uri_set(uri, P11URI_OBJECT, NULL, 0) == P11URI_OK
          && uri->values[P11URI_OBJECT].present
          && uri->values[P11URI_OBJECT].len == 0);
    p11uri_unset(uri, P11URI_OBJECT);
    CHECK(!uri->values[P11URI_OBJECT].present);
    p11uri_unset(uri, P11URI_OBJECT); /* unsetting twice is harmless */
    p11uri_free(uri);
    p11uri_free(NULL);
}

static void test_equal(void)
{
    static const char *const pairs[][2] = {
        { "pkcs11:token=a", "pkcs11:token=b" },
        { "pkcs11:token=a", "pkcs11:token=a;object=" },
        { "pkcs11:object=", "pkcs11:" },
        { "pkcs11:id=%00", "pkcs11:id=" },
        { "pkcs11:x-a=1", "pkcs11:x-a=2" },
        { "pkcs11:x-a=1", "pkcs11:?x-a=1" },
        { "pkcs11:x-a=1", "pkcs11:x-b=1" },
        { "pkcs11:x-a=1", "pkcs11:" },
        { "pkcs11:?pin-value=1", "pkcs11:?pin-value=2" },
        { "pkcs11:library-version=1", "pkcs11:library-version=1.0" },
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        p11uri *a = NULL, *b = NULL;
        CHECK(p11uri_parse(pairs[i][0], &a, NULL) == P11URI_OK);
        CHECK(p11uri_parse(pairs[i][1], &b, NULL) == P11URI_OK);
        CHECKF(!p11uri_equal(a, b) && !p11uri_equal(b, a), "%s vs %s",
               pairs[i][0], pairs[i][1]);
        CHECK(p11uri_equal(a, a));
        p11uri_free(a);
        p11uri_free(b);
    }
    /* Order and escaping do not matter, vendor attribute order neither. */
    p11uri *a = NULL, *b = NULL;
    CHECK(p11uri_parse("pkcs11:token=a%20b;x-1=1;x-2=2?x-3=3", &a, NULL)
          == P11URI_OK);
    CHECK(p11uri_parse("PKCS11:x-2=2;x-1=%31;token=a%20b?x-3=3", &b, NULL)
          == P11URI_OK);
    CHECK(p11uri_equal(a, b));
    CHECK(!p11uri_equal(a, NULL) && p11uri_equal(NULL, NULL));
    p11uri_free(a);
    p11uri_free(b);

    /* A PIN attribute means the same in the path as in the query. */
    static const char *const same[][2] = {
        { "pkcs11:token=a;pin-value=1234", "pkcs11:token=a?pin-value=1234" },
        { "pkcs11:pin-value=%41;token=a", "pkcs11:token=a?pin-value=A" },
        { "pkcs11:pin-source=file:/p;token=a",
          "pkcs11:token=a?pin-source=file:/p" },
        { "pkcs11:pin-value=1;pin-source=/p",
          "pkcs11:?pin-source=/p&pin-value=1" },
    };
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        a = b = NULL;
        CHECK(p11uri_parse(same[i][0], &a, NULL) == P11URI_OK);
        CHECK(p11uri_parse(same[i][1], &b, NULL) == P11URI_OK);
        CHECKF(p11uri_equal(a, b), "%s vs %s", same[i][0], same[i][1]);
        p11uri_free(a);
        p11uri_free(b);
    }
    CHECK(p11uri_format(NULL, 0) == NULL);
}

int main(void)
{
    test_table_round_trip();
    test_exact_output();
    test_set_round_trip();
    test_random_round_trip();
    test_set_validation();
    test_equal();
    return tu_finish("test_uri_format");
}
