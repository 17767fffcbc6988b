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
from dataclasses import dataclass
from pathlib import Path

from adapters.mail import LANGUAGES, MailConfig, Recipient, check_address
from focalpoint.configfile import Problems, SectionReader, is_loopback, read_yaml
from focalpoint.errors import ConfigError
from focalpoint.ids import ENDPOINT as _HOSTPORT
from focalpoint.ids import NODE_ID as _NODE_ID

__all__ = [
    "AccountsConfig",
    "DeadlinesConfig",
    "DeliveryConfig",
    "DirectoryConfig",
    "MetricsConfig",
    "NodeConfig",
    "ReachabilityConfig",
    "SealedFilesConfig",
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
    mail: MailConfig | None = None  # e-mail notifications: off when the file has no notifications section
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
    mail = _notifications(root) if "notifications" in root.data else None

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
        mail=mail,
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


def _notifications(root: SectionReader) -> MailConfig | None:
    """The ``notifications`` section: the SMTP server (``email``) and each user's address and
    language (``recipients``); None when wrong (reported)."""
    section = root.section("notifications")
    em = section.section("email")
    host = em.string("host", re.compile(r"^[A-Za-z0-9.:\[\]-]+\Z"), "a host name or IP address")
    port = em.number("port", default=587, low=1, high=65535, integer=True)
    if em.get("starttls", True) is not True:
        em.fail("starttls", "true (mail is sent only over STARTTLS)", em.data.get("starttls"))
    username = em.string("username", re.compile(r"^\S+\Z"), "a user name")
    password_file = em.path("password_file")
    sender = em.get("from")
    if "from" in em.data and (problem := check_address(sender)):
        em.fail("from", problem, sender)
    url = em.string(
        "console_url", re.compile(r"^https?://[^\s]+\Z"), "the console's URL, e.g. https://focalpoint.example.org/"
    )
    timeout = em.number("timeout_seconds", default=30.0, low=1, high=600)
    attempts = em.number("attempts", default=5, low=1, high=20, integer=True)
    retry_initial = em.number("retry_initial_seconds", default=5.0, low=0.01, high=3600)
    retry_max = em.number("retry_max_seconds", default=300.0, low=0.01, high=86400)
    em.finish()
    recipients: dict[str, Recipient] = {}
    rs = section.section("recipients", required=False)
    for user in rs.data:
        entry = rs.section(str(user))
        email = entry.get("email")
        if "email" in entry.data and (problem := check_address(email)):
            entry.fail("email", problem, "<address>")  # the value is personal data: not repeated
            email = None
        language = entry.get("language", "en")
        if language not in LANGUAGES:
            entry.fail("language", "one of " + ", ".join(LANGUAGES), language)
        entry.finish()
        if isinstance(email, str) and language in LANGUAGES:
            recipients[str(user)] = Recipient(email=email, language=language)
    rs.finish()
    section.finish()
    values = (host, port, username, password_file, url, timeout, attempts, retry_initial, retry_max)
    if any(v is None for v in values) or not isinstance(sender, str) or check_address(sender):
        return None
    # For mypy: each was checked just above.
    assert host is not None
    assert username is not None
    assert password_file is not None
    assert url is not None
    return MailConfig(
        host=host,
        port=port,
        username=username,
        password_file=password_file,
        sender=sender,
        console_url=url,
        recipients=recipients,
        timeout_seconds=timeout,
        attempts=attempts,
        retry_initial_seconds=retry_initial,
        retry_max_seconds=retry_max,
    )
