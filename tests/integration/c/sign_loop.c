/*
 * sign_loop: an application that keeps its key and signs for a while, as
 * an update agent or a TLS server does, whatever happens to the token or
 * the key server meanwhile.
 *
 *   sign_loop --seconds S [--threads N] URI
 *
 * Loads the key once (OSSL_STORE), then N threads (default 1) sign with
 * it for S seconds, each signature verified in software with the key's
 * public part. Prints one line per second of the run, "second I: ok A
 * failed B", then "signed: S failed: F wrong: W", and exits 0: failures
 * are what the test reads, a crash or a hang (a deadline of S + 60 s) is
 * not. Wrong counts the failures that were signatures returned as made
 * which do not verify: an error is acceptable where a wrong result is
 * not.
 * SIGPIPE is left at its default, which kills.
 */
#define PROG "sign_loop"
#include <pthread.h>
#include <time.h>

#include "token_key_util.h"

#define MAX_SECONDS 120

static const unsigned char data[] = "sign_loop: the data signed";
static EVP_PKEY *key, *public_key;
static int seconds;
static struct timespec started;
static int ok_in[MAX_SECONDS], failed_in[MAX_SECONDS], wrong;
static pthread_mutex_t tally_lock = PTHREAD_MUTEX_INITIALIZER;

static double elapsed(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - started.tv_sec)
           + (double)(now.tv_nsec - started.tv_nsec) / 1e9;
}

static void *signer(void *arg)
{
    double t;

    (void)arg;
    while ((t = elapsed()) < seconds) {
        const char *md = default_digest(public_key);
        unsigned char *sig = NULL;
        size_t sig_len = 0;
        int made = digest_sign(key, md, data, sizeof(data), &sig, &sig_len);
        int ok = made
                 && digest_verify(public_key, md, data, sizeof(data), sig,
                                  sig_len);
        int second = (int)t;

        OPENSSL_free(sig);
        if (!ok)
            ERR_clear_error(); /* counted; the errors were printed */
        pthread_mutex_lock(&tally_lock);
        if (made && !ok)
            wrong++;
        if (ok)
            ok_in[second]++;
        else
            failed_in[second]++;
        pthread_mutex_unlock(&tally_lock);
        if (!ok) {
            /* A dead server fails at once: do not spin. */
            struct timespec pause = { 0, 10 * 1000 * 1000 };
            nanosleep(&pause, NULL);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = 1, total_ok = 0, total_failed = 0;
    pthread_t ids[16];
    const char *uri = NULL;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else
            uri = argv[i];
    }
    if (uri == NULL || seconds < 1 || seconds > MAX_SECONDS || threads < 1
        || threads > 16) {
        fprintf(stderr, "usage: " PROG " --seconds S [--threads N] URI\n");
        return 2;
    }
    arm_deadline((unsigned int)seconds + 60);
    if ((key = load_key(uri)) == NULL
        || (public_key = software_public_key(key)) == NULL)
        return 1;
    clock_gettime(CLOCK_MONOTONIC, &started);
    for (int i = 0; i < threads; i++)
        if (pthread_create(&ids[i], NULL, signer, NULL) != 0) {
            fprintf(stderr, PROG ": pthread_create failed\n");
            return 1;
        }
    for (int i = 0; i < threads; i++)
        pthread_join(ids[i], NULL);
    for (int s = 0; s < seconds; s++) {
        printf("second %d: ok %d failed %d\n", s, ok_in[s], failed_in[s]);
        total_ok += ok_in[s];
        total_failed += failed_in[s];
    }
    printf("signed: %d failed: %d wrong: %d\n", total_ok, total_failed,
           wrong);
    EVP_PKEY_free(public_key);
    EVP_PKEY_free(key);
    return 0;
}
