"""The inbox in SQLite: (sender, message id) is the replay table; receipts are signed inside
the storing transaction (receive steps 14–16). Rows are read with their columns checked
(``rows``): a damaged one is a ``DamagedRow`` in a page and a ``DamagedData`` anywhere else."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from focalpoint.audit import events as audit_events
from focalpoint.errors import StorageError
from focalpoint.storage.base import DamagedRow, InboxOutcome, InboxRow, NewInbox, ReceiptSigner, inbox_outcomes
from focalpoint.storage.sqlite.db import Database, Tx
from focalpoint.storage.sqlite.rows import BYTES, INT, TEXT, Column, bad_column, damaged_row

__all__ = ["SqliteInbox"]

_INBOX_COLS = "seq, sender, message_id, envelope, digest, local_copy, received_at_ms, receipt, case_ref"
_COLUMNS: tuple[Column, ...] = (
    ("seq", INT, False),
    ("sender", TEXT, False),
    ("message_id", BYTES, False),
    ("envelope", BYTES, False),
    ("digest", BYTES, False),
    ("local_copy", BYTES, False),
    ("received_at_ms", INT, False),
    ("receipt", BYTES, False),
    ("case_ref", TEXT, False),
)

_RECEIPT_COLUMNS: tuple[Column, ...] = (("seq", INT, False), ("message_id", BYTES, False), ("receipt", BYTES, False))
_REPLAY_COLUMNS: tuple[Column, ...] = (
    ("sender", TEXT, False),
    ("message_id", BYTES, False),
    ("digest", BYTES, False),
    ("receipt", BYTES, False),
)


def _inbox(row: Any) -> InboxRow | DamagedRow:
    """The stored row, or where it is and why it cannot be read."""
    reason = bad_column(row, _COLUMNS)
    if reason:
        message_id = row[2] if isinstance(row[2], bytes) else b""
        return DamagedRow(row[0], message_id, row[1] if isinstance(row[1], str) else "", reason)
    return InboxRow(*row)


class SqliteInbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, rows: Sequence[NewInbox], sign: ReceiptSigner) -> list[InboxOutcome]:
        """Steps 14–16 in one transaction: replay check, DELIVERED events, receipts naming them."""
        if not rows:
            return []

        def body(tx: Tx) -> list[InboxOutcome]:
            keys = ", ".join(["(?, ?)"] * len(rows))
            found = tx.fetchall(
                f"SELECT sender, message_id, digest, receipt FROM inbox WHERE (sender, message_id) IN ({keys})",
                [x for r in rows for x in (r.sender, r.message_id)],
            )
            for row in found:  # a replay is answered from the stored row: it must be readable
                reason = bad_column(row, _REPLAY_COLUMNS)
                if reason:
                    raise damaged_row(self._db.path, "inbox", "answering a replay", reason)
            stored = {(s, bytes(m)): (bytes(d), bytes(rc)) for s, m, d, rc in found}
            fresh: list[tuple[NewInbox, int]] = []
            for r in rows:
                key = (r.sender, r.message_id)
                if key in stored:
                    continue
                stored[key] = (r.digest, b"")  # a second copy in the same call is a duplicate of this one
                index = tx.log(
                    audit_events.delivered(
                        at_ms=r.received_at_ms,
                        sender=r.sender,
                        message_id=r.message_id,
                        digest=r.digest,
                        case_ref=r.case_ref,
                        kind=r.message_kind,
                        sequence=r.sequence,
                    ),
                    r.case_ref,
                )
                fresh.append((r, index))
            receipts = list(sign(fresh)) if fresh else []
            if len(receipts) != len(fresh):
                raise StorageError(f"{self._db.path}: the receipt signer returned {len(receipts)} for {len(fresh)}")
            made: dict[tuple[str, bytes], bytes] = {}
            if fresh:
                values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(fresh))
                params: list[Any] = []
                for (r, _), receipt in zip(fresh, receipts, strict=True):
                    made[(r.sender, r.message_id)] = receipt
                    params += [
                        r.sender,
                        r.message_id,
                        r.envelope,
                        r.digest,
                        r.local_copy,
                        r.received_at_ms,
                        r.expires_at_ms,
                        receipt,
                        r.case_ref,
                        r.message_kind,
                    ]
                tx.fetchall(
                    "INSERT INTO inbox (sender, message_id, envelope, digest, local_copy, received_at_ms,"
                    f" expires_at_ms, receipt, case_ref, message_kind) VALUES {values}",
                    params,
                )
            return inbox_outcomes(rows, stored, made)

        return await self._db.transaction("inbox write", body)

    async def _sound_rows(self, where: str, params: Sequence[Any]) -> list[InboxRow]:
        """The rows ``where`` selects; raises DamagedData naming one that cannot be read."""
        out: list[InboxRow] = []
        for r in map(_inbox, await self._db.fetch_checked(f"SELECT {_INBOX_COLS} FROM inbox {where}", params)):
            if isinstance(r, DamagedRow):
                raise damaged_row(self._db.path, "inbox", r.seq, r.reason)
            out.append(r)
        return out

    async def get(self, sender: str, message_id: bytes) -> InboxRow | None:
        rows = await self._sound_rows("WHERE sender = ? AND message_id = ?", (sender, message_id))
        return rows[0] if rows else None

    async def receipts(self, sender: str, message_ids: Sequence[bytes]) -> dict[bytes, bytes | None]:
        if not message_ids:
            return {}
        marks = ", ".join("?" * len(message_ids))
        rows = await self._db.fetch_checked(
            f"SELECT seq, message_id, receipt FROM inbox WHERE sender = ? AND message_id IN ({marks})",
            (sender, *message_ids),
        )
        # A row is found by its (sender, message id), so those two are whole; its receipt may not be.
        return {bytes(r[1]): None if bad_column(r, _RECEIPT_COLUMNS) else bytes(r[2]) for r in rows}

    async def find(self, message_id: bytes) -> list[InboxRow]:
        return await self._sound_rows("WHERE message_id = ?", (message_id,))

    async def page(self, limit: int, before: int) -> list[InboxRow | DamagedRow]:
        rows = await self._db.fetch_checked(
            f"SELECT {_INBOX_COLS} FROM inbox WHERE seq < ? ORDER BY seq DESC LIMIT ?",
            (before or (1 << 62), limit),
        )
        return [_inbox(r) for r in rows]

    async def since(self, after: int, limit: int) -> list[InboxRow | DamagedRow]:
        rows = await self._db.fetch_checked(
            f"SELECT {_INBOX_COLS} FROM inbox WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
        )
        return [_inbox(r) for r in rows]

    async def of_case(self, case_ref: str) -> list[InboxRow]:
        return await self._sound_rows("WHERE case_ref = ? ORDER BY seq", (case_ref,))

    async def count(self) -> int:
        rows = await self._db.fetchall("SELECT COUNT(*) FROM inbox")
        return int(rows[0][0])
