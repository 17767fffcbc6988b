"""The outbox of the in-memory store (as ``focalpoint.storage.sqlite.outbox``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from focalpoint.audit import events as audit_events
from focalpoint.errors import StorageError
from focalpoint.storage.base import (
    EXPIRED,
    NOT_RECEIVED,
    DamagedRow,
    Delivered,
    DeliveryState,
    NewOutbox,
    OutboxRow,
    Unconfirmed,
)
from focalpoint.storage.memory.state import NO_BOUND, QUEUED, Outgoing, State, Tx, limit_rows, pause, touch_summary
from focalpoint.v1 import envelope_pb2

__all__ = ["MemoryOutbox"]


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
        state=QUEUED,
        attempts=0,
        next_attempt_ms=r.created_at_ms,
        last_error="",
        receipt=None,
        delivered_at_ms=None,
        case_ref=r.case_ref,
    )


class MemoryOutbox:
    def __init__(self, state: State) -> None:
        self._s = state

    async def add(self, rows: Sequence[NewOutbox]) -> list[bytes]:
        if not rows:
            return []
        return await self._s.write("outbox write", partial(self._add, list(rows)))

    def _add(self, rows: list[NewOutbox], tx: Tx) -> list[bytes]:
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
            tx.put(self._s.outbox, r.message_id, Outgoing(_queued_row(seq, r), crid, r.message_kind))
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
        await pause()
        message_id = self._s.by_request.get(client_request_id)
        return None if message_id is None else self._s.outbox[message_id].row

    async def last_sequences(self) -> dict[str, int]:
        await pause()
        out: dict[str, int] = {}
        for o in self._s.outbox.values():
            out[o.row.recipient] = max(out.get(o.row.recipient, o.row.peer_sequence), o.row.peer_sequence)
        return out

    def _queued(self, recipient: str) -> list[OutboxRow]:
        return [o.row for o in self._s.outbox.values() if o.row.state == QUEUED and o.row.recipient == recipient]

    async def due(
        self, recipient: str, now_ms: int, limit: int, exclude: set[bytes], *, latest_ms: int | None = None
    ) -> list[OutboxRow]:
        await pause()
        rows = [
            r
            for r in self._queued(recipient)
            if (r.next_attempt_ms <= now_ms or (latest_ms is not None and r.next_attempt_ms > latest_ms))
            and now_ms < r.expires_at_ms
        ]
        return limit_rows([r for r in limit_rows(rows, limit + len(exclude)) if r.message_id not in exclude], limit)

    async def next_due_ms(self, recipient: str, exclude: set[bytes]) -> int | None:
        await pause()
        rows = sorted(self._queued(recipient), key=lambda r: r.next_attempt_ms)[: len(exclude) + 1]
        return next((r.next_attempt_ms for r in rows if r.message_id not in exclude), None)

    async def recipients_with_queued(self) -> list[str]:
        await pause()
        return sorted({o.row.recipient for o in self._s.outbox.values() if o.row.state == QUEUED})

    async def queued_by_recipient(self) -> dict[str, tuple[int, int]]:
        await pause()
        out: dict[str, tuple[int, int]] = {}
        for o in self._s.outbox.values():
            if o.row.state == QUEUED:
                n, oldest = out.get(o.row.recipient, (0, o.row.created_at_ms))
                out[o.row.recipient] = (n + 1, min(oldest, o.row.created_at_ms))
        return out

    def _queued_one(self, message_id: bytes) -> OutboxRow | None:
        o = self._s.outbox.get(message_id)
        return o.row if o is not None and o.row.state == QUEUED else None

    def _open_one(self, message_id: bytes) -> OutboxRow | None:
        """The row while a receipt may still close it: QUEUED, or EXPIRED and not yet settled."""
        o = self._s.outbox.get(message_id)
        return o.row if o is not None and o.row.state in (QUEUED, DeliveryState.EXPIRED) else None

    def _change(self, tx: Tx, message_id: bytes, **columns: Any) -> OutboxRow:
        """Stage new values for a row's columns (once per row and write); the row as it was."""
        o = self._s.outbox[message_id]
        tx.put(self._s.outbox, message_id, replace(o, row=replace(o.row, **columns)))
        return o.row

    async def mark_delivered(self, done: Sequence[Delivered]) -> None:
        if done:  # a message id given twice: the last one counts, as in the SQL's UPDATE … FROM
            await self._s.write("outbox close", partial(self._mark_delivered, {d.message_id: d for d in done}))

    def _mark_delivered(self, by_id: dict[bytes, Delivered], tx: Tx) -> None:
        for message_id in sorted(m for m in by_id if self._open_one(m) is not None):
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
            link_id = self._s.case_refs.get((row.case_ref, row.recipient))
            if link_id is not None:  # the receipt starts the clock of a request on that link
                touch_summary(tx, link_id)

    async def mark_final(
        self,
        message_id: bytes,
        state: DeliveryState,
        error: str,
        code: envelope_pb2.RefusalCode.ValueType,
        at_ms: int,
    ) -> None:
        def body(tx: Tx) -> None:
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

        def body(tx: Tx) -> None:
            for message_id, (next_ms, error) in plan.items():
                queued = self._queued_one(message_id)
                if queued is not None:
                    changes = {"attempts": queued.attempts + 1, "next_attempt_ms": next_ms, "last_error": error}
                    self._change(tx, message_id, **changes)

        await self._s.write("outbox retry", body)

    async def expire(self, now_ms: int) -> list[bytes]:
        def body(tx: Tx) -> list[bytes]:
            rows = [o.row for o in self._s.outbox.values() if o.row.state == QUEUED and o.row.expires_at_ms <= now_ms]
            for row in rows:
                self._change(tx, row.message_id, state=DeliveryState.EXPIRED, last_error=EXPIRED)
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

    async def unconfirmed(self, recipient: str, limit: int) -> list[Unconfirmed]:
        await pause()
        rows = [o.row for o in self._s.outbox.values() if o.row.state == DeliveryState.EXPIRED]
        mine = [Unconfirmed(r.message_id, r.digest, r.expires_at_ms) for r in rows if r.recipient == recipient]
        return limit_rows(mine, limit)

    async def recipients_with_unconfirmed(self) -> list[str]:
        await pause()
        return sorted({o.row.recipient for o in self._s.outbox.values() if o.row.state == DeliveryState.EXPIRED})

    async def mark_not_received(self, message_ids: Sequence[bytes], at_ms: int) -> None:
        def body(tx: Tx) -> None:
            for message_id in sorted(set(message_ids)):
                o = self._s.outbox.get(message_id)
                if o is None or o.row.state != DeliveryState.EXPIRED:
                    continue
                row = self._change(tx, message_id, state=DeliveryState.NOT_RECEIVED, last_error=NOT_RECEIVED)
                event = audit_events.not_received(
                    at_ms=at_ms,
                    recipient=row.recipient,
                    message_id=message_id,
                    digest=row.digest,
                    case_ref=row.case_ref,
                )
                tx.log(event, row.case_ref)

        if message_ids:
            await self._s.write("outbox reconciliation", body)

    async def get(self, message_id: bytes) -> OutboxRow | None:
        await pause()
        o = self._s.outbox.get(message_id)
        return None if o is None else o.row

    async def page(self, limit: int, before: int) -> list[OutboxRow | DamagedRow]:
        """As SQLite's; rows here are never damaged (nothing outside the store can write them)."""
        await pause()
        bound = before or NO_BOUND
        return limit_rows([o.row for o in reversed(self._s.outbox.values()) if o.row.seq < bound], limit)

    async def since(self, after: int, limit: int) -> list[OutboxRow | DamagedRow]:
        await pause()
        return limit_rows([o.row for o in self._s.outbox.values() if o.row.seq > after], limit)

    async def of_case(self, case_ref: str) -> list[OutboxRow]:
        await pause()
        return [o.row for o in self._s.outbox.values() if o.row.case_ref == case_ref]
