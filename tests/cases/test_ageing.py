"""The ageing report's four views on a small fixed population (hand-computed counts)."""

from __future__ import annotations

import json

import pytest

from focalpoint.cases import ageing
from focalpoint.cases.ageing import LinkAgeing, OpenRequest
from focalpoint.cases.clocks import DAY_MS, Clock, Deadline, Level, Urgency
from focalpoint.cases.disclosure import marker
from focalpoint.cases.requests import TrackedRequest
from focalpoint.cases.stages import Stage
from focalpoint.errors import UsageError

NOW = 1_000 * DAY_MS


def _req(kind: str, age_days: int, *, overdue_days: int = 0, l3: bool = False) -> OpenRequest:
    started = NOW - age_days * DAY_MS
    return OpenRequest(
        kind=kind,
        urgency="ROUTINE",
        we_asked=True,
        started_at_ms=started,
        due_ms=NOW - overdue_days * DAY_MS if overdue_days else started + 30 * DAY_MS,
        overdue_ms=overdue_days * DAY_MS,
        l3=l3,
    )


def _link(ref: str, partner: str, stage: Stage, days_in_stage: int, *reqs: OpenRequest, unit: str = "u1") -> LinkAgeing:
    return LinkAgeing(ref, partner, unit, stage, NOW - days_in_stage * DAY_MS, tuple(reqs))


SI = "social_inquiry_request"
TR = "tracing_request"

# AL: two social inquiries (5 and 20 days, the second overdue... no: 20 < 30, on time) and one 45
# days old and overdue with L3 taken; a tracing request 100 days old; a closed link (ignored).
# BE: twelve links in ASSESSMENT, eleven over 90 days; each with one social inquiry 10 days old.
POPULATION = (
    _link("R-1", "AL", Stage.ASSESSMENT, 3, _req(SI, 5), _req(SI, 20)),
    _link("R-2", "AL", Stage.ASSESSMENT, 50, _req(SI, 45, overdue_days=15, l3=True), _req(TR, 100, overdue_days=70)),
    _link("R-3", "AL", Stage.NOTIFIED, 8, unit="u2"),
    _link("R-4", "AL", Stage.CLOSED, 500, _req(SI, 400)),
    *(_link(f"B-{i:02}", "BE", Stage.ASSESSMENT, 91 + i if i else 40, _req(SI, 10), unit="u2") for i in range(12)),
)


def test_open_requests_from_tracked() -> None:
    def tracked(mid: bytes, **kw: object) -> TrackedRequest:
        base: dict[str, object] = {
            "message_id": mid,
            "kind": SI,
            "side": "requester",
            "urgency": Urgency.ROUTINE,
            "sent_at_ms": NOW - 40 * DAY_MS,
            "deadline": Deadline(SI, Urgency.ROUTINE, 2 * DAY_MS, 30 * DAY_MS),
            "clock": Clock(period_ms=30 * DAY_MS, started_at_ms=NOW - 35 * DAY_MS),
            "started_at_ms": NOW - 35 * DAY_MS,
        }
        base.update(kw)
        return TrackedRequest(**base)  # type: ignore[arg-type]

    got = ageing.open_requests(
        [
            tracked(b"a"),
            tracked(b"b", started_at_ms=None, clock=Clock(period_ms=30 * DAY_MS)),  # not receipted
            tracked(b"c", answered_at_ms=NOW - DAY_MS),  # answered
            tracked(  # no response deadline, unacknowledged for 3 days past its 2
                b"d",
                kind="case_notification",
                clock=None,
                started_at_ms=NOW - 5 * DAY_MS,
                deadline=Deadline("case_notification", Urgency.ROUTINE, 2 * DAY_MS, None),
            ),
        ],
        {b"a": frozenset({(Level.REMINDER_L1, 0), (Level.REMINDER_L3, 0)})},
        NOW,
    )
    assert [(r.kind, r.overdue_ms // DAY_MS, r.l3) for r in got] == [(SI, 5, True), ("case_notification", 3, False)]
    assert got[0].due_ms == NOW - 5 * DAY_MS


def test_unit_view_is_exact_and_own_unit_only() -> None:
    view = ageing.unit_view(POPULATION, "u1", NOW)
    assert [(r.reference, r.kind, r.days_overdue, r.days_in_stage) for r in view.rows] == [
        ("R-2", TR, 70, 50),
        ("R-2", SI, 15, 50),
        ("R-1", SI, 0, 3),
        ("R-1", SI, 0, 3),
    ]
    d = view.as_dict()
    assert d["exempt"] is True
    assert d["unit_id"] == "u1"
    assert "unit" not in d["rows"][0]  # type: ignore[index]
    with pytest.raises(UsageError):
        ageing.unit_view(POPULATION, "", NOW)


def test_routing_view_lists_links_without_requests_and_no_days_in_stage() -> None:
    view = ageing.routing_view(POPULATION, NOW)
    assert len(view.rows) == 4 + 1 + 12  # R-1 ×2, R-2 ×2, R-3 (no request), B-00..B-11; R-4 closed
    r3 = next(r for r in view.rows if r.reference == "R-3")
    assert (r3.kind, r3.due_ms, r3.unit) == ("", None, "u2")
    assert view.header() == ("reference", "kind", "partner", "urgency", "due_ms", "days_overdue", "stage", "unit")
    assert all(len(row) == len(view.header()) for row in view.csv_rows())


def test_bilateral_view_buckets_counts_and_medians() -> None:
    view = ageing.bilateral_view(POPULATION, NOW)
    by = {(e["partner"], e["kind"]): e for e in view.requests}
    al_si = by[("AL", SI)]
    assert al_si["open"] == 3
    assert al_si["overdue"] == 1
    assert al_si["l3_escalated"] == 1
    assert al_si["age_buckets"] == {"0-7": 1, "8-14": 0, "15-30": 1, "31-60": 1, "61-90": 0, "OVER_90": 0}
    assert al_si["median_age_days"] is None  # 3 values: below 10
    assert al_si["oldest_age_days"] == 45
    assert by[("AL", TR)]["age_buckets"]["OVER_90"] == 1  # type: ignore[index]
    be = by[("BE", SI)]
    assert be["open"] == 12
    assert be["median_age_days"] == 10.0
    assert be["overdue"] == 0
    links = {e["partner"]: e for e in view.links}
    assert links["AL"]["open_links"] == 3
    assert links["AL"]["stuck_in_assessment_percent"] is None
    assert links["AL"]["stages"]["ASSESSMENT"]["links"] == 2  # type: ignore[index]
    assert links["BE"]["stuck_in_assessment"] == 11
    assert links["BE"]["stuck_in_assessment_percent"] == round(100 * 11 / 12, 1)
    stage = links["BE"]["stages"]["ASSESSMENT"]  # type: ignore[index]
    assert stage["median_days_in_stage"] == 96.5
    assert stage["p90_days_in_stage"] == 101.0
    json.dumps(view.as_dict())
    assert ("BE", SI, "age_buckets.8-14", "12") in {tuple(r) for r in view.csv_rows()}


def test_audit_view_suppresses_small_counts_and_drops_the_oldest() -> None:
    view = ageing.audit_view(POPULATION, NOW)
    d = view.as_dict()
    assert d["suppressed"] is True
    by = {(e["partner"], e["kind"]): e for e in view.requests}
    assert by[("AL", SI)]["open"] == marker()  # 3: withheld
    assert by[("AL", SI)]["l3_escalated"] == marker()
    # BE's 12 would give AL's 3 away from the column total: withheld too (complementary).
    assert by[("BE", SI)]["open"] == marker()
    # A median beside the withheld count would tell it is at least 10: none either.
    assert by[("BE", SI)]["median_age_days"] is None
    assert by[("BE", SI)]["p90_age_days"] is None
    assert all("oldest_age_days" not in e for e in view.requests)
    links = {e["partner"]: e for e in view.links}
    # 1 of 12 is not stuck: the complement is small and 12 < 19, so no percentage at all.
    assert links["BE"]["stuck_in_assessment_percent"] is None
    assert links["AL"]["open_links"] == marker()
    cells = [c for t in d["tables"].values() for row in t["cells"] for c in row]  # type: ignore[attr-defined]
    assert all(c == 0 or c == marker() or c >= 10 for c in cells)
    json.dumps(d)


def test_audit_view_of_nothing_and_unknown_view() -> None:
    assert ageing.audit_view([], NOW).as_dict()["requests"] == []
    with pytest.raises(UsageError):
        ageing.report("oldest", POPULATION, now_ms=NOW)
