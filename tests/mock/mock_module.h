/*
 * p11mock: what mock_module.c (the Cryptoki functions) and mock_objects.c
 * (the object table) share.
 */
#ifndef P11MOCK_MODULE_H
#define P11MOCK_MODULE_H

#include "p11common.h"

/* Handles of the objects, in table (and C_FindObjects) order. */
#define MOCK_CERT_HANDLE 0x100UL
#define MOCK_PUBKEY_HANDLE 0x101UL
#define MOCK_PRIVKEY_HANDLE 0x102UL

/* The signature C_Sign returns for CKM_ECDSA: r||s, fixed bytes. */
#define MOCK_ECDSA_SIG_LEN 64
extern const unsigned char mock_ecdsa_signature[MOCK_ECDSA_SIG_LEN];

/* The objects of "mock-token" (mock_objects.c). */
extern const token_object_table mock_token_objects;

#endif
