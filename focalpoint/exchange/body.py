"""Validation of message bodies (pure): every kind, every broken rule at once, each with its field path.

A body is refused when it could not be acted on safely at the other end. ``validate_body``
walks the body and applies the rules of ``focalpoint.exchange.rules`` (one table, printed in
docs/protocol.md §11.6) to every part it holds, the replacement body of an amendment included;
``InvalidBody`` carries every ``Problem`` found (a field path from the body's root and the rule
broken, never the value: values may be personal data), one a line in its text.

``seal`` and the receive steps call it with the envelope's creation time as ``now_ms``, so a time
that should lie in the past (an identification, an attestation) is judged against the clock of
the node that signed it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from focalpoint.errors import UsageError
from focalpoint.exchange.rules import (
    KINDS,
    POSITIONAL_LISTS,
    Ctx,
    Problem,
    actor_problem,
    case_ref_problem,
    is_set,
    spec_of,
    subdivision_problem,
    unit_problem,
)
from focalpoint.ids import language_problem, state_problem
from focalpoint.v1 import messages_pb2

__all__ = [
    "KINDS",
    "SUPPORTED_KINDS",
    "InvalidBody",
    "Problem",
    "body_kind",
    "body_problems",
    "case_ref_of",
    "validate_body",
]

# Every kind is validated; kept under its earlier name for callers that list what a node handles.
SUPPORTED_KINDS: tuple[str, ...] = KINDS


class InvalidBody(UsageError):
    """A body breaks rules; ``problems`` names each (path and rule), and the text lists them one a line."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(f"{p.path or 'body'}: {p.message}" for p in self.problems))


def body_kind(body: messages_pb2.Body) -> str:
    return body.WhichOneof("kind") or ""


def validate_body(body: messages_pb2.Body, *, now_ms: int | None = None) -> str:
    """Return the body's kind; raise InvalidBody listing every broken rule.

    ``now_ms``: the time the body is judged at (the envelope's creation time); without it, no
    time is checked against the clock.
    """
    problems = body_problems(body, now_ms=now_ms)
    if problems:
        raise InvalidBody(problems)
    return body_kind(body)


def body_problems(body: messages_pb2.Body, *, now_ms: int | None = None) -> tuple[Problem, ...]:
    """Every broken rule of ``body``, in the order the walk meets them, each once."""
    found = dict.fromkeys(_walk(body, "", Ctx(now_ms)))
    return tuple(found)


def case_ref_of(body: messages_pb2.Body) -> str:
    """The body's pseudonymous case reference: the context's when set, else the kind's own (empty if none)."""
    if body.context.case_ref:
        return body.context.case_ref
    kind = body.WhichOneof("kind")
    return str(getattr(getattr(body, kind), "case_ref", "")) if kind else ""


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path and name else path or name


def _values(msg: Any, name: str) -> Iterator[tuple[str, Any]]:
    """(relative path, value) of a field, one per entry of a list; an empty value is skipped."""
    value = getattr(msg, name)
    if msg.DESCRIPTOR.fields_by_name[name].is_repeated:
        for i, item in enumerate(value):
            yield f"{name}[{i}]", item
    elif value:
        yield name, value


def _required(msg: Any, name: str) -> str | None:
    if is_set(msg, name):
        return None
    fd: FieldDescriptor = msg.DESCRIPTOR.fields_by_name[name]
    if fd.is_repeated:
        return "needs at least one entry"
    if fd.enum_type is not None:
        return "is required (UNSPECIFIED is no code)"
    return "is required"


_SHAPES = (
    ("states", state_problem),
    ("subdivisions", subdivision_problem),
    ("languages", language_problem),
    ("units", unit_problem),
    ("actors", actor_problem),
    ("case_refs", case_ref_problem),
)


def _walk(msg: Any, path: str, ctx: Ctx) -> Iterator[Problem]:
    descriptor = msg.DESCRIPTOR
    spec = spec_of(descriptor)
    for name in spec.required:
        if message := _required(msg, name):
            yield Problem(_join(path, name), message)
    for name in spec.true:
        if not getattr(msg, name):
            yield Problem(_join(path, name), "must be true")
    for attr, problem_of in _SHAPES:
        for name in getattr(spec, attr):
            for rel, value in _values(msg, name):
                # An empty entry of a list is no code either; an empty single field is "not given".
                if problem := problem_of(value):
                    yield Problem(_join(path, rel), problem)
    if ctx.now_ms is not None:
        for name in spec.past:
            if getattr(msg, name) > ctx.now_ms:
                yield Problem(_join(path, name), "must not be after the message's creation time")
    for name, kinds in spec.refers_to:
        ref = getattr(msg, name)
        if msg.HasField(name) and ref.kind in KINDS and ref.kind not in kinds:
            yield Problem(_join(path, f"{name}.kind"), f"must refer to a {' or '.join(kinds)}")
    kind = msg.WhichOneof("kind") if descriptor.full_name == messages_pb2.Body.DESCRIPTOR.full_name else None
    for check in spec.checks:
        if check.kinds and kind not in check.kinds:
            continue
        for rel, message in check.run(msg, ctx):
            yield Problem(_join(path, rel), message)
    yield from _generic(msg, path, ctx)


def _generic(msg: Any, path: str, ctx: Ctx) -> Iterator[Problem]:
    """The rules that follow from a field's type (rules.GENERIC), and the walk into every part that is set."""
    for fd in msg.DESCRIPTOR.fields:
        name = fd.name
        at = _join(path, name)
        value = getattr(msg, name)
        repeated = fd.is_repeated
        if fd.GetOptions().deprecated and is_set(msg, name):
            yield Problem(at, "is deprecated and must not be set; its successor says it safely (messages.proto)")
        if fd.enum_type is not None and repeated and fd.full_name not in POSITIONAL_LISTS:
            for i, code in enumerate(value):
                if code == 0 and fd.enum_type.values_by_number[0].name.endswith("_UNSPECIFIED"):
                    yield Problem(f"{at}[{i}]", "is UNSPECIFIED, which is no code")
        if fd.type == FieldDescriptor.TYPE_INT64 and name.endswith("_ms") and not repeated and value < 0:
            yield Problem(at, "must be a time in milliseconds since 1970 (never negative; 0 = not given)")
        if fd.message_type is not None:
            if repeated:
                for i, item in enumerate(value):
                    yield from _walk(item, f"{at}[{i}]", ctx)
            elif msg.HasField(name):
                yield from _walk(value, at, ctx)
