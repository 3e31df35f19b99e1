/*
 * sig_encode checked against OpenSSL itself: DigestInfo prefixes against
 * X509_SIG encodings, EMSA-PSS through a raw RSA private operation and
 * OpenSSL's PSS verification, ECDSA r||s against OpenSSL's DER signatures,
 * and AlgorithmIdentifiers against the default provider's
 * OSSL_SIGNATURE_PARAM_ALGORITHM_ID and what X.509 signing embeds.
 */
#include "ops/sig_encode.h"
#include "test_util.h"

#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

static const char *const md_names[] = {
    "SHA1",     "SHA2-224",     "SHA2-256",     "SHA2-384",
    "SHA2-512", "SHA2-512/224", "SHA2-512/256", "SHA3-224",
    "SHA3-256", "SHA3-384",     "SHA3-512",
};
#define N_MDS (sizeof(md_names) / sizeof(md_names[0]))

static const char *hex(char *buf, size_t size, const unsigned char *p,
                       size_t n)
{
    size_t i;

    buf[0] = '\0';
    for (i = 0; i < n && 2 * i + 3 <= size; i++)
        snprintf(buf + 2 * i, 3, "%02x", p[i]);
    return buf;
}

#define CHECK_BYTES(a, alen, b, blen, what)                                  \
    do {                                                                     \
        char ha_[1024], hb_[1024];                                           \
        CHECKF((alen) == (blen) && memcmp((a), (b), (alen)) == 0,            \
               "%s: ours %s, OpenSSL %s", (what),                            \
               hex(ha_, sizeof(ha_), (a), (alen)),                           \
               hex(hb_, sizeof(hb_), (b), (blen)));                          \
    } while (0)

static EVP_MD *fetch(const char *name)
{
    EVP_MD *md = EVP_MD_fetch(NULL, name, NULL);

    CHECKF(md != NULL, "fetch %s", name);
    return md;
}

/* ---- DigestInfo ---- */

static void test_digest_info(EVP_PKEY *rsa)
{
    static const char *const aliases[][2] = {
        { "sha256", "SHA2-256" },
        { "SHA-256", "SHA2-256" },
        { "SHA512-256", "SHA2-512/256" },
        { "sha1", "SHA1" },
        { "SHA-1", "SHA1" },
        { "sha3-384", "SHA3-384" },
    };
    unsigned char hash[EVP_MAX_MD_SIZE], out[128], sig[512];
    size_t i, plen, n, siglen;

    for (i = 0; i < N_MDS; i++) {
        EVP_MD *md = fetch(md_names[i]);
        X509_SIG *xs = X509_SIG_new();
        X509_ALGOR *alg = NULL;
        ASN1_OCTET_STRING *dig = NULL;
        unsigned char *der = NULL;
        unsigned int hlen = 0;
        int der_len;
        const unsigned char *prefix;
        EVP_PKEY_CTX *ctx;

        if (md == NULL || xs == NULL)
            return;
        CHECK(EVP_Digest("abc", 3, hash, &hlen, md, NULL));
        X509_SIG_getm(xs, &alg, &dig);
        CHECK(X509_ALGOR_set0(alg, OBJ_nid2obj(EVP_MD_get_type(md)),
                              V_ASN1_NULL, NULL));
        CHECK(ASN1_OCTET_STRING_set(dig, hash, (int)hlen));
        der_len = i2d_X509_SIG(xs, &der);
        prefix = p11prov_digest_info_prefix(md, &plen);
        n = p11prov_digest_info(md, hash, hlen, out, sizeof(out));
        if (CHECKF(prefix != NULL && der_len > 0, "%s", md_names[i])) {
            CHECK_BYTES(prefix, plen, der, (size_t)der_len - hlen,
                        md_names[i]);
            CHECK_BYTES(out, n, der, (size_t)der_len, md_names[i]);
        }
        /* The same via the legacy EVP_MD of that NID. */
        CHECK(p11prov_digest_info_prefix(
                  EVP_get_digestbynid(EVP_MD_get_type(md)), NULL)
              == prefix);
        CHECK(p11prov_digest_info(md, hash, hlen - 1, out, sizeof(out)) == 0);
        CHECK(p11prov_digest_info(md, hash, hlen, out, plen + hlen - 1) == 0);
        CHECK(p11prov_digest_info(md, hash, hlen, out, plen + hlen)
              == plen + hlen);

        /* A raw PKCS#1 v1.5 signature over it verifies as md's signature. */
        siglen = sizeof(sig);
        ctx = EVP_PKEY_CTX_new(rsa, NULL);
        CHECK(ctx != NULL && EVP_PKEY_sign_init(ctx) > 0
              && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0
              && EVP_PKEY_sign(ctx, sig, &siglen, out, n) > 0);
        CHECKF(ctx != NULL && EVP_PKEY_verify_init(ctx) > 0
                   && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0
                   && EVP_PKEY_CTX_set_signature_md(ctx, md) > 0
                   && EVP_PKEY_verify(ctx, sig, siglen, hash, hlen) == 1,
               "PKCS#1 verify %s", md_names[i]);
        EVP_PKEY_CTX_free(ctx);
        OPENSSL_free(der);
        X509_SIG_free(xs);
        EVP_MD_free(md);
    }
    for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
        EVP_MD *a = fetch(aliases[i][0]), *c = fetch(aliases[i][1]);

        CHECKF(a != NULL && c != NULL
                   && p11prov_digest_info_prefix(a, NULL) != NULL
                   && p11prov_digest_info_prefix(a, NULL)
                          == p11prov_digest_info_prefix(c, NULL),
               "alias %s", aliases[i][0]);
        EVP_MD_free(a);
        EVP_MD_free(c);
    }
    CHECK(p11prov_digest_info_prefix(EVP_sha256(), &plen) != NULL
          && plen == 19);
    CHECK(p11prov_digest_info_prefix(EVP_md5(), &plen) == NULL);
    CHECK(p11prov_digest_info(EVP_md5(), hash, 16, out, sizeof(out)) == 0);
    CHECK(p11prov_digest_info_prefix(NULL, &plen) == NULL);
}

/* ---- EMSA-PSS ---- */

/* OpenSSL's own PSS signature (sign: salt length possibly symbolic) or
 * verification of sig over hash (with a numeric salt length). */
static int pss_op(EVP_PKEY *key, int sign, const EVP_MD *md,
                  const EVP_MD *mgf1, int saltlen, const unsigned char *hash,
                  size_t hlen, unsigned char *sig, size_t *siglen)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
    int ok = ctx != NULL
             && (sign ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx))
                    > 0
             && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) > 0
             && EVP_PKEY_CTX_set_signature_md(ctx, md) > 0
             && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, mgf1) > 0
             && EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, saltlen) > 0
             && (sign ? EVP_PKEY_sign(ctx, sig, siglen, hash, hlen) > 0
                      : EVP_PKEY_verify(ctx, sig, *siglen, hash, hlen) == 1);

    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static int pss_verify(EVP_PKEY *key, const EVP_MD *md, const EVP_MD *mgf1,
                      int saltlen, unsigned char *sig, size_t siglen,
                      const unsigned char *hash, size_t hlen)
{
    return pss_op(key, 0, md, mgf1, saltlen, hash, hlen, sig, &siglen);
}

static int raw_rsa(EVP_PKEY *key, const unsigned char *in, size_t inlen,
                   unsigned char *sig, size_t *siglen)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
    int ok = ctx != NULL && EVP_PKEY_sign_init(ctx) > 0
             && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) > 0
             && EVP_PKEY_sign(ctx, sig, siglen, in, inlen) > 0;

    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static void test_pss_one(EVP_PKEY *key, const EVP_MD *md, const EVP_MD *mgf1,
                         int requested)
{
    unsigned char hash[EVP_MAX_MD_SIZE], em[300], em2[300], sig[300];
    int bits = EVP_PKEY_get_bits(key), hlen = EVP_MD_get_size(md);
    size_t k = (size_t)(bits + 7) / 8, n, siglen = sizeof(sig);
    int sl = p11prov_pss_salt_length(requested, md, bits);
    int ossl_ok;
    char what[160];

    snprintf(what, sizeof(what), "PSS %d bits %s mgf1 %s salt %d -> %d", bits,
             EVP_MD_get0_name(md), EVP_MD_get0_name(mgf1), requested, sl);
    CHECK(EVP_Digest(what, strlen(what), hash, NULL, md, NULL));

    /* OpenSSL signs with the same request iff the salt fits, and then its
     * salt length is the one we computed. */
    ossl_ok = pss_op(key, 1, md, mgf1, requested, hash, (size_t)hlen, sig,
                     &siglen);
    CHECKF(ossl_ok == (sl >= 0), "%s: OpenSSL signs: %d", what, ossl_ok);
    if (ossl_ok && sl >= 0)
        CHECKF(pss_verify(key, md, mgf1, sl, sig, siglen, hash, (size_t)hlen),
               "%s: OpenSSL's salt length differs", what);
    if (sl < 0) {
        CHECKF(p11prov_pss_encode(NULL, md, mgf1, hash, (size_t)hlen,
                                  requested, bits, em, sizeof(em))
                   == 0,
               "%s", what);
        return;
    }

    n = p11prov_pss_encode(NULL, md, mgf1, hash, (size_t)hlen, sl, bits, em,
                           sizeof(em));
    if (!CHECKF(n == k, "%s: length %zu", what, n))
        return;
    if (bits % 8 == 1)
        CHECKF(em[0] == 0, "%s: leading zero", what);
    CHECKF(p11prov_pss_encode(NULL, md, mgf1, hash, (size_t)hlen, requested,
                              bits, em2, sizeof(em2))
                   == k
               && (sl == 0) == (memcmp(em, em2, k) == 0),
           "%s: salt randomness", what);
    CHECK(p11prov_pss_encode(NULL, md, mgf1, hash, (size_t)hlen, sl, bits,
                             em2, k - 1)
          == 0);
    CHECK(p11prov_pss_encode(NULL, md, mgf1, hash, (size_t)hlen - 1, sl, bits,
                             em2, sizeof(em2))
          == 0);

    siglen = sizeof(sig);
    if (!CHECKF(raw_rsa(key, em, n, sig, &siglen), "%s: raw RSA", what))
        return;
    CHECKF(pss_verify(key, md, mgf1, sl, sig, siglen, hash, (size_t)hlen),
           "%s: OpenSSL rejects", what);
    CHECKF(
        !pss_verify(key, md, mgf1, sl + 1, sig, siglen, hash, (size_t)hlen),
        "%s: accepted with salt length + 1", what);
    sig[siglen / 2] ^= 0x10;
    CHECKF(!pss_verify(key, md, mgf1, sl, sig, siglen, hash, (size_t)hlen),
           "%s: accepted a flipped bit", what);
}

static void test_pss(EVP_PKEY *const keys[], size_t n_keys)
{
    static const char *const mds[] = { "SHA1", "SHA2-256", "SHA2-384",
                                       "SHA2-512" };
    static const int salts[] = { P11PROV_PSS_SALTLEN_DIGEST,
                                 P11PROV_PSS_SALTLEN_MAX,
                                 P11PROV_PSS_SALTLEN_AUTO, 0, 17 };
    size_t i, j, s;

    for (i = 0; i < n_keys; i++) {
        for (j = 0; j < sizeof(mds) / sizeof(mds[0]); j++) {
            EVP_MD *md = fetch(mds[j]);
            EVP_MD *other = fetch(j == 1 ? "SHA2-512" : "SHA2-256");

            for (s = 0; md != NULL && other != NULL
                        && s < sizeof(salts) / sizeof(salts[0]);
                 s++) {
                test_pss_one(keys[i], md, md, salts[s]);
                test_pss_one(keys[i], md, other, salts[s]);
            }
            EVP_MD_free(md);
            EVP_MD_free(other);
        }
    }
    CHECK(p11prov_pss_salt_length(P11PROV_PSS_SALTLEN_MAX, EVP_sha256(), 2048)
          == 222);
    CHECK(p11prov_pss_salt_length(P11PROV_PSS_SALTLEN_MAX, EVP_sha256(), 2049)
          == 222);
    CHECK(p11prov_pss_salt_length(-4, EVP_sha256(), 2048) == -1);
    CHECK(p11prov_pss_salt_length(223, EVP_sha256(), 2048) == -1);
    CHECK(p11prov_pss_salt_length(0, NULL, 2048) == -1);
}

/* ---- ECDSA ---- */

static void test_ecdsa(void)
{
    static const char *const curves[] = { "P-256", "P-384", "P-521" };
    static const size_t max_sizes[] = { 72, 104, 139 };
    unsigned char der[200], raw[200], out[200];
    size_t c, i, n;

    for (c = 0; c < 3; c++) {
        EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curves[c]);
        size_t fb;

        if (!CHECKF(key != NULL, "keygen %s", curves[c]))
            continue;
        fb = (size_t)(EVP_PKEY_get_bits(key) + 7) / 8;
        CHECKF(p11prov_ecdsa_der_max_size(EVP_PKEY_get_bits(key))
                       == (size_t)EVP_PKEY_get_size(key)
                   && (size_t)EVP_PKEY_get_size(key) == max_sizes[c],
               "%s max size %zu vs %d", curves[c],
               p11prov_ecdsa_der_max_size(EVP_PKEY_get_bits(key)),
               EVP_PKEY_get_size(key));
        for (i = 0; i < 200; i++) {
            EVP_MD_CTX *mctx = EVP_MD_CTX_new();
            size_t der_len = sizeof(der);
            const unsigned char *p = der;
            ECDSA_SIG *sig = NULL;
            const BIGNUM *r = NULL, *s = NULL;

            if (!CHECK(mctx != NULL
                       && EVP_DigestSignInit_ex(mctx, NULL, "SHA2-256", NULL,
                                                NULL, key, NULL)
                              > 0
                       && EVP_DigestSign(mctx, der, &der_len,
                                         (const unsigned char *)&i, sizeof(i))
                              > 0
                       && (sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len))
                              != NULL)) {
                EVP_MD_CTX_free(mctx);
                break;
            }
            ECDSA_SIG_get0(sig, &r, &s);
            CHECK(BN_bn2binpad(r, raw, (int)fb) == (int)fb
                  && BN_bn2binpad(s, raw + fb, (int)fb) == (int)fb);
            n = p11prov_ecdsa_raw_to_der(raw, 2 * fb, out, sizeof(out));
            CHECK_BYTES(out, n, der, der_len, curves[c]);
            CHECK(n <= p11prov_ecdsa_der_max_size(EVP_PKEY_get_bits(key)));
            CHECK(p11prov_ecdsa_raw_to_der(raw, 2 * fb, out, n - 1) == 0);
            CHECK(p11prov_ecdsa_raw_to_der(raw, 2 * fb, out, n) == n);
            CHECK(p11prov_ecdsa_raw_to_der(raw, 2 * fb - 1, out, sizeof(out))
                  == 0);
            ECDSA_SIG_free(sig);
            EVP_MD_CTX_free(mctx);
        }
        EVP_PKEY_free(key);
    }

    /* Crafted halves (leading zeros, top bit set, zero): OpenSSL decodes
     * our DER to the same numbers and re-encodes it byte for byte. */
    for (i = 0; i < 4; i++) {
        const unsigned char *p = out;
        ECDSA_SIG *sig;
        const BIGNUM *r = NULL, *s = NULL;
        BIGNUM *er = NULL, *es = NULL;
        unsigned char *again = NULL;
        int alen;

        memset(raw, i == 3 ? 0x00 : 0xff, 64);
        if (i == 0)
            memset(raw, 0, 31);
        if (i == 1)
            raw[0] = 0x80, raw[32] = 0x00, raw[33] = 0x7f;
        n = p11prov_ecdsa_raw_to_der(raw, 64, out, sizeof(out));
        sig = d2i_ECDSA_SIG(NULL, &p, (long)n);
        if (!CHECKF(n > 0 && sig != NULL && p == out + n, "crafted %zu", i))
            continue;
        ECDSA_SIG_get0(sig, &r, &s);
        er = BN_bin2bn(raw, 32, NULL);
        es = BN_bin2bn(raw + 32, 32, NULL);
        CHECK(BN_cmp(r, er) == 0 && BN_cmp(s, es) == 0);
        alen = i2d_ECDSA_SIG(sig, &again);
        CHECK_BYTES(out, n, again, (size_t)(alen > 0 ? alen : 0), "crafted");
        OPENSSL_free(again);
        BN_free(er);
        BN_free(es);
        ECDSA_SIG_free(sig);
    }
    CHECK(p11prov_ecdsa_raw_to_der(raw, 0, out, sizeof(out)) == 0);
    CHECK(p11prov_ecdsa_der_max_size(0) == 0);
}

/* ---- AlgorithmIdentifiers ---- */

struct ossl_aid {
    unsigned char prov[256], x509[256];
    size_t prov_len, x509_len; /* 0: none */
};

/* What OpenSSL produces for a signature: the provider's ALGORITHM_ID and
 * the signatureAlgorithm of an X509_REQ signed with the same context. */
static void openssl_aid(EVP_PKEY *key, const char *mdname, int pss,
                        const char *saltlen, const char *mgf1,
                        struct ossl_aid *a)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    X509_REQ *req = X509_REQ_new();
    OSSL_PARAM set[3], get[2];
    int ns = 0;

    a->prov_len = a->x509_len = 0;
    if (mctx == NULL || req == NULL
        || EVP_DigestSignInit_ex(mctx, &pctx, mdname, NULL, NULL, key, NULL)
               <= 0)
        goto end;
    if (pss) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0)
            goto end;
        set[ns++] = OSSL_PARAM_construct_utf8_string(
            OSSL_SIGNATURE_PARAM_PSS_SALTLEN, (char *)saltlen, 0);
        if (mgf1 != NULL)
            set[ns++] = OSSL_PARAM_construct_utf8_string(
                OSSL_SIGNATURE_PARAM_MGF1_DIGEST, (char *)mgf1, 0);
        set[ns] = OSSL_PARAM_construct_end();
        if (EVP_PKEY_CTX_set_params(pctx, set) <= 0)
            goto end;
    }
    get[0] = OSSL_PARAM_construct_octet_string(
        OSSL_SIGNATURE_PARAM_ALGORITHM_ID, a->prov, sizeof(a->prov));
    get[1] = OSSL_PARAM_construct_end();
    if (EVP_PKEY_CTX_get_params(pctx, get) > 0 && OSSL_PARAM_modified(get))
        a->prov_len = get[0].return_size;
    if (X509_REQ_set_pubkey(req, key) && X509_REQ_sign_ctx(req, mctx) > 0) {
        const X509_ALGOR *alg = NULL;
        unsigned char *p = a->x509;

        X509_REQ_get0_signature(req, NULL, &alg);
        if (i2d_X509_ALGOR(alg, NULL) <= (int)sizeof(a->x509))
            a->x509_len = (size_t)i2d_X509_ALGOR(alg, &p);
    }
end:
    X509_REQ_free(req);
    EVP_MD_CTX_free(mctx);
}

static void compare_aid(const unsigned char *ours, size_t n,
                        const struct ossl_aid *a, const char *what)
{
    CHECKF((n != 0) == (a->prov_len != 0), "%s: ours %zu bytes, OpenSSL %zu",
           what, n, a->prov_len);
    CHECKF((n != 0) == (a->x509_len != 0), "%s: ours %zu bytes, X.509 %zu",
           what, n, a->x509_len);
    if (n != 0 && a->prov_len != 0)
        CHECK_BYTES(ours, n, a->prov, a->prov_len, what);
    if (n != 0 && a->x509_len != 0)
        CHECK_BYTES(ours, n, a->x509, a->x509_len, what);
}

static void test_aids(EVP_PKEY *const rsa_keys[], size_t n_keys)
{
    static const struct {
        const char *name;
        int value;
    } salts[] = {
        { "digest", P11PROV_PSS_SALTLEN_DIGEST },
        { "max", P11PROV_PSS_SALTLEN_MAX },
        { "auto", P11PROV_PSS_SALTLEN_AUTO },
        { "20", 20 },
        { "0", 0 },
        { "32", 32 },
    };
    static const char *const mgfs[] = { NULL, "SHA1", "SHA2-256", "SHA2-512",
                                        "SHA3-256" };
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    EVP_PKEY *ed448 = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
    struct ossl_aid a;
    unsigned char ours[256];
    char what[160];
    size_t i, j, k, s, n;

    for (i = 0; i < N_MDS; i++) {
        EVP_MD *md = fetch(md_names[i]), *mgf;

        if (md == NULL)
            continue;
        openssl_aid(rsa_keys[0], md_names[i], 0, NULL, NULL, &a);
        n = p11prov_aid_rsa_pkcs1(md, ours, sizeof(ours));
        snprintf(what, sizeof(what), "RSA PKCS#1 %s", md_names[i]);
        compare_aid(ours, n, &a, what);
        CHECK(n == 0 || p11prov_aid_rsa_pkcs1(md, ours, n - 1) == 0);

        openssl_aid(ec, md_names[i], 0, NULL, NULL, &a);
        n = p11prov_aid_ecdsa(md, ours, sizeof(ours));
        snprintf(what, sizeof(what), "ECDSA %s", md_names[i]);
        compare_aid(ours, n, &a, what);

        for (k = 0; k < n_keys; k++) {
            int bits = EVP_PKEY_get_bits(rsa_keys[k]);

            for (j = 0; j < sizeof(mgfs) / sizeof(mgfs[0]); j++) {
                mgf = mgfs[j] != NULL ? fetch(mgfs[j]) : NULL;
                for (s = 0; s < sizeof(salts) / sizeof(salts[0]); s++) {
                    int sl = p11prov_pss_salt_length(salts[s].value, md,
                                                     bits);

                    snprintf(what, sizeof(what),
                             "RSA-PSS %d %s mgf1 %s salt %s (%d)", bits,
                             md_names[i], mgfs[j] ? mgfs[j] : "same",
                             salts[s].name, sl);
                    openssl_aid(rsa_keys[k], md_names[i], 1, salts[s].name,
                                mgfs[j], &a);
                    if (sl < 0) { /* OpenSSL cannot sign with it either */
                        CHECKF(a.x509_len == 0, "%s", what);
                        continue;
                    }
                    n = p11prov_aid_rsa_pss(md, mgf, sl, ours, sizeof(ours));
                    compare_aid(ours, n, &a, what);
                }
                EVP_MD_free(mgf);
            }
        }
        EVP_MD_free(md);
    }
    CHECK(p11prov_aid_rsa_pss(EVP_sha256(), NULL, -1, ours, sizeof(ours))
          == 0);
    CHECK(p11prov_aid_rsa_pkcs1(EVP_md5(), ours, sizeof(ours)) == 0);

    openssl_aid(ed25519, NULL, 0, NULL, NULL, &a);
    compare_aid(ours, p11prov_aid_eddsa(0, ours, sizeof(ours)), &a,
                "Ed25519");
    openssl_aid(ed448, NULL, 0, NULL, NULL, &a);
    compare_aid(ours, p11prov_aid_eddsa(1, ours, sizeof(ours)), &a, "Ed448");
    CHECK(p11prov_aid_eddsa(1, ours, 4) == 0);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ed25519);
    EVP_PKEY_free(ed448);
}

int main(void)
{
    static const size_t sizes[] = { 1024, 1025, 2047, 2048 };
    EVP_PKEY *keys[4];
    size_t i, n = 0;

    for (i = 0; i < 4; i++) {
        keys[n] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", sizes[i]);
        if (CHECKF(keys[n] != NULL
                       && EVP_PKEY_get_bits(keys[n]) == (int)sizes[i],
                   "RSA keygen %zu", sizes[i]))
            n++;
    }
    if (n == 4) {
        test_digest_info(keys[3]);
        test_pss(keys, n);
        test_aids(keys, n);
    }
    test_ecdsa();
    for (i = 0; i < n; i++)
        EVP_PKEY_free(keys[i]);
    return tu_finish("test_sig_encode");
}
