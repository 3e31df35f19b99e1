/*
 * pkcs11uri: matching against Cryptoki info structures and building
 * object search templates.
 */
#include "uri_internal.h"

#include <stdlib.h>
#include <string.h>

/* Length of a fixed-size Cryptoki text field without its padding: the
 * standard pads with spaces, some modules with NULs. */
static size_t unpadded_len(const unsigned char *field, size_t size)
{
    while (size > 0 && (field[size - 1] == ' ' || field[size - 1] == '\0'))
        size--;
    return size;
}

/* An absent attribute matches anything; a present one must equal the
 * unpadded field exactly (so a value longer than the field never does). */
static bool match_field(const p11uri *uri, p11uri_attr attr,
                        const unsigned char *field, size_t size)
{
    const p11uri_value *v = &uri->values[attr];

    if (!v->present)
        return true;
    size_t len = unpadded_len(field, size);
    return v->len == len && (len == 0 || memcmp(v->data, field, len) == 0);
}

bool p11uri_match_module_info(const p11uri *uri, const CK_INFO *info)
{
    if (uri == NULL || info == NULL)
        return false;
    if (uri->values[P11URI_LIBRARY_VERSION].present
        && (uri->library_version.major != info->libraryVersion.major
            || uri->library_version.minor != info->libraryVersion.minor))
        return false;
    return match_field(uri, P11URI_LIBRARY_MANUFACTURER, info->manufacturerID,
                       sizeof(info->manufacturerID))
           && match_field(uri, P11URI_LIBRARY_DESCRIPTION,
                          info->libraryDescription,
                          sizeof(info->libraryDescription));
}

bool p11uri_match_slot_info(const p11uri *uri, CK_SLOT_ID slot,
                            const CK_SLOT_INFO *info)
{
    if (uri == NULL || info == NULL)
        return false;
    if (uri->values[P11URI_SLOT_ID].present && uri->slot_id != slot)
        return false;
    return match_field(uri, P11URI_SLOT_MANUFACTURER, info->manufacturerID,
                       sizeof(info->manufacturerID))
           && match_field(uri, P11URI_SLOT_DESCRIPTION, info->slotDescription,
                          sizeof(info->slotDescription));
}

bool p11uri_match_token_info(const p11uri *uri, const CK_TOKEN_INFO *info)
{
    if (uri == NULL || info == NULL)
        return false;
    return match_field(uri, P11URI_TOKEN, info->label, sizeof(info->label))
           && match_field(uri, P11URI_MANUFACTURER, info->manufacturerID,
                          sizeof(info->manufacturerID))
           && match_field(uri, P11URI_SERIAL, info->serialNumber,
                          sizeof(info->serialNumber))
           && match_field(uri, P11URI_MODEL, info->model,
                          sizeof(info->model));
}

p11uri_status p11uri_set_token_info(p11uri *uri, const CK_TOKEN_INFO *info)
{
    if (uri == NULL || info == NULL)
        return P11URI_ERR_BAD_VALUE;

    const struct {
        p11uri_attr attr;
        const unsigned char *field;
        size_t size;
    } fields[] = {
        { P11URI_TOKEN, info->label, sizeof(info->label) },
        { P11URI_MANUFACTURER, info->manufacturerID,
          sizeof(info->manufacturerID) },
        { P11URI_SERIAL, info->serialNumber, sizeof(info->serialNumber) },
        { P11URI_MODEL, info->model, sizeof(info->model) },
    };
    enum { N_FIELDS = sizeof(fields) / sizeof(fields[0]) };
    unsigned char *copies[N_FIELDS] = { NULL };
    size_t lens[N_FIELDS];
    const uri_typed untyped = { { 0, 0 }, 0, 0 };

    /* Copy everything first so that running out of memory leaves the URI
     * unchanged. */
    for (size_t i = 0; i < N_FIELDS; i++) {
        lens[i] = unpadded_len(fields[i].field, fields[i].size);
        copies[i] = uri_memdup(fields[i].field, lens[i]);
        if (copies[i] == NULL) {
            for (size_t j = 0; j < i; j++)
                free(copies[j]);
            return P11URI_ERR_MEMORY;
        }
    }
    for (size_t i = 0; i < N_FIELDS; i++)
        uri_store(uri, fields[i].attr, copies[i], lens[i], &untyped);
    return P11URI_OK;
}

size_t p11uri_object_template(const p11uri *uri, CK_ATTRIBUTE tmpl[3])
{
    size_t n = 0;

    if (uri == NULL || tmpl == NULL)
        return 0;
    /* CK_ATTRIBUTE has no const pointer; C_FindObjectsInit only reads. */
    if (uri->values[P11URI_TYPE].present)
        tmpl[n++] = (CK_ATTRIBUTE){ CKA_CLASS, (void *)&uri->object_class,
                                    sizeof(CK_OBJECT_CLASS) };
    if (uri->values[P11URI_OBJECT].present)
        tmpl[n++] = (CK_ATTRIBUTE){ CKA_LABEL,
                                    uri->values[P11URI_OBJECT].data,
                                    uri->values[P11URI_OBJECT].len };
    if (uri->values[P11URI_ID].present)
        tmpl[n++] = (CK_ATTRIBUTE){ CKA_ID, uri->values[P11URI_ID].data,
                                    uri->values[P11URI_ID].len };
    return n;
}
