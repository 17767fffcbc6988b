"""The node's database files against what operators do to them: a clean stop leaves one complete
file; a lost, cut, damaged or swapped write-ahead log or database is refused at start with one
clear line, never served as if nothing happened."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from focalpoint.audit import events as audit_events
from focalpoint.errors import StorageError
from focalpoint.storage.sqlite.store import SqliteStore

FILES = ("node.sqlite", "node.sqlite-wal", "node.sqlite.hwm")


async def _write(store: SqliteStore, n: int, actor: str = "officer.1") -> None:
    for i in range(n):
        event = audit_events.read(
            at_ms=1_000 + i,
            actor=actor,
            case_ref="GR-2026-0001",
            message_id=bytes(16),
            peer="al-shss",
            digest=bytes(32),
        )
        await store.audit.record([event], "GR-2026-0001")


async def _crash_image(tmp_path: Path, events: int = 40) -> Path:
    """The files of a node that crashed after ``events`` commits (copied while it runs)."""
    live = tmp_path / "live"
    store = await SqliteStore.open(live / "node.sqlite")
    await _write(store, events)
    image = tmp_path / "image"
    image.mkdir()
    for name in FILES:
        if (live / name).exists():
            shutil.copy2(live / name, image / name)
    await store.close()
    return image / "node.sqlite"


def _refused(error: StorageError, *words: str) -> None:
    message = str(error)
    assert "\n" not in message
    assert "do not start" in message
    for word in words:
        assert word in message


async def test_a_clean_stop_leaves_all_data_in_the_database_file_alone(tmp_path: Path) -> None:
    """After close, node.sqlite copied on its own (no -wal) holds every committed event."""
    store = await SqliteStore.open(tmp_path / "node.sqlite")
    await _write(store, 25)
    await store.audit.read(lambda view: view.size)  # a read-only view is open too
    await store.close()
    alone = tmp_path / "copy"
    alone.mkdir()
    shutil.copy2(tmp_path / "node.sqlite", alone / "node.sqlite")
    copy = await SqliteStore.open(alone / "node.sqlite")
    try:
        assert copy.audit.size == 25
    finally:
        await copy.close()


async def test_a_crashed_node_s_files_open_whole(tmp_path: Path) -> None:
    """The control: a crash image (database, WAL and mark) opens with every commit."""
    db = await _crash_image(tmp_path)
    store = await SqliteStore.open(db)
    try:
        assert store.audit.size == 40
    finally:
        await store.close()


def _delete_wal(db: Path) -> None:
    db.with_name(db.name + "-wal").unlink()


def _truncate_wal(db: Path) -> None:
    wal = db.with_name(db.name + "-wal")
    data = wal.read_bytes()
    wal.write_bytes(data[: len(data) // 2])


def _flip_a_wal_bit(db: Path) -> None:
    wal = db.with_name(db.name + "-wal")
    data = bytearray(wal.read_bytes())
    data[32 + 24 + 200] ^= 0x01  # inside the first frame's page: its checksum, and all after it, fail
    wal.write_bytes(bytes(data))


def _empty_the_database(db: Path) -> None:
    db.write_bytes(b"")
    db.with_name(db.name + "-wal").unlink()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(_delete_wal, id="wal-deleted"),
        pytest.param(_truncate_wal, id="wal-truncated"),
        pytest.param(_flip_a_wal_bit, id="wal-bit-flipped"),
        pytest.param(_empty_the_database, id="database-emptied"),
    ],
)
async def test_a_database_behind_what_the_node_committed_is_refused_at_start(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    """The node does not start on less than it acknowledged, and says what is missing and what to do."""
    db = await _crash_image(tmp_path)
    damage(db)
    with pytest.raises(StorageError) as refused:
        await SqliteStore.open(db)
    _refused(refused.value, "this node had committed 40", "restore")


async def test_another_node_s_database_in_this_node_s_place_is_refused(tmp_path: Path) -> None:
    """A database with as many events but others (the wrong file copied in) does not match the mark."""
    db = await _crash_image(tmp_path)
    other = await SqliteStore.open(tmp_path / "other" / "node.sqlite")
    await _write(other, 45, actor="someone.else")
    await other.close()
    shutil.copy2(tmp_path / "other" / "node.sqlite", db)
    db.with_name(db.name + "-wal").unlink()
    with pytest.raises(StorageError) as refused:
        await SqliteStore.open(db)
    _refused(refused.value, "are not the ones this node committed")


async def test_a_damaged_database_file_fails_the_quick_check_at_start(tmp_path: Path) -> None:
    """Damaged pages are found by SQLite's quick check before the node serves anything."""
    store = await SqliteStore.open(tmp_path / "node.sqlite")
    await _write(store, 200)
    await store.close()
    db = tmp_path / "node.sqlite"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        [(root,)] = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'audit_leaves'")
        [(page,)] = conn.execute("PRAGMA page_size")
    data = bytearray(db.read_bytes())
    start = (root - 1) * page
    data[start + 8 : start + 64] = b"\xff" * 56  # the table's root page: its cell pointers point nowhere
    db.write_bytes(bytes(data))
    with pytest.raises(StorageError) as refused:
        await SqliteStore.open(db)
    assert "\n" not in str(refused.value)
    assert "damaged" in str(refused.value) or "not a usable" in str(refused.value)


async def test_the_mark_follows_every_commit_and_survives_a_torn_write(tmp_path: Path) -> None:
    """A restart after more commits opens; a spoiled slot leaves the other slot's mark in force."""
    store = await SqliteStore.open(tmp_path / "node.sqlite")
    await _write(store, 3)
    await store.close()
    store = await SqliteStore.open(tmp_path / "node.sqlite")
    await _write(store, 2)
    await store.close()
    hwm = tmp_path / "node.sqlite.hwm"
    data = bytearray(hwm.read_bytes())
    data[512 + 20] ^= 0xFF  # spoil one slot (as a torn write would)
    data[20] ^= 0x00
    hwm.write_bytes(bytes(data))
    store = await SqliteStore.open(tmp_path / "node.sqlite")
    try:
        assert store.audit.size == 5
    finally:
        await store.close()
