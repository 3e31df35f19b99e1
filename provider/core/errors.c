/* Raising errors through the OpenSSL core, and the reasons' texts. */
#include "core/errors.h"

#include <stdarg.h>

#include <openssl/err.h>

#include "core/context.h"
#include "core/debug.h"

static const OSSL_ITEM reason_strings[] = {
    { P11PROV_R_CONFIG, "invalid pkcs11prov configuration" },
    { P11PROV_R_MODULE_LOAD, "cannot load PKCS#11 module" },
    { P11PROV_R_MODULE_INIT, "cannot initialize PKCS#11 module" },
    { P11PROV_R_MODULE_CALL, "PKCS#11 call failed" },
    { P11PROV_R_MODULE_BAD_ANSWER, "PKCS#11 module returned invalid data" },
    { P11PROV_R_BAD_URI, "malformed pkcs11 URI" },
    { P11PROV_R_NO_TOKEN, "no token matches the URI" },
    { P11PROV_R_NO_OBJECT, "no object matches the URI" },
    { P11PROV_R_LOGIN, "token login failed" },
    { P11PROV_R_PIN, "cannot obtain the token PIN" },
    { P11PROV_R_UNSUPPORTED, "operation not supported by the token" },
    { P11PROV_R_BAD_ARGUMENT, "invalid argument" },
    { P11PROV_R_MEMORY, "out of memory" },
    { P11PROV_R_INTERNAL, "internal error" },
    { 0, NULL },
};

const OSSL_ITEM *p11prov_reason_strings(void)
{
    return reason_strings;
}

void p11prov_raise(const P11PROV_CTX *ctx, int reason, const char *file,
                   int line, const char *func, const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    if (ctx != NULL && ctx->core_new_error != NULL
        && ctx->core_set_error_debug != NULL
        && ctx->core_vset_error != NULL) {
        ctx->core_new_error(ctx->handle);
        ctx->core_set_error_debug(ctx->handle, file, line, func);
        ctx->core_vset_error(ctx->handle, reason, fmt, args);
    } else {
        /* Before the core handed us its functions: plain libcrypto error. */
        ERR_new();
        ERR_set_debug(file, line, func);
        ERR_vset_error(ERR_LIB_PROV, reason, fmt, args);
    }
    va_end(args);
    if (p11prov_debug_level >= 1) {
        va_start(args, fmt);
        char message[512];
        vsnprintf(message, sizeof(message), fmt, args);
        va_end(args);
        p11prov_debug_print("error in %s: %s", func, message);
    }
}
