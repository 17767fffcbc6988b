"""A focal-point node: keys, directory, store, the two gRPC servers and the delivery loop.

``Node.submit`` makes a message durable in the outbox before it returns;
``Node.receive`` runs the receive checks (focalpoint.envelope), stores the
ciphertext and answers with a signed receipt, or the original receipt for a
duplicate. Servicers (focalpoint.transport, focalpoint.local_api) stay thin.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from directory import Directory, KeyStatus
from focalpoint.audit import events as audit_events
from focalpoint.audit.checkpoint import make_checkpoint, with_cosignatures
from focalpoint.config import NodeConfig
from focalpoint.crypto.signing import AdminSigner, Ed25519Signer
from focalpoint.crypto.suite import SUITE_V1, EncryptionPrivateKey, self_test
from focalpoint.delivery import DeliveryManager, Outgoing
from focalpoint.directory_cache import DirectoryCache
from focalpoint.directory_service import add_directory_service
from focalpoint.errors import (
    ConfigError,
    FocalpointError,
    RefusalError,
    StorageError,
    TransportError,
    UsageError,
)
from focalpoint.exchange.body import InvalidBody, body_kind, case_ref_of
from focalpoint.exchange.envelope import Limits, seal
from focalpoint.exchange.policy import check_exchange
from focalpoint.reachability import Reachability
from focalpoint.receiver import Receiver
from focalpoint.storage.base import DeliveryState, InboxOutcome, NewInbox, NewOutbox
from focalpoint.storage.batching import GroupCommit
from focalpoint.storage.cipher import OUTBOX_PURPOSE, StorageCipher
from focalpoint.storage.keyfiles import NodeKeys, load_node_keys
from focalpoint.storage.sqlite.store import SqliteStore
from focalpoint.transport import (
    PeerChannels,
    ServerTls,
    bind_port,
    server_options,
)
from focalpoint.v1 import audit_pb2, messages_pb2, node_pb2, node_pb2_grpc
from focalpoint.witness import Witness

__all__ = ["Node", "Submitted", "wall_clock_ms"]

log = structlog.get_logger("focalpoint.node")


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Submitted:
    message_id: bytes
    state: DeliveryState


class Node(Receiver):
    def __init__(
        self,
        config: NodeConfig,
        keys: NodeKeys,
        cache: DirectoryCache,
        store: SqliteStore,
        *,
        clock_ms: Callable[[], int],
    ) -> None:
        if keys.node_id != config.node_id:
            raise ConfigError(
                f"{config.source}: node.id is {config.node_id!r} but {config.keys_file} holds keys of {keys.node_id!r}"
            )
        self.config = config
        self.node_id = config.node_id
        self.keys = keys
        self.cache = cache
        self.store = store
        self.clock_ms = clock_ms
        self.cipher = StorageCipher(keys.storage_key)
        self.limits = Limits(
            max_envelope_bytes=config.delivery.max_envelope_bytes,
            clock_skew_ms=config.delivery.clock_skew_seconds * 1000,
        )
        self._decryption_keys: dict[str, EncryptionPrivateKey] = {}
        self._signer = keys.signer
        self._passphrase: str | None = None
        self._hinted: set[str] = set()
        self._next_expiry_warning = 0.0
        self._background: set[asyncio.Task[Any]] = set()
        self._keys_mtime = _mtime(config.keys_file)
        self._sequences: dict[str, int] = {}
        self._outbox_commit: GroupCommit[NewOutbox, bytes] = GroupCommit(store.outbox.add)
        self._inbox_commit: GroupCommit[NewInbox, InboxOutcome] = GroupCommit(
            lambda rows: store.inbox.add(rows, self._sign_receipts)
        )
        self._batches = 0
        self.channels = PeerChannels(
            keys.tls,
            max_message_bytes=config.delivery.max_envelope_bytes,
            timeout_s=config.delivery.call_timeout_seconds,
        )
        self.delivery = DeliveryManager(
            node_id=self.node_id,
            store=store,
            channels=self.channels,
            directory=lambda: self.cache.current,
            clock_ms=clock_ms,
            batch_size=config.delivery.batch_size,
            retry_initial_s=config.delivery.retry_initial_seconds,
            retry_max_s=config.delivery.retry_max_seconds,
            checkpoint=lambda: self._checkpoint_raw,
        )
        self.reachability = Reachability(
            me=self.node_id,
            channels=self.channels,
            directory=lambda: self.cache.current,
            signer=lambda: self._signer,
            clock_ms=clock_ms,
            timeout_s=config.reachability.timeout_seconds,
        )
        self._log_signer: AdminSigner | None = None
        self._keys_in_use: dict[str, str] | None = None  # loaded by open(); None: not yet known
        self._checkpoint_raw = b""
        self._checkpoint_lock = asyncio.Lock()
        self.witness = Witness(
            me=self.node_id,
            store=store,
            channels=self.channels,
            directory=lambda: self.cache.current,
            signer=lambda: self._log_signer,
            clock_ms=clock_ms,
            timeout_s=config.delivery.call_timeout_seconds,
            spawn=self._in_background,
        )
        self._server_tls: ServerTls | None = None
        self._peer_server: grpc.aio.Server | None = None
        self._local_server: grpc.aio.Server | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self.peer_port = 0
        self.local_port = 0
        cache.subscribe(self._on_directory)
        self._on_directory(cache.current)

    # --- life cycle -------------------------------------------------------------------

    @classmethod
    async def open(cls, config: NodeConfig, *, clock_ms: Callable[[], int] = wall_clock_ms) -> Node:
        """Load and check everything; raises ConfigError/StorageError before anything listens."""
        self_test(SUITE_V1)
        passphrase = None
        if config.passphrase_env is not None:
            passphrase = os.environ.get(config.passphrase_env)
            if passphrase is None:
                raise ConfigError(f"{config.source}: node.passphrase_env names {config.passphrase_env}, which is unset")
        keys = load_node_keys(config.keys_file, passphrase)
        store = await SqliteStore.open(config.database)
        try:
            cache = await DirectoryCache.open(
                root=config.directory.root,
                source=config.directory.bundle,
                servers=config.directory.servers,
                store=store,
                now_ms=clock_ms(),
            )
            directory = cache.current
            if not directory.knows(config.node_id):
                raise ConfigError(
                    f"{config.source}: node.id {config.node_id!r} is not in directory version {directory.version}"
                )
            node = cls(config, keys, cache, store, clock_ms=clock_ms)
            node._passphrase = passphrase
            node._sequences = await store.outbox.last_sequences()
            latest = await store.audit.latest_checkpoint()
            node._checkpoint_raw = latest[0] if latest is not None else b""
            node._keys_in_use = json.loads(await store.audit.meta("keys_in_use") or "{}")
            node._note_key_changes()
            if node._log_signer is None:
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
        # The servicers depend on Node, not the reverse.
        from focalpoint.local_api import add_local_service
        from focalpoint.peer_service import NodeServicer

        opts = server_options(self.config.delivery.max_envelope_bytes)
        self._server_tls = ServerTls(self.keys.tls, self.cache.current)
        peer = grpc.aio.server(options=opts)
        node_pb2_grpc.add_NodeServiceServicer_to_server(NodeServicer(self), peer)
        health_servicer = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, peer)
        reflection.enable_server_reflection(
            (node_pb2.DESCRIPTOR.services_by_name["NodeService"].full_name, reflection.SERVICE_NAME), peer
        )
        self.peer_port = bind_port(peer.add_secure_port, self.config.listen_peer, self._server_tls.credentials)
        add_directory_service(peer, self._current_bundle, self.store.directory.document)
        local = grpc.aio.server(options=opts)
        add_local_service(self, local)
        add_directory_service(local, self._current_bundle, self.store.directory.document)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, local)
        self.local_port = bind_port(local.add_insecure_port, self.config.listen_local)
        await peer.start()
        await local.start()
        self._peer_server, self._local_server = peer, local
        await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.delivery.start()
        self._maintenance = asyncio.get_running_loop().create_task(self._maintain())
        log.info("node_started", node=self.node_id, peer_port=self.peer_port, local_port=self.local_port)

    async def stop(self, grace_s: float = 1.0) -> None:
        if self._maintenance is not None:
            self._maintenance.cancel()
        await self.delivery.stop()
        for server in (self._local_server, self._peer_server):
            if server is not None:
                await server.stop(grace_s)
        await self._outbox_commit.close()
        await self._inbox_commit.close()
        for task in list(self._background):
            task.cancel()
        await self.channels.close()
        await self.cache.close()
        await self.store.close()
        log.info("node_stopped", node=self.node_id)

    async def _maintain(self) -> None:
        interval = min(self.config.directory.refresh_seconds, 1.0)
        next_refresh = 0.0
        next_ping = time.monotonic() + min(5.0, self.config.reachability.interval_seconds)
        audit = self.config.audit
        interval = min(interval, audit.checkpoint_interval_seconds, audit.witness_interval_seconds)
        next_checkpoint = time.monotonic() + audit.checkpoint_interval_seconds
        next_witness = time.monotonic() + audit.witness_interval_seconds
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            if now >= next_ping:
                next_ping = now + self.config.reachability.interval_seconds
                self._in_background(self.reachability.round())
            if now >= next_checkpoint:
                next_checkpoint = now + audit.checkpoint_interval_seconds
                await self._scheduled_checkpoint()
            if now >= next_witness:
                next_witness = now + audit.witness_interval_seconds
                self._in_background(self.witness.round())
            try:
                if now >= next_refresh:
                    next_refresh = now + self.config.directory.refresh_seconds
                    self._reload_keys_if_changed()
                    if await self.cache.refresh(self.clock_ms()):
                        self.delivery.wake_all()
                    self._warn_expiry()
                await self.delivery.expire()
            except FocalpointError as e:  # one failed pass must not end the node's upkeep
                log.error("maintenance_failed", error=str(e))

    @property
    def log_signer(self) -> AdminSigner | None:
        """The hybrid key this node signs checkpoints and evidence with (ACTIVE in its entry)."""
        return self._log_signer

    @property
    def signer(self) -> Ed25519Signer:
        """The signing key this node uses now (the one its directory entry lists as ACTIVE)."""
        return self._signer

    def _current_bundle(self) -> tuple[int, bytes]:
        directory = self.cache.current
        return directory.version, directory.raw

    def _directory_hint(self, peer: str, version: int) -> None:
        """A peer's envelope names a newer directory: fetch it from that peer (it has it) now."""
        if version <= self.cache.current.version or peer in self._hinted:
            return
        self._hinted.add(peer)

        async def fetch() -> None:
            try:
                channel = self.channels.channel(self.cache.current, peer)
                if await self.cache.refresh_from(channel, self.clock_ms(), where=f"peer {peer}"):
                    self.delivery.wake_all()
            except (TransportError, StorageError) as e:  # only delays the update to the next poll
                log.warning("directory_hint_failed", peer=peer, error=str(e))
            finally:
                self._hinted.discard(peer)

        self._in_background(fetch())

    def _in_background(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _reload_keys_if_changed(self) -> None:
        """Pick up keys added by `focalpoint node rotate-key` without a restart (TLS keys excepted)."""
        mtime = _mtime(self.config.keys_file)
        if mtime == self._keys_mtime:
            return
        self._keys_mtime = mtime
        try:
            keys = load_node_keys(self.config.keys_file, self._passphrase)
        except ConfigError as e:
            log.error("key_file_reload_failed", error=str(e))
            return
        if keys.node_id != self.node_id or keys.storage_key != self.keys.storage_key:
            log.error("key_file_reload_refused", reason="the key file now belongs to another node or storage key")
            return
        self.keys = keys
        self._on_directory(self.cache.current)
        log.info("key_file_reloaded", signing_keys=len(keys.signers), encryption_keys=len(keys.decryption_keys))

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

    def _note_key_changes(self) -> None:
        """Log KEY_CHANGED when the key this node signs with (messages or checkpoints) changes.

        The keys last logged are kept next to the log (meta ``keys_in_use``, same transaction),
        so a restart with the same keys logs nothing.
        """
        if self._keys_in_use is None:
            return
        now = self.clock_ms()
        current = {"messages": self._signer.key_id, "checkpoints": self._log_signer.key_id if self._log_signer else ""}
        changed = [
            audit_events.key_changed(at_ms=now, key_id=key_id, status=f"now signing {role}")
            for role, key_id in current.items()
            if key_id and self._keys_in_use.get(role) != key_id
        ]
        if not changed:
            return
        self._keys_in_use = current

        async def write() -> None:
            try:
                await self.store.audit.record(changed, meta={"keys_in_use": json.dumps(current, sort_keys=True)})
            except StorageError as e:
                log.error("audit_write_failed", event="key_changed", error=str(e))

        self._in_background(write())

    def _on_directory(self, directory: Directory) -> None:
        me = directory.node(self.node_id)
        usable = set(me.encryption_keys) if me is not None else set()
        self._decryption_keys = {
            k: v
            for k, v in self.keys.decryption_keys.items()
            if k in usable and me is not None and me.encryption_keys[k].valid_at(self.clock_ms())
        }
        # Sign with the key the directory lists as ACTIVE for this node: after a rotation the
        # new key is used from the moment peers can verify it (they fetch the same directory).
        if me is not None:
            now = self.clock_ms()
            active = [
                s
                for key_id, s in self.keys.signers.items()
                if (info := me.signing_keys.get(key_id)) is not None
                and info.status is KeyStatus.ACTIVE
                and info.valid_at(now)
            ]
            if active:
                self._signer = max(active, key=lambda s: me.signing_keys[s.key_id].not_before_ms)
            logs = [
                s
                for key_id, s in self.keys.log_signers.items()
                if (info := me.log_keys.get(key_id)) is not None
                and info.status is KeyStatus.ACTIVE
                and info.valid_at(now)
            ]
            self._log_signer = max(logs, key=lambda s: me.log_keys[s.key_id].not_before_ms) if logs else None
            self._note_key_changes()
        if self._server_tls is not None:
            self._server_tls.update(directory)

    # --- audit log ----------------------------------------------------------------------

    async def checkpoint(self, *, create: bool = True) -> audit_pb2.SignedCheckpoint:
        """The latest signed checkpoint with its cosignatures; with ``create``, first sign one
        over the log as committed now if it has grown. Raises UsageError without a log key."""
        async with self._checkpoint_lock:
            size = self.store.audit.size
            latest = await self.store.audit.latest_checkpoint()
            if latest is not None:
                signed = with_cosignatures(*latest)
                if not create or audit_pb2.Checkpoint.FromString(signed.checkpoint).size >= size:
                    return signed
            elif not create:
                raise UsageError("this node has signed no checkpoint yet")
            signer = self._log_signer
            if signer is None:
                raise UsageError(
                    f"this node has no ACTIVE log key in directory version {self.cache.current.version};"
                    " its directory entry must list one (log_keys) before it can sign checkpoints"
                )
            root = await self.store.audit.read(lambda audit_log: audit_log.root(size))
            now = self.clock_ms()
            signed = make_checkpoint(signer, log_node=self.node_id, size=size, root=root, issued_at_ms=now)
            raw = await self.store.audit.add_checkpoint(size, signed.SerializeToString(), now)
            self._checkpoint_raw = raw
            log.info("checkpoint_signed", size=size)
            return audit_pb2.SignedCheckpoint.FromString(raw)

    async def _scheduled_checkpoint(self) -> None:
        if self._log_signer is None or self.store.audit.size == 0:
            return
        try:
            await self.checkpoint()
        except (UsageError, StorageError) as e:
            log.error("checkpoint_failed", error=str(e))

    # --- sending ----------------------------------------------------------------------

    async def submit(
        self,
        recipient: str,
        body: messages_pb2.Body,
        *,
        in_reply_to: bytes = b"",
        ttl_seconds: int = 0,
        client_request_id: str | None = None,
    ) -> Submitted:
        """Seal and durably queue a message; raises UsageError for anything the caller must fix."""
        if client_request_id is not None:
            existing = await self.store.outbox.by_client_request(client_request_id)
            if existing is not None:
                return Submitted(existing.message_id, existing.state)
        if in_reply_to and len(in_reply_to) != 16:
            raise UsageError("in_reply_to must be a 16-byte message id")
        now = self.clock_ms()
        directory = self.cache.current
        if directory.expires_at_ms <= now:
            raise UsageError(
                f"directory version {directory.version} has expired; sending is refused until it is renewed"
            )
        if recipient == self.node_id:
            raise UsageError("a node cannot send a message to itself")
        info = directory.node(recipient)
        if info is None:
            raise UsageError(f"recipient {recipient!r} is not in directory version {directory.version}")
        try:
            check_exchange(directory, sender_node=self.node_id, recipient_node=recipient, kind=body_kind(body))
        except RefusalError as e:
            raise UsageError(f"not sent: {e.reason}") from e
        key = info.active_encryption_key(now)
        if key is None:
            raise UsageError(
                f"recipient {recipient!r} has no active encryption key in directory version {directory.version}"
            )
        ttl = ttl_seconds or self.config.delivery.message_ttl_seconds
        if not 60 <= ttl <= self.limits.max_lifetime_ms // 1000:
            raise UsageError(f"ttl_seconds must be between 60 and {self.limits.max_lifetime_ms // 1000}, got {ttl}")
        # No await between taking the sequence number and using it, so numbers are unique; a
        # number is only burnt when the commit itself fails (the user then gets the error).
        sequence = self._sequences.get(recipient, 0) + 1
        message_id = secrets.token_bytes(16)
        try:
            sealed = seal(  # validates the body (focalpoint.body) before signing anything
                signer=self._signer,
                sender_node=self.node_id,
                recipient_node=recipient,
                recipient_key=key,
                body=body,
                message_id=message_id,
                created_at_ms=now,
                expires_at_ms=now + ttl * 1000,
                directory_version=directory.version,
                sequence=sequence,
                in_reply_to=in_reply_to,
            )
        except InvalidBody as e:
            raise UsageError(f"invalid message body: {e}") from e
        envelope_bytes = sealed.envelope.SerializeToString()
        if len(envelope_bytes) > self.limits.max_envelope_bytes:
            raise UsageError(
                f"message is {len(envelope_bytes)} bytes sealed; the limit is {self.limits.max_envelope_bytes}"
            )
        self._sequences[recipient] = sequence
        stored_id = await self._outbox_commit.submit(
            NewOutbox(
                message_id=message_id,
                recipient=recipient,
                peer_sequence=sequence,
                envelope=envelope_bytes,
                digest=sealed.digest,
                local_copy=self.cipher.seal(sealed.payload, purpose=OUTBOX_PURPOSE, message_id=message_id),
                created_at_ms=now,
                expires_at_ms=now + ttl * 1000,
                client_request_id=client_request_id,
                case_ref=case_ref_of(body),
                message_kind=body_kind(body),
            )
        )
        if stored_id == message_id:
            self.delivery.enqueue(recipient, Outgoing(message_id, envelope_bytes, sealed.digest))
        log.debug("message_queued", recipient=recipient, message_id=stored_id.hex(), sequence=sequence)
        return Submitted(stored_id, DeliveryState.QUEUED)


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None
