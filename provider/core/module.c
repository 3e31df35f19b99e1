/* Loading Cryptoki modules: dlopen, interface discovery, C_Initialize
 * once per process, and C_Finalize only when we are the last user, before
 * the module's own static objects are destroyed at exit. */
#include "core/module.h"

#include <dlfcn.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "core/errors.h"
#include "core/pkcs11_v3.h"
#include "core/tokens.h"

/* Every module loaded in this process, whichever context loaded it. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static P11PROV_MODULE *registry;
static unsigned int fork_generation;
static pid_t registry_pid;
static bool process_exiting;
static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;

/* Around fork(): every lock is taken so that none is copied into the
 * child held by a thread that does not exist there, and no Cryptoki call
 * is in progress. Order: the token locks (which may be held around a
 * module call), then fork_lock; call_lock is free once no call is in
 * progress. */
static void fork_prepare(void)
{
    pthread_mutex_lock(&registry_lock);
    for (P11PROV_MODULE *m = registry; m != NULL; m = m->next) {
        p11prov_tokens_lock_all(m);
        pthread_mutex_lock(&m->fork_lock);
        __atomic_store_n(&m->fork_pending, 1, __ATOMIC_SEQ_CST);
        while (__atomic_load_n(&m->calls_in_flight, __ATOMIC_SEQ_CST) > 0)
            sched_yield(); /* calls are short; new ones wait for us */
    }
}

static void fork_release(void)
{
    for (P11PROV_MODULE *m = registry; m != NULL; m = m->next) {
        __atomic_store_n(&m->fork_pending, 0, __ATOMIC_SEQ_CST);
        pthread_mutex_unlock(&m->fork_lock);
        p11prov_tokens_unlock_all(m);
    }
    pthread_mutex_unlock(&registry_lock);
}

static void fork_child(void)
{
    fork_generation++;
    fork_release();
    /* Logins span several calls and may wait for the user: not held off
     * at fork, so one may have been under way in another thread. That
     * thread is gone here; so is the login (the module is initialised
     * again). */
    for (P11PROV_MODULE *m = registry; m != NULL; m = m->next) {
        p11prov_tokens_reset_login_locks(m);
        /* So are the operations that held lanes (lanes.h). */
        for (size_t k = 0; k < P11PROV_MAX_LANES; k++)
            __atomic_store_n(&m->lane_busy[k], 0, __ATOMIC_RELAXED);
    }
}

static void register_fork_handlers(void)
{
    pthread_atfork(fork_prepare, fork_release, fork_child);
}

/* C_Finalize of a module we initialised (it may say goodbye to a server
 * that is gone). */
static void finalize_module(P11PROV_MODULE *m)
{
    P11PROV_SIGPIPE_GUARD guard;

    p11prov_sigpipe_hold(&guard);
    m->fns->C_Finalize(NULL);
    p11prov_sigpipe_release(&guard);
    m->finalized = true;
}

/* Runs at exit() before the modules' static destructors: they were
 * registered when a module was loaded, before this handler's latest
 * registration (atexit runs handlers in reverse order). OpenSSL's own cleanup, and with it our
 * teardown, runs later still, when SoftHSM would crash in C_Finalize. */
static void finalize_modules_at_exit(void)
{
    pthread_mutex_lock(&registry_lock);
    __atomic_store_n(&process_exiting, true, __ATOMIC_RELEASE);
    for (P11PROV_MODULE *m = registry; m != NULL; m = m->next) {
        if (!m->we_initialized || m->finalized || registry_pid != getpid()
            || m->fork_generation != fork_generation)
            continue; /* not ours to finalise, or the parent's state */
        p11prov_tokens_forget(m);
        finalize_module(m);
        P11PROV_DEBUG(1, "module %s finalized at exit", m->path);
    }
    pthread_mutex_unlock(&registry_lock);
}

static void module_free(P11PROV_MODULE *m)
{
    p11prov_tokens_free(m);
    pthread_mutex_destroy(&m->call_lock);
    pthread_mutex_destroy(&m->fork_lock);
    pthread_mutex_destroy(&m->tokens_lock);
    OPENSSL_free(m->path);
    OPENSSL_free(m->init_args);
    OPENSSL_free(m);
}

/* When OpenSSL unloads pkcs11prov.so (at its cleanup, after every provider
 * context was torn down and the modules finalised), our bookkeeping goes
 * too. The module libraries stay loaded: unloading one that another part
 * of the process may use, or whose destructors run at exit, is not ours
 * to do. */
__attribute__((destructor)) static void free_registry(void)
{
    pthread_mutex_lock(&registry_lock);
    while (registry != NULL) {
        P11PROV_MODULE *m = registry;
        registry = m->next;
        module_free(m);
    }
    pthread_mutex_unlock(&registry_lock);
}

/* Every entry of a 2.40 function list must be set (PKCS#11 has functions
 * a module does not support return CKR_FUNCTION_NOT_SUPPORTED): a NULL
 * entry is a broken module, refused at load instead of crashing later. */
static bool function_list_complete(const CK_FUNCTION_LIST *f)
{
    const unsigned char *first = (const unsigned char *)&f->C_Initialize;
    const unsigned char *end = (const unsigned char *)(f + 1);

    for (const unsigned char *p = first; p + sizeof(void (*)(void)) <= end;
         p += sizeof(void (*)(void))) {
        void (*fn)(void);
        memcpy(&fn, p, sizeof(fn));
        if (fn == NULL)
            return false;
    }
    return true;
}

static CK_FUNCTION_LIST *find_function_list(P11PROV_CTX *ctx, void *library,
                                            const char *path)
{
    CK_FUNCTION_LIST *fns = NULL;
    P11PROV_C_GetInterface get_interface;
    CK_C_GetFunctionList get_function_list;
    CK_RV rv;

    /* PKCS#11 3.0 modules: ask for the standard interface first. */
    *(void **)&get_interface = dlsym(library, "C_GetInterface");
    if (get_interface != NULL) {
        P11PROV_CK_INTERFACE *interface = NULL;
        rv = get_interface((CK_UTF8CHAR *)"PKCS 11", NULL, &interface, 0);
        if (rv == CKR_OK && interface != NULL
            && interface->pFunctionList != NULL)
            fns = interface->pFunctionList;
    }
    if (fns == NULL) {
        *(void **)&get_function_list = dlsym(library, "C_GetFunctionList");
        if (get_function_list == NULL) {
            P11PROV_RAISE(ctx, P11PROV_R_MODULE_LOAD,
                          "%s exports neither C_GetInterface nor "
                          "C_GetFunctionList: not a PKCS#11 module",
                          path);
            return NULL;
        }
        rv = get_function_list(&fns);
        if (rv != CKR_OK) {
            P11PROV_RAISE_CKR(ctx, rv, "C_GetFunctionList", path);
            return NULL;
        }
    }
    if (fns == NULL || fns->version.major < 2
        || !function_list_complete(fns)) {
        P11PROV_RAISE(ctx, P11PROV_R_MODULE_BAD_ANSWER,
                      "%s returned an incomplete PKCS#11 function list",
                      path);
        return NULL;
    }
    return fns;
}

/* tpm2-pkcs11 1.9 fails (wrong sessions, crashes) when two threads call
 * it at once despite CKF_OS_LOCKING_OK; such modules get one caller at a
 * time. */
static bool module_needs_serializing(const CK_INFO *info)
{
    static const char tpm2_manufacturer[] = "tpm2-software.github.io";
    return memcmp(info->manufacturerID, tpm2_manufacturer,
                  sizeof(tpm2_manufacturer) - 1)
           == 0;
}

/* OP-TEE's libckteec 3.19 to 4.4 dereferences CKM_EDDSA's parameter
 * without checking it for NULL (fixed in 4.5, optee_client 6486773). */
static bool module_needs_eddsa_params(const CK_INFO *info)
{
    static const char libckteec[] = "OP-TEE PKCS11 Cryptoki library";
    return memcmp(info->libraryDescription, libckteec, sizeof(libckteec) - 1)
           == 0;
}

/* C_Initialize with OS locking and the configured init args. */
static CK_RV call_initialize(P11PROV_MODULE *m)
{
    CK_C_INITIALIZE_ARGS args;
    CK_RV rv;

    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    args.pReserved = m->init_args;
    /* Modules that use libcrypto (SoftHSM looks for the rdrand engine)
     * leave their own errors behind; they are not the application's. */
    ERR_set_mark();
    P11PROV_SIGPIPE_GUARD guard;
    p11prov_sigpipe_hold(&guard); /* a client module connects here */
    rv = m->fns->C_Initialize(&args);
    p11prov_sigpipe_release(&guard);
    ERR_pop_to_mark();
    return rv;
}

/* C_Initialize + C_GetInfo; registry_lock held. */
static int initialize_module(P11PROV_CTX *ctx, P11PROV_MODULE *m)
{
    int streams_before = p11prov_stream_fds();
    CK_RV rv = call_initialize(m);
    int streams_after = p11prov_stream_fds();

    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        P11PROV_RAISE_CKR(ctx, rv, "C_Initialize of PKCS#11 module", m->path);
        return 0;
    }
    /* Someone else in the process initialised it: never finalise it. */
    m->we_initialized = rv == CKR_OK;
    m->finalized = false;
    __atomic_add_fetch(&m->init_count, 1, __ATOMIC_RELEASE);
    m->fork_generation = fork_generation;
    registry_pid = getpid();
    P11PROV_SIGPIPE_GUARD guard;
    p11prov_sigpipe_hold(&guard);
    rv = m->fns->C_GetInfo(&m->info);
    p11prov_sigpipe_release(&guard);
    if (rv != CKR_OK) {
        P11PROV_RAISE_CKR(ctx, rv, "C_GetInfo of PKCS#11 module", m->path);
        if (m->we_initialized)
            finalize_module(m);
        m->finalized = true;
        return 0;
    }
    m->serialize = module_needs_serializing(&m->info);
    m->eddsa_needs_params = module_needs_eddsa_params(&m->info);
    /* A socket or pipe the module opened talks to another process, which
     * may go away; uncountable counts as one. */
    m->guard_sigpipe = streams_before < 0 || streams_after < 0
                       || streams_after > streams_before;
    if (m->guard_sigpipe)
        P11PROV_DEBUG(1,
                      "module %s talks to another process: SIGPIPE held "
                      "off in its calls",
                      m->path);
    m->fork_unsafe = m->serialize;
    /* p11-kit's RPC client (0.24 to 0.26, rpc_socket_read) leaves a
     * thread waiting forever for its reply when the server dies while
     * another thread's call reads: one call at a time into a module that
     * talks to another process. A dead server then fails every call
     * instead of hanging one. */
    m->serialize = m->serialize || m->guard_sigpipe;
    if (!m->exit_handler_registered) {
        /* Registered again after each module's dlopen and first
         * C_Initialize, so that the latest registration runs before every
         * loaded module's static destructors; see finalize_modules_at_exit.
         * Later runs find nothing left to do. */
        atexit(finalize_modules_at_exit);
        m->exit_handler_registered = true;
    }
    P11PROV_DEBUG(1, "module %s initialized (%s, cryptoki %u.%u%s)", m->path,
                  m->we_initialized ? "by us" : "already",
                  m->info.cryptokiVersion.major,
                  m->info.cryptokiVersion.minor,
                  m->serialize ? ", calls serialized" : "");
    return 1;
}

/* The record of one function list of a loaded library, not initialised
 * yet. */
static P11PROV_MODULE *module_new(P11PROV_CTX *ctx, void *library,
                                  CK_FUNCTION_LIST *fns, const char *path,
                                  const char *init_args)
{
    P11PROV_MODULE *m = OPENSSL_zalloc(sizeof(*m));
    if (m == NULL || (m->path = OPENSSL_strdup(path)) == NULL
        || (init_args
            && (m->init_args = OPENSSL_strdup(init_args)) == NULL)) {
        P11PROV_RAISE(ctx, P11PROV_R_MEMORY, "loading module %s", path);
        if (m != NULL) {
            OPENSSL_free(m->path);
            OPENSSL_free(m);
        }
        return NULL;
    }
    m->library = library;
    m->fns = fns;
    m->finalized = true; /* until initialize_module succeeds */
    pthread_mutex_init(&m->call_lock, NULL);
    pthread_mutex_init(&m->fork_lock, NULL);
    pthread_mutex_init(&m->tokens_lock, NULL);
    return m;
}

static P11PROV_MODULE *load_module(P11PROV_CTX *ctx, const char *path,
                                   const char *init_args)
{
    void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        P11PROV_RAISE(ctx, P11PROV_R_MODULE_LOAD,
                      "cannot load PKCS#11 module %s: %s", path, dlerror());
        return NULL;
    }
    CK_FUNCTION_LIST *fns = find_function_list(ctx, library, path);
    P11PROV_MODULE *m = fns ? module_new(ctx, library, fns, path, init_args)
                            : NULL;
    if (m == NULL)
        dlclose(library);
    return m;
}

P11PROV_MODULE *p11prov_module_instance(P11PROV_CTX *ctx, P11PROV_MODULE *m)
{
    P11PROV_MODULE *instance = NULL;
    CK_FUNCTION_LIST *fns;
    bool independent;
    int ok;

    pthread_mutex_lock(&registry_lock);
    if (m->finalized || process_exiting || registry_pid != getpid())
        goto done;
    /* p11-kit's proxy (libp11-kit itself) shares the modules it loads,
     * and so their connections, between its instances: trying one would
     * only initialise every module it loads once more. */
    if (dlsym(m->library, "p11_kit_modules_load") != NULL) {
        __atomic_store_n(&m->single_instance, true, __ATOMIC_RELEASE);
        P11PROV_DEBUG(1, "module %s (p11-kit's proxy): one connection",
                      m->path);
        goto done;
    }
    /* p11-kit's client makes a new instance, with a transport of its
     * own, for each C_GetFunctionList; most modules return the same list
     * again. Only one that connects anew in its C_Initialize will do. */
    ERR_set_mark();
    fns = find_function_list(ctx, m->library, m->path);
    independent = fns != NULL;
    for (P11PROV_MODULE *o = registry; independent && o != NULL; o = o->next)
        independent = o->fns != fns;
    instance = independent
                   ? module_new(ctx, m->library, fns, m->path, m->init_args)
                   : NULL;
    ok = instance != NULL && initialize_module(ctx, instance);
    ERR_pop_to_mark();
    if (instance == NULL || !ok || !instance->we_initialized
        || !instance->guard_sigpipe) {
        if (ok && instance->we_initialized)
            finalize_module(instance);
        if (instance != NULL)
            module_free(instance);
        instance = NULL;
        /* No connection of its own (a failure of the server itself may
         * pass: tried again later). */
        if (!independent || ok) {
            __atomic_store_n(&m->single_instance, true, __ATOMIC_RELEASE);
            P11PROV_DEBUG(1, "module %s: one connection for the process",
                          m->path);
        }
        goto done;
    }
    instance->instance_of = m;
    instance->next = registry;
    registry = instance;
    P11PROV_DEBUG(1, "module %s: another connection to its server", m->path);
done:
    pthread_mutex_unlock(&registry_lock);
    return instance;
}

/* Finds or loads the module and takes a user reference on it. */
static P11PROV_MODULE *module_acquire(P11PROV_CTX *ctx, const char *path,
                                      const char *init_args)
{
    P11PROV_MODULE *m;

    pthread_once(&fork_handler_once, register_fork_handlers);
    pthread_mutex_lock(&registry_lock);
    for (m = registry; m != NULL; m = m->next)
        if (m->instance_of == NULL && strcmp(m->path, path) == 0)
            break;
    if (m == NULL) {
        m = load_module(ctx, path, init_args);
        if (m != NULL) {
            m->next = registry;
            registry = m;
        }
    }
    if (m != NULL && m->finalized && !initialize_module(ctx, m))
        m = NULL;
    if (m != NULL)
        m->users++;
    pthread_mutex_unlock(&registry_lock);
    return m;
}

static void module_release(P11PROV_MODULE *m)
{
    pthread_mutex_lock(&registry_lock);
    if (--m->users == 0 && m->we_initialized && !m->finalized
        && !process_exiting && registry_pid == getpid()
        && m->fork_generation == fork_generation) {
        /* Its other instances go with it; they are initialised again
         * when used (p11prov_module_ready). */
        for (P11PROV_MODULE *i = registry; i != NULL; i = i->next) {
            if (i->instance_of != m || i->finalized)
                continue;
            p11prov_tokens_forget(i);
            finalize_module(i);
            __atomic_store_n(&i->down, true, __ATOMIC_RELEASE);
        }
        p11prov_tokens_forget(m);
        finalize_module(m);
        P11PROV_DEBUG(1, "module %s finalized: last user gone", m->path);
    }
    pthread_mutex_unlock(&registry_lock);
}

long long p11prov_monotonic_ns(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

CK_RV p11prov_module_recover(P11PROV_MODULE *m, unsigned int seen_generation)
{
    long long now = p11prov_monotonic_ns();
    CK_RV rv;

    pthread_mutex_lock(&registry_lock);
    if (p11prov_module_generation(m) != seen_generation) {
        pthread_mutex_unlock(&registry_lock); /* another thread did it */
        return CKR_OK;
    }
    /* Not ours to finalise (someone else in the process initialised it),
     * or the process is going. */
    if (!m->we_initialized || process_exiting || registry_pid != getpid()
        || m->fork_generation != fork_generation) {
        pthread_mutex_unlock(&registry_lock);
        return CKR_DEVICE_ERROR;
    }
    if (m->recovered_at != 0
        && now - m->recovered_at < P11PROV_RECOVERY_INTERVAL_MS * 1000000LL) {
        pthread_mutex_unlock(&registry_lock);
        return CKR_DEVICE_ERROR;
    }
    m->recovered_at = now;
    p11prov_tokens_forget(m);
    /* No call in progress while the module is finalised: new ones wait
     * on fork_lock, as around fork(). */
    pthread_mutex_lock(&m->fork_lock);
    __atomic_store_n(&m->fork_pending, 1, __ATOMIC_SEQ_CST);
    /* Calls to a dead server end at once; one to a server that hangs
     * may not: after P11PROV_RECOVERY_DRAIN_MS, no re-initialisation
     * this interval (finalising under a call would be worse). */
    while (__atomic_load_n(&m->calls_in_flight, __ATOMIC_SEQ_CST) > 0) {
        if (p11prov_monotonic_ns() - now
            > P11PROV_RECOVERY_DRAIN_MS * 1000000LL) {
            __atomic_store_n(&m->fork_pending, 0, __ATOMIC_SEQ_CST);
            pthread_mutex_unlock(&m->fork_lock);
            pthread_mutex_unlock(&registry_lock);
            P11PROV_DEBUG(1,
                          "module %s not re-initialized: calls still "
                          "in progress",
                          m->path);
            return CKR_DEVICE_ERROR;
        }
        sched_yield();
    }
    finalize_module(m);
    rv = call_initialize(m);
    /* Not finalised again at exit unless it came back. */
    m->finalized = rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED;
    /* Whatever the answer, the old sessions, logins and handles are
     * gone; a module that did not come back answers
     * CKR_CRYPTOKI_NOT_INITIALIZED and is tried again next interval. */
    __atomic_add_fetch(&m->init_count, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&m->fork_pending, 0, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&m->fork_lock);
    __atomic_store_n(&m->down, m->finalized, __ATOMIC_RELEASE);
    if (rv == CKR_OK)
        p11prov_tokens_relocate(m);
    pthread_mutex_unlock(&registry_lock);
    char ckr[P11PROV_CKR_NAME_MAX];
    P11PROV_DEBUG(1, "module %s re-initialized after losing its token: %s",
                  m->path, p11prov_ckr_name(rv, ckr));
    (void)ckr;
    return rv == CKR_CRYPTOKI_ALREADY_INITIALIZED ? CKR_OK : rv;
}

bool p11prov_module_ready(P11PROV_MODULE *m)
{
    if (!__atomic_load_n(&m->down, __ATOMIC_ACQUIRE))
        return true;
    return p11prov_module_recover(m, p11prov_module_generation(m)) == CKR_OK;
}

bool p11prov_process_exiting(void)
{
    return __atomic_load_n(&process_exiting, __ATOMIC_ACQUIRE);
}

CK_RV p11prov_module_check_fork(P11PROV_CTX *ctx, P11PROV_MODULE *m)
{
    CK_RV rv = CKR_OK;

    if (__atomic_load_n(&m->fork_generation, __ATOMIC_ACQUIRE)
        == __atomic_load_n(&fork_generation, __ATOMIC_ACQUIRE))
        return CKR_OK;
    pthread_mutex_lock(&registry_lock);
    if (m->fork_generation != fork_generation) {
        /* The parent's sessions and login are not ours to use or close. */
        p11prov_tokens_forget(m);
        rv = call_initialize(m);
        if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED && m->fork_unsafe) {
            /* Using it, or finalising it at exit, would talk over the
             * parent's connection. Refused for good in this process. */
            if (ctx != NULL)
                P11PROV_RAISE(ctx, P11PROV_R_MODULE_INIT,
                              "%s cannot be used in a process forked after "
                              "it was initialized (it does not support fork: "
                              "its TPM connection is the parent's)",
                              m->path);
            pthread_mutex_unlock(&registry_lock);
            return rv;
        }
        if (rv == CKR_OK || rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
            m->we_initialized = rv == CKR_OK;
            m->fork_generation = fork_generation;
            if (rv == CKR_OK) /* a fresh start: no session, no login */
                __atomic_add_fetch(&m->init_count, 1, __ATOMIC_RELEASE);
            registry_pid = getpid();
            P11PROV_DEBUG(1, "module %s re-initialized after fork", m->path);
            rv = CKR_OK;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return rv;
}

/* The path for the module the URI asks for, or the configured one. */
static char *module_path_for_uri(P11PROV_CTX *ctx, const p11uri *uri)
{
    if (uri != NULL && uri->values[P11URI_MODULE_PATH].present)
        return OPENSSL_strdup((char *)uri->values[P11URI_MODULE_PATH].data);
    if (uri != NULL && uri->values[P11URI_MODULE_NAME].present) {
        const char *name = (char *)uri->values[P11URI_MODULE_NAME].data;
        char *resolved = p11prov_resolve_module_name(name);
        if (resolved == NULL)
            P11PROV_RAISE(ctx, P11PROV_R_MODULE_LOAD,
                          "no PKCS#11 module named \"%s\" (looked for a "
                          "p11-kit registration and a library of that name)",
                          name);
        return resolved;
    }
    return OPENSSL_strdup(ctx->config.module_path);
}

P11PROV_MODULE *p11prov_module_for_uri(P11PROV_CTX *ctx, const p11uri *uri)
{
    char *path = module_path_for_uri(ctx, uri);
    P11PROV_MODULE *m = NULL;

    if (path == NULL)
        return NULL;
    pthread_mutex_lock(&ctx->modules_lock);
    for (size_t i = 0; i < ctx->module_count; i++)
        if (strcmp(ctx->modules[i]->path, path) == 0)
            m = ctx->modules[i];
    if (m == NULL) {
        if (ctx->module_count == P11PROV_MAX_MODULES) {
            P11PROV_RAISE(ctx, P11PROV_R_MODULE_LOAD,
                          "cannot load %s: already using %d modules", path,
                          P11PROV_MAX_MODULES);
        } else {
            /* Init args are configured for the configured module only. */
            bool configured = strcmp(path, ctx->config.module_path) == 0;
            m = module_acquire(ctx, path,
                               configured ? ctx->config.init_args : NULL);
            if (m != NULL)
                ctx->modules[ctx->module_count++] = m;
        }
    }
    pthread_mutex_unlock(&ctx->modules_lock);
    OPENSSL_free(path);
    if (m != NULL && p11prov_module_check_fork(ctx, m) != CKR_OK) {
        P11PROV_RAISE(ctx, P11PROV_R_MODULE_INIT,
                      "cannot re-initialize %s after fork", m->path);
        return NULL;
    }
    /* A module that lost its server is started again before it is used
     * (its calls then answer what the server does). */
    if (m != NULL)
        (void)p11prov_module_ready(m);
    return m;
}

void p11prov_modules_release(P11PROV_CTX *ctx)
{
    pthread_mutex_lock(&ctx->modules_lock);
    for (size_t i = 0; i < ctx->module_count; i++)
        module_release(ctx->modules[i]);
    ctx->module_count = 0;
    pthread_mutex_unlock(&ctx->modules_lock);
}
