"""Adversarial delivery between real nodes over real mutual TLS (the receive order of docs/protocol.md §3).

Every attack starts from what a real participant holds (its own keys, a genuine envelope
it saw, a message it received) and changes one thing. Each must be refused with its
gRPC status and ``fp-refusal-code``, echo no case content, and leave the receiver's
inbox exactly as it was.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import grpc
import pytest

from focalpoint.crypto.signing import Context, Ed25519Signer
from focalpoint.crypto.tlsid import generate_tls_identity
from focalpoint.errors import TransportError
from focalpoint.exchange.receipt import verify_receipt
from focalpoint.localnet import LocalNetwork
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState
from focalpoint.v1 import common_pb2, directory_pb2, envelope_pb2, messages_pb2, node_pb2, node_pb2_grpc
from tests.support.adversary import (
    CASE_REF,
    HOUR_MS,
    Forger,
    assert_no_trace,
    deliver,
    deliver_as,
    deliver_raw,
    flip,
    outcome_of,
    peer_channel,
    retag,
    wait_until,
)

GR, AL, IT = "gr-ekka", "al-shss", "it-dgi"
SC = grpc.StatusCode
XWING_ENC_LEN = 1088 + 32  # ML-KEM-768 ciphertext || X25519 share, at the front of every HPKE ciphertext
Builder = Callable[[Forger], envelope_pb2.Envelope | Awaitable[envelope_pb2.Envelope]]


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# (gRPC status, fp-refusal-code) per refusal, written out from docs/protocol.md rather than read from
# focalpoint.errors, so a changed mapping fails here.
Expect = tuple[grpc.StatusCode, str]
MALFORMED: Expect = (SC.INVALID_ARGUMENT, "MALFORMED")
OVERSIZED: Expect = (SC.RESOURCE_EXHAUSTED, "OVERSIZED")
UNSUPPORTED_VERSION: Expect = (SC.UNIMPLEMENTED, "UNSUPPORTED_VERSION")
UNSUPPORTED_SUITE: Expect = (SC.UNIMPLEMENTED, "UNSUPPORTED_SUITE")
UNKNOWN_PEER: Expect = (SC.UNAUTHENTICATED, "UNKNOWN_PEER")
WRONG_RECIPIENT: Expect = (SC.FAILED_PRECONDITION, "WRONG_RECIPIENT")
UNKNOWN_SENDER: Expect = (SC.PERMISSION_DENIED, "UNKNOWN_SENDER")
SENDER_NOT_PEER: Expect = (SC.PERMISSION_DENIED, "SENDER_NOT_PEER")
NOT_YET_VALID: Expect = (SC.OUT_OF_RANGE, "NOT_YET_VALID")
EXPIRED: Expect = (SC.OUT_OF_RANGE, "EXPIRED")
UNKNOWN_KEY_ID: Expect = (SC.NOT_FOUND, "UNKNOWN_KEY_ID")
DECRYPTION_FAILED: Expect = (SC.DATA_LOSS, "DECRYPTION_FAILED")
BAD_SIGNATURE: Expect = (SC.UNAUTHENTICATED, "BAD_SIGNATURE")
CONTENT_MISMATCH: Expect = (SC.PERMISSION_DENIED, "CONTENT_MISMATCH")
REPLAY: Expect = (SC.ALREADY_EXISTS, "REPLAY")
INVALID_BODY: Expect = (SC.INVALID_ARGUMENT, "INVALID_BODY")
# Strings of the sample body that no refusal may echo (docs/architecture.md P2: no refusal leaks content).
CONTENT_MARKERS = (CASE_REF, "Arta", "Elbasan")


@dataclass(frozen=True, slots=True)
class Attack:
    id: str
    build: Builder
    expect: Expect
    via: str = GR  # whose TLS key carries the call
    to: str = AL  # which node receives it


# --- builders -------------------------------------------------------------------------


def _header_edit(edit: Callable[[envelope_pb2.EnvelopeHeader], None]) -> Builder:
    return lambda f: retag(f.genuine(), edit)


def _ciphertext_edit(edit: Callable[[bytes], bytes]) -> Builder:
    def build(f: Forger) -> envelope_pb2.Envelope:
        env = f.genuine()
        return envelope_pb2.Envelope(header=env.header, ciphertext=edit(env.ciphertext))

    return build


def _header_bytes_edit(edit: Callable[[bytes], bytes]) -> Builder:
    def build(f: Forger) -> envelope_pb2.Envelope:
        env = f.genuine()
        tampered = edit(env.header)
        envelope_pb2.EnvelopeHeader.FromString(tampered)  # still parses: only the binding can catch it
        return envelope_pb2.Envelope(header=tampered, ciphertext=env.ciphertext)

    return build


def _shift(name: str, delta: int) -> Callable[[envelope_pb2.EnvelopeHeader], None]:
    def edit(h: envelope_pb2.EnvelopeHeader) -> None:
        setattr(h, name, getattr(h, name) + delta)

    return edit


def _set(name: str, value: object) -> Callable[[envelope_pb2.EnvelopeHeader], None]:
    def edit(h: envelope_pb2.EnvelopeHeader) -> None:
        setattr(h, name, value)

    return edit


def _flip_message_id(h: envelope_pb2.EnvelopeHeader) -> None:
    h.message_id = flip(h.message_id, 0)


def _timed(created: int, expires: int) -> Builder:
    """Sealed and signed by gr-ekka's real key, created and expiring at these offsets (ms) from now."""
    return lambda f: f.forge(f.header(GR, AL, created_at_ms=f.now_ms + created, expires_at_ms=f.now_ms + expires))


def _cut_and_paste(f: Forger) -> envelope_pb2.Envelope:
    """Header of one genuine envelope with the ciphertext of another between the same two nodes."""
    first, second = f.genuine(), f.genuine()
    return envelope_pb2.Envelope(header=first.header, ciphertext=second.ciphertext)


def _forged(
    sender: str = IT,
    *,
    signer: str | None = None,
    content: Callable[[envelope_pb2.SignedContent], None] | None = None,
    signatures: Callable[[Forger, bytes], list[common_pb2.Signature]] | None = None,
    body: Callable[[Forger], messages_pb2.Body] | None = None,
    **header: object,
) -> Builder:
    """Hand-sealed to al-shss's real key; header sender ``sender``, signed by ``signer`` (default: sender)."""

    def build(f: Forger) -> envelope_pb2.Envelope:
        return f.forge(
            f.header(sender, AL, **header),
            signer=f.signer(signer or sender),
            content=content,
            signatures=None if signatures is None else (lambda data: signatures(f, data)),
            body=None if body is None else body(f),
        )

    return build


def _content(name: str, value: object) -> Callable[[envelope_pb2.SignedContent], None]:
    def edit(c: envelope_pb2.SignedContent) -> None:
        setattr(c, name, value)

    return edit


def _content_shift(name: str, delta: int) -> Callable[[envelope_pb2.SignedContent], None]:
    def edit(c: envelope_pb2.SignedContent) -> None:
        setattr(c, name, getattr(c, name) + delta)

    return edit


def _sig_flipped(f: Forger, data: bytes) -> list[common_pb2.Signature]:
    sig = f.signer(IT).sign(Context.MESSAGE, data)
    sig.value = flip(sig.value, 7)
    return [sig]


def _sig_wrong_context(f: Forger, data: bytes) -> list[common_pb2.Signature]:
    return [f.signer(IT).sign(Context.RECEIPT, data)]


def _sig_unlisted_key(f: Forger, data: bytes) -> list[common_pb2.Signature]:
    return [Ed25519Signer.generate().sign(Context.MESSAGE, data)]


def _sig_none(f: Forger, data: bytes) -> list[common_pb2.Signature]:
    return []


def _sig_wrong_algorithm(f: Forger, data: bytes) -> list[common_pb2.Signature]:
    sig = f.signer(IT).sign(Context.MESSAGE, data)
    sig.algorithm = common_pb2.KEY_ALGORITHM_ML_DSA_65
    return [sig]


def _sig_valid_but_second(f: Forger, data: bytes) -> list[common_pb2.Signature]:
    """A stranger's signature first, the sender's genuine one second: the first of the suite's algorithm counts."""
    return [Ed25519Signer.generate().sign(Context.MESSAGE, data), f.signer(IT).sign(Context.MESSAGE, data)]


def _other_header_hash(c: envelope_pb2.SignedContent) -> None:
    c.header_sha256 = hashlib.sha256(b"some other header").digest()


def _body_without_kind(f: Forger) -> messages_pb2.Body:
    return messages_pb2.Body(code_list_version="2026.1")


def _body_with_named_case_ref(f: Forger) -> messages_pb2.Body:
    body = f.body()
    body.social_inquiry_request.case_ref = "Arta Example"
    return body


def _padded_to(total: int | None, extra: int = 0) -> Builder:
    """A genuine envelope whose ciphertext is padded so header + ciphertext is ``total`` (default: the limit)."""

    def build(f: Forger) -> envelope_pb2.Envelope:
        env = f.genuine()
        size = (total or f.nodes[AL].limits.max_envelope_bytes) + extra
        pad = size - len(env.header) - len(env.ciphertext)
        assert pad > 0
        return envelope_pb2.Envelope(header=env.header, ciphertext=env.ciphertext + b"\x00" * pad)

    return build


def _oversized_signed(f: Forger) -> envelope_pb2.Envelope:
    """A real signed and sealed message whose body alone is 16 KiB past the limit (and below gRPC's)."""
    limit = f.nodes[AL].limits.max_envelope_bytes
    body = social_inquiry_request(CASE_REF, identified_at_ms=f.now_ms, padding=limit + 16 * 1024)
    env = f.forge(f.header(GR, AL), body=body)
    assert limit < env.ByteSize() < limit + 64 * 1024
    return env


async def _forward_as_self(f: Forger) -> envelope_pb2.Envelope:
    """it-dgi re-seals gr-ekka's signed payload to al-shss, naming itself as sender."""
    original, payload = await f.intercepted(GR, IT)
    header = f.header(
        IT,
        AL,
        message_id=original.message_id,
        created_at_ms=original.created_at_ms,
        expires_at_ms=original.expires_at_ms,
    )
    return f.reseal(payload, header.SerializeToString())


async def _forward_as_original(f: Forger) -> envelope_pb2.Envelope:
    """it-dgi re-seals gr-ekka's signed payload to al-shss under a header naming gr-ekka."""
    original, payload = await f.intercepted(GR, IT)
    header = f.header(
        GR,
        AL,
        message_id=original.message_id,
        created_at_ms=original.created_at_ms,
        expires_at_ms=original.expires_at_ms,
    )
    return f.reseal(payload, header.SerializeToString())


def _garbage_header(data: bytes) -> Builder:
    return lambda f: envelope_pb2.Envelope(header=data, ciphertext=f.genuine().ciphertext)


def _no_ciphertext(f: Forger) -> envelope_pb2.Envelope:
    return envelope_pb2.Envelope(header=f.genuine().header)


def _undecodable_payload(f: Forger) -> envelope_pb2.Envelope:
    return f.forge(f.header(IT, AL), payload=b"\x0a\x7f")  # field 1 claims 127 bytes that are not there


def _undecodable_signed_content(f: Forger) -> envelope_pb2.Envelope:
    junk = b"\x0a\x7f"
    payload = envelope_pb2.SealedPayload(signed_content=junk, signatures=[f.signer(IT).sign(Context.MESSAGE, junk)])
    return f.forge(f.header(IT, AL), payload=payload.SerializeToString())


_RANDOM_HEADER = random.Random(20260607).randbytes(96)  # fixed seed: the same garbage every run

ATTACKS = [
    # 1. Header tampering: the header still parses, but HPKE info binds SHA-256(header).
    Attack("header/created_at-1ms", _header_edit(_shift("created_at_ms", -1)), DECRYPTION_FAILED),
    Attack("header/expires_at-1ms", _header_edit(_shift("expires_at_ms", -1)), DECRYPTION_FAILED),
    Attack("header/directory_version+1", _header_edit(_shift("directory_version", 1)), DECRYPTION_FAILED),
    Attack("header/message_id-bit", _header_edit(_flip_message_id), DECRYPTION_FAILED),
    Attack("header/last-byte-flipped", _header_bytes_edit(lambda b: flip(b, -1, 0x02)), DECRYPTION_FAILED),
    Attack("header/unknown-field-appended", _header_bytes_edit(lambda b: b + b"\x50\x01"), DECRYPTION_FAILED),
    # 2. Ciphertext tampering.
    Attack("ciphertext/encapsulated-key-bit", _ciphertext_edit(lambda c: flip(c, 0)), DECRYPTION_FAILED),
    Attack("ciphertext/aead-body-bit", _ciphertext_edit(lambda c: flip(c, XWING_ENC_LEN + 10)), DECRYPTION_FAILED),
    Attack("ciphertext/tag-bit", _ciphertext_edit(lambda c: flip(c, -1)), DECRYPTION_FAILED),
    Attack("ciphertext/truncated", _ciphertext_edit(lambda c: c[:-1]), DECRYPTION_FAILED),
    Attack("ciphertext/extended", _ciphertext_edit(lambda c: c + b"\x00"), DECRYPTION_FAILED),
    Attack("ciphertext/only-kem-part", _ciphertext_edit(lambda c: c[:XWING_ENC_LEN]), DECRYPTION_FAILED),
    Attack("ciphertext/cut-and-paste", _cut_and_paste, DECRYPTION_FAILED),
    # 3. Wrong recipient.
    Attack("recipient/delivered-to-it-dgi", lambda f: f.genuine(GR, AL), WRONG_RECIPIENT, to=IT),
    Attack("recipient/header-rewritten", _header_edit(_set("recipient_node", IT)), WRONG_RECIPIENT),
    # 4. Surreptitious forwarding of a genuine message by a third node, and a rogue peer's mismatched content.
    Attack("forward/as-itself", _forward_as_self, BAD_SIGNATURE, via=IT),
    Attack("forward/as-original-sender", _forward_as_original, SENDER_NOT_PEER, via=IT),
    Attack("forward/over-original-senders-tls", _forward_as_original, CONTENT_MISMATCH),
    Attack("content/recipient", _forged(content=_content("recipient_node", GR)), CONTENT_MISMATCH, via=IT),
    Attack("content/sender", _forged(content=_content("sender_node", GR)), CONTENT_MISMATCH, via=IT),
    Attack("content/message_id", _forged(content=_content("message_id", bytes(16))), CONTENT_MISMATCH, via=IT),
    Attack("content/created_at", _forged(content=_content_shift("created_at_ms", -1)), CONTENT_MISMATCH, via=IT),
    Attack("content/expires_at", _forged(content=_content_shift("expires_at_ms", HOUR_MS)), CONTENT_MISMATCH, via=IT),
    Attack("content/header_sha256", _forged(content=_other_header_hash), CONTENT_MISMATCH, via=IT),
    # Signatures.
    Attack("signature/flipped", _forged(signatures=_sig_flipped), BAD_SIGNATURE, via=IT),
    Attack("signature/receipt-context", _forged(signatures=_sig_wrong_context), BAD_SIGNATURE, via=IT),
    Attack("signature/unlisted-key", _forged(signatures=_sig_unlisted_key), BAD_SIGNATURE, via=IT),
    Attack("signature/another-nodes-key", _forged(signer=GR), BAD_SIGNATURE, via=IT),
    Attack("signature/none", _forged(signatures=_sig_none), BAD_SIGNATURE, via=IT),
    Attack("signature/wrong-algorithm", _forged(signatures=_sig_wrong_algorithm), BAD_SIGNATURE, via=IT),
    Attack("signature/stranger-first", _forged(signatures=_sig_valid_but_second), BAD_SIGNATURE, via=IT),
    # Payload and body.
    Attack("payload/not-a-sealed-payload", _undecodable_payload, MALFORMED, via=IT),
    Attack("payload/not-signed-content", _undecodable_signed_content, MALFORMED, via=IT),
    Attack("body/no-kind", _forged(body=_body_without_kind), INVALID_BODY, via=IT),
    Attack("body/name-as-case-ref", _forged(body=_body_with_named_case_ref), INVALID_BODY, via=IT),
    # 6–7. Time window (sealed and signed by the real sender's key).
    Attack("time/expired-an-hour-ago", _timed(-2 * HOUR_MS, -HOUR_MS), EXPIRED),
    Attack("time/expired-a-second-ago", _timed(-HOUR_MS, -1000), EXPIRED),
    Attack("time/created-in-an-hour", _timed(HOUR_MS, 2 * HOUR_MS), NOT_YET_VALID),
    Attack("time/created-past-the-skew", _timed(180_000, HOUR_MS), NOT_YET_VALID),
    Attack("time/expires-at-creation", _timed(0, 0), MALFORMED),
    Attack("time/lifetime-over-30-days", _timed(0, 30 * 24 * HOUR_MS + 1), MALFORMED),
    # 8–9. Sender identity.
    Attack("sender/unknown-node", _forged("xx-nobody", signer=GR), UNKNOWN_SENDER),
    Attack("sender/not-the-tls-peer", _forged(GR, signer=IT), SENDER_NOT_PEER, via=IT),
    Attack("sender/genuine-envelope-relayed", lambda f: f.genuine(GR, AL), SENDER_NOT_PEER, via=IT),
    # 10. Recipient key id.
    Attack("key/unknown-id", _forged(GR, recipient_key_id="00" * 16), UNKNOWN_KEY_ID),
    Attack(
        "key/another-nodes-key-id",
        lambda f: f.forge(f.header(GR, AL, recipient_key_id=f.key(IT).key_id)),
        UNKNOWN_KEY_ID,
    ),
    # Protocol version and suite.
    Attack("version/2", _forged(GR, protocol_version=2), UNSUPPORTED_VERSION),
    Attack("version/0", _forged(GR, protocol_version=0), UNSUPPORTED_VERSION),
    Attack("suite/2", _forged(GR, suite_id=2), UNSUPPORTED_SUITE),
    Attack("suite/0", _forged(GR, suite_id=0), UNSUPPORTED_SUITE),
    # 13. Size: the receiver's own limit, checked before anything else.
    Attack("size/limit+1", _padded_to(None, extra=1), OVERSIZED),
    Attack("size/exactly-the-limit-passes-the-gate", _padded_to(None), DECRYPTION_FAILED),
    Attack("size/signed-message-too-big", _oversized_signed, OVERSIZED),
    # 14. Garbage.
    Attack("garbage/random-header", _garbage_header(_RANDOM_HEADER), MALFORMED),
    Attack("garbage/truncated-header", _garbage_header(b"\x1a\x40gr-ekka"), MALFORMED),
    Attack("garbage/empty-header", _garbage_header(b""), MALFORMED),
    Attack("garbage/15-byte-message-id", _forged(GR, message_id=bytes(15)), MALFORMED),
    Attack("garbage/no-sender", _forged(GR, signer=GR, sender_node=""), MALFORMED),
    Attack("garbage/no-ciphertext", _no_ciphertext, MALFORMED),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.id for a in ATTACKS])
async def test_attack_is_refused_and_leaves_no_trace(nodes: dict[str, Node], attack: Attack) -> None:
    """Each crafted envelope is refused with its gRPC status and refusal code, and nothing is stored."""
    forger = Forger(nodes)
    made = attack.build(forger)
    envelope = made if isinstance(made, envelope_pb2.Envelope) else await made
    receiver = nodes[attack.to]
    before = await receiver.store.inbox.count()
    outcome = await deliver_as(forger.tls(attack.via), receiver, envelope)
    assert (outcome.status, outcome.refusal) == attack.expect, outcome.details
    assert not [m for m in CONTENT_MARKERS if m in outcome.details]
    await assert_no_trace(receiver, before, envelope)


# --- controls: the unmodified baselines are accepted --------------------------------------


@pytest.mark.parametrize(
    ("via", "build"),
    [
        pytest.param(GR, lambda f: f.genuine(GR, AL), id="product-seal"),
        pytest.param(IT, lambda f: f.forge(f.header(IT, AL)), id="hand-seal"),
        pytest.param(GR, lambda f: f.forge(f.header(GR, AL, created_at_ms=f.now_ms + 60_000)), id="within-skew"),
    ],
)
async def test_unmodified_baseline_is_accepted(
    nodes: dict[str, Node], via: str, build: Callable[[Forger], envelope_pb2.Envelope]
) -> None:
    """The envelopes the attacks start from are accepted, with a receipt that verifies, and stored once."""
    forger = Forger(nodes)
    envelope = build(forger)
    al = nodes[AL]
    before = await al.store.inbox.count()
    outcome = await deliver_as(forger.tls(via), al, envelope)
    assert outcome.status is SC.OK, outcome.details
    assert outcome.response is not None
    assert not outcome.response.duplicate
    header = envelope_pb2.EnvelopeHeader.FromString(envelope.header)
    row = await al.store.inbox.get(via, header.message_id)
    assert row is not None
    verify_receipt(
        outcome.response.receipt,
        keys=nodes[via].cache.current,
        receiver_node=AL,
        sender_node=via,
        message_id=header.message_id,
        envelope_digest=row.digest,
    )
    assert await al.store.inbox.count() == before + 1


# --- 5. replay ----------------------------------------------------------------------------


async def test_exact_resend_is_a_duplicate_with_the_original_receipt(nodes: dict[str, Node]) -> None:
    """Resending a delivered envelope byte for byte returns duplicate=True and the byte-identical receipt."""
    forger = Forger(nodes)
    al = nodes[AL]
    envelope = forger.genuine(GR, AL)
    first = await deliver_as(forger.tls(GR), al, envelope)
    assert first.status is SC.OK
    assert first.response is not None
    count = await al.store.inbox.count()
    for _ in range(2):
        again = await deliver_as(forger.tls(GR), al, envelope)
        assert again.status is SC.OK
        assert again.response is not None
        assert again.response.duplicate
        assert again.response.receipt.SerializeToString() == first.response.receipt.SerializeToString()
    assert await al.store.inbox.count() == count


def _resealed_same(f: Forger, h: envelope_pb2.EnvelopeHeader) -> envelope_pb2.Envelope:
    return f.genuine(GR, AL, message_id=h.message_id, created_at_ms=h.created_at_ms, expires_at_ms=h.expires_at_ms)


def _resealed_new_body(f: Forger, h: envelope_pb2.EnvelopeHeader) -> envelope_pb2.Envelope:
    body = social_inquiry_request(case_ref_for(667), identified_at_ms=f.now_ms)
    same = {"message_id": h.message_id, "created_at_ms": h.created_at_ms, "expires_at_ms": h.expires_at_ms}
    return f.forge(f.header(GR, AL, **same), body=body)


def _resealed_longer_expiry(f: Forger, h: envelope_pb2.EnvelopeHeader) -> envelope_pb2.Envelope:
    return f.genuine(GR, AL, message_id=h.message_id, expires_at_ms=h.expires_at_ms + HOUR_MS)


@pytest.mark.parametrize(
    "reseal",
    [
        pytest.param(_resealed_same, id="same-content-fresh-hpke"),
        pytest.param(_resealed_new_body, id="different-body"),
        pytest.param(_resealed_longer_expiry, id="longer-expiry"),
    ],
)
async def test_reused_message_id_with_a_different_envelope_is_a_replay(
    nodes: dict[str, Node], reseal: Callable[[Forger, envelope_pb2.EnvelopeHeader], envelope_pb2.Envelope]
) -> None:
    """Same sender and message id but other envelope bytes: ALREADY_EXISTS/REPLAY, stored original untouched."""
    forger = Forger(nodes)
    al = nodes[AL]
    original = forger.genuine(GR, AL)
    header = envelope_pb2.EnvelopeHeader.FromString(original.header)
    assert (await deliver_as(forger.tls(GR), al, original)).status is SC.OK
    stored = await al.store.inbox.get(GR, header.message_id)
    count = await al.store.inbox.count()
    replay = reseal(forger, header)
    assert replay.SerializeToString() != original.SerializeToString()
    outcome = await deliver_as(forger.tls(GR), al, replay)
    assert (outcome.status, outcome.refusal) == REPLAY, outcome.details
    assert await al.store.inbox.count() == count
    assert await al.store.inbox.get(GR, header.message_id) == stored


# --- 11. revoked TLS key ---------------------------------------------------------------------


def _revoke_tls(
    node_id: str, replacement_der: bytes, replacement_pin: bytes
) -> Callable[[dict[str, directory_pb2.NodeEntry]], None]:
    """Directory edit: every TLS key of ``node_id`` revoked, one new ACTIVE key (a node needs one)."""

    def mutate(entries: dict[str, directory_pb2.NodeEntry]) -> None:
        entry = entries[node_id]
        for key in entry.tls_keys:
            key.status = directory_pb2.KEY_STATUS_REVOKED
        entry.tls_keys.append(
            directory_pb2.TlsKey(
                spki_sha256=replacement_pin, certificate_der=replacement_der, status=directory_pb2.KEY_STATUS_ACTIVE
            )
        )

    return mutate


async def _publish(
    network: LocalNetwork, nodes: dict[str, Node], mutate: Callable[[dict[str, directory_pb2.NodeEntry]], None]
) -> None:
    """Publish the next directory version and wait (bounded) until every running node has accepted it."""
    network.publish(now=now_utc(), mutate=mutate)
    for node in nodes.values():
        await wait_until(functools.partial(_has_version, node, network.version), what=f"{node.node_id} to refresh")


def _has_version(node: Node, version: int) -> bool:
    return node.cache.current.version == version


async def _publish_revocation(network: LocalNetwork, nodes: dict[str, Node], node_id: str) -> None:
    replacement = generate_tls_identity(node_id, now=now_utc())
    await _publish(network, nodes, _revoke_tls(node_id, replacement.certificate_der, replacement.pin))


async def test_revoked_tls_key_is_refused_on_new_and_existing_connections(
    network: LocalNetwork, nodes: dict[str, Node]
) -> None:
    """After revocation: an open connection gets UNAUTHENTICATED/UNKNOWN_PEER, a new one fails its handshake."""
    forger = Forger(nodes)
    al, revoked = nodes[AL], forger.tls(IT)
    existing = peer_channel(revoked, al)
    try:
        before_revocation = await deliver(existing, forger.forge(forger.header(IT, AL)))
        assert before_revocation.status is SC.OK, before_revocation.details
        await _publish_revocation(network, nodes, IT)
        for n in nodes.values():  # every node's directory excludes the revoked key
            assert n.cache.current.node_for_pin(revoked.pin) is None
            info = n.cache.current.node(IT)
            assert info is not None
            assert revoked.certificate_pem not in info.certificates_pem()
            assert revoked.certificate_pem not in n.cache.current.trust_store_pem()
        count = await al.store.inbox.count()

        on_existing = forger.forge(forger.header(IT, AL))
        outcome = await deliver(existing, on_existing)
        assert (outcome.status, outcome.refusal) == UNKNOWN_PEER, outcome.details
        await assert_no_trace(al, count, on_existing)

        on_new = forger.forge(forger.header(IT, AL))
        outcome = await deliver_as(revoked, al, on_new)
        assert (outcome.status, outcome.refusal) == (SC.UNAVAILABLE, None), outcome.details
        await assert_no_trace(al, count, on_new)
    finally:
        await existing.close(None)


async def test_streams_on_an_existing_connection_are_refused_after_revocation(
    network: LocalNetwork, nodes: dict[str, Node]
) -> None:
    """A DeliverStream opened on a connection whose TLS key was revoked ends with UNKNOWN_PEER, storing nothing."""
    forger = Forger(nodes)
    al, revoked = nodes[AL], forger.tls(IT)
    existing = peer_channel(revoked, al)
    try:
        assert (await deliver(existing, forger.forge(forger.header(IT, AL)))).status is SC.OK
        await _publish_revocation(network, nodes, IT)
        count = await al.store.inbox.count()
        envelope = forger.forge(forger.header(IT, AL))
        batch = envelope_pb2.EnvelopeBatch(envelopes=[envelope])
        call = node_pb2_grpc.NodeServiceStub(existing).DeliverStream(iter([batch]), timeout=10)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in call:
                pass
        outcome = outcome_of(caught.value)
        assert (outcome.status, outcome.refusal) == UNKNOWN_PEER, outcome.details
        await assert_no_trace(al, count, envelope)
    finally:
        await existing.close(None)


async def test_senders_stop_trusting_a_server_whose_tls_key_is_revoked(
    network: LocalNetwork, nodes: dict[str, Node]
) -> None:
    """gr-ekka's peer channel refuses it-dgi's server once the directory revokes the key it still serves."""
    gr = nodes[GR]
    forger = Forger(nodes)
    assert (await gr.transport.deliver(IT, forger.genuine(GR, IT))).receipt.content
    await _publish_revocation(network, nodes, IT)
    it = nodes[IT]
    count = await it.store.inbox.count()
    envelope = forger.genuine(GR, IT)
    with pytest.raises(TransportError, match="UNAVAILABLE"):
        await gr.transport.deliver(IT, envelope)
    await assert_no_trace(it, count, envelope)


# --- 12. TLS keys outside the directory -----------------------------------------------------


@pytest.mark.parametrize(
    "claimed",
    [
        pytest.param(IT, id="fresh-key-named-it-dgi"),
        pytest.param(GR, id="fresh-key-named-gr-ekka"),
        pytest.param(AL, id="fresh-key-named-the-receiver"),
        pytest.param(None, id="no-client-certificate"),
    ],
)
async def test_tls_key_outside_the_directory_fails_the_handshake(nodes: dict[str, Node], claimed: str | None) -> None:
    """A client certificate that is not pinned in the directory (or none at all) never reaches the servicer."""
    forger = Forger(nodes)
    al = nodes[AL]
    client = None if claimed is None else generate_tls_identity(claimed, now=now_utc())
    envelope = forger.genuine(GR, AL)
    count = await al.store.inbox.count()
    outcome = await deliver_as(client, al, envelope)
    assert (outcome.status, outcome.refusal) == (SC.UNAVAILABLE, None), outcome.details
    await assert_no_trace(al, count, envelope)


# --- 13. beyond gRPC's own limit -------------------------------------------------------------


async def test_envelope_beyond_the_transport_limit_is_refused_by_grpc(nodes: dict[str, Node]) -> None:
    """An envelope twice the receiver's limit is cut off by gRPC itself (RESOURCE_EXHAUSTED) and not stored."""
    forger = Forger(nodes)
    al = nodes[AL]
    envelope = _padded_to(2 * al.limits.max_envelope_bytes)(forger)
    assert isinstance(envelope, envelope_pb2.Envelope)
    count = await al.store.inbox.count()
    outcome = await deliver_as(forger.tls(GR), al, envelope)
    assert (outcome.status, outcome.refusal) == (SC.RESOURCE_EXHAUSTED, None), outcome.details
    await assert_no_trace(al, count, envelope)


# --- 14. bytes that are not an envelope ---------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\x0a\x7f", id="truncated-field"),
        pytest.param(b"\xff\xff\xff\xff\xff", id="invalid-tag"),
        pytest.param(b"GET / HTTP/1.1\r\n\r\n", id="http-text"),
    ],
)
async def test_non_protobuf_request_body_is_refused_and_not_stored(nodes: dict[str, Node], body: bytes) -> None:
    """Raw bytes that do not decode as an Envelope fail in gRPC's deserializer, before the node; nothing is stored."""
    al = nodes[AL]
    count = await al.store.inbox.count()
    outcome = await deliver_raw(nodes[GR].keyring.keys.tls, al, body)
    # grpc.aio answers a request its deserializer rejects with UNKNOWN; INVALID_ARGUMENT or
    # INTERNAL would be as good. What matters: an error, no refusal code (the node never ran).
    assert outcome.status in {SC.UNKNOWN, SC.INVALID_ARGUMENT, SC.INTERNAL}, outcome
    assert outcome.refusal is None
    assert await al.store.inbox.count() == count


async def test_empty_request_body_is_malformed(nodes: dict[str, Node]) -> None:
    """Zero bytes decode as an empty Envelope, which the receive steps refuse as MALFORMED."""
    al = nodes[AL]
    count = await al.store.inbox.count()
    outcome = await deliver_raw(nodes[GR].keyring.keys.tls, al, b"")
    assert (outcome.status, outcome.refusal) == MALFORMED, outcome.details
    assert await al.store.inbox.count() == count


async def _stream(
    channel: grpc.aio.Channel, envelopes: list[envelope_pb2.Envelope], *, per_batch: int
) -> list[node_pb2.DeliveryResult]:
    batches = [
        envelope_pb2.EnvelopeBatch(envelopes=envelopes[i : i + per_batch]) for i in range(0, len(envelopes), per_batch)
    ]
    call = node_pb2_grpc.NodeServiceStub(channel).DeliverStream(iter(batches), timeout=10)
    return [result async for batch_result in call for result in batch_result.results]


@pytest.mark.parametrize("per_batch", [1, 2, 6])
async def test_stream_refuses_bad_envelopes_individually(nodes: dict[str, Node], per_batch: int) -> None:
    """On DeliverStream each bad envelope gets its own refusal; the good ones around it get receipts."""
    forger = Forger(nodes)
    al = nodes[AL]
    good = [forger.genuine(GR, AL) for _ in range(3)]
    bad: list[tuple[envelope_pb2.Envelope, Expect]] = [
        (envelope_pb2.Envelope(header=good[0].header, ciphertext=flip(good[0].ciphertext, -1)), DECRYPTION_FAILED),
        (envelope_pb2.Envelope(header=b"\x0a\x7f", ciphertext=b"x"), MALFORMED),
        (forger.forge(forger.header(GR, AL, recipient_key_id="00" * 16)), UNKNOWN_KEY_ID),
    ]
    sent = [good[0], bad[0][0], good[1], bad[1][0], bad[2][0], good[2]]
    count = await al.store.inbox.count()
    channel = peer_channel(forger.tls(GR), al)
    try:
        results = await _stream(channel, sent, per_batch=per_batch)
    finally:
        await channel.close(None)
    assert len(results) == len(sent)
    by_position = dict(zip((1, 3, 4), bad, strict=True))
    for i, (envelope, result) in enumerate(zip(sent, results, strict=True)):
        header_id = b"" if i == 3 else envelope_pb2.EnvelopeHeader.FromString(envelope.header).message_id
        assert result.message_id == header_id
        if i in by_position:
            status, code = by_position[i][1]
            assert result.WhichOneof("outcome") == "refused"
            assert result.refused.code == envelope_pb2.RefusalCode.Value(f"REFUSAL_CODE_{code}")
            assert result.refused.grpc_status == status.value[0]
            assert not [m for m in CONTENT_MARKERS if m in result.refused.reason]
        else:
            assert result.WhichOneof("outcome") == "delivered"
            row = await al.store.inbox.get(GR, header_id)
            assert row is not None
            verify_receipt(
                result.delivered.receipt,
                keys=nodes[GR].cache.current,
                receiver_node=AL,
                sender_node=GR,
                message_id=header_id,
                envelope_digest=row.digest,
            )
    assert await al.store.inbox.count() == count + len(good)
    assert await al.store.inbox.find(envelope_pb2.EnvelopeHeader.FromString(bad[2][0].header).message_id) == []


@pytest.mark.parametrize("per_batch", [1, 2], ids=["separate-batches", "same-batch"])
async def test_stream_carrying_one_envelope_twice_stores_it_once(nodes: dict[str, Node], per_batch: int) -> None:
    """The same envelope twice in one stream: one row, and both results carry the same receipt."""
    forger = Forger(nodes)
    al = nodes[AL]
    envelope = forger.genuine(GR, AL)
    count = await al.store.inbox.count()
    channel = peer_channel(forger.tls(GR), al)
    try:
        first, second = await _stream(channel, [envelope, envelope], per_batch=per_batch)
    finally:
        await channel.close(None)
    assert first.WhichOneof("outcome") == second.WhichOneof("outcome") == "delivered"
    assert [first.delivered.duplicate, second.delivered.duplicate].count(True) == 1
    assert first.delivered.receipt.SerializeToString() == second.delivered.receipt.SerializeToString()
    assert await al.store.inbox.count() == count + 1


async def test_refusals_do_not_disturb_later_genuine_delivery(nodes: dict[str, Node]) -> None:
    """After a burst of concurrent bad envelopes, the receiver still accepts genuine mail on the normal path."""
    forger = Forger(nodes)
    al, gr = nodes[AL], nodes[GR]
    bad = [retag(forger.genuine(GR, AL), _shift("created_at_ms", -i - 1)) for i in range(8)]
    outcomes = await asyncio.gather(*(deliver_as(forger.tls(GR), al, e) for e in bad))
    assert {(o.status, o.refusal) for o in outcomes} == {DECRYPTION_FAILED}
    sent = await gr.outbox.submit(AL, forger.body())
    assert await asyncio.wait_for(gr.delivery.wait_closed(sent.message_id), 10) is DeliveryState.DELIVERED
    assert await al.store.inbox.get(GR, sent.message_id) is not None


def test_attack_table_ids_are_unique() -> None:
    """Every row of the attack table has its own id, so a failure names exactly one attack."""
    assert len({a.id for a in ATTACKS}) == len(ATTACKS)


# --- keys revoked in the directory after an envelope was sealed ---------------------------------


def _revoke_signing_keys(node_id: str) -> Callable[[dict[str, directory_pb2.NodeEntry]], None]:
    def mutate(entries: dict[str, directory_pb2.NodeEntry]) -> None:
        for key in entries[node_id].signing_keys:
            key.status = directory_pb2.KEY_STATUS_REVOKED

    return mutate


def _revoke_encryption_keys(node_id: str) -> Callable[[dict[str, directory_pb2.NodeEntry]], None]:
    def mutate(entries: dict[str, directory_pb2.NodeEntry]) -> None:
        for key in entries[node_id].encryption_keys:
            key.status = directory_pb2.KEY_STATUS_REVOKED

    return mutate


@pytest.mark.parametrize(
    ("mutate", "expect"),
    [
        pytest.param(_revoke_signing_keys(GR), BAD_SIGNATURE, id="sender-signing-key-revoked"),
        pytest.param(_revoke_encryption_keys(AL), UNKNOWN_KEY_ID, id="recipient-encryption-key-revoked"),
    ],
)
async def test_envelope_under_a_key_revoked_since_sealing_is_refused(
    network: LocalNetwork,
    nodes: dict[str, Node],
    mutate: Callable[[dict[str, directory_pb2.NodeEntry]], None],
    expect: Expect,
) -> None:
    """A genuine envelope sealed before a key revocation is refused once the receiver has the new directory."""
    forger = Forger(nodes)
    al = nodes[AL]
    envelope = forger.genuine(GR, AL)
    await _publish(network, nodes, mutate)
    count = await al.store.inbox.count()
    outcome = await deliver_as(forger.tls(GR), al, envelope)
    assert (outcome.status, outcome.refusal) == expect, outcome.details
    await assert_no_trace(al, count, envelope)


# --- replay inside one stream ----------------------------------------------------------------------


@pytest.mark.parametrize("per_batch", [1, 2], ids=["separate-batches", "same-batch"])
async def test_stream_with_two_envelopes_for_one_message_id_stores_one(nodes: dict[str, Node], per_batch: int) -> None:
    """Two different envelopes with one message id on one stream: one is delivered, the other is a REPLAY."""
    forger = Forger(nodes)
    al = nodes[AL]
    original = forger.genuine(GR, AL)
    header = envelope_pb2.EnvelopeHeader.FromString(original.header)
    rival = _resealed_new_body(forger, header)
    count = await al.store.inbox.count()
    channel = peer_channel(forger.tls(GR), al)
    try:
        results = await _stream(channel, [original, rival], per_batch=per_batch)
    finally:
        await channel.close(None)
    outcomes = [r.WhichOneof("outcome") or "" for r in results]
    assert sorted(outcomes) == ["delivered", "refused"]
    winner = [original, rival][outcomes.index("delivered")]
    refused = results[outcomes.index("refused")].refused
    assert (refused.code, refused.grpc_status) == (envelope_pb2.REFUSAL_CODE_REPLAY, SC.ALREADY_EXISTS.value[0])
    row = await al.store.inbox.get(GR, header.message_id)
    assert row is not None
    assert envelope_pb2.Envelope.FromString(row.envelope) == winner
    assert await al.store.inbox.count() == count + 1


# --- attacks that found product bugs (fixed; kept as regression tests) ---------------------------


def _length_delimited(field_number: int, data: bytes) -> bytes:
    """A protobuf LEN record: tag, varint length, bytes."""
    out = bytearray([field_number << 3 | 2])
    n = len(data)
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out) + data


async def test_unknown_envelope_fields_are_never_stored(nodes: dict[str, Node]) -> None:
    """Bytes beside header and ciphertext (an unknown Envelope field) are refused or dropped, never stored."""
    forger = Forger(nodes)
    al = nodes[AL]
    genuine = forger.genuine(GR, AL)
    stuffed = envelope_pb2.Envelope.FromString(genuine.SerializeToString() + _length_delimited(3, b"J" * 48 * 1024))
    assert stuffed.ByteSize() > genuine.ByteSize() + 48 * 1024
    outcome = await deliver_as(forger.tls(GR), al, stuffed)
    row = await al.store.inbox.get(GR, envelope_pb2.EnvelopeHeader.FromString(genuine.header).message_id)
    if outcome.status is SC.OK:
        assert row is not None
        assert row.envelope == genuine.SerializeToString()
    else:
        assert (outcome.status, outcome.refusal) == MALFORMED, outcome.details
        assert row is None


@pytest.mark.parametrize(
    ("field", "expect"),
    [
        pytest.param("sender_node", UNKNOWN_SENDER, id="sender"),
        pytest.param("recipient_node", WRONG_RECIPIENT, id="recipient"),
        pytest.param("recipient_key_id", UNKNOWN_KEY_ID, id="key-id"),
    ],
)
async def test_overlong_header_id_is_refused_with_a_readable_code(
    nodes: dict[str, Node], field: str, expect: Expect
) -> None:
    """A 100 000-character id in the header is refused with a refusal code (its own, or MALFORMED)."""
    forger = Forger(nodes)
    al = nodes[AL]
    envelope = forger.forge(forger.header(GR, AL, **{field: "x" * 100_000}), signer=forger.signer(GR))
    count = await al.store.inbox.count()
    outcome = await deliver_as(forger.tls(GR), al, envelope)
    assert (outcome.status, outcome.refusal) in {expect, MALFORMED}, outcome.details
    await assert_no_trace(al, count, envelope)


async def test_open_stream_is_refused_after_its_tls_key_is_revoked(
    network: LocalNetwork, nodes: dict[str, Node]
) -> None:
    """An envelope sent on a stream opened before its TLS key was revoked is refused (UNKNOWN_PEER), not stored."""
    forger = Forger(nodes)
    al = nodes[AL]
    queue: asyncio.Queue[envelope_pb2.Envelope | None] = asyncio.Queue()

    async def requests() -> AsyncIterator[envelope_pb2.EnvelopeBatch]:
        while (item := await queue.get()) is not None:
            yield envelope_pb2.EnvelopeBatch(envelopes=[item])

    channel = peer_channel(forger.tls(IT), al)
    call = node_pb2_grpc.NodeServiceStub(channel).DeliverStream(requests(), timeout=10)
    try:
        await queue.put(forger.forge(forger.header(IT, AL)))
        first = await call.read()
        assert isinstance(first, node_pb2.DeliveryBatchResult)
        assert first.results[0].WhichOneof("outcome") == "delivered"
        await _publish_revocation(network, nodes, IT)
        count = await al.store.inbox.count()
        after = forger.forge(forger.header(IT, AL))
        await queue.put(after)
        try:
            result = await call.read()
        except grpc.aio.AioRpcError as e:
            outcome = outcome_of(e)
            assert (outcome.status, outcome.refusal) == UNKNOWN_PEER, outcome.details
        else:
            assert isinstance(result, node_pb2.DeliveryBatchResult)
            assert result.results[0].WhichOneof("outcome") == "refused"
            assert result.results[0].refused.code == envelope_pb2.REFUSAL_CODE_UNKNOWN_PEER
        await assert_no_trace(al, count, after)
    finally:
        await queue.put(None)
        call.cancel()
        await channel.close(None)
