/*
 * The fuzz targets' in-process token (see fuzz_token.h): one slot, one
 * token needing no login, the objects of the input.
 */
#include "fuzz_token.h"

#include <string.h>

#include "p11common.h"

const CK_ATTRIBUTE_TYPE fuzz_token_types[] = {
    CKA_CLASS,               /* 0 */
    CKA_KEY_TYPE,            /* 1 */
    CKA_ID,                  /* 2 */
    CKA_LABEL,               /* 3 */
    CKA_MODULUS,             /* 4 */
    CKA_PUBLIC_EXPONENT,     /* 5 */
    CKA_EC_PARAMS,           /* 6 */
    CKA_EC_POINT,            /* 7 */
    CKA_VALUE,               /* 8 */
    CKA_CERTIFICATE_TYPE,    /* 9 */
    CKA_SIGN,                /* 10 */
    CKA_DECRYPT,             /* 11 */
    CKA_DERIVE,              /* 12 */
    CKA_ALWAYS_AUTHENTICATE, /* 13 */
    CKA_ALLOWED_MECHANISMS,  /* 14 */
    CKA_MODULUS_BITS,        /* 15 */
    CKA_TOKEN,               /* 16 */
    CKA_PRIVATE,             /* 17 */
};
const size_t fuzz_token_type_count = sizeof(fuzz_token_types)
                                     / sizeof(fuzz_token_types[0]);

void fuzz_token_parse(FUZZ_TOKEN *token, const uint8_t *data, size_t size)
{
    FUZZ_OBJECT *object;
    size_t at = 1;

    memset(token, 0, sizeof(*token));
    if (size == 0)
        return;
    token->quirks = data[0];
    token->count = 1;
    object = &token->objects[0];
    while (at + 3 <= size) {
        unsigned int type = data[at];
        size_t len = ((size_t)data[at + 1] << 8) | data[at + 2];
        at += 3;
        if (len > size - at)
            len = size - at;
        if ((type & 0x1f) >= fuzz_token_type_count) {
            if (token->count == FUZZ_TOKEN_MAX_OBJECTS)
                break;
            object = &token->objects[token->count++];
        } else if (object->count < FUZZ_TOKEN_MAX_ATTRS) {
            object->attrs[object->count++] = (FUZZ_ATTR){
                fuzz_token_types[type & 0x1f], data + at, (CK_ULONG)len,
                (type & 0x80) != 0
            };
        }
        at += len;
    }
}

const FUZZ_ATTR *fuzz_object_attr(const FUZZ_OBJECT *object,
                                  CK_ATTRIBUTE_TYPE type)
{
    for (size_t i = 0; i < object->count; i++)
        if (object->attrs[i].type == type)
            return &object->attrs[i];
    return NULL;
}

const FUZZ_ATTR *fuzz_object_readable(const FUZZ_OBJECT *object,
                                      CK_ATTRIBUTE_TYPE type)
{
    const FUZZ_ATTR *a = fuzz_object_attr(object, type);

    return a != NULL && !a->sensitive ? a : NULL;
}

bool fuzz_object_ulong(const FUZZ_OBJECT *object, CK_ATTRIBUTE_TYPE type,
                       CK_ULONG *value)
{
    const FUZZ_ATTR *a = fuzz_object_readable(object, type);

    if (a == NULL || a->len != sizeof(CK_ULONG))
        return false;
    memcpy(value, a->value, sizeof(*value));
    return true;
}

/* ---- the module ------------------------------------------------------ */

#define SESSIONS 16

static const FUZZ_TOKEN *served;
static struct {
    bool open, finding;
    size_t next; /* the next object the search looks at */
    CK_ATTRIBUTE tmpl[8];
    CK_ULONG tmpl_count;
} sessions[SESSIONS];

void fuzz_token_serve(const FUZZ_TOKEN *token)
{
    served = token;
    memset(sessions, 0, sizeof(sessions));
}

static const FUZZ_OBJECT *object_of(CK_OBJECT_HANDLE handle)
{
    if (served == NULL || handle < FUZZ_TOKEN_HANDLE_BASE
        || handle - FUZZ_TOKEN_HANDLE_BASE >= served->count)
        return NULL;
    return &served->objects[handle - FUZZ_TOKEN_HANDLE_BASE];
}

static bool session_ok(CK_SESSION_HANDLE session)
{
    return session >= 1 && session <= SESSIONS && sessions[session - 1].open;
}

bool fuzz_object_matches(const FUZZ_OBJECT *object, const CK_ATTRIBUTE *tmpl,
                         CK_ULONG count)
{
    for (CK_ULONG i = 0; i < count; i++) {
        const FUZZ_ATTR *a = fuzz_object_attr(object, tmpl[i].type);
        if (a == NULL && tmpl[i].type == CKA_TOKEN
            && tmpl[i].ulValueLen == sizeof(CK_BBOOL)
            && *(CK_BBOOL *)tmpl[i].pValue == CK_TRUE)
            continue;
        if (a == NULL || a->len != tmpl[i].ulValueLen
            || (a->len > 0 && memcmp(a->value, tmpl[i].pValue, a->len) != 0))
            return false;
    }
    return true;
}

static CK_RV fuzz_Initialize(CK_VOID_PTR args)
{
    (void)args;
    return CKR_OK;
}

static CK_RV fuzz_Finalize(CK_VOID_PTR reserved)
{
    (void)reserved;
    return CKR_OK;
}

static CK_RV fuzz_GetInfo(CK_INFO_PTR info)
{
    token_library_info(info, "fuzz token", 1, 0);
    return CKR_OK;
}

static CK_RV fuzz_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list,
                              CK_ULONG_PTR count)
{
    static const CK_SLOT_ID slots[] = { 0 };

    (void)present;
    return token_fill_list(list, count, slots, 1);
}

static CK_RV fuzz_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
    if (slot != 0)
        return CKR_SLOT_ID_INVALID;
    memset(info, 0, sizeof(*info));
    TOKEN_PAD(info->slotDescription, "fuzz slot");
    TOKEN_PAD(info->manufacturerID, "pkcs11prov");
    info->flags = CKF_TOKEN_PRESENT;
    return CKR_OK;
}

static CK_RV fuzz_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
    if (slot != 0)
        return CKR_SLOT_ID_INVALID;
    memset(info, 0, sizeof(*info));
    TOKEN_PAD(info->label, "fuzz-token");
    TOKEN_PAD(info->manufacturerID, "pkcs11prov");
    TOKEN_PAD(info->model, "fuzz");
    TOKEN_PAD(info->serialNumber, "1");
    info->flags = CKF_TOKEN_INITIALIZED;
    info->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
    info->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
    info->ulMaxPinLen = 64;
    return CKR_OK;
}

static CK_RV fuzz_GetMechanismList(CK_SLOT_ID slot,
                                   CK_MECHANISM_TYPE_PTR list,
                                   CK_ULONG_PTR count)
{
    if (slot != 0)
        return CKR_SLOT_ID_INVALID;
    return token_mechanism_list(list, count);
}

static CK_RV fuzz_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
                                   CK_MECHANISM_INFO_PTR info)
{
    if (slot != 0)
        return CKR_SLOT_ID_INVALID;
    return token_mechanism_info(type, info);
}

static CK_RV fuzz_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, void *app,
                              CK_NOTIFY notify, CK_SESSION_HANDLE_PTR session)
{
    (void)flags;
    (void)app;
    (void)notify;
    if (slot != 0)
        return CKR_SLOT_ID_INVALID;
    for (CK_SESSION_HANDLE i = 0; i < SESSIONS; i++)
        if (!sessions[i].open) {
            sessions[i].open = true;
            sessions[i].finding = false;
            *session = i + 1;
            return CKR_OK;
        }
    return CKR_SESSION_COUNT;
}

static CK_RV fuzz_CloseSession(CK_SESSION_HANDLE session)
{
    if (!session_ok(session))
        return CKR_SESSION_HANDLE_INVALID;
    sessions[session - 1].open = false;
    return CKR_OK;
}

static CK_RV fuzz_CloseAllSessions(CK_SLOT_ID slot)
{
    if (slot != 0)
        return CKR_SLOT_ID_INVALID;
    memset(sessions, 0, sizeof(sessions));
    return CKR_OK;
}

static CK_RV fuzz_GetSessionInfo(CK_SESSION_HANDLE session,
                                 CK_SESSION_INFO_PTR info)
{
    if (!session_ok(session))
        return CKR_SESSION_HANDLE_INVALID;
    memset(info, 0, sizeof(*info));
    info->state = CKS_RO_PUBLIC_SESSION;
    info->flags = CKF_SERIAL_SESSION;
    return CKR_OK;
}

static CK_RV fuzz_Login(CK_SESSION_HANDLE session, CK_USER_TYPE user,
                        CK_UTF8CHAR_PTR pin, CK_ULONG pin_len)
{
    (void)user;
    (void)pin;
    (void)pin_len;
    return session_ok(session) ? CKR_USER_ALREADY_LOGGED_IN
                               : CKR_SESSION_HANDLE_INVALID;
}

static CK_RV fuzz_Logout(CK_SESSION_HANDLE session)
{
    return session_ok(session) ? CKR_USER_NOT_LOGGED_IN
                               : CKR_SESSION_HANDLE_INVALID;
}

/* One attribute; *rv keeps the batch's last error. */
static void get_one(const FUZZ_OBJECT *object, CK_ATTRIBUTE *attr,
                    unsigned int quirks, CK_RV *rv)
{
    const FUZZ_ATTR *a = fuzz_object_attr(object, attr->type);

    if (a == NULL || a->sensitive) {
        attr->ulValueLen = CK_UNAVAILABLE_INFORMATION;
        *rv = a == NULL ? CKR_ATTRIBUTE_TYPE_INVALID
                        : CKR_ATTRIBUTE_SENSITIVE;
    } else if (attr->pValue == NULL) {
        attr->ulValueLen = (quirks & FUZZ_TOKEN_UNDERSIZE) && a->len > 0
                               ? a->len - 1
                               : a->len;
    } else if (attr->ulValueLen < a->len) {
        attr->ulValueLen = (quirks & FUZZ_TOKEN_SIZE_ON_SHORT)
                               ? a->len
                               : CK_UNAVAILABLE_INFORMATION;
        *rv = CKR_BUFFER_TOO_SMALL;
    } else {
        if (a->len > 0)
            memcpy(attr->pValue, a->value, a->len);
        attr->ulValueLen = a->len;
    }
}

static CK_RV fuzz_GetAttributeValue(CK_SESSION_HANDLE session,
                                    CK_OBJECT_HANDLE handle,
                                    CK_ATTRIBUTE_PTR tmpl, CK_ULONG count)
{
    const FUZZ_OBJECT *object = object_of(handle);
    unsigned int quirks;
    CK_RV rv = CKR_OK;

    if (!session_ok(session))
        return CKR_SESSION_HANDLE_INVALID;
    if (object == NULL)
        return CKR_OBJECT_HANDLE_INVALID;
    if (tmpl == NULL && count > 0)
        return CKR_ARGUMENTS_BAD;
    quirks = served->quirks;
    if ((quirks & FUZZ_TOKEN_NO_BATCH_SIZES) && count > 1)
        for (CK_ULONG i = 0; i < count; i++)
            if (tmpl[i].pValue == NULL
                && fuzz_object_attr(object, tmpl[i].type) == NULL)
                return CKR_ATTRIBUTE_TYPE_INVALID;
    for (CK_ULONG i = 0; i < count; i++) {
        get_one(object, &tmpl[i], quirks, &rv);
        if (rv != CKR_OK && (quirks & FUZZ_TOKEN_STOP_AT_ERROR))
            break;
    }
    return rv;
}

static CK_RV fuzz_FindObjectsInit(CK_SESSION_HANDLE session,
                                  CK_ATTRIBUTE_PTR tmpl, CK_ULONG count)
{
    if (!session_ok(session))
        return CKR_SESSION_HANDLE_INVALID;
    if (sessions[session - 1].finding)
        return CKR_OPERATION_ACTIVE;
    if (count > 8 || (tmpl == NULL && count > 0))
        return CKR_ARGUMENTS_BAD;
    /* The template's values stay the caller's until C_FindObjectsFinal. */
    if (count > 0)
        memcpy(sessions[session - 1].tmpl, tmpl, count * sizeof(*tmpl));
    sessions[session - 1].tmpl_count = count;
    sessions[session - 1].next = 0;
    sessions[session - 1].finding = true;
    return CKR_OK;
}

static CK_RV fuzz_FindObjects(CK_SESSION_HANDLE session,
                              CK_OBJECT_HANDLE_PTR out, CK_ULONG max,
                              CK_ULONG_PTR found)
{
    if (!session_ok(session))
        return CKR_SESSION_HANDLE_INVALID;
    if (!sessions[session - 1].finding)
        return CKR_OPERATION_NOT_INITIALIZED;
    if (out == NULL || found == NULL)
        return CKR_ARGUMENTS_BAD;
    *found = 0;
    size_t *next = &sessions[session - 1].next;
    while (*found < max && *next < served->count) {
        size_t i = (*next)++;
        if (fuzz_object_matches(&served->objects[i],
                                sessions[session - 1].tmpl,
                                sessions[session - 1].tmpl_count))
            out[(*found)++] = FUZZ_TOKEN_HANDLE_BASE + i;
    }
    return CKR_OK;
}

static CK_RV fuzz_FindObjectsFinal(CK_SESSION_HANDLE session)
{
    if (!session_ok(session))
        return CKR_SESSION_HANDLE_INVALID;
    if (!sessions[session - 1].finding)
        return CKR_OPERATION_NOT_INITIALIZED;
    sessions[session - 1].finding = false;
    return CKR_OK;
}

/* No key here signs: the targets only read objects. */
static CK_RV fuzz_SignInit(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mech,
                           CK_OBJECT_HANDLE key)
{
    (void)mech;
    (void)key;
    return session_ok(session) ? CKR_FUNCTION_NOT_SUPPORTED
                               : CKR_SESSION_HANDLE_INVALID;
}

static CK_RV fuzz_Sign(CK_SESSION_HANDLE session, CK_BYTE_PTR data,
                       CK_ULONG data_len, CK_BYTE_PTR sig,
                       CK_ULONG_PTR sig_len)
{
    (void)data;
    (void)data_len;
    (void)sig;
    (void)sig_len;
    return session_ok(session) ? CKR_OPERATION_NOT_INITIALIZED
                               : CKR_SESSION_HANDLE_INVALID;
}

#define TOKEN_STUB_BODY(name) ((void)(name), CKR_FUNCTION_NOT_SUPPORTED)
TOKEN_DEFINE_STUBS()
TOKEN_DEFINE_FUNCTION_LIST(fuzz_)

CK_FUNCTION_LIST *fuzz_token_functions(void)
{
    return &function_list;
}
