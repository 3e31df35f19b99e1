/* Digests fetched once per provider context, by the name asked: EVP_MD_fetch
 * takes locks and searches the method store, too slow for every signature. */
#ifndef PKCS11PROV_FETCH_CACHE_H
#define PKCS11PROV_FETCH_CACHE_H

#include <pthread.h>
#include <stddef.h>

#include <openssl/evp.h>

typedef struct p11prov_ctx P11PROV_CTX;

#define P11PROV_FETCH_CACHE_SIZE 16
typedef struct p11prov_fetch_cache {
    pthread_mutex_t lock; /* serialises writers only */
    size_t count;         /* published entries, read atomically */
    struct {
        char name[32];
        EVP_MD *md;
    } entries[P11PROV_FETCH_CACHE_SIZE];
} P11PROV_FETCH_CACHE;

/* EVP_MD_fetch in the provider's library context, from the cache when
 * props is NULL. The caller frees the result (EVP_MD_free). */
EVP_MD *p11prov_digest_fetch(P11PROV_CTX *ctx, const char *name,
                             const char *props);
/* Sets *slot to the digest name (with props), keeping the one there when
 * it is the same (no fetch). Raises an error naming the digest and
 * returns 0 when there is none. */
int p11prov_digest_set(P11PROV_CTX *ctx, EVP_MD **slot, const char *name,
                       const char *props);

void p11prov_fetch_cache_free(P11PROV_FETCH_CACHE *cache);

#endif
