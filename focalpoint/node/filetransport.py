"""Partners reached by sealed files only (docs/adr/0020): ``FileTransport``, the ``PeerTransport``
of a partner with no network route, and ``RoutingTransport``, which picks it or the network
transport per peer.

A file-only partner is still a partner: its messages are sealed, queued and audited as any
other's, and the delivery manager keeps them QUEUED without a network attempt (it runs no worker
for such a partner), so there is no retry, no failure counted and no "unreachable" alarm; they
leave in the next ``focalpoint transfer export``. Anything that would need a live answer from the
partner (a ping, witnessing, reconciliation, a directory hint) gets a ``TransportError`` that
says so, which every caller already treats as "not now". Taking a partner off the list (it has a
network route now) makes the network transport carry its queue at the next start; a message
that then arrives both ways is stored once (the inbox's dedup).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from focalpoint.errors import TransportError
from focalpoint.node.ports import PeerTransport
from focalpoint.v1 import audit_pb2, envelope_pb2, node_pb2

__all__ = ["FileTransport", "RoutingTransport"]


class FileTransport:
    """The transport of a partner reached only by sealed files: every call says so."""

    @staticmethod
    def _no_route(peer: str, what: str) -> TransportError:
        return TransportError(
            f"{peer} is a file-only partner (sealed_files.file_only): no network call ({what});"
            f" its messages go by sealed file: focalpoint transfer export --to {peer}"
        )

    async def deliver(self, peer: str, envelope: envelope_pb2.Envelope) -> node_pb2.DeliverResponse:
        raise self._no_route(peer, "deliver")

    async def deliver_batch(
        self, peer: str, envelopes: Sequence[envelope_pb2.Envelope]
    ) -> list[node_pb2.DeliveryResult]:
        raise self._no_route(peer, "deliver")

    async def ping(self, peer: str, request: node_pb2.PingRequest) -> node_pb2.PingResponse:
        raise self._no_route(peer, "ping")

    async def checkpoint(self, peer: str, log_node: str) -> audit_pb2.SignedCheckpoint:
        raise self._no_route(peer, "checkpoint")

    async def inclusion_proof(self, peer: str, index: int, size: int) -> audit_pb2.InclusionProofResponse:
        raise self._no_route(peer, "inclusion proof")

    async def consistency_proof(self, peer: str, old: int, new: int) -> list[bytes]:
        raise self._no_route(peer, "consistency proof")

    async def cosign(self, peer: str, cosignature: audit_pb2.Cosignature) -> None:
        raise self._no_route(peer, "cosign")

    async def receipts(self, peer: str, request: node_pb2.ReceiptsRequest) -> node_pb2.ReceiptsResponse:
        raise self._no_route(peer, "receipts")

    async def fetch_bundle(self, peer: str, known_version: int) -> tuple[int, bytes | None]:
        raise self._no_route(peer, "directory")

    async def close(self) -> None:
        return None


class RoutingTransport:
    """The file transport for the peers ``file_only`` names, the network transport for the others."""

    def __init__(self, network: PeerTransport, files: PeerTransport, file_only: Callable[[str], bool]) -> None:
        self._network = network
        self._files = files
        self.file_only = file_only

    def _to(self, peer: str) -> PeerTransport:
        return self._files if self.file_only(peer) else self._network

    async def deliver(self, peer: str, envelope: envelope_pb2.Envelope) -> node_pb2.DeliverResponse:
        return await self._to(peer).deliver(peer, envelope)

    async def deliver_batch(
        self, peer: str, envelopes: Sequence[envelope_pb2.Envelope]
    ) -> list[node_pb2.DeliveryResult]:
        return await self._to(peer).deliver_batch(peer, envelopes)

    async def ping(self, peer: str, request: node_pb2.PingRequest) -> node_pb2.PingResponse:
        return await self._to(peer).ping(peer, request)

    async def checkpoint(self, peer: str, log_node: str) -> audit_pb2.SignedCheckpoint:
        return await self._to(peer).checkpoint(peer, log_node)

    async def inclusion_proof(self, peer: str, index: int, size: int) -> audit_pb2.InclusionProofResponse:
        return await self._to(peer).inclusion_proof(peer, index, size)

    async def consistency_proof(self, peer: str, old: int, new: int) -> list[bytes]:
        return await self._to(peer).consistency_proof(peer, old, new)

    async def cosign(self, peer: str, cosignature: audit_pb2.Cosignature) -> None:
        await self._to(peer).cosign(peer, cosignature)

    async def receipts(self, peer: str, request: node_pb2.ReceiptsRequest) -> node_pb2.ReceiptsResponse:
        return await self._to(peer).receipts(peer, request)

    async def fetch_bundle(self, peer: str, known_version: int) -> tuple[int, bytes | None]:
        return await self._to(peer).fetch_bundle(peer, known_version)

    async def close(self) -> None:
        await self._network.close()
        await self._files.close()
