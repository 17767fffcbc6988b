"""Anomaly rules over reads of cases: against corruption and leaks, an access pattern a
supervisor should look at raises an alert (an ANOMALY audit event and a notification), never a
refusal. Pure: the caller passes each read in, with its time.

- ``read_without_assignment``: a case officer read a case that has officers assigned and they are
  not one of them, or a case no unit owns yet;
- ``bulk_reads``: one user read more than ``bulk_limit`` distinct cases within an hour, in any
  view (once per hour and user);
- ``restricted_read``: any read of a restricted case's content;
- ``read_after_closure``: a read of a closed case's content.

The first, third and fourth look at reads of content (the FULL and REPATRIATION views); an
operator's routing view of a closed or restricted case carries no name and no content.

The hourly window lives in memory: a restart forgets it, and the audit log still holds every read
(``focalpoint case access-review``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from focalpoint.people.permissions import Purpose

__all__ = ["RULES", "Read", "Watch"]

RULES = ("read_without_assignment", "bulk_reads", "restricted_read", "read_after_closure")
_HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class Read:
    user_id: str
    link_id: str
    at_ms: int
    purpose: Purpose
    owned: bool  # the link has an owning unit
    assigned: frozenset[str]  # the officers assigned to the link (empty: none named)
    restricted: bool
    closed: bool
    content: bool = True  # the view served carries case content (FULL, REPATRIATION)


class Watch:
    def __init__(self, *, bulk_limit: int = 20, window_ms: int = _HOUR_MS, max_users: int = 10_000) -> None:
        self._limit = bulk_limit
        self._window = window_ms
        self._max_users = max_users
        self._seen: dict[str, deque[tuple[int, str]]] = {}
        self._bulk_alerted: dict[str, int] = {}

    def observe(self, read: Read) -> list[str]:
        """The rules this read fires, in ``RULES`` order."""
        fired: list[str] = []
        if (
            read.content
            and read.purpose is Purpose.CASE_WORK
            and (not read.owned or (read.assigned and read.user_id not in read.assigned))
        ):
            fired.append("read_without_assignment")
        if self._bulk(read):
            fired.append("bulk_reads")
        if read.content and read.restricted:
            fired.append("restricted_read")
        if read.content and read.closed:
            fired.append("read_after_closure")
        return fired

    def distinct(self, user_id: str) -> int:
        return len({link for _, link in self._seen.get(user_id, ())})

    def _bulk(self, read: Read) -> bool:
        if read.user_id not in self._seen and len(self._seen) >= self._max_users:
            self._seen.pop(next(iter(self._seen)))  # bounded memory: forget the oldest user
        seen = self._seen.setdefault(read.user_id, deque(maxlen=4096))
        seen.append((read.at_ms, read.link_id))
        while seen and seen[0][0] <= read.at_ms - self._window:
            seen.popleft()
        if len({link for _, link in seen}) <= self._limit:
            return False
        last = self._bulk_alerted.get(read.user_id)
        if last is not None and read.at_ms - last < self._window:
            return False
        self._bulk_alerted[read.user_id] = read.at_ms
        return True
