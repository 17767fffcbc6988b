"""What an official submits on a link, judged before the node completes it (pure).

An official names the messages a body relies on and leaves to the node what only the node knows
(``focalpoint.node.casedesk``): the exact body hash and kind of each ``EvidenceRef`` that gives a
message id, and the approval of a kind that needs a second person, which the node records when
another user approves the draft. ``submission_problems`` is ``body_problems`` without the
problems the node will fix, plus one: an approval filled in by hand, which would let one person
name another as the approver (docs/cases.md §Approvals).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from google.protobuf.message import Message

from focalpoint.exchange.body import InvalidBody, Problem, body_problems
from focalpoint.v1 import messages_pb2

__all__ = ["APPROVAL_BY_NODE", "approval_path", "check_submission", "submission_problems"]

MESSAGE_ID_BYTES = 16
APPROVAL_BY_NODE = (
    "is recorded by the node when another user approves the draft (focalpoint case approve); leave it out"
)


def approval_path(body: messages_pb2.Body) -> str | None:
    """Where the body's kind carries its approval (``None``: its kind has none)."""
    kind = body.WhichOneof("kind")
    if kind is None:
        return None
    if kind == "durable_solution_counter_proposal":
        return f"{kind}.proposal.approval"
    part: Any = getattr(body, kind)
    return f"{kind}.approval" if "approval" in part.DESCRIPTOR.fields_by_name else None


def _refs(msg: Message, path: str) -> Iterator[tuple[str, messages_pb2.EvidenceRef]]:
    for fd, value in msg.ListFields():
        at = f"{path}.{fd.name}" if path else fd.name
        items = [(f"{at}[{i}]", v) for i, v in enumerate(value)] if fd.is_repeated else [(at, value)]
        for where, item in items:
            if isinstance(item, messages_pb2.EvidenceRef):
                yield where, item
            elif isinstance(item, Message):
                yield from _refs(item, where)


def _left_to_node(body: messages_pb2.Body) -> set[str]:
    paths: set[str] = set()
    for where, ref in _refs(body, ""):
        if len(ref.message_id) == MESSAGE_ID_BYTES:
            if not ref.body_sha256:
                paths.add(f"{where}.body_sha256")
            if not ref.kind:
                paths.add(f"{where}.kind")
    approval = approval_path(body)
    if approval is not None:
        paths.add(approval)
    return paths


def _approval_given(body: messages_pb2.Body, path: str) -> bool:
    target: Any = body
    for name in path.split("."):
        target = getattr(target, name)
    return bool(target.ByteSize())


def submission_problems(body: messages_pb2.Body, *, now_ms: int | None = None) -> tuple[Problem, ...]:
    """Every problem of ``body`` the official must fix before the node completes and seals it."""
    skip = _left_to_node(body)
    problems = [p for p in body_problems(body, now_ms=now_ms) if p.path not in skip]
    approval = approval_path(body)
    if approval is not None and _approval_given(body, approval):
        problems = [p for p in problems if not p.path.startswith(approval + ".")]
        problems.append(Problem(approval, APPROVAL_BY_NODE))
    return tuple(problems)


def check_submission(body: messages_pb2.Body, *, now_ms: int | None = None) -> None:
    """Raise InvalidBody listing every problem ``submission_problems`` finds."""
    problems = submission_problems(body, now_ms=now_ms)
    if problems:
        raise InvalidBody(problems)
