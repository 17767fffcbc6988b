"""Officials of two or three States at their nodes' local APIs, for the acceptance scenarios.

Every step is a call an official's client makes (``focalpoint.client.LocalClient``): open a case,
send a sample body on a link (a second user approves a draft when the kind needs one), read a
timeline, a message or the audit log. ``converged`` checks what both States must agree on at the
end of a scenario: the same stage, the same message ids, audit logs that verify, and (where the
agreement lets them witness each other) each node cosigning the other's latest checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable

from focalpoint.audit import events as audit_events
from focalpoint.client import LocalClient
from focalpoint.localnet import LocalNetwork
from focalpoint.localnet.people import People
from focalpoint.localnet.samples import sample_body
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState
from focalpoint.v1 import audit_pb2, directory_pb2, local_pb2, messages_pb2

__all__ = [
    "AL",
    "GR",
    "HOUR_MS",
    "IT",
    "Edit",
    "Officials",
    "agreement_status",
    "evidence",
    "identified",
    "ref_to",
    "republish",
]

GR, AL, IT = "gr-ekka", "al-shss", "it-dgi"
HOUR_MS = 3_600_000
UNITS = {GR: "gr-ekka/athens", AL: "al-shss/elbasan", IT: "it-dgi/rome"}
PREPARER, APPROVER = "officer.1", "supervisor.2"
# How long a scenario waits for a partner's node to do something by itself (bounded polling).
_POLLS, _POLL_S = 400, 0.05

Edit = Callable[[messages_pb2.Body], None]


def ref_to(field: str, message_id: bytes) -> Edit:
    """Point the EvidenceRef ``kind.field`` at a real message of the link (the node binds its hash and kind)."""

    def edit(body: messages_pb2.Body) -> None:
        kind, name = field.split(".")
        ref = getattr(getattr(body, kind), name)
        ref.Clear()
        ref.message_id = message_id

    return edit


def evidence(*message_ids: bytes) -> Edit:
    """A proposal resting on these messages of the link; the State of origin makes no gate claim."""

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


async def republish(
    network: LocalNetwork, nodes: dict[str, Node], mutate: Callable[[dict[str, directory_pb2.Agreement]], None]
) -> None:
    """Publish the next directory with the agreements changed; wait until every node has loaded it."""
    network.publish(now=dt.datetime.now(dt.UTC), mutate_agreements=mutate)
    deadline = time.monotonic() + _POLLS * _POLL_S
    for _ in range(_POLLS):
        if all(n.cache.current.version >= network.version for n in nodes.values()):
            return
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(_POLL_S)
    raise AssertionError(f"not every node loaded directory version {network.version}")


def agreement_status(
    agreement_id: str, status: directory_pb2.AgreementStatus.ValueType
) -> Callable[[dict[str, directory_pb2.Agreement]], None]:
    def mutate(agreements: dict[str, directory_pb2.Agreement]) -> None:
        agreements[agreement_id].status = status

    return mutate


class Officials:
    """Every official's client, by (node, user), and the links each node holds, by reference."""

    def __init__(self, nodes: dict[str, Node], stack: contextlib.AsyncExitStack) -> None:
        self.nodes = nodes
        self._stack = stack
        self._people: dict[str, People] = {}
        self._links: dict[tuple[str, str], str] = {}

    def people(self, node_id: str) -> People:
        """The accounts of ``node_id`` (made through its local API on first use)."""
        if node_id not in self._people:
            node = self.nodes[node_id]
            people = People(
                f"127.0.0.1:{node.local_port}",
                node.keyring.keys.local_api_token,
                unit=UNITS[node_id],
                clock_ms=node.clock_ms,
            )
            self._stack.push_async_callback(people.close)
            self._people[node_id] = people
        return self._people[node_id]

    async def api(self, node_id: str, actor: str = PREPARER) -> LocalClient:
        """A logged-in case officer of ``node_id``'s unit (who may approve what another prepared)."""
        return await self.people(node_id).client(actor)

    async def open(
        self, partner: str = AL, *, at: str = GR, hours_ago: int = 6, tracing: bool = False
    ) -> tuple[str, int]:
        """Open a case at ``at`` with ``partner``, the child identified ``hours_ago`` (``tracing``: the
        State of origin opens it, no identification yet); its reference and that time."""
        identified_at = 0 if tracing else wall_clock_ms() - hours_ago * HOUR_MS
        opened = await (await self.api(at)).open_case(partner, identified_at, UNITS[at], tracing=tracing)
        self._links[at, opened.case_ref] = opened.link_id
        return opened.case_ref, identified_at

    async def link(self, node_id: str, case_ref: str) -> str:
        """The link id ``node_id`` holds for ``case_ref`` (from its worklist)."""
        if (node_id, case_ref) not in self._links:
            listed = await (await self.api(node_id)).list_cases(include_closed=True, limit=1000)
            for c in listed.cases:
                self._links[node_id, c.case_ref] = c.link_id
        return self._links[node_id, case_ref]

    def body(
        self, sender: str, recipient: str, kind: str, case_ref: str, edit: Edit | None = None
    ) -> messages_pb2.Body:
        """A complete sample of ``kind`` from ``sender`` to ``recipient``, without what the node records itself."""
        body = sample_body(kind, case_ref=case_ref, at_ms=wall_clock_ms() - 1000)
        body.context.agreement_id = "-".join(sorted((sender[:2].upper(), recipient[:2].upper())))
        body.context.sender_unit = UNITS[sender]
        body.context.recipient_unit = UNITS[recipient]
        part = getattr(body, kind)
        if "approval" in part.DESCRIPTOR.fields_by_name:
            part.ClearField("approval")  # recorded by the node when a second person approves
        if edit is not None:
            edit(body)
        return body

    async def prepare(
        self,
        sender: str,
        recipient: str,
        case_ref: str,
        kind: str,
        edit: Edit | None = None,
        *,
        answers: bytes = b"",
        actor: str = PREPARER,
    ) -> local_pb2.SendCaseResponse:
        """SendCase as ``actor``: queued (message_id) or kept as a draft (draft_id)."""
        body = self.body(sender, recipient, kind, case_ref, edit)
        link = await self.link(sender, case_ref)
        return await (await self.api(sender, actor)).send_case(link, body=body, in_reply_to=answers)

    async def send(
        self, sender: str, recipient: str, case_ref: str, kind: str, edit: Edit | None = None, *, answers: bytes = b""
    ) -> bytes:
        """Send ``kind`` (approved by a second user when the node keeps it as a draft); wait for its receipt."""
        sent = await self.prepare(sender, recipient, case_ref, kind, edit, answers=answers)
        if sent.draft_id:
            return await self.approve(sender, case_ref, sent.draft_id)
        await self.delivered(sender, sent.message_id)
        return sent.message_id

    async def approve(self, node_id: str, case_ref: str, draft_id: str, *, actor: str = APPROVER) -> bytes:
        """A second user approves a draft; wait for the partner's signed receipt."""
        link = await self.link(node_id, case_ref)
        sent = await (await self.api(node_id, actor)).approve_draft(link, draft_id)
        await self.delivered(node_id, sent.message_id)
        return sent.message_id

    async def delivered(self, node_id: str, message_id: bytes) -> None:
        state = await asyncio.wait_for(self.nodes[node_id].delivery.wait_closed(message_id), 20)
        if state is not DeliveryState.DELIVERED:
            raise AssertionError(f"message {message_id.hex()} ended {state.name}, not DELIVERED")

    async def outbox_size(self, node_id: str) -> int:
        return len((await (await self.api(node_id)).list_outbox(1000)).entries)

    async def show(self, node_id: str, case_ref: str) -> local_pb2.ShowCaseResponse:
        return await (await self.api(node_id)).show_case(await self.link(node_id, case_ref))

    async def stage(self, node_id: str, case_ref: str) -> str:
        return (await self.show(node_id, case_ref)).link.stage

    async def received(
        self, node_id: str, case_ref: str, kind: str, count: int = 1
    ) -> list[local_pb2.CaseTimelineEntry]:
        """Wait until ``node_id``'s timeline holds ``count`` received ``kind`` (the partner's node may
        send them on its own); every such entry, in timeline order (fewer if none came in time)."""
        deadline = time.monotonic() + _POLLS * _POLL_S
        found: list[local_pb2.CaseTimelineEntry] = []
        for _ in range(_POLLS):
            shown = await self.show(node_id, case_ref)
            found = [e for e in shown.timeline if e.kind == kind and e.direction == "received"]
            if len(found) >= count or time.monotonic() > deadline:
                break
            await asyncio.sleep(_POLL_S)
        return found

    async def audit(self, node_id: str, case_ref: str) -> list[audit_pb2.AuditEvent]:
        """The link's audit events at ``node_id``, oldest first (ListAudit, filtered by reference)."""
        listed = await (await self.people(node_id).operator()).list_audit(limit=1000, case_ref=case_ref)
        return [audit_events.decode(e.leaf) for e in sorted(listed.entries, key=lambda e: e.index)]

    async def statuses(self, node_id: str, case_ref: str) -> list[str]:
        """The STATUS_CHANGED leaves of the link at ``node_id``, in log order."""
        changed = audit_pb2.AUDIT_EVENT_KIND_STATUS_CHANGED
        return [e.status for e in await self.audit(node_id, case_ref) if e.kind == changed]

    async def converged(self, case_ref: str, a: str = GR, b: str = AL, *, witness: bool = True) -> str:
        """Assert both nodes show the link in one stage with the same message ids, their audit logs
        verify and (``witness``) each cosigns the other's newest checkpoint; return the stage."""
        shown = {n: await self.show(n, case_ref) for n in (a, b)}
        stages = {n: s.link.stage for n, s in shown.items()}
        ids = {n: sorted(e.message_id.hex() for e in s.timeline) for n, s in shown.items()}
        if stages[a] != stages[b]:
            raise AssertionError(f"stages differ: {stages}")
        if ids[a] != ids[b]:
            raise AssertionError(f"message ids differ: {ids}")
        for n in (a, b):
            verified = await (await self.people(n).operator()).verify_audit()
            if not verified.ok:
                raise AssertionError(f"{n}'s audit log does not verify: {verified.reason}")
        if witness:
            for log_node, witness_node in ((a, b), (b, a)):
                checkpoint = await (await self.people(log_node).operator()).checkpoint(create=True)
                outcome = await self.nodes[witness_node].witness.check(log_node)
                size = audit_pb2.Checkpoint.FromString(checkpoint.checkpoint).size
                if outcome.result not in ("cosigned", "unchanged") or outcome.size < size:
                    raise AssertionError(f"{witness_node} did not cosign {log_node}'s log: {outcome}")
        return stages[a]
