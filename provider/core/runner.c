/* The token-operation runner (see runner.h): one attempt function that
 * makes the Cryptoki calls of each operation on a borrowed session, and one
 * loop that decides which failure is worth another attempt. */
#include "core/runner.h"

#include <stdio.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "core/context.h"
#include "core/debug.h"
#include "core/lanes.h"
#include "core/login.h"
#include "core/mechanisms.h"
#include "core/module.h"
#include "core/sessions.h"

/* One operation: what to run, and where its result goes. */
typedef struct run {
    P11PROV_CTX *ctx;
    P11PROV_TOKEN *token;
    P11PROV_OBJECT *object; /* NULL when generating */
    const char *uri;        /* the object's, or the token's */
    P11PROV_TOKEN_OP op;
    CK_MECHANISM *mechanism;
    const unsigned char *in;
    size_t in_len;
    unsigned char *out;
    CK_ULONG out_len; /* in: the buffer's size */
    size_t min_len;   /* the least the answer may be */
    const P11PROV_KEYPAIR_REQUEST *pair;
    CK_OBJECT_HANDLE public_key, private_key;
    const char *bad_answer; /* what was wrong with a CKR_OK answer */
    /* Recovery state */
    bool stale;      /* find the object again */
    bool read_write; /* in a read-write session */
    bool in_init;    /* the failure was the first call */
} RUN;

static const char *first_call(P11PROV_TOKEN_OP op)
{
    static const char *const names[] = { "C_SignInit", "C_DecryptInit",
                                         "C_DeriveKey", "C_GenerateKeyPair" };
    return names[op];
}

static const char *second_call(P11PROV_TOKEN_OP op)
{
    static const char *const names[] = { "C_Sign", "C_Decrypt",
                                         "C_GetAttributeValue(CKA_VALUE)",
                                         "C_GenerateKeyPair" };
    return names[op];
}

/* C_*Init then C_Sign / C_Decrypt. *active: the session still holds the
 * operation (it must not be pooled). */
static CK_RV sign_or_decrypt(RUN *run, CK_SESSION_HANDLE session,
                             CK_OBJECT_HANDLE handle, bool *active)
{
    P11PROV_MODULE *m = run->token->module;
    CK_RV rv;

    if (run->op == P11PROV_TOKEN_SIGN)
        P11PROV_CALL(rv, m, C_SignInit, session, run->mechanism, handle);
    else
        P11PROV_CALL(rv, m, C_DecryptInit, session, run->mechanism, handle);
    *active = rv == CKR_OK;
    if (rv == CKR_OK && run->object->always_authenticate)
        rv = p11prov_context_login(run->token, session);
    if (rv != CKR_OK)
        return rv;
    run->in_init = false;
    if (run->op == P11PROV_TOKEN_SIGN)
        P11PROV_CALL(rv, m, C_Sign, session, (CK_BYTE *)run->in,
                     (CK_ULONG)run->in_len, run->out, &run->out_len);
    else
        P11PROV_CALL(rv, m, C_Decrypt, session, (CK_BYTE *)run->in,
                     (CK_ULONG)run->in_len, run->out, &run->out_len);
    /* Any other answer ends the operation; this one does not. The buffer
     * holds what the key implies: a module wanting more is wrong. */
    *active = rv == CKR_BUFFER_TOO_SMALL;
    return rv;
}

/* C_DeriveKey into a session-only generic secret of out_len bytes, read
 * back and destroyed at once. */
static CK_RV derive(RUN *run, CK_SESSION_HANDLE session,
                    CK_OBJECT_HANDLE handle)
{
    P11PROV_MODULE *m = run->token->module;
    CK_OBJECT_CLASS secret_class = CKO_SECRET_KEY;
    CK_KEY_TYPE secret_type = CKK_GENERIC_SECRET;
    CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
    CK_ULONG value_len = run->out_len;
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &secret_class, sizeof(secret_class) },
        { CKA_KEY_TYPE, &secret_type, sizeof(secret_type) },
        { CKA_TOKEN, &no, sizeof(no) },
        { CKA_SENSITIVE, &no, sizeof(no) },
        { CKA_EXTRACTABLE, &yes, sizeof(yes) },
        { CKA_VALUE_LEN, &value_len, sizeof(value_len) },
    };
    CK_OBJECT_HANDLE secret = CK_INVALID_HANDLE;
    CK_RV rv, destroy_rv;

    P11PROV_CALL(rv, m, C_DeriveKey, session, run->mechanism, handle, tmpl,
                 sizeof(tmpl) / sizeof(tmpl[0]), &secret);
    if (rv != CKR_OK)
        return rv;
    run->in_init = false;
    CK_ATTRIBUTE value = { CKA_VALUE, run->out, run->out_len };
    P11PROV_CALL(rv, m, C_GetAttributeValue, session, secret, &value, 1);
    run->out_len = value.ulValueLen;
    P11PROV_CALL(destroy_rv, m, C_DestroyObject, session, secret);
    (void)destroy_rv; /* a session object dies with its session anyway */
    return rv;
}

/* C_GenerateKeyPair, then the usages the request turns off. */
static CK_RV generate(RUN *run, CK_SESSION_HANDLE session)
{
    const P11PROV_KEYPAIR_REQUEST *pair = run->pair;
    P11PROV_MODULE *m = run->token->module;
    CK_BBOOL no = CK_FALSE;
    CK_RV rv;

    P11PROV_CALL(rv, m, C_GenerateKeyPair, session, pair->mechanism,
                 pair->public_template, pair->public_count,
                 pair->private_template, pair->private_count,
                 &run->public_key, &run->private_key);
    if (rv != CKR_OK)
        return rv;
    if (run->public_key == CK_INVALID_HANDLE
        || run->private_key == CK_INVALID_HANDLE
        || run->public_key == run->private_key) {
        /* What it did make is not left behind. */
        CK_RV ignored;
        if (run->public_key != CK_INVALID_HANDLE)
            P11PROV_CALL(ignored, m, C_DestroyObject, session,
                         run->public_key);
        if (run->private_key != CK_INVALID_HANDLE
            && run->private_key != run->public_key)
            P11PROV_CALL(ignored, m, C_DestroyObject, session,
                         run->private_key);
        (void)ignored;
        run->bad_answer = "an invalid or twice the same handle for the new "
                          "keys";
        return CKR_GENERAL_ERROR;
    }
    for (int private_side = 0; private_side < 2; private_side++) {
        const CK_ATTRIBUTE_TYPE *off = private_side ? pair->private_off
                                                    : pair->public_off;
        size_t count = private_side ? pair->private_off_count
                                    : pair->public_off_count;
        for (size_t i = 0; i < count; i++) {
            CK_ATTRIBUTE attr = { off[i], &no, sizeof(no) };
            CK_RV set_rv;
            P11PROV_CALL(set_rv, m, C_SetAttributeValue, session,
                         private_side ? run->private_key : run->public_key,
                         &attr, 1);
            if (set_rv != CKR_OK)
                P11PROV_DEBUG(1,
                              "the token keeps usage 0x%lx on the new key "
                              "(C_SetAttributeValue: 0x%lx)",
                              off[i], set_rv);
        }
    }
    return CKR_OK;
}

/* One attempt on a borrowed session. */
static CK_RV attempt(RUN *run, CK_ULONG out_size)
{
    P11PROV_TOKEN *token = run->token;
    CK_SESSION_HANDLE session;
    CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
    bool active = false; /* an operation the session still holds */
    CK_RV rv;

    run->in_init = true;
    run->out_len = out_size;
    rv = run->read_write
             ? p11prov_session_borrow_rw(run->ctx, token, &session)
             : p11prov_session_borrow(run->ctx, token, &session);
    if (rv != CKR_OK)
        return rv;
    /* Modules that use libcrypto themselves (SoftHSM, tpm2-pkcs11) leave
     * its errors on this thread's queue: a wrong OAEP padding added "rsa
     * routines" lines there. The module's answer is its CKR_*; the rest
     * goes, so failures look the same whoever found them. */
    ERR_set_mark();
    if (run->object != NULL)
        rv = p11prov_object_handle(run->ctx, run->object, session, run->stale,
                                   &handle);
    if (rv == CKR_OK) {
        P11PROV_DEBUG(3, "%s with %s for %s", first_call(run->op),
                      p11prov_mechanism_name(run->mechanism->mechanism),
                      run->uri);
        switch (run->op) {
        case P11PROV_TOKEN_SIGN:
        case P11PROV_TOKEN_DECRYPT:
            rv = sign_or_decrypt(run, session, handle, &active);
            break;
        case P11PROV_TOKEN_DERIVE:
            rv = derive(run, session, handle);
            break;
        case P11PROV_TOKEN_GENERATE:
            rv = generate(run, session);
            break;
        }
    }
    ERR_pop_to_mark();
    /* Read-write sessions are never pooled; nor is one left with an
     * active operation or one the module says is gone. */
    p11prov_session_return(
        token, session,
        !run->read_write
            && (rv == CKR_OK || (!active && !p11prov_session_broken(rv))));
    return rv;
}

static bool login_if_needed(RUN *run)
{
    return !p11prov_token_needs_login(run->token)
           || p11prov_token_login(run->ctx, run->token, NULL);
}

/* The attempts: at most one recovery of each kind, so a module that keeps
 * failing costs at most five attempts and one extra C_Login. */
static P11PROV_OP_STATUS run_with_recovery(RUN *run, size_t out_size,
                                           CK_RV *result)
{
    bool found_again = false, relogged = false, reopened = false,
         restarted = false;
    CK_RV rv = CKR_OK;

    *result = CKR_GENERAL_ERROR;
    if (!p11prov_module_ready(run->token->module)) {
        *result = CKR_DEVICE_ERROR; /* its server still gone */
        return P11PROV_OP_INIT_FAILED;
    }
    if (!login_if_needed(run))
        return P11PROV_OP_RAISED;
    for (;;) {
        unsigned int generation = p11prov_module_generation(
            run->token->module);
        rv = attempt(run, (CK_ULONG)out_size);
        if (rv == CKR_OK || run->bad_answer != NULL)
            break;
        /* The server, device or token went away: no other recovery helps
         * unless the module is started again (at most once per
         * interval); then the login, a session and the key's handle are
         * had again. */
        bool lost = p11prov_module_lost(run->token->module, rv);
        if (lost && !restarted
            && p11prov_module_recover(run->token->module, generation)
                   == CKR_OK) {
            restarted = true;
            run->stale = run->object != NULL;
        } else if ((rv == CKR_OBJECT_HANDLE_INVALID
                    || rv == CKR_KEY_HANDLE_INVALID)
                   && run->object != NULL && !found_again) {
            run->stale = found_again = true;
            /* A token that lost the login hides private objects this way
             * (SoftHSM): found again after logging in again, which a
             * module that kept the login answers
             * CKR_USER_ALREADY_LOGGED_IN. */
            if (!relogged && p11prov_token_login_gone(run->ctx, run->token)) {
                relogged = true;
                p11prov_token_forget_login(run->token);
            }
        } else if (rv == CKR_USER_NOT_LOGGED_IN && !relogged) {
            /* The module lost the login: one more C_Login, no more (each
             * may count against the PIN). */
            p11prov_token_forget_login(run->token);
            relogged = true;
            /* A logout destroys private session objects (the key's copy),
             * and modules may renumber private objects (SoftHSM does):
             * the object is found again with the login. */
            run->stale = run->object != NULL;
        } else if (rv == CKR_SESSION_READ_ONLY && !run->read_write
                   && run->op == P11PROV_TOKEN_DERIVE) {
            /* The module makes the derived key an object only in
             * read-write sessions (tpm2-pkcs11 >= 1.9.1): learned once per
             * token. */
            P11PROV_DEBUG(1, "C_DeriveKey needs a read-write session on %s",
                          run->uri);
            __atomic_store_n(&run->token->derive_needs_rw, true,
                             __ATOMIC_RELAXED);
            run->read_write = true;
        } else if (!lost && p11prov_session_broken(rv) && !reopened) {
            reopened = true;
            /* A login lasts while the application has a session with the
             * token: if that was the last one, it went with it, and the
             * token now hides private objects (SoftHSM answers
             * CKR_OBJECT_HANDLE_INVALID, not CKR_USER_NOT_LOGGED_IN).
             * Logging in again costs a C_Login that the module answers
             * CKR_USER_ALREADY_LOGGED_IN when the login stayed. */
            if (p11prov_token_flags(run->token) & CKF_LOGIN_REQUIRED) {
                p11prov_token_forget_login(run->token);
                run->stale = run->object != NULL;
            }
        } else {
            *result = rv;
            return run->in_init ? P11PROV_OP_INIT_FAILED
                                : P11PROV_OP_CALL_FAILED;
        }
        if (!login_if_needed(run))
            return P11PROV_OP_RAISED;
    }
    if (run->bad_answer != NULL) {
        P11PROV_RAISE(run->ctx, P11PROV_R_MODULE_BAD_ANSWER,
                      "%s with %s for %s answered CKR_OK with %s",
                      second_call(run->op),
                      p11prov_mechanism_name(run->mechanism->mechanism),
                      run->uri, run->bad_answer);
        return P11PROV_OP_RAISED;
    }
    if (run->op != P11PROV_TOKEN_GENERATE
        && (run->out_len > out_size || run->out_len < run->min_len)) {
        /* The module wrote, or says it wrote, past what we gave it, or
         * less than the key and operation imply. */
        P11PROV_RAISE(run->ctx, P11PROV_R_MODULE_BAD_ANSWER,
                      "%s with %s for %s returned %lu bytes, %s the %zu the "
                      "key implies",
                      second_call(run->op),
                      p11prov_mechanism_name(run->mechanism->mechanism),
                      run->uri, (unsigned long)run->out_len,
                      run->min_len == out_size  ? "not"
                      : run->out_len > out_size ? "more than"
                                                : "fewer than",
                      run->out_len > out_size ? out_size : run->min_len);
        if (run->out != NULL)
            OPENSSL_cleanse(run->out, out_size);
        return P11PROV_OP_RAISED;
    }
    *result = CKR_OK;
    return P11PROV_OP_DONE;
}

P11PROV_OP_STATUS p11prov_token_operation(
    P11PROV_CTX *ctx, P11PROV_OBJECT *object, P11PROV_TOKEN_OP op,
    CK_MECHANISM *mechanism, const unsigned char *in, size_t in_len,
    unsigned char *out, size_t *out_len, size_t min_len, size_t max_len,
    CK_RV *rv)
{
    int lane;
    P11PROV_OBJECT *on = p11prov_lane_take(ctx, object, &lane);
    RUN run = {
        .ctx = ctx,
        .token = on->token,
        .object = on,
        .uri = object->uri,
        .op = op,
        .mechanism = mechanism,
        .in = in,
        .in_len = in_len,
        .out = out,
        .min_len = min_len,
        .read_write = op == P11PROV_TOKEN_DERIVE
                      && __atomic_load_n(&on->token->derive_needs_rw,
                                         __ATOMIC_RELAXED),
    };
    P11PROV_OP_STATUS status;

    status = run_with_recovery(&run, max_len, rv);
    p11prov_lane_give_back(object, lane);
    if (status == P11PROV_OP_DONE)
        *out_len = run.out_len;
    return status;
}

P11PROV_OP_STATUS p11prov_token_generate_pair(
    P11PROV_CTX *ctx, P11PROV_TOKEN *token, const char *uri,
    const P11PROV_KEYPAIR_REQUEST *request, CK_OBJECT_HANDLE *public_key,
    CK_OBJECT_HANDLE *private_key, CK_RV *rv)
{
    RUN run = {
        .ctx = ctx,
        .token = token,
        .uri = uri,
        .op = P11PROV_TOKEN_GENERATE,
        .mechanism = request->mechanism,
        .pair = request,
        .read_write = true,
    };
    P11PROV_OP_STATUS status = run_with_recovery(&run, 0, rv);

    if (status == P11PROV_OP_DONE) {
        *public_key = run.public_key;
        *private_key = run.private_key;
    }
    return status;
}

int p11prov_token_op_raise(P11PROV_CTX *ctx, P11PROV_TOKEN_OP op,
                           P11PROV_OP_STATUS status,
                           CK_MECHANISM_TYPE mechanism, const char *uri,
                           CK_RV rv)
{
    char what[96];

    if (status == P11PROV_OP_RAISED || status == P11PROV_OP_DONE)
        return 0;
    snprintf(what, sizeof(what), "%s with %s",
             status == P11PROV_OP_INIT_FAILED ? first_call(op)
                                              : second_call(op),
             p11prov_mechanism_name(mechanism));
    P11PROV_RAISE_CKR(ctx, rv, what, uri);
    return 0;
}
