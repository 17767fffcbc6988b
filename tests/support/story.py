"""A link's messages written as a story, seen from either side (for the case core's tests)."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from focalpoint.cases.events import (
    Approval,
    ChildViews,
    Event,
    Facts,
    GateClaim,
    IdentityReply,
    InquiryReport,
    Origin,
    ReintegrationPlan,
    RiskReport,
)
from focalpoint.cases.fold import fold
from focalpoint.cases.gate import CONDITIONS
from focalpoint.cases.stages import Side
from focalpoint.cases.state import LinkState, Rules

NODES = {Side.IS: "gr-ekka", Side.OS: "al-shss"}
STATES = {Side.IS: "GR", Side.OS: "AL"}
DAY = 86_400_000
T0 = 1_790_000_000_000


def approval(prepared: str = "u-prep", approved: str = "u-appr", at: int = T0) -> Approval:
    return Approval(prepared, approved, at)


def passing_gate() -> GateClaim:
    return GateClaim(met=frozenset(CONDITIONS), missing=frozenset(), evaluated_at_ms=T0)


GOOD_EVIDENCE: dict[str, Any] = {
    "social_inquiry_report": InquiryReport("NO", "NO"),
    "risk_assessment_report": RiskReport("PRE_RETURN", "LOW", T0, (("RE_TRAFFICKING", "LOW"),)),
    "child_views_record": ChildViews("WANTS_RETURN"),
    "identity_verification_reply": IdentityReply("CONFIRMED"),
    "reintegration_plan": ReintegrationPlan(),
}


@dataclasses.dataclass
class Story:
    """Messages of one link in the order they were sent; ``view(side)`` is what that node folds."""

    events: list[Event] = dataclasses.field(default_factory=list)
    clock: int = T0
    seq: dict[Side, int] = dataclasses.field(default_factory=lambda: {Side.IS: 0, Side.OS: 0})

    def send(self, side: Side, kind: str, *, in_reply_to: bytes = b"", after_ms: int = 60_000, **facts: Any) -> Event:
        self.clock += after_ms
        self.seq[side] += 1
        mid = hashlib.sha256(f"{side.value}{self.seq[side]}{kind}".encode()).digest()[:16]
        event = Event(
            kind=kind,
            origin=Origin.SENT,
            sender_side=side,
            sender_node=NODES[side],
            at_ms=self.clock,
            message_id=mid,
            sequence=self.seq[side],
            body_sha256=hashlib.sha256(mid).digest(),
            in_reply_to=in_reply_to,
            facts=Facts(**facts),
        )
        self.events.append(event)
        return event

    def view(self, side: Side, events: list[Event] | None = None) -> list[Event]:
        return [
            dataclasses.replace(e, origin=Origin.SENT if e.sender_side is side else Origin.RECEIVED)
            for e in (self.events if events is None else events)
        ]

    def fold(
        self, side: Side, *, rules: Rules | None = None, now: int | None = None, events: list[Event] | None = None
    ) -> LinkState:
        return fold(
            self.view(side, events),
            our_side=side,
            is_state="GR",
            os_state="AL",
            rules=rules or Rules(),
            now_ms=self.clock if now is None else now,
        )

    # -- the usual steps ---------------------------------------------------------------------

    def notify(self) -> Event:
        return self.send(Side.IS, "case_notification", identified_at_ms=T0 - DAY)

    def acknowledge(self, opening: Event) -> Event:
        return self.send(
            Side.OS,
            "acknowledgement",
            refers_to=opening.message_id,
            ack_kind="RECEIVED_AND_ASSIGNED",
            assigned_unit="al-shss/elbasan",
        )

    def evidence(self) -> None:
        si = self.send(Side.IS, "social_inquiry_request")
        self.send(
            Side.OS, "social_inquiry_report", in_reply_to=si.message_id, evidence=GOOD_EVIDENCE["social_inquiry_report"]
        )
        iv = self.send(Side.IS, "identity_verification_request")
        self.send(
            Side.OS,
            "identity_verification_reply",
            in_reply_to=iv.message_id,
            evidence=GOOD_EVIDENCE["identity_verification_reply"],
        )
        self.send(Side.IS, "risk_assessment_report", evidence=GOOD_EVIDENCE["risk_assessment_report"])
        self.send(Side.IS, "child_views_record", evidence=GOOD_EVIDENCE["child_views_record"])
        self.send(Side.OS, "reintegration_plan", evidence=GOOD_EVIDENCE["reintegration_plan"])

    def propose(self, side: Side, solution: str = "RETURN_FAMILY_REUNIFICATION", state: str = "AL", **kw: Any) -> Event:
        facts: dict[str, Any] = {"solution": solution, "solution_state": state, "approval": approval()}
        if side is Side.IS:
            facts["gate"] = passing_gate()
        facts.update(kw)
        return self.send(side, "durable_solution_proposal", **facts)

    def agree(self, side: Side, proposal: Event, **kw: Any) -> Event:
        facts: dict[str, Any] = {
            "refers_to": proposal.message_id,
            "refers_sha256": proposal.body_sha256,
            "solution": proposal.facts.solution,
            "solution_state": proposal.facts.solution_state,
            "approval": approval(),
        }
        if side is Side.IS:
            facts["gate"] = passing_gate()
        facts.update(kw)
        return self.send(side, "durable_solution_agreement", **facts)
