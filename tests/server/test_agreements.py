"""Agreements as rules: a kind travels between two States only under an agreement in force covering it."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from focalpoint.errors import Refusal, RefusalError, UsageError
from focalpoint.exchange.envelope import seal
from focalpoint.localnet import LocalNetwork, make_network
from focalpoint.localnet.samples import case_ref_for, social_inquiry_report, social_inquiry_request
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState
from focalpoint.v1 import directory_pb2, messages_pb2
from tests.conftest import FAST_DELIVERY, SPECS, StartNode, now_utc

GR, AL, IT = "gr-ekka", "al-shss", "it-dgi"


def request() -> messages_pb2.Body:
    return social_inquiry_request(case_ref_for(101), identified_at_ms=wall_clock_ms())


async def _wait_version(node: Node, version: int) -> None:
    deadline = time.monotonic() + 10
    while node.cache.current.version < version:
        assert time.monotonic() < deadline, f"{node.node_id} did not load directory version {version}"
        await asyncio.sleep(0.05)


def _set(
    status: directory_pb2.AgreementStatus.ValueType, kinds: list[str] | None = None
) -> Callable[[dict[str, directory_pb2.Agreement]], None]:
    def mutate(agreements: dict[str, directory_pb2.Agreement]) -> None:
        a = agreements["AL-GR"]
        a.status = status
        if kinds is not None:
            del a.kinds[:]
            a.kinds.extend(kinds)

    return mutate


async def _publish(
    network: LocalNetwork,
    nodes: dict[str, Node],
    *,
    mutate_agreements: Callable[[dict[str, directory_pb2.Agreement]], None],
) -> None:
    network.publish(now=now_utc(), mutate_agreements=mutate_agreements)
    for node in nodes.values():
        await _wait_version(node, network.version)


async def test_without_any_agreement_nothing_is_sent(tmp_path: Path) -> None:
    """With no agreement between GR and AL, submit fails with the reason and queues nothing."""
    net = make_network(tmp_path / "net", SPECS[:2], now=now_utc(), agreements=False, delivery=FAST_DELIVERY)
    gr = await Node.open(load_config(net.nodes[GR].config_path))
    try:
        with pytest.raises(UsageError, match=r"no agreement in force between GR and AL.*no agreement between them"):
            await gr.outbox.submit(AL, social_inquiry_request(case_ref_for(102), identified_at_ms=wall_clock_ms()))
        assert await gr.store.outbox.page(10, 0) == []
    finally:
        await gr.stop(0)


@pytest.mark.parametrize(
    ("status", "label"),
    [
        (directory_pb2.AGREEMENT_STATUS_SIGNED, "signed"),
        (directory_pb2.AGREEMENT_STATUS_SUSPENDED, "suspended"),
        (directory_pb2.AGREEMENT_STATUS_TERMINATED, "terminated"),
    ],
)
async def test_an_agreement_not_in_force_allows_nothing(
    network: LocalNetwork, nodes: dict[str, Node], status: directory_pb2.AgreementStatus.ValueType, label: str
) -> None:
    """Signed-but-not-in-force, suspended or terminated: submit names the agreement and its status."""
    await _publish(network, nodes, mutate_agreements=_set(status))
    with pytest.raises(UsageError, match=f"AL-GR \\({label}\\)"):
        await nodes[GR].outbox.submit(AL, request())
    # Other pairs are unaffected.
    sent = await nodes[GR].outbox.submit(IT, request())
    assert await nodes[GR].delivery.wait_closed(sent.message_id) is DeliveryState.DELIVERED


async def test_only_the_kinds_an_agreement_covers_travel(network: LocalNetwork, nodes: dict[str, Node]) -> None:
    """An agreement covering only reports lets a report through and refuses a request."""
    await _publish(
        network, nodes, mutate_agreements=_set(directory_pb2.AGREEMENT_STATUS_IN_FORCE, ["social_inquiry_report"])
    )
    with pytest.raises(UsageError, match="covers social_inquiry_request"):
        await nodes[GR].outbox.submit(AL, request())
    report = social_inquiry_report(case_ref_for(101), completed_at_ms=wall_clock_ms())
    sent = await nodes[AL].outbox.submit(GR, report)
    assert await nodes[AL].delivery.wait_closed(sent.message_id) is DeliveryState.DELIVERED


async def test_the_receiver_enforces_agreements_too(network: LocalNetwork, nodes: dict[str, Node]) -> None:
    """An envelope whose kind no agreement covers is refused with NO_AGREEMENT and leaves no trace."""
    await _publish(network, nodes, mutate_agreements=_set(directory_pb2.AGREEMENT_STATUS_SUSPENDED))
    gr, al = nodes[GR], nodes[AL]
    directory = gr.cache.current
    key = directory.node(AL).active_encryption_key(wall_clock_ms())  # type: ignore[union-attr]
    assert key is not None
    body = request()  # written before it is sealed (its times must not be after the creation time)
    now = wall_clock_ms()
    sealed = seal(  # a sender ignoring its own check, as a rogue node would
        signer=gr.keyring.keys.signer,
        sender_node=GR,
        recipient_node=AL,
        recipient_key=key,
        body=body,
        message_id=secrets.token_bytes(16),
        created_at_ms=now,
        expires_at_ms=now + 3_600_000,
        directory_version=directory.version,
        sequence=1,
    )
    before = await al.store.inbox.count()
    with pytest.raises(RefusalError) as caught:
        await gr.transport.deliver(AL, sealed.envelope)
    assert caught.value.code is Refusal.NO_AGREEMENT
    assert "GR-0000000" not in caught.value.reason  # the refusal names States and kinds, never case data
    assert await al.store.inbox.count() == before


async def test_a_queued_message_fails_when_the_agreement_is_suspended_before_delivery(
    network: LocalNetwork, start_node: StartNode
) -> None:
    """Queued while in force, refused on arrival after suspension: FAILED with the receiver's reason."""
    gr: Node = await start_node(GR)
    sent = await gr.outbox.submit(AL, request())
    network.publish(now=now_utc(), mutate_agreements=_set(directory_pb2.AGREEMENT_STATUS_SUSPENDED))
    al: Node = await start_node(AL)
    assert al.cache.current.version == network.version
    assert await asyncio.wait_for(gr.delivery.wait_closed(sent.message_id), 15) is DeliveryState.FAILED
    row = await gr.store.outbox.get(sent.message_id)
    assert row is not None
    assert "no_agreement" in row.last_error


async def test_resuming_an_agreement_takes_effect_without_restart(
    network: LocalNetwork, nodes: dict[str, Node]
) -> None:
    """Suspended then back in force: the running nodes follow the directory."""
    await _publish(network, nodes, mutate_agreements=_set(directory_pb2.AGREEMENT_STATUS_SUSPENDED))
    with pytest.raises(UsageError):
        await nodes[GR].outbox.submit(AL, request())
    await _publish(network, nodes, mutate_agreements=_set(directory_pb2.AGREEMENT_STATUS_IN_FORCE))
    sent = await nodes[GR].outbox.submit(AL, request())
    assert await nodes[GR].delivery.wait_closed(sent.message_id) is DeliveryState.DELIVERED
