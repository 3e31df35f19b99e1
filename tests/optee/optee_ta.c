/*
 * What OP-TEE's PKCS#11 TA and libckteec do (see optee_ta.h; the sources
 * are listed in optee_module.c). optee_os paths are under ta/pkcs11/src/,
 * optee_client paths under libckteec/src/.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optee_ta.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define R OPTEE_RELEASE
#define FOREVER 0xffffU

/* ---- mechanisms (token_capabilities.c, token_mechanism[]) -------------- */

#define CIPHER (CKF_ENCRYPT | CKF_DECRYPT)
#define CIPHER_WRAP (CIPHER | CKF_WRAP | CKF_UNWRAP)
#define AUTH (CKF_SIGN | CKF_VERIFY)

typedef struct ta_mechanism {
    CK_MECHANISM_TYPE type;
    CK_FLAGS flags;     /* the TA's, at the newest release */
    unsigned int since; /* first release whose TA lists it */
    unsigned int until; /* first release whose TA no longer does */
    CK_ULONG min, max;  /* pkcs11_mechanism_supported_key_sizes() */
} ta_mechanism;

/* Since and until from that array at each release tag, 3.11 to 4.10. The
 * TA lists them in reverse order (tee_malloc_mechanism_list()). */
static const ta_mechanism mechanisms[] = {
    { CKM_AES_ECB, CIPHER_WRAP, R(3, 11), FOREVER, 16, 32 },
    { CKM_AES_CBC, CIPHER_WRAP, R(3, 11), FOREVER, 16, 32 },
    { CKM_AES_CBC_PAD, CIPHER_WRAP, R(3, 11), R(3, 17), 16, 32 },
    { CKM_AES_CTR, CIPHER, R(3, 11), FOREVER, 16, 32 },
    { CKM_AES_GCM, CIPHER_WRAP, R(4, 2), FOREVER, 16, 32 },
    { CKM_AES_CTS, CIPHER, R(3, 11), FOREVER, 16, 32 },
    { CKM_AES_CMAC, AUTH, R(3, 15), FOREVER, 16, 32 },
    { CKM_AES_CMAC_GENERAL, AUTH, R(3, 15), FOREVER, 16, 32 },
    { CKM_AES_ECB_ENCRYPT_DATA, CKF_DERIVE, R(3, 11), FOREVER, 0, 0 },
    { CKM_AES_CBC_ENCRYPT_DATA, CKF_DERIVE, R(3, 11), FOREVER, 0, 0 },
    { CKM_ECDH1_DERIVE, CKF_DERIVE, R(3, 17), FOREVER, 160, 521 },
    { CKM_AES_KEY_GEN, CKF_GENERATE, R(3, 12), FOREVER, 16, 32 },
    { CKM_GENERIC_SECRET_KEY_GEN, CKF_GENERATE, R(3, 12), FOREVER, 1, 4096 },
    { CKM_MD5, CKF_DIGEST, R(3, 13), FOREVER, 0, 0 },
    { CKM_SHA_1, CKF_DIGEST, R(3, 13), FOREVER, 0, 0 },
    { CKM_SHA224, CKF_DIGEST, R(3, 13), FOREVER, 0, 0 },
    { CKM_SHA256, CKF_DIGEST, R(3, 13), FOREVER, 0, 0 },
    { CKM_SHA384, CKF_DIGEST, R(3, 13), FOREVER, 0, 0 },
    { CKM_SHA512, CKF_DIGEST, R(3, 13), FOREVER, 0, 0 },
    { CKM_MD5_HMAC, AUTH, R(3, 12), FOREVER, 8, 64 },
    { CKM_SHA_1_HMAC, AUTH, R(3, 12), FOREVER, 10, 64 },
    { CKM_SHA224_HMAC, AUTH, R(3, 12), FOREVER, 14, 64 },
    { CKM_SHA256_HMAC, AUTH, R(3, 12), FOREVER, 24, 128 },
    { CKM_SHA384_HMAC, AUTH, R(3, 12), FOREVER, 32, 128 },
    { CKM_SHA512_HMAC, AUTH, R(3, 12), FOREVER, 32, 128 },
    { CKM_MD5_HMAC_GENERAL, AUTH, R(3, 15), FOREVER, 8, 64 },
    { CKM_SHA_1_HMAC_GENERAL, AUTH, R(3, 15), FOREVER, 10, 64 },
    { CKM_SHA224_HMAC_GENERAL, AUTH, R(3, 15), FOREVER, 14, 64 },
    { CKM_SHA256_HMAC_GENERAL, AUTH, R(3, 15), FOREVER, 24, 128 },
    { CKM_SHA384_HMAC_GENERAL, AUTH, R(3, 15), FOREVER, 32, 128 },
    { CKM_SHA512_HMAC_GENERAL, AUTH, R(3, 15), FOREVER, 32, 128 },
    { CKM_EC_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR, R(3, 14), FOREVER, 160,
      521 },
    { CKM_EC_EDWARDS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR, R(3, 19), FOREVER,
      256, 448 },
    { CKM_ECDSA, AUTH, R(3, 14), FOREVER, 160, 521 },
    { CKM_ECDSA_SHA1, AUTH, R(3, 14), FOREVER, 160, 521 },
    { CKM_ECDSA_SHA224, AUTH, R(3, 14), FOREVER, 160, 521 },
    { CKM_ECDSA_SHA256, AUTH, R(3, 14), FOREVER, 160, 521 },
    { CKM_ECDSA_SHA384, AUTH, R(3, 14), FOREVER, 160, 521 },
    { CKM_ECDSA_SHA512, AUTH, R(3, 14), FOREVER, 160, 521 },
    { CKM_EDDSA, AUTH, R(3, 19), FOREVER, 256, 448 },
    { CKM_RSA_AES_KEY_WRAP, CIPHER_WRAP, R(3, 20), FOREVER, 0, 0 },
    { CKM_RSA_PKCS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR, R(3, 15), FOREVER,
      256, 4096 },
    { CKM_RSA_PKCS, CIPHER | AUTH, R(3, 15), FOREVER, 256, 4096 },
    /* Only with CFG_PKCS11_TA_RSA_X_509=y (ta/pkcs11/sub.mk: n). */
    { CKM_RSA_X_509, CIPHER | AUTH, R(4, 5), FOREVER, 256, 4096 },
    { CKM_RSA_PKCS_PSS, AUTH, R(3, 15), FOREVER, 256, 4096 },
    { CKM_MD5_RSA_PKCS, AUTH, R(3, 15), FOREVER, 256, 4096 },
    { CKM_SHA1_RSA_PKCS, AUTH, R(3, 15), FOREVER, 256, 4096 },
    { CKM_RSA_PKCS_OAEP, CIPHER, R(3, 15), FOREVER, 256, 4096 },
    { CKM_SHA1_RSA_PKCS_PSS, AUTH, R(3, 15), FOREVER, 256, 4096 },
    { CKM_SHA256_RSA_PKCS, AUTH, R(3, 15), FOREVER, 256, 4096 },
    { CKM_SHA384_RSA_PKCS, AUTH, R(3, 15), FOREVER, 256, 4096 },
    { CKM_SHA512_RSA_PKCS, AUTH, R(3, 15), FOREVER, 256, 4096 },
    { CKM_SHA256_RSA_PKCS_PSS, AUTH, R(3, 15), FOREVER, 256, 4096 },
    { CKM_SHA384_RSA_PKCS_PSS, AUTH, R(3, 15), FOREVER, 256, 4096 },
    { CKM_SHA512_RSA_PKCS_PSS, AUTH, R(3, 15), FOREVER, 256, 4096 },
    { CKM_SHA224_RSA_PKCS, AUTH, R(3, 15), FOREVER, 256, 4096 },
    { CKM_SHA224_RSA_PKCS_PSS, AUTH, R(3, 15), FOREVER, 256, 4096 },
};

static const ta_mechanism *find_mechanism(CK_MECHANISM_TYPE type)
{
    for (size_t i = 0; i < N_OF(mechanisms); i++)
        if (mechanisms[i].type == type)
            return &mechanisms[i];
    return NULL;
}

/* Listed by this TA: its release and configuration. */
static bool listed(const optee_profile *p, const ta_mechanism *m)
{
    if (m->type == CKM_RSA_X_509 && !p->rsa_x_509)
        return false;
    return p->ta_version >= m->since && p->ta_version < m->until;
}

bool optee_ta_offers(const optee_profile *p, CK_MECHANISM_TYPE type,
                     CK_FLAGS function)
{
    const ta_mechanism *m = find_mechanism(type);

    return m != NULL && listed(p, m)
           && (function == 0 || (m->flags & function) != 0);
}

CK_ULONG optee_filter_mechanisms(const optee_profile *p,
                                 const CK_MECHANISM_TYPE *list, CK_ULONG n,
                                 CK_MECHANISM_TYPE *out)
{
    CK_ULONG count = 0;

    for (size_t i = N_OF(mechanisms); i-- > 0;) {
        if (!listed(p, &mechanisms[i]))
            continue;
        for (CK_ULONG j = 0; j < n; j++) {
            if (list[j] == mechanisms[i].type) {
                out[count++] = list[j];
                break;
            }
        }
    }
    return count;
}

/* The TA knows every mechanism of its release (pkcs11_modes[]) and
 * answers CKR_OK with no flags for one it does not offer, as for
 * CKM_RSA_X_509 when disabled (entry_ck_token_mecha_info()). */
CK_RV optee_mechanism_info(const optee_profile *p, CK_MECHANISM_TYPE type,
                           CK_MECHANISM_INFO *info)
{
    const ta_mechanism *m = find_mechanism(type);

    if (m == NULL || p->ta_version < m->since)
        return CKR_MECHANISM_INVALID;
    info->flags = listed(p, m) ? m->flags : 0;
    info->ulMinKeySize = m->min;
    info->ulMaxKeySize = m->max;
    return CKR_OK;
}

/* ---- libckteec (pkcs11_api.c: functions that return
 * CKR_FUNCTION_NOT_SUPPORTED without asking the TA) ----------------------- */

static const struct {
    const char *name;
    unsigned int since; /* FOREVER: in no release */
} client_functions[] = {
    { "C_GetOperationState", FOREVER },
    { "C_SetOperationState", FOREVER },
    { "C_SignRecoverInit", FOREVER },
    { "C_SignRecover", FOREVER },
    { "C_VerifyRecoverInit", FOREVER },
    { "C_VerifyRecover", FOREVER },
    { "C_DigestEncryptUpdate", FOREVER },
    { "C_DecryptDigestUpdate", FOREVER },
    { "C_SignEncryptUpdate", FOREVER },
    { "C_DecryptVerifyUpdate", FOREVER },
    { "C_WaitForSlotEvent", FOREVER },
    /* optee_client 3.13: f24b948 (C_GenerateKeyPair), 61cdbde
     * (C_DeriveKey) and others. */
    { "C_CopyObject", R(3, 13) },
    { "C_SetAttributeValue", R(3, 13) },
    { "C_DigestInit", R(3, 13) },
    { "C_Digest", R(3, 13) },
    { "C_DigestUpdate", R(3, 13) },
    { "C_DigestKey", R(3, 13) },
    { "C_DigestFinal", R(3, 13) },
    { "C_GenerateKeyPair", R(3, 13) },
    { "C_DeriveKey", R(3, 13) },
    { "C_SeedRandom", R(3, 13) },
    { "C_GenerateRandom", R(3, 13) },
    { "C_WrapKey", R(3, 14) },
    { "C_UnwrapKey", R(3, 14) },
};

CK_RV optee_client_lacks(const optee_profile *p, const char *function)
{
    for (size_t i = 0; i < N_OF(client_functions); i++)
        if (strcmp(client_functions[i].name, function) == 0)
            return p->client_version < client_functions[i].since
                       ? CKR_FUNCTION_NOT_SUPPORTED
                       : CKR_OK;
    return CKR_OK;
}

int optee_parse_release(const char *text, unsigned int *release)
{
    unsigned int major, minor;
    char end;

    if (sscanf(text, "%u.%u%c", &major, &minor, &end) != 2
        || !isdigit((unsigned char)text[0]) || minor > 99)
        return 0;
    *release = R(major, minor);
    return *release >= OPTEE_OLDEST && *release <= OPTEE_NEWEST;
}

/* ---- mechanism parameters (processing_rsa.c, processing_ec.c) ---------- */

/* The MGF1 that goes with each hash: the TA takes no other pair. */
static CK_RSA_PKCS_MGF_TYPE mgf_of(CK_MECHANISM_TYPE hash)
{
    switch (hash) {
    case CKM_SHA_1:
        return CKG_MGF1_SHA1;
    case CKM_SHA224:
        return CKG_MGF1_SHA224;
    case CKM_SHA256:
        return CKG_MGF1_SHA256;
    case CKM_SHA384:
        return CKG_MGF1_SHA384;
    case CKM_SHA512:
        return CKG_MGF1_SHA512;
    }
    return 0;
}

/* The hash of a CKM_SHAx_RSA_PKCS_PSS mechanism; 0 for CKM_RSA_PKCS_PSS,
 * CK_UNAVAILABLE_INFORMATION for anything else. */
static CK_MECHANISM_TYPE pss_hash(CK_MECHANISM_TYPE type)
{
    switch (type) {
    case CKM_RSA_PKCS_PSS:
        return 0;
    case CKM_SHA1_RSA_PKCS_PSS:
        return CKM_SHA_1;
    case CKM_SHA224_RSA_PKCS_PSS:
        return CKM_SHA224;
    case CKM_SHA256_RSA_PKCS_PSS:
        return CKM_SHA256;
    case CKM_SHA384_RSA_PKCS_PSS:
        return CKM_SHA384;
    case CKM_SHA512_RSA_PKCS_PSS:
        return CKM_SHA512;
    }
    return CK_UNAVAILABLE_INFORMATION;
}

/* pkcs2tee_algo_rsa_pss(): the MGF1 hash must be the hash, and a
 * CKM_SHAx_RSA_PKCS_PSS's hash its own. */
static CK_RV check_pss(const CK_MECHANISM *m, CK_MECHANISM_TYPE own_hash)
{
    const CK_RSA_PKCS_PSS_PARAMS *params = m->pParameter;

    if (params == NULL || m->ulParameterLen != sizeof(*params))
        return CKR_MECHANISM_PARAM_INVALID;
    if (mgf_of(params->hashAlg) == 0 || params->mgf != mgf_of(params->hashAlg)
        || (own_hash != 0 && params->hashAlg != own_hash))
        return CKR_MECHANISM_PARAM_INVALID;
    return CKR_OK;
}

/* pkcs2tee_algo_rsa_oaep(): a specified (possibly empty) label, and the
 * MGF1 hash the hash's own. */
static CK_RV check_oaep(const CK_MECHANISM *m)
{
    const CK_RSA_PKCS_OAEP_PARAMS *params = m->pParameter;

    if (params == NULL || m->ulParameterLen != sizeof(*params))
        return CKR_MECHANISM_PARAM_INVALID;
    if (params->source != CKZ_DATA_SPECIFIED)
        return CKR_MECHANISM_PARAM_INVALID;
    if (mgf_of(params->hashAlg) == 0)
        return CKR_GENERAL_ERROR; /* "Unexpected" hash: so it answers */
    return params->mgf == mgf_of(params->hashAlg)
               ? CKR_OK
               : CKR_MECHANISM_PARAM_INVALID;
}

/* check_mechanism_against_processing() (pkcs11_attributes.c): the
 * mechanism must offer the function; then the parameter checks. */
CK_RV optee_check_init(const optee_profile *p, const CK_MECHANISM *m,
                       CK_FLAGS function)
{
    CK_MECHANISM_TYPE own_hash;

    if (m == NULL)
        return CKR_ARGUMENTS_BAD;
    if (!optee_ta_offers(p, m->mechanism, function))
        return CKR_MECHANISM_INVALID;
    own_hash = pss_hash(m->mechanism);
    if (own_hash != CK_UNAVAILABLE_INFORMATION)
        return check_pss(m, own_hash);
    if (m->mechanism == CKM_RSA_PKCS_OAEP)
        return check_oaep(m);
    return CKR_OK;
}

/* serialize_mecha_eddsa() before optee_client 6486773 (4.5) reads
 * params->ulContextDataLen with params NULL. */
bool optee_client_crashes(const optee_profile *p, const CK_MECHANISM *m)
{
    return m != NULL && m->mechanism == CKM_EDDSA && m->pParameter == NULL
           && p->client_version >= R(3, 19) && p->client_version < R(4, 5);
}

/* pkcs2tee_param_ecdh(): an uncompressed point, 04||X||Y, not wrapped in
 * DER, of fewer than 129 bytes ("DER long definitive form not yet
 * supported": P-521's 133 bytes are refused). The KDF is skipped. */
CK_RV optee_check_ecdh(const CK_MECHANISM *m)
{
    const CK_ECDH1_DERIVE_PARAMS *params = m->pParameter;

    if (params == NULL || m->ulParameterLen != sizeof(*params))
        return CKR_MECHANISM_PARAM_INVALID;
    if (params->pPublicData == NULL || params->ulPublicDataLen == 0)
        return CKR_ARGUMENTS_BAD;
    if (params->pPublicData[0] != 0x04)
        return CKR_ARGUMENTS_BAD; /* 02, 03: "compressed ... not yet" */
    if (params->ulPublicDataLen - 1 >= 0x80)
        return CKR_ARGUMENTS_BAD;
    return CKR_OK;
}

/* ---- curves (processing_ec.c, ec_curve_param[]) ------------------------ */

/* The named forms the TA matches byte for byte (its explicit-parameter
 * forms are left out here). Ed25519: the PrintableString, and GnuPG's OID
 * 1.3.6.1.4.1.11591.15.1, not RFC 8410's 1.3.101.112. */
static const unsigned char p192[] = { 0x06, 0x08, 0x2a, 0x86, 0x48,
                                      0xce, 0x3d, 0x03, 0x01, 0x01 };
static const unsigned char p224[] = {
    0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x21
};
static const unsigned char p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48,
                                      0xce, 0x3d, 0x03, 0x01, 0x07 };
static const unsigned char p384[] = {
    0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22
};
static const unsigned char p521[] = {
    0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23
};
static const unsigned char ed25519_name[] = { 0x13, 0x0c, 'e', 'd', 'w',
                                              'a',  'r',  'd', 's', '2',
                                              '5',  '5',  '1', '9' };
static const unsigned char ed25519_gnupg[] = { 0x06, 0x09, 0x2b, 0x06,
                                               0x01, 0x04, 0x01, 0xda,
                                               0x47, 0x0f, 0x01 };

static const struct {
    const unsigned char *der;
    size_t len;
    bool edwards;
} curves[] = {
    { p192, sizeof(p192), false },
    { p224, sizeof(p224), false },
    { p256, sizeof(p256), false },
    { p384, sizeof(p384), false },
    { p521, sizeof(p521), false },
    { ed25519_name, sizeof(ed25519_name), true },
    { ed25519_gnupg, sizeof(ed25519_gnupg), true },
};

/* generate_ec_keys(), generate_eddsa_keys(): an unknown curve is
 * CKR_ATTRIBUTE_TYPE_INVALID. */
CK_RV optee_check_curve(const CK_MECHANISM *m, const CK_ATTRIBUTE *tmpl,
                        CK_ULONG count)
{
    bool edwards = m->mechanism == CKM_EC_EDWARDS_KEY_PAIR_GEN;

    if (m->mechanism != CKM_EC_KEY_PAIR_GEN && !edwards)
        return CKR_OK;
    for (CK_ULONG i = 0; i < count; i++) {
        if (tmpl[i].type != CKA_EC_PARAMS || tmpl[i].pValue == NULL)
            continue;
        for (size_t c = 0; c < N_OF(curves); c++)
            if (curves[c].edwards == edwards
                && tmpl[i].ulValueLen == curves[c].len
                && memcmp(tmpl[i].pValue, curves[c].der, curves[c].len) == 0)
                return CKR_OK;
        return CKR_ATTRIBUTE_TYPE_INVALID;
    }
    return CKR_ATTRIBUTE_TYPE_INVALID; /* "No EC_PARAMS attribute found" */
}

/* tee2pkcs_add_attribute(TEE_ATTR_ED25519_PUBLIC_VALUE): the bare 32
 * bytes, where the real module keeps a DER OCTET STRING. */
void optee_bare_point(const unsigned char **value, CK_ULONG *len)
{
    const unsigned char *v = *value;

    if (*len >= 2 && v[0] == 0x04 && v[1] < 0x80 && v[1] + 2UL == *len) {
        *value = v + 2;
        *len -= 2;
    }
}

/* ---- slot, token and library information (pkcs11_token.c,
 * pkcs11_token.h; libckteec pkcs11_token.c) ------------------------------- */

static void pad(CK_UTF8CHAR *field, size_t size, const char *text)
{
    size_t len = strlen(text);

    memset(field, ' ', size);
    memcpy(field, text, len < size ? len : size);
}
#define PAD(field, text) pad((field), sizeof(field), (text))

/* PKCS11_TA_VERSION: 0.1, and 1.0 from 4.5 (optee_os 5395f0367). */
static CK_VERSION ta_version(const optee_profile *p)
{
    CK_VERSION v = { 0, 1 };

    if (p->ta_version >= R(4, 5)) {
        v.major = 1;
        v.minor = 0;
    }
    return v;
}

void optee_slot_info(const optee_profile *p, CK_SLOT_INFO *info)
{
    /* set_token_description(): without a gpd.tee.deviceID */
    PAD(info->slotDescription, "OP-TEE PKCS11 TA - No TEE UUID");
    PAD(info->manufacturerID, "Linaro");
    info->flags = CKF_TOKEN_PRESENT;
    info->hardwareVersion.major = 0;
    info->hardwareVersion.minor = 0;
    info->firmwareVersion = ta_version(p);
}

/* The flags the TA keeps in its database (persistent_token.c). */
#define TA_TOKEN_FLAGS                                                       \
    (CKF_RNG | CKF_LOGIN_REQUIRED | CKF_TOKEN_INITIALIZED                    \
     | CKF_USER_PIN_INITIALIZED | CKF_WRITE_PROTECTED                        \
     | CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED \
     | CKF_USER_PIN_TO_BE_CHANGED | CKF_SO_PIN_COUNT_LOW                     \
     | CKF_SO_PIN_FINAL_TRY | CKF_SO_PIN_LOCKED | CKF_SO_PIN_TO_BE_CHANGED)

void optee_token_info(const optee_profile *p, CK_TOKEN_INFO *info,
                      CK_ULONG slot_index, CK_ULONG sessions,
                      CK_ULONG rw_sessions)
{
    /* The TA says UINT32_MAX; libckteec before 4.1 (optee_client 333e512)
     * widened it as a number: 4294967295, not CK_UNAVAILABLE_INFORMATION. */
    CK_ULONG unavailable = p->client_version < R(4, 1)
                               ? (CK_ULONG)0xffffffffUL
                               : CK_UNAVAILABLE_INFORMATION;
    char serial[17];

    PAD(info->manufacturerID, "Linaro");
    PAD(info->model, "OP-TEE TA");
    snprintf(serial, sizeof(serial), "%016lu", slot_index);
    memcpy(info->serialNumber, serial, sizeof(info->serialNumber));
    info->flags = (info->flags & TA_TOKEN_FLAGS)
                  | (p->identity_login ? CKF_PROTECTED_AUTHENTICATION_PATH
                                       : 0);
    info->ulMaxSessionCount = unavailable;
    info->ulMaxRwSessionCount = unavailable;
    info->ulSessionCount = sessions;
    info->ulRwSessionCount = rw_sessions;
    info->ulMaxPinLen = 128;
    info->ulMinPinLen = 4;
    info->ulTotalPublicMemory = unavailable;
    info->ulFreePublicMemory = unavailable;
    info->ulTotalPrivateMemory = unavailable;
    info->ulFreePrivateMemory = unavailable;
    info->hardwareVersion.major = 0;
    info->hardwareVersion.minor = 0;
    info->firmwareVersion = ta_version(p);
}

void optee_library_info(CK_INFO *info)
{
    memset(info, 0, sizeof(*info));
    info->cryptokiVersion.major = 2;
    info->cryptokiVersion.minor = 40;
    PAD(info->manufacturerID, "Linaro");
    PAD(info->libraryDescription, "OP-TEE PKCS11 Cryptoki library");
    info->libraryVersion.major = 0;
    info->libraryVersion.minor = 1;
}
