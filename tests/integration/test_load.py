"""Proof under load (issue 6): the provider under many threads and across
fork(), every signature verified in software with the key's public key as
exported from the token when it was set up (not obtained through the
provider).

concurrent_sign (tests/integration/c): 8 threads x 2,000 signatures over
three keys on two SoftHSM tokens at once (RSA-2048 and P-384 on
p11prov-soft, P-256 on p11prov-other), while two more threads load those
keys by URI (OSSL_STORE) again and again, each loaded key checked and used.
P-384 rather than Ed25519: SoftHSM leaks in C_SignInit with EdDSA keys,
which LeakSanitizer can only attribute to SoftHSM with the slow unwinder
(see keyops.THIRD_PARTY_LEAKS): 16,000 signatures would take minutes.

fork_sign: the parent loads its keys and signs, then forks 4 children per
round, 2 rounds, while a thread of it keeps signing (each fork() between
two of that thread's signatures, as a correct program must: see
fork_sign.c); each child signs 200 times with the keys it inherited and
exits through exit() (atexit handlers and all); the parent signs again
afterwards. SoftHSM directly, through the p11-kit proxy, and with the
parent signing on tpm2-pkcs11: that module is not fork-safe (a child would
share the parent's TPM connection, and without a resource manager its
handles are global), so the provider must refuse it in a child with an
error that names the module and the fork, while the parent keeps signing
with it. In the ASan run the parent has no signing thread (UNDER_ASAN).

Every process of these tests has a deadline (the programs' alarm() and
waitpid polling, and the timeout here); the programs run in their own
process group, killed as a whole if they overrun.

scripts/test.sh runs these, with store_sign's thread and fork tests and the
concurrent TLS handshakes, under ThreadSanitizer too.
"""
import os
import re
import signal
import subprocess

import pytest

from helpers import (SOFTHSM_MODULE, TPM2_MODULE, assert_ok, child_env,
                     describe, write_openssl_cnf)
from keyops import c_program
from tokens import setup_run

SIGNER_THREADS = 8
SIGNATURES_PER_THREAD = 2000
LOADER_THREADS = 2
CONCURRENT_KEYS = ("rsa2048", "ec-p384", "other-p256")  # two tokens

CONCURRENT_SECONDS = 150  # concurrent_sign's alarm (it takes ~7 s, TSan ~13)

CHILDREN = 4
ROUNDS = 2
CHILD_SIGNATURES = 200
PARENT_SIGNATURES = 10    # before the rounds, and again after them
WAIT_SECONDS = 10         # fork_sign's bound on each wait (a round: < 2 s)
FORK_SECONDS = WAIT_SECONDS * (ROUNDS + 2)  # fork_sign's own alarm


def run_in_own_group(cmd, env, tmp_path, *, timeout):
    """Runs a C test program with the provider from an openssl.cnf, in a
    new process group: on a timeout, or if anything of the group outlives
    the program (a child it failed to reap), the whole group is killed and
    the test fails."""
    conf = write_openssl_cnf(tmp_path)
    cmd = [str(c) for c in cmd]
    proc = subprocess.Popen(
        cmd, env=child_env({"OPENSSL_CONF": conf, **env}),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, errors="replace",
        start_new_session=True)
    timed_out = False
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
    try:  # the group's id is the program's PID: ours alone
        os.killpg(proc.pid, signal.SIGKILL)
        stragglers = True
    except ProcessLookupError:
        stragglers = False
    result = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    assert not timed_out, f"timed out after {timeout}s\n" + describe(result)
    assert not stragglers, ("processes of the program outlived it "
                            "(killed now)\n" + describe(result))
    return result


def soft_uri(softhsm, label, module=None):
    """The private key's URI with its token's PIN (and module-path)."""
    key = softhsm.keys[label]
    uri = f"{key.uri};type=private?pin-value={softhsm.pins[key.token]}"
    return uri + (f"&module-path={module}" if module else "")


def number(pattern, proc):
    m = re.search(pattern, proc.stdout, re.M)
    assert m, f"no line matching {pattern!r}\n" + describe(proc)
    return [int(g) for g in m.groups()] if len(m.groups()) > 1 \
        else int(m.group(1))


# ---- threads ----------------------------------------------------------------

def test_concurrent_signing_and_loading(softhsm, tmp_path):
    keys = [softhsm.keys[label] for label in CONCURRENT_KEYS]
    assert len({k.token for k in keys}) == 2, "the keys must span two tokens"
    args = ["--threads", SIGNER_THREADS, "--count", SIGNATURES_PER_THREAD,
            "--loaders", LOADER_THREADS, "--timeout", CONCURRENT_SECONDS]
    for key in keys:
        args += ["--key", soft_uri(softhsm, key.label), key.pub_pem]
    proc = run_in_own_group(
        [c_program("concurrent_sign"), *args],
        {**softhsm.env, "PKCS11PROV_MODULE": SOFTHSM_MODULE}, tmp_path,
        timeout=CONCURRENT_SECONDS + 30)
    assert_ok(proc)

    # Signer t's i-th signature uses key (t + i) mod 3.
    for k in range(len(keys)):
        expected = sum(1 for t in range(SIGNER_THREADS)
                       for i in range(SIGNATURES_PER_THREAD)
                       if (t + i) % len(keys) == k)
        made, loads = number(rf"^key {k}: (\d+) signatures verified, "
                             rf"(\d+) loads verified$", proc)
        assert made == expected, f"key {keys[k].label}\n" + describe(proc)
        assert loads >= 2, f"{keys[k].label} hardly loaded again\n" + \
            describe(proc)
    assert number(r"^signatures: (\d+) verified$", proc) == \
        SIGNER_THREADS * SIGNATURES_PER_THREAD, describe(proc)
    loads, while_signing = number(
        r"^loads: (\d+) verified, (\d+) while signers ran$", proc)
    assert while_signing >= 2 * len(keys) and loads >= while_signing, \
        "the loads did not overlap the signing\n" + describe(proc)


# ---- fork ---------------------------------------------------------------------

# GCC 12's ASan runtime does not lock its allocator around fork(): with a
# second thread in the parent, children hung inside ASan (its quarantine or
# its size-class locks) in up to half the runs, even when that thread only
# slept; never with glibc's malloc (normal build) or under TSan, which
# intercepts fork(). So in the ASan run the parent does not sign during the
# rounds; the rest (re-initialisation, refusal, exit in the children) keeps
# every ASan check, leaks included.
UNDER_ASAN = "libasan" in os.environ.get("PKCS11PROV_TEST_PRELOAD", "")


def clear_dictionary_lockout(tpm):
    """A child that used the parent's TPM session (the behaviour this test
    rejects) fails HMAC checks, and 3 failures put swtpm in dictionary-
    attack lockout for 1000 s: every later TPM test would fail. Cleared
    whatever happened (lockout auth is empty on this TPM)."""
    setup_run(["tpm2_dictionarylockout", "--clear-lockout"], tpm.env)


@pytest.fixture(params=["softhsm", "p11-kit", "tpm2-pkcs11"])
def fork_setup(request, softhsm):
    """(env, --key arguments, whether children must be refused a key)."""
    soft_keys = ("ec-p256", "other-p256")   # two tokens
    if request.param == "softhsm":
        env = {**softhsm.env, "PKCS11PROV_MODULE": SOFTHSM_MODULE}
        keys = [("parent,child", soft_uri(softhsm, label),
                 softhsm.keys[label].pub_pem) for label in soft_keys]
        yield env, keys, False
    elif request.param == "p11-kit":
        request.getfixturevalue("tpm_clean")  # the proxy loads tpm2_pkcs11
        env = dict(request.getfixturevalue("p11kit_env"))
        keys = [("parent,child", soft_uri(softhsm, label),
                 softhsm.keys[label].pub_pem) for label in soft_keys]
        yield env, keys, False
    else:
        tpm = request.getfixturevalue("tpm_clean")
        # RSA: tpm2-pkcs11 leaks signing with its EC key, which ASan can
        # only attribute with the slow unwinder (keyops.THIRD_PARTY_LEAKS).
        tpm_key = tpm.keys["tpm-rsa2048"]
        env = {**softhsm.env, **tpm.env, "PKCS11PROV_MODULE": TPM2_MODULE}
        # Each URI names its module: one process, two modules.
        keys = [("parent,refused",
                 f"{tpm_key.uri};type=private?pin-value={tpm.pin}"
                 f"&module-path={TPM2_MODULE}", tpm_key.pub_pem)]
        keys += [("child", soft_uri(softhsm, label, SOFTHSM_MODULE),
                  softhsm.keys[label].pub_pem) for label in soft_keys]
        try:
            yield env, keys, True
        finally:
            clear_dictionary_lockout(tpm)


def test_fork_while_signing(fork_setup, tmp_path):
    """Children forked while a parent thread signs sign with the keys they
    inherited; the parent's signatures before, during and after verify.
    With tpm2-pkcs11, each child's one attempt with the parent's TPM key
    fails with an error naming the module and the fork."""
    env, keys, refused = fork_setup
    args = ["--children", CHILDREN, "--rounds", ROUNDS, "--count",
            CHILD_SIGNATURES, "--timeout", WAIT_SECONDS,
            "--parent-signatures", PARENT_SIGNATURES,
            *(["--no-parent-thread"] if UNDER_ASAN else [])]
    for roles, uri, pub in keys:
        args += ["--key", roles, uri, pub]
    proc = run_in_own_group([c_program("fork_sign"), *args], env, tmp_path,
                            timeout=FORK_SECONDS + 30)
    assert_ok(proc)

    assert number(r"^parent before: (\d+) verified$", proc) == \
        PARENT_SIGNATURES, describe(proc)
    for r in range(1, ROUNDS + 1):
        exited_0, during = number(
            rf"^round {r}: (\d+) children exited 0, (\d+) parent signatures "
            r"while they ran$", proc)
        assert exited_0 == CHILDREN, describe(proc)
        assert during >= 1 or UNDER_ASAN, "the parent did not sign while " \
            "its children ran\n" + describe(proc)
        for i in range(1, CHILDREN + 1):
            assert number(rf"^child {r}\.{i}: (\d+) signatures verified$",
                          proc) == CHILD_SIGNATURES, describe(proc)
            if refused:
                m = re.search(rf"^child {r}\.{i} refused: (.*)$",
                              proc.stdout, re.M)
                assert m, f"child {r}.{i} was not refused\n" + describe(proc)
                text = m.group(1).lower()
                assert "fork" in text and "tpm2" in text, (
                    f"child {r}.{i}: the error does not name both the fork "
                    "and the module\n" + describe(proc))
    assert "must not use" not in proc.stdout, describe(proc)
    assert number(r"^parent during: (\d+) verified$", proc) >= \
        (0 if UNDER_ASAN else ROUNDS), describe(proc)
    assert number(r"^parent after: (\d+) verified$", proc) == \
        PARENT_SIGNATURES, describe(proc)
