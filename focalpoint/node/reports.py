"""Indicators and the ageing report from this node's own case events (docs/indicators.md): read
every link once, compute, and put each indicator through disclosure control.

Each link is read as its stored summary (``focalpoint.node.summaries``: its ``LinkFacts``, its
requests and their clocks, built from its events by the same functions as a fold, and built again
from them whenever they changed), closed links too; no case-level data leaves the node for
statistics. A link whose events cannot be read is left out and counted, never guessed at. I12
also reads the audit log of the period (newest first, stopping at the period's start).

Two outputs exist and are built by different functions (``focalpoint.cases.disclosure``): the
national one, for auditors, always suppressed and only for a period that has ended; and an
officer's dashboard of their own unit's links, exact (they see those cases anyway).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Protocol

import structlog

from focalpoint.cases.ageing import AggregateView, LinkAgeing, RowView, link_ageing, report
from focalpoint.cases.disclosure import (
    IndicatorOutput,
    Measure,
    Measured,
    Period,
    publish,
    unsuppressed_for_own_unit,
)
from focalpoint.cases.indicators import LinkFacts, compute, window
from focalpoint.cases.summary import SummaryView
from focalpoint.errors import PreconditionFailed, UsageError
from focalpoint.node.casework import CaseWork
from focalpoint.node.ports import Clock
from focalpoint.node.summaries import MAX_LINKS, Summaries
from focalpoint.storage.base import Store
from focalpoint.v1 import audit_pb2

__all__ = ["MAX_AUDIT_EVENTS", "MAX_LINKS", "Ageing", "Indicators", "Reports"]

log = structlog.get_logger("focalpoint.node")

_AUDIT_PAGE = 1000
MAX_AUDIT_EVENTS = 2_000_000
"""Audit events read for I12 at most."""


class _Disclose(Protocol):
    """Makes one indicator's output from what it measured (``publish`` for the national output,
    ``unsuppressed_for_own_unit`` for a unit's dashboard, their other arguments bound)."""

    def __call__(
        self,
        measured: Measured,
        *,
        definition_id: str,
        definition_version: int,
        code_list_version: str,
        period: Period,
        node_id: str,
        measure: Measure,
    ) -> IndicatorOutput: ...


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
        self._summaries = Summaries(work=work, store=store, clock_ms=clock_ms)

    def _code_list_version(self) -> str:
        directory = self._work.directory()
        node = directory.node(self._work.me)
        entry = directory.states.get(node.state) if node is not None else None
        return (entry.code_list_version if entry is not None else "") or "unknown"

    async def links(self, unit: str | None, period: Period | None = None) -> tuple[list[LinkFacts], int]:
        """The facts of every link of ``unit`` (None: every link), and how many could not be read;
        with ``period``, only those its indicators need (``indicators.for_period``)."""
        facts, unreadable, _ = await self._for(unit, period)
        return facts, unreadable

    async def _for(self, unit: str | None, period: Period | None) -> tuple[list[LinkFacts], int, set[str]]:
        """As ``links``, and the partner States the tables list (those of every stored link).

        With ``period``, the cases no link of which bears on the period stay in the store, not even
        opened (``indicators.for_period``: computing without them gives the same outputs), and each
        link read is rebuilt with only the requests received in the period."""
        partners = set(await self._store.cases.partner_states())
        if period is None:
            facts, unreadable = await self._summaries.every(unit, SummaryView.facts)
            return facts, unreadable, partners
        start, end = period.start_ms, period.end_ms
        bearing = await self._store.cases.cases_bearing_on(*window(period))
        facts, unreadable = await self._summaries.every(unit, lambda view: view.facts_in(start, end), cases=bearing)
        return facts, unreadable, partners

    async def ageing(self, view: str, unit: str = "") -> Ageing:
        """The ageing report's ``view`` (``focalpoint.cases.ageing.VIEWS``) now: the unit view over
        ``unit``'s links, the others over every link (only the active ones count)."""
        if view == "unit" and not unit:
            raise UsageError("the unit view needs an account with a unit")
        now = self._clock()

        def ageing_of(s: SummaryView) -> LinkAgeing | None:
            if s.closed:
                return None
            return link_ageing(
                case_ref=s.case_ref,
                partner=s.partner_state,
                unit=s.unit,
                stage=s.stage,
                stage_since_ms=s.stage_since_ms,
                tracked=s.open_tracked(),
                done=s.done_map(),
                now_ms=now,
            )

        links, unreadable = await self._summaries.every(unit if view == "unit" else None, ageing_of)
        return Ageing(report(view, links, now_ms=now, unit=unit), unreadable)

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
        return await self._indicators(period, None, now, partial(publish, now_ms=now))

    async def own_unit(self, period: Period, unit: str) -> Indicators:
        """Every indicator for ``period`` over ``unit``'s links, exact (an officer's dashboard). The
        audit-log figures of I12 are left to auditors: only the links' unilateral closures count."""
        if not unit:
            raise UsageError("an own-unit dashboard needs an account with a unit")
        now = self._clock()
        return await self._indicators(period, unit, now, partial(unsuppressed_for_own_unit, unit_id=unit))

    async def _indicators(self, period: Period, unit: str | None, now: int, disclose: _Disclose) -> Indicators:
        """Every indicator for ``period`` over ``unit``'s links (None: every link, and then the audit
        log of the period too, for I12), each output made by ``disclose``, the disclosure control
        of the national output or of a unit's dashboard."""
        links, unreadable, partners = await self._for(unit, period)
        audit = await self.audit(period) if unit is None else []
        version = self._code_list_version()
        outputs = tuple(
            disclose(
                measured,
                definition_id=d.id,
                definition_version=d.version,
                code_list_version=version,
                period=period,
                node_id=self._work.me,
                measure=d.measure,
            )
            for d, measured in compute(links, audit, period, now_ms=now, partners=partners)
        )
        return Indicators(outputs, unreadable)
