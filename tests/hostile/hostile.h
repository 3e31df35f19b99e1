/*
 * p11hostile: a PKCS#11 module that forwards to a real one and lies in its
 * answers (see hostile_module.c for the list and the environment). What
 * its two files share: the lies, the real module, the log, and the
 * per-session and per-object facts some lies need.
 */
#ifndef HOSTILE_H
#define HOSTILE_H

#include "p11forward.h"

/* What a lie's setting names after its colon. */
typedef enum {
    ARG_NONE,      /* nothing: "sign-empty" */
    ARG_ATTRIBUTE, /* optional: "attr-overlong" (any) or ":CKA_MODULUS" */
    ARG_FUNCTION,  /* required: "vendor-ckr:C_Sign" */
} lie_arg;

/* X(ID, "name", argument): every lie. Those of attribute values, from
 * ATTR_OVERLONG to ECDH_SECRET_LONG, stay together (see
 * hostile_attribute_lies). */
#define HOSTILE_LIES(X)                                                      \
    X(SLOTS_GROW, "slots-grow", ARG_NONE)                                    \
    X(SLOTS_DUPLICATE, "slots-duplicate", ARG_NONE)                          \
    X(SLOTS_ZERO_THEN_MORE, "slots-zero-then-more", ARG_NONE)                \
    X(SLOTS_TOO_SMALL_FOREVER, "slots-too-small-forever", ARG_NONE)          \
    X(MECHS_GROW, "mechs-grow", ARG_NONE)                                    \
    X(MECH_INFO_INVERTED, "mech-info-inverted", ARG_NONE)                    \
    X(TOKEN_INFO_GARBAGE, "token-info-garbage", ARG_NONE)                    \
    X(SESSION_INVALID_HANDLE, "session-invalid-handle", ARG_NONE)            \
    X(LOGIN_NOOP, "login-noop", ARG_NONE)                                    \
    X(FIND_OVERFLOW, "find-overflow", ARG_NONE)                              \
    X(FIND_FOREVER, "find-forever", ARG_NONE)                                \
    X(FIND_INVALID_HANDLE, "find-invalid-handle", ARG_NONE)                  \
    X(ATTR_OVERLONG, "attr-overlong", ARG_ATTRIBUTE)                         \
    X(ATTR_UNAVAILABLE_OK, "attr-unavailable-ok", ARG_ATTRIBUTE)             \
    X(ATTR_PADDED, "attr-padded", ARG_ATTRIBUTE)                             \
    X(ATTR_ABSURD_LEN, "attr-absurd-len", ARG_ATTRIBUTE)                     \
    X(MODULUS_EMPTY, "modulus-empty", ARG_NONE)                              \
    X(MODULUS_1_BYTE, "modulus-1-byte", ARG_NONE)                            \
    X(MODULUS_EVEN, "modulus-even", ARG_NONE)                                \
    X(MODULUS_SHORT, "modulus-short", ARG_NONE)                              \
    X(MODULUS_BITS_WRONG, "modulus-bits-wrong", ARG_NONE)                    \
    X(MODULUS_BITS_ABSURD, "modulus-bits-absurd", ARG_NONE)                  \
    X(EXPONENT_EMPTY, "exponent-empty", ARG_NONE)                            \
    X(EXPONENT_ONE, "exponent-one", ARG_NONE)                                \
    X(EXPONENT_EVEN, "exponent-even", ARG_NONE)                              \
    X(EC_PARAMS_GARBAGE, "ec-params-garbage", ARG_NONE)                      \
    X(EC_PARAMS_TRAILING, "ec-params-trailing", ARG_NONE)                    \
    X(EC_PARAMS_UNKNOWN_OID, "ec-params-unknown-oid", ARG_NONE)              \
    X(EC_POINT_OFF_CURVE, "ec-point-off-curve", ARG_NONE)                    \
    X(EC_POINT_SHORT, "ec-point-short", ARG_NONE)                            \
    X(EC_POINT_BAD_DER, "ec-point-bad-der", ARG_NONE)                        \
    X(EC_POINT_RAW, "ec-point-raw", ARG_NONE)                                \
    X(KEY_TYPE_UNKNOWN, "key-type-unknown", ARG_NONE)                        \
    X(CLASS_UNKNOWN, "class-unknown", ARG_NONE)                              \
    X(CERT_TRUNCATED, "cert-truncated", ARG_NONE)                            \
    X(CERT_GARBAGE, "cert-garbage", ARG_NONE)                                \
    X(ECDH_SECRET_0, "ecdh-secret-0", ARG_NONE)                              \
    X(ECDH_SECRET_1, "ecdh-secret-1", ARG_NONE)                              \
    X(ECDH_SECRET_16, "ecdh-secret-16", ARG_NONE)                            \
    X(ECDH_SECRET_LONG, "ecdh-secret-long", ARG_NONE)                        \
    X(SIGN_EMPTY, "sign-empty", ARG_NONE)                                    \
    X(SIGN_SHORT, "sign-short", ARG_NONE)                                    \
    X(SIGN_LONG, "sign-long", ARG_NONE)                                      \
    X(SIGN_ALL_FF, "sign-all-ff", ARG_NONE)                                  \
    X(SIGN_ZERO_R, "sign-zero-r", ARG_NONE)                                  \
    X(SIGN_ZERO_S, "sign-zero-s", ARG_NONE)                                  \
    X(SIGN_LENGTH_QUERY_SHORT, "sign-length-query-short", ARG_NONE)          \
    X(SIGN_TOO_SMALL_FOREVER, "sign-too-small-forever", ARG_NONE)            \
    X(DECRYPT_OVER_MODULUS, "decrypt-over-modulus", ARG_NONE)                \
    X(DECRYPT_OVER_PADDING, "decrypt-over-padding", ARG_NONE)                \
    X(KEYGEN_INVALID_HANDLE, "keygen-invalid-handle", ARG_NONE)              \
    X(KEYGEN_SAME_HANDLE, "keygen-same-handle", ARG_NONE)                    \
    X(KEYGEN_PUBLIC_GARBAGE, "keygen-public-garbage", ARG_NONE)              \
    X(VENDOR_CKR, "vendor-ckr", ARG_FUNCTION)                                \
    X(UNDEFINED_CKR, "undefined-ckr", ARG_FUNCTION)

#define LIE_ENUM(id, ...) LIE_##id,
typedef enum { HOSTILE_LIES(LIE_ENUM) LIE_COUNT } lie_id;

/* The answers of vendor-ckr and undefined-ckr. */
#define HOSTILE_VENDOR_CKR (CKR_VENDOR_DEFINED | 0x123UL)
#define HOSTILE_UNDEFINED_CKR 0x777UL
/* Junk written where a lie adds or replaces bytes. */
#define HOSTILE_JUNK 0x5A
/* The length attr-absurd-len reports. */
#define HOSTILE_ABSURD_LEN ((CK_ULONG) - 2)
/* What a lie adds to an answer's length (sign-long, ecdh-secret-long,
 * attr-overlong). */
#define HOSTILE_EXTRA 16

/* The real module (set at the first C_Initialize). */
extern CK_FUNCTION_LIST *hostile_real;

/* Whether the lie is on; for ARG_ATTRIBUTE lies, for that attribute. */
int hostile_on(lie_id lie);
int hostile_on_attribute(lie_id lie, CK_ATTRIBUTE_TYPE type);
/* Whether any lie of C_GetAttributeValue is on. */
int hostile_attribute_lies(void);
/* Logs "name C_Function" for a lie that changed an answer. */
void hostile_fired(lie_id lie, const char *function);

/* What C_DecryptInit told about a session's operation. modulus_len: the
 * key's CKA_MODULUS length, 0 if unknown; hash_len: OAEP's digest length,
 * 0 if not OAEP. Returns 0 if the session is unknown. */
int hostile_decrypt_state(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE *mechanism,
                          CK_ULONG *modulus_len, CK_ULONG *hash_len);
/* Whether C_GenerateKeyPair made the object (keygen-public-garbage). */
int hostile_generated(CK_OBJECT_HANDLE object);

/* The lying C_GetAttributeValue (hostile_values.c). */
CK_RV hostile_get_attributes(S_ s, O_ o, T_ t, CK_ULONG n);

/* The lying calls that write an operation's answer to (o, on). */
typedef enum { OUT_SIGN, OUT_SIGN_FINAL, OUT_DECRYPT } output_kind;
typedef struct output_call {
    output_kind kind;
    const char *function; /* "C_Sign" */
    S_ s;
    B_ in;
    CK_ULONG in_len;
} output_call;
CK_RV hostile_output(const output_call *call, B_ o, L_ on);

#endif
