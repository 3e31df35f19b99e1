/* Digests fetched once per provider context. Every token signature hashes
 * in software first, and EVP_MD_fetch takes the method store's lock on
 * each call: with several threads signing, that lock was the hottest spot
 * of the provider. */
#include "core/fetch_cache.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/context.h"

EVP_MD *p11prov_digest_fetch(P11PROV_CTX *ctx, const char *name,
                             const char *props)
{
    P11PROV_FETCH_CACHE *cache = &ctx->digests;
    size_t count;
    size_t name_len = strlen(name);
    EVP_MD *md;

    /* Explicit properties are the caller's wish for this call only. */
    if (props != NULL || name_len >= sizeof(cache->entries[0].name))
        return EVP_MD_fetch(ctx->libctx, name, props);
    /* Entries are written before count is published, never changed
     * after: readers need no lock. */
    count = __atomic_load_n(&cache->count, __ATOMIC_ACQUIRE);
    for (size_t i = 0; i < count; i++)
        if (OPENSSL_strcasecmp(cache->entries[i].name, name) == 0)
            return EVP_MD_up_ref(cache->entries[i].md) ? cache->entries[i].md
                                                       : NULL;
    md = EVP_MD_fetch(ctx->libctx, name, NULL);
    if (md == NULL)
        return NULL;
    pthread_mutex_lock(&cache->lock);
    count = cache->count;
    if (count < P11PROV_FETCH_CACHE_SIZE && EVP_MD_up_ref(md)) {
        /* name_len + 1 fits: checked above, and a length the compiler
         * can see (strcpy here tripped GCC 14's -Warray-bounds). */
        memcpy(cache->entries[count].name, name, name_len + 1);
        cache->entries[count].md = md;
        __atomic_store_n(&cache->count, count + 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&cache->lock);
    return md;
}

int p11prov_digest_set(P11PROV_CTX *ctx, EVP_MD **slot, const char *name,
                       const char *props)
{
    if (*slot != NULL && props == NULL && EVP_MD_is_a(*slot, name))
        return 1;
    EVP_MD *md = p11prov_digest_fetch(ctx, name, props);
    if (md == NULL) {
        P11PROV_RAISE(ctx, P11PROV_R_BAD_ARGUMENT, "unknown digest \"%s\"",
                      name);
        return 0;
    }
    EVP_MD_free(*slot);
    *slot = md;
    return 1;
}

void p11prov_fetch_cache_free(P11PROV_FETCH_CACHE *cache)
{
    for (size_t i = 0; i < cache->count; i++)
        EVP_MD_free(cache->entries[i].md);
    cache->count = 0;
}
