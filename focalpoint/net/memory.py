"""An in-memory network of nodes, for tests: a ``PeerTransport`` per node with no socket and no
TLS (as httpx ships ``MockTransport`` and python-tuf a repository simulator).

    network = MemoryNetwork()
    network.attach("gr-ekka", gr_peer_api)        # what gr-ekka answers to its peers
    transport = network.transport("al-shss")      # how al-shss reaches them

A call behaves as it would over gRPC: requests and answers are copied through their wire
encoding (nothing is shared), the callee learns who calls from the network (standing in
for the TLS pin), and an error the callee raises reaches the caller through the one status
map (``focalpoint.net.status``), as the same class a gRPC client would see. Faults to
test against: a node that is down (every call to it raises TransportError), and answers
that are lost after the callee acted (``drop_answers``: the delivery happened but the
sender never heard, so it must retry and be answered with the original receipt).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from google.protobuf.message import Message

from focalpoint.errors import FocalpointError, RefusalError, TransportError
from focalpoint.net.status import error_from_status, status_of
from focalpoint.v1 import audit_pb2, envelope_pb2, node_pb2

__all__ = ["MemoryNetwork", "MemoryTransport", "PeerDoor"]

M = TypeVar("M", bound=Message)
R = TypeVar("R")


class PeerDoor(Protocol):
    """What a node answers to its peers (``focalpoint.node.peer_api.PeerApi`` is one)."""

    async def deliver(self, peer: str, envelope: envelope_pb2.Envelope) -> node_pb2.DeliverResponse: ...

    async def deliver_batch(
        self, peer: str, envelopes: Sequence[envelope_pb2.Envelope]
    ) -> list[node_pb2.DeliveryResult]: ...

    async def ping(self, peer: str, request: node_pb2.PingRequest) -> node_pb2.PingResponse: ...

    async def checkpoint(self, peer: str, log_node: str) -> audit_pb2.SignedCheckpoint: ...

    async def inclusion_proof(self, peer: str, index: int, size: int) -> audit_pb2.InclusionProofResponse: ...

    async def consistency_proof(self, peer: str, old: int, new: int) -> list[bytes]: ...

    async def cosign(self, peer: str, cosignature: audit_pb2.Cosignature) -> None: ...

    async def receipts(self, peer: str, request: node_pb2.ReceiptsRequest) -> node_pb2.ReceiptsResponse: ...

    def bundle(self, known_version: int) -> tuple[int, bytes | None]: ...


class MemoryNetwork:
    def __init__(self) -> None:
        self._doors: dict[str, PeerDoor] = {}
        self._down: set[str] = set()
        self._dropped: dict[str, int] = {}
        self.calls: list[tuple[str, str, str]] = []  # (caller, callee, method), in order

    def attach(self, node_id: str, door: PeerDoor) -> None:
        """``node_id`` answers its peers with ``door`` from now on."""
        self._doors[node_id] = door

    def transport(self, node_id: str) -> MemoryTransport:
        """How ``node_id`` reaches the others."""
        return MemoryTransport(self, node_id)

    def set_down(self, node_id: str, down: bool = True) -> None:
        """A node that is down: every call to it fails as unreachable."""
        if down:
            self._down.add(node_id)
        else:
            self._down.discard(node_id)

    def drop_answers(self, node_id: str, count: int = 1) -> None:
        """The next ``count`` calls to ``node_id`` run there, but their answers are lost."""
        self._dropped[node_id] = count

    async def call(self, caller: str, callee: str, method: str, run: Callable[[PeerDoor], Awaitable[R]]) -> R:
        """``run`` against ``callee``'s door, with the faults set and the wire's error mapping."""
        self.calls.append((caller, callee, method))
        await asyncio.sleep(0)  # a call is never synchronous
        door = self._doors.get(callee)
        if door is None or callee in self._down:
            raise TransportError(f"UNAVAILABLE: {callee} is not reachable")
        try:
            answer = await run(door)
        except FocalpointError as e:
            code, details, trailer = status_of(e, internal_detail=False)
            raise error_from_status(code, details, [trailer]) from e
        if self._dropped.get(callee, 0) > 0:
            self._dropped[callee] -= 1
            raise TransportError(f"DEADLINE_EXCEEDED: the answer from {callee} was lost")
        return answer


class MemoryTransport:
    """One node's ``PeerTransport`` on a ``MemoryNetwork``."""

    def __init__(self, network: MemoryNetwork, me: str) -> None:
        self._network = network
        self._me = me

    async def _call(self, peer: str, method: str, run: Callable[[PeerDoor], Awaitable[R]]) -> R:
        return await self._network.call(self._me, peer, method, run)

    async def deliver(self, peer: str, envelope: envelope_pb2.Envelope) -> node_pb2.DeliverResponse:
        sent = _copy(envelope)
        try:
            answer = await self._call(peer, "Deliver", lambda door: door.deliver(self._me, sent))
        except (RefusalError, TransportError):
            raise
        except FocalpointError as e:  # any other answer is a failure to retry, as on the wire
            raise TransportError(str(e)) from e
        return _copy(answer)

    async def deliver_batch(
        self, peer: str, envelopes: Sequence[envelope_pb2.Envelope]
    ) -> list[node_pb2.DeliveryResult]:
        sent = [_copy(e) for e in envelopes]
        try:
            results = await self._call(peer, "DeliverStream", lambda door: door.deliver_batch(self._me, sent))
        except (RefusalError, TransportError):
            raise
        except FocalpointError as e:
            raise TransportError(str(e)) from e
        return [_copy(r) for r in results]

    async def ping(self, peer: str, request: node_pb2.PingRequest) -> node_pb2.PingResponse:
        sent = _copy(request)
        return _copy(await self._call(peer, "Ping", lambda door: door.ping(self._me, sent)))

    async def checkpoint(self, peer: str, log_node: str) -> audit_pb2.SignedCheckpoint:
        return _copy(await self._call(peer, "GetCheckpoint", lambda door: door.checkpoint(self._me, log_node)))

    async def inclusion_proof(self, peer: str, index: int, size: int) -> audit_pb2.InclusionProofResponse:
        answer = await self._call(peer, "GetInclusionProof", lambda door: door.inclusion_proof(self._me, index, size))
        return _copy(answer)

    async def consistency_proof(self, peer: str, old: int, new: int) -> list[bytes]:
        answer = await self._call(peer, "GetConsistencyProof", lambda door: door.consistency_proof(self._me, old, new))
        return list(answer)

    async def cosign(self, peer: str, cosignature: audit_pb2.Cosignature) -> None:
        sent = _copy(cosignature)
        await self._call(peer, "Cosign", lambda door: door.cosign(self._me, sent))

    async def receipts(self, peer: str, request: node_pb2.ReceiptsRequest) -> node_pb2.ReceiptsResponse:
        sent = _copy(request)
        return _copy(await self._call(peer, "GetReceipts", lambda door: door.receipts(self._me, sent)))

    async def fetch_bundle(self, peer: str, known_version: int) -> tuple[int, bytes | None]:
        async def bundle(door: PeerDoor) -> tuple[int, bytes | None]:
            return door.bundle(known_version)

        return await self._call(peer, "GetBundle", bundle)

    async def close(self) -> None:
        """Nothing to release."""


def _copy(message: M) -> M:
    """Through the wire encoding and back: the two ends never share an object."""
    return type(message).FromString(message.SerializeToString())
