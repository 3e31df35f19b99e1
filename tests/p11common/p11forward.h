/*
 * What our two forwarding PKCS#11 modules share: tests/faultmod (faults)
 * and tests/hostile (lies). Both sit in front of a real module named by an
 * environment variable, forward every Cryptoki 2.40 function to it and
 * change some answers; they differ in what they change.
 *
 * Here: the lists of the forwarded functions with their parameters (for
 * X-macros), loading the real module, CKR_* names, and the log line.
 */
#ifndef P11FORWARD_H
#define P11FORWARD_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>

/* Short names for the parameter lists below. */
typedef CK_SESSION_HANDLE S_;
typedef CK_OBJECT_HANDLE O_;
typedef CK_BYTE_PTR B_;
typedef CK_ULONG_PTR L_;
typedef CK_ATTRIBUTE_PTR T_;
typedef CK_MECHANISM_PTR M_;
#define P_IN_OUT (S_ s, B_ i, CK_ULONG in, B_ o, L_ on)
#define A_IN_OUT (s, i, in, o, on)
#define P_OUT (S_ s, B_ o, L_ on)
#define A_OUT (s, o, on)
#define P_IN (S_ s, B_ i, CK_ULONG in)
#define A_IN (s, i, in)
#define P_KEY_INIT (S_ s, M_ m, O_ k)
#define A_KEY_INIT (s, m, k)

/* X(name, parameters, arguments): the functions whose first parameter is
 * a session, s, other than those of the next lists. */
#define P11FWD_SESSION_FUNCTIONS(X)                                          \
    X(InitPIN, (S_ s, CK_UTF8CHAR_PTR p, CK_ULONG n), (s, p, n))             \
    X(SetPIN,                                                                \
      (S_ s, CK_UTF8CHAR_PTR o, CK_ULONG on, CK_UTF8CHAR_PTR p, CK_ULONG n), \
      (s, o, on, p, n))                                                      \
    X(CloseSession, (S_ s), (s))                                             \
    X(GetSessionInfo, (S_ s, CK_SESSION_INFO_PTR info), (s, info))           \
    X(GetOperationState, P_OUT, A_OUT)                                       \
    X(SetOperationState, (S_ s, B_ st, CK_ULONG n, O_ e, O_ a),              \
      (s, st, n, e, a))                                                      \
    X(Login, (S_ s, CK_USER_TYPE u, CK_UTF8CHAR_PTR p, CK_ULONG n),          \
      (s, u, p, n))                                                          \
    X(Logout, (S_ s), (s))                                                   \
    X(CreateObject, (S_ s, T_ t, CK_ULONG n, CK_OBJECT_HANDLE_PTR o),        \
      (s, t, n, o))                                                          \
    X(CopyObject, (S_ s, O_ o, T_ t, CK_ULONG n, CK_OBJECT_HANDLE_PTR no),   \
      (s, o, t, n, no))                                                      \
    X(DestroyObject, (S_ s, O_ o), (s, o))                                   \
    X(GetObjectSize, (S_ s, O_ o, L_ n), (s, o, n))                          \
    X(GetAttributeValue, (S_ s, O_ o, T_ t, CK_ULONG n), (s, o, t, n))       \
    X(SetAttributeValue, (S_ s, O_ o, T_ t, CK_ULONG n), (s, o, t, n))       \
    X(FindObjectsInit, (S_ s, T_ t, CK_ULONG n), (s, t, n))                  \
    X(FindObjects, (S_ s, CK_OBJECT_HANDLE_PTR o, CK_ULONG max, L_ n),       \
      (s, o, max, n))                                                        \
    X(FindObjectsFinal, (S_ s), (s))                                         \
    X(EncryptInit, P_KEY_INIT, A_KEY_INIT)                                   \
    X(EncryptUpdate, P_IN_OUT, A_IN_OUT)                                     \
    X(DecryptInit, P_KEY_INIT, A_KEY_INIT)                                   \
    X(DecryptUpdate, P_IN_OUT, A_IN_OUT)                                     \
    X(DigestInit, (S_ s, M_ m), (s, m))                                      \
    X(DigestUpdate, P_IN, A_IN)                                              \
    X(DigestKey, (S_ s, O_ k), (s, k))                                       \
    X(SignInit, P_KEY_INIT, A_KEY_INIT)                                      \
    X(SignUpdate, P_IN, A_IN)                                                \
    X(SignRecoverInit, P_KEY_INIT, A_KEY_INIT)                               \
    X(VerifyInit, P_KEY_INIT, A_KEY_INIT)                                    \
    X(VerifyUpdate, P_IN, A_IN)                                              \
    X(VerifyRecoverInit, P_KEY_INIT, A_KEY_INIT)                             \
    X(DigestEncryptUpdate, P_IN_OUT, A_IN_OUT)                               \
    X(DecryptDigestUpdate, P_IN_OUT, A_IN_OUT)                               \
    X(SignEncryptUpdate, P_IN_OUT, A_IN_OUT)                                 \
    X(DecryptVerifyUpdate, P_IN_OUT, A_IN_OUT)                               \
    X(GenerateKey, (S_ s, M_ m, T_ t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k),   \
      (s, m, t, n, k))                                                       \
    X(GenerateKeyPair,                                                       \
      (S_ s, M_ m, T_ pt, CK_ULONG pn, T_ qt, CK_ULONG qn,                   \
       CK_OBJECT_HANDLE_PTR pub, CK_OBJECT_HANDLE_PTR priv),                 \
      (s, m, pt, pn, qt, qn, pub, priv))                                     \
    X(WrapKey, (S_ s, M_ m, O_ w, O_ k, B_ o, L_ on), (s, m, w, k, o, on))   \
    X(UnwrapKey,                                                             \
      (S_ s, M_ m, O_ u, B_ i, CK_ULONG in, T_ t, CK_ULONG n,                \
       CK_OBJECT_HANDLE_PTR k),                                              \
      (s, m, u, i, in, t, n, k))                                             \
    X(DeriveKey,                                                             \
      (S_ s, M_ m, O_ b, T_ t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k),          \
      (s, m, b, t, n, k))                                                    \
    X(SeedRandom, P_IN, A_IN)                                                \
    X(GenerateRandom, (S_ s, B_ o, CK_ULONG on), (s, o, on))                 \
    X(GetFunctionStatus, (S_ s), (s))                                        \
    X(CancelFunction, (S_ s), (s))

/* The single-part calls and finals that end an operation and write their
 * answer to (o, on). */
#define P11FWD_ENDING_IN_OUT_FUNCTIONS(X)                                    \
    X(Encrypt, P_IN_OUT, A_IN_OUT)                                           \
    X(Decrypt, P_IN_OUT, A_IN_OUT)                                           \
    X(Digest, P_IN_OUT, A_IN_OUT)                                            \
    X(Sign, P_IN_OUT, A_IN_OUT)                                              \
    X(SignRecover, P_IN_OUT, A_IN_OUT)                                       \
    X(VerifyRecover, P_IN_OUT, A_IN_OUT)
#define P11FWD_ENDING_OUT_FUNCTIONS(X)                                       \
    X(EncryptFinal, P_OUT, A_OUT)                                            \
    X(DecryptFinal, P_OUT, A_OUT)                                            \
    X(DigestFinal, P_OUT, A_OUT)                                             \
    X(SignFinal, P_OUT, A_OUT)

/* The verifications, which end theirs and write nothing; and the
 * functions without a session (C_Initialize and C_GetFunctionList are
 * each module's own). */
#define P11FWD_ENDING_VERIFY_FUNCTIONS(X)                                    \
    X(Verify, (S_ s, B_ i, CK_ULONG in, B_ sig, CK_ULONG sn),                \
      (s, i, in, sig, sn))                                                   \
    X(VerifyFinal, (S_ s, B_ sig, CK_ULONG sn), (s, sig, sn))
#define P11FWD_GLOBAL_FUNCTIONS(X)                                           \
    X(Finalize, (CK_VOID_PTR r), (r))                                        \
    X(GetInfo, (CK_INFO_PTR info), (info))                                   \
    X(GetSlotList, (CK_BBOOL p, CK_SLOT_ID_PTR l, L_ n), (p, l, n))          \
    X(GetSlotInfo, (CK_SLOT_ID id, CK_SLOT_INFO_PTR info), (id, info))       \
    X(GetTokenInfo, (CK_SLOT_ID id, CK_TOKEN_INFO_PTR info), (id, info))     \
    X(GetMechanismList, (CK_SLOT_ID id, CK_MECHANISM_TYPE_PTR l, L_ n),      \
      (id, l, n))                                                            \
    X(GetMechanismInfo,                                                      \
      (CK_SLOT_ID id, CK_MECHANISM_TYPE t, CK_MECHANISM_INFO_PTR info),      \
      (id, t, info))                                                         \
    X(InitToken,                                                             \
      (CK_SLOT_ID id, CK_UTF8CHAR_PTR p, CK_ULONG n, CK_UTF8CHAR_PTR label), \
      (id, p, n, label))                                                     \
    X(OpenSession,                                                           \
      (CK_SLOT_ID id, CK_FLAGS f, CK_VOID_PTR app, CK_NOTIFY notify,         \
       CK_SESSION_HANDLE_PTR s),                                             \
      (id, f, app, notify, s))                                               \
    X(CloseAllSessions, (CK_SLOT_ID id), (id))                               \
    X(WaitForSlotEvent, (CK_FLAGS f, CK_SLOT_ID_PTR id, CK_VOID_PTR r),      \
      (f, id, r))

/* Every forwarded function, in one list. */
#define P11FWD_ALL_FUNCTIONS(X)                                              \
    P11FWD_SESSION_FUNCTIONS(X)                                              \
    P11FWD_ENDING_IN_OUT_FUNCTIONS(X)                                        \
    P11FWD_ENDING_OUT_FUNCTIONS(X)                                           \
    P11FWD_ENDING_VERIFY_FUNCTIONS(X)                                        \
    P11FWD_GLOBAL_FUNCTIONS(X)

/*
 * Defines the module's CK_FUNCTION_LIST and exports C_GetFunctionList, the
 * module's one symbol: initialize is its C_Initialize, entry(name, ...)
 * expands to the designated initializer of each forwarded function
 * (".C_Sign = mine_Sign,").
 */
#define P11FWD_DEFINE_FUNCTION_LIST(entry, initialize)                       \
    CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);                  \
    static CK_FUNCTION_LIST function_list = {                                \
        .version = { 2, 40 },                                                \
        .C_Initialize = (initialize),                                        \
        .C_GetFunctionList = C_GetFunctionList,                              \
        P11FWD_ALL_FUNCTIONS(entry)                                          \
    };                                                                       \
    __attribute__((visibility("default"))) CK_RV C_GetFunctionList(          \
        CK_FUNCTION_LIST_PTR_PTR list)                                       \
    {                                                                        \
        if (list == NULL)                                                    \
            return CKR_ARGUMENTS_BAD;                                        \
        *list = &function_list;                                              \
        return CKR_OK;                                                       \
    }

/* 1 if name is "C_Initialize" or a forwarded function ("C_Sign"). */
int p11fwd_known_function(const char *name);

/* "CKR_DEVICE_ERROR" (among the codes tests name) or a number ("0x30",
 * "48") into *rv; 0 if it is neither. */
int p11fwd_parse_rv(const char *text, CK_RV *rv);

/* A decimal N from 1 to max into *n; 0 if it is not one. */
int p11fwd_parse_count(const char *text, unsigned long max, unsigned long *n);

/* Loads the module named by the environment variable var (required) and
 * sets *real to its function list. Returns 0 after a line on stderr
 * starting "tag: " if var is unset or the module unusable. The module is
 * never unloaded: it may have left atexit handlers that need its code. */
int p11fwd_load_module(const char *tag, const char *var,
                       CK_FUNCTION_LIST **real);

/* Appends line and a newline to the file at path (nothing if path is
 * empty or cannot be opened). The caller serialises. */
void p11fwd_log(const char *path, const char *line);

#endif
