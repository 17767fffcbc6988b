"""gRPC health (``grpc.health.v1.Health``) that says what the node can do now, per service.

A load balancer, a monitoring probe or an operator with ``grpcurl`` asks one question: can this
service do its work? The answer is worked out from four conditions the node already knows:

- the directory has expired (its timestamp's expiry is past): the node sends nothing and cannot
  trust what peers send;
- the disk is full (``Store.full_since``): nothing can be stored, not even the audit event every
  read of the local API writes;
- the database cannot keep its high-water mark (``Store.mark_behind_since``; ``storage.sqlite.hwm``):
  commits go on, but a database that lost them would not be caught at the next start, so the node
  takes on no new commitments;
- the node cannot sign: the directory lists none of its signing keys as ACTIVE and valid now.

``statuses`` maps them to the services (pure); ``HealthWatcher`` re-evaluates every few seconds
and when poked (a new directory), sets only what changed and logs each change.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog
from grpc_health.v1 import health_pb2
from grpc_health.v1._async import HealthServicer

from directory import Directory
from directory.model import KeyStatus

__all__ = [
    "LOCAL_SERVICE",
    "OVERALL",
    "PEER_SERVICE",
    "SERVICES",
    "SUBMIT_SERVICE",
    "Condition",
    "HealthWatcher",
    "Probe",
    "can_sign",
    "conditions",
    "statuses",
]

log = structlog.get_logger("focalpoint.health")

PEER_SERVICE = "focalpoint.v1.NodeService"
LOCAL_SERVICE = "focalpoint.v1.LocalService"
# Not a gRPC service of its own: whether a Submit on the local API can go through now.
SUBMIT_SERVICE = "focalpoint.submit"
OVERALL = ""
SERVICES = (OVERALL, PEER_SERVICE, LOCAL_SERVICE, SUBMIT_SERVICE)


class Condition(enum.StrEnum):
    DIRECTORY_EXPIRED = "directory_expired"
    DISK_FULL = "disk_full"
    STORE_BEHIND = "store_behind"
    CANNOT_SIGN = "cannot_sign"


_ALL = frozenset(SERVICES)
# What each condition stops. Reading cases through the local API needs the disk (every read is an
# audit event), not a current directory or a signing key.
AFFECTS: Mapping[Condition, frozenset[str]] = {
    Condition.DIRECTORY_EXPIRED: frozenset({OVERALL, PEER_SERVICE, SUBMIT_SERVICE}),
    Condition.DISK_FULL: _ALL,
    Condition.STORE_BEHIND: frozenset({OVERALL, PEER_SERVICE, SUBMIT_SERVICE}),
    Condition.CANNOT_SIGN: frozenset({OVERALL, PEER_SERVICE, SUBMIT_SERVICE}),
}


@dataclass(frozen=True, slots=True)
class Probe:
    """What the watcher reads each time (all cheap, no I/O)."""

    now_ms: int
    directory_expires_at_ms: int
    full_since: float | None
    mark_behind_since: float | None
    can_sign: bool


def conditions(probe: Probe) -> frozenset[Condition]:
    found = set()
    if probe.directory_expires_at_ms <= probe.now_ms:
        found.add(Condition.DIRECTORY_EXPIRED)
    if probe.full_since is not None:
        found.add(Condition.DISK_FULL)
    if probe.mark_behind_since is not None:
        found.add(Condition.STORE_BEHIND)
    if not probe.can_sign:
        found.add(Condition.CANNOT_SIGN)
    return frozenset(found)


def statuses(found: frozenset[Condition]) -> dict[str, bool]:
    """Whether each service is SERVING under ``found``."""
    down = set().union(*(AFFECTS[c] for c in found)) if found else set()
    return {service: service not in down for service in SERVICES}


def can_sign(directory: Directory, node_id: str, key_id: str, now_ms: int) -> bool:
    """The directory lists ``key_id`` as an ACTIVE signing key of ``node_id``, valid at ``now_ms``."""
    me = directory.node(node_id)
    info = me.signing_keys.get(key_id) if me is not None else None
    return info is not None and info.status is KeyStatus.ACTIVE and info.valid_at(now_ms)


def _status(serving: bool) -> health_pb2.HealthCheckResponse.ServingStatus.ValueType:
    return health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING


class HealthWatcher:
    """Keeps ``servicer``'s statuses in step with ``probe``: at ``evaluate``, every ``interval_s``
    while started, and soon after ``poke``. One task, cancelled by ``stop``."""

    def __init__(self, servicer: HealthServicer, probe: Callable[[], Probe], *, interval_s: float = 2.0) -> None:
        self._servicer = servicer
        self._probe = probe
        self._interval_s = interval_s
        self._serving: dict[str, bool] = {}
        self._found: frozenset[Condition] = frozenset()
        self._poked = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def found(self) -> frozenset[Condition]:
        """The conditions at the last evaluation."""
        return self._found

    async def evaluate(self) -> None:
        """Probe now and set what changed (one evaluation at a time: the upkeep and the task both call it)."""
        async with self._lock:
            found = conditions(self._probe())
            self._found = found
            for service, serving in statuses(found).items():
                was = self._serving.get(service)
                if was == serving:
                    continue
                self._serving[service] = serving
                await self._servicer.set(service, _status(serving))
                if was is not None:  # the first evaluation is the start, not a change
                    event = log.info if serving else log.warning
                    event("health_changed", service=service or "(overall)", serving=serving, conditions=sorted(found))

    def poke(self) -> None:
        """Re-evaluate soon (a new directory, a key file reloaded)."""
        self._poked.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Cancel the task and set every service NOT_SERVING (the node is going away)."""
        if self._task is not None:
            # The flag as well as the cancel: on Python 3.11, wait_for swallows a cancellation that
            # arrives as the poke it waits for completes, and the task would watch on forever.
            self._closing = True
            self._poked.set()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._servicer.enter_graceful_shutdown()

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poked.wait(), self._interval_s)
            if self._closing:
                return
            self._poked.clear()
            try:
                await self.evaluate()
            except Exception as e:  # a failed look must not end the watching
                log.error("health_evaluation_failed", error=type(e).__name__)
