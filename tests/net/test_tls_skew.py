"""Certificates made by a clock that is ahead still work: a real mutual-TLS handshake between a
node whose certificate was made a day "in the future" and a partner on the right time."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import grpc
import pytest
from cryptography import x509
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from focalpoint.crypto.tlsid import BACKDATE, TlsIdentity, generate_tls_identity


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
async def fast_server() -> AsyncIterator[tuple[int, TlsIdentity, TlsIdentity]]:
    """A server whose certificate was made by a clock one day ahead, trusting one client certificate."""
    server_id = generate_tls_identity("gr-ekka", now=_now() + dt.timedelta(days=1))
    client_id = generate_tls_identity("al-shss", now=_now())
    creds = grpc.ssl_server_credentials(
        [(server_id.private_key_pem, server_id.certificate_pem)],
        root_certificates=client_id.certificate_pem,
        require_client_auth=True,
    )
    server = grpc.aio.server()
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_secure_port("127.0.0.1:0", creds)
    await server.start()
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    yield port, server_id, client_id
    await server.stop(0)


def test_a_certificate_counts_as_valid_from_a_week_before_it_was_made() -> None:
    """``node init`` back-dates the certificate by BACKDATE (a week), not by minutes."""
    made_at = _now()
    cert = x509.load_pem_x509_certificate(generate_tls_identity("gr-ekka", now=made_at).certificate_pem)
    assert dt.timedelta(days=7) <= BACKDATE
    assert cert.not_valid_before_utc <= made_at - BACKDATE + dt.timedelta(seconds=1)


async def test_a_partner_on_the_right_time_handshakes_with_a_certificate_made_a_day_ahead(
    fast_server: tuple[int, TlsIdentity, TlsIdentity],
) -> None:
    """The TLS library's date check no longer fails the handshake when the two clocks disagree."""
    port, server_id, client_id = fast_server
    creds = grpc.ssl_channel_credentials(
        root_certificates=server_id.certificate_pem,
        private_key=client_id.private_key_pem,
        certificate_chain=client_id.certificate_pem,
    )
    async with grpc.aio.secure_channel(
        f"127.0.0.1:{port}", creds, options=[("grpc.ssl_target_name_override", "gr-ekka")]
    ) as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
