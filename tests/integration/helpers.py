"""Running openssl and other tools for the integration tests, and checking
what they printed.

Every child process gets a hermetic environment built by child_env():
os.environ without the variables that would change what a test means
(a developer's PKCS11PROV_MODULE, SOFTHSM2_CONF, OPENSSL_CONF, ...), plus
what the test passes, plus LD_PRELOAD=$PKCS11PROV_TEST_PRELOAD when set (the
sanitizer build needs its runtime first in every process that loads our
code; pytest itself is never preloaded). ASAN_OPTIONS, UBSAN_OPTIONS and
LSAN_OPTIONS pass through from os.environ.

With PKCS11PROV_TEST_VALGRIND set (a valgrind command line, split like a
shell's; scripts/test.sh's valgrind step), every command run() starts that
would be preloaded runs under it, its reports in files of its own: a
process whose report counts an error fails the test with that report.
"""
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("PKCS11PROV_BUILD_DIR") or REPO / "build")
PROVIDER_DIR = BUILD_DIR / "provider"
PROVIDER_MODULE = PROVIDER_DIR / "pkcs11prov.so"
PROVIDER_NAME = "pkcs11prov"  # the name it has when loaded by file name
# pkcs11.so -> ../pkcs11prov.so: OPENSSL_MODULES for curl, which loads "pkcs11".
CURL_MODULES_DIR = PROVIDER_DIR / "curl-modules"
MOCK_MODULE = BUILD_DIR / "tests" / "mock" / "libp11mock.so"
# The fault-injecting module that forwards to a real one (tests/faultmod).
FAULT_MODULE = BUILD_DIR / "tests" / "faultmod" / "libp11fault.so"
# The module that lies in front of a real one (tests/hostile).
HOSTILE_MODULE = BUILD_DIR / "tests" / "hostile" / "libp11hostile.so"
# OP-TEE's PKCS#11 TA as a profile in front of a real one (tests/optee).
OPTEE_MODULE = BUILD_DIR / "tests" / "optee" / "libp11optee.so"

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TPM2_MODULE = "/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so"
P11KIT_PROXY = "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so"

DEFAULT_TIMEOUT = 60

# Inherited variables that would silently change what a test exercises.
_HERMETIC_DROP = (
    "PKCS11PROV_MODULE", "PKCS11PROV_DEBUG", "PKCS11PROV_COPY_KEYS",
    "PKCS11PROV_CACHE_SECONDS", "PKCS11PROV_CONNECTIONS", "P11MOCK_FAIL",
    "P11MOCK_LOG",
    "P11MOCK_TOKEN_FLAGS", "P11MOCK_MAX_SESSIONS", "P11MOCK_SIGN_DELAY_MS",
    "P11MOCK_HIDE_MAX_SESSIONS", "P11FAULT_MODULE", "P11FAULT_ONCE",
    "P11FAULT_ALWAYS", "P11FAULT_LOG", "P11FAULT_DELAY", "P11FAULT_SIGPIPE",
    "P11FAULT_SCOPE", "P11HOSTILE", "P11HOSTILE_MODULE",
    "P11HOSTILE_LOG",
    "P11OPTEE_MODULE", "P11OPTEE_TA_VERSION", "P11OPTEE_CLIENT_VERSION",
    "P11OPTEE_RSA_X_509", "P11OPTEE_LOGIN", "P11OPTEE_IDENTITY_PIN",
    "P11OPTEE_LOG",
    "SOFTHSM2_CONF", "TPM2_PKCS11_TCTI", "TPM2_PKCS11_STORE",
    "TPM2_PKCS11_LOG_LEVEL", "TPM2TOOLS_TCTI", "OPENSSL_CONF",
    "OPENSSL_MODULES", "P11_KIT_SERVER_ADDRESS",
)

# Text that only a crash or a sanitizer report prints.
CRASH_MARKERS = ("Segmentation", "AddressSanitizer", "LeakSanitizer",
                 "runtime error:", "ThreadSanitizer")


def child_env(extra=None, *, preload=True, leak_check=True):
    """The environment for a child process: see the module docstring.

    extra maps names to values; a value of None removes the variable.
    preload=False for tools that never load our code (token setup).
    leak_check=False for foreign tools that load our code (pkcs11-tool
    with the sanitized mock module): their own leaks are not ours.
    """
    env = {k: v for k, v in os.environ.items() if k not in _HERMETIC_DROP}
    preload_lib = os.environ.get("PKCS11PROV_TEST_PRELOAD")
    if preload and preload_lib:
        env["LD_PRELOAD"] = preload_lib
        if not leak_check:
            env["ASAN_OPTIONS"] = ":".join(
                filter(None, (env.get("ASAN_OPTIONS"), "detect_leaks=0")))
    for name, value in (extra or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    return env


# The valgrind step: the command line, and how much longer things take.
VALGRIND = shlex.split(os.environ.get("PKCS11PROV_TEST_VALGRIND", ""))
VALGRIND_SLOWDOWN = 5


def _valgrind_errors(log_dir, cmd):
    """The reports in log_dir (one per process) that count errors, or that
    never got to their summary; the directory is removed."""
    bad = []
    for log in sorted(Path(log_dir).glob("*.log")):
        text = log.read_text(errors="replace")
        summary = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        if summary is None or summary.group(1) != "0":
            bad.append(f"--- {log.name}:\n{text}")
    shutil.rmtree(log_dir, ignore_errors=True)
    if bad:
        return (f"valgrind reports errors in {shlex.join(cmd)}\n"
                + "\n".join(bad))
    return None


def run(cmd, env=None, *, timeout=DEFAULT_TIMEOUT, preload=True,
        leak_check=True, input=None):
    """Runs cmd (a list) with child_env(env); returns the CompletedProcess
    with text stdout/stderr. Never raises on a non-zero exit (but does on
    a valgrind error, see the module docstring). cmd runs in a process
    group of its own: on a timeout the whole group is killed, so a hung
    child it forked does not outlive the test."""
    cmd = [str(c) for c in cmd]
    log_dir = None
    if VALGRIND and preload and leak_check:
        log_dir = tempfile.mkdtemp(prefix="p11prov-valgrind-")
        cmd = [*VALGRIND, f"--log-file={log_dir}/%p.log", *cmd]
        timeout *= VALGRIND_SLOWDOWN
    proc = subprocess.Popen(
        cmd, env=child_env(env, preload=preload, leak_check=leak_check),
        stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        errors="replace", start_new_session=True)
    try:
        stdout, stderr = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=10)
        if log_dir:
            shutil.rmtree(log_dir, ignore_errors=True)
        raise AssertionError(
            f"timed out after {timeout}s (its process group killed): "
            f"{shlex.join(cmd)}\n"
            f"--- stdout:\n{_text(stdout)}\n--- stderr:\n{_text(stderr)}"
        ) from None
    errors = log_dir and _valgrind_errors(log_dir, cmd)
    if errors:
        raise AssertionError(f"{errors}\n--- stdout:\n{_text(stdout)}\n"
                             f"--- stderr:\n{_text(stderr)}")
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def free_port():
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _text(data):
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def run_openssl(args, env=None, *, timeout=DEFAULT_TIMEOUT):
    """Runs `openssl ARGS` (preloaded in the sanitizer build)."""
    return run(["openssl", *args], env, timeout=timeout)


def describe(proc, limit=6000):
    """A failure message: the command, its exit status and its output."""
    def cut(text):
        return text if len(text) <= limit else text[:limit] + "\n[...cut...]"
    return (f"command: {shlex.join(proc.args)}\nexit status: {proc.returncode}"
            f"\n--- stdout:\n{cut(proc.stdout)}\n--- stderr:\n{cut(proc.stderr)}")


def assert_no_crash(proc):
    """Neither killed by a signal nor reporting a crash or sanitizer error."""
    assert proc.returncode >= 0, "killed by a signal\n" + describe(proc)
    found = [m for m in CRASH_MARKERS if m in proc.stderr or m in proc.stdout]
    assert not found, f"crash markers {found}\n" + describe(proc)


def assert_ok(proc):
    assert_no_crash(proc)
    assert proc.returncode == 0, describe(proc)
    return proc


def assert_fails_cleanly(proc, *needles):
    """Non-zero exit without a crash, and each needle (case-insensitive)
    in stderr."""
    assert_no_crash(proc)
    assert proc.returncode != 0, "expected a failure\n" + describe(proc)
    missing = [n for n in needles if n.lower() not in proc.stderr.lower()]
    assert not missing, f"stderr lacks {missing}\n" + describe(proc)
    return proc


# ---- openssl configuration and the two ways of loading the provider -----

def write_openssl_cnf(directory, extra=None, *, module=PROVIDER_MODULE,
                      activate=True, name="pkcs11", filename="openssl.cnf"):
    """Writes an openssl.cnf that loads the default provider and ours (as
    provider `name`, section [pkcs11_sect]). extra: further `key = value`
    lines for our section, as a dict or a list of (key, value) pairs.
    Returns the path."""
    lines = [f"{k} = {v}" for k, v in
             (extra.items() if isinstance(extra, dict) else extra or ())]
    text = "\n".join([
        "openssl_conf = openssl_init",
        "",
        "[openssl_init]",
        "providers = provider_sect",
        "",
        "[provider_sect]",
        "default = default_sect",
        f"{name} = pkcs11_sect",
        "",
        "[default_sect]",
        "activate = 1",
        "",
        "[pkcs11_sect]",
        f"module = {module}",
        *(["activate = 1"] if activate else []),
        *lines,
        "",
    ])
    path = Path(directory) / filename
    path.write_text(text)
    return path


def write_plain_cnf(directory):
    """An openssl.cnf that configures nothing: keeps the system one (or a
    developer's OPENSSL_CONF) out of CLI-loaded runs."""
    path = Path(directory) / "plain.cnf"
    path.write_text("# nothing configured\n")
    return path


CLI_PROVIDER_ARGS = ("-provider-path", str(PROVIDER_DIR),
                     "-provider", PROVIDER_NAME, "-provider", "default")


class OpensslRunner:
    """Runs openssl with the provider loaded either from the command line
    (mode "cli": -provider-path/-provider, no configuration file) or from
    an openssl.cnf (mode "config": OPENSSL_CONF, provider named pkcs11).

    runner("storeutl", "-certs", uri, env={...}) runs
    `openssl storeutl <provider options in cli mode> -certs URI`.
    cnf: `key = value` lines for the provider section (config mode only).
    """

    def __init__(self, mode, directory):
        assert mode in ("cli", "config"), mode
        self.mode = mode
        self.dir = Path(directory)
        self.provider_id = PROVIDER_NAME if mode == "cli" else "pkcs11"

    def __repr__(self):
        return f"OpensslRunner({self.mode})"

    def __call__(self, command, *args, env=None, cnf=None,
                 timeout=DEFAULT_TIMEOUT):
        if self.mode == "cli":
            if cnf:
                raise ValueError("provider configuration needs mode 'config'")
            conf = write_plain_cnf(self.dir)
            argv = [command, *CLI_PROVIDER_ARGS, *args]
        else:
            conf = write_openssl_cnf(self.dir, cnf)
            argv = [command, *args]
        return run_openssl(argv, {"OPENSSL_CONF": conf, **(env or {})},
                           timeout=timeout)


# ---- parsing what openssl printed ------------------------------------------

def parse_providers(text):
    """`openssl list -providers [-verbose]` output as
    {provider id: {field: value}}."""
    providers, current = {}, None
    for line in text.splitlines():
        if re.match(r"^  \S", line):
            current = providers.setdefault(line.strip(), {})
        elif current is not None and re.match(r"^    \S", line) and ":" in line:
            key, _, value = line.strip().partition(":")
            current[key.strip()] = value.strip()
    return providers


# What another program prints is matched through stable forms only: the
# wording and spacing of openssl's and OpenSC's output changed between
# OpenSSL 3.0, 3.5 and 4.0 (and OpenSC 0.23 and 0.26/0.27).

_VERSIONS = {}


def openssl_version():
    """The version of the `openssl` binary the tests run, as a tuple of
    ints: (3, 0, 22). For behaviour that really differs by version."""
    if "openssl" not in _VERSIONS:
        proc = run(["openssl", "version"], preload=False)
        m = re.match(r"OpenSSL (\d+)\.(\d+)\.(\d+)", proc.stdout)
        assert m, "cannot read the version of openssl\n" + describe(proc)
        _VERSIONS["openssl"] = tuple(int(g) for g in m.groups())
    return _VERSIONS["openssl"]


_STORE_ENTRY = re.compile(r"^(\d+): (.+)$", re.M)


def store_kinds(stdout):
    """The kinds of object `openssl storeutl` printed, in order ("Pkey",
    "Public key", "Certificate"), from its numbered `N: kind` entries,
    which must be numbered 0, 1, ... Its `Total found: N` line, when
    printed, must agree; OpenSSL 3.0 prints it always, 3.5 and later not
    when nothing was found, so its absence is accepted for 0 only."""
    entries = _STORE_ENTRY.findall(stdout)
    assert [int(n) for n, _ in entries] == list(range(len(entries))), (
        "storeutl's entries are not numbered 0, 1, ...:\n" + stdout)
    m = re.search(r"^Total found: (\d+)$", stdout, re.M)
    if m or entries:
        assert m and int(m.group(1)) == len(entries), (
            f"{len(entries)} entries, but not `Total found: "
            f"{len(entries)}`:\n" + stdout)
    return [kind.strip() for _, kind in entries]


def count_store_objects(stdout):
    """How many objects `openssl storeutl` printed (see store_kinds)."""
    return len(store_kinds(stdout))


def unspaced_names(text):
    """openssl's text with the names' `A = b` written `A=b`: OpenSSL 3.0
    prints names (x509 -subject, -text) as `CN = x, O = y` by default,
    3.5 and later as `CN=x, O=y`."""
    return re.sub(r"[ \t]*=[ \t]*", "=", text)


def dn_field(text, field="subject"):
    """The name on openssl's `FIELD=...` line (x509 -subject, -issuer) in
    one spelling: OpenSSL 3.0 prints `subject=CN = x` by default, 3.5
    and later `subject=CN=x`; both give "CN=x"."""
    m = re.search(rf"^{field}=(.*)$", text, re.M)
    assert m, f"no `{field}=` line in:\n{text}"
    return unspaced_names(m.group(1).strip())


def subject_of(text):
    return dn_field(text, "subject")


# A TLS signature scheme as (family, hash): ("rsa_pss", "sha256").
_SCHEME_FAMILIES = (("rsa_pss_rsae_", "rsa_pss"), ("rsa_pss_pss_", "rsa_pss"),
                    ("rsa_pkcs1_", "rsa_pkcs1"), ("ecdsa_", "ecdsa"))
# OpenSSL 3.0's names for the signature type (s_client's "Peer signature
# type", s_server's "Signature type"); the hash is on a line of its own.
_OLD_SIGNATURE_TYPES = {"RSA": "rsa_pkcs1", "RSA-PSS": "rsa_pss",
                        "ECDSA": "ecdsa"}
_EDDSA = ("ed25519", "ed448")


def sigalg_scheme(name, digest=None):
    """A TLS signature scheme as (family, hash), whatever the spelling:
    the IANA name given to -sigalgs and printed by OpenSSL 3.5 and later
    (rsa_pss_rsae_sha256, rsa_pkcs1_sha256, ecdsa_secp384r1_sha384,
    ed25519) or OpenSSL 3.0's signature type (RSA-PSS, RSA, ECDSA,
    ed25519) with digest, the hash it printed on a separate line (SHA256).
    Families: rsa_pss, rsa_pkcs1, ecdsa, ed25519, ed448; the hash is
    lower case, None for EdDSA. An unknown name is an error."""
    digest = digest.lower() if digest and digest.upper() != "UNDEF" else None
    lowered = name.lower()
    if lowered in _EDDSA:
        assert digest is None, f"{name} with a digest {digest}"
        return lowered, None
    for prefix, family in _SCHEME_FAMILIES:
        if lowered.startswith(prefix):
            md = lowered.rsplit("_", 1)[1]
            assert digest in (None, md), (
                f"signature scheme {name} but digest {digest}")
            return family, md
    assert name in _OLD_SIGNATURE_TYPES, f"unknown signature scheme {name!r}"
    assert digest, f"signature type {name} without a digest"
    return _OLD_SIGNATURE_TYPES[name], digest


def pkcs11_tool_id(value):
    """A CKA_ID as pkcs11-tool printed it, as lower-case hex ("01a0").
    OpenSC 0.23 prints plain hex (`ID: 01a0`); 0.26 and later the number
    and its bytes when it is short (`ID: 416 (0x01:a0)`), the bytes with
    colons when it is long (`ID: 01:02:...:09`)."""
    value = value.strip()
    m = re.fullmatch(r"\d+ \(0x([0-9a-fA-F:]+)\)", value)
    hex_id = (m.group(1) if m else value).replace(":", "")
    assert re.fullmatch(r"(?:[0-9a-fA-F]{2})+", hex_id), (
        f"not a CKA_ID: {value!r}")
    return hex_id.lower()


_TOOL_FIELDS = ("label", "ID", "Usage", "Access", "Allowed mechanisms")


def pkcs11_tool_objects(stdout):
    """`pkcs11-tool -O` as dicts: class ("Private Key", "Public Key",
    "Certificate", ...), type ("EC", "RSA", "X.509", ...), label, id
    (pkcs11_tool_id), usage, access and allowed (sets: "sign", "derive",
    ...; "RSA-PKCS-PSS", ...); a field not printed is None or empty."""
    found = []
    fields = "|".join(_TOOL_FIELDS)
    for line in stdout.splitlines():
        m = re.match(r"^(\w+(?: Key)?) Object; (?:type = )?(\S+)", line)
        if m:
            found.append({"class": m.group(1), "type": m.group(2),
                          "label": None, "id": None, "usage": set(),
                          "access": set(), "allowed": set()})
            continue
        m = re.match(rf"^\s+({fields}):\s*(.*)$", line)
        if m and found:
            name, value = m.group(1), m.group(2).strip()
            if name == "ID":
                found[-1]["id"] = pkcs11_tool_id(value)
            elif name == "label":
                found[-1]["label"] = value
            else:
                key = "allowed" if name.startswith("Allowed") else name.lower()
                found[-1][key] = {v.strip() for v in value.split(",")
                                  if v.strip()}
    return found


def pem_blocks(text, label):
    """The PEM blocks `-----BEGIN LABEL-----` in text, as base64 strings
    without whitespace (comparable between files and any tool's output,
    whatever else it printed around them)."""
    pattern = (rf"-----BEGIN {label}-----\s*(.*?)\s*-----END {label}-----")
    return ["".join(m.split()) for m in re.findall(pattern, text, re.S)]


def pem_certs(text):
    """The certificates in PEM text (see pem_blocks)."""
    return pem_blocks(text, "CERTIFICATE")


def pem_cert_file(path):
    certs = pem_certs(Path(path).read_text())
    assert len(certs) == 1, f"{path} holds {len(certs)} certificates"
    return certs[0]


def mock_calls(log_path):
    """The calls the mock module logged to P11MOCK_LOG, or the fault module
    to P11FAULT_LOG (none: [])."""
    path = Path(log_path)
    return path.read_text().split() if path.exists() else []
