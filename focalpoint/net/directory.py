"""Serving and fetching directory bundles (gRPC ``DirectoryService``).

A publisher serves its repository (``focalpoint directory serve``); every node serves what
it has verified, on its peer port (mutual TLS) and its local port. Whoever fetches verifies
everything itself, so serving needs no trust and a stale or hostile mirror can only
withhold updates — which the timestamp's short life makes visible (a freeze).
``DirectoryServerSource`` is the node's ``BundleSource`` for a configured directory server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from focalpoint.errors import NotFound, TransportError, UsageError
from focalpoint.ids import MAX_INT64
from focalpoint.net.status import abort, error_from_rpc
from focalpoint.v1 import distribution_pb2, distribution_pb2_grpc

__all__ = [
    "MAX_DIRECTORY_BYTES",
    "DirectoryServerSource",
    "DirectoryServicer",
    "add_directory_service",
    "fetch_bundle",
]

# Directory bundles (world scale: ~3 MB) travel as answers, so what a node may *send* and a client
# may *receive* is larger than an envelope; what a server accepts stays bounded by the envelope limit.
MAX_DIRECTORY_BYTES = 64 << 20

CurrentBundle = Callable[[], tuple[int, bytes] | None]
Document = Callable[[str, str, int], Awaitable[bytes | None]]


class DirectoryServicer(distribution_pb2_grpc.DirectoryServiceServicer):
    def __init__(self, current: CurrentBundle, document: Document) -> None:
        self._current = current
        self._document = document

    async def GetBundle(
        self, request: distribution_pb2.GetBundleRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> distribution_pb2.GetBundleResponse:
        current = self._current()
        if current is None:
            await abort(context, TransportError("nothing published yet"))
        version, bundle = current
        if version <= request.known_version:
            return distribution_pb2.GetBundleResponse(version=version)
        return distribution_pb2.GetBundleResponse(version=version, bundle=bundle)

    async def GetDocument(
        self, request: distribution_pb2.GetDocumentRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> distribution_pb2.GetDocumentResponse:
        if request.version > MAX_INT64:  # no store holds it; SQLite would not even look it up
            await abort(context, UsageError(f"version must be at most {MAX_INT64}; got {request.version}"))
        raw = await self._document(request.kind, request.name, request.version)
        if raw is None:
            await abort(context, NotFound(f"no {request.kind} {request.name} version {request.version}"))
        return distribution_pb2.GetDocumentResponse(document=raw)


def add_directory_service(server: grpc.aio.Server, current: CurrentBundle, document: Document) -> None:
    distribution_pb2_grpc.add_DirectoryServiceServicer_to_server(DirectoryServicer(current, document), server)


async def fetch_bundle(
    channel: grpc.aio.Channel, *, known_version: int, timeout_s: float = 10.0
) -> tuple[int, bytes | None]:
    """(server version, bundle bytes if newer than ``known_version``); raises TransportError."""
    stub = distribution_pb2_grpc.DirectoryServiceStub(channel)
    try:
        response = await stub.GetBundle(
            distribution_pb2.GetBundleRequest(known_version=known_version), timeout=timeout_s
        )
    except grpc.aio.AioRpcError as e:  # whatever the server said, the bundle is to be fetched later
        raise TransportError(f"directory service: {error_from_rpc(e)}") from e
    return response.version, (response.bundle or None)


class DirectoryServerSource:
    """A directory server (a publisher or a mirror) at ``address``, asked over plain gRPC:
    what it serves is verified by the node, so the channel needs no trust."""

    def __init__(self, address: str) -> None:
        self.where = f"directory service {address}"
        self._address = address
        self._channel: grpc.aio.Channel | None = None

    async def fetch(self, known_version: int) -> tuple[int, bytes | None]:
        """(server version, bundle bytes if newer than ``known_version``); raises TransportError."""
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(
                self._address, options=[("grpc.max_receive_message_length", MAX_DIRECTORY_BYTES)]
            )
        return await fetch_bundle(self._channel, known_version=known_version)

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close(None)
