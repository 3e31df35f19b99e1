/*
 * p11fault: a PKCS#11 module that sits in front of a real one and makes
 * chosen calls fail, for the recovery tests of pkcs11prov
 * (tests/integration/test_recovery.py, test_fault_matrix.py).
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
 *   P11FAULT_SCOPE=parent|child
 *       which processes the rules apply to, for programs that fork: only
 *       the process that read the configuration (parent), or only the
 *       processes forked from it (child: each counts its own calls from
 *       the fork, since the parent never counts); unset, every process,
 *       a child counting on from the parent's counts.
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
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "p11forward.h"

#define MAX_RULES 16
#define MAX_NTH 1000000UL
#define MAX_DELAY_MS 60000UL
#define SCRATCH_SIZE 8192 /* any RSA-4096 answer or ECDSA signature */

/* The forwarded functions (p11forward.h), by how a fault ends them. */
#define SESSION_FUNCTIONS P11FWD_SESSION_FUNCTIONS
#define ENDING_IN_OUT_FUNCTIONS P11FWD_ENDING_IN_OUT_FUNCTIONS
#define ENDING_OUT_FUNCTIONS P11FWD_ENDING_OUT_FUNCTIONS
#define ENDING_VERIFY_FUNCTIONS P11FWD_ENDING_VERIFY_FUNCTIONS
#define GLOBAL_FUNCTIONS P11FWD_GLOBAL_FUNCTIONS

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
enum { SCOPE_ALL, SCOPE_PARENT, SCOPE_CHILD };
static int scope = SCOPE_ALL;
static pid_t configuring_process; /* the "parent" of P11FAULT_SCOPE */

/* ---- reading the environment ---------------------------------------- */

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
        if (!p11fwd_known_function(item)) {
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
            if (!p11fwd_parse_count(at + 1, MAX_NTH, &r->nth)) {
                fprintf(stderr,
                        "p11fault: %s: bad @N \"%s\" (want 1 to "
                        "%lu)\n",
                        var, at + 1, MAX_NTH);
                return 0;
            }
        }
        if (delay) {
            if (!p11fwd_parse_count(colon + 1, MAX_DELAY_MS, &r->delay_ms)) {
                fprintf(stderr,
                        "p11fault: %s: bad delay \"%s\" (want 1 to %lu "
                        "ms)\n",
                        var, colon + 1, MAX_DELAY_MS);
                return 0;
            }
        } else if (!p11fwd_parse_rv(colon + 1, &r->rv) || r->rv == CKR_OK) {
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

/* P11FAULT_SCOPE: unset or empty, parent or child. */
static int parse_scope(void)
{
    const char *text = getenv("P11FAULT_SCOPE");

    configuring_process = getpid();
    if (text == NULL || text[0] == '\0')
        scope = SCOPE_ALL;
    else if (strcmp(text, "parent") == 0)
        scope = SCOPE_PARENT;
    else if (strcmp(text, "child") == 0)
        scope = SCOPE_CHILD;
    else {
        fprintf(stderr,
                "p11fault: P11FAULT_SCOPE: \"%s\" is neither parent nor "
                "child\n",
                text);
        return 0;
    }
    return 1;
}

/* Whether the rules apply in this process (P11FAULT_SCOPE). */
static int rules_apply_here(void)
{
    return scope == SCOPE_ALL
           || (scope == SCOPE_PARENT) == (getpid() == configuring_process);
}

static int read_config(void)
{
    const char *log = getenv("P11FAULT_LOG");

    snprintf(log_path, sizeof(log_path), "%s", log != NULL ? log : "");
    return parse_scope() && parse_rules("P11FAULT_ONCE", 0, 0)
           && parse_rules("P11FAULT_ALWAYS", 1, 0)
           && parse_rules("P11FAULT_DELAY", 0, 1)
           && p11fwd_load_module("p11fault", "P11FAULT_MODULE", &real);
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
    p11fwd_log(log_path, name);
    for (size_t i = 0; i < n_rules && rules_apply_here(); i++) {
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
#define WRAP_ENDING_IN_OUT(name, ...)                                        \
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
#define WRAP_ENDING_OUT(name, ...)                                           \
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

#define ENTRY(name, ...) .C_##name = fault_##name,
P11FWD_DEFINE_FUNCTION_LIST(ENTRY, fault_Initialize)
