"""Link summaries (pure): any summary travels through the codec unchanged; one of another shape
is refused as stale; and the wake-up times agree with the ladders — no step falls due before a
link's wake-up time, and one does at it."""

from __future__ import annotations

import marshal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focalpoint.cases.clocks import (
    DAY_MS,
    HOUR_MS,
    LADDER,
    Clock,
    Level,
    guardian_steps,
    guardian_wake_ms,
    ladder_steps,
)
from focalpoint.cases.summary import LinkSummary, StaleSummary, decode, encode, ladder_wake_ms

T0 = 1_780_000_000_000


def _clock_strategy() -> st.SearchStrategy[Clock]:
    @st.composite
    def clocks(draw: st.DrawFn) -> Clock:
        period = draw(st.integers(1, 60)) * DAY_MS // draw(st.sampled_from([1, 2, 24]))
        started = draw(st.one_of(st.none(), st.just(T0)))
        stops = []
        at = T0
        for _ in range(draw(st.integers(0, 3))):
            at += draw(st.integers(0, 40 * DAY_MS))
            length = draw(st.integers(1, 10 * DAY_MS))
            stops.append((at, at + length))
            at += length
        return Clock(period_ms=period, started_at_ms=started, stops=tuple(stops))

    return clocks()


st.register_type_strategy(Clock, _clock_strategy())


@settings(max_examples=60, deadline=None)
@given(st.from_type(LinkSummary))
def test_any_summary_travels_through_the_codec_unchanged(summary: LinkSummary) -> None:
    assert decode(encode(summary)) == summary


def test_a_summary_of_another_shape_or_garbage_is_stale() -> None:
    with pytest.raises(StaleSummary):
        decode(marshal.dumps(("another-shape", ())))
    with pytest.raises(StaleSummary):
        decode(b"\x00not marshal")


@settings(max_examples=300, deadline=None)
@given(
    _clock_strategy(),
    st.sampled_from(["responder", "requester"]),
    st.sets(st.sampled_from([r.level for r in LADDER])),
    st.integers(0, 200),
)
def test_no_rung_falls_due_before_the_wake_up_time_and_one_does_at_it(
    clock: Clock, side: str, done: set[Level], probe_days: int
) -> None:
    levels = frozenset(done)
    wake = ladder_wake_ms(clock, side, levels)  # type: ignore[arg-type]
    probe = T0 + probe_days * DAY_MS // 2
    steps = ladder_steps(clock, side, probe, levels)  # type: ignore[arg-type]
    if wake is None:
        assert steps == []
        return
    if probe < wake:
        assert steps == []
    assert ladder_steps(clock, side, wake, levels)  # type: ignore[arg-type]
    assert ladder_steps(clock, side, wake - 1, levels) == []  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([0, 6, 12, 24, 48]),
    st.one_of(st.none(), st.integers(0, 10 * DAY_MS)),
    st.sampled_from(["PRESUMED_MINOR", "VERIFIED_ADULT"]),
    st.integers(0, 6 * DAY_MS),
    st.sets(
        st.one_of(
            st.sampled_from([(lv, 0) for lv in (Level.GUARDIAN_REMIND_OFFICER, Level.GUARDIAN_ESCALATE_SUPERVISOR)]),
            st.sampled_from([(Level.GUARDIAN_BREACH, 0)]),
            st.tuples(st.just(Level.GUARDIAN_DAILY), st.integers(1, 5)),
        )
    ),
)
def test_the_guardian_ladder_has_no_step_before_its_wake_up_time(
    hours: int, appointed_after: int | None, minority: str, now_after: int, done: set[tuple[Level, int]]
) -> None:
    appointed = None if appointed_after is None else T0 + appointed_after
    now = T0 + now_after
    taken = frozenset(done)
    wake = guardian_wake_ms(T0, appointed, minority, hours, now, taken)
    if wake is None:
        assert guardian_steps(T0, appointed, minority, hours, now + 30 * DAY_MS, taken) == []
        return
    # Every moment from now up to the wake-up time (sampled by the hour) gives nothing new.
    t = now
    while t < wake:
        new = guardian_steps(T0, appointed, minority, hours, t, taken)
        assert all(s.due_at_ms <= now for s in new), (t, wake, new)
        t += HOUR_MS
