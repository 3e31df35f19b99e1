/* A module's token records: enumeration with URI matching, and the
 * record's state (the session pool's slots, login, mechanisms) that
 * sessions.c, login.c and mechanisms.c work on. A record lives as long as
 * the process (keys point at it); its sessions are dropped when the
 * module is finalised or the process forks. */
#ifndef PKCS11PROV_TOKEN_H
#define PKCS11PROV_TOKEN_H

#include "core/context.h"
#include "core/cryptoki.h"
#include "pkcs11_uri.h"

/* Sessions a token keeps open while idle: the reserve above the threads
 * using it at the moment. */
#define P11PROV_IDLE_SESSIONS 8
/* How long a borrower waits for one of our sessions to come back when the
 * token has no more to give (CKR_SESSION_COUNT). */
#define P11PROV_SESSION_WAIT_SECONDS 30

struct p11prov_token {
    P11PROV_MODULE *module;
    CK_SLOT_ID slot_id;
    CK_SLOT_INFO slot_info;
    CK_TOKEN_INFO token_info; /* as first read; flags kept current */
    bool info_read;
    unsigned int epoch;   /* bumped when another token appears */
    pthread_mutex_t lock; /* guards the record */
    /* The session pool (sessions.c). Idle sessions sit in slots that
     * borrowers and returners swap atomically, so signing threads never
     * queue on a lock; CK_INVALID_HANDLE marks an empty slot. Slots are
     * a cache line apart, so threads on different slots rarely touch the
     * same line (the record comes from malloc: no stricter alignment). */
    struct {
        CK_SESSION_HANDLE handle;
        char pad[64 - sizeof(CK_SESSION_HANDLE)];
    } idle[P11PROV_IDLE_SESSIONS];
    unsigned int sessions_open;     /* ours, busy or idle (atomic) */
    unsigned int sessions_released; /* bumped by every return (atomic) */
    unsigned int session_waiters;   /* borrowers waiting (atomic) */
    pthread_mutex_t wait_lock;      /* for session_freed only */
    pthread_cond_t session_freed;
    /* Holds the session-object copies of keys (object_copy.c); token->lock.
     * Valid for the module initialisation and epoch it was opened in. */
    CK_SESSION_HANDLE keeper;
    unsigned int keeper_generation, keeper_epoch;
    /* Login state (login.c), shared by every key and session of the
     * token. logged_in_at is the module's init_count at login, so a
     * re-initialised module counts as logged out; 0: never. */
    pthread_mutex_t login_lock;
    unsigned int logged_in_at;
    bool pin_refused; /* a wrong PIN: never try again */
    char *pin;        /* for re-login; wiped on free */
    size_t pin_len;
    /* C_GetMechanismList, read once per token in the slot: published
     * whole (atomic pointer, NULL until read) and read without a lock. A
     * list replaced by another token's stays until the record is freed,
     * as signing threads may still be reading it. */
    struct p11prov_mechanisms *mechanisms;
    struct p11prov_mechanisms *retired_mechanisms; /* token->lock */
    /* C_DeriveKey answered CKR_SESSION_READ_ONLY in a read-only session:
     * derive in read-write ones from then on (atomic). */
    bool derive_needs_rw;
    /* The same token on the module's other instances (lanes.c). */
    struct p11prov_token *lanes[P11PROV_MAX_LANES];
    struct p11prov_token *next;
};

/* A slot that could not be read while listing: the first one. */
typedef struct p11prov_unread_slot {
    CK_RV rv; /* CKR_OK: none */
    CK_SLOT_ID slot;
    const char *call;
} P11PROV_UNREAD_SLOT;

/* One listing of the tokens of module m the URI matches (module, slot and
 * token attributes), in slot order, noting in *unread the first slot that
 * could not be read. *tokens is an OPENSSL_malloc()ed array the caller
 * frees; the records stay owned by the module. Raises an error and returns
 * 0 when the module cannot be asked. Callers use p11prov_tokens_find
 * (token_lookup.h). */
int p11prov_tokens_list(P11PROV_CTX *ctx, P11PROV_MODULE *m,
                        const p11uri *uri, P11PROV_TOKEN ***tokens,
                        size_t *count, P11PROV_UNREAD_SLOT *unread);

/* CK_TOKEN_INFO.flags as last read (login state, PIN counters), read and
 * refreshed without a lock. */
static inline CK_FLAGS p11prov_token_flags(const P11PROV_TOKEN *token)
{
    return __atomic_load_n(&token->token_info.flags, __ATOMIC_ACQUIRE);
}

static inline void p11prov_token_set_flags(P11PROV_TOKEN *token,
                                           CK_FLAGS flags)
{
    __atomic_store_n(&token->token_info.flags, flags, __ATOMIC_RELEASE);
}

/* Counts a session of ours closed, never below zero: sessions dropped by
 * p11prov_tokens_forget may still come back from their borrowers. */
static inline void p11prov_session_unreserve(P11PROV_TOKEN *token)
{
    unsigned int open = __atomic_load_n(&token->sessions_open,
                                        __ATOMIC_RELAXED);
    while (open > 0
           && !__atomic_compare_exchange_n(&token->sessions_open, &open,
                                           open - 1, true, __ATOMIC_ACQ_REL,
                                           __ATOMIC_RELAXED))
        ;
}

/* The token's label without its space padding, as a C string. */
const char *p11prov_token_label(const P11PROV_TOKEN *token, char buf[33]);

/* The token as a URI ("pkcs11:token=...;manufacturer=...;serial=...;
 * model=..."), malloc()ed, for messages. */
char *p11prov_token_uri(const P11PROV_TOKEN *token);

/* The URI of an object on the token (token, label, id, type), no PIN;
 * label and id may be NULL. malloc()ed, NULL when out of memory. */
char *p11prov_object_uri(const P11PROV_TOKEN *token,
                         const unsigned char *label, CK_ULONG label_len,
                         const unsigned char *id, CK_ULONG id_len,
                         const char *type);

/* Drops the pooled sessions without closing them: before C_Finalize (which
 * closes them all) and in a forked child (the parent's sessions must not
 * be used or closed there). */
void p11prov_tokens_forget(P11PROV_MODULE *m);

/* After the module was initialised again (a p11-kit server that restarted
 * numbers its slots anew): each token record takes the slot where the
 * same token (label, manufacturer, model, serial) now is. A record whose
 * token is not there keeps its old slot id, which the module answers with
 * CKR_SLOT_ID_INVALID until the token is back. */
void p11prov_tokens_relocate(P11PROV_MODULE *m);

/* Frees the module's token records (only when pkcs11prov.so is unloaded). */
void p11prov_tokens_free(P11PROV_MODULE *m);

/* In a forked child: the login locks, possibly held by a thread of the
 * parent, are made anew. */
void p11prov_tokens_reset_login_locks(P11PROV_MODULE *m);

/* fork() handlers: no token lock may be held by a vanished thread. */
void p11prov_tokens_lock_all(P11PROV_MODULE *m);
void p11prov_tokens_unlock_all(P11PROV_MODULE *m);

#endif
