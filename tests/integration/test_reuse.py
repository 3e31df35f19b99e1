"""What loading a key again and signing from many threads costs the token:
the URI cache (no search for a URI loaded before), session-object copies
of copyable keys (one C_CopyObject on the second use, then every
signature uses the copy),
and the bounded session pool (never more sessions than the token has;
waiting, not failing, while ours are busy). Calls are counted with
OpenSC's pkcs11-spy on SoftHSM and with the mock module's call log."""
import re

import pytest

from helpers import SOFTHSM_MODULE, assert_fails_cleanly, describe, mock_calls
from keyops import run_c, spy_env, spy_names, spy_summary, token_key

MOCK_URI = "pkcs11:token=mock-token;object=mock-key;type=private?pin-value=1234"


def key_reuse(args, env, tmp_path, timeout=150):
    proc = run_c("key_reuse", args, env, tmp_path, timeout=timeout)
    m = re.search(r"^signed: (\d+) failed: (\d+)$", proc.stdout, re.M)
    assert proc.returncode == 0 and m and m.group(2) == "0", describe(proc)
    return int(m.group(1))


def spied_loads(request, tmp_path, loads, **settings):
    """Loads SoftHSM's ec-p256 `loads` times (one verified signature
    each) under pkcs11-spy; returns {function: calls}."""
    key = token_key(request, "ec-p256")
    tmp_path.mkdir(exist_ok=True)
    log = tmp_path / "spy.log"
    env = {**key.env, **spy_env(SOFTHSM_MODULE, log), **settings}
    assert key_reuse(["--loads", str(loads), key.uri()], env, tmp_path) \
        == loads
    names = spy_names(log)
    counts = {name: names.count(name) for name in set(names)}
    counts["summary"] = spy_summary(log)
    return counts


def test_uri_loaded_again_is_not_searched_again(request, tmp_path):
    one = spied_loads(request, tmp_path / "one", 1)
    many = spied_loads(request, tmp_path / "many", 20)
    assert many["C_SignInit"] == 20, many["summary"]
    assert many["C_Login"] == 1, many["summary"]
    # The 19 loads after the first search nothing.
    assert many.get("C_FindObjectsInit") == one.get("C_FindObjectsInit"), \
        many["summary"]


def test_cache_can_be_turned_off(request, tmp_path):
    counts = spied_loads(request, tmp_path, 5, PKCS11PROV_CACHE_SECONDS="0")
    assert counts["C_FindObjectsInit"] >= 5, counts["summary"]


def test_copyable_key_is_copied_once(request, tmp_path):
    counts = spied_loads(request, tmp_path, 10)
    assert counts.get("C_CopyObject") == 1, counts["summary"]
    assert counts["C_SignInit"] == 10, counts["summary"]


def test_one_signature_makes_no_copy(request, tmp_path):
    """A command signs once: the copy would cost more than it saves."""
    counts = spied_loads(request, tmp_path, 1)
    assert "C_CopyObject" not in counts, counts["summary"]
    assert counts["C_SignInit"] == 1, counts["summary"]


def test_copies_can_be_turned_off(request, tmp_path):
    counts = spied_loads(request, tmp_path, 3, PKCS11PROV_COPY_KEYS="no")
    assert "C_CopyObject" not in counts, counts["summary"]


def test_copy_setting_is_checked(request, tmp_path):
    key = token_key(request, "ec-p256")
    proc = run_c("key_reuse", [key.uri()],
                 {**key.env, "PKCS11PROV_COPY_KEYS": "maybe"}, tmp_path)
    assert_fails_cleanly(proc, "PKCS11PROV_COPY_KEYS", "maybe")


def test_key_without_copyable_attribute_is_not_copied(mock_module, tmp_path):
    """The mock's key has no CKA_COPYABLE (as modules older than PKCS#11
    2.40): that counts as not copyable."""
    log = tmp_path / "calls.log"
    assert key_reuse(["--no-verify", "--loads", "3", MOCK_URI],
                     {"PKCS11PROV_MODULE": mock_module, "P11MOCK_LOG": log},
                     tmp_path) == 3
    assert "C_CopyObject" not in mock_calls(log), mock_calls(log)


@pytest.mark.parametrize("announced", [True, False])
def test_threads_wait_for_the_tokens_sessions(mock_module, tmp_path,
                                              announced):
    """A token with 2 sessions, 6 threads signing 5 times each, every
    signature 20 ms: all succeed. When the token announces its limit
    (ulMaxSessionCount) the pool never asks for a third session; when it
    does not, the third C_OpenSession fails with CKR_SESSION_COUNT and
    the threads wait for ours to come back."""
    log = tmp_path / "calls.log"
    env = {"PKCS11PROV_MODULE": mock_module, "P11MOCK_LOG": log,
           "P11MOCK_MAX_SESSIONS": "2", "P11MOCK_SIGN_DELAY_MS": "20",
           "P11MOCK_HIDE_MAX_SESSIONS": "0" if announced else "1"}
    assert key_reuse(["--no-verify", "--threads", "6", "--count", "5",
                      MOCK_URI], env, tmp_path) == 31
    calls = mock_calls(log)
    assert calls.count("C_Sign") == 31, calls
    opened = calls.count("C_OpenSession")
    if announced:
        assert opened <= 2, calls
    else:
        assert opened > 2, calls  # refused ones are logged too


def test_no_session_at_all_fails_without_waiting(mock_module, tmp_path):
    """CKR_SESSION_COUNT while we hold no session: nothing of ours will
    come back, so the load fails at once with the code named."""
    proc = run_c("key_reuse", ["--no-verify", MOCK_URI],
                 {"PKCS11PROV_MODULE": mock_module,
                  "P11MOCK_FAIL": "C_OpenSession:CKR_SESSION_COUNT"},
                 tmp_path, timeout=20)
    assert_fails_cleanly(proc, "CKR_SESSION_COUNT")
