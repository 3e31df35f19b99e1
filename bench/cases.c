/* The benchmark's cases, and the inputs and expected results they need,
 * made in software with OpenSSL's default provider from the public half
 * of the token key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "p11bench.h"

const bench_case bench_cases[] = {
    { "ecdsa-p256", OP_SIGN, "SHA256", CKM_ECDSA, 0, 0,
      "ECDSA P-256 with SHA-256 (the raw side hashes, then CKM_ECDSA)" },
    { "ecdsa-p384", OP_SIGN, "SHA384", CKM_ECDSA, 0, 0,
      "ECDSA P-384 with SHA-384" },
    { "rsa2048-pkcs1", OP_SIGN, "SHA256", CKM_RSA_PKCS, 0, 1,
      "RSA-2048 PKCS#1 v1.5 with SHA-256 (raw: CKM_RSA_PKCS on DigestInfo)" },
    { "rsa2048-pss", OP_SIGN, "SHA256", CKM_RSA_PKCS_PSS, 1, 0,
      "RSA-2048 PSS, SHA-256, MGF1-SHA-256, 32-byte salt" },
    { "ed25519", OP_SIGN, NULL, CKM_EDDSA, 0, 0,
      "Ed25519 of a 64-byte message (CKM_EDDSA)" },
    { "ecdh-p256", OP_DERIVE, NULL, CKM_ECDH1_DERIVE, 0, 0,
      "ECDH P-256 with a software peer (raw: C_DeriveKey CKD_NULL into a "
      "session object, read CKA_VALUE, C_DestroyObject)" },
    { "rsa2048-oaep", OP_DECRYPT, "SHA1", CKM_RSA_PKCS_OAEP, 0, 0,
      "RSA-2048 OAEP decryption, SHA-1 and MGF1-SHA-1 (all SoftHSM does)" },
};
const size_t bench_n_cases = N_OF(bench_cases);

static const unsigned char message[64] = "p11bench: the message signed by "
                                         "every signature of the bench.";
static const unsigned char oaep_plaintext[32] =
    "p11bench: the OAEP plaintext.";

const bench_case *bench_case_named(const char *name)
{
    for (size_t i = 0; i < bench_n_cases; i++)
        if (strcmp(bench_cases[i].name, name) == 0)
            return &bench_cases[i];
    return NULL;
}

/* The token key's public half as a key of the default provider. */
static EVP_PKEY *software_public(EVP_PKEY *token_key)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(
        NULL, EVP_PKEY_get0_type_name(token_key), "provider=default");
    OSSL_PARAM *params = NULL;
    EVP_PKEY *pub = NULL;

    if (ctx == NULL
        || EVP_PKEY_todata(token_key, EVP_PKEY_PUBLIC_KEY, &params) != 1
        || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pub, EVP_PKEY_PUBLIC_KEY, params) != 1)
        die("exporting the public half of the token key");
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(ctx);
    return pub;
}

static void make_ecdh_inputs(EVP_PKEY *token_pub, bench_inputs *in)
{
    char group[64];
    EVP_PKEY_CTX *ctx;
    size_t secret_len = sizeof(in->expected);

    if (!EVP_PKEY_get_utf8_string_param(token_pub, OSSL_PKEY_PARAM_GROUP_NAME,
                                        group, sizeof(group), NULL))
        die("reading the curve of the token key");
    in->peer = EVP_PKEY_Q_keygen(NULL, "provider=default", "EC", group);
    if (in->peer == NULL
        || !EVP_PKEY_get_octet_string_param(
            in->peer, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, in->peer_point,
            sizeof(in->peer_point), &in->peer_point_len))
        die("making the ECDH peer key");
    /* The peer's side of the agreement: what both sides must derive. */
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, in->peer, "provider=default");
    if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1
        || EVP_PKEY_derive_set_peer(ctx, token_pub) != 1
        || EVP_PKEY_derive(ctx, in->expected, &secret_len) != 1)
        die("ECDH in software");
    in->expected_len = secret_len;
    EVP_PKEY_CTX_free(ctx);
}

static void make_oaep_inputs(const bench_case *bcase, EVP_PKEY *token_pub,
                             bench_inputs *in)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, token_pub,
                                                   "provider=default");
    size_t ct_len = sizeof(in->ciphertext);

    if (ctx == NULL || EVP_PKEY_encrypt_init(ctx) != 1
        || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1
        || EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, bcase->md, NULL) != 1
        || EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, bcase->md, NULL) != 1
        || EVP_PKEY_encrypt(ctx, in->ciphertext, &ct_len, oaep_plaintext,
                            sizeof(oaep_plaintext))
               != 1)
        die("RSA-OAEP encryption in software");
    in->ciphertext_len = ct_len;
    memcpy(in->expected, oaep_plaintext, sizeof(oaep_plaintext));
    in->expected_len = sizeof(oaep_plaintext);
    EVP_PKEY_CTX_free(ctx);
}

void bench_inputs_make(const bench_case *bcase, EVP_PKEY *token_key,
                       bench_inputs *in)
{
    EVP_PKEY *token_pub;

    memset(in, 0, sizeof(*in));
    in->message = message;
    in->message_len = sizeof(message);
    if (bcase->op == OP_SIGN)
        return;
    token_pub = software_public(token_key);
    if (bcase->op == OP_DERIVE)
        make_ecdh_inputs(token_pub, in);
    else
        make_oaep_inputs(bcase, token_pub, in);
    EVP_PKEY_free(token_pub);
}

void bench_inputs_free(bench_inputs *in)
{
    EVP_PKEY_free(in->peer);
    in->peer = NULL;
}

/* Signatures are not checked: the null token's do not verify. */
void bench_check_result(const bench_case *bcase, const bench_inputs *in,
                        const unsigned char *out, size_t out_len,
                        const char *side)
{
    if (bcase->op == OP_SIGN)
        return;
    if (out_len != in->expected_len
        || memcmp(out, in->expected, out_len) != 0) {
        fprintf(stderr,
                "p11bench: %s: the %s side's %s differs from the "
                "software's\n",
                bcase->name, side,
                bcase->op == OP_DERIVE ? "shared secret" : "plaintext");
        exit(1);
    }
}
