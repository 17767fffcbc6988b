"""The outbox in SQLite: messages this node sends, each row committed with its audit event."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from focalpoint.audit import events as audit_events
from focalpoint.errors import StorageError
from focalpoint.storage.base import EXPIRED, NOT_RECEIVED, Delivered, DeliveryState, NewOutbox, OutboxRow, Unconfirmed
from focalpoint.storage.sqlite.db import Database, Tx
from focalpoint.v1 import envelope_pb2

__all__ = ["SqliteOutbox"]

_OUTBOX_COLS = (
    "seq, message_id, recipient, peer_sequence, envelope, digest, local_copy, created_at_ms, "
    "expires_at_ms, state, attempts, next_attempt_ms, last_error, receipt, delivered_at_ms, case_ref"
)


_NO_LATEST = (1 << 63) - 1  # no entry is scheduled after this


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


class SqliteOutbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def last_sequences(self) -> dict[str, int]:
        rows = await self._db.fetchall("SELECT recipient, MAX(peer_sequence) FROM outbox GROUP BY recipient")
        return {r[0]: r[1] for r in rows}

    async def add(self, rows: Sequence[NewOutbox]) -> list[bytes]:
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
                    raise StorageError(f"{self._db.path}: outbox insert ignored but no earlier row exists")
                ids.append(bytes(existing[0][0]))
            return ids

        return await self._db.transaction("outbox write", body)

    async def by_client_request(self, client_request_id: str) -> OutboxRow | None:
        rows = await self._db.fetchall(
            f"SELECT {_OUTBOX_COLS} FROM outbox WHERE client_request_id = ?", (client_request_id,)
        )
        return _outbox(rows[0]) if rows else None

    async def due(
        self, recipient: str, now_ms: int, limit: int, exclude: set[bytes], *, latest_ms: int | None = None
    ) -> list[OutboxRow]:
        latest = _NO_LATEST if latest_ms is None else latest_ms
        rows = await self._db.fetchall(
            f"SELECT {_OUTBOX_COLS} FROM outbox WHERE state = ? AND recipient = ?"
            " AND (next_attempt_ms <= ? OR next_attempt_ms > ?) AND expires_at_ms > ? ORDER BY seq LIMIT ?",
            (int(DeliveryState.QUEUED), recipient, now_ms, latest, now_ms, limit + len(exclude)),
        )
        return [r for r in map(_outbox, rows) if r.message_id not in exclude][:limit]

    async def next_due_ms(self, recipient: str, exclude: set[bytes]) -> int | None:
        rows = await self._db.fetchall(
            "SELECT next_attempt_ms, message_id FROM outbox WHERE state = ? AND recipient = ?"
            " ORDER BY next_attempt_ms LIMIT ?",
            (int(DeliveryState.QUEUED), recipient, len(exclude) + 1),
        )
        return next((int(r[0]) for r in rows if bytes(r[1]) not in exclude), None)

    async def recipients_with_queued(self) -> list[str]:
        rows = await self._db.fetchall(
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
                f" FROM (VALUES {values}) AS v WHERE outbox.message_id = v.column1 AND outbox.state IN (?, ?)"
                " RETURNING message_id, recipient, digest, case_ref",
                [
                    int(DeliveryState.DELIVERED),
                    *(x for d in done for x in (d.message_id, d.receipt, d.delivered_at_ms)),
                    int(DeliveryState.QUEUED),
                    int(DeliveryState.EXPIRED),
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

        await self._db.transaction("outbox close", body)

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

        await self._db.transaction("outbox close", body)

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

        await self._db.transaction("outbox retry", body)

    async def expire(self, now_ms: int) -> list[bytes]:
        def body(tx: Tx) -> list[bytes]:
            rows = tx.fetchall(
                "UPDATE outbox SET state = ?, last_error = ? WHERE state = ? AND expires_at_ms <= ?"
                " RETURNING message_id, recipient, digest, case_ref",
                (
                    int(DeliveryState.EXPIRED),
                    EXPIRED,
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

        return await self._db.transaction("outbox expiry", body)

    async def unconfirmed(self, recipient: str, limit: int) -> list[Unconfirmed]:
        rows = await self._db.fetchall(
            "SELECT message_id, digest, expires_at_ms FROM outbox WHERE state = ? AND recipient = ?"
            " ORDER BY seq LIMIT ?",
            (int(DeliveryState.EXPIRED), recipient, limit),
        )
        return [Unconfirmed(bytes(r[0]), bytes(r[1]), int(r[2])) for r in rows]

    async def recipients_with_unconfirmed(self) -> list[str]:
        rows = await self._db.fetchall(
            "SELECT DISTINCT recipient FROM outbox WHERE state = ?", (int(DeliveryState.EXPIRED),)
        )
        return [r[0] for r in rows]

    async def mark_not_received(self, message_ids: Sequence[bytes], at_ms: int) -> None:
        if not message_ids:
            return
        marks = ", ".join("?" * len(message_ids))

        def body(tx: Tx) -> None:
            closed = tx.fetchall(
                f"UPDATE outbox SET state = ?, last_error = ? WHERE message_id IN ({marks}) AND state = ?"
                " RETURNING message_id, recipient, digest, case_ref",
                (int(DeliveryState.NOT_RECEIVED), NOT_RECEIVED, *message_ids, int(DeliveryState.EXPIRED)),
            )
            for message_id, recipient, digest, case_ref in sorted(closed, key=lambda r: bytes(r[0])):
                event = audit_events.not_received(
                    at_ms=at_ms,
                    recipient=recipient,
                    message_id=bytes(message_id),
                    digest=bytes(digest),
                    case_ref=case_ref,
                )
                tx.log(event, case_ref)

        await self._db.transaction("outbox reconciliation", body)

    async def get(self, message_id: bytes) -> OutboxRow | None:
        rows = await self._db.fetchall(f"SELECT {_OUTBOX_COLS} FROM outbox WHERE message_id = ?", (message_id,))
        return _outbox(rows[0]) if rows else None

    async def page(self, limit: int, before: int) -> list[OutboxRow]:
        rows = await self._db.fetchall(
            f"SELECT {_OUTBOX_COLS} FROM outbox WHERE seq < ? ORDER BY seq DESC LIMIT ?",
            (before or (1 << 62), limit),
        )
        return [_outbox(r) for r in rows]

    async def of_case(self, case_ref: str) -> list[OutboxRow]:
        rows = await self._db.fetchall(
            f"SELECT {_OUTBOX_COLS} FROM outbox WHERE case_ref = ? ORDER BY seq", (case_ref,)
        )
        return [_outbox(r) for r in rows]
