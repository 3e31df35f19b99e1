/*
 * fork_sign: a process that forks while it signs, as a pre-forking server
 * does. The parent loads the keys by URI and signs with its keys; then,
 * round after round, it forks children while a thread of it keeps signing;
 * each child signs with the keys it inherited and exits (atexit handlers
 * and all). After the last round the parent signs again. Every signature
 * is verified in the default provider with the key's public key read from
 * a file. Every wait is bounded: children are polled with waitpid until a
 * deadline, then killed; each process has an alarm (exit status 3).
 *
 * fork() waits until the parent's thread is between two signatures, as a
 * correct program must: a child inherits every lock as it was, and one
 * held by a thread that does not exist there (OpenSSL's method store lock,
 * a module's own mutexes) is held for ever. --fork-mid-signature skips
 * that wait, to show what then happens (children hang now and then: not
 * for the tests). --no-parent-thread: the parent does not sign during the
 * rounds (for runtimes whose own locks are not fork-safe: GCC 12's ASan).
 *
 *   fork_sign [--children N] [--rounds R] [--count M] [--timeout S]
 *             [--parent-signatures P] [--fork-mid-signature]
 *             [--no-parent-thread]
 *             --key ROLES URI PUB.pem [--key ROLES URI PUB.pem ...]
 *
 * ROLES, comma-separated:
 *   parent   the parent signs with it before the rounds, in its thread
 *            during them, and after them (P signatures before and P after,
 *            going round the parent keys)
 *   child    each child's M signatures go round the child keys
 *   refused  each child tries one signature with it, which must fail: its
 *            module cannot serve a forked child
 * Defaults: 4 children, 2 rounds, 200 signatures, 60 s per wait, P 10.
 *
 * Prints (each line written at once, children's too):
 *   parent before: N verified
 *   child R.I: N signatures verified
 *   child R.I refused: ERRORS       (OpenSSL's error queue, on one line)
 *   child R.I signed with a key it must not use: URI
 *   round R: N children exited 0, N parent signatures while they ran
 *   parent during: N verified
 *   parent after: N verified
 * A round in which a child failed is the last one.
 * Exit status: 0 when the parent's signatures all verified and every child
 * exited 0 (a child exits 0 when all its signatures verified and every
 * refused key was refused), 1 otherwise, 2 on bad usage, 3 on timeout.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

#define PROG "fork_sign"
#include "token_key_util.h"

#define MAX_KEYS 8
#define MAX_CHILDREN 64

enum { ROLE_PARENT = 1, ROLE_CHILD = 2, ROLE_REFUSED = 4 };

struct token_key {
    int roles;
    const char *uri;
    const char *pub_path;
    EVP_PKEY *key;
    EVP_PKEY *pub;
};

static struct token_key keys[MAX_KEYS];
static int key_count;
static int children = 4, rounds = 2, child_signatures = 200, timeout = 60;
static int parent_signatures = 10;
static int fork_mid_signature, no_parent_thread;
static atomic_int stop_parent_signer;
static atomic_int parent_signer_failed;
static atomic_long parent_during;

/* printf as one write(): lines of several processes never mix. */
__attribute__((format(printf, 1, 2))) static void say(const char *format, ...)
{
    char line[2048];
    va_list args;
    int len;

    va_start(args, format);
    len = vsnprintf(line, sizeof(line), format, args);
    va_end(args);
    if (len > (int)sizeof(line) - 1)
        len = (int)sizeof(line) - 1;
    if (len > 0)
        (void)!write(STDOUT_FILENO, line, (size_t)len);
}

/* The n-th key (from 0, round robin) among those with role; NULL if none. */
static struct token_key *key_with_role(int role, long n)
{
    int with_role = 0;

    for (int i = 0; i < key_count; i++)
        with_role += (keys[i].roles & role) != 0;
    if (with_role == 0)
        return NULL;
    n %= with_role;
    for (int i = 0; i < key_count; i++)
        if ((keys[i].roles & role) != 0 && n-- == 0)
            return &keys[i];
    return NULL;
}

/* Signs with the n-th key of role over data naming who and n. */
static int sign_nth(int role, const char *who, long n)
{
    struct token_key *k = key_with_role(role, n);
    char data[96];
    int len = snprintf(data, sizeof(data), "fork_sign %s signature %ld", who,
                       n);

    if (sign_and_verify(k->key, k->pub, (unsigned char *)data, (size_t)len))
        return 1;
    fprintf(stderr, PROG "[%ld]: %s, signature %ld with %s\n", (long)getpid(),
            who, n, k->uri);
    return 0;
}

/* Signs with each parent key in turn; returns how many verified. */
static long parent_signs(const char *who, long signatures)
{
    long made = 0;

    for (long n = 0; n < signatures; n++)
        made += sign_nth(ROLE_PARENT, who, n);
    return made;
}

/* The parent's thread signs only while no fork() is pending, and fork()
 * waits for its signature in progress. */
static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_changed = PTHREAD_COND_INITIALIZER;
static int fork_pending, signing;

static void set_under_gate(int *flag, int value)
{
    pthread_mutex_lock(&gate);
    *flag = value;
    pthread_cond_broadcast(&gate_changed);
    pthread_mutex_unlock(&gate);
}

static void wait_under_gate(const int *flag)
{
    pthread_mutex_lock(&gate);
    while (*flag)
        pthread_cond_wait(&gate_changed, &gate);
    pthread_mutex_unlock(&gate);
}

static void *parent_signer(void *arg)
{
    (void)arg;
    for (long n = 0; !atomic_load(&stop_parent_signer); n++) {
        int ok;

        pthread_mutex_lock(&gate);
        while (fork_pending)
            pthread_cond_wait(&gate_changed, &gate);
        signing = 1;
        pthread_mutex_unlock(&gate);
        ok = sign_nth(ROLE_PARENT, "parent thread", n);
        set_under_gate(&signing, 0);
        if (!ok) {
            atomic_store(&parent_signer_failed, 1);
            break;
        }
        atomic_fetch_add(&parent_during, 1);
    }
    return NULL;
}

/* OpenSSL's error queue, on one line, into the buffer at u. */
static int append_error(const char *text, size_t len, void *u)
{
    char *line = u;
    size_t used = strlen(line);

    while (len > 0 && text[len - 1] == '\n')
        len--;
    if (used + len + 4 < 1024) {
        memcpy(line + used, text, len);
        memcpy(line + used + len, " | ", 4);
    }
    return 1;
}

/* One signature attempt with a key the child must not be able to use. */
static int refused_in_child(struct token_key *k, const char *who)
{
    static const unsigned char data[] = "fork_sign refused";
    const char *md = default_digest(k->pub);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char sig[1024];
    size_t sig_len = sizeof(sig);
    char errors[1024] = "";
    int signed_it =
        ctx != NULL
        && EVP_DigestSignInit_ex(ctx, NULL, md, NULL, NULL, k->key, NULL) == 1
        && (size_t)EVP_PKEY_get_size(k->key) <= sizeof(sig)
        && EVP_DigestSign(ctx, sig, &sig_len, data, sizeof(data) - 1) == 1;

    EVP_MD_CTX_free(ctx);
    if (signed_it) {
        say("%s signed with a key it must not use: %s\n", who, k->uri);
        return 0;
    }
    ERR_print_errors_cb(append_error, errors);
    say("%s refused: %s\n", who, errors);
    return 1;
}

/* A child's life: sign, try each refused key; its exit status. */
static int child_main(int round, int index)
{
    char who[32];
    long made = 0;
    int ok = 1;

    arm_deadline((unsigned)timeout);
    snprintf(who, sizeof(who), "child %d.%d", round, index);
    for (long n = 0; n < child_signatures && ok; n++) {
        ok = sign_nth(ROLE_CHILD, who, n);
        made += ok;
    }
    say("%s: %ld signatures verified\n", who, made);
    for (int i = 0; i < key_count; i++)
        if (keys[i].roles & ROLE_REFUSED)
            ok &= refused_in_child(&keys[i], who);
    return ok ? 0 : 1;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reaps the children, polling until the deadline, then kills the rest.
 * Returns how many exited 0. */
static int reap(const pid_t *pids, int n, double deadline)
{
    static const struct timespec poll_interval = { 0, 5 * 1000 * 1000 };
    int reaped[MAX_CHILDREN] = { 0 }, left = n, exited_0 = 0;

    while (left > 0 && now() < deadline) {
        for (int i = 0; i < n; i++) {
            int status;

            if (reaped[i] || waitpid(pids[i], &status, WNOHANG) != pids[i])
                continue;
            reaped[i] = 1;
            left--;
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                exited_0++;
            else
                fprintf(stderr, PROG ": child %ld ended with status 0x%x\n",
                        (long)pids[i], status);
        }
        if (left > 0)
            nanosleep(&poll_interval, NULL);
    }
    for (int i = 0; i < n; i++)
        if (!reaped[i]) {
            fprintf(stderr,
                    PROG ": child %ld still running after %d s: "
                         "killed\n",
                    (long)pids[i], timeout);
            kill(pids[i], SIGKILL);
            while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
                continue;
        }
    return exited_0;
}

static void free_keys(void)
{
    for (int i = 0; i < key_count; i++) {
        EVP_PKEY_free(keys[i].key);
        EVP_PKEY_free(keys[i].pub);
    }
}

/* One round: forks the children and reaps them. In a child, never
 * returns. Returns whether every child exited 0. */
static int fork_round(int round)
{
    pid_t pids[MAX_CHILDREN];
    long during_before = atomic_load(&parent_during);
    int forked = 0, exited_0;
    double deadline = now() + timeout + 5; /* the children's alarm first */

    for (; forked < children; forked++) {
        if (!fork_mid_signature) {
            set_under_gate(&fork_pending, 1);
            wait_under_gate(&signing);
        }
        fflush(NULL);
        pids[forked] = fork();
        if (pids[forked] != 0 && !fork_mid_signature)
            set_under_gate(&fork_pending, 0);
        if (pids[forked] < 0) {
            perror(PROG ": fork");
            break;
        }
        if (pids[forked] == 0) {
            int status = child_main(round, forked + 1);

            /* Exits as a program does: atexit handlers, OpenSSL's and the
             * provider's cleanup, run in the child. */
            free_keys();
            exit(status);
        }
    }
    exited_0 = reap(pids, forked, deadline);
    say("round %d: %d children exited 0, %ld parent signatures while they "
        "ran\n",
        round, exited_0, atomic_load(&parent_during) - during_before);
    return exited_0 == children;
}

static int parse_roles(const char *text, int *roles)
{
    char copy[64], *save = NULL;

    if (strlen(text) >= sizeof(copy))
        return 0;
    strcpy(copy, text);
    *roles = 0;
    for (char *role = strtok_r(copy, ",", &save); role != NULL;
         role = strtok_r(NULL, ",", &save)) {
        if (strcmp(role, "parent") == 0)
            *roles |= ROLE_PARENT;
        else if (strcmp(role, "child") == 0)
            *roles |= ROLE_CHILD;
        else if (strcmp(role, "refused") == 0)
            *roles |= ROLE_REFUSED;
        else
            return 0;
    }
    return *roles != 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: " PROG " [--children N] [--rounds R] [--count M] "
                    "[--timeout S] [--parent-signatures P]\n"
                    "  [--fork-mid-signature] [--no-parent-thread]\n"
                    "  --key ROLES URI PUB.pem [--key ...]\n"
                    "  ROLES: parent,child,refused (comma-separated)\n");
    return 2;
}

int main(int argc, char **argv)
{
    pthread_t thread;
    long before, after;
    const struct int_option numbers[] = {
        { "--children", &children },
        { "--rounds", &rounds },
        { "--count", &child_signatures },
        { "--timeout", &timeout },
        { "--parent-signatures", &parent_signatures },
    };
    int ok = 1;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];

        if (strcmp(arg, "--fork-mid-signature") == 0) {
            fork_mid_signature = 1;
        } else if (strcmp(arg, "--no-parent-thread") == 0) {
            no_parent_thread = 1;
        } else if (strcmp(arg, "--key") == 0 && i + 3 < argc
                   && key_count < MAX_KEYS) {
            if (!parse_roles(argv[i + 1], &keys[key_count].roles))
                return usage();
            keys[key_count].uri = argv[i + 2];
            keys[key_count++].pub_path = argv[i + 3];
            i += 3;
        } else if (!take_int_option(numbers,
                                    sizeof(numbers) / sizeof(numbers[0]),
                                    argc, argv, &i)) {
            return usage();
        }
    }
    if (key_with_role(ROLE_PARENT, 0) == NULL || parent_signatures < 1
        || key_with_role(ROLE_CHILD, 0) == NULL || children < 1
        || children > MAX_CHILDREN || rounds < 1 || child_signatures < 1
        || timeout < 1)
        return usage();

    /* The parent's own bound: every round's wait, and some. */
    arm_deadline((unsigned)(timeout * (rounds + 2)));
    for (int i = 0; i < key_count; i++)
        if (!load_key_and_public(keys[i].uri, keys[i].pub_path, &keys[i].key,
                                 &keys[i].pub)) {
            free_keys();
            return 1;
        }
    before = parent_signs("parent before", parent_signatures);
    say("parent before: %ld verified\n", before);
    ok = before == parent_signatures;
    if (ok && !no_parent_thread
        && pthread_create(&thread, NULL, parent_signer, NULL) != 0) {
        fprintf(stderr, PROG ": cannot start the parent's signing thread\n");
        ok = 0;
    } else if (ok) {
        /* A failed round (a deadlocked child costs the whole wait) ends
         * the rounds: the next would say no more. */
        for (int round = 1; round <= rounds && ok; round++)
            ok = fork_round(round);
        atomic_store(&stop_parent_signer, 1);
        if (!no_parent_thread)
            pthread_join(thread, NULL);
        say("parent during: %ld verified\n", atomic_load(&parent_during));
        ok &= !atomic_load(&parent_signer_failed);
        after = parent_signs("parent after", parent_signatures);
        say("parent after: %ld verified\n", after);
        ok &= after == parent_signatures;
    }
    free_keys();
    return ok ? 0 : 1;
}
