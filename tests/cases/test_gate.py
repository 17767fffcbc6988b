"""The evidence checklist and the return gate G1–G5, and the override's rules."""

from __future__ import annotations

import dataclasses

import pytest

from focalpoint.cases.events import ChildViews, IdentityReply, InquiryReport, ReintegrationPlan, RiskReport
from focalpoint.cases.gate import CONDITIONS, Override, claim, departs_from_views, evaluate, override_problems
from focalpoint.cases.stages import Side
from focalpoint.cases.state import Rules
from tests.support.story import DAY, GOOD_EVIDENCE, T0, Story

IS, OS = Side.IS, Side.OS


def _story(**replace: object) -> Story:
    """A link whose evidence is complete, with some of it replaced (None: never sent)."""
    s = Story()
    s.acknowledge(s.notify())
    si = s.send(IS, "social_inquiry_request")
    iv = s.send(IS, "identity_verification_request")
    evidence = {**GOOD_EVIDENCE, **replace}
    for kind, value in evidence.items():
        if value is None:
            continue
        side = IS if kind in ("risk_assessment_report", "child_views_record") else OS
        reply = {"social_inquiry_report": si, "identity_verification_reply": iv}.get(kind)
        s.send(side, kind, in_reply_to=reply.message_id if reply else b"", evidence=value)
    return s


def _missing(s: Story, *, now: int | None = None, solution: str = "", rules: Rules | None = None) -> set[str]:
    state = s.fold(IS)
    return set(evaluate(state, rules or Rules(), s.clock if now is None else now, solution=solution).missing)


def test_complete_evidence_opens_the_gate() -> None:
    """All five conditions hold with a report, a fresh pre-return assessment, views, identity and a plan."""
    assert _missing(_story()) == set()


@pytest.mark.parametrize(
    ("replace", "condition"),
    [
        ({"social_inquiry_report": None}, "G1_SOCIAL_INQUIRY"),
        ({"social_inquiry_report": InquiryReport("", "NO")}, "G1_SOCIAL_INQUIRY"),
        ({"risk_assessment_report": None}, "G2_RISK_ASSESSMENT"),
        ({"risk_assessment_report": RiskReport("INITIAL", "LOW", T0)}, "G2_RISK_ASSESSMENT"),
        ({"risk_assessment_report": RiskReport("PRE_RETURN", "SEVERE", T0)}, "G2_RISK_ASSESSMENT"),
        ({"risk_assessment_report": RiskReport("PRE_RETURN", "UNSPECIFIED", T0)}, "G2_RISK_ASSESSMENT"),
        (
            {"risk_assessment_report": RiskReport("PRE_RETURN", "MEDIUM", T0, (("FAMILY_HARM", "HIGH"),))},
            "G2_RISK_ASSESSMENT",
        ),
        ({"child_views_record": None}, "G3_CHILD_VIEWS"),
        ({"child_views_record": ChildViews("NOT_HEARD", "REFUSED")}, "G3_CHILD_VIEWS"),
        ({"identity_verification_reply": None}, "G4_IDENTITY_NATIONALITY"),
        ({"identity_verification_reply": IdentityReply("NOT_CONFIRMED")}, "G4_IDENTITY_NATIONALITY"),
        ({"identity_verification_reply": IdentityReply("UNABLE_TO_VERIFY")}, "G4_IDENTITY_NATIONALITY"),
        ({"reintegration_plan": None}, "G5_REINTEGRATION_PLAN"),
        (
            {
                "social_inquiry_report": InquiryReport("NO", "NO", frozenset({"DEBT_BONDAGE"})),
                "reintegration_plan": ReintegrationPlan(frozenset({"POVERTY"})),
            },
            "G5_REINTEGRATION_PLAN",
        ),
    ],
)
def test_each_missing_piece_of_evidence_closes_the_gate_on_its_condition(replace: dict, condition: str) -> None:  # type: ignore[type-arg]
    """Each condition fails on its own gap, and only that condition."""
    assert _missing(_story(**replace)) == {condition}


def test_the_gate_passes_without_hearing_a_child_too_young_to_be_heard() -> None:
    """G3: NOT_HEARD is acceptable only with the reason TOO_YOUNG."""
    assert _missing(_story(child_views_record=ChildViews("NOT_HEARD", "TOO_YOUNG"))) == set()


def test_unable_to_verify_nationality_passes_when_a_travel_document_can_be_issued() -> None:
    """G4: a State unable to document a child does not stall the case if a travel document can be issued."""
    assert _missing(_story(identity_verification_reply=IdentityReply("UNABLE_TO_VERIFY", True))) == set()


def test_a_risk_assessment_goes_stale_after_the_agreed_days() -> None:
    """G2: an assessment older than risk_assessment_max_age_days no longer counts."""
    s = _story()
    assert _missing(s, now=T0 + 90 * DAY) == set()
    assert _missing(s, now=T0 + 91 * DAY) == {"G2_RISK_ASSESSMENT"}
    assert _missing(s, now=T0 + 20 * DAY, rules=Rules(risk_assessment_max_age_days=10)) == {"G2_RISK_ASSESSMENT"}


def test_a_missing_episode_requires_a_fresh_assessment_after_it() -> None:
    """G2: after the child went missing, only an AFTER_MISSING_EPISODE assessment completed later counts."""
    s = _story()
    s.send(IS, "protection_alert", alert_type="MISSING")
    s.send(IS, "protection_alert", alert_type="FOUND")
    assert _missing(s) == {"G2_RISK_ASSESSMENT"}
    s.send(IS, "risk_assessment_report", evidence=RiskReport("AFTER_MISSING_EPISODE", "LOW", s.clock + 1))
    assert _missing(s, now=s.clock + 2) == set()


def test_reunification_with_a_suspected_family_needs_a_family_harm_finding_with_measures() -> None:
    """A family suspected of involvement: reunification needs FAMILY_HARM at medium or less, with measures."""
    suspected = InquiryReport("SUSPECTED", "NO")
    s = _story(social_inquiry_report=suspected)
    assert _missing(s, solution="RETURN_FAMILY_REUNIFICATION") == {"G2_RISK_ASSESSMENT"}
    assert _missing(s, solution="ALTERNATIVE_CARE_IN_ORIGIN") == set()
    ok = RiskReport("PRE_RETURN", "MEDIUM", T0, (("FAMILY_HARM", "MEDIUM"),), frozenset({"NO_FAMILY_ACCESS"}))
    assert (
        _missing(
            _story(social_inquiry_report=suspected, risk_assessment_report=ok), solution="RETURN_FAMILY_REUNIFICATION"
        )
        == set()
    )


def test_a_withdrawn_report_reopens_its_condition() -> None:
    """Withdrawing the only risk report leaves G2 missing again."""
    s = _story()
    report = next(e for e in s.events if e.kind == "risk_assessment_report")
    s.send(IS, "withdrawal", refers_to=report.message_id)
    assert _missing(s) == {"G2_RISK_ASSESSMENT"}


def test_departing_from_the_childs_views_is_recognised_both_ways() -> None:
    """A return against the child's wish, or a stay when the child wants to go home, departs from the views."""
    assert departs_from_views(ChildViews("DOES_NOT_WANT_RETURN"), "RETURN_FAMILY_REUNIFICATION")
    assert departs_from_views(ChildViews("WANTS_RETURN"), "STAY_IN_HOST_STATE")
    assert not departs_from_views(ChildViews("WANTS_RETURN"), "RETURN_FAMILY_REUNIFICATION")
    assert not departs_from_views(None, "RETURN_FAMILY_REUNIFICATION")


_NOW = T0 + DAY
_GOOD = Override(
    waived=frozenset({"G2_RISK_ASSESSMENT"}),
    reason="COURT_ORDER",
    justification="The family court ordered the return on medical grounds.",
    prepared_by="u-officer",
    approved_by="u-supervisor",
    approved_at_ms=_NOW - DAY,
    approver_may_override=True,
)


def _g2_missing() -> object:
    return evaluate(_story(risk_assessment_report=None).fold(IS), Rules(), _NOW)


def test_an_override_approved_by_a_second_person_with_the_grant_is_accepted() -> None:
    """A reasoned override waiving exactly what is missing, approved by another holder of OVERRIDE, has no problem."""
    result = _g2_missing()
    assert override_problems(_GOOD, result, missing_now=False, attested=True, now_ms=_NOW) == []  # type: ignore[arg-type]
    carried = claim(result, _NOW, _GOOD)  # type: ignore[arg-type]
    assert carried.passes()
    assert carried.met == frozenset(CONDITIONS) - {"G2_RISK_ASSESSMENT"}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"approved_by": "u-officer"}, "cannot approve"),
        ({"approved_by": ""}, "second person"),
        ({"approver_may_override": False}, "override grant"),
        ({"approved_at_ms": _NOW - 8 * DAY}, "older than 7 days"),
        ({"reason": "BECAUSE"}, "reason code"),
        ({"reason": "OTHER"}, "200+ characters"),
        ({"waived": frozenset({"G4_IDENTITY_NATIONALITY"})}, "does not waive G2_RISK_ASSESSMENT"),
        ({"justification": " "}, "needs a justification"),
    ],
)
def test_an_override_is_refused_for_each_rule_it_breaks(change: dict, problem: str) -> None:  # type: ignore[type-arg]
    """Same person, no grant, stale approval, no reason, short justification for OTHER, or the wrong waiver."""
    bad = dataclasses.replace(_GOOD, **change)
    problems = override_problems(bad, _g2_missing(), missing_now=False, attested=True, now_ms=_NOW)  # type: ignore[arg-type]
    assert any(problem in p for p in problems), problems


def test_no_override_while_the_child_is_missing_or_without_the_attestation() -> None:
    """A missing child, or an attestation not saying 'no foreseeable danger', refuses any override."""
    problems = override_problems(_GOOD, _g2_missing(), missing_now=True, attested=False, now_ms=_NOW)  # type: ignore[arg-type]
    assert any("missing" in p for p in problems)
    assert any("attestation" in p for p in problems)


def test_a_missing_condition_the_agreement_waives_is_said_to_be_waived_and_stays_missing() -> None:
    """``waived``: the missing conditions the agreement's case rules waive (G4 here), still listed
    as missing (the claim says what was missing); a waivable condition that is met is not waived."""
    s = _story(identity_verification_reply=None)
    rules = Rules(waivable=frozenset({"G4_IDENTITY_NATIONALITY", "G5_REINTEGRATION_PLAN"}))
    result = evaluate(s.fold(IS), rules, s.clock)
    assert set(result.missing) == {"G4_IDENTITY_NATIONALITY"}
    assert result.waived == frozenset({"G4_IDENTITY_NATIONALITY"})
    assert evaluate(s.fold(IS), Rules(), s.clock).waived == frozenset()
