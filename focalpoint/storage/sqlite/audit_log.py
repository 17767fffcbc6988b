"""The audit log's storage: leaves and complete subtrees in SQLite, proofs in milliseconds.

    audit_leaves (idx, leaf)            the exact leaf bytes, append-only
    audit_nodes  (level, idx, hash)     every complete aligned subtree (focalpoint.audit.tree)

An append writes its leaves and the subtrees they close in one transaction: the log is
never half-written. Tree heads and proofs read only O(log² n) nodes. ``verify`` recomputes
every leaf hash and every stored node from the leaves and names the first index at which
the stored history disagrees, so editing, deleting, inserting or reordering a row is found;
it also finds rows stored outside the log (``stray_rows``). A check or a proof runs on one
``snapshot``: one read transaction, so a node committing meanwhile changes nothing it sees.
Values are handed to the check as stored (a damaged row may hold text where bytes belong).

Truncation is the one change a log cannot see in itself (its size comes from its rows):
signed checkpoints, kept by the node's peers as witnesses, are what detect a shortened or
forked history. Synchronous sqlite3 (the calls are short and the caller chooses the
thread); this module does not decide what is logged.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from focalpoint.audit import tree as audit_tree
from focalpoint.audit.verify import Damage, find_damage
from focalpoint.crypto.merkle import leaf_hash
from focalpoint.errors import DamagedData, StorageError
from focalpoint.storage.sqlite.rows import read_text, sqlite_error

__all__ = ["SCHEMA", "AuditLog", "load_tail", "root_of", "stored_size", "write_leaves"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_leaves (idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS audit_nodes (
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)
) WITHOUT ROWID;
"""


def stored_size(db: sqlite3.Connection) -> int:
    """Leaves stored: one more than the highest index (a log's size comes from its rows)."""
    row = db.execute("SELECT MAX(idx) FROM audit_leaves").fetchone()
    return 0 if row is None or row[0] is None else int(row[0]) + 1


def _place(value: Any) -> str:
    """A stored level or index as shown in a report: the number, or what kind of value it is."""
    return str(value) if isinstance(value, int) else f"<{type(value).__name__} value>"


def _node_reader(db: sqlite3.Connection, path: Path) -> audit_tree.NodeLookup:
    def node(level: int, index: int) -> bytes:
        row = db.execute("SELECT hash FROM audit_nodes WHERE level = ? AND idx = ?", (level, index)).fetchone()
        if row is None:
            raise StorageError(f"{path}: audit node ({level}, {index}) is missing")
        if not isinstance(row[0], bytes):
            raise DamagedData(f"{path}: audit node ({level}, {index}) is damaged (not stored as bytes)")
        return row[0]

    return node


def root_of(db: sqlite3.Connection, path: Path, size: int) -> bytes:
    """The root of the first ``size`` stored leaves (``size`` must not exceed what is stored)."""
    return audit_tree.SizedTree(_node_reader(db, path), stored_size(db)).root(size)


def load_tail(db: sqlite3.Connection, path: Path) -> audit_tree.Tail:
    """The stored log's right edge (what an append needs)."""
    return audit_tree.Tail.load(stored_size(db), _node_reader(db, path))


def write_leaves(db: sqlite3.Connection, tail: audit_tree.Tail, leaves: Sequence[bytes]) -> audit_tree.Tail:
    """Insert ``leaves`` after ``tail`` with the subtrees they close, inside the caller's
    transaction; returns the new tail, to adopt once the transaction commits."""
    new, nodes = tail.extend([leaf_hash(leaf) for leaf in leaves])
    db.executemany(
        "INSERT INTO audit_leaves (idx, leaf) VALUES (?, ?)", [(tail.size + i, leaf) for i, leaf in enumerate(leaves)]
    )
    db.executemany("INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)", nodes)
    return new


class AuditLog:
    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        """Open (or create) a log; ``readonly`` opens an existing file, e.g. a node's database."""
        try:
            if readonly:
                if not path.is_file():
                    raise StorageError(f"{path}: no such database")
                self._db = sqlite3.connect(
                    f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
                )
            else:
                self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.executescript(SCHEMA)
            self._db.text_factory = read_text  # text where bytes belong is damage to report, not a crash
            self.size = stored_size(self._db)
        except sqlite3.Error as e:
            raise sqlite_error(path, "cannot open the audit log", e) from e
        self._path = path
        self._node = _node_reader(self._db, path)
        self._cached_tail: audit_tree.Tail | None = None

    def close(self) -> None:
        self._db.close()

    def append(self, leaves: Sequence[bytes]) -> int:
        """Append leaves (serialized events) in one transaction; returns the first new index."""
        first = self.size
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                tail = write_leaves(self._db, self._tail(), leaves)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise StorageError(f"{self._path}: audit append failed: {e}") from e
        self.size = tail.size
        self._cached_tail = tail
        return first

    def _tail(self) -> audit_tree.Tail:
        if self._cached_tail is None or self._cached_tail.size != self.size:
            self._cached_tail = audit_tree.Tail.load(self.size, self._node)
        return self._cached_tail

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[AuditLog]:
        """Hold one read transaction: the size is re-read in it, and every read until the block
        ends sees the same committed state, whatever another connection commits meanwhile (a
        check that read the size, then leaves and subtrees of a later size, reported damage that
        is not there). A sqlite3 error inside becomes a StorageError (DamagedData for a damaged
        file or schema). Inside another snapshot, it is that one."""
        if self._db.in_transaction:
            yield self
            return
        try:
            self._db.execute("BEGIN")
            try:
                self.size = stored_size(self._db)  # the first read fixes the snapshot
                yield self
            finally:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")  # read only: nothing to commit
        except sqlite3.Error as e:
            raise sqlite_error(self._path, "audit log read", e) from e

    def _has_table(self, name: str) -> bool:
        found = self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
        return found is not None

    def checkpoints(self) -> list[tuple[Any, Any, list[Any]]]:
        """(size, signed checkpoint, cosignatures) a node stored next to its log, as stored (none
        in a bare log)."""
        if not self._has_table("audit_checkpoints"):
            return []
        out = []
        for size, raw in self._db.execute("SELECT size, raw FROM audit_checkpoints ORDER BY size").fetchall():
            cosignatures = self._db.execute(
                "SELECT raw FROM audit_cosignatures WHERE size = ? ORDER BY witness", (size,)
            ).fetchall()
            out.append((size, raw, [c[0] for c in cosignatures]))
        return out

    def alarms(self) -> list[Any]:
        """Conflict evidence the node kept as a witness, as stored (none in a bare log)."""
        if not self._has_table("witness_alarms"):
            return []
        return [r[0] for r in self._db.execute("SELECT raw FROM witness_alarms ORDER BY id")]

    def stored_bundle(self) -> bytes | None:
        """The directory bundle the node last accepted, if this is a node database. Raises
        DamagedData when the stored bundle is not bytes."""
        if not self._has_table("directory_documents"):
            return None
        row = self._db.execute(
            "SELECT raw FROM directory_documents WHERE kind = 'bundle' ORDER BY version DESC LIMIT 1"
        ).fetchone()
        if row is not None and not isinstance(row[0], bytes):
            raise DamagedData(f"{self._path}: the stored directory bundle is damaged (not stored as bytes)")
        return None if row is None else row[0]

    def _bytes(self, index: int, leaf: Any) -> bytes:
        if not isinstance(leaf, bytes):
            raise DamagedData(f"{self._path}: audit leaf {index} is damaged (not stored as bytes)")
        return leaf

    def leaves(self, start: int, end: int) -> list[tuple[int, bytes]]:
        rows = self._db.execute(
            "SELECT idx, leaf FROM audit_leaves WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end)
        ).fetchall()
        return [(int(i), self._bytes(i, leaf)) for i, leaf in rows]

    def _tree(self) -> audit_tree.SizedTree:
        return audit_tree.SizedTree(self._node, self.size)

    def root(self, size: int | None = None) -> bytes:
        return self._tree().root(size)

    def leaf(self, index: int) -> bytes:
        row = self._db.execute("SELECT leaf FROM audit_leaves WHERE idx = ?", (index,)).fetchone()
        if row is None:
            raise ValueError(f"no leaf {index}; the log has {self.size} leaves")
        return self._bytes(index, row[0])

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return self._tree().inclusion_proof(index, size)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        return self._tree().consistency_proof(old, new)

    def verify(self, *, batch: int = 65_536) -> Damage | None:
        """Recompute everything from the leaves, in one snapshot; the first disagreement, or None
        if the log is whole."""
        with self.snapshot():
            return find_damage(self, batch=batch)

    def leaves_from(self, start: int, limit: int) -> list[tuple[int, Any]]:
        """Up to ``limit`` rows from ``start`` on, as stored (a damaged row may not hold bytes)."""
        rows = self._db.execute(
            "SELECT idx, leaf FROM audit_leaves WHERE idx >= ? ORDER BY idx LIMIT ?", (start, limit)
        ).fetchall()
        return [(int(i), leaf) for i, leaf in rows]

    def stored_size(self) -> int:
        return stored_size(self._db)

    def closed_nodes(self, start: int, end: int) -> dict[tuple[int, int], Any]:
        """Stored nodes closed by leaves [start, end), as stored: node (l, i) is closed by leaf (i+1)·2^l − 1."""
        out: dict[tuple[int, int], Any] = {}
        level = 0
        while (1 << level) <= end:
            low = -(-(start + 1) // (1 << level)) - 1  # ceil((start+1) / 2^l) - 1
            high = end // (1 << level) - 1
            if high >= low:
                for lv, ix, h in self._db.execute(
                    "SELECT level, idx, hash FROM audit_nodes WHERE level = ? AND idx BETWEEN ? AND ?",
                    (level, low, high),
                ):
                    out[(int(lv), int(ix))] = h
            level += 1
        return out

    def stray_rows(self, size: int) -> str | None:
        """The first row stored outside a log of ``size`` leaves, described by table and place: a
        leaf at a negative index or at ``size`` or beyond, a subtree no leaf of the log closes, a
        case row naming no leaf of it. None when there is none."""
        row = self._db.execute(
            "SELECT idx FROM audit_leaves WHERE idx < 0 OR idx >= ? ORDER BY idx LIMIT 1", (size,)
        ).fetchone()
        if row is not None:
            return f"a leaf is stored at index {row[0]}, outside the log's {size} leaves"
        # Node (l, i) is closed by leaf (i+1)·2^l − 1, so it belongs to the log when i < size >> l.
        row = self._db.execute(
            "SELECT level, idx FROM audit_nodes WHERE NOT (typeof(level) = 'integer' AND typeof(idx) = 'integer'"
            " AND level BETWEEN 0 AND 62 AND idx >= 0 AND idx < (? >> level)) LIMIT 1",
            (size,),
        ).fetchone()
        if row is not None:
            return f"a subtree ({_place(row[0])}, {_place(row[1])}) is stored that no leaf of the log's {size} closes"
        if self._has_table("audit_cases"):
            row = self._db.execute(
                "SELECT idx FROM audit_cases WHERE NOT (typeof(idx) = 'integer' AND idx >= 0 AND idx < ?) LIMIT 1",
                (size,),
            ).fetchone()
            if row is not None:
                return f"a case index row names leaf {_place(row[0])}, outside the log's {size} leaves"
        return None
