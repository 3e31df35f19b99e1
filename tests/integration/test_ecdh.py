"""ECDH with EC keys on the token: `openssl pkeyutl -derive -inkey TOKEN_URI
-peerkey PEER` does C_DeriveKey(CKM_ECDH1_DERIVE, CKD_NULL) with the peer's
uncompressed point. Every result is checked against a derivation the
provider has no part in: `openssl pkeyutl -derive -inkey peer.key -peerkey
TOKEN_PUB.pem` WITHOUT the provider (the other side), or `pkcs11-tool
--derive` when both keys are on tokens, and the X9.63 KDF also against
hashlib. Curves P-256, P-384 and P-521 on SoftHSM; the KDF options
kdf-type, kdf-digest, kdf-outlen and kdf-ukm; the cofactor-mode parameter;
a peer public key on another token; what reaches the token (pkcs11-spy);
the C program ecdh_derive (EVP_PKEY_derive, OSSL_EXCHANGE_PARAM_KDF_*); and
the clear errors: curve mismatch, a key without CKA_DERIVE (pin-p256).
tpm2-pkcs11: 1.9.0 offers no CKM_ECDH1_DERIVE (a clear error; the
configuration key pkcs11-module-unlisted-mechanisms makes the provider try
anyway, and the module answers CKR_FUNCTION_NOT_SUPPORTED); 1.9.1 derives,
in read-write sessions only."""
import hashlib
import re

import pytest

from helpers import (SOFTHSM_MODULE, TPM2_MODULE, OpensslRunner, assert_ok,
                     describe, mock_calls, run)
from keyops import (assert_clear_error, assert_hidden, run_c, software,
                    spy_calls, spy_env, spy_names, spy_summary, token_key)
from mechanisms import CKM_ECDH1_DERIVE, token_attribute_false, token_key_allows
from tokens import DISTINCT_PIN

# token key: (curve, bytes of the shared secret)
CURVES = {"ec-p256": ("P-256", 32), "ec-p384": ("P-384", 48),
          "ec-p521": ("P-521", 66)}
EC_KEYS = list(CURVES)
X963 = ("kdf-type:X963KDF",)


def opts(flag, values):
    return [arg for value in values for arg in (flag, value)]


def x963kdf(secret, digest, length, ukm=b""):
    """ANSI X9.63 KDF (SEC 1, 3.6.1), the independent check of the KDF."""
    out, counter = b"", 1
    while len(out) < length:
        out += hashlib.new(digest, secret + counter.to_bytes(4, "big")
                           + ukm).digest()
        counter += 1
    return out[:length]


def software_peer(directory, curve, name="peer"):
    """A software EC key pair: (private key PEM, public key PEM)."""
    key, pub = directory / f"{name}.key", directory / f"{name}.pub.pem"
    software(directory, "genpkey", "-algorithm", "EC", "-pkeyopt",
             f"ec_paramgen_curve:{curve}", "-out", key)
    software(directory, "pkey", "-in", key, "-pubout", "-out", pub)
    return key, pub


def software_derive(directory, key, peer_pub, pkeyopts=()):
    """The derivation from the other side, WITHOUT the provider."""
    out = directory / "software.bin"
    software(directory, "pkeyutl", "-derive", "-inkey", key, "-peerkey",
             peer_pub, *opts("-pkeyopt", pkeyopts), "-out", out,
             what="the software derivation")
    return out.read_bytes()


def token_derive(runner, key_uri, peer, directory, pkeyopts=(), env=None,
                 **kwargs):
    """`openssl pkeyutl -derive` with the provider: (process, output)."""
    out = directory / "token.bin"
    proc = runner("pkeyutl", "-derive", "-inkey", key_uri, "-peerkey", peer,
                  *opts("-pkeyopt", pkeyopts), "-out", out, env=env,
                  **kwargs)
    return proc, out


def derived(proc, out):
    assert_ok(proc)
    assert out.is_file() and out.stat().st_size > 0, (
        "exit 0 but no secret written\n" + describe(proc))
    return out.read_bytes()


def assert_no_secret(proc, out):
    assert not out.exists() or out.stat().st_size == 0, (
        f"{out.stat().st_size} bytes written by a failed derivation\n"
        + describe(proc))


def p256_point(pub_pem, directory):
    """04||X||Y of a P-256 public key: the last 65 bytes of its DER SPKI."""
    der = directory / "point.der"
    software(directory, "pkey", "-pubin", "-in", pub_pem, "-outform", "DER",
             "-out", der)
    point = der.read_bytes()[-65:]
    assert point[0] == 4, der.read_bytes().hex()
    return point


def hexdump_bytes(text):
    """The bytes of pkcs11-spy's hex dump lines ("    00000000  04 FE ...
    ..ASCII..")."""
    data = b""
    for line in text.splitlines():
        m = re.match(r"\s+[0-9a-fA-F]{8}  ((?:[0-9a-fA-F]{2} )*"
                     r"[0-9a-fA-F]{2})", line)
        if m:
            data += bytes.fromhex(m.group(1))
    return data


# ---- the shared secret equals the software derivation -----------------------

@pytest.mark.parametrize("label", EC_KEYS)
def test_derive_equals_software(openssl_prov, request, tmp_path, label):
    key = token_key(request, label)
    curve, size = CURVES[label]
    peer_key, peer_pub = software_peer(tmp_path, curve)
    secret = derived(*token_derive(openssl_prov, key.uri(), peer_pub,
                                   tmp_path, env=key.env))
    assert len(secret) == size, f"{len(secret)} bytes, not {size}"
    assert secret == software_derive(tmp_path, peer_key, key.key.pub_pem), \
        "the token's secret differs from the software derivation"


# (key, kdf-digest, kdf-outlen, UKM in hex or None)
KDF_CASES = [
    ("ec-p256", "SHA256", 48, None),
    ("ec-p256", "SHA256", 48, "a1b2c3d4e5f60718"),
    ("ec-p384", "SHA384", 100, "00ff"),
    ("ec-p521", "SHA512", 32, None),
]


@pytest.mark.parametrize("label, digest, outlen, ukm", KDF_CASES)
def test_derive_x963kdf(openssl_prov, request, tmp_path, label, digest,
                        outlen, ukm):
    """X9.63 KDF in software on the token's secret, as the default
    provider does it with the same -pkeyopt options (kdf-ukm given in hex:
    -pkeyopt hexkdf-ukm:HEX)."""
    key = token_key(request, label)
    peer_key, peer_pub = software_peer(tmp_path, CURVES[label][0])
    pkeyopts = [*X963, f"kdf-digest:{digest}", f"kdf-outlen:{outlen}"]
    if ukm is not None:
        pkeyopts.append(f"hexkdf-ukm:{ukm}")
    result = derived(*token_derive(openssl_prov, key.uri(), peer_pub,
                                   tmp_path, pkeyopts, env=key.env))
    assert len(result) == outlen, f"{len(result)} bytes, not {outlen}"
    want = software_derive(tmp_path, peer_key, key.key.pub_pem, pkeyopts)
    assert result == want, "differs from the software X9.63 derivation"
    secret = software_derive(tmp_path, peer_key, key.key.pub_pem)
    assert result == x963kdf(secret, digest.lower(), outlen,
                             bytes.fromhex(ukm or "")), \
        "differs from X9.63 computed with hashlib"


def test_cofactor_mode_accepted(openssl_prov, request, tmp_path):
    """ecdh_cofactor_mode:1 is accepted (P-256: cofactor 1, same secret)."""
    key = token_key(request, "ec-p256")
    peer_key, peer_pub = software_peer(tmp_path, "P-256")
    secret = derived(*token_derive(openssl_prov, key.uri(), peer_pub,
                                   tmp_path, ["ecdh_cofactor_mode:1"],
                                   env=key.env))
    assert secret == software_derive(tmp_path, peer_key, key.key.pub_pem)


def test_peer_public_key_on_another_token(openssl_prov, softhsm, tmp_path):
    """-peerkey is other-p256's public key on token p11prov-other; checked
    with pkcs11-tool --derive on other-p256 and ec-p256's public key."""
    key = softhsm.keys["ec-p256"]
    uri = f"{key.uri};type=private?pin-value={softhsm.pin}"
    peer = "pkcs11:token=p11prov-other;object=other-p256;type=public"
    secret = derived(*token_derive(
        openssl_prov, uri, peer, tmp_path,
        env={**softhsm.env, "PKCS11PROV_MODULE": SOFTHSM_MODULE}))
    der, check = tmp_path / "ec-p256.pub.der", tmp_path / "check.bin"
    software(tmp_path, "pkey", "-pubin", "-in", key.pub_pem, "-outform",
             "DER", "-out", der)
    proc = run(["pkcs11-tool", "--module", SOFTHSM_MODULE, "--slot",
                softhsm.slots[softhsm.other_token], "--login", "--pin",
                softhsm.pin, "--derive", "-m", "ECDH1-DERIVE", "--id",
                softhsm.keys["other-p256"].id_hex, "-i", der, "-o", check],
               softhsm.env, preload=False)
    assert proc.returncode == 0, "pkcs11-tool --derive failed\n" + \
        describe(proc)
    assert secret == check.read_bytes(), "differs from pkcs11-tool --derive"


# ---- what reaches the token -------------------------------------------------

def test_derive_call_on_the_token(provider_module, softhsm, tmp_path):
    """One C_DeriveKey: CKM_ECDH1_DERIVE, CKD_NULL, no shared data, the
    peer's raw uncompressed point; a session-only, extractable, non-sensitive
    CKO_SECRET_KEY/CKK_GENERIC_SECRET that is destroyed afterwards."""
    key = softhsm.keys["ec-p256"]
    peer_key, peer_pub = software_peer(tmp_path, "P-256")
    log = tmp_path / "spy.log"
    secret = derived(*token_derive(
        OpensslRunner("config", tmp_path),
        f"{key.uri};type=private?pin-value={softhsm.pin}", peer_pub,
        tmp_path, env={**softhsm.env, **spy_env(SOFTHSM_MODULE, log)}))
    assert secret == software_derive(tmp_path, peer_key, key.pub_pem)
    calls = spy_calls(log)
    derives = [text for name, text in calls if name == "C_DeriveKey"]
    assert len(derives) == 1, spy_summary(log)
    text = derives[0]
    for needle in ("pMechanism->type = CKM_ECDH1_DERIVE",
                   "pParameter->kdf = CKD_NULL", "Returned:  0 CKR_OK"):
        assert needle in text, f"{needle!r} not in C_DeriveKey:\n{text}"
    m = re.search(r"pPublicData\[ulPublicDataLen\] = \S+ / (\d+)\n"
                  r"((?:\s+[0-9a-fA-F]{8}  .*\n)+)", text)
    assert m, f"no peer point in C_DeriveKey:\n{text}"
    assert hexdump_bytes(m.group(2)) == p256_point(peer_pub, tmp_path), (
        "the peer was not passed as its raw uncompressed point (04||X||Y)"
        f"\n{text}")
    template = text.split("pTemplate", 1)[-1]
    for attribute, value in (("CKA_TOKEN", "False"),
                             ("CKA_CLASS", "CKO_SECRET_KEY"),
                             ("CKA_KEY_TYPE", "CKK_GENERIC_SECRET"),
                             ("CKA_SENSITIVE", "False"),
                             ("CKA_EXTRACTABLE", "True")):
        assert re.search(rf"^\s+{attribute}\s+{value}\b", template, re.M), \
            f"{attribute} is not {value} in the template:\n{text}"
    handle = re.search(r"\[out\] hKey = (0x[0-9a-fA-F]+)", text).group(1)
    after = calls[[name for name, _ in calls].index("C_DeriveKey") + 1:]
    destroyed = [t for name, t in after if name == "C_DestroyObject"
                 and re.search(rf"hObject = {handle}\b", t)]
    assert destroyed, (f"the derived secret {handle} was not destroyed\n"
                       + spy_summary(log))


# ---- the C program ----------------------------------------------------------

@pytest.mark.parametrize("label", EC_KEYS)
def test_c_ecdh_derive(request, tmp_path, label):
    """ecdh_derive checks EVP_PKEY_derive (raw, X963KDF SHA256 with a UKM,
    X963KDF SHA512) against the default provider in the other direction;
    its peer key and results are checked here again, without the
    provider."""
    key = token_key(request, label)
    size = CURVES[label][1]
    proc = assert_ok(run_c("ecdh_derive", ["--out-dir", tmp_path, key.uri()],
                           key.env, tmp_path))
    for line in (f"raw: {size} bytes, equal", "x963: 48 bytes, equal",
                 "x963-512: 80 bytes, equal"):
        assert line in proc.stdout.splitlines(), describe(proc)
    ukm = re.search(r"^ukm: ([0-9a-f]+)$", proc.stdout, re.M).group(1)
    peer = tmp_path / "peer.key"
    raw = software_derive(tmp_path, peer, key.key.pub_pem)
    assert (tmp_path / "raw.bin").read_bytes() == raw
    x963 = (tmp_path / "x963.bin").read_bytes()
    assert x963 == software_derive(
        tmp_path, peer, key.key.pub_pem,
        [*X963, "kdf-digest:SHA256", "kdf-outlen:48", f"hexkdf-ukm:{ukm}"])
    assert x963 == x963kdf(raw, "sha256", 48, bytes.fromhex(ukm))


# ---- clear errors -----------------------------------------------------------

@pytest.mark.parametrize("label, peer", [
    ("ec-p256", "P-384"),
    ("ec-p521", "P-256"),
    ("ec-p384", "pkcs11:token=p11prov-other;object=other-p256;type=public"),
])
def test_curve_mismatch(openssl_prov, request, tmp_path, label, peer):
    key = token_key(request, label)
    if not peer.startswith("pkcs11:"):
        peer = software_peer(tmp_path, peer)[1]
    proc, out = token_derive(openssl_prov, key.uri(), peer, tmp_path,
                             env=key.env)
    assert_clear_error(proc, any_of=("curve", "mismatch", "P-256", "P-384",
                                     "prime256v1", "secp384r1",
                                     "domain parameters"))
    assert_no_secret(proc, out)


def test_key_without_cka_derive(openssl_prov, softhsm, tmp_path):
    """pin-p256 has CKA_DERIVE false (checked here with pkcs11-tool)."""
    proc = run(["pkcs11-tool", "--module", SOFTHSM_MODULE, "--slot",
                softhsm.slots[softhsm.pin_token], "--login", "--pin",
                DISTINCT_PIN, "-O", "--type", "privkey"], softhsm.env,
               preload=False)
    usage = re.search(r"label:\s+pin-p256\n(?:.*\n)*?\s+Usage:\s+(.*)",
                      proc.stdout)
    assert usage and "derive" not in usage.group(1), describe(proc)
    _, peer_pub = software_peer(tmp_path, "P-256")
    uri = ("pkcs11:token=p11prov-pin;object=pin-p256;type=private"
           f"?pin-value={DISTINCT_PIN}")
    proc, out = token_derive(
        openssl_prov, uri, peer_pub, tmp_path,
        env={**softhsm.env, "PKCS11PROV_MODULE": SOFTHSM_MODULE})
    assert_clear_error(proc, "object=pin-p256", any_of=(
        "CKA_DERIVE", "CKR_KEY_FUNCTION_NOT_PERMITTED", "cannot derive",
        "not allowed to derive"))
    assert_hidden(proc, DISTINCT_PIN)
    assert_no_secret(proc, out)


# ---- tpm2-pkcs11 1.9.0: no CKM_ECDH1_DERIVE ---------------------------------

TPM_DERIVE_LABEL, TPM_DERIVE_ID = "tpm-derive", "0d"


@pytest.fixture(scope="module")
def tpm_derive_key(tpm):
    """An EC P-256 key with CKA_DERIVE true on the TPM token (tpm-p256 has
    CKA_DERIVE false), deleted after this module: other tests count the
    TPM token's objects."""
    tool = ["pkcs11-tool", "--module", TPM2_MODULE, "--slot", str(tpm.slot),
            "--login", "--pin", tpm.pin]

    def step(*args, check=True):
        proc = run([*tool, *args], tpm.env, preload=False)
        tpm.flush()
        assert proc.returncode == 0 or not check, describe(proc)

    step("--keypairgen", "--key-type", "EC:prime256v1", "--label",
         TPM_DERIVE_LABEL, "--id", TPM_DERIVE_ID, "--usage-sign",
         "--usage-derive")
    yield (f"pkcs11:token={tpm.token};object={TPM_DERIVE_LABEL};"
           f"type=private?pin-value={tpm.pin}")
    for kind in ("privkey", "pubkey"):
        step("--delete-object", "--type", kind, "--id", TPM_DERIVE_ID,
             check=False)


def tpm_spy_env(tpm, log):
    return {**tpm.env, **spy_env(TPM2_MODULE, log)}


@pytest.fixture(scope="module")
def tpm_lists_ecdh(tpm, tpm_derive_key):
    """Whether this tpm2-pkcs11 implements ECDH, as the module says: the
    EC key's CKA_ALLOWED_MECHANISMS lists CKM_ECDH1_DERIVE from 1.9.1
    (Debian 13) on, which still leaves it out of C_GetMechanismList; 1.9.0
    (Debian 12) lists ECDSA only and has no C_DeriveKey."""
    return token_key_allows(tpm, TPM_DERIVE_LABEL, CKM_ECDH1_DERIVE)


def test_tpm_ecdh(openssl_prov, tpm_clean, tpm_derive_key, tpm_lists_ecdh,
                  tmp_path):
    """A TPM key with CKA_DERIVE: where the module offers ECDH (1.9.1) the
    secret equals the software derivation, with no configuration, although
    its C_DeriveKey works only in a read-write session; where it does not
    (1.9.0), a clear error names the mechanism and the token is not asked."""
    peer_key, peer_pub = software_peer(tmp_path, "P-256")
    log = tmp_path / "spy.log"
    proc, out = token_derive(openssl_prov, tpm_derive_key, peer_pub,
                             tmp_path, env=tpm_spy_env(tpm_clean, log))
    if not tpm_lists_ecdh:
        assert_clear_error(proc, "CKM_ECDH1_DERIVE", "p11prov-tpm")
        assert "C_DeriveKey" not in spy_names(log), spy_summary(log)
        assert_no_secret(proc, out)
        return
    secret = derived(proc, out)
    token_pub = tmp_path / "token.pub.pem"
    assert_ok(openssl_prov("pkey", "-in", tpm_derive_key, "-pubout", "-out",
                           token_pub, env=tpm_clean.env))
    assert len(secret) == 32
    assert secret == software_derive(tmp_path, peer_key, token_pub)
    # Learned once per token: at most one read-only attempt.
    assert spy_names(log).count("C_DeriveKey") <= 2, spy_summary(log)


def test_tpm_key_without_derive(openssl_prov, tpm_clean, tpm_lists_ecdh,
                                tmp_path):
    """tpm-p256 is made with --usage-sign only: where the module offers
    ECDH the error says the key cannot derive (its CKA_DERIVE, read from
    the module, is false), else that the token offers no ECDH. The token
    is not asked to derive either way."""
    uri = (f"pkcs11:token={tpm_clean.token};object=tpm-p256;type=private"
           f"?pin-value={tpm_clean.pin}")
    assert token_attribute_false(tpm_clean, "tpm-p256", "CKA_DERIVE")
    _, peer_pub = software_peer(tmp_path, "P-256")
    log = tmp_path / "spy.log"
    proc, out = token_derive(openssl_prov, uri, peer_pub, tmp_path,
                             env=tpm_spy_env(tpm_clean, log))
    if tpm_lists_ecdh:
        assert_clear_error(proc, "CKA_DERIVE is false", "tpm-p256")
    else:
        assert_clear_error(proc, "CKM_ECDH1_DERIVE", "p11prov-tpm")
    assert "C_DeriveKey" not in spy_names(log), spy_summary(log)
    assert_no_secret(proc, out)


@pytest.mark.parametrize("unlisted", [
    "CKM_ECDH1_DERIVE",
    "CKM_RSA_PKCS_PSS, CKM_ECDH1_DERIVE",
    "CKM_RSA_PKCS_PSS CKM_ECDH1_DERIVE",
])
def test_tpm_unlisted_mechanism_tried(provider_module, tpm_clean,
                                      tpm_derive_key, tpm_lists_ecdh,
                                      tmp_path, unlisted):
    """pkcs11-module-unlisted-mechanisms = CKM_ECDH1_DERIVE: the provider
    calls C_DeriveKey whether or not the module lists it. tpm2-pkcs11 1.9.0
    answers CKR_FUNCTION_NOT_SUPPORTED, which the error names; 1.9.1
    derives."""
    _, peer_pub = software_peer(tmp_path, "P-256")
    log = tmp_path / "spy.log"
    proc, out = token_derive(
        OpensslRunner("config", tmp_path), tpm_derive_key, peer_pub,
        tmp_path, env=tpm_spy_env(tpm_clean, log),
        cnf={"pkcs11-module-unlisted-mechanisms": unlisted})
    assert "C_DeriveKey" in spy_names(log), (
        "the token was not asked\n" + spy_summary(log))
    if tpm_lists_ecdh:
        assert len(derived(proc, out)) == 32
    else:
        assert_clear_error(proc, "CKR_FUNCTION_NOT_SUPPORTED")
        assert_no_secret(proc, out)


@pytest.mark.parametrize("mechanism_list", ["listed", "unreadable"])
def test_mechanism_list_read_once(openssl_prov, mock_module, tmp_path,
                                  mechanism_list):
    """The mock lists CKM_ECDSA and CKM_RSA_PKCS only: ECDH is refused as
    not offered. When C_GetMechanismList fails, the token cannot say, so
    the mechanism is not held against it: the check passes and the next
    one (the mock key has no CKA_DERIVE) refuses. Either way the list is
    asked for once."""
    log = tmp_path / "calls.log"
    env = {"PKCS11PROV_MODULE": mock_module, "P11MOCK_LOG": log}
    if mechanism_list == "unreadable":
        env["P11MOCK_FAIL"] = "C_GetMechanismList:CKR_FUNCTION_FAILED"
    _, peer_pub = software_peer(tmp_path, "P-256")
    proc, out = token_derive(
        openssl_prov,
        "pkcs11:token=mock-token;object=mock-key;type=private?pin-value=1234",
        peer_pub, tmp_path, env=env)
    if mechanism_list == "listed":
        assert_clear_error(proc, "does not offer ECDH", "CKM_ECDH1_DERIVE")
    else:
        assert_clear_error(proc, "CKA_DERIVE is false")
    calls = mock_calls(log)
    assert calls.count("C_GetMechanismList") in (1, 2), calls  # size, list
    assert "C_DeriveKey" not in calls, calls
    assert_no_secret(proc, out)


# ---- software keys with the provider active -----------------------------------

@pytest.mark.parametrize("curve", ["P-256", "P-384"])
def test_software_ecdh_unaffected(openssl_prov, tmp_path, curve):
    """Two software keys derive the right secret with the provider loaded
    (also when it is listed first and OpenSSL routes the exchange here):
    the same bytes as openssl without the provider."""
    keys = {}
    for side in ("a", "b"):
        keys[side] = tmp_path / f"{side}.key"
        software(tmp_path, "genpkey", "-algorithm", "EC", "-pkeyopt",
                 f"ec_paramgen_curve:{curve}", "-out", keys[side])
        software(tmp_path, "pkey", "-in", keys[side], "-pubout", "-out",
                 tmp_path / f"{side}.pub")
    expected, got = tmp_path / "expected.bin", tmp_path / "got.bin"
    software(tmp_path, "pkeyutl", "-derive", "-inkey", keys["a"], "-peerkey",
             tmp_path / "b.pub", "-out", expected)
    assert_ok(openssl_prov("pkeyutl", "-derive", "-inkey", keys["a"],
                           "-peerkey", tmp_path / "b.pub", "-out", got))
    assert got.read_bytes() == expected.read_bytes()
    assert len(got.read_bytes()) == {"P-256": 32, "P-384": 48}[curve]
