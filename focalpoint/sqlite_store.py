"""The SQLite implementation of ``focalpoint.store.Store`` (aiosqlite, WAL, synchronous=FULL).

Every write is one transaction that also appends the audit events it records
(``focalpoint.audit_events``): a message is durable in the outbox, with its SENT event,
before the user hears "accepted", and in the inbox, with its DELIVERED event, before the
sender gets a receipt naming that event's log index. Nothing is logged that did not
happen and nothing happens unlogged. Batched calls share one commit (group commit).

One writer connection runs the transactions, each as a single job on its thread; a second,
read-only connection serves reads, so a reader never sees a transaction that might still
roll back. A transaction runs to its end even if its caller is cancelled (``asyncio.shield``),
so the in-memory tail of the audit tree always matches what was committed.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

from focalpoint.audit import events as audit_events
from focalpoint.audit import tree as audit_tree
from focalpoint.audit_log import SCHEMA as AUDIT_SCHEMA
from focalpoint.audit_log import AuditLog, load_tail
from focalpoint.audit_store import AuditTables, Tx
from focalpoint.errors import StorageError
from focalpoint.store import (
    Delivered,
    DeliveryState,
    InboxOutcome,
    InboxRow,
    NewInbox,
    NewOutbox,
    OutboxRow,
    ReceiptSigner,
)
from focalpoint.v1 import envelope_pb2

__all__ = ["SqliteStore"]

SCHEMA_VERSION = 2
T = TypeVar("T")

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
    delivered_at_ms INTEGER,
    case_ref TEXT NOT NULL DEFAULT '',
    message_kind TEXT NOT NULL DEFAULT ''
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
    case_ref TEXT NOT NULL DEFAULT '',
    message_kind TEXT NOT NULL DEFAULT '',
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
-- The audit log (focalpoint.audit_log) lives in the same file, so events commit with their rows.
-- Which leaves concern which case (derived from the leaves; not part of what is verified).
CREATE TABLE IF NOT EXISTS audit_cases (
    case_ref TEXT NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (case_ref, idx)
) WITHOUT ROWID;
-- This node's signed checkpoints (without cosignatures) and the cosignatures witnesses returned.
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    size INTEGER PRIMARY KEY, raw BLOB NOT NULL, issued_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_cosignatures (
    size INTEGER NOT NULL, witness TEXT NOT NULL, raw BLOB NOT NULL, PRIMARY KEY (size, witness)
);
-- As a witness: the latest checkpoint of each partner's log this node cosigned (with its cosignature).
CREATE TABLE IF NOT EXISTS witnessed (
    log_node TEXT PRIMARY KEY, size INTEGER NOT NULL, raw BLOB NOT NULL, at_ms INTEGER NOT NULL
);
-- Conflicting checkpoints found while witnessing (ConflictEvidence), kept for good.
CREATE TABLE IF NOT EXISTS witness_alarms (
    id INTEGER PRIMARY KEY AUTOINCREMENT, log_node TEXT NOT NULL, raw BLOB NOT NULL, at_ms INTEGER NOT NULL
);
"""
_INDEXES = """
CREATE INDEX IF NOT EXISTS outbox_case ON outbox (case_ref);
CREATE INDEX IF NOT EXISTS inbox_case ON inbox (case_ref);
"""
# Schema 1 (issue 2/3 builds) lacked the case columns; the audit tables are created above.
_MIGRATE_1_TO_2 = """
ALTER TABLE outbox ADD COLUMN case_ref TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN message_kind TEXT NOT NULL DEFAULT '';
ALTER TABLE inbox ADD COLUMN case_ref TEXT NOT NULL DEFAULT '';
ALTER TABLE inbox ADD COLUMN message_kind TEXT NOT NULL DEFAULT '';
"""

_OUTBOX_COLS = (
    "seq, message_id, recipient, peer_sequence, envelope, digest, local_copy, created_at_ms, "
    "expires_at_ms, state, attempts, next_attempt_ms, last_error, receipt, delivered_at_ms, case_ref"
)
_INBOX_COLS = "seq, sender, message_id, envelope, digest, local_copy, received_at_ms, receipt, case_ref"


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
        case_ref=row[15],
    )


def _inbox(row: Any) -> InboxRow:
    return InboxRow(*row)


class SqliteStore(AuditTables):
    """Open with ``await SqliteStore.open(path)``; one instance per database file."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self._path = path
        self._reader: aiosqlite.Connection | None = None
        self._tail = audit_tree.Tail(0, {})
        self._audit: AuditLog | None = None
        self._audit_lock = threading.Lock()

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
            store._reader = await aiosqlite.connect(path, isolation_level=None)
            await store._reader.execute("PRAGMA query_only=ON")
            await store._reader.execute("PRAGMA busy_timeout=5000")
            await store._load_tail()
        except sqlite3.DatabaseError as e:
            await store.close()
            raise StorageError(f"{path}: not a usable focalpoint database: {e}") from e
        except StorageError:
            await store.close()
            raise
        return store

    async def _init(self) -> None:
        if not callable(getattr(self._db, "_execute", None)):
            raise StorageError(
                f"aiosqlite {aiosqlite.__version__} lacks Connection._execute; install the pinned version"
            )
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
        await db.executescript(_SCHEMA + AUDIT_SCHEMA)
        async with db.execute("SELECT value FROM meta WHERE key='schema_version'") as cur:
            row = await cur.fetchone()
        if row is None:
            await db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) == 1:
            await db.executescript(
                f"BEGIN IMMEDIATE; {_MIGRATE_1_TO_2} UPDATE meta SET value = '2' WHERE key = 'schema_version'; COMMIT;"
            )
        elif int(row[0]) != SCHEMA_VERSION:
            raise StorageError(f"{self._path}: database schema version {row[0]}, this node expects {SCHEMA_VERSION}")
        await db.executescript(_INDEXES)

    async def _load_tail(self) -> None:
        self._tail = await self._in_writer(load_tail, self._db._conn, self._path)

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
        await self._db.close()
        if self._audit is not None:
            self._audit.close()

    @property
    def path(self) -> Path:
        return self._path

    async def _transaction(self, what: str, body: Callable[[Tx], T]) -> T:
        """Run ``body`` and its audit events as one transaction: a single job on the writer
        connection's thread (one hop, one fsync), which runs to its end even if the caller is
        cancelled, so the tail of the audit tree always matches what was committed."""
        return await asyncio.shield(self._in_writer(self._run, what, body))

    async def _in_writer(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` as one job on the writer connection's thread. aiosqlite runs every call
        that way; ``_execute`` is the (private, stable since 0.17) method all of them use, checked
        at open and pinned in pyproject.toml."""
        return cast(T, await self._db._execute(fn, *args))  # type: ignore[no-untyped-call]

    def _run(self, what: str, body: Callable[[Tx], T]) -> T:
        """In the writer thread. Jobs run one at a time there, so no lock is needed."""
        conn = self._db._conn
        tx = Tx(conn, self._tail)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = body(tx)
                tx.flush()
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except BaseException as e:
            self._tail = load_tail(conn, self._path)  # whatever happened, the tail is what the file says
            if isinstance(e, sqlite3.Error):
                raise StorageError(f"{self._path}: {what} failed: {e}") from e
            raise
        self._tail = tx.tail
        return result

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        assert self._reader is not None, "store is not open"
        try:
            async with self._reader.execute(sql, params) as cur:
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
        values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(rows))
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
                r.case_ref,
                r.message_kind,
            ]

        def body(tx: Tx) -> list[bytes]:
            inserted = tx.fetchall(
                "INSERT INTO outbox (message_id, client_request_id, recipient, peer_sequence, envelope, digest,"
                " local_copy, created_at_ms, expires_at_ms, state, next_attempt_ms, case_ref, message_kind)"
                f" VALUES {values} ON CONFLICT (client_request_id) DO NOTHING RETURNING message_id",
                params,
            )
            done = {bytes(row[0]) for row in inserted}
            ids: list[bytes] = []
            for r in rows:
                if r.message_id in done:
                    tx.log(
                        audit_events.sent(
                            at_ms=r.created_at_ms,
                            recipient=r.recipient,
                            message_id=r.message_id,
                            digest=r.digest,
                            case_ref=r.case_ref,
                            kind=r.message_kind,
                            sequence=r.peer_sequence,
                        ),
                        r.case_ref,
                    )
                    ids.append(r.message_id)
                    continue
                # Not inserted: an earlier submit used this client_request_id; answer with its message.
                existing = tx.fetchall(
                    "SELECT message_id FROM outbox WHERE client_request_id = ?", (r.client_request_id or "",)
                )
                if not existing:
                    raise StorageError(f"{self._path}: outbox insert ignored but no earlier row exists")
                ids.append(bytes(existing[0][0]))
            return ids

        return await self._transaction("outbox write", body)

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

    async def mark_delivered(self, done: Sequence[Delivered]) -> None:
        if not done:
            return
        values = ", ".join(["(?, ?, ?)"] * len(done))
        by_id = {d.message_id: d for d in done}

        def body(tx: Tx) -> None:
            closed = tx.fetchall(
                "UPDATE outbox SET state = ?, receipt = v.column2, delivered_at_ms = v.column3, last_error = ''"
                f" FROM (VALUES {values}) AS v WHERE outbox.message_id = v.column1 AND outbox.state = ?"
                " RETURNING message_id, recipient, digest, case_ref",
                [
                    int(DeliveryState.DELIVERED),
                    *(x for d in done for x in (d.message_id, d.receipt, d.delivered_at_ms)),
                    int(DeliveryState.QUEUED),
                ],
            )
            for message_id, recipient, digest, case_ref in sorted(closed, key=lambda r: bytes(r[0])):
                d = by_id[bytes(message_id)]
                tx.log(
                    audit_events.receipted(
                        at_ms=d.delivered_at_ms,
                        recipient=recipient,
                        message_id=d.message_id,
                        digest=bytes(digest),
                        case_ref=case_ref,
                        receipt=d.receipt,
                        peer_log_index=d.peer_log_index,
                    ),
                    case_ref,
                )

        await self._transaction("outbox close", body)

    async def mark_final(
        self,
        message_id: bytes,
        state: DeliveryState,
        error: str,
        code: envelope_pb2.RefusalCode.ValueType,
        at_ms: int,
    ) -> None:
        def body(tx: Tx) -> None:
            closed = tx.fetchall(
                "UPDATE outbox SET state = ?, last_error = ?, attempts = attempts + 1 WHERE message_id = ?"
                " AND state = ? RETURNING recipient, digest, case_ref",
                (int(state), error, message_id, int(DeliveryState.QUEUED)),
            )
            for recipient, digest, case_ref in closed:
                event = audit_events.refused_by_peer(
                    at_ms=at_ms,
                    recipient=recipient,
                    message_id=message_id,
                    digest=bytes(digest),
                    case_ref=case_ref,
                    code=code,
                )
                tx.log(event, case_ref)

        await self._transaction("outbox close", body)

    async def schedule_retry(self, items: Sequence[tuple[bytes, int, str]]) -> None:
        if not items:
            return
        values = ", ".join(["(?, ?, ?)"] * len(items))

        def body(tx: Tx) -> None:
            tx.fetchall(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = v.column2, last_error = v.column3"
                f" FROM (VALUES {values}) AS v WHERE outbox.message_id = v.column1 AND outbox.state = ?",
                [*(x for item in items for x in item), int(DeliveryState.QUEUED)],
            )

        await self._transaction("outbox retry", body)

    async def expire_outbox(self, now_ms: int) -> list[bytes]:
        def body(tx: Tx) -> list[bytes]:
            rows = tx.fetchall(
                "UPDATE outbox SET state = ?, last_error = ? WHERE state = ? AND expires_at_ms <= ?"
                " RETURNING message_id, recipient, digest, case_ref",
                (
                    int(DeliveryState.EXPIRED),
                    "expired before the recipient confirmed delivery",
                    int(DeliveryState.QUEUED),
                    now_ms,
                ),
            )
            for message_id, recipient, digest, case_ref in sorted(rows, key=lambda r: bytes(r[0])):
                tx.log(
                    audit_events.expired(
                        at_ms=now_ms,
                        recipient=recipient,
                        message_id=bytes(message_id),
                        digest=bytes(digest),
                        case_ref=case_ref,
                    ),
                    case_ref,
                )
            return [bytes(r[0]) for r in rows]

        return await self._transaction("outbox expiry", body)

    async def get_outbox(self, message_id: bytes) -> OutboxRow | None:
        rows = await self._fetchall(f"SELECT {_OUTBOX_COLS} FROM outbox WHERE message_id = ?", (message_id,))
        return _outbox(rows[0]) if rows else None

    async def list_outbox(self, limit: int, before: int) -> list[OutboxRow]:
        rows = await self._fetchall(
            f"SELECT {_OUTBOX_COLS} FROM outbox WHERE seq < ? ORDER BY seq DESC LIMIT ?",
            (before or (1 << 62), limit),
        )
        return [_outbox(r) for r in rows]

    async def case_outbox(self, case_ref: str) -> list[OutboxRow]:
        rows = await self._fetchall(f"SELECT {_OUTBOX_COLS} FROM outbox WHERE case_ref = ? ORDER BY seq", (case_ref,))
        return [_outbox(r) for r in rows]

    # --- inbox --------------------------------------------------------------------

    async def add_inbox(self, rows: Sequence[NewInbox], sign: ReceiptSigner) -> list[InboxOutcome]:
        """Steps 14–16 in one transaction: replay check, DELIVERED events, receipts naming them."""
        if not rows:
            return []

        def body(tx: Tx) -> list[InboxOutcome]:
            keys = ", ".join(["(?, ?)"] * len(rows))
            found = tx.fetchall(
                f"SELECT sender, message_id, digest, receipt FROM inbox WHERE (sender, message_id) IN ({keys})",
                [x for r in rows for x in (r.sender, r.message_id)],
            )
            stored = {(s, bytes(m)): (bytes(d), bytes(rc)) for s, m, d, rc in found}
            fresh: list[tuple[NewInbox, int]] = []
            for r in rows:
                key = (r.sender, r.message_id)
                if key in stored:
                    continue
                stored[key] = (r.digest, b"")  # a second copy in the same call is a duplicate of this one
                index = tx.log(
                    audit_events.delivered(
                        at_ms=r.received_at_ms,
                        sender=r.sender,
                        message_id=r.message_id,
                        digest=r.digest,
                        case_ref=r.case_ref,
                        kind=r.message_kind,
                        sequence=r.sequence,
                    ),
                    r.case_ref,
                )
                fresh.append((r, index))
            receipts = list(sign(fresh)) if fresh else []
            if len(receipts) != len(fresh):
                raise StorageError(f"{self._path}: the receipt signer returned {len(receipts)} for {len(fresh)}")
            made: dict[tuple[str, bytes], bytes] = {}
            if fresh:
                values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(fresh))
                params: list[Any] = []
                for (r, _), receipt in zip(fresh, receipts, strict=True):
                    made[(r.sender, r.message_id)] = receipt
                    params += [
                        r.sender,
                        r.message_id,
                        r.envelope,
                        r.digest,
                        r.local_copy,
                        r.received_at_ms,
                        r.expires_at_ms,
                        receipt,
                        r.case_ref,
                        r.message_kind,
                    ]
                tx.fetchall(
                    "INSERT INTO inbox (sender, message_id, envelope, digest, local_copy, received_at_ms,"
                    f" expires_at_ms, receipt, case_ref, message_kind) VALUES {values}",
                    params,
                )
            outcomes: list[InboxOutcome] = []
            seen: set[tuple[str, bytes]] = set()
            for r in rows:
                key = (r.sender, r.message_id)
                digest, receipt = stored[key]
                if key in made and key not in seen:
                    seen.add(key)
                    outcomes.append(InboxOutcome(made[key], duplicate=False, conflict=False))
                    continue
                receipt = receipt or made[key]
                same = digest == r.digest
                outcomes.append(InboxOutcome(receipt, duplicate=same, conflict=not same))
            return outcomes

        return await self._transaction("inbox write", body)

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

    async def case_inbox(self, case_ref: str) -> list[InboxRow]:
        rows = await self._fetchall(f"SELECT {_INBOX_COLS} FROM inbox WHERE case_ref = ? ORDER BY seq", (case_ref,))
        return [_inbox(r) for r in rows]

    async def count_inbox(self) -> int:
        rows = await self._fetchall("SELECT COUNT(*) FROM inbox")
        return int(rows[0][0])

    # --- directory ----------------------------------------------------------------------

    async def save_directory(self, documents: Sequence[tuple[str, str, int, bytes]], at_ms: int) -> None:
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

        await self._transaction("directory write", body)

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
