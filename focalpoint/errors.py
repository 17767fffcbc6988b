"""The focalpoint exception tree.

    FocalpointError
    ├── VerificationError      a document or message failed a trust check; never retried
    │   └── RefusalError       a receiver refuses an envelope; carries a RefusalCode
    ├── TransportError         a peer could not be reached or answered badly; retried
    ├── ConfigError            a configuration file or key file is unusable (one problem a line)
    ├── StorageError           the database failed or holds something unexpected
    │   ├── StorageFull        … its disk is full: nothing new is stored until space is freed
    │   └── DamagedData        … a stored row or file is damaged; retrying will not help
    ├── UsageError             a caller passed something invalid (CLI, local API, a peer's request)
    │   ├── NotFound           … it names something that does not exist
    │   ├── OutOfRange         … it asks beyond what exists (e.g. a proof past the log's size)
    │   ├── Conflict           … it contradicts what is stored (e.g. a second link of a case to one partner)
    │   └── PreconditionFailed … it cannot be done in the node's present state (e.g. no log key)
    └── PermissionDenied       the caller may not do this
        └── Unauthenticated    the caller did not prove who it is

Every message says what was expected and what arrived, and never contains case
content, keys or personal data. Each class has one gRPC status, in both directions,
in ``focalpoint.net.status`` (the one map); the numbers of a refusal's status are part
of the wire format (``GRPC_STATUS``), so they are here, and this module stays free of
the ``grpc`` import.
"""

from __future__ import annotations

import enum

__all__ = [
    "GRPC_STATUS",
    "ConfigError",
    "Conflict",
    "DamagedData",
    "FocalpointError",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "PreconditionFailed",
    "Refusal",
    "RefusalError",
    "StorageError",
    "StorageFull",
    "TransportError",
    "Unauthenticated",
    "UsageError",
    "VerificationError",
]


class FocalpointError(Exception):
    """Root of every error focalpoint raises on purpose."""


class VerificationError(FocalpointError):
    """A signature, document or message failed verification."""


class TransportError(FocalpointError):
    """A peer was unreachable or the call failed in transit; safe to retry."""


class ConfigError(FocalpointError):
    """A configuration or key file is missing, malformed or inconsistent."""


class StorageError(FocalpointError):
    """The node's database failed or returned data that breaks an invariant."""


class StorageFull(StorageError):
    """The disk that holds the node's database is full: nothing new can be stored until space
    is freed; nothing already stored is lost, and the node resumes by itself."""


class DamagedData(StorageError):
    """Something the node stored cannot be read as what it should be (a row whose columns have the
    wrong type or do not decode, a local copy that fails its integrity check, a missing table, a
    file that is not a database): restore it from a backup; retrying will not help. The message
    names the row and the column, never their content."""


class UsageError(FocalpointError):
    """Invalid input from a user, a local client or a peer's request."""


class NotFound(UsageError):
    """The request names something that does not exist (a message, a checkpoint)."""


class OutOfRange(UsageError):
    """The request asks beyond what exists (a proof for a size the log has not reached)."""


class Conflict(UsageError):
    """The request contradicts what is stored: it would create something that already exists (a
    second link of one case to one partner), or it was prepared from a state another writer has
    since moved (a case cursor). Nothing was changed."""


class PreconditionFailed(UsageError):
    """The request cannot be served in the node's present state (no log key, no checkpoint yet)."""


class PermissionDenied(FocalpointError):
    """The caller is known but may not do this (e.g. a node that is not an agreement partner)."""


class Unauthenticated(PermissionDenied):
    """The caller did not prove who it is (a missing or wrong local API token)."""


class Refusal(enum.IntEnum):
    """Why a receiver refuses an envelope; values equal focalpoint.v1.RefusalCode."""

    MALFORMED = 1
    OVERSIZED = 2
    UNSUPPORTED_VERSION = 3
    UNSUPPORTED_SUITE = 4
    UNKNOWN_PEER = 5
    WRONG_RECIPIENT = 6
    UNKNOWN_SENDER = 7
    SENDER_NOT_PEER = 8
    NOT_YET_VALID = 9
    EXPIRED = 10
    UNKNOWN_KEY_ID = 11
    DECRYPTION_FAILED = 12
    BAD_SIGNATURE = 13
    CONTENT_MISMATCH = 14
    REPLAY = 15
    INVALID_BODY = 16
    UNAVAILABLE = 17
    NO_AGREEMENT = 18


# Standard gRPC status code numbers (grpc/doc/statuscodes.md).
_INVALID_ARGUMENT = 3
_NOT_FOUND = 5
_ALREADY_EXISTS = 6
_PERMISSION_DENIED = 7
_RESOURCE_EXHAUSTED = 8
_FAILED_PRECONDITION = 9
_OUT_OF_RANGE = 11
_UNIMPLEMENTED = 12
_UNAVAILABLE = 14
_DATA_LOSS = 15
_UNAUTHENTICATED = 16

GRPC_STATUS: dict[Refusal, int] = {
    Refusal.MALFORMED: _INVALID_ARGUMENT,
    Refusal.OVERSIZED: _RESOURCE_EXHAUSTED,
    Refusal.UNSUPPORTED_VERSION: _UNIMPLEMENTED,
    Refusal.UNSUPPORTED_SUITE: _UNIMPLEMENTED,
    Refusal.UNKNOWN_PEER: _UNAUTHENTICATED,
    Refusal.WRONG_RECIPIENT: _FAILED_PRECONDITION,
    Refusal.UNKNOWN_SENDER: _PERMISSION_DENIED,
    Refusal.SENDER_NOT_PEER: _PERMISSION_DENIED,
    Refusal.NOT_YET_VALID: _OUT_OF_RANGE,
    Refusal.EXPIRED: _OUT_OF_RANGE,
    Refusal.UNKNOWN_KEY_ID: _NOT_FOUND,
    Refusal.DECRYPTION_FAILED: _DATA_LOSS,
    Refusal.BAD_SIGNATURE: _UNAUTHENTICATED,
    Refusal.CONTENT_MISMATCH: _PERMISSION_DENIED,
    Refusal.REPLAY: _ALREADY_EXISTS,
    Refusal.INVALID_BODY: _INVALID_ARGUMENT,
    Refusal.UNAVAILABLE: _UNAVAILABLE,
    Refusal.NO_AGREEMENT: _FAILED_PRECONDITION,
}

# Refusals the sender can expect to clear by retrying later (e.g. after either side
# refreshes its directory, the receiver recovers, or the two clocks are brought back into
# agreement); all others close the outbox entry. A message is retried until it expires.
RETRYABLE: frozenset[Refusal] = frozenset(
    {Refusal.UNKNOWN_KEY_ID, Refusal.UNKNOWN_PEER, Refusal.UNKNOWN_SENDER, Refusal.UNAVAILABLE, Refusal.NOT_YET_VALID}
)


class RefusalError(VerificationError):
    """A receiver refuses an envelope.

    ``reason`` is actionable for the sender and must not reveal whether a case
    exists, nor any content.
    """

    def __init__(self, code: Refusal, reason: str) -> None:
        super().__init__(f"{code.name.lower()}: {reason}")
        self.code = code
        self.reason = reason

    @property
    def grpc_status(self) -> int:
        return GRPC_STATUS[self.code]

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE
