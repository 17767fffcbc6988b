"""Disclosure control: no published count 1–9, no withheld cell recoverable from the rest, percentages
and durations only from 10, calendar periods only, and an envelope that says what it is."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focalpoint.cases.disclosure import (
    AGE_BAND,
    EXPLOITATION_FORM,
    IDENTIFICATION_STATUS,
    LINK_ROLE,
    SEX,
    Cell,
    Dimension,
    Figure,
    IndicatorOutput,
    Measured,
    Period,
    PublishedTable,
    Table,
    grid_of,
    median_p90,
    partner_dimension,
    percentage,
    publish,
    suppress,
    suppress_count,
    unsuppressed_for_own_unit,
    withheld,
)
from focalpoint.errors import PreconditionFailed, UsageError


def _ms(year: int, month: int, day: int = 1, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC).timestamp() * 1000)


NOW = _ms(2027, 2, 1)
Y2026 = Period(2026)


def _dim(name: str, n: int) -> Dimension:
    return Dimension(name, tuple(f"V{i}" for i in range(n)))


def _table(cells: list[list[int]]) -> Table:
    return Table((_dim("rows", len(cells)), _dim("cols", len(cells[0]))), tuple(tuple(r) for r in cells))


def _column(cells: list[int]) -> Table:
    return Table((_dim("rows", len(cells)),), tuple((c,) for c in cells))


# ---------------------------------------------------------------------------------------------
# Two attackers who know the published entries and how the table adds up


def _published_grid(table: Table, published: PublishedTable) -> dict[tuple[int, int], Cell]:
    """The published entries at the positions of ``grid_of``."""
    rows = len(table.cells)
    if not table.two_dimensional:
        out: dict[tuple[int, int], Cell] = {(i, 0): published.cells[i][0] for i in range(rows)}
        out[(rows, 0)] = published.total
        return out
    cols = len(table.cells[0])
    assert published.row_totals is not None
    assert published.column_totals is not None
    out = {(i, j): published.cells[i][j] for i in range(rows) for j in range(cols)}
    out.update({(i, cols): published.row_totals[i] for i in range(rows)})
    out.update({(rows, j): published.column_totals[j] for j in range(cols)})
    out[(rows, cols)] = published.total
    return out


def _line_attack(table: Table, published: PublishedTable) -> set[tuple[int, int]]:
    """Repeatedly, in any line with exactly one unknown entry, derive it from the others."""
    _, lines = grid_of(table)
    known = {p: v for p, v in _published_grid(table, published).items() if isinstance(v, int)}
    derived: set[tuple[int, int]] = set()
    progress = True
    while progress:
        progress = False
        for line in lines:
            unknown = [p for p in line.entries if p not in known]
            if len(unknown) == 1:
                (p,) = unknown
                parts = sum(known[q] for q in line.parts if q != p)
                known[p] = parts if p == line.total else known[line.total] - parts
                derived.add(p)
                progress = True
    return derived


def _algebra_attack(table: Table, published: PublishedTable) -> set[tuple[int, int]]:
    """Every unknown entry fixed by the linear relations of the table (exact Gaussian elimination):
    an unknown is fixed when its unit vector lies in the row space of the relations restricted to
    the unknowns, i.e. when the reduced form has a row with that single non-zero entry."""
    _, lines = grid_of(table)
    grid = _published_grid(table, published)
    unknowns = sorted(p for p, v in grid.items() if not isinstance(v, int))
    column = {p: n for n, p in enumerate(unknowns)}
    matrix: list[list[Fraction]] = []
    for line in lines:
        row = [Fraction(0)] * len(unknowns)
        for p in line.parts:
            if p in column:
                row[column[p]] += 1
        if line.total in column:
            row[column[line.total]] -= 1
        if any(row):
            matrix.append(row)
    pivot_row = 0
    for c in range(len(unknowns)):
        found = next((r for r in range(pivot_row, len(matrix)) if matrix[r][c] != 0), None)
        if found is None:
            continue
        matrix[pivot_row], matrix[found] = matrix[found], matrix[pivot_row]
        lead = matrix[pivot_row][c]
        matrix[pivot_row] = [x / lead for x in matrix[pivot_row]]
        for r in range(len(matrix)):
            if r != pivot_row and matrix[r][c] != 0:
                factor = matrix[r][c]
                matrix[r] = [a - factor * b for a, b in zip(matrix[r], matrix[pivot_row], strict=True)]
        pivot_row += 1
    fixed = set()
    for row in matrix[:pivot_row]:
        nonzero = [c for c, x in enumerate(row) if x != 0]
        if len(nonzero) == 1:
            fixed.add(unknowns[nonzero[0]])
    return fixed


def _primary(table: Table) -> set[tuple[int, int]]:
    values, _ = grid_of(table)
    return {p for p, v in values.items() if 1 <= v <= 9}


# ---------------------------------------------------------------------------------------------
# Tables by hand


def test_a_table_without_small_counts_is_published_as_it_is() -> None:
    """Nothing from 1 to 9: every cell and total shown, zero included, and not marked suppressed."""
    published = suppress(_table([[12, 0], [30, 41]]))
    assert published.cells == ((12, 0), (30, 41))
    assert published.row_totals == (12, 71)
    assert published.column_totals == (42, 41)
    assert published.total == 83
    assert not published.suppressed


def test_one_dimension_withholds_a_complement_beside_a_small_count() -> None:
    """3 of F beside 25, 0, 40: the 3 shows <10 and so does the smallest other non-zero count (25),
    else 68 − 0 − 40 would give it back; the zero and the total stay."""
    published = suppress(Table((SEX,), ((3,), (25,), (0,), (40,))))
    assert published.cells == (("<10",), ("<10",), (0,), (40,))
    assert published.total == 68
    assert published.row_totals is None
    assert published.column_totals is None
    assert published.suppressed


def test_one_small_cell_in_two_dimensions_takes_three_complements() -> None:
    """5 in a 2×2: its row's and its column's smallest others go, then the fourth cell closes the
    rectangle; every total can still be published."""
    published = suppress(_table([[5, 20], [30, 40]]))
    assert published.cells == (("<10", "<10"), ("<10", "<10"))
    assert published.row_totals == (25, 70)
    assert published.column_totals == (35, 60)
    assert published.total == 95


def test_a_small_total_is_withheld_with_its_cells() -> None:
    """A row whose total is 4 hides the total too; the column that then holds only one withheld
    total gets its complement; the grand total stays."""
    table = _table([[1, 3, 0], [20, 30, 40], [25, 12, 50]])
    published = suppress(table)
    assert published.cells[0] == ("<10", "<10", 0)
    assert published.row_totals is not None
    assert published.row_totals[0] == "<10"
    assert published.total == 181
    assert not _algebra_attack(table, published)


def test_a_small_grand_total_hides_everything_it_adds_up_to() -> None:
    """Seven children in all: every non-zero entry is 1–9 and shows <10; zeros stay zero."""
    published = suppress(_table([[2, 0], [4, 1]]))
    assert published.cells == (("<10", 0), ("<10", "<10"))
    assert published.total == "<10"


def test_a_withheld_cell_on_no_cycle_is_closed_by_one_more() -> None:
    """[[50, 0, 0], [50, 5, 30], [5, 1, 0]]: after the rule "two withheld entries in every line",
    the 1 would still be fixed (its column says 1 = g − 5-cell; the totals row and the middle row
    give g − 5-cell = (36 − h) − (35 − c) with c = h), because it lies on no cycle of withheld
    entries. One more entry across (the middle row's 50) closes one; nothing can be solved."""
    table = _table([[50, 0, 0], [50, 5, 30], [5, 1, 0]])
    published = suppress(table)
    assert published.cells == (("<10", 0, 0), ("<10", "<10", "<10"), ("<10", "<10", 0))
    assert published.row_totals == ("<10", 85, "<10")
    assert published.column_totals == (105, "<10", "<10")
    assert published.total == 141
    assert not _line_attack(table, published)
    assert not _algebra_attack(table, published)


def test_a_count_on_its_own() -> None:
    """A lone count: <10 from 1 to 9, the count otherwise."""
    assert [suppress_count(n) for n in (0, 1, 9, 10, 57)] == [0, "<10", "<10", 10, 57]
    with pytest.raises(UsageError):
        suppress_count(-1)


def test_the_threshold_is_never_lowered() -> None:
    """k = 5 is refused; a higher k widens the rule and its marker."""
    with pytest.raises(UsageError):
        suppress(_column([1, 2]), k=5)
    assert suppress_count(12, k=20) == "<20"


# ---------------------------------------------------------------------------------------------
# The property: nothing 1–9 is published, and no withheld entry can be worked out

_COUNT = st.one_of(st.integers(1, 9), st.integers(1, 9), st.just(0), st.integers(10, 40))


@st.composite
def _tables(draw: st.DrawFn) -> Table:
    shape = draw(st.sampled_from(["column", "one_row", "grid"]))
    if shape == "column":
        return _column(draw(st.lists(_COUNT, min_size=1, max_size=8)))
    rows = 1 if shape == "one_row" else draw(st.integers(1, 6))
    cols = draw(st.integers(1, 6))
    return _table([[draw(_COUNT) for _ in range(cols)] for _ in range(rows)])


@settings(max_examples=300, deadline=None)
@given(_tables())
def test_no_count_from_1_to_9_is_published_and_no_withheld_entry_is_recoverable(table: Table) -> None:
    """For any table: published numbers are 0 or ≥ 10 and equal the truth; the line attacker
    derives no entry at all, so none of the small ones; and exact linear algebra over every row
    and column sum fixes no withheld entry either."""
    published = suppress(table)
    values, _ = grid_of(table)
    grid = _published_grid(table, published)
    for p, shown in grid.items():
        assert shown == "<10" or (shown == values[p] and (shown == 0 or shown >= 10))
    assert published.suppressed == bool(_primary(table))
    assert not _line_attack(table, published) & _primary(table)
    assert not _line_attack(table, published)
    assert not _algebra_attack(table, published)
    assert {p for p, v in grid.items() if v == "<10"} == withheld(table)


@settings(max_examples=100, deadline=None)
@given(_tables())
def test_the_grand_total_is_kept_unless_it_is_small(table: Table) -> None:
    """One population shows one total in every table: the grand total is withheld only when it is
    itself from 1 to 9 (then every entry adding up to it is, too)."""
    published = suppress(table)
    values, _ = grid_of(table)
    grand = max(values)
    total = values[grand]
    assert published.total == ("<10" if 1 <= total <= 9 else total)


# ---------------------------------------------------------------------------------------------
# Percentages


def test_percentages_by_hand() -> None:
    """None under 10 in the denominator; 10-point bands from 90 up; wider bands below; values otherwise."""
    assert percentage(5, 9) is None
    assert percentage(0, 9) is None
    assert percentage(0, 10) == "0 %"
    assert percentage(10, 10) == "100 %"
    assert percentage(45, 100) == "45 %"
    assert percentage(3, 100) == "0–10 %"
    assert percentage(97, 100) == "90–100 %"
    assert percentage(9, 90) == "0–10 %"
    assert percentage(3, 50) == "0–20 %"
    assert percentage(47, 50) == "80–100 %"
    assert percentage(3, 12) is None  # both 3 and 9 are small
    assert percentage(10, 20) == "50 %"
    assert percentage(10, 19) == "50–100 %"  # its complement 9 is small
    assert percentage(11, 2000) == "1 %"  # never "0 %" for a non-zero share
    with pytest.raises(UsageError):
        percentage(11, 10)


@given(st.integers(0, 400), st.integers(0, 400))
def test_no_percentage_lets_a_small_numerator_be_told_apart(a: int, b: int) -> None:
    """Below 10 in the denominator nothing is published; when the numerator (or its complement) is
    1–9, every numerator (or complement) from 1 to 9 publishes the same text, so knowing the
    denominator tells nothing more than the count's marker does."""
    numerator, denominator = min(a, b), max(a, b)
    shown = percentage(numerator, denominator)
    if denominator < 10:
        assert shown is None
        return
    if 1 <= numerator <= 9:
        assert {percentage(n, denominator) for n in range(1, 10) if n <= denominator} == {shown}
    elif 1 <= denominator - numerator <= 9:
        assert {percentage(denominator - c, denominator) for c in range(1, 10)} == {shown}
    else:
        half_up = math.floor(Fraction(100 * numerator, denominator) + Fraction(1, 2))
        assert shown == f"{half_up} %" or shown in {"1 %", "99 %"}


# ---------------------------------------------------------------------------------------------
# Durations


def test_a_small_numerator_over_a_denominator_below_19_publishes_nothing() -> None:
    """1 of 11 once published "0–90 %" while 2..9 of 11 published nothing: the band alone told the
    count. Below 2k−1 = 19 a small numerator or complement now publishes nothing, as its twins do."""
    assert {percentage(n, 11) for n in range(1, 11)} == {None}
    assert percentage(1, 19) == percentage(9, 19) == "0–50 %"
    assert percentage(10, 18) is None  # its complement, 8, is small too
    assert percentage(10, 20) == "50 %"


def test_durations_need_ten_values_and_never_show_the_largest() -> None:
    """Nine values: nothing. Ten: the median of the middle two and the ninth value as p90."""
    assert median_p90([float(v) for v in range(9)]) is None
    assert median_p90([float(v) for v in range(1, 11)]) == (5.5, 9.0)
    assert median_p90([float(v) for v in range(1, 12)]) == (6.0, 10.0)
    with pytest.raises(UsageError):
        median_p90([float("nan")] * 10)


@given(st.lists(st.integers(0, 10_000), min_size=0, max_size=60, unique=True))
def test_p90_is_never_the_largest_nor_the_median_the_smallest(values: list[int]) -> None:
    """From ten distinct values on, p90 is below the maximum and the median above the minimum."""
    result = median_p90([float(v) for v in values])
    if len(values) < 10:
        assert result is None
        return
    assert result is not None
    median, p90 = result
    assert min(values) < median <= p90 < max(values)


# ---------------------------------------------------------------------------------------------
# Periods


def test_years_and_quarters_parse_and_bound_their_instants() -> None:
    """2026 is the UTC year, 2026Q3 July to September; the end is the first instant after."""
    q3 = Period.parse("2026Q3", now_ms=NOW)
    assert (q3.year, q3.quarter, str(q3)) == (2026, 3, "2026Q3")
    assert q3.start_ms == _ms(2026, 7, 1)
    assert q3.end_ms == _ms(2026, 10, 1)
    assert Period.parse("2026Q4", now_ms=NOW).end_ms == _ms(2027, 1, 1)
    year = Period.parse("2026", now_ms=NOW)
    assert (year.start_ms, year.end_ms, str(year)) == (_ms(2026, 1, 1), _ms(2027, 1, 1), "2026")
    assert q3.contains(q3.start_ms)
    assert not q3.contains(q3.end_ms)
    assert q3.contains(_ms(2026, 9, 30, 23, 59, 59))
    assert year.has_ended(NOW)
    assert not Period(2027).has_ended(NOW)


@pytest.mark.parametrize(
    "text", ["2026-03", "2026M3", "2026Q5", "2026Q0", "2026H1", "2026-01-01..2026-02-01", "26", "", "Q3 2026"]
)
def test_anything_but_a_year_or_quarter_is_refused(text: str) -> None:
    """Months, half-years, ranges and other spellings: refused, so no two windows overlap in part."""
    with pytest.raises(UsageError, match="calendar year"):
        Period.parse(text, now_ms=NOW)


def test_a_period_that_has_not_begun_is_refused_and_a_running_one_is_not() -> None:
    """2027Q2 on 1 February 2027 has not begun; 2027Q1 has (it is running)."""
    with pytest.raises(UsageError, match="not begun"):
        Period.parse("2027Q2", now_ms=NOW)
    assert not Period.parse("2027Q1", now_ms=NOW).has_ended(NOW)


# ---------------------------------------------------------------------------------------------
# Dimensions and tables


def test_the_disaggregations_are_data() -> None:
    """The six ways of breaking down, with their codes."""
    assert SEX.values == ("F", "M", "OTHER", "UNKNOWN")
    assert AGE_BAND.values == ("0-11", "12-14", "15-17", "UNKNOWN_PRESUMED_MINOR")
    assert LINK_ROLE.values == ("IDENTIFYING", "ORIGIN", "TRANSIT")
    assert "NONE_IDENTIFIED" in EXPLOITATION_FORM.values
    assert "ADOPTION_OR_MARRIAGE" not in EXPLOITATION_FORM.values
    assert "MISSING_FROM_ORIGIN" in IDENTIFICATION_STATUS.values
    assert partner_dimension(["GR", "AL", "GR"]).values == ("AL", "GR")
    with pytest.raises(UsageError):
        partner_dimension(["Greece"])


def test_a_table_has_at_most_two_dimensions_and_never_the_four_way_breakdown() -> None:
    """Three dimensions, the same one twice, partner × sex × age × form, or a combined value: refused."""
    partner = partner_dimension(["AL", "GR"])
    with pytest.raises(UsageError, match="never more"):
        Table.tally((SEX, AGE_BAND, LINK_ROLE), [])
    with pytest.raises(UsageError, match="never produced"):
        Table.tally((partner, SEX, AGE_BAND, EXPLOITATION_FORM), [])
    with pytest.raises(UsageError, match="different"):
        Table.tally((SEX, SEX), [])
    with pytest.raises(UsageError, match="combinations"):
        Dimension("sex_age", ("F×0-11", "M×0-11"))
    with pytest.raises(UsageError, match="match"):
        Table((SEX,), ((1,), (2,)))
    with pytest.raises(UsageError, match="non-negative"):
        Table((SEX,), ((1,), (2,), (-1,), (0,)))


def test_tally_counts_items_and_names_no_value() -> None:
    """Tally fills the cells; an unknown value is refused by position only."""
    table = Table.tally((SEX, LINK_ROLE), [("F", "ORIGIN"), ("F", "ORIGIN"), ("M", "TRANSIT")])
    assert table.cells[0] == (0, 2, 0)
    assert table.cells[1] == (0, 0, 1)
    with pytest.raises(UsageError, match="item 1") as refused:
        Table.tally((SEX,), [("F",), ("Alice",)])
    assert "Alice" not in str(refused.value)


# ---------------------------------------------------------------------------------------------
# The envelope

_HEADING = {
    "definition_id": "I9",
    "definition_version": 1,
    "code_list_version": "2026.1",
    "period": Y2026,
    "node_id": "gr-athens-1",
    "measure": "flow",
}


def _measured() -> Measured:
    return Measured(
        tables=(("by_sex", Table((SEX,), ((3,), (25,), (0,), (40,)))),),
        counts=(("open_breaches", 4), ("identified", 68)),
        ratios=(("within_24h", 50, 68),),
        durations=(("hours_to_guardian", tuple(float(h) for h in range(1, 8))),),
        duration_unit="hours",
    )


def test_a_national_output_is_suppressed_and_says_so() -> None:
    """Counts, tables, percentages and durations all go through their rules; JSON says what it is."""
    out = publish(_measured(), now_ms=NOW, **_HEADING)  # type: ignore[arg-type]
    assert out.suppressed
    assert not out.exempt
    data = out.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["period"] == "2026"
    assert data["definition_id"] == "I9"
    assert data["threshold"] == 10
    figures = {f["name"]: f["value"] for f in data["figures"]}  # type: ignore[attr-defined]
    assert figures == {
        "open_breaches": "<10",
        "identified": 68,
        "within_24h": "74 %",
        "hours_to_guardian.median": None,
        "hours_to_guardian.p90": None,
    }
    assert data["tables"]["by_sex"]["cells"] == [["<10"], ["<10"], [0], [40]]  # type: ignore[index]
    assert "min" not in json.dumps(data)
    assert "max" not in json.dumps(data)


def test_the_csv_repeats_what_each_row_is() -> None:
    """One row per entry and per figure under a fixed header; totals read TOTAL."""
    out = publish(_measured(), now_ms=NOW, **_HEADING)  # type: ignore[arg-type]
    rows = list(csv.reader(io.StringIO(out.as_csv())))
    assert rows[0][:8] == [
        "definition_id",
        "definition_version",
        "code_list_version",
        "period",
        "node_id",
        "measure",
        "suppressed",
        "exempt",
    ]
    assert rows == out.as_csv_rows()
    body = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert len(body) == 5 + 5
    assert {r["period"] for r in body} == {"2026"}
    assert {r["suppressed"] for r in body} == {"true"}
    total = next(r for r in body if r["row_value"] == "TOTAL")
    assert (total["name"], total["value"], total["unit"]) == ("by_sex", "68", "children")
    assert not any(r["value"] in {str(n) for n in range(1, 10)} for r in body)


def test_two_dimensions_in_csv_carry_row_and_column_totals() -> None:
    """A 2×2 table: four cells, two row totals, two column totals and the grand total."""
    table = Table((SEX, LINK_ROLE), ((12, 0, 30), (11, 10, 14), (0, 0, 0), (0, 0, 0)))
    out = publish(Measured(tables=(("t", table),)), now_ms=NOW, **_HEADING)  # type: ignore[arg-type]
    rows = out.as_csv_rows()[1:]
    assert len(rows) == 4 * 3 + 4 + 3 + 1
    grand = rows[-1]
    assert grand[10:16] == ["sex", "TOTAL", "link_role", "TOTAL", "77", "children"]


def test_a_national_output_waits_for_its_period_to_end() -> None:
    """A running quarter computed twice would show the difference of the days between: refused."""
    with pytest.raises(PreconditionFailed):
        publish(_measured(), now_ms=_ms(2026, 6, 1), **{**_HEADING, "period": Period(2026, 2)})  # type: ignore[arg-type]


def test_the_own_unit_view_is_exact_and_only_for_a_unit() -> None:
    """An officer's own unit: exact counts and percentages, marked exempt, naming the unit; a
    running period is fine; durations keep their 10-value rule."""
    out = unsuppressed_for_own_unit(_measured(), unit_id="unit-7", **{**_HEADING, "period": Period(2027)})  # type: ignore[arg-type]
    assert out.exempt
    assert not out.suppressed
    assert out.unit_id == "unit-7"
    figures = {f.name: f.value for f in out.figures}
    assert figures["open_breaches"] == 4
    assert figures["within_24h"] == "74 %"
    assert figures["hours_to_guardian.median"] is None
    assert out.tables[0][1].cells == ((3,), (25,), (0,), (40,))
    assert out.as_dict()["threshold"] is None
    with pytest.raises(UsageError):
        unsuppressed_for_own_unit(_measured(), unit_id="", **_HEADING)  # type: ignore[arg-type]


def test_a_national_output_cannot_be_exempt_or_carry_a_small_count_by_hand() -> None:
    """Built by hand: exempt without a unit, a unit without exemption, a 3, or a maximum are refused."""
    base = {**_HEADING, "suppressed": False}
    with pytest.raises(UsageError, match="own-unit"):
        IndicatorOutput(**base, exempt=True)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="own-unit"):
        IndicatorOutput(**base, unit_id="unit-7")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="from 1 to 9"):
        IndicatorOutput(**base, figures=(Figure("open", "count", 3),))  # type: ignore[arg-type]
    raw = unsuppressed_for_own_unit(_measured(), unit_id="u", **_HEADING).tables  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="from 1 to 9"):
        IndicatorOutput(**base, tables=raw)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="maximum"):
        IndicatorOutput(**base, figures=(Figure("hours.max", "median", 40.0),))  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="I1, I2"):
        IndicatorOutput(**{**base, "definition_id": "X1"})  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(SEX.values), st.sampled_from(AGE_BAND.values)), max_size=80),
    st.lists(st.integers(0, 60), max_size=30),
    st.integers(0, 40),
    st.integers(0, 40),
)
def test_no_national_output_holds_a_small_count_a_small_denominator_or_an_extreme(
    children: list[tuple[str, str]], hours: list[int], a: int, b: int
) -> None:
    """For generated populations, the whole JSON has no count 1–9, a percentage only from a
    denominator of 10, durations only from 10 values, and no minimum or maximum anywhere."""
    measured = Measured(
        tables=(("sex_by_age", Table.tally((SEX, AGE_BAND), children)),),
        counts=(("children", len(children)),),
        ratios=(("share", min(a, b), max(a, b)),),
        durations=(("hours", tuple(float(h) for h in hours)),),
    )
    out = publish(measured, now_ms=NOW, **_HEADING)  # type: ignore[arg-type]
    text = json.dumps(out.as_dict())
    numbers = [v for _, t in out.tables for v in t.entries() if isinstance(v, int)]
    numbers += [f.value for f in out.figures if f.kind == "count" and isinstance(f.value, int)]
    assert not any(1 <= n <= 9 for n in numbers)
    share = next(f.value for f in out.figures if f.name == "share")
    n, d = min(a, b), max(a, b)
    small = 1 <= n <= 9 or 1 <= d - n <= 9
    assert (share is None) == (d < 10 or (small and d < 19))
    median = next(f.value for f in out.figures if f.name == "hours.median")
    assert (median is None) == (len(hours) < 10)
    assert "min" not in text
    assert "max" not in text
