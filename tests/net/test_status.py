"""The one error <-> gRPC status map: every error class survives the round trip, refusals keep
their code, the peer door tells peers only "not now", and statuses from elsewhere map by code."""

from __future__ import annotations

import grpc
import pytest

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
    TransportError,
    Unauthenticated,
    UsageError,
    VerificationError,
)
from focalpoint.net.status import (
    ERROR_METADATA_KEY,
    REFUSAL_METADATA_KEY,
    answered,
    error_from_rpc,
    error_from_status,
    status_of,
)

SC = grpc.StatusCode

CLASSES: list[tuple[type[FocalpointError], grpc.StatusCode]] = [
    (UsageError, SC.INVALID_ARGUMENT),
    (NotFound, SC.NOT_FOUND),
    (OutOfRange, SC.OUT_OF_RANGE),
    (Conflict, SC.ALREADY_EXISTS),
    (PreconditionFailed, SC.FAILED_PRECONDITION),
    (PermissionDenied, SC.PERMISSION_DENIED),
    (Unauthenticated, SC.UNAUTHENTICATED),
    (VerificationError, SC.INVALID_ARGUMENT),
    (StorageError, SC.UNAVAILABLE),
    (DamagedData, SC.DATA_LOSS),
    (TransportError, SC.UNAVAILABLE),
    (ConfigError, SC.FAILED_PRECONDITION),
]


@pytest.mark.parametrize(("cls", "code"), CLASSES, ids=[c.__name__ for c, _ in CLASSES])
def test_every_error_class_comes_back_as_itself_with_its_status(cls: type[FocalpointError], code: SC) -> None:
    """Server side: the class's status and a trailer naming it; client side: the same class and message."""
    status, message, trailer = status_of(cls("what was wrong"))
    assert status is code
    assert trailer[0] == ERROR_METADATA_KEY
    back = error_from_status(status, message, [trailer])
    assert type(back) is cls
    assert str(back) == "what was wrong"


@pytest.mark.parametrize("code", list(Refusal), ids=[r.name for r in Refusal])
def test_a_refusal_keeps_its_code_and_its_own_status(code: Refusal) -> None:
    """Each refusal travels with its gRPC status and the fp-refusal-code trailer, and comes back equal."""
    err = RefusalError(code, "the reason")
    status, message, trailer = status_of(err)
    assert status.value[0] == err.grpc_status
    assert trailer == (REFUSAL_METADATA_KEY, code.name)
    back = error_from_status(status, message, [trailer])
    assert isinstance(back, RefusalError)
    assert (back.code, back.reason) == (code, "the reason")


@pytest.mark.parametrize("cls", [StorageError, DamagedData, ConfigError, TransportError])
def test_the_peer_door_tells_a_peer_only_that_it_cannot_serve_now(cls: type[FocalpointError]) -> None:
    """No detail and not even which part failed: the peer gets a TransportError (retry later)."""
    status, message, trailer = status_of(cls("/var/lib/focalpoint/node.sqlite: disk I/O error"), internal_detail=False)
    assert status is SC.UNAVAILABLE
    assert "sqlite" not in message
    assert "disk" not in message
    back = error_from_status(status, message, [trailer])
    assert type(back) is TransportError


def test_the_peer_door_still_explains_what_the_peer_itself_got_wrong() -> None:
    """A peer's own mistake (out of range) keeps its message: it is about the request, not the node."""
    status, message, _ = status_of(OutOfRange("need 0 < 5 ≤ 9 ≤ 7 (log size)"), internal_detail=False)
    assert (status, message) == (SC.OUT_OF_RANGE, "need 0 < 5 ≤ 9 ≤ 7 (log size)")


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (SC.INVALID_ARGUMENT, UsageError),
        (SC.NOT_FOUND, NotFound),
        (SC.OUT_OF_RANGE, OutOfRange),
        (SC.FAILED_PRECONDITION, PreconditionFailed),
        (SC.PERMISSION_DENIED, PermissionDenied),
        (SC.UNAUTHENTICATED, Unauthenticated),
        (SC.UNAVAILABLE, TransportError),
        (SC.DEADLINE_EXCEEDED, TransportError),
        (SC.UNKNOWN, TransportError),
        (SC.INTERNAL, TransportError),
        (SC.RESOURCE_EXHAUSTED, TransportError),
        (SC.UNIMPLEMENTED, TransportError),
        (SC.DATA_LOSS, TransportError),  # a peer's DECRYPTION_FAILED travels as DATA_LOSS with its own trailer
    ],
)
def test_a_status_without_our_trailer_maps_by_its_code(code: SC, cls: type[FocalpointError]) -> None:
    """gRPC's own statuses (or an older peer's) map by code alone, naming the code in the message."""
    back = error_from_status(code, "details", [])
    assert type(back) is cls
    assert str(back) == f"{code.name}: details"


def test_an_unknown_trailer_value_is_ignored_rather_than_trusted() -> None:
    """A trailer naming no known class (or refusal) falls back to the code."""
    back = error_from_status(SC.INVALID_ARGUMENT, "x", [(ERROR_METADATA_KEY, "root"), (REFUSAL_METADATA_KEY, "NOPE")])
    assert type(back) is UsageError


def test_a_failed_call_says_whether_a_focalpoint_server_answered() -> None:
    """``answered`` tells a node's own UNAVAILABLE from a connection that never reached one."""
    trailer = grpc.aio.Metadata((ERROR_METADATA_KEY, "storage"))
    ours = grpc.aio.AioRpcError(SC.UNAVAILABLE, grpc.aio.Metadata(), trailer, "disk full", None)
    theirs = grpc.aio.AioRpcError(SC.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "refused", None)
    assert answered(ours)
    assert not answered(theirs)
    assert type(error_from_rpc(ours)) is StorageError
    assert type(error_from_rpc(theirs)) is TransportError
