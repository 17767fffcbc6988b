"""Realistic, entirely fictitious message bodies for the demo, the benchmark and tests."""

from __future__ import annotations

from focalpoint.v1 import common_pb2, messages_pb2

__all__ = ["CODE_LIST_VERSION", "social_inquiry_report", "social_inquiry_request"]

CODE_LIST_VERSION = "2026.1"


def social_inquiry_request(case_ref: str, *, identified_at_ms: int, padding: int = 0) -> messages_pb2.Body:
    """A request from the identifying State; ``padding`` adds circumstance text to reach a payload size."""
    req = messages_pb2.SocialInquiryRequest(
        case_ref=case_ref,
        identification_status=messages_pb2.IDENTIFICATION_STATUS_PRESUMED_TRAFFICKED,
        identified_at_ms=identified_at_ms,
        child=messages_pb2.ChildIdentity(
            given_names=["Arta"],
            family_name="Example",
            sex=messages_pb2.SEX_FEMALE,
            documented_date_of_birth=common_pb2.Date(year=2007, month=3, day=14),
            assessed_age_years=15,
            age_disputed=True,
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
        do_not_contact_family=False,
        urgency=messages_pb2.URGENCY_URGENT,
        response_due=common_pb2.Date(year=2026, month=12, day=7),
        preferred_response_language="en",
        requesting_unit="gr-ekka/athens",
        guardian_office="Athens Public Prosecutor for Minors",
    )
    return messages_pb2.Body(code_list_version=CODE_LIST_VERSION, social_inquiry_request=req)


def social_inquiry_report(case_ref: str, *, completed_at_ms: int) -> messages_pb2.Body:
    rep = messages_pb2.SocialInquiryReport(
        case_ref=case_ref,
        identity_confirmed=messages_pb2.CONFIRMATION_CONFIRMED,
        nationality_confirmed=messages_pb2.CONFIRMATION_CONFIRMED,
        family_situation=common_pb2.LocalizedText(
            text="Mother abroad; father absent. Grandmother lives alone on a small pension.",
            language="en",
            original_text="Nëna jashtë vendit; babai mungon. Gjyshja jeton vetëm me një pension të vogël.",
            original_language="sq",
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
    )
    return messages_pb2.Body(code_list_version=CODE_LIST_VERSION, social_inquiry_report=rep)
