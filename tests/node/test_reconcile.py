"""The receiver's answers are lost for longer than a message's lifetime: the sender's entry
expires, yet the receiver holds the message. The two sides reconcile (``node.reconcile``): the
sender gets the original receipt, and an official is told a message may be sent again only once
the receiver has said it never received it and never will."""

from __future__ import annotations

import asyncio

import pytest

from focalpoint.audit import events as audit_events
from focalpoint.errors import UsageError
from focalpoint.exchange import reconcile
from focalpoint.exchange.reconcile import SETTLED_AFTER_MS
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.net.memory import PeerDoor
from focalpoint.storage.base import EXPIRED, NOT_RECEIVED, DeliveryState, OutboxRow
from focalpoint.v1 import audit_pb2, envelope_pb2, node_pb2
from tests.node.conftest import DoorProxy, Fabric, events, eventually

GR, AL, IT = "gr-ekka", "al-shss", "it-dgi"
TTL_S = 120
Kind = audit_pb2.AuditEventKind


async def _row(fabric: Fabric, message_id: bytes) -> OutboxRow:
    row = await fabric.nodes[GR].store.outbox.get(message_id)
    assert row is not None
    return row


async def _send_and_expire(fabric: Fabric, *, al_stores_it: bool) -> bytes:
    """gr sends al a message; al's answers are lost (or al is down) until it expired at gr."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    if al_stores_it:
        fabric.network.drop_answers(AL, 1_000_000)
    else:
        fabric.network.set_down(AL)
    body = social_inquiry_request(case_ref_for(42), identified_at_ms=fabric.clock())
    message_id = (await gr.outbox.submit(AL, body, ttl_seconds=TTL_S)).message_id

    for attempts in (1, 2):  # the first attempt, and a retry: both answered, both answers lost

        async def tried(n: int = attempts) -> bool:
            return (await _row(fabric, message_id)).attempts >= n

        await eventually(tried, within_s=2, what=f"gr tried {attempts} time(s)")
        await fabric.retry_now(GR, AL)
    assert (await al.store.inbox.count()) == (1 if al_stores_it else 0)
    fabric.clock.advance(TTL_S)
    assert await gr.delivery.expire() == [message_id]
    row = await _row(fabric, message_id)
    assert (row.state, row.last_error) == (DeliveryState.EXPIRED, EXPIRED)
    assert "do not send it again" in row.last_error
    fabric.network.drop_answers(AL, 0)
    fabric.network.set_down(AL, False)
    return message_id


async def test_an_expired_message_the_receiver_holds_becomes_delivered_with_the_original_receipt(
    fabric: Fabric,
) -> None:
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    message_id = await _send_and_expire(fabric, al_stores_it=True)
    await gr.reconciler.round()
    row = await _row(fabric, message_id)
    stored = await al.store.inbox.get(GR, message_id)
    assert stored is not None
    assert (row.state, row.receipt, row.last_error) == (DeliveryState.DELIVERED, stored.receipt, "")
    # gr's log tells the whole story, in order; al stored one copy.
    logged = [audit_events.decode(leaf) for _, leaf in reversed(await gr.store.audit.events(-1, 0))]
    story = [e.kind for e in logged if e.message_id == message_id]
    assert story == [Kind.AUDIT_EVENT_KIND_SENT, Kind.AUDIT_EVENT_KIND_EXPIRED, Kind.AUDIT_EVENT_KIND_RECEIPTED]
    assert await al.store.inbox.count() == 1
    assert await gr.store.outbox.unconfirmed(AL, 10) == []


async def test_an_expired_message_the_receiver_never_got_may_be_sent_again_only_once_it_says_so(
    fabric: Fabric,
) -> None:
    """Right after expiry the receiver cannot yet rule out a delivery in flight: the entry stays
    EXPIRED ("do not send it again"); once that window passed on the receiver's clock, it is
    NOT_RECEIVED ("it may be sent again") with its audit event."""
    gr = fabric.nodes[GR]
    message_id = await _send_and_expire(fabric, al_stores_it=False)
    await gr.reconciler.round()
    assert (await _row(fabric, message_id)).state is DeliveryState.EXPIRED
    fabric.set_skew(AL, -120)  # al's clock is two minutes behind: its window closes later
    fabric.clock.advance(SETTLED_AFTER_MS / 1000)
    await gr.reconciler.round()
    assert (await _row(fabric, message_id)).state is DeliveryState.EXPIRED
    assert await events(gr, Kind.AUDIT_EVENT_KIND_NOT_RECEIVED) == []
    fabric.clock.advance(120)
    await gr.reconciler.round()
    row = await _row(fabric, message_id)
    assert (row.state, row.last_error) == (DeliveryState.NOT_RECEIVED, NOT_RECEIVED)
    assert "may be sent again" in row.last_error
    ((_, event),) = await events(gr, Kind.AUDIT_EVENT_KIND_NOT_RECEIVED)
    assert (event.message_id, event.peer_node) == (message_id, AL)


async def test_the_receiver_coming_back_is_asked_at_once(fabric: Fabric) -> None:
    """Asked while it was still unreachable, al is asked again as soon as it shows a sign of life."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    message_id = await _send_and_expire(fabric, al_stores_it=True)
    fabric.network.set_down(AL)
    await gr.reconciler.round()
    assert (await _row(fabric, message_id)).state is DeliveryState.EXPIRED
    fabric.network.set_down(AL, False)
    fabric.clock.advance(10)
    await al.reachability.ping(GR)

    async def delivered() -> bool:
        return (await _row(fabric, message_id)).state is DeliveryState.DELIVERED

    await eventually(delivered, within_s=2, what="gr settled the message after al's ping")


class LyingDoor(DoorProxy):
    """al's door answering questions about receipts with ``mode``: a receipt that does not verify,
    or answers about other messages than those asked."""

    def __init__(self, inner: PeerDoor, mode: str) -> None:
        super().__init__(inner)
        self.mode = mode

    async def receipts(self, peer: str, request: node_pb2.ReceiptsRequest) -> node_pb2.ReceiptsResponse:
        answer = await self.inner.receipts(peer, request)
        if self.mode == "forged receipt":
            content = envelope_pb2.ReceiptContent.FromString(answer.messages[0].receipt.content)
            content.received_at_ms += 1  # no longer what al signed
            answer.messages[0].receipt.content = content.SerializeToString()
        else:
            answer.messages[0].message_id = bytes(16)
        return answer


@pytest.mark.parametrize("mode", ["forged receipt", "another message"])
async def test_an_answer_that_proves_nothing_leaves_the_entry_expired(fabric: Fabric, mode: str) -> None:
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    message_id = await _send_and_expire(fabric, al_stores_it=True)
    fabric.network.attach(AL, LyingDoor(al.peer_api, mode))
    await gr.reconciler.round()
    row = await _row(fabric, message_id)
    assert (row.state, row.last_error) == (DeliveryState.EXPIRED, EXPIRED)
    assert await events(gr, Kind.AUDIT_EVENT_KIND_RECEIPTED) == []
    fabric.network.attach(AL, al.peer_api)
    fabric.clock.advance(1)
    await gr.reconciler.round()
    assert (await _row(fabric, message_id)).state is DeliveryState.DELIVERED


async def test_a_node_learns_only_about_its_own_messages(fabric: Fabric) -> None:
    """it asks al about a message gr delivered there: al answers as for a message it never got."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    body = social_inquiry_request(case_ref_for(7), identified_at_ms=fabric.clock())
    sent = await gr.outbox.submit(AL, body)
    assert await asyncio.wait_for(gr.delivery.wait_closed(sent.message_id), 2) is DeliveryState.DELIVERED
    row = await _row(fabric, sent.message_id)
    question = reconcile.request([reconcile.Asked(sent.message_id, row.digest, row.expires_at_ms)])
    by_it = await fabric.network.transport(IT).receipts(AL, question)
    assert [m.holding for m in by_it.messages] == [node_pb2.HOLDING_NOT_YET]
    by_gr = await fabric.network.transport(GR).receipts(AL, question)
    assert [m.holding for m in by_gr.messages] == [node_pb2.HOLDING_HELD]
    stored = await al.store.inbox.get(GR, sent.message_id)
    assert stored is not None
    assert by_gr.messages[0].receipt.SerializeToString() == stored.receipt


async def test_a_bad_question_is_refused_saying_what_is_wrong(fabric: Fabric) -> None:
    question = node_pb2.ReceiptsRequest(messages=[node_pb2.AskedMessage(message_id=b"x" * 16, expires_at_ms=1)] * 2)
    with pytest.raises(UsageError, match="asked twice"):
        await fabric.network.transport(GR).receipts(AL, question)


async def test_a_clock_stepped_back_does_not_postpone_the_next_question(fabric: Fabric) -> None:
    """gr asked al (not yet), then gr's clock went back a day: al is asked again at the next round."""
    gr = fabric.nodes[GR]
    await _send_and_expire(fabric, al_stores_it=False)
    await gr.reconciler.round()
    asked = len([c for c in fabric.network.calls if c == (GR, AL, "GetReceipts")])
    fabric.set_skew(GR, -86_400)
    await gr.reconciler.round()
    assert len([c for c in fabric.network.calls if c == (GR, AL, "GetReceipts")]) == asked + 1
