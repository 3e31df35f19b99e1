"""Bringing up real PKCS#11 tokens from nothing, in temporary directories:
SoftHSM tokens with keys and certificates, and tpm2-pkcs11 on a private
swtpm. Nothing here touches system configuration. The commands follow
../shared/TOKENS.md (measured on Debian 12).

Certificates: nothing can sign with a token key before the provider works,
so each certificate is issued by a software CA over the token's public key:
a CSR from a throwaway software key, then
`openssl x509 -req -CA ... -force_pubkey TOKEN_PUB.pem` (OpenSSL 3.0 has no
`x509 -new`). The certificate goes onto the token with the key's id and
label.
"""
import base64
import os
import re
import signal
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from helpers import SOFTHSM_MODULE, TPM2_MODULE, describe, run

PYTHON = "/usr/bin/python3"  # tpm2_ptool needs Debian's python3 packages
SO_PIN = "12345678"
USER_PIN = "1234"
# The user PIN of token p11prov-pin: distinctive enough to grep output for.
DISTINCT_PIN = "S3cretPin1234"


class SetupError(RuntimeError):
    """A token could not be brought up: the tests cannot mean anything."""


def setup_run(cmd, env=None, timeout=60):
    """Runs a setup step (never preloaded: it does not load our code)."""
    proc = run(cmd, env, timeout=timeout, preload=False)
    if proc.returncode != 0:
        raise SetupError("token setup step failed\n" + describe(proc))
    return proc


# ---- what the tokens hold ----------------------------------------------

SIGN = ("--usage-sign",)
SIGN_DERIVE = ("--usage-sign", "--usage-derive")
SIGN_DECRYPT = ("--usage-sign", "--usage-decrypt")


@dataclass(frozen=True)
class KeySpec:
    label: str
    id_hex: str
    key_type: str      # pkcs11-tool --key-type
    usage: tuple       # pkcs11-tool --usage-* options
    cert_usage: str    # the certificate's X.509 keyUsage


@dataclass(frozen=True)
class TokenSpec:
    label: str
    pin: str
    keys: tuple


EC_CERT_USAGE = "digitalSignature,keyAgreement"
RSA_CERT_USAGE = "digitalSignature,keyEncipherment"

SOFTHSM_TOKENS = (
    TokenSpec("p11prov-soft", USER_PIN, (
        KeySpec("rsa2048", "01", "rsa:2048", SIGN_DECRYPT, RSA_CERT_USAGE),
        KeySpec("ec-p256", "02", "EC:prime256v1", SIGN_DERIVE, EC_CERT_USAGE),
        KeySpec("ec-p384", "03", "EC:secp384r1", SIGN_DERIVE, EC_CERT_USAGE),
        KeySpec("ed25519", "04", "EC:edwards25519", SIGN, "digitalSignature"),
        KeySpec("ec-p521", "05", "EC:secp521r1", SIGN_DERIVE, EC_CERT_USAGE),
    )),
    # A second token, so tests can check that a URI picks the right one.
    TokenSpec("p11prov-other", USER_PIN, (
        KeySpec("other-p256", "11", "EC:prime256v1", SIGN_DERIVE,
                EC_CERT_USAGE),
    )),
    # For the "PIN never printed" tests: a URI with a correct pin-value.
    TokenSpec("p11prov-pin", DISTINCT_PIN, (
        KeySpec("pin-p256", "21", "EC:prime256v1", SIGN, "digitalSignature"),
    )),
)

TPM_TOKEN = TokenSpec("p11prov-tpm", USER_PIN, (
    KeySpec("tpm-p256", "01", "EC:prime256v1", SIGN, "digitalSignature"),
    KeySpec("tpm-rsa2048", "02", "rsa:2048", SIGN_DECRYPT, RSA_CERT_USAGE),
))


@dataclass(frozen=True)
class Key:
    """A key pair on a token, with its certificate (same id and label)."""
    label: str
    id_hex: str
    key_type: str      # as given to pkcs11-tool: rsa:2048, EC:secp384r1, ...
    token: str         # the token's label
    pub_pem: Path      # the public key, PEM SubjectPublicKeyInfo
    cert_pem: Path     # its certificate, PEM (also stored on the token)

    @property
    def id_uri(self):
        """The id as a URI value: %01."""
        return "".join("%" + self.id_hex[i:i + 2]
                       for i in range(0, len(self.id_hex), 2))

    @property
    def uri(self):
        return f"pkcs11:token={self.token};object={self.label}"


# ---- a software CA --------------------------------------------------------

def der_to_pem(der, label):
    b64 = base64.b64encode(der).decode()
    body = "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


class SoftwareCA:
    """A throwaway CA (EC P-256) that certifies token public keys."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key = self.dir / "ca.key"
        self.cert = self.dir / "ca.pem"
        self._serial = 0
        setup_run(["openssl", "req", "-x509", "-new", "-newkey", "ec",
                   "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                   "-keyout", self.key, "-out", self.cert, "-days", "3650",
                   "-subj", "/CN=p11prov test CA"])

    def issue(self, pub_pem, common_name, key_usage, out_dir):
        """Certifies the public key in pub_pem: returns (der, pem) paths."""
        self._serial += 1
        out = Path(out_dir) / common_name
        csr, ext = out.with_suffix(".csr"), out.with_suffix(".ext")
        der, pem = out.with_suffix(".cert.der"), out.with_suffix(".cert.pem")
        ext.write_text("basicConstraints = critical,CA:FALSE\n"
                       f"keyUsage = critical,{key_usage}\n"
                       "subjectKeyIdentifier = hash\n"
                       "authorityKeyIdentifier = keyid\n")
        setup_run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                   "ec_paramgen_curve:P-256", "-nodes", "-keyout", os.devnull,
                   "-subj", f"/CN={common_name}", "-out", csr])
        setup_run(["openssl", "x509", "-req", "-in", csr, "-CA", self.cert,
                   "-CAkey", self.key, "-force_pubkey", pub_pem,
                   "-set_serial", str(self._serial), "-days", "3650",
                   "-extfile", ext, "-outform", "DER", "-out", der])
        pem.write_text(der_to_pem(der.read_bytes(), "CERTIFICATE"))
        return der, pem


# ---- keys on a token ------------------------------------------------------

def provision_keys(module, env, slot_args, token, ca, out_dir,
                   after_step=None):
    """Generates each key of token (a TokenSpec) with pkcs11-tool, exports
    its public key and writes a CA-issued certificate next to it.
    after_step() runs after every pkcs11-tool call (the TPM flush)."""
    tool = ["pkcs11-tool", "--module", module, *slot_args]
    login = ["--login", "--pin", token.pin]

    def step(*args):
        setup_run([*tool, *args], env)
        if after_step is not None:
            after_step()

    keys = {}
    for spec in token.keys:
        ident = ["--id", spec.id_hex, "--label", spec.label]
        step(*login, "--keypairgen", "--key-type", spec.key_type, *ident,
             *spec.usage)
        # Not `pkcs11-tool --read-object --type pubkey`: OpenSC 0.23 fails
        # on P-384 keys ("cannot create EVP_PKEY") and writes EdDSA keys
        # as PEM but the others as DER. p11tool exports them all as PEM.
        pub_pem = Path(out_dir) / f"{spec.label}.pub.pem"
        setup_run(["p11tool", "--provider", module, "--login",
                   "--export-pubkey", f"pkcs11:token={token.label};"
                   f"object={spec.label};type=public", "--outfile", pub_pem],
                  {**env, "GNUTLS_PIN": token.pin})
        if after_step is not None:
            after_step()
        cert_der, cert_pem = ca.issue(pub_pem, spec.label, spec.cert_usage,
                                      out_dir)
        step(*login, "--write-object", cert_der, "--type", "cert", *ident)
        keys[spec.label] = Key(spec.label, spec.id_hex, spec.key_type,
                               token.label, pub_pem, cert_pem)
    return keys


def token_slots(module, env):
    """{token label: slot id} from `pkcs11-tool -L` (uninitialised slots
    are left out)."""
    proc = run(["pkcs11-tool", "--module", module, "-L"], env, preload=False)
    slots, current = {}, None
    for line in proc.stdout.splitlines():
        m = re.match(r"^Slot \d+ \((0x[0-9a-fA-F]+)\)", line)
        if m:
            current = int(m.group(1), 16)
            continue
        m = re.match(r"^\s+token label\s*:\s?(.*)$", line)
        if m and current is not None and m.group(1).strip():
            slots[m.group(1).strip()] = current
    return slots


# ---- SoftHSM ------------------------------------------------------------------

@dataclass
class SoftHSM:
    dir: Path
    conf: Path
    env: dict            # {"SOFTHSM2_CONF": ...}
    module: str
    ca_cert: Path
    slots: dict          # token label -> slot id
    pins: dict           # token label -> user PIN
    keys: dict           # key label -> Key, all tokens
    token: str = "p11prov-soft"
    other_token: str = "p11prov-other"
    pin_token: str = "p11prov-pin"   # user PIN DISTINCT_PIN
    pin: str = USER_PIN              # of token and other_token
    so_pin: str = SO_PIN

    def keys_on(self, token):
        return [k for k in self.keys.values() if k.token == token]


def start_softhsm(directory, ca):
    """Three SoftHSM tokens (SOFTHSM_TOKENS) under a private
    softhsm2.conf in directory."""
    d = Path(directory)
    (d / "tokens").mkdir(parents=True)
    conf = d / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {d / 'tokens'}\n"
                    "objectstore.backend = file\n"
                    "log.level = ERROR\n"
                    "slots.removable = false\n")
    env = {"SOFTHSM2_CONF": str(conf)}
    slots, keys = {}, {}
    for token in SOFTHSM_TOKENS:
        proc = setup_run(["softhsm2-util", "--init-token", "--free",
                          "--label", token.label, "--pin", token.pin,
                          "--so-pin", SO_PIN], env)
        m = re.search(r"reassigned to slot (\d+)", proc.stdout + proc.stderr)
        if not m:
            raise SetupError("no slot number from softhsm2-util\n"
                             + describe(proc))
        slots[token.label] = int(m.group(1))
        keys.update(provision_keys(SOFTHSM_MODULE, env,
                                   ["--slot", str(slots[token.label])],
                                   token, ca, d))
    return SoftHSM(dir=d, conf=conf, env=env, module=SOFTHSM_MODULE,
                   ca_cert=ca.cert, slots=slots,
                   pins={t.label: t.pin for t in SOFTHSM_TOKENS}, keys=keys)


# ---- tpm2-pkcs11 on swtpm -------------------------------------------------------

@dataclass
class TPM:
    dir: Path
    store: Path          # TPM2_PKCS11_STORE
    port: int            # swtpm server port (control channel: port + 1)
    pid_file: Path
    env: dict            # TPM2_PKCS11_TCTI, TPM2_PKCS11_STORE, TPM2TOOLS_TCTI, ...
    module: str
    ca_cert: Path = None
    slot: int = None     # slot id of the token
    keys: dict = None    # key label -> Key
    token: str = TPM_TOKEN.label
    pin: str = TPM_TOKEN.pin
    so_pin: str = SO_PIN
    # tpm2-pkcs11 1.9.0 accepts CKO_CERTIFICATE objects (checked by hand
    # and by test_tokens_fixture), so every key has its certificate.
    certs_supported: bool = True

    @property
    def ctrl_port(self):
        return self.port + 1

    def flush(self):
        """Flushes every transient object, loaded and saved session."""
        for flag in ("-t", "-l", "-s"):
            setup_run(["tpm2_flushcontext", flag], self.env)

    def leftovers(self):
        """{"handles-transient": [...], "handles-loaded-session": [...]},
        the non-empty lists only. A process that logs in and exits without
        C_Finalize leaves a loaded session (measured); one that also used a
        key, a transient object too."""
        found = {}
        for capability in ("handles-transient", "handles-loaded-session"):
            proc = setup_run(["tpm2_getcap", capability], self.env)
            handles = re.findall(r"0x[0-9a-fA-F]+", proc.stdout)
            if handles:
                found[capability] = handles
        return found

    def stop(self):
        stop_by_pid_file(self.pid_file, "swtpm")


def free_port_pair():
    """A port P such that P and P + 1 were both free on 127.0.0.1."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port


def start_swtpm(state_dir, pid_file, attempts=10):
    """Starts a swtpm daemon on free ports; returns the server port. The
    daemon binds its sockets before it forks, so it is ready once the
    command returns; a port taken in between makes it exit 1 ("Address
    already in use") and we try other ports."""
    for _ in range(attempts):
        port = free_port_pair()
        proc = run(["swtpm", "socket", "--tpm2", "--tpmstate",
                    f"dir={state_dir}", "--server",
                    f"type=tcp,port={port},bindaddr=127.0.0.1", "--ctrl",
                    f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
                    "--flags", "not-need-init,startup-clear",
                    "--pid", f"file={pid_file}", "--daemon"],
                   preload=False, timeout=30)
        if proc.returncode == 0 and pid_file.exists():
            return port
        if "Address already in use" not in proc.stderr:
            raise SetupError("swtpm did not start\n" + describe(proc))
    raise SetupError(f"swtpm found no free port pair in {attempts} attempts")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its parent to reap it is gone for us
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def stop_by_pid_file(pid_file, expected_name, grace=5.0):
    """SIGTERM the process named in pid_file, wait, then SIGKILL. Checks
    the process name first, so a recycled PID is never signalled."""
    try:
        pid = int(Path(pid_file).read_text().strip())
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError):
        return
    if name != expected_name:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


def start_tpm(directory, ca):
    """swtpm + a tpm2-pkcs11 store holding token p11prov-tpm with the keys
    of TPM_TOKEN. The caller must tpm.stop() (also after a SetupError:
    then swtpm is already stopped)."""
    d = Path(directory)
    state, store = d / "state", d / "store"
    state.mkdir(parents=True)
    store.mkdir()
    pid_file = d / "swtpm.pid"
    port = start_swtpm(state, pid_file)
    tcti = f"swtpm:host=127.0.0.1,port={port}"
    tpm = TPM(dir=d, store=store, port=port, pid_file=pid_file,
              env={"TPM2_PKCS11_TCTI": tcti, "TPM2TOOLS_TCTI": tcti,
                   "TPM2_PKCS11_STORE": str(store),
                   "TPM2_PKCS11_LOG_LEVEL": "0"},
              module=TPM2_MODULE, ca_cert=ca.cert)
    try:
        # Without a resource manager the TPM holds 3 transient objects:
        # flush after every step (`tpm2_ptool addtoken` cannot be used).
        setup_run([PYTHON, shutil.which("tpm2_ptool") or "/usr/bin/tpm2_ptool",
                   "init", "--path", store], tpm.env)
        tpm.flush()
        tool = ["pkcs11-tool", "--module", TPM2_MODULE, "--slot-index", "0"]
        setup_run([*tool, "--init-token", "--label", tpm.token,
                   "--so-pin", SO_PIN], tpm.env)
        tpm.flush()
        setup_run([*tool, "--login", "--login-type", "so", "--so-pin", SO_PIN,
                   "--init-pin", "--new-pin", tpm.pin], tpm.env)
        tpm.flush()
        tpm.keys = provision_keys(TPM2_MODULE, tpm.env, ["--slot-index", "0"],
                                  TPM_TOKEN, ca, d, after_step=tpm.flush)
        tpm.slot = token_slots(TPM2_MODULE, tpm.env).get(tpm.token)
        if tpm.slot is None:
            raise SetupError(f"{tpm.token} not listed by pkcs11-tool -L")
    except BaseException:
        tpm.stop()
        raise
    return tpm
