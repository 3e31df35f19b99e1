/*
 * concurrent_sign: a busy server's view of the provider. Token keys are
 * loaded once by URI (OSSL_STORE) and shared by N signer threads that all
 * sign at once: signer t's i-th signature uses key (t + i) mod K, over data
 * naming t and i, so every key is in use by several threads at every moment
 * and a signature handed to the wrong thread fails to verify. Every
 * signature is verified in the default provider with the key's public key
 * read from a file (not obtained through the provider). Meanwhile L loader
 * threads load the keys by URI again, in turn, until the last signer is
 * done: each key loaded must equal its public key (EVP_PKEY_eq) and sign
 * once, verified.
 *
 *   concurrent_sign [--threads N] [--count M] [--loaders L] [--timeout S]
 *                   --key URI PUB.pem [--key URI PUB.pem ...]
 *
 * Defaults: 8 threads, 2000 signatures each, 2 loaders, 300 s. Prints per
 * key (K: its place in the command line, from 0)
 *   key K: N signatures verified, N loads verified
 * then "signatures: N verified" (the signers') and
 * "loads: N verified, N while signers ran".
 * Exit status: 0 when every signature and load worked, 1 otherwise
 * (OpenSSL's error queue on stderr), 2 on bad usage, 3 on timeout.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define PROG "concurrent_sign"
#include "token_key_util.h"

#define MAX_KEYS 16

struct token_key {
    const char *uri;
    const char *pub_path;
    EVP_PKEY *key;          /* shared by every signer */
    EVP_PKEY *pub;          /* from pub_path, default provider */
    atomic_long signatures; /* made by signers and verified */
    atomic_long loads;      /* loaded again, matched, signed, verified */
};

static struct token_key keys[MAX_KEYS];
static int key_count;
static int signatures_per_thread = 2000;
static pthread_barrier_t start_together;
static atomic_int signers_running;
static atomic_int failed;
static atomic_long loads_while_signing;

static void *signer(void *arg)
{
    int thread = (int)(intptr_t)arg;

    pthread_barrier_wait(&start_together);
    for (int i = 0; i < signatures_per_thread && !atomic_load(&failed); i++) {
        struct token_key *k = &keys[(thread + i) % key_count];
        char data[96];
        int len = snprintf(data, sizeof(data),
                           "concurrent_sign signer %d signature %d", thread,
                           i);

        if (!sign_and_verify(k->key, k->pub, (unsigned char *)data,
                             (size_t)len)) {
            fprintf(stderr, PROG ": signer %d, signature %d with %s\n",
                    thread, i, k->uri);
            atomic_store(&failed, 1);
        } else {
            atomic_fetch_add(&k->signatures, 1);
        }
    }
    atomic_fetch_sub(&signers_running, 1);
    return NULL;
}

/* Loads k's private key by URI again; it must be k's and sign. */
static int load_and_use(struct token_key *k, int loader)
{
    EVP_PKEY *loaded = load_key(k->uri);
    char data[64];
    int len = snprintf(data, sizeof(data), "concurrent_sign loader %d",
                       loader);
    int ok = loaded != NULL;

    if (ok && EVP_PKEY_eq(loaded, k->pub) != 1)
        ok = fail("EVP_PKEY_eq of a key loaded again and its public key");
    if (ok
        && !sign_and_verify(loaded, k->pub, (unsigned char *)data,
                            (size_t)len))
        ok = 0;
    if (!ok)
        fprintf(stderr, PROG ": loader %d, loading %s\n", loader, k->uri);
    EVP_PKEY_free(loaded);
    return ok;
}

/* Loads until the signers are done (once at least). */
static void *loader(void *arg)
{
    int index = (int)(intptr_t)arg;

    pthread_barrier_wait(&start_together);
    for (int n = 0; !atomic_load(&failed); n++) {
        struct token_key *k = &keys[(index + n) % key_count];
        int signing = atomic_load(&signers_running) > 0;

        if (n > 0 && !signing)
            break;
        if (!load_and_use(k, index)) {
            atomic_store(&failed, 1);
            break;
        }
        atomic_fetch_add(&k->loads, 1);
        /* Still signing when the load ended: the two overlapped. */
        if (atomic_load(&signers_running) > 0)
            atomic_fetch_add(&loads_while_signing, 1);
    }
    return NULL;
}

static int load_keys(void)
{
    for (int i = 0; i < key_count; i++)
        if (!load_key_and_public(keys[i].uri, keys[i].pub_path, &keys[i].key,
                                 &keys[i].pub))
            return 0;
    return 1;
}

static int run_threads(int signers, int loaders)
{
    pthread_t *threads = calloc((size_t)(signers + loaders),
                                sizeof(*threads));

    if (threads == NULL
        || pthread_barrier_init(&start_together, NULL,
                                (unsigned)(signers + loaders))
               != 0) {
        fprintf(stderr, PROG ": out of memory\n");
        free(threads);
        return 0;
    }
    atomic_store(&signers_running, signers);
    for (int i = 0; i < signers + loaders; i++) {
        void *(*body)(void *) = i < signers ? signer : loader;
        intptr_t index = i < signers ? i : i - signers;

        /* The others wait at the barrier for ever: exit. */
        if (pthread_create(&threads[i], NULL, body, (void *)index) != 0) {
            fprintf(stderr, PROG ": cannot start thread %d\n", i);
            exit(1);
        }
    }
    for (int i = 0; i < signers + loaders; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start_together);
    free(threads);
    return !atomic_load(&failed);
}

static int usage(void)
{
    fprintf(stderr,
            "usage: " PROG " [--threads N] [--count M] [--loaders L] "
            "[--timeout S] --key URI PUB.pem [--key URI PUB.pem ...]\n");
    return 2;
}

int main(int argc, char **argv)
{
    int signers = 8, loaders = 2, timeout = 300, ok = 0;
    long signed_total = 0, loads_total = 0;

    const struct int_option numbers[] = {
        { "--threads", &signers },
        { "--count", &signatures_per_thread },
        { "--loaders", &loaders },
        { "--timeout", &timeout },
    };

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--key") == 0 && i + 2 < argc
            && key_count < MAX_KEYS) {
            keys[key_count].uri = argv[++i];
            keys[key_count++].pub_path = argv[++i];
        } else if (!take_int_option(numbers,
                                    sizeof(numbers) / sizeof(numbers[0]),
                                    argc, argv, &i)) {
            return usage();
        }
    }
    if (key_count == 0 || signers < 1 || loaders < 0
        || signatures_per_thread < 1 || timeout < 1)
        return usage();

    arm_deadline((unsigned)timeout);
    if (load_keys())
        ok = run_threads(signers, loaders);
    for (int i = 0; i < key_count; i++) {
        long made = atomic_load(&keys[i].signatures);
        long loads = atomic_load(&keys[i].loads);

        printf("key %d: %ld signatures verified, %ld loads verified\n", i,
               made, loads);
        signed_total += made;
        loads_total += loads;
    }
    printf("signatures: %ld verified\n", signed_total);
    printf("loads: %ld verified, %ld while signers ran\n", loads_total,
           atomic_load(&loads_while_signing));
    for (int i = 0; i < key_count; i++) {
        EVP_PKEY_free(keys[i].key);
        EVP_PKEY_free(keys[i].pub);
    }
    return ok ? 0 : 1;
}
