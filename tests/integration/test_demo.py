"""The README's demo command works end to end: key generated in a fresh
SoftHSM token, CSR, CA certificate, signature, mutual TLS and ECDH.

The demo stops at the first failing command (set -e; a failed TLS exchange
exits 1), so its exit status is the verdict; the output is checked for
every step's header and result as the demo and the provider print them,
and for the certificate's issuer as a name (openssl's spelling of names
changed in 3.5), never for the wording of openssl's own messages."""
import os
import re
import subprocess
from pathlib import Path

from helpers import dn_field

REPO = Path(__file__).resolve().parents[2]


def test_demo_runs_end_to_end():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PKCS11PROV_", "P11MOCK_", "SOFTHSM2_",
                                "TPM2", "OPENSSL_", "LD_PRELOAD", "ASAN_",
                                "LSAN_", "UBSAN_"))}
    proc = subprocess.run(["bash", str(REPO / "scripts" / "demo.sh")],
                          env=env, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    headers = re.findall(r"^\x1b\[1m== (\d+)\. ", proc.stdout, re.M)
    assert headers == [str(n) for n in range(1, 9)], output[-6000:]
    for step in ("BEGIN PKCS#11 PROVIDER URI",        # the key file (ours)
                 "EC private key on a PKCS#11 token",  # pkey -text (ours)
                 "answered: ecived eht morf olleh",
                 "same secret on both sides",
                 "Done: the device key was made in the token"):
        assert step in output, f"missing {step!r}\n" + output[-6000:]
    # `x509 -issuer` of the certificate read from the token
    assert dn_field(proc.stdout, "issuer") == "CN=Demo CA", proc.stdout
    assert "BEGIN PRIVATE KEY" not in output, output[-6000:]
