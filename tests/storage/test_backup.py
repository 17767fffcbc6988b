"""Backups taken while the node writes are one consistent state, owner-only, never overwrite
anything; a restore replaces the database only when the node is stopped and the backup is
sound and this node's, moves what it replaces aside, and leaves the copy marked for the node to
declare the restore at its next start."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from focalpoint.audit import events as audit_events
from focalpoint.audit.checkpoint import make_checkpoint
from focalpoint.crypto.signing import AdminSigner
from focalpoint.errors import StorageError, UsageError
from focalpoint.node.restore import pending_restore
from focalpoint.storage.base import CaseWrite, CursorMove
from focalpoint.storage.sqlite.backup import backup, inspect, restore
from focalpoint.storage.sqlite.store import SqliteStore
from tests.storage.test_cases import event as case_event
from tests.storage.test_cases import new_link, parked_message

ME = "gr-ekka"


async def _write(store: SqliteStore, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        event = audit_events.read(
            at_ms=1_000 + i,
            actor="officer.1",
            case_ref="GR-2026-0001",
            message_id=bytes(16),
            peer="al-shss",
            digest=bytes(32),
        )
        await store.audit.record([event], "GR-2026-0001")


async def _checkpoint(store: SqliteStore, log_node: str) -> None:
    """A checkpoint of ``log_node``'s log as stored (signed by a throwaway key: only its name counts here)."""
    size = store.audit.size
    root = await store.audit.read(lambda view: view.root(size))
    signed = make_checkpoint(AdminSigner.generate(), log_node=log_node, size=size, root=root, issued_at_ms=5_000)
    await store.audit.add_checkpoint(size, signed.SerializeToString(), 5_000)


async def test_a_backup_taken_while_the_node_writes_is_one_whole_consistent_state(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "node.sqlite")
    try:
        await _write(store, 50)
        before = store.audit.size
        writer = asyncio.create_task(_write(store, 200, start=50))
        await asyncio.sleep(0.01)
        copied = await asyncio.to_thread(backup, tmp_path / "node.sqlite", tmp_path / "b1.sqlite")
        await writer
    finally:
        await store.close()
    assert copied.log_ok, copied.log_problem
    assert before <= copied.events <= before + 200
    assert stat.S_IMODE(os.stat(copied.path).st_mode) == 0o600
    assert not await asyncio.to_thread(os.path.exists, f"{copied.path}-wal")  # one file, whole on its own
    again = inspect(copied.path)
    assert (again.events, again.log_ok) == (copied.events, True)


async def test_a_backup_never_overwrites_and_says_what_is_wrong(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "node.sqlite")
    await _write(store, 3)
    await store.close()
    taken = tmp_path / "taken.sqlite"
    taken.write_bytes(b"precious")
    with pytest.raises(UsageError, match="already exists; a backup never overwrites"):
        backup(tmp_path / "node.sqlite", taken)
    assert taken.read_bytes() == b"precious"
    with pytest.raises(UsageError, match="no database file here"):
        backup(tmp_path / "missing.sqlite", tmp_path / "b.sqlite")
    with pytest.raises(UsageError, match="cannot create the backup file"):
        backup(tmp_path / "node.sqlite", tmp_path / "no-such-dir" / "b.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(StorageError, match="not a usable focalpoint database"):
        inspect(junk)


async def test_one_process_at_a_time_opens_a_database(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "node.sqlite")
    try:
        with pytest.raises(StorageError, match="in use by another process"):
            await SqliteStore.open(tmp_path / "node.sqlite")
    finally:
        await store.close()
    again = await SqliteStore.open(tmp_path / "node.sqlite")  # released at close
    await again.close()


async def test_a_restore_moves_the_old_files_aside_and_marks_the_copy_for_declaration(tmp_path: Path) -> None:
    db = tmp_path / "data" / "node.sqlite"
    store = await SqliteStore.open(db)
    await _write(store, 10)
    await _checkpoint(store, ME)
    await store.close()
    saved = tmp_path / "backup.sqlite"
    backup(db, saved)
    store = await SqliteStore.open(db)
    await _write(store, 15, start=10)  # committed after the backup: lost by the restore
    with pytest.raises(StorageError, match="in use by another process"):
        restore(saved, db, node_id=ME, now_ms=9_000)
    await store.close()
    done = restore(saved, db, node_id=ME, now_ms=1_796_000_000_000)
    assert (done.events, done.lost_known) == (10, 25)
    assert done.moved_aside is not None
    assert sorted(p.name for p in done.moved_aside.iterdir()) == ["node.sqlite", "node.sqlite.hwm"]
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    restored = await SqliteStore.open(db)  # the mark was started at the copy: the guard lets it open
    try:
        assert restored.audit.size == 10
        pending = await pending_restore(restored.audit)
        assert pending is not None
        assert (pending.restored_at_ms, pending.lost_known_size) == (1_796_000_000_000, 25)
    finally:
        await restored.close()
    old = sqlite3.connect(done.moved_aside / "node.sqlite")
    assert old.execute("SELECT COUNT(*) FROM audit_leaves").fetchone()[0] == 25  # nothing destroyed
    old.close()


async def test_a_restore_refuses_what_is_not_a_sound_backup_of_this_node(tmp_path: Path) -> None:
    db = tmp_path / "node.sqlite"
    other = await SqliteStore.open(tmp_path / "other.sqlite")
    await _write(other, 4)
    await _checkpoint(other, "al-shss")
    await other.close()
    with pytest.raises(UsageError, match="is a backup of node 'al-shss', not of 'gr-ekka'"):
        restore(tmp_path / "other.sqlite", db, node_id=ME, now_ms=1)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(os.urandom(8192))
    with pytest.raises(UsageError, match="cannot be restored"):
        restore(junk, db, node_id=ME, now_ms=1)
    with pytest.raises(UsageError, match="no such backup file"):
        restore(tmp_path / "nothing.sqlite", db, node_id=ME, now_ms=1)
    tampered = tmp_path / "tampered.sqlite"
    good = await SqliteStore.open(tampered)
    await _write(good, 6)
    await good.close()
    conn = sqlite3.connect(tampered)
    conn.execute("UPDATE audit_leaves SET leaf = ? WHERE idx = 2", (b"edited",))
    conn.commit()
    conn.close()
    with pytest.raises(UsageError, match="its audit log does not verify"):
        restore(tampered, db, node_id=ME, now_ms=1)
    assert not db.exists()  # nothing was put in place


async def test_a_restore_carries_what_the_replaced_database_knew_of_epochs_and_losses(tmp_path: Path) -> None:
    """Restored twice before the node started, or over a database already in epoch 1: the marker
    keeps the highest epoch and the most events known, so the declaration goes above both."""
    db = tmp_path / "node.sqlite"
    store = await SqliteStore.open(db)
    await _write(store, 4)
    await store.close()
    saved = tmp_path / "old.sqlite"
    backup(db, saved)
    store = await SqliteStore.open(db)
    await _write(store, 30, start=4)
    await store.audit.record([], meta={"log_epoch": "1"})
    await store.close()
    first = restore(saved, db, node_id=ME, now_ms=1_000)
    assert first.lost_known == 34
    second = restore(saved, db, node_id=ME, now_ms=2_000)  # again, before any start
    assert second.lost_known == 34
    restored = await SqliteStore.open(db)
    try:
        pending = await pending_restore(restored.audit)
        assert pending is not None
        assert (pending.lost_known_size, pending.epoch_floor) == (34, 1)
    finally:
        await restored.close()


async def test_a_backup_carries_the_case_links_their_events_cursors_and_parked_messages(tmp_path: Path) -> None:
    """Opened as a node database, the copy answers the case store as the original did."""
    store = await SqliteStore.open(tmp_path / "node.sqlite")
    link = new_link()
    try:
        await store.cases.apply(
            CaseWrite(
                links=[link],
                events=[case_event(link.link_id)],
                cursors=[CursorMove("inbox", 0, 7)],
                park=[parked_message()],
                leaves=[(b"status", link.case_ref)],
            )
        )
        original = (
            await store.cases.link(link.link_id),
            await store.cases.events(link.link_id),
            await store.cases.cursor("inbox"),
            await store.cases.parked(10, 0),
        )
    finally:
        await store.close()
    (tmp_path / "copy").mkdir()
    copied = await asyncio.to_thread(backup, tmp_path / "node.sqlite", tmp_path / "copy" / "node.sqlite")
    assert (copied.events, copied.log_ok) == (1, True)
    opened = await SqliteStore.open(copied.path)
    try:
        assert (
            await opened.cases.link(link.link_id),
            await opened.cases.events(link.link_id),
            await opened.cases.cursor("inbox"),
            await opened.cases.parked(10, 0),
        ) == original
        assert original[0] is not None
        assert original[2] == 7
    finally:
        await opened.close()
