"""Notifiers (``focalpoint.node.ports.Notifier``): how the node tells local users that something
concerning them happened.

``LogNotifier`` writes one structured log line (the event and how many users were told, never
who, never the case reference: the log is not the place for either); ``CapturingNotifier`` keeps
every notification in a list, for tests; ``AllNotifiers`` tells several, each whatever the others
did.

``QueuedNotifier`` is how notifications leave the node (docs/adr/0021): it writes one row per
channel and destination into the durable queue (``focalpoint.storage.base.NotificationStore``)
when the event happens — an e-mail for each person whose preferences want it
(``focalpoint.people.notices``), a webhook for each endpoint whose filter takes the event — and a
``NotificationSender`` per channel drains the queue in the background, with bounded exponential
backoff, until the row is delivered or given up (too many attempts, too old, or refused for good).
A row survives a restart: the sender of the next start sends it. ``CaseAlerts`` tells people of
what a partner sent: an emergency alert (the on-call list, at once) and a new request (the case's
assignees).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from focalpoint.cases.events import Event, Origin
from focalpoint.cases.requests import TRACKED_KINDS
from focalpoint.errors import FocalpointError, TransportError
from focalpoint.node.ports import Clock, NotificationChannel, Notifier
from focalpoint.people.notices import EMERGENCY_ALERT, NEW_REQUEST, event_type, family, wants_email
from focalpoint.people.roles import Grant, Role
from focalpoint.storage.base import LinkRow, NewNotice, NoticeRow, NotificationStore

__all__ = [
    "AllNotifiers",
    "CapturingNotifier",
    "CaseAlerts",
    "LogNotifier",
    "NoticeProfile",
    "Notification",
    "NotificationSender",
    "QueuedNotifier",
    "RetryPolicy",
    "WebhookRoute",
    "link_assignees",
    "new_notice_id",
    "on_call_or_operators",
]

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
                    "notifier_failed",
                    notifier=type(notifier).__name__,
                    notification=event_type(event),
                    error=type(e).__name__,
                )


# --- the durable queue -----------------------------------------------------------------------------


def new_notice_id() -> str:
    """A queue row's id: the webhook's ``webhook-id`` (Standard Webhooks' ``msg_`` form), 128 random bits."""
    return "msg_" + secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class NoticeProfile:
    """What deciding on a person's e-mail needs (``focalpoint.node.accounts`` answers it)."""

    user_id: str
    has_email: bool
    off: frozenset[str]
    on_call: bool
    roles: frozenset[Role]
    grants: frozenset[Grant]
    disabled: bool


class People(Protocol):
    async def notice_profile(self, user_id: str) -> NoticeProfile | None: ...


@dataclass(frozen=True, slots=True)
class WebhookRoute:
    """A webhook endpoint as queueing needs it: its URL and the families it takes (empty: all)."""

    url: str
    families: frozenset[str] = frozenset()


class QueuedNotifier:
    """A ``Notifier`` that writes what is to be sent into the durable queue and wakes the senders."""

    def __init__(
        self,
        *,
        queue: NotificationStore,
        people: People,
        clock_ms: Clock,
        email: bool,
        webhooks: Sequence[WebhookRoute] = (),
        wake: Callable[[str], None] = lambda channel: None,
        new_id: Callable[[], str] = new_notice_id,
    ) -> None:
        self._queue = queue
        self._people = people
        self._clock = clock_ms
        self._email = email
        self._webhooks = tuple(webhooks)
        self._wake = wake
        self._new_id = new_id

    async def notify(self, users: Sequence[str], event: str, *, case_ref: str = "") -> None:
        now = self._clock()
        rows: list[NewNotice] = []
        if self._email:
            for user in sorted(set(users)):
                p = await self._people.notice_profile(user)
                if p is None or p.disabled or not p.has_email:
                    continue
                if wants_email(event, p.off, p.roles, p.grants, p.on_call):
                    rows.append(NewNotice(self._new_id(), "email", user, event, case_ref, now))
        fam = family(event)
        for hook in self._webhooks:
            if not hook.families or fam in hook.families:
                rows.append(NewNotice(self._new_id(), "webhook", hook.url, event, case_ref, now))
        if not rows:
            return
        await self._queue.enqueue(rows)
        for channel in sorted({r.channel for r in rows}):
            self._wake(channel)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long a row is tried: waits doubling from ``initial_s`` up to ``max_s``, at most
    ``attempts`` attempts and never after ``max_age_s`` from its event."""

    initial_s: float = 5.0
    max_s: float = 300.0
    attempts: int = 8
    max_age_s: float = 86_400.0

    def delay_s(self, attempts: int) -> float:
        """The wait after the ``attempts``-th failed attempt."""
        return float(min(self.initial_s * 2 ** max(attempts - 1, 0), self.max_s))


class NotificationSender:
    """Drains one channel's rows of the queue: each due row is sent once per pass; delivered
    rows leave the queue; a failure is retried later (``TransportError``) or given up
    (any other error: the receiver refused it for good), and so is a row past its attempts or its
    age. Logs name the channel, the event's type and the error's class: never a destination or a
    case reference."""

    def __init__(
        self,
        *,
        queue: NotificationStore,
        channel: NotificationChannel,
        clock_ms: Clock,
        retry: RetryPolicy = RetryPolicy(),
        batch: int = 50,
    ) -> None:
        self._queue = queue
        self._channel = channel
        self._clock = clock_ms
        self._retry = retry
        self._batch = batch
        self._woken = asyncio.Event()

    @property
    def channel(self) -> str:
        return self._channel.name

    def wake(self) -> None:
        self._woken.set()

    async def run(self) -> None:
        """Send what is due, then sleep until the next row is due or ``wake`` (forever)."""
        while True:
            try:
                while await self.send_due() == self._batch:
                    pass
                next_ms = await self._queue.next_due_ms(self.channel)
            except FocalpointError as e:  # the database failed this pass: try again shortly
                log.error("notification_queue_failed", channel=self.channel, error=type(e).__name__)
                next_ms = self._clock() + 5_000
            wait_s = None if next_ms is None else max((next_ms - self._clock()) / 1000, 0.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), timeout=wait_s)
            self._woken.clear()

    async def send_due(self) -> int:
        """One pass over the rows due now; returns how many were tried."""
        rows = await self._queue.due(self.channel, self._clock(), self._batch)
        for row in rows:
            await self._send(row)
        return len(rows)

    async def _send(self, row: NoticeRow) -> None:
        kind = event_type(row.event)
        attempts = row.attempts + 1
        try:
            await self._channel.send(row.notice_id, row.destination, row.event, row.case_ref, row.created_ms)
        except TransportError as e:
            now = self._clock()
            too_old = now - row.created_ms >= self._retry.max_age_s * 1000
            if attempts >= self._retry.attempts or too_old:
                await self._give_up(row, attempts, now, type(e).__name__)
                return
            log.warning(
                "notification_failed", channel=self.channel, notification=kind, attempt=attempts, error=type(e).__name__
            )
            next_ms = now + int(self._retry.delay_s(attempts) * 1000)
            await self._queue.retry(row.notice_id, attempts, next_ms, type(e).__name__)
            return
        except Exception as e:  # refused for good (or a bug): never sent again, counted
            await self._give_up(row, attempts, self._clock(), type(e).__name__)
            return
        await self._queue.delivered(row.notice_id)
        log.info("notification_sent", channel=self.channel, notification=kind, attempts=attempts)

    async def _give_up(self, row: NoticeRow, attempts: int, now: int, error: str) -> None:
        await self._queue.give_up(row.notice_id, attempts, now, error)
        log.error(
            "notification_given_up",
            channel=self.channel,
            notification=event_type(row.event),
            attempts=attempts,
            error=error,
        )


# --- what partners send ------------------------------------------------------------------------------


class Roster(Protocol):
    """Who is told (``focalpoint.node.accounts.Accounts``)."""

    async def on_call(self) -> list[str]: ...

    async def operators(self) -> list[str]: ...

    async def officers(self, unit: str | None) -> list[str]: ...

    async def assigned(self, link_id: str) -> frozenset[str]: ...


Spawn = Callable[[Coroutine[Any, Any, object]], None]


async def on_call_or_operators(roster: Roster) -> list[str]:
    """The 24/7 on-call list; when nobody is on it, the operators (and a warning: someone must be)."""
    users = await roster.on_call()
    if users:
        return sorted(users)
    log.warning("nobody_on_call", action="mark someone on call: focalpoint user on-call USER --on")
    return sorted(await roster.operators())


async def link_assignees(roster: Roster, link: LinkRow) -> list[str]:
    """Who works ``link``: its assigned officers, else its unit's officers, else the operators."""
    assigned = await roster.assigned(link.link_id)
    if assigned:
        return sorted(assigned)
    if link.unit and (officers := await roster.officers(link.unit)):
        return sorted(officers)
    return sorted(await roster.operators())


class CaseAlerts:
    """Tells people of what a partner sent, once applied to its link (``CaseWork.on_received``):
    an emergency protection alert reaches every on-call user at once ("emergency:alert"); a
    request with a deadline for us reaches the link's assignees, else its unit's officers, else the
    operators ("request:new")."""

    def __init__(self, *, roster: Roster, notifier: Notifier) -> None:
        self._roster = roster
        self._notifier = notifier

    async def received(self, link: LinkRow, event: Event) -> None:
        if event.origin is not Origin.RECEIVED:
            return
        if event.kind == "protection_alert" and event.facts.emergency:
            await self._notifier.notify(
                await on_call_or_operators(self._roster), EMERGENCY_ALERT, case_ref=link.case_ref
            )
        elif event.kind in TRACKED_KINDS:
            await self._notifier.notify(await link_assignees(self._roster, link), NEW_REQUEST, case_ref=link.case_ref)
