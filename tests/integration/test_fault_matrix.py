"""The fault matrix (issue 14, item 3): every Cryptoki call the provider
makes on the sign, decrypt, derive, key generation and store paths, each
under CKR_DEVICE_ERROR, CKR_SESSION_HANDLE_INVALID, CKR_USER_NOT_LOGGED_IN,
CKR_TOKEN_NOT_PRESENT, CKR_DEVICE_REMOVED, CKR_FUNCTION_FAILED,
CKR_GENERAL_ERROR, CKR_HOST_MEMORY and a delay of 1.5 s; then a refused
PIN, and a fork with faults active in the parent, the children or both.

The calls are not listed here: they are read from the fault-free call log
(P11FAULT_LOG of tests/faultmod) of each operation, run first:
  sign        openssl dgst -sign with an EC P-256 key loaded by URI
  sign-reuse  store_sign: one key signs three times (from the second
              signature on, through its session-object copy)
  decrypt     openssl pkeyutl -decrypt, RSA-2048 OAEP on the token
  derive      openssl pkeyutl -derive, ECDH P-256
  store-list  openssl storeutl of the whole token: keys, public keys and
              certificates (logged in)
  store-cert  openssl storeutl -certs of one object (no login)
  keygen      openssl genpkey of an EC P-256 key pair on the token
One key type per path: the fault handling does not depend on it
(test_recovery.py runs both). A site is a call of such a log: the first
call of a function after a given other call (C_GetAttributeValue after
C_DeriveKey, C_OpenSession after C_FindObjectsFinal, ...), faulted by its
number among the calls of its function (the fault module's @N). A site is
tested once: the module load and slot enumeration before the first
C_OpenSession are the same code for every operation, and after it the
operations that load a key through the store share their search and
attribute reads; key generation is code of its own. So the matrix grows
by itself when the provider makes a call it did not make before.

Which fault, once or persistent:
  CKR_USER_NOT_LOGGED_IN, CKR_SESSION_HANDLE_INVALID, CKR_TOKEN_NOT_PRESENT,
  CKR_DEVICE_REMOVED report an event (the login or the session lost, the
  token pulled and put back, the device reset) after which a real token
  works again: once, on the site's call (P11FAULT_ONCE), and the fault
  module first does to SoftHSM what the answer claims (C_Logout,
  C_CloseSession). These are what the provider recovers from.
  CKR_DEVICE_ERROR, CKR_FUNCTION_FAILED, CKR_GENERAL_ERROR, CKR_HOST_MEMORY
  report a broken token, which stays broken: persistent, on the site's
  call and every later call of the function (P11FAULT_ALWAYS). A retry
  must then be bounded, and whatever is still made must be right.
  The delay: once, 1500 ms on the site's call (longer than the provider's
  500 ms recovery interval); a slow call is not a failed one.

Every cell ends in one of:
  - a transparent recovery: exit 0 and a right result, checked without the
    provider (signatures verified, plaintext and ECDH secret compared,
    the listed objects and certificates compared with the token's, the
    generated key pair found once and signing);
  - a clean error: a non-zero exit, no crash or sanitizer report, an
    error naming the injected CKR_* (except C_Decrypt's CKR_GENERAL_ERROR
    and CKR_FUNCTION_FAILED, which the provider reports as any failed
    decryption, on purpose: MatrixOp.own_errors).
Never a crash, a hang (each run has CELL_TIMEOUT seconds), a wrong result,
the PIN printed, or more than one C_Login more than the fault-free run. A
delay must give the fault-free result with the fault-free calls. A key
generation cell (faults before, at and after C_GenerateKeyPair: the
usages set afterwards, the session closed, the new key's attributes read)
counts the token's objects before and after with pkcs11-tool: a failure
leaves none behind, a success exactly the new pair. A refused PIN
(CKR_PIN_INCORRECT, _LOCKED, _EXPIRED) goes to the token once, never
again.

Matrix size: 49 sites x 9 faults = 441 cells (sign 19 sites, sign-reuse
5, decrypt 5, derive 4, store-list 2, store-cert 1, keygen 13, from the
logs of 2026-12-06; test_site_count prints the current count), plus 9
refused-PIN cells and 11 fork cells: 461. Each (operation, fault) is one
test that runs all the operation's sites and lists every failing cell.
The delay cells run 6 at a time (they sleep), each worker on a copy of
the token's directory: SoftHSM's file store fails processes that use a
token at the same time.

The key pairs of faults.FAULT_TOKEN are on p11prov-fault, and generated
keys go to p11prov-faultgen (emptied after each cell); each token is
alone in a SoftHSM configuration of its own, so that the first
C_GetSlotInfo and C_GetTokenInfo of a run are always its own.
"""
import base64
import os
import re
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

import tokens
from faults import FAULT_PIN, FAULT_TOKEN, OPS, FaultToken, Run, summary
from helpers import (CRASH_MARKERS, SOFTHSM_MODULE, assert_no_crash,
                     assert_ok, describe, pem_blocks, pem_cert_file,
                     pem_certs, pkcs11_tool_objects, run, store_kinds)
from keyops import assert_hidden, data_file, provider_text, software

EVENTS = ("CKR_USER_NOT_LOGGED_IN", "CKR_SESSION_HANDLE_INVALID",
          "CKR_TOKEN_NOT_PRESENT", "CKR_DEVICE_REMOVED")
BROKEN = ("CKR_DEVICE_ERROR", "CKR_FUNCTION_FAILED", "CKR_GENERAL_ERROR",
          "CKR_HOST_MEMORY")
DELAY = "delay"
FAULTS = EVENTS + BROKEN + (DELAY,)
DELAY_MS = 1500
DELAY_WORKERS = 6
CELL_TIMEOUT = 25  # seconds: a run that takes longer hangs
GEN_TOKEN = "p11prov-faultgen"
# What a C test program prints when a signature it got does not verify.
WRONG_SIGNATURE = "EVP_DigestVerify in the default provider failed"


# ---- the store operations (sign, decrypt, derive, keygen: faults.py) -------

def sign_reuse(run_, d, **faults):
    """store_sign: three signatures with one loaded key, each verified in
    the program with the key's public part, which must be the token's;
    the first one verified again here."""
    data, sig, pub = data_file(d), d / "sig", d / "pub.pem"
    proc, calls = run_.program(
        "store_sign", ["--threads", "1", "--count", "2", "--in", data,
                       "--sig-out", sig, "--pub-out", pub,
                       run_.uri("fault-ec")], **faults)

    def check():
        want = run_.keys["fault-ec"].pub_pem
        assert pub.read_text() == want.read_text(), \
            "store_sign saw another public key"
        software(d, "dgst", "-sha256", "-verify", want, "-signature", sig,
                 data, what="verifying the signature")
    return proc, calls, check


def uri_labels(stdout):
    """The object labels in the key URIs storeutl printed (PEM blocks of
    DER holding the URI)."""
    labels = []
    for block in pem_blocks(stdout, "PKCS#11 PROVIDER URI"):
        m = re.search(rb"object=([\w-]+)", base64.b64decode(block))
        labels.append(m.group(1).decode() if m else "(no label)")
    return labels


def store_list(run_, d, **faults):
    """Every object of the token: two private keys (as URIs), their
    public keys and certificates, compared with the token's."""
    proc, calls = run_.openssl(
        "storeutl", f"pkcs11:token={run_.token.label}?pin-value={FAULT_PIN}",
        **faults)

    def check():
        keys = run_.keys.values()
        assert sorted(store_kinds(proc.stdout)) == sorted(
            ["Pkey", "Public key", "Certificate"] * len(keys)), proc.stdout
        assert sorted(pem_certs(proc.stdout)) == sorted(
            pem_cert_file(k.cert_pem) for k in keys), "other certificates"
        assert sorted(pem_blocks(proc.stdout, "PUBLIC KEY")) == sorted(
            pem_blocks(k.pub_pem.read_text(), "PUBLIC KEY")[0]
            for k in keys), "other public keys"
        assert sorted(uri_labels(proc.stdout)) == sorted(run_.keys), \
            "other private keys"
    return proc, calls, check


def store_cert(run_, d, **faults):
    """One certificate by URI, without a PIN: the token's."""
    proc, calls = run_.openssl(
        "storeutl", "-certs",
        f"pkcs11:token={run_.token.label};object=fault-ec", **faults)

    def check():
        assert store_kinds(proc.stdout) == ["Certificate"], proc.stdout
        assert pem_certs(proc.stdout) == [
            pem_cert_file(run_.keys["fault-ec"].cert_pem)], "another cert"
    return proc, calls, check


@dataclass(frozen=True)
class MatrixOp:
    family: str            # "store" or "keygen": see sites()
    do: object             # (run_, d, **faults) -> (proc, calls, check)
    generates: bool = False
    # {function: (CKR_* names, the provider's error instead)}: answers the
    # provider reports in words of its own, on purpose.
    own_errors: dict = field(default_factory=dict)


MATRIX = {
    "sign": MatrixOp("store", OPS["sign-ec"].do),
    "sign-reuse": MatrixOp("store", sign_reuse),
    # SoftHSM and tpm2-pkcs11 answer CKR_GENERAL_ERROR to a wrong padding:
    # C_Decrypt's failures about the data all give one error, whichever
    # check failed (no padding oracle: asym_token.c).
    "decrypt": MatrixOp("store", OPS["decrypt-oaep"].do, own_errors={
        "C_Decrypt": (("CKR_GENERAL_ERROR", "CKR_FUNCTION_FAILED"),
                      "the ciphertext is not valid for this key")}),
    "derive": MatrixOp("store", OPS["derive-ec"].do),
    "store-list": MatrixOp("store", store_list),
    "store-cert": MatrixOp("store", store_cert),
    "keygen": MatrixOp("keygen", OPS["keygen-ec"].do, generates=True),
}


# ---- the sites ------------------------------------------------------------

@dataclass(frozen=True)
class Site:
    op: str
    function: str
    nth: int       # its number among the calls of function in the log
    after: str     # the call before it ("" for the first call)

    def __str__(self):
        return f"{self.function}@{self.nth} after {self.after or 'nothing'}"

    def rules(self, fault):
        """The fault module's rules for this site and fault."""
        if fault == DELAY:
            return {"delay": f"{self.function}:{DELAY_MS}@{self.nth}"}
        kind = "once" if fault in EVENTS else "always"
        return {kind: f"{self.function}:{fault}@{self.nth}"}


def sites(logs):
    """The sites of the fault-free logs ({operation: calls in order}, in
    MATRIX order): the first call of each function after each other
    call, once per code path (see the module docstring)."""
    seen, found = set(), []
    for name, log in logs.items():
        opened = log.index("C_OpenSession") if "C_OpenSession" in log \
            else len(log)
        counts = Counter()
        for i, function in enumerate(log):
            counts[function] += 1
            after = log[i - 1] if i else ""
            path = "enumeration" if i < opened else MATRIX[name].family
            if (path, function, after) not in seen:
                seen.add((path, function, after))
                found.append(Site(name, function, counts[function], after))
    return found


# ---- the tokens -----------------------------------------------------------

def token_objects(token):
    """[(class, label)] of every object on token (logged in), listed by
    pkcs11-tool in a process of its own."""
    proc = run(["pkcs11-tool", "--module", SOFTHSM_MODULE, "--slot",
                token.slot, "--login", "--pin", FAULT_PIN, "-O"], token.env,
               preload=False)
    assert proc.returncode == 0, describe(proc)
    return [(o["class"], o["label"]) for o in
            pkcs11_tool_objects(proc.stdout)]


TOOL_TYPES = {"Private Key": "privkey", "Public Key": "pubkey",
              "Certificate": "cert", "Data": "data"}


def empty_token(token):
    """Deletes every object on token (what a cell made or left)."""
    for cls, label in token_objects(token):
        proc = run(["pkcs11-tool", "--module", SOFTHSM_MODULE, "--slot",
                    token.slot, "--login", "--pin", FAULT_PIN,
                    "--delete-object", "--type", TOOL_TYPES[cls], "--label",
                    label], token.env, preload=False)
        assert proc.returncode == 0, describe(proc)
    left = token_objects(token)
    assert not left, f"{token.label} could not be emptied: {left}"


@dataclass
class Context:
    fault_module: object
    keys: FaultToken     # p11prov-fault, its keys
    gen: FaultToken      # p11prov-faultgen, empty

    def token(self, op, env=None):
        """The token of op: in env (a copy's SOFTHSM2_CONF) if given."""
        token = self.gen if op.generates else self.keys
        if env is None:
            return token
        return FaultToken(replace(token.token, env=env), token.keys)

    def run(self, op, directory, env=None):
        return Run(self.fault_module, self.token(op, env), directory)

    def copies(self, op, directory, count):
        """The environments of count copies of op's token (the same slot,
        serial and objects). SoftHSM's file store is not safe for several
        processes at once: with pkcs11-tool alone, C_GetTokenInfo answered
        CKR_GENERAL_ERROR and C_OpenSession CKR_SLOT_ID_INVALID while
        another process logged in. Cells that run at the same time each
        have a copy."""
        conf_file = Path(self.token(op).token.env["SOFTHSM2_CONF"])
        conf = conf_file.read_text()
        line = re.search(r"^directories\.tokendir\s*=\s*(.*)$", conf, re.M)
        envs = []
        for i in range(count):
            d = directory / f"softhsm-copy{i}"
            shutil.copytree(line.group(1).strip(), d / "tokens")
            (d / "softhsm2.conf").write_text(conf.replace(
                line.group(0), f"directories.tokendir = {d / 'tokens'}"))
            envs.append({"SOFTHSM2_CONF": str(d / "softhsm2.conf")})
        return envs


def lone_token(directory, label):
    """A token alone in a SoftHSM configuration of its own (the one other
    slot, uninitialised, comes after it): the first C_GetSlotInfo and
    C_GetTokenInfo of every run are the token's, whatever order SoftHSM
    gives its tokens (their serials are random)."""
    env, slot = tokens.softhsm_token(directory, label, FAULT_PIN)
    return tokens.GenToken(label, slot, FAULT_PIN, env)


@pytest.fixture(scope="module")
def ctx(software_ca, fault_module, provider_module, tmp_path_factory):
    d = tmp_path_factory.mktemp("matrix-tokens")
    token = lone_token(d / "keys", FAULT_TOKEN.label)
    keys = tokens.provision_keys(
        SOFTHSM_MODULE, token.env, ["--slot", str(token.slot)], FAULT_TOKEN,
        software_ca, d / "keys", slot=token.slot)
    return Context(fault_module, FaultToken(token, keys),
                   FaultToken(lone_token(d / "gen", GEN_TOKEN), {}))


@dataclass
class Matrix:
    logs: dict       # operation -> its fault-free calls, in order
    sites: list


@pytest.fixture(scope="module")
def matrix(ctx, tmp_path_factory):
    """Each operation run twice without a fault: right, and the same calls
    both times (else @N would not pick the same call)."""
    logs = {}
    for name, op in MATRIX.items():
        seen = []
        for _ in range(2):
            d = tmp_path_factory.mktemp(f"fault-free-{name}")
            run_ = ctx.run(op, d)
            proc, _, check = op.do(run_, d, timeout=CELL_TIMEOUT)
            seen.append(run_.sequence)
            assert_ok(proc)
            check()
        if op.generates:
            empty_token(ctx.gen.token)
        assert seen[0] == seen[1], (
            f"{name}: two fault-free runs made different calls:\n"
            f"{seen[0]}\n{seen[1]}")
        logs[name] = seen[0]
    return Matrix(logs, sites(logs))


# ---- one cell ---------------------------------------------------------------

def excerpt(proc, lines=4):
    """The last lines of stderr, the PIN-free part, for a report."""
    tail = [line for line in provider_text(proc).splitlines()
            if line.strip()][-lines:]
    return " | ".join(tail)[:600]


def own_error(op, site, fault, text):
    codes, words = op.own_errors.get(site.function, ((), None))
    return fault in codes and words in text


def judge(op, site, fault, proc, calls, check, base, objects):
    """The problems of a cell's run (none: it passed). objects: the
    token's (before, after) for a key generation counted around it."""
    rc = proc.returncode
    if rc < 0 or any(m in proc.stdout + proc.stderr for m in CRASH_MARKERS):
        return [f"crashed (exit status {rc}): {excerpt(proc, 8)}"]
    problems = []
    text = provider_text(proc)
    if FAULT_PIN in text:
        problems.append("printed the PIN")
    if WRONG_SIGNATURE in proc.stderr:
        problems.append("made a signature that does not verify")
    right = False
    if rc == 0:
        try:
            check()
            right = True
        except (AssertionError, OSError) as e:  # OSError: no output file
            problems.append("exit 0 with a wrong result: "
                            + str(e).splitlines()[0][:300])
    elif fault == DELAY:
        problems.append(f"exit {rc} though the call was only slow: "
                        + excerpt(proc))
    elif fault not in text and not own_error(op, site, fault, text):
        problems.append(f"exit {rc}, an error not naming {fault}: "
                        + excerpt(proc))
    if fault == DELAY and rc == 0 and calls != base:
        problems.append("other calls than without the delay: "
                        + summary(base, calls))
    if fault != DELAY and calls[site.function] < site.nth:
        problems.append(f"no call {site.function}@{site.nth}: the fault "
                        "never fired (a call log unlike the fault-free one)")
    logins = calls["C_Login"] - base["C_Login"]
    if logins > 1:
        problems.append(f"{logins} C_Login more than without the fault")
    if objects is not None:
        new = Counter(objects[1]) - Counter(objects[0])
        gone = Counter(objects[0]) - Counter(objects[1])
        want = ["Private Key", "Public Key"] if right else []
        if sorted(c for c, _ in new.elements()) != want or gone:
            problems.append(f"the token's objects changed by {dict(new)} "
                            f"(gone: {dict(gone)}) for exit {rc}")
    return problems


def rule_text(site, fault):
    return " ".join(f"{k}={v}" for k, v in site.rules(fault).items())


def run_cell(ctx, matrix, site, fault, directory, env=None):
    """Runs one cell (on the tokens of env, a copy's, if given); returns
    its report line, or None when it passed."""
    op = MATRIX[site.op]
    directory.mkdir()
    run_ = ctx.run(op, directory, env)
    token = run_.token
    before = token_objects(token) if op.generates else None
    try:
        proc, calls, check = op.do(run_, directory, timeout=CELL_TIMEOUT,
                                   **site.rules(fault))
    except AssertionError as e:
        if "timed out" not in str(e):
            raise
        problems = [f"hung: no end in {CELL_TIMEOUT} s"]
    else:
        objects = (before, token_objects(token)) if op.generates else None
        problems = judge(op, site, fault, proc, calls, check,
                         Counter(matrix.logs[site.op]), objects)
    if op.generates:
        empty_token(token)
    if not problems:
        return None
    return f"{site.op} {site} {rule_text(site, fault)}: " + "; ".join(problems)


# ---- the matrix -------------------------------------------------------------

def test_site_count(matrix):
    """Every operation adds sites of its own (else it is not worth its
    runs); prints the matrix size (pytest -s, or -rP)."""
    per_op = Counter(s.op for s in matrix.sites)
    print(f"fault matrix: {len(matrix.sites)} sites x {len(FAULTS)} faults "
          f"= {len(matrix.sites) * len(FAULTS)} cells; {dict(per_op)}")
    assert set(per_op) == set(MATRIX), (
        f"operations without a site of their own: "
        f"{set(MATRIX) - set(per_op)}\n{matrix.logs}")


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("name", list(MATRIX))
def test_matrix(ctx, matrix, tmp_path, name, fault):
    """Each site of the operation under the fault: a right result or a
    clean error (see the module docstring); lists every failing cell."""
    cells = [s for s in matrix.sites if s.op == name]
    assert cells, f"{name} has no site of its own"
    dirs = [tmp_path / f"cell{i}" for i in range(len(cells))]
    if fault == DELAY:
        # They sleep: several at once, each worker on a copy of the tokens.
        envs = ctx.copies(MATRIX[name], tmp_path,
                          min(DELAY_WORKERS, len(cells)))
        work = list(zip(cells, dirs))

        def worker(i):
            return [run_cell(ctx, matrix, c, fault, d, envs[i])
                    for c, d in work[i::len(envs)]]
        with ThreadPoolExecutor(len(envs)) as pool:
            failed = [f for done in pool.map(worker, range(len(envs)))
                      for f in done]
    else:
        failed = [run_cell(ctx, matrix, c, fault, d)
                  for c, d in zip(cells, dirs)]
    failed = [f for f in failed if f is not None]
    assert not failed, (f"{len(failed)} of {len(cells)} cells failed:\n"
                        + "\n".join(failed))


# ---- a refused PIN ----------------------------------------------------------

PIN_REFUSALS = ("CKR_PIN_INCORRECT", "CKR_PIN_LOCKED", "CKR_PIN_EXPIRED")
# When the PIN goes to the token: the key's first login (openssl dgst), a
# key generation's login, and the login again after the token lost it
# (C_Sign answering CKR_USER_NOT_LOGGED_IN once).
PIN_MOMENTS = {
    "load": ("sign", lambda code: {"always": f"C_Login:{code}"}, 1),
    "keygen": ("keygen", lambda code: {"always": f"C_Login:{code}"}, 1),
    "relogin": ("sign", lambda code: {
        "once": "C_Sign:CKR_USER_NOT_LOGGED_IN",
        "always": f"C_Login:{code}@2"}, 2),
}


@pytest.mark.parametrize("code", PIN_REFUSALS)
@pytest.mark.parametrize("moment", list(PIN_MOMENTS))
def test_refused_pin_is_never_retried(ctx, tmp_path, moment, code):
    """The token refuses the PIN: one C_Login with it, never a second
    (each may count against the PIN), a clean error naming the refusal,
    the PIN not printed, and no key generated."""
    name, rules, logins = PIN_MOMENTS[moment]
    op = MATRIX[name]
    run_ = ctx.run(op, tmp_path)
    before = token_objects(ctx.gen.token) if op.generates else None
    proc, calls, _ = op.do(run_, tmp_path, timeout=CELL_TIMEOUT,
                           **rules(code))
    after = token_objects(ctx.gen.token) if op.generates else None
    if op.generates:
        empty_token(ctx.gen.token)
    assert_no_crash(proc)
    why = f"calls: {dict(calls)}\n" + describe(proc)
    assert proc.returncode != 0, "expected a failure\n" + why
    assert code in provider_text(proc), f"no error naming {code}\n" + why
    assert_hidden(proc, FAULT_PIN)
    assert calls["C_Login"] == logins, why
    assert after == before, f"objects {before} -> {after}\n" + why


# ---- fork -------------------------------------------------------------------
# fork_sign (tests/integration/c/fork_sign.c): the parent loads the key and
# signs PARENT_SIGNATURES times; then, ROUNDS times, forks a child that
# signs CHILD_SIGNATURES times while a thread of the parent signs (not
# under ASan: see test_load.py); then the parent signs again. Every
# signature is verified in software. P11FAULT_SCOPE (tests/faultmod) puts
# the rules in the parent only, in the children only (each counting its
# own calls) or in both. One child at a time, and no parent thread when
# both are faulted: SoftHSM's file store fails processes that log in at
# the same time (C_GetTokenInfo: CKR_GENERAL_ERROR, C_OpenSession:
# CKR_SLOT_ID_INVALID, with pkcs11-tool alone), which would hide what the
# provider does.

ROUNDS = 2
CHILD_SIGNATURES = 10
PARENT_SIGNATURES = 3
FORK_WAIT = 15   # fork_sign's bound on each wait
UNDER_ASAN = "libasan" in os.environ.get("PKCS11PROV_TEST_PRELOAD", "")
AFTER_FORK = PARENT_SIGNATURES + 1   # the parent's first C_Sign after it

# name: (scope, rules). The children's re-initialisation, session, key copy
# and signatures faulted; the parent's module restarted just before the
# first fork; the parent's signatures failing while its children sign;
# parent and children both faulted.
FORK_CASES = {
    "child-initialize-device-error": (
        "child", {"once": "C_Initialize:CKR_DEVICE_ERROR"}),
    "child-open-session-token-not-present": (
        "child", {"once": "C_OpenSession:CKR_TOKEN_NOT_PRESENT"}),
    "child-copy-object-function-failed": (
        "child", {"always": "C_CopyObject:CKR_FUNCTION_FAILED"}),
    "child-sign-session-lost": (
        "child", {"once": "C_Sign:CKR_SESSION_HANDLE_INVALID"}),
    "child-sign-device-removed": (
        "child", {"once": "C_Sign:CKR_DEVICE_REMOVED"}),
    "child-sign-device-error": (
        "child", {"always": "C_Sign:CKR_DEVICE_ERROR"}),
    "child-sign-delay": ("child", {"delay": f"C_Sign:{DELAY_MS}"}),
    "parent-restarted-before-fork": (
        "parent", {"once": f"C_Sign:CKR_DEVICE_REMOVED@{PARENT_SIGNATURES}"}),
    "parent-device-error-after-fork": (
        "parent", {"always": f"C_Sign:CKR_DEVICE_ERROR@{AFTER_FORK}"}),
    "both-login-lost": (
        "", {"once": f"C_Sign:CKR_USER_NOT_LOGGED_IN@{AFTER_FORK}"}),
    "both-host-memory": (
        "", {"always": f"C_Sign:CKR_HOST_MEMORY@{AFTER_FORK}"}),
}


def fork_problems(proc, scope, rules, code):
    """What went wrong in a fork_sign run with these fault rules, of code
    (None: a delay), in scope ("parent", "child" or "": both)."""
    out, err = proc.stdout, proc.stderr
    if proc.returncode not in (0, 1):
        return [f"exit status {proc.returncode} (3: timed out)"]
    problems = []
    if WRONG_SIGNATURE in err:
        problems.append("a signature that does not verify")
    if "still running after" in err:
        problems.append("a child hung")
    for status in re.findall(r"child \d+ ended with status 0x([0-9a-f]+)",
                             err):
        if int(status, 16) & 0x7f:
            problems.append(f"a child died of signal {int(status, 16) & 0x7f}")
    if proc.returncode != 0 and (code is None or code not in err):
        problems.append(f"a failure without an error naming {code}")

    def number(pattern):
        m = re.search(pattern, out, re.M)
        return int(m.group(1)) if m else None
    before = number(r"^parent before: (\d+) verified$")
    after = number(r"^parent after: (\d+) verified$")
    if scope == "child" and (before, after) != (PARENT_SIGNATURES,
                                                PARENT_SIGNATURES):
        problems.append(f"the parent, not faulted, signed {before} and "
                        f"{after} of {PARENT_SIGNATURES}")
    if scope == "child" and "parent thread, signature" in err:
        problems.append("the parent's thread, not faulted, failed")
    # A fault on every C_Sign leaves its side no signature: else it did
    # not fire, and the case proves nothing.
    every_sign = "C_Sign:" in rules.get("always", "")
    if every_sign and scope != "child" and (after or 0) > 0:
        problems.append(f"the parent signed {after} times after the fork "
                        "though every C_Sign failed")
    if before != PARENT_SIGNATURES:
        return problems   # no fork: the failure above is all there is
    # A round whose child failed is the last one.
    for r in range(1, ROUNDS + 1):
        made = number(rf"^child {r}\.1: (\d+) signatures verified$")
        if made is None:
            problems.append(f"the child of round {r} did not report")
            break
        if every_sign and scope != "parent" and made > 0:
            problems.append(f"child {r} signed {made} times though every "
                            "C_Sign failed")
        if scope == "parent" and made != CHILD_SIGNATURES:
            problems.append(f"child {r}, not faulted, signed {made} of "
                            f"{CHILD_SIGNATURES}")
        if made != CHILD_SIGNATURES:
            break
    return problems


@pytest.mark.parametrize("case", list(FORK_CASES))
def test_fork_with_faults(ctx, tmp_path, case):
    """Both sides end cleanly: every signature right, any failure an error
    naming the fault; the side without faults unharmed."""
    scope, rules = FORK_CASES[case]
    run_ = ctx.run(MATRIX["sign"], tmp_path)
    code = None if "delay" in rules else re.search(
        r"CKR_\w+", next(iter(rules.values()))).group(0)
    args = ["--children", 1, "--rounds", ROUNDS, "--count", CHILD_SIGNATURES,
            "--parent-signatures", PARENT_SIGNATURES, "--timeout", FORK_WAIT,
            *(["--no-parent-thread"] if UNDER_ASAN or not scope else []),
            "--key", "parent,child", run_.uri("fault-ec"),
            run_.keys["fault-ec"].pub_pem]
    proc, _ = run_.program("fork_sign", args, scope=scope,
                           timeout=FORK_WAIT * (ROUNDS + 2) + 30, **rules)
    assert_no_crash(proc)
    problems = fork_problems(proc, scope, rules, code)
    assert not problems, "; ".join(problems) + "\n" + describe(proc)


def test_unknown_scope_fails_initialize(ctx, tmp_path):
    """P11FAULT_SCOPE is parent, child or nothing: anything else is
    refused like any malformed rule."""
    run_ = ctx.run(MATRIX["sign"], tmp_path)
    proc, calls, _ = MATRIX["sign"].do(run_, tmp_path, scope="sideways")
    assert_no_crash(proc)
    assert proc.returncode != 0, describe(proc)
    assert "p11fault: P11FAULT_SCOPE" in proc.stderr, describe(proc)
    assert calls["C_Sign"] == 0, describe(proc)
