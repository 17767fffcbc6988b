"""Damaged rows in a running node's database (edited with SQL under it): ListOutbox and ListInbox list
every row, the unreadable ones marked with why (the column, never content); GetMessage of such a row
fails with DATA_LOSS naming it, and logs no read."""

from __future__ import annotations

import contextlib
import sqlite3

import grpc
import pytest

from focalpoint.audit import events as audit_events
from focalpoint.client import LocalClient
from focalpoint.errors import DamagedData
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState
from focalpoint.storage.sqlite import SqliteStore
from focalpoint.v1 import audit_pb2, local_pb2, local_pb2_grpc
from tests.support.people import people_of

GR, AL = "gr-ekka", "al-shss"
# The links of the messages _sent sends, one each.
REFS = [case_ref_for(7770 + i) for i in range(5)]


async def _sent(gr: Node, n: int) -> list[bytes]:
    """``n`` messages from gr to al, delivered; their ids, oldest first."""
    ids = []
    for i in range(n):
        body = social_inquiry_request(REFS[i], identified_at_ms=wall_clock_ms())
        sent = await gr.outbox.submit(AL, body)
        assert await gr.delivery.wait_closed(sent.message_id) is DeliveryState.DELIVERED
        ids.append(sent.message_id)
    return ids


def _edit(node: Node, *statements: tuple[str, tuple[object, ...]]) -> None:
    """Run SQL on the node's database file while it runs, as another program would."""
    assert isinstance(node.store, SqliteStore)
    with contextlib.closing(sqlite3.connect(node.store.path, timeout=10)) as conn, conn:
        for sql, params in statements:
            assert conn.execute(sql, params).rowcount == 1, sql


async def _reads(node: Node) -> int:
    rows = await node.store.audit.events(10_000, 0)
    return sum(1 for _, leaf in rows if audit_events.decode(leaf).kind == audit_pb2.AUDIT_EVENT_KIND_READ)


async def test_the_outbox_list_shows_every_row_and_marks_the_unreadable_ones(nodes: dict[str, Node]) -> None:
    """A local copy that fails AES-GCM, an envelope stored as text, a recipient that is not UTF-8 and a
    missing delivery row: five entries, four marked with why; the sound one unchanged; no content shown."""
    gr = nodes[GR]
    ids = await _sent(gr, 5)
    seqs = {r.message_id: r.seq for r in await gr.store.outbox.of_case(REFS[4])}
    assert list(seqs) == [ids[4]]
    _edit(
        gr,
        ("UPDATE outbox SET local_copy = zeroblob(length(local_copy)) WHERE message_id = ?", (ids[0],)),
        ("UPDATE outbox SET envelope = 'an edited envelope' WHERE message_id = ?", (ids[1],)),
        ("UPDATE outbox SET recipient = CAST(x'ff41' AS TEXT) WHERE message_id = ?", (ids[2],)),
        ("DELETE FROM outbox_delivery WHERE seq = (SELECT seq FROM outbox WHERE message_id = ?)", (ids[3],)),
    )
    async with LocalClient(f"127.0.0.1:{gr.local_port}", gr.keyring.keys.local_api_token) as client:
        listed = list(reversed((await client.list_outbox(limit=1000)).entries))
    mine = [e for e in listed if e.message_id in ids]
    assert [e.message_id for e in mine] == ids
    local_copy, envelope, recipient, delivery, sound = mine
    assert "local copy fails its integrity check" in local_copy.unreadable
    assert (local_copy.recipient_node, local_copy.kind) == (AL, "")
    assert local_copy.state == local_pb2.DELIVERY_STATE_DELIVERED
    assert envelope.unreadable.endswith("column envelope holds text, not bytes")
    assert recipient.unreadable == "column recipient holds text that is not UTF-8"
    assert recipient.recipient_node == ""
    assert delivery.unreadable == "its delivery state (outbox_delivery) is missing"
    assert (sound.unreadable, sound.kind, sound.recipient_node) == ("", "social_inquiry_request", AL)
    assert sound.seq == seqs[ids[4]]
    assert all(ref not in e.unreadable for e in mine for ref in REFS)
    assert all("edited" not in e.unreadable for e in mine)


async def test_the_inbox_list_shows_every_row_and_marks_the_unreadable_ones(nodes: dict[str, Node]) -> None:
    """On the receiver: a local copy that fails AES-GCM, a digest stored as a number, a sender that is not
    UTF-8: every row listed in order, three marked; the others still show their kind."""
    gr, al = nodes[GR], nodes[AL]
    ids = await _sent(gr, 4)
    _edit(
        al,
        ("UPDATE inbox SET local_copy = x'00' WHERE message_id = ?", (ids[0],)),
        ("UPDATE inbox SET digest = 42 WHERE message_id = ?", (ids[1],)),
        ("UPDATE inbox SET sender = CAST(x'c3' AS TEXT) WHERE message_id = ?", (ids[2],)),
    )
    async with LocalClient(f"127.0.0.1:{al.local_port}", al.keyring.keys.local_api_token) as client:
        listed = [e for e in reversed((await client.list_inbox(limit=1000)).entries) if e.message_id in ids]
    assert [e.message_id for e in listed] == ids
    assert [e.seq for e in listed] == sorted(e.seq for e in listed)
    assert "its local copy fails its integrity check" in listed[0].unreadable
    assert listed[0].sender_node == GR
    assert listed[1].unreadable == "column digest holds an integer, not bytes"
    assert (listed[2].unreadable, listed[2].sender_node) == ("column sender holds text that is not UTF-8", "")
    assert (listed[3].unreadable, listed[3].kind, listed[3].sender_node) == ("", "social_inquiry_request", GR)


@pytest.mark.parametrize(
    ("direction", "damage", "words"),
    [
        ("outbox", "UPDATE outbox SET local_copy = zeroblob(48) WHERE message_id = ?", "fails its integrity check"),
        ("outbox", "UPDATE outbox SET digest = 'text' WHERE message_id = ?", "column digest holds text, not bytes"),
        ("outbox", "DELETE FROM outbox_delivery WHERE seq = (SELECT seq FROM outbox WHERE message_id = ?)", "missing"),
        ("inbox", "UPDATE inbox SET local_copy = x'0102' WHERE message_id = ?", "local copy fails its integrity"),
        ("inbox", "UPDATE inbox SET envelope = 7 WHERE message_id = ?", "column envelope holds an integer, not bytes"),
        ("inbox", "UPDATE inbox SET case_ref = CAST(x'fe' AS TEXT) WHERE message_id = ?", "case_ref holds text that"),
    ],
    ids=[
        *("outbox-local-copy", "outbox-digest", "outbox-delivery-row"),
        *("inbox-local-copy", "inbox-envelope", "inbox-case-ref"),
    ],
)
async def test_reading_a_damaged_message_fails_with_data_loss_naming_the_row_and_logs_no_read(
    nodes: dict[str, Node], direction: str, damage: str, words: str
) -> None:
    """GetMessage of the damaged row: DATA_LOSS (a DamagedData at the client) naming the table and row,
    with no READ event; a sound message next to it still reads."""
    gr, al = nodes[GR], nodes[AL]
    ids = await _sent(gr, 2)
    node = gr if direction == "outbox" else al
    _edit(node, (damage, (ids[0],)))
    way = local_pb2.DIRECTION_OUTBOX if direction == "outbox" else local_pb2.DIRECTION_INBOX
    async with people_of(node) as people:  # an operator reads messages no case link holds
        client = await people.operator()
        reads = await _reads(node)
        with pytest.raises(DamagedData, match=f"DATA_LOSS: .*{direction} row [0-9]+") as refused:
            await client.get_message(way, ids[0])
        assert words in str(refused.value)
        assert await _reads(node) == reads
        assert (await client.get_message(way, ids[1])).message_id == ids[1]
        assert await _reads(node) == reads + 1
        async with grpc.aio.insecure_channel(f"127.0.0.1:{node.local_port}") as channel:
            request = local_pb2.GetMessageRequest(direction=way, message_id=ids[0])
            with pytest.raises(grpc.aio.AioRpcError) as raw:
                await local_pb2_grpc.LocalServiceStub(channel).GetMessage(
                    request, metadata=(("authorization", f"Session {client.session}"),)
                )
    assert raw.value.code() is grpc.StatusCode.DATA_LOSS
    assert not any(ref in (raw.value.details() or "") for ref in REFS)
