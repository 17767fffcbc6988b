"""The local users' accounts in SQLite: users, sessions, changes waiting for a second operator,
break-glass windows, and the officers a link is restricted or assigned to. ``apply`` writes them
in one transaction with the audit leaves it is given; a user row is written only from the version
it was read at (``Conflict`` otherwise), so two changes of one account never silently merge.

Sets (roles, grants, district, a restriction's users) are stored comma-joined and sorted; the
recovery codes' SHA-256 digests concatenated. A row read back is checked column by column
(``rows``): a damaged one raises ``DamagedData`` naming its table and key, never its content.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from focalpoint.errors import Conflict
from focalpoint.people.roles import Grant, Role
from focalpoint.storage.base import AccountWrite, BreakGlassRow, ContactRow, PendingRow, SessionRow, UserRow
from focalpoint.storage.sqlite.db import Database, Tx
from focalpoint.storage.sqlite.rows import BYTES, INT, TEXT, Column, bad_column, damaged_row

__all__ = ["SqliteAccounts"]

_USER_COLS = (
    "user_id, unit, roles, grants, consular_state, district, disabled, password_hash, totp_seed, totp_last_step,"
    " recovery_hashes, failures, locked_until_ms, enrol_code_hash, enrol_expires_ms, enrolled, created_ms,"
    " updated_ms, last_login_ms, version"
)
_USER_COLUMNS: tuple[Column, ...] = (
    ("user_id", TEXT, False),
    ("unit", TEXT, False),
    ("roles", TEXT, False),
    ("grants", TEXT, False),
    ("consular_state", TEXT, False),
    ("district", TEXT, False),
    ("disabled", INT, False),
    ("password_hash", TEXT, False),
    ("totp_seed", BYTES, False),
    ("totp_last_step", INT, False),
    ("recovery_hashes", BYTES, False),
    ("failures", INT, False),
    ("locked_until_ms", INT, False),
    ("enrol_code_hash", BYTES, False),
    ("enrol_expires_ms", INT, False),
    ("enrolled", INT, False),
    ("created_ms", INT, False),
    ("updated_ms", INT, False),
    ("last_login_ms", INT, False),
    ("version", INT, False),
)
_SESSION_COLUMNS: tuple[Column, ...] = (
    ("token_hash", BYTES, False),
    ("user_id", TEXT, False),
    ("created_ms", INT, False),
    ("last_seen_ms", INT, False),
    ("source", TEXT, False),
)
_PENDING_COLS = "user_id, kind, proposed_by, unit, roles, grants, consular_state, district, at_ms"
_PENDING_COLUMNS: tuple[Column, ...] = (
    ("user_id", TEXT, False),
    ("kind", TEXT, False),
    ("proposed_by", TEXT, False),
    ("unit", TEXT, False),
    ("roles", TEXT, False),
    ("grants", TEXT, False),
    ("consular_state", TEXT, False),
    ("district", TEXT, False),
    ("at_ms", INT, False),
)
_BREAK_GLASS_COLUMNS: tuple[Column, ...] = (
    ("id", INT, False),
    ("user_id", TEXT, False),
    ("link_id", TEXT, False),
    ("reason_code", TEXT, False),
    ("reason", BYTES, False),
    ("opened_ms", INT, False),
    ("until_ms", INT, False),
)
_CONTACT_COLS = "user_id, email, language, off, on_call, updated_ms"
_CONTACT_COLUMNS: tuple[Column, ...] = (
    ("user_id", TEXT, False),
    ("email", TEXT, False),
    ("language", TEXT, False),
    ("off", TEXT, False),
    ("on_call", INT, False),
    ("updated_ms", INT, False),
)
_DIGEST = 32


def joined(values: Iterable[str]) -> str:
    return ",".join(sorted(values))


def split(text: str) -> frozenset[str]:
    return frozenset(v for v in text.split(",") if v)


def _checked(path: Path, table: str, key: object, row: Any, columns: tuple[Column, ...]) -> None:
    reason = bad_column(row, columns)
    if reason:
        raise damaged_row(path, table, key, reason)


def _roles(path: Path, table: str, key: object, roles: str, grants: str) -> tuple[frozenset[Role], frozenset[Grant]]:
    try:
        return frozenset(Role(r) for r in split(roles)), frozenset(Grant(g) for g in split(grants))
    except ValueError as e:
        raise damaged_row(path, table, key, "column roles or grants holds an unknown name") from e


def user_of(path: Path, row: Any) -> UserRow:
    key = row[0] if isinstance(row[0], str) else "?"
    _checked(path, "users", key, row, _USER_COLUMNS)
    roles, grants = _roles(path, "users", key, row[2], row[3])
    hashes: bytes = row[10]
    if len(hashes) % _DIGEST:
        raise damaged_row(path, "users", key, "column recovery_hashes is not a whole number of digests")
    return UserRow(
        user_id=row[0],
        unit=row[1],
        roles=roles,
        grants=grants,
        consular_state=row[4],
        district=split(row[5]),
        disabled=bool(row[6]),
        password_hash=row[7],
        totp_seed=row[8],
        totp_last_step=row[9],
        recovery_hashes=tuple(hashes[i : i + _DIGEST] for i in range(0, len(hashes), _DIGEST)),
        failures=row[11],
        locked_until_ms=row[12],
        enrol_code_hash=row[13],
        enrol_expires_ms=row[14],
        enrolled=bool(row[15]),
        created_ms=row[16],
        updated_ms=row[17],
        last_login_ms=row[18],
        version=row[19],
    )


def _user_values(u: UserRow, version: int) -> tuple[Any, ...]:
    return (
        u.user_id,
        u.unit,
        joined(u.roles),
        joined(u.grants),
        u.consular_state,
        joined(u.district),
        int(u.disabled),
        u.password_hash,
        u.totp_seed,
        u.totp_last_step,
        b"".join(u.recovery_hashes),
        u.failures,
        u.locked_until_ms,
        u.enrol_code_hash,
        u.enrol_expires_ms,
        int(u.enrolled),
        u.created_ms,
        u.updated_ms,
        u.last_login_ms,
        version,
    )


def _put_user(tx: Tx, u: UserRow, path: Path) -> None:
    """Insert (``version`` 0) or replace the row read at ``version``; Conflict if it moved since."""
    rows = tx.fetchall("SELECT version FROM users WHERE user_id = ?", (u.user_id,))
    stored = rows[0][0] if rows else 0
    if type(stored) is not int:
        raise damaged_row(path, "users", u.user_id, "column version is not an integer")
    if stored != u.version:
        raise Conflict(
            "the account was changed by another request meanwhile; nothing was written (try again)"
            if u.version
            else "an account with that user id exists already; nothing was written"
        )
    if not u.version:
        holders = ", ".join("?" * len(_USER_COLUMNS))
        tx.fetchall(f"INSERT INTO users ({_USER_COLS}) VALUES ({holders})", _user_values(u, 1))
        return
    sets = ", ".join(f"{name} = ?" for name, _, _ in _USER_COLUMNS[1:])
    values = _user_values(u, u.version + 1)
    tx.fetchall(f"UPDATE users SET {sets} WHERE user_id = ?", (*values[1:], u.user_id))


def _contact(path: Path, row: Any) -> ContactRow:
    key = row[0] if isinstance(row[0], str) else "?"
    _checked(path, "user_contacts", key, row, _CONTACT_COLUMNS)
    return ContactRow(row[0], row[1], row[2], split(row[3]), bool(row[4]), row[5])


def _session(path: Path, row: Any) -> SessionRow:
    _checked(path, "user_sessions", "?", row, _SESSION_COLUMNS)
    return SessionRow(*row)


def _pending(path: Path, row: Any) -> PendingRow:
    key = row[0] if isinstance(row[0], str) else "?"
    _checked(path, "user_pending", key, row, _PENDING_COLUMNS)
    roles, grants = _roles(path, "user_pending", key, row[4], row[5])
    return PendingRow(row[0], row[1], row[2], row[3], roles, grants, row[6], split(row[7]), row[8])


class SqliteAccounts:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def apply(self, write: AccountWrite) -> int:
        if write.empty():
            return self._db.audit_size
        path = self._db.path

        def body(tx: Tx) -> int:
            for u in write.users:
                _put_user(tx, u, path)
            for user_id in write.end_sessions_of:
                tx.fetchall("DELETE FROM user_sessions WHERE user_id = ?", (user_id,))
            for token_hash in write.end_sessions:
                tx.fetchall("DELETE FROM user_sessions WHERE token_hash = ?", (token_hash,))
            for s in write.sessions:
                if tx.fetchall("SELECT 1 FROM user_sessions WHERE token_hash = ?", (s.token_hash,)):
                    raise Conflict("a session with that token exists already; nothing was written")
                tx.fetchall(
                    "INSERT INTO user_sessions (token_hash, user_id, created_ms, last_seen_ms, source)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (s.token_hash, s.user_id, s.created_ms, s.last_seen_ms, s.source),
                )
            for token_hash, at_ms in write.touch:
                tx.fetchall("UPDATE user_sessions SET last_seen_ms = ? WHERE token_hash = ?", (at_ms, token_hash))
            for user_id in write.drop_pending:
                tx.fetchall("DELETE FROM user_pending WHERE user_id = ?", (user_id,))
            for p in write.pending:
                tx.fetchall(
                    f"INSERT OR REPLACE INTO user_pending ({_PENDING_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        p.user_id,
                        p.kind,
                        p.proposed_by,
                        p.unit,
                        joined(p.roles),
                        joined(p.grants),
                        p.consular_state,
                        joined(p.district),
                        p.at_ms,
                    ),
                )
            for b in write.break_glass:
                tx.fetchall(
                    "INSERT INTO break_glass (user_id, link_id, reason_code, reason, opened_ms, until_ms)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (b.user_id, b.link_id, b.reason_code, b.reason, b.opened_ms, b.until_ms),
                )
            for r in write.restrictions:
                tx.fetchall("DELETE FROM link_restrictions WHERE link_id = ?", (r.link_id,))
                if r.users is not None:
                    tx.fetchall(
                        "INSERT INTO link_restrictions (link_id, users, set_by, at_ms) VALUES (?, ?, ?, ?)",
                        (r.link_id, joined(r.users), r.set_by, r.at_ms),
                    )
            for link_id, users in write.assignments:
                tx.fetchall("DELETE FROM link_assignments WHERE link_id = ?", (link_id,))
                tx.db.executemany(
                    "INSERT INTO link_assignments (link_id, user_id) VALUES (?, ?)",
                    [(link_id, u) for u in sorted(users)],
                )
            for c in write.contacts:
                tx.fetchall(
                    f"INSERT OR REPLACE INTO user_contacts ({_CONTACT_COLS}) VALUES (?, ?, ?, ?, ?, ?)",
                    (c.user_id, c.email, c.language, joined(c.off), int(c.on_call), c.updated_ms),
                )
            first = tx.next_index
            for leaf, case_ref in write.leaves:
                tx.log(leaf, case_ref)
            return first

        return await self._db.transaction("account write", body)

    async def user(self, user_id: str) -> UserRow | None:
        rows = await self._db.fetch_checked(f"SELECT {_USER_COLS} FROM users WHERE user_id = ?", (user_id,))
        return user_of(self._db.path, rows[0]) if rows else None

    async def users(self) -> list[UserRow]:
        rows = await self._db.fetch_checked(f"SELECT {_USER_COLS} FROM users ORDER BY user_id")
        return [user_of(self._db.path, r) for r in rows]

    async def user_by_enrolment(self, code_hash: bytes) -> UserRow | None:
        if not code_hash:
            return None
        rows = await self._db.fetch_checked(
            f"SELECT {_USER_COLS} FROM users WHERE enrol_code_hash = ? AND enrol_code_hash != x''", (code_hash,)
        )
        return user_of(self._db.path, rows[0]) if rows else None

    async def session(self, token_hash: bytes) -> SessionRow | None:
        rows = await self._db.fetch_checked(
            "SELECT token_hash, user_id, created_ms, last_seen_ms, source FROM user_sessions WHERE token_hash = ?",
            (token_hash,),
        )
        return _session(self._db.path, rows[0]) if rows else None

    async def session_counts(self) -> dict[str, int]:
        rows = await self._db.fetchall("SELECT user_id, COUNT(*) FROM user_sessions GROUP BY user_id ORDER BY user_id")
        return {str(r[0]): int(r[1]) for r in rows}

    async def pending(self) -> list[PendingRow]:
        rows = await self._db.fetch_checked(f"SELECT {_PENDING_COLS} FROM user_pending ORDER BY user_id")
        return [_pending(self._db.path, r) for r in rows]

    async def break_glass(self, user_id: str, link_id: str) -> BreakGlassRow | None:
        rows = await self._db.fetch_checked(
            "SELECT id, user_id, link_id, reason_code, reason, opened_ms, until_ms FROM break_glass"
            " WHERE user_id = ? AND link_id = ? ORDER BY id DESC LIMIT 1",
            (user_id, link_id),
        )
        if not rows:
            return None
        _checked(self._db.path, "break_glass", rows[0][0], rows[0], _BREAK_GLASS_COLUMNS)
        return BreakGlassRow(*rows[0][1:])

    async def restriction(self, link_id: str) -> frozenset[str] | None:
        rows = await self._db.fetch_checked("SELECT users FROM link_restrictions WHERE link_id = ?", (link_id,))
        if not rows:
            return None
        if not isinstance(rows[0][0], str):
            raise damaged_row(self._db.path, "link_restrictions", link_id, "column users does not hold text")
        return split(rows[0][0])

    async def assigned(self, link_id: str) -> frozenset[str]:
        rows = await self._db.fetchall("SELECT user_id FROM link_assignments WHERE link_id = ?", (link_id,))
        return frozenset(str(r[0]) for r in rows)

    async def contact(self, user_id: str) -> ContactRow | None:
        rows = await self._db.fetch_checked(f"SELECT {_CONTACT_COLS} FROM user_contacts WHERE user_id = ?", (user_id,))
        return _contact(self._db.path, rows[0]) if rows else None

    async def contacts(self) -> list[ContactRow]:
        rows = await self._db.fetch_checked(f"SELECT {_CONTACT_COLS} FROM user_contacts ORDER BY user_id")
        return [_contact(self._db.path, r) for r in rows]
