/* The PKCS11PROV_DEBUG trace: PKCS11PROV_DEBUG=N | file:/path |
 * file:/path,level:N. Callers never pass a PIN. */
#ifndef PKCS11PROV_DEBUG_H
#define PKCS11PROV_DEBUG_H

extern int p11prov_debug_level;
void p11prov_debug_init(void);
void p11prov_debug_print(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
#define P11PROV_DEBUG(level, ...)                                            \
    do {                                                                     \
        if (p11prov_debug_level >= (level))                                  \
            p11prov_debug_print(__VA_ARGS__);                                \
    } while (0)

#endif
