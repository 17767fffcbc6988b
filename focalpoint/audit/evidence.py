"""A case's evidence file: its format and its check, which runs anywhere with no node (pure).

The file is ``MAGIC`` then a serialized ``EvidenceFile``: the bundle's bytes and the
exporting node's hybrid signature over them. Verification (``verify_evidence``, pure)
is numbered E1–E8 as in docs/protocol.md §10.7 and names the first check that fails;
any changed byte fails one of them. E1 refuses every encoding but the one canonical
form ``seal_evidence`` writes, so nothing can be added, repeated or reordered where a
parser or a signature check would skip it: no unknown field at any level, exactly one
hybrid signature on the file, every signature list in canonical order without
repeats, and at most one cosignature per witness, in witness order. The node's half,
which builds and signs the file from its store, is ``focalpoint.node.export``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from google.protobuf.message import DecodeError, Message

from directory import Directory, TrustedDirectory
from focalpoint.audit import events as audit_events
from focalpoint.audit.checkpoint import VerifiedCheckpoint, verify_checkpoint, verify_cosignature
from focalpoint.crypto.merkle import leaf_hash, root_from_inclusion, verify_consistency
from focalpoint.crypto.signing import AdminSigner, Context
from focalpoint.errors import VerificationError
from focalpoint.exchange.envelope import envelope_digest
from focalpoint.exchange.receipt import verify_receipt
from focalpoint.v1 import audit_pb2, common_pb2, directory_pb2, envelope_pb2

__all__ = ["FORMAT_VERSION", "MAGIC", "EvidenceReport", "seal_evidence", "verify_evidence"]

MAGIC = b"FPEVID1\n"
FORMAT_VERSION = 1
Kind = audit_pb2.AuditEventKind
_ED25519, _ML_DSA_65 = common_pb2.KEY_ALGORITHM_ED25519, common_pb2.KEY_ALGORITHM_ML_DSA_65


@dataclass
class EvidenceReport:
    node: str
    case_ref: str
    exported_at_ms: int
    exported_by: str
    checkpoint_size: int
    events: int
    messages: int
    receipted: int
    # Outgoing messages whose delivery is proved in the receiver's own signed log.
    receiver_logged: int = 0
    # Witnesses whose cosignature covers the first `witnessed_size` leaves.
    witnesses: list[str] = field(default_factory=list)
    witnessed_size: int = 0
    anchor: str = ""
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": True,
            "node": self.node,
            "case_ref": self.case_ref,
            "exported_at_ms": self.exported_at_ms,
            "exported_by": self.exported_by,
            "checkpoint_size": self.checkpoint_size,
            "events": self.events,
            "messages": self.messages,
            "receipted": self.receipted,
            "receiver_logged": self.receiver_logged,
            "witnesses": self.witnesses,
            "witnessed_size": self.witnessed_size,
            "trust_anchor": self.anchor,
            "notes": self.notes,
        }


def seal_evidence(bundle: audit_pb2.EvidenceBundle, signer: AdminSigner) -> bytes:
    """Sign ``bundle`` in the canonical form E1 requires (what was given is not changed)."""
    canonical = audit_pb2.EvidenceBundle()
    canonical.CopyFrom(bundle)
    canonical.DiscardUnknownFields()  # recursive; the signed bytes fields inside are left as they are
    for signed in _signed_checkpoints(canonical):
        _put_in_order(signed)
    raw = canonical.SerializeToString(deterministic=True)
    signatures = sorted(signer.sign(Context.EVIDENCE, raw), key=_signature_order)
    return MAGIC + audit_pb2.EvidenceFile(bundle=raw, signatures=signatures).SerializeToString(deterministic=True)


def _signature_order(s: common_pb2.Signature) -> tuple[str, common_pb2.KeyAlgorithm.ValueType, bytes]:
    """The canonical order of a signature list (docs/protocol.md §10.7): key id, algorithm, value."""
    return s.key_id, s.algorithm, s.value


def _witness_of(cosignature: audit_pb2.Cosignature) -> str:
    try:
        return audit_pb2.CosignedContent.FromString(cosignature.content).witness_node
    except DecodeError:
        return ""


def _signed_checkpoints(bundle: audit_pb2.EvidenceBundle) -> list[tuple[str, audit_pb2.SignedCheckpoint]]:
    found = [("checkpoint", bundle.checkpoint)]
    if bundle.HasField("witnessed"):
        found.append(("witnessed", bundle.witnessed))
    found += [
        (f"message {i} receiver_log.checkpoint", m.receiver_log.checkpoint)
        for i, m in enumerate(bundle.messages)
        if m.HasField("receiver_log")
    ]
    return found


def _put_in_order(entry: tuple[str, audit_pb2.SignedCheckpoint]) -> None:
    signed = entry[1]
    cosignatures = []
    for c in sorted(signed.cosignatures, key=_witness_of):
        cosignatures.append(audit_pb2.Cosignature(content=c.content, signatures=_ordered(c.signatures)))
    signatures = _ordered(signed.signatures)
    del signed.signatures[:], signed.cosignatures[:]
    signed.signatures.extend(signatures)
    signed.cosignatures.extend(cosignatures)


def _ordered(signatures: Iterable[common_pb2.Signature]) -> list[common_pb2.Signature]:
    """Fresh copies, each once, in canonical order."""
    unique = {_signature_order(s) for s in signatures}
    return [common_pb2.Signature(key_id=k, algorithm=a, value=v) for k, a, v in sorted(unique)]


def _canonical(message: Message, raw: bytes, what: str) -> None:
    try:
        message.ParseFromString(raw)
    except DecodeError as e:
        raise VerificationError(f"E1: {what} does not parse: {e}") from e
    if message.SerializeToString(deterministic=True) != raw:
        raise VerificationError(f"E1: {what} is not canonically encoded (bytes were added or reordered)")
    known = type(message)()
    known.CopyFrom(message)
    known.DiscardUnknownFields()
    if known.SerializeToString(deterministic=True) != raw:
        raise VerificationError(f"E1: {what} carries fields the format does not have (nothing may be added)")


def _in_order(signatures: Sequence[common_pb2.Signature], what: str) -> None:
    keys = [_signature_order(s) for s in signatures]
    if any(a >= b for a, b in pairwise(keys)):
        raise VerificationError(
            f"E1: the signatures of {what} are repeated or not in canonical order (key id, algorithm, value)"
        )


def _canonical_lists(file: audit_pb2.EvidenceFile, bundle: audit_pb2.EvidenceBundle) -> None:
    """E1: exactly one hybrid signature on the file; every list in the bundle in canonical order."""
    sigs = file.signatures
    if [s.algorithm for s in sigs] != [_ED25519, _ML_DSA_65] or sigs[0].key_id != sigs[1].key_id:
        raise VerificationError(
            "E1: the file must carry exactly one hybrid signature: an Ed25519 and then an ML-DSA-65 signature"
            f" by one key (it carries {len(sigs)} signature(s))"
        )
    for what, signed in _signed_checkpoints(bundle):
        _in_order(signed.signatures, what)
        witnesses = [_witness_of(c) for c in signed.cosignatures]
        if any(a >= b for a, b in pairwise(witnesses)):
            raise VerificationError(f"E1: the cosignatures of {what} are repeated or not in witness order")
        for c, witness in zip(signed.cosignatures, witnesses, strict=True):
            _in_order(c.signatures, f"{witness or 'a'} cosignature of {what}")


def verify_evidence(data: bytes, *, trusted_root: bytes | None = None) -> EvidenceReport:
    """Check everything a bundle claims; raises VerificationError naming the step that failed.

    ``trusted_root``: the directory root the verifier trusts (e.g. its own node's). Without it
    the oldest root inside the bundle is the anchor, and the report says so.
    """
    # E1: format
    if not data.startswith(MAGIC):
        raise VerificationError("E1: not a focalpoint evidence file (bad magic)")
    file = audit_pb2.EvidenceFile()
    _canonical(file, data[len(MAGIC) :], "evidence file")
    bundle = audit_pb2.EvidenceBundle()
    _canonical(bundle, file.bundle, "evidence bundle")
    if bundle.format_version != FORMAT_VERSION:
        raise VerificationError(f"E1: evidence format {bundle.format_version}; this verifier reads {FORMAT_VERSION}")
    _canonical_lists(file, bundle)
    # E2: the directory, as of the export, from the trust anchor
    directory, anchor = _directory(bundle, trusted_root)
    # E3: the exporting node signed exactly these bytes
    key = next(
        (k for s in file.signatures if (k := directory.log_key(bundle.node, s.key_id, bundle.exported_at_ms))),
        None,
    )
    if key is None:
        raise VerificationError(f"E3: the file is not signed by a log key of {bundle.node!r}")
    try:
        key.verify(Context.EVIDENCE, file.bundle, file.signatures)
    except VerificationError as e:
        raise VerificationError(f"E3: {e}") from e
    # E4: the checkpoint all events are proved against
    checkpoint = _checked(lambda: verify_checkpoint(bundle.checkpoint, directory, log_node=bundle.node), "E4")
    report = EvidenceReport(
        node=bundle.node,
        case_ref=bundle.case_ref,
        exported_at_ms=bundle.exported_at_ms,
        exported_by=bundle.exported_by,
        checkpoint_size=checkpoint.size,
        events=len(bundle.events),
        messages=len(bundle.messages),
        receipted=0,
        anchor=anchor,
    )
    # E5: witnesses
    _witnessed(bundle, checkpoint, directory, report)
    # E6: every event is in the log at its index, and is about this case
    events = _events(bundle, checkpoint)
    # E7: every message matches its events and its receipt
    for i, message in enumerate(bundle.messages):
        _message(i, message, bundle, events, directory, report)
    # E8: nothing claimed without evidence
    if not events:
        raise VerificationError("E8: the bundle holds no event of the case")
    return report


def _checked(fn: object, step: str) -> VerifiedCheckpoint:
    try:
        return fn()  # type: ignore[operator, no-any-return]
    except VerificationError as e:
        raise VerificationError(f"{step}: {e}") from e


def _directory(bundle: audit_pb2.EvidenceBundle, trusted_root: bytes | None) -> tuple[Directory, str]:
    try:
        parts = directory_pb2.DirectoryBundle.FromString(bundle.directory_bundle)
    except DecodeError as e:
        raise VerificationError(f"E2: the directory bundle does not parse: {e}") from e
    anchor = "the verifier's trusted root"
    if trusted_root is None:
        if not parts.roots:
            raise VerificationError("E2: the bundle carries no directory root and none was given")
        trusted_root, anchor = parts.roots[0], "the oldest root inside the bundle (no --root given)"
    try:
        directory, _ = TrustedDirectory(trusted_root).update(parts, now_ms=bundle.exported_at_ms, reload_expired=True)
    except VerificationError as e:
        raise VerificationError(f"E2: the directory does not verify from {anchor}: {e}") from e
    return directory, anchor


def _witnessed(
    bundle: audit_pb2.EvidenceBundle, checkpoint: VerifiedCheckpoint, directory: Directory, report: EvidenceReport
) -> None:
    def cosigners(signed: audit_pb2.SignedCheckpoint) -> list[str]:
        names = []
        for c in signed.cosignatures:
            try:
                content = verify_cosignature(c, directory, checkpoint=signed.checkpoint)
            except VerificationError as e:
                raise VerificationError(f"E5: {e}") from e
            if content.witness_node == bundle.node:
                raise VerificationError("E5: a log cannot witness itself")
            names.append(content.witness_node)
        return sorted(set(names))

    own = cosigners(bundle.checkpoint)
    if own:
        report.witnesses, report.witnessed_size = own, checkpoint.size
        return
    if not bundle.HasField("witnessed"):
        report.notes.append("no partner had cosigned a checkpoint of this log at export time")
        return
    witnessed = _checked(lambda: verify_checkpoint(bundle.witnessed, directory, log_node=bundle.node), "E5")
    names = cosigners(bundle.witnessed)
    if not names:
        raise VerificationError("E5: the witnessed checkpoint carries no cosignature")
    proof = list(bundle.witnessed_consistency)
    if witnessed.size == checkpoint.size:
        consistent = witnessed.root == checkpoint.root and not proof
    elif witnessed.size == 0:
        consistent = not proof  # every log extends the empty one
    else:
        consistent = verify_consistency(witnessed.size, checkpoint.size, witnessed.root, checkpoint.root, proof)
    if witnessed.size > checkpoint.size or not consistent:
        raise VerificationError(
            f"E5: the checkpoint of size {checkpoint.size} does not extend the witnessed one of size {witnessed.size}"
        )
    report.witnesses, report.witnessed_size = names, witnessed.size
    if witnessed.size < checkpoint.size:
        report.notes.append(
            f"leaves {witnessed.size}..{checkpoint.size - 1} were signed by {bundle.node} but not yet witnessed"
        )


def _events(bundle: audit_pb2.EvidenceBundle, checkpoint: VerifiedCheckpoint) -> dict[int, audit_pb2.AuditEvent]:
    events: dict[int, audit_pb2.AuditEvent] = {}
    last = -1
    for e in bundle.events:
        if e.index <= last:
            raise VerificationError(f"E6: event indices must increase (index {e.index} after {last})")
        last = e.index
        root = root_from_inclusion(e.index, checkpoint.size, leaf_hash(e.leaf), list(e.path))
        if root is None or root != checkpoint.root:
            raise VerificationError(f"E6: event {e.index} is not in the log at that index (inclusion proof fails)")
        try:
            event = audit_events.decode(e.leaf)
        except DecodeError as err:
            raise VerificationError(f"E6: event {e.index} does not parse") from err
        if event.case_ref != bundle.case_ref:
            raise VerificationError(f"E6: event {e.index} is about another case")
        events[e.index] = event
    return events


def _receiver_logged(
    what: str,
    message: audit_pb2.EvidenceMessage,
    header: envelope_pb2.EnvelopeHeader,
    digest: bytes,
    log_index: int,
    directory: Directory,
) -> None:
    """E7b: the receiver's own signed log holds the DELIVERED event its receipt names."""
    proof = message.receiver_log
    try:
        theirs = verify_checkpoint(proof.checkpoint, directory, log_node=header.recipient_node)
    except VerificationError as e:
        raise VerificationError(f"{what}: the receiver's checkpoint does not verify: {e}") from e
    if proof.index != log_index:
        raise VerificationError(f"{what}: the receiver's log proof is for index {proof.index}, not {log_index}")
    root = root_from_inclusion(proof.index, theirs.size, leaf_hash(proof.leaf), list(proof.path))
    if root is None or root != theirs.root:
        raise VerificationError(f"{what}: the event is not in the receiver's log at index {proof.index}")
    try:
        event = audit_events.decode(proof.leaf)
    except DecodeError as e:
        raise VerificationError(f"{what}: the receiver's event does not parse") from e
    if (event.kind, event.message_id, event.envelope_sha256, event.peer_node) != (
        Kind.AUDIT_EVENT_KIND_DELIVERED,
        header.message_id,
        digest,
        header.sender_node,
    ):
        raise VerificationError(f"{what}: the receiver's event at index {proof.index} is not this delivery")


def _message(
    i: int,
    message: audit_pb2.EvidenceMessage,
    bundle: audit_pb2.EvidenceBundle,
    events: dict[int, audit_pb2.AuditEvent],
    directory: Directory,
    report: EvidenceReport,
) -> None:
    what = f"E7: message {i}"
    try:
        envelope = envelope_pb2.Envelope.FromString(message.envelope)
        header = envelope_pb2.EnvelopeHeader.FromString(envelope.header)
    except DecodeError as e:
        raise VerificationError(f"{what}: the envelope does not parse") from e
    digest = envelope_digest(envelope.header, envelope.ciphertext)
    sender, recipient = header.sender_node, header.recipient_node
    if (sender if message.outgoing else recipient) != bundle.node:
        raise VerificationError(f"{what}: the envelope is not {'from' if message.outgoing else 'to'} {bundle.node}")
    logged = Kind.AUDIT_EVENT_KIND_SENT if message.outgoing else Kind.AUDIT_EVENT_KIND_DELIVERED
    matching = [
        idx
        for idx, ev in events.items()
        if ev.kind == logged and ev.message_id == header.message_id and ev.envelope_sha256 == digest
    ]
    if not matching:
        raise VerificationError(f"{what}: no {Kind.Name(logged)} event records this envelope")
    if not message.receipt:
        if not message.outgoing:
            raise VerificationError(f"{what}: a received message must carry the receipt this node gave")
        report.notes.append(f"message {header.message_id.hex()} has no receipt (not delivered)")
        return
    try:
        receipt = envelope_pb2.Receipt.FromString(message.receipt)
        verified = verify_receipt(
            receipt,
            keys=directory,
            receiver_node=recipient,
            sender_node=sender,
            message_id=header.message_id,
            envelope_digest=digest,
        )
    except (DecodeError, VerificationError) as e:
        raise VerificationError(f"{what}: the receipt does not verify: {e}") from e
    if message.outgoing:
        receipted = [
            ev
            for ev in events.values()
            if ev.kind == Kind.AUDIT_EVENT_KIND_RECEIPTED
            and ev.message_id == header.message_id
            and ev.receipt_sha256 == hashlib.sha256(message.receipt).digest()
        ]
        if not receipted or receipted[0].peer_log_index != verified.content.log_index:
            raise VerificationError(f"{what}: no RECEIPTED event records this receipt")
        if message.HasField("receiver_log"):
            _receiver_logged(what, message, header, digest, verified.content.log_index, directory)
            report.receiver_logged += 1
        else:
            report.notes.append(f"message {header.message_id.hex()}: the receiver's log inclusion is not included")
    elif verified.content.log_index not in matching:
        raise VerificationError(f"{what}: the receipt names log index {verified.content.log_index}, not the event")
    report.receipted += 1
