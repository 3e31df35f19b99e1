#!/usr/bin/python3
"""Writes the seed corpus of fuzz_key_attributes: tokens (fuzz_token.h's
layout) holding real keys and certificates made with the openssl CLI, as
SoftHSM and other modules store them, and a few quirky variants.

    tests/fuzz/make_key_seeds.py [OUT_DIR]   (default: corpus/key_attributes)
    tests/fuzz/make_key_seeds.py --show FILE...   prints what inputs hold

The keys are fresh on every run: the checked-in seeds were made once with
this script; running it again replaces them with equivalent ones.
"""
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# Indexes in fuzz_token_types[] (fuzz_token.c).
CLASS, KEY_TYPE, ID, LABEL, MODULUS, PUBLIC_EXPONENT = 0, 1, 2, 3, 4, 5
EC_PARAMS, EC_POINT, VALUE, CERTIFICATE_TYPE, SIGN, DECRYPT = 6, 7, 8, 9, 10, 11
DERIVE, ALWAYS_AUTHENTICATE, ALLOWED_MECHANISMS, MODULUS_BITS = 12, 13, 14, 15
TOKEN, PRIVATE = 16, 17
NEXT_OBJECT = 0x1F
SENSITIVE = 0x80

# Quirks (fuzz_token.h).
SIZE_ON_SHORT, STOP_AT_ERROR, NO_BATCH_SIZES, UNDERSIZE = 1, 2, 4, 8

CKO_CERTIFICATE, CKO_PUBLIC_KEY, CKO_PRIVATE_KEY = 1, 2, 3
CKK_RSA, CKK_EC, CKK_EC_EDWARDS, CKK_EC_MONTGOMERY = 0, 3, 0x40, 0x41
CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_ECDSA, CKM_EDDSA = 1, 0x0D, 0x1041, 0x1057


def ulong(value):
    return struct.pack("<Q", value)  # CK_ULONG, x86-64 and arm64


def true():
    return b"\x01"


def der_octets(data):
    n = len(data)
    if n < 0x80:
        return b"\x04" + bytes([n]) + data
    if n < 0x100:
        return b"\x04\x81" + bytes([n]) + data
    return b"\x04\x82" + struct.pack(">H", n) + data


def record(index, value):
    return bytes([index]) + struct.pack(">H", len(value)) + value


def token(quirks, *objects):
    out = bytes([quirks])
    for i, attrs in enumerate(objects):
        if i > 0:
            out += record(NEXT_OBJECT, b"")
        for index, value in attrs:
            out += record(index, value)
    return out


def openssl(*args, stdin=None):
    return subprocess.run(["openssl", *args], check=True, input=stdin,
                          stdout=subprocess.PIPE).stdout


class Key:
    """A key made with openssl, with its self-signed certificate."""

    def __init__(self, work, name, genpkey_args, signs=True):
        self.pem = os.path.join(work, name + ".pem")
        openssl("genpkey", "-quiet", *genpkey_args, "-out", self.pem)
        self.spki = openssl("pkey", "-in", self.pem, "-pubout",
                            "-outform", "DER")
        if signs:
            self.cert = openssl("req", "-x509", "-new", "-key", self.pem,
                                "-subj", "/CN=fuzz " + name,
                                "-days", "3650", "-outform", "DER")

    def rsa(self):
        text = openssl("rsa", "-in", self.pem, "-noout", "-modulus").decode()
        n = bytes.fromhex(text.strip().split("=", 1)[1])
        return n, b"\x01\x00\x01"  # genpkey's default exponent

    def point(self, size):
        return self.spki[-size:]  # the SPKI's BIT STRING ends with it


def ec_params(curve):
    return openssl("ecparam", "-name", curve, "-outform", "DER")


def key_attrs(cls, key_type, key_id, label):
    return [(CLASS, ulong(cls)), (KEY_TYPE, ulong(key_type)), (ID, key_id),
            (LABEL, label), (TOKEN, true())]


def cert_attrs(key_id, label, der):
    return [(CLASS, ulong(CKO_CERTIFICATE)), (CERTIFICATE_TYPE, ulong(0)),
            (ID, key_id), (LABEL, label), (VALUE, der), (TOKEN, true())]


def mechanisms(*mechs):
    return b"".join(ulong(m) for m in mechs)


def rsa_seeds(work):
    key = Key(work, "rsa-2048", ["-algorithm", "RSA",
                                 "-pkeyopt", "rsa_keygen_bits:2048"])
    n, e = key.rsa()
    kid, label = b"\x01", b"rsa-2048"
    public = [(MODULUS, n), (PUBLIC_EXPONENT, e), (MODULUS_BITS, ulong(2048))]
    private = key_attrs(CKO_PRIVATE_KEY, CKK_RSA, kid, label) + [
        (PRIVATE, true()), (SIGN, true()), (DECRYPT, true()),
        (ALLOWED_MECHANISMS, mechanisms(CKM_RSA_PKCS, CKM_RSA_PKCS_PSS))]
    pub_obj = key_attrs(CKO_PUBLIC_KEY, CKK_RSA, kid, label) + public
    cert = cert_attrs(kid, label, key.cert)
    yield "rsa2048-pair-cert", token(0, private + public, pub_obj, cert)
    # The key object without its public part: the companions have it.
    yield "rsa2048-companion", token(0, private, pub_obj)
    yield "rsa2048-cert-only", token(0, private + public[:1], cert)
    yield "rsa2048-public-only", token(0, pub_obj)
    yield "rsa2048-cert-first", token(0, cert, private)
    for name, quirks in (("size-on-short", SIZE_ON_SHORT),
                         ("stop-at-error", STOP_AT_ERROR),
                         ("no-batch-sizes", NO_BATCH_SIZES),
                         ("undersize", UNDERSIZE)):
        yield "rsa2048-" + name, token(quirks, private + public, cert)
    # A sensitive id (still searched for) and a label past 128 bytes.
    hidden = [(a | SENSITIVE if a == ID else a, v) for a, v in private]
    yield "rsa2048-sensitive-id", token(0, hidden + public, pub_obj)
    long_label = [(a, b"L" * 200 if a == LABEL else v) for a, v in private]
    yield "rsa2048-long-label", token(STOP_AT_ERROR, long_label + public)


def ec_seeds(work):
    for curve, size, kid in (("prime256v1", 65, b"\x02"),
                             ("secp384r1", 97, b"\x03"),
                             ("secp521r1", 133, b"\x04")):
        key = Key(work, curve, ["-algorithm", "EC",
                                "-pkeyopt", "ec_paramgen_curve:" + curve])
        params, point = ec_params(curve), key.point(size)
        label = curve.encode()
        private = key_attrs(CKO_PRIVATE_KEY, CKK_EC, kid, label) + [
            (EC_PARAMS, params), (SIGN, true()), (DERIVE, true()),
            (ALLOWED_MECHANISMS, mechanisms(CKM_ECDSA))]
        pub_obj = key_attrs(CKO_PUBLIC_KEY, CKK_EC, kid, label) + [
            (EC_PARAMS, params), (EC_POINT, der_octets(point))]
        yield curve + "-pair-cert", token(
            0, private, pub_obj, cert_attrs(kid, label, key.cert))
        if curve == "prime256v1":
            bare = pub_obj[:-1] + [(EC_POINT, point)]
            yield curve + "-bare-point", token(0, private, bare)
            own = private + [(EC_POINT, der_octets(point))]
            yield curve + "-own-point", token(SIZE_ON_SHORT | STOP_AT_ERROR,
                                              own)
            yield curve + "-cert-only", token(
                NO_BATCH_SIZES, private, cert_attrs(kid, label, key.cert))
            # Two public key objects with the key's id: neither is taken.
            other = Key(work, curve + "-other",
                        ["-algorithm", "EC",
                         "-pkeyopt", "ec_paramgen_curve:" + curve])
            twin = pub_obj[:-1] + [(EC_POINT, der_octets(other.point(size)))]
            yield curve + "-two-publics", token(
                0, private, pub_obj, twin, cert_attrs(kid, label, key.cert))
            # No id, no label: nothing names the key's companions.
            unnamed = [(a, v) for a, v in private if a not in (ID, LABEL)]
            yield curve + "-unnamed", token(0, unnamed, [
                (a, v) for a, v in pub_obj if a not in (ID, LABEL)])


def edwards_seeds(work):
    for alg, oid, name, size, kid in (
            ("ED25519", b"\x06\x03\x2b\x65\x70", b"edwards25519", 32, b"\x05"),
            ("ED448", b"\x06\x03\x2b\x65\x71", b"edwards448", 57, b"\x06")):
        key = Key(work, alg, ["-algorithm", alg])
        point = key.point(size)
        label = alg.encode()
        for params, how in ((oid, "oid"),
                            (b"\x13" + bytes([len(name)]) + name, "name")):
            private = key_attrs(CKO_PRIVATE_KEY, CKK_EC_EDWARDS, kid,
                                label) + [(EC_PARAMS, params), (SIGN, true())]
            pub_obj = key_attrs(CKO_PUBLIC_KEY, CKK_EC_EDWARDS, kid,
                                label) + [(EC_PARAMS, params),
                                          (EC_POINT, der_octets(point))]
            yield "%s-%s-pair-cert" % (alg.lower(), how), token(
                0, private, pub_obj, cert_attrs(kid, label, key.cert))
    # A key type the provider leaves alone.
    key = Key(work, "X25519", ["-algorithm", "X25519"], signs=False)
    x = key_attrs(CKO_PRIVATE_KEY, CKK_EC_MONTGOMERY, b"\x07", b"x25519") + [
        (EC_PARAMS, b"\x06\x03\x2b\x65\x6e"), (DERIVE, true())]
    x_pub = key_attrs(CKO_PUBLIC_KEY, CKK_EC_MONTGOMERY, b"\x07",
                      b"x25519") + [(EC_PARAMS, b"\x06\x03\x2b\x65\x6e"),
                                    (EC_POINT, der_octets(key.point(32)))]
    yield "x25519-unsupported", token(0, x, x_pub)


NAMES = ["CLASS", "KEY_TYPE", "ID", "LABEL", "MODULUS", "PUBLIC_EXPONENT",
         "EC_PARAMS", "EC_POINT", "VALUE", "CERTIFICATE_TYPE", "SIGN",
         "DECRYPT", "DERIVE", "ALWAYS_AUTHENTICATE", "ALLOWED_MECHANISMS",
         "MODULUS_BITS", "TOKEN", "PRIVATE"]


def show(path):
    """Prints an input as fuzz_token_parse reads it."""
    data = open(path, "rb").read()
    if not data:
        print("%s: empty (no object)" % path)
        return
    print("%s: quirks 0x%02x" % (path, data[0]))
    at, obj = 1, 0
    print("  object 0")
    while at + 3 <= len(data):
        kind, n = data[at], (data[at + 1] << 8) | data[at + 2]
        value = data[at + 3:at + 3 + n]
        at += 3 + n
        if (kind & 0x1F) >= len(NAMES):
            obj += 1
            print("  object %d" % obj)
            continue
        text = value.hex() if len(value) <= 24 else "%s... (%d bytes)" % (
            value[:24].hex(), len(value))
        print("    CKA_%s%s = %s" % (NAMES[kind & 0x1F],
                                     " (sensitive)" if kind & 0x80 else "",
                                     text or "(empty)"))


def main():
    if sys.argv[1:2] == ["--show"]:
        for path in sys.argv[2:]:
            show(path)
        return
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        HERE, "corpus", "key_attributes")
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        for seeds in (rsa_seeds(work), ec_seeds(work), edwards_seeds(work)):
            for name, data in seeds:
                with open(os.path.join(out, name), "wb") as f:
                    f.write(data)
                print("%-32s %5d bytes" % (name, len(data)))


if __name__ == "__main__":
    main()
