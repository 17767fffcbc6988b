"""The audit benchmark runs on a small log and prints the fields others rely on (values not judged)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_bench_audit_prints_one_json_object() -> None:
    """`focalpoint bench audit --json` reports leaves, append rate, proof times and verification time."""
    out = subprocess.run(
        [sys.executable, "-m", "focalpoint", "bench", "audit", "--leaves", "3000", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout)
    assert {"leaves", "append_per_s", "inclusion_proof_ms", "consistency_proof_ms", "verify_1m_s"} <= set(result)
    assert result["leaves"] == 3000
