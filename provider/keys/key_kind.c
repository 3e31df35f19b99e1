/* What kind of key a token object is, and the kinds' OpenSSL names. */
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "keys/key.h"

const char *p11prov_key_kind_name(P11PROV_KEY_KIND kind)
{
    switch (kind) {
    case P11PROV_KEY_RSA:
        return "RSA";
    case P11PROV_KEY_RSA_PSS:
        return "RSA-PSS";
    case P11PROV_KEY_EC:
        return "EC";
    case P11PROV_KEY_ED25519:
        return "ED25519";
    case P11PROV_KEY_ED448:
        return "ED448";
    }
    return "?";
}

int p11prov_ec_params_kind(const unsigned char *params, CK_ULONG len,
                           P11PROV_KEY_KIND *kind, const char **group_name)
{
    *group_name = NULL;
    if (len >= 2 && params[0] == 0x13 && params[1] == len - 2) {
        /* PrintableString: how SoftHSM names Edwards curves. */
        const char *name = (const char *)params + 2;
        size_t name_len = len - 2;
        if (name_len == 12 && memcmp(name, "edwards25519", 12) == 0)
            *kind = P11PROV_KEY_ED25519;
        else if (name_len == 10 && memcmp(name, "edwards448", 10) == 0)
            *kind = P11PROV_KEY_ED448;
        else
            return 0;
        return 1;
    }
    const unsigned char *p = params;
    /* The module's bytes: a failure here is said by the caller, without
     * the ASN.1 decoder's lines. */
    ERR_set_mark();
    ASN1_OBJECT *oid = d2i_ASN1_OBJECT(NULL, &p, (long)len);
    ERR_pop_to_mark();
    if (oid == NULL || p != params + len) {
        ASN1_OBJECT_free(oid);
        return 0; /* explicit curve parameters are not supported */
    }
    int nid = OBJ_obj2nid(oid);
    ASN1_OBJECT_free(oid);
    if (nid == NID_ED25519) {
        *kind = P11PROV_KEY_ED25519;
    } else if (nid == NID_ED448) {
        *kind = P11PROV_KEY_ED448;
    } else if (nid != NID_undef
               && (*group_name = OSSL_EC_curve_nid2name(nid)) != NULL) {
        /* A curve OpenSSL has, not just any known OID. */
        *kind = P11PROV_KEY_EC;
    } else {
        return 0;
    }
    return 1;
}
