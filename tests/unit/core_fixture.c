/*
 * The core tests' fixture (see core_fixture.h): a P11PROV_CTX made the
 * way provider.c makes one, minus the OpenSSL core (errors then go
 * straight onto libcrypto's queue), and call counting from the module's
 * log.
 */
#include "core_fixture.h"
#include "test_util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

static void log_error_queue(void)
{
    ERR_print_errors_fp(stderr);
}

bool fixture_setup(CORE_FIXTURE *f)
{
    const char *module = getenv("P11TEST_MODULE");
    P11PROV_TOKEN **tokens = NULL;
    size_t count = 0;
    p11uri *uri = NULL;
    bool found;

    memset(f, 0, sizeof(*f));
    if (module == NULL || module[0] == '\0') {
        fprintf(stderr,
                "P11TEST_MODULE is not set (run the test from ctest)\n");
        return false;
    }
    f->log_path = getenv("P11FAULT_LOG");
    if (f->log_path == NULL || f->log_path[0] == '\0')
        f->log_path = getenv("P11MOCK_LOG");
    if (f->log_path != NULL) {
        FILE *log = fopen(f->log_path, "w"); /* a previous run's calls go */
        if (log == NULL) {
            fprintf(stderr, "cannot empty %s: %s\n", f->log_path,
                    strerror(errno));
            return false;
        }
        fclose(log);
    }

    p11prov_debug_init(); /* PKCS11PROV_DEBUG=3 traces every call */
    pthread_mutex_init(&f->ctx.modules_lock, NULL);
    f->ctx.libctx = OSSL_LIB_CTX_new();
    f->ctx.config.module_path = OPENSSL_strdup(module);
    f->ctx.config.token_pin = OPENSSL_strdup("1234");
    if (f->ctx.libctx == NULL || f->ctx.config.module_path == NULL
        || f->ctx.config.token_pin == NULL)
        return false;

    f->module = p11prov_module_for_uri(&f->ctx, NULL);
    if (f->module == NULL) {
        fprintf(stderr, "cannot load %s:\n", module);
        log_error_queue();
        return false;
    }
    /* p11prov_tokens_find wants a URI (NULL matches nothing). */
    if (p11uri_parse("pkcs11:token=mock-token", &uri, NULL) != P11URI_OK)
        return false;
    found = p11prov_tokens_find(&f->ctx, f->module, uri, &tokens, &count);
    p11uri_free(uri);
    if (!found || count != 1) {
        fprintf(stderr, "%zu tokens in %s, want mock-token alone\n", count,
                module);
        log_error_queue();
        OPENSSL_free(tokens);
        return false;
    }
    f->token = tokens[0];
    OPENSSL_free(tokens);
    return true;
}

void fixture_teardown(CORE_FIXTURE *f)
{
    p11prov_modules_release(&f->ctx);
    p11prov_config_free(&f->ctx.config);
    OSSL_LIB_CTX_free(f->ctx.libctx);
    pthread_mutex_destroy(&f->ctx.modules_lock);
    ERR_clear_error();
}

unsigned long fixture_calls(const CORE_FIXTURE *f, const char *name)
{
    char line[128];
    unsigned long n = 0;
    size_t len = strlen(name);
    FILE *log;

    if (f->log_path == NULL || (log = fopen(f->log_path, "r")) == NULL)
        return 0;
    while (fgets(line, sizeof(line), log) != NULL)
        if (strncmp(line, name, len) == 0 && line[len] == '\n')
            n++;
    fclose(log);
    return n;
}

unsigned long fixture_module_sessions(const CORE_FIXTURE *f)
{
    CK_TOKEN_INFO info;

    if (f->module->fns->C_GetTokenInfo(f->token->slot_id, &info) != CKR_OK)
        return ULONG_MAX;
    return info.ulSessionCount;
}

unsigned int fixture_sessions_open(const CORE_FIXTURE *f)
{
    return __atomic_load_n(&f->token->sessions_open, __ATOMIC_ACQUIRE);
}

unsigned int fixture_sessions_idle(const CORE_FIXTURE *f)
{
    unsigned int n = 0;

    for (unsigned int i = 0; i < P11PROV_IDLE_SESSIONS; i++)
        if (__atomic_load_n(&f->token->idle[i].handle, __ATOMIC_ACQUIRE)
            != CK_INVALID_HANDLE)
            n++;
    return n;
}

double fixture_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void fixture_sleep_ms(unsigned int ms)
{
    struct timespec left = { (time_t)(ms / 1000),
                             (long)(ms % 1000) * 1000000L };

    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        continue;
}

int fixture_main(const char *suite, const FIXTURE_SCENARIO *scenarios,
                 int argc, char **argv)
{
    char name[128];
    CORE_FIXTURE f;

    for (const FIXTURE_SCENARIO *s = scenarios; argc == 2 && s->name; s++) {
        if (strcmp(s->name, argv[1]) != 0)
            continue;
        if (CHECKF(fixture_setup(&f), "setting up %s", s->name)) {
            s->run(&f);
            fixture_teardown(&f);
        }
        snprintf(name, sizeof(name), "%s %s", suite, s->name);
        return tu_finish(name);
    }
    fprintf(stderr, "usage: %s SCENARIO; scenarios:", argv[0]);
    for (const FIXTURE_SCENARIO *s = scenarios; s->name; s++)
        fprintf(stderr, " %s", s->name);
    fprintf(stderr, "\n");
    return 2;
}
