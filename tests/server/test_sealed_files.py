"""Sealed files between two real nodes with no network route between them (docs/operations.md
"Sealed files (courier transport)"): a case worked from notification to the social inquiry's
report with every message carried by a file an operator exports and the partner's operator
imports, receipts coming back the same way; at the end both States show the same stage and the
same messages, nothing is left queued, and both audit logs verify. Then a message carried both
ways (file and network) is applied once, and the local API refuses the transfer calls to anyone
but an operator."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from focalpoint.errors import PermissionDenied, UsageError
from focalpoint.localnet import LocalNetwork
from focalpoint.metrics import DELIVERY_ATTEMPTS
from focalpoint.server.metrics import scrape
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState
from focalpoint.v1 import audit_pb2
from tests.conftest import StartNode
from tests.support.scenario import AL, GR, IT, Officials, identified, ref_to

Kind = audit_pb2.AuditEventKind


def file_only(network: LocalNetwork, node_id: str, partners: list[str]) -> None:
    path = network.nodes[node_id].config_path
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["sealed_files"] = {"file_only": partners}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


class Couriers(Officials):
    """Officials whose nodes reach each other only by sealed files: each message sent is carried by
    the operators (export at the sender, import at the recipient, the receipts file back)."""

    carried = 0

    async def carry(self, sender: str, recipient: str) -> int:
        """One trip: everything ``sender`` has for ``recipient``, and the receipts back; how many
        messages the file held."""
        out = await (await self.people(sender).operator()).export_sealed(recipient)
        if not out.file:
            return 0
        got = await (await self.people(recipient).operator()).import_sealed(out.file)
        assert got.refused == 0, f"{recipient} refused messages from {sender}"
        if got.receipts_file:
            back = await (await self.people(sender).operator()).import_sealed(got.receipts_file)
            assert back.closed_delivered + back.already_closed == back.receipts
        self.carried += out.envelopes
        return out.envelopes

    async def outbox_size_queued(self, node_id: str) -> int:
        rows = await self.nodes[node_id].store.outbox.page(-1, 0)
        return sum(1 for r in rows if getattr(r, "state", None) is DeliveryState.QUEUED)

    async def audit_all(self, node_id: str) -> list[audit_pb2.AuditEvent]:
        listed = await (await self.people(node_id).operator()).list_audit(limit=1000)
        return [audit_pb2.AuditEvent.FromString(e.leaf) for e in listed.entries]

    async def delivered(self, node_id: str, message_id: bytes) -> None:
        row = await self.nodes[node_id].store.outbox.get(message_id)
        assert row is not None
        await self.carry(node_id, row.recipient)
        await super().delivered(node_id, message_id)


# What an import may change (the case work the node does afterwards on its own aside).
EXCHANGE = (Kind.AUDIT_EVENT_KIND_DELIVERED, Kind.AUDIT_EVENT_KIND_REFUSED, Kind.AUDIT_EVENT_KIND_SEALED_IMPORTED)


async def exchange_state(node: Node) -> tuple[int, list[int]]:
    """The inbox's size and the exchange events of the log, by kind."""
    n = node.store.audit.size
    leaves = await node.store.audit.read(lambda v: [v.leaf(i) for i in range(n)])
    kinds = [audit_pb2.AuditEvent.FromString(leaf).kind for leaf in leaves]
    return await node.store.inbox.count(), [kinds.count(k) for k in EXCHANGE]


@pytest.fixture
async def couriers(network: LocalNetwork, start_node: StartNode) -> AsyncIterator[Couriers]:
    file_only(network, GR, [AL])
    file_only(network, AL, [GR])
    nodes = {n: await start_node(n) for n in (GR, AL)}
    async with contextlib.AsyncExitStack() as stack:
        yield Couriers(nodes, stack)


async def test_a_case_worked_by_sealed_files_only_converges(couriers: Couriers) -> None:
    o = couriers
    # Counters live for the process (other tests' nodes had these ids too): compare with the start.
    attempts = (DELIVERY_ATTEMPTS.of(GR).get((AL,), 0), DELIVERY_ATTEMPTS.of(AL).get((GR,), 0))
    ref, at = await o.open()
    notification = await o.send(GR, AL, ref, "case_notification", identified(at))
    await o.send(AL, GR, ref, "acknowledgement", ref_to("acknowledgement.acknowledges", notification))
    iv = await o.send(GR, AL, ref, "identity_verification_request")
    await o.send(AL, GR, ref, "identity_verification_reply", answers=iv)
    si = await o.send(GR, AL, ref, "social_inquiry_request")
    await o.send(AL, GR, ref, "social_inquiry_report", answers=si)
    # Whatever either node queued by itself goes on the next trips.
    for _ in range(3):
        await o.carry(GR, AL)
        await o.carry(AL, GR)
    assert o.carried >= 6
    assert len(await o.received(GR, ref, "social_inquiry_report")) == 1
    stage = await o.converged(ref, witness=False)  # witnessing needs a live answer: not by file
    assert stage
    for node_id in (GR, AL):
        assert await o.outbox_size_queued(node_id) == 0
        events = await o.audit_all(node_id)
        kinds = {e.kind for e in events}
        assert Kind.AUDIT_EVENT_KIND_SEALED_EXPORTED in kinds
        assert Kind.AUDIT_EVENT_KIND_SEALED_IMPORTED in kinds
    # No network attempt either way, and no ping: no "unreachable" alarm for a file-only partner.
    assert (DELIVERY_ATTEMPTS.of(GR).get((AL,), 0), DELIVERY_ATTEMPTS.of(AL).get((GR,), 0)) == attempts
    assert AL not in o.nodes[GR].reachability.status


async def test_refusals_over_the_local_api_and_the_operator_only_rule(couriers: Couriers) -> None:
    o = couriers
    ref, at = await o.open()
    sent = await o.prepare(GR, AL, ref, "case_notification", identified(at))
    operator_gr, operator_al = await o.people(GR).operator(), await o.people(AL).operator()
    out = await operator_gr.export_sealed(AL)
    assert out.envelopes == 1
    with pytest.raises(PermissionDenied):
        await (await o.api(GR)).export_sealed(AL)  # a case officer may not
    with pytest.raises(PermissionDenied):
        await (await o.api(AL)).import_sealed(out.file)
    al = o.nodes[AL]
    before = await exchange_state(al)
    cut = out.file[: len(out.file) - 10]
    with pytest.raises(UsageError, match=r"sealed file refused: .*(truncated|altered)"):
        await operator_al.import_sealed(cut)
    with pytest.raises(UsageError, match="sealed file refused: it is not addressed to this node"):
        await operator_gr.import_sealed(out.file)  # gr's own file, back at gr
    with pytest.raises(UsageError, match="the file is empty"):
        await operator_al.import_sealed(b"")
    assert await exchange_state(al) == before  # refused: nothing changed
    got = await operator_al.import_sealed(out.file)
    assert got.accepted == 1
    after = await exchange_state(al)
    assert after != before
    with pytest.raises(UsageError, match="already imported on"):
        await operator_al.import_sealed(out.file)
    assert await exchange_state(al) == after
    back = await operator_gr.import_sealed(got.receipts_file)
    assert back.closed_delivered == 1
    row = await o.nodes[GR].store.outbox.get(sent.message_id)
    assert row is not None
    assert row.state is DeliveryState.DELIVERED


@pytest.fixture
async def mixed(network: LocalNetwork, start_node: StartNode) -> AsyncIterator[Officials]:
    """gr treats al as file-only; al reaches gr by the network (it has a route gr lacks)."""
    file_only(network, GR, [AL])
    nodes = {n: await start_node(n) for n in (GR, AL, IT)}
    async with contextlib.AsyncExitStack() as stack:
        yield Officials(nodes, stack)


async def test_a_message_carried_by_file_and_by_network_is_applied_once(mixed: Officials) -> None:
    o = mixed
    ref, at = await o.open()
    sent = await o.prepare(GR, AL, ref, "case_notification", identified(at))
    gr = o.nodes[GR]
    out = await (await o.people(GR).operator()).export_sealed(AL)
    first = await (await o.people(AL).operator()).import_sealed(out.file)
    second_file = await (await o.people(GR).operator()).export_sealed(AL)  # the same message again
    second = await (await o.people(AL).operator()).import_sealed(second_file.file)
    assert (first.accepted, second.accepted, second.duplicates) == (1, 0, 1)
    # al answers by the network; gr's receipt comes back by file.
    ack = await o.prepare(AL, GR, ref, "acknowledgement", ref_to("acknowledgement.acknowledges", sent.message_id))
    await o.delivered(AL, ack.message_id)
    await (await o.people(GR).operator()).import_sealed(second.receipts_file)
    assert await asyncio.wait_for(gr.delivery.wait_closed(sent.message_id), 5) is DeliveryState.DELIVERED
    delivered = [
        e
        for e in await o.audit(AL, ref)
        if e.kind == Kind.AUDIT_EVENT_KIND_DELIVERED and e.message_id == sent.message_id
    ]
    assert len(delivered) == 1
    assert len(await o.received(AL, ref, "case_notification")) == 1
    assert await o.converged(ref, witness=False)


async def test_metrics_mark_a_file_only_partner_and_raise_no_reachability_alarm(couriers: Couriers) -> None:
    o = couriers
    ref, at = await o.open()
    await o.prepare(GR, AL, ref, "case_notification", identified(at))
    gr = o.nodes[GR]
    await gr.reachability.round()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families((await scrape(gr)).decode())
        for s in family.samples
    }
    assert samples[("focalpoint_partner_file_only", (("peer", AL),))] == 1.0
    assert samples[("focalpoint_outbox_queued", (("peer", AL),))] == 1.0  # waiting for the courier
    assert ("focalpoint_partner_reachable", (("peer", AL),)) not in samples
