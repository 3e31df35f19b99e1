/* Key pair generation on the token: C_GenerateKeyPair on a read-write
 * session, with templates that keep the private key inside. */
#include "keys/token_keygen.h"

#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rand.h>

#include "core/login.h"
#include "core/module.h"
#include "core/object.h"
#include "core/runner.h"
#include "core/sessions.h"
#include "core/token_lookup.h"

#define GENERATED_ID_LEN 16
#define MAX_TEMPLATE 16

typedef struct attribute_list {
    CK_ATTRIBUTE attrs[MAX_TEMPLATE];
    CK_ULONG count;
} TEMPLATE;

static void add(TEMPLATE *t, CK_ATTRIBUTE_TYPE type, void *value,
                CK_ULONG len)
{
    if (t->count < MAX_TEMPLATE)
        t->attrs[t->count++] = (CK_ATTRIBUTE){ type, value, len };
}

/* Whether an object with this attribute value already exists. */
static CK_RV exists(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                    CK_ATTRIBUTE_TYPE type, const p11uri_value *value,
                    bool *found)
{
    CK_ATTRIBUTE tmpl = { type, value->data, value->len };
    CK_OBJECT_HANDLE *handles;
    CK_ULONG count;
    CK_RV rv = p11prov_find_objects(token, session, &tmpl, 1, &handles,
                                    &count);

    OPENSSL_free(handles);
    *found = rv == CKR_OK && count > 0;
    return rv;
}

/* CKA_EC_PARAMS: the curve's DER OID; for Ed25519/Ed448, RFC 8410's OID
 * (by_oid), which most modules take (SoftHSM 2.6.1 leaks the curve name
 * it decodes), else the curve name as a PrintableString, PKCS#11 3.0's
 * other form and the only one OP-TEE's TA takes. */
static int ec_params(const P11PROV_KEYGEN_SPEC *spec, bool by_oid,
                     unsigned char **der)
{
    bool edwards = spec->kind == P11PROV_KEY_ED25519
                   || spec->kind == P11PROV_KEY_ED448;
    int nid;

    *der = NULL;
    if (edwards && !by_oid) {
        const char *name = spec->kind == P11PROV_KEY_ED25519 ? "edwards25519"
                                                             : "edwards448";
        size_t len = strlen(name);
        if ((*der = OPENSSL_malloc(2 + len)) == NULL)
            return -1;
        (*der)[0] = 0x13; /* PrintableString */
        (*der)[1] = (unsigned char)len;
        memcpy(*der + 2, name, len);
        return (int)(2 + len);
    }
    if (spec->kind == P11PROV_KEY_ED25519)
        nid = NID_ED25519;
    else if (spec->kind == P11PROV_KEY_ED448)
        nid = NID_ED448;
    else if ((nid = OBJ_sn2nid(spec->group)) == NID_undef)
        nid = EC_curve_nist2nid(spec->group);
    ASN1_OBJECT *oid = nid == NID_undef ? NULL : OBJ_nid2obj(nid);
    return oid ? i2d_ASN1_OBJECT(oid, der) : -1;
}

/* The answers of a module that does not take a template's value. */
static bool template_refused(CK_RV rv)
{
    return rv == CKR_ATTRIBUTE_VALUE_INVALID
           || rv == CKR_ATTRIBUTE_TYPE_INVALID
           || rv == CKR_TEMPLATE_INCONSISTENT || rv == CKR_CURVE_NOT_SUPPORTED
           || rv == CKR_DOMAIN_PARAMS_INVALID;
}

/* Usages the algorithm does not have are turned off after generation,
 * rather than left to the token's defaults (SoftHSM makes every key
 * decrypt and unwrap). Not in the generation template: tpm2-pkcs11 fails
 * (and leaks TPM objects) when a template's usages differ from its own; it
 * also refuses the change, which the runner then only traces. */
static size_t usages_off(bool rsa, bool ec, bool private_key,
                         CK_ATTRIBUTE_TYPE off[3])
{
    size_t n = 0;

    if (private_key) {
        if (!rsa)
            off[n++] = CKA_DECRYPT;
        if (!ec)
            off[n++] = CKA_DERIVE;
        off[n++] = CKA_UNWRAP;
    } else {
        if (!rsa)
            off[n++] = CKA_ENCRYPT;
        off[n++] = CKA_WRAP;
    }
    return n;
}

/* The CKA_ID the new pair gets: the URI's, else a random one (id). */
static CK_ATTRIBUTE pair_id(const p11uri *uri,
                            unsigned char id[GENERATED_ID_LEN])
{
    const p11uri_value *given = &uri->values[P11URI_ID];

    return given->present ? (CK_ATTRIBUTE){ CKA_ID, given->data, given->len }
                          : (CK_ATTRIBUTE){ CKA_ID, id, GENERATED_ID_LEN };
}

static int generate(P11PROV_CTX *ctx, P11PROV_TOKEN *token, const p11uri *uri,
                    const P11PROV_KEYGEN_SPEC *spec, const char *uri_text,
                    unsigned char id[GENERATED_ID_LEN],
                    CK_OBJECT_HANDLE *public_key,
                    CK_OBJECT_HANDLE *private_key)
{
    static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    static unsigned char f4[] = { 0x01, 0x00, 0x01 };
    unsigned char exponent[512];
    const p11uri_value *label = &uri->values[P11URI_OBJECT];
    const p11uri_value *given_id = &uri->values[P11URI_ID];
    CK_MECHANISM mechanism = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
    CK_ULONG bits = spec->rsa_bits ? spec->rsa_bits : 2048;
    TEMPLATE pub = { .count = 0 }, priv = { .count = 0 };
    unsigned char *params = NULL;
    CK_ATTRIBUTE_TYPE public_off[3], private_off[3];
    CK_RV rv;

    for (int i = 0; i < 2; i++) {
        add(i ? &priv : &pub, CKA_TOKEN, &yes, sizeof(yes));
        if (label->present)
            add(i ? &priv : &pub, CKA_LABEL, label->data, label->len);
        if (given_id->present)
            add(i ? &priv : &pub, CKA_ID, given_id->data, given_id->len);
        else
            add(i ? &priv : &pub, CKA_ID, id, GENERATED_ID_LEN);
    }
    if (!given_id->present
        && RAND_bytes_ex(ctx->libctx, id, GENERATED_ID_LEN, 0) <= 0)
        return 0;
    add(&priv, CKA_PRIVATE, &yes, sizeof(yes));
    add(&priv, CKA_SENSITIVE, &yes, sizeof(yes));
    add(&priv, CKA_EXTRACTABLE, &no, sizeof(no));
    add(&priv, CKA_SIGN, &yes, sizeof(yes));
    add(&pub, CKA_VERIFY, &yes, sizeof(yes));
    bool rsa = spec->kind == P11PROV_KEY_RSA
               || spec->kind == P11PROV_KEY_RSA_PSS;
    bool ec = spec->kind == P11PROV_KEY_EC;
    if (rsa) {
        add(&priv, CKA_DECRYPT, &yes, sizeof(yes));
        add(&pub, CKA_ENCRYPT, &yes, sizeof(yes));
    }
    if (ec)
        add(&priv, CKA_DERIVE, &yes, sizeof(yes));
    if (rsa) {
        int exp_len = spec->rsa_exponent
                          ? BN_bn2bin(spec->rsa_exponent, exponent)
                          : 0;
        add(&pub, CKA_MODULUS_BITS, &bits, sizeof(bits));
        if (exp_len > 0)
            add(&pub, CKA_PUBLIC_EXPONENT, exponent, (CK_ULONG)exp_len);
        else
            add(&pub, CKA_PUBLIC_EXPONENT, f4, sizeof(f4));
    } else {
        int len = ec_params(spec, true, &params);
        if (len <= 0) {
            P11PROV_RAISE(ctx, P11PROV_R_BAD_ARGUMENT,
                          "no curve for the new %s key (use e.g. -pkeyopt "
                          "ec_paramgen_curve:P-256)",
                          p11prov_key_kind_name(spec->kind));
            return 0;
        }
        add(&pub, CKA_EC_PARAMS, params, (CK_ULONG)len);
        mechanism.mechanism = ec ? CKM_EC_KEY_PAIR_GEN
                                 : CKM_EC_EDWARDS_KEY_PAIR_GEN;
    }
    P11PROV_KEYPAIR_REQUEST request = {
        .mechanism = &mechanism,
        .public_template = pub.attrs,
        .public_count = pub.count,
        .private_template = priv.attrs,
        .private_count = priv.count,
        .public_off = public_off,
        .public_off_count = usages_off(rsa, ec, false, public_off),
        .private_off = private_off,
        .private_off_count = usages_off(rsa, ec, true, private_off),
    };
    P11PROV_OP_STATUS status = p11prov_token_generate_pair(
        ctx, token, uri_text, &request, public_key, private_key, &rv);
    bool edwards = !rsa && !ec;
    if (edwards && status == P11PROV_OP_INIT_FAILED && template_refused(rv)) {
        /* Nothing was made: the same request with the curve's name. */
        OPENSSL_free(params);
        int len = ec_params(spec, false, &params);
        for (size_t i = 0; i < pub.count && len > 0; i++)
            if (pub.attrs[i].type == CKA_EC_PARAMS)
                pub.attrs[i] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, params,
                                               (CK_ULONG)len };
        if (len > 0)
            status = p11prov_token_generate_pair(
                ctx, token, uri_text, &request, public_key, private_key, &rv);
    }
    OPENSSL_free(params);
    return status == P11PROV_OP_DONE
           || p11prov_token_op_raise(ctx, P11PROV_TOKEN_GENERATE, status,
                                     mechanism.mechanism, uri_text, rv);
}

static P11PROV_TOKEN *the_token(P11PROV_CTX *ctx, const p11uri *uri,
                                const char *uri_text)
{
    P11PROV_MODULE *module = p11prov_module_for_uri(ctx, uri);
    P11PROV_TOKEN **tokens = NULL, *token = NULL;
    size_t count = 0;

    if (module == NULL
        || !p11prov_tokens_find(ctx, module, uri, &tokens, &count)) {
        P11PROV_RAISE(ctx, P11PROV_R_NO_TOKEN, "cannot look for %s",
                      uri_text);
        return NULL;
    }
    if (count == 1)
        token = tokens[0];
    else
        P11PROV_RAISE(ctx, P11PROV_R_NO_TOKEN,
                      "%s matches %zu tokens; a new key needs exactly one",
                      uri_text, count);
    OPENSSL_free(tokens);
    return token;
}

/* No silent duplicates: a label or id the URI gives that is in use is an
 * error. Raises it and returns 0. */
static int names_free(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                      const p11uri *uri, const char *safe_uri)
{
    const p11uri_value *label = &uri->values[P11URI_OBJECT];
    const p11uri_value *id = &uri->values[P11URI_ID];
    bool label_taken = false, id_taken = false;
    CK_SESSION_HANDLE session;
    CK_RV rv;

    if (!label->present && !id->present)
        return 1;
    rv = p11prov_session_borrow(ctx, token, &session);
    if (rv != CKR_OK) {
        P11PROV_RAISE_CKR(ctx, rv, "C_OpenSession", safe_uri);
        return 0;
    }
    if (label->present)
        rv = exists(token, session, CKA_LABEL, label, &label_taken);
    if (rv == CKR_OK && id->present)
        rv = exists(token, session, CKA_ID, id, &id_taken);
    p11prov_session_return(token, session, !p11prov_session_broken(rv));
    if (rv != CKR_OK) {
        P11PROV_RAISE_CKR(ctx, rv, "looking for existing objects", safe_uri);
        return 0;
    }
    if (label_taken || id_taken) {
        P11PROV_RAISE(ctx, P11PROV_R_BAD_ARGUMENT,
                      "%s: the token already has an object with this %s",
                      safe_uri, label_taken ? "label" : "id");
        return 0;
    }
    return 1;
}

/* The key object for the new private key; its public part from the new
 * public key object when the private one lacks it (no search). */
static P11PROV_KEY *new_key(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                            CK_OBJECT_HANDLE public_key,
                            CK_OBJECT_HANDLE private_key,
                            const char *safe_uri, bool fresh_session)
{
    CK_SESSION_HANDLE session;
    P11PROV_KEY *key;
    bool unsupported;
    CK_RV rv = fresh_session ? p11prov_session_borrow_rw(ctx, token, &session)
                             : p11prov_session_borrow(ctx, token, &session);

    if (rv != CKR_OK) {
        P11PROV_RAISE_CKR(ctx, rv, "C_OpenSession", safe_uri);
        return NULL;
    }
    key = p11prov_key_from_token(ctx, token, session, private_key,
                                 CKO_PRIVATE_KEY, NULL, &unsupported);
    if (key != NULL && !p11prov_key_has_own_public(key)) {
        EVP_PKEY *pkey = p11prov_public_from_object(ctx, token, session,
                                                    key->kind, public_key);
        if (pkey == NULL)
            pkey = p11prov_public_from_companion(ctx, token, session, key);
        if (pkey != NULL) {
            p11prov_key_set_public(key, pkey);
        } else {
            p11prov_key_no_public(ctx, key);
            p11prov_key_unref(key);
            key = NULL;
        }
    }
    /* A session that may be what failed is not kept. */
    p11prov_session_return(token, session, !fresh_session && key != NULL);
    if (key != NULL)
        P11PROV_DEBUG(1, "generated %s", key->object.uri);
    return key;
}

/* What a lost login or session looks like on a token that hides private
 * objects when logged out. */
static bool maybe_logged_out(CK_RV rv)
{
    return rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_OBJECT_HANDLE_INVALID
           || p11prov_session_broken(rv);
}

/* Logs in again with the PIN that worked: the login may have gone with a
 * session since the pair was made. */
static bool login_again(P11PROV_CTX *ctx, P11PROV_TOKEN *token)
{
    p11prov_token_forget_login(token);
    return p11prov_token_login(ctx, token, NULL);
}

/* A generation that fails after the pair was made leaves nothing on the
 * token: both objects are destroyed. */
static void destroy_pair(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                         CK_ATTRIBUTE *by_id, CK_OBJECT_HANDLE public_key,
                         CK_OBJECT_HANDLE private_key, const char *safe_uri)
{
    CK_OBJECT_HANDLE pair[2] = { private_key, public_key };
    CK_OBJECT_HANDLE *left = pair, *found = NULL;
    CK_ULONG count = 2;
    CK_RV rv = CKR_OK;

    for (int attempt = 0; attempt < 2; attempt++) {
        CK_SESSION_HANDLE session;
        if (attempt > 0
            && (!maybe_logged_out(rv) || !login_again(ctx, token)))
            break;
        rv = p11prov_session_borrow_rw(ctx, token, &session);
        if (rv != CKR_OK)
            continue;
        /* Found by their id: after a lost login a module may have
         * numbered the objects anew (SoftHSM does); by the handles it
         * gave when the search finds none. */
        OPENSSL_free(found);
        found = NULL;
        if (p11prov_find_objects(token, session, by_id, 1, &found, &count)
                == CKR_OK
            && count > 0) {
            left = found;
        } else {
            left = pair;
            count = 2;
        }
        for (CK_ULONG i = 0; i < count && rv == CKR_OK; i++) {
            if (left[i] == CK_INVALID_HANDLE)
                continue;
            P11PROV_CALL(rv, token->module, C_DestroyObject, session,
                         left[i]);
            if (rv == CKR_OK)
                left[i] = CK_INVALID_HANDLE;
        }
        p11prov_session_return(token, session, false);
        /* One of two found: a lost login may hide the private key. */
        if (rv == CKR_OK && left == found && count < 2 && attempt == 0)
            rv = CKR_USER_NOT_LOGGED_IN;
        if (rv == CKR_OK)
            break;
    }
    OPENSSL_free(found);
    if (rv != CKR_OK)
        P11PROV_RAISE_CKR(ctx, rv, "destroying the key pair made", safe_uri);
}

/* The one object of class with the pair's id, else *handle unchanged. */
static void find_again(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                       const CK_ATTRIBUTE *by_id,
                       CK_OBJECT_CLASS object_class, CK_OBJECT_HANDLE *handle)
{
    CK_ATTRIBUTE tmpl[2] = {
        *by_id, { CKA_CLASS, &object_class, sizeof(object_class) }
    };
    CK_OBJECT_HANDLE *found = NULL;
    CK_ULONG count = 0;

    if (p11prov_find_objects(token, session, tmpl, 2, &found, &count)
            == CKR_OK
        && count == 1)
        *handle = found[0];
    OPENSSL_free(found);
}

/* The new key read; when that fails (the login or a session may have
 * gone since the pair was made, and with them the handles: SoftHSM
 * numbers objects anew), once more after logging in again, the pair
 * found again by its id. The first attempt's errors go if the second
 * works. */
static P11PROV_KEY *new_key_once_more(P11PROV_CTX *ctx, P11PROV_TOKEN *token,
                                      const CK_ATTRIBUTE *by_id,
                                      CK_OBJECT_HANDLE public_key,
                                      CK_OBJECT_HANDLE private_key,
                                      const char *safe_uri)
{
    CK_SESSION_HANDLE session;

    ERR_set_mark();
    P11PROV_KEY *key = new_key(ctx, token, public_key, private_key, safe_uri,
                               false);
    if (key == NULL && login_again(ctx, token)
        && p11prov_session_borrow(ctx, token, &session) == CKR_OK) {
        find_again(token, session, by_id, CKO_PRIVATE_KEY, &private_key);
        find_again(token, session, by_id, CKO_PUBLIC_KEY, &public_key);
        p11prov_session_return(token, session, true);
        key = new_key(ctx, token, public_key, private_key, safe_uri, true);
    }
    if (key != NULL)
        ERR_pop_to_mark();
    else
        ERR_clear_last_mark();
    return key;
}

P11PROV_KEY *p11prov_token_generate(P11PROV_CTX *ctx, const char *uri_text,
                                    const P11PROV_KEYGEN_SPEC *spec)
{
    p11uri *uri = NULL;
    p11uri_error error;
    char *safe_uri = NULL;
    P11PROV_TOKEN *token = NULL;
    P11PROV_KEY *key = NULL;
    CK_OBJECT_HANDLE public_key, private_key;
    unsigned char id[GENERATED_ID_LEN];

    if (p11uri_parse(uri_text, &uri, &error) != P11URI_OK) {
        P11PROV_RAISE(ctx, P11PROV_R_BAD_URI, "%s", error.message);
        return NULL;
    }
    safe_uri = p11uri_format(uri, P11URI_FORMAT_OMIT_PIN);
    P11PROV_PIN_SOURCES pins = { uri, NULL, NULL };
    if (safe_uri != NULL && (token = the_token(ctx, uri, safe_uri)) != NULL
        && p11prov_token_login(ctx, token, &pins)
        && names_free(ctx, token, uri, safe_uri)
        && generate(ctx, token, uri, spec, safe_uri, id, &public_key,
                    &private_key)) {
        CK_ATTRIBUTE by_id = pair_id(uri, id);
        key = new_key_once_more(ctx, token, &by_id, public_key, private_key,
                                safe_uri);
        if (key == NULL)
            destroy_pair(ctx, token, &by_id, public_key, private_key,
                         safe_uri);
    }
    OPENSSL_free(safe_uri);
    p11uri_free(uri);
    return key;
}
