"""The example programs in examples/ (built into $PKCS11PROV_BUILD_DIR/
examples/):

ota_client     an update agent's libcurl HTTPS client, its key on the token
               (CURLOPT_SSL_CTX_FUNCTION), against a local `openssl s_server
               -WWW` that requires and verifies client certificates: the
               served file comes back; without a client certificate, or
               with the certificate of another key, the program fails.
ecdh_register  ECDH between the token key and a peer public key: the
               device's and the peer's secrets are equal, and equal to
               what openssl without the provider derives.
"""
import re

import pytest

from helpers import (BUILD_DIR, PROVIDER_MODULE, SOFTHSM_MODULE, assert_ok,
                     describe, run, write_openssl_cnf,
                     write_plain_cnf)
from keyops import SPY_MODULE, software, spy_names, spy_summary, token_key
from servers import BODY, https_server  # noqa: F401 (a fixture)

EXAMPLES = BUILD_DIR / "examples"


def example(name):
    path = EXAMPLES / name
    if not path.is_file():
        pytest.fail(f"{path} is missing (build the project with "
                    "PKCS11PROV_EXAMPLES=ON and libcurl4-openssl-dev)",
                    pytrace=False)
    return path


# ---- ota_client ----------------------------------------------------------------

def pin_file(tmp_path, pin):
    path = tmp_path / "pin"
    path.write_text(pin + "\n")
    path.chmod(0o600)
    return path


def libcryptos(program):
    """The distinct libcrypto files the dynamic linker loads for program
    (itself and, through libcurl, its dependencies)."""
    proc = run(["ldd", program], preload=False)
    return sorted(set(re.findall(r"(libcrypto\.so\.\S+) => (\S+)",
                                 proc.stdout)))


def ota_client():
    """The example, when it can run here. Where libcurl was built against
    another libcrypto than the one the project builds with (Debian sid with
    OpenSSL 4.0 from experimental: libcurl still links libcrypto.so.3), the
    program would hold two libcryptos in one process, which crash each
    other (seen in SSL_CTX_free): skipped, with what ldd showed."""
    path = example("ota_client")
    found = libcryptos(path)
    if len(found) > 1:
        pytest.skip(f"{path.name} would load {len(found)} libcryptos "
                    f"({', '.join(f'{name} => {where}' for name, where in found)})"
                    ": libcurl links another OpenSSL than the build")
    return path


def ota(tmp_path, url, software_ca, env, *args):
    return run([ota_client(), "--url", url, "--cafile",
                software_ca.cert, *args], env, timeout=120)


@pytest.mark.parametrize("label", ["ec-p256", "rsa2048"])
def test_ota_client_cert_from_token(request, tmp_path, software_ca,
                                    https_server, label):
    """The program loads the providers itself (--provider path, --module),
    the PIN from --pin-file, key and certificate by URI from the token;
    one C_Login (pkcs11-spy as --module, in front of SoftHSM)."""
    key = token_key(request, label)
    log = tmp_path / "spy.log"
    env = {**key.env, "PKCS11PROV_MODULE": None,
           "PKCS11SPY": SOFTHSM_MODULE, "PKCS11SPY_OUTPUT": log,
           "OPENSSL_CONF": write_plain_cnf(tmp_path)}
    proc = ota(tmp_path, https_server, software_ca, env,
               "--provider", PROVIDER_MODULE, "--module", SPY_MODULE,
               "--pin-file", pin_file(tmp_path, key.pin),
               "--key", key.uri(pin=False),
               "--cert", key.uri(type="cert", pin=False))
    assert_ok(proc)
    assert proc.stdout == BODY, describe(proc)
    assert "HTTP status 200" in proc.stderr, describe(proc)
    names = spy_names(log)
    assert names.count("C_Login") == 1, spy_summary(log)
    assert names.count("C_SignInit") >= 1, spy_summary(log)


def test_ota_client_cert_file_provider_from_config(request, tmp_path,
                                                   software_ca, https_server):
    """The provider activated by openssl.cnf, the certificate from a PEM
    file, the PIN as a pin-source; the body written with --out."""
    key = token_key(request, "ec-p256")
    out = tmp_path / "body.txt"
    env = {**key.env, "OPENSSL_CONF": write_openssl_cnf(tmp_path)}
    proc = ota(tmp_path, https_server, software_ca, env,
               "--pin-source", f"file:{pin_file(tmp_path, key.pin)}",
               "--key", key.uri(pin=False), "--cert", key.key.cert_pem,
               "--out", out)
    assert_ok(proc)
    assert out.read_text() == BODY, describe(proc)


def test_ota_client_without_client_cert_fails(request, tmp_path, software_ca,
                                              https_server):
    """The server requires a client certificate: without one the fetch
    fails, with a non-zero exit and the reason on stderr."""
    env = {"OPENSSL_CONF": write_openssl_cnf(tmp_path),
           "PKCS11PROV_MODULE": SOFTHSM_MODULE,
           **token_key(request, "ec-p256").env}
    proc = ota(tmp_path, https_server, software_ca, env)
    assert proc.returncode == 1, describe(proc)
    assert BODY not in proc.stdout
    assert "fetching" in proc.stderr and "failed" in proc.stderr, \
        describe(proc)


def test_ota_client_wrong_cert_refused(request, tmp_path, software_ca,
                                       https_server):
    """A certificate that is not the key's is refused before connecting."""
    key, other = token_key(request, "ec-p256"), token_key(request, "rsa2048")
    env = {**key.env, "OPENSSL_CONF": write_openssl_cnf(tmp_path)}
    proc = ota(tmp_path, https_server, software_ca, env,
               "--pin-file", pin_file(tmp_path, key.pin),
               "--key", key.uri(pin=False), "--cert", other.key.cert_pem)
    assert proc.returncode == 1, describe(proc)
    assert "is not that of the key" in proc.stderr, describe(proc)


def test_ota_client_usage(tmp_path):
    proc = run([ota_client(), "--url", "https://localhost/"])
    assert proc.returncode == 2, describe(proc)
    assert "usage:" in proc.stderr


# ---- ecdh_register ----------------------------------------------------------

@pytest.mark.parametrize("label,curve", [("ec-p256", "P-256"),
                                         ("ec-p384", "P-384")])
def test_ecdh_register_secrets_equal(request, tmp_path, label, curve):
    key = token_key(request, label)
    peer_key, peer_pub, ref = (tmp_path / "peer.key", tmp_path / "peer.pub",
                               tmp_path / "ref.bin")
    software(tmp_path, "genpkey", "-algorithm", "EC", "-pkeyopt",
             f"ec_paramgen_curve:{curve}", "-out", peer_key)
    software(tmp_path, "pkey", "-in", peer_key, "-pubout", "-out", peer_pub)
    # The peer's derivation by openssl without the provider.
    software(tmp_path, "pkeyutl", "-derive", "-inkey", peer_key, "-peerkey",
             key.key.pub_pem, "-out", ref)
    env = {**key.env, "PKCS11PROV_MODULE": None,
           "OPENSSL_CONF": write_plain_cnf(tmp_path)}
    proc = run([example("ecdh_register"), "--provider", PROVIDER_MODULE,
                "--module", SOFTHSM_MODULE,
                "--pin-file", pin_file(tmp_path, key.pin),
                "--key", key.uri(pin=False), "--peer-pub", peer_pub,
                "--peer-key", peer_key], env)
    assert_ok(proc)
    lines = dict(line.split(": ", 1) for line in proc.stdout.splitlines()
                 if ": " in line)
    assert lines["device secret"] == lines["server secret"], describe(proc)
    assert lines["device secret"] == ref.read_bytes().hex(), describe(proc)
    assert "secrets equal" in proc.stdout, describe(proc)


def test_ecdh_register_wrong_curve_fails(request, tmp_path):
    key = token_key(request, "ec-p256")
    peer_key, peer_pub = tmp_path / "peer.key", tmp_path / "peer.pub"
    software(tmp_path, "genpkey", "-algorithm", "EC", "-pkeyopt",
             "ec_paramgen_curve:P-384", "-out", peer_key)
    software(tmp_path, "pkey", "-in", peer_key, "-pubout", "-out", peer_pub)
    proc = run([example("ecdh_register"), "--key", key.uri(),
                "--peer-pub", peer_pub],
               {**key.env, "OPENSSL_CONF": write_openssl_cnf(tmp_path)})
    assert proc.returncode == 1, describe(proc)
    assert "secret" not in proc.stdout, describe(proc)
