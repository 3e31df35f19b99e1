/*
 * p11null's objects: the EC P-256 key pair "null-p256", id 01, on
 * "null-token" (public objects: no login needed), and the fixed bytes
 * C_Sign returns.
 */
#include <string.h>

#include "null_objects.h"

static const CK_BBOOL ck_true = CK_TRUE;
static const CK_BBOOL ck_false = CK_FALSE;
static const CK_OBJECT_CLASS pub_class = CKO_PUBLIC_KEY;
static const CK_OBJECT_CLASS priv_class = CKO_PRIVATE_KEY;
static const CK_KEY_TYPE key_type = CKK_EC;
static const char key_label[] = "null-p256";
static const unsigned char key_id[] = {0x01};
/* DER OID prime256v1 (1.2.840.10045.3.1.7). */
static const unsigned char p256_params[] = {
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
};
/* DER OCTET STRING of an uncompressed P-256 point, from a key made with
 * `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`. */
static const unsigned char ec_point[] = {
    0x04, 0x41, 0x04, 0x84, 0x90, 0x9d, 0x28, 0x7b, 0xfd, 0x10, 0x5d, 0x83,
    0x89, 0x3c, 0x4f, 0x91, 0x2b, 0x65, 0x25, 0x97, 0x56, 0x8b, 0x80, 0x9a,
    0x38, 0x9d, 0xc6, 0x6a, 0xdb, 0x13, 0xa9, 0x57, 0xac, 0x16, 0xb1, 0xb5,
    0x40, 0x4e, 0xce, 0x06, 0xb5, 0x52, 0xcc, 0x1e, 0x55, 0x93, 0x53, 0x69,
    0x30, 0x36, 0xaa, 0x56, 0x24, 0x3e, 0xe0, 0xe8, 0x32, 0x8c, 0xe1, 0x66,
    0x90, 0x5d, 0xc3, 0x25, 0x87, 0x11, 0x09,
};

#define ATTR_OF(t, var) {(t), &(var), sizeof(var)}
#define ATTR_BOOL(t, b) {(t), (b) ? &ck_true : &ck_false, sizeof(CK_BBOOL)}
#define KEY_ATTRS(class_var)                                             \
    ATTR_OF(CKA_CLASS, class_var), ATTR_OF(CKA_KEY_TYPE, key_type),      \
        ATTR_BOOL(CKA_TOKEN, 1), ATTR_BOOL(CKA_PRIVATE, 0),              \
        ATTR_BOOL(CKA_MODIFIABLE, 0),                                    \
        {CKA_LABEL, key_label, sizeof(key_label) - 1},                   \
        {CKA_ID, key_id, sizeof(key_id)}, ATTR_BOOL(CKA_LOCAL, 1),       \
        ATTR_OF(CKA_EC_PARAMS, p256_params)

static const null_attr privkey_attrs[] = {
    KEY_ATTRS(priv_class),
    ATTR_BOOL(CKA_SENSITIVE, 1),
    ATTR_BOOL(CKA_EXTRACTABLE, 0),
    ATTR_BOOL(CKA_ALWAYS_SENSITIVE, 1),
    ATTR_BOOL(CKA_NEVER_EXTRACTABLE, 1),
    ATTR_BOOL(CKA_ALWAYS_AUTHENTICATE, 0),
    ATTR_BOOL(CKA_SIGN, 1),
    ATTR_BOOL(CKA_DECRYPT, 0),
    ATTR_BOOL(CKA_UNWRAP, 0),
    ATTR_BOOL(CKA_DERIVE, 0),
};

static const null_attr pubkey_attrs[] = {
    KEY_ATTRS(pub_class),
    ATTR_BOOL(CKA_VERIFY, 1),
    ATTR_BOOL(CKA_ENCRYPT, 0),
    ATTR_BOOL(CKA_WRAP, 0),
    ATTR_BOOL(CKA_DERIVE, 0),
    ATTR_OF(CKA_EC_POINT, ec_point),
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
const null_object null_objects[NULL_N_OBJECTS] = {
    {NULL_PRIVKEY_HANDLE, privkey_attrs, N_OF(privkey_attrs)},
    {NULL_PUBKEY_HANDLE, pubkey_attrs, N_OF(pubkey_attrs)},
};

/* r || s: each 32 bytes, top byte 0x01, the rest a fixed pattern. */
const unsigned char null_ecdsa_signature[NULL_SIG_LEN] = {
    0x01, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
    0xcc, 0xdd, 0xee, 0xff, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
    0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01, 0xfe, 0xdc, 0xba,
    0x98, 0x76, 0x54, 0x32, 0x10, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32,
    0x10, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10, 0xfe, 0xdc, 0xba,
    0x98, 0x76, 0x54, 0x32,
};

const null_object *null_object_by_handle(CK_OBJECT_HANDLE handle)
{
    for (size_t i = 0; i < NULL_N_OBJECTS; i++)
        if (null_objects[i].handle == handle)
            return &null_objects[i];
    return NULL;
}

const null_attr *null_find_attr(const null_object *obj,
                                CK_ATTRIBUTE_TYPE type)
{
    for (CK_ULONG i = 0; i < obj->n_attrs; i++)
        if (obj->attrs[i].type == type)
            return &obj->attrs[i];
    return NULL;
}

int null_template_matches(const null_object *obj, const CK_ATTRIBUTE *tmpl,
                          CK_ULONG count)
{
    for (CK_ULONG i = 0; i < count; i++) {
        const null_attr *a = null_find_attr(obj, tmpl[i].type);

        if (a == NULL || a->len != tmpl[i].ulValueLen
            || (a->len > 0 && memcmp(a->value, tmpl[i].pValue, a->len) != 0))
            return 0;
    }
    return 1;
}
