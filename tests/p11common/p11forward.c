/*
 * What the forwarding modules share (see p11forward.h): the names of the
 * forwarded functions and of the CKR_* codes tests use, loading the real
 * module, the log.
 */
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11forward.h"

#define NAME_OF(name, ...) "C_" #name,
static const char *const function_names[] = { "C_Initialize",
                                              P11FWD_ALL_FUNCTIONS(NAME_OF) };

int p11fwd_known_function(const char *name)
{
    for (size_t i = 0; i < sizeof(function_names) / sizeof(*function_names);
         i++)
        if (strcmp(name, function_names[i]) == 0)
            return 1;
    return 0;
}

#define CKR(name) { #name, name }
static const struct {
    const char *name;
    CK_RV rv;
} ckr_names[] = {
    CKR(CKR_OK),
    CKR(CKR_HOST_MEMORY),
    CKR(CKR_GENERAL_ERROR),
    CKR(CKR_FUNCTION_FAILED),
    CKR(CKR_ARGUMENTS_BAD),
    CKR(CKR_DEVICE_ERROR),
    CKR(CKR_DEVICE_MEMORY),
    CKR(CKR_DEVICE_REMOVED),
    CKR(CKR_FUNCTION_CANCELED),
    CKR(CKR_FUNCTION_NOT_SUPPORTED),
    CKR(CKR_KEY_HANDLE_INVALID),
    CKR(CKR_KEY_FUNCTION_NOT_PERMITTED),
    CKR(CKR_MECHANISM_INVALID),
    CKR(CKR_MECHANISM_PARAM_INVALID),
    CKR(CKR_OBJECT_HANDLE_INVALID),
    CKR(CKR_OPERATION_ACTIVE),
    CKR(CKR_OPERATION_NOT_INITIALIZED),
    CKR(CKR_PIN_INCORRECT),
    CKR(CKR_PIN_EXPIRED),
    CKR(CKR_PIN_LOCKED),
    CKR(CKR_SESSION_CLOSED),
    CKR(CKR_SESSION_COUNT),
    CKR(CKR_SESSION_HANDLE_INVALID),
    CKR(CKR_SESSION_READ_ONLY),
    CKR(CKR_TOKEN_NOT_PRESENT),
    CKR(CKR_USER_NOT_LOGGED_IN),
    CKR(CKR_USER_ALREADY_LOGGED_IN),
    CKR(CKR_DATA_LEN_RANGE),
    CKR(CKR_ENCRYPTED_DATA_INVALID),
    CKR(CKR_BUFFER_TOO_SMALL),
    CKR(CKR_CRYPTOKI_NOT_INITIALIZED),
    CKR(CKR_CRYPTOKI_ALREADY_INITIALIZED),
    CKR(CKR_CANCEL),
    CKR(CKR_CANT_LOCK),
    CKR(CKR_SLOT_ID_INVALID),
    CKR(CKR_ATTRIBUTE_SENSITIVE),
    CKR(CKR_ATTRIBUTE_TYPE_INVALID),
    CKR(CKR_TOKEN_NOT_RECOGNIZED),
    CKR(CKR_USER_PIN_NOT_INITIALIZED),
    CKR(CKR_USER_TYPE_INVALID),
};

int p11fwd_parse_rv(const char *text, CK_RV *rv)
{
    char *end;

    for (size_t i = 0; i < sizeof(ckr_names) / sizeof(*ckr_names); i++) {
        if (strcmp(text, ckr_names[i].name) == 0) {
            *rv = ckr_names[i].rv;
            return 1;
        }
    }
    if (!isdigit((unsigned char)text[0]))
        return 0;
    errno = 0;
    *rv = strtoul(text, &end, 0);
    return *end == '\0' && errno == 0;
}

int p11fwd_parse_count(const char *text, unsigned long max, unsigned long *n)
{
    char *end;

    if (!isdigit((unsigned char)text[0]))
        return 0;
    errno = 0;
    *n = strtoul(text, &end, 10);
    return *end == '\0' && errno == 0 && *n >= 1 && *n <= max;
}

int p11fwd_load_module(const char *tag, const char *var,
                       CK_FUNCTION_LIST **real)
{
    const char *path = getenv(var);
    CK_RV (*get_list)(CK_FUNCTION_LIST **);
    void *library;

    if (path == NULL || path[0] == '\0') {
        fprintf(stderr, "%s: %s (the real module) is not set\n", tag, var);
        return 0;
    }
    library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        fprintf(stderr, "%s: cannot load %s: %s\n", tag, path, dlerror());
        return 0;
    }
    *(void **)&get_list = dlsym(library, "C_GetFunctionList");
    if (get_list == NULL || get_list(real) != CKR_OK || *real == NULL) {
        fprintf(stderr, "%s: %s gives no function list\n", tag, path);
        *real = NULL;
        return 0;
    }
    return 1;
}

void p11fwd_log(const char *path, const char *line)
{
    FILE *f;

    if (path[0] == '\0' || (f = fopen(path, "a")) == NULL)
        return;
    fprintf(f, "%s\n", line);
    fclose(f);
}
