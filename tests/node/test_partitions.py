"""Links go down for days: once a partner shows any sign of life, its queue drains in seconds,
whatever backoff it had reached; no wait anywhere exceeds ``delivery.retry_max_seconds``."""

from __future__ import annotations

import asyncio

import pytest

from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.net.channels import client_options
from focalpoint.storage.base import DeliveryState
from tests.node.conftest import Fabric, eventually

GR, AL = "gr-ekka", "al-shss"


async def _queue_during_an_outage(fabric: Fabric, n: int) -> list[bytes]:
    """``n`` messages to al, retried against a down al until each waits a full backoff (a "day")."""
    gr = fabric.nodes[GR]
    fabric.network.set_down(AL)
    ids = []
    for i in range(n):
        body = social_inquiry_request(case_ref_for(i), identified_at_ms=fabric.clock())
        ids.append((await gr.outbox.submit(AL, body)).message_id)

    async def all_retried() -> bool:
        rows = [await gr.store.outbox.get(m) for m in ids]
        return all(r is not None and r.attempts >= 1 for r in rows)

    await eventually(all_retried, within_s=2, what="every message tried once")
    for _ in range(3):  # backoffs grow to the cap; the fake clock stands still from here on
        await fabric.retry_now(GR, AL)
    await asyncio.sleep(0.05)
    for m in ids:
        row = await gr.store.outbox.get(m)
        assert row is not None
        assert row.state is DeliveryState.QUEUED
        assert row.next_attempt_ms > fabric.clock()  # each waits for a retry planned later
    return ids


@pytest.mark.parametrize("sign", ["al answers a ping", "al calls gr"])
async def test_after_a_long_outage_a_sign_of_life_drains_the_queue_without_waiting_for_backoffs(
    fabric: Fabric, sign: str
) -> None:
    """Back up, al is pinged (or calls gr): every queued message is delivered at once, exactly once."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    ids = await _queue_during_an_outage(fabric, 30)
    fabric.network.set_down(AL, False)
    if sign == "al answers a ping":
        await gr.reachability.ping(AL)
    else:
        await al.reachability.ping(GR)  # an incoming call is a sign of life too
    done = await asyncio.wait_for(asyncio.gather(*(gr.delivery.wait_closed(m) for m in ids)), 3)
    assert set(done) == {DeliveryState.DELIVERED}
    assert await al.store.inbox.count() == 30


def test_grpc_never_waits_longer_than_the_node_s_retry_ceiling_to_reconnect() -> None:
    """The channel's own reconnect backoff is capped at ``retry_max_seconds`` (gRPC's default is 2 min)."""
    options = dict(client_options(1 << 20, reconnect_max_ms=7_000))
    assert options["grpc.max_reconnect_backoff_ms"] == 7_000
    assert options["grpc.initial_reconnect_backoff_ms"] <= 7_000
