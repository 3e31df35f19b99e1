/*
 * p11null: what null_module.c (the Cryptoki functions) and null_objects.c
 * (the key pair and the fixed signature) share.
 */
#ifndef P11NULL_OBJECTS_H
#define P11NULL_OBJECTS_H

#include "p11common.h"

#define NULL_PRIVKEY_HANDLE 1UL
#define NULL_PUBKEY_HANDLE 2UL
#define NULL_SIG_LEN 64

/* The private and the public key of "null-p256", in C_FindObjects order. */
extern const token_object_table null_token_objects;

/* What C_Sign returns for CKM_ECDSA: r || s, each top byte 0x01. */
extern const unsigned char null_ecdsa_signature[NULL_SIG_LEN];

#endif
