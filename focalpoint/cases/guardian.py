"""The guardian clock: a guardian for every child within 24 hours of identification (pure).

The clock starts when any agency of the identifying State first identified the child
(``identified_at``), not when the case was recorded: a case recorded late opens already late.
It runs for every case whose minority is not verified adulthood, separated children included.
An agreement may shorten the 24 hours, never lengthen them. The ladder: a reminder to the case
officer at half the period (12 h), the supervisor at 20/24 of it (20 h), a breach and the
focal-point head at the deadline, then every day until a guardian is recorded.
"""

from __future__ import annotations

import dataclasses
import enum

__all__ = ["MAX_HOURS", "GuardianClock", "GuardianState", "Step", "guardian_clock", "steps_between"]

MAX_HOURS = 24
_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
_DAILY_AFTER_BREACH_MAX = 366  # a bounded ladder: a year of daily escalations at most


class GuardianState(enum.Enum):
    NOT_APPLICABLE = "NOT_APPLICABLE"  # verified adult
    RUNNING = "RUNNING"
    MET = "MET"
    MET_LATE = "MET_LATE"
    BREACHED = "BREACHED"


class Step(enum.Enum):
    REMIND_OFFICER = "REMIND_OFFICER"
    ESCALATE_SUPERVISOR = "ESCALATE_SUPERVISOR"
    BREACH = "BREACH"
    DAILY_ESCALATION = "DAILY_ESCALATION"


@dataclasses.dataclass(frozen=True, slots=True)
class GuardianClock:
    state: GuardianState
    due_at_ms: int
    next_step: Step | None
    next_step_at_ms: int | None

    @property
    def late_notice_needs_reason(self) -> bool:
        """A guardian notice sent after the deadline must say why (``delay_reason``)."""
        return self.state is GuardianState.MET_LATE


def _hours(agreed_hours: int) -> int:
    return MAX_HOURS if agreed_hours <= 0 else min(agreed_hours, MAX_HOURS)


def _ladder(identified_at_ms: int, hours: int) -> list[tuple[int, Step]]:
    period = hours * _HOUR_MS
    due = identified_at_ms + period
    steps = [
        (identified_at_ms + period // 2, Step.REMIND_OFFICER),
        (identified_at_ms + period * 20 // 24, Step.ESCALATE_SUPERVISOR),
        (due, Step.BREACH),
    ]
    steps += [(due + i * _DAY_MS, Step.DAILY_ESCALATION) for i in range(1, _DAILY_AFTER_BREACH_MAX + 1)]
    return steps


def guardian_clock(
    *,
    identified_at_ms: int,
    appointed_at_ms: int | None,
    now_ms: int,
    agreed_hours: int = MAX_HOURS,
    verified_adult: bool = False,
) -> GuardianClock:
    """Where the guardian clock stands at ``now_ms``; ``agreed_hours`` above 24 count as 24."""
    hours = _hours(agreed_hours)
    due = identified_at_ms + hours * _HOUR_MS
    if verified_adult:
        return GuardianClock(GuardianState.NOT_APPLICABLE, due, None, None)
    if appointed_at_ms is not None:
        state = GuardianState.MET if appointed_at_ms <= due else GuardianState.MET_LATE
        return GuardianClock(state, due, None, None)
    upcoming = [(at, step) for at, step in _ladder(identified_at_ms, hours) if at > now_ms]
    state = GuardianState.BREACHED if now_ms >= due else GuardianState.RUNNING
    nxt = upcoming[0] if upcoming else None
    return GuardianClock(state, due, nxt[1] if nxt else None, nxt[0] if nxt else None)


def steps_between(*, identified_at_ms: int, after_ms: int, until_ms: int, agreed_hours: int = MAX_HOURS) -> list[Step]:
    """The ladder's steps that fell due in ``(after_ms, until_ms]`` (each step at most once)."""
    return [step for at, step in _ladder(identified_at_ms, _hours(agreed_hours)) if after_ms < at <= until_ms]
