"""Case work between two real node compositions over the fakes: links opened and received,
submissions judged, every message applied once to its link, the gate and approvals at the sender."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from focalpoint.cases.stages import Stage
from focalpoint.errors import PermissionDenied, UsageError
from focalpoint.localnet.samples import case_ref_for, sample_body
from focalpoint.node.casedesk import Draft
from focalpoint.node.outbox import Submitted
from focalpoint.server.node import Node
from focalpoint.storage.base import LinkRow, ParkedRow
from focalpoint.v1 import codes_pb2, messages_pb2
from tests.node.conftest import Fabric, eventually

GR, AL = "gr-ekka", "al-shss"
HOUR = 3_600_000


class Link:
    """One case link as both nodes see it, with helpers to send the next message."""

    def __init__(self, fabric: Fabric, ref: str, gr_link: str) -> None:
        self.fabric, self.ref = fabric, ref
        self.ids = {GR: gr_link}

    def node(self, node_id: str) -> Node:
        return self.fabric.nodes[node_id]

    async def row(self, node_id: str) -> LinkRow:
        node = self.node(node_id)
        await node.casework.catch_up()
        row = await node.store.cases.link_by_ref(self.ref, AL if node_id == GR else GR)
        assert row is not None
        self.ids[node_id] = row.link_id
        return row

    async def stages(self) -> tuple[Stage, Stage]:
        return (await self.row(GR)).stage, (await self.row(AL)).stage

    async def send(
        self,
        node_id: str,
        kind: str,
        edit: Callable[[messages_pb2.Body], None] = lambda b: None,
        *,
        actor: str = "u-1",
        answers: bytes = b"",
    ) -> bytes:
        """Send a complete sample of ``kind`` from ``node_id``, edited; wait until the partner holds it."""
        await self.row(node_id)
        body = sample_body(kind, case_ref=self.ref, at_ms=self.fabric.clock() - 1000)
        edit(body)
        node = self.node(node_id)
        result = await node.casedesk.send(self.ids[node_id], body, actor=actor, in_reply_to=answers)
        if isinstance(result, Draft):
            result = await node.casedesk.approve(self.ids[node_id], result.draft_id, approver="u-2")
        assert isinstance(result, Submitted)
        partner = self.node(AL if node_id == GR else GR)

        async def arrived() -> bool:
            return await partner.store.inbox.get(node_id, result.message_id) is not None

        await eventually(arrived, what=f"{kind} delivered")
        self.fabric.clock.advance(60)
        return result.message_id


def _ref(field: str, message_id: bytes) -> Callable[[messages_pb2.Body], None]:
    """Point the body's EvidenceRef ``field`` (``kind.name``) at a real message; the node binds its hash."""

    def edit(body: messages_pb2.Body) -> None:
        kind, name = field.split(".")
        ref = getattr(getattr(body, kind), name)
        ref.Clear()
        ref.message_id = message_id

    return edit


def _evidence(*message_ids: bytes) -> Callable[[messages_pb2.Body], None]:
    """The proposal relies on these messages of the link (the node binds their hashes)."""

    def edit(body: messages_pb2.Body) -> None:
        del body.durable_solution_proposal.evidence[:]
        for mid in message_ids:
            body.durable_solution_proposal.evidence.add(message_id=mid)

    return edit


async def _opened(fabric: Fabric) -> Link:
    gr = fabric.nodes[GR]
    opened = await gr.casework.open_case(actor="u-1", partner_node=AL, identified_at_ms=fabric.clock() - HOUR, unit="")
    return Link(fabric, opened.case_ref, opened.link_id)


async def test_a_notification_opens_the_link_on_both_sides_and_an_acknowledgement_joins_them(fabric: Fabric) -> None:
    """T1–T4: OPEN at the identifying State, then NOTIFIED there and a new RECEIVED link at the State
    of origin, then ACKNOWLEDGED on both; each stage change is one STATUS_CHANGED leaf."""
    link = await _opened(fabric)
    assert (await link.row(GR)).stage is Stage.OPEN
    notification = await link.send(GR, "case_notification")
    assert await link.stages() == (Stage.NOTIFIED, Stage.RECEIVED)
    await link.send(AL, "acknowledgement", _ref("acknowledgement.acknowledges", notification))
    assert await link.stages() == (Stage.ACKNOWLEDGED, Stage.ACKNOWLEDGED)
    refs = await fabric.nodes[AL].store.audit.case_indices(link.ref)
    assert refs  # the audit log holds the link's events under its reference


async def test_applying_is_exactly_once_however_often_catch_up_runs(fabric: Fabric) -> None:
    """Running the applier again (as after a crash before its cursor moved) stores no event twice."""
    link = await _opened(fabric)
    await link.send(GR, "case_notification")
    al = fabric.nodes[AL]
    await link.row(AL)
    before = await al.store.cases.events(link.ids[AL])
    for _ in range(3):
        await al.casework.catch_up()
    assert await al.store.cases.events(link.ids[AL]) == before


async def test_a_submission_the_table_forbids_is_refused_before_anything_is_queued(fabric: Fabric) -> None:
    """A handover confirmation from the identifying State, or a departure before agreement: refused, no outbox row."""
    link = await _opened(fabric)
    await link.send(GR, "case_notification")
    gr = fabric.nodes[GR]
    rows = len(await gr.store.outbox.page(100, 0))
    with pytest.raises(UsageError, match="not allowed in stage NOTIFIED"):
        await gr.casedesk.send(
            link.ids[GR],
            sample_body("return_status_update", case_ref=link.ref, at_ms=fabric.clock() - 1000),
            actor="u-1",
        )
    assert len(await gr.store.outbox.page(100, 0)) == rows


async def test_a_message_naming_no_link_is_parked_for_the_operator(fabric: Fabric) -> None:
    """W2: a received case message (not an opening one) whose reference names no link is kept and listed as parked."""
    gr = fabric.nodes[GR]
    stray = sample_body("acknowledgement", case_ref=case_ref_for(4242, "AL"), at_ms=fabric.clock() - 10)
    await gr.inbox.receive(fabric.seal(AL, GR, body=stray, sequence=50).envelope, AL)
    await gr.casework.catch_up()
    parked = await gr.store.cases.parked(10, 0)
    assert all(isinstance(p, ParkedRow) for p in parked)
    assert [(p.sender, p.kind, p.case_ref) for p in parked if isinstance(p, ParkedRow)] == [
        (AL, "acknowledgement", case_ref_for(4242, "AL"))
    ]
    assert await gr.store.cases.link_by_ref(case_ref_for(4242, "AL"), AL) is None


async def test_the_gate_is_filled_in_by_the_identifying_states_node_and_an_unmet_gate_refuses(fabric: Fabric) -> None:
    """An agreement to a return with no evidence is refused naming the missing conditions; nothing is queued."""
    link = await _opened(fabric)
    n = await link.send(GR, "case_notification")
    await link.send(AL, "acknowledgement", _ref("acknowledgement.acknowledges", n))
    plan = await link.send(AL, "reintegration_plan")
    proposal = await link.send(AL, "durable_solution_proposal", _evidence(plan))
    assert await link.stages() == (Stage.NEGOTIATION, Stage.NEGOTIATION)
    gr = fabric.nodes[GR]
    body = sample_body("durable_solution_agreement", case_ref=link.ref, at_ms=fabric.clock() - 1000)
    _ref("durable_solution_agreement.accepts", proposal)(body)
    body.durable_solution_agreement.ClearField("gate")
    body.durable_solution_agreement.ClearField("approval")
    draft = await gr.casedesk.send(link.ids[GR], body, actor="u-1")
    assert isinstance(draft, Draft)
    with pytest.raises(PermissionDenied, match="cannot approve"):
        await gr.casedesk.approve(link.ids[GR], draft.draft_id, approver="u-1")
    with pytest.raises(UsageError, match="return gate is not met: G1_SOCIAL_INQUIRY"):
        await gr.casedesk.approve(link.ids[GR], draft.draft_id, approver="u-2")
    assert await link.stages() == (Stage.NEGOTIATION, Stage.NEGOTIATION)


async def assessed(fabric: Fabric) -> tuple[Link, bytes]:
    """A case notified, acknowledged and assessed (identity, social inquiry, risk, the child's views),
    with the State of origin's reintegration plan: the link and the plan's message id."""
    link = await _opened(fabric)
    n = await link.send(GR, "case_notification")
    await link.send(AL, "acknowledgement", _ref("acknowledgement.acknowledges", n))
    iv = await link.send(GR, "identity_verification_request")
    await link.send(AL, "identity_verification_reply", answers=iv)
    si = await link.send(GR, "social_inquiry_request")
    await link.send(AL, "social_inquiry_report", answers=si)
    await link.send(GR, "risk_assessment_report")
    await link.send(GR, "child_views_record")
    plan = await link.send(AL, "reintegration_plan")
    return link, plan


async def test_a_full_return_converges_with_the_gate_met_at_each_cross_border_signature(fabric: Fabric) -> None:
    """Scenario 1 between two node compositions: notification to closure, both nodes at every stage alike."""
    link, plan = await assessed(fabric)
    assert await link.stages() == (Stage.ASSESSMENT, Stage.ASSESSMENT)
    _, _, gate, beside = await fabric.nodes[GR].casedesk.timeline(link.ids[GR])
    assert beside == []
    assert gate is not None
    assert gate.missing == {}, gate.missing
    proposal = await link.send(AL, "durable_solution_proposal", _evidence(plan))
    await link.send(GR, "durable_solution_agreement", _ref("durable_solution_agreement.accepts", proposal))
    assert await link.stages() == (Stage.RETURN_PREPARATION, Stage.RETURN_PREPARATION)
    repatriation = await link.send(GR, "repatriation_plan", lambda b: b.repatriation_plan.ClearField("supersedes"))
    await link.send(AL, "repatriation_plan_acceptance", _ref("repatriation_plan_acceptance.accepts", repatriation))
    await link.send(GR, "return_status_update")
    assert await link.stages() == (Stage.RETURN_IN_PROGRESS, Stage.RETURN_IN_PROGRESS)
    await link.send(AL, "handover_confirmation")
    await link.send(AL, "follow_up_report")
    assert await link.stages() == (Stage.FOLLOW_UP, Stage.FOLLOW_UP)
    closure = await link.send(AL, "case_closure")
    await link.send(GR, "acknowledgement", _ref("acknowledgement.acknowledges", closure))
    assert await link.stages() == (Stage.CLOSED, Stage.CLOSED)
    for node_id in (GR, AL):
        row = await link.row(node_id)
        assert row.flagged == 0
        assert row.closed


async def test_a_withdrawn_message_is_purged_at_the_receiver_which_acknowledges_it_applied(fabric: Fabric) -> None:
    """The receiver purges the message's content and derived facts, keeps its id and hash, and answers APPLIED."""
    link = await _opened(fabric)
    n = await link.send(GR, "case_notification")
    await link.send(AL, "acknowledgement", _ref("acknowledgement.acknowledges", n))
    views = await link.send(GR, "child_views_record")
    al = fabric.nodes[AL]
    row = await al.store.inbox.get(GR, views)
    assert row is not None
    assert row.local_copy != b""
    withdrawal = await link.send(GR, "withdrawal", _ref("withdrawal.withdraws", views))
    await link.row(AL)
    purged = await al.store.inbox.get(GR, views)
    assert purged is not None
    assert purged.local_copy == b""
    assert purged.digest == row.digest  # the hash stays
    kept = {e.message_id: e for e in await al.casework.events(await link.row(AL))}
    assert kept[views].body_sha256  # id and body hash stay; the facts derived from it are gone
    assert kept[views].facts.evidence is None
    await al.casework.send_owed()
    gr = fabric.nodes[GR]

    async def acknowledged() -> bool:
        await gr.casework.catch_up()
        events = await gr.casework.events(await link.row(GR))
        return any(e.kind == "acknowledgement" and e.facts.refers_to == withdrawal for e in events)

    await eventually(acknowledged, what="the APPLIED acknowledgement")
    acks = [e for e in await gr.casework.events(await link.row(GR)) if e.facts.refers_to == withdrawal]
    assert [e.facts.ack_kind for e in acks] == ["APPLIED"]


async def test_withdrawing_the_opening_message_is_kept_as_a_draft_until_a_second_person_approves(
    fabric: Fabric,
) -> None:
    """T20 needs a second person: the desk keeps the withdrawal as a draft (it would otherwise be refused
    for lacking the approval it may not carry by hand), and once approved the link is WITHDRAWN on both."""
    link = await _opened(fabric)
    n = await link.send(GR, "case_notification")
    await link.send(AL, "acknowledgement", _ref("acknowledgement.acknowledges", n))
    gr = fabric.nodes[GR]
    body = sample_body("withdrawal", case_ref=link.ref, at_ms=fabric.clock() - 1000)
    _ref("withdrawal.withdraws", n)(body)
    kept = await gr.casedesk.send(link.ids[GR], body, actor="u-1")
    assert isinstance(kept, Draft)
    assert kept.kind == "withdrawal"
    sent = await gr.casedesk.approve(link.ids[GR], kept.draft_id, approver="u-2")
    al = fabric.nodes[AL]

    async def arrived() -> bool:
        return await al.store.inbox.get(GR, sent.message_id) is not None

    await eventually(arrived, what="the withdrawal delivered")
    assert await link.stages() == (Stage.WITHDRAWN, Stage.WITHDRAWN)
    fabric.clock.advance(60)
    await al.casework.send_owed()  # AL's node answers the withdrawal, on a link now WITHDRAWN
    await eventually(lambda: _applied_acks(gr, link), what="the APPLIED acknowledgement")
    for node_id in (GR, AL):  # purging the withdrawn notification's content reinterprets nothing before it
        state = await fabric.nodes[node_id].casework.state(await link.row(node_id))
        assert [(f.kind, f.reason) for f in state.flagged] == [], node_id


async def test_an_amendment_replaces_the_evidence_it_amends_and_is_acknowledged_applied(fabric: Fabric) -> None:
    """The amended risk report's facts are the replacement's; the receiver answers APPLIED once."""
    link = await _opened(fabric)
    n = await link.send(GR, "case_notification")
    await link.send(AL, "acknowledgement", _ref("acknowledgement.acknowledges", n))
    report = await link.send(GR, "risk_assessment_report")

    def amend(body: messages_pb2.Body) -> None:
        _ref("amendment.amends", report)(body)
        body.amendment.amends.kind = "risk_assessment_report"
        replacement = sample_body("risk_assessment_report", case_ref=link.ref, at_ms=fabric.clock() - 1000)
        replacement.risk_assessment_report.overall = codes_pb2.RISK_LEVEL_SEVERE
        body.amendment.replacement.CopyFrom(replacement)

    await link.send(GR, "amendment", amend)
    al = fabric.nodes[AL]
    state = await al.casework.state(await link.row(AL))
    latest = state.latest("risk_assessment_report")
    assert latest is not None
    assert getattr(latest[1], "overall", "") == "SEVERE"
    assert report in state.superseded
    await al.casework.send_owed()
    await al.casework.send_owed()  # nothing owed twice
    gr = fabric.nodes[GR]
    await eventually(lambda: _applied_acks(gr, link), what="the APPLIED acknowledgement")
    assert len(await al.store.outbox.page(100, 0)) == 2  # the link's acknowledgement and one APPLIED, not two


async def _applied_acks(node: Node, link: Link) -> bool:
    await node.casework.catch_up()
    events = await node.casework.events(await link.row(GR))
    return any(e.kind == "acknowledgement" and e.facts.ack_kind == "APPLIED" for e in events)


async def test_the_state_of_origin_opens_a_tracing_case_and_the_other_state_receives_it(fabric: Fabric) -> None:
    """Symmetric opening: al opens with tracing and sends a tracing_request; gr gets a new link as identifying State."""
    al = fabric.nodes[AL]
    opened = await al.casework.open_case(actor="u-1", partner_node=GR, identified_at_ms=0, unit="", tracing=True)
    assert opened.case_ref.startswith("AL-")
    body = sample_body("tracing_request", case_ref=opened.case_ref, at_ms=fabric.clock() - 1000)
    sent = await al.casedesk.send(opened.link_id, body, actor="u-1")
    assert isinstance(sent, Submitted)
    gr = fabric.nodes[GR]

    async def arrived() -> bool:
        await gr.casework.catch_up()
        return await gr.store.cases.link_by_ref(opened.case_ref, AL) is not None

    await eventually(arrived, what="the tracing request")
    theirs = await gr.store.cases.link_by_ref(opened.case_ref, AL)
    assert theirs is not None
    assert (theirs.our_side.value, theirs.stage) == ("IS", Stage.RECEIVED)
    await al.casework.catch_up()
    ours = await al.store.cases.link(opened.link_id)
    assert ours is not None
    assert (ours.our_side.value, ours.stage) == ("OS", Stage.NOTIFIED)
    with pytest.raises(UsageError, match="no identification time"):
        await al.casework.open_case(actor="u-1", partner_node=GR, identified_at_ms=5, unit="", tracing=True)
