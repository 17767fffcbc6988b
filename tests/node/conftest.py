"""Nodes over the fakes: the in-memory store and the in-memory network, no gRPC, no TLS, no files
but the generated keys and directory. Each node is the real composition (``Node.open``) with
its parts wired as in production; only the store and the transport are swapped, and no
server is started. Time is a ``FakeClock`` the test moves by hand."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import pytest

from focalpoint.audit import events as audit_events
from focalpoint.exchange.envelope import SealedEnvelope, seal
from focalpoint.localnet import LocalNetwork
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.net.memory import MemoryNetwork, PeerDoor
from focalpoint.node.ports import Notifier, wall_clock_ms
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.storage.memory import MemoryStore
from focalpoint.v1 import audit_pb2, directory_pb2, envelope_pb2, messages_pb2, node_pb2


@dataclass
class FakeClock:
    now_ms: int = field(default_factory=wall_clock_ms)

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, seconds: float) -> None:
        self.now_ms += int(seconds * 1000)


@dataclass
class Fabric:
    """Nodes on one in-memory network, sharing one fake clock."""

    files: LocalNetwork
    network: MemoryNetwork
    clock: FakeClock
    nodes: dict[str, Node] = field(default_factory=dict)
    stores: dict[str, MemoryStore] = field(default_factory=dict)
    # How far each node's own clock is from the shared one (ms; positive: ahead), changeable live.
    skews: dict[str, int] = field(default_factory=dict)
    # A node's notifier (e.g. a CapturingNotifier), kept across a restart; absent: the log's.
    notifiers: dict[str, Notifier] = field(default_factory=dict)
    # When the directory was last published (``republish``), by the shared clock.
    published_ms: int = 0

    def clock_of(self, node_id: str) -> Callable[[], int]:
        """``node_id``'s clock: the shared fake clock plus that node's skew (see ``set_skew``)."""
        return lambda: self.clock() + self.skews.get(node_id, 0)

    def set_skew(self, node_id: str, seconds: float) -> None:
        """Set ``node_id``'s clock ``seconds`` ahead of the others (negative: behind); 0 fixes it."""
        self.skews[node_id] = int(seconds * 1000)

    async def open(self, node_id: str, store: MemoryStore | None = None) -> Node:
        """Open ``node_id`` (again, after ``close``, with the store it had) and attach it."""
        store = store or self.stores.get(node_id) or MemoryStore()
        self.stores[node_id] = store
        config = load_config(self.files.nodes[node_id].config_path)
        clock = self.clock_of(node_id)
        node = await Node.open(
            config,
            clock_ms=clock,
            store=store,
            transport=self.network.transport(node_id),
            notifier=self.notifiers.get(node_id),
        )
        self.network.attach(node_id, node.peer_api)
        self.nodes[node_id] = node
        return node

    async def close(self, node_id: str) -> None:
        """Stop a node's tasks but keep its store (a restart re-opens it with ``open``)."""
        node = self.nodes.pop(node_id)
        self.network.set_down(node_id)
        await node.delivery.stop()
        await node.outbox.close()
        await node.inbox.close()
        self.network.set_down(node_id, False)

    async def republish(
        self,
        *,
        mutate: Callable[[dict[str, directory_pb2.NodeEntry]], None] | None = None,
        mutate_agreements: Callable[[dict[str, directory_pb2.Agreement]], None] | None = None,
    ) -> None:
        """Publish the next directory version (entries or agreements changed) and have every
        open node accept it now, as a refresh would."""
        now = dt.datetime.fromtimestamp(self.clock() / 1000, dt.UTC)
        bundle = self.files.publish(now=now, mutate=mutate, mutate_agreements=mutate_agreements)
        self.published_ms = self.clock()
        for node in self.nodes.values():
            assert await node.cache.offer(bundle, self.clock(), where="test publish")

    async def retry_now(self, sender: str, recipient: str) -> None:
        """Make every retry of ``sender`` to ``recipient`` due (the fake clock passes the longest
        backoff) and wake its delivery worker, instead of waiting for the backoff in real time."""
        self.clock.advance(1)
        self.nodes[sender].delivery.wake(recipient)
        await asyncio.sleep(0)

    def seal(
        self,
        sender: str,
        recipient: str,
        *,
        case_ref: str = case_ref_for(1),
        body: messages_pb2.Body | None = None,
        message_id: bytes | None = None,
        sequence: int = 1,
        ttl_s: int = 3600,
    ) -> SealedEnvelope:
        """An envelope ``sender`` seals for ``recipient`` with its keys in use, as its outbox
        would (but not queued, so nothing delivers it first)."""
        node = self.nodes[sender]
        directory = node.cache.current
        now = self.clock()
        info = directory.node(recipient)
        assert info is not None
        key = info.active_encryption_key(now)
        assert key is not None
        return seal(
            signer=node.keyring.signer,
            sender_node=sender,
            recipient_node=recipient,
            recipient_key=key,
            body=body or social_inquiry_request(case_ref, identified_at_ms=now),
            message_id=message_id or secrets.token_bytes(16),
            created_at_ms=now,
            expires_at_ms=now + ttl_s * 1000,
            directory_version=directory.version,
            sequence=sequence,
        )


async def eventually(check: Callable[[], Awaitable[bool]], *, within_s: float = 1.0, what: str = "") -> None:
    """Poll ``check`` (a few milliseconds apart) until it holds; fail after ``within_s`` real seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"not true within {within_s} s: {what or check}")
        await asyncio.sleep(0.005)


async def events(node: Node, kind: audit_pb2.AuditEventKind.ValueType) -> list[tuple[int, audit_pb2.AuditEvent]]:
    """``node``'s audit events of ``kind`` with their log indices, oldest first."""
    found = [(i, audit_events.decode(leaf)) for i, leaf in await node.store.audit.events(-1, 0)]
    return [(i, e) for i, e in reversed(found) if e.kind == kind]


class DoorProxy:
    """A node's door that passes every call on to ``inner`` (its ``PeerApi``); a test subclasses
    it to change some answers and ``attach``es it in the node's place on the network."""

    def __init__(self, inner: PeerDoor) -> None:
        self.inner = inner

    async def deliver(self, peer: str, envelope: envelope_pb2.Envelope) -> node_pb2.DeliverResponse:
        return await self.inner.deliver(peer, envelope)

    async def deliver_batch(
        self, peer: str, envelopes: Sequence[envelope_pb2.Envelope]
    ) -> list[node_pb2.DeliveryResult]:
        return await self.inner.deliver_batch(peer, envelopes)

    async def ping(self, peer: str, request: node_pb2.PingRequest) -> node_pb2.PingResponse:
        return await self.inner.ping(peer, request)

    async def checkpoint(self, peer: str, log_node: str) -> audit_pb2.SignedCheckpoint:
        return await self.inner.checkpoint(peer, log_node)

    async def inclusion_proof(self, peer: str, index: int, size: int) -> audit_pb2.InclusionProofResponse:
        return await self.inner.inclusion_proof(peer, index, size)

    async def consistency_proof(self, peer: str, old: int, new: int) -> list[bytes]:
        return await self.inner.consistency_proof(peer, old, new)

    async def cosign(self, peer: str, cosignature: audit_pb2.Cosignature) -> None:
        await self.inner.cosign(peer, cosignature)

    async def receipts(self, peer: str, request: node_pb2.ReceiptsRequest) -> node_pb2.ReceiptsResponse:
        return await self.inner.receipts(peer, request)

    def bundle(self, known_version: int) -> tuple[int, bytes | None]:
        return self.inner.bundle(known_version)


@pytest.fixture
async def fabric(network: LocalNetwork) -> AsyncIterator[Fabric]:
    """The three nodes of ``network`` over the fakes, opened and ready (not started: no gRPC)."""
    fab = Fabric(network, MemoryNetwork(), FakeClock())
    fab.published_ms = fab.clock()
    for node_id in network.nodes:
        await fab.open(node_id)
    yield fab
    for node_id in list(fab.nodes):
        await fab.close(node_id)
