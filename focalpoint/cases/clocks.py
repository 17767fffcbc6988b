"""Deadlines, the clock of one request, and the reminder and escalation ladders (pure).

Why this module exists: cases stall because nobody answers abroad and nobody notices. A request
therefore carries a deadline, both nodes run the same clock on it, and both climb a ladder of
reminders and escalations as it runs out (docs/cases.md, deadlines and escalation).

- ``DEFAULTS``: the network's default deadlines per kind and urgency, as data; an agreement
  overrides any of them per kind (``directory.model.KindDeadline``), never below ``FLOORS``.
- ``deadline_for``: the deadline that applies to one request; ``response_due_for`` the due date it
  carries; ``deadline_problems`` what a receiver refuses (a due date shorter than the agreement
  gives, an agreement below a floor).
- ``Clock``: one request's clock. It starts at the recipient's **signed receipt**, never at
  submission, so retries during an outage count against no one. It stops while a clarification
  that stops the clock is open and while the link is suspended (the remaining time resumes), and
  ends when the request is answered. Its period is captured when the request is sent, from the
  agreement version then in force: a later agreement version never moves an open deadline.
- ``ladder_steps``: the reminder and escalation ladder on the responder's and the requester's
  node, each level at most once per request; ``handover_steps`` the one level of an overdue
  handover (both sides alert their supervisors); ``emergency_unacknowledged``: when to phone the
  partner's 24/7 contact; ``guardian_steps``: the guardian ladder from identification.

Calendar time throughout (working days do not compare across States): milliseconds since the
epoch, UTC; the time is always passed in (``now_ms``), never read here.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from directory.model import CaseRules, KindDeadline
from focalpoint.errors import UsageError
from focalpoint.v1 import codes_pb2, messages_pb2

__all__ = [
    "ACKNOWLEDGE_FLOOR_MS",
    "CASE_TARGETS",
    "DEFAULTS",
    "EMERGENCY_ACK_WINDOW_MS",
    "FLOORS",
    "GUARDIAN_MAX_HOURS",
    "LADDER",
    "Action",
    "Anchor",
    "Clock",
    "ClockSide",
    "Deadline",
    "DefaultRow",
    "Level",
    "Rung",
    "Step",
    "Urgency",
    "acknowledgement_overdue_ms",
    "agreement_problems",
    "deadline_for",
    "deadline_problems",
    "deadlines_markdown",
    "due_ms",
    "elapsed_fraction",
    "emergency_unacknowledged",
    "guardian_steps",
    "guardian_wake_ms",
    "handover_steps",
    "is_stopped",
    "ladder_steps",
    "overdue_ms",
    "response_due_for",
    "rung_at_ms",
    "running_ms",
    "stopped_ms",
]

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


# --- urgency and the default deadlines -------------------------------------------------------


class Urgency(enum.Enum):
    """How fast an answer is needed; only the requester sets it (a responder asks for more time
    with a clarification ``EXTENSION_REQUESTED`` instead)."""

    ROUTINE = "ROUTINE"
    URGENT = "URGENT"
    EMERGENCY = "EMERGENCY"  # imminent removal or a threat to the child: hours, not days

    @classmethod
    def from_code(cls, code: int) -> Urgency:
        """The wire's ``Urgency`` code; UNSPECIFIED reads as ROUTINE (a request says when it is urgent)."""
        if code == messages_pb2.URGENCY_URGENT:
            return cls.URGENT
        if code == messages_pb2.URGENCY_EMERGENCY:
            return cls.EMERGENCY
        return cls.ROUTINE


class Anchor(enum.Enum):
    """From when a response period runs. Nearly always the recipient's signed receipt; two kinds
    answer an event in the world instead."""

    RECEIPT = "RECEIPT"
    PLANNED_ARRIVAL = "PLANNED_ARRIVAL"  # handover_confirmation: the plan's planned arrival
    FOLLOW_UP_DUE = "FOLLOW_UP_DUE"  # follow_up_report: the due date of the follow-up visit


@dataclasses.dataclass(frozen=True, slots=True)
class DefaultRow:
    """The network default for one kind; None is "no deadline" (the table's "—")."""

    kind: str
    acknowledge_ms: int | None
    routine_ms: int | None
    urgent_ms: int | None = None
    emergency_ms: int | None = None
    anchor: Anchor = Anchor.RECEIPT
    # Said beside the numbers in the guides, e.g. how an acknowledgement must be sought.
    note: str = ""

    def respond_ms(self, urgency: Urgency) -> int | None:
        return {Urgency.ROUTINE: self.routine_ms, Urgency.URGENT: self.urgent_ms, Urgency.EMERGENCY: self.emergency_ms}[
            urgency
        ]


def _h(hours: int) -> int:
    return hours * HOUR_MS


def _d(days: int) -> int:
    return days * DAY_MS


_ROWS = (
    DefaultRow("case_notification", _h(48), None, _h(24), _h(4)),
    DefaultRow("tracing_request", _h(48), _d(30), _d(7), _h(24)),
    DefaultRow("identity_verification_request", _h(48), _d(15), _d(3), _h(24), note="emergency: detention or removal"),
    DefaultRow("social_inquiry_request", _h(48), _d(30), _d(10), _h(72)),
    DefaultRow("risk_assessment_request", _h(48), _d(30), _d(10), _h(48)),
    DefaultRow("durable_solution_proposal", _h(48), _d(20), _d(7)),
    DefaultRow("durable_solution_counter_proposal", _h(48), _d(20), _d(7)),
    DefaultRow("repatriation_plan", _h(48), _d(10), _d(3)),
    DefaultRow("clarification_request", _h(48), _d(10), _d(3), _h(24)),
    DefaultRow("protection_alert", _h(4), None, note="acknowledge via the partner's 24/7 contact point"),
    DefaultRow("handover_confirmation", None, _h(24), anchor=Anchor.PLANNED_ARRIVAL),
    DefaultRow("follow_up_report", None, _d(14), anchor=Anchor.FOLLOW_UP_DUE),
    DefaultRow("case_closure", None, _d(30)),
)

# Body kind -> its default deadlines. A kind not listed (an answer, a report, a notice) has none.
DEFAULTS: Mapping[str, DefaultRow] = MappingProxyType({row.kind: row for row in _ROWS})

# Targets for a whole case, measured from identification (the ageing report and the indicators
# read them; no message carries them): a durable solution within 90 days, a return within 6 months.
CASE_TARGETS: Mapping[str, int] = MappingProxyType(
    {"durable_solution_from_identification": _d(90), "return_from_identification": _d(183)}
)

# The shortest response period an agreement may set, per urgency. Below it a request cannot be
# answered with care (a routine social inquiry in hours is a fiction); a receiver refuses a due
# date below what the agreement gives, and an agreement value below the floor counts as the floor.
FLOORS: Mapping[Urgency, int] = MappingProxyType(
    {Urgency.ROUTINE: _d(1), Urgency.URGENT: _h(24), Urgency.EMERGENCY: _h(4)}
)
# The shortest acknowledgement period: 4 hours, what a protection alert gets.
ACKNOWLEDGE_FLOOR_MS = _h(4)


@dataclasses.dataclass(frozen=True, slots=True)
class Deadline:
    """The deadlines that apply to one request: durations from its anchor (None: no deadline)."""

    kind: str
    urgency: Urgency
    acknowledge_ms: int | None
    respond_ms: int | None
    anchor: Anchor = Anchor.RECEIPT


def _agreed_respond_ms(agreed: KindDeadline, urgency: Urgency) -> int | None:
    if urgency is Urgency.ROUTINE:
        return _d(agreed.response_days) if agreed.response_days else None
    if urgency is Urgency.URGENT:
        return _h(agreed.urgent_response_hours) if agreed.urgent_response_hours else None
    return _h(agreed.emergency_response_hours) if agreed.emergency_response_hours else None


def _case_rules_respond_ms(kind: str, urgency: Urgency, rules: CaseRules | None) -> int | None:
    """The two routine periods an agreement may also set in its case rules."""
    if rules is None or urgency is not Urgency.ROUTINE:
        return None
    if kind == "case_closure":
        return _d(rules.closure_response_days)
    if kind == "handover_confirmation":
        return _h(rules.handover_confirmation_hours)
    return None


def deadline_for(
    kind: str,
    urgency: Urgency,
    agreement: Mapping[str, KindDeadline] | None,
    *,
    case_rules: CaseRules | None = None,
) -> Deadline:
    """The deadline of a ``kind`` request at ``urgency``: the agreement's value where it sets one
    (its per-kind deadlines first, then its case rules' closure and handover periods), else the
    network default; never below ``FLOORS`` (nor the acknowledgement below
    ``ACKNOWLEDGE_FLOOR_MS``), and an acknowledgement is never due after the answer itself."""
    row = DEFAULTS.get(kind, DefaultRow(kind, None, None))
    agreed = (agreement or {}).get(kind)
    respond = _case_rules_respond_ms(kind, urgency, case_rules) or row.respond_ms(urgency)
    acknowledge = row.acknowledge_ms
    if agreed is not None:
        respond = _agreed_respond_ms(agreed, urgency) or respond
        acknowledge = _h(agreed.acknowledge_hours) if agreed.acknowledge_hours else acknowledge
    if respond is not None:
        respond = max(respond, FLOORS[urgency])
    if acknowledge is not None:
        acknowledge = max(acknowledge, ACKNOWLEDGE_FLOOR_MS)
        if respond is not None:
            acknowledge = min(acknowledge, respond)
    return Deadline(kind, urgency, acknowledge, respond, row.anchor)


def response_due_for(sent_at_ms: int, deadline: Deadline, *, anchor_ms: int | None = None) -> int | None:
    """The ``response_due`` a request carries, fixed when it is sent from the agreement version in
    force then (so a later version never moves it). ``anchor_ms`` is the planned arrival or the
    follow-up due date for the kinds anchored there; None where the kind has no response deadline."""
    if deadline.respond_ms is None:
        return None
    if deadline.anchor is Anchor.RECEIPT:
        return sent_at_ms + deadline.respond_ms
    if anchor_ms is None:
        raise UsageError(f"a {deadline.kind} deadline runs from its {deadline.anchor.value.lower()}: pass anchor_ms")
    return anchor_ms + deadline.respond_ms


def _duration(ms: int) -> str:
    if ms % DAY_MS == 0 and ms >= 3 * DAY_MS:
        return f"{ms // DAY_MS} days"
    return f"{ms // HOUR_MS} hours"


def agreement_problems(agreement: Mapping[str, KindDeadline]) -> list[str]:
    """Every deadline an agreement sets below the network floor (it then counts as the floor)."""
    out: list[str] = []
    for kind in sorted(agreement):
        agreed = agreement[kind]
        for urgency in Urgency:
            value = _agreed_respond_ms(agreed, urgency)
            if value is not None and value < FLOORS[urgency]:
                out.append(
                    f"the agreement's {urgency.value.lower()} response deadline for {kind} is "
                    f"{_duration(value)}, below the floor of {_duration(FLOORS[urgency])}"
                )
        if agreed.acknowledge_hours and _h(agreed.acknowledge_hours) < ACKNOWLEDGE_FLOOR_MS:
            out.append(
                f"the agreement's acknowledgement deadline for {kind} is {agreed.acknowledge_hours} hours, "
                f"below the floor of {_duration(ACKNOWLEDGE_FLOOR_MS)}"
            )
    return out


def _day_start(ms: int) -> int:
    return ms - ms % DAY_MS


def deadline_problems(
    kind: str,
    urgency: Urgency,
    *,
    sent_at_ms: int,
    response_due_ms: int | None,
    agreement: Mapping[str, KindDeadline] | None,
) -> list[str]:
    """What a receiver refuses in a request's due date: one earlier than the period the agreement
    (or the default) gives for this kind and urgency, counted from the signed sending time. Due
    dates travel as calendar days (UTC), so the comparison is by day. Agreement values below a
    floor are listed too. Empty: nothing to refuse. A requester that needs an answer sooner raises
    the urgency; it cannot shorten the period."""
    out = agreement_problems({kind: agreement[kind]} if agreement and kind in agreement else {})
    deadline = deadline_for(kind, urgency, agreement)
    if response_due_ms is None or deadline.respond_ms is None or deadline.anchor is not Anchor.RECEIPT:
        return out
    if _day_start(response_due_ms) < _day_start(sent_at_ms + deadline.respond_ms):
        out.append(
            f"response_due is earlier than the {_duration(deadline.respond_ms)} the agreement gives a "
            f"{urgency.value.lower()} {kind}; a sooner answer needs a higher urgency"
        )
    return out


# --- the clock of one request ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Clock:
    """One request's clock, as either node knows it.

    ``started_at_ms`` is the recipient's signed receipt time (None: not receipted yet, the clock
    has not started and nothing is overdue). ``period_ms`` was fixed when the request was sent.
    ``stops`` are the intervals in which the clock stood still — an open clarification that stops
    the clock, a suspended link — each (from_ms, to_ms), to_ms None while still open; they may
    overlap (a clarification during a suspension) and are counted once.
    """

    period_ms: int
    started_at_ms: int | None = None
    stops: tuple[tuple[int, int | None], ...] = ()
    answered_at_ms: int | None = None
    acknowledged_at_ms: int | None = None

    def __post_init__(self) -> None:
        if self.period_ms <= 0:
            raise UsageError(f"a clock's period must be positive, not {self.period_ms} ms")
        for start, end in self.stops:
            if end is not None and end < start:
                raise UsageError("a stop of the clock must end after it begins")


def _end(clock: Clock, now_ms: int) -> int:
    """Until when the clock can have run: now, or the answer if it came earlier."""
    if clock.answered_at_ms is not None:
        return min(now_ms, clock.answered_at_ms)
    return now_ms


def _merged_stops(clock: Clock, until_ms: int) -> list[tuple[int, int]]:
    """The stops clipped to [start, until_ms] and merged, open ones running to ``until_ms``."""
    if clock.started_at_ms is None:
        return []
    spans = sorted(
        (max(a, clock.started_at_ms), min(until_ms if b is None else b, until_ms))
        for a, b in clock.stops
        if a < until_ms
    )
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if b <= a:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def stopped_ms(clock: Clock, now_ms: int) -> int:
    """How long the clock has stood still since it started (open stops counting to now)."""
    return sum(b - a for a, b in _merged_stops(clock, _end(clock, now_ms)))


def is_stopped(clock: Clock, now_ms: int) -> bool:
    """Whether a stop is in force at ``now_ms``."""
    return any(a <= now_ms and (b is None or now_ms < b) for a, b in clock.stops)


def running_ms(clock: Clock, now_ms: int) -> int:
    """How long the clock has run: since receipt, less the stops, until now or the answer."""
    if clock.started_at_ms is None:
        return 0
    end = _end(clock, now_ms)
    return max(0, end - clock.started_at_ms - stopped_ms(clock, now_ms))


def due_ms(clock: Clock, now_ms: int) -> int | None:
    """When the answer is due as it stands at ``now_ms``: receipt + period + the time stopped so
    far (an open stop pushes it on while it lasts). None before receipt."""
    if clock.started_at_ms is None:
        return None
    return clock.started_at_ms + clock.period_ms + stopped_ms(clock, now_ms)


def elapsed_fraction(clock: Clock, now_ms: int) -> float:
    """The share of the period used so far (0.0 before receipt; above 1.0 when overdue)."""
    return running_ms(clock, now_ms) / clock.period_ms


def overdue_ms(clock: Clock, now_ms: int) -> int:
    """How long past due (0 if not); frozen while stopped and at the answer (how late it came)."""
    return max(0, running_ms(clock, now_ms) - clock.period_ms)


def acknowledgement_overdue_ms(clock: Clock, acknowledge_ms: int | None, now_ms: int) -> int:
    """How late the acknowledgement is at ``now_ms`` (0 if on time, received, or not required).
    An answer counts as an acknowledgement."""
    if acknowledge_ms is None or clock.started_at_ms is None:
        return 0
    done = [t for t in (clock.acknowledged_at_ms, clock.answered_at_ms) if t is not None]
    until = min([now_ms, *done])
    return max(0, until - clock.started_at_ms - acknowledge_ms)


def _wall_time_at(clock: Clock, run_ms: int, now_ms: int) -> int | None:
    """The moment the clock had run ``run_ms`` (stops as known at ``now_ms``); None if not yet."""
    if clock.started_at_ms is None:
        return None
    t, remaining = clock.started_at_ms, run_ms
    for a, b in _merged_stops(clock, _end(clock, now_ms)):
        if a - t >= remaining:
            break
        remaining -= a - t
        t = b
    at = t + remaining
    return at if at <= _end(clock, now_ms) else None


def rung_at_ms(clock: Clock, run_ms: int) -> int | None:
    """When the clock will have run ``run_ms``, if no stop begins meanwhile (stops already closed
    are skipped over; None before receipt or while a stop is open: its end is not known yet)."""
    if clock.started_at_ms is None or any(end is None for _, end in clock.stops):
        return None
    t, remaining = clock.started_at_ms, run_ms
    for a, b in _merged_stops(clock, _FAR):
        if a - t >= remaining:
            break
        remaining -= a - t
        t = b
    return t + remaining


_FAR = 1 << 62


# --- the ladder --------------------------------------------------------------------------------


class Level(enum.Enum):
    """A rung of a ladder. Each is taken at most once per request (the guardian's daily escalation
    once per day); the node records the levels done and passes them back in."""

    REMIND_ASSIGNEE = "REMIND_ASSIGNEE"  # responder, 75 %
    DUE_IN_24H = "DUE_IN_24H"  # responder, 24 h before due (periods over 96 h only)
    ESCALATE_SUPERVISOR = "ESCALATE_SUPERVISOR"  # responder, 100 %
    REMINDER_L1 = "REMINDER_L1"  # requester, 100 %
    REMINDER_L2 = "REMINDER_L2"  # requester, +50 % (at least 3 days)
    REMINDER_L3 = "REMINDER_L3"  # requester, +100 % (at least 7 days)
    GUARDIAN_REMIND_OFFICER = "GUARDIAN_REMIND_OFFICER"
    GUARDIAN_ESCALATE_SUPERVISOR = "GUARDIAN_ESCALATE_SUPERVISOR"
    GUARDIAN_BREACH = "GUARDIAN_BREACH"
    GUARDIAN_DAILY = "GUARDIAN_DAILY"
    HANDOVER_OVERDUE = "HANDOVER_OVERDUE"  # both sides, 100 % of the handover window


class Action(enum.Enum):
    """What the node does when a level falls due: notify its own people, or message the partner."""

    NOTIFY_ASSIGNEE = "NOTIFY_ASSIGNEE"  # the case officer working the request
    NOTIFY_SUPERVISOR = "NOTIFY_SUPERVISOR"
    NOTIFY_FOCAL_POINT_HEAD = "NOTIFY_FOCAL_POINT_HEAD"  # the node's own focal-point head
    SEND_REMINDER_L1 = "SEND_REMINDER_L1"  # a reminder(L1) message to the partner
    SEND_REMINDER_L2 = "SEND_REMINDER_L2"  # a reminder(L2) message, to the partner's focal-point head
    LIST_IN_BILATERAL_REPORT = "LIST_IN_BILATERAL_REPORT"  # L3: for the agreement's steering contacts
    RECORD_GUARDIAN_BREACH = "RECORD_GUARDIAN_BREACH"  # a breach event on the case (indicator I1)


ClockSide = Literal["responder", "requester"]


@dataclasses.dataclass(frozen=True, slots=True)
class Rung:
    """A level falls due once the clock has run ``period × num / den`` and at least ``period +
    after_due_at_least_ms`` when that is set (the "+50 % but at least 3 days" rungs): a short
    urgent period still leaves the partner days, not hours, between reminders.

    ``before_due_ms`` moves the rung that much earlier ("due tomorrow": the period less 24 h of
    clock time). Such a rung exists only where it falls strictly after ``period × after`` (the
    75 % reminder it follows): on a short period that reminder is already within a day of the
    due date, and a second notice hours later would only be noise."""

    level: Level
    side: ClockSide
    num: int
    den: int
    actions: tuple[Action, ...]
    after_due_at_least_ms: int | None = None
    # The reminder message's EscalationLevel code (0: no message to the partner).
    escalation_code: int = 0
    # How long before ``period × num / den`` the rung falls (None: at it).
    before_due_ms: int | None = None
    # The fraction (num, den) of the period the rung must come strictly after, else it never falls.
    after: tuple[int, int] | None = None

    def threshold_ms(self, period_ms: int) -> int | None:
        """How long the clock must have run for this level to fall due; None: never, on this period."""
        at = period_ms * self.num // self.den
        if self.after_due_at_least_ms is not None:
            at = max(at, period_ms + self.after_due_at_least_ms)
        if self.before_due_ms is not None:
            at -= self.before_due_ms
        if self.after is not None and at * self.after[1] <= period_ms * self.after[0]:
            return None
        return at


# The responder's first reminder, at 75 % of the period (the "due tomorrow" rung comes after it).
_REMIND_AT = (3, 4)


LADDER: tuple[Rung, ...] = (
    Rung(Level.REMIND_ASSIGNEE, "responder", *_REMIND_AT, (Action.NOTIFY_ASSIGNEE,)),
    Rung(Level.DUE_IN_24H, "responder", 1, 1, (Action.NOTIFY_ASSIGNEE,), before_due_ms=_d(1), after=_REMIND_AT),
    Rung(Level.ESCALATE_SUPERVISOR, "responder", 1, 1, (Action.NOTIFY_SUPERVISOR,)),
    Rung(
        Level.REMINDER_L1,
        "requester",
        1,
        1,
        (Action.SEND_REMINDER_L1, Action.NOTIFY_SUPERVISOR),
        escalation_code=codes_pb2.ESCALATION_LEVEL_L1_OFFICER,
    ),
    Rung(
        Level.REMINDER_L2,
        "requester",
        3,
        2,
        (Action.SEND_REMINDER_L2, Action.NOTIFY_FOCAL_POINT_HEAD),
        after_due_at_least_ms=_d(3),
        escalation_code=codes_pb2.ESCALATION_LEVEL_L2_FOCAL_POINT_HEAD,
    ),
    Rung(
        Level.REMINDER_L3,
        "requester",
        2,
        1,
        (Action.LIST_IN_BILATERAL_REPORT,),
        after_due_at_least_ms=_d(7),
        escalation_code=codes_pb2.ESCALATION_LEVEL_L3_STEERING,
    ),
)


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """A level now due: what to do, and when it fell due (a node that was down catches up in order)."""

    level: Level
    due_at_ms: int
    actions: tuple[Action, ...]
    # 0 for every level but the guardian's daily escalation, which counts its days from 1.
    occurrence: int = 0
    escalation_code: int = 0

    @property
    def key(self) -> tuple[Level, int]:
        """What the node records as done (``guardian_steps`` takes these back)."""
        return (self.level, self.occurrence)


def ladder_steps(clock: Clock, side: ClockSide, now_ms: int, done: frozenset[Level]) -> list[Step]:
    """The levels of ``side``'s ladder due at ``now_ms`` and not yet done, oldest first.

    Nothing before the signed receipt, nothing once answered, nothing while the clock is stopped
    (the levels resume with the remaining time)."""
    if not _may_step(clock, now_ms):
        return []
    out: list[Step] = []
    for rung in LADDER:
        if rung.side != side or rung.level in done:
            continue
        run = rung.threshold_ms(clock.period_ms)
        at = None if run is None else _wall_time_at(clock, run, now_ms)
        if at is not None:
            out.append(Step(rung.level, at, rung.actions, escalation_code=rung.escalation_code))
    return sorted(out, key=lambda s: s.due_at_ms)


def _may_step(clock: Clock, now_ms: int) -> bool:
    """Started, not answered, not stopped: a level can fall due."""
    if clock.started_at_ms is None or now_ms < clock.started_at_ms:
        return False
    if clock.answered_at_ms is not None and clock.answered_at_ms <= now_ms:
        return False
    return not is_stopped(clock, now_ms)


def handover_steps(clock: Clock, now_ms: int, done: frozenset[Level]) -> list[Step]:
    """The handover's one level, the same on both sides: once its window from the planned arrival
    has run out unconfirmed, each node alerts its own supervisors (both compute the same clock from
    signed times, so no message passes between them). Empty once done, answered or while stopped."""
    if Level.HANDOVER_OVERDUE in done or not _may_step(clock, now_ms):
        return []
    at = _wall_time_at(clock, clock.period_ms, now_ms)
    return [] if at is None else [Step(Level.HANDOVER_OVERDUE, at, (Action.NOTIFY_SUPERVISOR,))]


EMERGENCY_ACK_WINDOW_MS = _h(4)


def emergency_unacknowledged(
    sent_receipt_ms: int | None,
    acknowledged_at_ms: int | None,
    now_ms: int,
    window_ms: int = EMERGENCY_ACK_WINDOW_MS,
    *,
    sent_at_ms: int | None = None,
) -> bool:
    """Whether an EMERGENCY alert has gone ``window_ms`` without acknowledgement: the node then
    shows the partner's 24/7 urgent contact to phone. Unlike an accountability clock, this runs
    from the earliest time known — the sending time if given, else the signed receipt — because a
    partner that cannot be reached is exactly when a phone call is needed."""
    if acknowledged_at_ms is not None and acknowledged_at_ms <= now_ms:
        return False
    known = [t for t in (sent_at_ms, sent_receipt_ms) if t is not None]
    if not known:
        return False
    return now_ms - min(known) >= window_ms


# --- the guardian ladder ------------------------------------------------------------------------

GUARDIAN_MAX_HOURS = 24


def _guardian_rungs(identified_at_ms: int, deadline_hours: int) -> list[tuple[int, Level, tuple[Action, ...]]]:
    hours = GUARDIAN_MAX_HOURS if deadline_hours <= 0 else min(deadline_hours, GUARDIAN_MAX_HOURS)
    period = _h(hours)
    return [
        (identified_at_ms + period * 12 // 24, Level.GUARDIAN_REMIND_OFFICER, (Action.NOTIFY_ASSIGNEE,)),
        (identified_at_ms + period * 20 // 24, Level.GUARDIAN_ESCALATE_SUPERVISOR, (Action.NOTIFY_SUPERVISOR,)),
        (
            identified_at_ms + period,
            Level.GUARDIAN_BREACH,
            (Action.RECORD_GUARDIAN_BREACH, Action.NOTIFY_FOCAL_POINT_HEAD),
        ),
    ]


def guardian_steps(
    identified_at_ms: int,
    appointed_at_ms: int | None,
    minority: str,
    deadline_hours: int,
    now_ms: int,
    done: frozenset[tuple[Level, int]],
) -> list[Step]:
    """The guardian ladder's steps due at ``now_ms`` and not in ``done`` (``Step.key`` values).

    From ``identified_at_ms`` — first identification by any agency, not case creation — for every
    case whose ``minority`` is not ``VERIFIED_ADULT`` while no guardian is appointed: the officer at
    12/24 of the deadline, the supervisor at 20/24, at the deadline (the agreement's guardian hours,
    never more than 24; 0 means 24) a breach and the focal-point head, then the head again each day.
    A case recorded after the deadline therefore opens in breach. Of the daily escalations only the
    newest due is returned: a node back from a stop does not send a burst of stale ones."""
    if minority == "VERIFIED_ADULT":
        return []
    if appointed_at_ms is not None and appointed_at_ms <= now_ms:
        return []
    out = [
        Step(level, at, actions)
        for at, level, actions in _guardian_rungs(identified_at_ms, deadline_hours)
        if at <= now_ms and (level, 0) not in done
    ]
    breach_at = _guardian_rungs(identified_at_ms, deadline_hours)[-1][0]
    if now_ms >= breach_at + DAY_MS:
        days = (now_ms - breach_at) // DAY_MS
        if (Level.GUARDIAN_DAILY, days) not in done:
            out.append(Step(Level.GUARDIAN_DAILY, breach_at + days * DAY_MS, (Action.NOTIFY_FOCAL_POINT_HEAD,), days))
    return out


def guardian_wake_ms(
    identified_at_ms: int,
    appointed_at_ms: int | None,
    minority: str,
    deadline_hours: int,
    now_ms: int,
    done: frozenset[tuple[Level, int]],
) -> int | None:
    """When ``guardian_steps`` next has a step to give, after ``now_ms`` or at it (None: the
    ladder is over: an adult, or a guardian appointed)."""
    if minority == "VERIFIED_ADULT" or (appointed_at_ms is not None and appointed_at_ms <= now_ms):
        return None
    rungs = _guardian_rungs(identified_at_ms, deadline_hours)
    pending = [at for at, level, _ in rungs if (level, 0) not in done]
    breach_at = rungs[-1][0]
    days = (now_ms - breach_at) // DAY_MS if now_ms >= breach_at + DAY_MS else 0
    if days >= 1 and (Level.GUARDIAN_DAILY, days) not in done:
        pending.append(breach_at + days * DAY_MS)  # today's, not taken yet
    pending.append(breach_at + (days + 1) * DAY_MS)
    if appointed_at_ms is not None:
        pending.append(appointed_at_ms)  # the ladder ends then: look again
    return min(pending)


# --- the guide ----------------------------------------------------------------------------------


def _cell(ms: int | None, *, in_hours: bool = False) -> str:
    if ms is None:
        return "—"
    if ms % DAY_MS == 0 and ms >= 3 * DAY_MS and not in_hours:
        return f"{ms // DAY_MS} d"
    return f"{ms // HOUR_MS} h"


_ANCHOR_WORDS = {Anchor.PLANNED_ARRIVAL: "planned arrival + ", Anchor.FOLLOW_UP_DUE: "follow-up due date + "}


def deadlines_markdown() -> str:
    """The default deadlines and the floors as Markdown (docs/cases.md is generated from it)."""
    lines = [
        "| kind | acknowledge | routine | urgent | emergency | note |",
        "|---|---|---|---|---|---|",
    ]
    for row in _ROWS:
        routine = _cell(row.routine_ms)
        if row.routine_ms is not None and row.anchor is not Anchor.RECEIPT:
            routine = _ANCHOR_WORDS[row.anchor] + routine
        cells = [
            f"`{row.kind}`",
            _cell(row.acknowledge_ms),
            routine,
            _cell(row.urgent_ms),
            _cell(row.emergency_ms, in_hours=True),
        ]
        lines.append("| " + " | ".join([*cells, row.note]) + " |")
    lines += [
        "",
        "Case-level targets, from identification: a durable solution within "
        f"{CASE_TARGETS['durable_solution_from_identification'] // DAY_MS} days, a return within "
        f"{CASE_TARGETS['return_from_identification'] // DAY_MS} days (six months).",
        "",
        "Floors (no agreement sets a shorter period; a shorter value counts as the floor): "
        + ", ".join(f"{u.value.lower()} {_cell(FLOORS[u])}" for u in Urgency)
        + f", acknowledgement {_cell(ACKNOWLEDGE_FLOOR_MS)}.",
    ]
    return "\n".join(lines) + "\n"
