"""The ``focalpoint`` command line: the groups of ``focalpoint.cli`` assembled, and ``main``.

Errors go to stderr as one line, ``focalpoint: error: …``, with exit code 1 (2 for a
usage mistake); a configuration error gives one such line per problem it lists. Never a
traceback, and never a line of gRPC's own (``quiet_grpc``). A group given no command prints
its help (exit 2). Secrets are read from environment variables named by options, never from
arguments (which other users can see in ``ps``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from focalpoint.cli._local import fail, run
from focalpoint.cli.audit import audit
from focalpoint.cli.bench import bench
from focalpoint.cli.case import case
from focalpoint.cli.console import console
from focalpoint.cli.directory import directory
from focalpoint.cli.message import message
from focalpoint.cli.node import node
from focalpoint.cli.report import report
from focalpoint.cli.transfer import transfer
from focalpoint.cli.user import SESSION_COMMANDS, user
from focalpoint.errors import ConfigError, FocalpointError, UsageError
from focalpoint.log import LOG_FORMAT_ENV, configure_logging

__all__ = ["cli", "main", "quiet_grpc"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="focalpoint", prog_name="focalpoint")
def cli() -> None:
    """Secure messaging between the child-protection focal points of different States."""


for group in (*SESSION_COMMANDS, user, node, directory, message, case, audit, report, transfer, bench, console):
    cli.add_command(group)


@cli.command()
@click.option("--keep", type=click.Path(path_type=Path), default=None, help="Keep the network's files here.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (stages, convergence, the gate) only.")
@click.option(
    "--console",
    "with_console",
    is_flag=True,
    help="Then keep the network running and serve the web console on 127.0.0.1 until Ctrl-C.",
)
@click.option(
    "--console-port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="The console's port on 127.0.0.1 (0: any free port).",
)
def demo(keep: Path | None, as_json: bool, with_console: bool, console_port: int) -> None:
    """Start three States' nodes on loopback and work a child's return as a case, end to end."""
    from focalpoint.localnet.demo import LiveDemo, run_demo

    if not with_console:
        run(run_demo(keep, as_json=as_json))
        return
    if as_json:
        raise UsageError("--console serves pages until Ctrl-C; it cannot be combined with --json")
    from focalpoint.cli.demo_console import serve_demo_console

    async def serve(live: LiveDemo) -> None:
        await serve_demo_console(live, console_port)

    try:
        run(run_demo(keep, then=serve))
    except KeyboardInterrupt:
        click.echo("\nstopped: the console and the nodes are down" + ("." if keep else "; the demo's files are gone."))


def quiet_grpc() -> None:
    """Keep gRPC's own log lines (its C core and the absl logging under it) off stderr, whatever
    the environment says: every failure they describe (a port in use, a refused handshake, a
    node that is down) is reported by focalpoint in its own words, and a raw line would break
    the node's JSON log. It must run before ``grpc`` is imported, which reads the variables once.
    ``FOCALPOINT_GRPC_VERBOSITY`` (``ERROR``, ``INFO`` or ``DEBUG``, with ``GRPC_TRACE`` if
    wanted) turns them back on, to debug gRPC itself."""
    wanted = os.environ.get("FOCALPOINT_GRPC_VERBOSITY", "").strip()
    if wanted:
        os.environ["GRPC_VERBOSITY"] = wanted
        return
    os.environ["GRPC_VERBOSITY"] = "NONE"
    os.environ.pop("GRPC_TRACE", None)


def main() -> None:
    quiet_grpc()
    if os.environ.get(LOG_FORMAT_ENV, "").strip() == "json":
        # Asked for in the environment (a systemd unit): even a usage mistake, found before any
        # command runs or any configuration is read, is then a JSON line (docs/operations.md).
        configure_logging(fmt="json")
    try:
        code = cli.main(standalone_mode=False, prog_name="focalpoint")
    except click.exceptions.NoArgsIsHelpError as e:
        # `focalpoint` (or a group such as `focalpoint node`) without a command: the help, as
        # click prints it, on stderr with exit 2 (click's own convention since 8.2: no command
        # was given, so nothing was done; a script that forgot its arguments must not pass).
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("focalpoint: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        fail(e.format_message(), e.exit_code)
    except UsageError as e:
        fail(str(e), 2)
    except ConfigError as e:
        fail(str(e), 1, one_per_line=True)
    except FocalpointError as e:
        fail(str(e), 1)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as e:
        fail(f"{e.strerror or e}: {getattr(e, 'filename', '') or ''}".rstrip(": "), 1)
    # `--help` and `--version` end in click's Exit, which standalone_mode=False hands back as a code.
    if isinstance(code, int) and not isinstance(code, bool):
        sys.exit(code)
