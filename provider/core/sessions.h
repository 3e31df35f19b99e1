/* The per-token session pool (sessions.c). */
#ifndef PKCS11PROV_SESSIONS_H
#define PKCS11PROV_SESSIONS_H

#include "core/tokens.h"

/* Borrows a read-only session of the token: an idle one, else a new one.
 * When the token has no more sessions to give (CKR_SESSION_COUNT, or we
 * hold as many as its ulMaxSessionCount) and some of ours are busy, waits
 * until one is returned, for at most P11PROV_SESSION_WAIT_SECONDS. After
 * fork() the module is initialised again first. Give it back with
 * p11prov_session_return. */
CK_RV p11prov_session_borrow(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                             CK_SESSION_HANDLE *session);

/* Opens a new read-write session, counted and waited for as the pool's
 * are: for key generation, and for modules whose operations create
 * objects (tpm2-pkcs11's C_DeriveKey answers CKR_SESSION_READ_ONLY in a
 * read-only session). Give it back with p11prov_session_return(..,
 * false): it is closed, never pooled. */
CK_RV p11prov_session_borrow_rw(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                                CK_SESSION_HANDLE *session);

/* Counts a session of ours about to be opened outside the pool; false
 * when we already hold as many as the token has (ulMaxSessionCount).
 * p11prov_session_unreserve (tokens.h) counts one closed. */
bool p11prov_session_reserve(P11PROV_TOKEN *token);

/* Returns a borrowed session; a session that failed with
 * CKR_SESSION_HANDLE_INVALID or similar is passed with reusable false and
 * is closed instead of pooled. */
void p11prov_session_return(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                            bool reusable);

/* Whether rv means the session itself is gone and must not be reused. */
bool p11prov_session_broken(CK_RV rv);

#endif
