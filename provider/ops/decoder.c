/* Decoders for URI key files (uri_file.h): reading one gives the token
 * private key its URI names.
 *
 * How OpenSSL 3.0 reaches them:
 * - Its own PEM to DER decoder passes on only the PEM labels it knows and
 *   drops the others, so "PKCS#11 PROVIDER URI" needs a PEM decoder here:
 *   "DER" from input=pem.
 * - The file: store loader (openssl apps, OSSL_STORE) runs only decoders
 *   that output DER; it hands their output to libcrypto's store result
 *   handler, which decodes it again with OSSL_DECODER_CTX_new_for_pkey. A
 *   key reference must only be produced in that second decoding: the
 *   store handler would give a reference to the file loader's provider
 *   (the default provider), never to us. So the PEM decoder and the
 *   DER-to-DER decoder ("DER" from input=der, for DER files) pass on the
 *   DER, with data structure "pk11-uri", and the key type decoders
 *   ("RSA", "EC", ... from input=der, structure=pk11-uri) make the key
 *   reference that OSSL_DECODER_CTX_new_for_pkey gives to our keymgmt.
 * - Errors raised in that second decoding are dropped by the store result
 *   handler. So the first of our decoders to meet a file loads the key
 *   (any token or PIN error then reaches the application) and hands it to
 *   the key type decoder that the same thread runs next for the same DER.
 *
 * Data that is not a URI file gives no object and no error: other
 * decoders get their turn. A file that is one but is corrupted (bad
 * base64, bad DER, wrong description, a URI that does not parse) is an
 * error that says so. */
#include <pthread.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/pem.h>

#include "core/context.h"
#include "core/debug.h"
#include "keys/key.h"
#include "ops/store.h"
#include "ops/uri_file.h"

typedef struct dec_ctx {
    P11PROV_CTX *provctx;
} DEC_CTX;

/* The key loaded for a URI file while that file's DER travels to the key
 * type decoder: one per thread, on the stack of the outermost of our
 * decoders, found through a thread key. Not in _Thread_local storage: GCC
 * 12's LeakSanitizer misreads the dynamic TLS of a dlopen'ed library and
 * crashes (google/sanitizers#1409). */
struct handoff {
    const P11PROV_CTX *provctx;
    const unsigned char *der;
    size_t der_len;
    P11PROV_KEY *key;
};

static pthread_key_t handoff_key;
static pthread_once_t handoff_key_once = PTHREAD_ONCE_INIT;
static bool handoff_key_made;

static void make_handoff_key(void)
{
    handoff_key_made = pthread_key_create(&handoff_key, NULL) == 0;
}

/* The key is set only during a decode call, so no thread holds a value
 * when the library is unloaded; deleting it lets a reload make a new one. */
__attribute__((destructor)) static void delete_handoff_key(void)
{
    if (handoff_key_made)
        pthread_key_delete(handoff_key);
}

/* This thread's handoff, or NULL outside our decoding. */
static struct handoff *current_handoff(void)
{
    pthread_once(&handoff_key_once, make_handoff_key);
    return handoff_key_made ? pthread_getspecific(handoff_key) : NULL;
}

static OSSL_FUNC_decoder_newctx_fn dec_newctx;
static OSSL_FUNC_decoder_freectx_fn dec_freectx;
static OSSL_FUNC_decoder_decode_fn dec_pem_decode;
static OSSL_FUNC_decoder_decode_fn dec_der_decode;
static OSSL_FUNC_decoder_decode_fn dec_key_decode;
static OSSL_FUNC_decoder_does_selection_fn dec_key_does_selection;
static OSSL_FUNC_decoder_export_object_fn dec_key_export_object;

static void *dec_newctx(void *provctx)
{
    DEC_CTX *dctx = OPENSSL_zalloc(sizeof(*dctx));

    if (dctx == NULL) {
        P11PROV_RAISE(provctx, P11PROV_R_MEMORY, "creating a decoder");
        return NULL;
    }
    dctx->provctx = provctx;
    return dctx;
}

static void dec_freectx(void *vctx)
{
    OPENSSL_free(vctx);
}

/* Reads one PEM block. Returns 1 with *der set when it is labelled as a
 * URI file, 0 when it is not (or there is no PEM block), -1 when it is
 * labelled as one but cannot be read (error raised). */
static int read_uri_pem(DEC_CTX *dctx, BIO *in, unsigned char **der,
                        long *der_len)
{
    static const char begin[] = "-----BEGIN " P11PROV_URI_FILE_PEM_LABEL
                                "-----";
    BIO *block = BIO_new(BIO_s_mem());
    char line[256], *name = NULL, *header = NULL;
    bool begun = false, ended = false;
    size_t total = 0;
    int n, ret = -1;

    if (block == NULL) {
        P11PROV_RAISE(dctx->provctx, P11PROV_R_MEMORY, "reading PEM");
        return -1;
    }
    while (!ended && (n = BIO_gets(in, line, sizeof(line))) > 0) {
        if (!begun) {
            if (strncmp(line, "-----BEGIN ", 11) != 0)
                continue;
            line[strcspn(line, "\r\n")] = '\0';
            if (strcmp(line, begin) != 0) {
                ret = 0; /* another PEM block */
                goto done;
            }
            begun = true;
            BIO_printf(block, "%s\n", line);
            continue;
        }
        total += (size_t)n;
        if (total > 4 * P11PROV_URI_FILE_MAX_DER) {
            P11PROV_RAISE(dctx->provctx, P11PROV_R_BAD_ARGUMENT,
                          "%s PEM block larger than any URI key file",
                          P11PROV_URI_FILE_PEM_LABEL);
            goto done;
        }
        ended = strncmp(line, "-----END ", 9) == 0;
        BIO_write(block, line, n);
    }
    if (!begun) {
        ret = 0;
        goto done;
    }
    if (!ended) {
        P11PROV_RAISE(dctx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "truncated %s PEM block: no END line",
                      P11PROV_URI_FILE_PEM_LABEL);
        goto done;
    }
    if (PEM_read_bio(block, &name, &header, der, der_len) <= 0
        || strcmp(name, P11PROV_URI_FILE_PEM_LABEL) != 0) {
        P11PROV_RAISE(dctx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "corrupted %s PEM block: bad base64 or END line",
                      P11PROV_URI_FILE_PEM_LABEL);
        goto done;
    }
    if (header[0] != '\0') {
        P11PROV_RAISE(dctx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "%s PEM block with headers (encrypted?): URI key "
                      "files have none",
                      P11PROV_URI_FILE_PEM_LABEL);
        goto done;
    }
    ret = 1;
done:
    if (ret != 1) {
        OPENSSL_free(*der);
        *der = NULL;
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    BIO_free(block);
    return ret;
}

/* Reads n bytes, however the BIO splits them; the number read. */
static size_t read_full(BIO *in, unsigned char *buf, size_t n)
{
    size_t got = 0;
    int r;

    while (got < n && (r = BIO_read(in, buf + got, (int)(n - got))) > 0)
        got += (size_t)r;
    return got;
}

/* Reads one DER TLV that starts with a SEQUENCE tag, up to the URI file
 * size limit. 1: *der holds it; 0: not a candidate (not a SEQUENCE, too
 * large, or short and not starting like a URI file); -1: a truncated URI
 * file (error raised). */
static int read_der(DEC_CTX *dctx, BIO *in, unsigned char **der,
                    size_t *der_len)
{
    unsigned char head[6], *buf;
    size_t hlen = 2, len = 0, got;

    *der = NULL;
    if (read_full(in, head, 2) != 2 || head[0] != 0x30)
        return 0;
    if (head[1] & 0x80) {
        size_t n = head[1] & 0x7fu;
        if (n == 0 || n > 4 || read_full(in, head + 2, n) != n)
            return 0;
        hlen += n;
        for (size_t i = 0; i < n; i++)
            len = (len << 8) | head[2 + i];
    } else {
        len = head[1];
    }
    if (len > P11PROV_URI_FILE_MAX_DER)
        return 0;
    buf = OPENSSL_malloc(hlen + len);
    if (buf == NULL) {
        P11PROV_RAISE(dctx->provctx, P11PROV_R_MEMORY, "reading DER");
        return -1;
    }
    memcpy(buf, head, hlen);
    got = read_full(in, buf + hlen, len);
    if (got != len) {
        int ours = p11prov_uri_file_looks_ours(buf, hlen + got);
        OPENSSL_free(buf);
        if (!ours)
            return 0;
        P11PROV_RAISE(dctx->provctx, P11PROV_R_BAD_ARGUMENT,
                      "truncated URI key file: %zu of %zu DER bytes",
                      hlen + got, hlen + len);
        return -1;
    }
    *der = buf;
    *der_len = hlen + len;
    return 1;
}

/* Parses a URI file. 1: *uri set; 0: not one (claimed false only);
 * -1: a corrupted one (error raised). claimed: the PEM label said it is
 * one, so anything else is corruption too. */
static int parse(DEC_CTX *dctx, const unsigned char *der, size_t der_len,
                 bool claimed, char **uri)
{
    char msg[P11PROV_URI_FILE_MSG_MAX];
    p11prov_uri_file_status status;

    status = p11prov_uri_file_decode(der, der_len, uri, msg);
    if (status == P11PROV_URI_FILE_OK)
        return 1;
    if (status == P11PROV_URI_FILE_NOT_OURS && !claimed)
        return 0;
    P11PROV_RAISE(dctx->provctx,
                  status == P11PROV_URI_FILE_MEMORY ? P11PROV_R_MEMORY
                  : status == P11PROV_URI_FILE_BAD_URI
                      ? P11PROV_R_BAD_URI
                      : P11PROV_R_BAD_ARGUMENT,
                  "corrupted PKCS#11 URI key file: %s", msg);
    return -1;
}

static bool handoff_matches(const struct handoff *handoff,
                            const DEC_CTX *dctx, const unsigned char *der,
                            size_t der_len)
{
    return handoff != NULL && handoff->provctx == dctx->provctx
           && handoff->der_len == der_len
           && memcmp(handoff->der, der, der_len) == 0;
}

/* The key a URI file names: the one handed over for this DER, or loaded
 * now (a new reference, or NULL with the error raised). */
static P11PROV_KEY *key_for(DEC_CTX *dctx, const unsigned char *der,
                            size_t der_len, const char *uri,
                            OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    struct handoff *handoff = current_handoff();

    if (handoff_matches(handoff, dctx, der, der_len))
        return p11prov_key_ref(handoff->key);
    P11PROV_DEBUG(1, "URI key file names %s", uri);
    return p11prov_load_private_key(dctx->provctx, uri, pw_cb, pw_cbarg);
}

/* PEM and DER-to-DER decoders: load the key, then pass the DER on to the
 * key type decoders, with the key handed over. */
static int pass_der_on(DEC_CTX *dctx, const unsigned char *der,
                       size_t der_len, bool claimed, OSSL_CALLBACK *object_cb,
                       void *object_cbarg, OSSL_PASSPHRASE_CALLBACK *pw_cb,
                       void *pw_cbarg)
{
    int object_type = OSSL_OBJECT_PKEY, found, ok;
    char *uri = NULL;
    P11PROV_KEY *key;
    struct handoff handoff;
    bool outermost;
    OSSL_PARAM params[5];

    found = parse(dctx, der, der_len, claimed, &uri);
    if (found <= 0)
        return found == 0;
    key = key_for(dctx, der, der_len, uri, pw_cb, pw_cbarg);
    OPENSSL_free(uri);
    if (key == NULL)
        return 0;
    /* OpenSSL's decoders keep der alive until object_cb returns */
    outermost = current_handoff() == NULL && handoff_key_made;
    if (outermost) {
        handoff = (struct handoff){ .provctx = dctx->provctx,
                                    .der = der,
                                    .der_len = der_len,
                                    .key = key };
        if (pthread_setspecific(handoff_key, &handoff) != 0)
            outermost = false; /* the key type decoder loads it again */
    }
    params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE,
                                         &object_type);
    params[1] = OSSL_PARAM_construct_utf8_string(
        OSSL_OBJECT_PARAM_DATA_TYPE, (char *)p11prov_key_kind_name(key->kind),
        0);
    params[2] = OSSL_PARAM_construct_utf8_string(
        OSSL_OBJECT_PARAM_DATA_STRUCTURE, P11PROV_URI_FILE_STRUCTURE, 0);
    params[3] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA,
                                                  (void *)der, der_len);
    params[4] = OSSL_PARAM_construct_end();
    ok = object_cb(params, object_cbarg);
    if (outermost)
        pthread_setspecific(handoff_key, NULL);
    if (!ok)
        P11PROV_RAISE(dctx->provctx, P11PROV_R_UNSUPPORTED,
                      "OpenSSL took no key from the URI key file naming %s",
                      key->object.uri);
    p11prov_key_unref(key);
    return ok;
}

/* The input as DER: one PEM block labelled as a URI file (pem), or one
 * DER SEQUENCE. 1: *der is set; 0: nothing for us; -1: a damaged URI file
 * (error raised). */
static int read_input(DEC_CTX *dctx, OSSL_CORE_BIO *cin, bool pem,
                      unsigned char **der, size_t *der_len)
{
    BIO *in = BIO_new_from_core_bio(dctx->provctx->libctx, cin);
    long pem_len = 0;
    int found;

    *der = NULL;
    if (in == NULL)
        return 0; /* nothing read: other decoders may do better */
    if (pem) {
        found = read_uri_pem(dctx, in, der, &pem_len);
        *der_len = (size_t)pem_len;
    } else {
        found = read_der(dctx, in, der, der_len);
    }
    BIO_free(in);
    return found;
}

/* The PEM decoder (pem) and the DER-to-DER one. */
static int decode_and_pass_on(void *vctx, OSSL_CORE_BIO *cin, bool pem,
                              OSSL_CALLBACK *object_cb, void *object_cbarg,
                              OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    DEC_CTX *dctx = vctx;
    unsigned char *der;
    size_t der_len = 0;
    int found, ok;

    found = read_input(dctx, cin, pem, &der, &der_len);
    if (found <= 0)
        return found == 0;
    ok = pass_der_on(dctx, der, der_len, pem, object_cb, object_cbarg, pw_cb,
                     pw_cbarg);
    OPENSSL_free(der);
    return ok;
}

static int dec_pem_decode(void *vctx, OSSL_CORE_BIO *cin, int selection,
                          OSSL_CALLBACK *object_cb, void *object_cbarg,
                          OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    (void)selection;
    return decode_and_pass_on(vctx, cin, true, object_cb, object_cbarg, pw_cb,
                              pw_cbarg);
}

static int dec_der_decode(void *vctx, OSSL_CORE_BIO *cin, int selection,
                          OSSL_CALLBACK *object_cb, void *object_cbarg,
                          OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    (void)selection;
    return decode_and_pass_on(vctx, cin, false, object_cb, object_cbarg,
                              pw_cb, pw_cbarg);
}

/* The key type decoders: the key, by reference, for our keymgmt. The key
 * keeps its own type whatever the decoder's name. */
static int dec_key_decode(void *vctx, OSSL_CORE_BIO *cin, int selection,
                          OSSL_CALLBACK *object_cb, void *object_cbarg,
                          OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    DEC_CTX *dctx = vctx;
    int object_type = OSSL_OBJECT_PKEY, found, ok;
    unsigned char *der;
    size_t der_len = 0;
    char *uri = NULL;
    P11PROV_KEY *key;
    OSSL_PARAM params[4];

    (void)selection;
    found = read_input(dctx, cin, false, &der, &der_len);
    if (found > 0)
        found = parse(dctx, der, der_len, false, &uri);
    if (found <= 0) {
        OPENSSL_free(der);
        return found == 0;
    }
    key = key_for(dctx, der, der_len, uri, pw_cb, pw_cbarg);
    OPENSSL_free(uri);
    OPENSSL_free(der);
    if (key == NULL)
        return 0;
    params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE,
                                         &object_type);
    params[1] = OSSL_PARAM_construct_utf8_string(
        OSSL_OBJECT_PARAM_DATA_TYPE, (char *)p11prov_key_kind_name(key->kind),
        0);
    /* keymgmt load takes its own reference; ours is dropped below. */
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE,
                                                  &key, sizeof(key));
    params[3] = OSSL_PARAM_construct_end();
    ok = object_cb(params, object_cbarg);
    p11prov_key_unref(key);
    return ok;
}

/* A URI file is a private key file; reading it for a public key also
 * gives the token key (whose public part is there). Parameters alone: no. */
static int dec_key_does_selection(void *provctx, int selection)
{
    (void)provctx;
    return selection == 0 || (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0;
}

/* Asked for when another provider's keymgmt would take the key: a token
 * private key is never exported. */
static int dec_key_export_object(void *vctx, const void *reference,
                                 size_t reference_sz,
                                 OSSL_CALLBACK *export_cb, void *export_cbarg)
{
    (void)vctx;
    (void)reference;
    (void)reference_sz;
    (void)export_cb;
    (void)export_cbarg;
    return 0;
}

static const OSSL_DISPATCH pem_functions[] = {
    { OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))dec_newctx },
    { OSSL_FUNC_DECODER_FREECTX, (void (*)(void))dec_freectx },
    { OSSL_FUNC_DECODER_DECODE, (void (*)(void))dec_pem_decode },
    { 0, NULL },
};

static const OSSL_DISPATCH der_functions[] = {
    { OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))dec_newctx },
    { OSSL_FUNC_DECODER_FREECTX, (void (*)(void))dec_freectx },
    { OSSL_FUNC_DECODER_DECODE, (void (*)(void))dec_der_decode },
    { 0, NULL },
};

static const OSSL_DISPATCH key_functions[] = {
    { OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))dec_newctx },
    { OSSL_FUNC_DECODER_FREECTX, (void (*)(void))dec_freectx },
    { OSSL_FUNC_DECODER_DOES_SELECTION,
      (void (*)(void))dec_key_does_selection },
    { OSSL_FUNC_DECODER_DECODE, (void (*)(void))dec_key_decode },
    { OSSL_FUNC_DECODER_EXPORT_OBJECT,
      (void (*)(void))dec_key_export_object },
    { 0, NULL },
};

#define KEY_DECODER(name)                                                    \
    { name,                                                                  \
      "provider=pkcs11,input=der,structure=" P11PROV_URI_FILE_STRUCTURE,     \
      key_functions, "the token key a PKCS#11 URI key file names" }

const OSSL_ALGORITHM p11prov_decoder_algorithms[] = {
    { "DER", "provider=pkcs11,input=pem", pem_functions,
      "PEM PKCS#11 URI key files to DER" },
    { "DER", "provider=pkcs11,input=der", der_functions,
      "DER PKCS#11 URI key files, checked and passed on" },
    KEY_DECODER("RSA"),
    KEY_DECODER("RSA-PSS"),
    KEY_DECODER("EC"),
    KEY_DECODER("ED25519"),
    KEY_DECODER("ED448"),
    { NULL, NULL, NULL, NULL },
};
