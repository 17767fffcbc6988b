"""The notification families and who may turn which off (focalpoint.people.notices)."""

from __future__ import annotations

import pytest

from focalpoint.people.notices import (
    EVENT_TYPES,
    FAMILIES,
    event_type,
    family,
    must_receive,
    preference_problems,
    wants_email,
)
from focalpoint.people.roles import Grant, Role

CO, OP = frozenset({Role.CASE_OFFICER}), frozenset({Role.OPERATOR})
APPROVE = frozenset({Grant.APPROVE})


@pytest.mark.parametrize(
    ("event", "kind", "fam"),
    [
        ("deadline:reminder-L2", "deadline:reminder", "deadlines"),
        ("deadline:24h", "deadline:24h", "deadlines"),
        ("emergency:unacknowledged:al-cp-24x7", "emergency:unacknowledged", "emergency"),
        ("emergency:alert", "emergency:alert", "emergency"),
        ("anomaly:bulk_reads", "anomaly", "security"),
        ("break_glass", "break_glass", "security"),
        ("request:new", "request:new", "requests"),
        ("guardian:daily", "guardian:daily", "deadlines"),
        ("something:else", "other", "other"),
        ("anomalyX", "other", "other"),
    ],
)
def test_an_events_type_drops_its_detail_and_names_its_family(event: str, kind: str, fam: str) -> None:
    assert (event_type(event), family(event)) == (kind, fam)


def test_every_type_has_a_family() -> None:
    assert set(EVENT_TYPES.values()) == set(FAMILIES)


def test_who_must_be_told_whatever_they_chose() -> None:
    assert must_receive("emergency", CO, (), on_call=True)
    assert must_receive("emergency", OP, (), on_call=False)
    assert not must_receive("emergency", CO, APPROVE, on_call=False)
    assert must_receive("security", CO, APPROVE, on_call=False)  # a supervisor
    assert must_receive("security", OP, (), on_call=False)
    assert not must_receive("security", CO, (), on_call=True)
    assert not must_receive("deadlines", OP, APPROVE, on_call=True)
    assert must_receive("other", CO, (), on_call=False)


def test_preferences_filter_email_except_where_duty_says_otherwise() -> None:
    off = {"deadlines", "emergency", "security"}
    assert not wants_email("deadline:75%", off, CO, (), on_call=False)
    assert wants_email("request:new", off, CO, (), on_call=False)
    assert not wants_email("emergency:alert", off, CO, (), on_call=False)
    assert wants_email("emergency:alert", off, CO, (), on_call=True)  # went on call since
    assert wants_email("break_glass", off, CO, APPROVE, on_call=False)


def test_turning_off_what_duty_needs_is_refused_with_the_reason() -> None:
    assert preference_problems({"deadlines", "requests"}, OP, (), on_call=True) == []
    assert preference_problems({"emergency"}, CO, (), on_call=False) == []
    assert preference_problems({"emergency"}, CO, (), on_call=True) == [
        "emergency cannot be turned off: those on call and operators are always told of emergencies"
    ]
    assert preference_problems({"security", "weather"}, CO, APPROVE, on_call=False) == [
        "security cannot be turned off: operators and supervisors are always told of break-glass and access anomalies",
        "'weather' is not a notification family (deadlines, requests, emergency, security)",
    ]
