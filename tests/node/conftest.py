"""Nodes over the fakes: the in-memory store and the in-memory network, no gRPC, no TLS, no files
but the generated keys and directory. Each node is the real composition (``Node.open``) with
its parts wired as in production; only the store and the transport are swapped, and no
server is started. Time is a ``FakeClock`` the test moves by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from focalpoint.localnet import LocalNetwork
from focalpoint.net.memory import MemoryNetwork
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.storage.memory import MemoryStore


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

    async def open(self, node_id: str, store: MemoryStore | None = None) -> Node:
        """Open ``node_id`` (again, after ``close``, with the store it had) and attach it."""
        store = store or self.stores.get(node_id) or MemoryStore()
        self.stores[node_id] = store
        config = load_config(self.files.nodes[node_id].config_path)
        node = await Node.open(config, clock_ms=self.clock, store=store, transport=self.network.transport(node_id))
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


@pytest.fixture
async def fabric(network: LocalNetwork) -> AsyncIterator[Fabric]:
    """The three nodes of ``network`` over the fakes, opened and ready (not started: no gRPC)."""
    fab = Fabric(network, MemoryNetwork(), FakeClock())
    for node_id in network.nodes:
        await fab.open(node_id)
    yield fab
    for node_id in list(fab.nodes):
        await fab.close(node_id)
