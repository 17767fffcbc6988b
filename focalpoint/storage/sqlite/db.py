"""The node database's connections and transactions (SQLite ≥ 3.35, aiosqlite, WAL,
``synchronous=FULL``), shared by the store's aggregates.

One writer connection runs the transactions, each as a single job on its thread (one hop,
one fsync); a second, read-only connection serves reads, so a reader never sees a
transaction that might still roll back. A transaction runs to its end even if its caller
is cancelled (``asyncio.shield``), so the in-memory tail of the audit tree always matches
what was committed. The schema of every aggregate, and its migrations, are in ``schema``.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite
import structlog

from focalpoint.audit import tree as audit_tree
from focalpoint.errors import StorageError, StorageFull
from focalpoint.storage.sqlite.audit_log import AuditLog, load_tail, root_of, stored_size, write_leaves
from focalpoint.storage.sqlite.hwm import HighWaterMark
from focalpoint.storage.sqlite.lock import DatabaseLock
from focalpoint.storage.sqlite.rows import read_text, sqlite_error
from focalpoint.storage.sqlite.schema import SCHEMA_VERSION, prepare

__all__ = ["SCHEMA_VERSION", "Database", "Tx"]


def _disk_full(e: BaseException) -> bool:
    """SQLite's SQLITE_FULL, or the operating system's ENOSPC, anywhere in the chain."""
    while e is not None:
        if isinstance(e, sqlite3.Error) and (
            getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(e)
        ):
            return True
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            return True
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    return False


T = TypeVar("T")
log = structlog.get_logger("focalpoint.storage")


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

    def fetch_checked(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """As ``fetchall``, for rows the caller checks column by column (``rows.bad_column``): a
        stored text that is not UTF-8 comes back as ``rows.UNDECODABLE``, not as a failed statement."""
        factory = self.db.text_factory
        self.db.text_factory = read_text
        try:
            return self.db.execute(sql, params).fetchall()
        finally:
            self.db.text_factory = factory

    def flush(self) -> None:
        if not self.leaves:
            return
        tail = write_leaves(self.db, self.tail, self.leaves)
        if self.cases:
            self.db.executemany("INSERT INTO audit_cases (case_ref, idx) VALUES (?, ?)", self.cases)
        self.tail = tail


class Database:
    """Open with ``await Database.open(path)``; one instance per database file."""

    def __init__(self, writer: aiosqlite.Connection, path: Path) -> None:
        self._writer = writer
        self.path = path
        self._reader: aiosqlite.Connection | None = None
        self._tail = audit_tree.Tail(0, {})
        self._audit: AuditLog | None = None
        self._audit_lock = threading.Lock()
        self._hwm: HighWaterMark | None = None
        self._lock: DatabaseLock | None = None
        self._closed = False
        # When writes began failing for a full disk (wall clock, s), None while they succeed.
        self.full_since: float | None = None
        self.mark_behind_since: float | None = None

    @classmethod
    async def open(cls, path: Path) -> Database:
        """Open or create the database. Raises StorageError naming the file on failure."""
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise StorageError(f"{path}: cannot open database: {e}") from e
        lock = DatabaseLock.acquire(path)  # one process at a time, from here to close
        try:
            # Owner-only from the first byte: the WAL and shm files inherit the database's mode.
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            os.chmod(path, 0o600)
            writer = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as e:
            lock.release()
            raise StorageError(f"{path}: cannot open database: {e}") from e
        db = cls(writer, path)
        db._lock = lock
        try:
            fresh_mark = await db._in_writer(db._guard)
            await db._init()
            db._reader = await aiosqlite.connect(path, isolation_level=None)
            await db._reader.execute("PRAGMA query_only=ON")
            await db._reader.execute("PRAGMA busy_timeout=5000")
            db._tail = await db._in_writer(load_tail, db._writer._conn, path)
            if fresh_mark and db._hwm is not None:  # a new database, or one from before the mark existed
                db._hwm.write(db._tail.size, db._tail.root())
                log.info("high_water_mark_started", events=db._tail.size)
        except sqlite3.DatabaseError as e:
            await db.close()
            raise StorageError(f"{path}: not a usable focalpoint database: {e}") from e
        except StorageError:
            await db.close()
            raise
        return db

    async def _init(self) -> None:
        if not callable(getattr(self._writer, "_execute", None)):
            raise StorageError(
                f"aiosqlite {aiosqlite.__version__} lacks Connection._execute; install the pinned version"
            )
        if sqlite3.sqlite_version_info < (3, 35):
            raise StorageError(
                f"{self.path}: SQLite {sqlite3.sqlite_version} is too old; focalpoint needs 3.35 or later (RETURNING)"
            )
        db = self._writer
        await db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit survives power loss, not only a process crash (docs/architecture.md, principle P5).
        await db.execute("PRAGMA synchronous=FULL")
        await db.execute("PRAGMA foreign_keys=ON")
        await db.execute("PRAGMA busy_timeout=5000")
        found = await self._in_writer(self._prepare)
        if found is not None and found != SCHEMA_VERSION:
            log.info("database_migrated", from_version=found, to_version=SCHEMA_VERSION)

    def _prepare(self) -> int | None:
        """In the writer thread: create or migrate the schema in one transaction (``schema.prepare``)."""
        conn = self._writer._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = prepare(conn, self.path)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return found

    def _guard(self) -> bool:
        """In the writer thread, before anything is written: the file passes SQLite's quick check
        and holds at least what the high-water mark says this node committed. Returns True when
        there is no mark yet (it is started once the database is ready). Raises StorageError."""
        conn = self._writer._conn
        verdict = conn.execute("PRAGMA quick_check(1)").fetchone()
        if verdict is None or verdict[0] != "ok":
            found = " ".join(str(verdict[0]).split())[:200] if verdict else "no answer"
            raise StorageError(
                f"{self.path}: the database file is damaged ({found}); do not start"
                " on it: restore the latest backup (focalpoint node restore, docs/operations.md §8)"
            )
        self._hwm = HighWaterMark.open(self.path.with_name(self.path.name + ".hwm"))
        mark = self._hwm.read()
        if mark is None:
            return True
        if mark.size == 0:
            return False
        has_log = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'audit_leaves'").fetchone() is not None
        size = stored_size(conn) if has_log else 0
        if size < mark.size:
            raise StorageError(
                f"{self.path}: the database holds {size} audit events but this node had committed {mark.size}"
                f" ({self._hwm.path}): its write-ahead log ({self.path.name}-wal) or the database file was lost,"
                " truncated, damaged or replaced; do not start on it: restore the latest backup"
                " (focalpoint node restore, docs/operations.md §8)"
            )
        if root_of(conn, self.path, mark.size) != mark.root:
            raise StorageError(
                f"{self.path}: the database's first {mark.size} audit events are not the ones this node committed"
                f" ({self._hwm.path}): it is another node's database or a rewritten one; do not start on it:"
                " restore this node's latest backup (docs/operations.md §8)"
            )
        return False

    def _note_full(self, what: str) -> None:
        if self.full_since is None:  # once per episode: every later failure says the same
            self.full_since = time.time()
            log.error("disk_full", database=str(self.path), what=what, action="free space on the database's disk")

    def _settle(self) -> None:
        """In the writer thread, with no other connection open: copy the WAL into the file and
        leave a plain one-file database (a read-only look at it creates no -wal file); the next
        start turns write-ahead logging on again."""
        conn = self._writer._conn
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        conn.execute("PRAGMA journal_mode=DELETE").fetchall()

    async def close(self) -> None:
        """Close every connection, the writer last, after copying the write-ahead log into the
        database file: a cleanly stopped node's ``node.sqlite`` alone holds all its data. Closing
        again does nothing."""
        if self._closed:
            return
        self._closed = True
        if self._audit is not None:
            with self._audit_lock:
                self._audit.close()
                self._audit = None
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        try:
            await self._in_writer(self._settle)
        except sqlite3.Error as e:  # the data is safe in the WAL; say why the file alone is not enough
            log.warning("database_checkpoint_failed", error=str(e))
        finally:
            await self._writer.close()
            if self._hwm is not None:
                self._hwm.close()
                self._hwm = None
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    @property
    def audit_size(self) -> int:
        """Leaves committed to the audit log."""
        return self._tail.size

    async def transaction(self, what: str, body: Callable[[Tx], T]) -> T:
        """Run ``body`` and its audit events as one transaction: a single job on the writer
        connection's thread (one hop, one fsync), which runs to its end even if the caller is
        cancelled, so the tail of the audit tree always matches what was committed."""
        return await asyncio.shield(self._in_writer(self._run, what, body))

    async def _in_writer(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` as one job on the writer connection's thread. aiosqlite runs every call
        that way; ``_execute`` is the (private, stable since 0.17) method all of them use, checked
        at open and pinned in pyproject.toml."""
        return cast(T, await self._writer._execute(fn, *args))  # type: ignore[no-untyped-call]

    def _run(self, what: str, body: Callable[[Tx], T]) -> T:
        """In the writer thread. Jobs run one at a time there, so no lock is needed."""
        conn = self._writer._conn
        tx = Tx(conn, self._tail)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = body(tx)
                tx.flush()
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back already (e.g. on a full disk)
                    conn.execute("ROLLBACK")
                raise
        except BaseException as e:
            self._tail = load_tail(conn, self.path)  # whatever happened, the tail is what the file says
            if _disk_full(e):
                self._note_full(what)
                raise StorageFull(
                    f"the node's disk is full: {what} could not be stored in {self.path}; free space on that disk"
                    " (nothing already stored is lost, and the node resumes by itself)"
                ) from e
            if isinstance(e, sqlite3.Error):
                raise sqlite_error(self.path, what, e) from e
            raise
        if self.full_since is not None:
            log.info("disk_space_back", database=str(self.path))
            self.full_since = None
        grew = tx.tail.size != self._tail.size
        self._tail = tx.tail
        if grew and self._hwm is not None:
            try:
                self._hwm.write(tx.tail.size, tx.tail.root())
            except OSError as e:  # the commit stands; the mark lags (never leads) until the next one
                if self.mark_behind_since is None:
                    self.mark_behind_since = time.time()
                log.error("high_water_mark_failed", error=e.strerror)
            else:
                if self.mark_behind_since is not None:
                    log.info("high_water_mark_caught_up", events=tx.tail.size)
                self.mark_behind_since = None
        return result

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        assert self._reader is not None, "database is not open"
        try:
            async with self._reader.execute(sql, params) as cur:
                return list(await cur.fetchall())
        except sqlite3.Error as e:
            raise sqlite_error(self.path, "read", e) from e

    async def fetch_checked(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """As ``fetchall``, for rows the caller checks column by column (``rows.bad_column``):
        a stored text that is not UTF-8 comes back as ``rows.UNDECODABLE`` instead of failing
        the whole read."""
        reader = self._reader
        assert reader is not None, "database is not open"

        def run(conn: sqlite3.Connection) -> list[Any]:
            conn.text_factory = read_text
            try:
                return conn.execute(sql, params).fetchall()
            finally:
                conn.text_factory = str

        try:
            # One job on the reader's thread (as ``_in_writer``), so no other read sees the factory.
            return cast(list[Any], await reader._execute(run, reader._conn))  # type: ignore[no-untyped-call]
        except sqlite3.Error as e:
            raise sqlite_error(self.path, "read", e) from e

    async def read_log(self, fn: Callable[[AuditLog], T]) -> T:
        """Run ``fn`` on a read-only view of the log (proofs, verification) in a worker thread.

        The view is one snapshot (``AuditLog.snapshot``): its size is the committed size when
        ``fn`` starts, and every read ``fn`` makes sees that same state, whatever the node
        commits meanwhile. Raises StorageError (DamagedData for a damaged file).
        """

        def run() -> T:
            with self._audit_lock:
                if self._audit is None:
                    self._audit = AuditLog(self.path, readonly=True)
                with self._audit.snapshot():
                    return fn(self._audit)

        return await asyncio.to_thread(run)
