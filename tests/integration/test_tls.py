"""TLS through the provider: real `openssl s_server` and `openssl s_client`
on 127.0.0.1, one of them with its private key on a token
(`-key 'pkcs11:...;type=private?pin-value=...'`), the other with a software
key. Every handshake is mutual: the server requires a client certificate
(`-Verify 1 -verify_return_error`) and the client verifies the server's
(`-verify_return_error`); token certificates are checked against the
fixture CA.

The server runs with `-rev -naccept 1`: it sends every line back reversed
and closes on a line starting with CLOSE, so the client's stdin is
"<text>\\nCLOSE\\n" with `-ign_eof`, and the reversed text must arrive.

The signature algorithm is forced with `-sigalgs` on both sides (the token
key's algorithm and the software peer's ECDSA P-256), so the algorithm the
token signed with is known, and it is asserted from what the peer printed:
s_client's "Peer signature type/Peer signing digest" about the server,
s_server's "Signature type/Hash used" about the client, compared as a
scheme family and hash (OpenSSL 3.0 prints `RSA-PSS` and `SHA256`, 3.5
and later the IANA name `rsa_pss_rsae_sha256`). The provider's debug
trace (PKCS11PROV_DEBUG=3) shows the C_SignInit on the token.

RSA: TLS 1.2 with PKCS#1 v1.5 (rsa_pkcs1_sha256) and with PSS, TLS 1.3
with PSS (rsa_pss_rsae_sha256) - also on tpm2-pkcs11, whose PSS is not
listed by C_GetMechanismList. Each process is stopped by its PID.

The matrix loads the provider after the default provider; with ours
loaded first (or preferred by -propquery) OpenSSL 3.0 loses the EC TLS
groups: see test_tls12_ec_groups_with_provider_loaded.
"""
import re
import subprocess
import time

import pytest

from helpers import (CLI_PROVIDER_ARGS, PROVIDER_DIR, PROVIDER_NAME,
                     SOFTHSM_MODULE, assert_no_crash, describe, free_port, run,
                     sigalg_scheme, write_openssl_cnf, write_plain_cnf)
from keyops import popen, read_until, software, token_key
from tokens import RSA_CERT_USAGE, SIGN, USER_PIN, KeySpec, private_softhsm_key

# The provider loaded from the command line, the default provider first:
# see test_tls12_ec_groups_with_provider_loaded_first for why the order
# matters.
PROVIDER_ARGS = ("-provider-path", str(PROVIDER_DIR), "-provider", "default",
                 "-provider", PROVIDER_NAME)
# Ours first, as every other test loads it.
PROVIDER_FIRST_ARGS = CLI_PROVIDER_ARGS

# Bounded waits (the sanitizer build is several times slower).
START_TIMEOUT = 30
RUN_TIMEOUT = 45

PEER_SIGALG = "ecdsa_secp256r1_sha256"   # the software peer's key

# (key label, TLS version, sigalg)
CASES = [
    ("rsa2048", "1.3", "rsa_pss_rsae_sha256"),
    ("rsa2048", "1.2", "rsa_pkcs1_sha256"),
    ("rsa2048", "1.2", "rsa_pss_rsae_sha256"),
    ("ec-p256", "1.3", "ecdsa_secp256r1_sha256"),
    ("ec-p256", "1.2", "ecdsa_secp256r1_sha256"),
    ("ec-p384", "1.3", "ecdsa_secp384r1_sha384"),
    ("ec-p384", "1.2", "ecdsa_secp384r1_sha384"),
    ("ed25519", "1.3", "ed25519"),
    ("ed25519", "1.2", "ed25519"),
    ("tpm-rsa2048", "1.3", "rsa_pss_rsae_sha256"),
    ("tpm-rsa2048", "1.2", "rsa_pkcs1_sha256"),
    ("tpm-p256", "1.3", "ecdsa_secp256r1_sha256"),
    ("tpm-p256", "1.2", "ecdsa_secp256r1_sha256"),
]
# The mechanisms a signature may use on the token, per scheme family
# (helpers.sigalg_scheme).
MECHANISMS = {
    "rsa_pkcs1": ("CKM_SHA256_RSA_PKCS", "CKM_RSA_PKCS"),
    "rsa_pss": ("CKM_SHA256_RSA_PKCS_PSS", "CKM_RSA_PKCS_PSS",
                "CKM_RSA_X_509"),
    "ecdsa": ("CKM_ECDSA",),
    "ed25519": ("CKM_EDDSA",),
}


def version_flag(version):
    return {"1.3": "-tls1_3", "1.2": "-tls1_2"}[version]


@pytest.fixture(scope="module")
def peer(tmp_path_factory):
    """A software EC P-256 key with a self-signed certificate: the peer
    of every token key (the token side trusts exactly this certificate)."""
    d = tmp_path_factory.mktemp("tls-peer")
    key, cert = d / "peer.key", d / "peer.pem"
    software(d, "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out",
             cert, "-subj", "/CN=software peer", "-days", "2")
    return key, cert


def stop(proc):
    """Stops a child by its PID (Popen.kill signals proc.pid) and reaps it."""
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def start_server(args, env):
    """Starts `openssl s_server ARGS` and waits (bounded) for ACCEPT."""
    server = popen(["openssl", "s_server", *args], env)
    try:
        started, seen = read_until(server, b"ACCEPT", START_TIMEOUT)
        if not started:
            stop(server)
            pytest.fail("s_server did not start within "
                        f"{START_TIMEOUT}s\n--- stdout:\n{seen.decode()}"
                        f"\n--- stderr:\n{server.stderr.read()}")
    except BaseException:
        stop(server)
        raise
    return server, seen.decode(errors="replace")


def handshake(server_args, server_env, client_args, client_env, text):
    """Runs one s_server (-rev -naccept 1) and one s_client on a free
    port; returns (client CompletedProcess, server exit status, server
    stdout, server stderr). Both are bounded; the server is stopped by its
    PID whatever happens."""
    port = free_port()
    server, head = start_server(
        ["-accept", f"127.0.0.1:{port}", "-naccept", "1", "-rev",
         *server_args], server_env)
    try:
        started = time.monotonic()
        client = run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                      "-ign_eof", *client_args], client_env,
                     input=f"{text}\nCLOSE\n", timeout=RUN_TIMEOUT)
        left = max(RUN_TIMEOUT - (time.monotonic() - started), 5)
        try:
            out, err = server.communicate(timeout=left)
        except subprocess.TimeoutExpired:
            stop(server)
            out, err = server.communicate()
            pytest.fail(f"s_server still running {RUN_TIMEOUT}s after the "
                        f"client started\n--- stdout:\n{head}{out}\n"
                        f"--- stderr:\n{err}\n" + describe(client))
    finally:
        stop(server)
    return client, server.returncode, head + out, err


def shown(client, status, out, err):
    return (f"s_server exit status {status}\n--- s_server stdout:\n{out}\n"
            f"--- s_server stderr:\n{err[-6000:]}\n--- s_client:\n"
            + describe(client))


def sigalg_list(sigalg):
    return ":".join(dict.fromkeys([sigalg, PEER_SIGALG]))


def assert_sig(text, type_line, digest_line, sigalg, where):
    """The peer printed the scheme of sigalg (an IANA name): same family
    and hash, whether it printed the IANA name (OpenSSL 3.5 and later:
    `Peer signature type: rsa_pss_rsae_sha256`) or OpenSSL 3.0's type and
    digest (`Peer signature type: RSA-PSS`, `Peer signing digest:
    SHA256`)."""
    m = re.search(rf"^{type_line}: (\S+)$", text, re.M)
    assert m, f"{where}: no `{type_line}:` line"
    d = re.search(rf"^{digest_line}: (\S+)$", text, re.M)
    seen = sigalg_scheme(m.group(1), d.group(1) if d else None)
    assert seen == sigalg_scheme(sigalg), (
        f"{where}: expected the scheme {sigalg_scheme(sigalg)} ({sigalg}), "
        f"found {seen} ({m.group(0)}{', ' + d.group(0) if d else ''})")


def assert_signed_on_token(err, sigalg, key, where):
    """The provider's trace shows C_SignInit on the token with a
    mechanism of the sigalg's family, and no failed C_Sign*."""
    inits = re.findall(r"C_SignInit with (\S+) for (\S+)", err)
    trace = "\n".join(line for line in err.splitlines() if "Sign" in line)
    assert inits, f"{where}: no C_SignInit in the provider's trace:\n{trace}"
    mechs = {m for m, uri in inits if f"object={key.label}" in uri}
    allowed = MECHANISMS[sigalg_scheme(sigalg)[0]]
    assert mechs and mechs <= set(allowed), \
        f"{where}: token signed with {mechs}, expected one of {allowed}"


def assert_exchange(client, status, out, err, text, version):
    info = shown(client, status, out, err)
    assert_no_crash(client)
    for stream in (err, out):
        assert "Sanitizer" not in stream and "runtime error" not in stream, \
            info
    assert client.returncode == 0, info
    assert status == 0, info
    assert text[::-1] in client.stdout, "the reversed text did not arrive\n" \
        + info
    # s_server prints its connection summary on stderr
    assert f"Protocol version: TLSv{version}" in out + err, info
    assert "Verification: OK" in out + err, info  # server verified client
    assert re.search(r"Verify return code: 0 \(ok\)", client.stdout), info
    return info


def common_args(version, sigalg):
    return [version_flag(version), "-sigalgs", sigalg_list(sigalg)]


@pytest.mark.parametrize("side", ["server", "client"])
@pytest.mark.parametrize("label,version,sigalg", CASES,
                         ids=[f"{k}-tls{v}-{s}" for k, v, s in CASES])
def test_tls_token_key(request, tmp_path, software_ca, peer, label, version,
                       sigalg, side):
    """One mutual TLS handshake, the token key on side; data both ways;
    the peer saw the forced signature algorithm; the token signed."""
    key = token_key(request, label)
    plain = write_plain_cnf(tmp_path)
    peer_key, peer_cert = peer
    token_env = {**key.env, "OPENSSL_CONF": plain, "PKCS11PROV_DEBUG": "3"}
    soft_env = {"OPENSSL_CONF": plain}
    token_side = [*PROVIDER_ARGS, "-key", key.uri(), "-cert",
                  key.key.cert_pem, "-CAfile", peer_cert,
                  "-verify_return_error"]
    soft_side = ["-key", peer_key, "-cert", peer_cert, "-CAfile",
                 software_ca.cert, "-verify_return_error"]
    common = common_args(version, sigalg)
    text = f"token {label} on the {side} over TLS {version}"
    if side == "server":
        client, status, out, err = handshake(
            [*token_side, "-Verify", "1", *common], token_env,
            [*soft_side, *common], soft_env, text)
        info = assert_exchange(client, status, out, err, text, version)
        try:
            assert_sig(client.stdout, "Peer signature type",
                       "Peer signing digest", sigalg, "s_client")
            assert_signed_on_token(err, sigalg, key, "s_server")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{info}") from None
    else:
        client, status, out, err = handshake(
            [*soft_side, "-Verify", "1", *common], soft_env,
            [*token_side, *common], token_env, text)
        info = assert_exchange(client, status, out, err, text, version)
        try:
            assert_sig(out + err, "Signature type", "Hash used", sigalg,
                       "s_server")
            assert_signed_on_token(client.stderr, sigalg, key, "s_client")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{info}") from None


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_tls_propquery_both_sides(request, tmp_path, version):
    """The provider loaded from openssl.cnf and `-propquery
    '?provider=pkcs11'` on both sides, both keys on the token (server
    ec-p256, client rsa2048): the handshake and the exchange still work."""
    server_key = token_key(request, "ec-p256")
    client_key = token_key(request, "rsa2048")
    cnf = write_openssl_cnf(tmp_path)
    env = {**server_key.env, "OPENSSL_CONF": cnf}
    ca = request.getfixturevalue("software_ca").cert
    rsa_sigalg = ("rsa_pss_rsae_sha256" if version == "1.3"
                  else "rsa_pkcs1_sha256")
    sigalgs = ["-sigalgs", f"ecdsa_secp256r1_sha256:{rsa_sigalg}"]
    pq = ["-propquery", "?provider=pkcs11"]
    text = f"propquery over TLS {version}"
    client, status, out, err = handshake(
        [*pq, "-key", server_key.uri(), "-cert", server_key.key.cert_pem,
         "-CAfile", ca, "-Verify", "1", "-verify_return_error",
         version_flag(version), *sigalgs], env,
        [*pq, "-key", client_key.uri(), "-cert", client_key.key.cert_pem,
         "-CAfile", ca, "-verify_return_error", version_flag(version),
         *sigalgs], env, text)
    info = assert_exchange(client, status, out, err, text, version)
    try:
        assert_sig(client.stdout, "Peer signature type",
                   "Peer signing digest", "ecdsa_secp256r1_sha256",
                   "s_client")
        assert_sig(out + err, "Signature type", "Hash used", rsa_sigalg,
                   "s_server")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{info}") from None


@pytest.mark.parametrize("setup", ["provider-first", "config-propquery"])
def test_tls12_ec_groups_with_provider_loaded(tmp_path, peer, setup):
    """No token key at all: a software ECDSA P-256 server in TLS 1.2 with
    the provider loaded. OpenSSL 3.0 registers a provider's TLS-GROUP
    (secp256r1, ...) only if EVP_KEYMGMT_fetch("EC", propq) returns that
    provider's EC key manager; when the fetch returns ours (loaded before
    the default provider, or preferred by -propquery '?provider=pkcs11'),
    the EC groups vanish, ECDHE has no curve and an ECDSA certificate is
    unusable: "no shared cipher". Just loading the provider must not do
    that."""
    key, cert = peer
    plain = write_plain_cnf(tmp_path)
    if setup == "provider-first":
        server_args, server_env = [*PROVIDER_FIRST_ARGS], {
            "OPENSSL_CONF": plain}
    else:
        server_args = ["-propquery", "?provider=pkcs11"]
        server_env = {"OPENSSL_CONF": write_openssl_cnf(tmp_path)}
    server_env["PKCS11PROV_MODULE"] = SOFTHSM_MODULE
    text = f"software keys, provider loaded ({setup})"
    client, status, out, err = handshake(
        [*server_args, "-key", key, "-cert", cert, "-tls1_2"], server_env,
        ["-CAfile", cert, "-verify_return_error", "-tls1_2"],
        {"OPENSSL_CONF": plain}, text)
    info = shown(client, status, out, err)
    assert "no shared cipher" not in err, info
    assert client.returncode == 0 and status == 0, info
    assert text[::-1] in client.stdout, info


# ---- a token key that cannot do what TLS 1.3 needs -----------------------

NOPSS_TOKEN = "p11prov-tls-nopss"


@pytest.fixture(scope="module")
def pkcs1_only_key(tmp_path_factory, software_ca):
    """(uri, cert_pem, env): an RSA key on a private SoftHSM token that
    may do CKM_RSA_PKCS only (no PSS, no raw RSA), with a certificate of
    the fixture CA."""
    key, env = private_softhsm_key(
        tmp_path_factory.mktemp("tls-nopss"), NOPSS_TOKEN,
        KeySpec("pkcs1only", "01", "rsa:2048", SIGN, RSA_CERT_USAGE,
                allowed="RSA-PKCS"), software_ca)
    return (f"{key.uri};type=private?pin-value={USER_PIN}", key.cert_pem,
            env)


def test_tls13_without_pss_fails_clearly(tmp_path, software_ca, peer,
                                         pkcs1_only_key):
    """s_server -tls1_3 with an RSA key allowed CKM_RSA_PKCS only: TLS 1.3
    needs RSA-PSS, which the token cannot do (and raw RSA is not allowed
    either). The handshake fails with the provider's error, and both
    processes end within the timeout."""
    uri, cert, env = pkcs1_only_key
    plain = write_plain_cnf(tmp_path)
    started = time.monotonic()
    client, status, out, err = handshake(
        [*PROVIDER_ARGS, "-key", uri, "-cert", cert, "-tls1_3"],
        {**env, "OPENSSL_CONF": plain},
        ["-CAfile", software_ca.cert, "-verify_return_error", "-tls1_3"],
        {"OPENSSL_CONF": plain}, "must not arrive")
    elapsed = time.monotonic() - started
    info = shown(client, status, out, err)
    assert_no_crash(client)
    assert "Sanitizer" not in err and "runtime error" not in err, info
    assert elapsed < RUN_TIMEOUT, info
    assert "tnevirra ton tsum" not in client.stdout, info
    assert client.returncode != 0, info
    # "RSA-PSS signature (CKM_RSA_PKCS_PSS, or CKM_RSA_X_509 to encode it
    # here): not allowed for pkcs11:...object=pkcs1only... "
    assert re.search(r"RSA-PSS.*CKM_RSA_PKCS_PSS.*not allowed", err), \
        "s_server's stderr lacks the provider's error\n" + info
    assert "pkcs1only" in err, info
    # The client saw a handshake failure (an alert), not a silent close.
    assert re.search(r"alert|handshake failure|error", client.stderr, re.I), \
        info


def test_tls12_pkcs1_with_the_same_key_works(tmp_path, software_ca,
                                             pkcs1_only_key):
    """The control: the same key does TLS 1.2 with PKCS#1 v1.5."""
    uri, cert, env = pkcs1_only_key
    plain = write_plain_cnf(tmp_path)
    text = "pkcs1 only over TLS 1.2"
    sigalgs = ["-sigalgs", "rsa_pkcs1_sha256"]
    client, status, out, err = handshake(
        [*PROVIDER_ARGS, "-key", uri, "-cert", cert, "-tls1_2",
         *sigalgs], {**env, "OPENSSL_CONF": plain},
        ["-CAfile", software_ca.cert, "-verify_return_error", "-tls1_2",
         *sigalgs], {"OPENSSL_CONF": plain}, text)
    info = shown(client, status, out, err)
    assert client.returncode == 0 and status == 0, info
    assert text[::-1] in client.stdout, info
    assert_sig(client.stdout, "Peer signature type", "Peer signing digest",
               "rsa_pkcs1_sha256", "s_client")
