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
    ) -> None:
        self._me = me
        self._audit = audit
        self._transport = transport
        self._directory = directory
        self._signer = signer
        self._clock = clock_ms
        self._spawn = spawn
        self._locks: dict[str, asyncio.Lock] = {}
        self._known: dict[str, int] = {}  # peer -> largest size cosigned this run
        self._alarmed: set[tuple[str, bytes, bytes]] | None = None
        self._warned_no_key = False

    def offered(self, peer: str, raw: bytes) -> None:
        """A partner's envelope carried its checkpoint: check that partner if it is news."""
        try:
            size = audit_pb2.Checkpoint.FromString(parse_signed_checkpoint(raw).checkpoint).size
        except Exception:  # malformed: the scheduled round will fetch the real one
            return
        if size <= self._known.get(peer, -1) or self._lock(peer).locked():
            return
        if peer in partners(self._directory(), self._me):  # only partners are witnessed
            self._spawn(self.check(peer))

    def _lock(self, peer: str) -> asyncio.Lock:
        return self._locks.setdefault(peer, asyncio.Lock())

    async def round(self) -> list[WitnessOutcome]:
        """Check every agreement partner's log."""
        return await self.check_all(partners(self._directory(), self._me))

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
        if previous is not None:
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
            alarm = await self._compare(peer, seen, new, via=other)
            if alarm is not None:
                return alarm
        if previous is not None and new.size <= previous.size:
            self._known[peer] = max(self._known.get(peer, 0), previous.size)
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
        event = audit_events.cosigned(at_ms=now, peer=peer, size=new.size, root=new.root)
        await self._audit.set_witnessed(peer, new.size, kept.SerializeToString(), event, now)
        self._known[peer] = new.size
        await self._transport.cosign(peer, cosignature)
        log.info("witness_cosigned", peer=peer, size=new.size)
        return WitnessOutcome(peer, "cosigned", new.size)

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
        key = (peer, a.raw, b.raw)
        if self._alarmed is None:  # the evidence kept before a restart
            self._alarmed = set()
            for raw in await self._audit.alarms():
                kept = audit_pb2.ConflictEvidence.FromString(raw)
                self._alarmed.add((kept.log_node, kept.earlier.checkpoint, kept.later.checkpoint))
        if key in self._alarmed:  # already kept as evidence; say so again without storing it twice
            return WitnessOutcome(peer, "alarm", b.size, reason)
        self._alarmed.add(key)
        if via:
            reason = f"{reason} (one checkpoint as cosigned by {via})"
        now = self._clock()
        evidence = audit_pb2.ConflictEvidence(
            log_node=peer,
            earlier=audit_pb2.SignedCheckpoint(checkpoint=a.raw, signatures=a.signed.signatures),
            later=audit_pb2.SignedCheckpoint(checkpoint=b.raw, signatures=b.signed.signatures),
            offered_proof=proof or [],
            reason=reason,
            detected_at_ms=now,
            detected_by=self._me,
        )
        event = audit_events.witness_alarm(at_ms=now, peer=peer, size=b.size, root=b.root, reason=reason)
        await self._audit.add_alarm(peer, evidence.SerializeToString(), event, now)
        log.error("witness_alarm", peer=peer, reason=reason)
        return WitnessOutcome(peer, "alarm", b.size, reason)


def _cosigned_by(signed: audit_pb2.SignedCheckpoint, witness: str) -> bool:
    """Whether the checkpoint as the partner serves it carries ``witness``'s cosignature."""
    for cosignature in signed.cosignatures:
        try:
            if audit_pb2.CosignedContent.FromString(cosignature.content).witness_node == witness:
                return True
        except DecodeError:
            continue
    return False
