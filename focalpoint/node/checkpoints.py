"""This node's signed checkpoints of its own audit log (docs/protocol.md §10.3).

Signed on a schedule and on demand, over the log as committed at that moment, with the
node's ACTIVE log key (``KeyRing.log_signer``); stored with the cosignatures partners
return. The latest one travels with this node's envelopes to each partner (``latest_raw``).
"""

from __future__ import annotations

import asyncio

import structlog

from focalpoint.audit.checkpoint import make_checkpoint, with_cosignatures
from focalpoint.errors import PreconditionFailed, StorageError, UsageError
from focalpoint.node.keyring import KeyRing
from focalpoint.node.ports import Clock, DirectoryView
from focalpoint.node.restore import Epoch, current_epoch
from focalpoint.storage.base import AuditStore
from focalpoint.v1 import audit_pb2

__all__ = ["Checkpoints"]

log = structlog.get_logger("focalpoint.node")


class Checkpoints:
    def __init__(
        self, *, me: str, audit: AuditStore, keyring: KeyRing, directory: DirectoryView, clock_ms: Clock
    ) -> None:
        self._me = me
        self._audit = audit
        self._keyring = keyring
        self._directory = directory
        self._clock = clock_ms
        self._lock = asyncio.Lock()
        self._latest_raw = b""
        self._epoch = Epoch(0, None)

    @property
    def latest_raw(self) -> bytes:
        """This node's latest signed checkpoint, serialized (empty before the first)."""
        return self._latest_raw

    async def load(self) -> None:
        latest = await self._audit.latest_checkpoint()
        self._latest_raw = latest[0] if latest is not None else b""
        self._epoch = await current_epoch(self._audit)

    @property
    def epoch(self) -> Epoch:
        """The log's epoch (``focalpoint.node.restore``): new checkpoints name it and carry its declaration."""
        return self._epoch

    async def get(self, *, create: bool = True) -> audit_pb2.SignedCheckpoint:
        """The latest signed checkpoint with its cosignatures; with ``create``, first sign one
        over the log as committed now if it has grown. Raises PreconditionFailed when there is
        none to give, or no log key to sign with."""
        async with self._lock:
            size = self._audit.size
            latest = await self._audit.latest_checkpoint()
            if latest is not None:
                signed = with_cosignatures(*latest)
                if not create or audit_pb2.Checkpoint.FromString(signed.checkpoint).size >= size:
                    return signed
            elif not create:
                raise PreconditionFailed("this node has signed no checkpoint yet")
            signer = self._keyring.log_signer
            if signer is None:
                raise PreconditionFailed(
                    f"this node has no ACTIVE log key in directory version {self._directory().version};"
                    " its directory entry must list one (log_keys) before it can sign checkpoints"
                )
            root = await self._audit.read(lambda view: view.root(size))
            # Never dated before the previous checkpoint, even if the clock was stepped back.
            now = max(self._clock(), self._issued_at(latest))
            signed = make_checkpoint(
                signer,
                log_node=self._me,
                size=size,
                root=root,
                issued_at_ms=now,
                epoch=self._epoch.number,
                restore=self._epoch.declaration,
            )
            raw = await self._audit.add_checkpoint(size, signed.SerializeToString(), now)
            self._latest_raw = raw
            log.info("checkpoint_signed", size=size)
            return audit_pb2.SignedCheckpoint.FromString(raw)

    @staticmethod
    def _issued_at(latest: tuple[bytes, list[bytes]] | None) -> int:
        if latest is None:
            return 0
        signed = audit_pb2.SignedCheckpoint.FromString(latest[0])
        return audit_pb2.Checkpoint.FromString(signed.checkpoint).issued_at_ms

    async def scheduled(self) -> None:
        """The timer's checkpoint: signed when there is a key and a log; failures are logged."""
        if self._keyring.log_signer is None or self._audit.size == 0:
            return
        try:
            await self.get()
        except (UsageError, StorageError) as e:
            log.error("checkpoint_failed", error=str(e))
