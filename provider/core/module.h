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

/* Drops every module reference the context holds. */
void p11prov_modules_release(P11PROV_CTX *ctx);

/* Called before using a module: after fork() the child re-initialises it
 * (PKCS#11 forbids using the parent's sessions). Returns CKR_OK, or the
 * C_Initialize failure with an error raised (ctx may be NULL: no error). */
CK_RV p11prov_module_check_fork(P11PROV_CTX *ctx, P11PROV_MODULE *module);

/* Whether exit() has begun: modules may have run their destructors, so
 * no more calls into them (SoftHSM crashes). */
bool p11prov_process_exiting(void);

/* Resolves an RFC 7512 module-name to a library path (p11-kit's module
 * registrations, then the usual directories). Returns a malloc()ed path
 * or NULL. */
char *p11prov_resolve_module_name(const char *name);

#endif
