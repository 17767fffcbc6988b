"""The requests of one link that run against a deadline, and their clocks (pure).

Why this module exists: ``focalpoint.cases.clocks`` knows how one clock runs and which rung of
the ladder falls due; this module finds, in a link's events, every request that has a clock —
who asked, how urgently, for how long, since when, what stopped it, and what answered it — so
both nodes of a link read the same requests from the same messages (docs/cases.md, deadlines
and escalation).

- ``tracked_requests``: every request of the link whose kind has a deadline (``clocks.DEFAULTS``,
  the kinds whose clock runs from the recipient's receipt), as ``TrackedRequest`` with its
  ``clocks.Clock``. The clock starts at the recipient's signed receipt, which only the node
  knows (the outbox row a receipt closed, the inbox row stored): it is passed in as
  ``receipts``. Its period is the one the node fixed when the request was applied
  (``Facts.period_ms``, from ``period_for``), so a later agreement version never moves it.
- ``period_for``: the response period a request fixes when it is sent or received — from the
  due date it carries, else the agreement in force then, else the network default.
- ``ANSWERED_BY``: which kinds answer which request, as data; an answer names the request (its
  ``EvidenceRef`` or the envelope's ``in_reply_to``) and comes from the other side.
- ``owed``: what is owed on a link now, each way (the earliest due date and how many are past
  due), as the worklist shows it beside each link;
- ``done_steps``: the ladder levels already taken, read back from the node's ``local:ladder``
  events, so a restart never repeats one; ``request_steps`` the levels now due for one tracked
  request (its own occurrence's only); ``reminded_about`` which request a partner's reminder chases.

Expected messages: the handover confirmation and the follow-up reports are not answers to a
request but messages a return makes due (``focalpoint.cases.expected``). ``tracked_requests``
lists them too, each with a clock from its anchor (the planned arrival, the follow-up due date)
for its window, hung on the identifying State's ``DEPARTED`` update and told apart by
``TrackedRequest.occurrence``: 0 for the handover, N for the follow-up report of month N.

Stops: a clarification the responder sent about the request with ``stops_clock`` stands the clock
still until the requester answers it; a suspended agreement stands every clock of the link still
(the node records when it saw the suspension begin and end as ``local:suspended`` and
``local:resumed`` events). Times of answers, acknowledgements and clarifications are their signed
creation times, which both nodes hold, so both compute the same clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from directory.model import CaseRules, KindDeadline
from focalpoint.cases.clocks import (
    DAY_MS,
    DEFAULTS,
    Anchor,
    Clock,
    ClockSide,
    Deadline,
    Level,
    Step,
    Urgency,
    deadline_for,
    due_ms,
    handover_steps,
    ladder_steps,
    overdue_ms,
)
from focalpoint.cases.events import Event, Origin
from focalpoint.cases.expected import EXPECTED_KINDS, expectations

__all__ = [
    "ANSWERED_BY",
    "EXPECTED_KINDS",
    "LADDER_KIND",
    "RESUMED_KIND",
    "SUSPENDED_KIND",
    "TRACKED_KINDS",
    "Owed",
    "TrackedRequest",
    "done_steps",
    "is_suspended",
    "levels_done",
    "owed",
    "period_for",
    "reminded_about",
    "request_steps",
    "suspended_spans",
    "tracked_requests",
    "urgency_of",
]

# The local events the deadlines node writes on a link: a ladder level taken, and when it saw the
# agreement's suspension begin and end.
LADDER_KIND = "local:ladder"
SUSPENDED_KIND = "local:suspended"
RESUMED_KIND = "local:resumed"

# Request kind -> the kinds that answer it (and so end its clock). A refusal answers any request;
# an acknowledgement only acknowledges (except the opening notice, whose answer is its
# acknowledgement, and a closure request, which an acknowledgement accepts).
ANSWERED_BY: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "case_notification": frozenset({"acknowledgement", "request_refusal"}),
        "tracing_request": frozenset({"case_notification", "request_refusal"}),
        "social_inquiry_request": frozenset({"social_inquiry_report", "request_refusal"}),
        "identity_verification_request": frozenset({"identity_verification_reply", "request_refusal"}),
        "risk_assessment_request": frozenset({"risk_assessment_report", "request_refusal"}),
        "durable_solution_proposal": frozenset(
            {"durable_solution_counter_proposal", "durable_solution_agreement", "request_refusal"}
        ),
        "durable_solution_counter_proposal": frozenset(
            {"durable_solution_counter_proposal", "durable_solution_agreement", "request_refusal"}
        ),
        "repatriation_plan": frozenset({"repatriation_plan_acceptance", "request_refusal"}),
        "clarification_request": frozenset({"clarification_response", "request_refusal"}),
        "protection_alert": frozenset({"acknowledgement"}),
        "case_closure": frozenset({"acknowledgement", "request_refusal"}),
    }
)
# The kinds tracked here: a deadline that runs from the recipient's receipt. The two anchored on an
# event in the world (a handover after the planned arrival, a follow-up report after its visit) are
# expected messages, not answers to a request (``focalpoint.cases.expected``, ``EXPECTED_KINDS``).
TRACKED_KINDS = frozenset(k for k, row in DEFAULTS.items() if row.anchor is Anchor.RECEIPT)
assert ANSWERED_BY.keys() >= TRACKED_KINDS
assert frozenset(k for k, row in DEFAULTS.items() if row.anchor is not Anchor.RECEIPT) == EXPECTED_KINDS


@dataclasses.dataclass(frozen=True, slots=True)
class TrackedRequest:
    """One request of the link with a deadline, as this node knows it.

    ``side`` is this node's side of the request's clock ("requester": we asked). ``clock`` is None
    when the kind has no response deadline at this urgency (a routine notice, a protection alert):
    only its acknowledgement is then due (``deadline.acknowledge_ms`` from the receipt).

    An expected message (``kind`` in ``EXPECTED_KINDS``) is hung on the ``DEPARTED`` update
    (``message_id``, what a reminder names); ``kind`` is the kind expected, ``sent_at_ms`` when it
    became expected, ``started_at_ms`` its anchor, ``withdrawn`` a return cancelled before it came.
    ``occurrence`` tells the expectations on one message apart (0 for every request and for the
    handover, N for the follow-up report of month N); the ladder records its levels with it."""

    message_id: bytes
    kind: str
    side: ClockSide
    urgency: Urgency
    sent_at_ms: int
    deadline: Deadline
    clock: Clock | None
    started_at_ms: int | None
    answered_by: bytes = b""
    answered_at_ms: int | None = None
    acknowledged_at_ms: int | None = None
    withdrawn: bool = False
    emergency: bool = False
    occurrence: int = 0

    @property
    def we_asked(self) -> bool:
        return self.side == "requester"

    @property
    def closed(self) -> bool:
        """Answered or withdrawn: its clock no longer runs."""
        return self.answered_at_ms is not None


@dataclasses.dataclass(frozen=True, slots=True)
class Owed:
    """What is owed on one link now, each way: the earliest due date of an answer we owe the
    partner (``we_*``: they asked) and of one the partner owes us (``they_*``: we asked), None
    when nothing is open that way, and how many of each are past due. A request whose kind has no
    answer deadline counts by its acknowledgement until it is acknowledged; a request not yet
    receipted has no clock and counts nowhere (the same due dates as ``CaseDeadlines``)."""

    we_due_ms: int | None = None
    we_overdue: int = 0
    they_due_ms: int | None = None
    they_overdue: int = 0


def _owed_one(t: TrackedRequest, now_ms: int) -> tuple[int, bool] | None:
    """``t``'s due date as it stands and whether it is past, or None when nothing is owed on it."""
    if t.closed or t.withdrawn or t.started_at_ms is None:
        return None
    if t.clock is not None:
        due = due_ms(t.clock, now_ms)
        return None if due is None else (due, overdue_ms(t.clock, now_ms) > 0)
    if t.acknowledged_at_ms is not None or t.deadline.acknowledge_ms is None:
        return None
    due = t.started_at_ms + t.deadline.acknowledge_ms
    return due, now_ms > due


def owed(tracked: Sequence[TrackedRequest], now_ms: int) -> Owed:
    """What is owed on a link at ``now_ms``, from its tracked requests (``tracked_requests``)."""
    we: list[int] = []
    they: list[int] = []
    we_late = they_late = 0
    for t in tracked:
        one = _owed_one(t, now_ms)
        if one is None:
            continue
        due, late = one
        if t.we_asked:
            they.append(due)
            they_late += late
        else:
            we.append(due)
            we_late += late
    return Owed(min(we, default=None), we_late, min(they, default=None), they_late)


def urgency_of(event: Event) -> Urgency:
    """The urgency the sender set (UNSPECIFIED reads as ROUTINE); an emergency alert is EMERGENCY."""
    if event.facts.emergency:
        return Urgency.EMERGENCY
    try:
        return Urgency(event.facts.urgency)
    except ValueError:
        return Urgency.ROUTINE


def period_for(
    event: Event,
    agreement: Mapping[str, KindDeadline] | None,
    *,
    case_rules: CaseRules | None = None,
) -> int | None:
    """The response period ``event`` fixes when applied: up to the end of the UTC day it carries
    as ``response_due`` (counted from its signed sending time) when that day is still ahead, else
    the agreement's (or the default's) period for its kind and urgency. None: no response deadline."""
    if event.kind not in TRACKED_KINDS:
        return None
    deadline = deadline_for(event.kind, urgency_of(event), agreement, case_rules=case_rules)
    if deadline.respond_ms is None:
        return None
    if event.facts.response_due_day:
        carried = (event.facts.response_due_day + 1) * DAY_MS - event.at_ms
        if carried > 0:
            return carried
    return deadline.respond_ms


def suspended_spans(events: Sequence[Event]) -> tuple[tuple[int, int | None], ...]:
    """The spans in which the node saw the link's agreement suspended, from its local events (the
    last one open while the suspension lasts)."""
    spans: list[tuple[int, int | None]] = []
    for e in sorted((e for e in events if e.kind in (SUSPENDED_KIND, RESUMED_KIND)), key=lambda e: e.at_ms):
        if e.kind == SUSPENDED_KIND and (not spans or spans[-1][1] is not None):
            spans.append((e.at_ms, None))
        elif e.kind == RESUMED_KIND and spans and spans[-1][1] is None:
            spans[-1] = (spans[-1][0], e.at_ms)
    return tuple(spans)


def is_suspended(events: Sequence[Event]) -> bool:
    """Whether the last suspension the node recorded is still open."""
    spans = suspended_spans(events)
    return bool(spans) and spans[-1][1] is None


def done_steps(events: Sequence[Event]) -> dict[bytes, frozenset[tuple[Level, int]]]:
    """The ladder levels taken per request id (``Step.key`` values), from ``local:ladder`` events;
    a level this version does not know is skipped (it can be taken by no rung here)."""
    out: dict[bytes, set[tuple[Level, int]]] = {}
    for e in events:
        if e.kind != LADDER_KIND:
            continue
        try:
            level = Level(e.facts.level)
        except ValueError:
            continue
        out.setdefault(e.facts.refers_to, set()).add((level, e.facts.occurrence))
    return {k: frozenset(v) for k, v in out.items()}


def levels_done(t: TrackedRequest, done: Mapping[bytes, frozenset[tuple[Level, int]]]) -> frozenset[Level]:
    """The ladder levels already taken for ``t`` (``done`` from ``done_steps``): those recorded for
    its message at its own occurrence, so the M3 follow-up's reminder is not the M6's."""
    return frozenset(level for level, n in done.get(t.message_id, frozenset()) if n == t.occurrence)


def request_steps(t: TrackedRequest, now_ms: int, done: Mapping[bytes, frozenset[tuple[Level, int]]]) -> list[Step]:
    """The levels due for ``t`` at ``now_ms`` and not yet taken, oldest first, each carrying ``t``'s
    occurrence (what the node records): the handover's one level on either side, else the
    ladder of ``t``'s side. None without a response deadline, or once answered or withdrawn."""
    if t.clock is None or t.closed:
        return []
    levels = levels_done(t, done)
    if t.kind == "handover_confirmation":
        steps = handover_steps(t.clock, now_ms, levels)
    else:
        steps = ladder_steps(t.clock, t.side, now_ms, levels)
    return [dataclasses.replace(s, occurrence=t.occurrence) for s in steps]


def reminded_about(tracked: Sequence[TrackedRequest], message_id: bytes) -> TrackedRequest | None:
    """The request a partner's reminder naming ``message_id`` chases: the oldest still open of
    those hung on it (several follow-ups hang on one departure), else the last of them."""
    named = [t for t in tracked if t.message_id == message_id]
    return next((t for t in named if not t.closed), named[-1] if named else None)


def _names(e: Event, message_id: bytes) -> bool:
    return message_id in (e.facts.refers_to, e.in_reply_to)


def _first(events: Sequence[Event]) -> Event | None:
    return min(events, key=lambda e: (e.at_ms, e.sequence), default=None)


def tracked_requests(
    events: Sequence[Event],
    *,
    receipts: Mapping[bytes, int],
    agreement: Mapping[str, KindDeadline] | None = None,
    case_rules: CaseRules | None = None,
    ignore: frozenset[bytes] = frozenset(),
) -> list[TrackedRequest]:
    """Every request of the link with a deadline, oldest first.

    ``receipts`` maps a message id to the recipient's signed receipt time (a message we sent: when
    its receipt closed the outbox row; one we received: when we stored it); a request missing from
    it has not started its clock. ``agreement`` (kind deadlines) and ``case_rules`` only fill the
    period of a request stored without one, and give the expected messages their windows and
    follow-up months (``_expected``). ``ignore``: messages the link flagged, not applied."""
    messages = [e for e in events if e.origin is not Origin.LOCAL and e.message_id not in ignore]
    suspended = suspended_spans(events)
    out: list[TrackedRequest] = []
    for request in sorted(messages, key=lambda e: (e.at_ms, e.sequence)):
        if request.kind not in TRACKED_KINDS:
            continue
        mid, theirs = request.message_id, request.origin
        others = [e for e in messages if e.origin is not theirs and _names(e, mid)]
        answer = _first([e for e in others if e.kind in ANSWERED_BY[request.kind]])
        ack = _first([e for e in others if e.kind == "acknowledgement"])
        withdrawal = _first(
            [e for e in messages if e.origin is theirs and e.kind == "withdrawal" and e.facts.refers_to == mid]
        )
        ends = [e.at_ms for e in (answer, withdrawal) if e is not None]
        answered_at = min(ends) if ends else None
        urgency = urgency_of(request)
        deadline = deadline_for(request.kind, urgency, agreement, case_rules=case_rules)
        period = request.facts.period_ms or period_for(request, agreement, case_rules=case_rules)
        started = receipts.get(mid)
        clock = None
        if period:
            clock = Clock(
                period_ms=period,
                started_at_ms=started,
                stops=_stops(messages, request) + suspended,
                answered_at_ms=answered_at,
                acknowledged_at_ms=ack.at_ms if ack is not None else None,
            )
        out.append(
            TrackedRequest(
                message_id=mid,
                kind=request.kind,
                side="requester" if request.origin is Origin.SENT else "responder",
                urgency=urgency,
                sent_at_ms=request.at_ms,
                deadline=deadline,
                clock=clock,
                started_at_ms=started,
                answered_by=answer.message_id if answer is not None else b"",
                answered_at_ms=answered_at,
                acknowledged_at_ms=ack.at_ms if ack is not None else None,
                withdrawn=withdrawal is not None and (answer is None or withdrawal.at_ms < answer.at_ms),
                emergency=request.facts.emergency,
            )
        )
    out += _expected(messages, suspended, agreement, case_rules)
    return sorted(out, key=lambda t: t.sent_at_ms)


def _expected(
    messages: Sequence[Event],
    suspended: tuple[tuple[int, int | None], ...],
    agreement: Mapping[str, KindDeadline] | None,
    case_rules: CaseRules | None,
) -> list[TrackedRequest]:
    """The link's expected messages as tracked requests: the clock starts at the anchor and runs
    for the window the agreement in force gives (its handover hours, its follow-up report
    deadline), stood still while the link is suspended; the identifying State is the requester."""
    rules = case_rules or CaseRules()
    out: list[TrackedRequest] = []
    for x in expectations(messages, follow_up_months=rules.follow_up_months):
        deadline = deadline_for(x.kind, Urgency.ROUTINE, agreement, case_rules=case_rules)
        assert deadline.respond_ms is not None  # both kinds have a window at every agreement
        ended = x.answer.at_ms if x.answer is not None else x.lapsed_at_ms
        out.append(
            TrackedRequest(
                message_id=x.message_id,
                kind=x.kind,
                side="requester" if x.origin is Origin.SENT else "responder",
                urgency=Urgency.ROUTINE,
                sent_at_ms=x.since_ms,
                deadline=deadline,
                clock=Clock(
                    period_ms=deadline.respond_ms,
                    started_at_ms=x.anchor_ms,
                    stops=suspended,
                    answered_at_ms=ended,
                ),
                started_at_ms=x.anchor_ms,
                answered_by=x.answer.message_id if x.answer is not None else b"",
                answered_at_ms=ended,
                withdrawn=x.answer is None and x.lapsed_at_ms is not None,
                occurrence=x.occurrence,
            )
        )
    return out


def _stops(messages: Sequence[Event], request: Event) -> tuple[tuple[int, int | None], ...]:
    """The clarifications the responder sent about ``request`` that stop its clock, each from its
    sending until the requester's first response to it (open while unanswered)."""
    spans: list[tuple[int, int | None]] = []
    for q in messages:
        if q.kind != "clarification_request" or q.origin is request.origin or not q.facts.stops_clock:
            continue
        if not _names(q, request.message_id):
            continue
        response = _first(
            [
                e
                for e in messages
                if e.kind == "clarification_response" and e.origin is request.origin and _names(e, q.message_id)
            ]
        )
        spans.append((q.at_ms, response.at_ms if response is not None else None))
    return tuple(spans)
