"""Side states beside the stage: missing, detention, removal (bypassing the gate?), age-out, suspension, hold."""

from __future__ import annotations

from focalpoint.cases.sidestates import side_states
from focalpoint.cases.stages import Side
from tests.support.story import DAY, T0, Story

IS, OS = Side.IS, Side.OS


def _story() -> Story:
    s = Story()
    s.acknowledge(s.notify())
    return s


def test_a_quiet_link_has_no_side_state() -> None:
    """Nothing reported: no side state."""
    assert side_states(_story().fold(IS), now_ms=T0, suspended=False, gate_met=True) == []


def test_a_removal_scheduled_while_the_gate_is_unmet_is_called_out() -> None:
    """REMOVAL_SCHEDULED with the gate unmet adds REMOVAL_WOULD_BYPASS_THE_GATE; with it met, not."""
    s = _story()
    s.send(IS, "protection_alert", alert_type="DETAINED")
    s.send(IS, "protection_alert", alert_type="REMOVAL_SCHEDULED")
    state = s.fold(IS)
    assert side_states(state, now_ms=s.clock, suspended=False, gate_met=False) == [
        "DETAINED",
        "REMOVAL_SCHEDULED",
        "REMOVAL_WOULD_BYPASS_THE_GATE",
    ]
    assert "REMOVAL_WOULD_BYPASS_THE_GATE" not in side_states(state, now_ms=s.clock, suspended=False, gate_met=True)
    s.send(IS, "protection_alert", alert_type="RELEASED")
    s.send(IS, "protection_alert", alert_type="REMOVAL_SUSPENDED")
    assert side_states(s.fold(IS), now_ms=s.clock, suspended=False, gate_met=False) == []


def test_age_out_is_announced_180_days_before_and_reached_on_the_day() -> None:
    """The age-out day travels in the shared flags: AGE_OUT_SOON within 180 days, AGED_OUT from the day."""
    s = _story()
    day = T0 // DAY + 200
    s.send(IS, "protection_alert", alert_type="FOUND", age_out_day=day)
    state = s.fold(OS)
    assert side_states(state, now_ms=T0, suspended=False, gate_met=None) == []
    assert side_states(state, now_ms=T0 + 30 * DAY, suspended=False, gate_met=None) == ["AGE_OUT_SOON"]
    assert side_states(state, now_ms=(day + 1) * DAY, suspended=False, gate_met=None) == ["AGED_OUT"]


def test_missing_suspension_and_a_clock_stopping_clarification_show() -> None:
    """MISSING from an alert, SUSPENDED from the directory, ON_HOLD while a clarification stops the clock."""
    s = _story()
    s.send(IS, "protection_alert", alert_type="MISSING")
    question = s.send(OS, "clarification_request", stops_clock=True)
    assert side_states(s.fold(IS), now_ms=s.clock, suspended=True, gate_met=None) == ["MISSING", "SUSPENDED", "ON_HOLD"]
    s.send(IS, "clarification_response", refers_to=question.message_id)
    assert side_states(s.fold(IS), now_ms=s.clock, suspended=False, gate_met=None) == ["MISSING"]
