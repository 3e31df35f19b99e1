/*
 * p11optee: OP-TEE's PKCS#11 TA, as libckteec shows it, in front of a real
 * module (SoftHSM in the tests), for tests/integration/test_optee.py. No
 * TEE runs here: the objects and every cryptographic answer come from the
 * real module, so signatures, secrets and new keys are real and checked;
 * this module imposes the TA's interface on them:
 *   - one global lock around every call: the TA is single-instance, its
 *     commands queue and nothing runs in parallel;
 *   - the TA's mechanisms, by release (the real module's list filtered to
 *     them); CKM_RSA_X_509 only with P11OPTEE_RSA_X_509=y, as the TA's
 *     CFG_PKCS11_TA_RSA_X_509 (default n);
 *   - C_*Init refuses what the TA refuses: a mechanism it lacks for that
 *     function (CKR_MECHANISM_INVALID), RSA-PSS and OAEP whose MGF1 hash is
 *     not the hash (CKR_MECHANISM_PARAM_INVALID);
 *   - C_DeriveKey with CKM_ECDH1_DERIVE: only a bare uncompressed point of
 *     fewer than 129 bytes (P-521 is refused: CKR_ARGUMENTS_BAD); the KDF
 *     is ignored, as the TA skips it;
 *   - C_GenerateKeyPair: only the TA's curves (NIST P-192 to P-521 by
 *     named-curve OID; Ed25519 as the PrintableString "edwards25519" or
 *     GnuPG's OID 1.3.6.1.4.1.11591.15.1): CKR_ATTRIBUTE_TYPE_INVALID;
 *   - an Ed25519 key's CKA_EC_POINT is the bare 32 bytes (TA >= 3.19);
 *   - CK_INFO, CK_SLOT_INFO and CK_TOKEN_INFO as libckteec and the TA give
 *     them: "Linaro", "OP-TEE TA", the TA's flags; ulMaxSessionCount,
 *     ulMaxRwSessionCount and the memory fields 4294967295 (a 32-bit ~0
 *     widened) with libckteec before 4.1, CK_UNAVAILABLE_INFORMATION after;
 *   - TEE-identity login (P11OPTEE_LOGIN=identity): the token has
 *     CKF_PROTECTED_AUTHENTICATION_PATH, and C_Login ignores the PIN given
 *     (NULL too): the real token logs in with P11OPTEE_IDENTITY_PIN;
 *   - the functions libckteec answers CKR_FUNCTION_NOT_SUPPORTED itself:
 *     C_GenerateKeyPair, C_DeriveKey, C_CopyObject, C_SetAttributeValue,
 *     C_Digest*, C_*Random before 3.13, and others always;
 *   - libckteec 3.19 to 4.4 dereferences a NULL CKM_EDDSA parameter in
 *     C_SignInit/C_VerifyInit: this module says so on stderr and raises
 *     SIGSEGV, as the real library crashes there.
 *
 * Environment, read at the first C_Initialize:
 *   P11OPTEE_MODULE=/usr/lib/softhsm/libsofthsm2.so   (required)
 *   P11OPTEE_TA_VERSION=4.10      optee_os release of the TA, 3.12 to 4.10
 *                                 (default 4.10)
 *   P11OPTEE_CLIENT_VERSION=4.0   optee_client release of libckteec
 *                                 (default: the TA's)
 *   P11OPTEE_RSA_X_509=y|n        CFG_PKCS11_TA_RSA_X_509 (default n; y
 *                                 needs a TA from 4.5)
 *   P11OPTEE_LOGIN=pin|identity|stranger
 *       pin (default): the PIN given is the real token's (a NULL one is
 *       CKR_PIN_INCORRECT, as the TA answers); identity: TEE-identity
 *       login, the real token's PIN in P11OPTEE_IDENTITY_PIN; stranger:
 *       TEE-identity login by a client that is not the token's owner,
 *       C_Login CKR_PIN_INCORRECT (verify_identity_auth()).
 *   P11OPTEE_LOG=/path
 *       one line per call: its name, then how many other calls were in
 *       the module (queued or running) when it arrived, then for C_*Init,
 *       C_DeriveKey, C_Generate* "mechanism=0xN", for C_Login "pin=NULL"
 *       or "pin=given".
 * Anything malformed makes every C_Initialize answer CKR_GENERAL_ERROR,
 * with a line on stderr saying why.
 *
 * Sources read (GitHub, cloned 2026): OP-TEE/optee_os at d5001fe0a
 * (4.10.0-257), with its tags 3.12.0 to 4.10.0: ta/pkcs11/src/
 * token_capabilities.c (token_mechanism[], key sizes), processing_ec.c
 * (ec_curve_param[], pkcs2tee_param_ecdh(), generate_eddsa_keys()),
 * processing_rsa.c (pkcs2tee_algo_rsa_pss(), pkcs2tee_algo_rsa_oaep()),
 * pkcs11_token.c (entry_ck_slot_info(), entry_ck_token_info(): max
 * sessions UINT32_MAX; entry_ck_token_mecha_info(); check_user_pin()),
 * persistent_token.c (verify_identity_auth()), pkcs11_attributes.c
 * (check_mechanism_against_processing()), user_ta_header_defines.h
 * (TA_FLAG_SINGLE_INSTANCE), ta/pkcs11/sub.mk (CFG_PKCS11_TA_RSA_X_509 ?=
 * n: 8cf8403b7, 4.5.0; CKM_RSA_X_509 added by e02f17f37, 4.5.0),
 * core/kernel/tee_ta_manager.c (tee_ta_try_set_busy(): callers of a busy
 * single-instance TA wait); mechanisms by tag: ECDSA 3.14, RSA 3.15,
 * ECDH1_DERIVE 3.17 (cc062b469), EdDSA 3.19 (03e07432b). OP-TEE/
 * optee_client at 44289ee (4.10.0-6): libckteec/src/pkcs11_api.c (the
 * CKR_FUNCTION_NOT_SUPPORTED stubs; C_GenerateKeyPair f24b948 and
 * C_DeriveKey 61cdbde, 3.13.0), pkcs11_token.c (333e512, 4.1.0: "would
 * get value of 4294967295 instead of ~0"), serialize_ck.c
 * (serialize_mecha_eddsa(): NULL parameter fixed by 6486773, 4.5.0).
 * Issues: OP-TEE/optee_os#5755 and #5773 (C_GenerateKeyPair answering
 * CKR_FUNCTION_NOT_SUPPORTED: a libckteec of 3.12 behind a 3.16 TA),
 * OP-TEE/optee_client#367, openssl-projects/pkcs11-provider#312.
 *
 * Not imposed: slot ids stay the real module's (the TA numbers its tokens
 * 0, 1, 2); the TA's template rules beyond the curve; session counts are
 * this process's, where the TA counts every client's.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "optee_ta.h"
#include "p11forward.h"

#define TAG "p11optee"
#define MAX_SLOTS 64

static pthread_mutex_t ta_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int in_module; /* calls queued or running */
static int configured, config_ok;
static optee_profile profile;
static CK_FUNCTION_LIST *real; /* set once, with ta_lock held */
static CK_ULONG sessions, rw_sessions;

/* ---- the single instance ----------------------------------------------- */

/* Takes the TA: every call queues here. Logs the call. */
static void ta_enter(const char *name, const char *detail)
{
    int others = atomic_fetch_add(&in_module, 1);
    char line[192];

    pthread_mutex_lock(&ta_lock);
    if (profile.log_path[0] != '\0') {
        snprintf(line, sizeof(line), "%s %d%s%s", name, others,
                 detail != NULL ? " " : "", detail != NULL ? detail : "");
        p11fwd_log(profile.log_path, line);
    }
}

static CK_RV ta_leave(CK_RV rv)
{
    pthread_mutex_unlock(&ta_lock);
    atomic_fetch_sub(&in_module, 1);
    return rv;
}

static void mechanism_detail(char *out, size_t size, const CK_MECHANISM *m)
{
    snprintf(out, size, "mechanism=0x%lx", m != NULL ? m->mechanism : 0UL);
}

/* ---- the environment ---------------------------------------------------- */

static int read_release(const char *var, unsigned int fallback,
                        unsigned int *release)
{
    const char *text = getenv(var);

    if (text == NULL || text[0] == '\0') {
        *release = fallback;
        return 1;
    }
    if (optee_parse_release(text, release))
        return 1;
    fprintf(stderr, TAG ": %s=\"%s\" is not a release from 3.12 to 4.10\n",
            var, text);
    return 0;
}

static int read_login(void)
{
    const char *login = getenv("P11OPTEE_LOGIN");
    const char *pin = getenv("P11OPTEE_IDENTITY_PIN");

    if (login == NULL || login[0] == '\0' || strcmp(login, "pin") == 0)
        return 1;
    profile.identity_login = true;
    if (strcmp(login, "stranger") == 0) {
        profile.identity_mismatch = true;
        return 1;
    }
    if (strcmp(login, "identity") != 0) {
        fprintf(stderr,
                TAG ": P11OPTEE_LOGIN=\"%s\": want pin, identity or "
                    "stranger\n",
                login);
        return 0;
    }
    if (pin == NULL || pin[0] == '\0'
        || strlen(pin) >= sizeof(profile.identity_pin)) {
        fprintf(stderr, TAG ": P11OPTEE_LOGIN=identity needs "
                            "P11OPTEE_IDENTITY_PIN, the real token's PIN\n");
        return 0;
    }
    snprintf(profile.identity_pin, sizeof(profile.identity_pin), "%s", pin);
    return 1;
}

static int read_config(void)
{
    const char *log = getenv("P11OPTEE_LOG");
    const char *x509 = getenv("P11OPTEE_RSA_X_509");

    snprintf(profile.log_path, sizeof(profile.log_path), "%s",
             log != NULL ? log : "");
    if (!read_release("P11OPTEE_TA_VERSION", OPTEE_NEWEST,
                      &profile.ta_version)
        || !read_release("P11OPTEE_CLIENT_VERSION", profile.ta_version,
                         &profile.client_version)
        || !read_login())
        return 0;
    if (x509 != NULL && x509[0] != '\0' && strcmp(x509, "n") != 0) {
        if (strcmp(x509, "y") != 0
            || profile.ta_version < OPTEE_RELEASE(4, 5)) {
            fprintf(stderr,
                    TAG ": P11OPTEE_RSA_X_509=\"%s\": want y or n; "
                        "y needs a TA from 4.5\n",
                    x509);
            return 0;
        }
        profile.rsa_x_509 = true;
    }
    return p11fwd_load_module(TAG, "P11OPTEE_MODULE", &real);
}

/* ---- every function: the lock, libckteec's stubs, the real module ------- */

#define FORWARD(name, params, args)                                          \
    static CK_RV forward_##name params                                       \
    {                                                                        \
        CK_RV rv;                                                            \
                                                                             \
        ta_enter("C_" #name, NULL);                                          \
        rv = real == NULL ? CKR_CRYPTOKI_NOT_INITIALIZED                     \
                          : optee_client_lacks(&profile, "C_" #name);        \
        if (rv == CKR_OK)                                                    \
            rv = real->C_##name args;                                        \
        return ta_leave(rv);                                                 \
    }
P11FWD_ALL_FUNCTIONS(FORWARD)

/* ---- library, slot and token ------------------------------------------- */

/* optee_name: the real call under the lock, then `then` on CKR_OK. */
#define FORWARD_THEN(name, params, args, then)                               \
    static CK_RV optee_##name params                                         \
    {                                                                        \
        CK_RV rv;                                                            \
                                                                             \
        ta_enter("C_" #name, NULL);                                          \
        rv = real == NULL ? CKR_CRYPTOKI_NOT_INITIALIZED                     \
                          : real->C_##name args;                             \
        if (rv == CKR_OK) {                                                  \
            then;                                                            \
        }                                                                    \
        return ta_leave(rv);                                                 \
    }

static CK_RV optee_Initialize(CK_VOID_PTR args)
{
    CK_RV rv;

    ta_enter("C_Initialize", NULL);
    if (!configured) {
        configured = 1;
        config_ok = read_config();
    }
    if (!config_ok) {
        fprintf(stderr, TAG ": malformed configuration (see above): "
                            "C_Initialize fails\n");
        return ta_leave(CKR_GENERAL_ERROR);
    }
    rv = real->C_Initialize(args);
    return ta_leave(rv);
}

FORWARD_THEN(Finalize, (CK_VOID_PTR reserved), (reserved),
             sessions = rw_sessions = 0)
FORWARD_THEN(GetInfo, (CK_INFO_PTR info), (info), optee_library_info(info))
FORWARD_THEN(GetSlotInfo, (CK_SLOT_ID id, CK_SLOT_INFO_PTR info), (id, info),
             optee_slot_info(&profile, info))

/* The slot's place in the slot list: the TA's token id. */
static CK_ULONG slot_index(CK_SLOT_ID id)
{
    CK_SLOT_ID slots[MAX_SLOTS];
    CK_ULONG n = MAX_SLOTS;

    if (real->C_GetSlotList(CK_FALSE, slots, &n) == CKR_OK)
        for (CK_ULONG i = 0; i < n && i < MAX_SLOTS; i++)
            if (slots[i] == id)
                return i;
    return 0;
}

FORWARD_THEN(GetTokenInfo, (CK_SLOT_ID id, CK_TOKEN_INFO_PTR info),
             (id, info),
             optee_token_info(&profile, info, slot_index(id), sessions,
                              rw_sessions))

/* The real module's list, filtered, with the count/buffer convention. */
static CK_RV mechanism_list(CK_SLOT_ID id, CK_MECHANISM_TYPE_PTR list,
                            CK_ULONG_PTR count)
{
    CK_MECHANISM_TYPE *all = NULL, *offered = NULL;
    CK_ULONG n = 0, kept;
    CK_RV rv;

    if (count == NULL)
        return CKR_ARGUMENTS_BAD;
    rv = real->C_GetMechanismList(id, NULL, &n);
    if (rv != CKR_OK)
        return rv;
    all = calloc(n + 1, sizeof(*all));
    offered = calloc(n + 1, sizeof(*offered));
    if (all == NULL || offered == NULL) {
        rv = CKR_HOST_MEMORY;
        goto done;
    }
    rv = real->C_GetMechanismList(id, all, &n);
    if (rv != CKR_OK)
        goto done;
    kept = optee_filter_mechanisms(&profile, all, n, offered);
    if (list != NULL && *count < kept)
        rv = CKR_BUFFER_TOO_SMALL;
    else if (list != NULL)
        memcpy(list, offered, kept * sizeof(*list));
    *count = kept;
done:
    free(all);
    free(offered);
    return rv;
}

static CK_RV optee_GetMechanismList(CK_SLOT_ID id, CK_MECHANISM_TYPE_PTR list,
                                    CK_ULONG_PTR count)
{
    ta_enter("C_GetMechanismList", NULL);
    return ta_leave(real == NULL ? CKR_CRYPTOKI_NOT_INITIALIZED
                                 : mechanism_list(id, list, count));
}

/* The TA answers from its own table, for a valid slot. */
static CK_RV optee_GetMechanismInfo(CK_SLOT_ID id, CK_MECHANISM_TYPE type,
                                    CK_MECHANISM_INFO_PTR info)
{
    CK_SLOT_INFO slot;
    CK_RV rv;

    ta_enter("C_GetMechanismInfo", NULL);
    rv = real == NULL ? CKR_CRYPTOKI_NOT_INITIALIZED
                      : real->C_GetSlotInfo(id, &slot);
    if (rv == CKR_OK)
        rv = info == NULL ? CKR_ARGUMENTS_BAD
                          : optee_mechanism_info(&profile, type, info);
    return ta_leave(rv);
}

/* ---- sessions and login ------------------------------------------------- */

static void session_opened(CK_FLAGS flags)
{
    sessions++;
    rw_sessions += (flags & CKF_RW_SESSION) != 0;
}

FORWARD_THEN(OpenSession,
             (CK_SLOT_ID id, CK_FLAGS flags, CK_VOID_PTR app,
              CK_NOTIFY notify, CK_SESSION_HANDLE_PTR s),
             (id, flags, app, notify, s), session_opened(flags))
FORWARD_THEN(CloseAllSessions, (CK_SLOT_ID id), (id),
             sessions = rw_sessions = 0)

static CK_RV optee_CloseSession(CK_SESSION_HANDLE s)
{
    CK_SESSION_INFO info;
    bool rw;
    CK_RV rv;

    ta_enter("C_CloseSession", NULL);
    if (real == NULL)
        return ta_leave(CKR_CRYPTOKI_NOT_INITIALIZED);
    rw = real->C_GetSessionInfo(s, &info) == CKR_OK
         && (info.flags & CKF_RW_SESSION);
    rv = real->C_CloseSession(s);
    if (rv == CKR_OK) {
        sessions -= sessions > 0;
        rw_sessions -= rw && rw_sessions > 0;
    }
    return ta_leave(rv);
}

/* check_user_pin(): with TEE-identity login the PIN is not looked at, the
 * client's identity is; without it a NULL PIN is a wrong one. */
static CK_RV optee_Login(CK_SESSION_HANDLE s, CK_USER_TYPE user,
                         CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
    CK_SESSION_INFO info;
    CK_RV rv;

    ta_enter("C_Login", pin == NULL ? "pin=NULL" : "pin=given");
    if (real == NULL)
        return ta_leave(CKR_CRYPTOKI_NOT_INITIALIZED);
    if (user == CKU_SO || (!profile.identity_login && pin != NULL))
        return ta_leave(real->C_Login(s, user, pin, len));
    rv = real->C_GetSessionInfo(s, &info); /* the session must be valid */
    if (rv == CKR_OK
        && (!profile.identity_login || profile.identity_mismatch))
        rv = CKR_PIN_INCORRECT;
    else if (rv == CKR_OK)
        rv = real->C_Login(s, user, (CK_UTF8CHAR_PTR)profile.identity_pin,
                           (CK_ULONG)strlen(profile.identity_pin));
    return ta_leave(rv);
}

/* ---- operations ----------------------------------------------------------- */

/* Takes the TA for a call with mechanism m for function (CKF_SIGN, ...):
 * CKR_OK when the real module may have it, libckteec having the call and
 * the TA the mechanism. */
static CK_RV mechanism_call(const char *name, const CK_MECHANISM *m,
                            CK_FLAGS function)
{
    char detail[48];
    CK_RV rv;

    mechanism_detail(detail, sizeof(detail), m);
    ta_enter(name, detail);
    if (real == NULL)
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    if ((function == CKF_SIGN || function == CKF_VERIFY)
        && optee_client_crashes(&profile, m)) {
        fprintf(stderr,
                TAG ": libckteec %u.%u dereferences the NULL CKM_EDDSA "
                    "parameter in %s (fixed in optee_client 4.5.0, "
                    "6486773): SIGSEGV\n",
                profile.client_version / 100, profile.client_version % 100,
                name);
        fflush(stderr);
        raise(SIGSEGV);
    }
    rv = optee_client_lacks(&profile, name);
    return rv == CKR_OK ? optee_check_init(&profile, m, function) : rv;
}

static CK_RV key_init(const char *name, CK_FLAGS function,
                      CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
                      CK_OBJECT_HANDLE key)
{
    CK_RV rv = mechanism_call(name, m, function);

    if (rv != CKR_OK)
        return ta_leave(rv);
    switch (function) {
    case CKF_SIGN:
        rv = real->C_SignInit(s, m, key);
        break;
    case CKF_VERIFY:
        rv = real->C_VerifyInit(s, m, key);
        break;
    case CKF_ENCRYPT:
        rv = real->C_EncryptInit(s, m, key);
        break;
    default:
        rv = real->C_DecryptInit(s, m, key);
        break;
    }
    return ta_leave(rv);
}

#define KEY_INIT(name, function)                                             \
    static CK_RV optee_##name(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,       \
                              CK_OBJECT_HANDLE key)                          \
    {                                                                        \
        return key_init("C_" #name, function, s, m, key);                    \
    }
KEY_INIT(SignInit, CKF_SIGN)
KEY_INIT(VerifyInit, CKF_VERIFY)
KEY_INIT(EncryptInit, CKF_ENCRYPT)
KEY_INIT(DecryptInit, CKF_DECRYPT)

static CK_RV optee_DigestInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m)
{
    CK_RV rv = mechanism_call("C_DigestInit", m, CKF_DIGEST);

    return ta_leave(rv == CKR_OK ? real->C_DigestInit(s, m) : rv);
}

/* The TA skips the KDF: the real module is asked for the bare secret. */
static CK_RV optee_DeriveKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
                             CK_OBJECT_HANDLE base, CK_ATTRIBUTE_PTR tmpl,
                             CK_ULONG count, CK_OBJECT_HANDLE_PTR key)
{
    CK_ECDH1_DERIVE_PARAMS params;
    CK_MECHANISM ecdh;
    CK_RV rv = mechanism_call("C_DeriveKey", m, CKF_DERIVE);

    if (rv == CKR_OK && m->mechanism == CKM_ECDH1_DERIVE) {
        rv = optee_check_ecdh(m);
        if (rv == CKR_OK) {
            params = *(const CK_ECDH1_DERIVE_PARAMS *)m->pParameter;
            params.kdf = CKD_NULL;
            ecdh = *m;
            ecdh.pParameter = &params;
            m = &ecdh;
        }
    }
    if (rv == CKR_OK)
        rv = real->C_DeriveKey(s, m, base, tmpl, count, key);
    return ta_leave(rv);
}

static CK_RV optee_GenerateKeyPair(
    CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pub_tmpl,
    CK_ULONG pub_count, CK_ATTRIBUTE_PTR priv_tmpl, CK_ULONG priv_count,
    CK_OBJECT_HANDLE_PTR pub, CK_OBJECT_HANDLE_PTR priv)
{
    CK_RV rv = mechanism_call("C_GenerateKeyPair", m, CKF_GENERATE_KEY_PAIR);

    if (rv == CKR_OK)
        rv = optee_check_curve(m, pub_tmpl, pub_count);
    if (rv == CKR_OK)
        rv = real->C_GenerateKeyPair(s, m, pub_tmpl, pub_count, priv_tmpl,
                                     priv_count, pub, priv);
    return ta_leave(rv);
}

static CK_RV optee_GenerateKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
                               CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
                               CK_OBJECT_HANDLE_PTR key)
{
    CK_RV rv = mechanism_call("C_GenerateKey", m, CKF_GENERATE);

    return ta_leave(rv == CKR_OK ? real->C_GenerateKey(s, m, tmpl, count, key)
                                 : rv);
}

/* ---- attributes: an Ed25519 key's bare point ------------------------------ */

static bool is_edwards_key(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o)
{
    CK_KEY_TYPE type = 0;
    CK_ATTRIBUTE attr = { CKA_KEY_TYPE, &type, sizeof(type) };

    return real->C_GetAttributeValue(s, o, &attr, 1) == CKR_OK
           && type == CKK_EC_EDWARDS;
}

/* The template with CKA_EC_POINT (entry at) read into a buffer of ours,
 * then given to the caller bare. */
static CK_RV edwards_attributes(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                                CK_ATTRIBUTE_PTR tmpl, CK_ULONG count,
                                CK_ULONG at)
{
    unsigned char point[128];
    CK_ATTRIBUTE *copy = malloc(count * sizeof(*copy));
    const unsigned char *value = point;
    CK_ULONG len;
    CK_RV rv;

    if (copy == NULL)
        return CKR_HOST_MEMORY;
    memcpy(copy, tmpl, count * sizeof(*copy));
    copy[at].pValue = point;
    copy[at].ulValueLen = sizeof(point);
    rv = real->C_GetAttributeValue(s, o, copy, count);
    for (CK_ULONG i = 0; i < count; i++)
        if (i != at)
            tmpl[i].ulValueLen = copy[i].ulValueLen;
    len = copy[at].ulValueLen;
    free(copy);
    if (len == CK_UNAVAILABLE_INFORMATION || len > sizeof(point)) {
        tmpl[at].ulValueLen = CK_UNAVAILABLE_INFORMATION;
        return rv;
    }
    optee_bare_point(&value, &len);
    if (tmpl[at].pValue != NULL && tmpl[at].ulValueLen < len) {
        tmpl[at].ulValueLen = CK_UNAVAILABLE_INFORMATION;
        return rv == CKR_OK ? CKR_BUFFER_TOO_SMALL : rv;
    }
    if (tmpl[at].pValue != NULL)
        memcpy(tmpl[at].pValue, value, len);
    tmpl[at].ulValueLen = len;
    return rv;
}

static CK_RV optee_GetAttributeValue(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                                     CK_ATTRIBUTE_PTR tmpl, CK_ULONG count)
{
    CK_ULONG at = count;

    ta_enter("C_GetAttributeValue", NULL);
    if (real == NULL)
        return ta_leave(CKR_CRYPTOKI_NOT_INITIALIZED);
    for (CK_ULONG i = 0; tmpl != NULL && i < count && at == count; i++)
        if (tmpl[i].type == CKA_EC_POINT)
            at = i;
    if (at == count || profile.ta_version < OPTEE_RELEASE(3, 19)
        || !is_edwards_key(s, o))
        return ta_leave(real->C_GetAttributeValue(s, o, tmpl, count));
    return ta_leave(edwards_attributes(s, o, tmpl, count, at));
}

/* ---- the function list ------------------------------------------------------ */

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

#define ENTRY(name, ...) .C_##name = forward_##name,
static CK_FUNCTION_LIST function_list = {
    .version = { 2, 40 },
    .C_Initialize = optee_Initialize,
    .C_GetFunctionList = C_GetFunctionList,
    P11FWD_ALL_FUNCTIONS(ENTRY)
};

/* The functions the TA or libckteec answer in their own way. */
static void install_profile(void)
{
    CK_FUNCTION_LIST *f = &function_list;

    f->C_Finalize = optee_Finalize;
    f->C_GetInfo = optee_GetInfo;
    f->C_GetSlotInfo = optee_GetSlotInfo;
    f->C_GetTokenInfo = optee_GetTokenInfo;
    f->C_GetMechanismList = optee_GetMechanismList;
    f->C_GetMechanismInfo = optee_GetMechanismInfo;
    f->C_OpenSession = optee_OpenSession;
    f->C_CloseSession = optee_CloseSession;
    f->C_CloseAllSessions = optee_CloseAllSessions;
    f->C_Login = optee_Login;
    f->C_SignInit = optee_SignInit;
    f->C_VerifyInit = optee_VerifyInit;
    f->C_EncryptInit = optee_EncryptInit;
    f->C_DecryptInit = optee_DecryptInit;
    f->C_DigestInit = optee_DigestInit;
    f->C_DeriveKey = optee_DeriveKey;
    f->C_GenerateKeyPair = optee_GenerateKeyPair;
    f->C_GenerateKey = optee_GenerateKey;
    f->C_GetAttributeValue = optee_GetAttributeValue;
}

__attribute__((visibility("default"))) CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    if (list == NULL)
        return CKR_ARGUMENTS_BAD;
    pthread_once(&once, install_profile);
    *list = &function_list;
    return CKR_OK;
}
