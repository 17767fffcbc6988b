"""The evidence checklist and the return gate (docs/cases.md §The return gate).

The identifying State's node evaluates five conditions from the messages of the link and refuses
to sign anything that moves a child across a border — a proposal, counter-proposal or agreement
carried out outside the identifying State, a plan acceptance, a departure — unless all hold, the
agreement waives the missing ones (only G4 and G5 may be waived so), or an override recorded
with a reason and approved by a second person with the override grant waives them. The result
travels inside the signed message (``GateClaim``), so the partner and later auditors see what
was met, missing or waived.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from focalpoint.cases.events import (
    Approval,
    ChildViews,
    GateClaim,
    IdentityReply,
    InquiryReport,
    ReintegrationPlan,
    RiskReport,
)
from focalpoint.cases.state import LinkState, Rules

_E = TypeVar("_E")

__all__ = [
    "CONDITIONS",
    "OVERRIDE_REASONS",
    "GateResult",
    "Override",
    "claim",
    "departs_from_views",
    "evaluate",
    "override_problems",
]

G1, G2, G3, G4, G5 = (
    "G1_SOCIAL_INQUIRY",
    "G2_RISK_ASSESSMENT",
    "G3_CHILD_VIEWS",
    "G4_IDENTITY_NATIONALITY",
    "G5_REINTEGRATION_PLAN",
)
CONDITIONS = (G1, G2, G3, G4, G5)
OVERRIDE_REASONS = frozenset(
    {
        "URGENT_MEDICAL_TREATMENT_IN_ORIGIN",
        "COURT_ORDER",
        "CHILD_AGING_OUT_CHOOSES_RETURN",
        "ORIGIN_CANNOT_ASSESS",
        "OTHER",
    }
)
_DAY_MS = 86_400_000
# Assessment occasions in the order a case meets them; "pre-return or later" counts from PRE_RETURN.
_OCCASIONS = (
    "INITIAL",
    "PLACEMENT_CHANGE",
    "PRE_RETURN",
    "POST_RETURN",
    "AFTER_MISSING_EPISODE",
    "TRAFFICKER_RELEASE",
    "REOPENED",
)
_ACCEPTABLE_OVERALL = frozenset({"NONE", "LOW", "MEDIUM", "HIGH"})
_RETURNS = frozenset({"RETURN_FAMILY_REUNIFICATION", "RETURN_EXTENDED_FAMILY", "ALTERNATIVE_CARE_IN_ORIGIN"})
_MIN_OTHER_JUSTIFICATION = 200
_APPROVAL_MAX_AGE_MS = 7 * _DAY_MS


@dataclasses.dataclass(frozen=True, slots=True)
class GateResult:
    """Which conditions hold now, and for each missing one what is missing (no case content).
    ``waived``: the missing ones the bilateral agreement waives (``Rules.waivable``, only G4 and
    G5 may be); they stay in ``missing`` (what the claim says was missing), and the node lets a
    crossing pass without them."""

    met: frozenset[str]
    missing: dict[str, str]
    waived: frozenset[str] = frozenset()

    @property
    def open(self) -> bool:
        return not self.missing


@dataclasses.dataclass(frozen=True, slots=True)
class Override:
    """A recorded override: what it waives, why, and who prepared and approved it."""

    waived: frozenset[str]
    reason: str
    justification: str
    prepared_by: str
    approved_by: str
    approved_at_ms: int
    approver_may_override: bool  # the approver holds the OVERRIDE grant (checked by the node)


def departs_from_views(views: ChildViews | None, solution: str) -> bool:
    """Whether a solution goes against what the child said about returning."""
    if views is None:
        return False
    returning = solution in _RETURNS
    return (views.return_stance == "DOES_NOT_WANT_RETURN" and returning) or (
        views.return_stance == "WANTS_RETURN" and not returning
    )


def evaluate(state: LinkState, rules: Rules, now_ms: int, *, solution: str = "") -> GateResult:
    """G1–G5 for ``state`` at ``now_ms``; ``solution`` is the durable solution being signed, if any."""
    missing: dict[str, str] = {}
    inquiry = _latest(state, "social_inquiry_report", InquiryReport)
    risk = _latest(state, "risk_assessment_report", RiskReport)
    views = _latest(state, "child_views_record", ChildViews)
    identity = _latest(state, "identity_verification_reply", IdentityReply)
    plan = _latest(state, "reintegration_plan", ReintegrationPlan)

    if inquiry is None:
        missing[G1] = "no social inquiry report"
    elif not inquiry.family_involvement:
        missing[G1] = "the social inquiry report does not answer whether the family was involved"

    if problem := _risk_problem(state, risk, rules, now_ms):
        missing[G2] = problem
    elif solution == "RETURN_FAMILY_REUNIFICATION" and inquiry is not None and _family_suspect(inquiry):
        harm = dict(risk.domains).get("FAMILY_HARM") if risk else None
        if harm not in ("NONE", "LOW", "MEDIUM") or (risk is not None and not risk.measures):
            missing[G2] = (
                "the family is suspected: reunification needs a family-harm finding of medium or less with measures"
            )

    if views is None:
        missing[G3] = "the child's views are not recorded"
    elif views.return_stance in ("", "NOT_HEARD") and views.not_heard_reason != "TOO_YOUNG":
        missing[G3] = "the child was not heard (only a child too young to be heard may go unheard)"

    if identity is None:
        missing[G4] = "no identity verification reply"
    elif not (
        identity.nationality in ("CONFIRMED", "PARTLY_CONFIRMED")
        or (identity.nationality == "UNABLE_TO_VERIFY" and identity.travel_document_can_be_issued)
    ):
        missing[G4] = "nationality is not confirmed and no travel document can be issued"

    if plan is None:
        missing[G5] = "no reintegration plan"
    else:
        flagged = (inquiry.departure_factors if inquiry else frozenset()) | (
            risk.factors_persisting if risk else frozenset()
        )
        if not flagged <= plan.factors_addressed:
            missing[G5] = (
                f"the reintegration plan leaves {len(flagged - plan.factors_addressed)} departure factor(s) unaddressed"
            )
    met = frozenset(c for c in CONDITIONS if c not in missing)
    return GateResult(met, missing, frozenset(missing) & rules.waivable)


def _latest(state: LinkState, kind: str, cls: type[_E]) -> _E | None:
    found = state.latest(kind)
    return found[1] if found is not None and isinstance(found[1], cls) else None


def _family_suspect(inquiry: InquiryReport) -> bool:
    return inquiry.family_involvement in ("SUSPECTED", "CONFIRMED") or inquiry.payment_received == "CONFIRMED"


def _risk_problem(state: LinkState, risk: RiskReport | None, rules: Rules, now_ms: int) -> str | None:
    if risk is None:
        return "no risk assessment report"
    if risk.occasion not in _OCCASIONS or _OCCASIONS.index(risk.occasion) < _OCCASIONS.index("PRE_RETURN"):
        return "the latest risk assessment is not a pre-return (or later) assessment"
    if now_ms - risk.completed_at_ms > rules.risk_assessment_max_age_days * _DAY_MS:
        return f"the latest risk assessment is older than {rules.risk_assessment_max_age_days} days"
    if state.last_missing_ms and (
        risk.completed_at_ms <= state.last_missing_ms or risk.occasion != "AFTER_MISSING_EPISODE"
    ):
        return "the child went missing: a risk assessment after the missing episode is needed"
    if risk.overall not in _ACCEPTABLE_OVERALL:
        return "the overall risk is severe or unknown"
    levels = [level for _, level in risk.domains]
    if "SEVERE" in levels:
        return "a risk domain is severe"
    if "HIGH" in levels and not risk.measures:
        return "a high risk has no protective measure"
    return None


def override_problems(
    override: Override, result: GateResult, *, missing_now: bool, attested: bool, now_ms: int
) -> list[str]:
    """Everything wrong with an override (empty: it may be used); never names case content."""
    problems: list[str] = []
    if uncovered := set(result.missing) - override.waived:
        problems.append(f"the override does not waive {', '.join(sorted(uncovered))}")
    if override.reason not in OVERRIDE_REASONS:
        problems.append("the override needs a reason code")
    if override.reason == "OTHER" and len(override.justification.strip()) < _MIN_OTHER_JUSTIFICATION:
        problems.append(
            f"an override for another reason needs a justification of {_MIN_OTHER_JUSTIFICATION}+ characters"
        )
    if not override.justification.strip():
        problems.append("the override needs a justification")
    if not override.approved_by:
        problems.append("a second person must approve the override")
    elif override.approved_by == override.prepared_by:
        problems.append("the person who prepared the override cannot approve it")
    elif not override.approver_may_override:
        problems.append("the approver does not hold the override grant")
    if now_ms - override.approved_at_ms > _APPROVAL_MAX_AGE_MS or override.approved_at_ms > now_ms:
        problems.append("the override's approval is older than 7 days (or dated in the future)")
    if missing_now:
        problems.append("the child is missing: no override while missing")
    if not attested:
        problems.append("the transmission attestation must say there is no foreseeable danger")
    return problems


def claim(result: GateResult, now_ms: int, override: Override | None = None) -> GateClaim:
    """The gate status to carry inside the signed message."""
    return GateClaim(
        met=result.met,
        missing=frozenset(result.missing),
        waived=override.waived if override else frozenset(),
        override_reason=override.reason if override else "",
        override_approval=Approval(override.prepared_by, override.approved_by, override.approved_at_ms)
        if override
        else None,
        evaluated_at_ms=now_ms,
    )
