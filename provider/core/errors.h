/* Provider errors: reason codes with their text, and the one way to raise
 * an OpenSSL error from anywhere in the provider. */
#ifndef PKCS11PROV_ERRORS_H
#define PKCS11PROV_ERRORS_H

#include <openssl/core.h>
#include <p11-kit/pkcs11.h>

typedef struct p11prov_ctx P11PROV_CTX;

/* Reason codes; their texts are in errors.c (get_reason_strings). */
enum p11prov_reason {
    P11PROV_R_CONFIG = 1,        /* bad or unknown configuration key */
    P11PROV_R_MODULE_LOAD,       /* dlopen / function list failed */
    P11PROV_R_MODULE_INIT,       /* C_Initialize failed */
    P11PROV_R_MODULE_CALL,       /* a Cryptoki call returned an error */
    P11PROV_R_MODULE_BAD_ANSWER, /* the module answered nonsense */
    P11PROV_R_BAD_URI,           /* malformed pkcs11: URI */
    P11PROV_R_NO_TOKEN,          /* no token matches the URI */
    P11PROV_R_NO_OBJECT,         /* no object matches the URI */
    P11PROV_R_LOGIN,             /* login impossible or refused */
    P11PROV_R_PIN,               /* PIN could not be obtained */
    P11PROV_R_UNSUPPORTED,       /* the token cannot do what is asked */
    P11PROV_R_BAD_ARGUMENT,      /* the application passed bad input */
    P11PROV_R_MEMORY,
    P11PROV_R_INTERNAL,
};

/* Large enough for "CKR_VENDOR_DEFINED+0x" and a 64-bit value. */
#define P11PROV_CKR_NAME_MAX 48

/* Not a module's code: what core functions return when a module answered
 * CKR_OK with values that cannot be (more objects or slots than there was
 * room for, an absurd length). Named as such in errors, so that no CKR_*
 * the module never said is put in its mouth. */
#define P11PROV_CKR_BAD_ANSWER (CKR_VENDOR_DEFINED | 0x0bad0a45UL)

/* The CKR_* name of rv; unknown values are formatted into buf. */
const char *p11prov_ckr_name(CK_RV rv, char buf[P11PROV_CKR_NAME_MAX]);

/* The CKA_* name of an attribute this provider reads; others are
 * formatted into buf. */
const char *p11prov_cka_name(CK_ATTRIBUTE_TYPE type,
                             char buf[P11PROV_CKR_NAME_MAX]);

/* Raises an OpenSSL error with the provider's reason code and a formatted
 * message (like ERR_raise_data), through the core so the reason prints as
 * text. Safe to call with ctx NULL (falls back to ERR_raise_data). */
void p11prov_raise(const P11PROV_CTX *ctx, int reason, const char *file,
                   int line, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#define P11PROV_RAISE(ctx, reason, ...)                                      \
    p11prov_raise((ctx), (reason), __FILE__, __LINE__, __func__, __VA_ARGS__)

/* For a failed Cryptoki call: "<what> on <uri>: <CKR_NAME>". uri may be
 * NULL; it must never carry a PIN (format it with P11URI_FORMAT_OMIT_PIN). */
#define P11PROV_RAISE_CKR(ctx, rv, what, uri)                                \
    do {                                                                     \
        char ckr_buf_[P11PROV_CKR_NAME_MAX];                                 \
        const char *uri_ = (uri);                                            \
        P11PROV_RAISE((ctx), P11PROV_R_MODULE_CALL, "%s%s%s: %s", (what),    \
                      uri_ ? " for " : "", uri_ ? uri_ : "",                 \
                      p11prov_ckr_name((rv), ckr_buf_));                     \
    } while (0)

const OSSL_ITEM *p11prov_reason_strings(void);

#endif
