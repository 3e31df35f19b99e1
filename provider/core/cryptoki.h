/* A loaded Cryptoki module's record and the one way to call into it
 * (P11PROV_CALL): what every core file that talks to a module needs,
 * without the loading and lifecycle of module.c. */
#ifndef PKCS11PROV_CRYPTOKI_H
#define PKCS11PROV_CRYPTOKI_H

#include <pthread.h>
#include <stdbool.h>

#include <p11-kit/pkcs11.h>

#include "core/debug.h"
#include "core/sigpipe.h"

typedef struct p11prov_token P11PROV_TOKEN;

/* Connections to a key server that one process may hold at once
 * (lanes.h): operations in more threads than that queue. */
#define P11PROV_MAX_LANES 8

struct p11prov_module {
    char *path;    /* as resolved; identifies the module */
    void *library; /* dlopen handle; never dlclosed */
    CK_FUNCTION_LIST *fns;
    CK_INFO info;
    char *init_args;
    int users;           /* provider contexts holding it */
    bool we_initialized; /* our C_Initialize returned CKR_OK */
    bool finalized;      /* released at exit or by the last user */
    bool exit_handler_registered;
    unsigned int fork_generation;
    /* Counts C_Initialize calls: object handles from an earlier count may
     * no longer be valid. */
    unsigned int init_count;
    /* Serialises every call into modules that are not thread-safe. */
    bool serialize;
    /* CKM_EDDSA must carry its (optional) parameter: pure EdDSA, no
     * context. */
    bool eddsa_needs_params;
    /* It opened a socket or pipe in C_Initialize (a client of a server):
     * its calls hold SIGPIPE off (sigpipe.h). */
    bool guard_sigpipe;
    /* When p11prov_module_recover last re-initialised it (monotonic ns):
     * once per interval, however many calls fail. */
    long long recovered_at;
    /* It lost its token, device or server (an answer said so, or its
     * last re-initialisation failed): the next use re-initialises it,
     * once per interval (p11prov_module_ready). */
    bool down;
    /* tpm2-pkcs11: a forked child shares the parent's TPM connection (and,
     * without a resource manager, its loaded objects), and C_Initialize
     * there answers "already initialized": unusable in a child. */
    bool fork_unsafe;
    pthread_mutex_t call_lock;
    /* fork() waits for the Cryptoki calls in progress to end, and new
     * ones wait for the fork (on fork_lock, held by the forking thread):
     * a child never inherits the module in the middle of a call, with a
     * lock of the module's held by a thread that does not exist there.
     * (Not an rwlock: glibc cannot release one in the child.) */
    unsigned int calls_in_flight;
    int fork_pending;
    pthread_mutex_t fork_lock;
    /* Tokens seen on this module; login state lives here, shared. */
    pthread_mutex_t tokens_lock;
    P11PROV_TOKEN *tokens;
    /* lanes.c: another instance of the module it names, with a
     * connection of its own to the same server. */
    struct p11prov_module *instance_of;
    /* Of a module with instances: lane k > 0 is lanes[k] (made on first
     * need), lane 0 the module itself; lane_busy[k] is claimed by the one
     * operation using it (atomic), lane_failed_at[k] (monotonic ns) holds
     * a lane that could not be had off for a while. */
    struct p11prov_module *lanes[P11PROV_MAX_LANES];
    unsigned int lane_busy[P11PROV_MAX_LANES];
    long long lane_failed_at[P11PROV_MAX_LANES];
    /* Its library gives no instance with a connection of its own. */
    bool single_instance;
    struct p11prov_module *next;
};

/* The module's initialisation count: handles, sessions and logins from
 * an earlier one are gone. Read without the registry lock. */
static inline unsigned int p11prov_module_generation(const P11PROV_MODULE *m)
{
    return __atomic_load_n(&m->init_count, __ATOMIC_ACQUIRE);
}

/* Around each Cryptoki call, so non-thread-safe modules are serialised,
 * and a module's write to a dead socket cannot kill the process. */
static inline void p11prov_module_enter(P11PROV_MODULE *module,
                                        P11PROV_SIGPIPE_GUARD *guard)
{
    if (module->guard_sigpipe)
        p11prov_sigpipe_hold(guard);
    for (;;) {
        /* Counted first, then checked: fork_prepare sets fork_pending
         * first, then waits for the count (both sequentially consistent),
         * so one of the two always sees the other. */
        __atomic_add_fetch(&module->calls_in_flight, 1, __ATOMIC_SEQ_CST);
        if (!__atomic_load_n(&module->fork_pending, __ATOMIC_SEQ_CST))
            break;
        __atomic_sub_fetch(&module->calls_in_flight, 1, __ATOMIC_SEQ_CST);
        pthread_mutex_lock(&module->fork_lock); /* until fork() is done */
        pthread_mutex_unlock(&module->fork_lock);
    }
    if (module->serialize)
        pthread_mutex_lock(&module->call_lock);
}

static inline void p11prov_module_leave(P11PROV_MODULE *module,
                                        P11PROV_SIGPIPE_GUARD *guard)
{
    if (module->serialize)
        pthread_mutex_unlock(&module->call_lock);
    __atomic_sub_fetch(&module->calls_in_flight, 1, __ATOMIC_SEQ_CST);
    if (module->guard_sigpipe)
        p11prov_sigpipe_release(guard);
}

/* Whether the answer says the module lost its token, device or server:
 * CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT, CKR_CRYPTOKI_NOT_INITIALIZED,
 * CKR_SLOT_ID_INVALID, or CKR_DEVICE_ERROR from a module that talks to
 * another process (p11-kit's client answers that when its server is
 * gone). */
static inline bool p11prov_module_lost(const P11PROV_MODULE *m, CK_RV rv)
{
    switch (rv) {
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
    case CKR_SLOT_ID_INVALID: /* the slot went, with its token */
        return true;
    case CKR_DEVICE_ERROR:
        return m->guard_sigpipe;
    default:
        return false;
    }
}

/* Marks the module for re-initialisation before its next use when rv
 * says it lost its token, device or server; returns rv. */
static inline CK_RV p11prov_module_note(P11PROV_MODULE *m, CK_RV rv)
{
    if (p11prov_module_lost(m, rv))
        __atomic_store_n(&m->down, true, __ATOMIC_RELEASE);
    return rv;
}

/* One Cryptoki call through the module's function list, serialised when
 * the module needs it and traced at debug level 3. */
#define P11PROV_CALL(rv, m, fn, ...)                                         \
    do {                                                                     \
        P11PROV_SIGPIPE_GUARD sigpipe_guard_;                                \
        p11prov_module_enter(m, &sigpipe_guard_);                            \
        (rv) = (m)->fns->fn(__VA_ARGS__);                                    \
        p11prov_module_leave(m, &sigpipe_guard_);                            \
        P11PROV_DEBUG(3, "%s -> 0x%lx", #fn, (unsigned long)(rv));           \
    } while (0)

#endif
