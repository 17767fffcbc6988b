"""From a wire body to the facts the fold reads: codes by short name, exact references, nothing written by a person."""

from __future__ import annotations

import datetime as dt

from focalpoint.cases.events import IdentityReply, RiskReport
from focalpoint.cases.facts import code_name, facts_of
from focalpoint.v1 import codes_pb2, common_pb2, messages_pb2

AT = int(dt.datetime(2026, 12, 4, tzinfo=dt.UTC).timestamp() * 1000)


def _body(**kind: object) -> messages_pb2.Body:
    return messages_pb2.Body(code_list_version="2026.1", **kind)  # type: ignore[arg-type]


def test_codes_lose_their_list_prefix_and_unknown_numbers_stay_visible() -> None:
    """FINDING_SUSPECTED reads SUSPECTED; a number this list does not know reads CODE_<n>, never an error."""
    assert code_name(messages_pb2.Finding, messages_pb2.FINDING_SUSPECTED) == "SUSPECTED"
    assert code_name(codes_pb2.GateCondition, codes_pb2.GATE_CONDITION_G2_RISK_ASSESSMENT) == "G2_RISK_ASSESSMENT"
    assert code_name(codes_pb2.RiskLevel, 999) == "CODE_999"


def test_an_agreement_binds_the_accepted_message_and_carries_its_gate_and_approval() -> None:
    """accepts → refers_to/refers_sha256; the solution and gate status as codes; the approval's two users."""
    agreement = messages_pb2.DurableSolutionAgreement(
        accepts=messages_pb2.EvidenceRef(message_id=b"m" * 16, body_sha256=b"h" * 32),
        solution=messages_pb2.SolutionOption(
            solution=messages_pb2.DURABLE_SOLUTION_RETURN_FAMILY_REUNIFICATION, solution_state="AL"
        ),
        approval=messages_pb2.ApprovalRecord(prepared_by="u1", approved_by="u2", approved_at_ms=AT),
        gate=messages_pb2.GateStatus(
            met=[codes_pb2.GATE_CONDITION_G1_SOCIAL_INQUIRY], missing=[codes_pb2.GATE_CONDITION_G2_RISK_ASSESSMENT]
        ),
    )
    kind, f = facts_of(_body(durable_solution_agreement=agreement), at_ms=AT)
    assert kind == "durable_solution_agreement"
    assert (f.refers_to, f.refers_sha256) == (b"m" * 16, b"h" * 32)
    assert (f.solution, f.solution_state) == ("RETURN_FAMILY_REUNIFICATION", "AL")
    assert f.gate is not None
    assert f.gate.missing == {"G2_RISK_ASSESSMENT"}
    assert f.approval is not None
    assert (f.approval.prepared_by, f.approval.approved_by) == ("u1", "u2")


def test_an_agreement_without_a_gate_status_has_none_not_an_empty_passing_one() -> None:
    """An absent GateStatus is None (the guard refuses it), never an empty 'nothing missing' claim."""
    agreement = messages_pb2.DurableSolutionAgreement(accepts=messages_pb2.EvidenceRef(message_id=b"m" * 16))
    assert facts_of(_body(durable_solution_agreement=agreement), at_ms=AT)[1].gate is None


def test_a_risk_report_gives_occasion_levels_domains_and_measures() -> None:
    """The gate's G2 reads occasion, overall, completion time, each domain's level and the measures."""
    report = messages_pb2.RiskAssessmentReport(
        occasion=codes_pb2.ASSESSMENT_OCCASION_PRE_RETURN,
        overall=codes_pb2.RISK_LEVEL_MEDIUM,
        completed_at_ms=AT - 1,
        findings=[
            messages_pb2.DomainFinding(domain=codes_pb2.RISK_DOMAIN_FAMILY_HARM, level=codes_pb2.RISK_LEVEL_HIGH)
        ],
        measures_required=[codes_pb2.PROTECTIVE_MEASURE_NO_FAMILY_ACCESS],
    )
    f = facts_of(_body(risk_assessment_report=report), at_ms=AT)[1]
    assert f.evidence == RiskReport(
        "PRE_RETURN", "MEDIUM", AT - 1, (("FAMILY_HARM", "HIGH"),), frozenset({"NO_FAMILY_ACCESS"}), frozenset()
    )


def test_only_a_registry_birth_date_of_eighteen_or_more_reads_as_adult() -> None:
    """A civil-registry date giving 18+ marks adulthood; the same date from a family statement does not."""

    def reply(source: codes_pb2.VerificationSource.ValueType, year: int) -> IdentityReply:
        r = messages_pb2.IdentityVerificationReply(
            nationality=messages_pb2.CONFIRMATION_CONFIRMED,
            source=source,
            registered_date_of_birth=common_pb2.Date(year=year, month=1, day=1),
        )
        ev = facts_of(_body(identity_verification_reply=r), at_ms=AT)[1].evidence
        assert isinstance(ev, IdentityReply)
        return ev

    assert reply(codes_pb2.VERIFICATION_SOURCE_CIVIL_REGISTRY, 2007).adult_by_registry
    assert not reply(codes_pb2.VERIFICATION_SOURCE_CIVIL_REGISTRY, 2010).adult_by_registry
    assert not reply(codes_pb2.VERIFICATION_SOURCE_FAMILY_STATEMENT, 2007).adult_by_registry


def test_an_amendment_carries_its_replacements_kind_and_facts() -> None:
    """The fold replaces the amended evidence with the replacement's facts, and checks the kinds match."""
    replacement = _body(
        child_views_record=messages_pb2.ChildViewsRecord(return_stance=codes_pb2.RETURN_STANCE_WANTS_RETURN)
    )
    amendment = messages_pb2.Amendment(amends=messages_pb2.EvidenceRef(message_id=b"a" * 16), replacement=replacement)
    f = facts_of(_body(amendment=amendment), at_ms=AT)[1]
    assert f.amended_kind == "child_views_record"
    assert f.replacement is not None
    assert f.replacement.evidence is not None


def test_the_shared_missing_flag_travels_into_the_facts_of_any_message() -> None:
    """SharedFlags.missing set on any message marks the child missing for the fold."""
    body = _body(reminder=messages_pb2.Reminder(about=messages_pb2.EvidenceRef(message_id=b"r" * 16)))
    body.context.flags.missing = True
    assert facts_of(body, at_ms=AT)[1].missing
