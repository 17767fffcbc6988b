"""The directory benchmark runs end to end on a small world and reports the fields others rely on."""

from __future__ import annotations

import json
import subprocess
import sys

from focalpoint.bench.directory import run_directory_bench


def test_small_run_reports_every_field() -> None:
    """A 6-State run verifies and loads, and reports sizes, timings and lookup ratios (values not judged)."""
    r = run_directory_bench(states=6, contacts=3, repeats=1)
    assert r["states"] == 6
    assert r["contact_points"] == 18
    assert r["agreements"] == 7  # a ring of bilateral agreements plus one regional
    assert r["verify_load_ms"] > 0
    assert {"lookup_node_us", "lookup_pin_us", "lookup_agreement_us", "lookup_ratio_vs_tenth"} <= set(r)


def test_cli_prints_one_json_object() -> None:
    """`focalpoint bench directory --json` prints one object with states, contact_points, verify_load_ms."""
    out = subprocess.run(
        [sys.executable, "-m", "focalpoint", "bench", "directory", "--states", "4", "--contact-points", "2", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout)
    assert {"states", "contact_points", "verify_load_ms"} <= set(result)
    assert result["states"] == 4
