"""Indicators from this node's own case events (docs/indicators.md): read every link once, fold it,
compute, and put each indicator through disclosure control.

Each link is read page by page from the case store (closed ones too), its events folded once and
turned into ``LinkFacts`` (``focalpoint.cases.indicators``), with its requests' clocks started at
the receipts the node holds (``link_requests``, as the deadline scan and the ageing report read
them); no case-level data leaves the node for statistics. A link whose events cannot be read is
left out and counted, never guessed at. I12 also reads the audit log of the period (newest first,
stopping at the period's start).

Two outputs exist and are built by different functions (``focalpoint.cases.disclosure``): the
national one, for auditors, always suppressed and only for a period that has ended; and an
officer's dashboard of their own unit's links, exact (they see those cases anyway).
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from focalpoint.cases.ageing import AggregateView, LinkAgeing, RowView, link_ageing, report
from focalpoint.cases.disclosure import IndicatorOutput, Period, publish, unsuppressed_for_own_unit
from focalpoint.cases.indicators import LinkFacts, compute, link_facts
from focalpoint.cases.requests import done_steps
from focalpoint.errors import DamagedData, PreconditionFailed, UsageError
from focalpoint.node.casework import CaseWork
from focalpoint.node.deadlines import link_requests
from focalpoint.node.ports import Clock
from focalpoint.storage.base import DamagedLink, LinkRow, Store
from focalpoint.v1 import audit_pb2

__all__ = ["MAX_AUDIT_EVENTS", "MAX_LINKS", "Ageing", "Indicators", "Reports"]

log = structlog.get_logger("focalpoint.node")

_PAGE = 200
_AUDIT_PAGE = 1000
MAX_LINKS = 200_000
"""Links read for one computation at most (a node holds far fewer; the bound keeps a call finite)."""
MAX_AUDIT_EVENTS = 2_000_000
"""Audit events read for I12 at most."""


@dataclass(frozen=True, slots=True)
class Indicators:
    """The outputs for one period, and how many links could not be read."""

    outputs: tuple[IndicatorOutput, ...]
    unreadable_links: int


@dataclass(frozen=True, slots=True)
class Ageing:
    """One view of the ageing report, and how many links could not be read."""

    view: RowView | AggregateView
    unreadable_links: int


class Reports:
    def __init__(self, *, work: CaseWork, store: Store, clock_ms: Clock) -> None:
        self._work = work
        self._store = store
        self._clock = clock_ms

    def _code_list_version(self) -> str:
        directory = self._work.directory()
        node = directory.node(self._work.me)
        entry = directory.states.get(node.state) if node is not None else None
        return (entry.code_list_version if entry is not None else "") or "unknown"

    async def links(self, unit: str | None) -> tuple[list[LinkFacts], int]:
        """The facts of every link of ``unit`` (None: every link), and how many could not be read."""
        facts, _, unreadable = await self._read(unit, ageing_at_ms=None)
        return facts, unreadable

    async def ageing(self, view: str, unit: str = "") -> Ageing:
        """The ageing report's ``view`` (``focalpoint.cases.ageing.VIEWS``) now: the unit view over
        ``unit``'s links, the others over every link (only the active ones count)."""
        if view == "unit" and not unit:
            raise UsageError("the unit view needs an account with a unit")
        now = self._clock()
        _, links, unreadable = await self._read(unit if view == "unit" else None, ageing_at_ms=now)
        return Ageing(report(view, links, now_ms=now, unit=unit), unreadable)

    async def _read(
        self, unit: str | None, *, ageing_at_ms: int | None
    ) -> tuple[list[LinkFacts], list[LinkAgeing], int]:
        """Every link of ``unit`` (None: every link) read once: its indicator facts, or (with
        ``ageing_at_ms``) its ageing inputs at that time; and how many could not be read."""
        out: list[LinkFacts] = []
        aged: list[LinkAgeing] = []
        unreadable = 0
        before: tuple[int, str] | None = None
        done: set[str] = set()  # link ids, and "#<row>" for a damaged row, already counted
        while len(done) < MAX_LINKS:
            page = await self._store.cases.worklist(unit, limit=_PAGE, before=before, include_closed=True)
            fresh = [r for r in page if (f"#{r.row}" if isinstance(r, DamagedLink) else r.link_id) not in done]
            for row in fresh:
                if isinstance(row, DamagedLink):
                    done.add(f"#{row.row}")
                    unreadable += 1
                    continue
                done.add(row.link_id)
                try:
                    events = await self._work.events(row)
                    state = await self._work.state(row, events=events)
                    tracked = await link_requests(self._work, self._store, row, events, state)
                except (DamagedData, UsageError):
                    unreadable += 1
                    continue
                if ageing_at_ms is None:
                    rules = self._work.rules(row)
                    out.append(link_facts(state, events, case_id=row.case_id, rules=rules, tracked=tracked))
                    continue
                aged.append(
                    link_ageing(
                        case_ref=row.case_ref,
                        partner=row.partner_state,
                        unit=row.unit,
                        stage=row.stage,
                        stage_since_ms=row.stage_since_ms,
                        tracked=tracked,
                        done=done_steps(events),
                        now_ms=ageing_at_ms,
                    )
                )
            readable = [r for r in page if isinstance(r, LinkRow)]
            # A damaged row has no sort key: page on from the last readable one (seen rows are skipped).
            if not fresh or len(page) < _PAGE or not readable:
                break
            before = (readable[-1].updated_at_ms, readable[-1].link_id)
        if unreadable:
            log.warning("reports_unreadable_links", count=unreadable)
        return out, aged, unreadable

    async def audit(self, period: Period) -> list[audit_pb2.AuditEvent]:
        """The audit events of ``period`` (read newest first until a page lies wholly before it)."""
        out: list[audit_pb2.AuditEvent] = []
        before = 0
        read = 0
        while read < MAX_AUDIT_EVENTS:
            rows = await self._store.audit.events(_AUDIT_PAGE, before)
            if not rows:
                break
            read += len(rows)
            events = [audit_pb2.AuditEvent.FromString(leaf) for _, leaf in rows]
            out += [e for e in events if period.contains(e.at_ms)]
            before = rows[-1][0]
            if before <= 0 or all(e.at_ms < period.start_ms for e in events):
                break
        return out

    async def national(self, period: Period) -> Indicators:
        """Every indicator for ``period`` over all this node's links, suppressed (auditors). Raises
        PreconditionFailed for a period that has not ended."""
        now = self._clock()
        if not period.has_ended(now):  # refused before any case is read
            raise PreconditionFailed(
                "a national indicator is computed only for a period that has ended; a running period "
                "computed twice would show the difference of the days between"
            )
        links, unreadable = await self.links(None)
        audit = await self.audit(period)
        version = self._code_list_version()
        outputs = tuple(
            publish(
                measured,
                definition_id=d.id,
                definition_version=d.version,
                code_list_version=version,
                period=period,
                node_id=self._work.me,
                measure=d.measure,
                now_ms=now,
            )
            for d, measured in compute(links, audit, period, now_ms=now)
        )
        return Indicators(outputs, unreadable)

    async def own_unit(self, period: Period, unit: str) -> Indicators:
        """Every indicator for ``period`` over ``unit``'s links, exact (an officer's dashboard). The
        audit-log figures of I12 are left to auditors: only the links' unilateral closures count."""
        if not unit:
            raise UsageError("an own-unit dashboard needs an account with a unit")
        now = self._clock()
        links, unreadable = await self.links(unit)
        version = self._code_list_version()
        outputs = tuple(
            unsuppressed_for_own_unit(
                measured,
                unit_id=unit,
                definition_id=d.id,
                definition_version=d.version,
                code_list_version=version,
                period=period,
                node_id=self._work.me,
                measure=d.measure,
            )
            for d, measured in compute(links, [], period, now_ms=now)
        )
        return Indicators(outputs, unreadable)
