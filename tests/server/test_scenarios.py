"""The case workflow's acceptance scenarios between real nodes over mutual TLS (docs/cases.md).

GR is the identifying State, AL the State of origin, IT a third State. Officials act only through
their node's local API (``tests.support.scenario.Officials``); each scenario runs on its own link
and ends with both States converged: the same stage and message ids, audit logs that verify and
witness each other.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator

import pytest

from focalpoint.errors import FocalpointError, PermissionDenied, PreconditionFailed, UsageError
from focalpoint.localnet import LocalNetwork
from focalpoint.node.ports import wall_clock_ms
from focalpoint.people.roles import Grant
from focalpoint.server.node import Node
from focalpoint.v1 import audit_pb2, codes_pb2, common_pb2, directory_pb2, local_pb2, messages_pb2
from tests.support.scenario import (
    AL,
    GR,
    IT,
    Edit,
    Officials,
    agreement_status,
    evidence,
    identified,
    ref_to,
    republish,
)


@pytest.fixture
async def officials(nodes: dict[str, Node]) -> AsyncIterator[Officials]:
    async with contextlib.AsyncExitStack() as stack:
        yield Officials(nodes, stack)


def _follow_up(occasion: codes_pb2.FollowUpOccasion.ValueType) -> Edit:
    """A follow-up report of ``occasion`` (M3, M6, M12 after the return)."""

    def edit(body: messages_pb2.Body) -> None:
        body.follow_up_report.occasion = occasion

    return edit


async def _acknowledged(o: Officials) -> tuple[str, bytes]:
    """A case GR opened (the child identified 6 h ago), notified to AL and acknowledged by it."""
    ref, at = await o.open()
    notification = await o.send(GR, AL, ref, "case_notification", identified(at))
    await o.send(AL, GR, ref, "acknowledgement", ref_to("acknowledgement.acknowledges", notification))
    return ref, notification


async def _evidence(o: Officials, ref: str, *, risk: bool = True) -> list[bytes]:
    """Identity CONFIRMED, the social inquiry, (a PRE_RETURN risk report,) the child's views and the
    reintegration plan; the ids of the evidence a proposal rests on."""
    iv = await o.send(GR, AL, ref, "identity_verification_request")
    await o.send(AL, GR, ref, "identity_verification_reply", answers=iv)
    si = await o.send(GR, AL, ref, "social_inquiry_request")
    found = [await o.send(AL, GR, ref, "social_inquiry_report", answers=si)]
    if risk:
        found.append(await o.send(GR, AL, ref, "risk_assessment_report"))
    found.append(await o.send(GR, AL, ref, "child_views_record"))
    found.append(await o.send(AL, GR, ref, "reintegration_plan"))
    return found


async def _negotiating(o: Officials, *, risk: bool = True) -> tuple[str, bytes]:
    """A link in NEGOTIATION on AL's proposal of a return, with the evidence (and ``risk``) held."""
    ref, _ = await _acknowledged(o)
    found = await _evidence(o, ref, risk=risk)
    proposal = await o.send(AL, GR, ref, "durable_solution_proposal", evidence(*found))
    return ref, proposal


# -- 1. full return --------------------------------------------------------------------------------


async def test_a_full_return_reaches_closed_on_both_sides_through_every_stage_in_order(officials: Officials) -> None:
    """Scenario 1: notification to closure, proposal and agreement each second-approved; both States
    end CLOSED alike and GR's log records T1, T2, T4, T5, T7, T10, T13, T14, T15, T16 in order."""
    o = officials
    ref, _ = await _acknowledged(o)
    found = await _evidence(o, ref)
    proposal_draft = await o.prepare(AL, GR, ref, "durable_solution_proposal", evidence(*found))
    assert proposal_draft.draft_id  # a second person must approve it
    proposal = await o.approve(AL, ref, proposal_draft.draft_id)
    agreement_draft = await o.prepare(
        GR, AL, ref, "durable_solution_agreement", ref_to("durable_solution_agreement.accepts", proposal)
    )
    assert agreement_draft.draft_id
    agreement = await o.approve(GR, ref, agreement_draft.draft_id)
    plan = await o.send(GR, AL, ref, "repatriation_plan", lambda b: b.repatriation_plan.ClearField("supersedes"))

    def acceptance(body: messages_pb2.Body) -> None:
        ref_to("repatriation_plan_acceptance.accepts", plan)(body)
        body.repatriation_plan_acceptance.ClearField("gate")  # the State of origin makes no gate claim

    await o.send(AL, GR, ref, "repatriation_plan_acceptance", acceptance)
    await o.send(GR, AL, ref, "return_status_update")
    await o.send(AL, GR, ref, "handover_confirmation")
    for occasion in (
        codes_pb2.FOLLOW_UP_OCCASION_M3,
        codes_pb2.FOLLOW_UP_OCCASION_M6,
        codes_pb2.FOLLOW_UP_OCCASION_M12,
    ):
        await o.send(AL, GR, ref, "follow_up_report", _follow_up(occasion))
    closure = await o.send(AL, GR, ref, "case_closure")
    await o.send(GR, AL, ref, "acknowledgement", ref_to("acknowledgement.acknowledges", closure))

    assert await o.converged(ref) == "CLOSED"
    assert await o.statuses(GR, ref) == [
        "→OPEN",  # T1
        "OPEN→NOTIFIED",  # T2
        "NOTIFIED→ACKNOWLEDGED",  # T4
        "ACKNOWLEDGED→ASSESSMENT",  # T5
        "ASSESSMENT→NEGOTIATION",  # T7
        "NEGOTIATION→RETURN_PREPARATION",  # T10
        "RETURN_PREPARATION→RETURN_IN_PROGRESS",  # T13
        "RETURN_IN_PROGRESS→FOLLOW_UP",  # T14
        "FOLLOW_UP→CLOSING",  # T15
        "CLOSING→CLOSED",  # T16
    ]
    for node_id in (GR, AL):
        assert [e.flagged for e in (await o.show(node_id, ref)).timeline if e.flagged] == []
    signed = await (await o.api(AL)).get_message(local_pb2.DIRECTION_INBOX, agreement, GR)
    approval = signed.body.durable_solution_agreement.approval
    assert (approval.prepared_by, approval.approved_by) == ("officer.1", "supervisor.2")
    assert set(signed.body.durable_solution_agreement.gate.met) == set(range(1, 6))


# -- 2. the gate blocks a return ---------------------------------------------------------------------


def _override(prepared_by: str, approved_by: str) -> Edit:
    """An agreement waiving G2 by an override (COURT_ORDER), its approval naming ``approved_by``."""

    def edit(body: messages_pb2.Body) -> None:
        gate = body.durable_solution_agreement.gate
        gate.Clear()
        gate.missing.append(codes_pb2.GATE_CONDITION_G2_RISK_ASSESSMENT)
        gate.evaluated_at_ms = wall_clock_ms() - 1000
        gate.override.waived.append(codes_pb2.GATE_CONDITION_G2_RISK_ASSESSMENT)
        gate.override.reason = codes_pb2.OVERRIDE_REASON_COURT_ORDER
        gate.override.justification.text = "The family court ordered the return on the record of the hearing."
        gate.override.justification.language = "en"
        gate.override.approval.prepared_by = prepared_by
        gate.override.approval.approved_by = approved_by
        gate.override.approval.approved_at_ms = wall_clock_ms() - 1000

    return edit


async def test_the_gate_blocks_a_return_without_a_risk_assessment_until_a_second_person_overrides(
    officials: Officials,
) -> None:
    """Scenario 2: without a PRE_RETURN risk report GR's agreement fails naming G2 and nothing is queued;
    an override its preparer approved is refused; an approver without the override grant is refused
    (PERMISSION_DENIED); one a second user holding the grant approved passes, the node records who
    prepared and who approved from their sessions, and AL holds the signed GateStatus with the override."""
    o = officials
    ref, proposal = await _negotiating(o, risk=False)
    accepts = ref_to("durable_solution_agreement.accepts", proposal)
    draft = await o.prepare(GR, AL, ref, "durable_solution_agreement", accepts)
    rows = await o.outbox_size(GR)
    with pytest.raises(PreconditionFailed, match="the return gate is not met: G2_RISK_ASSESSMENT"):
        await (await o.api(GR, "supervisor.2")).approve_draft(await o.link(GR, ref), draft.draft_id)
    assert await o.outbox_size(GR) == rows

    def same_user(body: messages_pb2.Body) -> None:
        accepts(body)
        _override("officer.1", "officer.1")(body)

    with pytest.raises(UsageError, match=r"gate\.override\.approval\.approved_by: must be a different person"):
        await o.prepare(GR, AL, ref, "durable_solution_agreement", same_user)
    assert await o.outbox_size(GR) == rows

    def second_user(body: messages_pb2.Body) -> None:
        accepts(body)
        _override("officer.1", "supervisor.2")(body)

    overridden = await o.prepare(GR, AL, ref, "durable_solution_agreement", second_user)
    with pytest.raises(PermissionDenied, match="override grant"):
        await o.approve(GR, ref, overridden.draft_id)  # supervisor.2 may approve, not override
    await o.people(GR).client("chief.4", grants=(Grant.APPROVE, Grant.OVERRIDE))
    agreement = await o.approve(GR, ref, overridden.draft_id, actor="chief.4")

    assert await o.converged(ref) == "RETURN_PREPARATION"
    at_origin = await o.show(AL, ref)
    [entry] = [e for e in at_origin.timeline if e.message_id == agreement]
    assert (entry.kind, entry.flagged) == ("durable_solution_agreement", "")
    signed = await (await o.api(AL)).get_message(local_pb2.DIRECTION_INBOX, agreement, GR)
    gate = signed.body.durable_solution_agreement.gate
    assert list(gate.missing) == [codes_pb2.GATE_CONDITION_G2_RISK_ASSESSMENT]
    assert list(gate.override.waived) == [codes_pb2.GATE_CONDITION_G2_RISK_ASSESSMENT]
    assert gate.override.reason == codes_pb2.OVERRIDE_REASON_COURT_ORDER
    assert (gate.override.approval.prepared_by, gate.override.approval.approved_by) == ("officer.1", "chief.4")
    assert "gate:override COURT_ORDER waives G2_RISK_ASSESSMENT" in await o.statuses(GR, ref)


# -- 3. a forged adult passport ---------------------------------------------------------------------


def _born(years: int, days: int) -> common_pb2.Date:
    """The birth date of someone ``years`` old and ``days`` past that birthday today (UTC)."""
    today = dt.datetime.now(dt.UTC).date()
    born = today.replace(year=today.year - years, day=1 if (today.month, today.day) == (2, 29) else today.day)
    born -= dt.timedelta(days=days)
    return common_pb2.Date(year=born.year, month=born.month, day=born.day)


def _adult_passport(at_ms: int) -> Edit:
    """A notification whose (doubted) passport says 19, the assessment 15-17: a presumed minor."""

    def edit(body: messages_pb2.Body) -> None:
        identified(at_ms)(body)
        child = body.case_notification.child
        child.documented_date_of_birth.CopyFrom(_born(19, 30))
        child.documents[0].authenticity_doubted = True
        child.age.presumption = codes_pb2.MINORITY_PRESUMPTION_PRESUMED_MINOR
        child.age.assessed_min_years, child.age.assessed_max_years = 15, 17
        body.context.flags.minority = codes_pb2.MINORITY_PRESUMPTION_PRESUMED_MINOR

    return edit


def _registry_says_16(body: messages_pb2.Body) -> None:
    reply = body.identity_verification_reply
    reply.source = codes_pb2.VERIFICATION_SOURCE_CIVIL_REGISTRY
    reply.registered_date_of_birth.CopyFrom(_born(16, 60))
    reply.minority = codes_pb2.MINORITY_PRESUMPTION_VERIFIED_MINOR


async def test_a_child_with_an_adult_passport_stays_a_presumed_minor_until_the_registry_answers(
    officials: Officials,
) -> None:
    """Scenario 3: a passport saying 19 against an assessment of 15-17 travels as PRESUMED_MINOR; AL's
    civil-registry answer (16) reaches GR as VERIFIED_MINOR and meets G4."""
    o = officials
    ref, at = await o.open()
    notification = await o.send(GR, AL, ref, "case_notification", _adult_passport(at))
    await o.send(AL, GR, ref, "acknowledgement", ref_to("acknowledgement.acknowledges", notification))
    held = await (await o.api(AL)).get_message(local_pb2.DIRECTION_INBOX, notification, GR)
    assert held.body.context.flags.minority == codes_pb2.MINORITY_PRESUMPTION_PRESUMED_MINOR
    age = held.body.case_notification.child.age
    assert (age.presumption, age.assessed_min_years, age.assessed_max_years) == (
        codes_pb2.MINORITY_PRESUMPTION_PRESUMED_MINOR,
        15,
        17,
    )
    iv = await o.send(GR, AL, ref, "identity_verification_request")
    reply = await o.send(AL, GR, ref, "identity_verification_reply", _registry_says_16, answers=iv)

    # The node keeps no minority status on the link (CaseSummary has none): the reply GR holds says it.
    at_gr = await o.show(GR, ref)
    [entry] = [e for e in at_gr.timeline if e.message_id == reply]
    assert (entry.kind, entry.flagged) == ("identity_verification_reply", "")
    answered = await (await o.api(GR)).get_message(local_pb2.DIRECTION_INBOX, reply, AL)
    assert answered.body.identity_verification_reply.minority == codes_pb2.MINORITY_PRESUMPTION_VERIFIED_MINOR
    assert {g.condition: g.met for g in at_gr.gate}["G4_IDENTITY_NATIONALITY"]
    assert await o.converged(ref) == "ASSESSMENT"


async def test_a_claim_of_verified_adulthood_without_a_registry_answer_is_refused(officials: Officials) -> None:
    """Scenario 3: GR may not send a body claiming VERIFIED_ADULT from a document; only a registry answer
    gives it, so the claim is refused and nothing is queued."""
    o = officials
    ref, at = await o.open()
    notification = await o.send(GR, AL, ref, "case_notification", _adult_passport(at))
    await o.send(AL, GR, ref, "acknowledgement", ref_to("acknowledgement.acknowledges", notification))
    rows = await o.outbox_size(GR)

    def adult(body: messages_pb2.Body) -> None:
        body.context.flags.minority = codes_pb2.MINORITY_PRESUMPTION_VERIFIED_ADULT

    with pytest.raises(FocalpointError, match=r"A2 \(minority\): only a civil-registry"):
        await o.prepare(GR, AL, ref, "child_views_record", adult)
    assert await o.outbox_size(GR) == rows


# -- 9, 10. agreements ------------------------------------------------------------------------------


async def test_a_case_with_a_state_without_an_agreement_in_force_sends_nothing(
    officials: Officials, network: LocalNetwork, nodes: dict[str, Node]
) -> None:
    """Scenario 9: GR-IT only signed: the notification to IT is refused at once naming the agreement and
    its status, nothing is queued, and IT never hears of the case."""
    await republish(network, nodes, agreement_status("GR-IT", directory_pb2.AGREEMENT_STATUS_SIGNED))
    o = officials
    rows = await o.outbox_size(GR)
    before = len((await (await o.api(GR)).list_cases(include_closed=True)).cases)
    with pytest.raises(UsageError, match=r"not opened: no agreement in force between GR and IT .*GR-IT \(signed\)"):
        await o.open(IT)
    assert await o.outbox_size(GR) == rows
    assert len((await (await o.api(GR)).list_cases(include_closed=True)).cases) == before  # no link was made
    assert [c.case_ref for c in (await (await o.api(IT)).list_cases(include_closed=True)).cases] == []


async def test_a_suspended_agreement_stops_evidence_but_not_a_missing_child_alert(
    officials: Officials, network: LocalNetwork, nodes: dict[str, Node]
) -> None:
    """Scenario 10: AL-GR suspended mid-case: AL's social inquiry report is refused naming the suspension
    and nothing is queued; GR's protection alert (MISSING) still travels; both States agree."""
    o = officials
    ref, _ = await _acknowledged(o)
    request = await o.send(GR, AL, ref, "social_inquiry_request")
    await republish(network, nodes, agreement_status("AL-GR", directory_pb2.AGREEMENT_STATUS_SUSPENDED))
    rows = await o.outbox_size(AL)
    with pytest.raises(UsageError, match=r"AL-GR \(suspended\)"):
        await o.prepare(AL, GR, ref, "social_inquiry_report", answers=request)
    assert await o.outbox_size(AL) == rows
    alert = await o.send(GR, AL, ref, "protection_alert")
    assert [e.message_id for e in await o.received(AL, ref, "protection_alert")] == [alert]
    # Witnessing runs between partners in force only, so the suspended pair does not witness here.
    assert await o.converged(ref, witness=False) == "ASSESSMENT"


# -- 11, 12. rectification and withdrawal -------------------------------------------------------------


async def test_an_amended_notification_is_applied_kept_and_acknowledged_by_the_receiving_node(
    officials: Officials,
) -> None:
    """Scenario 11: GR amends the notification (a new birth date): AL applies it, still shows the
    superseded message, its node answers acknowledgement(APPLIED) by itself, and both logs hold both."""
    o = officials
    ref, notification = await _acknowledged(o)
    replacement = o.body(GR, AL, "case_notification", ref)
    replacement.case_notification.child.age.claimed_date_of_birth.CopyFrom(_born(15, 10))

    def amend(body: messages_pb2.Body) -> None:
        ref_to("amendment.amends", notification)(body)
        body.amendment.reason = codes_pb2.AMENDMENT_REASON_CORRECTION
        body.amendment.replacement.CopyFrom(replacement)

    amendment = await o.send(GR, AL, ref, "amendment", amend)
    at_origin = await o.show(AL, ref)
    [entry] = [e for e in at_origin.timeline if e.message_id == amendment]
    assert (entry.kind, entry.flagged) == ("amendment", "")
    al = await o.api(AL)
    original = await al.get_message(local_pb2.DIRECTION_INBOX, notification, GR)
    assert original.body.case_notification.child.age.claimed_date_of_birth != _born(15, 10)
    amended = await al.get_message(local_pb2.DIRECTION_INBOX, amendment, GR)
    assert amended.body.amendment.replacement.case_notification.child.age.claimed_date_of_birth == _born(15, 10)

    acks = await o.received(GR, ref, "acknowledgement", count=2)
    assert len(acks) == 2  # the opening's, then the node's own answer to the amendment
    applied = await (await o.api(GR)).get_message(local_pb2.DIRECTION_INBOX, acks[-1].message_id, AL)
    assert applied.body.acknowledgement.kind == codes_pb2.ACK_KIND_APPLIED
    assert applied.body.acknowledgement.acknowledges.message_id == amendment

    sent = await _logged(o, GR, ref, audit_pb2.AUDIT_EVENT_KIND_SENT)
    delivered = await _logged(o, AL, ref, audit_pb2.AUDIT_EVENT_KIND_DELIVERED)
    assert {notification, amendment} <= sent
    assert {notification, amendment} <= delivered
    assert await o.converged(ref) == "ACKNOWLEDGED"


async def _logged(o: Officials, node_id: str, ref: str, kind: audit_pb2.AuditEventKind.ValueType) -> set[bytes]:
    return {e.message_id for e in await o.audit(node_id, ref) if e.kind == kind}


async def test_a_notification_withdrawn_for_the_wrong_child_ends_the_link_and_is_purged_at_the_receiver(
    officials: Officials,
) -> None:
    """Scenario 12: GR withdraws the notification (a second person approving): WITHDRAWN on both; AL's copy
    reads as withdrawn while its id, hash and audit events remain; AL's node answers APPLIED."""
    o = officials
    ref, notification = await _acknowledged(o)

    def withdraw(body: messages_pb2.Body) -> None:
        ref_to("withdrawal.withdraws", notification)(body)
        body.withdrawal.reason = codes_pb2.WITHDRAWAL_REASON_WRONG_CHILD

    draft = await o.prepare(GR, AL, ref, "withdrawal", withdraw)
    assert draft.draft_id  # withdrawing the opening message needs a second person (T20)
    withdrawal = await o.approve(GR, ref, draft.draft_id)

    at_origin = await o.show(AL, ref)  # the node has applied what it received (purging the withdrawn)
    assert notification in {e.message_id for e in at_origin.timeline}
    with pytest.raises(PreconditionFailed, match="withdrawn by its sender and its content purged"):
        await (await o.api(AL)).get_message(local_pb2.DIRECTION_INBOX, notification, GR)
    [kept] = [
        e
        for e in await o.audit(AL, ref)
        if e.kind == audit_pb2.AUDIT_EVENT_KIND_DELIVERED and e.message_id == notification
    ]
    assert len(kept.envelope_sha256) == 32

    acks = await o.received(GR, ref, "acknowledgement", count=2)
    assert len(acks) == 2
    applied = await (await o.api(GR)).get_message(local_pb2.DIRECTION_INBOX, acks[-1].message_id, AL)
    assert applied.body.acknowledgement.kind == codes_pb2.ACK_KIND_APPLIED
    assert applied.body.acknowledgement.acknowledges.message_id == withdrawal
    assert await o.converged(ref) == "WITHDRAWN"


# -- 13. a missing child ----------------------------------------------------------------------------


def _alert(kind: codes_pb2.AlertType.ValueType) -> Edit:
    """An EMERGENCY protection alert of ``kind`` (MISSING, FOUND)."""

    def edit(body: messages_pb2.Body) -> None:
        alert = body.protection_alert
        alert.type = kind
        body.context.urgency = messages_pb2.URGENCY_EMERGENCY
        if kind != codes_pb2.ALERT_TYPE_MISSING:
            alert.ClearField("missing")
            alert.ClearField("may_travel_to_origin")

    return edit


def _after_missing_episode(body: messages_pb2.Body) -> None:
    report = body.risk_assessment_report
    report.occasion = codes_pb2.ASSESSMENT_OCCASION_AFTER_MISSING_EPISODE
    report.completed_at_ms = wall_clock_ms() - 1


async def test_a_missing_child_blocks_the_return_until_found_and_assessed_again(officials: Officials) -> None:
    """Scenario 13: while missing, GR's plan acceptance is refused (not_missing); once found it is refused
    by the gate (G2) until a risk assessment after the missing episode arrives, then it goes."""
    o = officials
    ref, proposal = await _negotiating(o)
    await o.send(GR, AL, ref, "durable_solution_agreement", ref_to("durable_solution_agreement.accepts", proposal))
    plan = await o.send(AL, GR, ref, "repatriation_plan", lambda b: b.repatriation_plan.ClearField("supersedes"))
    await o.send(GR, AL, ref, "protection_alert", _alert(codes_pb2.ALERT_TYPE_MISSING))

    def acceptance(body: messages_pb2.Body) -> None:
        ref_to("repatriation_plan_acceptance.accepts", plan)(body)

    rows = await o.outbox_size(GR)
    with pytest.raises(PreconditionFailed, match=r"T12 \(not_missing\)"):
        await o.prepare(GR, AL, ref, "repatriation_plan_acceptance", acceptance)
    await o.send(GR, AL, ref, "protection_alert", _alert(codes_pb2.ALERT_TYPE_FOUND))
    draft = await o.prepare(GR, AL, ref, "repatriation_plan_acceptance", acceptance)
    with pytest.raises(PreconditionFailed, match="G2_RISK_ASSESSMENT: the child went missing"):
        await o.approve(GR, ref, draft.draft_id)
    assert await o.outbox_size(GR) == rows + 1  # the FOUND alert only
    await o.send(GR, AL, ref, "risk_assessment_report", _after_missing_episode)
    accepted = await o.approve(GR, ref, draft.draft_id)
    assert await o.converged(ref) == "RETURN_PREPARATION"
    at_origin = await o.show(AL, ref)
    assert [e.flagged for e in at_origin.timeline if e.message_id == accepted] == [""]


# -- 18. tracing in reverse -------------------------------------------------------------------------


async def test_a_tracing_request_from_the_state_of_origin_is_acknowledged_searching(officials: Officials) -> None:
    """Scenario 18: AL opens a case with GR and sends a tracing request; GR acknowledges SEARCHING and the
    link is ACKNOWLEDGED on both."""
    o = officials
    ref, _ = await o.open(GR, at=AL, tracing=True)
    tracing = await o.send(AL, GR, ref, "tracing_request")

    def searching(body: messages_pb2.Body) -> None:
        ref_to("acknowledgement.acknowledges", tracing)(body)
        body.acknowledgement.kind = codes_pb2.ACK_KIND_SEARCHING

    await o.send(GR, AL, ref, "acknowledgement", searching)
    assert await o.converged(ref) == "ACKNOWLEDGED"
