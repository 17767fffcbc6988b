"""What the fold reads of a message or a local action (pure values, no protobuf).

A link's history is a list of ``Event``: one per message sent or received on the link, and one
per local action that changes what the node may do (opening a case, recording a flag). The
wire body is converted into ``Facts`` once, at one boundary (``focalpoint.cases.facts``), so the
fold never parses a body and stays fast; the facts are stored with the event.
"""

from __future__ import annotations

import dataclasses
import enum

from focalpoint.cases.stages import Side

__all__ = [
    "Approval",
    "ChildViews",
    "Event",
    "Facts",
    "GateClaim",
    "IdentityReply",
    "InquiryReport",
    "Origin",
    "ReintegrationPlan",
    "RiskReport",
]


class Origin(enum.Enum):
    """Where an event comes from, as seen by the node folding it."""

    SENT = "SENT"  # a message this node sent
    RECEIVED = "RECEIVED"  # a message the partner sent
    LOCAL = "LOCAL"  # a local action; never travels


@dataclasses.dataclass(frozen=True, slots=True)
class Approval:
    """Prepared by one user, approved by another (local user ids, never names)."""

    prepared_by: str
    approved_by: str
    approved_at_ms: int


@dataclasses.dataclass(frozen=True, slots=True)
class GateClaim:
    """A ``GateStatus`` as carried in a signed message: what its sender found met and missing."""

    met: frozenset[str]
    missing: frozenset[str]
    waived: frozenset[str] = frozenset()
    override_reason: str = ""
    override_approval: Approval | None = None
    evaluated_at_ms: int = 0

    def passes(self, waived_by_agreement: frozenset[str] = frozenset()) -> bool:
        """Every condition met, waived by the agreement, or waived by an override a second person approved."""
        left = self.missing - waived_by_agreement
        if not left:
            return True
        approval = self.override_approval
        return (
            left <= self.waived
            and bool(self.override_reason)
            and approval is not None
            and bool(approval.approved_by)
            and approval.approved_by != approval.prepared_by
        )


@dataclasses.dataclass(frozen=True, slots=True)
class InquiryReport:
    """The part of a social inquiry report the gate reads (G1, G5, family rule)."""

    family_involvement: str  # Finding code name, e.g. "SUSPECTED"; "" when not answered
    payment_received: str
    departure_factors: frozenset[str] = frozenset()


@dataclasses.dataclass(frozen=True, slots=True)
class RiskReport:
    """The part of a risk assessment report the gate reads (G2)."""

    occasion: str  # AssessmentOccasion code name
    overall: str  # RiskLevel code name
    completed_at_ms: int
    domains: tuple[tuple[str, str], ...] = ()  # (RiskDomain, RiskLevel) pairs
    measures: frozenset[str] = frozenset()
    factors_persisting: frozenset[str] = frozenset()


@dataclasses.dataclass(frozen=True, slots=True)
class ChildViews:
    """The part of a child's views record the gate reads (G3)."""

    return_stance: str  # ReturnStance code name
    not_heard_reason: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class IdentityReply:
    """The part of an identity verification reply the gate and the minority rule read (G4, A2)."""

    nationality: str  # Confirmation code name
    travel_document_can_be_issued: bool = False
    minority: str = ""  # MinorityPresumption code name as answered
    source: str = ""  # VerificationSource code name
    adult_by_registry: bool = False  # the registered birth date gives 18+ at the reply's time


@dataclasses.dataclass(frozen=True, slots=True)
class ReintegrationPlan:
    """The part of a reintegration plan the gate reads (G5)."""

    factors_addressed: frozenset[str] = frozenset()


Evidence = InquiryReport | RiskReport | ChildViews | IdentityReply | ReintegrationPlan


@dataclasses.dataclass(frozen=True, slots=True)
class Facts:
    """What a message says that the workflow acts on; every field has a harmless default."""

    refers_to: bytes = b""  # the message an EvidenceRef names (accepts, counters, refuses, amends…)
    refers_sha256: bytes = b""  # and the exact body bytes it binds
    ack_kind: str = ""  # AckKind code name
    assigned_unit: str = ""
    solution: str = ""  # DurableSolution code name
    solution_state: str = ""  # ISO 3166-1 code of where the solution is carried out
    gate: GateClaim | None = None
    approval: Approval | None = None
    refusal_reason: str = ""  # RefusalReason code name
    refusal_final: bool = False
    closure_action: str = ""  # ClosureAction code name
    closure_outcome: str = ""  # ClosureOutcome code name
    return_status: str = ""  # ReturnStatus code name
    latest_departure_day: int = 0  # days since 1970-01-01 of a plan's latest departure; 0 = none
    no_detention_assurance: bool = False
    alert_type: str = ""  # AlertType code name
    emergency: bool = False
    missing: bool = False  # SharedFlags.missing as sent
    stops_clock: bool = False
    identified_at_ms: int = 0
    family_contact: str = "CONSULT_SENDER_FIRST"  # SharedFlags.family_contact as sent (its zero is this)
    age_out_day: int = 0  # SharedFlags.age_out_on as days since 1970-01-01; 0 = not given
    claims_verified_adult: bool = False  # SharedFlags.minority says VERIFIED_ADULT
    guardian_appointed_at_ms: int = 0  # a guardian notice: when the guardian was appointed
    delay_reason_given: bool = False  # a guardian notice: why it came after the deadline
    departs_from_child_views: bool = False
    departure_reason_given: bool = False
    # What the indicators disaggregate and count (docs/indicators.md); events stored before these
    # existed decode with the defaults, which the indicators read as "unknown".
    sex: str = ""  # a notification: the child's Sex code name ("" = not stated)
    age_band: str = ""  # a notification: age band at identification (disclosure.AGE_BAND values)
    exploitation_forms: frozenset[str] = frozenset()  # a notification: ExploitationForm code names
    identification_status: str = ""  # a notification: IdentificationStatus code name
    handed_over_at_ms: int = 0  # a handover confirmation: when the child was handed over
    handover_issues: frozenset[str] = frozenset()  # a handover confirmation: HandoverIssue code names
    return_disruption: str = ""  # a return status update: ReturnDisruption code name
    # A return status update (DELAYED): the day the return is rescheduled to, which moves the planned
    # arrival the handover deadline runs from (days since 1970-01-01; 0 = none, or stored before it was read).
    rescheduled_day: int = 0
    follow_up_occasion: str = ""  # a follow-up report: FollowUpOccasion code name (M1…M24)
    living_situation: str = ""  # a follow-up report: LivingSituation code name
    amended_kind: str = ""  # an amendment: the kind of its replacement body
    # Deadlines (focalpoint.cases.requests): the urgency the sender set (Urgency name; "" when
    # UNSPECIFIED), the due date a request carries (days since 1970-01-01; 0 = none), and the
    # response period the node fixed when it applied the request, from the due date carried or
    # the agreement then in force (0: not fixed, an event stored before periods were kept).
    urgency: str = ""
    response_due_day: int = 0
    period_ms: int = 0
    # A reminder's escalation level (EscalationLevel name); a ladder step done (clocks.Level name)
    # and its occurrence (the guardian's daily escalation counts its days from 1).
    level: str = ""
    occurrence: int = 0
    expected_by_day: int = 0  # an acknowledgement: when the answer is expected (days since 1970-01-01)
    replacement: Facts | None = None
    evidence: Evidence | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One message on the link, or one local action.

    ``at_ms`` is the sender's signed creation time (a local action: the node's time);
    ``sequence`` is the sender's per-recipient counter, so the same events sort the same way on
    both nodes (``focalpoint.cases.fold.canonical_order``).
    """

    kind: str  # a Body kind, or "local:<action>"
    origin: Origin
    sender_side: Side
    sender_node: str
    at_ms: int
    message_id: bytes
    sequence: int = 0
    body_sha256: bytes = b""
    in_reply_to: bytes = b""
    actor: str = ""  # local user id who prepared it (empty for a partner's message)
    facts: Facts = dataclasses.field(default_factory=Facts)
    # A local event's record, never sent: a draft's serialized body waiting for its approver, or a
    # consular visit's serialized ConsularVisit (focalpoint.cases.consular).
    attachment: bytes = b""
