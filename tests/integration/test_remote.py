"""Keys served over p11-kit's RPC: a SoftHSM token exported by
`p11-kit server` on a unix socket in a temporary directory, and
pkcs11prov using p11-kit's client module, as containers or hosts reaching
one key server do (remote.py)."""
import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from helpers import (PROVIDER_DIR, SOFTHSM_MODULE, assert_fails_cleanly,
                     assert_ok, describe, run, write_openssl_cnf)
from keyops import data_file, software
from remote import LoopResult, P11KitServer, p11kit_version, sign_loop
from tokens import softhsm_token

SERVED_LABEL = "p11prov-served"
SERVED_PIN = "Srv3dPin31"
KEY_LABEL = "served-ec"
ECDH_LABEL = "served-ecdh"
@pytest.fixture(scope="module")
def served_token(tmp_path_factory):
    """A SoftHSM token of its own with one EC P-256 key pair."""
    directory = tmp_path_factory.mktemp("served")
    env, slot = softhsm_token(directory, SERVED_LABEL, SERVED_PIN)
    for label, key_id, usage in ((KEY_LABEL, "5e", "--usage-sign"),
                                 (ECDH_LABEL, "5f", "--usage-derive")):
        proc = run(["/usr/bin/python3",
                    os.path.join(os.path.dirname(__file__), "tokens.py"),
                    "keypair", SOFTHSM_MODULE, str(slot), SERVED_PIN,
                    "EC:prime256v1", label, key_id, usage], env,
                   preload=False)
        assert proc.returncode == 0, describe(proc)
    return env


def served(directory, env, label=SERVED_LABEL):
    return P11KitServer(directory, env, SOFTHSM_MODULE,
                        f"pkcs11:token={label}")


@pytest.fixture
def server(served_token, tmp_path):
    srv = served(tmp_path, served_token)
    srv.start()
    yield srv
    srv.kill()


def key_uri(label=KEY_LABEL):
    return (f"pkcs11:token={SERVED_LABEL};object={label};type=private"
            f"?pin-value={SERVED_PIN}")


def test_sign_through_the_server(server, tmp_path):
    data, sig, pub = data_file(tmp_path), tmp_path / "sig", tmp_path / "pub"
    conf = write_openssl_cnf(tmp_path)
    env = {"OPENSSL_CONF": conf, **server.client_env()}
    assert_ok(run(["openssl", "pkey", "-in", key_uri(), "-pubout", "-out",
                   pub], env))
    assert_ok(run(["openssl", "dgst", "-sha256", "-sign", key_uri(), "-out",
                   sig, data], env))
    software(tmp_path, "dgst", "-sha256", "-verify", pub, "-signature", sig,
             data, what="verifying the signature made through the server")


def test_server_restarts_while_a_client_signs(server, tmp_path):
    """Killed and started again twice during an 11-second run: the client
    is neither killed (SIGPIPE) nor left broken; it signs again within
    about a second each time, and in each of the last 3 seconds."""
    started = time.monotonic()
    # The provider's trace of its recoveries: what a failure shows.
    proc = sign_loop(server, key_uri(), tmp_path, 11, threads=2,
                     env={"PKCS11PROV_DEBUG": "1"})
    try:
        for at, action in ((3, server.kill), (4, server.start),
                           (6, server.kill), (7, server.start)):
            time.sleep(max(0.0, started + at - time.monotonic()))
            action()
    finally:
        loop = LoopResult(proc, timeout=90)
    seconds, text = loop.seconds, loop.text
    assert loop.status == 0 and loop.wrong == 0, text
    assert sorted(seconds) == list(range(11)), text
    assert seconds[0][0] > 0, text
    for second in (8, 9, 10):
        assert seconds[second][0] > 0, (f"nothing signed in second "
                                        f"{second}\n{text}")
    # Back within about a second of each restart (at 4 s and 7 s).
    assert seconds[5][0] > 0 and seconds[8][0] > 0, text


@pytest.mark.parametrize("connections", [1, 2])
def test_threads_sign_on_connections_of_their_own(server, tmp_path,
                                                  connections):
    """Two threads signing at once each get a connection to the server
    (a `p11-kit remote` process there) unless the configuration allows
    only one; every signature is right either way."""
    assert_connections(server, connections, tmp_path,
                       env={"PKCS11PROV_CONNECTIONS": str(connections)})


def assert_connections(srv, connections, directory, env=None, prefix=()):
    """Two threads sign for 3 s, every signature right, on `connections`
    connections to the server (its `p11-kit remote` processes)."""
    before = set(srv.children())
    started = sign_loop(srv, key_uri(), directory, 3, threads=2, env=env,
                        prefix=prefix)
    peak = 0
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        peak = max(peak, len(set(srv.children()) - before))
        time.sleep(0.1)
    loop = LoopResult(started, timeout=60)
    assert loop.status == 0 and loop.signed, loop.text
    assert loop.failed == 0 and loop.wrong == 0, loop.text
    assert peak == connections, (f"{peak} connections to the server, not "
                                 f"{connections}\n{loop.text}")


@pytest.mark.parametrize("value", ["0", "9", "two", "-1"])
def test_connections_setting_is_checked(server, tmp_path, value):
    proc = run(["openssl", "pkey", "-in", key_uri(), "-pubout"],
               {"OPENSSL_CONF": write_openssl_cnf(tmp_path),
                **server.client_env(), "PKCS11PROV_CONNECTIONS": value})
    assert proc.returncode != 0, describe(proc)
    assert "PKCS11PROV_CONNECTIONS" in proc.stderr and value in \
        proc.stderr, describe(proc)


def test_server_exporting_no_token(served_token, tmp_path):
    """A server whose URI matches no token serves an empty slot list. p11-kit
    takes a buffer of zero elements for a size query, so asking for the
    empty list with one answers CKR_BUFFER_TOO_SMALL: the client must not
    ask, and says that no token matches."""
    srv = served(tmp_path, served_token, label="no-such-token")
    srv.start()
    try:
        proc = run(["openssl", "pkey", "-in", key_uri(), "-pubout"],
                   {"OPENSSL_CONF": write_openssl_cnf(tmp_path),
                    **srv.client_env()})
    finally:
        srv.kill()
    assert_fails_cleanly(proc, "no token matches", SERVED_LABEL)
    assert "CKR_BUFFER_TOO_SMALL" not in proc.stderr, describe(proc)


@pytest.fixture(scope="module")
def shared_server(served_token, tmp_path_factory):
    srv = served(tmp_path_factory.mktemp("shared-server"), served_token)
    srv.start()
    yield srv
    srv.kill()


CLIENTS, CLIENT_THREADS, CLIENT_SECONDS, CLIENT_STAGGER = 4, 2, 2, 0.25


# Rounds in a row; the chroot tiers run fewer (scripts/test.sh).
CLIENT_ROUNDS = int(os.environ.get("PKCS11PROV_CLIENT_ROUNDS", "20"))


@pytest.mark.parametrize("round_", range(CLIENT_ROUNDS))
def test_many_clients_sign_at_once(shared_server, tmp_path, round_):
    """Four processes of two threads each sign through one server at the
    same time; every signature is verified in software, none fails, and
    once they exit the server holds no more client processes (and so no
    more sessions) than before.

    The clients start a quarter of a second apart, then sign together for
    2 s. Started in the same instant, 1 in 7 fails on SoftHSM 2.6.1 alone:
    its C_Login rewrites token.object, and another process reading it
    meanwhile sees the token as uninitialised or answers
    CKR_GENERAL_ERROR. pkcs11-tool run four at a time fails the same way
    with no p11-kit in between (README, "Keys on another machine")."""
    before = shared_server.children()
    loops = []
    for client in range(CLIENTS):
        loops.append(sign_loop(shared_server, key_uri(),
                               tmp_path / f"client{client}", CLIENT_SECONDS,
                               threads=CLIENT_THREADS))
        time.sleep(CLIENT_STAGGER)
    for loop in [LoopResult(started, timeout=60) for started in loops]:
        assert loop.status == 0 and loop.signed, loop.text
        assert loop.failed == 0 and loop.wrong == 0, loop.text
        # Each client signed in each of its seconds, the last of which
        # overlaps every other client's run.
        assert [loop.seconds[s][0] > 0 for s in range(CLIENT_SECONDS)] == \
            [True] * CLIENT_SECONDS, loop.text
    left = shared_server.wait_for_children(before)
    assert not left, f"server processes of finished clients remain: {left}"


def test_ecdh_through_the_server(server, tmp_path):
    """p11-kit 0.24's RPC cannot carry CKM_ECDH1_DERIVE's parameters and
    leaves the mechanism out of the served list: a clear error naming it.
    From 0.25 (Debian 13) the secret is derived, and is the one software
    derives on the peer's side."""
    conf = write_openssl_cnf(tmp_path)
    env = {"OPENSSL_CONF": conf, **server.client_env()}
    peer_key, peer_pub = tmp_path / "peer.key", tmp_path / "peer.pub"
    token_pub, out = tmp_path / "token.pub", tmp_path / "token.bin"
    software(tmp_path, "genpkey", "-algorithm", "EC", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-out", peer_key)
    software(tmp_path, "pkey", "-in", peer_key, "-pubout", "-out", peer_pub)
    assert_ok(run(["openssl", "pkey", "-in", key_uri(ECDH_LABEL), "-pubout",
                   "-out", token_pub], env))
    proc = run(["openssl", "pkeyutl", "-derive", "-inkey",
                key_uri(ECDH_LABEL), "-peerkey", peer_pub, "-out", out], env)
    if p11kit_version() < (0, 25):
        assert_fails_cleanly(proc, "CKM_ECDH1_DERIVE", SERVED_LABEL)
        return
    assert_ok(proc)
    want = tmp_path / "software.bin"
    software(tmp_path, "pkeyutl", "-derive", "-inkey", peer_key, "-peerkey",
             token_pub, "-out", want, what="the peer's side")
    assert out.read_bytes() == want.read_bytes(), (
        "the served token's ECDH secret differs from the software one")


@contextlib.contextmanager
def zero_configuration(served_token):
    """A served token reachable through p11-kit's proxy with no pkcs11prov
    setting: a p11-kit module configuration with `remote: unix:path=...`
    in a home of the test's own. p11-kit reads no user configuration as
    root, so clients run as nobody (the socket opened to them). Yields
    (directory nobody can read, environment, command prefix)."""
    public = Path(tempfile.mkdtemp(prefix="pkcs11prov-zeroconf-", dir="/tmp"))
    try:
        public.chmod(0o755)
        srv = served(public, served_token)
        srv.start()
        try:
            srv.socket.chmod(0o666)
            modules = public / "home" / ".config" / "pkcs11" / "modules"
            modules.mkdir(parents=True)
            (modules / "served.module").write_text(
                f"remote: unix:path={srv.socket}\n")
            for d in (public / "home", modules.parent.parent, modules.parent,
                      modules):
                d.chmod(0o755)
            as_client = ([] if os.geteuid() != 0 else
                         ["setpriv", "--reuid=nobody", "--regid=nogroup",
                          "--clear-groups"])
            env = {"HOME": public / "home", "PKCS11PROV_MODULE": None,
                   "P11_KIT_SERVER_ADDRESS": None, "SOFTHSM2_CONF": None}
            yield srv, public, env, as_client
        finally:
            srv.kill()
    finally:
        shutil.rmtree(public, ignore_errors=True)


def test_zero_configuration_through_the_proxy(served_token, tmp_path):
    """No pkcs11prov setting: the default module (p11-kit's proxy) loads
    the served token from a p11-kit module configuration."""
    with zero_configuration(served_token) as (srv, public, env, as_client):
        out = public / "out"
        out.mkdir(mode=0o777)
        out.chmod(0o777)
        data = public / "data"
        data.write_text("signed with zero configuration\n")
        proc = run([*as_client, "openssl", "dgst", "-sha256",
                    "-provider-path", PROVIDER_DIR, "-provider",
                    "pkcs11prov", "-provider", "default", "-sign",
                    key_uri(), "-out", out / "sig", data],
                   {**env, "OPENSSL_CONF": "/dev/null"})
        assert_ok(proc)
        pub = tmp_path / "pub.pem"
        assert_ok(run(["openssl", "pkey", "-in", key_uri(), "-pubout",
                       "-out", pub],
                      {"OPENSSL_CONF": write_openssl_cnf(tmp_path),
                       **srv.client_env()}))
        software(tmp_path, "dgst", "-sha256", "-verify", pub,
                 "-signature", out / "sig", data,
                 what="verifying the signature made with zero "
                 "configuration")


def test_proxy_threads_share_one_connection(served_token):
    """p11-kit's proxy shares the modules it loads, and so their
    connections, between its instances: the provider makes no second one
    (which would initialise every module the proxy loads again: under
    ASan, tpm2-pkcs11's failed start leaks), keeps one connection with one
    call at a time on it, and two threads sign right."""
    with zero_configuration(served_token) as (srv, public, env, as_client):
        assert_connections(srv, 1, public / "loop", env=env, prefix=as_client)
