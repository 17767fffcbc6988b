"""The local users' accounts in the in-memory store (as ``focalpoint.storage.sqlite.accounts``;
the same checks, in the same order, with the same messages). A write works on copies of the
tables it changes and swaps them in only once its whole body succeeded."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import TypeVar

from focalpoint.errors import Conflict
from focalpoint.storage.base import AccountWrite, BreakGlassRow, ContactRow, PendingRow, SessionRow, UserRow
from focalpoint.storage.memory.state import State, Tx, pause

__all__ = ["MemoryAccounts"]

K = TypeVar("K")
V = TypeVar("V")


def _swap(table: dict[K, V], new: dict[K, V]) -> None:
    table.clear()
    table.update(new)


class MemoryAccounts:
    def __init__(self, state: State) -> None:
        self._s = state

    async def apply(self, write: AccountWrite) -> int:
        if write.empty():
            await pause()
            return len(self._s.leaves)
        return await self._s.write("account write", partial(self._apply, write))

    def _apply(self, write: AccountWrite, tx: Tx) -> int:
        s = self._s
        users = dict(s.users)
        for u in write.users:
            stored = users[u.user_id].version if u.user_id in users else 0
            if stored != u.version:
                raise Conflict(
                    "the account was changed by another request meanwhile; nothing was written (try again)"
                    if u.version
                    else "an account with that user id exists already; nothing was written"
                )
            users[u.user_id] = replace(u, version=u.version + 1)
        sessions = dict(s.sessions)
        ended = set(write.end_sessions_of)
        sessions = {k: v for k, v in sessions.items() if v.user_id not in ended}
        for token_hash in write.end_sessions:
            sessions.pop(bytes(token_hash), None)
        for new in write.sessions:
            key = bytes(new.token_hash)
            if key in sessions:
                raise Conflict("a session with that token exists already; nothing was written")
            sessions[key] = replace(new, token_hash=key)
        for token_hash, at_ms in write.touch:
            key = bytes(token_hash)
            if key in sessions:
                sessions[key] = replace(sessions[key], last_seen_ms=at_ms)
        pending = dict(s.pending)
        for user_id in write.drop_pending:
            pending.pop(user_id, None)
        for p in write.pending:
            pending[p.user_id] = p
        windows = dict(s.break_glass)
        for b in write.break_glass:
            windows[tx.next_seq("break_glass")] = replace(b, reason=bytes(b.reason))
        restrictions = dict(s.restrictions)
        for r in write.restrictions:
            restrictions.pop(r.link_id, None)
            if r.users is not None:
                restrictions[r.link_id] = frozenset(r.users)
        assignments = dict(s.assignments)
        for link_id, assigned in write.assignments:
            assignments[link_id] = frozenset(assigned)
        contacts = dict(s.contacts)
        for c in write.contacts:
            contacts[c.user_id] = replace(c, off=frozenset(c.off))
        first = tx.next_index
        for leaf, case_ref in write.leaves:
            tx.log(leaf, case_ref)
        tx.writes.append(partial(_swap, s.users, dict(sorted(users.items()))))
        tx.writes.append(partial(_swap, s.sessions, sessions))
        tx.writes.append(partial(_swap, s.pending, dict(sorted(pending.items()))))
        tx.writes.append(partial(_swap, s.break_glass, windows))
        tx.writes.append(partial(_swap, s.restrictions, restrictions))
        tx.writes.append(partial(_swap, s.assignments, {k: v for k, v in assignments.items() if v}))
        tx.writes.append(partial(_swap, s.contacts, dict(sorted(contacts.items()))))
        return first

    async def user(self, user_id: str) -> UserRow | None:
        await pause()
        return self._s.users.get(user_id)

    async def users(self) -> list[UserRow]:
        await pause()
        return list(self._s.users.values())

    async def user_by_enrolment(self, code_hash: bytes) -> UserRow | None:
        await pause()
        if not code_hash:
            return None
        return next((u for u in self._s.users.values() if u.enrol_code_hash == code_hash), None)

    async def session(self, token_hash: bytes) -> SessionRow | None:
        await pause()
        return self._s.sessions.get(bytes(token_hash))

    async def session_counts(self) -> dict[str, int]:
        await pause()
        counts: dict[str, int] = {}
        for session in self._s.sessions.values():
            counts[session.user_id] = counts.get(session.user_id, 0) + 1
        return dict(sorted(counts.items()))

    async def pending(self) -> list[PendingRow]:
        await pause()
        return list(self._s.pending.values())

    async def break_glass(self, user_id: str, link_id: str) -> BreakGlassRow | None:
        await pause()
        found = [b for b in self._s.break_glass.values() if b.user_id == user_id and b.link_id == link_id]
        return found[-1] if found else None

    async def restriction(self, link_id: str) -> frozenset[str] | None:
        await pause()
        return self._s.restrictions.get(link_id)

    async def assigned(self, link_id: str) -> frozenset[str]:
        await pause()
        return self._s.assignments.get(link_id, frozenset())

    async def contact(self, user_id: str) -> ContactRow | None:
        await pause()
        return self._s.contacts.get(user_id)

    async def contacts(self) -> list[ContactRow]:
        await pause()
        return list(self._s.contacts.values())
