/* Signature encodings around raw token operations: DigestInfo, EMSA-PSS,
 * ECDSA r||s to DER, and signature AlgorithmIdentifiers matching what
 * OpenSSL 3.0's default provider writes. See sig_encode.h. */
#include "ops/sig_encode.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

/* DigestInfo prefix for the NIST hashAlgs arc 2.16.840.1.101.3.4.2.n:
 * SEQUENCE { SEQUENCE { OID, NULL }, OCTET STRING (hlen bytes) }. */
#define NIST_PREFIX(n, hlen)                                                 \
    { 0x30, 0x11 + (hlen), 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48,  0x01,  \
      0x65, 0x03,          0x04, 0x02, (n),  0x05, 0x00, 0x04, (hlen) },     \
        19

/* The signature OIDs are listed here rather than found with
 * OBJ_find_sigid_by_algs(): OpenSSL 3.0's cross-reference table lacks
 * sha512-224/256WithRSAEncryption and ecdsa-with-SHA3-*, which its default
 * provider nevertheless writes. NID_undef: OpenSSL 3.0 writes none (PSS
 * with SHA-3, ECDSA with SHA-512/224 and SHA-512/256). */
struct digest_entry {
    const char *name; /* OpenSSL's canonical name, for EVP_MD_is_a */
    int nid;
    int rsa_nid, ecdsa_nid;
    int pss_aid; /* OpenSSL 3.0 writes RSASSA-PSS params for it */
    unsigned char prefix[19];
    size_t prefix_len;
};

static const struct digest_entry digests[] = {
    { "SHA1",
      NID_sha1,
      NID_sha1WithRSAEncryption,
      NID_ecdsa_with_SHA1,
      1,
      { 0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a,
        0x05, 0x00, 0x04, 0x14 },
      15 },
    { "SHA2-224", NID_sha224, NID_sha224WithRSAEncryption,
      NID_ecdsa_with_SHA224, 1, NIST_PREFIX(0x04, 28) },
    { "SHA2-256", NID_sha256, NID_sha256WithRSAEncryption,
      NID_ecdsa_with_SHA256, 1, NIST_PREFIX(0x01, 32) },
    { "SHA2-384", NID_sha384, NID_sha384WithRSAEncryption,
      NID_ecdsa_with_SHA384, 1, NIST_PREFIX(0x02, 48) },
    { "SHA2-512", NID_sha512, NID_sha512WithRSAEncryption,
      NID_ecdsa_with_SHA512, 1, NIST_PREFIX(0x03, 64) },
    { "SHA2-512/224", NID_sha512_224, NID_sha512_224WithRSAEncryption,
      NID_undef, 1, NIST_PREFIX(0x05, 28) },
    { "SHA2-512/256", NID_sha512_256, NID_sha512_256WithRSAEncryption,
      NID_undef, 1, NIST_PREFIX(0x06, 32) },
    { "SHA3-224", NID_sha3_224, NID_RSA_SHA3_224, NID_ecdsa_with_SHA3_224, 0,
      NIST_PREFIX(0x07, 28) },
    { "SHA3-256", NID_sha3_256, NID_RSA_SHA3_256, NID_ecdsa_with_SHA3_256, 0,
      NIST_PREFIX(0x08, 32) },
    { "SHA3-384", NID_sha3_384, NID_RSA_SHA3_384, NID_ecdsa_with_SHA3_384, 0,
      NIST_PREFIX(0x09, 48) },
    { "SHA3-512", NID_sha3_512, NID_RSA_SHA3_512, NID_ecdsa_with_SHA3_512, 0,
      NIST_PREFIX(0x0a, 64) },
};

static const struct digest_entry *find_digest(const EVP_MD *md)
{
    size_t i;

    if (md == NULL)
        return NULL;
    for (i = 0; i < sizeof(digests) / sizeof(digests[0]); i++)
        if (EVP_MD_is_a(md, digests[i].name))
            return &digests[i];
    return NULL;
}

const unsigned char *p11prov_digest_info_prefix(const EVP_MD *md, size_t *len)
{
    const struct digest_entry *d = find_digest(md);

    if (d == NULL)
        return NULL;
    if (len != NULL)
        *len = d->prefix_len;
    return d->prefix;
}

size_t p11prov_digest_info(const EVP_MD *md, const unsigned char *hash,
                           size_t hash_len, unsigned char *out,
                           size_t out_size)
{
    size_t plen = 0;
    const unsigned char *prefix = p11prov_digest_info_prefix(md, &plen);

    if (prefix == NULL || hash == NULL || out == NULL
        || EVP_MD_get_size(md) < 0 || hash_len != (size_t)EVP_MD_get_size(md)
        || out_size < plen + hash_len)
        return 0;
    memcpy(out, prefix, plen);
    memcpy(out + plen, hash, hash_len);
    return plen + hash_len;
}

int p11prov_pss_salt_length(int requested, const EVP_MD *md, int modulus_bits)
{
    int hlen = md != NULL ? EVP_MD_get_size(md) : -1;
    int em_len, slen;

    if (hlen <= 0 || modulus_bits < 2)
        return -1;
    em_len = (modulus_bits - 1 + 7) / 8; /* emBits = modBits - 1 */
    switch (requested) {
    case P11PROV_PSS_SALTLEN_DIGEST:
        slen = hlen;
        break;
    case P11PROV_PSS_SALTLEN_MAX:
    case P11PROV_PSS_SALTLEN_AUTO:
        slen = em_len - hlen - 2;
        break;
    default:
        if (requested < 0)
            return -1;
        slen = requested;
        break;
    }
    if (slen < 0 || (long)em_len < (long)hlen + slen + 2)
        return -1;
    return slen;
}

/* MGF1 (RFC 8017 B.2.1): XORs the mask from seed into buf[0..len). */
static int mgf1_xor(EVP_MD_CTX *ctx, const EVP_MD *mgf1_md,
                    const unsigned char *seed, size_t seed_len,
                    unsigned char *buf, size_t len)
{
    unsigned char block[EVP_MAX_MD_SIZE];
    unsigned char counter[4];
    unsigned int blen = 0;
    uint32_t c;
    size_t done = 0, i;

    for (c = 0; done < len; c++) {
        counter[0] = (unsigned char)(c >> 24);
        counter[1] = (unsigned char)(c >> 16);
        counter[2] = (unsigned char)(c >> 8);
        counter[3] = (unsigned char)c;
        if (!EVP_DigestInit_ex(ctx, mgf1_md, NULL)
            || !EVP_DigestUpdate(ctx, seed, seed_len)
            || !EVP_DigestUpdate(ctx, counter, sizeof(counter))
            || !EVP_DigestFinal_ex(ctx, block, &blen) || blen == 0)
            return 0;
        for (i = 0; i < blen && done < len; i++)
            buf[done++] ^= block[i];
    }
    OPENSSL_cleanse(block, sizeof(block));
    return 1;
}

size_t p11prov_pss_encode(OSSL_LIB_CTX *libctx, const EVP_MD *md,
                          const EVP_MD *mgf1_md, const unsigned char *hash,
                          size_t hash_len, int salt_len, int modulus_bits,
                          unsigned char *out, size_t out_size)
{
    static const unsigned char zeros[8] = { 0 };
    EVP_MD_CTX *ctx = NULL;
    unsigned char *em, *db, *h, *salt;
    size_t k, em_len, db_len, hlen, slen, ret = 0;
    unsigned int em_bits, hout = 0;

    if (mgf1_md == NULL)
        mgf1_md = md;
    salt_len = p11prov_pss_salt_length(salt_len, md, modulus_bits);
    if (salt_len < 0 || hash == NULL || out == NULL
        || EVP_MD_get_size(mgf1_md) <= 0
        || hash_len != (size_t)EVP_MD_get_size(md))
        return 0;
    hlen = hash_len;
    slen = (size_t)salt_len;
    em_bits = (unsigned int)modulus_bits - 1;
    em_len = (em_bits + 7) / 8;
    k = ((size_t)modulus_bits + 7) / 8;
    if (out_size < k)
        return 0;

    /* out = [0x00 when k > emLen] || maskedDB || H || 0xbc */
    memset(out, 0, k);
    em = out + (k - em_len);
    db_len = em_len - hlen - 1;
    db = em;
    h = em + db_len;
    salt = db + db_len - slen; /* DB = PS || 0x01 || salt */
    db[db_len - slen - 1] = 0x01;
    if (slen > 0 && RAND_bytes_ex(libctx, salt, slen, 0) <= 0)
        goto end;

    /* H = Hash(0x00 * 8 || mHash || salt) */
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || !EVP_DigestInit_ex(ctx, md, NULL)
        || !EVP_DigestUpdate(ctx, zeros, sizeof(zeros))
        || !EVP_DigestUpdate(ctx, hash, hlen)
        || !EVP_DigestUpdate(ctx, salt, slen)
        || !EVP_DigestFinal_ex(ctx, h, &hout) || hout != hlen)
        goto end;
    if (!mgf1_xor(ctx, mgf1_md, h, hlen, db, db_len))
        goto end;
    db[0] &= (unsigned char)(0xff >> (8 * em_len - em_bits));
    em[em_len - 1] = 0xbc;
    ret = k;
end:
    EVP_MD_CTX_free(ctx);
    if (ret == 0)
        OPENSSL_cleanse(out, k);
    return ret;
}

/* Copies an i2d result (freed here) into out; returns its length or 0. */
static size_t take_der(unsigned char *der, int der_len, unsigned char *out,
                       size_t out_size)
{
    size_t n = 0;

    if (der != NULL && der_len > 0 && out != NULL
        && (size_t)der_len <= out_size) {
        memcpy(out, der, (size_t)der_len);
        n = (size_t)der_len;
    }
    OPENSSL_free(der);
    return n;
}

/* Writes a DER length at out (when out is not NULL); returns its size. */
static size_t der_length(size_t len, unsigned char *out)
{
    size_t size = len < 0x80 ? 1 : len < 0x100 ? 2 : 3;

    if (out != NULL) {
        if (size == 1) {
            out[0] = (unsigned char)len;
        } else {
            out[0] = (unsigned char)(0x80 | (size - 1));
            for (size_t i = size - 1; i > 0; i--, len >>= 8)
                out[i] = (unsigned char)len;
        }
    }
    return size;
}

/* The content of a DER INTEGER for an unsigned big-endian number: no
 * leading zero bytes, but one where the top bit would read as a sign. */
static void der_unsigned(const unsigned char **num, size_t *len, bool *pad)
{
    while (*len > 1 && (*num)[0] == 0) {
        (*num)++;
        (*len)--;
    }
    *pad = ((*num)[0] & 0x80) != 0;
}

/* Encoded here rather than through ECDSA_SIG and BIGNUMs: on the signing
 * path that cost a third of the provider's time per signature. */
size_t p11prov_ecdsa_raw_to_der(const unsigned char *raw, size_t raw_len,
                                unsigned char *out, size_t out_size)
{
    const unsigned char *part[2];
    size_t len[2], body = 0, total, pos;
    bool pad[2];

    if (raw == NULL || raw_len == 0 || raw_len % 2 != 0 || raw_len > 8192)
        return 0;
    for (int i = 0; i < 2; i++) {
        part[i] = raw + i * (raw_len / 2);
        len[i] = raw_len / 2;
        der_unsigned(&part[i], &len[i], &pad[i]);
        body += 1 + der_length(len[i] + pad[i], NULL) + len[i] + pad[i];
    }
    total = 1 + der_length(body, NULL) + body;
    if (out == NULL || total > out_size)
        return 0;
    out[0] = 0x30; /* SEQUENCE */
    pos = 1 + der_length(body, out + 1);
    for (int i = 0; i < 2; i++) {
        out[pos++] = 0x02; /* INTEGER */
        pos += der_length(len[i] + pad[i], out + pos);
        if (pad[i])
            out[pos++] = 0x00;
        memcpy(out + pos, part[i], len[i]);
        pos += len[i];
    }
    return pos;
}

size_t p11prov_ecdsa_der_max_size(int order_bits)
{
    int int_len, seq;

    if (order_bits <= 0 || order_bits > 65536)
        return 0;
    /* As OpenSSL's ECDSA_size(): r and s are INTEGERs as long as the
     * order's, which takes order_bits / 8 + 1 bytes (a leading zero byte
     * when order_bits is a multiple of 8). So P-521 gives 139, not 141. */
    int_len = ASN1_object_size(0, order_bits / 8 + 1, V_ASN1_INTEGER);
    if (int_len <= 0)
        return 0;
    seq = ASN1_object_size(1, 2 * int_len, V_ASN1_SEQUENCE);
    return seq > 0 ? (size_t)seq : 0;
}

/* DER of AlgorithmIdentifier { OID nid, parameters } (ptype V_ASN1_UNDEF:
 * absent, V_ASN1_NULL, or V_ASN1_SEQUENCE taking pval); 0 for NID_undef.
 * Frees pval on failure. */
static size_t write_aid(int nid, int ptype, ASN1_STRING *pval,
                        unsigned char *out, size_t out_size)
{
    X509_ALGOR *alg = X509_ALGOR_new();
    ASN1_OBJECT *obj = OBJ_nid2obj(nid);
    unsigned char *der = NULL;
    int der_len = 0;

    if (alg == NULL || nid == NID_undef || obj == NULL
        || !X509_ALGOR_set0(alg, obj, ptype, pval)) {
        ASN1_STRING_free(pval);
        X509_ALGOR_free(alg);
        return 0;
    }
    der_len = i2d_X509_ALGOR(alg, &der);
    X509_ALGOR_free(alg);
    return take_der(der, der_len, out, out_size);
}

size_t p11prov_aid_rsa_pkcs1(const EVP_MD *md, unsigned char *out,
                             size_t out_size)
{
    const struct digest_entry *d = find_digest(md);

    return d != NULL ? write_aid(d->rsa_nid, V_ASN1_NULL, NULL, out, out_size)
                     : 0;
}

size_t p11prov_aid_ecdsa(const EVP_MD *md, unsigned char *out,
                         size_t out_size)
{
    const struct digest_entry *d = find_digest(md);

    return d != NULL
               ? write_aid(d->ecdsa_nid, V_ASN1_UNDEF, NULL, out, out_size)
               : 0;
}

size_t p11prov_aid_eddsa(int is_ed448, unsigned char *out, size_t out_size)
{
    return write_aid(is_ed448 ? NID_ED448 : NID_ED25519, V_ASN1_UNDEF, NULL,
                     out, out_size);
}

/* A digest AlgorithmIdentifier inside RSASSA-PSS-params: with NULL
 * parameters, as OpenSSL 3.0's provider writes them (RFC 4055). */
static X509_ALGOR *digest_algor(int nid)
{
    X509_ALGOR *alg = X509_ALGOR_new();

    if (alg != NULL
        && !X509_ALGOR_set0(alg, OBJ_nid2obj(nid), V_ASN1_NULL, NULL)) {
        X509_ALGOR_free(alg);
        alg = NULL;
    }
    return alg;
}

size_t p11prov_aid_rsa_pss(const EVP_MD *md, const EVP_MD *mgf1_md,
                           int salt_len, unsigned char *out, size_t out_size)
{
    const struct digest_entry *d = find_digest(md);
    const struct digest_entry *m = find_digest(mgf1_md != NULL ? mgf1_md
                                                               : md);
    RSA_PSS_PARAMS *pss = NULL;
    X509_ALGOR *mhash = NULL;
    ASN1_STRING *mparam = NULL, *params = NULL;

    if (d == NULL || m == NULL || !d->pss_aid || !m->pss_aid || salt_len < 0)
        return 0;
    pss = RSA_PSS_PARAMS_new();
    if (pss == NULL)
        goto err;
    /* DEFAULT values are omitted: SHA-1, MGF1 with SHA-1, 20, trailer 1. */
    if (d->nid != NID_sha1
        && (pss->hashAlgorithm = digest_algor(d->nid)) == NULL)
        goto err;
    if (m->nid != NID_sha1) {
        if ((mhash = digest_algor(m->nid)) == NULL
            || (mparam = ASN1_item_pack(mhash, ASN1_ITEM_rptr(X509_ALGOR),
                                        NULL))
                   == NULL
            || (pss->maskGenAlgorithm = X509_ALGOR_new()) == NULL
            || !X509_ALGOR_set0(pss->maskGenAlgorithm, OBJ_nid2obj(NID_mgf1),
                                V_ASN1_SEQUENCE, mparam))
            goto err;
        mparam = NULL;
    }
    if (salt_len != 20
        && ((pss->saltLength = ASN1_INTEGER_new()) == NULL
            || !ASN1_INTEGER_set(pss->saltLength, salt_len)))
        goto err;
    params = ASN1_item_pack(pss, ASN1_ITEM_rptr(RSA_PSS_PARAMS), NULL);
    if (params == NULL)
        goto err;
    X509_ALGOR_free(mhash);
    RSA_PSS_PARAMS_free(pss);
    return write_aid(NID_rsassaPss, V_ASN1_SEQUENCE, params, out, out_size);
err:
    ASN1_STRING_free(mparam);
    X509_ALGOR_free(mhash);
    RSA_PSS_PARAMS_free(pss);
    return 0;
}
