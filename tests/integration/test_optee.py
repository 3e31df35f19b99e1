"""OP-TEE's PKCS#11 TA with zero configuration: the provider is given the
module's path (PKCS11PROV_MODULE) and nothing else, URIs carry no PIN.

No TEE runs here. tests/optee builds p11optee, which imposes the TA's and
libckteec's interface (see tests/optee/optee_module.c, with the sources)
on a SoftHSM token of this module's own: its objects and every
cryptographic answer are SoftHSM's, so each signature, secret and new key
is checked in software. The P11OPTEE_* variables describe the device
(which TA and libckteec release, TEE-identity login), not the provider.

Profiles: 4.10 (the newest TA and libckteec), 4.0 (libckteec before 4.1:
ulMaxSessionCount 4294967295; before 4.5: a NULL CKM_EDDSA parameter
crashes it), 3.16 behind libckteec 3.12 (OP-TEE/optee_os#5773: no ECDH, no
EdDSA, C_GenerateKeyPair, C_DeriveKey and C_CopyObject answer
CKR_FUNCTION_NOT_SUPPORTED), and 4.5 built with CFG_PKCS11_TA_RSA_X_509=y.
Every one logs in by TEE identity (CKF_PROTECTED_AUTHENTICATION_PATH, a
NULL PIN) unless a test says otherwise.

Checked: signatures (ECDSA, RSA PKCS#1 v1.5 and PSS, Ed25519), ECDH
against software, a TLS client key against s_server demanding a client
certificate, key generation, threads against the TA's single instance and
its session count, and the clear errors where the TA cannot: raw RSA is
never replaced by PSS or OAEP encoded here, ECDH with P-521, ECDH and key
generation missing from old releases, a TEE identity that is not the
token's. The module's log (P11OPTEE_LOG) shows what reached the TA."""
import ctypes
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import (OPTEE_MODULE, PROVIDER_DIR, PROVIDER_NAME,
                     SOFTHSM_MODULE, OpensslRunner, assert_ok, describe, run,
                     write_plain_cnf)
from keyops import (assert_clear_error, data_file, run_c, slow_unwind_env,
                    software)
from servers import BODY, https_server  # noqa: F401 (a fixture)
from test_ecdh import software_derive, software_peer
from test_keygen import (ALGS, PROPQUERY, Target, assert_key_pair, opts,
                         read_uri_file, verify)
from tokens import (EC_CERT_USAGE, RSA_CERT_USAGE, SIGN, SIGN_DECRYPT,
                    SIGN_DERIVE, USER_PIN, KeySpec, TokenSpec, provision_keys,
                    softhsm_token)

PYTHON = "/usr/bin/python3"
TOKEN = "optee-token"
KEYS = TokenSpec(TOKEN, USER_PIN, (
    KeySpec("tee-p256", "01", "EC:prime256v1", SIGN_DERIVE, EC_CERT_USAGE),
    KeySpec("tee-rsa", "02", "rsa:2048", SIGN_DECRYPT, RSA_CERT_USAGE),
    KeySpec("tee-ed25519", "03", "EC:edwards25519", SIGN,
            "digitalSignature"),
    KeySpec("tee-p384", "04", "EC:secp384r1", SIGN_DERIVE, EC_CERT_USAGE),
    KeySpec("tee-p521", "05", "EC:secp521r1", SIGN_DERIVE, EC_CERT_USAGE),
))

CKM = {"RSA_PKCS": 0x1, "RSA_X_509": 0x3, "RSA_PKCS_PSS": 0xd,
       "RSA_PKCS_OAEP": 0x9, "ECDSA": 0x1041, "ECDH1_DERIVE": 0x1050,
       "EDDSA": 0x1057}
CKF_PROTECTED_AUTHENTICATION_PATH = 0x100
WIDENED_UNAVAILABLE = 0xFFFFFFFF      # libckteec < 4.1 on 64-bit
CK_UNAVAILABLE_INFORMATION = 2 ** 64 - 1


@dataclass(frozen=True)
class Profile:
    ta: str                 # P11OPTEE_TA_VERSION
    client: str             # P11OPTEE_CLIENT_VERSION
    x509: bool = False      # CFG_PKCS11_TA_RSA_X_509=y
    login: str = "identity"

    @property
    def id(self):
        return f"ta{self.ta}-client{self.client}" + ("-x509" if self.x509
                                                    else "")

    def release(self, which):
        major, minor = getattr(self, which).split(".")
        return int(major) * 100 + int(minor)


NEWEST = Profile("4.10", "4.10")
WIDENED = Profile("4.0", "4.0")
OLD = Profile("3.16", "3.12")
RAW = Profile("4.5", "4.5", x509=True)


@dataclass
class OpteeToken:
    dir: Path
    env: dict       # SOFTHSM2_CONF: the token behind the TA
    slot: int       # its SoftHSM slot
    keys: dict      # label -> tokens.Key (pub_pem, cert_pem from SoftHSM)

    def env_for(self, profile, log=None, **extra):
        """What the provider gets: the module's path and nothing else for
        itself; the rest describes the device."""
        env = {**self.env, "PKCS11PROV_MODULE": OPTEE_MODULE,
               "P11OPTEE_MODULE": SOFTHSM_MODULE,
               "P11OPTEE_TA_VERSION": profile.ta,
               "P11OPTEE_CLIENT_VERSION": profile.client,
               "P11OPTEE_RSA_X_509": "y" if profile.x509 else "n",
               "P11OPTEE_LOGIN": profile.login}
        if profile.login == "identity":
            env["P11OPTEE_IDENTITY_PIN"] = USER_PIN
        if log is not None:
            env["P11OPTEE_LOG"] = log
        return {**env, **extra}

    def target(self, profile):
        """test_keygen's view of the token: tools on SoftHSM itself."""
        return Target(TOKEN, SOFTHSM_MODULE, self.slot, USER_PIN,
                      self.env_for(profile))


@pytest.fixture(scope="module")
def optee(tmp_path_factory, software_ca, optee_module, provider_module):
    directory = tmp_path_factory.mktemp("optee")
    env, slot = softhsm_token(directory, TOKEN)
    keys = provision_keys(SOFTHSM_MODULE, env, ["--slot", str(slot)], KEYS,
                          software_ca, directory, slot=slot)
    return OpteeToken(directory, env, slot, keys)


def uri(label, kind="private"):
    return f"pkcs11:token={TOKEN};object={label};type={kind}"


def calls(log):
    """The module's log: [(function, calls already inside, detail)]."""
    path = Path(log)
    if not path.exists():
        return []
    found = []
    for line in path.read_text().splitlines():
        name, others, *detail = line.split(" ", 2)
        found.append((name, int(others), detail[0] if detail else ""))
    return found


def mechanisms_used(log, function):
    return [int(d.split("=")[1], 16) for n, _, d in calls(log)
            if n == function and d.startswith("mechanism=")]


def assert_protected_login(log, proc):
    """One C_Login, with a NULL PIN: the TEE identity logged in."""
    logins = [d for n, _, d in calls(log) if n == "C_Login"]
    assert logins == ["pin=NULL"], f"C_Login calls: {logins}\n" + \
        describe(proc)


# ---- the profile itself ------------------------------------------------------

def probe(token, profile):
    """What the module answers, asked from a child process (the module
    never loads into pytest)."""
    proc = run([PYTHON, __file__, "probe", OPTEE_MODULE, TOKEN],
               token.env_for(profile), leak_check=False)
    assert proc.returncode == 0, describe(proc)
    return json.loads(proc.stdout)


@pytest.mark.parametrize("profile", [NEWEST, WIDENED, OLD, RAW],
                         ids=lambda p: p.id)
def test_profile_presents_the_ta(optee, profile):
    """The premises of the other tests: TEE-identity login, the session
    limit libckteec reports, the TA's mechanisms for that release."""
    info = probe(optee, profile)
    assert info["flags"] & CKF_PROTECTED_AUTHENTICATION_PATH, info
    want = (WIDENED_UNAVAILABLE if profile.release("client") < 401
            else CK_UNAVAILABLE_INFORMATION)
    assert info["max_sessions"] == want, info
    assert info["max_rw_sessions"] == want, info
    offered = set(info["mechanisms"])
    assert (CKM["RSA_X_509"] in offered) == profile.x509, info
    assert (CKM["ECDH1_DERIVE"] in offered) == \
        (profile.release("ta") >= 317), info
    assert (CKM["EDDSA"] in offered) == (profile.release("ta") >= 319), info
    assert {CKM["ECDSA"], CKM["RSA_PKCS"], CKM["RSA_PKCS_PSS"]} <= offered
    if profile.release("ta") >= 405 and not profile.x509:
        # Known to the TA, disabled: CKR_OK with no flags.
        assert info["x509_info"] == [0, 0], info


# ---- signatures ------------------------------------------------------------------

SCHEMES = {
    "ecdsa": ("tee-p256", ["dgst", "-sha256"], "ECDSA"),
    "pkcs1": ("tee-rsa", ["dgst", "-sha256"], "RSA_PKCS"),
    "pss": ("tee-rsa", ["dgst", "-sha256", "-sigopt",
                        "rsa_padding_mode:pss", "-sigopt",
                        "rsa_pss_saltlen:digest"], "RSA_PKCS_PSS"),
    "eddsa": ("tee-ed25519", ["pkeyutl", "-rawin"], "EDDSA"),
}
SIGN_CASES = [(p, s) for p in (NEWEST, WIDENED, OLD) for s in SCHEMES
              if s != "eddsa" or p == NEWEST]


def sign(optee, profile, scheme, directory, **extra):
    """Signs a file with the scheme's token key (no PIN anywhere); returns
    (process, data, signature, log)."""
    label, args, _ = SCHEMES[scheme]
    data, sig, log = data_file(directory), directory / "sig", \
        directory / "optee.log"
    if args[0] == "pkeyutl":
        cmd = [*args, "-sign", "-inkey", uri(label), "-in", data, "-out",
               sig]
    else:
        cmd = [*args, "-sign", uri(label), "-out", sig, data]
    # SoftHSM leaks signing with EdDSA keys (keyops.THIRD_PARTY_LEAKS).
    leaks = slow_unwind_env() if scheme == "eddsa" else {}
    proc = OpensslRunner("cli", directory)(
        *cmd, env=optee.env_for(profile, log, **leaks, **extra))
    return proc, data, sig, log


def verify_in_software(directory, optee, scheme, data, sig):
    label, args, _ = SCHEMES[scheme]
    pub = optee.keys[label].pub_pem
    if args[0] == "pkeyutl":
        software(directory, "pkeyutl", "-verify", "-pubin", "-inkey", pub,
                 "-rawin", "-in", data, "-sigfile", sig)
    else:
        software(directory, *args, "-verify", pub, "-signature", sig, data)


@pytest.mark.parametrize("profile,scheme", SIGN_CASES,
                         ids=[f"{p.id}-{s}" for p, s in SIGN_CASES])
def test_sign(optee, tmp_path, profile, scheme):
    proc, data, sig, log = sign(optee, profile, scheme, tmp_path)
    assert_ok(proc)
    verify_in_software(tmp_path, optee, scheme, data, sig)
    assert_protected_login(log, proc)
    assert mechanisms_used(log, "C_SignInit") == [CKM[SCHEMES[scheme][2]]]


def test_eddsa_with_libckteec_before_4_5(optee, tmp_path):
    """libckteec 3.19 to 4.4 dereferences a NULL CKM_EDDSA parameter: a
    provider that passes none crashes the application there (the module
    raises SIGSEGV as the library does). Ed25519 must sign."""
    proc, data, sig, log = sign(optee, WIDENED, "eddsa", tmp_path)
    assert_ok(proc)
    verify_in_software(tmp_path, optee, "eddsa", data, sig)


# ---- what only raw RSA could do ------------------------------------------------

PSS_MGF1_SHA1 = ["-sigopt", "rsa_padding_mode:pss", "-sigopt",
                 "rsa_pss_saltlen:digest", "-sigopt", "rsa_mgf1_md:sha1"]


def test_pss_with_another_mgf1_refused(optee, tmp_path):
    """The TA does PSS only with the digest as MGF1 hash; the rest needs
    CKM_RSA_X_509 to encode it here, which it lacks: a clear error, no
    signature, and no raw RSA attempted."""
    data, sig, log = data_file(tmp_path), tmp_path / "sig", \
        tmp_path / "optee.log"
    proc = OpensslRunner("cli", tmp_path)(
        "dgst", "-sha256", *PSS_MGF1_SHA1, "-sign", uri("tee-rsa"), "-out",
        sig, data, env=optee.env_for(NEWEST, log))
    assert_clear_error(proc, "CKM_RSA_X_509")
    assert not sig.exists() or sig.stat().st_size == 0, describe(proc)
    assert CKM["RSA_X_509"] not in mechanisms_used(log, "C_SignInit")


def test_pss_with_another_mgf1_with_raw_rsa(optee, tmp_path):
    """The same where the TA was built with CFG_PKCS11_TA_RSA_X_509=y: the
    PSS encoding is made here and signed with raw RSA."""
    data, sig, log = data_file(tmp_path), tmp_path / "sig", \
        tmp_path / "optee.log"
    proc = OpensslRunner("cli", tmp_path)(
        "dgst", "-sha256", *PSS_MGF1_SHA1, "-sign", uri("tee-rsa"), "-out",
        sig, data, env=optee.env_for(RAW, log))
    assert_ok(proc)
    software(tmp_path, "dgst", "-sha256", *PSS_MGF1_SHA1, "-verify",
             optee.keys["tee-rsa"].pub_pem, "-signature", sig, data)
    assert mechanisms_used(log, "C_SignInit")[-1] == CKM["RSA_X_509"]


def test_raw_rsa_decryption_refused(optee, tmp_path):
    """rsa_padding_mode:none is raw RSA itself: the error names it, and
    nothing is decrypted."""
    plain, ct, out = tmp_path / "plain", tmp_path / "ct", tmp_path / "out"
    plain.write_bytes(b"\x00" + b"\x5a" * 255)
    software(tmp_path, "pkeyutl", "-encrypt", "-pubin", "-inkey",
             optee.keys["tee-rsa"].pub_pem, "-pkeyopt",
             "rsa_padding_mode:none", "-in", plain, "-out", ct)
    proc = OpensslRunner("cli", tmp_path)(
        "pkeyutl", "-decrypt", "-inkey", uri("tee-rsa"), "-pkeyopt",
        "rsa_padding_mode:none", "-in", ct, "-out", out,
        env=optee.env_for(NEWEST))
    assert_clear_error(proc, "CKM_RSA_X_509")
    assert not out.exists() or out.stat().st_size == 0, describe(proc)


def test_oaep_with_another_mgf1_refused(optee, tmp_path):
    """OAEP whose MGF1 hash is not the OAEP hash: the TA refuses it, and
    decoding it here would need CKM_RSA_X_509."""
    msg, enc, log = tmp_path / "msg", tmp_path / "enc", \
        tmp_path / "optee.log"
    msg.write_bytes(b"a secret for the TA")
    oaep = ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt",
            "rsa_oaep_md:sha1", "-pkeyopt", "rsa_mgf1_md:sha256"]
    software(tmp_path, "pkeyutl", "-encrypt", "-pubin", "-inkey",
             optee.keys["tee-rsa"].pub_pem, *oaep, "-in", msg, "-out", enc)
    proc = OpensslRunner("cli", tmp_path)(
        "pkeyutl", "-decrypt", "-inkey", uri("tee-rsa"), *oaep, "-in", enc,
        env=optee.env_for(NEWEST, log))
    assert_clear_error(proc, "CKM_RSA_X_509")
    assert "a secret" not in proc.stdout
    assert CKM["RSA_X_509"] not in mechanisms_used(log, "C_DecryptInit")


# ---- ECDH -------------------------------------------------------------------------

ECDH_CASES = [(p, k) for p in (NEWEST, WIDENED)
              for k in (("tee-p256", "P-256"), ("tee-p384", "P-384"))]


@pytest.mark.parametrize("profile,key", ECDH_CASES,
                         ids=[f"{p.id}-{k[0]}" for p, k in ECDH_CASES])
def test_ecdh_equals_software(optee, tmp_path, profile, key):
    label, curve = key
    peer_key, peer_pub = software_peer(tmp_path, curve)
    out, log = tmp_path / "secret", tmp_path / "optee.log"
    proc = OpensslRunner("cli", tmp_path)(
        "pkeyutl", "-derive", "-inkey", uri(label), "-peerkey", peer_pub,
        "-out", out, env=optee.env_for(profile, log))
    assert_ok(proc)
    assert out.read_bytes() == software_derive(
        tmp_path, peer_key, optee.keys[label].pub_pem), describe(proc)
    assert mechanisms_used(log, "C_DeriveKey") == [CKM["ECDH1_DERIVE"]]
    assert_protected_login(log, proc)


def test_ecdh_p521_refused_by_the_ta(optee, tmp_path):
    """The TA takes peer points of fewer than 128 bytes after the 04:
    P-521's 133 are CKR_ARGUMENTS_BAD. A clear error, no secret."""
    _, peer_pub = software_peer(tmp_path, "P-521")
    out = tmp_path / "secret"
    proc = OpensslRunner("cli", tmp_path)(
        "pkeyutl", "-derive", "-inkey", uri("tee-p521"), "-peerkey",
        peer_pub, "-out", out, env=optee.env_for(NEWEST))
    assert_clear_error(proc, "C_DeriveKey", "CKM_ECDH1_DERIVE",
                       "CKR_ARGUMENTS_BAD", "object=tee-p521")
    assert not out.exists() or out.stat().st_size == 0, describe(proc)


def test_ecdh_absent_before_3_17(optee, tmp_path):
    _, peer_pub = software_peer(tmp_path, "P-256")
    log = tmp_path / "optee.log"
    proc = OpensslRunner("cli", tmp_path)(
        "pkeyutl", "-derive", "-inkey", uri("tee-p256"), "-peerkey",
        peer_pub, "-out", tmp_path / "secret", env=optee.env_for(OLD, log))
    assert_clear_error(proc, "CKM_ECDH1_DERIVE", TOKEN)
    assert "C_DeriveKey" not in [n for n, _, _ in calls(log)]


# ---- TLS ---------------------------------------------------------------------------

# (profile, key label, TLS version flag, the client's signature algorithm,
#  the mechanism it must sign with)
TLS_CASES = [
    (NEWEST, "tee-p256", "-tls1_3", "ecdsa_secp256r1_sha256", "ECDSA"),
    (NEWEST, "tee-rsa", "-tls1_3", "rsa_pss_rsae_sha256", "RSA_PKCS_PSS"),
    (NEWEST, "tee-rsa", "-tls1_2", "rsa_pkcs1_sha256", "RSA_PKCS"),
    (NEWEST, "tee-ed25519", "-tls1_3", "ed25519", "EDDSA"),
    (WIDENED, "tee-p256", "-tls1_2", "ecdsa_secp256r1_sha256", "ECDSA"),
    (WIDENED, "tee-rsa", "-tls1_3", "rsa_pss_rsae_sha256", "RSA_PKCS_PSS"),
]


@pytest.mark.parametrize("profile,label,version,sigalg,mechanism", TLS_CASES,
                         ids=[f"{c[0].id}-{c[1]}{c[2]}" for c in TLS_CASES])
def test_tls_client_key(optee, tmp_path, software_ca, https_server, profile,
                        label, version, sigalg, mechanism):
    """s_server demands and verifies a client certificate; the client's
    key is the token's. The file arrives only after the handshake."""
    port = re.search(r":(\d+)/", https_server).group(1)
    log = tmp_path / "optee.log"
    env = optee.env_for(profile, log, OPENSSL_CONF=write_plain_cnf(tmp_path),
                        **(slow_unwind_env() if mechanism == "EDDSA" else {}))
    proc = run(["openssl", "s_client", "-provider-path", PROVIDER_DIR,
                "-provider", "default", "-provider", PROVIDER_NAME, "-connect",
                f"127.0.0.1:{port}", version, "-client_sigalgs", sigalg,
                "-key", uri(label), "-cert", optee.keys[label].cert_pem,
                "-CAfile", software_ca.cert, "-verify_return_error",
                "-ign_eof", "-quiet"], env,
               input="GET /manifest.txt HTTP/1.0\r\n\r\n")
    assert_ok(proc)
    assert BODY in proc.stdout, describe(proc)
    assert CKM[mechanism] in mechanisms_used(log, "C_SignInit"), \
        describe(proc)
    assert_protected_login(log, proc)


# ---- key generation -------------------------------------------------------------------

def genpkey(target, alg, label, id_hex, directory):
    key_file = directory / "key.pem"
    # The TA takes Edwards curves by name only, and SoftHSM behind the
    # profile leaks the name it decodes (tests/lsan.supp).
    leaks = slow_unwind_env() if alg.kind == "ed" else {}
    proc = OpensslRunner("cli", directory)(
        "genpkey", *PROPQUERY, "-algorithm", alg.algorithm,
        *opts("-pkeyopt", alg.pkeyopts), "-pkeyopt",
        f"pkcs11_uri:pkcs11:token={TOKEN};object={label};id=%{id_hex}",
        "-out", key_file, env={**target.env, **leaks})
    return proc, key_file


@pytest.mark.parametrize("name,id_hex", [("ec-p256", "a1"), ("rsa2048", "a2"),
                                         ("ed25519", "a3")])
def test_keygen(optee, tmp_path, name, id_hex):
    """A key pair made inside the TA with no PIN given; its key file
    signs, verified with the public key object read without the
    provider."""
    alg, label = ALGS[name], f"tee-gen-{name}"
    target = optee.target(NEWEST)
    before = target.objects()
    proc, key_file = genpkey(target, alg, label, id_hex, tmp_path)
    assert_ok(proc)
    assert_key_pair(target, before, alg, label, id_hex)
    assert f"token={TOKEN}" in read_uri_file(key_file)
    pub = target.export_public(label, tmp_path / "pub.pem")
    data, sig = data_file(tmp_path), tmp_path / "sig"
    if alg.kind == "ed":
        args = ["pkeyutl", "-sign", "-rawin", "-inkey", key_file, "-in",
                data, "-out", sig]
    else:
        args = ["dgst", "-sha256", "-sign", key_file, "-out", sig, data]
    env = {**target.env, **(slow_unwind_env() if alg.kind == "ed" else {})}
    assert_ok(OpensslRunner("cli", tmp_path)(*args, env=env))
    verify(tmp_path, alg, pub, data, sig)


def test_keygen_refused_by_old_libckteec(optee, tmp_path):
    """libckteec 3.12 answers C_GenerateKeyPair CKR_FUNCTION_NOT_SUPPORTED
    itself (OP-TEE/optee_os#5773): a clear error, nothing made."""
    target = optee.target(OLD)
    before = target.objects()
    proc, key_file = genpkey(target, ALGS["ec-p256"], "tee-gen-old", "b1",
                             tmp_path)
    assert_clear_error(proc, "C_GenerateKeyPair",
                       "CKR_FUNCTION_NOT_SUPPORTED")
    assert target.objects() == before, "objects were created or removed"
    assert not key_file.exists() or key_file.stat().st_size == 0


# ---- threads and sessions -------------------------------------------------------------

@pytest.mark.parametrize("profile", [WIDENED, NEWEST], ids=lambda p: p.id)
def test_threads_queue_at_the_single_instance(optee, tmp_path, profile):
    """Signers and loaders in threads against a TA that runs one command
    at a time and reports 4294967295 sessions (or none): every signature
    verified, the calls did queue, one login for the process."""
    log = tmp_path / "optee.log"
    args = ["--threads", 4, "--count", 150, "--loaders", 2, "--timeout",
            240]
    for label in ("tee-p256", "tee-rsa"):
        args += ["--key", uri(label), optee.keys[label].pub_pem]
    proc = run_c("concurrent_sign", args, optee.env_for(profile, log),
                 tmp_path, timeout=270)
    assert_ok(proc)
    assert re.search(r"^signatures: 600 verified$", proc.stdout, re.M), \
        describe(proc)
    seen = calls(log)
    assert max(others for _, others, _ in seen) >= 1, \
        "no call ever waited for the TA: the threads did not overlap"
    assert [d for n, _, d in seen if n == "C_Login"] == ["pin=NULL"]
    assert sum(n == "C_OpenSession" for n, _, _ in seen) >= 2, \
        "the threads shared one session"


def test_sign_loop_without_copy_object(optee, tmp_path):
    """libckteec 3.12 has no C_CopyObject: a key used again keeps signing
    as the token object."""
    log = tmp_path / "optee.log"
    proc = run_c("sign_loop", ["--seconds", 3, "--threads", 2,
                               uri("tee-p256")],
                 optee.env_for(OLD, log), tmp_path, timeout=90)
    assert_ok(proc)
    m = re.search(r"^signed: (\d+) failed: (\d+) wrong: (\d+)$",
                  proc.stdout, re.M)
    assert m, describe(proc)
    signed, failed, wrong = map(int, m.groups())
    assert signed >= 20 and failed == 0 and wrong == 0, describe(proc)
    # Asked once, refused, not asked again.
    assert [n for n, _, _ in calls(log)].count("C_CopyObject") == 1


# ---- login ---------------------------------------------------------------------------

def test_identity_not_the_tokens_owner(optee, tmp_path):
    """TEE-identity login by a client that does not own the token:
    CKR_PIN_INCORRECT, one C_Login, no other attempt."""
    proc, _, sig, log = sign(optee, Profile("4.10", "4.10",
                                            login="stranger"),
                             "ecdsa", tmp_path)
    assert_clear_error(proc, "C_Login", "CKR_PIN_INCORRECT")
    assert [d for n, _, d in calls(log) if n == "C_Login"] == ["pin=NULL"]


def test_pin_login_needs_a_pin(optee, tmp_path):
    """A TA token without TEE-identity login: no PIN, no C_Login with a
    NULL one; with pin-value, the signature is made."""
    profile = Profile("4.10", "4.10", login="pin")
    proc, _, _, log = sign(optee, profile, "ecdsa", tmp_path)
    assert_clear_error(proc, TOKEN)
    assert "C_Login" not in [n for n, _, _ in calls(log)]
    data, sig = data_file(tmp_path), tmp_path / "sig2"
    assert_ok(OpensslRunner("cli", tmp_path)(
        "dgst", "-sha256", "-sign", f"{uri('tee-p256')}?pin-value={USER_PIN}",
        "-out", sig, data, env=optee.env_for(profile)))
    verify_in_software(tmp_path, optee, "ecdsa", data, sig)


# ---- the probe, in a child process -------------------------------------------------

def _probe(module, label):
    ulong = ctypes.c_ulong

    class Version(ctypes.Structure):
        _fields_ = [("major", ctypes.c_ubyte), ("minor", ctypes.c_ubyte)]

    class TokenInfo(ctypes.Structure):
        _fields_ = [("label", ctypes.c_char * 32),
                    ("manufacturer", ctypes.c_char * 32),
                    ("model", ctypes.c_char * 16),
                    ("serial", ctypes.c_char * 16), ("flags", ulong),
                    ("max_sessions", ulong), ("sessions", ulong),
                    ("max_rw_sessions", ulong), ("rw_sessions", ulong),
                    ("max_pin", ulong), ("min_pin", ulong),
                    ("total_public", ulong), ("free_public", ulong),
                    ("total_private", ulong), ("free_private", ulong),
                    ("hardware", Version), ("firmware", Version),
                    ("utc", ctypes.c_char * 16)]

    # The module exports C_GetFunctionList only: the functions are read
    # from its CK_FUNCTION_LIST (a CK_VERSION, then pointers in order).
    table = ctypes.c_void_p()
    assert ctypes.CDLL(module).C_GetFunctionList(ctypes.byref(table)) == 0
    entries = ctypes.cast(table.value + ctypes.sizeof(ctypes.c_void_p),
                          ctypes.POINTER(ctypes.c_void_p))

    def function(index, *args):
        return ctypes.CFUNCTYPE(ulong, *args)(entries[index])

    p = ctypes.c_void_p
    lib = type("Functions", (), {})()
    lib.C_Initialize = function(0, p)
    lib.C_Finalize = function(1, p)
    lib.C_GetSlotList = function(4, ctypes.c_ubyte, p, p)
    lib.C_GetTokenInfo = function(6, ulong, p)
    lib.C_GetMechanismList = function(7, ulong, p, p)
    lib.C_GetMechanismInfo = function(8, ulong, ulong, p)
    assert lib.C_Initialize(None) == 0
    try:
        slots, count = (ulong * 16)(), ulong(16)
        assert lib.C_GetSlotList(1, slots,
                                 ctypes.byref(count)) == 0
        for slot in slots[:count.value]:
            info = TokenInfo()
            assert lib.C_GetTokenInfo(ulong(slot), ctypes.byref(info)) == 0
            if info.label.decode().rstrip() == label:
                break
        else:
            sys.exit(f"no token {label}")
        n = ulong(0)
        assert lib.C_GetMechanismList(ulong(slot), None,
                                      ctypes.byref(n)) == 0
        mechs = (ulong * n.value)()
        assert lib.C_GetMechanismList(ulong(slot), mechs,
                                      ctypes.byref(n)) == 0
        x509 = (ulong * 3)()
        rv = lib.C_GetMechanismInfo(ulong(slot), ulong(CKM["RSA_X_509"]),
                                    x509)
        print(json.dumps({"flags": info.flags,
                          "max_sessions": info.max_sessions,
                          "max_rw_sessions": info.max_rw_sessions,
                          "mechanisms": list(mechs[:n.value]),
                          "x509_info": [rv, x509[2]]}))
    finally:
        lib.C_Finalize(None)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "probe":
        sys.exit("usage: test_optee.py probe MODULE TOKEN_LABEL")
    _probe(sys.argv[2], sys.argv[3])
