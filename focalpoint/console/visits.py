"""The case page's consular visits: the list the node serves and the form that records one (pure, no I/O).

A consul records a visit to their national (docs/consuls.md): the day, where, whether the child was
seen and an interpreter used, how far the travel document has got, the next visit planned and what
was raised with the case officer. Everything is a code or a date: the REPATRIATION view holds no
free text. The node serves a link's visits in the FULL and REPATRIATION views (``ShowCase``) and
decides who may record one (the consul of an own national, a case officer of the owning unit);
the page offers the form to those readers only, so that nobody is shown a form the node refuses.

``read_visit_form`` turns the posted fields into a ``ConsularVisit`` and every problem at once,
field by field, judged as the node will judge them (``focalpoint.cases.consular.visit_problems``),
each as a message for the page in its language. The codes' labels are English msgids the catalogs
translate (the codes are local to the node, not in the network's signed code list).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from babel.dates import format_date
from google.protobuf.descriptor import EnumDescriptor

from focalpoint.cases.consular import CONCERNS, PLACES, TRAVEL_DOCUMENT, latest_today, visit_problems
from focalpoint.console.i18n import N_, PageLanguage
from focalpoint.v1 import common_pb2, local_pb2

__all__ = [
    "FIELDS",
    "Choice",
    "VisitForm",
    "VisitRow",
    "VisitSection",
    "may_record",
    "read_visit_form",
    "visit_form",
    "visit_section",
]

PLACE_LABELS = {
    "SHELTER": N_("Shelter"),
    "FOSTER_FAMILY": N_("Foster family"),
    "RESIDENTIAL_CARE": N_("Residential care"),
    "DETENTION": N_("Place of detention"),
    "HOSPITAL": N_("Hospital"),
    "CONSULATE": N_("Consulate"),
    "OTHER": N_("Another place"),
}
PROGRESS_LABELS = {
    "NOT_STARTED": N_("Not started"),
    "IDENTITY_BEING_VERIFIED": N_("Identity being verified"),
    "APPLIED": N_("Applied for"),
    "ISSUED": N_("Document issued"),
    "REFUSED": N_("Document refused"),
    "NOT_NEEDED": N_("Not needed"),
}
CONCERN_LABELS = {
    "HEALTH": N_("Health"),
    "SAFETY": N_("Safety"),
    "DETENTION_CONDITIONS": N_("Conditions of detention"),
    "WISHES_ABOUT_RETURN": N_("The child's wishes about return"),
    "DOCUMENTS": N_("Identity or travel documents"),
    "NONE": N_("None raised"),
}
YES, NO = N_("Yes"), N_("No")

# The form's fields, in page order.
FIELDS = ("visited_on", "place", "child_seen", "interpreter_used", "travel_document", "next_visit_on", "concerns")

# What the page says for each problem the node's judgement names (``visit_problems``), by field and
# its English text; a problem not listed here reads as the field's own fallback.
_PROBLEMS = {
    ("visited_on", "give the day of the visit"): N_("Enter the day of the visit."),
    ("visited_on", "is not a calendar date (year, month and day)"): N_("Enter a real date: year, month and day."),
    ("visited_on", "is in the future: record a visit once it has taken place"): N_(
        "The day of the visit is in the future: record a visit once it has taken place."
    ),
    ("visited_on", "is before 2000: check the year"): N_("The day of the visit is before 2000: check the year."),
    ("place", "choose where the visit took place"): N_("Choose where the visit took place."),
    ("child_seen", "say whether the child was seen"): N_("Say whether the child was seen."),
    ("interpreter_used", "say whether an interpreter was used"): N_("Say whether an interpreter was used."),
    ("travel_document", "choose the travel document's progress"): N_("Choose how far the travel document has got."),
    ("next_visit_on", "is not a calendar date (year, month and day)"): N_("Enter a real date: year, month and day."),
    ("next_visit_on", "must be after the day of this visit"): N_("The next visit must be after the day of this visit."),
    ("next_visit_on", "must be within a year from today"): N_("The next visit must be within a year from today."),
    ("concerns", "choose at least one (NONE when nothing was raised)"): N_("Choose at least one, or “None raised”."),
    ("concerns", "names a concern twice"): N_("Choose each concern once."),
    ("concerns", "NONE cannot be combined with a concern"): N_("“None raised” cannot be chosen with a concern."),
}
_FALLBACK = {
    "visited_on": N_("Enter the day of the visit."),
    "place": N_("Choose where the visit took place."),
    "child_seen": N_("Say whether the child was seen."),
    "interpreter_used": N_("Say whether an interpreter was used."),
    "travel_document": N_("Choose how far the travel document has got."),
    "next_visit_on": N_("Enter a real date: year, month and day."),
    "concerns": N_("Choose concerns from the list."),
}
_MAX_VALUE = 32  # longer than any code or date the form offers

# The views a link's visits are served in, and the one a consul reads an own national's case in.
_VISIT_VIEWS = frozenset({"FULL", "REPATRIATION"})


@dataclass(frozen=True, slots=True)
class VisitRow:
    visited_on: str
    place: str
    child_seen: str
    interpreter_used: str
    travel_document: str
    next_visit_on: str  # "" = none planned
    concerns: tuple[str, ...]
    recorded_by: str  # a local user id (shown in <bdi>)
    recorded_at: str


@dataclass(frozen=True, slots=True)
class Choice:
    code: str
    label: str
    chosen: bool


@dataclass(frozen=True, slots=True)
class VisitForm:
    """The form as the page shows it: its choices, what was typed, and each field's problem."""

    action: str
    csrf: str
    today: str  # the latest day a visit may be on, ISO (the date input's max)
    visited_on: str
    next_visit_on: str
    child_seen: str  # "yes", "no" or ""
    interpreter_used: str
    places: tuple[Choice, ...]
    progress: tuple[Choice, ...]
    concerns: tuple[Choice, ...]
    errors: Mapping[str, str]  # field → the message, in the page's language


@dataclass(frozen=True, slots=True)
class VisitSection:
    in_view: bool  # the reader's view holds the visits (FULL, REPATRIATION)
    rows: tuple[VisitRow, ...]
    form: VisitForm | None  # None: the reader may not record one (or the case is closed)


def _day(d: common_pb2.Date, lang: PageLanguage) -> str:
    try:
        return str(format_date(dt.date(d.year, d.month, d.day), format="long", locale=lang.locale))
    except ValueError:
        return "-".join(str(p) for p in (d.year, d.month, d.day))


def _label(enum: EnumDescriptor, labels: Mapping[str, str], number: int, lang: PageLanguage) -> str:
    """A code's label in the page's language (a number the console does not know, as the number)."""
    value = enum.values_by_number.get(number)
    if value is None or number == 0:
        return str(number)
    short = value.name.removeprefix(enum.values[0].name.removesuffix("UNSPECIFIED"))
    label = labels.get(short)
    return lang.gettext(label) if label else short


def _row(v: local_pb2.RecordedConsularVisit, lang: PageLanguage) -> VisitRow:
    visit = v.visit
    return VisitRow(
        visited_on=_day(visit.visited_on, lang),
        place=_label(local_pb2.ConsularVisitPlace.DESCRIPTOR, PLACE_LABELS, visit.place, lang),
        child_seen=lang.gettext(YES if visit.child_seen else NO),
        interpreter_used=lang.gettext(YES if visit.interpreter_used else NO),
        travel_document=_label(
            local_pb2.TravelDocumentProgress.DESCRIPTOR, PROGRESS_LABELS, visit.travel_document, lang
        ),
        next_visit_on=_day(visit.next_visit_on, lang) if visit.HasField("next_visit_on") else "",
        concerns=tuple(_label(local_pb2.ConsularConcern.DESCRIPTOR, CONCERN_LABELS, c, lang) for c in visit.concerns),
        recorded_by=v.recorded_by,
        recorded_at=lang.datetime(v.recorded_at_ms),
    )


def may_record(shown: local_pb2.ShowCaseResponse, user: local_pb2.UserInfo) -> bool:
    """Whether the page offers ``user`` the form: the node's own rule (``Action.CONSULAR_VISIT``) as
    far as its answer tells it. A consul is served an own national's case in the REPATRIATION view
    only; a case officer records on a case of their own unit, read in full (not by break-glass)."""
    link = shown.link
    if link.closed or shown.view not in _VISIT_VIEWS:
        return False
    if shown.view == "REPATRIATION":
        return "consular_officer" in user.roles or ("case_officer" in user.roles and user.unit == link.unit)
    return "case_officer" in user.roles and bool(link.unit) and user.unit == link.unit


def _choices(
    codes: Sequence[str], labels: Mapping[str, str], chosen: frozenset[str], lang: PageLanguage
) -> tuple[Choice, ...]:
    return tuple(Choice(c, lang.gettext(labels[c]), c in chosen) for c in codes)


def visit_form(
    link_id: str,
    csrf: str,
    lang: PageLanguage,
    *,
    now_ms: int,
    posted: Mapping[str, Sequence[str]] | None = None,
    errors: Mapping[str, str] | None = None,
) -> VisitForm:
    """The form for ``link_id``, empty or (``posted``) as the person filled it, with ``errors``
    (field → msgid) beside their fields."""
    posted = posted or {}

    def one(name: str) -> str:
        values = posted.get(name, ())
        return values[0][:_MAX_VALUE] if values else ""

    return VisitForm(
        action=f"/cases/{link_id}/consular-visit",
        csrf=csrf,
        today=latest_today(now_ms).isoformat(),
        visited_on=one("visited_on"),
        next_visit_on=one("next_visit_on"),
        child_seen=one("child_seen") if one("child_seen") in ("yes", "no") else "",
        interpreter_used=one("interpreter_used") if one("interpreter_used") in ("yes", "no") else "",
        places=_choices(PLACES, PLACE_LABELS, frozenset({one("place")}), lang),
        progress=_choices(TRAVEL_DOCUMENT, PROGRESS_LABELS, frozenset({one("travel_document")}), lang),
        concerns=_choices(CONCERNS, CONCERN_LABELS, frozenset(posted.get("concerns", ())), lang),
        errors={name: lang.gettext(msgid) for name, msgid in (errors or {}).items()},
    )


def visit_section(
    shown: local_pb2.ShowCaseResponse, user: local_pb2.UserInfo, form: VisitForm | None, lang: PageLanguage
) -> VisitSection:
    """The section of the case page: the visits the node served, and ``form`` when the reader may record."""
    return VisitSection(
        in_view=shown.view in _VISIT_VIEWS,
        rows=tuple(_row(v, lang) for v in shown.consular_visits),
        form=form if may_record(shown, user) else None,
    )


def _date(text: str) -> common_pb2.Date | None:
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        return None
    return common_pb2.Date(year=day.year, month=day.month, day=day.day)


def _yes_no(text: str) -> bool | None:
    return {"yes": True, "no": False}.get(text)


def read_visit_form(
    posted: Mapping[str, Sequence[str]], *, now_ms: int
) -> tuple[local_pb2.ConsularVisit, dict[str, str]]:
    """The visit the form describes, and every problem (field → msgid); empty problems: send it."""
    visit = local_pb2.ConsularVisit()
    errors: dict[str, str] = {}

    def one(name: str) -> str:
        values = posted.get(name, ())
        return values[0].strip()[:_MAX_VALUE] if values else ""

    for name in ("visited_on", "next_visit_on"):
        text = one(name)
        if not text:
            continue
        day = _date(text)
        if day is None:
            errors[name] = N_("Enter a real date: year, month and day.")
        else:
            getattr(visit, name).CopyFrom(day)
    if one("place") in PLACES:
        visit.place = local_pb2.ConsularVisitPlace.Value(f"CONSULAR_VISIT_PLACE_{one('place')}")
    if one("travel_document") in TRAVEL_DOCUMENT:
        visit.travel_document = local_pb2.TravelDocumentProgress.Value(
            f"TRAVEL_DOCUMENT_PROGRESS_{one('travel_document')}"
        )
    for name in ("child_seen", "interpreter_used"):
        answer = _yes_no(one(name))
        if answer is not None:
            setattr(visit, name, answer)
    concerns = [c.strip() for c in posted.get("concerns", ())]
    if any(c not in CONCERNS for c in concerns):
        errors["concerns"] = _FALLBACK["concerns"]
    else:
        visit.concerns.extend(local_pb2.ConsularConcern.Value(f"CONSULAR_CONCERN_{c}") for c in concerns)
    for name, problem in visit_problems(visit, now_ms=now_ms).items():
        errors.setdefault(name, _PROBLEMS.get((name, problem), _FALLBACK[name]))
    return visit, errors
