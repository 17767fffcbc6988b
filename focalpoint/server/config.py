"""Node configuration: one YAML file per node, validated completely before anything starts.

Every error names the file, the key and what was expected, e.g.
``node.yaml: listen.peer: expected host:port, got 'localhost'``. Unknown keys are
errors too (a typo must not silently fall back to a default), reported first and with the
known key they resemble (``node.yaml: node.keys-file: unknown key (did you mean
keys_file?)``, which then is not also reported as missing). The whole file is read before
anything is reported, so one ConfigError lists every problem, one per line. Relative paths
are resolved against the config file's directory. See config/node.example.yaml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from adapters.mail import MailConfig, check_address
from adapters.webhook import url_problem
from focalpoint.configfile import Problems, SectionReader, is_loopback, read_yaml
from focalpoint.errors import ConfigError
from focalpoint.ids import ENDPOINT as _HOSTPORT
from focalpoint.ids import NODE_ID as _NODE_ID
from focalpoint.node.notify import RetryPolicy
from focalpoint.people.notices import FAMILIES

__all__ = [
    "AccountsConfig",
    "DeadlinesConfig",
    "DeliveryConfig",
    "DirectoryConfig",
    "MetricsConfig",
    "NodeConfig",
    "NotificationsConfig",
    "ReachabilityConfig",
    "SealedFilesConfig",
    "TracingConfig",
    "WebhookConfig",
    "load_config",
]

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
class DeadlinesConfig:
    # How often the node scans the open links' deadlines (reminders, escalations, the guardian ladder).
    scan_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class AccountsConfig:
    # argon2id cost (RFC 9106's low-memory profile by default; never below OWASP's minimum).
    password_time_cost: int = 3
    password_memory_kib: int = 65536
    password_parallelism: int = 4
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    lockout_failures: int = 6
    lockout_minutes: int = 30
    # The anomaly alert's threshold: distinct cases one user reads in an hour.
    anomaly_reads_per_hour: int = 20


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    # Where Prometheus scrapes /metrics (plain HTTP; loopback unless the operator says otherwise).
    host: str = "127.0.0.1"
    port: int = 9464


@dataclass(frozen=True, slots=True)
class TracingConfig:
    # OpenTelemetry spans to an OTLP/gRPC collector (the focalpoint[otel] extra); docs/operations.md §7.3.
    endpoint: str  # http://host:port (plaintext, e.g. a collector on loopback) or https://host:port
    service_name: str = "focalpoint"
    sample_ratio: float = 1.0


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """One ``notifications.webhooks`` entry: where, the secret's file, the families it takes (empty: all)."""

    url: str
    secret_file: Path
    families: frozenset[str] = frozenset()
    timeout_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class NotificationsConfig:
    """The ``notifications`` section: the console's link, e-mail and/or webhooks, and how long the
    durable queue tries a notification."""

    console_url: str
    mail: MailConfig | None = None
    webhooks: tuple[WebhookConfig, ...] = ()
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True, slots=True)
class SealedFilesConfig:
    # Partners reached by sealed files only (docs/adr/0020): no network attempt, ping or alarm.
    file_only: frozenset[str] = frozenset()
    # The largest sealed file written or read (the local API carries it in one message).
    max_file_bytes: int = 32 << 20
    # How long after it is made a file is accepted (its not_after).
    file_lifetime_seconds: int = 14 * 86400


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
    accounts: AccountsConfig = AccountsConfig()
    deadlines: DeadlinesConfig = DeadlinesConfig()
    metrics: MetricsConfig | None = None  # off when the file has no metrics section
    # E-mail and webhook notifications: off when the file has no notifications section.
    notifications: NotificationsConfig | None = None
    tracing: TracingConfig | None = None  # off when the file has no tracing section
    sealed_files: SealedFilesConfig = SealedFilesConfig()


def _hostport(r: SectionReader, key: str) -> str | None:
    value = r.string(key, _HOSTPORT, "host:port, e.g. 127.0.0.1:7401")
    if value is None:
        return None
    port = int(value.rsplit(":", 1)[1])
    if not 0 <= port <= 65535:
        r.fail(key, "a port in [0, 65535]", value)
        return None
    return value


def load_config(path: Path) -> NodeConfig:
    """Load and validate ``path``; raises ConfigError listing every problem found, one per line:
    unknown keys first (each with the known key it resembles), then the others in file order."""
    path = path.resolve()
    problems = Problems(path)
    root = SectionReader(problems, read_yaml(path))

    node = root.section("node")
    node_id = node.string("id", _NODE_ID, "a lowercase DNS label such as 'gr-ekka'")
    keys_file = node.path("keys_file")
    passphrase_env = node.get("passphrase_env", None)
    if passphrase_env is not None and (not isinstance(passphrase_env, str) or not _ENV.match(passphrase_env)):
        node.fail("passphrase_env", "an environment variable name", passphrase_env)
    node.finish()

    listen = root.section("listen")
    listen_peer = _hostport(listen, "peer")
    listen_local = _hostport(listen, "local")
    if listen_local is not None and not is_loopback(listen_local.rsplit(":", 1)[0]):
        listen.fail(
            "local", "a loopback address (127.0.0.1, [::1] or localhost): the local API is plaintext", listen_local
        )
    elif listen_local is not None and listen_peer == listen_local:
        problems.add("listen.local", "must differ from listen.peer")
    listen.finish()

    storage = root.section("storage")
    database = storage.path("database")
    storage.finish()

    directory = _directory(root.section("directory"))

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
    first, most = delivery.retry_initial_seconds, delivery.retry_max_seconds
    if first is not None and most is not None and most < first:
        problems.add("delivery.retry_max_seconds", "must be ≥ retry_initial_seconds")
    dl.finish()

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

    ac = root.section("accounts", required=False)
    accounts = AccountsConfig(
        password_time_cost=ac.number("password_time_cost", default=3, low=2, high=20, integer=True),
        password_memory_kib=ac.number("password_memory_kib", default=65536, low=19456, high=4194304, integer=True),
        password_parallelism=ac.number("password_parallelism", default=4, low=1, high=16, integer=True),
        session_idle_minutes=ac.number("session_idle_minutes", default=30, low=1, high=240, integer=True),
        session_absolute_hours=ac.number("session_absolute_hours", default=12, low=1, high=24, integer=True),
        lockout_failures=ac.number("lockout_failures", default=6, low=3, high=20, integer=True),
        lockout_minutes=ac.number("lockout_minutes", default=30, low=1, high=1440, integer=True),
        anomaly_reads_per_hour=ac.number("anomaly_reads_per_hour", default=20, low=1, high=100000, integer=True),
    )
    ac.finish()
    idle, absolute = accounts.session_idle_minutes, accounts.session_absolute_hours
    if idle is not None and absolute is not None and idle > absolute * 60:
        problems.add("accounts.session_idle_minutes", "must not be longer than session_absolute_hours")

    dc = root.section("deadlines", required=False)
    deadlines = DeadlinesConfig(scan_seconds=dc.number("scan_seconds", default=60.0, low=1, high=86400))
    dc.finish()

    metrics = _metrics(root) if "metrics" in root.data else None
    sealed_files = _sealed_files(root.section("sealed_files", required=False), node_id)
    notifications = _notifications(root) if "notifications" in root.data else None
    tracing = _tracing(root) if "tracing" in root.data else None

    lg = root.section("logging", required=False)
    log_format = lg.get("format", "console")
    if log_format not in ("console", "json"):
        lg.fail("format", "'console' or 'json'", log_format)
    log_level = lg.get("level", "info")
    if log_level not in ("debug", "info", "warning", "error"):
        lg.fail("level", "one of debug, info, warning, error", log_level)
    lg.finish()
    root.finish()

    problems.raise_any()
    if (
        node_id is None
        or keys_file is None
        or listen_peer is None
        or listen_local is None
        or database is None
        or directory is None
    ):  # each was reported as a problem above
        raise ConfigError(f"{path}: the configuration is incomplete")
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
        accounts=accounts,
        deadlines=deadlines,
        metrics=metrics,
        notifications=notifications,
        tracing=tracing,
        sealed_files=sealed_files,
    )


def _directory(d: SectionReader) -> DirectoryConfig | None:
    """The ``directory`` section (None when it has problems, which are recorded)."""
    servers = d.get("servers", [])
    if not isinstance(servers, list) or not all(
        isinstance(x, str) and (m := _HOSTPORT.match(x)) and 1 <= int(m.group(1)) <= 65535 for x in servers
    ):
        d.fail("servers", "a list of host:port directory services (port 1-65535)", servers)
        servers = None
    bundle = d.path("bundle") if "bundle" in d.data else None
    d.used.add("bundle")
    if d.present and servers == [] and "bundle" not in d.data:
        d.problems.add("directory", "give a bundle file, directory servers, or both")
    root = d.path("root")
    refresh_seconds = d.number("refresh_seconds", default=30.0, low=0.1, high=86400)
    # Timestamps are typically valid 24 h and renewed well before: warn when one is overdue.
    expiry_warning_hours = d.number("expiry_warning_hours", default=6.0, low=0, high=24 * 365)
    d.finish()
    if servers is None or root is None or refresh_seconds is None or expiry_warning_hours is None:
        return None
    if "bundle" in d.data and bundle is None:
        return None
    return DirectoryConfig(
        root=root,
        bundle=bundle,
        servers=tuple(servers),
        refresh_seconds=refresh_seconds,
        expiry_warning_hours=expiry_warning_hours,
    )


def _sealed_files(section: SectionReader, node_id: str | None) -> SealedFilesConfig:
    """The ``sealed_files`` section (docs/operations.md "Sealed files"); problems are recorded."""
    file_only = section.get("file_only", [])
    if not isinstance(file_only, list) or not all(isinstance(x, str) and _NODE_ID.match(x) for x in file_only):
        section.fail("file_only", "a list of partner node ids, e.g. [al-mlsp]", file_only)
        file_only = []
    elif node_id is not None and node_id in file_only:
        section.fail("file_only", "partners only, not this node's own id", file_only)
        file_only = []
    elif len(set(file_only)) != len(file_only):
        section.fail("file_only", "each partner once", file_only)
        file_only = []
    max_file_bytes = section.number("max_file_bytes", default=32 << 20, low=1 << 20, high=60 << 20, integer=True)
    lifetime = section.number("file_lifetime_seconds", default=14 * 86400, low=3600, high=30 * 86400, integer=True)
    section.finish()
    return SealedFilesConfig(
        file_only=frozenset(file_only),
        max_file_bytes=max_file_bytes if max_file_bytes is not None else 32 << 20,
        file_lifetime_seconds=lifetime if lifetime is not None else 14 * 86400,
    )


def _metrics(root: SectionReader) -> MetricsConfig | None:
    """The ``metrics`` section: where the operations listener serves /metrics (None when wrong: reported)."""
    section = root.section("metrics")
    listen = section.section("listen", required=False)
    host = listen.get("host", "127.0.0.1")
    if not isinstance(host, str) or not host.strip() or any(c.isspace() for c in host):
        listen.fail("host", "a host name or IP address, e.g. 127.0.0.1", host)
        host = None
    port = listen.number("port", default=9464, low=0, high=65535, integer=True)
    listen.finish()
    section.finish()
    if host is None or port is None:
        return None
    return MetricsConfig(host=host, port=port)


_SERVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z")


def _otlp_endpoint(value: object) -> bool:
    """``value`` is ``http(s)://host[:port]``: no path, query, fragment or credentials (a
    collector's address, not a place for a secret)."""
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return False
    url = urlsplit(value)
    try:
        port = url.port
    except ValueError:
        return False
    return (
        url.scheme in ("http", "https")
        and bool(url.hostname)
        and url.path in ("", "/")
        and not url.query
        and not url.fragment
        and url.username is None
        and (port is None or 1 <= port <= 65535)
    )


def _tracing(root: SectionReader) -> TracingConfig | None:
    """The ``tracing`` section: where spans go, under which service name, how many are kept (None
    when wrong: reported). Whether the OpenTelemetry extra is installed is checked when the node
    opens (``focalpoint.server.tracing``), not here: reading a configuration imports nothing."""
    section = root.section("tracing")
    endpoint = section.get("endpoint")
    if "endpoint" in section.data and not _otlp_endpoint(endpoint):
        section.fail("endpoint", "an OTLP/gRPC collector's URL, http://host:port or https://host:port", endpoint)
        endpoint = None
    service = section.get("service_name", "focalpoint")
    if not isinstance(service, str) or not _SERVICE_NAME.match(service):
        section.fail("service_name", "1-63 letters, digits, '.', '_' or '-', e.g. focalpoint-gr-ekka", service)
        service = None
    ratio = section.number("sample_ratio", default=1.0, low=0.0, high=1.0)
    section.finish()
    if not isinstance(endpoint, str) or service is None or ratio is None:
        return None
    return TracingConfig(endpoint=endpoint, service_name=service, sample_ratio=float(ratio))


_CONSOLE_URL = re.compile(r"^https?://[^\s]+\Z")


def _notifications(root: SectionReader) -> NotificationsConfig | None:
    """The ``notifications`` section: the console's URL, the SMTP server (``email``), the webhook
    endpoints (``webhooks``; at least one of the two) and the queue's ``retry``; None when wrong
    (reported)."""
    section = root.section("notifications")
    url = section.string("console_url", _CONSOLE_URL, "the console's URL, e.g. https://focalpoint.example.org/")
    mail = _email(section.section("email"), url or "") if "email" in section.data else None
    webhooks = _webhooks(section) if "webhooks" in section.data else ()
    if section.present and "email" not in section.data and "webhooks" not in section.data:
        section.problems.add("notifications", "give email, webhooks, or both")
    rt = section.section("retry", required=False)
    retry = RetryPolicy(
        initial_s=rt.number("initial_seconds", default=5.0, low=0.01, high=3600),
        max_s=rt.number("max_seconds", default=300.0, low=0.01, high=86400),
        attempts=rt.number("attempts", default=8, low=1, high=100, integer=True),
        max_age_s=(rt.number("max_age_hours", default=24.0, low=0.01, high=24 * 30) or 0) * 3600,
    )
    if retry.initial_s is not None and retry.max_s is not None and retry.max_s < retry.initial_s:
        section.problems.add("notifications.retry.max_seconds", "must be ≥ initial_seconds")
    rt.finish()
    section.finish()
    if url is None or webhooks is None or None in (retry.initial_s, retry.max_s, retry.attempts) or not retry.max_age_s:
        return None
    if "email" in section.data and mail is None:
        return None
    return NotificationsConfig(console_url=url, mail=mail, webhooks=webhooks, retry=retry)


def _email(em: SectionReader, console_url: str) -> MailConfig | None:
    """``notifications.email``: the SMTP server (None when wrong: reported)."""
    host = em.string("host", re.compile(r"^[A-Za-z0-9.:\[\]-]+\Z"), "a host name or IP address")
    port = em.number("port", default=587, low=1, high=65535, integer=True)
    if em.get("starttls", True) is not True:
        em.fail("starttls", "true (mail is sent only over STARTTLS)", em.data.get("starttls"))
    username = em.string("username", re.compile(r"^\S+\Z"), "a user name")
    password_file = em.path("password_file")
    sender = em.get("from")
    if "from" in em.data and (problem := check_address(sender)):
        em.fail("from", problem, sender)
    timeout = em.number("timeout_seconds", default=30.0, low=1, high=600)
    em.finish()
    if host is None or port is None or username is None or password_file is None or timeout is None:
        return None
    if not isinstance(sender, str) or check_address(sender):
        return None
    return MailConfig(
        host=host,
        port=port,
        username=username,
        password_file=password_file,
        sender=sender,
        console_url=console_url,
        timeout_seconds=timeout,
    )


def _webhooks(section: SectionReader) -> tuple[WebhookConfig, ...] | None:
    """``notifications.webhooks``: a list of endpoints (None when wrong: reported)."""
    entries = section.get("webhooks")
    if not isinstance(entries, list) or not entries:
        section.fail("webhooks", "a list of endpoints (url, secret_file, optional events)", entries)
        return None
    out: list[WebhookConfig] = []
    ok = True
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            section.fail(f"webhooks[{i}]", "a mapping with url and secret_file", entry)
            ok = False
            continue
        w = SectionReader(section.problems, entry, f"{section.prefix}webhooks[{i}].", present=True)
        url = w.get("url")
        if "url" in w.data and (problem := url_problem(url)):
            w.fail("url", problem, url)
            url = None
        secret_file = w.path("secret_file")
        events = w.get("events", [])
        if not isinstance(events, list) or not all(e in FAMILIES for e in events):
            w.fail("events", "a list of notification families: " + ", ".join(FAMILIES), events)
            events = None
        timeout = w.number("timeout_seconds", default=10.0, low=0.1, high=120)
        w.finish()
        if not isinstance(url, str) or secret_file is None or events is None or timeout is None:
            ok = False
            continue
        out.append(WebhookConfig(url, secret_file, frozenset(events), timeout))
    if len({w.url for w in out}) < len(out):
        section.problems.add("notifications.webhooks", "each endpoint's url must differ")
        ok = False
    return tuple(out) if ok else None
