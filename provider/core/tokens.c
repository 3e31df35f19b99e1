/* A module's token records: slot and token enumeration with URI
 * matching, and what happens to the records when the module is
 * finalised, the process forks, or pkcs11prov.so is unloaded. */
#include "core/tokens.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "core/debug.h"
#include "core/mechanisms.h"

/* No real module has more; a larger count is a bad answer, not a reason
 * to allocate without bound. */
#define MAX_SLOTS 1024

static CK_RV list_slots(P11PROV_MODULE *m, CK_SLOT_ID **slots,
                        CK_ULONG *count)
{
    CK_RV rv;

    *slots = NULL;
    for (int attempt = 0; attempt < 4; attempt++) {
        CK_ULONG n = 0;
        P11PROV_CALL(rv, m, C_GetSlotList, CK_TRUE, NULL, &n);
        if (rv != CKR_OK)
            return rv;
        if (n > MAX_SLOTS)
            return P11PROV_CKR_BAD_ANSWER;
        if (n == 0) {
            /* No second call: p11-kit's RPC takes a buffer of zero
             * elements for a size query and answers BUFFER_TOO_SMALL. */
            *count = 0;
            return CKR_OK;
        }
        OPENSSL_free(*slots);
        *slots = OPENSSL_malloc(sizeof(CK_SLOT_ID) * n);
        if (*slots == NULL)
            return CKR_HOST_MEMORY;
        CK_ULONG room = n;
        P11PROV_CALL(rv, m, C_GetSlotList, CK_TRUE, *slots, &n);
        if (rv == CKR_OK && n <= room) {
            *count = n;
            return CKR_OK;
        }
        if (rv != CKR_BUFFER_TOO_SMALL)
            break;
        /* Slots appeared between the calls (a p11-kit server's clients
         * come and go): ask again. */
    }
    OPENSSL_free(*slots);
    *slots = NULL;
    return rv == CKR_OK ? P11PROV_CKR_BAD_ANSWER : rv;
}

/* Length of a space-padded Cryptoki text field without its padding. */
static int padded_length(const unsigned char *field, size_t size)
{
    while (size > 0 && (field[size - 1] == ' ' || field[size - 1] == '\0'))
        size--;
    return (int)size;
}

/* Empties the idle slots without closing the sessions (their module state
 * is gone or not ours). */
static void drop_idle_sessions(P11PROV_TOKEN *t)
{
    for (unsigned int i = 0; i < P11PROV_IDLE_SESSIONS; i++)
        if (__atomic_exchange_n(&t->idle[i].handle, CK_INVALID_HANDLE,
                                __ATOMIC_ACQ_REL)
            != CK_INVALID_HANDLE)
            p11prov_session_unreserve(t);
}

/* The module's record for the token in slot_id, created or refreshed. */
static P11PROV_TOKEN *token_record(P11PROV_MODULE *m, CK_SLOT_ID slot_id,
                                   const CK_SLOT_INFO *slot_info,
                                   const CK_TOKEN_INFO *token_info)
{
    P11PROV_TOKEN *t;

    pthread_mutex_lock(&m->tokens_lock);
    for (t = m->tokens; t != NULL; t = t->next)
        if (t->slot_id == slot_id)
            break;
    if (t == NULL && (t = OPENSSL_zalloc(sizeof(*t))) != NULL) {
        t->module = m;
        t->slot_id = slot_id;
        pthread_condattr_t attr;
        pthread_mutex_init(&t->lock, NULL);
        pthread_mutex_init(&t->login_lock, NULL);
        pthread_mutex_init(&t->wait_lock, NULL);
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&t->session_freed, &attr);
        pthread_condattr_destroy(&attr);
        t->next = m->tokens;
        m->tokens = t;
    }
    if (t != NULL) {
        pthread_mutex_lock(&t->lock);
        /* New, or another token in the slot: the old one's sessions,
         * login and mechanisms are gone. Otherwise only the flags are
         * refreshed: other threads read the record without a lock. */
        if (!t->info_read
            || memcmp(t->token_info.serialNumber, token_info->serialNumber,
                      sizeof(token_info->serialNumber))
                   != 0
            || memcmp(t->token_info.label, token_info->label,
                      sizeof(token_info->label))
                   != 0) {
            drop_idle_sessions(t);
            __atomic_store_n(&t->logged_in_at, 0, __ATOMIC_RELEASE);
            p11prov_mechanisms_retire(t);
            t->slot_info = *slot_info;
            t->token_info = *token_info;
            t->info_read = true;
            __atomic_add_fetch(&t->epoch, 1, __ATOMIC_RELEASE);
        } else {
            p11prov_token_set_flags(t, token_info->flags);
        }
        pthread_mutex_unlock(&t->lock);
    }
    pthread_mutex_unlock(&m->tokens_lock);
    return t;
}

int p11prov_tokens_list(P11PROV_CTX *ctx, P11PROV_MODULE *m,
                        const p11uri *uri, P11PROV_TOKEN ***tokens,
                        size_t *count, P11PROV_UNREAD_SLOT *unread)
{
    CK_SLOT_ID *slots = NULL;
    CK_ULONG slot_count = 0;
    CK_RV rv;

    *tokens = NULL;
    *count = 0;
    if (!p11uri_match_module_info(uri, &m->info)) {
        P11PROV_DEBUG(2, "module %s does not match the URI", m->path);
        return 1;
    }
    rv = list_slots(m, &slots, &slot_count);
    if (rv != CKR_OK) {
        p11prov_module_note(m, rv);
        P11PROV_RAISE_CKR(ctx, rv, "C_GetSlotList of module", m->path);
        return 0;
    }
    *tokens = OPENSSL_zalloc(sizeof(**tokens)
                             * (slot_count ? slot_count : 1));
    if (*tokens == NULL) {
        OPENSSL_free(slots);
        P11PROV_RAISE(ctx, P11PROV_R_MEMORY, "listing tokens");
        return 0;
    }
    for (CK_ULONG i = 0; i < slot_count; i++) {
        CK_SLOT_INFO slot_info;
        CK_TOKEN_INFO token_info;

        const char *call = "C_GetSlotInfo";
        P11PROV_CALL(rv, m, C_GetSlotInfo, slots[i], &slot_info);
        if (rv == CKR_OK) {
            call = "C_GetTokenInfo";
            P11PROV_CALL(rv, m, C_GetTokenInfo, slots[i], &token_info);
        }
        if (rv != CKR_OK) {
            /* A token removed while we enumerate is not an error, unless
             * nothing else matches (token_lookup.c). */
            P11PROV_DEBUG(2, "slot %lu skipped: 0x%lx", slots[i], rv);
            if (unread->rv == CKR_OK)
                *unread = (P11PROV_UNREAD_SLOT){ rv, slots[i], call };
            continue;
        }
        /* An uninitialised token (SoftHSM always offers one) holds
         * nothing and refuses sessions. */
        if (!(token_info.flags & CKF_TOKEN_INITIALIZED)) {
            P11PROV_DEBUG(2, "slot %lu skipped: token not initialized",
                          slots[i]);
            continue;
        }
        if (!p11uri_match_slot_info(uri, slots[i], &slot_info)
            || !p11uri_match_token_info(uri, &token_info))
            continue;
        P11PROV_TOKEN *t = token_record(m, slots[i], &slot_info, &token_info);
        if (t == NULL) {
            OPENSSL_free(slots);
            OPENSSL_free(*tokens);
            *tokens = NULL;
            P11PROV_RAISE(ctx, P11PROV_R_MEMORY, "recording a token");
            return 0;
        }
        (*tokens)[(*count)++] = t;
        P11PROV_DEBUG(
            1, "token \"%.*s\" in slot %lu of %s matches",
            padded_length(token_info.label, sizeof(token_info.label)),
            (const char *)token_info.label, slots[i], m->path);
    }
    OPENSSL_free(slots);
    return 1;
}

const char *p11prov_token_label(const P11PROV_TOKEN *token, char buf[33])
{
    int len = padded_length(token->token_info.label,
                            sizeof(token->token_info.label));
    memcpy(buf, token->token_info.label, (size_t)len);
    buf[len] = '\0';
    return buf;
}

char *p11prov_token_uri(const P11PROV_TOKEN *token)
{
    p11uri *uri = p11uri_new();
    char *text = NULL;

    if (uri != NULL
        && p11uri_set_token_info(uri, &token->token_info) == P11URI_OK)
        text = p11uri_format(uri, P11URI_FORMAT_OMIT_PIN);
    p11uri_free(uri);
    return text;
}

char *p11prov_object_uri(const P11PROV_TOKEN *token,
                         const unsigned char *label, CK_ULONG label_len,
                         const unsigned char *id, CK_ULONG id_len,
                         const char *type)
{
    p11uri *uri = p11uri_new();
    char *text = NULL;

    if (uri != NULL
        && p11uri_set_token_info(uri, &token->token_info) == P11URI_OK
        && (label == NULL
            || p11uri_set(uri, P11URI_OBJECT, label, label_len) == P11URI_OK)
        && (id == NULL || p11uri_set(uri, P11URI_ID, id, id_len) == P11URI_OK)
        && p11uri_set(uri, P11URI_TYPE, type, strlen(type)) == P11URI_OK)
        text = p11uri_format(uri, P11URI_FORMAT_OMIT_PIN);
    p11uri_free(uri);
    return text;
}

void p11prov_tokens_forget(P11PROV_MODULE *m)
{
    pthread_mutex_lock(&m->tokens_lock);
    for (P11PROV_TOKEN *t = m->tokens; t != NULL; t = t->next) {
        drop_idle_sessions(t);
        /* Copies, their keeper session and cached searches belong to
         * the module's previous life (finalised, or the parent's). */
        __atomic_add_fetch(&t->epoch, 1, __ATOMIC_RELEASE);
        /* Busy ones are as gone (finalised, or the parent's). */
        __atomic_store_n(&t->sessions_open, 0, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&m->tokens_lock);
}

static bool same_token(const CK_TOKEN_INFO *a, const CK_TOKEN_INFO *b)
{
    return memcmp(a->label, b->label, sizeof(a->label)) == 0
           && memcmp(a->manufacturerID, b->manufacturerID,
                     sizeof(a->manufacturerID))
                  == 0
           && memcmp(a->model, b->model, sizeof(a->model)) == 0
           && memcmp(a->serialNumber, b->serialNumber,
                     sizeof(a->serialNumber))
                  == 0;
}

void p11prov_tokens_relocate(P11PROV_MODULE *m)
{
    CK_SLOT_ID *slots;
    CK_ULONG count;
    CK_RV rv;

    if (list_slots(m, &slots, &count) != CKR_OK)
        return;
    for (CK_ULONG i = 0; i < count; i++) {
        CK_TOKEN_INFO info;

        P11PROV_CALL(rv, m, C_GetTokenInfo, slots[i], &info);
        if (rv != CKR_OK)
            continue;
        pthread_mutex_lock(&m->tokens_lock);
        for (P11PROV_TOKEN *t = m->tokens; t != NULL; t = t->next)
            if (same_token(&t->token_info, &info)
                && __atomic_load_n(&t->slot_id, __ATOMIC_ACQUIRE)
                       != slots[i]) {
                P11PROV_DEBUG(1, "token \"%.*s\" now in slot %lu",
                              padded_length(info.label, sizeof(info.label)),
                              (const char *)info.label, slots[i]);
                __atomic_store_n(&t->slot_id, slots[i], __ATOMIC_RELEASE);
            }
        pthread_mutex_unlock(&m->tokens_lock);
    }
    OPENSSL_free(slots);
}

void p11prov_tokens_lock_all(P11PROV_MODULE *m)
{
    pthread_mutex_lock(&m->tokens_lock);
    for (P11PROV_TOKEN *t = m->tokens; t != NULL; t = t->next) {
        pthread_mutex_lock(&t->lock);
        pthread_mutex_lock(&t->wait_lock);
    }
}

void p11prov_tokens_unlock_all(P11PROV_MODULE *m)
{
    for (P11PROV_TOKEN *t = m->tokens; t != NULL; t = t->next) {
        pthread_mutex_unlock(&t->wait_lock);
        pthread_mutex_unlock(&t->lock);
    }
    pthread_mutex_unlock(&m->tokens_lock);
}

void p11prov_tokens_reset_login_locks(P11PROV_MODULE *m)
{
    for (P11PROV_TOKEN *t = m->tokens; t != NULL; t = t->next)
        pthread_mutex_init(&t->login_lock, NULL);
}

void p11prov_tokens_free(P11PROV_MODULE *m)
{
    while (m->tokens != NULL) {
        P11PROV_TOKEN *t = m->tokens;
        m->tokens = t->next;
        pthread_mutex_destroy(&t->lock);
        pthread_mutex_destroy(&t->login_lock);
        pthread_mutex_destroy(&t->wait_lock);
        pthread_cond_destroy(&t->session_freed);
        if (t->pin != NULL)
            OPENSSL_clear_free(t->pin, t->pin_len);
        p11prov_mechanisms_free(t);
        OPENSSL_free(t);
    }
}
