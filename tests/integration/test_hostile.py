"""A module's answers are untrusted input (issue 14): the provider loads
p11hostile (tests/hostile, libp11hostile.so) in front of SoftHSM, and the
lies named in P11HOSTILE alter SoftHSM's answers: counts and lengths beyond
the caller's buffers, invalid or repeating handles, truncated or
malformed attribute values, signatures, plaintexts and secrets of the
wrong length or value, unknown CKR_* codes (hostile_module.c lists them
all). The module never writes past a caller's buffer: whatever the
provider does wrong is the provider's.

Each case runs the openssl command the lie affects, with the keys of
p11prov-soft (rsa2048, ec-p256, ed25519) or a key made on p11prov-gen, and
accepts two outcomes only:
- a clean failure: a non-zero exit, no crash and no sanitizer report, and
  an error from the provider that names the token's URI and, where the
  lie is in a call's answer, that call (and the attribute, for attribute
  lengths);
- success with a result checked without the provider: signatures verified
  with the public key exported from the token, plaintexts and ECDH secrets
  compared with the software side, public keys and certificates compared
  byte for byte with the real ones, the key pair made listed by
  pkcs11-tool.
A case marked FAIL lies in a way a careful caller can see (a count or a
length beyond what was asked or the key implies, an invalid or repeated
handle, a code PKCS#11 does not define): success is wrong there even when
the result looks right. Every case also checks, in the module's log, that
the lie changed an answer (where the provider need not ask, noted), and
that lies which repeat forever were given up on after a bounded number of
answers.

The four bugs of the issue have named regression tests at the end; the
module's own configuration checks and a lie-free run of every operation
(the baseline: the module forwards faithfully) come first.
"""
import hashlib
import itertools
import os
from collections import Counter
from dataclasses import dataclass

import pytest

from helpers import (SOFTHSM_MODULE, OpensslRunner, assert_no_crash,
                     assert_ok, describe, pem_blocks, pem_cert_file,
                     pem_certs, pkcs11_tool_objects, run)
from keyops import provider_text, slow_unwind_env, software, verify_csr

SOFT_TOKEN = "p11prov-soft"
FAIL, EITHER = "fail", "either"
# Lies that repeat until the caller stops: at most this many answers.
REPEAT_BOUND = 100
_SERIAL = itertools.count(1)  # labels of the keys made on p11prov-gen


# ---- what the operations use, made once -----------------------------------

@dataclass
class Material:
    data: object          # a file to sign
    digest: object        # its SHA-256, for pkeyutl -sign
    peer_pub: object      # a software P-256 public key, for ECDH
    secret: bytes         # the ECDH secret the software side derives
    ciphertexts: dict     # scheme -> (plaintext, ciphertext file)


OAEP_SHA1 = ("rsa_padding_mode:oaep", "rsa_oaep_md:sha1", "rsa_mgf1_md:sha1")
SCHEMES = {"pkcs1": (), "oaep": OAEP_SHA1}


def opts(flag, values):
    return [arg for value in values for arg in (flag, value)]


@pytest.fixture(scope="module")
def material(softhsm, tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile-material")
    data = d / "data.bin"
    data.write_bytes(bytes((i * 7 + i // 251) % 256 for i in range(3000)))
    digest = d / "digest.bin"
    digest.write_bytes(hashlib.sha256(data.read_bytes()).digest())
    peer_key, peer_pub, secret = d / "peer.key", d / "peer.pub", d / "z.bin"
    software(d, "genpkey", "-algorithm", "EC", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-out", peer_key)
    software(d, "pkey", "-in", peer_key, "-pubout", "-out", peer_pub)
    software(d, "pkeyutl", "-derive", "-inkey", peer_key, "-peerkey",
             softhsm.keys["ec-p256"].pub_pem, "-out", secret,
             what="the peer's side of the ECDH derivation")
    ciphertexts = {}
    for scheme, pkeyopts in SCHEMES.items():
        plain, ct = os.urandom(32), d / f"{scheme}.ct"
        (d / f"{scheme}.plain").write_bytes(plain)
        software(d, "pkeyutl", "-encrypt", "-pubin", "-inkey",
                 softhsm.keys["rsa2048"].pub_pem, "-in", d / f"{scheme}.plain",
                 "-out", ct, *opts("-pkeyopt", pkeyopts),
                 what=f"encrypting with {scheme} in software")
        ciphertexts[scheme] = (plain, ct)
    return Material(data, digest, peer_pub, secret.read_bytes(), ciphertexts)


class Hostile:
    """openssl with the provider (from the command line) loading p11hostile
    in front of SoftHSM, in directory d."""

    def __init__(self, request, softhsm, module, directory):
        self.request, self.dir = request, directory
        self.keys, self.pin = softhsm.keys, softhsm.pins[SOFT_TOKEN]
        self.env = {**softhsm.env, "PKCS11PROV_MODULE": module,
                    "P11HOSTILE_MODULE": SOFTHSM_MODULE}
        self.runner = OpensslRunner("cli", directory)
        self.log = directory / "lies.log"

    def uri(self, label, type="private", pin=True):
        uri = f"pkcs11:token={SOFT_TOKEN};object={label}"
        uri += f";type={type}" if type else ""
        return uri + (f"?pin-value={self.pin}" if pin else "")

    def gen_token(self):
        """p11prov-gen (the softhsm_gen fixture), made when first asked."""
        return self.request.getfixturevalue("softhsm_gen")

    def openssl(self, lies, *args, env=None):
        if self.log.exists():
            self.log.unlink()
        return self.runner(*args, env={**self.env, "P11HOSTILE": lies,
                                       "P11HOSTILE_LOG": self.log,
                                       **(env or {})})

    def fired(self):
        """Counter of (lie, function): the answers the lies changed."""
        if not self.log.exists():
            return Counter()
        return Counter(tuple(line.split()) for line in
                       self.log.read_text().splitlines() if line)


@pytest.fixture
def hostile(request, softhsm, hostile_module, provider_module, tmp_path):
    return Hostile(request, softhsm, hostile_module, tmp_path)


# ---- the operations ------------------------------------------------------
# Each runs its openssl command through the lies and returns (process,
# check, token): check() asserts that the result is right, without the
# provider; token is the label the error must name.

PSS = ("rsa_padding_mode:pss", "rsa_pss_saltlen:32")


def sign(h, m, lies, label, how="dgst"):
    """how: dgst -sign (SHA-256), dgst -sign with PSS ("pss"), pkeyutl
    -sign of the digest ("pkeyutl") or of the data (EdDSA: "rawin")."""
    key, sig, d = h.keys[label], h.dir / "sig", h.dir
    rsa = label.startswith("rsa")
    pss = opts("-sigopt", PSS) if how == "pss" else []
    if how in ("dgst", "pss"):
        proc = h.openssl(lies, "dgst", "-sha256", "-sign", h.uri(label),
                         *pss, "-out", sig, m.data)
    elif how == "rawin":  # SoftHSM's EdDSA C_SignInit leaks (keyops)
        proc = h.openssl(lies, "pkeyutl", "-sign", "-rawin", "-inkey",
                         h.uri(label), "-in", m.data, "-out", sig,
                         env=slow_unwind_env())
    else:
        proc = h.openssl(lies, "pkeyutl", "-sign", "-inkey", h.uri(label),
                         "-in", m.digest, *(("-pkeyopt", "digest:sha256")
                                            if rsa else ()), "-out", sig)

    def check():
        if how == "rawin":
            software(d, "pkeyutl", "-verify", "-pubin", "-inkey",
                     key.pub_pem, "-rawin", "-in", m.data, "-sigfile", sig,
                     what=f"verifying {label}'s signature")
        elif how in ("dgst", "pss") or rsa:
            software(d, "dgst", "-sha256", "-verify", key.pub_pem, *pss,
                     "-signature", sig, m.data,
                     what=f"verifying {label}'s signature")
        else:
            software(d, "pkeyutl", "-verify", "-pubin", "-inkey",
                     key.pub_pem, "-in", m.digest, "-sigfile", sig,
                     what=f"verifying {label}'s signature of the digest")
    return proc, check, SOFT_TOKEN


def pubout(h, m, lies, label, type):
    key = h.keys[label]
    proc = h.openssl(lies, "pkey", *(["-pubin"] if type == "public" else []),
                     "-in", h.uri(label, type, pin=type != "public"),
                     "-pubout")

    def check():
        assert proc.stdout == key.pub_pem.read_text(), (
            "exit 0 with another public key than the token's\n--- the "
            f"token's:\n{key.pub_pem.read_text()}" + describe(proc))
    return proc, check, SOFT_TOKEN


def certs(h, m, lies, label):
    key = h.keys[label]
    proc = h.openssl(lies, "storeutl", "-certs", h.uri(label, None, False))

    def check():
        assert pem_certs(proc.stdout) == [pem_cert_file(key.cert_pem)], (
            "exit 0 without exactly the token's certificate\n"
            + describe(proc))
    return proc, check, SOFT_TOKEN


def derive(h, m, lies):
    out = h.dir / "secret.bin"
    proc = h.openssl(lies, "pkeyutl", "-derive", "-inkey", h.uri("ec-p256"),
                     "-peerkey", m.peer_pub, "-out", out)

    def check():
        got = out.read_bytes() if out.exists() else b""
        assert got == m.secret, (
            f"exit 0 with a secret of {len(got)} bytes that is not the "
            f"software side's ({len(m.secret)} bytes)\n" + describe(proc))
    return proc, check, SOFT_TOKEN


def decrypt(h, m, lies, scheme):
    plain, ct = m.ciphertexts[scheme]
    out = h.dir / "plain.out"
    proc = h.openssl(lies, "pkeyutl", "-decrypt", "-inkey", h.uri("rsa2048"),
                     "-in", ct, "-out", out,
                     *opts("-pkeyopt", SCHEMES[scheme]))

    def check():
        got = out.read_bytes() if out.exists() else b""
        assert got == plain, (
            f"exit 0 with {len(got)} bytes that are not the plaintext "
            f"({len(plain)} bytes)\n" + describe(proc))
    return proc, check, SOFT_TOKEN


def gen_objects(gen, label):
    """The classes of the objects labelled label on p11prov-gen."""
    listed = run(["pkcs11-tool", "--module", SOFTHSM_MODULE, "--slot",
                  gen.slot, "--login", "--pin", gen.pin, "-O"], gen.env,
                 preload=False)
    assert listed.returncode == 0, describe(listed)
    return sorted(o["class"] for o in pkcs11_tool_objects(listed.stdout)
                  if o["label"] == label)


def gen_public_key(gen, label, directory):
    """The new key's public key as GnuTLS p11tool exports it (PEM)."""
    pub = directory / f"{label}.pub.pem"
    proc = run(["p11tool", "--provider", SOFTHSM_MODULE, "--login",
                "--export-pubkey",
                f"pkcs11:token={gen.label};object={label};type=public",
                "--outfile", pub], {**gen.env, "GNUTLS_PIN": gen.pin},
               preload=False)
    assert proc.returncode == 0, describe(proc)
    return pub


def gen_uri(gen, label):
    return f"pkcs11:token={gen.label};object={label}?pin-value={gen.pin}"


def keygen(h, m, lies):
    """genpkey of an EC P-256 key on p11prov-gen; check(): one key pair
    with that label exists and the key file signs (through SoftHSM
    directly), verified with the public key p11tool exports."""
    gen, label, key_file = h.gen_token(), f"hostile-{next(_SERIAL)}", \
        h.dir / "key.pem"
    proc = h.openssl(lies, "genpkey", "-propquery", "provider=pkcs11",
                     "-algorithm", "EC", "-pkeyopt",
                     "ec_paramgen_curve:P-256", "-pkeyopt",
                     f"pkcs11_uri:{gen_uri(gen, label)}", "-out", key_file)

    def check():
        made = gen_objects(gen, label)
        assert made == ["Private Key", "Public Key"], (
            f"objects labelled {label}: {made}\n" + describe(proc))
        pub, sig = gen_public_key(gen, label, h.dir), h.dir / "gen.sig"
        signed = h.runner("dgst", "-sha256", "-sign", key_file, "-passin",
                          f"pass:{gen.pin}", "-out", sig, m.data,
                          env={**gen.env, "PKCS11PROV_MODULE": SOFTHSM_MODULE})
        assert_ok(signed)
        software(h.dir, "dgst", "-sha256", "-verify", pub, "-signature", sig,
                 m.data, what="verifying a signature of the new key")
    return proc, check, gen.label


def req_newkey(h, m, lies):
    """`req -new -newkey` with the key made on p11prov-gen: the new
    public key is read back in the same process and goes into the CSR;
    check(): the CSR's self-signature verifies and its key is the one
    p11tool exports."""
    gen, label = h.gen_token(), f"hostile-{next(_SERIAL)}"
    csr = h.dir / "req.csr"
    proc = h.openssl(lies, "req", "-new", "-propquery", "provider=pkcs11",
                     "-newkey", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-pkeyopt", f"pkcs11_uri:{gen_uri(gen, label)}",
                     "-nodes", "-keyout", h.dir / "key.pem", "-subj",
                     "/CN=hostile", "-out", csr)

    def check():
        pub = gen_public_key(gen, label, h.dir)
        assert verify_csr(h.dir, csr) == pem_blocks(pub.read_text(),
                                                    "PUBLIC KEY"), (
            "the CSR does not hold the new key's public key\n"
            + describe(proc))
    return proc, check, gen.label


OPS = {
    "sign-rsa": lambda h, m, lies: sign(h, m, lies, "rsa2048"),
    "sign-ec": lambda h, m, lies: sign(h, m, lies, "ec-p256"),
    "sign-rsa-pss": lambda h, m, lies: sign(h, m, lies, "rsa2048", "pss"),
    "sign-ed25519": lambda h, m, lies: sign(h, m, lies, "ed25519", "rawin"),
    "pkeyutl-sign-rsa": lambda h, m, lies: sign(h, m, lies, "rsa2048",
                                                "pkeyutl"),
    "pkeyutl-sign-ec": lambda h, m, lies: sign(h, m, lies, "ec-p256",
                                               "pkeyutl"),
    "pubout-rsa": lambda h, m, lies: pubout(h, m, lies, "rsa2048",
                                            "private"),
    "pubout-ec": lambda h, m, lies: pubout(h, m, lies, "ec-p256", "private"),
    "pubin-rsa": lambda h, m, lies: pubout(h, m, lies, "rsa2048", "public"),
    "pubin-ec": lambda h, m, lies: pubout(h, m, lies, "ec-p256", "public"),
    "certs-ec": lambda h, m, lies: certs(h, m, lies, "ec-p256"),
    "derive-ec": derive,
    "decrypt-pkcs1": lambda h, m, lies: decrypt(h, m, lies, "pkcs1"),
    "decrypt-oaep": lambda h, m, lies: decrypt(h, m, lies, "oaep"),
    "keygen-ec": keygen,
    "req-newkey-ec": req_newkey,
}


# ---- judging an outcome ----------------------------------------------------

@dataclass(frozen=True)
class Case:
    lies: str             # P11HOSTILE
    op: str               # a key of OPS
    expect: str = EITHER  # FAIL: only a clean failure is right
    needles: tuple = ()   # besides the URI, all in the provider's error
    any_of: tuple = ()    # one of these too
    must_fire: bool = True
    # The lie answers every call alike (a list that never fits, a search
    # that never ends, a login that never holds): the provider must give
    # up after at most REPEAT_BOUND of its answers.
    repeats: bool = False

    @property
    def id(self):
        return f"{self.lies}@{self.op}"


def assert_clean_failure(proc, token, needles=(), any_of=()):
    """A non-zero exit without a crash, an error line from the provider
    naming the URI of token, and the needles (case-insensitive)."""
    assert_no_crash(proc)
    assert proc.returncode != 0, "expected a failure\n" + describe(proc)
    text = provider_text(proc)
    named = [line for line in text.splitlines()
             if "pkcs11:" in line and f"token={token}" in line]
    assert named, (f"no error from the provider naming the URI of token "
                   f"{token}\n" + describe(proc))
    missing = [n for n in needles if n.lower() not in text.lower()]
    assert not missing, f"the error lacks {missing}\n" + describe(proc)
    if any_of:
        assert any(a.lower() in text.lower() for a in any_of), (
            f"the error names none of {list(any_of)}\n" + describe(proc))


def run_case(hostile, material, case):
    proc, check, token = OPS[case.op](hostile, material, case.lies)
    fired = hostile.fired()
    lie_names = {item.split(":")[0] for item in case.lies.split(",")}
    changed = sum(n for (lie, _), n in fired.items() if lie in lie_names)
    summary = f"answers the lies changed: {dict(fired)}\n" + describe(proc)
    if case.must_fire:
        assert changed > 0, ("the lie changed no answer: the case tests "
                             "nothing\n" + summary)
    if case.repeats:
        assert changed <= REPEAT_BOUND, (
            f"the provider took {changed} answers of a lie that repeats "
            f"forever (at most {REPEAT_BOUND})\n" + describe(proc))
    assert_no_crash(proc)
    if proc.returncode == 0 and case.expect == EITHER:
        check()
        return
    assert_clean_failure(proc, token, case.needles, case.any_of)


def test_broken_public_key_asked_for_as_private(hostile):
    """A public-key URI read where a private key is expected: the object
    is still read, so a broken attribute is the error. (OpenSSL 3.5's
    `pkey -pubin` asks quietly for a public key, drops that attempt's
    errors, and asks again for a private key: this is what its user
    sees.)"""
    proc = hostile.openssl("attr-overlong:CKA_EC_POINT", "pkey", "-in",
                           hostile.uri("ec-p256", "public", pin=False),
                           "-pubout")
    assert hostile.fired(), "the lie changed no answer\n" + describe(proc)
    assert_clean_failure(proc, SOFT_TOKEN, (GET_ATTR, "CKA_EC_POINT"))


# ---- the module checks its own configuration ---------------------------------

def test_pass_through_is_faithful(hostile, material):
    """Without lies every operation succeeds with the right result."""
    for name, op in OPS.items():
        proc, check, _ = op(hostile, material, "")
        assert_ok(proc)
        check()
        assert not hostile.fired(), name


@pytest.mark.parametrize("lies", [
    "no-such-lie",
    "sign-empty:C_Sign",          # takes no argument
    "vendor-ckr",                 # needs a function
    "vendor-ckr:C_Sgn",
    "attr-overlong:CKA_NO_SUCH",
    "sign-empty,sign-empty",      # twice
])
def test_malformed_lies_fail_initialize(hostile, material, lies):
    proc, _, _ = sign(hostile, material, lies, "ec-p256")
    assert_no_crash(proc)
    assert proc.returncode != 0, describe(proc)
    assert "p11hostile: P11HOSTILE: " in proc.stderr, describe(proc)
    assert "CKR_GENERAL_ERROR" in provider_text(proc), describe(proc)
    assert not hostile.fired(), describe(proc)


def test_real_module_required(hostile, material):
    hostile.env.pop("P11HOSTILE_MODULE")
    proc, _, _ = sign(hostile, material, "sign-empty", "ec-p256")
    assert_no_crash(proc)
    assert proc.returncode != 0, describe(proc)
    assert "p11hostile: P11HOSTILE_MODULE" in proc.stderr, describe(proc)


# ---- the lies ------------------------------------------------------------------

GET_ATTR = "C_GetAttributeValue"
VENDOR = ("CKR_VENDOR_DEFINED+0x123", "0x80000123")
UNDEFINED = ("CKR_0x777", "0x777")

CASES = [
    # slots
    Case("slots-duplicate", "sign-ec"),
    Case("slots-zero-then-more", "sign-ec", FAIL),
    Case("slots-too-small-forever", "sign-ec", FAIL, ("C_GetSlotList",),
         repeats=True),
    # mechanisms and tokens
    Case("mechs-grow", "derive-ec", FAIL, ("C_GetMechanismList",)),
    # The provider need not ask for mechanism information.
    Case("mech-info-inverted", "keygen-ec", must_fire=False),
    Case("token-info-garbage", "sign-ec", FAIL),
    # sessions
    Case("session-invalid-handle", "sign-ec", FAIL, ("C_OpenSession",)),
    Case("login-noop", "sign-ec", FAIL, repeats=True),
    # objects
    Case("find-overflow", "sign-ec", FAIL, ("C_FindObjects",)),
    Case("find-overflow", "certs-ec", FAIL, ("C_FindObjects",)),
    Case("find-forever", "sign-ec", repeats=True),
    Case("find-forever", "certs-ec", repeats=True),
    Case("find-invalid-handle", "sign-ec", FAIL, ("C_FindObjects",)),
    Case("find-invalid-handle", "certs-ec", FAIL, ("C_FindObjects",)),
    # attribute lengths
    Case("attr-overlong:CKA_MODULUS", "pubout-rsa", FAIL,
         (GET_ATTR, "CKA_MODULUS")),
    Case("attr-overlong:CKA_EC_POINT", "pubin-ec", FAIL,
         (GET_ATTR, "CKA_EC_POINT")),
    Case("attr-overlong:CKA_VALUE", "certs-ec", FAIL,
         (GET_ATTR, "CKA_VALUE")),
    Case("attr-overlong:CKA_KEY_TYPE", "sign-ec", FAIL,
         (GET_ATTR, "CKA_KEY_TYPE")),
    Case("attr-overlong:CKA_CLASS", "sign-ec", FAIL,
         (GET_ATTR, "CKA_CLASS")),
    Case("attr-unavailable-ok:CKA_MODULUS", "pubout-rsa"),
    Case("attr-unavailable-ok:CKA_EC_PARAMS", "sign-ec"),
    Case("attr-unavailable-ok:CKA_CLASS", "sign-ec"),
    Case("attr-padded:CKA_EC_POINT", "pubin-ec"),
    Case("attr-padded:CKA_MODULUS", "pubout-rsa"),
    Case("attr-padded:CKA_VALUE", "certs-ec"),
    Case("attr-absurd-len:CKA_ID", "sign-ec"),
    Case("attr-absurd-len:CKA_LABEL", "certs-ec"),
    Case("attr-absurd-len:CKA_EC_POINT", "pubin-ec"),
    Case("attr-absurd-len", "pubout-rsa"),
    # attribute values: RSA
    Case("modulus-even", "pubout-rsa"),
    # A private key object carries no CKA_MODULUS_BITS to contradict a
    # modulus shortened consistently: its public part is what the module
    # says (seen and left alone), but no signature of the wrong size gets
    # out, and the public key object's CKA_MODULUS_BITS exposes it.
    Case("modulus-short", "pubin-rsa"),
    Case("modulus-short", "sign-rsa", FAIL, ("C_Sign",)),
    # The provider need not read CKA_MODULUS_BITS (modulus-short lies
    # about the modulus against it).
    Case("modulus-bits-wrong", "pubout-rsa", must_fire=False),
    # A public key object without its modulus (its public part then comes
    # from the certificate) is held to a CKA_MODULUS_BITS no key can have,
    # whose low 32 bits are right (found by fuzz_key_attributes).
    Case("attr-unavailable-ok:CKA_MODULUS,modulus-bits-absurd", "pubin-rsa",
         FAIL, ("CKA_MODULUS_BITS",)),
    Case("modulus-1-byte", "pubin-rsa"),
    Case("modulus-even", "sign-rsa"),
    Case("modulus-1-byte", "sign-rsa"),
    Case("exponent-even", "pubout-rsa"),
    Case("exponent-empty", "pubin-rsa"),
    Case("exponent-one", "decrypt-oaep"),
    # attribute values: EC
    Case("ec-params-garbage", "pubout-ec"),
    Case("ec-params-trailing", "pubout-ec"),
    Case("ec-params-unknown-oid", "pubout-ec"),
    Case("ec-params-garbage", "sign-ec"),
    Case("ec-params-unknown-oid", "derive-ec"),
    Case("ec-point-off-curve", "pubin-ec"),
    Case("ec-point-off-curve", "pubout-ec"),
    Case("ec-point-short", "pubin-ec"),
    Case("ec-point-bad-der", "pubin-ec"),
    Case("ec-point-raw", "pubin-ec"),
    # attribute values: types, classes, certificates
    Case("key-type-unknown", "sign-ec"),
    Case("key-type-unknown", "pubout-rsa"),
    Case("class-unknown", "pubout-ec"),
    Case("class-unknown", "sign-rsa"),
    Case("cert-truncated", "certs-ec"),
    Case("cert-garbage", "certs-ec"),
    # ECDH secrets
    Case("ecdh-secret-long", "derive-ec", FAIL, ("CKA_VALUE",)),
    # signatures
    Case("sign-short", "sign-rsa", FAIL, ("C_Sign",)),
    Case("sign-all-ff", "sign-rsa", FAIL, ("C_Sign",)),
    Case("sign-empty", "sign-ec", FAIL, ("C_Sign",)),
    Case("sign-short", "sign-ec", FAIL, ("C_Sign",)),
    Case("sign-long", "sign-ec", FAIL, ("C_Sign",)),
    Case("sign-long", "pkeyutl-sign-ec", FAIL, ("C_Sign",)),
    Case("sign-all-ff", "sign-ec", FAIL, ("C_Sign",)),
    Case("sign-zero-r", "sign-ec", FAIL, ("C_Sign",)),
    Case("sign-zero-s", "pkeyutl-sign-ec", FAIL, ("C_Sign",)),
    Case("sign-long", "sign-rsa-pss", FAIL, ("C_Sign",)),
    Case("sign-all-ff", "sign-rsa-pss", FAIL, ("C_Sign",)),
    Case("sign-short", "sign-ed25519", FAIL, ("C_Sign",)),
    Case("sign-long", "sign-ed25519", FAIL, ("C_Sign",)),
    # The provider need not make a size query.
    Case("sign-length-query-short", "sign-rsa", must_fire=False),
    Case("sign-too-small-forever", "sign-ec", FAIL, ("C_Sign",),
         repeats=True),
    # decryption
    Case("decrypt-over-modulus", "decrypt-pkcs1", FAIL, ("C_Decrypt",)),
    Case("decrypt-over-modulus", "decrypt-oaep", FAIL, ("C_Decrypt",)),
    Case("decrypt-over-padding", "decrypt-oaep", FAIL, ("C_Decrypt",)),
    # key pairs
    Case("keygen-invalid-handle", "keygen-ec", FAIL,
         ("C_GenerateKeyPair",)),
    Case("keygen-same-handle", "keygen-ec", FAIL, ("C_GenerateKeyPair",)),
    Case("keygen-public-garbage", "req-newkey-ec"),
    # codes PKCS#11 does not define
    Case("vendor-ckr:C_Initialize", "sign-ec", FAIL, ("C_Initialize",),
         VENDOR),
    Case("vendor-ckr:C_Login", "sign-ec", FAIL, ("C_Login",), VENDOR),
    Case("vendor-ckr:C_GetAttributeValue", "pubout-ec", FAIL, (GET_ATTR,),
         VENDOR),
    Case("vendor-ckr:C_Sign", "sign-ec", FAIL, ("C_Sign",), VENDOR),
    Case("undefined-ckr:C_FindObjects", "certs-ec", FAIL,
         ("C_FindObjects",), UNDEFINED),
    Case("undefined-ckr:C_DeriveKey", "derive-ec", FAIL, ("C_DeriveKey",),
         UNDEFINED),
    Case("undefined-ckr:C_Decrypt", "decrypt-oaep", FAIL, ("C_Decrypt",),
         UNDEFINED),
    Case("undefined-ckr:C_GenerateKeyPair", "keygen-ec", FAIL,
         ("C_GenerateKeyPair",), UNDEFINED),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_lie(hostile, material, case):
    run_case(hostile, material, case)


# ---- the four bugs of issue 14 ---------------------------------------------------

@pytest.mark.parametrize("op", ["sign-ec", "pubout-rsa"])
def test_regression_slot_array_over_read(hostile, material, op):
    """The second C_GetSlotList reported more slots than the first with
    CKR_OK: p11prov_tokens_find read past the slot array."""
    run_case(hostile, material,
             Case("slots-grow", op, FAIL, ("C_GetSlotList",)))


@pytest.mark.parametrize("lie", ["ecdh-secret-0", "ecdh-secret-1",
                                 "ecdh-secret-16"])
def test_regression_truncated_ecdh_secret(hostile, material, lie):
    """CKA_VALUE of the derived key came back shorter than the field (32
    bytes for P-256): pkeyutl -derive exited 0 with that short secret."""
    run_case(hostile, material, Case(lie, "derive-ec", FAIL, ("CKA_VALUE",)))


@pytest.mark.parametrize("op", ["sign-rsa", "pkeyutl-sign-rsa"])
@pytest.mark.parametrize("lie", ["sign-empty", "sign-long"])
def test_regression_rsa_signature_wrong_length(hostile, material, lie, op):
    """C_Sign answered CKR_OK with 0 bytes or more than the modulus:
    dgst -sign exited 0 and wrote that signature."""
    run_case(hostile, material, Case(lie, op, FAIL, ("C_Sign",)))


@pytest.mark.parametrize("op", ["pubout-rsa", "pubin-rsa"])
@pytest.mark.parametrize("lie", ["modulus-empty", "modulus-1-byte",
                                 "exponent-one"])
def test_regression_rsa_public_key_sanity(hostile, material, lie, op):
    """A truncated CKA_MODULUS or CKA_PUBLIC_EXPONENT gave `Modulus: 0`, an
    8-bit modulus or `Exponent: 1`, printed by pkey -pubout with exit 0.
    Success is right only with the token's real public key."""
    run_case(hostile, material, Case(lie, op))
