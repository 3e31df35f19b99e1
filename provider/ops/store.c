/* The "pkcs11" OSSL_STORE loader: a URI selects tokens, then objects on
 * them, found with C_FindObjects templates built from the URI. Results
 * are collected on the first load, in a stable order (token by slot, then
 * object id, then label), and handed out one per load call. */
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include "core/context.h"
#include "core/debug.h"
#include "core/login.h"
#include "core/module.h"
#include "core/object.h"
#include "core/sessions.h"
#include "core/token_lookup.h"
#include "keys/key.h"
#include "ops/store.h"
#include "ops/store_search.h"

typedef struct store_ctx {
    P11PROV_CTX *provctx;
    p11uri *uri;
    char *uri_text;      /* for messages: the PIN left out */
    int expect;          /* OSSL_STORE_INFO_* or 0 for any */
    STORE_SEARCH search; /* OSSL_STORE_find's criteria */
    bool collected, failed;
    /* A failed collection is reported by one load returning 0 while eof
     * is still false (so OSSL_STORE_error() is set); after that, eof. */
    bool failure_reported;
    STORE_ITEM *items;
    size_t item_count, next_item;
    const char *failed_call; /* what a failed search was doing */
    size_t skipped;          /* objects passed over, each error raised */
    bool raised;             /* the failure's error is raised */
} STORE_CTX;

static OSSL_FUNC_store_open_fn store_open;
static OSSL_FUNC_store_settable_ctx_params_fn store_settable_ctx_params;
static OSSL_FUNC_store_set_ctx_params_fn store_set_ctx_params;
static OSSL_FUNC_store_load_fn store_load;
static OSSL_FUNC_store_eof_fn store_eof;
static OSSL_FUNC_store_close_fn store_close;

static void *store_open(void *provctx, const char *uri_text)
{
    P11PROV_CTX *ctx = provctx;
    p11uri_error error;
    STORE_CTX *store;

    store = OPENSSL_zalloc(sizeof(*store));
    if (store == NULL) {
        P11PROV_RAISE(ctx, P11PROV_R_MEMORY, "opening a pkcs11 store");
        return NULL;
    }
    store->provctx = ctx;
    if (p11uri_parse(uri_text, &store->uri, &error) != P11URI_OK) {
        /* The message names the attribute and position, never the PIN. */
        P11PROV_RAISE(ctx, P11PROV_R_BAD_URI, "%s", error.message);
        OPENSSL_free(store);
        return NULL;
    }
    store->uri_text = p11uri_format(store->uri, P11URI_FORMAT_OMIT_PIN);
    if (store->uri_text == NULL) {
        P11PROV_RAISE(ctx, P11PROV_R_MEMORY, "opening a pkcs11 store");
        store_close(store);
        return NULL;
    }
    P11PROV_DEBUG(1, "store opened for %s", store->uri_text);
    return store;
}

static const OSSL_PARAM *store_settable_ctx_params(void *provctx)
{
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, NULL),
        P11PROV_STORE_SEARCH_PARAMS,
        OSSL_PARAM_END,
    };
    (void)provctx;
    return settable;
}

static int store_set_ctx_params(void *loaderctx, const OSSL_PARAM params[])
{
    STORE_CTX *store = loaderctx;
    const OSSL_PARAM *p;

    p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);
    if (p != NULL && !OSSL_PARAM_get_int(p, &store->expect)) {
        P11PROV_RAISE(store->provctx, P11PROV_R_BAD_ARGUMENT,
                      "store parameter %s is not an integer",
                      OSSL_STORE_PARAM_EXPECT);
        return 0;
    }
    return p11prov_store_search_set(store->provctx, &store->search, params);
}

/* The classes a store search looks through, in the order found objects
 * are returned. */
static const struct object_class_info {
    CK_OBJECT_CLASS object_class;
    int store_info; /* OSSL_STORE_INFO_* it satisfies */
    const char *plural_name;
} classes[] = {
    { CKO_PRIVATE_KEY, OSSL_STORE_INFO_PKEY, "private keys" },
    { CKO_PUBLIC_KEY, OSSL_STORE_INFO_PUBKEY, "public keys" },
    { CKO_CERTIFICATE, OSSL_STORE_INFO_CERT, "certificates" },
};

/* Does the caller want objects of this class? The URI's type, else
 * OSSL_STORE_expect(), narrows the search. A type the expectation
 * contradicts is still searched: the objects the URI names are read, so
 * that a broken one says why, and collect() then refuses them. (OpenSSL
 * 3.5's `pkey -pubin` asks quietly for a public key, drops that
 * attempt's errors, and asks again for a private key.) */
static bool wanted(const STORE_CTX *store, CK_OBJECT_CLASS class, int info)
{
    if (p11prov_store_search_impossible(&store->search, store->uri)
        || (class != CKO_CERTIFICATE
            && p11prov_store_search_certs_only(&store->search)))
        return false;
    if (store->uri->values[P11URI_TYPE].present)
        return store->uri->object_class == class;
    return store->expect == 0 || store->expect == info;
}

/* What the URI's type names, when the caller expects something else;
 * NULL when they agree or either leaves it open. */
static const char *type_contradicting_expect(const STORE_CTX *store)
{
    if (store->expect == 0 || !store->uri->values[P11URI_TYPE].present)
        return NULL;
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
        if (classes[i].object_class == store->uri->object_class)
            return classes[i].store_info == store->expect
                       ? NULL
                       : classes[i].plural_name;
    return NULL; /* a type never searched: nothing is found */
}

static const char *expected_name(int expect)
{
    switch (expect) {
    case OSSL_STORE_INFO_PKEY:
        return "a private key";
    case OSSL_STORE_INFO_PUBKEY:
        return "a public key";
    case OSSL_STORE_INFO_CERT:
        return "a certificate";
    case OSSL_STORE_INFO_CRL:
        return "a CRL";
    case OSSL_STORE_INFO_PARAMS:
        return "key parameters";
    default:
        return "another kind of object";
    }
}

static int compare_items(const void *a, const void *b)
{
    const STORE_ITEM *x = a, *y = b;
    int c;

    if (x->token_index != y->token_index)
        return x->token_index < y->token_index ? -1 : 1;
    if (x->id_len != y->id_len)
        return x->id_len < y->id_len ? -1 : 1;
    if (x->id_len > 0 && (c = memcmp(x->id, y->id, x->id_len)) != 0)
        return c;
    if (x->label_len != y->label_len)
        return x->label_len < y->label_len ? -1 : 1;
    if (x->label_len > 0
        && (c = memcmp(x->label, y->label, x->label_len)) != 0)
        return c;
    return x->class_rank - y->class_rank;
}

static int add_item(STORE_CTX *store, STORE_ITEM *item)
{
    STORE_ITEM *grown = OPENSSL_realloc(store->items, (store->item_count + 1)
                                                          * sizeof(*grown));
    if (grown == NULL) {
        p11prov_store_item_free(item);
        P11PROV_RAISE(store->provctx, P11PROV_R_MEMORY, "collecting objects");
        return 0;
    }
    store->items = grown;
    store->items[store->item_count++] = *item;
    return 1;
}

/* A class PKCS#11 defines (up to CKO_PROFILE), or a vendor's. */
static bool known_class(CK_OBJECT_CLASS object_class)
{
    return object_class <= 9 || (object_class & CKO_VENDOR_DEFINED);
}

/* An object passed over for what the module answered: said, and counted
 * (collect() keeps the errors only when nothing was found). */
static void pass_over(STORE_CTX *store, P11PROV_TOKEN *token,
                      CK_OBJECT_HANDLE object, const char *why)
{
    char *token_uri = p11prov_token_uri(token);

    P11PROV_RAISE(store->provctx, P11PROV_R_MODULE_BAD_ANSWER,
                  "object %lu of %s skipped: %s", (unsigned long)object,
                  token_uri ? token_uri : "", why);
    OPENSSL_free(token_uri);
    store->skipped++;
}

/* The module's bytes are a certificate, and nothing more. */
static bool whole_certificate(const unsigned char *der, CK_ULONG der_len)
{
    const unsigned char *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long)der_len);
    bool whole = cert != NULL && p == der + der_len;

    X509_free(cert);
    return whole;
}

/* Reads one certificate object; CKR_OK with item->der NULL means "not an
 * X.509 certificate (or a broken one, raised), skip it". */
static CK_RV read_certificate(STORE_CTX *store, P11PROV_TOKEN *token,
                              CK_SESSION_HANDLE session,
                              CK_OBJECT_HANDLE object, STORE_ITEM *item)
{
    CK_ULONG cert_type;
    CK_RV rv;

    store->failed_call = "C_GetAttributeValue(CKA_CERTIFICATE_TYPE)";
    rv = p11prov_get_ulong(token, session, object, CKA_CERTIFICATE_TYPE,
                           &cert_type);
    if (rv != CKR_OK || cert_type != CKC_X_509)
        return rv;
    store->failed_call = "C_GetAttributeValue(CKA_VALUE)";
    rv = p11prov_get_attribute(token, session, object, CKA_VALUE, &item->der,
                               &item->der_len);
    if (rv != CKR_OK)
        return rv;
    if (!whole_certificate(item->der, item->der_len)) {
        pass_over(store, token, object,
                  "its CKA_VALUE is no complete DER X.509 certificate");
        OPENSSL_free(item->der);
        item->der = NULL;
        return CKR_OK;
    }
    /* Label and id are optional: an object without them is still found. */
    store->failed_call = "C_GetAttributeValue(CKA_ID)";
    rv = p11prov_get_attribute(token, session, object, CKA_ID, &item->id,
                               &item->id_len);
    if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID)
        return rv;
    store->failed_call = "C_GetAttributeValue(CKA_LABEL)";
    rv = p11prov_get_attribute(token, session, object, CKA_LABEL,
                               &item->label, &item->label_len);
    if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID)
        return rv;
    item->object_type = OSSL_OBJECT_CERT;
    item->uri = p11prov_object_uri(token, item->label, item->label_len,
                                   item->id, item->id_len, "cert");
    return item->uri != NULL ? CKR_OK : CKR_HOST_MEMORY;
}

/* A key object as a store item (the item holds a reference). CKR_OK with
 * item->key NULL means "a key type this provider does not handle". */
static CK_RV read_key(STORE_CTX *store, P11PROV_TOKEN *token,
                      CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                      CK_OBJECT_CLASS object_class,
                      P11PROV_COMPANIONS *companions, STORE_ITEM *item)
{
    bool unsupported;
    P11PROV_KEY *key = p11prov_key_from_token(store->provctx, token, session,
                                              object, object_class,
                                              companions, &unsupported);

    if (key == NULL && unsupported) {
        store->skipped++; /* said why */
        return CKR_OK;
    }
    if (key == NULL) {
        store->raised = true;
        return CKR_GENERAL_ERROR;
    }
    /* A public key object is its public part: one that cannot be built
     * is said now, while the URI picks few objects (OpenSSL's store
     * drops a provider's errors when the key it was handed fails). */
    if (object_class == CKO_PUBLIC_KEY
        && (store->uri->values[P11URI_OBJECT].present
            || store->uri->values[P11URI_ID].present)
        && p11prov_key_public(key) == NULL) {
        p11prov_key_unref(key);
        store->skipped++;
        return CKR_OK;
    }
    item->key = key;
    item->object_type = OSSL_OBJECT_PKEY;
    if ((key->object.id != NULL
         && (item->id = OPENSSL_memdup(key->object.id, key->object.id_len))
                == NULL)
        || (key->object.label != NULL
            && (item->label = OPENSSL_memdup(key->object.label,
                                             key->object.label_len))
                   == NULL)
        || (item->uri = OPENSSL_strdup(key->object.uri)) == NULL)
        return CKR_HOST_MEMORY;
    item->id_len = key->object.id_len;
    item->label_len = key->object.label_len;
    return CKR_OK;
}

/* The URI's label and id (its class is each caller's), token objects
 * only: a URI names what the token holds, not session objects, which
 * include our own copies of keys (object_copy.c). Room for 3 in tmpl. */
static CK_ULONG uri_template(const STORE_CTX *store, CK_ATTRIBUTE *tmpl,
                             CK_BBOOL *on_token)
{
    CK_ATTRIBUTE from_uri[3];
    CK_ULONG n = 0, count = p11uri_object_template(store->uri, from_uri);

    for (CK_ULONG i = 0; i < count; i++)
        if (from_uri[i].type != CKA_CLASS)
            tmpl[n++] = from_uri[i];
    *on_token = CK_TRUE;
    tmpl[n++] = (CK_ATTRIBUTE){ CKA_TOKEN, on_token, sizeof(*on_token) };
    return n;
}

/* Objects of one class on one token that the URI selects. */
static CK_RV collect_class(STORE_CTX *store, P11PROV_TOKEN *token,
                           CK_SESSION_HANDLE session, size_t index, int rank,
                           size_t *found)
{
    CK_OBJECT_CLASS object_class = classes[rank].object_class;
    CK_BBOOL on_token;
    CK_ATTRIBUTE tmpl[9];
    CK_ULONG count = 0;
    CK_OBJECT_HANDLE *handles = NULL;
    P11PROV_COMPANIONS *companions = NULL;
    CK_RV rv;

    /* Private keys named by label or id: one search for the objects of
     * every class with that name, so their public key objects and
     * certificates come with them (a search costs as much as the token
     * holds objects on some tokens: SoftHSM reads them all). */
    bool with_companions = object_class == CKO_PRIVATE_KEY
                           && (store->uri->values[P11URI_OBJECT].present
                               || store->uri->values[P11URI_ID].present);
    size_t n = uri_template(store, tmpl, &on_token);
    /* Where the private keys' public parts are, should they be needed. */
    if (object_class == CKO_PRIVATE_KEY
        && (companions = p11prov_companions_new(store->provctx, token, tmpl,
                                                n))
               == NULL)
        return CKR_HOST_MEMORY;
    if (!with_companions)
        tmpl[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &object_class,
                                    sizeof(object_class) };
    CK_ULONG criteria = p11prov_store_search_template(
        &store->search, store->uri, object_class, tmpl + n);
    store->failed_call = "C_FindObjects";
    rv = p11prov_find_objects(token, session, tmpl, n + criteria, &handles,
                              &count);
    if (rv == CKR_OK && count == 0 && object_class == CKO_CERTIFICATE
        && p11prov_store_search_certs_only(&store->search)) {
        /* A token may lack CKA_SUBJECT and the like, or hold them in
         * another encoding: the certificates the URI (and an alias)
         * select, checked here. */
        OPENSSL_free(handles);
        criteria = p11prov_store_search_template(&store->search, store->uri,
                                                 CKO_PRIVATE_KEY, tmpl + n);
        rv = p11prov_find_objects(token, session, tmpl, n + criteria,
                                  &handles, &count);
    }
    for (CK_ULONG i = 0; rv == CKR_OK && i < count; i++) {
        STORE_ITEM item = { .token_index = index, .class_rank = rank };
        CK_OBJECT_CLASS found_class = object_class;
        store->failed_call = "C_GetAttributeValue(CKA_CLASS)";
        if (with_companions) {
            rv = p11prov_get_ulong(token, session, handles[i], CKA_CLASS,
                                   &found_class);
            if (rv != CKR_OK)
                break;
            if (!known_class(found_class)) {
                pass_over(store, token, handles[i],
                          "its CKA_CLASS is none PKCS#11 defines");
                continue;
            }
            if ((found_class == CKO_PUBLIC_KEY
                 || found_class == CKO_CERTIFICATE)
                && !p11prov_companions_know(companions, found_class,
                                            handles[i])) {
                rv = CKR_HOST_MEMORY;
                break;
            }
            if (found_class != CKO_PRIVATE_KEY)
                continue;
        }
        store->failed_call = "C_GetAttributeValue";
        if (object_class == CKO_CERTIFICATE) {
            rv = read_certificate(store, token, session, handles[i], &item);
            if (rv == CKR_OK && item.der != NULL
                && !p11prov_store_search_cert_matches(
                    &store->search, item.der, item.der_len)) {
                p11prov_store_item_free(&item);
                continue;
            }
        } else
            rv = read_key(store, token, session, handles[i], object_class,
                          companions, &item);
        if (rv == CKR_OK && (item.der != NULL || item.key != NULL)) {
            P11PROV_DEBUG(1, "found %s", item.uri);
            if (!add_item(store, &item))
                rv = CKR_HOST_MEMORY;
            (*found)++;
        } else {
            p11prov_store_item_free(&item);
        }
    }
    /* (search criteria may have left some of them out) */
    if (rv == CKR_OK && with_companions && criteria == 0)
        p11prov_companions_all_known(companions);
    p11prov_companions_unref(companions);
    OPENSSL_free(handles);
    return rv;
}

/* One class on one token, with a fresh session if a pooled one turns out
 * to be stale (the module was reset, the token re-inserted). */
static CK_RV collect_with_session(STORE_CTX *store, P11PROV_TOKEN *token,
                                  size_t index, int rank, size_t *found)
{
    CK_SESSION_HANDLE session;
    CK_RV rv = CKR_OK;
    STORE_ITEM *cached;
    size_t before = store->item_count;

    /* The cache knows URIs, not search criteria. */
    bool cacheable = !p11prov_store_search_active(&store->search);
    if (cacheable
        && p11prov_store_cache_get(store->provctx, token, store->uri_text,
                                   rank, index, &cached, found)) {
        size_t i = 0;
        while (i < *found && rv == CKR_OK)
            if (!add_item(store, &cached[i++]))
                rv = CKR_HOST_MEMORY; /* add_item freed it and raised */
        while (i < *found)
            p11prov_store_item_free(&cached[i++]); /* never added */
        OPENSSL_free(cached);
        P11PROV_DEBUG(2, "%zu objects of %s from the cache", *found,
                      store->uri_text);
        return rv;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        unsigned int generation = p11prov_module_generation(token->module);
        before = store->item_count;
        *found = 0;
        store->failed_call = "C_OpenSession";
        rv = p11prov_session_borrow(store->provctx, token, &session);
        if (rv == CKR_OK) {
            rv = collect_class(store, token, session, index, rank, found);
            /* A failed search may leave its operation active. */
            p11prov_session_return(token, session, rv == CKR_OK);
        }
        if (rv == CKR_OK || attempt > 0 || store->raised)
            break;
        /* Once more, as the runner does: the module started again if its
         * device or server went, a fresh session if this one did, and
         * the login again when it may have gone with them (SoftHSM logs
         * out with the last session; private keys are then hidden). */
        bool lost = p11prov_module_lost(token->module, rv);
        if (lost) {
            if (p11prov_module_recover(token->module, generation) != CKR_OK)
                break;
        } else if (!p11prov_session_broken(rv)
                   && rv != CKR_USER_NOT_LOGGED_IN) {
            break;
        }
        while (store->item_count > before)
            p11prov_store_item_free(&store->items[--store->item_count]);
        if ((p11prov_token_flags(token) & CKF_LOGIN_REQUIRED)
            && !p11prov_token_needs_login(token)) {
            p11prov_token_forget_login(token);
            if (!p11prov_token_login(store->provctx, token, NULL)) {
                store->raised = true;
                break;
            }
        }
    }
    if (rv == CKR_OK && cacheable)
        p11prov_store_cache_put(store->provctx, token, store->uri_text, rank,
                                store->items + before,
                                store->item_count - before);
    return rv;
}

/* Private keys. When the token wants a login and a PIN can be had without
 * asking (URI, configuration), it logs in first: private keys are almost
 * always CKA_PRIVATE, and a search before the login would find nothing
 * and cost a whole search (tokens with thousands of objects scan them
 * all). Otherwise they are looked for without a login (a token may show
 * them); if none shows, the application is asked for the PIN and the
 * search is made again. A key found before login, whose PIN can be had
 * later without asking, gets its login when first used. */
static CK_RV collect_private_keys(STORE_CTX *store, P11PROV_TOKEN *token,
                                  size_t index,
                                  const P11PROV_PIN_SOURCES *pins,
                                  bool *login_failed)
{
    size_t found;
    CK_RV rv;

    *login_failed = false;
    if (p11prov_token_needs_login(token)) {
        int ready = p11prov_token_prepare_login(store->provctx, token, pins);
        if (ready < 0
            || (ready > 0
                && !p11prov_token_login(store->provctx, token, pins))) {
            *login_failed = true;
            return CKR_OK;
        }
    }
    rv = collect_with_session(store, token, index, 0, &found);
    if (rv == CKR_OK && found == 0 && p11prov_token_needs_login(token)) {
        if (!p11prov_token_login(store->provctx, token, pins)) {
            *login_failed = true;
            return CKR_OK;
        }
        rv = collect_with_session(store, token, index, 0, &found);
    }
    if (rv == CKR_OK && found > 0 && p11prov_token_needs_login(token)
        && !p11prov_token_login(store->provctx, token, pins))
        *login_failed = true;
    return rv;
}

static int collect_from_token(STORE_CTX *store, P11PROV_TOKEN *token,
                              size_t index, const P11PROV_PIN_SOURCES *pins)
{
    CK_RV rv = CKR_OK;
    size_t found;

    for (int rank = 0; rank < (int)(sizeof(classes) / sizeof(classes[0]));
         rank++) {
        if (!wanted(store, classes[rank].object_class,
                    classes[rank].store_info))
            continue;
        /* Private keys that cannot be returned are worth no login. */
        if (classes[rank].object_class == CKO_PRIVATE_KEY
            && type_contradicting_expect(store) == NULL) {
            bool login_failed;
            rv = collect_private_keys(store, token, index, pins,
                                      &login_failed);
            if (login_failed)
                return 0; /* the error is raised */
        } else {
            rv = collect_with_session(store, token, index, rank, &found);
        }
        if (rv != CKR_OK)
            break;
    }
    if (rv != CKR_OK && store->raised)
        return 0;
    if (rv != CKR_OK) {
        char *token_uri = p11prov_token_uri(token);
        char what[96];
        snprintf(what, sizeof(what), "%s searching objects on token",
                 store->failed_call ? store->failed_call : "Cryptoki");
        P11PROV_RAISE_CKR(store->provctx, rv, what, token_uri);
        OPENSSL_free(token_uri);
        return 0;
    }
    return 1;
}

static int collect(STORE_CTX *store, const P11PROV_PIN_SOURCES *pins)
{
    P11PROV_MODULE *module;
    P11PROV_TOKEN **tokens = NULL;
    size_t token_count = 0;
    int ok = 0;

    module = p11prov_module_for_uri(store->provctx, store->uri);
    if (module == NULL
        || !p11prov_tokens_find(store->provctx, module, store->uri, &tokens,
                                &token_count)) {
        P11PROV_RAISE(store->provctx, P11PROV_R_NO_TOKEN,
                      "cannot look for %s", store->uri_text);
        return 0;
    }
    /* Objects skipped on the way say why; that matters only when nothing
     * is found. */
    ERR_set_mark();
    if (token_count == 0) {
        P11PROV_RAISE(store->provctx, P11PROV_R_NO_TOKEN,
                      "no token matches %s in module %s", store->uri_text,
                      module->path);
        goto done;
    }
    for (size_t i = 0; i < token_count; i++)
        if (!collect_from_token(store, tokens[i], i, pins))
            goto done;
    if (store->item_count > 1)
        qsort(store->items, store->item_count, sizeof(*store->items),
              compare_items);
    ok = 1;
done:
    /* Nothing found, and objects were passed over: their errors are the
     * answer, as a failure. */
    if (ok && store->item_count == 0 && store->skipped > 0)
        ok = 0;
    /* Read and sound, but not what the caller asked for. */
    const char *named = type_contradicting_expect(store);
    if (ok && named != NULL)
        while (store->item_count > 0)
            p11prov_store_item_free(&store->items[--store->item_count]);
    if (ok && store->item_count > 0) {
        ERR_pop_to_mark();
    } else {
        ERR_clear_last_mark();
        /* A search by subject or alias (a certificate lookup while
         * verifying) may find nothing: no error then. */
        if (ok && token_count > 0
            && !p11prov_store_search_active(&store->search)) {
            if (named != NULL)
                P11PROV_RAISE(store->provctx, P11PROV_R_NO_OBJECT,
                              "%s names %s, and %s was asked for",
                              store->uri_text, named,
                              expected_name(store->expect));
            else
                P11PROV_RAISE(store->provctx, P11PROV_R_NO_OBJECT,
                              "no object matches %s", store->uri_text);
        }
    }
    OPENSSL_free(tokens);
    return ok;
}

static int store_load(void *loaderctx, OSSL_CALLBACK *object_cb,
                      void *object_cbarg, OSSL_PASSPHRASE_CALLBACK *pw_cb,
                      void *pw_cbarg)
{
    STORE_CTX *store = loaderctx;

    if (!store->collected) {
        P11PROV_PIN_SOURCES pins = { store->uri, pw_cb, pw_cbarg };
        store->collected = true;
        store->failed = !collect(store, &pins);
        if (store->failed)
            return 0;
    }
    if (store->failed) {
        store->failure_reported = true;
        return 0;
    }
    if (store->next_item >= store->item_count)
        return 0;
    STORE_ITEM *item = &store->items[store->next_item++];
    OSSL_PARAM params[5], *p = params;
    *p++ = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE,
                                    &item->object_type);
    if (item->key != NULL) {
        /* OpenSSL gives the reference back to our keymgmt's load. */
        *p++ = OSSL_PARAM_construct_utf8_string(
            OSSL_OBJECT_PARAM_DATA_TYPE,
            (char *)p11prov_key_kind_name(item->key->kind), 0);
        *p++ = OSSL_PARAM_construct_octet_string(
            OSSL_OBJECT_PARAM_REFERENCE, &item->key, sizeof(item->key));
    } else {
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA,
                                                 item->der, item->der_len);
    }
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DESC, item->uri,
                                            0);
    *p = OSSL_PARAM_construct_end();
    P11PROV_DEBUG(2, "returning %s", item->uri);
    return object_cb(params, object_cbarg);
}

static int store_eof(void *loaderctx)
{
    STORE_CTX *store = loaderctx;
    if (store->failed)
        return store->failure_reported;
    return store->collected && store->next_item >= store->item_count;
}

static int store_close(void *loaderctx)
{
    STORE_CTX *store = loaderctx;

    if (store == NULL)
        return 1;
    for (size_t i = 0; i < store->item_count; i++)
        p11prov_store_item_free(&store->items[i]);
    OPENSSL_free(store->items);
    OPENSSL_free(store->uri_text);
    p11uri_free(store->uri);
    p11prov_store_search_free(&store->search);
    OPENSSL_free(store);
    return 1;
}

P11PROV_KEY *p11prov_load_private_key(P11PROV_CTX *ctx, const char *uri_text,
                                      OSSL_PASSPHRASE_CALLBACK *pw_cb,
                                      void *pw_cbarg)
{
    STORE_CTX *store = store_open(ctx, uri_text);
    P11PROV_KEY *key = NULL;

    if (store == NULL)
        return NULL;
    store->expect = OSSL_STORE_INFO_PKEY;
    P11PROV_PIN_SOURCES pins = { store->uri, pw_cb, pw_cbarg };
    store->collected = true;
    if (collect(store, &pins)) {
        if (store->item_count == 1)
            key = p11prov_key_ref(store->items[0].key);
        else
            P11PROV_RAISE(ctx, P11PROV_R_NO_OBJECT,
                          "%s matches %zu private keys, not exactly one",
                          store->uri_text, store->item_count);
    }
    store_close(store);
    return key;
}

const OSSL_DISPATCH p11prov_store_functions[] = {
    { OSSL_FUNC_STORE_OPEN, (void (*)(void))store_open },
    { OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS,
      (void (*)(void))store_settable_ctx_params },
    { OSSL_FUNC_STORE_SET_CTX_PARAMS, (void (*)(void))store_set_ctx_params },
    { OSSL_FUNC_STORE_LOAD, (void (*)(void))store_load },
    { OSSL_FUNC_STORE_EOF, (void (*)(void))store_eof },
    { OSSL_FUNC_STORE_CLOSE, (void (*)(void))store_close },
    { 0, NULL },
};
