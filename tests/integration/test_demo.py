"""The README's demo command works end to end: key generated in a fresh
SoftHSM token, CSR, CA certificate, signature, mutual TLS and ECDH."""
import os
import subprocess
from pathlib import Path

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
    for step in ("BEGIN PKCS#11 PROVIDER URI",
                 "EC private key on a PKCS#11 token",
                 "Certificate request self-signature verify OK",
                 "issuer=CN = Demo CA",
                 "Verified OK",
                 "Verification: OK",
                 "answered: ecived eht morf olleh",
                 "same secret on both sides",
                 "Done: the device key was made in the token"):
        assert step in output, f"missing {step!r}\n" + output[-6000:]
    assert "BEGIN PRIVATE KEY" not in output, output[-6000:]
