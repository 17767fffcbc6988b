"""What may be exchanged between two States (pure): the bilateral agreements as rules.

An agreement has a status and covers message kinds (docs/domain.md §5); a kind may travel
between two States only under an agreement IN FORCE between them that covers it —
"signed but not in force" (docs/domain.md §1.3), suspended or terminated agreements allow nothing.
Nodes of the same State exchange without an agreement (a national focal point and its
local units). The check runs when an official submits (a clear error, nothing queued)
and again when a message arrives, after decryption (the kind is never in the clear).
"""

from __future__ import annotations

from directory import AgreementStatus, Directory
from focalpoint.errors import Refusal, RefusalError
from focalpoint.v1 import messages_pb2

__all__ = ["CONTROL_KINDS", "check_exchange", "partners", "referenced_kinds"]


# Control kinds answer or act on another message: they travel whenever the agreement covers the
# kind they refer to (docs/protocol.md §11), so an agreement need not list them one by one.
CONTROL_KINDS = frozenset(
    {
        "acknowledgement",
        "clarification_request",
        "clarification_response",
        "request_refusal",
        "amendment",
        "withdrawal",
        "reminder",
        "case_closure",
    }
)
_OPENING = ("case_notification", "tracing_request")


def referenced_kinds(body: messages_pb2.Body | None) -> tuple[str, ...]:
    """The kinds a control message acts on, as its body names them (empty for other kinds)."""
    if body is None:
        return ()
    kind = body.WhichOneof("kind")
    if kind == "case_closure":
        return _OPENING  # a closure acts on the link, opened by one of these
    if kind == "amendment":
        return (body.amendment.replacement.WhichOneof("kind") or body.amendment.amends.kind,)
    ref = {
        "acknowledgement": lambda: body.acknowledgement.acknowledges,
        "clarification_request": lambda: body.clarification_request.about,
        "clarification_response": lambda: body.clarification_response.answers,
        "request_refusal": lambda: body.request_refusal.refuses,
        "withdrawal": lambda: body.withdrawal.withdraws,
        "reminder": lambda: body.reminder.about,
    }.get(kind or "")
    return (ref().kind,) if ref is not None and ref().kind else ()


def check_exchange(
    directory: Directory,
    *,
    sender_node: str,
    recipient_node: str,
    kind: str,
    body: messages_pb2.Body | None = None,
) -> None:
    """Raise RefusalError(NO_AGREEMENT) unless ``kind`` may go from sender to recipient.

    A kind travels under an agreement IN FORCE that covers it; a control kind also under one that
    covers the kind it refers to (given by ``body``); under a SUSPENDED agreement only the kinds
    its case rules allow while suspended (by default a withdrawal and a protection alert).
    """
    sender, recipient = directory.node(sender_node), directory.node(recipient_node)
    if sender is None or recipient is None:
        raise RefusalError(Refusal.UNKNOWN_SENDER, "sender or recipient is not in the directory")
    if sender.state == recipient.state:
        return
    if directory.agreement_covering(sender.state, recipient.state, kind) is not None:
        return
    between = [a for a in directory.agreements.values() if {sender.state, recipient.state} <= a.parties]
    referred = referenced_kinds(body) if kind in CONTROL_KINDS else ()
    if any(directory.agreement_covering(sender.state, recipient.state, k) is not None for k in referred):
        return
    for a in between:
        if a.status is AgreementStatus.SUSPENDED and kind in a.case_rules.kinds_when_suspended:
            return
    named = sorted(f"{a.agreement_id} ({a.status.name.lower().replace('_', ' ')})" for a in between)
    known = f"; agreements between them: {', '.join(named)}" if named else "; there is no agreement between them"
    raise RefusalError(
        Refusal.NO_AGREEMENT,
        f"no agreement in force between {sender.state} and {recipient.state} covers {kind}{known}",
    )


def partners(directory: Directory, me: str) -> list[str]:
    """Nodes this node may exchange with: its own State's, and those under an agreement in force."""
    mine = directory.node(me)
    if mine is None:
        return []
    states = {mine.state} | {
        s
        for a in directory.agreements.values()
        if a.status.name == "IN_FORCE" and mine.state in a.parties
        for s in a.parties
    }
    return sorted(n.node_id for n in directory.nodes.values() if n.state in states and n.node_id != me)
