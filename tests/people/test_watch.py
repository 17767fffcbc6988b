"""The anomaly rules over reads, with time passed in."""

from __future__ import annotations

import dataclasses
import itertools

from hypothesis import given
from hypothesis import strategies as st

from focalpoint.people.permissions import Purpose
from focalpoint.people.watch import RULES, Read, Watch

HOUR = 3_600_000
BASE = Read(
    user_id="u1",
    link_id="l1",
    at_ms=10 * HOUR,
    purpose=Purpose.CASE_WORK,
    owned=True,
    assigned=frozenset(),
    restricted=False,
    closed=False,
)


def read(**changes: object) -> Read:
    return dataclasses.replace(BASE, **changes)  # type: ignore[arg-type]


def test_an_ordinary_read_fires_nothing() -> None:
    assert Watch().observe(BASE) == []


def test_a_read_by_an_officer_not_assigned_or_of_an_unowned_case_fires() -> None:
    watch = Watch()
    assert watch.observe(read(assigned=frozenset({"u2"}))) == ["read_without_assignment"]
    assert watch.observe(read(assigned=frozenset({"u1", "u2"}))) == []
    assert watch.observe(read(owned=False)) == ["read_without_assignment"]
    assert watch.observe(read(owned=False, purpose=Purpose.TRIAGE)) == []  # routing is triage's work


def test_restricted_and_closed_cases_fire_on_content_reads_only() -> None:
    watch = Watch()
    assert watch.observe(read(restricted=True, closed=True)) == ["restricted_read", "read_after_closure"]
    assert watch.observe(read(restricted=True, closed=True, content=False)) == []


def test_bulk_reads_fire_once_an_hour_past_the_limit_and_the_window_slides() -> None:
    watch = Watch(bulk_limit=3)
    fired = [watch.observe(read(link_id=f"l{i}", at_ms=BASE.at_ms + i)) for i in range(6)]
    assert fired == [[], [], [], ["bulk_reads"], [], []]
    assert watch.distinct("u1") == 6
    assert watch.observe(read(link_id="l1", at_ms=BASE.at_ms + 10)) == []  # a case read again is not new
    later = BASE.at_ms + HOUR + 100  # an hour later the earlier reads left the window
    assert watch.observe(read(link_id="x", at_ms=later)) == []
    assert watch.distinct("u1") == 1


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 40)), max_size=200))
def test_bulk_alerts_at_most_once_per_user_per_window(reads: list[tuple[str, int]]) -> None:
    watch = Watch(bulk_limit=5)
    alerts: dict[str, list[int]] = {}
    for n, (user, link) in enumerate(reads):
        at = BASE.at_ms + n * 1000
        if "bulk_reads" in watch.observe(read(user_id=user, link_id=f"l{link}", at_ms=at)):
            alerts.setdefault(user, []).append(at)
    for times in alerts.values():
        assert all(b - a >= HOUR for a, b in itertools.pairwise(times))
    assert set(RULES) >= {"bulk_reads"}


def test_memory_is_bounded_by_users() -> None:
    watch = Watch(max_users=10)
    for i in range(50):
        watch.observe(read(user_id=f"u{i}"))
    assert watch.distinct("u0") == 0
    assert watch.distinct("u49") == 1
