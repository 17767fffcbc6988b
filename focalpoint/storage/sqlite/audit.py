"""The audit side of the node database: appending events that go with no other row, reading
the log, and the tables of checkpoints, cosignatures, witnessed partner checkpoints and alarms.

Events that go with another row (SENT, DELIVERED, …) are appended by that row's own
transaction (``Tx.log``); the log's storage itself is ``audit_log``. A value of the wrong type
read back raises DamagedData naming its table and row (``audit verify`` says more).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from focalpoint.storage.base import AuditView
from focalpoint.storage.sqlite.db import Database, Tx
from focalpoint.storage.sqlite.rows import stored_bytes, stored_int

__all__ = ["SqliteAudit"]

T = TypeVar("T")


class SqliteAudit:
    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def size(self) -> int:
        """Leaves committed to the audit log."""
        return self._db.audit_size

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

        return await self._db.transaction("audit write", body)

    async def meta(self, key: str) -> str | None:
        rows = await self._db.fetchall("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    async def case_indices(self, case_ref: str) -> list[int]:
        rows = await self._db.fetchall("SELECT idx FROM audit_cases WHERE case_ref = ? ORDER BY idx", (case_ref,))
        return [stored_int(r[0], self._db.path, "an audit_cases row of that case") for r in rows]

    async def events(self, limit: int, before: int, case_ref: str = "") -> list[tuple[int, bytes]]:
        if case_ref:
            rows = await self._db.fetchall(
                "SELECT l.idx, l.leaf FROM audit_cases c JOIN audit_leaves l ON l.idx = c.idx"
                " WHERE c.case_ref = ? AND c.idx < ? ORDER BY c.idx DESC LIMIT ?",
                (case_ref, before or (1 << 62), limit),
            )
        else:
            rows = await self._db.fetchall(
                "SELECT idx, leaf FROM audit_leaves WHERE idx < ? ORDER BY idx DESC LIMIT ?",
                (before or (1 << 62), limit),
            )
        return [(int(i), stored_bytes(leaf, self._db.path, f"audit leaf {i}")) for i, leaf in rows]

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
            return stored_bytes(rows[0][0], self._db.path, f"the audit_checkpoints row of size {size}")

        return await self._db.transaction("checkpoint write", body)

    async def latest_checkpoint(self) -> tuple[bytes, list[bytes]] | None:
        """This node's newest signed checkpoint and the cosignatures returned for it."""
        rows = await self._db.fetchall("SELECT size, raw FROM audit_checkpoints ORDER BY size DESC LIMIT 1")
        if not rows:
            return None
        return await self._checkpoint(rows[0])

    async def latest_cosigned_checkpoint(self) -> tuple[bytes, list[bytes]] | None:
        """This node's newest checkpoint that at least one witness cosigned, with its cosignatures."""
        rows = await self._db.fetchall(
            "SELECT c.size, c.raw FROM audit_checkpoints c WHERE EXISTS"
            " (SELECT 1 FROM audit_cosignatures s WHERE s.size = c.size) ORDER BY c.size DESC LIMIT 1"
        )
        if not rows:
            return None
        return await self._checkpoint(rows[0])

    async def _checkpoint(self, row: Any) -> tuple[bytes, list[bytes]]:
        """A (size, raw) row of audit_checkpoints with the cosignatures stored for it."""
        raw = stored_bytes(row[1], self._db.path, f"the audit_checkpoints row of size {row[0]}")
        return raw, await self.cosignatures(int(row[0]))

    async def checkpoint_at(self, size: int) -> bytes | None:
        rows = await self._db.fetchall("SELECT raw FROM audit_checkpoints WHERE size = ?", (size,))
        return stored_bytes(rows[0][0], self._db.path, f"the audit_checkpoints row of size {size}") if rows else None

    async def cosignatures(self, size: int) -> list[bytes]:
        rows = await self._db.fetchall("SELECT raw FROM audit_cosignatures WHERE size = ? ORDER BY witness", (size,))
        return [stored_bytes(r[0], self._db.path, f"an audit_cosignatures row of size {size}") for r in rows]

    async def add_cosignature(self, size: int, witness: str, raw: bytes) -> None:
        def body(tx: Tx) -> None:
            tx.fetchall(
                "INSERT INTO audit_cosignatures (size, witness, raw) VALUES (?, ?, ?)"
                " ON CONFLICT (size, witness) DO UPDATE SET raw = excluded.raw",
                (size, witness, raw),
            )

        await self._db.transaction("cosignature write", body)

    async def witnessed(self, log_node: str) -> bytes | None:
        """The latest checkpoint of ``log_node`` this node cosigned (a SignedCheckpoint with that cosignature)."""
        rows = await self._db.fetchall("SELECT raw FROM witnessed WHERE log_node = ?", (log_node,))
        return stored_bytes(rows[0][0], self._db.path, "a witnessed row") if rows else None

    async def set_witnessed(self, log_node: str, size: int, raw: bytes, event: bytes, at_ms: int) -> None:
        def body(tx: Tx) -> None:
            tx.fetchall(
                "INSERT INTO witnessed (log_node, size, raw, at_ms) VALUES (?, ?, ?, ?) ON CONFLICT (log_node)"
                " DO UPDATE SET size = excluded.size, raw = excluded.raw, at_ms = excluded.at_ms"
                " WHERE excluded.size >= witnessed.size",
                (log_node, size, raw, at_ms),
            )
            tx.log(event)

        await self._db.transaction("witness write", body)

    async def add_alarm(self, log_node: str, raw: bytes, event: bytes, at_ms: int) -> None:
        def body(tx: Tx) -> None:
            tx.fetchall("INSERT INTO witness_alarms (log_node, raw, at_ms) VALUES (?, ?, ?)", (log_node, raw, at_ms))
            tx.log(event)

        await self._db.transaction("alarm write", body)

    async def alarms(self) -> list[bytes]:
        rows = await self._db.fetchall("SELECT id, raw FROM witness_alarms ORDER BY id")
        return [stored_bytes(raw, self._db.path, f"witness_alarms row {i}") for i, raw in rows]

    async def record_restore(self, log_node: str, raw: bytes, event: bytes, at_ms: int) -> None:
        def body(tx: Tx) -> None:
            tx.fetchall("INSERT INTO witness_restores (log_node, raw, at_ms) VALUES (?, ?, ?)", (log_node, raw, at_ms))
            tx.fetchall("DELETE FROM witnessed WHERE log_node = ?", (log_node,))
            tx.log(event)

        await self._db.transaction("restore record", body)

    async def restores(self) -> list[bytes]:
        return [bytes(r[0]) for r in await self._db.fetchall("SELECT raw FROM witness_restores ORDER BY id")]

    async def read(self, fn: Callable[[AuditView], T]) -> T:
        """Run ``fn`` on a read-only view of the log (proofs, verification) in a worker thread.

        The view sees only committed leaves; its size is the committed size when it runs.
        """
        return await self._db.read_log(fn)
