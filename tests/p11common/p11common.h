/*
 * What our two test PKCS#11 modules share: tests/mock (fault injection)
 * and tests/nulltoken (benchmarks). Both hold a constant table of objects
 * and implement the same Cryptoki functions; they differ in locking,
 * logging and session bookkeeping, which stay in each module.
 *
 * Nothing here locks, logs or reads the environment: the null token calls
 * it unchanged.
 */
#ifndef P11COMMON_H
#define P11COMMON_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>

/* One attribute of an object: value and length as C_GetAttributeValue
 * returns them. */
typedef struct token_attr {
    CK_ATTRIBUTE_TYPE type;
    const void *value;
    CK_ULONG len;
} token_attr;

typedef struct token_object {
    CK_OBJECT_HANDLE handle;
    int is_private; /* CKA_PRIVATE: visible only after C_Login */
    const token_attr *attrs;
    CK_ULONG n_attrs;
} token_object;

/* A token's objects, in C_FindObjects order. */
typedef struct token_object_table {
    const token_object *objects;
    CK_ULONG n_objects;
} token_object_table;

/* A session's find operation: bit i of pending is objects[i], still to
 * return (so a table holds at most 64 objects). */
typedef struct token_find {
    int active;
    unsigned long pending;
} token_find;

/* Helpers for the attribute tables of a *_objects.c. */
#define TOKEN_N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define TOKEN_ATTR_OF(t, var) { (t), &(var), sizeof(var) }
#define TOKEN_ATTR_BOOL(t, b)                                                \
    { (t), (b) ? &token_ck_true : &token_ck_false, sizeof(CK_BBOOL) }
extern const CK_BBOOL token_ck_true, token_ck_false;
extern const CK_OBJECT_CLASS token_public_key_class, token_private_key_class;
extern const CK_KEY_TYPE token_ec_key_type;
/* DER OID prime256v1 (1.2.840.10045.3.1.7), for CKA_EC_PARAMS. */
extern const unsigned char token_p256_params[10];

/* The attributes of an EC P-256 key pair made on the token, neither
 * extractable nor modifiable: label and id are char/byte arrays, point the
 * DER OCTET STRING of CKA_EC_POINT. */
#define TOKEN_P256_KEY_ATTRS(class_var, is_private, label, id)               \
    TOKEN_ATTR_OF(CKA_CLASS, class_var),                                     \
        TOKEN_ATTR_OF(CKA_KEY_TYPE, token_ec_key_type),                      \
        TOKEN_ATTR_BOOL(CKA_TOKEN, 1),                                       \
        TOKEN_ATTR_BOOL(CKA_PRIVATE, is_private),                            \
        TOKEN_ATTR_BOOL(CKA_MODIFIABLE, 0),                                  \
        { CKA_LABEL, (label), sizeof(label) - 1 },                           \
        { CKA_ID, (id), sizeof(id) }, TOKEN_ATTR_BOOL(CKA_LOCAL, 1),         \
        TOKEN_ATTR_OF(CKA_EC_PARAMS, token_p256_params)
#define TOKEN_P256_PUBLIC_KEY_ATTRS(label, id, point)                        \
    TOKEN_P256_KEY_ATTRS(token_public_key_class, 0, label, id),              \
        TOKEN_ATTR_BOOL(CKA_VERIFY, 1), TOKEN_ATTR_BOOL(CKA_ENCRYPT, 0),     \
        TOKEN_ATTR_BOOL(CKA_WRAP, 0), TOKEN_ATTR_BOOL(CKA_DERIVE, 0),        \
        TOKEN_ATTR_OF(CKA_EC_POINT, point)
#define TOKEN_P256_PRIVATE_KEY_ATTRS(is_private, label, id)                  \
    TOKEN_P256_KEY_ATTRS(token_private_key_class, is_private, label, id),    \
        TOKEN_ATTR_BOOL(CKA_SENSITIVE, 1),                                   \
        TOKEN_ATTR_BOOL(CKA_EXTRACTABLE, 0),                                 \
        TOKEN_ATTR_BOOL(CKA_ALWAYS_SENSITIVE, 1),                            \
        TOKEN_ATTR_BOOL(CKA_NEVER_EXTRACTABLE, 1),                           \
        TOKEN_ATTR_BOOL(CKA_ALWAYS_AUTHENTICATE, 0),                         \
        TOKEN_ATTR_BOOL(CKA_SIGN, 1), TOKEN_ATTR_BOOL(CKA_DECRYPT, 0),       \
        TOKEN_ATTR_BOOL(CKA_UNWRAP, 0), TOKEN_ATTR_BOOL(CKA_DERIVE, 0)

/* The object with that handle, or NULL if there is none or it is
 * CKA_PRIVATE and the caller is not logged_in. */
const token_object *token_visible_object(const token_object_table *table,
                                         CK_OBJECT_HANDLE handle,
                                         int logged_in);

/* What C_SignInit returns for a key that is not the token's signing key:
 * CKR_KEY_HANDLE_INVALID if no such object is visible, else
 * CKR_KEY_FUNCTION_NOT_PERMITTED. */
CK_RV token_wrong_key_error(const token_object_table *table,
                            CK_OBJECT_HANDLE key, int logged_in);

/* C_GetAttributeValue on obj (NULL: CKR_OBJECT_HANDLE_INVALID). Every
 * entry is processed; the last error seen is returned. */
CK_RV token_get_attribute_values(const token_object *obj, CK_ATTRIBUTE *tmpl,
                                 CK_ULONG count);

/* C_FindObjectsInit, C_FindObjects and C_FindObjectsFinal on a session's
 * find operation; CKA_PRIVATE objects match only if logged_in. */
CK_RV token_find_init(token_find *find, const token_object_table *table,
                      const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                      int logged_in);
CK_RV token_find_next(token_find *find, const token_object_table *table,
                      CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *found);
CK_RV token_find_final(token_find *find);

/* The count/buffer convention of the C_Get*List functions. */
CK_RV token_fill_list(CK_ULONG *out, CK_ULONG *count, const CK_ULONG *items,
                      CK_ULONG n);

/* C_GetMechanismList and C_GetMechanismInfo (slot already checked): both
 * modules list CKM_ECDSA and CKM_RSA_PKCS. */
CK_RV token_mechanism_list(CK_MECHANISM_TYPE *list, CK_ULONG *count);
CK_RV token_mechanism_info(CK_MECHANISM_TYPE type, CK_MECHANISM_INFO *info);

/* C_GetInfo: Cryptoki 2.40, manufacturer "pkcs11prov". */
void token_library_info(CK_INFO *info, const char *description,
                        CK_BYTE version_major, CK_BYTE version_minor);

/* CK_SESSION_INFO.state of a session with those flags. */
CK_STATE token_session_state(CK_FLAGS session_flags, int logged_in);

/* Copies text into a blank-padded fixed-size Cryptoki field. */
void token_pad(CK_UTF8CHAR *field, size_t size, const char *text);
#define TOKEN_PAD(field, text) token_pad((field), sizeof(field), (text))

/*
 * The functions neither module implements, for X(name, parameters): each
 * module defines its stubs, static CK_RV unsupported_<name>, from this list
 * (TOKEN_DEFINE_STUBS). C11 needs the parameters named; stubs leave them
 * unused.
 */
typedef CK_ATTRIBUTE *TOKEN_ATTRS;
typedef CK_MECHANISM *TOKEN_MECH;
typedef CK_BYTE *TOKEN_BYTES;
typedef CK_ULONG *TOKEN_LEN;
typedef CK_SESSION_HANDLE TOKEN_SESS;
typedef CK_OBJECT_HANDLE TOKEN_OBJ;
/* A pointer type of its own: inside X() a "*" reads as multiplication. */
typedef CK_OBJECT_HANDLE *TOKEN_OBJ_OUT;
#define TOKEN_IN_OUT                                                         \
    (TOKEN_SESS s, TOKEN_BYTES i, CK_ULONG in, TOKEN_BYTES o, TOKEN_LEN on)
#define TOKEN_OUT (TOKEN_SESS s, TOKEN_BYTES o, TOKEN_LEN on)
#define TOKEN_IN (TOKEN_SESS s, TOKEN_BYTES i, CK_ULONG in)
#define TOKEN_KEY_INIT (TOKEN_SESS s, TOKEN_MECH m, TOKEN_OBJ k)

#define TOKEN_UNSUPPORTED_FUNCTIONS(X)                                       \
    X(InitToken, (CK_SLOT_ID s, TOKEN_BYTES p, CK_ULONG n, TOKEN_BYTES l))   \
    X(InitPIN, (TOKEN_SESS s, TOKEN_BYTES p, CK_ULONG n))                    \
    X(SetPIN,                                                                \
      (TOKEN_SESS s, TOKEN_BYTES o, CK_ULONG on, TOKEN_BYTES p, CK_ULONG n)) \
    X(GetOperationState, (TOKEN_SESS s, TOKEN_BYTES st, TOKEN_LEN n))        \
    X(SetOperationState,                                                     \
      (TOKEN_SESS s, TOKEN_BYTES st, CK_ULONG n, TOKEN_OBJ e, TOKEN_OBJ a))  \
    X(CreateObject,                                                          \
      (TOKEN_SESS s, TOKEN_ATTRS t, CK_ULONG n, TOKEN_OBJ_OUT o))            \
    X(CopyObject, (TOKEN_SESS s, TOKEN_OBJ o, TOKEN_ATTRS t, CK_ULONG n,     \
                   TOKEN_OBJ_OUT no))                                        \
    X(DestroyObject, (TOKEN_SESS s, TOKEN_OBJ o))                            \
    X(GetObjectSize, (TOKEN_SESS s, TOKEN_OBJ o, TOKEN_LEN n))               \
    X(SetAttributeValue,                                                     \
      (TOKEN_SESS s, TOKEN_OBJ o, TOKEN_ATTRS t, CK_ULONG n))                \
    X(EncryptInit, TOKEN_KEY_INIT)                                           \
    X(Encrypt, TOKEN_IN_OUT)                                                 \
    X(EncryptUpdate, TOKEN_IN_OUT)                                           \
    X(EncryptFinal, TOKEN_OUT)                                               \
    X(DecryptInit, TOKEN_KEY_INIT)                                           \
    X(Decrypt, TOKEN_IN_OUT)                                                 \
    X(DecryptUpdate, TOKEN_IN_OUT)                                           \
    X(DecryptFinal, TOKEN_OUT)                                               \
    X(DigestInit, (TOKEN_SESS s, TOKEN_MECH m))                              \
    X(Digest, TOKEN_IN_OUT)                                                  \
    X(DigestUpdate, TOKEN_IN)                                                \
    X(DigestKey, (TOKEN_SESS s, TOKEN_OBJ k))                                \
    X(DigestFinal, TOKEN_OUT)                                                \
    X(SignUpdate, TOKEN_IN)                                                  \
    X(SignFinal, TOKEN_OUT)                                                  \
    X(SignRecoverInit, TOKEN_KEY_INIT)                                       \
    X(SignRecover, TOKEN_IN_OUT)                                             \
    X(VerifyInit, TOKEN_KEY_INIT)                                            \
    X(Verify, (TOKEN_SESS s, TOKEN_BYTES i, CK_ULONG in, TOKEN_BYTES sig,    \
               CK_ULONG sn))                                                 \
    X(VerifyUpdate, TOKEN_IN)                                                \
    X(VerifyFinal, (TOKEN_SESS s, TOKEN_BYTES sig, CK_ULONG sn))             \
    X(VerifyRecoverInit, TOKEN_KEY_INIT)                                     \
    X(VerifyRecover, TOKEN_IN_OUT)                                           \
    X(DigestEncryptUpdate, TOKEN_IN_OUT)                                     \
    X(DecryptDigestUpdate, TOKEN_IN_OUT)                                     \
    X(SignEncryptUpdate, TOKEN_IN_OUT)                                       \
    X(DecryptVerifyUpdate, TOKEN_IN_OUT)                                     \
    X(GenerateKey, (TOKEN_SESS s, TOKEN_MECH m, TOKEN_ATTRS t, CK_ULONG n,   \
                    TOKEN_OBJ_OUT k))                                        \
    X(GenerateKeyPair,                                                       \
      (TOKEN_SESS s, TOKEN_MECH m, TOKEN_ATTRS pt, CK_ULONG pn,              \
       TOKEN_ATTRS qt, CK_ULONG qn, TOKEN_OBJ_OUT pub, TOKEN_OBJ_OUT priv))  \
    X(WrapKey, (TOKEN_SESS s, TOKEN_MECH m, TOKEN_OBJ w, TOKEN_OBJ k,        \
                TOKEN_BYTES o, TOKEN_LEN on))                                \
    X(UnwrapKey, (TOKEN_SESS s, TOKEN_MECH m, TOKEN_OBJ u, TOKEN_BYTES i,    \
                  CK_ULONG in, TOKEN_ATTRS t, CK_ULONG n, TOKEN_OBJ_OUT k))  \
    X(DeriveKey, (TOKEN_SESS s, TOKEN_MECH m, TOKEN_OBJ b, TOKEN_ATTRS t,    \
                  CK_ULONG n, TOKEN_OBJ_OUT k))                              \
    X(SeedRandom, TOKEN_IN)                                                  \
    X(GenerateRandom, (TOKEN_SESS s, TOKEN_BYTES o, CK_ULONG on))            \
    X(GetFunctionStatus, (TOKEN_SESS s))                                     \
    X(CancelFunction, (TOKEN_SESS s))                                        \
    X(WaitForSlotEvent, (CK_FLAGS f, CK_SLOT_ID * s, void *r))

/* Defines the stubs; the module first defines TOKEN_STUB_BODY(name), what
 * a stub returns (name: the string "C_Name"). */
#define TOKEN_STUB(name, params)                                             \
    static CK_RV unsupported_##name params                                   \
    {                                                                        \
        return TOKEN_STUB_BODY("C_" #name);                                  \
    }
#define TOKEN_DEFINE_STUBS()                                                 \
    _Pragma("GCC diagnostic push")                                           \
        _Pragma("GCC diagnostic ignored \"-Wunused-parameter\"")             \
            TOKEN_UNSUPPORTED_FUNCTIONS(TOKEN_STUB)                          \
                _Pragma("GCC diagnostic pop")

/*
 * Defines the module's CK_FUNCTION_LIST and exports C_GetFunctionList, the
 * module's one symbol. The implemented functions are prefix##Name, the
 * others the stubs of TOKEN_DEFINE_STUBS.
 */
#define TOKEN_FN(prefix, name) .C_##name = prefix##name
#define TOKEN_STUB_ENTRY(name, params) .C_##name = unsupported_##name,
#define TOKEN_DEFINE_FUNCTION_LIST(prefix)                                   \
    static CK_FUNCTION_LIST function_list = {                                \
        .version = { 2, 40 },                                                \
        .C_GetFunctionList = C_GetFunctionList,                              \
        TOKEN_FN(prefix, Initialize),                                        \
        TOKEN_FN(prefix, Finalize),                                          \
        TOKEN_FN(prefix, GetInfo),                                           \
        TOKEN_FN(prefix, GetSlotList),                                       \
        TOKEN_FN(prefix, GetSlotInfo),                                       \
        TOKEN_FN(prefix, GetTokenInfo),                                      \
        TOKEN_FN(prefix, GetMechanismList),                                  \
        TOKEN_FN(prefix, GetMechanismInfo),                                  \
        TOKEN_FN(prefix, OpenSession),                                       \
        TOKEN_FN(prefix, CloseSession),                                      \
        TOKEN_FN(prefix, CloseAllSessions),                                  \
        TOKEN_FN(prefix, GetSessionInfo),                                    \
        TOKEN_FN(prefix, Login),                                             \
        TOKEN_FN(prefix, Logout),                                            \
        TOKEN_FN(prefix, GetAttributeValue),                                 \
        TOKEN_FN(prefix, FindObjectsInit),                                   \
        TOKEN_FN(prefix, FindObjects),                                       \
        TOKEN_FN(prefix, FindObjectsFinal),                                  \
        TOKEN_FN(prefix, SignInit),                                          \
        TOKEN_FN(prefix, Sign),                                              \
        TOKEN_UNSUPPORTED_FUNCTIONS(TOKEN_STUB_ENTRY)                        \
    };                                                                       \
    __attribute__((visibility("default"))) CK_RV C_GetFunctionList(          \
        CK_FUNCTION_LIST **list)                                             \
    {                                                                        \
        if (list == NULL)                                                    \
            return CKR_ARGUMENTS_BAD;                                        \
        *list = &function_list;                                              \
        return CKR_OK;                                                       \
    }

#endif
