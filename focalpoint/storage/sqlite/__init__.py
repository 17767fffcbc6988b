"""The SQLite backend: one database file (WAL, ``synchronous=FULL``) holds the outbox, the
inbox, the directory documents, the audit log and the case links, so every write commits with
its events.

``db`` owns the connections and transactions, ``schema`` the tables and their migrations,
``rows`` the checks of rows read back (a damaged one is named, never a crash); ``outbox``,
``inbox``, ``directory``, ``audit`` and ``cases`` are the aggregates, each composed over the one
``Database``; ``audit_log`` is the log's own storage (also opened read-only on a copy by
``focalpoint audit verify --db``).
Imports ``focalpoint.storage.base`` and the pure packages; only ``focalpoint.server`` (which
chooses the backend) and the auditors' CLI import it.
"""

from focalpoint.storage.sqlite.audit_log import AuditLog
from focalpoint.storage.sqlite.store import SqliteStore

__all__ = ["AuditLog", "SqliteStore"]
