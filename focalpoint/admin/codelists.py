"""The code-list data files and the document built from them (docs/administrators.md §13).

The source of truth for the network code list is one YAML file per list version in the
repository's ``codelists/`` folder (``codelists/2026.1.yaml``)::

    list_version: "2026.1"
    previous_list_version: ""          # the version this one follows ("" for the first)
    label_status: MACHINE_DRAFT        # the status of every label that does not give its own
    lists:
      focalpoint.v1.Sex:               # a focalpoint.v1 enum reachable from Body, by full name
        SEX_FEMALE:                    # the enum value's name: the stable code
          number: 1                    # its number on the wire (checked against the proto)
          # status: DEPRECATED, deprecated_since: "2027.1", replaced_by: SEX_OTHER (optional)
          labels:
            en: {label: Female, definition: "…", not_to_be_confused_with: "…"}   # the last is optional
            fr: {label: Féminin, definition: "…", status: REVIEWED, reviewer: "…"}

``build_document`` loads a file (and the versions before it, from the same folder), checks it
against the ``focalpoint.v1`` enums (every list and code reachable from ``Body``, with its
number) and against rules C1–C4 (``directory.codelists``), fills in ``introduced_in`` from the
history, and returns the ``CodeListDocument`` administrators propose and sign. Every problem is
listed, one a line, naming the list, code and language (``completeness_problems``), so a file is
filled in one pass. Raises UsageError naming the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from directory.codelists import (
    TIER1_LANGUAGES,
    CodeList,
    body_lists,
    enum_codes,
    list_version_key,
    succession_problems,
)
from directory.publish import code_list_document
from focalpoint.errors import UsageError, VerificationError
from focalpoint.storage.files import read_file
from focalpoint.v1 import directory_pb2

__all__ = [
    "CODELISTS_DIR",
    "Source",
    "build_document",
    "code_list_lines",
    "code_list_summary",
    "completeness_problems",
    "load_source",
]

# Where the data files live in a source checkout (the repository's codelists/ folder).
CODELISTS_DIR = Path(__file__).resolve().parents[2] / "codelists"
_STATUS = {"ACTIVE": directory_pb2.CODE_STATUS_ACTIVE, "DEPRECATED": directory_pb2.CODE_STATUS_DEPRECATED}
_LABEL_STATUS = {
    "MACHINE_DRAFT": directory_pb2.LABEL_STATUS_MACHINE_DRAFT,
    "HUMAN": directory_pb2.LABEL_STATUS_HUMAN,
    "REVIEWED": directory_pb2.LABEL_STATUS_REVIEWED,
}
_CODE_KEYS = {"number", "status", "deprecated_since", "replaced_by", "labels"}
_LABEL_KEYS = {"label", "definition", "not_to_be_confused_with", "status", "reviewer"}


class _UniqueKeys(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice (PyYAML keeps the last one silently)."""


def _mapping(loader: _UniqueKeys, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise UsageError(f"line {key_node.start_mark.line + 1}: {key!r} is given twice")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeys.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


@dataclass(slots=True)
class Source:
    """One data file, read and checked against the proto: the document (without times and document
    version) and every problem found, one a line."""

    path: Path
    document: directory_pb2.CodeListDocument
    problems: list[str] = field(default_factory=list)


def load_source(path: Path, *, complete: bool = True) -> Source:
    """Read ``path`` into a document; problems (a wrong shape, a code or number the proto does not
    have, a missing tier-1 label or definition, and with ``complete`` a list or code of the proto it
    lacks) are collected, not raised. Raises UsageError only when the file is not YAML at all."""
    try:
        data = yaml.load(read_file(path), Loader=_UniqueKeys)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as e:
        raise UsageError(f"{path}: not valid YAML: {e}") from e
    except UsageError as e:
        raise UsageError(f"{path}: {e}") from e
    source = Source(path, directory_pb2.CodeListDocument())
    if not isinstance(data, dict):
        source.problems.append("expected a mapping with list_version, lists and (optionally) previous_list_version")
        return source
    doc = source.document
    doc.list_version = str(data.get("list_version", ""))
    doc.previous_list_version = str(data.get("previous_list_version") or "")
    if doc.list_version != path.stem:
        source.problems.append(f"list_version {doc.list_version!r} differs from the file name ({path.stem})")
    default_status = data.get("label_status", "MACHINE_DRAFT")
    lists = data.get("lists")
    if not isinstance(lists, dict):
        source.problems.append("lists: expected a mapping of enum full name to codes")
        return source
    for name, codes in lists.items():
        entry = doc.lists.add(name=str(name))
        if not isinstance(codes, dict):
            source.problems.append(f"lists.{name}: expected a mapping of code to number and labels")
            continue
        for code, spec in codes.items():
            entry.codes.append(_code(f"lists.{name}.{code}", str(code), spec, default_status, source.problems))
    source.problems += _against_proto(doc, complete=complete)
    return source


def _code(where: str, code: str, spec: Any, default_status: Any, problems: list[str]) -> directory_pb2.Code:
    out = directory_pb2.Code(code=code)
    if not isinstance(spec, dict) or set(spec) - _CODE_KEYS:
        problems.append(f"{where}: expected {', '.join(sorted(_CODE_KEYS))}")
        return out
    number = spec.get("number")
    if not isinstance(number, int) or isinstance(number, bool):
        problems.append(f"{where}.number: expected the enum value's number")
    else:
        out.number = number
    status = spec.get("status", "ACTIVE")
    if status not in _STATUS:
        problems.append(f"{where}.status: expected ACTIVE or DEPRECATED")
    else:
        out.status = _STATUS[status]
    out.deprecated_since = str(spec.get("deprecated_since", ""))
    out.replaced_by = str(spec.get("replaced_by", ""))
    labels = spec.get("labels", {})
    if not isinstance(labels, dict):
        problems.append(f"{where}.labels: expected a mapping of language to label and definition")
        return out
    for language, label in labels.items():
        at = f"{where}.labels.{language}"
        if not isinstance(label, dict) or set(label) - _LABEL_KEYS:
            problems.append(f"{at}: expected {', '.join(sorted(_LABEL_KEYS))}")
            continue
        label_status = label.get("status", default_status)
        if label_status not in _LABEL_STATUS:
            problems.append(f"{at}.status: expected MACHINE_DRAFT, HUMAN or REVIEWED")
            continue
        out.labels.add(
            language=str(language),
            label=str(label.get("label", "")).strip(),
            definition=" ".join(str(label.get("definition", "")).split()),
            not_to_be_confused_with=" ".join(str(label.get("not_to_be_confused_with", "")).split()),
            status=_LABEL_STATUS[label_status],
            reviewer=str(label.get("reviewer", "")).strip(),
        )
    return out


def _against_proto(doc: directory_pb2.CodeListDocument, *, complete: bool) -> list[str]:
    """Every list is a focalpoint.v1 enum reachable from Body, every code one of its values with its
    number, labelled and defined in every tier-1 language; with ``complete`` (the version being
    built, not the older ones it follows), every code of every such enum is there."""
    enums = body_lists()
    problems: list[str] = []
    given = {e.name: e for e in doc.lists}
    for name, entry in given.items():
        if name not in enums:
            problems.append(f"lists.{name}: not an enum reachable from focalpoint.v1.Body")
            continue
        numbers = {code: number for number, code in enum_codes(enums[name])}
        for given_code in entry.codes:
            code, number = given_code.code, given_code.number
            if code not in numbers:
                problems.append(f"lists.{name}.{code}: {name} has no such value (or it is *_UNSPECIFIED)")
            elif number != numbers[code]:
                problems.append(f"lists.{name}.{code}: number {number}, but the proto says {numbers[code]}")
    for name, descriptor in enums.items():
        have = {c.code: c for c in given[name].codes} if name in given else {}
        for number, code in enum_codes(descriptor):
            c = have.get(code)
            if c is None and not complete:
                continue
            if c is None:
                problems.append(
                    f"{name} {code} ({number}): missing (add it with labels in {', '.join(TIER1_LANGUAGES)})"
                )
                continue
            labelled = {lb.language.lower() for lb in c.labels if lb.label and lb.definition}
            problems += [
                f"{name} {code} ({number}): no {lang} label and definition"
                for lang in TIER1_LANGUAGES
                if lang not in labelled
            ]
    return problems


def completeness_problems(path: Path) -> list[str]:
    """What stops ``path`` from being built as the newest version, one a line, every missing code and
    label named (the rules between versions are ``build_document``'s)."""
    source = load_source(path)
    history = _history(path, source.document)
    return [p for p in source.problems if not _dropped_after_deprecation(p, history)]


def build_document(
    path: Path, *, version: int = 1, issued_at_ms: int = 0, expires_at_ms: int = 0
) -> directory_pb2.CodeListDocument:
    """The CodeListDocument of the data file ``path`` (document ``version``), checked as nodes will
    check it (C1) and against the versions before it in the same folder (C2–C4); ``introduced_in``
    comes from that history. Raises UsageError listing every problem."""
    doc, _ = _build(path, complete=True)
    doc.version, doc.issued_at_ms, doc.expires_at_ms = version, issued_at_ms, expires_at_ms
    return doc


def _build(path: Path, *, complete: bool) -> tuple[directory_pb2.CodeListDocument, list[CodeList]]:
    """The document of ``path`` and the versions it follows (oldest first), each checked."""
    source = load_source(path, complete=complete)
    doc = source.document
    history = _history(path, doc)
    problems = [p for p in source.problems if not _dropped_after_deprecation(p, history)]
    if problems:
        raise UsageError(f"{path}: cannot build code list {doc.list_version or path.stem}:\n  " + "\n  ".join(problems))
    previous = history[-1] if history else None
    for entry in doc.lists:
        for code in entry.codes:
            old = previous.code(entry.name, code.number) if previous is not None else None
            code.introduced_in = old.introduced_in if old is not None else doc.list_version
    doc = directory_pb2.CodeListDocument.FromString(code_list_document(doc))
    try:
        built = CodeList.from_proto(doc, str(path))
    except VerificationError as e:
        raise UsageError(str(e)) from e
    rules = succession_problems(history, built)
    if rules:
        raise UsageError(f"{path}: breaks the rules between versions:\n  " + "\n  ".join(rules))
    return doc, [*history, built]


def _history(path: Path, doc: directory_pb2.CodeListDocument) -> list[CodeList]:
    """The versions ``doc`` follows, oldest first, each built from its own file in the same folder.
    Each is strictly older than the one after it, so the chain ends."""
    previous = doc.previous_list_version
    if not previous:
        return []
    try:
        older = list_version_key(previous) < list_version_key(doc.list_version)
    except VerificationError as e:
        raise UsageError(f"{path}: {e}") from e
    if not older:
        raise UsageError(f"{path}: follows {previous}, which is not an older version")
    earlier = path.parent / f"{previous}.yaml"
    if not earlier.exists():
        raise UsageError(f"{path}: follows {previous}, but {earlier} does not exist")
    return _build(earlier, complete=False)[1]


def _dropped_after_deprecation(problem: str, history: list[CodeList]) -> bool:
    """A proto value the file no longer lists is fine if an earlier version deprecated it (C4 decides)."""
    if not problem.endswith(")") or "): missing (" not in problem or not history:
        return False
    name, code = problem.split(" ")[:2]
    return any(c.status.name == "DEPRECATED" for c in history[-1].lists.get(name, {}).values() if c.code == code)


# --- presenting a code list -------------------------------------------------------------------


def code_list_summary(doc: directory_pb2.CodeListDocument) -> dict[str, Any]:
    """Counts per list, and per language how many codes are labelled (and how many drafts), as plain data."""
    total = sum(len(e.codes) for e in doc.lists)
    languages: dict[str, dict[str, int]] = {}
    for entry in doc.lists:
        for code in entry.codes:
            for label in code.labels:
                counts = languages.setdefault(label.language, {"labelled": 0, "machine_draft": 0, "reviewed": 0})
                counts["labelled"] += 1
                counts["machine_draft"] += label.status == directory_pb2.LABEL_STATUS_MACHINE_DRAFT
                counts["reviewed"] += label.status == directory_pb2.LABEL_STATUS_REVIEWED
    return {
        "list_version": doc.list_version,
        "version": doc.version,
        "previous_list_version": doc.previous_list_version,
        "codes": total,
        "lists": {
            e.name: {
                "codes": len(e.codes),
                "deprecated": sum(c.status == directory_pb2.CODE_STATUS_DEPRECATED for c in e.codes),
            }
            for e in doc.lists
        },
        "languages": {
            lang: {**counts, "complete": counts["labelled"] == total, "tier1": lang in TIER1_LANGUAGES}
            for lang, counts in sorted(languages.items(), key=lambda kv: (kv[0] not in TIER1_LANGUAGES, kv[0]))
        },
    }


def code_list_lines(summary: Mapping[str, Any], indent: str = "  ") -> list[str]:
    """``code_list_summary`` as lines: each list's codes, each language's completeness."""
    out = [
        f"{indent}code list {summary['list_version']} (document version {summary['version']}"
        + (f", follows {summary['previous_list_version']})" if summary["previous_list_version"] else ")")
        + f": {len(summary['lists'])} list(s), {summary['codes']} code(s)"
    ]
    for name, counts in summary["lists"].items():
        deprecated = f" ({counts['deprecated']} deprecated)" if counts["deprecated"] else ""
        out.append(f"{indent}  {name}: {counts['codes']} code(s){deprecated}")
    for lang, c in summary["languages"].items():
        share = f"{c['labelled']}/{summary['codes']}"
        state = "complete" if c["complete"] else "INCOMPLETE"
        tier = " (tier 1)" if c["tier1"] else ""
        out.append(
            f"{indent}  language {lang}{tier}: {share} labelled, {state}; "
            f"{c['machine_draft']} machine draft(s), {c['reviewed']} reviewed"
        )
    return out
