/*
 * What our two test PKCS#11 modules share (see p11common.h): object
 * lookup, C_GetAttributeValue, the find operation, mechanisms.
 */
#include <string.h>

#include "p11common.h"

const CK_BBOOL token_ck_true = CK_TRUE;
const CK_BBOOL token_ck_false = CK_FALSE;
const CK_OBJECT_CLASS token_public_key_class = CKO_PUBLIC_KEY;
const CK_OBJECT_CLASS token_private_key_class = CKO_PRIVATE_KEY;
const CK_KEY_TYPE token_ec_key_type = CKK_EC;
const unsigned char token_p256_params[10] = {
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
};

/* ---- objects and attributes ----------------------------------------- */

const token_object *token_visible_object(const token_object_table *table,
                                         CK_OBJECT_HANDLE handle,
                                         int logged_in)
{
    for (CK_ULONG i = 0; i < table->n_objects; i++) {
        const token_object *obj = &table->objects[i];

        if (obj->handle == handle)
            return !obj->is_private || logged_in ? obj : NULL;
    }
    return NULL;
}

CK_RV token_wrong_key_error(const token_object_table *table,
                            CK_OBJECT_HANDLE key, int logged_in)
{
    return token_visible_object(table, key, logged_in) == NULL
               ? CKR_KEY_HANDLE_INVALID
               : CKR_KEY_FUNCTION_NOT_PERMITTED;
}

/* The attribute of obj, or NULL. */
static const token_attr *find_attr(const token_object *obj,
                                   CK_ATTRIBUTE_TYPE type)
{
    for (CK_ULONG i = 0; i < obj->n_attrs; i++)
        if (obj->attrs[i].type == type)
            return &obj->attrs[i];
    return NULL;
}

/* Does obj have every attribute of the template, with the same value? */
static int template_matches(const token_object *obj, const CK_ATTRIBUTE *tmpl,
                            CK_ULONG count)
{
    for (CK_ULONG i = 0; i < count; i++) {
        const token_attr *a = find_attr(obj, tmpl[i].type);

        if (a == NULL || a->len != tmpl[i].ulValueLen
            || (a->len > 0 && memcmp(a->value, tmpl[i].pValue, a->len) != 0))
            return 0;
    }
    return 1;
}

CK_RV token_get_attribute_values(const token_object *obj, CK_ATTRIBUTE *tmpl,
                                 CK_ULONG count)
{
    CK_RV rv = CKR_OK;

    if (obj == NULL)
        return CKR_OBJECT_HANDLE_INVALID;
    if (tmpl == NULL && count > 0)
        return CKR_ARGUMENTS_BAD;
    for (CK_ULONG i = 0; i < count; i++) {
        const token_attr *a = find_attr(obj, tmpl[i].type);

        if (a == NULL) {
            tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            rv = CKR_ATTRIBUTE_TYPE_INVALID;
        } else if (tmpl[i].pValue == NULL) {
            tmpl[i].ulValueLen = a->len;
        } else if (tmpl[i].ulValueLen < a->len) {
            tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            rv = CKR_BUFFER_TOO_SMALL;
        } else {
            memcpy(tmpl[i].pValue, a->value, a->len);
            tmpl[i].ulValueLen = a->len;
        }
    }
    return rv;
}

/* ---- finding objects ------------------------------------------------- */

CK_RV token_find_init(token_find *find, const token_object_table *table,
                      const CK_ATTRIBUTE *tmpl, CK_ULONG count, int logged_in)
{
    if (find->active)
        return CKR_OPERATION_ACTIVE;
    if (tmpl == NULL && count > 0)
        return CKR_ARGUMENTS_BAD;
    find->active = 1;
    find->pending = 0;
    for (CK_ULONG i = 0; i < table->n_objects; i++)
        if ((!table->objects[i].is_private || logged_in)
            && template_matches(&table->objects[i], tmpl, count))
            find->pending |= 1UL << i;
    return CKR_OK;
}

CK_RV token_find_next(token_find *find, const token_object_table *table,
                      CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *found)
{
    if (!find->active)
        return CKR_OPERATION_NOT_INITIALIZED;
    if (out == NULL || found == NULL)
        return CKR_ARGUMENTS_BAD;
    *found = 0;
    for (CK_ULONG i = 0; i < table->n_objects && *found < max; i++) {
        if (find->pending & (1UL << i)) {
            out[(*found)++] = table->objects[i].handle;
            find->pending &= ~(1UL << i);
        }
    }
    return CKR_OK;
}

CK_RV token_find_final(token_find *find)
{
    if (!find->active)
        return CKR_OPERATION_NOT_INITIALIZED;
    find->active = 0;
    find->pending = 0;
    return CKR_OK;
}

/* ---- lists, mechanisms, sessions ------------------------------------- */

CK_RV token_fill_list(CK_ULONG *out, CK_ULONG *count, const CK_ULONG *items,
                      CK_ULONG n)
{
    CK_ULONG room;

    if (count == NULL)
        return CKR_ARGUMENTS_BAD;
    room = *count;
    *count = n;
    if (out == NULL)
        return CKR_OK;
    if (room < n)
        return CKR_BUFFER_TOO_SMALL;
    memcpy(out, items, n * sizeof(*items));
    return CKR_OK;
}

CK_RV token_mechanism_list(CK_MECHANISM_TYPE *list, CK_ULONG *count)
{
    static const CK_MECHANISM_TYPE mechanisms[] = { CKM_ECDSA, CKM_RSA_PKCS };

    return token_fill_list(list, count, mechanisms, TOKEN_N_OF(mechanisms));
}

/* Every field is set on success; info is left alone on an error. */
CK_RV token_mechanism_info(CK_MECHANISM_TYPE type, CK_MECHANISM_INFO *info)
{
    if (type == CKM_ECDSA) {
        info->ulMinKeySize = 256;
        info->ulMaxKeySize = 521;
        info->flags = CKF_SIGN | CKF_VERIFY | CKF_EC_F_P | CKF_EC_NAMEDCURVE
                      | CKF_EC_UNCOMPRESS;
    } else if (type == CKM_RSA_PKCS) {
        info->ulMinKeySize = 1024;
        info->ulMaxKeySize = 4096;
        info->flags = CKF_SIGN | CKF_VERIFY | CKF_ENCRYPT | CKF_DECRYPT;
    } else {
        return CKR_MECHANISM_INVALID;
    }
    return CKR_OK;
}

void token_library_info(CK_INFO *info, const char *description,
                        CK_BYTE version_major, CK_BYTE version_minor)
{
    memset(info, 0, sizeof(*info));
    info->cryptokiVersion.major = 2;
    info->cryptokiVersion.minor = 40;
    TOKEN_PAD(info->manufacturerID, "pkcs11prov");
    TOKEN_PAD(info->libraryDescription, description);
    info->libraryVersion.major = version_major;
    info->libraryVersion.minor = version_minor;
}

CK_STATE token_session_state(CK_FLAGS session_flags, int logged_in)
{
    if (session_flags & CKF_RW_SESSION)
        return logged_in ? CKS_RW_USER_FUNCTIONS : CKS_RW_PUBLIC_SESSION;
    return logged_in ? CKS_RO_USER_FUNCTIONS : CKS_RO_PUBLIC_SESSION;
}

void token_pad(CK_UTF8CHAR *field, size_t size, const char *text)
{
    size_t len = strlen(text);

    memset(field, ' ', size);
    memcpy(field, text, len < size ? len : size);
}
