"""End-to-end: a request and its report travel between two running nodes."""

from __future__ import annotations

from focalpoint.localnet.samples import case_ref_for, social_inquiry_report, social_inquiry_request
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState


async def test_request_and_report_round_trip(nodes: dict[str, Node]) -> None:
    """A request is delivered with a verified receipt, and a reply links back to it."""
    gr, al = nodes["gr-ekka"], nodes["al-shss"]
    sent = await gr.outbox.submit("al-shss", social_inquiry_request(case_ref_for(1), identified_at_ms=wall_clock_ms()))
    assert await gr.delivery.wait_closed(sent.message_id) is DeliveryState.DELIVERED
    row = await al.store.inbox.get("gr-ekka", sent.message_id)
    assert row is not None
    reply = await al.outbox.submit(
        "gr-ekka", social_inquiry_report(case_ref_for(1), completed_at_ms=wall_clock_ms()), in_reply_to=sent.message_id
    )
    assert await al.delivery.wait_closed(reply.message_id) is DeliveryState.DELIVERED
    assert await gr.store.inbox.get("al-shss", reply.message_id) is not None
    out = await gr.store.outbox.get(sent.message_id)
    assert out is not None
    assert out.receipt is not None
