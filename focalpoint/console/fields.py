"""How the console names the fields of messages and the message kinds (pure).

A field's label is its protobuf name made readable ("given_names" reads "Given names"; a time's
``_ms`` is dropped: "departed_at_ms" reads "Departed at"), an English msgid that the catalogs
translate; a kind's label is its name made readable the same way. ``form_labels`` lists every
label a message form or a message's content can show, so a test can hold the catalogs complete.
"""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.descriptor import Descriptor

from focalpoint.exchange.rules import KINDS, kind_type
from focalpoint.v1 import messages_pb2

__all__ = ["field_label", "form_labels", "kind_label"]

# Nested types shown as one value, not as a block of their own fields.
_LEAVES = frozenset({"focalpoint.v1.Date", "focalpoint.v1.Body"})


def field_label(name: str) -> str:
    """The English label of a field named ``name``."""
    words = name.removesuffix("_ms").replace("_", " ").strip().lower()
    return words[:1].upper() + words[1:]


# Kinds whose name made readable reads badly.
_KIND_WORDS = {
    "child_views_record": "Record of the child's views",
    "durable_solution_counter_proposal": "Durable solution counter-proposal",
    "repatriation_plan_acceptance": "Acceptance of the repatriation plan",
    "follow_up_report": "Follow-up report",
    "request_refusal": "Refusal of a request",
}


def kind_label(kind: str) -> str:
    """The English label of a message kind (e.g. "Social inquiry request")."""
    return _KIND_WORDS.get(kind) or field_label(kind)


def _labels(descriptor: Descriptor, seen: set[str]) -> Iterator[str]:
    if descriptor.full_name in seen:
        return
    seen.add(descriptor.full_name)
    for fd in descriptor.fields:
        if fd.GetOptions().deprecated:
            continue
        yield field_label(fd.name)
        nested = fd.message_type
        if nested is not None and nested.full_name not in _LEAVES:
            yield from _labels(nested, seen)


def form_labels() -> frozenset[str]:
    """Every field and kind label the forms and the content of messages can show."""
    seen: set[str] = set()
    out = set(_labels(messages_pb2.CaseContext.DESCRIPTOR, seen))
    for kind in KINDS:
        out.add(kind_label(kind))
        out.update(_labels(kind_type(kind), seen))
    return frozenset(out)
