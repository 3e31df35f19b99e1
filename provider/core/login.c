/* Token login. A wrong PIN is never retried: tokens lock (a TPM enters
 * dictionary-attack lockout), so the provider refuses to guess. */
#include "core/login.h"

#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>

#include "core/object.h"
#include "core/sessions.h"

#define MAX_PIN_LEN 256

static bool logged_in(P11PROV_TOKEN *token)
{
    unsigned int at = __atomic_load_n(&token->logged_in_at, __ATOMIC_ACQUIRE);
    return at != 0 && at == p11prov_module_generation(token->module);
}

bool p11prov_token_needs_login(P11PROV_TOKEN *token)
{
    return (p11prov_token_flags(token) & CKF_LOGIN_REQUIRED)
           && !logged_in(token);
}

void p11prov_token_forget_login(P11PROV_TOKEN *token)
{
    __atomic_store_n(&token->logged_in_at, 0, __ATOMIC_RELEASE);
}

bool p11prov_token_login_gone(P11PROV_CTX *ctx, P11PROV_TOKEN *token)
{
    CK_SESSION_HANDLE session;
    CK_SESSION_INFO info;
    CK_RV rv;

    if (!(p11prov_token_flags(token) & CKF_LOGIN_REQUIRED)
        || p11prov_session_borrow(ctx, token, &session) != CKR_OK)
        return false;
    P11PROV_CALL(rv, token->module, C_GetSessionInfo, session, &info);
    p11prov_session_return(token, session, rv == CKR_OK);
    return rv == CKR_OK
           && (info.state == CKS_RO_PUBLIC_SESSION
               || info.state == CKS_RW_PUBLIC_SESSION);
}

static void remember_pin(P11PROV_TOKEN *token, char *pin, size_t len)
{
    if (token->pin != NULL)
        OPENSSL_clear_free(token->pin, token->pin_len);
    token->pin = pin;
    token->pin_len = len;
}

/* The first line of a PIN file. */
static int read_pin_file(P11PROV_CTX *ctx, const char *path, char **pin,
                         size_t *len)
{
    char line[MAX_PIN_LEN + 2];
    FILE *file = fopen(path, "r");
    int ok = 0;

    if (file == NULL) {
        P11PROV_RAISE(ctx, P11PROV_R_PIN, "cannot read the PIN file %s",
                      path);
        return 0;
    }
    if (fgets(line, sizeof(line), file) != NULL) {
        size_t n = strcspn(line, "\r\n");
        line[n] = '\0';
        *pin = OPENSSL_strndup(line, n);
        *len = n;
        ok = *pin != NULL;
    }
    if (!ok)
        P11PROV_RAISE(ctx, P11PROV_R_PIN, "no PIN in the file %s", path);
    OPENSSL_cleanse(line, sizeof(line));
    fclose(file);
    return ok;
}

/* "file:/path" or "/path" (RFC 7512 pin-source, and the config key). */
static int read_pin_reference(P11PROV_CTX *ctx, const char *reference,
                              char **pin, size_t *len)
{
    if (strncmp(reference, "file:", 5) == 0)
        return read_pin_file(ctx, reference + 5, pin, len);
    if (reference[0] == '/')
        return read_pin_file(ctx, reference, pin, len);
    P11PROV_RAISE(ctx, P11PROV_R_PIN,
                  "unsupported pin-source \"%s\" (use file:/path or /path)",
                  reference);
    return 0;
}

/* A PIN from the URI or the configuration: 1 found, 0 none, -1 error. */
static int pin_without_asking(P11PROV_CTX *ctx,
                              const P11PROV_PIN_SOURCES *sources, char **pin,
                              size_t *len)
{
    const p11uri *uri = sources ? sources->uri : NULL;

    if (uri != NULL && uri->values[P11URI_PIN_VALUE].present) {
        const p11uri_value *v = &uri->values[P11URI_PIN_VALUE];
        *pin = OPENSSL_memdup(v->data, v->len + 1);
        *len = v->len;
        return *pin != NULL ? 1 : -1;
    }
    if (uri != NULL && uri->values[P11URI_PIN_SOURCE].present)
        return read_pin_reference(
                   ctx, (const char *)uri->values[P11URI_PIN_SOURCE].data,
                   pin, len)
                   ? 1
                   : -1;
    const char *configured = ctx->config.token_pin;
    if (configured != NULL) {
        if (strncmp(configured, "file:", 5) == 0)
            return read_pin_file(ctx, configured + 5, pin, len) ? 1 : -1;
        *pin = OPENSSL_strdup(configured);
        *len = strlen(configured);
        return *pin != NULL ? 1 : -1;
    }
    return 0;
}

static int pin_by_asking(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                         const P11PROV_PIN_SOURCES *sources, char **pin,
                         size_t *len)
{
    char buf[MAX_PIN_LEN + 1], info[96], label[33];
    size_t got = 0;

    if (sources == NULL || sources->callback == NULL)
        return 0;
    snprintf(info, sizeof(info), "PIN for token %s",
             p11prov_token_label(token, label));
    OSSL_PARAM params[] = {
        OSSL_PARAM_utf8_string(OSSL_PASSPHRASE_PARAM_INFO, info, 0),
        OSSL_PARAM_END,
    };
    if (!sources->callback(buf, MAX_PIN_LEN, &got, params,
                           sources->callback_arg)
        || got > MAX_PIN_LEN) {
        OPENSSL_cleanse(buf, sizeof(buf));
        P11PROV_RAISE(ctx, P11PROV_R_PIN, "no PIN given for token %s", label);
        return -1;
    }
    *pin = OPENSSL_memdup(buf, got + 1);
    if (*pin != NULL)
        (*pin)[got] = '\0';
    *len = got;
    OPENSSL_cleanse(buf, sizeof(buf));
    return *pin != NULL ? 1 : -1;
}

/* The token's current flags: final-try and locked change with each
 * failed attempt, made by anyone. */
static CK_RV refresh_token_info(P11PROV_TOKEN *token)
{
    CK_TOKEN_INFO info;
    CK_RV rv;

    P11PROV_CALL(rv, token->module, C_GetTokenInfo, token->slot_id, &info);
    if (rv == CKR_OK)
        p11prov_token_set_flags(token, info.flags);
    return rv;
}

/* C_Login on a pooled session; *call names the call that failed. */
static CK_RV call_login(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                        CK_USER_TYPE user, const char *pin, size_t len,
                        const char **call)
{
    CK_SESSION_HANDLE session;
    CK_RV rv = p11prov_session_borrow(ctx, token, &session);

    *call = "C_OpenSession to log in";
    if (rv != CKR_OK)
        return rv;
    *call = "C_Login";
    /* tpm2-pkcs11 uses libcrypto while unsealing: its errors are not ours. */
    ERR_set_mark();
    P11PROV_CALL(rv, token->module, C_Login, session, user,
                 (CK_UTF8CHAR *)pin, (CK_ULONG)len);
    ERR_pop_to_mark();
    p11prov_session_return(token, session, !p11prov_session_broken(rv));
    return rv;
}

static int login_locked(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                        const P11PROV_PIN_SOURCES *sources)
{
    char *token_uri = p11prov_token_uri(token);
    char *pin = NULL;
    size_t len = 0;
    int found = 0, ok = 0;
    CK_RV rv;

    if (token->pin_refused) {
        P11PROV_RAISE(ctx, P11PROV_R_LOGIN,
                      "not logging in to %s again: a wrong PIN was given "
                      "earlier in this process",
                      token_uri);
        goto done;
    }
    rv = refresh_token_info(token);
    if (rv != CKR_OK) {
        p11prov_module_note(token->module, rv);
        P11PROV_RAISE_CKR(ctx, rv, "C_GetTokenInfo before login", token_uri);
        goto done;
    }
    if (p11prov_token_flags(token) & CKF_USER_PIN_LOCKED) {
        P11PROV_RAISE(ctx, P11PROV_R_LOGIN, "the user PIN of %s is locked",
                      token_uri);
        goto done;
    }
    if (p11prov_token_flags(token) & CKF_USER_PIN_FINAL_TRY) {
        P11PROV_RAISE(ctx, P11PROV_R_LOGIN,
                      "%s reports that one more wrong PIN locks it; not "
                      "logging in automatically",
                      token_uri);
        goto done;
    }
    if (sources != NULL) {
        found = pin_without_asking(ctx, sources, &pin, &len);
        if (found == 0 && token->pin == NULL
            && !(p11prov_token_flags(token)
                 & CKF_PROTECTED_AUTHENTICATION_PATH))
            found = pin_by_asking(ctx, token, sources, &pin, &len);
        if (found < 0)
            goto done;
    }
    if (found == 0 && token->pin != NULL) {
        pin = OPENSSL_memdup(token->pin, token->pin_len + 1);
        len = token->pin_len;
        found = pin != NULL;
    }
    if (found == 0
        && !(p11prov_token_flags(token)
             & CKF_PROTECTED_AUTHENTICATION_PATH)) {
        P11PROV_RAISE(ctx, P11PROV_R_PIN,
                      "%s needs a PIN: give pin-value or pin-source in the "
                      "URI, pkcs11-module-token-pin, or a passphrase "
                      "callback",
                      token_uri);
        goto done;
    }
    /* found == 0 here means a PIN pad: C_Login with a NULL PIN. */
    const char *call;
    rv = call_login(ctx, token, CKU_USER, pin, len, &call);
    if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
        __atomic_store_n(&token->logged_in_at,
                         p11prov_module_generation(token->module),
                         __ATOMIC_RELEASE);
        if (pin != NULL)
            remember_pin(token, pin, len);
        pin = NULL;
        P11PROV_DEBUG(1, "logged in to %s", token_uri);
        ok = 1;
        goto done;
    }
    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_INVALID
        || rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_LOCKED) {
        token->pin_refused = true;
        remember_pin(token, NULL, 0);
    }
    P11PROV_RAISE_CKR(ctx, rv, call, token_uri);
done:
    if (pin != NULL)
        OPENSSL_clear_free(pin, len);
    OPENSSL_free(token_uri);
    return ok;
}

int p11prov_token_login(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                        const P11PROV_PIN_SOURCES *sources)
{
    int ok = 1;

    if (!p11prov_token_needs_login(token))
        return 1;
    pthread_mutex_lock(&token->login_lock);
    if (p11prov_token_needs_login(token))
        ok = login_locked(ctx, token, sources);
    pthread_mutex_unlock(&token->login_lock);
    return ok;
}

bool p11prov_token_share_pin(P11PROV_TOKEN *from, P11PROV_TOKEN *to)
{
    char *pin = NULL;
    size_t len = 0;
    bool shared;

    pthread_mutex_lock(&from->login_lock);
    if (from->pin != NULL && !from->pin_refused) {
        pin = OPENSSL_memdup(from->pin, from->pin_len + 1);
        len = from->pin_len;
    }
    pthread_mutex_unlock(&from->login_lock);
    if (pin == NULL)
        return false;
    pthread_mutex_lock(&to->login_lock);
    shared = !to->pin_refused;
    if (shared && to->pin == NULL) {
        remember_pin(to, pin, len);
        pin = NULL;
    }
    pthread_mutex_unlock(&to->login_lock);
    if (pin != NULL)
        OPENSSL_clear_free(pin, len);
    return shared;
}

int p11prov_token_prepare_login(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                                const P11PROV_PIN_SOURCES *sources)
{
    char *pin = NULL;
    size_t len = 0;
    int ready;

    if (!p11prov_token_needs_login(token))
        return 1;
    pthread_mutex_lock(&token->login_lock);
    ready = token->pin != NULL
            || (p11prov_token_flags(token)
                & CKF_PROTECTED_AUTHENTICATION_PATH);
    if (!ready) {
        ready = pin_without_asking(ctx, sources, &pin, &len);
        if (ready > 0)
            remember_pin(token, pin, len);
    }
    pthread_mutex_unlock(&token->login_lock);
    return ready;
}

CK_RV p11prov_context_login(P11PROV_TOKEN *token, CK_SESSION_HANDLE session)
{
    CK_RV rv;

    pthread_mutex_lock(&token->login_lock);
    if (token->pin == NULL
        && !(p11prov_token_flags(token)
             & CKF_PROTECTED_AUTHENTICATION_PATH)) {
        pthread_mutex_unlock(&token->login_lock);
        return CKR_USER_NOT_LOGGED_IN;
    }
    P11PROV_CALL(rv, token->module, C_Login, session, CKU_CONTEXT_SPECIFIC,
                 (CK_UTF8CHAR *)token->pin, (CK_ULONG)token->pin_len);
    pthread_mutex_unlock(&token->login_lock);
    return rv;
}
