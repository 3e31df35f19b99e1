/* Token objects: finding them by template, reading their attributes, and
 * the object an operation uses (a key), whose handle is found again when
 * the module was re-initialised or said the handle is stale. */
#ifndef PKCS11PROV_OBJECT_H
#define PKCS11PROV_OBJECT_H

#include "core/tokens.h"

typedef struct p11prov_ctx P11PROV_CTX;

/* A token object operations use: what finds it again (class, id, label),
 * the handle for the module initialisation it was found in, and its
 * session-object copy (object_copy.c), valid for the module
 * initialisation and token epoch it is stamped with. */
typedef struct p11prov_object {
    P11PROV_TOKEN *token;
    CK_OBJECT_CLASS object_class;
    CK_OBJECT_HANDLE handle;
    unsigned int handle_generation; /* module init count the handle is from */
    unsigned char *id, *label;
    CK_ULONG id_len, label_len;
    char *uri;                /* the object's URI, never with a PIN */
    bool always_authenticate; /* a login before every operation */
    CK_OBJECT_HANDLE copy;
    unsigned int uses; /* before the copy: it is made on the second */
    int copy_state;
    unsigned int copy_generation, copy_epoch;
    /* The same object on the module's other instances (lanes.c). */
    struct p11prov_object *lanes[P11PROV_MAX_LANES];
} P11PROV_OBJECT;

/* The object's current handle: the one recorded, or, after the module was
 * re-initialised or when stale is set (the module said
 * CKR_OBJECT_HANDLE_INVALID / CKR_KEY_HANDLE_INVALID), the object found
 * again by class, id and label; its session copy when there is one. */
CK_RV p11prov_object_handle(P11PROV_CTX *ctx, P11PROV_OBJECT *object,
                            CK_SESSION_HANDLE session, bool stale,
                            CK_OBJECT_HANDLE *handle);

/* Destroys the copy and frees what the object holds (not the object). */
void p11prov_object_clear(P11PROV_OBJECT *object);

/* object_copy.c: the session-object copy for the module's initialisation
 * `generation`, if one was made (lock-free). */
bool p11prov_object_copy_handle(const P11PROV_OBJECT *object,
                                unsigned int generation,
                                CK_OBJECT_HANDLE *handle);

/* Makes the copy of a private key object `original` when copy_keys is
 * configured and the token allows it; returns the handle to use (the
 * copy, or original). */
CK_OBJECT_HANDLE p11prov_object_copy_make(P11PROV_CTX *ctx,
                                          P11PROV_OBJECT *object,
                                          CK_SESSION_HANDLE session,
                                          CK_OBJECT_HANDLE original,
                                          unsigned int generation);

/* The copy failed with an invalid handle: make another on next use. */
void p11prov_object_copy_forget(P11PROV_OBJECT *object);

/* Destroys the copy (the object is being freed). */
void p11prov_object_copy_destroy(P11PROV_OBJECT *object);

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

/* Several attributes of one object, read in as few C_GetAttributeValue
 * calls as the module allows: one for the sizes and one for the values,
 * falling back to one attribute at a time only when the module answers
 * the batch inconsistently. Each attrs[i].pValue is then OPENSSL_malloc()ed
 * (with a NUL after the value), or NULL with ulValueLen
 * CK_UNAVAILABLE_INFORMATION when the object has no such attribute or it
 * is sensitive. Free with p11prov_attributes_free. */
CK_RV p11prov_get_attributes(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                             CK_OBJECT_HANDLE object, CK_ATTRIBUTE *attrs,
                             CK_ULONG count);
void p11prov_attributes_free(CK_ATTRIBUTE *attrs, CK_ULONG count);

/* When a read answers P11PROV_CKR_BAD_ANSWER, the attribute whose answer
 * was impossible is left with this ulValueLen (and no value). */
#define P11PROV_ATTRIBUTE_BAD ((CK_ULONG) - 2)

/* That attribute's type, else CK_UNAVAILABLE_INFORMATION. */
CK_ATTRIBUTE_TYPE p11prov_bad_attribute(const CK_ATTRIBUTE *attrs,
                                        CK_ULONG count);

/* Raises a failed C_GetAttributeValue, made for what ("reading key
 * attributes"), naming bad when the module's answer for it was
 * impossible (CK_UNAVAILABLE_INFORMATION: none known). */
void p11prov_raise_read(P11PROV_CTX *ctx, CK_RV rv, const char *what,
                        const char *uri, CK_ATTRIBUTE_TYPE bad);

/* The attribute of type in attrs when it was read, else NULL. */
const CK_ATTRIBUTE *p11prov_attribute_find(const CK_ATTRIBUTE *attrs,
                                           CK_ULONG count,
                                           CK_ATTRIBUTE_TYPE type);

/* A CK_ULONG-sized attribute (class, key type, certificate type). */
CK_RV p11prov_get_ulong(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                        CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type,
                        CK_ULONG *value);

/* A CK_BBOOL attribute (*value false unless CKR_OK); an absent one
 * answers CKR_ATTRIBUTE_TYPE_INVALID. */
CK_RV p11prov_get_bool(P11PROV_TOKEN *token, CK_SESSION_HANDLE session,
                       CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type,
                       bool *value);

#endif
