/*
 * A minimal assertion helper for the unit tests: checks count, failures
 * are printed with their location and make the test exit non-zero.
 */
#ifndef PKCS11PROV_TEST_UTIL_H
#define PKCS11PROV_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#if defined(__GNUC__)
#define TU_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TU_PRINTF(f, a)
#endif

/* Records one check; on failure prints file:line, the expression and the
 * formatted context. Returns ok so callers can skip dependent checks. */
bool tu_check(bool ok, const char *file, int line, const char *expr,
              const char *fmt, ...) TU_PRINTF(5, 6);

/* Prints the summary line; returns the process exit status. */
int tu_finish(const char *suite);

/* Writes len bytes as a C-like string with \xNN escapes into buf. */
const char *tu_escape(char *buf, size_t size, const void *data, size_t len);

#define CHECK(cond) tu_check(!!(cond), __FILE__, __LINE__, #cond, "%s", "")
#define CHECKF(cond, ...)                                                    \
    tu_check(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)

#endif /* PKCS11PROV_TEST_UTIL_H */
