"""A peer that is down gets everything when it returns; what outlives its TTL ends EXPIRED, never lost silently."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import cast

import pytest

from focalpoint.localnet import LocalNetwork
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState, OutboxRow
from focalpoint.v1 import messages_pb2

SENDER, RECEIVER = "gr-ekka", "al-shss"
M = 20
DEADLINE_S = 30.0

StartNode = Callable[[str], Awaitable[Node]]


def _request(n: int) -> messages_pb2.Body:
    """A social inquiry request on link number ``n``."""
    return social_inquiry_request(case_ref_for(n), identified_at_ms=wall_clock_ms())


def starter(start_node: Callable[[str], object]) -> StartNode:
    return cast(StartNode, start_node)


async def outbox_when(
    node: Node, done: Callable[[list[OutboxRow]], bool], timeout_s: float = DEADLINE_S
) -> list[OutboxRow]:
    """Poll the whole outbox until ``done`` holds; raise AssertionError with the last rows at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = [r for r in await node.store.outbox.page(1000, 0) if isinstance(r, OutboxRow)]  # none is damaged
        if done(rows):
            return rows
        if time.monotonic() > deadline:
            states = sorted((r.state.name, r.attempts) for r in rows)
            raise AssertionError(f"outbox not as expected after {timeout_s} s: {states}")
        await asyncio.sleep(0.05)


def all_retried(rows: list[OutboxRow]) -> bool:
    return len(rows) == M and all(r.attempts >= 2 for r in rows)


async def test_peer_down_then_up_gets_everything_without_operator_action(
    network: LocalNetwork, start_node: Callable[[str], object]
) -> None:
    """Messages to a down peer stay QUEUED with attempts and an error, then all arrive once it starts."""
    sender = await starter(start_node)(SENDER)
    sent = [await sender.outbox.submit(RECEIVER, _request(9200 + i)) for i in range(M)]
    rows = await outbox_when(sender, all_retried)
    assert {r.state for r in rows} == {DeliveryState.QUEUED}
    assert all(r.last_error for r in rows)
    assert all(r.receipt is None for r in rows)

    receiver = await starter(start_node)(RECEIVER)
    states = await asyncio.wait_for(
        asyncio.gather(*(sender.delivery.wait_closed(s.message_id) for s in sent)), DEADLINE_S
    )
    assert set(states) == {DeliveryState.DELIVERED}
    assert await receiver.store.inbox.count() == M
    for s in sent:
        row = await sender.store.outbox.get(s.message_id)
        assert row is not None
        assert row.receipt is not None
        assert row.last_error == ""


class FakeClock:
    """Wall-clock time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def __call__(self) -> int:
        return wall_clock_ms() + self.offset_ms


@pytest.fixture
async def clocked_sender(network: LocalNetwork) -> AsyncIterator[tuple[Node, FakeClock]]:
    """The sender, started in this process with a clock the test controls; stopped after."""
    clock = FakeClock()
    node = await Node.open(load_config(network.nodes[SENDER].config_path), clock_ms=clock)
    try:
        await node.start()
        yield node, clock
    finally:
        await node.stop(0)


async def test_message_outliving_its_ttl_while_peer_is_down_ends_expired(
    clocked_sender: tuple[Node, FakeClock], start_node: Callable[[str], object]
) -> None:
    """Past its TTL a queued message becomes EXPIRED (waiters are told) and is never sent later; others still go."""
    sender, clock = clocked_sender
    short = await sender.outbox.submit(
        RECEIVER, social_inquiry_request(case_ref_for(9101), identified_at_ms=wall_clock_ms()), ttl_seconds=60
    )
    long = await sender.outbox.submit(RECEIVER, _request(9102))
    waiter = asyncio.create_task(sender.delivery.wait_closed(short.message_id))
    try:
        rows = await outbox_when(sender, lambda rs: len(rs) == 2 and all(r.attempts >= 1 for r in rs))
        assert {r.state for r in rows} == {DeliveryState.QUEUED}
        assert not waiter.done()

        clock.offset_ms += 61_000
        await sender.delivery.expire()
        assert await asyncio.wait_for(waiter, 5) is DeliveryState.EXPIRED
    finally:
        waiter.cancel()
    assert await sender.delivery.wait_closed(short.message_id) is DeliveryState.EXPIRED
    expired = await sender.store.outbox.get(short.message_id)
    assert expired is not None
    assert expired.receipt is None
    assert "expired" in expired.last_error
    still = await sender.store.outbox.get(long.message_id)
    assert still is not None
    assert still.state is DeliveryState.QUEUED

    receiver = await starter(start_node)(RECEIVER)
    assert await asyncio.wait_for(sender.delivery.wait_closed(long.message_id), DEADLINE_S) is DeliveryState.DELIVERED
    assert await receiver.store.inbox.get(SENDER, long.message_id) is not None
    assert await receiver.store.inbox.get(SENDER, short.message_id) is None
    final = await sender.store.outbox.get(short.message_id)
    assert final is not None
    assert final.state is DeliveryState.EXPIRED
