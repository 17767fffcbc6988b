"""A descriptor flood on the peer port: silent TCP connections past what the process may open leave
the local API, the database and partners' deliveries working (a real ``node run`` process with a
low RLIMIT_NOFILE, so that a couple of hundred connections are enough)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import pytest

from focalpoint.localnet import LocalNetwork
from focalpoint.localnet.people import People
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.node.ports import wall_clock_ms
from focalpoint.people.roles import Role
from focalpoint.server.limits import descriptor_budget
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState
from focalpoint.v1 import local_pb2
from tests.conftest import StartNode
from tests.support.procs import NodeProcess

pytestmark = pytest.mark.slow

DESCRIPTORS = 160  # the flooded process's soft and hard limit: it cannot raise it
FLOOD = 200  # silent connections: more than the process could hold without a cap
CALL_TIMEOUT_S = 10.0
DELIVERY_TIMEOUT_S = 60.0  # past the 10 s handshake timeout and a few retries


@contextlib.contextmanager
def silent_connections(address: str, count: int) -> Iterator[list[socket.socket]]:
    """``count`` TCP connections to ``address`` that never send a byte, closed on the way out."""
    host, port = address.rsplit(":", 1)
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            socks.append(socket.create_connection((host, int(port)), timeout=CALL_TIMEOUT_S))
        yield socks
    finally:
        for s in socks:
            s.close()


async def test_a_descriptor_flood_on_the_peer_port_leaves_the_local_api_storage_and_partners_working(
    network: LocalNetwork, start_node: StartNode
) -> None:
    """200 silent connections to al-shss (160 descriptors): its local API reads and writes, and gr-ekka delivers."""
    al = NodeProcess(network.nodes["al-shss"], max_descriptors=DESCRIPTORS)
    try:
        await al.start()
        gr: Node = await start_node("gr-ekka")
        with silent_connections(al.node.peer_address, FLOOD):
            await asyncio.sleep(0.5)  # the node accepts what it accepts
            people = People(al.node.local_address, al.node.token, unit="al-shss")
            async with contextlib.AsyncExitStack() as stack:
                stack.push_async_callback(people.close)
                local = await people.client("officer.1")
                auditor = await people.client("auditor.1", (Role.AUDITOR,))
                assert (await local.get_health()).report_json
                before = (await auditor.list_audit(limit=1)).size
                body = social_inquiry_request(case_ref_for(1, "AL"), identified_at_ms=wall_clock_ms())
                body.context.sender_unit = "al-shss"  # the officer's own unit
                submitted = await local.submit(
                    local_pb2.SubmitRequest(recipient_node="it-dgi", body=body)
                )  # a write: the outbox row and its SENT event
                assert submitted.message_id
                # The SENT event, and the first list's own LIST event.
                assert (await auditor.list_audit(limit=1)).size == before + 2
            sent = await gr.outbox.submit(
                "al-shss", social_inquiry_request(case_ref_for(1), identified_at_ms=wall_clock_ms())
            )
            state = await asyncio.wait_for(gr.delivery.wait_closed(sent.message_id), DELIVERY_TIMEOUT_S)
            assert state is DeliveryState.DELIVERED
        budget = descriptor_budget(DESCRIPTORS)
        log = al.log.read_text(errors="replace")
        assert "descriptor_limit" in log
        assert f"peer_connections={budget.peer_connections}" in log
        assert "descriptor_limit_low" in log  # 160 is below what operators are told to give
    finally:
        al.kill()
