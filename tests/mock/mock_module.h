/*
 * p11mock: what mock_module.c (the Cryptoki functions) and mock_objects.c
 * (the object table) share.
 */
#ifndef P11MOCK_MODULE_H
#define P11MOCK_MODULE_H

#include <p11-kit/pkcs11.h>

/* One attribute of an object: value and length as C_GetAttributeValue
 * returns them. */
typedef struct mock_attr {
    CK_ATTRIBUTE_TYPE type;
    const void *value;
    CK_ULONG len;
} mock_attr;

typedef struct mock_object {
    CK_OBJECT_HANDLE handle;
    int is_private;            /* CKA_PRIVATE: visible only after C_Login */
    const mock_attr *attrs;
    CK_ULONG n_attrs;
} mock_object;

/* Handles of the objects, in table (and C_FindObjects) order. */
#define MOCK_CERT_HANDLE 0x100UL
#define MOCK_PUBKEY_HANDLE 0x101UL
#define MOCK_PRIVKEY_HANDLE 0x102UL

/* The signature C_Sign returns for CKM_ECDSA: r||s, fixed bytes. */
#define MOCK_ECDSA_SIG_LEN 64
extern const unsigned char mock_ecdsa_signature[MOCK_ECDSA_SIG_LEN];

extern const mock_object mock_objects[];
extern const CK_ULONG mock_n_objects;

/* The object with that handle, or NULL. */
const mock_object *mock_object_by_handle(CK_OBJECT_HANDLE handle);

/* The attribute of obj, or NULL. */
const mock_attr *mock_find_attr(const mock_object *obj,
                                CK_ATTRIBUTE_TYPE type);

/* Does obj have every attribute of the template, with the same value? */
int mock_template_matches(const mock_object *obj, const CK_ATTRIBUTE *tmpl,
                          CK_ULONG count);

#endif
