"""Cases through the local API of real nodes over mutual TLS: open, list, show, send (forms, the
table, the gate), drafts a second person approves, and parked messages."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable

import pytest

from focalpoint.audit import events as audit_events
from focalpoint.cases.forms import form_of
from focalpoint.client import LocalClient
from focalpoint.errors import NotFound, PermissionDenied, PreconditionFailed, UsageError
from focalpoint.localnet.people import People
from focalpoint.localnet.samples import case_ref_for, sample_body
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState
from focalpoint.v1 import audit_pb2, local_pb2, messages_pb2

GR, AL = "gr-ekka", "al-shss"
HOUR_MS = 3_600_000
Kind = audit_pb2.AuditEventKind
# The units the sample bodies address: GR's officers work in the sending unit, AL's in the receiving one.
UNITS = {GR: "gr-ekka/athens", AL: "al-shss", "it-dgi": "it-dgi"}
Edit = Callable[[messages_pb2.Body], None]


class Desk:
    """The officials of both States at their nodes' local APIs, and the links they work."""

    def __init__(self, nodes: dict[str, Node], stack: contextlib.AsyncExitStack) -> None:
        self.nodes, self._stack = nodes, stack
        self.people: dict[str, People] = {}
        for node_id, node in nodes.items():
            people = People(
                f"127.0.0.1:{node.local_port}",
                node.keyring.keys.local_api_token,
                unit=UNITS[node_id],
                clock_ms=node.clock_ms,
            )
            stack.push_async_callback(people.close)
            self.people[node_id] = people

    async def api(self, node_id: str, actor: str = "officer.1") -> LocalClient:
        """A logged-in case officer of the node's unit (who may approve what another prepared)."""
        return await self.people[node_id].client(actor)

    async def open(self, unit: str = "") -> local_pb2.OpenCaseResponse:
        gr = await self.api(GR)
        return await gr.open_case(AL, wall_clock_ms() - 6 * HOUR_MS, unit)

    async def link_at(self, node_id: str, case_ref: str) -> str:
        """The link id ``node_id`` holds for ``case_ref`` (found through its worklist)."""
        listed = await (await self.api(node_id)).list_cases(include_closed=True)
        [link] = [c.link_id for c in listed.cases if c.case_ref == case_ref]
        return link

    def body(self, kind: str, case_ref: str, edit: Edit | None = None) -> messages_pb2.Body:
        body = sample_body(kind, case_ref=case_ref, at_ms=wall_clock_ms() - 1000)
        part = getattr(body, kind)
        if "approval" in part.DESCRIPTOR.fields_by_name:
            part.ClearField("approval")  # the node records it when a second person approves
        if edit is not None:
            edit(body)
        return body

    async def send(
        self, node_id: str, case_ref: str, kind: str, edit: Edit | None = None, *, answers: bytes = b""
    ) -> bytes:
        """Send ``kind`` on the link (approved by a second user when needed); wait for the signed receipt."""
        api = await self.api(node_id)
        link = await self.link_at(node_id, case_ref)
        sent = await api.send_case(link, body=self.body(kind, case_ref, edit), in_reply_to=answers)
        if sent.draft_id:
            sent = await (await self.api(node_id, "supervisor.2")).approve_draft(link, sent.draft_id)
        assert sent.message_id
        await self.delivered(node_id, sent.message_id)
        return sent.message_id

    async def delivered(self, node_id: str, message_id: bytes) -> None:
        state = await asyncio.wait_for(self.nodes[node_id].delivery.wait_closed(message_id), 20)
        assert state is DeliveryState.DELIVERED

    async def outbox_size(self, node_id: str) -> int:
        return len((await (await self.api(node_id)).list_outbox(1000)).entries)


@pytest.fixture
async def desk(nodes: dict[str, Node]) -> AsyncIterator[Desk]:
    async with contextlib.AsyncExitStack() as stack:
        yield Desk(nodes, stack)


def ref_to(field: str, message_id: bytes) -> Edit:
    """Point the EvidenceRef ``kind.field`` at a real message (the node binds its hash and kind)."""

    def edit(body: messages_pb2.Body) -> None:
        kind, name = field.split(".")
        ref = getattr(getattr(body, kind), name)
        ref.Clear()
        ref.message_id = message_id

    return edit


def evidence(*message_ids: bytes) -> Edit:
    def edit(body: messages_pb2.Body) -> None:
        proposal = body.durable_solution_proposal
        del proposal.evidence[:]
        proposal.evidence.extend(messages_pb2.EvidenceRef(message_id=m) for m in message_ids)
        proposal.ClearField("gate")  # the State of origin does not evaluate the gate

    return edit


async def _events(node: Node, since: int) -> list[audit_pb2.AuditEvent]:
    rows = await node.store.audit.events(10_000, 0, "")
    return [audit_events.decode(leaf) for i, leaf in reversed(rows) if i >= since]


async def _acknowledged(desk: Desk) -> tuple[str, bytes]:
    opened = await desk.open()
    notification = await desk.send(GR, opened.case_ref, "case_notification")
    await desk.send(AL, opened.case_ref, "acknowledgement", ref_to("acknowledgement.acknowledges", notification))
    return opened.case_ref, notification


async def _negotiating(desk: Desk) -> tuple[str, bytes]:
    """A link in NEGOTIATION: notified, acknowledged, a reintegration plan and the State of origin's proposal."""
    ref, _ = await _acknowledged(desk)
    plan = await desk.send(AL, ref, "reintegration_plan")
    proposal = await desk.send(AL, ref, "durable_solution_proposal", evidence(plan))
    return ref, proposal


async def test_an_opened_case_is_on_the_worklist_and_listing_it_is_one_list_event(desk: Desk) -> None:
    """OpenCase gives a reference and the case belongs to the officer's unit; ListCases shows an
    officer their own unit's links (side, stage, partner), refuses another unit's list with
    ACCESS_DENIED, and writes one LIST event naming the logged-in user and how many links it showed."""
    opened = await desk.open()
    other = await desk.open()
    assert opened.case_ref.startswith("GR-")
    assert opened.link_id != other.link_id
    gr = desk.nodes[GR]
    before = gr.store.audit.size
    listed = await (await desk.api(GR)).list_cases()
    assert {c.case_ref for c in listed.cases} == {opened.case_ref, other.case_ref}
    [mine] = [c for c in listed.cases if c.link_id == opened.link_id]
    assert (mine.partner_node, mine.partner_state, mine.our_side, mine.stage) == (AL, "AL", "IS", "OPEN")
    assert mine.unit == UNITS[GR]
    assert mine.days_in_stage == 0
    only_unit = await (await desk.api(GR)).list_cases(UNITS[GR])
    assert {c.link_id for c in only_unit.cases} == {opened.link_id, other.link_id}
    with pytest.raises(PermissionDenied, match="own unit"):
        await (await desk.api(GR)).list_cases("gr-ekka/thessaloniki")
    with pytest.raises(PermissionDenied, match="own unit"):
        await (await desk.api(GR)).open_case(AL, wall_clock_ms(), "gr-ekka/thessaloniki")
    events = await _events(gr, before)
    lists = [e for e in events if e.kind == Kind.AUDIT_EVENT_KIND_LIST]
    assert [(e.actor, e.count, e.status, e.case_ref) for e in lists] == [
        ("officer.1", 2, "case list", ""),
        ("officer.1", 2, "case list", ""),
    ]
    denied = [(e.actor, e.status) for e in events if e.kind == Kind.AUDIT_EVENT_KIND_ACCESS_DENIED]
    assert denied == [
        ("officer.1", "list cases"),
        ("officer.1", "open a case; send requests, evidence, the child's views"),
    ]


async def test_showing_a_link_gives_its_timeline_and_gate_and_is_a_read_event(desk: Desk) -> None:
    """ShowCase lists each message with its direction and the stage after it, the gate G1–G5 with what is
    missing (identifying State only), and commits a READ event naming the actor, reference and partner."""
    ref, notification = await _acknowledged(desk)
    gr, al = desk.nodes[GR], desk.nodes[AL]
    link = await desk.link_at(GR, ref)
    before = gr.store.audit.size
    shown = await (await desk.api(GR, "reader.7")).show_case(link)
    assert [(e.kind, e.direction, e.stage_after) for e in shown.timeline] == [
        ("case_notification", "sent", "NOTIFIED"),
        ("acknowledgement", "received", "ACKNOWLEDGED"),
    ]
    assert shown.timeline[0].message_id == notification
    assert [(g.condition[:2], g.met) for g in shown.gate] == [(f"G{i}", False) for i in range(1, 6)]
    assert all(g.reason for g in shown.gate)
    reads = [e for e in await _events(gr, before) if e.kind == Kind.AUDIT_EVENT_KIND_READ]
    assert [(e.actor, e.case_ref, e.peer_node) for e in reads] == [("reader.7", ref, AL)]
    at_origin = await (await desk.api(AL)).show_case(case_ref=ref, partner_node=GR)
    assert at_origin.link.stage == "ACKNOWLEDGED"
    assert at_origin.link.our_side == "OS"
    assert [e.direction for e in at_origin.timeline] == ["received", "sent"]
    assert list(at_origin.gate) == []  # the State of origin does not enforce the gate
    with pytest.raises(NotFound, match="no case link with that reference"):
        await (await desk.api(AL)).show_case(case_ref=case_ref_for(77), partner_node=GR)
    assert al.store.audit.size > 0


async def test_a_form_with_several_mistakes_is_refused_with_every_problem_and_nothing_is_queued(desk: Desk) -> None:
    """Every mistake of a form (JSON) or a body comes back at once, one a line with its path, as
    INVALID_ARGUMENT; what the node completes itself (hashes of named messages) is not a mistake."""
    ref, _ = await _acknowledged(desk)
    link = await desk.link_at(GR, ref)
    form = form_of(desk.body("child_views_record", ref))
    form["context"]["urgency"] = "URGNT"
    form["child_views_record"]["heard_by"] = "NOBODY"
    form["child_views_record"]["guardian_presnt"] = True
    rows = await desk.outbox_size(GR)
    api = await desk.api(GR)
    with pytest.raises(UsageError) as refused:
        await api.send_case(link, form_json=json.dumps(form))
    text = str(refused.value)
    assert text.startswith("node refused: INVALID_ARGUMENT: ")
    lines = text.removeprefix("node refused: INVALID_ARGUMENT: ").splitlines()
    paths = [line.split(": ", 1)[0] for line in lines]
    assert paths == ["context.urgency", "child_views_record.heard_by", "child_views_record.guardian_presnt"]
    broken = desk.body("identity_verification_request", ref)
    broken.context.ClearField("attestation")
    broken.identity_verification_request.ClearField("topics")
    with pytest.raises(UsageError) as also:
        await api.send_case(link, body=broken)
    assert len(str(also.value).splitlines()) >= 2
    assert await desk.outbox_size(GR) == rows


async def test_an_approval_filled_in_by_hand_is_refused_and_a_named_message_needs_no_hash(desk: Desk) -> None:
    """A form may not name its own approver (only ApproveDraft records one); an EvidenceRef giving only a
    message id is completed by the node."""
    ref, proposal = await _negotiating(desk)
    link = await desk.link_at(GR, ref)
    body = desk.body("durable_solution_agreement", ref, ref_to("durable_solution_agreement.accepts", proposal))
    body.durable_solution_agreement.approval.prepared_by = "officer.1"
    body.durable_solution_agreement.approval.approved_by = "someone.else"
    with pytest.raises(UsageError, match=r"durable_solution_agreement\.approval: is recorded by the node"):
        await (await desk.api(GR)).send_case(link, body=body)
    body.durable_solution_agreement.ClearField("approval")
    draft = await (await desk.api(GR)).send_case(link, form_json=json.dumps(form_of(body)))
    assert draft.draft_id
    assert draft.kind == "durable_solution_agreement"


async def test_a_message_the_table_forbids_is_failed_precondition_with_its_rule_and_nothing_is_queued(
    desk: Desk,
) -> None:
    """A departure while the link is only ACKNOWLEDGED: FAILED_PRECONDITION naming the rule; no outbox row."""
    ref, _ = await _acknowledged(desk)
    rows = await desk.outbox_size(GR)
    with pytest.raises(PreconditionFailed, match=r"FAILED_PRECONDITION: not sent: .*not allowed in stage ACKNOWLEDGED"):
        await (await desk.api(GR)).send_case(await desk.link_at(GR, ref), body=desk.body("return_status_update", ref))
    assert await desk.outbox_size(GR) == rows


async def test_a_draft_is_approved_only_by_another_user_and_then_sent(desk: Desk) -> None:
    """A proposal is kept as a draft (listed per link and for all links); its preparer cannot approve it;
    another user does, and it travels: both States reach NEGOTIATION and the draft is gone."""
    ref, _ = await _acknowledged(desk)
    plan = await desk.send(AL, ref, "reintegration_plan")
    link = await desk.link_at(AL, ref)
    preparer = await desk.api(AL, "officer.1")
    rows = await desk.outbox_size(AL)
    draft = await preparer.send_case(link, body=desk.body("durable_solution_proposal", ref, evidence(plan)))
    assert draft.draft_id
    assert not draft.message_id
    assert await desk.outbox_size(AL) == rows
    listed = await preparer.list_drafts(link)
    assert [(d.draft_id, d.kind, d.prepared_by, d.case_ref) for d in listed.drafts] == [
        (draft.draft_id, "durable_solution_proposal", "officer.1", ref)
    ]
    assert [d.draft_id for d in (await preparer.list_drafts()).drafts] == [draft.draft_id]
    with pytest.raises(PermissionDenied, match="cannot approve it; another user must"):
        await preparer.approve_draft(link, draft.draft_id)
    sent = await (await desk.api(AL, "supervisor.2")).approve_draft(link, draft.draft_id)
    assert sent.state == local_pb2.DELIVERY_STATE_QUEUED
    await desk.delivered(AL, sent.message_id)
    assert list((await preparer.list_drafts(link)).drafts) == []
    with pytest.raises(NotFound):
        await (await desk.api(AL, "supervisor.3")).approve_draft(link, draft.draft_id)
    shown = await (await desk.api(GR)).show_case(await desk.link_at(GR, ref))
    assert shown.link.stage == "NEGOTIATION"
    assert (await preparer.show_case(link)).link.stage == "NEGOTIATION"


async def test_the_gate_refuses_an_agreement_without_evidence_and_nothing_is_queued(desk: Desk) -> None:
    """The identifying State's approved agreement to a return with no evidence: FAILED_PRECONDITION naming
    the missing conditions; the draft stays open and nothing is sent."""
    ref, proposal = await _negotiating(desk)
    link = await desk.link_at(GR, ref)
    body = desk.body("durable_solution_agreement", ref, ref_to("durable_solution_agreement.accepts", proposal))
    body.durable_solution_agreement.ClearField("gate")
    draft = await (await desk.api(GR)).send_case(link, body=body)
    rows = await desk.outbox_size(GR)
    with pytest.raises(PreconditionFailed, match="FAILED_PRECONDITION: the return gate is not met: G1_SOCIAL"):
        await (await desk.api(GR, "supervisor.2")).approve_draft(link, draft.draft_id)
    assert await desk.outbox_size(GR) == rows
    shown = await (await desk.api(GR)).show_case(link)
    assert shown.link.stage == "NEGOTIATION"
    assert [d.draft_id for d in shown.drafts] == [draft.draft_id]
    assert "G2_RISK_ASSESSMENT" in {g.condition for g in shown.gate if not g.met}


async def test_a_received_message_naming_no_link_is_listed_as_parked(desk: Desk) -> None:
    """A social inquiry report (a kind older nodes send outside links) naming a reference GR never opened:
    GR keeps it and ListParked shows sender, kind, reference and why."""
    stray = case_ref_for(4242, "AL")
    al = await desk.api(AL)
    body = sample_body("social_inquiry_report", case_ref=stray)
    body.context.sender_unit = UNITS[AL]  # an officer sends from their own unit
    sent = await al.submit(local_pb2.SubmitRequest(recipient_node=GR, body=body))
    await desk.delivered(AL, sent.message_id)
    gr = desk.nodes[GR]
    await gr.casework.catch_up()
    parked = await (await desk.api(GR)).list_parked()
    assert [(p.sender_node, p.message_id, p.kind, p.case_ref) for p in parked.entries] == [
        (AL, sent.message_id, "social_inquiry_report", stray)
    ]
    assert parked.entries[0].reason == "no case link has this reference"
