"""The account service (``focalpoint.node.accounts``): bootstrap, enrolment, login with a password
and a second factor (TOTP, refused when replayed; recovery codes, each once), lockout and the
per-source limit, session timeouts, two-operator changes and separation of duties, break-glass
with supervisors told at once, and the audit log: every step leaves its event, no event holds a
secret. Hashing runs on one worker thread: concurrent logins complete and the loop keeps ticking.

Time is a ``FakeClock`` moved by hand; hashing uses RFC 9106's floor (fast enough for tests)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
import pytest
import structlog

from focalpoint.audit import events as audit_events
from focalpoint.errors import NotFound, PermissionDenied, PreconditionFailed, Unauthenticated, UsageError
from focalpoint.node.accounts import (
    LOGIN_FAILED,
    SESSION_ENDED,
    AccountPolicy,
    Accounts,
    Enrolment,
    HashParams,
    RoleChange,
    SecondFactor,
    Session,
)
from focalpoint.node.notify import CapturingNotifier, LogNotifier, Notification
from focalpoint.people.roles import Account, Grant, Role
from focalpoint.storage.base import Store
from focalpoint.storage.cipher import StorageCipher
from focalpoint.storage.memory import MemoryStore
from tests.node.conftest import FakeClock
from tests.storage.conftest import open_store

FAST = HashParams(time_cost=2, memory_kib=19456, parallelism=1)
PASSWORD = "correct horse battery staple 7"
FP = "fp-gr"  # the operators' unit
UNIT = "unit-a"
MINUTE = 60.0
Kind = audit_events.Kind


@dataclass
class Desk:
    """The service over a store, a fake clock and a capturing notifier; ``handed_out`` keeps every
    secret the tests were given, so the log can be searched for them."""

    accounts: Accounts
    store: Store
    clock: FakeClock
    notifier: CapturingNotifier
    handed_out: list[str] = field(default_factory=list)

    async def enrol(self, enrolment: Enrolment, password: str = PASSWORD) -> SecondFactor:
        self.handed_out += [enrolment.code, password]
        factor = await self.accounts.begin_enrolment(enrolment.code, password)
        self.handed_out += [factor.secret_b32, *factor.recovery_codes]
        await self.accounts.finish_enrolment(enrolment.code, self.code(factor))
        return factor

    def code(self, factor: SecondFactor) -> str:
        return pyotp.TOTP(factor.secret_b32).at(self.clock() // 1000)

    async def login(
        self, user_id: str, factor: SecondFactor, *, password: str = PASSWORD, source: str = "10.0.0.1"
    ) -> Session:
        """Log in with the next time-step's code (the current one may have been used)."""
        self.clock.advance(30)
        session = await self.accounts.login(user_id, password, self.code(factor), source=source)
        self.handed_out.append(session.token)
        return session

    async def events(self) -> list[tuple[int, str, str, str]]:
        """(kind, actor, subject, status) of every leaf, oldest first."""
        out: list[tuple[int, str, str, str]] = []
        for _, leaf in reversed(await self.store.audit.events(10_000, 0)):
            e = audit_events.decode(leaf)
            out.append((int(e.kind), e.actor, e.subject, e.status))
        return out

    async def statuses(self, kind: int) -> list[str]:
        return [status for k, _, _, status in await self.events() if k == kind]

    async def no_secret_in_the_log(self) -> None:
        leaves = [leaf for _, leaf in await self.store.audit.events(10_000, 0)]
        for secret in self.handed_out:
            assert not any(secret.encode() in leaf for leaf in leaves), "a secret reached the audit log"


@dataclass
class Team:
    """Two enrolled operators and their second factors."""

    op1: Account
    op2: Account
    f1: SecondFactor
    f2: SecondFactor


async def make_desk(store: Store, **policy: int) -> Desk:
    clock = FakeClock(1_750_000_000_000)
    notifier = CapturingNotifier()
    accounts = Accounts(
        store=store,
        cipher=StorageCipher(os.urandom(32)),
        clock_ms=clock,
        issuer="gr-ekka",
        notifier=notifier,
        hashing=FAST,
        policy=AccountPolicy(**policy),
    )
    return Desk(accounts, store, clock, notifier)


@pytest.fixture
async def desk() -> AsyncIterator[Desk]:
    d = await make_desk(MemoryStore())
    yield d
    await d.accounts.close()


async def two_operators(desk: Desk) -> Team:
    a = desk.accounts
    f1 = await desk.enrol(await a.add_first_operator("op-1", FP))
    op1 = (await a.show_user("op-1")).account
    added = await a.add_user(op1, "op-2", FP, frozenset({Role.OPERATOR}))
    assert isinstance(added, Enrolment)  # bootstrap: one operator, applied at once
    f2 = await desk.enrol(added)
    return Team(op1, (await a.show_user("op-2")).account, f1, f2)


async def officer(
    desk: Desk, team: Team, user_id: str, *, unit: str = UNIT, grants: frozenset[Grant] = frozenset()
) -> SecondFactor:
    """A case officer added by op-1, confirmed by op-2, enrolled."""
    proposed = await desk.accounts.add_user(team.op1, user_id, unit, frozenset({Role.CASE_OFFICER}), grants)
    assert proposed == RoleChange(False, user_id)
    enrolment = await desk.accounts.confirm_change(team.op2, user_id)
    assert isinstance(enrolment, Enrolment)
    return await desk.enrol(enrolment)


# --- bootstrap, enrolment, login ------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "memory"])
async def test_first_operator_enrols_logs_in_and_is_authenticated(tmp_path: Path, backend: str) -> None:
    desk = await make_desk(await open_store(backend, tmp_path / "node.sqlite"))
    try:
        a = desk.accounts
        enrolment = await a.add_first_operator("op-1", FP)
        assert enrolment.expires_ms == desk.clock() + 72 * 3_600_000
        assert len(enrolment.code) == 20
        factor = await desk.enrol(enrolment)
        assert factor.otpauth_uri.startswith("otpauth://totp/gr-ekka:op-1?secret=")
        assert len(factor.recovery_codes) == 10
        assert all(len(c) == 11 and c[5] == "-" for c in factor.recovery_codes)
        session = await desk.login("op-1", factor)
        assert session.account.roles == frozenset({Role.OPERATOR})
        assert (session.idle_until_ms, session.expires_ms) == (
            desk.clock() + 30 * 60_000,
            desk.clock() + 12 * 3_600_000,
        )
        assert await a.authenticate(session.token) == session.account
        info = await a.show_user("op-1")
        assert (info.enrolled, info.sessions, info.last_login_ms) == (True, 1, desk.clock())
        assert await desk.events() == [
            (Kind.AUDIT_EVENT_KIND_ACCOUNT_CHANGED, "node", "op-1", "added (bootstrap)"),
            (Kind.AUDIT_EVENT_KIND_ACCOUNT_CHANGED, "op-1", "op-1", "enrolment begun"),
            (Kind.AUDIT_EVENT_KIND_ACCOUNT_CHANGED, "op-1", "op-1", "enrolled"),
            (Kind.AUDIT_EVENT_KIND_LOGIN, "op-1", "", "totp"),
        ]
        await desk.no_secret_in_the_log()
    finally:
        await desk.accounts.close()
        await desk.store.close()


async def test_the_machine_bootstrap_is_refused_once_an_operator_has_enrolled(desk: Desk) -> None:
    a = desk.accounts
    lost = await a.add_first_operator("op-1", FP)
    again = await a.add_first_operator("op-1", FP)  # a lost code: a new one, the old one dead
    with pytest.raises(Unauthenticated, match="enrolment code is unknown"):
        await a.begin_enrolment(lost.code, PASSWORD)
    await desk.enrol(again)
    with pytest.raises(PreconditionFailed, match="enrolled operator"):
        await a.add_first_operator("op-9", FP)
    with pytest.raises(Unauthenticated, match="enrolment code is unknown"):
        await a.begin_enrolment(again.code, PASSWORD)  # spent
    assert "enrolment code reissued (bootstrap)" in await desk.statuses(Kind.AUDIT_EVENT_KIND_ACCOUNT_CHANGED)


async def test_an_enrolment_code_expires_and_a_weak_password_is_refused(desk: Desk) -> None:
    a = desk.accounts
    enrolment = await a.add_first_operator("op-1", FP)
    with pytest.raises(UsageError, match="at least 12 characters"):
        await a.begin_enrolment(enrolment.code, "short")
    with pytest.raises(UsageError, match="must not contain the user id"):
        await a.begin_enrolment(enrolment.code, "my name is OP-1 really")
    with pytest.raises(PreconditionFailed, match="set a password first"):
        await a.finish_enrolment(enrolment.code, "123456")
    factor = await a.begin_enrolment(enrolment.code, PASSWORD)
    with pytest.raises(UsageError, match="authenticator's code is wrong"):
        await a.finish_enrolment(enrolment.code, "000000" if desk.code(factor) != "000000" else "111111")
    desk.clock.advance(72 * 3600)
    with pytest.raises(Unauthenticated, match="expired"):
        await a.finish_enrolment(enrolment.code, desk.code(factor))


async def test_every_failed_login_says_the_same_and_the_log_says_which_step_failed(desk: Desk) -> None:
    team = await two_operators(desk)
    a = desk.accounts
    desk.clock.advance(30)
    good = desk.code(team.f1)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    attempts = [
        ("nobody", PASSWORD, good),
        ("op-1", "not the password at all", good),
        ("op-1", PASSWORD, wrong),
        ("op-1", PASSWORD, "AAAAA-AAAAA"),
        ("not a user id!", PASSWORD, good),
    ]
    for user_id, password, code in attempts:
        with pytest.raises(Unauthenticated) as refused:
            await a.login(user_id, password, code, source="10.0.0.1")
        assert str(refused.value) == LOGIN_FAILED
    assert await desk.statuses(Kind.AUDIT_EVENT_KIND_LOGIN_FAILED) == [
        "unknown_user",
        "password",
        "second_factor",
        "second_factor",
        "unknown_user",
    ]
    session = await a.login("op-1", PASSWORD, good, source="10.0.0.1")
    desk.handed_out.append(session.token)
    assert (await a.show_user("op-1")).locked_until_ms == 0
    await desk.no_secret_in_the_log()


async def test_a_totp_code_is_accepted_once(desk: Desk) -> None:
    team = await two_operators(desk)
    desk.clock.advance(30)
    code = desk.code(team.f1)
    await desk.accounts.login("op-1", PASSWORD, code, source="10.0.0.1")
    with pytest.raises(Unauthenticated):
        await desk.accounts.login("op-1", PASSWORD, code, source="10.0.0.1")
    desk.clock.advance(20)  # the next step, within one step of drift: still the same code
    with pytest.raises(Unauthenticated):
        await desk.accounts.login("op-1", PASSWORD, code, source="10.0.0.1")
    assert (await desk.statuses(Kind.AUDIT_EVENT_KIND_LOGIN_FAILED))[-2:] == ["replayed_code", "replayed_code"]
    await desk.login("op-1", team.f1)


async def test_a_recovery_code_logs_in_once(desk: Desk) -> None:
    team = await two_operators(desk)
    code = team.f1.recovery_codes[3]
    typed = code.lower().replace("0", "o").replace("-", " ")  # as a person may type it
    session = await desk.accounts.login("op-1", PASSWORD, typed, source="10.0.0.1")
    assert session.account.user_id == "op-1"
    with pytest.raises(Unauthenticated):
        await desk.accounts.login("op-1", PASSWORD, code, source="10.0.0.1")
    assert (await desk.statuses(Kind.AUDIT_EVENT_KIND_LOGIN))[-1] == "recovery_code"
    assert (await desk.statuses(Kind.AUDIT_EVENT_KIND_LOGIN_FAILED))[-1] == "second_factor"
    await desk.accounts.login("op-1", PASSWORD, team.f1.recovery_codes[4], source="10.0.0.1")


async def test_six_failures_lock_the_account_for_thirty_minutes(desk: Desk) -> None:
    team = await two_operators(desk)
    a = desk.accounts
    for _ in range(6):
        with pytest.raises(Unauthenticated):
            await a.login("op-1", "a wrong password!", "123456", source="10.0.0.2")
    locked_until = (await a.show_user("op-1")).locked_until_ms
    assert locked_until == desk.clock() + 30 * 60_000
    with pytest.raises(Unauthenticated, match="locked"):
        await desk.login("op-1", team.f1)  # the right credentials, refused while locked
    assert (await desk.statuses(Kind.AUDIT_EVENT_KIND_LOGIN_FAILED))[-1] == "locked"
    desk.clock.advance(30 * MINUTE)
    await desk.login("op-1", team.f1)
    assert (await a.show_user("op-1")).locked_until_ms == 0


async def test_a_source_over_its_budget_is_refused_without_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    desk = await make_desk(MemoryStore(), max_failures=1000)
    try:
        team = await two_operators(desk)
        a = desk.accounts
        hashed = 0
        verify = a._verify

        async def counting(stored: str, password: str) -> bool:
            nonlocal hashed
            hashed += 1
            return await verify(stored, password)

        monkeypatch.setattr(a, "_verify", counting)
        for _ in range(20):
            with pytest.raises(Unauthenticated):
                await a.login("op-1", "guess guess guess", "123456", source="203.0.113.9")
        assert hashed == 20
        for _ in range(3):
            with pytest.raises(Unauthenticated) as refused:
                await a.login("op-1", PASSWORD, desk.code(team.f1), source="203.0.113.9")
            assert str(refused.value) == LOGIN_FAILED
        assert hashed == 20
        assert (await desk.statuses(Kind.AUDIT_EVENT_KIND_LOGIN_FAILED)).count("rate_limited") == 1  # once a minute
        await desk.login("op-1", team.f1, source="198.51.100.1")  # another source is not held up
        desk.clock.advance(MINUTE)
        await desk.login("op-1", team.f1, source="203.0.113.9")
    finally:
        await desk.accounts.close()


# --- sessions ------------------------------------------------------------------------------


async def test_an_idle_session_ends_and_an_active_one_ends_at_twelve_hours(desk: Desk) -> None:
    team = await two_operators(desk)
    a = desk.accounts
    idle = await desk.login("op-1", team.f1)
    active = await desk.login("op-1", team.f1)
    began = desk.clock()
    desk.clock.advance(29 * MINUTE)
    await a.authenticate(active.token)
    desk.clock.advance(2 * MINUTE)  # idle for 31 minutes
    with pytest.raises(Unauthenticated) as ended:
        await a.authenticate(idle.token)
    assert str(ended.value) == SESSION_ENDED
    while desk.clock() + 20 * 60_000 < began + 12 * 3_600_000:  # used every 20 minutes
        desk.clock.advance(20 * MINUTE)
        await a.authenticate(active.token)
    desk.clock.now_ms = began + 12 * 3_600_000  # 12 hours after it began, less than 20 minutes idle
    with pytest.raises(Unauthenticated, match="expired"):
        await a.authenticate(active.token)
    assert await desk.statuses(Kind.AUDIT_EVENT_KIND_LOGOUT) == ["idle timeout", "session expired"]
    assert (await a.show_user("op-1")).sessions == 0


async def test_last_seen_is_written_at_most_once_a_minute(desk: Desk) -> None:
    team = await two_operators(desk)
    assert isinstance(desk.store, MemoryStore)
    session = await desk.login("op-1", team.f1)
    commits = desk.store.commits
    for _ in range(10):
        await desk.accounts.authenticate(session.token)
        desk.clock.advance(5)
    assert desk.store.commits == commits
    desk.clock.advance(MINUTE)
    await desk.accounts.authenticate(session.token)
    assert desk.store.commits == commits + 1


async def test_logout_ends_the_session(desk: Desk) -> None:
    team = await two_operators(desk)
    session = await desk.login("op-1", team.f1)
    await desk.accounts.logout(session.token)
    with pytest.raises(Unauthenticated):
        await desk.accounts.authenticate(session.token)
    with pytest.raises(Unauthenticated):
        await desk.accounts.logout(session.token)
    assert await desk.statuses(Kind.AUDIT_EVENT_KIND_LOGOUT) == ["logout"]


async def test_a_disabled_users_session_is_refused_and_they_cannot_log_in(desk: Desk) -> None:
    team = await two_operators(desk)
    f = await officer(desk, team, "co-1")
    session = await desk.login("co-1", f)
    await desk.accounts.disable(team.op2, "co-1")
    with pytest.raises(Unauthenticated):
        await desk.accounts.authenticate(session.token)
    with pytest.raises(Unauthenticated):
        await desk.login("co-1", f)
    assert (await desk.statuses(Kind.AUDIT_EVENT_KIND_LOGIN_FAILED))[-1] == "disabled"
    assert (await desk.accounts.show_user("co-1")).account.disabled


# --- changes by two operators ---------------------------------------------------------------


async def test_a_role_change_waits_for_a_second_operator_and_ends_the_users_sessions(desk: Desk) -> None:
    team = await two_operators(desk)
    a = desk.accounts
    f = await officer(desk, team, "co-1")
    session = await desk.login("co-1", f)
    change = await a.set_roles(team.op1, "co-1", frozenset({Role.CASE_OFFICER}), frozenset({Grant.APPROVE}))
    assert change == RoleChange(False, "co-1")
    assert (await a.show_user("co-1")).pending_change
    assert await a.authenticate(session.token)  # nothing applied yet
    with pytest.raises(PermissionDenied, match="proposed a change cannot confirm it"):
        await a.confirm_change(team.op1, "co-1")
    assert await a.confirm_change(team.op2, "co-1") == RoleChange(True, "co-1")
    info = await a.show_user("co-1")
    assert (info.account.grants, info.pending_change, info.sessions) == (frozenset({Grant.APPROVE}), False, 0)
    with pytest.raises(Unauthenticated):
        await a.authenticate(session.token)
    with pytest.raises(NotFound):
        await a.confirm_change(team.op2, "co-1")
    whats = await desk.statuses(Kind.AUDIT_EVENT_KIND_ACCOUNT_CHANGED)
    assert whats[-3:] == ["change proposed", "change confirmed", "roles set"]


async def test_bootstrap_changes_apply_at_once_and_are_audited_as_such(desk: Desk) -> None:
    a = desk.accounts
    await desk.enrol(await a.add_first_operator("op-1", FP))
    op1 = (await a.show_user("op-1")).account
    enrolment = await a.add_user(op1, "co-1", UNIT, frozenset({Role.CASE_OFFICER}))
    assert isinstance(enrolment, Enrolment)
    assert await a.set_roles(op1, "co-1", frozenset({Role.AUDITOR}), frozenset()) == RoleChange(True, "co-1")
    whats = await desk.statuses(Kind.AUDIT_EVENT_KIND_ACCOUNT_CHANGED)
    assert whats[-2:] == ["added (bootstrap)", "roles set (bootstrap)"]


async def test_separation_of_duties_is_refused_with_every_problem_named(desk: Desk) -> None:
    team = await two_operators(desk)
    with pytest.raises(UsageError) as refused:
        await desk.accounts.add_user(
            team.op1, "mixed", UNIT, frozenset({Role.CASE_OFFICER, Role.OPERATOR, Role.AUDITOR}), frozenset()
        )
    message = str(refused.value)
    assert "no account is both case officer and focal-point operator" in message
    assert "no account is both auditor and case officer" in message
    with pytest.raises(UsageError, match="override grant needs the approve grant"):
        await desk.accounts.add_user(
            team.op1, "co-2", UNIT, frozenset({Role.CASE_OFFICER}), frozenset({Grant.OVERRIDE})
        )
    assert await desk.accounts.list_users() == [await desk.accounts.show_user(u) for u in ("op-1", "op-2")]


async def test_operators_cannot_change_their_own_account(desk: Desk) -> None:
    team = await two_operators(desk)
    a = desk.accounts
    with pytest.raises(PermissionDenied, match="own roles"):
        await a.set_roles(team.op1, "op-1", frozenset({Role.AUDITOR}), frozenset())
    with pytest.raises(PermissionDenied, match="own account"):
        await a.disable(team.op1, "op-1")
    with pytest.raises(PermissionDenied, match="own second factor"):
        await a.reset_second_factor(team.op1, "op-1")
    f = await officer(desk, team, "co-1")
    co = (await desk.login("co-1", f)).account
    with pytest.raises(PermissionDenied, match="enabled focal-point operators"):
        await a.disable(co, "op-1")


async def test_the_last_enabled_operator_cannot_be_disabled(desk: Desk) -> None:
    """Disabling is one operator's act on another; once one operator is left, nobody who may act
    can disable them, and a role change taking their role would need them to confirm it."""
    team = await two_operators(desk)
    a = desk.accounts
    await a.disable(team.op1, "op-2")
    with pytest.raises(PermissionDenied, match="own account"):
        await a.disable(team.op1, "op-1")
    with pytest.raises(PermissionDenied, match="enabled focal-point operators"):
        await a.disable(team.op2, "op-1")  # op-2, disabled, may no longer act
    enrolment = await a.add_user(team.op1, "op-3", FP, frozenset({Role.OPERATOR}))
    assert isinstance(enrolment, Enrolment)  # one operator: bootstrap again
    await desk.enrol(enrolment)
    op3 = (await a.show_user("op-3")).account
    assert not (await a.set_roles(op3, "op-1", frozenset({Role.AUDITOR}), frozenset())).applied
    with pytest.raises(PermissionDenied, match="own account"):
        await a.confirm_change(team.op1, "op-1")
    assert not (await a.show_user("op-1")).account.disabled


async def test_enabling_an_account_needs_a_second_operator(desk: Desk) -> None:
    team = await two_operators(desk)
    a = desk.accounts
    f = await officer(desk, team, "co-1")
    await a.disable(team.op1, "co-1")
    assert await a.enable(team.op1, "co-1") == RoleChange(False, "co-1")
    with pytest.raises(PermissionDenied):
        await a.confirm_change(team.op1, "co-1")
    assert await a.confirm_change(team.op2, "co-1") == RoleChange(True, "co-1")
    await desk.login("co-1", f)
    with pytest.raises(PreconditionFailed, match="enabled already"):
        await a.enable(team.op1, "co-1")


async def test_resetting_a_second_factor_ends_sessions_and_the_user_enrols_again(desk: Desk) -> None:
    team = await two_operators(desk)
    a = desk.accounts
    f = await officer(desk, team, "co-1")
    session = await desk.login("co-1", f)
    enrolment = await a.reset_second_factor(team.op1, "co-1")
    with pytest.raises(Unauthenticated):
        await a.authenticate(session.token)
    with pytest.raises(Unauthenticated):
        await desk.login("co-1", f)
    assert (await desk.statuses(Kind.AUDIT_EVENT_KIND_LOGIN_FAILED))[-1] == "not_enrolled"
    new_password = "a brand new passphrase 42"
    g = await desk.enrol(enrolment, new_password)
    await desk.login("co-1", g, password=new_password)
    with pytest.raises(Unauthenticated):
        await desk.accounts.login("co-1", new_password, f.recovery_codes[0], source="10.0.0.1")
    await desk.no_secret_in_the_log()


async def test_a_changed_hash_cost_rehashes_the_password_at_the_next_login(desk: Desk) -> None:
    team = await two_operators(desk)
    stronger = Accounts(
        store=desk.store,
        cipher=desk.accounts._cipher,
        clock_ms=desk.clock,
        issuer="gr-ekka",
        notifier=desk.notifier,
        hashing=HashParams(time_cost=3, memory_kib=19456, parallelism=1),
    )
    try:
        desk.clock.advance(30)
        await stronger.login("op-1", PASSWORD, desk.code(team.f1), source="10.0.0.1")
        row = await desk.store.accounts.user("op-1")
        assert row is not None
        assert "t=3" in row.password_hash
    finally:
        await stronger.close()
    await desk.login("op-1", team.f1)  # the old service still checks the new hash


def test_hash_costs_below_the_floor_are_refused() -> None:
    with pytest.raises(UsageError, match="time_cost >= 2"):
        HashParams(time_cost=1)
    with pytest.raises(UsageError, match="memory_kib >= 19456"):
        HashParams(memory_kib=4096)


# --- break-glass, restrictions, assignments -----------------------------------------------


async def test_break_glass_opens_for_four_hours_and_tells_the_owning_supervisors(desk: Desk) -> None:
    team = await two_operators(desk)
    a = desk.accounts
    await officer(desk, team, "sup-b", unit="unit-b", grants=frozenset({Grant.APPROVE}))
    await officer(desk, team, "co-b", unit="unit-b")
    f = await officer(desk, team, "co-a")
    co_a = (await desk.login("co-a", f)).account
    assert await a.supervisors("unit-b") == ["sup-b"]
    reason = "the child is at risk tonight and unit B cannot be reached"
    desk.handed_out.append(reason)
    with pytest.raises(UsageError, match="reason code is one of"):
        await a.open_break_glass(co_a, "link-1", "GR-CASE-1", "BORED", reason, owner_unit="unit-b")
    with pytest.raises(UsageError, match="20-2000 characters"):
        await a.open_break_glass(co_a, "link-1", "GR-CASE-1", "OTHER", "because", owner_unit="unit-b")
    assert not await a.break_glass_open("co-a", "link-1")
    until = await a.open_break_glass(co_a, "link-1", "GR-CASE-1", "CHILD_IN_DANGER", reason, owner_unit="unit-b")
    assert until == desk.clock() + 4 * 3_600_000
    assert desk.notifier.sent == [Notification(("sup-b",), "break_glass", "GR-CASE-1")]
    assert await a.break_glass_open("co-a", "link-1")
    assert not await a.break_glass_open("co-a", "link-2")
    assert not await a.break_glass_open("co-b", "link-1")
    assert await a.break_glass_reason("co-a", "link-1") == reason
    leaf = next(leaf for _, leaf in await desk.store.audit.events(1, 0))
    event = audit_events.decode(leaf)
    assert (event.kind, event.actor, event.case_ref, event.reason_code, event.until_ms) == (
        Kind.AUDIT_EVENT_KIND_BREAK_GLASS,
        "co-a",
        "GR-CASE-1",
        "CHILD_IN_DANGER",
        until,
    )
    assert await desk.store.audit.case_indices("GR-CASE-1") == [desk.store.audit.size - 1]
    desk.clock.advance(4 * 3600)
    assert not await a.break_glass_open("co-a", "link-1")
    await a.open_break_glass(co_a, "link-9", "GR-CASE-9", "OTHER", reason)  # no unit yet: the operators
    assert desk.notifier.sent[-1] == Notification(("op-1", "op-2"), "break_glass", "GR-CASE-9")
    await desk.no_secret_in_the_log()


async def test_restrictions_and_assignments_are_kept_and_audited(desk: Desk) -> None:
    team = await two_operators(desk)
    a = desk.accounts
    await officer(desk, team, "co-1")
    await officer(desk, team, "co-2")
    with pytest.raises(UsageError, match="1 of the named users"):
        await a.restrict(team.op1, "link-1", frozenset({"co-1", "ghost"}), case_ref="GR-CASE-1")
    with pytest.raises(UsageError, match="at least one officer"):
        await a.restrict(team.op1, "link-1", frozenset(), case_ref="GR-CASE-1")
    await a.restrict(team.op1, "link-1", frozenset({"co-1"}), case_ref="GR-CASE-1")
    assert await a.restricted_to("link-1") == frozenset({"co-1"})
    await a.assign(team.op1, "link-1", frozenset({"co-1", "co-2"}), case_ref="GR-CASE-1")
    assert await a.assigned("link-1") == frozenset({"co-1", "co-2"})
    await a.restrict(team.op1, "link-1", None, case_ref="GR-CASE-1")
    assert await a.restricted_to("link-1") is None
    assert await desk.statuses(Kind.AUDIT_EVENT_KIND_STATUS_CHANGED) == [
        "access:restricted",
        "access:assigned",
        "access:restriction lifted",
    ]
    changed = [(s, w) for k, _, s, w in await desk.events() if k == Kind.AUDIT_EVENT_KIND_ACCOUNT_CHANGED]
    assert changed[-3:] == [("co-1", "restricted"), ("co-1", "assigned"), ("co-2", "assigned")]
    assert len(await desk.store.audit.case_indices("GR-CASE-1")) == 3


# --- the worker thread -----------------------------------------------------------------------


async def test_four_logins_at_once_complete_while_the_loop_keeps_ticking(desk: Desk) -> None:
    team = await two_operators(desk)
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    logins = [
        desk.accounts.login("op-1", PASSWORD, code, source=f"10.0.0.{i}")
        for i, code in enumerate(team.f1.recovery_codes[:4])
    ]
    sessions = await asyncio.wait_for(asyncio.gather(*logins), timeout=60)
    stop.set()
    await task
    assert len({s.token for s in sessions}) == 4
    assert (await desk.accounts.show_user("op-1")).sessions == 4
    assert ticks >= 10, f"the event loop ticked {ticks} times during four logins"


async def test_the_log_notifier_writes_neither_users_nor_the_case() -> None:
    with structlog.testing.capture_logs() as logs:
        await LogNotifier().notify(["sup-b", "sup-c"], "break_glass", case_ref="GR-CASE-1")
    assert logs == [{"event": "users_notified", "notification": "break_glass", "users": 2, "log_level": "warning"}]


async def test_no_log_line_holds_a_secret_or_a_user_id(desk: Desk) -> None:
    with structlog.testing.capture_logs() as logs:
        team = await two_operators(desk)
        for _ in range(6):
            with pytest.raises(Unauthenticated):
                await desk.accounts.login("op-1", "wrong wrong wrong", "123456", source="10.0.0.1")
        desk.clock.advance(30 * MINUTE)
        await desk.login("op-1", team.f1)
    text = repr(logs)
    assert "account_locked" in text
    for secret in [*desk.handed_out, "op-1", "op-2"]:
        assert secret not in text
