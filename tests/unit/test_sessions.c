/*
 * The session pool (provider/core/sessions.c) against the mock module:
 * reuse of returned sessions, closing of unusable ones, read-write
 * sessions kept out of the pool, waiting for a session when the token has
 * no more (announced by ulMaxSessionCount or only by CKR_SESSION_COUNT),
 * and many threads borrowing at once without exceeding the limit, lending
 * one session twice, or losing count. One scenario per run (argv[1]); the
 * mock's limits come from the environment ctest sets.
 */
#include "core/sessions.h"
#include "core_fixture.h"
#include "test_util.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The mock's session limit in the waiting and stress scenarios
 * (P11MOCK_MAX_SESSIONS in tests/unit/CMakeLists.txt). */
#define LIMIT 2
#define STRESS_LIMIT 3
#define STRESS_THREADS 8
#define STRESS_CYCLES 300
/* A woken borrower must have its session well within this. */
#define PROMPT_SECONDS 1.0
#define HOLD_MS 300

static CK_FLAGS session_flags(CORE_FIXTURE *f, CK_SESSION_HANDLE session)
{
    CK_SESSION_INFO info;

    if (f->module->fns->C_GetSessionInfo(session, &info) != CKR_OK)
        return (CK_FLAGS)-1;
    return info.flags;
}

/* A session returned reusable is lent again: no second C_OpenSession. */
static void scenario_reuse(CORE_FIXTURE *f)
{
    CK_SESSION_HANDLE first, second;

    CHECK(p11prov_session_borrow(&f->ctx, f->token, &first) == CKR_OK);
    CHECK(fixture_calls(f, "C_OpenSession") == 1);
    CHECK(!(session_flags(f, first) & CKF_RW_SESSION));
    p11prov_session_return(f->token, first, true);
    CHECK(fixture_sessions_idle(f) == 1);

    CHECK(p11prov_session_borrow(&f->ctx, f->token, &second) == CKR_OK);
    CHECKF(second == first, "got %lu, then %lu", first, second);
    CHECK(fixture_calls(f, "C_OpenSession") == 1);
    CHECK(fixture_calls(f, "C_CloseSession") == 0);
    CHECK(fixture_sessions_open(f) == 1);
    p11prov_session_return(f->token, second, true);
    CHECK(fixture_module_sessions(f) == 1);
}

/* A session returned not reusable is closed, and counted closed. */
static void scenario_close_unusable(CORE_FIXTURE *f)
{
    CK_SESSION_HANDLE session, again;

    CHECK(p11prov_session_borrow(&f->ctx, f->token, &session) == CKR_OK);
    p11prov_session_return(f->token, session, false);
    CHECK(fixture_calls(f, "C_CloseSession") == 1);
    CHECK(fixture_sessions_open(f) == 0);
    CHECK(fixture_sessions_idle(f) == 0);
    CHECK(fixture_module_sessions(f) == 0);

    /* The next borrower opens a new one. */
    CHECK(p11prov_session_borrow(&f->ctx, f->token, &again) == CKR_OK);
    CHECK(fixture_calls(f, "C_OpenSession") == 2);
    p11prov_session_return(f->token, again, true);

    /* A handle the module already closed (CKR_SESSION_HANDLE_INVALID):
     * still counted closed once. */
    CHECK(p11prov_session_borrow(&f->ctx, f->token, &session) == CKR_OK);
    CHECK(f->module->fns->C_CloseSession(session) == CKR_OK);
    p11prov_session_return(f->token, session, false);
    CHECK(fixture_sessions_open(f) == 0);
}

/* borrow_rw opens a new read-write session even with a read-only one
 * idle, and the read-only borrowers never get it. */
static void scenario_read_write(CORE_FIXTURE *f)
{
    CK_SESSION_HANDLE ro, rw, again;

    CHECK(p11prov_session_borrow(&f->ctx, f->token, &ro) == CKR_OK);
    p11prov_session_return(f->token, ro, true);

    CHECK(p11prov_session_borrow_rw(&f->ctx, f->token, &rw) == CKR_OK);
    CHECKF(rw != ro, "the idle read-only session %lu was lent as read-write",
           ro);
    CHECK(fixture_calls(f, "C_OpenSession") == 2);
    CHECK(session_flags(f, rw) & CKF_RW_SESSION);
    CHECK(fixture_sessions_open(f) == 2);
    CHECK(fixture_sessions_idle(f) == 1);
    p11prov_session_return(f->token, rw, false);
    CHECK(fixture_calls(f, "C_CloseSession") == 1);
    CHECK(fixture_sessions_open(f) == 1);

    CHECK(p11prov_session_borrow(&f->ctx, f->token, &again) == CKR_OK);
    CHECK(again == ro);
    CHECK(!(session_flags(f, again) & CKF_RW_SESSION));
    p11prov_session_return(f->token, again, true);
    CHECK(fixture_module_sessions(f) == 1);
}

/* Which answers mean the session itself is gone. */
static void scenario_broken(CORE_FIXTURE *f)
{
    static const CK_RV broken[] = {
        CKR_SESSION_HANDLE_INVALID,   CKR_SESSION_CLOSED,
        CKR_DEVICE_REMOVED,           CKR_TOKEN_NOT_PRESENT,
        CKR_CRYPTOKI_NOT_INITIALIZED,
    };
    static const CK_RV not_broken[] = {
        CKR_OK,
        CKR_GENERAL_ERROR,
        CKR_DEVICE_ERROR,
        CKR_FUNCTION_FAILED,
        CKR_USER_NOT_LOGGED_IN,
        CKR_KEY_HANDLE_INVALID,
        CKR_OBJECT_HANDLE_INVALID,
        CKR_OPERATION_ACTIVE,
        CKR_SESSION_COUNT,
        CKR_SESSION_READ_ONLY,
        CKR_BUFFER_TOO_SMALL,
        CKR_PIN_INCORRECT,
    };

    (void)f;
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++)
        CHECKF(p11prov_session_broken(broken[i]), "0x%lx", broken[i]);
    for (size_t i = 0; i < sizeof(not_broken) / sizeof(not_broken[0]); i++)
        CHECKF(!p11prov_session_broken(not_broken[i]), "0x%lx",
               not_broken[i]);
}

/* ---- waiting --------------------------------------------------------- */

typedef struct borrower {
    CORE_FIXTURE *f;
    CK_SESSION_HANDLE session;
    CK_RV rv;
    double started, finished;
    int done; /* atomic */
} BORROWER;

static void *borrow_thread(void *arg)
{
    BORROWER *b = arg;

    b->started = fixture_now();
    b->rv = p11prov_session_borrow(&b->f->ctx, b->f->token, &b->session);
    b->finished = fixture_now();
    __atomic_store_n(&b->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* With all LIMIT sessions borrowed, another thread's borrow waits, and
 * gets a session promptly once one is returned: the returned one itself
 * (reusable), or a new one (the returned one was closed). opens_per_try:
 * the C_OpenSession calls a blocked borrower makes before waiting (0 when
 * the token announces its limit, 1 when only CKR_SESSION_COUNT tells). */
static void wait_then_get(CORE_FIXTURE *f, bool reusable,
                          unsigned long opens_per_try)
{
    CK_SESSION_HANDLE held[LIMIT];
    BORROWER b = { .f = f, .rv = CKR_GENERAL_ERROR };
    pthread_t thread;
    unsigned long opens;
    double returned;

    for (int i = 0; i < LIMIT; i++)
        CHECK(p11prov_session_borrow(&f->ctx, f->token, &held[i]) == CKR_OK);
    opens = fixture_calls(f, "C_OpenSession");
    CHECK(fixture_sessions_open(f) == LIMIT);
    if (!CHECK(pthread_create(&thread, NULL, borrow_thread, &b) == 0))
        return;
    fixture_sleep_ms(HOLD_MS);
    CHECKF(!__atomic_load_n(&b.done, __ATOMIC_ACQUIRE),
           "the borrow beyond the limit returned 0x%lx at once", b.rv);
    CHECK(__atomic_load_n(&f->token->session_waiters, __ATOMIC_ACQUIRE) == 1);
    CHECKF(fixture_calls(f, "C_OpenSession") == opens + opens_per_try,
           "%lu C_OpenSession while waiting",
           fixture_calls(f, "C_OpenSession") - opens);

    returned = fixture_now();
    p11prov_session_return(f->token, held[0], reusable);
    pthread_join(thread, NULL);
    CHECKF(b.rv == CKR_OK, "the waiting borrow got 0x%lx", b.rv);
    CHECKF(b.finished - b.started >= HOLD_MS / 1000.0 * 0.9,
           "it waited only %.3f s", b.finished - b.started);
    CHECKF(b.finished - returned < PROMPT_SECONDS,
           "it got a session %.3f s after the return", b.finished - returned);
    if (reusable)
        CHECK(b.session == held[0]);
    CHECK(fixture_sessions_open(f) == LIMIT);
    CHECK(__atomic_load_n(&f->token->session_waiters, __ATOMIC_ACQUIRE) == 0);

    p11prov_session_return(f->token, b.session, true);
    p11prov_session_return(f->token, held[1], true);
    CHECK(fixture_sessions_idle(f) == LIMIT);
    CHECK(fixture_module_sessions(f) == LIMIT);
}

/* The token announces its limit (ulMaxSessionCount = LIMIT): the
 * borrower waits without asking the module. */
static void scenario_wait_announced(CORE_FIXTURE *f)
{
    CHECK(f->token->token_info.ulMaxSessionCount == LIMIT);
    wait_then_get(f, true, 0);
    /* Both pooled now; empty the pool for the second round. */
    for (int i = 0; i < LIMIT; i++) {
        CK_SESSION_HANDLE s;
        CHECK(p11prov_session_borrow(&f->ctx, f->token, &s) == CKR_OK);
        p11prov_session_return(f->token, s, false);
    }
    CHECK(fixture_sessions_open(f) == 0);
    wait_then_get(f, false, 0);
}

/* The token hides its limit (CK_EFFECTIVELY_INFINITE): CKR_SESSION_COUNT
 * from C_OpenSession, with sessions of ours out, makes the borrower wait. */
static void scenario_wait_unannounced(CORE_FIXTURE *f)
{
    CHECK(f->token->token_info.ulMaxSessionCount == CK_EFFECTIVELY_INFINITE);
    wait_then_get(f, true, 1);
    for (int i = 0; i < LIMIT; i++) {
        CK_SESSION_HANDLE s;
        CHECK(p11prov_session_borrow(&f->ctx, f->token, &s) == CKR_OK);
        p11prov_session_return(f->token, s, false);
    }
    wait_then_get(f, false, 1);
}

/* CKR_SESSION_COUNT with none of ours open: nothing will come back, so
 * the borrower fails at once instead of waiting
 * (P11MOCK_FAIL=C_OpenSession:CKR_SESSION_COUNT). */
static void scenario_count_none_ours(CORE_FIXTURE *f)
{
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    double started = fixture_now();

    CHECK(p11prov_session_borrow(&f->ctx, f->token, &s) == CKR_SESSION_COUNT);
    CHECKF(fixture_now() - started < PROMPT_SECONDS, "took %.3f s",
           fixture_now() - started);
    CHECK(fixture_calls(f, "C_OpenSession") == 1);
    CHECK(fixture_sessions_open(f) == 0);
}

/* ---- many threads ---------------------------------------------------- */

typedef struct stress {
    CORE_FIXTURE *f;
    int lent[65];              /* by handle (the mock's are 1..64): atomic */
    unsigned int most_open;    /* atomic */
    unsigned int most_waiting; /* atomic */
    int failures, double_lent; /* atomic */
} STRESS;

/* *most = max(*most, value), atomically. */
static void raise_to(unsigned int *most, unsigned int value)
{
    unsigned int seen = __atomic_load_n(most, __ATOMIC_RELAXED);

    while (value > seen
           && !__atomic_compare_exchange_n(
               most, &seen, value, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

static void *stress_thread(void *arg)
{
    STRESS *st = arg;
    P11PROV_TOKEN *token = st->f->token;

    const struct timespec hold = { 0, 100 * 1000 };

    for (int i = 0; i < STRESS_CYCLES; i++) {
        CK_SESSION_HANDLE s;

        if (p11prov_session_borrow(&st->f->ctx, token, &s) != CKR_OK) {
            __atomic_add_fetch(&st->failures, 1, __ATOMIC_RELAXED);
            continue;
        }
        if (s == 0 || s > 64
            || __atomic_exchange_n(&st->lent[s], 1, __ATOMIC_ACQ_REL) != 0)
            __atomic_add_fetch(&st->double_lent, 1, __ATOMIC_RELAXED);
        raise_to(&st->most_open,
                 __atomic_load_n(&token->sessions_open, __ATOMIC_ACQUIRE));
        nanosleep(&hold, NULL); /* held a while: others must wait */
        raise_to(&st->most_waiting,
                 __atomic_load_n(&token->session_waiters, __ATOMIC_ACQUIRE));
        if (s <= 64)
            __atomic_store_n(&st->lent[s], 0, __ATOMIC_RELEASE);
        /* One return in seven closes its session: reopening, and waking
         * waiters on a close, are part of the mix. */
        p11prov_session_return(token, s, i % 7 != 3);
    }
    return NULL;
}

/* STRESS_THREADS threads x STRESS_CYCLES borrow/return on a token of
 * STRESS_LIMIT sessions: never more counted open than `ceiling`, no
 * session lent to two threads at once, no borrow failed, and at the end
 * every session of ours is idle in the pool and open in the module. */
static void stress(CORE_FIXTURE *f, unsigned int ceiling)
{
    static STRESS st;
    pthread_t threads[STRESS_THREADS];
    int started = 0;

    st.f = f;
    for (; started < STRESS_THREADS; started++)
        if (!CHECK(pthread_create(&threads[started], NULL, stress_thread, &st)
                   == 0))
            break;
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);

    CHECKF(st.failures == 0, "%d borrows failed", st.failures);
    CHECKF(st.double_lent == 0, "%d sessions lent twice", st.double_lent);
    CHECKF(st.most_open <= ceiling, "%u counted open at once", st.most_open);
    CHECK(st.most_open >= 1);
    CHECKF(st.most_waiting >= 1,
           "no borrower ever waited: not a stress test");
    CHECKF(fixture_sessions_open(f) == fixture_sessions_idle(f),
           "%u counted open, %u idle", fixture_sessions_open(f),
           fixture_sessions_idle(f));
    CHECKF(fixture_module_sessions(f) == fixture_sessions_open(f),
           "the module has %lu open, we count %u", fixture_module_sessions(f),
           fixture_sessions_open(f));
    CHECK(__atomic_load_n(&f->token->session_waiters, __ATOMIC_ACQUIRE) == 0);
    printf("stress: at most %u counted open, %u waiting, %lu C_OpenSession, "
           "%lu C_CloseSession\n",
           st.most_open, st.most_waiting, fixture_calls(f, "C_OpenSession"),
           fixture_calls(f, "C_CloseSession"));
}

/* The token announces STRESS_LIMIT: we never count more open. */
static void scenario_stress(CORE_FIXTURE *f)
{
    stress(f, STRESS_LIMIT);
}

/* The token hides its limit: the count includes the reservations made
 * before C_OpenSession, some of which it refuses (CKR_SESSION_COUNT),
 * so it may pass STRESS_LIMIT for a moment, but never one per thread
 * (the module itself never has more than STRESS_LIMIT: it refuses). */
static void scenario_stress_unannounced(CORE_FIXTURE *f)
{
    stress(f, STRESS_THREADS);
}

int main(int argc, char **argv)
{
    static const FIXTURE_SCENARIO scenarios[] = {
        { "reuse", scenario_reuse },
        { "close_unusable", scenario_close_unusable },
        { "read_write", scenario_read_write },
        { "broken", scenario_broken },
        { "wait_announced", scenario_wait_announced },
        { "wait_unannounced", scenario_wait_unannounced },
        { "count_none_ours", scenario_count_none_ours },
        { "stress", scenario_stress },
        { "stress_unannounced", scenario_stress_unannounced },
        { NULL, NULL },
    };

    return fixture_main("test_sessions", scenarios, argc, argv);
}
