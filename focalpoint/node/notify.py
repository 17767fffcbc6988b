"""Notifiers (``focalpoint.node.ports.Notifier``): how the node tells local users that something
concerning them happened.

``LogNotifier`` writes one structured log line (the event and how many users were told, never
who, never the case reference: the log is not the place for either); ``CapturingNotifier`` keeps
every notification in a list, for tests; ``AllNotifiers`` tells several (the log and e-mail,
``adapters.mail``), each whatever the others did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from focalpoint.node.ports import Notifier

__all__ = ["AllNotifiers", "CapturingNotifier", "LogNotifier", "Notification"]

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


@dataclass(frozen=True, slots=True)
class AllNotifiers:
    """Tells each of ``notifiers`` in turn; one that fails is logged (its class, the event) and
    does not keep the others from being told."""

    notifiers: tuple[Notifier, ...]

    async def notify(self, users: Sequence[str], event: str, *, case_ref: str = "") -> None:
        for notifier in self.notifiers:
            try:
                await notifier.notify(users, event, case_ref=case_ref)
            except Exception as e:  # a notifier must never break the caller's work
                log.error(
                    "notifier_failed", notifier=type(notifier).__name__, notification=event, error=type(e).__name__
                )
