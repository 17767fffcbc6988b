"""Directory documents in SQLite: every version this node accepted (so old signatures stay
checkable), and the last verified bundle, which the node reloads when its source is down."""

from __future__ import annotations

from collections.abc import Sequence

from focalpoint.audit import events as audit_events
from focalpoint.storage.sqlite.db import Database, Tx
from focalpoint.storage.sqlite.rows import stored_bytes

__all__ = ["SqliteDirectoryDocuments"]


class SqliteDirectoryDocuments:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, documents: Sequence[tuple[str, str, int, bytes]], at_ms: int) -> None:
        """(kind, name, version, raw) rows, in one transaction with their DIRECTORY_ACCEPTED events."""
        if not documents:
            return
        values = ", ".join(["(?, ?, ?, ?, ?)"] * len(documents))
        raw_of = {(kind, name, version): raw for kind, name, version, raw in documents}

        def body(tx: Tx) -> None:
            inserted = tx.fetchall(
                "INSERT INTO directory_documents (kind, name, version, raw, accepted_at_ms)"
                f" VALUES {values} ON CONFLICT (kind, name, version) DO NOTHING RETURNING kind, name, version",
                [x for kind, name, version, raw in documents for x in (kind, name, version, raw, at_ms)],
            )
            for kind, name, version in sorted(inserted):
                raw = raw_of[(kind, name, int(version))]
                tx.log(audit_events.directory_accepted(at_ms=at_ms, kind=kind, name=name, version=version, raw=raw))

        await self._db.transaction("directory write", body)

    async def load(self) -> tuple[list[bytes], dict[tuple[str, str], int], bytes | None]:
        """Accepted roots (oldest first), the highest accepted version per document, the last bundle."""
        roots = [
            stored_bytes(r[1], self._db.path, f"the directory_documents row of root {r[0]!r}")
            for r in await self._db.fetchall(
                "SELECT version, raw FROM directory_documents WHERE kind = 'root' ORDER BY version"
            )
        ]
        accepted = {
            (r[0], r[1]): int(r[2])
            for r in await self._db.fetchall(
                "SELECT kind, name, MAX(version) FROM directory_documents WHERE kind != 'bundle' GROUP BY kind, name"
            )
        }
        bundle = await self._db.fetchall(
            "SELECT raw FROM directory_documents WHERE kind = 'bundle' ORDER BY version DESC LIMIT 1"
        )
        last = stored_bytes(bundle[0][0], self._db.path, "the stored directory bundle") if bundle else None
        return roots, accepted, last

    async def document(self, kind: str, name: str, version: int) -> bytes | None:
        rows = await self._db.fetchall(
            "SELECT raw FROM directory_documents WHERE kind = ? AND name = ? AND version = ?", (kind, name, version)
        )
        where = f"the directory_documents row of {kind} {name!r} version {version}"
        return stored_bytes(rows[0][0], self._db.path, where) if rows else None
