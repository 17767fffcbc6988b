"""Reading a filled form from a file (YAML, or JSON by its ``.json`` suffix), for ``focalpoint case``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from focalpoint.errors import UsageError
from focalpoint.storage.files import read_file

__all__ = ["load_form"]


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
