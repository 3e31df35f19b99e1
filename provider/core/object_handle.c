/* The handle of an object operations use: recorded once, found again by
 * class, id and label after the module was re-initialised or said the
 * handle is stale, and swapped for its session copy when there is one. */
#include "core/object.h"

#include <openssl/crypto.h>

#include "core/debug.h"

/* Finds the object again by class, id and label. */
static CK_RV find_again(P11PROV_OBJECT *object, CK_SESSION_HANDLE session,
                        CK_OBJECT_HANDLE *handle)
{
    CK_BBOOL on_token = CK_TRUE;
    /* CKA_TOKEN: never our own session copy of the key (object_copy.c). */
    CK_ATTRIBUTE tmpl[4] = {
        { CKA_CLASS, &object->object_class, sizeof(object->object_class) },
        { CKA_TOKEN, &on_token, sizeof(on_token) },
    };
    CK_ULONG n = 2, count;
    CK_OBJECT_HANDLE *found;
    CK_RV rv;

    if (object->id != NULL)
        tmpl[n++] = (CK_ATTRIBUTE){ CKA_ID, object->id, object->id_len };
    if (object->label != NULL)
        tmpl[n++] = (CK_ATTRIBUTE){ CKA_LABEL, object->label,
                                    object->label_len };
    rv = p11prov_find_objects(object->token, session, tmpl, n, &found,
                              &count);
    if (rv != CKR_OK)
        return rv;
    if (count != 1) {
        OPENSSL_free(found);
        /* Gone, or no longer unique: never sign with a different key. */
        return CKR_KEY_HANDLE_INVALID;
    }
    *handle = found[0];
    OPENSSL_free(found);
    return CKR_OK;
}

CK_RV p11prov_object_handle(P11PROV_CTX *ctx, P11PROV_OBJECT *object,
                            CK_SESSION_HANDLE session, bool stale,
                            CK_OBJECT_HANDLE *handle)
{
    unsigned int generation = p11prov_module_generation(
        object->token->module);
    CK_OBJECT_HANDLE found;
    CK_RV rv;

    if (!stale && p11prov_object_copy_handle(object, generation, handle))
        return CKR_OK;
    if (stale)
        p11prov_object_copy_forget(object);
    /* Lock-free on the signing path: the handle is written before its
     * generation (release) and read after it (acquire), so a current
     * generation comes with its handle. A handle that went stale in the
     * meantime fails with CKR_*_HANDLE_INVALID and is found again. */
    if (!stale
        && __atomic_load_n(&object->handle_generation, __ATOMIC_ACQUIRE)
               == generation) {
        found = __atomic_load_n(&object->handle, __ATOMIC_RELAXED);
    } else {
        rv = find_again(object, session, &found);
        if (rv != CKR_OK)
            return rv;
        __atomic_store_n(&object->handle, found, __ATOMIC_RELAXED);
        __atomic_store_n(&object->handle_generation, generation,
                         __ATOMIC_RELEASE);
        P11PROV_DEBUG(1, "found %s again", object->uri);
    }
    *handle = p11prov_object_copy_make(ctx, object, session, found,
                                       generation);
    return CKR_OK;
}

void p11prov_object_clear(P11PROV_OBJECT *object)
{
    /* Its twins on other instances of the module (lanes.c). */
    for (size_t k = 0; k < P11PROV_MAX_LANES; k++) {
        if (object->lanes[k] == NULL)
            continue;
        p11prov_object_clear(object->lanes[k]);
        OPENSSL_free(object->lanes[k]);
        object->lanes[k] = NULL;
    }
    p11prov_object_copy_destroy(object);
    OPENSSL_free(object->id);
    OPENSSL_free(object->label);
    OPENSSL_free(object->uri);
    object->id = object->label = NULL;
    object->uri = NULL;
}
