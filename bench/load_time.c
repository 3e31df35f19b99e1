/* Key load by URI, in milliseconds. A first load in a process pays for the
 * module's C_Initialize, the login and the search, so each measurement
 * runs in a fresh process: p11bench re-executes itself with --load-child
 * KIND, and the child prints its times on stdout.
 *   provider  OSSL_STORE open + load + close of the URI (cold), then the
 *             same URI loaded --warm-loads more times (their median);
 *   raw       C_Initialize, C_GetSlotList, C_GetTokenInfo, C_OpenSession,
 *             C_Login and C_FindObjects: the baseline of the cold load.
 * Both kinds dlopen() the module before the clock starts, so loading the
 * library (the same for both) is left out; the providers are loaded
 * before it too. The two kinds alternate, --load-runs times each. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p11bench.h"

#define MAX_LOAD_RUNS 64
#define MAX_WARM_LOADS 10000

extern char **environ;

static int child_provider(const load_options *o)
{
    static double warm[MAX_WARM_LOADS];
    double start, cold;
    EVP_PKEY *key;

    provider_load(o->provider_dir, o->module);
    raw_dlopen(o->module);
    start = now_seconds();
    key = provider_load_key(o->uri, o->pin);
    cold = now_seconds() - start;
    EVP_PKEY_free(key);
    for (int i = 0; i < o->warm_loads; i++) {
        start = now_seconds();
        key = provider_load_key(o->uri, o->pin);
        warm[i] = now_seconds() - start;
        EVP_PKEY_free(key);
    }
    printf("%.6f %.6f\n", cold * 1e3,
           o->warm_loads > 0 ? median_of(warm, o->warm_loads) * 1e3 : 0.0);
    provider_unload();
    return 0;
}

static int child_raw(const load_options *o)
{
    double start, elapsed;

    raw_dlopen(o->module);
    start = now_seconds();
    raw_connect(o->uri, o->pin);
    elapsed = now_seconds() - start;
    raw_disconnect();
    printf("%.6f\n", elapsed * 1e3);
    return 0;
}

int load_time_child(const load_options *o, const char *kind)
{
    if (o->warm_loads < 0 || o->warm_loads > MAX_WARM_LOADS)
        die("--warm-loads out of range");
    if (strcmp(kind, "provider") == 0)
        return child_provider(o);
    if (strcmp(kind, "raw") == 0)
        return child_raw(o);
    fprintf(stderr, "p11bench: --load-child provider|raw, not %s\n", kind);
    return 2;
}

/* Runs this program again as a child of the given kind; returns what it
 * printed (n_values numbers) in values. */
static void run_child(const load_options *o, const char *kind, double *values,
                      int n_values)
{
    char warm[16], out[256];
    const char *argv[16];
    int n = 0, fds[2], status;
    posix_spawn_file_actions_t actions;
    size_t got = 0;
    ssize_t r;
    pid_t pid;

    snprintf(warm, sizeof(warm), "%d", o->warm_loads);
    argv[n++] = "p11bench";
    argv[n++] = "--load-child";
    argv[n++] = kind;
    argv[n++] = "--provider-dir";
    argv[n++] = o->provider_dir;
    argv[n++] = "--module";
    argv[n++] = o->module;
    argv[n++] = "--uri";
    argv[n++] = o->uri;
    argv[n++] = "--warm-loads";
    argv[n++] = warm;
    if (o->pin != NULL) {
        argv[n++] = "--pin";
        argv[n++] = o->pin;
    }
    argv[n] = NULL;
    if (pipe(fds) != 0 || posix_spawn_file_actions_init(&actions) != 0
        || posix_spawn_file_actions_adddup2(&actions, fds[1], 1) != 0
        || posix_spawn_file_actions_addclose(&actions, fds[0]) != 0
        || posix_spawn(&pid, "/proc/self/exe", &actions, NULL,
                       (char *const *)argv, environ)
               != 0)
        die("starting a --load-child process");
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    while (got < sizeof(out) - 1
           && (r = read(fds[0], out + got, sizeof(out) - 1 - got)) > 0)
        got += (size_t)r;
    out[got] = '\0';
    close(fds[0]);
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)
        || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "p11bench: the --load-child %s process failed\n",
                kind);
        exit(1);
    }
    if ((n_values == 1 && sscanf(out, "%lf", &values[0]) != 1)
        || (n_values == 2
            && sscanf(out, "%lf %lf", &values[0], &values[1]) != 2))
        die("reading what a --load-child process printed");
}

static void cell(char *buf, size_t size, double *values, int n)
{
    double median = median_of(values, n);

    snprintf(buf, size, "%.3f (%.3f-%.3f)", median, values[0], values[n - 1]);
}

void load_time_report(const load_options *o)
{
    double cold[MAX_LOAD_RUNS], warm[MAX_LOAD_RUNS], raw[MAX_LOAD_RUNS];
    char token[64], object[64], cold_cell[64], raw_cell[64], warm_cell[64];
    double ratio;

    if (o->runs < 1 || o->runs > MAX_LOAD_RUNS)
        die("--load-runs out of range");
    for (int r = 0; r < o->runs; r++) {
        double both[2];

        run_child(o, "provider", both, 2);
        cold[r] = both[0];
        warm[r] = both[1];
        run_child(o, "raw", &raw[r], 1);
    }
    if (uri_attribute(o->uri, "token", token, sizeof(token)) < 0)
        snprintf(token, sizeof(token), "-");
    if (uri_attribute(o->uri, "object", object, sizeof(object)) < 0)
        snprintf(object, sizeof(object), "-");
    cell(cold_cell, sizeof(cold_cell), cold, o->runs);
    cell(raw_cell, sizeof(raw_cell), raw, o->runs);
    ratio = median_of(cold, o->runs) / median_of(raw, o->runs);
    if (o->warm_loads > 0)
        cell(warm_cell, sizeof(warm_cell), warm, o->runs);
    else
        snprintf(warm_cell, sizeof(warm_cell), "-");
    if (o->header)
        printf("%-12s %-12s  %-28s  %-28s  %8s  %s\n", "token", "key",
               "cold load ms (med, min-max)", "raw init+login+find ms",
               "cold/raw", "warm load ms (med, min-max)");
    printf("%-12s %-12s  %-28s  %-28s  %8.2f  %s\n", token, object, cold_cell,
           raw_cell, ratio, warm_cell);
    fflush(stdout);
}
