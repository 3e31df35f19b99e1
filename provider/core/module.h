/* Cryptoki modules: loaded once per process, shared by every provider
 * context (several library contexts may load the provider), initialised
 * with CKF_OS_LOCKING_OK and finalised only by their last user. */
#ifndef PKCS11PROV_MODULE_H
#define PKCS11PROV_MODULE_H

#include <pthread.h>
#include <stdbool.h>

#include "core/context.h"
#include "core/cryptoki.h"
#include "pkcs11_uri.h"

/* The module the URI selects (module-path, module-name, else the
 * configured one), loaded and initialised on first use; the context keeps
 * a reference until it is torn down. Raises an error and returns NULL on
 * failure. uri may be NULL. */
P11PROV_MODULE *p11prov_module_for_uri(P11PROV_CTX *ctx, const p11uri *uri);

/* Another instance of module m, initialised, with a connection of its
 * own to m's server (lanes.h); it lives and is finalised with m. NULL
 * when there is none: m->single_instance is then set if the library
 * cannot give one. */
P11PROV_MODULE *p11prov_module_instance(P11PROV_CTX *ctx, P11PROV_MODULE *m);

/* Drops every module reference the context holds. */
void p11prov_modules_release(P11PROV_CTX *ctx);

/* Called before using a module: after fork() the child re-initialises it
 * (PKCS#11 forbids using the parent's sessions). Returns CKR_OK, or the
 * C_Initialize failure with an error raised (ctx may be NULL: no error). */
CK_RV p11prov_module_check_fork(P11PROV_CTX *ctx, P11PROV_MODULE *module);

/* Re-initialises a module we initialised that lost its token, device or
 * server, unless another thread did since `seen_generation` (CKR_OK):
 * new calls wait while the calls in progress end, then C_Finalize and
 * C_Initialize. Sessions, logins and handles of the old generation are
 * gone; tokens are found again in their slots. At most once per
 * P11PROV_RECOVERY_INTERVAL_MS: within it, the answer is
 * CKR_DEVICE_ERROR at once. Returns C_Initialize's answer. */
#define P11PROV_RECOVERY_INTERVAL_MS 500
/* How long it waits for the calls in progress to end before giving up
 * (a server that hangs rather than dies). */
#define P11PROV_RECOVERY_DRAIN_MS 2000
CK_RV p11prov_module_recover(P11PROV_MODULE *module,
                             unsigned int seen_generation);

/* false when the module is down (its re-initialisation failed) and a new
 * attempt, once the interval has passed, failed too. Cheap when up. */
bool p11prov_module_ready(P11PROV_MODULE *module);

/* CLOCK_MONOTONIC in nanoseconds: recovery intervals, lane retries. */
long long p11prov_monotonic_ns(void);

/* Whether exit() has begun: modules may have run their destructors, so
 * no more calls into them (SoftHSM crashes). */
bool p11prov_process_exiting(void);

/* Resolves an RFC 7512 module-name to a library path (p11-kit's module
 * registrations, then the usual directories). Returns a malloc()ed path
 * or NULL. */
char *p11prov_resolve_module_name(const char *name);

#endif
