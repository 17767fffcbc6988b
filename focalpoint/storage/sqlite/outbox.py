"""The outbox in SQLite: messages this node sends, each row committed with its audit event.

A message is two rows with one ``seq``: ``outbox`` (what was submitted, with the envelope and
the local copy: written once) and ``outbox_delivery`` (state, attempts, next attempt, last
error, receipt: the only row a retry or a close writes), so a retry rewrites a small row,
not the message (docs/adr/0010). Rows are read with their columns checked (``rows``): a damaged
one is a ``DamagedRow`` in a page and a ``DamagedData`` anywhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

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
from focalpoint.storage.sqlite.db import Database, Tx
from focalpoint.storage.sqlite.rows import BYTES, INT, TEXT, Column, bad_column, damaged_row
from focalpoint.v1 import envelope_pb2

__all__ = ["SqliteOutbox"]

log = structlog.get_logger("focalpoint.storage")

_OUTBOX_COLS = (
    "o.seq, o.message_id, o.recipient, o.peer_sequence, o.envelope, o.digest, o.local_copy, o.created_at_ms,"
    " o.expires_at_ms, d.state, d.attempts, d.next_attempt_ms, d.last_error, d.receipt, d.delivered_at_ms, o.case_ref"
)
# A message without its delivery row is listed (as damaged), never left out: hence LEFT JOIN.
_ROWS = f"SELECT {_OUTBOX_COLS} FROM outbox o LEFT JOIN outbox_delivery d ON d.seq = o.seq"
# The queued entries of one recipient, through the outbox_due index (tests/storage/test_schema.py
# holds these three queries to it).
_QUEUED = "FROM outbox_delivery d JOIN outbox o ON o.seq = d.seq WHERE d.state = ? AND d.recipient = ?"
DUE_SQL = (
    f"SELECT {_OUTBOX_COLS} {_QUEUED} AND (d.next_attempt_ms <= ? OR d.next_attempt_ms > ?)"
    " AND d.expires_at_ms > ? ORDER BY d.seq LIMIT ?"
)
NEXT_DUE_SQL = f"SELECT d.next_attempt_ms, o.message_id, d.seq {_QUEUED} ORDER BY d.next_attempt_ms LIMIT ?"
RECIPIENTS_SQL = "SELECT DISTINCT recipient FROM outbox_delivery WHERE state = ?"
QUEUED_SQL = (
    "SELECT d.recipient, COUNT(*), MIN(o.created_at_ms) FROM outbox_delivery d JOIN outbox o ON o.seq = d.seq"
    " WHERE d.state = ? GROUP BY d.recipient"
)
_COLUMNS: tuple[Column, ...] = (
    ("seq", INT, False),
    ("message_id", BYTES, False),
    ("recipient", TEXT, False),
    ("peer_sequence", INT, False),
    ("envelope", BYTES, False),
    ("digest", BYTES, False),
    ("local_copy", BYTES, False),
    ("created_at_ms", INT, False),
    ("expires_at_ms", INT, False),
    ("state", INT, False),
    ("attempts", INT, False),
    ("next_attempt_ms", INT, False),
    ("last_error", TEXT, False),
    ("receipt", BYTES, True),
    ("delivered_at_ms", INT, True),
    ("case_ref", TEXT, False),
)
# What the audit event closing an entry needs of its row.
_EVENT_COLUMNS: tuple[Column, ...] = (
    ("seq", INT, False),
    ("message_id", BYTES, False),
    ("recipient", TEXT, False),
    ("digest", BYTES, False),
    ("case_ref", TEXT, False),
)
_STATES = frozenset(int(s) for s in DeliveryState)
_QUEUED_STATE = int(DeliveryState.QUEUED)
_EXPIRED_STATE = int(DeliveryState.EXPIRED)
# What reconciliation needs of an EXPIRED entry.
_UNCONFIRMED_COLUMNS: tuple[Column, ...] = (
    ("seq", INT, False),
    ("message_id", BYTES, False),
    ("digest", BYTES, False),
    ("expires_at_ms", INT, False),
)
# A receipt closes a QUEUED entry, or settles an EXPIRED one (reconciliation).
_OPEN_STATES = (_QUEUED_STATE, _EXPIRED_STATE)
_NO_LATEST = (1 << 63) - 1  # no entry is scheduled after this


def _outbox(row: Any) -> OutboxRow | DamagedRow:
    """The stored row, or where it is and why it cannot be read."""
    if row[9] is None:
        reason = "its delivery state (outbox_delivery) is missing"
    else:
        reason = bad_column(row, _COLUMNS) or ("" if row[9] in _STATES else "column state holds an unknown state")
    if reason:
        message_id = row[1] if isinstance(row[1], bytes) else b""
        return DamagedRow(row[0], message_id, row[2] if isinstance(row[2], str) else "", reason)
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


def _sound(row: Any, path: Path) -> OutboxRow:
    """The stored row; raises DamagedData naming it when it cannot be read."""
    got = _outbox(row)
    if isinstance(got, DamagedRow):
        raise damaged_row(path, "outbox", got.seq, got.reason)
    return got


class SqliteOutbox:
    def __init__(self, db: Database) -> None:
        self._db = db
        # Queued rows found damaged: left out of delivery and expiry (``_set_aside``).
        self._damaged: set[int] = set()

    async def last_sequences(self) -> dict[str, int]:
        rows = await self._db.fetchall("SELECT recipient, MAX(peer_sequence) FROM outbox GROUP BY recipient")
        return {r[0]: r[1] for r in rows}

    async def add(self, rows: Sequence[NewOutbox]) -> list[bytes]:
        if not rows:
            return []
        values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(rows))
        params: list[Any] = []
        for r in rows:
            params += [
                r.message_id,
                r.client_request_id,
                r.recipient,
                r.peer_sequence,
                r.digest,
                r.created_at_ms,
                r.expires_at_ms,
                r.case_ref,
                r.message_kind,
                r.envelope,
                r.local_copy,
            ]
        by_id = {r.message_id: r for r in rows}

        def body(tx: Tx) -> list[bytes]:
            inserted = tx.fetchall(
                "INSERT INTO outbox (message_id, client_request_id, recipient, peer_sequence, digest, created_at_ms,"
                " expires_at_ms, case_ref, message_kind, envelope, local_copy)"
                f" VALUES {values} ON CONFLICT (client_request_id) DO NOTHING RETURNING seq, message_id",
                params,
            )
            if inserted:  # queued, first due when created
                tx.fetchall(
                    "INSERT INTO outbox_delivery (seq, recipient, expires_at_ms, state, next_attempt_ms) VALUES "
                    + ", ".join(["(?, ?, ?, ?, ?)"] * len(inserted)),
                    [
                        x
                        for seq, message_id in inserted
                        for r in (by_id[bytes(message_id)],)
                        for x in (seq, r.recipient, r.expires_at_ms, _QUEUED_STATE, r.created_at_ms)
                    ],
                )
            done = {bytes(row[1]) for row in inserted}
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

    async def _sound_rows(self, where: str, params: Sequence[Any]) -> list[OutboxRow]:
        rows = await self._db.fetch_checked(f"{_ROWS} {where}", params)
        return [_sound(r, self._db.path) for r in rows]

    async def by_client_request(self, client_request_id: str) -> OutboxRow | None:
        rows = await self._sound_rows("WHERE o.client_request_id = ?", (client_request_id,))
        return rows[0] if rows else None

    async def due(
        self, recipient: str, now_ms: int, limit: int, exclude: set[bytes], *, latest_ms: int | None = None
    ) -> list[OutboxRow]:
        latest = _NO_LATEST if latest_ms is None else latest_ms
        # Rows set aside as damaged come first in seq order and never leave: they take no slot.
        wanted = limit + len(exclude) + len(self._damaged)
        rows = await self._db.fetch_checked(DUE_SQL, (_QUEUED_STATE, recipient, now_ms, latest, now_ms, wanted))
        sound: list[OutboxRow] = []
        known = len(self._damaged)
        for row in rows:
            got = _outbox(row)
            if isinstance(got, DamagedRow):
                self._set_aside(got.seq, got.reason)
            elif got.message_id not in exclude:
                sound.append(got)
        if len(sound) < limit and len(rows) == wanted and len(self._damaged) > known:  # newly found damaged rows
            return await self.due(recipient, now_ms, limit, exclude, latest_ms=latest_ms)
        return sound[:limit]

    async def next_due_ms(self, recipient: str, exclude: set[bytes]) -> int | None:
        skipped = len(exclude) + len(self._damaged)
        rows = await self._db.fetch_checked(NEXT_DUE_SQL, (_QUEUED_STATE, recipient, skipped + 1))
        return next(
            (int(r[0]) for r in rows if r[2] not in self._damaged and isinstance(r[0], int) and r[1] not in exclude),
            None,
        )

    async def recipients_with_queued(self) -> list[str]:
        rows = await self._db.fetchall(RECIPIENTS_SQL, (_QUEUED_STATE,))
        return [r[0] for r in rows]

    async def queued_by_recipient(self) -> dict[str, tuple[int, int]]:
        rows = await self._db.fetchall(QUEUED_SQL, (_QUEUED_STATE,))
        return {str(r[0]): (int(r[1]), int(r[2])) for r in rows}

    def _set_aside(self, seq: int, reason: str) -> None:
        """Leave a damaged queued row out of delivery and expiry (said once per row and process):
        one unreadable row must not hold up the rest of the queue."""
        if seq not in self._damaged:
            self._damaged.add(seq)
            log.error(
                "outbox_row_damaged",
                row=seq,
                reason=reason,
                action="left out of delivery and expiry; restore the database from a backup (docs/operations.md §8)",
            )

    def _closing(
        self,
        tx: Tx,
        where: str,
        params: Sequence[Any],
        *,
        states: tuple[int, ...] = (_QUEUED_STATE,),
        skip_damaged: bool = False,
    ) -> list[tuple[int, bytes, str, bytes, str]]:
        """(seq, message id, recipient, digest, case_ref) of the entries in ``states`` (QUEUED unless
        said) matching ``where``, oldest first, for the events that close them; raises DamagedData
        naming a row that cannot give them (with ``skip_damaged``: sets it aside instead)."""
        marks = ", ".join("?" * len(states))
        rows = tx.fetch_checked(
            "SELECT o.seq, o.message_id, o.recipient, o.digest, o.case_ref FROM outbox o"
            f" JOIN outbox_delivery d ON d.seq = o.seq WHERE d.state IN ({marks}) AND {where} ORDER BY o.seq",
            [*states, *params],
        )
        sound = []
        for row in rows:
            reason = bad_column(row, _EVENT_COLUMNS)
            if not reason:
                sound.append(row)
            elif skip_damaged:
                self._set_aside(row[0], reason)
            else:
                raise damaged_row(self._db.path, "outbox", row[0], reason)
        return sound

    async def mark_delivered(self, done: Sequence[Delivered]) -> None:
        if not done:
            return
        by_id = {d.message_id: d for d in done}  # a message id given twice: the last one counts

        def body(tx: Tx) -> None:
            closing = self._closing(
                tx,
                f"o.message_id IN ({', '.join('?' * len(by_id))})",
                list(by_id),
                states=_OPEN_STATES,
                skip_damaged=True,
            )
            if not closing:
                return
            params: list[Any] = [int(DeliveryState.DELIVERED)]
            for seq, message_id, *_ in closing:
                params += [seq, by_id[message_id].receipt, by_id[message_id].delivered_at_ms]
            tx.fetchall(
                "UPDATE outbox_delivery SET state = ?, receipt = v.column2, delivered_at_ms = v.column3,"
                f" last_error = '' FROM (VALUES {', '.join(['(?, ?, ?)'] * len(closing))}) AS v"
                " WHERE outbox_delivery.seq = v.column1",
                params,
            )
            for _, message_id, recipient, digest, case_ref in sorted(closing, key=lambda r: r[1]):
                d = by_id[message_id]
                tx.log(
                    audit_events.receipted(
                        at_ms=d.delivered_at_ms,
                        recipient=recipient,
                        message_id=d.message_id,
                        digest=digest,
                        case_ref=case_ref,
                        receipt=d.receipt,
                        peer_log_index=d.peer_log_index,
                    ),
                    case_ref,
                )
                # The receipt starts the clock of a request on the link: its summary is rebuilt.
                tx.fetchall(
                    "UPDATE case_summaries SET generation = generation + 1 WHERE link_id ="
                    " (SELECT link_id FROM case_links WHERE case_ref = ? AND partner_node = ?)",
                    (case_ref, recipient),
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
            for seq, _, recipient, digest, case_ref in self._closing(tx, "o.message_id = ?", (message_id,)):
                tx.fetchall(
                    "UPDATE outbox_delivery SET state = ?, last_error = ?, attempts = attempts + 1 WHERE seq = ?",
                    (int(state), error, seq),
                )
                event = audit_events.refused_by_peer(
                    at_ms=at_ms,
                    recipient=recipient,
                    message_id=message_id,
                    digest=digest,
                    case_ref=case_ref,
                    code=code,
                )
                tx.log(event, case_ref)

        await self._db.transaction("outbox close", body)

    async def schedule_retry(self, items: Sequence[tuple[bytes, int, str]]) -> None:
        if not items:
            return
        plan = {message_id: (next_ms, error) for message_id, next_ms, error in items}  # the last one counts
        values = ", ".join(["(?, ?, ?)"] * len(plan))

        def body(tx: Tx) -> None:
            # Only the small delivery row changes: the message's own row (its blobs) is not written.
            tx.fetchall(
                "UPDATE outbox_delivery SET attempts = attempts + 1, next_attempt_ms = v.column2,"
                f" last_error = v.column3 FROM (VALUES {values}) AS v, outbox o"
                " WHERE o.message_id = v.column1 AND outbox_delivery.seq = o.seq AND outbox_delivery.state = ?",
                [*(x for message_id, (at, error) in plan.items() for x in (message_id, at, error)), _QUEUED_STATE],
            )

        await self._db.transaction("outbox retry", body)

    async def expire(self, now_ms: int) -> list[bytes]:
        def body(tx: Tx) -> list[bytes]:
            rows = self._closing(tx, "d.expires_at_ms <= ?", (now_ms,), skip_damaged=True)
            for start in range(0, len(rows), 500):  # only the rows whose EXPIRED event is written
                chunk = rows[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                tx.fetchall(
                    f"UPDATE outbox_delivery SET state = ?, last_error = ? WHERE seq IN ({marks})",
                    [int(DeliveryState.EXPIRED), EXPIRED, *(r[0] for r in chunk)],
                )
            for _, message_id, recipient, digest, case_ref in sorted(rows, key=lambda r: r[1]):
                tx.log(
                    audit_events.expired(
                        at_ms=now_ms, recipient=recipient, message_id=message_id, digest=digest, case_ref=case_ref
                    ),
                    case_ref,
                )
            return [r[1] for r in rows]

        return await self._db.transaction("outbox expiry", body)

    async def unconfirmed(self, recipient: str, limit: int) -> list[Unconfirmed]:
        wanted = limit + len(self._damaged)
        rows = await self._db.fetch_checked(
            "SELECT o.seq, o.message_id, o.digest, o.expires_at_ms FROM outbox_delivery d"
            " JOIN outbox o ON o.seq = d.seq WHERE d.state = ? AND d.recipient = ? ORDER BY d.seq LIMIT ?",
            (_EXPIRED_STATE, recipient, wanted),
        )
        out: list[Unconfirmed] = []
        known = len(self._damaged)
        for row in rows:
            reason = bad_column(row, _UNCONFIRMED_COLUMNS)
            if reason:
                self._set_aside(row[0], reason)
            elif row[0] not in self._damaged:
                out.append(Unconfirmed(row[1], row[2], row[3]))
        if len(out) < limit and len(rows) == wanted and len(self._damaged) > known:  # newly found damaged rows
            return await self.unconfirmed(recipient, limit)
        return out[:limit]

    async def recipients_with_unconfirmed(self) -> list[str]:
        rows = await self._db.fetchall(
            "SELECT DISTINCT recipient FROM outbox_delivery WHERE state = ?", (_EXPIRED_STATE,)
        )
        return [r[0] for r in rows]

    async def mark_not_received(self, message_ids: Sequence[bytes], at_ms: int) -> None:
        if not message_ids:
            return
        ids = list(dict.fromkeys(message_ids))

        def body(tx: Tx) -> None:
            where = f"o.message_id IN ({', '.join('?' * len(ids))})"
            closing = self._closing(tx, where, ids, states=(_EXPIRED_STATE,), skip_damaged=True)
            if not closing:
                return
            tx.fetchall(
                f"UPDATE outbox_delivery SET state = ?, last_error = ? WHERE seq IN ({', '.join('?' * len(closing))})",
                [int(DeliveryState.NOT_RECEIVED), NOT_RECEIVED, *(row[0] for row in closing)],
            )
            for _, message_id, recipient, digest, case_ref in sorted(closing, key=lambda r: r[1]):
                event = audit_events.not_received(
                    at_ms=at_ms, recipient=recipient, message_id=message_id, digest=digest, case_ref=case_ref
                )
                tx.log(event, case_ref)

        await self._db.transaction("outbox reconciliation", body)

    async def get(self, message_id: bytes) -> OutboxRow | None:
        rows = await self._sound_rows("WHERE o.message_id = ?", (message_id,))
        return rows[0] if rows else None

    async def page(self, limit: int, before: int) -> list[OutboxRow | DamagedRow]:
        rows = await self._db.fetch_checked(
            f"{_ROWS} WHERE o.seq < ? ORDER BY o.seq DESC LIMIT ?", (before or (1 << 62), limit)
        )
        return [_outbox(r) for r in rows]

    async def since(self, after: int, limit: int) -> list[OutboxRow | DamagedRow]:
        rows = await self._db.fetch_checked(f"{_ROWS} WHERE o.seq > ? ORDER BY o.seq LIMIT ?", (after, limit))
        return [_outbox(r) for r in rows]

    async def of_case(self, case_ref: str) -> list[OutboxRow]:
        return await self._sound_rows("WHERE o.case_ref = ? ORDER BY o.seq", (case_ref,))
