/*
 * tls_handshakes: TLS with a token key in an SSL_CTX, as a TLS application
 * would use it. The token key is loaded ONCE by URI with OSSL_STORE_open_ex
 * (the PIN in the URI, or --pass) and installed with SSL_CTX_use_PrivateKey
 * next to its certificate (SSL_CTX_use_certificate_file), checked with
 * SSL_CTX_check_private_key. The other peer uses a software key and
 * certificate. Both peers require and verify the other's certificate
 * (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, CA file --ca).
 * Server and client run in the same process over a BIO pair; each
 * handshake is followed by a request and a reply, both checked.
 *
 *   tls_handshakes [options] --key URI --cert FILE --peer-key FILE
 *                  --peer-cert FILE --ca FILE
 *     --side server|client  which peer holds the token key (default server)
 *     --tls 1.2|1.3         the only protocol version allowed (default 1.3)
 *     --count N             handshakes (default 1): N sequential ones, or
 *                           with --threads T, N in each of T threads at
 *                           once, every thread sharing both SSL_CTXs (and
 *                           so the one token key)
 *     --threads T
 *     --pass PIN            answer the store's passphrase prompt with PIN
 *
 * Prints "protocol: TLSv1.x", "token key signature: TYPE+DIGEST" (the
 * signature the software peer saw, e.g. RSASSA-PSS+SHA256) and "handshakes: N ok".
 * Exit status: 0 when every handshake and data exchange succeeded, 1
 * otherwise (with OpenSSL's error queue on stderr), 2 on bad usage.
 */
#include <pthread.h>

#include <openssl/ssl.h>

#define PROG "tls_handshakes"
#include "token_key_util.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *server_ctx, *client_ctx;
static int token_is_server = 1;
static int count = 1;
static long succeeded; /* under lock */

/* An SSL_CTX for one peer: its key (an EVP_PKEY, or a PEM file), its
 * certificate file, the CA for the other peer, one protocol version, and
 * the other peer's certificate required. */
static SSL_CTX *make_ctx(int server, EVP_PKEY *pkey, const char *key_file,
                         const char *cert, const char *ca, int version)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method()
                                      : TLS_client_method());
    int ok = ctx != NULL;

    ok = ok && SSL_CTX_set_min_proto_version(ctx, version) == 1
         && SSL_CTX_set_max_proto_version(ctx, version) == 1;
    ok = ok
         && (SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) == 1
             || fail("SSL_CTX_use_certificate_file"));
    if (pkey != NULL)
        ok = ok
             && (SSL_CTX_use_PrivateKey(ctx, pkey) == 1
                 || fail("SSL_CTX_use_PrivateKey (token key)"));
    else
        ok = ok
             && (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM)
                     == 1
                 || fail("SSL_CTX_use_PrivateKey_file"));
    ok = ok
         && (SSL_CTX_check_private_key(ctx) == 1
             || fail("SSL_CTX_check_private_key"));
    ok = ok
         && (SSL_CTX_load_verify_locations(ctx, ca, NULL) == 1
             || fail("SSL_CTX_load_verify_locations"));
    if (ok) {
        SSL_CTX_set_verify(
            ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        /* Every handshake a full one: each signs with the key. */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    } else {
        if (ctx != NULL)
            fail("setting up the SSL_CTX");
        SSL_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

/* Steps a handshake that is not done yet: 1 done, 0 in progress, -1 on
 * failure. */
static int step(SSL *ssl, int *done)
{
    int rv, err;

    if (*done)
        return 1;
    rv = SSL_do_handshake(ssl);
    if (rv == 1)
        return *done = 1;
    err = SSL_get_error(ssl, rv);
    return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

/* Reads exactly len bytes from to, driving from (which may have to
 * process post-handshake messages) in between. */
static int read_all(SSL *to, SSL *from, char *buf, int len)
{
    int got = 0;

    for (int round = 0; got < len && round < 1000; round++) {
        int rv = SSL_read(to, buf + got, len - got);
        char scratch[1];

        if (rv > 0) {
            got += rv;
            continue;
        }
        if (SSL_get_error(to, rv) != SSL_ERROR_WANT_READ)
            return 0;
        /* Let the other side flush whatever it still has to send. */
        rv = SSL_read(from, scratch, 0);
        (void)rv;
    }
    return got == len;
}

static int exchange(SSL *client, SSL *server, long n)
{
    char request[64], reply[64], buf[64];
    int req_len = snprintf(request, sizeof(request), "request %ld", n);
    int rep_len = snprintf(reply, sizeof(reply), "reply to request %ld", n);

    if (SSL_write(client, request, req_len) != req_len)
        return fail("SSL_write (client)");
    if (!read_all(server, client, buf, req_len)
        || memcmp(buf, request, (size_t)req_len) != 0)
        return fail("reading the request on the server");
    if (SSL_write(server, reply, rep_len) != rep_len)
        return fail("SSL_write (server)");
    if (!read_all(client, server, buf, rep_len)
        || memcmp(buf, reply, (size_t)rep_len) != 0)
        return fail("reading the reply on the client");
    return 1;
}

static int peer_verified(SSL *ssl, const char *who)
{
    X509 *peer = SSL_get1_peer_certificate(ssl);
    int ok = peer != NULL && SSL_get_verify_result(ssl) == X509_V_OK;

    X509_free(peer);
    if (!ok) {
        pthread_mutex_lock(&lock);
        fprintf(stderr, "tls_handshakes: the %s did not verify its peer\n",
                who);
        pthread_mutex_unlock(&lock);
    }
    return ok;
}

static int handshake(long n, int report)
{
    SSL *client = SSL_new(client_ctx), *server = SSL_new(server_ctx);
    BIO *cbio = NULL, *sbio = NULL;
    int cdone = 0, sdone = 0, ok = 0, round;

    if (client == NULL || server == NULL
        || BIO_new_bio_pair(&cbio, 65536, &sbio, 65536) != 1) {
        fail("SSL_new / BIO_new_bio_pair");
        goto end;
    }
    SSL_set_bio(client, cbio, cbio);
    SSL_set_bio(server, sbio, sbio);
    SSL_set_connect_state(client);
    SSL_set_accept_state(server);
    for (round = 0; round < 100 && !(cdone && sdone); round++) {
        if (step(client, &cdone) < 0) {
            fail("the client's handshake");
            goto end;
        }
        if (step(server, &sdone) < 0) {
            fail("the server's handshake");
            goto end;
        }
    }
    if (!(cdone && sdone)) {
        fail("the handshake (it did not finish)");
        goto end;
    }
    if (!peer_verified(client, "client") || !peer_verified(server, "server")
        || !exchange(client, server, n))
        goto end;
    if (report) {
        SSL *soft = token_is_server ? client : server;
        int type = NID_undef, md = NID_undef;

        SSL_get_peer_signature_type_nid(soft, &type);
        SSL_get_peer_signature_nid(soft, &md);
        printf("protocol: %s\n", SSL_get_version(client));
        printf("token key signature: %s+%s\n",
               type == NID_undef ? "?" : OBJ_nid2sn(type),
               md == NID_undef ? "?" : OBJ_nid2sn(md));
    }
    ok = 1;
end:
    SSL_free(client);
    SSL_free(server);
    return ok;
}

static void *worker(void *arg)
{
    long base = (long)(size_t)arg * count;

    for (int i = 0; i < count; i++) {
        if (!handshake(base + i, 0))
            return NULL;
        pthread_mutex_lock(&lock);
        succeeded++;
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static int usage(void)
{
    fprintf(stderr, "usage: tls_handshakes [--side server|client] "
                    "[--tls 1.2|1.3] [--count N] [--threads T] [--pass PIN] "
                    "--key URI --cert FILE --peer-key FILE --peer-cert FILE "
                    "--ca FILE\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *uri = NULL, *cert = NULL, *peer_key = NULL, *peer_cert = NULL;
    const char *ca = NULL;
    struct passphrase pass = { NULL, 0 };
    int version = TLS1_3_VERSION, threads = 0, expected;
    EVP_PKEY *pkey = NULL;

    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

        if (val == NULL)
            return usage();
        i++;
        if (strcmp(opt, "--key") == 0)
            uri = val;
        else if (strcmp(opt, "--cert") == 0)
            cert = val;
        else if (strcmp(opt, "--peer-key") == 0)
            peer_key = val;
        else if (strcmp(opt, "--peer-cert") == 0)
            peer_cert = val;
        else if (strcmp(opt, "--ca") == 0)
            ca = val;
        else if (strcmp(opt, "--pass") == 0)
            pass.pin = val;
        else if (strcmp(opt, "--side") == 0 && strcmp(val, "server") == 0)
            token_is_server = 1;
        else if (strcmp(opt, "--side") == 0 && strcmp(val, "client") == 0)
            token_is_server = 0;
        else if (strcmp(opt, "--tls") == 0 && strcmp(val, "1.2") == 0)
            version = TLS1_2_VERSION;
        else if (strcmp(opt, "--tls") == 0 && strcmp(val, "1.3") == 0)
            version = TLS1_3_VERSION;
        else if (strcmp(opt, "--count") == 0 && atoi(val) > 0)
            count = atoi(val);
        else if (strcmp(opt, "--threads") == 0 && atoi(val) > 0
                 && atoi(val) <= 64)
            threads = atoi(val);
        else
            return usage();
    }
    if (uri == NULL || cert == NULL || peer_key == NULL || peer_cert == NULL
        || ca == NULL)
        return usage();

    pkey = load_key_prompted(uri, &pass);
    if (pkey == NULL)
        return 1;
    server_ctx = make_ctx(1, token_is_server ? pkey : NULL, peer_key,
                          token_is_server ? cert : peer_cert, ca, version);
    client_ctx = make_ctx(0, token_is_server ? NULL : pkey, peer_key,
                          token_is_server ? peer_cert : cert, ca, version);
    /* The SSL_CTXs hold their own references. */
    EVP_PKEY_free(pkey);

    if (server_ctx != NULL && client_ctx != NULL && handshake(0, 1)) {
        succeeded = 1;
        if (threads == 0) {
            for (long n = 1; n < count && handshake(n, 0); n++)
                succeeded++;
        } else {
            pthread_t tids[64];
            int started = 0;

            succeeded = 0;
            for (; started < threads; started++)
                if (pthread_create(&tids[started], NULL, worker,
                                   (void *)(size_t)started)
                    != 0) {
                    fprintf(stderr,
                            "tls_handshakes: pthread_create failed\n");
                    break;
                }
            for (int t = 0; t < started; t++)
                pthread_join(tids[t], NULL);
        }
    }
    expected = threads ? threads * count : count;
    printf("handshakes: %ld ok (of %d)\n", succeeded, expected);
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(client_ctx);
    return succeeded == expected ? 0 : 1;
}
