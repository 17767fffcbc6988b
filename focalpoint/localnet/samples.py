"""Realistic, entirely fictitious message bodies for the demo, the benchmark and tests.

``sample_body(kind)`` gives one complete, valid body of every kind (docs/protocol.md §11): the
fixtures of the validation and form tests, of the demo and of end-to-end scenarios. Every name,
place, number and reference here is invented; ``case_ref_for`` makes well-formed link references
(check character included) from a number, so tests can have as many links as they need.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from google.protobuf.message import Message

from focalpoint.ids import CROCKFORD, check_char
from focalpoint.v1 import codes_pb2, common_pb2, messages_pb2

__all__ = [
    "CODE_LIST_VERSION",
    "SAMPLE_AT_MS",
    "SAMPLE_CASE_REF",
    "case_ref_for",
    "evidence_ref",
    "sample_body",
    "social_inquiry_report",
    "social_inquiry_request",
]

CODE_LIST_VERSION = "2026.1"
# 2026-12-01T09:00:00Z: when the sample bodies are written (every time in them lies before it).
SAMPLE_AT_MS = 1_796_115_600_000
_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000


def case_ref_for(n: int, state: str = "GR") -> str:
    """A well-formed link reference numbered ``n`` (0 ≤ n < 32**10), for fixtures: ``GR-000000000D-…``.

    Real references are random (``focalpoint.cases.refs.mint_case_ref``); these are deterministic so
    a test can name many links apart.
    """
    if not 0 <= n < 32**10:
        raise ValueError("n must be between 0 and 32**10 - 1")
    body = "".join(CROCKFORD[(n >> (5 * i)) & 31] for i in reversed(range(10)))
    return f"{state}-{body}-{check_char(body)}"


SAMPLE_CASE_REF = case_ref_for(0x1F2E3D4C, "GR")

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
    """A report from the State of origin, answering the sample request."""
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


# --- one body of every other kind ------------------------------------------------------------------


def evidence_ref(kind: str, label: str) -> messages_pb2.EvidenceRef:
    """A fictitious but well-formed reference to an earlier message of ``kind`` (ids derived from ``label``)."""
    digest = hashlib.sha256(f"focalpoint-sample/{label}".encode()).digest()
    return messages_pb2.EvidenceRef(message_id=digest[:16], body_sha256=hashlib.sha256(digest).digest(), kind=kind)


def _date(year: int, month: int, day: int) -> common_pb2.Date:
    return common_pb2.Date(year=year, month=month, day=day)


def _en(text: str) -> common_pb2.LocalizedText:
    return common_pb2.LocalizedText(text=text, language="en")


def _approval(at_ms: int) -> messages_pb2.ApprovalRecord:
    return messages_pb2.ApprovalRecord(prepared_by="officer-1", approved_by="supervisor-1", approved_at_ms=at_ms)


def _child() -> messages_pb2.ChildIdentity:
    return social_inquiry_request("GR-0000000000-0", identified_at_ms=1).social_inquiry_request.child


def _gate(at_ms: int) -> messages_pb2.GateStatus:
    return messages_pb2.GateStatus(
        met=[
            codes_pb2.GATE_CONDITION_G1_SOCIAL_INQUIRY,
            codes_pb2.GATE_CONDITION_G2_RISK_ASSESSMENT,
            codes_pb2.GATE_CONDITION_G3_CHILD_VIEWS,
            codes_pb2.GATE_CONDITION_G4_IDENTITY_NATIONALITY,
            codes_pb2.GATE_CONDITION_G5_REINTEGRATION_PLAN,
        ],
        evaluated_at_ms=at_ms,
    )


def _proposal(at_ms: int) -> messages_pb2.DurableSolutionProposal:
    return messages_pb2.DurableSolutionProposal(
        solution=messages_pb2.SolutionOption(
            solution=messages_pb2.DURABLE_SOLUTION_RETURN_EXTENDED_FAMILY, solution_state="AL"
        ),
        alternatives_considered=[
            messages_pb2.SolutionOption(solution=messages_pb2.DURABLE_SOLUTION_STAY_IN_HOST_STATE, solution_state="GR")
        ],
        rationale=_en("The aunt is assessed as suitable; the risk assessment finds the recruiter no longer active."),
        evidence=[
            evidence_ref("social_inquiry_report", "report"),
            evidence_ref("risk_assessment_report", "risk"),
            evidence_ref("child_views_record", "views"),
            evidence_ref("reintegration_plan", "plan"),
        ],
        conditions=[
            messages_pb2.ConditionPrecedent(
                kind=codes_pb2.CONDITION_KIND_SCHOOL_PLACE, detail=_en("A school place before departure.")
            )
        ],
        bid=messages_pb2.BestInterestsDecision(
            decided_on=_date(2026, 11, 27),
            forum=codes_pb2.BID_FORUM_MULTIDISCIPLINARY_PANEL,
            panel_size=3,
            child_heard=True,
            guardian_consulted=True,
        ),
        approval=_approval(at_ms - _HOUR_MS),
        gate=_gate(at_ms - _HOUR_MS),
        valid_until_ms=at_ms + 30 * _DAY_MS,
    )


def _arrival() -> messages_pb2.ArrivalPoint:
    return messages_pb2.ArrivalPoint(type=codes_pb2.ARRIVAL_POINT_TYPE_AIRPORT, code="TIA")


_Kinds = dict[str, Callable[[int], Message]]


def _kinds() -> _Kinds:
    m, c = messages_pb2, codes_pb2
    return {
        "case_notification": lambda at: m.CaseNotification(
            identification_status=m.IDENTIFICATION_STATUS_PRESUMED_TRAFFICKED,
            identified_at_ms=at - 2 * _DAY_MS,
            identified_by=c.IDENTIFYING_AGENCY_POLICE,
            child=_child(),
            exploitation_forms=[m.EXPLOITATION_FORM_BEGGING],
            transit_states=["MK"],
            placement=c.PLACEMENT_TYPE_SHELTER_OPEN,
            guardian=m.GuardianStatus(
                appointed=True,
                appointed_at_ms=at - _DAY_MS,
                type=c.GUARDIAN_TYPE_PUBLIC_PROSECUTOR,
                office="Public Prosecutor for Minors",
            ),
            immigration=c.IMMIGRATION_STATUS_REFLECTION_PERIOD,
            requested=[c.REQUESTED_ACTION_IDENTITY_VERIFICATION, c.REQUESTED_ACTION_SOCIAL_INQUIRY],
            circumstances=_en("Found begging at a railway station; says she was brought by a cousin."),
        ),
        "acknowledgement": lambda at: m.Acknowledgement(
            kind=c.ACK_KIND_RECEIVED_AND_ASSIGNED,
            acknowledges=evidence_ref("case_notification", "notification"),
            assigned_unit="al-shss/elbasan",
            expected_by=_date(2026, 12, 31),
        ),
        "guardian_appointment_notice": lambda at: m.GuardianAppointmentNotice(
            guardian=m.GuardianStatus(
                appointed=True,
                appointed_at_ms=at - _DAY_MS,
                type=c.GUARDIAN_TYPE_TEMPORARY_REPRESENTATIVE,
                office="Athens guardianship office",
            ),
            delay_reason=c.GUARDIAN_DELAY_REASON_IDENTIFIED_OUT_OF_HOURS,
            delay_note=_en("Identified on a Saturday night; appointed on Monday morning."),
        ),
        "identity_verification_request": lambda at: m.IdentityVerificationRequest(
            topics=[
                c.VERIFICATION_TOPIC_IDENTITY,
                c.VERIFICATION_TOPIC_NATIONALITY,
                c.VERIFICATION_TOPIC_DATE_OF_BIRTH,
            ],
            child=_child(),
            response_due=_date(2026, 12, 16),
        ),
        "identity_verification_reply": lambda at: m.IdentityVerificationReply(
            identity=m.CONFIRMATION_CONFIRMED,
            nationality=m.CONFIRMATION_CONFIRMED,
            registered_date_of_birth=_date(2011, 5, 2),
            minority=c.MINORITY_PRESUMPTION_VERIFIED_MINOR,
            source=c.VERIFICATION_SOURCE_CIVIL_REGISTRY,
            parental_responsibility=c.PARENTAL_RESPONSIBILITY_ONE_PARENT,
            document_checks=[c.DOCUMENT_CHECK_FORGED],
            travel_document_can_be_issued=True,
        ),
        "risk_assessment_request": lambda at: m.RiskAssessmentRequest(
            occasion=c.ASSESSMENT_OCCASION_PRE_RETURN,
            domains=[c.RISK_DOMAIN_FAMILY_HARM, c.RISK_DOMAIN_RE_TRAFFICKING],
            options_to_appraise=[
                m.SolutionOption(solution=m.DURABLE_SOLUTION_RETURN_EXTENDED_FAMILY, solution_state="AL")
            ],
            known_trafficker_status=c.TRAFFICKER_STATUS_AT_LARGE,
            response_due=_date(2026, 12, 31),
            context_note=_en("The cousin who brought her is believed to be back in the village."),
        ),
        "risk_assessment_report": lambda at: m.RiskAssessmentReport(
            occasion=c.ASSESSMENT_OCCASION_PRE_RETURN,
            findings=[
                m.DomainFinding(
                    domain=c.RISK_DOMAIN_FAMILY_HARM,
                    level=c.RISK_LEVEL_LOW,
                    basis=_en("The aunt has no link to the cousin."),
                ),
                m.DomainFinding(domain=c.RISK_DOMAIN_RE_TRAFFICKING, level=c.RISK_LEVEL_MEDIUM),
            ],
            trafficker_status=c.TRAFFICKER_STATUS_IN_CUSTODY,
            appraisals=[
                m.OptionAppraisal(
                    option=m.SolutionOption(solution=m.DURABLE_SOLUTION_RETURN_EXTENDED_FAMILY, solution_state="AL"),
                    short_term_pros=_en("Family she knows; school place available."),
                    long_term_cons=_en("Few jobs locally."),
                    residual_risk=c.RISK_LEVEL_MEDIUM,
                )
            ],
            overall=c.RISK_LEVEL_MEDIUM,
            measures_required=[c.PROTECTIVE_MEASURE_REGULAR_VISITS, c.PROTECTIVE_MEASURE_SCHOOL_ENROLMENT],
            departure_factors_persisting=[c.RISK_FACTOR_POVERTY],
            completed_at_ms=at - _DAY_MS,
            assessing_unit="al-shss/elbasan",
            assessor=c.ASSESSOR_ROLE_MULTIDISCIPLINARY_TEAM,
        ),
        "child_views_record": lambda at: m.ChildViewsRecord(
            heard_on=_date(2026, 11, 25),
            heard_by=c.HEARING_BY_SOCIAL_WORKER,
            guardian_present=True,
            interpreter_language="sq",
            return_stance=c.RETURN_STANCE_WANTS_RETURN_WITH_CONDITIONS,
            wishes=[
                m.RankedWish(
                    rank=1,
                    arrangement=c.CARE_ARRANGEMENT_EXTENDED_FAMILY,
                    with_person=m.RELATIONSHIP_AUNT_UNCLE,
                    state="AL",
                ),
                m.RankedWish(rank=2, arrangement=c.CARE_ARRANGEMENT_FOSTER_CARE, state="GR"),
            ],
            contact_wishes=[m.ContactWish(person=m.RELATIONSHIP_GRANDPARENT, wants_contact=True)],
            maturity=c.MATURITY_WEIGHT_SIGNIFICANT,
            in_own_words=common_pb2.LocalizedText(
                text="I want to live with my aunt, not in the village.",
                language="en",
                original_text="Dua të jetoj me tezen, jo në fshat.",
                original_language="sq",
                translation_kind=c.TRANSLATION_KIND_HUMAN,
                translated_by="interpreter-1",
            ),
            child_told_views_are_shared=True,
        ),
        "reintegration_plan": lambda at: m.ReintegrationPlan(
            arrangement=c.CARE_ARRANGEMENT_EXTENDED_FAMILY,
            receiving_person=m.RELATIONSHIP_AUNT_UNCLE,
            responsible_unit="al-shss/tirana",
            services=[
                m.PlannedService(
                    service=c.SERVICE_TYPE_EDUCATION, provider=c.PROVIDER_TYPE_STATE, start_by=_date(2027, 1, 15)
                ),
                m.PlannedService(service=c.SERVICE_TYPE_PSYCHOSOCIAL, provider=c.PROVIDER_TYPE_NGO),
            ],
            factors_addressed=[c.RISK_FACTOR_POVERTY, c.RISK_FACTOR_RECRUITER_IN_COMMUNITY],
            education=c.EDUCATION_PATH_SCHOOL,
            economic_support=True,
            follow_up=[c.FOLLOW_UP_OCCASION_M3, c.FOLLOW_UP_OCCASION_M6, c.FOLLOW_UP_OCCASION_M12],
            summary=_en("Lives with her aunt in Tirana, away from the village; school and counselling."),
        ),
        "durable_solution_proposal": _proposal,
        "durable_solution_counter_proposal": lambda at: m.DurableSolutionCounterProposal(
            counters=evidence_ref("durable_solution_proposal", "proposal"),
            reasons=[c.DISAGREEMENT_REASON_SERVICES_UNAVAILABLE],
            proposal=_proposal(at),
        ),
        "durable_solution_agreement": lambda at: m.DurableSolutionAgreement(
            accepts=evidence_ref("durable_solution_proposal", "proposal"),
            solution=m.SolutionOption(solution=m.DURABLE_SOLUTION_RETURN_EXTENDED_FAMILY, solution_state="AL"),
            approval=_approval(at - _HOUR_MS),
            gate=_gate(at - _HOUR_MS),
        ),
        "repatriation_plan": lambda at: m.RepatriationPlan(
            earliest_departure=_date(2027, 1, 10),
            latest_departure=_date(2027, 1, 24),
            mode=c.TRAVEL_MODE_AIR,
            arrival=_arrival(),
            escort=m.Escort(provider=c.ESCORT_PROVIDER_IS_SOCIAL_SERVICES, escorts=1, same_sex_escort=True),
            travel_document=m.TravelDocument(
                kind=c.TRAVEL_DOCUMENT_KIND_EMERGENCY_TRAVEL_DOCUMENT,
                state=c.TRAVEL_DOCUMENT_STATE_REQUESTED,
                issuing_unit="al-mfa/athens-consulate",
            ),
            cost_bearer=c.RETURN_COSTS_SHARED,
            receiving_unit="al-shss/tirana",
            receiving_person=m.RELATIONSHIP_AUNT_UNCLE,
            no_detention_assurance=True,
            reception_needs=[c.RECEPTION_NEED_INTERPRETER, c.RECEPTION_NEED_PSYCHOLOGICAL],
            consular_presence=True,
            notes=_en("Met airside by the Tirana social worker."),
        ),
        "repatriation_plan_acceptance": lambda at: m.RepatriationPlanAcceptance(
            accepts=evidence_ref("repatriation_plan", "repatriation"),
            approval=_approval(at - _HOUR_MS),
            gate=_gate(at - _HOUR_MS),
        ),
        "return_status_update": lambda at: m.ReturnStatusUpdate(
            status=c.RETURN_STATUS_DEPARTED, at_ms=at - 3 * _HOUR_MS
        ),
        "handover_confirmation": lambda at: m.HandoverConfirmation(
            handed_over_at_ms=at - _HOUR_MS,
            place=_arrival(),
            received_by_unit="al-shss/tirana",
            received_by_person=m.RELATIONSHIP_AUNT_UNCLE,
            condition=c.ARRIVAL_CONDITION_WELL,
            issues=[c.HANDOVER_ISSUE_LATE_ARRIVAL],
        ),
        "follow_up_report": lambda at: m.FollowUpReport(
            occasion=c.FOLLOW_UP_OCCASION_M3,
            visited_on=_date(2026, 11, 20),
            child_seen=True,
            living=c.LIVING_SITUATION_WITH_RELATIVES,
            education=c.EDUCATION_PATH_SCHOOL,
            services=[m.ServiceProgress(service=c.SERVICE_TYPE_EDUCATION, state=c.SERVICE_STATE_STARTED)],
            current_risk=c.RISK_LEVEL_LOW,
            child_feedback=c.CHILD_FEEDBACK_SATISFIED,
            child_exercised_choice=True,
            notes=_en("Attends school; sees the counsellor weekly."),
            next_visit_on=_date(2027, 2, 20),
        ),
        "protection_alert": lambda at: m.ProtectionAlert(
            type=c.ALERT_TYPE_MISSING,
            since_ms=at - 6 * _HOUR_MS,
            missing=c.MISSING_CIRCUMSTANCE_LEFT_PLACEMENT,
            last_seen_region="GR-I",
            police_informed=True,
            may_travel_to_origin=True,
            details=_en("Left the shelter in the evening; did not return."),
        ),
        "tracing_request": lambda at: m.TracingRequest(
            child=_child(),
            missing_since=_date(2026, 9, 1),
            believed_route=["MK", "GR"],
            source=c.REQUEST_SOURCE_PARENT,
            family_contacts=[m.FamilyContact(relationship=m.RELATIONSHIP_MOTHER, name="(fictitious)")],
            circumstances=_en("Left with a cousin promising work abroad."),
            response_due=_date(2026, 12, 31),
        ),
        "clarification_request": lambda at: m.ClarificationRequest(
            about=evidence_ref("case_notification", "notification"),
            items=[
                m.ClarificationItem(
                    field_path="child.age.claimed_date_of_birth",
                    issue=c.CLARIFICATION_ISSUE_CONTRADICTORY,
                    question=_en("The claimed date differs from the passport; which did the child give?"),
                )
            ],
            stops_clock=True,
        ),
        "clarification_response": lambda at: m.ClarificationResponse(
            answers=evidence_ref("clarification_request", "clarification"),
            texts=[_en("The child gave the claimed date; the passport is doubted.")],
        ),
        "request_refusal": lambda at: m.RequestRefusal(
            refuses=evidence_ref("durable_solution_proposal", "proposal"),
            reason=c.REFUSAL_REASON_CAPACITY_UNAVAILABLE,
            explanation=_en("No foster family is available in the region this quarter."),
        ),
        "withdrawal": lambda at: m.Withdrawal(
            withdraws=evidence_ref("clarification_request", "sent-in-error"), reason=c.WITHDRAWAL_REASON_SENT_IN_ERROR
        ),
        "reminder": lambda at: m.Reminder(
            about=evidence_ref("social_inquiry_request", "request"),
            level=c.ESCALATION_LEVEL_L1_OFFICER,
            was_due=_date(2026, 11, 30),
        ),
        "case_closure": lambda at: m.CaseClosure(
            action=c.CLOSURE_ACTION_REQUEST,
            outcome=c.CLOSURE_OUTCOME_RETURNED_SUSTAINED_12M,
            effective_on=_date(2026, 12, 31),
            summary=_en("Twelve months after return she lives with her aunt and attends school."),
            approval=_approval(at - _HOUR_MS),
        ),
    }


def _context_for(kind: str, case_ref: str, at_ms: int) -> messages_pb2.CaseContext:
    context = _context(
        case_ref,
        agreement_id="AL-GR-2026",
        sender_unit="gr-ekka/athens",
        urgency=messages_pb2.URGENCY_ROUTINE,
        basis=codes_pb2.ATTESTATION_BASIS_OFFICER_JUDGEMENT,
        attested_at_ms=at_ms - _HOUR_MS,
    )
    context.recipient_unit = "al-shss"
    return context


def sample_body(kind: str, *, case_ref: str = SAMPLE_CASE_REF, at_ms: int = SAMPLE_AT_MS) -> messages_pb2.Body:
    """One complete, valid body of ``kind`` on the link ``case_ref``, written at ``at_ms``.

    Every time in it lies before ``at_ms`` (validate it with ``now_ms=at_ms`` or later). Raises
    KeyError for an unknown kind.
    """
    if kind == "social_inquiry_request":
        return social_inquiry_request(case_ref, identified_at_ms=at_ms - 2 * _DAY_MS, agreement_id="AL-GR-2026")
    if kind == "social_inquiry_report":
        return social_inquiry_report(case_ref, completed_at_ms=at_ms - _DAY_MS, agreement_id="AL-GR-2026")
    if kind == "amendment":
        replaced = sample_body("case_notification", case_ref=case_ref, at_ms=at_ms)
        replaced.case_notification.child.aliases.append("Ana")
        body = messages_pb2.Body(
            code_list_version=CODE_LIST_VERSION,
            context=_context_for(kind, case_ref, at_ms),
            amendment=messages_pb2.Amendment(
                amends=evidence_ref("case_notification", "notification"),
                reason=codes_pb2.AMENDMENT_REASON_NEW_INFORMATION,
                replacement=replaced,
            ),
        )
        return body
    part = _kinds()[kind](at_ms)
    body = messages_pb2.Body(code_list_version=CODE_LIST_VERSION, context=_context_for(kind, case_ref, at_ms))
    getattr(body, kind).CopyFrom(part)
    return body
