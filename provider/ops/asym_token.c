/* RSA decryption with a token key: one C_DecryptInit + C_Decrypt on a
 * pooled session (token_op.c). Which mechanism:
 *   PKCS#1 v1.5  CKM_RSA_X_509 and the padding removed here in constant
 *                time when the token offers it (a token's own unpadding
 *                may leak through its timing), else CKM_RSA_PKCS.
 *   TLS          the same, with the TLS rule: a wrong padding, length or
 *                version gives a random premaster secret, never an error.
 *   OAEP         CKM_RSA_PKCS_OAEP with the digests and label; when the
 *                token refuses them, or cannot be trusted with them (see
 *                oaep_decrypt), CKM_RSA_X_509 and OAEP decoded here.
 *   none         CKM_RSA_X_509.
 * A ciphertext that does not decrypt fails with one error, raised in one
 * place, whichever padding, mechanism and check failed. */
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "core/mechanisms.h"
#include "core/runner.h"
#include "ops/asym_cipher.h"
#include "ops/rsa_params.h"
#include "ops/rsa_unpad.h"

/* A 16384-bit modulus. */
#define MAX_RSA_BYTES 2048
/* PKCS#1 v1.5's least padding: 00 02, eight non-zero bytes, 00. */
#define PKCS1_PADDING_SIZE 11

/* The one error for a ciphertext that does not decrypt: the token said so,
 * or the padding check here did. Same text, same place, for all. */
static int decryption_failed(RSA_ENC_CTX *ctx)
{
    P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                  "decryption with %s failed: the ciphertext is not valid "
                  "for this key and these parameters",
                  ctx->key->object.uri);
    return 0;
}

/* What tokens answer to a ciphertext that does not decrypt (SoftHSM 2.6.1
 * and tpm2-pkcs11 1.9.0 say CKR_GENERAL_ERROR for a wrong padding). */
static bool data_failure(CK_RV rv)
{
    return rv == CKR_ENCRYPTED_DATA_INVALID
           || rv == CKR_ENCRYPTED_DATA_LEN_RANGE || rv == CKR_DATA_INVALID
           || rv == CKR_DATA_LEN_RANGE || rv == CKR_GENERAL_ERROR
           || rv == CKR_FUNCTION_FAILED;
}

/* Reports a failed token operation: a failure about the data like any
 * other failed decryption, the rest with the call and its CKR_*. */
static int token_failed(RSA_ENC_CTX *ctx, P11PROV_OP_STATUS status, CK_RV rv,
                        CK_MECHANISM_TYPE mechanism)
{
    if (status == P11PROV_OP_CALL_FAILED && data_failure(rv))
        return decryption_failed(ctx);
    return p11prov_token_op_raise(ctx->provctx, P11PROV_TOKEN_DECRYPT, status,
                                  mechanism, ctx->key->object.uri, rv);
}

static int refuse(RSA_ENC_CTX *ctx, const char *what)
{
    return p11prov_refuse_mechanism(ctx->provctx, ctx->key, what);
}

/* The most a padded plaintext can hold: the modulus less the padding's
 * least (PKCS#1 v1.5: 11 bytes; OAEP: two digests and 2). */
static size_t plaintext_room(size_t size, size_t overhead)
{
    return size > overhead ? size - overhead : 0;
}

/* C_Decrypt into a buffer of the modulus' size (tokens want one, whatever
 * the plaintext's length); the answer, at most room bytes or it is the
 * module's error, is then copied to out. */
static P11PROV_OP_STATUS decrypt(RSA_ENC_CTX *ctx, CK_MECHANISM *mechanism,
                                 const unsigned char *in, size_t size,
                                 unsigned char *out, size_t *out_len,
                                 size_t out_size, size_t room, CK_RV *rv)
{
    unsigned char plain[MAX_RSA_BYTES];
    size_t len = 0;
    P11PROV_OP_STATUS status = p11prov_token_operation(
        ctx->provctx, &ctx->key->object, P11PROV_TOKEN_DECRYPT, mechanism, in,
        size, plain, &len, 0, size, rv);

    if (status == P11PROV_OP_DONE && len > room) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_MODULE_BAD_ANSWER,
                      "C_Decrypt with %s for %s returned %zu bytes, more "
                      "than the %zu its padding leaves in the key's block",
                      p11prov_mechanism_name(mechanism->mechanism),
                      ctx->key->object.uri, len, room);
        status = P11PROV_OP_RAISED;
    } else if (status == P11PROV_OP_DONE && len > out_size) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "the plaintext from %s takes %zu bytes, the buffer has "
                      "%zu",
                      ctx->key->object.uri, len, out_size);
        status = P11PROV_OP_RAISED;
    } else if (status == P11PROV_OP_DONE) {
        memcpy(out, plain, len);
        *out_len = len;
    }
    OPENSSL_cleanse(plain, size);
    return status;
}

/* Raw RSA on the token: the size-byte block, right-aligned in raw. */
static int raw_decrypt(RSA_ENC_CTX *ctx, const unsigned char *in, size_t size,
                       unsigned char *raw)
{
    CK_MECHANISM mechanism = { CKM_RSA_X_509, NULL, 0 };
    size_t len = 0;
    CK_RV rv;
    P11PROV_OP_STATUS status = decrypt(ctx, &mechanism, in, size, raw, &len,
                                       size, size, &rv);

    if (status != P11PROV_OP_DONE)
        return token_failed(ctx, status, rv, CKM_RSA_X_509);
    if (len < size) { /* a token that drops leading zero bytes */
        memmove(raw + size - len, raw, len);
        memset(raw, 0, size - len);
    }
    return 1;
}

/* The result of a padding check here: its length, or the one error. */
static int unpadded(RSA_ENC_CTX *ctx, int len, size_t *out_len)
{
    if (len < 0)
        return decryption_failed(ctx);
    *out_len = (size_t)len;
    return 1;
}

static int pkcs1_decrypt(RSA_ENC_CTX *ctx, const unsigned char *in,
                         size_t size, unsigned char *out, size_t *out_len,
                         size_t out_size)
{
    if (p11prov_mechanism_usable(ctx->key, CKM_RSA_X_509)) {
        unsigned char raw[MAX_RSA_BYTES];
        if (!raw_decrypt(ctx, in, size, raw))
            return 0;
        int len = p11prov_unpad_pkcs1(out, out_size, raw, size);
        OPENSSL_cleanse(raw, size);
        return unpadded(ctx, len, out_len);
    }
    if (!p11prov_key_allows(ctx->key, CKM_RSA_PKCS))
        return refuse(ctx, "RSA PKCS#1 v1.5 decryption (CKM_RSA_PKCS or "
                           "CKM_RSA_X_509)");
    CK_MECHANISM mechanism = { CKM_RSA_PKCS, NULL, 0 };
    CK_RV rv;
    P11PROV_OP_STATUS status = decrypt(
        ctx, &mechanism, in, size, out, out_len, out_size,
        plaintext_room(size, PKCS1_PADDING_SIZE), &rv);
    return status == P11PROV_OP_DONE
           || token_failed(ctx, status, rv, CKM_RSA_PKCS);
}

static int tls_decrypt(RSA_ENC_CTX *ctx, const unsigned char *in, size_t size,
                       unsigned char *out, size_t *out_len)
{
    unsigned char random_secret[P11PROV_TLS_PREMASTER_LEN];
    unsigned char block[MAX_RSA_BYTES] = { 0 };
    int ok = 1;

    if (ctx->client_version == 0) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "TLS premaster decryption with %s needs the client "
                      "version (%s)",
                      ctx->key->object.uri,
                      OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION);
        return 0;
    }
    /* Before decrypting: nothing after it may depend on the result. */
    if (RAND_priv_bytes_ex(ctx->provctx->libctx, random_secret,
                           sizeof(random_secret), 0)
        <= 0) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_INTERNAL,
                      "no random bytes for the TLS premaster secret");
        return 0;
    }
    if (p11prov_mechanism_usable(ctx->key, CKM_RSA_X_509)) {
        ok = raw_decrypt(ctx, in, size, block);
        if (ok)
            p11prov_tls_premaster_from_block(out, block, size, random_secret,
                                             ctx->client_version,
                                             ctx->alt_version);
    } else if (p11prov_key_allows(ctx->key, CKM_RSA_PKCS)) {
        /* The token checks the padding: a failure that says "bad data"
         * becomes the random secret, as a bad version does. */
        CK_MECHANISM mechanism = { CKM_RSA_PKCS, NULL, 0 };
        size_t len = 0;
        CK_RV rv;
        P11PROV_OP_STATUS status = decrypt(
            ctx, &mechanism, in, size, block, &len, size,
            plaintext_room(size, PKCS1_PADDING_SIZE), &rv);
        bool done = status == P11PROV_OP_DONE;
        if (done || (status == P11PROV_OP_CALL_FAILED && data_failure(rv)))
            p11prov_tls_premaster_from_plain(
                out, block, done ? len : 0, done, random_secret,
                ctx->client_version, ctx->alt_version);
        else
            ok = token_failed(ctx, status, rv, CKM_RSA_PKCS);
    } else {
        ok = refuse(ctx, "TLS premaster decryption (CKM_RSA_X_509 or "
                         "CKM_RSA_PKCS)");
    }
    OPENSSL_cleanse(block, size);
    OPENSSL_cleanse(random_secret, sizeof(random_secret));
    if (ok)
        *out_len = P11PROV_TLS_PREMASTER_LEN;
    return ok;
}

static int oaep_decrypt(RSA_ENC_CTX *ctx, const unsigned char *in,
                        size_t size, unsigned char *out, size_t *out_len,
                        size_t out_size)
{
    const EVP_MD *md = p11prov_rsa_oaep_md(ctx->provctx, &ctx->oaep_md,
                                           ctx->oaep_props);
    if (md == NULL)
        return 0;
    const EVP_MD *mgf1_md = ctx->mgf1_md ? ctx->mgf1_md : md;
    bool raw_usable = p11prov_mechanism_usable(ctx->key, CKM_RSA_X_509);
    CK_RSA_PKCS_OAEP_PARAMS params = { 0 };

    /* Tokens accept at C_DecryptInit parameters they then get wrong: with
     * a label (SoftHSM 2.6.1, tpm2-pkcs11 1.9.0) or an MGF1 digest other
     * than the OAEP one (tpm2-pkcs11), every C_Decrypt fails exactly as a
     * tampered ciphertext does, so no fallback can follow it. With raw RSA
     * available those parameters are decoded here; only the plain ones
     * go to the token, and a refusal at C_DecryptInit falls back. */
    bool plain = ctx->label_len == 0
                 && EVP_MD_is_a(mgf1_md, EVP_MD_get0_name(md));
    params.hashAlg = p11prov_hash_mechanism(md, NULL);
    if (params.hashAlg != CK_UNAVAILABLE_INFORMATION
        && p11prov_hash_mechanism(mgf1_md, &params.mgf)
               != CK_UNAVAILABLE_INFORMATION
        && p11prov_mechanism_usable(ctx->key, CKM_RSA_PKCS_OAEP)
        && (plain || !raw_usable)) {
        CK_MECHANISM mechanism = { CKM_RSA_PKCS_OAEP, &params,
                                   sizeof(params) };
        CK_RV rv;
        params.source = CKZ_DATA_SPECIFIED;
        params.pSourceData = ctx->label_len ? ctx->label : NULL;
        params.ulSourceDataLen = (CK_ULONG)ctx->label_len;
        size_t overhead = 2 * (size_t)EVP_MD_get_size(md) + 2;
        P11PROV_OP_STATUS status = decrypt(
            ctx, &mechanism, in, size, out, out_len, out_size,
            plaintext_room(size, overhead), &rv);
        if (status == P11PROV_OP_DONE)
            return 1;
        if (status != P11PROV_OP_INIT_FAILED
            || !p11prov_mechanism_refused(rv))
            return token_failed(ctx, status, rv, CKM_RSA_PKCS_OAEP);
        if (!raw_usable) {
            token_failed(ctx, status, rv, CKM_RSA_PKCS_OAEP);
            return refuse(ctx, "RSA-OAEP decryption with these digests and "
                               "label (refused for CKM_RSA_PKCS_OAEP; "
                               "CKM_RSA_X_509 to decode it here)");
        }
        P11PROV_DEBUG(2,
                      "%s: the token refused these OAEP parameters: "
                      "decoding here",
                      ctx->key->object.uri);
    }
    if (!raw_usable)
        return refuse(ctx,
                      "RSA-OAEP decryption with these digests and label "
                      "(CKM_RSA_PKCS_OAEP, or CKM_RSA_X_509 to decode it "
                      "here)");
    unsigned char raw[MAX_RSA_BYTES];
    if (!raw_decrypt(ctx, in, size, raw))
        return 0;
    int len = p11prov_unpad_oaep(out, out_size, raw, size, ctx->label,
                                 ctx->label_len, md, mgf1_md);
    OPENSSL_cleanse(raw, size);
    return unpadded(ctx, len, out_len);
}

int p11prov_rsa_token_decrypt(RSA_ENC_CTX *ctx, unsigned char *out,
                              size_t *out_len, size_t out_size,
                              const unsigned char *in, size_t in_len)
{
    int modulus = EVP_PKEY_get_size(p11prov_key_public(ctx->key));
    size_t size = modulus > 0 ? (size_t)modulus : 0;
    unsigned char padded[MAX_RSA_BYTES];

    if (size == 0 || size > MAX_RSA_BYTES) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_UNSUPPORTED,
                      "%s: RSA modulus of %d bytes not supported",
                      ctx->key->object.uri, modulus);
        return 0;
    }
    if (in_len > size) {
        P11PROV_RAISE(ctx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "a ciphertext of %zu bytes is longer than the modulus "
                      "of %s (%zu bytes)",
                      in_len, ctx->key->object.uri, size);
        return 0;
    }
    if (in_len < size) { /* a number: zeros in front change nothing */
        memset(padded, 0, size - in_len);
        memcpy(padded + size - in_len, in, in_len);
        in = padded;
    }
    switch (ctx->pad_mode) {
    case RSA_PKCS1_PADDING:
        return pkcs1_decrypt(ctx, in, size, out, out_len, out_size);
    case RSA_PKCS1_WITH_TLS_PADDING:
        return tls_decrypt(ctx, in, size, out, out_len);
    case RSA_PKCS1_OAEP_PADDING:
        return oaep_decrypt(ctx, in, size, out, out_len, out_size);
    case RSA_NO_PADDING:
        if (!p11prov_key_allows(ctx->key, CKM_RSA_X_509))
            return refuse(ctx, "raw RSA decryption (CKM_RSA_X_509)");
        if (!raw_decrypt(ctx, in, size, out))
            return 0;
        *out_len = size;
        return 1;
    default:
        P11PROV_RAISE(ctx->provctx, P11PROV_R_UNSUPPORTED,
                      "RSA padding mode %d is not supported for decryption",
                      ctx->pad_mode);
        return 0;
    }
}
