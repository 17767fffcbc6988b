"""A directory document's signed content in full, for the people who sign it: every field of the
root, State entry or agreement (unset ones too, so that a ``false`` or an empty list shows), as
plain data (``content``) and as indented lines (``content_lines``); ``show_document`` adds what
it is (a proposal or published), and whose signatures are in and what is still needed
(``focalpoint.admin.signatures``). A code list has hundreds of labels: its lines are its own fields
and a summary (codes per list, each language and how complete it is); its plain data has every
field and that summary.

Plain data: field names as in the .proto, enum values by name, bytes in hex, times in
milliseconds. Lines: times also in ISO 8601 (UTC), dates as YYYY-MM-DD, and bytes longer than 32
(public keys, certificates) as their length and SHA-256, which is what can be compared by eye.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from directory.trust import content_sha256, parse_signed
from focalpoint.admin.codelists import code_list_lines, code_list_summary
from focalpoint.admin.repo import Repository, document_kind
from focalpoint.admin.signatures import SignatureStatus, signature_status
from focalpoint.v1 import directory_pb2

__all__ = ["DocumentView", "content", "content_lines", "show_document", "signed_message"]

_TYPES: dict[str, type[Message]] = {
    "root": directory_pb2.Root,
    "state": directory_pb2.StateEntry,
    "agreement": directory_pb2.Agreement,
    "codelist": directory_pb2.CodeListDocument,
}
_TIME_FIELDS = ("_at_ms", "not_before_ms", "not_after_ms")
# A message's field descriptor (the stubs name two classes for it: the pure-Python and the upb one).
_Field = Any


@dataclass(frozen=True, slots=True)
class DocumentView:
    """A document as ``directory show`` presents it."""

    status: SignatureStatus
    published: bool | None  # None: not compared with a repository
    fields: dict[str, Any]
    field_lines: list[str]
    judged_by: str  # which root in force decided who counts, in words

    @property
    def title(self) -> str:
        what = self.status.what
        if self.published:
            return f"published document: {what} ({self.status.signing})"
        where = "not published" if self.published is False else "not compared with a repository"
        return f"PROPOSAL ({where}): {what}: {self.status.signing}"

    def lines(self) -> list[str]:
        return [self.title, "content:", *self.field_lines, f"who counts: {self.judged_by}", *self.status.lines()]

    def as_dict(self) -> dict[str, Any]:
        return {
            "proposal": not self.published,
            "published": self.published,
            "judged_by": self.judged_by,
            **self.status.as_dict(),
            "content": self.fields,
        }


def show_document(
    raw: bytes, *, current_root: directory_pb2.Root | None, judged_by: str, repository: Repository | None = None
) -> DocumentView:
    """A root, State entry or agreement document (a proposal, or a published one) in full, with its
    signatures judged against ``current_root``, and compared with ``repository`` when given.
    Raises UsageError for bytes that are not such a document."""
    message = signed_message(raw)
    status = signature_status(raw, current_root)
    published: bool | None = None
    if repository is not None:
        kept = repository.document(status.kind, status.name, status.version)
        published = kept is not None and content_sha256(kept) == content_sha256(raw)
        if kept is not None and not published:
            problem = f"the repository has published a different {status.what}; propose again"
            status = replace(status, problems=(*status.problems, problem))
    # Roles list administrators by key id: say whose key each is, wherever a key id appears.
    keys = [*(current_root.keys if current_root is not None else ()), *getattr(message, "keys", ())]
    notes = {k.key_id: f"{k.name}, {k.state}" for k in keys if isinstance(k, directory_pb2.AdminKey)}
    if isinstance(message, directory_pb2.CodeListDocument):
        # Hundreds of labels: the lines say what is in it (lists, languages, how complete); --json has every field.
        summary = code_list_summary(message)
        own = [line for line in content_lines(_header(message), notes=notes) if not line.startswith("  lists:")]
        lines = [*own, *code_list_lines(summary)]
        return DocumentView(status, published, {**content(message), "summary": summary}, lines, judged_by)
    lines = content_lines(message, notes=notes)
    return DocumentView(status, published, content(message), lines, judged_by)


def _header(doc: directory_pb2.CodeListDocument) -> directory_pb2.CodeListDocument:
    """A code list's own fields, without its lists."""
    out = directory_pb2.CodeListDocument()
    out.CopyFrom(doc)
    del out.lists[:]
    return out


def signed_message(raw: bytes) -> Message:
    """The signed content of a root, State entry, agreement or code-list document; raises UsageError otherwise."""
    kind, _, _ = document_kind(raw)
    return _TYPES[kind].FromString(parse_signed(raw, "document").signed)


def content(message: Message) -> dict[str, Any]:
    """Every field of ``message`` as plain data (JSON-ready)."""
    return {f.name: _value(f, getattr(message, f.name), message) for f in message.DESCRIPTOR.fields}


def _value(field: _Field, value: Any, parent: Message) -> Any:
    if field.is_repeated:
        return [_one(field, v) for v in value]
    if field.type == FieldDescriptor.TYPE_MESSAGE and not parent.HasField(field.name):
        return None
    return _one(field, value)


def _one(field: _Field, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return content(value)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return bytes(value).hex()
    if field.type == FieldDescriptor.TYPE_ENUM:
        number = int(value)
        known = field.enum_type.values_by_number.get(number)
        return known.name if known is not None else number
    return value


def content_lines(message: Message, indent: str = "  ", notes: Mapping[str, str] | None = None) -> list[str]:
    """Every field of ``message``, one per line (nested messages and lists indented); a string
    value found in ``notes`` (e.g. an administrator's key id) is followed by its note."""
    out: list[str] = []
    notes = notes or {}
    for f in message.DESCRIPTOR.fields:
        value = getattr(message, f.name)
        if f.is_repeated:
            if not value:
                out.append(f"{indent}{f.name}: []")
                continue
            out.append(f"{indent}{f.name}:")
            for item in value:
                if f.type == FieldDescriptor.TYPE_MESSAGE and not _is_date(item):
                    nested = content_lines(item, indent + "    ", notes)
                    out.append(f"{indent}  - {nested[0].lstrip()}")
                    out += nested[1:]
                else:
                    out.append(f"{indent}  - {_text(f, item, notes)}")
        elif f.type == FieldDescriptor.TYPE_MESSAGE and not _is_date(value):
            if not message.HasField(f.name):
                out.append(f"{indent}{f.name}: (not set)")
            else:
                out.append(f"{indent}{f.name}:")
                out += content_lines(value, indent + "  ", notes)
        else:
            shown = "(not set)" if f.type == FieldDescriptor.TYPE_MESSAGE and not message.HasField(f.name) else None
            out.append(f"{indent}{f.name}: {shown or _text(f, value, notes)}")
    return out


def _is_date(value: Any) -> bool:
    return isinstance(value, Message) and value.DESCRIPTOR.full_name == "focalpoint.v1.Date"


def _text(field: _Field, value: Any, notes: Mapping[str, str]) -> str:
    if _is_date(value):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}" if value.year else "(not set)"
    if field.type == FieldDescriptor.TYPE_BYTES:
        raw = bytes(value)
        if len(raw) <= 32:
            return raw.hex() or '""'
        return f"{len(raw)} bytes, sha256 {hashlib.sha256(raw).hexdigest()}"
    if field.type == FieldDescriptor.TYPE_ENUM:
        return str(_one(field, value))
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "true" if value else "false"
    if field.type == FieldDescriptor.TYPE_STRING:
        text = str(value)
        shown = text if text and text.isprintable() and text == text.strip() else json.dumps(text, ensure_ascii=False)
        return f"{shown}  ({notes[text]})" if text in notes else shown
    if isinstance(value, int) and field.name.endswith(_TIME_FIELDS):
        if not value:
            return "0 (not set)"
        when = dt.datetime.fromtimestamp(value / 1000, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return f"{when} ({value})"
    return str(value)
