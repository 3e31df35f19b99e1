/* RSA parameters shared by signature and asym_cipher (see rsa_params.h):
 * one table of pad modes and one of salt-length names, so both operations
 * read and write exactly what OpenSSL's default provider does. */
#include "ops/rsa_params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "core/context.h"

#define COUNT(table) (sizeof(table) / sizeof((table)[0]))

/* The names OpenSSL 3.0 accepts ("oeap" too, a misspelling it kept);
 * RSA_PKCS1_WITH_TLS_PADDING has none and comes as an integer. X9.31 is
 * accepted as OpenSSL does and refused when used. */
static const struct {
    int mode;
    const char *name;
    unsigned int operations;
} pad_modes[] = {
    { RSA_PKCS1_PADDING, OSSL_PKEY_RSA_PAD_MODE_PKCSV15,
      P11PROV_RSA_FOR_SIGNATURE | P11PROV_RSA_FOR_CIPHER },
    { RSA_NO_PADDING, OSSL_PKEY_RSA_PAD_MODE_NONE,
      P11PROV_RSA_FOR_SIGNATURE | P11PROV_RSA_FOR_CIPHER },
    { RSA_PKCS1_PSS_PADDING, OSSL_PKEY_RSA_PAD_MODE_PSS,
      P11PROV_RSA_FOR_SIGNATURE },
    { RSA_PKCS1_OAEP_PADDING, OSSL_PKEY_RSA_PAD_MODE_OAEP,
      P11PROV_RSA_FOR_CIPHER },
    { RSA_PKCS1_OAEP_PADDING, "oeap", P11PROV_RSA_FOR_CIPHER },
    { RSA_X931_PADDING, OSSL_PKEY_RSA_PAD_MODE_X931,
      P11PROV_RSA_FOR_SIGNATURE | P11PROV_RSA_FOR_CIPHER },
    { RSA_PKCS1_WITH_TLS_PADDING, NULL, P11PROV_RSA_FOR_CIPHER },
};

static const struct {
    int saltlen;
    const char *name;
} saltlen_names[] = {
    { RSA_PSS_SALTLEN_DIGEST, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST },
    { RSA_PSS_SALTLEN_MAX, OSSL_PKEY_RSA_PSS_SALT_LEN_MAX },
    { RSA_PSS_SALTLEN_AUTO, OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO },
};

int p11prov_rsa_pad_mode_get(const OSSL_PARAM *p, unsigned int operation,
                             int *mode)
{
    bool by_name = p->data_type == OSSL_PARAM_UTF8_STRING;

    if (by_name && p->data == NULL)
        return 0;
    if (!by_name && !OSSL_PARAM_get_int(p, mode))
        return 0;
    for (size_t i = 0; i < COUNT(pad_modes); i++) {
        if (!(pad_modes[i].operations & operation))
            continue;
        if (by_name ? pad_modes[i].name != NULL
                          && strcmp(p->data, pad_modes[i].name) == 0
                    : pad_modes[i].mode == *mode) {
            *mode = pad_modes[i].mode;
            return 1;
        }
    }
    return 0;
}

/* A name when the parameter is a string, else the number. */
static int set_named_int(OSSL_PARAM *p, int value, const char *name)
{
    if (p->data_type == OSSL_PARAM_UTF8_STRING)
        return name != NULL && OSSL_PARAM_set_utf8_string(p, name);
    return OSSL_PARAM_set_int(p, value);
}

int p11prov_rsa_pad_mode_set(OSSL_PARAM *p, int mode)
{
    const char *name = NULL;

    for (size_t i = 0; i < COUNT(pad_modes) && name == NULL; i++)
        if (pad_modes[i].mode == mode)
            name = pad_modes[i].name;
    return set_named_int(p, mode, name);
}

int p11prov_rsa_saltlen_get(const OSSL_PARAM *p, int *saltlen)
{
    if (p->data_type != OSSL_PARAM_UTF8_STRING)
        return OSSL_PARAM_get_int(p, saltlen)
               && *saltlen >= RSA_PSS_SALTLEN_MAX;
    if (p->data == NULL)
        return 0;
    for (size_t i = 0; i < COUNT(saltlen_names); i++)
        if (strcmp(p->data, saltlen_names[i].name) == 0) {
            *saltlen = saltlen_names[i].saltlen;
            return 1;
        }
    char *end;
    long value = strtol(p->data, &end, 10);
    if (*(const char *)p->data == '\0' || *end != '\0' || value < 0
        || value > 0xffff)
        return 0;
    *saltlen = (int)value;
    return 1;
}

int p11prov_rsa_saltlen_set(OSSL_PARAM *p, int saltlen)
{
    char number[16];
    const char *name = NULL;

    for (size_t i = 0; i < COUNT(saltlen_names); i++)
        if (saltlen_names[i].saltlen == saltlen)
            name = saltlen_names[i].name;
    if (name == NULL) {
        snprintf(number, sizeof(number), "%d", saltlen);
        name = number;
    }
    return set_named_int(p, saltlen, name);
}

int p11prov_digest_param(P11PROV_CTX *ctx, const OSSL_PARAM params[],
                         const char *name_key, const char *props_key,
                         EVP_MD **slot, char **props_slot)
{
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, name_key);
    const OSSL_PARAM *pp = OSSL_PARAM_locate_const(params, props_key);
    const char *name = NULL, *props = NULL;
    char *props_copy = NULL;

    if (p == NULL)
        return 1;
    if (!OSSL_PARAM_get_utf8_string_ptr(p, &name)
        || (pp != NULL && !OSSL_PARAM_get_utf8_string_ptr(pp, &props))) {
        P11PROV_RAISE(ctx, P11PROV_R_BAD_ARGUMENT,
                      "invalid value for RSA parameter %s",
                      pp != NULL && name != NULL ? props_key : name_key);
        return 0;
    }
    if (props_slot != NULL && props != NULL
        && (props_copy = OPENSSL_strdup(props)) == NULL)
        return 0;
    if (!p11prov_digest_set(ctx, slot, name, props)) {
        OPENSSL_free(props_copy);
        return 0;
    }
    if (props_slot != NULL) {
        OPENSSL_free(*props_slot);
        *props_slot = props_copy;
    }
    return 1;
}

const EVP_MD *p11prov_rsa_oaep_md(P11PROV_CTX *ctx, EVP_MD **slot,
                                  const char *props)
{
    if (*slot == NULL
        && (*slot = p11prov_digest_fetch(ctx, "SHA1", props)) == NULL)
        P11PROV_RAISE(ctx, P11PROV_R_INTERNAL,
                      "cannot use OAEP: SHA-1 unavailable");
    return *slot;
}

CK_MECHANISM_TYPE p11prov_hash_mechanism(const EVP_MD *md,
                                         CK_RSA_PKCS_MGF_TYPE *mgf)
{
    static const struct {
        const char *name;
        CK_MECHANISM_TYPE hash;
        CK_RSA_PKCS_MGF_TYPE mgf;
    } table[] = {
        { "SHA1", CKM_SHA_1, CKG_MGF1_SHA1 },
        { "SHA224", CKM_SHA224, CKG_MGF1_SHA224 },
        { "SHA256", CKM_SHA256, CKG_MGF1_SHA256 },
        { "SHA384", CKM_SHA384, CKG_MGF1_SHA384 },
        { "SHA512", CKM_SHA512, CKG_MGF1_SHA512 },
    };
    for (size_t i = 0; i < COUNT(table); i++)
        if (EVP_MD_is_a(md, table[i].name)) {
            if (mgf != NULL)
                *mgf = table[i].mgf;
            return table[i].hash;
        }
    return CK_UNAVAILABLE_INFORMATION;
}
