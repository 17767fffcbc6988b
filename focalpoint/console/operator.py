"""What the operator's pages show, made from what the local API answered: pure functions, no I/O.

An operator of the focal point works in the ROUTING view: they see which links exist, with whom,
at which stage and how urgent, and give each incoming one to a unit, but never a name or any
case content. Both pages are built from answers that already hold only that:

- the triage queue (``GET /triage``) from ``ListCases`` for the empty unit (links a partner sent
  without addressing one of our units, or addressing one we do not have); the units a case can be
  given to are the units of the node's enabled case officers, from ``ListUsers`` (the local API
  has no list of units of its own, and a unit without a case officer could not work the case);
- the deadline dashboard (``GET /deadlines``) from the ageing report's ``routing`` and
  ``bilateral`` views (``focalpoint.cases.ageing``: their ``as_dict`` as JSON), with a bar chart
  of open requests by age drawn as SVG numbers (``focalpoint.console.charts``: the template writes
  the elements, with presentation attributes only, so the Content-Security-Policy holds).

Labels are English msgids (``N_``), translated here with the page's language; country names come
from CLDR. The report's JSON is read defensively: a field of an unexpected type reads as absent,
so a newer node's report never breaks the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from focalpoint.cases.codes import country_name
from focalpoint.console.charts import Bar, BarChart, bar_chart
from focalpoint.console.fields import kind_label
from focalpoint.console.i18n import N_, PageLanguage
from focalpoint.console.views import STAGE_LABELS, URGENCY_LABELS
from focalpoint.console.views import json_int as _int
from focalpoint.console.views import json_text as _str
from focalpoint.exchange.rules import KINDS
from focalpoint.v1 import local_pb2

__all__ = [
    "AGE_BUCKETS",
    "BUCKET_LABELS",
    "AgeChart",
    "Bar",
    "BilateralRow",
    "DeadlineRow",
    "TriageRow",
    "age_chart",
    "bilateral_rows",
    "deadline_rows",
    "triage_rows",
    "unit_choices",
    "valid_link_id",
]

AGE_BUCKETS = ("0-7", "8-14", "15-30", "31-60", "61-90", "OVER_90")
"""The ageing report's buckets of a request's age in whole days, youngest first."""
BUCKET_LABELS = {
    "0-7": N_("0–7 days"),
    "8-14": N_("8–14 days"),
    "15-30": N_("15–30 days"),
    "31-60": N_("31–60 days"),
    "61-90": N_("61–90 days"),
    "OVER_90": N_("Over 90 days"),
}
KIND_LABELS = {"": N_("No open request"), **{kind: kind_label(kind) for kind in KINDS}}
# The ageing report names urgencies by word (focalpoint.cases.clocks.Urgency), the case list by number.
URGENCY_WORDS = {"": 0, "ROUTINE": 1, "URGENT": 2, "EMERGENCY": 3}
ROWS_SHOWN = 200
"""Routing rows the dashboard lists (the most overdue); the count of the rest is said."""
_LINK_ID_MAX = 128


def _say(labels: Mapping[str, str], key: str, lang: PageLanguage) -> str:
    text = labels.get(key)
    return lang.gettext(text) if text else key


def valid_link_id(value: str) -> bool:
    """Whether a path's link id could be one the node made (printable, short, no separators)."""
    return 0 < len(value) <= _LINK_ID_MAX and value.isprintable() and not any(c in value for c in "/ ")


def unit_choices(users: Iterable[local_pb2.UserInfo]) -> tuple[str, ...]:
    """The units a case can be given to: those of the node's enabled case officers, sorted."""
    return tuple(sorted({u.unit for u in users if u.unit and not u.disabled and "case_officer" in u.roles}))


# --- the triage queue ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TriageRow:
    """One incoming link waiting for a unit, in the ROUTING view's terms."""

    link_id: str
    case_ref: str
    partner_state: str  # the CLDR name in the page's language
    stage: str
    urgency: str
    urgent: bool
    waiting_since: str  # when the link entered its stage (for a new link: when it arrived)
    updated: str
    unreadable: bool


def triage_rows(cases: Iterable[local_pb2.CaseSummary], lang: PageLanguage) -> list[TriageRow]:
    rows = []
    for c in cases:
        if c.unreadable:
            rows.append(TriageRow(c.link_id, "", "", "", "", False, "", "", True))
            continue
        urgency = URGENCY_LABELS.get(c.urgency)
        rows.append(
            TriageRow(
                link_id=c.link_id,
                case_ref=c.case_ref,
                partner_state=country_name(c.partner_state, lang.tag) if c.partner_state else "",
                stage=_say(STAGE_LABELS, c.stage, lang),
                urgency=lang.gettext(urgency) if urgency else str(c.urgency),
                urgent=c.urgency >= 2,
                waiting_since=lang.datetime(c.stage_since_ms) if c.stage_since_ms else "",
                updated=lang.datetime(c.updated_at_ms) if c.updated_at_ms else "",
                unreadable=False,
            )
        )
    return rows


# --- the deadline dashboard ---------------------------------------------------------------------


def _entries(report: Mapping[str, object], key: str) -> list[Mapping[str, object]]:
    value = report.get(key)
    return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []


@dataclass(frozen=True, slots=True)
class DeadlineRow:
    """One open request of an active link (or the link itself when none is open)."""

    reference: str
    kind: str
    partner: str
    urgency: str
    urgent: bool
    due: str
    days_overdue: str
    overdue: bool
    stage: str
    unit: str  # "" when the link waits for triage


def deadline_rows(report: Mapping[str, object], lang: PageLanguage) -> tuple[list[DeadlineRow], int]:
    """The routing view's rows, most overdue first then soonest due (at most ``ROWS_SHOWN``), and
    how many rows there were in all."""
    raw = _entries(report, "rows")
    raw.sort(
        key=lambda e: (
            -(_int(e, "days_overdue") or 0),
            _int(e, "due_ms") is None,
            _int(e, "due_ms") or 0,
            _str(e, "reference"),
            _str(e, "kind"),
        )
    )
    rows = []
    for e in raw[:ROWS_SHOWN]:
        days = max(0, _int(e, "days_overdue") or 0)
        due = _int(e, "due_ms")
        level = URGENCY_WORDS.get(_str(e, "urgency"), 0)
        partner = _str(e, "partner")
        rows.append(
            DeadlineRow(
                reference=_str(e, "reference"),
                kind=_say(KIND_LABELS, _str(e, "kind"), lang),
                partner=country_name(partner, lang.tag) if partner else "",
                urgency=lang.gettext(URGENCY_LABELS[level]) if _str(e, "urgency") else "",
                urgent=level >= 2,
                due=lang.datetime(due) if due is not None else "",
                days_overdue=lang.number(days),
                overdue=days > 0,
                stage=_say(STAGE_LABELS, _str(e, "stage"), lang),
                unit=_str(e, "unit"),
            )
        )
    return rows, len(raw)


@dataclass(frozen=True, slots=True)
class BilateralRow:
    """Open requests of one kind with one partner State: counts, overdue and by age."""

    partner: str
    kind: str
    open: str
    overdue: str
    any_overdue: bool
    buckets: tuple[str, ...]  # formatted counts in ``AGE_BUCKETS`` order


def _buckets(entry: Mapping[str, object]) -> tuple[int, ...]:
    value = entry.get("age_buckets")
    got = value if isinstance(value, dict) else {}
    return tuple(v if isinstance(v := got.get(b), int) and not isinstance(v, bool) else 0 for b in AGE_BUCKETS)


def bilateral_rows(report: Mapping[str, object], lang: PageLanguage) -> list[BilateralRow]:
    """The bilateral view's requests, one row per partner State and kind, by partner name then kind."""
    rows = []
    for e in _entries(report, "requests"):
        partner = _str(e, "partner")
        overdue = _int(e, "overdue") or 0
        rows.append(
            BilateralRow(
                partner=country_name(partner, lang.tag) if partner else "",
                kind=_say(KIND_LABELS, _str(e, "kind"), lang),
                open=lang.number(_int(e, "open") or 0),
                overdue=lang.number(overdue),
                any_overdue=overdue > 0,
                buckets=tuple(lang.number(n) for n in _buckets(e)),
            )
        )
    rows.sort(key=lambda r: (r.partner, r.kind))
    return rows


AgeChart = BarChart
"""The deadline dashboard's chart (``focalpoint.console.charts``, shared with the auditor's pages)."""


def age_chart(report: Mapping[str, object], lang: PageLanguage) -> AgeChart:
    """The bilateral view's open requests summed over partners and kinds, by age bucket."""
    counts = [0] * len(AGE_BUCKETS)
    for e in _entries(report, "requests"):
        for i, n in enumerate(_buckets(e)):
            counts[i] += max(0, n)
    return bar_chart([(lang.gettext(BUCKET_LABELS[b]), n) for b, n in zip(AGE_BUCKETS, counts, strict=True)], lang)
