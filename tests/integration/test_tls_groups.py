"""TLS 1.3 key exchange groups with the provider listed FIRST in
openssl.cnf, on both sides, the server key on the token. The provider
declares TLS-GROUPs for its EC key manager (secp256r1/384r1/521r1); those
must not hide the default provider's groups. OpenSSL >= 3.5 offers the
hybrid X25519MLKEM768 first by default: two such peers must still agree on
it. Checked by behaviour: with the client offering only the hybrid group,
and with the server accepting only it, the handshake completes and data
flows; and the default handshake names it. Skipped where OpenSSL has no
ML-KEM (before 3.5), with the reason."""
import pytest

from helpers import PROVIDER_MODULE, run
from keyops import token_key
from test_tls import handshake, shown

HYBRID = "X25519MLKEM768"


@pytest.fixture(scope="module")
def hybrid_offered():
    proc = run(["openssl", "list", "-kem-algorithms"])
    if "ML-KEM-768" not in proc.stdout.upper():
        version = run(["openssl", "version"]).stdout.strip()
        pytest.skip(f"{version}: no ML-KEM, so no {HYBRID} group (3.5 added it)")


def provider_first_cnf(directory):
    """openssl.cnf loading pkcs11prov before the default provider."""
    path = directory / "provider-first.cnf"
    path.write_text("\n".join([
        "openssl_conf = openssl_init",
        "[openssl_init]",
        "providers = provider_sect",
        "[provider_sect]",
        "pkcs11 = pkcs11_sect",
        "default = default_sect",
        "[pkcs11_sect]",
        f"module = {PROVIDER_MODULE}",
        "activate = 1",
        "[default_sect]",
        "activate = 1",
        "",
    ]))
    return path


@pytest.mark.parametrize("restricted", ["client", "server", "neither"])
def test_tls13_hybrid_group_with_provider_first(request, tmp_path,
                                                software_ca, hybrid_offered,
                                                restricted):
    key = token_key(request, "ec-p256")
    env = {**key.env, "OPENSSL_CONF": provider_first_cnf(tmp_path)}
    only = ["-groups", HYBRID]
    server_args = ["-key", key.uri(), "-cert", key.key.cert_pem, "-tls1_3",
                   *(only if restricted == "server" else [])]
    client_args = ["-CAfile", software_ca.cert, "-tls1_3",
                   "-verify_return_error",
                   *(only if restricted == "client" else [])]
    text = f"hybrid group, {restricted} restricted"
    client, status, out, err = handshake(server_args, env, client_args, env,
                                         text)
    info = shown(client, status, out, err)
    assert client.returncode == 0 and status == 0, info
    assert text[::-1] in client.stdout, info
    if restricted == "neither":
        assert HYBRID.lower() in (client.stdout + client.stderr).lower(), info
