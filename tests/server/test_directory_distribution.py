"""Distribution: nodes poll directory services, keep working while they are down, and learn from peers."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest
import yaml

from focalpoint.admin.repo import Repository
from focalpoint.errors import UsageError
from focalpoint.localnet import LocalNetwork, free_port
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.net.directory import add_directory_service, fetch_bundle
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState
from focalpoint.v1 import distribution_pb2, distribution_pb2_grpc
from tests.conftest import StartNode, now_utc

GR, AL = "gr-ekka", "al-shss"


class RepoServer:
    """A real DirectoryService over a repository, on a fixed loopback port so it can come back."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.address = f"127.0.0.1:{free_port()}"
        self.server: grpc.aio.Server | None = None

    def _current(self) -> tuple[int, bytes] | None:
        try:
            return self.repo.timestamp_version(), self.repo.bundle()
        except UsageError:
            return None

    async def _document(self, kind: str, name: str, version: int) -> bytes | None:
        return self.repo.document(kind, name, version)

    async def start(self) -> None:
        server = grpc.aio.server()
        add_directory_service(server, self._current, self._document)
        assert server.add_insecure_port(self.address) != 0
        await server.start()
        self.server = server

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(0)
            self.server = None


@pytest.fixture
async def repo_server(network: LocalNetwork) -> AsyncIterator[RepoServer]:
    server = RepoServer(network.repository)
    await server.start()
    yield server
    await server.stop()


def _config_with(network: LocalNetwork, node_id: str, **directory: object) -> Path:
    """A copy of the node's config with its directory section changed."""
    path = network.nodes[node_id].config_path
    config = yaml.safe_load(path.read_text())
    config["directory"].update(directory)
    config["directory"] = {k: v for k, v in config["directory"].items() if v is not None}
    out = path.with_name("node-variant.yaml")
    out.write_text(yaml.safe_dump(config))
    return out


async def _wait(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _at(node: Node, version: int) -> bool:
    return node.cache.current.version >= version


async def test_a_node_follows_a_directory_service(network: LocalNetwork, repo_server: RepoServer) -> None:
    """Configured with servers only, a node starts from the service and picks up new versions."""
    node = await Node.open(load_config(_config_with(network, GR, bundle=None, servers=[repo_server.address])))
    await node.start()
    try:
        assert node.cache.current.version == network.version
        network.publish(now=now_utc())
        await _wait(functools.partial(_at, node, network.version), "the node to fetch the new version")
    finally:
        await node.stop(0)


async def test_a_node_keeps_serving_while_the_directory_service_is_down(
    network: LocalNetwork, repo_server: RepoServer, start_node: StartNode
) -> None:
    """Service down: the node keeps its verified version and keeps delivering; back up: it catches up."""
    gr = await Node.open(load_config(_config_with(network, GR, bundle=None, servers=[repo_server.address])))
    await gr.start()
    try:
        await start_node(AL)
        await repo_server.stop()
        version = gr.cache.current.version
        network.publish(now=now_utc())
        await asyncio.sleep(0.6)  # several refresh intervals with the service down
        assert gr.cache.current.version == version
        sent = await gr.outbox.submit(AL, social_inquiry_request(case_ref_for(300), identified_at_ms=wall_clock_ms()))
        assert await asyncio.wait_for(gr.delivery.wait_closed(sent.message_id), 15) is DeliveryState.DELIVERED
        await repo_server.start()
        await _wait(functools.partial(_at, gr, network.version), "the node to catch up")
    finally:
        await gr.stop(0)


async def test_a_peer_envelope_announces_a_newer_directory(network: LocalNetwork, start_node: StartNode) -> None:
    """A receiver that does not poll learns of a newer version from an envelope and fetches it from the peer."""
    gr = await start_node(GR)
    al = await Node.open(load_config(_config_with(network, AL, refresh_seconds=3600)))
    await al.start()
    try:
        old = al.cache.current.version
        network.publish(now=now_utc())
        await _wait(functools.partial(_at, gr, network.version), "the sender to refresh")
        assert al.cache.current.version == old  # it does not poll for an hour
        sent = await gr.outbox.submit(AL, social_inquiry_request(case_ref_for(301), identified_at_ms=wall_clock_ms()))
        assert await asyncio.wait_for(gr.delivery.wait_closed(sent.message_id), 15) is DeliveryState.DELIVERED
        await _wait(functools.partial(_at, al, network.version), "the receiver to fetch the version from its peer")
    finally:
        await al.stop(0)


async def test_the_service_answers_only_newer_bundles_and_any_old_document(
    network: LocalNetwork, repo_server: RepoServer
) -> None:
    """GetBundle sends nothing when the caller is current; every published version stays fetchable."""
    async with grpc.aio.insecure_channel(repo_server.address) as channel:
        version, data = await fetch_bundle(channel, known_version=0)
        assert version == network.version
        assert data == network.bundle_path.read_bytes()
        assert await fetch_bundle(channel, known_version=version) == (version, None)
        stub = distribution_pb2_grpc.DirectoryServiceStub(channel)
        root = await stub.GetDocument(distribution_pb2.GetDocumentRequest(kind="root", version=1), timeout=5)
        assert root.document == network.trusted_root_path.read_bytes()
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.GetDocument(distribution_pb2.GetDocumentRequest(kind="state", name="../x", version=1), timeout=5)
        assert missing.value.code() is grpc.StatusCode.NOT_FOUND


async def test_nodes_serve_what_they_verified(nodes: dict[str, Node], network: LocalNetwork) -> None:
    """A node's local port answers GetBundle with its verified bundle (any node can be a mirror)."""
    async with grpc.aio.insecure_channel(network.nodes[GR].local_address) as channel:
        version, data = await fetch_bundle(channel, known_version=0)
    assert version == nodes[GR].cache.current.version
    assert data == nodes[GR].cache.current.raw
