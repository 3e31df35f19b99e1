"""RSA decryption with token keys (the provider's asym_cipher): a secret
encrypted by openssl WITHOUT the provider (`pkeyutl -encrypt -pubin` with
the public key the fixtures exported) is decrypted by `openssl pkeyutl
-decrypt -inkey 'pkcs11:...'`, on SoftHSM and on tpm2-pkcs11, with the
provider loaded from the command line and from openssl.cnf.

What the tokens do themselves (measured; the debug trace shows it):
SoftHSM 2.6.1 does OAEP with SHA-1 only (CKR_ARGUMENTS_BAD at
C_DecryptInit otherwise) and fails labels at C_Decrypt; tpm2-pkcs11 1.9.0
does OAEP with SHA-1..SHA-512 but fails labels and MGF1 digests other than
the OAEP digest at C_Decrypt. The provider sends the token only OAEP
without label and with MGF1 over the OAEP digest; everything else, and
PKCS#1 v1.5, is a raw CKM_RSA_X_509 decryption with the padding removed in
the provider in constant time.

A tampered ciphertext fails with the same error whatever the padding and
whoever found it, except PKCS#1 v1.5 unpadded by a token that applies
implicit rejection (SoftHSM on OpenSSL >= 3.2): then the token's
synthetic message is passed on, as the test says per version. Keys that cannot decrypt fail clearly. The TLS RSA key
exchange (RSA_PKCS1_WITH_TLS_PADDING) is checked by a C program and by a
real s_server/s_client handshake."""
import os
import re

import pytest

from helpers import (CLI_PROVIDER_ARGS, SOFTHSM_MODULE, assert_no_crash,
                     assert_ok, describe, free_port, run, write_plain_cnf)
from keyops import (assert_clear_error, popen, read_until, run_c, software,
                    token_key)
from tokens import USER_PIN, export_pubkey, setup_run, softhsm_token

DECRYPTERS = ["rsa2048", "tpm-rsa2048"]


def oaep(md, mgf1=None, label=None):
    opts = ["rsa_padding_mode:oaep", f"rsa_oaep_md:{md}",
            f"rsa_mgf1_md:{mgf1 or md}"]
    return opts + ([f"rsa_oaep_label:{label}"] if label else [])


# -pkeyopt values of each padding scheme
SCHEMES = {
    "pkcs1": [],
    "oaep-sha1": oaep("sha1"),
    "oaep-sha256": oaep("sha256"),
    "oaep-sha384": oaep("sha384"),
    "oaep-sha512": oaep("sha512"),
    "oaep-sha1-label": oaep("sha1", label="7031317072"),
    "oaep-sha256-label": oaep("sha256", label="00ff6c6162656c"),
    "oaep-sha256-mgf1-sha1": oaep("sha256", "sha1"),
    "oaep-sha1-mgf1-sha384-label": oaep("sha1", "sha384", "0102"),
}


def opts(flag, values):
    return [arg for value in values for arg in (flag, value)]


def encrypt(tmp_path, pub_pem, scheme, name="ct", secret=None):
    """Encrypts a fresh random secret in software; returns (secret, file)."""
    secret = os.urandom(32) if secret is None else secret
    plain, ct = tmp_path / f"{name}.plain", tmp_path / name
    plain.write_bytes(secret)
    software(tmp_path, "pkeyutl", "-encrypt", "-pubin", "-inkey", pub_pem,
             "-in", plain, "-out", ct, *opts("-pkeyopt", SCHEMES[scheme]),
             what=f"encrypting with {scheme}")
    return secret, ct


def decrypt(runner, key, ct, scheme, out, env=None):
    return runner("pkeyutl", "-decrypt", "-inkey", key.uri(), "-in", ct,
                  "-out", out, *opts("-pkeyopt", SCHEMES[scheme]),
                  env={**key.env, **(env or {})})


def tampered(ct):
    data = bytearray(ct.read_bytes())
    data[len(data) // 2] ^= 0x01
    ct.write_bytes(bytes(data))
    return ct


def decrypt_calls(stderr):
    """[(mechanism, C_DecryptInit's result)] from a PKCS11PROV_DEBUG=3
    trace, and the results of C_Decrypt."""
    inits, decrypts, current = [], [], None
    for line in stderr.splitlines():
        m = re.search(r"C_DecryptInit with (CKM_\w+) for ", line)
        if m:
            current = m.group(1)
            continue
        m = re.search(r"(C_DecryptInit|C_Decrypt) -> (0x[0-9a-f]+)", line)
        if m and m.group(1) == "C_DecryptInit":
            inits.append((current, m.group(2)))
        elif m:
            decrypts.append(m.group(2))
    return inits, decrypts


def error_lines(proc):
    """openssl's error lines, without the thread id that starts them."""
    return [re.sub(r"^[0-9A-F]+:error:", "error:", line)
            for line in proc.stderr.splitlines()
            if re.match(r"^[0-9A-F]+:error:", line)]


# ---- round trips ---------------------------------------------------------------

@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("label", DECRYPTERS)
def test_decrypt_round_trip(openssl_prov, request, tmp_path, label, scheme):
    key = token_key(request, label)
    secret, ct = encrypt(tmp_path, key.key.pub_pem, scheme)
    out = tmp_path / "out"
    assert_ok(decrypt(openssl_prov, key, ct, scheme, out))
    assert out.read_bytes() == secret, "decrypted something else"


X509 = ("CKM_RSA_X_509", "0x0")
OAEP_OK = ("CKM_RSA_PKCS_OAEP", "0x0")
OAEP_REFUSED = ("CKM_RSA_PKCS_OAEP", "0x7")   # CKR_ARGUMENTS_BAD

# (key, scheme, the C_DecryptInit calls: mechanism, result)
TRACES = [
    ("rsa2048", "pkcs1", [X509]),
    ("rsa2048", "oaep-sha1", [OAEP_OK]),
    ("rsa2048", "oaep-sha256", [OAEP_REFUSED, X509]),
    ("rsa2048", "oaep-sha384", [OAEP_REFUSED, X509]),
    ("rsa2048", "oaep-sha1-label", [X509]),
    ("rsa2048", "oaep-sha256-mgf1-sha1", [X509]),
    ("tpm-rsa2048", "pkcs1", [X509]),
    ("tpm-rsa2048", "oaep-sha1", [OAEP_OK]),
    ("tpm-rsa2048", "oaep-sha256", [OAEP_OK]),
    ("tpm-rsa2048", "oaep-sha384", [OAEP_OK]),
    ("tpm-rsa2048", "oaep-sha512", [OAEP_OK]),
    ("tpm-rsa2048", "oaep-sha256-label", [X509]),
    ("tpm-rsa2048", "oaep-sha256-mgf1-sha1", [X509]),
]


@pytest.mark.parametrize("label, scheme, expected", TRACES)
def test_decrypt_trace_shows_mechanism(openssl_prov, request, tmp_path, label,
                                       scheme, expected):
    """PKCS11PROV_DEBUG=3 names each C_DecryptInit's mechanism: the token
    does OAEP when it can; else raw RSA and decoding in the provider."""
    key = token_key(request, label)
    secret, ct = encrypt(tmp_path, key.key.pub_pem, scheme)
    out = tmp_path / "out"
    proc = assert_ok(decrypt(openssl_prov, key, ct, scheme, out,
                             env={"PKCS11PROV_DEBUG": "3"}))
    assert out.read_bytes() == secret
    inits, decrypts = decrypt_calls(proc.stderr)
    assert inits == expected, describe(proc)
    assert decrypts == ["0x0"], describe(proc)


def test_decrypt_no_padding(openssl_prov, request, tmp_path):
    """rsa_padding_mode:none: CKM_RSA_X_509, the whole block back."""
    key = token_key(request, "rsa2048")
    block = b"\x00" + os.urandom(255)
    plain, ct, out = tmp_path / "plain", tmp_path / "ct", tmp_path / "out"
    plain.write_bytes(block)
    software(tmp_path, "pkeyutl", "-encrypt", "-pubin", "-inkey",
             key.key.pub_pem, "-pkeyopt", "rsa_padding_mode:none", "-in",
             plain, "-out", ct)
    assert_ok(openssl_prov("pkeyutl", "-decrypt", "-inkey", key.uri(), "-in",
                           ct, "-out", out, "-pkeyopt",
                           "rsa_padding_mode:none", env=key.env))
    assert out.read_bytes() == block


@pytest.mark.parametrize("label", DECRYPTERS)
def test_encrypt_with_token_key_in_software(openssl_prov, request, tmp_path,
                                            label):
    """Encryption needs only the public key: the provider encrypts in
    software (no C_EncryptInit) and the token decrypts it."""
    key = token_key(request, label)
    plain, ct, out = tmp_path / "plain", tmp_path / "ct", tmp_path / "out"
    secret = os.urandom(40)
    plain.write_bytes(secret)
    scheme = oaep("sha256", label="aa55")
    proc = assert_ok(openssl_prov(
        "pkeyutl", "-encrypt", "-inkey", key.uri(), "-in", plain, "-out", ct,
        *opts("-pkeyopt", scheme), env={**key.env, "PKCS11PROV_DEBUG": "3"}))
    assert "C_EncryptInit" not in proc.stderr, describe(proc)
    assert_ok(openssl_prov("pkeyutl", "-decrypt", "-inkey", key.uri(), "-in",
                           ct, "-out", out, *opts("-pkeyopt", scheme),
                           env=key.env))
    assert out.read_bytes() == secret


# ---- a tampered ciphertext -------------------------------------------------------------

TAMPERED = ["pkcs1", "oaep-sha1", "oaep-sha256", "oaep-sha256-label"]


@pytest.mark.parametrize("label", DECRYPTERS)
def test_tampered_ciphertext_fails_alike(openssl_prov, request, tmp_path,
                                         label):
    """Token-side OAEP (SoftHSM SHA-1, TPM SHA-1/SHA-256) and padding
    removed here (PKCS#1, the rest) all fail with the one same error,
    and nothing of the modules' own libcrypto errors shows."""
    key = token_key(request, label)
    errors = {}
    for scheme in TAMPERED:
        _, ct = encrypt(tmp_path, key.key.pub_pem, scheme, name=scheme)
        out = tmp_path / f"{scheme}.out"
        proc = decrypt(openssl_prov, key, tampered(ct), scheme, out)
        assert_clear_error(proc, "decryption with", f"object={label}",
                           "not valid for this key")
        assert "rsa routines" not in proc.stderr, describe(proc)
        assert not out.exists() or out.stat().st_size == 0, describe(proc)
        errors[scheme] = error_lines(proc)
    assert len({tuple(e) for e in errors.values()}) == 1, errors
    assert len(errors["pkcs1"]) == 1, errors


# ---- keys that cannot decrypt ---------------------------------------------------------

def test_ec_key_cannot_decrypt(openssl_prov, request, tmp_path):
    key = token_key(request, "ec-p256")
    ct = tmp_path / "ct"
    ct.write_bytes(os.urandom(64))
    proc = openssl_prov("pkeyutl", "-decrypt", "-inkey", key.uri(), "-in", ct,
                        env={**key.env, "PKCS11PROV_DEBUG": "3"})
    # OpenSSL itself refuses (its wording differs between versions): a
    # failure, no output, and the token never asked.
    assert_no_crash(proc)
    assert proc.returncode != 0, describe(proc)
    assert proc.stdout == "", describe(proc)
    assert "C_DecryptInit" not in proc.stderr, describe(proc)


@pytest.mark.parametrize("scheme", ["pkcs1", "oaep-sha256"])
def test_allowed_mechanisms_respected(openssl_prov, request, tmp_path, scheme):
    """rsa-pssonly allows CKM_RSA_PKCS_PSS only: no decryption."""
    key = token_key(request, "rsa-pssonly")
    _, ct = encrypt(tmp_path, key.key.pub_pem, scheme)
    proc = decrypt(openssl_prov, key, ct, scheme, tmp_path / "out")
    assert_clear_error(proc, "not allowed", "CKA_ALLOWED_MECHANISMS",
                       "object=rsa-pssonly")


# A private SoftHSM token (its own SOFTHSM2_CONF: no other test sees it)
# with the RSA keys the shared tokens lack.
ODD_TOKEN = "p11prov-dec"


@pytest.fixture(scope="module")
def odd_keys(tmp_path_factory):
    """{label: (uri, pub_pem)} and the env: "nodecrypt" has CKA_DECRYPT
    false (GnuTLS p11tool --mark-sign; pkcs11-tool never sets a usage
    false); "pkcsonly" allows CKM_RSA_PKCS and CKM_RSA_PKCS_OAEP only, so
    the token removes every padding itself."""
    d = tmp_path_factory.mktemp("odd-token")
    env, _ = softhsm_token(d, ODD_TOKEN)
    token = f"pkcs11:token={ODD_TOKEN}"
    setup_run(["p11tool", "--provider", SOFTHSM_MODULE, "--login",
               "--generate-privkey", "rsa", "--bits", "2048", "--label",
               "nodecrypt", "--id", "01", "--mark-sign", token],
              {**env, "GNUTLS_PIN": USER_PIN})
    setup_run(["pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label",
               ODD_TOKEN, "--login", "--pin", USER_PIN, "--keypairgen",
               "--key-type", "rsa:2048", "--label", "pkcsonly", "--id", "02",
               "--usage-decrypt", "--allowed-mechanisms",
               "RSA-PKCS,RSA-PKCS-OAEP"], env)
    keys = {}
    for label in ("nodecrypt", "pkcsonly"):
        pub = export_pubkey(SOFTHSM_MODULE, env, ODD_TOKEN, USER_PIN, label,
                            d)
        keys[label] = (f"{token};object={label};type=private"
                       f"?pin-value={USER_PIN}", pub)
    return keys, {**env, "PKCS11PROV_MODULE": SOFTHSM_MODULE}


def odd_decrypt(openssl_prov, odd_keys, tmp_path, label, scheme, env=None,
                tamper=False):
    (uri, pub), key_env = odd_keys[0][label], odd_keys[1]
    secret, ct = encrypt(tmp_path, pub, scheme)
    out = tmp_path / "out"
    proc = openssl_prov("pkeyutl", "-decrypt", "-inkey", uri, "-in",
                        tampered(ct) if tamper else ct, "-out", out,
                        *opts("-pkeyopt", SCHEMES[scheme]),
                        env={**key_env, **(env or {})})
    return proc, secret, out


@pytest.mark.parametrize("scheme", ["pkcs1", "oaep-sha1"])
def test_key_without_decrypt_usage(openssl_prov, odd_keys, tmp_path, scheme):
    proc, _, _ = odd_decrypt(openssl_prov, odd_keys, tmp_path, "nodecrypt",
                             scheme)
    assert_clear_error(proc, "cannot decrypt", "CKA_DECRYPT is false",
                       "object=nodecrypt")


@pytest.mark.parametrize("scheme, mechanism", [
    ("pkcs1", "CKM_RSA_PKCS"), ("oaep-sha1", "CKM_RSA_PKCS_OAEP")])
def test_token_removes_padding_without_raw_rsa(openssl_prov, odd_keys,
                                               tmp_path, scheme, mechanism):
    proc, secret, out = odd_decrypt(openssl_prov, odd_keys, tmp_path,
                                    "pkcsonly", scheme,
                                    env={"PKCS11PROV_DEBUG": "3"})
    assert_ok(proc)
    assert out.read_bytes() == secret
    assert decrypt_calls(proc.stderr)[0] == [(mechanism, "0x0")], \
        describe(proc)


def test_token_refuses_oaep_without_raw_rsa(openssl_prov, odd_keys, tmp_path):
    """OAEP-SHA256 on SoftHSM with no CKM_RSA_X_509 to fall back on: the
    token's refusal, named."""
    proc, _, _ = odd_decrypt(openssl_prov, odd_keys, tmp_path, "pkcsonly",
                             "oaep-sha256")
    assert_clear_error(proc, "C_DecryptInit with CKM_RSA_PKCS_OAEP",
                       "CKR_ARGUMENTS_BAD", "object=pkcsonly")


def softhsm_libcrypto_version():
    """(major, minor) of the libcrypto SoftHSM itself loads: read from that
    library (found by the dynamic linker, as SoftHSM's own), not from the
    openssl command, which may be another version (sid + OpenSSL 4.0)."""
    code = ("import ctypes, sys; l = ctypes.CDLL(sys.argv[1]); "
            "l.OpenSSL_version_num.restype = ctypes.c_ulong; "
            "print(l.OpenSSL_version_num())")
    ldd = run(["ldd", SOFTHSM_MODULE], preload=False)
    m = re.search(r"libcrypto\.so\S* => (\S+)", ldd.stdout)
    assert m, "SoftHSM links no libcrypto?\n" + describe(ldd)
    proc = run(["/usr/bin/python3", "-c", code, m.group(1)], preload=False)
    number = int(assert_ok(proc).stdout)
    return number >> 28, (number >> 20) & 0xFF


@pytest.mark.parametrize("scheme", ["pkcs1", "oaep-sha1"])
def test_token_padding_failure(openssl_prov, odd_keys, tmp_path, scheme):
    """A tampered ciphertext where the token removes the padding itself.
    OAEP: one clear error naming the key. PKCS#1 v1.5: the provider passes
    on what the token answers. SoftHSM on OpenSSL < 3.2 reports the bad
    padding (one clear error); from 3.2 on its libcrypto applies implicit
    rejection (the Marvin countermeasure): success with a message derived
    from the key and the ciphertext, the same every time, never the
    plaintext."""
    if scheme == "pkcs1" and softhsm_libcrypto_version() >= (3, 2):
        (uri, pub), env = odd_keys[0]["pkcsonly"], odd_keys[1]
        secret, ct = encrypt(tmp_path, pub, scheme)
        tampered(ct)
        answers = []
        for attempt in range(2):
            out = tmp_path / f"out{attempt}"
            assert_ok(openssl_prov("pkeyutl", "-decrypt", "-inkey", uri,
                                   "-in", ct, "-out", out,
                                   *opts("-pkeyopt", SCHEMES[scheme]),
                                   env=env))
            answers.append(out.read_bytes())
        assert answers[0] == answers[1], "implicit rejection not deterministic"
        assert answers[0] != secret
        return
    proc, _, _ = odd_decrypt(openssl_prov, odd_keys, tmp_path, "pkcsonly",
                             scheme, tamper=True)
    assert_clear_error(proc, "decryption with", "object=pkcsonly",
                       "not valid for this key")
    assert len(error_lines(proc)) == 1, describe(proc)


# ---- TLS: the RSA key exchange -----------------------------------------------------------

def check_tls_program(proc):
    assert_ok(proc)
    lines = proc.stdout.splitlines()
    assert len(lines) == 14 and all(l.endswith(": ok") for l in lines), \
        describe(proc)


@pytest.mark.parametrize("label", DECRYPTERS)
def test_tls_premaster_program(request, tmp_path, label):
    """EVP_PKEY_decrypt as libssl calls it: the premaster when right, 48
    random bytes (success, no error) when the padding, the length or the
    version is wrong; also a software key through the provider."""
    key = token_key(request, label)
    check_tls_program(run_c("tls_premaster", [key.uri(), key.key.pub_pem],
                            key.env, tmp_path))


def test_tls_premaster_token_unpadding(odd_keys, tmp_path):
    """The same with a token that removes the PKCS#1 padding itself."""
    (uri, pub), env = odd_keys[0]["pkcsonly"], odd_keys[1]
    check_tls_program(run_c("tls_premaster", [uri, pub], env, tmp_path))


@pytest.mark.parametrize("label", DECRYPTERS)
def test_tls_rsa_key_exchange(request, tmp_path, label):
    """openssl s_server with the token key and a TLS 1.2 RSA key exchange
    cipher; s_client (no provider) completes the handshake, so the server
    decrypted the premaster on the token."""
    key = token_key(request, label)
    port = free_port()
    cipher = "AES128-GCM-SHA256"
    server = popen(["openssl", "s_server", *CLI_PROVIDER_ARGS, "-accept",
                    f"127.0.0.1:{port}", "-naccept", "1", "-www", "-tls1_2",
                    "-cipher", cipher, "-cert", key.key.cert_pem, "-key",
                    key.uri()],
                   {**key.env, "OPENSSL_CONF": write_plain_cnf(tmp_path),
                    "PKCS11PROV_DEBUG": "3"})
    try:
        started, seen = read_until(server, b"ACCEPT", 60)
        if not started:
            out, err = server.communicate(timeout=60)
            pytest.fail(f"s_server did not start\n{seen.decode()}{out}"
                        f"\n{err}")
        client = run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                      "-tls1_2", "-cipher", cipher, "-ign_eof"],
                     {"OPENSSL_CONF": write_plain_cnf(tmp_path)},
                     input="GET / HTTP/1.0\r\n\r\n")
        out, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    shown = (f"server exit {server.returncode}\n--- stdout:\n{out}\n"
             f"--- stderr:\n{err}\n" + describe(client))
    assert f"Cipher is {cipher}" in client.stdout, shown
    assert "HTTP/1.0 200 ok" in client.stdout, shown
    assert server.returncode == 0, shown
    assert "Sanitizer" not in err and "runtime error" not in err, shown
    assert "C_DecryptInit with CKM_RSA_X_509" in err, shown
    assert re.search(r"C_Decrypt -> 0x0\b", err), shown
