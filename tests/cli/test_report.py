"""``focalpoint report indicators``' three formats, from outputs as the node sends them; the
ageing report's rows."""

from __future__ import annotations

import json
from typing import Any

from focalpoint.cases import ageing
from focalpoint.cases.disclosure import Measured, Period, Table, publish, unsuppressed_for_own_unit
from focalpoint.cases.indicators import AGEING, definition
from focalpoint.cli.report import ageing_rows, csv_text, text
from tests.cases.test_ageing import NOW, POPULATION

Q3 = Period(2026, 3)
MEASURED = Measured(
    tables=(("open_by_days", Table(((AGEING,)), ((3,), (40,), (0,), (12,), (0,), (25,)), counted="cases")),),
    counts=(("open", 80),),
    ratios=(("stalled_percent", 25, 80),),
)
ARGS = {
    "definition_id": "I8",
    "definition_version": 1,
    "code_list_version": "2026.1",
    "period": Q3,
    "node_id": "gr-ekka",
    "measure": "stock",
}


def _national() -> dict[str, Any]:
    out = publish(MEASURED, now_ms=Q3.end_ms, **ARGS)  # type: ignore[arg-type]
    travelled: dict[str, Any] = json.loads(json.dumps(out.as_dict()))  # as it travels
    return travelled


def test_csv_is_the_outputs_own_csv() -> None:
    out = publish(MEASURED, now_ms=Q3.end_ms, **ARGS)  # type: ignore[arg-type]
    assert csv_text([_national()]) == out.as_csv()


def test_text_names_the_indicator_its_method_and_that_suppression_applied() -> None:
    shown = text(_national())
    assert shown.startswith("I8 Stalled cases — 2026Q3, node gr-ekka, stock, definition v1, code list 2026.1")
    assert definition("I8").method in shown
    assert "suppression applied" in shown
    [row] = [line.split() for line in shown.splitlines() if line.strip().startswith("0-7")]
    assert row == ["0-7", "<10"]  # the 3 is withheld
    own = unsuppressed_for_own_unit(MEASURED, unit_id="gr-ekka/athens", **ARGS)  # type: ignore[arg-type]
    assert "own unit gr-ekka/athens: exact counts" in text(json.loads(json.dumps(own.as_dict())))


def test_ageing_rows_of_a_row_view_and_an_aggregate_view() -> None:
    routing = json.loads(json.dumps(ageing.routing_view(POPULATION, NOW).as_dict(), sort_keys=True))
    header, rows = ageing_rows(routing)
    assert "reference" in header
    assert len(rows) == 17
    audit = json.loads(json.dumps(ageing.audit_view(POPULATION, NOW).as_dict(), sort_keys=True))
    header, rows = ageing_rows(audit)
    assert header == ["partner", "group", "measure", "value"]
    assert ["AL", "social_inquiry_request", "open", "<10"] in rows
    # BE's 12 links in assessment are withheld (they would give AL's away), so their median is too.
    assert ["BE", "ASSESSMENT", "median_days_in_stage", ""] in rows
    assert not any(r[2].startswith("oldest") for r in rows)
