/* Object search and attribute reads, defensive against modules that
 * answer with absurd sizes. */
#include "core/object.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/debug.h"
#include "core/errors.h"

/* Larger than any certificate or key attribute a token holds. */
#define MAX_ATTRIBUTE_LEN (1024UL * 1024UL)
#define FIND_BATCH 64
#define MAX_OBJECTS 65536

static bool valid_handles(const CK_OBJECT_HANDLE *handles, CK_ULONG count)
{
    for (CK_ULONG i = 0; i < count; i++)
        if (handles[i] == CK_INVALID_HANDLE)
            return false;
    return true;
}

CK_RV p11prov_find_objects(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                           CK_ATTRIBUTE *tmpl, CK_ULONG tmpl_count,
                           CK_OBJECT_HANDLE **handles, CK_ULONG *count)
{
    P11PROV_MODULE *m = token->module;
    CK_OBJECT_HANDLE *found = NULL;
    CK_ULONG used = 0, capacity = 0, last_got = 0;
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
                /* No token holds so many: one answering forever. */
                rv = P11PROV_CKR_BAD_ANSWER;
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
        /* More than there was room for, an invalid handle, or the last
         * batch again (a module that never says it is done). */
        if (got > FIND_BATCH || !valid_handles(found + used, got)
            || (used >= got && got == last_got
                && memcmp(found + used - got, found + used,
                          got * sizeof(*found))
                       == 0)) {
            rv = P11PROV_CKR_BAD_ANSWER;
            break;
        }
        last_got = got;
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
        return P11PROV_CKR_BAD_ANSWER;
    CK_ULONG size = attr.ulValueLen;
    attr.pValue = OPENSSL_malloc(size + 1);
    if (attr.pValue == NULL)
        return CKR_HOST_MEMORY;
    P11PROV_CALL(rv, m, C_GetAttributeValue, session, object, &attr, 1);
    if (rv == CKR_OK && attr.ulValueLen > size)
        rv = P11PROV_CKR_BAD_ANSWER; /* more than the buffer it had */
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
        if (rv != CKR_OK) {
            p11prov_attributes_free(attrs, count);
            if (rv == P11PROV_CKR_BAD_ANSWER)
                attrs[i].ulValueLen = P11PROV_ATTRIBUTE_BAD;
            return rv;
        }
        attrs[i].pValue = value;
        attrs[i].ulValueLen = len;
    }
    return CKR_OK;
}

/* Two calls: the sizes, then the values of those the object has. */
static CK_RV get_sized(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
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
            attrs[i].ulValueLen = P11PROV_ATTRIBUTE_BAD;
            return P11PROV_CKR_BAD_ANSWER;
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

/* The buffer offered for an attribute in the first call. Bounded: no
 * legitimate value is longer, so "unavailable" means the object lacks it
 * (an EC point of any curve, a 16384-bit modulus). Unbounded attributes
 * (ids, labels, lists, certificates) are asked again when unavailable:
 * their buffer may just have been too small. 0: not guessed. */
static CK_ULONG first_buffer(CK_ATTRIBUTE_TYPE type, bool *bounded)
{
    *bounded = true;
    switch (type) {
    case CKA_CLASS:
    case CKA_KEY_TYPE:
    case CKA_CERTIFICATE_TYPE:
    case CKA_MODULUS_BITS:
        /* Fixed sizes, offered larger: a length equal to the buffer then
         * always means "not written". */
        return 2 * sizeof(CK_ULONG);
    case CKA_TOKEN:
    case CKA_PRIVATE:
    case CKA_SIGN:
    case CKA_DECRYPT:
    case CKA_DERIVE:
    case CKA_ALWAYS_AUTHENTICATE:
    case CKA_COPYABLE:
        return 8 * sizeof(CK_BBOOL);
    case CKA_EC_PARAMS:
        return 1024;
    case CKA_EC_POINT:
        return 512;
    case CKA_MODULUS:
        return 2048;
    case CKA_PUBLIC_EXPONENT:
        return 64;
    }
    *bounded = false;
    switch (type) {
    case CKA_ID:
    case CKA_LABEL:
        return 128;
    case CKA_ALLOWED_MECHANISMS:
        return 32 * sizeof(CK_MECHANISM_TYPE);
    case CKA_VALUE:
        return 4096;
    }
    return 0;
}

CK_RV p11prov_get_attributes(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                             CK_OBJECT_HANDLE object, CK_ATTRIBUTE *attrs,
                             CK_ULONG count)
{
    CK_ULONG offered[32], again[32], total = 0, n_again = 0;
    bool bounded[32];
    unsigned char *buffer;
    CK_RV rv;

    if (count > 32)
        return CKR_ARGUMENTS_BAD;
    for (CK_ULONG i = 0; i < count; i++) {
        offered[i] = first_buffer(attrs[i].type, &bounded[i]);
        if (offered[i] == 0)
            return get_sized(token, session, object, attrs, count);
        total += offered[i];
    }
    /* One call with a buffer for each attribute: tokens that read their
     * objects from disk on every call (SoftHSM) pay per call, not per
     * attribute. */
    if ((buffer = OPENSSL_malloc(total)) == NULL)
        return CKR_HOST_MEMORY;
    for (CK_ULONG i = 0, at = 0; i < count; at += offered[i++])
        attrs[i] = (CK_ATTRIBUTE){ attrs[i].type, buffer + at, offered[i] };
    P11PROV_CALL(rv, token->module, C_GetAttributeValue, session, object,
                 attrs, count);
    if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID
        && rv != CKR_ATTRIBUTE_SENSITIVE && rv != CKR_BUFFER_TOO_SMALL) {
        OPENSSL_free(buffer);
        return rv;
    }
    /* PKCS#11: with those three codes the call still processed every
     * attribute: an exact length, or CK_UNAVAILABLE_INFORMATION. A length
     * equal to the whole buffer is asked again when the call failed (a
     * module that stopped early left it as we set it). */
    for (CK_ULONG i = 0; i < count; i++) {
        CK_ULONG len = attrs[i].ulValueLen;
        void *value = attrs[i].pValue;
        attrs[i].pValue = NULL;
        attrs[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
        if (len == CK_UNAVAILABLE_INFORMATION) {
            /* Absent, or (the call said CKR_BUFFER_TOO_SMALL) longer
             * than any real value: asked again with the others, so a
             * malformed value is seen as such, not as a gap. */
            if (!bounded[i] || rv == CKR_BUFFER_TOO_SMALL)
                again[n_again++] = i;
            continue;
        }
        if (len > offered[i] || (rv != CKR_OK && len == offered[i])) {
            again[n_again++] = i;
            continue;
        }
        if ((attrs[i].pValue = OPENSSL_malloc(len + 1)) == NULL) {
            OPENSSL_free(buffer);
            p11prov_attributes_free(attrs, count);
            return CKR_HOST_MEMORY;
        }
        memcpy(attrs[i].pValue, value, len);
        ((unsigned char *)attrs[i].pValue)[len] = '\0';
        attrs[i].ulValueLen = len;
    }
    OPENSSL_free(buffer);
    for (CK_ULONG j = 0; j < n_again; j++)
        P11PROV_DEBUG(3, "attribute 0x%lx asked again (first call: 0x%lx)",
                      attrs[again[j]].type, rv);
    if (n_again == 0)
        return CKR_OK;
    CK_ATTRIBUTE retry[32];
    for (CK_ULONG j = 0; j < n_again; j++)
        retry[j].type = attrs[again[j]].type;
    rv = get_sized(token, session, object, retry, n_again);
    if (rv != CKR_OK) {
        p11prov_attributes_free(attrs, count);
        for (CK_ULONG j = 0; j < n_again; j++)
            if (retry[j].pValue == NULL
                && retry[j].ulValueLen == P11PROV_ATTRIBUTE_BAD)
                attrs[again[j]].ulValueLen = P11PROV_ATTRIBUTE_BAD;
        return rv;
    }
    for (CK_ULONG j = 0; j < n_again; j++)
        attrs[again[j]] = retry[j];
    return CKR_OK;
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
        rv = attr.ulValueLen == CK_UNAVAILABLE_INFORMATION
                 ? CKR_ATTRIBUTE_TYPE_INVALID
                 : P11PROV_CKR_BAD_ANSWER;
    return rv;
}

CK_RV p11prov_get_bool(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                       CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type,
                       bool *value)
{
    CK_BBOOL answer = CK_FALSE;
    CK_ATTRIBUTE attr = { type, &answer, sizeof(answer) };
    CK_RV rv;

    P11PROV_CALL(rv, token->module, C_GetAttributeValue, session, object,
                 &attr, 1);
    if (rv == CKR_OK && attr.ulValueLen != sizeof(answer))
        rv = attr.ulValueLen == CK_UNAVAILABLE_INFORMATION
                 ? CKR_ATTRIBUTE_TYPE_INVALID
                 : P11PROV_CKR_BAD_ANSWER;
    *value = rv == CKR_OK && answer == CK_TRUE;
    return rv;
}

CK_ATTRIBUTE_TYPE p11prov_bad_attribute(const CK_ATTRIBUTE *attrs,
                                        CK_ULONG count)
{
    for (CK_ULONG i = 0; i < count; i++)
        if (attrs[i].pValue == NULL
            && attrs[i].ulValueLen == P11PROV_ATTRIBUTE_BAD)
            return attrs[i].type;
    return CK_UNAVAILABLE_INFORMATION;
}

void p11prov_raise_read(P11PROV_CTX *ctx, CK_RV rv, const char *what,
                        const char *uri, CK_ATTRIBUTE_TYPE bad)
{
    char name[P11PROV_CKR_NAME_MAX];

    if (bad == CK_UNAVAILABLE_INFORMATION) {
        char what_call[128];
        snprintf(what_call, sizeof(what_call), "C_GetAttributeValue %s",
                 what);
        P11PROV_RAISE_CKR(ctx, rv, what_call, uri);
    } else {
        P11PROV_RAISE(ctx, P11PROV_R_MODULE_BAD_ANSWER,
                      "C_GetAttributeValue of %s %s for %s: CKR_OK with an "
                      "impossible answer",
                      p11prov_cka_name(bad, name), what, uri ? uri : "");
    }
}
