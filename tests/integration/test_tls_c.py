"""TLS from C with a token key in an SSL_CTX (c/tls_handshakes.c): the key
loaded once by URI through OSSL_STORE, SSL_CTX_use_PrivateKey and
SSL_CTX_check_private_key, then many full handshakes (mutual TLS, both
peers verifying the other) in one process -- sequentially with ONE
C_Login for all of them (counted by OpenSC's pkcs11-spy), and from 4
threads at once sharing the SSL_CTX and key. TLS 1.3 and 1.2, the token
key on the server or on the client, SoftHSM EC P-256 and RSA-2048."""
import re
import subprocess

import pytest

from helpers import SOFTHSM_MODULE, assert_ok, describe
from keyops import run_c, spy_env, spy_names, spy_summary, token_key

# The signature scheme the software peer must see from the token key.
SCHEMES = {
    ("ec-p256", "1.3"): {"id-ecPublicKey+SHA256"},
    ("ec-p256", "1.2"): {"id-ecPublicKey+SHA256"},
    # TLS 1.3 allows only PSS; 1.2 prefers it when both peers offer it.
    ("rsa2048", "1.3"): {"RSASSA-PSS+SHA256"},
    ("rsa2048", "1.2"): {"RSASSA-PSS+SHA256", "rsaEncryption+SHA256"},
}


@pytest.fixture(scope="module")
def peer(tmp_path_factory, software_ca):
    """A software key and a certificate for it from the tokens' CA."""
    d = tmp_path_factory.mktemp("tls-peer")
    key, pub = d / "peer.key", d / "peer.pub"
    for cmd in (["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-out", key],
                ["openssl", "pkey", "-in", key, "-pubout", "-out", pub]):
        subprocess.run([str(c) for c in cmd], check=True, capture_output=True,
                       env={"OPENSSL_CONF": "/dev/null", "PATH": "/usr/bin:/bin"})
    _, cert = software_ca.issue(pub, "software-peer", "digitalSignature", d)
    return key, cert, software_ca.cert


def tls_args(key, peer, side, tls, *extra):
    peer_key, peer_cert, ca = peer
    return ["--key", key.uri(), "--cert", key.key.cert_pem,
            "--peer-key", peer_key, "--peer-cert", peer_cert, "--ca", ca,
            "--side", side, "--tls", tls, *extra]


def check_output(proc, label, tls, total):
    assert_ok(proc)
    assert f"handshakes: {total} ok (of {total})" in proc.stdout, describe(proc)
    assert f"protocol: TLSv{tls}\n" in proc.stdout, describe(proc)
    m = re.search(r"token key signature: (\S+)", proc.stdout)
    assert m and m.group(1) in SCHEMES[(label, tls)], describe(proc)


@pytest.mark.parametrize("side", ["server", "client"])
@pytest.mark.parametrize("tls", ["1.3", "1.2"])
@pytest.mark.parametrize("label", ["ec-p256", "rsa2048"])
def test_sequential_handshakes_one_login(request, tmp_path, peer, label,
                                         tls, side):
    key = token_key(request, label)
    log = tmp_path / "spy.log"
    env = {**key.env, **spy_env(SOFTHSM_MODULE, log)}
    proc = run_c("tls_handshakes", tls_args(key, peer, side, tls,
                                            "--count", "50"), env, tmp_path)
    check_output(proc, label, tls, 50)
    names = spy_names(log)
    assert names.count("C_Login") == 1, spy_summary(log)
    # Every handshake signed with the token key (full handshakes only).
    assert names.count("C_SignInit") >= 50, spy_summary(log)


@pytest.mark.parametrize("side", ["server", "client"])
@pytest.mark.parametrize("tls", ["1.3", "1.2"])
@pytest.mark.parametrize("label", ["ec-p256", "rsa2048"])
def test_concurrent_handshakes(request, tmp_path, peer, label, tls, side):
    key = token_key(request, label)
    proc = run_c("tls_handshakes", tls_args(key, peer, side, tls,
                                            "--threads", "4", "--count", "25"),
                 key.env, tmp_path)
    check_output(proc, label, tls, 100)


def test_wrong_certificate_fails(request, tmp_path, peer):
    """SSL_CTX_check_private_key refuses a token key with another key's
    certificate: the program fails before any handshake."""
    key = token_key(request, "ec-p256")
    other = token_key(request, "rsa2048")
    args = tls_args(key, peer, "server", "1.3")
    args[args.index("--cert") + 1] = other.key.cert_pem
    proc = run_c("tls_handshakes", args, key.env, tmp_path)
    assert proc.returncode == 1, describe(proc)
    assert "SSL_CTX_check_private_key" in proc.stderr \
        or "SSL_CTX_use_PrivateKey" in proc.stderr, describe(proc)
