"""The audit log's storage: appends, proofs against the reference, and tamper detection naming the first bad index."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from focalpoint.audit.verify import check_log, find_damage
from focalpoint.crypto import merkle
from focalpoint.errors import DamagedData
from focalpoint.storage.base import AuditView
from focalpoint.storage.sqlite import SqliteStore
from focalpoint.storage.sqlite.audit_log import AuditLog
from focalpoint.v1 import audit_pb2
from tests.crypto.test_merkle import LEAVES, ROOTS


def log_of(path: Path, leaves: list[bytes]) -> AuditLog:
    log = AuditLog(path)
    log.append(leaves)
    return log


def test_roots_and_proofs_match_the_reference(tmp_path: Path) -> None:
    """Appended in two transactions, the log gives the published roots and verifiable proofs."""
    log = AuditLog(tmp_path / "a.sqlite")
    assert log.append(LEAVES[:3]) == 0
    assert log.append(LEAVES[3:]) == 3
    for size in range(1, 9):
        assert log.root(size).hex() == ROOTS[size]
    hashes = [merkle.leaf_hash(x) for x in LEAVES]
    for i in range(8):
        assert merkle.root_from_inclusion(i, 8, hashes[i], log.inclusion_proof(i)) == log.root()
    for old in range(1, 9):
        assert merkle.verify_consistency(old, 8, log.root(old), log.root(), log.consistency_proof(old))
    assert log.verify() is None


def test_the_log_survives_reopening(tmp_path: Path) -> None:
    """A reopened log knows its size and keeps appending onto the same tree."""
    path = tmp_path / "a.sqlite"
    log_of(path, LEAVES[:5]).close()
    again = AuditLog(path)
    assert again.size == 5
    again.append(LEAVES[5:])
    assert again.root().hex() == ROOTS[8]
    assert again.verify() is None


def _tamper(path: Path, sql: str, params: tuple[object, ...] = ()) -> None:
    db = sqlite3.connect(path)
    db.execute(sql, params)
    db.commit()
    db.close()


@pytest.mark.parametrize(
    ("sql", "params", "first_bad"),
    [
        ("UPDATE audit_leaves SET leaf = ? WHERE idx = 5", (b"edited",), 5),
        ("DELETE FROM audit_leaves WHERE idx = 11", (), 11),
        ("UPDATE audit_leaves SET idx = idx + 1000 WHERE idx = 7", (), 7),
        ("UPDATE audit_leaves SET leaf = CASE idx WHEN 2 THEN ? ELSE ? END WHERE idx IN (2, 3)", ("b3", "b2"), 2),
        ("UPDATE audit_nodes SET hash = zeroblob(32) WHERE level = 2 AND idx = 1", (), 7),
    ],
    ids=["edit", "delete", "move", "reorder", "forged-subtree"],
)
def test_tampering_is_found_at_its_first_index(
    tmp_path: Path, sql: str, params: tuple[object, ...], first_bad: int
) -> None:
    """Editing, deleting, moving or reordering a row, or forging a stored subtree, is named by index."""
    path = tmp_path / "a.sqlite"
    leaves = [f"event {i}".encode() for i in range(20)]
    if "reorder" in sql or "CASE" in sql:
        params = (leaves[3], leaves[2])
    log_of(path, leaves).close()
    _tamper(path, sql, params)
    damage = AuditLog(path).verify()
    assert damage is not None
    assert damage.index == first_bad, damage.reason


def test_an_inserted_row_is_found(tmp_path: Path) -> None:
    """A leaf added behind the log's back (beyond its last node) is reported."""
    path = tmp_path / "a.sqlite"
    log_of(path, [b"x"] * 6).close()
    _tamper(path, "INSERT INTO audit_leaves (idx, leaf) VALUES (6, ?)", (b"smuggled",))
    damage = AuditLog(path).verify()
    assert damage is not None
    assert damage.index == 6


def test_a_large_log_verifies_in_batches(tmp_path: Path) -> None:
    """Verification across batch boundaries (small batches) agrees with the tree head."""
    log = AuditLog(tmp_path / "a.sqlite")
    leaves = [i.to_bytes(4, "big") for i in range(1000)]
    for start in range(0, 1000, 137):
        log.append(leaves[start : start + 137])
    assert log.root() == merkle.tree_root([merkle.leaf_hash(x) for x in leaves])
    assert log.verify(batch=64) is None


# --- damaged and planted rows: reported, never a crash -------------------------------------------


def _check(path: Path) -> tuple[bool, int, str]:
    """check_log over one snapshot of the file, as `audit verify --db` runs it."""
    log = AuditLog(path, readonly=True)
    try:
        with log.snapshot():
            report = check_log(log, directory=None)
        return report.ok, report.first_bad_index, report.reason
    finally:
        log.close()


@pytest.mark.parametrize(
    ("sql", "first_bad", "reason"),
    [
        ("INSERT INTO audit_leaves (idx, leaf) VALUES (25, x'01')", 20, "leaf 20 is missing (the next stored leaf is"),
        ("INSERT INTO audit_leaves (idx, leaf) VALUES (9223372036854775807, x'01')", 20, "leaf 20 is missing"),
        ("INSERT INTO audit_leaves (idx, leaf) VALUES (-1, x'01')", 20, "a leaf is stored at index -1, outside"),
        ("INSERT INTO audit_nodes (level, idx, hash) VALUES (0, 40, zeroblob(32))", 20, "a subtree (0, 40) is stored"),
        ("INSERT INTO audit_nodes (level, idx, hash) VALUES (4, 1, zeroblob(32))", 20, "a subtree (4, 1) is stored"),
        ("INSERT INTO audit_nodes (level, idx, hash) VALUES (70, 0, zeroblob(32))", 20, "a subtree (70, 0) is stored"),
        ("INSERT INTO audit_nodes (level, idx, hash) VALUES ('x', 0, zeroblob(32))", 20, "a subtree (<str value>, 0)"),
        ("INSERT INTO audit_cases (case_ref, idx) VALUES ('GR-1', 20)", 20, "a case index row names leaf 20, outside"),
        ("INSERT INTO audit_cases (case_ref, idx) VALUES ('GR-1', -3)", 20, "a case index row names leaf -3, outside"),
    ],
    ids=[
        *("leaf-after-gap", "leaf-at-huge-index", "leaf-at-negative-index", "node-beyond-end", "node-too-high"),
        *("node-at-absurd-level", "node-with-text-level", "case-row-past-end", "case-row-negative"),
    ],
)
def test_rows_planted_outside_the_log_are_reported(tmp_path: Path, sql: str, first_bad: int, reason: str) -> None:
    """A leaf after a gap or before index 0, a subtree no leaf closes, a case row naming no leaf: DAMAGED
    (V1 or V3), at the log's end, with what and where (a whole log with none of them verifies)."""
    path = tmp_path / "node.sqlite"
    log_of(path, [f"event {i}".encode() for i in range(20)]).close()
    _tamper(path, "CREATE TABLE audit_cases (case_ref TEXT, idx INTEGER, PRIMARY KEY (case_ref, idx)) WITHOUT ROWID")
    _tamper(path, "INSERT INTO audit_cases (case_ref, idx) VALUES ('GR-1', 19)")
    assert _check(path) == (True, 0, "")
    _tamper(path, sql)
    ok, index, why = _check(path)
    assert (ok, index) == (False, first_bad), why
    assert reason in why
    assert "GR-1" not in why  # a case reference is never part of a report


@pytest.mark.parametrize(
    ("sql", "first_bad", "reason"),
    [
        ("UPDATE audit_leaves SET leaf = 'edited' WHERE idx = 3", 3, "leaf 3 is stored as text, not as bytes"),
        ("UPDATE audit_leaves SET leaf = CAST(x'ff00' AS TEXT) WHERE idx = 3", 3, "as text that is not UTF-8"),
        ("UPDATE audit_leaves SET leaf = 7 WHERE idx = 3", 3, "leaf 3 is stored as an integer"),
        ("UPDATE audit_nodes SET hash = 'x' WHERE level = 0 AND idx = 3", 3, "stored subtree (0, 3) does not match"),
        ("UPDATE audit_nodes SET level = 'x' WHERE level = 0 AND idx = 3", 3, "stored subtree (0, 3) does not match"),
        ("UPDATE audit_nodes SET hash = CAST(x'ff' AS TEXT) WHERE level = 2", 3, "subtree (2, 0) does not match"),
    ],
    ids=["leaf-text", "leaf-not-utf8", "leaf-integer", "node-hash-text", "node-level-text", "node-hash-not-utf8"],
)
def test_columns_of_the_wrong_type_are_damage_named_by_index(
    tmp_path: Path, sql: str, first_bad: int, reason: str
) -> None:
    """A leaf or subtree stored as text or a number (even text that does not decode) is reported at its
    index, never a TypeError or sqlite3's decoding error."""
    path = tmp_path / "node.sqlite"
    log_of(path, [f"event {i}".encode() for i in range(20)]).close()
    _tamper(path, sql)
    ok, index, why = _check(path)
    assert (ok, index) == (False, first_bad), why
    assert reason in why


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_checkpoints SET raw = 'garbage'",
        "UPDATE audit_checkpoints SET raw = 42",
        "INSERT INTO audit_cosignatures (size, witness, raw) SELECT size, 'it-dgi', 'text' FROM audit_checkpoints",
        "UPDATE audit_checkpoints SET raw = x'ffff'",
    ],
    ids=["raw-text", "raw-integer", "cosignature-text", "raw-garbage"],
)
def test_a_damaged_checkpoint_row_fails_v4_without_a_crash(tmp_path: Path, sql: str) -> None:
    """A stored checkpoint row of the wrong type or that does not parse fails the check, naming a checkpoint."""
    path = tmp_path / "node.sqlite"
    log = log_of(path, [f"event {i}".encode() for i in range(5)])
    root = log.root()
    log.close()
    checkpoint = audit_pb2.Checkpoint(log_node="gr-ekka", size=5, root_hash=root, issued_at_ms=1)
    signed = audit_pb2.SignedCheckpoint(checkpoint=checkpoint.SerializeToString()).SerializeToString()
    _tamper(path, "CREATE TABLE audit_checkpoints (size INTEGER PRIMARY KEY, raw BLOB NOT NULL, issued_at_ms INTEGER)")
    _tamper(path, "CREATE TABLE audit_cosignatures (size INTEGER, witness TEXT, raw BLOB, PRIMARY KEY (size, witness))")
    _tamper(path, "INSERT INTO audit_checkpoints (size, raw, issued_at_ms) VALUES (5, ?, 1)", (signed,))
    assert _check(path) == (True, 0, "")
    _tamper(path, sql)
    ok, _, why = _check(path)
    assert not ok
    assert "checkpoint" in why


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("DROP TABLE audit_nodes", ("lacks part of its schema", "audit_nodes")),
        ("DROP TABLE audit_leaves", ("lacks part of its schema", "audit_leaves")),
        ("ALTER TABLE audit_nodes RENAME COLUMN hash TO h", ("lacks part of its schema", "hash")),
    ],
    ids=["nodes-dropped", "leaves-dropped", "column-renamed"],
)
def test_a_missing_table_or_column_is_damaged_data_naming_it(tmp_path: Path, sql: str, words: tuple[str, ...]) -> None:
    """A log whose tables are gone cannot be checked: DamagedData, one line naming what is missing."""
    path = tmp_path / "node.sqlite"
    log_of(path, [b"x"] * 4).close()
    _tamper(path, sql)
    with pytest.raises(DamagedData) as raised:
        _check(path)
    assert "\n" not in str(raised.value)
    for word in words:
        assert word in str(raised.value)


def test_a_file_that_is_not_a_database_is_damaged_data_without_its_bytes(tmp_path: Path) -> None:
    """Opening anything but an SQLite file as a log fails with one line naming the file, not its content."""
    path = tmp_path / "node.sqlite"
    path.write_bytes(b"GR-2026-0001 " * 400)
    with pytest.raises(DamagedData, match="not a readable database") as raised:
        _check(path)
    assert str(path) in str(raised.value)
    assert "GR-2026" not in str(raised.value)


# --- one snapshot: a node committing while the check reads is never damage ------------------------


class Interleaved:
    """A LogReader that, before each read, lets ``commit`` run: the worst interleaving of a check with
    a node that keeps committing (each read sees one more commit than the one before)."""

    def __init__(self, view: AuditView, commit: Callable[[], None]) -> None:
        self._view, self._commit = view, commit

    @property
    def size(self) -> int:
        return self._view.size

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._view, name)

        def call(*args: Any) -> Any:
            self._commit()
            return method(*args)

        return call


async def test_verification_while_the_node_commits_sees_one_snapshot(tmp_path: Path) -> None:
    """With a commit landing before every read the check makes (size, leaves, subtrees, strays,
    checkpoints), each of 20 verifications finds the log whole, at the size it started with."""
    store = await SqliteStore.open(tmp_path / "node.sqlite")
    try:
        await store.audit.record([f"event {i}".encode() for i in range(7)])
        loop = asyncio.get_running_loop()
        commits = 0

        def commit() -> None:  # on the check's worker thread: a real commit by the node, and wait for it
            nonlocal commits
            asyncio.run_coroutine_threadsafe(store.audit.record([b"meanwhile"]), loop).result(timeout=30)
            commits += 1

        for _ in range(20):
            before = store.audit.size
            report = await store.audit.read(lambda view: check_log(Interleaved(view, commit), directory=None))
            assert (report.ok, report.reason) == (True, "")
            assert report.size == before
        assert commits >= 20 * 4  # every check really was interleaved with commits
        assert await store.audit.read(find_damage) is None
    finally:
        await store.close()
