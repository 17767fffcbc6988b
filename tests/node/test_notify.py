"""The durable queue's notifier and sender over the node's real accounts (in memory): who gets an
e-mail row (preferences, duty, no address, disabled), which webhooks take an event, the sender's
background loop woken by a new row, the on-call list's fallback."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import structlog

from focalpoint.errors import TransportError
from focalpoint.node.accounts import Accounts
from focalpoint.node.notify import (
    CapturingNotifier,
    NotificationSender,
    QueuedNotifier,
    RetryPolicy,
    WebhookRoute,
    on_call_or_operators,
)
from focalpoint.people.roles import Grant, Role
from focalpoint.storage.base import AccountWrite, ContactRow, UserRow
from focalpoint.storage.cipher import StorageCipher
from focalpoint.storage.memory import MemoryStore
from tests.node.test_accounts import FAST

NOW = 1_800_000_000_000


@pytest.fixture
async def accounts() -> AsyncIterator[tuple[MemoryStore, Accounts]]:
    store = MemoryStore()
    accounts = Accounts(
        store=store,
        cipher=StorageCipher(os.urandom(32)),
        clock_ms=lambda: NOW,
        issuer="gr-ekka",
        notifier=CapturingNotifier(),
        hashing=FAST,
    )
    users = [
        UserRow("co.quiet", "unit-a", frozenset({Role.CASE_OFFICER})),
        UserRow("co.sup", "unit-a", frozenset({Role.CASE_OFFICER}), frozenset({Grant.APPROVE})),
        UserRow("op.1", "unit-a", frozenset({Role.OPERATOR})),
        UserRow("co.gone", "unit-a", frozenset({Role.CASE_OFFICER}), disabled=True),
        UserRow("co.noaddr", "unit-a", frozenset({Role.CASE_OFFICER})),
    ]
    off = frozenset({"deadlines", "security", "emergency"})
    contacts = [
        ContactRow("co.quiet", "quiet@example.org", "fr", off),
        ContactRow("co.sup", "sup@example.org", "en", off),  # security: a supervisor's duty
        ContactRow("op.1", "op@example.org", "ar", off),
        ContactRow("co.gone", "gone@example.org", "en", frozenset(), on_call=True),
        ContactRow("co.noaddr", "", "en", frozenset(), on_call=True),
    ]
    await store.accounts.apply(AccountWrite(users=users, contacts=contacts))
    yield store, accounts
    await accounts.close()


def _notifier(store: MemoryStore, accounts: Accounts, woken: list[str] | None = None) -> QueuedNotifier:
    return QueuedNotifier(
        queue=store.notifications,
        people=accounts,
        clock_ms=lambda: NOW,
        email=True,
        webhooks=[WebhookRoute("https://a.example/h"), WebhookRoute("https://b.example/h", frozenset({"security"}))],
        wake=(woken if woken is not None else []).append,
    )


async def _queued(store: MemoryStore, event: str) -> list[tuple[str, str]]:
    return sorted((r.channel, r.destination) for r in await store.notifications.rows() if r.event == event)


EVERYONE = ["co.quiet", "co.sup", "op.1", "co.gone", "co.noaddr", "nobody"]


async def test_preferences_and_duty_decide_who_gets_an_email(accounts: tuple[MemoryStore, Accounts]) -> None:
    store, acc = accounts
    woken: list[str] = []
    notifier = _notifier(store, acc, woken)
    await notifier.notify(EVERYONE, "deadline:75%", case_ref="")
    await notifier.notify(EVERYONE, "anomaly:bulk_reads")
    await notifier.notify(EVERYONE, "emergency:alert")
    await notifier.notify(EVERYONE, "request:new")
    assert await _queued(store, "deadline:75%") == [("webhook", "https://a.example/h")]  # all turned it off
    assert await _queued(store, "anomaly:bulk_reads") == [
        ("email", "co.sup"),  # supervisors and operators are always told of security events
        ("email", "op.1"),
        ("webhook", "https://a.example/h"),
        ("webhook", "https://b.example/h"),
    ]
    assert await _queued(store, "emergency:alert") == [("email", "op.1"), ("webhook", "https://a.example/h")]
    assert await _queued(store, "request:new") == [
        ("email", "co.quiet"),
        ("email", "co.sup"),
        ("email", "op.1"),
        ("webhook", "https://a.example/h"),
    ]
    assert woken == ["webhook"] + ["email", "webhook"] * 3  # a sender is woken for what it has to send


async def test_the_on_call_list_leaves_out_the_disabled_and_falls_back_to_the_operators(
    accounts: tuple[MemoryStore, Accounts],
) -> None:
    store, acc = accounts
    assert await acc.on_call() == ["co.noaddr"]  # co.gone is disabled
    assert await on_call_or_operators(acc) == ["co.noaddr"]
    await store.accounts.apply(AccountWrite(contacts=[ContactRow("co.noaddr")]))
    with structlog.testing.capture_logs() as logs:
        assert await on_call_or_operators(acc) == ["op.1"]
    assert [e["event"] for e in logs] == ["nobody_on_call"]


@dataclass
class Flaky:
    """A channel that fails ``failures`` times, then delivers."""

    failures: int = 1
    sent: list[str] = field(default_factory=list)
    delivered: asyncio.Event = field(default_factory=asyncio.Event)
    name: str = "webhook"

    async def send(self, notice_id: str, destination: str, event: str, case_ref: str, created_ms: int) -> None:
        self.sent.append(notice_id)
        if self.failures:
            self.failures -= 1
            raise TransportError("down")
        self.delivered.set()


async def test_the_senders_loop_is_woken_by_a_new_row_and_retries_on_time(
    accounts: tuple[MemoryStore, Accounts],
) -> None:
    store, acc = accounts
    now = [NOW]
    channel = Flaky()
    sender = NotificationSender(
        queue=store.notifications, channel=channel, clock_ms=lambda: now[0], retry=RetryPolicy(initial_s=0.05)
    )
    notifier = QueuedNotifier(
        queue=store.notifications,
        people=acc,
        clock_ms=lambda: now[0],
        email=False,
        webhooks=[WebhookRoute("https://a.example/h")],
        wake=lambda channel: sender.wake(),
    )
    task = asyncio.get_running_loop().create_task(sender.run())
    try:
        await asyncio.sleep(0.01)  # the loop waits: nothing is queued
        assert channel.sent == []
        await notifier.notify([], "break_glass")

        async def move_clock() -> None:
            while not channel.delivered.is_set():
                now[0] += 10
                await asyncio.sleep(0.005)

        await asyncio.wait_for(asyncio.gather(channel.delivered.wait(), move_clock()), 5)
        assert len(channel.sent) == 2
        assert channel.sent[0] == channel.sent[1]  # the same id on the retry
        for _ in range(100):
            if not await store.notifications.rows():
                break
            await asyncio.sleep(0.01)
        assert await store.notifications.rows() == []
    finally:
        task.cancel()
