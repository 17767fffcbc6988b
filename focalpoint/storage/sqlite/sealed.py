"""Sealed files in SQLite (docs/adr/0020): the files imported (the replay table), the files
written (one number per peer) and the delivery results owed to file-only partners."""

from __future__ import annotations

from collections.abc import Sequence

from focalpoint.errors import Conflict
from focalpoint.storage.base import SealedExport, SealedImport, SealedOwed
from focalpoint.storage.sqlite.db import Database, Tx
from focalpoint.storage.sqlite.rows import stored_bytes

__all__ = ["SqliteSealed"]


class SqliteSealed:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def imported(self, sender: str, file_id: bytes, sequence: int) -> SealedImport | None:
        rows = await self._db.fetchall(
            "SELECT sender, file_id, sequence, imported_at_ms FROM sealed_imports"
            " WHERE sender = ? AND (file_id = ? OR sequence = ?) ORDER BY imported_at_ms LIMIT 1",
            (sender, file_id, sequence),
        )
        return SealedImport(rows[0][0], bytes(rows[0][1]), int(rows[0][2]), int(rows[0][3])) if rows else None

    async def record_import(self, row: SealedImport, owed: Sequence[SealedOwed], leaf: bytes) -> bool:
        def body(tx: Tx) -> bool:
            inserted = tx.fetchall(
                "INSERT INTO sealed_imports (sender, file_id, sequence, imported_at_ms) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING RETURNING 1",
                (row.sender, row.file_id, row.sequence, row.imported_at_ms),
            )
            if not inserted:
                return False
            for o in owed:
                tx.fetchall(
                    "INSERT INTO sealed_owed (peer, message_id, result, expires_at_ms, at_ms) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (peer, message_id) DO UPDATE SET result = excluded.result,"
                    " expires_at_ms = excluded.expires_at_ms, at_ms = excluded.at_ms",
                    (o.peer, o.message_id, o.result, o.expires_at_ms, row.imported_at_ms),
                )
            tx.log(leaf)
            return True

        return await self._db.transaction("sealed file import", body)

    async def last_export(self, peer: str) -> int:
        rows = await self._db.fetchall("SELECT MAX(sequence) FROM sealed_exports WHERE peer = ?", (peer,))
        return int(rows[0][0] or 0)

    async def record_export(self, row: SealedExport, leaf: bytes, now_ms: int) -> None:
        def body(tx: Tx) -> None:
            if tx.fetchall("SELECT 1 FROM sealed_exports WHERE peer = ? AND sequence = ?", (row.peer, row.sequence)):
                raise Conflict(f"sealed file number {row.sequence} to {row.peer} was written meanwhile; export again")
            tx.fetchall(
                "INSERT INTO sealed_exports (peer, sequence, file_id, created_at_ms, envelopes, receipts)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (row.peer, row.sequence, row.file_id, row.created_at_ms, row.envelopes, row.receipts),
            )
            tx.fetchall("DELETE FROM sealed_owed WHERE expires_at_ms < ?", (now_ms,))
            tx.log(leaf)

        await self._db.transaction("sealed file export", body)

    async def owed(self, peer: str, now_ms: int) -> list[SealedOwed]:
        rows = await self._db.fetchall(
            "SELECT message_id, result, expires_at_ms FROM sealed_owed WHERE peer = ? AND expires_at_ms >= ?"
            " ORDER BY at_ms, message_id",
            (peer, now_ms),
        )
        where = f"a sealed_owed row of {peer!r}"
        return [SealedOwed(peer, bytes(r[0]), stored_bytes(r[1], self._db.path, where), int(r[2])) for r in rows]
