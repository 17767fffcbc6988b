"""Sealing and opening envelopes (focalpoint.exchange.envelope) and the suite registry (focalpoint.crypto.suite).

Keys and a signed directory are generated once per module with ``localnet.make_network`` and
verified from root 1 as a node does; every time is a fixed integer, so nothing here reads the clock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import grpc
import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given, settings
from hypothesis import strategies as st

from directory import Directory, KeyStatus
from focalpoint.crypto.signing import Context
from focalpoint.crypto.suite import (
    PROTOCOL_VERSION,
    SUITE_V1,
    EncryptionPrivateKey,
    EncryptionPublicKey,
    get_suite,
    self_test,
)
from focalpoint.errors import GRPC_STATUS, RETRYABLE, ConfigError, Refusal, RefusalError
from focalpoint.exchange.body import InvalidBody
from focalpoint.exchange.envelope import (
    Limits,
    OpenedMessage,
    PeerKeys,
    SealedEnvelope,
    envelope_digest,
    open_envelope,
    parse_payload,
    read_header,
    seal,
)
from focalpoint.exchange.rules import KINDS
from focalpoint.localnet import NodeSpec
from focalpoint.localnet.samples import case_ref_for, sample_body, social_inquiry_report, social_inquiry_request
from focalpoint.storage.keyfiles import NodeKeys
from focalpoint.v1 import common_pb2, directory_pb2, envelope_pb2, messages_pb2
from tests.support.dirworld import EntriesEdit, make_world
from tests.support.dirworld import World as Network

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
NOW_MS = int(NOW.timestamp() * 1000)
DAY_MS = 24 * 3600 * 1000
CREATED = NOW_MS
EXPIRES = NOW_MS + DAY_MS
LIMITS = Limits()
MESSAGE_ID = bytes(range(16))
GR, AL, IT = "gr-ekka", "al-shss", "it-dgi"
HPKE_LABEL = b"focalpoint/v1/envelope\x00"


@dataclass(frozen=True)
class World:
    """Three nodes' private keys and the verified directory they are listed in."""

    directory: Directory
    keys: Mapping[str, NodeKeys]
    network: Network

    def recipient_key(self, node_id: str) -> EncryptionPublicKey:
        node = self.directory.node(node_id)
        assert node is not None
        key = node.active_encryption_key(NOW_MS)
        assert key is not None
        return key

    def directory_with(self, mutate: EntriesEdit) -> Directory:
        """A newer directory version whose entries ``mutate`` edited, published and verified at NOW."""
        return self.network.republish(mutate)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A fresh three-node network whose bundle is verified from root 1, as a node does."""
    specs = [NodeSpec(GR, "GR", "EKKA"), NodeSpec(AL, "AL", "SHSS"), NodeSpec(IT, "IT", "DGI")]
    network = make_world(tmp_path_factory.mktemp("net"), specs, now=NOW)
    return World(network.load(NOW_MS), network.keys, network)


def request_body(case_ref: str = case_ref_for(1)) -> messages_pb2.Body:
    return social_inquiry_request(case_ref, identified_at_ms=NOW_MS - DAY_MS)


def seal_message(
    w: World,
    *,
    sender: str = GR,
    signer_node: str | None = None,
    body: messages_pb2.Body | None = None,
    message_id: bytes = MESSAGE_ID,
) -> SealedEnvelope:
    """A message from ``sender`` to AL, signed with ``signer_node``'s key (default: the sender's)."""
    return seal(
        signer=w.keys[signer_node or sender].signer,
        sender_node=sender,
        recipient_node=AL,
        recipient_key=w.recipient_key(AL),
        body=body if body is not None else request_body(),
        message_id=message_id,
        created_at_ms=CREATED,
        expires_at_ms=EXPIRES,
        directory_version=w.directory.version,
        sequence=7,
    )


@pytest.fixture(scope="module")
def sealed(world: World) -> SealedEnvelope:
    """One well-formed envelope from GR to AL."""
    return seal_message(world)


@dataclass(frozen=True)
class Attempt:
    """One call of open_envelope; defaults are AL receiving from GR over TLS at NOW."""

    envelope: envelope_pb2.Envelope
    me: str = AL
    tls_peer: str | None = GR
    peers: PeerKeys | None = None
    decryption_keys: Mapping[str, EncryptionPrivateKey] | None = None
    now_ms: int = NOW_MS
    limits: Limits = LIMITS

    def open(self, w: World) -> OpenedMessage:
        return open_envelope(
            self.envelope,
            me=self.me,
            tls_peer=self.tls_peer,
            peers=self.peers if self.peers is not None else w.directory,
            decryption_keys=(self.decryption_keys if self.decryption_keys is not None else w.keys[AL].decryption_keys),
            now_ms=self.now_ms,
            limits=self.limits,
        )


def with_header(envelope: envelope_pb2.Envelope, **changes: object) -> envelope_pb2.Envelope:
    """The envelope with header fields changed and the original ciphertext."""
    header = envelope_pb2.EnvelopeHeader.FromString(envelope.header)
    for name, value in changes.items():
        setattr(header, name, value)
    return envelope_pb2.Envelope(header=header.SerializeToString(), ciphertext=envelope.ciphertext)


def gr_signature(w: World) -> Callable[[bytes], list[common_pb2.Signature]]:
    return lambda signed: [w.keys[GR].signer.sign(Context.MESSAGE, signed)]


def craft(
    w: World,
    *,
    mutate: Callable[[envelope_pb2.SignedContent], None] | None = None,
    signed_bytes: bytes | None = None,
    sign: Callable[[bytes], list[common_pb2.Signature]] | None = None,
    payload: bytes | None = None,
) -> envelope_pb2.Envelope:
    """Build an envelope by hand, as a sender that departs from ``seal`` would.

    The header is a valid one from GR to AL; HPKE binds it exactly as ``seal`` does, so
    only the inner layer (content, signatures, payload) differs from an honest envelope.
    """
    header = envelope_pb2.EnvelopeHeader(
        protocol_version=PROTOCOL_VERSION,
        suite_id=SUITE_V1.suite_id,
        sender_node=GR,
        recipient_node=AL,
        recipient_key_id=w.recipient_key(AL).key_id,
        message_id=MESSAGE_ID,
        created_at_ms=CREATED,
        expires_at_ms=EXPIRES,
        directory_version=w.directory.version,
    ).SerializeToString()
    header_sha256 = hashlib.sha256(header).digest()
    content = envelope_pb2.SignedContent(
        sender_node=GR,
        recipient_node=AL,
        message_id=MESSAGE_ID,
        created_at_ms=CREATED,
        expires_at_ms=EXPIRES,
        header_sha256=header_sha256,
        sequence=1,
        body=request_body(),
    )
    if mutate is not None:
        mutate(content)
    signed = signed_bytes if signed_bytes is not None else content.SerializeToString()
    signatures = (sign or gr_signature(w))(signed)
    if payload is None:
        payload = envelope_pb2.SealedPayload(signed_content=signed, signatures=signatures).SerializeToString()
    ciphertext = SUITE_V1.seal(payload, w.recipient_key(AL), HPKE_LABEL + header_sha256)
    return envelope_pb2.Envelope(header=header, ciphertext=ciphertext)


def revoke_gr_signing_key(entries: dict[str, directory_pb2.NodeEntry]) -> None:
    for key in entries[GR].signing_keys:
        key.status = directory_pb2.KEY_STATUS_REVOKED


def expire_gr_signing_key(entries: dict[str, directory_pb2.NodeEntry]) -> None:
    for key in entries[GR].signing_keys:
        key.not_after_ms = CREATED


def retire_gr_signing_key(entries: dict[str, directory_pb2.NodeEntry]) -> None:
    for key in entries[GR].signing_keys:
        key.status = directory_pb2.KEY_STATUS_RETIRED


def retire_gr_signing_key_at(retired_at_ms: int) -> EntriesEdit:
    """RETIRED with the retirement time as the end of the key's window."""

    def edit(entries: dict[str, directory_pb2.NodeEntry]) -> None:
        for key in entries[GR].signing_keys:
            key.status = directory_pb2.KEY_STATUS_RETIRED
            key.not_after_ms = retired_at_ms

    return edit


def set_content(name: str, value: object) -> Callable[[envelope_pb2.SignedContent], None]:
    return lambda content: setattr(content, name, value)


Case = Callable[[World, SealedEnvelope], Attempt]

REFUSAL_CASES: list[tuple[str, Refusal, Case]] = [
    (
        "oversized",
        Refusal.OVERSIZED,
        lambda w, s: Attempt(
            s.envelope, limits=Limits(max_envelope_bytes=len(s.envelope.header) + len(s.envelope.ciphertext) - 1)
        ),
    ),
    (
        "garbage-header",
        Refusal.MALFORMED,
        lambda w, s: Attempt(envelope_pb2.Envelope(header=b"\xff\xff\xff", ciphertext=s.envelope.ciphertext)),
    ),
    ("15-byte-message-id", Refusal.MALFORMED, lambda w, s: Attempt(with_header(s.envelope, message_id=bytes(15)))),
    ("no-sender", Refusal.MALFORMED, lambda w, s: Attempt(with_header(s.envelope, sender_node=""))),
    (
        "sender-not-a-node-id",
        Refusal.MALFORMED,
        lambda w, s: Attempt(with_header(s.envelope, sender_node="Arta Example"), tls_peer=None),
    ),
    ("recipient-not-a-node-id", Refusal.MALFORMED, lambda w, s: Attempt(with_header(s.envelope, recipient_node="AL"))),
    (
        "recipient-key-id-not-hex",
        Refusal.MALFORMED,
        lambda w, s: Attempt(with_header(s.envelope, recipient_key_id="not-a-key-id")),
    ),
    ("no-ciphertext", Refusal.MALFORMED, lambda w, s: Attempt(envelope_pb2.Envelope(header=s.envelope.header))),
    (
        "expiry-before-creation",
        Refusal.MALFORMED,
        lambda w, s: Attempt(with_header(s.envelope, expires_at_ms=CREATED - 1)),
    ),
    ("expiry-equals-creation", Refusal.MALFORMED, lambda w, s: Attempt(with_header(s.envelope, expires_at_ms=CREATED))),
    (
        "lifetime-beyond-limit",
        Refusal.MALFORMED,
        lambda w, s: Attempt(with_header(s.envelope, expires_at_ms=CREATED + LIMITS.max_lifetime_ms + 1)),
    ),
    ("payload-not-sealed-payload", Refusal.MALFORMED, lambda w, s: Attempt(craft(w, payload=b"\xff\xff\xff"))),
    ("content-not-signed-content", Refusal.MALFORMED, lambda w, s: Attempt(craft(w, signed_bytes=b"\xff\xff\xff"))),
    (
        "protocol-version",
        Refusal.UNSUPPORTED_VERSION,
        lambda w, s: Attempt(with_header(s.envelope, protocol_version=PROTOCOL_VERSION + 1)),
    ),
    ("suite", Refusal.UNSUPPORTED_SUITE, lambda w, s: Attempt(with_header(s.envelope, suite_id=99))),
    ("wrong-recipient", Refusal.WRONG_RECIPIENT, lambda w, s: Attempt(s.envelope, me=IT)),
    (
        "unknown-sender",
        Refusal.UNKNOWN_SENDER,
        lambda w, s: Attempt(with_header(s.envelope, sender_node="xx-nobody"), tls_peer="xx-nobody"),
    ),
    ("sender-not-tls-peer", Refusal.SENDER_NOT_PEER, lambda w, s: Attempt(s.envelope, tls_peer=IT)),
    (
        "created-in-the-future",
        Refusal.NOT_YET_VALID,
        lambda w, s: Attempt(s.envelope, now_ms=CREATED - LIMITS.clock_skew_ms - 1),
    ),
    ("expired", Refusal.EXPIRED, lambda w, s: Attempt(s.envelope, now_ms=EXPIRES)),
    ("unknown-key-id", Refusal.UNKNOWN_KEY_ID, lambda w, s: Attempt(s.envelope, decryption_keys={})),
    (
        "wrong-private-key",
        Refusal.DECRYPTION_FAILED,
        lambda w, s: Attempt(s.envelope, decryption_keys={w.recipient_key(AL).key_id: EncryptionPrivateKey.generate()}),
    ),
    (
        "unchecked-header-field-altered",
        Refusal.DECRYPTION_FAILED,
        lambda w, s: Attempt(with_header(s.envelope, directory_version=w.directory.version + 1)),
    ),
    (
        "ciphertext-truncated",
        Refusal.DECRYPTION_FAILED,
        lambda w, s: Attempt(envelope_pb2.Envelope(header=s.envelope.header, ciphertext=s.envelope.ciphertext[:-1])),
    ),
    ("signed-by-another-node", Refusal.BAD_SIGNATURE, lambda w, s: Attempt(seal_message(w, signer_node=IT).envelope)),
    (
        "other-key-under-sender-key-id",
        Refusal.BAD_SIGNATURE,
        lambda w, s: Attempt(
            craft(
                w,
                sign=lambda signed: [
                    common_pb2.Signature(
                        key_id=w.keys[GR].signer.key_id,
                        algorithm=common_pb2.KEY_ALGORITHM_ED25519,
                        value=w.keys[IT].signer.sign(Context.MESSAGE, signed).value,
                    )
                ],
            )
        ),
    ),
    (
        "signed-for-another-purpose",
        Refusal.BAD_SIGNATURE,
        lambda w, s: Attempt(craft(w, sign=lambda signed: [w.keys[GR].signer.sign(Context.RECEIPT, signed)])),
    ),
    (
        "signing-key-revoked",
        Refusal.BAD_SIGNATURE,
        lambda w, s: Attempt(s.envelope, peers=w.directory_with(revoke_gr_signing_key)),
    ),
    (
        "signing-key-retired",
        Refusal.BAD_SIGNATURE,
        lambda w, s: Attempt(s.envelope, peers=w.directory_with(retire_gr_signing_key)),
    ),
    (
        "signing-key-retired-before-creation",
        Refusal.BAD_SIGNATURE,
        lambda w, s: Attempt(s.envelope, peers=w.directory_with(retire_gr_signing_key_at(CREATED))),
    ),
    (
        "signing-key-outside-validity",
        Refusal.BAD_SIGNATURE,
        lambda w, s: Attempt(s.envelope, peers=w.directory_with(expire_gr_signing_key)),
    ),
    ("no-signature", Refusal.BAD_SIGNATURE, lambda w, s: Attempt(craft(w, sign=lambda signed: []))),
    (
        "only-a-signature-of-another-algorithm",
        Refusal.BAD_SIGNATURE,
        lambda w, s: Attempt(
            craft(
                w,
                sign=lambda signed: [
                    common_pb2.Signature(
                        key_id=w.keys[GR].signer.key_id,
                        algorithm=common_pb2.KEY_ALGORITHM_ML_DSA_65,
                        value=w.keys[GR].signer.sign(Context.MESSAGE, signed).value,
                    )
                ],
            )
        ),
    ),
    (
        "content-names-other-recipient",
        Refusal.CONTENT_MISMATCH,
        lambda w, s: Attempt(craft(w, mutate=set_content("recipient_node", IT))),
    ),
    (
        "content-names-other-sender",
        Refusal.CONTENT_MISMATCH,
        lambda w, s: Attempt(craft(w, mutate=set_content("sender_node", IT))),
    ),
    (
        "content-other-message-id",
        Refusal.CONTENT_MISMATCH,
        lambda w, s: Attempt(craft(w, mutate=set_content("message_id", bytes(16)))),
    ),
    (
        "content-other-created-time",
        Refusal.CONTENT_MISMATCH,
        lambda w, s: Attempt(craft(w, mutate=set_content("created_at_ms", CREATED - 1))),
    ),
    (
        "content-other-expiry",
        Refusal.CONTENT_MISMATCH,
        lambda w, s: Attempt(craft(w, mutate=set_content("expires_at_ms", EXPIRES + 1))),
    ),
    (
        "content-other-header-hash",
        Refusal.CONTENT_MISMATCH,
        lambda w, s: Attempt(craft(w, mutate=set_content("header_sha256", bytes(32)))),
    ),
    (
        "body-case-ref-with-a-name",
        Refusal.INVALID_BODY,
        lambda w, s: Attempt(
            craft(w, mutate=lambda c: setattr(c.body.social_inquiry_request, "case_ref", "Arta Example"))
        ),
    ),
    ("body-without-kind", Refusal.INVALID_BODY, lambda w, s: Attempt(craft(w, mutate=lambda c: c.ClearField("body")))),
]


@pytest.mark.parametrize(("code", "case"), [pytest.param(code, case, id=name) for name, code, case in REFUSAL_CASES])
def test_open_refuses_with_exact_code(world: World, sealed: SealedEnvelope, code: Refusal, case: Case) -> None:
    """Each broken envelope is refused with its own refusal code (docs/protocol.md §3)."""
    attempt = case(world, sealed)
    with pytest.raises(RefusalError) as refused:
        attempt.open(world)
    assert refused.value.code is code, refused.value.reason


def test_refusal_table_covers_every_code_open_can_raise() -> None:
    """Every refusal is in the table except those raised outside open_envelope (replay, peer, availability, policy)."""
    outside = {Refusal.REPLAY, Refusal.UNKNOWN_PEER, Refusal.UNAVAILABLE, Refusal.NO_AGREEMENT}
    assert {code for _, code, _ in REFUSAL_CASES} == set(Refusal) - outside


def test_malformed_sender_is_not_echoed(world: World, sealed: SealedEnvelope) -> None:
    """A sender field that is not a node id is refused without repeating it (it may be anything)."""
    with pytest.raises(RefusalError) as refused:
        Attempt(with_header(sealed.envelope, sender_node="Arta Example"), tls_peer=None).open(world)
    assert "Arta" not in str(refused.value)


def test_invalid_body_refusal_does_not_echo_content(world: World) -> None:
    """A body refusal names the field but never the value (the case_ref held a name)."""
    envelope = craft(world, mutate=lambda c: setattr(c.body.social_inquiry_request, "case_ref", "Arta Example"))
    with pytest.raises(RefusalError) as refused:
        Attempt(envelope).open(world)
    assert "case_ref" in str(refused.value)
    assert "Arta" not in str(refused.value)


def test_well_formed_envelope_opens(world: World, sealed: SealedEnvelope) -> None:
    """An honest envelope opens to the signed content, payload and digest the sender computed."""
    opened = Attempt(sealed.envelope).open(world)
    assert opened.sender == GR
    assert opened.message_id == MESSAGE_ID
    assert opened.kind == "social_inquiry_request"
    assert opened.digest == sealed.digest
    assert opened.payload == sealed.payload
    assert opened.content == parse_payload(sealed.payload)
    assert opened.content.body == request_body()
    assert opened.content.sequence == 7


def test_message_signed_before_its_key_retired_opens(world: World, sealed: SealedEnvelope) -> None:
    """A key RETIRED after the message was created still verifies it (rotation does not strand messages in flight)."""
    peers = world.directory_with(retire_gr_signing_key_at(CREATED + 1))
    assert peers.version > world.directory.version
    assert Attempt(sealed.envelope, peers=peers).open(world).sender == GR


def test_directory_edits_are_published_and_verified(world: World) -> None:
    """directory_with publishes a newer, verified version carrying the edit; the network keeps the original."""
    revoked = world.directory_with(revoke_gr_signing_key)
    gr = revoked.node(GR)
    assert gr is not None
    assert {k.status for k in gr.signing_keys.values()} == {KeyStatus.REVOKED}
    assert revoked.signing_key(GR, world.keys[GR].signer.key_id, NOW_MS) is None
    current = world.network.load(NOW_MS)
    assert current.version > revoked.version
    assert current.signing_key(GR, world.keys[GR].signer.key_id, NOW_MS) == world.keys[GR].signer.verifier()


def test_open_without_tls_peer_relies_on_the_signature(world: World, sealed: SealedEnvelope) -> None:
    """A transport without a direct peer (sealed files) passes tls_peer=None and still opens."""
    assert Attempt(sealed.envelope, tls_peer=None).open(world).sender == GR


def test_open_accepts_creation_within_clock_skew(world: World, sealed: SealedEnvelope) -> None:
    """A sender clock ahead by exactly the allowed skew is tolerated."""
    assert Attempt(sealed.envelope, now_ms=CREATED - LIMITS.clock_skew_ms).open(world).message_id == MESSAGE_ID


def test_open_accepts_until_just_before_expiry(world: World, sealed: SealedEnvelope) -> None:
    """The last millisecond before expiry still opens; expiry itself is refused (table above)."""
    assert Attempt(sealed.envelope, now_ms=EXPIRES - 1).open(world).message_id == MESSAGE_ID


def test_open_accepts_the_size_limit_exactly(world: World, sealed: SealedEnvelope) -> None:
    """An envelope exactly at max_envelope_bytes is accepted (the limit is inclusive)."""
    size = len(sealed.envelope.header) + len(sealed.envelope.ciphertext)
    assert Attempt(sealed.envelope, limits=Limits(max_envelope_bytes=size)).open(world).message_id == MESSAGE_ID


def test_seal_rejects_invalid_body(world: World) -> None:
    """seal refuses a body the receiver would refuse, before any crypto."""
    with pytest.raises(InvalidBody, match="case_ref"):
        seal_message(world, body=request_body("Arta Example"))


def test_seal_rejects_message_id_of_wrong_length(world: World) -> None:
    """Message ids are exactly 16 bytes."""
    with pytest.raises(ValueError, match="16 bytes"):
        seal_message(world, message_id=bytes(15))


def test_seal_header_carries_routing_only(world: World, sealed: SealedEnvelope) -> None:
    """The clear header names sender, recipient, key and times, and never the case reference."""
    header = read_header(sealed.envelope, limits=LIMITS)
    assert (header.sender_node, header.recipient_node) == (GR, AL)
    assert header.recipient_key_id == world.recipient_key(AL).key_id
    assert (header.created_at_ms, header.expires_at_ms) == (CREATED, EXPIRES)
    assert header.protocol_version == PROTOCOL_VERSION
    assert header.suite_id == SUITE_V1.suite_id
    assert case_ref_for(1).encode() not in sealed.envelope.header
    assert case_ref_for(1).encode() not in sealed.envelope.ciphertext


def test_seal_is_randomized(world: World) -> None:
    """Sealing the same message twice gives different ciphertexts (fresh HPKE encapsulation)."""
    assert seal_message(world).envelope.ciphertext != seal_message(world).envelope.ciphertext


def test_signed_content_binds_the_header_hash(sealed: SealedEnvelope) -> None:
    """SignedContent carries SHA-256 of the exact header bytes that travel."""
    assert parse_payload(sealed.payload).header_sha256 == hashlib.sha256(sealed.envelope.header).digest()


def test_envelope_digest_matches_and_frames_its_inputs(sealed: SealedEnvelope) -> None:
    """The digest is over header and ciphertext, length-framed so the boundary cannot move."""
    assert envelope_digest(sealed.envelope.header, sealed.envelope.ciphertext) == sealed.digest
    assert envelope_digest(b"ab", b"c") != envelope_digest(b"a", b"bc")
    assert len(sealed.digest) == 32


def test_read_header_refuses_oversized_before_parsing() -> None:
    """Size is checked first: an oversized envelope of garbage is OVERSIZED, not MALFORMED."""
    envelope = envelope_pb2.Envelope(header=b"\xff" * 10, ciphertext=b"\xff" * 10)
    with pytest.raises(RefusalError) as refused:
        read_header(envelope, limits=Limits(max_envelope_bytes=19))
    assert refused.value.code is Refusal.OVERSIZED


# --- Properties --------------------------------------------------------------------------

case_refs = st.builds(case_ref_for, st.integers(0, 32**10 - 1), st.sampled_from(["GR", "AL", "IT"]))
# Every time inside a drawn body lies before this; envelopes are created at or after it.
WRITTEN_BY_MS = 2**50


@st.composite
def bodies(draw: st.DrawFn) -> messages_pb2.Body:
    case_ref = draw(case_refs)
    at_ms = draw(st.integers(min_value=10**11, max_value=WRITTEN_BY_MS))
    choice = draw(st.sampled_from(["request", "report", *KINDS]))
    if choice == "request":
        return social_inquiry_request(case_ref, identified_at_ms=at_ms, padding=draw(st.integers(0, 4096)))
    if choice == "report":
        return social_inquiry_report(case_ref, completed_at_ms=at_ms)
    return sample_body(choice, case_ref=case_ref, at_ms=at_ms)


@settings(max_examples=50, deadline=None)
@given(
    body=bodies(),
    message_id=st.binary(min_size=16, max_size=16),
    in_reply_to=st.one_of(st.just(b""), st.binary(min_size=16, max_size=16)),
    sequence=st.integers(min_value=0, max_value=2**64 - 1),
    created=st.integers(min_value=WRITTEN_BY_MS, max_value=2**51),
    lifetime=st.integers(min_value=1, max_value=LIMITS.max_lifetime_ms),
)
def test_seal_open_round_trip(
    world: World,
    body: messages_pb2.Body,
    message_id: bytes,
    in_reply_to: bytes,
    sequence: int,
    created: int,
    lifetime: int,
) -> None:
    """Whatever valid body, ids and times are sealed, opening returns exactly the signed content."""
    sealed = seal(
        signer=world.keys[GR].signer,
        sender_node=GR,
        recipient_node=AL,
        recipient_key=world.recipient_key(AL),
        body=body,
        message_id=message_id,
        created_at_ms=created,
        expires_at_ms=created + lifetime,
        directory_version=world.directory.version,
        sequence=sequence,
        in_reply_to=in_reply_to,
    )
    opened = Attempt(sealed.envelope, now_ms=created).open(world)
    assert opened.content.body == body
    assert opened.content == parse_payload(sealed.payload)
    assert opened.payload == sealed.payload
    assert opened.digest == sealed.digest
    assert opened.message_id == message_id
    assert opened.content.in_reply_to == in_reply_to
    assert opened.content.sequence == sequence
    assert (opened.content.created_at_ms, opened.content.expires_at_ms) == (created, created + lifetime)


@settings(max_examples=150, deadline=None)
@given(part=st.sampled_from(["header", "ciphertext"]), data=st.data(), mask=st.integers(min_value=1, max_value=255))
def test_any_flipped_byte_is_refused(
    world: World, sealed: SealedEnvelope, part: str, data: st.DataObject, mask: int
) -> None:
    """Flipping any bit pattern of any byte of the header or ciphertext is refused, never accepted or crashed."""
    original = sealed.envelope.header if part == "header" else sealed.envelope.ciphertext
    index = data.draw(st.integers(min_value=0, max_value=len(original) - 1), label="index")
    tampered = bytearray(original)
    tampered[index] ^= mask
    if part == "header":
        envelope = envelope_pb2.Envelope(header=bytes(tampered), ciphertext=sealed.envelope.ciphertext)
    else:
        envelope = envelope_pb2.Envelope(header=sealed.envelope.header, ciphertext=bytes(tampered))
    opened: OpenedMessage | None = None
    with pytest.raises(RefusalError):
        opened = Attempt(envelope).open(world)
    assert opened is None


# --- Error mapping -----------------------------------------------------------------------


def test_every_refusal_maps_to_a_grpc_error_status() -> None:
    """GRPC_STATUS covers every Refusal with a real, non-OK gRPC status code."""
    error_codes = {code.value[0] for code in grpc.StatusCode if code is not grpc.StatusCode.OK}
    assert set(GRPC_STATUS) == set(Refusal)
    assert all(status in error_codes for status in GRPC_STATUS.values())


@pytest.mark.parametrize("code", list(Refusal), ids=lambda c: c.name)
def test_refusal_values_equal_the_wire_enum(code: Refusal) -> None:
    """Refusal numbers equal focalpoint.v1.RefusalCode, so codes survive the wire unchanged."""
    assert envelope_pb2.RefusalCode.Value(f"REFUSAL_CODE_{code.name}") == code.value


def test_refusal_error_exposes_status_and_retryability() -> None:
    """A RefusalError carries its code, gRPC status and whether retrying can help."""
    err = RefusalError(Refusal.UNKNOWN_KEY_ID, "refresh the directory")
    assert err.grpc_status == grpc.StatusCode.NOT_FOUND.value[0]
    assert err.retryable
    assert not RefusalError(Refusal.BAD_SIGNATURE, "x").retryable
    assert str(err) == "unknown_key_id: refresh the directory"
    assert Refusal.REPLAY not in RETRYABLE


# --- Suite ---------------------------------------------------------------------------------


def test_get_suite_knows_v1_and_refuses_others() -> None:
    """Suite 1 is registered; any other number is UNSUPPORTED_SUITE (fail closed)."""
    assert get_suite(1) is SUITE_V1
    with pytest.raises(RefusalError) as refused:
        get_suite(2)
    assert refused.value.code is Refusal.UNSUPPORTED_SUITE


def test_suite_self_test_passes() -> None:
    """The v1 suite works on this machine (the node refuses to start otherwise)."""
    self_test(SUITE_V1)


def test_suite_open_binds_info() -> None:
    """HPKE opens only with the same info: the header hash is part of the ciphertext's meaning."""
    key = EncryptionPrivateKey.generate()
    ciphertext = SUITE_V1.seal(b"payload", key.public, b"info-a")
    assert SUITE_V1.open(ciphertext, key, b"info-a") == b"payload"
    with pytest.raises(InvalidTag):
        SUITE_V1.open(ciphertext, key, b"info-b")


def test_encryption_key_round_trips_from_its_secret() -> None:
    """A private key rebuilt from its 96-byte secret has the same public key; the id hashes that key."""
    key = EncryptionPrivateKey.generate()
    rebuilt = EncryptionPrivateKey(key.key_id, key.secret())
    assert rebuilt.public.public_key == key.public.public_key
    assert len(key.secret()) == 96
    assert len(key.public.public_key) == 1184 + 32
    assert len(key.key_id) == 32
    assert EncryptionPublicKey.from_bytes(key.key_id, key.public.public_key) == key.public


@pytest.mark.parametrize("length", [0, 1215, 1217])
def test_encryption_public_key_of_wrong_length_is_refused(length: int) -> None:
    """A hybrid public key must be 1184 + 32 bytes."""
    with pytest.raises(ConfigError, match="1216 bytes"):
        EncryptionPublicKey.from_bytes("k", bytes(length))


def test_encryption_private_key_of_wrong_length_is_refused() -> None:
    """A private key secret must be 96 bytes (ML-KEM seed and X25519 key)."""
    with pytest.raises(ConfigError, match="96 bytes"):
        EncryptionPrivateKey("k", bytes(95))
