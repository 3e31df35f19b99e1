/*
 * URI key files (provider/ops/uri_file.c, compiled in directly): the encoder's
 * bytes against an independent DER encoding of latchset/pkcs11-provider's
 * ASN.1 definition (SEQUENCE { VisibleString, UTF8String }, made here with
 * libcrypto's generic ASN1_SEQUENCE_ANY), and the decoder's verdict on
 * well-formed files, files other tools write, and every kind of damage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>

#include "ops/uri_file.h"
#include "test_util.h"

#define DESC P11PROV_URI_FILE_DESC

/* latchset's layout, DER-encoded by libcrypto. */
static unsigned char *reference_der(const char *desc, const char *uri,
                                    size_t *len)
{
    STACK_OF(ASN1_TYPE) *seq = sk_ASN1_TYPE_new_null();
    ASN1_TYPE *d = ASN1_TYPE_new(), *u = ASN1_TYPE_new();
    ASN1_STRING *ds = ASN1_STRING_type_new(V_ASN1_VISIBLESTRING);
    ASN1_STRING *us = ASN1_STRING_type_new(V_ASN1_UTF8STRING);
    unsigned char *der = NULL;
    int n;

    if (seq == NULL || d == NULL || u == NULL || ds == NULL || us == NULL
        || !ASN1_STRING_set(ds, desc, (int)strlen(desc))
        || !ASN1_STRING_set(us, uri, (int)strlen(uri)))
        abort();
    ASN1_TYPE_set(d, V_ASN1_VISIBLESTRING, ds);
    ASN1_TYPE_set(u, V_ASN1_UTF8STRING, us);
    sk_ASN1_TYPE_push(seq, d);
    sk_ASN1_TYPE_push(seq, u);
    n = i2d_ASN1_SEQUENCE_ANY(seq, &der);
    if (n <= 0)
        abort();
    *len = (size_t)n;
    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    return der;
}

static void check_encoder_matches_reference(const char *uri)
{
    char msg[P11PROV_URI_FILE_MSG_MAX], *back = NULL;
    unsigned char *ours = NULL, *ref;
    size_t ours_len = 0, ref_len;

    ref = reference_der(DESC, uri, &ref_len);
    CHECKF(p11prov_uri_file_encode(uri, &ours, &ours_len, msg)
               == P11PROV_URI_FILE_OK,
           "%s", msg);
    CHECKF(ours_len == ref_len && memcmp(ours, ref, ref_len) == 0,
           "encoding of %s differs from libcrypto's (%zu vs %zu bytes)", uri,
           ours_len, ref_len);
    /* and libcrypto reads ours as that structure */
    const unsigned char *p = ours;
    STACK_OF(ASN1_TYPE) *seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p,
                                                     (long)ours_len);
    CHECK(seq != NULL && sk_ASN1_TYPE_num(seq) == 2
          && ASN1_TYPE_get(sk_ASN1_TYPE_value(seq, 0)) == V_ASN1_VISIBLESTRING
          && ASN1_TYPE_get(sk_ASN1_TYPE_value(seq, 1)) == V_ASN1_UTF8STRING);
    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    CHECK(p11prov_uri_file_decode(ref, ref_len, &back, msg)
          == P11PROV_URI_FILE_OK);
    CHECKF(back != NULL && strcmp(back, uri) == 0, "decoded %s", back);
    OPENSSL_free(back);
    OPENSSL_free(ref);
    OPENSSL_free(ours);
}

/* Encoding rewrites the URI canonically, without its pin-value only. */
static void check_encoder_strips_pin(void)
{
    char msg[P11PROV_URI_FILE_MSG_MAX], *back = NULL;
    unsigned char *der = NULL;
    size_t len = 0;

    CHECK(p11prov_uri_file_encode(
              "pkcs11:token=t;object=k;type=private?pin-value=S3cret"
              "&pin-source=file:/etc/k.pin",
              &der, &len, msg)
          == P11PROV_URI_FILE_OK);
    CHECK(p11prov_uri_file_decode(der, len, &back, msg)
          == P11PROV_URI_FILE_OK);
    CHECKF(back != NULL && strstr(back, "S3cret") == NULL
               && strstr(back, "pin-value") == NULL
               && strstr(back, "pin-source=file:/etc/k.pin") != NULL
               && strstr(back, "object=k") != NULL,
           "%s", back);
    OPENSSL_free(back);
    OPENSSL_free(der);
    CHECK(p11prov_uri_file_encode("pkcs11:tokn=t", &der, &len, msg)
          == P11PROV_URI_FILE_BAD_URI);
    CHECK(der == NULL && strstr(msg, "tokn") != NULL);
}

/* DER built by hand: a header with a forced number of length octets. */
static size_t put(unsigned char *out, unsigned char tag, const void *value,
                  size_t len, int long_form)
{
    size_t n = 0;

    out[n++] = tag;
    if (long_form) {
        out[n++] = 0x82;
        out[n++] = (unsigned char)(len >> 8);
        out[n++] = (unsigned char)len;
    } else {
        out[n++] = (unsigned char)len;
    }
    memcpy(out + n, value, len);
    return n + len;
}

static size_t build(unsigned char *out, const char *desc,
                    unsigned char uri_tag, const void *uri, size_t uri_len,
                    int long_form)
{
    unsigned char inner[512];
    size_t n = put(inner, 0x1a, desc, strlen(desc), long_form);

    n += put(inner + n, uri_tag, uri, uri_len, long_form);
    return put(out, 0x30, inner, n, long_form);
}

static void expect(const char *what, const unsigned char *der, size_t len,
                   p11prov_uri_file_status status, const char *in_msg)
{
    char msg[P11PROV_URI_FILE_MSG_MAX] = "", *uri = NULL;
    p11prov_uri_file_status got = p11prov_uri_file_decode(der, len, &uri,
                                                          msg);

    CHECKF(got == status, "%s: status %d, expected %d (%s)", what, (int)got,
           (int)status, msg);
    CHECKF((uri != NULL) == (status == P11PROV_URI_FILE_OK), "%s", what);
    if (in_msg != NULL)
        CHECKF(strstr(msg, in_msg) != NULL, "%s: message \"%s\" lacks \"%s\"",
               what, msg, in_msg);
    OPENSSL_free(uri);
}

#define U "pkcs11:token=t;object=k;type=private"

static void check_decoder_verdicts(void)
{
    unsigned char der[600], bad[600];
    size_t n;

    n = build(der, DESC, 0x0c, U, strlen(U), 0);
    expect("minimal DER", der, n, P11PROV_URI_FILE_OK, NULL);
    for (size_t cut = 0; cut < n; cut++)
        expect("truncated", der, cut,
               cut < 3 ? P11PROV_URI_FILE_NOT_OURS : P11PROV_URI_FILE_CORRUPT,
               NULL);
    memcpy(bad, der, n);
    bad[n] = 0;
    expect("trailing byte", bad, n + 1, P11PROV_URI_FILE_CORRUPT, "after");

    n = build(der, DESC, 0x0c, U, strlen(U), 1);
    expect("long-form lengths (written by some tools)", der, n,
           P11PROV_URI_FILE_OK, NULL);

    n = build(der, "PKCS#11 Provider URI v2.0", 0x0c, U, strlen(U), 0);
    expect("other version", der, n, P11PROV_URI_FILE_BAD_DESC, "v2.0");
    n = build(der, "PKCS#11 Provider URI v1.0 ", 0x0c, U, strlen(U), 0);
    expect("description with a space", der, n, P11PROV_URI_FILE_BAD_DESC,
           NULL);
    n = build(der, DESC, 0x04, U, strlen(U), 0);
    expect("URI as OCTET STRING", der, n, P11PROV_URI_FILE_CORRUPT,
           "UTF8String");
    n = build(der, DESC, 0x0c, "pkcs11:tokn=t", 13, 0);
    expect("unknown attribute", der, n, P11PROV_URI_FILE_BAD_URI, "tokn");
    n = build(der, DESC, 0x0c, "file:/k.pem", 11, 0);
    expect("other scheme", der, n, P11PROV_URI_FILE_BAD_URI, NULL);
    n = build(der, DESC, 0x0c, "", 0, 0);
    expect("empty URI", der, n, P11PROV_URI_FILE_BAD_URI, NULL);
    n = build(der, DESC, 0x0c, "pkcs11:token=t\0x", 16, 0);
    expect("NUL in the URI", der, n, P11PROV_URI_FILE_BAD_URI, "UTF-8");
    n = build(der, DESC, 0x0c, "pkcs11:token=\xc0\xaf", 15, 0);
    expect("overlong UTF-8", der, n, P11PROV_URI_FILE_BAD_URI, "UTF-8");
    n = build(der, DESC, 0x0c, U "?pin-value=1234", strlen(U) + 15, 0);
    expect("a file written by hand with a PIN", der, n, P11PROV_URI_FILE_OK,
           NULL);

    /* indefinite length, 5 length octets, a third element, desc alone */
    static const unsigned char indefinite[] = { 0x30, 0x80, 0x1a, 0x00,
                                                0x0c, 0x00, 0x00, 0x00 };
    expect("indefinite length", indefinite, sizeof(indefinite),
           P11PROV_URI_FILE_CORRUPT, NULL);
    n = build(der, DESC, 0x0c, U, strlen(U), 0);
    memcpy(bad, der, n);
    bad[1] = (unsigned char)(bad[1] + 2);
    bad[n] = 0x05;
    bad[n + 1] = 0x00;
    expect("third element", bad, n + 2, P11PROV_URI_FILE_CORRUPT,
           "unexpected");
    n = put(der, 0x30, "\x1a\x01x", 3, 0);
    expect("description only", der, n, P11PROV_URI_FILE_CORRUPT, NULL);

    /* other structures are not ours: no error for other decoders */
    static const unsigned char pkcs8[] = { 0x30, 0x05, 0x02, 0x01,
                                           0x00, 0x30, 0x00 };
    expect("PrivateKeyInfo-like", pkcs8, sizeof(pkcs8),
           P11PROV_URI_FILE_NOT_OURS, NULL);
    expect("not a SEQUENCE", (const unsigned char *)"\x04\x01x", 3,
           P11PROV_URI_FILE_NOT_OURS, NULL);
    CHECK(!p11prov_uri_file_looks_ours(pkcs8, sizeof(pkcs8)));
    CHECK(
        p11prov_uri_file_looks_ours((const unsigned char *)"\x30\x82\x01", 3)
        == 0);
    CHECK(p11prov_uri_file_looks_ours(
              (const unsigned char *)"\x30\x82\x01\x00\x1a", 5)
          == 1);
}

int main(void)
{
    check_encoder_matches_reference(U);
    check_encoder_matches_reference(
        "pkcs11:token=p11prov-soft;manufacturer=SoftHSM%20project;"
        "serial=0123456789abcdef;model=SoftHSM%20v2;object=ec-p256;id=%02;"
        "type=private");
    /* long enough for a two-octet length */
    char longuri[400];
    snprintf(longuri, sizeof(longuri), "pkcs11:token=t;object=%0300d", 7);
    check_encoder_matches_reference(longuri);
    check_encoder_strips_pin();
    check_decoder_verdicts();
    return tu_finish("test_uri_file");
}
