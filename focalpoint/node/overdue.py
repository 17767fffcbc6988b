"""Overdue deadlines by request kind, for the operations listener's gauge
``focalpoint_deadlines_overdue{kind, owed_by}`` (``focalpoint.server.metrics``).

Why this module exists: a deadline ladder tells the people of one case; an operator watching the
node wants the count, to alert on a backlog before anyone phones. The count is the ageing report's
(``focalpoint.cases.ageing.open_requests``, active links only, ``overdue_ms > 0``), read from the
stored link summaries (docs/adr/0019), so the gauge, ``report ageing`` and the worklist can never
disagree on what is overdue.

Why a cache: reading every summary costs about 20 µs a link — two seconds at 100,000 links, too
much for every scrape (Prometheus scrapes every 15 s by default, and the walk runs on the node's
event loop). So a count is kept with the node-clock time it was taken at; a scrape that finds it
older than ``max_age_ms`` starts one walk (never two at once) and waits for it at most ``wait_s``:
a small store is counted afresh at each scrape, a large one serves the previous count while the
walk finishes, and ``focalpoint_deadlines_overdue_age_seconds`` says how old the count is.

Labels come from fixed lists only: the request kinds of the deadline table and who owes the
answer (``us`` or ``partner``). Never a case reference, a unit, a partner or a person.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

import structlog

from focalpoint.cases.ageing import KIND, open_requests
from focalpoint.cases.stages import ACTIVE
from focalpoint.cases.summary import SummaryView
from focalpoint.errors import FocalpointError
from focalpoint.node.casework import CaseWork
from focalpoint.node.ports import Clock
from focalpoint.node.summaries import Summaries
from focalpoint.storage.base import Store

__all__ = ["KINDS", "OTHER", "OWED_BY", "OverdueCount", "OverdueDeadlines"]

log = structlog.get_logger("focalpoint.node")

KINDS: tuple[str, ...] = KIND.values
"""The ``kind`` label's values: every request kind with a deadline."""
OTHER = "other"
"""The ``kind`` label of a request whose kind is not in ``KINDS`` (never expected: kept so that no
label value ever comes from stored data)."""
OWED_BY = ("us", "partner")
"""The ``owed_by`` label's values: this node owes the answer (the partner asked), or the partner does."""


@dataclasses.dataclass(frozen=True, slots=True)
class OverdueCount:
    """Overdue open requests by (kind, owed_by) at ``at_ms``; ``unreadable`` links were left out."""

    at_ms: int
    counts: tuple[tuple[tuple[str, str], int], ...]
    unreadable: int = 0

    def series(self) -> list[tuple[tuple[str, str], int]]:
        """Every (kind, owed_by) of the fixed lists with its count, zeros included: an alert on a
        series that was absent until the first overdue request would not be seen to work."""
        got = dict(self.counts)
        kinds = KINDS + ((OTHER,) if any(k == OTHER for k, _ in got) else ())
        return [((kind, by), got.get((kind, by), 0)) for kind in kinds for by in OWED_BY]


_Late = list[tuple[str, str]]


def _overdue_of(now_ms: int) -> Callable[[SummaryView], _Late | None]:
    """The projection of one link's summary: (kind, owed_by) of each overdue open request."""

    def project(view: SummaryView) -> _Late | None:
        if view.closed or view.stage not in ACTIVE:
            return None
        late = [
            (r.kind if r.kind in KINDS else OTHER, "partner" if r.we_asked else "us")
            for r in open_requests(view.open_tracked(), view.done_map(), now_ms)
            if r.overdue_ms > 0
        ]
        return late or None

    return project


class OverdueDeadlines:
    """The overdue count, taken from the link summaries and kept for ``max_age_ms`` of the node's clock."""

    def __init__(self, *, work: CaseWork, store: Store, clock_ms: Clock, max_age_ms: int = 60_000) -> None:
        self._summaries = Summaries(work=work, store=store, clock_ms=clock_ms)
        self._clock = clock_ms
        self._max_age_ms = max_age_ms
        self._last: OverdueCount | None = None
        self._walk: asyncio.Task[OverdueCount | None] | None = None

    @property
    def last(self) -> OverdueCount | None:
        """The latest count taken (None before the first)."""
        return self._last

    def _started(self) -> asyncio.Task[OverdueCount | None]:
        """The walk running, or a new one (never two at once)."""
        if self._walk is None or self._walk.done():
            self._walk = asyncio.get_running_loop().create_task(self._count())
        return self._walk

    async def count(self) -> OverdueCount | None:
        """Walk every link's summary now (joining a walk already running); a walk that fails
        (the store) is logged and leaves the previous count, returned instead."""
        return await asyncio.shield(self._started())

    async def _count(self) -> OverdueCount | None:
        now = self._clock()
        project = _overdue_of(now)
        try:
            found, unreadable = await self._summaries.every(None, project)
        except FocalpointError as e:  # the gauge keeps its last value and says how old it is
            log.warning("overdue_count_failed", error=type(e).__name__)
            return self._last
        counts: dict[tuple[str, str], int] = {}
        for late in found:
            for key in late:
                counts[key] = counts.get(key, 0) + 1
        result = OverdueCount(now, tuple(sorted(counts.items())), unreadable)
        self._last = result
        return result

    async def read(self, wait_s: float = 1.0) -> OverdueCount | None:
        """The count for a scrape: the kept one while it is younger than ``max_age_ms``, else a new
        walk waited for at most ``wait_s`` (the kept one, or None before any, when it takes longer:
        the walk goes on and the next scrape gets it)."""
        last = self._last
        if last is not None and 0 <= self._clock() - last.at_ms < self._max_age_ms:
            return last
        try:
            return await asyncio.wait_for(asyncio.shield(self._started()), wait_s)
        except TimeoutError:
            return self._last

    def close(self) -> None:
        if self._walk is not None and not self._walk.done():
            self._walk.cancel()
