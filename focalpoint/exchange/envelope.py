"""Seal and open envelopes: sign, then encrypt; bind everything (pure; no I/O, time passed in).

Sealing (docs/protocol.md §2):
  the clear header is serialized once; SignedContent repeats sender, recipient,
  message id and times, and carries SHA-256(header); the sender signs it with
  Ed25519; the SealedPayload (signed bytes + signatures) is HPKE-sealed to the
  recipient's key with ``info = label || SHA-256(header)``.

Opening runs the receive checks in the order of docs/protocol.md §3; each step's
number appears in a comment below. Each failure raises ``RefusalError`` with its
own code. The replay check and storing are the caller's (they need state).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from google.protobuf.message import DecodeError

from focalpoint.crypto.signing import Context, Ed25519Signer, Ed25519Verifier
from focalpoint.crypto.suite import (
    PROTOCOL_VERSION,
    SUITE_V1,
    EncryptionPrivateKey,
    EncryptionPublicKey,
    Suite,
    get_suite,
)
from focalpoint.errors import Refusal, RefusalError, VerificationError
from focalpoint.exchange.body import InvalidBody, body_kind, validate_body
from focalpoint.ids import KEY_ID, NODE_ID
from focalpoint.v1 import envelope_pb2, messages_pb2

__all__ = [
    "Limits",
    "OpenedMessage",
    "PeerKeys",
    "SealedEnvelope",
    "envelope_digest",
    "message_id_of",
    "open_envelope",
    "parse_payload",
    "seal",
    "signed_body_bytes",
]

MESSAGE_ID_LEN = 16
_HPKE_INFO_LABEL = b"focalpoint/v1/envelope\x00"


class PeerKeys(Protocol):
    """What opening needs from the directory."""

    def knows(self, node_id: str) -> bool: ...

    def signing_key(self, node_id: str, key_id: str, at_ms: int) -> Ed25519Verifier | None:
        """The node's key with this id if it may sign a message created at ``at_ms``.

        ACTIVE or NEXT and inside its validity window; a RETIRED key only before the end of
        its window (the retirement time), so messages signed before a rotation still verify.
        """
        ...


@dataclass(frozen=True, slots=True)
class Limits:
    max_envelope_bytes: int = 1 << 20
    clock_skew_ms: int = 120_000
    max_lifetime_ms: int = 30 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class SealedEnvelope:
    envelope: envelope_pb2.Envelope
    message_id: bytes
    digest: bytes
    # The SealedPayload bytes (signed content + signatures), for the sender's own encrypted copy.
    payload: bytes


@dataclass(frozen=True, slots=True)
class OpenedMessage:
    header: envelope_pb2.EnvelopeHeader
    content: envelope_pb2.SignedContent
    digest: bytes
    payload: bytes

    @property
    def sender(self) -> str:
        return self.header.sender_node

    @property
    def message_id(self) -> bytes:
        return self.header.message_id

    @property
    def kind(self) -> str:
        return body_kind(self.content.body)


def envelope_digest(header: bytes, ciphertext: bytes) -> bytes:
    """SHA-256 over the envelope's two byte strings, independent of protobuf serialization."""
    h = hashlib.sha256(b"focalpoint/v1/envelope-digest\x00")
    h.update(len(header).to_bytes(4, "big"))
    h.update(header)
    h.update(ciphertext)
    return h.digest()


def _hpke_info(header_sha256: bytes) -> bytes:
    return _HPKE_INFO_LABEL + header_sha256


def seal(
    *,
    signer: Ed25519Signer,
    sender_node: str,
    recipient_node: str,
    recipient_key: EncryptionPublicKey,
    body: messages_pb2.Body,
    message_id: bytes,
    created_at_ms: int,
    expires_at_ms: int,
    directory_version: int,
    sequence: int,
    in_reply_to: bytes = b"",
    suite: Suite = SUITE_V1,
) -> SealedEnvelope:
    """Sign then encrypt ``body`` for ``recipient_node``. Raises InvalidBody listing every broken rule.

    The body is judged at ``created_at_ms``, as the receiver will judge it.
    """
    validate_body(body, now_ms=created_at_ms)
    if len(message_id) != MESSAGE_ID_LEN:
        raise ValueError(f"message id must be {MESSAGE_ID_LEN} bytes, got {len(message_id)}")
    header = envelope_pb2.EnvelopeHeader(
        protocol_version=PROTOCOL_VERSION,
        suite_id=suite.suite_id,
        sender_node=sender_node,
        recipient_node=recipient_node,
        recipient_key_id=recipient_key.key_id,
        message_id=message_id,
        created_at_ms=created_at_ms,
        expires_at_ms=expires_at_ms,
        directory_version=directory_version,
    ).SerializeToString()
    header_sha256 = hashlib.sha256(header).digest()
    signed = envelope_pb2.SignedContent(
        sender_node=sender_node,
        recipient_node=recipient_node,
        message_id=message_id,
        created_at_ms=created_at_ms,
        expires_at_ms=expires_at_ms,
        header_sha256=header_sha256,
        in_reply_to=in_reply_to,
        sequence=sequence,
        body=body,
    ).SerializeToString()
    payload = envelope_pb2.SealedPayload(
        signed_content=signed, signatures=[signer.sign(Context.MESSAGE, signed)]
    ).SerializeToString()
    ciphertext = suite.seal(payload, recipient_key, _hpke_info(header_sha256))
    return SealedEnvelope(
        envelope=envelope_pb2.Envelope(header=header, ciphertext=ciphertext),
        message_id=message_id,
        digest=envelope_digest(header, ciphertext),
        payload=payload,
    )


def _refuse(code: Refusal, reason: str) -> RefusalError:
    return RefusalError(code, reason)


def read_header(envelope: envelope_pb2.Envelope, *, limits: Limits) -> envelope_pb2.EnvelopeHeader:
    """Steps 1–4: size, parse, protocol version, suite. Cheap; needs no keys."""
    # 1. Size, before any parsing work.
    size = len(envelope.header) + len(envelope.ciphertext)
    if size > limits.max_envelope_bytes:
        raise _refuse(Refusal.OVERSIZED, f"envelope is {size} bytes; the limit is {limits.max_envelope_bytes}")
    # 2. Parse the clear header and check its shape.
    header = envelope_pb2.EnvelopeHeader()
    try:
        header.ParseFromString(envelope.header)
    except DecodeError as e:
        raise _refuse(Refusal.MALFORMED, "envelope header is not a valid EnvelopeHeader") from e
    if len(header.message_id) != MESSAGE_ID_LEN:
        raise _refuse(Refusal.MALFORMED, f"message id must be {MESSAGE_ID_LEN} bytes")
    if not envelope.ciphertext:
        raise _refuse(Refusal.MALFORMED, "envelope has no ciphertext")
    # Identifiers are checked for shape before any of them is echoed in a refusal or a log.
    if not NODE_ID.match(header.sender_node) or not NODE_ID.match(header.recipient_node):
        raise _refuse(Refusal.MALFORMED, "sender and recipient must be node ids (lowercase DNS labels)")
    if not KEY_ID.match(header.recipient_key_id):
        raise _refuse(Refusal.MALFORMED, "recipient key id must be 32 lowercase hex digits")
    # 3. Protocol version.
    if header.protocol_version != PROTOCOL_VERSION:
        raise _refuse(
            Refusal.UNSUPPORTED_VERSION,
            f"protocol version {header.protocol_version} is not supported; this node speaks {PROTOCOL_VERSION}",
        )
    # 4. Suite (fail closed on unknown algorithms).
    get_suite(header.suite_id)
    return header


def _clock_disagreement(sender: str, receiver: str, ahead_ms: int, limits: Limits) -> str:
    """Step 8b's reason: the two clocks disagree (either may be wrong); the sender retries."""
    return (
        f"the clocks of {sender} and {receiver} disagree: the envelope was created {ahead_ms // 1000} s ahead of"
        f" {receiver}'s clock, beyond the {limits.clock_skew_ms // 1000} s allowed; it is retried until it"
        " expires, so set both clocks right (NTP)"
    )


def open_envelope(
    envelope: envelope_pb2.Envelope,
    *,
    me: str,
    tls_peer: str | None,
    peers: PeerKeys,
    decryption_keys: Mapping[str, EncryptionPrivateKey],
    now_ms: int,
    limits: Limits,
) -> OpenedMessage:
    """Run receive steps 1–13 and return the verified message, or raise RefusalError.

    ``tls_peer`` is the node id the transport authenticated (None only for transports
    without a direct peer, such as sealed files, where the signature alone binds the sender).
    """
    header = read_header(envelope, limits=limits)
    suite = get_suite(header.suite_id)
    # 5. Addressed to this node.
    if header.recipient_node != me:
        raise _refuse(Refusal.WRONG_RECIPIENT, f"this node is {me!r}, not {header.recipient_node!r}")
    # 6. Sender is a node of the directory.
    if not peers.knows(header.sender_node):
        raise _refuse(Refusal.UNKNOWN_SENDER, f"sender {header.sender_node!r} is not in the directory")
    # 7. Sender is the authenticated TLS peer (never trust a field the peer wrote).
    if tls_peer is not None and header.sender_node != tls_peer:
        raise _refuse(
            Refusal.SENDER_NOT_PEER,
            f"header names sender {header.sender_node!r} but the TLS peer is {tls_peer!r}",
        )
    # 8. Time window.
    if header.expires_at_ms <= header.created_at_ms or (
        header.expires_at_ms - header.created_at_ms > limits.max_lifetime_ms
    ):
        raise _refuse(Refusal.MALFORMED, "expiry must follow creation within the maximum lifetime")
    if header.created_at_ms > now_ms + limits.clock_skew_ms:
        raise _refuse(
            Refusal.NOT_YET_VALID, _clock_disagreement(header.sender_node, me, header.created_at_ms - now_ms, limits)
        )
    if header.expires_at_ms <= now_ms:
        raise _refuse(Refusal.EXPIRED, "the envelope expired before it arrived")
    # 9. Known recipient key id.
    key = decryption_keys.get(header.recipient_key_id)
    if key is None:
        raise _refuse(
            Refusal.UNKNOWN_KEY_ID,
            f"no encryption key {header.recipient_key_id!r} here; refresh the directory",
        )
    # 10. Decrypt; the HPKE info binds the exact header bytes.
    header_sha256 = hashlib.sha256(envelope.header).digest()
    try:
        payload = suite.open(envelope.ciphertext, key, _hpke_info(header_sha256))
    except Exception as e:  # InvalidTag or a malformed encapsulation: both mean "not for us as sent"
        raise _refuse(Refusal.DECRYPTION_FAILED, "ciphertext or header was altered in transit") from e
    sealed = envelope_pb2.SealedPayload()
    try:
        sealed.ParseFromString(payload)
    except DecodeError as e:
        raise _refuse(Refusal.MALFORMED, "decrypted payload is not a SealedPayload") from e
    # 11. Verify the sender's signature over the exact signed bytes.
    _verify_sender_signature(sealed, header, peers)
    content = envelope_pb2.SignedContent()
    try:
        content.ParseFromString(sealed.signed_content)
    except DecodeError as e:
        raise _refuse(Refusal.MALFORMED, "signed content is not a SignedContent") from e
    # 12. Signed fields equal the header (defeats re-addressing a decrypted message).
    _check_content_matches(content, header, header_sha256)
    # 13. The body is a known, well-formed kind, judged at the time its sender signed it.
    try:
        validate_body(content.body, now_ms=content.created_at_ms)
    except InvalidBody as e:
        raise _refuse(Refusal.INVALID_BODY, str(e)) from e
    return OpenedMessage(
        header=header,
        content=content,
        digest=envelope_digest(envelope.header, envelope.ciphertext),
        payload=payload,
    )


def _verify_sender_signature(
    sealed: envelope_pb2.SealedPayload, header: envelope_pb2.EnvelopeHeader, peers: PeerKeys
) -> None:
    suite = get_suite(header.suite_id)
    for sig in sealed.signatures:
        if sig.algorithm != suite.signature_algorithm:
            continue
        verifier = peers.signing_key(header.sender_node, sig.key_id, header.created_at_ms)
        if verifier is None:
            raise _refuse(
                Refusal.BAD_SIGNATURE,
                f"signing key {sig.key_id!r} is not a valid key of {header.sender_node!r} "
                "(unknown, revoked or outside its validity)",
            )
        try:
            verifier.verify(Context.MESSAGE, sealed.signed_content, sig.value)
        except VerificationError as e:
            raise _refuse(Refusal.BAD_SIGNATURE, "the sender's signature does not verify") from e
        return
    raise _refuse(Refusal.BAD_SIGNATURE, "the payload carries no signature of the suite's algorithm")


def _check_content_matches(
    content: envelope_pb2.SignedContent, header: envelope_pb2.EnvelopeHeader, header_sha256: bytes
) -> None:
    mismatched = [
        name
        for name, inner, outer in (
            ("sender", content.sender_node, header.sender_node),
            ("recipient", content.recipient_node, header.recipient_node),
            ("message id", content.message_id, header.message_id),
            ("created time", content.created_at_ms, header.created_at_ms),
            ("expiry time", content.expires_at_ms, header.expires_at_ms),
            ("header hash", content.header_sha256, header_sha256),
        )
        if inner != outer
    ]
    if mismatched:
        raise _refuse(
            Refusal.CONTENT_MISMATCH,
            "signed content disagrees with the header on: " + ", ".join(mismatched),
        )


def parse_payload(payload: bytes) -> envelope_pb2.SignedContent:
    """Parse a SealedPayload this node verified earlier (from its own encrypted store)."""
    sealed = envelope_pb2.SealedPayload.FromString(payload)
    return envelope_pb2.SignedContent.FromString(sealed.signed_content)


def signed_body_bytes(signed_content: bytes) -> bytes:
    """The exact bytes of SignedContent.body (field 9) as signed, without re-serializing.

    Evidence binds a message's body by SHA-256 of these bytes (docs/protocol.md, EvidenceRef);
    protobuf serialization is not canonical, so the bytes are cut from the signed message.
    Raises ValueError if the bytes are not a well-formed message or hold the body more than once.
    """
    found: bytes | None = None
    i, end = 0, len(signed_content)
    while i < end:
        key, i = _varint(signed_content, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, i = _varint(signed_content, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            length, i = _varint(signed_content, i)
            if field == 9:
                if found is not None:
                    raise ValueError("the signed content holds its body twice")
                found = signed_content[i : i + length]
            i += length
        else:
            raise ValueError(f"unexpected wire type {wire}")
        if i > end:
            raise ValueError("truncated signed content")
    return found or b""


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(data) or shift > 63:
            raise ValueError("truncated or overlong varint")
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def message_id_of(envelope: envelope_pb2.Envelope) -> bytes:
    """The header's message id, or empty bytes for a header that does not parse (informational only)."""
    try:
        return envelope_pb2.EnvelopeHeader.FromString(envelope.header).message_id
    except DecodeError:  # malformed headers are refused by the receive steps; the id is informational
        return b""
