"""The sealed file, ``focalpoint sealed-file v1``: envelopes and delivery results carried by a
courier between two nodes with no network between them (pure; docs/protocol.md §13,
docs/adr/0020-sealed-files.md).

    file      := an age v1 file to the recipient's current encryption key (``focalpoint.crypto.age``)
    plaintext := b"FPSEAL\\x00\\x01" || record*        record := uvarint(len) || bytes
    record 0  SealedManifest: sender, recipient, the file's number, times, the directory version,
              and one entry (kind, message id, SHA-256) per record after record 1, in file order
    record 1  Signature by the sender's message-signing key over
              b"focalpoint/sealed-file/v1" || 0x00 || the manifest's exact bytes
    record 2… an Envelope (byte for byte what gRPC carries) or a DeliveryResult (a receipt or a
              refusal the file's sender gave for one of the recipient's messages)

The file adds no trust of its own to what it carries: every envelope still goes through the
receive steps, and every receipt through the same check as one that came back over the
network. What the file adds is the binding of the set: the manifest, signed by the sender and
readable only by the recipient, says who made the file, for whom, which number it is and exactly
which records it holds, so a file altered, cut short, re-ordered, padded, replayed or carried to
the wrong node is refused as a whole, before anything in it is looked at (``open_sealed``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from google.protobuf.message import DecodeError

from focalpoint.crypto import age
from focalpoint.crypto.signing import Context, Ed25519Signer, Ed25519Verifier
from focalpoint.crypto.suite import EncryptionPrivateKey, EncryptionPublicKey
from focalpoint.errors import UsageError, VerificationError
from focalpoint.exchange.envelope import MESSAGE_ID_LEN, message_id_of
from focalpoint.v1 import common_pb2, envelope_pb2, node_pb2, sealed_pb2

__all__ = [
    "FILE_ID_LEN",
    "FORMAT_VERSION",
    "MAGIC",
    "SealedFileRefused",
    "SealedKeys",
    "SealedLimits",
    "SealedRecord",
    "UnsealedFile",
    "check_fresh",
    "decode_records",
    "encode_records",
    "open_sealed",
    "seal_file",
]

MAGIC = b"FPSEAL\x00\x01"
FORMAT_VERSION = 1
FILE_ID_LEN = 16
ENVELOPE = sealed_pb2.SEALED_ENTRY_KIND_ENVELOPE
RECEIPT = sealed_pb2.SEALED_ENTRY_KIND_RECEIPT


class SealedFileRefused(UsageError):
    """A sealed file refused as a whole, before anything in it was handed on; the message says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"sealed file refused: {reason}")
        self.reason = reason


class SealedKeys(Protocol):
    """What opening needs from the directory (``directory.Directory`` is one)."""

    def knows(self, node_id: str) -> bool: ...

    def signing_key(self, node_id: str, key_id: str, at_ms: int) -> Ed25519Verifier | None: ...


@dataclass(frozen=True, slots=True)
class SealedLimits:
    """Caps checked before the work they bound: the file's size before decrypting it, each record's
    length and the number of records before reading them."""

    max_file_bytes: int = 64 << 20
    max_record_bytes: int = (1 << 20) + (64 << 10)
    max_records: int = 100_000
    clock_skew_ms: int = 120_000


@dataclass(frozen=True, slots=True)
class SealedRecord:
    """One record after the signature: its kind, the message it concerns, its exact bytes."""

    kind: sealed_pb2.SealedEntryKind.ValueType
    message_id: bytes
    raw: bytes


@dataclass(frozen=True, slots=True)
class UnsealedFile:
    """A file that decrypted, whose manifest names this node and verifies, and whose records are
    exactly those the manifest lists (not yet checked: replay and ``not_after``)."""

    manifest: sealed_pb2.SealedManifest
    records: tuple[SealedRecord, ...]

    @property
    def sender(self) -> str:
        return self.manifest.sender_node

    @property
    def envelopes(self) -> list[envelope_pb2.Envelope]:
        return [envelope_pb2.Envelope.FromString(r.raw) for r in self.records if r.kind == ENVELOPE]

    @property
    def results(self) -> list[node_pb2.DeliveryResult]:
        return [node_pb2.DeliveryResult.FromString(r.raw) for r in self.records if r.kind == RECEIPT]


# --- records ----------------------------------------------------------------------------------


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode_records(records: Sequence[bytes]) -> bytes:
    """The plaintext: the magic, then each record as uvarint(length) || bytes."""
    return MAGIC + b"".join(_uvarint(len(r)) + r for r in records)


def decode_records(plaintext: bytes, *, max_records: int, max_record_bytes: int) -> list[bytes]:
    """The records of a plaintext; raises SealedFileRefused for a wrong magic, a cut record, a
    length over ``max_record_bytes`` or more than ``max_records`` records (checked as it reads,
    so a hostile length costs nothing)."""
    if not plaintext.startswith(MAGIC):
        raise SealedFileRefused("it is not a focalpoint sealed file (the decrypted content has no FPSEAL v1 header)")
    records: list[bytes] = []
    i, end = len(MAGIC), len(plaintext)
    while i < end:
        if len(records) >= max_records:
            raise SealedFileRefused(f"it holds more than {max_records} records")
        length, shift = 0, 0
        while True:
            if i >= end:
                raise SealedFileRefused(f"record {len(records)} is cut short (its length is incomplete)")
            if shift > 56:
                raise SealedFileRefused(f"record {len(records)} has an invalid length")
            byte = plaintext[i]
            i += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        if length > max_record_bytes:
            raise SealedFileRefused(
                f"record {len(records)} is {length} bytes, more than the {max_record_bytes} allowed"
            )
        if i + length > end:
            raise SealedFileRefused(f"record {len(records)} is cut short ({end - i} of {length} bytes)")
        records.append(plaintext[i : i + length])
        i += length
    return records


# --- sealing -----------------------------------------------------------------------------------


def _entry(kind: sealed_pb2.SealedEntryKind.ValueType, raw: bytes) -> sealed_pb2.SealedEntry:
    if kind == ENVELOPE:
        message_id = message_id_of(envelope_pb2.Envelope.FromString(raw))
    else:
        message_id = node_pb2.DeliveryResult.FromString(raw).message_id
    return sealed_pb2.SealedEntry(kind=kind, message_id=message_id, sha256=hashlib.sha256(raw).digest())


def seal_file(
    *,
    signer: Ed25519Signer,
    sender_node: str,
    recipient_node: str,
    recipient_key: EncryptionPublicKey,
    file_id: bytes,
    sequence: int,
    created_at_ms: int,
    not_after_ms: int,
    directory_version: int,
    envelopes: Sequence[bytes],
    results: Sequence[bytes],
) -> bytes:
    """The sealed file holding ``envelopes`` (serialized Envelopes) then ``results`` (serialized
    DeliveryResults), signed by ``signer`` and encrypted to ``recipient_key``."""
    if len(file_id) != FILE_ID_LEN:
        raise ValueError(f"a file id is {FILE_ID_LEN} bytes, got {len(file_id)}")
    if sequence < 1 or not_after_ms <= created_at_ms:
        raise ValueError("a sealed file's sequence starts at 1 and its not_after follows its creation")
    records = [(ENVELOPE, bytes(e)) for e in envelopes] + [(RECEIPT, bytes(r)) for r in results]
    manifest = sealed_pb2.SealedManifest(
        format_version=FORMAT_VERSION,
        file_id=file_id,
        sender_node=sender_node,
        recipient_node=recipient_node,
        sequence=sequence,
        created_at_ms=created_at_ms,
        not_after_ms=not_after_ms,
        directory_version=directory_version,
        entries=[_entry(kind, raw) for kind, raw in records],
    ).SerializeToString(deterministic=True)
    signature = signer.sign(Context.SEALED_FILE, manifest).SerializeToString(deterministic=True)
    return age.encrypt(encode_records([manifest, signature, *(raw for _, raw in records)]), recipient_key)


# --- opening -----------------------------------------------------------------------------------


def _decrypt(data: bytes, identities: Sequence[EncryptionPrivateKey], limits: SealedLimits) -> bytes:
    if len(data) > limits.max_file_bytes:
        raise SealedFileRefused(f"the file is {len(data)} bytes, more than the {limits.max_file_bytes} allowed")
    try:
        return age.decrypt(data, identities, max_size=limits.max_file_bytes)
    except age.AgeNoMatch:
        raise SealedFileRefused(
            "it is not addressed to this node (none of this node's encryption keys opens it)"
        ) from None
    except age.AgeTruncated:
        raise SealedFileRefused("the file is truncated (cut short in transit or on the medium)") from None
    except age.AgePayloadDamaged:
        raise SealedFileRefused(
            "the file was altered or damaged (its encrypted content does not authenticate)"
        ) from None
    except age.AgeTooLarge:
        raise SealedFileRefused(f"the file is larger than the {limits.max_file_bytes} bytes allowed") from None
    except age.AgeHeaderInvalid as e:
        raise SealedFileRefused(f"it is not a sealed file, or its header was altered ({e})") from None
    except age.AgeError as e:
        raise SealedFileRefused(f"it cannot be decrypted: {e}") from None


def _manifest(raw: bytes) -> sealed_pb2.SealedManifest:
    try:
        manifest = sealed_pb2.SealedManifest.FromString(raw)
    except DecodeError:
        raise SealedFileRefused("its manifest (record 0) cannot be read") from None
    if manifest.format_version != FORMAT_VERSION:
        raise SealedFileRefused(
            f"it is format version {manifest.format_version}; this node reads version {FORMAT_VERSION}"
        )
    if len(manifest.file_id) != FILE_ID_LEN:
        raise SealedFileRefused(f"its file id is {len(manifest.file_id)} bytes, not {FILE_ID_LEN}")
    if manifest.sequence < 1:
        raise SealedFileRefused("its sequence number is 0 (files are numbered from 1)")
    return manifest


def _verify_signature(
    raw_manifest: bytes, raw_signature: bytes, manifest: sealed_pb2.SealedManifest, keys: SealedKeys
) -> None:
    """The sender's message-signing key as the directory in force lists it, valid when the file
    was made (as for an envelope's signature)."""
    try:
        signature = common_pb2.Signature.FromString(raw_signature)
    except DecodeError:
        raise SealedFileRefused("its signature (record 1) cannot be read") from None
    key = keys.signing_key(manifest.sender_node, signature.key_id, manifest.created_at_ms)
    if key is None:
        raise SealedFileRefused(
            f"it is signed with key {signature.key_id[:64]!r}, which {manifest.sender_node!r} may not sign with"
            " at the file's creation time in this node's directory"
        )
    if signature.algorithm != common_pb2.KEY_ALGORITHM_ED25519:
        raise SealedFileRefused("its signature is not an Ed25519 signature")
    try:
        key.verify(Context.SEALED_FILE, raw_manifest, signature.value)
    except VerificationError:
        raise SealedFileRefused(f"its manifest signature by {manifest.sender_node!r} does not verify") from None


def _match_records(manifest: sealed_pb2.SealedManifest, raws: Sequence[bytes]) -> tuple[SealedRecord, ...]:
    """Every record against its manifest entry: same number, order, digest, kind and message id."""
    entries = manifest.entries
    if len(raws) != len(entries):
        raise SealedFileRefused(f"the manifest lists {len(entries)} records but the file holds {len(raws)}")
    out: list[SealedRecord] = []
    seen: set[tuple[int, bytes]] = set()
    for n, (entry, raw) in enumerate(zip(entries, raws, strict=True), start=2):
        if hashlib.sha256(raw).digest() != entry.sha256:
            raise SealedFileRefused(f"record {n} does not match the manifest (its SHA-256 differs)")
        if entry.kind not in (ENVELOPE, RECEIPT):
            raise SealedFileRefused(f"record {n} is of an unknown kind {entry.kind}")
        try:
            if entry.kind == ENVELOPE:
                message_id = message_id_of(envelope_pb2.Envelope.FromString(raw))
            else:
                message_id = node_pb2.DeliveryResult.FromString(raw).message_id
        except DecodeError:
            raise SealedFileRefused(f"record {n} cannot be read as the manifest says it is") from None
        if message_id != entry.message_id or len(message_id) != MESSAGE_ID_LEN:
            raise SealedFileRefused(f"record {n} concerns another message than the manifest says")
        if (entry.kind, message_id) in seen:
            raise SealedFileRefused(f"record {n} repeats a message the file already holds")
        seen.add((entry.kind, message_id))
        out.append(SealedRecord(entry.kind, message_id, raw))
    return tuple(out)


def open_sealed(
    data: bytes,
    *,
    me: str,
    identities: Sequence[EncryptionPrivateKey],
    keys: SealedKeys,
    now_ms: int,
    limits: SealedLimits,
) -> UnsealedFile:
    """Size, decryption with this node's keys, the manifest (for this node, from a node of the
    directory), its signature, and every record against it; raises SealedFileRefused saying which
    check failed. The caller then checks replay (its store) and freshness (``check_fresh``)."""
    plaintext = _decrypt(data, identities, limits)
    raws = decode_records(plaintext, max_records=limits.max_records, max_record_bytes=limits.max_record_bytes)
    if len(raws) < 2:
        raise SealedFileRefused("it holds no signed manifest (fewer than two records)")
    manifest = _manifest(raws[0])
    if manifest.recipient_node != me:
        raise SealedFileRefused(f"it is addressed to {manifest.recipient_node[:64]!r}, not to this node ({me})")
    if manifest.sender_node == me or not keys.knows(manifest.sender_node):
        raise SealedFileRefused(f"its sender {manifest.sender_node[:64]!r} is not a node of this node's directory")
    _verify_signature(raws[0], raws[1], manifest, keys)
    if manifest.created_at_ms > now_ms + limits.clock_skew_ms:
        raise SealedFileRefused("it was made in the future by this node's clock (check both nodes' clocks)")
    return UnsealedFile(manifest, _match_records(manifest, raws[2:]))


def check_fresh(manifest: sealed_pb2.SealedManifest, now_ms: int) -> None:
    """Raises SealedFileRefused once the file's ``not_after`` has passed."""
    if now_ms > manifest.not_after_ms:
        when = dt.datetime.fromtimestamp(manifest.not_after_ms / 1000, dt.UTC).isoformat(timespec="seconds")
        raise SealedFileRefused(f"it expired at {when} (its not_after); export a new file")
