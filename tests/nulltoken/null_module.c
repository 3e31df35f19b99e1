/*
 * p11null: a PKCS#11 v2.40 module that does no work, for benchmarks.
 *
 * One slot (id 1) with one token ("null-token", flags CKF_TOKEN_INITIALIZED
 * only: no login required; C_Login accepts any PIN all the same) holding
 * one EC P-256 key pair "null-p256", id 01 (handles 1: private, 2: public).
 * Mechanisms CKM_ECDSA and CKM_RSA_PKCS are listed; C_Sign with CKM_ECDSA
 * returns 64 fixed bytes (r and s each 32 bytes, top byte 0x01), which is
 * well-formed but does not verify. The functions not defined here as
 * null_* return CKR_FUNCTION_NOT_SUPPORTED. What it shares with the mock
 * module (objects, find, function list) is in tests/p11common.
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
/* Every object is public, so object lookups ignore the login state. */
#define AS_IF_LOGGED_IN 1

/* ---- state ---------------------------------------------------------- */

typedef struct session {
    CK_SESSION_HANDLE handle; /* 0: the entry is free */
    CK_FLAGS flags;
    token_find find;
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

#define NEED_INIT()                                                          \
    if (!atomic_load(&initialized))                                          \
    return CKR_CRYPTOKI_NOT_INITIALIZED

#define NEED_SESSION(h, s)                                                   \
    NEED_INIT();                                                             \
    session *s = session_of(h);                                              \
    if (s == NULL)                                                           \
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
    token_library_info(info, "p11null benchmark module", 1, 0);
    return CKR_OK;
}

static CK_RV null_GetSlotList(CK_BBOOL token_present, CK_SLOT_ID *list,
                              CK_ULONG *count)
{
    static const CK_SLOT_ID slots[] = { NULL_SLOT_ID };

    (void)token_present;
    NEED_INIT();
    return token_fill_list(list, count, slots, 1);
}

static CK_RV null_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO *info)
{
    NEED_INIT();
    if (slot != NULL_SLOT_ID)
        return CKR_SLOT_ID_INVALID;
    if (info == NULL)
        return CKR_ARGUMENTS_BAD;
    memset(info, 0, sizeof(*info));
    TOKEN_PAD(info->slotDescription, "null slot");
    TOKEN_PAD(info->manufacturerID, "pkcs11prov");
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
    TOKEN_PAD(info->label, "null-token");
    TOKEN_PAD(info->manufacturerID, "pkcs11prov");
    TOKEN_PAD(info->model, "p11null");
    TOKEN_PAD(info->serialNumber, "0000000000000001");
    info->flags = CKF_TOKEN_INITIALIZED;
    info->ulMaxSessionCount = info->ulMaxRwSessionCount =
        CK_EFFECTIVELY_INFINITE;
    info->ulSessionCount = info->ulRwSessionCount =
        CK_UNAVAILABLE_INFORMATION;
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
    return token_mechanism_list(list, count);
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
    return token_mechanism_info(type, info);
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
    info->state = token_session_state(s->flags, atomic_load(&logged_in));
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
    NEED_SESSION(h, s);
    return token_get_attribute_values(
        token_visible_object(&null_token_objects, obj, AS_IF_LOGGED_IN), tmpl,
        count);
}

static CK_RV null_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE *tmpl,
                                  CK_ULONG count)
{
    NEED_SESSION(h, s);
    return token_find_init(&s->find, &null_token_objects, tmpl, count,
                           AS_IF_LOGGED_IN);
}

static CK_RV null_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE *out,
                              CK_ULONG max, CK_ULONG *n_out)
{
    NEED_SESSION(h, s);
    return token_find_next(&s->find, &null_token_objects, out, max, n_out);
}

static CK_RV null_FindObjectsFinal(CK_SESSION_HANDLE h)
{
    NEED_SESSION(h, s);
    return token_find_final(&s->find);
}

/* ---- signing: no lock, no work ------------------------------------------ */

/* The path the benchmark measures starts on a cache line, so that its
 * speed does not move with the layout of unrelated code (measured: up to
 * 0.6 ns of the ~4 ns of C_SignInit + C_Sign). */
#define MEASURED_PATH __attribute__((aligned(64)))

MEASURED_PATH static CK_RV null_SignInit(CK_SESSION_HANDLE h,
                                         CK_MECHANISM *mech,
                                         CK_OBJECT_HANDLE key)
{
    NEED_SESSION(h, s);
    if (mech == NULL)
        return CKR_ARGUMENTS_BAD;
    if (s->sign_active)
        return CKR_OPERATION_ACTIVE;
    if (key != NULL_PRIVKEY_HANDLE)
        return token_wrong_key_error(&null_token_objects, key,
                                     AS_IF_LOGGED_IN);
    if (mech->mechanism == CKM_RSA_PKCS)
        return CKR_KEY_TYPE_INCONSISTENT; /* listed, but the key is EC */
    if (mech->mechanism != CKM_ECDSA)
        return CKR_MECHANISM_INVALID;
    s->sign_active = 1;
    return CKR_OK;
}

MEASURED_PATH static CK_RV null_Sign(CK_SESSION_HANDLE h, CK_BYTE *data,
                                     CK_ULONG data_len, CK_BYTE *sig,
                                     CK_ULONG *sig_len)
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

#define TOKEN_STUB_BODY(name) CKR_FUNCTION_NOT_SUPPORTED
TOKEN_DEFINE_STUBS()

TOKEN_DEFINE_FUNCTION_LIST(null_)
