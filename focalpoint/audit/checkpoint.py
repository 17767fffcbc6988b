"""Signed checkpoints and witness cosignatures (pure; docs/protocol.md §10.3).

A checkpoint says "the log of node N had S leaves with root R at time T", signed with N's
hybrid log key (Ed25519 + ML-DSA-65, both must verify). A witness cosigns a checkpoint
only after checking it consistent with the last one it cosigned. Two validly signed
checkpoints of one log that cannot both be true are self-contained evidence of a
rewritten or forked log (``contradiction``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from google.protobuf.message import DecodeError

from focalpoint.crypto.merkle import verify_consistency
from focalpoint.crypto.signing import AdminSigner, AdminVerifier, Context
from focalpoint.errors import VerificationError
from focalpoint.ids import MAX_INT64, NODE_ID
from focalpoint.v1 import audit_pb2

__all__ = [
    "LogKeys",
    "VerifiedCheckpoint",
    "checked_cosignature",
    "clock_disorder",
    "contradiction",
    "cosign",
    "declared_restore",
    "make_checkpoint",
    "make_restore_declaration",
    "parse_signed_checkpoint",
    "stored_checkpoint",
    "verify_checkpoint",
    "verify_cosignature",
    "with_cosignatures",
]

MAX_CHECKPOINT_BYTES = 256 * 1024


class LogKeys(Protocol):
    def log_key(self, node_id: str, key_id: str, at_ms: int) -> AdminVerifier | None: ...


@dataclass(frozen=True, slots=True)
class VerifiedCheckpoint:
    log_node: str
    size: int
    root: bytes
    issued_at_ms: int
    signed: audit_pb2.SignedCheckpoint
    epoch: int = 0

    @property
    def raw(self) -> bytes:
        """The signed checkpoint bytes, without cosignatures (what conflict evidence keeps)."""
        return self.signed.checkpoint


def make_checkpoint(
    signer: AdminSigner,
    *,
    log_node: str,
    size: int,
    root: bytes,
    issued_at_ms: int,
    epoch: int = 0,
    restore: audit_pb2.SignedRestoreDeclaration | None = None,
) -> audit_pb2.SignedCheckpoint:
    """A signed checkpoint; from a log's first declared restore on (``epoch`` > 0) it carries the
    declaration that began its epoch (``restore``)."""
    if (epoch > 0) != (restore is not None):
        raise ValueError("a checkpoint carries a restore declaration exactly when its epoch is above 0")
    content = audit_pb2.Checkpoint(
        log_node=log_node, size=size, root_hash=root, issued_at_ms=issued_at_ms, epoch=epoch
    ).SerializeToString()
    signed = audit_pb2.SignedCheckpoint(checkpoint=content, signatures=signer.sign(Context.CHECKPOINT, content))
    if restore is not None:
        signed.restore.CopyFrom(restore)
    return signed


def make_restore_declaration(
    signer: AdminSigner, declaration: audit_pb2.RestoreDeclaration
) -> audit_pb2.SignedRestoreDeclaration:
    content = declaration.SerializeToString(deterministic=True)
    return audit_pb2.SignedRestoreDeclaration(declaration=content, signatures=signer.sign(Context.RESTORE, content))


def declared_restore(checkpoint: VerifiedCheckpoint, keys: LogKeys) -> audit_pb2.RestoreDeclaration:
    """The declaration a checkpoint of epoch > 0 carries, checked: signed by its log node's log key
    (valid when declared), for that node and that epoch, restoring a log no larger than the
    checkpoint's. Raises VerificationError."""
    signed = checkpoint.signed.restore
    if checkpoint.epoch == 0 or not checkpoint.signed.HasField("restore"):
        raise VerificationError(f"checkpoint of epoch {checkpoint.epoch} carries no restore declaration")
    try:
        decl = audit_pb2.RestoreDeclaration.FromString(signed.declaration)
    except DecodeError as e:
        raise VerificationError(f"the restore declaration does not parse: {e}") from e
    if decl.log_node != checkpoint.log_node or decl.epoch != checkpoint.epoch:
        raise VerificationError(
            f"the restore declaration is of {decl.log_node!r} epoch {decl.epoch},"
            f" the checkpoint of {checkpoint.log_node!r} epoch {checkpoint.epoch}"
        )
    if len(decl.restored_root) != 32 or decl.restored_size > checkpoint.size or decl.restored_size > MAX_INT64:
        raise VerificationError(
            f"the restore declaration's restored log ({decl.restored_size} events) is not a prefix the"
            f" checkpoint's ({checkpoint.size}) can extend"
        )
    key = _signer_key(
        keys,
        decl.log_node,
        [s.key_id for s in signed.signatures],
        decl.declared_at_ms,
        f"restore declaration of {decl.log_node!r}",
    )
    key.verify(Context.RESTORE, signed.declaration, signed.signatures)
    return decl


def parse_signed_checkpoint(raw: bytes) -> audit_pb2.SignedCheckpoint:
    if len(raw) > MAX_CHECKPOINT_BYTES:
        raise VerificationError(f"checkpoint is {len(raw)} bytes; the limit is {MAX_CHECKPOINT_BYTES}")
    try:
        return audit_pb2.SignedCheckpoint.FromString(raw)
    except DecodeError as e:
        raise VerificationError(f"checkpoint does not parse: {e}") from e


def _signer_key(keys: LogKeys, node: str, signatures: list[str], at_ms: int, what: str) -> AdminVerifier:
    for key_id in dict.fromkeys(signatures):
        key = keys.log_key(node, key_id, at_ms)
        if key is not None:
            return key
    raise VerificationError(f"{what} is not signed by a log key of {node!r} valid at {at_ms}")


def verify_checkpoint(
    signed: audit_pb2.SignedCheckpoint, keys: LogKeys, *, log_node: str | None = None
) -> VerifiedCheckpoint:
    """Check the log node's hybrid signature; raises VerificationError. Cosignatures are not checked here."""
    try:
        cp = audit_pb2.Checkpoint.FromString(signed.checkpoint)
    except DecodeError as e:
        raise VerificationError(f"checkpoint content does not parse: {e}") from e
    if not NODE_ID.match(cp.log_node):
        raise VerificationError("checkpoint names no valid log node")
    if log_node is not None and cp.log_node != log_node:
        raise VerificationError(f"checkpoint is of the log of {cp.log_node!r}, not {log_node!r}")
    if len(cp.root_hash) != 32:
        raise VerificationError("checkpoint root must be 32 bytes")
    if cp.size > MAX_INT64:
        raise VerificationError(f"checkpoint size must be at most {MAX_INT64} (no log is larger); got {cp.size}")
    key = _signer_key(
        keys, cp.log_node, [s.key_id for s in signed.signatures], cp.issued_at_ms, f"checkpoint of {cp.log_node!r}"
    )
    key.verify(Context.CHECKPOINT, signed.checkpoint, signed.signatures)
    return VerifiedCheckpoint(cp.log_node, cp.size, cp.root_hash, cp.issued_at_ms, signed, cp.epoch)


def stored_checkpoint(signed: audit_pb2.SignedCheckpoint) -> VerifiedCheckpoint:
    """A checkpoint this node verified before it kept it (its own witness record).

    Not re-verified against today's directory: a partner's key rotated or revoked since
    must not make what was already checked unusable as the base for the next check.
    """
    try:
        cp = audit_pb2.Checkpoint.FromString(signed.checkpoint)
    except DecodeError as e:
        raise VerificationError(f"stored checkpoint does not parse: {e}") from e
    return VerifiedCheckpoint(cp.log_node, cp.size, cp.root_hash, cp.issued_at_ms, signed, cp.epoch)


def with_cosignatures(raw: bytes, cosignatures: Sequence[bytes]) -> audit_pb2.SignedCheckpoint:
    """A stored checkpoint and the cosignatures stored beside it, as one message (not verified)."""
    signed = parse_signed_checkpoint(raw)
    try:
        signed.cosignatures.extend(audit_pb2.Cosignature.FromString(c) for c in cosignatures)
    except DecodeError as e:
        raise VerificationError(f"a stored cosignature does not parse: {e}") from e
    return signed


def cosign(signer: AdminSigner, *, witness: str, checkpoint: bytes, at_ms: int) -> audit_pb2.Cosignature:
    content = audit_pb2.CosignedContent(
        checkpoint=checkpoint, witness_node=witness, cosigned_at_ms=at_ms
    ).SerializeToString()
    return audit_pb2.Cosignature(content=content, signatures=signer.sign(Context.COSIGNATURE, content))


def verify_cosignature(
    cosignature: audit_pb2.Cosignature,
    keys: LogKeys,
    *,
    checkpoint: bytes,
    now_ms: int | None = None,
    skew_ms: int = 0,
) -> audit_pb2.CosignedContent:
    """The witness's hybrid signature over exactly ``checkpoint``; raises VerificationError.

    ``now_ms``: the receiver's clock, when it has one (a node receiving a cosignature): a
    cosignature dated later than ``now_ms + skew_ms`` is refused. None when checking what was
    kept before (an evidence file read years later has no clock to compare with).
    """
    return checked_cosignature(cosignature, keys, checkpoint=checkpoint, now_ms=now_ms, skew_ms=skew_ms)[0]


def checked_cosignature(
    cosignature: audit_pb2.Cosignature,
    keys: LogKeys,
    *,
    checkpoint: bytes,
    now_ms: int | None,
    skew_ms: int = 0,
) -> tuple[audit_pb2.CosignedContent, audit_pb2.Cosignature]:
    """As ``verify_cosignature``, with the cosignature rebuilt from what verified: its content and
    the witness's valid signature pair only (what a node keeps and serves)."""
    try:
        content = audit_pb2.CosignedContent.FromString(cosignature.content)
    except DecodeError as e:
        raise VerificationError(f"cosignature does not parse: {e}") from e
    if content.checkpoint != checkpoint:
        raise VerificationError(f"cosignature by {content.witness_node!r} is over another checkpoint")
    if now_ms is not None and content.cosigned_at_ms > now_ms + skew_ms:
        raise VerificationError(
            f"cosignature by {content.witness_node!r} is dated {content.cosigned_at_ms - now_ms} ms after this"
            f" node's clock; at most {skew_ms} ms of clock skew is allowed"
        )
    key = _signer_key(
        keys,
        content.witness_node,
        [s.key_id for s in cosignature.signatures],
        content.cosigned_at_ms,
        f"cosignature by {content.witness_node!r}",
    )
    pair = key.valid_pair(Context.COSIGNATURE, cosignature.content, cosignature.signatures)
    return content, audit_pb2.Cosignature(content=cosignature.content, signatures=pair)


def contradiction(earlier: VerifiedCheckpoint, later: VerifiedCheckpoint, proof: list[bytes] | None) -> str | None:
    """Why two checkpoints of one log cannot both be true, or None if they can.

    ``earlier`` is the one known first (e.g. the last cosigned), ``later`` the one shown now.
    ``proof`` is the log's consistency proof from the smaller to the larger size (None when
    the log offered none). Equal sizes need no proof: the roots must be equal. Only sizes,
    roots and proofs decide: checkpoint times come from the node's clock, which may be
    stepped back, so their order is at most a warning (``clock_disorder``).
    """
    if earlier.log_node != later.log_node:
        raise ValueError("checkpoints of two different logs")
    if earlier.epoch != later.epoch:
        raise ValueError("checkpoints of two epochs of a log: a declared restore lies between them")
    small, large = (earlier, later) if earlier.size <= later.size else (later, earlier)
    if small.size == large.size:
        return None if small.root == large.root else f"two roots for size {small.size}"
    if small.size == 0:
        return None
    if proof is not None and verify_consistency(small.size, large.size, small.root, large.root, proof):
        return None
    if later.size < earlier.size:  # shown a smaller log than one signed before, and not a prefix of it
        return f"the log shrank from {earlier.size} to {later.size} leaves (no consistency proof links them)"
    if proof is None:
        return f"the log gave no consistency proof from size {small.size} to {large.size}"
    return f"size {large.size} is not an extension of size {small.size} (consistency proof fails)"


def clock_disorder(earlier: VerifiedCheckpoint, later: VerifiedCheckpoint) -> str | None:
    """A warning when the larger of two consistent checkpoints is dated before the smaller: the
    log only grew, but its node's clock was stepped back in between. Never evidence of anything."""
    small, large = (earlier, later) if earlier.size <= later.size else (later, earlier)
    if small.size < large.size and large.issued_at_ms < small.issued_at_ms:
        back_s = (small.issued_at_ms - large.issued_at_ms) / 1000
        return f"checkpoint {large.size} is dated {back_s:.0f} s before checkpoint {small.size}: the clock went back"
    return None
