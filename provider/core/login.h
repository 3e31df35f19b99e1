/* Logging in to a token: PIN sources, the checks that protect a token
 * from lock-out, and re-login with the PIN that worked. */
#ifndef PKCS11PROV_LOGIN_H
#define PKCS11PROV_LOGIN_H

#include <openssl/core.h>

#include "core/tokens.h"

/* Where a PIN may come from for one lookup, in this order: the URI's
 * pin-value, its pin-source (file:/path or /path), the configuration's
 * pkcs11-module-token-pin, then the application's passphrase callback. */
typedef struct p11prov_pin_sources {
    const p11uri *uri;                  /* may be NULL */
    OSSL_PASSPHRASE_CALLBACK *callback; /* may be NULL */
    void *callback_arg;
} P11PROV_PIN_SOURCES;

/* Whether the token wants a login that has not happened yet. */
bool p11prov_token_needs_login(P11PROV_TOKEN *token);

/* The module may have lost the login (its answers say so, or the session
 * it lived in went): the next p11prov_token_login logs in again with the
 * PIN that worked. */
void p11prov_token_forget_login(P11PROV_TOKEN *token);

/* The token wants a login, and a session of ours says none holds
 * (C_GetSessionInfo: no PIN spent to find out). */
bool p11prov_token_login_gone(P11PROV_CTX *ctx, P11PROV_TOKEN *token);

/* Logs in as user if the token needs it. sources NULL: only the PIN that
 * was remembered (re-login after the module lost its login state). A wrong
 * PIN is reported once and never tried again in this process. */
int p11prov_token_login(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                        const P11PROV_PIN_SOURCES *sources);

/* Gives `to` (the same token on another instance of its module) the PIN
 * that logged in to `from`, for p11prov_token_login(ctx, to, NULL).
 * false when `from` holds none, or `to` refused one. */
bool p11prov_token_share_pin(P11PROV_TOKEN *from, P11PROV_TOKEN *to);

/* Remembers a PIN from a non-interactive source (URI, configuration) for
 * a login that happens later, when a key is first used, so finding a key
 * costs no login. Returns 1 when a later login can succeed without
 * asking (a PIN is known, or the token has a PIN pad), 0 when only the
 * application can give one, -1 (error raised) when a source is broken. */
int p11prov_token_prepare_login(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                                const P11PROV_PIN_SOURCES *sources);

/* CKU_CONTEXT_SPECIFIC login for CKA_ALWAYS_AUTHENTICATE keys, right after
 * the operation's Init on session. */
CK_RV p11prov_context_login(P11PROV_TOKEN *token, CK_SESSION_HANDLE session);

#endif
