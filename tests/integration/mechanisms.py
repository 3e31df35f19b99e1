"""What a token's module really offers and holds, asked of the module
itself (C_GetMechanismList, C_GetAttributeValue), not read from a tool's
output, whose wording changes between versions. Runs in a child process, so that the module (and the
libcrypto it may bring) never loads into pytest, and with the token's
environment (TPM2_PKCS11_TCTI, SOFTHSM2_CONF, ...).
"""
import ctypes
import sys

from helpers import run

CKM_ECDH1_DERIVE = 0x1050
ATTRIBUTES = {"CKA_SIGN": 0x108, "CKA_DERIVE": 0x10C, "CKA_DECRYPT": 0x105,
              "CKA_ALLOWED_MECHANISMS": 0x40000600}
CKA_CLASS, CKA_LABEL, CKO_PRIVATE_KEY, CKU_USER = 0x0, 0x3, 3, 1
ulong = ctypes.c_ulong


class Attr(ctypes.Structure):
    _fields_ = [("type", ulong), ("value", ctypes.c_void_p), ("len", ulong)]


def _ask(*args, env):
    proc = run(["/usr/bin/python3", __file__, *map(str, args)], env,
               preload=False)
    assert proc.returncode == 0, f"{args[0]} failed:\n{proc.stderr}"
    return proc.stdout.split()


def token_mechanisms(module, slot, env):
    """The mechanism types the token in slot lists, as a set of ints."""
    return {int(word, 16) for word in _ask("mechanisms", module, slot,
                                           env=env)}


def token_attribute(token, label, attribute):
    """The value of an attribute of the token's private key `label`, as
    the module (token.module or TPM2_MODULE) reports it: bytes, or None
    when the key has no such attribute."""
    module = getattr(token, "module", None) or _tpm2_module()
    value = _ask("attribute", module, token.slot, token.pin, label,
                 ATTRIBUTES[attribute], env=token.env)
    if not value:
        return None
    return b"" if value == ["-"] else bytes.fromhex(value[0])


def token_attribute_false(token, label, attribute):
    return token_attribute(token, label, attribute) == b"\0"


def token_key_allows(token, label, mechanism):
    """Whether the key's CKA_ALLOWED_MECHANISMS lists mechanism."""
    value = token_attribute(token, label, "CKA_ALLOWED_MECHANISMS") or b""
    size = ctypes.sizeof(ulong)
    return mechanism in (int.from_bytes(value[i:i + size], sys.byteorder)
                         for i in range(0, len(value), size))


def _tpm2_module():
    from helpers import TPM2_MODULE
    return TPM2_MODULE


def _check(rv, call):
    if rv != 0:
        sys.exit(f"{call}: CKR 0x{rv:x}")


def _mechanisms(lib, slot):
    count = ulong(0)
    _check(lib.C_GetMechanismList(ulong(slot), None, ctypes.byref(count)),
           "C_GetMechanismList (size)")
    types = (ulong * max(count.value, 1))()
    _check(lib.C_GetMechanismList(ulong(slot), types, ctypes.byref(count)),
           "C_GetMechanismList")
    print(" ".join(f"{types[i]:x}" for i in range(count.value)))


def _attribute(lib, slot, pin, label, attribute):
    session, obj, found = ulong(), ulong(), ulong()
    _check(lib.C_OpenSession(ulong(slot), ulong(0x4), None, None,
                             ctypes.byref(session)), "C_OpenSession")
    try:
        _check(lib.C_Login(session, ulong(CKU_USER), pin.encode(),
                           ulong(len(pin))), "C_Login")
        klass, name = ulong(CKO_PRIVATE_KEY), label.encode()
        find = (Attr * 2)(
            Attr(CKA_CLASS, ctypes.cast(ctypes.byref(klass), ctypes.c_void_p),
                 ctypes.sizeof(klass)),
            Attr(CKA_LABEL, ctypes.cast(ctypes.c_char_p(name), ctypes.c_void_p),
                 len(name)))
        _check(lib.C_FindObjectsInit(session, find, ulong(2)),
               "C_FindObjectsInit")
        _check(lib.C_FindObjects(session, ctypes.byref(obj), ulong(1),
                                 ctypes.byref(found)), "C_FindObjects")
        lib.C_FindObjectsFinal(session)
        if found.value != 1:
            sys.exit(f"no private key labelled {label}")
        attr = Attr(attribute, None, 0)
        rv = lib.C_GetAttributeValue(session, obj, ctypes.byref(attr),
                                     ulong(1))
        if rv == 0x12:  # CKR_ATTRIBUTE_TYPE_INVALID: the key has none
            return
        _check(rv, "C_GetAttributeValue (size)")
        value = ctypes.create_string_buffer(max(attr.len, 1))
        attr.value = ctypes.cast(value, ctypes.c_void_p)
        _check(lib.C_GetAttributeValue(session, obj, ctypes.byref(attr),
                                       ulong(1)), "C_GetAttributeValue")
        print(value.raw[:attr.len].hex() or "-")
    finally:
        lib.C_CloseSession(session)


def _main(command, module, slot, *args):
    lib = ctypes.CDLL(module)
    _check(lib.C_Initialize(None), "C_Initialize")
    try:
        if command == "mechanisms":
            _mechanisms(lib, int(slot))
        else:
            _attribute(lib, int(slot), args[0], args[1], int(args[2]))
    finally:
        lib.C_Finalize(None)


if __name__ == "__main__":
    _main(*sys.argv[1:])
