/*
 * p11bench: signatures per second through pkcs11prov against the same
 * signatures through raw Cryptoki, on the same token and key.
 *
 *   p11bench --provider-dir DIR --module PATH --uri URI [--pin PIN]
 *            [--case NAME] [--seconds S] [--runs N] [--overhead]
 *
 * For 1, 2 and 4 threads, each run measures for S seconds (default 2):
 *   provider  the key is loaded once by URI with OSSL_STORE; every thread
 *             signs in a loop with EVP_MD_CTX_reset + EVP_DigestSignInit_ex
 *             + EVP_DigestSign (one fresh signing context per signature);
 *   raw       the module is dlopen()ed and C_Initialize()d by this program;
 *             each thread opens its own session and signs in a loop with
 *             an OpenSSL hash, then C_SignInit + C_Sign.
 * The two alternate (provider, raw, provider, raw...) for N runs (default
 * 3), and a table gives the median and the min-max of each and the ratio
 * of the medians. --overhead adds the provider's cost per signature in µs,
 * 1/provider - 1/raw (meaningful with a single thread on the null token,
 * tests/nulltoken, whose C_Sign costs nothing).
 *
 * The provider is loaded by path (DIR/pkcs11prov.so) with
 * PKCS11PROV_MODULE=PATH, next to OpenSSL's "default" provider.
 * Cases: ecdsa-p256 (default), ecdsa-p384, rsa2048-pkcs1, rsa2048-pss,
 * ed25519. The raw side finds the private key by the URI's object= and
 * id= in the token named by token= (or the first token).
 * Exit status: 0 on success, 1 on a failure (explained on stderr), 2 on
 * bad usage.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/store.h>
#include <openssl/ui.h>
#include <p11-kit/pkcs11.h>

#define MAX_RUNS 64
#define MAX_SIG 1024
#define MAX_THREADS 4
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

typedef struct bench_case {
    const char *name;
    const char *md;        /* NULL: one-shot signature of the message */
    CK_MECHANISM_TYPE mech;
    int pss;               /* RSA-PSS: provider padding and raw parameters */
    int digest_info;       /* raw CKM_RSA_PKCS: sign DER DigestInfo || hash */
} bench_case;

static const bench_case cases[] = {
    {"ecdsa-p256", "SHA256", CKM_ECDSA, 0, 0},
    {"ecdsa-p384", "SHA384", CKM_ECDSA, 0, 0},
    {"rsa2048-pkcs1", "SHA256", CKM_RSA_PKCS, 0, 1},
    {"rsa2048-pss", "SHA256", CKM_RSA_PKCS_PSS, 1, 0},
    {"ed25519", NULL, CKM_EDDSA, 0, 0},
};

/* DER DigestInfo prefixes (RFC 8017, 9.2 note 1). */
static const unsigned char sha256_prefix[] = {
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
    0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
};

static const unsigned char message[64] = "p11bench: the message signed by "
                                         "every signature of the bench.";

static const bench_case *bcase;
static const char *pin;
static double seconds = 2.0;
static EVP_PKEY *key;              /* the provider side: loaded once */
static CK_FUNCTION_LIST *p11;      /* the raw side */
static CK_SLOT_ID slot;
static CK_OBJECT_HANDLE raw_key;
static int initialized_here;       /* else the provider did C_Initialize */
static EVP_MD *raw_md;             /* fetched once; NULL: no prehash */
static pthread_barrier_t start_line;

static void die(const char *what)
{
    fprintf(stderr, "p11bench: %s failed\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static void die_rv(const char *what, CK_RV rv)
{
    fprintf(stderr, "p11bench: %s failed: CKR 0x%lx\n", what,
            (unsigned long)rv);
    exit(1);
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the provider side -------------------------------------------- */

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
    const char *answer = u;
    size_t len = answer != NULL ? strlen(answer) : 0;

    (void)rwflag;
    if (answer == NULL || len >= (size_t)size)
        return -1;
    memcpy(buf, answer, len);
    return (int)len;
}

static void load_provider(const char *dir, const char *module, const char *uri)
{
    UI_METHOD *ui = UI_UTIL_wrap_read_pem_callback(pass_cb, 0);
    OSSL_STORE_CTX *store;

    if (setenv("PKCS11PROV_MODULE", module, 1) != 0)
        die("setenv PKCS11PROV_MODULE");
    if (!OSSL_PROVIDER_set_default_search_path(NULL, dir)
        || OSSL_PROVIDER_load(NULL, "pkcs11prov") == NULL
        || OSSL_PROVIDER_load(NULL, "default") == NULL)
        die("loading the providers");
    store = OSSL_STORE_open_ex(uri, NULL, NULL, ui, (void *)pin, NULL, NULL,
                               NULL);
    if (store == NULL || OSSL_STORE_expect(store, OSSL_STORE_INFO_PKEY) != 1)
        die("OSSL_STORE_open_ex");
    while (key == NULL && !OSSL_STORE_eof(store)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(store);

        if (info != NULL
            && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
            key = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
        if (info == NULL && OSSL_STORE_error(store))
            break;
    }
    OSSL_STORE_close(store);
    UI_destroy_method(ui);
    if (key == NULL)
        die("loading the key by URI");
}

static int provider_sign(EVP_MD_CTX *ctx, unsigned char *sig)
{
    EVP_PKEY_CTX *pctx = NULL;
    size_t sig_len = MAX_SIG;

    EVP_MD_CTX_reset(ctx);
    if (EVP_DigestSignInit_ex(ctx, &pctx, bcase->md, NULL, NULL, key,
                              NULL) != 1)
        return 0;
    if (bcase->pss
        && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1
            || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST)
                   != 1))
        return 0;
    return EVP_DigestSign(ctx, sig, &sig_len, message, sizeof(message)) == 1;
}

/* ---- the raw Cryptoki side ---------------------------------------- */

/* Decodes the %XX escapes of a URI attribute value in place; returns its
 * length. */
static size_t percent_decode(char *s)
{
    size_t out = 0;

    for (size_t i = 0; s[i] != '\0'; i++) {
        unsigned int byte;

        if (s[i] == '%' && sscanf(s + i + 1, "%2x", &byte) == 1) {
            s[out++] = (char)byte;
            i += 2;
        } else {
            s[out++] = s[i];
        }
    }
    s[out] = '\0';
    return out;
}

typedef struct key_query {
    char token[256], object[256], id[256];
    size_t token_len, object_len, id_len;
    int has_token, has_object, has_id;
} key_query;

/* Reads token=, object= and id= from the path of a pkcs11: URI. */
static void parse_uri(const char *uri, key_query *q)
{
    char buf[1024], *save = NULL;

    memset(q, 0, sizeof(*q));
    if (strncmp(uri, "pkcs11:", 7) != 0
        || snprintf(buf, sizeof(buf), "%s", uri + 7) >= (int)sizeof(buf))
        die("parsing the URI");
    buf[strcspn(buf, "?")] = '\0';
    for (char *attr = strtok_r(buf, ";", &save); attr != NULL;
         attr = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(attr, '=');
        char *dest;
        size_t *len;
        int *has;

        if (eq == NULL)
            continue;
        *eq = '\0';
        if (strcmp(attr, "token") == 0)
            dest = q->token, len = &q->token_len, has = &q->has_token;
        else if (strcmp(attr, "object") == 0)
            dest = q->object, len = &q->object_len, has = &q->has_object;
        else if (strcmp(attr, "id") == 0)
            dest = q->id, len = &q->id_len, has = &q->has_id;
        else
            continue;
        snprintf(dest, sizeof(q->token), "%s", eq + 1);
        *len = percent_decode(dest);
        *has = 1;
    }
}

static int token_label_is(const CK_TOKEN_INFO *info, const key_query *q)
{
    size_t n = sizeof(info->label);

    while (n > 0 && info->label[n - 1] == ' ')
        n--;
    return n == q->token_len && memcmp(info->label, q->token, n) == 0;
}

static void open_raw(const char *module, const char *uri)
{
    void *lib = dlopen(module, RTLD_NOW | RTLD_LOCAL);
    CK_C_GetFunctionList get_list;
    CK_C_INITIALIZE_ARGS init_args = {.flags = CKF_OS_LOCKING_OK};
    CK_SLOT_ID slots[64];
    CK_ULONG n_slots = 64, found = 0;
    CK_TOKEN_INFO info;
    CK_SESSION_HANDLE session;
    CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[3] = {{CKA_CLASS, &priv, sizeof(priv)}};
    CK_ULONG n_tmpl = 1;
    key_query q;
    CK_RV rv;
    int have_slot = 0;

    if (lib == NULL) {
        fprintf(stderr, "p11bench: dlopen %s: %s\n", module, dlerror());
        exit(1);
    }
    *(void **)&get_list = dlsym(lib, "C_GetFunctionList");
    if (get_list == NULL || get_list(&p11) != CKR_OK)
        die("C_GetFunctionList");
    rv = p11->C_Initialize(&init_args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
        die_rv("C_Initialize", rv);
    initialized_here = rv == CKR_OK;
    if ((rv = p11->C_GetSlotList(CK_TRUE, slots, &n_slots)) != CKR_OK)
        die_rv("C_GetSlotList", rv);
    parse_uri(uri, &q);
    for (CK_ULONG i = 0; i < n_slots && !have_slot; i++) {
        if (p11->C_GetTokenInfo(slots[i], &info) != CKR_OK)
            continue;
        if (!q.has_token || token_label_is(&info, &q))
            slot = slots[i], have_slot = 1;
    }
    if (!have_slot)
        die("finding the URI's token");
    if ((rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL,
                                 &session)) != CKR_OK)
        die_rv("C_OpenSession", rv);
    if ((info.flags & CKF_LOGIN_REQUIRED) && pin != NULL) {
        rv = p11->C_Login(session, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin));
        if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
            die_rv("C_Login", rv);
    }
    if (q.has_object)
        tmpl[n_tmpl++] = (CK_ATTRIBUTE){CKA_LABEL, q.object, q.object_len};
    if (q.has_id)
        tmpl[n_tmpl++] = (CK_ATTRIBUTE){CKA_ID, q.id, q.id_len};
    if ((rv = p11->C_FindObjectsInit(session, tmpl, n_tmpl)) != CKR_OK
        || (rv = p11->C_FindObjects(session, &raw_key, 1, &found)) != CKR_OK
        || (rv = p11->C_FindObjectsFinal(session)) != CKR_OK)
        die_rv("C_FindObjects", rv);
    if (found != 1)
        die("finding the URI's private key");
    if (bcase->md != NULL) {
        raw_md = EVP_MD_fetch(NULL, bcase->md, "provider=default");
        if (raw_md == NULL)
            die("EVP_MD_fetch");
    }
    /* The session stays open: it keeps the login for the others. */
}

/* Hashes the message (for the cases that prehash) and signs it with one
 * C_SignInit + C_Sign. */
static int raw_sign(CK_SESSION_HANDLE session, unsigned char *sig)
{
    CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, 32};
    CK_MECHANISM mech = {bcase->mech, NULL, 0};
    unsigned char input[sizeof(sha256_prefix) + EVP_MAX_MD_SIZE];
    size_t prefix = bcase->digest_info ? sizeof(sha256_prefix) : 0;
    unsigned int md_len = 0;
    CK_ULONG in_len, sig_len = MAX_SIG;

    if (bcase->md == NULL) {
        memcpy(input, message, sizeof(message));
        in_len = sizeof(message);
    } else {
        memcpy(input, sha256_prefix, prefix);
        if (EVP_Digest(message, sizeof(message), input + prefix, &md_len,
                       raw_md, NULL) != 1)
            return 0;
        in_len = prefix + md_len;
    }
    if (bcase->pss)
        mech.pParameter = &pss, mech.ulParameterLen = sizeof(pss);
    return p11->C_SignInit(session, &mech, raw_key) == CKR_OK
           && p11->C_Sign(session, input, in_len, sig, &sig_len) == CKR_OK;
}

/* ---- measuring ----------------------------------------------------- */

typedef struct worker {
    pthread_t thread;
    int raw;
    long ops;
    double elapsed;
    int failed;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    unsigned char sig[MAX_SIG];
    EVP_MD_CTX *ctx = NULL;
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    double start, end;

    if (w->raw)
        w->failed = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL,
                                       &session) != CKR_OK;
    else
        w->failed = (ctx = EVP_MD_CTX_new()) == NULL;
    pthread_barrier_wait(&start_line);
    start = now();
    end = start + seconds;
    while (!w->failed) {
        w->failed = w->raw ? !raw_sign(session, sig)
                           : !provider_sign(ctx, sig);
        w->ops += !w->failed;
        if ((w->ops & 7) == 0 && now() >= end)
            break;
    }
    w->elapsed = now() - start;
    if (w->raw && session != CK_INVALID_HANDLE)
        p11->C_CloseSession(session);
    EVP_MD_CTX_free(ctx);
    return NULL;
}

/* Signatures per second of n threads together. */
static double measure(int raw, int n)
{
    worker workers[MAX_THREADS] = {{0}};
    double rate = 0;

    if (pthread_barrier_init(&start_line, NULL, (unsigned)n) != 0)
        die("pthread_barrier_init");
    for (int i = 0; i < n; i++) {
        workers[i].raw = raw;
        if (pthread_create(&workers[i].thread, NULL, work, &workers[i]) != 0)
            die("pthread_create");
    }
    for (int i = 0; i < n; i++) {
        pthread_join(workers[i].thread, NULL);
        if (workers[i].failed)
            die(raw ? "signing through raw Cryptoki"
                    : "signing through the provider");
        rate += (double)workers[i].ops / workers[i].elapsed;
    }
    pthread_barrier_destroy(&start_line);
    return rate;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median_of(double *values, int n)
{
    qsort(values, (size_t)n, sizeof(*values), compare_doubles);
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

static void usage(void)
{
    fprintf(stderr, "usage: p11bench --provider-dir DIR --module PATH"
                    " --uri URI"
                    " [--pin PIN] [--case NAME] [--seconds S] [--runs N]"
                    " [--overhead]\ncases:");
    for (size_t i = 0; i < N_OF(cases); i++)
        fprintf(stderr, " %s", cases[i].name);
    fprintf(stderr, "\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *module = NULL, *uri = NULL;
    const char *case_name = "ecdsa-p256";
    static const int thread_counts[] = {1, 2, 4};
    int runs = 3, overhead = 0;

    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(opt, "--overhead") == 0) {
            overhead = 1;
            continue;
        }
        if (val == NULL)
            usage();
        i++;
        if (strcmp(opt, "--provider-dir") == 0) dir = val;
        else if (strcmp(opt, "--module") == 0) module = val;
        else if (strcmp(opt, "--uri") == 0) uri = val;
        else if (strcmp(opt, "--pin") == 0) pin = val;
        else if (strcmp(opt, "--case") == 0) case_name = val;
        else if (strcmp(opt, "--seconds") == 0) seconds = atof(val);
        else if (strcmp(opt, "--runs") == 0) runs = atoi(val);
        else usage();
    }
    for (size_t i = 0; i < N_OF(cases); i++)
        if (strcmp(cases[i].name, case_name) == 0)
            bcase = &cases[i];
    if (dir == NULL || module == NULL || uri == NULL || bcase == NULL
        || runs < 1 || runs > MAX_RUNS || !(seconds > 0))
        usage();

    load_provider(dir, module, uri);
    open_raw(module, uri);

    printf("%-14s %7s  %-32s  %-32s  %6s%s\n", "case", "threads",
           "provider ops/s (median, min-max)", "raw ops/s (median, min-max)",
           "ratio", overhead ? "  overhead us/sig" : "");
    for (size_t t = 0; t < N_OF(thread_counts); t++) {
        int n = thread_counts[t];
        double prov[MAX_RUNS], raw[MAX_RUNS], p_med, r_med;
        char p_cell[64], r_cell[64];

        for (int r = 0; r < runs; r++) {
            prov[r] = measure(0, n);
            raw[r] = measure(1, n);
        }
        p_med = median_of(prov, runs);
        r_med = median_of(raw, runs);
        snprintf(p_cell, sizeof(p_cell), "%.0f (%.0f-%.0f)", p_med, prov[0],
                 prov[runs - 1]);
        snprintf(r_cell, sizeof(r_cell), "%.0f (%.0f-%.0f)", r_med, raw[0],
                 raw[runs - 1]);
        printf("%-14s %7d  %-32s  %-32s  %6.3f", bcase->name, n, p_cell,
               r_cell, p_med / r_med);
        if (overhead)
            printf("  %16.2f", (1e6 / p_med - 1e6 / r_med) * n);
        printf("\n");
        fflush(stdout);
    }
    EVP_PKEY_free(key);
    EVP_MD_free(raw_md);
    if (initialized_here)
        p11->C_Finalize(NULL);
    return 0;
}
