"""Invented case histories for ``focalpoint bench cases``: what a link's events look like when a
case runs as docs/cases.md describes it (no names, no content; every id random).

A history follows one script — notification, acknowledgement, requests and the evidence that
answers them, the child's views, a proposal and its agreement, a repatriation plan and its
acceptance, the departure, the handover — then the follow-up's reports, acknowledgements and
clarifications for as long as it runs. A link of length N holds the script's first N events (so
links stand at every stage); a closed one ends with a closure notice. Each event is one the
transition table allows in its place, so folding a history flags nothing.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator

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
from focalpoint.cases.gate import CONDITIONS
from focalpoint.cases.stages import Side

__all__ = ["DAY_MS", "history"]

DAY_MS = 86_400_000
_OFFICERS = ("officer-01", "officer-02")


class _Link:
    """Mints the events of one link as its node stores them (origin and sender from ``our_side``)."""

    def __init__(self, rng: random.Random, *, link_id: str, me: str, partner: str, our_side: Side) -> None:
        self.rng = rng
        self.link_id = link_id
        self.our_side = our_side
        self.nodes = {our_side: me, our_side.other: partner}
        self.sequence = {Side.IS: 0, Side.OS: 0}
        self.body_sha256: dict[bytes, bytes] = {}

    def event(self, kind: str, side: Side, at_ms: int, facts: Facts = Facts(), in_reply_to: bytes = b"") -> Event:  # noqa: B008 (frozen)
        if kind.startswith("local:"):
            message_id = f"{kind[6:]}:{self.link_id}".encode()
            return Event(kind=kind, origin=Origin.LOCAL, sender_side=side, sender_node=self.nodes[side], at_ms=at_ms,
                         message_id=message_id, actor=_OFFICERS[0], facts=facts)  # fmt: skip
        self.sequence[side] += 1
        # Every message carries the family-contact rule the sample bodies carry (the rule is sticky).
        facts = dataclasses.replace(facts, family_contact="CONTACT_ALLOWED")
        message_id = self.rng.randbytes(16)
        self.body_sha256[message_id] = self.rng.randbytes(32)
        origin = Origin.SENT if side is self.our_side else Origin.RECEIVED
        return Event(kind=kind, origin=origin, sender_side=side, sender_node=self.nodes[side], at_ms=at_ms,
                     message_id=message_id, sequence=self.sequence[side], body_sha256=self.body_sha256[message_id],
                     in_reply_to=in_reply_to, actor=_OFFICERS[0] if origin is Origin.SENT else "",
                     facts=facts)  # fmt: skip


def _script(link: _Link, times: Iterator[int], *, os_state: str, unit: str) -> Iterator[Event]:
    """The events of a case that runs to its follow-up, then follow-up traffic without end."""
    IS, OS = Side.IS, Side.OS  # the two sides, named as in docs/cases.md
    t = next(times)
    if link.our_side is IS:
        yield link.event("local:open", IS, t, Facts(identified_at_ms=t - 2 * DAY_MS))
        t = next(times)
    # Most children have a guardian within a day of identification; a few wait longer.
    guardian = t - 2 * DAY_MS + link.rng.randrange(2, 40) * 3_600_000
    notification = link.event(
        "case_notification", IS, t, Facts(identified_at_ms=t - 2 * DAY_MS, guardian_appointed_at_ms=guardian)
    )
    yield notification
    yield link.event("acknowledgement", OS, next(times), Facts(refers_to=notification.message_id,
                     ack_kind="RECEIVED_AND_ASSIGNED", assigned_unit=unit))  # fmt: skip
    inquiry = link.event("social_inquiry_request", IS, next(times))
    yield inquiry
    identity = link.event("identity_verification_request", IS, next(times))
    yield identity
    yield link.event("social_inquiry_report", OS, next(times), Facts(evidence=InquiryReport(
        family_involvement="NO", payment_received="NO", departure_factors=frozenset({"POVERTY"}))),
        in_reply_to=inquiry.message_id)  # fmt: skip
    yield link.event("identity_verification_reply", OS, next(times), Facts(evidence=IdentityReply(
        nationality="CONFIRMED", travel_document_can_be_issued=True, source="CIVIL_REGISTRY")),
        in_reply_to=identity.message_id)  # fmt: skip
    yield link.event("child_views_record", IS, next(times), Facts(evidence=ChildViews(return_stance="WANTS_RETURN")))
    risk = link.event("risk_assessment_request", IS, next(times))
    yield risk
    t = next(times)
    yield link.event("risk_assessment_report", OS, t, Facts(evidence=RiskReport(
        occasion="PRE_RETURN", overall="LOW", completed_at_ms=t, domains=(("FAMILY_HARM", "LOW"),),
        measures=frozenset({"SUPERVISED_CARE"}))), in_reply_to=risk.message_id)  # fmt: skip
    yield link.event("reintegration_plan", OS, next(times),
                     Facts(evidence=ReintegrationPlan(factors_addressed=frozenset({"POVERTY"}))))  # fmt: skip
    t = next(times)
    solution = "RETURN_FAMILY_REUNIFICATION"
    proposal = link.event("durable_solution_proposal", IS, t, Facts(solution=solution, solution_state=os_state,
                          gate=_gate_met(t), approval=_approval(t)))  # fmt: skip
    yield proposal
    t = next(times)
    yield link.event("durable_solution_agreement", OS, t, Facts(refers_to=proposal.message_id,
                     refers_sha256=proposal.body_sha256, solution=solution, solution_state=os_state,
                     approval=_approval(t)))  # fmt: skip
    t = next(times)
    plan = link.event("repatriation_plan", OS, t, Facts(latest_departure_day=t // DAY_MS + 400,
                      no_detention_assurance=True))  # fmt: skip
    yield plan
    t = next(times)
    yield link.event("repatriation_plan_acceptance", IS, t, Facts(refers_to=plan.message_id, approval=_approval(t),
                     gate=_gate_met(t)))  # fmt: skip
    t = next(times)
    yield link.event("return_status_update", IS, t, Facts(return_status="DEPARTED", gate=_gate_met(t)))
    yield link.event("handover_confirmation", OS, next(times))
    while True:
        report = link.event("follow_up_report", OS, next(times))
        yield report
        yield link.event("acknowledgement", IS, next(times), Facts(refers_to=report.message_id, ack_kind="RECEIVED"))
        question = link.event("clarification_request", IS, next(times), Facts(refers_to=report.message_id))
        yield question
        yield link.event("clarification_response", OS, next(times), Facts(refers_to=question.message_id))


def _gate_met(at_ms: int) -> GateClaim:
    return GateClaim(met=frozenset(CONDITIONS), missing=frozenset(), evaluated_at_ms=at_ms)


def _approval(at_ms: int) -> Approval:
    return Approval(prepared_by=_OFFICERS[0], approved_by=_OFFICERS[1], approved_at_ms=at_ms)


def history(
    rng: random.Random,
    *,
    link_id: str,
    me: str,
    partner: str,
    our_side: Side,
    os_state: str,
    unit: str,
    length: int,
    start_ms: int,
    end_ms: int,
    closed: bool = False,
) -> list[Event]:
    """``length`` (≥ 2) events between ``start_ms`` and ``end_ms``; with ``closed``, the last is a closure notice."""
    if length < 2:
        raise ValueError("a history has at least its opening and one more event")
    step = max(1, (end_ms - start_ms) // length)
    times = (start_ms + i * step + rng.randrange(step) for i in range(length + 1))
    link = _Link(rng, link_id=link_id, me=me, partner=partner, our_side=our_side)
    events: list[Event] = []
    for event in _script(link, times, os_state=os_state, unit=unit):
        if len(events) == length - 1 and closed:
            at = max(e.at_ms for e in events) + 1
            facts = Facts(closure_action="NOTICE", closure_outcome="DUPLICATE", approval=_approval(at))
            events.append(link.event("case_closure", Side.IS, at, facts))
            break
        events.append(event)
        if len(events) == length:
            break
    return events
