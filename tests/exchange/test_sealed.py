"""The sealed file's format (focalpoint.exchange.sealed): records round-trip, caps hold, and
every way a file can be wrong is refused as a whole with its own reason."""

from __future__ import annotations

import hashlib
import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focalpoint.crypto import age
from focalpoint.crypto.signing import Context, Ed25519Signer, Ed25519Verifier
from focalpoint.crypto.suite import EncryptionPrivateKey
from focalpoint.exchange.sealed import (
    MAGIC,
    SealedFileRefused,
    SealedLimits,
    UnsealedFile,
    check_fresh,
    decode_records,
    encode_records,
    open_sealed,
    seal_file,
)
from focalpoint.v1 import common_pb2, envelope_pb2, node_pb2, sealed_pb2

NOW = 1_780_000_000_000
LIMITS = SealedLimits(max_file_bytes=1 << 20, max_record_bytes=64 << 10, max_records=100, clock_skew_ms=120_000)


class Keys:
    """A directory of two nodes' signing keys (the file's sender and recipient)."""

    def __init__(self, **signers: Ed25519Signer) -> None:
        self.signers = signers

    def knows(self, node_id: str) -> bool:
        return node_id in self.signers

    def signing_key(self, node_id: str, key_id: str, at_ms: int) -> Ed25519Verifier | None:
        signer = self.signers.get(node_id)
        return signer.verifier() if signer is not None and signer.key_id == key_id else None


SENDER = Ed25519Signer.generate()
KEYS = Keys(**{"gr-ekka": SENDER, "al-shss": Ed25519Signer.generate()})
MINE = EncryptionPrivateKey.generate()
OTHER = EncryptionPrivateKey.generate()


def envelope(message_id: bytes | None = None) -> bytes:
    header = envelope_pb2.EnvelopeHeader(
        sender_node="gr-ekka", recipient_node="al-shss", message_id=message_id or secrets.token_bytes(16)
    )
    return envelope_pb2.Envelope(
        header=header.SerializeToString(), ciphertext=secrets.token_bytes(200)
    ).SerializeToString()


def result(message_id: bytes | None = None) -> bytes:
    return node_pb2.DeliveryResult(
        message_id=message_id or secrets.token_bytes(16),
        delivered=node_pb2.DeliverResponse(receipt=envelope_pb2.Receipt(content=b"receipt")),
    ).SerializeToString()


def make(
    envelopes: list[bytes] | None = None,
    results: list[bytes] | None = None,
    *,
    recipient: str = "al-shss",
    key: EncryptionPrivateKey = MINE,
    signer: Ed25519Signer = SENDER,
    created: int = NOW,
) -> bytes:
    return seal_file(
        signer=signer,
        sender_node="gr-ekka",
        recipient_node=recipient,
        recipient_key=key.public,
        file_id=secrets.token_bytes(16),
        sequence=1,
        created_at_ms=created,
        not_after_ms=created + 3_600_000,
        directory_version=7,
        envelopes=envelopes if envelopes is not None else [envelope(), envelope()],
        results=results if results is not None else [result()],
    )


def open_(data: bytes, *, me: str = "al-shss", now: int = NOW) -> UnsealedFile:
    return open_sealed(data, me=me, identities=[MINE], keys=KEYS, now_ms=now, limits=LIMITS)


def records_of(data: bytes) -> list[bytes]:
    return decode_records(age.decrypt(data, [MINE], max_size=1 << 30), max_records=1000, max_record_bytes=1 << 30)


def reseal(records: list[bytes]) -> bytes:
    return age.encrypt(encode_records(records), MINE.public)


def resign(manifest: sealed_pb2.SealedManifest, signer: Ed25519Signer) -> list[bytes]:
    raw = manifest.SerializeToString()
    return [raw, signer.sign(Context.SEALED_FILE, raw).SerializeToString()]


# --- records ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_records_round_trip(records: list[bytes]) -> None:
    assert decode_records(encode_records(records), max_records=20, max_record_bytes=300) == records


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=50), min_size=1, max_size=10), st.data())
def test_any_cut_of_a_plaintext_is_refused_or_shorter(records: list[bytes], data: st.DataObject) -> None:
    """Cutting the plaintext anywhere inside a record is refused; it never reads as other records."""
    plain = encode_records(records)
    cut = data.draw(st.integers(min_value=len(MAGIC), max_value=len(plain) - 1))
    boundaries, at = {len(MAGIC)}, len(MAGIC)
    for r in records:
        at += len(encode_records([r])) - len(MAGIC)
        boundaries.add(at)
    if cut in boundaries:  # between records: a prefix of them, which the manifest then refuses
        got = decode_records(plain[:cut], max_records=10, max_record_bytes=50)
        assert got == records[: len(got)]
        assert len(got) < len(records)
    else:
        with pytest.raises(SealedFileRefused, match="cut short"):
            decode_records(plain[:cut], max_records=10, max_record_bytes=50)


def test_record_caps() -> None:
    with pytest.raises(SealedFileRefused, match="more than 3 records"):
        decode_records(encode_records([b"a"] * 4), max_records=3, max_record_bytes=10)
    with pytest.raises(SealedFileRefused, match="record 1 is 11 bytes, more than the 10 allowed"):
        decode_records(encode_records([b"a", b"b" * 11]), max_records=3, max_record_bytes=10)
    with pytest.raises(SealedFileRefused, match="invalid length"):
        decode_records(MAGIC + b"\xff" * 12, max_records=3, max_record_bytes=10)
    with pytest.raises(SealedFileRefused, match="not a focalpoint sealed file"):
        decode_records(b"FPSEAL\x00\x02", max_records=3, max_record_bytes=10)


# --- a good file --------------------------------------------------------------------------------


def test_seal_and_open() -> None:
    envelopes, results = [envelope(), envelope()], [result()]
    opened = open_(make(envelopes, results))
    assert opened.sender == "gr-ekka"
    assert opened.manifest.recipient_node == "al-shss"
    assert opened.manifest.sequence == 1
    assert [e.SerializeToString() for e in opened.envelopes] == envelopes
    assert [r.SerializeToString() for r in opened.results] == results
    assert [e.kind for e in opened.manifest.entries] == [1, 1, 2]


def test_a_file_is_opened_by_a_previous_key_too() -> None:
    data = make(key=OTHER)
    opened = open_sealed(data, me="al-shss", identities=[MINE, OTHER], keys=KEYS, now_ms=NOW, limits=LIMITS)
    assert len(opened.envelopes) == 2


# --- refusals, each with its reason --------------------------------------------------------------


def test_tampered_byte_is_refused() -> None:
    data = bytearray(make())
    data[-40] ^= 0x01
    with pytest.raises(SealedFileRefused, match="altered or damaged"):
        open_(bytes(data))


def test_truncated_file_is_refused() -> None:
    data = make()
    with pytest.raises(SealedFileRefused, match=r"truncated|altered"):
        open_(data[: len(data) - 100])


def test_file_for_another_node_is_refused() -> None:
    with pytest.raises(SealedFileRefused, match="not addressed to this node"):
        open_(make(key=OTHER))
    # Encrypted to this node's key, but the signed manifest names another recipient.
    with pytest.raises(SealedFileRefused, match="addressed to 'it-dgi', not to this node"):
        open_(make(recipient="it-dgi"))


def test_not_an_age_file_is_refused() -> None:
    with pytest.raises(SealedFileRefused, match=r"not a sealed file|not a valid age"):
        open_(b"hello, this is not a sealed file at all" * 10)


def test_oversized_file_is_refused_before_decrypting() -> None:
    with pytest.raises(SealedFileRefused, match="more than the 1048576 allowed"):
        open_(b"x" * ((1 << 20) + 1))


def test_bad_signature_is_refused() -> None:
    with pytest.raises(SealedFileRefused, match="may not sign with"):
        open_(make(signer=Ed25519Signer.generate()))
    records = records_of(make())
    sig = common_pb2.Signature.FromString(records[1])
    sig.value = bytes([sig.value[0] ^ 1]) + sig.value[1:]
    with pytest.raises(SealedFileRefused, match="does not verify"):
        open_(reseal([records[0], sig.SerializeToString(), *records[2:]]))


def test_unknown_sender_is_refused() -> None:
    records = records_of(make())
    manifest = sealed_pb2.SealedManifest.FromString(records[0])
    manifest.sender_node = "zz-nobody"
    with pytest.raises(SealedFileRefused, match="not a node of this node's directory"):
        open_(reseal([*resign(manifest, SENDER), *records[2:]]))


@pytest.mark.parametrize("change", ["swap", "drop", "add", "replace"])
def test_records_not_matching_the_manifest_are_refused(change: str) -> None:
    records = records_of(make([envelope(), envelope(), envelope()], []))
    head, body = records[:2], records[2:]
    if change == "swap":
        body = [body[1], body[0], body[2]]
        reason = "record 2 does not match the manifest"
    elif change == "drop":
        body = body[:2]
        reason = "lists 3 records but the file holds 2"
    elif change == "add":
        body = [*body, envelope()]
        reason = "lists 3 records but the file holds 4"
    else:
        body = [body[0], envelope(), body[2]]
        reason = "record 3 does not match the manifest"
    with pytest.raises(SealedFileRefused, match=reason):
        open_(reseal(head + body))


@pytest.mark.parametrize("change", ["swap", "drop", "add"])
def test_a_manifest_resigned_by_anyone_but_the_sender_is_refused(change: str) -> None:
    """A courier who rewrites the manifest to match its changes cannot sign it as the sender."""
    records = records_of(make([envelope(), envelope()], []))
    body = {"swap": records[2:][::-1], "drop": records[2:3], "add": [*records[2:], envelope()]}[change]
    manifest = sealed_pb2.SealedManifest.FromString(records[0])
    del manifest.entries[:]
    manifest.entries.extend(
        sealed_pb2.SealedEntry(
            kind=sealed_pb2.SEALED_ENTRY_KIND_ENVELOPE,
            message_id=envelope_pb2.EnvelopeHeader.FromString(envelope_pb2.Envelope.FromString(raw).header).message_id,
            sha256=hashlib.sha256(raw).digest(),
        )
        for raw in body
    )
    with pytest.raises(SealedFileRefused, match="may not sign with"):
        open_(reseal([*resign(manifest, Ed25519Signer.generate()), *body]))
    # The same rewritten manifest under the sender's old signature does not verify either.
    with pytest.raises(SealedFileRefused, match="does not verify"):
        open_(reseal([manifest.SerializeToString(), records[1], *body]))


def test_a_repeated_message_is_refused() -> None:
    same = envelope()
    with pytest.raises(SealedFileRefused, match="repeats a message"):
        open_(make([same, same], []))


def test_expired_and_future_files_are_refused() -> None:
    opened = open_(make())
    check_fresh(opened.manifest, NOW + 3_600_000)
    with pytest.raises(SealedFileRefused, match="expired at"):
        check_fresh(opened.manifest, NOW + 3_600_001)
    with pytest.raises(SealedFileRefused, match="made in the future"):
        open_(make(created=NOW + 600_000))


def test_too_few_records_and_unreadable_manifest() -> None:
    with pytest.raises(SealedFileRefused, match="no signed manifest"):
        open_(reseal([b"only one" * 300]))
    with pytest.raises(SealedFileRefused, match="manifest \\(record 0\\) cannot be read"):
        open_(reseal([b"\xff\xff\xff", b"\x00" * 2000]))


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=6), st.integers(min_value=0, max_value=6), st.integers(1, 1 << 40))
def test_any_file_round_trips(envelopes: int, results: int, sequence: int) -> None:
    """Whatever a file holds (even nothing), it opens to the same records in the same order."""
    es, rs = [envelope() for _ in range(envelopes)], [result() for _ in range(results)]
    data = seal_file(
        signer=SENDER,
        sender_node="gr-ekka",
        recipient_node="al-shss",
        recipient_key=MINE.public,
        file_id=secrets.token_bytes(16),
        sequence=sequence,
        created_at_ms=NOW,
        not_after_ms=NOW + 1,
        directory_version=3,
        envelopes=es,
        results=rs,
    )
    opened = open_(data)
    assert opened.manifest.sequence == sequence
    assert [r.raw for r in opened.records] == es + rs
