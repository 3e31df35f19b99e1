"""PINs: every source (URI pin-value, pin-source=file:/path and a bare
path, the configuration key, the application's passphrase callback through
-passin, an interactive prompt and a C program's callback) and their order;
a wrong PIN tried exactly once (counted by OpenSC's pkcs11-spy on SoftHSM
and by the mock's call log) and never retried; no C_Login at all when the
token reports its final try or a lock; a NULL PIN on a protected
authentication path; one login per token per process; and no PIN in any
output, even traced with PKCS11PROV_DEBUG=3. pin-value and pin-source also
in the URI's path (";pin-value=", as p11-kit and update agents write them):
the same as in the query, and one of each across both.

The key is pin-p256 on token p11prov-pin, whose PIN (tokens.DISTINCT_PIN)
is easy to find in output. SoftHSM never locks a PIN (it only sets
CKF_USER_PIN_COUNT_LOW after a failure), so wrong PINs are safe there."""
import re

import pytest

from helpers import (CLI_PROVIDER_ARGS, SOFTHSM_MODULE, OpensslRunner,
                     assert_ok, describe, mock_calls, run, write_openssl_cnf,
                     write_plain_cnf)
from keyops import (MOCK_PUB_PEM, assert_clear_error, assert_hidden, run_c,
                    run_with_tty, software, spy_env, spy_names, spy_summary)
from tokens import DISTINCT_PIN as SECRET

WRONG = "Wr0ngPin9876"
KEY = "pkcs11:token=p11prov-pin;object=pin-p256;type=private"
MOCK_KEY = "pkcs11:token=mock-token;object=mock-key;type=private"
# CK_TOKEN_INFO flags (hex, for P11MOCK_TOKEN_FLAGS)
COUNT_LOW, FINAL_TRY, LOCKED, PIN_PAD = "10000", "20000", "40000", "100"


@pytest.fixture
def config_runner(provider_module, tmp_path):
    return OpensslRunner("config", tmp_path)


def pin_file(tmp_path, pin):
    path = tmp_path / "pin.txt"
    path.write_text(f"{pin}\nnot the PIN: only the first line counts\n")
    return path


# Each source: (URI, extra openssl arguments, provider configuration,
# environment) that give PIN through it.
def given(source, pin, tmp_path):
    if source == "pin-value":
        return f"{KEY}?pin-value={pin}", [], None, {}
    if source == "pin-source=file:":
        return f"{KEY}?pin-source=file:{pin_file(tmp_path, pin)}", [], None, {}
    if source == "pin-source=path":
        return f"{KEY}?pin-source={pin_file(tmp_path, pin)}", [], None, {}
    if source == "path pin-value":
        return f"{KEY};pin-value={pin}", [], None, {}
    if source == "path pin-source=file:":
        return f"{KEY};pin-source=file:{pin_file(tmp_path, pin)}", [], None, {}
    if source == "config":
        return KEY, [], {"pkcs11-module-token-pin": pin}, {}
    if source == "config file:":
        return KEY, [], {"pkcs11-module-token-pin":
                         f"file:{pin_file(tmp_path, pin)}"}, {}
    if source == "-passin pass:":
        return KEY, ["-passin", f"pass:{pin}"], None, {}
    if source == "-passin file:":
        return KEY, ["-passin", f"file:{pin_file(tmp_path, pin)}"], None, {}
    if source == "-passin env:":
        return KEY, ["-passin", "env:P11PROV_TEST_PASS"], None, \
            {"P11PROV_TEST_PASS": pin}
    raise ValueError(source)


# PIN attributes in the URI's path: pkcs11:token=T;object=O;type=private;pin-value=P
IN_PATH = ["path pin-value", "path pin-source=file:"]
URI_AND_CALLBACK = ["pin-value", "pin-source=file:", "pin-source=path",
                    *IN_PATH, "-passin pass:", "-passin file:",
                    "-passin env:"]
# Sources whose PIN is in the URI text itself, which openssl echoes when it
# cannot load the URI.
PIN_IN_URI = ("pin-value", "path pin-value")
CONFIG = ["config", "config file:"]


def load_key(runner, source, pin, tmp_path, env):
    """`openssl pkey -in KEY -pubout` with pin given through source."""
    uri, args, cnf, extra_env = given(source, pin, tmp_path)
    return runner("pkey", "-in", uri, *args, "-pubout",
                  env={**env, **extra_env}, **({"cnf": cnf} if cnf else {}))


def assert_loaded(proc, softhsm):
    assert_ok(proc)
    pub = softhsm.keys["pin-p256"].pub_pem.read_text()
    assert proc.stdout == pub, "not the key's public key\n" + describe(proc)


# ---- each source ------------------------------------------------------------------

@pytest.mark.parametrize("source", URI_AND_CALLBACK)
def test_pin_source(openssl_prov, softhsm, soft_env, tmp_path, source):
    assert_loaded(load_key(openssl_prov, source, SECRET, tmp_path, soft_env),
                  softhsm)


@pytest.mark.parametrize("source", CONFIG)
def test_pin_from_config(config_runner, softhsm, soft_env, tmp_path, source):
    assert_loaded(load_key(config_runner, source, SECRET, tmp_path,
                           soft_env), softhsm)


def prompt_command(mode, tmp_path, uri):
    """argv and environment of `openssl pkey -in uri -pubout` with the
    provider loaded in mode (cli or config), for run_with_tty."""
    if mode == "cli":
        return (["openssl", "pkey", *CLI_PROVIDER_ARGS, "-in", uri, "-pubout"],
                {"OPENSSL_CONF": write_plain_cnf(tmp_path)})
    return (["openssl", "pkey", "-in", uri, "-pubout"],
            {"OPENSSL_CONF": write_openssl_cnf(tmp_path)})


@pytest.mark.parametrize("mode", ["cli", "config"])
def test_interactive_prompt(softhsm, soft_env, tmp_path, mode):
    """No PIN anywhere: openssl asks on the terminal; the answer is not
    echoed."""
    cmd, env = prompt_command(mode, tmp_path, KEY)
    status, output, prompted = run_with_tty(cmd, {**soft_env, **env}, SECRET)
    assert prompted, "no prompt for the PIN\n" + output
    assert status == 0, f"exit status {status}\n{output}"
    pub = softhsm.keys["pin-p256"].pub_pem.read_text()
    assert "".join(pub.split()) in "".join(output.split()), output
    assert SECRET not in output, "the PIN was echoed\n" + output


def test_c_program_passphrase_callback(softhsm, soft_env, tmp_path):
    """OSSL_STORE_open_ex with a UI_METHOD (wrapping a pem_password_cb):
    asked once, and the key signs."""
    proc = assert_ok(run_c("store_sign", ["--pass", SECRET, "--count", "3",
                                          KEY], soft_env, tmp_path))
    assert "passphrase prompts: 1\n" in proc.stdout, describe(proc)
    assert "signatures: 3 verified" in proc.stdout, describe(proc)


# ---- the order of the sources ----------------------------------------------------

@pytest.mark.parametrize("first, then", [
    ("pin-value", "-passin pass:"),
    ("pin-source=file:", "-passin pass:"),
    ("pin-value", "config"),
    ("pin-source=path", "config"),
    ("config", "-passin pass:"),
])
def test_pin_source_order(config_runner, softhsm, soft_env, tmp_path, first,
                          then):
    """The right PIN from the first source wins over a wrong one from a
    later source."""
    for name in ("first", "then"):
        (tmp_path / name).mkdir()
    uri, args, cnf, env = given(first, SECRET, tmp_path / "first")
    uri2, args2, cnf2, env2 = given(then, WRONG, tmp_path / "then")
    proc = config_runner("pkey", "-in", uri if uri != KEY else uri2,
                         *args, *args2, "-pubout",
                         env={**soft_env, **env, **env2},
                         cnf={**(cnf or {}), **(cnf2 or {})})
    assert_loaded(proc, softhsm)


def test_wrong_uri_pin_is_not_replaced_by_callback(openssl_prov, soft_env,
                                                   tmp_path):
    """A wrong pin-value fails even when the callback would give the right
    PIN: the PIN is never retried from another source."""
    proc = openssl_prov("pkey", "-in", f"{KEY}?pin-value={WRONG}", "-passin",
                        f"pass:{SECRET}", "-pubout", env=soft_env)
    assert_clear_error(proc, "CKR_PIN_INCORRECT")


# ---- a wrong PIN: one C_Login, never retried ------------------------------------

@pytest.mark.parametrize("source", ["pin-value", "pin-source=file:",
                                    *IN_PATH, "-passin pass:"])
def test_wrong_pin_one_login_spy(openssl_prov, softhsm, tmp_path, source):
    log = tmp_path / "spy.log"
    env = {**softhsm.env, **spy_env(SOFTHSM_MODULE, log),
           "PKCS11PROV_DEBUG": "3"}
    proc = load_key(openssl_prov, source, WRONG, tmp_path, env)
    assert_clear_error(proc, "CKR_PIN_INCORRECT", "token=p11prov-pin")
    assert spy_names(log).count("C_Login") == 1, spy_summary(log)
    assert_hidden(proc, WRONG, SECRET)


def test_wrong_pin_one_login_mock(openssl_prov, mock_module, tmp_path):
    log = tmp_path / "calls.log"
    proc = openssl_prov("pkey", "-in", f"{MOCK_KEY}?pin-value=9999",
                        "-pubout", env={"PKCS11PROV_MODULE": mock_module,
                                        "P11MOCK_LOG": log})
    assert_clear_error(proc, "CKR_PIN_INCORRECT", "token=mock-token")
    assert mock_calls(log).count("C_Login") == 1, mock_calls(log)


# ---- the token's PIN state ----------------------------------------------------------

def mock_load(runner, module, log, flags, pin="1234", uri=MOCK_KEY):
    return runner("pkey", "-in", f"{uri}?pin-value={pin}" if pin else uri,
                  "-pubout", env={"PKCS11PROV_MODULE": module,
                                  "P11MOCK_LOG": log,
                                  "P11MOCK_TOKEN_FLAGS": flags})


SAYS_FINAL_TRY = ("final try", "FINAL_TRY", "one more wrong PIN",
                  "last try", "last attempt")


@pytest.mark.parametrize("flags, said", [
    (FINAL_TRY, SAYS_FINAL_TRY),
    (LOCKED, ("locked", "PIN_LOCKED")),
    (f"{int(FINAL_TRY, 16) | int(COUNT_LOW, 16):x}", SAYS_FINAL_TRY),
])
def test_refuses_before_login(openssl_prov, mock_module, tmp_path, flags,
                              said):
    """Even with the right PIN: no C_Login when the token says the next
    wrong PIN locks it, or that it is locked."""
    log = tmp_path / "calls.log"
    proc = mock_load(openssl_prov, mock_module, log, flags)
    assert_clear_error(proc, "token=mock-token", any_of=said)
    assert "C_Login" not in mock_calls(log), mock_calls(log)


def test_count_low_still_logs_in(openssl_prov, mock_module, tmp_path):
    """CKF_USER_PIN_COUNT_LOW alone (SoftHSM sets it after any wrong PIN)
    is no reason to refuse."""
    log = tmp_path / "calls.log"
    proc = mock_load(openssl_prov, mock_module, log, COUNT_LOW)
    assert proc.stdout == MOCK_PUB_PEM, describe(proc)
    assert mock_calls(log).count("C_Login") == 1, mock_calls(log)


def test_protected_authentication_path(openssl_prov, mock_module, tmp_path):
    """A PIN pad: C_Login with a NULL PIN (the mock accepts only that
    without the PIN), no prompt."""
    log = tmp_path / "calls.log"
    proc = mock_load(openssl_prov, mock_module, log, PIN_PAD, pin=None)
    assert_ok(proc)
    assert proc.stdout == MOCK_PUB_PEM, describe(proc)
    assert mock_calls(log).count("C_Login") == 1, mock_calls(log)


@pytest.mark.parametrize("mode", ["cli", "config"])
def test_protected_path_never_prompts(mock_module, tmp_path, mode):
    cmd, env = prompt_command(mode, tmp_path, MOCK_KEY)
    log = tmp_path / "calls.log"
    status, output, prompted = run_with_tty(
        cmd, {**env, "PKCS11PROV_MODULE": mock_module, "P11MOCK_LOG": log,
              "P11MOCK_TOKEN_FLAGS": PIN_PAD}, "9999")
    assert not prompted, "asked for a PIN on a PIN pad token\n" + output
    assert status == 0, f"exit status {status}\n{output}"
    assert mock_calls(log).count("C_Login") == 1, mock_calls(log)


# ---- one login per token per process --------------------------------------------

def test_login_once_signing_many_times(softhsm, tmp_path):
    """One key loaded by a C program, ten signatures: one C_Login. (Note:
    `openssl req -x509 -key` signs only once in OpenSSL 3.0.22.)"""
    log = tmp_path / "spy.log"
    proc = run_c("store_sign", ["--count", "10", f"{KEY}?pin-value={SECRET}"],
                 {**softhsm.env, **spy_env(SOFTHSM_MODULE, log)}, tmp_path)
    assert_ok(proc)
    names = spy_names(log)
    assert names.count("C_SignInit") >= 10, spy_summary(log)
    assert names.count("C_Login") == 1, spy_summary(log)


def test_login_once_two_keys_one_token(openssl_prov, softhsm, tmp_path):
    """Two keys of one token in one process (a CMS message with two
    signers): one C_Login. The message verifies in software."""
    log, data, cms = tmp_path / "spy.log", tmp_path / "data", \
        tmp_path / "signed.pem"
    data.write_text("signed twice\n")
    signers = []
    for label in ("ec-p256", "rsa2048"):
        signers += ["-signer", softhsm.keys[label].cert_pem, "-inkey",
                    f"pkcs11:token=p11prov-soft;object={label};type=private"
                    "?pin-value=1234"]
    proc = openssl_prov("cms", "-sign", "-binary", "-nodetach", "-in", data,
                        *signers, "-outform", "PEM", "-out", cms,
                        env={**softhsm.env, **spy_env(SOFTHSM_MODULE, log)})
    assert_ok(proc)
    names = spy_names(log)
    assert names.count("C_SignInit") >= 2, spy_summary(log)
    assert names.count("C_Login") == 1, spy_summary(log)
    software(tmp_path, "cms", "-verify", "-binary", "-inform", "PEM", "-in",
             cms, "-CAfile", softhsm.ca_cert, "-out", tmp_path / "content",
             what="verifying the CMS signatures")
    assert (tmp_path / "content").read_text() == "signed twice\n"


# ---- no PIN in any output, even traced ---------------------------------------------

@pytest.mark.parametrize("pin", [SECRET, WRONG])
@pytest.mark.parametrize("source", URI_AND_CALLBACK)
def test_no_pin_in_output(openssl_prov, soft_env, tmp_path, source, pin):
    proc = load_key(openssl_prov, source, pin, tmp_path,
                    {**soft_env, "PKCS11PROV_DEBUG": "3"})
    assert "pkcs11prov[" in proc.stderr, "no trace\n" + describe(proc)
    assert (proc.returncode == 0) == (pin == SECRET), describe(proc)
    # openssl echoes a URI it could not load: its PIN is openssl's doing.
    assert_hidden(proc, SECRET, WRONG,
                  echoes_allowed=source in PIN_IN_URI and pin == WRONG)


@pytest.mark.parametrize("pin", [SECRET, WRONG])
@pytest.mark.parametrize("source", CONFIG)
def test_no_config_pin_in_output(config_runner, soft_env, tmp_path, source,
                                 pin):
    proc = load_key(config_runner, source, pin, tmp_path,
                    {**soft_env, "PKCS11PROV_DEBUG": "3"})
    assert (proc.returncode == 0) == (pin == SECRET), describe(proc)
    assert_hidden(proc, SECRET, WRONG, echoes_allowed=False)


@pytest.mark.parametrize("where", ["?", ";"])
def test_no_pin_in_trace_file(openssl_prov, soft_env, tmp_path, where):
    trace = tmp_path / "trace.log"
    proc = assert_ok(openssl_prov(
        "dgst", "-sha256", "-sign", f"{KEY}{where}pin-value={SECRET}", "-out",
        tmp_path / "sig", "/dev/null",
        env={**soft_env, "PKCS11PROV_DEBUG": f"file:{trace},level:3"}))
    text = trace.read_text()
    assert re.search(r"pkcs11prov\[\d+\]", text), "empty trace"
    assert SECRET not in text + proc.stdout + proc.stderr, "PIN in the trace"


# ---- PIN attributes in the path -----------------------------------------------------

@pytest.mark.parametrize("source", IN_PATH)
def test_sign_with_pin_in_path(openssl_prov, softhsm, soft_env, tmp_path,
                               source):
    """`dgst -sign` with pkcs11:token=T;object=O;type=private;pin-value=P
    (or ;pin-source=file:...): one C_Login, a signature that verifies in
    software."""
    uri, _, _, _ = given(source, SECRET, tmp_path)
    log, sig, data = tmp_path / "spy.log", tmp_path / "sig", tmp_path / "data"
    data.write_text("signed with the PIN in the path\n")
    proc = openssl_prov("dgst", "-sha256", "-sign", uri, "-out", sig, data,
                        env={**softhsm.env, **spy_env(SOFTHSM_MODULE, log)})
    assert_ok(proc)
    assert spy_names(log).count("C_Login") == 1, spy_summary(log)
    software(tmp_path, "dgst", "-sha256", "-verify",
             softhsm.keys["pin-p256"].pub_pem, "-signature", sig, data,
             what="verifying the signature")
    assert_hidden(proc, SECRET, echoes_allowed=False)


def token_serial(softhsm, label):
    """The token's serial number, as GnuTLS's p11tool lists it."""
    proc = assert_ok(run(["p11tool", "--provider", SOFTHSM_MODULE,
                          "--list-tokens"], softhsm.env, preload=False))
    found = re.search(rf"serial=([^;\s]+);token={label}\s", proc.stdout)
    assert found, "no serial for " + label + "\n" + describe(proc)
    return found.group(1)


def test_update_agent_uri(openssl_prov, softhsm, soft_env, tmp_path):
    """The form update agents write: the token's serial, the PIN, then the
    object's id; no label, no type."""
    serial = token_serial(softhsm, "p11prov-pin")
    uri = f"pkcs11:serial={serial};pin-value={SECRET};id=%21"
    proc = assert_ok(openssl_prov("pkey", "-in", uri, "-pubout", env=soft_env))
    assert proc.stdout == softhsm.keys["pin-p256"].pub_pem.read_text(), \
        describe(proc)


@pytest.mark.parametrize("uri", [
    f"{KEY};pin-source=file:PINFILE?pin-value={SECRET}",
    f"{KEY};pin-value={SECRET}?pin-source=file:PINFILE",
], ids=["value in query", "value in path"])
def test_pin_value_first_wherever_given(openssl_prov, softhsm, soft_env,
                                        tmp_path, uri):
    """pin-value wins over pin-source (holding a wrong PIN here) as in the
    query form, whichever component each is in."""
    uri = uri.replace("PINFILE", str(pin_file(tmp_path, WRONG)))
    assert_loaded(openssl_prov("pkey", "-in", uri, "-pubout", env=soft_env),
                  softhsm)


@pytest.mark.parametrize("uri, attribute", [
    (f"{KEY};pin-value={SECRET}?pin-value={SECRET}", "pin-value"),
    (f"{KEY};pin-value={WRONG}?pin-value={SECRET}", "pin-value"),
    (f"{KEY};pin-value={SECRET};pin-value={SECRET}", "pin-value"),
    (f"{KEY};pin-source=file:/nonexistent?pin-source=file:/x", "pin-source"),
], ids=["same value", "different values", "twice in the path", "pin-source"])
def test_pin_attribute_twice_is_refused(openssl_prov, softhsm, tmp_path, uri,
                                        attribute):
    """A PIN attribute given twice, in the path and the query or twice in
    the path, is a duplicate like any other: a clear error naming it, no
    C_Login, no crash, and no PIN in what the provider printed."""
    log = tmp_path / "spy.log"
    proc = openssl_prov("pkey", "-in", uri, "-pubout",
                        env={**softhsm.env, **spy_env(SOFTHSM_MODULE, log),
                             "PKCS11PROV_DEBUG": "3"})
    assert_clear_error(proc, f'duplicate attribute "{attribute}"',
                       "in the path or the query")
    assert "C_Login" not in spy_names(log), spy_summary(log)
    assert_hidden(proc, SECRET, WRONG)
