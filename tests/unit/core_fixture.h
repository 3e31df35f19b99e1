/*
 * What the unit tests of the provider's core (test_sessions, test_runner)
 * share: a provider context built by hand around one PKCS#11 module (the
 * mock, or the fault module in front of it), the module's one token, and
 * the call log the modules write, to count Cryptoki calls.
 *
 * The module and its log come from the environment the ctest sets:
 *   P11TEST_MODULE   the module the context loads (libp11mock.so or
 *                    libp11fault.so)
 *   P11FAULT_LOG     counted when set (every call the core makes, faulted
 *                    or not), else P11MOCK_LOG
 * Both modules read their settings in C_Initialize, once per process: one
 * scenario per process (the test's first argument).
 */
#ifndef PKCS11PROV_CORE_FIXTURE_H
#define PKCS11PROV_CORE_FIXTURE_H

#include <stdbool.h>

#include "core/context.h"
#include "core/module.h"
#include "core/token_lookup.h"
#include "core/tokens.h"

typedef struct core_fixture {
    P11PROV_CTX ctx;
    P11PROV_MODULE *module;
    P11PROV_TOKEN *token; /* "mock-token" */
    const char *log_path; /* the call log counted, or NULL */
} CORE_FIXTURE;

/* Empties the call log, builds the context (PIN "1234" configured), loads
 * and initialises the module and finds its token. false (with the reason
 * on stderr) when any of it fails. */
bool fixture_setup(CORE_FIXTURE *f);

/* Releases the module (the core finalises it: last user) and frees the
 * context. */
void fixture_teardown(CORE_FIXTURE *f);

/* How many times the log records the call `name` ("C_OpenSession"). */
unsigned long fixture_calls(const CORE_FIXTURE *f, const char *name);

/* Sessions the module itself counts open (CK_TOKEN_INFO.ulSessionCount),
 * asked directly, not through the core; ULONG_MAX when it cannot say. */
unsigned long fixture_module_sessions(const CORE_FIXTURE *f);

/* Our sessions by the token record's count, and the idle ones pooled. */
unsigned int fixture_sessions_open(const CORE_FIXTURE *f);
unsigned int fixture_sessions_idle(const CORE_FIXTURE *f);

/* Seconds on the monotonic clock. */
double fixture_now(void);

/* Sleeps ms milliseconds. */
void fixture_sleep_ms(unsigned int ms);

/* Runs the scenario named argv[1] from a table; exit status 2 for an
 * unknown one. Each scenario returns nothing: it records its checks. */
typedef struct fixture_scenario {
    const char *name;
    void (*run)(CORE_FIXTURE *f);
} FIXTURE_SCENARIO;

int fixture_main(const char *suite, const FIXTURE_SCENARIO *scenarios,
                 int argc, char **argv);

#endif
