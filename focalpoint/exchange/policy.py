"""What may be exchanged between two States (pure): the bilateral agreements as rules.

An agreement has a status and covers message kinds (docs/domain.md §5); a kind may travel
between two States only under an agreement IN FORCE between them that covers it —
"signed but not in force" (docs/domain.md §1.3), suspended or terminated agreements allow nothing.
Nodes of the same State exchange without an agreement (a national focal point and its
local units). The check runs when an official submits (a clear error, nothing queued)
and again when a message arrives, after decryption (the kind is never in the clear).
"""

from __future__ import annotations

from directory import Directory
from focalpoint.errors import Refusal, RefusalError

__all__ = ["check_exchange", "partners"]


def check_exchange(directory: Directory, *, sender_node: str, recipient_node: str, kind: str) -> None:
    """Raise RefusalError(NO_AGREEMENT) unless ``kind`` may go from sender to recipient."""
    sender, recipient = directory.node(sender_node), directory.node(recipient_node)
    if sender is None or recipient is None:
        raise RefusalError(Refusal.UNKNOWN_SENDER, "sender or recipient is not in the directory")
    if sender.state == recipient.state:
        return
    if directory.agreement_covering(sender.state, recipient.state, kind) is not None:
        return
    between = sorted(
        f"{a.agreement_id} ({a.status.name.lower().replace('_', ' ')})"
        for a in directory.agreements.values()
        if {sender.state, recipient.state} <= a.parties
    )
    known = f"; agreements between them: {', '.join(between)}" if between else "; there is no agreement between them"
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
