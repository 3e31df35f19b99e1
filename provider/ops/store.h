/* The pkcs11 store's search results, and the per-provider cache that
 * answers a URI searched again without asking the token (store_cache.c). */
#ifndef PKCS11PROV_STORE_H
#define PKCS11PROV_STORE_H

#include "keys/key.h"

typedef struct store_item {
    int object_type;    /* OSSL_OBJECT_CERT or OSSL_OBJECT_PKEY */
    int class_rank;     /* private, public, certificate */
    P11PROV_KEY *key;   /* keys: handed out by reference */
    unsigned char *der; /* certificates: DER */
    CK_ULONG der_len;
    unsigned char *id, *label;
    CK_ULONG id_len, label_len;
    size_t token_index;
    char *uri; /* the object's own URI, no PIN */
} STORE_ITEM;

/* The one private key a URI names (the application's passphrase callback
 * may be asked for the PIN), for URI key files (decoder.c). Raises an
 * error unless exactly one private key matches. */
P11PROV_KEY *p11prov_load_private_key(P11PROV_CTX *ctx, const char *uri,
                                      OSSL_PASSPHRASE_CALLBACK *pw_cb,
                                      void *pw_cbarg);

/* Frees what the item holds (not the item). */
void p11prov_store_item_free(STORE_ITEM *item);

/* The items cached for (token, query, class rank), copied into a fresh
 * array (*items, *count; keys by reference) with token_index set. false
 * when nothing valid is cached: never stored, expired, the module
 * re-initialised or another token in the slot since. */
bool p11prov_store_cache_get(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                             const char *query, int rank, size_t token_index,
                             STORE_ITEM **items, size_t *count);

/* Remembers count > 0 items found for (token, query, class rank). */
void p11prov_store_cache_put(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                             const char *query, int rank,
                             const STORE_ITEM *items, size_t count);

/* Drops every entry (provider teardown). */
void p11prov_store_cache_free(P11PROV_CTX *ctx);

#endif
