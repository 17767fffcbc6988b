"""The stages of a link and the two sides of it (docs/cases.md §Stages).

A link is the bilateral thread between one case and one partner State. Each side computes the
stage from the messages it holds; at quiescence both agree, except the local first stages OPEN
(the opening side, nothing sent yet) and RECEIVED (the receiving side, not yet acknowledged).
"""

from __future__ import annotations

import enum

__all__ = ["ACTIVE", "BEFORE_ASSESSMENT", "TERMINAL", "Side", "Stage"]


class Side(enum.Enum):
    """Which State of the link: the one that identified the child, or the child's home State."""

    IS = "IS"  # identifying State (destination or transit)
    OS = "OS"  # State of origin (claimed nationality or habitual residence)

    @property
    def other(self) -> Side:
        return Side.OS if self is Side.IS else Side.IS


class Stage(enum.Enum):
    OPEN = "OPEN"
    RECEIVED = "RECEIVED"
    NOTIFIED = "NOTIFIED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    ASSESSMENT = "ASSESSMENT"
    NEGOTIATION = "NEGOTIATION"
    AGREED = "AGREED"
    RETURN_PREPARATION = "RETURN_PREPARATION"
    RETURN_IN_PROGRESS = "RETURN_IN_PROGRESS"
    FOLLOW_UP = "FOLLOW_UP"
    LOCAL_SOLUTION = "LOCAL_SOLUTION"
    CLOSING = "CLOSING"
    CLOSED = "CLOSED"
    REFUSED = "REFUSED"
    WITHDRAWN = "WITHDRAWN"


TERMINAL = frozenset({Stage.CLOSED, Stage.REFUSED, Stage.WITHDRAWN})
BEFORE_ASSESSMENT = frozenset({Stage.RECEIVED, Stage.NOTIFIED, Stage.ACKNOWLEDGED})
# Every stage in which the link is alive and past its opening message.
ACTIVE = frozenset(Stage) - TERMINAL - {Stage.OPEN}
