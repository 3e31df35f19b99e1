"""Loading the provider: by file name from the command line, from an
openssl.cnf section, its configuration keys, lazy module loading and the
PKCS11PROV_DEBUG trace."""
import subprocess
from pathlib import Path

import pytest

from helpers import (MOCK_MODULE, PROVIDER_MODULE, SOFTHSM_MODULE,
                     assert_ok, describe, parse_providers,
                     count_store_objects, run_openssl, write_openssl_cnf)

VERSION = "0.1.0"


def listed(proc, provider_id):
    """The fields `openssl list -providers -verbose` shows for provider_id
    (which must be there)."""
    assert_ok(proc)
    providers = parse_providers(proc.stdout)
    assert provider_id in providers, describe(proc)
    return providers[provider_id]


def test_listed(openssl_prov):
    """By file name it is "pkcs11prov"; from openssl.cnf it has the name of
    its configuration entry, "pkcs11". Either way it calls itself
    pkcs11prov, next to an active default provider."""
    proc = openssl_prov("list", "-providers", "-verbose")
    fields = listed(proc, openssl_prov.provider_id)
    assert fields.get("name") == "pkcs11prov", describe(proc)
    assert fields.get("version") == VERSION, describe(proc)
    assert fields.get("status") == "active", describe(proc)
    assert listed(proc, "default").get("status") == "active"


def test_config_section_loaded_by_name(provider_module, tmp_path):
    """A section without activate = 1 is loaded by `-provider pkcs11`, with
    its keys (OpenSSL 3.0 keeps the section for a later load)."""
    cnf = write_openssl_cnf(tmp_path, {"pkcs11-module-path": SOFTHSM_MODULE},
                            activate=False)
    proc = run_openssl(["list", "-providers"], {"OPENSSL_CONF": cnf})
    assert "pkcs11" not in parse_providers(assert_ok(proc).stdout)
    proc = run_openssl(["list", "-providers", "-provider", "pkcs11",
                        "-provider", "default"], {"OPENSSL_CONF": cnf})
    assert listed(proc, "pkcs11").get("status") == "active"


@pytest.mark.parametrize("pin", ["1234", "file:@"])
def test_config_keys_accepted(provider_module, tmp_path, pin):
    """Every documented key is accepted; nothing is read or loaded yet (the
    module does not even exist)."""
    (tmp_path / "pin").write_text("1234")
    cnf = write_openssl_cnf(tmp_path, {
        "pkcs11-module-path": "/nonexistent/x.so",
        "pkcs11-module-init-args": "some arguments",
        "pkcs11-module-token-pin": pin.replace("@", str(tmp_path / "pin")),
    })
    proc = run_openssl(["list", "-providers"], {"OPENSSL_CONF": cnf})
    assert "pkcs11" in parse_providers(assert_ok(proc).stdout), describe(proc)


# Loading never touches the PKCS#11 module: these all list the provider.
UNREACHABLE_MODULES = {
    "missing module": {"PKCS11PROV_MODULE": "/nonexistent/x.so"},
    "proxy, no token configured": {},
    "module failing C_Initialize": {
        "PKCS11PROV_MODULE": "@mock",
        "P11MOCK_FAIL": "C_Initialize:CKR_DEVICE_ERROR"},
}


@pytest.mark.parametrize("case", sorted(UNREACHABLE_MODULES))
def test_loading_is_lazy(openssl_prov, mock_module, tmp_path, case):
    log = tmp_path / "mock.log"
    env = {k: str(mock_module) if v == "@mock" else v
           for k, v in UNREACHABLE_MODULES[case].items()}
    proc = openssl_prov("list", "-providers", "-verbose",
                        env={**env, "P11MOCK_LOG": log})
    assert listed(proc, openssl_prov.provider_id).get("status") == "active"
    assert not log.exists(), "listing providers called into the module"


# ---- PKCS11PROV_DEBUG ------------------------------------------------------

def lookup(openssl_prov, soft_env, env=None):
    proc = assert_ok(openssl_prov(
        "storeutl", "-certs", "-noout", "pkcs11:token=p11prov-other",
        env={**soft_env, **(env or {})}))
    assert count_store_objects(proc.stdout) == 1, describe(proc)
    return proc


def test_quiet_without_debug(openssl_prov, soft_env):
    proc = lookup(openssl_prov, soft_env)
    assert proc.stderr == "", describe(proc)


def test_debug_level_traces_to_stderr(openssl_prov, soft_env):
    proc = lookup(openssl_prov, soft_env, {"PKCS11PROV_DEBUG": "3"})
    assert "pkcs11prov" in proc.stderr, describe(proc)


@pytest.mark.parametrize("suffix", ["", ",level:3"])
def test_debug_to_file(openssl_prov, soft_env, tmp_path, suffix):
    trace = tmp_path / "trace.log"
    proc = lookup(openssl_prov, soft_env,
                  {"PKCS11PROV_DEBUG": f"file:{trace}{suffix}"})
    assert trace.is_file() and trace.stat().st_size > 0, describe(proc)
    assert "pkcs11prov" not in proc.stderr, describe(proc)


# ---- the provider=pkcs11 property ------------------------------------------

def test_propquery_selects_the_provider(openssl_prov, soft_env):
    """Whatever name it was loaded under, its algorithms carry
    provider=pkcs11, so that query finds its store loader."""
    proc = assert_ok(openssl_prov(
        "storeutl", "-propquery", "provider=pkcs11", "-certs", "-noout",
        "pkcs11:token=p11prov-other", env=soft_env))
    assert count_store_objects(proc.stdout) == 1, describe(proc)
    proc = openssl_prov("storeutl", "-propquery", "provider=nonexistent",
                        "-certs", "-noout", "pkcs11:token=p11prov-other",
                        env=soft_env)
    assert proc.returncode != 0, describe(proc)


# ---- openssl.cnf.sample ------------------------------------------------------

def test_sample_configuration_is_valid(provider_module, softhsm, tmp_path):
    """The shipped sample loads as is apart from paths, and every key it
    documents (commented out) is accepted once enabled."""
    sample = (Path(__file__).resolve().parents[2] / "openssl.cnf.sample")
    lines = []
    for line in sample.read_text().splitlines():
        if line.startswith("module = "):
            line = f"module = {provider_module}"
        lines.append(line)
    as_shipped = tmp_path / "as-shipped.cnf"
    as_shipped.write_text("\n".join(lines) + "\n")
    proc = run_openssl(["list", "-providers", "-verbose"],
                       {"OPENSSL_CONF": as_shipped})
    assert listed(proc, "pkcs11").get("status") == "active"
    # Enable the last example of each documented key.
    enabled = {}
    for line in lines:
        if line.startswith("#pkcs11-") and " = " in line:
            key, value = line[1:].split(" = ", 1)
            enabled[key] = value
    assert set(enabled) == {"pkcs11-module-path", "pkcs11-module-init-args",
                            "pkcs11-module-token-pin",
                            "pkcs11-module-unlisted-mechanisms",
                            "pkcs11-module-copy-keys",
                            "pkcs11-module-cache-seconds",
                            "pkcs11-module-connections"}, enabled
    enabled["pkcs11-module-path"] = SOFTHSM_MODULE
    enabled.pop("pkcs11-module-init-args")  # SoftHSM takes none
    (tmp_path / "pin").write_text("1234\n")
    enabled["pkcs11-module-token-pin"] = f"file:{tmp_path / 'pin'}"
    full = tmp_path / "enabled.cnf"
    full.write_text("\n".join(lines) + "\n"
                    + "".join(f"{k} = {v}\n" for k, v in enabled.items()))
    proc = assert_ok(run_openssl(
        ["storeutl", "-keys", "-noout",
         "pkcs11:token=p11prov-soft;object=ec-p256;type=private"],
        {"OPENSSL_CONF": full, **softhsm.env}))
    assert count_store_objects(proc.stdout) == 1, describe(proc)


@pytest.mark.parametrize("library", ["provider", "mock"])
def test_no_thread_local_storage(library):
    """The provider (and our mock module, loaded the same way) keep nothing
    in thread-local storage. A dlopen'ed library's TLS is dynamic TLS,
    which GCC 12's LeakSanitizer misreads (google/sanitizers#1409): its
    tracer crashes at exit in one build tree and not in another, depending
    only on where malloc happened to put the block."""
    path = PROVIDER_MODULE if library == "provider" else MOCK_MODULE
    proc = subprocess.run(["readelf", "--program-headers", "--wide", str(path)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    segments = [line.split()[0] for line in proc.stdout.splitlines()
                if line.startswith("  ") and line.split()]
    assert "LOAD" in segments, proc.stdout
    assert "TLS" not in segments, proc.stdout
