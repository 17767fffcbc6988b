"""Realistic, entirely fictitious message bodies for the demo, the benchmark and tests."""

from __future__ import annotations

from focalpoint.v1 import codes_pb2, common_pb2, messages_pb2

__all__ = ["CODE_LIST_VERSION", "social_inquiry_report", "social_inquiry_request"]

CODE_LIST_VERSION = "2026.1"

# The youngest plausible reading of the sample child's age (assessed 14-16 on 2026-11-20) turns 18 then.
_AGE_OUT_ON = common_pb2.Date(year=2030, month=11, day=20)


def _context(
    case_ref: str,
    *,
    agreement_id: str,
    sender_unit: str,
    urgency: messages_pb2.Urgency.ValueType,
    basis: codes_pb2.AttestationBasis.ValueType,
    attested_at_ms: int,
) -> messages_pb2.CaseContext:
    return messages_pb2.CaseContext(
        case_ref=case_ref,
        agreement_id=agreement_id,
        sender_unit=sender_unit,
        urgency=urgency,
        flags=messages_pb2.SharedFlags(
            family_contact=codes_pb2.FAMILY_CONTACT_RULE_CONTACT_ALLOWED,
            minority=codes_pb2.MINORITY_PRESUMPTION_PRESUMED_MINOR,
            age_out_on=_AGE_OUT_ON,
            current_risk=codes_pb2.RISK_LEVEL_MEDIUM,
        ),
        attestation=messages_pb2.TransmissionAttestation(
            no_foreseeable_danger=True, basis=basis, attested_by="officer-1", attested_at_ms=attested_at_ms
        ),
        response_language="en",
    )


def social_inquiry_request(
    case_ref: str, *, identified_at_ms: int, padding: int = 0, agreement_id: str = ""
) -> messages_pb2.Body:
    """A request from the identifying State; ``padding`` adds circumstance text to reach a payload size."""
    req = messages_pb2.SocialInquiryRequest(
        case_ref=case_ref,
        identification_status=messages_pb2.IDENTIFICATION_STATUS_PRESUMED_TRAFFICKED,
        identified_at_ms=identified_at_ms,
        child=messages_pb2.ChildIdentity(
            given_names=["Arta"],
            family_name="Example",
            sex=messages_pb2.SEX_FEMALE,
            # The passport says 19; it is doubted, and the assessed age decides (presumption of minority).
            documented_date_of_birth=common_pb2.Date(year=2007, month=3, day=14),
            presumed_nationality="AL",
            place_of_origin=common_pb2.LocalizedText(text="a village near Elbasan", language="en"),
            languages=["sq"],
            documents=[
                messages_pb2.IdentityDocument(
                    type=messages_pb2.IDENTITY_DOCUMENT_TYPE_PASSPORT,
                    number="X0000000",
                    issuing_state="AL",
                    authenticity_doubted=True,
                )
            ],
            age=messages_pb2.AgeDetermination(
                presumption=codes_pb2.MINORITY_PRESUMPTION_PRESUMED_MINOR,
                claimed_date_of_birth=common_pb2.Date(year=2011, month=5, day=2),
                assessed_min_years=14,
                assessed_max_years=16,
                method=codes_pb2.AGE_ASSESSMENT_METHOD_HOLISTIC_PSYCHOSOCIAL,
                assessed_on=common_pb2.Date(year=2026, month=11, day=20),
                age_out_on=_AGE_OUT_ON,
            ),
            nationality=messages_pb2.NationalityClaim(claimed="AL", presumed="AL"),
            interpreter_needed=True,
        ),
        family_contacts=[
            messages_pb2.FamilyContact(
                relationship=messages_pb2.RELATIONSHIP_GRANDPARENT,
                name="(fictitious)",
                last_known_address=common_pb2.LocalizedText(text="Elbasan district", language="en"),
            )
        ],
        exploitation_forms=[messages_pb2.EXPLOITATION_FORM_BEGGING],
        circumstances=common_pb2.LocalizedText(
            text="Found begging at a railway station; says she was brought by a cousin." + " " * padding,
            language="en",
        ),
        topics=[
            messages_pb2.INQUIRY_TOPIC_IDENTITY_AND_NATIONALITY,
            messages_pb2.INQUIRY_TOPIC_CAREGIVER_AVAILABILITY,
            messages_pb2.INQUIRY_TOPIC_FAMILY_INVOLVEMENT,
        ],
        urgency=messages_pb2.URGENCY_URGENT,
        response_due=common_pb2.Date(year=2026, month=12, day=7),
        preferred_response_language="en",
        requesting_unit="gr-ekka/athens",
        guardian_office="Athens Public Prosecutor for Minors",
        allowed_methods=[
            codes_pb2.INQUIRY_METHOD_HOME_VISIT,
            codes_pb2.INQUIRY_METHOD_FAMILY_INTERVIEW,
            codes_pb2.INQUIRY_METHOD_CIVIL_RECORDS,
            codes_pb2.INQUIRY_METHOD_SCHOOL,
        ],
    )
    context = _context(
        case_ref,
        agreement_id=agreement_id,
        sender_unit="gr-ekka/athens",
        urgency=messages_pb2.URGENCY_URGENT,
        basis=codes_pb2.ATTESTATION_BASIS_OFFICER_JUDGEMENT,
        attested_at_ms=identified_at_ms,
    )
    return messages_pb2.Body(code_list_version=CODE_LIST_VERSION, context=context, social_inquiry_request=req)


def social_inquiry_report(case_ref: str, *, completed_at_ms: int, agreement_id: str = "") -> messages_pb2.Body:
    rep = messages_pb2.SocialInquiryReport(
        case_ref=case_ref,
        identity_confirmed=messages_pb2.CONFIRMATION_CONFIRMED,
        nationality_confirmed=messages_pb2.CONFIRMATION_CONFIRMED,
        family_situation=common_pb2.LocalizedText(
            text="Mother abroad; father absent. Grandmother lives alone on a small pension.",
            language="en",
            original_text="Nëna jashtë vendit; babai mungon. Gjyshja jeton vetëm me një pension të vogël.",
            original_language="sq",
            translation_kind=codes_pb2.TRANSLATION_KIND_HUMAN,
            translated_by="officer-2",
        ),
        caregivers=[
            messages_pb2.CaregiverAssessment(
                relationship=messages_pb2.RELATIONSHIP_GRANDPARENT,
                availability=messages_pb2.CAREGIVER_AVAILABILITY_AVAILABLE_WITH_SUPPORT,
                willing_to_care=True,
                assessment=common_pb2.LocalizedText(text="Willing; needs financial support.", language="en"),
                visited_on=common_pb2.Date(year=2026, month=11, day=30),
            )
        ],
        family_involvement=messages_pb2.FINDING_SUSPECTED,
        payment_received=messages_pb2.FINDING_UNKNOWN,
        recommended_solution=messages_pb2.DURABLE_SOLUTION_ALTERNATIVE_CARE_IN_ORIGIN,
        recommendation_rationale=common_pb2.LocalizedText(
            text="The cousin who took her is still in the village; return to the grandmother is not safe yet.",
            language="en",
        ),
        sources=["municipal social services", "school records"],
        completed_at_ms=completed_at_ms,
        reporting_unit="al-shss/elbasan",
        methods_used=[codes_pb2.INQUIRY_METHOD_HOME_VISIT, codes_pb2.INQUIRY_METHOD_SCHOOL],
        departure_factors=[codes_pb2.RISK_FACTOR_POVERTY, codes_pb2.RISK_FACTOR_RECRUITER_IN_COMMUNITY],
        prior_abuse_or_neglect=messages_pb2.FINDING_UNKNOWN,
        prior_care=codes_pb2.CARE_HISTORY_NONE,
        services_available=[codes_pb2.SERVICE_TYPE_EDUCATION, codes_pb2.SERVICE_TYPE_PSYCHOSOCIAL],
        parental_responsibility=codes_pb2.PARENTAL_RESPONSIBILITY_ONE_PARENT,
    )
    # The family is suspected, so the attestation rests on a supervisor's review, not one officer's judgement.
    context = _context(
        case_ref,
        agreement_id=agreement_id,
        sender_unit="al-shss/elbasan",
        urgency=messages_pb2.URGENCY_URGENT,
        basis=codes_pb2.ATTESTATION_BASIS_SUPERVISOR_REVIEW,
        attested_at_ms=completed_at_ms,
    )
    return messages_pb2.Body(code_list_version=CODE_LIST_VERSION, context=context, social_inquiry_report=rep)
