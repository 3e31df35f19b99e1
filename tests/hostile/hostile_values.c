/*
 * The lies of p11hostile about values (see hostile_module.c for the
 * list): attribute values read with C_GetAttributeValue, and the answers
 * of C_Sign, C_SignFinal and C_Decrypt. The real answer is always read
 * into buffers of our own first, then altered, then given to the caller
 * within the sizes the caller stated.
 */
#include <stdlib.h>
#include <string.h>

#include "hostile.h"

#define MAX_TEMPLATE 64
/* Larger than any value a real token holds: longer ones are passed on
 * untouched. */
#define MAX_VALUE_LEN (1024UL * 1024UL)
/* Room after a value for the bytes a lie adds. */
#define VALUE_SLACK (2 * HOSTILE_EXTRA)
/* Any signature or RSA plaintext (16384-bit keys), and what lies add. */
#define MAX_OUTPUT 4096
#define DER_OCTET_STRING 0x04
#define DER_OID 0x06

/* A value as the lies make it: bytes (with VALUE_SLACK bytes of room
 * after len), and overreport: given as far as the caller's buffer goes,
 * its full length reported with CKR_OK. */
typedef struct value {
    unsigned char *bytes;
    CK_ULONG len;
    int overreport;
} value;

/* Whether lie is on; if it is, logs that it changed an answer of
 * function. Callers test their other conditions first. */
static int applies(lie_id lie, const char *function)
{
    if (!hostile_on(lie))
        return 0;
    hostile_fired(lie, function);
    return 1;
}

static int attribute_lie(lie_id lie)
{
    return applies(lie, "C_GetAttributeValue");
}

static void append_junk(value *v, CK_ULONG n)
{
    memset(v->bytes + v->len, HOSTILE_JUNK, n);
    v->len += n;
}

/* ---- attribute values ------------------------------------------------ */

static void lie_about_modulus(value *v)
{
    if (v->len > 0 && attribute_lie(LIE_MODULUS_EVEN))
        v->bytes[v->len - 1] &= 0xfe;
    if (v->len > 1 && attribute_lie(LIE_MODULUS_SHORT)) {
        v->len--;
        v->bytes[v->len - 1] |= 0x01; /* odd, whatever the key */
    }
    if (v->len > 1 && attribute_lie(LIE_MODULUS_1_BYTE))
        v->len = 1;
    if (attribute_lie(LIE_MODULUS_EMPTY))
        v->len = 0;
}

static void lie_about_exponent(value *v)
{
    if (v->len > 0 && attribute_lie(LIE_EXPONENT_EVEN))
        v->bytes[v->len - 1] &= 0xfe;
    if (attribute_lie(LIE_EXPONENT_ONE)) {
        v->bytes[0] = 1;
        v->len = 1;
    }
    if (attribute_lie(LIE_EXPONENT_EMPTY))
        v->len = 0;
}

static void lie_about_ec_params(value *v)
{
    if (v->len > 0 && attribute_lie(LIE_EC_PARAMS_GARBAGE))
        memset(v->bytes, HOSTILE_JUNK, v->len);
    if (v->len > 2 && v->bytes[0] == DER_OID
        && attribute_lie(LIE_EC_PARAMS_UNKNOWN_OID))
        v->bytes[v->len - 1] = v->bytes[v->len - 1] == 0x7f ? 0x7e : 0x7f;
    if (attribute_lie(LIE_EC_PARAMS_TRAILING)) {
        v->bytes[v->len] = 0x05; /* a DER NULL */
        v->bytes[v->len + 1] = 0x00;
        v->len += 2;
    }
}

/* The length of the header of the DER OCTET STRING that v is, with
 * *content the length of what it holds; 0 if v is not one. */
static CK_ULONG octet_string_header(const value *v, CK_ULONG *content)
{
    CK_ULONG header;

    if (v->len < 2 || v->bytes[0] != DER_OCTET_STRING)
        return 0;
    if (v->bytes[1] < 0x80) {
        *content = v->bytes[1];
        header = 2;
    } else if (v->bytes[1] == 0x81 && v->len >= 3) {
        *content = v->bytes[2];
        header = 3;
    } else {
        return 0;
    }
    return header + *content == v->len ? header : 0;
}

/* Makes v the DER OCTET STRING of its first n content bytes. */
static void rewrap(value *v, CK_ULONG header, CK_ULONG n)
{
    unsigned char content[256];

    memcpy(content, v->bytes + header, n);
    v->len = 0;
    v->bytes[v->len++] = DER_OCTET_STRING;
    if (n >= 0x80)
        v->bytes[v->len++] = 0x81;
    v->bytes[v->len++] = (unsigned char)n;
    memcpy(v->bytes + v->len, content, n);
    v->len += n;
}

static void lie_about_ec_point(value *v)
{
    CK_ULONG content = 0, header = octet_string_header(v, &content);

    if (v->len > 0 && attribute_lie(LIE_EC_POINT_OFF_CURVE))
        v->bytes[v->len - 1] ^= 0x01;
    if (header > 0 && content > 1 && attribute_lie(LIE_EC_POINT_SHORT))
        rewrap(v, header, content - 1);
    if (header > 0 && content < 0xff && content != 0x7f
        && attribute_lie(LIE_EC_POINT_BAD_DER))
        v->bytes[header - 1]++; /* one more than follows */
    if (header > 0 && attribute_lie(LIE_EC_POINT_RAW)) {
        memmove(v->bytes, v->bytes + header, content);
        v->len = content;
    }
}

static void set_ulong(value *v, CK_ULONG number)
{
    memcpy(v->bytes, &number, sizeof(number));
}

/* CKA_VALUE: a certificate's, or a secret key's (a derived secret). */
static void lie_about_value(value *v, CK_OBJECT_CLASS object_class)
{
    if (object_class == CKO_CERTIFICATE) {
        if (v->len > 1 && attribute_lie(LIE_CERT_TRUNCATED))
            v->len /= 2;
        if (v->len > 0 && attribute_lie(LIE_CERT_GARBAGE))
            memset(v->bytes, HOSTILE_JUNK, v->len);
    } else if (object_class == CKO_SECRET_KEY) {
        if (attribute_lie(LIE_ECDH_SECRET_0))
            v->len = 0;
        if (v->len > 1 && attribute_lie(LIE_ECDH_SECRET_1))
            v->len = 1;
        if (v->len > 16 && attribute_lie(LIE_ECDH_SECRET_16))
            v->len = 16;
        if (attribute_lie(LIE_ECDH_SECRET_LONG)) {
            append_junk(v, HOSTILE_EXTRA);
            v->overreport = 1;
        }
    }
}

/* The value lies about the attribute type of object o, of that class. */
static void lie_about(value *v, CK_ATTRIBUTE_TYPE type,
                      CK_OBJECT_CLASS object_class, CK_OBJECT_HANDLE o)
{
    switch (type) {
    case CKA_MODULUS:
        lie_about_modulus(v);
        break;
    case CKA_MODULUS_BITS:
        if (v->len == sizeof(CK_ULONG)
            && attribute_lie(LIE_MODULUS_BITS_WRONG)) {
            CK_ULONG bits;
            memcpy(&bits, v->bytes, sizeof(bits));
            set_ulong(v, bits + 8);
        }
        if (v->len == sizeof(CK_ULONG)
            && attribute_lie(LIE_MODULUS_BITS_ABSURD)) {
            CK_ULONG bits;
            memcpy(&bits, v->bytes, sizeof(bits));
            set_ulong(v, bits + ((CK_ULONG)1 << 33));
        }
        break;
    case CKA_PUBLIC_EXPONENT:
        lie_about_exponent(v);
        break;
    case CKA_EC_PARAMS:
        lie_about_ec_params(v);
        break;
    case CKA_EC_POINT:
        lie_about_ec_point(v);
        break;
    case CKA_KEY_TYPE:
        if (v->len == sizeof(CK_ULONG) && attribute_lie(LIE_KEY_TYPE_UNKNOWN))
            set_ulong(v, CKK_VENDOR_DEFINED | 0x123UL);
        break;
    case CKA_CLASS:
        if (v->len == sizeof(CK_ULONG) && attribute_lie(LIE_CLASS_UNKNOWN))
            set_ulong(v, CKO_VENDOR_DEFINED | 0x123UL);
        break;
    case CKA_VALUE:
        lie_about_value(v, object_class);
        break;
    }
    if ((type == CKA_MODULUS || type == CKA_PUBLIC_EXPONENT
         || type == CKA_EC_PARAMS || type == CKA_EC_POINT)
        && v->len > 0 && hostile_on(LIE_KEYGEN_PUBLIC_GARBAGE)
        && hostile_generated(o) && attribute_lie(LIE_KEYGEN_PUBLIC_GARBAGE))
        memset(v->bytes, HOSTILE_JUNK, v->len);
}

/* Gives v to the caller's entry a as a module does (a size; the value; or
 * CK_UNAVAILABLE_INFORMATION and CKR_BUFFER_TOO_SMALL), or as far as the
 * buffer goes when v overreports. */
static void give_attribute(CK_ATTRIBUTE *a, const value *v, CK_RV *rv)
{
    CK_ULONG room = a->ulValueLen;

    if (a->pValue == NULL) {
        a->ulValueLen = v->len;
    } else if (room >= v->len || v->overreport) {
        memcpy(a->pValue, v->bytes, room < v->len ? room : v->len);
        a->ulValueLen = v->len;
    } else {
        a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
        if (*rv == CKR_OK)
            *rv = CKR_BUFFER_TOO_SMALL;
    }
}

/* The attr-* lies about an entry given a value (room: the caller's
 * buffer). Returns 1 if the call must answer CKR_OK whatever else. */
static int misreport(CK_ATTRIBUTE *a, CK_ULONG room)
{
    CK_ATTRIBUTE_TYPE type = a->type;
    int written = a->pValue != NULL
                  && a->ulValueLen != CK_UNAVAILABLE_INFORMATION;

    if (hostile_on_attribute(LIE_ATTR_PADDED, type)) {
        if (a->pValue == NULL
            && a->ulValueLen != CK_UNAVAILABLE_INFORMATION) {
            hostile_fired(LIE_ATTR_PADDED, "C_GetAttributeValue");
            a->ulValueLen += HOSTILE_EXTRA; /* room for the junk */
        } else if (written && room > a->ulValueLen) {
            hostile_fired(LIE_ATTR_PADDED, "C_GetAttributeValue");
            memset((unsigned char *)a->pValue + a->ulValueLen, HOSTILE_JUNK,
                   room - a->ulValueLen);
            a->ulValueLen = room;
        }
    }
    if (written && hostile_on_attribute(LIE_ATTR_OVERLONG, type)) {
        hostile_fired(LIE_ATTR_OVERLONG, "C_GetAttributeValue");
        a->ulValueLen = room + HOSTILE_EXTRA;
    }
    if (hostile_on_attribute(LIE_ATTR_ABSURD_LEN, type)) {
        hostile_fired(LIE_ATTR_ABSURD_LEN, "C_GetAttributeValue");
        a->ulValueLen = HOSTILE_ABSURD_LEN;
        return 1;
    }
    if (hostile_on_attribute(LIE_ATTR_UNAVAILABLE_OK, type)) {
        hostile_fired(LIE_ATTR_UNAVAILABLE_OK, "C_GetAttributeValue");
        a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
        return 1;
    }
    return 0;
}

/* The codes with which C_GetAttributeValue still processed every entry. */
static int processed(CK_RV rv)
{
    return rv == CKR_OK || rv == CKR_ATTRIBUTE_TYPE_INVALID
           || rv == CKR_ATTRIBUTE_SENSITIVE;
}

static CK_OBJECT_CLASS real_class(S_ s, O_ o)
{
    CK_OBJECT_CLASS object_class = CK_UNAVAILABLE_INFORMATION;
    CK_ATTRIBUTE a = { CKA_CLASS, &object_class, sizeof(object_class) };

    if (hostile_real->C_GetAttributeValue(s, o, &a, 1) != CKR_OK)
        return CK_UNAVAILABLE_INFORMATION;
    return object_class;
}

CK_RV hostile_get_attributes(S_ s, O_ o, T_ t, CK_ULONG n)
{
    CK_ATTRIBUTE real[MAX_TEMPLATE];
    value values[MAX_TEMPLATE] = { { NULL, 0, 0 } };
    CK_RV rv;
    int force_ok = 0;

    if (!hostile_attribute_lies() || t == NULL || n == 0 || n > MAX_TEMPLATE)
        return hostile_real->C_GetAttributeValue(s, o, t, n);
    /* The real values, sized then read into buffers of our own. */
    for (CK_ULONG i = 0; i < n; i++)
        real[i] = (CK_ATTRIBUTE){ t[i].type, NULL, 0 };
    rv = hostile_real->C_GetAttributeValue(s, o, real, n);
    for (CK_ULONG i = 0; i < n && processed(rv); i++) {
        CK_ULONG len = real[i].ulValueLen;
        if (len == CK_UNAVAILABLE_INFORMATION)
            continue;
        if (len > MAX_VALUE_LEN)
            rv = CKR_GENERAL_ERROR; /* not ours to judge: passed on */
        else if ((values[i].bytes = malloc(len + VALUE_SLACK)) == NULL)
            rv = CKR_HOST_MEMORY;
        real[i].pValue = values[i].bytes;
    }
    if (processed(rv))
        rv = hostile_real->C_GetAttributeValue(s, o, real, n);
    if (!processed(rv)) {
        for (CK_ULONG i = 0; i < n; i++)
            free(values[i].bytes);
        return hostile_real->C_GetAttributeValue(s, o, t, n);
    }
    /* What the caller gets. */
    CK_OBJECT_CLASS object_class = real_class(s, o);
    for (CK_ULONG i = 0; i < n; i++) {
        CK_ULONG room = t[i].ulValueLen;
        value *v = &values[i];
        if (v->bytes == NULL
            || real[i].ulValueLen == CK_UNAVAILABLE_INFORMATION) {
            t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            continue;
        }
        v->len = real[i].ulValueLen;
        lie_about(v, t[i].type, object_class, o);
        give_attribute(&t[i], v, &rv);
        force_ok |= misreport(&t[i], room);
    }
    for (CK_ULONG i = 0; i < n; i++)
        free(values[i].bytes);
    return force_ok ? CKR_OK : rv;
}

/* ---- signatures and plaintexts --------------------------------------- */

static CK_RV call_real(const output_call *call, B_ o, L_ on)
{
    switch (call->kind) {
    case OUT_SIGN:
        return hostile_real->C_Sign(call->s, call->in, call->in_len, o, on);
    case OUT_SIGN_FINAL:
        return hostile_real->C_SignFinal(call->s, o, on);
    case OUT_DECRYPT:
        return hostile_real->C_Decrypt(call->s, call->in, call->in_len, o,
                                       on);
    }
    return CKR_GENERAL_ERROR;
}

static int output_lies(output_kind kind)
{
    lie_id first = kind == OUT_DECRYPT ? LIE_DECRYPT_OVER_MODULUS
                                       : LIE_SIGN_EMPTY;
    lie_id last = kind == OUT_DECRYPT ? LIE_DECRYPT_OVER_PADDING
                                      : LIE_SIGN_TOO_SMALL_FOREVER;

    for (int lie = first; lie <= (int)last; lie++)
        if (hostile_on((lie_id)lie))
            return 1;
    return 0;
}

static void lie_about_signature(value *v, const char *function)
{
    if (v->len > 0 && applies(LIE_SIGN_ALL_FF, function))
        memset(v->bytes, 0xff, v->len);
    if (v->len > 1 && applies(LIE_SIGN_ZERO_R, function))
        memset(v->bytes, 0, v->len / 2);
    if (v->len > 1 && applies(LIE_SIGN_ZERO_S, function))
        memset(v->bytes + v->len / 2, 0, v->len - v->len / 2);
    if (v->len > 0 && applies(LIE_SIGN_SHORT, function))
        v->len--;
    if (applies(LIE_SIGN_LONG, function)) {
        append_junk(v, HOSTILE_EXTRA);
        v->overreport = 1;
    }
    if (applies(LIE_SIGN_EMPTY, function))
        v->len = 0;
}

/* The plaintext, lengthened with junk past what the key or the padding
 * allows. */
static void lie_about_plaintext(value *v, S_ s, CK_ULONG capacity)
{
    CK_MECHANISM_TYPE mechanism;
    CK_ULONG k, hash_len, target = 0;

    if (!hostile_decrypt_state(s, &mechanism, &k, &hash_len) || k == 0)
        return;
    if (hostile_on(LIE_DECRYPT_OVER_MODULUS))
        target = k + 1;
    if (hostile_on(LIE_DECRYPT_OVER_PADDING)) {
        if (mechanism == CKM_RSA_PKCS && k > 10)
            target = k - 10;
        else if (mechanism == CKM_RSA_PKCS_OAEP && hash_len > 0
                 && k > 2 * hash_len + 1)
            target = k - 2 * hash_len - 1;
    }
    if (target <= v->len || target > capacity)
        return;
    hostile_fired(hostile_on(LIE_DECRYPT_OVER_MODULUS)
                      ? LIE_DECRYPT_OVER_MODULUS
                      : LIE_DECRYPT_OVER_PADDING,
                  "C_Decrypt");
    append_junk(v, target - v->len);
    v->overreport = 1;
}

CK_RV hostile_output(const output_call *call, B_ o, L_ on)
{
    unsigned char scratch[MAX_OUTPUT + VALUE_SLACK];
    value v = { scratch, MAX_OUTPUT, 0 };
    CK_ULONG need = 0;
    CK_RV rv;

    if (!output_lies(call->kind) || on == NULL)
        return call_real(call, o, on);
    if (o == NULL) { /* a size query */
        rv = call_real(call, NULL, on);
        if (rv == CKR_OK && call->kind != OUT_DECRYPT && *on > 1
            && applies(LIE_SIGN_LENGTH_QUERY_SHORT, call->function))
            *on /= 2;
        return rv;
    }
    if (call->kind != OUT_DECRYPT
        && applies(LIE_SIGN_TOO_SMALL_FOREVER, call->function)) {
        *on += 1; /* the real operation stays active, as it would */
        return CKR_BUFFER_TOO_SMALL;
    }
    /* Too small a buffer gets the real answer, which keeps the operation
     * going; any other answer ends it. */
    rv = call_real(call, NULL, &need);
    if (rv != CKR_OK)
        return rv;
    if (need > *on || need > MAX_OUTPUT)
        return call_real(call, o, on);
    if ((rv = call_real(call, scratch, &v.len)) != CKR_OK)
        return rv;
    if (call->kind == OUT_DECRYPT)
        lie_about_plaintext(&v, call->s, MAX_OUTPUT);
    else
        lie_about_signature(&v, call->function);
    memcpy(o, v.bytes, v.len < *on ? v.len : *on);
    *on = v.len;
    memset(scratch, 0, sizeof(scratch));
    return CKR_OK;
}
