"""The outbox: sealing a message and making it durable before anyone hears "sent".

``Outbox.submit`` checks what the sender must fix (directory expired, unknown recipient, no
agreement covering the kind, no encryption key, lifetime, size), seals the body to the
recipient (``focalpoint.exchange.envelope.seal``), and commits the outbox row with its SENT
event (group commit) before it returns; the delivery loop then carries it until a signed
receipt closes it. A repeated ``client_request_id`` returns the first submission.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import structlog

from focalpoint.errors import RefusalError, UsageError
from focalpoint.exchange.body import InvalidBody, body_kind, case_ref_of
from focalpoint.exchange.envelope import Limits, seal
from focalpoint.exchange.policy import check_exchange
from focalpoint.node.delivery import DeliveryManager, Outgoing
from focalpoint.node.keyring import KeyRing
from focalpoint.node.ports import Clock, DirectoryView
from focalpoint.storage.base import DeliveryState, NewOutbox, OutboxStore
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
        cipher: StorageCipher,
        delivery: DeliveryManager,
        limits: Limits,
        default_ttl_s: int,
        clock_ms: Clock,
    ) -> None:
        self._me = me
        self._directory = directory
        self._keyring = keyring
        self._store = store
        self._cipher = cipher
        self._delivery = delivery
        self._limits = limits
        self._default_ttl_s = default_ttl_s
        self._clock = clock_ms
        self._sequences: dict[str, int] = {}
        self._commit: GroupCommit[NewOutbox, bytes] = GroupCommit(store.add)

    async def load(self) -> None:
        """The last sequence number used per peer (numbers continue after a restart)."""
        self._sequences = await self._store.last_sequences()

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
        """Seal and durably queue a message; raises UsageError for anything the caller must fix."""
        if client_request_id is not None:
            existing = await self._store.by_client_request(client_request_id)
            if existing is not None:
                return Submitted(existing.message_id, existing.state)
        if in_reply_to and len(in_reply_to) != 16:
            raise UsageError("in_reply_to must be a 16-byte message id")
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
            check_exchange(directory, sender_node=self._me, recipient_node=recipient, kind=body_kind(body))
        except RefusalError as e:
            raise UsageError(f"not sent: {e.reason}") from e
        key = info.active_encryption_key(now)
        if key is None:
            raise UsageError(
                f"recipient {recipient!r} has no active encryption key in directory version {directory.version}"
            )
        ttl = ttl_seconds or self._default_ttl_s
        if not 60 <= ttl <= self._limits.max_lifetime_ms // 1000:
            raise UsageError(f"ttl_seconds must be between 60 and {self._limits.max_lifetime_ms // 1000}, got {ttl}")
        # No await between taking the sequence number and using it, so numbers are unique; a
        # number is only burnt when the commit itself fails (the user then gets the error).
        sequence = self._sequences.get(recipient, 0) + 1
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
        if stored_id == message_id:
            self._delivery.enqueue(recipient, Outgoing(message_id, envelope_bytes, sealed.digest))
        log.debug("message_queued", recipient=recipient, message_id=stored_id.hex(), sequence=sequence)
        return Submitted(stored_id, DeliveryState.QUEUED)
