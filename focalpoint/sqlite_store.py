"""The SQLite implementation of ``focalpoint.store.Store`` (aiosqlite, WAL, synchronous=FULL).

Every write is one SQL statement, so one transaction, committed before the caller
proceeds (one hop to the database thread, not three): a message is
durable in the outbox before the user hears "accepted", and in the inbox before
the sender gets a receipt. Batched calls share one commit (group commit).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from focalpoint.errors import StorageError
from focalpoint.store import DeliveryState, InboxOutcome, InboxRow, NewInbox, NewOutbox, OutboxRow

__all__ = ["SqliteStore"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
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
    delivered_at_ms INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, recipient, next_attempt_ms);
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sender TEXT NOT NULL,
    message_id BLOB NOT NULL,
    envelope BLOB NOT NULL,
    digest BLOB NOT NULL,
    local_copy BLOB NOT NULL,
    received_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    receipt BLOB NOT NULL,
    UNIQUE (sender, message_id)
);
CREATE INDEX IF NOT EXISTS inbox_message ON inbox (message_id);
-- Every directory document version this node accepted (kept so old signatures stay checkable),
-- plus the last verified bundle (kind 'bundle'), which the node reloads when its source is down.
CREATE TABLE IF NOT EXISTS directory_documents (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    raw BLOB NOT NULL,
    accepted_at_ms INTEGER NOT NULL,
    PRIMARY KEY (kind, name, version)
);
CREATE TRIGGER IF NOT EXISTS directory_keep_last_bundle AFTER INSERT ON directory_documents
WHEN NEW.kind = 'bundle'
BEGIN
    DELETE FROM directory_documents WHERE kind = 'bundle' AND version < NEW.version;
END;
"""

_OUTBOX_COLS = (
    "seq, message_id, recipient, peer_sequence, envelope, digest, local_copy, created_at_ms, "
    "expires_at_ms, state, attempts, next_attempt_ms, last_error, receipt, delivered_at_ms"
)
_INBOX_COLS = "seq, sender, message_id, envelope, digest, local_copy, received_at_ms, receipt"


def _outbox(row: Any) -> OutboxRow:
    return OutboxRow(
        seq=row[0],
        message_id=row[1],
        recipient=row[2],
        peer_sequence=row[3],
        envelope=row[4],
        digest=row[5],
        local_copy=row[6],
        created_at_ms=row[7],
        expires_at_ms=row[8],
        state=DeliveryState(row[9]),
        attempts=row[10],
        next_attempt_ms=row[11],
        last_error=row[12],
        receipt=row[13],
        delivered_at_ms=row[14],
    )


def _inbox(row: Any) -> InboxRow:
    return InboxRow(*row)


class SqliteStore:
    """Open with ``await SqliteStore.open(path)``; one instance per database file."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self._path = path

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        """Open or create the database. Raises StorageError naming the file on failure."""
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Owner-only from the first byte: the WAL and shm files inherit the database's mode.
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            os.chmod(path, 0o600)
            db = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as e:
            raise StorageError(f"{path}: cannot open database: {e}") from e
        store = cls(db, path)
        try:
            await store._init()
        except sqlite3.DatabaseError as e:
            await db.close()
            raise StorageError(f"{path}: not a usable focalpoint database: {e}") from e
        except StorageError:
            await db.close()
            raise
        return store

    async def _init(self) -> None:
        if sqlite3.sqlite_version_info < (3, 35):
            raise StorageError(
                f"{self._path}: SQLite {sqlite3.sqlite_version} is too old; focalpoint needs 3.35 or later (RETURNING)"
            )
        db = self._db
        await db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit survives power loss, not only a process crash (DESIGN.md §5).
        await db.execute("PRAGMA synchronous=FULL")
        await db.execute("PRAGMA foreign_keys=ON")
        await db.execute("PRAGMA busy_timeout=5000")
        await db.executescript(_SCHEMA)
        async with db.execute("SELECT value FROM meta WHERE key='schema_version'") as cur:
            row = await cur.fetchone()
        if row is None:
            await db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) != SCHEMA_VERSION:
            raise StorageError(f"{self._path}: database schema version {row[0]}, this node expects {SCHEMA_VERSION}")

    async def close(self) -> None:
        await self._db.close()

    async def _write(self, sql: str, params: Sequence[Any], what: str) -> list[Any]:
        """Run one statement as its own transaction (autocommit): one hop to the database thread.

        With synchronous=FULL the commit is on disk before this returns; a multi-row statement
        is atomic, so a batch is all-or-nothing.
        """
        try:
            return list(await self._db.execute_fetchall(sql, params))
        except sqlite3.Error as e:
            raise StorageError(f"{self._path}: {what} failed: {e}") from e

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            async with self._db.execute(sql, params) as cur:
                return list(await cur.fetchall())
        except sqlite3.Error as e:
            raise StorageError(f"{self._path}: read failed: {e}") from e

    # --- outbox -------------------------------------------------------------------

    async def last_peer_sequences(self) -> dict[str, int]:
        rows = await self._fetchall("SELECT recipient, MAX(peer_sequence) FROM outbox GROUP BY recipient")
        return {r[0]: r[1] for r in rows}

    async def add_outbox(self, rows: Sequence[NewOutbox]) -> list[bytes]:
        if not rows:
            return []
        values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(rows))
        params: list[Any] = []
        for r in rows:
            params += [
                r.message_id,
                r.client_request_id,
                r.recipient,
                r.peer_sequence,
                r.envelope,
                r.digest,
                r.local_copy,
                r.created_at_ms,
                r.expires_at_ms,
                int(DeliveryState.QUEUED),
                r.created_at_ms,
            ]
        inserted = await self._write(
            "INSERT INTO outbox (message_id, client_request_id, recipient, peer_sequence, envelope, digest,"
            " local_copy, created_at_ms, expires_at_ms, state, next_attempt_ms)"
            f" VALUES {values} ON CONFLICT (client_request_id) DO NOTHING RETURNING message_id",
            params,
            "outbox write",
        )
        done = {bytes(row[0]) for row in inserted}
        ids: list[bytes] = []
        for r in rows:
            if r.message_id in done:
                ids.append(r.message_id)
                continue
            # Not inserted: an earlier submit used this client_request_id; answer with its message.
            existing = await self.outbox_by_client_request(r.client_request_id or "")
            if existing is None:
                raise StorageError(f"{self._path}: outbox insert ignored but no earlier row exists")
            ids.append(existing.message_id)
        return ids

    async def outbox_by_client_request(self, client_request_id: str) -> OutboxRow | None:
        rows = await self._fetchall(
            f"SELECT {_OUTBOX_COLS} FROM outbox WHERE client_request_id = ?", (client_request_id,)
        )
        return _outbox(rows[0]) if rows else None

    async def due_outbox(self, recipient: str, now_ms: int, limit: int, exclude: set[bytes]) -> list[OutboxRow]:
        rows = await self._fetchall(
            f"SELECT {_OUTBOX_COLS} FROM outbox WHERE state = ? AND recipient = ? AND next_attempt_ms <= ?"
            " AND expires_at_ms > ? ORDER BY seq LIMIT ?",
            (int(DeliveryState.QUEUED), recipient, now_ms, now_ms, limit + len(exclude)),
        )
        return [r for r in map(_outbox, rows) if r.message_id not in exclude][:limit]

    async def next_due_ms(self, recipient: str, exclude: set[bytes]) -> int | None:
        rows = await self._fetchall(
            "SELECT next_attempt_ms, message_id FROM outbox WHERE state = ? AND recipient = ?"
            " ORDER BY next_attempt_ms LIMIT ?",
            (int(DeliveryState.QUEUED), recipient, len(exclude) + 1),
        )
        return next((int(r[0]) for r in rows if bytes(r[1]) not in exclude), None)

    async def recipients_with_queued(self) -> list[str]:
        rows = await self._fetchall(
            "SELECT DISTINCT recipient FROM outbox WHERE state = ?", (int(DeliveryState.QUEUED),)
        )
        return [r[0] for r in rows]

    async def mark_delivered(self, done: Sequence[tuple[bytes, bytes, int]]) -> None:
        if not done:
            return
        values = ", ".join(["(?, ?, ?)"] * len(done))
        await self._write(
            "UPDATE outbox SET state = ?, receipt = v.column2, delivered_at_ms = v.column3, last_error = ''"
            f" FROM (VALUES {values}) AS v WHERE outbox.message_id = v.column1 AND outbox.state = ?",
            [int(DeliveryState.DELIVERED), *(x for item in done for x in item), int(DeliveryState.QUEUED)],
            "outbox close",
        )

    async def mark_final(self, message_id: bytes, state: DeliveryState, error: str) -> None:
        await self._write(
            "UPDATE outbox SET state = ?, last_error = ?, attempts = attempts + 1 WHERE message_id = ? AND state = ?",
            (int(state), error, message_id, int(DeliveryState.QUEUED)),
            "outbox close",
        )

    async def schedule_retry(self, items: Sequence[tuple[bytes, int, str]]) -> None:
        if not items:
            return
        values = ", ".join(["(?, ?, ?)"] * len(items))
        await self._write(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = v.column2, last_error = v.column3"
            f" FROM (VALUES {values}) AS v WHERE outbox.message_id = v.column1 AND outbox.state = ?",
            [*(x for item in items for x in item), int(DeliveryState.QUEUED)],
            "outbox retry",
        )

    async def expire_outbox(self, now_ms: int) -> list[bytes]:
        rows = await self._write(
            "UPDATE outbox SET state = ?, last_error = ? WHERE state = ? AND expires_at_ms <= ? RETURNING message_id",
            (
                int(DeliveryState.EXPIRED),
                "expired before the recipient confirmed delivery",
                int(DeliveryState.QUEUED),
                now_ms,
            ),
            "outbox expiry",
        )
        return [bytes(r[0]) for r in rows]

    async def get_outbox(self, message_id: bytes) -> OutboxRow | None:
        rows = await self._fetchall(f"SELECT {_OUTBOX_COLS} FROM outbox WHERE message_id = ?", (message_id,))
        return _outbox(rows[0]) if rows else None

    async def list_outbox(self, limit: int, before: int) -> list[OutboxRow]:
        rows = await self._fetchall(
            f"SELECT {_OUTBOX_COLS} FROM outbox WHERE seq < ? ORDER BY seq DESC LIMIT ?",
            (before or (1 << 62), limit),
        )
        return [_outbox(r) for r in rows]

    # --- inbox --------------------------------------------------------------------

    async def add_inbox(self, rows: Sequence[NewInbox]) -> list[InboxOutcome]:
        if not rows:
            return []
        values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(rows))
        params: list[Any] = []
        for r in rows:
            params += [
                r.sender,
                r.message_id,
                r.envelope,
                r.digest,
                r.local_copy,
                r.received_at_ms,
                r.expires_at_ms,
                r.receipt,
            ]
        inserted = await self._write(
            "INSERT INTO inbox (sender, message_id, envelope, digest, local_copy, received_at_ms, expires_at_ms,"
            f" receipt) VALUES {values} ON CONFLICT (sender, message_id) DO NOTHING RETURNING sender, message_id",
            params,
            "inbox write",
        )
        fresh = {(row[0], bytes(row[1])) for row in inserted}
        outcomes: list[InboxOutcome] = []
        for r in rows:
            key = (r.sender, r.message_id)
            if key in fresh:
                fresh.discard(key)  # a second copy in the same batch is a duplicate of the first
                outcomes.append(InboxOutcome(r.receipt, duplicate=False, conflict=False))
                continue
            existing = await self.get_inbox(r.sender, r.message_id)
            if existing is None:
                raise StorageError(f"{self._path}: inbox insert ignored but no row exists")
            same = existing.digest == r.digest
            outcomes.append(InboxOutcome(existing.receipt, duplicate=same, conflict=not same))
        return outcomes

    async def get_inbox(self, sender: str, message_id: bytes) -> InboxRow | None:
        rows = await self._fetchall(
            f"SELECT {_INBOX_COLS} FROM inbox WHERE sender = ? AND message_id = ?", (sender, message_id)
        )
        return _inbox(rows[0]) if rows else None

    async def find_inbox(self, message_id: bytes) -> list[InboxRow]:
        rows = await self._fetchall(f"SELECT {_INBOX_COLS} FROM inbox WHERE message_id = ?", (message_id,))
        return [_inbox(r) for r in rows]

    async def list_inbox(self, limit: int, before: int) -> list[InboxRow]:
        rows = await self._fetchall(
            f"SELECT {_INBOX_COLS} FROM inbox WHERE seq < ? ORDER BY seq DESC LIMIT ?",
            (before or (1 << 62), limit),
        )
        return [_inbox(r) for r in rows]

    # --- directory ----------------------------------------------------------------------

    async def save_directory(self, documents: Sequence[tuple[str, str, int, bytes]], at_ms: int) -> None:
        """(kind, name, version, raw) rows, in one statement: all are kept or none is."""
        if not documents:
            return
        values = ", ".join(["(?, ?, ?, ?, ?)"] * len(documents))
        await self._write(
            "INSERT INTO directory_documents (kind, name, version, raw, accepted_at_ms)"
            f" VALUES {values} ON CONFLICT (kind, name, version) DO NOTHING",
            [x for kind, name, version, raw in documents for x in (kind, name, version, raw, at_ms)],
            "directory write",
        )

    async def load_directory(self) -> tuple[list[bytes], dict[tuple[str, str], int], bytes | None]:
        """Accepted roots (oldest first), the highest accepted version per document, the last bundle."""
        roots = [
            bytes(r[0])
            for r in await self._fetchall("SELECT raw FROM directory_documents WHERE kind = 'root' ORDER BY version")
        ]
        accepted = {
            (r[0], r[1]): int(r[2])
            for r in await self._fetchall(
                "SELECT kind, name, MAX(version) FROM directory_documents WHERE kind != 'bundle' GROUP BY kind, name"
            )
        }
        bundle = await self._fetchall(
            "SELECT raw FROM directory_documents WHERE kind = 'bundle' ORDER BY version DESC LIMIT 1"
        )
        return roots, accepted, bytes(bundle[0][0]) if bundle else None

    async def directory_document(self, kind: str, name: str, version: int) -> bytes | None:
        rows = await self._fetchall(
            "SELECT raw FROM directory_documents WHERE kind = ? AND name = ? AND version = ?", (kind, name, version)
        )
        return bytes(rows[0][0]) if rows else None

    async def count_inbox(self) -> int:
        rows = await self._fetchall("SELECT COUNT(*) FROM inbox")
        return int(rows[0][0])
