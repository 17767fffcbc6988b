"""The operations listener: Prometheus's ``/metrics``, served on its own address (``metrics:`` in
the node's configuration), never on the peer port or the local API.

Each scrape reads the node's state as it is then (the outbox's queues, the partners' last ping,
the directory and key expiry, the latest checkpoint, the witness alarms kept, the disk), so no
number kept beside the state can drift from it; what leaves no state behind is counted where it
happens (``focalpoint.metrics``). Every series is documented in docs/operations.md. The one
exception is the overdue deadlines by kind, a walk over every link's summary, kept for a minute
(``focalpoint.node.overdue``).

Labels are node ids, key kinds, refusal codes, directions, request kinds and us/partner only, each
from a fixed list: never a case reference, a name, a user id or a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from focalpoint.metrics import DELIVERY_ATTEMPTS, DELIVERY_FAILURES, LOGIN_FAILURES, REFUSALS, Counter
from focalpoint.node.overdue import OverdueCount
from focalpoint.v1 import audit_pb2

if TYPE_CHECKING:
    from focalpoint.server.node import Node

__all__ = ["MetricsServer", "scrape"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Fixed(Collector):
    """The families one scrape read, handed to prometheus-client's text format."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def _gauge(name: str, doc: str, labels: list[str], values: Iterable[tuple[list[str], float]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for label_values, value in values:
        family.add_metric(label_values, value)
    return family


def _counter(counter: Counter, node_id: str) -> CounterMetricFamily:
    family = CounterMetricFamily(counter.name, counter.help, labels=list(counter.labels))
    for values, n in sorted(counter.of(node_id).items()):
        family.add_metric(list(values), n)
    return family


def _checkpoint_issued_ms(raw: bytes) -> int | None:
    if not raw:
        return None
    signed = audit_pb2.SignedCheckpoint.FromString(raw)
    return audit_pb2.Checkpoint.FromString(signed.checkpoint).issued_at_ms


async def scrape(node: Node) -> bytes:
    """The node's series now, in Prometheus's text format."""
    me, now = node.node_id, node.clock_ms()
    queued = await node.store.outbox.queued_by_recipient()
    alarms: dict[str, int] = {}
    for raw in await node.store.audit.alarms():
        peer = audit_pb2.ConflictEvidence.FromString(raw).log_node
        alarms[peer] = alarms.get(peer, 0) + 1
    directory = node.cache.current
    status = dict(node.reachability.status)
    notices = await node.store.notifications.counts()
    families: list[Metric] = [
        _gauge(
            "focalpoint_outbox_queued",
            "Envelopes waiting for delivery, per recipient node",
            ["peer"],
            (([peer], n) for peer, (n, _) in sorted(queued.items())),
        ),
        _gauge(
            "focalpoint_outbox_oldest_age_seconds",
            "Age of the oldest envelope waiting for delivery, per recipient node",
            ["peer"],
            (([peer], max(0, now - oldest) / 1000) for peer, (_, oldest) in sorted(queued.items())),
        ),
        _gauge(
            "focalpoint_partner_reachable",
            "1 when the partner answered the last signed ping, else 0",
            ["peer"],
            (([peer], 1.0 if s.reachable else 0.0) for peer, s in sorted(status.items())),
        ),
        _gauge(
            "focalpoint_partner_file_only",
            "1 for a partner reached by sealed files only (its queue waits for the courier; it is never pinged)",
            ["peer"],
            (([peer], 1.0) for peer in sorted(node.config.sealed_files.file_only)),
        ),
        _gauge(
            "focalpoint_partner_clock_offset_seconds",
            "The partner's clock minus this node's, as last measured (positive: the partner is ahead)",
            ["peer"],
            (([peer], s.clock_offset_ms / 1000) for peer, s in sorted(status.items()) if s.clock_offset_ms is not None),
        ),
        _gauge(
            "focalpoint_directory_expiry_hours",
            "Hours until the directory in use expires (sending is refused after)",
            [],
            [([], (directory.expires_at_ms - now) / 3_600_000)],
        ),
        _gauge(
            "focalpoint_key_expiry_hours",
            "Hours until this node's soonest-expiring ACTIVE key of each kind expires (keys without an end: absent)",
            ["kind"],
            _key_expiry(node, now),
        ),
        _gauge(
            "focalpoint_witness_alarms",
            "Conflicting checkpoints kept as evidence, per partner whose log they are",
            ["peer"],
            (([peer], n) for peer, n in sorted(alarms.items())),
        ),
        _gauge(
            "focalpoint_disk_free_bytes",
            "Free bytes on the file system of the node's database",
            [],
            [([], float(_free_bytes(node.config.database)))],
        ),
        _gauge(
            "focalpoint_notifications_queued",
            "Notifications waiting to be sent, per channel (email, webhook)",
            ["channel"],
            (([channel], queued_n) for channel, (queued_n, _) in notices.items()),
        ),
        _gauge(
            "focalpoint_notifications_given_up",
            "Notifications given up (too many attempts, too old, or refused for good), per channel",
            ["channel"],
            (([channel], given_up) for channel, (_, given_up) in notices.items()),
        ),
        _counter(DELIVERY_ATTEMPTS, me),
        _counter(DELIVERY_FAILURES, me),
        _counter(REFUSALS, me),
        _counter(LOGIN_FAILURES, me),
    ]
    families += _overdue(await node.overdue.read(), now)
    issued = _checkpoint_issued_ms(node.checkpoints.latest_raw)
    if issued is not None:
        families.append(
            _gauge(
                "focalpoint_checkpoint_age_seconds",
                "Seconds since this node signed its latest audit checkpoint",
                [],
                [([], max(0, now - issued) / 1000)],
            )
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families))
    return generate_latest(registry)


def _overdue(count: OverdueCount | None, now: int) -> list[Metric]:
    """Overdue open requests by kind and who owes the answer (``focalpoint.node.overdue``), and the
    count's age: absent until the first count is taken."""
    if count is None:
        return []
    return [
        _gauge(
            "focalpoint_deadlines_overdue",
            "Open requests past their due date on active links, by request kind and who owes the answer",
            ["kind", "owed_by"],
            (([kind, by], n) for (kind, by), n in count.series()),
        ),
        _gauge(
            "focalpoint_deadlines_overdue_age_seconds",
            "Seconds since focalpoint_deadlines_overdue was counted (a scrape recounts it past a minute)",
            [],
            [([], max(0, now - count.at_ms) / 1000)],
        ),
    ]


def _key_expiry(node: Node, now: int) -> list[tuple[list[str], float]]:
    info = node.cache.current.node(node.node_id)
    if info is None:
        return []
    out = []
    for kind, keys in (("signing", info.signing_keys), ("encryption", info.encryption_keys), ("log", info.log_keys)):
        ends = [k.not_after_ms for k in keys.values() if k.status.name == "ACTIVE" and k.not_after_ms]
        if ends:
            out.append(([kind], (min(ends) - now) / 3_600_000))
    return out


def _free_bytes(database: Path) -> int:
    try:
        return shutil.disk_usage(database.parent).free
    except OSError:
        return 0


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the node's process handles them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class MetricsServer:
    """``/metrics`` over plain HTTP on the node's event loop, started and stopped with the node."""

    def __init__(self, node: Node, host: str, port: int) -> None:
        self._node = node
        self._host, self._port = host, port
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None
        self.port = 0

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != "/metrics" or scope["method"] not in ("GET", "HEAD"):
            status, body, kind = 404, b"not found: the operations listener serves GET /metrics only\n", "text/plain"
        else:
            status, body, kind = 200, await scrape(self._node), CONTENT_TYPE
        headers = [(b"content-type", kind.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body if scope["method"] != "HEAD" else b""})

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self._host.strip("[]") else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host.strip("[]"), self._port))
            sock.listen(64)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock, self.port = sock, sock.getsockname()[1]
        server = self._server = _Server(
            uvicorn.Config(
                self._app, access_log=False, log_config=None, server_header=False, lifespan="off", interface="asgi3"
            )
        )
        task = self._task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                await task
                raise RuntimeError("the metrics listener stopped before it started")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sock is not None:
            self._sock.close()
