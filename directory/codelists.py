"""The network code list (pure): what each enum number on the wire means, and the rules between versions.

A ``CodeListDocument`` (docs/protocol.md §5.10) maps the numbers of every list (a ``focalpoint.v1``
enum reachable from ``Body``) to a stable string code, a status and, per language, a label and a
definition. ``CodeList.from_proto`` enforces what one version must hold (rule C1); the rules
between versions (C2–C5) are ``succession_problems`` and ``reissue_problems``; C6 (agreements
and labels) is ``label_gaps``:

  C1 one version, on its own: its list version is ``YYYY.N``; list names, numbers and codes are
     unique; no ``*_UNSPECIFIED`` entry; statuses and label statuses are known; a DEPRECATED code
     names the version that deprecated it and replaces it, if at all, with an ACTIVE code of its
     list; every label carries a definition; every code is labelled AND defined in each tier-1
     language (en, fr, es, ar, ru, zh).
  C2 numbers are never reused and codes never renamed or renumbered, across every earlier version;
  C3 a minor version (same year) only adds lists, codes and labels; a major version (a new year)
     may also deprecate;
  C4 a DEPRECATED code stays receivable for at least two later versions;
  C5 a re-issue of a list version (a higher document version) changes labels and expiry only;
  C6 an agreement is usable only if each working language is labelled in the version each party
     declares (``StateEntry.code_list_version``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from focalpoint.errors import VerificationError
from focalpoint.ids import language_problem
from focalpoint.v1 import directory_pb2, messages_pb2

__all__ = [
    "TIER1_LANGUAGES",
    "Code",
    "CodeList",
    "CodeStatus",
    "Label",
    "LabelGap",
    "LabelStatus",
    "MissingLabel",
    "body_lists",
    "enum_codes",
    "label_gaps",
    "language_fallbacks",
    "list_version_key",
    "older_list_version",
    "reissue_problems",
    "succession_problems",
]

# The UN's official languages: every published version labels and defines every code in each.
TIER1_LANGUAGES = ("en", "fr", "es", "ar", "ru", "zh")
# What a label, a definition or a note may hold (characters), so a document stays readable.
MAX_LABEL = 200
MAX_DEFINITION = 2000
_LIST_VERSION = re.compile(r"^([0-9]{4})\.([1-9][0-9]{0,3})$")
_LIST_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_UNSPECIFIED = "_UNSPECIFIED"


def list_version_key(version: str) -> tuple[int, int]:
    """``"2026.1"`` as ``(2026, 1)``, for ordering; raises VerificationError for anything else."""
    m = _LIST_VERSION.match(version)
    if m is None:
        raise VerificationError(f"code-list version {version[:32]!r} is not YYYY.N (e.g. 2026.1)")
    return int(m.group(1)), int(m.group(2))


def older_list_version(a: str, b: str) -> str:
    """The older of two list versions: what two nodes may both use (a sender's min(own, partner's))."""
    return a if list_version_key(a) <= list_version_key(b) else b


class CodeStatus(enum.IntEnum):
    ACTIVE = directory_pb2.CODE_STATUS_ACTIVE
    DEPRECATED = directory_pb2.CODE_STATUS_DEPRECATED


class LabelStatus(enum.IntEnum):
    MACHINE_DRAFT = directory_pb2.LABEL_STATUS_MACHINE_DRAFT
    HUMAN = directory_pb2.LABEL_STATUS_HUMAN
    REVIEWED = directory_pb2.LABEL_STATUS_REVIEWED


def language_fallbacks(language: str, *, english: bool = True) -> tuple[str, ...]:
    """Where a label is looked for (RFC 4647 lookup, then English unless ``english`` is False),
    lowercased: ``"zh-Hant-TW"`` → ``("zh-hant-tw", "zh-hant", "zh", "en")``."""
    tag = language.lower()
    out = []
    while tag:
        out.append(tag)
        tag = tag.rpartition("-")[0]
        if len(tag.rpartition("-")[2]) == 1:  # never end on a singleton (an extension's key)
            tag = tag.rpartition("-")[0]
    return tuple(dict.fromkeys([*out, "en"] if english else out))


@dataclass(frozen=True, slots=True)
class Label:
    language: str
    label: str
    definition: str
    not_to_be_confused_with: str
    status: LabelStatus
    reviewer: str


@dataclass(frozen=True, slots=True)
class Code:
    number: int
    code: str
    status: CodeStatus
    deprecated_since: str
    replaced_by: str
    introduced_in: str
    # Lowercased language tag -> its label.
    labels: Mapping[str, Label]

    def label(self, language: str, *, fallback_to_english: bool = True) -> Label | None:
        """The label in ``language``, else in a more general tag (``pt`` for ``pt-BR``), else English."""
        chain = language_fallbacks(language, english=fallback_to_english)
        return next((self.labels[t] for t in chain if t in self.labels), None)

    def same_meaning(self, other: Code) -> bool:
        """Everything but the labels is equal (C5)."""
        return (self.number, self.code, self.status, self.deprecated_since, self.replaced_by, self.introduced_in) == (
            other.number,
            other.code,
            other.status,
            other.deprecated_since,
            other.replaced_by,
            other.introduced_in,
        )


@dataclass(frozen=True, slots=True)
class MissingLabel:
    """A code without a label and definition in a language."""

    list_name: str
    code: str
    number: int
    language: str

    def line(self) -> str:
        return f"{self.list_name} {self.code} ({self.number}): no {self.language} label and definition"


@dataclass(frozen=True, slots=True)
class CodeList:
    """One verified code-list version (rule C1 holds)."""

    list_version: str
    version: int
    issued_at_ms: int
    expires_at_ms: int
    previous_list_version: str
    # List name (enum full name) -> number -> code.
    lists: Mapping[str, Mapping[int, Code]]

    @classmethod
    def from_proto(cls, doc: directory_pb2.CodeListDocument, where: str) -> CodeList:
        """Check C1 and build the model; raises VerificationError naming the list and code at fault."""
        key = list_version_key(doc.list_version)
        if doc.previous_list_version and list_version_key(doc.previous_list_version) >= key:
            raise VerificationError(
                f"{where}: previous list version {doc.previous_list_version} is not older than {doc.list_version}"
            )
        lists: dict[str, dict[int, Code]] = {}
        for entry in doc.lists:
            if not _LIST_NAME.match(entry.name):
                raise VerificationError(f"{where}: list name {entry.name[:64]!r} is not a proto enum's full name")
            if entry.name in lists:
                raise VerificationError(f"{where}: list {entry.name} appears twice")
            lists[entry.name] = _codes(entry, doc, f"{where}: list {entry.name}")
        code_list = cls(
            doc.list_version, doc.version, doc.issued_at_ms, doc.expires_at_ms, doc.previous_list_version, lists
        )
        missing = code_list.missing_labels(TIER1_LANGUAGES)
        if missing:
            raise VerificationError(f"{where}: {_missing_summary(missing)} (every code needs all of tier 1)")
        return code_list

    def code(self, list_name: str, number: int) -> Code | None:
        return self.lists.get(list_name, {}).get(number)

    def label(self, list_name: str, number: int, language: str) -> Label | None:
        """The label of a code in ``language`` with fallback (a more general tag, then English)."""
        code = self.code(list_name, number)
        return None if code is None else code.label(language)

    def known_in(self, list_name: str, number: int, list_version: str) -> bool:
        """Whether a code existed in ``list_version`` (this version or an older one it descends from)."""
        code = self.code(list_name, number)
        return code is not None and list_version_key(code.introduced_in) <= list_version_key(list_version)

    @property
    def code_count(self) -> int:
        return sum(len(codes) for codes in self.lists.values())

    def languages(self) -> dict[str, int]:
        """Each language labelled anywhere -> how many codes have a label and definition in it."""
        counts: dict[str, int] = {}
        for codes in self.lists.values():
            for code in codes.values():
                for label in code.labels.values():
                    counts[label.language] = counts.get(label.language, 0) + 1
        return dict(sorted(counts.items()))

    def missing_labels(self, languages: Iterable[str]) -> list[MissingLabel]:
        """Every code lacking a label and definition in one of ``languages`` (a more general tag serves:
        ``pt`` labels cover ``pt-BR``), in list and number order."""
        wanted = list(dict.fromkeys(languages))
        out = []
        for name in sorted(self.lists):
            for number in sorted(self.lists[name]):
                code = self.lists[name][number]
                out += [
                    MissingLabel(name, code.code, number, lang)
                    for lang in wanted
                    if code.label(lang, fallback_to_english=False) is None
                ]
        return out

    def covers(self, language: str) -> bool:
        return not self.missing_labels([language])


def _codes(entry: directory_pb2.CodeListEntry, doc: directory_pb2.CodeListDocument, where: str) -> dict[int, Code]:
    out: dict[int, Code] = {}
    names: set[str] = set()
    for pb in entry.codes:
        at = f"{where}: code {pb.code[:64]!r}"
        if not _CODE.match(pb.code) or pb.code.endswith(_UNSPECIFIED):
            raise VerificationError(f"{at}: not a code (UPPER_SNAKE_CASE, never *_UNSPECIFIED: zero is 'not given')")
        if pb.number in out or pb.code in names:
            raise VerificationError(f"{at}: number {pb.number} or code appears twice")
        out[pb.number] = _code(pb, doc, at)
        names.add(pb.code)
    for code in out.values():
        if code.replaced_by:
            target = next((c for c in out.values() if c.code == code.replaced_by), None)
            if target is None or target.status is not CodeStatus.ACTIVE or target is code:
                raise VerificationError(f"{where}: code {code.code}: replaced by {code.replaced_by!r}, no ACTIVE code")
    return out


def _code(pb: directory_pb2.Code, doc: directory_pb2.CodeListDocument, at: str) -> Code:
    try:
        status = CodeStatus(pb.status)
    except ValueError:
        raise VerificationError(f"{at}: status {pb.status} is not ACTIVE or DEPRECATED") from None
    version = list_version_key(doc.list_version)
    introduced = _field_version(pb.introduced_in, f"{at}: introduced_in")
    if introduced > version:
        raise VerificationError(f"{at}: introduced in {pb.introduced_in}, after this version {doc.list_version}")
    if not doc.previous_list_version and pb.introduced_in != doc.list_version:
        raise VerificationError(f"{at}: a first version introduces every code (introduced_in {doc.list_version})")
    if status is CodeStatus.DEPRECATED:
        since = _field_version(pb.deprecated_since, f"{at}: a DEPRECATED code's deprecated_since")
        if not introduced < since <= version:
            raise VerificationError(f"{at}: deprecated since {pb.deprecated_since}, not after its introduction")
    elif pb.deprecated_since or pb.replaced_by:
        raise VerificationError(f"{at}: an ACTIVE code has no deprecated_since or replaced_by")
    labels: dict[str, Label] = {}
    for lb in pb.labels:
        label = _label(lb, f"{at}: label {lb.language[:32]!r}")
        if label.language.lower() in labels:
            raise VerificationError(f"{at}: two labels in {lb.language}")
        labels[label.language.lower()] = label
    return Code(pb.number, pb.code, status, pb.deprecated_since, pb.replaced_by, pb.introduced_in, labels)


def _field_version(value: str, at: str) -> tuple[int, int]:
    try:
        return list_version_key(value)
    except VerificationError as e:
        raise VerificationError(f"{at}: {e}") from None


def _label(pb: directory_pb2.CodeLabel, at: str) -> Label:
    if problem := language_problem(pb.language):
        raise VerificationError(f"{at}: {problem}")
    try:
        status = LabelStatus(pb.status)
    except ValueError:
        raise VerificationError(f"{at}: label status {pb.status} is not MACHINE_DRAFT, HUMAN or REVIEWED") from None
    for name, text, limit, required in (
        ("label", pb.label, MAX_LABEL, True),
        ("definition", pb.definition, MAX_DEFINITION, True),
        ("not_to_be_confused_with", pb.not_to_be_confused_with, MAX_DEFINITION, False),
        ("reviewer", pb.reviewer, MAX_LABEL, status is LabelStatus.REVIEWED),
    ):
        if required and not text:
            raise VerificationError(f"{at}: {name} is empty")
        if len(text) > limit or text != text.strip() or not text.isprintable():
            raise VerificationError(
                f"{at}: {name} must be one line of at most {limit} characters, without surrounding spaces"
            )
    return Label(pb.language, pb.label, pb.definition, pb.not_to_be_confused_with, status, pb.reviewer)


def _missing_summary(missing: Sequence[MissingLabel], shown: int = 3) -> str:
    first = "; ".join(m.line() for m in missing[:shown])
    more = f"; and {len(missing) - shown} more" if len(missing) > shown else ""
    return f"{len(missing)} missing label(s): {first}{more}"


# --- between versions (C2–C5) ---------------------------------------------------------------


def succession_problems(history: Sequence[CodeList], new: CodeList) -> list[str]:
    """What breaks C2–C4 when ``new`` follows ``history`` (earlier versions, any order; the more of
    them, the more is checked: C3 and C4 need ``new``'s previous version among them). Empty: it may."""
    key = list_version_key(new.list_version)
    earlier = sorted((h for h in history if list_version_key(h.list_version) < key), key=_key)
    problems: list[str] = []
    # C2: numbers never reused; codes never renamed or renumbered, whatever was dropped in between.
    for old in earlier:
        for name, codes in old.lists.items():
            now = new.lists.get(name, {})
            numbers = {c.code: n for n, c in now.items()}
            for number, code in codes.items():
                if number in now and now[number].code != code.code:
                    renamed = now[number].code
                    problems.append(f"{name} number {number} was {code.code} in {old.list_version}, now {renamed}")
                elif code.code in numbers and numbers[code.code] != number:
                    problems.append(f"{name} {code.code} was number {number} in {old.list_version}")
    previous = next((h for h in earlier if h.list_version == new.previous_list_version), None)
    if previous is not None:
        after = [h for h in earlier if _key(h) > _key(previous)]
        if after:
            problems.append(f"{new.previous_list_version} is followed by {after[0].list_version} already")
        problems += _follows(previous, new, earlier)
    return list(dict.fromkeys(problems))


def _follows(previous: CodeList, new: CodeList, earlier: Sequence[CodeList]) -> list[str]:
    """C3 and C4 between ``new`` and the version it names as previous."""
    minor = list_version_key(previous.list_version)[0] == list_version_key(new.list_version)[0]
    kind = f"{new.list_version} is a minor version of {previous.list_version} (same year): it only adds"
    problems: list[str] = []
    for name, codes in previous.lists.items():
        if name not in new.lists:
            problems.append(f"list {name} of {previous.list_version} is missing (lists are never dropped)")
            continue
        for number, code in codes.items():
            now = new.lists[name].get(number)
            what = f"{name} {code.code} ({number})"
            if now is None:
                if code.status is CodeStatus.ACTIVE:
                    problems.append(f"{what} is dropped without being deprecated first")
                    continue
                since = list_version_key(code.deprecated_since)
                kept = sum(1 for h in earlier if list_version_key(h.list_version) > since and h.code(name, number))
                if kept < 2:
                    problems.append(
                        f"{what} is dropped {kept} version(s) after its deprecation in {code.deprecated_since}; "
                        "a deprecated code stays receivable for 2 later versions"
                    )
                if minor:
                    problems.append(f"{kind}; it drops {what}")
                continue
            if now.introduced_in != code.introduced_in:
                problems.append(f"{what}: introduced in {code.introduced_in}, now says {now.introduced_in}")
            if code.status is CodeStatus.DEPRECATED and (
                now.status is not CodeStatus.DEPRECATED or now.deprecated_since != code.deprecated_since
            ):
                problems.append(f"{what} was deprecated in {code.deprecated_since}; deprecation is final")
            elif code.status is CodeStatus.ACTIVE and now.status is CodeStatus.DEPRECATED:
                if minor:
                    problems.append(f"{kind}; it deprecates {what}")
                elif now.deprecated_since != new.list_version:
                    problems.append(f"{what} is deprecated by {new.list_version}, not {now.deprecated_since}")
    for name, codes in new.lists.items():
        for number, code in codes.items():
            if previous.code(name, number) is None:
                if code.introduced_in != new.list_version:
                    problems.append(f"{name} {code.code} ({number}) is new, so introduced in {new.list_version}")
                if code.status is not CodeStatus.ACTIVE:
                    problems.append(f"{name} {code.code} ({number}) is new and cannot start deprecated")
    return problems


def reissue_problems(old: CodeList, new: CodeList) -> list[str]:
    """C5: a later document version of the same list version changes only labels and expiry."""
    if old.list_version != new.list_version:
        return [f"a re-issue of {old.list_version} is {new.list_version}"]
    problems = []
    if new.version <= old.version:
        problems.append(f"document version {new.version} is not newer than {old.version}")
    if new.previous_list_version != old.previous_list_version:
        problems.append("the previous list version changed")
    for name in sorted(set(old.lists) | set(new.lists)):
        a, b = old.lists.get(name, {}), new.lists.get(name, {})
        if set(a) != set(b) or any(not a[n].same_meaning(b[n]) for n in a):
            problems.append(f"list {name}: codes changed (a re-issue changes labels only; publish a new list version)")
    return problems


def _key(c: CodeList) -> tuple[int, int]:
    return list_version_key(c.list_version)


# --- agreements (C6) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelGap:
    """An agreement's working language not labelled in a code-list version one of its parties declares."""

    agreement_id: str
    list_version: str
    language: str
    parties: tuple[str, ...]  # the parties declaring ``list_version``
    missing_codes: int  # codes without a label and definition in ``language``; -1: the version is not carried

    def why(self) -> str:
        who = ", ".join(self.parties)
        if self.missing_codes < 0:
            return f"{who} declare(s) code list {self.list_version}, which the directory does not carry"
        return (
            f"working language {self.language} is not labelled in code list {self.list_version} ({who} declare(s) it): "
            f"{self.missing_codes} code(s) lack a label and definition"
        )


def label_gaps(
    *,
    agreement_id: str,
    working_languages: Sequence[str],
    declared: Mapping[str, str],
    code_lists: Mapping[str, CodeList],
) -> list[LabelGap]:
    """C6: each party's declared version (party -> list version) must label every working language."""
    by_version: dict[str, list[str]] = {}
    for party, version in sorted(declared.items()):
        by_version.setdefault(version, []).append(party)
    gaps = []
    for version, parties in sorted(by_version.items()):
        code_list = code_lists.get(version)
        if code_list is None:
            gaps.append(LabelGap(agreement_id, version, "", tuple(parties), -1))
            continue
        for language in dict.fromkeys(working_languages):
            missing = len(code_list.missing_labels([language]))
            if missing:
                gaps.append(LabelGap(agreement_id, version, language, tuple(parties), missing))
    return gaps


# --- which lists the messages use -----------------------------------------------------------


def body_lists(message: Any = None) -> dict[str, Any]:
    """Every enum reachable from ``message`` (a message descriptor; ``Body``'s by default), by full
    name: each is a code list. Found by walking the fields transitively, so new kinds and enums
    are found without a change here."""
    start = message if message is not None else messages_pb2.Body.DESCRIPTOR
    enums: dict[str, Any] = {}
    seen: set[str] = set()
    todo = [start]
    while todo:
        descriptor = todo.pop()
        if descriptor.full_name in seen:
            continue
        seen.add(descriptor.full_name)
        for f in descriptor.fields:
            if f.enum_type is not None:
                enums.setdefault(f.enum_type.full_name, f.enum_type)
            if f.message_type is not None:
                todo.append(f.message_type)
    return dict(sorted(enums.items()))


def enum_codes(enum_descriptor: Any) -> list[tuple[int, str]]:
    """The codes of an enum: every value but a zero named ``*_UNSPECIFIED`` ("not given"); a zero with
    a real meaning (e.g. ``FAMILY_CONTACT_RULE_CONSULT_SENDER_FIRST = 0``) is a code."""
    return [(v.number, v.name) for v in enum_descriptor.values if not (v.number == 0 and v.name.endswith(_UNSPECIFIED))]
