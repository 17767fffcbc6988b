"""What a notification is about, and who may turn which off: pure rules, no I/O.

Every event the node tells people of belongs to one **family** (``FAMILIES``): ``deadlines`` (the
ladder of a request, the guardian ladder, a handover not confirmed), ``requests`` (a partner's new
request for us), ``emergency`` (an emergency alert received, or one we sent that nobody
acknowledged) and ``security`` (break-glass, access anomalies). A person may turn e-mail off per
family, but not where their duty is to be told (``must_receive``):

- ``emergency`` reaches the 24/7 on-call list (or, when nobody is on call, the operators): someone
  on call, or an operator, cannot turn it off;
- ``security`` reaches the operators and the owning unit's supervisors (case officers with the
  approve grant), who review break-glass and anomalies: they cannot turn it off.

So the preferences matter for ``deadlines`` and ``requests``, and for anyone the two rules do
not name. ``event_type`` is what leaves the node about an event (an e-mail's template, a webhook's
``type``): the kind only, never its detail (the partner's contact point, the anomaly's rule).
"""

from __future__ import annotations

from collections.abc import Iterable

from focalpoint.people.roles import Grant, Role

__all__ = [
    "EMERGENCY_ALERT",
    "EVENT_TYPES",
    "FAMILIES",
    "NEW_REQUEST",
    "event_type",
    "family",
    "must_receive",
    "preference_problems",
    "wants_email",
]

FAMILIES = ("deadlines", "requests", "emergency", "security")

# The two events this module adds to the node's: a partner's emergency alert arrived, and a
# partner's request for us arrived (the request kinds with a clock, focalpoint.cases.requests).
EMERGENCY_ALERT = "emergency:alert"
NEW_REQUEST = "request:new"

# Every event the node emits, by its type (its detail dropped), with its family.
EVENT_TYPES: dict[str, str] = {
    "break_glass": "security",
    "anomaly": "security",
    "deadline:75%": "deadlines",
    "deadline:24h": "deadlines",
    "deadline:overdue": "deadlines",
    "deadline:reminder": "deadlines",
    "guardian:12h": "deadlines",
    "guardian:20h": "deadlines",
    "guardian:breach": "deadlines",
    "guardian:daily": "deadlines",
    "handover:overdue": "deadlines",
    "emergency:alert": "emergency",
    "emergency:unacknowledged": "emergency",
    "request:new": "requests",
}


def event_type(event: str) -> str:
    """``event`` without its detail ("deadline:reminder-L2" → "deadline:reminder",
    "emergency:unacknowledged:al-cp-24x7" → "emergency:unacknowledged", "anomaly:bulk_reads" →
    "anomaly"); an event this table does not know is "other"."""
    if event in EVENT_TYPES:
        return event
    for prefix in ("deadline:reminder", "emergency:unacknowledged", "anomaly"):
        if event.startswith(prefix + ("-" if prefix == "deadline:reminder" else ":")):
            return prefix
    return "other"


def family(event: str) -> str:
    """The family of ``event`` ("other" for an event of no family: it cannot be turned off)."""
    return EVENT_TYPES.get(event_type(event), "other")


def must_receive(fam: str, roles: Iterable[Role], grants: Iterable[Grant], on_call: bool) -> bool:
    """True when a person's duty is to be told of ``fam`` whatever they chose."""
    roles, grants = frozenset(roles), frozenset(grants)
    if fam == "emergency":
        return on_call or Role.OPERATOR in roles
    if fam == "security":
        return Role.OPERATOR in roles or (Role.CASE_OFFICER in roles and Grant.APPROVE in grants)
    return fam == "other"


def wants_email(event: str, off: Iterable[str], roles: Iterable[Role], grants: Iterable[Grant], on_call: bool) -> bool:
    """Whether a person with these preferences (``off``: families turned off) gets ``event`` by e-mail."""
    fam = family(event)
    return fam not in frozenset(off) or must_receive(fam, roles, grants, on_call)


def preference_problems(off: Iterable[str], roles: Iterable[Role], grants: Iterable[Grant], on_call: bool) -> list[str]:
    """What is wrong with turning ``off`` these families for this person (empty: nothing)."""
    problems = []
    for fam in sorted(frozenset(off)):
        if fam not in FAMILIES:
            problems.append(f"{fam!r} is not a notification family ({', '.join(FAMILIES)})")
        elif must_receive(fam, roles, grants, on_call):
            why = {
                "emergency": "those on call and operators are always told of emergencies",
                "security": "operators and supervisors are always told of break-glass and access anomalies",
            }[fam]
            problems.append(f"{fam} cannot be turned off: {why}")
    return problems
