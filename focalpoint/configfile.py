"""Reading a configuration file, shared by the node's configuration and the console's (each
validates its own keys): the file's top-level YAML mapping, a reader that walks its sections and
records every problem with its key path, and whether a host is loopback.

Why here, at the foundation: the console may not import the server (an import contract), and
both must refuse the same unreadable files, and name the same mistakes, with the same words.

The reader reads the whole file before anything is reported, so that one ConfigError lists every
problem, one per line (``node.yaml: listen.peer: expected host:port, got 'localhost'``): unknown
keys first, each with the known key it resembles (a typo must not silently fall back to a
default), then the rest in the order the file is read. A value that is missing or wrong is
recorded and read as None, so the caller goes on and finds the next problem.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from focalpoint.errors import ConfigError

__all__ = ["Problems", "SectionReader", "is_loopback", "read_yaml"]


def read_yaml(path: Path) -> Mapping[str, Any]:
    """The file's top-level mapping; raises ConfigError (these problems stop the reading at once)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from e
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name, an IP address, or a bracketed IPv6 address) is this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Problems:
    """Every problem found in one file, for one ConfigError: unknown keys first (each with the
    known key it most resembles), then the rest in the order the file is read.

    Two choices differ between the files, and are the file's own (the defaults are the node's):

    - ``consequences``: whether what follows from a problem already reported is reported too: the
      required keys of a section that is missing or not a mapping, and a required key missing
      where an unknown key was suggested as the one meant (``keys-file`` for ``keys_file``).
    - ``bare_sections``: whether a section written with nothing under it (``tls:``, a YAML null)
      reads as an empty section, rather than as a value that is not a mapping."""

    def __init__(self, file: Path, *, consequences: bool = False, bare_sections: bool = False) -> None:
        self.file = file
        self.consequences = consequences
        self.bare_sections = bare_sections
        self.unknown: list[tuple[str, str | None]] = []  # (dotted key, a known dotted key it resembles)
        self.found: list[tuple[str, str, bool]] = []  # (dotted key, problem, is it a missing key)

    def add(self, key: str, problem: str, *, missing: bool = False) -> None:
        """Record ``problem`` with ``key``, the key's dotted path from the top of the file."""
        self.found.append((key, problem, missing))

    def lines(self) -> list[str]:
        """One line a problem, each naming the file and the key."""
        # A key reported as unknown with a suggestion explains the "missing" one it was meant to be.
        meant = set() if self.consequences else {s for _, s in self.unknown if s is not None}
        out = [
            f"{self.file}: {key}: unknown key" + (f" (did you mean {s.rsplit('.', 1)[-1]}?)" if s else "")
            for key, s in self.unknown
        ]
        out += [f"{self.file}: {key}: {why}" for key, why, missing in self.found if not (missing and key in meant)]
        return out

    def raise_any(self) -> None:
        """Raise one ConfigError listing every problem, one per line; nothing if there is none."""
        lines = self.lines()
        if lines:
            raise ConfigError("\n".join(lines))


class SectionReader:
    """One mapping of the file (the top level or a section): records the keys read, so that the
    leftovers are reported as unknown by ``finish``, and every problem in ``problems``.

    ``present`` is False for a section that is missing or not a mapping when its consequences are
    not reported: that was reported once, and is not again as each of its required keys."""

    def __init__(self, problems: Problems, data: Mapping[Any, Any], prefix: str = "", *, present: bool = True) -> None:
        self.problems, self.data, self.prefix, self.present = problems, data, prefix, present
        self.used = set[str]()

    def key(self, key: str) -> str:
        """``key``'s dotted path from the top of the file."""
        return f"{self.prefix}{key}"

    def fail(self, key: str, expected: str, got: object) -> None:
        self.problems.add(self.key(key), f"expected {expected}, got {got!r}")

    def get(self, key: str, default: Any = ...) -> Any:
        """The value of ``key``, or ``default``; without a default the key is required (reported
        when missing, and read as None)."""
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                if self.present:
                    self.problems.add(self.key(key), "required key is missing", missing=True)
                return None
            return default
        return self.data[key]

    def section(self, key: str, *, required: bool = True) -> SectionReader:
        """The reader of the section ``key``; one that is missing (when required) or not a mapping
        is reported, and read as an empty section."""
        prefix = f"{self.prefix}{key}."
        value = self.get(key, ... if required else {})
        if value is None and key in self.data and self.problems.bare_sections:
            value = {}
        if key not in self.data and required:  # reported as missing
            return SectionReader(self.problems, {}, prefix, present=self.problems.consequences)
        if not isinstance(value, Mapping):
            self.fail(key, "a mapping", value)
            return SectionReader(self.problems, {}, prefix, present=self.problems.consequences)
        return SectionReader(self.problems, value, prefix, present=self.present)

    def string(self, key: str, pattern: re.Pattern[str] | None = None, what: str = "a string") -> str | None:
        """A required string, matching ``pattern`` if given (None when missing or wrong: reported,
        wrong as ``expected <what>``)."""
        value = self.get(key)
        if key not in self.data:
            return None
        if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
            self.fail(key, what, value)
            return None
        return value

    def number(self, key: str, *, default: float, low: float, high: float, integer: bool = False) -> Any:
        """A number in [low, high] (an integer if ``integer``; a bool is not one), or ``default``
        (None when wrong: reported)."""
        value = self.get(key, default)
        kind = int if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
            self.fail(key, f"{'an integer' if integer else 'a number'} in [{low}, {high}]", value)
            return None
        return value

    def path(self, key: str) -> Path | None:
        """A required file path, resolved against the file's directory (None when missing or
        wrong: reported)."""
        value = self.string(key, what="a file path")
        if value is None:
            return None
        if not value.strip():
            self.fail(key, "a non-empty file path", value)
            return None
        return (self.problems.file.parent / value).resolve()

    def finish(self) -> None:
        """Report every key of this mapping that was not read, with the read key it resembles."""
        # YAML keys need not be strings (`on:` is True), so sort and print them as text.
        known = sorted(self.used)
        for extra in sorted(str(k) for k in self.data if k not in self.used):
            close = difflib.get_close_matches(extra, known, n=1, cutoff=0.6)
            self.problems.unknown.append((self.key(extra), self.key(close[0]) if close else None))
