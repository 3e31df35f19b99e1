/*
 * libFuzzer target for URI key files (provider/ops/uri_file.c), the parse the
 * provider's decoders run on every DER and PEM they meet. The input is
 * taken both as DER and as PEM text (PEM_read_bio, then the DER parse when
 * the label is "PKCS#11 PROVIDER URI"). Any input either
 *   - is refused with a status and a message, and no URI; NOT_OURS exactly
 *     when it does not start like a URI file (p11prov_uri_file_looks_ours);
 *   - or gives a URI that parses, and that encodes to a URI file which
 *     parses back to the same URI without its pin-value, and encodes the
 *     same way again (the encoder's output is canonical).
 * Violations end in __builtin_trap() so libFuzzer records a crash.
 */
#include "ops/uri_file.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "pkcs11_uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                        \
    do {                                                                     \
        if (!(cond))                                                         \
            __builtin_trap();                                                \
    } while (0)

static void check_encoding(const char *uri)
{
    char msg[P11PROV_URI_FILE_MSG_MAX];
    unsigned char *der = NULL, *again_der = NULL;
    size_t der_len = 0, again_len = 0;
    char *back = NULL;
    p11uri *original = NULL, *decoded = NULL;
    p11prov_uri_file_status st;

    st = p11prov_uri_file_encode(uri, &der, &der_len, msg);
    if (st == P11PROV_URI_FILE_MEMORY)
        return;
    if (st != P11PROV_URI_FILE_OK) {
        /* Only refused when the canonical form outgrew the limit. */
        char *canonical;
        REQUIRE(st == P11PROV_URI_FILE_BAD_URI && der == NULL);
        REQUIRE(p11uri_parse(uri, &original, NULL) == P11URI_OK);
        canonical = p11uri_format(original, P11URI_FORMAT_OMIT_PIN);
        REQUIRE(canonical == NULL
                || strlen(canonical) > P11PROV_URI_FILE_MAX_URI);
        free(canonical);
        p11uri_free(original);
        return;
    }
    /* Everything the decoder accepts, the encoder writes. */
    REQUIRE(der != NULL);
    REQUIRE(p11prov_uri_file_looks_ours(der, der_len));
    st = p11prov_uri_file_decode(der, der_len, &back, msg);
    REQUIRE(st == P11PROV_URI_FILE_OK || st == P11PROV_URI_FILE_MEMORY);
    if (st == P11PROV_URI_FILE_OK) {
        REQUIRE(p11uri_parse(uri, &original, NULL) == P11URI_OK);
        REQUIRE(p11uri_parse(back, &decoded, NULL) == P11URI_OK);
        /* Never a PIN in a written file; all the rest kept. */
        REQUIRE(!decoded->values[P11URI_PIN_VALUE].present);
        p11uri_unset(original, P11URI_PIN_VALUE);
        REQUIRE(p11uri_equal(original, decoded));
        if (p11prov_uri_file_encode(back, &again_der, &again_len, msg)
            == P11PROV_URI_FILE_OK)
            REQUIRE(again_len == der_len
                    && memcmp(again_der, der, der_len) == 0);
    }
    p11uri_free(original);
    p11uri_free(decoded);
    OPENSSL_free(back);
    OPENSSL_free(again_der);
    OPENSSL_free(der);
}

static void check_der(const unsigned char *der, size_t len)
{
    char msg[P11PROV_URI_FILE_MSG_MAX];
    char *uri = (char *)1;
    p11prov_uri_file_status st;

    msg[0] = '\0';
    st = p11prov_uri_file_decode(der, len, &uri, msg);
    if (st != P11PROV_URI_FILE_OK) {
        REQUIRE(uri == NULL);
        REQUIRE(msg[0] != '\0' && memchr(msg, '\0', sizeof(msg)) != NULL);
        REQUIRE((st == P11PROV_URI_FILE_NOT_OURS)
                == !p11prov_uri_file_looks_ours(der, len));
        return;
    }
    REQUIRE(uri != NULL && p11prov_uri_file_looks_ours(der, len));
    REQUIRE(strlen(uri) > 0 && strlen(uri) <= P11PROV_URI_FILE_MAX_URI);
    check_encoding(uri);
    OPENSSL_free(uri);
}

static void check_pem(const uint8_t *data, size_t size)
{
    BIO *in = BIO_new_mem_buf(data, (int)size);
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long len = 0;

    if (in == NULL)
        return;
    if (PEM_read_bio(in, &name, &header, &der, &len) > 0
        && strcmp(name, P11PROV_URI_FILE_PEM_LABEL) == 0)
        check_der(der, (size_t)len);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(der);
    BIO_free(in);
    ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4 * P11PROV_URI_FILE_MAX_DER)
        return 0;
    check_der(data, size);
    check_pem(data, size);
    return 0;
}
