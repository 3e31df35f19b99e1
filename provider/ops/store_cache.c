/* URI -> objects cache of the pkcs11 store. Loading the same URI again in
 * a process (curl loads its key for every transfer) is answered from here:
 * no C_FindObjects, no attribute reads, and the same key object, so its
 * session copy and handle are reused. An entry is valid while the module
 * keeps its initialisation, the slot keeps the same token, and for
 * cache_seconds: objects created elsewhere show up after that at most. */
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "ops/store.h"

/* Bounded: a process going through many URIs keeps the latest ones. */
#define MAX_ENTRIES 64

typedef struct cache_entry {
    P11PROV_TOKEN *token;
    unsigned int generation; /* module init count */
    unsigned int epoch;      /* token record epoch */
    double expires;          /* CLOCK_MONOTONIC seconds */
    char *query;
    int rank;
    STORE_ITEM *items;
    size_t count;
    struct cache_entry *next; /* newest first */
} CACHE_ENTRY;

struct p11prov_store_cache {
    pthread_mutex_t lock;
    CACHE_ENTRY *entries;
    size_t count;
};

static double monotonic_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void p11prov_store_item_free(STORE_ITEM *item)
{
    p11prov_key_unref(item->key);
    OPENSSL_free(item->der);
    OPENSSL_free(item->id);
    OPENSSL_free(item->label);
    OPENSSL_free(item->uri);
    memset(item, 0, sizeof(*item));
}

static bool dup_bytes(unsigned char **dest, const unsigned char *src,
                      CK_ULONG len)
{
    if (src == NULL)
        return true;
    *dest = OPENSSL_malloc(len > 0 ? len : 1);
    if (*dest == NULL)
        return false;
    memcpy(*dest, src, len);
    return true;
}

static bool copy_item(STORE_ITEM *dest, const STORE_ITEM *src)
{
    *dest = *src;
    dest->der = dest->id = dest->label = NULL;
    dest->uri = NULL;
    dest->key = src->key != NULL ? p11prov_key_ref(src->key) : NULL;
    if (!dup_bytes(&dest->der, src->der, src->der_len)
        || !dup_bytes(&dest->id, src->id, src->id_len)
        || !dup_bytes(&dest->label, src->label, src->label_len)
        || (dest->uri = OPENSSL_strdup(src->uri)) == NULL) {
        p11prov_store_item_free(dest);
        return false;
    }
    return true;
}

static STORE_ITEM *copy_items(const STORE_ITEM *items, size_t count)
{
    STORE_ITEM *copies = OPENSSL_zalloc(count * sizeof(*copies));

    for (size_t i = 0; copies != NULL && i < count; i++)
        if (!copy_item(&copies[i], &items[i])) {
            while (i > 0)
                p11prov_store_item_free(&copies[--i]);
            OPENSSL_free(copies);
            copies = NULL;
        }
    return copies;
}

static void free_entry(CACHE_ENTRY *e)
{
    for (size_t i = 0; i < e->count; i++)
        p11prov_store_item_free(&e->items[i]);
    OPENSSL_free(e->items);
    OPENSSL_free(e->query);
    OPENSSL_free(e);
}

static struct p11prov_store_cache *cache_of(P11PROV_CTX *ctx)
{
    return __atomic_load_n(&ctx->store_cache, __ATOMIC_ACQUIRE);
}

/* Created on first use, once, without a lock on the read side. */
static struct p11prov_store_cache *cache_create(P11PROV_CTX *ctx)
{
    struct p11prov_store_cache *cache = cache_of(ctx), *expected = NULL;

    if (cache != NULL)
        return cache;
    cache = OPENSSL_zalloc(sizeof(*cache));
    if (cache == NULL)
        return NULL;
    pthread_mutex_init(&cache->lock, NULL);
    if (!__atomic_compare_exchange_n(&ctx->store_cache, &expected, cache,
                                     false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        pthread_mutex_destroy(&cache->lock);
        OPENSSL_free(cache);
        cache = expected;
    }
    return cache;
}

static bool entry_valid(const CACHE_ENTRY *e, double now)
{
    return e->generation == p11prov_module_generation(e->token->module)
           && e->epoch == __atomic_load_n(&e->token->epoch, __ATOMIC_ACQUIRE)
           && now < e->expires;
}

bool p11prov_store_cache_get(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                             const char *query, int rank, size_t token_index,
                             STORE_ITEM **items, size_t *count)
{
    struct p11prov_store_cache *cache = cache_of(ctx);
    double now;
    bool hit = false;

    if (cache == NULL || ctx->config.cache_seconds == 0)
        return false;
    now = monotonic_seconds();
    pthread_mutex_lock(&cache->lock);
    for (CACHE_ENTRY *e = cache->entries; e != NULL; e = e->next) {
        if (e->token != token || e->rank != rank
            || strcmp(e->query, query) != 0)
            continue;
        if (entry_valid(e, now)
            && (*items = copy_items(e->items, e->count)) != NULL) {
            *count = e->count;
            for (size_t i = 0; i < *count; i++)
                (*items)[i].token_index = token_index;
            hit = true;
        }
        break;
    }
    pthread_mutex_unlock(&cache->lock);
    return hit;
}

void p11prov_store_cache_put(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                             const char *query, int rank,
                             const STORE_ITEM *items, size_t count)
{
    struct p11prov_store_cache *cache;
    CACHE_ENTRY *e, **link;

    if (count == 0 || ctx->config.cache_seconds == 0
        || (cache = cache_create(ctx)) == NULL
        || (e = OPENSSL_zalloc(sizeof(*e))) == NULL)
        return;
    e->token = token;
    e->generation = p11prov_module_generation(token->module);
    e->epoch = __atomic_load_n(&token->epoch, __ATOMIC_ACQUIRE);
    e->expires = monotonic_seconds() + ctx->config.cache_seconds;
    e->rank = rank;
    e->count = count;
    if ((e->query = OPENSSL_strdup(query)) == NULL
        || (e->items = copy_items(items, count)) == NULL) {
        e->count = 0;
        free_entry(e);
        return; /* a cache that cannot grow is only slower */
    }
    pthread_mutex_lock(&cache->lock);
    /* Replace an entry for the same search; drop the oldest beyond the
     * bound. */
    for (link = &cache->entries; *link != NULL;) {
        CACHE_ENTRY *old = *link;
        if (old->token == token && old->rank == rank
            && strcmp(old->query, query) == 0) {
            *link = old->next;
            free_entry(old);
            cache->count--;
        } else {
            link = &old->next;
        }
    }
    e->next = cache->entries;
    cache->entries = e;
    if (++cache->count > MAX_ENTRIES) {
        for (link = &cache->entries; (*link)->next != NULL;
             link = &(*link)->next)
            ;
        free_entry(*link);
        *link = NULL;
        cache->count--;
    }
    pthread_mutex_unlock(&cache->lock);
}

void p11prov_store_cache_free(P11PROV_CTX *ctx)
{
    struct p11prov_store_cache *cache = cache_of(ctx);

    if (cache == NULL)
        return;
    while (cache->entries != NULL) {
        CACHE_ENTRY *e = cache->entries;
        cache->entries = e->next;
        free_entry(e);
    }
    pthread_mutex_destroy(&cache->lock);
    OPENSSL_free(cache);
    ctx->store_cache = NULL;
}
