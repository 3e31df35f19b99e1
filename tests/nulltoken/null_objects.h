/*
 * p11null: what null_module.c (the Cryptoki functions) and null_objects.c
 * (the key pair and the fixed signature) share.
 */
#ifndef P11NULL_OBJECTS_H
#define P11NULL_OBJECTS_H

#include <p11-kit/pkcs11.h>

#define NULL_PRIVKEY_HANDLE 1UL
#define NULL_PUBKEY_HANDLE 2UL
#define NULL_N_OBJECTS 2
#define NULL_SIG_LEN 64

typedef struct null_attr {
    CK_ATTRIBUTE_TYPE type;
    const void *value;
    CK_ULONG len;
} null_attr;

typedef struct null_object {
    CK_OBJECT_HANDLE handle;
    const null_attr *attrs;
    CK_ULONG n_attrs;
} null_object;

/* The private and the public key of "null-p256", in C_FindObjects order. */
extern const null_object null_objects[NULL_N_OBJECTS];

/* What C_Sign returns for CKM_ECDSA: r || s, each top byte 0x01. */
extern const unsigned char null_ecdsa_signature[NULL_SIG_LEN];

/* The object with that handle, or NULL. */
const null_object *null_object_by_handle(CK_OBJECT_HANDLE handle);

/* The attribute of obj, or NULL. */
const null_attr *null_find_attr(const null_object *obj,
                                CK_ATTRIBUTE_TYPE type);

/* Does obj have every attribute of the template, with the same value? */
int null_template_matches(const null_object *obj, const CK_ATTRIBUTE *tmpl,
                          CK_ULONG count);

#endif
