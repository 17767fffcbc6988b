"""The node database's schema: a retry rewrites only the small delivery row, never the message's
blobs; a database written by an earlier version (schema 4, 3, 2 or 1) is migrated in place with every
row, state and counter kept; the due queries and the worklist stay on their indexes."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

import pytest

from focalpoint.audit import events as audit_events
from focalpoint.cases.stages import Side
from focalpoint.errors import StorageError
from focalpoint.people.roles import Role
from focalpoint.storage.base import AccountWrite, DeliveryState, NewLink, NewNotice, NewOutbox, UserRow
from focalpoint.storage.sqlite import SqliteStore
from focalpoint.storage.sqlite import cases as cases_sql
from focalpoint.storage.sqlite import outbox as outbox_sql
from focalpoint.storage.sqlite.schema import SCHEMA_VERSION
from focalpoint.v1 import envelope_pb2

BLOB = 256 * 1024
REPLAY = envelope_pb2.REFUSAL_CODE_REPLAY

# Schema 2 as the previous release created it (focalpoint/storage/sqlite/db.py before schema 3):
# the outbox row held the message and its delivery state together.
V2_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id BLOB NOT NULL UNIQUE,
    client_request_id TEXT UNIQUE,
    recipient TEXT NOT NULL,
    peer_sequence INTEGER NOT NULL,
    envelope BLOB NOT NULL,
    digest BLOB NOT NULL,
    local_copy BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    state INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    receipt BLOB,
    delivered_at_ms INTEGER,
    case_ref TEXT NOT NULL DEFAULT '',
    message_kind TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON outbox (state, recipient, next_attempt_ms);
CREATE TABLE inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sender TEXT NOT NULL,
    message_id BLOB NOT NULL,
    envelope BLOB NOT NULL,
    digest BLOB NOT NULL,
    local_copy BLOB NOT NULL,
    received_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    receipt BLOB NOT NULL,
    case_ref TEXT NOT NULL DEFAULT '',
    message_kind TEXT NOT NULL DEFAULT '',
    UNIQUE (sender, message_id)
);
CREATE TABLE audit_leaves (idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL);
CREATE TABLE audit_nodes (
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE INDEX outbox_case ON outbox (case_ref);
INSERT INTO meta (key, value) VALUES ('schema_version', '2');
"""
# (message id, client request id, recipient, state, attempts, next attempt, last error, receipt, delivered at, case)
V2_ROWS = [
    (b"q" * 16, "req-1", "al-shss", 1, 3, 9_000, "unreachable", None, None, "case-a"),
    (b"d" * 16, None, "al-shss", 2, 1, 1_000, "", b"receipt", 2_500, "case-a"),
    (b"f" * 16, "req-2", "it-dgi", 3, 2, 4_000, "refused: replay", None, None, ""),
    (b"e" * 16, None, "it-dgi", 4, 7, 6_000, "expired before the recipient confirmed delivery", None, None, "case-b"),
]


def _v2_database(path: Path, *, version: int = 2) -> None:
    """A database as the previous release left it, with a row in each delivery state and an AUTOINCREMENT
    counter ahead of the highest seq (a number spent on an ignored insert)."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.executescript(V2_SCHEMA)
        for seq, (mid, crid, peer, state, attempts, next_ms, error, receipt, at, case) in enumerate(V2_ROWS, 1):
            values = (seq, mid, crid, peer, seq, b"env" * seq, b"digest%d" % seq, b"local" * seq, 500, 50_000)
            conn.execute(
                "INSERT INTO outbox (seq, message_id, client_request_id, recipient, peer_sequence, envelope, digest,"
                " local_copy, created_at_ms, expires_at_ms, state, attempts, next_attempt_ms, last_error, receipt,"
                " delivered_at_ms, case_ref, message_kind)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*values, state, attempts, next_ms, error, receipt, at, case, "case.note"),
            )
        conn.execute("UPDATE sqlite_sequence SET seq = 9 WHERE name = 'outbox'")
        if version == 1:  # schema 1 lacked the case columns
            conn.execute("DROP INDEX outbox_case")
            for table in ("outbox", "inbox"):
                for column in ("case_ref", "message_kind"):
                    conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
            conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")


def _message(n: int, *, size: int = BLOB) -> NewOutbox:
    return NewOutbox(
        message_id=os.urandom(16),
        recipient="al-shss",
        peer_sequence=n,
        envelope=os.urandom(size),
        digest=os.urandom(32),
        local_copy=os.urandom(size),
        created_at_ms=1_000,
        expires_at_ms=10**12,
    )


def _wal_bytes_after(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def _empty_the_wal(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0
    assert _wal_bytes_after(path) == 0


async def test_a_retry_writes_a_few_pages_never_the_message_it_retries(tmp_path: Path) -> None:
    """Retrying 8 queued messages of 2 × 256 KiB (the error text changing length, as it does between
    failures) writes less to the database than one message's envelope: before, each retry rewrote
    every row whole (4 MiB here)."""
    path = tmp_path / "node.sqlite"
    store = await SqliteStore.open(path)
    try:
        messages = [_message(n) for n in range(8)]
        await store.outbox.add(messages)
        for attempt in range(1, 4):
            _empty_the_wal(path)
            await store.outbox.schedule_retry(
                [(m.message_id, 10_000 * attempt, "unreachable " + "." * attempt) for m in messages]
            )
            written = _wal_bytes_after(path)
            assert 0 < written < BLOB, f"attempt {attempt}: {written} bytes written for 8 retries"
        got = await store.outbox.get(messages[0].message_id)
        assert got is not None
        assert (got.attempts, got.next_attempt_ms, got.envelope) == (3, 30_000, messages[0].envelope)
    finally:
        await store.close()


async def test_closing_an_entry_does_not_rewrite_the_message_either(tmp_path: Path) -> None:
    """A refusal closes the entry by writing its delivery row only (less than one message's envelope)."""
    path = tmp_path / "node.sqlite"
    store = await SqliteStore.open(path)
    try:
        message = _message(1)
        await store.outbox.add([message])
        _empty_the_wal(path)
        await store.outbox.mark_final(message.message_id, DeliveryState.FAILED, "refused", REPLAY, 2_000)
        assert 0 < _wal_bytes_after(path) < BLOB
    finally:
        await store.close()


@pytest.mark.parametrize("version", [2, 1])
async def test_a_database_of_the_previous_schema_is_migrated_in_place_with_everything_kept(
    tmp_path: Path, version: int
) -> None:
    """Schema 2 (and 1): every outbox row keeps its columns, state, attempts, error and receipt; the
    queue answers as before; AUTOINCREMENT continues after the number the old table had spent."""
    path = tmp_path / "node.sqlite"
    _v2_database(path, version=version)
    store = await SqliteStore.open(path)
    try:
        for seq, (mid, _, peer, state, attempts, next_ms, error, receipt, at, case) in enumerate(V2_ROWS, 1):
            row = await store.outbox.get(mid)
            assert row is not None
            assert (row.seq, row.recipient, row.state, row.attempts, row.next_attempt_ms, row.last_error) == (
                seq,
                peer,
                DeliveryState(state),
                attempts,
                next_ms,
                error,
            )
            assert (row.receipt, row.delivered_at_ms, row.envelope, row.local_copy) == (
                receipt,
                at,
                b"env" * seq,
                b"local" * seq,
            )
            assert row.case_ref == (case if version == 2 else "")
        queued = V2_ROWS[0][0]
        assert [r.message_id for r in await store.outbox.due("al-shss", 9_000, 10, set())] == [queued]
        assert await store.outbox.next_due_ms("al-shss", set()) == 9_000
        assert await store.outbox.recipients_with_queued() == ["al-shss"]
        by_request = await store.outbox.by_client_request("req-2")
        assert by_request is not None
        assert by_request.message_id == V2_ROWS[2][0]
        await store.outbox.add([_message(5, size=10)])
        assert [r.seq for r in await store.outbox.page(1, 0)] == [10]
        assert await store.audit.meta("schema_version") == str(SCHEMA_VERSION)
    finally:
        await store.close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        columns = {r[1] for r in conn.execute("PRAGMA table_info(outbox)")}
    assert {"outbox", "outbox_delivery", "audit_cases", "audit_checkpoints"} <= tables
    assert "outbox_v3" not in tables
    assert not columns & {"state", "attempts", "next_attempt_ms", "last_error", "receipt", "delivered_at_ms"}


async def test_a_migrated_database_has_the_schema_of_a_new_one(tmp_path: Path) -> None:
    """Table by table, the migrated file's columns and indexes equal a freshly created file's."""
    old, new = tmp_path / "old" / "node.sqlite", tmp_path / "new" / "node.sqlite"
    old.parent.mkdir()
    _v2_database(old)
    for path in (old, new):
        await (await SqliteStore.open(path)).close()

    def shape(path: Path) -> dict[str, object]:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            indexes = conn.execute(
                "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' ORDER BY name"
            ).fetchall()
            return {n: conn.execute(f"PRAGMA table_info({n})").fetchall() for n in names} | {"indexes": indexes}

    assert shape(old) == shape(new)


async def test_a_database_from_a_newer_release_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    """A schema version above this code's: one line naming both versions, nothing changed."""
    path = tmp_path / "node.sqlite"
    _v2_database(path)
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    before = path.read_bytes()
    with pytest.raises(StorageError, match=f"schema version 99, this node expects {SCHEMA_VERSION}"):
        await SqliteStore.open(path)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone() == (len(V2_ROWS),)
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("99",)
    assert len(path.read_bytes()) == len(before)


@pytest.mark.parametrize(
    ("query", "params"),
    [
        (outbox_sql.DUE_SQL, (1, "al-shss", 1, 2, 3, 4)),
        (outbox_sql.NEXT_DUE_SQL, (1, "al-shss", 3)),
        (outbox_sql.RECIPIENTS_SQL, (1,)),
    ],
    ids=["due", "next-due", "recipients"],
)
async def test_the_queue_is_read_through_the_outbox_due_index(
    tmp_path: Path, query: str, params: tuple[object, ...]
) -> None:
    """EXPLAIN QUERY PLAN of the outbox's due queries searches outbox_due and scans no table."""
    path = tmp_path / "node.sqlite"
    await (await SqliteStore.open(path)).close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        plan = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + query, params)]
    assert any("INDEX outbox_due" in step for step in plan), plan
    assert not any(step.startswith("SCAN") for step in plan), plan


_CASE_TABLES = ("case_links", "case_events", "case_cursors", "case_parked")
_ACCOUNT_TABLES = ("users", "user_sessions", "user_pending", "break_glass", "link_restrictions", "link_assignments")


_SEALED_TABLES = ("sealed_imports", "sealed_exports", "sealed_owed")


def _v6_database(path: Path) -> None:
    """A version-6 file: what this release creates, without the tables version 7 added (the
    contacts', the notification queue's and the sealed files')."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("DROP TABLE user_contacts")
        conn.execute("DROP TABLE notification_queue")  # with its index
        for table in _SEALED_TABLES:
            conn.execute(f"DROP TABLE {table}")
        conn.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")


def _v5_database(path: Path) -> None:
    """A version-5 file: a version-6 one without the summaries' table (which version 6 added)."""
    _v6_database(path)
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("DROP TABLE case_summaries")  # with its indexes
        conn.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")


def _v4_database(path: Path) -> None:
    """A version-4 file: a version-5 one without the accounts' tables (which version 5 added)."""
    _v5_database(path)
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for table in _ACCOUNT_TABLES:
            conn.execute(f"DROP TABLE {table}")  # with its indexes
        conn.execute("DELETE FROM sqlite_sequence WHERE name = 'break_glass'")
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")


def _v3_database(path: Path) -> None:
    """A version-3 file: a version-4 one without the case tables (which version 4 added)."""
    _v4_database(path)
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for table in _CASE_TABLES:
            conn.execute(f"DROP TABLE {table}")  # with its indexes
        conn.execute("DELETE FROM sqlite_sequence WHERE name LIKE 'case_%'")
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")


async def test_a_version_3_database_gains_the_case_tables_in_place_with_everything_kept(tmp_path: Path) -> None:
    """Schema 3 -> 4: outbox rows and the audit log as they were, the case tables created (the same
    shape as a new file's), the version recorded, and the case store usable at once."""
    path, fresh = tmp_path / "old" / "node.sqlite", tmp_path / "new" / "node.sqlite"
    store = await SqliteStore.open(path)
    message = _message(1, size=10)
    await store.outbox.add([message])
    await store.close()
    _v3_database(path)
    await (await SqliteStore.open(fresh)).close()
    store = await SqliteStore.open(path)
    try:
        assert await store.audit.meta("schema_version") == str(SCHEMA_VERSION) == "7"
        kept = await store.outbox.get(message.message_id)
        assert kept is not None
        assert (kept.envelope, store.audit.size) == (message.envelope, 1)
        link = NewLink("link-1", "case-1", "GR-7KQ2M9XH4T-Q", "al-shss", "AL", Side.IS, "", 5, b"sealed")
        await store.cases.create_link(link)
        assert [r.link_id for r in await store.cases.worklist("", limit=5)] == ["link-1"]
    finally:
        await store.close()
    assert _shape(path) == _shape(fresh)


async def test_a_version_4_database_gains_the_account_tables_in_place_with_everything_kept(tmp_path: Path) -> None:
    """Schema 4 -> 5: case links and the audit log as they were, the accounts' tables created (the
    same shape as a new file's), the version recorded, and the account store usable at once."""
    path, fresh = tmp_path / "old" / "node.sqlite", tmp_path / "new" / "node.sqlite"
    store = await SqliteStore.open(path)
    link = NewLink("link-1", "case-1", "GR-7KQ2M9XH4T-Q", "al-shss", "AL", Side.IS, "unit-a", 5, b"sealed")
    await store.cases.create_link(link, [audit_events.status_changed(at_ms=5, actor="u", case_ref="r", status="→OPEN")])
    await store.close()
    _v4_database(path)
    await (await SqliteStore.open(fresh)).close()
    store = await SqliteStore.open(path)
    try:
        assert await store.audit.meta("schema_version") == str(SCHEMA_VERSION) == "7"
        kept = await store.cases.link("link-1")
        assert kept is not None
        assert (kept.payload, store.audit.size) == (b"sealed", 1)
        row = UserRow("op-1", "unit-a", frozenset({Role.OPERATOR}), created_ms=5, updated_ms=5)
        await store.accounts.apply(AccountWrite(users=[row]))
        assert [u.user_id for u in await store.accounts.users()] == ["op-1"]
    finally:
        await store.close()
    assert _shape(path) == _shape(fresh)


async def test_a_version_5_database_gains_the_summaries_table_with_every_link_to_summarise(tmp_path: Path) -> None:
    """Schema 5 -> 6: the links as they were, each with a summaries row holding no summary yet (so
    the deadline scan builds it), the same shape as a new file's."""
    path, fresh = tmp_path / "old" / "node.sqlite", tmp_path / "new" / "node.sqlite"
    store = await SqliteStore.open(path)
    link = NewLink("link-1", "case-1", "GR-7KQ2M9XH4T-Q", "al-shss", "AL", Side.IS, "unit-a", 5, b"sealed")
    await store.cases.create_link(link)
    await store.close()
    _v5_database(path)
    await (await SqliteStore.open(fresh)).close()
    store = await SqliteStore.open(path)
    try:
        assert await store.audit.meta("schema_version") == str(SCHEMA_VERSION) == "7"
        assert (kept := await store.cases.link("link-1")) is not None
        assert kept.payload == b"sealed"
        row = await store.cases.summary("link-1")
        assert row is not None
        assert (row.partner_state, row.built_from, row.summary) == ("AL", -1, b"")
        assert row.generation != row.built_from
        assert await store.cases.summaries_due(0, {}, 10) == ["link-1"]
    finally:
        await store.close()
    assert _shape(path) == _shape(fresh)


async def test_a_version_6_database_gains_the_contacts_and_the_notification_queue(tmp_path: Path) -> None:
    """Schema 6 -> 7: new tables only, the same shape as a new file's, and both usable at once."""
    path, fresh = tmp_path / "old" / "node.sqlite", tmp_path / "new" / "node.sqlite"
    await (await SqliteStore.open(path)).close()
    _v6_database(path)
    await (await SqliteStore.open(fresh)).close()
    store = await SqliteStore.open(path)
    try:
        assert await store.audit.meta("schema_version") == str(SCHEMA_VERSION) == "7"
        await store.notifications.enqueue([NewNotice("msg_1", "email", "u-1", "break_glass", "", 5)])
        assert [r.notice_id for r in await store.notifications.due("email", 5, 10)] == ["msg_1"]
        assert await store.accounts.contacts() == []
    finally:
        await store.close()
    assert _shape(path) == _shape(fresh)


def _shape(path: Path) -> dict[str, object]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        indexes = conn.execute("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name")
        return {n: conn.execute(f"PRAGMA table_info({n})").fetchall() for n in names} | {"indexes": indexes.fetchall()}


@pytest.mark.parametrize("of_unit", [True, False], ids=["unit", "all-units"])
@pytest.mark.parametrize("include_closed", [False, True], ids=["open", "with-closed"])
@pytest.mark.parametrize("paged", [False, True], ids=["first-page", "next-page"])
async def test_the_worklist_is_read_in_the_order_of_its_index_without_sorting(
    tmp_path: Path, of_unit: bool, include_closed: bool, paged: bool
) -> None:
    """EXPLAIN QUERY PLAN of each worklist query walks its own index (searched by unit and by the
    page's bound where given) and builds no temporary b-tree to sort: 50 rows of 100,000 links cost
    50 index steps, not a sort of them all."""
    path = tmp_path / "node.sqlite"
    await (await SqliteStore.open(path)).close()
    sql = cases_sql.worklist_sql(of_unit=of_unit, include_closed=include_closed, paged=paged)
    params = [*(["unit-a"] if of_unit else []), *([5, "link-1"] if paged else []), 50]
    with contextlib.closing(sqlite3.connect(path)) as conn:
        plan = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    index = cases_sql.WORKLIST_INDEXES[(of_unit, include_closed)]
    assert len(plan) == 1, plan
    assert f"USING INDEX {index}" in plan[0], plan
    assert ("unit=?" in plan[0]) == of_unit, plan
    assert ("(updated_at_ms,link_id)<(?,?)" in plan[0]) == paged, plan
    assert not any("TEMP B-TREE" in step for step in plan), plan


async def test_a_version_6_database_gains_the_sealed_files_tables_in_place(tmp_path: Path) -> None:
    """Schema 6 -> 7: the outbox and the audit log as they were, the sealed files' tables created
    (the same shape as a new file's) and usable at once."""
    from focalpoint.storage.base import SealedImport

    path, fresh = tmp_path / "old" / "node.sqlite", tmp_path / "new" / "node.sqlite"
    store = await SqliteStore.open(path)
    message = _message(1, size=10)
    await store.outbox.add([message])
    await store.close()
    _v6_database(path)
    await (await SqliteStore.open(fresh)).close()
    store = await SqliteStore.open(path)
    try:
        assert await store.audit.meta("schema_version") == str(SCHEMA_VERSION) == "7"
        assert (kept := await store.outbox.get(message.message_id)) is not None
        assert kept.envelope == message.envelope
        assert await store.sealed.record_import(SealedImport("gr-ekka", b"f" * 16, 1, 5), [], b"leaf")
        assert await store.sealed.imported("gr-ekka", b"x" * 16, 1) is not None
    finally:
        await store.close()
    assert _shape(path) == _shape(fresh)
