"""A local HTTPS server for the client tests (the examples, curl):
`openssl s_server -WWW` with a software certificate from the tokens' CA,
requiring and verifying a client certificate from that CA."""
import subprocess
import time

import pytest

from helpers import child_env, free_port, write_plain_cnf
from keyops import software

BODY = "firmware manifest v1.2.3\n" + "".join(
    f"chunk {i:04d} {'x' * 40}\n" for i in range(200))


@pytest.fixture
def https_server(tmp_path, software_ca):
    """openssl s_server -WWW on a free port, with a software certificate
    from the tokens' CA, requiring a client certificate from that CA.
    Yields the URL of the served file; stopped by its PID afterwards."""
    d = tmp_path / "server"
    www = d / "www"
    www.mkdir(parents=True)
    (www / "manifest.txt").write_text(BODY)
    key, csr, cert, ext = (d / "srv.key", d / "srv.csr", d / "srv.pem",
                           d / "srv.ext")
    ext.write_text("basicConstraints = critical,CA:FALSE\n"
                   "keyUsage = critical,digitalSignature\n"
                   "extendedKeyUsage = serverAuth\n"
                   "subjectAltName = DNS:localhost,IP:127.0.0.1\n")
    software(d, "req", "-new", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
             "-subj", "/CN=localhost", "-out", csr)
    software(d, "x509", "-req", "-in", csr, "-CA", software_ca.cert,
             "-CAkey", software_ca.key, "-set_serial", str(int(time.time_ns())),
             "-days", "2", "-extfile", ext, "-out", cert)
    port = free_port()
    server = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-WWW",
         "-cert", str(cert), "-key", str(key), "-CAfile",
         str(software_ca.cert), "-Verify", "1", "-verify_return_error"],
        cwd=www, env=child_env({"OPENSSL_CONF": write_plain_cnf(d)}),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, errors="replace")
    try:
        deadline = time.monotonic() + 20
        while "ACCEPT" not in server.stdout.readline():
            assert time.monotonic() < deadline and server.poll() is None, \
                "s_server did not start: " + server.stderr.read()
        yield f"https://localhost:{port}/manifest.txt"
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(timeout=10)
