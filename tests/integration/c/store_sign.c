/*
 * store_sign: loads a private key by URI with OSSL_STORE_open_ex and signs
 * with it through EVP_DigestSign, as an application would. Every signature
 * is verified here with the key's public part copied into the default
 * provider (EVP_DigestVerify); the first one is also verified with the
 * loaded key itself. The key must report the type name, sizes and public
 * key of its software public part (printed: "key type: NAME").
 *
 *   store_sign [options] URI
 *     --pass PIN      answer the store's passphrase prompt (a
 *                     pem_password_cb wrapped into a UI_METHOD) with PIN
 *     --in FILE       data to sign (default: a fixed text)
 *     --md NAME       digest (default SHA256; Ed25519/Ed448 sign one-shot
 *                     with none)
 *     --sig-out FILE  write the first signature there (for a verification
 *                     by another process)
 *     --pub-out FILE  write the public key there (PEM SubjectPublicKeyInfo)
 *     --threads N --count M
 *                     N threads each sign M times with the ONE EVP_PKEY
 *     --fork          sign, fork; the child signs with the same EVP_PKEY
 *                     and exits 0 on success; the parent waits for it and
 *                     signs again
 *     --wait          after loading, print "loaded" and wait for a line on
 *                     stdin before signing
 *
 * Prints "signatures: N verified" (the first signature, and with
 * --threads N*M more; with --fork the parent's two, and the child prints
 * "child signatures: 1 verified") and "passphrase prompts: K".
 * Exit status: 0 when every signature was made and verified, 1 otherwise
 * (with OpenSSL's error queue on stderr), 2 on bad usage.
 */
#include <pthread.h>
#include <sys/types.h>
#include <sys/wait.h>

#define PROG "store_sign"
#include "token_key_util.h"

static struct passphrase pass; /* --pass, and the prompts answered */
static const char *md_name = "SHA256";
static unsigned char *data;
static size_t data_len;
static EVP_PKEY *key;      /* the token key, shared by every thread */
static EVP_PKEY *soft_pub; /* its public part, in the default provider */
static int count = 1;
static long verified;        /* signatures made and verified (atomic) */
static const char *who = ""; /* "child " in the child of --fork */

/* One signature with the token key, verified. *out (if not NULL) gets a
 * copy of it. */
static int sign_once(unsigned char **out, size_t *out_len)
{
    const char *md = digest_for(soft_pub, md_name);
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    int ok = 0;

    if (digest_sign(key, md, data, data_len, &sig, &sig_len)
        && digest_verify(soft_pub, md, data, data_len, sig, sig_len)) {
        ok = 1;
        __atomic_add_fetch(&verified, 1, __ATOMIC_RELAXED);
        if (out != NULL) {
            *out = sig;
            *out_len = sig_len;
            sig = NULL;
        }
    }
    OPENSSL_free(sig);
    return ok;
}

static void *signer(void *arg)
{
    long failures = 0;

    (void)arg;
    for (int i = 0; i < count; i++)
        failures += !sign_once(NULL, NULL);
    return (void *)failures;
}

/* count signatures in each of n threads; returns the number that failed. */
static long sign_in_threads(int n)
{
    pthread_t *threads = calloc((size_t)n, sizeof(*threads));
    long failures = 0;
    int started = 0;

    if (threads == NULL)
        return (long)n * count;
    for (; started < n; started++)
        if (pthread_create(&threads[started], NULL, signer, NULL) != 0)
            break;
    if (started < n) {
        fprintf(stderr, "store_sign: could only start %d threads\n", started);
        failures += (long)(n - started) * count;
    }
    for (int i = 0; i < started; i++) {
        void *result;

        pthread_join(threads[i], &result);
        failures += (long)result;
    }
    free(threads);
    return failures;
}

/* The token key reports what its software public part reports: type name,
 * bits, security bits and maximum signature size, and matches it
 * (EVP_PKEY_eq). Prints "key type: NAME". */
static int same_as_software(void)
{
    const char *name = EVP_PKEY_get0_type_name(key);
    const char *soft_name = EVP_PKEY_get0_type_name(soft_pub);

    printf("key type: %s\n", name != NULL ? name : "(none)");
    if (name == NULL || soft_name == NULL || strcmp(name, soft_name) != 0) {
        fprintf(stderr,
                "store_sign: the token key is a %s, its public key "
                "a %s\n",
                name ? name : "(none)", soft_name ? soft_name : "(none)");
        return 0;
    }
    if (EVP_PKEY_get_bits(key) != EVP_PKEY_get_bits(soft_pub)
        || EVP_PKEY_get_security_bits(key)
               != EVP_PKEY_get_security_bits(soft_pub)
        || EVP_PKEY_get_size(key) != EVP_PKEY_get_size(soft_pub)) {
        fprintf(stderr,
                "store_sign: bits/security-bits/max-size %d/%d/%d "
                "of the token key, %d/%d/%d in software\n",
                EVP_PKEY_get_bits(key), EVP_PKEY_get_security_bits(key),
                EVP_PKEY_get_size(key), EVP_PKEY_get_bits(soft_pub),
                EVP_PKEY_get_security_bits(soft_pub),
                EVP_PKEY_get_size(soft_pub));
        return 0;
    }
    if (EVP_PKEY_eq(key, soft_pub) != 1)
        return fail("EVP_PKEY_eq of the token key and its public key");
    return 1;
}

/* --fork, after the parent signed: the child signs, then the parent signs
 * again. */
static int fork_and_sign(void)
{
    int status;
    pid_t child;

    fflush(NULL);
    child = fork();
    if (child < 0) {
        perror("store_sign: fork");
        return 0;
    }
    if (child == 0) {
        /* Returns to main(), which frees everything and returns: the
         * atexit handlers (provider and module teardown) run. */
        who = "child ";
        verified = 0;
        return sign_once(NULL, NULL);
    }
    if (waitpid(child, &status, 0) != child) {
        perror("store_sign: waitpid");
        return 0;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "store_sign: the child failed (status 0x%x)\n",
                status);
        return 0;
    }
    return sign_once(NULL, NULL);
}

static int usage(void)
{
    fprintf(stderr, "usage: store_sign [--pass PIN] [--in FILE] [--md NAME] "
                    "[--sig-out FILE] [--pub-out FILE] [--threads N "
                    "--count M] [--fork] [--wait] URI\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *in = NULL, *sig_out = NULL, *pub_out = NULL, *uri = NULL;
    int threads = 0, do_fork = 0, do_wait = 0, ok = 0;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    long failures = 0;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(arg, "--fork") == 0)
            do_fork = 1;
        else if (strcmp(arg, "--wait") == 0)
            do_wait = 1;
        else if (arg[0] == '-' && arg[1] == '-' && value == NULL)
            return usage();
        else if (strcmp(arg, "--pass") == 0)
            pass.pin = argv[++i];
        else if (strcmp(arg, "--in") == 0)
            in = argv[++i];
        else if (strcmp(arg, "--md") == 0)
            md_name = argv[++i];
        else if (strcmp(arg, "--sig-out") == 0)
            sig_out = argv[++i];
        else if (strcmp(arg, "--pub-out") == 0)
            pub_out = argv[++i];
        else if (strcmp(arg, "--threads") == 0)
            threads = atoi(argv[++i]);
        else if (strcmp(arg, "--count") == 0)
            count = atoi(argv[++i]);
        else if (arg[0] != '-' && uri == NULL)
            uri = arg;
        else
            return usage();
    }
    if (uri == NULL || threads < 0 || count < 1 || (threads > 0 && do_fork))
        return usage();

    if ((data = read_data_file(in, "pkcs11prov store_sign test data\n",
                               &data_len))
            == NULL
        || (key = load_key_prompted(uri, &pass)) == NULL
        || (soft_pub = software_public_key(key)) == NULL
        || !same_as_software())
        goto end;
    if (do_wait) {
        char line[16];

        printf("loaded\n");
        fflush(stdout);
        if (fgets(line, sizeof(line), stdin) == NULL)
            goto end;
    }
    /* The first signature: written out, and verified with the token key
     * too (verification with a token public key works in software). */
    if (!sign_once(&sig, &sig_len))
        goto end;
    if (signature_verifies(key, NULL, digest_for(key, md_name), data,
                           data_len, sig, sig_len)
        != 1) {
        fail("EVP_DigestVerify with the loaded token key");
        goto end;
    }
    if ((sig_out != NULL && !write_file(sig_out, sig, sig_len))
        || (pub_out != NULL
            && !write_pem_file(pub_out, soft_pub, pem_public)))
        goto end;
    if (do_fork) {
        failures = !fork_and_sign();
    } else if (threads > 0) {
        failures = sign_in_threads(threads);
    } else {
        for (int i = 1; i < count; i++)
            failures += !sign_once(NULL, NULL);
    }
    /* Counted in this process: the child of --fork counts its own. */
    printf("%ssignatures: %ld verified\n", who, verified);
    if (failures == 0)
        ok = 1;
    else
        fprintf(stderr, "store_sign: %s%ld signature(s) failed\n", who,
                failures);
end:
    printf("%spassphrase prompts: %d\n", who, pass.prompts);
    OPENSSL_free(sig);
    EVP_PKEY_free(soft_pub);
    EVP_PKEY_free(key);
    OPENSSL_free(data);
    return ok ? 0 : 1;
}
