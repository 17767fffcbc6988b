"""The audit log inside running nodes: events with their rows, receipts naming log indices,
checkpoints, witnessing over mutual TLS, reads logged, and evidence that verifies offline."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
from collections.abc import Callable

import grpc
import pytest

from focalpoint.audit import events as audit_events
from focalpoint.audit.evidence import MAGIC, seal_evidence, verify_evidence
from focalpoint.audit.verify import find_damage
from focalpoint.client import LocalClient
from focalpoint.errors import DamagedData, PermissionDenied, UsageError, VerificationError
from focalpoint.localnet import LocalNetwork
from focalpoint.localnet.samples import case_ref_for, social_inquiry_report, social_inquiry_request
from focalpoint.node.ports import wall_clock_ms
from focalpoint.people.roles import Role
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState
from focalpoint.storage.sqlite import SqliteStore
from focalpoint.v1 import audit_pb2, envelope_pb2, local_pb2, local_pb2_grpc
from tests.support.people import people_of

Kind = audit_pb2.AuditEventKind


async def _events(node: Node, case_ref: str = "") -> list[tuple[int, audit_pb2.AuditEvent]]:
    rows = await node.store.audit.events(10_000, 0, case_ref)
    return [(i, audit_events.decode(leaf)) for i, leaf in reversed(rows)]


async def _exchange(gr: Node, al: Node, case_ref: str) -> tuple[bytes, bytes]:
    sent = await gr.outbox.submit("al-shss", social_inquiry_request(case_ref, identified_at_ms=wall_clock_ms()))
    assert await gr.delivery.wait_closed(sent.message_id) is DeliveryState.DELIVERED
    reply = await al.outbox.submit(
        "gr-ekka", social_inquiry_report(case_ref, completed_at_ms=wall_clock_ms()), in_reply_to=sent.message_id
    )
    assert await al.delivery.wait_closed(reply.message_id) is DeliveryState.DELIVERED
    return sent.message_id, reply.message_id


async def test_every_step_of_an_exchange_is_logged_and_receipts_name_the_event(nodes: dict[str, Node]) -> None:
    gr, al = nodes["gr-ekka"], nodes["al-shss"]
    request_id, _ = await _exchange(gr, al, case_ref_for(101))
    sender_side = {e.kind for _, e in await _events(gr, case_ref_for(101))}
    assert {Kind.AUDIT_EVENT_KIND_SENT, Kind.AUDIT_EVENT_KIND_RECEIPTED, Kind.AUDIT_EVENT_KIND_DELIVERED} <= sender_side
    delivered = [(i, e) for i, e in await _events(al, case_ref_for(101)) if e.kind == Kind.AUDIT_EVENT_KIND_DELIVERED]
    [(index, event)] = [(i, e) for i, e in delivered if e.message_id == request_id]
    assert event.peer_node == "gr-ekka"
    assert event.message_kind == "social_inquiry_request"
    out = await gr.store.outbox.get(request_id)
    assert out is not None
    assert out.receipt is not None
    receipt = envelope_pb2.ReceiptContent.FromString(envelope_pb2.Receipt.FromString(out.receipt).content)
    assert receipt.log_index == index
    [receipted] = [e for _, e in await _events(gr) if e.kind == Kind.AUDIT_EVENT_KIND_RECEIPTED]
    assert receipted.peer_log_index == index
    assert receipted.receipt_sha256 == hashlib.sha256(out.receipt).digest()
    # The receiver proves inclusion of that event to the sender over mutual TLS.
    await al.checkpoints.get()
    assert (await al.store.audit.read(find_damage)) is None


async def test_a_read_through_the_local_api_is_logged_before_content_leaves(
    nodes: dict[str, Node], network: LocalNetwork
) -> None:
    """A message no case link holds (an older exchange) is triage work: an operator reads it in the
    ROUTING view (no name, no content), and the READ event names the operator's account, the view
    and the purpose; a case officer of no unit it names is refused."""
    gr, al = nodes["gr-ekka"], nodes["al-shss"]
    request_id, _ = await _exchange(gr, al, case_ref_for(102))
    before = al.store.audit.size
    async with people_of(al) as people:
        operator = await people.operator()
        message = await operator.get_message(local_pb2.DIRECTION_INBOX, request_id)
        assert message.view == "ROUTING"
        assert message.body.WhichOneof("kind") == "social_inquiry_request"
        assert "Arta" not in str(message.body)
        assert not message.body.social_inquiry_request.child.given_names
        await operator.list_inbox()
        officer = await people.client("officer.17")
        with pytest.raises(PermissionDenied):
            await officer.get_message(local_pb2.DIRECTION_INBOX, request_id)
    reads = [e for i, e in await _events(al) if i >= before and e.kind == Kind.AUDIT_EVENT_KIND_READ]
    assert [(e.actor, e.case_ref, e.message_id, e.view, e.purpose) for e in reads] == [
        ("operator.1", case_ref_for(102), request_id, "ROUTING", "TRIAGE")
    ]


async def test_partners_witness_checkpoints_and_evidence_verifies_offline(
    nodes: dict[str, Node], network: LocalNetwork
) -> None:
    gr, al, it = nodes["gr-ekka"], nodes["al-shss"], nodes["it-dgi"]
    await _exchange(gr, al, case_ref_for(103))
    signed = await gr.checkpoints.get()
    assert audit_pb2.Checkpoint.FromString(signed.checkpoint).size == gr.store.audit.size
    outcomes = {o.peer: o.result for o in await al.witness.round()}
    assert outcomes["gr-ekka"] == "cosigned"
    assert {o.peer: o.result for o in await it.witness.round()}["gr-ekka"] == "cosigned"
    latest = await gr.checkpoints.get(create=False)
    witnesses = {audit_pb2.CosignedContent.FromString(c.content).witness_node for c in latest.cosignatures}
    assert witnesses == {"al-shss", "it-dgi"}
    # gr witnesses al's log too, so its export can carry al's own proof of the delivery.
    await al.checkpoints.get()
    assert {o.peer: o.result for o in await gr.witness.round()}["al-shss"] == "cosigned"

    async with people_of(gr) as people:
        auditor = await people.client("auditor.1", (Role.AUDITOR,))
        with pytest.raises(UsageError, match="written request"):
            await auditor.export_case(case_ref_for(103))
        exported = await auditor.export_case(case_ref_for(103), written_request="rapporteur letter 2026/44")
    report = verify_evidence(exported.evidence, trusted_root=network.trusted_root_path.read_bytes())
    assert report.node == "gr-ekka"
    assert report.case_ref == case_ref_for(103)
    assert report.messages == 2
    assert report.receipted == 2
    assert report.witnesses == ["al-shss", "it-dgi"]
    assert report.receiver_logged == 1  # the request gr sent is in al's signed log
    kinds = {
        audit_events.decode(e.leaf).kind
        for e in audit_pb2.EvidenceBundle.FromString(
            audit_pb2.EvidenceFile.FromString(exported.evidence[8:]).bundle
        ).events
    }
    assert Kind.AUDIT_EVENT_KIND_EXPORTED in kinds
    [export] = [e for _, e in await _events(gr, case_ref_for(103)) if e.kind == Kind.AUDIT_EVENT_KIND_EXPORTED]
    assert (export.actor, export.status) == ("auditor.1", "written request rapporteur letter 2026/44")

    # Any changed byte fails verification (a spread of positions across every section).
    data = exported.evidence
    step = max(1, len(data) // 150)
    for position in [*range(0, 64), *range(64, len(data), step), len(data) - 1]:
        tampered = bytearray(data)
        tampered[position] ^= 0x01
        with pytest.raises(VerificationError):
            verify_evidence(bytes(tampered), trusted_root=network.trusted_root_path.read_bytes())
    with pytest.raises(VerificationError):
        verify_evidence(data + b"\x00", trusted_root=network.trusted_root_path.read_bytes())
    with pytest.raises(VerificationError):
        verify_evidence(data[:-1], trusted_root=network.trusted_root_path.read_bytes())


async def test_an_exporter_cannot_fake_the_receivers_log(nodes: dict[str, Node], network: LocalNetwork) -> None:
    """Even re-signed by the exporting node, a bundle whose receiver-log proof was altered fails E7."""
    gr, al = nodes["gr-ekka"], nodes["al-shss"]
    await _exchange(gr, al, case_ref_for(104))
    await al.checkpoints.get()
    await gr.witness.check_all(["al-shss"])
    data, _, _ = await gr.exporter.export_case(case_ref_for(104), "auditor.2")
    root = network.trusted_root_path.read_bytes()
    assert verify_evidence(data, trusted_root=root).receiver_logged == 1
    assert gr.keyring.log_signer is not None

    def resigned(change: Callable[[audit_pb2.PeerInclusion], None]) -> bytes:
        bundle = audit_pb2.EvidenceBundle.FromString(audit_pb2.EvidenceFile.FromString(data[len(MAGIC) :]).bundle)
        [outgoing] = [m for m in bundle.messages if m.outgoing]
        change(outgoing.receiver_log)
        assert gr.keyring.log_signer is not None
        return seal_evidence(bundle, gr.keyring.log_signer)

    def other_leaf(proof: audit_pb2.PeerInclusion) -> None:
        event = audit_events.decode(proof.leaf)
        event.envelope_sha256 = bytes(32)
        proof.leaf = event.SerializeToString()

    def other_index(proof: audit_pb2.PeerInclusion) -> None:
        proof.index += 1

    def unsigned_checkpoint(proof: audit_pb2.PeerInclusion) -> None:
        del proof.checkpoint.signatures[:]

    for change in (other_leaf, other_index, unsigned_checkpoint):
        with pytest.raises(VerificationError, match="E7"):
            verify_evidence(resigned(change), trusted_root=root)


async def test_verify_audit_of_a_busy_node_never_reports_damage_that_is_not_there(nodes: dict[str, Node]) -> None:
    """At least 50 VerifyAudit calls over the local API while the node keeps sending (SENT, RECEIPTED and
    DELIVERED events commit all along): every answer is intact, and the log grew meanwhile."""
    gr, al = nodes["gr-ekka"], nodes["al-shss"]
    stop = asyncio.Event()

    async def traffic() -> int:
        sent = 0
        while not stop.is_set() and sent < 2_000:  # bounded in count; stops with the checks
            body = social_inquiry_request(case_ref_for(sent), identified_at_ms=wall_clock_ms())
            await gr.outbox.submit("al-shss", body)
            await al.store.audit.record([b"a read on the other node"])  # and another node's log grows too
            sent += 1
        return sent

    task = asyncio.create_task(traffic())
    sizes = []
    try:
        async with LocalClient(f"127.0.0.1:{gr.local_port}", gr.keyring.keys.local_api_token) as client:
            # At least 50 checks, and on until the log has grown under them (bounded: 500 checks).
            for i in range(500):
                answer = await client.verify_audit()
                assert (answer.ok, answer.reason) == (True, ""), answer.first_bad_index
                sizes.append(answer.size)
                if i >= 49 and sizes[-1] > sizes[0]:
                    break
    finally:
        stop.set()
        sent = await task
    assert sent > 0
    assert sizes[-1] > sizes[0]


async def test_verify_audit_of_a_damaged_database_answers_plainly_never_unknown(nodes: dict[str, Node]) -> None:
    """A running node whose database was edited under it: a planted subtree is reported (ok false, at the
    log's end, saying what was found); with the subtrees' table dropped, DATA_LOSS naming the table."""
    gr = nodes["gr-ekka"]
    await _exchange(gr, nodes["al-shss"], case_ref_for(105))
    assert isinstance(gr.store, SqliteStore)
    db = gr.store.path
    token = gr.keyring.keys.local_api_token
    async with LocalClient(f"127.0.0.1:{gr.local_port}", token) as client:
        assert (await client.verify_audit()).ok
        with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn, conn:
            conn.execute("INSERT INTO audit_nodes (level, idx, hash) VALUES (3, 1000000, zeroblob(32))")
        planted = await client.verify_audit()
        assert (planted.ok, planted.first_bad_index) == (False, planted.size)
        assert "a subtree (3, 1000000) is stored that no leaf of the log's" in planted.reason
        with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn, conn:
            conn.execute("DROP TABLE audit_nodes")
        with pytest.raises(DamagedData, match=r"DATA_LOSS: .*no such table: audit_nodes"):
            await client.verify_audit()
    metadata = (("authorization", f"Bearer {token}"),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gr.local_port}") as channel:
        stub = local_pb2_grpc.LocalServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.VerifyAudit(local_pb2.VerifyAuditRequest(), metadata=metadata)
    assert refused.value.code() is grpc.StatusCode.DATA_LOSS
    assert "Traceback" not in (refused.value.details() or "")
