/*
 * p11fault: a PKCS#11 module that sits in front of a real one and makes
 * chosen calls fail, for the recovery tests of pkcs11prov
 * (tests/integration/test_recovery.py).
 *
 * Every call is forwarded to the module named by P11FAULT_MODULE, except
 * those a fault rule picks: they answer the rule's CKR_* instead. Before
 * answering, the real module is put in the state that answer claims, so
 * that the caller's recovery meets what a real token would leave:
 *   CKR_USER_NOT_LOGGED_IN        the real C_Logout on that session
 *   CKR_SESSION_HANDLE_INVALID,
 *   CKR_SESSION_CLOSED            the real C_CloseSession of that session
 *   anything else                 nothing more.
 * A failed C_Sign, C_Decrypt, C_Encrypt, C_Digest, C_SignRecover,
 * C_VerifyRecover, C_Verify or C_*Final ends its operation (PKCS#11 2.40,
 * 5.12 and on): when the session survives, the real call is made too (into
 * a scratch buffer, the caller's is left alone) so that the real operation
 * ends as well; else the caller's next C_SignInit would meet
 * CKR_OPERATION_ACTIVE, which no real token answers there. A fault on a
 * C_*Update call leaves the real operation active.
 *
 * Environment, read at the first C_Initialize:
 *   P11FAULT_MODULE=/usr/lib/softhsm/libsofthsm2.so       (required)
 *   P11FAULT_ONCE=C_DeriveKey:CKR_USER_NOT_LOGGED_IN,C_SignInit:0x82@2
 *       each rule fires once: on the Nth call of its function (@N, N from
 *       1, the default, to 1000000); a name or a number (0x82, 130).
 *   P11FAULT_ALWAYS=C_Sign:CKR_DEVICE_ERROR
 *       the same syntax; each rule fires on every call from the Nth on.
 *   P11FAULT_LOG=/path
 *       appends one line per call, the function's name ("C_Login"),
 *       forwarded or not, so tests can count calls.
 *   P11FAULT_DELAY=C_Sign:4000@5
 *       the same syntax, with milliseconds (1 to 60000) for the code:
 *       that call of the function waits so long, then is forwarded (or
 *       answered by a fault rule), as a token or a server that hangs.
 *       Once per rule.
 *   P11FAULT_SIGPIPE=C_Sign
 *       every call of that function first writes to a pipe whose reading
 *       end is closed, as a client module writes to a server that is
 *       gone: SIGPIPE in the calling thread (EPIPE when it is blocked or
 *       ignored), then the call goes on. The pipe is made in
 *       C_Initialize, as a client module opens its socket.
 * Anything malformed (an unknown function or CKR name, a bad N, no module,
 * a module that does not load) makes every C_Initialize answer
 * CKR_GENERAL_ERROR, with a line on stderr saying why.
 *
 * The rules and their call counts live as long as the process: a caller
 * that re-initialises the module to recover does not re-arm a fault that
 * already fired. The real module is never unloaded: it may have left
 * atexit handlers (SoftHSM does) that must still find their code.
 *
 * One mutex guards the rules, the counts and the log; the real module is
 * called without it, so this module is as thread-safe as the real one.
 */
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define MAX_RULES 16
#define MAX_NTH 1000000UL
#define MAX_DELAY_MS 60000UL
#define SCRATCH_SIZE 8192 /* any RSA-4096 answer or ECDSA signature */

/* ---- the forwarded functions ----------------------------------------- */

/* Short names for the parameter lists below. */
typedef CK_SESSION_HANDLE S_;
typedef CK_OBJECT_HANDLE O_;
typedef CK_BYTE_PTR B_;
typedef CK_ULONG_PTR L_;
typedef CK_ATTRIBUTE_PTR T_;
typedef CK_MECHANISM_PTR M_;
#define P_IN_OUT (S_ s, B_ i, CK_ULONG in, B_ o, L_ on)
#define A_IN_OUT (s, i, in, o, on)
#define P_OUT (S_ s, B_ o, L_ on)
#define A_OUT (s, o, on)
#define P_IN (S_ s, B_ i, CK_ULONG in)
#define A_IN (s, i, in)
#define P_KEY_INIT (S_ s, M_ m, O_ k)
#define A_KEY_INIT (s, m, k)

/* X(name, parameters, arguments): the functions whose first parameter is
 * a session, s, other than those of the next two lists. */
#define SESSION_FUNCTIONS(X)                                                 \
    X(InitPIN, (S_ s, CK_UTF8CHAR_PTR p, CK_ULONG n), (s, p, n))             \
    X(SetPIN,                                                                \
      (S_ s, CK_UTF8CHAR_PTR o, CK_ULONG on, CK_UTF8CHAR_PTR p, CK_ULONG n), \
      (s, o, on, p, n))                                                      \
    X(CloseSession, (S_ s), (s))                                             \
    X(GetSessionInfo, (S_ s, CK_SESSION_INFO_PTR info), (s, info))           \
    X(GetOperationState, P_OUT, A_OUT)                                       \
    X(SetOperationState, (S_ s, B_ st, CK_ULONG n, O_ e, O_ a),              \
      (s, st, n, e, a))                                                      \
    X(Login, (S_ s, CK_USER_TYPE u, CK_UTF8CHAR_PTR p, CK_ULONG n),          \
      (s, u, p, n))                                                          \
    X(Logout, (S_ s), (s))                                                   \
    X(CreateObject, (S_ s, T_ t, CK_ULONG n, CK_OBJECT_HANDLE_PTR o),        \
      (s, t, n, o))                                                          \
    X(CopyObject, (S_ s, O_ o, T_ t, CK_ULONG n, CK_OBJECT_HANDLE_PTR no),   \
      (s, o, t, n, no))                                                      \
    X(DestroyObject, (S_ s, O_ o), (s, o))                                   \
    X(GetObjectSize, (S_ s, O_ o, L_ n), (s, o, n))                          \
    X(GetAttributeValue, (S_ s, O_ o, T_ t, CK_ULONG n), (s, o, t, n))       \
    X(SetAttributeValue, (S_ s, O_ o, T_ t, CK_ULONG n), (s, o, t, n))       \
    X(FindObjectsInit, (S_ s, T_ t, CK_ULONG n), (s, t, n))                  \
    X(FindObjects, (S_ s, CK_OBJECT_HANDLE_PTR o, CK_ULONG max, L_ n),       \
      (s, o, max, n))                                                        \
    X(FindObjectsFinal, (S_ s), (s))                                         \
    X(EncryptInit, P_KEY_INIT, A_KEY_INIT)                                   \
    X(EncryptUpdate, P_IN_OUT, A_IN_OUT)                                     \
    X(DecryptInit, P_KEY_INIT, A_KEY_INIT)                                   \
    X(DecryptUpdate, P_IN_OUT, A_IN_OUT)                                     \
    X(DigestInit, (S_ s, M_ m), (s, m))                                      \
    X(DigestUpdate, P_IN, A_IN)                                              \
    X(DigestKey, (S_ s, O_ k), (s, k))                                       \
    X(SignInit, P_KEY_INIT, A_KEY_INIT)                                      \
    X(SignUpdate, P_IN, A_IN)                                                \
    X(SignRecoverInit, P_KEY_INIT, A_KEY_INIT)                               \
    X(VerifyInit, P_KEY_INIT, A_KEY_INIT)                                    \
    X(VerifyUpdate, P_IN, A_IN)                                              \
    X(VerifyRecoverInit, P_KEY_INIT, A_KEY_INIT)                             \
    X(DigestEncryptUpdate, P_IN_OUT, A_IN_OUT)                               \
    X(DecryptDigestUpdate, P_IN_OUT, A_IN_OUT)                               \
    X(SignEncryptUpdate, P_IN_OUT, A_IN_OUT)                                 \
    X(DecryptVerifyUpdate, P_IN_OUT, A_IN_OUT)                               \
    X(GenerateKey, (S_ s, M_ m, T_ t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k),   \
      (s, m, t, n, k))                                                       \
    X(GenerateKeyPair,                                                       \
      (S_ s, M_ m, T_ pt, CK_ULONG pn, T_ qt, CK_ULONG qn,                   \
       CK_OBJECT_HANDLE_PTR pub, CK_OBJECT_HANDLE_PTR priv),                 \
      (s, m, pt, pn, qt, qn, pub, priv))                                     \
    X(WrapKey, (S_ s, M_ m, O_ w, O_ k, B_ o, L_ on), (s, m, w, k, o, on))   \
    X(UnwrapKey,                                                             \
      (S_ s, M_ m, O_ u, B_ i, CK_ULONG in, T_ t, CK_ULONG n,                \
       CK_OBJECT_HANDLE_PTR k),                                              \
      (s, m, u, i, in, t, n, k))                                             \
    X(DeriveKey,                                                             \
      (S_ s, M_ m, O_ b, T_ t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k),          \
      (s, m, b, t, n, k))                                                    \
    X(SeedRandom, P_IN, A_IN)                                                \
    X(GenerateRandom, (S_ s, B_ o, CK_ULONG on), (s, o, on))                 \
    X(GetFunctionStatus, (S_ s), (s))                                        \
    X(CancelFunction, (S_ s), (s))

/* X(name): the single-part calls and finals that end an operation and
 * write their answer to (o, on): P_IN_OUT and P_OUT. */
#define ENDING_IN_OUT_FUNCTIONS(X)                                           \
    X(Encrypt)                                                               \
    X(Decrypt)                                                               \
    X(Digest)                                                                \
    X(Sign)                                                                  \
    X(SignRecover)                                                           \
    X(VerifyRecover)
#define ENDING_OUT_FUNCTIONS(X)                                              \
    X(EncryptFinal)                                                          \
    X(DecryptFinal)                                                          \
    X(DigestFinal)                                                           \
    X(SignFinal)

/* X(name, parameters, arguments): the verifications, which end theirs and
 * write nothing; and the functions without a session (C_Initialize and
 * C_GetFunctionList are written out below). */
#define ENDING_VERIFY_FUNCTIONS(X)                                           \
    X(Verify, (S_ s, B_ i, CK_ULONG in, B_ sig, CK_ULONG sn),                \
      (s, i, in, sig, sn))                                                   \
    X(VerifyFinal, (S_ s, B_ sig, CK_ULONG sn), (s, sig, sn))
#define GLOBAL_FUNCTIONS(X)                                                  \
    X(Finalize, (CK_VOID_PTR r), (r))                                        \
    X(GetInfo, (CK_INFO_PTR info), (info))                                   \
    X(GetSlotList, (CK_BBOOL p, CK_SLOT_ID_PTR l, L_ n), (p, l, n))          \
    X(GetSlotInfo, (CK_SLOT_ID id, CK_SLOT_INFO_PTR info), (id, info))       \
    X(GetTokenInfo, (CK_SLOT_ID id, CK_TOKEN_INFO_PTR info), (id, info))     \
    X(GetMechanismList, (CK_SLOT_ID id, CK_MECHANISM_TYPE_PTR l, L_ n),      \
      (id, l, n))                                                            \
    X(GetMechanismInfo,                                                      \
      (CK_SLOT_ID id, CK_MECHANISM_TYPE t, CK_MECHANISM_INFO_PTR info),      \
      (id, t, info))                                                         \
    X(InitToken,                                                             \
      (CK_SLOT_ID id, CK_UTF8CHAR_PTR p, CK_ULONG n, CK_UTF8CHAR_PTR label), \
      (id, p, n, label))                                                     \
    X(OpenSession,                                                           \
      (CK_SLOT_ID id, CK_FLAGS f, CK_VOID_PTR app, CK_NOTIFY notify,         \
       CK_SESSION_HANDLE_PTR s),                                             \
      (id, f, app, notify, s))                                               \
    X(CloseAllSessions, (CK_SLOT_ID id), (id))                               \
    X(WaitForSlotEvent, (CK_FLAGS f, CK_SLOT_ID_PTR id, CK_VOID_PTR r),      \
      (f, id, r))

/* Every function a rule may name. */
#define NAME_OF(name, ...) "C_" #name,
static const char *const function_names[] = {
    "C_Initialize",
    SESSION_FUNCTIONS(NAME_OF) ENDING_IN_OUT_FUNCTIONS(NAME_OF)
        ENDING_OUT_FUNCTIONS(NAME_OF) ENDING_VERIFY_FUNCTIONS(NAME_OF)
            GLOBAL_FUNCTIONS(NAME_OF)
};

/* ---- CKR names, for the rules --------------------------------------- */

#define CKR(name) { #name, name }
static const struct {
    const char *name;
    CK_RV rv;
} ckr_names[] = {
    CKR(CKR_OK),
    CKR(CKR_HOST_MEMORY),
    CKR(CKR_GENERAL_ERROR),
    CKR(CKR_FUNCTION_FAILED),
    CKR(CKR_ARGUMENTS_BAD),
    CKR(CKR_DEVICE_ERROR),
    CKR(CKR_DEVICE_MEMORY),
    CKR(CKR_DEVICE_REMOVED),
    CKR(CKR_FUNCTION_CANCELED),
    CKR(CKR_FUNCTION_NOT_SUPPORTED),
    CKR(CKR_KEY_HANDLE_INVALID),
    CKR(CKR_KEY_FUNCTION_NOT_PERMITTED),
    CKR(CKR_MECHANISM_INVALID),
    CKR(CKR_MECHANISM_PARAM_INVALID),
    CKR(CKR_OBJECT_HANDLE_INVALID),
    CKR(CKR_OPERATION_ACTIVE),
    CKR(CKR_OPERATION_NOT_INITIALIZED),
    CKR(CKR_PIN_INCORRECT),
    CKR(CKR_PIN_EXPIRED),
    CKR(CKR_PIN_LOCKED),
    CKR(CKR_SESSION_CLOSED),
    CKR(CKR_SESSION_COUNT),
    CKR(CKR_SESSION_HANDLE_INVALID),
    CKR(CKR_SESSION_READ_ONLY),
    CKR(CKR_TOKEN_NOT_PRESENT),
    CKR(CKR_USER_NOT_LOGGED_IN),
    CKR(CKR_USER_ALREADY_LOGGED_IN),
    CKR(CKR_DATA_LEN_RANGE),
    CKR(CKR_ENCRYPTED_DATA_INVALID),
    CKR(CKR_BUFFER_TOO_SMALL),
    CKR(CKR_CRYPTOKI_NOT_INITIALIZED),
};

/* ---- state ----------------------------------------------------------- */

typedef struct rule {
    char function[32];
    CK_RV rv;
    unsigned long nth; /* fires on call nth (once) or from call nth on */
    int always;
    unsigned long
        delay_ms;        /* a P11FAULT_DELAY rule: waits, answers nothing */
    unsigned long calls; /* of function, so far */
} rule;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int configured; /* the environment was read (at most once) */
static int config_ok;
static CK_FUNCTION_LIST *real; /* set once, with the lock held */
static rule rules[MAX_RULES];
static size_t n_rules;
static char log_path[4096];

/* ---- reading the environment ---------------------------------------- */

static int known_function(const char *name)
{
    for (size_t i = 0; i < sizeof(function_names) / sizeof(*function_names);
         i++)
        if (strcmp(name, function_names[i]) == 0)
            return 1;
    return 0;
}

/* "CKR_DEVICE_ERROR" or a number ("0x30", "48"). */
static int parse_rv(const char *text, CK_RV *rv)
{
    char *end;

    for (size_t i = 0; i < sizeof(ckr_names) / sizeof(*ckr_names); i++) {
        if (strcmp(text, ckr_names[i].name) == 0) {
            *rv = ckr_names[i].rv;
            return 1;
        }
    }
    if (!isdigit((unsigned char)text[0]))
        return 0;
    errno = 0;
    *rv = strtoul(text, &end, 0);
    return *end == '\0' && errno == 0;
}

/* A decimal N from 1 to max. */
static int parse_count(const char *text, unsigned long max, unsigned long *n)
{
    char *end;

    if (!isdigit((unsigned char)text[0]))
        return 0;
    errno = 0;
    *n = strtoul(text, &end, 10);
    return *end == '\0' && errno == 0 && *n >= 1 && *n <= max;
}

/* Adds the rules of "C_Name:CODE[@N],..." (variable var); CODE is a
 * delay in milliseconds for delay rules. Returns 0 and says why on stderr
 * if anything is malformed. */
static int parse_rules(const char *var, int always, int delay)
{
    const char *text = getenv(var);
    char buf[1024], *save = NULL;

    if (text == NULL || text[0] == '\0')
        return 1;
    if (strlen(text) >= sizeof(buf)) {
        fprintf(stderr, "p11fault: %s is too long\n", var);
        return 0;
    }
    strcpy(buf, text);
    for (char *item = strtok_r(buf, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(item, ':'), *at;
        rule *r = &rules[n_rules];

        if (n_rules == MAX_RULES) {
            fprintf(stderr, "p11fault: more than %d rules\n", MAX_RULES);
            return 0;
        }
        if (colon == NULL) {
            fprintf(stderr, "p11fault: %s: \"%s\" is not C_Name:CODE[@N]\n",
                    var, item);
            return 0;
        }
        *colon = '\0';
        if (!known_function(item)) {
            fprintf(stderr, "p11fault: %s: unknown function \"%s\"\n", var,
                    item);
            return 0;
        }
        memset(r, 0, sizeof(*r));
        snprintf(r->function, sizeof(r->function), "%s", item);
        r->always = always;
        r->nth = 1;
        at = strchr(colon + 1, '@');
        if (at != NULL) {
            *at = '\0';
            if (!parse_count(at + 1, MAX_NTH, &r->nth)) {
                fprintf(stderr,
                        "p11fault: %s: bad @N \"%s\" (want 1 to "
                        "%lu)\n",
                        var, at + 1, MAX_NTH);
                return 0;
            }
        }
        if (delay) {
            if (!parse_count(colon + 1, MAX_DELAY_MS, &r->delay_ms)) {
                fprintf(stderr,
                        "p11fault: %s: bad delay \"%s\" (want 1 to %lu "
                        "ms)\n",
                        var, colon + 1, MAX_DELAY_MS);
                return 0;
            }
        } else if (!parse_rv(colon + 1, &r->rv) || r->rv == CKR_OK) {
            fprintf(stderr,
                    "p11fault: %s: bad code \"%s\" (want a CKR_* name "
                    "or a non-zero number)\n",
                    var, colon + 1);
            return 0;
        }
        n_rules++;
    }
    return 1;
}

/* Loads the real module. */
static int load_module(void)
{
    const char *path = getenv("P11FAULT_MODULE");
    CK_RV (*get_list)(CK_FUNCTION_LIST **);
    void *library;

    if (path == NULL || path[0] == '\0') {
        fprintf(stderr, "p11fault: P11FAULT_MODULE (the real module) is not "
                        "set\n");
        return 0;
    }
    library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        fprintf(stderr, "p11fault: cannot load %s: %s\n", path, dlerror());
        return 0;
    }
    *(void **)&get_list = dlsym(library, "C_GetFunctionList");
    if (get_list == NULL || get_list(&real) != CKR_OK || real == NULL) {
        fprintf(stderr, "p11fault: %s gives no function list\n", path);
        real = NULL;
        return 0;
    }
    return 1;
}

static int read_config(void)
{
    const char *log = getenv("P11FAULT_LOG");

    snprintf(log_path, sizeof(log_path), "%s", log != NULL ? log : "");
    return parse_rules("P11FAULT_ONCE", 0, 0)
           && parse_rules("P11FAULT_ALWAYS", 1, 0)
           && parse_rules("P11FAULT_DELAY", 0, 1) && load_module();
}

/* P11FAULT_SIGPIPE's function and the writing end of its broken pipe. */
static char sigpipe_function[64];
static int broken_pipe = -1;

static void open_broken_pipe(void)
{
    const char *name = getenv("P11FAULT_SIGPIPE");
    int fds[2];

    if (name == NULL || *name == '\0' || broken_pipe >= 0 || pipe(fds) != 0)
        return;
    snprintf(sigpipe_function, sizeof(sigpipe_function), "%s", name);
    close(fds[0]);
    broken_pipe = fds[1];
}

static void write_to_broken_pipe(const char *name)
{
    if (broken_pipe >= 0 && strcmp(name, sigpipe_function) == 0) {
        ssize_t written = write(broken_pipe, "x", 1);
        (void)written; /* -1, EPIPE: the point */
    }
}

/* ---- a call ---------------------------------------------------------- */

/* Logs a call of name and counts it for its rules. Returns 1 if the call
 * must not be forwarded, with *rv the answer: a rule fired, or the real
 * module is not loaded yet. */
static int intercept(const char *name, CK_RV *rv)
{
    unsigned long delay_ms = 0;
    int fired = 0;

    write_to_broken_pipe(name);
    pthread_mutex_lock(&lock);
    if (log_path[0] != '\0') {
        FILE *f = fopen(log_path, "a");

        if (f != NULL) {
            fprintf(f, "%s\n", name);
            fclose(f);
        }
    }
    for (size_t i = 0; i < n_rules; i++) {
        rule *r = &rules[i];

        if (strcmp(r->function, name) != 0)
            continue;
        r->calls++;
        if (r->always ? r->calls < r->nth : r->calls != r->nth)
            continue;
        if (r->delay_ms != 0) {
            delay_ms += r->delay_ms;
        } else if (!fired) {
            *rv = r->rv;
            fired = 1;
        }
    }
    if (!fired && real == NULL) {
        *rv = CKR_CRYPTOKI_NOT_INITIALIZED;
        fired = 1;
    }
    pthread_mutex_unlock(&lock);
    if (delay_ms != 0) {
        struct timespec wait = { (time_t)(delay_ms / 1000),
                                 (long)(delay_ms % 1000) * 1000000L };

        while (nanosleep(&wait, &wait) != 0 && errno == EINTR)
            ;
    }
    return fired;
}

static int ends_session(CK_RV rv)
{
    return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED;
}

/* An injected answer rv for a call on session s: first does to the real
 * module what rv says happened. */
static CK_RV inject(CK_RV rv, CK_SESSION_HANDLE s)
{
    if (real == NULL)
        return rv;
    if (rv == CKR_USER_NOT_LOGGED_IN)
        (void)real->C_Logout(s);
    else if (ends_session(rv))
        (void)real->C_CloseSession(s);
    return rv;
}

/* The wrappers. Those of ending calls first end the real operation
 * (unless the session is about to go), discarding its answer. */
#define WRAP_SESSION(name, params, args)                                     \
    static CK_RV fault_##name params                                         \
    {                                                                        \
        CK_RV rv;                                                            \
                                                                             \
        if (!intercept("C_" #name, &rv))                                     \
            return real->C_##name args;                                      \
        return inject(rv, s);                                                \
    }
#define WRAP_ENDING_IN_OUT(name)                                             \
    static CK_RV fault_##name P_IN_OUT                                       \
    {                                                                        \
        CK_BYTE scratch[SCRATCH_SIZE];                                       \
        CK_ULONG len = sizeof(scratch);                                      \
        CK_RV rv;                                                            \
                                                                             \
        if (!intercept("C_" #name, &rv))                                     \
            return real->C_##name A_IN_OUT;                                  \
        if (real != NULL && !ends_session(rv))                               \
            (void)real->C_##name(s, i, in, scratch, &len);                   \
        return inject(rv, s);                                                \
    }
#define WRAP_ENDING_OUT(name)                                                \
    static CK_RV fault_##name P_OUT                                          \
    {                                                                        \
        CK_BYTE scratch[SCRATCH_SIZE];                                       \
        CK_ULONG len = sizeof(scratch);                                      \
        CK_RV rv;                                                            \
                                                                             \
        if (!intercept("C_" #name, &rv))                                     \
            return real->C_##name A_OUT;                                     \
        if (real != NULL && !ends_session(rv))                               \
            (void)real->C_##name(s, scratch, &len);                          \
        return inject(rv, s);                                                \
    }
#define WRAP_ENDING_VERIFY(name, params, args)                               \
    static CK_RV fault_##name params                                         \
    {                                                                        \
        CK_RV rv;                                                            \
                                                                             \
        if (!intercept("C_" #name, &rv))                                     \
            return real->C_##name args;                                      \
        if (real != NULL && !ends_session(rv))                               \
            (void)real->C_##name args;                                       \
        return inject(rv, s);                                                \
    }
#define WRAP_GLOBAL(name, params, args)                                      \
    static CK_RV fault_##name params                                         \
    {                                                                        \
        CK_RV rv;                                                            \
                                                                             \
        if (!intercept("C_" #name, &rv))                                     \
            return real->C_##name args;                                      \
        return rv;                                                           \
    }

SESSION_FUNCTIONS(WRAP_SESSION)
ENDING_IN_OUT_FUNCTIONS(WRAP_ENDING_IN_OUT)
ENDING_OUT_FUNCTIONS(WRAP_ENDING_OUT)
ENDING_VERIFY_FUNCTIONS(WRAP_ENDING_VERIFY)
GLOBAL_FUNCTIONS(WRAP_GLOBAL)

/* Reads the environment and loads the real module the first time. */
static CK_RV fault_Initialize(CK_VOID_PTR args)
{
    CK_RV rv;

    pthread_mutex_lock(&lock);
    if (!configured) {
        configured = 1;
        config_ok = read_config();
    }
    open_broken_pipe();
    pthread_mutex_unlock(&lock);
    if (!config_ok) {
        fprintf(stderr, "p11fault: malformed configuration (see above): "
                        "C_Initialize fails\n");
        return CKR_GENERAL_ERROR;
    }
    if (intercept("C_Initialize", &rv))
        return rv;
    return real->C_Initialize(args);
}

/* ---- the function list ----------------------------------------------- */

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

#define ENTRY(name, ...) .C_##name = fault_##name,
static CK_FUNCTION_LIST function_list = {
    .version = { 2, 40 },
    .C_Initialize = fault_Initialize,
    .C_GetFunctionList = C_GetFunctionList,
    SESSION_FUNCTIONS(ENTRY) ENDING_IN_OUT_FUNCTIONS(ENTRY)
        ENDING_OUT_FUNCTIONS(ENTRY) ENDING_VERIFY_FUNCTIONS(ENTRY)
            GLOBAL_FUNCTIONS(ENTRY)
};

__attribute__((visibility("default"))) CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
    if (list == NULL)
        return CKR_ARGUMENTS_BAD;
    *list = &function_list;
    return CKR_OK;
}
