"""Reading a configuration file, shared by the node's configuration and the console's (each
validates its own keys): the file's top-level YAML mapping, and whether a host is loopback.

Why here, at the foundation: the console may not import the server (an import contract), and
both must refuse the same unreadable files with the same words."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from focalpoint.errors import ConfigError

__all__ = ["is_loopback", "read_yaml"]


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
