"""Notifiers (``focalpoint.node.ports.Notifier``): how the node tells local users that something
concerning them happened.

``LogNotifier`` writes one structured log line (the event and how many users were told, never
who, never the case reference: the log is not the place for either); ``CapturingNotifier`` keeps
every notification in a list, for tests. A mail or chat notifier would implement the same port.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

__all__ = ["CapturingNotifier", "LogNotifier", "Notification"]

log = structlog.get_logger("focalpoint.notify")


class LogNotifier:
    """A log line per notification: ``event`` and how many users it was for."""

    async def notify(self, users: Sequence[str], event: str, *, case_ref: str = "") -> None:
        log.warning("users_notified", notification=event, users=len(users))


@dataclass(frozen=True, slots=True)
class Notification:
    users: tuple[str, ...]
    event: str
    case_ref: str


@dataclass
class CapturingNotifier:
    """Keeps each notification (``sent``), in order."""

    sent: list[Notification] = field(default_factory=list)

    async def notify(self, users: Sequence[str], event: str, *, case_ref: str = "") -> None:
        self.sent.append(Notification(tuple(users), event, case_ref))
