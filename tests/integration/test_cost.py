"""What listing keys and signing by label cost in Cryptoki calls, on
SoftHSM tokens holding 10 and 1,000 EC P-256 key pairs: the number of
searches must not grow with the token, and each listed key costs a fixed
number of C_GetAttributeValue calls: one batch for the private key when
the listing only prints URIs, one more for its public key object when its
public part is shown (one call each when the token answers a batch
whole). Public parts are read only when needed, and then for all the
listed keys in one search.

The provider loads the fault module (tests/faultmod) in front of SoftHSM
with no fault: P11FAULT_LOG counts every call the provider makes. Each
token lives in a directory of its own, made for this module.
"""
import re
from collections import Counter

import pytest

import tokens
from helpers import (SOFTHSM_MODULE, OpensslRunner, assert_ok,
                     count_store_objects, describe, mock_calls, run)
from keyops import data_file, software

SIZES = (10, 1000)
PIN = "C0stPin42"
# One call for the private key's attributes; its public key object is
# read only when its public part is shown.
ATTRIBUTE_CALLS_PER_LISTED_KEY = 1
ATTRIBUTE_CALLS_PER_SHOWN_KEY = 2
LISTING_SEARCHES = 1     # the private keys
SHOWN_SEARCHES = 2       # and, once, the public key objects
SIGN_SEARCHES = 1        # the objects with the label: key, public key, cert
# The classes of the key and of its public key object, the key's batch;
# the public key object is not read, nor CKA_COPYABLE (a key is copied to
# a session object on its second use, not for one signature).
SIGN_ATTRIBUTE_CALLS = 3


@pytest.fixture(scope="module")
def big_tokens(tmp_path_factory):
    """{size: (env, token label)}: one SoftHSM token per size, its pairs
    labelled k0, k1, ... with ids 01 0000, 01 0001, ..."""
    made = {}
    for size in SIZES:
        directory = tmp_path_factory.mktemp(f"big{size}")
        label = f"big{size}"
        env, slot = tokens.softhsm_token(directory, label, PIN)
        proc = run(["/usr/bin/python3", tokens.__file__, "keypairs",
                    SOFTHSM_MODULE, str(slot), PIN, "EC:prime256v1", "k",
                    "01", str(size), "--usage-sign"], env, preload=False,
                   timeout=600)
        assert proc.returncode == 0, describe(proc)
        made[size] = (env, label)
    return made


def counted(fault_module, directory, env, *args):
    """openssl with the provider reaching the token through the fault
    module; returns (process, Counter of the Cryptoki calls)."""
    log = directory / "calls.log"
    if log.exists():
        log.unlink()
    proc = OpensslRunner("cli", directory)(
        *args, env={**env, "PKCS11PROV_MODULE": fault_module,
                    "P11FAULT_MODULE": SOFTHSM_MODULE, "P11FAULT_LOG": log})
    return proc, Counter(mock_calls(log))


def list_keys(fault_module, tmp_path, big_tokens, size, *options):
    env, label = big_tokens[size]
    proc, calls = counted(fault_module, tmp_path, env, "storeutl", "-keys",
                          *options, f"pkcs11:token={label};type=private"
                          f"?pin-value={PIN}")
    assert_ok(proc)
    assert count_store_objects(proc.stdout) == size, describe(proc)
    return proc, calls


def sign_by_label(fault_module, tmp_path, big_tokens, size):
    env, label = big_tokens[size]
    data, sig = data_file(tmp_path), tmp_path / "sig"
    uri = f"pkcs11:token={label};object=k{size // 2};type=private"
    proc, calls = counted(fault_module, tmp_path, env, "dgst", "-sha256",
                          "-sign", f"{uri}?pin-value={PIN}", "-out", sig,
                          data)
    assert_ok(proc)
    # The signature verifies with the key's public part, exported by the
    # provider itself from the same URI (read from the token object).
    pub = tmp_path / "pub.pem"
    proc, _ = counted(fault_module, tmp_path, env, "pkey", "-in",
                      f"{uri}?pin-value={PIN}", "-pubout", "-out", pub)
    assert_ok(proc)
    software(tmp_path, "dgst", "-sha256", "-verify", pub, "-signature", sig,
             data, what="verifying the signature")
    return calls


def test_listing_searches_do_not_grow(fault_module, tmp_path, big_tokens):
    _, small = list_keys(fault_module, tmp_path, big_tokens, SIZES[0])
    _, large = list_keys(fault_module, tmp_path, big_tokens, SIZES[1])
    assert (large["C_FindObjectsInit"] == small["C_FindObjectsInit"]
            == LISTING_SEARCHES), (
        f"searches: {small['C_FindObjectsInit']} for {SIZES[0]} pairs, "
        f"{large['C_FindObjectsInit']} for {SIZES[1]}")
    assert large["C_Login"] == small["C_Login"] == 1


@pytest.mark.parametrize("size", SIZES)
def test_listing_reads_each_key_in_batches(fault_module, tmp_path,
                                           big_tokens, size):
    _, calls = list_keys(fault_module, tmp_path, big_tokens, size)
    assert (calls["C_GetAttributeValue"]
            <= ATTRIBUTE_CALLS_PER_LISTED_KEY * size + 2), (
        f"{calls['C_GetAttributeValue']} C_GetAttributeValue calls for "
        f"{size} keys")


@pytest.mark.parametrize("size", SIZES)
def test_listing_public_parts_costs_one_search(fault_module, tmp_path,
                                               big_tokens, size):
    """-text shows every key's public part: its public key object is found
    by one search for all of them, and read once each."""
    proc, calls = list_keys(fault_module, tmp_path, big_tokens, size,
                            "-text")
    points = re.findall(r"^pub:\n((?:\s+[0-9a-f:]+\n)+)", proc.stdout,
                        re.MULTILINE)
    assert len(points) == size, describe(proc)
    assert len(set(points)) == size, "keys listed with another's point"
    assert calls["C_FindObjectsInit"] == SHOWN_SEARCHES, calls
    assert (calls["C_GetAttributeValue"]
            <= ATTRIBUTE_CALLS_PER_SHOWN_KEY * size + 2), calls


def test_sign_by_label_costs_the_same_on_any_token(fault_module, tmp_path,
                                                    big_tokens):
    small = sign_by_label(fault_module, tmp_path, big_tokens, SIZES[0])
    large = sign_by_label(fault_module, tmp_path, big_tokens, SIZES[1])
    for call, most in (("C_FindObjectsInit", SIGN_SEARCHES),
                       ("C_GetAttributeValue", SIGN_ATTRIBUTE_CALLS),
                       ("C_Login", 1), ("C_Sign", 1)):
        assert large[call] == small[call] <= most, (
            f"{call}: {small[call]} on {SIZES[0]} pairs, {large[call]} on "
            f"{SIZES[1]} (at most {most})")
