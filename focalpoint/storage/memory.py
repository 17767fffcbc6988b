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
rows (``find_damage`` always sees a whole log here), and worker threads (``audit.read``
runs its function synchronously on the event loop).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, TypeVar

from focalpoint.audit import events as audit_events
from focalpoint.audit import tree as audit_tree
from focalpoint.audit.verify import Damage, find_damage
from focalpoint.crypto.merkle import leaf_hash
from focalpoint.errors import StorageError
from focalpoint.storage.base import (
    AuditView,
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

__all__ = [
    "MemoryAudit",
    "MemoryAuditView",
    "MemoryDirectoryDocuments",
    "MemoryInbox",
    "MemoryOutbox",
    "MemoryStore",
]

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

EMPTY_ROOT = hashlib.sha256(b"").digest()
_NO_BOUND = 1 << 62  # what the SQL uses for ``before == 0``
_EXPIRED = "expired before the recipient confirmed delivery"
_QUEUED = DeliveryState.QUEUED


def _limit(rows: list[T], limit: int) -> list[T]:
    """SQL ``LIMIT``: a negative limit means no limit."""
    return rows if limit < 0 else rows[:limit]


@dataclass(frozen=True, slots=True)
class _Outgoing:
    row: OutboxRow
    client_request_id: str | None
    message_kind: str


@dataclass(frozen=True, slots=True)
class _Incoming:
    row: InboxRow
    expires_at_ms: int
    message_kind: str


@dataclass(slots=True)
class _State:
    """The committed tables. Dicts keep insertion order, which is ``seq`` (or id) order here."""

    outbox: dict[bytes, _Outgoing] = field(default_factory=dict)
    by_request: dict[str, bytes] = field(default_factory=dict)
    inbox: dict[tuple[str, bytes], _Incoming] = field(default_factory=dict)
    documents: dict[tuple[str, str, int], bytes] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    checkpoints: dict[int, bytes] = field(default_factory=dict)
    cosignatures: dict[tuple[int, str], bytes] = field(default_factory=dict)
    witnessed: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    alarms: dict[int, bytes] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=lambda: {"outbox": 0, "inbox": 0, "alarm": 0})
    leaves: list[bytes] = field(default_factory=list)
    nodes: dict[tuple[int, int], bytes] = field(default_factory=dict)
    tail: audit_tree.Tail = field(default_factory=lambda: audit_tree.Tail(0, {}))
    cases: dict[str, list[int]] = field(default_factory=dict)
    fail_writes: int = 0
    commits: int = 0
    closed: bool = False

    def transaction(self, what: str, body: Callable[[_Tx], T]) -> T:
        """Run ``body`` on a fresh ``_Tx`` and apply what it staged, or nothing if anything fails."""
        if self.closed:
            raise StorageError(f"memory store: {what} failed: the store is closed")
        tx = _Tx(self)
        result = body(tx)
        if self.fail_writes > 0:
            self.fail_writes -= 1
            raise StorageError(f"memory store: {what} failed: simulated disk failure")
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

    async def write(self, what: str, body: Callable[[_Tx], T]) -> T:
        """One write transaction, then a suspension point (as the SQLite backend's thread hop;
        like it, a write that started completes even if its caller is cancelled)."""
        result = self.transaction(what, body)
        await asyncio.sleep(0)
        return result


class _Tx:
    """One open write: reads the committed state and stages changes (applied by ``_State``)."""

    def __init__(self, state: _State) -> None:
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


async def _pause() -> None:
    """A read is a suspension point in the SQLite backend too."""
    await asyncio.sleep(0)


def _queued_row(seq: int, r: NewOutbox) -> OutboxRow:
    return OutboxRow(
        seq=seq,
        message_id=bytes(r.message_id),
        recipient=r.recipient,
        peer_sequence=r.peer_sequence,
        envelope=bytes(r.envelope),
        digest=bytes(r.digest),
        local_copy=bytes(r.local_copy),
        created_at_ms=r.created_at_ms,
        expires_at_ms=r.expires_at_ms,
        state=_QUEUED,
        attempts=0,
        next_attempt_ms=r.created_at_ms,
        last_error="",
        receipt=None,
        delivered_at_ms=None,
        case_ref=r.case_ref,
    )


class MemoryOutbox:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def add(self, rows: Sequence[NewOutbox]) -> list[bytes]:
        if not rows:
            return []
        return await self._s.write("outbox write", partial(self._add, list(rows)))

    def _add(self, rows: list[NewOutbox], tx: _Tx) -> list[bytes]:
        """INSERT … ON CONFLICT (client_request_id) DO NOTHING, then the SENT events."""
        taken: dict[str, bytes] = {}
        done: set[bytes] = set()
        for r in rows:
            seq = tx.next_seq("outbox")  # AUTOINCREMENT spends a number on an ignored row too
            crid = r.client_request_id
            if crid is not None and (crid in taken or crid in self._s.by_request):
                continue
            if r.message_id in done or r.message_id in self._s.outbox:
                raise StorageError("memory store: outbox write failed: UNIQUE constraint failed: outbox.message_id")
            done.add(r.message_id)
            tx.put(self._s.outbox, r.message_id, _Outgoing(_queued_row(seq, r), crid, r.message_kind))
            if crid is not None:
                taken[crid] = r.message_id
                tx.put(self._s.by_request, crid, r.message_id)
        ids: list[bytes] = []
        for r in rows:
            if r.message_id in done:
                event = audit_events.sent(
                    at_ms=r.created_at_ms,
                    recipient=r.recipient,
                    message_id=r.message_id,
                    digest=r.digest,
                    case_ref=r.case_ref,
                    kind=r.message_kind,
                    sequence=r.peer_sequence,
                )
                tx.log(event, r.case_ref)
                ids.append(bytes(r.message_id))
                continue
            crid = r.client_request_id or ""
            earlier = taken.get(crid) or self._s.by_request.get(crid)
            if earlier is None:
                raise StorageError("memory store: outbox insert ignored but no earlier row exists")
            ids.append(earlier)
        return ids

    async def by_client_request(self, client_request_id: str) -> OutboxRow | None:
        await _pause()
        message_id = self._s.by_request.get(client_request_id)
        return None if message_id is None else self._s.outbox[message_id].row

    async def last_sequences(self) -> dict[str, int]:
        await _pause()
        out: dict[str, int] = {}
        for o in self._s.outbox.values():
            out[o.row.recipient] = max(out.get(o.row.recipient, o.row.peer_sequence), o.row.peer_sequence)
        return out

    def _queued(self, recipient: str) -> list[OutboxRow]:
        return [o.row for o in self._s.outbox.values() if o.row.state == _QUEUED and o.row.recipient == recipient]

    async def due(self, recipient: str, now_ms: int, limit: int, exclude: set[bytes]) -> list[OutboxRow]:
        await _pause()
        rows = [r for r in self._queued(recipient) if r.next_attempt_ms <= now_ms < r.expires_at_ms]
        return _limit([r for r in _limit(rows, limit + len(exclude)) if r.message_id not in exclude], limit)

    async def next_due_ms(self, recipient: str, exclude: set[bytes]) -> int | None:
        await _pause()
        rows = sorted(self._queued(recipient), key=lambda r: r.next_attempt_ms)[: len(exclude) + 1]
        return next((r.next_attempt_ms for r in rows if r.message_id not in exclude), None)

    async def recipients_with_queued(self) -> list[str]:
        await _pause()
        return sorted({o.row.recipient for o in self._s.outbox.values() if o.row.state == _QUEUED})

    def _queued_one(self, message_id: bytes) -> OutboxRow | None:
        o = self._s.outbox.get(message_id)
        return o.row if o is not None and o.row.state == _QUEUED else None

    def _change(self, tx: _Tx, message_id: bytes, **columns: Any) -> OutboxRow:
        """Stage new values for a row's columns (once per row and write); the row as it was."""
        o = self._s.outbox[message_id]
        tx.put(self._s.outbox, message_id, replace(o, row=replace(o.row, **columns)))
        return o.row

    async def mark_delivered(self, done: Sequence[Delivered]) -> None:
        if done:  # a message id given twice: the last one counts, as in the SQL's UPDATE … FROM
            await self._s.write("outbox close", partial(self._mark_delivered, {d.message_id: d for d in done}))

    def _mark_delivered(self, by_id: dict[bytes, Delivered], tx: _Tx) -> None:
        for message_id in sorted(m for m in by_id if self._queued_one(m) is not None):
            d = by_id[message_id]
            row = self._change(
                tx,
                message_id,
                state=DeliveryState.DELIVERED,
                receipt=bytes(d.receipt),
                delivered_at_ms=d.delivered_at_ms,
                last_error="",
            )
            event = audit_events.receipted(
                at_ms=d.delivered_at_ms,
                recipient=row.recipient,
                message_id=message_id,
                digest=row.digest,
                case_ref=row.case_ref,
                receipt=d.receipt,
                peer_log_index=d.peer_log_index,
            )
            tx.log(event, row.case_ref)

    async def mark_final(
        self,
        message_id: bytes,
        state: DeliveryState,
        error: str,
        code: envelope_pb2.RefusalCode.ValueType,
        at_ms: int,
    ) -> None:
        def body(tx: _Tx) -> None:
            queued = self._queued_one(message_id)
            if queued is None:
                return
            row = self._change(
                tx, message_id, state=DeliveryState(state), last_error=error, attempts=queued.attempts + 1
            )
            event = audit_events.refused_by_peer(
                at_ms=at_ms,
                recipient=row.recipient,
                message_id=row.message_id,
                digest=row.digest,
                case_ref=row.case_ref,
                code=code,
            )
            tx.log(event, row.case_ref)

        await self._s.write("outbox close", body)

    async def schedule_retry(self, items: Sequence[tuple[bytes, int, str]]) -> None:
        if not items:
            return
        plan = {message_id: (next_ms, error) for message_id, next_ms, error in items}  # the last one counts

        def body(tx: _Tx) -> None:
            for message_id, (next_ms, error) in plan.items():
                queued = self._queued_one(message_id)
                if queued is not None:
                    changes = {"attempts": queued.attempts + 1, "next_attempt_ms": next_ms, "last_error": error}
                    self._change(tx, message_id, **changes)

        await self._s.write("outbox retry", body)

    async def expire(self, now_ms: int) -> list[bytes]:
        def body(tx: _Tx) -> list[bytes]:
            rows = [o.row for o in self._s.outbox.values() if o.row.state == _QUEUED and o.row.expires_at_ms <= now_ms]
            for row in rows:
                self._change(tx, row.message_id, state=DeliveryState.EXPIRED, last_error=_EXPIRED)
            for row in sorted(rows, key=lambda r: r.message_id):
                event = audit_events.expired(
                    at_ms=now_ms,
                    recipient=row.recipient,
                    message_id=row.message_id,
                    digest=row.digest,
                    case_ref=row.case_ref,
                )
                tx.log(event, row.case_ref)
            return [row.message_id for row in rows]

        return await self._s.write("outbox expiry", body)

    async def get(self, message_id: bytes) -> OutboxRow | None:
        await _pause()
        o = self._s.outbox.get(message_id)
        return None if o is None else o.row

    async def page(self, limit: int, before: int) -> list[OutboxRow]:
        await _pause()
        bound = before or _NO_BOUND
        return _limit([o.row for o in reversed(self._s.outbox.values()) if o.row.seq < bound], limit)

    async def of_case(self, case_ref: str) -> list[OutboxRow]:
        await _pause()
        return [o.row for o in self._s.outbox.values() if o.row.case_ref == case_ref]


class MemoryInbox:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def add(self, rows: Sequence[NewInbox], sign: ReceiptSigner) -> list[InboxOutcome]:
        """Replay check, DELIVERED events and receipts naming them, in one write."""
        if not rows:
            return []
        return await self._s.write("inbox write", partial(self._add, list(rows), sign))

    def _add(self, rows: list[NewInbox], sign: ReceiptSigner, tx: _Tx) -> list[InboxOutcome]:
        stored: dict[tuple[str, bytes], tuple[bytes, bytes]] = {}  # (sender, id) -> (digest, receipt)
        for r in rows:
            kept = self._s.inbox.get((r.sender, r.message_id))
            if kept is not None:
                stored[(r.sender, r.message_id)] = (kept.row.digest, kept.row.receipt)
        fresh: list[tuple[NewInbox, int]] = []
        for r in rows:
            key = (r.sender, r.message_id)
            if key in stored:
                continue
            stored[key] = (r.digest, b"")  # a second copy in the same call is a duplicate of this one
            event = audit_events.delivered(
                at_ms=r.received_at_ms,
                sender=r.sender,
                message_id=r.message_id,
                digest=r.digest,
                case_ref=r.case_ref,
                kind=r.message_kind,
                sequence=r.sequence,
            )
            fresh.append((r, tx.log(event, r.case_ref)))
        receipts = list(sign(fresh)) if fresh else []
        if len(receipts) != len(fresh):
            raise StorageError(f"memory store: the receipt signer returned {len(receipts)} for {len(fresh)}")
        made: dict[tuple[str, bytes], bytes] = {}
        for (r, _), receipt in zip(fresh, receipts, strict=True):
            made[(r.sender, r.message_id)] = bytes(receipt)
            tx.put(self._s.inbox, (r.sender, r.message_id), _received(tx.next_seq("inbox"), r, bytes(receipt)))
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

    async def get(self, sender: str, message_id: bytes) -> InboxRow | None:
        await _pause()
        kept = self._s.inbox.get((sender, message_id))
        return None if kept is None else kept.row

    async def find(self, message_id: bytes) -> list[InboxRow]:
        await _pause()
        return [i.row for i in self._s.inbox.values() if i.row.message_id == message_id]

    async def page(self, limit: int, before: int) -> list[InboxRow]:
        await _pause()
        bound = before or _NO_BOUND
        return _limit([i.row for i in reversed(self._s.inbox.values()) if i.row.seq < bound], limit)

    async def of_case(self, case_ref: str) -> list[InboxRow]:
        await _pause()
        return [i.row for i in self._s.inbox.values() if i.row.case_ref == case_ref]

    async def count(self) -> int:
        await _pause()
        return len(self._s.inbox)


def _received(seq: int, r: NewInbox, receipt: bytes) -> _Incoming:
    row = InboxRow(
        seq=seq,
        sender=r.sender,
        message_id=bytes(r.message_id),
        envelope=bytes(r.envelope),
        digest=bytes(r.digest),
        local_copy=bytes(r.local_copy),
        received_at_ms=r.received_at_ms,
        receipt=receipt,
        case_ref=r.case_ref,
    )
    return _Incoming(row, r.expires_at_ms, r.message_kind)


class MemoryDirectoryDocuments:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def save(self, documents: Sequence[tuple[str, str, int, bytes]], at_ms: int) -> None:
        """(kind, name, version, raw) rows with their DIRECTORY_ACCEPTED events, in one write."""
        if documents:
            await self._s.write("directory write", partial(self._save, list(documents), at_ms))

    def _save(self, documents: list[tuple[str, str, int, bytes]], at_ms: int, tx: _Tx) -> None:
        """INSERT … ON CONFLICT DO NOTHING; storing a bundle drops the bundles of lower versions
        (the SQL's trigger, row by row: an older bundle stored later keeps the newer one)."""
        table = self._s.documents
        present = dict.fromkeys(table, True)  # this write's view of which rows exist
        inserted: list[tuple[str, str, int]] = []
        for kind, name, version, raw in documents:
            key = (kind, name, version)
            if present.get(key):
                continue
            present[key] = True
            inserted.append(key)
            tx.put(table, key, bytes(raw))
            if kind == "bundle":
                for old in [k for k, there in present.items() if there and k[0] == "bundle" and k[2] < version]:
                    present[old] = False
                    tx.drop(table, old)
        raw_of = {(kind, name, version): raw for kind, name, version, raw in documents}
        for kind, name, version in sorted(inserted):
            raw = raw_of[(kind, name, version)]
            tx.log(audit_events.directory_accepted(at_ms=at_ms, kind=kind, name=name, version=version, raw=raw))

    async def load(self) -> tuple[list[bytes], dict[tuple[str, str], int], bytes | None]:
        """Accepted roots (oldest first), the highest accepted version per document, the last bundle."""
        await _pause()
        table = self._s.documents
        roots = [table[k] for k in sorted((k for k in table if k[0] == "root"), key=lambda k: (k[2], k[1]))]
        accepted: dict[tuple[str, str], int] = {}
        for kind, name, version in sorted(table):
            if kind != "bundle":
                accepted[(kind, name)] = max(version, accepted.get((kind, name), version))
        return roots, accepted, _last_bundle(table)

    async def document(self, kind: str, name: str, version: int) -> bytes | None:
        await _pause()
        return self._s.documents.get((kind, name, version))


def _last_bundle(documents: dict[tuple[str, str, int], bytes]) -> bytes | None:
    bundles = [k for k in documents if k[0] == "bundle"]
    return documents[max(bundles, key=lambda k: k[2])] if bundles else None


class MemoryAudit:
    def __init__(self, state: _State) -> None:
        self._s = state

    @property
    def size(self) -> int:
        """Leaves committed to the audit log."""
        return len(self._s.leaves)

    async def record(self, leaves: Sequence[bytes], case_ref: str = "", *, meta: dict[str, str] | None = None) -> int:
        """Append events that go with no other row, with the ``meta`` settings they make true."""
        leaves, settings = list(leaves), dict(meta or {})

        def body(tx: _Tx) -> int:
            first = tx.next_index
            for leaf in leaves:
                tx.log(leaf, case_ref)
            for key, value in settings.items():
                tx.put(self._s.meta, key, value)
            return first

        return await self._s.write("audit write", body)

    async def meta(self, key: str) -> str | None:
        await _pause()
        return self._s.meta.get(key)

    async def read(self, fn: Callable[[AuditView], T]) -> T:
        """Run ``fn`` on a read-only view of the committed log, synchronously (no write can
        interleave, so the view's size is the committed size throughout)."""
        if self._s.closed:
            raise StorageError("memory store: audit read failed: the store is closed")
        result = fn(MemoryAuditView(self._s))
        await _pause()
        return result

    async def case_indices(self, case_ref: str) -> list[int]:
        await _pause()
        return list(self._s.cases.get(case_ref, []))

    async def events(self, limit: int, before: int, case_ref: str = "") -> list[tuple[int, bytes]]:
        await _pause()
        bound = before or _NO_BOUND
        if case_ref:
            indices = _limit([i for i in reversed(self._s.cases.get(case_ref, [])) if i < bound], limit)
        else:
            top = min(len(self._s.leaves), bound)
            indices = list(range(top - 1, -1 if limit < 0 else max(top - limit, 0) - 1, -1))
        return [(i, self._s.leaves[i]) for i in indices]

    # checkpoints, cosignatures, witnessing

    async def add_checkpoint(self, size: int, raw: bytes, issued_at_ms: int) -> bytes:
        """Keep this node's signed checkpoint of ``size``; returns the one kept (the first for a size)."""

        def body(tx: _Tx) -> bytes:
            kept = self._s.checkpoints.get(size)
            if kept is not None:
                return kept
            tx.put(self._s.checkpoints, size, bytes(raw))
            return bytes(raw)

        return await self._s.write("checkpoint write", body)

    async def latest_checkpoint(self) -> tuple[bytes, list[bytes]] | None:
        await _pause()
        return self._with_cosignatures(list(self._s.checkpoints))

    async def latest_cosigned_checkpoint(self) -> tuple[bytes, list[bytes]] | None:
        await _pause()
        return self._with_cosignatures([size for size, _ in self._s.cosignatures if size in self._s.checkpoints])

    def _with_cosignatures(self, sizes: list[int]) -> tuple[bytes, list[bytes]] | None:
        if not sizes:
            return None
        size = max(sizes)
        return self._s.checkpoints[size], _cosignatures(self._s, size)

    async def checkpoint_at(self, size: int) -> bytes | None:
        await _pause()
        return self._s.checkpoints.get(size)

    async def cosignatures(self, size: int) -> list[bytes]:
        await _pause()
        return _cosignatures(self._s, size)

    async def add_cosignature(self, size: int, witness: str, raw: bytes) -> None:
        """Keep a witness's cosignature (a witness's newer one for the same size replaces it)."""
        await self._s.write("cosignature write", lambda tx: tx.put(self._s.cosignatures, (size, witness), bytes(raw)))

    async def witnessed(self, log_node: str) -> bytes | None:
        await _pause()
        kept = self._s.witnessed.get(log_node)
        return None if kept is None else kept[1]

    async def set_witnessed(self, log_node: str, size: int, raw: bytes, event: bytes, at_ms: int) -> None:
        """Keep a partner's cosigned checkpoint unless a larger one is kept; log ``event`` either way."""

        def body(tx: _Tx) -> None:
            kept = self._s.witnessed.get(log_node)
            if kept is None or size >= kept[0]:
                tx.put(self._s.witnessed, log_node, (size, bytes(raw)))
            tx.log(event)

        await self._s.write("witness write", body)

    async def add_alarm(self, log_node: str, raw: bytes, event: bytes, at_ms: int) -> None:
        def body(tx: _Tx) -> None:
            tx.put(self._s.alarms, tx.next_seq("alarm"), bytes(raw))
            tx.log(event)

        await self._s.write("alarm write", body)

    async def alarms(self) -> list[bytes]:
        await _pause()
        return list(self._s.alarms.values())


def _cosignatures(state: _State, size: int) -> list[bytes]:
    """The cosignatures of ``size``, by witness name."""
    return [raw for (s, _), raw in sorted(state.cosignatures.items()) if s == size]


class MemoryAuditView:
    """A read-only view of the committed log (``AuditView``), as ``sqlite.AuditLog`` gives it:
    ``size`` is fixed when the view is made; ``stored_size`` and the leaf reads are live."""

    def __init__(self, state: _State) -> None:
        self._s = state
        self._size = len(state.leaves)

    @property
    def size(self) -> int:
        return self._size

    def _node(self, level: int, index: int) -> bytes:
        h = self._s.nodes.get((level, index))
        if h is None:
            raise StorageError(f"memory store: audit node ({level}, {index}) is missing")
        return h

    def leaf(self, index: int) -> bytes:
        if not 0 <= index < len(self._s.leaves):
            raise ValueError(f"no leaf {index}; the log has {self.size} leaves")
        return self._s.leaves[index]

    def leaves(self, start: int, end: int) -> list[tuple[int, bytes]]:
        return [(i, self._s.leaves[i]) for i in range(max(start, 0), min(end, len(self._s.leaves)))]

    def leaves_from(self, start: int, limit: int) -> list[tuple[int, Any]]:
        """Up to ``limit`` rows from ``start`` on (a negative limit: all)."""
        start = max(start, 0)
        end = len(self._s.leaves) if limit < 0 else min(start + limit, len(self._s.leaves))
        return self.leaves(start, end)

    def stored_size(self) -> int:
        return len(self._s.leaves)

    def closed_nodes(self, start: int, end: int) -> dict[tuple[int, int], bytes]:
        """Stored nodes closed by leaves [start, end): node (l, i) is closed by leaf (i+1)·2^l − 1."""
        out: dict[tuple[int, int], bytes] = {}
        level = 0
        while (1 << level) <= end:
            low = -(-(start + 1) // (1 << level)) - 1  # ceil((start+1) / 2^l) - 1
            for index in range(max(low, 0), end // (1 << level)):
                h = self._s.nodes.get((level, index))
                if h is not None:
                    out[(level, index)] = h
            level += 1
        return out

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError(f"no tree of size {size}; the log has {self.size} leaves")
        return EMPTY_ROOT if size == 0 else audit_tree.tree_root(self._node, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        if size > self.size:
            raise ValueError(f"no tree of size {size}; the log has {self.size} leaves")
        return audit_tree.inclusion_proof(self._node, index, size)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        new = self.size if new is None else new
        if new > self.size:
            raise ValueError(f"no tree of size {new}; the log has {self.size} leaves")
        return audit_tree.consistency_proof(self._node, old, new)

    def verify(self, *, batch: int = 65_536) -> Damage | None:
        """Recompute everything from the leaves; the first disagreement, or None if the log is whole."""
        return find_damage(self, batch=batch)

    def checkpoints(self) -> list[tuple[int, bytes, list[bytes]]]:
        """(size, signed checkpoint, cosignatures) kept next to the log, oldest first."""
        return [(size, self._s.checkpoints[size], _cosignatures(self._s, size)) for size in sorted(self._s.checkpoints)]

    def alarms(self) -> list[bytes]:
        return list(self._s.alarms.values())

    def stored_bundle(self) -> bytes | None:
        return _last_bundle(self._s.documents)


class MemoryStore:
    """All four aggregates over one in-memory state; ``MemoryStore(fail_writes=n)`` starts
    with ``n`` failing writes (see ``fail_next_writes``)."""

    def __init__(self, *, fail_writes: int = 0) -> None:
        self._state = _State(fail_writes=fail_writes)
        self._outbox = MemoryOutbox(self._state)
        self._inbox = MemoryInbox(self._state)
        self._directory = MemoryDirectoryDocuments(self._state)
        self._audit = MemoryAudit(self._state)

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

    def fail_next_writes(self, n: int = 1) -> None:
        """Simulate a failing disk: each of the next ``n`` write transactions runs its body (a
        receipt signer is called) and then raises StorageError, changing nothing. Sets the
        count, so ``fail_next_writes(0)`` heals the disk. A write with nothing to do (an empty
        list) opens no transaction, as in SQLite, and does not count."""
        if n < 0:
            raise ValueError("the number of failing writes cannot be negative")
        self._state.fail_writes = n

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
