"""``focalpoint case``: the forms officials fill in, one per message kind.

``template KIND`` prints a commented YAML form (``--list`` lists the kinds); ``check FILE`` reads a
filled form (YAML or JSON) and prints every problem with its field path (exit 1), or says the
body is valid (exit 0). The forms themselves are ``focalpoint.cases.forms`` (pure); reading the
file and the clock is done here. Working cases through a running node (open, list, show, send,
approve, drafts, parked) is ``focalpoint.cli.case_desk``.
"""

from __future__ import annotations

import difflib
import time
from pathlib import Path

import click

from focalpoint.cases.forms import KIND_SUMMARIES, parse_form, template
from focalpoint.cli._forms import load_form
from focalpoint.cli.case_desk import COMMANDS
from focalpoint.errors import UsageError
from focalpoint.exchange.body import InvalidBody
from focalpoint.exchange.rules import KINDS, PERSONAL_DATA_KINDS

__all__ = ["case", "load_form"]


@click.group()
@click.version_option(package_name="focalpoint", prog_name="focalpoint")
def case() -> None:
    """Cases: forms to fill in and check, and links worked through a running node."""


@case.command("template")
@click.argument("kind", required=False)
@click.option("--list", "list_kinds", is_flag=True, help="List the kinds, one line each (● = attestation required).")
def case_template(kind: str | None, list_kinds: bool) -> None:
    """Print the form for KIND (YAML, commented: types, codes, required fields, rules)."""
    if list_kinds:
        width = max(map(len, KINDS))
        for k in KINDS:
            mark = "●" if k in PERSONAL_DATA_KINDS else " "
            click.echo(f"{k:<{width}} {mark} {KIND_SUMMARIES[k]}")
        return
    if kind is None:
        raise UsageError("name a kind; focalpoint case template --list shows them")
    if kind not in KINDS:
        close = difflib.get_close_matches(kind, KINDS, n=1)
        hint = f"; did you mean {close[0]}?" if close else "; focalpoint case template --list shows them"
        raise UsageError(f"unknown kind {kind!r}{hint}")
    click.echo(template(kind), nl=False)


@case.command("check")
@click.argument("file", type=click.Path(path_type=Path))
@click.pass_context
def case_check(ctx: click.Context, file: Path) -> None:
    """Check a filled form (YAML, or JSON by its .json suffix): every problem with its field path.

    Exit 0 when the body is valid, 1 when it is not.
    """
    data = load_form(file)
    if not isinstance(data, dict):
        raise UsageError(f"{file}: a form is a mapping (code_list_version, context and one kind)")
    try:
        body = parse_form(data, now_ms=time.time_ns() // 1_000_000)
    except InvalidBody as e:
        for problem in e.problems:
            click.echo(f"{problem.path or 'form'}: {problem.message}")
        click.echo(f"{file}: {len(e.problems)} problem{'s' * (len(e.problems) != 1)}", err=True)
        ctx.exit(1)
    click.echo(f"{file}: a valid {body.WhichOneof('kind')}")


for _command in COMMANDS:
    case.add_command(_command)
