"""Behaviours that differ between OpenSSL versions and are OpenSSL's own,
shown without any token key, so that the tests which meet them can say
which version does what (and are not mistaken for our bugs)."""
from helpers import assert_ok, openssl_version, run, write_openssl_cnf
from keyops import software


def test_x509_req_reads_extensions_from_config_default_section(tmp_path):
    """`openssl x509 -req` under an openssl.cnf whose default section holds
    `openssl_conf = ...` (every provider configuration does), with a
    software CA key and no -extfile: OpenSSL 4.0 reads the default section
    as the extensions to add and fails on `openssl_conf`; 3.x signs. With
    -extfile both sign. So the tests that issue certificates in config
    mode give -extfile."""
    ca_key, ca = tmp_path / "ca.key", tmp_path / "ca.pem"
    key, csr = tmp_path / "leaf.key", tmp_path / "leaf.csr"
    software(tmp_path, "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key,
             "-subj", "/CN=CA", "-days", "2", "-out", ca)
    software(tmp_path, "req", "-new", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
             "-subj", "/CN=leaf", "-out", csr)
    env = {"OPENSSL_CONF": write_openssl_cnf(tmp_path)}
    sign = ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey",
            ca_key, "-days", "2", "-out", tmp_path / "leaf.pem"]
    plain = run(sign, env)
    if openssl_version() >= (4, 0):
        assert plain.returncode != 0, plain.stderr
    else:
        assert_ok(plain)
    ext = tmp_path / "leaf.ext"
    ext.write_text("basicConstraints = critical,CA:FALSE\n")
    assert_ok(run([*sign, "-extfile", ext], env))
