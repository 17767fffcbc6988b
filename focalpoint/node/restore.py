"""Declaring a restore (docs/adr/0011-declared-restore.md).

A node started on a database that ``focalpoint node restore`` put back from a backup does not
pretend nothing happened. Before it serves anything it signs, with its log key, a
``RestoreDeclaration``: its log continues from the restored events, in the next *epoch*, and
the events it had committed beyond them (as far as it knows: its high-water mark, the replaced
database, what its partners cosigned) are lost. The declaration is recorded as the log's next
event (RESTORED) and travels with every checkpoint of the new epoch, so each partner witnessing
the log records a declared restore instead of a fork alarm (``node.witness``).

Numbers are never reused: per-pair sequence numbers continue above ``epoch << 32`` (higher than
any number the lost interval can have used), message ids are random, and log indices are read
with their epoch (a checkpoint names its epoch; an index from before the restore belongs to the
epoch then in force).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import structlog
from google.protobuf.message import DecodeError

from focalpoint.audit import events as audit_events
from focalpoint.audit.checkpoint import make_restore_declaration
from focalpoint.crypto.signing import AdminSigner
from focalpoint.errors import ConfigError, StorageError
from focalpoint.storage.base import LOG_EPOCH, RESTORE_DECLARATION, RESTORE_PENDING, AuditStore
from focalpoint.v1 import audit_pb2

__all__ = ["SEQUENCE_SHIFT", "Epoch", "Pending", "current_epoch", "declare", "pending_restore"]

log = structlog.get_logger("focalpoint.node")

# Sequence numbers of epoch e start above e << SEQUENCE_SHIFT (4 billion messages per pair and epoch).
SEQUENCE_SHIFT = 32


@dataclass(frozen=True, slots=True)
class Epoch:
    number: int
    declaration: audit_pb2.SignedRestoreDeclaration | None

    @property
    def sequence_floor(self) -> int:
        return self.number << SEQUENCE_SHIFT


@dataclass(frozen=True, slots=True)
class Pending:
    """What ``focalpoint node restore`` recorded on the copy it put in place."""

    restored_at_ms: int
    backup_sha256: bytes
    lost_known_size: int
    # The highest epoch the replaced database had reached: the new epoch goes above it.
    epoch_floor: int = 0


async def current_epoch(audit: AuditStore) -> Epoch:
    """The log's epoch and the declaration that began it; raises StorageError if they are unreadable."""
    number = await audit.meta(LOG_EPOCH)
    raw = await audit.meta(RESTORE_DECLARATION)
    try:
        epoch = int(number or 0)
        declaration = audit_pb2.SignedRestoreDeclaration.FromString(bytes.fromhex(raw)) if raw else None
    except (ValueError, DecodeError) as e:
        raise StorageError(f"the log's epoch settings ({LOG_EPOCH}, {RESTORE_DECLARATION}) are damaged: {e}") from e
    if (epoch > 0) != (declaration is not None):
        raise StorageError(
            f"the log is in epoch {epoch} but its restore declaration is {'missing' if epoch else 'set'}"
        )
    return Epoch(epoch, declaration)


async def pending_restore(audit: AuditStore) -> Pending | None:
    """The restore to declare, if ``focalpoint node restore`` put this database in place."""
    raw = await audit.meta(RESTORE_PENDING)
    if not raw:
        return None
    try:
        found = json.loads(raw)
        return Pending(
            int(found["restored_at_ms"]),
            bytes.fromhex(found["backup_sha256"]),
            int(found["lost_known_size"]),
            int(found.get("epoch_floor", 0)),
        )
    except (ValueError, KeyError, TypeError) as e:
        raise StorageError(f"the restore marker ({RESTORE_PENDING}) is damaged: {e}") from e


async def declare(
    audit: AuditStore,
    *,
    me: str,
    signer: AdminSigner | None,
    pending: Pending,
    lost_known: int,
    epoch_floor: int,
    now_ms: int,
) -> Epoch:
    """Sign the declaration of the next epoch and record it (RESTORED event, epoch settings, the
    marker cleared) in one transaction; the new epoch. It is above the backup's epoch and above
    ``epoch_floor`` (the highest epoch known to exist: the replaced database's, the partners'), so
    no epoch — and no sequence number — is used twice. Raises ConfigError without a log key."""
    if signer is None:
        raise ConfigError(
            "this database was restored from a backup, and the restore must be declared, signed with the"
            " node's log key; the directory lists no ACTIVE log key for this node (focalpoint node"
            " rotate-key --kind log, then publish the entry)"
        )
    previous = await current_epoch(audit)
    number = max(previous.number, epoch_floor, pending.epoch_floor) + 1
    size = audit.size
    root = await audit.read(lambda view: view.root(size))
    declaration = audit_pb2.RestoreDeclaration(
        log_node=me,
        epoch=number,
        restored_size=size,
        restored_root=root,
        lost_known_size=max(lost_known, pending.lost_known_size),
        declared_at_ms=now_ms,
        sequence_floor=number << SEQUENCE_SHIFT,
        backup_sha256=pending.backup_sha256,
        restored_epoch=previous.number,
    )
    signed = make_restore_declaration(signer, declaration)
    event = audit_events.restored(
        at_ms=now_ms,
        epoch=number,
        size=size,
        root=root,
        lost_to=declaration.lost_known_size,
        declaration=signed.declaration,
    )
    settings = {LOG_EPOCH: str(number), RESTORE_DECLARATION: signed.SerializeToString().hex(), RESTORE_PENDING: ""}
    await audit.record([event], meta=settings)
    log.warning(
        "restore_declared",
        epoch=number,
        restored_events=size,
        lost_known=declaration.lost_known_size,
        action="partners record the declared restore; messages received after the backup may need sending again",
    )
    return Epoch(number, signed)
