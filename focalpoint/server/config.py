"""Node configuration: one YAML file per node, validated completely before anything starts.

Every error names the file, the key and what was expected, e.g.
``node.yaml: listen.peer: expected host:port, got 'localhost'``. Unknown keys are
errors too (a typo must not silently fall back to a default). Relative paths are
resolved against the config file's directory. See config/node.example.yaml.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from focalpoint.errors import ConfigError
from focalpoint.ids import ENDPOINT as _HOSTPORT
from focalpoint.ids import NODE_ID as _NODE_ID

__all__ = ["DeliveryConfig", "DirectoryConfig", "NodeConfig", "ReachabilityConfig", "load_config"]

_ENV = re.compile(r"^[A-Z_][A-Z0-9_]*\Z")


@dataclass(frozen=True, slots=True)
class DirectoryConfig:
    # The root this node trusts to begin with (a signed Root document); later roots must chain from it.
    root: Path
    # Where bundles come from: a file the administrators' publishing step (or a sync job) writes,
    # and/or directory services (publishers or mirrors) to poll; at least one of the two.
    bundle: Path | None
    servers: tuple[str, ...]
    refresh_seconds: float
    # Warn when the directory expires within this many hours.
    expiry_warning_hours: float


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    max_envelope_bytes: int
    message_ttl_seconds: int
    retry_initial_seconds: float
    retry_max_seconds: float
    batch_size: int
    clock_skew_seconds: int
    call_timeout_seconds: float


@dataclass(frozen=True, slots=True)
class ReachabilityConfig:
    # How often to ping every agreement partner (signed ping over the real channel).
    interval_seconds: float
    timeout_seconds: float


@dataclass(frozen=True, slots=True)
class AuditConfig:
    # How often to sign a checkpoint when the log has grown, and to witness every partner's.
    checkpoint_interval_seconds: float
    witness_interval_seconds: float


@dataclass(frozen=True, slots=True)
class NodeConfig:
    source: Path
    node_id: str
    keys_file: Path
    passphrase_env: str | None
    listen_peer: str
    listen_local: str
    database: Path
    directory: DirectoryConfig
    delivery: DeliveryConfig
    reachability: ReachabilityConfig
    audit: AuditConfig
    log_format: str
    log_level: str


class _Reader:
    """Walks a mapping, recording which keys were used so leftovers can be reported."""

    def __init__(self, file: Path, data: Mapping[str, Any], prefix: str) -> None:
        self.file, self.data, self.prefix, self.used = file, data, prefix, set[str]()

    def _where(self, key: str) -> str:
        return f"{self.file}: {self.prefix}{key}"

    def fail(self, key: str, expected: str, got: object) -> ConfigError:
        return ConfigError(f"{self._where(key)}: expected {expected}, got {got!r}")

    def get(self, key: str, default: Any = ...) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                raise ConfigError(f"{self._where(key)}: required key is missing")
            return default
        return self.data[key]

    def section(self, key: str, *, required: bool = True) -> _Reader:
        value = self.get(key, ... if required else {})
        if not isinstance(value, Mapping):
            raise self.fail(key, "a mapping", value)
        return _Reader(self.file, value, f"{self.prefix}{key}.")

    def string(self, key: str, pattern: re.Pattern[str] | None = None, what: str = "a string", **kw: Any) -> str:
        value = self.get(key, **kw)
        if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
            raise self.fail(key, what, value)
        return value

    def number(self, key: str, *, default: float, low: float, high: float, integer: bool = False) -> Any:
        value = self.get(key, default)
        kind = int if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
            raise self.fail(key, f"{'an integer' if integer else 'a number'} in [{low}, {high}]", value)
        return value

    def path(self, key: str, **kw: Any) -> Path:
        value = self.string(key, what="a file path", **kw)
        if not value.strip():
            raise self.fail(key, "a non-empty file path", value)
        return (self.file.parent / value).resolve()

    def finish(self) -> None:
        # YAML keys need not be strings (`on:` is True), so sort and print them as text.
        extra = sorted(str(k) for k in set(self.data) - self.used)
        if extra:
            raise ConfigError(f"{self.file}: {self.prefix}{extra[0]}: unknown key")


def _hostport(r: _Reader, key: str) -> str:
    value = r.string(key, _HOSTPORT, "host:port, e.g. 127.0.0.1:7401")
    port = int(value.rsplit(":", 1)[1])
    if not 0 <= port <= 65535:
        raise r.fail(key, "a port in [0, 65535]", value)
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_config(path: Path) -> NodeConfig:
    """Load and validate ``path``; raises ConfigError on the first problem found."""
    path = path.resolve()
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
    root = _Reader(path, data, "")

    node = root.section("node")
    node_id = node.string("id", _NODE_ID, "a lowercase DNS label such as 'gr-ekka'")
    keys_file = node.path("keys_file")
    passphrase_env = node.get("passphrase_env", None)
    if passphrase_env is not None and (not isinstance(passphrase_env, str) or not _ENV.match(passphrase_env)):
        raise node.fail("passphrase_env", "an environment variable name", passphrase_env)
    node.finish()

    listen = root.section("listen")
    listen_peer = _hostport(listen, "peer")
    listen_local = _hostport(listen, "local")
    if not _is_loopback(listen_local.rsplit(":", 1)[0]):
        raise listen.fail(
            "local", "a loopback address (127.0.0.1, [::1] or localhost): the local API is plaintext", listen_local
        )
    listen.finish()
    if listen_peer == listen_local:
        raise ConfigError(f"{path}: listen.local: must differ from listen.peer")

    storage = root.section("storage")
    database = storage.path("database")
    storage.finish()

    d = root.section("directory")
    servers_raw = d.get("servers", [])
    if not isinstance(servers_raw, list) or not all(
        isinstance(x, str) and (m := _HOSTPORT.match(x)) and 1 <= int(m.group(1)) <= 65535 for x in servers_raw
    ):
        raise d.fail("servers", "a list of host:port directory services (port 1-65535)", servers_raw)
    bundle_path = d.path("bundle") if "bundle" in d.data else None
    d.used.add("bundle")
    if bundle_path is None and not servers_raw:
        raise ConfigError(f"{path}: directory: give a bundle file, directory servers, or both")
    directory = DirectoryConfig(
        root=d.path("root"),
        bundle=bundle_path,
        servers=tuple(servers_raw),
        refresh_seconds=d.number("refresh_seconds", default=30.0, low=0.1, high=86400),
        # Timestamps are typically valid 24 h and renewed well before: warn when one is overdue.
        expiry_warning_hours=d.number("expiry_warning_hours", default=6.0, low=0, high=24 * 365),
    )
    d.finish()

    dl = root.section("delivery", required=False)
    delivery = DeliveryConfig(
        max_envelope_bytes=dl.number("max_envelope_bytes", default=1 << 20, low=4096, high=64 << 20, integer=True),
        message_ttl_seconds=dl.number("message_ttl_seconds", default=14 * 86400, low=60, high=30 * 86400, integer=True),
        retry_initial_seconds=dl.number("retry_initial_seconds", default=0.5, low=0.01, high=3600),
        retry_max_seconds=dl.number("retry_max_seconds", default=300.0, low=0.01, high=86400),
        batch_size=dl.number("batch_size", default=64, low=1, high=4096, integer=True),
        clock_skew_seconds=dl.number("clock_skew_seconds", default=120, low=0, high=3600, integer=True),
        call_timeout_seconds=dl.number("call_timeout_seconds", default=30.0, low=0.1, high=600),
    )
    dl.finish()
    if delivery.retry_max_seconds < delivery.retry_initial_seconds:
        raise ConfigError(f"{path}: delivery.retry_max_seconds: must be ≥ retry_initial_seconds")

    rc = root.section("reachability", required=False)
    reachability = ReachabilityConfig(
        interval_seconds=rc.number("interval_seconds", default=300.0, low=1, high=86400),
        timeout_seconds=rc.number("timeout_seconds", default=10.0, low=0.1, high=600),
    )
    rc.finish()

    au = root.section("audit", required=False)
    audit = AuditConfig(
        checkpoint_interval_seconds=au.number("checkpoint_interval_seconds", default=60.0, low=0.05, high=86400),
        witness_interval_seconds=au.number("witness_interval_seconds", default=300.0, low=0.05, high=86400),
    )
    au.finish()

    lg = root.section("logging", required=False)
    log_format = lg.get("format", "console")
    if log_format not in ("console", "json"):
        raise lg.fail("format", "'console' or 'json'", log_format)
    log_level = lg.get("level", "info")
    if log_level not in ("debug", "info", "warning", "error"):
        raise lg.fail("level", "one of debug, info, warning, error", log_level)
    lg.finish()
    root.finish()

    return NodeConfig(
        source=path,
        node_id=node_id,
        keys_file=keys_file,
        passphrase_env=passphrase_env,
        listen_peer=listen_peer,
        listen_local=listen_local,
        database=database,
        directory=directory,
        delivery=delivery,
        reachability=reachability,
        audit=audit,
        log_format=log_format,
        log_level=log_level,
    )
