/* The public part of a token key, as a software key for public-key work:
 * from the key object's own attributes, else from the public key object or
 * the certificate with the same CKA_ID. */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "core/object.h"
#include "keys/key.h"

/* CKA_EC_POINT is a DER OCTET STRING holding the point, but some modules
 * return the bare point: unwrap only when the DER covers the value. */
static void unwrap_point(const unsigned char **point, CK_ULONG *len)
{
    const unsigned char *p = *point;
    CK_ULONG n = *len, content, header;

    if (n < 2 || p[0] != 0x04)
        return;
    if (p[1] < 0x80) {
        content = p[1];
        header = 2;
    } else if (p[1] == 0x81 && n >= 3) {
        content = p[2];
        header = 3;
    } else if (p[1] == 0x82 && n >= 4) {
        content = ((CK_ULONG)p[2] << 8) | p[3];
        header = 4;
    } else {
        return;
    }
    if (header + content == n) {
        *point = p + header;
        *len = content;
    }
}

static EVP_PKEY *twin_from_params(P11PROV_CTX *ctx, const char *type,
                                  OSSL_PARAM *params)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(ctx->libctx, type,
                                                    P11PROV_SOFTWARE_PROPQ);
    EVP_PKEY *pkey = NULL;

    if (pctx == NULL || EVP_PKEY_fromdata_init(pctx) <= 0
        || EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(pctx);
    return pkey;
}

static EVP_PKEY *rsa_twin(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                          CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                          CK_RV *rv)
{
    unsigned char *n = NULL, *e = NULL;
    CK_ULONG n_len, e_len;
    BIGNUM *bn_n = NULL, *bn_e = NULL;
    EVP_PKEY *pkey = NULL;

    *rv = p11prov_get_attribute(token, session, object, CKA_MODULUS, &n,
                                &n_len);
    if (*rv == CKR_OK)
        *rv = p11prov_get_attribute(token, session, object,
                                    CKA_PUBLIC_EXPONENT, &e, &e_len);
    if (*rv == CKR_OK) {
        bn_n = BN_bin2bn(n, (int)n_len, NULL);
        bn_e = BN_bin2bn(e, (int)e_len, NULL);
        /* Cryptoki integers are big-endian; OSSL_PARAM BNs native. */
        OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        OSSL_PARAM *built = NULL;
        if (bld != NULL && bn_n != NULL && bn_e != NULL
            && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n)
            && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e)
            && (built = OSSL_PARAM_BLD_to_param(bld)) != NULL)
            pkey = twin_from_params(ctx, "RSA", built);
        OSSL_PARAM_free(built);
        OSSL_PARAM_BLD_free(bld);
        if (pkey == NULL)
            *rv = CKR_ATTRIBUTE_VALUE_INVALID;
    }
    BN_free(bn_n);
    BN_free(bn_e);
    OPENSSL_free(n);
    OPENSSL_free(e);
    return pkey;
}

static EVP_PKEY *ec_twin(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                         CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                         P11PROV_KEY_KIND kind, CK_RV *rv)
{
    unsigned char *params_der = NULL, *point_der = NULL;
    CK_ULONG params_len, point_len;
    EVP_PKEY *pkey = NULL;
    P11PROV_KEY_KIND object_kind;
    const char *group = NULL;

    *rv = p11prov_get_attribute(token, session, object, CKA_EC_PARAMS,
                                &params_der, &params_len);
    if (*rv == CKR_OK)
        *rv = p11prov_get_attribute(token, session, object, CKA_EC_POINT,
                                    &point_der, &point_len);
    if (*rv == CKR_OK) {
        const unsigned char *point = point_der;
        unwrap_point(&point, &point_len);
        if (!p11prov_ec_params_kind(params_der, params_len, &object_kind,
                                    &group)
            || object_kind != kind) {
            *rv = CKR_ATTRIBUTE_VALUE_INVALID;
        } else {
            OSSL_PARAM params[3], *p = params;
            if (group != NULL)
                *p++ = OSSL_PARAM_construct_utf8_string(
                    OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
            *p++ = OSSL_PARAM_construct_octet_string(
                OSSL_PKEY_PARAM_PUB_KEY, (void *)point, point_len);
            *p = OSSL_PARAM_construct_end();
            pkey = twin_from_params(ctx, p11prov_key_kind_name(kind), params);
            if (pkey == NULL)
                *rv = CKR_ATTRIBUTE_VALUE_INVALID;
        }
    }
    OPENSSL_free(params_der);
    OPENSSL_free(point_der);
    return pkey;
}

static EVP_PKEY *twin_from_object(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                                  CK_SESSION_HANDLE session,
                                  const P11PROV_KEY *key,
                                  CK_OBJECT_HANDLE object, CK_RV *rv)
{
    if (key->kind == P11PROV_KEY_RSA || key->kind == P11PROV_KEY_RSA_PSS)
        return rsa_twin(ctx, token, session, object, rv);
    return ec_twin(ctx, token, session, object, key->kind, rv);
}

/* The object of another class with the key's CKA_ID (or, without an id,
 * its label), when there is exactly one. */
static bool find_companion(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                           const P11PROV_KEY *key, CK_OBJECT_CLASS cls,
                           CK_OBJECT_HANDLE *found)
{
    CK_ATTRIBUTE tmpl[2] = { { CKA_CLASS, &cls, sizeof(cls) } };
    CK_OBJECT_HANDLE *handles;
    CK_ULONG count;

    if (key->object.id != NULL && key->object.id_len > 0)
        tmpl[1] = (CK_ATTRIBUTE){ CKA_ID, key->object.id,
                                  key->object.id_len };
    else if (key->object.label != NULL)
        tmpl[1] = (CK_ATTRIBUTE){ CKA_LABEL, key->object.label,
                                  key->object.label_len };
    else
        return false;
    if (p11prov_find_objects(token, session, tmpl, 2, &handles, &count)
        != CKR_OK)
        return false;
    if (count == 1)
        *found = handles[0];
    OPENSSL_free(handles);
    return count == 1;
}

static EVP_PKEY *twin_from_certificate(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                                       CK_SESSION_HANDLE session,
                                       const P11PROV_KEY *key,
                                       CK_OBJECT_HANDLE cert)
{
    unsigned char *der;
    CK_ULONG der_len;
    EVP_PKEY *pkey = NULL;

    if (p11prov_get_attribute(token, session, cert, CKA_VALUE, &der, &der_len)
        != CKR_OK)
        return NULL;
    X509 *x509 = X509_new_ex(ctx->libctx, P11PROV_SOFTWARE_PROPQ);
    const unsigned char *p = der;
    if (x509 != NULL && d2i_X509(&x509, &p, (long)der_len) != NULL) {
        EVP_PKEY *in_cert = X509_get0_pubkey(x509);
        if (in_cert != NULL
            && EVP_PKEY_is_a(in_cert, p11prov_key_kind_name(key->kind))
            && EVP_PKEY_up_ref(in_cert))
            pkey = in_cert;
    }
    X509_free(x509);
    OPENSSL_free(der);
    return pkey;
}

EVP_PKEY *p11prov_public_from_token(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                                    CK_SESSION_HANDLE session,
                                    P11PROV_KEY *key, CK_OBJECT_HANDLE object)
{
    CK_OBJECT_HANDLE other;
    CK_RV rv;
    EVP_PKEY *pkey;

    pkey = twin_from_object(ctx, token, session, key, object, &rv);
    /* Private EC and EdDSA key objects rarely carry the point. */
    if (pkey == NULL && key->object.object_class == CKO_PRIVATE_KEY
        && find_companion(token, session, key, CKO_PUBLIC_KEY, &other))
        pkey = twin_from_object(ctx, token, session, key, other, &rv);
    if (pkey == NULL && key->object.object_class == CKO_PRIVATE_KEY
        && find_companion(token, session, key, CKO_CERTIFICATE, &other))
        pkey = twin_from_certificate(ctx, token, session, key, other);
    if (pkey == NULL) {
        char buf[P11PROV_CKR_NAME_MAX];
        P11PROV_RAISE(ctx, P11PROV_R_MODULE_BAD_ANSWER,
                      "no usable public key for %s (not on the object, nor a "
                      "public key or certificate with its id): %s",
                      key->object.uri, p11prov_ckr_name(rv, buf));
    }
    return pkey;
}
