/*
 * p11bench: operations per second through pkcs11prov against the same
 * operations through raw Cryptoki, on the same token and key; and the time
 * a key takes to load by URI.
 *
 * Throughput (the default): for each thread count (--threads, default
 * 1,2,4), each run measures for --seconds (default 2):
 *   provider  the key is loaded once by URI with OSSL_STORE; every thread
 *             loops over one operation with a fresh context each time:
 *             EVP_DigestSignInit_ex + EVP_DigestSign, or
 *             EVP_PKEY_derive_init + set_peer + EVP_PKEY_derive, or
 *             EVP_PKEY_decrypt_init + OAEP parameters + EVP_PKEY_decrypt;
 *   raw       the module is driven through its own function list; each
 *             thread opens its own session and loops over C_SignInit +
 *             C_Sign (after an OpenSSL hash), C_DeriveKey + C_GetAttribute
 *             Value + C_DestroyObject, or C_DecryptInit + C_Decrypt.
 * Provider and raw alternate for --runs runs (default 3); a table row
 * gives the median and min-max of each, the ratio of the medians, and for
 * several threads the scaling over one thread (median / 1-thread median),
 * and the CPUs the threads of each side kept busy (CPU time / wall time,
 * median): fewer than the threads means they waited, for a lock or for
 * other processes on the machine.
 * --overhead adds the provider's cost per operation in µs, (1/provider -
 * 1/raw) x threads, meaningful on the null token (tests/nulltoken), whose
 * C_Sign costs nothing. Shared secrets and plaintexts are checked once
 * against software before measuring.
 *
 * --load-time: key load times instead (see load_time.c).
 *
 * Exit status: 0 on success, 1 on a failure (explained on stderr), 2 on
 * bad usage.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>

#include "p11bench.h"

#define MAX_RUNS 64
#define MAX_THREADS 16
#define MAX_THREAD_COUNTS 8

typedef struct options {
    load_options load; /* provider_dir, module, uri, pin and load knobs */
    const bench_case *shared_case;
    double seconds;
    int runs;
    int threads[MAX_THREAD_COUNTS];
    int n_thread_counts;
    int overhead;
    int load_time;
    const char *load_child;
} options;

/* What the measuring threads share, set before they start. */
static const bench_case *shared_case;
static EVP_PKEY *shared_key;
static bench_inputs inputs;
static double seconds;
static pthread_barrier_t start_line;

/* ---- measuring ------------------------------------------------------ */

typedef struct worker {
    pthread_t thread;
    int raw;
    long ops;
    double elapsed;
    double cpu; /* the thread's CPU time over the same span */
    int failed;
} worker;

static int one_op(const worker *w, EVP_MD_CTX *md_ctx,
                  CK_SESSION_HANDLE session, unsigned char *out)
{
    size_t len = MAX_OUT;

    return w->raw ? raw_op(shared_case, &inputs, session, out, &len)
                  : provider_op(shared_case, shared_key, &inputs, md_ctx, out,
                                &len);
}

static double thread_cpu_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *work(void *arg)
{
    worker *w = arg;
    unsigned char out[MAX_OUT];
    EVP_MD_CTX *md_ctx = NULL;
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    double start, end, cpu_start;

    if (w->raw)
        w->failed = !raw_session_open(&session);
    else
        w->failed = (md_ctx = EVP_MD_CTX_new()) == NULL;
    pthread_barrier_wait(&start_line);
    cpu_start = thread_cpu_seconds();
    start = now_seconds();
    end = start + seconds;
    while (!w->failed) {
        w->failed = !one_op(w, md_ctx, session, out);
        w->ops += !w->failed;
        if ((w->ops & 7) == 0 && now_seconds() >= end)
            break;
    }
    w->elapsed = now_seconds() - start;
    w->cpu = thread_cpu_seconds() - cpu_start;
    if (session != CK_INVALID_HANDLE)
        raw_session_close(session);
    EVP_MD_CTX_free(md_ctx);
    return NULL;
}

/* Operations per second of n threads together; *cpus: the CPUs they
 * kept busy (under n: they waited for a lock or for other processes). */
static double measure(int raw, int n, double *cpus)
{
    worker workers[MAX_THREADS] = { { 0 } };
    double rate = 0;

    *cpus = 0;

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
            die(raw ? "an operation through raw Cryptoki"
                    : "an operation through the provider");
        rate += (double)workers[i].ops / workers[i].elapsed;
        *cpus += workers[i].cpu / workers[i].elapsed;
    }
    pthread_barrier_destroy(&start_line);
    return rate;
}

/* One operation on each side, checked against software. */
static void check_both_sides(void)
{
    unsigned char out[MAX_OUT];
    size_t len = MAX_OUT;
    EVP_MD_CTX *md_ctx = EVP_MD_CTX_new();
    CK_SESSION_HANDLE session;

    if (md_ctx == NULL
        || !provider_op(shared_case, shared_key, &inputs, md_ctx, out, &len))
        die("the first operation through the provider");
    bench_check_result(shared_case, &inputs, out, len, "provider");
    EVP_MD_CTX_free(md_ctx);
    len = MAX_OUT;
    if (!raw_session_open(&session)
        || !raw_op(shared_case, &inputs, session, out, &len))
        die("the first operation through raw Cryptoki");
    bench_check_result(shared_case, &inputs, out, len, "raw");
    raw_session_close(session);
}

static void print_header(int overhead)
{
    printf("%-14s %7s  %-30s  %-30s  %8s  %6s  %6s  %9s%s\n", "case",
           "threads", "provider ops/s (med, min-max)",
           "raw ops/s (med, min-max)", "prov/raw", "xprov", "xraw",
           "CPUs p/r", overhead ? "  overhead us/op" : "");
}

static void throughput(const options *o)
{
    double one_thread_provider = 0, one_thread_raw = 0;

    for (int t = 0; t < o->n_thread_counts; t++) {
        int n = o->threads[t];
        double prov[MAX_RUNS], raw[MAX_RUNS], p_med, r_med;
        double p_cpus[MAX_RUNS], r_cpus[MAX_RUNS];
        char p_cell[64], r_cell[64], p_scale[16] = "-", r_scale[16] = "-";

        for (int r = 0; r < o->runs; r++) {
            prov[r] = measure(0, n, &p_cpus[r]);
            raw[r] = measure(1, n, &r_cpus[r]);
        }
        p_med = median_of(prov, o->runs);
        r_med = median_of(raw, o->runs);
        if (n == 1) {
            one_thread_provider = p_med;
            one_thread_raw = r_med;
        } else if (one_thread_provider > 0) {
            snprintf(p_scale, sizeof(p_scale), "%.2f",
                     p_med / one_thread_provider);
            snprintf(r_scale, sizeof(r_scale), "%.2f",
                     r_med / one_thread_raw);
        }
        snprintf(p_cell, sizeof(p_cell), "%.0f (%.0f-%.0f)", p_med, prov[0],
                 prov[o->runs - 1]);
        snprintf(r_cell, sizeof(r_cell), "%.0f (%.0f-%.0f)", r_med, raw[0],
                 raw[o->runs - 1]);
        printf("%-14s %7d  %-30s  %-30s  %8.3f  %6s  %6s  %4.2f/%4.2f",
               shared_case->name, n, p_cell, r_cell, p_med / r_med, p_scale,
               r_scale, median_of(p_cpus, o->runs),
               median_of(r_cpus, o->runs));
        if (o->overhead)
            printf("  %15.2f", (1e6 / p_med - 1e6 / r_med) * n);
        printf("\n");
        fflush(stdout);
    }
}

/* ---- options -------------------------------------------------------- */

static _Noreturn void usage(void)
{
    fprintf(stderr,
            "usage: p11bench --provider-dir DIR --module PATH --uri URI"
            " [--pin PIN]\n"
            "                [--case NAME] [--seconds S] [--runs N]"
            " [--threads 1,2,4]\n"
            "                [--overhead] [--no-header]\n"
            "       p11bench --load-time --provider-dir DIR --module PATH"
            " --uri URI [--pin PIN]\n"
            "                [--load-runs N] [--warm-loads N] [--no-header]\n"
            "Operations per second through the pkcs11prov provider"
            " (DIR/pkcs11prov.so) and\n"
            "through raw Cryptoki on the same token and key (the URI's"
            " token=, object=, id=);\n"
            "or, with --load-time, the time to load the key by URI in a"
            " fresh process (cold,\n"
            "against C_Initialize+C_Login+C_FindObjects) and again in the"
            " same process (warm).\n"
            "Defaults: --case ecdsa-p256 --seconds 2 --runs 3 --threads"
            " 1,2,4 --load-runs 5\n"
            "--warm-loads 20. --overhead adds the provider's µs per"
            " operation (null token).\n"
            "Cases:\n");
    for (size_t i = 0; i < bench_n_cases; i++)
        fprintf(stderr, "  %-14s %s\n", bench_cases[i].name,
                bench_cases[i].what);
    exit(2);
}

static void parse_threads(options *o, const char *list)
{
    char *copy = strdup(list), *save = NULL;

    o->n_thread_counts = 0;
    for (char *item = strtok_r(copy, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        int n = atoi(item);

        if (n < 1 || n > MAX_THREADS
            || o->n_thread_counts == MAX_THREAD_COUNTS)
            usage();
        o->threads[o->n_thread_counts++] = n;
    }
    free(copy);
    if (o->n_thread_counts == 0)
        usage();
}

static void parse_options(int argc, char **argv, options *o)
{
    const char *case_name = "ecdsa-p256";

    *o = (options){ .seconds = 2.0,
                    .runs = 3,
                    .threads = { 1, 2, 4 },
                    .n_thread_counts = 3 };
    o->load = (load_options){ .runs = 5, .warm_loads = 20, .header = 1 };
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0)
            usage();
        if (strcmp(opt, "--overhead") == 0) {
            o->overhead = 1;
            continue;
        }
        if (strcmp(opt, "--load-time") == 0) {
            o->load_time = 1;
            continue;
        }
        if (strcmp(opt, "--no-header") == 0) {
            o->load.header = 0;
            continue;
        }
        if (val == NULL)
            usage();
        i++;
        if (strcmp(opt, "--provider-dir") == 0)
            o->load.provider_dir = val;
        else if (strcmp(opt, "--module") == 0)
            o->load.module = val;
        else if (strcmp(opt, "--uri") == 0)
            o->load.uri = val;
        else if (strcmp(opt, "--pin") == 0)
            o->load.pin = val;
        else if (strcmp(opt, "--case") == 0)
            case_name = val;
        else if (strcmp(opt, "--seconds") == 0)
            o->seconds = atof(val);
        else if (strcmp(opt, "--runs") == 0)
            o->runs = atoi(val);
        else if (strcmp(opt, "--threads") == 0)
            parse_threads(o, val);
        else if (strcmp(opt, "--load-runs") == 0)
            o->load.runs = atoi(val);
        else if (strcmp(opt, "--warm-loads") == 0)
            o->load.warm_loads = atoi(val);
        else if (strcmp(opt, "--load-child") == 0)
            o->load_child = val;
        else
            usage();
    }
    o->shared_case = bench_case_named(case_name);
    if (o->load.provider_dir == NULL || o->load.module == NULL
        || o->load.uri == NULL || o->shared_case == NULL || o->runs < 1
        || o->runs > MAX_RUNS || !(o->seconds > 0) || o->load.runs < 1
        || o->load.warm_loads < 0)
        usage();
}

int main(int argc, char **argv)
{
    options o;

    parse_options(argc, argv, &o);
    if (o.load_child != NULL)
        return load_time_child(&o.load, o.load_child);
    if (o.load_time) {
        load_time_report(&o.load);
        return 0;
    }

    shared_case = o.shared_case;
    seconds = o.seconds;
    provider_load(o.load.provider_dir, o.load.module);
    shared_key = provider_load_key(o.load.uri, o.load.pin);
    raw_dlopen(o.load.module);
    raw_connect(o.load.uri, o.load.pin);
    raw_prepare(shared_case);
    bench_inputs_make(shared_case, shared_key, &inputs);
    check_both_sides();

    if (o.load.header)
        print_header(o.overhead);
    throughput(&o);

    bench_inputs_free(&inputs);
    EVP_PKEY_free(shared_key);
    raw_disconnect();
    provider_unload();
    return 0;
}
