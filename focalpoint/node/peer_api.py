"""What this node answers to its peers, whatever carries the call (gRPC, or a test network).

Every method takes ``peer``, the node the transport authenticated (the TLS pin on the gRPC
door), never a name the caller wrote. Delivery and pings are open to every node of the
directory (the receive checks decide); the audit calls are for agreement partners only,
and a partner is shown an event of this node's log only when it is an exchange with that
partner. Errors are typed (``PermissionDenied``, ``OutOfRange``, ``NotFound``,
``PreconditionFailed``, ``UsageError``, ``StorageError``); the door maps them to statuses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog
from google.protobuf.message import DecodeError

from focalpoint.audit import events as audit_events
from focalpoint.audit.checkpoint import checked_cosignature
from focalpoint.errors import NotFound, OutOfRange, PermissionDenied, UsageError, VerificationError
from focalpoint.exchange import reconcile
from focalpoint.exchange.ping import answer_ping
from focalpoint.exchange.policy import partners
from focalpoint.node.checkpoints import Checkpoints
from focalpoint.node.inbox import Inbox
from focalpoint.node.keyring import KeyRing
from focalpoint.node.ports import Clock, DirectoryView
from focalpoint.storage.base import AuditStore, InboxStore
from focalpoint.v1 import audit_pb2, envelope_pb2, node_pb2

__all__ = ["PeerApi"]

log = structlog.get_logger("focalpoint.node")


class PeerApi:
    def __init__(
        self,
        *,
        me: str,
        directory: DirectoryView,
        inbox: Inbox,
        inbox_store: InboxStore,
        keyring: KeyRing,
        audit: AuditStore,
        checkpoints: Checkpoints,
        bundle: Callable[[], tuple[int, bytes]],
        clock_ms: Clock,
        clock_skew_ms: int,
        on_alive: Callable[[str], None] = lambda peer: None,
    ) -> None:
        """``clock_skew_ms``: how far ahead of this node's clock a partner's cosignature may be dated;
        ``on_alive``: told of every call, a sign of life of the caller (its queue here is retried now)."""
        self._me = me
        self._directory = directory
        self._inbox = inbox
        self._store = inbox_store
        self._keyring = keyring
        self._audit = audit
        self._checkpoints = checkpoints
        self._bundle = bundle
        self._clock = clock_ms
        self._skew_ms = clock_skew_ms
        self._on_alive = on_alive

    # --- any node of the directory ----------------------------------------------------------

    async def deliver(self, peer: str, envelope: envelope_pb2.Envelope) -> node_pb2.DeliverResponse:
        """Receive steps 1–16; raises RefusalError."""
        self._on_alive(peer)
        return await self._inbox.receive(envelope, peer)

    async def deliver_batch(
        self, peer: str, envelopes: Sequence[envelope_pb2.Envelope]
    ) -> list[node_pb2.DeliveryResult]:
        self._on_alive(peer)
        return await self._inbox.receive_batch(envelopes, peer)

    async def ping(self, peer: str, request: node_pb2.PingRequest) -> node_pb2.PingResponse:
        """Check a signed ping and sign the answer; raises RefusalError."""
        self._on_alive(peer)
        return answer_ping(
            request,
            signer=self._keyring.signer,
            me=self._me,
            tls_peer=peer,
            directory=self._directory(),
            now_ms=self._clock(),
        )

    async def receipts(self, peer: str, request: node_pb2.ReceiptsRequest) -> node_pb2.ReceiptsResponse:
        """Which of the caller's messages this node holds, with the receipts it gave then
        (reconciliation, ``focalpoint.exchange.reconcile``); raises UsageError for a bad question.
        A caller learns only about messages it sent itself: the inbox is looked up by its name."""
        self._on_alive(peer)
        ids = reconcile.asked_ids(request)
        held = await self._store.receipts(peer, ids)
        for message_id in (m for m, raw in held.items() if raw is None):
            log.error("receipt_unreadable", peer=peer, message_id=message_id.hex(), action="restore from a backup")
        return reconcile.answer(request, held, self._clock())

    def bundle(self, known_version: int) -> tuple[int, bytes | None]:
        """The directory this node verified, if newer than ``known_version``."""
        version, raw = self._bundle()
        return version, (raw if version > known_version else None)

    # --- agreement partners only -----------------------------------------------------------

    def _partner(self, peer: str) -> None:
        if peer not in partners(self._directory(), self._me):
            raise PermissionDenied("only agreement partners witness this log")

    def _sizes(self, low: int, high: int, what: str) -> None:
        size = self._audit.size
        if not 0 < low <= high <= size:
            raise OutOfRange(f"{what}: need 0 < {low} ≤ {high} ≤ {size} (log size)")

    async def checkpoint(self, peer: str, log_node: str) -> audit_pb2.SignedCheckpoint:
        """This node's latest checkpoint, or the latest of ``log_node``'s this node cosigned.

        Another node's log only to a caller that may exchange with it too (gossip, docs/protocol.md
        §10.5): a node learns nothing about the log of a node it has no agreement with. Decided from
        the directory alone, before any lookup, so the refusal says nothing the caller could not
        work out itself (not even whether this node witnesses that log). Raises PermissionDenied.
        """
        self._partner(peer)
        if log_node in ("", self._me):
            return await self._checkpoints.get(create=False)
        directory, named = self._directory(), repr(log_node[:64])
        if log_node != peer:
            rule = "this node tells a partner about another node's log only when that node is a partner of both"
            if log_node not in partners(directory, self._me):
                raise PermissionDenied(f"{rule}; {named} is not a partner of this node")
            if log_node not in partners(directory, peer):
                raise PermissionDenied(f"{rule}; {peer!r} has no agreement in force with {named}")
        raw = await self._audit.witnessed(log_node)
        if raw is None:
            raise NotFound(f"this node has cosigned no checkpoint of {log_node!r}")
        return audit_pb2.SignedCheckpoint.FromString(raw)

    async def inclusion_proof(self, peer: str, index: int, size: int) -> audit_pb2.InclusionProofResponse:
        """The proof, and the event itself only if it is an exchange with the caller (anyone
        else must already know the leaf)."""
        self._partner(peer)
        self._sizes(index + 1, size, "inclusion proof")
        leaf, path = await self._audit.read(lambda view: (view.leaf(index), view.inclusion_proof(index, size)))
        event = audit_events.decode(leaf)
        shown = event.peer_node == peer and event.kind in audit_events.EXCHANGE_KINDS
        return audit_pb2.InclusionProofResponse(leaf=leaf if shown else b"", path=path)

    async def consistency_proof(self, peer: str, old: int, new: int) -> list[bytes]:
        self._partner(peer)
        self._sizes(old, new, "consistency proof")
        return await self._audit.read(lambda view: view.consistency_proof(old, new))

    async def cosign(self, peer: str, cosignature: audit_pb2.Cosignature) -> None:
        """Keep a partner's cosignature of one of this node's checkpoints; raises UsageError
        when it is not a valid cosignature, by the caller, of a checkpoint this node signed,
        dated no later than this node's clock allows (its clock-skew window)."""
        self._partner(peer)
        try:
            content, kept = checked_cosignature(
                cosignature,
                self._directory(),
                checkpoint=audit_pb2.CosignedContent.FromString(cosignature.content).checkpoint,
                now_ms=self._clock(),
                skew_ms=self._skew_ms,
            )
            if content.witness_node != peer:
                raise VerificationError(f"the cosignature names {content.witness_node!r}, but the caller is {peer!r}")
            size = audit_pb2.Checkpoint.FromString(content.checkpoint).size
            if size > self._audit.size:  # never signed, and beyond what storage can even look up
                raise VerificationError(
                    f"this node signed no checkpoint of size {size}; its log has {self._audit.size}"
                )
            mine = await self._audit.checkpoint_at(size)
            if mine is None or audit_pb2.SignedCheckpoint.FromString(mine).checkpoint != content.checkpoint:
                raise VerificationError(f"this node signed no such checkpoint of size {size}")
        except (VerificationError, DecodeError) as e:
            raise UsageError(f"cosignature refused: {e}") from e
        await self._audit.add_cosignature(size, peer, kept.SerializeToString())  # only what verified
        log.info("checkpoint_cosigned", witness=peer, size=size)
