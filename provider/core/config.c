/* The provider's openssl.cnf keys, environment overrides, and the check
 * that refuses keys this provider does not know. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/conf.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>

#include "core/context.h"
#include "core/cryptoki.h"
#include "core/debug.h"

#define KEY_MODULE_PATH "pkcs11-module-path"
#define KEY_INIT_ARGS "pkcs11-module-init-args"
#define KEY_TOKEN_PIN "pkcs11-module-token-pin"
#define KEY_UNLISTED "pkcs11-module-unlisted-mechanisms"
#define KEY_COPY_KEYS "pkcs11-module-copy-keys"
#define KEY_CACHE_SECONDS "pkcs11-module-cache-seconds"
#define KEY_CONNECTIONS "pkcs11-module-connections"
/* One per core of a small server's clients; each costs a process on the
 * key server. */
#define DEFAULT_CONNECTIONS 4
/* Long enough for applications that load the key for every connection,
 * short enough that objects added elsewhere show up soon. */
#define DEFAULT_CACHE_SECONDS 10

/* Keys OpenSSL itself reads from a provider section, then ours. */
static const char *const known_keys[] = {
    "identity",      "module",          "activate",      "soft_load",
    KEY_MODULE_PATH, KEY_INIT_ARGS,     KEY_TOKEN_PIN,   KEY_UNLISTED,
    KEY_COPY_KEYS,   KEY_CACHE_SECONDS, KEY_CONNECTIONS,
};

/* The mechanisms pkcs11-module-unlisted-mechanisms may name. */
static const struct {
    const char *name;
    CK_MECHANISM_TYPE mechanism;
} mechanism_names[] = {
    { "CKM_ECDH1_DERIVE", CKM_ECDH1_DERIVE },
    { "CKM_ECDSA", CKM_ECDSA },
    { "CKM_EDDSA", CKM_EDDSA },
    { "CKM_RSA_PKCS", CKM_RSA_PKCS },
    { "CKM_RSA_PKCS_PSS", CKM_RSA_PKCS_PSS },
    { "CKM_RSA_PKCS_OAEP", CKM_RSA_PKCS_OAEP },
    { "CKM_RSA_X_509", CKM_RSA_X_509 },
};

/* Raises a configuration error and also prints it: OpenSSL (3.0) clears
 * errors from loading openssl.cnf, so a provider that refuses to load
 * would otherwise vanish without a word. Never called with a PIN. */
static void config_error(P11PROV_CTX *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void config_error(P11PROV_CTX *ctx, const char *fmt, ...)
{
    char message[512];
    va_list args;

    va_start(args, fmt);
    vsnprintf(message, sizeof(message), fmt, args);
    va_end(args);
    P11PROV_RAISE(ctx, P11PROV_R_CONFIG, "%s", message);
    fprintf(stderr, "pkcs11prov: %s; the provider is not loaded\n", message);
}

static bool is_known_key(const char *key)
{
    for (size_t i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++)
        if (strcmp(key, known_keys[i]) == 0)
            return true;
    return false;
}

/* The core hands a provider only the keys it asks for by name, so a typo
 * such as "pkcs11-module-paht" would go unnoticed. Read the provider's
 * section from the configuration file OpenSSL loaded and refuse unknown
 * keys. When the file or the section cannot be found (an application that
 * loaded its configuration from elsewhere), there is nothing to check. */
static int check_unknown_keys(P11PROV_CTX *ctx, bool section_applied)
{
    char *file = NULL;
    CONF *conf = NULL;
    int ok = 1;

    /* A library context that never applied the file (curl's own, which
     * loads the provider by name) must not be held to a section that may
     * configure another provider of the same name. */
    if (!section_applied)
        return 1;
    file = CONF_get1_default_config_file();
    conf = NCONF_new(NULL);
    ERR_set_mark();
    if (file == NULL || conf == NULL || NCONF_load(conf, file, NULL) <= 0)
        goto done;
    const char *init = NCONF_get_string(conf, NULL, "openssl_conf");
    const char *providers = init ? NCONF_get_string(conf, init, "providers")
                                 : NULL;
    const char *section = providers
                              ? NCONF_get_string(conf, providers, ctx->name)
                              : NULL;
    STACK_OF(CONF_VALUE) *values = section ? NCONF_get_section(conf, section)
                                           : NULL;
    for (int i = 0; values != NULL && i < sk_CONF_VALUE_num(values); i++) {
        const CONF_VALUE *value = sk_CONF_VALUE_value(values, i);
        if (!is_known_key(value->name)) {
            ERR_pop_to_mark();
            config_error(ctx, "unknown key \"%s\" in section [%s] of %s",
                         value->name, section, file);
            ok = 0;
            goto done_no_pop;
        }
    }
done:
    ERR_pop_to_mark();
done_no_pop:
    NCONF_free(conf);
    OPENSSL_free(file);
    return ok;
}

/* "CKM_A, CKM_B" (commas and/or spaces) into config->unlisted. */
static int parse_unlisted(P11PROV_CTX *ctx, const char *list)
{
    char name[64];

    while (list != NULL && *list != '\0') {
        list += strspn(list, ", \t");
        size_t len = strcspn(list, ", \t");
        if (len == 0)
            break;
        if (len >= sizeof(name)) {
            config_error(ctx, "%s: a name is too long", KEY_UNLISTED);
            return 0;
        }
        memcpy(name, list, len);
        name[len] = '\0';
        list += len;
        size_t i = 0;
        while (i < sizeof(mechanism_names) / sizeof(mechanism_names[0])
               && strcmp(name, mechanism_names[i].name) != 0)
            i++;
        if (i == sizeof(mechanism_names) / sizeof(mechanism_names[0])) {
            config_error(ctx, "%s: unknown mechanism \"%s\"", KEY_UNLISTED,
                         name);
            return 0;
        }
        if (ctx->config.unlisted_count
            == sizeof(ctx->config.unlisted)
                   / sizeof(ctx->config.unlisted[0])) {
            config_error(ctx, "%s: too many mechanisms", KEY_UNLISTED);
            return 0;
        }
        ctx->config.unlisted[ctx->config.unlisted_count++] =
            mechanism_names[i].mechanism;
    }
    return 1;
}

bool p11prov_config_assumes(const P11PROV_CONFIG *config,
                            CK_MECHANISM_TYPE mechanism)
{
    for (size_t i = 0; i < config->unlisted_count; i++)
        if (config->unlisted[i] == mechanism)
            return true;
    return false;
}

/* yes/no (also true/false, on/off, 1/0); the environment wins. */
static int parse_bool(P11PROV_CTX *ctx, const char *key, const char *env,
                      const char *value, bool *out)
{
    static const char *const yes[] = { "yes", "true", "on", "1" };
    static const char *const no[] = { "no", "false", "off", "0" };
    const char *from_env = getenv(env);

    if (from_env != NULL && *from_env != '\0')
        value = from_env;
    if (value == NULL)
        return 1;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (OPENSSL_strcasecmp(value, yes[i]) == 0)
            return *out = true, 1;
        if (OPENSSL_strcasecmp(value, no[i]) == 0)
            return *out = false, 1;
    }
    config_error(ctx, "%s (or %s) must be yes or no, not \"%s\"", key, env,
                 value);
    return 0;
}

/* A number of `what` from min to max; the environment wins. */
static int parse_number(P11PROV_CTX *ctx, const char *key, const char *env,
                        const char *value, const char *what,
                        unsigned long min, unsigned long max,
                        unsigned int *out)
{
    const char *from_env = getenv(env);
    char *end;

    if (from_env != NULL && *from_env != '\0')
        value = from_env;
    if (value == NULL)
        return 1;
    unsigned long n = strtoul(value, &end, 10);
    if (end == value || *end != '\0' || n < min || n > max
        || value[0] == '-') {
        config_error(ctx, "%s (or %s) must be %s from %lu to %lu, not \"%s\"",
                     key, env, what, min, max, value);
        return 0;
    }
    *out = (unsigned int)n;
    return 1;
}

static int dup_setting(P11PROV_CTX *ctx, char **dest, const char *value)
{
    if (value == NULL)
        return 1;
    *dest = OPENSSL_strdup(value);
    if (*dest == NULL) {
        P11PROV_RAISE(ctx, P11PROV_R_MEMORY, "copying configuration");
        return 0;
    }
    return 1;
}

int p11prov_config_load(P11PROV_CTX *ctx, const OSSL_DISPATCH *in)
{
    OSSL_FUNC_core_get_params_fn *core_get_params = NULL;
    const char *name = NULL, *module_path = NULL, *init_args = NULL;
    const char *token_pin = NULL, *unlisted = NULL;
    const char *copy_keys = NULL, *cache_seconds = NULL;
    const char *connections = NULL;
    /* Keys OpenSSL's configuration module consumes itself, and passes
     * on as parameters when it applied our section. */
    const char *conf_module = NULL, *conf_activate = NULL;

    for (; in->function_id != 0; in++)
        if (in->function_id == OSSL_FUNC_CORE_GET_PARAMS)
            core_get_params = OSSL_FUNC_core_get_params(in);
    if (core_get_params == NULL) {
        P11PROV_RAISE(ctx, P11PROV_R_INTERNAL, "core has no get_params");
        return 0;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_CORE_PROV_NAME, &name, 0),
        OSSL_PARAM_utf8_ptr(KEY_MODULE_PATH, &module_path, 0),
        OSSL_PARAM_utf8_ptr(KEY_INIT_ARGS, &init_args, 0),
        OSSL_PARAM_utf8_ptr(KEY_TOKEN_PIN, &token_pin, 0),
        OSSL_PARAM_utf8_ptr(KEY_UNLISTED, &unlisted, 0),
        OSSL_PARAM_utf8_ptr(KEY_COPY_KEYS, &copy_keys, 0),
        OSSL_PARAM_utf8_ptr(KEY_CACHE_SECONDS, &cache_seconds, 0),
        OSSL_PARAM_utf8_ptr(KEY_CONNECTIONS, &connections, 0),
        OSSL_PARAM_utf8_ptr("module", &conf_module, 0),
        OSSL_PARAM_utf8_ptr("activate", &conf_activate, 0),
        OSSL_PARAM_END,
    };
    if (!core_get_params(ctx->handle, params)) {
        P11PROV_RAISE(ctx, P11PROV_R_CONFIG, "cannot read configuration");
        return 0;
    }
    bool section_applied = conf_module != NULL || conf_activate != NULL
                           || module_path != NULL || init_args != NULL
                           || token_pin != NULL || unlisted != NULL
                           || copy_keys != NULL || cache_seconds != NULL
                           || connections != NULL;
    /* The environment wins, so one binary can be pointed at a module. */
    const char *env_module = getenv("PKCS11PROV_MODULE");
    if (env_module != NULL && *env_module != '\0')
        module_path = env_module;
    if (module_path == NULL || *module_path == '\0')
        module_path = P11PROV_DEFAULT_MODULE;
    if (token_pin != NULL && strncmp(token_pin, "file:", 5) == 0
        && token_pin[5] == '\0') {
        config_error(ctx, "%s = file: names no file", KEY_TOKEN_PIN);
        return 0;
    }
    if (!parse_unlisted(ctx, unlisted))
        return 0;
    ctx->config.copy_keys = true;
    ctx->config.cache_seconds = DEFAULT_CACHE_SECONDS;
    ctx->config.connections = DEFAULT_CONNECTIONS;
    if (!parse_bool(ctx, KEY_COPY_KEYS, "PKCS11PROV_COPY_KEYS", copy_keys,
                    &ctx->config.copy_keys)
        || !parse_number(ctx, KEY_CACHE_SECONDS, "PKCS11PROV_CACHE_SECONDS",
                         cache_seconds, "seconds", 0, 3600,
                         &ctx->config.cache_seconds)
        || !parse_number(ctx, KEY_CONNECTIONS, "PKCS11PROV_CONNECTIONS",
                         connections, "a number", 1, P11PROV_MAX_LANES,
                         &ctx->config.connections))
        return 0;
    if (!dup_setting(ctx, &ctx->name, name ? name : P11PROV_NAME)
        || !dup_setting(ctx, &ctx->config.module_path, module_path)
        || !dup_setting(ctx, &ctx->config.init_args, init_args)
        || !dup_setting(ctx, &ctx->config.token_pin, token_pin))
        return 0;
    P11PROV_DEBUG(1, "provider \"%s\" configured: module %s%s", ctx->name,
                  ctx->config.module_path,
                  ctx->config.token_pin ? ", token PIN configured" : "");
    return check_unknown_keys(ctx, section_applied);
}

void p11prov_config_free(P11PROV_CONFIG *config)
{
    OPENSSL_free(config->module_path);
    OPENSSL_free(config->init_args);
    if (config->token_pin != NULL)
        OPENSSL_clear_free(config->token_pin, strlen(config->token_pin));
    memset(config, 0, sizeof(*config));
}
