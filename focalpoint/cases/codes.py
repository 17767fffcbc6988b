"""Using the network code list (pure; docs/protocol.md §5.10).

- ``codes_outside``: every enum value of a message that a code-list version does not know. The
  wire carries enum numbers, and a partner running an older version would read a newer code as a
  number it cannot name; so a sender uses only codes of the older of its own and its partner's
  versions (``refuse_codes_outside``, ``directory.codelists.older_list_version``).
- ``describe``: how a code reads in a language, falling back to a more general tag, then to
  English; an unknown number (a newer version's code) reads "code N of list L (newer version)" and
  is flagged, never an exception: the message is still shown, never dropped.
- ``country_name``, ``language_name``: names from CLDR (Babel), never translated by hand.

Field paths name fields and list positions only, never a value (values may be personal data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from babel import Locale, UnknownLocaleError
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from directory.codelists import CodeList, CodeStatus, LabelStatus, older_list_version
from focalpoint.exchange.body import InvalidBody, Problem

__all__ = [
    "CodeText",
    "OutsideCode",
    "codes_outside",
    "country_name",
    "describe",
    "language_name",
    "refuse_codes_outside",
]


class OutsideCode(NamedTuple):
    """An enum value a code-list version does not know: where it is, which list, which number."""

    field_path: str  # e.g. "social_inquiry_request.exploitation_forms[2]"
    enum_name: str  # the list: the enum's full name, e.g. "focalpoint.v1.ExploitationForm"
    number: int


def codes_outside(message: Message, list_version: str, code_list: CodeList) -> list[OutsideCode]:
    """Every enum value in ``message`` (at any depth) not known in ``list_version`` according to
    ``code_list`` (that version or any newer one: a newer version still knows when each code came,
    ``Code.introduced_in``). A zero named ``*_UNSPECIFIED`` is "not given", never a code; a zero with
    a real meaning is checked like any other value. Raises VerificationError for a malformed version."""
    out: list[OutsideCode] = []
    _walk(message, "", list_version, code_list, out)
    return out


def refuse_codes_outside(message: Message, *, own: str, partner: str, code_list: CodeList) -> None:
    """A sender's rule: only codes both ends know, those of the older of the two versions.
    Raises InvalidBody naming each field and code (numbers only) it may not send."""
    version = older_list_version(own, partner)
    outside = codes_outside(message, version, code_list)
    if outside:
        raise InvalidBody(
            [
                Problem(
                    o.field_path,
                    f"code {o.number} of {o.enum_name} is not in code list {version} (what both ends know)",
                )
                for o in outside
            ]
        )


def _walk(message: Message, prefix: str, version: str, code_list: CodeList, out: list[OutsideCode]) -> None:
    for descriptor, value in message.ListFields():
        field: Any = descriptor  # the stubs leave message_type optional; a message field always has one
        path = f"{prefix}{field.name}"
        if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            items = [value[k] for k in sorted(value)]  # by key, but the path shows the position only
            _each(value_field, items, path, version, code_list, out)
        elif field.is_repeated:
            _each(field, list(value), path, version, code_list, out, indexed=True)
        else:
            _each(field, [value], path, version, code_list, out, indexed=False)


def _each(
    field: Any,
    values: list[Any],
    path: str,
    version: str,
    code_list: CodeList,
    out: list[OutsideCode],
    *,
    indexed: bool = True,
) -> None:
    for i, value in enumerate(values):
        where = f"{path}[{i}]" if indexed else path
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            _walk(value, where + ".", version, code_list, out)
        elif field.type == FieldDescriptor.TYPE_ENUM:
            enum = field.enum_type
            zero = enum.values_by_number.get(0)
            if value == 0 and zero is not None and zero.name.endswith("_UNSPECIFIED"):
                continue
            if not code_list.known_in(enum.full_name, int(value), version):
                out.append(OutsideCode(where, enum.full_name, int(value)))


@dataclass(frozen=True, slots=True)
class CodeText:
    """How a code reads for a person: its label and definition, and what to flag."""

    label: str
    definition: str
    language: str  # the language the text is in ("" for an unknown code)
    known: bool  # False: the number is not in the list version given (a newer version's code)
    deprecated: bool = False
    not_to_be_confused_with: str = ""
    machine_draft: bool = False  # the label has not been checked by a person yet


def describe(code_list: CodeList | None, enum_name: str, number: int, language: str) -> CodeText:
    """``number`` of list ``enum_name`` in ``language`` (or its fallback: a more general tag, then
    English). A code the list version does not have, or a version not known here (``code_list`` is
    None), reads "code N of list L (newer version)" with ``known`` False; never raises."""
    code = code_list.code(enum_name, number) if code_list is not None else None
    label = code.label(language) if code is not None else None
    if code is None or label is None:
        short = enum_name.rsplit(".", 1)[-1]
        return CodeText(f"code {number} of list {short} (newer version)", "", "", known=False)
    return CodeText(
        label=label.label,
        definition=label.definition,
        language=label.language,
        known=True,
        deprecated=code.status is CodeStatus.DEPRECATED,
        not_to_be_confused_with=label.not_to_be_confused_with,
        machine_draft=label.status is LabelStatus.MACHINE_DRAFT,
    )


def _locale(tag: str) -> Locale | None:
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def country_name(code: str, language: str) -> str:
    """The name of a State (ISO 3166-1 alpha-2) in ``language`` from CLDR, e.g. ("MA", "fr") -> "Maroc";
    English when CLDR has no such language; the code itself when it names no territory."""
    for locale in (_locale(language), _locale("en")):
        if locale is not None and (name := locale.territories.get(code.upper())):
            return str(name)
    return code


def language_name(tag: str, language: str) -> str:
    """The name of a language (a BCP 47 tag) in ``language`` from CLDR, e.g. ("fr", "ar") -> "الفرنسية";
    English when CLDR has no such language; the tag itself when CLDR cannot name it."""
    subject = _locale(tag)
    if subject is None:
        return tag
    for locale in (_locale(language), _locale("en")):
        if locale is not None and (name := subject.get_display_name(locale)):
            return str(name)
    return tag
