"""gRPC over mutual TLS between nodes: server credentials, per-peer channels, peer identity.

Peers are authorised on every call from the certificate the TLS handshake verified:
its SPKI pin must belong to a non-revoked TLS key of a node in the directory
(docs/adr/0002-tls-pinning.md). The trust store on both sides is built from the
directory's certificates, and a client trusts only the certificates of the node it
calls. ``PeerChannels`` is the node's ``PeerTransport`` over the real network; failed
calls become errors through the one status map (``focalpoint.net.status``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
import structlog

from directory import Directory
from focalpoint.crypto.tlsid import TlsIdentity, spki_sha256_from_pem
from focalpoint.errors import ConfigError, FocalpointError, Refusal, RefusalError, TransportError
from focalpoint.net.directory import MAX_DIRECTORY_BYTES, fetch_bundle
from focalpoint.net.status import error_from_rpc
from focalpoint.v1 import audit_pb2, envelope_pb2, node_pb2, node_pb2_grpc

if TYPE_CHECKING:
    from focalpoint.v1.node_pb2_grpc import NodeServiceAsyncStub

__all__ = [
    "HANDSHAKE_TIMEOUT_MS",
    "IDLE_CONNECTION_MS",
    "MAX_BATCH_ENVELOPES",
    "MAX_DIRECTORY_BYTES",
    "MAX_STREAMS_PER_CONNECTION",
    "PeerChannels",
    "ServerTls",
    "bind_port",
    "client_options",
    "peer_node_id",
    "server_options",
]

log = structlog.get_logger("focalpoint.transport")
R = TypeVar("R")


def client_options(max_message_bytes: int, *, reconnect_max_ms: int = 30_000) -> list[tuple[str, Any]]:
    # Keepalive pings only while calls are open, and no more often than the server accepts.
    return [
        ("grpc.max_send_message_length", max_message_bytes + 64 * 1024),
        ("grpc.max_receive_message_length", MAX_DIRECTORY_BYTES),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        # gRPC's own reconnect backoff grows to 2 minutes by default: after a long outage a channel
        # would wait that long before even trying, whatever the node's retry ceiling says.
        ("grpc.initial_reconnect_backoff_ms", min(1_000, reconnect_max_ms)),
        ("grpc.min_reconnect_backoff_ms", min(1_000, reconnect_max_ms)),
        ("grpc.max_reconnect_backoff_ms", reconnect_max_ms),
    ]


# A connection must finish TLS and send its HTTP/2 settings within this time, or it is closed
# (gRPC's default is 120 s: a thousand silent connections held a node's descriptors that long).
# Generous for a mutual-TLS handshake over a slow, lossy link (two or three round trips).
HANDSHAKE_TIMEOUT_MS = 10_000
# A connection with no call in progress for this long is closed (GOAWAY); a channel reconnects
# at its next call.
IDLE_CONNECTION_MS = 300_000
# Calls in progress on one peer connection; more wait at the client. An honest sender keeps at
# most four deliveries in flight, plus pings and witnessing.
MAX_STREAMS_PER_CONNECTION = 32


def server_options(
    max_message_bytes: int,
    *,
    max_connections: int | None = None,
    max_streams: int | None = None,
    handshake_timeout_ms: int = HANDSHAKE_TIMEOUT_MS,
    idle_ms: int = IDLE_CONNECTION_MS,
) -> list[tuple[str, Any]]:
    """gRPC server options; ``max_connections`` caps connections held at once, counted from
    accept (a connection past it is closed at once), ``max_streams`` the calls per connection."""
    options: list[tuple[str, Any]] = [
        # Headroom for framing; our own size check gives the clear OVERSIZED refusal.
        ("grpc.max_receive_message_length", max_message_bytes + 64 * 1024),
        ("grpc.max_send_message_length", MAX_DIRECTORY_BYTES),
        # A second process must not silently share our port (and so our database).
        ("grpc.so_reuseport", 0),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 30_000),
        # Connections re-handshake hourly, so a trust-store change reaches every peer.
        ("grpc.max_connection_age_ms", 3_600_000),
        ("grpc.max_connection_age_grace_ms", 300_000),
        ("grpc.server_handshake_timeout_ms", handshake_timeout_ms),
        ("grpc.max_connection_idle_ms", idle_ms),
    ]
    if max_connections is not None:
        options.append(("grpc.max_allowed_incoming_connections", max_connections))
    if max_streams is not None:
        options.append(("grpc.max_concurrent_streams", max_streams))
    return options


def bind_port(add: Callable[..., int], address: str, *args: Any) -> int:
    """``server.add_*_port(address, ...)``; raises ConfigError in one line when it cannot listen."""
    try:
        port = add(address, *args)
    except RuntimeError:  # grpcio raises "Failed to bind" where older versions returned 0
        port = 0
    if port == 0:
        raise ConfigError(f"cannot listen on {address} (address in use or not available)")
    return port


class ServerTls:
    """Dynamic server credentials whose client trust store follows the directory."""

    def __init__(self, identity: TlsIdentity, directory: Directory) -> None:
        self._identity = identity
        self._pending: grpc.ServerCertificateConfiguration | None = None
        initial = self._config(directory)
        self.credentials = grpc.dynamic_ssl_server_credentials(
            initial,
            self._fetch,  # type: ignore[arg-type]  # grpc documents None as "no change"; the stub omits it
            require_client_authentication=True,
        )

    def _config(self, directory: Directory) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration(
            [(self._identity.private_key_pem, self._identity.certificate_pem)],
            root_certificates=directory.trust_store_pem() or self._identity.certificate_pem,
        )

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        pending, self._pending = self._pending, None
        return pending

    def update(self, directory: Directory) -> None:
        """Used for handshakes after this call; existing connections keep their peer check per call."""
        self._pending = self._config(directory)


@lru_cache(maxsize=1024)
def _pin_of(pem: bytes) -> bytes:
    return spki_sha256_from_pem(pem)


def peer_node_id(context: grpc.aio.ServicerContext[Any, Any], directory: Directory) -> str:
    """The node the caller authenticated as; raises RefusalError(UNKNOWN_PEER) otherwise."""
    certs = list(context.auth_context().get("x509_pem_cert") or [])
    if not certs:
        raise RefusalError(Refusal.UNKNOWN_PEER, "no client certificate was presented")
    node_id = directory.node_for_pin(_pin_of(certs[0]))
    if node_id is None:
        raise RefusalError(
            Refusal.UNKNOWN_PEER,
            f"the client certificate's key is not a valid TLS key in directory version {directory.version}",
        )
    return node_id


# A stream message carries at most this many envelopes (and at most max_envelope_bytes in all).
MAX_BATCH_ENVELOPES = 1024


def _chunks(envelopes: Sequence[envelope_pb2.Envelope], max_bytes: int) -> list[envelope_pb2.EnvelopeBatch]:
    chunks: list[envelope_pb2.EnvelopeBatch] = []
    current: list[envelope_pb2.Envelope] = []
    size = 0
    for env in envelopes:
        n = len(env.header) + len(env.ciphertext) + 16
        if current and (size + n > max_bytes or len(current) >= MAX_BATCH_ENVELOPES):
            chunks.append(envelope_pb2.EnvelopeBatch(envelopes=current))
            current, size = [], 0
        current.append(env)
        size += n
    if current:
        chunks.append(envelope_pb2.EnvelopeBatch(envelopes=current))
    return chunks


class PeerChannels:
    """One mutual-TLS channel per peer, each trusting only that peer's certificates: the
    node's ``PeerTransport`` (``focalpoint.node.ports``) over the real network."""

    def __init__(
        self,
        identity: TlsIdentity,
        directory: Callable[[], Directory],
        *,
        max_message_bytes: int,
        timeout_s: float,
        reconnect_max_s: float = 30.0,
    ) -> None:
        """``reconnect_max_s``: the longest gRPC may wait between attempts to reconnect to a peer
        (the node's ``delivery.retry_max_seconds``: no backoff anywhere exceeds it)."""
        self._identity = identity
        self._directory = directory
        self._max = max_message_bytes
        self._timeout = timeout_s
        self._reconnect_max_ms = max(1, int(reconnect_max_s * 1000))
        self._channels: dict[str, tuple[tuple[str, bytes], grpc.aio.Channel, NodeServiceAsyncStub]] = {}

    def channel(self, peer: str) -> grpc.aio.Channel:
        """The pinned mutual-TLS channel to ``peer`` (also carries its DirectoryService)."""
        self._stub(peer)
        return self._channels[peer][1]

    def _stub(self, peer: str) -> NodeServiceAsyncStub:
        directory = self._directory()
        info = directory.node(peer)
        if info is None:
            raise TransportError(f"peer {peer!r} is not in directory version {directory.version}")
        roots = info.certificates_pem()
        if not roots:
            raise TransportError(f"peer {peer!r} has no usable TLS key in directory version {directory.version}")
        key = (info.endpoint, roots)
        cached = self._channels.get(peer)
        if cached is not None and cached[0] == key:
            return cached[2]
        if cached is not None:
            asyncio.get_running_loop().create_task(cached[1].close(None))
        creds = grpc.ssl_channel_credentials(
            root_certificates=roots,
            private_key=self._identity.private_key_pem,
            certificate_chain=self._identity.certificate_pem,
        )
        options = [
            *client_options(self._max, reconnect_max_ms=self._reconnect_max_ms),
            ("grpc.ssl_target_name_override", peer),
        ]
        channel = grpc.aio.secure_channel(info.endpoint, creds, options=options)
        stub = node_pb2_grpc.NodeServiceStub(channel)
        self._channels[peer] = (key, channel, stub)
        return stub

    async def deliver(self, peer: str, envelope: envelope_pb2.Envelope) -> node_pb2.DeliverResponse:
        """Raises RefusalError (the peer refused) or TransportError (try again later)."""
        stub = self._stub(peer)
        try:
            return await stub.Deliver(envelope, timeout=self._timeout)
        except grpc.aio.AioRpcError as e:
            raise _refusal_or_transport(e) from e

    async def deliver_batch(
        self, peer: str, envelopes: Sequence[envelope_pb2.Envelope]
    ) -> list[node_pb2.DeliveryResult]:
        """One result per envelope, in order; raises TransportError if the stream breaks.

        Envelopes travel in EnvelopeBatch messages of at most ``max_message_bytes`` each.
        """
        stub = self._stub(peer)
        chunks = _chunks(envelopes, self._max)
        call = stub.DeliverStream(iter(chunks), timeout=self._timeout)
        results: list[node_pb2.DeliveryResult] = []
        try:
            async for batch_result in call:
                results.extend(batch_result.results)
        except grpc.aio.AioRpcError as e:
            err = _refusal_or_transport(e)
            if isinstance(err, RefusalError) and not results:
                raise err from e
            raise TransportError(f"stream to {peer!r} broke after {len(results)} result(s): {err}") from e
        if len(results) != len(envelopes):
            raise TransportError(f"stream to {peer!r} returned {len(results)} results for {len(envelopes)} envelopes")
        return results

    async def _ask(self, peer: str, call: Callable[[NodeServiceAsyncStub], Awaitable[R]]) -> R:
        """One call to ``peer``; a failure becomes the error the peer raised (``net.status``)."""
        stub = self._stub(peer)
        try:
            return await call(stub)
        except grpc.aio.AioRpcError as e:
            raise error_from_rpc(e) from e

    async def ping(self, peer: str, request: node_pb2.PingRequest) -> node_pb2.PingResponse:
        return await self._ask(peer, lambda stub: stub.Ping(request, timeout=self._timeout))

    async def checkpoint(self, peer: str, log_node: str) -> audit_pb2.SignedCheckpoint:
        request = audit_pb2.GetCheckpointRequest(log_node=log_node)
        return await self._ask(peer, lambda stub: stub.GetCheckpoint(request, timeout=self._timeout))

    async def inclusion_proof(self, peer: str, index: int, size: int) -> audit_pb2.InclusionProofResponse:
        request = audit_pb2.InclusionProofRequest(index=index, tree_size=size)
        return await self._ask(peer, lambda stub: stub.GetInclusionProof(request, timeout=self._timeout))

    async def consistency_proof(self, peer: str, old: int, new: int) -> list[bytes]:
        request = audit_pb2.ConsistencyProofRequest(old_size=old, new_size=new)
        answer = await self._ask(peer, lambda stub: stub.GetConsistencyProof(request, timeout=self._timeout))
        return list(answer.path)

    async def cosign(self, peer: str, cosignature: audit_pb2.Cosignature) -> None:
        await self._ask(peer, lambda stub: stub.Cosign(cosignature, timeout=self._timeout))

    async def receipts(self, peer: str, request: node_pb2.ReceiptsRequest) -> node_pb2.ReceiptsResponse:
        return await self._ask(peer, lambda stub: stub.GetReceipts(request, timeout=self._timeout))

    async def fetch_bundle(self, peer: str, known_version: int) -> tuple[int, bytes | None]:
        """The peer's directory bundle if newer than ``known_version``; raises TransportError."""
        return await fetch_bundle(self.channel(peer), known_version=known_version, timeout_s=self._timeout)

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        for _, channel, _ in channels.values():
            await channel.close(None)


def _refusal_or_transport(e: grpc.aio.AioRpcError) -> RefusalError | TransportError:
    """A delivery's outcome: the receiver's refusal, or anything else as a failure to retry."""
    err: FocalpointError = error_from_rpc(e)
    if isinstance(err, RefusalError | TransportError):
        return err
    return TransportError(f"{e.code().name}: {e.details()}")
