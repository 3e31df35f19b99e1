/*
 * Matching against CK_INFO / CK_SLOT_INFO / CK_TOKEN_INFO, building the
 * object template, and p11uri_set_token_info.
 */
#include "pkcs11_uri.h"
#include "test_util.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fills a Cryptoki text field the way modules do: text, then padding. */
static void pad(unsigned char *field, size_t size, const char *text,
                char filler)
{
    size_t len = strlen(text);
    memset(field, filler, size);
    memcpy(field, text, len < size ? len : size);
}

static p11uri *parse(const char *text)
{
    p11uri *uri = NULL;
    p11uri_error err;
    CHECKF(p11uri_parse(text, &uri, &err) == P11URI_OK, "%s: %s", text,
           err.message);
    return uri;
}

/* Whether the URI matches a token whose field is set to field_text. */
static bool token_match(const char *uri_text, size_t offset, size_t size,
                        const char *field_text, char filler)
{
    CK_TOKEN_INFO info;
    memset(&info, ' ', sizeof(info));
    pad((unsigned char *)&info + offset, size, field_text, filler);
    p11uri *uri = parse(uri_text);
    bool m = uri != NULL && p11uri_match_token_info(uri, &info);
    p11uri_free(uri);
    return m;
}

#define TOKEN_FIELD(f)                                                       \
    offsetof(CK_TOKEN_INFO, f), sizeof(((CK_TOKEN_INFO *)0)->f)

static void test_token_padding(void)
{
    static const struct {
        const char *attr;
        size_t offset, size;
    } fields[] = {
        { "token", TOKEN_FIELD(label) },
        { "manufacturer", TOKEN_FIELD(manufacturerID) },
        { "serial", TOKEN_FIELD(serialNumber) },
        { "model", TOKEN_FIELD(model) },
    };

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        char uri[128];
        size_t off = fields[i].offset, size = fields[i].size;
        const char *name = fields[i].attr;

        snprintf(uri, sizeof(uri), "pkcs11:%s=abc", name);
        CHECKF(token_match(uri, off, size, "abc", ' '), "%s: abc vs abc___",
               name);
        CHECKF(token_match(uri, off, size, "abc", '\0'), "%s: NUL padding",
               name);
        CHECKF(!token_match(uri, off, size, "abcd", ' '), "%s: abc vs abcd__",
               name);
        CHECKF(!token_match(uri, off, size, "ab", ' '), "%s: abc vs ab____",
               name);
        CHECKF(!token_match(uri, off, size, "ABC", ' '), "%s: case matters",
               name);
        CHECKF(!token_match(uri, off, size, "", ' '), "%s: abc vs blank",
               name);
        /* Leading spaces are part of the value. */
        CHECKF(!token_match(uri, off, size, " abc", ' '), "%s: leading space",
               name);

        snprintf(uri, sizeof(uri), "pkcs11:%s=a%%20c", name);
        CHECKF(token_match(uri, off, size, "a c", ' '), "%s: inner space",
               name);
        snprintf(uri, sizeof(uri), "pkcs11:%s=", name);
        CHECKF(token_match(uri, off, size, "", ' '), "%s: empty vs blank",
               name);
        CHECKF(!token_match(uri, off, size, "x", ' '), "%s: empty vs x",
               name);
        /* Absent matches anything. */
        CHECKF(token_match("pkcs11:", off, size, "whatever", ' '),
               "%s: absent", name);
        CHECKF(token_match("pkcs11:object=x", off, size, "whatever", ' '),
               "%s", name);

        /* A value filling the field exactly matches; one byte more never. */
        char full[80], longer[80];
        memset(full, 'F', size);
        full[size] = '\0';
        snprintf(uri, sizeof(uri), "pkcs11:%s=%s", name, full);
        CHECKF(token_match(uri, off, size, full, ' '), "%s: full-width value",
               name);
        memset(longer, 'F', size + 1);
        longer[size + 1] = '\0';
        snprintf(uri, sizeof(uri), "pkcs11:%s=%s", name, longer);
        CHECKF(!token_match(uri, off, size, full, ' '),
               "%s: value longer than field", name);
    }

    /* All four together; any one differing fails the match. */
    CK_TOKEN_INFO info;
    memset(&info, 0, sizeof(info));
    pad(info.label, sizeof(info.label), "My Token", ' ');
    pad(info.manufacturerID, sizeof(info.manufacturerID), "ACME", ' ');
    pad(info.serialNumber, sizeof(info.serialNumber), "0001", ' ');
    pad(info.model, sizeof(info.model), "M1", ' ');
    p11uri *uri = parse(
        "pkcs11:token=My%20Token;manufacturer=ACME;serial=0001;model=M1");
    CHECK(uri != NULL && p11uri_match_token_info(uri, &info));
    pad(info.model, sizeof(info.model), "M2", ' ');
    CHECK(uri != NULL && !p11uri_match_token_info(uri, &info));
    p11uri_free(uri);
    CHECK(!p11uri_match_token_info(NULL, &info));
}

static void test_module_info(void)
{
    CK_INFO info;
    memset(&info, 0, sizeof(info));
    pad(info.manufacturerID, sizeof(info.manufacturerID), "Snake Oil, Inc.",
        ' ');
    pad(info.libraryDescription, sizeof(info.libraryDescription),
        "Soft Token Library", ' ');
    info.libraryVersion.major = 1;
    info.libraryVersion.minor = 23;

    static const struct {
        const char *text;
        bool match;
    } cases[] = {
        { "pkcs11:", true },
        { "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;"
          "library-description=Soft%20Token%20Library;library-version=1.23",
          true },
        { "pkcs11:library-version=1.23", true },
        { "pkcs11:library-version=1.2", false },
        { "pkcs11:library-version=1", false },
        { "pkcs11:library-version=23.1", false },
        { "pkcs11:library-manufacturer=Snake%20Oil", false },
        { "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.%20", false },
        { "pkcs11:library-description=Soft%20Token%20Library", true },
        { "pkcs11:library-description=Soft%20Token", false },
        /* token attributes do not concern the module */
        { "pkcs11:token=other;slot-id=9", true },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        p11uri *uri = parse(cases[i].text);
        CHECKF(uri != NULL
                   && p11uri_match_module_info(uri, &info) == cases[i].match,
               "%s", cases[i].text);
        p11uri_free(uri);
    }

    /* "M" means M.0 */
    info.libraryVersion.major = 3;
    info.libraryVersion.minor = 0;
    p11uri *uri = parse("pkcs11:library-version=3");
    CHECK(uri != NULL && p11uri_match_module_info(uri, &info));
    p11uri_free(uri);
}

static void test_slot_info(void)
{
    CK_SLOT_INFO info;
    memset(&info, 0, sizeof(info));
    pad(info.slotDescription, sizeof(info.slotDescription), "Sun Metaslot",
        ' ');
    pad(info.manufacturerID, sizeof(info.manufacturerID), "Oracle", ' ');

    static const struct {
        const char *text;
        CK_ULONG slot;
        bool match;
    } cases[] = {
        { "pkcs11:", 7, true },
        { "pkcs11:slot-description=Sun%20Metaslot", 7, true },
        { "pkcs11:slot-description=Sun", 7, false },
        { "pkcs11:slot-description=Sun%20Metaslot%20", 7, false },
        { "pkcs11:slot-manufacturer=Oracle;slot-id=7", 7, true },
        { "pkcs11:slot-manufacturer=Oracle;slot-id=7", 8, false },
        { "pkcs11:slot-manufacturer=Oracl", 7, false },
        { "pkcs11:slot-id=0", 0, true },
        { "pkcs11:slot-id=07", 7, true },
        { "pkcs11:token=x;library-version=9", 7, true },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        p11uri *uri = parse(cases[i].text);
        CHECKF(uri != NULL
                   && p11uri_match_slot_info(uri, cases[i].slot, &info)
                          == cases[i].match,
               "%s (slot %lu)", cases[i].text, cases[i].slot);
        p11uri_free(uri);
    }

    /* The slot description is 64 bytes wide. */
    char text[160] = "pkcs11:slot-description=";
    size_t at = strlen(text);
    memset(text + at, 'd', 64);
    text[at + 64] = '\0';
    pad(info.slotDescription, sizeof(info.slotDescription), text + at, ' ');
    p11uri *uri = parse(text);
    CHECK(uri != NULL && p11uri_match_slot_info(uri, 1, &info));
    p11uri_free(uri);
    strcat(text, "d");
    uri = parse(text);
    CHECK(uri != NULL && !p11uri_match_slot_info(uri, 1, &info));
    p11uri_free(uri);
}

static void test_template(void)
{
    CK_ATTRIBUTE tmpl[3];
    p11uri *uri = parse("pkcs11:id=%00%FF;token=t;object=my%20key;type=cert");

    if (uri == NULL)
        return;
    memset(tmpl, 0, sizeof(tmpl));
    CHECK(p11uri_object_template(uri, tmpl) == 3);
    CHECK(tmpl[0].type == CKA_CLASS
          && tmpl[0].ulValueLen == sizeof(CK_OBJECT_CLASS)
          && tmpl[0].pValue == &uri->object_class
          && *(CK_OBJECT_CLASS *)tmpl[0].pValue == CKO_CERTIFICATE);
    CHECK(tmpl[1].type == CKA_LABEL && tmpl[1].ulValueLen == 6
          && memcmp(tmpl[1].pValue, "my key", 6) == 0
          && tmpl[1].pValue == uri->values[P11URI_OBJECT].data);
    CHECK(tmpl[2].type == CKA_ID && tmpl[2].ulValueLen == 2
          && memcmp(tmpl[2].pValue, "\x00\xff", 2) == 0);
    p11uri_free(uri);

    uri = parse("pkcs11:id=%01");
    if (uri != NULL) {
        CHECK(p11uri_object_template(uri, tmpl) == 1
              && tmpl[0].type == CKA_ID);
        p11uri_free(uri);
    }
    uri = parse("pkcs11:object=;type=secret-key");
    if (uri != NULL) {
        CHECK(p11uri_object_template(uri, tmpl) == 2);
        CHECK(tmpl[0].type == CKA_CLASS
              && *(CK_OBJECT_CLASS *)tmpl[0].pValue == CKO_SECRET_KEY);
        CHECK(tmpl[1].type == CKA_LABEL && tmpl[1].ulValueLen == 0
              && tmpl[1].pValue != NULL);
        p11uri_free(uri);
    }
    uri = parse("pkcs11:token=t;library-version=1?pin-value=1");
    if (uri != NULL) {
        CHECK(p11uri_object_template(uri, tmpl) == 0);
        p11uri_free(uri);
    }
    /* Classes of every type value. */
    static const struct {
        const char *text;
        CK_OBJECT_CLASS klass;
    } types[] = {
        { "pkcs11:type=private", CKO_PRIVATE_KEY },
        { "pkcs11:type=public", CKO_PUBLIC_KEY },
        { "pkcs11:type=cert", CKO_CERTIFICATE },
        { "pkcs11:type=secret-key", CKO_SECRET_KEY },
        { "pkcs11:type=data", CKO_DATA },
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        uri = parse(types[i].text);
        if (uri == NULL)
            continue;
        CHECKF(p11uri_object_template(uri, tmpl) == 1
                   && tmpl[0].type == CKA_CLASS
                   && *(CK_OBJECT_CLASS *)tmpl[0].pValue == types[i].klass,
               "%s", types[i].text);
        p11uri_free(uri);
    }
}

static void test_set_token_info(void)
{
    CK_TOKEN_INFO info;
    memset(&info, 0, sizeof(info));
    pad(info.label, sizeof(info.label), "Label with; odd/chars", ' ');
    pad(info.manufacturerID, sizeof(info.manufacturerID), "ACME", '\0');
    pad(info.serialNumber, sizeof(info.serialNumber), "", ' ');
    memset(info.model, 'M', sizeof(info.model)); /* no padding at all */

    p11uri *uri = p11uri_new();
    if (!CHECK(uri != NULL))
        return;
    CHECK(p11uri_set(uri, P11URI_TOKEN, "old", 3) == P11URI_OK);
    CHECK(p11uri_set_token_info(uri, &info) == P11URI_OK);
    const p11uri_value *v = uri->values;
    CHECK(v[P11URI_TOKEN].present && v[P11URI_TOKEN].len == 21
          && memcmp(v[P11URI_TOKEN].data, "Label with; odd/chars", 21) == 0);
    CHECK(v[P11URI_MANUFACTURER].present && v[P11URI_MANUFACTURER].len == 4);
    CHECK(v[P11URI_SERIAL].present && v[P11URI_SERIAL].len == 0);
    CHECK(v[P11URI_MODEL].present && v[P11URI_MODEL].len == 16);
    CHECK(p11uri_match_token_info(uri, &info));

    /* It survives formatting. */
    char *text = p11uri_format(uri, 0);
    p11uri *again = NULL;
    CHECK(text != NULL && p11uri_parse(text, &again, NULL) == P11URI_OK
          && p11uri_equal(uri, again)
          && p11uri_match_token_info(again, &info));
    p11uri_free(again);
    free(text);
    p11uri_free(uri);
    CHECK(p11uri_set_token_info(NULL, &info) != P11URI_OK);
}

int main(void)
{
    test_token_padding();
    test_module_info();
    test_slot_info();
    test_template();
    test_set_token_info();
    return tu_finish("test_uri_match");
}
