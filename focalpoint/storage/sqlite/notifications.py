"""The durable notification queue in SQLite (``focalpoint.storage.base.NotificationStore``): one
row per notification to send on one channel to one destination, written when its event happened,
deleted once delivered; a row given up stays (``given_up_ms``), to be counted, and is never due
again. Reads are checked column by column (``rows``): a damaged row raises ``DamagedData`` naming
the table and its id, never its content."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from focalpoint.storage.base import NewNotice, NoticeRow
from focalpoint.storage.sqlite.db import Database, Tx
from focalpoint.storage.sqlite.rows import INT, TEXT, Column, bad_column, damaged_row

__all__ = ["SqliteNotifications"]

_COLS = (
    "notice_id, channel, destination, event, case_ref, created_ms, attempts, next_attempt_ms, last_error_class,"
    " given_up_ms"
)
_COLUMNS: tuple[Column, ...] = (
    ("notice_id", TEXT, False),
    ("channel", TEXT, False),
    ("destination", TEXT, False),
    ("event", TEXT, False),
    ("case_ref", TEXT, False),
    ("created_ms", INT, False),
    ("attempts", INT, False),
    ("next_attempt_ms", INT, False),
    ("last_error_class", TEXT, False),
    ("given_up_ms", INT, False),
)


class SqliteNotifications:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _row(self, row: Any) -> NoticeRow:
        reason = bad_column(row, _COLUMNS)
        if reason:
            key = row[0] if isinstance(row[0], str) else "?"
            raise damaged_row(self._db.path, "notification_queue", key, reason)
        return NoticeRow(*row)

    async def enqueue(self, rows: Sequence[NewNotice]) -> None:
        if not rows:
            return

        def body(tx: Tx) -> None:
            tx.db.executemany(
                f"INSERT INTO notification_queue ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, 0, ?, '', 0)"
                " ON CONFLICT (notice_id) DO NOTHING",
                [
                    (r.notice_id, r.channel, r.destination, r.event, r.case_ref, r.created_ms, r.created_ms)
                    for r in rows
                ],
            )

        await self._db.transaction("notification enqueue", body)

    async def due(self, channel: str, now_ms: int, limit: int) -> list[NoticeRow]:
        rows = await self._db.fetch_checked(
            f"SELECT {_COLS} FROM notification_queue INDEXED BY notification_due"
            " WHERE channel = ? AND given_up_ms = 0 AND next_attempt_ms <= ? ORDER BY next_attempt_ms LIMIT ?",
            (channel, now_ms, limit),
        )
        return [self._row(r) for r in rows]

    async def next_due_ms(self, channel: str) -> int | None:
        rows = await self._db.fetchall(
            "SELECT MIN(next_attempt_ms) FROM notification_queue WHERE channel = ? AND given_up_ms = 0", (channel,)
        )
        value = rows[0][0] if rows else None
        return value if isinstance(value, int) else None

    async def delivered(self, notice_id: str) -> None:
        def body(tx: Tx) -> None:
            tx.fetchall("DELETE FROM notification_queue WHERE notice_id = ?", (notice_id,))

        await self._db.transaction("notification delivered", body)

    async def retry(self, notice_id: str, attempts: int, next_attempt_ms: int, error_class: str) -> None:
        def body(tx: Tx) -> None:
            tx.fetchall(
                "UPDATE notification_queue SET attempts = ?, next_attempt_ms = ?, last_error_class = ?"
                " WHERE notice_id = ?",
                (attempts, next_attempt_ms, error_class, notice_id),
            )

        await self._db.transaction("notification retry", body)

    async def give_up(self, notice_id: str, attempts: int, at_ms: int, error_class: str) -> None:
        def body(tx: Tx) -> None:
            tx.fetchall(
                "UPDATE notification_queue SET attempts = ?, given_up_ms = ?, last_error_class = ? WHERE notice_id = ?",
                (attempts, max(at_ms, 1), error_class, notice_id),
            )

        await self._db.transaction("notification given up", body)

    async def rows(self, channel: str = "") -> list[NoticeRow]:
        where, params = ("WHERE channel = ?", (channel,)) if channel else ("", ())
        rows = await self._db.fetch_checked(
            f"SELECT {_COLS} FROM notification_queue {where} ORDER BY created_ms, notice_id", params
        )
        return [self._row(r) for r in rows]

    async def counts(self) -> dict[str, tuple[int, int]]:
        rows = await self._db.fetchall(
            "SELECT channel, SUM(given_up_ms = 0), SUM(given_up_ms != 0) FROM notification_queue"
            " GROUP BY channel ORDER BY channel"
        )
        return {str(r[0]): (int(r[1]), int(r[2])) for r in rows}
