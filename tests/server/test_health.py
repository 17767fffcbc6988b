"""gRPC health per service, asked through a real health client on both ports: each condition
(directory expired, signing key no longer ACTIVE, high-water mark lagging) turns the right services
NOT_SERVING and back; reflection answers on the local port only. The full disk is in
test_disk_full.py (a real tmpfs)."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from focalpoint.audit import events as audit_events
from focalpoint.localnet import LocalNetwork
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.config import load_config
from focalpoint.server.health import (
    LOCAL_SERVICE,
    OVERALL,
    PEER_SERVICE,
    SERVICES,
    SUBMIT_SERVICE,
    Condition,
    HealthWatcher,
    Probe,
    statuses,
)
from focalpoint.server.node import Node
from focalpoint.storage.sqlite.hwm import HighWaterMark
from focalpoint.v1 import directory_pb2
from tests.conftest import StartNode, now_utc

GR, AL = "gr-ekka", "al-shss"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# What a condition other than a full disk leaves: officials can still read (the local API).
ONLY_LOCAL = {OVERALL: NOT_SERVING, PEER_SERVICE: NOT_SERVING, LOCAL_SERVICE: SERVING, SUBMIT_SERVICE: NOT_SERVING}
ALL_SERVING = dict.fromkeys(SERVICES, SERVING)


@given(st.frozensets(st.sampled_from(list(Condition))))
def test_statuses_follow_the_conditions(found: frozenset[Condition]) -> None:
    serving = statuses(found)
    assert set(serving) == set(SERVICES)
    assert serving[OVERALL] is (not found)
    assert serving[PEER_SERVICE] is serving[SUBMIT_SERVICE] is (not found)
    assert serving[LOCAL_SERVICE] is (Condition.DISK_FULL not in found)


async def test_the_watcher_follows_its_probe_when_poked_logs_changes_and_stops() -> None:
    servicer = HealthServicer()
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    probe = Probe(now_ms=1, directory_expires_at_ms=2, full_since=None, mark_behind_since=None, can_sign=True)
    state = [probe]
    watcher = HealthWatcher(servicer, lambda: state[0], interval_s=60)  # only a poke wakes it in time
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await watcher.evaluate()
            watcher.start()
            assert await _statuses(channel) == ALL_SERVING
            state[0] = replace(probe, full_since=1.0)
            with capture_logs() as logs:
                watcher.poke()
                for _ in range(50):
                    if await _statuses(channel) == dict.fromkeys(SERVICES, NOT_SERVING):
                        break
                    await asyncio.sleep(0.02)
            assert watcher.found == {Condition.DISK_FULL}
            assert await _statuses(channel) == dict.fromkeys(SERVICES, NOT_SERVING)
            changed = [e for e in logs if e["event"] == "health_changed"]
            assert {e["service"] for e in changed} == {"(overall)", *SERVICES[1:]}
            await watcher.stop()
            state[0] = probe
            await asyncio.sleep(0.05)  # stopped: nothing turns it back
            assert await _statuses(channel) == dict.fromkeys(SERVICES, NOT_SERVING)
    finally:
        await watcher.stop()
        await server.stop(0)


class Clock:
    def __init__(self) -> None:
        self.now_ms = wall_clock_ms()

    def __call__(self) -> int:
        return self.now_ms


@pytest.fixture
async def al_clocked(network: LocalNetwork) -> AsyncIterator[tuple[Node, Clock]]:
    """al-shss on a clock the test moves."""
    clock = Clock()
    node = await Node.open(load_config(network.nodes[AL].config_path), clock_ms=clock)
    await node.start()
    try:
        yield node, clock
    finally:
        await node.stop(0)


async def _statuses(channel: grpc.aio.Channel) -> dict[str, int]:
    stub = health_pb2_grpc.HealthStub(channel)
    found = {}
    for service in SERVICES:
        answer = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        found[service] = int(answer.status)
    return found


async def _until(node: Node, peer_channel: grpc.aio.Channel, expected: dict[str, int]) -> None:
    """Both ports report ``expected`` within a few seconds (the node's upkeep re-evaluates)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{node.local_port}") as local:
        for _ in range(50):
            if await _statuses(local) == expected and await _statuses(peer_channel) == expected:
                return
            await asyncio.sleep(0.1)
        assert await _statuses(local) == expected
        assert await _statuses(peer_channel) == expected


async def test_an_expired_directory_stops_peers_and_submits_not_reads(
    al_clocked: tuple[Node, Clock], start_node: StartNode
) -> None:
    al, clock = al_clocked
    gr = await start_node(GR)
    peer = gr.transport.channel(AL)  # type: ignore[attr-defined]
    await _until(al, peer, ALL_SERVING)
    real = clock.now_ms
    clock.now_ms = al.cache.current.expires_at_ms + 1
    await _until(al, peer, ONLY_LOCAL)
    clock.now_ms = real  # renewed (here: the clock put right)
    await _until(al, peer, ALL_SERVING)


def _signing_status(
    key_id: str, status: directory_pb2.KeyStatus.ValueType, not_after_ms: int
) -> Callable[[dict[str, directory_pb2.NodeEntry]], None]:
    def mutate(entries: dict[str, directory_pb2.NodeEntry]) -> None:
        for key in entries[AL].signing_keys:
            if key.key_id == key_id:
                key.status, key.not_after_ms = status, not_after_ms

    return mutate


async def _publish(
    network: LocalNetwork, node: Node, mutate: Callable[[dict[str, directory_pb2.NodeEntry]], None]
) -> None:
    network.publish(now=now_utc(), mutate=mutate)
    for _ in range(100):
        if node.cache.current.version >= network.version:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the node never took the new directory")


async def test_a_signing_key_no_longer_active_stops_peers_and_submits(
    network: LocalNetwork, start_node: StartNode
) -> None:
    """The directory retires the node's only signing key: it cannot sign; made ACTIVE again, it can."""
    al = await start_node(AL)
    gr = await start_node(GR)
    peer = gr.transport.channel(AL)  # type: ignore[attr-defined]
    await _until(al, peer, ALL_SERVING)
    key_id = al.keyring.signer.key_id
    await _publish(network, al, _signing_status(key_id, directory_pb2.KEY_STATUS_RETIRED, wall_clock_ms() - 1))
    await _until(al, peer, ONLY_LOCAL)
    await _publish(network, al, _signing_status(key_id, directory_pb2.KEY_STATUS_ACTIVE, 0))
    await _until(al, peer, ALL_SERVING)


async def test_a_lagging_high_water_mark_stops_new_commitments(
    start_node: StartNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    al = await start_node(AL)
    gr = await start_node(GR)
    peer = gr.transport.channel(AL)  # type: ignore[attr-defined]
    await _until(al, peer, ALL_SERVING)
    real_write = HighWaterMark.write

    def refuse(self: HighWaterMark, size: int, root: bytes) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(HighWaterMark, "write", refuse)
    event = audit_events.key_changed(at_ms=wall_clock_ms(), key_id="test", status="a commit")
    await al.store.audit.record([event])  # committed; its mark could not be written
    assert al.store.mark_behind_since is not None
    await _until(al, peer, ONLY_LOCAL)
    monkeypatch.setattr(HighWaterMark, "write", real_write)
    await al.store.audit.record([event])  # the next commit's mark is written: caught up
    assert al.store.mark_behind_since is None
    await _until(al, peer, ALL_SERVING)


async def _list_services(channel: grpc.aio.Channel) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async for answer in stub.ServerReflectionInfo(iter([request]), timeout=5):
        return [s.name for s in answer.list_services_response.service]
    raise AssertionError("no reflection answer")


async def test_reflection_on_the_local_port_only(start_node: StartNode) -> None:
    al = await start_node(AL)
    gr = await start_node(GR)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{al.local_port}") as local:
        assert LOCAL_SERVICE in await _list_services(local)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _list_services(gr.transport.channel(AL))  # type: ignore[attr-defined]
    assert refused.value.code() is grpc.StatusCode.UNIMPLEMENTED


async def test_a_poke_as_the_watcher_stops_does_not_keep_it_watching() -> None:
    """Python 3.11's wait_for swallows a cancellation that arrives as the poke it waits for
    completes; the watcher still stops (a node's stop once waited for it forever)."""
    probe = Probe(now_ms=1, directory_expires_at_ms=2, full_since=None, mark_behind_since=None, can_sign=True)
    for _ in range(20):
        watcher = HealthWatcher(HealthServicer(), lambda: probe, interval_s=60)
        watcher.start()
        await asyncio.sleep(0)  # the watcher is waiting for a poke
        watcher.poke()
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(watcher.stop(), 5)  # (stop swallows the timeout's cancel: time it)
        assert asyncio.get_running_loop().time() - started < 2
