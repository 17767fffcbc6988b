"""From a wire body to the facts the workflow acts on: the one boundary between protobuf and the fold.

Codes become their stable names without the list prefix (``FINDING_SUSPECTED`` → ``SUSPECTED``),
so the fold, the gate and their tests read like the officials' guide. Nothing here is content a
person wrote: free text never enters the facts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Protocol

from google.protobuf.descriptor import EnumDescriptor

from focalpoint.cases.events import (
    Approval,
    ChildViews,
    Facts,
    GateClaim,
    IdentityReply,
    InquiryReport,
    ReintegrationPlan,
    RiskReport,
)
from focalpoint.v1 import codes_pb2, common_pb2, messages_pb2

__all__ = ["age_band", "code_name", "facts_of"]

_DAY_MS = 86_400_000
# The request kinds that carry their own due date (``response_due``).
_DUE_DATES = frozenset(
    {"social_inquiry_request", "identity_verification_request", "tracing_request", "risk_assessment_request"}
)


class _Enum(Protocol):
    DESCRIPTOR: EnumDescriptor


def code_name(enum: _Enum, number: int) -> str:
    """The stable name of ``number`` in ``enum`` without its prefix; ``"CODE_<n>"`` if this list does not know it."""
    value = enum.DESCRIPTOR.values_by_number.get(number)
    if value is None:
        return f"CODE_{number}"
    prefix = "".join(("_" + c if c.isupper() else c) for c in enum.DESCRIPTOR.name).lstrip("_").upper() + "_"
    return value.name.removeprefix(prefix)


def _codes(enum: _Enum, numbers: Iterable[int]) -> frozenset[str]:
    return frozenset(code_name(enum, n) for n in numbers)


def _approval(a: messages_pb2.ApprovalRecord) -> Approval | None:
    if not a.prepared_by and not a.approved_by:
        return None
    return Approval(a.prepared_by, a.approved_by, a.approved_at_ms)


def _gate(g: messages_pb2.GateStatus, present: bool) -> GateClaim | None:
    if not present:
        return None
    cond = codes_pb2.GateCondition
    o = g.override
    return GateClaim(
        met=_codes(cond, g.met),
        missing=_codes(cond, g.missing),
        waived=_codes(cond, o.waived),
        override_reason=code_name(codes_pb2.OverrideReason, o.reason) if o.reason else "",
        override_approval=_approval(o.approval),
        evaluated_at_ms=g.evaluated_at_ms,
    )


def _day(d: common_pb2.Date) -> int:
    if not d.year:
        return 0
    return (dt.date(d.year, d.month, d.day) - dt.date(1970, 1, 1)).days


# Sex as the indicators disaggregate it (docs/indicators.md): F, M, OTHER, UNKNOWN; not stated: "".
_SEX = {
    messages_pb2.SEX_FEMALE: "F",
    messages_pb2.SEX_MALE: "M",
    messages_pb2.SEX_OTHER: "OTHER",
    messages_pb2.SEX_UNKNOWN: "UNKNOWN",
}


def _forms(numbers: Iterable[int]) -> frozenset[str]:
    """Exploitation forms by their top-level code; the deprecated ADOPTION_OR_MARRIAGE counts under
    the two codes that replaced it (docs/indicators.md, disaggregation)."""
    out: set[str] = set()
    for n in numbers:
        if n == messages_pb2.EXPLOITATION_FORM_ADOPTION_OR_MARRIAGE:
            out |= {"FORCED_MARRIAGE", "ILLEGAL_ADOPTION"}
        elif n:
            out.add(code_name(messages_pb2.ExploitationForm, n))
    return frozenset(out)


def _years_between(born: dt.date, at: dt.date) -> int:
    return at.year - born.year - ((at.month, at.day) < (born.month, born.day))


def age_band(child: messages_pb2.ChildIdentity, at_ms: int) -> str:
    """The child's age band at ``at_ms`` on the youngest plausible reading (the latest of the
    documented, claimed and age-out birth dates, else the assessed minimum): ``0-11``, ``12-14``,
    ``15-17``, or ``UNKNOWN_PRESUMED_MINOR`` when nothing gives an age under 18 — a presumed
    minor whose age is unknown or disputed is never counted as an adult."""
    at = dt.datetime.fromtimestamp(at_ms / 1000, dt.UTC).date()
    births: list[dt.date] = []
    for d in (child.documented_date_of_birth, child.age.claimed_date_of_birth):
        if d.year:
            births.append(dt.date(d.year, d.month, d.day))
    out = child.age.age_out_on
    if out.year:
        # The 18th birthday on the youngest reading; 29 February falls back to 28 February.
        day = min(out.day, 28) if out.month == 2 else out.day
        births.append(dt.date(out.year - 18, out.month, day))
    if births:
        years = _years_between(max(births), at)
    elif child.age.assessed_min_years:
        years = child.age.assessed_min_years
    else:
        return "UNKNOWN_PRESUMED_MINOR"
    if 0 <= years <= 11:
        return "0-11"
    if 12 <= years <= 14:
        return "12-14"
    if 15 <= years <= 17:
        return "15-17"
    return "UNKNOWN_PRESUMED_MINOR"


def _adult_at(dob: common_pb2.Date, at_ms: int) -> bool:
    if not dob.year:
        return False
    at = dt.datetime.fromtimestamp(at_ms / 1000, dt.UTC).date()
    return (at.year - dob.year - ((at.month, at.day) < (dob.month, dob.day))) >= 18


def facts_of(body: messages_pb2.Body, *, at_ms: int) -> tuple[str, Facts]:
    """The body's kind and its facts; ``at_ms`` is the message's signed creation time.

    The body must have passed validation (its dates are real dates).
    """
    kind = body.WhichOneof("kind") or ""
    missing = body.context.flags.missing
    f: Facts
    if kind == "case_notification":
        n = body.case_notification
        f = Facts(
            identified_at_ms=n.identified_at_ms,
            # A guardian already appointed when the case is notified (the fold reads it only for I1).
            guardian_appointed_at_ms=n.guardian.appointed_at_ms if n.guardian.appointed else 0,
            sex=_SEX.get(n.child.sex, ""),
            age_band=age_band(n.child, n.identified_at_ms or at_ms),
            exploitation_forms=_forms(n.exploitation_forms),
            identification_status=code_name(messages_pb2.IdentificationStatus, n.identification_status)
            if n.identification_status
            else "",
        )
    elif kind == "tracing_request":
        t = body.tracing_request
        f = Facts(
            sex=_SEX.get(t.child.sex, ""),
            age_band=age_band(t.child, at_ms),
            identification_status="MISSING_FROM_ORIGIN",
        )
    elif kind == "handover_confirmation":
        h = body.handover_confirmation
        f = Facts(
            handed_over_at_ms=h.handed_over_at_ms or at_ms,
            handover_issues=_codes(codes_pb2.HandoverIssue, h.issues),
        )
    elif kind == "follow_up_report":
        fu = body.follow_up_report
        f = Facts(
            follow_up_occasion=code_name(codes_pb2.FollowUpOccasion, fu.occasion) if fu.occasion else "",
            # Not stated reads as WHEREABOUTS_UNKNOWN, never as a stable situation (codes.proto).
            living_situation=code_name(
                codes_pb2.LivingSituation, fu.living or codes_pb2.LIVING_SITUATION_WHEREABOUTS_UNKNOWN
            ),
        )
    elif kind == "guardian_appointment_notice":
        notice = body.guardian_appointment_notice
        f = Facts(
            guardian_appointed_at_ms=notice.guardian.appointed_at_ms,
            delay_reason_given=bool(notice.delay_reason),
        )
    elif kind == "acknowledgement":
        a = body.acknowledgement
        f = Facts(
            refers_to=a.acknowledges.message_id,
            refers_sha256=a.acknowledges.body_sha256,
            ack_kind=code_name(codes_pb2.AckKind, a.kind),
            assigned_unit=a.assigned_unit,
            expected_by_day=_day(a.expected_by),
        )
    elif kind == "social_inquiry_report":
        r = body.social_inquiry_report
        f = Facts(
            evidence=InquiryReport(
                family_involvement=code_name(messages_pb2.Finding, r.family_involvement)
                if r.family_involvement
                else "",
                payment_received=code_name(messages_pb2.Finding, r.payment_received) if r.payment_received else "",
                departure_factors=_codes(codes_pb2.RiskFactor, r.departure_factors),
            )
        )
    elif kind == "identity_verification_reply":
        v = body.identity_verification_reply
        f = Facts(
            evidence=IdentityReply(
                nationality=code_name(messages_pb2.Confirmation, v.nationality),
                travel_document_can_be_issued=v.travel_document_can_be_issued,
                minority=code_name(codes_pb2.MinorityPresumption, v.minority),
                source=code_name(codes_pb2.VerificationSource, v.source),
                adult_by_registry=v.source
                in (codes_pb2.VERIFICATION_SOURCE_CIVIL_REGISTRY, codes_pb2.VERIFICATION_SOURCE_POPULATION_REGISTER)
                and _adult_at(v.registered_date_of_birth, at_ms),
            )
        )
    elif kind == "risk_assessment_report":
        k = body.risk_assessment_report
        level = codes_pb2.RiskLevel
        f = Facts(
            evidence=RiskReport(
                occasion=code_name(codes_pb2.AssessmentOccasion, k.occasion),
                overall=code_name(level, k.overall),
                completed_at_ms=k.completed_at_ms or at_ms,
                domains=tuple(
                    (code_name(codes_pb2.RiskDomain, d.domain), code_name(level, d.level)) for d in k.findings
                ),
                measures=_codes(codes_pb2.ProtectiveMeasure, k.measures_required),
                factors_persisting=_codes(codes_pb2.RiskFactor, k.departure_factors_persisting),
            )
        )
    elif kind == "child_views_record":
        c = body.child_views_record
        f = Facts(
            evidence=ChildViews(
                return_stance=code_name(codes_pb2.ReturnStance, c.return_stance) if c.return_stance else "",
                not_heard_reason=code_name(codes_pb2.NotHeardReason, c.not_heard_reason) if c.not_heard_reason else "",
            )
        )
    elif kind == "reintegration_plan":
        f = Facts(evidence=ReintegrationPlan(_codes(codes_pb2.RiskFactor, body.reintegration_plan.factors_addressed)))
    elif kind in ("durable_solution_proposal", "durable_solution_counter_proposal"):
        outer = body.durable_solution_counter_proposal if kind == "durable_solution_counter_proposal" else None
        p = outer.proposal if outer is not None else body.durable_solution_proposal
        f = Facts(
            refers_to=outer.counters.message_id if outer is not None else b"",
            refers_sha256=outer.counters.body_sha256 if outer is not None else b"",
            solution=code_name(messages_pb2.DurableSolution, p.solution.solution),
            solution_state=p.solution.solution_state,
            gate=_gate(p.gate, p.HasField("gate")),
            approval=_approval(p.approval),
            departs_from_child_views=p.departs_from_child_views,
            departure_reason_given=bool(p.departure_reason.text or p.departure_reason.original_text),
        )
    elif kind == "durable_solution_agreement":
        g = body.durable_solution_agreement
        f = Facts(
            refers_to=g.accepts.message_id,
            refers_sha256=g.accepts.body_sha256,
            solution=code_name(messages_pb2.DurableSolution, g.solution.solution),
            solution_state=g.solution.solution_state,
            gate=_gate(g.gate, g.HasField("gate")),
            approval=_approval(g.approval),
        )
    elif kind == "repatriation_plan":
        rp = body.repatriation_plan
        f = Facts(latest_departure_day=_day(rp.latest_departure), no_detention_assurance=rp.no_detention_assurance)
    elif kind == "repatriation_plan_acceptance":
        ac = body.repatriation_plan_acceptance
        f = Facts(
            refers_to=ac.accepts.message_id,
            refers_sha256=ac.accepts.body_sha256,
            approval=_approval(ac.approval),
            gate=_gate(ac.gate, ac.HasField("gate")),
        )
    elif kind == "return_status_update":
        u = body.return_status_update
        f = Facts(
            return_status=code_name(codes_pb2.ReturnStatus, u.status),
            gate=_gate(u.gate, u.HasField("gate")),
            return_disruption=code_name(codes_pb2.ReturnDisruption, u.disruption) if u.disruption else "",
            rescheduled_day=_day(u.rescheduled_to),
        )
    elif kind == "protection_alert":
        al = body.protection_alert
        f = Facts(
            alert_type=code_name(codes_pb2.AlertType, al.type),
            emergency=body.context.urgency == messages_pb2.URGENCY_EMERGENCY,
        )
    elif kind == "clarification_request":
        q = body.clarification_request
        f = Facts(refers_to=q.about.message_id, stops_clock=q.stops_clock)
    elif kind == "clarification_response":
        f = Facts(refers_to=body.clarification_response.answers.message_id)
    elif kind == "request_refusal":
        rr = body.request_refusal
        f = Facts(
            refers_to=rr.refuses.message_id,
            refusal_reason=code_name(codes_pb2.RefusalReason, rr.reason),
            refusal_final=rr.final,
            approval=_approval(rr.approval),
        )
    elif kind == "amendment":
        am = body.amendment
        rkind, rfacts = facts_of(am.replacement, at_ms=at_ms)
        f = Facts(
            refers_to=am.amends.message_id, refers_sha256=am.amends.body_sha256, amended_kind=rkind, replacement=rfacts
        )
    elif kind == "withdrawal":
        w = body.withdrawal
        f = Facts(refers_to=w.withdraws.message_id, approval=_approval(w.approval))
    elif kind == "reminder":
        f = Facts(
            refers_to=body.reminder.about.message_id,
            level=code_name(codes_pb2.EscalationLevel, body.reminder.level) if body.reminder.level else "",
        )
    elif kind == "case_closure":
        cc = body.case_closure
        f = Facts(
            closure_action=code_name(codes_pb2.ClosureAction, cc.action),
            closure_outcome=code_name(codes_pb2.ClosureOutcome, cc.outcome),
            approval=_approval(cc.approval),
        )
    else:
        f = Facts()
    urgency = body.context.urgency
    if kind == "social_inquiry_request":  # its own urgency field predates the context's; the higher counts
        urgency = max(urgency, body.social_inquiry_request.urgency)
    if urgency:
        f = dataclasses.replace(f, urgency=code_name(messages_pb2.Urgency, urgency))
    if kind in _DUE_DATES and (due := _day(getattr(body, kind).response_due)):
        f = dataclasses.replace(f, response_due_day=due)
    if missing and not f.missing:
        f = dataclasses.replace(f, missing=True)
    f = dataclasses.replace(f, family_contact=code_name(codes_pb2.FamilyContactRule, body.context.flags.family_contact))
    if body.context.flags.HasField("age_out_on") and body.context.flags.age_out_on.year:
        f = dataclasses.replace(f, age_out_day=_day(body.context.flags.age_out_on))
    if body.context.flags.minority == codes_pb2.MINORITY_PRESUMPTION_VERIFIED_ADULT:
        f = dataclasses.replace(f, claims_verified_adult=True)
    return kind, f
