/* The PKCS11PROV_DEBUG trace: to stderr, or appended to a file.
 * Callers never pass a PIN: URIs are formatted with the PIN left out. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/debug.h"

int p11prov_debug_level;
static FILE *debug_stream;
static pthread_once_t debug_once = PTHREAD_ONCE_INIT;

/* Accepts "N", "file:/path" (level 1) and "file:/path,level:N". */
static void debug_configure(void)
{
    const char *setting = getenv("PKCS11PROV_DEBUG");
    char path[4096];
    int level = 1;

    if (setting == NULL || *setting == '\0')
        return;
    if (strncmp(setting, "file:", 5) != 0) {
        char *end;
        long value = strtol(setting, &end, 10);
        if (*end != '\0' || value < 0) {
            fprintf(stderr,
                    "pkcs11prov: PKCS11PROV_DEBUG=%s is not a level"
                    " number or file:/path[,level:N]; tracing off\n",
                    setting);
            return;
        }
        p11prov_debug_level = (int)value;
        debug_stream = stderr;
        return;
    }
    const char *file = setting + 5;
    const char *comma = strstr(file, ",level:");
    size_t path_len = comma ? (size_t)(comma - file) : strlen(file);
    if (path_len == 0 || path_len >= sizeof(path))
        return;
    memcpy(path, file, path_len);
    path[path_len] = '\0';
    if (comma != NULL)
        level = atoi(comma + strlen(",level:"));
    debug_stream = fopen(path, "a");
    if (debug_stream == NULL) {
        fprintf(stderr, "pkcs11prov: cannot open trace file %s\n", path);
        return;
    }
    setvbuf(debug_stream, NULL, _IOLBF, 0);
    p11prov_debug_level = level;
}

void p11prov_debug_init(void)
{
    pthread_once(&debug_once, debug_configure);
}

void p11prov_debug_print(const char *fmt, ...)
{
    char line[1024];
    va_list args;

    if (debug_stream == NULL)
        return;
    va_start(args, fmt);
    vsnprintf(line, sizeof(line), fmt, args);
    va_end(args);
    /* One fprintf per line so concurrent threads do not interleave. */
    fprintf(debug_stream, "pkcs11prov[%ld]: %s\n", (long)getpid(), line);
}
