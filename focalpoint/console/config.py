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

import re
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

from babel import Locale, UnknownLocaleError

from focalpoint.configfile import Problems, SectionReader, is_loopback, read_yaml
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


def _file(r: SectionReader, key: str) -> Path | None:
    """An optional file path, resolved against the file's directory (None when absent, or when
    wrong: reported)."""
    if key not in r.data:
        r.used.add(key)
        return None
    value = r.get(key)
    if not isinstance(value, str) or not value.strip():
        r.fail(key, "a file path", value)
        return None
    return (r.problems.file.parent / value).resolve()


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
    # Unlike the node's, this file reports a section's missing keys under its own missing-key
    # line, and reads a section written with nothing under it as empty.
    problems = Problems(path, consequences=True, bare_sections=True)
    root = SectionReader(problems, read_yaml(path))

    listen = root.section("listen", required=True)
    host = listen.get("host", "127.0.0.1")
    if not isinstance(host, str) or not _HOST.match(host):
        listen.fail("host", "a host name or IP address, e.g. 127.0.0.1", host)
        host = None
    port = listen.number("port", default=8443, low=0, high=65535, integer=True)
    listen.finish()

    tls = root.section("tls", required=False)
    certificate, private_key = _file(tls, "certificate"), _file(tls, "private_key")
    for key, file in (("certificate", certificate), ("private_key", private_key)):
        if file is not None and not file.is_file():
            problems.add(f"tls.{key}", f"no such file: {file}")
    given = {key for key in ("certificate", "private_key") if key in tls.data}
    if len(given) == 1:
        [other] = {"certificate", "private_key"} - given
        problems.add(f"tls.{other}", f"required with tls.{next(iter(given))}")
    if host is not None and not given and not is_loopback(host):
        problems.add(
            "tls",
            f"required when listen.host is not loopback ({host!r}); give tls.certificate and"
            " tls.private_key, or listen on 127.0.0.1 behind a reverse proxy that terminates TLS",
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

    problems.raise_any()
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
