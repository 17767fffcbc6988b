"""Witnessing: every node checks and cosigns its agreement partners' audit checkpoints.

For a partner P, a round:

1. fetches P's latest signed checkpoint and checks P's hybrid signature;
2. compares it with the last checkpoint of P this node cosigned: same size means same root,
   a larger size needs a consistency proof from P, a smaller one must be older;
3. compares it with what P's other partners cosigned (gossip: ``GetCheckpoint(log_node=P)``
   asked of them), so a log showing one history to one partner and another to a second
   is caught;
4. cosigns, stores the cosigned checkpoint and hands the cosignature back to P.

Any contradiction is kept as ``ConflictEvidence`` (both signed checkpoints and what P
offered as proof), logged as a WITNESS_ALARM event, and nothing is cosigned.
Checkpoints a partner carries in its envelopes trigger a check of that partner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from google.protobuf.message import DecodeError

from focalpoint.audit import events as audit_events
from focalpoint.audit.checkpoint import (
    VerifiedCheckpoint,
    clock_disorder,
    contradiction,
    cosign,
    declared_restore,
    parse_signed_checkpoint,
    stored_checkpoint,
    verify_checkpoint,
)
from focalpoint.crypto.signing import AdminSigner
from focalpoint.errors import (
    FocalpointError,
    PermissionDenied,
    StorageError,
    TransportError,
    UsageError,
    VerificationError,
)
from focalpoint.exchange.policy import partners
from focalpoint.node.ports import Clock, DirectoryView, PeerTransport, Spawn
from focalpoint.storage.base import AuditStore
from focalpoint.v1 import audit_pb2

__all__ = ["Witness", "WitnessOutcome"]

log = structlog.get_logger("focalpoint.witness")

# Events read at a time when looking back through this node's own log.
_EVENTS_PAGE = 1000


@dataclass(frozen=True, slots=True)
class WitnessOutcome:
    peer: str
    # "cosigned", "unchanged", "alarm", "unreachable", "skipped"
    result: str
    size: int = 0
    detail: str = ""


class Witness:
    def __init__(
        self,
        *,
        me: str,
        audit: AuditStore,
        transport: PeerTransport,
        directory: DirectoryView,
        signer: Callable[[], AdminSigner | None],
        clock_ms: Clock,
        spawn: Spawn,
        file_only: Callable[[str], bool] = lambda peer: False,
    ) -> None:
        """``file_only``: partners reached by sealed files only; witnessing needs a live answer, so
        the rounds leave them out (docs/adr/0020)."""
        self._file_only = file_only
        self._me = me
        self._audit = audit
        self._transport = transport
        self._directory = directory
        self._signer = signer
        self._clock = clock_ms
        self._spawn = spawn
        self._locks: dict[str, asyncio.Lock] = {}
        self._known: dict[str, tuple[int, int]] = {}  # peer -> latest (epoch, size) cosigned this run
        self._alarmed: set[tuple[str, bytes, bytes]] | None = None
        self._warned_no_key = False

    def offered(self, peer: str, raw: bytes) -> None:
        """A partner's envelope carried its checkpoint: check that partner if it is news."""
        try:
            cp = audit_pb2.Checkpoint.FromString(parse_signed_checkpoint(raw).checkpoint)
        except Exception:  # malformed: the scheduled round will fetch the real one
            return
        if (cp.epoch, cp.size) <= self._known.get(peer, (-1, -1)) or self._lock(peer).locked():
            return
        if peer in partners(self._directory(), self._me):  # only partners are witnessed
            self._spawn(self.check(peer))

    def _lock(self, peer: str) -> asyncio.Lock:
        return self._locks.setdefault(peer, asyncio.Lock())

    async def round(self) -> list[WitnessOutcome]:
        """Check every agreement partner's log."""
        return await self.check_all([p for p in partners(self._directory(), self._me) if not self._file_only(p)])

    async def check_all(self, peers: list[str]) -> list[WitnessOutcome]:
        return list(await asyncio.gather(*(self.check(p) for p in peers)))

    async def check(self, peer: str) -> WitnessOutcome:
        signer = self._signer()
        if signer is None:
            if not self._warned_no_key:
                self._warned_no_key = True
                log.warning("witness_without_log_key", action="add a log key: focalpoint node rotate-key --kind log")
            return WitnessOutcome(peer, "skipped", detail="this node has no active log key in the directory")
        async with self._lock(peer):
            try:
                return await self._check(peer, signer)
            except (TransportError, UsageError, PermissionDenied) as e:  # the partner did not answer usefully now
                log.info("witness_unreachable", peer=peer, error=str(e))
                return WitnessOutcome(peer, "unreachable", detail=str(e))
            except VerificationError as e:
                log.warning("witness_checkpoint_invalid", peer=peer, error=str(e))
                return WitnessOutcome(peer, "skipped", detail=str(e))
            except StorageError as e:
                log.error("witness_store_failed", peer=peer, error=str(e))
                return WitnessOutcome(peer, "skipped", detail=str(e))

    async def _check(self, peer: str, signer: AdminSigner) -> WitnessOutcome:
        directory = self._directory()
        signed = await self._transport.checkpoint(peer, peer)
        new = verify_checkpoint(signed, directory, log_node=peer)
        previous_raw = await self._audit.witnessed(peer)
        previous = stored_checkpoint(parse_signed_checkpoint(previous_raw)) if previous_raw else None
        if previous is not None and new.epoch < previous.epoch:
            reason = f"the log went back from epoch {previous.epoch} to epoch {new.epoch}"
            return await self._alarm(peer, previous, new, None, reason)
        if new.epoch > 0 and (previous is None or new.epoch > previous.epoch):
            # A declared restore began this epoch: the checkpoint must extend the restored log it declares.
            declaration = declared_restore(new, directory)
            alarm = await self._compare(peer, _declared_base(declaration, new), new)
            if alarm is not None:
                return alarm
            if previous is not None:
                alarm = await self._record_restore(peer, previous, new, declaration)
                if alarm is not None:
                    return alarm
                previous = previous_raw = None  # the new epoch is witnessed afresh
        elif previous is not None:
            alarm = await self._compare(peer, previous, new)
            if alarm is not None:
                return alarm
        # Gossip: what the partner's other partners cosigned of its log must agree with this one.
        for other in partners(directory, self._me):
            if other == peer or peer not in partners(directory, other):
                continue
            try:
                theirs = await self._transport.checkpoint(other, peer)
            except FocalpointError:
                continue  # not reachable or never witnessed this log: nothing to compare
            try:
                seen = verify_checkpoint(theirs, directory, log_node=peer)
            except VerificationError:
                continue  # e.g. signed by a log key since retired or revoked: nothing to compare with
            if seen.epoch > new.epoch:  # it showed that partner a later epoch than it shows this node
                reason = f"epoch {new.epoch} shown here, epoch {seen.epoch} cosigned by {other}"
                return await self._alarm(peer, seen, new, None, reason)
            if seen.epoch < new.epoch:
                continue  # cosigned before the declared restore: nothing to compare
            alarm = await self._compare(peer, seen, new, via=other)
            if alarm is not None:
                return alarm
        if previous is not None and new.size <= previous.size:
            self._known[peer] = max(self._known.get(peer, (0, 0)), (previous.epoch, previous.size))
            if new.size == previous.size and previous_raw and not _cosigned_by(signed, self._me):
                # This node cosigned but the partner never got it (the Cosign call failed): hand it back.
                [mine] = parse_signed_checkpoint(previous_raw).cosignatures
                await self._transport.cosign(peer, mine)
                log.info("witness_cosignature_handed_back", peer=peer, size=new.size)
            return WitnessOutcome(peer, "unchanged", previous.size)
        now = self._clock()
        cosignature = cosign(signer, witness=self._me, checkpoint=new.raw, at_ms=now)
        kept = audit_pb2.SignedCheckpoint(
            checkpoint=new.raw, signatures=new.signed.signatures, cosignatures=[cosignature]
        )
        if new.signed.HasField("restore"):
            kept.restore.CopyFrom(new.signed.restore)
        event = audit_events.cosigned(at_ms=now, peer=peer, size=new.size, root=new.root, epoch=new.epoch)
        await self._audit.set_witnessed(peer, new.size, kept.SerializeToString(), event, now)
        self._known[peer] = (new.epoch, new.size)
        await self._transport.cosign(peer, cosignature)
        log.info("witness_cosigned", peer=peer, size=new.size)
        return WitnessOutcome(peer, "cosigned", new.size)

    async def _record_restore(
        self,
        peer: str,
        previous: VerifiedCheckpoint,
        new: VerifiedCheckpoint,
        declaration: audit_pb2.RestoreDeclaration,
    ) -> WitnessOutcome | None:
        """A partner declared a restore since this node last cosigned its log: keep the declaration
        as evidence, with what this node knows lost, instead of an alarm. What this node cosigned
        within the restored log must still be part of it: the largest checkpoint of the restored
        log's epoch it cosigned, of at most the restored size, must be a prefix of the new one (an
        alarm otherwise: a restore drops events, it does not rewrite those kept)."""
        restored, from_epoch = declaration.restored_size, declaration.restored_epoch
        kept: tuple[int, bytes] | None
        if previous.epoch == from_epoch and previous.size <= restored:
            kept = (previous.size, previous.root)
        else:
            kept = await self._cosigned_within(peer, from_epoch, restored)
        if kept is not None:
            base = VerifiedCheckpoint(peer, kept[0], kept[1], previous.issued_at_ms, previous.signed, new.epoch)
            alarm = await self._compare(peer, base, new)
            if alarm is not None:
                return alarm
        # Lost, as far as this node knows: what it cosigned beyond the restored log.
        lost_to = previous.size if previous.size > restored or previous.epoch != from_epoch else 0
        now = self._clock()
        kept_new = audit_pb2.SignedCheckpoint(checkpoint=new.raw, signatures=new.signed.signatures)
        kept_new.restore.CopyFrom(new.signed.restore)
        evidence = audit_pb2.RestoreEvidence(
            log_node=peer,
            last_cosigned=previous.signed,
            declaration=new.signed.restore,
            first_seen=kept_new,
            recorded_at_ms=now,
            recorded_by=self._me,
        )
        event = audit_events.peer_restored(
            at_ms=now,
            peer=peer,
            epoch=new.epoch,
            size=restored,
            root=declaration.restored_root,
            lost_to=lost_to,
            declaration=new.signed.restore.declaration,
        )
        await self._audit.record_restore(peer, evidence.SerializeToString(), event, now)
        self._known.pop(peer, None)
        log.warning(
            "peer_restored",
            peer=peer,
            epoch=new.epoch,
            restored_from_epoch=from_epoch,
            restored_events=restored,
            lost_from=restored,
            lost_to=max(lost_to, restored),
            cosigned_before=previous.size,
            action="its events in that range are gone; messages it received then may need sending again",
        )
        return None

    async def _cosigned_within(self, peer: str, epoch: int, max_size: int) -> tuple[int, bytes] | None:
        """(size, root) of the largest checkpoint of ``peer``'s log in ``epoch``, of at most
        ``max_size`` events, this node cosigned — from its own COSIGNED events, newest first (within
        an epoch, what it cosigned only grew). None when it cosigned none."""
        before = 0
        while True:
            page = await self._audit.events(_EVENTS_PAGE, before)
            for _, leaf in page:
                event = audit_events.decode(leaf)
                if (
                    event.kind == audit_pb2.AUDIT_EVENT_KIND_COSIGNED
                    and event.peer_node == peer
                    and event.log_epoch == epoch
                    and 0 < event.checkpoint_size <= max_size
                ):
                    return event.checkpoint_size, event.checkpoint_root
            if not page or page[-1][0] == 0:
                return None
            before = page[-1][0]

    async def _compare(
        self,
        peer: str,
        a: VerifiedCheckpoint,
        b: VerifiedCheckpoint,
        *,
        via: str = "",
    ) -> WitnessOutcome | None:
        small, large = (a, b) if a.size <= b.size else (b, a)
        proof: list[bytes] | None = None
        if 0 < small.size < large.size:  # sizes, roots and proofs decide; times only warn
            try:
                proof = await self._transport.consistency_proof(peer, small.size, large.size)
            except UsageError:  # out of range, invalid, not possible: the log says it cannot prove it
                proof = None  # that is itself the finding
            except FocalpointError as e:
                raise TransportError(f"no consistency proof from {peer!r} now: {e}") from e
        reason = contradiction(a, b, proof)
        if reason is None:
            disorder = clock_disorder(a, b)
            if disorder is not None:
                log.warning("witness_clock_disorder", peer=peer, detail=disorder)
            return None
        if via:
            reason = f"{reason} (one checkpoint as cosigned by {via})"
        return await self._alarm(peer, a, b, proof, reason)

    async def _alarm(
        self, peer: str, a: VerifiedCheckpoint, b: VerifiedCheckpoint, proof: list[bytes] | None, reason: str
    ) -> WitnessOutcome:
        """Keep two checkpoints that cannot both be true as evidence (once), and say so."""
        key = (peer, a.raw, b.raw)
        if self._alarmed is None:  # the evidence kept before a restart
            self._alarmed = set()
            for raw in await self._audit.alarms():
                kept = audit_pb2.ConflictEvidence.FromString(raw)
                self._alarmed.add((kept.log_node, kept.earlier.checkpoint, kept.later.checkpoint))
        if key in self._alarmed:  # already kept as evidence; say so again without storing it twice
            return WitnessOutcome(peer, "alarm", b.size, reason)
        self._alarmed.add(key)
        now = self._clock()
        evidence = audit_pb2.ConflictEvidence(
            log_node=peer,
            earlier=_evidence_copy(a),
            later=_evidence_copy(b),
            offered_proof=proof or [],
            reason=reason,
            detected_at_ms=now,
            detected_by=self._me,
        )
        event = audit_events.witness_alarm(at_ms=now, peer=peer, size=b.size, root=b.root, reason=reason)
        await self._audit.add_alarm(peer, evidence.SerializeToString(), event, now)
        log.error("witness_alarm", peer=peer, reason=reason)
        return WitnessOutcome(peer, "alarm", b.size, reason)


def _declared_base(declaration: audit_pb2.RestoreDeclaration, new: VerifiedCheckpoint) -> VerifiedCheckpoint:
    """The restored log a declaration names, as a checkpoint of the new epoch to extend."""
    return VerifiedCheckpoint(
        new.log_node,
        declaration.restored_size,
        declaration.restored_root,
        declaration.declared_at_ms,
        new.signed,
        new.epoch,
    )


def _evidence_copy(checkpoint: VerifiedCheckpoint) -> audit_pb2.SignedCheckpoint:
    """A checkpoint as conflict evidence keeps it: signed bytes, signatures, and any restore declaration."""
    kept = audit_pb2.SignedCheckpoint(checkpoint=checkpoint.raw, signatures=checkpoint.signed.signatures)
    if checkpoint.signed.HasField("restore"):
        kept.restore.CopyFrom(checkpoint.signed.restore)
    return kept


def _cosigned_by(signed: audit_pb2.SignedCheckpoint, witness: str) -> bool:
    """Whether the checkpoint as the partner serves it carries ``witness``'s cosignature."""
    for cosignature in signed.cosignatures:
        try:
            if audit_pb2.CosignedContent.FromString(cosignature.content).witness_node == witness:
                return True
        except DecodeError:
            continue
    return False
