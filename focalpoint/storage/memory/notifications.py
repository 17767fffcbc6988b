"""The durable notification queue in the in-memory store (as ``focalpoint.storage.sqlite.notifications``;
the same orders and the same rules, nothing durable)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import partial

from focalpoint.storage.base import NewNotice, NoticeRow
from focalpoint.storage.memory.state import State, Tx, pause

__all__ = ["MemoryNotifications"]


class MemoryNotifications:
    def __init__(self, state: State) -> None:
        self._s = state

    async def enqueue(self, rows: Sequence[NewNotice]) -> None:
        if not rows:
            return

        def body(tx: Tx) -> None:
            for r in rows:
                if r.notice_id not in self._s.notices:
                    row = NoticeRow(
                        r.notice_id, r.channel, r.destination, r.event, r.case_ref, r.created_ms, 0, r.created_ms, ""
                    )
                    tx.writes.append(partial(self._s.notices.setdefault, r.notice_id, row))

        await self._s.write("notification enqueue", body)

    async def due(self, channel: str, now_ms: int, limit: int) -> list[NoticeRow]:
        await pause()
        rows = [
            r
            for r in self._s.notices.values()
            if r.channel == channel and not r.given_up_ms and r.next_attempt_ms <= now_ms
        ]
        return sorted(rows, key=lambda r: r.next_attempt_ms)[: max(limit, 0)]

    async def next_due_ms(self, channel: str) -> int | None:
        await pause()
        due = [r.next_attempt_ms for r in self._s.notices.values() if r.channel == channel and not r.given_up_ms]
        return min(due, default=None)

    async def _change(self, what: str, notice_id: str, **changes: object) -> None:
        def body(tx: Tx) -> None:
            row = self._s.notices.get(notice_id)
            if row is None:
                return
            if changes:
                tx.put(self._s.notices, notice_id, replace(row, **changes))  # type: ignore[arg-type]
            else:
                tx.drop(self._s.notices, notice_id)

        await self._s.write(what, body)

    async def delivered(self, notice_id: str) -> None:
        await self._change("notification delivered", notice_id)

    async def retry(self, notice_id: str, attempts: int, next_attempt_ms: int, error_class: str) -> None:
        await self._change(
            "notification retry",
            notice_id,
            attempts=attempts,
            next_attempt_ms=next_attempt_ms,
            last_error_class=error_class,
        )

    async def give_up(self, notice_id: str, attempts: int, at_ms: int, error_class: str) -> None:
        await self._change(
            "notification given up",
            notice_id,
            attempts=attempts,
            given_up_ms=max(at_ms, 1),
            last_error_class=error_class,
        )

    async def rows(self, channel: str = "") -> list[NoticeRow]:
        await pause()
        rows = [r for r in self._s.notices.values() if not channel or r.channel == channel]
        return sorted(rows, key=lambda r: (r.created_ms, r.notice_id))

    async def counts(self) -> dict[str, tuple[int, int]]:
        await pause()
        out: dict[str, tuple[int, int]] = {}
        for r in self._s.notices.values():
            queued, given_up = out.get(r.channel, (0, 0))
            out[r.channel] = (queued + (not r.given_up_ms), given_up + bool(r.given_up_ms))
        return dict(sorted(out.items()))
