"""What the pages show, made from what the local API answered: pure functions, no I/O.

The labels here are English msgids (``N_``), translated where the page is rendered. Country
names come from CLDR (``focalpoint.cases.codes.country_name``), never from the catalogs.

The worklist shows what ``ListCases`` returns: reference, partner State, side, stage and days in
it, urgency, the return gate's missing conditions, flagged messages, and what is owed on the link
each way — the earliest date by which we owe the partner an answer and by which they owe us one,
with how many are overdue said in words. The node reads those from each link's summary in the same
call; the case page each row links to lists every request with its deadline
(``focalpoint.console.case_view``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from focalpoint.cases.codes import country_name
from focalpoint.console.i18n import N_, PageLanguage
from focalpoint.errors import UsageError
from focalpoint.v1 import local_pb2

__all__ = [
    "ROLE_LABELS",
    "Cursor",
    "HomeView",
    "WorklistRow",
    "home_view",
    "json_int",
    "json_text",
    "parse_cursor",
    "worklist_rows",
]

STAGE_LABELS = {
    "OPEN": N_("Open, nothing sent yet"),
    "RECEIVED": N_("Received, not yet acknowledged"),
    "NOTIFIED": N_("Notified"),
    "ACKNOWLEDGED": N_("Acknowledged"),
    "ASSESSMENT": N_("Assessment"),
    "NEGOTIATION": N_("Negotiation"),
    "AGREED": N_("Agreed"),
    "RETURN_PREPARATION": N_("Return being prepared"),
    "RETURN_IN_PROGRESS": N_("Return in progress"),
    "FOLLOW_UP": N_("Follow-up"),
    "LOCAL_SOLUTION": N_("Local solution"),
    "CLOSING": N_("Closing"),
    "CLOSED": N_("Closed"),
    "REFUSED": N_("Refused"),
    "WITHDRAWN": N_("Withdrawn"),
}
URGENCY_LABELS = {0: N_("Not stated"), 1: N_("Routine"), 2: N_("Urgent"), 3: N_("Emergency")}
SIDE_LABELS = {"IS": N_("We identified the child"), "OS": N_("Child's State of origin")}
GATE_LABELS = {
    "G1_SOCIAL_INQUIRY": N_("Social inquiry report"),
    "G2_RISK_ASSESSMENT": N_("Risk assessment"),
    "G3_CHILD_VIEWS": N_("The child's views"),
    "G4_IDENTITY_NATIONALITY": N_("Identity and nationality"),
    "G5_REINTEGRATION_PLAN": N_("Reintegration plan"),
}
ROLE_LABELS = {
    "case_officer": N_("Case officer"),
    "consular_officer": N_("Consular officer"),
    "operator": N_("Operator"),
    "directory_admin": N_("Directory administrator"),
    "auditor": N_("Auditor"),
}


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a worklist page starts: after this link (the previous page's last)."""

    updated_at_ms: int
    link_id: str

    def text(self) -> str:
        return f"{self.updated_at_ms}.{self.link_id}"


def parse_cursor(text: str) -> Cursor | None:
    """The ``after`` query parameter (``<updated_at_ms>.<link_id>``); "" is the first page."""
    if not text:
        return None
    ms, sep, link = text.partition(".")
    if not sep or not ms.isdigit() or len(ms) > 18 or not link or len(link) > 128 or not link.isprintable():
        raise UsageError("the page parameter 'after' is not one this console made; start from the first page")
    return Cursor(int(ms), link)


@dataclass(frozen=True, slots=True)
class WorklistRow:
    link_id: str
    case_ref: str
    partner_state: str  # the CLDR name in the page's language
    side: str
    stage: str
    days_in_stage: str
    urgency: str
    urgent: bool
    gate_missing: tuple[str, ...]
    flagged: str
    updated: str
    unreadable: bool
    # What is owed on the link: the earliest due date each way ("" = nothing open that way) and how
    # many are past due ("" = none); ``deadlines_unknown``: the node could not read them just now.
    we_owe: str = ""
    we_late: str = ""
    they_owe: str = ""
    they_late: str = ""
    deadlines_unknown: bool = False


def _label(labels: dict[str, str] | dict[int, str], key: object, lang: PageLanguage) -> str:
    text = labels.get(key)  # type: ignore[call-overload]
    return lang.gettext(text) if text else str(key)


def worklist_rows(cases: list[local_pb2.CaseSummary], lang: PageLanguage) -> list[WorklistRow]:
    rows = []
    for c in cases:
        if c.unreadable:
            rows.append(WorklistRow(c.link_id, "", "", "", "", "", "", False, (), "", "", True))
            continue
        rows.append(
            WorklistRow(
                link_id=c.link_id,
                case_ref=c.case_ref,
                partner_state=country_name(c.partner_state, lang.tag),
                side=_label(SIDE_LABELS, c.our_side, lang),
                stage=_label(STAGE_LABELS, c.stage, lang),
                days_in_stage=lang.number(c.days_in_stage),
                urgency=_label(URGENCY_LABELS, c.urgency, lang),
                urgent=c.urgency >= 2,
                gate_missing=tuple(_label(GATE_LABELS, g, lang) for g in c.gate_missing),
                flagged=lang.number(c.flagged) if c.flagged else "",
                updated=lang.datetime(c.updated_at_ms),
                unreadable=False,
                we_owe=lang.date(c.we_owe_due_ms) if c.we_owe_due_ms else "",
                we_late=lang.number(c.we_owe_overdue) if c.we_owe_overdue else "",
                they_owe=lang.date(c.they_owe_due_ms) if c.they_owe_due_ms else "",
                they_late=lang.number(c.they_owe_overdue) if c.they_owe_overdue else "",
                deadlines_unknown=c.deadlines_unreadable,
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class HomeView:
    user_id: str
    unit: str
    roles: tuple[str, ...]  # translated labels


def home_view(user: local_pb2.UserInfo, lang: PageLanguage) -> HomeView:
    return HomeView(user.user_id, user.unit, tuple(_label(ROLE_LABELS, r, lang) for r in user.roles))


def json_text(entry: Mapping[str, object], key: str) -> str:
    """``entry[key]`` when it is text, else "" (a report read from the node's JSON)."""
    value = entry.get(key)
    return value if isinstance(value, str) else ""


def json_int(entry: Mapping[str, object], key: str) -> int | None:
    """``entry[key]`` when it is a whole number (never a boolean), else None."""
    value = entry.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
