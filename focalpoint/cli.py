"""The ``focalpoint`` command line.

Errors go to stderr as one line, ``focalpoint: error: …``, with exit code 1 (2 for a
usage mistake); never a traceback. Secrets are read from environment variables
named by options, never from arguments (which other users can see in ``ps``).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
from google.protobuf import json_format

from focalpoint import cli_audit, cli_directory
from focalpoint.errors import FocalpointError, UsageError
from focalpoint.storage.keyfiles import passphrase_from_env

__all__ = ["main"]

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="focalpoint")
def cli() -> None:
    """Secure messaging between the child-protection focal points of different States."""


# --- node --------------------------------------------------------------------------------


@cli.group()
def node() -> None:
    """Initialise and run a focal-point node."""


@node.command("init")
@click.option("--dir", "home", type=click.Path(path_type=Path), required=True, help="Key directory to create.")
@click.option("--node-id", required=True, help="Lowercase DNS label, e.g. gr-ekka.")
@click.option("--state", required=True, help="ISO 3166-1 alpha-2 code of the node's State.")
@click.option("--institution", required=True, help="Designated institution's name.")
@click.option("--endpoint", required=True, help="host:port peers will use to reach this node.")
@click.option(
    "--language",
    "languages",
    multiple=True,
    default=["en"],
    show_default=True,
    help="Working language (BCP 47).",
)
@click.option("--passphrase-env", default=None, help="Protect the key file with the passphrase in this variable.")
def node_init(
    home: Path,
    node_id: str,
    state: str,
    institution: str,
    endpoint: str,
    languages: tuple[str, ...],
    passphrase_env: str | None,
) -> None:
    """Create the node's keys and export its public directory entry."""
    from focalpoint.server.provision import init_node_dir

    result = init_node_dir(
        home,
        node_id=node_id,
        state=state,
        institution=institution,
        endpoint=endpoint,
        languages=list(languages),
        passphrase=passphrase_from_env(passphrase_env),
        now=_now(),
    )
    click.echo(f"keys:            {result.key_file} (mode 600)")
    click.echo(f"local API token: {result.token_file} (mode 600)")
    click.echo(f"directory entry: {result.entry_file}  <- send this to your directory administrators")


@node.command("rotate-key")
@click.option("--dir", "home", type=click.Path(path_type=Path), required=True, help="The node's key directory.")
@click.option("--kind", type=click.Choice(["signing", "encryption", "log"]), required=True)
@click.option("--passphrase-env", default=None, help="Variable holding the key file's passphrase, if it has one.")
def node_rotate_key(home: Path, kind: str, passphrase_env: str | None) -> None:
    """Add a new key (kept alongside the old ones) and update node-entry.json with it as NEXT."""
    from focalpoint.server.provision import rotate_key

    def ids(entry: Any) -> dict[str, Any]:
        keys = {"signing": entry.signing_keys, "encryption": entry.encryption_keys, "log": entry.log_keys}[kind]
        return {k.key_id: k for k in keys}

    before = set(ids(_entry_of(home)))
    export = rotate_key(home, kind=kind, passphrase=passphrase_from_env(passphrase_env), now=_now())
    [new] = [k for key_id, k in ids(export.entry).items() if key_id not in before]
    status = "NEXT" if new.status == 2 else "ACTIVE"  # a node's first log key is ACTIVE at once
    click.echo(f"new {kind} key {new.key_id} ({status}) added to {home / 'node.keys'}")
    click.echo(
        f"next: send {home / 'node-entry.json'} to your administrators; they publish the key as NEXT, "
        "then ACTIVE with the old one RETIRED (the running node follows the directory)"
    )


def _entry_of(home: Path) -> Any:
    from focalpoint.v1 import directory_pb2

    path = home / "node-entry.json"
    try:
        return json_format.Parse(path.read_text(encoding="utf-8"), directory_pb2.NodeEntryExport()).entry
    except (OSError, json_format.ParseError) as e:
        raise UsageError(f"{path}: cannot read the node's current entry: {e}") from e


@node.command("health")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option("--check-now", is_flag=True, help="Ping the agreement partners now.")
@click.option("--json", "as_json", is_flag=True)
def node_health(config_path: Path, check_now: bool, as_json: bool) -> None:
    """The directory health report as this running node sees it, with unreachable partners."""
    from directory.health import format_report

    async def go() -> Any:
        async with _client(config_path) as c:
            return await c.get_health(check_now=check_now)

    report = json.loads(_rpc(go()).report_json)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    for line in format_report(report):
        click.echo(line)


@node.command("run")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
def node_run(config_path: Path) -> None:
    """Run the node until SIGINT or SIGTERM."""
    from focalpoint.log import configure_logging
    from focalpoint.server.config import load_config
    from focalpoint.server.node import Node

    config = load_config(config_path)
    configure_logging(fmt=config.log_format, level=config.log_level)

    async def serve() -> None:
        n = await Node.open(config)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await n.start()
        except BaseException:
            await n.stop(0)
            raise
        click.echo(f"node {n.node_id} ready: peer port {n.peer_port}, local port {n.local_port}", err=True)
        await stop.wait()
        await n.stop()

    _run(serve())


# --- directory ----------------------------------------------------------------------------

cli.add_command(cli_directory.directory)
cli.add_command(cli_audit.audit)


# --- messages (local API client) ----------------------------------------------------------


def _client(config_path: Path, *, actor: str | None = None) -> Any:
    from focalpoint.client import LocalClient
    from focalpoint.server.config import load_config
    from focalpoint.storage.keyfiles import read_secret_file

    config = load_config(config_path)
    token_file = config.keys_file.parent / "local-api.token"
    token = read_secret_file(token_file).decode().strip()
    return LocalClient(config.listen_local, token, actor=actor)


def _rpc(coro: Coroutine[Any, Any, T]) -> T:
    """Run a local-API call. The client raises the node's own errors (``focalpoint.client``):
    the caller's mistakes are UsageErrors (exit 2), everything else (node down, storage) exits 1."""
    return _run(coro)


def _hex_id(value: str, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise UsageError(f"{what} must be 32 hex digits, got {value!r}") from None
    if len(raw) != 16:
        raise UsageError(f"{what} must be 32 hex digits, got {len(value)} characters")
    return raw


@cli.group()
def message() -> None:
    """Send and read messages through a running node's local API."""


@message.command("send")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option("--to", "recipient", required=True, help="Recipient node id.")
@click.option("--body", "body_path", type=click.Path(path_type=Path), required=True, help="Body as protobuf JSON.")
@click.option("--in-reply-to", default=None, help="Message id (hex) this answers.")
@click.option("--request-id", default=None, help="Idempotency key: retrying with it never sends twice.")
def message_send(
    config_path: Path, recipient: str, body_path: Path, in_reply_to: str | None, request_id: str | None
) -> None:
    """Queue a message; prints its id once it is durable in the outbox."""
    from focalpoint.v1 import local_pb2, messages_pb2

    try:
        body = json_format.Parse(body_path.read_text(encoding="utf-8"), messages_pb2.Body())
    except FileNotFoundError:
        raise UsageError(f"{body_path}: file not found") from None
    except (json_format.ParseError, UnicodeDecodeError) as e:
        raise UsageError(f"{body_path}: not a message body (protobuf JSON of focalpoint.v1.Body): {e}") from e
    req = local_pb2.SubmitRequest(
        recipient_node=recipient,
        body=body,
        in_reply_to=_hex_id(in_reply_to, "--in-reply-to") if in_reply_to else b"",
        client_request_id=request_id or "",
    )

    async def go() -> Any:
        async with _client(config_path) as c:
            return await c.submit(req)

    resp = _rpc(go())
    click.echo(resp.message_id.hex())


@message.command("list")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option("--outbox", is_flag=True, help="List sent messages instead of received ones.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
def message_list(config_path: Path, outbox: bool, limit: int) -> None:
    """List the inbox (or the outbox, with delivery state)."""
    from focalpoint.v1 import local_pb2

    async def go() -> Any:
        async with _client(config_path) as c:
            return await (c.list_outbox(limit) if outbox else c.list_inbox(limit))

    resp = _rpc(go())
    for e in resp.entries:
        if outbox:
            state = local_pb2.DeliveryState.Name(e.state).removeprefix("DELIVERY_STATE_").lower()
            extra = f"  ({e.last_error})" if e.last_error and state != "delivered" else ""
            click.echo(f"{e.message_id.hex()}  to {e.recipient_node:<14} {e.kind:<24} {state}{extra}")
        else:
            click.echo(f"{e.message_id.hex()}  from {e.sender_node:<12} {e.kind}")


@message.command("show")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.argument("message_id")
@click.option("--outbox", is_flag=True)
@click.option("--from", "peer", default="", help="Sender node (inbox only), when ids collide.")
@click.option("--actor", default=None, help="Your local user id, recorded in the audit log with the read.")
def message_show(config_path: Path, message_id: str, outbox: bool, peer: str, actor: str | None) -> None:
    """Print one message as JSON (decrypted for the duration of the call)."""
    from focalpoint.v1 import local_pb2

    mid = _hex_id(message_id, "MESSAGE_ID")
    direction = local_pb2.DIRECTION_OUTBOX if outbox else local_pb2.DIRECTION_INBOX

    async def go() -> Any:
        async with _client(config_path, actor=actor) as c:
            return await c.get_message(direction, mid, peer)

    shown = json_format.MessageToDict(_rpc(go()), preserving_proto_field_name=True)
    for key in ("message_id", "in_reply_to"):
        if key in shown:  # ids are shown in hex everywhere in the CLI
            shown[key] = base64.b64decode(shown[key]).hex()
    click.echo(json.dumps(shown, indent=2, ensure_ascii=False))


# --- demo and benchmarks ------------------------------------------------------------------


@cli.command()
@click.option("--keep", type=click.Path(path_type=Path), default=None, help="Keep the network's files here.")
def demo(keep: Path | None) -> None:
    """Start three States' nodes on loopback and run a social inquiry end to end."""
    from focalpoint.demo import run_demo

    _run(run_demo(keep))


@cli.group()
def bench() -> None:
    """Benchmarks: our path and its raw baseline side by side, as ratios."""


@bench.command("exchange")
@click.option("--messages", type=click.IntRange(10, 200_000), default=3000, show_default=True)
@click.option("--payload-bytes", type=click.IntRange(64, 512 * 1024), default=1024, show_default=True)
@click.option(
    "--light",
    "light_load",
    type=click.IntRange(5, 10_000),
    default=200,
    show_default=True,
    help="Sequential round trips for p50.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_exchange(messages: int, payload_bytes: int, light_load: int, as_json: bool) -> None:
    """Raw grpc.aio echo vs the full exchange, both between two processes over mutual TLS."""
    from focalpoint.bench import run_exchange_bench

    result = _run(run_exchange_bench(messages=messages, payload_bytes=payload_bytes, light=light_load))
    if as_json:
        click.echo(json.dumps(result, sort_keys=True))
    else:
        from focalpoint.bench import format_exchange

        click.echo(format_exchange(result))


def _fail(message: str, code: int) -> None:
    """One line on stderr, whatever the message contained (protobuf errors carry newlines)."""
    click.echo("focalpoint: error: " + " ".join(message.split()), err=True)
    sys.exit(code)


@bench.command("directory")
@click.option("--states", type=click.IntRange(2, 676), default=193, show_default=True)
@click.option("--contact-points", type=click.IntRange(1, 200), default=20, show_default=True, help="Per State.")
@click.option("--repeats", type=click.IntRange(1, 50), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_directory(states: int, contact_points: int, repeats: int, as_json: bool) -> None:
    """Verify and load a directory of STATES States, and time lookups at two sizes."""
    from focalpoint.bench_directory import format_directory, run_directory_bench

    result = run_directory_bench(states=states, contacts=contact_points, repeats=repeats)
    click.echo(json.dumps(result, sort_keys=True) if as_json else format_directory(result))


@bench.command("audit")
@click.option("--leaves", type=click.IntRange(100, 50_000_000), default=1_000_000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_audit(leaves: int, as_json: bool) -> None:
    """Append throughput, proof times and full verification of an audit log of LEAVES leaves."""
    from focalpoint.bench_audit import format_audit, run_audit_bench

    result = run_audit_bench(leaves=leaves)
    click.echo(json.dumps(result, sort_keys=True) if as_json else format_audit(result))


def main() -> None:
    # gRPC's C core would print its own lines for failures we already report in one line.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    try:
        cli.main(standalone_mode=False, prog_name="focalpoint")
    except click.exceptions.Abort:
        click.echo("focalpoint: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        _fail(e.format_message(), e.exit_code)
    except UsageError as e:
        _fail(str(e), 2)
    except FocalpointError as e:
        _fail(str(e), 1)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as e:
        _fail(f"{e.strerror or e}: {getattr(e, 'filename', '') or ''}".rstrip(": "), 1)
