"""An attacker's toolkit against running nodes: hand-made envelopes and raw mutual-TLS peer channels.

Everything here goes through the real wire: a ``peer_channel`` is a grpc.aio channel
with the credentials the attacker holds (a node's own TLS key, a fresh key, or none),
and ``Forger`` seals envelopes by hand with the same primitives the product uses, so
any single field, signature or byte can be made wrong while the rest stays genuine.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import grpc
from google.protobuf.message import DecodeError

from focalpoint.crypto.signing import Context, Ed25519Signer
from focalpoint.crypto.suite import PROTOCOL_VERSION, SUITE_V1, EncryptionPublicKey
from focalpoint.crypto.tlsid import TlsIdentity
from focalpoint.exchange.envelope import seal
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.net.status import REFUSAL_METADATA_KEY
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState, InboxRow
from focalpoint.v1 import common_pb2, envelope_pb2, messages_pb2, node_pb2, node_pb2_grpc

__all__ = [
    "CASE_REF",
    "DELIVER_METHOD",
    "HOUR_MS",
    "Forger",
    "Outcome",
    "assert_no_trace",
    "deliver",
    "deliver_as",
    "deliver_raw",
    "flip",
    "hpke_info",
    "outcome_of",
    "peer_channel",
    "retag",
    "wait_until",
]

# Every body the attacker sends carries this case reference; no refusal may echo it.
CASE_REF = case_ref_for(666)
DELIVER_METHOD = "/focalpoint.v1.NodeService/Deliver"
_HPKE_INFO_LABEL = b"focalpoint/v1/envelope\x00"
HOUR_MS = 3600 * 1000


def hpke_info(header: bytes) -> bytes:
    """The HPKE ``info`` a receiver uses for these exact header bytes."""
    return _HPKE_INFO_LABEL + hashlib.sha256(header).digest()


def flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    """``data`` with the byte at ``index`` (negative counts from the end) XOR ``mask``."""
    out = bytearray(data)
    out[index] ^= mask
    return bytes(out)


def retag(
    envelope: envelope_pb2.Envelope, edit: Callable[[envelope_pb2.EnvelopeHeader], None]
) -> envelope_pb2.Envelope:
    """The same ciphertext under a header edited by ``edit`` (re-serialized)."""
    header = envelope_pb2.EnvelopeHeader.FromString(envelope.header)
    edit(header)
    return envelope_pb2.Envelope(header=header.SerializeToString(), ciphertext=envelope.ciphertext)


# --- the wire -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one Deliver call returned: a response, or a status with its refusal code."""

    status: grpc.StatusCode
    refusal: str | None = None
    details: str = ""
    response: node_pb2.DeliverResponse | None = None


def peer_channel(client: TlsIdentity | None, server: Node) -> grpc.aio.Channel:
    """A new connection to ``server``'s peer port presenting ``client`` (None: no client certificate)."""
    creds = grpc.ssl_channel_credentials(
        root_certificates=server.keyring.keys.tls.certificate_pem,
        private_key=None if client is None else client.private_key_pem,
        certificate_chain=None if client is None else client.certificate_pem,
    )
    options: list[tuple[str, Any]] = [
        ("grpc.ssl_target_name_override", server.node_id),
        # A private subchannel pool: every channel makes its own TCP connection and handshake.
        ("grpc.use_local_subchannel_pool", 1),
        ("grpc.max_send_message_length", -1),
        ("grpc.max_receive_message_length", -1),
    ]
    return grpc.aio.secure_channel(f"127.0.0.1:{server.peer_port}", creds, options=options)


def outcome_of(e: grpc.aio.AioRpcError) -> Outcome:
    """The status, refusal code (``fp-refusal-code`` trailing metadata) and details of a failed call."""
    refusal = None
    for key, value in cast("Sequence[tuple[str, str | bytes]]", e.trailing_metadata() or ()):
        if key == REFUSAL_METADATA_KEY:
            refusal = value if isinstance(value, str) else value.decode()
    return Outcome(status=e.code(), refusal=refusal, details=e.details() or "")


async def deliver(channel: grpc.aio.Channel, envelope: envelope_pb2.Envelope) -> Outcome:
    """One Deliver call on ``channel``; a gRPC error becomes an Outcome, never an exception."""
    stub = node_pb2_grpc.NodeServiceStub(channel)
    try:
        response = await stub.Deliver(envelope, timeout=10)
    except grpc.aio.AioRpcError as e:
        return outcome_of(e)
    return Outcome(status=grpc.StatusCode.OK, response=response)


async def deliver_as(client: TlsIdentity | None, server: Node, envelope: envelope_pb2.Envelope) -> Outcome:
    """Deliver over a fresh mutual-TLS connection presenting ``client``."""
    channel = peer_channel(client, server)
    try:
        return await deliver(channel, envelope)
    finally:
        await channel.close(None)


async def deliver_raw(client: TlsIdentity, server: Node, body: bytes) -> Outcome:
    """Send ``body`` as the Deliver request bytes, unserialized (any bytes, protobuf or not)."""
    channel = peer_channel(client, server)
    try:
        call = channel.unary_unary(DELIVER_METHOD, request_serializer=None, response_deserializer=None)
        raw = await call(body, timeout=10)
    except grpc.aio.AioRpcError as e:
        return outcome_of(e)
    finally:
        await channel.close(None)
    return Outcome(status=grpc.StatusCode.OK, response=node_pb2.DeliverResponse.FromString(raw))


async def wait_until(predicate: Callable[[], bool], *, timeout_s: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` every 50 ms; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.05)


async def assert_no_trace(node: Node, count_before: int, envelope: envelope_pb2.Envelope, *also: bytes) -> None:
    """``node``'s inbox holds no more rows than before, and nothing under the envelope's (or ``also``) ids."""
    assert await node.store.inbox.count() == count_before
    ids = list(also)
    try:
        header = envelope_pb2.EnvelopeHeader.FromString(envelope.header)
    except DecodeError:  # garbage headers have no id to look up
        header = None
    if header is not None and header.message_id:
        ids.append(header.message_id)
        assert await node.store.inbox.get(header.sender_node, header.message_id) is None
    for mid in ids:
        assert await node.store.inbox.find(mid) == []


# --- sealing by hand ----------------------------------------------------------------


def _content_for(
    header: envelope_pb2.EnvelopeHeader, header_bytes: bytes, body: messages_pb2.Body
) -> envelope_pb2.SignedContent:
    return envelope_pb2.SignedContent(
        sender_node=header.sender_node,
        recipient_node=header.recipient_node,
        message_id=header.message_id,
        created_at_ms=header.created_at_ms,
        expires_at_ms=header.expires_at_ms,
        header_sha256=hashlib.sha256(header_bytes).digest(),
        sequence=1,
        body=body,
    )


@dataclass
class Forger:
    """Builds envelopes between the running ``nodes``, genuine or wrong in one chosen way."""

    nodes: Mapping[str, Node]
    now_ms: int = field(default_factory=wall_clock_ms)

    def signer(self, node_id: str) -> Ed25519Signer:
        return self.nodes[node_id].keyring.keys.signer

    def tls(self, node_id: str) -> TlsIdentity:
        return self.nodes[node_id].keyring.keys.tls

    def key(self, node_id: str) -> EncryptionPublicKey:
        """``node_id``'s active encryption key, from that node's own verified directory."""
        info = self.nodes[node_id].cache.current.node(node_id)
        assert info is not None
        key = info.active_encryption_key(self.now_ms)
        assert key is not None
        return key

    def body(self) -> messages_pb2.Body:
        return social_inquiry_request(CASE_REF, identified_at_ms=self.now_ms)

    def header(self, sender: str, recipient: str, **fields: Any) -> envelope_pb2.EnvelopeHeader:
        """A well-formed header for ``recipient``'s current key; ``fields`` override any value."""
        some_node = next(iter(self.nodes.values()))
        values: dict[str, Any] = {
            "protocol_version": PROTOCOL_VERSION,
            "suite_id": SUITE_V1.suite_id,
            "sender_node": sender,
            "recipient_node": recipient,
            "recipient_key_id": self.key(recipient).key_id if recipient in self.nodes else "",
            "message_id": os.urandom(16),
            "created_at_ms": self.now_ms,
            "expires_at_ms": self.now_ms + HOUR_MS,
            "directory_version": some_node.cache.current.version,
        }
        values.update(fields)
        return envelope_pb2.EnvelopeHeader(**values)

    def genuine(
        self, sender: str = "gr-ekka", recipient: str = "al-shss", **header_fields: Any
    ) -> envelope_pb2.Envelope:
        """An envelope sealed by the product's own ``seal`` with the sender's real keys."""
        h = self.header(sender, recipient, **header_fields)
        return seal(
            signer=self.signer(sender),
            sender_node=sender,
            recipient_node=recipient,
            recipient_key=self.key(recipient),
            body=self.body(),
            message_id=h.message_id,
            created_at_ms=h.created_at_ms,
            expires_at_ms=h.expires_at_ms,
            directory_version=h.directory_version,
            sequence=1,
        ).envelope

    def forge(
        self,
        header: envelope_pb2.EnvelopeHeader,
        *,
        signer: Ed25519Signer | None = None,
        seal_to: str = "al-shss",
        body: messages_pb2.Body | None = None,
        content: Callable[[envelope_pb2.SignedContent], None] | None = None,
        signatures: Callable[[bytes], Sequence[common_pb2.Signature]] | None = None,
        payload: bytes | None = None,
    ) -> envelope_pb2.Envelope:
        """Sign (by ``signer``, default the header's sender) and seal to ``seal_to``'s real key.

        ``content`` edits the SignedContent before signing; ``signatures`` replaces the
        signature list over the signed bytes; ``payload`` replaces the whole SealedPayload.
        """
        header_bytes = header.SerializeToString()
        if payload is None:
            signed = _content_for(header, header_bytes, self.body() if body is None else body)
            if content is not None:
                content(signed)
            signed_bytes = signed.SerializeToString()
            if signatures is not None:
                sigs = list(signatures(signed_bytes))
            else:
                sigs = [(signer or self.signer(header.sender_node)).sign(Context.MESSAGE, signed_bytes)]
            payload = envelope_pb2.SealedPayload(signed_content=signed_bytes, signatures=sigs).SerializeToString()
        return self.reseal(payload, header_bytes, seal_to)

    def reseal(self, payload: bytes, header_bytes: bytes, seal_to: str = "al-shss") -> envelope_pb2.Envelope:
        """HPKE-seal ``payload`` to ``seal_to``'s real key, bound to ``header_bytes``."""
        ciphertext = SUITE_V1.seal(payload, self.key(seal_to), hpke_info(header_bytes))
        return envelope_pb2.Envelope(header=header_bytes, ciphertext=ciphertext)

    async def intercepted(
        self, sender: str = "gr-ekka", via: str = "it-dgi"
    ) -> tuple[envelope_pb2.EnvelopeHeader, bytes]:
        """A genuine message ``sender`` → ``via`` over the real delivery path, as ``via`` decrypts it.

        Returns the original header and the SealedPayload bytes (the sender's signed content and signature).
        """
        sent = await self.nodes[sender].outbox.submit(via, self.body())
        state = await asyncio.wait_for(self.nodes[sender].delivery.wait_closed(sent.message_id), 10)
        assert state is DeliveryState.DELIVERED
        row: InboxRow | None = await self.nodes[via].store.inbox.get(sender, sent.message_id)
        assert row is not None
        envelope = envelope_pb2.Envelope.FromString(row.envelope)
        header = envelope_pb2.EnvelopeHeader.FromString(envelope.header)
        key = self.nodes[via].keyring.keys.decryption_keys[header.recipient_key_id]
        return header, SUITE_V1.open(envelope.ciphertext, key, hpke_info(envelope.header))
