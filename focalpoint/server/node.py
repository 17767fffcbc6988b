"""A focal-point node: the composition root that opens everything, builds the parts, and runs
the two gRPC servers and the timers.

``Node.open`` loads and checks the configuration, keys, database and directory before
anything listens; the parts (``focalpoint.node``) each get the collaborators they use,
passed in; the servicers get the parts, not the node. Nothing below this module assembles
a node or starts a server.

    officials ── local API (server.local_service) ──┐
                                                     ├─ outbox ─ delivery ─┐
    peers ── peer door (server.peer_service) ─ PeerApi ─ inbox            ├─ PeerChannels (mTLS)
                                     checkpoints ─ witness ─ reachability ┘
    every part: the one Store (SQLite), the directory cache, the key ring
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import grpc
import structlog
from grpc_health.v1 import health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from adapters.mail import MailChannel, Recipient
from adapters.webhook import WebhookChannel, WebhookEndpoint
from directory import Directory
from focalpoint.audit.checkpoint import VerifiedCheckpoint, verify_checkpoint
from focalpoint.crypto.suite import SUITE_V1, self_test
from focalpoint.errors import ConfigError, FocalpointError, StorageError
from focalpoint.exchange.envelope import Limits
from focalpoint.exchange.policy import partners
from focalpoint.exchange.sealed import SealedLimits
from focalpoint.net.channels import MAX_STREAMS_PER_CONNECTION, PeerChannels, ServerTls, bind_port, server_options
from focalpoint.net.directory import DirectoryServerSource, add_directory_service
from focalpoint.node.accounts import AccountPolicy, Accounts, HashParams
from focalpoint.node.casedesk import CaseDesk
from focalpoint.node.casework import CaseWork
from focalpoint.node.checkpoints import Checkpoints
from focalpoint.node.deadlines import Deadlines
from focalpoint.node.delivery import DeliveryManager
from focalpoint.node.directory_cache import DirectoryCache, PeerHints
from focalpoint.node.export import Exporter
from focalpoint.node.filetransport import FileTransport, RoutingTransport
from focalpoint.node.inbox import Inbox
from focalpoint.node.keyring import KeyRing
from focalpoint.node.notify import (
    AllNotifiers,
    CaseAlerts,
    LogNotifier,
    NoticeProfile,
    NotificationSender,
    QueuedNotifier,
    WebhookRoute,
)
from focalpoint.node.outbox import Outbox
from focalpoint.node.overdue import OverdueDeadlines
from focalpoint.node.peer_api import PeerApi
from focalpoint.node.ports import NO_TRACER, Clock, NotificationChannel, Notifier, PeerTransport, wall_clock_ms
from focalpoint.node.reachability import Reachability
from focalpoint.node.reconcile import Reconciler
from focalpoint.node.restore import current_epoch, declare, pending_restore
from focalpoint.node.sealed import SealedFiles
from focalpoint.node.witness import Witness
from focalpoint.people.watch import Watch
from focalpoint.server.case_api import CaseApi
from focalpoint.server.config import NodeConfig
from focalpoint.server.door import Door
from focalpoint.server.health import LOCAL_SERVICE, HealthWatcher, Probe, can_sign
from focalpoint.server.limits import DescriptorBudget, descriptor_budget, raise_descriptor_limit
from focalpoint.server.local_service import LocalServicer
from focalpoint.server.metrics import MetricsServer
from focalpoint.server.peer_service import NodeServicer
from focalpoint.server.tracing import LOCAL, PEER, Tracing, open_tracing
from focalpoint.storage.base import Store
from focalpoint.storage.cipher import StorageCipher
from focalpoint.storage.keyfiles import NodeKeys, load_node_keys, read_secret_file
from focalpoint.storage.sqlite.store import SqliteStore
from focalpoint.v1 import local_pb2, local_pb2_grpc, node_pb2_grpc

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = ["LOCAL_SERVICE", "Node"]

log = structlog.get_logger("focalpoint.node")
# How often the upkeep looks for recipients to ask about expired entries (each is asked at its turn).
RECONCILE_ROUND_S = 30.0


class Node:
    def __init__(
        self,
        config: NodeConfig,
        keys: NodeKeys,
        cache: DirectoryCache,
        store: Store,
        *,
        clock_ms: Clock = wall_clock_ms,
        passphrase: str | None = None,
        transport: PeerTransport | None = None,
        notifier: Notifier | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        """``transport``: how the node reaches its peers (default: gRPC over mutual TLS);
        ``notifier``: how local users are told of break-glass and anomalies (default: the log);
        ``tracing``: OpenTelemetry spans (``focalpoint.server.tracing``), None when off."""
        if keys.node_id != config.node_id:
            raise ConfigError(
                f"{config.source}: node.id is {config.node_id!r} but {config.keys_file} holds keys of {keys.node_id!r}"
            )
        me = config.node_id
        delivery_cfg = config.delivery
        if tracing is not None:  # every part gets the store with its calls traced
            store = tracing.traced_store(store)
        self.config = config
        self.node_id = me
        self.cache = cache
        self.store = store
        self.clock_ms = clock_ms
        self.cipher = StorageCipher(keys.storage_key)
        self.limits = Limits(
            max_envelope_bytes=delivery_cfg.max_envelope_bytes, clock_skew_ms=delivery_cfg.clock_skew_seconds * 1000
        )
        self._background: set[asyncio.Task[Any]] = set()
        self.tracing = tracing
        self._next_expiry_warning = 0.0
        directory = self._directory
        cipher, limits = self.cipher, self.limits
        self.keyring = KeyRing(
            keys,
            keys_file=config.keys_file,
            passphrase=passphrase,
            audit=store.audit,
            clock_ms=clock_ms,
            spawn=self._spawn,
        )
        self.transport: PeerTransport = transport or PeerChannels(
            keys.tls,
            directory,
            max_message_bytes=delivery_cfg.max_envelope_bytes,
            timeout_s=delivery_cfg.call_timeout_seconds,
            reconnect_max_s=delivery_cfg.retry_max_seconds,
        )
        # Partners reached by sealed files only (docs/adr/0020): the file transport, no worker, no ping.
        file_only = config.sealed_files.file_only.__contains__
        if config.sealed_files.file_only:
            self.transport = RoutingTransport(self.transport, FileTransport(), file_only)
        self.checkpoints = Checkpoints(
            me=me, audit=store.audit, keyring=self.keyring, directory=directory, clock_ms=clock_ms
        )
        self.delivery = DeliveryManager(
            node_id=me,
            outbox=store.outbox,
            transport=self.transport,
            directory=directory,
            clock_ms=clock_ms,
            batch_size=delivery_cfg.batch_size,
            retry_initial_s=delivery_cfg.retry_initial_seconds,
            retry_max_s=delivery_cfg.retry_max_seconds,
            checkpoint=lambda: self.checkpoints.latest_raw,
            tracer=tracing if tracing is not None else NO_TRACER,
            file_only=file_only,
        )
        # Expired entries are settled with their recipients (asked at least every minute while open).
        self.reconciler = Reconciler(
            me=me,
            outbox=store.outbox,
            transport=self.transport,
            directory=directory,
            clock_ms=clock_ms,
            interval_s=min(delivery_cfg.retry_max_seconds, 60.0),
            spawn=self._spawn,
            file_only=file_only,
        )
        self.casework = CaseWork(
            me=me,
            directory=directory,
            store=store.cases,
            inbox=store.inbox,
            outbox=store.outbox,
            cipher=cipher,
            clock_ms=clock_ms,
        )
        self.outbox = Outbox(
            me=me,
            directory=directory,
            keyring=self.keyring,
            store=store.outbox,
            inbox=store.inbox,
            cipher=cipher,
            delivery=self.delivery,
            limits=limits,
            default_ttl_s=delivery_cfg.message_ttl_seconds,
            clock_ms=clock_ms,
            check=self.casework.check,
            on_stored=self.casework.wake,
        )
        self.casedesk = CaseDesk(work=self.casework, outbox=self.outbox, store=store.cases, clock_ms=clock_ms)
        self.casework.acknowledge = self.casedesk.acknowledge_applied
        self.witness = Witness(
            me=me,
            audit=store.audit,
            transport=self.transport,
            directory=directory,
            signer=lambda: self.keyring.log_signer,
            clock_ms=clock_ms,
            spawn=self._spawn,
            file_only=file_only,
        )
        self.inbox = Inbox(
            me=me,
            directory=directory,
            keyring=self.keyring,
            store=store,
            cipher=cipher,
            limits=limits,
            clock_ms=clock_ms,
            on_checkpoint=self.witness.offered,
            on_newer_directory=PeerHints(cache, self.transport, clock_ms=clock_ms, spawn=self._spawn),
            on_stored=self.casework.wake,
        )
        self.reachability = Reachability(
            me=me,
            transport=self.transport,
            directory=directory,
            signer=lambda: self.keyring.signer,
            clock_ms=clock_ms,
            on_alive=self._peer_alive,
            file_only=file_only,
        )
        self.sealed = SealedFiles(
            me=me,
            directory=directory,
            keyring=self.keyring,
            store=store,
            inbox=self.inbox,
            delivery=self.delivery,
            limits=SealedLimits(
                max_file_bytes=config.sealed_files.max_file_bytes,
                max_record_bytes=delivery_cfg.max_envelope_bytes + 64 * 1024,
                clock_skew_ms=limits.clock_skew_ms,
            ),
            envelope_limits=limits,
            file_lifetime_ms=config.sealed_files.file_lifetime_seconds * 1000,
            clock_ms=clock_ms,
        )
        self.exporter = Exporter(
            me=me,
            store=store,
            keyring=self.keyring,
            checkpoints=self.checkpoints,
            transport=self.transport,
            directory=directory,
            clock_ms=clock_ms,
        )
        self.peer_api = PeerApi(
            me=me,
            directory=directory,
            inbox=self.inbox,
            inbox_store=store.inbox,
            keyring=self.keyring,
            audit=store.audit,
            checkpoints=self.checkpoints,
            bundle=self._current_bundle,
            clock_ms=clock_ms,
            clock_skew_ms=limits.clock_skew_ms,
            on_alive=self._peer_alive,
        )
        ac = config.accounts
        # Notifications: the log, and the durable queue with a sender per channel when configured.
        self.senders: dict[str, NotificationSender] = {}
        if notifier is None:
            notifier, self.senders = _configured_notifier(config, store, _People(self), clock_ms)
        self.notifier: Notifier = notifier
        self.accounts = Accounts(
            store=store,
            cipher=cipher,
            clock_ms=clock_ms,
            issuer=me,
            notifier=self.notifier,
            hashing=HashParams(
                time_cost=ac.password_time_cost,
                memory_kib=ac.password_memory_kib,
                parallelism=ac.password_parallelism,
            ),
            policy=AccountPolicy(
                session_idle_ms=ac.session_idle_minutes * 60_000,
                session_absolute_ms=ac.session_absolute_hours * 3_600_000,
                max_failures=ac.lockout_failures,
                lockout_ms=ac.lockout_minutes * 60_000,
            ),
        )
        self.casework.on_received = CaseAlerts(roster=self.accounts, notifier=self.notifier).received
        self.deadlines = Deadlines(
            work=self.casework,
            desk=self.casedesk,
            store=store,
            accounts=self.accounts,
            notifier=self.notifier,
            clock_ms=clock_ms,
        )
        self.door = Door(
            machine_token=keys.local_api_token,
            accounts=self.accounts,
            store=store,
            work=self.casework,
            clock_ms=clock_ms,
            notifier=self.notifier,
            watch=Watch(bulk_limit=ac.anomaly_reads_per_hour),
        )
        self.local_service = LocalServicer(
            me=me,
            door=self.door,
            store=store,
            cipher=cipher,
            cache=cache,
            outbox=self.outbox,
            checkpoints=self.checkpoints,
            exporter=self.exporter,
            reachability=self.reachability,
            sealed=self.sealed,
            clock_ms=clock_ms,
            clock_skew_ms=limits.clock_skew_ms,
            cases=CaseApi(
                work=self.casework,
                desk=self.casedesk,
                store=store,
                clock_ms=clock_ms,
                door=self.door,
                cipher=cipher,
                deadlines=self.deadlines,
            ),
        )
        self._health: HealthWatcher | None = None
        self._server_tls: ServerTls | None = None
        self._peer_server: grpc.aio.Server | None = None
        self._local_server: grpc.aio.Server | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self.peer_port = 0
        self.local_port = 0
        # The operations listener (/metrics), when the configuration has a metrics section.
        self.metrics: MetricsServer | None = None
        # Overdue deadlines by kind for /metrics, counted from the link summaries and kept a minute.
        self.overdue = OverdueDeadlines(work=self.casework, store=store, clock_ms=clock_ms)
        if config.metrics is not None:
            self.metrics = MetricsServer(self, config.metrics.host, config.metrics.port)
        cache.subscribe(self._on_directory)
        self.keyring.on_directory(cache.current)

    # --- life cycle -------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        config: NodeConfig,
        *,
        clock_ms: Clock = wall_clock_ms,
        store: Store | None = None,
        transport: PeerTransport | None = None,
        notifier: Notifier | None = None,
        span_exporter: SpanExporter | None = None,
    ) -> Node:
        """Load and check everything; raises ConfigError/StorageError before anything listens.

        ``store`` and ``transport`` replace the configured database and gRPC (tests pass
        ``focalpoint.storage.memory`` and ``focalpoint.net.memory``); ``notifier`` replaces the
        log notifier; ``span_exporter`` replaces the OTLP exporter when the configuration has a
        ``tracing`` section; ``start`` serves gRPC.
        """
        self_test(SUITE_V1)
        # Tracing first: configured without its extra installed, the node refuses before opening anything.
        tracing = None
        if config.tracing is not None:
            tracing = open_tracing(config.tracing, config.node_id, config.source, exporter=span_exporter)
            log.info(
                "tracing_on",
                endpoint=config.tracing.endpoint,
                service_name=config.tracing.service_name,
                sample_ratio=config.tracing.sample_ratio,
            )
        passphrase = None
        if config.passphrase_env is not None:
            passphrase = os.environ.get(config.passphrase_env)
            if passphrase is None:
                raise ConfigError(f"{config.source}: node.passphrase_env names {config.passphrase_env}, which is unset")
        keys = load_node_keys(config.keys_file, passphrase)
        if store is None:
            store = await SqliteStore.open(config.database)
        try:
            cache = await DirectoryCache.open(
                root=config.directory.root,
                source=config.directory.bundle,
                servers=[DirectoryServerSource(address) for address in config.directory.servers],
                store=store.directory,
                now_ms=clock_ms(),
            )
            directory = cache.current
            if not directory.knows(config.node_id):
                mine = f"node {config.node_id!r} "
                left_out = [why for what, why in directory.excluded.items() if what.startswith(mine)]
                raise ConfigError(
                    f"{config.source}: node.id {config.node_id!r} is not in directory version {directory.version}"
                    + (f" (its entry was left out: {left_out[0]})" if left_out else "")
                )
            unknown = sorted(p for p in config.sealed_files.file_only if not directory.knows(p))
            if unknown:
                raise ConfigError(
                    f"{config.source}: sealed_files.file_only names {', '.join(unknown)}, not in directory"
                    f" version {directory.version}"
                )
            node = cls(
                config,
                keys,
                cache,
                store,
                clock_ms=clock_ms,
                passphrase=passphrase,
                transport=transport,
                notifier=notifier,
                tracing=tracing,
            )
            await node.keyring.load()
            await node._check_log_against_partners()
            await node.checkpoints.load()
            await node.outbox.load(sequence_floor=node.checkpoints.epoch.sequence_floor)
            if node.checkpoints.epoch.number and node.keyring.log_signer is not None:
                await node.checkpoints.get()  # the epoch's checkpoint (with its declaration) before anyone asks
            if node.keyring.log_signer is None:
                log.warning(
                    "no_log_key",
                    node=config.node_id,
                    action="checkpoints and witnessing are off until the directory lists an ACTIVE log key"
                    " (focalpoint node rotate-key --kind log)",
                )
        except BaseException:
            await store.close()
            raise
        return node

    async def start(self) -> None:
        max_bytes = self.config.delivery.max_envelope_bytes
        budget = self._descriptors()
        self._server_tls = ServerTls(self.keyring.keys.tls, self.cache.current)
        # With tracing on, a root span per RPC on each port; no interceptor at all when it is off.
        tracing = self.tracing
        peer = grpc.aio.server(
            options=server_options(
                max_bytes, max_connections=budget.peer_connections, max_streams=MAX_STREAMS_PER_CONNECTION
            ),
            interceptors=tracing.interceptors(PEER) if tracing is not None else None,
        )
        node_pb2_grpc.add_NodeServiceServicer_to_server(NodeServicer(self.peer_api, self._directory), peer)
        health_servicer = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, peer)
        self.peer_port = bind_port(peer.add_secure_port, self.config.listen_peer, self._server_tls.credentials)
        add_directory_service(peer, self._current_bundle, self.store.directory.document)
        # The local API carries a sealed file in one message (sealed_files.max_file_bytes).
        local = grpc.aio.server(
            options=server_options(max(max_bytes, self.config.sealed_files.max_file_bytes)),
            interceptors=tracing.interceptors(LOCAL) if tracing is not None else None,
        )
        local_pb2_grpc.add_LocalServiceServicer_to_server(self.local_service, local)
        add_directory_service(local, self._current_bundle, self.store.directory.document)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, local)
        # Reflection on the local port only (grpcurl list); peers learn nothing from it.
        reflection.enable_server_reflection(
            (local_pb2.DESCRIPTOR.services_by_name["LocalService"].full_name, reflection.SERVICE_NAME), local
        )
        self.local_port = bind_port(local.add_insecure_port, self.config.listen_local)
        await peer.start()
        await local.start()
        self._peer_server, self._local_server = peer, local
        self._health = HealthWatcher(health_servicer, self._health_probe)
        await self._health.evaluate()
        self._health.start()
        await self.delivery.start()
        self._spawn(self.casework.run())
        for sender in self.senders.values():
            self._spawn(sender.run())
        self._maintenance = asyncio.get_running_loop().create_task(self._maintain())
        if self.metrics is not None:
            await self.metrics.start()
        log.info("node_started", node=self.node_id, peer_port=self.peer_port, local_port=self.local_port)

    @staticmethod
    def _descriptors() -> DescriptorBudget:
        """Raise the descriptor limit and split it (``server.limits``); logs what the node got."""
        was, soft, hard = raise_descriptor_limit()
        budget = descriptor_budget(soft, was=was, hard=hard)
        log.info(
            "descriptor_limit",
            soft=budget.soft,
            hard=budget.hard,
            was=budget.was,
            peer_connections=budget.peer_connections,
            reserved=budget.reserved,
        )
        if budget.low:
            log.warning(
                "descriptor_limit_low",
                soft=budget.soft,
                hard=budget.hard,
                peer_connections=budget.peer_connections,
                action="raise the hard limit (LimitNOFILE= in systemd, ulimit -Hn) to at least 4096",
            )
        return budget

    async def stop(self, grace_s: float = 1.0) -> None:
        if self._maintenance is not None:
            self._maintenance.cancel()
        if self.metrics is not None:
            await self.metrics.stop()
        self.overdue.close()
        if self._health is not None:
            await self._health.stop()
        await self.delivery.stop()
        for server in (self._local_server, self._peer_server):
            if server is not None:
                await server.stop(grace_s)
        await self.outbox.close()
        await self.inbox.close()
        for task in list(self._background):
            task.cancel()
        await self.transport.close()
        await self.accounts.close()
        await self.cache.close()
        await self.store.close()
        if self.tracing is not None:
            await self.tracing.shutdown()
        log.info("node_stopped", node=self.node_id)

    async def _maintain(self) -> None:
        interval = min(self.config.directory.refresh_seconds, 1.0)
        next_refresh = 0.0
        next_ping = time.monotonic() + min(5.0, self.config.reachability.interval_seconds)
        audit = self.config.audit
        interval = min(interval, audit.checkpoint_interval_seconds, audit.witness_interval_seconds)
        next_checkpoint = time.monotonic() + audit.checkpoint_interval_seconds
        next_witness = time.monotonic() + audit.witness_interval_seconds
        next_reconcile = 0.0
        next_deadlines = time.monotonic() + self.config.deadlines.scan_seconds
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            if now >= next_ping:
                next_ping = now + self.config.reachability.interval_seconds
                self._spawn(self.reachability.round())
            if now >= next_checkpoint:
                next_checkpoint = now + audit.checkpoint_interval_seconds
                await self.checkpoints.scheduled()
            if now >= next_witness:
                next_witness = now + audit.witness_interval_seconds
                self._spawn(self.witness.round())
            if self._health is not None:
                await self._health.evaluate()  # each pass, at once: a full disk may last only until the next write
            try:
                if now >= next_refresh:
                    next_refresh = now + self.config.directory.refresh_seconds
                    self.keyring.reload_if_changed(self.cache.current)
                    await self.cache.refresh(self.clock_ms())
                    self._warn_expiry()
                if await self.delivery.expire():
                    self.reconciler.due()  # their recipients may hold them: ask now
                if now >= next_reconcile:
                    next_reconcile = now + RECONCILE_ROUND_S
                    self._spawn(self.reconciler.round())
                await self.inbox.flush_refusals()
                if now >= next_deadlines:
                    next_deadlines = now + self.config.deadlines.scan_seconds
                    self._spawn(self._scan_deadlines())
            except FocalpointError as e:  # one failed pass must not end the node's upkeep
                log.error("maintenance_failed", error=str(e))

    async def _check_log_against_partners(self, timeout_s: float = 5.0) -> None:
        """Refuse to start on a log shorter than one a partner cosigned in this epoch: the database
        lost what the node had committed (the high-water mark catches most of this; this catches it
        even when the mark went with the database) — unless ``focalpoint node restore`` put it back
        from a backup, in which case the restore is declared now (``focalpoint.node.restore``).
        A partner that cannot be asked now is not waited for."""
        size, directory = self.store.audit.size, self.cache.current

        async def cosigned(peer: str) -> tuple[str, VerifiedCheckpoint] | None:
            try:
                signed = await asyncio.wait_for(self.transport.checkpoint(peer, self.node_id), timeout_s)
                return peer, verify_checkpoint(signed, directory, log_node=self.node_id)
            except (FocalpointError, TimeoutError):  # not reachable, nothing cosigned yet, or not ours
                return None

        found = [f for f in await asyncio.gather(*(cosigned(p) for p in partners(directory, self.node_id))) if f]
        # Connections to partners that were down now would wait out gRPC's reconnect backoff once
        # the node runs: start afresh.
        await self.transport.close()
        pending = await pending_restore(self.store.audit)
        if pending is not None:
            await declare(
                self.store.audit,
                me=self.node_id,
                signer=self.keyring.log_signer,
                pending=pending,
                lost_known=max((c.size for _, c in found), default=0),
                epoch_floor=max((c.epoch for _, c in found), default=0),
                now_ms=self.clock_ms(),
            )
            return
        epoch = (await current_epoch(self.store.audit)).number
        later = sorted((c.epoch, p) for p, c in found if c.epoch > epoch)
        if later:
            their_epoch, peer = later[-1]
            raise StorageError(
                f"{self.config.database}: {peer} cosigned a checkpoint of this node's log in epoch {their_epoch}, but"
                f" the database is in epoch {epoch}: it is a copy from before a declared restore; do not start on"
                " it: restore the latest backup (focalpoint node restore, docs/operations.md §8)"
            )
        ahead = sorted((c.size, p) for p, c in found if c.epoch == epoch and c.size > size)
        if ahead:
            events, peer = ahead[-1]
            raise StorageError(
                f"{self.config.database}: {peer} cosigned a checkpoint of this node's log with {events} events, but"
                f" the database holds {size}: it lost what this node had committed; do not start on it: restore"
                " the latest backup (focalpoint node restore, docs/operations.md §8)"
            )

    def _health_probe(self) -> Probe:
        """What gRPC health is worked out from (``server.health``)."""
        now, directory = self.clock_ms(), self.cache.current
        return Probe(
            now_ms=now,
            directory_expires_at_ms=directory.expires_at_ms,
            full_since=self.store.full_since,
            mark_behind_since=self.store.mark_behind_since,
            can_sign=can_sign(directory, self.node_id, self.keyring.signer.key_id, now),
        )

    def _directory(self) -> Directory:
        return self.cache.current

    def _current_bundle(self) -> tuple[int, bytes]:
        directory = self.cache.current
        return directory.version, directory.raw

    def _peer_alive(self, peer: str) -> None:
        """``peer`` answered a ping or called: its queue is retried now, its expired entries asked about."""
        self.delivery.peer_alive(peer)
        self.reconciler.peer_alive(peer)

    async def _scan_deadlines(self) -> None:
        """One deadline scan (``focalpoint.node.deadlines``); a failed one is logged, the next runs on time."""
        try:
            await self.deadlines.scan()
        except Exception as e:
            log.error("deadline_scan_failed", error=type(e).__name__)

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _on_directory(self, directory: Directory) -> None:
        """A newer verified directory: keys in use, the TLS trust store, and every delivery
        worker re-reads its due entries (keys or endpoints may differ)."""
        self.keyring.on_directory(directory)
        if self._server_tls is not None:
            self._server_tls.update(directory)
        self.delivery.wake_all()
        if self._health is not None:
            self._health.poke()

    def _warn_expiry(self) -> None:
        now = time.monotonic()
        if now < self._next_expiry_warning:
            return
        directory = self.cache.current
        left_h = (directory.expires_at_ms - self.clock_ms()) / 3_600_000
        if left_h <= self.config.directory.expiry_warning_hours:
            self._next_expiry_warning = now + 3600  # once an hour is enough to be seen
        if left_h <= 0:
            log.error("directory_expired", version=directory.version, action="sending refused until it is renewed")
        elif left_h <= self.config.directory.expiry_warning_hours:
            log.warning("directory_expires_soon", version=directory.version, hours_left=round(left_h, 1))


class _People:
    """The node's accounts as the notifications need them (the node builds its accounts after its
    notifier, which they use for break-glass: this reads them when asked)."""

    def __init__(self, node: Node) -> None:
        self._node = node

    async def notice_profile(self, user_id: str) -> NoticeProfile | None:
        return await self._node.accounts.notice_profile(user_id)

    async def address(self, user_id: str) -> Recipient | None:
        contact = await self._node.accounts.contact_of(user_id)
        return Recipient(contact.email, contact.language) if contact is not None else None


def _configured_notifier(
    config: NodeConfig, store: Store, people: _People, clock_ms: Clock
) -> tuple[Notifier, dict[str, NotificationSender]]:
    """The log; and with a ``notifications`` section, the durable queue and a sender for e-mail
    and/or webhooks. Secrets (the SMTP password, each webhook's secret) are read from files only
    their owner may read, like the key files."""
    n = config.notifications
    if n is None:
        return LogNotifier(), {}
    channels: list[NotificationChannel] = []
    if n.mail is not None:
        password = read_secret_file(n.mail.password_file).decode("utf-8").strip()
        channels.append(MailChannel(n.mail, password, contacts=people))
    if n.webhooks:
        endpoints = [
            WebhookEndpoint(
                w.url, read_secret_file(w.secret_file).decode("utf-8").strip(), w.families, w.timeout_seconds
            )
            for w in n.webhooks
        ]
        channels.append(WebhookChannel(endpoints, console_url=n.console_url))
    senders = {
        c.name: NotificationSender(queue=store.notifications, channel=c, clock_ms=clock_ms, retry=n.retry)
        for c in channels
    }
    queued = QueuedNotifier(
        queue=store.notifications,
        people=people,
        clock_ms=clock_ms,
        email=n.mail is not None,
        webhooks=[WebhookRoute(w.url, w.families) for w in n.webhooks],
        wake=lambda channel: senders[channel].wake() if channel in senders else None,
    )
    return AllNotifiers((LogNotifier(), queued)), senders
