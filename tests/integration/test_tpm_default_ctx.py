"""The provider activated from openssl.cnf in the DEFAULT library context,
next to the default provider (in either order), as a system-wide setup
would have it:
- tpm2-pkcs11 uses libcrypto inside the module (tss2-esys builds an RSA key
  with EVP_PKEY_fromdata during C_Login): that must still work, so the
  token logs in and signs; the libp11 engine fails exactly there;
- software keys (genpkey, req -newkey) keep working and stay software;
- after each clean exit the TPM holds no transient object or session
  (tpm_clean checks `tpm2_getcap handles-transient` and loaded sessions).
Signatures are verified without the provider."""
import pytest

from helpers import PROVIDER_MODULE, TPM2_MODULE, describe, run_openssl
from keyops import data_file, slow_unwind_env, software

ORDERS = ["default-first", "pkcs11-first"]


def both_providers_cnf(directory, order):
    """openssl.cnf activating the default provider and ours (as pkcs11)."""
    sections = {"default": "default_sect", "pkcs11": "pkcs11_sect"}
    names = list(sections) if order == "default-first" else \
        list(reversed(sections))
    path = directory / f"openssl-{order}.cnf"
    path.write_text("\n".join([
        "openssl_conf = openssl_init", "",
        "[openssl_init]", "providers = provider_sect", "",
        "[provider_sect]", *(f"{n} = {sections[n]}" for n in names), "",
        "[default_sect]", "activate = 1", "",
        "[pkcs11_sect]", f"module = {PROVIDER_MODULE}", "activate = 1", ""]))
    return path


@pytest.fixture(params=ORDERS)
def active(request, provider_module, tmp_path):
    """Runs openssl with both providers active from openssl.cnf."""
    conf = both_providers_cnf(tmp_path, request.param)

    def openssl(*args, env=None):
        proc = run_openssl(args, {"OPENSSL_CONF": conf, **(env or {})})
        assert proc.returncode == 0, describe(proc)
        assert "Sanitizer" not in proc.stderr, describe(proc)
        return proc
    return openssl


def tpm_env(tpm):
    return {**tpm.env, "PKCS11PROV_MODULE": TPM2_MODULE, **slow_unwind_env()}


def tpm_uri(tpm, label):
    return (f"pkcs11:token={tpm.token};object={label};type=private"
            f"?pin-value={tpm.pin}")


# ---- the TPM logs in and signs --------------------------------------------------

@pytest.mark.parametrize("label", ["tpm-rsa2048", "tpm-p256"])
def test_tpm_login_and_sign(active, tpm_clean, tmp_path, label):
    key = tpm_clean.keys[label]
    data, sig = data_file(tmp_path), tmp_path / "sig"
    active("dgst", "-sha256", "-sign", tpm_uri(tpm_clean, label), "-out",
           sig, data, env=tpm_env(tpm_clean))
    software(tmp_path, "dgst", "-sha256", "-verify", key.pub_pem,
             "-signature", sig, data, what="verifying the TPM's signature")


def test_tpm_pss(active, tpm_clean, tmp_path):
    key = tpm_clean.keys["tpm-rsa2048"]
    data, sig = data_file(tmp_path), tmp_path / "sig"
    pss = ["-sigopt", "rsa_padding_mode:pss", "-sigopt",
           "rsa_pss_saltlen:digest"]
    active("dgst", "-sha256", "-sign", tpm_uri(tpm_clean, "tpm-rsa2048"),
           *pss, "-out", sig, data, env=tpm_env(tpm_clean))
    software(tmp_path, "dgst", "-sha256", "-verify", key.pub_pem, "-sigopt",
             "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32",
             "-signature", sig, data, what="verifying the TPM's PSS signature")


def test_tpm_pubout(active, tpm_clean):
    key = tpm_clean.keys["tpm-rsa2048"]
    proc = active("pkey", "-in", tpm_uri(tpm_clean, "tpm-rsa2048"),
                  "-pubout", env=tpm_env(tpm_clean))
    assert proc.stdout == key.pub_pem.read_text(), describe(proc)


def test_tpm_ca_signs_software_request(active, tpm_clean, tmp_path):
    """One process verifies a software CSR, logs in to the TPM and signs:
    software and token work side by side."""
    leaf_key, csr = tmp_path / "leaf.key", tmp_path / "leaf.csr"
    ca, leaf = tmp_path / "ca.pem", tmp_path / "leaf.pem"
    env = tpm_env(tpm_clean)
    uri = tpm_uri(tpm_clean, "tpm-p256")
    active("req", "-x509", "-key", uri, "-subj", "/CN=TPM CA", "-days", "2",
           "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
           "keyUsage=critical,keyCertSign", "-out", ca, env=env)
    active("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout",
           leaf_key, "-subj", "/CN=leaf", "-out", csr, env=env)
    # -extfile: OpenSSL 4.0's x509 -req otherwise takes extensions from
    # openssl.cnf's default section (test_openssl_versions.py).
    ext = tmp_path / "leaf.ext"
    ext.write_text("basicConstraints = critical,CA:FALSE\n")
    active("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", uri, "-days", "2",
           "-set_serial", "3", "-extfile", ext, "-out", leaf, env=env)
    proc = software(tmp_path, "verify", "-check_ss_sig", "-CAfile", ca, leaf)
    assert proc.stdout.strip().endswith(": OK"), describe(proc)


# ---- software keys with the provider active -------------------------------------

def test_genpkey_rsa(active, tpm_clean, tmp_path):
    """With the TPM configured too (nothing may reach it)."""
    key = tmp_path / "rsa.pem"
    active("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
           "-out", key, env=tpm_env(tpm_clean))
    proc = software(tmp_path, "pkey", "-in", key, "-check", "-noout",
                    "-text")
    assert "Private-Key: (2048 bit" in proc.stdout, describe(proc)


@pytest.mark.parametrize("newkey", [["ec", "-pkeyopt",
                                     "ec_paramgen_curve:P-256"],
                                    ["rsa:2048"], ["ed25519"]])
def test_req_x509_newkey(active, tmp_path, newkey):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    active("req", "-x509", "-newkey", *newkey, "-nodes", "-keyout", key,
           "-subj", "/CN=software", "-days", "2", "-out", cert)
    proc = software(tmp_path, "verify", "-check_ss_sig", "-CAfile", cert,
                    cert)
    assert proc.stdout.strip().endswith(": OK"), describe(proc)
    software(tmp_path, "x509", "-in", cert, "-noout", "-checkend", "0")


def test_software_sign_verify(active, tmp_path):
    key, data, sig = tmp_path / "key.pem", data_file(tmp_path), \
        tmp_path / "sig"
    software(tmp_path, "genpkey", "-algorithm", "EC", "-pkeyopt",
             "ec_paramgen_curve:P-384", "-out", key)
    active("dgst", "-sha384", "-sign", key, "-out", sig, data)
    proc = active("dgst", "-sha384", "-prverify", key, "-signature", sig,
                  data)
    assert "Verified OK" in proc.stdout, describe(proc)
