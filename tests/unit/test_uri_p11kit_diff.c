/*
 * Differential test against p11-kit's URI parser. For every line of the
 * corpus both parsers run; where both accept, every attribute both
 * understand must hold the same value, otherwise the test fails. Where
 * only one accepts, the line is reported (our parser is deliberately
 * stricter). Usage: test_uri_p11kit_diff CORPUS
 */
#include "pkcs11_uri.h"
#include "test_util.h"

#include <p11-kit/uri.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct diff_state {
    const char *line;
    unsigned lineno;
    unsigned disagreements;
    unsigned skipped;
    unsigned pins; /* accepted lines with a PIN attribute, compared */
} diff_state;

static void note_skip(diff_state *d, const char *attr, const char *why)
{
    d->skipped++;
    printf("  note line %u: %s not compared: %s\n", d->lineno, attr, why);
}

static void disagree(diff_state *d, const char *attr, const void *ours,
                     size_t ours_len, const void *theirs, size_t theirs_len)
{
    char a[200], b[200];
    d->disagreements++;
    tu_check(false, __FILE__, __LINE__, "values agree",
             "line %u \"%s\": %s is \"%s\" for us, \"%s\" for p11-kit",
             d->lineno, d->line, attr,
             ours ? tu_escape(a, sizeof(a), ours, ours_len) : "(absent)",
             theirs ? tu_escape(b, sizeof(b), theirs, theirs_len)
                    : "(absent)");
}

/* p11-kit keeps token/slot/module strings in the Cryptoki structures:
 * zero-filled when absent, space padded when present, and zero-filled
 * (flagged unrecognized) when longer than the field. */
static void compare_field(diff_state *d, const p11uri *uri, p11uri_attr attr,
                          const unsigned char *field, size_t size)
{
    const p11uri_value *v = &uri->values[attr];
    unsigned char expected[64];

    if (v->present && v->len > size) {
        note_skip(
            d, p11uri_attr_name(attr),
            "value longer than the Cryptoki field p11-kit stores it in");
        return;
    }
    memset(expected, v->present ? ' ' : 0, size);
    if (v->present && v->len > 0)
        memcpy(expected, v->data, v->len);
    if (memcmp(expected, field, size) != 0)
        disagree(d, p11uri_attr_name(attr), expected, size, field, size);
}

/* p11-kit's query values are C strings. */
static void compare_string(diff_state *d, const p11uri *uri, p11uri_attr attr,
                           const char *theirs)
{
    const p11uri_value *v = &uri->values[attr];

    if (v->present && memchr(v->data, '\0', v->len) != NULL) {
        note_skip(d, p11uri_attr_name(attr),
                  "value holds a NUL byte, a C string cannot");
        return;
    }
    if (!v->present && theirs == NULL)
        return;
    if (!v->present || theirs == NULL || strlen(theirs) != v->len
        || memcmp(theirs, v->data, v->len) != 0)
        disagree(d, p11uri_attr_name(attr), v->present ? v->data : NULL,
                 v->len, theirs, theirs ? strlen(theirs) : 0);
}

static void compare_attribute(diff_state *d, const p11uri *uri,
                              p11uri_attr attr, P11KitUri *kit,
                              CK_ATTRIBUTE_TYPE type)
{
    const p11uri_value *v = &uri->values[attr];
    CK_ATTRIBUTE *theirs = p11_kit_uri_get_attribute(kit, type);

    if (!v->present && theirs == NULL)
        return;
    if (!v->present || theirs == NULL || theirs->ulValueLen != v->len
        || (v->len > 0 && memcmp(theirs->pValue, v->data, v->len) != 0))
        disagree(d, p11uri_attr_name(attr), v->present ? v->data : NULL,
                 v->len, theirs ? theirs->pValue : NULL,
                 theirs ? theirs->ulValueLen : 0);
}

static void compare_all(diff_state *d, const p11uri *uri, P11KitUri *kit)
{
    CK_TOKEN_INFO *token = p11_kit_uri_get_token_info(kit);
    CK_INFO *module = p11_kit_uri_get_module_info(kit);
    CK_SLOT_INFO *slot = p11_kit_uri_get_slot_info(kit);

    compare_field(d, uri, P11URI_TOKEN, token->label, sizeof(token->label));
    compare_field(d, uri, P11URI_MANUFACTURER, token->manufacturerID,
                  sizeof(token->manufacturerID));
    compare_field(d, uri, P11URI_SERIAL, token->serialNumber,
                  sizeof(token->serialNumber));
    compare_field(d, uri, P11URI_MODEL, token->model, sizeof(token->model));
    compare_field(d, uri, P11URI_LIBRARY_MANUFACTURER, module->manufacturerID,
                  sizeof(module->manufacturerID));
    compare_field(d, uri, P11URI_LIBRARY_DESCRIPTION,
                  module->libraryDescription,
                  sizeof(module->libraryDescription));
    compare_field(d, uri, P11URI_SLOT_MANUFACTURER, slot->manufacturerID,
                  sizeof(slot->manufacturerID));
    compare_field(d, uri, P11URI_SLOT_DESCRIPTION, slot->slotDescription,
                  sizeof(slot->slotDescription));

    /* p11-kit: 0xff.0xff when absent; compared as text for readable
     * reports */
    char ours_text[32], theirs_text[32];
    CK_VERSION ours_version = { 0xff, 0xff };
    if (uri->values[P11URI_LIBRARY_VERSION].present)
        ours_version = uri->library_version;
    snprintf(ours_text, sizeof(ours_text), "%u.%u", ours_version.major,
             ours_version.minor);
    snprintf(theirs_text, sizeof(theirs_text), "%u.%u",
             module->libraryVersion.major, module->libraryVersion.minor);
    if (strcmp(ours_text, theirs_text) != 0)
        disagree(d, "library-version", ours_text, strlen(ours_text),
                 theirs_text, strlen(theirs_text));

    /* p11-kit: (CK_SLOT_ID)-1 when absent */
    if (uri->values[P11URI_SLOT_ID].present
        && uri->slot_id == (CK_SLOT_ID)-1) {
        note_skip(d, "slot-id", "the value is p11-kit's \"absent\" marker");
    } else {
        CK_SLOT_ID ours_slot = uri->values[P11URI_SLOT_ID].present
                                   ? uri->slot_id
                                   : (CK_SLOT_ID)-1;
        snprintf(ours_text, sizeof(ours_text), "%lu", ours_slot);
        snprintf(theirs_text, sizeof(theirs_text), "%lu",
                 p11_kit_uri_get_slot_id(kit));
        if (strcmp(ours_text, theirs_text) != 0)
            disagree(d, "slot-id", ours_text, strlen(ours_text), theirs_text,
                     strlen(theirs_text));
    }

    compare_attribute(d, uri, P11URI_OBJECT, kit, CKA_LABEL);
    compare_attribute(d, uri, P11URI_ID, kit, CKA_ID);
    CK_ATTRIBUTE *klass = p11_kit_uri_get_attribute(kit, CKA_CLASS);
    bool ours_typed = uri->values[P11URI_TYPE].present;
    if (ours_typed != (klass != NULL)
        || (klass != NULL
            && (klass->ulValueLen != sizeof(CK_OBJECT_CLASS)
                || *(CK_OBJECT_CLASS *)klass->pValue != uri->object_class)))
        disagree(d, "type", ours_typed ? &uri->object_class : NULL,
                 sizeof(CK_OBJECT_CLASS), klass ? klass->pValue : NULL,
                 klass ? klass->ulValueLen : 0);

    if (uri->values[P11URI_PIN_VALUE].present
        || uri->values[P11URI_PIN_SOURCE].present)
        d->pins++;
    compare_string(d, uri, P11URI_PIN_VALUE, p11_kit_uri_get_pin_value(kit));
    compare_string(d, uri, P11URI_PIN_SOURCE,
                   p11_kit_uri_get_pin_source(kit));
    compare_string(d, uri, P11URI_MODULE_NAME,
                   p11_kit_uri_get_module_name(kit));
    compare_string(d, uri, P11URI_MODULE_PATH,
                   p11_kit_uri_get_module_path(kit));

    /* Vendor query attributes are kept by both. */
    for (size_t i = 0; i < uri->vendor_count; i++) {
        const p11uri_vendor_attr *v = &uri->vendor[i];
        if (!v->in_query)
            continue;
        const char *theirs = p11_kit_uri_get_vendor_query(kit, v->name);
        if (memchr(v->data, '\0', v->len) != NULL)
            note_skip(d, v->name, "value holds a NUL byte");
        else if (theirs == NULL || strlen(theirs) != v->len
                 || memcmp(theirs, v->data, v->len) != 0)
            disagree(d, v->name, v->data, v->len, theirs,
                     theirs ? strlen(theirs) : 0);
    }
}

int main(int argc, char **argv)
{
    unsigned both_accept = 0, only_ours = 0, only_p11kit = 0, both_reject = 0;
    diff_state d = { NULL, 0, 0, 0, 0 };
    char buf[4096];

    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (f == NULL) {
        perror(argv[1]);
        return 2;
    }
    while (fgets(buf, sizeof(buf), f) != NULL) {
        d.lineno++;
        buf[strcspn(buf, "\r\n")] = '\0';
        /* "#" starts a comment: no URI starts with it. */
        if (buf[0] == '\0' || buf[0] == '#')
            continue;
        d.line = buf;

        /* A fresh P11KitUri each time: p11_kit_uri_parse() does not reset
         * the slot fields of a reused one. */
        P11KitUri *kit = p11_kit_uri_new();
        if (kit == NULL)
            return 2;
        p11uri *uri = NULL;
        p11uri_error err;
        bool ours = p11uri_parse(buf, &uri, &err) == P11URI_OK;
        int rv = p11_kit_uri_parse(buf, P11_KIT_URI_FOR_ANY, kit);
        bool theirs = rv == P11_KIT_URI_OK;

        if (ours && theirs) {
            both_accept++;
            if (p11_kit_uri_any_unrecognized(kit))
                printf(
                    "  note line %u: p11-kit flags unrecognized parts in \"%s\"\n",
                    d.lineno, buf);
            compare_all(&d, uri, kit);
        } else if (ours) {
            only_ours++;
            printf("only ours accepts  line %u: %s  (p11-kit: %s)\n",
                   d.lineno, buf, p11_kit_uri_message(rv));
        } else if (theirs) {
            only_p11kit++;
            printf("only p11-kit accepts line %u: %s  (ours: %s)\n", d.lineno,
                   buf, err.message);
        } else {
            both_reject++;
        }
        p11uri_free(uri);
        p11_kit_uri_free(kit);
    }
    fclose(f);

    printf(
        "corpus %s: both accept %u (%u with a PIN attribute), only ours %u, only p11-kit "
        "%u, both reject %u; %u values not comparable (noted), %u disagreements\n",
        argv[1], both_accept, d.pins, only_ours, only_p11kit, both_reject,
        d.skipped, d.disagreements);
    /* The comparison must actually have happened. */
    CHECK(both_accept > 0);
    CHECK(both_reject > 0);
    CHECK(d.pins > 0);
    return tu_finish("test_uri_p11kit_diff");
}
