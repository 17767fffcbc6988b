"""The case benchmark runs on a small store and prints every field others rely on, with sane values
(nothing is timed against a limit here: the targets are judged by the benchmark itself)."""

from __future__ import annotations

import json
import random
import subprocess
import sys

from focalpoint.bench.casedata import DAY_MS, history
from focalpoint.cases.fold import fold
from focalpoint.cases.stages import Side, Stage
from focalpoint.cases.state import Rules

_MEASURES = ("worklist_p95_ms", "timeline_p95_ms", "fold_1000_ms", "apply_overhead_ms")
_FIELDS = {
    "links",
    "events",
    "setup_s",
    "setup_flagged",
    "stages",
    "worklist_p50_ms",
    "worklist_raw_p50_ms",
    "worklist_raw_p95_ms",
    "worklist_ratio_p95",
    "timeline_p50_ms",
    "timeline_raw_p50_ms",
    "timeline_raw_p95_ms",
    "timeline_ratio_p95",
    "fold_1000_raw_ms",
    "fold_1000_ratio",
    "apply_overhead_p95_ms",
    "inbox_commit_p50_ms",
    "inbox_commit_p95_ms",
    "apply_ratio_p50",
    "targets",
    *_MEASURES,
}


def test_bench_cases_prints_every_measure_its_baseline_and_the_targets() -> None:
    """`bench cases --json` on 200 links reports each measure beside its baseline, and a verdict per target."""
    out = subprocess.run(
        [sys.executable, "-m", "focalpoint", "bench", "cases", "--links", "200", "--rounds", "10", "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    result = json.loads(out.stdout)
    assert set(result) >= _FIELDS
    assert result["links"] == 200 == sum(result["stages"].values())
    assert result["events"] >= 3 * 200
    assert result["setup_flagged"] == 0  # every invented history is one the transition table allows
    assert 1 <= result["worklist_rows"] <= 50  # 200 links across 20 units: a page of about 10
    assert result["timeline_events_max"] >= 3
    for name in _MEASURES:
        assert result[name] > 0
        assert set(result["targets"][name]) == {"target_ms", "value_ms", "met"}
        assert result["targets"][name]["met"] is (result[name] <= result["targets"][name]["target_ms"])
    for name in ("worklist", "timeline", "apply"):
        assert 1 <= result[f"{name}_samples"] <= 10
    # The reports and the deadline scan, each with its target and the fold path it replaced.
    for name in ("indicators_100k_s", "indicators_rss_mb", "ageing_100k_s", "deadline_scan_ms"):
        assert set(result["targets"][name]) == {"target", "value", "met"}
        assert result["targets"][name]["met"] is (result[name] <= result["targets"][name]["target"])
    assert result["indicators_unreadable"] == result["ageing_unreadable"] == 0
    assert result["indicators_outputs"] == 12  # I1-I12
    assert result["fold_per_link_ms"] > 0
    assert result["deadline_scan_scans"] == 20


def test_invented_histories_reach_their_stages_on_either_side_without_a_flag() -> None:
    """A full script ends in follow-up, a closed one in CLOSED, from either side's view, and no event is flagged."""
    rng = random.Random(7)
    now = 1_800_000_000_000
    for side in Side:
        for length, closed, stage in ((3, False, None), (17, False, Stage.FOLLOW_UP), (40, True, Stage.CLOSED)):
            events = history(rng, link_id="a" * 32, me="gr-ekka", partner="al-fp", our_side=side, os_state="AL",
                             unit="unit-01", length=length, start_ms=now - 400 * DAY_MS, end_ms=now - DAY_MS,
                             closed=closed)  # fmt: skip
            assert len(events) == length
            assert len({e.message_id for e in events}) == length
            state = fold(events, our_side=side, is_state="GR", os_state="AL", rules=Rules(), now_ms=now)
            assert state.flagged == []
            assert stage is None or state.stage is stage
