"""An in-memory ``Store`` with the SQLite backend's behaviour, for testing the node's parts
without a database (as httpx ships MockTransport): ``MemoryStore()``.

It keeps the rules of ``focalpoint.storage.base``: every write is one transaction that
appends its audit events (an RFC 9162 tree of the same leaves, so roots and proofs equal
the SQLite log's); a write builds its changes on the side and applies them only once its
whole body succeeded, so a failed write (a raising ``ReceiptSigner``, a StorageError)
changes nothing; writes do not await while they run, so they are serialised; rows handed
out are frozen and lists are fresh, so callers cannot change what is stored. Row numbers,
orders, limits and conflicts follow the SQL of ``focalpoint.storage.sqlite``
(AUTOINCREMENT ``seq`` from 1, a number spent on every row an outbox insert offers, a
negative limit meaning none); the contract suite (tests/storage/) runs on both.

``MemoryStore.fail_next_writes(n)`` simulates a failing disk: the next ``n`` write
transactions run their body, then raise StorageError and change nothing.

Not modelled: durability (nothing survives the process), several processes or connections
on one store, the schema and its migrations (no ``schema_version`` in ``meta``), damaged
rows (a page never holds a ``DamagedRow``, ``find_damage`` always sees a whole log here), the
bytes a write costs, and worker threads (``audit.read`` runs its function synchronously on
the event loop, so it sees one state throughout, as SQLite's snapshot does).

``state`` holds the tables and the transactions; ``outbox``, ``inbox``, ``directory``,
``audit``, ``cases`` and ``accounts`` mirror the SQLite modules of the same names. Imports ``focalpoint.storage.base``,
the pure packages and the foundation only; tests (and nothing in production) import it.
"""

from __future__ import annotations

from focalpoint.storage.memory.accounts import MemoryAccounts
from focalpoint.storage.memory.audit import MemoryAudit, MemoryAuditView
from focalpoint.storage.memory.cases import MemoryCases
from focalpoint.storage.memory.directory import MemoryDirectoryDocuments
from focalpoint.storage.memory.inbox import MemoryInbox
from focalpoint.storage.memory.notifications import MemoryNotifications
from focalpoint.storage.memory.outbox import MemoryOutbox
from focalpoint.storage.memory.sealed import MemorySealed
from focalpoint.storage.memory.state import State

__all__ = [
    "MemoryAccounts",
    "MemoryAudit",
    "MemoryAuditView",
    "MemoryCases",
    "MemoryDirectoryDocuments",
    "MemoryInbox",
    "MemoryNotifications",
    "MemoryOutbox",
    "MemorySealed",
    "MemoryStore",
]


class MemoryStore:
    """All six aggregates over one in-memory state; ``MemoryStore(fail_writes=n)`` starts
    with ``n`` failing writes (see ``fail_next_writes``)."""

    def __init__(self, *, fail_writes: int = 0) -> None:
        self._state = State(fail_writes=fail_writes)
        self._outbox = MemoryOutbox(self._state)
        self._inbox = MemoryInbox(self._state)
        self._directory = MemoryDirectoryDocuments(self._state)
        self._audit = MemoryAudit(self._state)
        self._cases = MemoryCases(self._state)
        self._accounts = MemoryAccounts(self._state)
        self._notifications = MemoryNotifications(self._state)
        self._sealed = MemorySealed(self._state)

    @property
    def outbox(self) -> MemoryOutbox:
        return self._outbox

    @property
    def inbox(self) -> MemoryInbox:
        return self._inbox

    @property
    def directory(self) -> MemoryDirectoryDocuments:
        return self._directory

    @property
    def audit(self) -> MemoryAudit:
        return self._audit

    @property
    def cases(self) -> MemoryCases:
        return self._cases

    @property
    def accounts(self) -> MemoryAccounts:
        return self._accounts

    @property
    def notifications(self) -> MemoryNotifications:
        return self._notifications

    @property
    def sealed(self) -> MemorySealed:
        return self._sealed

    def fail_next_writes(self, n: int = 1) -> None:
        """Simulate a failing disk: each of the next ``n`` write transactions runs its body (a
        receipt signer is called) and then raises StorageError, changing nothing. Sets the
        count, so ``fail_next_writes(0)`` heals the disk. A write with nothing to do (an empty
        list) opens no transaction, as in SQLite, and does not count."""
        if n < 0:
            raise ValueError("the number of failing writes cannot be negative")
        self._state.fail_writes = n

    def set_full(self, full: bool = True) -> None:
        """Simulate a full disk: every write raises StorageFull (changing nothing) until cleared."""
        self._state.full = full

    @property
    def full_since(self) -> float | None:
        """When writes began failing for a full disk (wall clock, s); None while they succeed."""
        return self._state.full_since

    @property
    def mark_behind_since(self) -> float | None:
        """Always None: a store in memory keeps no high-water mark."""
        return None

    @property
    def failing_writes(self) -> int:
        """Writes still to fail."""
        return self._state.fail_writes

    @property
    def commits(self) -> int:
        """Write transactions committed so far (e.g. to see that group commit shared one)."""
        return self._state.commits

    async def close(self) -> None:
        """Later writes and audit reads raise StorageError; the data stays readable."""
        self._state.closed = True
