/* The raw side: the module dlopen()ed and driven through its own function
 * list, the way a careful Cryptoki application does it: one login, one
 * session per thread, C_*Init + C_* per operation. Calls are serialised
 * for the modules the provider serialises too (tpm2-pkcs11 is not
 * thread-safe), so both sides obey the same rule. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11bench.h"

/* DER DigestInfo prefix for SHA-256 (RFC 8017, 9.2 note 1). */
static const unsigned char sha256_prefix[] = {
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
    0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
};
/* The manufacturerID of tpm2-pkcs11 (as in provider/core/module.c). */
static const char tpm2_manufacturer[] = "tpm2-software.github.io";

static CK_FUNCTION_LIST *p11;
static CK_SLOT_ID slot;
static CK_OBJECT_HANDLE key;
static CK_SESSION_HANDLE login_session = CK_INVALID_HANDLE;
static int initialized_here; /* else the provider did C_Initialize */
static int serialize;
static pthread_mutex_t call_lock = PTHREAD_MUTEX_INITIALIZER;
static EVP_MD *hash_md; /* fetched once; NULL: no prehash */

#define RAW_CALL(rv, fn, ...)                                                \
    do {                                                                     \
        if (serialize)                                                       \
            pthread_mutex_lock(&call_lock);                                  \
        (rv) = p11->fn(__VA_ARGS__);                                         \
        if (serialize)                                                       \
            pthread_mutex_unlock(&call_lock);                                \
    } while (0)

/* Decodes the %XX escapes of s in place; returns its length. */
static size_t percent_decode(char *s)
{
    size_t out = 0;

    for (size_t i = 0; s[i] != '\0'; i++) {
        unsigned int byte;

        if (s[i] == '%' && sscanf(s + i + 1, "%2x", &byte) == 1) {
            s[out++] = (char)byte;
            i += 2;
        } else {
            s[out++] = s[i];
        }
    }
    s[out] = '\0';
    return out;
}

long uri_attribute(const char *uri, const char *name, char *buf, size_t size)
{
    size_t name_len = strlen(name);
    const char *p, *end;

    if (strncmp(uri, "pkcs11:", 7) != 0)
        return -1;
    p = uri + 7;
    end = p + strcspn(p, "?");
    while (p < end) {
        size_t len = strcspn(p, ";?");

        if (len > name_len && strncmp(p, name, name_len) == 0
            && p[name_len] == '=') {
            if (len - name_len - 1 >= size)
                return -1;
            memcpy(buf, p + name_len + 1, len - name_len - 1);
            buf[len - name_len - 1] = '\0';
            return (long)percent_decode(buf);
        }
        p += len + (p[len] == ';');
    }
    return -1;
}

void raw_dlopen(const char *module)
{
    void *lib = dlopen(module, RTLD_NOW | RTLD_LOCAL);
    CK_C_GetFunctionList get_list;

    if (lib == NULL) {
        fprintf(stderr, "p11bench: dlopen %s: %s\n", module, dlerror());
        exit(1);
    }
    *(void **)&get_list = dlsym(lib, "C_GetFunctionList");
    if (get_list == NULL || get_list(&p11) != CKR_OK)
        die("C_GetFunctionList");
}

static int token_label_is(const CK_TOKEN_INFO *info, const char *label,
                          size_t label_len)
{
    size_t n = sizeof(info->label);

    while (n > 0 && info->label[n - 1] == ' ')
        n--;
    return n == label_len && memcmp(info->label, label, n) == 0;
}

/* The slot of the token the URI names (token=), or the first token. */
static CK_SLOT_ID find_slot(const char *uri, CK_TOKEN_INFO *info)
{
    CK_SLOT_ID slots[64];
    CK_ULONG n_slots = N_OF(slots);
    char label[256];
    long label_len = uri_attribute(uri, "token", label, sizeof(label));
    CK_RV rv;

    RAW_CALL(rv, C_GetSlotList, CK_TRUE, slots, &n_slots);
    if (rv != CKR_OK)
        die_rv("C_GetSlotList", rv);
    for (CK_ULONG i = 0; i < n_slots; i++) {
        RAW_CALL(rv, C_GetTokenInfo, slots[i], info);
        if (rv == CKR_OK
            && (label_len < 0
                || token_label_is(info, label, (size_t)label_len)))
            return slots[i];
    }
    die("finding the URI's token");
}

void raw_connect(const char *uri, const char *pin)
{
    CK_C_INITIALIZE_ARGS init_args = { .flags = CKF_OS_LOCKING_OK };
    CK_INFO module_info;
    CK_TOKEN_INFO info;
    CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[3] = { { CKA_CLASS, &priv, sizeof(priv) } };
    CK_ULONG n_tmpl = 1, found = 0;
    char object[256], id[256];
    long object_len = uri_attribute(uri, "object", object, sizeof(object));
    long id_len = uri_attribute(uri, "id", id, sizeof(id));
    CK_RV rv = p11->C_Initialize(&init_args);

    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
        die_rv("C_Initialize", rv);
    initialized_here = rv == CKR_OK;
    if ((rv = p11->C_GetInfo(&module_info)) != CKR_OK)
        die_rv("C_GetInfo", rv);
    serialize = memcmp(module_info.manufacturerID, tpm2_manufacturer,
                       sizeof(tpm2_manufacturer) - 1)
                == 0;
    slot = find_slot(uri, &info);
    RAW_CALL(rv, C_OpenSession, slot, CKF_SERIAL_SESSION, NULL, NULL,
             &login_session);
    if (rv != CKR_OK)
        die_rv("C_OpenSession", rv);
    if ((info.flags & CKF_LOGIN_REQUIRED) && pin != NULL) {
        RAW_CALL(rv, C_Login, login_session, CKU_USER, (CK_UTF8CHAR *)pin,
                 strlen(pin));
        if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
            die_rv("C_Login", rv);
    }
    if (object_len >= 0)
        tmpl[n_tmpl++] = (CK_ATTRIBUTE){ CKA_LABEL, object,
                                         (CK_ULONG)object_len };
    if (id_len >= 0)
        tmpl[n_tmpl++] = (CK_ATTRIBUTE){ CKA_ID, id, (CK_ULONG)id_len };
    RAW_CALL(rv, C_FindObjectsInit, login_session, tmpl, n_tmpl);
    if (rv == CKR_OK)
        RAW_CALL(rv, C_FindObjects, login_session, &key, 1, &found);
    if (rv == CKR_OK)
        RAW_CALL(rv, C_FindObjectsFinal, login_session);
    if (rv != CKR_OK)
        die_rv("C_FindObjects", rv);
    if (found != 1)
        die("finding the URI's private key");
    /* login_session stays open: it keeps the login for the others. */
}

void raw_prepare(const bench_case *bcase)
{
    if (bcase->op == OP_SIGN && bcase->md != NULL) {
        hash_md = EVP_MD_fetch(NULL, bcase->md, "provider=default");
        if (hash_md == NULL)
            die("EVP_MD_fetch");
    }
}

int raw_calls_serialized(void)
{
    return serialize;
}

int raw_session_open(CK_SESSION_HANDLE *session)
{
    CK_RV rv;

    RAW_CALL(rv, C_OpenSession, slot, CKF_SERIAL_SESSION, NULL, NULL,
             session);
    return rv == CKR_OK;
}

void raw_session_close(CK_SESSION_HANDLE session)
{
    CK_RV rv;

    RAW_CALL(rv, C_CloseSession, session);
    (void)rv;
}

/* Hashes the message (for the cases that prehash) and signs it with one
 * C_SignInit + C_Sign. */
static int sign(const bench_case *bcase, const bench_inputs *in,
                CK_SESSION_HANDLE session, unsigned char *out,
                size_t *out_len)
{
    CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
    CK_MECHANISM mech = { bcase->mech, NULL, 0 };
    unsigned char input[sizeof(sha256_prefix) + EVP_MAX_MD_SIZE];
    const unsigned char *data = input;
    size_t prefix = bcase->digest_info ? sizeof(sha256_prefix) : 0;
    unsigned int md_len = 0;
    CK_ULONG in_len, sig_len = *out_len;
    CK_RV rv;

    if (hash_md == NULL) {
        data = in->message;
        in_len = in->message_len;
    } else {
        memcpy(input, sha256_prefix, prefix);
        if (EVP_Digest(in->message, in->message_len, input + prefix, &md_len,
                       hash_md, NULL)
            != 1)
            return 0;
        in_len = prefix + md_len;
    }
    if (bcase->pss)
        mech.pParameter = &pss, mech.ulParameterLen = sizeof(pss);
    RAW_CALL(rv, C_SignInit, session, &mech, key);
    if (rv == CKR_OK)
        RAW_CALL(rv, C_Sign, session, (CK_BYTE *)data, in_len, out, &sig_len);
    *out_len = sig_len;
    return rv == CKR_OK;
}

/* The same template as the provider's: a session-only secret that can be
 * read back. */
static int derive(const bench_inputs *in, CK_SESSION_HANDLE session,
                  unsigned char *out, size_t *out_len)
{
    CK_OBJECT_CLASS secret_class = CKO_SECRET_KEY;
    CK_KEY_TYPE secret_type = CKK_GENERIC_SECRET;
    CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
    CK_ULONG value_len = in->expected_len;
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &secret_class, sizeof(secret_class) },
        { CKA_KEY_TYPE, &secret_type, sizeof(secret_type) },
        { CKA_TOKEN, &no, sizeof(no) },
        { CKA_SENSITIVE, &no, sizeof(no) },
        { CKA_EXTRACTABLE, &yes, sizeof(yes) },
        { CKA_VALUE_LEN, &value_len, sizeof(value_len) },
    };
    CK_ECDH1_DERIVE_PARAMS params = { CKD_NULL, 0, NULL, in->peer_point_len,
                                      (CK_BYTE *)in->peer_point };
    CK_MECHANISM mech = { CKM_ECDH1_DERIVE, &params, sizeof(params) };
    CK_OBJECT_HANDLE secret;
    CK_ATTRIBUTE value = { CKA_VALUE, out, *out_len };
    CK_RV rv, destroy_rv;

    RAW_CALL(rv, C_DeriveKey, session, &mech, key, tmpl, N_OF(tmpl), &secret);
    if (rv != CKR_OK)
        return 0;
    RAW_CALL(rv, C_GetAttributeValue, session, secret, &value, 1);
    RAW_CALL(destroy_rv, C_DestroyObject, session, secret);
    *out_len = value.ulValueLen;
    return rv == CKR_OK && destroy_rv == CKR_OK;
}

static int decrypt(const bench_inputs *in, CK_SESSION_HANDLE session,
                   unsigned char *out, size_t *out_len)
{
    CK_RSA_PKCS_OAEP_PARAMS params = { CKM_SHA_1, CKG_MGF1_SHA1,
                                       CKZ_DATA_SPECIFIED, NULL, 0 };
    CK_MECHANISM mech = { CKM_RSA_PKCS_OAEP, &params, sizeof(params) };
    CK_ULONG len = *out_len;
    CK_RV rv;

    RAW_CALL(rv, C_DecryptInit, session, &mech, key);
    if (rv == CKR_OK)
        RAW_CALL(rv, C_Decrypt, session, (CK_BYTE *)in->ciphertext,
                 in->ciphertext_len, out, &len);
    *out_len = len;
    return rv == CKR_OK;
}

int raw_op(const bench_case *bcase, const bench_inputs *in,
           CK_SESSION_HANDLE session, unsigned char *out, size_t *out_len)
{
    switch (bcase->op) {
    case OP_SIGN:
        return sign(bcase, in, session, out, out_len);
    case OP_DERIVE:
        return derive(in, session, out, out_len);
    case OP_DECRYPT:
        return decrypt(in, session, out, out_len);
    }
    return 0;
}

void raw_disconnect(void)
{
    EVP_MD_free(hash_md);
    hash_md = NULL;
    if (login_session != CK_INVALID_HANDLE)
        raw_session_close(login_session);
    login_session = CK_INVALID_HANDLE;
    if (initialized_here)
        p11->C_Finalize(NULL);
    initialized_here = 0;
}
