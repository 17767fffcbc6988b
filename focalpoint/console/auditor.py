"""What the auditor's pages show, made from what the local API answered: pure functions, no I/O.

An auditor is an independent monitor: they see aggregates only, never a case. Each page is built
from an answer that already holds nothing else, and the console adds nothing to it:

- the national indicators (``GET /indicators``) from ``GetIndicators``: one JSON object per
  indicator (``focalpoint.cases.disclosure.IndicatorOutput.as_dict``), always under disclosure
  control for a period that has ended. Each is shown with what a reader needs to trust it: the
  definition and its version, flow or stock, the code-list version, whether suppression applied,
  and the method statement from ``focalpoint.cases.indicators.DEFINITIONS``; its tables (withheld
  entries as the marker ``<10``, explained on the page), a bar chart per one-dimensional table
  (``focalpoint.console.charts``, a withheld entry drawn empty with its marker, never a number),
  and its figures;
- the ageing report's ``audit`` view (``GET /ageing-audit``): the bilateral figures through the
  same disclosure control (``focalpoint.cases.ageing.audit_view``);
- the audit log's verification (``GET /audit``) from ``VerifyAudit`` and the latest signed
  checkpoint (``GetCheckpoint``): size, root, signatures, the witnesses' cosignatures, alarms.

The titles of the indicators are translated (``TITLES``, checked against the definitions by a
test); the method statements are the definitions' own English text, marked as such on the page.
Dimension values are the code lists' codes, partner States by their CLDR name. JSON is read
defensively: a field of an unexpected type reads as absent, so a newer node never breaks a page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from focalpoint.cases.codes import country_name
from focalpoint.cases.indicators import DEFINITIONS, Definition
from focalpoint.console.charts import BarChart, bar_chart
from focalpoint.console.i18n import N_, PageLanguage
from focalpoint.console.operator import KIND_LABELS
from focalpoint.console.views import STAGE_LABELS
from focalpoint.console.views import json_int as _int
from focalpoint.console.views import json_text as _str
from focalpoint.errors import UsageError
from focalpoint.v1 import audit_pb2, common_pb2, local_pb2

__all__ = [
    "TITLES",
    "AgeingAuditView",
    "AlarmView",
    "AuditView",
    "CheckpointView",
    "Entry",
    "FigureView",
    "IndicatorView",
    "LinkStageRow",
    "PartnerLinksRow",
    "RequestRow",
    "TableRow",
    "TableView",
    "WitnessView",
    "ageing_audit_view",
    "audit_view",
    "check_period",
    "checkpoint_view",
    "entry",
    "indicator_view",
    "indicator_views",
]

TITLES = {
    "Guardian within the deadline": N_("Guardian within the deadline"),
    "Response times per partner and kind": N_("Response times per partner and kind"),
    "Returns meeting the gate": N_("Returns meeting the gate"),
    "Detentions during return": N_("Detentions during return"),
    "Disappearances": N_("Disappearances"),
    "Status at 12 months": N_("Status at 12 months"),
    "Time to a solution": N_("Time to a solution"),
    "Stalled cases": N_("Stalled cases"),
    "Children identified": N_("Children identified"),
    "Age outcomes": N_("Age outcomes"),
    "Child heard": N_("Child heard"),
    "Governance": N_("Governance"),
}
"""The indicators' titles (``Definition.title``) as msgids: a title not listed here shows in English."""
MEASURE_LABELS = {"flow": N_("Flow (what happened during the period)"), "stock": N_("Stock (at the period's end)")}
COUNTED_LABELS = {"children": N_("Children"), "cases": N_("Cases"), "messages": N_("Messages")}
FIGURE_KINDS = {"count": N_("Count"), "percent": N_("Share"), "median": N_("Median"), "p90": N_("90th percentile")}
UNIT_LABELS = {"hours": N_("hours"), "days": N_("days")}
NOT_PUBLISHED = N_("Not published")
_NONE = "–"
_MARKER = re.compile(r"<\d{1,6}")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_PERIOD = re.compile(r"(\d{4})(?:Q([1-4]))?")
_PARTNER = "partner"
_DEFINITIONS = {d.id: d for d in DEFINITIONS}


def _say(labels: Mapping[str, str], key: str, lang: PageLanguage) -> str:
    text = labels.get(key)
    return lang.gettext(text) if text else key


def _dict(value: object) -> Mapping[str, object]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def check_period(text: str) -> str:
    """The period a chooser asked for, as the node reads it (``2026`` or ``2026Q3``; a lower-case
    ``q`` and surrounding spaces are forgiven). Anything else is refused before the node is asked."""
    found = _PERIOD.fullmatch(text.strip().upper())
    if found is None or not 2000 <= int(found[1]) <= 9998:
        raise UsageError("a period is a calendar year such as 2026 or a quarter such as 2026Q3")
    return found[0]


# --- entries: one published value as shown ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One published value as the page writes it; ``withheld`` for the disclosure marker and for a
    value not published at all."""

    text: str
    withheld: bool = False


def _localized(text: str, lang: PageLanguage) -> str:
    """A published text such as ``0–20 %`` with its numbers in the page's language."""
    return _NUMBER.sub(lambda m: lang.number(float(m[0]) if "." in m[0] else int(m[0])), text)


def entry(value: object, lang: PageLanguage) -> Entry:
    """A table cell or a figure's value: a count, a number, the marker, a percentage or a band;
    ``None`` (not published: too few values) and anything unexpected read as not published."""
    if isinstance(value, bool):
        return Entry(lang.gettext(NOT_PUBLISHED), True)
    if isinstance(value, int | float):
        return Entry(lang.number(value))
    if isinstance(value, str) and value:
        if _MARKER.fullmatch(value.strip()):
            return Entry(value.strip(), True)
        return Entry(_localized(value, lang))
    return Entry(lang.gettext(NOT_PUBLISHED), True)


def _cell(value: object) -> int | str:
    """A table cell as a chart draws it: a count, or the marker (anything else draws as zero)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _MARKER.fullmatch(value.strip()):
        return value.strip()
    return 0


# --- the national indicators ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TableRow:
    label: str
    cells: tuple[Entry, ...]
    total: Entry | None  # two-dimensional tables only


@dataclass(frozen=True, slots=True)
class TableView:
    """One published table: rows by its first dimension, columns by its second (if any)."""

    name: str
    counted: str
    row_dimension: str
    column_dimension: str  # "" for a one-dimensional table
    columns: tuple[str, ...]
    rows: tuple[TableRow, ...]
    column_totals: tuple[Entry, ...] | None
    total: Entry
    suppressed: bool
    chart: BarChart | None  # one-dimensional tables only


@dataclass(frozen=True, slots=True)
class FigureView:
    name: str
    kind: str
    value: Entry
    unit: str


@dataclass(frozen=True, slots=True)
class IndicatorView:
    """One indicator's national output with its definition."""

    definition_id: str
    definition_version: str
    title: str
    method: str  # the definition's English text, or "" when this console does not know the definition
    known_version: bool  # the console's definition has the output's version
    measure: str
    period: str
    code_list_version: str
    suppressed: bool
    threshold: str
    tables: tuple[TableView, ...]
    figures: tuple[FigureView, ...]


def _values(dimension: Mapping[str, object], lang: PageLanguage) -> tuple[str, ...]:
    values = tuple(v for v in _list(dimension.get("values")) if isinstance(v, str))
    if _str(dimension, "name") == _PARTNER:
        return tuple(country_name(v, lang.tag) for v in values)
    return values


def _table(name: str, raw: Mapping[str, object], lang: PageLanguage) -> TableView | None:
    dimensions = [_dict(d) for d in _list(raw.get("dimensions"))]
    if not 1 <= len(dimensions) <= 2:
        return None
    row_values = _values(dimensions[0], lang)
    column_values = _values(dimensions[1], lang) if len(dimensions) == 2 else ()
    cells = [_list(r) for r in _list(raw.get("cells"))]
    row_totals = raw.get("row_totals")
    column_totals = raw.get("column_totals")
    width = max(len(column_values), 1)
    rows = []
    for i, label in enumerate(row_values):
        got = cells[i] if i < len(cells) else []
        shown = tuple(entry(got[j] if j < len(got) else None, lang) for j in range(width))
        total = None
        if column_values:
            totals = _list(row_totals)
            total = entry(totals[i] if i < len(totals) else None, lang)
        rows.append(TableRow(label, shown, total))
    chart = None
    if not column_values:
        points = [
            (label, _cell(cells[i][0] if i < len(cells) and cells[i] else 0)) for i, label in enumerate(row_values)
        ]
        chart = bar_chart(points, lang, total=entry(raw.get("total"), lang).text)
    totals_row = None
    if column_values and isinstance(column_totals, list):
        totals_row = tuple(
            entry(column_totals[j] if j < len(column_totals) else None, lang) for j in range(len(column_values))
        )
    return TableView(
        name=name,
        counted=_say(COUNTED_LABELS, _str(raw, "counted"), lang),
        row_dimension=_str(dimensions[0], "name"),
        column_dimension=_str(dimensions[1], "name") if column_values else "",
        columns=column_values,
        rows=tuple(rows),
        column_totals=totals_row,
        total=entry(raw.get("total"), lang),
        suppressed=raw.get("suppressed") is True,
        chart=chart,
    )


def _figure(raw: Mapping[str, object], lang: PageLanguage) -> FigureView:
    unit = _str(raw, "unit")
    return FigureView(
        name=_str(raw, "name"),
        kind=_say(FIGURE_KINDS, _str(raw, "kind"), lang),
        value=entry(raw.get("value"), lang),
        unit=_say(UNIT_LABELS, unit, lang) if unit else "",
    )


def indicator_view(output: Mapping[str, object], lang: PageLanguage) -> IndicatorView:
    """One ``IndicatorOutput.as_dict`` as the page shows it."""
    definition_id = _str(output, "definition_id")
    version = _int(output, "definition_version")
    definition: Definition | None = _DEFINITIONS.get(definition_id)
    tables = []
    for name, raw in _dict(output.get("tables")).items():
        table = _table(name, _dict(raw), lang)
        if table is not None:
            tables.append(table)
    threshold = _int(output, "threshold")
    return IndicatorView(
        definition_id=definition_id,
        definition_version=lang.number(version) if version is not None else _NONE,
        title=_say(TITLES, definition.title, lang) if definition else definition_id,
        method=definition.method if definition else "",
        known_version=definition is not None and definition.version == version,
        measure=_say(MEASURE_LABELS, _str(output, "measure"), lang),
        period=_str(output, "period"),
        code_list_version=_str(output, "code_list_version"),
        suppressed=output.get("suppressed") is True,
        threshold=lang.number(threshold) if threshold is not None else _NONE,
        tables=tuple(tables),
        figures=tuple(_figure(_dict(f), lang) for f in _list(output.get("figures"))),
    )


def indicator_views(outputs: Sequence[Mapping[str, object]], lang: PageLanguage) -> list[IndicatorView]:
    """Every output, in the node's order (the definitions' order)."""
    return [indicator_view(o, lang) for o in outputs]


# --- the ageing report's audit view ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestRow:
    """Open requests of one kind with one partner State."""

    partner: str
    kind: str
    open: Entry
    overdue: Entry
    median_age_days: Entry
    p90_age_days: Entry
    l3_escalated: Entry


@dataclass(frozen=True, slots=True)
class LinkStageRow:
    """Open links with one partner State in one stage."""

    partner: str
    stage: str
    links: Entry
    median_days: Entry
    p90_days: Entry


@dataclass(frozen=True, slots=True)
class PartnerLinksRow:
    partner: str
    open_links: Entry
    stuck_percent: Entry


@dataclass(frozen=True, slots=True)
class AgeingAuditView:
    requests: tuple[RequestRow, ...]
    stages: tuple[LinkStageRow, ...]
    partners: tuple[PartnerLinksRow, ...]
    suppressed: bool


def _partner(entry_: Mapping[str, object], lang: PageLanguage) -> str:
    code = _str(entry_, "partner")
    return country_name(code, lang.tag) if code else _NONE


def ageing_audit_view(report: Mapping[str, object], lang: PageLanguage) -> AgeingAuditView:
    """The ``audit`` view's JSON (``AggregateView.as_dict``) as three tables, by partner name."""
    requests = []
    for raw in _list(report.get("requests")):
        e = _dict(raw)
        requests.append(
            RequestRow(
                partner=_partner(e, lang),
                kind=_say(KIND_LABELS, _str(e, "kind"), lang),
                open=entry(e.get("open"), lang),
                overdue=entry(e.get("overdue"), lang),
                median_age_days=entry(e.get("median_age_days"), lang),
                p90_age_days=entry(e.get("p90_age_days"), lang),
                l3_escalated=entry(e.get("l3_escalated"), lang),
            )
        )
    stages, partners = [], []
    for raw in _list(report.get("links")):
        e = _dict(raw)
        partner = _partner(e, lang)
        partners.append(
            PartnerLinksRow(
                partner, entry(e.get("open_links"), lang), entry(e.get("stuck_in_assessment_percent"), lang)
            )
        )
        for stage, figures in _dict(e.get("stages")).items():
            f = _dict(figures)
            stages.append(
                LinkStageRow(
                    partner=partner,
                    stage=_say(STAGE_LABELS, stage, lang),
                    links=entry(f.get("links"), lang),
                    median_days=entry(f.get("median_days_in_stage"), lang),
                    p90_days=entry(f.get("p90_days_in_stage"), lang),
                )
            )
    requests.sort(key=lambda r: (r.partner, r.kind))
    partners.sort(key=lambda r: r.partner)
    stages.sort(key=lambda r: r.partner)  # stable: each partner's stages stay in the report's order
    return AgeingAuditView(tuple(requests), tuple(stages), tuple(partners), report.get("suppressed") is True)


# --- the audit log --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WitnessView:
    witness_node: str
    cosigned_at: str
    signatures: str  # the algorithms, e.g. "ED25519, ML_DSA_65"


@dataclass(frozen=True, slots=True)
class CheckpointView:
    log_node: str
    size: str
    root_hex: str
    issued_at: str
    epoch: str
    signatures: str
    witnesses: tuple[WitnessView, ...]
    restored: bool  # the checkpoint's epoch began with a declared restore


@dataclass(frozen=True, slots=True)
class AlarmView:
    """Conflicting checkpoints of a partner's log that this node found while witnessing it."""

    log_node: str
    reason: str
    detected_at: str
    detected_by: str


@dataclass(frozen=True, slots=True)
class AuditView:
    ok: bool
    size: str
    first_bad_index: str
    reason: str
    checkpoint: CheckpointView | None
    verified_checkpoint: bool  # the verification compared the stored log with a checkpoint
    checkpoint_matches: bool
    checkpoint_signature_error: str
    alarms: tuple[AlarmView, ...]


def _algorithms(signatures: Sequence[common_pb2.Signature]) -> str:
    names = []
    for s in signatures:
        try:
            name = common_pb2.KeyAlgorithm.Name(s.algorithm)
        except ValueError:
            name = str(s.algorithm)
        names.append(name.removeprefix("KEY_ALGORITHM_"))
    return ", ".join(names)


def _cosigned(raw: bytes) -> audit_pb2.CosignedContent | None:
    try:
        return audit_pb2.CosignedContent.FromString(raw)
    except Exception:
        return None


def checkpoint_view(signed: audit_pb2.SignedCheckpoint, lang: PageLanguage) -> CheckpointView | None:
    """A signed checkpoint as shown (None when it holds none or cannot be read)."""
    if not signed.checkpoint:
        return None
    try:
        checkpoint = audit_pb2.Checkpoint.FromString(signed.checkpoint)
    except Exception:  # a damaged answer: said as no checkpoint, never guessed at
        return None
    witnesses = []
    for cosignature in signed.cosignatures:
        content = _cosigned(cosignature.content)
        if content is None:  # a damaged cosignature is left out, never guessed at
            continue
        witnesses.append(
            WitnessView(
                witness_node=content.witness_node,
                cosigned_at=lang.datetime(content.cosigned_at_ms) if content.cosigned_at_ms else _NONE,
                signatures=_algorithms(cosignature.signatures),
            )
        )
    return CheckpointView(
        log_node=checkpoint.log_node,
        size=lang.number(checkpoint.size),
        root_hex=checkpoint.root_hash.hex(),
        issued_at=lang.datetime(checkpoint.issued_at_ms) if checkpoint.issued_at_ms else _NONE,
        epoch=lang.number(checkpoint.epoch),
        signatures=_algorithms(signed.signatures),
        witnesses=tuple(sorted(witnesses, key=lambda w: w.witness_node)),
        restored=signed.HasField("restore"),
    )


def audit_view(
    verified: local_pb2.VerifyAuditResponse, latest: audit_pb2.SignedCheckpoint | None, lang: PageLanguage
) -> AuditView:
    """The verification and the latest checkpoint (``latest``; else the one the verification used)."""
    shown = checkpoint_view(latest, lang) if latest is not None else None
    if shown is None and verified.HasField("checkpoint"):
        shown = checkpoint_view(verified.checkpoint, lang)
    return AuditView(
        ok=verified.ok,
        size=lang.number(verified.size),
        first_bad_index=lang.number(verified.first_bad_index),
        reason=verified.reason,
        checkpoint=shown,
        verified_checkpoint=verified.HasField("checkpoint"),
        checkpoint_matches=verified.checkpoint_matches,
        checkpoint_signature_error=verified.checkpoint_signature_error,
        alarms=tuple(
            AlarmView(
                log_node=a.log_node,
                reason=a.reason,
                detected_at=lang.datetime(a.detected_at_ms) if a.detected_at_ms else _NONE,
                detected_by=a.detected_by,
            )
            for a in verified.alarms
        ),
    )
