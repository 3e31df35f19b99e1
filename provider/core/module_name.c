/* RFC 7512 module-name: the module's name without directory or suffix.
 * Resolved like p11-kit does for registered modules, so that
 * "module-name=softhsm2" finds SoftHSM on any p11-kit system. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "buildinfo.h"
#include "core/module.h"

static const char *const registration_dirs[] = {
    "/etc/pkcs11/modules",
    P11KIT_MODULE_CONFIGS,
};

static bool name_is_plain(const char *name)
{
    return *name != '\0' && strchr(name, '/') == NULL
           && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* A relative module in a p11-kit registration lives in its module dir. */
static char *absolute_module_path(const char *module)
{
    char path[4096];
    if (module[0] == '/')
        return OPENSSL_strdup(module);
    if (snprintf(path, sizeof(path), "%s/%s", P11KIT_MODULE_PATH, module)
        >= (int)sizeof(path))
        return NULL;
    return OPENSSL_strdup(path);
}

/* The "module:" line of <dir>/<name>.module, if there is one. */
static char *module_from_registration(const char *dir, const char *name)
{
    char path[4096], line[4096];
    char *found = NULL;

    if (snprintf(path, sizeof(path), "%s/%s.module", dir, name)
        >= (int)sizeof(path))
        return NULL;
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return NULL;
    while (found == NULL && fgets(line, sizeof(line), file) != NULL) {
        if (strncmp(line, "module:", 7) != 0)
            continue;
        char *value = line + 7;
        value += strspn(value, " \t");
        value[strcspn(value, " \t\r\n")] = '\0';
        if (*value != '\0')
            found = absolute_module_path(value);
    }
    fclose(file);
    return found;
}

char *p11prov_resolve_module_name(const char *name)
{
    static const char *const prefixes[] = { "", "lib" };
    char path[4096];

    if (!name_is_plain(name))
        return NULL;
    for (size_t i = 0; i < sizeof(registration_dirs) / sizeof(char *); i++) {
        char *found = module_from_registration(registration_dirs[i], name);
        if (found != NULL)
            return found;
    }
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        if (snprintf(path, sizeof(path), "%s/%s%s.so", P11KIT_MODULE_PATH,
                     prefixes[i], name)
                < (int)sizeof(path)
            && access(path, R_OK) == 0)
            return OPENSSL_strdup(path);
    }
    return NULL;
}
