"""The audit log's storage: appends, proofs against the reference, and tamper detection naming the first bad index."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from focalpoint.crypto import merkle
from focalpoint.storage.sqlite.audit_log import AuditLog
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
