/* Session-object copies of token keys (pkcs11-module-copy-keys, on by
 * default). SoftHSM signs about 30% faster with a key held as a session
 * object than with the same key as a token object, which it checks
 * against its file on every use. A private key the token marks
 * CKA_COPYABLE is copied once per module initialisation (C_CopyObject
 * with CKA_TOKEN false) into a session the token record keeps open for
 * that purpose, when it is used the second time: a command that signs
 * once gains nothing from a copy. Operations then use the copy. Never for keys marked not
 * copyable, nor for keys that need a login per operation. A copy the
 * token refuses is not tried again until the module is re-initialised. */
#include "core/object.h"

#include "core/context.h"
#include "core/debug.h"
#include "core/module.h"
#include "core/sessions.h"

enum { COPY_UNTRIED, COPY_MADE, COPY_REFUSED };

/* Whether the copy state was written for the module's current
 * initialisation and the token's current epoch. */
static bool copy_current(const P11PROV_OBJECT *object,
                         unsigned int generation)
{
    return __atomic_load_n(&object->copy_generation, __ATOMIC_ACQUIRE)
               == generation
           && __atomic_load_n(&object->copy_epoch, __ATOMIC_ACQUIRE)
                  == __atomic_load_n(&object->token->epoch, __ATOMIC_ACQUIRE);
}

bool p11prov_object_copy_handle(const P11PROV_OBJECT *object,
                                unsigned int generation,
                                CK_OBJECT_HANDLE *handle)
{
    if (!copy_current(object, generation)
        || __atomic_load_n(&object->copy_state, __ATOMIC_ACQUIRE)
               != COPY_MADE)
        return false;
    *handle = __atomic_load_n(&object->copy, __ATOMIC_RELAXED);
    return true;
}

/* The session that holds the token's copies (a session object lives as
 * long as the session that made it); token->lock held. */
static CK_RV keeper_session(P11PROV_TOKEN *token, unsigned int generation,
                            CK_SESSION_HANDLE *session)
{
    CK_RV rv;

    if (token->keeper_generation == generation
        && token->keeper_epoch == token->epoch) {
        *session = token->keeper;
        return CKR_OK;
    }
    /* Counted with the pool's: never a session beyond the token's. */
    if (!p11prov_session_reserve(token))
        return CKR_SESSION_COUNT;
    P11PROV_CALL(rv, token->module, C_OpenSession, token->slot_id,
                 CKF_SERIAL_SESSION, NULL, NULL, &token->keeper);
    if (rv == CKR_OK && token->keeper == CK_INVALID_HANDLE)
        rv = P11PROV_CKR_BAD_ANSWER;
    if (rv != CKR_OK) {
        p11prov_session_unreserve(token);
        return rv;
    }
    token->keeper_generation = generation;
    token->keeper_epoch = token->epoch;
    *session = token->keeper;
    return CKR_OK;
}

static void set_copy_state(P11PROV_OBJECT *object, int state,
                           CK_OBJECT_HANDLE copy, unsigned int generation)
{
    /* Stamp last: a reader that sees the stamp sees the rest. */
    __atomic_store_n(&object->copy_generation, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&object->copy, copy, __ATOMIC_RELAXED);
    __atomic_store_n(&object->copy_state, state, __ATOMIC_RELEASE);
    __atomic_store_n(&object->copy_epoch,
                     __atomic_load_n(&object->token->epoch, __ATOMIC_ACQUIRE),
                     __ATOMIC_RELEASE);
    __atomic_store_n(&object->copy_generation, generation, __ATOMIC_RELEASE);
}

CK_OBJECT_HANDLE p11prov_object_copy_make(P11PROV_CTX *ctx,
                                          P11PROV_OBJECT *object,
                                          CK_SESSION_HANDLE session,
                                          CK_OBJECT_HANDLE original,
                                          unsigned int generation)
{
    P11PROV_TOKEN *token = object->token;
    CK_OBJECT_HANDLE result = original, copy = CK_INVALID_HANDLE;
    CK_BBOOL no = CK_FALSE;
    CK_ATTRIBUTE session_object = { CKA_TOKEN, &no, sizeof(no) };
    CK_SESSION_HANDLE keeper;
    CK_RV rv;

    if (!ctx->config.copy_keys || object->object_class != CKO_PRIVATE_KEY
        || object->always_authenticate)
        return original;
    /* Refused for this initialisation: no lock on every signature. */
    if (copy_current(object, generation)
        && __atomic_load_n(&object->copy_state, __ATOMIC_ACQUIRE)
               == COPY_REFUSED)
        return original;
    if (__atomic_fetch_add(&object->uses, 1, __ATOMIC_RELAXED) == 0)
        return original; /* the first use */
    pthread_mutex_lock(&token->lock);
    if (copy_current(object, generation)) {
        /* Another thread got here first, or the token said no. */
        if (object->copy_state == COPY_MADE)
            result = object->copy;
        goto done;
    }
    /* Absent (a module older than PKCS#11 2.40) counts as "no". */
    bool copyable;
    rv = p11prov_get_bool(token, session, original, CKA_COPYABLE, &copyable);
    if (rv != CKR_OK
        && (p11prov_session_broken(rv) || rv == CKR_HOST_MEMORY
            || rv == CKR_USER_NOT_LOGGED_IN
            || p11prov_module_lost(token->module, rv))) {
        /* Not an answer about the object: asked again next time. */
        P11PROV_DEBUG(2, "%s: CKA_COPYABLE unread (0x%lx)", object->uri, rv);
        goto done;
    }
    if (!copyable) {
        set_copy_state(object, COPY_REFUSED, CK_INVALID_HANDLE, generation);
        goto done;
    }
    rv = keeper_session(token, generation, &keeper);
    if (rv == CKR_OK)
        P11PROV_CALL(rv, token->module, C_CopyObject, keeper, original,
                     &session_object, 1, &copy);
    if (rv == CKR_OK) {
        set_copy_state(object, COPY_MADE, copy, generation);
        result = copy;
        P11PROV_DEBUG(2, "%s copied to session object %lu", object->uri,
                      copy);
    } else if (rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED) {
        token->keeper_generation = 0; /* a new keeper next time */
        p11prov_session_unreserve(token);
    } else if (rv != CKR_USER_NOT_LOGGED_IN && rv != CKR_HOST_MEMORY
               && rv != CKR_SESSION_COUNT) {
        set_copy_state(object, COPY_REFUSED, CK_INVALID_HANDLE, generation);
        P11PROV_DEBUG(1, "%s: no session copy (C_CopyObject: 0x%lx)",
                      object->uri, rv);
    }
done:
    pthread_mutex_unlock(&token->lock);
    return result;
}

void p11prov_object_copy_forget(P11PROV_OBJECT *object)
{
    /* The copy failed: the token dropped it (a logout destroys private
     * session objects). Made again on next use. */
    __atomic_store_n(&object->copy_generation, 0, __ATOMIC_RELEASE);
}

void p11prov_object_copy_destroy(P11PROV_OBJECT *object)
{
    P11PROV_TOKEN *token = object->token;
    CK_RV rv;

    /* At exit the copies die with the process; the module may already
     * have run its destructors. */
    if (token == NULL || token->module->finalized
        || p11prov_process_exiting())
        return;
    pthread_mutex_lock(&token->lock);
    if (copy_current(object, p11prov_module_generation(token->module))
        && object->copy_state == COPY_MADE
        && token->keeper_generation == object->copy_generation
        && token->keeper_epoch == token->epoch) {
        P11PROV_CALL(rv, token->module, C_DestroyObject, token->keeper,
                     object->copy);
        (void)rv; /* gone already is as good */
    }
    pthread_mutex_unlock(&token->lock);
}
