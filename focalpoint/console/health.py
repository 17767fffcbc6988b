"""The operator's health page, made from ``GetHealth``'s report: pure, no I/O.

The node's report (``directory.health.HealthReport.as_dict`` as JSON) says whether the directory
and this node need attention: the node's own problems, partners it cannot reach and clocks that
disagree with its own, States without a focal point, contact points not verified for long, keys
and documents about to expire or left out, and code-list labels missing for an agreement's
languages. This module turns it into rows for the page; names of States come from CLDR, the
node's own sentences (a problem, a transport error) stay in English and are marked so. The JSON
is read defensively: what has an unexpected type reads as absent, so a newer node never breaks
the page. Nothing here is a case: the report holds node ids, key ids and document names only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from focalpoint.cases.codes import country_name, language_name
from focalpoint.console.case_view import Text
from focalpoint.console.i18n import N_, PageLanguage
from focalpoint.console.views import json_int, json_text

__all__ = ["HealthView", "PartnerRow", "health_view"]

ENGLISH = "en"
MISSING_LABELS = N_(
    "Code list %(version)s lacks %(count)s labels in %(language)s, a language of agreement %(agreement)s"
)
KINDS_OF_KEY = {
    "signing": N_("signing key"),
    "kem": N_("encryption key"),
    "tls": N_("TLS key"),
    "log": N_("audit-log key"),
}


@dataclass(frozen=True, slots=True)
class PartnerRow:
    node: str
    reachable: bool
    error: Text | None  # why it could not be reached (the transport's words, in English)
    offset: str  # the partner's clock against ours, e.g. "+1.2 s"; "" when not measured
    attention: bool  # the offset is large enough to matter for deadlines and signatures


@dataclass(frozen=True, slots=True)
class HealthView:
    version: str
    healthy: bool
    node_problems: tuple[Text, ...]
    partners: tuple[PartnerRow, ...]
    no_focal_point: tuple[str, ...]  # State names
    directory: tuple[Text, ...]  # one line per finding about the directory's documents


def _rows(report: Mapping[str, object], key: str) -> list[Mapping[str, object]]:
    value = report.get(key)
    return [r for r in value if isinstance(r, Mapping)] if isinstance(value, list) else []


def _english(text: str, lang: PageLanguage) -> Text:
    return Text(text, ENGLISH if lang.tag != ENGLISH else "")


def _offset(ms: int, lang: PageLanguage) -> str:
    sign = "+" if ms >= 0 else "−"
    return f"{sign}{lang.number(round(abs(ms) / 1000, 1))} s"


def health_view(report: Mapping[str, object], lang: PageLanguage) -> HealthView:
    """The page's rows for one health report (an empty report reads as "nothing known")."""
    say = lang.gettext
    unreachable = {json_text(r, "node"): json_text(r, "error") for r in _rows(report, "unreachable_nodes")}
    clocks = {
        json_text(r, "node"): (json_int(r, "offset_ms"), r.get("attention") is True)
        for r in _rows(report, "clock_offsets")
    }
    partners = []
    for node in sorted(set(unreachable) | set(clocks)):
        if not node:
            continue
        offset, attention = clocks.get(node, (None, False))
        partners.append(
            PartnerRow(
                node=node,
                reachable=node not in unreachable,
                error=_english(unreachable[node], lang) if unreachable.get(node) else None,
                offset=_offset(offset, lang) if offset is not None else "",
                attention=attention,
            )
        )
    problems = report.get("node_problems")
    node_problems = (
        tuple(_english(p, lang) for p in problems if isinstance(p, str)) if isinstance(problems, list) else ()
    )
    states = report.get("no_focal_point")
    no_focal_point = (
        tuple(f"{country_name(s, lang.tag)} ({s})" for s in states if isinstance(s, str))
        if isinstance(states, list)
        else ()
    )
    lines: list[Text] = []
    for r in _rows(report, "stale_contact_points"):
        lines.append(
            Text(
                say(N_("Contact point %(point)s of %(state)s not verified since %(when)s"))
                % {
                    "point": json_text(r, "contact_point"),
                    "state": country_name(json_text(r, "state"), lang.tag),
                    "when": json_text(r, "last_verified"),
                }
            )
        )
    for r in _rows(report, "expiring_keys"):
        kind = json_text(r, "kind")
        lines.append(
            Text(
                say(N_("The %(kind)s %(key)s of node %(node)s expires on %(when)s"))
                % {
                    "kind": say(KINDS_OF_KEY[kind]) if kind in KINDS_OF_KEY else kind,
                    "key": json_text(r, "key_id"),
                    "node": json_text(r, "node"),
                    "when": json_text(r, "expires"),
                }
            )
        )
    for r in _rows(report, "expiring_documents"):
        lines.append(
            Text(
                say(N_("The directory document %(document)s expires on %(when)s"))
                % {"document": json_text(r, "document"), "when": json_text(r, "expires")}
            )
        )
    for r in _rows(report, "excluded_documents"):
        lines.append(
            Text(
                say(N_("The directory document %(document)s is not in use: %(reason)s"))
                % {"document": json_text(r, "document"), "reason": json_text(r, "reason")}
            )
        )
    for r in _rows(report, "missing_labels"):
        lines.append(
            Text(
                say(MISSING_LABELS)
                % {
                    "version": json_text(r, "code_list"),
                    "count": lang.number(json_int(r, "codes") or 0),
                    "language": language_name(json_text(r, "language"), lang.tag),
                    "agreement": json_text(r, "agreement"),
                }
            )
        )
    version = report.get("version")
    return HealthView(
        version=str(version) if isinstance(version, int | str) and not isinstance(version, bool) else "",
        healthy=report.get("healthy") is True,
        node_problems=node_problems,
        partners=tuple(partners),
        no_focal_point=no_focal_point,
        directory=tuple(lines),
    )
