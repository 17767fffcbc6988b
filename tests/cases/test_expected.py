"""The messages a return makes due — the handover and the follow-up reports — as tracked requests,
read from hand-built events with the time passed in (pure, no time read)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from directory.model import CaseRules, KindDeadline
from focalpoint.cases.ageing import KIND, open_requests
from focalpoint.cases.clocks import Action, Anchor, Level, due_ms
from focalpoint.cases.events import Event, Facts, Origin
from focalpoint.cases.expected import EXPECTED_KINDS, add_months, expectations
from focalpoint.cases.facts import facts_of
from focalpoint.cases.requests import (
    RESUMED_KIND,
    SUSPENDED_KIND,
    TrackedRequest,
    levels_done,
    reminded_about,
    request_steps,
    tracked_requests,
)
from focalpoint.cases.stages import Side
from focalpoint.cases.summary import handover_wake_ms
from focalpoint.localnet.samples import sample_body
from focalpoint.v1 import codes_pb2, common_pb2

H = 3_600_000
D = 24 * H
T0 = 1_790_000_000_000 - 1_790_000_000_000 % D  # midnight UTC
DAY0 = T0 // D
PLAN, DEPARTED, HANDOVER = b"plan", b"departed", b"handover"


def _event(kind: str, at: int, mid: bytes, *, by_is: bool, we_are_is: bool = True, **facts: object) -> Event:
    """A message of the identifying State (``by_is``) or the State of origin, seen from ``we_are_is``."""
    ours = by_is == we_are_is
    return Event(
        kind=kind,
        origin=Origin.SENT if ours else Origin.RECEIVED,
        sender_side=Side.IS if by_is else Side.OS,
        sender_node="gr" if by_is else "al",
        at_ms=at,
        message_id=mid,
        facts=Facts(**facts),  # type: ignore[arg-type]
    )


def _return(*, we_are_is: bool = True, latest_day: int = DAY0 + 2, departed_at: int = T0 + 10 * H) -> list[Event]:
    """A plan whose latest departure is day 2, accepted, and the departure on day 0."""
    return [
        _event("repatriation_plan", T0 - 5 * D, PLAN, by_is=True, we_are_is=we_are_is, latest_departure_day=latest_day),
        _event("repatriation_plan_acceptance", T0 - 4 * D, b"accept", by_is=False, we_are_is=we_are_is, refers_to=PLAN),
        _event(
            "return_status_update", departed_at, DEPARTED, by_is=True, we_are_is=we_are_is, return_status="DEPARTED"
        ),
    ]


def _handover(at: int, *, we_are_is: bool = True, handed_over_at: int | None = None) -> Event:
    return _event(
        "handover_confirmation",
        at,
        HANDOVER,
        by_is=False,
        we_are_is=we_are_is,
        handed_over_at_ms=handed_over_at if handed_over_at is not None else at - H,
    )


def _report(occasion: str, at: int) -> Event:
    return _event("follow_up_report", at, f"report-{occasion}".encode(), by_is=False, follow_up_occasion=occasion)


def _tracked(events: list[Event], **kw: Any) -> list[TrackedRequest]:
    """The expected messages among the link's tracked requests (the plan is a request of its own)."""
    return [t for t in tracked_requests(events, receipts={}, **kw) if t.kind in EXPECTED_KINDS]


def _of(tracked: list[TrackedRequest], kind: str, occurrence: int = 0) -> TrackedRequest:
    [t] = [t for t in tracked if t.kind == kind and t.occurrence == occurrence]
    return t


def test_the_expected_kinds_are_the_two_anchored_on_an_event_in_the_world() -> None:
    assert {"handover_confirmation", "follow_up_report"} == EXPECTED_KINDS
    assert set(KIND.values) >= EXPECTED_KINDS  # the ageing report counts them


def test_the_handover_clock_runs_from_the_planned_arrival_and_hangs_on_the_departure() -> None:
    [handover] = _tracked(_return())
    assert handover.kind == "handover_confirmation"
    assert handover.message_id == DEPARTED  # the identifying State's own message: a reminder may name it
    assert handover.occurrence == 0
    assert handover.we_asked  # the identifying State expects it
    assert handover.sent_at_ms == T0 + 10 * H
    assert handover.deadline.anchor is Anchor.PLANNED_ARRIVAL
    assert handover.started_at_ms == T0 + 3 * D  # the end of the plan's latest departure day
    assert handover.clock is not None
    assert due_ms(handover.clock, T0) == T0 + 4 * D  # planned arrival + 24 hours
    assert request_steps(handover, T0 + 4 * D - 1, {}) == []
    [step] = request_steps(handover, T0 + 4 * D, {})
    assert (step.level, step.due_at_ms) == (Level.HANDOVER_OVERDUE, T0 + 4 * D)
    assert step.actions == (Action.NOTIFY_SUPERVISOR,)
    # Taken once: recorded as done, it is never due again.
    assert request_steps(handover, T0 + 9 * D, {DEPARTED: frozenset({(Level.HANDOVER_OVERDUE, 0)})}) == []


def test_the_state_of_origin_runs_the_same_clock_and_alerts_its_own_supervisors() -> None:
    [handover] = _tracked(_return(we_are_is=False))
    assert handover.side == "responder"
    assert handover.clock is not None
    assert due_ms(handover.clock, T0) == T0 + 4 * D
    [step] = request_steps(handover, T0 + 5 * D, {})
    assert step.level is Level.HANDOVER_OVERDUE  # no reminder rungs on the handover
    assert step.actions == (Action.NOTIFY_SUPERVISOR,)


def test_a_delayed_update_moves_the_planned_arrival_and_a_departure_never_comes_after_it() -> None:
    delayed = _event(
        "return_status_update", T0 + D, b"delayed", by_is=True, return_status="DELAYED", rescheduled_day=DAY0 + 6
    )
    [handover] = _tracked([*_return(), delayed])
    assert handover.started_at_ms == T0 + 7 * D
    assert handover.clock is not None
    assert request_steps(handover, T0 + 6 * D, {}) == []  # the old due date passes unremarked
    assert [s.level for s in request_steps(handover, T0 + 8 * D, {})] == [Level.HANDOVER_OVERDUE]
    # A DELAYED update without a new day moves nothing; one of the other side's is not the return's.
    silent = _event("return_status_update", T0 + D, b"silent", by_is=True, return_status="DELAYED")
    [handover] = _tracked([*_return(), silent])
    assert handover.started_at_ms == T0 + 3 * D
    # A plan without a departure day: the departure itself is the planned arrival.
    [handover] = _tracked(_return(latest_day=0))
    assert handover.started_at_ms == T0 + 10 * H


def test_the_handover_confirmation_answers_it_and_a_cancellation_ends_it_unanswered() -> None:
    events = [*_return(), _handover(T0 + 3 * D + 5 * H)]
    tracked = _tracked(events)
    handover = _of(tracked, "handover_confirmation")
    assert handover.answered_by == HANDOVER
    assert handover.answered_at_ms == T0 + 3 * D + 5 * H
    assert handover.closed
    assert not handover.withdrawn
    assert request_steps(handover, T0 + 30 * D, {}) == []
    cancelled = _event("return_status_update", T0 + 2 * D, b"cancel", by_is=True, return_status="CANCELLED")
    [handover] = _tracked([*_return(), cancelled])
    assert handover.withdrawn
    assert handover.closed
    assert request_steps(handover, T0 + 30 * D, {}) == []


def test_a_second_departure_after_a_cancellation_is_a_new_handover_clock() -> None:
    cancelled = _event("return_status_update", T0 + D, b"cancel", by_is=True, return_status="CANCELLED")
    delayed = _event(
        "return_status_update", T0 + D + H, b"delayed", by_is=True, return_status="DELAYED", rescheduled_day=DAY0 + 2
    )
    again = _event("return_status_update", T0 + 2 * D, b"again", by_is=True, return_status="DEPARTED")
    tracked = _tracked([*_return(), cancelled, delayed, again])
    first, second = tracked
    assert (first.message_id, first.withdrawn) == (DEPARTED, True)
    assert (second.message_id, second.closed) == (b"again", False)
    assert second.started_at_ms == T0 + 3 * D


def test_follow_ups_fall_due_months_after_the_handover_with_a_fourteen_day_window() -> None:
    handed_over = T0 + 3 * D
    events = [*_return(), _handover(T0 + 3 * D + 5 * H, handed_over_at=handed_over)]
    tracked = _tracked(events)
    follow_ups = [t for t in tracked if t.kind == "follow_up_report"]
    assert [t.occurrence for t in follow_ups] == [3, 6, 12]
    for t in follow_ups:
        assert t.message_id == DEPARTED
        assert t.we_asked
        assert t.deadline.anchor is Anchor.FOLLOW_UP_DUE
        assert t.started_at_ms == add_months(handed_over, t.occurrence)
        assert t.clock is not None
        assert due_ms(t.clock, T0) == add_months(handed_over, t.occurrence) + 14 * D
    m3 = _of(tracked, "follow_up_report", 3)
    assert m3.clock is not None
    due = add_months(handed_over, 3) + 14 * D
    assert request_steps(m3, due - 1, {}) == []
    [l1] = request_steps(m3, due, {})
    assert (l1.level, l1.occurrence) == (Level.REMINDER_L1, 3)  # recorded with its month
    assert Action.SEND_REMINDER_L1 in l1.actions


def test_each_report_answers_its_own_occasion() -> None:
    handed_over = T0 + 3 * D
    early_m3 = add_months(handed_over, 3) - 10 * D  # within the window, before the due date
    events = [*_return(), _handover(T0 + 3 * D + 5 * H, handed_over_at=handed_over), _report("M3", early_m3)]
    tracked = _tracked(events)
    m3, m6 = _of(tracked, "follow_up_report", 3), _of(tracked, "follow_up_report", 6)
    assert m3.answered_by == b"report-M3"
    assert m3.closed
    assert not m6.closed
    assert request_steps(m3, add_months(handed_over, 3) + 30 * D, {}) == []
    # The identifying State's own report, or one for another occasion, answers nothing.
    stray = _event("follow_up_report", early_m3, b"own", by_is=True, follow_up_occasion="M6")
    tracked = _tracked([*events, stray, _report("AD_HOC", early_m3)])
    assert not _of(tracked, "follow_up_report", 6).closed


def test_the_levels_of_one_follow_up_are_not_another_ones() -> None:
    handed_over = T0 + 3 * D
    tracked = _tracked([*_return(), _handover(T0 + 3 * D + 5 * H, handed_over_at=handed_over)])
    m3, m6 = _of(tracked, "follow_up_report", 3), _of(tracked, "follow_up_report", 6)
    done = {DEPARTED: frozenset({(Level.REMINDER_L1, 3)})}
    assert levels_done(m3, done) == {Level.REMINDER_L1}
    assert levels_done(m6, done) == frozenset()
    late = add_months(handed_over, 6) + 14 * D
    assert [s.level for s in request_steps(m6, late, done)] == [Level.REMINDER_L1]
    assert Level.REMINDER_L1 not in [s.level for s in request_steps(m3, late, done)]


def test_the_state_of_origin_gets_the_responders_rungs_on_a_follow_up() -> None:
    handed_over = T0 + 3 * D
    events = [*_return(we_are_is=False), _handover(T0 + 3 * D + 5 * H, we_are_is=False, handed_over_at=handed_over)]
    m3 = _of(_tracked(events), "follow_up_report", 3)
    assert m3.side == "responder"
    due = add_months(handed_over, 3) + 14 * D
    assert [s.level for s in request_steps(m3, due, {})] == [
        Level.REMIND_ASSIGNEE,
        Level.DUE_IN_24H,  # 14 days' grace: a day before the end comes after the 75 % notice
        Level.ESCALATE_SUPERVISOR,
    ]


def test_the_agreement_sets_the_follow_up_months_the_handover_hours_and_the_window() -> None:
    handed_over = T0 + 3 * D
    events = [*_return(), _handover(T0 + 3 * D + 5 * H, handed_over_at=handed_over)]
    rules = CaseRules(follow_up_months=(1, 3, 6, 12, 24), handover_confirmation_hours=48)
    agreement = {"follow_up_report": KindDeadline(response_days=21)}
    tracked = _tracked(events, agreement=agreement, case_rules=rules)
    assert [t.occurrence for t in tracked if t.kind == "follow_up_report"] == [1, 3, 6, 12, 24]
    handover = _of(tracked, "handover_confirmation")
    assert handover.deadline.respond_ms == 48 * H
    m24 = _of(tracked, "follow_up_report", 24)
    assert m24.clock is not None
    assert due_ms(m24.clock, T0) == add_months(handed_over, 24) + 21 * D
    [open_handover] = _tracked(_return(), case_rules=rules)
    assert open_handover.clock is not None
    assert due_ms(open_handover.clock, T0) == T0 + 3 * D + 48 * H


def test_a_suspension_stands_an_expected_clock_still() -> None:
    events = [
        *_return(),
        Event(SUSPENDED_KIND, Origin.LOCAL, Side.IS, "", T0 + 3 * D + H, b"s"),
        Event(RESUMED_KIND, Origin.LOCAL, Side.IS, "", T0 + 3 * D + 11 * H, b"r"),
    ]
    handover = _of(_tracked(events), "handover_confirmation")
    assert handover.clock is not None
    assert due_ms(handover.clock, T0 + 10 * D) == T0 + 4 * D + 10 * H


def test_a_reminder_about_a_departure_chases_the_oldest_open_expectation() -> None:
    handed_over = T0 + 3 * D
    events = [*_return(), _handover(T0 + 3 * D + 5 * H, handed_over_at=handed_over)]
    tracked = _tracked(events)
    about = reminded_about(tracked, DEPARTED)
    assert about is not None
    assert (about.kind, about.occurrence) == ("follow_up_report", 3)  # the handover is answered
    tracked = _tracked([*events, _report("M3", add_months(handed_over, 3))])
    about = reminded_about(tracked, DEPARTED)
    assert about is not None
    assert about.occurrence == 6
    assert reminded_about(tracked, b"unknown") is None


def test_the_ageing_report_opens_an_expectation_at_its_anchor() -> None:
    handed_over = T0 + 3 * D
    tracked = _tracked([*_return(), _handover(T0 + 3 * D + 5 * H, handed_over_at=handed_over)])
    assert open_requests(tracked, {}, T0 + 30 * D) == ()  # nothing due before M3
    [m3] = open_requests(tracked, {}, add_months(handed_over, 3) + 20 * D)
    assert m3.kind == "follow_up_report"
    assert m3.overdue_ms == 6 * D
    assert not m3.l3
    [m3] = open_requests(tracked, {DEPARTED: frozenset({(Level.REMINDER_L3, 3)})}, add_months(handed_over, 3) + D)
    assert m3.l3


def test_only_the_messages_of_the_link_count_not_local_events() -> None:
    local = Event("local:note", Origin.LOCAL, Side.IS, "", T0 + 11 * H, b"n")
    assert [x.kind for x in expectations([*_return(), local], follow_up_months=(3,))] == ["handover_confirmation"]


def test_a_delayed_update_reads_its_new_day_from_the_body() -> None:
    body = sample_body("return_status_update", at_ms=T0)
    body.return_status_update.status = codes_pb2.RETURN_STATUS_DELAYED
    body.return_status_update.disruption = codes_pb2.RETURN_DISRUPTION_MEDICAL
    day = dt.date(2026, 9, 30)
    body.return_status_update.rescheduled_to.CopyFrom(common_pb2.Date(year=day.year, month=day.month, day=day.day))
    _, facts = facts_of(body, at_ms=T0)
    assert facts.return_status == "DELAYED"
    assert facts.rescheduled_day == (day - dt.date(1970, 1, 1)).days


def test_months_are_calendar_months_and_a_missing_day_is_the_months_last() -> None:
    aug31 = int(dt.datetime(2026, 8, 31, 15, 30, tzinfo=dt.UTC).timestamp() * 1000)
    assert add_months(aug31, 6) == int(dt.datetime(2027, 2, 28, 15, 30, tzinfo=dt.UTC).timestamp() * 1000)
    assert add_months(aug31, 12) == int(dt.datetime(2027, 8, 31, 15, 30, tzinfo=dt.UTC).timestamp() * 1000)
    nov30 = int(dt.datetime(2027, 11, 30, tzinfo=dt.UTC).timestamp() * 1000)
    assert add_months(nov30, 3) == int(dt.datetime(2028, 2, 29, tzinfo=dt.UTC).timestamp() * 1000)


@given(st.integers(min_value=0, max_value=4_000_000_000_000), st.sampled_from([1, 3, 6, 12, 24]))
def test_a_follow_up_is_due_between_28_and_31_days_a_month_later(at_ms: int, months: int) -> None:
    moved = add_months(at_ms, months)
    assert 28 * months * D <= moved - at_ms <= 31 * months * D
    assert moved % D == at_ms % D  # the same time of day


def test_a_link_summary_wakes_the_scan_when_the_handover_falls_overdue() -> None:
    [handover] = _tracked(_return())
    assert handover.clock is not None
    assert handover_wake_ms(handover.clock, frozenset()) == T0 + 4 * D
    assert handover_wake_ms(handover.clock, frozenset({Level.HANDOVER_OVERDUE})) is None
