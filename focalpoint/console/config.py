"""The console's configuration: one YAML file, validated completely before anything starts.

Like the node's (docs/operations.md §5), every error names the file, the key and what was
expected, unknown keys are errors (with the known key they resemble), and one ConfigError lists
every problem, one per line. Relative paths are resolved against the file's directory. See
config/console.example.yaml and docs/operations.md §15.

TLS is required unless the console listens on loopback only: there it is either a test, or it
sits behind a reverse proxy on the same machine that terminates TLS with the institution's
certificate (and then ``public_origin`` names the address people type).
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError

from focalpoint.configfile import is_loopback, read_yaml
from focalpoint.errors import ConfigError
from focalpoint.ids import ENDPOINT

__all__ = ["ConsoleConfig", "load_console_config"]

_HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})\Z")
_ORIGIN = re.compile(r"^https?://(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(?::\d{1,5})?\Z")
DEFAULT_LANGUAGES = ("en", "fr", "ar")


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    source: Path
    host: str
    port: int
    # Both or neither; neither only on loopback (tests, or behind a reverse proxy that terminates TLS).
    tls_certificate: Path | None
    tls_private_key: Path | None
    # The node's local API (loopback, plaintext gRPC), as the CLI reaches it.
    node_local_api: str
    node_timeout_seconds: float
    languages: tuple[str, ...]
    default_language: str
    # What people type in the browser, when a reverse proxy stands in front ("" = this listener).
    public_origin: str
    timezone: str
    page_size: int
    log_format: str
    log_level: str

    @property
    def tls(self) -> bool:
        return self.tls_certificate is not None


class _Reader:
    """One section of the file: records the keys read (leftovers are unknown keys) and every
    problem found, so that a single pass reports them all."""

    def __init__(self, file: Path, data: object, prefix: str, problems: list[str], unknown: list[str]) -> None:
        self.file, self.prefix, self.problems, self.unknown = file, prefix, problems, unknown
        if data is not None and not isinstance(data, Mapping):
            self.problems.append(f"{file}: {prefix.rstrip('.')}: expected a mapping, got {data!r}")
            data = None
        self.data: Mapping[Any, Any] = data or {}
        self.used: set[str] = set()

    def fail(self, key: str, expected: str, got: object) -> None:
        self.problems.append(f"{self.file}: {self.prefix}{key}: expected {expected}, got {got!r}")

    def get(self, key: str, default: Any = ...) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                self.problems.append(f"{self.file}: {self.prefix}{key}: required key is missing")
                return None
            return default
        return self.data[key]

    def section(self, key: str, *, required: bool) -> _Reader:
        self.used.add(key)
        if key not in self.data and required:
            self.problems.append(f"{self.file}: {self.prefix}{key}: required key is missing")
        return _Reader(self.file, self.data.get(key), f"{self.prefix}{key}.", self.problems, self.unknown)

    def number(self, key: str, *, default: float, low: float, high: float, integer: bool = False) -> Any:
        value = self.get(key, default)
        kind = int if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
            self.fail(key, f"{'an integer' if integer else 'a number'} in [{low}, {high}]", value)
            return None
        return value

    def path(self, key: str) -> Path | None:
        if key not in self.data:
            self.used.add(key)
            return None
        value = self.get(key)
        if not isinstance(value, str) or not value.strip():
            self.fail(key, "a file path", value)
            return None
        return (self.file.parent / value).resolve()

    def finish(self) -> None:
        known = sorted(self.used)
        for extra in sorted(str(k) for k in self.data if k not in self.used):
            close = difflib.get_close_matches(extra, known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            self.unknown.append(f"{self.file}: {self.prefix}{extra}: unknown key{hint}")


def _language(tag: object) -> str | None:
    """A language CLDR knows (``en``, ``fr``, ``ar``, ``pt-BR``), or None."""
    if not isinstance(tag, str) or not tag.strip():
        return None
    try:
        Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return None
    return tag


def load_console_config(path: Path) -> ConsoleConfig:
    """Load and validate ``path``; raises ConfigError listing every problem, one per line
    (unknown keys first, each with the known key it resembles)."""
    path = path.resolve()
    problems: list[str] = []
    unknown: list[str] = []
    root = _Reader(path, read_yaml(path), "", problems, unknown)

    listen = root.section("listen", required=True)
    host = listen.get("host", "127.0.0.1")
    if not isinstance(host, str) or not _HOST.match(host):
        listen.fail("host", "a host name or IP address, e.g. 127.0.0.1", host)
        host = None
    port = listen.number("port", default=8443, low=0, high=65535, integer=True)
    listen.finish()

    tls = root.section("tls", required=False)
    certificate, private_key = tls.path("certificate"), tls.path("private_key")
    for key, file in (("certificate", certificate), ("private_key", private_key)):
        if file is not None and not file.is_file():
            problems.append(f"{path}: tls.{key}: no such file: {file}")
    given = {key for key in ("certificate", "private_key") if key in tls.data}
    if len(given) == 1:
        [other] = {"certificate", "private_key"} - given
        problems.append(f"{path}: tls.{other}: required with tls.{next(iter(given))}")
    if host is not None and not given and not is_loopback(host):
        problems.append(
            f"{path}: tls: required when listen.host is not loopback ({host!r}); give tls.certificate and"
            " tls.private_key, or listen on 127.0.0.1 behind a reverse proxy that terminates TLS"
        )
    tls.finish()

    node = root.section("node", required=True)
    local_api = node.get("local_api")
    if local_api is not None:
        if not isinstance(local_api, str) or not ENDPOINT.match(local_api):
            node.fail("local_api", "host:port, e.g. 127.0.0.1:7402", local_api)
            local_api = None
        elif not is_loopback(local_api.rsplit(":", 1)[0]):
            node.fail("local_api", "a loopback address (the node's local API is plaintext)", local_api)
            local_api = None
    timeout = node.number("timeout_seconds", default=10.0, low=0.1, high=600)
    node.finish()

    lang = root.section("languages", required=False)
    offered = lang.get("offered", list(DEFAULT_LANGUAGES))
    languages: tuple[str, ...] | None = None
    if not isinstance(offered, list) or not offered:
        lang.fail("offered", "a non-empty list of languages, e.g. [en, fr, ar]", offered)
    else:
        bad = [t for t in offered if _language(t) is None]
        if bad:
            lang.fail("offered", "languages CLDR knows, e.g. [en, fr, ar]", bad)
        elif len(set(offered)) != len(offered):
            lang.fail("offered", "each language once", offered)
        else:
            languages = tuple(offered)
    default = lang.get("default", languages[0] if languages else "en")
    if languages is not None and default not in languages:
        lang.fail("default", f"one of the offered languages {list(languages)}", default)
        default = None
    lang.finish()

    public_origin = root.get("public_origin", "")
    if public_origin != "" and (not isinstance(public_origin, str) or not _ORIGIN.match(public_origin)):
        root.fail("public_origin", "scheme://host[:port] with no path, e.g. https://console.example.org", public_origin)
        public_origin = None
    timezone = root.get("timezone", "UTC")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        root.fail("timezone", "an IANA time zone such as UTC or Europe/Athens", timezone)
        timezone = None
    page_size = root.number("page_size", default=25, low=5, high=200, integer=True)

    logging_ = root.section("logging", required=False)
    log_format = logging_.get("format", "console")
    if log_format not in ("console", "json"):
        logging_.fail("format", "'console' or 'json'", log_format)
    log_level = logging_.get("level", "info")
    if log_level not in ("debug", "info", "warning", "error"):
        logging_.fail("level", "one of debug, info, warning, error", log_level)
    logging_.finish()
    root.finish()

    if unknown or problems:
        raise ConfigError("\n".join(unknown + problems))
    if (
        host is None
        or port is None
        or local_api is None
        or timeout is None
        or languages is None
        or default is None
        or public_origin is None
        or timezone is None
        or page_size is None
    ):  # each was reported as a problem above
        raise ConfigError(f"{path}: the configuration is incomplete")
    return ConsoleConfig(
        source=path,
        host=host,
        port=port,
        tls_certificate=certificate,
        tls_private_key=private_key,
        node_local_api=local_api,
        node_timeout_seconds=float(timeout),
        languages=languages,
        default_language=default,
        public_origin=public_origin,
        timezone=timezone,
        page_size=page_size,
        log_format=log_format,
        log_level=log_level,
    )
