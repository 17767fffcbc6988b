"""``focalpoint case``: the forms officials fill in, one per message kind.

``template KIND`` prints a commented YAML form (``--list`` lists the kinds); ``check FILE`` reads a
filled form (YAML or JSON) and prints every problem with its field path (exit 1), or says the
body is valid (exit 0). The forms themselves are ``focalpoint.cases.forms`` (pure); reading the
file and the clock is done here. Further commands (open, list, show, send, approve) join this
group as the case workflow lands.
"""

from __future__ import annotations

import difflib
import json
import re
import time
from pathlib import Path
from typing import Any

import click
import yaml

from focalpoint.cases.forms import KIND_SUMMARIES, parse_form, template
from focalpoint.errors import UsageError
from focalpoint.exchange.body import InvalidBody
from focalpoint.exchange.rules import KINDS, PERSONAL_DATA_KINDS
from focalpoint.storage.files import read_file

__all__ = ["case", "load_form"]


class _FormLoader(yaml.SafeLoader):
    """YAML as an official means it: only true/false are booleans (``NO`` is a code, not false),
    only plain decimal numbers are numbers, and dates and times stay text for the form to read."""


_FormLoader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)\Z", list("tTfF")),
    ("int", r"^[-+]?(?:0|[1-9][0-9]*)\Z", list("-+0123456789")),
    ("null", r"^(?:~|null|Null|NULL|)\Z", ["~", "n", "N", ""]),
):
    _FormLoader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), _first)


def load_form(path: Path) -> Any:
    """A filled form from a YAML or JSON file; UsageError naming the place of a syntax error."""
    raw = read_file(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 text") from e
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise UsageError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from e
    try:
        return yaml.load(text, Loader=_FormLoader)  # noqa: S506 - a SafeLoader with fewer implicit types
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise UsageError(f"{path}: not valid YAML{where}") from e


@click.group()
def case() -> None:
    """Case messages: forms to fill in and check."""


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
