"""URI key files: the file form of a token private key, written by the
provider's encoders and read back by its decoders.

`openssl pkey -in 'pkcs11:...' -out key.pem` writes a PEM labelled
"PKCS#11 PROVIDER URI" whose DER is SEQUENCE { VisibleString "PKCS#11
Provider URI v1.0", UTF8String URI } (latchset/pkcs11-provider's layout,
built here by hand to check it byte for byte), never with a PIN; the
DER form likewise. The file then signs on the token (PIN from the
configuration, -passin, or the file's own pin-source), through the OpenSSL
tools and through curl (SSL_CTX_use_PrivateKey_file, as file-only programs
do); `-text` shows the type, size, URI and public part, never private
material. Damaged files give errors that say what is wrong. Public keys of
token keys still encode through the default provider (PEM, DER, text), and
software keys are still written as ordinary PKCS#8 whichever provider comes
first. Every signature is verified by openssl without the provider."""
import base64
import os
import re
import time
from pathlib import Path

import pytest

from helpers import (CLI_PROVIDER_ARGS, assert_ok, describe, free_port,
                     openssl_version, run, run_openssl, write_openssl_cnf,
                     write_plain_cnf)
from keyops import (assert_clear_error, data_file, kind, popen, software,
                    token_key)
from tokens import DISTINCT_PIN

LABEL = "PKCS#11 PROVIDER URI"
DESC = b"PKCS#11 Provider URI v1.0"
URI_KEYS = ["rsa2048", "ec-p256", "ec-p384", "ec-p521", "ed25519", "ed448",
            "tpm-p256", "tpm-rsa2048"]
TYPE = {"rsa": "RSA", "ec": "EC"}
BITS = {"rsa2048": 2048, "tpm-rsa2048": 2048, "ec-p256": 256,
        "tpm-p256": 256, "ec-p384": 384, "ec-p521": 521, "ed25519": 256,
        "ed448": 456}


def key_type(label):
    return TYPE.get(kind(label)) or label.upper()


# ---- DER and PEM, built here without OpenSSL -----------------------------------

def tlv(tag, value, long_form=False):
    n = len(value)
    if long_form:                       # always 0x82 (a tool writes that)
        return bytes([tag, 0x82]) + n.to_bytes(2, "big") + value
    if n < 0x80:
        return bytes([tag, n]) + value
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + value


def uri_der(uri, desc=DESC, long_form=False):
    """latchset's layout, minimal DER unless long_form."""
    body = tlv(0x1a, desc, long_form) + tlv(0x0c, uri.encode(), long_form)
    return tlv(0x30, body, long_form)


def to_pem(der, label=LABEL):
    b64 = base64.b64encode(der).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines,
                      f"-----END {label}-----", ""])


def parse_uri_der(der):
    """The URI of a URI file's DER; asserts the exact layout."""
    def header(data, at):
        tag, first = data[at], data[at + 1]
        if first < 0x80:
            return tag, first, at + 2
        n = first & 0x7f
        return tag, int.from_bytes(data[at + 2:at + 2 + n], "big"), at + 2 + n
    tag, length, at = header(der, 0)
    assert tag == 0x30 and at + length == len(der), der.hex()
    tag, length, at = header(der, at)
    assert tag == 0x1a and der[at:at + length] == DESC, der.hex()
    tag, length, at = header(der, at + length)
    assert tag == 0x0c and at + length == len(der), der.hex()
    uri = der[at:].decode()
    assert uri_der(uri) == der, "not the minimal DER of latchset's layout"
    return uri


def pem_body(text):
    m = re.fullmatch(rf"-----BEGIN {re.escape(LABEL)}-----\n(.*)\n"
                     rf"-----END {re.escape(LABEL)}-----\n", text, re.S)
    assert m, "not exactly one URI PEM block:\n" + text
    return base64.b64decode(m.group(1))


# ---- helpers ---------------------------------------------------------------------

def pin_opts(openssl_prov, key):
    """(arguments, configuration) giving the PIN: -passin on the command
    line, pkcs11-module-token-pin from openssl.cnf."""
    if openssl_prov.mode == "cli":
        return ["-passin", f"pass:{key.pin}"], None
    return [], {"pkcs11-module-token-pin": key.pin}


def write_uri_file(openssl_prov, key, path, *args):
    proc = openssl_prov("pkey", "-in", key.uri(), *args, "-out", path,
                        env=key.env)
    assert_ok(proc)
    assert path.is_file(), describe(proc)
    return path


def sign_and_verify(openssl_prov, key, keyfile, tmp_path, *args, cnf=None):
    """Signs data with keyfile (the provider's), verifies without it."""
    data, sig = data_file(tmp_path), tmp_path / "sig"
    if key.kind == "ed":
        cmd = ["pkeyutl", "-sign", "-rawin", "-inkey", keyfile, *args,
               "-in", data, "-out", sig]
        check = ["pkeyutl", "-verify", "-pubin", "-inkey", key.key.pub_pem,
                 "-rawin", "-in", data, "-sigfile", sig]
    else:
        cmd = ["dgst", "-sha256", "-sign", keyfile, *args, "-out", sig, data]
        check = ["dgst", "-sha256", "-verify", key.key.pub_pem, "-signature",
                 sig, data]
    proc = openssl_prov(*cmd, env=key.env, cnf=cnf)
    assert_ok(proc)
    software(tmp_path, *check, what=f"verifying {key.label}'s signature "
             f"made with {Path(keyfile).name}")


# ---- writing URI files -------------------------------------------------------------

@pytest.mark.parametrize("label", URI_KEYS)
def test_pkey_writes_uri_pem_and_der(openssl_prov, request, tmp_path, label):
    key = token_key(request, label)
    pem = write_uri_file(openssl_prov, key, tmp_path / "key.pem")
    der_file = write_uri_file(openssl_prov, key, tmp_path / "key.der",
                              "-outform", "DER")
    text = pem.read_text()
    assert "PRIVATE KEY" not in text.replace(LABEL, "")
    der = pem_body(text)
    assert der_file.read_bytes() == der, "DER and PEM forms differ"
    uri = parse_uri_der(der)
    assert f"token={key.key.token}" in uri and f"object={label}" in uri
    assert "type=private" in uri and "pin-" not in uri, uri


def test_uri_file_never_holds_the_pin(openssl_prov, request, tmp_path):
    """pin-p256's PIN is distinctive: it is nowhere in either file."""
    key = token_key(request, "pin-p256")
    for name, args in (("key.pem", ()), ("key.der", ("-outform", "DER"))):
        path = write_uri_file(openssl_prov, key, tmp_path / name, *args)
        raw = path.read_bytes()
        der = pem_body(raw.decode()) if name.endswith(".pem") else raw
        for blob in (raw, der):
            assert DISTINCT_PIN.encode() not in blob and b"pin-value" not in blob


# ---- using them ------------------------------------------------------------------------

@pytest.mark.parametrize("label", URI_KEYS)
def test_sign_with_uri_file(openssl_prov, request, tmp_path, label):
    key = token_key(request, label)
    pem = write_uri_file(openssl_prov, key, tmp_path / "key.pem")
    args, cnf = pin_opts(openssl_prov, key)
    sign_and_verify(openssl_prov, key, pem, tmp_path, *args, cnf=cnf)


@pytest.mark.parametrize("form", ["PEM", "DER"])
def test_uri_file_loads_its_key_once(openssl_prov, request, tmp_path, form):
    """OpenSSL decodes a file in two passes (file store, then the key
    decoders): the key is looked up, and the PIN asked for, only once."""
    key = token_key(request, "ec-p256")
    path = write_uri_file(openssl_prov, key, tmp_path / "key", "-outform",
                          form)
    proc = openssl_prov("pkey", "-in", path, "-passin", f"pass:{key.pin}",
                        "-noout", env={**key.env, "PKCS11PROV_DEBUG": "1"})
    assert_ok(proc)
    assert proc.stderr.count("URI key file names pkcs11:") == 1, \
        describe(proc)


@pytest.mark.parametrize("label", ["ec-p256", "rsa2048", "tpm-p256"])
def test_sign_with_der_uri_file(openssl_prov, request, tmp_path, label):
    key = token_key(request, label)
    der = write_uri_file(openssl_prov, key, tmp_path / "key.der",
                         "-outform", "DER")
    args, cnf = pin_opts(openssl_prov, key)
    sign_and_verify(openssl_prov, key, der, tmp_path, "-keyform", "DER",
                    *args, cnf=cnf)


def test_pin_source_in_the_file(openssl_prov, request, tmp_path):
    """A file whose URI has a pin-source needs no other PIN."""
    key = token_key(request, "ec-p256")
    pin_file = tmp_path / "token.pin"
    pin_file.write_text(key.pin + "\n")
    uri = f"{key.uri(pin=False)}?pin-source=file:{pin_file}"
    keyfile = tmp_path / "key.pem"
    keyfile.write_text(to_pem(uri_der(uri)))
    sign_and_verify(openssl_prov, key, keyfile, tmp_path)


@pytest.mark.parametrize("label", ["ec-p256", "ed25519", "tpm-rsa2048"])
def test_latchset_layout_loads(openssl_prov, request, tmp_path, label):
    """Files as latchset's provider and its uri2pem.py write them (its
    attribute order, minimal DER), and as a tool writing long-form lengths
    does; our own file is the same bytes for the same URI."""
    key = token_key(request, label)
    ours = pem_body(write_uri_file(openssl_prov, key,
                                   tmp_path / "ours.pem").read_text())
    assert uri_der(parse_uri_der(ours)) == ours
    latchset_uri = (f"pkcs11:token={key.key.token};id={key.key.id_uri};"
                    f"object={label};type=private")
    args, cnf = pin_opts(openssl_prov, key)
    for name, long_form in (("latchset.pem", False), ("longform.pem", True)):
        keyfile = tmp_path / name
        keyfile.write_text(to_pem(uri_der(latchset_uri, long_form=long_form)))
        sign_and_verify(openssl_prov, key, keyfile, tmp_path, *args, cnf=cnf)


@pytest.mark.parametrize("label", URI_KEYS)
def test_text_shows_uri_and_public_part(openssl_prov, request, tmp_path,
                                        label):
    key = token_key(request, label)
    pem = write_uri_file(openssl_prov, key, tmp_path / "key.pem")
    uri = parse_uri_der(pem_body(pem.read_text()))
    public = software(tmp_path, "pkey", "-pubin", "-in", key.key.pub_pem,
                      "-text", "-noout").stdout
    args, cnf = pin_opts(openssl_prov, key)
    for source in (pem, key.uri()):
        proc = openssl_prov("pkey", "-in", source, *args, "-text", "-noout",
                            env=key.env, cnf=cnf)
        assert_ok(proc)
        out = proc.stdout
        assert (f"{key_type(label)} private key on a PKCS#11 token "
                f"({BITS[label]} bit)") in out, describe(proc)
        assert f"URI: {uri}\n" in out, describe(proc)
        assert public in out, "public part differs:\n" + public + describe(proc)
        for secret in ("priv:", "Private-Key", "privateExponent", "prime1",
                       "pin-value"):
            assert secret not in out, describe(proc)


# ---- damaged files --------------------------------------------------------------------

def damaged(good_pem, good_der, case):
    lines = good_pem.splitlines(keepends=True)
    uri = parse_uri_der(good_der)
    if case == "flipped-base64":        # desc bytes changed, base64 valid
        line = lines[1]
        lines[1] = line[:12] + ("A" if line[12] != "A" else "B") + line[13:]
        return "".join(lines), ["corrupted PKCS#11 URI key file"]
    if case == "invalid-base64":
        lines[2] = "*" + lines[2][1:]
        return "".join(lines), ["corrupted PKCS#11 PROVIDER URI PEM block"]
    if case == "no-end-line":
        return "".join(lines[:-1]), ["truncated PKCS#11 PROVIDER URI PEM"]
    if case == "truncated-der":
        return to_pem(good_der[:-7]), ["truncated or malformed"]
    if case == "trailing-byte":
        return to_pem(good_der + b"\0"), ["1 bytes after"]
    if case == "wrong-desc":
        return to_pem(uri_der(uri, desc=b"PKCS#11 Provider URI v2.0")), \
            ['"PKCS#11 Provider URI v2.0", not "PKCS#11 Provider URI v1.0"']
    if case == "bad-uri":
        return to_pem(uri_der(uri.replace("object=", "objet="))), \
            ["not a valid pkcs11: URI", "objet"]
    if case == "no-such-key":
        return to_pem(uri_der(re.sub(r"object=[^;]*", "object=missing",
                                     uri))), ["matches 0 private keys"]
    raise ValueError(case)


DAMAGE = ["flipped-base64", "invalid-base64", "no-end-line", "truncated-der",
          "trailing-byte", "wrong-desc", "bad-uri", "no-such-key"]


@pytest.mark.parametrize("case", DAMAGE)
def test_damaged_uri_file_clear_error(openssl_prov, request, tmp_path, case):
    key = token_key(request, "ec-p256")
    good = write_uri_file(openssl_prov, key, tmp_path / "good.pem").read_text()
    text, needles = damaged(good, pem_body(good), case)
    bad = tmp_path / "bad.pem"
    bad.write_text(text)
    args, cnf = pin_opts(openssl_prov, key)
    for cmd in (["pkey", "-in", bad, "-noout", *args],
                ["dgst", "-sha256", "-sign", bad, *args, "-out",
                 tmp_path / "sig", data_file(tmp_path)]):
        proc = openssl_prov(*cmd, env=key.env, cnf=cnf)
        assert_clear_error(proc, *needles)


def test_truncated_der_file_clear_error(openssl_prov, request, tmp_path):
    key = token_key(request, "ec-p256")
    der = write_uri_file(openssl_prov, key, tmp_path / "key.der",
                         "-outform", "DER").read_bytes()
    bad = tmp_path / "bad.der"
    bad.write_bytes(der[:-9])
    proc = openssl_prov("pkey", "-inform", "DER", "-in", bad, "-noout",
                        env=key.env)
    assert_clear_error(proc, f"truncated URI key file: {len(der) - 9} of "
                             f"{len(der)} DER bytes")


def test_wrong_pin_through_uri_file(openssl_prov, request, tmp_path):
    key = token_key(request, "ec-p256")
    pem = write_uri_file(openssl_prov, key, tmp_path / "key.pem")
    proc = openssl_prov("pkey", "-in", pem, "-passin", "pass:99999",
                        "-noout", env=key.env)
    assert_clear_error(proc, "CKR_PIN_INCORRECT", "token=p11prov-soft")


# ---- public keys of token keys ---------------------------------------------------------

@pytest.mark.parametrize("label", URI_KEYS)
def test_public_key_pem_der_text(openssl_prov, request, tmp_path, label):
    key = token_key(request, label)
    pem = write_uri_file(openssl_prov, key, tmp_path / "key.pem")
    args, cnf = pin_opts(openssl_prov, key)
    want_der = tmp_path / "want.der"
    software(tmp_path, "pkey", "-pubin", "-in", key.key.pub_pem, "-outform",
             "DER", "-out", want_der)
    for source in (key.uri(), pem):
        proc = openssl_prov("pkey", "-in", source, *args, "-pubout",
                            env=key.env, cnf=cnf)
        assert_ok(proc)
        assert proc.stdout == key.key.pub_pem.read_text(), describe(proc)
        out = tmp_path / "pub.der"
        assert_ok(openssl_prov("pkey", "-in", source, *args, "-pubout",
                               "-outform", "DER", "-out", out, env=key.env,
                               cnf=cnf))
        assert out.read_bytes() == want_der.read_bytes()
    proc = openssl_prov("pkey", "-in", key.uri(), "-text_pub", "-noout",
                        env=key.env)
    assert_ok(proc)
    public = software(tmp_path, "pkey", "-pubin", "-in", key.key.pub_pem,
                      "-text", "-noout").stdout
    assert public in proc.stdout and "URI: pkcs11:" in proc.stdout, \
        describe(proc)


# ---- software keys: still PKCS#8, whichever provider comes first ----------------

ORDERS = {"pkcs11prov-first": CLI_PROVIDER_ARGS,
          "default-first": (*CLI_PROVIDER_ARGS[:2], "-provider", "default",
                            "-provider", CLI_PROVIDER_ARGS[3])}


@pytest.mark.parametrize("order", ORDERS)
def test_software_keys_stay_pkcs8(tmp_path, order):
    conf = {"OPENSSL_CONF": write_plain_cnf(tmp_path),
            "PKCS11PROV_DEBUG": "2"}
    gen = ["genpkey", *ORDERS[order], "-algorithm", "EC", "-pkeyopt",
           "ec_paramgen_curve:P-256"]
    cases = [("plain.pem", [], "-----BEGIN PRIVATE KEY-----", []),
             ("enc.pem", ["-aes256", "-pass", "pass:k3y"],
              "-----BEGIN ENCRYPTED PRIVATE KEY-----", ["-passin", "pass:k3y"]),
             ("plain.der", ["-outform", "DER"], None, ["-inform", "DER"])]
    for name, args, first_line, read_args in cases:
        path = tmp_path / name
        proc = assert_ok(run_openssl([*gen, *args, "-out", path], conf))
        if first_line is not None:
            assert path.read_text().startswith(first_line + "\n"), \
                path.read_text()
        software(tmp_path, "pkey", "-in", path, *read_args, "-noout",
                 "-check", what=f"checking {name} without the provider")
        # Which keymgmt made the key decides whose encoder runs: ours
        # hands a software key to the software encoder. For DER, OpenSSL
        # 3.x exports the key to the default provider and uses its
        # encoder; 4.0 picks ours, which delegates in the same way.
        delegated = "encoding a software EC key" in proc.stderr
        ours = order == "pkcs11prov-first" and (
            not name.endswith(".der") or openssl_version() >= (4, 0))
        assert delegated == ours, (
            f"expected our encoder {'' if ours else 'not '}to run on "
            f"OpenSSL {openssl_version()}\n" + describe(proc))


# ---- curl and Python: programs that take only key files -------------------------

# Python's ssl module: load_cert_chain() is SSL_CTX_use_PrivateKey_file too.
PYTHON_CLIENT = """
import socket, ssl, sys
cafile, cert, key, port = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=cafile)
ctx.load_cert_chain(cert, key)
with socket.create_connection(("localhost", int(port))) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
sys.stdout.write(data.decode(errors="replace"))
"""


def client_command(client, tmp_path, ca, cert, key, port):
    if client == "curl":
        return ["curl", "-sS", "--cacert", ca, "--cert", cert, "--key", key,
                f"https://localhost:{port}/"]
    script = tmp_path / "client.py"
    script.write_text(PYTHON_CLIENT)
    return ["/usr/bin/python3", script, ca, cert, key, port]


@pytest.mark.parametrize("client", ["curl", "python-ssl"])
@pytest.mark.parametrize("label", ["ec-p256", "rsa2048", "tpm-p256"])
def test_tls_client_key_from_uri_file(request, tmp_path, software_ca, label,
                                      client):
    """curl 7.88 (--key) and Python (load_cert_chain) read the key with
    SSL_CTX_use_PrivateKey_file; the TLS server accepts the client only
    after a CertificateVerify signed with the token key."""
    if client == "curl" and os.environ.get("PKCS11PROV_TEST_PRELOAD"):
        pytest.skip("curl hangs at start-up with the sanitizer runtimes "
                    "preloaded (even `curl --version`); python-ssl covers "
                    "the same path in this run")
    key = token_key(request, label)
    cnf = write_openssl_cnf(tmp_path, {"pkcs11-module-token-pin": key.pin})
    env = {**key.env, "OPENSSL_CONF": cnf}
    keyfile = tmp_path / "key.pem"
    assert_ok(run_openssl(["pkey", "-in", key.uri(pin=False), "-out",
                           keyfile], env))
    srv_key, srv_cert = tmp_path / "srv.key", tmp_path / "srv.pem"
    software(tmp_path, "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout", srv_key, "-out",
             srv_cert, "-subj", "/CN=localhost", "-addext",
             "subjectAltName=DNS:localhost", "-days", "2")
    port = free_port()
    server = popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}",
                    "-cert", srv_cert, "-key", srv_key, "-Verify", "1",
                    "-CAfile", software_ca.cert, "-verify_return_error",
                    "-www", "-naccept", "1"],
                   {"OPENSSL_CONF": write_plain_cnf(tmp_path)})
    try:
        deadline = time.monotonic() + 20
        while "ACCEPT" not in server.stdout.readline():
            assert time.monotonic() < deadline and server.poll() is None, \
                "s_server did not start: " + server.stderr.read()
        client_env = dict(env)
        if client == "python-ssl" and os.environ.get("PKCS11PROV_TEST_PRELOAD"):
            # Python's own allocations are not this project's leaks.
            client_env["ASAN_OPTIONS"] = ":".join(filter(None, (
                env.get("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS")),
                "detect_leaks=0")))
        proc = run(client_command(client, tmp_path, srv_cert,
                                  key.key.cert_pem, keyfile, port), client_env)
        assert_ok(proc)
        assert "Client certificate" in proc.stdout, describe(proc)
        assert re.search(rf"Subject: CN ?= ?{label}\n", proc.stdout), \
            describe(proc)
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(timeout=10)
