"""The outbox: sealing a message and making it durable before anyone hears "sent".

``Outbox.submit`` checks what the sender must fix (directory expired, unknown recipient, no
agreement covering the kind, an ``in_reply_to`` that names no message exchanged with that
recipient, no encryption key, lifetime, size), seals the body to the recipient
(``focalpoint.exchange.envelope.seal``), and commits the outbox row with its SENT event (group
commit) before it returns; the delivery loop then carries it until a signed receipt closes it.

A repeated ``client_request_id`` is a retry: the same request (recipient, body, ``in_reply_to``,
lifetime) returns the first submission; a different one is refused, and nothing is sent. The
comparison opens the first message's local copy (encrypted under the storage key), so nothing
about the request is kept in the clear; submissions with one id in this process take turns, so a
repeat never seals, never spends a sequence number and never races the first into one batch.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple

import structlog

from focalpoint.errors import RefusalError, StorageError, UsageError
from focalpoint.exchange.body import InvalidBody, body_kind, case_ref_of
from focalpoint.exchange.envelope import Limits, parse_payload, seal
from focalpoint.exchange.policy import check_exchange
from focalpoint.node.delivery import DeliveryManager, Outgoing
from focalpoint.node.keyring import KeyRing
from focalpoint.node.ports import Clock, DirectoryView
from focalpoint.storage.base import DeliveryState, InboxStore, NewOutbox, OutboxRow, OutboxStore
from focalpoint.storage.batching import GroupCommit
from focalpoint.storage.cipher import OUTBOX_PURPOSE, StorageCipher
from focalpoint.v1 import messages_pb2

__all__ = ["Outbox", "Submitted"]

log = structlog.get_logger("focalpoint.node")


@dataclass(frozen=True, slots=True)
class Submitted:
    message_id: bytes
    state: DeliveryState


class Outbox:
    def __init__(
        self,
        *,
        me: str,
        directory: DirectoryView,
        keyring: KeyRing,
        store: OutboxStore,
        inbox: InboxStore,
        cipher: StorageCipher,
        delivery: DeliveryManager,
        limits: Limits,
        default_ttl_s: int,
        clock_ms: Clock,
        check: Callable[[str, messages_pb2.Body, bytes], Awaitable[None]] | None = None,
        on_stored: Callable[[], None] = lambda: None,
    ) -> None:
        """``check``: judges a body against its case before anything is sealed (raises UsageError);
        ``on_stored``: a message was committed (the case work applies it)."""
        self._me = me
        self._directory = directory
        self._keyring = keyring
        self._store = store
        self._inbox = inbox
        self._cipher = cipher
        self._delivery = delivery
        self._limits = limits
        self._default_ttl_s = default_ttl_s
        self._clock = clock_ms
        self._check = check
        self._on_stored = on_stored
        self._sequences: dict[str, int] = {}
        self._sequence_floor = 0
        self._commit: GroupCommit[NewOutbox, bytes] = GroupCommit(store.add)
        # client_request_id -> set when the submission holding it has finished (committed or not).
        self._in_flight: dict[str, asyncio.Event] = {}

    async def load(self, *, sequence_floor: int = 0) -> None:
        """The last sequence number used per peer (numbers continue after a restart); after a
        declared restore they continue above ``sequence_floor`` (``focalpoint.node.restore``)."""
        self._sequences = await self._store.last_sequences()
        self._sequence_floor = sequence_floor

    async def close(self) -> None:
        await self._commit.close()

    async def submit(
        self,
        recipient: str,
        body: messages_pb2.Body,
        *,
        in_reply_to: bytes = b"",
        ttl_seconds: int = 0,
        client_request_id: str | None = None,
    ) -> Submitted:
        """Seal and durably queue a message; raises UsageError for anything the caller must fix,
        including a ``client_request_id`` used before for a different request."""
        if in_reply_to and len(in_reply_to) != 16:
            raise UsageError("in_reply_to must be a 16-byte message id")
        request = _Request(recipient, body, in_reply_to, ttl_seconds or self._default_ttl_s)
        if client_request_id is None:
            return await self._submit(request, None)
        while (busy := self._in_flight.get(client_request_id)) is not None:
            await busy.wait()
        done = self._in_flight[client_request_id] = asyncio.Event()  # no await since the check
        try:
            earlier = await self._store.by_client_request(client_request_id)
            if earlier is not None:
                return self._repeat(client_request_id, earlier, request)
            return await self._submit(request, client_request_id)
        finally:
            del self._in_flight[client_request_id]
            done.set()

    def _repeat(self, client_request_id: str, earlier: OutboxRow, request: _Request) -> Submitted:
        """The earlier submission, if ``request`` is the same; raises UsageError naming what differs."""
        local = self._cipher.open(earlier.local_copy, purpose=OUTBOX_PURPOSE, message_id=earlier.message_id)
        content = parse_payload(local)
        differs = [
            what
            for what, same in (
                ("recipient", earlier.recipient == request.recipient),
                ("body", content.body == request.body),
                ("in_reply_to", content.in_reply_to == request.in_reply_to),
                ("ttl_seconds", earlier.expires_at_ms - earlier.created_at_ms == request.ttl_s * 1000),
            )
            if not same
        ]
        if differs:
            raise UsageError(
                f"client_request_id {client_request_id!r} was already used for message {earlier.message_id.hex()}"
                f" with a different {', '.join(differs)}; this submission was not sent (a retry must repeat the"
                " request exactly; a new message needs a new client_request_id)"
            )
        return Submitted(earlier.message_id, earlier.state)

    async def _check_reply(self, recipient: str, in_reply_to: bytes) -> None:
        """``in_reply_to`` must name a message received from ``recipient`` or sent to it; raises UsageError."""
        if await self._inbox.get(recipient, in_reply_to) is not None:
            return
        sent = await self._store.get(in_reply_to)
        if sent is not None and sent.recipient == recipient:
            return
        if sent is not None or await self._inbox.find(in_reply_to):
            raise UsageError(
                f"in_reply_to {in_reply_to.hex()} is a message exchanged with another node, not with {recipient!r}"
            )
        raise UsageError(
            f"in_reply_to {in_reply_to.hex()} is not a message this node received from {recipient!r} or sent to it"
        )

    async def _submit(self, request: _Request, client_request_id: str | None) -> Submitted:
        recipient, body, in_reply_to, ttl = request
        now = self._clock()
        directory = self._directory()
        if directory.expires_at_ms <= now:
            raise UsageError(
                f"directory version {directory.version} has expired; sending is refused until it is renewed"
            )
        if recipient == self._me:
            raise UsageError("a node cannot send a message to itself")
        info = directory.node(recipient)
        if info is None:
            raise UsageError(f"recipient {recipient!r} is not in directory version {directory.version}")
        try:
            check_exchange(directory, sender_node=self._me, recipient_node=recipient, kind=body_kind(body), body=body)
        except RefusalError as e:
            raise UsageError(f"not sent: {e.reason}") from e
        if in_reply_to:
            await self._check_reply(recipient, in_reply_to)
        if self._check is not None:
            await self._check(recipient, body, in_reply_to)
        key = info.active_encryption_key(now)
        if key is None:
            raise UsageError(
                f"recipient {recipient!r} has no active encryption key in directory version {directory.version}"
            )
        if not 60 <= ttl <= self._limits.max_lifetime_ms // 1000:
            raise UsageError(f"ttl_seconds must be between 60 and {self._limits.max_lifetime_ms // 1000}, got {ttl}")
        # No await between taking the sequence number and using it, so numbers are unique; a
        # number is only burnt when the commit itself fails (the user then gets the error).
        sequence = max(self._sequences.get(recipient, 0), self._sequence_floor) + 1
        message_id = secrets.token_bytes(16)
        try:
            sealed = seal(  # validates the body (focalpoint.exchange.body) before signing anything
                signer=self._keyring.signer,
                sender_node=self._me,
                recipient_node=recipient,
                recipient_key=key,
                body=body,
                message_id=message_id,
                created_at_ms=now,
                expires_at_ms=now + ttl * 1000,
                directory_version=directory.version,
                sequence=sequence,
                in_reply_to=in_reply_to,
            )
        except InvalidBody as e:
            raise UsageError(f"invalid message body: {e}") from e
        envelope_bytes = sealed.envelope.SerializeToString()
        if len(envelope_bytes) > self._limits.max_envelope_bytes:
            raise UsageError(
                f"message is {len(envelope_bytes)} bytes sealed; the limit is {self._limits.max_envelope_bytes}"
            )
        self._sequences[recipient] = sequence
        stored_id = await self._commit.submit(
            NewOutbox(
                message_id=message_id,
                recipient=recipient,
                peer_sequence=sequence,
                envelope=envelope_bytes,
                digest=sealed.digest,
                local_copy=self._cipher.seal(sealed.payload, purpose=OUTBOX_PURPOSE, message_id=message_id),
                created_at_ms=now,
                expires_at_ms=now + ttl * 1000,
                client_request_id=client_request_id,
                case_ref=case_ref_of(body),
                message_kind=body_kind(body),
            )
        )
        if stored_id != message_id:
            # Another process on this database committed this client_request_id first.
            earlier = await self._store.get(stored_id)
            if earlier is None or client_request_id is None:
                raise StorageError("the outbox answered with a message it does not hold")
            return self._repeat(client_request_id, earlier, request)
        self._on_stored()
        self._delivery.enqueue(recipient, Outgoing(message_id, envelope_bytes, sealed.digest))
        log.debug("message_queued", recipient=recipient, message_id=message_id.hex(), sequence=sequence)
        return Submitted(message_id, DeliveryState.QUEUED)


class _Request(NamedTuple):
    """What a client_request_id stands for: a repeat must ask for the same."""

    recipient: str
    body: messages_pb2.Body
    in_reply_to: bytes
    ttl_s: int
