/* Finding objects by template and reading their attributes. */
#ifndef PKCS11PROV_OBJECT_H
#define PKCS11PROV_OBJECT_H

#include "core/tokens.h"

/* Objects matching tmpl, in the module's order; *handles is
 * OPENSSL_malloc()ed (NULL when none). */
CK_RV p11prov_find_objects(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                           CK_ATTRIBUTE *tmpl, CK_ULONG tmpl_count,
                           CK_OBJECT_HANDLE **handles, CK_ULONG *count);

/* One attribute's value, OPENSSL_malloc()ed (with a NUL after it). An
 * attribute the object does not have gives CKR_ATTRIBUTE_TYPE_INVALID;
 * an unreadable (sensitive) one CKR_ATTRIBUTE_SENSITIVE. */
CK_RV p11prov_get_attribute(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                            CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type,
                            unsigned char **value, CK_ULONG *len);

/* A CK_ULONG-sized attribute (class, key type, certificate type). */
CK_RV p11prov_get_ulong(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                        CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type,
                        CK_ULONG *value);

/* A CK_BBOOL attribute; unreadable or absent gives `absent`. */
bool p11prov_get_bool(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                      CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type,
                      bool absent);

#endif
