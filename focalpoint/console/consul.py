"""The consular officer's list of their nationals' cases, made from ``ListCases``: pure, no I/O.

A consul's session lists only the links the node lets them reach (docs/consuls.md §2): their
State's nationals identified in their district, until the State of origin answers that the
child's nationality is not confirmed. The node decides; this module only shapes what it answered.
``ListCases`` never carries a name, so neither does the list.

Each row names the State that identified the child. On a link where this node's State is the
child's State of origin, that is the partner; where this node's State identified the child, it is
this node's own State, which the local API does not name: it is in the consul's district, so a
district of one State names it, and otherwise the row says "this node's State".
"""

from __future__ import annotations

from dataclasses import dataclass

from focalpoint.cases.codes import country_name
from focalpoint.console.i18n import N_, PageLanguage
from focalpoint.console.views import STAGE_LABELS, URGENCY_LABELS
from focalpoint.v1 import local_pb2

__all__ = ["THIS_STATE", "NationalRow", "identifying_state", "national_rows"]

THIS_STATE = N_("This node's State")


@dataclass(frozen=True, slots=True)
class NationalRow:
    link_id: str
    case_ref: str
    identifying_state: str  # the CLDR name in the page's language
    stage: str
    days_in_stage: str
    urgency: str
    urgent: bool
    updated: str
    closed: bool
    unreadable: bool


def identifying_state(case: local_pb2.CaseSummary, district: tuple[str, ...], lang: PageLanguage) -> str:
    """The name of the State that identified the child of ``case``, as far as the answer tells it."""
    if case.our_side == "OS" and case.partner_state:
        return country_name(case.partner_state, lang.tag)
    if case.our_side == "IS" and len(district) == 1:
        return country_name(district[0], lang.tag)
    return lang.gettext(THIS_STATE)


def national_rows(
    cases: list[local_pb2.CaseSummary], user: local_pb2.UserInfo, lang: PageLanguage
) -> list[NationalRow]:
    district = tuple(user.district)
    rows = []
    for c in cases:
        if c.unreadable:
            rows.append(NationalRow(c.link_id, "", "", "", "", "", False, "", False, True))
            continue
        urgency = URGENCY_LABELS.get(c.urgency)
        stage = STAGE_LABELS.get(c.stage)
        rows.append(
            NationalRow(
                link_id=c.link_id,
                case_ref=c.case_ref,
                identifying_state=identifying_state(c, district, lang),
                stage=lang.gettext(stage) if stage else c.stage,
                days_in_stage=lang.number(c.days_in_stage),
                urgency=lang.gettext(urgency) if urgency else str(c.urgency),
                urgent=c.urgency >= 2,
                updated=lang.datetime(c.updated_at_ms) if c.updated_at_ms else "",
                closed=c.closed,
                unreadable=False,
            )
        )
    return rows
