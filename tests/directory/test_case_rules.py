"""An agreement's case rules (directory.model.CaseRules): network defaults where it is silent, refusals past a limit."""

from __future__ import annotations

import pytest

from directory import CaseRules, KindDeadline
from focalpoint.errors import VerificationError
from focalpoint.v1 import codes_pb2, directory_pb2

G1, G4, G5 = (
    codes_pb2.GATE_CONDITION_G1_SOCIAL_INQUIRY,
    codes_pb2.GATE_CONDITION_G4_IDENTITY_NATIONALITY,
    codes_pb2.GATE_CONDITION_G5_REINTEGRATION_PLAN,
)
UNSET, UNKNOWN = codes_pb2.GATE_CONDITION_UNSPECIFIED, codes_pb2.GateCondition.ValueType(99)


def test_an_agreement_without_case_rules_gets_every_network_default() -> None:
    """No case_rules field: a 24-hour guardian deadline, M3/M6/M12, 90 days, nothing waived, consular copy on."""
    rules = CaseRules.from_proto(None)
    assert rules == CaseRules()
    assert rules.guardian_deadline_hours == 24
    assert rules.follow_up_months == (3, 6, 12)
    assert rules.risk_assessment_max_age_days == 90
    assert rules.waivable == frozenset()
    assert rules.max_counter_rounds == 3
    assert rules.closure_response_days == 30
    assert rules.handover_confirmation_hours == 24
    assert rules.consular_copy_on_detention is True
    assert rules.retention_years_after_closure is None
    assert rules.kinds_when_suspended == frozenset({"withdrawal", "protection_alert"})


def test_empty_case_rules_read_as_the_defaults_not_as_zeros() -> None:
    """Zero hours, days and rounds and empty lists mean 'the default', never 'no time at all' or 'nothing'."""
    assert CaseRules.from_proto(directory_pb2.CaseRules()) == CaseRules()


@pytest.mark.parametrize(
    ("field", "expected"),
    [pytest.param(None, True, id="unset"), pytest.param(True, True, id="true"), pytest.param(False, False, id="false")],
)
def test_consular_copy_on_detention_is_on_unless_the_agreement_switches_it_off(
    field: bool | None, expected: bool
) -> None:
    """Only an explicit false turns the consular copy off; an unset field is the protective true."""
    pb = directory_pb2.CaseRules(guardian_deadline_hours=12)
    if field is not None:
        pb.consular_copy_on_detention = field
    assert CaseRules.from_proto(pb).consular_copy_on_detention is expected


def test_what_an_agreement_sets_within_the_limits_is_kept() -> None:
    """A shorter guardian deadline, extra follow-ups, waived G4/G5 and its own suspended kinds are taken as signed."""
    pb = directory_pb2.CaseRules(
        guardian_deadline_hours=12,
        follow_up_months=[24, 12, 1, 6, 3],
        risk_assessment_max_age_days=60,
        waivable=[G5, G4],
        max_counter_rounds=2,
        closure_response_days=20,
        handover_confirmation_hours=12,
        retention_years_after_closure=10,
        kinds_when_suspended=["withdrawal", "protection_alert", "acknowledgement"],
    )
    rules = CaseRules.from_proto(pb)
    assert rules == CaseRules(
        guardian_deadline_hours=12,
        follow_up_months=(1, 3, 6, 12, 24),
        risk_assessment_max_age_days=60,
        waivable=frozenset({G4, G5}),
        max_counter_rounds=2,
        closure_response_days=20,
        handover_confirmation_hours=12,
        consular_copy_on_detention=True,
        retention_years_after_closure=10,
        kinds_when_suspended=frozenset({"withdrawal", "protection_alert", "acknowledgement"}),
    )


@pytest.mark.parametrize(
    ("rules", "match"),
    [
        pytest.param(directory_pb2.CaseRules(guardian_deadline_hours=25), "never lengthen", id="guardian-over-24h"),
        pytest.param(directory_pb2.CaseRules(waivable=[G1]), "G1_SOCIAL_INQUIRY.*only G4 and G5", id="waive-G1"),
        pytest.param(directory_pb2.CaseRules(waivable=[UNSET]), "UNSPECIFIED.*only G4 and G5", id="waive-unspecified"),
        pytest.param(directory_pb2.CaseRules(waivable=[UNKNOWN]), "code 99.*only G4 and G5", id="waive-unknown-code"),
        pytest.param(directory_pb2.CaseRules(follow_up_months=[2, 3, 6, 12]), "2 is not a follow-up", id="month-2"),
        pytest.param(directory_pb2.CaseRules(follow_up_months=[3, 6]), "leaves out month 12", id="drop-M12"),
        pytest.param(
            directory_pb2.CaseRules(kinds_when_suspended=["withdrawal", "case_opening"]),
            "'case_opening' is not a message kind",
            id="unknown-kind",
        ),
    ],
)
def test_case_rules_that_break_a_limit_are_refused_naming_the_rule(rules: directory_pb2.CaseRules, match: str) -> None:
    """A value outside the network's limits is a failed check that names the field and the limit."""
    with pytest.raises(VerificationError, match=match):
        CaseRules.from_proto(rules)


def test_kind_deadlines_read_zero_as_silent() -> None:
    """A deadline the agreement leaves at zero is None (the network default applies), never 'due at once'."""
    pb = directory_pb2.KindDeadline(kind="case_notification", response_days=30, urgent_response_hours=24)
    assert KindDeadline.from_proto(pb) == KindDeadline(response_days=30, urgent_response_hours=24)
