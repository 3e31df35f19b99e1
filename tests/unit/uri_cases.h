/*
 * Tables of valid and invalid URIs shared by the parse and format tests.
 */
#ifndef PKCS11PROV_URI_CASES_H
#define PKCS11PROV_URI_CASES_H

#include "pkcs11_uri.h"

typedef struct expected_attr {
    p11uri_attr attr;
    const char *bytes; /* NULL ends the list */
    size_t len;
} expected_attr;

typedef struct expected_vendor {
    const char *name; /* NULL ends the list */
    const char *bytes;
    size_t len;
    bool in_query;
} expected_vendor;

typedef struct valid_case {
    const char *text;
    expected_attr attrs[P11URI_ATTR_COUNT + 1];
    expected_vendor vendor[6]; /* NULL-terminated */
    /* Typed forms, checked when the attribute is in attrs. */
    CK_BYTE lib_major, lib_minor;
    CK_SLOT_ID slot;
    CK_OBJECT_CLASS klass;
} valid_case;

typedef struct invalid_case {
    const char *text;
    p11uri_status status;
    const char *attribute; /* expected p11uri_error.attribute */
    size_t position;
} invalid_case;

extern const valid_case valid_cases[];
extern const size_t n_valid_cases;
extern const invalid_case invalid_cases[];
extern const size_t n_invalid_cases;

#endif /* PKCS11PROV_URI_CASES_H */
