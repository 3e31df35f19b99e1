/*
 * The token-operation runner (provider/core/runner.c) against the mock
 * module, alone or behind the fault module: signing with mock-key, each
 * recovery (lost login, stale key handle, lost session) costing exactly
 * the calls it should, failures that end in the right status with the
 * module's CKR_* and a bounded number of calls, answers that do not fit
 * the buffer, the error text p11prov_token_op_raise words, and the
 * operations the mock does not implement (decrypt, derive, key pair
 * generation) failing in their first call. One scenario per run
 * (argv[1]); the faults come from the environment ctest sets.
 */
#include "core/login.h"
#include "core/runner.h"
#include "core_fixture.h"
#include "mock_module.h"
#include "test_util.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

/* Calls counted before and after an operation. */
static const char *const counted[] = {
    "C_OpenSession", "C_CloseSession", "C_Login",
    "C_SignInit",    "C_Sign",         "C_FindObjectsInit",
};
#define N_COUNTED (sizeof(counted) / sizeof(counted[0]))
enum { OPEN, CLOSE, LOGIN, SIGN_INIT, SIGN, FIND };

typedef struct counts {
    unsigned long n[N_COUNTED];
} COUNTS;

static COUNTS count_calls(CORE_FIXTURE *f)
{
    COUNTS c;

    for (size_t i = 0; i < N_COUNTED; i++)
        c.n[i] = fixture_calls(f, counted[i]);
    return c;
}

/* Checks the calls made since `before` against want (-1: not checked). */
#define CHECK_DELTAS(f, before, ...)                                         \
    check_deltas((f), &(before), (const long[N_COUNTED]){ __VA_ARGS__ },     \
                 __LINE__)

static void check_deltas(CORE_FIXTURE *f, const COUNTS *before,
                         const long want[N_COUNTED], int line)
{
    COUNTS now = count_calls(f);

    for (size_t i = 0; i < N_COUNTED; i++) {
        long made = (long)(now.n[i] - before->n[i]);
        if (want[i] >= 0)
            CHECKF(made == want[i], "line %d: %ld %s, want %ld", line, made,
                   counted[i], want[i]);
    }
}

/* mock-key's private half as the key layer would record it before its
 * first use: no handle yet, found by class, id and label. */
static void mock_key(CORE_FIXTURE *f, P11PROV_OBJECT *key)
{
    static const unsigned char id[] = { 0x02 };

    memset(key, 0, sizeof(*key));
    key->token = f->token;
    key->object_class = CKO_PRIVATE_KEY;
    key->handle = CK_INVALID_HANDLE;
    key->id = OPENSSL_memdup(id, sizeof(id));
    key->id_len = sizeof(id);
    key->label = (unsigned char *)OPENSSL_strdup("mock-key");
    key->label_len = strlen("mock-key");
    key->uri = p11prov_object_uri(f->token, key->label, key->label_len,
                                  key->id, key->id_len, "private");
    /* The PIN from the configuration, remembered for the runner's login
     * (the key layer does this when the key is loaded). */
    CHECK(p11prov_token_prepare_login(&f->ctx, f->token, NULL) == 1);
}

static const unsigned char digest[32] = { 1, 2, 3, 4, 5, 6, 7, 8 };

/* A CKM_ECDSA signature of digest into a buffer of out_size bytes (out
 * NULL: no buffer at all). */
static P11PROV_OP_STATUS sign(P11PROV_OBJECT *key, CORE_FIXTURE *f,
                              unsigned char *out, size_t out_size,
                              size_t *out_len, CK_RV *rv)
{
    CK_MECHANISM ecdsa = { CKM_ECDSA, NULL, 0 };

    *out_len = 0;
    *rv = CKR_GENERAL_ERROR;
    return p11prov_token_operation(&f->ctx, key, P11PROV_TOKEN_SIGN, &ecdsa,
                                   digest, sizeof(digest), out, out_len, 0,
                                   out_size, rv);
}

/* One signature that must work: the mock's fixed bytes. */
static void sign_ok(P11PROV_OBJECT *key, CORE_FIXTURE *f, int line)
{
    unsigned char sig[128];
    size_t len;
    CK_RV rv;
    P11PROV_OP_STATUS status = sign(key, f, sig, sizeof(sig), &len, &rv);

    CHECKF(status == P11PROV_OP_DONE && rv == CKR_OK,
           "line %d: status %d, rv 0x%lx", line, status, rv);
    CHECKF(len == MOCK_ECDSA_SIG_LEN
               && memcmp(sig, mock_ecdsa_signature, MOCK_ECDSA_SIG_LEN) == 0,
           "line %d: %zu bytes, not the mock's signature", line, len);
}

/* The text of the newest error on the queue ("" when none). */
static const char *last_error_text(void)
{
    const char *data = NULL;
    int flags = 0;

    if (ERR_peek_last_error_data(&data, &flags) == 0 || data == NULL
        || !(flags & ERR_TXT_STRING))
        return "";
    return data;
}

/* ---- scenarios -------------------------------------------------------- */

/* Signs twice: one login, one session, one search for the key in all. */
static void scenario_sign(CORE_FIXTURE *f)
{
    P11PROV_OBJECT key;
    COUNTS before = count_calls(f);

    mock_key(f, &key);
    sign_ok(&key, f, __LINE__);
    CHECK_DELTAS(f, before, 1, 0, 1, 1, 1, 1);
    before = count_calls(f);
    sign_ok(&key, f, __LINE__);
    CHECK_DELTAS(f, before, 0, 0, 0, 1, 1, 0);
    CHECK(fixture_sessions_open(f) == 1 && fixture_sessions_idle(f) == 1);
    p11prov_object_clear(&key);
}

/* C_Sign says CKR_USER_NOT_LOGGED_IN once (the fault module logs out for
 * real): one more C_Login, one more C_Sign, the key found again. */
static void scenario_lost_login(CORE_FIXTURE *f)
{
    P11PROV_OBJECT key;
    COUNTS before;

    mock_key(f, &key);
    sign_ok(&key, f, __LINE__); /* the fault is on the second C_Sign */
    before = count_calls(f);
    sign_ok(&key, f, __LINE__);
    CHECK_DELTAS(f, before, 0, 0, 1, 2, 2, 1);
    p11prov_object_clear(&key);
}

/* C_SignInit says CKR_KEY_HANDLE_INVALID once: the key is found again
 * (C_FindObjectsInit) and signs; no login (the session says it holds). */
static void scenario_stale_handle(CORE_FIXTURE *f)
{
    P11PROV_OBJECT key;
    COUNTS before;

    mock_key(f, &key);
    sign_ok(&key, f, __LINE__);
    before = count_calls(f);
    sign_ok(&key, f, __LINE__);
    CHECK_DELTAS(f, before, 0, 0, 0, 2, 1, 1);
    p11prov_object_clear(&key);
}

/* C_Sign says CKR_SESSION_HANDLE_INVALID once (the fault module closes
 * the session for real): the session is given up and the operation
 * redone on a new one. It was the only session, so the mock logged out
 * with it (PKCS#11: closing the last session ends the login): the new
 * session's C_SignInit meets CKR_USER_NOT_LOGGED_IN, and the runner's
 * other recovery logs in once more. */
static void scenario_lost_session(CORE_FIXTURE *f)
{
    P11PROV_OBJECT key;
    COUNTS before;

    mock_key(f, &key);
    sign_ok(&key, f, __LINE__);
    before = count_calls(f);
    sign_ok(&key, f, __LINE__);
    /* 1 open (the new session), 1 close (ours, of the dead handle); the
     * login went with the last session: logged in again before the retry
     * and the key found again with it (1 C_Login, 1 search), so
     * C_SignInit twice: the faulted try and the good one. */
    CHECK_DELTAS(f, before, 1, 1, 1, 2, 2, 1);
    CHECK(fixture_sessions_open(f) == 1);
    CHECK(fixture_module_sessions(f) == 1);
    p11prov_object_clear(&key);
}

/* Checks p11prov_token_op_raise's words for a failed signature. */
static void check_raised(CORE_FIXTURE *f, P11PROV_OP_STATUS status,
                         const char *call, CK_RV rv, const char *ckr,
                         const char *uri)
{
    const char *text;
    char want[256];

    ERR_clear_error();
    CHECK(p11prov_token_op_raise(&f->ctx, P11PROV_TOKEN_SIGN, status,
                                 CKM_ECDSA, uri, rv)
          == 0);
    text = last_error_text();
    snprintf(want, sizeof(want), "%s with CKM_ECDSA for %s: %s", call, uri,
             ckr);
    CHECKF(strcmp(text, want) == 0, "raised \"%s\", want \"%s\"", text, want);
    CHECK(ERR_GET_REASON(ERR_peek_last_error()) == P11PROV_R_MODULE_CALL);
    CHECK(strstr(uri, "token=mock-token") && strstr(uri, "object=mock-key")
          && strstr(uri, "id=%02") && strstr(uri, "type=private"));
    ERR_clear_error();
}

/* C_Sign fails with CKR_DEVICE_ERROR every time (from the second on): no
 * recovery is tried, the status says the second call failed. */
static void scenario_device_error(CORE_FIXTURE *f)
{
    P11PROV_OBJECT key;
    unsigned char sig[128];
    size_t len;
    CK_RV rv;
    COUNTS before;

    mock_key(f, &key);
    sign_ok(&key, f, __LINE__);
    before = count_calls(f);
    CHECK(sign(&key, f, sig, sizeof(sig), &len, &rv)
          == P11PROV_OP_CALL_FAILED);
    CHECKF(rv == CKR_DEVICE_ERROR && len == 0, "rv 0x%lx", rv);
    CHECK_DELTAS(f, before, 0, 0, 0, 1, 1, 0);
    CHECK(ERR_peek_error() == 0); /* the caller words the failure */
    check_raised(f, P11PROV_OP_CALL_FAILED, "C_Sign", rv, "CKR_DEVICE_ERROR",
                 key.uri);
    /* The session survived it: still pooled, nothing closed. */
    CHECK(fixture_sessions_open(f) == 1 && fixture_sessions_idle(f) == 1);
    /* Statuses that were raised already, or succeeded, raise nothing. */
    CHECK(p11prov_token_op_raise(&f->ctx, P11PROV_TOKEN_SIGN, P11PROV_OP_DONE,
                                 CKM_ECDSA, key.uri, CKR_OK)
          == 0);
    CHECK(p11prov_token_op_raise(&f->ctx, P11PROV_TOKEN_SIGN,
                                 P11PROV_OP_RAISED, CKM_ECDSA, key.uri,
                                 CKR_GENERAL_ERROR)
          == 0);
    CHECK(ERR_peek_error() == 0);
    p11prov_object_clear(&key);
}

/* C_SignInit says CKR_KEY_HANDLE_INVALID every time: one search for the
 * key, one more try, then the first call's failure. */
static void scenario_init_failed(CORE_FIXTURE *f)
{
    P11PROV_OBJECT key;
    unsigned char sig[128];
    size_t len;
    CK_RV rv;
    COUNTS before;

    mock_key(f, &key);
    sign_ok(&key, f, __LINE__);
    before = count_calls(f);
    CHECK(sign(&key, f, sig, sizeof(sig), &len, &rv)
          == P11PROV_OP_INIT_FAILED);
    CHECKF(rv == CKR_KEY_HANDLE_INVALID, "rv 0x%lx", rv);
    CHECK_DELTAS(f, before, 0, 0, 0, 2, 0, 1);
    check_raised(f, P11PROV_OP_INIT_FAILED, "C_SignInit", rv,
                 "CKR_KEY_HANDLE_INVALID", key.uri);
    p11prov_object_clear(&key);
}

/* C_Sign says CKR_USER_NOT_LOGGED_IN every time: one re-login, never a
 * second (each C_Login may count against the PIN). */
static void scenario_login_lost_always(CORE_FIXTURE *f)
{
    P11PROV_OBJECT key;
    unsigned char sig[128];
    size_t len;
    CK_RV rv;
    COUNTS before;

    mock_key(f, &key);
    sign_ok(&key, f, __LINE__);
    before = count_calls(f);
    CHECK(sign(&key, f, sig, sizeof(sig), &len, &rv)
          == P11PROV_OP_CALL_FAILED);
    CHECKF(rv == CKR_USER_NOT_LOGGED_IN, "rv 0x%lx", rv);
    CHECK_DELTAS(f, before, 0, 0, 1, 2, 2, 1);
    p11prov_object_clear(&key);
}

/* A buffer smaller than the signature: the mock says
 * CKR_BUFFER_TOO_SMALL (the answer shown as it is), which leaves its
 * operation active, so the session is closed, not pooled. */
static void scenario_buffer_too_small(CORE_FIXTURE *f)
{
    P11PROV_OBJECT key;
    unsigned char sig[16];
    size_t len;
    CK_RV rv;
    COUNTS before;

    mock_key(f, &key);
    sign_ok(&key, f, __LINE__);
    before = count_calls(f);
    CHECK(sign(&key, f, sig, sizeof(sig), &len, &rv)
          == P11PROV_OP_CALL_FAILED);
    CHECKF(rv == CKR_BUFFER_TOO_SMALL, "rv 0x%lx", rv);
    CHECK_DELTAS(f, before, 0, 1, 0, 1, 1, 0);
    CHECK(fixture_sessions_open(f) == 0);
    CHECK(fixture_module_sessions(f) == 0);
    /* That closed the last session, which logged out: the next signature
     * recovers with one login. */
    before = count_calls(f);
    sign_ok(&key, f, __LINE__);
    CHECK_DELTAS(f, before, 1, 0, 1, 2, 1, 1);
    p11prov_object_clear(&key);
}

/* A module answering CKR_OK with a length beyond the buffer: provoked by
 * giving no buffer at all (the mock then answers a size query: CKR_OK,
 * 64 bytes) with out_size 16. The runner raises the error itself. */
static void scenario_answer_too_long(CORE_FIXTURE *f)
{
    P11PROV_OBJECT key;
    size_t len;
    CK_RV rv;
    char want[256];

    mock_key(f, &key);
    ERR_clear_error();
    CHECK(sign(&key, f, NULL, 16, &len, &rv) == P11PROV_OP_RAISED
          && len == 0);
    CHECK(ERR_GET_REASON(ERR_peek_last_error())
          == P11PROV_R_MODULE_BAD_ANSWER);
    snprintf(want, sizeof(want),
             "C_Sign with CKM_ECDSA for %s returned 64 bytes, more than the "
             "16 the key implies",
             key.uri);
    CHECKF(strcmp(last_error_text(), want) == 0, "raised \"%s\"",
           last_error_text());
    ERR_clear_error();
    p11prov_object_clear(&key);
}

/* What the mock does not implement fails in the first call, with the
 * module's answer: C_DecryptInit, C_DeriveKey, C_GenerateKeyPair. Key pair
 * generation's read-write session is closed afterwards, not pooled. */
static void scenario_unsupported(CORE_FIXTURE *f)
{
    static const unsigned char peer[65] = { 0x04 };
    CK_ECDH1_DERIVE_PARAMS ecdh = { CKD_NULL, 0, NULL, sizeof(peer),
                                    (CK_BYTE *)peer };
    CK_MECHANISM decrypt = { CKM_RSA_PKCS, NULL, 0 };
    CK_MECHANISM derive = { CKM_ECDH1_DERIVE, &ecdh, sizeof(ecdh) };
    CK_MECHANISM keygen = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
    P11PROV_KEYPAIR_REQUEST pair = { .mechanism = &keygen };
    CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
    unsigned char out[64];
    size_t len;
    CK_RV rv;
    P11PROV_OBJECT key;
    unsigned long opens, closes;

    mock_key(f, &key);
    CHECK(p11prov_token_operation(&f->ctx, &key, P11PROV_TOKEN_DECRYPT,
                                  &decrypt, digest, sizeof(digest), out, &len,
                                  0, sizeof(out), &rv)
          == P11PROV_OP_INIT_FAILED);
    CHECKF(rv == CKR_FUNCTION_NOT_SUPPORTED, "decrypt: 0x%lx", rv);
    CHECK(p11prov_token_operation(&f->ctx, &key, P11PROV_TOKEN_DERIVE,
                                  &derive, NULL, 0, out, &len, 32, 32, &rv)
          == P11PROV_OP_INIT_FAILED);
    CHECKF(rv == CKR_FUNCTION_NOT_SUPPORTED, "derive: 0x%lx", rv);
    CHECK(fixture_sessions_open(f) == 1 && fixture_sessions_idle(f) == 1);

    opens = fixture_calls(f, "C_OpenSession");
    closes = fixture_calls(f, "C_CloseSession");
    CHECK(p11prov_token_generate_pair(&f->ctx, f->token,
                                      "pkcs11:token=mock-token", &pair, &pub,
                                      &priv, &rv)
          == P11PROV_OP_INIT_FAILED);
    CHECKF(rv == CKR_FUNCTION_NOT_SUPPORTED, "generate: 0x%lx", rv);
    CHECK(pub == CK_INVALID_HANDLE && priv == CK_INVALID_HANDLE);
    CHECK(fixture_calls(f, "C_OpenSession") == opens + 1);
    CHECK(fixture_calls(f, "C_CloseSession") == closes + 1);
    CHECK(fixture_sessions_open(f) == 1 && fixture_sessions_idle(f) == 1);
    p11prov_object_clear(&key);
}

int main(int argc, char **argv)
{
    static const FIXTURE_SCENARIO scenarios[] = {
        { "sign", scenario_sign },
        { "lost_login", scenario_lost_login },
        { "stale_handle", scenario_stale_handle },
        { "lost_session", scenario_lost_session },
        { "device_error", scenario_device_error },
        { "init_failed", scenario_init_failed },
        { "login_lost_always", scenario_login_lost_always },
        { "buffer_too_small", scenario_buffer_too_small },
        { "answer_too_long", scenario_answer_too_long },
        { "unsupported", scenario_unsupported },
        { NULL, NULL },
    };

    return fixture_main("test_runner", scenarios, argc, argv);
}
