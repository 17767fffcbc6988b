"""Link summaries kept current for the reports and the deadline scan (docs/adr/0019).

Why this module exists: the indicators, the ageing report and the deadline scan each need every
link's facts, requests and clocks; folding every link's events for each of them costs about a
millisecond a link, which is minutes for a year's indicators over 100,000 links and a scan that
grows with the store. So each link's ``LinkSummary`` (``focalpoint.cases.summary``) is stored,
sealed under the storage key, and read back in pages.

A summary is built by the same functions as the slow path (fold, ``tracked_requests``,
``link_facts``, ``done_steps``) and stored only if the link's generation is still the one read
before its events were (the store moves it on every write to the link and on every receipt for
one of its messages): a summary of data that changed meanwhile is dropped, never stored. It is
current while its generation, the agreement rules it was built under (``CaseWork.rules_context``)
and its wake-up time (a ladder's next rung, a closure taking effect) all still hold; a summary
that is not current, does not open, or is of another shape is built again from the events,
which stay the only source of truth. Losing every summary costs time, never data.

The worklist reads the due dates of one page of links from their summaries too (``owed``): one
read of their rows, each current summary opened (about 10 µs), not one fold per link.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TypeVar

import structlog

from focalpoint.cases.events import Event
from focalpoint.cases.indicators import link_facts, span
from focalpoint.cases.requests import Owed, TrackedRequest, done_steps, owed, tracked_requests
from focalpoint.cases.stages import Side, Stage
from focalpoint.cases.state import LinkState
from focalpoint.cases.summary import LinkSummary, StaleSummary, SummaryView, encode, read, wake_ms
from focalpoint.errors import DamagedData, UsageError
from focalpoint.node.casework import CaseWork
from focalpoint.node.ports import Clock
from focalpoint.storage.base import DamagedLink, LinkRow, NewSummary, Store, SummaryRow

__all__ = ["MAX_LINKS", "Summaries", "link_requests", "summarise"]

log = structlog.get_logger("focalpoint.node")
T = TypeVar("T")

_PAGE = 2000
_DAY_MS = 86_400_000
MAX_LINKS = 1_000_000
"""Links read for one report at most (the bound keeps a call finite)."""


async def link_requests(
    work: CaseWork, store: Store, link: LinkRow, events: Sequence[Event], state: LinkState
) -> list[TrackedRequest]:
    """The link's requests with their clocks (``tracked_requests``), started at the receipts the
    node holds; shared by the deadline scan, ``case deadlines`` and the summaries, so all read the
    same clocks."""
    agreement, case_rules = work.agreement_deadlines(link)
    return tracked_requests(
        events,
        receipts=await _receipts(store, link),
        agreement=agreement,
        case_rules=case_rules,
        ignore=frozenset(f.message_id for f in state.flagged),
    )


async def _receipts(store: Store, link: LinkRow) -> dict[bytes, int]:
    """When the recipient signed for each message of the link: the partner's receipt that closed
    our outbox row, our own receipt when we stored the partner's message."""
    out: dict[bytes, int] = {}
    for sent in await store.outbox.of_case(link.case_ref):
        if sent.recipient == link.partner_node and sent.delivered_at_ms is not None:
            out[sent.message_id] = sent.delivered_at_ms
    for received in await store.inbox.of_case(link.case_ref):
        if received.sender == link.partner_node:
            out[received.message_id] = received.received_at_ms
    return out


def summarise(
    work: CaseWork, row: LinkRow, events: Sequence[Event], state: LinkState, tracked: Sequence[TrackedRequest]
) -> LinkSummary:
    """The summary of a link from what the slow path read of it."""
    rules = work.rules(row)
    settles = None
    if state.stage is Stage.CLOSING and state.closure_at_ms:
        settles = state.closure_at_ms + rules.closure_response_days * _DAY_MS
    facts = link_facts(state, events, case_id=row.case_id, rules=rules, tracked=tracked)
    first, last = span(facts)
    return LinkSummary(
        case_ref=row.case_ref,
        partner_state=row.partner_state,
        unit=row.unit,
        stage=row.stage,
        stage_since_ms=row.stage_since_ms,
        closed=row.closed,
        facts=facts,
        tracked=tuple(tracked),
        done=tuple(sorted(done_steps(events).items())),
        identifying=row.our_side is Side.IS,
        identified_at_ms=state.identified_at_ms,
        guardian_appointed_at_ms=state.guardian_appointed_at_ms,
        minority=state.minority,
        guardian_deadline_hours=rules.guardian_deadline_hours,
        settles_at_ms=settles,
        case_id=row.case_id,
        first_ms=min((t for t in (first, row.created_at_ms) if t), default=0),
        last_ms=last,
    )


class Summaries:
    def __init__(self, *, work: CaseWork, store: Store, clock_ms: Clock) -> None:
        self._work = work
        self._store = store
        self._clock = clock_ms

    def contexts(self, partner_states: Sequence[str]) -> dict[str, str]:
        """The current rules context of each partner State."""
        return {state: self._work.rules_context(state) for state in partner_states}

    async def save(
        self,
        row: LinkRow,
        built_from: int,
        events: Sequence[Event],
        state: LinkState,
        tracked: Sequence[TrackedRequest],
        *,
        now_ms: int,
    ) -> LinkSummary:
        """Build the link's summary from what was read at generation ``built_from`` and store it
        (dropped by the store if the link has changed since)."""
        summary = summarise(self._work, row, events, state, tracked)
        sealed = self._work.seal_summary(row.link_id, encode(summary))
        context = self._work.rules_context(row.partner_state)
        await self._store.cases.save_summaries(
            [
                NewSummary(
                    row.link_id,
                    built_from,
                    context,
                    wake_ms(summary, now_ms),
                    sealed,
                    summary.case_id,
                    summary.first_ms,
                    summary.last_ms,
                )
            ]
        )
        return summary

    async def rebuild(self, link_id: str, *, now_ms: int) -> LinkSummary | None:
        """Read the link again and store its summary (None: no such link). Raises DamagedData or
        UsageError for a link whose row or events cannot be read."""
        stored = await self._store.cases.summary(link_id)
        row = await self._store.cases.link(link_id)
        if stored is None or row is None:
            return None
        events = await self._work.events(row)
        state = await self._work.state(row, events=events)
        tracked = await link_requests(self._work, self._store, row, events, state)
        return await self.save(row, stored.generation, events, state, tracked, now_ms=now_ms)

    def _open(self, row: SummaryRow, contexts: dict[str, str], now_ms: int) -> SummaryView | None:
        """The stored summary if it is current and reads; None when it must be built again."""
        context = contexts.get(row.partner_state)
        if context is None:
            context = contexts[row.partner_state] = self._work.rules_context(row.partner_state)
        if not row.current(context, now_ms):
            return None
        try:
            return read(self._work.open_summary(row.link_id, row.summary))
        except (StaleSummary, DamagedData):
            return None

    async def owed(self, links: Sequence[LinkRow]) -> dict[str, Owed | None]:
        """What is owed on each of these links now (``focalpoint.cases.requests.owed``), by link id,
        read from their summaries in one read (current ones as stored, the others built again from
        the events and stored); None for a link whose summary or events cannot be read. A closed
        link owes nothing."""
        now = self._clock()
        wanted = [link for link in links if not link.closed]
        rows = {
            r.link_id: r
            for r in await self._store.cases.summaries_of([x.link_id for x in wanted])
            if isinstance(r, SummaryRow)
        }
        contexts: dict[str, str] = {}
        out: dict[str, Owed | None] = {link.link_id: Owed() for link in links if link.closed}
        rebuilt = unreadable = 0
        for link in wanted:
            row = rows.get(link.link_id)
            view = self._open(row, contexts, now) if row is not None else None
            try:
                if view is None:
                    rebuilt += 1
                    summary = await self.rebuild(link.link_id, now_ms=now)
                    out[link.link_id] = None if summary is None else owed(summary.tracked, now)
                else:
                    out[link.link_id] = owed(view.open_tracked(), now)
            except (DamagedData, UsageError, StaleSummary):
                unreadable += 1
                out[link.link_id] = None
        if rebuilt:
            log.info("summaries_rebuilt", count=rebuilt)
        if unreadable:
            log.warning("worklist_deadlines_unreadable", count=unreadable)
        return out

    async def _page(self, after: str) -> list[SummaryRow | DamagedLink]:
        return await self._store.cases.summaries(limit=_PAGE, after=after)

    async def every(
        self,
        unit: str | None,
        project: Callable[[SummaryView], T | None],
        *,
        cases: set[str] | None = None,
    ) -> tuple[list[T], int]:
        """``project`` of every link's summary (of ``unit`` only, when given; a None it returns is
        left out), current ones read as stored and the others built again from the events; and how
        many links could not be read. Each summary is projected as it is read, so only what the
        caller keeps stays in memory. ``cases``: only the links of these cases (the others are not
        even opened)."""
        now = self._clock()
        contexts: dict[str, str] = {}
        out: list[T] = []
        unreadable = rebuilt = 0
        after = ""
        read_rows = 0
        # The next page is read on the store's thread while this one is rebuilt on ours.
        pending = asyncio.ensure_future(self._page(after))
        while read_rows < MAX_LINKS:
            page = await pending
            if not page:
                break
            read_rows += len(page)
            ids = [r.link_id for r in page if r.link_id]
            more = len(page) == _PAGE and bool(ids) and ids[-1] > after
            if more:
                after = ids[-1]
                pending = asyncio.ensure_future(self._page(after))
            for row in page:
                if isinstance(row, DamagedLink):
                    unreadable += 1
                    continue
                if cases is not None and row.case_id not in cases:
                    continue
                view = self._open(row, contexts, now)
                try:
                    if view is None:
                        rebuilt += 1
                        summary = await self.rebuild(row.link_id, now_ms=now)
                        if summary is None:
                            continue
                        view = read(encode(summary))
                    if unit is not None and view.unit != unit:
                        continue
                    kept = project(view)
                except (DamagedData, UsageError, StaleSummary):
                    unreadable += 1
                    continue
                if kept is not None:
                    out.append(kept)
            if not more:
                break
        if not pending.done():  # the bound was reached with a page still being read
            pending.cancel()
        if rebuilt:
            log.info("summaries_rebuilt", count=rebuilt)
        if unreadable:
            log.warning("reports_unreadable_links", count=unreadable)
        return out, unreadable
