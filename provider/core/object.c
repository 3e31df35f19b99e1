/* Object search and attribute reads, defensive against modules that
 * answer with absurd sizes. */
#include "core/object.h"

#include <openssl/crypto.h>

#include "core/debug.h"

/* Larger than any certificate or key attribute a token holds. */
#define MAX_ATTRIBUTE_LEN (1024UL * 1024UL)
#define FIND_BATCH 64
#define MAX_OBJECTS 65536

CK_RV p11prov_find_objects(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                           CK_ATTRIBUTE *tmpl, CK_ULONG tmpl_count,
                           CK_OBJECT_HANDLE **handles, CK_ULONG *count)
{
    P11PROV_MODULE *m = token->module;
    CK_OBJECT_HANDLE *found = NULL;
    CK_ULONG used = 0, capacity = 0;
    CK_RV rv, final_rv;

    *handles = NULL;
    *count = 0;
    P11PROV_CALL(rv, m, C_FindObjectsInit, session, tmpl, tmpl_count);
    if (rv != CKR_OK)
        return rv;
    for (;;) {
        CK_ULONG got = 0;
        if (capacity - used < FIND_BATCH) {
            if (capacity >= MAX_OBJECTS) {
                rv = CKR_GENERAL_ERROR;
                break;
            }
            CK_OBJECT_HANDLE *grown = OPENSSL_realloc(
                found, (capacity + FIND_BATCH) * sizeof(*found));
            if (grown == NULL) {
                rv = CKR_HOST_MEMORY;
                break;
            }
            found = grown;
            capacity += FIND_BATCH;
        }
        P11PROV_CALL(rv, m, C_FindObjects, session, found + used, FIND_BATCH,
                     &got);
        if (rv != CKR_OK || got == 0)
            break;
        if (got > FIND_BATCH) {
            rv = CKR_GENERAL_ERROR; /* more than we had room for */
            break;
        }
        used += got;
    }
    P11PROV_CALL(final_rv, m, C_FindObjectsFinal, session);
    if (rv == CKR_OK)
        rv = final_rv;
    if (rv != CKR_OK) {
        OPENSSL_free(found);
        return rv;
    }
    if (used == 0) {
        OPENSSL_free(found);
        found = NULL;
    }
    *handles = found;
    *count = used;
    return CKR_OK;
}

CK_RV p11prov_get_attribute(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                            CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type,
                            unsigned char **value, CK_ULONG *len)
{
    P11PROV_MODULE *m = token->module;
    CK_ATTRIBUTE attr = { type, NULL, 0 };
    CK_RV rv;

    *value = NULL;
    *len = 0;
    P11PROV_CALL(rv, m, C_GetAttributeValue, session, object, &attr, 1);
    if (rv != CKR_OK)
        return rv;
    if (attr.ulValueLen == CK_UNAVAILABLE_INFORMATION)
        return CKR_ATTRIBUTE_SENSITIVE;
    if (attr.ulValueLen > MAX_ATTRIBUTE_LEN)
        return CKR_GENERAL_ERROR;
    CK_ULONG size = attr.ulValueLen;
    attr.pValue = OPENSSL_malloc(size + 1);
    if (attr.pValue == NULL)
        return CKR_HOST_MEMORY;
    P11PROV_CALL(rv, m, C_GetAttributeValue, session, object, &attr, 1);
    if (rv == CKR_OK && attr.ulValueLen > size)
        rv = CKR_GENERAL_ERROR; /* it grew between the calls */
    if (rv != CKR_OK) {
        OPENSSL_free(attr.pValue);
        return rv;
    }
    ((unsigned char *)attr.pValue)[attr.ulValueLen] = '\0';
    *value = attr.pValue;
    *len = attr.ulValueLen;
    return CKR_OK;
}

void p11prov_attributes_free(CK_ATTRIBUTE *attrs, CK_ULONG count)
{
    for (CK_ULONG i = 0; i < count; i++) {
        OPENSSL_free(attrs[i].pValue);
        attrs[i].pValue = NULL;
        attrs[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
    }
}

/* One attribute at a time: for modules that answer a batch wrongly. */
static CK_RV get_one_by_one(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                            CK_OBJECT_HANDLE object, CK_ATTRIBUTE *attrs,
                            CK_ULONG count)
{
    for (CK_ULONG i = 0; i < count; i++) {
        unsigned char *value;
        CK_ULONG len;
        CK_RV rv = p11prov_get_attribute(token, session, object,
                                         attrs[i].type, &value, &len);
        if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE)
            continue;
        if (rv != CKR_OK)
            return rv;
        attrs[i].pValue = value;
        attrs[i].ulValueLen = len;
    }
    return CKR_OK;
}

CK_RV p11prov_get_attributes(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                             CK_OBJECT_HANDLE object, CK_ATTRIBUTE *attrs,
                             CK_ULONG count)
{
    P11PROV_MODULE *m = token->module;
    CK_ATTRIBUTE present[32];
    CK_ULONG where[32], size[32], n = 0;
    CK_RV rv;

    if (count > 32)
        return CKR_ARGUMENTS_BAD;
    for (CK_ULONG i = 0; i < count; i++) {
        attrs[i].pValue = NULL;
        attrs[i].ulValueLen = 0;
    }
    /* The sizes. PKCS#11: an attribute the object lacks (or keeps
     * secret) is marked CK_UNAVAILABLE_INFORMATION and the call says
     * CKR_ATTRIBUTE_TYPE_INVALID (or _SENSITIVE); the others are sized. */
    P11PROV_CALL(rv, m, C_GetAttributeValue, session, object, attrs, count);
    if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID
        && rv != CKR_ATTRIBUTE_SENSITIVE)
        return rv;
    for (CK_ULONG i = 0; i < count; i++) {
        CK_ULONG len = attrs[i].ulValueLen;
        attrs[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
        if (len == CK_UNAVAILABLE_INFORMATION)
            continue;
        if (len > MAX_ATTRIBUTE_LEN) {
            while (n > 0)
                OPENSSL_free(present[--n].pValue);
            return CKR_GENERAL_ERROR;
        }
        present[n] = (CK_ATTRIBUTE){ attrs[i].type, OPENSSL_malloc(len + 1),
                                     len };
        if (present[n].pValue == NULL) {
            while (n > 0)
                OPENSSL_free(present[--n].pValue);
            return CKR_HOST_MEMORY;
        }
        size[n] = len;
        where[n++] = i;
    }
    /* Nothing sized although the call failed: a module that does not
     * size the rest of a batch. */
    if (n == 0 && rv != CKR_OK)
        return get_one_by_one(token, session, object, attrs, count);
    rv = CKR_OK;
    if (n > 0)
        P11PROV_CALL(rv, m, C_GetAttributeValue, session, object, present, n);
    for (CK_ULONG j = 0; j < n; j++) {
        attrs[where[j]].pValue = present[j].pValue;
        if (rv == CKR_OK && present[j].ulValueLen > size[j])
            rv = CKR_BUFFER_TOO_SMALL; /* it grew between the calls */
        if (rv == CKR_OK) {
            attrs[where[j]].ulValueLen = present[j].ulValueLen;
            ((unsigned char *)present[j].pValue)[present[j].ulValueLen] = 0;
        }
    }
    if (rv == CKR_OK)
        return CKR_OK;
    p11prov_attributes_free(attrs, count);
    /* Sized, then refused or grown: this module answers batches
     * inconsistently; ask one attribute at a time. */
    if (rv != CKR_ATTRIBUTE_TYPE_INVALID && rv != CKR_ATTRIBUTE_SENSITIVE
        && rv != CKR_BUFFER_TOO_SMALL)
        return rv;
    return get_one_by_one(token, session, object, attrs, count);
}

const CK_ATTRIBUTE *p11prov_attribute_find(const CK_ATTRIBUTE *attrs,
                                           CK_ULONG count,
                                           CK_ATTRIBUTE_TYPE type)
{
    for (CK_ULONG i = 0; i < count; i++)
        if (attrs[i].type == type && attrs[i].pValue != NULL)
            return &attrs[i];
    return NULL;
}

CK_RV p11prov_get_ulong(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                        CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type,
                        CK_ULONG *value)
{
    CK_ATTRIBUTE attr = { type, value, sizeof(*value) };
    CK_RV rv;

    P11PROV_CALL(rv, token->module, C_GetAttributeValue, session, object,
                 &attr, 1);
    if (rv == CKR_OK && attr.ulValueLen != sizeof(*value))
        rv = CKR_ATTRIBUTE_VALUE_INVALID;
    return rv;
}

bool p11prov_get_bool(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                      CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type,
                      bool absent)
{
    CK_BBOOL value = CK_FALSE;
    CK_ATTRIBUTE attr = { type, &value, sizeof(value) };
    CK_RV rv;

    P11PROV_CALL(rv, token->module, C_GetAttributeValue, session, object,
                 &attr, 1);
    if (rv != CKR_OK || attr.ulValueLen != sizeof(value))
        return absent;
    return value == CK_TRUE;
}
