"""Disclosure control for indicators: no published figure may identify a child (pure; docs/indicators.md).

The people who would like to find a child in these figures are motivated and know things the
tables do not say (a trafficker looking for a shelter, a journalist, a corrupt official), and the
flows between two States are tiny: a cell of 5 in partner × sex × form is often a known child. So:

- **Counts** (``suppress``, ``suppress_count``): a count of children, cases or messages from 1 to
  k−1 (k = 10, never lower) is published as the marker ``<10``; zero is shown. **Secondary
  suppression** then withholds enough other cells that no withheld value can be worked out from the
  published totals and cells: every line (a row or a column, the totals row and column included)
  holds none or at least two withheld entries, and in a two-dimensional table no withheld entry is
  a *bridge* of the graph whose nodes are the lines and whose edges are the withheld entries (an
  entry that lies on no cycle of withheld entries is fixed by the line sums even when every line
  holds two; one more entry across the bridge closes a cycle). The grand total is withheld as a
  complement only when nothing else will do, so one population shows one total in every table.
  Every withheld entry shows the same marker: a second marker for complements would tell a reader
  which withheld cells are small, and with a total that is often enough to solve them.
- **Percentages** (``percentage``): none with a denominator below k; when the numerator or its
  complement is 1..k−1, a band instead of the value. The band is 10 points wide once the
  denominator is 90 or more; below that it widens to hold every numerator from 1 to k−1 (a
  10-point band of 3 out of 12 holds only the numerator 3, and the denominator is usually published
  beside it).
- **Durations** (``median_p90``): the median and the 90th percentile only from k values on, the
  percentile by nearest rank so that it is never the largest value; a minimum or maximum is never
  computed (each is one child).
- **Periods** (``Period``): calendar years and quarters only, none that has not begun. With no
  months and no arbitrary windows, two published periods never overlap in part, so subtracting one
  from another reveals nothing. A national output is computed only for a period that has ended:
  a running quarter computed on two days would differ by the children of the days between.
- **Who gets what** (``publish``, ``unsuppressed_for_own_unit``): national outputs, which go only
  to auditors, are always suppressed; an officer's dashboard of their own unit is exempt (they
  see those cases anyway) and is a different function, so a national output cannot be exempt by a
  flag set by mistake. ``IndicatorOutput`` itself refuses a count from 1 to 9 unless it is an
  own-unit output.
- **Tables** have at most two dimensions (``Table``); partner × sex × age × form is never produced.

What is guaranteed: no withheld entry of one table is fixed by the linear relations among its
published entries and totals. Tables over one population in one output should not share a
dimension (their shared margins would link them); the grand total is kept alike everywhere.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from focalpoint.errors import PreconditionFailed, UsageError

__all__ = [
    "AGE_BAND",
    "CSV_HEADER",
    "EXPLOITATION_FORM",
    "IDENTIFICATION_STATUS",
    "LINK_ROLE",
    "SEX",
    "Cell",
    "Counted",
    "Dimension",
    "Figure",
    "FigureKind",
    "IndicatorOutput",
    "K",
    "Line",
    "Measure",
    "Measured",
    "Period",
    "PublishedTable",
    "Table",
    "grid_of",
    "marker",
    "median_p90",
    "partner_dimension",
    "percentage",
    "publish",
    "suppress",
    "suppress_count",
    "unsuppressed_for_own_unit",
    "withheld",
]

K = 10
"""The threshold: counts 1..K−1 are withheld. Never lower (see the module docstring)."""

Cell = int | str
"""A published count: a number (0 or ≥ k) or the marker (``marker(k)``)."""

Measure = Literal["flow", "stock"]


def marker(k: int = K) -> str:
    """What a withheld count shows: ``<10`` for k = 10."""
    return f"<{k}"


def _check_k(k: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < K:
        raise UsageError(f"the disclosure threshold must be an integer of at least {K}")


# ---------------------------------------------------------------------------------------------
# Periods


_PERIOD = re.compile(r"(\d{4})(?:Q([1-4]))?")
_MS = 1000


def _utc_ms(year: int, month: int) -> int:
    return int(dt.datetime(year, month, 1, tzinfo=dt.UTC).timestamp()) * _MS


@dataclass(frozen=True, slots=True)
class Period:
    """A calendar year (``2026``) or quarter (``2026Q3``) in UTC; nothing else exists."""

    year: int
    quarter: int | None = None
    # Its bounds, worked out once (``contains`` is asked for every time of every link).
    _start: int = field(default=0, init=False, repr=False, compare=False)
    _end: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 2000 <= self.year <= 9998:
            raise UsageError("a period's year must be between 2000 and 9998")
        if self.quarter is not None and self.quarter not in (1, 2, 3, 4):
            raise UsageError("a period's quarter must be 1, 2, 3 or 4")
        start = _utc_ms(self.year, 1 if self.quarter is None else 3 * self.quarter - 2)
        if self.quarter is None or self.quarter == 4:
            end = _utc_ms(self.year + 1, 1)
        else:
            end = _utc_ms(self.year, 3 * self.quarter + 1)
        object.__setattr__(self, "_start", start)
        object.__setattr__(self, "_end", end)

    @classmethod
    def parse(cls, text: str, *, now_ms: int) -> Period:
        """``2026`` or ``2026Q3``, which has begun by ``now_ms``. A month, a date range or any
        other window is refused: only calendar years and quarters exist, so no two published
        periods overlap in part and none can be subtracted from another."""
        found = _PERIOD.fullmatch(text.strip()) if isinstance(text, str) else None
        if found is None:
            raise UsageError(
                "a period is a calendar year (e.g. 2026) or quarter (e.g. 2026Q3); months and other windows "
                "are not offered, so that overlapping windows cannot be subtracted from each other"
            )
        period = cls(int(found[1]), int(found[2]) if found[2] else None)
        if period.start_ms > now_ms:
            raise UsageError("the period has not begun yet; indicators exist only for periods that have")
        return period

    @property
    def start_ms(self) -> int:
        """The first millisecond of the period (UTC)."""
        return self._start

    @property
    def end_ms(self) -> int:
        """The first millisecond after the period (UTC): the period is [start_ms, end_ms)."""
        return self._end

    def contains(self, ms: int) -> bool:
        """Whether the instant ``ms`` (milliseconds since the epoch) falls in the period."""
        return self._start <= ms < self._end

    def has_ended(self, now_ms: int) -> bool:
        """Whether the whole period lies before ``now_ms``."""
        return self.end_ms <= now_ms

    def __str__(self) -> str:
        return f"{self.year}" if self.quarter is None else f"{self.year}Q{self.quarter}"


# ---------------------------------------------------------------------------------------------
# Dimensions and tables


_COMPOUND = re.compile(r"[×*+,/&|]|\bx\b")


@dataclass(frozen=True, slots=True)
class Dimension:
    """One way of breaking a count down: a name and its values, in the order they are shown."""

    name: str
    values: tuple[str, ...]

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise UsageError("a dimension's name is one lower-case word (letters, digits, underscores)")
        if not self.values:
            raise UsageError("a dimension has at least one value")
        if len(set(self.values)) != len(self.values):
            raise UsageError("a dimension's values are distinct")
        if any(not v or _COMPOUND.search(v) for v in self.values):
            raise UsageError("a dimension's values are single codes, never combinations of codes")


SEX = Dimension("sex", ("F", "M", "OTHER", "UNKNOWN"))
AGE_BAND = Dimension("age_band", ("0-11", "12-14", "15-17", "UNKNOWN_PRESUMED_MINOR"))
"""Age at identification. Finer bands at the young end would split a mostly adolescent population
into cells that are nearly all withheld."""
EXPLOITATION_FORM = Dimension(
    "exploitation_form",
    (
        "SEXUAL",
        "LABOUR",
        "DOMESTIC_SERVITUDE",
        "BEGGING",
        "CRIMINAL_ACTIVITY",
        "ARMED_CONFLICT",
        "FORCED_MARRIAGE",
        "ILLEGAL_ADOPTION",
        "ORGAN_REMOVAL",
        "OTHER",
        "NOT_KNOWN",
        "NONE_IDENTIFIED",
    ),
)
"""The top level of the code list's ExploitationForm (the deprecated ADOPTION_OR_MARRIAGE is
counted under the codes that replace it)."""
LINK_ROLE = Dimension("link_role", ("IDENTIFYING", "ORIGIN", "TRANSIT"))
"""The reporting State's role on the link (the identifying State is the destination or a transit
State where the child was found)."""
IDENTIFICATION_STATUS = Dimension(
    "identification_status",
    ("PRESUMED_TRAFFICKED", "SEPARATED", "UNACCOMPANIED", "CONFIRMED_TRAFFICKED", "MISSING_FROM_ORIGIN"),
)

_PARTNER = "partner"
_NEVER_TOGETHER = frozenset({_PARTNER, SEX.name, AGE_BAND.name, EXPLOITATION_FORM.name})


def partner_dimension(states: Iterable[str]) -> Dimension:
    """The partner State dimension over the given ISO 3166-1 alpha-2 codes, in alphabetical order."""
    codes = sorted(set(states))
    if any(not re.fullmatch(r"[A-Z]{2}", c) for c in codes):
        raise UsageError("a partner State is an ISO 3166-1 alpha-2 code")
    return Dimension(_PARTNER, tuple(codes))


Counted = Literal["children", "cases", "messages"]


def _check_dimensions(dimensions: tuple[Dimension, ...]) -> None:
    names = {d.name for d in dimensions}
    if names >= _NEVER_TOGETHER:
        raise UsageError("partner × sex × age × form is never produced")
    if not 1 <= len(dimensions) <= 2:
        raise UsageError("a table has one or two dimensions, never more")
    if len(names) != len(dimensions):
        raise UsageError("a table's two dimensions are different")


@dataclass(frozen=True, slots=True)
class Table:
    """Counts broken down by one or two dimensions (rows, then columns), before disclosure control.

    ``cells`` has one tuple per row value; each holds one count per column value, or a single
    count when there is one dimension. Totals are the sums; they are computed, never given.
    """

    dimensions: tuple[Dimension, ...]
    cells: tuple[tuple[int, ...], ...]
    counted: Counted = "children"

    def __post_init__(self) -> None:
        _check_dimensions(self.dimensions)
        if self.counted not in ("children", "cases", "messages"):
            raise UsageError("a table counts children, cases or messages")
        width = len(self.dimensions[1].values) if len(self.dimensions) == 2 else 1
        if len(self.cells) != len(self.dimensions[0].values) or any(len(row) != width for row in self.cells):
            raise UsageError("a table's cells must match its dimensions' values")
        if any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for row in self.cells for v in row):
            raise UsageError("a table's cells are non-negative integer counts")

    @classmethod
    def tally(
        cls, dimensions: Sequence[Dimension], items: Iterable[tuple[str, ...]], counted: Counted = "children"
    ) -> Table:
        """Count ``items`` (one tuple of dimension values each) into a table; a value the
        dimension does not have is refused (its position is named, never the value)."""
        dims = tuple(dimensions)
        _check_dimensions(dims)
        index = [{v: i for i, v in enumerate(d.values)} for d in dims]
        width = len(dims[1].values) if len(dims) == 2 else 1
        grid = [[0] * width for _ in dims[0].values]
        for n, item in enumerate(items):
            if len(item) != len(dims):
                raise UsageError(f"item {n} has {len(item)} values for {len(dims)} dimensions")
            try:
                at = [index[d][v] for d, v in enumerate(item)]
            except KeyError:
                raise UsageError(f"item {n} has a value its dimension does not list") from None
            grid[at[0]][at[1] if len(at) == 2 else 0] += 1
        return cls(dims, tuple(tuple(row) for row in grid), counted)

    @property
    def two_dimensional(self) -> bool:
        return len(self.dimensions) == 2


@dataclass(frozen=True, slots=True)
class PublishedTable:
    """A table after disclosure control: each entry a number (0 or ≥ k) or the marker.

    ``row_totals`` and ``column_totals`` exist for two dimensions only (with one, a row's total is
    the row's cell). ``suppressed`` says whether any entry was withheld.
    """

    dimensions: tuple[Dimension, ...]
    cells: tuple[tuple[Cell, ...], ...]
    row_totals: tuple[Cell, ...] | None
    column_totals: tuple[Cell, ...] | None
    total: Cell
    counted: Counted
    suppressed: bool

    def entries(self) -> list[Cell]:
        """Every published entry, cells and totals."""
        out: list[Cell] = [c for row in self.cells for c in row]
        out += list(self.row_totals or ()) + list(self.column_totals or ()) + [self.total]
        return out

    def as_dict(self) -> dict[str, object]:
        return {
            "dimensions": [{"name": d.name, "values": list(d.values)} for d in self.dimensions],
            "counted": self.counted,
            "cells": [list(row) for row in self.cells],
            "row_totals": None if self.row_totals is None else list(self.row_totals),
            "column_totals": None if self.column_totals is None else list(self.column_totals),
            "total": self.total,
            "suppressed": self.suppressed,
        }


# ---------------------------------------------------------------------------------------------
# Suppression

Pos = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Line:
    """One additive relation of a table: the entries of ``parts`` sum to the entry ``total``."""

    parts: tuple[Pos, ...]
    total: Pos

    @property
    def entries(self) -> tuple[Pos, ...]:
        return (*self.parts, self.total)


def grid_of(table: Table) -> tuple[dict[Pos, int], list[Line]]:
    """The table's entries with their totals and its lines. Entry (i, j) with i < rows and j <
    columns is a cell; i = rows is the totals row, j = columns the totals column, (rows, columns)
    the grand total. With one dimension there is one column and no totals column: the entries are
    (i, 0) and the total (rows, 0), in one line."""
    rows = len(table.cells)
    if not table.two_dimensional:
        values = {(i, 0): table.cells[i][0] for i in range(rows)}
        values[(rows, 0)] = sum(values.values())
        return values, [Line(tuple((i, 0) for i in range(rows)), (rows, 0))]
    cols = len(table.cells[0])
    values = {(i, j): table.cells[i][j] for i in range(rows) for j in range(cols)}
    for i in range(rows):
        values[(i, cols)] = sum(table.cells[i])
    for j in range(cols):
        values[(rows, j)] = sum(table.cells[i][j] for i in range(rows))
    values[(rows, cols)] = sum(values[(i, cols)] for i in range(rows))
    lines = [Line(tuple((i, j) for j in range(cols)), (i, cols)) for i in range(rows + 1)]
    lines += [Line(tuple((i, j) for i in range(rows)), (rows, j)) for j in range(cols + 1)]
    return values, lines


def _grand(table: Table) -> Pos:
    return (len(table.cells), len(table.cells[0]) if table.two_dimensional else 0)


def withheld(table: Table, k: int = K) -> set[Pos]:
    """The entries ``suppress`` withholds: those from 1 to k−1, and their complements."""
    _check_k(k)
    values, lines = grid_of(table)
    grand = _grand(table)
    out = {p for p, v in values.items() if 1 <= v < k}
    if not out:
        return out
    while True:
        changed = False
        for line in lines:
            inside = [p for p in line.entries if p in out]
            if len(inside) == 1:
                out.add(_complement(line, values, out, grand))
                changed = True
        if not changed and table.two_dimensional:
            across = _across_a_bridge(values, out, grand)
            if across is not None:
                out.add(across)
                changed = True
        if not changed:
            return out


def _complement(line: Line, values: Mapping[Pos, int], out: set[Pos], grand: Pos) -> Pos:
    """The entry to withhold beside a line's only withheld one: the smallest non-zero cell, else
    the line's total, else a zero cell; the grand total only when nothing else is left."""
    free = [p for p in line.parts if p not in out]
    nonzero = sorted((values[p], p) for p in free if values[p] > 0 and p != grand)
    if nonzero:
        return nonzero[0][1]
    if line.total not in out and line.total != grand:
        return line.total
    zeros = [p for p in free if p != grand]
    if zeros:
        return zeros[0]
    return grand


def _across_a_bridge(values: Mapping[Pos, int], out: set[Pos], grand: Pos) -> Pos | None:
    """For the first withheld entry that lies on no cycle of withheld entries (the line sums fix
    it), the cheapest entry whose withholding closes a cycle through it; None when there is none.

    The graph: one node per line (row i is node i, column j is node rows + 1 + j), one edge per
    withheld entry (i, j) joining its row and its column."""
    rows, cols = grand
    adjacent: dict[int, list[tuple[int, Pos]]] = {}
    for i, j in out:
        adjacent.setdefault(i, []).append((rows + 1 + j, (i, j)))
        adjacent.setdefault(rows + 1 + j, []).append((i, (i, j)))
    for bridge in sorted(_bridges(adjacent)):
        side_r = _reach(bridge[0], adjacent, bridge)
        side_c = _reach(rows + 1 + bridge[1], adjacent, bridge)
        candidates = [
            (i, j)
            for i in range(rows + 1)
            for j in range(cols + 1)
            if (i, j) not in out
            and ((i in side_r and rows + 1 + j in side_c) or (i in side_c and rows + 1 + j in side_r))
        ]
        if candidates:
            return min(candidates, key=lambda p: (p == grand, values[p] == 0, values[p], p))
    return None


def _bridges(adjacent: Mapping[int, list[tuple[int, Pos]]]) -> set[Pos]:
    """The edges on no cycle (Tarjan's low-link, iteratively; no node has two edges to one other)."""
    order: dict[int, int] = {}
    low: dict[int, int] = {}
    out: set[Pos] = set()
    for root in adjacent:
        if root in order:
            continue
        order[root] = low[root] = len(order)
        stack: list[tuple[int, Pos | None, int]] = [(root, None, 0)]
        while stack:
            node, via, at = stack[-1]
            edges = adjacent[node]
            if at < len(edges):
                stack[-1] = (node, via, at + 1)
                other, edge = edges[at]
                if edge == via:
                    continue
                if other in order:
                    low[node] = min(low[node], order[other])
                else:
                    order[other] = low[other] = len(order)
                    stack.append((other, edge, 0))
                continue
            stack.pop()
            if stack:
                parent = stack[-1][0]
                low[parent] = min(low[parent], low[node])
                if low[node] > order[parent] and via is not None:
                    out.add(via)
    return out


def _reach(start: int, adjacent: Mapping[int, list[tuple[int, Pos]]], without: Pos) -> set[int]:
    seen = {start}
    todo = [start]
    while todo:
        for other, edge in adjacent[todo.pop()]:
            if edge != without and other not in seen:
                seen.add(other)
                todo.append(other)
    return seen


def suppress(table: Table, k: int = K) -> PublishedTable:
    """The table as it may be published: counts 1..k−1 and their complements show the marker."""
    hidden = withheld(table, k)
    values, _ = grid_of(table)
    shown: dict[Pos, Cell] = {p: (marker(k) if p in hidden else v) for p, v in values.items()}
    return _published(table, shown, bool(hidden))


def _published(table: Table, shown: Mapping[Pos, Cell], suppressed: bool) -> PublishedTable:
    rows, cols = _grand(table)
    if not table.two_dimensional:
        cells = tuple((shown[(i, 0)],) for i in range(rows))
        return PublishedTable(table.dimensions, cells, None, None, shown[(rows, 0)], table.counted, suppressed)
    return PublishedTable(
        table.dimensions,
        tuple(tuple(shown[(i, j)] for j in range(cols)) for i in range(rows)),
        tuple(shown[(i, cols)] for i in range(rows)),
        tuple(shown[(rows, j)] for j in range(cols)),
        shown[(rows, cols)],
        table.counted,
        suppressed,
    )


def _as_is(table: Table) -> PublishedTable:
    values, _ = grid_of(table)
    return _published(table, dict(values), False)


def suppress_count(n: int, k: int = K) -> Cell:
    """One count on its own: the marker from 1 to k−1, else the count."""
    _check_k(k)
    _check_count(n)
    return marker(k) if 1 <= n < k else n


def _check_count(n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise UsageError("a count is a non-negative integer")


# ---------------------------------------------------------------------------------------------
# Percentages and durations


def percentage(numerator: int, denominator: int, k: int = K) -> str | None:
    """``numerator`` out of ``denominator`` as published: None below k in the denominator (or when
    the numerator or its complement is 1..k−1 and the denominator is below 2k−1, where some of
    those have both small); a band from 0 when the numerator is 1..k−1,
    a band up to 100 when its complement is; else the value rounded to a whole percent (never 0 or
    100 unless it is exactly that)."""
    _check_k(k)
    _check_count(numerator)
    _check_count(denominator)
    if numerator > denominator:
        raise UsageError("a percentage's numerator cannot exceed its denominator")
    if denominator < k:
        return None
    small, small_complement = 1 <= numerator < k, 1 <= denominator - numerator < k
    if (small or small_complement) and denominator < 2 * k - 1:
        # Below 2k−1 some small numerators have a small complement too (and publish nothing), so a
        # band would tell the others apart (1 of 11 would be the only "0–90 %"): publish nothing.
        return None
    # Ten points, or as many as it takes to hold every numerator from 1 to k−1.
    edge = 10 * -(-10 * (k - 1) // denominator)
    if small:
        return f"0–{edge} %"
    if small_complement:
        return f"{100 - edge}–100 %"
    rounded = (200 * numerator + denominator) // (2 * denominator)
    if 0 < numerator < denominator:
        rounded = min(99, max(1, rounded))
    return f"{rounded} %"


def median_p90(values: Sequence[float], k: int = K) -> tuple[float, float] | None:
    """The median and the 90th percentile (nearest rank, never the largest value), or None with
    fewer than k values. No minimum or maximum is offered: each is one child."""
    _check_k(k)
    if any(not math.isfinite(v) for v in values):
        raise UsageError("durations are finite numbers")
    if len(values) < k:
        return None
    ordered = sorted(float(v) for v in values)
    n = len(ordered)
    middle = n // 2
    median = ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return median, ordered[math.ceil(0.9 * n) - 1]


# ---------------------------------------------------------------------------------------------
# The output envelope

FigureKind = Literal["count", "percent", "median", "p90"]


@dataclass(frozen=True, slots=True)
class Figure:
    """One published number outside a table: a count (number or marker), a percentage (a value or
    a band), or a duration's median or p90 (in ``unit``); None where it is not published."""

    name: str
    kind: FigureKind
    value: int | float | str | None
    unit: str = ""


@dataclass(frozen=True, slots=True)
class Measured:
    """What an indicator's computation produced, before disclosure control: named tables, counts,
    ratios (numerator, denominator) and durations (one value per child, case or request, in
    ``duration_unit``, or in the unit ``duration_units`` gives a duration by name: an indicator
    that times two things of different scale, hours to an acknowledgement and days to an answer,
    says each in its own)."""

    tables: tuple[tuple[str, Table], ...] = ()
    counts: tuple[tuple[str, int], ...] = ()
    ratios: tuple[tuple[str, int, int], ...] = ()
    durations: tuple[tuple[str, tuple[float, ...]], ...] = ()
    duration_unit: str = "days"
    duration_units: tuple[tuple[str, str], ...] = ()

    def unit_of(self, duration: str) -> str:
        """The unit of the duration named ``duration``."""
        return dict(self.duration_units).get(duration, self.duration_unit)


@dataclass(frozen=True, slots=True)
class IndicatorOutput:
    """One indicator for one period and node, with what a reader needs to trust it: the
    definition and its version, the code-list version, flow or stock, and whether suppression
    applied. ``exempt`` outputs are an officer's view of their own unit (``unit_id``) only.

    Build it with ``publish`` or ``unsuppressed_for_own_unit``; constructed by hand, a national
    output holding a count from 1 to 9 is refused."""

    definition_id: str
    definition_version: int
    code_list_version: str
    period: Period
    node_id: str
    measure: Measure
    suppressed: bool
    tables: tuple[tuple[str, PublishedTable], ...] = ()
    figures: tuple[Figure, ...] = ()
    exempt: bool = False
    unit_id: str | None = None
    k: int = field(default=K)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"I[1-9][0-9]*", self.definition_id):
            raise UsageError("an indicator's definition id reads I1, I2, …")
        if self.measure not in ("flow", "stock"):
            raise UsageError("an indicator measures a flow or a stock")
        if self.exempt != (self.unit_id is not None):
            raise UsageError("only an officer's own-unit view is exempt from suppression, and it names the unit")
        names = [n for n, _ in self.tables] + [f.name for f in self.figures]
        if len(set(names)) != len(names):
            raise UsageError("an indicator output's tables and figures have distinct names")
        if any(re.search(r"(^|[._])(min|max|minimum|maximum)($|[._])", n) for n in names):
            raise UsageError("an indicator output never holds a minimum or a maximum")
        if self.exempt:
            return
        _check_k(self.k)
        counts: list[object] = [c for _, t in self.tables for c in t.entries()]
        counts += [f.value for f in self.figures if f.kind == "count"]
        if any(isinstance(c, int) and not isinstance(c, bool) and 1 <= c < self.k for c in counts):
            raise UsageError(f"a national output never shows a count from 1 to {self.k - 1}")

    def as_dict(self) -> dict[str, object]:
        """The output as JSON-ready data."""
        return {
            "definition_id": self.definition_id,
            "definition_version": self.definition_version,
            "code_list_version": self.code_list_version,
            "period": str(self.period),
            "node_id": self.node_id,
            "measure": self.measure,
            "suppressed": self.suppressed,
            "exempt": self.exempt,
            "unit_id": self.unit_id,
            "threshold": None if self.exempt else self.k,
            "tables": {name: t.as_dict() for name, t in self.tables},
            "figures": [{"name": f.name, "kind": f.kind, "value": f.value, "unit": f.unit} for f in self.figures],
        }

    def as_csv_rows(self) -> list[list[str]]:
        """The output as CSV rows, a header first: one row per table entry (totals read TOTAL)
        and per figure, each repeating what the output is."""
        head = [
            self.definition_id,
            str(self.definition_version),
            self.code_list_version,
            str(self.period),
            self.node_id,
            self.measure,
            "true" if self.suppressed else "false",
            "true" if self.exempt else "false",
        ]
        rows = [list(CSV_HEADER)]
        for name, table in self.tables:
            for where, value in _table_entries(table):
                rows.append([*head, name, "table", *where, _text(value), table.counted])
        for f in self.figures:
            rows.append([*head, f.name, f.kind, "", "", "", "", _text(f.value), f.unit])
        return rows

    def as_csv(self) -> str:
        """``as_csv_rows`` written as CSV text."""
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(self.as_csv_rows())
        return out.getvalue()


CSV_HEADER = (
    "definition_id",
    "definition_version",
    "code_list_version",
    "period",
    "node_id",
    "measure",
    "suppressed",
    "exempt",
    "name",
    "kind",
    "row_dimension",
    "row_value",
    "column_dimension",
    "column_value",
    "value",
    "unit",
)

_TOTAL = "TOTAL"


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _table_entries(t: PublishedTable) -> Iterable[tuple[tuple[str, str, str, str], Cell]]:
    rows = t.dimensions[0]
    cols = t.dimensions[1] if len(t.dimensions) == 2 else None
    for i, row_value in enumerate(rows.values):
        for j, cell in enumerate(t.cells[i]):
            yield (rows.name, row_value, cols.name if cols else "", cols.values[j] if cols else ""), cell
        if t.row_totals is not None and cols is not None:
            yield (rows.name, row_value, cols.name, _TOTAL), t.row_totals[i]
    if t.column_totals is not None and cols is not None:
        for j, column_value in enumerate(cols.values):
            yield (rows.name, _TOTAL, cols.name, column_value), t.column_totals[j]
    yield (rows.name, _TOTAL, cols.name if cols else "", _TOTAL if cols else ""), t.total


def publish(
    measured: Measured,
    *,
    definition_id: str,
    definition_version: int,
    code_list_version: str,
    period: Period,
    node_id: str,
    measure: Measure,
    now_ms: int,
    k: int = K,
) -> IndicatorOutput:
    """A national output (for auditors): every table, count, percentage and duration under
    disclosure control. Refused for a period that has not ended (raises PreconditionFailed)."""
    _check_k(k)
    if not period.has_ended(now_ms):
        raise PreconditionFailed(
            "a national indicator is computed only for a period that has ended; a running period "
            "computed twice would show the difference of the days between"
        )
    tables = tuple((name, suppress(t, k)) for name, t in measured.tables)
    figures: list[Figure] = [Figure(name, "count", suppress_count(n, k)) for name, n in measured.counts]
    figures += [Figure(name, "percent", percentage(a, b, k)) for name, a, b in measured.ratios]
    figures += _duration_figures(measured, k)
    suppressed = (
        any(t.suppressed for _, t in tables)
        or any(f.value == marker(k) for f in figures if f.kind == "count")
        or any(_banded_or_hidden(a, b, k) for _, a, b in measured.ratios)
        or any(f.value is None for f in figures if f.kind in ("median", "p90"))
    )
    return IndicatorOutput(
        definition_id,
        definition_version,
        code_list_version,
        period,
        node_id,
        measure,
        suppressed,
        tables,
        tuple(figures),
        k=k,
    )


def _duration_figures(measured: Measured, k: int) -> list[Figure]:
    """Each duration's median and p90 (None below k values: the rule holds in every output)."""
    figures: list[Figure] = []
    for name, values in measured.durations:
        both, unit = median_p90(values, k), measured.unit_of(name)
        figures.append(Figure(f"{name}.median", "median", None if both is None else both[0], unit))
        figures.append(Figure(f"{name}.p90", "p90", None if both is None else both[1], unit))
    return figures


def _banded_or_hidden(numerator: int, denominator: int, k: int) -> bool:
    return denominator < k or 1 <= numerator < k or 1 <= denominator - numerator < k


def unsuppressed_for_own_unit(
    measured: Measured,
    *,
    unit_id: str,
    definition_id: str,
    definition_version: int,
    code_list_version: str,
    period: Period,
    node_id: str,
    measure: Measure,
) -> IndicatorOutput:
    """An officer's dashboard of their own unit ("3 overdue"): exact counts and percentages rounded
    to a whole percent. The officers see these cases anyway; the output names the unit and is
    marked exempt. Durations keep their rule (median and p90 from 10 values on): below that they
    say nothing a list of the cases does not say better."""
    if not unit_id:
        raise UsageError("an own-unit view names its unit")
    tables = tuple((name, _as_is(t)) for name, t in measured.tables)
    figures: list[Figure] = []
    for name, n in measured.counts:
        _check_count(n)
        figures.append(Figure(name, "count", n))
    for name, a, b in measured.ratios:
        _check_count(a)
        _check_count(b)
        if a > b:
            raise UsageError("a percentage's numerator cannot exceed its denominator")
        figures.append(Figure(name, "percent", None if b == 0 else f"{(200 * a + b) // (2 * b)} %"))
    figures += _duration_figures(measured, K)
    return IndicatorOutput(
        definition_id,
        definition_version,
        code_list_version,
        period,
        node_id,
        measure,
        False,
        tables,
        tuple(figures),
        exempt=True,
        unit_id=unit_id,
    )
