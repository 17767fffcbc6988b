"""Sealed files between nodes over the fakes (focalpoint.node.sealed): messages to a file-only
partner wait, QUEUED, without a network attempt; a file carries them, its import goes through the
inbox (dedup, receipts, audit) and the receipts file closes the sender's entries; a lost file loses
nothing; a tampered, truncated, replayed, expired or misaddressed file is refused with its reason
and changes nothing; a message that arrives by file and by network is stored once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import yaml

from focalpoint.errors import Conflict, UsageError
from focalpoint.localnet import LocalNetwork
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.net.memory import MemoryNetwork
from focalpoint.node.sealed import Exported
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState
from focalpoint.v1 import audit_pb2
from tests.node.conftest import Fabric, FakeClock, events

GR, AL, IT = "gr-ekka", "al-shss", "it-dgi"
Kind = audit_pb2.AuditEventKind


def file_only(network: LocalNetwork, node_id: str, partners: list[str]) -> None:
    """Give ``node_id``'s configuration a ``sealed_files`` section naming ``partners`` file-only."""
    path = network.nodes[node_id].config_path
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["sealed_files"] = {"file_only": partners, "file_lifetime_seconds": 86400}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


@pytest.fixture
async def fab(network: LocalNetwork) -> AsyncIterator[Fabric]:
    """gr and al reach each other by sealed files only; it by the network."""
    file_only(network, GR, [AL])
    file_only(network, AL, [GR])
    fab = Fabric(network, MemoryNetwork(), FakeClock())
    for node_id in network.nodes:
        await fab.open(node_id)
    yield fab
    for node_id in list(fab.nodes):
        await fab.close(node_id)


async def submit(fab: Fabric, sender: str, recipient: str, n: int = 1) -> bytes:
    body = social_inquiry_request(case_ref_for(n), identified_at_ms=fab.clock())
    return (await fab.nodes[sender].outbox.submit(recipient, body)).message_id


@dataclass(frozen=True)
class Snapshot:
    """What an import may change: the audit log's size, the inbox, the outbox's states."""

    audit: int
    inbox: int
    outbox: tuple[tuple[bytes, DeliveryState, int], ...]


async def snapshot(node: Node) -> Snapshot:
    rows = [r for r in await node.store.outbox.page(-1, 0) if hasattr(r, "state")]
    return Snapshot(
        node.store.audit.size,
        await node.store.inbox.count(),
        tuple((r.message_id, r.state, r.attempts) for r in rows),  # type: ignore[union-attr]
    )


def network_calls(fab: Fabric, a: str, b: str) -> list[str]:
    return [m for caller, callee, m in fab.network.calls if {caller, callee} == {a, b}]


async def test_a_message_goes_by_file_and_its_receipt_comes_back_by_file(fab: Fabric) -> None:
    gr, al = fab.nodes[GR], fab.nodes[AL]
    mid = await submit(fab, GR, AL)
    out = await gr.sealed.export(AL, actor="op-gr")
    assert (out.envelopes, out.receipts, out.sequence, out.left_out) == (1, 0, 1, 0)
    row = await gr.store.outbox.get(mid)
    assert row is not None
    assert row.state is DeliveryState.QUEUED
    assert "handed to courier in sealed file " + out.file_id.hex() in row.last_error

    got = await al.sealed.import_file(out.data, actor="op-al")
    assert (got.sender, got.accepted, got.duplicates, got.refused) == (GR, 1, 0, 0)
    assert await al.store.inbox.get(GR, mid) is not None
    [(_, delivered)] = await events(al, Kind.AUDIT_EVENT_KIND_DELIVERED)
    assert delivered.message_id == mid
    [(_, imported)] = await events(al, Kind.AUDIT_EVENT_KIND_SEALED_IMPORTED)
    assert (imported.peer_node, imported.message_id, imported.count) == (GR, out.file_id, 1)
    assert imported.actor == "op-al"
    back = got.receipts_file
    assert back is not None
    assert (back.envelopes, back.receipts, back.sequence) == (0, 1, 1)

    closed = await gr.sealed.import_file(back.data, actor="op-gr")
    assert (closed.receipts, closed.closed_delivered, closed.already_closed) == (1, 1, 0)
    row = await gr.store.outbox.get(mid)
    assert row is not None
    assert row.state is DeliveryState.DELIVERED
    assert [e.message_id for _, e in await events(gr, Kind.AUDIT_EVENT_KIND_RECEIPTED)] == [mid]
    [(_, exported)] = await events(gr, Kind.AUDIT_EVENT_KIND_SEALED_EXPORTED)
    assert (exported.peer_node, exported.sequence, exported.count) == (AL, 1, 1)
    # Nothing went over the network between the two, and gr has nothing left for al.
    assert network_calls(fab, GR, AL) == []
    assert (await gr.sealed.export(AL, actor="op-gr")).data == b""
    # al still owes the receipt (until the message expires): its next file carries it again, harmlessly.
    again = await al.sealed.export(GR, actor="op-al")
    assert again.receipts == 1
    assert (await gr.sealed.import_file(again.data, actor="op-gr")).already_closed == 1


async def test_a_lost_file_loses_nothing_the_next_export_carries_the_message_again(fab: Fabric) -> None:
    gr, al = fab.nodes[GR], fab.nodes[AL]
    mid = await submit(fab, GR, AL)
    lost = await gr.sealed.export(AL, actor="op")
    second = await gr.sealed.export(AL, actor="op")
    assert (lost.sequence, second.sequence) == (1, 2)
    assert second.envelopes == 1
    got = await al.sealed.import_file(second.data, actor="op")
    assert got.accepted == 1
    # The lost file turns up after all: a duplicate, answered with the original receipt.
    late = await al.sealed.import_file(lost.data, actor="op")
    assert (late.accepted, late.duplicates) == (0, 1)
    assert await al.store.inbox.count() == 1
    assert len(await events(al, Kind.AUDIT_EVENT_KIND_DELIVERED)) == 1
    assert late.receipts_file is not None
    assert (await gr.sealed.import_file(late.receipts_file.data, actor="op")).closed_delivered == 1
    row = await gr.store.outbox.get(mid)
    assert row is not None
    assert row.state is DeliveryState.DELIVERED


async def test_no_network_attempt_ping_or_alarm_for_a_file_only_partner(fab: Fabric) -> None:
    gr = fab.nodes[GR]
    mid = await submit(fab, GR, AL)
    to_it = await submit(fab, GR, IT, 2)  # a network partner is still served by the network
    assert await asyncio.wait_for(gr.delivery.wait_closed(to_it), 2) is DeliveryState.DELIVERED
    await gr.reachability.round()
    outcomes = await gr.witness.round()  # witnessing needs a live answer: file-only partners are left out
    assert AL not in {o.peer for o in outcomes}
    assert IT in {o.peer for o in outcomes}
    await gr.reconciler.round()
    fab.clock.advance(600)
    gr.delivery.wake(AL, scan=True)
    await asyncio.sleep(0.05)
    assert AL not in gr.reachability.status
    assert AL not in gr.reachability.unreachable()
    assert gr.reachability.status[IT].reachable
    assert network_calls(fab, GR, AL) == []
    row = await gr.store.outbox.get(mid)
    assert row is not None
    assert (row.state, row.attempts, row.last_error) == (DeliveryState.QUEUED, 0, "")


async def _refused(node: Node, data: bytes, match: str) -> None:
    before = await snapshot(node)
    with pytest.raises(UsageError, match=match):
        await node.sealed.import_file(data, actor="op")
    assert await snapshot(node) == before


async def test_every_bad_file_is_refused_with_its_reason_and_changes_nothing(fab: Fabric) -> None:
    gr, al, it = fab.nodes[GR], fab.nodes[AL], fab.nodes[IT]
    await submit(fab, GR, AL)
    good = await gr.sealed.export(AL, actor="op")
    tampered = bytearray(good.data)
    tampered[len(tampered) // 2] ^= 0x40
    await _refused(al, bytes(tampered), "altered or damaged")
    await _refused(al, good.data[: len(good.data) - 64], "truncated|altered")
    await _refused(it, good.data, "not addressed to this node")
    await _refused(al, b"not a file", "not a sealed file|not a valid age")
    # Expired: past its not_after (a day here).
    fab.clock.advance(86400 + 1)
    await _refused(al, good.data, "expired at")
    fab.clock.advance(-(86400 + 1))
    # Imported once; the same file again is a replay.
    assert (await al.sealed.import_file(good.data, actor="op")).accepted == 1
    before = await snapshot(al)
    with pytest.raises(Conflict, match=r"this file from gr-ekka was already imported on .*a replay"):
        await al.sealed.import_file(good.data, actor="op")
    assert await snapshot(al) == before


async def test_a_message_delivered_by_file_and_by_network_is_applied_once(fab: Fabric, network: LocalNetwork) -> None:
    """gr queues a message for al, exports it, then gets a network route to al (its configuration no
    longer names al file-only): the network delivers it too. al stores it once, and both receipts
    close the one entry."""
    gr, al = fab.nodes[GR], fab.nodes[AL]
    mid = await submit(fab, GR, AL)
    carried = await gr.sealed.export(AL, actor="op")
    got = await al.sealed.import_file(carried.data, actor="op")
    assert got.accepted == 1
    await fab.close(GR)
    file_only(network, GR, [])
    gr = await fab.open(GR)
    await gr.delivery.start()
    assert await gr.delivery.wait_closed(mid) is DeliveryState.DELIVERED
    assert await al.store.inbox.count() == 1
    assert [e.message_id for _, e in await events(al, Kind.AUDIT_EVENT_KIND_DELIVERED)] == [mid]
    assert got.receipts_file is not None
    closed = await gr.sealed.import_file(got.receipts_file.data, actor="op")
    assert (closed.closed_delivered, closed.already_closed) == (0, 1)
    assert len(await events(gr, Kind.AUDIT_EVENT_KIND_RECEIPTED)) == 1


async def test_export_to_a_node_not_in_the_directory_or_itself_is_a_usage_error(fab: Fabric) -> None:
    gr = fab.nodes[GR]
    with pytest.raises(UsageError, match="'xx-nobody' is not a node of directory version"):
        await gr.sealed.export("xx-nobody", actor="op")
    with pytest.raises(UsageError, match="does not write sealed files to itself"):
        await gr.sealed.export(GR, actor="op")
    empty = await gr.sealed.export(AL, actor="op")
    assert empty == Exported(b"", b"", 0, 0, 0, 0, 0)
    assert await events(gr, Kind.AUDIT_EVENT_KIND_SEALED_EXPORTED) == []


async def test_a_file_of_many_messages_is_received_in_batches_and_all_receipted(
    fab: Fabric, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("focalpoint.node.sealed._RECEIVE_BATCH", 2)
    gr, al = fab.nodes[GR], fab.nodes[AL]
    sent = [await submit(fab, GR, AL, n) for n in range(1, 6)]
    out = await gr.sealed.export(AL, actor="op")
    assert out.envelopes == 5
    got = await al.sealed.import_file(out.data, actor="op")
    assert (got.accepted, got.refused) == (5, 0)
    assert got.receipts_file is not None
    closed = await gr.sealed.import_file(got.receipts_file.data, actor="op")
    assert closed.closed_delivered == 5
    for mid in sent:
        row = await gr.store.outbox.get(mid)
        assert row is not None
        assert row.state is DeliveryState.DELIVERED


async def test_a_late_receipt_by_file_settles_an_entry_that_expired_meanwhile(fab: Fabric) -> None:
    """The courier was slow on the way back: gr's entry expired unconfirmed (no one may ask a
    file-only partner about it), then the receipts file arrives and settles it as delivered."""
    gr, al = fab.nodes[GR], fab.nodes[AL]
    body = social_inquiry_request(case_ref_for(9), identified_at_ms=fab.clock())
    mid = (await gr.outbox.submit(AL, body, ttl_seconds=120)).message_id
    out = await gr.sealed.export(AL, actor="op")
    got = await al.sealed.import_file(out.data, actor="op")
    assert got.receipts_file is not None
    fab.clock.advance(121)
    assert await gr.delivery.expire() == [mid]
    await gr.reconciler.round()  # a file-only partner is not asked
    assert network_calls(fab, GR, AL) == []
    closed = await gr.sealed.import_file(got.receipts_file.data, actor="op")
    assert closed.closed_delivered == 1
    row = await gr.store.outbox.get(mid)
    assert row is not None
    assert row.state is DeliveryState.DELIVERED
