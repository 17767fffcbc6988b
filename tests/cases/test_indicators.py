"""The indicators, each against a hand-computed expectation on a small fixed population, read from
real folded events where it matters, and published without ever showing a count from 1 to 9."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from focalpoint.audit import events as audit_events
from focalpoint.cases.codec import decode_event, encode_event
from focalpoint.cases.disclosure import K, Measured, Period, publish
from focalpoint.cases.events import Facts, GateClaim
from focalpoint.cases.facts import age_band, facts_of
from focalpoint.cases.gate import CONDITIONS, G1, G2, G3, G4
from focalpoint.cases.indicators import (
    DEFINITIONS,
    LinkFacts,
    MissingEpisode,
    RequestFacts,
    ageing_bucket,
    compute,
    for_period,
    i1_guardian,
    i2_response_times,
    i3_gate,
    i4_detentions,
    i5_disappearances,
    i6_status_at_12_months,
    i7_time_to_solution,
    i8_stalled,
    i9_identified,
    i10_age_outcomes,
    i11_child_heard,
    i12_governance,
    link_facts,
)
from focalpoint.cases.requests import TRACKED_KINDS, tracked_requests
from focalpoint.cases.stages import Side, Stage
from focalpoint.cases.state import Rules
from focalpoint.v1 import audit_pb2, common_pb2, messages_pb2
from tests.support.story import DAY, T0, Story, approval, passing_gate

HOUR = 3_600_000
Q3 = Period(2026, 3)


def _ms(year: int, month: int, day: int = 1, hour: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, tzinfo=dt.UTC).timestamp() * 1000)


JUL = _ms(2026, 7, 1)
AFTER = Q3.end_ms + DAY


def _link(case: str, role: str = "IDENTIFYING", **kw: Any) -> LinkFacts:
    return LinkFacts(case_id=case, role=role, partner_state="AL", **kw)


def _counts(m: Measured) -> dict[str, int]:
    return dict(m.counts)


def _ratios(m: Measured) -> dict[str, tuple[int, int]]:
    return {n.removesuffix("_percent"): (a, b) for n, a, b in m.ratios}


def _table(m: Measured, name: str) -> dict[tuple[str, ...], int]:
    """The non-zero cells of a measured table, by their dimension values."""
    table = dict(m.tables)[name]
    out: dict[tuple[str, ...], int] = {}
    rows = table.dimensions[0].values
    cols = table.dimensions[1].values if table.two_dimensional else ("",)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            if table.cells[i][j]:
                out[(r, c) if table.two_dimensional else (r,)] = table.cells[i][j]
    return out


# ---------------------------------------------------------------------------------------------
# Each indicator by hand


def test_i1_guardian_in_time_late_overdue_one_child_per_case() -> None:
    """A in 10 h (IN_TIME, two links: counted once), B in 30 h (LATE), C none and open (a breach); a
    verified adult, a child identified in Q2 and a child of ours identified abroad are not counted."""
    at = JUL + 5 * DAY
    open_ = ((at, Stage.ASSESSMENT),)
    links = [
        _link("a", identified_at_ms=at, guardian_appointed_at_ms=at + 10 * HOUR, age_band="15-17", history=open_),
        _link("a", identified_at_ms=at, guardian_appointed_at_ms=at + 10 * HOUR, age_band="15-17", history=open_),
        _link("b", identified_at_ms=at, guardian_appointed_at_ms=at + 30 * HOUR, age_band="12-14", history=open_),
        _link("c", identified_at_ms=at, age_band="12-14", history=open_),
        _link("d", identified_at_ms=at, minority="VERIFIED_ADULT", history=open_),
        _link("e", identified_at_ms=JUL - 5 * DAY, history=open_),
        _link("f", role="ORIGIN", identified_at_ms=at, history=open_),
    ]
    m = i1_guardian(links, Q3, now_ms=AFTER)
    assert _counts(m) == {"children": 3, "guardian_in_time": 1, "open_breaches": 1}
    assert _ratios(m) == {"guardian_in_time": (1, 3)}
    assert dict(m.durations)["hours_to_guardian"] == (10.0, 30.0)
    assert _table(m, "by_age_band") == {("15-17", "IN_TIME"): 1, ("12-14", "LATE"): 1, ("12-14", "NONE_OVERDUE"): 1}
    # Within its first day, C is not yet overdue; a shorter agreed deadline makes B's 30 h and A's 10 h late.
    early = i1_guardian(links, Q3, now_ms=at + HOUR)
    assert _table(early, "by_age_band") == {("15-17", "NONE_NOT_YET_DUE"): 1, ("12-14", "NONE_NOT_YET_DUE"): 2}
    short = [dataclasses.replace(lk, guardian_deadline_hours=8) for lk in links]
    assert _counts(i1_guardian(short, Q3, now_ms=AFTER))["guardian_in_time"] == 0


def _request(kind: str = "social_inquiry_request", *, we_asked: bool = True, **kw: Any) -> RequestFacts:
    return RequestFacts(kind=kind, we_asked=we_asked, urgency="ROUTINE", **kw)


def test_i2_response_times_both_directions_by_hand() -> None:
    """Seventeen requests to AL received in Q3 (a routine social inquiry has 30 days): ten answered in
    2–20 days, one late at 40 days (its answer is its acknowledgement), one answered at day 35 after a
    10-day clarification stop (in time: due at day 40), one withdrawn (counted, timed nowhere), one open
    past due, one answered only after the quarter (past due at its end), one not yet due and a
    notification (no response deadline). Left out: one received in June, one never receipted. Two
    requests to us: a tracing request answered in time (AL), an identity check late (MK)."""
    s = JUL + DAY
    thirty, end = 30 * DAY, Q3.end_ms
    sent = [
        _request(
            started_at_ms=s,
            acknowledged_at_ms=s + (i + 1) * HOUR,
            answered_at_ms=s + 2 * (i + 1) * DAY,
            period_ms=thirty,
        )
        for i in range(10)
    ]
    sent += [
        _request(started_at_ms=s, answered_at_ms=s + 40 * DAY, period_ms=thirty),
        _request(
            started_at_ms=s,
            acknowledged_at_ms=s + 2 * HOUR,
            answered_at_ms=s + 35 * DAY,
            period_ms=thirty,
            stops=((s + 5 * DAY, s + 15 * DAY),),
        ),
        _request(started_at_ms=s, acknowledged_at_ms=s + HOUR, withdrawn_at_ms=s + 3 * DAY, period_ms=thirty),
        _request(started_at_ms=s, acknowledged_at_ms=s + 5 * HOUR, period_ms=thirty),
        _request(started_at_ms=end - 5 * DAY, period_ms=thirty),
        _request(started_at_ms=JUL - 5 * DAY, answered_at_ms=s, period_ms=thirty),
        _request(period_ms=thirty),
        _request("case_notification", started_at_ms=s, acknowledged_at_ms=s + 3 * HOUR),
        _request(started_at_ms=s, answered_at_ms=end + DAY, period_ms=thirty),
    ]
    links = [
        _link("a", requests=tuple(sent[:9])),
        _link(
            "b",
            requests=(
                *sent[9:],
                _request(
                    "tracing_request",
                    we_asked=False,
                    started_at_ms=s,
                    acknowledged_at_ms=s + HOUR,
                    answered_at_ms=s + 10 * DAY,
                    period_ms=thirty,
                ),
            ),
        ),
        LinkFacts(
            case_id="c",
            role="ORIGIN",
            partner_state="MK",
            requests=(
                _request(
                    "identity_verification_request",
                    we_asked=False,
                    started_at_ms=s,
                    answered_at_ms=s + 20 * DAY,
                    period_ms=15 * DAY,
                ),
            ),
        ),
    ]
    m = i2_response_times(links, Q3, now_ms=AFTER)
    assert _counts(m) == {
        "partner_responding.requests": 17,
        "partner_responding.open_overdue": 2,
        "we_responding.requests": 2,
        "we_responding.open_overdue": 0,
    }
    assert _ratios(m) == {
        "partner_responding.answered_in_time": (11, 14),
        "partner_responding.AL.answered_in_time": (11, 14),
        "we_responding.answered_in_time": (1, 2),
        "we_responding.AL.answered_in_time": (1, 1),
        "we_responding.MK.answered_in_time": (0, 1),
    }
    assert _table(m, "partner_responding.by_partner_and_kind") == {
        ("AL", "social_inquiry_request"): 16,
        ("AL", "case_notification"): 1,
    }
    assert _table(m, "we_responding.by_partner_and_kind") == {
        ("AL", "tracing_request"): 1,
        ("MK", "identity_verification_request"): 1,
    }
    durations = {name: sorted(v) for name, v in m.durations}
    answers = [2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0, 20.0, 35.0, 40.0]
    assert durations == {
        "partner_responding.hours_to_acknowledgement": [1, 2, 2, 3, 3, 4, 5, 5, 6, 7, 8, 9, 10, 960],
        "partner_responding.days_to_answer": answers,
        "partner_responding.AL.days_to_answer": answers,
        "partner_responding.AL.case_notification.days_to_answer": [],
        "partner_responding.AL.social_inquiry_request.days_to_answer": answers,
        "we_responding.hours_to_acknowledgement": [1, 480],
        "we_responding.days_to_answer": [10.0, 20.0],
        "we_responding.AL.days_to_answer": [10.0],
        "we_responding.AL.tracing_request.days_to_answer": [10.0],
        "we_responding.MK.days_to_answer": [20.0],
        "we_responding.MK.identity_verification_request.days_to_answer": [20.0],
    }
    out = publish(
        m,
        definition_id="I2",
        definition_version=1,
        code_list_version="1",
        period=Q3,
        node_id="gr-ekka",
        measure="flow",
        now_ms=AFTER,
    )
    figures = {f.name: (f.value, f.unit) for f in out.figures}
    assert figures["partner_responding.hours_to_acknowledgement.median"] == (5.0, "hours")
    assert figures["partner_responding.hours_to_acknowledgement.p90"] == (10.0, "hours")
    assert figures["partner_responding.days_to_answer.median"] == (13.0, "days")
    assert figures["partner_responding.days_to_answer.p90"] == (35.0, "days")
    assert figures["partner_responding.answered_in_time_percent"][0] is None  # 3 of 14 late: too few
    assert figures["we_responding.requests"][0] == "<10"
    assert figures["we_responding.days_to_answer.median"] == (None, "days")
    # Within the quarter, a week after the receipt: the ten answered by day 6 are not all in yet.
    early = i2_response_times(links, Q3, now_ms=s + 7 * DAY)
    assert _ratios(early)["partner_responding.answered_in_time"] == (3, 3)
    assert _counts(early)["partner_responding.open_overdue"] == 0
    # No links: no tables, and nothing to time.
    assert i2_response_times([], Q3, now_ms=AFTER).tables == ()


def test_i2_reads_tracked_requests_with_their_stops_and_withdrawals_from_folded_events() -> None:
    """A social inquiry whose clock a clarification stops for ten days is answered at day 35 (in time);
    an identity check the requester withdraws is timed nowhere."""
    st_ = Story()
    n = st_.notify()
    st_.acknowledge(n)
    si = st_.send(Side.IS, "social_inquiry_request")
    q = st_.send(Side.OS, "clarification_request", refers_to=si.message_id, stops_clock=True, after_ms=5 * DAY)
    st_.send(Side.IS, "clarification_response", refers_to=q.message_id, after_ms=10 * DAY)
    iv = st_.send(Side.IS, "identity_verification_request")
    st_.send(Side.IS, "withdrawal", refers_to=iv.message_id, after_ms=DAY)
    st_.send(Side.OS, "social_inquiry_report", in_reply_to=si.message_id, after_ms=si.at_ms + 35 * DAY - st_.clock)
    events = st_.view(Side.IS)
    receipts = {
        e.message_id: e.at_ms for e in events if e.kind in ("social_inquiry_request", "identity_verification_request")
    }
    tracked = tracked_requests(events, receipts=receipts)
    lf = link_facts(st_.fold(Side.IS), events, case_id="c4", rules=Rules(), tracked=tracked)
    by_kind = {r.kind: r for r in lf.requests}
    inquiry = by_kind["social_inquiry_request"]
    assert inquiry == RequestFacts(
        kind="social_inquiry_request",
        we_asked=True,
        urgency="ROUTINE",
        started_at_ms=si.at_ms,
        answered_at_ms=si.at_ms + 35 * DAY,
        period_ms=30 * DAY,
        stops=((q.at_ms, q.at_ms + 10 * DAY),),
    )
    withdrawn = by_kind["identity_verification_request"]
    assert withdrawn.answered_at_ms is None
    assert withdrawn.withdrawn_at_ms == iv.at_ms + DAY
    assert all(
        isinstance(getattr(inquiry, f.name), (int, str, bool, tuple, type(None))) for f in dataclasses.fields(inquiry)
    )
    year = Period(dt.datetime.fromtimestamp(T0 / 1000, dt.UTC).year)
    m = i2_response_times([lf], year, now_ms=st_.clock)
    assert _ratios(m)["partner_responding.answered_in_time"] == (1, 1)
    assert dict(m.durations)["partner_responding.days_to_answer"] == (35.0,)
    assert _table(m, "partner_responding.by_partner_and_kind") == {
        ("AL", "social_inquiry_request"): 1,
        ("AL", "identity_verification_request"): 1,
    }


def _gate(met: set[str], waived: frozenset[str] = frozenset(), reason: str = "") -> GateClaim:
    return GateClaim(frozenset(met), frozenset(CONDITIONS) - frozenset(met), waived, reason)


def test_i3_core_conditions_without_override_full_gate_and_overrides_by_reason() -> None:
    at = JUL + 10 * DAY
    links = [
        _link("a", departed_at_ms=at, departure_gate=_gate(set(CONDITIONS))),
        _link("b", departed_at_ms=at, departure_gate=_gate(set(CONDITIONS) - {G4})),
        _link("c", departed_at_ms=at, departure_gate=_gate({G1, G3}, frozenset({G2, G4}), "COURT_ORDER")),
        _link("d", departed_at_ms=JUL - DAY, departure_gate=_gate(set(CONDITIONS))),
    ]
    m = i3_gate(links, Q3)
    assert _counts(m) == {"departures": 3, "g1_g3_met_without_override": 2, "g1_g5_met": 1}
    assert _ratios(m) == {"g1_g3_met_without_override": (2, 3), "g1_g5_met": (1, 3)}
    assert _table(m, "overrides_by_reason") == {("COURT_ORDER",): 1}


def test_i4_detention_counts_between_agreement_and_30_days_after_handover() -> None:
    agreed, departed, handed = JUL, JUL + 10 * DAY, JUL + 11 * DAY
    base: dict[str, Any] = {"agreed_at_ms": agreed, "departed_at_ms": departed, "handed_over_at_ms": handed}
    links = [
        _link("a", detentions_ms=(departed + HOUR,), **base),
        _link("b", detentions_ms=(agreed - DAY,), **base),  # before the agreement
        _link("c", detentions_ms=(handed + 31 * DAY,), **base),  # after the window
        _link("d", detentions_ms=(handed + 29 * DAY,), **base),
        _link("e", **base),
    ]
    m = i4_detentions(links, Q3, now_ms=AFTER)
    assert _counts(m) == {"returns": 5, "returns_with_detention": 2}
    assert _ratios(m) == {"detentions_per_100_returns": (2, 5)}


def test_i5_missing_entries_by_stage_found_within_30_days_and_not_found_closures() -> None:
    links = [
        _link("a", missing=(MissingEpisode(JUL + DAY, Stage.ASSESSMENT, JUL + 11 * DAY),)),
        _link("b", missing=(MissingEpisode(JUL + DAY, Stage.NEGOTIATION, JUL + 40 * DAY),)),
        _link("c", missing=(MissingEpisode(JUL - DAY, Stage.ASSESSMENT),)),
        _link("d", outcome="MISSING_NOT_FOUND", closed_at_ms=JUL + 3 * DAY),
    ]
    m = i5_disappearances(links, Q3)
    assert _table(m, "entries_by_stage") == {("ASSESSMENT",): 1, ("NEGOTIATION",): 1}
    assert _counts(m) == {"entries": 2, "found_within_30_days": 1, "closed_missing_not_found": 1}


def test_i6_cohort_is_handovers_12_to_15_months_before_the_period_end() -> None:
    year = Period(2026)
    links = [
        _link("a", handed_over_at_ms=_ms(2025, 11, 1), m12_living="WITH_PARENTS"),
        _link("b", handed_over_at_ms=_ms(2025, 12, 15)),
        _link("c", handed_over_at_ms=_ms(2025, 10, 1), m12_living="RE_TRAFFICKED_SUSPECTED"),
        _link("d", handed_over_at_ms=_ms(2025, 9, 30), m12_living="WITH_PARENTS"),  # 15 months and a day
        _link("e", handed_over_at_ms=_ms(2026, 1, 1), m12_living="WITH_PARENTS"),  # less than 12 months
    ]
    m = i6_status_at_12_months(links, year)
    assert _table(m, "living_situation_at_m12") == {
        ("WITH_PARENTS",): 1,
        ("NO_M12_REPORT",): 1,
        ("RE_TRAFFICKED_SUSPECTED",): 1,
    }


def test_i7_days_to_agreement_and_handover_and_share_within_six_months() -> None:
    links = [
        _link("a", identified_at_ms=JUL - 30 * DAY, agreed_at_ms=JUL),
        _link("b", identified_at_ms=JUL - 100 * DAY, handed_over_at_ms=JUL),
        _link("c", identified_at_ms=JUL - 200 * DAY, handed_over_at_ms=JUL),
        _link("d", identified_at_ms=JUL - 200 * DAY, handed_over_at_ms=JUL - DAY),
    ]
    m = i7_time_to_solution(links, Q3)
    assert dict(m.durations) == {"days_to_agreement": (30.0,), "days_to_handover": (100.0, 200.0)}
    assert _ratios(m) == {"handovers_within_6_months": (1, 2)}


def test_i8_open_links_at_the_period_end_by_stage_and_age_and_the_stalled_share() -> None:
    end = Q3.end_ms
    links = [
        _link("a", history=((end - 200 * DAY, Stage.NOTIFIED), (end - 100 * DAY, Stage.ASSESSMENT))),
        _link("b", history=((end - 100 * DAY, Stage.ASSESSMENT),)),
        _link("c", history=((end - 50 * DAY, Stage.ASSESSMENT), (end - 5 * DAY, Stage.NEGOTIATION))),
        _link("d", history=((end - 50 * DAY, Stage.ASSESSMENT), (end - 5 * DAY, Stage.CLOSED))),
        _link("e", history=((end + DAY, Stage.NOTIFIED),)),  # opened after the period
    ]
    m = i8_stalled(links, Q3, now_ms=end + 30 * DAY)
    assert _counts(m) == {"open": 3, "assessment_over_90_days": 2}
    assert _table(m, "open_by_stage_and_days") == {("ASSESSMENT", "OVER_90"): 2, ("NEGOTIATION", "0-7"): 1}
    assert [ageing_bucket(d) for d in (0, 7, 8, 14, 15, 30, 31, 60, 61, 90, 91)] == [
        "0-7",
        "0-7",
        "8-14",
        "8-14",
        "15-30",
        "15-30",
        "31-60",
        "31-60",
        "61-90",
        "61-90",
        "OVER_90",
    ]


def test_i9_children_by_role_sex_age_status_and_exploitation_mentions() -> None:
    at = JUL + DAY
    links = [
        _link("a", identified_at_ms=at, sex="F", age_band="15-17", exploitation_forms=frozenset({"SEXUAL", "LABOUR"})),
        _link("a", identified_at_ms=at, sex="F", age_band="15-17"),  # the same child on a second link
        _link("b", identified_at_ms=at, sex="M", identification_status="SEPARATED"),
        _link("c", role="ORIGIN", identified_at_ms=at, sex="M", exploitation_forms=frozenset({"LABOUR"})),
        _link("d", identified_at_ms=JUL - DAY, sex="F"),
    ]
    m = i9_identified(links, Q3)
    assert _counts(m) == {"children": 3}
    assert _table(m, "by_role_and_sex") == {("IDENTIFYING", "F"): 1, ("IDENTIFYING", "M"): 1, ("ORIGIN", "M"): 1}
    assert _table(m, "by_age_band") == {("15-17",): 1, ("UNKNOWN_PRESUMED_MINOR",): 2}
    assert _table(m, "by_identification_status") == {("SEPARATED",): 1}
    assert _table(m, "exploitation_form_mentions") == {("SEXUAL",): 1, ("LABOUR",): 2}


def test_i10_presumed_minors_by_what_the_presumption_became() -> None:
    at = JUL + DAY
    links = [
        _link("a", identified_at_ms=at, minority="VERIFIED_MINOR"),
        _link("b", identified_at_ms=at, minority="VERIFIED_ADULT"),
        _link("b", identified_at_ms=at),
        _link("c", identified_at_ms=at),
    ]
    m = i10_age_outcomes(links, Q3)
    assert _table(m, "by_outcome") == {("VERIFIED_MINOR",): 1, ("VERIFIED_ADULT",): 1, ("PRESUMED_MINOR",): 1}
    assert _ratios(m) == {"verified_adult": (1, 3), "unresolved": (1, 3)}


def test_i11_heard_before_signature_and_departures_from_the_childs_views() -> None:
    links = [
        _link("a", agreed_at_ms=JUL, heard_before_agreement=True, departs_from_views=True, departure_reason_given=True),
        _link("b", agreed_at_ms=JUL, departs_from_views=True),
        _link("c", agreed_at_ms=JUL, heard_before_agreement=True),
        _link("d", agreed_at_ms=JUL - DAY, heard_before_agreement=True),
    ]
    m = i11_child_heard(links, Q3)
    assert _ratios(m) == {
        "g3_met_before_signature": (2, 3),
        "departing_from_views": (2, 3),
        "departing_with_reason": (1, 2),
    }


def test_i12_governance_from_the_audit_log_and_unilateral_closures() -> None:
    at = JUL + DAY
    leaves = [
        audit_events.break_glass(at_ms=at, actor="u1", case_ref="GR-X", reason_code="EMERGENCY", until_ms=at + HOUR),
        audit_events.viewed(at_ms=at, actor="u1", case_ref="GR-X", peer="al", view="FULL", purpose="BREAK_GLASS"),
        audit_events.viewed(at_ms=at, actor="u2", case_ref="GR-X", peer="al", view="FULL", purpose="CASE_WORK"),
        audit_events.access_denied(at_ms=at, actor="u3", action="read"),
        audit_events.access_denied(at_ms=JUL - DAY, actor="u3", action="read"),
        audit_events.status_changed(
            at_ms=at, actor="u1", case_ref="GR-X", status="gate:override COURT_ORDER waives G2"
        ),
    ]
    audit = [audit_pb2.AuditEvent.FromString(leaf) for leaf in leaves]
    links = [_link("a", unilateral=True, closed_at_ms=at), _link("b", unilateral=True, closed_at_ms=JUL - DAY)]
    m = i12_governance(links, audit, Q3)
    assert _counts(m) == {
        "break_glass_opened": 1,
        "break_glass_reads": 1,
        "access_denied": 1,
        "gate_overrides": 1,
        "unilateral_closures": 1,
    }
    assert _table(m, "gate_overrides_by_reason") == {("COURT_ORDER",): 1}


# ---------------------------------------------------------------------------------------------
# From real folded events


def _return_story() -> Story:
    """Notified (a girl of 15–17, two forms), guardian in 5 h, evidence, agreed, departed, handed over, M12."""
    s = Story()
    n = s.send(
        Side.IS,
        "case_notification",
        identified_at_ms=T0 - DAY,
        sex="F",
        age_band="15-17",
        exploitation_forms=frozenset({"SEXUAL", "BEGGING"}),
        identification_status="PRESUMED_TRAFFICKED",
    )
    s.send(Side.IS, "guardian_appointment_notice", guardian_appointed_at_ms=T0 - DAY + 5 * HOUR)
    s.acknowledge(n)
    s.evidence()
    p = s.propose(Side.OS)
    s.agree(Side.IS, p)
    latest = (s.clock + 30 * DAY) // DAY
    plan = s.send(Side.IS, "repatriation_plan", latest_departure_day=latest, no_detention_assurance=True)
    s.send(Side.OS, "repatriation_plan_acceptance", refers_to=plan.message_id, approval=approval())
    s.send(Side.IS, "return_status_update", return_status="DEPARTED", gate=passing_gate())
    s.send(Side.OS, "protection_alert", alert_type="DETAINED")
    issues = frozenset({"LATE_ARRIVAL"})
    s.send(Side.OS, "handover_confirmation", handed_over_at_ms=s.clock + HOUR, handover_issues=issues)
    s.send(Side.OS, "follow_up_report", follow_up_occasion="M12", living_situation="WITH_RELATIVES", after_ms=365 * DAY)
    return s


def test_a_full_return_read_from_folded_events_on_both_sides() -> None:
    s = _return_story()
    for side in (Side.IS, Side.OS):
        events = s.view(side)
        lf = link_facts(s.fold(side), events, case_id="c1", rules=Rules())
        assert lf.role == ("IDENTIFYING" if side is Side.IS else "ORIGIN")
        assert lf.partner_state == ("AL" if side is Side.IS else "GR")
        assert (lf.sex, lf.age_band, lf.identification_status) == ("F", "15-17", "PRESUMED_TRAFFICKED")
        assert lf.exploitation_forms == {"SEXUAL", "BEGGING"}
        assert lf.identified_at_ms == T0 - DAY
        assert lf.guardian_appointed_at_ms == T0 - DAY + 5 * HOUR
        kinds = {e.kind: e for e in events}
        assert lf.agreed_at_ms == kinds["durable_solution_agreement"].at_ms
        assert lf.departed_at_ms == kinds["return_status_update"].at_ms
        assert lf.departure_gate == passing_gate()
        assert lf.handed_over_at_ms == kinds["handover_confirmation"].facts.handed_over_at_ms
        assert lf.detentions_ms == (kinds["protection_alert"].at_ms,)
        assert lf.m12_living == "WITH_RELATIVES"
        assert lf.heard_before_agreement
        assert not lf.departs_from_views
        assert lf.stage_at(s.clock) is Stage.FOLLOW_UP
    # And what the indicators make of it, on the identifying State's node.
    lf = link_facts(s.fold(Side.IS), s.view(Side.IS), case_id="c1", rules=Rules())
    period = Period(dt.datetime.fromtimestamp(T0 / 1000, dt.UTC).year)
    assert _counts(i1_guardian([lf], period, now_ms=s.clock))["guardian_in_time"] == 1
    assert _counts(i3_gate([lf], period))["g1_g5_met"] == 1
    assert _counts(i4_detentions([lf], period, now_ms=s.clock))["returns_with_detention"] == 1


def test_missing_episodes_and_a_late_notification_without_guardian_from_folded_events() -> None:
    s = Story()
    n = s.notify()
    s.acknowledge(n)
    s.evidence()
    lost = s.send(Side.IS, "protection_alert", alert_type="MISSING", after_ms=DAY)
    found = s.send(Side.IS, "protection_alert", alert_type="FOUND", after_ms=3 * DAY)
    again = s.send(Side.IS, "protection_alert", alert_type="MISSING", after_ms=DAY)
    lf = link_facts(s.fold(Side.IS), s.view(Side.IS), case_id="c2", rules=Rules(guardian_deadline_hours=12))
    assert lf.missing == (
        MissingEpisode(lost.at_ms, Stage.ASSESSMENT, found.at_ms),
        MissingEpisode(again.at_ms, Stage.ASSESSMENT),
    )
    assert lf.guardian_appointed_at_ms == 0
    assert lf.guardian_deadline_hours == 12
    assert (lf.sex, lf.age_band) == ("UNKNOWN", "UNKNOWN_PRESUMED_MINOR")  # old events: unknown
    period = Period(dt.datetime.fromtimestamp(T0 / 1000, dt.UTC).year)
    assert _counts(i1_guardian([lf], period, now_ms=s.clock))["open_breaches"] == 1
    assert _counts(i5_disappearances([lf], period))["found_within_30_days"] == 1


def test_an_amended_notification_is_read_as_amended() -> None:
    s = Story()
    n = s.send(Side.IS, "case_notification", identified_at_ms=T0 - DAY, sex="UNKNOWN")
    s.acknowledge(n)
    s.send(
        Side.IS,
        "amendment",
        refers_to=n.message_id,
        refers_sha256=n.body_sha256,
        amended_kind="case_notification",
        replacement=Facts(identified_at_ms=T0 - DAY, sex="M", age_band="12-14"),
    )
    lf = link_facts(s.fold(Side.IS), s.view(Side.IS), case_id="c3", rules=Rules())
    assert (lf.sex, lf.age_band) == ("M", "12-14")


def test_the_notifications_child_gives_sex_age_band_forms_and_status() -> None:
    identified = _ms(2026, 7, 10)
    body = messages_pb2.Body(
        case_notification=messages_pb2.CaseNotification(
            identification_status=messages_pb2.IDENTIFICATION_STATUS_UNACCOMPANIED,
            identified_at_ms=identified,
            exploitation_forms=[
                messages_pb2.EXPLOITATION_FORM_ADOPTION_OR_MARRIAGE,
                messages_pb2.EXPLOITATION_FORM_LABOUR,
            ],
            child=messages_pb2.ChildIdentity(
                sex=messages_pb2.SEX_FEMALE,
                documented_date_of_birth=common_pb2.Date(year=2008, month=3, day=1),
                age=messages_pb2.AgeDetermination(claimed_date_of_birth=common_pb2.Date(year=2011, month=9, day=1)),
            ),
            guardian=messages_pb2.GuardianStatus(appointed=True, appointed_at_ms=identified + HOUR),
        )
    )
    _, f = facts_of(body, at_ms=identified)
    # The youngest reading (claimed 2011-09-01) is 14 at identification.
    assert (f.sex, f.age_band, f.identification_status) == ("F", "12-14", "UNACCOMPANIED")
    assert f.exploitation_forms == {"FORCED_MARRIAGE", "ILLEGAL_ADOPTION", "LABOUR"}
    assert f.guardian_appointed_at_ms == identified + HOUR
    assert age_band(messages_pb2.ChildIdentity(), identified) == "UNKNOWN_PRESUMED_MINOR"
    assert age_band(messages_pb2.ChildIdentity(age=messages_pb2.AgeDetermination(assessed_min_years=16)), 0) == "15-17"


def test_a_stored_event_from_before_the_indicator_facts_still_decodes() -> None:
    s = Story()
    raw = json.loads(encode_event(s.notify()))
    for name in ("sex", "age_band", "exploitation_forms", "identification_status", "living_situation"):
        raw["facts"].pop(name)
    event = decode_event(json.dumps(raw).encode(), where="test")
    assert event.facts.sex == ""
    assert event.facts.exploitation_forms == frozenset()


# ---------------------------------------------------------------------------------------------
# Definitions and disclosure


def test_every_definition_is_computed_and_listed_in_the_docs_with_its_version() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "indicators.md").read_text(encoding="utf-8")
    ids = [d.id for d in DEFINITIONS]
    assert ids == ["I1", "I2", "I3", "I4", "I5", "I6", "I7", "I8", "I9", "I10", "I11", "I12"]
    assert [d.id for d, _ in compute([], [], Q3, now_ms=AFTER)] == ids
    for d in DEFINITIONS:
        assert re.search(rf"^### {d.id} — .*\(version {d.version}, {d.measure}\)$", doc, re.M), d.id
        assert d.method in doc, d.id


_STAGES = [s for s in Stage if s not in (Stage.OPEN,)]


_KINDS = sorted(TRACKED_KINDS)


@st.composite
def _requests(draw: st.DrawFn, times: st.SearchStrategy[int]) -> RequestFacts:
    started = draw(st.none() | times)
    later = st.none() | st.integers(0, 60 * DAY).map(lambda d: (started or JUL) + d)
    stop = draw(st.none() | st.tuples(st.integers(0, 20 * DAY), st.none() | st.integers(0, 20 * DAY)))
    at = started or JUL
    return RequestFacts(
        kind=draw(st.sampled_from(_KINDS)),
        we_asked=draw(st.booleans()),
        urgency="ROUTINE",
        started_at_ms=started,
        acknowledged_at_ms=draw(later),
        answered_at_ms=draw(later),
        withdrawn_at_ms=draw(st.none() | later),
        period_ms=draw(st.none() | st.sampled_from([DAY, 10 * DAY, 30 * DAY])),
        stops=() if stop is None else ((at + stop[0], None if stop[1] is None else at + stop[0] + stop[1]),),
    )


@st.composite
def _population(draw: st.DrawFn) -> list[LinkFacts]:
    n = draw(st.integers(0, 30))
    times = st.integers(JUL - 400 * DAY, Q3.end_ms + 10 * DAY)
    out = []
    for i in range(n):
        hist = tuple(sorted(draw(st.lists(st.tuples(times, st.sampled_from(_STAGES)), max_size=3)), key=lambda h: h[0]))
        gate = draw(st.none() | st.builds(_gate, st.sets(st.sampled_from(CONDITIONS))))
        out.append(
            LinkFacts(
                case_id=f"c{draw(st.integers(0, max(0, n - 1)))}" if i else "c0",
                role=draw(st.sampled_from(["IDENTIFYING", "ORIGIN"])),
                partner_state=draw(st.sampled_from(["AL", "MK"])),
                identified_at_ms=draw(times),
                minority=draw(st.sampled_from(["PRESUMED_MINOR", "VERIFIED_MINOR", "VERIFIED_ADULT"])),
                guardian_appointed_at_ms=draw(st.just(0) | times),
                sex=draw(st.sampled_from(["F", "M", "OTHER", "UNKNOWN"])),
                age_band=draw(st.sampled_from(["0-11", "12-14", "15-17", "UNKNOWN_PRESUMED_MINOR"])),
                exploitation_forms=draw(st.frozensets(st.sampled_from(["SEXUAL", "LABOUR", "BEGGING"]))),
                history=hist,
                agreed_at_ms=draw(st.just(0) | times),
                departed_at_ms=draw(st.just(0) | times),
                departure_gate=gate,
                handed_over_at_ms=draw(st.just(0) | times),
                detentions_ms=tuple(draw(st.lists(times, max_size=2))),
                missing=tuple(MissingEpisode(t, Stage.ASSESSMENT) for t in draw(st.lists(times, max_size=2))),
                closed_at_ms=draw(st.just(0) | times),
                outcome=draw(st.sampled_from(["", "MISSING_NOT_FOUND"])),
                unilateral=draw(st.booleans()),
                heard_before_agreement=draw(st.booleans()),
                departs_from_views=draw(st.booleans()),
                requests=tuple(draw(st.lists(_requests(times), max_size=4))),
            )
        )
    return out


@settings(max_examples=40, deadline=None)
@given(_population())
def test_national_outputs_never_show_a_count_from_1_to_9_nor_a_minimum_or_maximum(links: list[LinkFacts]) -> None:
    for d, m in compute(links, [], Q3, now_ms=AFTER):
        out = publish(
            m,
            definition_id=d.id,
            definition_version=d.version,
            code_list_version="1",
            period=Q3,
            node_id="gr-ekka",
            measure=d.measure,
            now_ms=AFTER,
        )
        for _, table in out.tables:
            assert not any(isinstance(c, int) and 1 <= c < K for c in table.entries())
        for f in out.figures:
            assert not (f.kind == "count" and isinstance(f.value, int) and 1 <= f.value < K)
            assert not re.search(r"(^|[._])(min|max)", f.name)


@settings(max_examples=60, deadline=None)
@given(_population(), st.sampled_from([Q3, Period(2026), Period(2025, 4)]))
def test_the_links_a_period_needs_give_every_output_all_links_give(links: list[LinkFacts], period: Period) -> None:
    partners = sorted({lk.partner_state for lk in links})
    kept = for_period(links, period)
    assert compute(kept, [], period, now_ms=AFTER, partners=partners) == compute(
        links, [], period, now_ms=AFTER, partners=partners
    )
