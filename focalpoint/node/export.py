"""Exporting a case's evidence file: the node's signed log proofs, messages and receipts.

The file format and its offline check are ``focalpoint.audit.evidence`` (pure); this is the
node's half, which reads its own store and asks each receiver for its proof of delivery.
"""

from __future__ import annotations

from focalpoint.audit import events as audit_events
from focalpoint.audit.checkpoint import with_cosignatures
from focalpoint.audit.evidence import FORMAT_VERSION, seal_evidence
from focalpoint.errors import FocalpointError, NotFound, PreconditionFailed, UsageError
from focalpoint.node.checkpoints import Checkpoints
from focalpoint.node.keyring import KeyRing
from focalpoint.node.ports import Clock, DirectoryView, PeerTransport
from focalpoint.storage.base import AuditView, Store
from focalpoint.v1 import audit_pb2, envelope_pb2

__all__ = ["Exporter"]


class Exporter:
    def __init__(
        self,
        *,
        me: str,
        store: Store,
        keyring: KeyRing,
        checkpoints: Checkpoints,
        transport: PeerTransport,
        directory: DirectoryView,
        clock_ms: Clock,
    ) -> None:
        self._me = me
        self._store = store
        self._keyring = keyring
        self._checkpoints = checkpoints
        self._transport = transport
        self._directory = directory
        self._clock = clock_ms

    async def _receiver_log(self, peer: str, receipt: bytes | None) -> audit_pb2.PeerInclusion | None:
        """The receiver's proof that its log records the delivery, against the newest checkpoint of
        its log this node cosigned; None when there is none yet or the receiver cannot be asked now."""
        if not receipt:
            return None
        index = envelope_pb2.ReceiptContent.FromString(envelope_pb2.Receipt.FromString(receipt).content).log_index
        raw = await self._store.audit.witnessed(peer)
        if raw is None:
            return None
        signed = audit_pb2.SignedCheckpoint.FromString(raw)
        size = audit_pb2.Checkpoint.FromString(signed.checkpoint).size
        if index >= size:
            return None
        try:
            proof = await self._transport.inclusion_proof(peer, index, size)
        except FocalpointError:  # not reachable now, or it cannot prove it: the bundle says so
            return None
        return audit_pb2.PeerInclusion(checkpoint=signed, index=index, leaf=proof.leaf, path=proof.path)

    async def export_case(self, case_ref: str, actor: str, *, written_request: str = "") -> tuple[bytes, int, int]:
        """Build and sign a case's evidence file; returns (file bytes, events, messages).

        The export is itself logged first, so the bundle's checkpoint covers it.
        """
        if not case_ref or len(case_ref) > 128:
            raise UsageError("case_ref must be 1 to 128 characters")
        store = self._store
        outgoing = await store.outbox.of_case(case_ref)
        incoming = await store.inbox.of_case(case_ref)
        if not outgoing and not incoming:
            raise NotFound("this node holds no message of that case")
        signer = self._keyring.log_signer
        if signer is None:
            raise PreconditionFailed("this node has no ACTIVE log key in its directory entry; it cannot sign evidence")
        now = self._clock()
        exported = audit_events.exported(at_ms=now, actor=actor, case_ref=case_ref, written_request=written_request)
        await store.audit.record([exported], case_ref)
        signed = await self._checkpoints.get()
        checkpoint = audit_pb2.Checkpoint.FromString(signed.checkpoint)
        size = checkpoint.size
        indices = [i for i in await store.audit.case_indices(case_ref) if i < size]

        def proofs(log: AuditView) -> list[audit_pb2.EvidenceLeaf]:
            return [
                audit_pb2.EvidenceLeaf(index=i, leaf=log.leaf(i), path=log.inclusion_proof(i, size)) for i in indices
            ]

        bundle = audit_pb2.EvidenceBundle(
            format_version=FORMAT_VERSION,
            node=self._me,
            case_ref=case_ref,
            exported_at_ms=now,
            exported_by=actor,
            directory_bundle=self._directory().raw,
            checkpoint=signed,
            events=await store.audit.read(proofs),
            messages=[
                *[
                    audit_pb2.EvidenceMessage(
                        envelope=o.envelope,
                        receipt=o.receipt or b"",
                        outgoing=True,
                        receiver_log=await self._receiver_log(o.recipient, o.receipt),
                    )
                    for o in outgoing
                ],
                *(audit_pb2.EvidenceMessage(envelope=i.envelope, receipt=i.receipt) for i in incoming),
            ],
        )
        if not signed.cosignatures:
            witnessed = await store.audit.latest_cosigned_checkpoint()
            if witnessed is not None:
                w = with_cosignatures(*witnessed)
                w_size = audit_pb2.Checkpoint.FromString(w.checkpoint).size
                bundle.witnessed.CopyFrom(w)
                if 0 < w_size < size:
                    bundle.witnessed_consistency.extend(
                        await store.audit.read(lambda log: log.consistency_proof(w_size, size))
                    )
        return seal_evidence(bundle, signer), len(bundle.events), len(bundle.messages)
