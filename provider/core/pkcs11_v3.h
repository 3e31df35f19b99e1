/* The PKCS#11 3.0 interface discovery that p11-kit 0.24's 2.40 header
 * lacks. A 3.0 "PKCS 11" function list starts with the 2.40 layout, so
 * it is used through CK_FUNCTION_LIST. */
#ifndef PKCS11PROV_PKCS11_V3_H
#define PKCS11PROV_PKCS11_V3_H

#include <p11-kit/pkcs11.h>

typedef struct p11prov_ck_interface {
    CK_UTF8CHAR *pInterfaceName;
    void *pFunctionList;
    CK_FLAGS flags;
} P11PROV_CK_INTERFACE;

typedef CK_RV (*P11PROV_C_GetInterface)(CK_UTF8CHAR *interface_name,
                                        CK_VERSION *version,
                                        P11PROV_CK_INTERFACE **interface,
                                        CK_FLAGS flags);

/* CKM_EDDSA's parameter (PKCS#11 3.0). */
typedef struct p11prov_ck_eddsa_params {
    CK_BBOOL phFlag;
    CK_ULONG ulContextDataLen;
    CK_BYTE_PTR pContextData;
} P11PROV_CK_EDDSA_PARAMS;

#endif
