/*
 * libFuzzer target for what the provider builds from a token's answers:
 * key objects (keys/key.c: type, curve, usages, allowed mechanisms), their
 * public parts (keys/key_public.c from the object's own attributes, from
 * public key objects and certificates, keys/key_companions.c the way the
 * store pairs them by id), the curve of CKA_EC_PARAMS (keys/key_kind.c),
 * certificates as the store reads them (ops/store_search.c), and the
 * attribute reads all of it goes through (core/object.c).
 *
 * The input is a token (fuzz_token.h: objects of fuzzed attributes, and
 * the ways the in-process module reports sizes). It is read as the pkcs11
 * store reads a URI naming the first object's id (else its label): one
 * search for every class, the classes read back, private keys with their
 * companions, then the public key objects, then the certificates; the
 * public parts built afterwards, as OpenSSL asks for them.
 *
 * Invariants (a violation is printed, then abort(): a libFuzzer crash):
 *  - searches find exactly the objects the template matches, in order;
 *  - every value the provider keeps is the token's, byte for byte, never
 *    truncated; ids and labels the token gives are kept;
 *  - a key object that is not read raised an error, unless its type is
 *    one the provider leaves alone;
 *  - a key is RSA exactly when CKA_KEY_TYPE says CKK_RSA, EC for CKK_EC,
 *    EdDSA for CKK_EC_EDWARDS; an EC key's curve is one OpenSSL has;
 *  - a public part built is of the key's kind and has the size announced
 *    before it was built; RSA: the modulus the key object holds, odd,
 *    of its CKA_MODULUS_BITS, the exponent odd, > 1 and < n; EC: the key
 *    object's curve and point, on the curve; EdDSA: the object's point;
 *  - a key from a certificate is that certificate's key, and only from a
 *    DER certificate that parses whole;
 *  - a certificate matches a store search for its own subject, issuer and
 *    serial.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "core/context.h"
#include "core/module.h"
#include "core/object.h"
#include "core/sessions.h"
#include "core/token_lookup.h"
#include "core/tokens.h"
#include "fuzz_token.h"
#include "keys/key.h"
#include "ops/store_search.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Named, line and condition: the optimiser merges bare traps. */
#define REQUIRE(cond)                                                        \
    do {                                                                     \
        if (!(cond))                                                         \
            invariant_failed(__LINE__, #cond);                               \
    } while (0)

__attribute__((noreturn, noinline)) static void invariant_failed(
    int line, const char *condition)
{
    fprintf(stderr, "fuzz_key_attributes.c:%d: invariant failed: %s\n", line,
            condition);
    ERR_print_errors_fp(stderr); /* what the provider said, if anything */
    abort();
}

#define MAX_TOKEN_INPUT 16384

static P11PROV_CTX ctx; /* the default library context */
static P11PROV_MODULE module;
static P11PROV_TOKEN *token;
static char module_path[] = "fuzz token (in process)";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    P11PROV_TOKEN **tokens = NULL;
    size_t count = 0;
    p11uri *uri = NULL;

    (void)argc;
    (void)argv;
    /* A module record as p11prov_module_for_uri makes one, for a
     * function list that is no library. */
    module.path = module_path;
    module.fns = fuzz_token_functions();
    module.we_initialized = true;
    module.init_count = 1;
    pthread_mutex_init(&module.call_lock, NULL);
    pthread_mutex_init(&module.fork_lock, NULL);
    pthread_mutex_init(&module.tokens_lock, NULL);
    if (module.fns->C_GetInfo(&module.info) != CKR_OK
        || p11uri_parse("pkcs11:token=fuzz-token", &uri, NULL) != P11URI_OK
        || !p11prov_tokens_find(&ctx, &module, uri, &tokens, &count)
        || count != 1) {
        ERR_print_errors_fp(stderr);
        abort();
    }
    token = tokens[0];
    OPENSSL_free(tokens);
    p11uri_free(uri);
    return 0;
}

static const FUZZ_OBJECT *object_of(const FUZZ_TOKEN *t,
                                    CK_OBJECT_HANDLE handle)
{
    REQUIRE(handle >= FUZZ_TOKEN_HANDLE_BASE
            && handle - FUZZ_TOKEN_HANDLE_BASE < t->count);
    return &t->objects[handle - FUZZ_TOKEN_HANDLE_BASE];
}

static bool same_bytes(const void *value, CK_ULONG len, const FUZZ_ATTR *a)
{
    return a != NULL && value != NULL && len == a->len
           && (len == 0 || memcmp(value, a->value, len) == 0);
}

/* A value kept from an attribute the reader must not lose (id, label):
 * exactly the token's, or nothing when the token does not reveal it. */
static void require_kept(const void *value, CK_ULONG len, const FUZZ_ATTR *a)
{
    if (a == NULL)
        REQUIRE(value == NULL);
    else
        REQUIRE(same_bytes(value, len, a));
}

static bool is_true(const FUZZ_OBJECT *object, CK_ATTRIBUTE_TYPE type)
{
    const FUZZ_ATTR *a = fuzz_object_readable(object, type);

    return a != NULL && a->len == sizeof(CK_BBOOL) && a->value[0] == CK_TRUE;
}

/* Objects the template selects, as p11prov_find_objects returns them. */
static CK_OBJECT_HANDLE *find(const FUZZ_TOKEN *t, CK_SESSION_HANDLE session,
                              CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_ULONG *count)
{
    CK_OBJECT_HANDLE *handles = NULL;
    CK_ULONG expected = 0;

    REQUIRE(p11prov_find_objects(token, session, tmpl, n, &handles, count)
            == CKR_OK);
    for (size_t i = 0; i < t->count; i++)
        if (fuzz_object_matches(&t->objects[i], tmpl, n)) {
            REQUIRE(expected < *count);
            REQUIRE(handles[expected++] == FUZZ_TOKEN_HANDLE_BASE + i);
        }
    REQUIRE(*count == expected);
    return handles;
}

/* p11prov_get_ulong's answer against the token's value. */
static CK_RV read_ulong(const FUZZ_TOKEN *t, CK_SESSION_HANDLE session,
                        CK_OBJECT_HANDLE handle, CK_ATTRIBUTE_TYPE type,
                        CK_ULONG *value)
{
    CK_ULONG expected = 0;
    bool readable = fuzz_object_ulong(object_of(t, handle), type, &expected);
    CK_RV rv = p11prov_get_ulong(token, session, handle, type, value);

    REQUIRE((rv == CKR_OK) == readable);
    REQUIRE(rv != CKR_OK || *value == expected);
    return rv;
}

/* The curve a name of OpenSSL's designates (short, NIST or long name). */
static int curve_nid(const char *name)
{
    int nid = OBJ_sn2nid(name);

    if (nid == NID_undef)
        nid = EC_curve_nist2nid(name);
    if (nid == NID_undef)
        nid = OBJ_ln2nid(name);
    return nid;
}

static void require_curve(const char *group_name)
{
    EC_GROUP *group;

    REQUIRE(group_name != NULL);
    group = EC_GROUP_new_by_curve_name(curve_nid(group_name));
    REQUIRE(group != NULL);
    EC_GROUP_free(group);
}

/* Whatever CKA_EC_PARAMS the token holds: a curve OpenSSL has, or an
 * Edwards curve, or nothing. */
static void check_ec_params(const FUZZ_ATTR *params)
{
    P11PROV_KEY_KIND kind;
    const char *group_name = NULL;

    if (!p11prov_ec_params_kind(params->value, params->len, &kind,
                                &group_name))
        return;
    if (kind == P11PROV_KEY_EC)
        require_curve(group_name);
    else
        REQUIRE((kind == P11PROV_KEY_ED25519 || kind == P11PROV_KEY_ED448)
                && group_name == NULL);
}

/* A key just read from object: the kind its type says, the values the
 * token holds. */
static void check_key_read(const FUZZ_OBJECT *object,
                           CK_OBJECT_CLASS object_class,
                           const P11PROV_KEY *key, bool unsupported)
{
    const FUZZ_ATTR *allowed = fuzz_object_readable(object,
                                                    CKA_ALLOWED_MECHANISMS);
    CK_KEY_TYPE key_type;

    if (key == NULL) {
        /* Refused (a bad value, an inconsistent module): never silently. */
        REQUIRE(unsupported || ERR_peek_error() != 0);
        return;
    }
    REQUIRE(!unsupported);
    REQUIRE(fuzz_object_ulong(object, CKA_KEY_TYPE, &key_type));
    REQUIRE(key->key_type == key_type);
    switch (key_type) {
    case CKK_RSA:
        REQUIRE(key->kind == P11PROV_KEY_RSA);
        break;
    case CKK_EC:
        REQUIRE(key->kind == P11PROV_KEY_EC);
        require_curve(key->group_name);
        break;
    case CKK_EC_EDWARDS:
        REQUIRE(key->kind == P11PROV_KEY_ED25519
                || key->kind == P11PROV_KEY_ED448);
        break;
    default:
        REQUIRE(!"a key of a type the provider does not know");
    }
    REQUIRE(key->object.uri != NULL);
    require_kept(key->object.id, key->object.id_len,
                 fuzz_object_readable(object, CKA_ID));
    require_kept(key->object.label, key->object.label_len,
                 fuzz_object_readable(object, CKA_LABEL));
    /* Public attributes may be left out (too long to be real), never
     * altered. */
    for (size_t i = 0; i < p11prov_public_attribute_count; i++)
        if (key->own_public[i].pValue != NULL)
            REQUIRE(same_bytes(
                key->own_public[i].pValue, key->own_public[i].ulValueLen,
                fuzz_object_readable(object, key->own_public[i].type)));
    if (object_class != CKO_PRIVATE_KEY)
        return;
    REQUIRE(key->can_sign == is_true(object, CKA_SIGN));
    REQUIRE(key->can_decrypt == is_true(object, CKA_DECRYPT));
    REQUIRE(key->can_derive == is_true(object, CKA_DERIVE));
    REQUIRE(key->object.always_authenticate
            == is_true(object, CKA_ALWAYS_AUTHENTICATE));
    if (key->allowed != NULL)
        REQUIRE(same_bytes(key->allowed,
                           key->allowed_count * sizeof(CK_MECHANISM_TYPE),
                           allowed));
    else
        REQUIRE(allowed == NULL || allowed->len == 0);
}

static BIGNUM *bn_param(const EVP_PKEY *pkey, const char *name)
{
    BIGNUM *bn = NULL;

    REQUIRE(EVP_PKEY_get_bn_param(pkey, name, &bn) && bn != NULL);
    return bn;
}

/* An object's value as the provider can see it. A value longer than any
 * real one (the provider's buffers for these attributes hold every real
 * value) comes back CK_UNAVAILABLE_INFORMATION, as an absent one does,
 * and the call's code may then say CKR_ATTRIBUTE_TYPE_INVALID for both
 * (PKCS#11 lets a module return any of the codes that apply): telling
 * the two apart would cost every key a second read. Such a value is not
 * a key's; only the others are held against the public part. */
static const FUZZ_ATTR *plausible(const FUZZ_OBJECT *object,
                                  CK_ATTRIBUTE_TYPE type, size_t most)
{
    const FUZZ_ATTR *a = fuzz_object_readable(object, type);

    return a != NULL && a->len <= most ? a : NULL;
}

static void check_rsa(const EVP_PKEY *pkey, const FUZZ_OBJECT *object)
{
    BIGNUM *n = bn_param(pkey, OSSL_PKEY_PARAM_RSA_N);
    BIGNUM *e = bn_param(pkey, OSSL_PKEY_PARAM_RSA_E);
    const FUZZ_ATTR *modulus = plausible(object, CKA_MODULUS, 2048);
    const FUZZ_ATTR *exponent = plausible(object, CKA_PUBLIC_EXPONENT, 64);
    CK_ULONG bits;

    REQUIRE(BN_is_odd(n));
    REQUIRE(BN_is_odd(e) && !BN_is_one(e) && BN_cmp(e, n) < 0);
    if (fuzz_object_ulong(object, CKA_MODULUS_BITS, &bits))
        REQUIRE((CK_ULONG)BN_num_bits(n) == bits);
    /* The object's own modulus and exponent, when it shows them, are
     * the key's: not another object's. */
    if (modulus != NULL) {
        BIGNUM *own = BN_bin2bn(modulus->value, (int)modulus->len, NULL);
        REQUIRE(own != NULL && BN_cmp(own, n) == 0);
        BN_free(own);
    }
    if (exponent != NULL) {
        BIGNUM *own = BN_bin2bn(exponent->value, (int)exponent->len, NULL);
        REQUIRE(own != NULL && BN_cmp(own, e) == 0);
        BN_free(own);
    }
    BN_free(n);
    BN_free(e);
}

/* The bytes of a CKA_EC_POINT: a DER OCTET STRING that spans it, else the
 * bare point (some modules). */
static const unsigned char *point_content(const FUZZ_ATTR *a, size_t *len,
                                          ASN1_OCTET_STRING **wrapper)
{
    const unsigned char *p = a->value;

    *wrapper = d2i_ASN1_OCTET_STRING(NULL, &p, (long)a->len);
    if (*wrapper != NULL && p == a->value + a->len) {
        *len = (size_t)ASN1_STRING_length(*wrapper);
        return ASN1_STRING_get0_data(*wrapper);
    }
    *len = a->len;
    return a->value;
}

/* Whether octets encode the same point as the key's, on its group. */
static bool same_ec_point(const EVP_PKEY *pkey, const EC_GROUP *group,
                          const unsigned char *octets, size_t len)
{
    unsigned char ours[256];
    size_t ours_len = 0;
    EC_POINT *a = EC_POINT_new(group), *b = EC_POINT_new(group);
    bool same;

    REQUIRE(EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY,
                                            ours, sizeof(ours), &ours_len));
    same = a != NULL && b != NULL
           && EC_POINT_oct2point(group, a, ours, ours_len, NULL)
           && EC_POINT_oct2point(group, b, octets, len, NULL)
           && EC_POINT_cmp(group, a, b, NULL) == 0;
    EC_POINT_free(a);
    EC_POINT_free(b);
    return same;
}

/* The key object's point, when it shows one, is the public part's. */
static void check_own_point(const EVP_PKEY *pkey, const EC_GROUP *group,
                            const FUZZ_OBJECT *object)
{
    const FUZZ_ATTR *point = plausible(object, CKA_EC_POINT, 512);
    ASN1_OCTET_STRING *wrapper;
    const unsigned char *content;
    size_t len;
    bool same;

    if (point == NULL)
        return;
    content = point_content(point, &len, &wrapper);
    if (group != NULL) {
        same = same_ec_point(pkey, group, content, len)
               || same_ec_point(pkey, group, point->value, point->len);
    } else {
        unsigned char raw[64];
        size_t raw_len = sizeof(raw);
        REQUIRE(EVP_PKEY_get_raw_public_key(pkey, raw, &raw_len));
        same = (raw_len == len && memcmp(raw, content, len) == 0)
               || (raw_len == point->len
                   && memcmp(raw, point->value, raw_len) == 0);
    }
    ASN1_OCTET_STRING_free(wrapper);
    REQUIRE(same);
}

static void check_ec(const EVP_PKEY *pkey, const P11PROV_KEY *key,
                     const FUZZ_OBJECT *object)
{
    char name[80];
    EVP_PKEY_CTX *pctx;
    EC_GROUP *group;

    REQUIRE(EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                           name, sizeof(name), NULL));
    REQUIRE(curve_nid(name) == curve_nid(key->group_name));
    pctx = EVP_PKEY_CTX_new_from_pkey(NULL, (EVP_PKEY *)pkey, NULL);
    REQUIRE(pctx != NULL && EVP_PKEY_public_check_quick(pctx) == 1);
    EVP_PKEY_CTX_free(pctx);
    group = EC_GROUP_new_by_curve_name(curve_nid(name));
    REQUIRE(group != NULL);
    check_own_point(pkey, group, object);
    EC_GROUP_free(group);
}

/* The public part, built now as OpenSSL would ask for it. */
static void check_public(P11PROV_KEY *key, const FUZZ_OBJECT *object)
{
    int announced = key->profile.bits;
    EVP_PKEY *pkey = p11prov_key_public(key);

    if (pkey == NULL)
        return;
    REQUIRE(EVP_PKEY_is_a(pkey, p11prov_key_kind_name(key->kind)));
    REQUIRE(announced <= 0 || EVP_PKEY_get_bits(pkey) == announced);
    REQUIRE(key->profile.bits == EVP_PKEY_get_bits(pkey));
    switch (key->kind) {
    case P11PROV_KEY_RSA:
    case P11PROV_KEY_RSA_PSS:
        check_rsa(pkey, object);
        break;
    case P11PROV_KEY_EC:
        check_ec(pkey, key, object);
        break;
    case P11PROV_KEY_ED25519:
    case P11PROV_KEY_ED448:
        check_own_point(pkey, NULL, object);
        break;
    }
}

/* The name a URI gives the first object (its id, else its label), and
 * CKA_TOKEN, as the store's templates start. */
static CK_ULONG name_template(const FUZZ_TOKEN *t, CK_ATTRIBUTE *tmpl,
                              CK_BBOOL *on_token)
{
    const FUZZ_ATTR *id = fuzz_object_attr(&t->objects[0], CKA_ID);
    const FUZZ_ATTR *label = fuzz_object_attr(&t->objects[0], CKA_LABEL);
    const FUZZ_ATTR *name = id != NULL ? id : label;
    CK_ULONG n = 0;

    if (name != NULL)
        tmpl[n++] = (CK_ATTRIBUTE){ name->type, (void *)name->value,
                                    name->len };
    *on_token = CK_TRUE;
    tmpl[n++] = (CK_ATTRIBUTE){ CKA_TOKEN, on_token, sizeof(*on_token) };
    return n;
}

static CK_SESSION_HANDLE borrow(void)
{
    CK_SESSION_HANDLE session;

    REQUIRE(p11prov_session_borrow(&ctx, token, &session) == CKR_OK);
    return session;
}

/* Keys of one class, as the store collects them, then their public
 * parts; private keys with the public key objects and certificates the
 * same search found (when the URI names them) as companions. */
static void read_keys(const FUZZ_TOKEN *t, CK_OBJECT_CLASS object_class)
{
    CK_ATTRIBUTE tmpl[4];
    CK_BBOOL on_token;
    CK_ULONG n = name_template(t, tmpl, &on_token), count = 0;
    bool with_companions = object_class == CKO_PRIVATE_KEY && n > 1;
    P11PROV_COMPANIONS *companions = NULL;
    P11PROV_KEY *keys[FUZZ_TOKEN_MAX_OBJECTS];
    const FUZZ_OBJECT *objects[FUZZ_TOKEN_MAX_OBJECTS];
    size_t key_count = 0;
    CK_SESSION_HANDLE session = borrow();
    CK_RV rv = CKR_OK;

    if (object_class == CKO_PRIVATE_KEY) {
        companions = p11prov_companions_new(&ctx, token, tmpl, n);
        REQUIRE(companions != NULL);
    }
    if (!with_companions)
        tmpl[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &object_class,
                                    sizeof(object_class) };
    CK_OBJECT_HANDLE *handles = find(t, session, tmpl, n, &count);
    for (CK_ULONG i = 0; rv == CKR_OK && i < count; i++) {
        CK_OBJECT_CLASS found_class = object_class;
        if (with_companions) {
            rv = read_ulong(t, session, handles[i], CKA_CLASS, &found_class);
            if (rv != CKR_OK)
                break; /* the store gives the search up */
            if (found_class == CKO_PUBLIC_KEY
                || found_class == CKO_CERTIFICATE)
                REQUIRE(p11prov_companions_know(companions, found_class,
                                                handles[i]));
            if (found_class != CKO_PRIVATE_KEY)
                continue;
        }
        bool unsupported;
        const FUZZ_OBJECT *object = object_of(t, handles[i]);
        ERR_clear_error(); /* what follows is this read's */
        P11PROV_KEY *key = p11prov_key_from_token(&ctx, token, session,
                                                  handles[i], object_class,
                                                  companions, &unsupported);
        check_key_read(object, object_class, key, unsupported);
        if (key != NULL) {
            keys[key_count] = key;
            objects[key_count++] = object;
        }
    }
    if (rv == CKR_OK && with_companions)
        p11prov_companions_all_known(companions);
    p11prov_companions_unref(companions);
    OPENSSL_free(handles);
    p11prov_session_return(token, session, true);
    for (size_t k = 0; k < key_count; k++) {
        check_public(keys[k], objects[k]);
        p11prov_key_unref(keys[k]);
    }
}

/* A search for the certificate's own subject, issuer and serial. */
static void check_own_search(const unsigned char *der, CK_ULONG der_len,
                             X509 *cert)
{
    const X509_NAME *subject = X509_get_subject_name(cert);
    const X509_NAME *issuer = X509_get_issuer_name(cert);
    STORE_SEARCH search;
    int len;

    /* A name OpenSSL cannot compare with itself cannot match anything. */
    if (X509_NAME_cmp(subject, subject) != 0
        || X509_NAME_cmp(issuer, issuer) != 0)
        return;
    memset(&search, 0, sizeof(search));
    if ((len = i2d_X509_NAME(subject, &search.subject)) > 0)
        search.subject_len = (CK_ULONG)len;
    if ((len = i2d_X509_NAME(issuer, &search.issuer)) > 0)
        search.issuer_len = (CK_ULONG)len;
    if ((len = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &search.serial))
        > 0)
        search.serial_len = (CK_ULONG)len;
    if (search.subject_len > 0 && search.issuer_len > 0
        && search.serial_len > 0)
        REQUIRE(p11prov_store_search_cert_matches(&search, der, der_len));
    p11prov_store_search_free(&search);
}

/* A certificate's DER as the store hands it out and key_public.c takes
 * keys from it. */
static void check_certificate(const unsigned char *der, CK_ULONG der_len)
{
    static const P11PROV_KEY_KIND kinds[] = {
        P11PROV_KEY_RSA,
        P11PROV_KEY_EC,
        P11PROV_KEY_ED25519,
        P11PROV_KEY_ED448,
    };
    const unsigned char *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long)der_len);
    bool whole = cert != NULL && p == der + der_len;

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        EVP_PKEY *pkey = p11prov_public_from_certificate(&ctx, kinds[i], der,
                                                         der_len);
        if (pkey == NULL)
            continue;
        REQUIRE(whole);
        REQUIRE(EVP_PKEY_is_a(pkey, p11prov_key_kind_name(kinds[i])));
        REQUIRE(EVP_PKEY_eq(pkey, X509_get0_pubkey(cert)) == 1);
        EVP_PKEY_free(pkey);
    }
    if (cert != NULL)
        check_own_search(der, der_len, cert);
    X509_free(cert);
}

/* Certificates as the store reads them (type, value, id, label). */
static void read_certificates(const FUZZ_TOKEN *t)
{
    CK_OBJECT_CLASS object_class = CKO_CERTIFICATE;
    CK_ATTRIBUTE tmpl[4];
    CK_BBOOL on_token;
    CK_ULONG n = name_template(t, tmpl, &on_token), count = 0;
    CK_SESSION_HANDLE session = borrow();

    tmpl[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &object_class,
                                sizeof(object_class) };
    CK_OBJECT_HANDLE *handles = find(t, session, tmpl, n, &count);
    for (CK_ULONG i = 0; i < count; i++) {
        const FUZZ_OBJECT *object = object_of(t, handles[i]);
        const FUZZ_ATTR *value = fuzz_object_readable(object, CKA_VALUE);
        CK_ULONG cert_type, der_len;
        unsigned char *der;
        if (read_ulong(t, session, handles[i], CKA_CERTIFICATE_TYPE,
                       &cert_type)
            != CKR_OK)
            break; /* the store gives the search up */
        if (cert_type != CKC_X_509)
            continue;
        if (p11prov_get_attribute(token, session, handles[i], CKA_VALUE, &der,
                                  &der_len)
            != CKR_OK) {
            REQUIRE(value == NULL || (t->quirks & FUZZ_TOKEN_UNDERSIZE));
            break;
        }
        REQUIRE(same_bytes(der, der_len, value));
        check_certificate(der, der_len);
        OPENSSL_free(der);
    }
    OPENSSL_free(handles);
    p11prov_session_return(token, session, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FUZZ_TOKEN t;

    if (size > MAX_TOKEN_INPUT)
        return 0;
    fuzz_token_parse(&t, data, size);
    /* The previous input's token is gone, with its sessions. */
    p11prov_tokens_forget(&module);
    fuzz_token_serve(&t);
    for (size_t i = 0; i < t.count; i++)
        for (size_t j = 0; j < t.objects[i].count; j++)
            if (t.objects[i].attrs[j].type == CKA_EC_PARAMS)
                check_ec_params(&t.objects[i].attrs[j]);
    read_keys(&t, CKO_PRIVATE_KEY);
    read_keys(&t, CKO_PUBLIC_KEY);
    read_certificates(&t);
    fuzz_token_serve(NULL);
    ERR_clear_error();
    return 0;
}
