"""Finding certificates by pkcs11: URI with `openssl storeutl -certs`:
which token and which object a URI selects, through SoftHSM, tpm2-pkcs11
and the p11-kit proxy, with the module chosen by configuration, by
PKCS11PROV_MODULE, by the URI's module-path or by default (the proxy)."""
import pytest

from helpers import (SOFTHSM_MODULE, TPM2_MODULE, OpensslRunner,
                     assert_fails_cleanly, assert_ok, describe, mock_calls,
                     count_store_objects, dn_field, pem_cert_file,
                     pem_certs, store_kinds, unspaced_names)
from keyops import software
from tokens import SOFTHSM_TOKENS

SOFT = [k.label for k in SOFTHSM_TOKENS[0].keys]  # p11prov-soft
ALL_SOFTHSM = SOFT + ["other-p256", "pin-p256"]
TPM = ["tpm-p256", "tpm-rsa2048"]


def found(proc):
    """The certificates storeutl printed (sorted base64), one for each of
    its numbered entries (helpers.store_kinds)."""
    assert_ok(proc)
    certs = pem_certs(proc.stdout)
    assert store_kinds(proc.stdout) == ["Certificate"] * len(certs), \
        describe(proc)
    return sorted(certs)


def certs_of(keys, labels):
    return sorted(pem_cert_file(keys[label].cert_pem) for label in labels)


def assert_finds(proc, keys, labels):
    got, want = found(proc), certs_of(keys, labels)
    assert got == want, (f"expected the certificates of {labels}, got "
                         f"{len(got)} certificate(s)\n" + describe(proc))


# ---- selection, on SoftHSM ---------------------------------------------------

SELECTIONS = [
    ("pkcs11:token=p11prov-soft", SOFT),
    ("pkcs11:token=p11prov-other", ["other-p256"]),
    ("pkcs11:token=p11prov-%70in", ["pin-p256"]),
    ("pkcs11:token=p11prov-soft;object=ec-p256", ["ec-p256"]),
    ("pkcs11:token=p11prov-soft;id=%03", ["ec-p384"]),
    ("pkcs11:token=p11prov-soft;object=rsa2048;id=%01", ["rsa2048"]),
    ("pkcs11:object=other-p256", ["other-p256"]),
    ("pkcs11:id=%02", ["ec-p256"]),
    ("pkcs11:object=ed25519;type=cert", ["ed25519"]),
    ("pkcs11:manufacturer=SoftHSM%20project;model=SoftHSM%20v2;"
     "object=ec-p521", ["ec-p521"]),
    ("pkcs11:", ALL_SOFTHSM),
    # a token matches, no object does
    ("pkcs11:token=p11prov-soft;object=no-such-object", []),
    ("pkcs11:token=p11prov-soft;object=ec-p256;id=%03", []),
    ("pkcs11:token=p11prov-other;object=ec-p256", []),
]


@pytest.mark.parametrize("uri, labels", SELECTIONS)
def test_selects(openssl_prov, softhsm, soft_env, uri, labels):
    proc = openssl_prov("storeutl", "-certs", uri, env=soft_env)
    assert_finds(proc, softhsm.keys, labels)


def test_slot_id_selects(openssl_prov, softhsm, soft_env):
    slot = softhsm.slots[softhsm.other_token]
    proc = openssl_prov("storeutl", "-certs", f"pkcs11:slot-id={slot}",
                        env=soft_env)
    assert_finds(proc, softhsm.keys, ["other-p256"])


def test_noout_counts(openssl_prov, soft_env):
    proc = assert_ok(openssl_prov("storeutl", "-certs", "-noout",
                                  "pkcs11:token=p11prov-soft", env=soft_env))
    assert store_kinds(proc.stdout) == ["Certificate"] * len(SOFT), \
        describe(proc)
    assert not pem_certs(proc.stdout), describe(proc)


def test_text_output(openssl_prov, soft_env):
    proc = assert_ok(openssl_prov(
        "storeutl", "-certs", "-noout", "-text",
        "pkcs11:token=p11prov-soft;object=ec-p384", env=soft_env))
    assert count_store_objects(proc.stdout) == 1, describe(proc)
    out = unspaced_names(proc.stdout)
    for text in ("Subject: CN=ec-p384\n", "Issuer: CN=p11prov test CA\n",
                 "NIST CURVE: P-384"):
        assert text in out, describe(proc)


def test_no_token_matches(openssl_prov, soft_env):
    proc = openssl_prov("storeutl", "-certs", "pkcs11:token=no-such-token",
                        env=soft_env)
    assert_fails_cleanly(proc, "no token matches")


# ---- choosing the module --------------------------------------------------------

def test_module_from_config(softhsm, tmp_path):
    runner = OpensslRunner("config", tmp_path)
    proc = runner("storeutl", "-certs", "pkcs11:token=p11prov-soft",
                  env=softhsm.env, cnf={"pkcs11-module-path": SOFTHSM_MODULE})
    assert_finds(proc, softhsm.keys, SOFT)


def test_env_overrides_config(softhsm, soft_env, tmp_path):
    runner = OpensslRunner("config", tmp_path)
    proc = runner("storeutl", "-certs", "pkcs11:token=p11prov-other",
                  env=soft_env, cnf={"pkcs11-module-path": "/nonexistent/x.so"})
    assert_finds(proc, softhsm.keys, ["other-p256"])


def test_module_path_in_uri(openssl_prov, softhsm):
    uri = ("pkcs11:token=p11prov-soft;object=ec-p256"
           f"?module-path={SOFTHSM_MODULE}")
    proc = openssl_prov("storeutl", "-certs", uri, env=softhsm.env)
    assert_finds(proc, softhsm.keys, ["ec-p256"])


@pytest.mark.parametrize("uri, labels", [
    ("pkcs11:token=p11prov-tpm", TPM),
    ("pkcs11:token=p11prov-tpm;object=tpm-rsa2048", ["tpm-rsa2048"]),
    ("pkcs11:id=%01", ["tpm-p256"]),
])
def test_tpm2_pkcs11_directly(openssl_prov, tpm_clean, uri, labels):
    proc = openssl_prov("storeutl", "-certs", uri,
                        env={**tpm_clean.env, "PKCS11PROV_MODULE": TPM2_MODULE})
    assert_finds(proc, tpm_clean.keys, labels)


@pytest.mark.parametrize("uri, labels", [
    ("pkcs11:token=p11prov-soft", SOFT),
    ("pkcs11:token=p11prov-other", ["other-p256"]),
    ("pkcs11:token=p11prov-tpm", TPM),
    ("pkcs11:object=ec-p256", ["ec-p256"]),
    ("pkcs11:object=tpm-p256", ["tpm-p256"]),
    ("pkcs11:id=%01", ["rsa2048", "tpm-p256"]),   # one on each module
    ("pkcs11:model=SoftHSM%20v2;id=%01", ["rsa2048"]),
])
def test_p11kit_proxy_by_default(openssl_prov, p11kit_env, softhsm,
                                 tpm_clean, uri, labels):
    proc = openssl_prov("storeutl", "-certs", uri, env=p11kit_env)
    assert_finds(proc, {**softhsm.keys, **tpm_clean.keys}, labels)


# ---- the mock module ---------------------------------------------------------------

def test_mock_module(openssl_prov, mock_module, tmp_path):
    """Found through our own module; initialized and finalized once, and
    no login for public objects when no PIN was given."""
    log = tmp_path / "calls.log"
    proc = assert_ok(openssl_prov(
        "storeutl", "-certs", "-text", "pkcs11:token=mock-token;object=mock-cert",
        env={"PKCS11PROV_MODULE": mock_module, "P11MOCK_LOG": log}))
    assert count_store_objects(proc.stdout) == 1, describe(proc)
    assert "Subject: CN=mock-cert\n" in unspaced_names(proc.stdout), \
        describe(proc)
    calls = mock_calls(log)
    assert calls.count("C_Initialize") == 1, calls
    assert calls.count("C_Finalize") == 1, calls
    assert "C_Login" not in calls, calls


def test_mock_module_by_uri(openssl_prov, mock_module):
    proc = openssl_prov("storeutl", "-certs", "-noout",
                        f"pkcs11:object=mock-cert?module-path={mock_module}")
    assert count_store_objects(assert_ok(proc).stdout) == 1, describe(proc)


# ---- several modules in one process -------------------------------------------

@pytest.mark.parametrize("tpm_first", [True, False])
def test_two_modules_in_one_process(openssl_prov, softhsm, tpm_clean,
                                    tpm_first):
    """One openssl process loads a certificate from tpm2-pkcs11 and one from
    SoftHSM, each module chosen by the URI's module-path: both modules are
    initialised once and finalised at exit, in either loading order (SoftHSM
    crashes if finalised after its static objects are gone)."""
    soft = (f"pkcs11:token=p11prov-soft;object=ec-p256;type=cert"
            f"?module-path={SOFTHSM_MODULE}")
    tpm = (f"pkcs11:token=p11prov-tpm;object=tpm-p256;type=cert"
           f"?module-path={TPM2_MODULE}")
    env = {**softhsm.env, **tpm_clean.env, "PKCS11PROV_DEBUG": "1"}
    first, second = (tpm, soft) if tpm_first else (soft, tpm)
    proc = assert_ok(openssl_prov("verify", "-CAfile", softhsm.ca_cert,
                                  "-untrusted", first, second, env=env))
    assert proc.stdout.strip().endswith(": OK"), describe(proc)
    for module in (SOFTHSM_MODULE, TPM2_MODULE):
        assert proc.stderr.count(f"module {module} initialized") == 1, \
            describe(proc)
        assert proc.stderr.count(f"module {module} finalized") == 1, \
            describe(proc)


def test_module_name_in_uri(openssl_prov, softhsm):
    """module-name=softhsm2 is resolved through p11-kit's registration."""
    proc = openssl_prov("storeutl", "-certs",
                        "pkcs11:token=p11prov-soft;object=ec-p384"
                        "?module-name=softhsm2", env=softhsm.env)
    assert_finds(proc, softhsm.keys, ["ec-p384"])


def test_unknown_module_name(openssl_prov):
    proc = openssl_prov("storeutl", "-certs",
                        "pkcs11:token=x?module-name=no-such-module")
    assert_fails_cleanly(proc, "no-such-module")


# ---- OSSL_STORE search criteria (storeutl -subject, -issuer/-serial, -alias)
# The criteria go into the Cryptoki template (CKA_SUBJECT, CKA_ISSUER,
# CKA_SERIAL_NUMBER, CKA_LABEL); what the token returns is checked again.

def _field(tmp_path, cert_pem, field):
    """subject, issuer (as /A=b/C=d) or serial (hex) of a certificate."""
    text = software(tmp_path, "x509", "-in", cert_pem, "-noout",
                    f"-{field}").stdout
    if field == "serial":
        return text.strip().split("=", 1)[1]
    return "/" + dn_field(unspaced_names(text), field).replace(", ", "/")


@pytest.mark.parametrize("label", ["ec-p256", "rsa2048"])
def test_search_by_subject(openssl_prov, softhsm, soft_env, tmp_path, label):
    subject = _field(tmp_path, softhsm.keys[label].cert_pem, "subject")
    proc = openssl_prov("storeutl", "-certs", "-subject", subject,
                        "pkcs11:token=p11prov-soft", env=soft_env)
    assert_finds(proc, softhsm.keys, [label])


def test_search_by_issuer_and_serial(openssl_prov, softhsm, soft_env,
                                     tmp_path):
    cert = softhsm.keys["ec-p384"].cert_pem
    proc = openssl_prov("storeutl", "-certs", "-issuer",
                        _field(tmp_path, cert, "issuer"), "-serial",
                        "0x" + _field(tmp_path, cert, "serial"), "pkcs11:",
                        env=soft_env)
    assert_finds(proc, softhsm.keys, ["ec-p384"])


def test_search_by_alias(openssl_prov, softhsm, soft_env):
    proc = openssl_prov("storeutl", "-certs", "-alias", "ed25519",
                        "pkcs11:token=p11prov-soft", env=soft_env)
    assert_finds(proc, softhsm.keys, ["ed25519"])


@pytest.mark.parametrize("criterion", [
    ["-subject", "/CN=no such subject"],
    ["-alias", "no-such-label"],
])
def test_search_finds_nothing(openssl_prov, soft_env, criterion):
    proc = openssl_prov("storeutl", "-certs", *criterion,
                        "pkcs11:token=p11prov-soft", env=soft_env)
    assert found(proc) == []


def test_search_alias_against_uri_label(openssl_prov, softhsm, soft_env):
    """An alias that contradicts the URI's object finds nothing; one that
    agrees finds that object."""
    proc = openssl_prov("storeutl", "-certs", "-alias", "ec-p256",
                        "pkcs11:token=p11prov-soft;object=rsa2048",
                        env=soft_env)
    assert found(proc) == []
    proc = openssl_prov("storeutl", "-certs", "-alias", "rsa2048",
                        "pkcs11:token=p11prov-soft;object=rsa2048",
                        env=soft_env)
    assert_finds(proc, softhsm.keys, ["rsa2048"])


@pytest.mark.parametrize("digest", ["-sha1", "-sha256"])
def test_search_by_fingerprint(openssl_prov, softhsm, soft_env, tmp_path,
                               digest):
    """No Cryptoki attribute holds it: the certificates the URI selects
    are checked by their fingerprint. (OpenSSL's OSSL_STORE_find needs the
    digest named: storeutl without one fails before asking the store.)"""
    cert = softhsm.keys["ec-p521"].cert_pem
    text = software(tmp_path, "x509", "-in", cert, "-noout", "-fingerprint",
                    digest).stdout
    fingerprint = text.strip().split("=", 1)[1]
    proc = openssl_prov("storeutl", "-certs", digest, "-fingerprint",
                        fingerprint, "pkcs11:token=p11prov-soft", env=soft_env)
    assert_finds(proc, softhsm.keys, ["ec-p521"])
