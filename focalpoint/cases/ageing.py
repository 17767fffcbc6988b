"""The ageing report: what is open, for how long, and with whom (pure).

Why this module exists: a deadline ladder chases one request; nobody sees from it which partner
lets requests of which kind age, or which links sit in one stage for months. The ageing report
lays the open requests and links of this node out in four views (docs/operators.md, the ageing
report), each built from the same per-link inputs (``LinkAgeing``):

- ``unit_view``: a case officer's own unit, every open request and link by reference, exact (they
  work those cases; exempt from disclosure control like the own-unit dashboard);
- ``routing_view``: the same rows with only what the ROUTING view holds (reference, kind, partner,
  urgency, due, overdue, stage, unit) for the focal point's operators;
- ``bilateral_view``: per partner State and request kind, open counts by age bucket (age: since
  the request's clock started at the partner's receipt), overdue and L3-escalated counts, and
  medians; per partner, links by stage with days-in-stage median and p90, and the share stuck in
  ASSESSMENT over 90 days. Medians, p90s and shares only from 10 values up;
- ``audit_view``: the bilateral figures through disclosure control (``focalpoint.cases.disclosure``:
  suppressed tables, banded percentages, median/p90 from 10 values): no minimum or maximum.

Each view serialises to a dict for JSON (``as_dict``) and to rows for CSV (``csv_rows``, after
``header``). Times are milliseconds since the epoch, UTC, and ``now_ms`` is always passed in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from focalpoint.cases.clocks import DAY_MS, Level, due_ms, overdue_ms
from focalpoint.cases.disclosure import (
    Dimension,
    PublishedTable,
    Table,
    median_p90,
    partner_dimension,
    percentage,
    suppress,
    suppress_count,
)
from focalpoint.cases.indicators import AGEING, STAGE, ageing_bucket
from focalpoint.cases.requests import EXPECTED_KINDS, TRACKED_KINDS, TrackedRequest, levels_done
from focalpoint.cases.stages import ACTIVE, Stage
from focalpoint.errors import UsageError

__all__ = [
    "AGE",
    "KIND",
    "MIN_N",
    "STUCK_DAYS",
    "VIEWS",
    "AgeingRow",
    "AggregateView",
    "LinkAgeing",
    "OpenRequest",
    "RowView",
    "audit_view",
    "bilateral_view",
    "link_ageing",
    "open_requests",
    "report",
    "routing_view",
    "rows",
    "unit_view",
]

VIEWS = ("unit", "routing", "bilateral", "audit")
MIN_N = 10
"""Values needed for a median, a p90 or a share in the bilateral view (the audit view's k)."""
STUCK_DAYS = 90
"""Days in ASSESSMENT after which a link counts as stuck (indicator I8)."""
KIND = Dimension("kind", tuple(sorted(TRACKED_KINDS | EXPECTED_KINDS)))
AGE = Dimension("age_days", AGEING.values)
"""A request's age since its clock started, in the buckets of days in stage (indicator I8)."""


@dataclasses.dataclass(frozen=True, slots=True)
class OpenRequest:
    """One open request of a link: its clock started, no answer yet. ``due_ms``: the answer's due
    date as it stands (the acknowledgement's for a request with no response deadline)."""

    kind: str
    urgency: str
    we_asked: bool
    started_at_ms: int
    due_ms: int | None
    overdue_ms: int
    l3: bool = False  # the requester's L3 escalation (to the partner's focal-point head) was taken


@dataclasses.dataclass(frozen=True, slots=True)
class LinkAgeing:
    """What the report reads of one link: its row's columns and its open requests."""

    case_ref: str
    partner: str  # the partner State (ISO 3166-1 alpha-2)
    unit: str
    stage: Stage
    stage_since_ms: int
    requests: tuple[OpenRequest, ...] = ()


def open_requests(
    tracked: Iterable[TrackedRequest], done: Mapping[bytes, frozenset[tuple[Level, int]]], now_ms: int
) -> tuple[OpenRequest, ...]:
    """The link's open requests at ``now_ms`` from its tracked requests and the ladder levels taken
    (``requests.done_steps``): started, not answered nor withdrawn; a request without a response
    deadline is open until acknowledged. An expected message is open from its anchor (a follow-up
    report due in a year is not open yet)."""
    out: list[OpenRequest] = []
    for t in tracked:
        if t.closed or t.started_at_ms is None or t.started_at_ms > now_ms:
            continue
        if t.clock is not None:
            due: int | None = due_ms(t.clock, now_ms)
            late = overdue_ms(t.clock, now_ms)
        else:
            if t.acknowledged_at_ms is not None or t.deadline.acknowledge_ms is None:
                continue
            due = t.started_at_ms + t.deadline.acknowledge_ms
            late = max(0, now_ms - due)
        levels = levels_done(t, done)
        out.append(
            OpenRequest(
                kind=t.kind,
                urgency=t.urgency.value,
                we_asked=t.we_asked,
                started_at_ms=t.started_at_ms,
                due_ms=due,
                overdue_ms=late,
                l3=Level.REMINDER_L3 in levels,
            )
        )
    return tuple(out)


def link_ageing(
    *,
    case_ref: str,
    partner: str,
    unit: str,
    stage: Stage,
    stage_since_ms: int,
    tracked: Iterable[TrackedRequest],
    done: Mapping[bytes, frozenset[tuple[Level, int]]],
    now_ms: int,
) -> LinkAgeing:
    """One link's ageing inputs from its row's columns and its tracked requests."""
    return LinkAgeing(case_ref, partner, unit, stage, stage_since_ms, open_requests(tracked, done, now_ms))


def _days(ms: int) -> int:
    return max(0, ms) // DAY_MS


# ---------------------------------------------------------------------------------------------
# Row views: unit and routing


@dataclasses.dataclass(frozen=True, slots=True)
class AgeingRow:
    """One open request of an active link, or the link itself (``kind`` empty) when none is open."""

    reference: str
    kind: str
    partner: str
    urgency: str
    due_ms: int | None
    days_overdue: int
    stage: str
    days_in_stage: int
    unit: str


_UNIT_COLUMNS = ("reference", "kind", "partner", "urgency", "due_ms", "days_overdue", "stage", "days_in_stage")
_ROUTING_COLUMNS = ("reference", "kind", "partner", "urgency", "due_ms", "days_overdue", "stage", "unit")


def rows(links: Iterable[LinkAgeing], now_ms: int) -> list[AgeingRow]:
    """A row per open request of each active link (a link with none: one row for the link), the
    most overdue first, then by due date and reference."""
    out: list[AgeingRow] = []
    for lk in links:
        if lk.stage not in ACTIVE:
            continue
        in_stage = _days(now_ms - lk.stage_since_ms)
        for r in lk.requests or (None,):
            out.append(
                AgeingRow(
                    reference=lk.case_ref,
                    kind=r.kind if r else "",
                    partner=lk.partner,
                    urgency=r.urgency if r else "",
                    due_ms=r.due_ms if r else None,
                    days_overdue=_days(r.overdue_ms) if r else 0,
                    stage=lk.stage.value,
                    days_in_stage=in_stage,
                    unit=lk.unit,
                )
            )
    out.sort(key=lambda r: (-r.days_overdue, r.due_ms is None, r.due_ms or 0, r.reference, r.kind))
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class RowView:
    view: str
    columns: tuple[str, ...]
    rows: tuple[AgeingRow, ...]
    unit_id: str = ""

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "view": self.view,
            "rows": [{c: getattr(r, c) for c in self.columns} for r in self.rows],
        }
        if self.unit_id:
            out["unit_id"] = self.unit_id
            out["exempt"] = True  # own unit: exact, not for publication
        return out

    def header(self) -> tuple[str, ...]:
        return self.columns

    def csv_rows(self) -> list[list[str]]:
        return [[_text(getattr(r, c)) for c in self.columns] for r in self.rows]


def unit_view(links: Iterable[LinkAgeing], unit: str, now_ms: int) -> RowView:
    """A case officer's own unit: every open request and link of ``unit``, exact."""
    if not unit:
        raise UsageError("the unit view needs an account with a unit")
    return RowView("unit", _UNIT_COLUMNS, tuple(rows((lk for lk in links if lk.unit == unit), now_ms)), unit)


def routing_view(links: Iterable[LinkAgeing], now_ms: int) -> RowView:
    """Every open request and link of the node in the ROUTING view's terms (no names, no content)."""
    return RowView("routing", _ROUTING_COLUMNS, tuple(rows(links, now_ms)))


# ---------------------------------------------------------------------------------------------
# Aggregate views: bilateral and audit


@dataclasses.dataclass(frozen=True, slots=True)
class _Population:
    """The open requests and active links, grouped, with their ages in whole days."""

    partners: tuple[str, ...]
    ages: dict[tuple[str, str], list[int]]  # (partner, kind) -> age of each open request
    overdue: dict[tuple[str, str], int]
    l3: dict[tuple[str, str], int]
    in_stage: dict[tuple[str, str], list[int]]  # (partner, stage) -> days in stage of each link
    stuck: dict[str, int]
    open_links: dict[str, int]


def _population(links: Iterable[LinkAgeing], now_ms: int) -> _Population:
    ages: dict[tuple[str, str], list[int]] = {}
    overdue: dict[tuple[str, str], int] = {}
    l3: dict[tuple[str, str], int] = {}
    in_stage: dict[tuple[str, str], list[int]] = {}
    stuck: dict[str, int] = {}
    open_links: dict[str, int] = {}
    for lk in links:
        if lk.stage not in ACTIVE:
            continue
        days = _days(now_ms - lk.stage_since_ms)
        in_stage.setdefault((lk.partner, lk.stage.value), []).append(days)
        open_links[lk.partner] = open_links.get(lk.partner, 0) + 1
        stuck[lk.partner] = stuck.get(lk.partner, 0) + (lk.stage is Stage.ASSESSMENT and days > STUCK_DAYS)
        for r in lk.requests:
            key = (lk.partner, r.kind)
            ages.setdefault(key, []).append(_days(now_ms - r.started_at_ms))
            overdue[key] = overdue.get(key, 0) + (r.overdue_ms > 0)
            l3[key] = l3.get(key, 0) + r.l3
    partners = tuple(sorted(open_links))
    return _Population(partners, ages, overdue, l3, in_stage, stuck, open_links)


def _median(values: Sequence[int]) -> float | None:
    got = median_p90([float(v) for v in values], MIN_N)
    return got[0] if got is not None else None


def _median_p90(values: Sequence[int]) -> tuple[float | None, float | None]:
    got = median_p90([float(v) for v in values], MIN_N)
    return (got[0], got[1]) if got is not None else (None, None)


def _share(numerator: int, denominator: int) -> float | None:
    if denominator < MIN_N:
        return None
    return round(100 * numerator / denominator, 1)


_BUCKETS = AGEING.values


@dataclasses.dataclass(frozen=True, slots=True)
class AggregateView:
    """The bilateral or audit view: ``requests`` one entry per (partner, kind), ``links`` one per
    partner, ``tables`` (audit only) the suppressed tables they come from."""

    view: str
    requests: tuple[dict[str, object], ...]
    links: tuple[dict[str, object], ...]
    tables: tuple[tuple[str, dict[str, object]], ...] = ()
    suppressed: bool = False

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"view": self.view, "requests": list(self.requests), "links": list(self.links)}
        if self.view == "audit":
            out["tables"] = dict(self.tables)
            out["suppressed"] = self.suppressed
        return out

    def header(self) -> tuple[str, ...]:
        return ("partner", "group", "measure", "value")

    def csv_rows(self) -> list[list[str]]:
        """Long form: one row per figure (partner, request kind or stage, measure, value)."""
        out: list[list[str]] = []
        for entry in self.requests:
            out += _long(entry, "kind")
        for entry in self.links:
            out += _long(entry, "")
        return out


def _long(entry: Mapping[str, object], group_key: str) -> list[list[str]]:
    partner = str(entry["partner"])
    group = str(entry[group_key]) if group_key else ""
    out: list[list[str]] = []
    for name, value in entry.items():
        if name in ("partner", group_key):
            continue
        if isinstance(value, dict):
            for sub, v in value.items():
                if isinstance(v, dict):
                    out += [[partner, sub, f"{name}.{m}", _text(x)] for m, x in v.items()]
                else:
                    out.append([partner, group, f"{name}.{sub}", _text(v)])
        else:
            out.append([partner, group, name, _text(value)])
    return out


def bilateral_view(links: Iterable[LinkAgeing], now_ms: int) -> AggregateView:
    """Per partner and request kind, and per partner and stage: counts exact, medians and shares
    from 10 values up (operators)."""
    pop = _population(links, now_ms)
    requests: list[dict[str, object]] = []
    for (partner, kind), ages in sorted(pop.ages.items()):
        buckets = {b: 0 for b in _BUCKETS}
        for a in ages:
            buckets[ageing_bucket(a)] += 1
        requests.append(
            {
                "partner": partner,
                "kind": kind,
                "open": len(ages),
                "age_buckets": buckets,
                "overdue": pop.overdue[(partner, kind)],
                "median_age_days": _median(ages),
                "oldest_age_days": max(ages),
                "l3_escalated": pop.l3[(partner, kind)],
            }
        )
    out_links: list[dict[str, object]] = []
    for partner in pop.partners:
        stages: dict[str, dict[str, object]] = {}
        for stage in STAGE.values:
            days = pop.in_stage.get((partner, stage), [])
            if days:
                median, p90 = _median_p90(days)
                stages[stage] = {"links": len(days), "median_days_in_stage": median, "p90_days_in_stage": p90}
        out_links.append(
            {
                "partner": partner,
                "open_links": pop.open_links[partner],
                "stages": stages,
                "stuck_in_assessment": pop.stuck[partner],
                "stuck_in_assessment_percent": _share(pop.stuck[partner], pop.open_links[partner]),
            }
        )
    return AggregateView("bilateral", tuple(requests), tuple(out_links))


def audit_view(links: Iterable[LinkAgeing], now_ms: int) -> AggregateView:
    """The bilateral figures through disclosure control: counts from suppressed tables (1..9 and
    what would reveal them withheld), percentages banded, median and p90 from 10 values, no
    oldest (a maximum is one child)."""
    pop = _population(links, now_ms)
    if not pop.partners:
        return AggregateView("audit", (), ())
    partner = partner_dimension(pop.partners)
    kinds = Table.tally(
        (partner, KIND),
        [(p, k) for (p, k), ages in pop.ages.items() for _ in ages],
        counted="messages",
    )
    overdue = Table.tally(
        (partner, KIND),
        [(p, k) for (p, k), n in pop.overdue.items() for _ in range(n)],
        counted="messages",
    )
    stages = Table.tally(
        (partner, STAGE),
        [(p, s) for (p, s), days in pop.in_stage.items() for _ in days],
        counted="cases",
    )
    tables: list[tuple[str, dict[str, object]]] = []
    suppressed = False
    published: dict[str, PublishedTable] = {}
    for name, table in (("open_by_partner_and_kind", kinds), ("overdue_by_partner_and_kind", overdue)):
        p = suppress(table)
        published[name] = p
        tables.append((name, p.as_dict()))
        suppressed |= p.suppressed
    p_stages = suppress(stages)
    tables.append(("links_by_partner_and_stage", p_stages.as_dict()))
    suppressed |= p_stages.suppressed
    for state in pop.partners:
        items = [(k, ageing_bucket(a)) for (p, k), ages in pop.ages.items() if p == state for a in ages]
        if items:
            p = suppress(Table.tally((KIND, AGE), items, counted="messages"))
            tables.append((f"age_buckets_{state}", p.as_dict()))
            suppressed |= p.suppressed
    open_cells = published["open_by_partner_and_kind"].cells
    overdue_cells = published["overdue_by_partner_and_kind"].cells
    requests: list[dict[str, object]] = []
    for (state, kind), ages in sorted(pop.ages.items()):
        i, j = partner.values.index(state), KIND.values.index(kind)
        # A median beside a withheld count would tell that count is at least 10: none then.
        median, p90 = (None, None) if isinstance(open_cells[i][j], str) else _median_p90(ages)
        requests.append(
            {
                "partner": state,
                "kind": kind,
                "open": open_cells[i][j],
                "overdue": overdue_cells[i][j],
                "median_age_days": median,
                "p90_age_days": p90,
                "l3_escalated": suppress_count(pop.l3[(state, kind)]),
            }
        )
    out_links: list[dict[str, object]] = []
    for i, state in enumerate(pop.partners):
        by_stage: dict[str, dict[str, object]] = {}
        for j, stage in enumerate(STAGE.values):
            days = pop.in_stage.get((state, stage), [])
            if days:
                withheld = isinstance(p_stages.cells[i][j], str)
                median, p90 = (None, None) if withheld else _median_p90(days)
                by_stage[stage] = {
                    "links": p_stages.cells[i][j],
                    "median_days_in_stage": median,
                    "p90_days_in_stage": p90,
                }
        assert p_stages.row_totals is not None
        out_links.append(
            {
                "partner": state,
                "open_links": p_stages.row_totals[i],
                "stages": by_stage,
                "stuck_in_assessment_percent": (
                    None  # a share beside a withheld total would bound it
                    if isinstance(p_stages.row_totals[i], str)
                    else percentage(pop.stuck[state], pop.open_links[state])
                ),
            }
        )
    return AggregateView("audit", tuple(requests), tuple(out_links), tuple(tables), suppressed)


def report(view: str, links: Sequence[LinkAgeing], *, now_ms: int, unit: str = "") -> RowView | AggregateView:
    """The ``view`` (one of ``VIEWS``) over ``links``."""
    if view == "unit":
        return unit_view(links, unit, now_ms)
    if view == "routing":
        return routing_view(links, now_ms)
    if view == "bilateral":
        return bilateral_view(links, now_ms)
    if view == "audit":
        return audit_view(links, now_ms)
    raise UsageError("view must be unit, routing, bilateral or audit")


def _text(value: object) -> str:
    return "" if value is None else str(value)
