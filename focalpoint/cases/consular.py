"""A consular visit, judged before the node records it (pure).

A consul visits their national and records it (docs/consuls.md): the day, where, whether the
child was seen and an interpreter used, how far the travel document has got, the next visit
planned and what was raised with the case officer. The record is kept at the consul's node only
(a local case event, ``LOCAL_KIND``), never sent to the partner, and it is coded throughout: the
REPATRIATION view a consul reads holds no free text, so neither does what they write.

``visit_problems`` lists every problem at once, each naming its field, so a form can show each
beside its field and the node can refuse with all of them in one error. Dates are calendar days
without a time zone; "not in the future" is judged against the day it already is somewhere
(UTC+14), so a consul east of UTC recording a visit made today is never refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from google.protobuf.descriptor import EnumDescriptor

from focalpoint.v1 import common_pb2, local_pb2

__all__ = [
    "CONCERNS",
    "EARLIEST_YEAR",
    "LOCAL_KIND",
    "NEXT_VISIT_WITHIN_DAYS",
    "PLACES",
    "TRAVEL_DOCUMENT",
    "latest_today",
    "visit_problems",
]

LOCAL_KIND = "local:consular_visit"
EARLIEST_YEAR = 2000  # a visit before it is a typing mistake
NEXT_VISIT_WITHIN_DAYS = 366
_AHEAD_OF_UTC = dt.timedelta(hours=14)  # the earliest time zone (Line Islands)


def _short_names(enum: EnumDescriptor) -> tuple[str, ...]:
    """An enum's code names without its prefix, UNSPECIFIED left out (CONSULAR_VISIT_PLACE_SHELTER → SHELTER)."""
    prefix = enum.values[0].name.removesuffix("UNSPECIFIED")
    return tuple(v.name.removeprefix(prefix) for v in enum.values if v.number != 0)


# The codes a visit may carry, by their short names.
PLACES = _short_names(local_pb2.ConsularVisitPlace.DESCRIPTOR)
TRAVEL_DOCUMENT = _short_names(local_pb2.TravelDocumentProgress.DESCRIPTOR)
CONCERNS = _short_names(local_pb2.ConsularConcern.DESCRIPTOR)


def latest_today(now_ms: int) -> dt.date:
    """The latest calendar day it is anywhere at ``now_ms`` (what "not in the future" is judged by)."""
    return (dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC) + _AHEAD_OF_UTC).date()


def _day(d: common_pb2.Date) -> dt.date | None:
    try:
        return dt.date(d.year, d.month, d.day)
    except ValueError:
        return None


def _visited_on(visit: local_pb2.ConsularVisit, today: dt.date) -> tuple[dt.date | None, str]:
    if not visit.HasField("visited_on"):
        return None, "give the day of the visit"
    day = _day(visit.visited_on)
    if day is None:
        return None, "is not a calendar date (year, month and day)"
    if day > today:
        return None, "is in the future: record a visit once it has taken place"
    if day.year < EARLIEST_YEAR:
        return None, f"is before {EARLIEST_YEAR}: check the year"
    return day, ""


def _next_visit_on(visit: local_pb2.ConsularVisit, visited: dt.date | None, today: dt.date) -> str:
    if not visit.HasField("next_visit_on"):
        return ""
    day = _day(visit.next_visit_on)
    if day is None:
        return "is not a calendar date (year, month and day)"
    if visited is not None and day <= visited:
        return "must be after the day of this visit"
    if day > today + dt.timedelta(days=NEXT_VISIT_WITHIN_DAYS):
        return "must be within a year from today"
    return ""


def _concerns(visit: local_pb2.ConsularVisit) -> str:
    given = list(visit.concerns)
    known = set(local_pb2.ConsularConcern.values()) - {local_pb2.CONSULAR_CONCERN_UNSPECIFIED}
    if not given:
        return "choose at least one (NONE when nothing was raised)"
    if any(c not in known for c in given):
        return "holds a code that is not a concern"
    if len(set(given)) != len(given):
        return "names a concern twice"
    if local_pb2.CONSULAR_CONCERN_NONE in given and len(given) > 1:
        return "NONE cannot be combined with a concern"
    return ""


def _code(value: int, values: Collection[int], what: str) -> str:
    if value == 0:
        return f"choose {what}"
    if value not in values:
        return f"is not a code of {what}"
    return ""


def visit_problems(visit: local_pb2.ConsularVisit, *, now_ms: int) -> dict[str, str]:
    """Every problem of ``visit``, field name → what is wrong (empty: it may be recorded)."""
    today = latest_today(now_ms)
    visited, problem = _visited_on(visit, today)
    problems = {
        "visited_on": problem,
        "place": _code(visit.place, local_pb2.ConsularVisitPlace.values(), "where the visit took place"),
        "child_seen": "" if visit.HasField("child_seen") else "say whether the child was seen",
        "interpreter_used": "" if visit.HasField("interpreter_used") else "say whether an interpreter was used",
        "travel_document": _code(
            visit.travel_document, local_pb2.TravelDocumentProgress.values(), "the travel document's progress"
        ),
        "next_visit_on": _next_visit_on(visit, visited, today),
        "concerns": _concerns(visit),
    }
    return {name: why for name, why in problems.items() if why}
