/*
 * p11hostile: a PKCS#11 module that sits in front of a real one and lies,
 * for the tests of how pkcs11prov treats a module's answers as untrusted
 * input (tests/integration/test_hostile.py).
 *
 * Every call is forwarded to the module named by P11HOSTILE_MODULE; the
 * lies named in P11HOSTILE change some answers. A lie never writes past a
 * caller's buffer: the real answer is obtained into the caller's buffer or
 * a scratch buffer, then altered within the sizes the caller gave. What a
 * lie cannot write, it only reports (a length, a count).
 *
 * Environment, read at the first C_Initialize:
 *   P11HOSTILE_MODULE=/usr/lib/softhsm/libsofthsm2.so     (required)
 *   P11HOSTILE=LIE[,LIE...]   the lies, each at most once (none: a plain
 *                             pass-through)
 *   P11HOSTILE_LOG=/path      appends "LIE C_Function" each time a lie
 *                             changed an answer, so tests can tell that
 *                             it did
 * Anything malformed (an unknown lie, function or attribute, a lie named
 * twice, a missing or unexpected argument, no module, a module that does
 * not load) makes every C_Initialize answer CKR_GENERAL_ERROR, with a line
 * on stderr saying why.
 *
 * The lies. "Fetch": a call with a buffer; "size query": one without.
 *  Slots, C_GetSlotList:
 *   slots-grow              a fetch answers CKR_OK with a count 2 larger
 *                           than the buffer it was given
 *   slots-duplicate         a size query answers twice the real count; a
 *                           fetch fills the buffer with the real slots,
 *                           each repeated (duplicate slot ids)
 *   slots-zero-then-more    a size query answers 0; a fetch answers
 *                           CKR_OK with the real count, whatever the
 *                           buffer held (only what fits is written)
 *   slots-too-small-forever a fetch answers CKR_BUFFER_TOO_SMALL with a
 *                           count one larger than its buffer, and each
 *                           size query one more than the last
 *  Mechanisms and tokens:
 *   mechs-grow              a C_GetMechanismList fetch answers CKR_OK
 *                           with a count 2 larger than its buffer
 *   mech-info-inverted      C_GetMechanismInfo: ulMinKeySize larger than
 *                           ulMaxKeySize
 *   token-info-garbage      C_GetTokenInfo: text fields of 0xff bytes
 *                           (not UTF-8, not padded), 5 sessions open of
 *                           at most 4, ulMinPinLen > ulMaxPinLen
 *  Sessions:
 *   session-invalid-handle  C_OpenSession answers CKR_OK with
 *                           CK_INVALID_HANDLE (the real session closed)
 *   login-noop              C_Login answers CKR_OK without logging in
 *  Objects, C_FindObjects:
 *   find-overflow           a call that found objects reports one more
 *                           than ulMaxObjectCount
 *   find-forever            once a handle was found, every later call of
 *                           the search answers that handle again: never
 *                           0 found
 *   find-invalid-handle     every handle found is CK_INVALID_HANDLE
 *  Attribute values, C_GetAttributeValue. The attr-* lies take an
 *  optional attribute (":CKA_MODULUS", ":0x102"), else apply to all:
 *   attr-overlong           a value fetched: CKR_OK with ulValueLen 16
 *                           larger than the buffer
 *   attr-unavailable-ok     a value present: CK_UNAVAILABLE_INFORMATION,
 *                           and the call answers CKR_OK
 *   attr-padded             a size query answers 16 bytes more than the
 *                           value; a value fetched is followed by junk up
 *                           to the end of the buffer, ulValueLen the
 *                           buffer's
 *   attr-absurd-len         ulValueLen (CK_ULONG)-2 for a value present,
 *                           in size queries and fetches, with CKR_OK
 *   modulus-empty, modulus-1-byte
 *                           CKA_MODULUS of 0 bytes, or its first byte
 *   modulus-even            CKA_MODULUS with its lowest bit cleared
 *   modulus-short           CKA_MODULUS without its last byte, made odd
 *                           (8 bits fewer than CKA_MODULUS_BITS)
 *   modulus-bits-wrong      CKA_MODULUS_BITS 8 more than the modulus has
 *   modulus-bits-absurd     CKA_MODULUS_BITS 2^33 more: its low 32 bits
 *                           are the modulus's size
 *   exponent-empty, exponent-one, exponent-even
 *                           CKA_PUBLIC_EXPONENT of 0 bytes, 1, or with its
 *                           lowest bit cleared (65537 -> 65536)
 *   ec-params-garbage       CKA_EC_PARAMS: as many bytes of junk
 *   ec-params-trailing      CKA_EC_PARAMS: the DER followed by 05 00
 *   ec-params-unknown-oid   CKA_EC_PARAMS: the OID's last byte 0x7f
 *   ec-point-off-curve      CKA_EC_POINT: the last byte's lowest bit
 *                           flipped (y no longer fits x)
 *   ec-point-short          CKA_EC_POINT: valid DER of a point one byte
 *                           short
 *   ec-point-bad-der        CKA_EC_POINT: the OCTET STRING's length one
 *                           more than the bytes that follow
 *   ec-point-raw            CKA_EC_POINT: the point without its DER
 *                           OCTET STRING (a quirk of some tokens)
 *   key-type-unknown        CKA_KEY_TYPE 0x80000123 (vendor-defined)
 *   class-unknown           CKA_CLASS 0x80000123 (vendor-defined)
 *   cert-truncated          a certificate's CKA_VALUE: its first half
 *   cert-garbage            a certificate's CKA_VALUE: as many bytes of
 *                           junk
 *   ecdh-secret-0, ecdh-secret-1, ecdh-secret-16
 *                           a secret key's CKA_VALUE (what C_DeriveKey
 *                           made): its first 0, 1 or 16 bytes
 *   ecdh-secret-long        a secret key's CKA_VALUE: 16 bytes of junk
 *                           more, written as far as the buffer goes and
 *                           reported in full with CKR_OK
 *  Signatures, C_Sign and C_SignFinal (fetches):
 *   sign-empty              CKR_OK with 0 bytes
 *   sign-short              one byte fewer than the real signature
 *   sign-long               16 bytes of junk more, written as far as the
 *                           buffer goes and reported in full with CKR_OK
 *   sign-all-ff             every byte 0xff (an RSA signature not below
 *                           the modulus; ECDSA r and s above the order)
 *   sign-zero-r, sign-zero-s
 *                           the first or second half all zero (ECDSA r or
 *                           s zero)
 *   sign-length-query-short a size query answers half the real length
 *   sign-too-small-forever  a fetch answers CKR_BUFFER_TOO_SMALL, asking
 *                           one byte more than its buffer, every time
 *  Decryption, C_Decrypt (fetches):
 *   decrypt-over-modulus    the plaintext and junk, reported as one byte
 *                           longer than the modulus, written as far as
 *                           the buffer goes, CKR_OK
 *   decrypt-over-padding    the same, one byte longer than the padding
 *                           allows: CKM_RSA_PKCS k - 10 bytes,
 *                           CKM_RSA_PKCS_OAEP k - 2 hLen - 1 (k: the
 *                           modulus' bytes); other mechanisms untouched
 *  Key pairs, C_GenerateKeyPair:
 *   keygen-invalid-handle   CKR_OK with CK_INVALID_HANDLE for both keys
 *   keygen-same-handle      CKR_OK with the private key's handle for both
 *   keygen-public-garbage   the new keys' CKA_MODULUS,
 *                           CKA_PUBLIC_EXPONENT, CKA_EC_PARAMS and
 *                           CKA_EC_POINT read back as junk
 *  Any call (":C_Name" required):
 *   vendor-ckr              the call is made, then answers 0x80000123
 *   undefined-ckr           the call is made, then answers 0x777, a code
 *                           PKCS#11 does not define
 * The junk byte is 0x5A.
 *
 * The real module is never unloaded (see p11fault). One mutex guards the
 * log and the per-session facts; the real module is called without it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostile.h"

#define MAX_SLOTS 64
#define MAX_SESSIONS 64
#define MAX_GENERATED 32

CK_FUNCTION_LIST *hostile_real;
/* The real functions, with the lying ones in their place. */
static CK_FUNCTION_LIST liar;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int configured, config_ok;
static char log_path[4096];

/* ---- the lies and their settings ------------------------------------ */

#define LIE_INFO(id, name, arg) { name, arg },
static const struct {
    const char *name;
    lie_arg arg;
} lie_info[LIE_COUNT] = { HOSTILE_LIES(LIE_INFO) };

static struct {
    int on;
    int any_attribute;
    CK_ATTRIBUTE_TYPE attribute;
    char function[32];
} settings[LIE_COUNT];

int hostile_on(lie_id lie)
{
    return settings[lie].on;
}

int hostile_on_attribute(lie_id lie, CK_ATTRIBUTE_TYPE type)
{
    return settings[lie].on
           && (settings[lie].any_attribute
               || settings[lie].attribute == type);
}

int hostile_attribute_lies(void)
{
    for (int lie = LIE_ATTR_OVERLONG; lie <= LIE_ECDH_SECRET_LONG; lie++)
        if (settings[lie].on)
            return 1;
    return settings[LIE_KEYGEN_PUBLIC_GARBAGE].on;
}

void hostile_fired(lie_id lie, const char *function)
{
    char line[128];

    snprintf(line, sizeof(line), "%s %s", lie_info[lie].name, function);
    pthread_mutex_lock(&lock);
    p11fwd_log(log_path, line);
    pthread_mutex_unlock(&lock);
}

/* ---- reading the environment ---------------------------------------- */

#define CKA(name) { #name, name }
static const struct {
    const char *name;
    CK_ATTRIBUTE_TYPE type;
} attribute_names[] = {
    CKA(CKA_CLASS),
    CKA(CKA_TOKEN),
    CKA(CKA_PRIVATE),
    CKA(CKA_LABEL),
    CKA(CKA_VALUE),
    CKA(CKA_CERTIFICATE_TYPE),
    CKA(CKA_ISSUER),
    CKA(CKA_SERIAL_NUMBER),
    CKA(CKA_SUBJECT),
    CKA(CKA_KEY_TYPE),
    CKA(CKA_ID),
    CKA(CKA_SENSITIVE),
    CKA(CKA_DECRYPT),
    CKA(CKA_SIGN),
    CKA(CKA_DERIVE),
    CKA(CKA_MODULUS),
    CKA(CKA_MODULUS_BITS),
    CKA(CKA_PUBLIC_EXPONENT),
    CKA(CKA_VALUE_LEN),
    CKA(CKA_EXTRACTABLE),
    CKA(CKA_EC_PARAMS),
    CKA(CKA_EC_POINT),
    CKA(CKA_ALWAYS_AUTHENTICATE),
    CKA(CKA_ALLOWED_MECHANISMS),
};

static int parse_attribute(const char *text, CK_ATTRIBUTE_TYPE *type)
{
    CK_RV number;

    for (size_t i = 0; i < sizeof(attribute_names) / sizeof(*attribute_names);
         i++) {
        if (strcmp(text, attribute_names[i].name) == 0) {
            *type = attribute_names[i].type;
            return 1;
        }
    }
    /* A number, read as the CKR_* numbers are. */
    if (strncmp(text, "CK", 2) == 0 || !p11fwd_parse_rv(text, &number))
        return 0;
    *type = number;
    return 1;
}

/* One "name[:argument]" of P11HOSTILE. */
static int parse_lie(char *item)
{
    char *colon = strchr(item, ':');
    const char *arg = colon != NULL ? colon + 1 : NULL;
    int lie;

    if (colon != NULL)
        *colon = '\0';
    for (lie = 0; lie < LIE_COUNT; lie++)
        if (strcmp(item, lie_info[lie].name) == 0)
            break;
    if (lie == LIE_COUNT) {
        fprintf(stderr, "p11hostile: P11HOSTILE: unknown lie \"%s\"\n", item);
        return 0;
    }
    if (settings[lie].on) {
        fprintf(stderr, "p11hostile: P11HOSTILE: \"%s\" named twice\n", item);
        return 0;
    }
    settings[lie].on = 1;
    switch (lie_info[lie].arg) {
    case ARG_NONE:
        if (arg == NULL)
            return 1;
        fprintf(stderr, "p11hostile: P11HOSTILE: \"%s\" takes no argument\n",
                item);
        return 0;
    case ARG_ATTRIBUTE:
        settings[lie].any_attribute = arg == NULL;
        if (arg == NULL || parse_attribute(arg, &settings[lie].attribute))
            return 1;
        fprintf(stderr,
                "p11hostile: P11HOSTILE: \"%s\": unknown attribute \"%s\" "
                "(want a CKA_* name or a number)\n",
                item, arg);
        return 0;
    case ARG_FUNCTION:
        if (arg != NULL && p11fwd_known_function(arg)
            && strlen(arg) < sizeof(settings[lie].function)) {
            strcpy(settings[lie].function, arg);
            return 1;
        }
        fprintf(stderr,
                "p11hostile: P11HOSTILE: \"%s\" needs a function "
                "(\"%s:C_Sign\"), not \"%s\"\n",
                item, item, arg != NULL ? arg : "");
        return 0;
    }
    return 0;
}

static int parse_lies(void)
{
    const char *text = getenv("P11HOSTILE");
    char buf[2048], *save = NULL;

    if (text == NULL || text[0] == '\0')
        return 1;
    if (strlen(text) >= sizeof(buf)) {
        fprintf(stderr, "p11hostile: P11HOSTILE is too long\n");
        return 0;
    }
    strcpy(buf, text);
    for (char *item = strtok_r(buf, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save))
        if (!parse_lie(item))
            return 0;
    return 1;
}

/* ---- what some lies remember ---------------------------------------- */

/* Per session: the handle find-forever repeats, and what C_DecryptInit
 * set up. Found by handle; a full table reuses its slots in turn. */
static struct session_state {
    CK_SESSION_HANDLE handle; /* CK_INVALID_HANDLE: free */
    CK_OBJECT_HANDLE repeat;
    CK_MECHANISM_TYPE decrypt_mechanism;
    CK_ULONG modulus_len, hash_len;
} sessions[MAX_SESSIONS];
static unsigned int next_reused;
static CK_OBJECT_HANDLE generated[MAX_GENERATED];
static unsigned int n_generated;

/* The session's state, created if need be; with the lock held. */
static struct session_state *session_state(CK_SESSION_HANDLE s)
{
    struct session_state *free_slot = NULL;

    for (unsigned int i = 0; i < MAX_SESSIONS; i++) {
        if (sessions[i].handle == s)
            return &sessions[i];
        if (free_slot == NULL && sessions[i].handle == CK_INVALID_HANDLE)
            free_slot = &sessions[i];
    }
    if (free_slot == NULL)
        free_slot = &sessions[next_reused++ % MAX_SESSIONS];
    memset(free_slot, 0, sizeof(*free_slot));
    free_slot->handle = s;
    return free_slot;
}

int hostile_decrypt_state(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE *mechanism,
                          CK_ULONG *modulus_len, CK_ULONG *hash_len)
{
    int found = 0;

    pthread_mutex_lock(&lock);
    for (unsigned int i = 0; i < MAX_SESSIONS && !found; i++) {
        if (sessions[i].handle == s && s != CK_INVALID_HANDLE) {
            *mechanism = sessions[i].decrypt_mechanism;
            *modulus_len = sessions[i].modulus_len;
            *hash_len = sessions[i].hash_len;
            found = 1;
        }
    }
    pthread_mutex_unlock(&lock);
    return found;
}

int hostile_generated(CK_OBJECT_HANDLE object)
{
    int found = 0;

    pthread_mutex_lock(&lock);
    for (unsigned int i = 0; i < n_generated && i < MAX_GENERATED; i++)
        found |= generated[i] == object;
    pthread_mutex_unlock(&lock);
    return found && object != CK_INVALID_HANDLE;
}

/* ---- the lying functions --------------------------------------------- */

static CK_RV lie_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, L_ count)
{
    static CK_ULONG grown;
    CK_SLOT_ID slots[MAX_SLOTS];
    CK_ULONG n = MAX_SLOTS, room;

    if (count == NULL
        || hostile_real->C_GetSlotList(present, slots, &n) != CKR_OK)
        return hostile_real->C_GetSlotList(present, list, count);
    room = *count;
    if (hostile_on(LIE_SLOTS_TOO_SMALL_FOREVER)) {
        hostile_fired(LIE_SLOTS_TOO_SMALL_FOREVER, "C_GetSlotList");
        if (list == NULL) {
            pthread_mutex_lock(&lock);
            *count = n + ++grown;
            pthread_mutex_unlock(&lock);
            return CKR_OK;
        }
        *count = room + 1;
        return CKR_BUFFER_TOO_SMALL;
    }
    if (hostile_on(LIE_SLOTS_ZERO_THEN_MORE)) {
        hostile_fired(LIE_SLOTS_ZERO_THEN_MORE, "C_GetSlotList");
        *count = list == NULL ? 0 : n;
        if (list != NULL)
            memcpy(list, slots, (room < n ? room : n) * sizeof(*slots));
        return CKR_OK;
    }
    if (hostile_on(LIE_SLOTS_DUPLICATE) && n > 0
        && (list == NULL || room >= n)) {
        hostile_fired(LIE_SLOTS_DUPLICATE, "C_GetSlotList");
        if (list == NULL) {
            *count = 2 * n;
            return CKR_OK;
        }
        *count = room < 2 * n ? room : 2 * n;
        for (CK_ULONG i = 0; i < *count; i++)
            list[i] = slots[i % n];
        return CKR_OK;
    }
    /* The truth, as the real module told it. */
    *count = n;
    if (list == NULL)
        return CKR_OK;
    if (room < n)
        return CKR_BUFFER_TOO_SMALL;
    memcpy(list, slots, n * sizeof(*slots));
    if (hostile_on(LIE_SLOTS_GROW)) {
        hostile_fired(LIE_SLOTS_GROW, "C_GetSlotList");
        *count = room + 2;
    }
    return CKR_OK;
}

static CK_RV lie_GetMechanismList(CK_SLOT_ID id, CK_MECHANISM_TYPE_PTR list,
                                  L_ count)
{
    CK_ULONG room = count != NULL ? *count : 0;
    CK_RV rv = hostile_real->C_GetMechanismList(id, list, count);

    if (rv == CKR_OK && list != NULL && hostile_on(LIE_MECHS_GROW)) {
        hostile_fired(LIE_MECHS_GROW, "C_GetMechanismList");
        *count = room + 2;
    }
    return rv;
}

static CK_RV lie_GetMechanismInfo(CK_SLOT_ID id, CK_MECHANISM_TYPE type,
                                  CK_MECHANISM_INFO_PTR info)
{
    CK_RV rv = hostile_real->C_GetMechanismInfo(id, type, info);

    if (rv == CKR_OK && hostile_on(LIE_MECH_INFO_INVERTED)) {
        CK_ULONG least = info->ulMinKeySize;
        hostile_fired(LIE_MECH_INFO_INVERTED, "C_GetMechanismInfo");
        info->ulMinKeySize = info->ulMaxKeySize + 1;
        info->ulMaxKeySize = least;
    }
    return rv;
}

static CK_RV lie_GetTokenInfo(CK_SLOT_ID id, CK_TOKEN_INFO_PTR info)
{
    CK_RV rv = hostile_real->C_GetTokenInfo(id, info);

    if (rv == CKR_OK && hostile_on(LIE_TOKEN_INFO_GARBAGE)) {
        hostile_fired(LIE_TOKEN_INFO_GARBAGE, "C_GetTokenInfo");
        memset(info->label, 0xff, sizeof(info->label));
        memset(info->manufacturerID, 0xff, sizeof(info->manufacturerID));
        memset(info->model, 0xff, sizeof(info->model));
        memset(info->serialNumber, 0xff, sizeof(info->serialNumber));
        info->ulMaxSessionCount = info->ulMaxRwSessionCount = 4;
        info->ulSessionCount = info->ulRwSessionCount = 5;
        info->ulMinPinLen = 255;
        info->ulMaxPinLen = 4;
    }
    return rv;
}

static CK_RV lie_OpenSession(CK_SLOT_ID id, CK_FLAGS f, CK_VOID_PTR app,
                             CK_NOTIFY notify, CK_SESSION_HANDLE_PTR s)
{
    CK_RV rv = hostile_real->C_OpenSession(id, f, app, notify, s);

    if (rv == CKR_OK && hostile_on(LIE_SESSION_INVALID_HANDLE)) {
        hostile_fired(LIE_SESSION_INVALID_HANDLE, "C_OpenSession");
        (void)hostile_real->C_CloseSession(*s);
        *s = CK_INVALID_HANDLE;
    }
    return rv;
}

static CK_RV lie_CloseSession(S_ s)
{
    pthread_mutex_lock(&lock);
    for (unsigned int i = 0; i < MAX_SESSIONS; i++)
        if (sessions[i].handle == s)
            sessions[i].handle = CK_INVALID_HANDLE;
    pthread_mutex_unlock(&lock);
    return hostile_real->C_CloseSession(s);
}

static CK_RV lie_Login(S_ s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin,
                       CK_ULONG pin_len)
{
    if (!hostile_on(LIE_LOGIN_NOOP))
        return hostile_real->C_Login(s, user, pin, pin_len);
    hostile_fired(LIE_LOGIN_NOOP, "C_Login");
    return CKR_OK;
}

static CK_RV lie_FindObjectsInit(S_ s, T_ t, CK_ULONG n)
{
    CK_RV rv = hostile_real->C_FindObjectsInit(s, t, n);

    if (rv == CKR_OK) {
        pthread_mutex_lock(&lock);
        session_state(s)->repeat = CK_INVALID_HANDLE;
        pthread_mutex_unlock(&lock);
    }
    return rv;
}

static CK_RV lie_FindObjects(S_ s, CK_OBJECT_HANDLE_PTR o, CK_ULONG max, L_ n)
{
    CK_RV rv = hostile_real->C_FindObjects(s, o, max, n);

    if (rv != CKR_OK || o == NULL || n == NULL || max == 0)
        return rv;
    if (hostile_on(LIE_FIND_FOREVER)) {
        pthread_mutex_lock(&lock);
        struct session_state *state = session_state(s);
        CK_OBJECT_HANDLE repeat = state->repeat;
        if (repeat == CK_INVALID_HANDLE && *n > 0)
            state->repeat = o[0]; /* the first answer is the truth */
        pthread_mutex_unlock(&lock);
        if (repeat != CK_INVALID_HANDLE) {
            hostile_fired(LIE_FIND_FOREVER, "C_FindObjects");
            o[0] = repeat;
            *n = 1;
        }
    }
    if (hostile_on(LIE_FIND_INVALID_HANDLE) && *n > 0) {
        hostile_fired(LIE_FIND_INVALID_HANDLE, "C_FindObjects");
        for (CK_ULONG i = 0; i < *n && i < max; i++)
            o[i] = CK_INVALID_HANDLE;
    }
    if (hostile_on(LIE_FIND_OVERFLOW) && *n > 0) {
        hostile_fired(LIE_FIND_OVERFLOW, "C_FindObjects");
        *n = max + 1;
    }
    return rv;
}

/* The digest length of an OAEP mechanism parameter, 0 if unknown. */
static CK_ULONG oaep_hash_len(const CK_MECHANISM *m)
{
    const CK_RSA_PKCS_OAEP_PARAMS *p = m->pParameter;

    if (m->mechanism != CKM_RSA_PKCS_OAEP || p == NULL
        || m->ulParameterLen != sizeof(*p))
        return 0;
    switch (p->hashAlg) {
    case CKM_SHA_1:
        return 20;
    case CKM_SHA224:
        return 28;
    case CKM_SHA256:
        return 32;
    case CKM_SHA384:
        return 48;
    case CKM_SHA512:
        return 64;
    }
    return 0;
}

static CK_RV lie_DecryptInit(S_ s, M_ m, O_ k)
{
    CK_RV rv = hostile_real->C_DecryptInit(s, m, k);
    CK_ATTRIBUTE modulus = { CKA_MODULUS, NULL, 0 };

    if (rv != CKR_OK || m == NULL
        || !(hostile_on(LIE_DECRYPT_OVER_MODULUS)
             || hostile_on(LIE_DECRYPT_OVER_PADDING)))
        return rv;
    if (hostile_real->C_GetAttributeValue(s, k, &modulus, 1) != CKR_OK
        || modulus.ulValueLen == CK_UNAVAILABLE_INFORMATION)
        modulus.ulValueLen = 0;
    pthread_mutex_lock(&lock);
    struct session_state *state = session_state(s);
    state->decrypt_mechanism = m->mechanism;
    state->modulus_len = modulus.ulValueLen;
    state->hash_len = oaep_hash_len(m);
    pthread_mutex_unlock(&lock);
    return rv;
}

static CK_RV lie_Decrypt P_IN_OUT
{
    output_call call = { OUT_DECRYPT, "C_Decrypt", s, i, in };

    return hostile_output(&call, o, on);
}

static CK_RV lie_Sign P_IN_OUT
{
    output_call call = { OUT_SIGN, "C_Sign", s, i, in };

    return hostile_output(&call, o, on);
}

static CK_RV lie_SignFinal P_OUT
{
    output_call call = { OUT_SIGN_FINAL, "C_SignFinal", s, NULL, 0 };

    return hostile_output(&call, o, on);
}

static CK_RV lie_GenerateKeyPair(S_ s, M_ m, T_ pt, CK_ULONG pn, T_ qt,
                                 CK_ULONG qn, CK_OBJECT_HANDLE_PTR pub,
                                 CK_OBJECT_HANDLE_PTR priv)
{
    CK_RV rv = hostile_real->C_GenerateKeyPair(s, m, pt, pn, qt, qn, pub,
                                               priv);

    if (rv != CKR_OK || pub == NULL || priv == NULL)
        return rv;
    if (hostile_on(LIE_KEYGEN_PUBLIC_GARBAGE)) {
        pthread_mutex_lock(&lock);
        generated[n_generated++ % MAX_GENERATED] = *pub;
        generated[n_generated++ % MAX_GENERATED] = *priv;
        pthread_mutex_unlock(&lock);
    }
    if (hostile_on(LIE_KEYGEN_INVALID_HANDLE)) {
        hostile_fired(LIE_KEYGEN_INVALID_HANDLE, "C_GenerateKeyPair");
        *pub = *priv = CK_INVALID_HANDLE;
    }
    if (hostile_on(LIE_KEYGEN_SAME_HANDLE)) {
        hostile_fired(LIE_KEYGEN_SAME_HANDLE, "C_GenerateKeyPair");
        *pub = *priv;
    }
    return rv;
}

static CK_RV lie_GetAttributeValue(S_ s, O_ o, T_ t, CK_ULONG n)
{
    return hostile_get_attributes(s, o, t, n);
}

/* ---- the wrappers ----------------------------------------------------- */

/* The answer of function: rv, or the code vendor-ckr or undefined-ckr
 * puts in its place. */
static CK_RV answer(const char *function, CK_RV rv)
{
    static const struct {
        lie_id lie;
        CK_RV rv;
    } codes[] = { { LIE_VENDOR_CKR, HOSTILE_VENDOR_CKR },
                  { LIE_UNDEFINED_CKR, HOSTILE_UNDEFINED_CKR } };

    for (size_t i = 0; i < sizeof(codes) / sizeof(*codes); i++) {
        if (hostile_on(codes[i].lie)
            && strcmp(settings[codes[i].lie].function, function) == 0) {
            hostile_fired(codes[i].lie, function);
            return codes[i].rv;
        }
    }
    return rv;
}

#define WRAP(name, params, args)                                             \
    static CK_RV hostile_##name params                                       \
    {                                                                        \
        if (hostile_real == NULL)                                            \
            return CKR_CRYPTOKI_NOT_INITIALIZED;                             \
        return answer("C_" #name, liar.C_##name args);                       \
    }
P11FWD_ALL_FUNCTIONS(WRAP)

static int read_config(void)
{
    const char *log = getenv("P11HOSTILE_LOG");

    snprintf(log_path, sizeof(log_path), "%s", log != NULL ? log : "");
    if (!parse_lies()
        || !p11fwd_load_module("p11hostile", "P11HOSTILE_MODULE",
                               &hostile_real))
        return 0;
    liar = *hostile_real;
#define LIE(name) liar.C_##name = lie_##name;
    LIE(GetSlotList)
    LIE(GetMechanismList)
    LIE(GetMechanismInfo)
    LIE(GetTokenInfo)
    LIE(OpenSession)
    LIE(CloseSession)
    LIE(Login)
    LIE(FindObjectsInit)
    LIE(FindObjects)
    LIE(GetAttributeValue)
    LIE(DecryptInit)
    LIE(Decrypt)
    LIE(Sign)
    LIE(SignFinal)
    LIE(GenerateKeyPair)
#undef LIE
    return 1;
}

/* Reads the environment and loads the real module the first time. */
static CK_RV hostile_Initialize(CK_VOID_PTR args)
{
    pthread_mutex_lock(&lock);
    if (!configured) {
        configured = 1;
        config_ok = read_config();
    }
    pthread_mutex_unlock(&lock);
    if (!config_ok) {
        fprintf(stderr, "p11hostile: malformed configuration (see above): "
                        "C_Initialize fails\n");
        return CKR_GENERAL_ERROR;
    }
    return answer("C_Initialize", hostile_real->C_Initialize(args));
}

/* ---- the function list ----------------------------------------------- */

#define ENTRY(name, ...) .C_##name = hostile_##name,
P11FWD_DEFINE_FUNCTION_LIST(ENTRY, hostile_Initialize)
