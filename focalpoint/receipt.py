"""Signed delivery receipts (pure).

A receipt is the receiver's Ed25519 signature over ReceiptContent: who received
which message (id and envelope digest) from whom, and when. The sender closes its
outbox entry only with a receipt that verifies and names exactly what it sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from google.protobuf.message import DecodeError

from focalpoint.errors import VerificationError
from focalpoint.signing import Context, Ed25519Signer, Ed25519Verifier
from focalpoint.v1 import envelope_pb2

__all__ = ["ReceiptKeys", "VerifiedReceipt", "make_receipt", "verify_receipt"]


class ReceiptKeys(Protocol):
    def evidence_key(self, node_id: str, key_id: str, at_ms: int) -> Ed25519Verifier | None: ...


@dataclass(frozen=True, slots=True)
class VerifiedReceipt:
    content: envelope_pb2.ReceiptContent
    raw: bytes


def make_receipt(
    signer: Ed25519Signer,
    *,
    receiver_node: str,
    sender_node: str,
    message_id: bytes,
    envelope_digest: bytes,
    received_at_ms: int,
    log_index: int = 0,
) -> envelope_pb2.Receipt:
    content = envelope_pb2.ReceiptContent(
        receiver_node=receiver_node,
        sender_node=sender_node,
        message_id=message_id,
        envelope_sha256=envelope_digest,
        received_at_ms=received_at_ms,
        log_index=log_index,
    ).SerializeToString()
    return envelope_pb2.Receipt(content=content, signature=signer.sign(Context.RECEIPT, content))


def verify_receipt(
    receipt: envelope_pb2.Receipt,
    *,
    keys: ReceiptKeys,
    receiver_node: str,
    sender_node: str,
    message_id: bytes,
    envelope_digest: bytes,
) -> VerifiedReceipt:
    """Return the verified receipt, or raise VerificationError saying which check failed.

    Steps (docs/protocol.md §4): R1 the signing key is the receiver's and usable at the
    receipt's time; R2 the signature verifies over the exact content bytes; R3 the content
    names this receiver, this sender, this message id and this envelope digest.
    """
    content = envelope_pb2.ReceiptContent()
    try:
        content.ParseFromString(receipt.content)
    except DecodeError as e:
        raise VerificationError("receipt content is not a ReceiptContent") from e
    # R1
    verifier = keys.evidence_key(receiver_node, receipt.signature.key_id, content.received_at_ms)
    if verifier is None:
        raise VerificationError(
            f"receipt is signed with key {receipt.signature.key_id!r}, not a valid key of {receiver_node!r}"
        )
    # R2
    verifier.verify(Context.RECEIPT, receipt.content, receipt.signature.value)
    # R3
    if (
        content.receiver_node != receiver_node
        or content.sender_node != sender_node
        or content.message_id != message_id
        or content.envelope_sha256 != envelope_digest
    ):
        raise VerificationError("receipt does not name the message, envelope and parties that were sent")
    return VerifiedReceipt(content=content, raw=receipt.SerializeToString())
