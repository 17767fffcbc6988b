"""The forms officials fill in, one per message kind (pure: text and dicts in, a Body out).

``template(kind)`` writes a complete, commented YAML form from the message descriptors and the
rules table (``focalpoint.exchange.rules``): every field with its type, the allowed codes by
their short names, which fields are required and the rules joining fields, and what the
attestation questions mean. ``parse_form(data)`` reads a filled form (a dict, as YAML or JSON
gives it) back into a ``Body``:

- codes by short name (``SUSPECTED`` for ``FINDING_SUSPECTED``) or full name;
- dates as ``YYYY-MM-DD``; times (fields ending in ``_ms``) as ISO 8601 with a UTC offset;
- message ids and hashes as hex;
- an empty value, an empty list entry, or a block left empty means "not given".

Every problem is reported at once, with its field path: first what could not be read (an
unknown key, with "did you mean"), then what ``validate_body`` finds in the rest, as one
``InvalidBody``. ``form_of(body)`` is the inverse (a filled form of an existing body). Reading
and writing files is the caller's (``focalpoint case``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import textwrap
from collections.abc import Iterator, Mapping
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from focalpoint.cases.submission import submission_problems
from focalpoint.exchange.body import InvalidBody, Problem, body_problems
from focalpoint.exchange.rules import (
    CONTROL_KINDS,
    KINDS,
    PERSONAL_DATA_KINDS,
    RULES,
    code_name,
    field_rules,
    kind_type,
    short_code,
)
from focalpoint.v1 import codes_pb2, common_pb2, messages_pb2

__all__ = ["ATTESTATION_QUESTIONS", "KIND_SUMMARIES", "form_of", "parse_form", "template"]

# The three questions the attesting officer answers (Hague Convention 1996, Art 37); any "yes"
# means the attestation must rest on a supervisor's review. They live on the form only.
ATTESTATION_QUESTIONS: dict[str, str] = {
    "relatives_under_threat": "Could sending this put the child's relatives under threat (from traffickers or others)?",
    "family_suspected": "Is the child's family, or anyone in it, suspected of involvement in the exploitation?",
    "could_reveal_whereabouts": "Could this message reveal where the child is to someone who must not know?",
}

KIND_SUMMARIES: dict[str, str] = {
    "social_inquiry_request": "IS → OS: please inquire into the child's family and situation",
    "social_inquiry_report": "OS → IS: the findings of the social inquiry",
    "case_notification": "IS → OS: a child of (presumably) your nationality was identified; opens a link",
    "acknowledgement": "either: a request, alert, amendment, withdrawal or reminder was received",
    "guardian_appointment_notice": "IS → OS: a guardian was appointed",
    "identity_verification_request": "IS → OS: please verify the child's identity and nationality",
    "identity_verification_reply": "OS → IS: the answer to an identity verification request",
    "risk_assessment_request": "either: please assess the risks to the child",
    "risk_assessment_report": "either: the findings of a risk assessment",
    "child_views_record": "IS → OS: the child's own views, kept apart from professionals' findings",
    "reintegration_plan": "OS → IS: the individual reintegration plan",
    "durable_solution_proposal": "either: a durable solution, with the evidence it rests on (two people)",
    "durable_solution_counter_proposal": "either: a counter to a proposal or counter (two people)",
    "durable_solution_agreement": "either: acceptance of exactly one proposal or counter (two people)",
    "repatriation_plan": "either: how the child travels and is received, without detention",
    "repatriation_plan_acceptance": "either: acceptance of exactly one repatriation plan (two people)",
    "return_status_update": "IS → OS: where the return stands (departed, delayed, …)",
    "handover_confirmation": "OS → IS: the child was handed over on arrival",
    "follow_up_report": "OS → IS: a follow-up visit after return",
    "protection_alert": "either: missing, found, detained, released, removal, or serious danger",
    "tracing_request": "OS → IS: parents report a child missing abroad; please trace; opens a link",
    "clarification_request": "either: questions about fields of an earlier message",
    "clarification_response": "either: answers to a clarification request",
    "request_refusal": "either: a business refusal of a request, proposal or closure, with a reason",
    "amendment": "the original sender: a rectification of its own earlier message",
    "withdrawal": "the original sender: take back its own earlier message",
    "reminder": "the requester: an answer is overdue",
    "case_closure": "either: a request to close the link, or notice that it is closed (two people)",
}

_BODY = messages_pb2.Body.DESCRIPTOR
_DATE = "focalpoint.v1.Date"
_DATE_TEXT = re.compile(r"^(\d{4})-(\d{2})-(\d{2})\Z")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)
_WIDTH = 110


def _is_time(fd: FieldDescriptor) -> bool:
    return fd.type == FieldDescriptor.TYPE_INT64 and fd.name.endswith("_ms")


def _codes_of(fd: FieldDescriptor) -> list[str]:
    enum = fd.enum_type
    assert enum is not None
    return [
        short_code(enum, v.number)
        for v in enum.values
        if not v.name.endswith("_UNSPECIFIED") and not v.GetOptions().deprecated
    ]


# --- template ------------------------------------------------------------------------------------


def _type_text(fd: FieldDescriptor) -> str:
    if fd.message_type is not None:
        if fd.message_type.full_name == _DATE:
            return "date, YYYY-MM-DD"
        if fd.message_type.full_name == _BODY.full_name:
            return "a whole body"
        return fd.message_type.name
    if fd.enum_type is not None:
        zero = fd.enum_type.values_by_number[0].name
        protective = "" if zero.endswith("_UNSPECIFIED") else f" (left empty: {short_code(fd.enum_type, 0)})"
        return f"code{protective}"
    if _is_time(fd):
        return "time, ISO 8601 with UTC offset, e.g. 2026-11-20T09:30:00+01:00"
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return "hex"
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return "true or false"
    if fd.type == FieldDescriptor.TYPE_STRING:
        return "text"
    return "whole number"


def _comment(fd: FieldDescriptor, rules: list[str], pad: str) -> list[str]:
    kind = _type_text(fd)
    if fd.is_repeated:
        kind = f"list of {kind}"
    text = f"{fd.name}: {kind}"
    if rules:
        text += "; " + "; ".join(rules)
    if fd.enum_type is not None:
        text += ". Codes: " + " | ".join(_codes_of(fd))
    return _wrap(text, pad)


def _wrap(text: str, pad: str) -> list[str]:
    """``text`` as YAML comment lines at indentation ``pad``."""
    return textwrap.wrap(text, _WIDTH, initial_indent=f"{pad}# ", subsequent_indent=f"{pad}#   ")


def _block(descriptor: Descriptor, depth: int) -> Iterator[str]:
    pad = "  " * depth
    rules = field_rules(descriptor)
    for fd in descriptor.fields:
        if fd.GetOptions().deprecated:
            continue
        if descriptor.full_name == messages_pb2.TransmissionAttestation.DESCRIPTOR.full_name and fd.number == 1:
            yield from _questions(pad)
        yield from _comment(fd, rules.get(fd.name, []), pad)
        nested = fd.message_type
        if nested is not None and nested.full_name not in (_DATE, _BODY.full_name):
            yield f"{pad}{fd.name}:"
            if fd.is_repeated:
                yield f"{pad}  -"
                yield from _block(nested, depth + 2)
            else:
                yield from _block(nested, depth + 1)
        elif nested is not None and nested.full_name == _BODY.full_name:
            yield f"{pad}# Paste here, indented, the filled form of the amended kind (focalpoint case template KIND)."
            yield f"{pad}{fd.name}:"
        elif fd.is_repeated:
            yield f"{pad}{fd.name}:"
            yield f"{pad}  -"
        else:
            yield f"{pad}{fd.name}:"
    for name, checks in rules.items():
        if name not in descriptor.fields_by_name:
            for line in checks:
                yield from _wrap(f"rule: {line}", pad)


def _questions(pad: str) -> Iterator[str]:
    yield f"{pad}# Before attesting, answer these three questions (true or false). Any true answer means the"
    yield f"{pad}# basis must be SUPERVISOR_REVIEW: a supervisor reviews the message before it is sent. Attesting"
    yield f"{pad}# (no_foreseeable_danger: true) says that, in your opinion, sending this endangers neither the"
    yield f"{pad}# child nor a relative; if it would, do not send it."
    for key, question in ATTESTATION_QUESTIONS.items():
        yield f"{pad}# {key}: {question}"
        yield f"{pad}{key}:"


def template(kind: str) -> str:
    """A complete, commented YAML form for ``kind``. Raises KeyError for an unknown kind."""
    if kind not in KINDS:
        raise KeyError(kind)
    attested = "is required" if kind in PERSONAL_DATA_KINDS else "is optional"
    lines = [
        f"# focalpoint form: {kind} — {KIND_SUMMARIES[kind]}",
        "#",
        "# Fill in the values after the colons; leave a value empty (or delete its line) when not given.",
        "# Codes by their short names (e.g. SUSPECTED); dates YYYY-MM-DD; times ISO 8601 with a UTC offset;",
        "# message ids and hashes in hex, in quotes. Check the form with: focalpoint case check FILE",
        f"# The attestation (Hague Convention 1996, Art 37) {attested} for this kind.",
        "# Never write a name, address or case detail in a field meant for a code, a unit or a reference.",
        "",
        "# code_list_version: text; required; the network code list the codes come from (YYYY.N).",
        'code_list_version: "2026.1"',
    ]
    context = _BODY.fields_by_name["context"]
    lines += _comment(context, field_rules(_BODY).get("context", []), "")
    lines += ["context:", *_block(messages_pb2.CaseContext.DESCRIPTOR, 1)]
    body_rules = [c for name, c in field_rules(_BODY).items() if name not in ("context",)]
    for checks in body_rules:
        for line in checks:
            lines += _wrap(f"rule: {line}", "")
    descriptor = kind_type(kind)
    lines += [f"# {kind}: {descriptor.name}"]
    for check in RULES["Body"].checks:
        if kind in check.kinds:
            lines += _wrap(f"rule ({check.field}): {check.rule}", "")
    lines += [f"{kind}:", *_block(descriptor, 1)]
    return "\n".join(lines) + "\n"


# --- parse ---------------------------------------------------------------------------------------


class _Reader:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def body(self, data: Any, path: str) -> messages_pb2.Body | None:
        if not isinstance(data, Mapping):
            self.fail(path, "must be a form: a mapping with code_list_version, context and one kind")
            return None
        kinds = [k for k in data if k in KINDS and data[k] is not None]
        if len(kinds) > 1:
            self.fail(path, f"a form holds one kind; found {len(kinds)} ({', '.join(kinds)})")
        body = messages_pb2.Body()
        self.message(data, body, path)
        if kinds:
            getattr(body, kinds[0]).SetInParent()
        if isinstance(data.get("context"), Mapping):
            # A context block left empty is still the context: its own required fields are named.
            body.context.SetInParent()
        self.questions(data.get("context"), body, path)
        return body

    def questions(self, context: Any, body: messages_pb2.Body, path: str) -> None:
        """Any "yes" to the attestation questions needs a supervisor's review."""
        attestation = context.get("attestation") if isinstance(context, Mapping) else None
        if not isinstance(attestation, Mapping):
            return
        at = _join(path, "context.attestation")
        answers = {k: attestation.get(k) for k in ATTESTATION_QUESTIONS}
        for key, value in answers.items():
            if value is not None and not isinstance(value, bool):
                self.fail(_join(at, key), "must be true or false")
        supervised = body.context.attestation.basis == codes_pb2.ATTESTATION_BASIS_SUPERVISOR_REVIEW
        if any(v is True for v in answers.values()) and not supervised:
            self.fail(
                _join(at, "basis"),
                "must be SUPERVISOR_REVIEW: an attestation question was answered true",
            )

    def message(self, data: Mapping[str, Any], msg: Any, path: str) -> bool:
        """Fill ``msg`` from ``data``; True if anything was given."""
        descriptor: Descriptor = msg.DESCRIPTOR
        extra = set(ATTESTATION_QUESTIONS) if descriptor.name == "TransmissionAttestation" else set()
        given = False
        for key, value in data.items():
            at = _join(path, str(key))
            fd = descriptor.fields_by_name.get(str(key))
            if fd is None:
                if key not in extra:
                    self.fail(at, _unknown(str(key), [*descriptor.fields_by_name, *extra]))
                continue
            if value is None:
                continue
            given |= self.field(fd, value, msg, at)
        return given

    def field(self, fd: FieldDescriptor, value: Any, msg: Any, at: str) -> bool:
        if fd.is_repeated:
            if not isinstance(value, list):
                self.fail(at, "must be a list (one entry a line, each starting with '- ')")
                return False
            target = getattr(msg, fd.name)
            for i, item in enumerate(value):
                if item is None:
                    continue
                if fd.message_type is not None and fd.message_type.full_name != _DATE:
                    if not isinstance(item, Mapping):
                        self.fail(f"{at}[{i}]", f"must be a {fd.message_type.name} block")
                        continue
                    part = target.add()
                    if not self.message(item, part, f"{at}[{i}]"):
                        del target[len(target) - 1]
                    continue
                converted = self.scalar(fd, item, f"{at}[{i}]")
                if converted is not None:
                    if fd.message_type is not None:
                        target.add().CopyFrom(converted)
                    else:
                        target.append(converted)
            return len(target) > 0
        if fd.message_type is not None and fd.message_type.full_name == _BODY.full_name:
            inner = self.body(value, at)
            if inner is not None:
                getattr(msg, fd.name).CopyFrom(inner)
            return inner is not None
        if fd.message_type is not None and fd.message_type.full_name != _DATE:
            if not isinstance(value, Mapping):
                self.fail(at, f"must be a {fd.message_type.name} block")
                return False
            part = getattr(msg, fd.name)
            if self.message(value, part, at):
                return True
            msg.ClearField(fd.name)
            return False
        converted = self.scalar(fd, value, at)
        if converted is None:
            return False
        if fd.message_type is not None:
            getattr(msg, fd.name).CopyFrom(converted)
        else:
            setattr(msg, fd.name, converted)
        return True

    def scalar(self, fd: FieldDescriptor, value: Any, at: str) -> Any:
        if fd.message_type is not None:  # a Date
            return self.date(value, at)
        if fd.enum_type is not None:
            if isinstance(value, str) and (number := code_name(fd.enum_type, value.strip())) is not None:
                return number
            if isinstance(value, int) and not isinstance(value, bool) and value in fd.enum_type.values_by_number:
                return value
            codes = _codes_of(fd)
            self.fail(at, _unknown(str(value) if isinstance(value, str) else "", codes, what="code"))
            return None
        if _is_time(fd):
            return self.time(value, at)
        if fd.type == FieldDescriptor.TYPE_BOOL:
            if isinstance(value, bool):
                return value
            self.fail(at, "must be true or false")
            return None
        if fd.type == FieldDescriptor.TYPE_BYTES:
            try:
                return bytes.fromhex(value) if isinstance(value, str) else _bad()
            except ValueError:
                self.fail(at, "must be hex digits, in quotes (e.g. a message id of 32 hex digits)")
                return None
        if fd.type == FieldDescriptor.TYPE_STRING:
            if isinstance(value, bool) or not isinstance(value, str | int):
                self.fail(at, "must be text")
                return None
            return str(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        self.fail(at, "must be a whole number")
        return None

    def date(self, value: Any, at: str) -> Any:
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, dt.date):
            return _date_pb(value.year, value.month, value.day)
        m = _DATE_TEXT.match(value) if isinstance(value, str) else None
        if m is None:
            self.fail(at, "must be a date written YYYY-MM-DD")
            return None
        return _date_pb(int(m.group(1)), int(m.group(2)), int(m.group(3)))

    def time(self, value: Any, at: str) -> int | None:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        moment: dt.datetime | None = value if isinstance(value, dt.datetime) else None
        if isinstance(value, str):
            try:
                moment = dt.datetime.fromisoformat(value.strip())
            except ValueError:
                moment = None
        if moment is None or moment.tzinfo is None:
            self.fail(at, "must be a time in ISO 8601 with a UTC offset, e.g. 2026-11-20T09:30:00+01:00")
            return None
        return (moment - _EPOCH) // _MS


def _bad() -> bytes:
    raise ValueError


def _date_pb(year: int, month: int, day: int) -> common_pb2.Date:
    return common_pb2.Date(year=year, month=month, day=day)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path and name else path or name


def _unknown(key: str, known: list[str], *, what: str = "field") -> str:
    close = difflib.get_close_matches(key, known, n=1) if key else []
    hint = f"; did you mean {close[0]}?" if close else ""
    if what == "code":
        return f"is not a code of this list{hint} (codes: {' | '.join(known)})"
    return f"is not a field here{hint}"


def parse_form(data: Mapping[str, Any], *, now_ms: int | None = None, submission: bool = False) -> messages_pb2.Body:
    """A Body from a filled form; raises InvalidBody with every problem (reading, then rules) at once.

    ``now_ms``: the time the body is judged at (for times that must lie in the past), if given.
    ``submission``: the form is sent on a link, so what the node completes is left out of the rules
    and an approval filled in by hand is a problem (``focalpoint.cases.submission``).
    """
    reader = _Reader()
    body = reader.body(data, "")
    if body is None:
        raise InvalidBody(reader.problems)
    unread = [p.path for p in reader.problems]
    rules = submission_problems if submission else body_problems
    later = [
        p
        for p in rules(body, now_ms=now_ms)
        if not any(p.path == u or p.path.startswith(u + ".") or p.path.startswith(u + "[") for u in unread)
    ]
    if reader.problems or later:
        raise InvalidBody([*reader.problems, *later])
    return body


# --- the inverse ----------------------------------------------------------------------------------


def form_of(body: messages_pb2.Body) -> dict[str, Any]:
    """The filled form of ``body`` (what ``parse_form`` turns back into the same body)."""
    return _fields(body)


def _fields(msg: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fd, value in msg.ListFields():
        if fd.is_repeated:
            out[fd.name] = [_value(fd, v) for v in value]
        else:
            out[fd.name] = _value(fd, value)
    return out


def _value(fd: FieldDescriptor, value: Any) -> Any:
    if fd.message_type is not None:
        if fd.message_type.full_name == _DATE:
            return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        return _fields(value)
    if fd.enum_type is not None:
        return short_code(fd.enum_type, value)
    if _is_time(fd):
        return (_EPOCH + value * _MS).isoformat(timespec="milliseconds")
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return bytes(value).hex()
    return value


# Kinds an amendment may replace (the template says so; the rules table enforces it).
REPLACEABLE_KINDS = tuple(k for k in KINDS if k not in CONTROL_KINDS)
