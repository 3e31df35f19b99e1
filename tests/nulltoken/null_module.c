/*
 * p11null: a PKCS#11 v2.40 module that does no work, for benchmarks.
 *
 * One slot (id 1) with one token ("null-token", flags CKF_TOKEN_INITIALIZED
 * only: no login required; C_Login accepts any PIN all the same) holding
 * one EC P-256 key pair "null-p256", id 01 (handles 1: private, 2: public).
 * Mechanisms CKM_ECDSA and CKM_RSA_PKCS are listed; C_Sign with CKM_ECDSA
 * returns 64 fixed bytes (r and s each 32 bytes, top byte 0x01), which is
 * well-formed but does not verify. Every function not listed in the
 * function list below as null_* returns CKR_FUNCTION_NOT_SUPPORTED.
 *
 * Session handles come from an atomic counter; the per-session state (an
 * active find or sign) lives in a fixed table indexed by the handle. As
 * PKCS#11 requires, an application uses one session from one thread at a
 * time, so the sign path takes no lock.
 */
#include <stdatomic.h>
#include <string.h>

#include "null_objects.h"

#define NULL_SLOT_ID 1UL
#define NULL_MAX_SESSIONS 1024 /* open at once */
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
static const CK_MECHANISM_TYPE mechanisms[] = {CKM_ECDSA, CKM_RSA_PKCS};

/* ---- state ---------------------------------------------------------- */

typedef struct session {
    CK_SESSION_HANDLE handle; /* 0: the entry is free */
    CK_FLAGS flags;
    int find_active;
    size_t find_next;      /* index into null_objects[] */
    unsigned find_matches; /* bit i: null_objects[i] matched the template */
    int sign_active;
} session;

static atomic_int initialized;
static atomic_ulong next_handle = 1;
static atomic_int logged_in;
static session sessions[NULL_MAX_SESSIONS];

static session *session_of(CK_SESSION_HANDLE h)
{
    session *s = &sessions[h % NULL_MAX_SESSIONS];

    return h != 0 && s->handle == h ? s : NULL;
}

static void pad(CK_UTF8CHAR *field, size_t size, const char *text)
{
    size_t len = strlen(text);

    memset(field, ' ', size);
    memcpy(field, text, len < size ? len : size);
}

#define NEED_INIT() \
    if (!atomic_load(&initialized)) return CKR_CRYPTOKI_NOT_INITIALIZED

#define NEED_SESSION(h, s)                 \
    NEED_INIT();                           \
    session *s = session_of(h);            \
    if (s == NULL)                         \
        return CKR_SESSION_HANDLE_INVALID

/* ---- general, slot and token ---------------------------------------- */

static CK_RV null_Initialize(void *init_args)
{
    (void)init_args;
    if (atomic_exchange(&initialized, 1))
        return CKR_CRYPTOKI_ALREADY_INITIALIZED;
    return CKR_OK;
}

static CK_RV null_Finalize(void *reserved)
{
    if (reserved != NULL)
        return CKR_ARGUMENTS_BAD;
    if (!atomic_exchange(&initialized, 0))
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    memset(sessions, 0, sizeof(sessions));
    atomic_store(&logged_in, 0);
    return CKR_OK;
}

static CK_RV null_GetInfo(CK_INFO *info)
{
    NEED_INIT();
    if (info == NULL)
        return CKR_ARGUMENTS_BAD;
    memset(info, 0, sizeof(*info));
    info->cryptokiVersion.major = 2;
    info->cryptokiVersion.minor = 40;
    pad(info->manufacturerID, sizeof(info->manufacturerID), "pkcs11prov");
    pad(info->libraryDescription, sizeof(info->libraryDescription),
        "p11null benchmark module");
    info->libraryVersion.major = 1;
    return CKR_OK;
}

/* The PKCS#11 two-call convention for a list of CK_ULONG. */
static CK_RV fill_list(CK_ULONG *out, CK_ULONG *count, const CK_ULONG *items,
                       CK_ULONG n)
{
    if (count == NULL)
        return CKR_ARGUMENTS_BAD;
    if (out == NULL) {
        *count = n;
        return CKR_OK;
    }
    if (*count < n) {
        *count = n;
        return CKR_BUFFER_TOO_SMALL;
    }
    memcpy(out, items, n * sizeof(*items));
    *count = n;
    return CKR_OK;
}

static CK_RV null_GetSlotList(CK_BBOOL token_present, CK_SLOT_ID *list,
                              CK_ULONG *count)
{
    static const CK_SLOT_ID slots[] = {NULL_SLOT_ID};

    (void)token_present;
    NEED_INIT();
    return fill_list(list, count, slots, 1);
}

static CK_RV null_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO *info)
{
    NEED_INIT();
    if (slot != NULL_SLOT_ID)
        return CKR_SLOT_ID_INVALID;
    if (info == NULL)
        return CKR_ARGUMENTS_BAD;
    memset(info, 0, sizeof(*info));
    pad(info->slotDescription, sizeof(info->slotDescription), "null slot");
    pad(info->manufacturerID, sizeof(info->manufacturerID), "pkcs11prov");
    info->flags = CKF_TOKEN_PRESENT;
    return CKR_OK;
}

static CK_RV null_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO *info)
{
    NEED_INIT();
    if (slot != NULL_SLOT_ID)
        return CKR_SLOT_ID_INVALID;
    if (info == NULL)
        return CKR_ARGUMENTS_BAD;
    memset(info, 0, sizeof(*info));
    pad(info->label, sizeof(info->label), "null-token");
    pad(info->manufacturerID, sizeof(info->manufacturerID), "pkcs11prov");
    pad(info->model, sizeof(info->model), "p11null");
    pad(info->serialNumber, sizeof(info->serialNumber), "0000000000000001");
    info->flags = CKF_TOKEN_INITIALIZED;
    info->ulMaxSessionCount = info->ulMaxRwSessionCount =
        CK_EFFECTIVELY_INFINITE;
    info->ulSessionCount = info->ulRwSessionCount = CK_UNAVAILABLE_INFORMATION;
    info->ulMaxPinLen = 64;
    info->ulTotalPublicMemory = info->ulFreePublicMemory =
        info->ulTotalPrivateMemory = info->ulFreePrivateMemory =
            CK_UNAVAILABLE_INFORMATION;
    info->hardwareVersion.major = info->firmwareVersion.major = 1;
    return CKR_OK;
}

static CK_RV null_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE *list,
                                   CK_ULONG *count)
{
    NEED_INIT();
    if (slot != NULL_SLOT_ID)
        return CKR_SLOT_ID_INVALID;
    return fill_list(list, count, mechanisms, N_OF(mechanisms));
}

static CK_RV null_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
                                   CK_MECHANISM_INFO *info)
{
    NEED_INIT();
    if (slot != NULL_SLOT_ID)
        return CKR_SLOT_ID_INVALID;
    if (info == NULL)
        return CKR_ARGUMENTS_BAD;
    memset(info, 0, sizeof(*info));
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

/* ---- sessions --------------------------------------------------------- */

static CK_RV null_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, void *app,
                              CK_NOTIFY notify, CK_SESSION_HANDLE *out)
{
    (void)app, (void)notify;
    NEED_INIT();
    if (slot != NULL_SLOT_ID)
        return CKR_SLOT_ID_INVALID;
    if (out == NULL)
        return CKR_ARGUMENTS_BAD;
    if (!(flags & CKF_SERIAL_SESSION))
        return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
    for (int tries = 0; tries < NULL_MAX_SESSIONS; tries++) {
        CK_SESSION_HANDLE h = atomic_fetch_add(&next_handle, 1);
        session *s = &sessions[h % NULL_MAX_SESSIONS];

        if (h == 0 || s->handle != 0)
            continue; /* in use (or handle 0, never valid) */
        memset(s, 0, sizeof(*s));
        s->flags = flags;
        s->handle = h;
        *out = h;
        return CKR_OK;
    }
    return CKR_SESSION_COUNT;
}

static CK_RV null_CloseSession(CK_SESSION_HANDLE h)
{
    NEED_SESSION(h, s);
    s->handle = 0;
    return CKR_OK;
}

static CK_RV null_CloseAllSessions(CK_SLOT_ID slot)
{
    NEED_INIT();
    if (slot != NULL_SLOT_ID)
        return CKR_SLOT_ID_INVALID;
    for (size_t i = 0; i < NULL_MAX_SESSIONS; i++)
        sessions[i].handle = 0;
    atomic_store(&logged_in, 0);
    return CKR_OK;
}

static CK_RV null_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO *info)
{
    NEED_SESSION(h, s);
    if (info == NULL)
        return CKR_ARGUMENTS_BAD;
    memset(info, 0, sizeof(*info));
    info->slotID = NULL_SLOT_ID;
    info->flags = s->flags;
    if (s->flags & CKF_RW_SESSION)
        info->state = logged_in ? CKS_RW_USER_FUNCTIONS
                                : CKS_RW_PUBLIC_SESSION;
    else
        info->state = logged_in ? CKS_RO_USER_FUNCTIONS
                                : CKS_RO_PUBLIC_SESSION;
    return CKR_OK;
}

/* No login is required; one is accepted with any PIN. */
static CK_RV null_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user,
                        CK_UTF8CHAR *pin, CK_ULONG pin_len)
{
    (void)pin, (void)pin_len;
    NEED_SESSION(h, s);
    if (user != CKU_USER && user != CKU_CONTEXT_SPECIFIC)
        return CKR_USER_TYPE_INVALID;
    if (user == CKU_USER && atomic_exchange(&logged_in, 1))
        return CKR_USER_ALREADY_LOGGED_IN;
    return CKR_OK;
}

static CK_RV null_Logout(CK_SESSION_HANDLE h)
{
    NEED_SESSION(h, s);
    if (!atomic_exchange(&logged_in, 0))
        return CKR_USER_NOT_LOGGED_IN;
    return CKR_OK;
}

/* ---- objects ---------------------------------------------------------- */

static CK_RV null_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
                                    CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
    const null_object *o;
    CK_RV rv = CKR_OK;

    NEED_SESSION(h, s);
    if ((o = null_object_by_handle(obj)) == NULL)
        return CKR_OBJECT_HANDLE_INVALID;
    if (tmpl == NULL && count > 0)
        return CKR_ARGUMENTS_BAD;
    for (CK_ULONG i = 0; i < count; i++) {
        const null_attr *a = null_find_attr(o, tmpl[i].type);

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

static CK_RV null_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE *tmpl,
                                  CK_ULONG count)
{
    NEED_SESSION(h, s);
    if (s->find_active)
        return CKR_OPERATION_ACTIVE;
    if (tmpl == NULL && count > 0)
        return CKR_ARGUMENTS_BAD;
    s->find_matches = 0;
    for (size_t i = 0; i < NULL_N_OBJECTS; i++)
        if (null_template_matches(&null_objects[i], tmpl, count))
            s->find_matches |= 1u << i;
    s->find_next = 0;
    s->find_active = 1;
    return CKR_OK;
}

static CK_RV null_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE *out,
                              CK_ULONG max, CK_ULONG *n_out)
{
    NEED_SESSION(h, s);
    if (!s->find_active)
        return CKR_OPERATION_NOT_INITIALIZED;
    if (out == NULL || n_out == NULL)
        return CKR_ARGUMENTS_BAD;
    *n_out = 0;
    for (; s->find_next < NULL_N_OBJECTS && *n_out < max; s->find_next++)
        if (s->find_matches & (1u << s->find_next))
            out[(*n_out)++] = null_objects[s->find_next].handle;
    return CKR_OK;
}

static CK_RV null_FindObjectsFinal(CK_SESSION_HANDLE h)
{
    NEED_SESSION(h, s);
    if (!s->find_active)
        return CKR_OPERATION_NOT_INITIALIZED;
    s->find_active = 0;
    return CKR_OK;
}

/* ---- signing: no lock, no work ------------------------------------------ */

static CK_RV null_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM *mech,
                           CK_OBJECT_HANDLE key)
{
    NEED_SESSION(h, s);
    if (mech == NULL)
        return CKR_ARGUMENTS_BAD;
    if (s->sign_active)
        return CKR_OPERATION_ACTIVE;
    if (key != NULL_PRIVKEY_HANDLE)
        return null_object_by_handle(key) == NULL ? CKR_KEY_HANDLE_INVALID
                                             : CKR_KEY_FUNCTION_NOT_PERMITTED;
    if (mech->mechanism == CKM_RSA_PKCS)
        return CKR_KEY_TYPE_INCONSISTENT; /* listed, but the key is EC */
    if (mech->mechanism != CKM_ECDSA)
        return CKR_MECHANISM_INVALID;
    s->sign_active = 1;
    return CKR_OK;
}

static CK_RV null_Sign(CK_SESSION_HANDLE h, CK_BYTE *data, CK_ULONG data_len,
                       CK_BYTE *sig, CK_ULONG *sig_len)
{
    NEED_SESSION(h, s);
    if (!s->sign_active)
        return CKR_OPERATION_NOT_INITIALIZED;
    if ((data == NULL && data_len > 0) || sig_len == NULL) {
        s->sign_active = 0;
        return CKR_ARGUMENTS_BAD;
    }
    if (sig == NULL) {
        *sig_len = NULL_SIG_LEN;
        return CKR_OK; /* a length query keeps the operation active */
    }
    if (*sig_len < NULL_SIG_LEN) {
        *sig_len = NULL_SIG_LEN;
        return CKR_BUFFER_TOO_SMALL;
    }
    memcpy(sig, null_ecdsa_signature, NULL_SIG_LEN);
    *sig_len = NULL_SIG_LEN;
    s->sign_active = 0;
    return CKR_OK;
}

/* ---- everything else: CKR_FUNCTION_NOT_SUPPORTED ---------------------- */

/* C11 needs the parameters named; they are all unused. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#define STUB(fn, params) \
    static CK_RV null_##fn params { return CKR_FUNCTION_NOT_SUPPORTED; }
typedef CK_ATTRIBUTE *ATTRS;
typedef CK_MECHANISM *MECH;
typedef CK_BYTE *BYTES;
typedef CK_ULONG *LEN;
typedef CK_SESSION_HANDLE SESS;
typedef CK_OBJECT_HANDLE OBJ;
typedef CK_ULONG ULONG;
#define IN_OUT (SESS s, BYTES i, ULONG in, BYTES o, LEN on)

STUB(InitToken, (CK_SLOT_ID s, BYTES p, ULONG n, BYTES l))
STUB(InitPIN, (SESS s, BYTES p, ULONG n))
STUB(SetPIN, (SESS s, BYTES o, ULONG on, BYTES p, ULONG n))
STUB(GetOperationState, (SESS s, BYTES st, LEN n))
STUB(SetOperationState, (SESS s, BYTES st, ULONG n, OBJ e, OBJ a))
STUB(CreateObject, (SESS s, ATTRS t, ULONG n, OBJ *o))
STUB(CopyObject, (SESS s, OBJ o, ATTRS t, ULONG n, OBJ *no))
STUB(DestroyObject, (SESS s, OBJ o)) STUB(DigestKey, (SESS s, OBJ k))
STUB(GetObjectSize, (SESS s, OBJ o, LEN n))
STUB(SetAttributeValue, (SESS s, OBJ o, ATTRS t, ULONG n))
STUB(EncryptInit, (SESS s, MECH m, OBJ k))
STUB(DecryptInit, (SESS s, MECH m, OBJ k))
STUB(SignRecoverInit, (SESS s, MECH m, OBJ k))
STUB(VerifyInit, (SESS s, MECH m, OBJ k))
STUB(VerifyRecoverInit, (SESS s, MECH m, OBJ k))
STUB(Encrypt, IN_OUT) STUB(EncryptUpdate, IN_OUT)
STUB(Decrypt, IN_OUT) STUB(DecryptUpdate, IN_OUT)
STUB(Digest, IN_OUT) STUB(SignRecover, IN_OUT) STUB(VerifyRecover, IN_OUT)
STUB(DigestEncryptUpdate, IN_OUT) STUB(DecryptDigestUpdate, IN_OUT)
STUB(SignEncryptUpdate, IN_OUT) STUB(DecryptVerifyUpdate, IN_OUT)
STUB(EncryptFinal, (SESS s, BYTES o, LEN on))
STUB(DecryptFinal, (SESS s, BYTES o, LEN on))
STUB(DigestFinal, (SESS s, BYTES o, LEN on))
STUB(SignFinal, (SESS s, BYTES o, LEN on))
STUB(DigestInit, (SESS s, MECH m))
STUB(DigestUpdate, (SESS s, BYTES i, ULONG in))
STUB(SignUpdate, (SESS s, BYTES i, ULONG in))
STUB(VerifyUpdate, (SESS s, BYTES i, ULONG in))
STUB(Verify, (SESS s, BYTES i, ULONG in, BYTES sig, ULONG sn))
STUB(VerifyFinal, (SESS s, BYTES sig, ULONG sn))
STUB(GenerateKey, (SESS s, MECH m, ATTRS t, ULONG n, OBJ *k))
STUB(GenerateKeyPair, (SESS s, MECH m, ATTRS pt, ULONG pn, ATTRS qt,
                       ULONG qn, OBJ *pub, OBJ *priv))
STUB(WrapKey, (SESS s, MECH m, OBJ w, OBJ k, BYTES o, LEN on))
STUB(UnwrapKey, (SESS s, MECH m, OBJ u, BYTES i, ULONG in, ATTRS t,
                 ULONG n, OBJ *k))
STUB(DeriveKey, (SESS s, MECH m, OBJ b, ATTRS t, ULONG n, OBJ *k))
STUB(SeedRandom, (SESS s, BYTES i, ULONG in))
STUB(GenerateRandom, (SESS s, BYTES o, ULONG on))
STUB(GetFunctionStatus, (SESS s)) STUB(CancelFunction, (SESS s))
STUB(WaitForSlotEvent, (CK_FLAGS f, CK_SLOT_ID *s, void *r))
#pragma GCC diagnostic pop

/* ---- the function list -------------------------------------------------- */

#define FN(name) .C_##name = null_##name
static CK_FUNCTION_LIST function_list = {
    .version = {2, 40},
    FN(Initialize), FN(Finalize), FN(GetInfo),
    .C_GetFunctionList = C_GetFunctionList,
    FN(GetSlotList), FN(GetSlotInfo), FN(GetTokenInfo),
    FN(GetMechanismList), FN(GetMechanismInfo), FN(InitToken), FN(InitPIN),
    FN(SetPIN), FN(OpenSession), FN(CloseSession), FN(CloseAllSessions),
    FN(GetSessionInfo), FN(GetOperationState), FN(SetOperationState),
    FN(Login), FN(Logout), FN(CreateObject), FN(CopyObject),
    FN(DestroyObject), FN(GetObjectSize), FN(GetAttributeValue),
    FN(SetAttributeValue), FN(FindObjectsInit), FN(FindObjects),
    FN(FindObjectsFinal), FN(EncryptInit), FN(Encrypt), FN(EncryptUpdate),
    FN(EncryptFinal), FN(DecryptInit), FN(Decrypt), FN(DecryptUpdate),
    FN(DecryptFinal), FN(DigestInit), FN(Digest), FN(DigestUpdate),
    FN(DigestKey), FN(DigestFinal), FN(SignInit), FN(Sign), FN(SignUpdate),
    FN(SignFinal), FN(SignRecoverInit), FN(SignRecover), FN(VerifyInit),
    FN(Verify), FN(VerifyUpdate), FN(VerifyFinal), FN(VerifyRecoverInit),
    FN(VerifyRecover), FN(DigestEncryptUpdate), FN(DecryptDigestUpdate),
    FN(SignEncryptUpdate), FN(DecryptVerifyUpdate), FN(GenerateKey),
    FN(GenerateKeyPair), FN(WrapKey), FN(UnwrapKey), FN(DeriveKey),
    FN(SeedRandom), FN(GenerateRandom), FN(GetFunctionStatus),
    FN(CancelFunction), FN(WaitForSlotEvent),
};

/* The one exported symbol. */
__attribute__((visibility("default"))) CK_RV
C_GetFunctionList(CK_FUNCTION_LIST **list)
{
    if (list == NULL)
        return CKR_ARGUMENTS_BAD;
    *list = &function_list;
    return CKR_OK;
}
