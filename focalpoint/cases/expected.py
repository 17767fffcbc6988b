"""The messages a return makes due without anyone asking for them (pure).

Why this module exists: nearly every deadline answers a request, and its clock runs from the
recipient's signed receipt (``focalpoint.cases.requests``). Two deadlines answer an event in the
world instead: once the child has left, the State of origin confirms the handover within the
agreement's hours of the planned arrival; once the child is handed over, it reports on each
follow-up visit the agreement schedules. Nobody sends a request for these messages, so nothing
would chase them. This module finds them in a link's messages — what is expected, from when, and
what answered it — so ``requests.tracked_requests`` gives each one a clock like a request's, and
the ladder, ``case deadlines`` and the ageing report follow them unchanged (docs/cases.md,
deadlines and escalation).

- The handover: expected from the identifying State's ``return_status_update(DEPARTED)``. Its
  clock starts at the planned arrival: the end (24:00 UTC) of the day the latest
  ``return_status_update(DELAYED)`` reschedules the return to, else of the accepted plan's latest
  departure day — dates travel as calendar days, so a day counts to its end — and never before the
  departure itself. It is answered by the State of origin's ``handover_confirmation`` after the
  departure; a ``CANCELLED`` update (or withdrawing the departure) ends it unanswered.
- The follow-up reports: one per month N of the agreement's ``follow_up_months``, due N calendar
  months after the handover (``handed_over_at``); the clock starts at that due date and its window
  (14 days by default) is the period. Each is answered by the State of origin's
  ``follow_up_report`` naming that occasion (``MN``), whenever within or before the window it comes.

What they hang on: the identifying State expects, so it reminds, and a reminder must name the
sender's own earlier message (the transition table's ``own_message`` guard). Every expectation of
one return therefore hangs on its ``DEPARTED`` update, and ``Expectation.occurrence`` tells them
apart: 0 for the handover, N for the follow-up of month N. The ladder records its levels with that
occurrence, so the M3 and M6 reminders are two steps, not one. Times are signed times both nodes
hold, so both compute the same expectations.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
from collections.abc import Sequence

from focalpoint.cases.clocks import DAY_MS
from focalpoint.cases.events import Event, Origin
from focalpoint.cases.fold import canonical_order

__all__ = [
    "EXPECTED_KINDS",
    "HANDOVER",
    "Expectation",
    "add_months",
    "expectations",
    "planned_arrival_ms",
]

# The kinds a return makes due: their deadline runs from an event in the world, not a receipt.
EXPECTED_KINDS = frozenset({"handover_confirmation", "follow_up_report"})
# The occurrence of the handover's expectation (a follow-up's is its month).
HANDOVER = 0
_EPOCH = dt.date(1970, 1, 1)


@dataclasses.dataclass(frozen=True, slots=True)
class Expectation:
    """One expected message of the link.

    ``message_id`` is the ``DEPARTED`` update it hangs on, and ``origin`` that update's (SENT: this
    node is the identifying State, which expects). ``since_ms``: when it became expected (the
    departure's or the handover confirmation's signed time); ``anchor_ms``: when its clock starts
    (the planned arrival, the follow-up due date). ``answer``: the message that answered it;
    ``lapsed_at_ms``: when the return was cancelled or the departure withdrawn before an answer."""

    message_id: bytes
    kind: str
    occurrence: int
    origin: Origin
    since_ms: int
    anchor_ms: int
    answer: Event | None = None
    lapsed_at_ms: int | None = None


def add_months(at_ms: int, months: int) -> int:
    """``at_ms`` moved ``months`` calendar months on (UTC), at the same time of day; a day the
    month lacks is its last day (31 August + 6 months is 28 or 29 February)."""
    day, time_of_day = divmod(at_ms, DAY_MS)
    at = _EPOCH + dt.timedelta(days=day)
    year, month = divmod(at.year * 12 + at.month - 1 + months, 12)
    moved = dt.date(year, month + 1, min(at.day, calendar.monthrange(year, month + 1)[1]))
    return (moved - _EPOCH).days * DAY_MS + time_of_day


def _status(e: Event, status: str) -> bool:
    return e.kind == "return_status_update" and e.facts.return_status == status


def _end_of(day: int) -> int:
    return (day + 1) * DAY_MS


def planned_arrival_ms(ordered: Sequence[Event], departed: int, until: int | None = None) -> int:
    """The planned arrival of the return whose ``DEPARTED`` update is ``ordered[departed]`` (the
    link's messages in canonical order): the end of the day the latest ``DELAYED`` update of the
    same return (after its plan, and after any earlier cancellation) reschedules to, before
    ``until`` (an index; default: the end), else of the plan's latest departure day; never before
    the departure's signed time."""
    d = ordered[departed]
    before = ordered[:departed]
    plan = next((i for i in range(departed - 1, -1, -1) if before[i].kind == "repatriation_plan"), None)
    cancelled = next(
        (i for i in range(departed - 1, -1, -1) if _status(before[i], "CANCELLED") and before[i].origin is d.origin),
        None,
    )
    day = before[plan].facts.latest_departure_day if plan is not None else 0
    start = max(-1 if plan is None else plan, -1 if cancelled is None else cancelled) + 1
    for e in ordered[start : len(ordered) if until is None else until]:
        if _status(e, "DELAYED") and e.origin is d.origin and e.facts.rescheduled_day:
            day = e.facts.rescheduled_day
    return max(_end_of(day), d.at_ms) if day else d.at_ms


def _handover_end(ordered: Sequence[Event], departed: int) -> tuple[int, Event | None]:
    """Where the handover expected after ``ordered[departed]`` ends: the index of the State of
    origin's confirmation (and it), or of the cancellation or withdrawal (and None); the length
    of ``ordered`` (and None) while it is still open."""
    d = ordered[departed]
    for i in range(departed + 1, len(ordered)):
        e = ordered[i]
        if e.kind == "handover_confirmation" and e.origin is not d.origin:
            return i, e
        if e.origin is d.origin and (
            _status(e, "CANCELLED") or (e.kind == "withdrawal" and e.facts.refers_to == d.message_id)
        ):
            return i, None
    return len(ordered), None


def expectations(messages: Sequence[Event], *, follow_up_months: Sequence[int]) -> list[Expectation]:
    """Every expected message of the link, from its messages (no local events, none flagged):
    the handover after each departure, and after a confirmed handover one follow-up report per
    month of ``follow_up_months`` (the agreement's; its default is 3, 6 and 12)."""
    ordered = canonical_order([e for e in messages if e.origin is not Origin.LOCAL])
    out: list[Expectation] = []
    for i, d in enumerate(ordered):
        if not _status(d, "DEPARTED"):
            continue
        end, confirmation = _handover_end(ordered, i)
        lapsed = ordered[end].at_ms if confirmation is None and end < len(ordered) else None
        out.append(
            Expectation(
                message_id=d.message_id,
                kind="handover_confirmation",
                occurrence=HANDOVER,
                origin=d.origin,
                since_ms=d.at_ms,
                anchor_ms=planned_arrival_ms(ordered, i, end),
                answer=confirmation,
                lapsed_at_ms=lapsed,
            )
        )
        if confirmation is None:
            continue
        handed_over = confirmation.facts.handed_over_at_ms or confirmation.at_ms
        reports = [e for e in ordered[end + 1 :] if e.kind == "follow_up_report" and e.origin is confirmation.origin]
        for months in sorted(set(follow_up_months)):
            occasion = f"M{months}"
            out.append(
                Expectation(
                    message_id=d.message_id,
                    kind="follow_up_report",
                    occurrence=months,
                    origin=d.origin,
                    since_ms=confirmation.at_ms,
                    anchor_ms=add_months(handed_over, months),
                    answer=next((r for r in reports if r.facts.follow_up_occasion == occasion), None),
                )
            )
    return out
