"""Backups of a node's database, and putting one back (docs/operations.md §8; docs/adr/0011).

``backup`` copies the database while the node runs, through SQLite's online backup API in one
step: one read transaction, so the copy is one consistent state of every table (outbox, inbox,
directory, audit log), never a mix. The copy is a single file (no write-ahead log), owner-only
(0600), and a file that already exists is never overwritten. The copy is then checked (SQLite's
integrity check and the audit log's own check) and what it holds is reported.

``restore`` puts a backup in place of a node's database while the node is stopped: the files it
replaces are moved aside (never deleted), the copy is marked *restore pending*, and the
high-water mark is started at the copy's log. The node declares the restore to its partners when
it next starts (``focalpoint.node.restore``): the events between the backup and the loss are gone,
and that is said, signed, not hidden.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from focalpoint.audit.verify import check_log
from focalpoint.errors import StorageError, UsageError
from focalpoint.storage.base import LOG_EPOCH, RESTORE_PENDING
from focalpoint.storage.sqlite.audit_log import AuditLog, root_of, stored_size
from focalpoint.storage.sqlite.hwm import HighWaterMark
from focalpoint.storage.sqlite.lock import DatabaseLock
from focalpoint.v1 import audit_pb2

__all__ = ["Copied", "Restored", "backup", "inspect", "restore"]


@dataclass(frozen=True, slots=True)
class Copied:
    """What a backup holds."""

    path: Path
    bytes: int
    events: int  # audit events
    log_ok: bool
    log_problem: str
    latest_checkpoint: int  # size of the newest checkpoint the copy holds (0: none)


@dataclass(frozen=True, slots=True)
class Restored:
    path: Path
    events: int
    lost_known: int  # the most events this node is known to have committed (0: unknown)
    moved_aside: Path | None  # where the replaced files went


def backup(db: Path, out: Path) -> Copied:
    """A consistent copy of ``db`` at ``out`` (new, 0600), taken while the node may run.

    Raises UsageError when ``out`` exists or ``db`` does not, StorageError when the copy fails
    (the partial file is removed). A copy whose audit log does not verify is kept (it may be the
    best there is) and reported as such."""
    if not db.is_file():
        raise UsageError(f"{db}: no database file here (check storage.database in the configuration)")
    try:
        os.close(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError as e:
        raise UsageError(f"{out} already exists; a backup never overwrites a file: give a new name") from e
    except OSError as e:
        raise UsageError(f"{out}: cannot create the backup file: {e.strerror}") from e
    try:
        _copy(db, out)
    except (OSError, sqlite3.Error) as e:
        out.unlink(missing_ok=True)
        raise StorageError(f"{db}: the backup failed and {out} was removed: {e}") from e
    return inspect(out)


def _copy(src_path: Path, dst_path: Path) -> None:
    """SQLite's online backup in one step (one read transaction: one consistent state), into a
    one-file database (no write-ahead log), flushed to disk with its directory entry."""
    src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True)
    try:
        src.execute("PRAGMA busy_timeout=5000")
        dst = sqlite3.connect(dst_path)
        try:
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE").fetchall()
        finally:
            dst.close()
    finally:
        src.close()
    os.chmod(dst_path, 0o600)
    _fsync(dst_path)
    _fsync(dst_path.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def inspect(path: Path) -> Copied:
    """What a backup file holds, checked; raises StorageError when it is not a node database."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        verdict = conn.execute("PRAGMA integrity_check(1)").fetchone()
        if verdict is None or verdict[0] != "ok":
            found = " ".join(str(verdict[0]).split())[:200] if verdict else "no answer"
            raise StorageError(f"{path}: the copy is damaged ({found})")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"meta", "outbox", "inbox", "audit_leaves"} <= tables:
            raise StorageError(f"{path}: not a focalpoint node database (its tables are missing)")
        latest = conn.execute("SELECT COALESCE(MAX(size), 0) FROM audit_checkpoints").fetchone()[0]
    except sqlite3.DatabaseError as e:
        raise StorageError(f"{path}: not a usable focalpoint database: {e}") from e
    finally:
        conn.close()
    log = AuditLog(path, readonly=True)
    try:
        report = check_log(log, directory=None)
    finally:
        log.close()
    return Copied(path, path.stat().st_size, report.size, report.ok, report.reason, int(latest))


def restore(source: Path, db: Path, *, node_id: str, now_ms: int) -> Restored:
    """Put the backup ``source`` in place of ``db`` (the node stopped) and mark it restore pending.

    Raises UsageError when ``source`` is not a sound backup of node ``node_id``, StorageError when
    the node runs or a file operation fails; nothing is replaced before every check passed."""
    if not source.is_file():
        raise UsageError(f"{source}: no such backup file")
    if source.resolve() == db.resolve():
        raise UsageError(f"{source} is the node's database itself; give a backup file")
    try:
        copied = inspect(source)
    except StorageError as e:
        raise UsageError(f"{source} cannot be restored: {e}") from e
    if not copied.log_ok:
        raise UsageError(f"{source} cannot be restored: its audit log does not verify: {copied.log_problem}")
    owner = _log_node(source)
    if owner not in ("", node_id):
        raise UsageError(f"{source} is a backup of node {owner!r}, not of {node_id!r}")
    db.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = DatabaseLock.acquire(db)
    try:
        replaced = _replaced(db)
        lost_known = max(_mark_size(db), replaced.events, replaced.lost_known)
        # Staged next to the database first: nothing is moved before the copy is whole on disk.
        staged = db.with_name(db.name + ".restoring")
        staged.unlink(missing_ok=True)
        try:
            os.close(os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            _copy(source, staged)
            pending = {
                "restored_at_ms": now_ms,
                "backup_sha256": _sha256(source),
                "lost_known_size": lost_known,
                "epoch_floor": replaced.epoch,
            }
            conn = sqlite3.connect(staged, isolation_level=None)
            try:
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    (RESTORE_PENDING, json.dumps(pending, sort_keys=True)),
                )
                size = stored_size(conn)
                root = root_of(conn, staged, size)
            finally:
                conn.close()
            _fsync(staged)
        except (OSError, sqlite3.Error) as e:
            staged.unlink(missing_ok=True)
            raise StorageError(f"{db}: the restore failed before anything was replaced: {e}") from e
        try:
            aside = _move_aside(db, now_ms)
            os.replace(staged, db)
            _fsync(db.parent)
        except OSError as e:
            raise StorageError(
                f"{db}: the restore failed while moving files ({e}); the replaced files are in"
                f" {db.name}.replaced-*, the backup's copy in {staged.name}: put them back by hand"
            ) from e
        mark = HighWaterMark.open(db.with_name(db.name + ".hwm"))
        try:
            mark.write(size, root)
        finally:
            mark.close()
    finally:
        lock.release()
    return Restored(db, size, lost_known, aside)


def _log_node(path: Path) -> str:
    """The node whose checkpoints a database holds ('' when it holds none)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT raw FROM audit_checkpoints ORDER BY size DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    if row is None:
        return ""
    signed = audit_pb2.SignedCheckpoint.FromString(bytes(row[0]))
    return audit_pb2.Checkpoint.FromString(signed.checkpoint).log_node


def _mark_size(db: Path) -> int:
    """Events the high-water mark says the replaced database had committed (0: none readable)."""
    path = db.with_name(db.name + ".hwm")
    if not path.exists():
        return 0
    try:
        mark = HighWaterMark.open(path)
        try:
            found = mark.read()
        finally:
            mark.close()
    except StorageError:
        return 0
    return 0 if found is None else found.size


@dataclass(frozen=True, slots=True)
class _Replaced:
    """What the database being replaced says, as far as it can be read (zeros otherwise)."""

    events: int = 0
    epoch: int = 0  # the highest epoch it reached (or was about to declare)
    lost_known: int = 0  # a restore it was itself marked with and never declared


def _replaced(db: Path) -> _Replaced:
    if not db.exists():
        return _Replaced()
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            events = stored_size(conn)
            meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN (?, ?)", (LOG_EPOCH, RESTORE_PENDING)))
        finally:
            conn.close()
    except sqlite3.Error:
        return _Replaced()
    epoch, lost = 0, 0
    try:
        epoch = int(meta.get(LOG_EPOCH) or 0)
        if meta.get(RESTORE_PENDING):  # restored before and never started: what that restore knew
            pending = json.loads(meta[RESTORE_PENDING])
            epoch = max(epoch, int(pending.get("epoch_floor", 0)))
            lost = int(pending.get("lost_known_size", 0))
    except (ValueError, TypeError, AttributeError):
        pass  # unreadable settings: what could be read counts
    return _Replaced(events, epoch, lost)


def _move_aside(db: Path, now_ms: int) -> Path | None:
    """Move the database's files into a new ``<db>.replaced-<UTC time>`` directory; None if there were none."""
    names = [db.name + suffix for suffix in ("", "-wal", "-shm", ".hwm")]
    present = [db.with_name(n) for n in names if db.with_name(n).exists()]
    if not present:
        return None
    stamp = dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    aside = db.with_name(f"{db.name}.replaced-{stamp}")
    aside.mkdir(mode=0o700)
    for path in present:
        shutil.move(path, aside / path.name)
    _fsync(db.parent)
    return aside


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
