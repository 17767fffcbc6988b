"""The demo's case story: officials of two States working links through their nodes' local APIs.

Each step is a call an official's client makes (``focalpoint.client``): open a case, send a
sample body on a link (the node binds the hashes of the messages it names and evaluates the
return gate), approve a draft as a second person, read a timeline. ``Desk.send`` waits for the
partner's signed receipt before the story goes on, so each step sees the one before it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from focalpoint.client import LocalClient
from focalpoint.errors import FocalpointError
from focalpoint.localnet.samples import sample_body
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState
from focalpoint.v1 import local_pb2, messages_pb2

__all__ = ["OFFICER", "SUPERVISOR", "UNITS", "Desk", "Edit", "accepts", "evidence", "identified"]

Edit = Callable[[messages_pb2.Body], None]
HOUR_MS = 3_600_000
# The unit of each node the story's messages address (context.sender_unit, recipient_unit): a link a
# partner opens is owned by the unit it addressed, so the officials of that unit see it.
UNITS = {"gr-ekka": "gr-ekka/athens", "al-shss": "al-shss/tirana", "it-dgi": "it-dgi/rome"}
# Who prepares the story's messages, and who approves those a second person must.
OFFICER, SUPERVISOR = "officer.1", "supervisor.2"


def accepts(field_path: str, message_id: bytes) -> Edit:
    """Point the EvidenceRef ``kind.field`` at a real message of the link (the node binds its hash)."""

    def edit(body: messages_pb2.Body) -> None:
        kind, name = field_path.split(".")
        ref = getattr(getattr(body, kind), name)
        ref.Clear()
        ref.message_id = message_id

    return edit


def evidence(*message_ids: bytes) -> Edit:
    """A proposal resting on these messages; the State of origin makes no gate claim."""

    def edit(body: messages_pb2.Body) -> None:
        proposal = body.durable_solution_proposal
        del proposal.evidence[:]
        proposal.evidence.extend(messages_pb2.EvidenceRef(message_id=m) for m in message_ids)
        proposal.ClearField("gate")

    return edit


def identified(at_ms: int) -> Edit:
    """The notification of a child identified at ``at_ms``, with a guardian appointed an hour later."""

    def edit(body: messages_pb2.Body) -> None:
        notification = body.case_notification
        notification.identified_at_ms = at_ms
        notification.guardian.appointed_at_ms = at_ms + HOUR_MS

    return edit


@dataclass
class Desk:
    """Every official's logged-in client, by (node, user id), and the links each node holds, by reference."""

    nodes: dict[str, Node]
    clients: dict[tuple[str, str], LocalClient]
    agreement_id: str
    say: Callable[[str, str], None]
    links: dict[tuple[str, str], str] = field(default_factory=dict)
    sent: int = 0

    def api(self, node_id: str, user: str = OFFICER) -> LocalClient:
        return self.clients[node_id, user]

    async def link(self, node_id: str, case_ref: str) -> str:
        """The link id ``node_id`` holds for ``case_ref`` (from its worklist)."""
        if (node_id, case_ref) not in self.links:
            listed = await self.api(node_id).list_cases(include_closed=True, limit=1000)
            for c in listed.cases:
                self.links[node_id, c.case_ref] = c.link_id
        return self.links[node_id, case_ref]

    def body(self, node_id: str, partner: str, kind: str, case_ref: str, edit: Edit | None) -> messages_pb2.Body:
        body = sample_body(kind, case_ref=case_ref, at_ms=wall_clock_ms() - 1000)
        body.context.agreement_id = self.agreement_id
        body.context.sender_unit = UNITS[node_id]
        body.context.recipient_unit = UNITS[partner]
        part = getattr(body, kind)
        if "approval" in part.DESCRIPTOR.fields_by_name:
            part.ClearField("approval")  # recorded by the node when a second person approves
        if edit is not None:
            edit(body)
        return body

    async def prepare(
        self, node_id: str, partner: str, case_ref: str, kind: str, edit: Edit | None = None, *, answers: bytes = b""
    ) -> local_pb2.SendCaseResponse:
        link = await self.link(node_id, case_ref)
        body = self.body(node_id, partner, kind, case_ref, edit)
        return await self.api(node_id).send_case(link, body=body, in_reply_to=answers)

    async def send(
        self, node_id: str, partner: str, case_ref: str, kind: str, edit: Edit | None = None, *, answers: bytes = b""
    ) -> bytes:
        """Send ``kind`` (a second person approves it when the kind needs one); wait for its signed receipt."""
        resp = await self.prepare(node_id, partner, case_ref, kind, edit, answers=answers)
        who = node_id[:2].upper()
        if resp.draft_id:
            self.say(who, f"{kind}: kept as draft {resp.draft_id[:8]}… until a second person approves")
            link = await self.link(node_id, case_ref)
            resp = await self.api(node_id, SUPERVISOR).approve_draft(link, resp.draft_id)
            self.say(who, f"approved by {SUPERVISOR} (not the preparer); the approval travels in the signed message")
        await self.closed(node_id, resp.message_id)
        self.sent += 1
        self.say(who, f"{kind} → {partner}: signed receipt verified, id {resp.message_id.hex()[:12]}…")
        return resp.message_id

    async def closed(self, node_id: str, message_id: bytes) -> None:
        state = await asyncio.wait_for(self.nodes[node_id].delivery.wait_closed(message_id), 20)
        if state is not DeliveryState.DELIVERED:
            raise FocalpointError(f"message {message_id.hex()} ended {state.name}, not DELIVERED")

    async def outbox_size(self, node_id: str) -> int:
        return len((await self.api(node_id).list_outbox(1000)).entries)
