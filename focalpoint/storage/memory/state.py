"""The in-memory store's state and its transactions: committed tables, and a ``Tx`` that stages
a write's changes so that they land whole or not at all."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TypeVar

from focalpoint.audit import tree as audit_tree
from focalpoint.crypto.merkle import leaf_hash
from focalpoint.errors import StorageError, StorageFull
from focalpoint.storage.base import (
    BreakGlassRow,
    CaseEventRow,
    ContactRow,
    DeliveryState,
    InboxRow,
    LinkRow,
    NoticeRow,
    OutboxRow,
    ParkedRow,
    PendingRow,
    SealedExport,
    SealedImport,
    SealedOwed,
    SessionRow,
    SummaryRow,
    UserRow,
)

__all__ = [
    "NO_BOUND",
    "QUEUED",
    "Incoming",
    "Outgoing",
    "State",
    "Tx",
    "last_bundle",
    "limit_rows",
    "pause",
    "touch_summary",
]

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

NO_BOUND = 1 << 62  # what the SQL uses for ``before == 0``
QUEUED = DeliveryState.QUEUED


def limit_rows(rows: list[T], limit: int) -> list[T]:
    """SQL ``LIMIT``: a negative limit means no limit."""
    return rows if limit < 0 else rows[:limit]


@dataclass(frozen=True, slots=True)
class Outgoing:
    row: OutboxRow
    client_request_id: str | None
    message_kind: str


@dataclass(frozen=True, slots=True)
class Incoming:
    row: InboxRow
    expires_at_ms: int
    message_kind: str


@dataclass(slots=True)
class State:
    """The committed tables. Dicts keep insertion order, which is ``seq`` (or id) order here."""

    outbox: dict[bytes, Outgoing] = field(default_factory=dict)
    by_request: dict[str, bytes] = field(default_factory=dict)
    inbox: dict[tuple[str, bytes], Incoming] = field(default_factory=dict)
    documents: dict[tuple[str, str, int], bytes] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    checkpoints: dict[int, bytes] = field(default_factory=dict)
    cosignatures: dict[tuple[int, str], bytes] = field(default_factory=dict)
    witnessed: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    alarms: dict[int, bytes] = field(default_factory=dict)
    restores: dict[int, bytes] = field(default_factory=dict)
    # Case links by id; which link each (case_ref, partner) names; events by (link id, message id);
    # cursors by source; parked messages by (sender, message id).
    case_links: dict[str, LinkRow] = field(default_factory=dict)
    case_refs: dict[tuple[str, str], str] = field(default_factory=dict)
    case_summaries: dict[str, SummaryRow] = field(default_factory=dict)
    summary_spans: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # case id, first, last
    case_events: dict[tuple[str, bytes], CaseEventRow] = field(default_factory=dict)
    case_cursors: dict[str, int] = field(default_factory=dict)
    case_parked: dict[tuple[str, bytes], ParkedRow] = field(default_factory=dict)
    # Users by id; sessions by token hash; pending changes by user id; break-glass windows by
    # number; restrictions and assigned users by link id.
    users: dict[str, UserRow] = field(default_factory=dict)
    sessions: dict[bytes, SessionRow] = field(default_factory=dict)
    pending: dict[str, PendingRow] = field(default_factory=dict)
    break_glass: dict[int, BreakGlassRow] = field(default_factory=dict)
    restrictions: dict[str, frozenset[str]] = field(default_factory=dict)
    assignments: dict[str, frozenset[str]] = field(default_factory=dict)
    # Users' contacts by user id; the notification queue by notice id (in the order queued).
    contacts: dict[str, ContactRow] = field(default_factory=dict)
    notices: dict[str, NoticeRow] = field(default_factory=dict)
    # Sealed files: imports by (sender, file id); exports by (peer, sequence); owed results by (peer, message id).
    sealed_imports: dict[tuple[str, bytes], SealedImport] = field(default_factory=dict)
    sealed_exports: dict[tuple[str, int], SealedExport] = field(default_factory=dict)
    sealed_owed: dict[tuple[str, bytes], tuple[SealedOwed, int]] = field(default_factory=dict)
    counters: dict[str, int] = field(
        default_factory=lambda: {
            "outbox": 0,
            "inbox": 0,
            "alarm": 0,
            "restore": 0,
            "case_event": 0,
            "summary": 0,
            "parked": 0,
            "break_glass": 0,
        }
    )
    leaves: list[bytes] = field(default_factory=list)
    nodes: dict[tuple[int, int], bytes] = field(default_factory=dict)
    tail: audit_tree.Tail = field(default_factory=lambda: audit_tree.Tail(0, {}))
    cases: dict[str, list[int]] = field(default_factory=dict)
    fail_writes: int = 0
    full: bool = False  # a simulated full disk: every write fails with StorageFull until cleared
    full_since: float | None = None
    commits: int = 0
    closed: bool = False

    def transaction(self, what: str, body: Callable[[Tx], T]) -> T:
        """Run ``body`` on a fresh ``Tx`` and apply what it staged, or nothing if anything fails."""
        if self.closed:
            raise StorageError(f"memory store: {what} failed: the store is closed")
        tx = Tx(self)
        result = body(tx)
        if self.fail_writes > 0:
            self.fail_writes -= 1
            raise StorageError(f"memory store: {what} failed: simulated disk failure")
        if self.full:
            self.full_since = self.full_since or time.time()
            raise StorageFull(f"the node's disk is full: {what} could not be stored (memory store, simulated)")
        self.full_since = None
        tail, nodes = self.tail.extend([leaf_hash(leaf) for leaf in tx.leaves])
        # From here on nothing can fail: the whole write lands.
        self.leaves.extend(tx.leaves)
        self.nodes.update(((level, index), h) for level, index, h in nodes)
        self.tail = tail
        for case_ref, index in tx.cases:
            self.cases.setdefault(case_ref, []).append(index)
        for write in tx.writes:
            write()
        self.counters.update(tx.seqs)
        self.commits += 1
        return result

    async def write(self, what: str, body: Callable[[Tx], T]) -> T:
        """One write transaction, then a suspension point (as the SQLite backend's thread hop;
        like it, a write that started completes even if its caller is cancelled)."""
        result = self.transaction(what, body)
        await asyncio.sleep(0)
        return result


class Tx:
    """One open write: reads the committed state and stages changes (applied by ``State``)."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.leaves: list[bytes] = []
        self.cases: list[tuple[str, int]] = []
        self.writes: list[Callable[[], object]] = []
        self.seqs: dict[str, int] = {}

    @property
    def next_index(self) -> int:
        return len(self.state.leaves) + len(self.leaves)

    def log(self, leaf: bytes, case_ref: str = "") -> int:
        index = self.next_index
        self.leaves.append(bytes(leaf))
        if case_ref:
            self.cases.append((case_ref, index))
        return index

    def put(self, table: dict[K, V], key: K, value: V) -> None:
        self.writes.append(partial(table.__setitem__, key, value))

    def drop(self, table: dict[K, V], key: K) -> None:
        self.writes.append(partial(table.pop, key, None))

    def next_seq(self, counter: str) -> int:
        """The next AUTOINCREMENT number of ``counter`` (spent only if the write commits)."""
        self.seqs[counter] = self.seqs.get(counter, self.state.counters[counter]) + 1
        return self.seqs[counter]


def touch_summary(tx: Tx, link_id: str, partner_state: str | None = None) -> None:
    """A write changed what ``link_id``'s summary is built from: give it a new generation (a new
    link, with ``partner_state``, gets its first, with no summary). Generations are drawn from one
    counter, so two touches in one write never give the same number twice."""
    generation = tx.next_seq("summary")
    current = tx.state.case_summaries.get(link_id)
    if current is None:
        if partner_state is None:
            return
        current = SummaryRow(link_id, partner_state, 0, -1, "", None, b"")
    tx.writes.append(lambda: _bump(tx.state, current, generation))


def _bump(state: State, first: SummaryRow, generation: int) -> None:
    row = state.case_summaries.get(first.link_id, first)
    state.case_summaries[first.link_id] = replace(row, generation=generation)


async def pause() -> None:
    """A read is a suspension point in the SQLite backend too."""
    await asyncio.sleep(0)


def last_bundle(documents: dict[tuple[str, str, int], bytes]) -> bytes | None:
    bundles = [k for k in documents if k[0] == "bundle"]
    return documents[max(bundles, key=lambda k: k[2])] if bundles else None
