"""The node's local users: who they are, how they prove it, and who changes their accounts.

Proof is a password and a second factor (docs/security.md): a TOTP code from an authenticator app
(RFC 6238, 30-second steps, one step of drift either way, a step at or before the last accepted one
refused as a replay), or one of ten single-use recovery codes. Passwords are hashed with Argon2id
(RFC 9106's second recommended option by default) on one dedicated worker thread, never on the event
loop: concurrent logins queue for it, and nothing else waits. Nothing secret is ever stored in the
clear, logged, audited or repeated in an error: passwords as Argon2id hashes, enrolment, recovery
codes and session tokens as SHA-256 digests (they are random and long, so a fast hash is enough), the
TOTP seed sealed under the storage key.

Accounts are changed by focal-point operators, two of them: adding a user, changing roles and
enabling an account are proposed by one operator and applied when a second confirms
(``confirm_change``). Only while the node has fewer than two enabled operators (its bootstrap) does
one operator's change apply at once, audited as such. Disabling an account and resetting a second
factor are safety actions: one operator, at once. Nobody changes their own account, and the last
enabled operator cannot be disabled or lose the role. The machine credential creates the first
operator (``add_first_operator``), and may issue that operator a fresh enrolment code until an
operator has enrolled; after that it is refused.

An enrolment code (72 hours, one use) starts a user's credentials: ``begin_enrolment`` sets the
password and a new second factor, ``finish_enrolment`` proves the authenticator works and spends the
code. ``reset_second_factor`` clears both password and second factor and issues a new code: the user
sets a new password too (one way to enrol, whatever came before).

Every failed login raises the same ``Unauthenticated`` message whatever the cause, and the audit log
records which step failed (``LOGIN_FAILED``). Consecutive failures lock an account for a while; a
source (the peer address) trying too often is refused before any hashing.

Break-glass gives a case officer or operator a few hours on a case outside their reach, for a reason
(a code from ``REASON_CODES`` in the audit log; the text sealed, kept on this node), and tells the
owning unit's supervisors at once. ``restrict`` and ``assign`` keep which officers a case link is
restricted or assigned to; their audit events are a ``STATUS_CHANGED`` under the case reference
(``access:restricted``, ``access:restriction lifted``, ``access:assigned``), so a case's access review
shows them, and an ``ACCOUNT_CHANGED`` for each officer named.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import TypeVar

import pyotp
import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from adapters.mail import LANGUAGES, check_address
from focalpoint.audit import events as audit_events
from focalpoint.errors import NotFound, PermissionDenied, PreconditionFailed, Unauthenticated, UsageError
from focalpoint.metrics import LOGIN_FAILURES
from focalpoint.node.notify import NoticeProfile
from focalpoint.node.ports import Clock, Notifier
from focalpoint.people.notices import preference_problems
from focalpoint.people.roles import Account, Grant, Role, role_problems, user_id_problem
from focalpoint.storage.base import (
    AccountWrite,
    BreakGlassRow,
    ContactRow,
    PendingRow,
    Restriction,
    SessionRow,
    Store,
    UserRow,
)
from focalpoint.storage.cipher import StorageCipher

__all__ = [
    "LOGIN_FAILED",
    "REASON_CODES",
    "SESSION_ENDED",
    "AccountPolicy",
    "Accounts",
    "Enrolment",
    "HashParams",
    "RoleChange",
    "SecondFactor",
    "Session",
    "UserInfo",
]

T = TypeVar("T")
log = structlog.get_logger("focalpoint.accounts")

# One message for every failed login, whatever failed (the audit log records which step).
LOGIN_FAILED = "login failed: the user id, password or code is wrong, or the account is locked; wait and try again"
SESSION_ENDED = "your session has expired or was ended; log in again"
ENROLMENT_FAILED = "the enrolment code is unknown, used or expired; ask an operator for a new one"
REASON_CODES = frozenset({"CHILD_IN_DANGER", "OWNER_UNREACHABLE", "COURT_ORDER", "OTHER"})
MIN_REASON_CHARS = 20
MAX_REASON_CHARS = 2000
NODE_ACTOR = "node"  # the machine credential, in the audit log

_STEP_S = 30  # RFC 6238 time-step
_TOUCH_MS = 60_000  # a session's last-seen time is written at most once a minute
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_READ = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})


@dataclass(frozen=True, slots=True)
class HashParams:
    """Argon2id's cost (RFC 9106 §4, the second recommended option by default)."""

    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 4

    def __post_init__(self) -> None:
        if self.time_cost < 2 or self.memory_kib < 19456 or not 1 <= self.parallelism <= 64:
            raise UsageError(
                "password hashing needs time_cost >= 2, memory_kib >= 19456 and parallelism 1-64"
                f" (got {self.time_cost}, {self.memory_kib}, {self.parallelism})"
            )


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    session_idle_ms: int = 30 * 60_000
    session_absolute_ms: int = 12 * 3_600_000
    max_failures: int = 6
    lockout_ms: int = 30 * 60_000
    enrol_code_ms: int = 72 * 3_600_000
    break_glass_ms: int = 4 * 3_600_000
    source_attempts_per_minute: int = 20
    min_password_chars: int = 12
    max_password_chars: int = 256
    recovery_codes: int = 10


@dataclass(frozen=True, slots=True)
class Enrolment:
    """The one-time code a user enrols with (shown once, to be handed over in person)."""

    user_id: str
    code: str
    expires_ms: int


@dataclass(frozen=True, slots=True)
class SecondFactor:
    """What the user's authenticator app needs, and the recovery codes (shown once)."""

    user_id: str
    secret_b32: str
    otpauth_uri: str
    recovery_codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    account: Account
    idle_until_ms: int
    expires_ms: int


@dataclass(frozen=True, slots=True)
class UserInfo:
    account: Account
    enrolled: bool
    locked_until_ms: int
    last_login_ms: int
    sessions: int
    pending_change: bool
    contact: ContactRow | None = None


@dataclass(frozen=True, slots=True)
class RoleChange:
    """``applied`` False: the change waits for a second operator (``confirm_change``)."""

    applied: bool
    user_id: str


class _Failed(Exception):
    """A login step failed: ``step`` for the audit log; ``counted`` when it counts towards a lock."""

    def __init__(self, step: str, *, counted: bool = False) -> None:
        super().__init__(step)
        self.step = step
        self.counted = counted


@dataclass(frozen=True, slots=True)
class _Factor:
    status: str  # "totp" or "recovery_code"
    step: int
    recovery: tuple[bytes, ...]


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def account_of(row: UserRow) -> Account:
    return Account(
        user_id=row.user_id,
        unit=row.unit,
        roles=row.roles,
        grants=row.grants,
        consular_state=row.consular_state,
        district=row.district,
        disabled=row.disabled,
    )


def recovery_code() -> str:
    """10 random Crockford base32 characters (50 bits), read as two groups of five."""
    chars = "".join(secrets.choice(_CROCKFORD) for _ in range(10))
    return f"{chars[:5]}-{chars[5:]}"


def recovery_key(typed: str) -> str:
    """A recovery code as typed, in the form its digest was taken of (Crockford's reading rules)."""
    return typed.strip().upper().translate(_CROCKFORD_READ)


def _seed_purpose(user_id: str) -> bytes:
    return b"totp:" + user_id.encode()


def _is_operator(row: UserRow) -> bool:
    return Role.OPERATOR in row.roles and not row.disabled


def _operators_after(users: Sequence[UserRow], changed: UserRow) -> int:
    """How many enabled operators the node has once ``changed`` replaces its stored row."""
    return sum(_is_operator(changed if u.user_id == changed.user_id else u) for u in users)


def _role_problem_text(problems: list[str]) -> str:
    return "the account cannot be set so: " + "; ".join(problems)


class Accounts:
    def __init__(
        self,
        *,
        store: Store,
        cipher: StorageCipher,
        clock_ms: Clock,
        issuer: str,
        notifier: Notifier,
        hashing: HashParams = HashParams(),
        policy: AccountPolicy = AccountPolicy(),
    ) -> None:
        self._store = store.accounts
        self._cipher = cipher
        self._clock = clock_ms
        self._issuer = issuer
        self._notifier = notifier
        self._policy = policy
        self._hasher = PasswordHasher(
            time_cost=hashing.time_cost, memory_cost=hashing.memory_kib, parallelism=hashing.parallelism
        )
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="focalpoint-argon2")
        # Every read-modify-write of a user row runs under this lock (never while hashing), so two
        # requests never act on one account at once; the store's version check backs it up.
        self._lock = asyncio.Lock()
        self._dummy_hash: str | None = None
        self._attempts: dict[str, deque[int]] = {}
        self._limited_logged: dict[str, int] = {}

    async def close(self) -> None:
        """Stop the hashing thread (a hash under way finishes; queued ones are cancelled)."""
        await asyncio.to_thread(partial(self._pool.shutdown, wait=True, cancel_futures=True))

    # --- hashing, off the event loop -------------------------------------------------------

    async def _off_loop(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    async def _hash(self, password: str) -> str:
        return await self._off_loop(partial(self._hasher.hash, password))

    async def _verify(self, stored: str, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return False

        return await self._off_loop(check)

    async def _burn_a_hash(self, password: str) -> None:
        """Cost what a password check costs, for a login that fails before it (unknown user…)."""
        if self._dummy_hash is None:
            self._dummy_hash = await self._hash(secrets.token_urlsafe(16))
        await self._verify(self._dummy_hash, password)

    # --- bootstrap and changes by operators ------------------------------------------------

    def _new_enrolment(self, now: int) -> tuple[str, bytes, int]:
        code = secrets.token_urlsafe(15)  # 20 characters, 120 bits
        return code, digest(code), now + self._policy.enrol_code_ms

    async def add_first_operator(self, user_id: str, unit: str) -> Enrolment:
        """The machine credential's bootstrap: the first operator, with an enrolment code. While no
        operator has enrolled it may be asked again (a lost code: the same user gets a new code, or
        another operator is added); once an enabled operator has enrolled, PreconditionFailed."""
        roles = frozenset({Role.OPERATOR})
        problems = [p for p in (user_id_problem(user_id),) if p]
        problems += role_problems(roles, frozenset(), unit=unit, consular_state="", district=frozenset())
        if problems:
            raise UsageError(_role_problem_text(problems))
        async with self._lock:
            users = await self._store.users()
            if any(_is_operator(u) and u.enrolled for u in users):
                raise PreconditionFailed("the node has an enrolled operator: users are added by operators now")
            now = self._clock()
            code, code_hash, expires = self._new_enrolment(now)
            existing = await self._store.user(user_id)
            if existing is not None:
                if existing.roles != roles or existing.unit != unit or existing.disabled:
                    raise PreconditionFailed("that user id names an account that is not a waiting first operator")
                row = replace(existing, enrol_code_hash=code_hash, enrol_expires_ms=expires, updated_ms=now)
                what = "enrolment code reissued (bootstrap)"
            else:
                row = UserRow(
                    user_id=user_id,
                    unit=unit,
                    roles=roles,
                    enrol_code_hash=code_hash,
                    enrol_expires_ms=expires,
                    created_ms=now,
                    updated_ms=now,
                )
                what = "added (bootstrap)"
            leaf = audit_events.account_changed(at_ms=now, actor=NODE_ACTOR, subject=user_id, what=what)
            await self._store.apply(AccountWrite(users=[row], leaves=[(leaf, "")]))
        log.info("first_operator_enrolment_issued")
        return Enrolment(user_id, code, expires)

    async def _operator(self, by: Account) -> UserRow:
        """``by`` as stored now: an enabled operator, or PermissionDenied."""
        row = await self._store.user(by.user_id)
        if row is None or not _is_operator(row):
            raise PermissionDenied("managing users is for enabled focal-point operators")
        return row

    async def _bootstrap(self) -> bool:
        """Fewer than two enabled operators: one operator's change applies at once."""
        return sum(_is_operator(u) for u in await self._store.users()) < 2

    async def add_user(
        self,
        by: Account,
        user_id: str,
        unit: str,
        roles: frozenset[Role],
        grants: frozenset[Grant] = frozenset(),
        consular_state: str = "",
        district: frozenset[str] = frozenset(),
    ) -> Enrolment | RoleChange:
        """A new user: at once during bootstrap (their enrolment code returned), else a proposal
        another operator confirms (``RoleChange(applied=False)``)."""
        problems = [p for p in (user_id_problem(user_id),) if p]
        problems += role_problems(roles, grants, unit=unit, consular_state=consular_state, district=district)
        if problems:
            raise UsageError(_role_problem_text(problems))
        async with self._lock:
            await self._operator(by)
            if await self._store.user(user_id) is not None:
                raise UsageError("an account with that user id exists already")
            now = self._clock()
            change = PendingRow(user_id, "add", by.user_id, unit, roles, grants, consular_state, district, now)
            if await self._bootstrap():
                return await self._apply_add(change, by.user_id, now, ["added (bootstrap)"])
            return await self._propose(change, now)

    async def _propose(self, change: PendingRow, now: int) -> RoleChange:
        leaf = audit_events.account_changed(
            at_ms=now, actor=change.proposed_by, subject=change.user_id, what="change proposed"
        )
        await self._store.apply(AccountWrite(pending=[change], leaves=[(leaf, "")]))
        return RoleChange(False, change.user_id)

    def _leaves(self, actor: str, subject: str, now: int, whats: Sequence[str]) -> list[tuple[bytes, str]]:
        return [(audit_events.account_changed(at_ms=now, actor=actor, subject=subject, what=w), "") for w in whats]

    async def _apply_add(self, change: PendingRow, actor: str, now: int, whats: Sequence[str]) -> Enrolment:
        code, code_hash, expires = self._new_enrolment(now)
        row = UserRow(
            user_id=change.user_id,
            unit=change.unit,
            roles=change.roles,
            grants=change.grants,
            consular_state=change.consular_state,
            district=change.district,
            enrol_code_hash=code_hash,
            enrol_expires_ms=expires,
            created_ms=now,
            updated_ms=now,
        )
        await self._store.apply(
            AccountWrite(
                users=[row], drop_pending=[change.user_id], leaves=self._leaves(actor, change.user_id, now, whats)
            )
        )
        return Enrolment(change.user_id, code, expires)

    async def _apply_change(
        self, change: PendingRow, row: UserRow, actor: str, now: int, whats: Sequence[str]
    ) -> RoleChange:
        """Apply a role change or an enabling to ``row``: its sessions end (they carried the old roles)."""
        if change.kind == "enable":
            new = replace(row, disabled=False, failures=0, locked_until_ms=0, updated_ms=now)
        else:
            new = replace(
                row,
                unit=change.unit,
                roles=change.roles,
                grants=change.grants,
                consular_state=change.consular_state,
                district=change.district,
                updated_ms=now,
            )
        if _operators_after(await self._store.users(), new) == 0:
            raise PreconditionFailed("the node must keep at least one enabled operator")
        await self._store.apply(
            AccountWrite(
                users=[new],
                end_sessions_of=[row.user_id],
                drop_pending=[row.user_id],
                leaves=self._leaves(actor, row.user_id, now, whats),
            )
        )
        return RoleChange(True, row.user_id)

    async def confirm_change(self, by: Account, user_id: str) -> Enrolment | RoleChange:
        """A second operator confirms the change waiting for ``user_id``: it applies now (a new
        user's enrolment code is returned)."""
        async with self._lock:
            await self._operator(by)
            change = next((p for p in await self._store.pending() if p.user_id == user_id), None)
            if change is None:
                raise NotFound("no change of that user waits for confirmation")
            if change.proposed_by == by.user_id:
                raise PermissionDenied("the operator who proposed a change cannot confirm it; another operator must")
            if user_id == by.user_id:
                raise PermissionDenied("an operator cannot confirm a change of their own account")
            now = self._clock()
            row = await self._store.user(user_id)
            if change.kind == "add":
                if row is not None:
                    raise UsageError("an account with that user id exists already")
                return await self._apply_add(change, by.user_id, now, ["change confirmed", "added"])
            if row is None:
                raise NotFound("no user with that id")
            what = "enabled" if change.kind == "enable" else "roles set"
            return await self._apply_change(change, row, by.user_id, now, ["change confirmed", what])

    async def set_roles(
        self,
        by: Account,
        user_id: str,
        roles: frozenset[Role],
        grants: frozenset[Grant],
        consular_state: str = "",
        district: frozenset[str] = frozenset(),
    ) -> RoleChange:
        """Propose ``user_id``'s new roles (a second operator confirms); during bootstrap they apply
        at once. Applying ends the user's sessions."""
        if user_id == by.user_id:
            raise PermissionDenied("an operator cannot change their own roles; another operator must")
        async with self._lock:
            await self._operator(by)
            row = await self._store.user(user_id)
            if row is None:
                raise NotFound("no user with that id")
            problems = role_problems(roles, grants, unit=row.unit, consular_state=consular_state, district=district)
            if problems:
                raise UsageError(_role_problem_text(problems))
            now = self._clock()
            change = PendingRow(user_id, "set", by.user_id, row.unit, roles, grants, consular_state, district, now)
            if await self._bootstrap():
                return await self._apply_change(change, row, by.user_id, now, ["roles set (bootstrap)"])
            return await self._propose(change, now)

    async def disable(self, by: Account, user_id: str) -> None:
        """Disable ``user_id`` at once (a safety action: one operator), ending their sessions."""
        if user_id == by.user_id:
            raise PermissionDenied("an operator cannot disable their own account; another operator must")
        async with self._lock:
            await self._operator(by)
            row = await self._store.user(user_id)
            if row is None:
                raise NotFound("no user with that id")
            if row.disabled:
                return
            new = replace(row, disabled=True, updated_ms=self._clock())
            if _operators_after(await self._store.users(), new) == 0:
                raise PreconditionFailed("the last enabled operator cannot be disabled")
            await self._store.apply(
                AccountWrite(
                    users=[new],
                    end_sessions_of=[user_id],
                    leaves=self._leaves(by.user_id, user_id, new.updated_ms, ["disabled"]),
                )
            )

    async def enable(self, by: Account, user_id: str) -> RoleChange:
        """Propose enabling ``user_id`` again (a second operator confirms; at once during bootstrap)."""
        if user_id == by.user_id:
            raise PermissionDenied("an operator cannot enable their own account; another operator must")
        async with self._lock:
            await self._operator(by)
            row = await self._store.user(user_id)
            if row is None:
                raise NotFound("no user with that id")
            if not row.disabled:
                raise PreconditionFailed("the account is enabled already")
            now = self._clock()
            change = PendingRow(
                user_id, "enable", by.user_id, row.unit, row.roles, row.grants, row.consular_state, row.district, now
            )
            if await self._bootstrap():
                return await self._apply_change(change, row, by.user_id, now, ["enabled (bootstrap)"])
            return await self._propose(change, now)

    async def reset_second_factor(self, by: Account, user_id: str) -> Enrolment:
        """Clear ``user_id``'s password, second factor and recovery codes (a safety action: one
        operator), end their sessions, and issue a new enrolment code: the user enrols again,
        setting a new password too."""
        if user_id == by.user_id:
            raise PermissionDenied("an operator cannot reset their own second factor; another operator must")
        async with self._lock:
            await self._operator(by)
            row = await self._store.user(user_id)
            if row is None:
                raise NotFound("no user with that id")
            now = self._clock()
            code, code_hash, expires = self._new_enrolment(now)
            new = replace(
                row,
                password_hash="",
                totp_seed=b"",
                totp_last_step=0,
                recovery_hashes=(),
                failures=0,
                locked_until_ms=0,
                enrol_code_hash=code_hash,
                enrol_expires_ms=expires,
                enrolled=False,
                updated_ms=now,
            )
            await self._store.apply(
                AccountWrite(
                    users=[new],
                    end_sessions_of=[user_id],
                    leaves=self._leaves(by.user_id, user_id, now, ["second factor reset"]),
                )
            )
        return Enrolment(user_id, code, expires)

    # --- enrolment -------------------------------------------------------------------------

    async def _enrolling(self, code: str) -> UserRow:
        row = await self._store.user_by_enrolment(digest(code))
        if row is None or row.disabled or row.enrol_expires_ms <= self._clock():
            raise Unauthenticated(ENROLMENT_FAILED)
        return row

    def _password_problem(self, user_id: str, password: str) -> str | None:
        p = self._policy
        if len(password) < p.min_password_chars:
            return f"a password has at least {p.min_password_chars} characters"
        if len(password) > p.max_password_chars:
            return f"a password has at most {p.max_password_chars} characters"
        if user_id.casefold() in password.casefold():
            return "a password must not contain the user id"
        return None

    async def begin_enrolment(self, code: str, password: str) -> SecondFactor:
        """Set the password and a new second factor of the user ``code`` was issued for; the code
        stays valid until ``finish_enrolment`` (beginning again replaces both)."""
        row = await self._enrolling(code)
        if problem := self._password_problem(row.user_id, password):
            raise UsageError(problem)
        password_hash = await self._hash(password)
        secret = pyotp.random_base32()
        codes = tuple(recovery_code() for _ in range(self._policy.recovery_codes))
        sealed = self._cipher.seal(secret.encode(), purpose=_seed_purpose(row.user_id), message_id=b"")
        async with self._lock:
            fresh = await self._store.user(row.user_id)
            if fresh is None or fresh.enrol_code_hash != row.enrol_code_hash:
                raise Unauthenticated(ENROLMENT_FAILED)
            now = self._clock()
            new = replace(
                fresh,
                password_hash=password_hash,
                totp_seed=sealed,
                totp_last_step=0,
                recovery_hashes=tuple(digest(recovery_key(c)) for c in codes),
                enrolled=False,
                updated_ms=now,
            )
            leaves = self._leaves(row.user_id, row.user_id, now, ["enrolment begun"])
            await self._store.apply(AccountWrite(users=[new], leaves=leaves))
        uri = pyotp.TOTP(secret).provisioning_uri(name=row.user_id, issuer_name=self._issuer)
        return SecondFactor(row.user_id, secret, uri, codes)

    async def finish_enrolment(self, code: str, totp: str) -> Account:
        """The first code from the authenticator proves it works: the enrolment code is spent and
        the account can log in."""
        row = await self._enrolling(code)
        if not row.totp_seed:
            raise PreconditionFailed("set a password first (begin the enrolment), then enter the app's code")
        async with self._lock:
            fresh = await self._store.user(row.user_id)
            if fresh is None or fresh.enrol_code_hash != row.enrol_code_hash:
                raise Unauthenticated(ENROLMENT_FAILED)
            now = self._clock()
            step = self._totp_step(fresh, totp.strip(), now)
            if isinstance(step, str):
                raise UsageError("the authenticator's code is wrong; check the device's clock and try again")
            new = replace(
                fresh,
                totp_last_step=step,
                enrol_code_hash=b"",
                enrol_expires_ms=0,
                enrolled=True,
                failures=0,
                locked_until_ms=0,
                updated_ms=now,
            )
            leaves = self._leaves(row.user_id, row.user_id, now, ["enrolled"])
            await self._store.apply(AccountWrite(users=[new], leaves=leaves))
        return account_of(new)

    # --- login and sessions ----------------------------------------------------------------

    def _admit(self, source: str, now: int) -> bool:
        """Count an attempt from ``source``; False when it is over its budget for the last minute."""
        window = self._attempts.setdefault(source, deque())
        while window and window[0] <= now - 60_000:
            window.popleft()
        if len(self._attempts) > 10_000:  # forget sources quiet for a minute
            for key in [k for k, w in self._attempts.items() if not w or w[-1] <= now - 60_000]:
                del self._attempts[key]
                self._limited_logged.pop(key, None)
            window = self._attempts.setdefault(source, window)
        if len(window) >= self._policy.source_attempts_per_minute:
            return False
        window.append(now)
        return True

    def _totp_step(self, row: UserRow, code: str, now: int) -> int | str:
        """The time-step ``code`` is the TOTP of (one step of drift either way), newer than the last
        accepted one; else the failed step's name."""
        if not row.totp_seed:
            return "second_factor"
        secret = self._cipher.open(row.totp_seed, purpose=_seed_purpose(row.user_id), message_id=b"").decode()
        totp = pyotp.TOTP(secret)
        t = now // 1000
        matched = [
            (t + k * _STEP_S) // _STEP_S
            for k in (-1, 0, 1)
            if hmac.compare_digest(totp.at(t + k * _STEP_S).encode(), code.encode())
        ]
        fresh = [s for s in matched if s > row.totp_last_step]
        if fresh:
            return max(fresh)
        return "replayed_code" if matched else "second_factor"

    def _second_factor(self, row: UserRow, typed: str, now: int) -> _Factor:
        code = typed.strip()
        if len(code) == 6 and code.isdigit():
            step = self._totp_step(row, code, now)
            if isinstance(step, str):
                raise _Failed(step, counted=True)
            return _Factor("totp", step, row.recovery_hashes)
        wanted = digest(recovery_key(code))
        for i, stored in enumerate(row.recovery_hashes):
            if hmac.compare_digest(stored, wanted):
                return _Factor(
                    "recovery_code", row.totp_last_step, row.recovery_hashes[:i] + row.recovery_hashes[i + 1 :]
                )
        raise _Failed("second_factor", counted=True)

    @staticmethod
    def _refusal(row: UserRow | None, now: int) -> str | None:
        if row is None:
            return "unknown_user"
        if row.disabled:
            return "disabled"
        if not row.enrolled:
            return "not_enrolled"
        if row.locked_until_ms > now:
            return "locked"
        return None

    async def login(self, user_id: str, password: str, second_factor: str, *, source: str) -> Session:
        """A new session for ``user_id`` proving a password and a second factor (a TOTP code, or a
        recovery code, which is spent); Unauthenticated(LOGIN_FAILED) for every failure."""
        now = self._clock()
        if not self._admit(source, now):
            minute = now // 60_000
            if self._limited_logged.get(source) != minute:  # one event a source a minute, not a flood
                self._limited_logged[source] = minute
                await self._fail(user_id, "rate_limited", now)
            raise Unauthenticated(LOGIN_FAILED)
        row = await self._store.user(user_id) if not user_id_problem(user_id) else None
        refused = self._refusal(row, now)
        if refused or row is None:
            await self._burn_a_hash(password)
            await self._fail(user_id, refused or "unknown_user", self._clock())
            raise Unauthenticated(LOGIN_FAILED)
        password_ok = await self._verify(row.password_hash, password)
        rehashed = ""
        if password_ok and self._hasher.check_needs_rehash(row.password_hash):
            rehashed = await self._hash(password)
        async with self._lock:
            now = self._clock()
            row = await self._store.user(user_id)
            try:
                refused = self._refusal(row, now)
                if refused or row is None:
                    raise _Failed(refused or "unknown_user")
                if not password_ok or row.password_hash == "":
                    raise _Failed("password", counted=True)
                factor = self._second_factor(row, second_factor, now)
            except _Failed as failed:
                await self._fail(user_id, failed.step, now, row if failed.counted else None)
                raise Unauthenticated(LOGIN_FAILED) from None
            token = secrets.token_urlsafe(32)
            new = replace(
                row,
                password_hash=rehashed or row.password_hash,
                totp_last_step=factor.step,
                recovery_hashes=factor.recovery,
                failures=0,
                locked_until_ms=0,
                last_login_ms=now,
                updated_ms=now,
            )
            leaf = audit_events.login(at_ms=now, actor=user_id, factor=factor.status)
            session = SessionRow(digest(token), user_id, now, now, source)
            await self._store.apply(AccountWrite(users=[new], sessions=[session], leaves=[(leaf, "")]))
        p = self._policy
        return Session(token, account_of(new), now + p.session_idle_ms, now + p.session_absolute_ms)

    async def _fail(self, user_id: str, step: str, now: int, row: UserRow | None = None) -> None:
        """Record a failed login (and, for ``row``, count it: enough in a row lock the account).
        A user id that names no account is not recorded: people type passwords and names into
        the wrong field, and the audit log keeps neither."""
        LOGIN_FAILURES.inc(self._issuer)
        known = step not in ("unknown_user", "rate_limited") and not user_id_problem(user_id)
        leaf = audit_events.login_failed(at_ms=now, actor=user_id if known else "", step=step)
        users: list[UserRow] = []
        if row is not None:
            failures = row.failures + 1
            locked = row.locked_until_ms
            if failures >= self._policy.max_failures:
                failures, locked = 0, now + self._policy.lockout_ms
                log.warning("account_locked", minutes=self._policy.lockout_ms // 60_000)
            users.append(replace(row, failures=failures, locked_until_ms=locked, updated_ms=now))
        await self._store.apply(AccountWrite(users=users, leaves=[(leaf, "")]))

    async def authenticate(self, token: str) -> Account:
        """The account a session token stands for; Unauthenticated(SESSION_ENDED) for a token that
        is unknown, ended, idle too long or too old, or whose user is disabled."""
        token_hash = digest(token)
        session = await self._store.session(token_hash)
        if session is None:
            raise Unauthenticated(SESSION_ENDED)
        now = self._clock()
        row = await self._store.user(session.user_id)
        why = ""
        if row is None or row.disabled:
            why = "account disabled"
        elif now >= session.last_seen_ms + self._policy.session_idle_ms:
            why = "idle timeout"
        elif now >= session.created_ms + self._policy.session_absolute_ms:
            why = "session expired"
        if why:
            leaf = audit_events.logout(at_ms=now, actor=session.user_id, why=why)
            ended = AccountWrite(end_sessions=[token_hash], leaves=[(leaf, "")])
            if row is None or row.disabled:
                ended = replace(ended, end_sessions_of=[session.user_id])
            await self._store.apply(ended)
            raise Unauthenticated(SESSION_ENDED)
        assert row is not None
        if now - session.last_seen_ms >= _TOUCH_MS:
            await self._store.apply(AccountWrite(touch=[(token_hash, now)]))
        return account_of(row)

    async def logout(self, token: str) -> None:
        """End the session (LOGOUT event)."""
        token_hash = digest(token)
        session = await self._store.session(token_hash)
        if session is None:
            raise Unauthenticated(SESSION_ENDED)
        leaf = audit_events.logout(at_ms=self._clock(), actor=session.user_id, why="logout")
        await self._store.apply(AccountWrite(end_sessions=[token_hash], leaves=[(leaf, "")]))

    # --- reading accounts ------------------------------------------------------------------

    async def list_users(self) -> list[UserInfo]:
        users = await self._store.users()
        counts = await self._store.session_counts()
        pending = {p.user_id for p in await self._store.pending()}
        contacts = {c.user_id: c for c in await self._store.contacts()}
        return [
            UserInfo(
                account=account_of(u),
                enrolled=u.enrolled,
                locked_until_ms=u.locked_until_ms,
                last_login_ms=u.last_login_ms,
                sessions=counts.get(u.user_id, 0),
                pending_change=u.user_id in pending,
                contact=contacts.get(u.user_id),
            )
            for u in users
        ]

    async def show_user(self, user_id: str) -> UserInfo:
        for info in await self.list_users():
            if info.account.user_id == user_id:
                return info
        raise NotFound("no user with that id")

    async def supervisors(self, unit: str) -> list[str]:
        """The unit's enabled case officers who hold the approve grant (the owning supervisors)."""
        return [
            u.user_id
            for u in await self._store.users()
            if u.unit == unit and not u.disabled and Role.CASE_OFFICER in u.roles and Grant.APPROVE in u.grants
        ]

    async def officers(self, unit: str | None) -> list[str]:
        """The unit's enabled case officers (None: every unit's)."""
        return [
            u.user_id
            for u in await self._store.users()
            if (unit is None or u.unit == unit) and not u.disabled and Role.CASE_OFFICER in u.roles
        ]

    async def operators(self) -> list[str]:
        """The enabled operators (the focal point's head and triage)."""
        return [u.user_id for u in await self._store.users() if _is_operator(u)]

    # --- contacts, notification preferences, the on-call list -------------------------------

    async def _self_or_operator(self, by: Account, user_id: str) -> UserRow:
        """The row of ``user_id``, which ``by`` may change: their own, or anyone's for an operator."""
        if by.user_id != user_id:
            await self._operator(by)
        row = await self._store.user(user_id)
        if row is None:
            raise NotFound("no user with that id")
        return row

    async def _put_contact(self, actor: str, contact: ContactRow, what: str) -> None:
        leaves = self._leaves(actor, contact.user_id, contact.updated_ms, [what])
        await self._store.apply(AccountWrite(contacts=[contact], leaves=leaves))

    async def set_contact(self, by: Account, user_id: str, *, email: str | None, language: str | None) -> None:
        """Set ``user_id``'s e-mail address ("" removes it) and/or the language of their messages; a
        user sets their own, an operator anyone's. Audited as the change, never the address."""
        if email is None and language is None:
            raise UsageError("give an e-mail address (or an empty one to remove it), a language, or both")
        if email and (problem := check_address(email)):
            raise UsageError(f"the e-mail address must be {problem}")  # the value is not repeated
        if language is not None and language not in LANGUAGES:
            raise UsageError(f"the language must be one of {', '.join(LANGUAGES)}, not {language!r}")
        async with self._lock:
            await self._self_or_operator(by, user_id)
            now = self._clock()
            contact = await self._store.contact(user_id) or ContactRow(user_id)
            whats = []
            if email is not None:
                contact = replace(contact, email=email)
                whats.append("e-mail address set" if email else "e-mail address removed")
            if language is not None:
                contact = replace(contact, language=language)
                whats.append(f"notification language {language}")
            await self._put_contact(by.user_id, replace(contact, updated_ms=now), "; ".join(whats))

    async def set_notifications(self, by: Account, user_id: str, off: frozenset[str]) -> None:
        """The notification families ``user_id`` gets no e-mail for (``focalpoint.people.notices``):
        their own, or anyone's for an operator; a family their duty needs is refused."""
        async with self._lock:
            row = await self._self_or_operator(by, user_id)
            contact = await self._store.contact(user_id) or ContactRow(user_id)
            problems = preference_problems(off, row.roles, row.grants, contact.on_call)
            if problems:
                raise UsageError("the preferences cannot be set so: " + "; ".join(problems))
            now = self._clock()
            what = "notifications off: " + (", ".join(sorted(off)) or "none")
            await self._put_contact(by.user_id, replace(contact, off=frozenset(off), updated_ms=now), what)

    async def set_on_call(self, by: Account, user_id: str, on_call: bool) -> None:
        """Put ``user_id`` on the 24/7 on-call list or take them off it (an operator, audited).
        Someone going on call who had turned emergencies off gets them again."""
        async with self._lock:
            await self._operator(by)
            row = await self._store.user(user_id)
            if row is None:
                raise NotFound("no user with that id")
            if on_call and row.disabled:
                raise PreconditionFailed("a disabled account cannot be on call")
            contact = await self._store.contact(user_id) or ContactRow(user_id)
            off = contact.off - {"emergency"} if on_call else contact.off
            new = replace(contact, on_call=on_call, off=off, updated_ms=self._clock())
            await self._put_contact(by.user_id, new, "on call" if on_call else "off call")

    async def on_call(self) -> list[str]:
        """The enabled users on the 24/7 on-call list."""
        enabled = {u.user_id for u in await self._store.users() if not u.disabled}
        return [c.user_id for c in await self._store.contacts() if c.on_call and c.user_id in enabled]

    async def contact_of(self, user_id: str) -> ContactRow | None:
        """Where ``user_id``'s e-mail goes now: None when they have no address or are disabled."""
        row = await self._store.user(user_id)
        contact = await self._store.contact(user_id)
        if row is None or row.disabled or contact is None or not contact.email:
            return None
        return contact

    async def notice_profile(self, user_id: str) -> NoticeProfile | None:
        """What deciding on ``user_id``'s e-mail needs (``focalpoint.node.notify.QueuedNotifier``)."""
        row = await self._store.user(user_id)
        if row is None:
            return None
        contact = await self._store.contact(user_id) or ContactRow(user_id)
        return NoticeProfile(
            user_id=user_id,
            has_email=bool(contact.email),
            off=contact.off,
            on_call=contact.on_call,
            roles=row.roles,
            grants=row.grants,
            disabled=row.disabled,
        )

    # --- break-glass, restrictions, assignments --------------------------------------------

    async def open_break_glass(
        self, by: Account, link_id: str, case_ref: str, reason_code: str, reason: str, *, owner_unit: str = ""
    ) -> int:
        """Open ``by``'s break-glass window on a link for ``break_glass_ms``; returns when it closes.
        The owning unit's supervisors are told at once (the enabled operators when the link has no
        unit yet)."""
        if reason_code not in REASON_CODES:
            raise UsageError(f"a break-glass reason code is one of {', '.join(sorted(REASON_CODES))}")
        if not MIN_REASON_CHARS <= len(reason.strip()) <= MAX_REASON_CHARS:
            raise UsageError(
                f"a break-glass reason is {MIN_REASON_CHARS}-{MAX_REASON_CHARS} characters:"
                " say why the case cannot wait for its unit"
            )
        row = await self._store.user(by.user_id)
        if row is None or row.disabled:
            raise PermissionDenied("the account is disabled")
        now = self._clock()
        until = now + self._policy.break_glass_ms
        sealed = self._cipher.seal(
            reason.strip().encode(), purpose=b"break_glass:" + by.user_id.encode(), message_id=link_id.encode()
        )
        leaf = audit_events.break_glass(
            at_ms=now, actor=by.user_id, case_ref=case_ref, reason_code=reason_code, until_ms=until
        )
        window = BreakGlassRow(by.user_id, link_id, reason_code, sealed, now, until)
        await self._store.apply(AccountWrite(break_glass=[window], leaves=[(leaf, case_ref)]))
        if owner_unit:
            told = await self.supervisors(owner_unit)
        else:
            told = [u.user_id for u in await self._store.users() if _is_operator(u)]
        await self._notifier.notify(told, "break_glass", case_ref=case_ref)
        return until

    async def break_glass_open(self, user_id: str, link_id: str) -> bool:
        window = await self._store.break_glass(user_id, link_id)
        return window is not None and window.until_ms > self._clock()

    async def break_glass_reason(self, user_id: str, link_id: str) -> str | None:
        """The text of the last reason ``user_id`` gave on ``link_id`` (for the access review)."""
        window = await self._store.break_glass(user_id, link_id)
        if window is None:
            return None
        purpose = b"break_glass:" + user_id.encode()
        return self._cipher.open(window.reason, purpose=purpose, message_id=link_id.encode()).decode()

    async def _known(self, users: frozenset[str], unit: str = "") -> None:
        """Every named user is an enabled case officer (of ``unit``, when given)."""
        unknown = len(users - set(await self.officers(unit or None)))
        if unknown:
            where = " of the case's unit" if unit else ""
            raise UsageError(f"{unknown} of the named users are not enabled case officers{where} on this node")

    async def restrict(
        self, by: Account, link_id: str, users: frozenset[str] | None, *, case_ref: str = "", unit: str = ""
    ) -> None:
        """Restrict the link to ``users``, officers of its ``unit`` (None lifts the restriction)."""
        if users is not None:
            if not users:
                raise UsageError("name at least one officer, or lift the restriction")
            await self._known(users, unit)
        now = self._clock()
        status = "access:restricted" if users is not None else "access:restriction lifted"
        leaves = [
            (audit_events.status_changed(at_ms=now, actor=by.user_id, case_ref=case_ref, status=status), case_ref)
        ]
        for user in sorted(users or ()):
            leaves += self._leaves(by.user_id, user, now, ["restricted"])
        restriction = Restriction(link_id, users, by.user_id, now)
        await self._store.apply(AccountWrite(restrictions=[restriction], leaves=leaves))

    async def restricted_to(self, link_id: str) -> frozenset[str] | None:
        return await self._store.restriction(link_id)

    async def assign(
        self, by: Account, link_id: str, users: frozenset[str], *, case_ref: str = "", unit: str = ""
    ) -> None:
        """The officers assigned to the link, now ``users``, officers of its ``unit`` (empty: none)."""
        await self._known(users, unit)
        now = self._clock()
        status = audit_events.status_changed(at_ms=now, actor=by.user_id, case_ref=case_ref, status="access:assigned")
        leaves = [(status, case_ref)]
        for user in sorted(users):
            leaves += self._leaves(by.user_id, user, now, ["assigned"])
        await self._store.apply(AccountWrite(assignments=[(link_id, users)], leaves=leaves))

    async def assigned(self, link_id: str) -> frozenset[str]:
        return await self._store.assigned(link_id)
