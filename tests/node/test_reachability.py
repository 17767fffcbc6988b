"""Signed ping rounds over the fakes (``Reachability``): who answers, who does not, since when."""

from __future__ import annotations

import pytest

from focalpoint.crypto.signing import Context, Ed25519Signer
from focalpoint.errors import Refusal, RefusalError
from focalpoint.exchange.ping import make_ping
from focalpoint.net.memory import PeerDoor
from focalpoint.v1 import directory_pb2, node_pb2
from tests.node.conftest import DoorProxy, Fabric

GR, AL, IT = "gr-ekka", "al-shss", "it-dgi"


class ForeignPong(DoorProxy):
    """gr-ekka's door, but its pongs carry another node's signature (proof of nothing about gr)."""

    def __init__(self, inner: PeerDoor, signer: Ed25519Signer) -> None:
        super().__init__(inner)
        self.signer = signer

    async def ping(self, peer: str, request: node_pb2.PingRequest) -> node_pb2.PingResponse:
        pong = await self.inner.ping(peer, request)
        return node_pb2.PingResponse(content=pong.content, signature=self.signer.sign(Context.PONG, pong.content))


async def test_a_round_pings_every_partner_and_finds_them_reachable(fabric: Fabric) -> None:
    """Both partners answer a signed ping; each status says when and how fast."""
    al = fabric.nodes[AL]
    statuses = await al.reachability.round()
    assert sorted(statuses) == [GR, IT]
    for peer, status in statuses.items():
        assert status.reachable, peer
        assert status.rtt_ms is not None
        assert status.checked_at_ms == status.last_ok_ms == fabric.clock()
        assert status.error == ""
        assert (AL, peer, "Ping") in fabric.network.calls
    assert al.reachability.unreachable() == {}


async def test_a_partner_that_is_down_is_unreachable_and_its_last_success_is_kept(fabric: Fabric) -> None:
    """gr goes down: unreachable with the error, last_ok from before; back up: reachable again."""
    al = fabric.nodes[AL]
    await al.reachability.round()
    ok_at = fabric.clock()
    fabric.clock.advance(30)
    fabric.network.set_down(GR)
    status = await al.reachability.ping(GR)
    assert not status.reachable
    assert "not reachable" in status.error
    assert status.rtt_ms is None
    assert (status.checked_at_ms, status.last_ok_ms) == (fabric.clock(), ok_at)
    assert al.reachability.unreachable() == {GR: status.error}
    fabric.clock.advance(30)
    still = await al.reachability.ping(GR)
    assert (still.reachable, still.last_ok_ms) == (False, ok_at)
    fabric.network.set_down(GR, False)
    fabric.clock.advance(30)
    back = await al.reachability.ping(GR)
    assert back.reachable
    assert back.last_ok_ms == fabric.clock()
    assert al.reachability.unreachable() == {}


async def test_an_answer_not_signed_by_the_partner_counts_as_unreachable(fabric: Fabric) -> None:
    """Something answers at gr's address, but the pong's signature is it-dgi's: not proof of gr."""
    al, gr, it = fabric.nodes[AL], fabric.nodes[GR], fabric.nodes[IT]
    fabric.network.attach(GR, ForeignPong(gr.peer_api, it.keyring.signer))
    status = await al.reachability.ping(GR)
    assert not status.reachable
    assert status.last_ok_ms is None
    assert "not signed with a valid key of gr-ekka" in status.error


async def test_a_ping_that_names_another_caller_is_refused(fabric: Fabric) -> None:
    """al's signed ping, replayed by it-dgi to gr, is refused SENDER_NOT_PEER."""
    al, gr = fabric.nodes[AL], fabric.nodes[GR]
    request = make_ping(
        al.keyring.signer, me=AL, peer=GR, now_ms=fabric.clock(), directory_version=al.cache.current.version
    )
    with pytest.raises(RefusalError) as refused:
        await gr.peer_api.ping(IT, request)
    assert refused.value.code is Refusal.SENDER_NOT_PEER
    assert (await gr.peer_api.ping(AL, request)).content  # from al itself it is answered


async def test_a_node_that_is_no_longer_a_partner_is_dropped_from_the_round(fabric: Fabric) -> None:
    """The GR-AL agreement is suspended: al's next round pings it-dgi only and forgets gr."""
    al = fabric.nodes[AL]
    await al.reachability.round()
    assert GR in al.reachability.status

    def suspend(agreements: dict[str, directory_pb2.Agreement]) -> None:
        for agreement in agreements.values():
            if set(agreement.parties) == {"GR", "AL"}:
                agreement.status = directory_pb2.AGREEMENT_STATUS_SUSPENDED

    await fabric.republish(mutate_agreements=suspend)
    calls = len(fabric.network.calls)
    statuses = await al.reachability.round()
    assert sorted(statuses) == [IT]
    assert [(a, b) for a, b, m in fabric.network.calls[calls:] if m == "Ping"] == [(AL, IT)]
