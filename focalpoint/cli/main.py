"""The ``focalpoint`` command line: the groups of ``focalpoint.cli`` assembled, and ``main``.

Errors go to stderr as one line, ``focalpoint: error: …``, with exit code 1 (2 for a
usage mistake); never a traceback. Secrets are read from environment variables
named by options, never from arguments (which other users can see in ``ps``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from focalpoint.cli._local import fail, run
from focalpoint.cli.audit import audit
from focalpoint.cli.bench import bench
from focalpoint.cli.directory import directory
from focalpoint.cli.message import message
from focalpoint.cli.node import node
from focalpoint.errors import FocalpointError, UsageError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="focalpoint")
def cli() -> None:
    """Secure messaging between the child-protection focal points of different States."""


for group in (node, directory, message, audit, bench):
    cli.add_command(group)


@cli.command()
@click.option("--keep", type=click.Path(path_type=Path), default=None, help="Keep the network's files here.")
def demo(keep: Path | None) -> None:
    """Start three States' nodes on loopback and run a social inquiry end to end."""
    from focalpoint.localnet.demo import run_demo

    run(run_demo(keep))


def main() -> None:
    # gRPC's C core would print its own lines for failures we already report in one line.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    try:
        cli.main(standalone_mode=False, prog_name="focalpoint")
    except click.exceptions.Abort:
        click.echo("focalpoint: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        fail(e.format_message(), e.exit_code)
    except UsageError as e:
        fail(str(e), 2)
    except FocalpointError as e:
        fail(str(e), 1)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as e:
        fail(f"{e.strerror or e}: {getattr(e, 'filename', '') or ''}".rstrip(": "), 1)
