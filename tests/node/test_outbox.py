"""What ``Outbox.submit`` refuses rather than answering misleadingly (focalpoint.node.outbox): a
``client_request_id`` reused for a different request, and an ``in_reply_to`` that names no message
exchanged with the recipient. Over the fakes (``fabric``)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

import pytest

from focalpoint.errors import UsageError
from focalpoint.localnet.samples import case_ref_for, social_inquiry_report, social_inquiry_request
from focalpoint.node.outbox import Outbox, Submitted
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState
from focalpoint.v1 import audit_pb2, messages_pb2
from tests.node.conftest import Fabric, events

GR, AL, IT = "gr-ekka", "al-shss", "it-dgi"
CASE = case_ref_for(42)
SENT = audit_pb2.AUDIT_EVENT_KIND_SENT


def request(fabric: Fabric, case_ref: str = CASE) -> messages_pb2.Body:
    return social_inquiry_request(case_ref, identified_at_ms=fabric.clock())


async def outbox_rows(node: Node) -> int:
    return len(await node.store.outbox.page(100, 0))


async def sent_sequences(node: Node) -> list[int]:
    return [e.sequence for _, e in await events(node, SENT)]


async def test_a_repeated_client_request_id_with_the_same_request_returns_the_first_message(fabric: Fabric) -> None:
    """A retry (same recipient, body, in_reply_to and lifetime) gets the first message back: no row, no SENT
    event and no sequence number are spent on it."""
    gr = fabric.nodes[GR]
    body = request(fabric)
    first = await gr.outbox.submit(AL, body, ttl_seconds=3600, client_request_id="req-1")
    again = await gr.outbox.submit(AL, request(fabric), ttl_seconds=3600, client_request_id="req-1")
    assert again == first
    after = await gr.outbox.submit(AL, request(fabric, case_ref_for(43)))
    assert await outbox_rows(gr) == 2
    assert await sent_sequences(gr) == [1, 2]
    assert after.message_id != first.message_id


Change = Callable[[Fabric, dict[str, Any]], None]


def other_recipient(fabric: Fabric, submission: dict[str, Any]) -> None:
    submission["recipient"] = IT


def other_body(fabric: Fabric, submission: dict[str, Any]) -> None:
    submission["body"] = request(fabric, case_ref_for(99))


def other_ttl(fabric: Fabric, submission: dict[str, Any]) -> None:
    submission["ttl_seconds"] = 7200


def other_reply(fabric: Fabric, submission: dict[str, Any]) -> None:
    submission["in_reply_to"] = submission["earlier"]


@pytest.mark.parametrize(
    ("change", "what"),
    [
        pytest.param(other_recipient, "recipient", id="recipient"),
        pytest.param(other_body, "body", id="body"),
        pytest.param(other_ttl, "ttl_seconds", id="ttl"),
        pytest.param(other_reply, "in_reply_to", id="in_reply_to"),
    ],
)
async def test_a_client_request_id_reused_for_a_different_request_is_refused_and_nothing_is_sent(
    fabric: Fabric, change: Change, what: str
) -> None:
    """Reusing a request id with another recipient, body, in_reply_to or lifetime is a UsageError naming the id
    and what differs (never the content); the new message is not stored, the first stays as it was."""
    gr = fabric.nodes[GR]
    earlier = await gr.outbox.submit(AL, request(fabric, case_ref_for(1)))
    first = await gr.outbox.submit(AL, request(fabric), ttl_seconds=3600, client_request_id="req-7")
    submission: dict[str, Any] = {"recipient": AL, "body": request(fabric), "ttl_seconds": 3600}
    submission["earlier"] = earlier.message_id
    change(fabric, submission)
    submission.pop("earlier")
    with pytest.raises(UsageError) as refused:
        await gr.outbox.submit(**submission, client_request_id="req-7")
    message = str(refused.value)
    assert f"client_request_id 'req-7' was already used for message {first.message_id.hex()}" in message
    assert f"with a different {what};" in message
    assert "not sent" in message
    assert "GR-0000000" not in message
    assert await outbox_rows(gr) == 2
    assert await sent_sequences(gr) == [1, 2]
    assert await gr.outbox.submit(AL, request(fabric), ttl_seconds=3600, client_request_id="req-7") == first


async def test_concurrent_submissions_with_one_request_id_take_turns(fabric: Fabric) -> None:
    """Three submissions with one id at once (one group-commit batch if they raced): the same request is sent
    once, with one sequence number; a different one is refused, whichever way they are ordered."""
    gr = fabric.nodes[GR]
    same, also_same = request(fabric), request(fabric)
    results = await asyncio.gather(
        gr.outbox.submit(AL, same, client_request_id="req-c"),
        gr.outbox.submit(AL, request(fabric, case_ref_for(777)), client_request_id="req-c"),
        gr.outbox.submit(AL, also_same, client_request_id="req-c"),
        return_exceptions=True,
    )
    first, different, repeat = results
    assert isinstance(first, Submitted)
    assert isinstance(different, UsageError)
    assert "with a different body" in str(different)
    assert repeat == first
    assert await outbox_rows(gr) == 1
    assert await sent_sequences(gr) == [1]


async def test_a_request_id_from_another_process_on_the_same_database_is_compared_after_the_commit(
    fabric: Fabric,
) -> None:
    """Two outboxes on one store (as two processes on one database): both seal, the store keeps the first commit,
    and the other submission gets that message if it is the same request and a UsageError if it is not."""
    gr = fabric.nodes[GR]
    twin = Outbox(
        me=GR,
        directory=lambda: gr.cache.current,
        keyring=gr.keyring,
        store=gr.store.outbox,
        inbox=gr.store.inbox,
        cipher=gr.cipher,
        delivery=gr.delivery,
        limits=gr.limits,
        default_ttl_s=gr.config.delivery.message_ttl_seconds,
        clock_ms=fabric.clock,
    )
    await twin.load()
    try:
        body = request(fabric)
        a, b = await asyncio.gather(
            gr.outbox.submit(AL, body, client_request_id="req-x"), twin.submit(AL, body, client_request_id="req-x")
        )
        assert a.message_id == b.message_id  # one message; its state may have moved on in between
        results = await asyncio.gather(
            gr.outbox.submit(AL, request(fabric, case_ref_for(100)), client_request_id="req-y"),
            twin.submit(AL, request(fabric, case_ref_for(200)), client_request_id="req-y"),
            return_exceptions=True,
        )
        # Whichever committed first wins; the other is told its request differs.
        assert sorted(type(r).__name__ for r in results) == ["Submitted", "UsageError"]
        refused = next(r for r in results if isinstance(r, UsageError))
        assert "client_request_id 'req-y' was already used" in str(refused)
        assert await outbox_rows(gr) == 2
    finally:
        await twin.close()


async def test_a_request_id_is_still_checked_after_a_restart(fabric: Fabric) -> None:
    """The comparison reads the first message's stored (encrypted) local copy, so it holds across a restart."""
    gr = fabric.nodes[GR]
    first = await gr.outbox.submit(AL, request(fabric), client_request_id="req-r")
    await fabric.close(GR)
    gr = await fabric.open(GR)
    assert await gr.outbox.submit(AL, request(fabric), client_request_id="req-r") == first
    with pytest.raises(UsageError, match="with a different body"):
        await gr.outbox.submit(AL, request(fabric, case_ref_for(555)), client_request_id="req-r")


# --- in_reply_to ---------------------------------------------------------------------------


async def received_from(fabric: Fabric, sender: str, recipient: str) -> bytes:
    """The id of a message ``sender`` sent and ``recipient`` stored."""
    sent = await fabric.nodes[sender].outbox.submit(recipient, request(fabric, case_ref_for(1, "AL")))
    state = await asyncio.wait_for(fabric.nodes[sender].delivery.wait_closed(sent.message_id), 5)
    assert state is DeliveryState.DELIVERED
    return sent.message_id


async def test_a_reply_to_a_message_received_from_the_recipient_or_sent_to_it_is_accepted(fabric: Fabric) -> None:
    """in_reply_to may name a message this node received from the recipient, or one it sent to the recipient."""
    gr = fabric.nodes[GR]
    received = await received_from(fabric, AL, GR)
    report = social_inquiry_report(CASE, completed_at_ms=fabric.clock())
    reply = await gr.outbox.submit(AL, report, in_reply_to=received)
    follow_up = await gr.outbox.submit(AL, request(fabric), in_reply_to=reply.message_id)
    assert follow_up.state is DeliveryState.QUEUED
    assert await outbox_rows(gr) == 2


async def test_a_reply_to_a_message_never_seen_is_refused_and_nothing_is_sent(fabric: Fabric) -> None:
    """An in_reply_to that names no message this node received or sent is a UsageError saying so; nothing is queued."""
    gr = fabric.nodes[GR]
    unknown = secrets.token_bytes(16)
    with pytest.raises(UsageError) as refused:
        await gr.outbox.submit(AL, request(fabric), in_reply_to=unknown)
    assert str(refused.value) == (
        f"in_reply_to {unknown.hex()} is not a message this node received from 'al-shss' or sent to it"
    )
    assert await outbox_rows(gr) == 0
    assert await sent_sequences(gr) == []


async def test_a_reply_to_a_message_exchanged_with_another_node_is_refused(fabric: Fabric) -> None:
    """A message received from it-dgi, or sent to it, cannot be answered to al-shss: the error says it belongs to
    another node."""
    gr = fabric.nodes[GR]
    from_it = await received_from(fabric, IT, GR)
    to_it = (await gr.outbox.submit(IT, request(fabric))).message_id
    for other in (from_it, to_it):
        with pytest.raises(UsageError) as refused:
            await gr.outbox.submit(AL, request(fabric), in_reply_to=other)
        assert str(refused.value) == (
            f"in_reply_to {other.hex()} is a message exchanged with another node, not with 'al-shss'"
        )
    assert await outbox_rows(gr) == 1
