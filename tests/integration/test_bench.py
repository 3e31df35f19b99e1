"""The benchmark (bench/, run by scripts/bench.sh) builds and runs: a short
run on the null token (with the provider's overhead per operation), one
SoftHSM case whose shared secret p11bench checks against software on both
sides, and the key load times (p11bench re-executes itself per load). Each
table must parse and every rate and time be positive; no number is judged
here (that is the benchmark's job, on a quiet machine)."""
import re

import pytest

from helpers import (BUILD_DIR, PROVIDER_DIR, SOFTHSM_MODULE, assert_ok,
                     describe, run)

BENCH = BUILD_DIR / "bench" / "p11bench"
NULL_MODULE = BUILD_DIR / "tests" / "nulltoken" / "libp11null.so"
NULL_URI = "pkcs11:token=null-token;object=null-p256;id=%01;type=private"

# case threads provider-median (min-max) raw-median (min-max) ratio xprov
# xraw CPUs [overhead]
THROUGHPUT_ROW = re.compile(
    r"^(?P<case>\S+)\s+(?P<threads>\d+)\s+(?P<prov>\d+) \(\d+-\d+\)\s+"
    r"(?P<raw>\d+) \(\d+-\d+\)\s+(?P<ratio>[\d.]+)\s+(?P<xprov>[\d.]+|-)\s+"
    r"(?P<xraw>[\d.]+|-)\s+(?P<cpus>[\d.]+/[\d.]+)"
    r"(?:\s+(?P<overhead>-?[\d.]+))?$")
# token key cold (min-max) raw (min-max) ratio warm (min-max)
NUMBER = r"[\d.]+"
CELL = rf"({NUMBER}) \({NUMBER}-{NUMBER}\)"
LOAD_ROW = re.compile(rf"^(\S+)\s+(\S+)\s+{CELL}\s+{CELL}\s+({NUMBER})\s+{CELL}$")


@pytest.fixture(scope="module")
def bench():
    for path in (BENCH, NULL_MODULE):
        if not path.is_file():
            pytest.fail(f"{path} is not built", pytrace=False)
    return BENCH


def run_bench(bench, env, *args):
    return assert_ok(run([bench, "--provider-dir", PROVIDER_DIR, *args], env,
                         timeout=30))


def table(proc, pattern, header):
    lines = proc.stdout.splitlines()
    assert lines and lines[0].startswith(header), describe(proc)
    rows = [pattern.match(line) for line in lines[1:]]
    assert rows and all(rows), describe(proc)
    return rows


def test_null_token_overhead(bench):
    proc = run_bench(bench, {"OPENSSL_CONF": "/dev/null"}, "--module",
                     NULL_MODULE, "--uri", NULL_URI, "--case", "ecdsa-p256",
                     "--seconds", "0.2", "--runs", "1", "--threads", "1,2",
                     "--overhead")
    rows = table(proc, THROUGHPUT_ROW, "case ")
    assert [r["threads"] for r in rows] == ["1", "2"], describe(proc)
    for row in rows:
        assert int(row["prov"]) > 0 and int(row["raw"]) > 0, describe(proc)
        assert row["overhead"] is not None, describe(proc)
    assert rows[0]["xprov"] == "-" and float(rows[1]["xprov"]) > 0


def test_softhsm_ecdh_both_sides_agree(bench, softhsm):
    key = softhsm.keys["ec-p256"]
    uri = (f"pkcs11:token={key.token};object={key.label};id={key.id_uri};"
           "type=private")
    proc = run_bench(bench, {**softhsm.env, "OPENSSL_CONF": "/dev/null"},
                     "--module", SOFTHSM_MODULE, "--uri", uri, "--pin",
                     softhsm.pin, "--case", "ecdh-p256", "--seconds", "0.2",
                     "--runs", "1", "--threads", "1")
    (row,) = table(proc, THROUGHPUT_ROW, "case ")
    assert row["case"] == "ecdh-p256", describe(proc)
    assert int(row["prov"]) > 0 and int(row["raw"]) > 0, describe(proc)


def test_load_time_in_fresh_processes(bench):
    proc = run_bench(bench, {"OPENSSL_CONF": "/dev/null"}, "--load-time",
                     "--module", NULL_MODULE, "--uri", NULL_URI,
                     "--load-runs", "2", "--warm-loads", "3")
    (row,) = table(proc, LOAD_ROW, "token ")
    assert row.group(1, 2) == ("null-token", "null-p256"), describe(proc)
    cold, raw, ratio, warm = (float(row.group(i)) for i in (3, 4, 5, 6))
    assert cold > 0 and raw > 0 and ratio > 0 and warm > 0, describe(proc)


def test_help_lists_every_case(bench):
    proc = run([bench, "--help"])
    assert proc.returncode == 2, describe(proc)
    for case in ("ecdsa-p256", "ecdsa-p384", "rsa2048-pkcs1", "rsa2048-pss",
                 "ed25519", "ecdh-p256", "rsa2048-oaep"):
        assert f"  {case} " in proc.stderr, describe(proc)
