"""Side states of a link: what runs beside the stage and changes what may be done (pure).

MISSING blocks every solution and return step (T7–T13) until FOUND; DETAINED and
REMOVAL_SCHEDULED call for an alert to the State of origin and its consul, and a removal scheduled
while the return gate is unmet would bypass it (immigration removal must never stand in for a
return decision); AGE_OUT_SOON (within 180 days of the 18th birthday on the youngest plausible
reading) calls for a transition plan, AGED_OUT once the day has come; SUSPENDED (no agreement in
force) lets only the agreement's suspended kinds travel; ON_HOLD while a clarification that stops
the clock is open. The node passes in what only it knows (the agreement's status, the gate).
"""

from __future__ import annotations

from focalpoint.cases.state import LinkState

__all__ = ["AGE_OUT_WARNING_DAYS", "side_states"]

AGE_OUT_WARNING_DAYS = 180
_DAY_MS = 86_400_000


def side_states(state: LinkState, *, now_ms: int, suspended: bool, gate_met: bool | None) -> list[str]:
    """The side states in force at ``now_ms``, in a fixed order; ``gate_met`` is None on the State of origin."""
    out: list[str] = []
    if state.missing:
        out.append("MISSING")
    if state.detained:
        out.append("DETAINED")
    if state.removal_scheduled:
        out.append("REMOVAL_SCHEDULED")
        if gate_met is False:
            out.append("REMOVAL_WOULD_BYPASS_THE_GATE")
    if state.age_out_day:
        today = now_ms // _DAY_MS
        if today >= state.age_out_day:
            out.append("AGED_OUT")
        elif state.age_out_day - today <= AGE_OUT_WARNING_DAYS:
            out.append("AGE_OUT_SOON")
    if suspended:
        out.append("SUSPENDED")
    if state.on_hold:
        out.append("ON_HOLD")
    return out
