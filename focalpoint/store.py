"""What the node keeps, behind a small interface (the SQLite implementation is ``sqlite_store``).

Rows hold ciphertext only: the envelope as sealed to the recipient (or as received)
and a local copy of the verified payload sealed under the node's storage key
(``StorageCipher``). Plaintext exists only while a user reads a message.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from focalpoint.errors import StorageError
from focalpoint.v1 import envelope_pb2, local_pb2

__all__ = [
    "Delivered",
    "DeliveryState",
    "InboxOutcome",
    "InboxRow",
    "NewInbox",
    "NewOutbox",
    "OutboxRow",
    "ReceiptSigner",
    "StorageCipher",
    "Store",
]


class DeliveryState(enum.IntEnum):
    QUEUED = local_pb2.DELIVERY_STATE_QUEUED
    DELIVERED = local_pb2.DELIVERY_STATE_DELIVERED
    FAILED = local_pb2.DELIVERY_STATE_FAILED
    EXPIRED = local_pb2.DELIVERY_STATE_EXPIRED


@dataclass(frozen=True, slots=True)
class NewOutbox:
    message_id: bytes
    recipient: str
    peer_sequence: int
    envelope: bytes
    digest: bytes
    local_copy: bytes
    created_at_ms: int
    expires_at_ms: int
    client_request_id: str | None = None
    # Pseudonymous case reference and body kind, kept in the clear for the audit log.
    case_ref: str = ""
    message_kind: str = ""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    message_id: bytes
    recipient: str
    peer_sequence: int
    envelope: bytes
    digest: bytes
    local_copy: bytes
    created_at_ms: int
    expires_at_ms: int
    state: DeliveryState
    attempts: int
    next_attempt_ms: int
    last_error: str
    receipt: bytes | None
    delivered_at_ms: int | None
    case_ref: str = ""


@dataclass(frozen=True, slots=True)
class NewInbox:
    """A verified envelope to store; its receipt is signed inside the storing transaction,
    once its audit log index is known (``ReceiptSigner``)."""

    sender: str
    message_id: bytes
    envelope: bytes
    digest: bytes
    local_copy: bytes
    received_at_ms: int
    expires_at_ms: int
    case_ref: str = ""
    message_kind: str = ""
    sequence: int = 0
    # Rows with the same non-zero batch share one signed receipt root; 0 = a single receipt.
    batch: int = 0


# Signs the receipts of the freshly stored rows, given each row's audit log index.
ReceiptSigner = Callable[[Sequence[tuple[NewInbox, int]]], Sequence[bytes]]


@dataclass(frozen=True, slots=True)
class Delivered:
    """An outbox entry closed by a verified receipt."""

    message_id: bytes
    receipt: bytes
    delivered_at_ms: int
    peer_log_index: int


@dataclass(frozen=True, slots=True)
class InboxRow:
    seq: int
    sender: str
    message_id: bytes
    envelope: bytes
    digest: bytes
    local_copy: bytes
    received_at_ms: int
    receipt: bytes
    case_ref: str = ""


@dataclass(frozen=True, slots=True)
class InboxOutcome:
    """Result of storing one received envelope."""

    receipt: bytes
    # True when (sender, message id) was already stored with the same digest.
    duplicate: bool
    # True when (sender, message id) was already stored with a *different* digest.
    conflict: bool


class Store(Protocol):
    async def close(self) -> None: ...

    async def last_peer_sequences(self) -> dict[str, int]: ...

    async def add_outbox(self, rows: Sequence[NewOutbox]) -> list[bytes]:
        """Insert atomically; return each row's message id (the existing one for a repeated
        client_request_id)."""
        ...

    async def outbox_by_client_request(self, client_request_id: str) -> OutboxRow | None: ...

    async def due_outbox(self, recipient: str, now_ms: int, limit: int, exclude: set[bytes]) -> list[OutboxRow]: ...

    async def next_due_ms(self, recipient: str, exclude: set[bytes]) -> int | None:
        """Earliest next attempt among QUEUED entries not in ``exclude``."""
        ...

    async def recipients_with_queued(self) -> list[str]: ...

    async def mark_delivered(self, done: Sequence[Delivered]) -> None:
        """Close the entries and log RECEIPTED events, in one transaction."""
        ...

    async def mark_final(
        self,
        message_id: bytes,
        state: DeliveryState,
        error: str,
        code: envelope_pb2.RefusalCode.ValueType,
        at_ms: int,
    ) -> None: ...

    async def schedule_retry(self, items: Sequence[tuple[bytes, int, str]]) -> None:
        """(message id, next attempt ms, error) for each entry; increments attempts."""
        ...

    async def expire_outbox(self, now_ms: int) -> list[bytes]: ...

    async def get_outbox(self, message_id: bytes) -> OutboxRow | None: ...

    async def list_outbox(self, limit: int, before: int) -> list[OutboxRow]: ...

    async def add_inbox(self, rows: Sequence[NewInbox], sign: ReceiptSigner) -> list[InboxOutcome]:
        """Store fresh rows with their DELIVERED events and receipts in one transaction."""
        ...

    async def get_inbox(self, sender: str, message_id: bytes) -> InboxRow | None: ...

    async def find_inbox(self, message_id: bytes) -> list[InboxRow]: ...

    async def list_inbox(self, limit: int, before: int) -> list[InboxRow]: ...

    async def count_inbox(self) -> int: ...

    async def save_directory(self, documents: Sequence[tuple[str, str, int, bytes]], at_ms: int) -> None:
        """Keep accepted directory documents: (kind, name, version, raw); kind 'bundle' is the latest bundle."""
        ...

    async def load_directory(self) -> tuple[list[bytes], dict[tuple[str, str], int], bytes | None]: ...

    async def directory_document(self, kind: str, name: str, version: int) -> bytes | None: ...

    async def record(self, leaves: Sequence[bytes], case_ref: str = "", *, meta: dict[str, str] | None = None) -> int:
        """Append audit events that go with no other row; returns the first index."""
        ...


class StorageCipher:
    """AES-256-GCM for case data at rest; the AAD binds a row's purpose and message id."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise StorageError("storage key must be 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, *, purpose: bytes, message_id: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext, purpose + b"\x00" + message_id)

    def open(self, sealed: bytes, *, purpose: bytes, message_id: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], purpose + b"\x00" + message_id)
        except (InvalidTag, ValueError) as e:
            raise StorageError("a stored message failed its integrity check (wrong key or corrupted row)") from e
