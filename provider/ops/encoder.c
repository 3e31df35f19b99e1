/* Encoders for this provider's keys.
 *
 * Private keys, PEM or DER "PrivateKeyInfo" (what PEM_write_bio_PrivateKey,
 * i2d_PrivateKey, `openssl pkey -out` and `genpkey -out` ask for): a token
 * private key has no exportable material, so its file form is a URI key
 * file (uri_file.h). OpenSSL 3.0 tries the encoders of the key's own
 * provider first and does not fall back to another encoder when the chosen
 * one fails, so a software key that our keymgmt holds (made by import or
 * generation while this provider came first) is encoded here too, by the
 * software provider's encoder on the software key: a normal, possibly
 * encrypted, PKCS#8 file. Selections without the private key (public key,
 * parameters) are declined by does_selection and left to the software
 * provider's encoders, which get the public part by export.
 *
 * Text: the key type, size, the token object's URI and the public part
 * (printed by the software provider's text encoder); never private
 * material of a token key. */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/encoder.h>
#include <openssl/params.h>
#include <openssl/pem.h>

#include "core/context.h"
#include "core/debug.h"
#include "keys/key.h"
#include "ops/uri_file.h"

typedef enum enc_output { ENC_PEM, ENC_DER, ENC_TEXT } ENC_OUTPUT;

typedef struct enc_ctx {
    P11PROV_CTX *provctx;
    /* Asked for by the application; used for software keys only (a URI
     * file holds nothing secret to encrypt). */
    char *cipher, *cipher_propq;
    int save_parameters;
    bool save_parameters_set;
} ENC_CTX;

static OSSL_FUNC_encoder_newctx_fn enc_newctx;
static OSSL_FUNC_encoder_freectx_fn enc_freectx;
static OSSL_FUNC_encoder_set_ctx_params_fn enc_set_ctx_params;
static OSSL_FUNC_encoder_settable_ctx_params_fn enc_settable_ctx_params;
static OSSL_FUNC_encoder_does_selection_fn enc_private_does_selection;
static OSSL_FUNC_encoder_does_selection_fn enc_text_does_selection;
static OSSL_FUNC_encoder_encode_fn enc_pem_encode;
static OSSL_FUNC_encoder_encode_fn enc_der_encode;
static OSSL_FUNC_encoder_encode_fn enc_text_encode;

static void *enc_newctx(void *provctx)
{
    ENC_CTX *ectx = OPENSSL_zalloc(sizeof(*ectx));

    if (ectx == NULL) {
        P11PROV_RAISE(provctx, P11PROV_R_MEMORY, "creating an encoder");
        return NULL;
    }
    ectx->provctx = provctx;
    return ectx;
}

static void enc_freectx(void *vctx)
{
    ENC_CTX *ectx = vctx;

    if (ectx == NULL)
        return;
    OPENSSL_free(ectx->cipher);
    OPENSSL_free(ectx->cipher_propq);
    OPENSSL_free(ectx);
}

static const OSSL_PARAM *enc_settable_ctx_params(void *provctx)
{
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_utf8_string(OSSL_ENCODER_PARAM_CIPHER, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_ENCODER_PARAM_PROPERTIES, NULL, 0),
        OSSL_PARAM_int(OSSL_ENCODER_PARAM_SAVE_PARAMETERS, NULL),
        OSSL_PARAM_END,
    };
    (void)provctx;
    return settable;
}

/* Replaces *field with the string p holds. */
static int take_string(ENC_CTX *ectx, const OSSL_PARAM *p, char **field)
{
    char *value = NULL;

    /* OSSL_ENCODER_CTX_set_cipher() passes a NULL property query as a
     * string parameter without data. */
    if (p->data_type == OSSL_PARAM_UTF8_STRING && p->data == NULL) {
        OPENSSL_free(*field);
        *field = NULL;
        return 1;
    }
    if (!OSSL_PARAM_get_utf8_string(p, &value, 0)) {
        P11PROV_RAISE(ectx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "encoder parameter %s is not a string", p->key);
        return 0;
    }
    OPENSSL_free(*field);
    *field = value;
    return 1;
}

static int enc_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    ENC_CTX *ectx = vctx;
    const OSSL_PARAM *p;

    if (params == NULL)
        return 1;
    p = OSSL_PARAM_locate_const(params, OSSL_ENCODER_PARAM_CIPHER);
    if (p != NULL && !take_string(ectx, p, &ectx->cipher))
        return 0;
    p = OSSL_PARAM_locate_const(params, OSSL_ENCODER_PARAM_PROPERTIES);
    if (p != NULL && !take_string(ectx, p, &ectx->cipher_propq))
        return 0;
    p = OSSL_PARAM_locate_const(params, OSSL_ENCODER_PARAM_SAVE_PARAMETERS);
    if (p != NULL) {
        if (!OSSL_PARAM_get_int(p, &ectx->save_parameters)) {
            P11PROV_RAISE(ectx->provctx, P11PROV_R_BAD_ARGUMENT,
                          "encoder parameter %s is not an integer", p->key);
            return 0;
        }
        ectx->save_parameters_set = true;
    }
    return 1;
}

static int enc_private_does_selection(void *provctx, int selection)
{
    (void)provctx;
    return (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0;
}

static int enc_text_does_selection(void *provctx, int selection)
{
    (void)provctx;
    return (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0;
}

static const char *output_type(ENC_OUTPUT output)
{
    return output == ENC_PEM ? "PEM" : output == ENC_DER ? "DER" : "TEXT";
}

/* Encodes pkey with the software providers' encoders into out. */
static int encode_software(ENC_CTX *ectx, BIO *out, const EVP_PKEY *pkey,
                           int selection, ENC_OUTPUT output,
                           const char *structure,
                           OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    OSSL_ENCODER_CTX *ctx;
    int ok = 0;

    if (pkey == NULL)
        return 0; /* no public part: raised */

    ctx = OSSL_ENCODER_CTX_new_for_pkey(pkey, selection, output_type(output),
                                        structure, P11PROV_SOFTWARE_PROPQ);
    if (ctx == NULL || OSSL_ENCODER_CTX_get_num_encoders(ctx) == 0) {
        P11PROV_RAISE(ectx->provctx, P11PROV_R_UNSUPPORTED,
                      "no software encoder writes a %s key as %s%s%s",
                      EVP_PKEY_get0_type_name(pkey), output_type(output),
                      structure != NULL ? " " : "",
                      structure != NULL ? structure : "");
        goto done;
    }
    if (ectx->cipher != NULL
        && !OSSL_ENCODER_CTX_set_cipher(ctx, ectx->cipher,
                                        ectx->cipher_propq))
        goto done;
    if (ectx->save_parameters_set) {
        OSSL_PARAM params[] = {
            OSSL_PARAM_int(OSSL_ENCODER_PARAM_SAVE_PARAMETERS,
                           &ectx->save_parameters),
            OSSL_PARAM_END,
        };
        (void)OSSL_ENCODER_CTX_set_params(ctx, params);
    }
    if (cb != NULL && !OSSL_ENCODER_CTX_set_passphrase_cb(ctx, cb, cbarg))
        goto done;
    P11PROV_DEBUG(2, "encoding a software %s key as %s%s%s (selection 0x%x)",
                  EVP_PKEY_get0_type_name(pkey), output_type(output),
                  structure != NULL ? " " : "",
                  structure != NULL ? structure : "", (unsigned)selection);
    ok = OSSL_ENCODER_to_bio(ctx, out);
done:
    OSSL_ENCODER_CTX_free(ctx);
    return ok;
}

static const P11PROV_KEY *checked_key(ENC_CTX *ectx, const void *obj,
                                      const OSSL_PARAM abstract[])
{
    const P11PROV_KEY *key = obj;

    if (abstract != NULL || key == NULL || key->magic != P11PROV_KEY_MAGIC
        || !p11prov_key_may_have_public(key)) {
        P11PROV_RAISE(ectx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "the pkcs11 encoders take only this provider's keys");
        return NULL;
    }
    return key;
}

/* A token private key as a URI key file. */
static int write_uri_file(ENC_CTX *ectx, BIO *out, const P11PROV_KEY *key,
                          ENC_OUTPUT output)
{
    char msg[P11PROV_URI_FILE_MSG_MAX];
    unsigned char *der = NULL;
    size_t der_len = 0;
    int ok;

    if (key->object.object_class != CKO_PRIVATE_KEY) {
        P11PROV_RAISE(ectx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "%s is not a private key object: no private key file "
                      "can be written for it",
                      key->object.uri);
        return 0;
    }
    if (p11prov_uri_file_encode(key->object.uri, &der, &der_len, msg)
        != P11PROV_URI_FILE_OK) {
        P11PROV_RAISE(ectx->provctx, P11PROV_R_INTERNAL,
                      "writing the URI key file of %s: %s", key->object.uri,
                      msg);
        return 0;
    }
    if (ectx->cipher != NULL)
        P11PROV_DEBUG(1, "cipher %s ignored: a URI key file holds no secret",
                      ectx->cipher);
    if (output == ENC_PEM)
        ok = PEM_write_bio(out, P11PROV_URI_FILE_PEM_LABEL, "", der,
                           (long)der_len)
             > 0;
    else
        ok = BIO_write(out, der, (int)der_len) == (int)der_len;
    OPENSSL_free(der);
    if (!ok)
        P11PROV_RAISE(ectx->provctx, P11PROV_R_INTERNAL,
                      "writing the URI key file of %s failed",
                      key->object.uri);
    else
        P11PROV_DEBUG(1, "wrote the %s URI key file of %s",
                      output_type(output), key->object.uri);
    return ok;
}

/* A token key as text: what it is, where, and its public part. */
static int write_text(ENC_CTX *ectx, BIO *out, const P11PROV_KEY *key)
{
    bool private = key->object.object_class == CKO_PRIVATE_KEY;

    return BIO_printf(out, "%s %s key on a PKCS#11 token (%d bit)\n",
                      p11prov_key_kind_name(key->kind),
                      private ? "private" : "public", key->profile.bits)
               > 0
           && BIO_printf(out, "URI: %s\n", key->object.uri) > 0
           && (!private
               || BIO_printf(out, "Private key: kept by the token, not "
                                  "exportable\n")
                      > 0)
           && encode_software(ectx, out, p11prov_key_public(key),
                              OSSL_KEYMGMT_SELECT_PUBLIC_KEY
                                  | OSSL_KEYMGMT_SELECT_ALL_PARAMETERS,
                              ENC_TEXT, NULL, NULL, NULL);
}

static int encode(void *vctx, OSSL_CORE_BIO *cout, const void *obj,
                  const OSSL_PARAM abstract[], int selection,
                  OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg,
                  ENC_OUTPUT output)
{
    ENC_CTX *ectx = vctx;
    const P11PROV_KEY *key = checked_key(ectx, obj, abstract);
    BIO *out;
    int ok;

    if (key == NULL)
        return 0;
    out = BIO_new_from_core_bio(ectx->provctx->libctx, cout);
    if (out == NULL) {
        P11PROV_RAISE(ectx->provctx, P11PROV_R_MEMORY, "encoding a key");
        return 0;
    }
    if (!p11prov_key_on_token(key))
        /* A software key: as the software provider writes it. */
        ok = encode_software(
            ectx, out, p11prov_key_public(key), selection, output,
            output == ENC_TEXT ? NULL : "PrivateKeyInfo", cb, cbarg);
    else if (output == ENC_TEXT)
        ok = write_text(ectx, out, key);
    else
        ok = write_uri_file(ectx, out, key, output);
    BIO_free(out);
    return ok;
}

static int enc_pem_encode(void *vctx, OSSL_CORE_BIO *cout, const void *obj,
                          const OSSL_PARAM abstract[], int selection,
                          OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    return encode(vctx, cout, obj, abstract, selection, cb, cbarg, ENC_PEM);
}

static int enc_der_encode(void *vctx, OSSL_CORE_BIO *cout, const void *obj,
                          const OSSL_PARAM abstract[], int selection,
                          OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    return encode(vctx, cout, obj, abstract, selection, cb, cbarg, ENC_DER);
}

static int enc_text_encode(void *vctx, OSSL_CORE_BIO *cout, const void *obj,
                           const OSSL_PARAM abstract[], int selection,
                           OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    return encode(vctx, cout, obj, abstract, selection, cb, cbarg, ENC_TEXT);
}

#define ENCODER_FUNCTIONS(name, encode, does_selection)                      \
    static const OSSL_DISPATCH name[] = {                                    \
        { OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))enc_newctx },            \
        { OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))enc_freectx },          \
        { OSSL_FUNC_ENCODER_SET_CTX_PARAMS,                                  \
          (void (*)(void))enc_set_ctx_params },                              \
        { OSSL_FUNC_ENCODER_SETTABLE_CTX_PARAMS,                             \
          (void (*)(void))enc_settable_ctx_params },                         \
        { OSSL_FUNC_ENCODER_DOES_SELECTION,                                  \
          (void (*)(void))does_selection },                                  \
        { OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))encode },                \
        { 0, NULL },                                                         \
    };

ENCODER_FUNCTIONS(pem_functions, enc_pem_encode, enc_private_does_selection)
ENCODER_FUNCTIONS(der_functions, enc_der_encode, enc_private_does_selection)
ENCODER_FUNCTIONS(text_functions, enc_text_encode, enc_text_does_selection)

/* No import_object: OpenSSL then offers these encoders only keys of our
 * own keymgmt. */
#define PRIVATE_PEM "provider=pkcs11,output=pem,structure=PrivateKeyInfo"
#define PRIVATE_DER "provider=pkcs11,output=der,structure=PrivateKeyInfo"
#define TEXT "provider=pkcs11,output=text"
#define KEY_TYPE_ENCODERS(name)                                              \
    { name, PRIVATE_PEM, pem_functions,                                      \
      "token private key as a PEM URI key file" },                           \
        { name, PRIVATE_DER, der_functions,                                  \
          "token private key as a DER URI key file" },                       \
        { name, TEXT, text_functions,                                        \
          "token key as text: type, URI, public part" }

const OSSL_ALGORITHM p11prov_encoder_algorithms[] = {
    KEY_TYPE_ENCODERS("RSA"),   KEY_TYPE_ENCODERS("RSA-PSS"),
    KEY_TYPE_ENCODERS("EC"),    KEY_TYPE_ENCODERS("ED25519"),
    KEY_TYPE_ENCODERS("ED448"), { NULL, NULL, NULL, NULL },
};
