/*
 * p11mock: a small PKCS#11 v2.40 module for the tests of pkcs11prov.
 *
 * One slot (id 7, "mock slot") with one token ("mock-token", user PIN
 * "1234") holding the objects of mock_objects.c: a certificate "mock-cert"
 * (id 01) and an EC P-256 key pair "mock-key" (id 02) whose private key is
 * CKA_PRIVATE (found only after C_Login). Only the functions needed to
 * find and read objects and to sign with CKM_ECDSA are implemented; the
 * others return CKR_FUNCTION_NOT_SUPPORTED. C_Sign returns fixed bytes
 * (mock_ecdsa_signature), not a signature that verifies.
 *
 * Behaviour is driven by environment variables read in C_Initialize:
 *   P11MOCK_FAIL=C_Login:CKR_PIN_LOCKED,C_GetInfo:0x30
 *       makes each named function return that code (every call to it).
 *   P11MOCK_LOG=/path
 *       appends one line per call ("C_Login"), so tests can count calls.
 *   P11MOCK_TOKEN_FLAGS=<hex>
 *       OR-ed into CK_TOKEN_INFO.flags: CKF_USER_PIN_FINAL_TRY 20000,
 *       CKF_USER_PIN_LOCKED 40000 (C_Login then fails with CKR_PIN_LOCKED),
 *       CKF_PROTECTED_AUTHENTICATION_PATH 100 (C_Login then accepts a NULL
 *       PIN: the "PIN pad" said yes).
 *   P11MOCK_MAX_SESSIONS=<N, 1 to 64; default 16>
 *       C_OpenSession fails with CKR_SESSION_COUNT while N sessions (read-
 *       only and read-write together) are open; C_CloseSession frees one,
 *       C_CloseAllSessions and C_Finalize all. CK_TOKEN_INFO reports N as
 *       ulMaxSessionCount and ulMaxRwSessionCount, and the open ones in
 *       ulSessionCount and ulRwSessionCount.
 *   P11MOCK_HIDE_MAX_SESSIONS=1
 *       CK_TOKEN_INFO says CK_EFFECTIVELY_INFINITE instead of N, as many
 *       HSMs do that still run out: CKR_SESSION_COUNT comes unannounced.
 *   P11MOCK_SIGN_DELAY_MS=<N, 0 to 60000; default 0>
 *       every C_Sign call first sleeps N ms, without the mutex, so other
 *       threads' calls go on meanwhile: a way to keep sessions busy.
 * A malformed value makes C_Initialize fail with CKR_GENERAL_ERROR.
 *
 * Every call runs under one mutex (C_Sign's sleep excepted), so any number
 * of threads may call the module. What it shares with the null token
 * (objects, find, function list) is in tests/p11common.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mock_module.h"
#include "p11forward.h"

#define MOCK_SLOT_ID 7UL
#define MOCK_SESSION_TABLE_SIZE 64 /* the most P11MOCK_MAX_SESSIONS allows */
#define MOCK_DEFAULT_MAX_SESSIONS 16
#define MOCK_MAX_SIGN_DELAY_MS 60000UL /* a typo must not hang a test */
#define MOCK_MAX_FAULTS 16
#define MOCK_USER_PIN "1234"

/* Parses a decimal number from min to max. */
static int parse_decimal(const char *text, unsigned long min,
                         unsigned long max, unsigned long *value)
{
    char *end;

    if (!isdigit((unsigned char)text[0]))
        return 0;
    errno = 0;
    *value = strtoul(text, &end, 10);
    return *end == '\0' && errno == 0 && *value >= min && *value <= max;
}

/* ---- state ---------------------------------------------------------- */

typedef struct session {
    int open;
    CK_FLAGS flags;
    token_find find;
    int sign_active; /* from C_SignInit to the end of C_Sign */
} session;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int initialized;
static int logged_in;
static CK_FLAGS extra_token_flags; /* P11MOCK_TOKEN_FLAGS */
static CK_ULONG max_sessions = MOCK_DEFAULT_MAX_SESSIONS;
static int hide_max_sessions; /* P11MOCK_HIDE_MAX_SESSIONS */
/* P11MOCK_SIGN_DELAY_MS: atomic, as C_Sign reads it before locking. */
static atomic_ulong sign_delay_ms;
static session sessions[MOCK_SESSION_TABLE_SIZE];
static char log_path[4096];
static struct {
    char name[40];
    CK_RV rv;
} faults[MOCK_MAX_FAULTS];
static size_t n_faults;

static void log_call(const char *name)
{
    FILE *f;

    if (log_path[0] == '\0')
        return;
    f = fopen(log_path, "a");
    if (f == NULL)
        return;
    fprintf(f, "%s\n", name);
    fclose(f);
}

/* Reads P11MOCK_MAX_SESSIONS and P11MOCK_SIGN_DELAY_MS. Returns 0 on a
 * malformed value. */
static int read_session_config(void)
{
    const char *max = getenv("P11MOCK_MAX_SESSIONS");
    const char *delay = getenv("P11MOCK_SIGN_DELAY_MS");
    const char *hide = getenv("P11MOCK_HIDE_MAX_SESSIONS");
    unsigned long value;

    hide_max_sessions = 0;
    if (hide != NULL && hide[0] != '\0') {
        if (!parse_decimal(hide, 0, 1, &value))
            return 0;
        hide_max_sessions = (int)value;
    }

    max_sessions = MOCK_DEFAULT_MAX_SESSIONS;
    atomic_store(&sign_delay_ms, 0);
    if (max != NULL && max[0] != '\0') {
        if (!parse_decimal(max, 1, MOCK_SESSION_TABLE_SIZE, &value))
            return 0;
        max_sessions = value;
    }
    if (delay != NULL && delay[0] != '\0') {
        if (!parse_decimal(delay, 0, MOCK_MAX_SIGN_DELAY_MS, &value))
            return 0;
        atomic_store(&sign_delay_ms, value);
    }
    return 1;
}

/* Reads every P11MOCK_* variable. Returns 0 on a malformed value. */
static int read_config(void)
{
    const char *log = getenv("P11MOCK_LOG");
    const char *fail = getenv("P11MOCK_FAIL");
    const char *flags = getenv("P11MOCK_TOKEN_FLAGS");
    char buf[1024], *save = NULL, *end;

    snprintf(log_path, sizeof(log_path), "%s", log != NULL ? log : "");
    n_faults = 0;
    extra_token_flags = 0;
    if (!read_session_config())
        return 0;
    if (flags != NULL && flags[0] != '\0') {
        extra_token_flags = strtoul(flags, &end, 16);
        if (*end != '\0')
            return 0;
    }
    if (fail == NULL || fail[0] == '\0')
        return 1;
    if (snprintf(buf, sizeof(buf), "%s", fail) >= (int)sizeof(buf))
        return 0;
    for (char *item = strtok_r(buf, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(item, ':');

        if (colon == NULL || n_faults == MOCK_MAX_FAULTS
            || (size_t)(colon - item) >= sizeof(faults[0].name))
            return 0;
        *colon = '\0';
        if (!p11fwd_parse_rv(colon + 1, &faults[n_faults].rv))
            return 0;
        snprintf(faults[n_faults].name, sizeof(faults[0].name), "%s", item);
        n_faults++;
    }
    return 1;
}

/*
 * The prologue of every call: takes the lock, logs the call, and returns
 * the code the call must fail with (CKR_OK to go on). leave() unlocks.
 */
static CK_RV enter(const char *name)
{
    pthread_mutex_lock(&lock);
    log_call(name);
    if (!initialized && strcmp(name, "C_Initialize") != 0)
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    for (size_t i = 0; i < n_faults; i++)
        if (strcmp(faults[i].name, name) == 0)
            return faults[i].rv;
    return CKR_OK;
}

static CK_RV leave(CK_RV rv)
{
    pthread_mutex_unlock(&lock);
    return rv;
}

/* enter() for a call on our slot; args_ok: its pointer arguments are
 * usable (else CKR_ARGUMENTS_BAD). */
static CK_RV enter_slot(const char *name, CK_SLOT_ID slot, int args_ok)
{
    CK_RV rv = enter(name);

    if (rv == CKR_OK && slot != MOCK_SLOT_ID)
        rv = CKR_SLOT_ID_INVALID;
    if (rv == CKR_OK && !args_ok)
        rv = CKR_ARGUMENTS_BAD;
    return rv;
}

/* enter() for a call on an open session, which it sets *s to (s may be
 * NULL). */
static CK_RV enter_session(const char *name, CK_SESSION_HANDLE h, session **s)
{
    CK_RV rv = enter(name);

    if (rv == CKR_OK) {
        if (h == 0 || h > MOCK_SESSION_TABLE_SIZE || !sessions[h - 1].open)
            rv = CKR_SESSION_HANDLE_INVALID;
        else if (s != NULL)
            *s = &sessions[h - 1];
    }
    return rv;
}

static void close_all_sessions(void)
{
    memset(sessions, 0, sizeof(sessions));
    logged_in = 0;
}

/* Initialized or not, with no session and nobody logged in. */
static void set_initialized(int value)
{
    initialized = value;
    close_all_sessions();
}

static CK_ULONG session_count(int rw_only)
{
    CK_ULONG n = 0;

    for (size_t i = 0; i < MOCK_SESSION_TABLE_SIZE; i++)
        if (sessions[i].open
            && (!rw_only || (sessions[i].flags & CKF_RW_SESSION)))
            n++;
    return n;
}

/* ---- general-purpose functions ------------------------------------- */

static CK_RV mock_Initialize(void *init_args)
{
    CK_C_INITIALIZE_ARGS *args = init_args;
    CK_RV rv;

    pthread_mutex_lock(&lock);
    if (!read_config()) {
        fprintf(
            stderr,
            "p11mock: malformed P11MOCK_FAIL (want C_Name:CKR_NAME[,...]), "
            "P11MOCK_TOKEN_FLAGS (want hex), P11MOCK_MAX_SESSIONS (want 1 "
            "to %d) or P11MOCK_SIGN_DELAY_MS (want 0 to %lu): "
            "C_Initialize fails\n",
            MOCK_SESSION_TABLE_SIZE, MOCK_MAX_SIGN_DELAY_MS);
        pthread_mutex_unlock(&lock);
        return CKR_GENERAL_ERROR;
    }
    pthread_mutex_unlock(&lock);
    rv = enter("C_Initialize");
    if (rv != CKR_OK)
        return leave(rv);
    if (initialized)
        return leave(CKR_CRYPTOKI_ALREADY_INITIALIZED);
    if (args != NULL) {
        int n_fns = (args->CreateMutex != NULL) + (args->DestroyMutex != NULL)
                    + (args->LockMutex != NULL) + (args->UnlockMutex != NULL);

        if (args->pReserved != NULL || (n_fns != 0 && n_fns != 4))
            return leave(CKR_ARGUMENTS_BAD);
        /* We lock with pthreads only: the caller's mutex functions alone
         * (without CKF_OS_LOCKING_OK) are a locking model we cannot do. */
        if (n_fns == 4 && !(args->flags & CKF_OS_LOCKING_OK))
            return leave(CKR_CANT_LOCK);
    }
    set_initialized(1);
    return leave(CKR_OK);
}

static CK_RV mock_Finalize(void *reserved)
{
    CK_RV rv = enter("C_Finalize");

    if (rv != CKR_OK)
        return leave(rv);
    if (reserved != NULL)
        return leave(CKR_ARGUMENTS_BAD);
    set_initialized(0);
    return leave(CKR_OK);
}

static CK_RV mock_GetInfo(CK_INFO *info)
{
    CK_RV rv = enter("C_GetInfo");

    if (rv != CKR_OK)
        return leave(rv);
    if (info == NULL)
        return leave(CKR_ARGUMENTS_BAD);
    token_library_info(info, "pkcs11prov mock module", 0, 1);
    return leave(CKR_OK);
}

/* ---- slots and tokens ----------------------------------------------- */

static CK_RV mock_GetSlotList(CK_BBOOL token_present, CK_SLOT_ID *list,
                              CK_ULONG *count)
{
    static const CK_SLOT_ID slots[] = { MOCK_SLOT_ID };
    CK_RV rv = enter("C_GetSlotList");

    (void)token_present; /* the token is always present */
    if (rv != CKR_OK)
        return leave(rv);
    return leave(token_fill_list(list, count, slots, 1));
}

static CK_RV mock_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO *info)
{
    CK_RV rv = enter_slot("C_GetSlotInfo", slot, info != NULL);

    if (rv != CKR_OK)
        return leave(rv);
    memset(info, 0, sizeof(*info));
    TOKEN_PAD(info->slotDescription, "mock slot");
    TOKEN_PAD(info->manufacturerID, "pkcs11prov");
    info->flags = CKF_TOKEN_PRESENT;
    info->hardwareVersion.major = 1;
    info->firmwareVersion.major = 1;
    return leave(CKR_OK);
}

static CK_RV mock_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO *info)
{
    CK_RV rv = enter_slot("C_GetTokenInfo", slot, info != NULL);

    if (rv != CKR_OK)
        return leave(rv);
    memset(info, 0, sizeof(*info));
    TOKEN_PAD(info->label, "mock-token");
    TOKEN_PAD(info->manufacturerID, "pkcs11prov");
    TOKEN_PAD(info->model, "mock");
    TOKEN_PAD(info->serialNumber, "0001");
    info->flags = CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED
                  | CKF_TOKEN_INITIALIZED | extra_token_flags;
    info->ulMaxSessionCount = hide_max_sessions ? CK_EFFECTIVELY_INFINITE
                                                : max_sessions;
    info->ulSessionCount = session_count(0);
    info->ulMaxRwSessionCount = info->ulMaxSessionCount;
    info->ulRwSessionCount = session_count(1);
    info->ulMaxPinLen = 255;
    info->ulMinPinLen = 4;
    info->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
    info->hardwareVersion.major = 1;
    info->firmwareVersion.major = 1;
    TOKEN_PAD(info->utcTime, "");
    return leave(CKR_OK);
}

static CK_RV mock_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE *list,
                                   CK_ULONG *count)
{
    CK_RV rv = enter_slot("C_GetMechanismList", slot, count != NULL);

    if (rv != CKR_OK)
        return leave(rv);
    return leave(token_mechanism_list(list, count));
}

static CK_RV mock_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
                                   CK_MECHANISM_INFO *info)
{
    CK_RV rv = enter_slot("C_GetMechanismInfo", slot, info != NULL);

    if (rv != CKR_OK)
        return leave(rv);
    return leave(token_mechanism_info(type, info));
}

/* ---- sessions and login --------------------------------------------- */

static CK_RV mock_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, void *app,
                              CK_NOTIFY notify, CK_SESSION_HANDLE *handle)
{
    CK_RV rv = enter_slot("C_OpenSession", slot, handle != NULL);

    (void)app;
    (void)notify;
    if (rv != CKR_OK)
        return leave(rv);
    if (!(flags & CKF_SERIAL_SESSION))
        return leave(CKR_SESSION_PARALLEL_NOT_SUPPORTED);
    if (session_count(0) >= max_sessions)
        return leave(CKR_SESSION_COUNT);
    for (size_t i = 0; i < MOCK_SESSION_TABLE_SIZE; i++) {
        if (!sessions[i].open) {
            memset(&sessions[i], 0, sizeof(sessions[i]));
            sessions[i].open = 1;
            sessions[i].flags = flags;
            *handle = i + 1;
            return leave(CKR_OK);
        }
    }
    return leave(CKR_SESSION_COUNT);
}

static CK_RV mock_CloseSession(CK_SESSION_HANDLE h)
{
    session *s;
    CK_RV rv = enter_session("C_CloseSession", h, &s);

    if (rv != CKR_OK)
        return leave(rv);
    memset(s, 0, sizeof(*s));
    if (session_count(0) == 0)
        logged_in = 0; /* closing the last session logs out */
    return leave(CKR_OK);
}

static CK_RV mock_CloseAllSessions(CK_SLOT_ID slot)
{
    CK_RV rv = enter_slot("C_CloseAllSessions", slot, 1);

    if (rv != CKR_OK)
        return leave(rv);
    close_all_sessions();
    return leave(CKR_OK);
}

static CK_RV mock_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO *info)
{
    session *s;
    CK_RV rv = enter_session("C_GetSessionInfo", h, &s);

    if (rv != CKR_OK)
        return leave(rv);
    if (info == NULL)
        return leave(CKR_ARGUMENTS_BAD);
    info->slotID = MOCK_SLOT_ID;
    info->flags = s->flags;
    info->ulDeviceError = 0;
    info->state = token_session_state(s->flags, logged_in);
    return leave(CKR_OK);
}

static CK_RV mock_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user,
                        CK_UTF8CHAR *pin, CK_ULONG pin_len)
{
    CK_RV rv = enter_session("C_Login", h, NULL);

    if (rv != CKR_OK)
        return leave(rv);
    if (user != CKU_USER)
        return leave(CKR_USER_TYPE_INVALID);
    if (logged_in)
        return leave(CKR_USER_ALREADY_LOGGED_IN);
    if (extra_token_flags & CKF_USER_PIN_LOCKED)
        return leave(CKR_PIN_LOCKED);
    if (pin == NULL
        && (extra_token_flags & CKF_PROTECTED_AUTHENTICATION_PATH)) {
        logged_in = 1;
        return leave(CKR_OK);
    }
    if (pin == NULL || pin_len != strlen(MOCK_USER_PIN)
        || memcmp(pin, MOCK_USER_PIN, pin_len) != 0)
        return leave(CKR_PIN_INCORRECT);
    logged_in = 1;
    return leave(CKR_OK);
}

static CK_RV mock_Logout(CK_SESSION_HANDLE h)
{
    CK_RV rv = enter_session("C_Logout", h, NULL);

    if (rv != CKR_OK)
        return leave(rv);
    if (!logged_in)
        return leave(CKR_USER_NOT_LOGGED_IN);
    logged_in = 0;
    return leave(CKR_OK);
}

/* ---- objects -------------------------------------------------------- */

static CK_RV mock_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
                                    CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
    CK_RV rv = enter_session("C_GetAttributeValue", h, NULL);

    if (rv != CKR_OK)
        return leave(rv);
    return leave(token_get_attribute_values(
        token_visible_object(&mock_token_objects, obj, logged_in), tmpl,
        count));
}

static CK_RV mock_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE *tmpl,
                                  CK_ULONG count)
{
    session *s;
    CK_RV rv = enter_session("C_FindObjectsInit", h, &s);

    if (rv != CKR_OK)
        return leave(rv);
    return leave(token_find_init(&s->find, &mock_token_objects, tmpl, count,
                                 logged_in));
}

static CK_RV mock_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE *out,
                              CK_ULONG max, CK_ULONG *found)
{
    session *s;
    CK_RV rv = enter_session("C_FindObjects", h, &s);

    if (rv != CKR_OK)
        return leave(rv);
    return leave(
        token_find_next(&s->find, &mock_token_objects, out, max, found));
}

static CK_RV mock_FindObjectsFinal(CK_SESSION_HANDLE h)
{
    session *s;
    CK_RV rv = enter_session("C_FindObjectsFinal", h, &s);

    if (rv != CKR_OK)
        return leave(rv);
    return leave(token_find_final(&s->find));
}

/* ---- signing: CKM_ECDSA with mock-key --------------------------------- */

static CK_RV mock_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM *mech,
                           CK_OBJECT_HANDLE key)
{
    session *s;
    CK_RV rv = enter_session("C_SignInit", h, &s);

    if (rv != CKR_OK)
        return leave(rv);
    if (mech == NULL)
        return leave(CKR_ARGUMENTS_BAD);
    if (s->sign_active)
        return leave(CKR_OPERATION_ACTIVE);
    if (!logged_in)
        return leave(CKR_USER_NOT_LOGGED_IN);
    if (key != MOCK_PRIVKEY_HANDLE)
        return leave(
            token_wrong_key_error(&mock_token_objects, key, logged_in));
    if (mech->mechanism != CKM_ECDSA)
        return leave(CKR_MECHANISM_INVALID);
    if (mech->pParameter != NULL || mech->ulParameterLen != 0)
        return leave(CKR_MECHANISM_PARAM_INVALID);
    s->sign_active = 1;
    return leave(CKR_OK);
}

/* Sleeps ms milliseconds, signals or not; 0 makes no system call. */
static void sleep_ms(unsigned long ms)
{
    struct timespec left = { (time_t)(ms / 1000),
                             (long)(ms % 1000) * 1000000 };

    if (ms == 0)
        return;
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        continue;
}

/* After the P11MOCK_SIGN_DELAY_MS sleep, any data (a hash, for CKM_ECDSA)
 * gets mock_ecdsa_signature. A size query (sig NULL) and
 * CKR_BUFFER_TOO_SMALL keep the operation active; anything else ends it. */
static CK_RV mock_Sign(CK_SESSION_HANDLE h, CK_BYTE *data, CK_ULONG data_len,
                       CK_BYTE *sig, CK_ULONG *sig_len)
{
    session *s;
    CK_RV rv;

    sleep_ms(atomic_load(&sign_delay_ms));
    rv = enter_session("C_Sign", h, &s);
    if (rv != CKR_OK)
        return leave(rv);
    if (!s->sign_active)
        return leave(CKR_OPERATION_NOT_INITIALIZED);
    if (!logged_in)
        rv = CKR_USER_NOT_LOGGED_IN;
    else if ((data == NULL && data_len > 0) || sig_len == NULL)
        rv = CKR_ARGUMENTS_BAD;
    else if (data_len == 0 || data_len > 64)
        rv = CKR_DATA_LEN_RANGE;
    if (rv == CKR_OK) {
        CK_ULONG room = *sig_len;

        *sig_len = MOCK_ECDSA_SIG_LEN;
        if (sig == NULL)
            return leave(CKR_OK);
        if (room < MOCK_ECDSA_SIG_LEN)
            return leave(CKR_BUFFER_TOO_SMALL);
        memcpy(sig, mock_ecdsa_signature, MOCK_ECDSA_SIG_LEN);
    }
    s->sign_active = 0;
    return leave(rv);
}

/* ---- everything else ------------------------------------------------ */

static CK_RV not_supported(const char *name)
{
    CK_RV rv = enter(name);

    return leave(rv != CKR_OK ? rv : CKR_FUNCTION_NOT_SUPPORTED);
}

#define TOKEN_STUB_BODY(name) not_supported(name)
TOKEN_DEFINE_STUBS()

TOKEN_DEFINE_FUNCTION_LIST(mock_)
