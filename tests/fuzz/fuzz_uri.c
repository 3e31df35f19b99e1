/*
 * libFuzzer target for the URI library. Any input either fails to parse
 * with a consistent error, or parses to a URI that
 *   - formats to text that parses back to an equal URI, and formats the
 *     same way again (formatting is canonical);
 *   - without its PIN (P11URI_FORMAT_OMIT_PIN) still parses, PIN-less;
 *   - matches info structures built from its own values, and the matchers
 *     and template builder behave on fixed structures.
 * Violations end in __builtin_trap() so libFuzzer records a crash.
 */
#include "pkcs11_uri.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                        \
    do {                                                                     \
        if (!(cond))                                                         \
            __builtin_trap();                                                \
    } while (0)

/* Pads value into a Cryptoki field when it fits; false when it cannot be
 * represented (too long, or ending in padding the matcher strips). */
static bool fill(unsigned char *field, size_t size, const p11uri_value *v)
{
    memset(field, ' ', size);
    if (!v->present)
        return true;
    if (v->len > size
        || (v->len > 0
            && (v->data[v->len - 1] == ' ' || v->data[v->len - 1] == '\0')))
        return false;
    memcpy(field, v->data, v->len);
    return true;
}

static void check_matchers(const p11uri *uri)
{
    const p11uri_value *v = uri->values;
    CK_TOKEN_INFO token;
    CK_INFO module;
    CK_SLOT_INFO slot;

    memset(&token, 0, sizeof(token));
    memset(&module, 0, sizeof(module));
    memset(&slot, 0, sizeof(slot));

    /* Info built from the URI's own values matches it. */
    if (fill(token.label, sizeof(token.label), &v[P11URI_TOKEN])
        && fill(token.manufacturerID, sizeof(token.manufacturerID),
                &v[P11URI_MANUFACTURER])
        && fill(token.serialNumber, sizeof(token.serialNumber),
                &v[P11URI_SERIAL])
        && fill(token.model, sizeof(token.model), &v[P11URI_MODEL]))
        REQUIRE(p11uri_match_token_info(uri, &token));
    module.libraryVersion = uri->library_version;
    if (fill(module.manufacturerID, sizeof(module.manufacturerID),
             &v[P11URI_LIBRARY_MANUFACTURER])
        && fill(module.libraryDescription, sizeof(module.libraryDescription),
                &v[P11URI_LIBRARY_DESCRIPTION]))
        REQUIRE(p11uri_match_module_info(uri, &module));
    if (fill(slot.manufacturerID, sizeof(slot.manufacturerID),
             &v[P11URI_SLOT_MANUFACTURER])
        && fill(slot.slotDescription, sizeof(slot.slotDescription),
                &v[P11URI_SLOT_DESCRIPTION]))
        REQUIRE(p11uri_match_slot_info(uri, uri->slot_id, &slot));

    /* Fixed structures: a match is only possible when the URI leaves the
     * field out, or its value is exactly what the field holds. */
    memset(&token, ' ', sizeof(token));
    memcpy(token.label, "fuzz-token", 10);
    if (p11uri_match_token_info(uri, &token))
        REQUIRE(!v[P11URI_TOKEN].present
                || (v[P11URI_TOKEN].len == 10
                    && memcmp(v[P11URI_TOKEN].data, "fuzz-token", 10) == 0));
    memset(&slot, 0, sizeof(slot));
    if (p11uri_match_slot_info(uri, 7, &slot))
        REQUIRE(!v[P11URI_SLOT_ID].present || uri->slot_id == 7);
    memset(&module, 0, sizeof(module));
    (void)p11uri_match_module_info(uri, &module);
}

static void check_template(const p11uri *uri)
{
    CK_ATTRIBUTE tmpl[3];
    size_t n = p11uri_object_template(uri, tmpl);
    size_t expected = (size_t)uri->values[P11URI_TYPE].present
                      + uri->values[P11URI_OBJECT].present
                      + uri->values[P11URI_ID].present;

    REQUIRE(n == expected);
    for (size_t i = 0; i < n; i++) {
        REQUIRE(tmpl[i].pValue != NULL);
        if (tmpl[i].type == CKA_CLASS)
            REQUIRE(tmpl[i].ulValueLen == sizeof(CK_OBJECT_CLASS));
        else if (tmpl[i].type == CKA_LABEL)
            REQUIRE(tmpl[i].ulValueLen == uri->values[P11URI_OBJECT].len);
        else
            REQUIRE(tmpl[i].type == CKA_ID
                    && tmpl[i].ulValueLen == uri->values[P11URI_ID].len);
    }
}

static void check_round_trip(const p11uri *uri)
{
    char *text = p11uri_format(uri, 0);
    p11uri *again = NULL;

    if (text == NULL)
        return; /* out of memory: nothing to check */
    REQUIRE(p11uri_parse(text, &again, NULL) == P11URI_OK);
    REQUIRE(p11uri_equal(uri, again));
    REQUIRE(p11uri_equal(again, uri));
    char *second = p11uri_format(again, 0);
    REQUIRE(second == NULL || strcmp(text, second) == 0);
    free(second);
    p11uri_free(again);
    free(text);

    text = p11uri_format(uri, P11URI_FORMAT_OMIT_PIN);
    if (text == NULL)
        return;
    REQUIRE(p11uri_parse(text, &again, NULL) == P11URI_OK);
    REQUIRE(!again->values[P11URI_PIN_VALUE].present);
    REQUIRE(p11uri_equal(uri, again)
            == !uri->values[P11URI_PIN_VALUE].present);
    p11uri_free(again);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    p11uri *uri = NULL;
    p11uri_error err;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    p11uri_status st = p11uri_parse(text, &uri, &err);
    REQUIRE(st == err.status);
    if (st == P11URI_OK) {
        REQUIRE(uri != NULL);
        check_round_trip(uri);
        check_matchers(uri);
        check_template(uri);
        p11uri_free(uri);
    } else {
        REQUIRE(uri == NULL);
        REQUIRE(err.position <= strlen(text));
        REQUIRE(err.message[0] != '\0'
                && memchr(err.message, '\0', sizeof(err.message)));
        REQUIRE(memchr(err.attribute, '\0', sizeof(err.attribute)) != NULL);
    }
    free(text);
    return 0;
}
