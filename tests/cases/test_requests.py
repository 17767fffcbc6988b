"""The requests of a link with a deadline, read from hand-built events (pure, no time read)."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from directory.model import KindDeadline
from focalpoint.cases.clocks import Level, Urgency, due_ms, ladder_steps, overdue_ms
from focalpoint.cases.events import Event, Facts, Origin
from focalpoint.cases.facts import facts_of
from focalpoint.cases.requests import (
    ANSWERED_BY,
    LADDER_KIND,
    RESUMED_KIND,
    SUSPENDED_KIND,
    TRACKED_KINDS,
    done_steps,
    is_suspended,
    owed,
    period_for,
    suspended_spans,
    tracked_requests,
)
from focalpoint.cases.stages import Side
from focalpoint.localnet.samples import sample_body
from focalpoint.v1 import messages_pb2

H = 3_600_000
D = 24 * H
T0 = 1_790_000_000_000 - 1_790_000_000_000 % D  # midnight UTC
REQ = b"request-1"


def _event(
    kind: str,
    at: int,
    mid: bytes,
    *,
    sent: bool = True,
    refers: bytes = b"",
    reply: bytes = b"",
    seq: int = 0,
    **facts: object,
) -> Event:
    return Event(
        kind=kind,
        origin=Origin.SENT if sent else Origin.RECEIVED,
        sender_side=Side.IS if sent else Side.OS,
        sender_node="gr" if sent else "al",
        at_ms=at,
        message_id=mid,
        sequence=seq,
        in_reply_to=reply,
        facts=Facts(refers_to=refers, **facts),  # type: ignore[arg-type]
    )


def _local(kind: str, at: int, **facts: object) -> Event:
    return Event(
        kind=kind,
        origin=Origin.LOCAL,
        sender_side=Side.IS,
        sender_node="",
        at_ms=at,
        message_id=f"{kind}:{at}:{facts}".encode(),
        facts=Facts(**facts),  # type: ignore[arg-type]
    )


def _inquiry(*, sent: bool = True, period: int = 30 * D, **facts: Any) -> Event:
    return _event("social_inquiry_request", T0, REQ, sent=sent, period_ms=period, **facts)


def test_every_kind_with_a_receipt_clock_has_its_answers_named() -> None:
    assert set(ANSWERED_BY) >= TRACKED_KINDS
    assert "handover_confirmation" not in TRACKED_KINDS  # anchored on the planned arrival


def test_a_request_we_sent_runs_from_the_partners_receipt_not_from_sending() -> None:
    [tracked] = tracked_requests([_inquiry()], receipts={REQ: T0 + 5 * H})
    assert tracked.we_asked
    assert tracked.kind == "social_inquiry_request"
    assert tracked.urgency is Urgency.ROUTINE
    assert tracked.clock is not None
    assert tracked.started_at_ms == T0 + 5 * H
    assert due_ms(tracked.clock, T0 + D) == T0 + 5 * H + 30 * D


def test_a_request_not_yet_receipted_has_no_running_clock() -> None:
    [tracked] = tracked_requests([_inquiry()], receipts={})
    assert tracked.clock is not None
    assert tracked.clock.started_at_ms is None
    assert ladder_steps(tracked.clock, "requester", T0 + 90 * D, frozenset()) == []


def test_a_request_they_sent_is_ours_to_answer() -> None:
    [tracked] = tracked_requests([_inquiry(sent=False)], receipts={REQ: T0 + H})
    assert tracked.side == "responder"
    assert not tracked.we_asked


def test_the_answer_from_the_other_side_naming_the_request_ends_the_clock() -> None:
    report = _event("social_inquiry_report", T0 + 10 * D, b"report", sent=False, reply=REQ)
    stray = _event("social_inquiry_report", T0 + 2 * D, b"stray", sent=False, reply=b"other")
    own = _event("social_inquiry_report", T0 + 3 * D, b"own", sent=True, reply=REQ)  # not from the responder
    [tracked] = tracked_requests([_inquiry(), stray, own, report], receipts={REQ: T0})
    assert tracked.answered_by == b"report"
    assert tracked.answered_at_ms == T0 + 10 * D
    assert tracked.closed
    assert tracked.clock is not None
    assert overdue_ms(tracked.clock, T0 + 90 * D) == 0


def test_a_refusal_answers_and_an_acknowledgement_only_acknowledges() -> None:
    ack = _event("acknowledgement", T0 + H, b"ack", sent=False, refers=REQ, ack_kind="RECEIVED")
    [tracked] = tracked_requests([_inquiry(), ack], receipts={REQ: T0})
    assert tracked.acknowledged_at_ms == T0 + H
    assert not tracked.closed
    refusal = _event("request_refusal", T0 + 2 * H, b"no", sent=False, refers=REQ)
    [tracked] = tracked_requests([_inquiry(), ack, refusal], receipts={REQ: T0})
    assert tracked.answered_by == b"no"


def test_withdrawing_a_request_ends_its_clock() -> None:
    withdrawal = _event("withdrawal", T0 + D, b"wd", sent=True, refers=REQ)
    [tracked] = tracked_requests([_inquiry(), withdrawal], receipts={REQ: T0})
    assert tracked.withdrawn
    assert tracked.closed
    assert tracked.answered_by == b""


def test_a_stop_the_clock_clarification_holds_it_until_the_requester_answers() -> None:
    q = _event("clarification_request", T0 + 10 * D, b"q", sent=False, refers=REQ, stops_clock=True)
    events = [_inquiry(), q]
    tracked = {t.message_id: t for t in tracked_requests(events, receipts={REQ: T0, b"q": T0 + 10 * D})}
    clock = tracked[REQ].clock
    assert clock is not None
    assert clock.stops == ((T0 + 10 * D, None),)
    assert due_ms(clock, T0 + 20 * D) == T0 + 40 * D  # stopped ten days so far
    a = _event("clarification_response", T0 + 15 * D, b"a", sent=True, refers=b"q")
    clock = {t.message_id: t for t in tracked_requests([*events, a], receipts={REQ: T0})}[REQ].clock
    assert clock is not None
    assert clock.stops == ((T0 + 10 * D, T0 + 15 * D),)
    assert due_ms(clock, T0 + 60 * D) == T0 + 35 * D
    # A clarification that does not stop the clock, or one the requester sent, stops nothing.
    keeps = _event("clarification_request", T0 + D, b"k", sent=False, refers=REQ, stops_clock=False)
    mine = _event("clarification_request", T0 + D, b"m", sent=True, refers=REQ, stops_clock=True)
    clock = {t.message_id: t for t in tracked_requests([_inquiry(), keeps, mine], receipts={})}[REQ].clock
    assert clock is not None
    assert clock.stops == ()


def test_a_suspension_the_node_saw_stops_every_clock_of_the_link() -> None:
    events = [_inquiry(), _local(SUSPENDED_KIND, T0 + 5 * D), _local(RESUMED_KIND, T0 + 8 * D)]
    assert suspended_spans(events) == ((T0 + 5 * D, T0 + 8 * D),)
    assert not is_suspended(events)
    [tracked] = tracked_requests(events, receipts={REQ: T0})
    assert tracked.clock is not None
    assert due_ms(tracked.clock, T0 + 60 * D) == T0 + 33 * D
    events.append(_local(SUSPENDED_KIND, T0 + 40 * D))
    assert is_suspended(events)
    assert suspended_spans(events)[-1] == (T0 + 40 * D, None)


def test_the_period_is_the_one_fixed_when_applied_so_a_new_agreement_moves_nothing() -> None:
    shorter = {"social_inquiry_request": KindDeadline(response_days=5)}
    [tracked] = tracked_requests([_inquiry(period=30 * D)], receipts={REQ: T0}, agreement=shorter)
    assert tracked.clock is not None
    assert tracked.clock.period_ms == 30 * D
    # An event stored before periods were kept falls back to the agreement given.
    [old] = tracked_requests([_inquiry(period=0)], receipts={REQ: T0}, agreement=shorter)
    assert old.clock is not None
    assert old.clock.period_ms == 5 * D


def test_period_for_reads_the_due_date_carried_else_the_agreement_and_urgency() -> None:
    due_day = T0 // D + 12
    carried = _event("social_inquiry_request", T0 + H, REQ, response_due_day=due_day)
    assert period_for(carried, None) == 13 * D - H  # to the end of the due day
    past = dataclasses.replace(carried, facts=dataclasses.replace(carried.facts, response_due_day=T0 // D - 3))
    assert period_for(past, None) == 30 * D
    urgent = _event("social_inquiry_request", T0, REQ, urgency="URGENT")
    assert period_for(urgent, None) == 10 * D
    agreed = {"social_inquiry_request": KindDeadline(response_days=20)}
    assert period_for(_event("social_inquiry_request", T0, REQ), agreed) == 20 * D
    assert period_for(_event("social_inquiry_report", T0, REQ), None) is None
    assert period_for(_event("case_notification", T0, REQ), None) is None  # routine: acknowledgement only


def test_a_protection_alert_tracks_its_acknowledgement_only() -> None:
    alert = _event("protection_alert", T0, b"alert", emergency=True)
    [tracked] = tracked_requests([alert], receipts={})
    assert tracked.clock is None
    assert tracked.emergency
    assert tracked.urgency is Urgency.EMERGENCY
    assert tracked.deadline.acknowledge_ms == 4 * H


def test_flagged_messages_are_not_tracked() -> None:
    assert tracked_requests([_inquiry()], receipts={}, ignore=frozenset({REQ})) == []


def test_levels_done_are_read_back_from_the_ladder_events() -> None:
    events = [
        _local(LADDER_KIND, T0, refers_to=REQ, level="REMINDER_L1"),
        _local(LADDER_KIND, T0 + 1, refers_to=REQ, level="GUARDIAN_DAILY", occurrence=2),
        _local(LADDER_KIND, T0 + 2, refers_to=REQ, level="SOMETHING_NEWER"),
    ]
    assert done_steps(events) == {REQ: frozenset({(Level.REMINDER_L1, 0), (Level.GUARDIAN_DAILY, 2)})}


def test_the_wire_urgency_and_due_date_reach_the_facts() -> None:
    body = sample_body("social_inquiry_request", at_ms=T0)
    body.context.urgency = messages_pb2.URGENCY_URGENT
    _, facts = facts_of(body, at_ms=T0)
    assert facts.urgency == "URGENT"
    assert facts.response_due_day > 0
    body.context.urgency = messages_pb2.URGENCY_ROUTINE
    body.social_inquiry_request.urgency = messages_pb2.URGENCY_EMERGENCY
    assert facts_of(body, at_ms=T0)[1].urgency == "EMERGENCY"
    reminder = sample_body("reminder", at_ms=T0)
    assert facts_of(reminder, at_ms=T0)[1].level == "L1_OFFICER"


@given(
    answer_after=st.integers(min_value=1, max_value=60 * D),
    receipt_after=st.integers(min_value=0, max_value=5 * D),
)
def test_an_answered_request_is_never_overdue_after_its_answer(answer_after: int, receipt_after: int) -> None:
    report = _event("social_inquiry_report", T0 + answer_after, b"r", sent=False, reply=REQ)
    [tracked] = tracked_requests([_inquiry(), report], receipts={REQ: T0 + receipt_after})
    assert tracked.clock is not None
    later = overdue_ms(tracked.clock, T0 + 400 * D)
    assert later == overdue_ms(tracked.clock, T0 + answer_after)
    assert ladder_steps(tracked.clock, "requester", T0 + 400 * D, frozenset()) == []


def test_what_is_owed_each_way_is_the_earliest_due_date_and_the_count_past_due() -> None:
    """We asked: the partner owes us; they asked: we owe them. The earliest open due date each way
    and how many are past it; answered, withdrawn and not yet receipted requests owe nothing."""
    theirs = _event("social_inquiry_request", T0, b"theirs", sent=False, period_ms=10 * D)
    other = _event("risk_assessment_request", T0 + D, b"other", sent=False, period_ms=30 * D)
    unreceipted = _event("identity_verification_request", T0, b"later", period_ms=5 * D)
    tracked = tracked_requests(
        [_inquiry(), theirs, other, unreceipted], receipts={REQ: T0, b"theirs": T0, b"other": T0 + D}
    )
    now = T0 + 20 * D
    got = owed(tracked, now)
    assert (got.they_due_ms, got.they_overdue) == (T0 + 30 * D, 0)
    assert (got.we_due_ms, got.we_overdue) == (T0 + 10 * D, 1)
    assert owed(tracked, T0 + 40 * D).they_overdue == 1
    assert owed(tracked, T0 + 40 * D).we_overdue == 2
    report = _event("social_inquiry_report", T0 + 2 * D, b"report", sent=False, reply=REQ)
    answered = tracked_requests([_inquiry(), report], receipts={REQ: T0})
    assert owed(answered, now) == owed([], now)
    assert owed([], now).we_due_ms is None


def test_a_request_without_an_answer_deadline_is_owed_by_its_acknowledgement() -> None:
    """A protection alert they sent: we owe its acknowledgement within 4 hours of receipt, then nothing."""
    alert = _event("protection_alert", T0, b"alert", sent=False, emergency=True)
    [tracked] = tracked_requests([alert], receipts={b"alert": T0})
    assert owed([tracked], T0 + H).we_due_ms == T0 + 4 * H
    assert owed([tracked], T0 + 5 * H).we_overdue == 1
    done = dataclasses.replace(tracked, acknowledged_at_ms=T0 + 2 * H)
    assert owed([done], T0 + 5 * H).we_due_ms is None
