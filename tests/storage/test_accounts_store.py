"""The account store's contract (``focalpoint.storage.base.AccountStore``): every test taking
``store`` runs on SQLite and in memory. A user row is written only from the version it was read
at; ``apply`` writes everything with its audit leaves or nothing; sessions, pending changes,
break-glass windows, restrictions and assignments come back as written."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from focalpoint.audit import events as audit_events
from focalpoint.errors import Conflict, StorageError
from focalpoint.people.roles import Grant, Role
from focalpoint.storage.base import (
    AccountWrite,
    BreakGlassRow,
    PendingRow,
    Restriction,
    SessionRow,
    Store,
    UserRow,
)
from focalpoint.storage.memory import MemoryStore
from tests.storage.conftest import open_store


def user(user_id: str = "u-1", **changes: object) -> UserRow:
    row = UserRow(
        user_id=user_id,
        unit="unit-a",
        roles=frozenset({Role.CASE_OFFICER}),
        grants=frozenset({Grant.APPROVE}),
        created_ms=1_000,
        updated_ms=1_000,
    )
    return replace(row, **changes)  # type: ignore[arg-type]


def leaf(subject: str, what: str) -> tuple[bytes, str]:
    return audit_events.account_changed(at_ms=1_000, actor="op-1", subject=subject, what=what), ""


def token(n: int) -> bytes:
    return hashlib.sha256(b"token-%d" % n).digest()


async def whats(store: Store) -> list[str]:
    return [audit_events.decode(leaf).status for _, leaf in reversed(await store.audit.events(1000, 0))]


async def test_a_new_user_is_stored_at_version_one_with_its_event(store: Store) -> None:
    first = await store.accounts.apply(AccountWrite(users=[user()], leaves=[leaf("u-1", "added")]))
    got = await store.accounts.user("u-1")
    assert got == replace(user(), version=1)
    assert (first, store.audit.size, await whats(store)) == (0, 1, ["added"])


async def test_every_column_comes_back_as_written(store: Store) -> None:
    full = user(
        "consul-1",
        roles=frozenset({Role.CONSULAR_OFFICER}),
        grants=frozenset(),
        consular_state="AL",
        district=frozenset({"GR", "IT"}),
        disabled=True,
        password_hash="$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        totp_seed=b"\x00sealed\xff",
        totp_last_step=57_000_123,
        recovery_hashes=(b"a" * 32, b"b" * 32),
        failures=3,
        locked_until_ms=9_000,
        enrol_code_hash=b"c" * 32,
        enrol_expires_ms=8_000,
        enrolled=True,
        last_login_ms=7_000,
    )
    await store.accounts.apply(AccountWrite(users=[full]))
    assert await store.accounts.user("consul-1") == replace(full, version=1)
    assert await store.accounts.user_by_enrolment(b"c" * 32) == replace(full, version=1)
    assert await store.accounts.user_by_enrolment(b"") is None
    assert await store.accounts.user_by_enrolment(b"d" * 32) is None


async def test_a_user_row_is_written_only_from_the_version_it_was_read_at(store: Store) -> None:
    await store.accounts.apply(AccountWrite(users=[user()]))
    read = await store.accounts.user("u-1")
    assert read is not None
    await store.accounts.apply(AccountWrite(users=[replace(read, failures=1)]))
    with pytest.raises(Conflict, match="changed by another request"):
        await store.accounts.apply(AccountWrite(users=[replace(read, failures=5)], leaves=[leaf("u-1", "x")]))
    with pytest.raises(Conflict, match="exists already"):
        await store.accounts.apply(AccountWrite(users=[user()]))
    now = await store.accounts.user("u-1")
    assert now is not None
    assert (now.failures, now.version, store.audit.size) == (1, 2, 0)


async def test_a_failed_write_changes_nothing(store: Store) -> None:
    await store.accounts.apply(AccountWrite(users=[user("u-2")]))
    bad = AccountWrite(
        users=[user("u-1"), user("u-2")],  # the second exists: the whole write fails
        sessions=[SessionRow(token(1), "u-1", 1, 1)],
        restrictions=[Restriction("link-1", frozenset({"u-1"}), "op-1", 1)],
        leaves=[leaf("u-1", "added")],
    )
    with pytest.raises(Conflict):
        await store.accounts.apply(bad)
    assert await store.accounts.user("u-1") is None
    assert await store.accounts.session(token(1)) is None
    assert await store.accounts.restriction("link-1") is None
    assert store.audit.size == 0


async def test_users_are_listed_by_user_id(store: Store) -> None:
    await store.accounts.apply(AccountWrite(users=[user("b"), user("c"), user("a")]))
    assert [u.user_id for u in await store.accounts.users()] == ["a", "b", "c"]


async def test_sessions_are_created_touched_and_ended_singly_or_all_of_a_user(store: Store) -> None:
    a = store.accounts
    await a.apply(AccountWrite(users=[user("u-1"), user("u-2")]))
    await a.apply(
        AccountWrite(
            sessions=[
                SessionRow(token(1), "u-1", 10, 10, "10.0.0.1"),
                SessionRow(token(2), "u-1", 20, 20),
                SessionRow(token(3), "u-2", 30, 30),
            ]
        )
    )
    assert await a.session_counts() == {"u-1": 2, "u-2": 1}
    await a.apply(AccountWrite(touch=[(token(1), 99), (token(9), 5)]))
    assert await a.session(token(1)) == SessionRow(token(1), "u-1", 10, 99, "10.0.0.1")
    with pytest.raises(Conflict, match="session"):
        await a.apply(AccountWrite(sessions=[SessionRow(token(3), "u-1", 1, 1)]))
    await a.apply(AccountWrite(end_sessions=[token(3)]))
    assert await a.session(token(3)) is None
    await a.apply(AccountWrite(end_sessions_of=["u-1"], sessions=[SessionRow(token(4), "u-1", 40, 40)]))
    assert await a.session_counts() == {"u-1": 1}
    assert await a.session(token(4)) is not None


async def test_a_pending_change_is_replaced_by_a_newer_one_and_dropped(store: Store) -> None:
    a = store.accounts
    roles = frozenset({Role.CASE_OFFICER})
    first = PendingRow("u-1", "add", "op-1", "unit-a", roles, frozenset(), "", frozenset(), 5)
    second = PendingRow(
        "u-1", "set", "op-2", "unit-a", frozenset({Role.CONSULAR_OFFICER}), frozenset(), "AL", frozenset({"GR"}), 6
    )
    other = PendingRow("u-0", "enable", "op-1", "unit-b", roles, frozenset({Grant.APPROVE}), "", frozenset(), 7)
    await a.apply(AccountWrite(pending=[first, other]))
    await a.apply(AccountWrite(pending=[second]))
    assert await a.pending() == [other, second]
    await a.apply(AccountWrite(drop_pending=["u-0"]))
    assert await a.pending() == [second]


async def test_the_last_break_glass_window_of_a_user_on_a_link_is_found(store: Store) -> None:
    a = store.accounts
    w1 = BreakGlassRow("u-1", "link-1", "OTHER", b"sealed-1", 10, 20)
    w2 = BreakGlassRow("u-1", "link-1", "COURT_ORDER", b"sealed-2", 30, 40)
    w3 = BreakGlassRow("u-1", "link-2", "OTHER", b"sealed-3", 50, 60)
    await a.apply(AccountWrite(break_glass=[w1]))
    await a.apply(AccountWrite(break_glass=[w2, w3]))
    assert await a.break_glass("u-1", "link-1") == w2
    assert await a.break_glass("u-1", "link-2") == w3
    assert await a.break_glass("u-2", "link-1") is None


async def test_restrictions_are_set_replaced_and_lifted(store: Store) -> None:
    a = store.accounts
    assert await a.restriction("link-1") is None
    await a.apply(AccountWrite(restrictions=[Restriction("link-1", frozenset({"u-1", "u-2"}), "op-1", 5)]))
    assert await a.restriction("link-1") == frozenset({"u-1", "u-2"})
    await a.apply(AccountWrite(restrictions=[Restriction("link-1", frozenset({"u-3"}), "op-1", 6)]))
    assert await a.restriction("link-1") == frozenset({"u-3"})
    await a.apply(AccountWrite(restrictions=[Restriction("link-1", None, "op-1", 7)]))
    assert await a.restriction("link-1") is None


async def test_a_links_assignment_is_replaced_whole(store: Store) -> None:
    a = store.accounts
    assert await a.assigned("link-1") == frozenset()
    await a.apply(AccountWrite(assignments=[("link-1", frozenset({"u-1", "u-2"})), ("link-2", frozenset({"u-9"}))]))
    await a.apply(AccountWrite(assignments=[("link-1", frozenset({"u-3"}))]))
    assert (await a.assigned("link-1"), await a.assigned("link-2")) == (frozenset({"u-3"}), frozenset({"u-9"}))
    await a.apply(AccountWrite(assignments=[("link-1", frozenset())]))
    assert await a.assigned("link-1") == frozenset()


async def test_an_empty_write_opens_no_transaction(store: Store) -> None:
    assert await store.accounts.apply(AccountWrite()) == 0


async def test_leaves_given_a_case_reference_are_indexed_under_it(store: Store) -> None:
    leaf_ = audit_events.break_glass(at_ms=1, actor="u-1", case_ref="GR-CASE", reason_code="OTHER", until_ms=9)
    window = BreakGlassRow("u-1", "link-1", "OTHER", b"s", 1, 9)
    assert await store.accounts.apply(AccountWrite(break_glass=[window], leaves=[(leaf_, "GR-CASE")])) == 0
    assert await store.audit.case_indices("GR-CASE") == [0]


async def test_accounts_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite"
    store = await open_store("sqlite", path)
    await store.accounts.apply(
        AccountWrite(users=[user()], sessions=[SessionRow(token(1), "u-1", 1, 1)], leaves=[leaf("u-1", "added")])
    )
    await store.close()
    store = await open_store("sqlite", path)
    try:
        assert await store.accounts.user("u-1") == replace(user(), version=1)
        assert await store.accounts.session_counts() == {"u-1": 1}
    finally:
        await store.close()


async def test_the_memory_store_rolls_back_an_account_write_on_a_simulated_disk_failure() -> None:
    store = MemoryStore()
    store.fail_next_writes(1)
    with pytest.raises(StorageError):
        await store.accounts.apply(AccountWrite(users=[user()], leaves=[leaf("u-1", "added")]))
    assert (await store.accounts.user("u-1"), store.audit.size) == (None, 0)
