"""The ports the node's parts need, declared where they are consumed.

Implementations satisfy them structurally (``typing.Protocol``), so they need not import
the node: ``focalpoint.net.channels.PeerChannels`` (gRPC over mutual TLS) and
``focalpoint.net.memory`` (an in-memory network for tests) are ``PeerTransport``s;
``focalpoint.net.directory.DirectoryServerSource`` is a ``BundleSource``; ``focalpoint.node.notify``
holds the ``Notifier``s (a log line; a list for tests; the durable queue), and ``adapters.mail`` and
``adapters.webhook`` are ``NotificationChannel``s. Storage has its own
Protocols in ``focalpoint.storage.base``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from directory import Directory
from focalpoint.v1 import audit_pb2, envelope_pb2, node_pb2

__all__ = [
    "NO_TRACER",
    "BundleSource",
    "Clock",
    "DirectoryView",
    "NotificationChannel",
    "Notifier",
    "PeerTransport",
    "Spawn",
    "Tracer",
    "wall_clock_ms",
]

# Milliseconds since the epoch; passed in so tests can freeze or move time.
Clock = Callable[[], int]
# The directory in force now (it changes when a newer verified one is accepted).
DirectoryView = Callable[[], Directory]
# Run a coroutine in the background, owned (and cancelled at stop) by the node.
Spawn = Callable[[Coroutine[Any, Any, object]], None]


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class PeerTransport(Protocol):
    """Reaching partner nodes. The callee learns who calls from the transport (the TLS pin,
    or the file's signature), never from a field the caller wrote.

    Every method raises a ``focalpoint.errors.FocalpointError``: ``TransportError`` when the
    peer cannot be asked now (retry later), ``RefusalError`` when it refuses an envelope,
    and the class of what the peer answered otherwise (``UsageError`` and its subclasses
    when it cannot answer the request, ``PermissionDenied`` when it will not).
    """

    async def deliver(self, peer: str, envelope: envelope_pb2.Envelope) -> node_pb2.DeliverResponse:
        """One envelope; raises only RefusalError or TransportError."""
        ...

    async def deliver_batch(
        self, peer: str, envelopes: Sequence[envelope_pb2.Envelope]
    ) -> list[node_pb2.DeliveryResult]:
        """One result per envelope, in order; raises RefusalError (the whole batch was refused)
        or TransportError."""
        ...

    async def ping(self, peer: str, request: node_pb2.PingRequest) -> node_pb2.PingResponse: ...

    async def checkpoint(self, peer: str, log_node: str) -> audit_pb2.SignedCheckpoint:
        """The peer's latest checkpoint of ``log_node``'s log (its own, or one it cosigned)."""
        ...

    async def inclusion_proof(self, peer: str, index: int, size: int) -> audit_pb2.InclusionProofResponse: ...

    async def consistency_proof(self, peer: str, old: int, new: int) -> list[bytes]: ...

    async def cosign(self, peer: str, cosignature: audit_pb2.Cosignature) -> None: ...

    async def receipts(self, peer: str, request: node_pb2.ReceiptsRequest) -> node_pb2.ReceiptsResponse:
        """Which of this node's expired messages the peer holds (reconciliation)."""
        ...

    async def fetch_bundle(self, peer: str, known_version: int) -> tuple[int, bytes | None]:
        """The peer's directory version, and its bundle if newer than ``known_version``."""
        ...

    async def close(self) -> None: ...


class BundleSource(Protocol):
    """Somewhere directory bundles come from (a publisher, a mirror)."""

    where: str

    async def fetch(self, known_version: int) -> tuple[int, bytes | None]:
        """(the source's version, the bundle if newer than ``known_version``); raises TransportError."""
        ...

    async def close(self) -> None: ...


class Notifier(Protocol):
    """Telling local users that something happened that concerns them (a break-glass on their
    unit's case, an access alert)."""

    async def notify(self, users: Sequence[str], event: str, *, case_ref: str = "") -> None:
        """Tell local users (ids) that ``event`` happened (e.g. "break_glass", "anomaly:bulk_reads").
        Never case content: an event name and at most a case reference."""
        ...


class Tracer(Protocol):
    """Tracing of the node's own work (``focalpoint.server.tracing``, only when the configuration
    has a ``tracing`` section). Every span is a root: no trace context is taken from a caller or
    given to a peer (docs/adr/0022-tracing-stays-home.md). Attributes are counts, RPC names and
    node ids at most: never a case reference, a user id, a name or content."""

    def root_span(self, name: str, attributes: Mapping[str, str | int]) -> AbstractContextManager[None]: ...


class _NoTracer:
    def root_span(self, name: str, attributes: Mapping[str, str | int]) -> AbstractContextManager[None]:
        return contextlib.nullcontext()


NO_TRACER: Tracer = _NoTracer()
"""Tracing off: nothing is recorded, nothing is imported."""


class NotificationChannel(Protocol):
    """A way a queued notification leaves the node (e-mail, webhooks), driven by
    ``focalpoint.node.notify.NotificationSender``."""

    @property
    def name(self) -> str:
        """The queue's channel name ("email", "webhook")."""
        ...

    async def send(self, notice_id: str, destination: str, event: str, case_ref: str, created_ms: int) -> None:
        """Deliver one notification (``notice_id`` the same on every attempt; ``created_ms`` when
        its event happened). Raises ``TransportError`` when it may succeed later, any other
        ``FocalpointError`` when it never will (no address any more, the receiver refused it for
        good)."""
        ...
