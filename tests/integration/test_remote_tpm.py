"""The TPM behind p11-kit's server: tpm2-pkcs11 on swtpm, exported by
`p11-kit server`, and pkcs11prov as its client (remote.py).

`p11-kit server` runs a process per client connection, and each loads
tpm2-pkcs11, which talks to the TPM directly. With no resource manager in
between, those processes share the TPM's three transient object slots and
three sessions, so several clients at once either work or get a clear
error. With tpm2-abrmd in front of the TPM, each gets a TPM of its own,
virtualised, and they all work. After every test, the TPM holds nothing a
client loaded (the tpm_clean fixture)."""
import os
import signal
import time
from urllib.parse import urlparse

import pytest

from helpers import (TPM2_MODULE, assert_ok, describe, run,
                     write_openssl_cnf)
from keyops import data_file, software
from remote import LoopResult, P11KitServer, TpmResourceManager, sign_loop
from servers import BODY, https_server  # noqa: F401 (a fixture)

CLIENTS, CLIENT_THREADS, CLIENT_SECONDS = 4, 2, 2


def private_uri(tpm, label):
    return (f"pkcs11:token={tpm.token};object={label};type=private"
            f"?pin-value={tpm.pin}")


def serve(tpm, directory, extra_env=None):
    srv = P11KitServer(directory, {**tpm.env, **(extra_env or {})},
                       TPM2_MODULE, f"pkcs11:token={tpm.token}")
    srv.start()
    return srv


@pytest.fixture
def tpm_server(tpm_clean, tmp_path):
    srv = serve(tpm_clean, tmp_path)
    yield srv
    srv.kill()


@pytest.fixture
def brokered_tpm_server(tpm_clean, tmp_path):
    """The same server, its tpm2-pkcs11 reaching the TPM through
    tpm2-abrmd."""
    broker = TpmResourceManager(tmp_path, tpm_clean.env["TPM2_PKCS11_TCTI"])
    broker.start()
    try:
        srv = serve(tpm_clean, tmp_path,
                    {"TPM2_PKCS11_TCTI": broker.tcti, **broker.env})
        yield srv
        srv.kill()
    finally:
        broker.stop()


def sign_once(srv, tpm, directory, label):
    """openssl dgst -sign through the server, verified in software."""
    directory.mkdir(exist_ok=True)
    data, sig = data_file(directory), directory / "sig"
    env = {"OPENSSL_CONF": write_openssl_cnf(directory), **srv.client_env()}
    assert_ok(run(["openssl", "dgst", "-sha256", "-sign",
                   private_uri(tpm, label), "-out", sig, data], env))
    software(directory, "dgst", "-sha256", "-verify",
             tpm.keys[label].pub_pem, "-signature", sig, data,
             what="verifying the signature the served TPM made")


@pytest.mark.parametrize("label", ["tpm-p256", "tpm-rsa2048"])
def test_sign_with_the_served_tpm(tpm_server, tpm_clean, tmp_path, label):
    sign_once(tpm_server, tpm_clean, tmp_path, label)


def test_tls_client_key_on_the_served_tpm(
        tpm_server, tpm_clean, software_ca,
        https_server, tmp_path):  # noqa: F811 (the fixture)
    """The update client's case: mutual TLS to a server that requires a
    client certificate, the client's key in the TPM behind the server."""
    url = urlparse(https_server)
    key = tpm_clean.keys["tpm-p256"]
    proc = run(["openssl", "s_client", "-connect",
                f"127.0.0.1:{url.port}", "-servername", "localhost",
                "-key", private_uri(tpm_clean, key.label), "-cert",
                key.cert_pem, "-CAfile", software_ca.cert,
                "-verify_return_error", "-quiet"],
               {"OPENSSL_CONF": write_openssl_cnf(tmp_path),
                **tpm_server.client_env()},
               input=f"GET {url.path} HTTP/1.0\r\n\r\n")
    assert_ok(proc)
    assert BODY in proc.stdout, describe(proc)


def clients_at_once(srv, tpm, tmp_path):
    """CLIENTS processes of CLIENT_THREADS threads, started together;
    their results, once all have finished or were killed as hung."""
    loops = [sign_loop(srv, private_uri(tpm, "tpm-p256"),
                       tmp_path / f"client{i}", CLIENT_SECONDS,
                       threads=CLIENT_THREADS) for i in range(CLIENTS)]
    return [LoopResult(started, timeout=60) for started in loops]


def test_clients_at_once_without_a_resource_manager(tpm_server, tpm_clean,
                                                    tmp_path):
    """Each client signs, every signature right, or fails with an error
    that names the call and its CKR_ (the TPM's object memory is full:
    tpm2-pkcs11 answers CKR_GENERAL_ERROR). None hangs, none gets a wrong
    signature, the TPM is left empty and signs for the next client."""
    before = tpm_server.children()
    results = clients_at_once(tpm_server, tpm_clean, tmp_path)
    for loop in results:
        assert not loop.hung, loop.text
        assert loop.wrong in (0, None), loop.text
        if loop.signed is None:
            assert loop.status != 0, loop.text
            assert "CKR_" in loop.stderr and tpm_clean.token in \
                loop.stderr, loop.text
        else:
            assert loop.status == 0 and loop.signed > 0, loop.text
            assert loop.failed == 0 or "CKR_" in loop.stderr, loop.text
    assert any(loop.signed for loop in results), \
        "no client signed:\n" + "\n".join(loop.text for loop in results)
    assert not tpm_server.wait_for_children(before)
    sign_once(tpm_server, tpm_clean, tmp_path / "after", "tpm-p256")


def test_clients_at_once_behind_a_resource_manager(brokered_tpm_server,
                                                   tpm_clean, tmp_path):
    """With tpm2-abrmd between tpm2-pkcs11 and the TPM, every client
    signs throughout, with no error."""
    before = brokered_tpm_server.children()
    for loop in clients_at_once(brokered_tpm_server, tpm_clean, tmp_path):
        assert loop.status == 0 and loop.signed, loop.text
        assert loop.failed == 0 and loop.wrong == 0, loop.text
        assert all(loop.seconds[s][0] > 0 for s in range(CLIENT_SECONDS)), \
            loop.text
    assert not brokered_tpm_server.wait_for_children(before)


def test_a_killed_client_leaves_nothing_behind_a_resource_manager(
        brokered_tpm_server, tpm_clean, tmp_path):
    """Killed while it signs: tpm2-abrmd flushes what its connection
    loaded, so the TPM holds nothing once the client's server process is
    gone (without a resource manager, a transient object and a session
    stay: README)."""
    before = brokered_tpm_server.children()
    proc, _ = sign_loop(brokered_tpm_server,
                        private_uri(tpm_clean, "tpm-p256"), tmp_path / "c",
                        10, threads=2)
    try:
        deadline = time.monotonic() + 30
        while not (set(brokered_tpm_server.children())
                                  - set(before)):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        time.sleep(1)  # logged in and signing by now
        assert proc.poll() is None, "the client stopped early"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not brokered_tpm_server.wait_for_children(before)
    assert not tpm_clean.leftovers(), tpm_clean.leftovers()
