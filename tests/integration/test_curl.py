"""curl with pkcs11: URIs, natively: curl >= 8.12 takes `--cert 'pkcs11:...'
--cert-type PROV --key 'pkcs11:...' --key-type PROV`. It creates a library
context of its own, reads no openssl.cnf into it (8.14), and loads a
provider by the NAME `pkcs11`: the build's curl-modules directory holds
`pkcs11.so`, a link to pkcs11prov.so, and OPENSSL_MODULES points there.
With no configuration the provider reaches the tokens through p11-kit's
proxy. Mutual TLS against `openssl s_server -Verify 1
-verify_return_error`, certificate and key both from the token.

Where curl is older (Debian 12: 7.88, no PROV type; URI key files are the
way there, see test_uri_files.py) or its libcurl links another libcrypto
than the provider's (sid with OpenSSL 4.0 from experimental), the tests
are skipped with the evidence, read from the binaries."""
import re

import pytest

from helpers import (CURL_MODULES_DIR, PROVIDER_MODULE, assert_ok, describe,
                     run)
from servers import BODY, https_server  # noqa: F401 (a fixture)

CURL_PROV_SINCE = (8, 12)


def libcrypto_sonames(binary):
    proc = run(["ldd", binary], preload=False)
    return set(re.findall(r"(libcrypto\.so\.\S+) =>", proc.stdout))


@pytest.fixture(scope="module")
def curl():
    """curl's path, when it can load this build's provider."""
    proc = run(["curl", "--version"], preload=False)
    m = re.match(r"curl (\d+)\.(\d+)", proc.stdout)
    assert m, describe(proc)
    version = (int(m.group(1)), int(m.group(2)))
    if version < CURL_PROV_SINCE:
        pytest.skip(f"curl {version[0]}.{version[1]} has no --key-type PROV "
                    f"(curl {CURL_PROV_SINCE[0]}.{CURL_PROV_SINCE[1]} added "
                    "it); URI key files are the way there")
    which = run(["sh", "-c", "command -v curl"], preload=False).stdout.strip()
    ours = libcrypto_sonames(PROVIDER_MODULE)
    theirs = libcrypto_sonames(which)
    if not ours & theirs:
        pytest.skip(f"curl's libcurl links {sorted(theirs)}, the provider "
                    f"{sorted(ours)}: they cannot share a process")
    return which


def curl_get(curl, url, software_ca, env, *args):
    return run([curl, "--silent", "--show-error", "--fail", "--cacert",
                software_ca.cert, *args, url],
               {**env, "OPENSSL_MODULES": CURL_MODULES_DIR}, timeout=120)


def token_uris(softhsm, label, pin=""):
    base = f"pkcs11:token=p11prov-soft;object={label}"
    return f"{base};type=cert", f"{base};type=private{pin}"


def pin_attribute(form, pin, tmp_path):
    """The PIN as a URI attribute: pin-value in the query or the path, or
    pin-source naming a file (the PIN stays out of the process list)."""
    if form == "source":
        path = tmp_path / "pin"
        path.write_text(pin + "\n")
        path.chmod(0o600)
        return f";pin-source=file:{path}"
    return {"query": f"?pin-value={pin}", "path": f";pin-value={pin}"}[form]


@pytest.mark.parametrize("label", ["ec-p256", "rsa2048"])
@pytest.mark.parametrize("pin_form", ["query", "path", "source"])
def test_curl_mutual_tls_cert_and_key_on_token(curl, softhsm, software_ca,
                                               https_server, tmp_path, label,
                                               pin_form):
    cert, key = token_uris(softhsm, label,
                           pin_attribute(pin_form, softhsm.pin, tmp_path))
    proc = curl_get(curl, https_server, software_ca, softhsm.env,
                    "--cert", cert, "--cert-type", "PROV",
                    "--key", key, "--key-type", "PROV")
    assert_ok(proc)
    assert proc.stdout == BODY, describe(proc)


def test_curl_without_client_cert_is_refused(curl, softhsm, software_ca,
                                             https_server):
    """The server really requires the client certificate."""
    proc = curl_get(curl, https_server, software_ca, softhsm.env)
    assert proc.returncode != 0, describe(proc)
    assert BODY not in proc.stdout


def test_curl_wrong_pin_fails(curl, softhsm, software_ca, https_server):
    """A wrong PIN: curl fails; the provider's error (in its trace: curl
    prints only the reason code) names CKR_PIN_INCORRECT, and its output
    never holds the PIN."""
    wrong = "W7rongPin42"
    cert, key = token_uris(softhsm, "ec-p256", f"?pin-value={wrong}")
    proc = curl_get(curl, https_server, software_ca,
                    {**softhsm.env, "PKCS11PROV_DEBUG": "2"},
                    "--cert", cert, "--cert-type", "PROV",
                    "--key", key, "--key-type", "PROV")
    assert proc.returncode != 0, describe(proc)
    assert BODY not in proc.stdout
    assert "CKR_PIN_INCORRECT" in proc.stderr, describe(proc)
    assert wrong not in proc.stderr, describe(proc)


def test_curl_pass_does_not_reach_providers(curl, softhsm, software_ca,
                                            https_server):
    """curl (8.12 to 8.23 at least) hands `--pass` to engines only: its
    OSSL_STORE_open_ex for a PROV key gets a UI method without the
    password, so the provider's PIN prompt falls through to the console.
    With no console it fails at once and cleanly, the provider saying
    which token wanted a PIN, and no C_Login is tried. (Give the PIN in
    the URI: pin-source=file:... keeps it out of the process list.)"""
    cert, key = token_uris(softhsm, "ec-p256")
    # curl prints only the first error of the queue (OpenSSL's UI error):
    # the provider's own, raised after it, is read from its trace.
    proc = curl_get(curl, https_server, software_ca,
                    {**softhsm.env, "PKCS11PROV_DEBUG": "2"},
                    "--cert", cert, "--cert-type", "PROV",
                    "--key", key, "--key-type", "PROV",
                    "--pass", softhsm.pin)
    assert proc.returncode != 0, describe(proc)
    assert BODY not in proc.stdout
    assert "no PIN given for token p11prov-soft" in proc.stderr, describe(proc)
    assert "C_Login" not in proc.stderr, describe(proc)

