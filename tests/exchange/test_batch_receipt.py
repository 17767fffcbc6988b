"""Batch receipts: one signature over a Merkle root, each receipt still verifiable on its own."""

from __future__ import annotations

import os

import pytest
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from focalpoint.crypto.signing import Context, Ed25519Signer, Ed25519Verifier
from focalpoint.errors import VerificationError
from focalpoint.exchange.receipt import make_batch_receipts, verify_receipt
from focalpoint.v1 import envelope_pb2

SIGNER = Ed25519Signer.generate()
OTHER = Ed25519Signer.generate()
AT = 1_790_000_000_000


class Keys:
    """The receiver's key as evidence (the ReceiptKeys interface)."""

    def __init__(self, *signers: Ed25519Signer) -> None:
        self._keys = {s.key_id: s.verifier() for s in signers}

    def evidence_key(self, node_id: str, key_id: str, at_ms: int) -> Ed25519Verifier | None:
        return self._keys.get(key_id) if node_id == "al-shss" else None


def _batch(n: int) -> tuple[list[tuple[bytes, bytes]], list[envelope_pb2.Receipt]]:
    deliveries = [(os.urandom(16), os.urandom(32)) for _ in range(n)]
    receipts = make_batch_receipts(
        SIGNER, receiver_node="al-shss", sender_node="gr-ekka", deliveries=deliveries, received_at_ms=AT
    )
    return deliveries, receipts


def _verify(receipt: envelope_pb2.Receipt, delivery: tuple[bytes, bytes], cache: set[bytes] | None = None) -> None:
    verify_receipt(
        receipt,
        keys=Keys(SIGNER),
        receiver_node="al-shss",
        sender_node="gr-ekka",
        message_id=delivery[0],
        envelope_digest=delivery[1],
        verified_roots=cache,
    )


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64])
def test_each_receipt_of_a_batch_verifies_alone(n: int) -> None:
    """Every receipt in a batch verifies with no cache, i.e. on its own as evidence."""
    deliveries, receipts = _batch(n)
    assert len({r.batch.root for r in receipts}) == 1
    for receipt, delivery in zip(receipts, deliveries, strict=True):
        _verify(envelope_pb2.Receipt.FromString(receipt.SerializeToString()), delivery)


def test_a_receipt_does_not_vouch_for_another_message_of_its_batch() -> None:
    """Receipt i names message i only: using it for message j of the same batch fails R3 or the path."""
    deliveries, receipts = _batch(4)
    with pytest.raises(VerificationError):
        _verify(receipts[0], deliveries[1])


def test_cached_roots_still_bind_each_receipts_signature() -> None:
    """With a cache, a receipt that copies a verified root but carries a junk signature is refused."""
    deliveries, receipts = _batch(3)
    cache: set[bytes] = set()
    _verify(receipts[0], deliveries[0], cache)
    forged = envelope_pb2.Receipt()
    forged.CopyFrom(receipts[1])
    forged.signature.value = bytes(64)
    with pytest.raises(VerificationError):
        _verify(forged, deliveries[1], cache)
    _verify(receipts[1], deliveries[1], cache)


def test_a_root_signed_by_a_key_of_another_node_is_refused() -> None:
    """A batch root signed by someone other than the receiver does not verify."""
    deliveries = [(os.urandom(16), os.urandom(32))]
    [receipt] = make_batch_receipts(
        OTHER, receiver_node="al-shss", sender_node="gr-ekka", deliveries=deliveries, received_at_ms=AT
    )
    with pytest.raises(VerificationError, match="not a valid key"):
        _verify(receipt, deliveries[0])


def test_a_single_signature_cannot_pose_as_a_batch_root() -> None:
    """Context separation: a message-context signature over the root bytes is refused."""
    deliveries, receipts = _batch(2)
    forged = envelope_pb2.Receipt()
    forged.CopyFrom(receipts[0])
    forged.signature.CopyFrom(SIGNER.sign(Context.RECEIPT, receipts[0].batch.root))
    with pytest.raises(VerificationError):
        _verify(forged, deliveries[0])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 20), st.data())
def test_changing_any_byte_of_a_batch_receipt_is_refused(n: int, data: st.DataObject) -> None:
    """Flipping any byte of the content, the root, the path or the signature makes it fail."""
    deliveries, receipts = _batch(n)
    i = data.draw(st.integers(0, n - 1))
    raw = bytearray(receipts[i].SerializeToString())
    pos = data.draw(st.integers(0, len(raw) - 1))
    raw[pos] ^= data.draw(st.integers(1, 255))
    try:
        tampered = envelope_pb2.Receipt.FromString(bytes(raw))
    except DecodeError:  # a flip that breaks parsing never reaches verification
        return
    if tampered == receipts[i]:
        return  # the flip hit an unknown-field tag that protobuf dropped: nothing left to detect
    with pytest.raises(VerificationError):
        _verify(tampered, deliveries[i])
