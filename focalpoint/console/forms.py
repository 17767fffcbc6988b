"""Structured message forms, generated from the message schema (pure: no I/O).

One form per message kind, built from the kind's protobuf descriptor the way
``focalpoint.cases.forms`` builds the command line's YAML form, so both read and check a message
the same way: ``build_form`` gives the widgets a page shows (labels through the catalogs, codes as
choices in the page's language, every problem beside its field), ``read_posted`` turns what a
browser posted back into the form data ``focalpoint.cases.forms.parse_form`` reads, and
``check_posted`` returns every problem at once, the console's own (the attestation questions
unanswered) and the rules' (``submission_problems``), keyed by field.

HTML names are the form paths themselves ("context.attestation.basis",
"social_inquiry_request.questions[0].question.text"), which are also the paths the rules name in
their problems, so a problem finds its field without a table. What the node records itself is
left out of the form: the approval of a four-eyes kind, the hash and kind of a referenced message
(a reference is chosen among the case's messages), the case reference and code-list version (set
from the link). A list shows its entries and one empty entry more on request ("Add another"
posts the form back without checking it), so the form works without JavaScript.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from focalpoint.cases.codes import country_name
from focalpoint.cases.forms import ATTESTATION_QUESTIONS, form_of, parse_form
from focalpoint.console.case_view import Text, say
from focalpoint.console.fields import field_label
from focalpoint.console.i18n import N_, PageLanguage
from focalpoint.exchange.body import InvalidBody, Problem
from focalpoint.exchange.rules import KINDS, PERSONAL_DATA_KINDS, field_rules, kind_type, short_code, spec_of
from focalpoint.ids import STATE_CODES
from focalpoint.v1 import messages_pb2

__all__ = [
    "ADD",
    "MAX_LIST",
    "FormContext",
    "Option",
    "Widget",
    "build_form",
    "check_posted",
    "posted_problems",
    "read_posted",
    "values_of",
]

ADD = "_add"  # the button that asks for one more entry of a list (its value: the list's path)
MAX_LIST = 50  # entries of one list a form shows at most
_MAX_DEPTH = 8

ANSWER_QUESTION = N_("Answer this question before attesting.")
REQUIRED = N_("required")
NOT_GIVEN = N_("Not given")

# The rules' commonest problems, said for a person at a form (the rest keep their English text).
_PLAIN = {
    "is required": N_("Required: fill this in."),
    "is required (UNSPECIFIED is no code)": N_("Required: choose one."),
    "needs at least one entry": N_("Required: give at least one entry."),
    "must be true": N_("Required: tick this."),
    (
        "must be true: the sender attests that sending this endangers neither the child nor a relative"
        " (Hague Convention 1996, Art 37)"
    ): N_(
        "Tick this to attest that sending this endangers neither the child nor a relative; if it would, do not send it."
    ),
}

_DATE = "focalpoint.v1.Date"
_BODY = "focalpoint.v1.Body"
_LOCALIZED = "focalpoint.v1.LocalizedText"
_REF = "focalpoint.v1.EvidenceRef"
_APPROVAL = "focalpoint.v1.ApprovalRecord"
_ATTESTATION = "focalpoint.v1.TransmissionAttestation"
_TOKEN = re.compile(r"([a-z][a-z0-9_]*)(?:\[(\d{1,3})\])?\Z")
_LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?\Z")
# Fields the console sets itself (from the link, the login and the clock), wherever they are.
_FIXED_TAILS = ("context.case_ref", "attestation.attested_by", "attestation.attested_at_ms")


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    label: Text
    selected: bool = False


@dataclass(frozen=True, slots=True)
class Widget:
    """One control or group of the form. ``control``: text, textarea, date, datetime, number,
    select, checkbox, yesno, ref (a message of the case), group (a nested message) or list."""

    name: str  # the form path: the HTML name, and the path the rules name in their problems
    label: Text
    control: str
    value: str = ""
    options: tuple[Option, ...] = ()
    required: bool = False
    errors: tuple[Text, ...] = ()
    hint: Text | None = None
    parts: tuple[Widget, ...] = ()

    @property
    def id(self) -> str:
        return "f-" + re.sub(r"[^a-z0-9_-]", "-", self.name)


@dataclass(frozen=True, slots=True)
class FormContext:
    """What a form on one link starts from and may refer to."""

    case_ref: str
    code_list_version: str
    # The case's messages a reference may name: (message id hex, "kind, time" as shown).
    messages: tuple[tuple[str, Text], ...] = ()
    # A code's label and definition in the page's language; None: not offered (not in the version both ends know).
    code_text: Callable[[EnumDescriptor, int], tuple[Text, str] | None] | None = None
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    # Who attests and when: the person logged in, as they send (never typed by hand).
    user_id: str = ""
    now_ms: int = 0


# --- reading what was posted --------------------------------------------------------------------


def _parse_path(name: str) -> list[tuple[str, int | None]] | None:
    out: list[tuple[str, int | None]] = []
    for part in name.split("."):
        m = _TOKEN.match(part)
        if m is None:
            return None
        out.append((m.group(1), int(m.group(2)) if m.group(2) is not None else None))
    return out


def _put(tree: dict[str, Any], path: list[tuple[str, int | None]], value: Any) -> None:
    node: Any = tree
    for depth, (name, index) in enumerate(path):
        last = depth == len(path) - 1
        if index is None:
            if last:
                node[name] = value
            else:
                node = node.setdefault(name, {})
                if not isinstance(node, dict):
                    return
            continue
        items = node.setdefault(name, {})
        if not isinstance(items, dict):
            return
        if last:
            items[index] = value
        else:
            node = items.setdefault(index, {})


def _lists(tree: Any) -> Any:
    """Turn the index-keyed dicts ``_put`` made into lists, in index order."""
    if isinstance(tree, dict):
        if tree and all(isinstance(k, int) for k in tree):
            return [_lists(tree[k]) for k in sorted(tree)]
        return {k: _lists(v) for k, v in tree.items()}
    return tree


def values_of(posted: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The posted fields with a form path as name (others, like the CSRF token, are left out)."""
    return {k: v for k, v in posted if _parse_path(k) is not None}


def read_posted(kind: str, values: Mapping[str, str], ctx: FormContext) -> dict[str, Any]:
    """The form data (as ``parse_form`` reads it) of the posted ``values`` of a ``kind`` form."""
    tree: dict[str, Any] = {}
    for name, raw in values.items():
        path = _parse_path(name)
        fd = _field_at(kind, name)
        if path is None or fd is None:
            continue
        free = not isinstance(fd, str) and fd.type == FieldDescriptor.TYPE_STRING
        value = _scalar(fd, name, raw if free else raw.strip(), ctx)
        if value is not None:
            _put(tree, path, value)
    data: dict[str, Any] = _lists(tree)
    _drop_empty_texts(data)
    data.setdefault(kind, {})
    _complete(data, ctx)
    replacement = data[kind].get("replacement") if isinstance(data[kind], dict) else None
    if isinstance(replacement, dict):
        _complete(replacement, ctx)
    return data


def _scalar(fd: FieldDescriptor | str, name: str, raw: str, ctx: FormContext) -> Any:
    if isinstance(fd, str):  # an attestation question
        return {"yes": True, "no": False}.get(raw)
    if raw == "" or (fd.type != FieldDescriptor.TYPE_STRING and not raw.strip()):
        return None
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return {"true": True, "yes": True, "false": False, "no": False}.get(raw, raw)
    if fd.type == FieldDescriptor.TYPE_INT64 and fd.name.endswith("_ms") and _LOCAL_TIME.match(raw):
        try:
            moment = dt.datetime.fromisoformat(raw).replace(tzinfo=ctx.timezone)
        except ValueError:
            return raw
        return moment.isoformat()
    return raw


_TEXT_ALONE = frozenset({"language", "original_language", "translation_kind", "translated_by"})


def _drop_empty_texts(data: Any) -> None:
    """A free text with neither text nor original is "not given", whatever language it names."""
    if isinstance(data, dict):
        for key in list(data):
            value = data[key]
            if isinstance(value, dict) and value and "language" in value and set(value) <= _TEXT_ALONE:
                del data[key]
            else:
                _drop_empty_texts(value)
    elif isinstance(data, list):
        for item in data:
            _drop_empty_texts(item)


def _field_at(kind: str, name: str) -> FieldDescriptor | str | None:
    """The field a form path names in a ``kind`` form (a str for an attestation question), if a value."""
    path = _parse_path(name)
    if path is None or path[0][0] not in ("context", kind):
        return None
    descriptor: Descriptor = messages_pb2.Body.DESCRIPTOR
    for depth, (part, index) in enumerate(path):
        last = depth == len(path) - 1
        if last and index is None and descriptor.full_name == _ATTESTATION and part in ATTESTATION_QUESTIONS:
            return part
        fd = descriptor.fields_by_name.get(part)
        if fd is None or (index is not None) != fd.is_repeated:
            return None
        if last:
            return fd if fd.message_type is None or fd.message_type.full_name == _DATE else None
        if fd.message_type is None:
            return None
        descriptor = fd.message_type
    return None


# --- checking -----------------------------------------------------------------------------------


def check_posted(kind: str, values: Mapping[str, str], ctx: FormContext, *, now_ms: int) -> tuple[Any, list[Problem]]:
    """The Body of a posted form and no problem, or None and every problem at once."""
    data = read_posted(kind, values, ctx)
    problems: list[Problem] = []
    if kind in PERSONAL_DATA_KINDS:
        for key in ATTESTATION_QUESTIONS:
            name = f"context.attestation.{key}"
            if values.get(name) not in ("yes", "no"):
                problems.append(Problem(name, ANSWER_QUESTION))
    try:
        body = parse_form(data, now_ms=now_ms, submission=True)
    except InvalidBody as e:
        # Who attested and when are the console's to fill, once the attestation is given at all.
        found = [p for p in e.problems if not p.path.endswith(_FIXED_TAILS[1:])]
        return None, [*problems, *found]
    if problems:
        return None, problems
    return body, []


def posted_problems(text: str) -> list[Problem]:
    """The problems of a node's refusal ("path: message", one a line) as Problems."""
    out = []
    for line in text.splitlines():
        path, sep, message = line.partition(": ")
        if sep and _parse_path(path) is not None:
            out.append(Problem(path, message))
        elif line.strip():
            out.append(Problem("", line.strip()))
    return out


# --- building the widgets -----------------------------------------------------------------------


def _required(rules: Mapping[str, list[str]], name: str) -> bool:
    return any(r.startswith("required") for r in rules.get(name, []))


@dataclass(slots=True)
class _Builder:
    kind: str
    values: Mapping[str, str]
    errors: dict[str, list[Text]]
    ctx: FormContext
    lang: PageLanguage
    extra: frozenset[str]  # lists asked for one more entry

    def claim(self, name: str) -> tuple[Text, ...]:
        return tuple(self.errors.pop(name, []))

    def message(self, descriptor: Descriptor, prefix: str, depth: int) -> tuple[Widget, ...]:
        rules = field_rules(descriptor)
        out: list[Widget] = []
        for fd in descriptor.fields:
            name = f"{prefix}{fd.name}"
            if fd.GetOptions().deprecated or _fixed(name):
                continue
            if fd.message_type is not None and fd.message_type.full_name == _APPROVAL:
                continue  # recorded by the node when a second person approves
            if descriptor.full_name == _ATTESTATION and fd.number == 1:
                out.extend(self.questions(prefix))
            if descriptor.full_name == _REF and fd.name != "message_id":
                continue  # the node completes the hash and kind of the message referred to
            widget = self.field(fd, name, _required(rules, fd.name), depth)
            if widget is not None:
                out.append(widget)
        return tuple(out)

    def questions(self, prefix: str) -> list[Widget]:
        options = (Option("yes", say("Yes", self.lang)), Option("no", say("No", self.lang)))
        out = []
        for key, question in ATTESTATION_QUESTIONS.items():
            name = f"{prefix}{key}"
            given = self.values.get(name, "")
            out.append(
                Widget(
                    name,
                    say(question, self.lang),
                    "yesno",
                    given,
                    tuple(Option(o.value, o.label, o.value == given) for o in options),
                    required=self.kind in PERSONAL_DATA_KINDS,
                    errors=self.claim(name),
                )
            )
        return out

    def field(self, fd: FieldDescriptor, name: str, required: bool, depth: int) -> Widget | None:
        label = say(field_label(fd.name), self.lang)
        if fd.is_repeated:
            return self.repeated(fd, name, label, required, depth)
        return self.single(fd, name, label, required, depth)

    def repeated(self, fd: FieldDescriptor, name: str, label: Text, required: bool, depth: int) -> Widget | None:
        given = _indices(self.values, name)
        count = min(MAX_LIST, max(given, default=-1) + 1 + (1 if name in self.extra else 0))
        count = max(count, 1)
        items = []
        for i in range(count):
            item_label = Text(f"{label.text} {i + 1}", label.lang)
            item = self.single(fd, f"{name}[{i}]", item_label, False, depth)
            if item is not None:
                items.append(item)
        if not items:
            return None
        return Widget(name, label, "list", required=required, errors=self.claim(name), parts=tuple(items))

    def single(self, fd: FieldDescriptor, name: str, label: Text, required: bool, depth: int) -> Widget | None:
        value = self.values.get(name, "")
        errors = self.claim(name)
        nested = fd.message_type
        if nested is None:
            return Widget(name, label, *self.control(fd, value), required=required, errors=errors)
        if nested.full_name == _DATE:
            return Widget(name, label, "date", value, required=required, errors=errors)
        if nested.full_name == _BODY:
            replaced = self.replaced_kind(name)
            if not replaced or depth >= _MAX_DEPTH:
                return None
            context = self.message(messages_pb2.CaseContext.DESCRIPTOR, f"{name}.context.", depth + 1)
            parts = (
                Widget(f"{name}.context", say(field_label("context"), self.lang), "group", parts=context),
                Widget(
                    f"{name}.{replaced}",
                    say(field_label(replaced), self.lang),
                    "group",
                    errors=self.claim(f"{name}.{replaced}"),
                    parts=self.message(kind_type(replaced), f"{name}.{replaced}.", depth + 1),
                ),
            )
            return Widget(name, label, "group", required=required, errors=errors, parts=parts)
        if nested.full_name == _REF:
            chosen = self.values.get(f"{name}.message_id", "")
            options = tuple(Option(mid, text, mid == chosen) for mid, text in self.ctx.messages)
            ref_errors = errors + self.claim(f"{name}.message_id")
            return Widget(f"{name}.message_id", label, "ref", chosen, options, required=required, errors=ref_errors)
        if depth >= _MAX_DEPTH:
            return None
        fields = self.message(nested, f"{name}.", depth + 1)
        return Widget(name, label, "group", required=required, errors=errors, parts=fields)

    def replaced_kind(self, name: str) -> str:
        """The kind an amendment's replacement holds: the one its posted fields name."""
        for key in self.values:
            if key.startswith(name + "."):
                part = key[len(name) + 1 :].split(".", 1)[0]
                if part in KINDS and part != "amendment":
                    return part
        return ""

    def control(self, fd: FieldDescriptor, value: str) -> tuple[str, str, tuple[Option, ...]]:
        owner = fd.containing_type
        if owner is not None and fd.name in spec_of(owner).states:
            chosen = value.strip().upper()
            states = _states(self.lang.tag)
            named = [Option(code, Text(name), code == chosen) for code, name in states]
            if chosen and chosen not in dict(states):  # kept as typed: the rules will say what is wrong
                named.append(Option(chosen, Text(chosen), True))
            options = (Option("", say(NOT_GIVEN, self.lang), not chosen), *named)
            return "select", chosen, options
        if fd.enum_type is not None:
            return "select", value, self.options(fd.enum_type, value)
        if fd.type == FieldDescriptor.TYPE_BOOL:
            return "checkbox", value, ()
        if fd.type == FieldDescriptor.TYPE_INT64 and fd.name.endswith("_ms"):
            return "datetime", _local_time(value, self.ctx.timezone), ()
        if fd.type == FieldDescriptor.TYPE_STRING:
            owner = fd.containing_type
            free = owner is not None and owner.full_name == _LOCALIZED and fd.name in ("text", "original_text")
            return ("textarea" if free else "text"), value, ()
        if fd.type == FieldDescriptor.TYPE_BYTES:
            return "text", value, ()
        return "number", value, ()

    def options(self, enum: EnumDescriptor, chosen: str) -> tuple[Option, ...]:
        zero = enum.values_by_number[0].name
        empty = NOT_GIVEN if zero.endswith("_UNSPECIFIED") else N_("Not given (the protective reading)")
        out = [Option("", say(empty, self.lang), chosen == "")]
        for v in enum.values:
            if v.name.endswith("_UNSPECIFIED") or v.GetOptions().deprecated:
                continue
            code = short_code(enum, v.number)
            text = self.code_text(enum, v.number)
            if text is None:
                continue
            out.append(Option(code, text, code == chosen))
        return tuple(out)

    def code_text(self, enum: EnumDescriptor, number: int) -> Text | None:
        if self.ctx.code_text is not None:
            found = self.ctx.code_text(enum, number)
            return None if found is None else found[0]
        return say(field_label(short_code(enum, number)), self.lang)


def _fixed(name: str) -> bool:
    """Set by the console, not shown: see ``_complete``."""
    if name.endswith(_FIXED_TAILS) or name.endswith("code_list_version"):
        return True
    parts = name.split(".")
    return parts[-1] == "case_ref" and len(parts) >= 2 and parts[-2] in KINDS


def _complete(body: dict[str, Any], ctx: FormContext) -> None:
    """What the console fills in a body's form data: the code-list version, the case reference
    (in the context and, where a kind keeps one, in the kind), and who attested and when."""
    body["code_list_version"] = ctx.code_list_version
    context = body.setdefault("context", {})
    if isinstance(context, dict):
        context["case_ref"] = ctx.case_ref
        attestation = context.get("attestation")
        if isinstance(attestation, dict) and attestation:
            attestation["attested_by"] = ctx.user_id
            attestation["attested_at_ms"] = ctx.now_ms
    for kind in KINDS:
        part = body.get(kind)
        if isinstance(part, dict) and "case_ref" in kind_type(kind).fields_by_name:
            part["case_ref"] = ctx.case_ref


@functools.cache
def _states(language: str) -> tuple[tuple[str, str], ...]:
    """Every officially assigned State as (alpha-2 code, its CLDR name in ``language``), by name."""
    named = ((code, f"{country_name(code, language)} ({code})") for code in STATE_CODES)
    return tuple(sorted(named, key=lambda item: item[1].casefold()))


def _indices(values: Mapping[str, str], name: str) -> list[int]:
    out = []
    start = name + "["
    for key in values:
        if key.startswith(start):
            end = key.find("]", len(start))
            digits = key[len(start) : end]
            if digits.isdigit():
                out.append(int(digits))
    return out


def _local_time(value: str, zone: ZoneInfo) -> str:
    """An ISO time with an offset as a datetime-local value in the console's time zone."""
    if not value or _LOCAL_TIME.match(value):
        return value
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        return value
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def build_form(
    kind: str,
    values: Mapping[str, str],
    problems: Iterable[Problem],
    ctx: FormContext,
    lang: PageLanguage,
    *,
    extra: Iterable[str] = (),
) -> tuple[tuple[Widget, ...], tuple[tuple[str, Text], ...]]:
    """The widgets of a ``kind`` form filled with ``values``, each with its problems; and every
    problem as (field id or "", text) for the summary at the top (those that name no field shown
    are there only)."""
    if kind not in KINDS:
        raise KeyError(kind)
    errors: dict[str, list[Text]] = {}
    summary: list[tuple[str, str, Text]] = []
    for p in problems:
        text = say(_PLAIN.get(p.message, p.message), lang)
        errors.setdefault(p.path, []).append(text)
        summary.append((p.path, p.message, text))
    builder = _Builder(kind, values, errors, ctx, lang, frozenset(extra))
    context = Widget(
        "context",
        say(field_label("context"), lang),
        "group",
        parts=builder.message(messages_pb2.CaseContext.DESCRIPTOR, "context.", 1),
    )
    main = Widget(
        kind,
        say(field_label(kind), lang),
        "group",
        errors=builder.claim(kind),
        parts=builder.message(kind_type(kind), f"{kind}.", 1),
    )
    shown = _names((context, main))
    top = tuple((_anchor(path, shown), _field_prefix(path, shown, lang, text)) for path, _, text in summary)
    return (context, main), top


def _names(widgets: Iterable[Widget]) -> dict[str, Widget]:
    out: dict[str, Widget] = {}
    for w in widgets:
        out[w.name] = w
        out.update(_names(w.parts))
    return out


def _anchor(path: str, shown: Mapping[str, Widget]) -> str:
    """The id of the field a problem names, or of its nearest shown ancestor ("" for none)."""
    while path:
        if path in shown:
            return shown[path].id
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return ""


def _field_prefix(path: str, shown: Mapping[str, Widget], lang: PageLanguage, text: Text) -> Text:
    """A summary line: the field's label, then the problem."""
    widget = shown.get(path)
    if widget is None:
        return text
    label = widget.label.text
    joined = f"{label} {text.text}" if label.endswith(("?", "؟")) else f"{label}: {text.text}"
    return Text(joined, text.lang or widget.label.lang)


def prefill(body: messages_pb2.Body, prefix: str = "") -> dict[str, str]:
    """The form values of an existing body (an amendment's replacement starts from the original)."""
    out: dict[str, str] = {}
    _flatten(form_of(body), prefix.rstrip("."), out)
    return out


def _flatten(data: Any, path: str, out: dict[str, str]) -> None:
    if isinstance(data, dict):
        for k, v in data.items():
            _flatten(v, f"{path}.{k}" if path else str(k), out)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            _flatten(v, f"{path}[{i}]", out)
    elif isinstance(data, bool):
        out[path] = "true" if data else "false"
    elif data is not None:
        out[path] = str(data)
