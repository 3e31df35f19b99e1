"""What the key, signature, PIN and bad-input tests share: where each token
key is and its URI, openssl WITHOUT the provider (the independent verifier
of every signature), OpenSC's pkcs11-spy as a call counter, the C test
programs, and a terminal for interactive PIN prompts."""
import os
import pty
import re
import select
import subprocess
import termios
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import (BUILD_DIR, SOFTHSM_MODULE, TPM2_MODULE, assert_no_crash,
                     child_env, describe, openssl_version, pem_blocks, run,
                     run_openssl, write_openssl_cnf, write_plain_cnf)
from tokens import SOFTHSM_TOKENS, TPM_TOKEN, Key

SPY_MODULE = "/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so"
C_PROGRAMS = BUILD_DIR / "tests" / "integration" / "c"

SOFT_TOKEN = SOFTHSM_TOKENS[0]                      # p11prov-soft
SOFT_KEYS = [k.label for k in SOFT_TOKEN.keys]      # ids 01..08, in order
TPM_KEYS = [k.label for k in TPM_TOKEN.keys]
SPECS = {k.label: k for t in (*SOFTHSM_TOKENS, TPM_TOKEN) for k in t.keys}
ALL_KEYS = list(SPECS)
# Keys that sign with their type's default scheme (PKCS#1 v1.5 for RSA).
CANNOT_SIGN = ("nosign-p256", "rsa-pssonly")
SIGNERS = [k for k in SOFT_KEYS + TPM_KEYS if k not in CANNOT_SIGN]
RSA_KEYS = ["rsa2048", "rsa-pssonly", "tpm-rsa2048"]
# The public key of the mock's mock-key (that of its certificate).
MOCK_PUB_PEM = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEjOEpEeVhK9zlJrAQDJSPLj+wVqLj
V/HacXvqhPcv5FrlWXEm7MMt/gHfjUgC4IU85K32NAQW6Lua0rCZiR7yeg==
-----END PUBLIC KEY-----
"""


def kind(label):
    """"rsa", "ec" or "ed" (EdDSA) for a key label."""
    key_type = SPECS[label].key_type
    if key_type.startswith("rsa"):
        return "rsa"
    return "ed" if "edwards" in key_type else "ec"


@dataclass
class TokenKey:
    key: Key          # label, id, token, pub_pem, cert_pem
    env: dict         # what openssl needs to reach its token
    pin: str
    on_tpm: bool

    @property
    def label(self):
        return self.key.label

    @property
    def kind(self):
        return kind(self.label)

    def uri(self, type="private", pin=True):
        """pkcs11:token=T;object=L[;type=TYPE][?pin-value=PIN]"""
        uri = self.key.uri + (f";type={type}" if type else "")
        return uri + (f"?pin-value={self.pin}" if pin else "")


# SoftHSM's C_SignInit leaks with EdDSA keys and tpm2-pkcs11's with EC
# keys; tests/lsan.supp suppresses leaks by module, which LeakSanitizer sees
# only with the slow unwinder (libcrypto lacks frame pointers). That is
# too slow for every process: only those signing with such a key get it.
THIRD_PARTY_LEAKS = ("ed25519", "ed448", "tpm-p256")


def slow_unwind_env():
    """ASAN_OPTIONS with fast_unwind_on_malloc=0, in the sanitizer run."""
    if not os.environ.get("PKCS11PROV_TEST_PRELOAD"):
        return {}
    return {"ASAN_OPTIONS": ":".join(filter(None, (
        os.environ.get("ASAN_OPTIONS"), "fast_unwind_on_malloc=0")))}


def token_key(request, label, proxy=False):
    """The key with that label on its token (requesting the softhsm or
    tpm_clean fixture), reached through its module directly or, with
    proxy, through the p11-kit proxy (the provider's default module)."""
    if label in TPM_KEYS:
        token = request.getfixturevalue("tpm_clean")
        env = {**token.env, "PKCS11PROV_MODULE": TPM2_MODULE}
        pin = token.pin
    else:
        token = request.getfixturevalue("softhsm")
        env = {**token.env, "PKCS11PROV_MODULE": SOFTHSM_MODULE}
        pin = token.pins[token.keys[label].token]
    if proxy:
        request.getfixturevalue("tpm_clean")  # the proxy loads tpm2_pkcs11
        env = dict(request.getfixturevalue("p11kit_env"))
    if label in THIRD_PARTY_LEAKS:
        env.update(slow_unwind_env())
    return TokenKey(token.keys[label], env, pin, label in TPM_KEYS)


# ---- openssl without the provider --------------------------------------------

def software(directory, *args, what="openssl without the provider"):
    """Runs `openssl ARGS` with an empty configuration (default provider
    only) and asserts success: the independent check of what the provider
    made."""
    proc = run_openssl(args, {"OPENSSL_CONF": write_plain_cnf(directory)})
    assert_no_crash(proc)
    assert proc.returncode == 0, f"{what} failed\n" + describe(proc)
    return proc


def verify_csr(directory, csr):
    """Checks a CSR's self-signature without the provider; returns the
    public key it holds, as pem_blocks(..., "PUBLIC KEY").

    `req -verify` exits 1 on a bad self-signature since OpenSSL 3.3; 3.0
    to 3.2 exit 0 whatever the result (the verdict only in its wording,
    which moved from stderr to stdout). There, `x509 -req` checks the
    self-signature instead: it refuses to certify a request whose
    signature fails, on every version."""
    proc = software(directory, "req", "-in", csr, "-verify", "-noout",
                    "-pubkey", what="verifying the CSR's signature")
    if openssl_version() < (3, 3):
        issuer = Path(directory) / "csr-check.key"
        software(directory, "genpkey", "-algorithm", "EC", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-out", issuer)
        software(directory, "x509", "-req", "-in", csr, "-key", issuer,
                 "-days", "1", "-out", Path(directory) / "csr-check.pem",
                 what="x509 -req checking the CSR's self-signature")
    return pem_blocks(proc.stdout, "PUBLIC KEY")


def data_file(directory, name="data.txt", size=3000):
    """A file of deterministic, non-trivial bytes to sign."""
    path = Path(directory) / name
    path.write_bytes(bytes((i * 7 + i // 251) % 256 for i in range(size)))
    return path


# ---- what the provider printed ---------------------------------------------------

# Lines in which openssl itself echoes the URI it was given (PIN included).
OPENSSL_ECHOES = ("Couldn't open file or uri ", "Could not open file or uri ",
                  "calling stat(", "Could not read ", "Could not find ",
                  "nable to load ")


def provider_text(proc):
    """stdout and stderr without the lines where openssl echoes a URI."""
    return "\n".join(line for line in (proc.stdout + proc.stderr).splitlines()
                     if not any(echo in line for echo in OPENSSL_ECHOES))


def traced(proc, word):
    """The URIs of the provider's trace lines `<word> <URI>` on stderr
    (PKCS11PROV_DEBUG): "found", "returning", ..."""
    return re.findall(rf"pkcs11prov\[\d+\]: {word} (pkcs11:\S+)", proc.stderr)


def assert_hidden(proc, *secrets, echoes_allowed=True):
    """None of secrets in the output (openssl's own URI echoes aside when
    echoes_allowed)."""
    text = provider_text(proc) if echoes_allowed else proc.stdout + proc.stderr
    shown = [s for s in secrets if s in text]
    assert not shown, f"PIN(s) {shown} printed\n" + describe(proc)


def assert_clear_error(proc, *needles, any_of=()):
    """A non-zero exit without a crash whose provider text holds every
    needle and, when given, one of any_of (all case-insensitive)."""
    assert_no_crash(proc)
    assert proc.returncode != 0, "expected a failure\n" + describe(proc)
    text = provider_text(proc).lower()
    missing = [n for n in needles if n.lower() not in text]
    assert not missing, f"the error lacks {missing}\n" + describe(proc)
    if any_of:
        assert any(a.lower() in text for a in any_of), (
            f"the error names none of {list(any_of)}\n" + describe(proc))


# ---- OpenSC's pkcs11-spy: every Cryptoki call, logged ------------------------------

def spy_env(module, log):
    """Environment that puts pkcs11-spy between the provider and module.
    The spy log holds PINs: never show it as output."""
    return {"PKCS11PROV_MODULE": SPY_MODULE, "PKCS11SPY": module,
            "PKCS11SPY_OUTPUT": log}


def spy_calls(log):
    """[(function name, logged text)] in call order."""
    path = Path(log)
    if not path.exists():
        return []
    parts = re.split(r"^\d+: (C_\w+)\n", path.read_text(errors="replace"),
                     flags=re.M)
    return list(zip(parts[1::2], parts[2::2]))


def spy_names(log):
    return [name for name, _ in spy_calls(log)]


def spy_summary(log):
    """A short, PIN-free account of the calls, for failure messages."""
    names = spy_names(log)
    return f"{len(names)} calls: " + " ".join(names[:200])


# ---- the C test programs ------------------------------------------------------------

def c_program(name):
    path = C_PROGRAMS / name
    if not path.is_file():
        pytest.fail(f"{path} is missing (build the project: "
                    "tests/integration/c)", pytrace=False)
    return path


def run_c(name, args, env, directory, timeout=120):
    """Runs a C test program with the provider activated by an openssl.cnf
    (written into directory) next to the default provider."""
    conf = write_openssl_cnf(directory)
    return run([c_program(name), *args], {"OPENSSL_CONF": conf, **env},
               timeout=timeout)


# ---- a terminal, for openssl's interactive passphrase prompt -------------------------

def run_with_tty(cmd, env, answer, prompt=re.compile(rb"pass|pin", re.I),
                 timeout=60):
    """Runs cmd on a new pseudo-terminal (its controlling tty), types
    answer and Enter once it prompts (prompt: a regex on the output),
    and returns (exit status, output as text, whether it prompted)."""
    cmd = [str(c) for c in cmd]
    environment = child_env(env)
    pid, fd = pty.fork()
    if pid == 0:  # the child: never returns
        try:
            os.execvpe(cmd[0], cmd, environment)
        finally:
            os._exit(127)
    output, answered = b"", False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
            # Answer once prompted and the terminal's echo is off (openssl
            # prints the prompt, then turns echo off: typing earlier would
            # show the answer).
            if not answered and prompt.search(output) and \
                    not termios.tcgetattr(fd)[3] & termios.ECHO:
                os.write(fd, answer.encode() + b"\n")
                answered = True
        else:
            os.kill(pid, 9)
            raise AssertionError(f"timed out after {timeout}s: {cmd}\n"
                                 + output.decode(errors="replace"))
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return code, output.decode(errors="replace"), answered


def popen(cmd, env):
    """A started child with pipes (text), for tests that talk to it."""
    return subprocess.Popen([str(c) for c in cmd], env=child_env(env),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            errors="replace")


def read_until(proc, marker, timeout):
    """Reads proc's stdout until marker (bytes) has appeared, for at most
    timeout seconds in all. Reads the file descriptor unbuffered: select()
    sees only the pipe. Returns (True, what was read), or (False, what was
    read) when stdout ended or the time ran out first."""
    seen, deadline = b"", time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        ready = select.select([proc.stdout], [], [], max(left, 0))[0]
        chunk = os.read(proc.stdout.fileno(), 4096) if ready else b""
        if not chunk:
            return False, seen
        seen += chunk
    return True, seen
