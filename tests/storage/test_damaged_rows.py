"""Rows of the SQLite store edited by hand (a column of the wrong type, text that is not UTF-8, a
missing delivery row, a stage no link can have): a page lists a ``DamagedRow`` (a case list a
``DamagedLink``) in the row's place and every other row as usual; a read of that row alone raises
``DamagedData`` naming it, never a TypeError or sqlite3's decoding error (which quotes the bytes)."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from focalpoint.errors import DamagedData
from focalpoint.exchange import reconcile
from focalpoint.storage.base import (
    CaseEventRow,
    CaseWrite,
    CursorMove,
    DamagedLink,
    DamagedRow,
    InboxRow,
    LinkRow,
    OutboxRow,
    ParkedRow,
)
from focalpoint.storage.sqlite import SqliteStore
from focalpoint.v1 import node_pb2
from tests.storage.test_cases import event as case_event
from tests.storage.test_cases import new_link, parked_message
from tests.storage.test_contract import Signer, incoming, outgoing


def _edit(path: Path, sql: str, params: tuple[object, ...]) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        assert conn.execute(sql, params).rowcount == 1, sql


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("UPDATE outbox SET envelope = 'edited' WHERE seq = ?", "column envelope holds text, not bytes"),
        ("UPDATE outbox SET recipient = CAST(x'ff' AS TEXT) WHERE seq = ?", "column recipient holds text that is not"),
        ("UPDATE outbox SET created_at_ms = 1.5 WHERE seq = ?", "column created_at_ms holds a real number, not an"),
        ("UPDATE outbox_delivery SET state = 9 WHERE seq = ?", "column state holds an unknown state"),
        ("UPDATE outbox_delivery SET last_error = x'00' WHERE seq = ?", "column last_error holds bytes, not text"),
        ("DELETE FROM outbox_delivery WHERE seq = ?", "its delivery state (outbox_delivery) is missing"),
    ],
    ids=["envelope-text", "recipient-not-utf8", "time-real", "state-unknown", "error-bytes", "delivery-row-gone"],
)
async def test_a_damaged_outbox_row_is_listed_in_its_place_and_read_alone_is_damaged_data(
    tmp_path: Path, sql: str, reason: str
) -> None:
    """page: the damaged row as a DamagedRow (seq, message id, why), the others as OutboxRows; get,
    of_case and due: DamagedData naming the outbox row."""
    path = tmp_path / "node.sqlite"
    store = await SqliteStore.open(path)
    try:
        rows = [outgoing(case_ref="case-a", created_at_ms=100) for _ in range(3)]
        await store.outbox.add(rows)
        _edit(path, sql, (2,))
        page = await store.outbox.page(10, 0)
        assert [type(r) for r in page] == [OutboxRow, DamagedRow, OutboxRow]
        damaged = page[1]
        assert isinstance(damaged, DamagedRow)
        assert (damaged.seq, damaged.message_id) == (2, rows[1].message_id)
        assert reason in damaged.reason
        reads: list[Callable[[], Awaitable[object]]] = [
            lambda: store.outbox.get(rows[1].message_id),
            lambda: store.outbox.of_case("case-a"),
        ]
        for read in reads:
            with pytest.raises(DamagedData, match=re.escape(f"outbox row 2 is damaged: {reason}")):
                await read()
        assert await store.outbox.get(rows[0].message_id) is not None
        # Delivery and expiry go on without it: the row is set aside, the others are due and expire.
        due = await store.outbox.due("al-shss", 1_000, 10, set())
        assert [r.message_id for r in due] == [rows[0].message_id, rows[2].message_id]
        assert await store.outbox.next_due_ms("al-shss", {rows[0].message_id, rows[2].message_id}) is None
        expired = await store.outbox.expire(10**12)  # row 2 too when what expiry needs of it is whole
        assert [rows[0].message_id, rows[2].message_id] == [m for m in expired if m != rows[1].message_id]
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("UPDATE inbox SET local_copy = 'edited' WHERE seq = ?", "column local_copy holds text, not bytes"),
        ("UPDATE inbox SET sender = CAST(x'c3' AS TEXT) WHERE seq = ?", "column sender holds text that is not UTF-8"),
        ("UPDATE inbox SET receipt = 5 WHERE seq = ?", "column receipt holds an integer, not bytes"),
    ],
    ids=["local-copy-text", "sender-not-utf8", "receipt-integer"],
)
async def test_a_damaged_inbox_row_is_listed_in_its_place_and_read_alone_is_damaged_data(
    tmp_path: Path, sql: str, reason: str
) -> None:
    """As the outbox: the page keeps every row, find and of_case name the damaged one."""
    path = tmp_path / "node.sqlite"
    store = await SqliteStore.open(path)
    try:
        rows = [incoming(case_ref="case-a") for _ in range(3)]
        await store.inbox.add(rows, Signer())
        _edit(path, sql, (2,))
        page = await store.inbox.page(10, 0)
        assert [type(r) for r in page] == [InboxRow, DamagedRow, InboxRow]
        assert reason in page[1].reason  # type: ignore[union-attr]
        reads: list[Callable[[], Awaitable[object]]] = [
            lambda: store.inbox.find(rows[1].message_id),
            lambda: store.inbox.of_case("case-a"),
        ]
        for read in reads:
            with pytest.raises(DamagedData, match=re.escape(f"inbox row 2 is damaged: {reason}")):
                await read()
        assert await store.inbox.get("al-shss", rows[2].message_id) is not None
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("sql", "read", "where"),
    [
        ("UPDATE audit_leaves SET leaf = 'edited' WHERE idx = 1", "events", "audit leaf 1 is damaged: it holds text"),
        ("UPDATE audit_cases SET idx = 'one' WHERE idx = 0", "case_indices", "an audit_cases row of that case"),
        ("UPDATE audit_checkpoints SET raw = 'edited'", "latest_checkpoint", "audit_checkpoints row of size 2"),
        ("UPDATE audit_cosignatures SET raw = 7", "cosignatures", "an audit_cosignatures row of size 2"),
        ("UPDATE witness_alarms SET raw = 'edited'", "alarms", "witness_alarms row 1 is damaged"),
        ("UPDATE witnessed SET raw = 'edited'", "witnessed", "a witnessed row is damaged"),
        ("UPDATE directory_documents SET raw = 'edited' WHERE kind = 'root'", "load", "row of root 1 is damaged"),
        ("UPDATE directory_documents SET raw = 'edited' WHERE kind = 'bundle'", "load", "stored directory bundle"),
        ("UPDATE directory_documents SET raw = 3 WHERE kind = 'root'", "document", "root '' version 1 is damaged"),
    ],
    ids=["leaf", "case-row", "checkpoint", "cosignature", "alarm", "witnessed", "root", "bundle", "document"],
)
async def test_a_damaged_audit_or_directory_row_read_back_is_damaged_data_naming_it(
    tmp_path: Path, sql: str, read: str, where: str
) -> None:
    """Leaves, case rows, checkpoints, cosignatures, alarms, witnessed checkpoints and directory documents
    of the wrong type: DamagedData naming the table and row (never a TypeError, never the stored value)."""
    path = tmp_path / "node.sqlite"
    store = await SqliteStore.open(path)
    try:
        await store.audit.record([b"first", b"second"], "GR-2026-0001")
        await store.audit.add_checkpoint(2, b"checkpoint", 10)
        await store.audit.add_cosignature(2, "it-dgi", b"cosignature")
        await store.audit.add_alarm("it-dgi", b"alarm", b"event", 20)
        await store.audit.set_witnessed("it-dgi", 1, b"witnessed", b"event", 30)
        await store.directory.save([("root", "", 1, b"root 1"), ("bundle", "", 1, b"bundle 1")], 40)
        _edit(path, sql, ())
        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "events": lambda: store.audit.events(10, 0),
            "case_indices": lambda: store.audit.case_indices("GR-2026-0001"),
            "latest_checkpoint": store.audit.latest_checkpoint,
            "cosignatures": lambda: store.audit.cosignatures(2),
            "alarms": store.audit.alarms,
            "witnessed": lambda: store.audit.witnessed("it-dgi"),
            "load": store.directory.load,
            "document": lambda: store.directory.document("root", "", 1),
        }
        with pytest.raises(DamagedData, match=re.escape(where)) as raised:
            await calls[read]()
        assert "edited" not in str(raised.value)
        assert "GR-2026-0001" not in str(raised.value)
    finally:
        await store.close()


async def test_many_damaged_queued_rows_take_no_slot_from_the_sound_ones(tmp_path: Path) -> None:
    """More damaged rows than a batch, first in the queue: due still gives the sound ones, and the
    next due time is theirs (a worker never spins on rows it cannot send)."""
    path = tmp_path / "node.sqlite"
    store = await SqliteStore.open(path)
    try:
        rows = [outgoing(created_at_ms=100) for _ in range(20)]
        await store.outbox.add(rows)
        with contextlib.closing(sqlite3.connect(path)) as conn, conn:
            conn.execute("UPDATE outbox SET envelope = 'edited' WHERE seq <= 12")
        due = await store.outbox.due("al-shss", 1_000, 5, set())
        assert [r.message_id for r in due] == [r.message_id for r in rows[12:17]]
        sound = {r.message_id for r in rows[12:]}
        assert await store.outbox.next_due_ms("al-shss", sound) is None
        assert await store.outbox.next_due_ms("al-shss", set()) == 100
    finally:
        await store.close()


async def test_a_damaged_expired_row_is_left_out_of_reconciliation(tmp_path: Path) -> None:
    """unconfirmed skips it (the others are asked about); settling it with the others changes only those."""
    path = tmp_path / "node.sqlite"
    store = await SqliteStore.open(path)
    try:
        rows = [outgoing(expires_at_ms=500) for _ in range(3)]
        await store.outbox.add(rows)
        assert len(await store.outbox.expire(1_000)) == 3
        with contextlib.closing(sqlite3.connect(path)) as conn, conn:
            conn.execute("UPDATE outbox SET digest = 'edited' WHERE seq = 1")  # what the question needs
            conn.execute("UPDATE outbox SET case_ref = x'00' WHERE seq = 2")  # what closing it needs
        asked = await store.outbox.unconfirmed("al-shss", 10)
        assert [u.message_id for u in asked] == [rows[1].message_id, rows[2].message_id]
        await store.outbox.mark_not_received([u.message_id for u in asked], 2_000)
        assert await store.outbox.unconfirmed("al-shss", 10) == []  # row 3 settled, rows 1 and 2 set aside
        with pytest.raises(DamagedData, match="outbox row 2 is damaged"):
            await store.outbox.get(rows[1].message_id)
        settled = await store.outbox.get(rows[2].message_id)
        assert settled is not None
        assert settled.state.name == "NOT_RECEIVED"
    finally:
        await store.close()


async def test_a_held_message_whose_receipt_is_damaged_is_never_answered_never(tmp_path: Path) -> None:
    """GetReceipts at a receiver with a damaged receipt: held (None), so "not yet", never "never"."""
    path = tmp_path / "node.sqlite"
    store = await SqliteStore.open(path)
    try:
        row = incoming()
        await store.inbox.add([row], Signer())
        question = node_pb2.ReceiptsRequest(
            messages=[node_pb2.AskedMessage(message_id=row.message_id, expires_at_ms=5)]
        )
        for damage in ("edited", b"\xff\xff"):
            with contextlib.closing(sqlite3.connect(path)) as conn, conn:
                conn.execute("UPDATE inbox SET receipt = ?", (damage,))
            held = await store.inbox.receipts(row.sender, [row.message_id])
            answer = reconcile.answer(question, held, 10**12)
            assert [m.holding for m in answer.messages] == [node_pb2.HOLDING_NOT_YET], damage
    finally:
        await store.close()


# --- the case tables ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("UPDATE case_links SET stage = 'LOST' WHERE rowid = ?", "column stage holds an unknown stage"),
        ("UPDATE case_links SET our_side = 'XS' WHERE rowid = ?", "column our_side holds an unknown side"),
        ("UPDATE case_links SET closed = 2 WHERE rowid = ?", "column closed holds neither 0 nor 1"),
        ("UPDATE case_links SET payload = 'edited' WHERE rowid = ?", "column payload holds text, not bytes"),
        ("UPDATE case_links SET updated_at_ms = 1.5 WHERE rowid = ?", "column updated_at_ms holds a real number"),
        ("UPDATE case_links SET next_due_ms = 'soon' WHERE rowid = ?", "column next_due_ms holds text, not an"),
        (
            "UPDATE case_links SET partner_state = CAST(x'ff' AS TEXT) WHERE rowid = ?",
            "column partner_state holds text",
        ),
    ],
    ids=["stage", "side", "closed", "payload-text", "time-real", "due-text", "state-not-utf8"],
)
async def test_a_damaged_case_link_is_listed_in_its_place_and_read_alone_is_damaged_data(
    tmp_path: Path, sql: str, reason: str
) -> None:
    """worklist and links_of_case: a DamagedLink (row, link id, why) among the sound links; link and
    link_by_ref: DamagedData naming the case_links row, never its content or its case reference."""
    path = tmp_path / "node.sqlite"
    store = await SqliteStore.open(path)
    try:
        links = [new_link("case-1", created_at_ms=100 + i) for i in range(3)]
        for link in links:
            await store.cases.create_link(link)
        _edit(path, sql, (2,))
        worklist = await store.cases.worklist(None, limit=10, include_closed=True)  # closed = 2 is not open
        for listed in (worklist, await store.cases.links_of_case("case-1")):
            damaged = [r for r in listed if isinstance(r, DamagedLink)]
            assert len(listed) == 3
            assert [(d.row, d.link_id) for d in damaged] == [(2, links[1].link_id)]
            assert reason in damaged[0].reason
        reads: list[Callable[[], Awaitable[object]]] = [
            lambda: store.cases.link(links[1].link_id),
            lambda: store.cases.link_by_ref(links[1].case_ref, links[1].partner_node),
        ]
        for read in reads:
            with pytest.raises(DamagedData, match=re.escape(f"case_links row 2 is damaged: {reason}")) as raised:
                await read()
            assert links[1].case_ref not in str(raised.value)
        assert isinstance(await store.cases.link(links[0].link_id), LinkRow)
    finally:
        await store.close()


async def test_damaged_case_events_and_parked_messages_are_listed_in_their_place(tmp_path: Path) -> None:
    """An event or a parked message of the wrong type is a DamagedRow (seq, message id, peer, why)
    among the sound ones; a cursor of the wrong type is DamagedData when read or moved."""
    path = tmp_path / "node.sqlite"
    store = await SqliteStore.open(path)
    try:
        link = new_link()
        events = [case_event(link.link_id, sequence=i) for i in range(3)]
        parked = [parked_message(), parked_message()]
        await store.cases.apply(
            CaseWrite(links=[link], events=events, park=parked, cursors=[CursorMove("inbox", 0, 4)])
        )
        _edit(path, "UPDATE case_events SET origin = 'ELSEWHERE' WHERE seq = ?", (2,))
        _edit(path, "UPDATE case_parked SET at_ms = 'then' WHERE seq = ?", (1,))
        _edit(path, "UPDATE case_cursors SET position = 'four' WHERE source = ?", ("inbox",))
        listed = await store.cases.events(link.link_id)
        assert [type(e) for e in listed] == [CaseEventRow, DamagedRow, CaseEventRow]
        assert listed[1] == DamagedRow(
            2, events[1].message_id, events[1].sender_node, "column origin holds an unknown origin"
        )
        kept = await store.cases.parked(10, 0)
        assert [type(p) for p in kept] == [ParkedRow, DamagedRow]
        assert kept[1] == DamagedRow(
            1, parked[0].message_id, parked[0].sender, "column at_ms holds text, not an integer"
        )
        for call in (
            lambda: store.cases.cursor("inbox"),
            lambda: store.cases.apply(CaseWrite(cursors=[CursorMove("inbox", 4, 5)])),
        ):
            with pytest.raises(DamagedData, match=re.escape("case_cursors row 'inbox' is damaged: it holds text")):
                await call()
    finally:
        await store.close()
