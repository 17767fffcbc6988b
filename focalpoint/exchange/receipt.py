"""Signed delivery receipts (pure).

A receipt states, under the receiver's Ed25519 key, who received which message (id
and envelope digest) from whom, and when (ReceiptContent). It is signed either
directly, or, for a batch, through one signature over an RFC 9162 Merkle root of
all the batch's ReceiptContents plus an inclusion path per message: one signature
per batch instead of one per message, and each receipt still stands alone as
evidence. The sender closes its outbox entry only with a receipt that verifies and
names exactly what it sent.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from google.protobuf.message import DecodeError

from focalpoint.crypto.merkle import all_inclusion_paths, leaf_hash, root_from_inclusion
from focalpoint.crypto.signing import ED25519, Context, Ed25519Signer, Ed25519Verifier
from focalpoint.errors import VerificationError
from focalpoint.v1 import envelope_pb2

__all__ = ["ReceiptKeys", "VerifiedReceipt", "make_batch_receipts", "make_receipt", "verify_receipt"]


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


def make_batch_receipts(
    signer: Ed25519Signer,
    *,
    receiver_node: str,
    sender_node: str,
    deliveries: Sequence[tuple[bytes, bytes]],
    received_at_ms: int,
    log_indices: Sequence[int] | None = None,
) -> list[envelope_pb2.Receipt]:
    """One receipt per (message id, envelope digest), all under a single signed Merkle root.

    ``log_indices`` gives each delivery's DELIVERED event in the receiver's audit log.
    """
    indices = list(log_indices) if log_indices is not None else [0] * len(deliveries)
    if len(indices) != len(deliveries):
        raise ValueError("one log index per delivery")
    # Each leaf carries a fresh nonce: a receipt whose leaf is in the signed root but which is
    # never released (its envelope was refused after signing) cannot be reconstructed.
    contents = [
        envelope_pb2.ReceiptContent(
            receiver_node=receiver_node,
            sender_node=sender_node,
            message_id=message_id,
            envelope_sha256=digest,
            received_at_ms=received_at_ms,
            log_index=index,
            nonce=os.urandom(16),
        ).SerializeToString()
        for (message_id, digest), index in zip(deliveries, indices, strict=True)
    ]
    leaves = [leaf_hash(c) for c in contents]
    root_hash, paths = all_inclusion_paths(leaves)
    root = envelope_pb2.ReceiptBatchRoot(
        receiver_node=receiver_node,
        sender_node=sender_node,
        tree_size=len(leaves),
        root_hash=root_hash,
        signed_at_ms=received_at_ms,
    ).SerializeToString()
    signature = signer.sign(Context.RECEIPT_BATCH, root)
    return [
        envelope_pb2.Receipt(
            content=content,
            signature=signature,
            batch=envelope_pb2.ReceiptBatchProof(root=root, leaf_index=i, path=paths[i]),
        )
        for i, content in enumerate(contents)
    ]


def verify_receipt(
    receipt: envelope_pb2.Receipt,
    *,
    keys: ReceiptKeys,
    receiver_node: str,
    sender_node: str,
    message_id: bytes,
    envelope_digest: bytes,
    verified_roots: set[bytes] | None = None,
) -> VerifiedReceipt:
    """Return the verified receipt, or raise VerificationError saying which check failed.

    Steps (docs/protocol.md §4): R1 the signing key is the receiver's and usable at the
    receipt's time; R2 the signature verifies over the exact signed bytes (the content, or
    for a batch the root, and then the content's inclusion path leads to that root); R3 the
    content names this receiver, this sender, this message id and this envelope digest.
    ``verified_roots`` lets a caller verify a batch root's signature once for all its receipts.
    """
    if receipt.signature.algorithm != ED25519:
        raise VerificationError("receipt signature must be Ed25519 (suite 1)")
    if receipt.HasField("batch"):
        return _verify_batch_receipt(
            receipt,
            keys=keys,
            receiver_node=receiver_node,
            sender_node=sender_node,
            message_id=message_id,
            envelope_digest=envelope_digest,
            verified_roots=verified_roots,
        )
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
    _check_names(content, receiver_node, sender_node, message_id, envelope_digest)
    return VerifiedReceipt(content=content, raw=receipt.SerializeToString())


def _check_names(
    content: envelope_pb2.ReceiptContent, receiver_node: str, sender_node: str, message_id: bytes, digest: bytes
) -> None:
    if (
        content.receiver_node != receiver_node
        or content.sender_node != sender_node
        or content.message_id != message_id
        or content.envelope_sha256 != digest
    ):
        raise VerificationError("receipt does not name the message, envelope and parties that were sent")


def _verify_batch_receipt(
    receipt: envelope_pb2.Receipt,
    *,
    keys: ReceiptKeys,
    receiver_node: str,
    sender_node: str,
    message_id: bytes,
    envelope_digest: bytes,
    verified_roots: set[bytes] | None,
) -> VerifiedReceipt:
    proof = receipt.batch
    try:
        content = envelope_pb2.ReceiptContent.FromString(receipt.content)
        root = envelope_pb2.ReceiptBatchRoot.FromString(proof.root)
    except DecodeError as e:
        raise VerificationError("batch receipt content or root does not parse") from e
    if root.receiver_node != receiver_node or root.sender_node != sender_node:
        raise VerificationError("batch receipt root names other parties")
    # R2 (inclusion): the content is a leaf of the signed root.
    if root_from_inclusion(proof.leaf_index, root.tree_size, leaf_hash(receipt.content), proof.path) != root.root_hash:
        raise VerificationError("batch receipt inclusion path does not lead to the signed root")
    # R1, R2 (signature), once per root and signature: every stored receipt must verify on its own.
    cache_key = proof.root + receipt.signature.SerializeToString()
    if verified_roots is None or cache_key not in verified_roots:
        verifier = keys.evidence_key(receiver_node, receipt.signature.key_id, root.signed_at_ms)
        if verifier is None:
            raise VerificationError(
                f"receipt is signed with key {receipt.signature.key_id!r}, not a valid key of {receiver_node!r}"
            )
        verifier.verify(Context.RECEIPT_BATCH, proof.root, receipt.signature.value)
        if verified_roots is not None:
            verified_roots.add(cache_key)
    # R3
    _check_names(content, receiver_node, sender_node, message_id, envelope_digest)
    return VerifiedReceipt(content=content, raw=receipt.SerializeToString())
