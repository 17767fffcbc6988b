"""Case work applying received messages to their links: the STATUS_CHANGED leaves it writes name
the stage the worklist showed and the stage it shows now (docs/adr/0014)."""

from __future__ import annotations

import os
from collections.abc import Callable

from directory import Directory, NodeInfo
from focalpoint.audit import events as audit_events
from focalpoint.cases.stages import Stage
from focalpoint.crypto.signing import Ed25519Signer
from focalpoint.crypto.suite import EncryptionPrivateKey
from focalpoint.exchange.envelope import seal
from focalpoint.localnet.samples import SAMPLE_AT_MS, case_ref_for, sample_body
from focalpoint.node.casework import CaseWork
from focalpoint.storage.base import LinkRow, NewInbox
from focalpoint.storage.cipher import StorageCipher, inbox_purpose
from focalpoint.storage.memory import MemoryStore
from focalpoint.v1 import audit_pb2, codes_pb2, messages_pb2

_ME, _PARTNER = "al-fp", "gr-ekka"  # this node is the State of origin; the partner identified the child
_DAY_MS = 86_400_000
_REF = case_ref_for(42, "GR")


def _node(node_id: str, state: str) -> NodeInfo:
    return NodeInfo(node_id=node_id, state=state, institution="", endpoint="", tls_keys=(), signing_keys={},
                    encryption_keys={}, languages=(), _verifiers={}, _encryption={})  # fmt: skip


class _Node:
    """One node's case work over the in-memory store, receiving sealed messages from its partner."""

    def __init__(self) -> None:
        self.now = SAMPLE_AT_MS
        self.store = MemoryStore()
        self.cipher = StorageCipher(os.urandom(32))
        self.signer, self.key = Ed25519Signer.generate(), EncryptionPrivateKey.generate()
        self.sequence = 0
        directory = Directory.build(version=1, issued_at_ms=0, expires_at_ms=self.now + 365 * _DAY_MS,
                                    nodes=[_node(_ME, "AL"), _node(_PARTNER, "GR")], raw=b"")  # fmt: skip
        self.work = CaseWork(me=_ME, directory=lambda: directory, store=self.store.cases, inbox=self.store.inbox,
                             outbox=self.store.outbox, cipher=self.cipher, clock_ms=lambda: self.now)  # fmt: skip

    async def receive(self, kind: str, edit: Callable[[messages_pb2.Body], None] = lambda body: None) -> None:
        """Commit one message from the partner to the inbox, then apply it."""
        self.sequence += 1
        body = sample_body(kind, case_ref=_REF, at_ms=self.now)
        edit(body)
        sealed = seal(signer=self.signer, sender_node=_PARTNER, recipient_node=_ME, recipient_key=self.key.public,
                      body=body, message_id=os.urandom(16), created_at_ms=self.now,
                      expires_at_ms=self.now + 30 * _DAY_MS, directory_version=1, sequence=self.sequence)  # fmt: skip
        local_copy = self.cipher.seal(sealed.payload, purpose=inbox_purpose(_PARTNER), message_id=sealed.message_id)
        row = NewInbox(sender=_PARTNER, message_id=sealed.message_id, envelope=sealed.envelope.SerializeToString(),
                       digest=sealed.digest, local_copy=local_copy, received_at_ms=self.now,
                       expires_at_ms=self.now + 30 * _DAY_MS, case_ref=_REF, message_kind=kind)  # fmt: skip
        await self.store.inbox.add([row], lambda fresh: [b"receipt" for _ in fresh])
        assert await self.work.catch_up() == 1

    async def link(self) -> LinkRow:
        link = await self.store.cases.link_by_ref(_REF, _PARTNER)
        assert link is not None
        return link

    async def statuses(self) -> list[str]:
        """The STATUS_CHANGED leaves of the link, oldest first."""
        leaves = await self.store.audit.events(100, 0, _REF)
        events = [audit_events.decode(leaf) for _, leaf in reversed(leaves)]
        return [e.status for e in events if e.kind == audit_pb2.AUDIT_EVENT_KIND_STATUS_CHANGED]


async def test_a_received_message_that_moves_the_stage_logs_one_change_from_the_stage_shown_before() -> None:
    """A notification opens the link as RECEIVED, an inquiry request moves it to ASSESSMENT: one leaf each."""
    node = _Node()
    await node.receive("case_notification")
    assert (await node.link()).stage is Stage.RECEIVED
    node.now += _DAY_MS
    await node.receive("social_inquiry_request")
    assert (await node.link()).stage is Stage.ASSESSMENT
    assert await node.statuses() == ["OPEN→RECEIVED", "RECEIVED→ASSESSMENT"]


async def test_a_closure_left_unanswered_is_logged_when_the_next_message_writes_the_closed_stage() -> None:
    """A closure request unanswered for 30 days closes the link (T18); the write showing CLOSED logs CLOSING→CLOSED."""

    def missing_not_found(body: messages_pb2.Body) -> None:
        body.case_closure.outcome = codes_pb2.CLOSURE_OUTCOME_MISSING_NOT_FOUND

    node = _Node()
    await node.receive("case_notification")
    node.now += _DAY_MS
    await node.receive("case_closure", missing_not_found)
    assert (await node.link()).stage is Stage.CLOSING
    node.now += 31 * _DAY_MS
    await node.receive("protection_alert")  # folded before time closes the link (settled at the end)
    link = await node.link()
    assert (link.stage, link.closed) == (Stage.CLOSED, True)
    assert await node.statuses() == ["OPEN→RECEIVED", "RECEIVED→CLOSING", "CLOSING→CLOSED"]
