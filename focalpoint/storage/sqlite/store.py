"""The SQLite implementation of ``focalpoint.storage.base.Store``: one database file holds
the outbox, the inbox, the directory documents, the audit log, the case links and the users'
accounts, so every write commits with the audit events it records (one transaction, one fsync;
``db.Database``).
"""

from __future__ import annotations

from pathlib import Path

from focalpoint.storage.sqlite.accounts import SqliteAccounts
from focalpoint.storage.sqlite.audit import SqliteAudit
from focalpoint.storage.sqlite.cases import SqliteCases
from focalpoint.storage.sqlite.db import Database
from focalpoint.storage.sqlite.directory import SqliteDirectoryDocuments
from focalpoint.storage.sqlite.inbox import SqliteInbox
from focalpoint.storage.sqlite.notifications import SqliteNotifications
from focalpoint.storage.sqlite.outbox import SqliteOutbox
from focalpoint.storage.sqlite.sealed import SqliteSealed

__all__ = ["SqliteStore"]


class SqliteStore:
    """Open with ``await SqliteStore.open(path)``; one instance per database file."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._outbox = SqliteOutbox(db)
        self._inbox = SqliteInbox(db)
        self._directory = SqliteDirectoryDocuments(db)
        self._audit = SqliteAudit(db)
        self._cases = SqliteCases(db)
        self._accounts = SqliteAccounts(db)
        self._notifications = SqliteNotifications(db)
        self._sealed = SqliteSealed(db)

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        """Open or create the database. Raises StorageError naming the file on failure."""
        return cls(await Database.open(path))

    @property
    def path(self) -> Path:
        return self._db.path

    @property
    def full_since(self) -> float | None:
        """When writes began failing for a full disk (wall clock, s); None while they succeed."""
        return self._db.full_since

    @property
    def mark_behind_since(self) -> float | None:
        """When writing the high-water mark began failing (wall clock, s); None while it keeps up."""
        return self._db.mark_behind_since

    @property
    def outbox(self) -> SqliteOutbox:
        return self._outbox

    @property
    def inbox(self) -> SqliteInbox:
        return self._inbox

    @property
    def directory(self) -> SqliteDirectoryDocuments:
        return self._directory

    @property
    def audit(self) -> SqliteAudit:
        return self._audit

    @property
    def cases(self) -> SqliteCases:
        return self._cases

    @property
    def accounts(self) -> SqliteAccounts:
        return self._accounts

    @property
    def notifications(self) -> SqliteNotifications:
        return self._notifications

    @property
    def sealed(self) -> SqliteSealed:
        return self._sealed

    async def close(self) -> None:
        await self._db.close()
