"""How the provider recovers when the token loses the login, the session or
the key's handle in the middle of an operation: sign (EC P-256, RSA-2048),
decrypt (RSA PKCS#1 v1.5 and OAEP), ECDH derive and key generation.

The provider loads the fault module (tests/faultmod, libp11fault.so) in
front of SoftHSM; P11FAULT_ONCE makes one call answer a fault, after doing
to SoftHSM what that answer says happened (CKR_USER_NOT_LOGGED_IN: the
real C_Logout; CKR_SESSION_HANDLE_INVALID: the real C_CloseSession), and
P11FAULT_LOG counts the calls. Each recovery must give a correct result
(signature verified, plaintext and ECDH secret compared, all in software
without the provider; the generated key signs) with exactly one more call
of the faulted function than the fault-free run, and for a lost login
exactly one more C_Login. A fault that stays (P11FAULT_ALWAYS) must fail
cleanly: an error naming the CKR_* and the key's URI, no crash, no PIN.

The keys live on a token of their own, p11prov-fault (distinctive PIN), made
for this module and deleted afterwards, like p11prov-gen (test_keygen.py).
"""
import re
from collections import Counter

import pytest

from faults import (FAULT_PIN, FAULT_TOKEN, OPS,  # noqa: F401 (fixtures)
                    baselines, fault_free_calls, fault_token, run_, sign,
                    summary)
from helpers import (SOFTHSM_MODULE, assert_no_crash, assert_ok, describe,
                     mock_calls, run)
from keyops import assert_hidden, provider_text, run_c

LOST_LOGIN = "CKR_USER_NOT_LOGGED_IN"
LOST_SESSION = "CKR_SESSION_HANDLE_INVALID"
STALE_KEY = "CKR_KEY_HANDLE_INVALID"
# (operation, the faulted function, the fault): the operation call losing
# the login or the session; the Init call (derive: C_DeriveKey) finding the
# key's handle stale. Key generation has no key handle.
CASES = [(name, op.call, fault) for name, op in OPS.items()
         for fault in (LOST_LOGIN, LOST_SESSION)] + [
         (name, op.init, STALE_KEY) for name, op in OPS.items()
         if not name.startswith("keygen")]


@pytest.mark.parametrize("name, function, fault", CASES)
def test_recovers(run_, baselines, tmp_path, name, function, fault):
    op = OPS[name]
    base = fault_free_calls(run_, baselines, name, tmp_path)
    d = tmp_path / "faulted"
    d.mkdir()
    proc, calls, check = op.do(run_, d, once=f"{function}:{fault}")
    assert_ok(proc)
    check()
    why = summary(base, calls) + "\n" + describe(proc)
    # The faulted call was made again exactly once, and so was the
    # operation call when the fault hit it.
    assert calls[function] == base[function] + 1, why
    if op.call != function:
        assert calls[op.call] == base[op.call], why
    # The PIN went to the token once more after a lost login; never more.
    logins = calls["C_Login"] - base["C_Login"]
    if fault == LOST_LOGIN:
        assert logins == 1, why
    elif fault == LOST_SESSION:
        # (a token may log out with its last session closed)
        assert logins <= 1, why
    else:
        assert logins == 0, why
    # One retry of the operation: its Init call exactly once more (the
    # key's session-object copy, which PKCS#11 destroys at logout, is made
    # again before the retry, not found stale by it).
    assert calls[op.init] == base[op.init] + 1, why


# ---- a fault that stays ---------------------------------------------------

PERSISTENT = [(name, fault) for name in ("sign-ec", "decrypt-oaep",
                                         "derive-ec", "keygen-ec")
              for fault in ("CKR_DEVICE_ERROR", LOST_LOGIN)]


@pytest.mark.parametrize("name, fault", PERSISTENT)
def test_persistent_fault_fails_cleanly(run_, baselines, tmp_path, name,
                                        fault):
    op = OPS[name]
    base = fault_free_calls(run_, baselines, name, tmp_path)
    d = tmp_path / "faulted"
    d.mkdir()
    proc, calls, _ = op.do(run_, d, always=f"{op.call}:{fault}")
    assert_no_crash(proc)
    assert proc.returncode != 0, "expected a failure\n" + describe(proc)
    why = summary(base, calls) + "\n" + describe(proc)
    # The provider's error line names the CKR_* and the key's URI.
    lines = [line for line in provider_text(proc).splitlines()
             if fault in line and "pkcs11:" in line
             and f"token={FAULT_TOKEN.label}" in line
             and f"object={op.label}" in line]
    assert lines, f"no error naming {fault} and the key's URI\n{why}"
    assert_hidden(proc, FAULT_PIN)
    # Bounded: at most one retry, at most one more C_Login.
    assert calls[op.call] <= base[op.call] + 1, why
    assert calls["C_Login"] <= base["C_Login"] + 1, why


# ---- the fault module's own configuration is checked ---------------------

@pytest.mark.parametrize("once, always", [
    ("C_Sgn:CKR_DEVICE_ERROR", ""),          # no such function
    ("C_Sign:CKR_NO_SUCH_CODE", ""),
    ("C_Sign", ""),                          # no code
    ("C_Sign:CKR_DEVICE_ERROR@0", ""),       # N from 1
    ("", "C_Sign:0x30@x"),
])
def test_malformed_rules_fail_initialize(run_, tmp_path, once, always):
    proc, calls, _ = sign(run_, tmp_path, "fault-ec", once=once,
                          always=always)
    assert_no_crash(proc)
    assert proc.returncode != 0, describe(proc)
    assert "p11fault: P11FAULT_" in proc.stderr, describe(proc)
    assert "CKR_GENERAL_ERROR" in provider_text(proc), describe(proc)
    assert calls["C_Sign"] == 0, describe(proc)


def test_nth_call(run_, baselines, tmp_path):
    """@2: a rule for the second call leaves the first alone (dgst signs
    once)."""
    base = fault_free_calls(run_, baselines, "sign-ec", tmp_path)
    d = tmp_path / "faulted"
    d.mkdir()
    proc, calls, check = sign(run_, d, "fault-ec",
                              once="C_Sign:CKR_DEVICE_ERROR@2")
    assert_ok(proc)
    check()
    assert calls == base, summary(base, calls)


# ---- a module that lost its device, token or server ------------------------

@pytest.mark.parametrize("fault", ["CKR_DEVICE_REMOVED",
                                   "CKR_TOKEN_NOT_PRESENT"])
def test_lost_device_restarts_the_module(run_, baselines, tmp_path, fault):
    """The module is finalised and initialised again, the token logged in
    to again with the PIN it had, the key found again, and the signature
    made once more: right."""
    base = fault_free_calls(run_, baselines, "sign-ec", tmp_path)
    d = tmp_path / "faulted"
    d.mkdir()
    proc, calls, check = sign(run_, d, "fault-ec", once=f"C_Sign:{fault}")
    assert_ok(proc)
    check()
    why = summary(base, calls) + "\n" + describe(proc)
    for call in ("C_Initialize", "C_Finalize", "C_Login", "C_Sign",
                 "C_FindObjectsInit"):
        assert calls[call] == base[call] + 1, why


def test_device_that_stays_lost_is_restarted_once(run_, baselines,
                                                  tmp_path):
    """A device gone for good: one re-initialisation (then one per
    interval, however many calls fail), and a clean failure."""
    base = fault_free_calls(run_, baselines, "sign-ec", tmp_path)
    d = tmp_path / "faulted"
    d.mkdir()
    proc, calls, _ = sign(run_, d, "fault-ec",
                          always="C_Sign:CKR_DEVICE_REMOVED")
    assert_no_crash(proc)
    assert proc.returncode != 0, describe(proc)
    assert "CKR_DEVICE_REMOVED" in provider_text(proc), describe(proc)
    assert calls["C_Initialize"] == base["C_Initialize"] + 1, \
        summary(base, calls)


def test_recovery_never_finalizes_under_a_call_in_progress(run_, tmp_path):
    """One thread's C_Sign hangs for 4 s (a token or server that stalls)
    while the other's answers CKR_DEVICE_REMOVED. The recovery waits at
    most 2 s for the calls in progress, then gives up instead of
    finalising the module under the hung call: the lost answer fails that
    one signature cleanly, the module is never initialised again, and
    every other signature, the stalled one included, is right."""
    log = tmp_path / "calls.log"
    env = {**run_.token.env, "PKCS11PROV_MODULE": run_.fault_module,
           "P11FAULT_MODULE": SOFTHSM_MODULE, "P11FAULT_LOG": log,
           "P11FAULT_DELAY": "C_Sign:4000@5",
           "P11FAULT_ONCE": "C_Sign:CKR_DEVICE_REMOVED@40"}
    proc = run_c("sign_loop", ["--seconds", "6", "--threads", "2",
                               run_.uri("fault-ec")], env, tmp_path)
    assert_no_crash(proc)
    assert proc.returncode == 0, describe(proc)
    total = re.search(r"^signed: (\d+) failed: (\d+) wrong: (\d+)$",
                      proc.stdout, re.M)
    assert total, describe(proc)
    assert (int(total[2]), int(total[3])) == (1, 0), describe(proc)
    assert "CKR_DEVICE_REMOVED" in proc.stderr, describe(proc)
    calls = Counter(mock_calls(log))
    assert calls["C_Initialize"] == 1 and calls["C_Finalize"] == 1, \
        f"{dict(calls)}\n{describe(proc)}"


# ---- a list that grows between the size call and the fetch ----------------

@pytest.mark.parametrize("name, function", [("sign-ec", "C_GetSlotList"),
                                            ("derive-ec",
                                             "C_GetMechanismList")])
def test_list_grown_between_calls_is_asked_again(run_, baselines, tmp_path,
                                                 name, function):
    """The fetch answers CKR_BUFFER_TOO_SMALL, as when the list grew after
    the size call (a p11-kit server's slots as clients come and go): the
    provider asks again, size and fetch, and the operation succeeds."""
    base = fault_free_calls(run_, baselines, name, tmp_path)
    d = tmp_path / "faulted"
    d.mkdir()
    proc, calls, check = OPS[name].do(
        run_, d, once=f"{function}:CKR_BUFFER_TOO_SMALL@2")
    assert_ok(proc)
    check()
    assert calls[function] == base[function] + 2, summary(base, calls)


# ---- a module writing to a server that is gone ----------------------------
# P11FAULT_SIGPIPE=F: each call of F writes to a broken pipe (made in
# C_Initialize, as a client module opens its socket). openssl itself
# ignores SIGPIPE, so a C program that does not (key_reuse) signs.

def test_broken_pipe_kills_a_program_that_does_not_guard(fault_token,
                                                         fault_module):
    """The fault is real: pkcs11-tool, which leaves SIGPIPE alone, dies."""
    proc = run(["pkcs11-tool", "--module", fault_module, "-L"],
               {**fault_token.token.env, "P11FAULT_MODULE": SOFTHSM_MODULE,
                "P11FAULT_SIGPIPE": "C_GetSlotList"}, leak_check=False)
    assert proc.returncode in (-13, 141), describe(proc)


@pytest.mark.parametrize("function", [
    "C_Initialize", "C_GetSlotList", "C_Login", "C_FindObjectsInit",
    "C_GetAttributeValue", "C_SignInit", "C_Sign", "C_Finalize"])
def test_sigpipe_never_kills_the_application(run_, fault_module, tmp_path,
                                             function):
    """Whatever call meets the dead socket, the application lives on (its
    SIGPIPE left at the default, which kills) and every signature is
    right."""
    uri = run_.uri("fault-ec")
    env = {**run_.token.env, "PKCS11PROV_MODULE": fault_module,
           "P11FAULT_MODULE": SOFTHSM_MODULE, "P11FAULT_SIGPIPE": function}
    proc = run_c("key_reuse", ["--loads", "3", uri], env, tmp_path)
    assert_no_crash(proc)
    assert proc.returncode == 0, describe(proc)
    assert "signed: 3 failed: 0" in proc.stdout, describe(proc)
