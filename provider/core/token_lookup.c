/* Finding the tokens a URI names (token_lookup.h). */
#include "core/token_lookup.h"

#include <openssl/crypto.h>

#include "core/errors.h"
#include "core/module.h"

int p11prov_tokens_find(P11PROV_CTX *ctx, P11PROV_MODULE *m,
                        const p11uri *uri, P11PROV_TOKEN ***tokens,
                        size_t *count)
{
    for (int attempt = 0;; attempt++) {
        unsigned int generation = p11prov_module_generation(m);
        P11PROV_UNREAD_SLOT unread = { CKR_OK, 0, NULL };
        if (!p11prov_tokens_list(ctx, m, uri, tokens, count, &unread))
            return 0;
        if (*count > 0 || unread.rv == CKR_OK)
            return 1;
        /* Nothing matched, and a slot could not be read: the device or
         * server may have gone (the module is started again, once), or
         * that slot held the token; the caller's "no token" gets why. */
        if (attempt == 0 && p11prov_module_lost(m, unread.rv)
            && p11prov_module_recover(m, generation) == CKR_OK) {
            OPENSSL_free(*tokens);
            *tokens = NULL;
            continue;
        }
        char *uri_text = p11uri_format(uri, P11URI_FORMAT_OMIT_PIN);
        char ckr[P11PROV_CKR_NAME_MAX];
        P11PROV_RAISE(ctx, P11PROV_R_MODULE_CALL,
                      "%s of slot %lu of module %s, looking for %s: %s",
                      unread.call, unread.slot, m->path,
                      uri_text ? uri_text : "",
                      p11prov_ckr_name(unread.rv, ckr));
        OPENSSL_free(uri_text);
        return 1;
    }
}
