/* Every dispatch table and algorithm array the operations (ops/) define,
 * for provider.c's query_operation. */
#ifndef PKCS11PROV_IMPLEMENTATIONS_H
#define PKCS11PROV_IMPLEMENTATIONS_H

#include <openssl/core.h>

/* ops/keymgmt.c */
extern const OSSL_DISPATCH p11prov_rsa_keymgmt_functions[];
extern const OSSL_DISPATCH p11prov_rsa_pss_keymgmt_functions[];
extern const OSSL_DISPATCH p11prov_ec_keymgmt_functions[];
extern const OSSL_DISPATCH p11prov_ed25519_keymgmt_functions[];
extern const OSSL_DISPATCH p11prov_ed448_keymgmt_functions[];

/* ops/signature.c */
extern const OSSL_DISPATCH p11prov_rsa_signature_functions[];
extern const OSSL_DISPATCH p11prov_ecdsa_signature_functions[];
extern const OSSL_DISPATCH p11prov_eddsa_signature_functions[];

/* ops/keyexch.c */
extern const OSSL_DISPATCH p11prov_ecdh_keyexch_functions[];

/* ops/asym_cipher.c */
extern const OSSL_DISPATCH p11prov_rsa_asym_cipher_functions[];

/* ops/store.c */
extern const OSSL_DISPATCH p11prov_store_functions[];

/* ops/encoder.c: token private keys as URI key files, keys as text;
 * ops/decoder.c: URI key files back to token keys. */
extern const OSSL_ALGORITHM p11prov_encoder_algorithms[];
extern const OSSL_ALGORITHM p11prov_decoder_algorithms[];

#endif
