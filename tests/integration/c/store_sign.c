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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/store.h>
#include <openssl/ui.h>
#include <openssl/x509.h>

static const char *pin;
static int prompts;
static const char *md_name = "SHA256";
static unsigned char *data;
static size_t data_len;
static EVP_PKEY *key;       /* the token key, shared by every thread */
static EVP_PKEY *soft_pub;  /* its public part, in the default provider */
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
static int count = 1;
static long verified; /* signatures made and verified (atomic) */
static const char *who = ""; /* "child " in the child of --fork */

static int fail(const char *what)
{
    pthread_mutex_lock(&print_lock);
    fprintf(stderr, "store_sign[%ld]: %s failed\n", (long)getpid(), what);
    ERR_print_errors_fp(stderr);
    pthread_mutex_unlock(&print_lock);
    return 0;
}

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
    const char *answer = u;
    size_t len;

    (void)rwflag;
    prompts++;
    if (answer == NULL)
        return -1;
    len = strlen(answer);
    if (len >= (size_t)size)
        return -1;
    memcpy(buf, answer, len);
    return (int)len;
}

static int is_eddsa(const EVP_PKEY *pkey)
{
    return EVP_PKEY_is_a(pkey, "ED25519") || EVP_PKEY_is_a(pkey, "ED448");
}

/* The digest name for EVP_Digest{Sign,Verify}Init_ex (NULL: one-shot). */
static const char *digest_for(const EVP_PKEY *pkey)
{
    return is_eddsa(pkey) ? NULL : md_name;
}

static int verify_with(EVP_PKEY *pkey, const unsigned char *sig,
                       size_t sig_len, const char *propq)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL
             && EVP_DigestVerifyInit_ex(ctx, NULL, digest_for(pkey), NULL,
                                        propq, pkey, NULL) == 1
             && EVP_DigestVerify(ctx, sig, sig_len, data, data_len) == 1;

    EVP_MD_CTX_free(ctx);
    return ok;
}

/* One signature with the token key, verified. *out (if not NULL) gets a
 * copy of it. */
static int sign_once(unsigned char **out, size_t *out_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    int ok = 0;

    if (ctx == NULL
        || EVP_DigestSignInit_ex(ctx, NULL, digest_for(key), NULL, NULL, key,
                                 NULL) != 1
        || EVP_DigestSign(ctx, NULL, &sig_len, data, data_len) != 1
        || (sig = OPENSSL_malloc(sig_len)) == NULL
        || EVP_DigestSign(ctx, sig, &sig_len, data, data_len) != 1) {
        fail("EVP_DigestSign with the token key");
    } else if (!verify_with(soft_pub, sig, sig_len, "provider=default")) {
        fail("EVP_DigestVerify of a token signature in the default provider");
    } else {
        ok = 1;
        __atomic_add_fetch(&verified, 1, __ATOMIC_RELAXED);
        if (out != NULL) {
            *out = sig;
            *out_len = sig_len;
            sig = NULL;
        }
    }
    OPENSSL_free(sig);
    EVP_MD_CTX_free(ctx);
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

static EVP_PKEY *load_key(const char *uri)
{
    UI_METHOD *ui = UI_UTIL_wrap_read_pem_callback(pass_cb, 0);
    OSSL_STORE_CTX *store;
    EVP_PKEY *pkey = NULL;

    store = OSSL_STORE_open_ex(uri, NULL, NULL, ui, (void *)pin, NULL, NULL,
                               NULL);
    if (store == NULL) {
        fail("OSSL_STORE_open_ex");
    } else if (OSSL_STORE_expect(store, OSSL_STORE_INFO_PKEY) != 1) {
        fail("OSSL_STORE_expect");
    } else {
        while (pkey == NULL && !OSSL_STORE_eof(store)) {
            OSSL_STORE_INFO *info = OSSL_STORE_load(store);

            if (info == NULL) {
                if (OSSL_STORE_error(store))
                    break;
                continue;
            }
            if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
                pkey = OSSL_STORE_INFO_get1_PKEY(info);
            OSSL_STORE_INFO_free(info);
        }
        if (pkey == NULL)
            fail("loading a private key from the store");
    }
    OSSL_STORE_close(store);
    UI_destroy_method(ui);
    return pkey;
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
        fprintf(stderr, "store_sign: the token key is a %s, its public key "
                        "a %s\n", name ? name : "(none)",
                soft_name ? soft_name : "(none)");
        return 0;
    }
    if (EVP_PKEY_get_bits(key) != EVP_PKEY_get_bits(soft_pub)
        || EVP_PKEY_get_security_bits(key)
               != EVP_PKEY_get_security_bits(soft_pub)
        || EVP_PKEY_get_size(key) != EVP_PKEY_get_size(soft_pub)) {
        fprintf(stderr, "store_sign: bits/security-bits/max-size %d/%d/%d "
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

/* The public part of pkey, decoded again in the default provider. */
static EVP_PKEY *software_public_key(EVP_PKEY *pkey)
{
    unsigned char *der = NULL;
    const unsigned char *p;
    int len = i2d_PUBKEY(pkey, &der);
    EVP_PKEY *pub = NULL;

    if (len <= 0)
        fail("i2d_PUBKEY of the token key");
    p = der;
    if (len > 0 && (pub = d2i_PUBKEY_ex(NULL, &p, len, NULL,
                                        "provider=default")) == NULL)
        fail("d2i_PUBKEY_ex into the default provider");
    OPENSSL_free(der);
    return pub;
}

static int write_file(const char *path, const unsigned char *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok = f != NULL && fwrite(buf, 1, len, f) == len;

    if (f != NULL && fclose(f) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "store_sign: cannot write %s\n", path);
    return ok;
}

static int write_pub(const char *path)
{
    BIO *mem = BIO_new(BIO_s_mem());
    char *pem;
    long len;
    int ok = mem != NULL && PEM_write_bio_PUBKEY(mem, soft_pub) == 1
             && (len = BIO_get_mem_data(mem, &pem)) > 0
             && write_file(path, (unsigned char *)pem, (size_t)len);

    BIO_free(mem);
    return ok;
}

static int read_data(const char *path)
{
    static const char fixed[] = "pkcs11prov store_sign test data\n";
    FILE *f;
    long size;

    if (path == NULL) {
        data_len = sizeof(fixed) - 1;
        data = OPENSSL_memdup(fixed, data_len);
        return data != NULL;
    }
    f = fopen(path, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0
        || (data = OPENSSL_malloc(size > 0 ? (size_t)size : 1)) == NULL
        || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "store_sign: cannot read %s\n", path);
        if (f != NULL)
            fclose(f);
        return 0;
    }
    data_len = (size_t)size;
    fclose(f);
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
            pin = argv[++i];
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

    if (!read_data(in) || (key = load_key(uri)) == NULL
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
    if (!verify_with(key, sig, sig_len, NULL)) {
        fail("EVP_DigestVerify with the loaded token key");
        goto end;
    }
    if ((sig_out != NULL && !write_file(sig_out, sig, sig_len))
        || (pub_out != NULL && !write_pub(pub_out)))
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
    printf("%spassphrase prompts: %d\n", who, prompts);
    OPENSSL_free(sig);
    EVP_PKEY_free(soft_pub);
    EVP_PKEY_free(key);
    OPENSSL_free(data);
    return ok ? 0 : 1;
}
