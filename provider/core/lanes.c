/* Lanes (lanes.h): a claim per lane, and on first use of a lane the
 * module's other instance, the token there, its login and the object's
 * twin. Only the operation holding a lane's claim touches what belongs
 * to that lane, so making them needs no lock of its own. */
#include "core/lanes.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "core/context.h"
#include "core/login.h"
#include "core/module.h"
#include "core/token_lookup.h"

/* A lane that could not be had is tried again after this long. */
#define LANE_RETRY_NS 1000000000LL

/* The token on the lane's instance: the one with the same label,
 * manufacturer, model and serial. */
static P11PROV_TOKEN *lane_token(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                                 int lane)
{
    P11PROV_MODULE *m = token->module;
    P11PROV_TOKEN **found = NULL;
    size_t count = 0;
    p11uri *uri = NULL;
    p11uri_error error;

    if (token->lanes[lane] != NULL)
        return token->lanes[lane];
    if (m->lanes[lane] == NULL
        && (m->lanes[lane] = p11prov_module_instance(ctx, m)) == NULL)
        return NULL;
    /* An instance made before a fork, or whose server went, is started
     * again before it is asked for its tokens. */
    if (p11prov_module_check_fork(NULL, m->lanes[lane]) != CKR_OK
        || !p11prov_module_ready(m->lanes[lane]))
        return NULL;
    char *uri_text = p11prov_token_uri(token);
    if (uri_text != NULL && p11uri_parse(uri_text, &uri, &error) == P11URI_OK
        && p11prov_tokens_find(ctx, m->lanes[lane], uri, &found, &count)
        && count == 1)
        token->lanes[lane] = found[0];
    OPENSSL_free(found);
    p11uri_free(uri);
    OPENSSL_free(uri_text);
    return token->lanes[lane];
}

/* The lane's token logged in as the object's is, with its PIN; it keeps
 * the PIN for the runner's re-logins. A token logged in with none (a PIN
 * pad) is not asked again: no lane. */
static bool lane_logged_in(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                           P11PROV_TOKEN *twin)
{
    return !p11prov_token_needs_login(twin)
           || (p11prov_token_share_pin(token, twin)
               && p11prov_token_login(ctx, twin, NULL));
}

/* The object's twin on the lane. Once made, the runner keeps it going as
 * it does the object itself (a session borrow checks for fork and a lost
 * server; a lost login is had again with the PIN the lane's token
 * keeps): nothing more to check on the signing path. */
static P11PROV_OBJECT *lane_object(P11PROV_CTX *ctx, P11PROV_OBJECT *object,
                                   int lane)
{
    P11PROV_OBJECT *twin = object->lanes[lane];
    if (twin != NULL)
        return twin;
    P11PROV_TOKEN *twin_token = lane_token(ctx, object->token, lane);
    if (twin_token == NULL || !lane_logged_in(ctx, object->token, twin_token))
        return NULL;
    twin = OPENSSL_zalloc(sizeof(*twin));
    if (twin == NULL)
        return NULL;
    twin->token = twin_token;
    twin->object_class = object->object_class;
    twin->always_authenticate = object->always_authenticate;
    twin->id_len = object->id_len;
    twin->label_len = object->label_len;
    if ((object->id != NULL
         && (twin->id = OPENSSL_memdup(object->id, object->id_len)) == NULL)
        || (object->label != NULL
            && (twin->label = OPENSSL_memdup(object->label,
                                             object->label_len))
                   == NULL)
        || (twin->uri = OPENSSL_strdup(object->uri)) == NULL) {
        p11prov_object_clear(twin);
        OPENSSL_free(twin);
        return NULL;
    }
    /* handle_generation 0: found on the lane's token at first use. */
    object->lanes[lane] = twin;
    return twin;
}

P11PROV_OBJECT *p11prov_lane_take(P11PROV_CTX *ctx, P11PROV_OBJECT *object,
                                  int *lane)
{
    P11PROV_MODULE *m = object->token->module;
    unsigned int lanes = ctx->config.connections;

    *lane = -1;
    /* Only a client of a server has a reason, and maybe the means. */
    if (lanes <= 1 || !m->guard_sigpipe || m->fork_unsafe
        || m->instance_of != NULL
        || __atomic_load_n(&m->single_instance, __ATOMIC_ACQUIRE))
        return object;
    for (unsigned int k = 0; k < lanes; k++) {
        unsigned int idle = 0;
        if (!__atomic_compare_exchange_n(&m->lane_busy[k], &idle, 1, false,
                                         __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            continue;
        if (k == 0) {
            *lane = 0;
            return object;
        }
        long long now = p11prov_monotonic_ns();
        if (m->lane_failed_at[k] != 0
            && now - m->lane_failed_at[k] < LANE_RETRY_NS) {
            __atomic_store_n(&m->lane_busy[k], 0, __ATOMIC_RELEASE);
            break;
        }
        /* Whatever a lane's making raised is not the operation's. */
        ERR_set_mark();
        P11PROV_OBJECT *twin = lane_object(ctx, object, (int)k);
        ERR_pop_to_mark();
        if (twin != NULL) {
            m->lane_failed_at[k] = 0;
            *lane = (int)k;
            return twin;
        }
        m->lane_failed_at[k] = now;
        P11PROV_DEBUG(1, "lane %u of %s not available; queued on the first",
                      k, object->uri);
        __atomic_store_n(&m->lane_busy[k], 0, __ATOMIC_RELEASE);
        break;
    }
    return object; /* every lane busy: queued on the module's own */
}

void p11prov_lane_give_back(P11PROV_OBJECT *object, int lane)
{
    if (lane >= 0)
        __atomic_store_n(&object->token->module->lane_busy[lane], 0,
                         __ATOMIC_RELEASE);
}
