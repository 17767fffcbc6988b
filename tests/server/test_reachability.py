"""Reachability: signed pings between agreement partners, and the health report a running node gives."""

from __future__ import annotations

import json

import grpc
import pytest

from focalpoint.client import LocalClient
from focalpoint.crypto.signing import Context, Ed25519Signer
from focalpoint.errors import Refusal, RefusalError, VerificationError
from focalpoint.exchange.ping import PING_WINDOW_MS, answer_ping, check_pong, make_ping
from focalpoint.exchange.policy import partners
from focalpoint.localnet import LocalNetwork
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.node import Node
from focalpoint.v1 import directory_pb2, node_pb2
from tests.conftest import StartNode, now_utc

GR, AL, IT = "gr-ekka", "al-shss", "it-dgi"


async def test_partners_answer_signed_pings(nodes: dict[str, Node]) -> None:
    """A round reaches every partner and records the round-trip time."""
    status = await nodes[GR].reachability.round()
    assert set(status) == {AL, IT}
    assert all(s.reachable and s.rtt_ms is not None for s in status.values())


async def test_a_down_partner_is_reported_unreachable(network: LocalNetwork, start_node: StartNode) -> None:
    """With AL not running, GR's health report lists it as unreachable, with the reason."""
    gr = await start_node(GR)
    await start_node(IT)
    async with LocalClient(network.nodes[GR].local_address, network.nodes[GR].token) as client:
        report = json.loads((await client.get_health(check_now=True)).report_json)
    assert [n["node"] for n in report["unreachable_nodes"]] == [AL]
    assert report["healthy"] is False
    assert gr.reachability.status[IT].reachable


async def test_only_agreement_partners_are_pinged(network: LocalNetwork, nodes: dict[str, Node]) -> None:
    """Terminating the GR-IT agreement removes IT from GR's partners (and from the next round)."""

    def terminate(agreements: dict[str, directory_pb2.Agreement]) -> None:
        agreements["GR-IT"].status = directory_pb2.AGREEMENT_STATUS_TERMINATED

    network.publish(now=now_utc(), mutate_agreements=terminate)
    directory = network.load(wall_clock_ms())
    assert partners(directory, GR) == [AL]
    assert partners(directory, IT) == [AL]


def test_pong_checks_catch_forgeries(nodes: dict[str, Node]) -> None:
    """A pong for another nonce, from another node, or signed by a stranger is refused."""
    gr, al = nodes[GR], nodes[AL]
    directory = gr.cache.current
    now = wall_clock_ms()
    ping = make_ping(gr.keyring.signer, me=GR, peer=AL, now_ms=now, directory_version=directory.version)
    pong = answer_ping(ping, signer=al.keyring.signer, me=AL, tls_peer=GR, directory=directory, now_ms=now)
    assert check_pong(pong, ping, directory=directory, me=GR, peer=AL).nonce
    other = make_ping(gr.keyring.signer, me=GR, peer=AL, now_ms=now, directory_version=directory.version)
    with pytest.raises(VerificationError, match="does not answer this ping"):
        check_pong(pong, other, directory=directory, me=GR, peer=AL)
    with pytest.raises(VerificationError):
        check_pong(pong, ping, directory=directory, me=GR, peer=IT)
    stranger = node_pb2.PingResponse(
        content=pong.content, signature=Ed25519Signer.generate().sign(Context.PONG, pong.content)
    )
    with pytest.raises(VerificationError, match="not signed with a valid key"):
        check_pong(stranger, ping, directory=directory, me=GR, peer=AL)


@pytest.mark.parametrize(
    ("case", "code"),
    [("wrong-peer", Refusal.SENDER_NOT_PEER), ("stale", Refusal.EXPIRED), ("bad-signature", Refusal.BAD_SIGNATURE)],
)
def test_pings_are_checked_before_they_are_answered(nodes: dict[str, Node], case: str, code: Refusal) -> None:
    """A ping naming another caller, dated beyond the ping window, or badly signed gets no signed answer."""
    gr, al = nodes[GR], nodes[AL]
    directory = al.cache.current
    now = wall_clock_ms()
    sent_at = now - PING_WINDOW_MS - 1 if case == "stale" else now
    signer = Ed25519Signer.generate() if case == "bad-signature" else gr.keyring.signer
    ping = make_ping(signer, me=GR, peer=AL, now_ms=sent_at, directory_version=directory.version)
    tls_peer = IT if case == "wrong-peer" else GR
    with pytest.raises(RefusalError) as caught:
        answer_ping(ping, signer=al.keyring.signer, me=AL, tls_peer=tls_peer, directory=directory, now_ms=now)
    assert caught.value.code is code


async def test_a_ping_over_the_wire_is_authorised_by_tls(network: LocalNetwork, nodes: dict[str, Node]) -> None:
    """A ping whose content names another sender than the TLS peer is refused on the real channel."""
    gr = nodes[GR]
    directory = gr.cache.current
    ping = make_ping(gr.keyring.signer, me=IT, peer=AL, now_ms=wall_clock_ms(), directory_version=directory.version)
    with pytest.raises(RefusalError) as caught:
        await gr.transport.ping(AL, ping)
    assert caught.value.code is Refusal.SENDER_NOT_PEER
    assert caught.value.grpc_status == grpc.StatusCode.PERMISSION_DENIED.value[0]
