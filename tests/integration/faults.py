"""What the fault tests share (test_recovery.py, test_fault_matrix.py):
the token p11prov-fault with its two keys, openssl run with the provider
through the fault module (tests/faultmod, libp11fault.so) in front of
SoftHSM, and the operations those tests fault: sign, decrypt, derive and
key generation, each with its check in software (without the provider).
"""
import itertools
import os
from collections import Counter
from dataclasses import dataclass

import pytest

import tokens
from helpers import (DEFAULT_TIMEOUT, SOFTHSM_MODULE, OpensslRunner,
                     assert_ok, describe, mock_calls, pkcs11_tool_objects,
                     run)
from keyops import data_file, run_c, software
from tokens import (EC_CERT_USAGE, RSA_CERT_USAGE, SIGN_DECRYPT, SIGN_DERIVE,
                    KeySpec, TokenSpec)

FAULT_PIN = "F4ultTokenPin77"
FAULT_TOKEN = TokenSpec("p11prov-fault", FAULT_PIN, (
    KeySpec("fault-rsa", "f1", "rsa:2048", SIGN_DECRYPT, RSA_CERT_USAGE),
    KeySpec("fault-ec", "f2", "EC:prime256v1", SIGN_DERIVE, EC_CERT_USAGE),
))


@dataclass
class FaultToken:
    token: tokens.GenToken
    keys: dict           # label -> tokens.Key (pub_pem exported by p11tool)


@pytest.fixture(scope="module")
def fault_token(softhsm, software_ca, tmp_path_factory):
    token = tokens.add_softhsm_token(softhsm, FAULT_TOKEN.label, FAULT_PIN)
    try:
        keys = tokens.provision_keys(
            SOFTHSM_MODULE, token.env, ["--slot", str(token.slot)],
            FAULT_TOKEN, software_ca, tmp_path_factory.mktemp("fault-keys"),
            slot=token.slot)
        yield FaultToken(token, keys)
    finally:
        tokens.delete_softhsm_token(token)


class Run:
    """openssl with the provider (loaded from the command line) reaching
    p11prov-fault through the fault module, with fault rules."""

    def __init__(self, fault_module, fault_token, directory):
        self.token, self.keys = fault_token.token, fault_token.keys
        self.dir = directory
        self.fault_module = fault_module
        self.runner = OpensslRunner("cli", directory)
        self.log = directory / "calls.log"

    def uri(self, label):
        return (f"pkcs11:token={self.token.label};object={label};"
                f"type=private?pin-value={FAULT_PIN}")

    def env(self, once="", always="", delay="", scope=""):
        """The environment of a run with these fault rules (the fault
        module's variables: tests/faultmod/fault_module.c)."""
        return {**self.token.env, "PKCS11PROV_MODULE": self.fault_module,
                "P11FAULT_MODULE": SOFTHSM_MODULE, "P11FAULT_LOG": self.log,
                "P11FAULT_ONCE": once, "P11FAULT_ALWAYS": always,
                "P11FAULT_DELAY": delay, "P11FAULT_SCOPE": scope}

    def openssl(self, *args, timeout=DEFAULT_TIMEOUT, **faults):
        """Runs openssl; returns (process, Counter of the calls logged).
        self.sequence: those calls in order."""
        return self._logged(lambda env: self.runner(*args, env=env,
                                                    timeout=timeout), faults)

    def program(self, name, args, timeout=DEFAULT_TIMEOUT, **faults):
        """Runs a C test program (keyops.run_c), as openssl()."""
        return self._logged(lambda env: run_c(name, args, env, self.dir,
                                              timeout=timeout), faults)

    def _logged(self, start, faults):
        if self.log.exists():
            self.log.unlink()
        proc = start(self.env(**faults))
        self.sequence = mock_calls(self.log)
        return proc, Counter(self.sequence)


# ---- the operations -------------------------------------------------------
# Each runs its openssl command in directory d and returns (process, calls,
# check): check() asserts the result is correct, without the provider.

def sign(run_, d, label, **faults):
    data, sig = data_file(d), d / "sig"
    proc, calls = run_.openssl("dgst", "-sha256", "-sign", run_.uri(label),
                               "-out", sig, data, **faults)

    def check():
        software(d, "dgst", "-sha256", "-verify", run_.keys[label].pub_pem,
                 "-signature", sig, data, what="verifying the signature")
    return proc, calls, check


OAEP_SHA1 = ["rsa_padding_mode:oaep", "rsa_oaep_md:sha1", "rsa_mgf1_md:sha1"]


def decrypt(run_, d, pkeyopts, **faults):
    """pkcs1: a raw CKM_RSA_X_509 decryption unpadded by the provider;
    OAEP with SHA-1: CKM_RSA_PKCS_OAEP on the token (SoftHSM does SHA-1
    only)."""
    secret, plain, ct, out = os.urandom(32), d / "plain", d / "ct", d / "out"
    plain.write_bytes(secret)
    pkeyopt = [a for o in pkeyopts for a in ("-pkeyopt", o)]
    software(d, "pkeyutl", "-encrypt", "-pubin", "-inkey",
             run_.keys["fault-rsa"].pub_pem, "-in", plain, "-out", ct,
             *pkeyopt, what="encrypting in software")
    proc, calls = run_.openssl("pkeyutl", "-decrypt", "-inkey",
                               run_.uri("fault-rsa"), "-in", ct, "-out", out,
                               *pkeyopt, **faults)

    def check():
        assert out.read_bytes() == secret, "the decryption differs"
    return proc, calls, check


def derive(run_, d, **faults):
    peer_key, peer_pub, out = d / "peer.key", d / "peer.pub", d / "token.bin"
    software(d, "genpkey", "-algorithm", "EC", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-out", peer_key)
    software(d, "pkey", "-in", peer_key, "-pubout", "-out", peer_pub)
    proc, calls = run_.openssl("pkeyutl", "-derive", "-inkey",
                               run_.uri("fault-ec"), "-peerkey", peer_pub,
                               "-out", out, **faults)

    def check():
        want = d / "software.bin"
        software(d, "pkeyutl", "-derive", "-inkey", peer_key, "-peerkey",
                 run_.keys["fault-ec"].pub_pem, "-out", want,
                 what="the peer's side of the derivation")
        assert out.read_bytes() == want.read_bytes(), (
            "the token's ECDH secret differs from the software one")
    return proc, calls, check


_SERIAL = itertools.count(1)  # the labels of generated keys


def generate(run_, d, algorithm, **faults):
    """genpkey on the token with a label of its own; check(): exactly one
    key pair with that label exists, and its key file signs (verified with
    the public key that GnuTLS p11tool exports)."""
    token = run_.token
    label = f"gen-{next(_SERIAL)}"
    key_file = d / "key.pem"
    alg, opt = {"ec": ("EC", "ec_paramgen_curve:P-256"),
                "rsa": ("RSA", "rsa_keygen_bits:2048")}[algorithm]
    proc, calls = run_.openssl(
        "genpkey", "-propquery", "provider=pkcs11", "-algorithm", alg,
        "-pkeyopt", opt, "-pkeyopt",
        f"pkcs11_uri:pkcs11:token={token.label};object={label}"
        f"?pin-value={FAULT_PIN}", "-out", key_file, **faults)

    def check():
        listed = run(["pkcs11-tool", "--module", SOFTHSM_MODULE, "--slot",
                      token.slot, "--login", "--pin", FAULT_PIN, "-O"],
                     token.env, preload=False)
        assert listed.returncode == 0, describe(listed)
        made = sorted(o["class"] for o in pkcs11_tool_objects(listed.stdout)
                      if o["label"] == label)
        assert made == ["Private Key", "Public Key"], (
            f"objects labelled {label}: {made}")
        pub = d / "pub.pem"
        exported = run(["p11tool", "--provider", SOFTHSM_MODULE, "--login",
                        "--export-pubkey", f"pkcs11:token={token.label};"
                        f"object={label};type=public", "--outfile", pub],
                       {**token.env, "GNUTLS_PIN": FAULT_PIN}, preload=False)
        assert exported.returncode == 0, describe(exported)
        data, sig = data_file(d), d / "sig"
        signed, _ = run_.openssl("dgst", "-sha256", "-sign", key_file,
                                 "-passin", f"pass:{FAULT_PIN}", "-out", sig,
                                 data)
        assert_ok(signed)
        software(d, "dgst", "-sha256", "-verify", pub, "-signature", sig,
                 data, what="verifying a signature of the generated key")
    return proc, calls, check


@dataclass(frozen=True)
class Op:
    """An operation, its Cryptoki call, the Init call before it (the call
    itself for derive and key generation) and the label of its key (of
    the keys it makes: a prefix)."""
    do: object           # (run_, directory, **faults) -> (proc, calls, check)
    call: str
    init: str
    label: str


OPS = {
    "sign-ec": Op(lambda r, d, **f: sign(r, d, "fault-ec", **f),
                  "C_Sign", "C_SignInit", "fault-ec"),
    "sign-rsa": Op(lambda r, d, **f: sign(r, d, "fault-rsa", **f),
                   "C_Sign", "C_SignInit", "fault-rsa"),
    "decrypt-pkcs1": Op(lambda r, d, **f: decrypt(r, d, [], **f),
                        "C_Decrypt", "C_DecryptInit", "fault-rsa"),
    "decrypt-oaep": Op(lambda r, d, **f: decrypt(r, d, OAEP_SHA1, **f),
                       "C_Decrypt", "C_DecryptInit", "fault-rsa"),
    "derive-ec": Op(derive, "C_DeriveKey", "C_DeriveKey", "fault-ec"),
    "keygen-ec": Op(lambda r, d, **f: generate(r, d, "ec", **f),
                    "C_GenerateKeyPair", "C_GenerateKeyPair", "gen-"),
    "keygen-rsa": Op(lambda r, d, **f: generate(r, d, "rsa", **f),
                     "C_GenerateKeyPair", "C_GenerateKeyPair", "gen-"),
}


@pytest.fixture(scope="module")
def baselines():
    """{operation: the calls of its fault-free run}, filled as needed."""
    return {}


@pytest.fixture
def run_(fault_module, fault_token, provider_module, tmp_path):
    return Run(fault_module, fault_token, tmp_path)


def fault_free_calls(run_, baselines, name, tmp_path):
    if name not in baselines:
        d = tmp_path / "fault-free"
        d.mkdir()
        proc, calls, check = OPS[name].do(run_, d)
        assert_ok(proc)
        check()
        baselines[name] = calls
    return baselines[name]


def summary(base, calls):
    changed = {f: f"{base[f]} -> {calls[f]}" for f in sorted(set(base) |
               set(calls)) if base[f] != calls[f]}
    return f"calls that changed against the fault-free run: {changed}"
