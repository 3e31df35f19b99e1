"""The fixtures themselves: every token, key pair and certificate is there
and right, the p11-kit proxy sees every token, and the mock module behaves
as documented (including its fault injection)."""
import re

import pytest

from helpers import (P11KIT_PROXY, assert_fails_cleanly, assert_ok,
                     pem_blocks, pem_cert_file, pem_certs, pkcs11_tool_objects,
                     run, run_openssl, subject_of)
from tokens import SOFTHSM_TOKENS, TPM_TOKEN, der_to_pem, token_slots

# What `openssl pkey -pubin -text` says for each key type, and the key type
# pkcs11-tool -O shows.
PUBKEY_TEXT = {
    "rsa:2048": ("Public-Key: (2048 bit)", "RSA"),
    "EC:prime256v1": ("NIST CURVE: P-256", "EC"),
    "EC:secp384r1": ("NIST CURVE: P-384", "EC"),
    "EC:secp521r1": ("NIST CURVE: P-521", "EC"),
    "EC:edwards25519": ("ED25519 Public-Key:", "EC_EDWARDS"),
    "EC:edwards448": ("ED448 Public-Key:", "EC_EDWARDS"),
}
SOFTHSM_KEYS = [k.label for t in SOFTHSM_TOKENS for k in t.keys]
TPM_KEYS = [k.label for k in TPM_TOKEN.keys]


def list_objects(module, env, slot, pin):
    """pkcs11-tool -O (logged in) as a list of
    (class, type, label, id): ("Private Key", "EC", "ec-p256", "02")."""
    proc = assert_ok(run(["pkcs11-tool", "--module", module, "--slot", slot,
                          "--login", "--pin", pin, "-O"], env,
                         preload=False))
    return [(o["class"], o["type"], o["label"], o["id"])
            for o in pkcs11_tool_objects(proc.stdout)]


def expected_objects(keys):
    objects = []
    for key in keys:
        ktype = PUBKEY_TEXT[key.key_type][1]
        objects += [("Private Key", ktype, key.label, key.id_hex),
                    ("Public Key", ktype, key.label, key.id_hex),
                    ("Certificate", "X.509", key.label, key.id_hex)]
    return sorted(objects)


def key_location(request, label):
    """(key, module, env, slot) of a key on a SoftHSM or the TPM token."""
    if label in TPM_KEYS:
        tpm = request.getfixturevalue("tpm_clean")
        return tpm.keys[label], tpm.module, tpm.env, tpm.slot
    softhsm = request.getfixturevalue("softhsm")
    key = softhsm.keys[label]
    return key, softhsm.module, softhsm.env, softhsm.slots[key.token]


# ---- SoftHSM and TPM tokens ----------------------------------------------

def test_softhsm_tokens_at_their_slots(softhsm):
    assert token_slots(softhsm.module, softhsm.env) == softhsm.slots
    assert set(softhsm.slots) == {t.label for t in SOFTHSM_TOKENS}


@pytest.mark.parametrize("token", [t.label for t in SOFTHSM_TOKENS])
def test_softhsm_token_objects(softhsm, token):
    found = list_objects(softhsm.module, softhsm.env, softhsm.slots[token],
                         softhsm.pins[token])
    assert sorted(found) == expected_objects(softhsm.keys_on(token))


def test_tpm_token_objects(tpm_clean):
    tpm = tpm_clean
    assert token_slots(tpm.module, tpm.env) == {tpm.token: tpm.slot}
    found = list_objects(tpm.module, tpm.env, tpm.slot, tpm.pin)
    assert sorted(found) == expected_objects(tpm.keys.values())
    assert set(tpm.keys) == set(TPM_KEYS)


@pytest.mark.parametrize("label", SOFTHSM_KEYS + TPM_KEYS)
def test_public_key_type(request, label):
    key = key_location(request, label)[0]
    proc = assert_ok(run_openssl(["pkey", "-pubin", "-in", key.pub_pem,
                                  "-noout", "-text"]))
    assert PUBKEY_TEXT[key.key_type][0] in proc.stdout, proc.stdout


@pytest.mark.parametrize("label", SOFTHSM_KEYS + TPM_KEYS)
def test_certificate_matches_key(request, tmp_path, software_ca, label):
    key, module, env, slot = key_location(request, label)
    # Issued by the CA over exactly the token's public key.
    proc = assert_ok(run_openssl(["x509", "-in", key.cert_pem, "-noout",
                                  "-pubkey", "-subject"]))
    assert pem_blocks(proc.stdout, "PUBLIC KEY") == pem_blocks(
        key.pub_pem.read_text(), "PUBLIC KEY"), proc.stdout
    assert subject_of(proc.stdout) == f"CN={label}", proc.stdout
    assert_ok(run_openssl(["verify", "-CAfile", software_ca.cert,
                           key.cert_pem]))
    # And the token holds that same certificate under the key's id.
    der = tmp_path / "cert.der"
    assert_ok(run(["pkcs11-tool", "--module", module, "--slot", slot,
                   "--read-object", "--type", "cert", "--id", key.id_hex,
                   "-o", der], env, preload=False))
    assert pem_certs(der_to_pem(der.read_bytes(), "CERTIFICATE")) == [
        pem_cert_file(key.cert_pem)]


def softhsm_tool(softhsm, *args):
    """pkcs11-tool on p11prov-soft, logged in."""
    return run(["pkcs11-tool", "--module", softhsm.module, "--slot",
                softhsm.slots[softhsm.token], "--login", "--pin", softhsm.pin,
                *args], softhsm.env, preload=False)


def test_keys_the_token_restricts(softhsm, tmp_path):
    """nosign-p256 has CKA_SIGN false and rsa-pssonly allows RSA-PKCS-PSS
    only, and SoftHSM enforces both: what the provider's errors for them
    rest on."""
    proc = assert_ok(softhsm_tool(softhsm, "-O", "--type", "privkey"))
    keys = {o["label"]: o for o in pkcs11_tool_objects(proc.stdout)}
    assert "sign" not in keys["nosign-p256"]["usage"], proc.stdout
    assert "sign" in keys["ec-p256"]["usage"], proc.stdout
    assert keys["rsa-pssonly"]["allowed"] == {"RSA-PKCS-PSS"}, proc.stdout
    digest = tmp_path / "digest"
    digest.write_bytes(bytes(range(32)))
    sign = ["--sign", "-i", digest, "-o", tmp_path / "sig"]
    assert_fails_cleanly(softhsm_tool(softhsm, *sign, "-m", "ECDSA", "--id",
                                      "07"), "CKR_KEY_FUNCTION_NOT_PERMITTED")
    assert_fails_cleanly(softhsm_tool(softhsm, *sign, "-m", "RSA-PKCS",
                                      "--id", "08"), "CKR_MECHANISM_INVALID")
    assert_ok(softhsm_tool(softhsm, *sign, "-m", "RSA-PKCS-PSS",
                           "--hash-algorithm", "SHA256", "--mgf",
                           "MGF1-SHA256", "--id", "08"))


# ---- the p11-kit proxy -------------------------------------------------------

def test_proxy_sees_every_token(p11kit_env, softhsm, tpm_clean):
    wanted = set(softhsm.slots) | {tpm_clean.token}
    assert wanted <= set(token_slots(P11KIT_PROXY, p11kit_env))
    proc = assert_ok(run(["p11tool", "--list-tokens"], p11kit_env,
                         preload=False))
    for label in wanted:
        assert f"token={label}\n" in proc.stdout + "\n", proc.stdout


def test_proxy_without_tpm_env_still_lists_softhsm(softhsm):
    """The proxy also loads tpm2_pkcs11 when no TPM is configured: that
    must not hide the other tokens (the provider's default module)."""
    assert set(softhsm.slots) <= set(token_slots(P11KIT_PROXY, softhsm.env))


# ---- the mock module ------------------------------------------------------------

def mock_tool(mock_module, *args, env=None):
    """pkcs11-tool on the mock (preloaded in the sanitizer build: the mock
    is built with it; pkcs11-tool's own leaks are not checked)."""
    return run(["pkcs11-tool", "--module", mock_module, *args], env,
               leak_check=False)


def test_mock_lists_token_and_certificate(mock_module):
    proc = assert_ok(mock_tool(mock_module, "-L", "-O"))
    out = proc.stdout
    assert re.search(r"^Slot 0 \(0x7\): mock slot\s*$", out, re.M), out
    for field, value in (("token label", "mock-token"),
                         ("token manufacturer", "pkcs11prov"),
                         ("token model", "mock"), ("serial num", "0001")):
        assert re.search(rf"^\s+{field}\s*: {value}\s*$", out, re.M), out
    assert "Certificate Object; type = X.509 cert" in out
    certs = [o for o in pkcs11_tool_objects(out) if o["class"] == "Certificate"]
    assert [(o["label"], o["id"]) for o in certs] == [("mock-cert", "01")], out
    assert "subject:    DN: CN=mock-cert" in out


def test_mock_certificate_is_valid(mock_module, tmp_path):
    der, pem = tmp_path / "mock.der", tmp_path / "mock.pem"
    assert_ok(mock_tool(mock_module, "--read-object", "--type", "cert",
                        "--label", "mock-cert", "-o", der))
    pem.write_text(der_to_pem(der.read_bytes(), "CERTIFICATE"))
    proc = assert_ok(run_openssl(["x509", "-in", pem, "-noout", "-subject",
                                  "-text"]))
    assert subject_of(proc.stdout) == "CN=mock-cert", proc.stdout
    assert "NIST CURVE: P-256" in proc.stdout
    assert_ok(run_openssl(["verify", "-CAfile", pem, pem]))


def test_mock_login_pin_and_call_log(mock_module, tmp_path):
    log = tmp_path / "calls.log"
    env = {"P11MOCK_LOG": log}
    assert_ok(mock_tool(mock_module, "--login", "--pin", "1234", "-O",
                        env=env))
    calls = log.read_text().split()
    assert calls[0] == "C_Initialize" and calls[-1] == "C_Finalize", calls
    assert calls.count("C_Login") == 1, calls
    log.unlink()
    proc = assert_fails_cleanly(
        mock_tool(mock_module, "--login", "--pin", "9999", "-O", env=env),
        "CKR_PIN_INCORRECT")
    assert log.read_text().split().count("C_Login") == 1, proc.stderr


@pytest.mark.parametrize("fault, shown", [
    ("C_Initialize:CKR_DEVICE_ERROR", "CKR_DEVICE_ERROR"),
    ("C_GetSlotList:0x30", "CKR_DEVICE_ERROR"),
    ("C_SignInit:CKR_HOST_MEMORY,C_OpenSession:CKR_TOKEN_NOT_PRESENT",
     "CKR_TOKEN_NOT_PRESENT"),
    ("C_Login", "CKR_GENERAL_ERROR"),  # malformed: C_Initialize refuses
])
def test_mock_fault_injection(mock_module, fault, shown):
    assert_fails_cleanly(
        mock_tool(mock_module, "--login", "--pin", "1234", "-O",
                  env={"P11MOCK_FAIL": fault}), shown)


def test_mock_key_pair_and_signature(mock_module, tmp_path):
    """mock-key: its private half only after login; CKM_ECDSA gives the
    fixed r||s of mock_objects.c."""
    proc = assert_ok(mock_tool(mock_module, "-O"))
    assert "Public Key Object; EC" in proc.stdout, proc.stdout
    assert "Private Key Object" not in proc.stdout, proc.stdout
    proc = assert_ok(mock_tool(mock_module, "--login", "--pin", "1234",
                               "-O"))
    private = [(o["type"], o["label"], o["id"], o["usage"])
               for o in pkcs11_tool_objects(proc.stdout)
               if o["class"] == "Private Key"]
    assert private == [("EC", "mock-key", "02", {"sign"})], proc.stdout
    digest, sig = tmp_path / "digest", tmp_path / "sig"
    digest.write_bytes(bytes(32))
    assert_ok(mock_tool(mock_module, "--login", "--pin", "1234", "--sign",
                        "-m", "ECDSA", "--id", "02", "-i", digest, "-o", sig))
    assert sig.read_bytes() == bytes([0, 0x7f, *range(2, 32), 0x80,
                                      *range(1, 32)])


@pytest.mark.parametrize("flags, args, outcome", [
    ("100", ["-L"], "PIN pad present"),
    ("100", ["--login", "-O"], "Private Key Object"),  # NULL PIN accepted
    ("40000", ["--login", "--pin", "1234", "-O"], "CKR_PIN_LOCKED"),
    ("20000", ["-L"], "final user PIN try"),
    ("xyz", ["-L"], "CKR_GENERAL_ERROR"),  # malformed: C_Initialize fails
])
def test_mock_token_flags(mock_module, flags, args, outcome):
    proc = mock_tool(mock_module, *args, env={"P11MOCK_TOKEN_FLAGS": flags})
    assert outcome in proc.stdout + proc.stderr, proc.stdout + proc.stderr
