/* The public key objects and certificates that accompany the private keys
 * of one search: where keys whose objects lack their public part (EC and
 * EdDSA keys on most tokens) find it. Nothing is read until the first key
 * needs its public part; then one search per class (none when the key
 * search found them too) and one batch of attributes per object serve
 * all the keys of that search. A listing that only prints URIs reads none
 * of them. */
#include <string.h>

#include <openssl/crypto.h>

#include "core/context.h"
#include "core/module.h"
#include "core/object.h"
#include "core/sessions.h"
#include "keys/key.h"

enum { PUBLIC_KEYS, CERTIFICATES, COMPANION_CLASSES };
static const CK_OBJECT_CLASS companion_class[COMPANION_CLASSES] = {
    CKO_PUBLIC_KEY,
    CKO_CERTIFICATE,
};

/* id, label, then the public attributes or the certificate's value */
#define COMPANION_ATTRIBUTES 6

typedef struct companion {
    CK_ATTRIBUTE attrs[COMPANION_ATTRIBUTES];
    CK_ULONG count;
} COMPANION;

typedef struct handle_list {
    CK_OBJECT_HANDLE *handles;
    CK_ULONG count, room;
} HANDLE_LIST;

struct p11prov_companions {
    int refs;
    P11PROV_CTX *provctx;
    P11PROV_TOKEN *token;
    CK_ATTRIBUTE tmpl[4]; /* the key search's template, and a class */
    CK_ULONG tmpl_count;
    CK_OBJECT_CLASS object_class;
    /* Found by the key search, for this module initialisation. */
    HANDLE_LIST known[COMPANION_CLASSES];
    bool all_known;
    unsigned int generation;
    /* Read on first need, under lock. */
    CRYPTO_RWLOCK *lock;
    bool read[COMPANION_CLASSES];
    COMPANION *found[COMPANION_CLASSES];
    size_t found_count[COMPANION_CLASSES];
};

P11PROV_COMPANIONS *p11prov_companions_new(P11PROV_CTX *ctx,
                                           P11PROV_TOKEN *token,
                                           const CK_ATTRIBUTE *tmpl,
                                           CK_ULONG count)
{
    P11PROV_COMPANIONS *c = OPENSSL_zalloc(sizeof(*c));

    if (c == NULL || count > 3
        || (c->lock = CRYPTO_THREAD_lock_new()) == NULL)
        goto fail;
    c->refs = 1;
    c->provctx = ctx;
    c->token = token;
    c->generation = p11prov_module_generation(token->module);
    for (CK_ULONG i = 0; i < count; i++) {
        c->tmpl[i].type = tmpl[i].type;
        c->tmpl[i].ulValueLen = tmpl[i].ulValueLen;
        /* (a byte more: an empty label is still a value) */
        c->tmpl[i].pValue = OPENSSL_zalloc(tmpl[i].ulValueLen + 1);
        c->tmpl_count++;
        if (c->tmpl[i].pValue == NULL)
            goto fail;
        if (tmpl[i].ulValueLen > 0)
            memcpy(c->tmpl[i].pValue, tmpl[i].pValue, tmpl[i].ulValueLen);
    }
    c->tmpl[c->tmpl_count++] = (CK_ATTRIBUTE){ CKA_CLASS, &c->object_class,
                                               sizeof(c->object_class) };
    return c;
fail:
    P11PROV_RAISE(ctx, P11PROV_R_MEMORY, "collecting objects");
    p11prov_companions_unref(c);
    return NULL;
}

int p11prov_companions_know(P11PROV_COMPANIONS *c,
                            CK_OBJECT_CLASS object_class,
                            CK_OBJECT_HANDLE handle)
{
    HANDLE_LIST *list =
        &c->known[object_class == CKO_PUBLIC_KEY ? PUBLIC_KEYS
                                                 : CERTIFICATES];

    if (list->count == list->room) {
        CK_ULONG room = list->room ? 2 * list->room : 8;
        CK_OBJECT_HANDLE *grown = OPENSSL_realloc(list->handles,
                                                  room * sizeof(*grown));
        if (grown == NULL)
            return 0;
        list->handles = grown;
        list->room = room;
    }
    list->handles[list->count++] = handle;
    return 1;
}

void p11prov_companions_all_known(P11PROV_COMPANIONS *c)
{
    c->all_known = true;
}

/* Drops what was read of class k (a failed or stale read). */
static void forget_class(P11PROV_COMPANIONS *c, int k)
{
    for (size_t i = 0; i < c->found_count[k]; i++)
        p11prov_attributes_free(c->found[k][i].attrs, c->found[k][i].count);
    OPENSSL_free(c->found[k]);
    c->found[k] = NULL;
    c->found_count[k] = 0;
}

P11PROV_COMPANIONS *p11prov_companions_ref(P11PROV_COMPANIONS *c)
{
    __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
    return c;
}

void p11prov_companions_unref(P11PROV_COMPANIONS *c)
{
    if (c == NULL || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (CK_ULONG i = 0; i < c->tmpl_count; i++)
        if (c->tmpl[i].type != CKA_CLASS)
            OPENSSL_free(c->tmpl[i].pValue);
    for (int k = 0; k < COMPANION_CLASSES; k++) {
        OPENSSL_free(c->known[k].handles);
        forget_class(c, k);
    }
    CRYPTO_THREAD_lock_free(c->lock);
    OPENSSL_free(c);
}

/* Reads one object's id, label and public part (or certificate). */
static CK_RV read_companion(P11PROV_COMPANIONS *c, CK_SESSION_HANDLE session,
                            int k, CK_OBJECT_HANDLE handle, COMPANION *out)
{
    CK_ULONG n = 0;

    out->attrs[n++].type = CKA_ID;
    out->attrs[n++].type = CKA_LABEL;
    if (k == CERTIFICATES)
        out->attrs[n++].type = CKA_VALUE;
    else
        for (size_t i = 0; i < p11prov_public_attribute_count; i++)
            out->attrs[n++].type = p11prov_public_attribute_types[i];
    out->count = n;
    return p11prov_get_attributes(c->token, session, handle, out->attrs, n);
}

/* The objects of class k: those the key search found, else a search. */
static CK_RV read_class(P11PROV_COMPANIONS *c, CK_SESSION_HANDLE session,
                        int k)
{
    CK_OBJECT_HANDLE *handles = NULL;
    CK_ULONG count = 0;
    bool searched = false;
    CK_RV rv = CKR_OK;

    if (c->all_known
        && c->generation == p11prov_module_generation(c->token->module)) {
        handles = c->known[k].handles;
        count = c->known[k].count;
    } else {
        c->object_class = companion_class[k];
        rv = p11prov_find_objects(c->token, session, c->tmpl, c->tmpl_count,
                                  &handles, &count);
        searched = true;
    }
    if (rv == CKR_OK && count > 0
        && (c->found[k] = OPENSSL_zalloc(count * sizeof(COMPANION))) == NULL)
        rv = CKR_HOST_MEMORY;
    for (CK_ULONG i = 0; rv == CKR_OK && i < count; i++) {
        rv = read_companion(c, session, k, handles[i],
                            &c->found[k][c->found_count[k]]);
        if (rv == CKR_OK)
            c->found_count[k]++;
    }
    if (searched)
        OPENSSL_free(handles);
    return rv;
}

/* Read once, with a fresh session if a pooled one turns out stale. */
static CK_RV read_once(P11PROV_COMPANIONS *c, int k)
{
    CK_SESSION_HANDLE session;
    CK_RV rv = CKR_OK;

    if (c->read[k])
        return CKR_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        rv = p11prov_session_borrow(c->provctx, c->token, &session);
        if (rv != CKR_OK)
            break;
        rv = read_class(c, session, k);
        p11prov_session_return(c->token, session,
                               !p11prov_session_broken(rv));
        if (rv == CKR_OK)
            break;
        forget_class(c, k); /* read again next time, never half */
        if (!p11prov_session_broken(rv))
            break;
        c->all_known = false; /* the handles went with the module */
    }
    c->read[k] = rv == CKR_OK;
    return rv;
}

static bool pairs_with(const P11PROV_KEY *key, const COMPANION *companion)
{
    const CK_ATTRIBUTE *id = p11prov_attribute_find(companion->attrs,
                                                    companion->count, CKA_ID);
    const CK_ATTRIBUTE *label = p11prov_attribute_find(
        companion->attrs, companion->count, CKA_LABEL);

    if (key->object.id_len > 0)
        return id != NULL && id->ulValueLen == key->object.id_len
               && memcmp(id->pValue, key->object.id, id->ulValueLen) == 0;
    return key->object.label != NULL && label != NULL
           && label->ulValueLen == key->object.label_len
           && memcmp(label->pValue, key->object.label, label->ulValueLen)
                  == 0;
}

static EVP_PKEY *public_of(P11PROV_CTX *ctx, const P11PROV_KEY *key, int k,
                           const COMPANION *companion)
{
    const CK_ATTRIBUTE *der;

    if (k == PUBLIC_KEYS)
        return p11prov_public_from_attributes(
            ctx, key->kind, companion->attrs, companion->count);
    der = p11prov_attribute_find(companion->attrs, companion->count,
                                 CKA_VALUE);
    return der != NULL ? p11prov_public_from_certificate(
                             ctx, key->kind, der->pValue, der->ulValueLen)
                       : NULL;
}

EVP_PKEY *p11prov_companions_public(P11PROV_COMPANIONS *c,
                                    const P11PROV_KEY *key)
{
    EVP_PKEY *pkey = NULL;

    if (!CRYPTO_THREAD_write_lock(c->lock))
        return NULL;
    for (int k = 0; k < COMPANION_CLASSES && pkey == NULL; k++) {
        CK_RV rv = read_once(c, k);
        if (rv != CKR_OK) {
            P11PROV_RAISE_CKR(c->provctx, rv,
                              "reading public key objects and certificates",
                              key->object.uri);
            break;
        }
        /* Taken only when exactly one object pairs, as for one key. */
        int matches = 0;
        EVP_PKEY *candidate = NULL;
        for (size_t i = 0; i < c->found_count[k]; i++) {
            if (!pairs_with(key, &c->found[k][i]))
                continue;
            EVP_PKEY *built = public_of(c->provctx, key, k, &c->found[k][i]);
            if (built == NULL)
                continue;
            matches++;
            EVP_PKEY_free(candidate);
            candidate = built;
        }
        if (matches == 1)
            pkey = candidate;
        else
            EVP_PKEY_free(candidate);
    }
    CRYPTO_THREAD_unlock(c->lock);
    return pkey;
}
