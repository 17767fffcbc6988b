"""The console benchmark runs on a small store through the CLI, and reports
every documented measure as a finite positive number (no speed is asserted here: the benchmark
judges its targets itself, on a quiet machine)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

from focalpoint.bench.console import TARGETS, format_console

_KEYS = {
    "links",
    "events",
    "setup_s",
    "rounds",
    "unit_links",
    "worklist_page_p50_ms",
    "worklist_page_p95_ms",
    "list_cases_p50_ms",
    "list_cases_p95_ms",
    "worklist_ratio_p95",
    "worklist_samples",
    "worklist_pages",
    "case_page_p50_ms",
    "case_page_p95_ms",
    "show_case_p50_ms",
    "show_case_p95_ms",
    "case_ratio_p95",
    "case_samples",
    "console_rss_mb",
    "console_rss_now_mb",
    "targets",
}


def _check(result: dict[str, Any], *, links: int, rounds: int) -> None:
    assert set(result) == _KEYS
    assert result["links"] == links
    assert result["rounds"] == rounds
    assert set(result["targets"]) == set(TARGETS)
    for name, verdict in result["targets"].items():
        assert verdict["value"] == result[name]
        assert verdict["met"] is (verdict["value"] <= verdict["target"])
    for key, value in result.items():
        if key != "targets":
            assert isinstance(value, int | float), key
            assert math.isfinite(value), key
            assert value > 0 or key == "setup_s", key
    assert result["worklist_samples"] == result["case_samples"] == rounds
    assert result["console_rss_now_mb"] <= result["console_rss_mb"]


def test_bench_console_json_through_the_cli_has_every_measure() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "focalpoint", "bench", "console", "--links", "200", "--rounds", "3", "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    _check(result, links=200, rounds=3)
    text = format_console(result)
    for measure in ("worklist page", "case page", "peak RSS"):
        assert measure in text
