/*
 * p11mock: a small PKCS#11 v2.40 module for the tests of pkcs11prov.
 *
 * One slot (id 7, "mock slot") with one token ("mock-token", user PIN
 * "1234") holding one public object: an X.509 certificate labelled
 * "mock-cert" with CKA_ID 01. Only the functions needed to find and read
 * objects are implemented; the others return CKR_FUNCTION_NOT_SUPPORTED.
 *
 * Behaviour is driven by environment variables read in C_Initialize:
 *   P11MOCK_FAIL=C_Login:CKR_PIN_LOCKED,C_GetInfo:0x30
 *       makes each named function return that code (every call to it).
 *   P11MOCK_LOG=/path
 *       appends one line per call ("C_Login"), so tests can count calls.
 *
 * Every call runs under one mutex.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#define MOCK_SLOT_ID 7UL
#define MOCK_CERT_HANDLE 0x100UL
#define MOCK_MAX_SESSIONS 16
#define MOCK_MAX_FAULTS 16
#define MOCK_USER_PIN "1234"

/* ---- the object table --------------------------------------------- */

/*
 * Self-signed EC P-256 certificate, CN=mock-cert, serial 1, valid until
 * 2126. Made once with:
 *   openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k.pem
 *   openssl req -x509 -new -key k.pem -subj /CN=mock-cert -days 36500 \
 *       -set_serial 1 -config /dev/null -outform DER -out cert.der
 * SHA-256 fingerprint FB:FF:41:DC:C0:74:80:3B:30:93:B4:46:F7:B0:41:21:
 *                     CD:9D:4B:51:51:33:EA:7D:3B:EE:43:BB:DA:2B:6E:68
 */
static const unsigned char cert_der[] = {
    0x30, 0x82, 0x01, 0x11, 0x30, 0x81, 0xb8, 0x02, 0x01, 0x01, 0x30, 0x0a,
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x30, 0x14,
    0x31, 0x12, 0x30, 0x10, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x09, 0x6d,
    0x6f, 0x63, 0x6b, 0x2d, 0x63, 0x65, 0x72, 0x74, 0x30, 0x20, 0x17, 0x0d,
    0x32, 0x36, 0x31, 0x31, 0x32, 0x36, 0x30, 0x33, 0x34, 0x37, 0x30, 0x37,
    0x5a, 0x18, 0x0f, 0x32, 0x31, 0x32, 0x36, 0x31, 0x31, 0x30, 0x32, 0x30,
    0x33, 0x34, 0x37, 0x30, 0x37, 0x5a, 0x30, 0x14, 0x31, 0x12, 0x30, 0x10,
    0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x09, 0x6d, 0x6f, 0x63, 0x6b, 0x2d,
    0x63, 0x65, 0x72, 0x74, 0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86,
    0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
    0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04, 0x8c, 0xe1, 0x29, 0x11, 0xe5,
    0x61, 0x2b, 0xdc, 0xe5, 0x26, 0xb0, 0x10, 0x0c, 0x94, 0x8f, 0x2e, 0x3f,
    0xb0, 0x56, 0xa2, 0xe3, 0x57, 0xf1, 0xda, 0x71, 0x7b, 0xea, 0x84, 0xf7,
    0x2f, 0xe4, 0x5a, 0xe5, 0x59, 0x71, 0x26, 0xec, 0xc3, 0x2d, 0xfe, 0x01,
    0xdf, 0x8d, 0x48, 0x02, 0xe0, 0x85, 0x3c, 0xe4, 0xad, 0xf6, 0x34, 0x04,
    0x16, 0xe8, 0xbb, 0x9a, 0xd2, 0xb0, 0x99, 0x89, 0x1e, 0xf2, 0x7a, 0x30,
    0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x03,
    0x48, 0x00, 0x30, 0x45, 0x02, 0x21, 0x00, 0x99, 0x03, 0x1a, 0x39, 0x46,
    0x70, 0x7b, 0x17, 0x35, 0x31, 0x84, 0x2f, 0xae, 0x1a, 0x53, 0x9e, 0xdd,
    0xea, 0x08, 0x31, 0xf3, 0x1b, 0x1e, 0x6e, 0xb2, 0xe7, 0xbc, 0xd5, 0x01,
    0x7f, 0x20, 0xcf, 0x02, 0x20, 0x74, 0x66, 0xad, 0xc2, 0x7f, 0xf3, 0xd1,
    0xcb, 0x01, 0x88, 0x81, 0x94, 0x5a, 0xe5, 0xc9, 0x2d, 0xd0, 0x8d, 0x08,
    0x49, 0xf9, 0xaa, 0xdd, 0xc5, 0x8c, 0x99, 0x82, 0x1c, 0xde, 0xe0, 0x1d,
    0x19,
};
/* DER pieces inside cert_der (offsets from `openssl asn1parse`). */
#define CERT_SERIAL (cert_der + 7), 3
#define CERT_ISSUER (cert_der + 22), 22
#define CERT_SUBJECT (cert_der + 78), 22

static const CK_OBJECT_CLASS cert_class = CKO_CERTIFICATE;
static const CK_CERTIFICATE_TYPE cert_type = CKC_X_509;
static const CK_ULONG cert_category = 0; /* unspecified */
static const CK_BBOOL ck_true = CK_TRUE;
static const CK_BBOOL ck_false = CK_FALSE;
static const char cert_label[] = "mock-cert";
static const unsigned char cert_id[] = {0x01};

typedef struct mock_attr {
    CK_ATTRIBUTE_TYPE type;
    const void *value;
    CK_ULONG len;
} mock_attr;

#define ATTR_OF(t, var) {(t), &(var), sizeof(var)}
static const mock_attr cert_attrs[] = {
    ATTR_OF(CKA_CLASS, cert_class),
    ATTR_OF(CKA_TOKEN, ck_true),
    ATTR_OF(CKA_PRIVATE, ck_false),
    ATTR_OF(CKA_MODIFIABLE, ck_false),
    {CKA_LABEL, cert_label, sizeof(cert_label) - 1},
    ATTR_OF(CKA_CERTIFICATE_TYPE, cert_type),
    ATTR_OF(CKA_TRUSTED, ck_false),
    ATTR_OF(CKA_CERTIFICATE_CATEGORY, cert_category),
    {CKA_ID, cert_id, sizeof(cert_id)},
    {CKA_SUBJECT, CERT_SUBJECT},
    {CKA_ISSUER, CERT_ISSUER},
    {CKA_SERIAL_NUMBER, CERT_SERIAL},
    ATTR_OF(CKA_VALUE, cert_der),
};
#define N_CERT_ATTRS (sizeof(cert_attrs) / sizeof(cert_attrs[0]))

static const mock_attr *find_attr(CK_ATTRIBUTE_TYPE type)
{
    for (size_t i = 0; i < N_CERT_ATTRS; i++)
        if (cert_attrs[i].type == type)
            return &cert_attrs[i];
    return NULL;
}

static int template_matches(const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
    for (CK_ULONG i = 0; i < count; i++) {
        const mock_attr *a = find_attr(tmpl[i].type);
        if (a == NULL || a->len != tmpl[i].ulValueLen
            || (a->len > 0 && memcmp(a->value, tmpl[i].pValue, a->len) != 0))
            return 0;
    }
    return 1;
}

/* ---- CKR names, for P11MOCK_FAIL ------------------------------------ */

#define CKR(name) {#name, name}
static const struct {
    const char *name;
    CK_RV rv;
} ckr_names[] = {
    CKR(CKR_OK), CKR(CKR_CANCEL), CKR(CKR_HOST_MEMORY),
    CKR(CKR_SLOT_ID_INVALID), CKR(CKR_GENERAL_ERROR),
    CKR(CKR_FUNCTION_FAILED), CKR(CKR_ARGUMENTS_BAD), CKR(CKR_CANT_LOCK),
    CKR(CKR_ATTRIBUTE_SENSITIVE), CKR(CKR_ATTRIBUTE_TYPE_INVALID),
    CKR(CKR_DEVICE_ERROR), CKR(CKR_DEVICE_MEMORY), CKR(CKR_DEVICE_REMOVED),
    CKR(CKR_FUNCTION_CANCELED), CKR(CKR_FUNCTION_NOT_SUPPORTED),
    CKR(CKR_KEY_HANDLE_INVALID), CKR(CKR_MECHANISM_INVALID),
    CKR(CKR_OBJECT_HANDLE_INVALID), CKR(CKR_OPERATION_ACTIVE),
    CKR(CKR_OPERATION_NOT_INITIALIZED), CKR(CKR_PIN_INCORRECT),
    CKR(CKR_PIN_EXPIRED), CKR(CKR_PIN_LOCKED), CKR(CKR_SESSION_CLOSED),
    CKR(CKR_SESSION_COUNT), CKR(CKR_SESSION_HANDLE_INVALID),
    CKR(CKR_TOKEN_NOT_PRESENT), CKR(CKR_TOKEN_NOT_RECOGNIZED),
    CKR(CKR_USER_ALREADY_LOGGED_IN), CKR(CKR_USER_NOT_LOGGED_IN),
    CKR(CKR_USER_PIN_NOT_INITIALIZED), CKR(CKR_USER_TYPE_INVALID),
    CKR(CKR_BUFFER_TOO_SMALL), CKR(CKR_CRYPTOKI_NOT_INITIALIZED),
    CKR(CKR_CRYPTOKI_ALREADY_INITIALIZED),
};

/* Parses "CKR_DEVICE_ERROR" or a number ("0x30", "48"). */
static int parse_rv(const char *text, CK_RV *rv)
{
    char *end;

    for (size_t i = 0; i < sizeof(ckr_names) / sizeof(ckr_names[0]); i++) {
        if (strcmp(text, ckr_names[i].name) == 0) {
            *rv = ckr_names[i].rv;
            return 1;
        }
    }
    if (!isdigit((unsigned char)text[0]))
        return 0;
    *rv = strtoul(text, &end, 0);
    return *end == '\0';
}

/* ---- state ---------------------------------------------------------- */

typedef struct session {
    int open;
    CK_FLAGS flags;
    int find_active;
    int find_pending; /* the certificate is still to be returned */
} session;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int initialized;
static int logged_in;
static session sessions[MOCK_MAX_SESSIONS];
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

/* Reads P11MOCK_LOG and P11MOCK_FAIL. Returns 0 on a malformed entry. */
static int read_config(void)
{
    const char *log = getenv("P11MOCK_LOG");
    const char *fail = getenv("P11MOCK_FAIL");
    char buf[1024], *save = NULL;

    snprintf(log_path, sizeof(log_path), "%s", log != NULL ? log : "");
    n_faults = 0;
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
        if (!parse_rv(colon + 1, &faults[n_faults].rv))
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
        if (h == 0 || h > MOCK_MAX_SESSIONS || !sessions[h - 1].open)
            rv = CKR_SESSION_HANDLE_INVALID;
        else if (s != NULL)
            *s = &sessions[h - 1];
    }
    return rv;
}

/* Initialized or not, with no session and nobody logged in. */
static void set_initialized(int value)
{
    initialized = value;
    logged_in = 0;
    memset(sessions, 0, sizeof(sessions));
}

static CK_ULONG session_count(int rw_only)
{
    CK_ULONG n = 0;

    for (size_t i = 0; i < MOCK_MAX_SESSIONS; i++)
        if (sessions[i].open
            && (!rw_only || (sessions[i].flags & CKF_RW_SESSION)))
            n++;
    return n;
}

/* Copies text into a blank-padded fixed-size Cryptoki field. */
static void pad(CK_UTF8CHAR *field, size_t size, const char *text)
{
    size_t len = strlen(text);

    memset(field, ' ', size);
    memcpy(field, text, len < size ? len : size);
}
#define PAD(field, text) pad((field), sizeof(field), (text))

/* ---- general-purpose functions ------------------------------------- */

static CK_RV mock_Initialize(void *init_args)
{
    CK_C_INITIALIZE_ARGS *args = init_args;
    CK_RV rv;

    pthread_mutex_lock(&lock);
    if (!read_config()) {
        fprintf(stderr, "p11mock: malformed P11MOCK_FAIL (want "
                        "C_Name:CKR_NAME[,...]): C_Initialize fails\n");
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
    memset(info, 0, sizeof(*info));
    info->cryptokiVersion.major = 2;
    info->cryptokiVersion.minor = 40;
    PAD(info->manufacturerID, "pkcs11prov");
    PAD(info->libraryDescription, "pkcs11prov mock module");
    info->libraryVersion.major = 0;
    info->libraryVersion.minor = 1;
    return leave(CKR_OK);
}

/* ---- slots and tokens ----------------------------------------------- */

/* The shared count/buffer convention of the C_Get*List functions. */
static CK_RV fill_list(CK_ULONG *out, CK_ULONG *count, const CK_ULONG *items,
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

static CK_RV mock_GetSlotList(CK_BBOOL token_present, CK_SLOT_ID *list,
                              CK_ULONG *count)
{
    static const CK_SLOT_ID slots[] = {MOCK_SLOT_ID};
    CK_RV rv = enter("C_GetSlotList");

    (void)token_present; /* the token is always present */
    if (rv != CKR_OK)
        return leave(rv);
    return leave(fill_list(list, count, slots, 1));
}

static CK_RV mock_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO *info)
{
    CK_RV rv = enter_slot("C_GetSlotInfo", slot, info != NULL);

    if (rv != CKR_OK)
        return leave(rv);
    memset(info, 0, sizeof(*info));
    PAD(info->slotDescription, "mock slot");
    PAD(info->manufacturerID, "pkcs11prov");
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
    PAD(info->label, "mock-token");
    PAD(info->manufacturerID, "pkcs11prov");
    PAD(info->model, "mock");
    PAD(info->serialNumber, "0001");
    info->flags = CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED
                  | CKF_TOKEN_INITIALIZED;
    info->ulMaxSessionCount = MOCK_MAX_SESSIONS;
    info->ulSessionCount = session_count(0);
    info->ulMaxRwSessionCount = MOCK_MAX_SESSIONS;
    info->ulRwSessionCount = session_count(1);
    info->ulMaxPinLen = 255;
    info->ulMinPinLen = 4;
    info->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
    info->hardwareVersion.major = 1;
    info->firmwareVersion.major = 1;
    PAD(info->utcTime, "");
    return leave(CKR_OK);
}

static CK_RV mock_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE *list,
                                   CK_ULONG *count)
{
    static const CK_MECHANISM_TYPE mechs[] = {CKM_ECDSA, CKM_RSA_PKCS};
    CK_RV rv = enter_slot("C_GetMechanismList", slot, count != NULL);

    if (rv != CKR_OK)
        return leave(rv);
    return leave(fill_list(list, count, mechs, 2));
}

static CK_RV mock_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
                                   CK_MECHANISM_INFO *info)
{
    CK_RV rv = enter_slot("C_GetMechanismInfo", slot, info != NULL);

    if (rv != CKR_OK)
        return leave(rv);
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
        return leave(CKR_MECHANISM_INVALID);
    }
    return leave(CKR_OK);
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
    for (size_t i = 0; i < MOCK_MAX_SESSIONS; i++) {
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
    s->open = 0;
    if (session_count(0) == 0)
        logged_in = 0; /* closing the last session logs out */
    return leave(CKR_OK);
}

static CK_RV mock_CloseAllSessions(CK_SLOT_ID slot)
{
    CK_RV rv = enter_slot("C_CloseAllSessions", slot, 1);

    if (rv != CKR_OK)
        return leave(rv);
    memset(sessions, 0, sizeof(sessions));
    logged_in = 0;
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
    if (s->flags & CKF_RW_SESSION)
        info->state = logged_in ? CKS_RW_USER_FUNCTIONS : CKS_RW_PUBLIC_SESSION;
    else
        info->state = logged_in ? CKS_RO_USER_FUNCTIONS : CKS_RO_PUBLIC_SESSION;
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
    if (obj != MOCK_CERT_HANDLE)
        return leave(CKR_OBJECT_HANDLE_INVALID);
    if (tmpl == NULL && count > 0)
        return leave(CKR_ARGUMENTS_BAD);
    /* Every entry is processed; the last error seen is returned. */
    for (CK_ULONG i = 0; i < count; i++) {
        const mock_attr *a = find_attr(tmpl[i].type);

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
    return leave(rv);
}

static CK_RV mock_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE *tmpl,
                                  CK_ULONG count)
{
    session *s;
    CK_RV rv = enter_session("C_FindObjectsInit", h, &s);

    if (rv != CKR_OK)
        return leave(rv);
    if (s->find_active)
        return leave(CKR_OPERATION_ACTIVE);
    if (tmpl == NULL && count > 0)
        return leave(CKR_ARGUMENTS_BAD);
    s->find_active = 1;
    s->find_pending = template_matches(tmpl, count);
    return leave(CKR_OK);
}

static CK_RV mock_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE *out,
                              CK_ULONG max, CK_ULONG *found)
{
    session *s;
    CK_RV rv = enter_session("C_FindObjects", h, &s);

    if (rv != CKR_OK)
        return leave(rv);
    if (!s->find_active)
        return leave(CKR_OPERATION_NOT_INITIALIZED);
    if (out == NULL || found == NULL)
        return leave(CKR_ARGUMENTS_BAD);
    *found = 0;
    if (s->find_pending && max > 0) {
        out[0] = MOCK_CERT_HANDLE;
        *found = 1;
        s->find_pending = 0;
    }
    return leave(CKR_OK);
}

static CK_RV mock_FindObjectsFinal(CK_SESSION_HANDLE h)
{
    session *s;
    CK_RV rv = enter_session("C_FindObjectsFinal", h, &s);

    if (rv != CKR_OK)
        return leave(rv);
    if (!s->find_active)
        return leave(CKR_OPERATION_NOT_INITIALIZED);
    s->find_active = 0;
    s->find_pending = 0;
    return leave(CKR_OK);
}

/* ---- everything else ------------------------------------------------ */

static CK_RV not_supported(const char *name)
{
    CK_RV rv = enter(name);

    return leave(rv != CKR_OK ? rv : CKR_FUNCTION_NOT_SUPPORTED);
}

/* C11 needs the parameters named; they are all unused. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#define STUB(fn, params) \
    static CK_RV mock_##fn params { return not_supported("C_" #fn); }
typedef CK_ATTRIBUTE *ATTRS;
typedef CK_MECHANISM *MECH;
typedef CK_BYTE *BYTES;
typedef CK_ULONG *LEN;
typedef CK_SESSION_HANDLE SESS;
typedef CK_OBJECT_HANDLE OBJ;

STUB(InitToken, (CK_SLOT_ID s, BYTES p, CK_ULONG n, BYTES l))
STUB(InitPIN, (SESS s, BYTES p, CK_ULONG n))
STUB(SetPIN, (SESS s, BYTES o, CK_ULONG on, BYTES p, CK_ULONG n))
STUB(GetOperationState, (SESS s, BYTES st, LEN n))
STUB(SetOperationState, (SESS s, BYTES st, CK_ULONG n, OBJ e, OBJ a))
STUB(CreateObject, (SESS s, ATTRS t, CK_ULONG n, OBJ *o))
STUB(CopyObject, (SESS s, OBJ o, ATTRS t, CK_ULONG n, OBJ *no))
STUB(DestroyObject, (SESS s, OBJ o))
STUB(GetObjectSize, (SESS s, OBJ o, LEN n))
STUB(SetAttributeValue, (SESS s, OBJ o, ATTRS t, CK_ULONG n))
STUB(EncryptInit, (SESS s, MECH m, OBJ k))
STUB(Encrypt, (SESS s, BYTES i, CK_ULONG in, BYTES o, LEN on))
STUB(EncryptUpdate, (SESS s, BYTES i, CK_ULONG in, BYTES o, LEN on))
STUB(EncryptFinal, (SESS s, BYTES o, LEN on))
STUB(DecryptInit, (SESS s, MECH m, OBJ k))
STUB(Decrypt, (SESS s, BYTES i, CK_ULONG in, BYTES o, LEN on))
STUB(DecryptUpdate, (SESS s, BYTES i, CK_ULONG in, BYTES o, LEN on))
STUB(DecryptFinal, (SESS s, BYTES o, LEN on))
STUB(DigestInit, (SESS s, MECH m))
STUB(Digest, (SESS s, BYTES i, CK_ULONG in, BYTES o, LEN on))
STUB(DigestUpdate, (SESS s, BYTES i, CK_ULONG in))
STUB(DigestKey, (SESS s, OBJ k))
STUB(DigestFinal, (SESS s, BYTES o, LEN on))
STUB(SignInit, (SESS s, MECH m, OBJ k))
STUB(Sign, (SESS s, BYTES i, CK_ULONG in, BYTES o, LEN on))
STUB(SignUpdate, (SESS s, BYTES i, CK_ULONG in))
STUB(SignFinal, (SESS s, BYTES o, LEN on))
STUB(SignRecoverInit, (SESS s, MECH m, OBJ k))
STUB(SignRecover, (SESS s, BYTES i, CK_ULONG in, BYTES o, LEN on))
STUB(VerifyInit, (SESS s, MECH m, OBJ k))
STUB(Verify, (SESS s, BYTES i, CK_ULONG in, BYTES sig, CK_ULONG sn))
STUB(VerifyUpdate, (SESS s, BYTES i, CK_ULONG in))
STUB(VerifyFinal, (SESS s, BYTES sig, CK_ULONG sn))
STUB(VerifyRecoverInit, (SESS s, MECH m, OBJ k))
STUB(VerifyRecover, (SESS s, BYTES i, CK_ULONG in, BYTES o, LEN on))
STUB(DigestEncryptUpdate, (SESS s, BYTES i, CK_ULONG in, BYTES o, LEN on))
STUB(DecryptDigestUpdate, (SESS s, BYTES i, CK_ULONG in, BYTES o, LEN on))
STUB(SignEncryptUpdate, (SESS s, BYTES i, CK_ULONG in, BYTES o, LEN on))
STUB(DecryptVerifyUpdate, (SESS s, BYTES i, CK_ULONG in, BYTES o, LEN on))
STUB(GenerateKey, (SESS s, MECH m, ATTRS t, CK_ULONG n, OBJ *k))
STUB(GenerateKeyPair, (SESS s, MECH m, ATTRS pt, CK_ULONG pn, ATTRS qt,
                       CK_ULONG qn, OBJ *pub, OBJ *priv))
STUB(WrapKey, (SESS s, MECH m, OBJ w, OBJ k, BYTES o, LEN on))
STUB(UnwrapKey, (SESS s, MECH m, OBJ u, BYTES i, CK_ULONG in, ATTRS t,
                 CK_ULONG n, OBJ *k))
STUB(DeriveKey, (SESS s, MECH m, OBJ b, ATTRS t, CK_ULONG n, OBJ *k))
STUB(SeedRandom, (SESS s, BYTES i, CK_ULONG in))
STUB(GenerateRandom, (SESS s, BYTES o, CK_ULONG on))
STUB(GetFunctionStatus, (SESS s))
STUB(CancelFunction, (SESS s))
STUB(WaitForSlotEvent, (CK_FLAGS f, CK_SLOT_ID *s, void *r))
#pragma GCC diagnostic pop

/* ---- the function list ---------------------------------------------- */

static CK_RV mock_GetFunctionList(CK_FUNCTION_LIST **list);

#define FN(name) .C_##name = mock_##name
static CK_FUNCTION_LIST function_list = {
    .version = {2, 40},
    FN(Initialize), FN(Finalize), FN(GetInfo), FN(GetFunctionList),
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

static CK_RV mock_GetFunctionList(CK_FUNCTION_LIST **list)
{
    if (list == NULL)
        return CKR_ARGUMENTS_BAD;
    *list = &function_list;
    return CKR_OK;
}

/* The one exported symbol. */
__attribute__((visibility("default"))) CK_RV
C_GetFunctionList(CK_FUNCTION_LIST **list)
{
    return mock_GetFunctionList(list);
}
