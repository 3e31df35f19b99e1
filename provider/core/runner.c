/* One private-key operation on a token with recovery (see runner.h). */
#include "core/runner.h"

#include <openssl/err.h>

#include "core/login.h"
#include "core/object.h"
#include "core/sessions.h"
#include "core/mechanisms.h"

bool p11prov_mechanism_usable(P11PROV_KEY *key, CK_MECHANISM_TYPE mechanism)
{
    /* Configured as implemented unlisted: such modules (tpm2-pkcs11) leave
     * it out of CKA_ALLOWED_MECHANISMS as well. */
    if (p11prov_config_assumes(&key->provctx->config, mechanism))
        return true;
    if (!p11prov_key_allows(key, mechanism))
        return false;
    return key->allowed != NULL || p11prov_token_offers(key->token, mechanism);
}

int p11prov_refuse_mechanism(P11PROV_CTX *ctx, const P11PROV_KEY *key,
                             const char *what)
{
    P11PROV_RAISE(ctx, P11PROV_R_UNSUPPORTED,
                  "%s: not allowed for %s (CKA_ALLOWED_MECHANISMS) or not "
                  "offered by its token", what, key->uri);
    return 0;
}

/* One attempt on a borrowed session. */
static CK_RV run_once(P11PROV_KEY *key, P11PROV_TOKEN_OP op,
                      CK_MECHANISM *mechanism, const unsigned char *in,
                      size_t in_len, unsigned char *out, CK_ULONG *out_len,
                      bool stale, bool *in_init)
{
    P11PROV_TOKEN *token = key->token;
    P11PROV_MODULE *m = token->module;
    CK_SESSION_HANDLE session;
    CK_OBJECT_HANDLE handle;
    bool active = false;  /* an operation the session still holds */
    CK_RV rv;

    *in_init = true;
    rv = p11prov_session_borrow(key->provctx, token, &session);
    if (rv != CKR_OK)
        return rv;
    /* Modules that use libcrypto themselves (SoftHSM, tpm2-pkcs11) leave
     * its errors on this thread's queue: a wrong OAEP padding added "rsa
     * routines" lines there. The module's answer is its CKR_*; the rest
     * goes, so failures look the same whoever found them. */
    ERR_set_mark();
    rv = p11prov_key_handle(key, session, stale, &handle);
    if (rv == CKR_OK) {
        P11PROV_DEBUG(3, "%s with %s for %s",
                      op == P11PROV_TOKEN_SIGN ? "C_SignInit" : "C_DecryptInit",
                      p11prov_mechanism_name(mechanism->mechanism), key->uri);
        if (op == P11PROV_TOKEN_SIGN)
            P11PROV_CALL(rv, m, C_SignInit, session, mechanism, handle);
        else
            P11PROV_CALL(rv, m, C_DecryptInit, session, mechanism, handle);
        active = rv == CKR_OK;
    }
    if (rv == CKR_OK && key->always_authenticate)
        rv = p11prov_context_login(token, session);
    if (rv == CKR_OK) {
        *in_init = false;
        if (op == P11PROV_TOKEN_SIGN)
            P11PROV_CALL(rv, m, C_Sign, session, (CK_BYTE *)in,
                         (CK_ULONG)in_len, out, out_len);
        else
            P11PROV_CALL(rv, m, C_Decrypt, session, (CK_BYTE *)in,
                         (CK_ULONG)in_len, out, out_len);
        /* Any other answer ends the operation; this one does not. */
        active = rv == CKR_BUFFER_TOO_SMALL;
        if (rv == CKR_BUFFER_TOO_SMALL)
            rv = CKR_GENERAL_ERROR;
    }
    ERR_pop_to_mark();
    /* A session left with an active operation must not be pooled. */
    p11prov_session_return(token, session,
                           rv == CKR_OK
                               || (!active && !p11prov_session_broken(rv)));
    return rv;
}

P11PROV_OP_STATUS p11prov_token_operation(P11PROV_CTX *ctx, P11PROV_KEY *key,
                                          P11PROV_TOKEN_OP op,
                                          CK_MECHANISM *mechanism,
                                          const unsigned char *in,
                                          size_t in_len, unsigned char *out,
                                          size_t *out_len, size_t out_size,
                                          CK_RV *result)
{
    bool stale = false, relogged = false, in_init = true;
    CK_RV rv = CKR_OK;

    *result = CKR_GENERAL_ERROR;
    if (p11prov_token_needs_login(key->token)
        && !p11prov_token_login(ctx, key->token, NULL))
        return P11PROV_OP_RAISED;
    for (int attempt = 0; attempt < 3; attempt++) {
        CK_ULONG len = (CK_ULONG)out_size;
        rv = run_once(key, op, mechanism, in, in_len, out, &len, stale,
                      &in_init);
        if (rv == CKR_OK) {
            if (len > out_size)
                break; /* the module wrote past what we gave it */
            *out_len = len;
            *result = CKR_OK;
            return P11PROV_OP_DONE;
        }
        if (rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_KEY_HANDLE_INVALID)
            stale = true;
        else if (rv == CKR_USER_NOT_LOGGED_IN && !relogged) {
            /* The module lost the login: one more C_Login, no more (each
             * may count against the PIN). */
            __atomic_store_n(&key->token->logged_in_at, 0, __ATOMIC_RELEASE);
            relogged = true;
        } else if (!p11prov_session_broken(rv))
            break;
        if (p11prov_token_needs_login(key->token)
            && !p11prov_token_login(ctx, key->token, NULL))
            return P11PROV_OP_RAISED;
    }
    if (rv == CKR_OK) {
        P11PROV_RAISE(ctx, P11PROV_R_MODULE_BAD_ANSWER,
                      "%s with %s for %s returned more than the buffer holds",
                      op == P11PROV_TOKEN_SIGN ? "C_Sign" : "C_Decrypt",
                      p11prov_mechanism_name(mechanism->mechanism), key->uri);
        return P11PROV_OP_RAISED;
    }
    *result = rv;
    return in_init ? P11PROV_OP_INIT_FAILED : P11PROV_OP_CALL_FAILED;
}
