"""The people benchmark runs with tiny counts, through its function and through the CLI, and reports
every documented measure as a finite number, positive but for the differences (no speed is
asserted: benchmarks judge that, on a quiet machine)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

from focalpoint.bench.people import format_people, run_people_bench

_TINY = ("--logins", "2", "--calls", "10", "--hashes", "2")
_PARAMS = {"time_cost", "memory_kib", "parallelism"}
_KEYS = {
    "hashes",
    "default_params",
    "floor_params",
    *(f"{op}_{cost}_{q}_ms" for op in ("hash", "verify") for cost in ("default", "floor") for q in ("p50", "p95")),
    "default_vs_floor",
    "logins",
    "tick_ms",
    "login_wall_ms",
    "login_stall_ms",
    "onloop_wall_ms",
    "onloop_stall_ms",
    "stall_ratio",
    "calls",
    "door_samples",
    "timeline_events",
    "show_case_p50_ms",
    "show_case_p95_ms",
    "timeline_direct_p50_ms",
    "timeline_direct_p95_ms",
    "health_p50_ms",
    "health_p95_ms",
    "show_vs_direct_p50",
    "show_vs_health_p50",
    "show_minus_direct_p50_ms",
    "show_minus_health_p50_ms",
}


def _numbers(value: Any, where: str = "") -> list[tuple[str, float]]:
    """Every number in ``value`` (nested dicts included), with its key path."""
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in _numbers(v, f"{where}.{k}" if where else k)]
    assert isinstance(value, int | float), f"{where} is not a number: {value!r}"
    assert not isinstance(value, bool), f"{where} is not a number: {value!r}"
    return [(where, float(value))]


def _check(result: dict[str, Any], *, logins: int, calls: int, hashes: int) -> None:
    assert set(result) == _KEYS
    assert set(result["default_params"]) == _PARAMS == set(result["floor_params"])
    for where, number in _numbers(result):
        assert math.isfinite(number), f"{where} = {number}"
        if "minus" not in where:  # a difference of two medians may be ≤ 0 on a noisy machine
            assert number > 0, f"{where} = {number}"
    assert (result["logins"], result["calls"], result["hashes"]) == (logins, calls, hashes)
    assert 1 <= result["door_samples"] <= calls
    assert result["timeline_events"] >= 1
    assert result["default_params"] == {"time_cost": 3, "memory_kib": 65536, "parallelism": 4}
    assert result["floor_params"] == {"time_cost": 2, "memory_kib": 19456, "parallelism": 1}


async def test_bench_people_reports_every_measure_beside_its_baseline() -> None:
    """Run through its function: hashing at both costs, two logins beside the ticker and on the
    loop, ten rounds of the door; the human table names every measure."""
    result = await run_people_bench(logins=2, calls=10, hashes=2)
    _check(result, logins=2, calls=10, hashes=2)
    table = format_people(result)
    for words in ("argon2id", "one-worker pool", "event loop", "ShowCase", "CaseDesk.timeline", "GetHealth"):
        assert words in table


def test_bench_people_cli_prints_one_json_object() -> None:
    """`focalpoint bench people --json` with tiny counts prints the same keys, and nothing else on stdout."""
    out = subprocess.run(
        [sys.executable, "-m", "focalpoint", "bench", "people", *_TINY, "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    _check(json.loads(out.stdout), logins=2, calls=10, hashes=2)
