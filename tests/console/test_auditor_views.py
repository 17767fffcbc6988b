"""The auditor pages' pure parts, without a node: published values as shown (the marker kept, numbers
in the page's language, nothing unpublished guessed at), a national output of any counts shown with
no count from 1 to 9 in a table, a figure or a chart, the indicators' titles all translatable, the
ageing report's audit view and the audit log's verification read from answers of any shape, and the
chart's withheld bars drawn empty with their marker."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focalpoint.cases.disclosure import AGE_BAND, SEX, Measured, Period, Table, partner_dimension, publish
from focalpoint.cases.indicators import DEFINITIONS
from focalpoint.console.auditor import (
    TITLES,
    ageing_audit_view,
    audit_view,
    check_period,
    checkpoint_view,
    entry,
    indicator_view,
)
from focalpoint.console.charts import bar_chart
from focalpoint.console.i18n import Catalogs
from focalpoint.errors import UsageError
from focalpoint.v1 import audit_pb2, common_pb2, local_pb2

LANGS = Catalogs(("en", "fr", "ar"), "en", "UTC")
EN, FR, AR = LANGS.page("en"), LANGS.page("fr"), LANGS.page("ar")
NOW_MS = 1_800_000_000_000  # 2027-01-15: 2026 has ended


def test_a_period_is_a_year_or_a_quarter() -> None:
    assert check_period("2026") == "2026"
    assert check_period(" 2026q3 ") == "2026Q3"
    for bad in ("", "2026Q5", "2026-07", "26", "1999", "2026Q3;", "Q3"):
        with pytest.raises(UsageError):
            check_period(bad)


def test_a_published_value_is_shown_as_published() -> None:
    assert entry(0, EN) == entry(0, FR)
    assert entry(12345, FR).text == FR.number(12345) != "12345"
    assert entry("<10", EN).text == "<10"
    assert entry("<10", AR).withheld
    assert entry("0–20 %", EN).text == "0–20 %"
    assert entry("45 %", FR).text == f"{FR.number(45)} %"
    unpublished: object
    for unpublished in (None, True, "", [], {}):
        shown = entry(unpublished, FR)
        assert shown.withheld
        assert shown.text == FR.gettext("Not published") != "Not published"


def test_every_indicator_title_is_a_translated_msgid() -> None:
    assert {d.title for d in DEFINITIONS} <= set(TITLES)
    for d in DEFINITIONS:
        assert FR.gettext(TITLES[d.title]) != d.title
        assert AR.gettext(TITLES[d.title]) != d.title


def _output(one: list[str], two: list[tuple[str, str]], count: int) -> dict[str, object]:
    measured = Measured(
        tables=(
            ("by_sex", Table.tally((SEX,), [(s,) for s in one])),
            ("by_partner_and_age", Table.tally((partner_dimension(["AL", "IT"]), AGE_BAND), two, counted="cases")),
        ),
        counts=(("children", count),),
        ratios=(("share", min(count, 5), max(count, 5)),),
        durations=(("hours_to_guardian", tuple(float(i) for i in range(count))),),
        duration_units=(("hours_to_guardian", "hours"),),
    )
    output = publish(
        measured,
        definition_id="I1",
        definition_version=1,
        code_list_version="2026.1",
        period=Period(2026, 3),
        node_id="gr-ekka",
        measure="flow",
        now_ms=NOW_MS,
    )
    parsed: dict[str, object] = json.loads(json.dumps(output.as_dict()))
    return parsed


SEXES = st.lists(st.sampled_from(SEX.values), max_size=60)
PAIRS = st.lists(st.tuples(st.sampled_from(["AL", "IT"]), st.sampled_from(AGE_BAND.values)), max_size=60)


@settings(max_examples=60, deadline=None)
@given(SEXES, PAIRS, st.integers(0, 40))
def test_a_national_output_never_shows_a_count_from_1_to_9(one: list[str], two: list[tuple[str, str]], n: int) -> None:
    view = indicator_view(_output(one, two, n), FR)
    assert view.title == "Tuteur désigné dans le délai"
    assert view.known_version
    assert view.method.startswith("Children identified")
    by_sex, by_pair = view.tables
    shown = [e for t in view.tables for r in t.rows for e in (*r.cells, *([r.total] if r.total else []))]
    shown += [t.total for t in view.tables] + list(by_pair.column_totals or ())
    shown += [f.value for f in view.figures if f.kind == FR.gettext("Count")]
    assert by_sex.chart is not None
    assert by_pair.chart is None  # two dimensions: a table only
    assert by_pair.columns == AGE_BAND.values
    assert [r.label for r in by_pair.rows] == ["Albanie", "Italie"]
    for value in shown:
        assert value.withheld == (value.text == "<10")
        if not value.withheld:
            count = int("".join(c for c in value.text if c.isdigit()))
            assert count == 0 or count >= 10
    for bar, cell in zip(by_sex.chart.bars, [r.cells[0] for r in by_sex.rows], strict=True):
        assert bar.value == cell.text
        assert bar.withheld == cell.withheld


def test_an_output_of_another_shape_reads_as_partial() -> None:
    view = indicator_view(
        {"definition_id": "I99", "tables": {"x": {"dimensions": "no"}, "y": {}}, "figures": [3, {"value": 12}]}, EN
    )
    assert (view.title, view.method, view.known_version, view.tables) == ("I99", "", False, ())
    assert [f.value.text for f in view.figures] == ["Not published", "12"]


def test_the_chart_draws_a_withheld_entry_empty_with_its_marker() -> None:
    chart = bar_chart([("F", 40), ("M", "<10"), ("OTHER", 0)], EN, total="<10")
    full, withheld, zero = chart.bars
    assert (withheld.value, withheld.withheld, full.withheld) == ("<10", True, False)
    assert 0 < withheld.height < full.height  # up to 9 of 40
    assert zero.height == 0
    assert chart.total == "<10"
    assert "M: <10" in chart.summary
    wide = bar_chart([(f"value {i}", i) for i in range(12)], EN)
    assert wide.width > 640  # room for every label
    assert all(b.x + b.width <= wide.width for b in wide.bars)


def test_the_ageing_audit_view_names_partners_and_keeps_markers() -> None:
    report = {
        "view": "audit",
        "requests": [
            {"partner": "IT", "kind": "social_inquiry_request", "open": 12, "overdue": "<10", "median_age_days": 4.5},
            {"partner": "AL", "kind": "case_closure", "open": "<10", "overdue": 0, "l3_escalated": "<10"},
        ],
        "links": [
            {"partner": "AL", "open_links": "<10", "stages": {"ASSESSMENT": {"links": "<10"}}},
            {"partner": "IT", "open_links": 14, "stages": "x", "stuck_in_assessment_percent": "0–70 %"},
        ],
        "suppressed": True,
    }
    view = ageing_audit_view(report, AR)
    assert [r.partner for r in view.requests] == sorted(["ألبانيا", "إيطاليا"])
    albania = next(r for r in view.requests if r.partner == "ألبانيا")
    assert albania.open.text == "<10"
    assert albania.median_age_days.withheld
    assert view.suppressed
    [stage] = view.stages
    assert stage.links.text == "<10"
    assert ageing_audit_view({"requests": "x", "links": [1]}, EN).requests == ()


def _signed(size: int, witnesses: tuple[str, ...] = ()) -> audit_pb2.SignedCheckpoint:
    checkpoint = audit_pb2.Checkpoint(log_node="gr-ekka", size=size, root_hash=bytes(range(32)), issued_at_ms=NOW_MS)
    signed = audit_pb2.SignedCheckpoint(
        checkpoint=checkpoint.SerializeToString(),
        signatures=[
            common_pb2.Signature(key_id="k", algorithm=common_pb2.KEY_ALGORITHM_ED25519),
            common_pb2.Signature(key_id="k", algorithm=common_pb2.KEY_ALGORITHM_ML_DSA_65),
        ],
    )
    for w in witnesses:
        content = audit_pb2.CosignedContent(checkpoint=signed.checkpoint, witness_node=w, cosigned_at_ms=NOW_MS)
        signed.cosignatures.add(content=content.SerializeToString())
    signed.cosignatures.add(content=b"\xff\xff not a message")
    return signed


def test_the_audit_view_says_the_verification_and_the_checkpoint() -> None:
    verified = local_pb2.VerifyAuditResponse(ok=True, size=1234, checkpoint_matches=True)
    verified.checkpoint.CopyFrom(_signed(1200))
    view = audit_view(verified, _signed(1234, ("it-mlps", "al-shss")), FR)
    assert view.ok
    assert view.size == FR.number(1234)
    assert view.verified_checkpoint
    assert view.checkpoint_matches
    assert view.checkpoint is not None
    assert view.checkpoint.size == FR.number(1234)
    assert view.checkpoint.root_hex == bytes(range(32)).hex()
    assert view.checkpoint.signatures == "ED25519, ML_DSA_65"
    assert [w.witness_node for w in view.checkpoint.witnesses] == ["al-shss", "it-mlps"]

    broken = local_pb2.VerifyAuditResponse(ok=False, size=10, first_bad_index=7, reason="leaf 7 does not match")
    broken.alarms.add(log_node="it-mlps", reason="two roots for one size", detected_at_ms=NOW_MS, detected_by="gr-ekka")
    shown = audit_view(broken, None, EN)
    assert (shown.ok, shown.first_bad_index, shown.checkpoint, shown.verified_checkpoint) == (False, "7", None, False)
    assert [a.log_node for a in shown.alarms] == ["it-mlps"]
    assert checkpoint_view(audit_pb2.SignedCheckpoint(checkpoint=b"\xff\xff"), EN) is None
    assert checkpoint_view(audit_pb2.SignedCheckpoint(), EN) is None
