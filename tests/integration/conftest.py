"""Fixtures of the pkcs11prov integration tests.

Real tokens are brought up from nothing once per session, in temporary
directories (see tokens.py); every process started is stopped by its PID.
A token that cannot be brought up is an error, never a skip.

Fixtures:
  softhsm       SoftHSM tokens p11prov-soft, p11prov-other, p11prov-pin
                (tokens.SoftHSM: conf, env, module, slots, pins, keys, ...)
  softhsm_gen   an empty SoftHSM token p11prov-gen (PIN 1234) in the same
                SOFTHSM2_CONF, for tests that create keys (tokens.GenToken);
                per test module, deleted afterwards
  tpm           tpm2-pkcs11 token p11prov-tpm on a private swtpm (tokens.TPM)
  tpm_clean     tpm, and after the test: no transient object or session left
  soft_env      env with the SoftHSM tokens and PKCS11PROV_MODULE=SoftHSM
  p11kit_env    env in which the p11-kit proxy sees all those tokens
  software_ca   the CA that issued every token certificate
  provider_module, mock_module, fault_module, hostile_module,
  optee_module
                the built .so files (missing: failure)
  openssl_prov  helpers.OpensslRunner, parametrized: provider loaded from
                the command line ("cli") or from openssl.cnf ("config")
"""
import shutil
import tempfile
from pathlib import Path

import pytest

import tokens
from helpers import (FAULT_MODULE, HOSTILE_MODULE, MOCK_MODULE,
                     PROVIDER_MODULE, SOFTHSM_MODULE, OpensslRunner)


def _built(path, what):
    if not path.is_file():
        pytest.fail(f"{what} is not built: {path} is missing (build the "
                    "project, or point PKCS11PROV_BUILD_DIR at the build)",
                    pytrace=False)
    return path


@pytest.fixture(scope="session")
def provider_module():
    return _built(PROVIDER_MODULE, "the provider")


@pytest.fixture(scope="session")
def mock_module():
    return _built(MOCK_MODULE, "the mock PKCS#11 module")


@pytest.fixture(scope="session")
def fault_module():
    return _built(FAULT_MODULE, "the fault-injecting PKCS#11 module")


@pytest.fixture(scope="session")
def hostile_module():
    return _built(HOSTILE_MODULE, "the lying PKCS#11 module")


@pytest.fixture(scope="session")
def optee_module():
    from helpers import OPTEE_MODULE
    return _built(OPTEE_MODULE, "the OP-TEE profile PKCS#11 module")


@pytest.fixture(scope="session")
def tokens_dir():
    directory = Path(tempfile.mkdtemp(prefix="p11prov-tokens-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def software_ca(tokens_dir):
    return tokens.SoftwareCA(tokens_dir / "ca")


@pytest.fixture(scope="session")
def softhsm(tokens_dir, software_ca):
    return tokens.start_softhsm(tokens_dir / "softhsm", software_ca)


@pytest.fixture(scope="module")
def softhsm_gen(softhsm):
    """Module-scoped, not session-scoped: other tests compare the token
    list with softhsm.slots and count keys across all tokens, so the token
    exists only while the tests that need it run."""
    token = tokens.add_softhsm_token(softhsm)
    yield token
    tokens.delete_softhsm_token(token)


@pytest.fixture(scope="session")
def tpm(tokens_dir, software_ca):
    token = tokens.start_tpm(tokens_dir / "tpm", software_ca)
    yield token
    token.stop()


@pytest.fixture
def tpm_clean(tpm):
    """The TPM token, checked after the test: whatever a process loaded into
    the TPM (transient objects, sessions) it must have released: the TPM
    holds only 3 of each. Flushed before and after, so tests stay
    independent."""
    tpm.flush()
    yield tpm
    left = tpm.leftovers()
    tpm.flush()
    assert not left, f"left loaded in the TPM after the test (flushed now): {left}"


@pytest.fixture(scope="session")
def soft_env(softhsm):
    return {**softhsm.env, "PKCS11PROV_MODULE": SOFTHSM_MODULE}


@pytest.fixture(scope="session")
def p11kit_env(softhsm, tpm):
    """Debian registers softhsm2 and tpm2_pkcs11 with p11-kit: their
    environment variables are all the proxy needs."""
    return {**softhsm.env, **tpm.env}


@pytest.fixture(params=["cli", "config"])
def openssl_prov(request, provider_module, tmp_path):
    return OpensslRunner(request.param, tmp_path)
