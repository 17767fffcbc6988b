"""What every command of the ``focalpoint`` CLI shares: running a coroutine, the local API
client of a running node (calling as the person logged in, or with the node's machine
credential for the few calls that take it), the time, message ids in hex, and the one-line
error."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import click
import structlog

from focalpoint.cli._session import StoredSession, read_session, session_path
from focalpoint.errors import Unauthenticated, UsageError
from focalpoint.log import is_json

if TYPE_CHECKING:
    from focalpoint.client import LocalClient
    from focalpoint.server.config import NodeConfig

__all__ = [
    "ATTENTION_NEEDED",
    "Credential",
    "call",
    "fail",
    "hex_id",
    "local_client",
    "now",
    "now_ms",
    "run",
    "session_for",
]

T = TypeVar("T")
# Which credential a command calls with (``local_client``).
Credential = Literal["session", "machine", "none"]

# The exit code of a report that needs attention (``node health``, ``directory health``): it is
# not an error (the report is printed in full on stdout), and it is not 2, which means a usage
# mistake, so that a monitoring script can tell "look at this" from "the command was wrong".
ATTENTION_NEEDED = 1


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def now_ms() -> int:
    return int(now().timestamp() * 1000)


def session_for(config_path: Path) -> tuple[NodeConfig, Path, StoredSession | None]:
    """The node ``config_path`` configures, where its session is kept, and the session (None: not
    logged in). A session file issued by another node is refused, not sent to this one."""
    from focalpoint.server.config import load_config

    config = load_config(config_path)
    path = session_path(config.node_id)
    stored = read_session(path)
    if stored is not None and stored.node_id != config.node_id:
        raise UsageError(
            f"{path} holds a session of node {stored.node_id}, not {config.node_id}:"
            f" run focalpoint login --config {config_path}"
        )
    return config, path, stored


def local_client(config_path: Path, credential: Credential = "session") -> LocalClient:
    """A client of the node that ``config_path`` configures, calling with ``credential``:
    ``session``, the person logged in with ``focalpoint login`` (a UsageError when no one is);
    ``machine``, the node's machine credential (``local-api.token`` beside its keys), which the
    node accepts only for health, the audit checkpoint and verification, delivery lists and the
    first operator's enrolment; ``none``, no credential (login and enrolment)."""
    # Imported here: commands that do not talk to a node start without grpc.
    from focalpoint.client import LocalClient
    from focalpoint.server.config import load_config
    from focalpoint.storage.keyfiles import read_secret_file

    if credential == "machine":
        config = load_config(config_path)
        token_file = config.keys_file.parent / "local-api.token"
        return LocalClient(config.listen_local, read_secret_file(token_file).decode().strip())
    if credential == "none":
        return LocalClient(load_config(config_path).listen_local)
    config, _, stored = session_for(config_path)
    if stored is None:
        raise UsageError(f"not logged in to {config.node_id}: run focalpoint login --config {config_path}")
    return LocalClient(config.listen_local, session=stored.token)


def call(config_path: Path, fn: Callable[[LocalClient], Awaitable[T]], credential: Credential = "session") -> T:
    """One local-API call. The client raises the node's own errors (``focalpoint.client``):
    the caller's mistakes are UsageErrors (exit 2), everything else (node down, storage, a
    session the node ended) exits 1."""

    async def go() -> T:
        async with local_client(config_path, credential) as client:
            try:
                return await fn(client)
            except Unauthenticated as e:
                if credential != "session":
                    raise
                raise Unauthenticated(
                    f"your session has ended; run focalpoint login --config {config_path} again"
                ) from e

    return run(go())


def hex_id(value: str, what: str) -> bytes:
    """A 16-byte message id from its 32 hex digits; raises UsageError naming ``what``."""
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise UsageError(f"{what} must be 32 hex digits, got {value!r}") from None
    if len(raw) != 16:
        raise UsageError(f"{what} must be 32 hex digits, got {len(value)} characters")
    return raw


def fail(message: str, code: int, *, one_per_line: bool = False) -> None:
    """One line on stderr, whatever the message contained (protobuf errors carry newlines); with
    ``one_per_line``, one ``focalpoint: error:`` line per line of the message (a ConfigError
    lists every problem of a file, one per line). When the log is JSON (``focalpoint.log.is_json``),
    each is a ``command_failed`` JSON event instead, so that a JSON log stays JSON to its last line."""
    for problem in message.splitlines() if one_per_line else [message]:
        if not problem.strip():
            continue
        if is_json():  # the node's log is JSON: its errors too, one event per problem
            structlog.get_logger("focalpoint").error("command_failed", error=" ".join(problem.split()), exit_code=code)
        else:
            click.echo("focalpoint: error: " + " ".join(problem.split()), err=True)
    sys.exit(code)
