"""The case page's view-model, made from ``ShowCase`` and ``CaseDeadlines`` answers: pure, no I/O.

The page shows what the node served, in the view it served (docs/permissions.md): a caller with
the ROUTING view gets timeline entries without bodies and sees none here; nothing is added or
inferred beyond the answer. Labels are English msgids (``N_``) translated here for the page's
language; country names come from CLDR.

A message's content is rendered generically from its descriptor, field by field, as nested
definition lists: field names become labels ("given_names" reads "Given names"), dates and times
the page's locale, free text with its language and, when it is a translation, its original beside
it, marked as such. A code reads as the network code list labels it in the page's language (its
definition one click away, a label not yet checked by a person marked as a draft; a label that fell
back to English marked ``lang="en"``), given the list (``CodeList``, from the console's
``codes.CodeBook``); without one, as its name in the schema ("Presumed trafficked"), as the
catalogs translate it. Field labels are passed through the catalogs too, so a translation added
there is used; one not translated yet keeps its English label marked ``lang="en"``. Texts the node
writes in English (why a gate condition is missing, why a message was flagged) are translated when
the catalogs know them, else marked the same way.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from babel.dates import format_date, format_timedelta
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from directory.codelists import CodeList
from focalpoint.cases.codes import country_name, language_name
from focalpoint.console.codes import code_text, foreign_language, schema_label
from focalpoint.console.fields import field_label, kind_label
from focalpoint.console.i18n import N_, PageLanguage
from focalpoint.console.views import GATE_LABELS, SIDE_LABELS, STAGE_LABELS, URGENCY_LABELS
from focalpoint.errors import NotFound
from focalpoint.exchange.rules import KINDS, spec_of
from focalpoint.v1 import common_pb2, local_pb2, messages_pb2

__all__ = [
    "CasePage",
    "DeadlineRow",
    "Field",
    "GateRow",
    "GuardianView",
    "Text",
    "TimelineRow",
    "Value",
    "case_page",
    "check_link_id",
    "message_fields",
    "say",
    "serves_deadlines",
]

KIND_LABELS = {kind: kind_label(kind) for kind in KINDS}  # English msgids (focalpoint.console.fields)
DIRECTION_LABELS = {"sent": N_("Sent by us"), "received": N_("Received from the partner")}
ASKED_LABELS = {"we asked": N_("We asked"), "they asked": N_("They asked")}
URGENCY_NAMES = {"ROUTINE": 1, "URGENT": 2, "EMERGENCY": 3}
SIDE_STATE_LABELS = {
    "MISSING": N_("The child is missing"),
    "DETAINED": N_("The child is detained"),
    "REMOVAL_SCHEDULED": N_("A removal is scheduled"),
    "REMOVAL_WOULD_BYPASS_THE_GATE": N_("The scheduled removal would bypass the return gate"),
    "AGE_OUT_SOON": N_("The child turns 18 soon"),
    "AGED_OUT": N_("The child has turned 18"),
    "SUSPENDED": N_("The agreement is suspended"),
    "ON_HOLD": N_("On hold"),
}
VIEW_LABELS = {
    "FULL": N_("Full case content"),
    "REPATRIATION": N_("What a return needs (consular view)"),
    "ROUTING": N_("Routing only: no names, no content"),
    "METADATA": N_("Metadata only"),
}
LEVEL_LABELS = {
    "REMIND_ASSIGNEE": N_("Reminder to the assigned officer"),
    "DUE_IN_24H": N_("Assigned officer told: due within 24 hours"),
    "ESCALATE_SUPERVISOR": N_("Escalated to a supervisor"),
    "REMINDER_L1": N_("First reminder to the partner"),
    "REMINDER_L2": N_("Second reminder to the partner"),
    "REMINDER_L3": N_("Third reminder to the partner"),
    "GUARDIAN_REMIND_OFFICER": N_("Guardian deadline: officer reminded"),
    "GUARDIAN_ESCALATE_SUPERVISOR": N_("Guardian deadline: escalated to a supervisor"),
    "GUARDIAN_BREACH": N_("Guardian deadline breached"),
    "GUARDIAN_DAILY": N_("Guardian deadline: daily escalation"),
    "HANDOVER_OVERDUE": N_("Handover overdue"),
}
# The fixed texts the node gives for a missing gate condition (focalpoint.cases.gate), so that
# they read in the page's language; any other text is shown as the node wrote it.
NODE_TEXTS = (
    N_("no social inquiry report"),
    N_("the social inquiry report does not answer whether the family was involved"),
    N_("the child's views are not recorded"),
    N_("the child was not heard (only a child too young to be heard may go unheard)"),
    N_("no identity verification reply"),
    N_("no reintegration plan"),
    N_("no risk assessment report"),
    N_("the latest risk assessment is not a pre-return (or later) assessment"),
    N_("the child went missing: a risk assessment after the missing episode is needed"),
    N_("the overall risk is severe or unknown"),
)
TRANSLATION_LABELS = {
    0: N_("Machine translation, not checked"),
    1: N_("Certified translation"),
    2: N_("Translation by a person"),
    3: N_("Machine translation, not checked"),
}
TRANSLATED_INTO = N_("%(kind)s, into %(language)s")
ORIGINAL, ORIGINAL_IN = N_("Original"), N_("Original, in %(language)s")
YES, NO = N_("Yes"), N_("No")
CONTEXT = N_("Context")
# A code the list the console holds does not know: a newer version's, sent by a partner.
NEWER_CODE = N_("Code %(number)s (from a newer version of the code list)")

# The views whose readers the node serves a link's deadlines (CaseDeadlines answers in the ROUTING
# view: docs/permissions.md). A reader served another view (a consul's REPATRIATION) is not asked
# for them, so that each of their page views is not a refusal in the node's audit log.
DEADLINE_VIEWS = frozenset({"FULL", "ROUTING"})

_MAX_LINK_ID = 128
_MAX_DEPTH = 12  # deeper than any message of the schema nests


def serves_deadlines(view: str) -> bool:
    """Whether a reader served ``view`` on a link may also be served the link's deadlines."""
    return view in DEADLINE_VIEWS


def check_link_id(link_id: str) -> str:
    """A link id from the address: anything that cannot be one is "no such page" (never sent on)."""
    if not link_id or len(link_id) > _MAX_LINK_ID or not link_id.isascii() or not link_id.isalnum():
        raise NotFound("no case link at this address")
    return link_id


@dataclass(frozen=True, slots=True)
class Text:
    """A piece of text and the language it is in ("" = the page's own)."""

    text: str
    lang: str = ""


def say(message: str, lang: PageLanguage) -> Text:
    """``message`` in the page's language; an English text the catalogs do not know keeps ``lang="en"``."""
    said = lang.gettext(message)
    return Text(said, "en" if said == message and lang.tag != "en" else "")


def _label(labels: dict[str, str], key: str, lang: PageLanguage) -> Text:
    text = labels.get(key)
    return say(text, lang) if text else Text(key, "en" if lang.tag != "en" else "")


@dataclass(frozen=True, slots=True)
class Value:
    """One shown value. ``entered``: typed by a person (shown in ``<bdi>``); ``note``: what it is
    when it is not simply the value (a translation, the original); ``lang``: its language. A code
    labelled by the code list also has its ``definition`` and what it is ``not_confused_with``
    (both in ``lang``), and ``draft`` when the label has not been checked by a person yet."""

    text: str
    entered: bool = False
    lang: str = ""
    note: str = ""
    definition: str = ""
    not_confused_with: str = ""
    draft: bool = False


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a message: its label, its values (one per item of a list) and, for a
    nested message, one tuple of fields per item."""

    label: Text
    values: tuple[Value, ...] = ()
    parts: tuple[tuple[Field, ...], ...] = ()


def _date(d: common_pb2.Date, lang: PageLanguage) -> Value:
    try:
        return Value(format_date(dt.date(d.year, d.month, d.day), format="long", locale=lang.locale))
    except ValueError:  # a partial date (year only, or year and month) as written
        return Value("-".join(str(p) for p in (d.year, d.month, d.day) if p), entered=True)


def _localized(t: common_pb2.LocalizedText, lang: PageLanguage) -> tuple[Value, ...]:
    """The text in its language; a translation says so and is followed by its original, always."""
    if not t.original_text:
        return (Value(t.text, entered=True, lang=t.language),)
    kind = lang.gettext(TRANSLATION_LABELS.get(t.translation_kind, TRANSLATION_LABELS[0]))
    into = language_name(t.language, lang.tag) if t.language else ""
    source = language_name(t.original_language, lang.tag) if t.original_language else ""
    return (
        Value(
            t.text,
            entered=True,
            lang=t.language,
            note=lang.gettext(TRANSLATED_INTO) % {"kind": kind, "language": into} if into else kind,
        ),
        Value(
            t.original_text,
            entered=True,
            lang=t.original_language,
            note=lang.gettext(ORIGINAL_IN) % {"language": source} if source else lang.gettext(ORIGINAL),
        ),
    )


def _code(enum: Any, number: int, lang: PageLanguage, codes: CodeList | None) -> Value:
    """A code as the list labels it in the page's language; without it, its schema name."""
    text = code_text(codes, enum.full_name, number, lang.tag)
    if text.known:
        return Value(
            text.label,
            lang=foreign_language(text.language, lang.tag),
            definition=text.definition,
            not_confused_with=text.not_to_be_confused_with,
            draft=text.machine_draft,
        )
    if number in enum.values_by_number:  # no list, or one that lacks it: the schema's name
        said = say(schema_label(enum, number), lang)
        return Value(said.text, lang=said.lang)
    return Value(lang.gettext(NEWER_CODE) % {"number": number})


def _scalar(field: FieldDescriptor, value: object, lang: PageLanguage, codes: CodeList | None = None) -> Value:
    if field.type == FieldDescriptor.TYPE_BOOL:
        return Value(lang.gettext(YES if value else NO))
    if field.enum_type is not None and isinstance(value, int):
        return _code(field.enum_type, value, lang, codes)
    if isinstance(value, bytes):
        return Value(value.hex(), entered=True)
    if isinstance(value, str):
        owner = field.containing_type
        spec = spec_of(owner) if owner is not None else None
        if spec is not None and field.name in spec.states and value:
            return Value(f"{country_name(value, lang.tag)} ({value})")  # CLDR, never by hand
        if spec is not None and field.name in spec.languages and value:
            return Value(f"{language_name(value, lang.tag)} ({value})")
        return Value(str(value), entered=True)
    if isinstance(value, int) and field.name.endswith("_ms"):
        return Value(lang.datetime(value))
    if isinstance(value, int | float):
        return Value(lang.number(value))
    return Value(str(value), entered=True)


def message_fields(
    message: Message, lang: PageLanguage, depth: int = 0, *, codes: CodeList | None = None
) -> tuple[Field, ...]:
    """Every set field of ``message``, in field-number order, as labelled values and nested parts
    (codes as ``codes`` labels them, when given)."""
    out = []
    for field, value in message.ListFields():
        label = say(field_label(field.name), lang)
        items = list(value) if field.is_repeated else [value]
        kind = field.message_type.full_name if field.message_type is not None else ""
        if not kind:
            out.append(Field(label, tuple(_scalar(field, v, lang, codes) for v in items)))
        elif kind == common_pb2.Date.DESCRIPTOR.full_name:
            out.append(Field(label, tuple(_date(v, lang) for v in items)))
        elif kind == common_pb2.LocalizedText.DESCRIPTOR.full_name:
            out.append(Field(label, tuple(v for item in items for v in _localized(item, lang))))
        elif depth < _MAX_DEPTH:
            out.append(Field(label, parts=tuple(message_fields(v, lang, depth + 1, codes=codes) for v in items)))
    return tuple(out)


def body_fields(body: messages_pb2.Body, lang: PageLanguage, codes: CodeList | None = None) -> tuple[Field, ...]:
    """A body as the page shows it: its kind's fields, then the context it travelled with."""
    kind = body.WhichOneof("kind")
    fields = message_fields(getattr(body, kind), lang, codes=codes) if kind else ()
    if body.HasField("context"):
        fields += (Field(say(CONTEXT, lang), parts=(message_fields(body.context, lang, codes=codes),)),)
    return fields


@dataclass(frozen=True, slots=True)
class TimelineRow:
    message_id: str  # hex: what the amend, withdraw and reply links name
    sent: bool  # sent by us (may be amended or withdrawn), else received (may be answered)
    at: str
    side: Text
    kind: Text
    stage_after: Text
    flagged: Text | None  # why the message was kept but not applied; None when applied
    fields: tuple[Field, ...]  # empty when the view served carries no content


@dataclass(frozen=True, slots=True)
class GateRow:
    condition: Text
    met: bool
    reason: Text | None
    waived: bool = False  # not met, but the bilateral agreement waives it


@dataclass(frozen=True, slots=True)
class DeadlineRow:
    kind: Text
    direction: Text
    urgency: Text
    started: str  # "" = not receipted yet: the clock has not started
    due: str  # "" = no deadline
    overdue: str  # how long past due, "" when not
    stopped: bool
    answered: str  # when it was answered or withdrawn, "" while open
    levels: tuple[Text, ...]


@dataclass(frozen=True, slots=True)
class GuardianView:
    identified: str
    deadline: str
    appointed: str  # "" = not yet
    breached: bool


@dataclass(frozen=True, slots=True)
class DraftRow:
    kind: Text
    prepared_by: str
    at: str
    draft_id: str = ""
    fields: tuple[Field, ...] = ()  # what the approver reads before approving (FULL view, with content)


@dataclass(frozen=True, slots=True)
class CasePage:
    link_id: str
    case_ref: str
    partner_state: str
    side: Text
    stage: Text
    days_in_stage: str
    urgency: Text
    urgent: bool
    unit: str
    updated: str
    closed: bool
    view: Text
    partial: bool  # a view that leaves fields out (every view but FULL): the page says so
    gate: tuple[GateRow, ...]
    gate_applies: bool  # the gate is the identifying State's: empty for the State of origin
    side_states: tuple[Text, ...]
    flagged: tuple[TimelineRow, ...]
    timeline: tuple[TimelineRow, ...]
    deadlines: tuple[DeadlineRow, ...]
    deadlines_in_view: bool  # False: the reader's view does not include deadlines (none were asked)
    guardian: GuardianView | None
    drafts: tuple[DraftRow, ...]


def _duration(ms: int, lang: PageLanguage) -> str:
    return format_timedelta(dt.timedelta(milliseconds=ms), threshold=1.5, locale=lang.locale)


def _timeline_row(e: local_pb2.CaseTimelineEntry, lang: PageLanguage, codes: CodeList | None) -> TimelineRow:
    return TimelineRow(
        message_id=e.message_id.hex(),
        sent=e.direction == "sent",
        at=lang.datetime(e.at_ms),
        side=_label(DIRECTION_LABELS, e.direction, lang),
        kind=_label(KIND_LABELS, e.kind, lang),
        stage_after=_label(STAGE_LABELS, e.stage_after, lang),
        flagged=say(e.flagged, lang) if e.flagged else None,
        fields=body_fields(e.body, lang, codes) if e.HasField("body") else (),
    )


def _deadline_row(r: local_pb2.RequestDeadline, lang: PageLanguage) -> DeadlineRow:
    urgency = URGENCY_NAMES.get(r.urgency)
    return DeadlineRow(
        kind=_label(KIND_LABELS, r.kind, lang),
        direction=_label(ASKED_LABELS, r.direction, lang),
        urgency=say(URGENCY_LABELS[urgency], lang) if urgency else _label({}, r.urgency or "-", lang),
        started=lang.datetime(r.started_at_ms) if r.started_at_ms else "",
        due=lang.datetime(r.due_ms) if r.due_ms else "",
        overdue=_duration(r.overdue_ms, lang) if r.overdue_ms > 0 else "",
        stopped=r.stopped,
        answered=lang.datetime(r.answered_at_ms) if r.answered_at_ms else "",
        levels=tuple(_label(LEVEL_LABELS, level, lang) for level in r.levels_done),
    )


def case_page(
    shown: local_pb2.ShowCaseResponse,
    deadlines: local_pb2.CaseDeadlinesResponse | None,
    lang: PageLanguage,
    codes: CodeList | None = None,
) -> CasePage:
    """The case page of one link, from the node's answers about it (``deadlines``: None when the
    reader's view does not include them, see ``serves_deadlines``; ``codes``: the code list the
    messages' codes are labelled from, None when the console could not have it)."""
    link = shown.link
    timeline = tuple(_timeline_row(e, lang, codes) for e in shown.timeline)
    g = deadlines.guardian if deadlines is not None else None
    guardian = (
        GuardianView(
            identified=lang.datetime(g.identified_at_ms) if g.identified_at_ms else "",
            deadline=lang.datetime(g.deadline_ms),
            appointed=lang.datetime(g.appointed_at_ms) if g.appointed_at_ms else "",
            breached=g.breached,
        )
        if deadlines is not None and g is not None and deadlines.HasField("guardian") and g.deadline_ms
        else None
    )
    return CasePage(
        link_id=link.link_id,
        case_ref=link.case_ref,
        partner_state=country_name(link.partner_state, lang.tag),
        side=_label(SIDE_LABELS, link.our_side, lang),
        stage=_label(STAGE_LABELS, link.stage, lang),
        days_in_stage=lang.number(link.days_in_stage),
        urgency=say(URGENCY_LABELS.get(link.urgency, URGENCY_LABELS[0]), lang),
        urgent=link.urgency >= 2,
        unit=link.unit,
        updated=lang.datetime(link.updated_at_ms) if link.updated_at_ms else "",
        closed=link.closed,
        view=_label(VIEW_LABELS, shown.view, lang),
        partial=shown.view != "FULL",
        gate=tuple(
            GateRow(
                _label(GATE_LABELS, c.condition, lang),
                c.met,
                say(c.reason, lang) if c.reason else None,
                waived=c.waived and not c.met,
            )
            for c in shown.gate
        ),
        gate_applies=link.our_side == "IS",
        side_states=tuple(_label(SIDE_STATE_LABELS, s, lang) for s in shown.side_states),
        flagged=tuple(row for row in timeline if row.flagged is not None),
        timeline=timeline,
        deadlines=tuple(_deadline_row(r, lang) for r in deadlines.requests) if deadlines is not None else (),
        deadlines_in_view=deadlines is not None,
        guardian=guardian,
        drafts=tuple(
            DraftRow(
                _label(KIND_LABELS, d.kind, lang),
                d.prepared_by,
                lang.datetime(d.at_ms),
                d.draft_id,
                body_fields(d.body, lang) if d.HasField("body") else (),
            )
            for d in shown.drafts
        ),
    )
