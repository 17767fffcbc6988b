"""The audit side of the node database: appending events inside a transaction (``Tx``), and
the tables of checkpoints, cosignatures, witnessed partner checkpoints and alarms.

``AuditTables`` is mixed into ``focalpoint.sqlite_store.SqliteStore``, which owns the
connections and runs every transaction; the schema is there too.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from focalpoint.audit import tree as audit_tree
from focalpoint.audit_log import AuditLog, write_leaves

__all__ = ["AuditTables", "Tx"]

T = TypeVar("T")


class Tx:
    """One open write transaction on the writer connection, run in its thread: SQL plus the
    audit leaves it adds (appended, with the subtrees they close, just before COMMIT)."""

    def __init__(self, db: sqlite3.Connection, tail: audit_tree.Tail) -> None:
        self.db = db
        self.tail = tail
        self.leaves: list[bytes] = []
        self.cases: list[tuple[str, int]] = []

    @property
    def next_index(self) -> int:
        return self.tail.size + len(self.leaves)

    def log(self, leaf: bytes, case_ref: str = "") -> int:
        index = self.next_index
        self.leaves.append(leaf)
        if case_ref:
            self.cases.append((case_ref, index))
        return index

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.db.execute(sql, params).fetchall()

    def flush(self) -> None:
        if not self.leaves:
            return
        tail = write_leaves(self.db, self.tail, self.leaves)
        if self.cases:
            self.db.executemany("INSERT INTO audit_cases (case_ref, idx) VALUES (?, ?)", self.cases)
        self.tail = tail


class AuditTables:
    """Audit reads and writes; needs the store's ``_transaction`` and ``_fetchall``."""

    _path: Path
    _tail: audit_tree.Tail
    _audit: AuditLog | None
    _audit_lock: threading.Lock

    async def _transaction(self, what: str, body: Callable[[Tx], T]) -> T:
        raise NotImplementedError

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    @property
    def audit_size(self) -> int:
        """Leaves committed to the audit log."""
        return self._tail.size

    async def record(self, leaves: Sequence[bytes], case_ref: str = "", *, meta: dict[str, str] | None = None) -> int:
        """Append events that go with no other row (a read, a refusal, a key change), with
        ``meta`` settings they make true, in one transaction."""

        def body(tx: Tx) -> int:
            first = tx.next_index
            for leaf in leaves:
                tx.log(leaf, case_ref)
            for key, value in (meta or {}).items():
                tx.fetchall(
                    "INSERT INTO meta (key, value) VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )
            return first

        return await self._transaction("audit write", body)

    async def meta(self, key: str) -> str | None:
        rows = await self._fetchall("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    async def audit(self, fn: Callable[[AuditLog], T]) -> T:
        """Run ``fn`` on a read-only view of the log (proofs, verification) in a worker thread.

        The view sees only committed leaves; its size is the committed size when it runs.
        """

        def run() -> T:
            with self._audit_lock:
                if self._audit is None:
                    self._audit = AuditLog(self._path, readonly=True)
                self._audit.refresh()
                return fn(self._audit)

        return await asyncio.to_thread(run)

    async def case_event_indices(self, case_ref: str) -> list[int]:
        rows = await self._fetchall("SELECT idx FROM audit_cases WHERE case_ref = ? ORDER BY idx", (case_ref,))
        return [int(r[0]) for r in rows]

    async def audit_events(self, limit: int, before: int, case_ref: str = "") -> list[tuple[int, bytes]]:
        if case_ref:
            rows = await self._fetchall(
                "SELECT l.idx, l.leaf FROM audit_cases c JOIN audit_leaves l ON l.idx = c.idx"
                " WHERE c.case_ref = ? AND c.idx < ? ORDER BY c.idx DESC LIMIT ?",
                (case_ref, before or (1 << 62), limit),
            )
        else:
            rows = await self._fetchall(
                "SELECT idx, leaf FROM audit_leaves WHERE idx < ? ORDER BY idx DESC LIMIT ?",
                (before or (1 << 62), limit),
            )
        return [(int(i), bytes(leaf)) for i, leaf in rows]

    # checkpoints, cosignatures, witnessing

    async def add_checkpoint(self, size: int, raw: bytes, issued_at_ms: int) -> bytes:
        """Keep this node's signed checkpoint of ``size``; returns the one kept (the first for a size)."""

        def body(tx: Tx) -> bytes:
            tx.fetchall(
                "INSERT INTO audit_checkpoints (size, raw, issued_at_ms) VALUES (?, ?, ?)"
                " ON CONFLICT (size) DO NOTHING",
                (size, raw, issued_at_ms),
            )
            rows = tx.fetchall("SELECT raw FROM audit_checkpoints WHERE size = ?", (size,))
            return bytes(rows[0][0])

        return await self._transaction("checkpoint write", body)

    async def latest_checkpoint(self) -> tuple[bytes, list[bytes]] | None:
        """This node's newest signed checkpoint and the cosignatures returned for it."""
        rows = await self._fetchall("SELECT size, raw FROM audit_checkpoints ORDER BY size DESC LIMIT 1")
        if not rows:
            return None
        return bytes(rows[0][1]), await self.cosignatures(int(rows[0][0]))

    async def latest_cosigned_checkpoint(self) -> tuple[bytes, list[bytes]] | None:
        """This node's newest checkpoint that at least one witness cosigned, with its cosignatures."""
        rows = await self._fetchall(
            "SELECT c.size, c.raw FROM audit_checkpoints c WHERE EXISTS"
            " (SELECT 1 FROM audit_cosignatures s WHERE s.size = c.size) ORDER BY c.size DESC LIMIT 1"
        )
        if not rows:
            return None
        return bytes(rows[0][1]), await self.cosignatures(int(rows[0][0]))

    async def checkpoint_at(self, size: int) -> bytes | None:
        rows = await self._fetchall("SELECT raw FROM audit_checkpoints WHERE size = ?", (size,))
        return bytes(rows[0][0]) if rows else None

    async def cosignatures(self, size: int) -> list[bytes]:
        rows = await self._fetchall("SELECT raw FROM audit_cosignatures WHERE size = ? ORDER BY witness", (size,))
        return [bytes(r[0]) for r in rows]

    async def add_cosignature(self, size: int, witness: str, raw: bytes) -> None:
        def body(tx: Tx) -> None:
            tx.fetchall(
                "INSERT INTO audit_cosignatures (size, witness, raw) VALUES (?, ?, ?)"
                " ON CONFLICT (size, witness) DO UPDATE SET raw = excluded.raw",
                (size, witness, raw),
            )

        await self._transaction("cosignature write", body)

    async def witnessed(self, log_node: str) -> bytes | None:
        """The latest checkpoint of ``log_node`` this node cosigned (a SignedCheckpoint with that cosignature)."""
        rows = await self._fetchall("SELECT raw FROM witnessed WHERE log_node = ?", (log_node,))
        return bytes(rows[0][0]) if rows else None

    async def set_witnessed(self, log_node: str, size: int, raw: bytes, event: bytes, at_ms: int) -> None:
        def body(tx: Tx) -> None:
            tx.fetchall(
                "INSERT INTO witnessed (log_node, size, raw, at_ms) VALUES (?, ?, ?, ?) ON CONFLICT (log_node)"
                " DO UPDATE SET size = excluded.size, raw = excluded.raw, at_ms = excluded.at_ms"
                " WHERE excluded.size >= witnessed.size",
                (log_node, size, raw, at_ms),
            )
            tx.log(event)

        await self._transaction("witness write", body)

    async def add_alarm(self, log_node: str, raw: bytes, event: bytes, at_ms: int) -> None:
        def body(tx: Tx) -> None:
            tx.fetchall("INSERT INTO witness_alarms (log_node, raw, at_ms) VALUES (?, ?, ?)", (log_node, raw, at_ms))
            tx.log(event)

        await self._transaction("alarm write", body)

    async def alarms(self) -> list[bytes]:
        return [bytes(r[0]) for r in await self._fetchall("SELECT raw FROM witness_alarms ORDER BY id")]
