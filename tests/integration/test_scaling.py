"""scripts/scaling.sh (the benchmark's token-size table) runs: on two small
SoftHSM tokens its table parses, every time is positive, and the searches
of signing and listing are the same on both (the call counts come from
the fault module; the times are not judged here)."""
import os
import re

import pytest

from helpers import BUILD_DIR, REPO, assert_ok, describe, run

ROW = re.compile(r"^(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+"
                 r"(\d+)/(\d+)\s+(\d+)/(\d+)$", re.M)


@pytest.mark.skipif(bool(os.environ.get("PKCS11PROV_TEST_PRELOAD")),
                    reason="times a normal build; the sanitizer runs preload "
                    "their runtime into every process")
def test_scaling_table():
    proc = assert_ok(run(["bash", REPO / "scripts" / "scaling.sh"],
                         {"PKCS11PROV_BUILD_DIR": str(BUILD_DIR),
                          "SIZES": "3 30", "RUNS": "1"},
                         preload=False, timeout=300))
    rows = {int(m[0]): m for m in ROW.findall(proc.stdout)}
    assert set(rows) == {3, 30}, describe(proc)
    for row in rows.values():
        assert all(float(v) > 0 for v in row[1:5]), describe(proc)
    # searches of sign, searches of list
    assert rows[3][5] == rows[30][5] and rows[3][7] == rows[30][7], (
        describe(proc))
    # attribute calls of a listing grow with the keys listed, nothing else
    assert int(rows[30][8]) <= 10 * int(rows[3][8]), describe(proc)
