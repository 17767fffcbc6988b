"""The durable notification queue and the users' contacts, on both backends (the contract suite)."""

from __future__ import annotations

from pathlib import Path

from focalpoint.storage.base import AccountWrite, ContactRow, NewNotice, Store
from focalpoint.storage.sqlite import SqliteStore


def _notice(n: int, channel: str = "email", at: int = 1_000) -> NewNotice:
    return NewNotice(f"msg_{n:04d}", channel, f"u-{n}", "break_glass", "", at + n)


async def test_rows_are_due_in_order_and_leave_the_queue_once_delivered(store: Store) -> None:
    q = store.notifications
    await q.enqueue([_notice(2), _notice(1), _notice(3, "webhook")])
    await q.enqueue([_notice(1)])  # the same id again: ignored
    assert [r.notice_id for r in await q.due("email", 10_000, 10)] == ["msg_0001", "msg_0002"]
    assert await q.due("email", 1_000, 10) == []  # not due yet
    assert await q.next_due_ms("email") == 1_001
    await q.retry("msg_0001", 1, 5_000, "TransportError")
    assert [r.notice_id for r in await q.due("email", 4_999, 10)] == ["msg_0002"]
    (row,) = [r for r in await q.rows("email") if r.notice_id == "msg_0001"]
    assert (row.attempts, row.next_attempt_ms, row.last_error_class, row.given_up_ms) == (1, 5_000, "TransportError", 0)
    await q.delivered("msg_0002")
    await q.give_up("msg_0001", 2, 6_000, "UsageError")
    assert await q.due("email", 1 << 40, 10) == []
    assert await q.next_due_ms("email") is None
    assert await q.counts() == {"email": (0, 1), "webhook": (1, 0)}
    assert [r.notice_id for r in await q.rows()] == ["msg_0001", "msg_0003"]


async def test_contacts_are_written_with_an_account_change_and_replaced(store: Store) -> None:
    accounts = store.accounts
    assert await accounts.contact("u-ann") is None
    first = ContactRow("u-ann", "ann@example.org", "fr", frozenset({"deadlines"}), False, 5)
    await accounts.apply(AccountWrite(contacts=[first]))
    assert await accounts.contact("u-ann") == first
    second = ContactRow("u-ann", "", "ar", frozenset(), True, 6)
    await accounts.apply(AccountWrite(contacts=[second, ContactRow("u-bob")]))
    assert await accounts.contacts() == [second, ContactRow("u-bob")]


async def test_the_queue_survives_closing_the_database(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite"
    store = await SqliteStore.open(path)
    await store.notifications.enqueue([_notice(1)])
    await store.close()
    store = await SqliteStore.open(path)
    try:
        assert [r.notice_id for r in await store.notifications.due("email", 10_000, 10)] == ["msg_0001"]
    finally:
        await store.close()
