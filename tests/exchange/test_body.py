"""Message body validation (focalpoint.exchange.body): every kind, every broken rule at once, with field paths."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focalpoint.errors import UsageError
from focalpoint.exchange.body import KINDS, InvalidBody, Problem, body_kind, body_problems, case_ref_of, validate_body
from focalpoint.exchange.rules import PERSONAL_DATA_KINDS
from focalpoint.localnet.samples import SAMPLE_AT_MS, SAMPLE_CASE_REF, case_ref_for, evidence_ref, sample_body
from focalpoint.v1 import codes_pb2, common_pb2, messages_pb2

NOW = SAMPLE_AT_MS
Mutation = Callable[[messages_pb2.Body], object]


def problems(body: messages_pb2.Body) -> tuple[Problem, ...]:
    return body_problems(body, now_ms=NOW)


@pytest.mark.parametrize("kind", KINDS)
def test_the_sample_of_every_kind_is_valid(kind: str) -> None:
    """The complete sample body of each of the 28 kinds passes, and validate_body returns its kind."""
    body = sample_body(kind)
    assert body_kind(body) == kind
    assert validate_body(body, now_ms=NOW) == kind


def test_there_are_28_kinds_and_17_may_carry_personal_data() -> None:
    """The table covers every kind of the wire format; ● marks the 17 kinds of docs/protocol.md §11.1."""
    assert len(KINDS) == 28
    assert len(PERSONAL_DATA_KINDS) == 17
    assert set(KINDS) > PERSONAL_DATA_KINDS


def test_a_body_without_kind_is_refused_listing_the_kinds() -> None:
    """An empty body is refused, naming every kind it could have been."""
    with pytest.raises(InvalidBody) as refused:
        validate_body(messages_pb2.Body(code_list_version="2026.1"))
    for kind in KINDS:
        assert kind in str(refused.value)


def test_every_broken_rule_is_reported_at_once_one_a_line() -> None:
    """InvalidBody carries all problems with their paths, and its text lists them one per line."""
    body = sample_body("case_notification")
    body.code_list_version = "2026"
    body.context.urgency = messages_pb2.URGENCY_UNSPECIFIED
    body.case_notification.child.age.assessed_min_years = 17
    body.context.attestation.no_foreseeable_danger = False
    with pytest.raises(InvalidBody) as refused:
        validate_body(body, now_ms=NOW)
    paths = [p.path for p in refused.value.problems]
    assert paths == [
        "code_list_version",
        "context.attestation.no_foreseeable_danger",
        "context.urgency",
        "case_notification.child.age.assessed_min_years",
    ]
    lines = str(refused.value).splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == paths


def test_invalid_body_is_a_usage_error() -> None:
    """InvalidBody is a UsageError, so the local API reports it as the caller's mistake."""
    assert issubclass(InvalidBody, UsageError)


def test_the_case_reference_is_the_contexts_when_set() -> None:
    """case_ref_of reads context.case_ref, and the kind's own field only for bodies without a context."""
    body = sample_body("social_inquiry_request")
    assert case_ref_of(body) == SAMPLE_CASE_REF
    body.social_inquiry_request.case_ref = case_ref_for(7)
    body.ClearField("context")
    assert case_ref_of(body) == case_ref_for(7)
    assert case_ref_of(messages_pb2.Body()) == ""


def test_a_body_from_an_earlier_sender_without_context_is_refused() -> None:
    """The two first kinds now need a context too (docs/protocol.md §11.2)."""
    body = sample_body("social_inquiry_report")
    body.ClearField("context")
    assert Problem("context", "is required") in problems(body)


def test_without_now_no_time_is_judged_against_a_clock() -> None:
    """validate_body without now_ms checks shapes only; with it, a future identification is refused."""
    body = sample_body("case_notification")
    body.case_notification.identified_at_ms = NOW + 1
    body.context.attestation.attested_at_ms = NOW - 1
    assert validate_body(body) == "case_notification"
    assert [p.path for p in problems(body)] == ["case_notification.identified_at_ms"]


@dataclass(frozen=True)
class Rule:
    """One rule: break it in the sample of ``kind`` and expect ``path`` with ``says`` in its message."""

    id: str
    kind: str
    mutate: Mutation
    path: str
    says: str
    secret: str | None = None  # a value the mutation wrote, which must not appear in the error


def _set(where: str, name: str, value: object) -> Mutation:
    """Set ``name`` of the part at dotted path ``where`` ("" = the body itself)."""

    def run(body: messages_pb2.Body) -> None:
        target: object = body
        for part in filter(None, where.split(".")):
            target = getattr(target, part)
        setattr(target, name, value)

    return run


def _with(*steps: Mutation) -> Mutation:
    def run(body: messages_pb2.Body) -> None:
        for step in steps:
            step(body)

    return run


def _clear(path: str) -> Mutation:
    def run(body: messages_pb2.Body) -> None:
        *parents, name = path.split(".")
        target: Any = body
        for part in parents:
            target = getattr(target, part)
        target.ClearField(name)

    return run


def _waive_g5(body: messages_pb2.Body) -> None:
    body.repatriation_plan_acceptance.gate.override.waived.append(codes_pb2.GATE_CONDITION_G5_REINTEGRATION_PLAN)


SIR, REP, NOT = "social_inquiry_request", "social_inquiry_report", "case_notification"
BAD_REF = "GR-0000000001-2"  # the check character of 0000000001 is 1
NAME = "Arta Example"
RECORDS_AND_AGENCIES = [
    codes_pb2.INQUIRY_METHOD_CIVIL_RECORDS,
    codes_pb2.INQUIRY_METHOD_SCHOOL,
    codes_pb2.INQUIRY_METHOD_HEALTH_RECORDS,
    codes_pb2.INQUIRY_METHOD_POLICE_RECORDS,
    codes_pb2.INQUIRY_METHOD_NGO_INFORMATION,
]


RULES = [
    # Common parts.
    Rule("code-list-version", SIR, _set("", "code_list_version", NAME), "code_list_version", "YYYY.N", NAME),
    Rule("case-ref-check-character", REP, _set("context", "case_ref", BAD_REF), "context.case_ref", "check character"),
    Rule("case-ref-a-name", NOT, _set("context", "case_ref", NAME), "context.case_ref", "GR-7KQ2M9XH4T-0", NAME),
    Rule(
        "own-case-ref",
        SIR,
        _set(SIR, "case_ref", case_ref_for(9)),
        f"{SIR}.case_ref",
        "must equal context.case_ref",
        case_ref_for(9),
    ),
    Rule("agreement-id", NOT, _set("context", "agreement_id", NAME), "context.agreement_id", "letters", NAME),
    Rule("urgency", NOT, _set("context", "urgency", 0), "context.urgency", "UNSPECIFIED"),
    Rule("sender-unit", NOT, _set("context", "sender_unit", ""), "context.sender_unit", "required"),
    Rule("recipient-unit", NOT, _set("context", "recipient_unit", NAME), "context.recipient_unit", "institution", NAME),
    Rule(
        "response-language", NOT, _set("context", "response_language", "English"), "context.response_language", "BCP 47"
    ),
    Rule(
        "attestation-danger",
        "follow_up_report",
        _set("context.attestation", "no_foreseeable_danger", False),
        "context.attestation.no_foreseeable_danger",
        "Art 37",
    ),
    Rule(
        "attestation-basis",
        "amendment",
        _set("context.attestation", "basis", 0),
        "context.attestation.basis",
        "required",
    ),
    Rule(
        "attestation-by",
        "tracing_request",
        _set("context.attestation", "attested_by", ""),
        "context.attestation.attested_by",
        "required",
    ),
    Rule(
        "attestation-by-shape",
        "tracing_request",
        _set("context.attestation", "attested_by", NAME),
        "context.attestation.attested_by",
        "local user id",
        NAME,
    ),
    Rule(
        "attestation-at",
        "case_closure",
        _set("context.attestation", "attested_at_ms", 0),
        "context.attestation.attested_at_ms",
        "required",
    ),
    Rule(
        "attestation-in-the-future",
        "case_closure",
        _set("context.attestation", "attested_at_ms", NOW + 1),
        "context.attestation.attested_at_ms",
        "after the message's creation",
    ),
    Rule(
        "attestation-missing",
        "protection_alert",
        _clear("context.attestation"),
        "context.attestation.no_foreseeable_danger",
        "must be true",
    ),
    Rule(
        "supervisor-no-contact",
        "identity_verification_request",
        _set("context.flags", "family_contact", codes_pb2.FAMILY_CONTACT_RULE_NO_CONTACT),
        "context.attestation.basis",
        "SUPERVISOR_REVIEW",
    ),
    Rule(
        "supervisor-no-contact-named",
        "child_views_record",
        _set("context.flags", "family_contact", codes_pb2.FAMILY_CONTACT_RULE_NO_CONTACT_NAMED),
        "context.attestation.basis",
        "SUPERVISOR_REVIEW",
    ),
    Rule(
        "supervisor-suspected-relative",
        SIR,
        lambda b: setattr(b.social_inquiry_request.family_contacts[0], "suspected_involvement", True),
        "context.attestation.basis",
        "suspected_involvement",
    ),
    Rule(
        "supervisor-suspected-relative-tracing",
        "tracing_request",
        lambda b: setattr(b.tracing_request.family_contacts[0], "suspected_involvement", True),
        "context.attestation.basis",
        "SUPERVISOR_REVIEW",
    ),
    Rule(
        "supervisor-family-involved",
        REP,
        _set("context.attestation", "basis", codes_pb2.ATTESTATION_BASIS_OFFICER_JUDGEMENT),
        "context.attestation.basis",
        "family_involvement",
    ),
    Rule(
        "supervisor-threat-to-relatives",
        "protection_alert",
        _set("protection_alert", "type", codes_pb2.ALERT_TYPE_THREAT_TO_RELATIVES),
        "context.attestation.basis",
        "THREAT_TO_RELATIVES",
    ),
    Rule(
        "supervisor-trafficker-threat",
        "risk_assessment_report",
        lambda b: b.risk_assessment_report.findings.add(
            domain=codes_pb2.RISK_DOMAIN_TRAFFICKER_THREAT_RELATIVES, level=codes_pb2.RISK_LEVEL_SEVERE
        ),
        "context.attestation.basis",
        "TRAFFICKER_THREAT_RELATIVES",
    ),
    Rule(
        "flags-date",
        "reminder",
        lambda b: b.context.flags.age_out_on.CopyFrom(common_pb2.Date(year=2030, month=2, day=30)),
        "context.flags.age_out_on",
        "calendar date",
    ),
    # Generic rules.
    Rule(
        "deprecated-age-disputed",
        SIR,
        _set(f"{SIR}.child", "age_disputed", True),
        f"{SIR}.child.age_disputed",
        "deprecated",
    ),
    Rule(
        "deprecated-assessed-age",
        NOT,
        _set(f"{NOT}.child", "assessed_age_years", 15),
        f"{NOT}.child.assessed_age_years",
        "deprecated",
    ),
    Rule(
        "deprecated-do-not-contact",
        SIR,
        _set(SIR, "do_not_contact_family", True),
        f"{SIR}.do_not_contact_family",
        "deprecated",
    ),
    Rule(
        "unspecified-in-a-list",
        SIR,
        lambda b: b.social_inquiry_request.topics.append(messages_pb2.INQUIRY_TOPIC_UNSPECIFIED),
        f"{SIR}.topics[3]",
        "UNSPECIFIED",
    ),
    Rule(
        "negative-time",
        "durable_solution_proposal",
        _set("durable_solution_proposal", "valid_until_ms", -1),
        "durable_solution_proposal.valid_until_ms",
        "never negative",
    ),
    Rule(
        "impossible-date",
        "reminder",
        lambda b: b.reminder.was_due.CopyFrom(common_pb2.Date(year=2026, month=2, day=29)),
        "reminder.was_due",
        "calendar date",
    ),
    Rule(
        "date-out-of-range",
        "reminder",
        lambda b: b.reminder.was_due.CopyFrom(common_pb2.Date(year=1800, month=1, day=1)),
        "reminder.was_due",
        "1900",
    ),
    Rule(
        "text-without-language",
        "request_refusal",
        _set("request_refusal.explanation", "language", ""),
        "request_refusal.explanation.language",
        "BCP 47",
    ),
    Rule(
        "text-too-long",
        "request_refusal",
        _set("request_refusal.explanation", "text", NAME * 2000),
        "request_refusal.explanation.text",
        "20000",
        NAME,
    ),
    Rule(
        "translation-without-original",
        "request_refusal",
        _set("request_refusal.explanation", "translation_kind", codes_pb2.TRANSLATION_KIND_MACHINE),
        "request_refusal.explanation.original_text",
        "beside a translation",
    ),
    Rule(
        "original-without-language",
        "child_views_record",
        _set("child_views_record.in_own_words", "original_language", ""),
        "child_views_record.in_own_words.original_language",
        "BCP 47",
    ),
    Rule(
        "translation-without-kind",
        "child_views_record",
        _set("child_views_record.in_own_words", "translation_kind", 0),
        "child_views_record.in_own_words.translation_kind",
        "HUMAN_CERTIFIED",
    ),
    Rule(
        "original-without-text",
        "child_views_record",
        _set("child_views_record.in_own_words", "text", ""),
        "child_views_record.in_own_words.text",
        "required",
    ),
    Rule(
        "evidence-message-id",
        "withdrawal",
        _set("withdrawal.withdraws", "message_id", b"\x01" * 15),
        "withdrawal.withdraws.message_id",
        "16 bytes",
    ),
    Rule(
        "evidence-hash",
        "reminder",
        _set("reminder.about", "body_sha256", b"\x01" * 31),
        "reminder.about.body_sha256",
        "32 bytes",
    ),
    Rule(
        "evidence-kind", "reminder", _set("reminder.about", "kind", "letter"), "reminder.about.kind", "known body kind"
    ),
    Rule(
        "approval-two-people",
        "case_closure",
        _set("case_closure.approval", "approved_by", "officer-1"),
        "case_closure.approval.approved_by",
        "different person",
    ),
    Rule(
        "approval-time",
        "repatriation_plan_acceptance",
        _set("repatriation_plan_acceptance.approval", "approved_at_ms", 0),
        "repatriation_plan_acceptance.approval.approved_at_ms",
        "required",
    ),
    # States, regions, units.
    Rule(
        "solution-state",
        "durable_solution_agreement",
        _set("durable_solution_agreement.solution", "solution_state", "UK"),
        "durable_solution_agreement.solution.solution_state",
        "ISO 3166-1",
    ),
    Rule(
        "suggested-state",
        "request_refusal",
        _set("request_refusal", "suggested_state", "ZZ"),
        "request_refusal.suggested_state",
        "user-assigned",
    ),
    Rule(
        "transit-state",
        NOT,
        lambda b: b.case_notification.transit_states.append("Albania"),
        f"{NOT}.transit_states[1]",
        "ISO 3166-1",
        "Albania",
    ),
    Rule(
        "believed-route",
        "tracing_request",
        lambda b: b.tracing_request.believed_route.append("gr"),
        "tracing_request.believed_route[2]",
        "ISO 3166-1",
    ),
    Rule(
        "nationality-claimed",
        "identity_verification_request",
        _set("identity_verification_request.child.nationality", "claimed", "XK"),
        "identity_verification_request.child.nationality.claimed",
        "ISO 3166-1",
    ),
    Rule(
        "region-shape",
        "protection_alert",
        _set("protection_alert", "last_seen_region", "Attica"),
        "protection_alert.last_seen_region",
        "ISO 3166-2",
        "Attica",
    ),
    Rule(
        "region-state",
        "protection_alert",
        _set("protection_alert", "last_seen_region", "ZZ-1"),
        "protection_alert.last_seen_region",
        "State part",
    ),
    Rule(
        "unit-shape",
        "reintegration_plan",
        _set("reintegration_plan", "responsible_unit", NAME),
        "reintegration_plan.responsible_unit",
        "institution id",
        NAME,
    ),
    # Kind rules.
    Rule(
        "methods-under-no-contact",
        SIR,
        _with(
            _set("context.flags", "family_contact", codes_pb2.FAMILY_CONTACT_RULE_NO_CONTACT),
            _set("context.attestation", "basis", codes_pb2.ATTESTATION_BASIS_SUPERVISOR_REVIEW),
        ),
        f"{SIR}.allowed_methods[0]",
        "records and agencies",
    ),
    Rule(
        "request-urgency",
        SIR,
        _set(SIR, "urgency", messages_pb2.URGENCY_EMERGENCY),
        f"{SIR}.urgency",
        "context.urgency",
    ),
    Rule("request-methods", SIR, _clear(f"{SIR}.allowed_methods"), f"{SIR}.allowed_methods", "at least one"),
    Rule(
        "identified-in-the-future",
        NOT,
        _set(NOT, "identified_at_ms", NOW + 60_000),
        f"{NOT}.identified_at_ms",
        "after the message's creation",
    ),
    Rule(
        "exploitation-other",
        NOT,
        _with(
            lambda b: b.case_notification.exploitation_forms.append(messages_pb2.EXPLOITATION_FORM_OTHER),
            _clear(f"{NOT}.circumstances"),
        ),
        f"{NOT}.circumstances",
        "OTHER",
    ),
    Rule(
        "exploitation-other-request",
        SIR,
        _with(
            lambda b: b.social_inquiry_request.exploitation_forms.append(messages_pb2.EXPLOITATION_FORM_OTHER),
            _clear(f"{SIR}.circumstances"),
        ),
        f"{SIR}.circumstances",
        "OTHER",
    ),
    Rule(
        "age-range-order",
        NOT,
        _set(f"{NOT}.child.age", "assessed_min_years", 17),
        f"{NOT}.child.age.assessed_min_years",
        "must not exceed",
    ),
    Rule(
        "age-range-limit",
        NOT,
        _set(f"{NOT}.child.age", "assessed_max_years", 26),
        f"{NOT}.child.age.assessed_max_years",
        "at most 25",
    ),
    Rule("age-method", NOT, _set(f"{NOT}.child.age", "method", 0), f"{NOT}.child.age.method", "age range is assessed"),
    Rule(
        "child-sex", "tracing_request", _set("tracing_request.child", "sex", 0), "tracing_request.child.sex", "required"
    ),
    Rule(
        "new-link-not-itself",
        NOT,
        lambda b: setattr(b.case_notification, "reopens_case_ref", b.context.case_ref),
        f"{NOT}.reopens_case_ref",
        "another link",
    ),
    Rule(
        "reopened-ref-shape",
        NOT,
        _set(NOT, "answers_tracing_ref", BAD_REF),
        f"{NOT}.answers_tracing_ref",
        "check character",
    ),
    Rule(
        "guardian-appointed-needs-time",
        NOT,
        _set(f"{NOT}.guardian", "appointed_at_ms", 0),
        f"{NOT}.guardian.appointed_at_ms",
        "appointed is true",
    ),
    Rule(
        "guardian-notice-appointed",
        "guardian_appointment_notice",
        _with(
            _set("guardian_appointment_notice.guardian", "appointed", False),
            _set("guardian_appointment_notice.guardian", "appointed_at_ms", 0),
            _set("guardian_appointment_notice.guardian", "type", 0),
        ),
        "guardian_appointment_notice.guardian.appointed",
        "must be true",
    ),
    Rule(
        "guardian-notice-type",
        "guardian_appointment_notice",
        _set("guardian_appointment_notice.guardian", "type", 0),
        "guardian_appointment_notice.guardian.type",
        "appointed is true",
    ),
    Rule(
        "guardian-delay-other",
        "guardian_appointment_notice",
        _with(
            _set("guardian_appointment_notice", "delay_reason", codes_pb2.GUARDIAN_DELAY_REASON_OTHER),
            _clear("guardian_appointment_notice.delay_note"),
        ),
        "guardian_appointment_notice.delay_note",
        "OTHER",
    ),
    Rule(
        "verified-adult-source",
        "identity_verification_reply",
        _with(
            _set("identity_verification_reply", "minority", codes_pb2.MINORITY_PRESUMPTION_VERIFIED_ADULT),
            _set("identity_verification_reply", "source", codes_pb2.VERIFICATION_SOURCE_FAMILY_STATEMENT),
        ),
        "identity_verification_reply.source",
        "CIVIL_REGISTRY",
    ),
    Rule(
        "verified-adult-under-18",
        "identity_verification_reply",
        _set("identity_verification_reply", "minority", codes_pb2.MINORITY_PRESUMPTION_VERIFIED_ADULT),
        "identity_verification_reply.registered_date_of_birth",
        "under 18",
    ),
    Rule(
        "reply-identity",
        "identity_verification_reply",
        _set("identity_verification_reply", "identity", 0),
        "identity_verification_reply.identity",
        "UNSPECIFIED",
    ),
    Rule(
        "risk-request-occasion",
        "risk_assessment_request",
        _set("risk_assessment_request", "occasion", 0),
        "risk_assessment_request.occasion",
        "UNSPECIFIED",
    ),
    Rule(
        "risk-finding-level",
        "risk_assessment_report",
        lambda b: setattr(b.risk_assessment_report.findings[1], "level", 0),
        "risk_assessment_report.findings[1].level",
        "UNSPECIFIED",
    ),
    Rule(
        "views-not-heard-reason",
        "child_views_record",
        _set("child_views_record", "return_stance", codes_pb2.RETURN_STANCE_NOT_HEARD),
        "child_views_record.not_heard_reason",
        "NOT_HEARD",
    ),
    Rule(
        "views-heard-on",
        "child_views_record",
        _clear("child_views_record.heard_on"),
        "child_views_record.heard_on",
        "was heard",
    ),
    Rule(
        "views-ranks-distinct",
        "child_views_record",
        lambda b: setattr(b.child_views_record.wishes[1], "rank", 1),
        "child_views_record.wishes[1].rank",
        "twice",
    ),
    Rule(
        "plan-service-provider",
        "reintegration_plan",
        lambda b: setattr(b.reintegration_plan.services[1], "provider", 0),
        "reintegration_plan.services[1].provider",
        "UNSPECIFIED",
    ),
    Rule(
        "proposal-departure-reason",
        "durable_solution_proposal",
        _set("durable_solution_proposal", "departs_from_child_views", True),
        "durable_solution_proposal.departure_reason",
        "departs_from_child_views",
    ),
    Rule(
        "proposal-approval",
        "durable_solution_proposal",
        _clear("durable_solution_proposal.approval"),
        "durable_solution_proposal.approval",
        "required",
    ),
    Rule(
        "proposal-evidence",
        "durable_solution_proposal",
        _clear("durable_solution_proposal.evidence"),
        "durable_solution_proposal.evidence",
        "at least one",
    ),
    Rule(
        "counter-inner-proposal",
        "durable_solution_counter_proposal",
        _set("durable_solution_counter_proposal.proposal.approval", "approved_by", "officer-1"),
        "durable_solution_counter_proposal.proposal.approval.approved_by",
        "different person",
    ),
    Rule(
        "counter-counters",
        "durable_solution_counter_proposal",
        _clear("durable_solution_counter_proposal.counters"),
        "durable_solution_counter_proposal.counters",
        "required",
    ),
    Rule(
        "agreement-accepts-a-proposal",
        "durable_solution_agreement",
        _set("durable_solution_agreement.accepts", "kind", "social_inquiry_report"),
        "durable_solution_agreement.accepts.kind",
        "durable_solution_proposal",
    ),
    Rule(
        "agreement-accepts",
        "durable_solution_agreement",
        _clear("durable_solution_agreement.accepts"),
        "durable_solution_agreement.accepts",
        "required",
    ),
    Rule(
        "agreement-approval",
        "durable_solution_agreement",
        _clear("durable_solution_agreement.approval"),
        "durable_solution_agreement.approval",
        "required",
    ),
    Rule(
        "gate-met-and-missing",
        "durable_solution_agreement",
        lambda b: b.durable_solution_agreement.gate.missing.append(codes_pb2.GATE_CONDITION_G1_SOCIAL_INQUIRY),
        "durable_solution_agreement.gate.met[0]",
        "either met or missing",
    ),
    Rule(
        "override-waives-only-missing",
        "repatriation_plan_acceptance",
        lambda b: b.repatriation_plan_acceptance.gate.override.waived.append(
            codes_pb2.GATE_CONDITION_G5_REINTEGRATION_PLAN
        ),
        "repatriation_plan_acceptance.gate.override.waived[0]",
        "not listed in missing",
    ),
    Rule(
        "override-reason",
        "repatriation_plan_acceptance",
        lambda b: b.repatriation_plan_acceptance.gate.override.waived.append(
            codes_pb2.GATE_CONDITION_G5_REINTEGRATION_PLAN
        ),
        "repatriation_plan_acceptance.gate.override.reason",
        "UNSPECIFIED",
    ),
    Rule(
        "override-approval",
        "repatriation_plan_acceptance",
        lambda b: b.repatriation_plan_acceptance.gate.override.waived.append(
            codes_pb2.GATE_CONDITION_G5_REINTEGRATION_PLAN
        ),
        "repatriation_plan_acceptance.gate.override.approval",
        "required",
    ),
    Rule(
        "override-justification",
        "repatriation_plan_acceptance",
        lambda b: b.repatriation_plan_acceptance.gate.override.waived.append(
            codes_pb2.GATE_CONDITION_G5_REINTEGRATION_PLAN
        ),
        "repatriation_plan_acceptance.gate.override.justification",
        "required",
    ),
    Rule(
        "override-waived",
        "repatriation_plan_acceptance",
        lambda b: setattr(b.repatriation_plan_acceptance.gate.override, "reason", 4),
        "repatriation_plan_acceptance.gate.override.waived",
        "at least one",
    ),
    Rule(
        "override-other-200",
        "durable_solution_proposal",
        lambda b: b.durable_solution_proposal.gate.override.CopyFrom(
            messages_pb2.GateOverride(
                reason=codes_pb2.OVERRIDE_REASON_OTHER,
                justification=common_pb2.LocalizedText(text="x" * 199, language="en"),
            )
        ),
        "durable_solution_proposal.gate.override.justification.text",
        "200",
    ),
    Rule(
        "override-two-people",
        "durable_solution_proposal",
        lambda b: b.durable_solution_proposal.gate.override.approval.CopyFrom(
            messages_pb2.ApprovalRecord(prepared_by="a", approved_by="a", approved_at_ms=1)
        ),
        "durable_solution_proposal.gate.override.approval.approved_by",
        "different person",
    ),
    Rule(
        "repatriation-window",
        "repatriation_plan",
        lambda b: b.repatriation_plan.latest_departure.CopyFrom(common_pb2.Date(year=2027, month=1, day=9)),
        "repatriation_plan.latest_departure",
        "earliest_departure",
    ),
    Rule(
        "no-detention-assurance",
        "repatriation_plan",
        _set("repatriation_plan", "no_detention_assurance", False),
        "repatriation_plan.no_detention_assurance",
        "must be true",
    ),
    Rule(
        "repatriation-supersedes-a-plan",
        "repatriation_plan",
        lambda b: b.repatriation_plan.supersedes.CopyFrom(evidence_ref("case_closure", "x")),
        "repatriation_plan.supersedes.kind",
        "repatriation_plan",
    ),
    Rule(
        "airport-code",
        "repatriation_plan",
        _set("repatriation_plan.arrival", "code", "Tirana"),
        "repatriation_plan.arrival.code",
        "IATA",
        "Tirana",
    ),
    Rule(
        "crossing-code",
        "handover_confirmation",
        _set("handover_confirmation.place", "type", codes_pb2.ARRIVAL_POINT_TYPE_BORDER_CROSSING),
        "handover_confirmation.place.code",
        "UN/LOCODE",
    ),
    Rule(
        "escort-provider",
        "repatriation_plan",
        _set("repatriation_plan.escort", "provider", 0),
        "repatriation_plan.escort.provider",
        "escorts",
    ),
    Rule(
        "acceptance-accepts",
        "repatriation_plan_acceptance",
        _clear("repatriation_plan_acceptance.accepts"),
        "repatriation_plan_acceptance.accepts",
        "required",
    ),
    Rule(
        "return-cancelled-disruption",
        "return_status_update",
        _set("return_status_update", "status", codes_pb2.RETURN_STATUS_CANCELLED),
        "return_status_update.disruption",
        "CANCELLED",
    ),
    Rule(
        "handover-time",
        "handover_confirmation",
        _set("handover_confirmation", "handed_over_at_ms", 0),
        "handover_confirmation.handed_over_at_ms",
        "required",
    ),
    Rule(
        "handover-condition",
        "handover_confirmation",
        _set("handover_confirmation", "condition", 0),
        "handover_confirmation.condition",
        "UNSPECIFIED",
    ),
    Rule(
        "follow-up-occasion",
        "follow_up_report",
        _set("follow_up_report", "occasion", 0),
        "follow_up_report.occasion",
        "UNSPECIFIED",
    ),
    Rule(
        "follow-up-visited-on",
        "follow_up_report",
        _clear("follow_up_report.visited_on"),
        "follow_up_report.visited_on",
        "required",
    ),
    Rule(
        "follow-up-next-visit",
        "follow_up_report",
        lambda b: b.follow_up_report.next_visit_on.CopyFrom(common_pb2.Date(year=2026, month=1, day=1)),
        "follow_up_report.next_visit_on",
        "visited_on",
    ),
    Rule("alert-type", "protection_alert", _set("protection_alert", "type", 0), "protection_alert.type", "UNSPECIFIED"),
    Rule(
        "alert-missing-since",
        "protection_alert",
        _set("protection_alert", "since_ms", 0),
        "protection_alert.since_ms",
        "MISSING",
    ),
    Rule(
        "alert-detained",
        "protection_alert",
        _set("protection_alert", "type", codes_pb2.ALERT_TYPE_DETAINED),
        "protection_alert.detention",
        "DETAINED",
    ),
    Rule(
        "alert-removal",
        "protection_alert",
        _set("protection_alert", "type", codes_pb2.ALERT_TYPE_REMOVAL_SCHEDULED),
        "protection_alert.removal_on",
        "REMOVAL_SCHEDULED",
    ),
    Rule(
        "ack-assigned-unit",
        "acknowledgement",
        _set("acknowledgement", "assigned_unit", ""),
        "acknowledgement.assigned_unit",
        "RECEIVED_AND_ASSIGNED",
    ),
    Rule(
        "ack-acknowledges",
        "acknowledgement",
        _clear("acknowledgement.acknowledges"),
        "acknowledgement.acknowledges",
        "required",
    ),
    Rule(
        "clarification-about",
        "clarification_request",
        _clear("clarification_request.about"),
        "clarification_request.about",
        "required",
    ),
    Rule(
        "clarification-field-path",
        "clarification_request",
        lambda b: setattr(b.clarification_request.items[0], "field_path", "the child's age"),
        "clarification_request.items[0].field_path",
        "field path",
    ),
    Rule(
        "clarification-answers",
        "clarification_response",
        _clear("clarification_response.answers"),
        "clarification_response.answers",
        "required",
    ),
    Rule(
        "clarification-answer-given",
        "clarification_response",
        _clear("clarification_response.texts"),
        "clarification_response.texts",
        "at least one answer",
    ),
    Rule(
        "refusal-refuses", "request_refusal", _clear("request_refusal.refuses"), "request_refusal.refuses", "required"
    ),
    Rule(
        "refusal-reason",
        "request_refusal",
        _set("request_refusal", "reason", 0),
        "request_refusal.reason",
        "UNSPECIFIED",
    ),
    Rule(
        "refusal-duplicate",
        "request_refusal",
        _set("request_refusal", "reason", codes_pb2.REFUSAL_REASON_DUPLICATE_CASE),
        "request_refusal.existing_case_ref",
        "DUPLICATE_CASE",
    ),
    Rule("amendment-amends", "amendment", _clear("amendment.amends"), "amendment.amends", "required"),
    Rule(
        "amendment-same-kind",
        "amendment",
        _set("amendment.amends", "kind", "tracing_request"),
        "amendment.replacement",
        "same kind",
    ),
    Rule(
        "amendment-not-control",
        "amendment",
        lambda b: b.amendment.replacement.CopyFrom(sample_body("withdrawal")),
        "amendment.replacement",
        "not a control kind",
    ),
    Rule(
        "amendment-replacement-valid",
        "amendment",
        lambda b: setattr(b.amendment.replacement.case_notification.child.age, "assessed_min_years", 17),
        "amendment.replacement.case_notification.child.age.assessed_min_years",
        "must not exceed",
    ),
    Rule(
        "amendment-same-link",
        "amendment",
        lambda b: setattr(b.amendment.replacement.context, "case_ref", case_ref_for(5)),
        "amendment.replacement.context.case_ref",
        "same link",
    ),
    Rule("withdrawal-reason", "withdrawal", _set("withdrawal", "reason", 0), "withdrawal.reason", "UNSPECIFIED"),
    Rule("reminder-was-due", "reminder", _clear("reminder.was_due"), "reminder.was_due", "required"),
    Rule(
        "closure-outcome",
        "case_closure",
        _set("case_closure", "outcome", 0),
        "case_closure.outcome",
        "UNSPECIFIED",
    ),
    Rule("closure-action", "case_closure", _set("case_closure", "action", 0), "case_closure.action", "UNSPECIFIED"),
    Rule("closure-approval", "case_closure", _clear("case_closure.approval"), "case_closure.approval", "required"),
]


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_each_rule_is_reported_at_its_path_naming_the_rule_never_the_value(rule: Rule) -> None:
    """Breaking one rule in a valid sample reports that rule at its field path, without the offending value."""
    body = sample_body(rule.kind)
    assert not problems(body)
    rule.mutate(body)
    found = problems(body)
    at_path = [p.message for p in found if p.path == rule.path]
    assert at_path, found
    assert any(rule.says in message for message in at_path), at_path
    if rule.secret is not None:
        with pytest.raises(InvalidBody) as refused:
            validate_body(body, now_ms=NOW)
        assert rule.secret not in str(refused.value)


@pytest.mark.parametrize(
    ("kind", "mutate"),
    [
        pytest.param("acknowledgement", _clear("context.attestation"), id="no-attestation-on-a-control-kind"),
        pytest.param(
            "identity_verification_reply",
            lambda b: b.identity_verification_reply.document_checks.append(codes_pb2.DOCUMENT_CHECK_UNSPECIFIED),
            id="positional-unspecified-document-check",
        ),
        pytest.param(
            SIR,
            _with(
                _set("context.flags", "family_contact", codes_pb2.FAMILY_CONTACT_RULE_NO_CONTACT),
                _set("context.attestation", "basis", codes_pb2.ATTESTATION_BASIS_SUPERVISOR_REVIEW),
                lambda b: b.social_inquiry_request.ClearField("allowed_methods"),
                lambda b: b.social_inquiry_request.allowed_methods.extend(RECORDS_AND_AGENCIES),
            ),
            id="records-only-under-no-contact",
        ),
        pytest.param(
            "repatriation_plan",
            lambda b: b.repatriation_plan.latest_departure.CopyFrom(b.repatriation_plan.earliest_departure),
            id="one-day-window",
        ),
        pytest.param(
            NOT,
            _with(
                _set(f"{NOT}.child.age", "assessed_min_years", 25), _set(f"{NOT}.child.age", "assessed_max_years", 25)
            ),
            id="age-25",
        ),
        pytest.param(
            "durable_solution_proposal",
            lambda b: b.durable_solution_proposal.gate.override.CopyFrom(
                messages_pb2.GateOverride(
                    waived=[],
                    reason=codes_pb2.OVERRIDE_REASON_OTHER,
                    justification=common_pb2.LocalizedText(text="x" * 200, language="en"),
                    approval=messages_pb2.ApprovalRecord(prepared_by="a", approved_by="b", approved_at_ms=1),
                )
            ),
            id="override-other-at-200-but-nothing-waived",
        ),
        pytest.param(
            "identity_verification_reply",
            _with(
                _set("identity_verification_reply", "minority", codes_pb2.MINORITY_PRESUMPTION_VERIFIED_ADULT),
                lambda b: b.identity_verification_reply.registered_date_of_birth.CopyFrom(
                    common_pb2.Date(year=2008, month=12, day=1)
                ),
            ),
            id="verified-adult-on-the-18th-birthday",
        ),
        pytest.param(
            "protection_alert",
            _set("protection_alert", "type", codes_pb2.ALERT_TYPE_FOUND),
            id="found-alert-needs-no-since",
        ),
        pytest.param(
            "request_refusal",
            _with(
                _set("request_refusal", "reason", codes_pb2.REFUSAL_REASON_DUPLICATE_CASE),
                _set("request_refusal", "existing_case_ref", case_ref_for(3, "AL")),
            ),
            id="duplicate-names-the-existing-link",
        ),
    ],
)
def test_values_on_the_permitted_side_of_a_rule_are_accepted(kind: str, mutate: Mutation) -> None:
    """Edge values within the rules pass (a rule is no stricter than it says)."""
    body = sample_body(kind)
    mutate(body)
    problems_found = problems(body)
    if kind == "durable_solution_proposal":
        # Nothing waived is itself a problem; the 200-character justification is not.
        assert [p.path for p in problems_found] == ["durable_solution_proposal.gate.override.waived"]
    else:
        assert not problems_found


@settings(max_examples=100, deadline=None)
@given(n=st.integers(0, 32**10 - 1), state=st.sampled_from(["GR", "AL", "IT", "NG"]))
def test_any_well_formed_link_reference_is_accepted(n: int, state: str) -> None:
    """Every reference of the documented shape with its check character is accepted."""
    body = sample_body("reminder", case_ref=case_ref_for(n, state))
    assert validate_body(body, now_ms=NOW) == "reminder"


@settings(max_examples=100, deadline=None)
@given(
    given_name=st.from_regex(r"[A-Z][a-z]{3,12}", fullmatch=True),
    family_name=st.from_regex(r"[A-Z][a-z]{3,12}", fullmatch=True),
)
def test_a_name_is_never_a_case_reference_nor_echoed(given_name: str, family_name: str) -> None:
    """A person's name as a case reference is refused, and neither name appears in the error."""
    body = sample_body("social_inquiry_request", case_ref=f"{given_name} {family_name}")
    with pytest.raises(InvalidBody) as refused:
        validate_body(body, now_ms=NOW)
    assert given_name not in str(refused.value)
    assert family_name not in str(refused.value)


def test_a_case_reference_with_a_trailing_newline_is_refused() -> None:
    """A reference is only its characters: a trailing newline is refused."""
    body = sample_body("reminder", case_ref=SAMPLE_CASE_REF + "\n")
    assert [p.path for p in problems(body)] == ["context.case_ref"]
