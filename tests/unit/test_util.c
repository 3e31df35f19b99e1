#include "test_util.h"

#include <stdarg.h>
#include <stdio.h>

static unsigned long n_checks;
static unsigned long n_failures;

bool tu_check(bool ok, const char *file, int line, const char *expr,
              const char *fmt, ...)
{
    char context[1024];
    va_list ap;

    n_checks++;
    if (ok)
        return true;
    n_failures++;
    va_start(ap, fmt);
    vsnprintf(context, sizeof(context), fmt, ap);
    va_end(ap);
    fprintf(stderr, "FAIL %s:%d: %s%s%s\n", file, line, expr,
            context[0] != '\0' ? " -- " : "", context);
    return false;
}

int tu_finish(const char *suite)
{
    printf("%s: %lu checks, %lu failed\n", suite, n_checks, n_failures);
    /* A suite that checked nothing is broken, not passing. */
    return n_failures == 0 && n_checks > 0 ? 0 : 1;
}

const char *tu_escape(char *buf, size_t size, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t used = 0;

    if (size == 0)
        return "";
    buf[0] = '\0';
    for (size_t i = 0; i < len && used + 5 < size; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
            used += (size_t)snprintf(buf + used, size - used, "%c", p[i]);
        else
            used += (size_t)snprintf(buf + used, size - used, "\\x%02x",
                                     p[i]);
    }
    return buf;
}
