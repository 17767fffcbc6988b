"""The one map between focalpoint's errors and gRPC statuses, in both directions.

Every servicer (the peer door, the local API, the directory service) answers an error
with ``abort``; every client (delivery, witnessing, pings, the CLI, the console) turns a
failed call back into an error with ``error_from_rpc``. The table:

    error                      status                 fp-error
    RefusalError(code)         GRPC_STATUS[code]      (fp-refusal-code: the code's name)
    VerificationError          INVALID_ARGUMENT       verification
    UsageError                 INVALID_ARGUMENT       usage
      NotFound                 NOT_FOUND              not_found
      OutOfRange               OUT_OF_RANGE           out_of_range
      Conflict                 ALREADY_EXISTS         conflict
      PreconditionFailed       FAILED_PRECONDITION    precondition
    PermissionDenied           PERMISSION_DENIED      permission
      Unauthenticated          UNAUTHENTICATED        unauthenticated
    StorageFull                UNAVAILABLE            storage_full
    StorageError               UNAVAILABLE            storage
      DamagedData              DATA_LOSS              damaged
    TransportError             UNAVAILABLE            transport
    ConfigError                FAILED_PRECONDITION    config

The trailer names the error class, so the caller gets back the error the server raised,
and can tell "the node answered UNAVAILABLE" from "nothing answered". A status without the
trailer (gRPC's own, or an older peer's) maps by its code alone.

One policy for what a message may say: the local API, which serves the institution's own
operators, passes each message on; the peer door (``internal_detail=False``) never tells a
peer about its storage, configuration or its own calls to others, not even which of them
failed: the peer gets a TransportError saying the node cannot serve the request now (so it
retries). Messages never carry case content either way.

A ``DamagedData`` (a stored row that cannot be read) is DATA_LOSS rather than the UNAVAILABLE of
other storage errors: UNAVAILABLE tells a client to try again, and no retry reads a damaged row.
A DATA_LOSS without our trailer still maps by code to a TransportError: a peer's refusal to
decrypt (DECRYPTION_FAILED) travels as DATA_LOSS too, with its own trailer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn, cast

import grpc

from focalpoint.errors import (
    ConfigError,
    Conflict,
    DamagedData,
    FocalpointError,
    NotFound,
    OutOfRange,
    PermissionDenied,
    PreconditionFailed,
    Refusal,
    RefusalError,
    StorageError,
    StorageFull,
    TransportError,
    Unauthenticated,
    UsageError,
    VerificationError,
)
from focalpoint.exchange.codec import MAX_REASON_CHARS

__all__ = [
    "ERROR_METADATA_KEY",
    "REFUSAL_METADATA_KEY",
    "abort",
    "answered",
    "error_from_rpc",
    "error_from_status",
    "status_of",
]

REFUSAL_METADATA_KEY = "fp-refusal-code"
ERROR_METADATA_KEY = "fp-error"
_STATUS_BY_NUMBER: dict[int, grpc.StatusCode] = {sc.value[0]: sc for sc in grpc.StatusCode}

# Most specific first: the first class an error is an instance of decides.
_TABLE: tuple[tuple[type[FocalpointError], grpc.StatusCode, str], ...] = (
    (NotFound, grpc.StatusCode.NOT_FOUND, "not_found"),
    (OutOfRange, grpc.StatusCode.OUT_OF_RANGE, "out_of_range"),
    (Conflict, grpc.StatusCode.ALREADY_EXISTS, "conflict"),
    (PreconditionFailed, grpc.StatusCode.FAILED_PRECONDITION, "precondition"),
    (UsageError, grpc.StatusCode.INVALID_ARGUMENT, "usage"),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED, "unauthenticated"),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED, "permission"),
    (VerificationError, grpc.StatusCode.INVALID_ARGUMENT, "verification"),
    (StorageFull, grpc.StatusCode.UNAVAILABLE, "storage_full"),
    (DamagedData, grpc.StatusCode.DATA_LOSS, "damaged"),
    (StorageError, grpc.StatusCode.UNAVAILABLE, "storage"),
    (TransportError, grpc.StatusCode.UNAVAILABLE, "transport"),
    (ConfigError, grpc.StatusCode.FAILED_PRECONDITION, "config"),
)
_BY_NAME: dict[str, type[FocalpointError]] = {name: cls for cls, _, name in _TABLE}
# A status without our trailer: what the code alone says.
_BY_CODE: dict[grpc.StatusCode, type[FocalpointError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: UsageError,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.OUT_OF_RANGE: OutOfRange,
    grpc.StatusCode.FAILED_PRECONDITION: PreconditionFailed,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
}
_WITHHELD = "this node cannot serve the request right now; retry later"


def status_of(err: FocalpointError, *, internal_detail: bool = True) -> tuple[grpc.StatusCode, str, tuple[str, str]]:
    """(status, message, trailer) for an error, under the message policy above."""
    if isinstance(err, RefusalError):
        return _STATUS_BY_NUMBER[err.grpc_status], err.reason[:MAX_REASON_CHARS], (REFUSAL_METADATA_KEY, err.code.name)
    if not internal_detail and isinstance(err, StorageError | TransportError | ConfigError):
        # What went wrong inside this node is none of a peer's business: "not now" is all it learns.
        return grpc.StatusCode.UNAVAILABLE, _WITHHELD, (ERROR_METADATA_KEY, "transport")
    for cls, code, name in _TABLE:
        if isinstance(err, cls):
            return code, str(err), (ERROR_METADATA_KEY, name)
    raise AssertionError(f"no status for {type(err).__name__}")  # pragma: no cover (the table covers the tree)


async def abort(
    context: grpc.aio.ServicerContext[Any, Any], err: FocalpointError, *, internal_detail: bool = True
) -> NoReturn:
    """End the call with the error's status, message and trailer."""
    code, message, trailer = status_of(err, internal_detail=internal_detail)
    context.set_trailing_metadata((trailer,))
    await context.abort(code, message)


def error_from_status(
    code: grpc.StatusCode, details: str, trailers: Sequence[tuple[str, str | bytes]]
) -> FocalpointError:
    """The error a status stands for (the inverse of ``status_of``)."""
    for key, value in trailers:
        if key == REFUSAL_METADATA_KEY and isinstance(value, str) and value in Refusal.__members__:
            return RefusalError(Refusal[value], details)
        if key == ERROR_METADATA_KEY and isinstance(value, str) and value in _BY_NAME:
            return _BY_NAME[value](details)
    return _BY_CODE.get(code, TransportError)(f"{code.name}: {details}")


def error_from_rpc(e: grpc.aio.AioRpcError) -> FocalpointError:
    """The error a failed call stands for: what the server raised, or a TransportError when
    nothing (or something that is not a focalpoint node) answered."""
    return error_from_status(e.code(), e.details() or "", _trailers(e))


def answered(e: grpc.aio.AioRpcError) -> bool:
    """True when a focalpoint server chose this status (it carries our trailer)."""
    return any(key in (REFUSAL_METADATA_KEY, ERROR_METADATA_KEY) for key, _ in _trailers(e))


def _trailers(e: grpc.aio.AioRpcError) -> Sequence[tuple[str, str | bytes]]:
    return cast("Sequence[tuple[str, str | bytes]]", e.trailing_metadata() or ())
