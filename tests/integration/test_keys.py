"""Token keys through the store: what `storeutl` lists (private keys,
public keys and certificates, every match, in a stable order, filtered by
type= and by -keys/-certs), `pkey -pubout` byte-identical to the public key
exported from the token (named curves), `pkey -pubin` of a public key
object and `x509 -in` of a certificate object; on SoftHSM, tpm2-pkcs11,
the p11-kit proxy and the mock module."""
import re
from pathlib import Path

import pytest

from helpers import (SOFTHSM_MODULE, assert_ok, count_store_objects,
                     describe, mock_calls, pem_cert_file, pem_certs,
                     store_kinds, subject_of, unspaced_names)
from keyops import (ALL_KEYS, MOCK_PUB_PEM, SOFT_KEYS, SOFT_TOKEN,
                    TPM_KEYS, kind, software, spy_calls,
                    spy_env, spy_summary, token_key, traced)
from tokens import SOFTHSM_TOKENS, USER_PIN, token_slots

# storeutl's name for each kind of object it returns.
PKEY, PUBKEY, CERT = "Pkey", "Public key", "Certificate"
SOFT = f"pkcs11:token={SOFT_TOKEN.label}"
SOFT_PIN = f"{SOFT}?pin-value={USER_PIN}"
TPM = f"pkcs11:token=p11prov-tpm?pin-value={USER_PIN}"


def listed(proc):
    """The kinds of object `storeutl -noout` listed, in order (checked
    against its count when it prints one: see helpers.store_kinds)."""
    assert_ok(proc)
    try:
        return store_kinds(proc.stdout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{describe(proc)}") from None


def assert_same_pem(proc, pub_pem, what):
    """proc printed exactly the PEM of pub_pem (byte for byte)."""
    assert_ok(proc)
    want = Path(pub_pem).read_text() if isinstance(pub_pem, Path) else pub_pem
    assert proc.stdout == want, (
        f"{what}: not byte-identical to the token's public key\n--- want:\n"
        f"{want}" + describe(proc))


def uri_attr(uri, name):
    m = re.search(rf"[:;]{name}=([^;?]*)", uri)
    return m.group(1) if m else None


# ---- the reference: the public keys the fixtures exported --------------------

@pytest.mark.parametrize("label", ALL_KEYS)
def test_reference_public_keys_are_canonical(request, tmp_path, label):
    """What the provider's output is compared with: openssl writes each
    exported public key back byte for byte (so a difference is the
    provider's), with a named curve."""
    key = token_key(request, label).key
    proc = software(tmp_path, "pkey", "-pubin", "-in", key.pub_pem, "-pubout")
    assert proc.stdout == key.pub_pem.read_text(), describe(proc)
    if kind(label) == "ec":
        proc = software(tmp_path, "pkey", "-pubin", "-in", key.pub_pem,
                        "-noout", "-text")
        assert "ASN1 OID:" in proc.stdout, describe(proc)


# ---- pkey -pubout: byte-identical to the token's public key ------------------

@pytest.mark.parametrize("label", ALL_KEYS)
def test_private_key_pubout(openssl_prov, request, label):
    key = token_key(request, label)
    proc = openssl_prov("pkey", "-in", key.uri("private"), "-pubout",
                        env=key.env)
    assert_same_pem(proc, key.key.pub_pem, f"pkey -in {key.uri('private')}")


@pytest.mark.parametrize("label", ALL_KEYS)
def test_public_key_object_pubout(openssl_prov, request, label):
    """A public key object needs no PIN."""
    key = token_key(request, label)
    proc = openssl_prov("pkey", "-pubin", "-in", key.uri("public", pin=False),
                        "-pubout", env=key.env)
    assert_same_pem(proc, key.key.pub_pem, "pkey -pubin")


@pytest.mark.parametrize("label", ["rsa2048", "ec-p384", "ed448",
                                   "tpm-p256"])
def test_without_type_the_tool_chooses(openssl_prov, request, label):
    """Without type=, `pkey -in` takes the private key and `pkey -pubin`
    the public key, among the three objects the URI matches."""
    key = token_key(request, label)
    proc = openssl_prov("pkey", "-in", key.uri(None), "-pubout", env=key.env)
    assert_same_pem(proc, key.key.pub_pem, "pkey -in (no type)")
    proc = openssl_prov("pkey", "-pubin", "-in", key.uri(None, pin=False),
                        "-pubout", env=key.env)
    assert_same_pem(proc, key.key.pub_pem, "pkey -pubin (no type)")


@pytest.mark.parametrize("label", ["ec-p521", "tpm-rsa2048"])
def test_pubout_through_p11kit_proxy(openssl_prov, request, label):
    key = token_key(request, label, proxy=True)
    proc = openssl_prov("pkey", "-in", key.uri("private"), "-pubout",
                        env=key.env)
    assert_same_pem(proc, key.key.pub_pem, "pkey -in, through p11-kit")


# ---- x509 -in --------------------------------------------------------------------

@pytest.mark.parametrize("label", ALL_KEYS)
def test_x509_in(openssl_prov, request, label):
    """`x509 -in URI` reads the token's certificate: the same DER as the
    certificate the fixture stored, with the key's subject."""
    key = token_key(request, label)
    proc = assert_ok(openssl_prov("x509", "-in", key.uri("cert", pin=False),
                                  "-subject", env=key.env))
    assert subject_of(proc.stdout) == f"CN={label}", describe(proc)
    assert pem_certs(proc.stdout) == [pem_cert_file(key.key.cert_pem)], (
        "not the certificate stored on the token\n" + describe(proc))


# ---- storeutl: what a URI selects ------------------------------------------------

N_SOFT = len(SOFT_KEYS)


@pytest.mark.parametrize("uri, options, kinds", [
    (SOFT_PIN, ["-keys"], [PKEY] * N_SOFT),
    (SOFT, ["-certs"], [CERT] * N_SOFT),
    (f"{SOFT};type=private?pin-value={USER_PIN}", [], [PKEY] * N_SOFT),
    (f"{SOFT};type=public", [], [PUBKEY] * N_SOFT),
    (f"{SOFT};type=cert", [], [CERT] * N_SOFT),
    (f"{SOFT};type=public", ["-keys"], []),  # storeutl -keys: private only
    (f"{SOFT};object=no-such-key?pin-value={USER_PIN}", [], []),
    (f"{SOFT};id=%03;type=private?pin-value={USER_PIN}", [], [PKEY]),
])
def test_storeutl_selects(openssl_prov, soft_env, uri, options, kinds):
    proc = openssl_prov("storeutl", "-noout", *options, uri, env=soft_env)
    assert listed(proc) == kinds, describe(proc)


def test_type_contradicting_the_request(openssl_prov, soft_env):
    """A URI whose type is not what the application asks for (`pkey -in`
    wants a private key; the URI names a public one) finds nothing, and
    the error says which kinds disagree, not that the object is absent."""
    uri = f"{SOFT};object={SOFT_KEYS[0]};type=public"
    proc = openssl_prov("pkey", "-in", uri, "-pubout", env=soft_env)
    assert proc.returncode != 0, describe(proc)
    assert "names public keys, and a private key was asked for" in \
        proc.stderr, describe(proc)


def assert_sorted_by_id(uris, proc):
    """The returned objects come by CKA_ID, then label, then class (the
    same class order for every key)."""
    keys = [(uri_attr(u, "id"), uri_attr(u, "object")) for u in uris]
    assert keys == sorted(keys), "not in CKA_ID, label order\n" + describe(proc)
    classes = {}
    for key, uri in zip(keys, uris):
        classes.setdefault(key, []).append(uri_attr(uri, "type"))
    orders = {tuple(c) for c in classes.values()}
    assert len(orders) == 1, (f"class order differs between keys: {orders}\n"
                              + describe(proc))


@pytest.mark.parametrize("on_tpm", [False, True], ids=["softhsm", "tpm"])
def test_storeutl_everything_in_order(openssl_prov, request, on_tpm):
    """Every private key, public key and certificate, each one once, in
    CKA_ID order; the trace names each object found and returned by its
    URI, never with the PIN."""
    key = token_key(request, TPM_KEYS[0] if on_tpm else SOFT_KEYS[0])
    n_keys = len(TPM_KEYS) if on_tpm else N_SOFT
    proc = openssl_prov("storeutl", "-noout", TPM if on_tpm else SOFT_PIN,
                        env={**key.env, "PKCS11PROV_DEBUG": "2"})
    kinds = listed(proc)
    assert sorted(kinds) == sorted([PKEY, PUBKEY, CERT] * n_keys), \
        describe(proc)
    returned = traced(proc, "returning")
    assert len(returned) == len(kinds), describe(proc)
    assert len(set(returned)) == len(returned), "an object came twice\n" + \
        describe(proc)
    assert set(traced(proc, "found")) >= set(returned), describe(proc)
    assert {uri_attr(u, "type") for u in returned} == {
        "private", "public", "cert"}, describe(proc)
    assert_sorted_by_id(returned, proc)
    assert "pin-value" not in proc.stderr, describe(proc)


def test_trace_levels(openssl_prov, soft_env):
    """Level 1 names each object found; `returning` lines need level 2."""
    proc = openssl_prov("storeutl", "-noout", f"{SOFT};type=public",
                        env={**soft_env, "PKCS11PROV_DEBUG": "1"})
    assert listed(proc) == [PUBKEY] * N_SOFT, describe(proc)
    found = traced(proc, "found")
    assert len(found) == N_SOFT, describe(proc)
    assert sorted(uri_attr(u, "object") for u in found) == sorted(SOFT_KEYS)
    assert not traced(proc, "returning"), describe(proc)


def test_storeutl_token_order(openssl_prov, softhsm, soft_env):
    """Across tokens, objects come in slot order."""
    proc = openssl_prov("storeutl", "-noout", "pkcs11:type=public",
                        env={**soft_env, "PKCS11PROV_DEBUG": "2"})
    n = sum(len(t.keys) for t in SOFTHSM_TOKENS)
    assert listed(proc) == [PUBKEY] * n, describe(proc)
    tokens_seen = []
    for uri in traced(proc, "returning"):
        token = uri_attr(uri, "token")
        if not tokens_seen or tokens_seen[-1] != token:
            tokens_seen.append(token)
    assert tokens_seen == list(token_slots(softhsm.module, softhsm.env)), (
        "tokens not in slot order\n" + describe(proc))


def test_storeutl_text(openssl_prov, soft_env):
    """`storeutl -text` over a whole token: keys and certificates."""
    proc = assert_ok(openssl_prov("storeutl", "-text", SOFT_PIN,
                                  env=soft_env))
    assert count_store_objects(proc.stdout) == 3 * N_SOFT, describe(proc)
    out = unspaced_names(proc.stdout)
    for label in SOFT_KEYS:
        assert f"Subject: CN={label}\n" in out, describe(proc)


@pytest.mark.parametrize("label", SOFT_KEYS)
def test_storeutl_one_key(openssl_prov, soft_env, label):
    proc = openssl_prov("storeutl", "-noout",
                        f"{SOFT};object={label}?pin-value={USER_PIN}",
                        env=soft_env)
    assert sorted(listed(proc)) == sorted([PKEY, PUBKEY, CERT]), \
        describe(proc)


# ---- how the token is searched ---------------------------------------------------

def test_lookups_use_templates(openssl_prov, softhsm, tmp_path):
    """C_FindObjects templates come from the URI: never an empty template
    (reading every object), and the label is searched for."""
    log = tmp_path / "spy.log"
    proc = openssl_prov("pkey", "-in",
                        f"{SOFT};object=ec-p384;type=private"
                        f"?pin-value={USER_PIN}", "-pubout",
                        env={**softhsm.env, **spy_env(SOFTHSM_MODULE, log)})
    assert_ok(proc)
    inits = [text for name, text in spy_calls(log)
             if name == "C_FindObjectsInit"]
    assert inits, spy_summary(log)
    assert not [t for t in inits if "pTemplate[0]" in t], (
        "a search with an empty template\n" + spy_summary(log))
    assert any("e c - p  3 8 4" in t for t in inits), (
        "no search by label\n" + spy_summary(log))


# ---- the mock: a private key found only after login --------------------------------

def test_mock_public_key_without_login(openssl_prov, mock_module, tmp_path):
    log = tmp_path / "calls.log"
    proc = openssl_prov("pkey", "-pubin", "-in",
                        "pkcs11:token=mock-token;object=mock-key;type=public",
                        "-pubout", env={"PKCS11PROV_MODULE": mock_module,
                                        "P11MOCK_LOG": log})
    assert_same_pem(proc, MOCK_PUB_PEM, "mock public key")
    assert "C_Login" not in mock_calls(log), mock_calls(log)


def test_mock_everything_after_login(openssl_prov, mock_module, tmp_path):
    log = tmp_path / "calls.log"
    proc = openssl_prov("storeutl", "-noout",
                        "pkcs11:token=mock-token?pin-value=1234",
                        env={"PKCS11PROV_MODULE": mock_module,
                             "P11MOCK_LOG": log})
    assert sorted(listed(proc)) == sorted([PKEY, PUBKEY, CERT]), \
        describe(proc)
    assert mock_calls(log).count("C_Login") == 1, mock_calls(log)
    proc = openssl_prov("pkey", "-in",
                        "pkcs11:token=mock-token;object=mock-key?pin-value=1234",
                        "-pubout", env={"PKCS11PROV_MODULE": mock_module})
    assert_same_pem(proc, MOCK_PUB_PEM, "mock private key")
