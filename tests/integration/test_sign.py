"""Signing with token keys in the OpenSSL tools: `dgst -sign`, `pkeyutl
-sign` (a raw digest; EdDSA one-shot with -rawin), `req -new`, `req -x509`
and `x509 -req -CAkey`, with every key on SoftHSM and tpm2-pkcs11, the
provider loaded from the command line and from openssl.cnf. Every
signature is verified by a separate openssl process WITHOUT the provider,
with the public key exported from the token by the fixtures.

RSA-PSS: the salt length and MGF1 digest asked for must be the ones used:
each signature is verified with the exact salt length (OpenSSL's verifier
checks it when given a number). Both tokens' CKM_RSA_PKCS_PSS accept only
MGF1 over the message digest, and tpm2-pkcs11's only a salt as long as the
digest (CKR_MECHANISM_PARAM_INVALID otherwise): other parameters need PSS
encoding in the provider and a raw CKM_RSA_X_509 signature."""
import hashlib
import re

import pytest

from helpers import assert_ok, describe, mock_calls, pem_blocks
from keyops import (RSA_KEYS, SIGNERS, data_file, kind, software, token_key,
                    verify_csr)

DIGEST_SIGNERS = [k for k in SIGNERS if kind(k) != "ed"]
ED_KEYS = [k for k in SIGNERS if kind(k) == "ed"]
CA_KEYS = SIGNERS + ["rsa-pssonly"]
PSS_OPTS = ("rsa_padding_mode:pss", "rsa_pss_saltlen:digest")
# (digest, rsa_pss_saltlen, rsa_mgf1_md, the salt length that gives for
# a 2048-bit key: max = 256 - digest length - 2)
PSS = [
    ("sha256", "digest", "sha256", 32),
    ("sha256", "max", "sha256", 222),
    ("sha256", "20", "sha256", 20),
    ("sha384", "digest", "sha384", 48),
    ("sha384", "max", "sha256", 206),
]


def opts(flag, values):
    return [arg for value in values for arg in (flag, value)]


def sigopts(label):
    """The -sigopt options a key needs (rsa-pssonly: PSS only)."""
    return opts("-sigopt", PSS_OPTS) if label == "rsa-pssonly" else []


def signed(proc, sig):
    assert_ok(proc)
    assert sig.is_file() and sig.stat().st_size > 0, (
        "exit 0 but no signature written\n" + describe(proc))


# ---- dgst -sign ----------------------------------------------------------------

@pytest.mark.parametrize("md", ["sha256", "sha384"])
@pytest.mark.parametrize("label", DIGEST_SIGNERS)
def test_dgst_sign(openssl_prov, request, tmp_path, label, md):
    key, data, sig = token_key(request, label), data_file(tmp_path), \
        tmp_path / "sig"
    signed(openssl_prov("dgst", f"-{md}", "-sign", key.uri(), "-out", sig,
                        data, env=key.env), sig)
    software(tmp_path, "dgst", f"-{md}", "-verify", key.key.pub_pem,
             "-signature", sig, data, what=f"verifying {label}'s {md} "
             "signature (ECDSA: DER)")


PSS_CASES = [(label, *case) for label in RSA_KEYS for case in PSS
             # rsa-pssonly may use CKM_RSA_PKCS_PSS only, whose MGF1 must
             # be the message digest on SoftHSM
             if not (label == "rsa-pssonly" and case[0] != case[2])]


@pytest.mark.parametrize("label, md, saltlen, mgf1, salt_bytes", PSS_CASES)
def test_dgst_sign_pss(openssl_prov, request, tmp_path, label, md, saltlen,
                       mgf1, salt_bytes):
    key, data, sig = token_key(request, label), data_file(tmp_path), \
        tmp_path / "sig"
    pss = ["rsa_padding_mode:pss", f"rsa_pss_saltlen:{saltlen}",
           f"rsa_mgf1_md:{mgf1}"]
    signed(openssl_prov("dgst", f"-{md}", "-sign", key.uri(),
                        *opts("-sigopt", pss), "-out", sig, data,
                        env=key.env), sig)
    exact = ["rsa_padding_mode:pss", f"rsa_pss_saltlen:{salt_bytes}",
             f"rsa_mgf1_md:{mgf1}"]
    software(tmp_path, "dgst", f"-{md}", "-verify", key.key.pub_pem,
             *opts("-sigopt", exact), "-signature", sig, data,
             what=f"verifying a PSS signature as {md}, MGF1-{mgf1}, salt of "
             f"{salt_bytes} bytes (asked: rsa_pss_saltlen:{saltlen})")


# ---- pkeyutl -sign of a precomputed digest ------------------------------------

PKEYUTL_CASES = ([(k, "pkcs1") for k in RSA_KEYS if k != "rsa-pssonly"]
                 + [(k, "pss") for k in RSA_KEYS]
                 + [(k, "ecdsa") for k in DIGEST_SIGNERS if kind(k) == "ec"])


@pytest.mark.parametrize("label, scheme", PKEYUTL_CASES)
def test_pkeyutl_sign_digest(openssl_prov, request, tmp_path, label, scheme):
    key, data, sig = token_key(request, label), data_file(tmp_path), \
        tmp_path / "sig"
    digest = tmp_path / "digest.bin"
    digest.write_bytes(hashlib.sha256(data.read_bytes()).digest())
    pkeyopts = {"pkcs1": ["digest:sha256"],
                "pss": ["rsa_padding_mode:pss", "digest:sha256",
                        "rsa_pss_saltlen:digest"],
                "ecdsa": []}[scheme]
    signed(openssl_prov("pkeyutl", "-sign", "-inkey", key.uri(), "-in",
                        digest, *opts("-pkeyopt", pkeyopts), "-out", sig,
                        env=key.env), sig)
    if scheme == "ecdsa":
        software(tmp_path, "pkeyutl", "-verify", "-pubin", "-inkey",
                 key.key.pub_pem, "-in", digest, "-sigfile", sig,
                 what="verifying an ECDSA signature of a raw digest")
    else:  # a signature of the data itself: DigestInfo / PSS over SHA-256
        verify = ["rsa_padding_mode:pss", "rsa_pss_saltlen:32"] \
            if scheme == "pss" else []
        software(tmp_path, "dgst", "-sha256", "-verify", key.key.pub_pem,
                 *opts("-sigopt", verify), "-signature", sig, data,
                 what=f"verifying a {scheme} signature of a raw digest")


@pytest.mark.parametrize("label", ED_KEYS)
def test_eddsa_sign_rawin(openssl_prov, request, tmp_path, label):
    key, data, sig = token_key(request, label), data_file(tmp_path), \
        tmp_path / "sig"
    signed(openssl_prov("pkeyutl", "-sign", "-rawin", "-inkey", key.uri(),
                        "-in", data, "-out", sig, env=key.env), sig)
    size = {"ed25519": 64, "ed448": 114}[label]
    assert sig.stat().st_size == size, f"{sig.stat().st_size} bytes, not {size}"
    software(tmp_path, "pkeyutl", "-verify", "-pubin", "-inkey",
             key.key.pub_pem, "-rawin", "-in", data, "-sigfile", sig,
             what=f"verifying an {label} signature")


# ---- certificates: req -new, req -x509, x509 -req -CAkey -------------------------

@pytest.mark.parametrize("label", CA_KEYS)
def test_req_new(openssl_prov, request, tmp_path, label):
    key, csr = token_key(request, label), tmp_path / "req.csr"
    signed(openssl_prov("req", "-new", "-key", key.uri(), "-subj",
                        f"/CN={label}-csr", *sigopts(label), "-out", csr,
                        env=key.env), csr)
    pub = verify_csr(tmp_path, csr)
    assert pub == pem_blocks(key.key.pub_pem.read_text(), "PUBLIC KEY"), (
        f"the CSR does not hold the token's public key:\n{pub}")


@pytest.mark.parametrize("label", CA_KEYS)
def test_req_x509_self_signed(openssl_prov, request, tmp_path, label):
    key, cert = token_key(request, label), tmp_path / "self.pem"
    signed(openssl_prov("req", "-x509", "-key", key.uri(), "-subj",
                        f"/CN={label}-self", "-days", "2", "-addext",
                        "basicConstraints=critical,CA:TRUE", "-addext",
                        "keyUsage=critical,keyCertSign,digitalSignature",
                        *sigopts(label), "-out", cert, env=key.env), cert)
    proc = software(tmp_path, "verify", "-check_ss_sig", "-CAfile", cert,
                    cert, what="verifying the self-signed certificate")
    assert proc.stdout.strip().endswith(": OK"), describe(proc)
    proc = software(tmp_path, "x509", "-in", cert, "-noout", "-pubkey")
    assert proc.stdout == key.key.pub_pem.read_text(), describe(proc)


def ca_cert_for(key, software_ca, directory):
    """A CA certificate (CA:TRUE, keyCertSign) for the token's public key,
    issued by the software CA: made without the provider."""
    csr, ext, cert = (directory / n for n in ("ca.csr", "ca.ext", "ca.pem"))
    ext.write_text("basicConstraints = critical,CA:TRUE\n"
                   "keyUsage = critical,keyCertSign,digitalSignature\n"
                   "subjectKeyIdentifier = hash\n")
    software(directory, "req", "-new", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout", directory / "x",
             "-subj", f"/CN={key.label} token CA", "-out", csr)
    software(directory, "x509", "-req", "-in", csr, "-CA", software_ca.cert,
             "-CAkey", software_ca.key, "-force_pubkey", key.key.pub_pem,
             "-set_serial", "1000", "-days", "2", "-extfile", ext, "-out",
             cert)
    return cert


@pytest.mark.parametrize("label", CA_KEYS)
def test_x509_req_token_ca(openssl_prov, request, software_ca, tmp_path,
                           label):
    """A token key as the CA key: `x509 -req -CA ca.pem -CAkey URI` (which
    also checks that the key matches the CA certificate)."""
    key = token_key(request, label)
    ca = ca_cert_for(key, software_ca, tmp_path)
    csr, leaf = tmp_path / "leaf.csr", tmp_path / "leaf.pem"
    software(tmp_path, "req", "-new", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout",
             tmp_path / "leaf.key", "-subj", "/CN=leaf", "-out", csr)
    # -extfile: OpenSSL 4.0's x509 -req otherwise takes extensions from
    # openssl.cnf's default section (test_openssl_versions.py).
    ext = tmp_path / "leaf.ext"
    ext.write_text("basicConstraints = critical,CA:FALSE\n")
    signed(openssl_prov("x509", "-req", "-in", csr, "-CA", ca, "-CAkey",
                        key.uri(), "-set_serial", "7", "-days", "2",
                        "-extfile", ext, *sigopts(label), "-out", leaf,
                        env=key.env), leaf)
    proc = software(tmp_path, "verify", "-CAfile", software_ca.cert,
                    "-untrusted", ca, leaf,
                    what="verifying the certificate the token CA issued")
    assert proc.stdout.strip().endswith(": OK"), describe(proc)


# ---- the mock: r||s from the token becomes DER ------------------------------------

MOCK_KEY = "pkcs11:token=mock-token;object=mock-key?pin-value=1234"
# mock_objects.c's fixed r||s, as the INTEGERs of the DER signature.
MOCK_R = "7F" + "".join(f"{i:02X}" for i in range(2, 32))
MOCK_S = "80" + "".join(f"{i:02X}" for i in range(1, 32))


@pytest.mark.parametrize("how", ["pkeyutl", "dgst"])
def test_mock_ecdsa_signature_is_der(openssl_prov, mock_module, tmp_path,
                                     how):
    """The mock's C_Sign returns fixed bytes (not a valid signature: not
    verified); the provider must turn r||s into DER, dropping r's leading
    zero and padding s's high bit."""
    log, sig = tmp_path / "calls.log", tmp_path / "sig"
    data = data_file(tmp_path)
    if how == "pkeyutl":
        digest = tmp_path / "digest.bin"
        digest.write_bytes(hashlib.sha256(data.read_bytes()).digest())
        args = ["pkeyutl", "-sign", "-inkey", MOCK_KEY, "-out", sig, "-in",
                digest]
    else:
        args = ["dgst", "-sha256", "-sign", MOCK_KEY, "-out", sig, data]
    signed(openssl_prov(*args, env={"PKCS11PROV_MODULE": mock_module,
                                    "P11MOCK_LOG": log}), sig)
    proc = software(tmp_path, "asn1parse", "-inform", "DER", "-in", sig)
    integers = re.findall(r"prim: INTEGER\s+:([0-9A-F]+)", proc.stdout)
    assert integers == [MOCK_R, MOCK_S], describe(proc)
    calls = mock_calls(log)
    assert calls.count("C_Login") == 1, calls
    assert "C_SignInit" in calls and "C_Sign" in calls, calls
