"""What every command of the ``focalpoint`` CLI shares: running a coroutine, the local API
client of a running node, the time, message ids in hex, and the one-line error."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from focalpoint.errors import UsageError

if TYPE_CHECKING:
    from focalpoint.client import LocalClient

__all__ = ["ATTENTION_NEEDED", "call", "fail", "hex_id", "local_client", "now", "now_ms", "run"]

T = TypeVar("T")

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


def local_client(config_path: Path, *, actor: str | None = None) -> LocalClient:
    """A client of the node that ``config_path`` configures, with its local API token."""
    # Imported here: commands that do not talk to a node start without grpc.
    from focalpoint.client import LocalClient
    from focalpoint.server.config import load_config
    from focalpoint.storage.keyfiles import read_secret_file

    config = load_config(config_path)
    token_file = config.keys_file.parent / "local-api.token"
    token = read_secret_file(token_file).decode().strip()
    return LocalClient(config.listen_local, token, actor=actor)


def call(config_path: Path, fn: Callable[[LocalClient], Awaitable[T]], *, actor: str | None = None) -> T:
    """One local-API call. The client raises the node's own errors (``focalpoint.client``):
    the caller's mistakes are UsageErrors (exit 2), everything else (node down, storage) exits 1."""

    async def go() -> T:
        async with local_client(config_path, actor=actor) as client:
            return await fn(client)

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
    lists every problem of a file, one per line)."""
    for problem in message.splitlines() if one_per_line else [message]:
        if problem.strip():
            click.echo("focalpoint: error: " + " ".join(problem.split()), err=True)
    sys.exit(code)
