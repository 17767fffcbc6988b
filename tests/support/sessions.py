"""Logged-in people for tests that run the CLI as a subprocess: accounts made through a running
node's local API (``focalpoint.localnet.people.People``), each person's session written where
``focalpoint login`` writes it in a configuration directory of their own, so that
``cli(..., env=session_env(home))`` calls as them (on every node they are logged in to)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from focalpoint.cli._session import StoredSession, write_session
from focalpoint.localnet import LocalNode
from focalpoint.localnet.people import People
from focalpoint.people.roles import Grant, Role

__all__ = ["Account", "alog_in", "log_in", "session_env"]


@dataclass(frozen=True)
class Account:
    roles: tuple[Role, ...] = (Role.CASE_OFFICER,)
    grants: tuple[Grant, ...] = (Grant.APPROVE,)
    extra: Mapping[str, object] = field(default_factory=dict)


def log_in(node: LocalNode, unit: str, folder: Path, accounts: Mapping[str, Account]) -> dict[str, Path]:
    """``alog_in`` for a test with no event loop running."""
    return asyncio.run(alog_in(node, unit, folder, accounts))


async def alog_in(node: LocalNode, unit: str, folder: Path, accounts: Mapping[str, Account]) -> dict[str, Path]:
    """Make ``accounts`` (user id -> account) on the running ``node``, log each in, and write each
    session to ``folder/<user>/focalpoint/sessions/<node>.session``; each user's configuration
    directory (``folder/<user>``) by user id. The first operator (``operator.1``) is made too, and
    may be asked for like any other."""
    people = People(node.local_address, node.token, unit=unit)
    homes: dict[str, Path] = {}
    try:
        for user_id, account in accounts.items():
            if user_id == "operator.1":
                client = await people.operator()
            else:
                client = await people.client(user_id, account.roles, grants=account.grants, **account.extra)  # type: ignore[arg-type]
            assert client.session is not None
            home = folder / user_id
            path = home / "focalpoint" / "sessions" / f"{node.node_id}.session"
            write_session(path, StoredSession(node.node_id, node.local_address, user_id, client.session))
            homes[user_id] = home
    finally:
        await people.close()
    return homes


def session_env(home: Path, extra: Iterable[tuple[str, str]] = ()) -> dict[str, str]:
    """The environment that makes a CLI subprocess call as the person whose configuration
    directory is ``home`` (``log_in``)."""
    return {"XDG_CONFIG_HOME": str(home), "FOCALPOINT_SESSION_FILE": "", **dict(extra)}
