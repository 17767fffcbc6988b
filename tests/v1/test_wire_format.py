"""The case workflow's wire format: kinds, field numbers and code lists that other States' nodes rely on."""

from __future__ import annotations

import re

import pytest
from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor

from focalpoint.v1 import codes_pb2, common_pb2, directory_pb2, messages_pb2

# Body.kind oneof: field name -> (field number, message type). Numbers are the wire format; never change them.
KINDS = {
    "social_inquiry_request": (10, "SocialInquiryRequest"),
    "social_inquiry_report": (11, "SocialInquiryReport"),
    "case_notification": (12, "CaseNotification"),
    "acknowledgement": (13, "Acknowledgement"),
    "guardian_appointment_notice": (14, "GuardianAppointmentNotice"),
    "identity_verification_request": (15, "IdentityVerificationRequest"),
    "identity_verification_reply": (16, "IdentityVerificationReply"),
    "risk_assessment_request": (17, "RiskAssessmentRequest"),
    "risk_assessment_report": (18, "RiskAssessmentReport"),
    "child_views_record": (19, "ChildViewsRecord"),
    "reintegration_plan": (20, "ReintegrationPlan"),
    "durable_solution_proposal": (21, "DurableSolutionProposal"),
    "durable_solution_counter_proposal": (22, "DurableSolutionCounterProposal"),
    "durable_solution_agreement": (23, "DurableSolutionAgreement"),
    "repatriation_plan": (24, "RepatriationPlan"),
    "repatriation_plan_acceptance": (25, "RepatriationPlanAcceptance"),
    "return_status_update": (26, "ReturnStatusUpdate"),
    "handover_confirmation": (27, "HandoverConfirmation"),
    "follow_up_report": (28, "FollowUpReport"),
    "protection_alert": (29, "ProtectionAlert"),
    "tracing_request": (30, "TracingRequest"),
    "clarification_request": (31, "ClarificationRequest"),
    "clarification_response": (32, "ClarificationResponse"),
    "request_refusal": (33, "RequestRefusal"),
    "amendment": (34, "Amendment"),
    "withdrawal": (35, "Withdrawal"),
    "reminder": (36, "Reminder"),
    "case_closure": (37, "CaseClosure"),
}

# The common parts every case message uses: message -> {field: number}.
COMMON = {
    "CaseContext": {
        "case_ref": 1,
        "agreement_id": 2,
        "sender_unit": 3,
        "recipient_unit": 4,
        "urgency": 5,
        "flags": 6,
        "attestation": 7,
        "response_language": 8,
    },
    "SharedFlags": {
        "family_contact": 1,
        "minority": 2,
        "age_out_on": 3,
        "missing": 4,
        "detained": 5,
        "removal_scheduled_on": 6,
        "current_risk": 7,
    },
    "TransmissionAttestation": {"no_foreseeable_danger": 1, "basis": 2, "attested_by": 3, "attested_at_ms": 4},
    "EvidenceRef": {"message_id": 1, "body_sha256": 2, "kind": 3},
    "ApprovalRecord": {"prepared_by": 1, "approved_by": 2, "approved_at_ms": 3},
    "GateStatus": {"met": 1, "missing": 2, "override": 3, "evaluated_at_ms": 4},
    "GateOverride": {"waived": 1, "reason": 2, "justification": 3, "approval": 4},
    "AgeDetermination": {
        "presumption": 1,
        "claimed_date_of_birth": 2,
        "assessed_min_years": 3,
        "assessed_max_years": 4,
        "method": 5,
        "assessed_on": 6,
        "age_out_on": 7,
    },
    "NationalityClaim": {"claimed": 1, "presumed": 2, "verified": 3, "stateless_risk": 4},
}

# The additions to existing messages: (message, field) -> number.
ADDED = {
    ("Body", "context"): 2,
    ("ChildIdentity", "aliases"): 11,
    ("ChildIdentity", "age"): 12,
    ("ChildIdentity", "nationality"): 13,
    ("ChildIdentity", "interpreter_needed"): 14,
    ("SocialInquiryRequest", "allowed_methods"): 15,
    ("SocialInquiryReport", "methods_used"): 14,
    ("SocialInquiryReport", "departure_factors"): 15,
    ("SocialInquiryReport", "prior_abuse_or_neglect"): 16,
    ("SocialInquiryReport", "prior_care"): 17,
    ("SocialInquiryReport", "services_available"): 18,
    ("SocialInquiryReport", "parental_responsibility"): 19,
}

# Zeros that are a value, not "unspecified": the most protective reading (docs/adr/0012-protective-zero.md).
PROTECTIVE_ZEROS = {
    "FamilyContactRule": "FAMILY_CONTACT_RULE_CONSULT_SENDER_FIRST",
    "MinorityPresumption": "MINORITY_PRESUMPTION_PRESUMED_MINOR",
}


def _prefix(enum_name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum_name).upper() + "_"


def _all_enums() -> list[EnumDescriptor]:
    files = (codes_pb2.DESCRIPTOR, common_pb2.DESCRIPTOR, messages_pb2.DESCRIPTOR, directory_pb2.DESCRIPTOR)
    return [enum for f in files for enum in f.enum_types_by_name.values()]


def _enum_name(field: FieldDescriptor) -> str:
    assert field.enum_type is not None, f"{field.full_name} is not an enum"
    return str(field.enum_type.full_name)


def _field(message: str, name: str) -> FieldDescriptor:
    return messages_pb2.DESCRIPTOR.message_types_by_name[message].fields_by_name[name]


def test_body_has_exactly_the_28_case_kinds_with_their_field_numbers() -> None:
    """Every kind is a Body.kind oneof member with its fixed number and message type, and no other exists."""
    oneof = messages_pb2.Body.DESCRIPTOR.oneofs_by_name["kind"]
    found = {f.name: (f.number, f.message_type.name if f.message_type else "") for f in oneof.fields}
    assert found == KINDS


@pytest.mark.parametrize("message", sorted(COMMON))
def test_common_parts_have_the_published_field_names_and_numbers(message: str) -> None:
    """The common parts other States' nodes implement keep exactly these names and numbers."""
    fields = messages_pb2.DESCRIPTOR.message_types_by_name[message].fields
    assert {f.name: f.number for f in fields} == COMMON[message]


@pytest.mark.parametrize(
    ("where", "number"), sorted(ADDED.items()), ids=lambda v: ".".join(v) if isinstance(v, tuple) else str(v)
)
def test_existing_messages_gain_the_published_fields(where: tuple[str, str], number: int) -> None:
    """Fields added to already-existing messages have the numbers the wire format publishes."""
    assert _field(*where).number == number


def test_localized_text_records_who_translated_it() -> None:
    """LocalizedText gains translation_kind = 5 (a TranslationKind) and translated_by = 6."""
    fields = common_pb2.LocalizedText.DESCRIPTOR.fields_by_name
    assert (fields["translation_kind"].number, _enum_name(fields["translation_kind"])) == (
        5,
        "focalpoint.v1.TranslationKind",
    )
    assert fields["translated_by"].number == 6


@pytest.mark.parametrize("enum", _all_enums(), ids=lambda e: e.name)
def test_every_enum_value_carries_its_list_prefix_and_zero_is_unspecified_or_protective(enum: EnumDescriptor) -> None:
    """Values are ENUM_NAME_VALUE; the zero is _UNSPECIFIED except where the protective reading is a value."""
    prefix = _prefix(enum.name)
    assert all(v.name.startswith(prefix) for v in enum.values), [v.name for v in enum.values]
    zero = enum.values_by_number[0].name
    assert zero == PROTECTIVE_ZEROS.get(enum.name, prefix + "UNSPECIFIED")


def test_the_protective_zeros_are_what_an_unset_field_reads_as() -> None:
    """An empty SharedFlags means: consult the sender before contacting the family, and the person is a minor."""
    flags = messages_pb2.SharedFlags()
    assert flags.family_contact == codes_pb2.FAMILY_CONTACT_RULE_CONSULT_SENDER_FIRST
    assert flags.minority == codes_pb2.MINORITY_PRESUMPTION_PRESUMED_MINOR
    assert messages_pb2.AgeDetermination().presumption == codes_pb2.MINORITY_PRESUMPTION_PRESUMED_MINOR
    assert not messages_pb2.TransmissionAttestation().no_foreseeable_danger
    assert messages_pb2.SharedFlags().current_risk == codes_pb2.RISK_LEVEL_UNSPECIFIED != codes_pb2.RISK_LEVEL_NONE


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ("ChildIdentity", "assessed_age_years"),
        ("ChildIdentity", "age_disputed"),
        ("SocialInquiryRequest", "do_not_contact_family"),
    ],
)
def test_fields_with_an_unsafe_zero_are_deprecated(message: str, field: str) -> None:
    """The fields whose zero was the unsafe reading are marked deprecated (kept receivable, numbers reserved)."""
    assert _field(message, field).GetOptions().deprecated


def test_adoption_or_marriage_is_deprecated_and_split() -> None:
    """EXPLOITATION_FORM_ADOPTION_OR_MARRIAGE keeps number 7, deprecated; its successors are appended."""
    enum = messages_pb2.ExploitationForm.DESCRIPTOR
    assert enum.values_by_name["EXPLOITATION_FORM_ADOPTION_OR_MARRIAGE"].GetOptions().deprecated
    assert messages_pb2.EXPLOITATION_FORM_FORCED_MARRIAGE == 10
    assert messages_pb2.EXPLOITATION_FORM_NONE_IDENTIFIED == 13


def test_return_costs_kept_its_full_name_and_numbers_when_moved_to_the_code_lists() -> None:
    """ReturnCosts is one type for agreements and repatriation plans, with unchanged wire codes."""
    agreement_field = directory_pb2.Agreement.DESCRIPTOR.fields_by_name["return_costs"]
    plan_field = _field("RepatriationPlan", "cost_bearer")
    assert _enum_name(agreement_field) == _enum_name(plan_field) == "focalpoint.v1.ReturnCosts"
    assert codes_pb2.RETURN_COSTS_SHARED == 3


def test_agreement_case_rules_are_field_16_and_consular_copy_has_presence() -> None:
    """CaseRules is Agreement field 16; consular_copy_on_detention can tell unset (default true) from false."""
    assert directory_pb2.Agreement.DESCRIPTOR.fields_by_name["case_rules"].number == 16
    rules = directory_pb2.CaseRules()
    assert not rules.HasField("consular_copy_on_detention")
    rules.consular_copy_on_detention = False
    assert rules.HasField("consular_copy_on_detention")
    deadline = directory_pb2.KindDeadline.DESCRIPTOR.fields_by_name
    assert [deadline[n].number for n in ("acknowledge_hours", "urgent_response_hours", "emergency_response_hours")] == [
        3,
        4,
        5,
    ]


def test_an_amendment_carries_a_whole_replacement_body() -> None:
    """Amendment.replacement is a Body, so a rectification round-trips any kind."""
    inner = messages_pb2.Body(
        code_list_version="2026.1", withdrawal=messages_pb2.Withdrawal(reason=codes_pb2.WITHDRAWAL_REASON_SENT_IN_ERROR)
    )
    outer = messages_pb2.Body(amendment=messages_pb2.Amendment(replacement=inner))
    assert messages_pb2.Body.FromString(outer.SerializeToString()).amendment.replacement == inner
