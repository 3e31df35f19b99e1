"""Failures: each one exits non-zero with a clear message and never
crashes; and a PIN never appears in any output, even traced.

When OSSL_STORE_open fails, OpenSSL itself echoes the URI: storeutl prints
"Couldn't open file or uri <URI>" and its file: loader "calling
stat(<URI>)". Those lines are not the provider's, so messages are looked
for in the other lines (provider_text)."""
import pytest

from helpers import (SOFTHSM_MODULE, OpensslRunner, assert_fails_cleanly,
                     assert_no_crash, assert_ok, describe, parse_providers,
                     count_store_objects, run_openssl, write_openssl_cnf)
from tokens import DISTINCT_PIN as SECRET  # the user PIN of p11prov-pin

OPENSSL_ECHOES = ("Couldn't open file or uri ", "calling stat(")


def provider_text(proc):
    """stdout and stderr without the lines in which OpenSSL echoes a URI."""
    return "\n".join(line for line in (proc.stdout + proc.stderr).splitlines()
                     if not any(echo in line for echo in OPENSSL_ECHOES))


def assert_says(proc, *alternatives):
    """A clean failure whose provider text holds one of alternatives."""
    assert_fails_cleanly(proc)
    text = provider_text(proc).lower()
    assert any(a.lower() in text for a in alternatives), (
        f"none of {alternatives} in the provider's messages\n" + describe(proc))


# ---- the PKCS#11 module -------------------------------------------------------

def test_missing_module_from_env(openssl_prov, softhsm):
    proc = openssl_prov("storeutl", "-certs", "pkcs11:token=p11prov-soft",
                        env={**softhsm.env,
                             "PKCS11PROV_MODULE": "/nonexistent/x.so"})
    assert_says(proc, "/nonexistent/x.so")


def test_missing_module_from_config(provider_module, softhsm, tmp_path):
    proc = OpensslRunner("config", tmp_path)(
        "storeutl", "-certs", "pkcs11:token=p11prov-soft", env=softhsm.env,
        cnf={"pkcs11-module-path": "/nonexistent/y.so"})
    assert_says(proc, "/nonexistent/y.so")


def test_missing_module_from_uri(openssl_prov):
    proc = openssl_prov("storeutl", "-certs",
                        "pkcs11:token=t?module-path=/nonexistent/z.so")
    assert_says(proc, "/nonexistent/z.so")


def test_not_a_pkcs11_module(openssl_prov, provider_module):
    """A shared object without C_GetFunctionList (the provider itself)."""
    proc = openssl_prov("storeutl", "-certs", "pkcs11:token=t",
                        env={"PKCS11PROV_MODULE": provider_module})
    assert_says(proc, str(provider_module))


@pytest.mark.parametrize("fault", [
    "C_Initialize:CKR_DEVICE_ERROR",
    "C_GetSlotList:CKR_DEVICE_ERROR",
    "C_OpenSession:CKR_DEVICE_ERROR",
    "C_FindObjectsInit:CKR_DEVICE_ERROR",
    "C_FindObjects:CKR_DEVICE_ERROR",
    "C_GetAttributeValue:CKR_DEVICE_ERROR",
])
def test_module_failure_names_ckr(openssl_prov, mock_module, fault):
    proc = openssl_prov("storeutl", "-certs", "pkcs11:token=mock-token",
                        env={"PKCS11PROV_MODULE": mock_module,
                             "P11MOCK_FAIL": fault})
    assert_says(proc, "CKR_DEVICE_ERROR")


def test_failing_initialize_from_config(provider_module, mock_module,
                                        tmp_path):
    proc = OpensslRunner("config", tmp_path)(
        "storeutl", "-certs", "pkcs11:token=mock-token",
        env={"P11MOCK_FAIL": "C_Initialize:CKR_DEVICE_ERROR"},
        cnf={"pkcs11-module-path": mock_module})
    assert_says(proc, "CKR_DEVICE_ERROR")


# ---- malformed URIs -------------------------------------------------------------

@pytest.mark.parametrize("uri, said", [
    ("pkcs11:objet=x", ("objet",)),
    ("pkcs11:object=%zz", ("escape", "%zz", "percent", "hex")),
    ("pkcs11:object=abc%4", ("escape", "%4", "percent", "hex")),
    ("pkcs11:type=secret", ("type",)),
    ("pkcs11:token=a;token=b", ("token",)),
    ("pkcs11:id", ("id", "=")),
])
def test_malformed_uri(openssl_prov, soft_env, uri, said):
    proc = openssl_prov("storeutl", "-certs", uri, env=soft_env)
    assert_says(proc, *said)


# ---- configuration ----------------------------------------------------------------

def test_unknown_config_key(provider_module, tmp_path):
    typo = {"pkcs11-module-paht": SOFTHSM_MODULE}
    # Loaded by name: loading fails and says which key.
    cnf = write_openssl_cnf(tmp_path, typo, activate=False)
    proc = run_openssl(["list", "-providers", "-provider", "pkcs11",
                        "-provider", "default"], {"OPENSSL_CONF": cnf})
    assert_fails_cleanly(proc, "pkcs11-module-paht")
    # Activated by the file: OpenSSL 3.0 drops a provider that fails to
    # load from the configuration without a word; it must not be listed.
    cnf = write_openssl_cnf(tmp_path, typo)
    proc = assert_ok(run_openssl(["list", "-providers"],
                                 {"OPENSSL_CONF": cnf}))
    assert "pkcs11" not in parse_providers(proc.stdout), describe(proc)


def test_pin_file_missing(provider_module, softhsm, tmp_path):
    proc = OpensslRunner("config", tmp_path)(
        "storeutl", "-certs", "pkcs11:token=p11prov-pin",
        env=softhsm.env, cnf={"pkcs11-module-path": SOFTHSM_MODULE,
                              "pkcs11-module-token-pin":
                              "file:/nonexistent/pin"})
    # Certificates need no login: either found, or a clear failure.
    assert_no_crash(proc)
    if proc.returncode != 0:
        assert_says(proc, "/nonexistent/pin")


# ---- PINs never shown --------------------------------------------------------------

DEBUG = [None, "3"]


def assert_pin_hidden(proc, debug):
    assert_no_crash(proc)
    assert SECRET not in provider_text(proc), (
        "the PIN was printed\n" + describe(proc))
    if debug:
        assert "pkcs11prov" in proc.stderr, "no trace\n" + describe(proc)


@pytest.mark.parametrize("debug", DEBUG)
def test_pin_hidden_on_success(openssl_prov, soft_env, debug):
    proc = openssl_prov(
        "storeutl", "-certs", "-text",
        f"pkcs11:token=p11prov-pin;object=pin-p256?pin-value={SECRET}",
        env={**soft_env, "PKCS11PROV_DEBUG": debug})
    assert count_store_objects(assert_ok(proc).stdout) == 1, describe(proc)
    assert SECRET not in proc.stdout + proc.stderr, describe(proc)
    assert_pin_hidden(proc, debug)


@pytest.mark.parametrize("debug", DEBUG)
@pytest.mark.parametrize("uri", [
    f"pkcs11:token=no-such-token?pin-value={SECRET}",
    f"pkcs11:objet=x?pin-value={SECRET}",
    f"pkcs11:token=p11prov-pin?module-path=/nonexistent/x.so&pin-value={SECRET}",
    f"pkcs11:token=p11prov-pin?pin-value={SECRET}&pin-value=other",
])
def test_pin_hidden_on_failure(openssl_prov, soft_env, uri, debug):
    proc = openssl_prov("storeutl", "-certs", uri,
                        env={**soft_env, "PKCS11PROV_DEBUG": debug})
    assert_fails_cleanly(proc)
    assert_pin_hidden(proc, debug)


@pytest.mark.parametrize("debug", DEBUG)
def test_wrong_pin_hidden(openssl_prov, soft_env, debug):
    """A wrong PIN for p11prov-soft: whether the provider logs in for
    certificates or not, the PIN must not be printed."""
    proc = openssl_prov(
        "storeutl", "-certs", f"pkcs11:token=p11prov-soft?pin-value={SECRET}",
        env={**soft_env, "PKCS11PROV_DEBUG": debug})
    assert_pin_hidden(proc, debug)


@pytest.mark.parametrize("from_file", [False, True])
def test_config_pin_hidden(provider_module, softhsm, tmp_path, from_file):
    pin = SECRET
    if from_file:
        (tmp_path / "pin").write_text(SECRET)
        pin = f"file:{tmp_path / 'pin'}"
    proc = OpensslRunner("config", tmp_path)(
        "storeutl", "-certs", "pkcs11:token=p11prov-pin",
        env={**softhsm.env, "PKCS11PROV_DEBUG": "3"},
        cnf={"pkcs11-module-path": SOFTHSM_MODULE,
             "pkcs11-module-token-pin": pin})
    assert count_store_objects(assert_ok(proc).stdout) == 1, describe(proc)
    assert SECRET not in proc.stdout + proc.stderr, describe(proc)
