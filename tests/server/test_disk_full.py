"""A node whose disk fills up (a real tmpfs): officials are told "the node's disk is full", the
node logs it, its health says it takes no submits, partners' messages wait at their senders,
nothing is lost, and it all resumes by itself when space returns."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from structlog.testing import capture_logs

from focalpoint.client import LocalClient
from focalpoint.errors import StorageFull
from focalpoint.localnet import LocalNetwork
from focalpoint.localnet.people import People
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.config import load_config
from focalpoint.server.health import SERVICES
from focalpoint.server.node import LOCAL_SERVICE, Node
from focalpoint.storage.base import DeliveryState
from focalpoint.v1 import local_pb2
from tests.conftest import StartNode
from tests.support.tmpfs import fill, small_disk

GR, AL = "gr-ekka", "al-shss"


def _move_database(network: LocalNetwork, node_id: str, disk: Path) -> None:
    path = network.nodes[node_id].config_path
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["storage"]["database"] = str(disk / "node.sqlite")
    path.write_text(yaml.safe_dump(config), encoding="utf-8")


async def _submit_until_full(client: LocalClient, request: local_pb2.SubmitRequest) -> StorageFull:
    for _ in range(50):  # bounded: the WAL's free pages run out within a few submits
        try:
            await client.submit(request)
        except StorageFull as e:
            return e
    raise AssertionError("the disk never filled")


async def _local_status(node: Node) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{node.local_port}") as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=LOCAL_SERVICE), timeout=5
        )
    return int(answer.status)


async def _all_statuses(node: Node) -> set[int]:
    """The statuses of every service on the local port (a full disk stops them all)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{node.local_port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return {
            int((await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)).status)
            for service in SERVICES
        }


async def _until_status(node: Node, status: int) -> None:
    for _ in range(60):  # the node's upkeep reports it within a second or two
        if await _all_statuses(node) == {status}:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the node's health never became {status} for every service")


async def test_a_full_disk_is_reported_to_people_and_resumes_by_itself(
    network: LocalNetwork, start_node: StartNode, tmp_path: Path
) -> None:
    """Submit → 'the node's disk is full'; health NOT_SERVING and a THIS NODE line; a partner's message
    waits; once space returns both go through, each exactly once."""
    with small_disk(tmp_path / "disk", 4096) as disk:
        _move_database(network, AL, disk)
        gr = await start_node(GR)
        al = await start_node(AL)
        assert await _local_status(al) == health_pb2.HealthCheckResponse.SERVING
        people = People(f"127.0.0.1:{al.local_port}", al.keyring.keys.local_api_token, unit="al-shss")
        client = await people.client("officer.1")  # logged in before the disk fills
        filler = fill(disk)
        body = social_inquiry_request(case_ref_for(1, "AL"), identified_at_ms=wall_clock_ms())
        body.context.sender_unit = "al-shss"  # the officer sends from their own unit
        request = local_pb2.SubmitRequest(recipient_node=GR, body=body)
        try:
            with capture_logs() as logs:
                refused = await _submit_until_full(client, request)
            assert "the node's disk is full" in str(refused)
            assert any(e["event"] == "disk_full" and e["log_level"] == "error" for e in logs)
            report = json.loads((await client.get_health()).report_json)
            assert not report["healthy"]
            assert any("disk is full" in p for p in report["node_problems"])
            await _until_status(al, health_pb2.HealthCheckResponse.NOT_SERVING)
            # A partner's message to the full node waits at its sender (a retryable refusal).
            sent = await gr.outbox.submit(AL, social_inquiry_request(case_ref_for(1), identified_at_ms=wall_clock_ms()))
            await asyncio.sleep(0.3)
            row = await gr.store.outbox.get(sent.message_id)
            assert row is not None
            assert row.state is DeliveryState.QUEUED
            filler.unlink()  # space returns
            after = await client.submit(request)
            assert len(after.message_id) == 16
            await _until_status(al, health_pb2.HealthCheckResponse.SERVING)
            gr.delivery.wake(AL, scan=True)
            assert await asyncio.wait_for(gr.delivery.wait_closed(sent.message_id), 10) is DeliveryState.DELIVERED
            assert await al.store.inbox.get(GR, sent.message_id) is not None
        finally:
            await people.close()
        await al.stop(0)
        reopened = await Node.open(load_config(network.nodes[AL].config_path))
        try:
            assert await reopened.store.inbox.count() == 1
        finally:
            await reopened.store.close()
