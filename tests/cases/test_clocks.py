"""Deadlines, request clocks and the escalation ladders, with a frozen clock (no time is ever read)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from directory.model import CaseRules, KindDeadline
from focalpoint.cases import guardian
from focalpoint.cases.clocks import (
    ACKNOWLEDGE_FLOOR_MS,
    DEFAULTS,
    FLOORS,
    LADDER,
    Action,
    Anchor,
    Clock,
    ClockSide,
    Level,
    Step,
    Urgency,
    acknowledgement_overdue_ms,
    agreement_problems,
    deadline_for,
    deadline_problems,
    deadlines_markdown,
    due_ms,
    elapsed_fraction,
    emergency_unacknowledged,
    guardian_steps,
    ladder_steps,
    overdue_ms,
    response_due_for,
)
from focalpoint.errors import UsageError
from focalpoint.v1 import codes_pb2, messages_pb2

H = 3_600_000
D = 24 * H
T0 = 1_790_000_000_000  # a sending time
ROOT = Path(__file__).resolve().parents[2]


# --- defaults, agreements, floors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "urgency", "respond"),
    [
        ("social_inquiry_request", Urgency.ROUTINE, 30 * D),
        ("social_inquiry_request", Urgency.URGENT, 10 * D),
        ("social_inquiry_request", Urgency.EMERGENCY, 72 * H),
        ("identity_verification_request", Urgency.ROUTINE, 15 * D),
        ("identity_verification_request", Urgency.URGENT, 3 * D),
        ("identity_verification_request", Urgency.EMERGENCY, 24 * H),
        ("case_notification", Urgency.ROUTINE, None),
        ("case_notification", Urgency.URGENT, 24 * H),
        ("case_notification", Urgency.EMERGENCY, 4 * H),
        ("tracing_request", Urgency.ROUTINE, 30 * D),
        ("tracing_request", Urgency.URGENT, 7 * D),
        ("durable_solution_proposal", Urgency.EMERGENCY, None),
        ("clarification_request", Urgency.EMERGENCY, 24 * H),
        ("repatriation_plan", Urgency.EMERGENCY, None),
        ("case_closure", Urgency.ROUTINE, 30 * D),
        ("social_inquiry_report", Urgency.ROUTINE, None),  # an answer has no deadline of its own
    ],
)
def test_urgency_picks_the_default_period(kind: str, urgency: Urgency, respond: int | None) -> None:
    """Each urgency has its own period per kind; "—" is no deadline at all."""
    assert deadline_for(kind, urgency, None).respond_ms == respond


def test_the_special_rows_run_from_their_own_anchor() -> None:
    """A protection alert is acknowledged within 4 h; a handover and a follow-up report answer an
    event in the world, not the receipt."""
    alert = deadline_for("protection_alert", Urgency.EMERGENCY, None)
    assert (alert.acknowledge_ms, alert.respond_ms) == (4 * H, None)
    assert "24/7" in DEFAULTS["protection_alert"].note
    handover = deadline_for("handover_confirmation", Urgency.ROUTINE, None)
    assert (handover.anchor, handover.respond_ms, handover.acknowledge_ms) == (Anchor.PLANNED_ARRIVAL, 24 * H, None)
    assert response_due_for(T0, handover, anchor_ms=T0 + 5 * D) == T0 + 6 * D
    report = deadline_for("follow_up_report", Urgency.ROUTINE, None)
    assert (report.anchor, report.respond_ms) == (Anchor.FOLLOW_UP_DUE, 14 * D)
    with pytest.raises(UsageError, match="anchor_ms"):
        response_due_for(T0, report)


def test_urgency_codes_read_unspecified_as_routine() -> None:
    assert Urgency.from_code(messages_pb2.URGENCY_UNSPECIFIED) is Urgency.ROUTINE
    assert Urgency.from_code(messages_pb2.URGENCY_URGENT) is Urgency.URGENT
    assert Urgency.from_code(messages_pb2.URGENCY_EMERGENCY) is Urgency.EMERGENCY


def test_the_agreement_overrides_the_default_where_it_sets_a_value() -> None:
    """Per kind and per field: what the agreement sets wins, what it leaves out stays default."""
    agreement = {"social_inquiry_request": KindDeadline(response_days=21, urgent_response_hours=96)}
    assert deadline_for("social_inquiry_request", Urgency.ROUTINE, agreement).respond_ms == 21 * D
    assert deadline_for("social_inquiry_request", Urgency.URGENT, agreement).respond_ms == 96 * H
    assert deadline_for("social_inquiry_request", Urgency.EMERGENCY, agreement).respond_ms == 72 * H
    assert deadline_for("social_inquiry_request", Urgency.ROUTINE, agreement).acknowledge_ms == 48 * H
    assert deadline_for("risk_assessment_request", Urgency.ROUTINE, agreement).respond_ms == 30 * D
    # A kind the defaults leave without a routine deadline gets the one the agreement sets.
    notified = {"case_notification": KindDeadline(response_days=14, acknowledge_hours=24)}
    found = deadline_for("case_notification", Urgency.ROUTINE, notified)
    assert (found.respond_ms, found.acknowledge_ms) == (14 * D, 24 * H)


def test_the_case_rules_set_the_closure_and_handover_periods_unless_the_kind_deadline_does() -> None:
    rules = CaseRules(closure_response_days=20, handover_confirmation_hours=48)
    assert deadline_for("case_closure", Urgency.ROUTINE, None, case_rules=rules).respond_ms == 20 * D
    assert deadline_for("handover_confirmation", Urgency.ROUTINE, None, case_rules=rules).respond_ms == 48 * H
    closure = {"case_closure": KindDeadline(response_days=15)}
    assert deadline_for("case_closure", Urgency.ROUTINE, closure, case_rules=rules).respond_ms == 15 * D


def test_no_agreement_goes_below_the_floor() -> None:
    """A value below the floor is named as a problem and counts as the floor."""
    low = {"social_inquiry_request": KindDeadline(urgent_response_hours=6, emergency_response_hours=1)}
    assert deadline_for("social_inquiry_request", Urgency.URGENT, low).respond_ms == FLOORS[Urgency.URGENT]
    assert deadline_for("social_inquiry_request", Urgency.EMERGENCY, low).respond_ms == FLOORS[Urgency.EMERGENCY]
    problems = agreement_problems(low)
    assert len(problems) == 2
    assert all("below the floor" in p for p in problems)
    assert agreement_problems({"tracing_request": KindDeadline(acknowledge_hours=1)})
    assert agreement_problems({"tracing_request": KindDeadline(response_days=1, acknowledge_hours=4)}) == []


def test_every_default_respects_the_floors_and_acknowledges_before_the_answer() -> None:
    for kind, row in DEFAULTS.items():
        for urgency in Urgency:
            respond = row.respond_ms(urgency)
            assert respond is None or respond >= FLOORS[urgency], (kind, urgency)
            found = deadline_for(kind, urgency, None)
            if found.acknowledge_ms is not None:
                assert found.acknowledge_ms >= ACKNOWLEDGE_FLOOR_MS
                assert found.respond_ms is None or found.acknowledge_ms <= found.respond_ms


def test_a_receiver_refuses_a_due_date_shorter_than_the_agreement_gives() -> None:
    """The requester may not squeeze the responder: the due date is checked by calendar day."""
    agreement = {"social_inquiry_request": KindDeadline(response_days=20)}
    sent = T0
    fair = response_due_for(sent, deadline_for("social_inquiry_request", Urgency.ROUTINE, agreement))
    assert fair == sent + 20 * D
    ok = deadline_problems(
        "social_inquiry_request", Urgency.ROUTINE, sent_at_ms=sent, response_due_ms=fair, agreement=agreement
    )
    assert ok == []
    # The start of the due day (as a Date on the wire reads back) is still the same day.
    day = fair - fair % D
    assert not deadline_problems(
        "social_inquiry_request", Urgency.ROUTINE, sent_at_ms=sent, response_due_ms=day, agreement=agreement
    )
    short = deadline_problems(
        "social_inquiry_request", Urgency.ROUTINE, sent_at_ms=sent, response_due_ms=sent + 5 * D, agreement=agreement
    )
    assert len(short) == 1
    assert "higher urgency" in short[0]
    # The same date is fine for an urgent request (10 days by default).
    assert not deadline_problems(
        "social_inquiry_request", Urgency.URGENT, sent_at_ms=sent, response_due_ms=sent + 10 * D, agreement=None
    )


# --- the clock of one request ------------------------------------------------------------------


def test_no_receipt_no_clock() -> None:
    """Before the recipient's signed receipt nothing runs: retries during an outage count against no one."""
    clock = Clock(period_ms=10 * D)
    later = T0 + 60 * D
    assert due_ms(clock, later) is None
    assert overdue_ms(clock, later) == 0
    assert elapsed_fraction(clock, later) == 0.0
    assert ladder_steps(clock, "requester", later, frozenset()) == []
    assert ladder_steps(clock, "responder", later, frozenset()) == []


def test_the_clock_starts_at_the_receipt_not_at_the_sending() -> None:
    """Sent at T0, received after a three-day outage: due ten days after the receipt."""
    receipt = T0 + 3 * D
    clock = Clock(period_ms=10 * D, started_at_ms=receipt)
    assert due_ms(clock, receipt) == receipt + 10 * D
    assert overdue_ms(clock, T0 + 11 * D) == 0
    assert overdue_ms(clock, receipt + 11 * D) == D
    assert elapsed_fraction(clock, receipt + 5 * D) == 0.5


def test_stop_the_clock_resumes_the_remaining_time() -> None:
    """A clarification that stops the clock, open from day 4 to day 7: three more days to answer."""
    start = T0
    open_stop = Clock(period_ms=10 * D, started_at_ms=start, stops=((start + 4 * D, None),))
    # While open, the due date moves on with it and nothing is overdue.
    assert due_ms(open_stop, start + 6 * D) == start + 12 * D
    assert due_ms(open_stop, start + 30 * D) == start + 36 * D
    assert overdue_ms(open_stop, start + 30 * D) == 0
    assert elapsed_fraction(open_stop, start + 30 * D) == 0.4
    assert ladder_steps(open_stop, "requester", start + 30 * D, frozenset()) == []
    closed = Clock(period_ms=10 * D, started_at_ms=start, stops=((start + 4 * D, start + 7 * D),))
    assert due_ms(closed, start + 8 * D) == start + 13 * D
    assert overdue_ms(closed, start + 13 * D) == 0
    assert overdue_ms(closed, start + 14 * D) == D


def test_a_suspension_and_a_clarification_that_overlap_count_once() -> None:
    """The link suspended days 2–6 and a clarification open days 5–8: six stopped days, not seven."""
    clock = Clock(
        period_ms=10 * D,
        started_at_ms=T0,
        stops=((T0 + 2 * D, T0 + 6 * D), (T0 + 5 * D, T0 + 8 * D)),
    )
    assert due_ms(clock, T0 + 9 * D) == T0 + 16 * D


def test_a_suspension_before_the_receipt_does_not_count() -> None:
    """Only time after the receipt is stopped time."""
    clock = Clock(period_ms=10 * D, started_at_ms=T0, stops=((T0 - 5 * D, T0 + D),))
    assert due_ms(clock, T0 + 2 * D) == T0 + 11 * D


def test_an_answer_freezes_the_clock_and_ends_the_ladder() -> None:
    """Answered two days late: two days overdue for ever after, and no more reminders."""
    clock = Clock(period_ms=10 * D, started_at_ms=T0, answered_at_ms=T0 + 12 * D)
    assert overdue_ms(clock, T0 + 40 * D) == 2 * D
    assert ladder_steps(clock, "requester", T0 + 40 * D, frozenset()) == []


def test_the_acknowledgement_has_its_own_clock() -> None:
    clock = Clock(period_ms=30 * D, started_at_ms=T0)
    assert acknowledgement_overdue_ms(clock, 48 * H, T0 + 50 * H) == 2 * H
    acknowledged = Clock(period_ms=30 * D, started_at_ms=T0, acknowledged_at_ms=T0 + 49 * H)
    assert acknowledgement_overdue_ms(acknowledged, 48 * H, T0 + 10 * D) == H
    assert acknowledgement_overdue_ms(clock, None, T0 + 10 * D) == 0


def test_a_bad_clock_is_refused() -> None:
    with pytest.raises(UsageError, match="positive"):
        Clock(period_ms=0)
    with pytest.raises(UsageError, match="after it begins"):
        Clock(period_ms=D, started_at_ms=T0, stops=((T0 + 2, T0 + 1),))


def test_a_new_agreement_version_never_moves_an_open_deadline() -> None:
    """The period is captured when the request is sent; the node keeps the clock it made then."""
    v1 = {"social_inquiry_request": KindDeadline(response_days=30)}
    v2 = {"social_inquiry_request": KindDeadline(response_days=15)}
    sent = deadline_for("social_inquiry_request", Urgency.ROUTINE, v1)
    assert sent.respond_ms is not None
    due_on_the_request = response_due_for(T0, sent)
    clock = Clock(period_ms=sent.respond_ms, started_at_ms=T0 + H)
    # Version 2 comes into force on day 5: new requests get 15 days, this one keeps its 30.
    assert deadline_for("social_inquiry_request", Urgency.ROUTINE, v2).respond_ms == 15 * D
    assert due_ms(clock, T0 + 20 * D) == T0 + H + 30 * D
    assert due_on_the_request == T0 + 30 * D
    assert ladder_steps(clock, "requester", T0 + 20 * D, frozenset()) == []


# --- the ladder over a simulated month ---------------------------------------------------------


def _month(clock: Clock, side: ClockSide, *, start: int, hours: int = 30 * 24) -> dict[Level, tuple[int, Step]]:
    """Step a frozen clock hour by hour, doing each step as it falls due; the hour each level came."""
    done: set[Level] = set()
    seen: dict[Level, tuple[int, Step]] = {}
    for hour in range(hours + 1):
        now = start + hour * H
        for step in ladder_steps(clock, side, now, frozenset(done)):
            assert step.level not in seen, f"{step.level} came twice"
            assert step.due_at_ms <= now
            seen[step.level] = (hour, step)
            done.add(step.level)
    return seen


def test_a_month_of_an_unanswered_request_climbs_each_level_once_on_both_sides() -> None:
    """A repatriation plan (10 days): the responder's assignee at 7.5 days and 9 (due tomorrow),
    the supervisor at 10; the requester's L1 at 10 days, L2 at 15 (+50 %), L3 at 20 (+100 %)."""
    receipt = T0 + 3 * H
    clock = Clock(period_ms=10 * D, started_at_ms=receipt)
    responder = _month(clock, "responder", start=T0)
    assert {level: hour for level, (hour, _) in responder.items()} == {
        Level.REMIND_ASSIGNEE: 3 + 180,
        Level.DUE_IN_24H: 3 + 216,
        Level.ESCALATE_SUPERVISOR: 3 + 240,
    }
    assert responder[Level.REMIND_ASSIGNEE][1].actions == (Action.NOTIFY_ASSIGNEE,)
    assert responder[Level.DUE_IN_24H][1].actions == (Action.NOTIFY_ASSIGNEE,)
    assert responder[Level.ESCALATE_SUPERVISOR][1].actions == (Action.NOTIFY_SUPERVISOR,)
    requester = _month(clock, "requester", start=T0)
    assert {level: hour for level, (hour, _) in requester.items()} == {
        Level.REMINDER_L1: 3 + 240,
        Level.REMINDER_L2: 3 + 360,
        Level.REMINDER_L3: 3 + 480,
    }
    l1, l2, l3 = (requester[level][1] for level in (Level.REMINDER_L1, Level.REMINDER_L2, Level.REMINDER_L3))
    assert l1.actions == (Action.SEND_REMINDER_L1, Action.NOTIFY_SUPERVISOR)
    assert l1.escalation_code == codes_pb2.ESCALATION_LEVEL_L1_OFFICER
    assert l2.actions == (Action.SEND_REMINDER_L2, Action.NOTIFY_FOCAL_POINT_HEAD)
    assert l2.escalation_code == codes_pb2.ESCALATION_LEVEL_L2_FOCAL_POINT_HEAD
    assert l3.actions == (Action.LIST_IN_BILATERAL_REPORT,)
    assert l3.escalation_code == codes_pb2.ESCALATION_LEVEL_L3_STEERING


def test_a_short_urgent_period_leaves_days_between_the_reminders() -> None:
    """3 days (urgent identity verification): L2 after at least 3 more days, L3 after at least 7."""
    clock = Clock(period_ms=3 * D, started_at_ms=T0)
    requester = _month(clock, "requester", start=T0)
    assert {level: hour for level, (hour, _) in requester.items()} == {
        Level.REMINDER_L1: 72,
        Level.REMINDER_L2: 144,
        Level.REMINDER_L3: 240,
    }


def test_a_stop_in_the_month_pushes_the_rest_of_the_ladder_on() -> None:
    """A clarification stopping the clock for 4 days at day 5 delays every later level by 4 days."""
    clock = Clock(period_ms=10 * D, started_at_ms=T0, stops=((T0 + 5 * D, T0 + 9 * D),))
    requester = _month(clock, "requester", start=T0)
    assert {level: hour for level, (hour, _) in requester.items()} == {
        Level.REMINDER_L1: 14 * 24,
        Level.REMINDER_L2: 19 * 24,
        Level.REMINDER_L3: 24 * 24,
    }
    responder = _month(clock, "responder", start=T0)
    assert responder[Level.REMIND_ASSIGNEE][0] == 24 * 7.5 + 4 * 24
    assert responder[Level.DUE_IN_24H][0] == 24 * 9 + 4 * 24


def _responder_due(period_ms: int) -> dict[Level, int]:
    """When each responder level falls due on a clock started at T0, never stopped (down till far past due)."""
    clock = Clock(period_ms=period_ms, started_at_ms=T0)
    return {s.level: s.due_at_ms for s in ladder_steps(clock, "responder", T0 + 3 * period_ms, frozenset())}


def test_due_tomorrow_falls_a_day_before_the_due_date_on_a_30_and_a_10_day_period() -> None:
    """30 days (a routine social inquiry): 75 % is 7.5 days before the due date, then "due
    tomorrow" at day 29; 10 days: day 9. Both after the 75 % notice and before the overdue one."""
    assert _responder_due(30 * D) == {
        Level.REMIND_ASSIGNEE: T0 + 22 * D + 12 * H,
        Level.DUE_IN_24H: T0 + 29 * D,
        Level.ESCALATE_SUPERVISOR: T0 + 30 * D,
    }
    assert _responder_due(10 * D)[Level.DUE_IN_24H] == T0 + 9 * D


@pytest.mark.parametrize("period_ms", [3 * D, 96 * H, 24 * H, 4 * H])
def test_no_due_tomorrow_where_the_75_percent_notice_is_already_within_a_day(period_ms: int) -> None:
    """Up to 96 hours, 75 % is at most 24 h before the due date: the rung never falls due, not
    even long past due, and it gives the summary no wake-up time."""
    assert Level.DUE_IN_24H not in _responder_due(period_ms)
    (rung,) = (r for r in LADDER if r.level is Level.DUE_IN_24H)
    assert rung.threshold_ms(period_ms) is None


def test_due_tomorrow_exists_just_past_96_hours() -> None:
    """97 hours: 75 % at 72 h 45 min, "due tomorrow" at 73 h, the due date at 97 h."""
    due = _responder_due(97 * H)
    assert due[Level.REMIND_ASSIGNEE] < due[Level.DUE_IN_24H] == T0 + 73 * H < due[Level.ESCALATE_SUPERVISOR]


def test_a_stop_shifts_due_tomorrow_and_none_falls_due_while_stopped() -> None:
    """A 10-day request stopped 3 days at day 4 is due on day 13: "due tomorrow" on day 12; a
    stop open across day 9 holds it back until the stop ends."""
    stopped = Clock(period_ms=10 * D, started_at_ms=T0, stops=((T0 + 4 * D, T0 + 7 * D),))
    steps = ladder_steps(stopped, "responder", T0 + 12 * D, frozenset({Level.REMIND_ASSIGNEE}))
    assert [(s.level, s.due_at_ms) for s in steps] == [(Level.DUE_IN_24H, T0 + 12 * D)]
    assert ladder_steps(stopped, "responder", T0 + 12 * D - 1, frozenset({Level.REMIND_ASSIGNEE})) == []
    open_stop = Clock(period_ms=10 * D, started_at_ms=T0, stops=((T0 + 8 * D + 12 * H, None),))
    assert ladder_steps(open_stop, "responder", T0 + 20 * D, frozenset({Level.REMIND_ASSIGNEE})) == []


@given(period_ms=st.integers(FLOORS[Urgency.EMERGENCY], 120 * D))
def test_due_tomorrow_comes_after_75_percent_and_before_the_due_date(period_ms: int) -> None:
    """On any period: 75 % < due tomorrow (when it exists, exactly 24 h before due) < 100 %, and it
    exists exactly when the period is over 96 hours."""
    due = _responder_due(period_ms)
    assert (Level.DUE_IN_24H in due) == (period_ms > 96 * H)
    if Level.DUE_IN_24H in due:
        assert due[Level.REMIND_ASSIGNEE] < due[Level.DUE_IN_24H] < due[Level.ESCALATE_SUPERVISOR]
        assert due[Level.ESCALATE_SUPERVISOR] - due[Level.DUE_IN_24H] == D


def test_a_node_back_from_a_stop_catches_up_in_order() -> None:
    """Down for the whole month: one scan returns every level, oldest first, with when it fell due."""
    clock = Clock(period_ms=10 * D, started_at_ms=T0)
    steps = ladder_steps(clock, "requester", T0 + 30 * D, frozenset())
    assert [(s.level, s.due_at_ms) for s in steps] == [
        (Level.REMINDER_L1, T0 + 10 * D),
        (Level.REMINDER_L2, T0 + 15 * D),
        (Level.REMINDER_L3, T0 + 20 * D),
    ]
    assert ladder_steps(clock, "requester", T0 + 30 * D, frozenset({Level.REMINDER_L1, Level.REMINDER_L2})) == [
        steps[2]
    ]


def test_the_ladder_is_data() -> None:
    """Every level belongs to one side, and the requester's partner messages carry their code."""
    assert [r.level for r in LADDER if r.side == "responder"] == [
        Level.REMIND_ASSIGNEE,
        Level.DUE_IN_24H,
        Level.ESCALATE_SUPERVISOR,
    ]
    assert [r.escalation_code for r in LADDER if r.side == "requester"] == [1, 2, 3]


# --- emergency ----------------------------------------------------------------------------------


def test_an_unacknowledged_emergency_surfaces_the_24_7_contact_after_4_hours() -> None:
    assert not emergency_unacknowledged(T0, None, T0 + 4 * H - 1)
    assert emergency_unacknowledged(T0, None, T0 + 4 * H)
    assert not emergency_unacknowledged(T0, T0 + 3 * H, T0 + 5 * H)
    assert emergency_unacknowledged(T0, None, T0 + 2 * H, window_ms=2 * H)
    # Not even receipted: the window runs from the sending, because an unreachable partner is
    # exactly when to phone.
    assert emergency_unacknowledged(None, None, T0 + 4 * H, sent_at_ms=T0)
    assert not emergency_unacknowledged(None, None, T0 + 40 * H)


# --- the guardian ladder ------------------------------------------------------------------------


def _guardian_run(
    identified: int, *, hours: int, minority: str = "PRESUMED_MINOR", start: int | None = None, days: int = 4
) -> list[tuple[int, Level, int]]:
    done: set[tuple[Level, int]] = set()
    seen: list[tuple[int, Level, int]] = []
    first = identified if start is None else start
    for hour in range(days * 24 + 1):
        now = first + hour * H
        for step in guardian_steps(identified, None, minority, hours, now, frozenset(done)):
            seen.append(((now - identified) // H, step.level, step.occurrence))
            done.add(step.key)
    return seen


def test_the_guardian_ladder_reminds_escalates_breaches_and_then_repeats_daily() -> None:
    assert _guardian_run(T0, hours=24) == [
        (12, Level.GUARDIAN_REMIND_OFFICER, 0),
        (20, Level.GUARDIAN_ESCALATE_SUPERVISOR, 0),
        (24, Level.GUARDIAN_BREACH, 0),
        (48, Level.GUARDIAN_DAILY, 1),
        (72, Level.GUARDIAN_DAILY, 2),
        (96, Level.GUARDIAN_DAILY, 3),
    ]
    breach = guardian_steps(T0, None, "PRESUMED_MINOR", 24, T0 + 24 * H, frozenset())[-1]
    assert breach.actions == (Action.RECORD_GUARDIAN_BREACH, Action.NOTIFY_FOCAL_POINT_HEAD)


def test_a_shorter_agreed_guardian_deadline_breaches_earlier_and_a_longer_one_counts_as_24() -> None:
    assert _guardian_run(T0, hours=12, days=1)[:3] == [
        (6, Level.GUARDIAN_REMIND_OFFICER, 0),
        (10, Level.GUARDIAN_ESCALATE_SUPERVISOR, 0),
        (12, Level.GUARDIAN_BREACH, 0),
    ]
    assert _guardian_run(T0, hours=48, days=1) == _guardian_run(T0, hours=24, days=1)


def test_a_case_recorded_after_the_deadline_opens_in_breach() -> None:
    """Identified 30 hours before the case was recorded: the first scan already breaches."""
    steps = guardian_steps(T0, None, "PRESUMED_MINOR", 24, T0 + 30 * H, frozenset())
    assert Level.GUARDIAN_BREACH in {s.level for s in steps}
    assert next(s for s in steps if s.level is Level.GUARDIAN_BREACH).due_at_ms == T0 + 24 * H


def test_only_the_newest_daily_escalation_is_returned() -> None:
    """Recorded five days late: one daily escalation (the fourth), not a burst of four."""
    steps = guardian_steps(T0, None, "PRESUMED_MINOR", 24, T0 + 5 * D + H, frozenset())
    assert [(s.level, s.occurrence) for s in steps if s.level is Level.GUARDIAN_DAILY] == [(Level.GUARDIAN_DAILY, 4)]


def test_verified_adults_and_appointed_guardians_never_escalate() -> None:
    assert guardian_steps(T0, None, "VERIFIED_ADULT", 24, T0 + 5 * D, frozenset()) == []
    assert guardian_steps(T0, T0 + 2 * D, "PRESUMED_MINOR", 24, T0 + 5 * D, frozenset()) == []
    assert guardian_steps(T0, None, "VERIFIED_MINOR", 24, T0 + 13 * H, frozenset())


@pytest.mark.parametrize("hours", [0, 6, 12, 23, 24, 30])
def test_the_guardian_ladder_agrees_with_the_guardian_clock(hours: int) -> None:
    """Same rungs at the same times as ``focalpoint.cases.guardian`` (the case view's clock)."""
    names = {
        guardian.Step.REMIND_OFFICER: Level.GUARDIAN_REMIND_OFFICER,
        guardian.Step.ESCALATE_SUPERVISOR: Level.GUARDIAN_ESCALATE_SUPERVISOR,
        guardian.Step.BREACH: Level.GUARDIAN_BREACH,
        guardian.Step.DAILY_ESCALATION: Level.GUARDIAN_DAILY,
    }
    ours = [level for _, level, _ in _guardian_run(T0, hours=hours, days=3)]
    theirs = [
        names[s]
        for s in guardian.steps_between(identified_at_ms=T0, after_ms=T0 - 1, until_ms=T0 + 3 * D, agreed_hours=hours)
    ]
    assert ours == theirs


# --- properties ------------------------------------------------------------------------------------

stops = st.lists(st.tuples(st.integers(-5 * D, 40 * D), st.integers(0, 10 * D), st.booleans()), max_size=4).map(
    lambda xs: tuple((T0 + a, None if still else T0 + a + n) for a, n, still in xs)
)
clocks = st.builds(
    Clock,
    period_ms=st.integers(H, 30 * D),
    started_at_ms=st.one_of(st.none(), st.integers(T0, T0 + 5 * D)),
    stops=stops,
    answered_at_ms=st.one_of(st.none(), st.integers(T0, T0 + 80 * D)),
)
sides = st.sampled_from(["responder", "requester"])


@given(clock=clocks, side=sides, t=st.integers(T0 - D, T0 + 80 * D), dt=st.integers(0, 80 * D))
def test_a_level_due_stays_due_until_done_answered_or_stopped(clock: Clock, side: ClockSide, t: int, dt: int) -> None:
    later = t + dt
    now_due = {s.level: s.due_at_ms for s in ladder_steps(clock, side, t, frozenset())}
    then_due = {s.level: s.due_at_ms for s in ladder_steps(clock, side, later, frozenset())}
    answered = clock.answered_at_ms is not None and clock.answered_at_ms <= later
    stopped = any(a <= later and (b is None or later < b) for a, b in clock.stops)
    if not answered and not stopped:
        assert now_due.items() <= then_due.items()
    # Done levels never come back.
    assert not {s.level for s in ladder_steps(clock, side, later, frozenset(now_due))} & set(now_due)


@given(clock=clocks, side=sides, now=st.integers(T0 - D, T0 + 80 * D))
def test_never_a_step_before_the_clock_starts(clock: Clock, side: ClockSide, now: int) -> None:
    for step in ladder_steps(clock, side, now, frozenset()):
        assert clock.started_at_ms is not None
        assert clock.started_at_ms < step.due_at_ms <= now
    if clock.started_at_ms is None or now < clock.started_at_ms:
        assert ladder_steps(clock, side, now, frozenset()) == []
        assert overdue_ms(clock, now) == 0


@given(clock=clocks, now=st.integers(T0, T0 + 80 * D))
def test_stopped_time_never_makes_the_due_date_earlier(clock: Clock, now: int) -> None:
    plain = Clock(period_ms=clock.period_ms, started_at_ms=clock.started_at_ms, answered_at_ms=clock.answered_at_ms)
    with_stops, without = due_ms(clock, now), due_ms(plain, now)
    if clock.started_at_ms is None:
        assert with_stops is None
        assert without is None
        return
    assert with_stops is not None
    assert without is not None
    assert with_stops >= without == clock.started_at_ms + clock.period_ms
    assert overdue_ms(clock, now) <= overdue_ms(plain, now)


@given(
    hours=st.integers(-3, 48),
    late=st.integers(0, 6 * D),
    t=st.integers(0, 8 * D),
    dt=st.integers(0, 8 * D),
)
def test_guardian_steps_are_monotone_and_never_before_identification(hours: int, late: int, t: int, dt: int) -> None:
    """A non-daily guardian step due at t is due at every later time until done; some daily
    escalation at least as new as one due at t is due later."""
    now, later = T0 + t, T0 + t + dt
    first = guardian_steps(T0, None, "PRESUMED_MINOR", hours, now, frozenset())
    second = guardian_steps(T0, None, "PRESUMED_MINOR", hours, later, frozenset())
    for step in first:
        assert T0 < step.due_at_ms <= now
        if step.level is Level.GUARDIAN_DAILY:
            assert any(s.level is Level.GUARDIAN_DAILY and s.occurrence >= step.occurrence for s in second)
        else:
            assert step in second
    assert guardian_steps(T0 + late, None, "PRESUMED_MINOR", hours, T0 + late - 1, frozenset()) == []


# --- the guide ---------------------------------------------------------------------------------------


def test_the_deadlines_in_the_guide_are_generated_from_the_defaults() -> None:
    """docs/cases.md's table equals the code's: change a default and this fails until
    ``python scripts/gen_deadlines_doc.py`` rewrites it."""
    text = (ROOT / "docs" / "cases.md").read_text(encoding="utf-8")
    begin, end = "<!-- deadlines:begin -->", "<!-- deadlines:end -->"
    assert begin in text
    assert end in text
    between = text.split(begin, 1)[1].split(end, 1)[0]
    assert between.strip() == deadlines_markdown().strip()
    for row in DEFAULTS.values():
        assert f"`{row.kind}`" in between


def test_the_guides_script_finds_it_current() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_deadlines_doc.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
