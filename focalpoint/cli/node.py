"""``focalpoint node``: initialise a node's keys, rotate them, run the node, and ask a running
node for its view of the directory's health."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import click
import structlog
from google.protobuf import json_format

from focalpoint.cli._local import ATTENTION_NEEDED, call, now, now_ms, run
from focalpoint.errors import UsageError
from focalpoint.log import LOG_FORMAT_ENV, configure_logging, is_json
from focalpoint.storage.keyfiles import passphrase_from_env

__all__ = ["node"]


@click.group()
@click.version_option(package_name="focalpoint", prog_name="focalpoint")
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
        now=now(),
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
    export = rotate_key(home, kind=kind, passphrase=passphrase_from_env(passphrase_env), now=now())
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
    """The directory health report as this running node sees it, with unreachable partners.

    Exits 0 when all is well and 1 when something needs attention (2: a usage mistake)."""
    from directory.health import format_report

    report = json.loads(call(config_path, lambda c: c.get_health(check_now=check_now), "machine").report_json)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        for line in format_report(report):
            click.echo(line)
    if report.get("healthy") is not True:
        sys.exit(ATTENTION_NEEDED)


@node.command("backup")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True, help="New file to write.")
def node_backup(config_path: Path, out_path: Path) -> None:
    """Copy the node's database, consistently, while it runs (owner-only; never overwrites).

    Exits 1 when the copy's audit log does not verify (the copy is kept: it may be the best there is)."""
    from focalpoint.server.config import load_config
    from focalpoint.storage.sqlite.backup import backup

    config = load_config(config_path)
    copied = backup(config.database, out_path)
    newest = f"newest checkpoint at {copied.latest_checkpoint}" if copied.latest_checkpoint else "no checkpoint yet"
    click.echo(f"backup written: {copied.path} ({copied.bytes} bytes; {copied.events} audit events; {newest})")
    click.echo("keep it apart from the node's key file (node.keys): together they open every message")
    if not copied.log_ok:
        click.echo(f"focalpoint: error: the copy's audit log does not verify: {copied.log_problem}", err=True)
        sys.exit(1)


@node.command("restore")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option(
    "--from", "backup_path", type=click.Path(path_type=Path), required=True, help="A file `node backup` wrote."
)
def node_restore(config_path: Path, backup_path: Path) -> None:
    """Put a backup in place of the node's database; the node must be stopped.

    The files replaced are moved aside, never deleted. At its next start the node declares the
    restore to its partners, signed with its log key: the events after the backup are lost, and
    that is recorded, not hidden (docs/operations.md §8)."""
    from focalpoint.server.config import load_config
    from focalpoint.storage.sqlite.backup import restore

    config = load_config(config_path)
    done = restore(backup_path, config.database, node_id=config.node_id, now_ms=now_ms())
    click.echo(f"restored {done.path} from {backup_path}: {done.events} audit events")
    if done.moved_aside is not None:
        click.echo(f"the files it replaced are in {done.moved_aside}")
    lost = f"at least {done.lost_known - done.events} events after them" if done.lost_known > done.events else ""
    click.echo(
        "next: start the node; it declares the restore to its partners before it serves anything"
        + (f" ({lost} are lost)" if lost else "")
    )


@node.command("run")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option(
    "--log-format",
    type=click.Choice(["console", "json"]),
    envvar=LOG_FORMAT_ENV,
    default=None,
    help=f"Overrides logging.format of the configuration, and applies from the first line, before the file is read "
    f"(also ${LOG_FORMAT_ENV}).",
)
def node_run(config_path: Path, log_format: str | None) -> None:
    """Run the node until SIGINT or SIGTERM.

    Under systemd (``Type=notify``) it sends READY=1 once both ports listen and STOPPING=1 when it
    begins to stop (focalpoint.server.systemd)."""
    from focalpoint.server.config import load_config
    from focalpoint.server.node import Node
    from focalpoint.server.systemd import notify

    if log_format is not None:  # a configuration error is then already a line of this format
        configure_logging(fmt=log_format)
    config = load_config(config_path)
    configure_logging(fmt=log_format or config.log_format, level=config.log_level)

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
        if is_json():
            structlog.get_logger("focalpoint").info(
                "node_ready", node=n.node_id, peer_port=n.peer_port, local_port=n.local_port
            )
        else:
            click.echo(f"node {n.node_id} ready: peer port {n.peer_port}, local port {n.local_port}", err=True)
        notify("READY=1", f"STATUS=serving: peer port {n.peer_port}, local port {n.local_port}")
        await stop.wait()
        notify("STOPPING=1")
        await n.stop()

    run(serve())
