"""Delivery over the fakes: retries with backoff until a signed receipt, a refusal or expiry
closes an outbox entry, batches to one peer, and a restart that picks up what was left.

Retries are made due by moving the fake clock past the longest backoff and waking the
worker (``Fabric.retry_now``); nothing waits for a backoff in real time."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from focalpoint.errors import Refusal
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.net.memory import PeerDoor
from focalpoint.node.delivery import Backoff
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState, OutboxRow
from focalpoint.v1 import audit_pb2, envelope_pb2, node_pb2
from tests.node.conftest import DoorProxy, Fabric, events, eventually

GR, AL, IT = "gr-ekka", "al-shss", "it-dgi"
DELIVERED = audit_pb2.AUDIT_EVENT_KIND_DELIVERED


async def _submit(fabric: Fabric, case_ref: str, *, ttl_seconds: int = 0) -> bytes:
    body = social_inquiry_request(case_ref, identified_at_ms=fabric.clock())
    sent = await fabric.nodes[GR].outbox.submit(AL, body, ttl_seconds=ttl_seconds)
    return sent.message_id


async def _row(node: Node, message_id: bytes) -> OutboxRow:
    row = await node.store.outbox.get(message_id)
    assert row is not None
    return row


async def _attempted(node: Node, message_ids: list[bytes], times: int) -> None:
    """Wait until each entry has been tried (and rescheduled) at least ``times`` times."""

    async def done() -> bool:
        rows = [await _row(node, m) for m in message_ids]
        return all(r.attempts >= times for r in rows)

    await eventually(done, what=f"{len(message_ids)} entries tried {times} time(s)")


async def _closed(node: Node, message_id: bytes) -> DeliveryState:
    return await asyncio.wait_for(node.delivery.wait_closed(message_id), 1)


def _calls_to_al(fabric: Fabric, since: int = 0) -> list[str]:
    """gr's delivery calls to al (a start-up's question about its log is no delivery)."""
    return [
        method
        for caller, callee, method in fabric.network.calls[since:]
        if (caller, callee) == (GR, AL) and method.startswith("Deliver")
    ]


class RecordingDoor(DoorProxy):
    """al's door, remembering whether each delivery it answered was a duplicate; with
    ``tamper``, it spoils the receipts it hands back (their signature no longer verifies)."""

    def __init__(self, inner: PeerDoor) -> None:
        super().__init__(inner)
        self.duplicates: list[bool] = []
        self.tamper = False

    async def deliver(self, peer: str, envelope: envelope_pb2.Envelope) -> node_pb2.DeliverResponse:
        answer = await self.inner.deliver(peer, envelope)
        self.duplicates.append(answer.duplicate)
        if self.tamper:
            content = envelope_pb2.ReceiptContent.FromString(answer.receipt.content)
            content.received_at_ms += 1
            answer.receipt.content = content.SerializeToString()
        return answer


async def test_while_the_receiver_is_down_the_entry_stays_queued_and_is_retried_later_each_time(
    fabric: Fabric,
) -> None:
    """QUEUED with growing attempts, "not reachable" and a later next attempt; then delivered once."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    fabric.network.set_down(AL)
    mid = await _submit(fabric, case_ref_for(301))
    await _attempted(gr, [mid], 1)
    first = await _row(gr, mid)
    assert first.state is DeliveryState.QUEUED
    assert "not reachable" in first.last_error
    assert first.next_attempt_ms > first.created_at_ms
    await fabric.retry_now(GR, AL)
    await _attempted(gr, [mid], 2)
    second = await _row(gr, mid)
    assert second.state is DeliveryState.QUEUED
    assert second.next_attempt_ms > first.next_attempt_ms
    assert _calls_to_al(fabric) == ["Deliver", "Deliver"]
    fabric.network.set_down(AL, False)
    await fabric.retry_now(GR, AL)
    assert await _closed(gr, mid) is DeliveryState.DELIVERED
    assert await al.store.inbox.count() == 1
    assert len(await events(al, DELIVERED)) == 1
    closed = await _row(gr, mid)
    assert closed.receipt is not None
    assert closed.last_error == ""


async def test_a_lost_answer_is_retried_and_closed_by_the_original_receipt_without_a_second_copy(
    fabric: Fabric,
) -> None:
    """al stores the message but gr never hears; the retry is answered as a duplicate with the first receipt."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    door = RecordingDoor(al.peer_api)
    fabric.network.attach(AL, door)
    fabric.network.drop_answers(AL, 1)
    mid = await _submit(fabric, case_ref_for(302))
    await _attempted(gr, [mid], 1)
    assert (await _row(gr, mid)).state is DeliveryState.QUEUED
    stored = await al.store.inbox.get(GR, mid)
    assert stored is not None
    await fabric.retry_now(GR, AL)
    assert await _closed(gr, mid) is DeliveryState.DELIVERED
    assert door.duplicates == [False, True]
    assert (await _row(gr, mid)).receipt == stored.receipt
    assert await al.store.inbox.count() == 1
    assert len(await events(al, DELIVERED)) == 1


async def test_a_receipt_that_does_not_verify_never_closes_the_entry(fabric: Fabric) -> None:
    """A spoilt receipt leaves the entry QUEUED with the reason; the next good one closes it."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    door = RecordingDoor(al.peer_api)
    door.tamper = True
    fabric.network.attach(AL, door)
    mid = await _submit(fabric, case_ref_for(303))
    await _attempted(gr, [mid], 1)
    row = await _row(gr, mid)
    assert row.state is DeliveryState.QUEUED
    assert "invalid receipt" in row.last_error
    assert row.receipt is None
    door.tamper = False
    await fabric.retry_now(GR, AL)
    assert await _closed(gr, mid) is DeliveryState.DELIVERED
    assert door.duplicates == [False, True]
    assert await al.store.inbox.count() == 1


async def test_a_refusal_that_is_not_retryable_fails_the_entry_with_the_receivers_reason(fabric: Fabric) -> None:
    """al's address leads to it-dgi, which refuses WRONG_RECIPIENT: FAILED, with a REFUSED_BY_PEER event."""
    gr, it = fabric.nodes[GR], fabric.nodes[IT]
    fabric.network.attach(AL, it.peer_api)
    mid = await _submit(fabric, case_ref_for(304))
    assert await _closed(gr, mid) is DeliveryState.FAILED
    row = await _row(gr, mid)
    assert row.state is DeliveryState.FAILED
    assert "wrong_recipient" in row.last_error
    assert "'it-dgi'" in row.last_error  # the receiver's own words
    assert row.attempts == 1
    [(_, event)] = await events(gr, audit_pb2.AUDIT_EVENT_KIND_REFUSED_BY_PEER)
    assert (event.peer_node, event.message_id) == (AL, mid)
    assert Refusal(event.refusal) is Refusal.WRONG_RECIPIENT
    assert event.envelope_sha256 == row.digest
    # It is not tried again.
    await fabric.retry_now(GR, AL)
    await asyncio.sleep(0.02)
    assert _calls_to_al(fabric) == ["Deliver"]


async def test_a_retryable_refusal_keeps_the_entry_queued_until_the_receiver_can_store_it(fabric: Fabric) -> None:
    """al's disk fails: UNAVAILABLE keeps the entry QUEUED; the retry after it recovers delivers it."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    fabric.stores[AL].fail_next_writes(1)
    mid = await _submit(fabric, case_ref_for(305))
    await _attempted(gr, [mid], 1)
    row = await _row(gr, mid)
    assert row.state is DeliveryState.QUEUED
    assert "unavailable" in row.last_error
    assert await al.store.inbox.count() == 0
    assert not await events(gr, audit_pb2.AUDIT_EVENT_KIND_REFUSED_BY_PEER)
    await fabric.retry_now(GR, AL)
    assert await _closed(gr, mid) is DeliveryState.DELIVERED
    assert await al.store.inbox.count() == 1


async def test_an_entry_whose_lifetime_ends_is_expired_and_its_waiter_told(fabric: Fabric) -> None:
    """Past ``expires_at_ms``, ``expire`` closes the entry EXPIRED with an EXPIRED event; it is never sent again."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    fabric.network.set_down(AL)
    mid = await _submit(fabric, case_ref_for(306), ttl_seconds=60)
    await _attempted(gr, [mid], 1)
    waiter = asyncio.create_task(gr.delivery.wait_closed(mid))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    await gr.delivery.expire()  # not yet: nothing changes
    assert (await _row(gr, mid)).state is DeliveryState.QUEUED
    fabric.clock.advance(61)
    assert fabric.clock() >= (await _row(gr, mid)).expires_at_ms
    await gr.delivery.expire()
    assert await asyncio.wait_for(waiter, 1) is DeliveryState.EXPIRED
    row = await _row(gr, mid)
    assert row.state is DeliveryState.EXPIRED
    assert "expired" in row.last_error
    [(_, event)] = await events(gr, audit_pb2.AUDIT_EVENT_KIND_EXPIRED)
    assert (event.peer_node, event.message_id, event.envelope_sha256) == (AL, mid, row.digest)
    # The receiver comes back: the expired entry is not delivered.
    fabric.network.set_down(AL, False)
    calls = len(fabric.network.calls)
    await fabric.retry_now(GR, AL)
    await asyncio.sleep(0.02)
    assert _calls_to_al(fabric, calls) == []
    assert await al.store.inbox.count() == 0


async def test_many_messages_to_one_peer_go_as_one_batch_under_one_receipt_root(fabric: Fabric) -> None:
    """Ten entries due together: one DeliverStream call, one inbox commit at al, one signed root."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    fabric.network.set_down(AL)
    mids = [await _submit(fabric, case_ref_for(400 + i)) for i in range(10)]
    await _attempted(gr, mids, 1)
    fabric.network.set_down(AL, False)
    calls, commits = len(fabric.network.calls), fabric.stores[AL].commits
    await fabric.retry_now(GR, AL)
    assert [await _closed(gr, m) for m in mids] == [DeliveryState.DELIVERED] * 10
    assert _calls_to_al(fabric, calls) == ["DeliverStream"]
    assert fabric.stores[AL].commits == commits + 1
    assert await al.store.inbox.count() == 10
    roots = set()
    for m in mids:
        receipt = (await _row(gr, m)).receipt
        assert receipt is not None
        roots.add(envelope_pb2.Receipt.FromString(receipt).batch.root)
    assert len(roots) == 1
    assert b"" not in roots


async def test_a_restarted_node_delivers_what_it_left_queued_exactly_once(fabric: Fabric) -> None:
    """Reopened on the same store, ``delivery.start`` sends the QUEUED entries in one batch."""
    fabric.network.set_down(AL)
    gr = fabric.nodes[GR]
    mids = [await _submit(fabric, case_ref_for(500 + i)) for i in range(3)]
    await _attempted(gr, mids, 1)
    await fabric.close(GR)
    fabric.network.set_down(AL, False)
    gr = await fabric.open(GR)
    fabric.clock.advance(1)
    calls = len(fabric.network.calls)
    await asyncio.sleep(0.02)
    assert _calls_to_al(fabric, calls) == []  # opening alone sends nothing
    await gr.delivery.start()
    assert [await _closed(gr, m) for m in mids] == [DeliveryState.DELIVERED] * 3
    assert _calls_to_al(fabric, calls) == ["DeliverStream"]
    al = fabric.nodes[AL]
    assert await al.store.inbox.count() == 3
    assert sorted(e.message_id for _, e in await events(al, DELIVERED)) == sorted(mids)
    later = await _submit(fabric, case_ref_for(510))
    assert (await _row(gr, later)).peer_sequence == 4
    assert await _closed(gr, later) is DeliveryState.DELIVERED


async def test_a_message_stored_before_a_restart_whose_receipt_was_lost_is_closed_by_that_receipt(
    fabric: Fabric,
) -> None:
    """The answer is lost, gr restarts; the retry from the new process gets the original receipt."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    fabric.network.drop_answers(AL, 1)
    mid = await _submit(fabric, case_ref_for(601))
    await _attempted(gr, [mid], 1)
    stored = await al.store.inbox.get(GR, mid)
    assert stored is not None
    await fabric.close(GR)
    gr = await fabric.open(GR)
    fabric.clock.advance(1)
    await gr.delivery.start()
    assert await _closed(gr, mid) is DeliveryState.DELIVERED
    assert (await _row(gr, mid)).receipt == stored.receipt
    assert await al.store.inbox.count() == 1


@given(
    initial=st.floats(min_value=0.001, max_value=100, allow_nan=False),
    factor=st.floats(min_value=1, max_value=1e5, allow_nan=False),
    steps=st.integers(min_value=1, max_value=40),
)
def test_backoff_delays_lie_in_the_upper_half_of_a_doubling_capped_interval(
    initial: float, factor: float, steps: int
) -> None:
    """Each delay is in [current/2, current]; current starts at the initial delay and doubles up to the cap."""
    cap = initial * factor
    backoff = Backoff(initial, cap)
    expected = 0.0
    for _ in range(steps):
        delay = backoff.next_delay()
        expected = initial if expected == 0 else min(expected * 2, cap)
        assert backoff.current_s == expected
        assert expected / 2 <= delay <= expected
    assert backoff.current_s <= cap


@given(
    initial=st.floats(min_value=0.001, max_value=100, allow_nan=False),
    steps=st.integers(min_value=1, max_value=20),
)
def test_backoff_starts_again_from_the_initial_delay_after_a_reset(initial: float, steps: int) -> None:
    """``reset`` forgets the growth: the next delay is at most the initial one."""
    backoff = Backoff(initial, initial * 64)
    for _ in range(steps):
        backoff.next_delay()
    backoff.reset()
    assert backoff.current_s == 0
    assert initial / 2 <= backoff.next_delay() <= initial
    assert backoff.current_s == initial
