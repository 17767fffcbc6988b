"""The peer port's gRPC limits take effect: silent handshakes are cut, connections past the cap are
closed at accept, calls past a connection's stream cap wait, and idle connections are closed."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
import pytest

from focalpoint.crypto.tlsid import TlsIdentity, generate_tls_identity
from focalpoint.net.channels import (
    HANDSHAKE_TIMEOUT_MS,
    IDLE_CONNECTION_MS,
    MAX_STREAMS_PER_CONNECTION,
    server_options,
)

MAX_WAIT_S = 10.0  # every wait below is bounded; the limits under test are far shorter
METHOD = "/test.Hold/Hold"


@pytest.fixture(scope="module")
def identity() -> TlsIdentity:
    return generate_tls_identity("peer-port", now=dt.datetime.now(dt.UTC))


@dataclass
class Held:
    """A test server: its port, the most calls ever in progress at once, and when two were."""

    port: int
    most: int = 0
    two_at_once: asyncio.Event = field(default_factory=asyncio.Event)


@contextlib.asynccontextmanager
async def serving(identity: TlsIdentity, options: list[tuple[str, object]]) -> AsyncIterator[Held]:
    """A mutual-TLS server on loopback whose one method holds a ``hold`` call until the server stops."""
    in_progress = 0
    release = asyncio.Event()
    held = Held(port=0)

    async def hold(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        nonlocal in_progress
        in_progress += 1
        held.most = max(held.most, in_progress)
        if in_progress >= 2:
            held.two_at_once.set()
        try:
            if request == b"hold":
                await asyncio.wait_for(release.wait(), MAX_WAIT_S)
            return request
        finally:
            in_progress -= 1

    handler = grpc.method_handlers_generic_handler("test.Hold", {"Hold": grpc.unary_unary_rpc_method_handler(hold)})
    server = grpc.aio.server(options=options)
    server.add_generic_rpc_handlers([handler])
    creds = grpc.ssl_server_credentials(
        [(identity.private_key_pem, identity.certificate_pem)],
        root_certificates=identity.certificate_pem,
        require_client_auth=True,
    )
    held.port = server.add_secure_port("127.0.0.1:0", creds)
    await server.start()
    try:
        yield held
    finally:
        release.set()
        await server.stop(0)


def _channel(identity: TlsIdentity, port: int) -> grpc.aio.Channel:
    creds = grpc.ssl_channel_credentials(identity.certificate_pem, identity.private_key_pem, identity.certificate_pem)
    return grpc.aio.secure_channel(f"127.0.0.1:{port}", creds, options=[("grpc.ssl_target_name_override", "peer-port")])


async def _closed_by_server(sock: socket.socket, within_s: float) -> bool:
    """True once the server closes ``sock`` (end of file or reset), False if it is open after ``within_s``."""
    loop = asyncio.get_running_loop()
    try:
        data = await asyncio.wait_for(loop.sock_recv(sock, 1024), within_s)
    except TimeoutError:
        return False
    except OSError:
        return True
    return data == b""


def _silent(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


def test_the_peer_port_defaults_cut_silent_handshakes_in_seconds_and_cap_connections_and_streams() -> None:
    """The peer door's defaults: a 10 s handshake (gRPC's own is 120 s), idle and stream limits, a connection cap."""
    options = dict(server_options(1 << 20, max_connections=96, max_streams=MAX_STREAMS_PER_CONNECTION))
    assert options["grpc.server_handshake_timeout_ms"] == HANDSHAKE_TIMEOUT_MS <= 10_000
    assert options["grpc.max_connection_idle_ms"] == IDLE_CONNECTION_MS
    assert options["grpc.max_allowed_incoming_connections"] == 96
    assert options["grpc.max_concurrent_streams"] == MAX_STREAMS_PER_CONNECTION
    local = dict(server_options(1 << 20))
    assert "grpc.max_allowed_incoming_connections" not in local  # the local API is not capped


async def test_a_connection_that_never_sends_a_byte_is_closed_after_the_handshake_timeout(
    identity: TlsIdentity,
) -> None:
    """A TCP connection that stays silent is closed by the server once the handshake time is up."""
    async with serving(identity, server_options(1024, handshake_timeout_ms=300)) as server:
        sock = _silent(server.port)
        try:
            assert await _closed_by_server(sock, MAX_WAIT_S)
        finally:
            sock.close()


async def test_connections_past_the_cap_are_closed_at_once_and_those_within_it_stay(identity: TlsIdentity) -> None:
    """A cap of 3 and 6 silent connections: 3 closed at accept, 3 held until their handshake time."""
    options = server_options(1024, max_connections=3, handshake_timeout_ms=int(MAX_WAIT_S * 3000))
    async with serving(identity, options) as server:
        socks = [_silent(server.port) for _ in range(6)]
        try:
            closed = await asyncio.gather(*(_closed_by_server(s, 1.0) for s in socks))
        finally:
            for s in socks:
                s.close()
    assert sorted(closed) == [False] * 3 + [True] * 3


async def test_calls_past_a_connection_s_stream_cap_wait_for_a_free_stream(identity: TlsIdentity) -> None:
    """Five held calls on one connection with a cap of 2: never more than 2 in progress at once."""
    async with (
        serving(identity, server_options(1024, max_streams=2)) as server,
        _channel(identity, server.port) as channel,
    ):
        call = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)
        held = [asyncio.ensure_future(call(b"hold", timeout=MAX_WAIT_S)) for _ in range(5)]
        await asyncio.wait_for(server.two_at_once.wait(), MAX_WAIT_S)
        await asyncio.sleep(0.2)  # room for a third call to start, were the cap not enforced
        assert server.most == 2
        for h in held:
            h.cancel()
        await asyncio.gather(*held, return_exceptions=True)


async def test_a_connection_with_no_call_in_progress_is_closed_after_the_idle_time(identity: TlsIdentity) -> None:
    """After one call and 300 ms without another, the server closes the connection (the channel leaves READY)."""
    async with (
        serving(identity, server_options(1024, idle_ms=300)) as server,
        _channel(identity, server.port) as channel,
    ):
        call = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)
        assert await call(b"ping", timeout=MAX_WAIT_S) == b"ping"
        assert channel.get_state() is grpc.ChannelConnectivity.READY
        await asyncio.wait_for(channel.wait_for_state_change(grpc.ChannelConnectivity.READY), MAX_WAIT_S)
        assert channel.get_state() is grpc.ChannelConnectivity.IDLE
