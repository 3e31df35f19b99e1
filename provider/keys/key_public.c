/* The public part of a token key, as a software key for public-key work:
 * from the key object's own attributes as they were read, else from a
 * public key object or certificate with the same CKA_ID (found by the
 * caller for many keys at once, or here for one). */
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

/* Attributes that hold a key's public part, on a key or public key
 * object. */
const CK_ATTRIBUTE_TYPE p11prov_public_attribute_types[] = {
    CKA_MODULUS,
    CKA_PUBLIC_EXPONENT,
    CKA_EC_PARAMS,
    CKA_EC_POINT,
};
const size_t p11prov_public_attribute_count =
    sizeof(p11prov_public_attribute_types)
    / sizeof(p11prov_public_attribute_types[0]);

/* A Cryptoki big integer's value without its leading zero bytes. */
static void integer_value(const CK_ATTRIBUTE *a, const unsigned char **value,
                          CK_ULONG *len)
{
    *value = a->pValue;
    *len = a->ulValueLen;
    while (*len > 0 && **value == 0) {
        (*value)++;
        (*len)--;
    }
}

const char *p11prov_rsa_public_fault(const CK_ATTRIBUTE *n,
                                     const CK_ATTRIBUTE *e)
{
    const unsigned char *n_value = NULL, *e_value;
    CK_ULONG n_len = 0, e_len;

    if (n != NULL) {
        integer_value(n, &n_value, &n_len);
        int bits = p11prov_modulus_bits(n_value, n_len);
        if (bits < P11PROV_RSA_MIN_BITS)
            return "a modulus shorter than 512 bits";
        if (bits > P11PROV_RSA_MAX_BITS)
            return "a modulus longer than 16384 bits";
        if (!(n_value[n_len - 1] & 1))
            return "an even modulus";
    }
    if (e != NULL) {
        integer_value(e, &e_value, &e_len);
        if (e_len == 0 || (e_len == 1 && e_value[0] == 1))
            return "a public exponent below 3";
        if (!(e_value[e_len - 1] & 1))
            return "an even public exponent";
        if (n != NULL && e_len >= n_len)
            return "a public exponent as long as the modulus";
    }
    return NULL;
}

static EVP_PKEY *rsa_twin(P11PROV_CTX *ctx, const CK_ATTRIBUTE *n,
                          const CK_ATTRIBUTE *e)
{
    const char *fault = p11prov_rsa_public_fault(n, e);

    if (fault != NULL) {
        P11PROV_RAISE(ctx, P11PROV_R_MODULE_BAD_ANSWER,
                      "the token's RSA public key has %s", fault);
        return NULL;
    }
    BIGNUM *bn_n = BN_bin2bn(n->pValue, (int)n->ulValueLen, NULL);
    BIGNUM *bn_e = BN_bin2bn(e->pValue, (int)e->ulValueLen, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *built = NULL;
    EVP_PKEY *pkey = NULL;

    /* Cryptoki integers are big-endian; OSSL_PARAM BNs native. */
    if (bld != NULL && bn_n != NULL && bn_e != NULL
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n)
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e)
        && (built = OSSL_PARAM_BLD_to_param(bld)) != NULL)
        pkey = twin_from_params(ctx, "RSA", built);
    OSSL_PARAM_free(built);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    return pkey;
}

static EVP_PKEY *ec_twin(P11PROV_CTX *ctx, P11PROV_KEY_KIND kind,
                         const CK_ATTRIBUTE *params_der,
                         const CK_ATTRIBUTE *point_der)
{
    const unsigned char *point = point_der->pValue;
    CK_ULONG point_len = point_der->ulValueLen;
    P11PROV_KEY_KIND object_kind;
    const char *group = NULL;
    OSSL_PARAM params[3], *p = params;

    /* An Edwards point has one length: bare, it is never taken for DER
     * (a 32-byte Ed25519 point may begin 04 1e). */
    CK_ULONG bare = kind == P11PROV_KEY_ED25519 ? 32
                    : kind == P11PROV_KEY_ED448 ? 57
                                                : 0;
    if (point_len != bare)
        unwrap_point(&point, &point_len);
    if (!p11prov_ec_params_kind(params_der->pValue, params_der->ulValueLen,
                                &object_kind, &group)
        || object_kind != kind) {
        P11PROV_RAISE(ctx, P11PROV_R_MODULE_BAD_ANSWER,
                      "the token's CKA_EC_PARAMS name no %s curve",
                      p11prov_key_kind_name(kind));
        return NULL;
    }
    if (group != NULL)
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                (char *)group, 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                             (void *)point, point_len);
    *p = OSSL_PARAM_construct_end();
    EVP_PKEY *pkey = twin_from_params(ctx, p11prov_key_kind_name(kind),
                                      params);
    /* The import decodes the point; the check refuses the point at
     * infinity, which decodes. */
    EVP_PKEY_CTX *check = pkey != NULL && kind == P11PROV_KEY_EC
                              ? EVP_PKEY_CTX_new_from_pkey(
                                    ctx->libctx, pkey, P11PROV_SOFTWARE_PROPQ)
                              : NULL;
    if (pkey != NULL && kind == P11PROV_KEY_EC
        && (check == NULL || EVP_PKEY_public_check_quick(check) <= 0)) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(check);
    if (pkey == NULL)
        P11PROV_RAISE(ctx, P11PROV_R_MODULE_BAD_ANSWER,
                      "the token's CKA_EC_POINT is no public key on %s",
                      group != NULL ? group : p11prov_key_kind_name(kind));
    return pkey;
}

EVP_PKEY *p11prov_public_from_attributes(P11PROV_CTX *ctx,
                                         P11PROV_KEY_KIND kind,
                                         const CK_ATTRIBUTE *attrs,
                                         CK_ULONG count)
{
    if (kind == P11PROV_KEY_RSA || kind == P11PROV_KEY_RSA_PSS) {
        const CK_ATTRIBUTE *n = p11prov_attribute_find(attrs, count,
                                                       CKA_MODULUS);
        const CK_ATTRIBUTE *e = p11prov_attribute_find(attrs, count,
                                                       CKA_PUBLIC_EXPONENT);
        return n != NULL && e != NULL ? rsa_twin(ctx, n, e) : NULL;
    }
    const CK_ATTRIBUTE *params = p11prov_attribute_find(attrs, count,
                                                        CKA_EC_PARAMS);
    const CK_ATTRIBUTE *point = p11prov_attribute_find(attrs, count,
                                                       CKA_EC_POINT);
    return params != NULL && point != NULL ? ec_twin(ctx, kind, params, point)
                                           : NULL;
}

/* A certificate's key meets what a token's own would have to: the RSA
 * checks of p11prov_rsa_public_fault, a point on its curve. */
static bool usable_public_key(P11PROV_CTX *ctx, P11PROV_KEY_KIND kind,
                              EVP_PKEY *pkey)
{
    const char *fault = NULL;

    if (kind == P11PROV_KEY_RSA || kind == P11PROV_KEY_RSA_PSS) {
        BIGNUM *n = NULL, *e = NULL;
        unsigned char n_bytes[P11PROV_RSA_MAX_BITS / 8 + 1], e_bytes[64];
        int n_len = 0, e_len = 0;
        if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n)
            && EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e)
            && BN_num_bytes(n) <= (int)sizeof(n_bytes)
            && BN_num_bytes(e) <= (int)sizeof(e_bytes)) {
            n_len = BN_bn2bin(n, n_bytes);
            e_len = BN_bn2bin(e, e_bytes);
        }
        BN_free(n);
        BN_free(e);
        CK_ATTRIBUTE n_attr = { CKA_MODULUS, n_bytes, (CK_ULONG)n_len };
        CK_ATTRIBUTE e_attr = { CKA_PUBLIC_EXPONENT, e_bytes,
                                (CK_ULONG)e_len };
        fault = n_len > 0 ? p11prov_rsa_public_fault(&n_attr, &e_attr)
                          : "a modulus out of range";
    } else if (kind == P11PROV_KEY_EC) {
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(
            ctx->libctx, pkey, P11PROV_SOFTWARE_PROPQ);
        if (check == NULL || EVP_PKEY_public_check_quick(check) <= 0)
            fault = "a point off its curve";
        EVP_PKEY_CTX_free(check);
    }
    if (fault != NULL)
        P11PROV_RAISE(ctx, P11PROV_R_MODULE_BAD_ANSWER,
                      "the token's certificate holds a public key with %s",
                      fault);
    return fault == NULL;
}

EVP_PKEY *p11prov_public_from_certificate(P11PROV_CTX *ctx,
                                          P11PROV_KEY_KIND kind,
                                          const unsigned char *der,
                                          CK_ULONG der_len)
{
    X509 *x509 = X509_new_ex(ctx->libctx, P11PROV_SOFTWARE_PROPQ);
    const unsigned char *p = der;
    EVP_PKEY *pkey = NULL;

    if (x509 != NULL && d2i_X509(&x509, &p, (long)der_len) != NULL
        && p == der + der_len) {
        EVP_PKEY *in_cert = X509_get0_pubkey(x509);
        if (in_cert != NULL
            && EVP_PKEY_is_a(in_cert, p11prov_key_kind_name(kind))
            && usable_public_key(ctx, kind, in_cert)
            && EVP_PKEY_up_ref(in_cert))
            pkey = in_cert;
    }
    X509_free(x509);
    return pkey;
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

EVP_PKEY *p11prov_public_from_object(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                                     CK_SESSION_HANDLE session,
                                     P11PROV_KEY_KIND kind,
                                     CK_OBJECT_HANDLE object)
{
    CK_ATTRIBUTE attrs[4];
    EVP_PKEY *pkey = NULL;

    for (size_t i = 0; i < p11prov_public_attribute_count; i++)
        attrs[i].type = p11prov_public_attribute_types[i];
    CK_RV rv = p11prov_get_attributes(token, session, object, attrs,
                                      p11prov_public_attribute_count);
    if (rv == CKR_OK) {
        pkey = p11prov_public_from_attributes(ctx, kind, attrs,
                                              p11prov_public_attribute_count);
        p11prov_attributes_free(attrs, p11prov_public_attribute_count);
    } else {
        char *token_uri = p11prov_token_uri(token);
        p11prov_raise_read(
            ctx, rv, "reading a public key object", token_uri,
            p11prov_bad_attribute(attrs, p11prov_public_attribute_count));
        OPENSSL_free(token_uri);
    }
    return pkey;
}

EVP_PKEY *p11prov_public_from_companion(P11PROV_CTX *ctx,
                                        P11PROV_TOKEN *token,
                                        CK_SESSION_HANDLE session,
                                        const P11PROV_KEY *key)
{
    CK_OBJECT_HANDLE other;
    EVP_PKEY *pkey = NULL;

    if (find_companion(token, session, key, CKO_PUBLIC_KEY, &other))
        pkey = p11prov_public_from_object(ctx, token, session, key->kind,
                                          other);
    if (pkey == NULL
        && find_companion(token, session, key, CKO_CERTIFICATE, &other)) {
        unsigned char *der;
        CK_ULONG der_len;
        if (p11prov_get_attribute(token, session, other, CKA_VALUE, &der,
                                  &der_len)
            == CKR_OK) {
            pkey = p11prov_public_from_certificate(ctx, key->kind, der,
                                                   der_len);
            OPENSSL_free(der);
        }
    }
    return pkey;
}

int p11prov_key_no_public(P11PROV_CTX *ctx, const P11PROV_KEY *key)
{
    P11PROV_RAISE(ctx, P11PROV_R_MODULE_BAD_ANSWER,
                  "no usable public key for %s (not on the object, nor a "
                  "public key or certificate with its id)",
                  key->object.uri);
    return 0;
}
