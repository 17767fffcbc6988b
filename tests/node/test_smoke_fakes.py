"""One message end to end over the fakes: the parts work without gRPC, TLS or SQLite."""

from __future__ import annotations

import asyncio

from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.storage.base import DeliveryState
from tests.node.conftest import Fabric


async def test_a_message_is_delivered_and_receipted_over_the_in_memory_network(fabric: Fabric) -> None:
    """Submit at gr-ekka, the inbox of al-shss stores it, gr-ekka's outbox closes on the receipt."""
    gr, al = fabric.nodes["gr-ekka"], fabric.nodes["al-shss"]
    body = social_inquiry_request(case_ref_for(1), identified_at_ms=fabric.clock())
    sent = await gr.outbox.submit("al-shss", body)
    state = await asyncio.wait_for(gr.delivery.wait_closed(sent.message_id), 5)
    assert state is DeliveryState.DELIVERED
    assert await al.store.inbox.get("gr-ekka", sent.message_id) is not None
    assert ("gr-ekka", "al-shss", "Deliver") in fabric.network.calls
