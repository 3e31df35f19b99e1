/* OSSL_STORE search criteria in Cryptoki templates, checked again on the
 * certificates found (see store_search.h). */
#include "ops/store_search.h"

#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/x509.h>

#include "core/context.h"
#include "core/fetch_cache.h"

static int take_octets(const OSSL_PARAM *p, unsigned char **value,
                       CK_ULONG *len)
{
    void *copy = NULL;
    size_t copied = 0;

    if (!OSSL_PARAM_get_octet_string(p, &copy, 0, &copied) || copied == 0) {
        OPENSSL_free(copy);
        return 0;
    }
    OPENSSL_free(*value);
    *value = copy;
    *len = (CK_ULONG)copied;
    return 1;
}

/* CKA_SERIAL_NUMBER holds the DER INTEGER of the serial. */
static int take_serial(const OSSL_PARAM *p, unsigned char **value,
                       CK_ULONG *len)
{
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;
    unsigned char *der = NULL;
    int der_len = -1;

    if (OSSL_PARAM_get_BN(p, &bn) && (serial = BN_to_ASN1_INTEGER(bn, NULL)))
        der_len = i2d_ASN1_INTEGER(serial, &der);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    if (der_len <= 0)
        return 0;
    OPENSSL_free(*value);
    *value = der;
    *len = (CK_ULONG)der_len;
    return 1;
}

int p11prov_store_search_set(P11PROV_CTX *ctx, STORE_SEARCH *search,
                             const OSSL_PARAM params[])
{
    const OSSL_PARAM *p;
    const char *alias;

    if ((p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_SUBJECT))
            != NULL
        && !take_octets(p, &search->subject, &search->subject_len))
        goto bad;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_ISSUER)) != NULL
        && !take_octets(p, &search->issuer, &search->issuer_len))
        goto bad;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_SERIAL)) != NULL
        && !take_serial(p, &search->serial, &search->serial_len))
        goto bad;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_DIGEST))
        != NULL) {
        const char *name;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &name)
            || !p11prov_digest_set(ctx, &search->digest, name, NULL))
            goto bad;
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_FINGERPRINT))
        != NULL) {
        if (!take_octets(p, &search->fingerprint, &search->fingerprint_len))
            goto bad;
        /* SHA-1 when no digest is named (OpenSSL always names one). */
        if (search->digest == NULL
            && !p11prov_digest_set(ctx, &search->digest, "SHA1", NULL))
            return 0;
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_ALIAS))
        != NULL) {
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &alias) || *alias == '\0')
            goto bad;
        OPENSSL_free(search->alias);
        if ((search->alias = OPENSSL_strdup(alias)) == NULL)
            return 0;
    }
    return 1;
bad:
    P11PROV_RAISE(ctx, P11PROV_R_BAD_ARGUMENT,
                  "invalid store search parameter %s", p->key);
    return 0;
}

bool p11prov_store_search_active(const STORE_SEARCH *search)
{
    return p11prov_store_search_certs_only(search) || search->alias != NULL;
}

bool p11prov_store_search_certs_only(const STORE_SEARCH *search)
{
    return search->subject != NULL || search->issuer != NULL
           || search->serial != NULL || search->fingerprint != NULL;
}

/* The fingerprint of the DER with the search's digest (SHA-1 when none
 * was given, as OpenSSL's own stores default). */
static bool same_fingerprint(const STORE_SEARCH *search,
                             const unsigned char *der, CK_ULONG der_len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;

    return search->digest != NULL
           && EVP_Digest(der, der_len, md, &md_len, search->digest, NULL)
           && md_len == search->fingerprint_len
           && memcmp(md, search->fingerprint, md_len) == 0;
}

bool p11prov_store_search_impossible(const STORE_SEARCH *search,
                                     const p11uri *uri)
{
    const p11uri_value *label = &uri->values[P11URI_OBJECT];

    return search->alias != NULL && label->present
           && (label->len != strlen(search->alias)
               || memcmp(label->data, search->alias, label->len) != 0);
}

CK_ULONG p11prov_store_search_template(const STORE_SEARCH *search,
                                       const p11uri *uri,
                                       CK_OBJECT_CLASS object_class,
                                       CK_ATTRIBUTE *tmpl)
{
    CK_ULONG n = 0;

    if (object_class == CKO_CERTIFICATE) {
        if (search->subject != NULL)
            tmpl[n++] = (CK_ATTRIBUTE){ CKA_SUBJECT, search->subject,
                                        search->subject_len };
        if (search->issuer != NULL)
            tmpl[n++] = (CK_ATTRIBUTE){ CKA_ISSUER, search->issuer,
                                        search->issuer_len };
        if (search->serial != NULL)
            tmpl[n++] = (CK_ATTRIBUTE){ CKA_SERIAL_NUMBER, search->serial,
                                        search->serial_len };
    }
    if (search->alias != NULL && !uri->values[P11URI_OBJECT].present)
        tmpl[n++] = (CK_ATTRIBUTE){ CKA_LABEL, search->alias,
                                    (CK_ULONG)strlen(search->alias) };
    return n;
}

/* Names compared as OpenSSL's own stores do (X509_NAME_cmp: canonical
 * form), so a token's other string types still match. */
static bool same_name(const unsigned char *want, CK_ULONG want_len,
                      const X509_NAME *name)
{
    const unsigned char *p = want;
    X509_NAME *wanted = d2i_X509_NAME(NULL, &p, (long)want_len);
    bool same = wanted != NULL && X509_NAME_cmp(wanted, name) == 0;

    X509_NAME_free(wanted);
    return same;
}

static bool same_serial(const unsigned char *want, CK_ULONG want_len,
                        const ASN1_INTEGER *serial)
{
    const unsigned char *p = want;
    ASN1_INTEGER *wanted = d2i_ASN1_INTEGER(NULL, &p, (long)want_len);
    bool same = wanted != NULL && ASN1_INTEGER_cmp(wanted, serial) == 0;

    ASN1_INTEGER_free(wanted);
    return same;
}

bool p11prov_store_search_cert_matches(const STORE_SEARCH *search,
                                       const unsigned char *der,
                                       CK_ULONG der_len)
{
    const unsigned char *p = der;
    X509 *cert;
    bool match;

    if (!p11prov_store_search_certs_only(search))
        return true;
    if ((cert = d2i_X509(NULL, &p, (long)der_len)) == NULL)
        return false;
    match = (search->subject == NULL
             || same_name(search->subject, search->subject_len,
                          X509_get_subject_name(cert)))
            && (search->issuer == NULL
                || same_name(search->issuer, search->issuer_len,
                             X509_get_issuer_name(cert)))
            && (search->serial == NULL
                || same_serial(search->serial, search->serial_len,
                               X509_get0_serialNumber(cert)))
            && (search->fingerprint == NULL
                || same_fingerprint(search, der, der_len));
    X509_free(cert);
    return match;
}

void p11prov_store_search_free(STORE_SEARCH *search)
{
    OPENSSL_free(search->subject);
    OPENSSL_free(search->issuer);
    OPENSSL_free(search->serial);
    OPENSSL_free(search->alias);
    EVP_MD_free(search->digest);
    OPENSSL_free(search->fingerprint);
    memset(search, 0, sizeof(*search));
}
