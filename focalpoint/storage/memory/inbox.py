"""The inbox of the in-memory store (as ``focalpoint.storage.sqlite.inbox``)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from focalpoint.audit import events as audit_events
from focalpoint.errors import StorageError
from focalpoint.storage.base import DamagedRow, InboxOutcome, InboxRow, NewInbox, ReceiptSigner, inbox_outcomes
from focalpoint.storage.memory.state import NO_BOUND, Incoming, State, Tx, limit_rows, pause

__all__ = ["MemoryInbox"]


class MemoryInbox:
    def __init__(self, state: State) -> None:
        self._s = state

    async def add(self, rows: Sequence[NewInbox], sign: ReceiptSigner) -> list[InboxOutcome]:
        """Replay check, DELIVERED events and receipts naming them, in one write."""
        if not rows:
            return []
        return await self._s.write("inbox write", partial(self._add, list(rows), sign))

    def _add(self, rows: list[NewInbox], sign: ReceiptSigner, tx: Tx) -> list[InboxOutcome]:
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
        return inbox_outcomes(rows, stored, made)

    async def get(self, sender: str, message_id: bytes) -> InboxRow | None:
        await pause()
        kept = self._s.inbox.get((sender, message_id))
        return None if kept is None else kept.row

    async def receipts(self, sender: str, message_ids: Sequence[bytes]) -> dict[bytes, bytes | None]:
        await pause()
        kept = ((m, self._s.inbox.get((sender, m))) for m in message_ids)
        return {bytes(m): k.row.receipt for m, k in kept if k is not None}

    async def find(self, message_id: bytes) -> list[InboxRow]:
        await pause()
        return [i.row for i in self._s.inbox.values() if i.row.message_id == message_id]

    async def page(self, limit: int, before: int) -> list[InboxRow | DamagedRow]:
        """As SQLite's; rows here are never damaged (nothing outside the store can write them)."""
        await pause()
        bound = before or NO_BOUND
        return limit_rows([i.row for i in reversed(self._s.inbox.values()) if i.row.seq < bound], limit)

    async def since(self, after: int, limit: int) -> list[InboxRow | DamagedRow]:
        await pause()
        return limit_rows([i.row for i in self._s.inbox.values() if i.row.seq > after], limit)

    async def of_case(self, case_ref: str) -> list[InboxRow]:
        await pause()
        return [i.row for i in self._s.inbox.values() if i.row.case_ref == case_ref]

    async def count(self) -> int:
        await pause()
        return len(self._s.inbox)


def _received(seq: int, r: NewInbox, receipt: bytes) -> Incoming:
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
    return Incoming(row, r.expires_at_ms, r.message_kind)
