"""The C test programs (tests/integration/c), an application's view:
store_sign loads a key with OSSL_STORE_open_ex and signs with
EVP_DigestSign, verifying every signature in the default provider; many
threads share one EVP_PKEY; a forked child signs with the parent's
EVP_PKEY; the session pool does not open a session or search per
signature. software_key generates and uses software keys with the provider
loaded (from OPENSSL_CONF, or by OSSL_PROVIDER_load). Every first signature
is also verified by `openssl` without the provider."""
import re

import pytest

from helpers import (PROVIDER_DIR, SOFTHSM_MODULE, assert_ok, describe,
                     write_openssl_cnf, write_plain_cnf)
from keyops import (SIGNERS, data_file, kind, run_c, software, spy_env,
                    spy_names, spy_summary, token_key)

TYPE_NAMES = {"rsa": "RSA", "ec": "EC", "ed25519": "ED25519",
              "ed448": "ED448"}


def store_sign(key, tmp_path, *options, env=None, timeout=120):
    """Runs store_sign on key's private key; checks the program's own
    verdict, the public key it saw and (without the provider) its first
    signature. Returns the process."""
    data, sig, pub = data_file(tmp_path), tmp_path / "sig", tmp_path / "pub"
    proc = run_c("store_sign", [*options, "--in", data, "--sig-out", sig,
                                "--pub-out", pub, key.uri()],
                 env or key.env, tmp_path, timeout=timeout)
    assert_ok(proc)
    assert pub.read_text() == key.key.pub_pem.read_text(), describe(proc)
    if key.kind == "ed":
        software(tmp_path, "pkeyutl", "-verify", "-pubin", "-inkey",
                 key.key.pub_pem, "-rawin", "-in", data, "-sigfile", sig,
                 what="verifying store_sign's signature")
    else:
        software(tmp_path, "dgst", "-sha256", "-verify", key.key.pub_pem,
                 "-signature", sig, data,
                 what="verifying store_sign's signature")
    return proc


def verified(proc, prefix=""):
    m = re.search(rf"^{prefix}signatures: (\d+) verified$", proc.stdout, re.M)
    assert m, describe(proc)
    return int(m.group(1))


# ---- one key, each type, each token ----------------------------------------------

@pytest.mark.parametrize("label", SIGNERS)
def test_store_sign(request, tmp_path, label):
    key = token_key(request, label)
    proc = store_sign(key, tmp_path, "--count", "3")
    assert verified(proc) == 3, describe(proc)
    name = TYPE_NAMES.get(label) or TYPE_NAMES[kind(label)]
    assert f"key type: {name}\n" in proc.stdout, describe(proc)


def test_store_sign_pss_only_key_fails_cleanly(request, tmp_path):
    """rsa-pssonly with the default (PKCS#1 v1.5) padding: a clear error."""
    key = token_key(request, "rsa-pssonly")
    proc = run_c("store_sign", [key.uri()], key.env, tmp_path)
    assert proc.returncode == 1, describe(proc)
    assert "allowed" in proc.stderr.lower(), describe(proc)


# ---- threads ----------------------------------------------------------------------

@pytest.mark.parametrize("label, threads, count", [
    ("ec-p256", 4, 1000),
    ("rsa2048", 4, 1000),
    ("tpm-p256", 2, 25),      # ~300 ECDSA/s (slow unwinding under ASan)
    ("tpm-rsa2048", 2, 50),   # ~170 RSA/s
])
def test_threads_share_one_key(request, tmp_path, label, threads, count):
    """N threads sign M times each with ONE EVP_PKEY; every signature is
    verified (tpm2-pkcs11 is not thread-safe: the provider serialises)."""
    key = token_key(request, label)
    proc = store_sign(key, tmp_path, "--threads", str(threads), "--count",
                      str(count), timeout=600)
    assert verified(proc) == threads * count + 1, describe(proc)


# ---- fork ---------------------------------------------------------------------------

@pytest.mark.parametrize("proxy", [False, True], ids=["softhsm", "p11-kit"])
def test_fork(request, tmp_path, proxy):
    """The parent signs, forks; the child signs with the same EVP_PKEY
    (the module re-initialised for it), the parent signs again."""
    key = token_key(request, "ec-p256", proxy=proxy)
    proc = store_sign(key, tmp_path, "--fork")
    assert verified(proc, "child ") == 1, describe(proc)
    assert verified(proc) == 2, describe(proc)


# ---- the session pool ---------------------------------------------------------------

def test_no_session_or_search_per_signature(request, tmp_path):
    """50 signatures: one C_SignInit each, while sessions, logins,
    searches and session checks stay at a handful."""
    key = token_key(request, "ec-p256")
    log = tmp_path / "spy.log"
    proc = store_sign(key, tmp_path, "--count", "50",
                      env={**key.env, **spy_env(SOFTHSM_MODULE, log)})
    assert verified(proc) == 50, describe(proc)
    names = spy_names(log)
    counts = {name: names.count(name) for name in set(names)}
    assert counts.get("C_SignInit") == 50, spy_summary(log)
    assert counts.get("C_Sign", 0) <= 100, spy_summary(log)
    assert counts.get("C_Login") == 1, spy_summary(log)
    for name in ("C_OpenSession", "C_CloseSession", "C_FindObjectsInit",
                 "C_GetSessionInfo"):
        assert counts.get(name, 0) <= 5, f"{name} x{counts.get(name)}\n" + \
            spy_summary(log)
    assert "C_VerifyInit" not in counts, "verified on the token\n" + \
        spy_summary(log)


# ---- software keys with the provider loaded -----------------------------------------

@pytest.mark.parametrize("mode", ["config", "load"])
def test_software_key(provider_module, tmp_path, mode):
    if mode == "config":
        env = {"OPENSSL_CONF": write_openssl_cnf(tmp_path)}
        args = ["--config", "pkcs11"]
    else:
        env = {"OPENSSL_CONF": write_plain_cnf(tmp_path)}
        args = ["--load", PROVIDER_DIR]
    proc = run_c("software_key", args, env, tmp_path)
    assert_ok(proc)
    assert "generated, signed and verified in the default provider" in \
        proc.stdout, describe(proc)
