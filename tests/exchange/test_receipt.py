"""Signed delivery receipts (focalpoint.exchange.receipt): steps R1–R3 of docs/protocol.md §4."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focalpoint.crypto.signing import Context, Ed25519Signer, Ed25519Verifier
from focalpoint.errors import VerificationError
from focalpoint.exchange.receipt import make_receipt, verify_receipt
from focalpoint.v1 import envelope_pb2

GR, AL, IT = "gr-ekka", "al-shss", "it-dgi"
MESSAGE_ID = bytes(range(16))
DIGEST = bytes(range(32))
RECEIVED_MS = 1_772_443_800_000


@dataclass(frozen=True)
class StaticKeys:
    """A ReceiptKeys simulator: each node's Ed25519 keys, each usable in [not_before, not_after)."""

    keys: Mapping[str, Mapping[str, Ed25519Verifier]]
    not_before_ms: int = 0
    not_after_ms: int = 2**62

    def evidence_key(self, node_id: str, key_id: str, at_ms: int) -> Ed25519Verifier | None:
        if not self.not_before_ms <= at_ms < self.not_after_ms:
            return None
        return self.keys.get(node_id, {}).get(key_id)


@dataclass(frozen=True)
class Parties:
    receiver: Ed25519Signer
    other: Ed25519Signer
    keys: StaticKeys


@pytest.fixture(scope="module")
def parties() -> Parties:
    receiver, other = Ed25519Signer.generate(), Ed25519Signer.generate()
    keys = StaticKeys({AL: {receiver.key_id: receiver.verifier()}, IT: {other.key_id: other.verifier()}})
    return Parties(receiver, other, keys)


def receipt_by(
    signer: Ed25519Signer,
    *,
    receiver_node: str = AL,
    sender_node: str = GR,
    message_id: bytes = MESSAGE_ID,
    envelope_digest: bytes = DIGEST,
    log_index: int = 0,
) -> envelope_pb2.Receipt:
    return make_receipt(
        signer,
        receiver_node=receiver_node,
        sender_node=sender_node,
        message_id=message_id,
        envelope_digest=envelope_digest,
        received_at_ms=RECEIVED_MS,
        log_index=log_index,
    )


def verify(
    receipt: envelope_pb2.Receipt,
    keys: StaticKeys,
    *,
    message_id: bytes = MESSAGE_ID,
    envelope_digest: bytes = DIGEST,
) -> envelope_pb2.ReceiptContent:
    """Verify as GR would for its message MESSAGE_ID to AL."""
    return verify_receipt(
        receipt, keys=keys, receiver_node=AL, sender_node=GR, message_id=message_id, envelope_digest=envelope_digest
    ).content


def test_receipt_verifies_and_returns_its_content(parties: Parties) -> None:
    """A receipt by the receiver's key naming what was sent verifies; the content and raw bytes come back."""
    receipt = receipt_by(parties.receiver, log_index=5)
    verified = verify_receipt(
        receipt, keys=parties.keys, receiver_node=AL, sender_node=GR, message_id=MESSAGE_ID, envelope_digest=DIGEST
    )
    assert verified.content.received_at_ms == RECEIVED_MS
    assert verified.content.log_index == 5
    assert verified.raw == receipt.SerializeToString()
    assert receipt.signature.key_id == parties.receiver.key_id


def test_receipt_signed_by_another_nodes_key_fails_r1(parties: Parties) -> None:
    """A receipt signed with a key that is not the receiver's is refused (R1), naming the key id."""
    with pytest.raises(VerificationError, match=parties.other.key_id):
        verify(receipt_by(parties.other), parties.keys)


def test_receipt_with_key_not_valid_at_its_time_fails_r1(parties: Parties) -> None:
    """The receiver's key must be usable at the receipt's time (not revoked or outside its window)."""
    keys = StaticKeys(parties.keys.keys, not_after_ms=RECEIVED_MS)
    with pytest.raises(VerificationError, match="not a valid key"):
        verify(receipt_by(parties.receiver), keys)


def test_receipt_with_forged_key_id_fails_r2(parties: Parties) -> None:
    """Another key's signature relabelled with the receiver's key id does not verify (R2)."""
    receipt = receipt_by(parties.other)
    receipt.signature.key_id = parties.receiver.key_id
    with pytest.raises(VerificationError):
        verify(receipt, parties.keys)


def test_message_signature_is_not_a_receipt(parties: Parties) -> None:
    """A signature made for a message over the same bytes does not count as a receipt signature."""
    receipt = receipt_by(parties.receiver)
    receipt.signature.CopyFrom(parties.receiver.sign(Context.MESSAGE, receipt.content))
    with pytest.raises(VerificationError):
        verify(receipt, parties.keys)


@pytest.mark.parametrize(
    ("receiver_node", "sender_node", "message_id", "envelope_digest"),
    [
        pytest.param(IT, GR, MESSAGE_ID, DIGEST, id="receiver"),
        pytest.param(AL, IT, MESSAGE_ID, DIGEST, id="sender"),
        pytest.param(AL, GR, bytes(16), DIGEST, id="message-id"),
        pytest.param(AL, GR, MESSAGE_ID, bytes(32), id="envelope-digest"),
    ],
)
def test_receipt_naming_something_else_fails_r3(
    parties: Parties, receiver_node: str, sender_node: str, message_id: bytes, envelope_digest: bytes
) -> None:
    """A genuine receipt for another receiver, sender, message or envelope does not close this one (R3)."""
    receipt = receipt_by(
        parties.receiver,
        receiver_node=receiver_node,
        sender_node=sender_node,
        message_id=message_id,
        envelope_digest=envelope_digest,
    )
    with pytest.raises(VerificationError, match="does not name"):
        verify(receipt, parties.keys)


def test_receipt_with_unparseable_content_fails(parties: Parties) -> None:
    """Content that is not a ReceiptContent is refused even when validly signed."""
    content = b"\xff\xff\xff"
    receipt = envelope_pb2.Receipt(content=content, signature=parties.receiver.sign(Context.RECEIPT, content))
    with pytest.raises(VerificationError, match="not a ReceiptContent"):
        verify(receipt, parties.keys)


def test_unsigned_receipt_fails(parties: Parties) -> None:
    """A receipt without a signature is refused."""
    receipt = receipt_by(parties.receiver)
    receipt.ClearField("signature")
    with pytest.raises(VerificationError):
        verify(receipt, parties.keys)


@settings(max_examples=50, deadline=None)
@given(
    message_id=st.binary(min_size=16, max_size=16),
    digest=st.binary(min_size=32, max_size=32),
    received_at_ms=st.integers(min_value=0, max_value=2**62 - 1),
    log_index=st.integers(min_value=0, max_value=2**64 - 1),
)
def test_receipt_round_trip(
    parties: Parties, message_id: bytes, digest: bytes, received_at_ms: int, log_index: int
) -> None:
    """Any receipt made by the receiver verifies and returns the fields it was made with."""
    receipt = make_receipt(
        parties.receiver,
        receiver_node=AL,
        sender_node=GR,
        message_id=message_id,
        envelope_digest=digest,
        received_at_ms=received_at_ms,
        log_index=log_index,
    )
    content = verify(receipt, parties.keys, message_id=message_id, envelope_digest=digest)
    assert (content.receiver_node, content.sender_node) == (AL, GR)
    assert (content.message_id, content.envelope_sha256) == (message_id, digest)
    assert (content.received_at_ms, content.log_index) == (received_at_ms, log_index)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), mask=st.integers(min_value=1, max_value=255))
def test_any_change_to_receipt_content_fails(parties: Parties, data: st.DataObject, mask: int) -> None:
    """Flipping any byte of the signed content bytes makes the receipt fail verification."""
    receipt = receipt_by(parties.receiver)
    index = data.draw(st.integers(min_value=0, max_value=len(receipt.content) - 1), label="index")
    tampered = bytearray(receipt.content)
    tampered[index] ^= mask
    receipt.content = bytes(tampered)
    with pytest.raises(VerificationError):
        verify(receipt, parties.keys)


@settings(max_examples=30, deadline=None)
@given(extra=st.binary(min_size=1, max_size=16))
def test_appended_content_bytes_fail(parties: Parties, extra: bytes) -> None:
    """Bytes appended to the signed content (e.g. an extra field) make the receipt fail verification."""
    receipt = receipt_by(parties.receiver)
    receipt.content += extra
    with pytest.raises(VerificationError):
        verify(receipt, parties.keys)
