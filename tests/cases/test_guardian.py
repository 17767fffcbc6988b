"""The guardian clock runs from identification, never longer than 24 hours."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from focalpoint.cases.guardian import GuardianState, Step, guardian_clock, steps_between

H = 3_600_000
T0 = 1_790_000_000_000


def test_the_ladder_reminds_at_12_hours_escalates_at_20_and_breaches_at_24() -> None:
    """No guardian: the officer at 12 h, the supervisor at 20 h, a breach at 24 h, then daily."""
    assert steps_between(identified_at_ms=T0, after_ms=T0, until_ms=T0 + 11 * H) == []
    assert steps_between(identified_at_ms=T0, after_ms=T0, until_ms=T0 + 12 * H) == [Step.REMIND_OFFICER]
    assert steps_between(identified_at_ms=T0, after_ms=T0 + 12 * H, until_ms=T0 + 24 * H) == [
        Step.ESCALATE_SUPERVISOR,
        Step.BREACH,
    ]
    assert steps_between(identified_at_ms=T0, after_ms=T0 + 24 * H, until_ms=T0 + 72 * H) == [Step.DAILY_ESCALATION] * 2


def test_a_case_recorded_late_opens_already_in_breach() -> None:
    """The clock runs from identification, not from when the case was recorded."""
    clock = guardian_clock(identified_at_ms=T0, appointed_at_ms=None, now_ms=T0 + 30 * H)
    assert clock.state is GuardianState.BREACHED
    assert clock.next_step is Step.DAILY_ESCALATION


def test_an_agreement_may_shorten_the_deadline_but_never_lengthen_it() -> None:
    """12 agreed hours make the deadline 12 h; 48 agreed hours still give 24 h."""
    assert (
        guardian_clock(identified_at_ms=T0, appointed_at_ms=None, now_ms=T0, agreed_hours=12).due_at_ms == T0 + 12 * H
    )
    assert (
        guardian_clock(identified_at_ms=T0, appointed_at_ms=None, now_ms=T0, agreed_hours=48).due_at_ms == T0 + 24 * H
    )


def test_a_late_guardian_needs_a_reason_and_a_timely_one_does_not() -> None:
    """Appointed after the deadline: MET_LATE and the notice needs a delay reason."""
    late = guardian_clock(identified_at_ms=T0, appointed_at_ms=T0 + 25 * H, now_ms=T0 + 26 * H)
    assert late.state is GuardianState.MET_LATE
    assert late.late_notice_needs_reason
    on_time = guardian_clock(identified_at_ms=T0, appointed_at_ms=T0 + 6 * H, now_ms=T0 + 26 * H)
    assert on_time.state is GuardianState.MET
    assert not on_time.late_notice_needs_reason


def test_a_verified_adult_has_no_guardian_clock() -> None:
    """Only verified adulthood ends the clock; a presumed minor keeps it."""
    assert guardian_clock(identified_at_ms=T0, appointed_at_ms=None, now_ms=T0, verified_adult=True).state is (
        GuardianState.NOT_APPLICABLE
    )


@given(hours=st.integers(-5, 100), a=st.integers(0, 60 * H), b=st.integers(0, 60 * H), c=st.integers(0, 60 * H))
def test_each_step_falls_due_exactly_once_however_the_time_is_cut(hours: int, a: int, b: int, c: int) -> None:
    """Checking the ladder over (t0,t1] then (t1,t2] gives the same steps as over (t0,t2]: none twice, none lost."""
    t0, t1, t2 = sorted((T0 + a, T0 + b, T0 + c))
    split = steps_between(identified_at_ms=T0, after_ms=t0, until_ms=t1, agreed_hours=hours) + steps_between(
        identified_at_ms=T0, after_ms=t1, until_ms=t2, agreed_hours=hours
    )
    assert split == steps_between(identified_at_ms=T0, after_ms=t0, until_ms=t2, agreed_hours=hours)
