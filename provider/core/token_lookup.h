/* Finding the tokens a URI names in a module: a listing, and when it
 * found nothing because a slot could not be read, the module started again
 * (its device or server gone) or the reason raised. Above tokens.c and
 * module.c, which do not depend on it. */
#ifndef PKCS11PROV_TOKEN_LOOKUP_H
#define PKCS11PROV_TOKEN_LOOKUP_H

#include "core/tokens.h"

/* The tokens of module m the URI matches, in slot order. *tokens is an
 * OPENSSL_malloc()ed array the caller frees; the records stay owned by the
 * module. Raises an error and returns 0 when the module cannot be asked;
 * finding none is not an error here (count 0), though why is raised when
 * a slot could not be read. */
int p11prov_tokens_find(P11PROV_CTX *ctx, P11PROV_MODULE *m,
                        const p11uri *uri, P11PROV_TOKEN ***tokens,
                        size_t *count);

#endif
