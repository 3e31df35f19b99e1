/*
 * An in-process Cryptoki token for the fuzz targets: its objects and their
 * attribute values come from the fuzzer's input, and it answers
 * C_GetAttributeValue and C_FindObjects from them. It never writes past a
 * caller's buffer and never lies about a value; what varies (the quirks)
 * is how it reports sizes and failures, the ways real modules differ.
 *
 * Input layout (every byte string is a valid input):
 *   byte 0       quirks (FUZZ_TOKEN_*)
 *   then records: type byte, 2-byte big-endian length, value
 *     type & 0x1f  index in fuzz_token_types[]; past its end, the next
 *                  object starts (the record's value is skipped)
 *     type & 0x80  the attribute is sensitive: present, never revealed
 *   A length past the end of the input is cut to what is left.
 */
#ifndef PKCS11PROV_FUZZ_TOKEN_H
#define PKCS11PROV_FUZZ_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#define FUZZ_TOKEN_MAX_OBJECTS 8
#define FUZZ_TOKEN_MAX_ATTRS 24
/* Handles are index + this: never CK_INVALID_HANDLE. */
#define FUZZ_TOKEN_HANDLE_BASE 0x100

/* A buffer too small gets the value's length in ulValueLen rather than
 * CK_UNAVAILABLE_INFORMATION (the pre-2.40 reading of the standard). */
#define FUZZ_TOKEN_SIZE_ON_SHORT 0x01
/* A batch stops at the first attribute that cannot be given, the later
 * ones left as the caller set them. */
#define FUZZ_TOKEN_STOP_AT_ERROR 0x02
/* A size query (pValue NULL) that meets an absent attribute fails without
 * sizing any of the batch. */
#define FUZZ_TOKEN_NO_BATCH_SIZES 0x04
/* Size queries answer one byte less than the value: the value then never
 * fits what was sized (an inconsistent module; nothing may be taken from
 * it truncated). */
#define FUZZ_TOKEN_UNDERSIZE 0x08

typedef struct fuzz_attr {
    CK_ATTRIBUTE_TYPE type;
    const unsigned char *value;
    CK_ULONG len;
    bool sensitive;
} FUZZ_ATTR;

typedef struct fuzz_object {
    FUZZ_ATTR attrs[FUZZ_TOKEN_MAX_ATTRS];
    size_t count;
} FUZZ_OBJECT;

typedef struct fuzz_token {
    unsigned int quirks;
    FUZZ_OBJECT objects[FUZZ_TOKEN_MAX_OBJECTS];
    size_t count;
} FUZZ_TOKEN;

extern const CK_ATTRIBUTE_TYPE fuzz_token_types[];
extern const size_t fuzz_token_type_count;

/* Splits the input into objects; the values point into data. */
void fuzz_token_parse(FUZZ_TOKEN *token, const uint8_t *data, size_t size);

/* The token the function list answers from (NULL: none) and that list. */
void fuzz_token_serve(const FUZZ_TOKEN *token);
CK_FUNCTION_LIST *fuzz_token_functions(void);

/* The first attribute of the type the object holds, else NULL. */
const FUZZ_ATTR *fuzz_object_attr(const FUZZ_OBJECT *object,
                                  CK_ATTRIBUTE_TYPE type);

/* The attribute's value as a caller can read it: held and not sensitive. */
const FUZZ_ATTR *fuzz_object_readable(const FUZZ_OBJECT *object,
                                      CK_ATTRIBUTE_TYPE type);

/* Whether a search with the template finds the object: every attribute
 * held with the same value; an object without CKA_TOKEN counts as a token
 * object. */
bool fuzz_object_matches(const FUZZ_OBJECT *object, const CK_ATTRIBUTE *tmpl,
                         CK_ULONG count);

/* A CK_ULONG attribute (class, key type, certificate type) as a caller
 * can read it: readable and exactly that size. */
bool fuzz_object_ulong(const FUZZ_OBJECT *object, CK_ATTRIBUTE_TYPE type,
                       CK_ULONG *value);

#endif
