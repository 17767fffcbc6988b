"""Reconciliation over real mutual TLS: a sender that never heard the receiver's answer and was
down past the message's lifetime learns, once back, that the message was delivered, and gets
the receipt the receiver gave then."""

from __future__ import annotations

import asyncio
import time

import pytest

from focalpoint.audit import events as audit_events
from focalpoint.errors import UsageError
from focalpoint.localnet import LocalNetwork
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState, OutboxRow
from focalpoint.v1 import audit_pb2, envelope_pb2, node_pb2
from tests.conftest import StartNode

SENDER, RECEIVER = "gr-ekka", "al-shss"
TTL_S = 60


async def row_when(node: Node, message_id: bytes, state: DeliveryState, timeout_s: float = 20) -> OutboxRow:
    deadline = time.monotonic() + timeout_s
    while True:
        row = await node.store.outbox.get(message_id)
        assert row is not None
        if row.state is state:
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"the entry is {row.state.name} after {timeout_s} s, not {state.name}")
        await asyncio.sleep(0.05)


async def test_a_sender_back_after_the_lifetime_settles_what_the_receiver_stored(
    network: LocalNetwork, start_node: StartNode
) -> None:
    config = load_config(network.nodes[SENDER].config_path)
    sender = await Node.open(config)
    await sender.start()  # the receiver is down: the message stays queued
    body = social_inquiry_request(case_ref_for(9001), identified_at_ms=wall_clock_ms())
    message_id = (await sender.outbox.submit(RECEIVER, body, ttl_seconds=TTL_S)).message_id
    await row_when(sender, message_id, DeliveryState.QUEUED)
    await sender.stop(0)

    # The sender's last attempt reached the receiver, but the sender went down before the answer.
    receiver = await start_node(RECEIVER)
    sender = await Node.open(config)
    row = await sender.store.outbox.get(message_id)
    assert row is not None
    answer = await sender.transport.deliver(RECEIVER, envelope_pb2.Envelope.FromString(row.envelope))
    await sender.stop(0)
    stored = await receiver.store.inbox.get(SENDER, message_id)
    assert stored is not None
    assert answer.receipt.SerializeToString() == stored.receipt

    # Back past the lifetime: expired, then settled by asking the receiver, over mutual TLS.
    sender = await Node.open(config, clock_ms=lambda: wall_clock_ms() + (TTL_S + 1) * 1000)
    try:
        await sender.start()
        settled = await row_when(sender, message_id, DeliveryState.DELIVERED)
        assert settled.receipt == stored.receipt
        assert await receiver.store.inbox.count() == 1
        leaves = [audit_events.decode(leaf) for _, leaf in reversed(await sender.store.audit.events(-1, 0))]
        story = [audit_pb2.AuditEventKind.Name(e.kind)[17:] for e in leaves if e.message_id == message_id]
        assert story == ["SENT", "EXPIRED", "RECEIPTED"]

        question = node_pb2.ReceiptsRequest(messages=[node_pb2.AskedMessage(message_id=b"short", expires_at_ms=1)])
        with pytest.raises(UsageError, match="a message id is 16 bytes, not 5"):
            await sender.transport.receipts(RECEIVER, question)
    finally:
        await sender.stop(0)
