/* The session pool: each token keeps up to P11PROV_IDLE_SESSIONS idle
 * read-only sessions, borrowed and returned without a lock; when the token
 * has no more to give, borrowers wait for one of ours to come back. */
#include "core/sessions.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "core/debug.h"
#include "core/module.h"

/* The slot a thread starts from: fixed per thread, so a thread tends to get
 * its own session back and threads tend to stay on different slots. Derived
 * from the thread's identity, not kept in thread-local storage: GCC 12's
 * LeakSanitizer misreads the dynamic TLS of a dlopen'ed library and crashes
 * (google/sanitizers#1409). */
static unsigned int first_slot(void)
{
    uint64_t id = (uint64_t)(uintptr_t)pthread_self();

    /* thread descriptors sit page-aligned at the top of their stacks */
    id = (id >> 12) * UINT64_C(0x9E3779B97F4A7C15);
    return (unsigned int)(id >> 32) % P11PROV_IDLE_SESSIONS;
}

static bool take_idle_session(P11PROV_TOKEN *token,
                              CK_SESSION_HANDLE *session)
{
    unsigned int first = first_slot();

    for (unsigned int i = 0; i < P11PROV_IDLE_SESSIONS; i++) {
        unsigned int slot = (first + i) % P11PROV_IDLE_SESSIONS;
        CK_SESSION_HANDLE *p = &token->idle[slot].handle;
        if (__atomic_load_n(p, __ATOMIC_RELAXED) == CK_INVALID_HANDLE)
            continue; /* read first: no write to an empty slot's line */
        CK_SESSION_HANDLE h = __atomic_exchange_n(p, CK_INVALID_HANDLE,
                                                  __ATOMIC_ACQ_REL);
        if (h != CK_INVALID_HANDLE) {
            *session = h;
            return true;
        }
    }
    return false;
}

static bool put_idle_session(P11PROV_TOKEN *token, CK_SESSION_HANDLE session)
{
    unsigned int first = first_slot();

    for (unsigned int i = 0; i < P11PROV_IDLE_SESSIONS; i++) {
        unsigned int slot = (first + i) % P11PROV_IDLE_SESSIONS;
        CK_SESSION_HANDLE empty = CK_INVALID_HANDLE;
        if (__atomic_compare_exchange_n(&token->idle[slot].handle, &empty,
                                        session, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED))
            return true;
    }
    return false;
}

/* Counts a session about to be opened, unless we already hold as many as
 * the token says it has: then false. Reserving before C_OpenSession keeps
 * concurrent borrowers from asking for more than that. */
bool p11prov_session_reserve(P11PROV_TOKEN *token)
{
    CK_ULONG max = token->token_info.ulMaxSessionCount;
    bool limited = max != CK_EFFECTIVELY_INFINITE
                   && max != CK_UNAVAILABLE_INFORMATION;
    unsigned int open = __atomic_load_n(&token->sessions_open,
                                        __ATOMIC_ACQUIRE);

    do {
        if (limited && open >= max)
            return false;
    } while (!__atomic_compare_exchange_n(&token->sessions_open, &open,
                                          open + 1, true, __ATOMIC_ACQ_REL,
                                          __ATOMIC_ACQUIRE));
    return true;
}

/* Waits until a session is returned after the count `seen`, or until the
 * deadline; false on timeout. */
static bool wait_for_session(P11PROV_TOKEN *token, unsigned int seen,
                             const struct timespec *deadline)
{
    int err = 0;

    pthread_mutex_lock(&token->wait_lock);
    __atomic_add_fetch(&token->session_waiters, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&token->sessions_released, __ATOMIC_SEQ_CST)
               == seen
           && err != ETIMEDOUT)
        err = pthread_cond_timedwait(&token->session_freed, &token->wait_lock,
                                     deadline);
    __atomic_sub_fetch(&token->session_waiters, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&token->wait_lock);
    return __atomic_load_n(&token->sessions_released, __ATOMIC_SEQ_CST)
           != seen;
}

/* flags for C_OpenSession: read-write sessions are always new (the idle
 * ones are read-only). */
static CK_RV borrow(P11PROV_CTX *ctx, P11PROV_TOKEN *token, CK_FLAGS flags,
                    CK_SESSION_HANDLE *session)
{
    /* Every use of a token starts here: after fork() the child must
     * re-initialise the module before its first call. */
    CK_RV rv = p11prov_module_check_fork(ctx, token->module);
    struct timespec deadline = { 0, 0 };
    bool recovered = false;

    if (rv != CKR_OK)
        return rv;
    if (!p11prov_module_ready(token->module))
        return CKR_DEVICE_ERROR; /* its server still gone */
    for (;;) {
        unsigned int seen = __atomic_load_n(&token->sessions_released,
                                            __ATOMIC_SEQ_CST);
        if (!(flags & CKF_RW_SESSION) && take_idle_session(token, session))
            return CKR_OK;
        if (p11prov_session_reserve(token)) {
            unsigned int generation = p11prov_module_generation(
                token->module);
            P11PROV_CALL(rv, token->module, C_OpenSession, token->slot_id,
                         CKF_SERIAL_SESSION | flags, NULL, NULL, session);
            if (rv == CKR_OK && *session == CK_INVALID_HANDLE)
                rv = P11PROV_CKR_BAD_ANSWER; /* "opened", but none */
            if (rv == CKR_OK)
                return CKR_OK;
            p11prov_session_unreserve(token); /* the reservation */
            /* The server, device or token went away: the module is
             * started again (at most once per interval) and asked once
             * more. */
            if (!recovered && p11prov_module_lost(token->module, rv)) {
                recovered = true;
                if (p11prov_module_recover(token->module, generation)
                    == CKR_OK)
                    continue;
                return rv;
            }
            /* Waiting helps only when sessions of ours will come back. */
            if (rv != CKR_SESSION_COUNT
                || __atomic_load_n(&token->sessions_open, __ATOMIC_ACQUIRE)
                       == 0)
                return rv;
        }
        if (deadline.tv_sec == 0) {
            clock_gettime(CLOCK_MONOTONIC, &deadline);
            deadline.tv_sec += P11PROV_SESSION_WAIT_SECONDS;
            P11PROV_DEBUG(2, "no session free on slot %lu: waiting",
                          token->slot_id);
        }
        if (!wait_for_session(token, seen, &deadline))
            return CKR_SESSION_COUNT;
    }
}

CK_RV p11prov_session_borrow(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                             CK_SESSION_HANDLE *session)
{
    return borrow(ctx, token, 0, session);
}

CK_RV p11prov_session_borrow_rw(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                                CK_SESSION_HANDLE *session)
{
    return borrow(ctx, token, CKF_RW_SESSION, session);
}

void p11prov_session_return(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                            bool reusable)
{
    if (!reusable || session == CK_INVALID_HANDLE
        || !put_idle_session(token, session)) {
        CK_RV rv;
        P11PROV_CALL(rv, token->module, C_CloseSession, session);
        (void)rv; /* an invalid handle is already closed */
        p11prov_session_unreserve(token);
    }
    __atomic_add_fetch(&token->sessions_released, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&token->session_waiters, __ATOMIC_SEQ_CST) > 0) {
        pthread_mutex_lock(&token->wait_lock);
        pthread_cond_broadcast(&token->session_freed);
        pthread_mutex_unlock(&token->wait_lock);
    }
}

bool p11prov_session_broken(CK_RV rv)
{
    return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED
           || rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT
           || rv == CKR_CRYPTOKI_NOT_INITIALIZED;
}
