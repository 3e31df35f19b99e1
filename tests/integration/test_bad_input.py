"""Bad input, each a clear error, a non-zero exit, no crash and no PIN in
the output: a URI that matches nothing, a wrong PIN, a key that cannot
sign (CKA_SIGN false; CKA_ALLOWED_MECHANISMS without the mechanism), a
token whose files were removed (before the process, and under a running
process that already loaded the key), and a module failing while signing.
Errors name what was attempted, the URI (without PIN) and the CKR_* name.

Removals happen in a COPY of the SoftHSM tokens: the session's tokens are
never touched."""
import re
import shutil

import pytest

from helpers import SOFTHSM_MODULE, describe, mock_calls, write_openssl_cnf
from keyops import (assert_clear_error, assert_hidden, c_program, data_file,
                    popen, provider_text, read_until, spy_calls, spy_env,
                    spy_summary, traced)
from tokens import DISTINCT_PIN as SECRET

WRONG = "Wr0ngPin9876"
PIN_KEY = "pkcs11:token=p11prov-pin;object=pin-p256"


def commands(uri, tmp_path):
    """What a user does with a key URI, by name: argument lists."""
    data = data_file(tmp_path)
    digest = tmp_path / "digest.bin"
    digest.write_bytes(bytes(range(32)))
    out = tmp_path / "out"
    return {
        "pkey": ["pkey", "-in", uri, "-pubout"],
        "dgst": ["dgst", "-sha256", "-sign", uri, "-out", out, data],
        "pkeyutl": ["pkeyutl", "-sign", "-inkey", uri, "-in", digest, "-out",
                    out],
        "req": ["req", "-new", "-key", uri, "-subj", "/CN=x", "-out", out],
    }


COMMANDS = ["pkey", "dgst", "pkeyutl", "req"]


def assert_nothing_written(tmp_path, proc):
    out = tmp_path / "out"
    assert not out.exists() or out.stat().st_size == 0, (
        "output written despite the failure\n" + describe(proc))


# ---- a URI that matches nothing ---------------------------------------------------

@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("uri", [
    f"{PIN_KEY[:-len('pin-p256')]}no-such-key;type=private?pin-value={SECRET}",
    f"pkcs11:token=p11prov-pin;id=%99?pin-value={SECRET}",
])
def test_uri_matches_no_object(openssl_prov, soft_env, tmp_path, uri,
                               command):
    """The token matches, no object does: the provider searched that token
    (its trace, PKCS11PROV_DEBUG=1, names the token) and found nothing, no
    token call failed, and the command fails. An empty search is not an
    error of the store (storeutl lists nothing and succeeds), so the
    provider raises none: the message is openssl's own, whose wording
    changed (3.0 "Could not read", 3.5 "Could not find") and is not
    checked."""
    proc = openssl_prov(*commands(uri, tmp_path)[command],
                        env={**soft_env, "PKCS11PROV_DEBUG": "1"})
    assert_clear_error(proc)
    assert re.search(r'pkcs11prov\[\d+\]: token "p11prov-pin" in slot \d+ '
                     r'of \S+ matches', proc.stderr), describe(proc)
    assert not traced(proc, "found"), describe(proc)
    assert "CKR_" not in provider_text(proc), describe(proc)
    assert_hidden(proc, SECRET)
    assert_nothing_written(tmp_path, proc)


@pytest.mark.parametrize("command", COMMANDS)
def test_uri_matches_no_token(openssl_prov, soft_env, tmp_path, command):
    """No token matches: the provider's own error says so, naming the
    URI (without the PIN)."""
    uri = f"pkcs11:token=no-such-token;object=pin-p256?pin-value={SECRET}"
    proc = openssl_prov(*commands(uri, tmp_path)[command], env=soft_env)
    assert_clear_error(proc, "no token matches",
                       "pkcs11:token=no-such-token;object=pin-p256")
    assert_hidden(proc, SECRET)
    assert_nothing_written(tmp_path, proc)


def test_certificate_is_not_a_key(openssl_prov, soft_env, tmp_path):
    """type=cert asked of a tool that needs a private key."""
    uri = f"{PIN_KEY};type=cert?pin-value={SECRET}"
    proc = openssl_prov(*commands(uri, tmp_path)["dgst"], env=soft_env)
    assert_clear_error(proc)
    assert_hidden(proc, SECRET)
    assert_nothing_written(tmp_path, proc)


# ---- a wrong PIN ---------------------------------------------------------------------

@pytest.mark.parametrize("command", COMMANDS)
def test_wrong_pin(openssl_prov, soft_env, tmp_path, command):
    uri = f"{PIN_KEY};type=private?pin-value={WRONG}"
    proc = openssl_prov(*commands(uri, tmp_path)[command],
                        env={**soft_env, "PKCS11PROV_DEBUG": "3"})
    assert_clear_error(proc, "CKR_PIN_INCORRECT", "token=p11prov-pin")
    assert_hidden(proc, WRONG, SECRET)
    assert_nothing_written(tmp_path, proc)


# ---- keys that cannot sign ------------------------------------------------------------

@pytest.mark.parametrize("command", ["dgst", "pkeyutl", "req"])
def test_key_without_cka_sign(openssl_prov, softhsm, tmp_path, command):
    """nosign-p256 has CKA_SIGN false."""
    log = tmp_path / "spy.log"
    uri = "pkcs11:token=p11prov-soft;object=nosign-p256;type=private"
    proc = openssl_prov(*commands(f"{uri}?pin-value=1234", tmp_path)[command],
                        env={**softhsm.env, **spy_env(SOFTHSM_MODULE, log)})
    assert_clear_error(proc, "object=nosign-p256", any_of=(
        "CKA_SIGN", "CKR_KEY_FUNCTION_NOT_PERMITTED", "cannot sign",
        "not allowed to sign"))
    assert "pin-value" not in proc.stderr.replace(
        f"{uri}?pin-value=1234", ""), describe(proc)
    assert_nothing_written(tmp_path, proc)


@pytest.mark.parametrize("command", ["dgst", "pkeyutl", "req"])
def test_mechanism_not_allowed(openssl_prov, softhsm, tmp_path, command):
    """rsa-pssonly allows CKM_RSA_PKCS_PSS only: PKCS#1 v1.5 is refused by
    the provider, which says why, without a failing token call."""
    log = tmp_path / "spy.log"
    uri = "pkcs11:token=p11prov-soft;object=rsa-pssonly;type=private"
    argv = commands(f"{uri}?pin-value=1234", tmp_path)[command]
    if command == "pkeyutl":
        argv += ["-pkeyopt", "digest:sha256"]
    proc = openssl_prov(*argv, env={**softhsm.env,
                                    **spy_env(SOFTHSM_MODULE, log)})
    assert_clear_error(proc, "object=rsa-pssonly", any_of=(
        "CKA_ALLOWED_MECHANISMS", "allowed mechanism"))
    failed = [text for name, text in spy_calls(log)
              if name == "C_SignInit" and "CKR_MECHANISM_INVALID" in text]
    assert not failed, ("the token was asked for a forbidden mechanism\n"
                        + spy_summary(log))
    assert_nothing_written(tmp_path, proc)


# ---- removed token files ------------------------------------------------------------------

@pytest.fixture
def token_copy(softhsm, tmp_path):
    """A copy of the SoftHSM tokens with its own softhsm2.conf:
    (env, tokens directory, directory of token p11prov-pin)."""
    tokens = tmp_path / "copy" / "tokens"
    shutil.copytree(softhsm.dir / "tokens", tokens)
    conf = tmp_path / "copy" / "softhsm2.conf"
    conf.write_text(softhsm.conf.read_text().replace(
        str(softhsm.dir / "tokens"), str(tokens)))
    assert str(tokens) in conf.read_text(), "could not redirect the copy"
    pin_dirs = [d for d in tokens.iterdir()
                if b"p11prov-pin" in (d / "token.object").read_bytes()]
    assert len(pin_dirs) == 1, list(tokens.iterdir())
    env = {"SOFTHSM2_CONF": conf, "PKCS11PROV_MODULE": SOFTHSM_MODULE}
    return env, tokens, pin_dirs[0]


def test_copy_works(openssl_prov, token_copy, tmp_path):
    """The control: the copy signs before anything is removed."""
    env = token_copy[0]
    proc = openssl_prov(*commands(f"{PIN_KEY}?pin-value={SECRET}",
                                  tmp_path)["dgst"], env=env)
    assert proc.returncode == 0, describe(proc)


@pytest.mark.parametrize("command", ["pkey", "dgst"])
def test_token_directory_removed(openssl_prov, token_copy, tmp_path,
                                 command):
    env, _, token_dir = token_copy
    shutil.rmtree(token_dir)
    proc = openssl_prov(*commands(f"{PIN_KEY}?pin-value={SECRET}",
                                  tmp_path)[command], env=env)
    assert_clear_error(proc, "token=p11prov-pin",
                       any_of=("no token matches", "not found"))
    assert_hidden(proc, SECRET)


def test_all_token_files_removed(openssl_prov, token_copy, tmp_path):
    """SoftHSM cannot initialize without its token directory: the error
    names C_Initialize's CKR_GENERAL_ERROR."""
    env, tokens, _ = token_copy
    shutil.rmtree(tokens)
    proc = openssl_prov(*commands(f"{PIN_KEY}?pin-value={SECRET}",
                                  tmp_path)["dgst"], env=env)
    assert_clear_error(proc, "CKR_GENERAL_ERROR")
    assert_hidden(proc, SECRET)


def test_token_removed_under_a_running_process(token_copy, tmp_path):
    """store_sign loads the key, the token's files go, then it signs:
    SoftHSM answers CKR_OBJECT_HANDLE_INVALID; the provider may look the
    key up again, and fails cleanly naming the key."""
    env, _, token_dir = token_copy
    proc = popen([c_program("store_sign"), "--wait",
                  f"{PIN_KEY};type=private?pin-value={SECRET}"],
                 {**env, "OPENSSL_CONF": write_openssl_cnf(tmp_path)})
    try:
        loaded, seen = read_until(proc, b"loaded\n", 60)
        if not loaded:
            out, err = proc.communicate(timeout=60)
            pytest.fail(f"store_sign did not load the key\n"
                        f"{seen.decode()}{out}\n{err}")
        shutil.rmtree(token_dir)
        out, err = proc.communicate("\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    shown = (f"exit status {proc.returncode}\n--- stdout:\n{out}\n"
             f"--- stderr:\n{err}")
    assert proc.returncode == 1, "expected a clean failure\n" + shown
    assert "object=pin-p256" in err, shown
    assert any(s in err for s in (
        "CKR_OBJECT_HANDLE_INVALID", "CKR_KEY_HANDLE_INVALID",
        "CKR_TOKEN_NOT_PRESENT", "CKR_DEVICE_REMOVED", "not found",
        "no longer")), shown
    assert SECRET not in out + err, shown
    assert "Sanitizer" not in err and "runtime error" not in err, shown


# ---- the module fails while signing ------------------------------------------------------

@pytest.mark.parametrize("fault", ["C_SignInit:CKR_DEVICE_ERROR",
                                   "C_Sign:CKR_DEVICE_ERROR",
                                   "C_Sign:CKR_FUNCTION_FAILED"])
@pytest.mark.parametrize("command", ["dgst", "pkeyutl"])
def test_sign_failure_named(openssl_prov, mock_module, tmp_path, fault,
                            command):
    log = tmp_path / "calls.log"
    uri = "pkcs11:token=mock-token;object=mock-key;type=private"
    argv = commands(f"{uri}?pin-value=1234", tmp_path)[command]
    proc = openssl_prov(*argv, env={"PKCS11PROV_MODULE": mock_module,
                                    "P11MOCK_LOG": log,
                                    "P11MOCK_FAIL": fault})
    function, ckr = fault.split(":")
    assert_clear_error(proc, ckr, "object=mock-key", any_of=(function, "sign"))
    assert "pin-value" not in proc.stderr.replace(f"{uri}?pin-value=1234", ""), \
        describe(proc)
    assert function in mock_calls(log), mock_calls(log)
    assert_nothing_written(tmp_path, proc)


def test_sign_without_login_state(openssl_prov, mock_module, tmp_path):
    """The token has forgotten the login (C_SignInit always answers
    CKR_USER_NOT_LOGGED_IN): a clear failure, and no endless re-login
    (each C_Login may count against the token's PIN retries)."""
    log = tmp_path / "calls.log"
    proc = openssl_prov(*commands(
        "pkcs11:token=mock-token;object=mock-key;type=private?pin-value=1234",
        tmp_path)["dgst"], env={
            "PKCS11PROV_MODULE": mock_module, "P11MOCK_LOG": log,
            "P11MOCK_FAIL": "C_SignInit:CKR_USER_NOT_LOGGED_IN"})
    assert_clear_error(proc, "object=mock-key", any_of=("CKR_",))
    assert mock_calls(log).count("C_Login") < 10, mock_calls(log)
    assert_nothing_written(tmp_path, proc)
