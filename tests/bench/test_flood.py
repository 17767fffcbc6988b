"""The flood benchmark runs briefly (three node processes) and prints the fields others rely on
(values not judged: speed targets are never timed tests)."""

from __future__ import annotations

import json

import pytest

from tests.support.procs import cli

pytestmark = pytest.mark.slow


def test_bench_flood_prints_both_latencies_their_ratio_and_what_the_flood_was() -> None:
    """`focalpoint bench flood --json`: the honest p50/p99 alone and flooded, the ratios, and a flood that ran."""
    result = cli("bench", "flood", "--messages", "10", "--streams", "2", "--batch", "32", "--json", timeout_s=180)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    keys = {"alone_p50_ms", "alone_p99_ms", "flooded_p50_ms", "flooded_p99_ms", "p50_ratio", "p99_ratio"}
    assert keys <= set(report)
    assert report["messages"] == 10
    assert report["flood_envelopes_per_s"] > 0  # the flooder's envelopes reached the receiver
    assert report["p50_ratio"] == pytest.approx(report["flooded_p50_ms"] / report["alone_p50_ms"], rel=0.01)
