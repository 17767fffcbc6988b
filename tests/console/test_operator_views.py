"""The operator pages' pure parts: the units offered for triage, the routing rows' order and their
reading of a report of any shape, the bilateral table and the age chart's geometry; and every
string the console marks for translation has a French and an Arabic translation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st

from focalpoint.console.health import health_view
from focalpoint.console.i18n import LOCALE_DIR, Catalogs
from focalpoint.console.operator import (
    AGE_BUCKETS,
    ROWS_SHOWN,
    age_chart,
    bilateral_rows,
    deadline_rows,
    triage_rows,
    unit_choices,
    valid_link_id,
)
from focalpoint.v1 import local_pb2

LANGS = Catalogs(("en", "fr", "ar"), "en", "UTC")
EN = LANGS.page("en")
CONSOLE = Path(__file__).parents[2] / "focalpoint" / "console"


def test_units_offered_are_those_of_enabled_case_officers() -> None:
    users = [
        local_pb2.UserInfo(user_id="a", unit="al-shss/korca", roles=["case_officer"]),
        local_pb2.UserInfo(user_id="b", unit="al-shss", roles=["case_officer", "consular_officer"]),
        local_pb2.UserInfo(user_id="c", unit="al-shss/korca", roles=["case_officer"]),
        local_pb2.UserInfo(user_id="d", unit="al-shss/vlore", roles=["case_officer"], disabled=True),
        local_pb2.UserInfo(user_id="e", unit="al-shss/ops", roles=["operator"]),
    ]
    assert unit_choices(users) == ("al-shss", "al-shss/korca")


def test_a_link_id_from_an_address_is_checked() -> None:
    assert valid_link_id("0f" * 16)
    for bad in ("", "a/b", "a b", "x" * 129, "a\nb"):
        assert not valid_link_id(bad)


def test_triage_rows_say_the_partner_by_name_and_keep_an_unreadable_link_apart() -> None:
    cases = [
        local_pb2.CaseSummary(
            link_id="l1",
            case_ref="GR-2026-000001",
            partner_state="GR",
            stage="RECEIVED",
            urgency=3,
            stage_since_ms=1_780_000_000_000,
            updated_at_ms=1_780_000_000_000,
        ),
        local_pb2.CaseSummary(link_id="l2", unreadable="damaged"),
    ]
    french = LANGS.page("fr")
    first, second = triage_rows(cases, french)
    assert (first.partner_state, first.urgent) == ("Grèce", True)
    assert first.stage == french.gettext("Received, not yet acknowledged") != "Received, not yet acknowledged"
    assert first.urgency == french.gettext("Emergency") != "Emergency"
    assert first.waiting_since
    assert second.unreadable
    assert not second.case_ref


ROW = st.fixed_dictionaries(
    {
        "reference": st.from_regex(r"GR-2026-[0-9]{6}", fullmatch=True),
        "kind": st.sampled_from(["", "social_inquiry_request", "case_closure", "something_new"]),
        "partner": st.sampled_from(["AL", "IT", ""]),
        "urgency": st.sampled_from(["", "ROUTINE", "URGENT", "EMERGENCY"]),
        "due_ms": st.one_of(st.none(), st.integers(0, 2_000_000_000_000)),
        "days_overdue": st.integers(0, 400),
        "stage": st.sampled_from(["ASSESSMENT", "NEGOTIATION", "UNKNOWN"]),
        "unit": st.sampled_from(["", "gr-ekka/athens"]),
    }
)


@given(st.lists(ROW, max_size=30))
def test_routing_rows_come_most_overdue_first(raw: list[dict[str, Any]]) -> None:
    rows, total = deadline_rows({"view": "routing", "rows": raw}, EN)
    assert total == len(raw)
    days = [int(r.days_overdue.replace(",", "")) for r in rows]
    assert days == sorted(days, reverse=True)
    assert [r.overdue for r in rows] == [d > 0 for d in days]


def test_a_report_of_another_shape_reads_as_empty_or_partial() -> None:
    assert deadline_rows({}, EN) == ([], 0)
    assert deadline_rows({"rows": "nonsense"}, EN) == ([], 0)
    [row], _ = deadline_rows({"rows": [{"reference": 7, "days_overdue": "x", "due_ms": True}, 3]}, EN)
    assert (row.reference, row.days_overdue, row.due, row.overdue) == ("", "0", "", False)
    assert bilateral_rows({"requests": [{"partner": "AL", "age_buckets": "x"}]}, EN)[0].buckets == ("0",) * 6


def test_only_the_most_overdue_rows_are_listed() -> None:
    raw = [{"reference": f"GR-2026-{i:06}", "days_overdue": i} for i in range(ROWS_SHOWN + 5)]
    rows, total = deadline_rows({"rows": raw}, EN)
    assert (len(rows), total) == (ROWS_SHOWN, ROWS_SHOWN + 5)
    assert rows[0].reference == f"GR-2026-{ROWS_SHOWN + 4:06}"


def test_the_bilateral_table_names_partners_and_kinds_in_the_page_language() -> None:
    report = {
        "requests": [
            {
                "partner": "AL",
                "kind": "social_inquiry_request",
                "open": 3,
                "overdue": 1,
                "age_buckets": dict.fromkeys(AGE_BUCKETS, 0) | {"31-60": 3},
            }
        ]
    }
    [row] = bilateral_rows(report, LANGS.page("ar"))
    assert row.partner == "ألبانيا"
    assert row.kind == "طلب تحقيق اجتماعي"
    assert row.any_overdue
    assert row.buckets[3] == LANGS.page("ar").number(3)


BUCKETS = st.fixed_dictionaries({b: st.integers(0, 10_000) for b in AGE_BUCKETS})


@given(st.lists(BUCKETS, max_size=8))
def test_the_chart_bars_fit_and_are_as_tall_as_their_counts(entries: list[dict[str, int]]) -> None:
    chart = age_chart({"requests": [{"age_buckets": b} for b in entries]}, EN)
    counts = [sum(e[b] for e in entries) for b in AGE_BUCKETS]
    assert len(chart.bars) == len(AGE_BUCKETS)
    assert chart.total == EN.number(sum(counts))
    for bar, n in zip(chart.bars, counts, strict=True):
        assert bar.x >= 0
        assert bar.x + bar.width <= chart.width
        assert 0 <= bar.y <= chart.baseline
        assert abs(bar.y + bar.height - chart.baseline) < 0.2
        assert bar.height >= 0
        if n == 0:
            assert bar.height == 0
    for a, m in zip(chart.bars, counts, strict=True):
        for b, n in zip(chart.bars, counts, strict=True):
            if m >= n:
                assert a.height >= b.height  # a taller bar is a larger count
    assert chart.label_y < chart.height


def test_every_console_string_is_translated_in_french_and_arabic() -> None:
    """What ``pybabel extract -F babel.cfg`` finds has a translation in each shipped catalog."""
    with (CONSOLE / "babel.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)  # type: ignore[no-untyped-call]
    wanted = {message for _, _, message, _, _ in extract_from_dir(str(CONSOLE), method_map, options_map)}
    wanted = {m if isinstance(m, str) else m[0] for m in wanted}
    assert "Incoming cases to assign" in wanted
    for tag in ("fr", "ar"):
        with (LOCALE_DIR / tag / "LC_MESSAGES" / "messages.po").open("rb") as f:
            catalog = read_po(f, locale=tag)
        missing = sorted(m for m in wanted if m not in catalog or not catalog[m].string)
        assert missing == [], tag


def test_the_health_page_reads_the_node_report_and_survives_a_strange_one() -> None:
    lang = Catalogs(("en", "fr", "ar"), "en", "UTC").page("fr")
    report = {
        "version": 7,
        "healthy": False,
        "node_problems": ["the directory has expired"],
        "no_focal_point": ["MA"],
        "stale_contact_points": [{"state": "AL", "contact_point": "24-7", "last_verified": "2025-01-02"}],
        "expiring_keys": [{"node": "al-shss", "kind": "tls", "key_id": "k1", "expires": "2026-12-30"}],
        "expiring_documents": [{"document": "agreement AL-GR-2026", "expires": "2027-01-01"}],
        "excluded_documents": [],
        "missing_labels": [{"agreement": "AL-GR-2026", "code_list": "2026.1", "language": "sq", "codes": 12}],
        "unreachable_nodes": [{"node": "al-shss", "error": "connection refused"}],
        "clock_offsets": [{"node": "ma-dgsn", "offset_ms": -2500, "attention": True}],
    }
    view = health_view(report, lang)
    assert view.version == "7"
    assert not view.healthy
    assert [p.text for p in view.node_problems] == ["the directory has expired"]
    assert view.node_problems[0].lang == "en"  # the node's own words, marked as English
    assert view.no_focal_point == ("Maroc (MA)",)
    [al, ma] = view.partners
    assert (al.node, al.reachable, al.error and al.error.text) == ("al-shss", False, "connection refused")
    assert (ma.node, ma.reachable, ma.attention) == ("ma-dgsn", True, True)
    assert ma.offset == "−2,5 s"
    assert len(view.directory) == 4
    assert any("albanais" in line.text for line in view.directory)  # the language by its CLDR name
    strange = health_view({"version": True, "clock_offsets": "x", "unreachable_nodes": [3, {"node": 5}]}, lang)
    assert strange.version == ""
    assert strange.partners == ()
