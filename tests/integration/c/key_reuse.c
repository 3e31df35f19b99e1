/*
 * key_reuse: what an application that loads its key again and again
 * (curl, per transfer) or signs from many threads costs the token.
 *
 *   key_reuse [--loads K] [--threads N --count M] [--no-verify] URI
 *
 * --loads K: loads the URI K times with OSSL_STORE, one signature with
 * each key (verified in software with the first key's public part).
 * --threads N --count M: then N threads each sign M times with one key.
 * --no-verify: signatures are not checked (modules that return fixed
 * bytes, such as the mock). Prints "signed: S failed: F" and exits 0 when
 * F is 0. A deadline of 120 s turns a deadlock into a failure.
 */
#define PROG "key_reuse"
#include <pthread.h>
#include <stdlib.h>

#include "token_key_util.h"

static const unsigned char data[] = "key_reuse: the data signed";
static EVP_PKEY *shared_key, *public_key;
static int count = 1, verify = 1;
static int signed_ok, failed;
static pthread_mutex_t tally_lock = PTHREAD_MUTEX_INITIALIZER;

static void sign_once(EVP_PKEY *key)
{
    int ok;

    if (verify) {
        ok = sign_and_verify(key, public_key, data, sizeof(data));
    } else {
        unsigned char *sig = NULL;
        size_t sig_len = 0;
        ok = digest_sign(key, default_digest(key), data, sizeof(data), &sig,
                         &sig_len);
        OPENSSL_free(sig);
    }
    pthread_mutex_lock(&tally_lock);
    if (ok)
        signed_ok++;
    else
        failed++;
    pthread_mutex_unlock(&tally_lock);
}

static void *signer(void *arg)
{
    (void)arg;
    for (int i = 0; i < count; i++)
        sign_once(shared_key);
    return NULL;
}

int main(int argc, char **argv)
{
    int loads = 1, threads = 0;
    pthread_t ids[64];
    const char *uri = NULL;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-verify") == 0)
            verify = 0;
        else if (strcmp(argv[i], "--loads") == 0 && i + 1 < argc)
            loads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
            count = atoi(argv[++i]);
        else
            uri = argv[i];
    }
    if (uri == NULL || loads < 1 || threads < 0 || threads > 64
        || count < 1) {
        fprintf(stderr, "usage: " PROG " [--loads K] [--threads N --count M]"
                        " [--no-verify] URI\n");
        return 2;
    }
    arm_deadline(120);
    for (int i = 0; i < loads; i++) {
        EVP_PKEY *key = load_key(uri);
        if (key == NULL)
            return 1;
        if (public_key == NULL && verify
            && (public_key = software_public_key(key)) == NULL)
            return 1;
        sign_once(key);
        if (shared_key == NULL)
            shared_key = key;
        else
            EVP_PKEY_free(key);
    }
    for (int i = 0; i < threads; i++)
        if (pthread_create(&ids[i], NULL, signer, NULL) != 0)
            return fail("pthread_create"), 1;
    for (int i = 0; i < threads; i++)
        pthread_join(ids[i], NULL);
    printf("signed: %d failed: %d\n", signed_ok, failed);
    EVP_PKEY_free(shared_key);
    EVP_PKEY_free(public_key);
    return failed == 0 ? 0 : 1;
}
