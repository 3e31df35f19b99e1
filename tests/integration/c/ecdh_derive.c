/*
 * ecdh_derive: ECDH with a token EC key, as an application would. Loads the
 * private key by URI with OSSL_STORE_open_ex, generates a software peer on
 * the same curve in the default provider, derives with EVP_PKEY_derive
 * (token key, software peer) and checks the result against the software
 * derivation in the other direction (software peer, the token key's public
 * part copied into the default provider). Three derivations:
 *
 *   raw      no KDF: the shared secret (the x coordinate)
 *   x963     X963KDF, SHA256, 48 bytes, the UKM below
 *   x963-512 X963KDF, SHA512, 80 bytes, no UKM
 *
 * each set through EVP_PKEY_CTX_set_params (OSSL_EXCHANGE_PARAM_KDF_TYPE,
 * _KDF_DIGEST, _KDF_OUTLEN, _KDF_UKM) on both sides.
 *
 *   ecdh_derive [--out-dir DIR] URI
 *     --out-dir DIR  also writes DIR/peer.key (the peer's private key, PEM
 *                    PKCS#8), DIR/raw.bin and DIR/x963.bin (the token
 *                    side's results), for a check by another process
 *
 * Prints "curve: NAME", "ukm: HEX" and one line per derivation:
 * "NAME: N bytes, equal". Exit status: 0 when every derivation worked and
 * matched, 1 otherwise (with OpenSSL's error queue on stderr), 2 on bad
 * usage.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/params.h>

#define PROG "ecdh_derive"
#include "token_key_util.h"

static const unsigned char ukm[] = "pkcs11prov ecdh_derive ukm";

struct derivation {
    const char *name;
    const char *kdf; /* NULL: no KDF */
    const char *digest;
    size_t outlen;
    int with_ukm;
    int written; /* to DIR/NAME.bin with --out-dir */
};

static const struct derivation derivations[] = {
    { "raw", NULL, NULL, 0, 0, 1 },
    { "x963", "X963KDF", "SHA256", 48, 1, 1 },
    { "x963-512", "X963KDF", "SHA512", 80, 0, 0 },
};

/* EVP_PKEY_derive of own with peer under d's parameters; *out is
 * OPENSSL_malloc'ed. */
static int derive(EVP_PKEY *own, EVP_PKEY *peer, const struct derivation *d,
                  unsigned char **out, size_t *out_len, const char *side)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, own, NULL);
    OSSL_PARAM params[5], *p = params;
    char what[128];
    size_t outlen = d->outlen;
    int ok = 0;

    *out = NULL;
    if (d->kdf != NULL) {
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE,
                                                (char *)d->kdf, 0);
        *p++ = OSSL_PARAM_construct_utf8_string(
            OSSL_EXCHANGE_PARAM_KDF_DIGEST, (char *)d->digest, 0);
        *p++ = OSSL_PARAM_construct_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN,
                                           &outlen);
        if (d->with_ukm)
            *p++ = OSSL_PARAM_construct_octet_string(
                OSSL_EXCHANGE_PARAM_KDF_UKM, (void *)ukm, sizeof(ukm) - 1);
    }
    *p = OSSL_PARAM_construct_end();

    snprintf(what, sizeof(what), "%s derivation (%s): ", d->name, side);
    if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1) {
        fail(strcat(what, "EVP_PKEY_derive_init"));
    } else if (d->kdf != NULL && EVP_PKEY_CTX_set_params(ctx, params) != 1) {
        fail(strcat(what, "EVP_PKEY_CTX_set_params of the KDF"));
    } else if (EVP_PKEY_derive_set_peer(ctx, peer) != 1) {
        fail(strcat(what, "EVP_PKEY_derive_set_peer"));
    } else if (EVP_PKEY_derive(ctx, NULL, out_len) != 1) {
        fail(strcat(what, "EVP_PKEY_derive (the length)"));
    } else if ((*out = OPENSSL_malloc(*out_len)) == NULL
               || EVP_PKEY_derive(ctx, *out, out_len) != 1) {
        fail(strcat(what, "EVP_PKEY_derive"));
    } else {
        ok = 1;
    }
    if (!ok) {
        OPENSSL_free(*out);
        *out = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* One derivation in both directions; with out_dir, the token side's
 * result is written to DIR/NAME.bin (raw and x963). */
static int check(EVP_PKEY *key, EVP_PKEY *token_pub, EVP_PKEY *peer,
                 const struct derivation *d, size_t field_bytes,
                 const char *out_dir)
{
    unsigned char *token_side = NULL, *soft_side = NULL;
    size_t token_len = 0, soft_len = 0, want;
    char file[4096];
    int ok = 0;

    if (!derive(key, peer, d, &token_side, &token_len, "token key")
        || !derive(peer, token_pub, d, &soft_side, &soft_len, "software"))
        goto end;
    want = d->kdf != NULL ? d->outlen : field_bytes;
    if (token_len != want || soft_len != want) {
        fprintf(stderr,
                "ecdh_derive: %s: %zu bytes from the token key, "
                "%zu in software, %zu expected\n",
                d->name, token_len, soft_len, want);
        goto end;
    }
    if (memcmp(token_side, soft_side, want) != 0) {
        fprintf(stderr,
                "ecdh_derive: %s: the token key's result differs "
                "from the software derivation\n",
                d->name);
        goto end;
    }
    snprintf(file, sizeof(file), "%s/%s.bin", out_dir ? out_dir : ".",
             d->name);
    if (out_dir != NULL && d->written
        && !write_file(file, token_side, token_len))
        goto end;
    printf("%s: %zu bytes, equal\n", d->name, want);
    ok = 1;
end:
    OPENSSL_free(token_side);
    OPENSSL_free(soft_side);
    return ok;
}

static int usage(void)
{
    fprintf(stderr, "usage: ecdh_derive [--out-dir DIR] URI\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *uri = NULL, *out_dir = NULL;
    EVP_PKEY *key = NULL, *token_pub = NULL, *peer = NULL;
    char group[80], path[4096];
    int ok = 0, bits;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--out-dir") == 0 && i + 1 < argc)
            out_dir = argv[++i];
        else if (argv[i][0] != '-' && uri == NULL)
            uri = argv[i];
        else
            return usage();
    }
    if (uri == NULL)
        return usage();

    if ((key = load_key(uri)) == NULL
        || (token_pub = software_public_key(key)) == NULL)
        goto end;
    if (!EVP_PKEY_is_a(token_pub, "EC")
        || EVP_PKEY_get_utf8_string_param(token_pub,
                                          OSSL_PKEY_PARAM_GROUP_NAME, group,
                                          sizeof(group), NULL)
               != 1) {
        fprintf(stderr, "ecdh_derive: not an EC key with a named curve\n");
        goto end;
    }
    printf("curve: %s\n", group);
    if ((peer = EVP_PKEY_Q_keygen(NULL, "provider=default", "EC", group))
        == NULL) {
        fail("generating the software peer");
        goto end;
    }
    snprintf(path, sizeof(path), "%s/peer.key", out_dir ? out_dir : ".");
    if (out_dir != NULL && !write_pem_file(path, peer, pem_private))
        goto end;
    printf("ukm: ");
    for (size_t i = 0; i < sizeof(ukm) - 1; i++)
        printf("%02x", ukm[i]);
    printf("\n");
    bits = EVP_PKEY_get_bits(token_pub);
    ok = 1;
    for (size_t i = 0; i < sizeof(derivations) / sizeof(derivations[0]); i++)
        ok &= check(key, token_pub, peer, &derivations[i],
                    (size_t)(bits + 7) / 8, out_dir);
end:
    EVP_PKEY_free(peer);
    EVP_PKEY_free(token_pub);
    EVP_PKEY_free(key);
    return ok ? 0 : 1;
}
