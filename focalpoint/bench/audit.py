"""``focalpoint bench audit``: append throughput, proof times and full verification of a large log.

Builds a log of N leaves (typical event sizes) in a temporary SQLite file, then times
inclusion and consistency proofs at random positions and a full verification. The
targets (docs/architecture.md, principle P7): proofs ≤ 5 ms at 10 M leaves, verification of 1 M leaves ≤ 30 s.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from focalpoint.storage.sqlite.audit_log import AuditLog

__all__ = ["format_audit", "run_audit_bench"]


def run_audit_bench(*, leaves: int, batch: int = 20_000, proofs: int = 200) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="focalpoint-audit-") as tmp:
        log = AuditLog(Path(tmp) / "audit.sqlite")
        try:
            t = time.perf_counter()
            for start in range(0, leaves, batch):
                log.append(
                    [
                        f"event {i} message_delivered gr-ekka al-shss".encode()
                        for i in range(start, min(leaves, start + batch))
                    ]
                )
            append_s = time.perf_counter() - t
            rng = random.Random(9162)  # noqa: S311 (reproducible positions, not secrecy)
            inclusion, consistency = [], []
            for _ in range(proofs):
                i = rng.randrange(leaves)
                t = time.perf_counter()
                log.inclusion_proof(i)
                inclusion.append((time.perf_counter() - t) * 1000)
                old = rng.randrange(1, leaves + 1)
                t = time.perf_counter()
                log.consistency_proof(old)
                consistency.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            damage = log.verify()
            verify_s = time.perf_counter() - t
        finally:
            log.close()
    if damage is not None:
        raise RuntimeError(f"benchmark log failed verification at {damage.index}: {damage.reason}")
    return {
        "leaves": leaves,
        "append_per_s": round(leaves / append_s),
        "append_batch": batch,
        "inclusion_proof_ms": round(statistics.median(inclusion), 3),
        "inclusion_proof_max_ms": round(max(inclusion), 3),
        "consistency_proof_ms": round(statistics.median(consistency), 3),
        "consistency_proof_max_ms": round(max(consistency), 3),
        "verify_s": round(verify_s, 2),
        # Verification is linear in the leaves: scaled to 1 M for comparison with the target.
        "verify_1m_s": round(verify_s * 1_000_000 / leaves, 2),
    }


def format_audit(r: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"{r['leaves']} leaves appended at {r['append_per_s']} /s (batches of {r['append_batch']})",
            f"inclusion proof {r['inclusion_proof_ms']} ms median ({r['inclusion_proof_max_ms']} max), "
            f"consistency proof {r['consistency_proof_ms']} ms median ({r['consistency_proof_max_ms']} max); "
            "target ≤ 5 ms at 10 M leaves",
            f"full verification {r['verify_s']} s ({r['verify_1m_s']} s per million leaves; target ≤ 30 s)",
        ]
    )
