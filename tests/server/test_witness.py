"""Witnessing over real mutual TLS: partners cosign consistent checkpoints, and a log that
is rewritten, truncated or forked (one history shown to one partner, another to a second)
is caught, with both signed checkpoints kept as self-contained evidence."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path
from unittest.mock import patch

import grpc
import pytest

from focalpoint.audit import events as audit_events
from focalpoint.audit.checkpoint import contradiction, cosign, verify_checkpoint
from focalpoint.audit.verify import find_damage
from focalpoint.crypto.signing import AdminSigner
from focalpoint.localnet import LocalNetwork
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState
from focalpoint.v1 import audit_pb2, node_pb2_grpc
from tests.conftest import StartNode
from tests.support.adversary import peer_channel


async def _open(network: LocalNetwork, node_id: str, *, rewriter: bool = False) -> Node:
    """Open and start a node; a ``rewriter`` is a node whose operator rewrites its history and runs
    it without the start-up check that asks partners what they cosigned (which would refuse it):
    these tests show what the partners' witnesses catch on their own."""
    with contextlib.ExitStack() as stack:
        if rewriter:
            stack.enter_context(patch.object(Node, "_check_log_against_partners", _skip_check))
        node = await Node.open(load_config(network.nodes[node_id].config_path))
    await node.start()
    return node


async def _skip_check(self: Node, timeout_s: float = 5.0) -> None:
    return None


def _db(network: LocalNetwork, node_id: str) -> Path:
    return load_config(network.nodes[node_id].config_path).database


def _remove(path: Path) -> None:
    path.unlink()


def _copy_db(src: Path, dst: Path) -> None:
    """Swap a node's database (and its high-water mark: an operator rewriting history controls
    every file of the node, so the node's own start-up check cannot stop this; witnesses must)."""
    with sqlite3.connect(src) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for suffix in ("", "-wal", "-shm", ".hwm"):
        Path(str(dst) + suffix).unlink(missing_ok=True)
    shutil.copy2(src, dst)
    if Path(str(src) + ".hwm").exists():
        shutil.copy2(Path(str(src) + ".hwm"), Path(str(dst) + ".hwm"))


async def _send(node: Node, to: str, case_ref: str) -> None:
    sent = await node.outbox.submit(to, social_inquiry_request(case_ref, identified_at_ms=wall_clock_ms()))
    assert await node.delivery.wait_closed(sent.message_id) is DeliveryState.DELIVERED


async def _events(node: Node, kind: audit_pb2.AuditEventKind.ValueType) -> list[audit_pb2.AuditEvent]:
    return [e for _, leaf in await node.store.audit.events(1000, 0) if (e := audit_events.decode(leaf)).kind == kind]


def _check_evidence(raw: bytes, directory: object) -> audit_pb2.ConflictEvidence:
    """The kept evidence convinces on its own: both checkpoints carry the log's valid signature."""
    evidence = audit_pb2.ConflictEvidence.FromString(raw)
    a = verify_checkpoint(evidence.earlier, directory, log_node=evidence.log_node)  # type: ignore[arg-type]
    b = verify_checkpoint(evidence.later, directory, log_node=evidence.log_node)  # type: ignore[arg-type]
    assert a.raw != b.raw
    assert contradiction(a, b, list(evidence.offered_proof) or None) is not None
    return evidence


async def test_partners_cosign_a_growing_log_and_the_cosignatures_come_back(
    network: LocalNetwork, start_node: StartNode
) -> None:
    gr, al = await start_node("gr-ekka"), await start_node("al-shss")
    await _send(gr, "al-shss", case_ref_for(201))
    await gr.checkpoints.get()
    assert [o.result for o in await al.witness.round() if o.peer == "gr-ekka"] == ["cosigned"]
    # The log grows: the witness checks consistency from the size it cosigned, then cosigns again.
    await _send(gr, "al-shss", case_ref_for(202))
    grown = audit_pb2.Checkpoint.FromString((await gr.checkpoints.get()).checkpoint).size
    assert [(o.result, o.size) for o in await al.witness.round() if o.peer == "gr-ekka"] == [("cosigned", grown)]
    assert [o.result for o in await al.witness.round() if o.peer == "gr-ekka"] == ["unchanged"]
    latest = await gr.checkpoints.get(create=False)
    assert [audit_pb2.CosignedContent.FromString(c.content).witness_node for c in latest.cosignatures] == ["al-shss"]
    cosigned = await _events(al, audit_pb2.AUDIT_EVENT_KIND_COSIGNED)
    assert next(e.checkpoint_size for e in cosigned if e.peer_node == "gr-ekka") == grown  # newest first
    assert not await al.store.audit.alarms()


async def test_a_fork_shown_to_two_partners_is_caught_by_gossip(network: LocalNetwork, start_node: StartNode) -> None:
    """gr's operator keeps two databases: history A shown to al, history B to it. Each history is
    consistent on its own; comparing what the other partner cosigned exposes the fork."""
    al, it = await start_node("al-shss"), await start_node("it-dgi")
    gr = await _open(network, "gr-ekka")
    db = _db(network, "gr-ekka")
    fork_b = db.with_name("fork-b.sqlite")
    try:
        await _send(gr, "al-shss", case_ref_for(203))
        await gr.stop(0)
        _copy_db(db, fork_b)
        # History A: two more events, then a checkpoint; al cosigns it.
        gr = await _open(network, "gr-ekka")
        now = wall_clock_ms()
        await gr.store.audit.record(
            [audit_events.status_changed(at_ms=now, actor="a", case_ref="X-1", status="open")] * 2
        )
        size_a = audit_pb2.Checkpoint.FromString((await gr.checkpoints.get()).checkpoint).size
        assert [o.result for o in await al.witness.check_all(["gr-ekka"])] == ["cosigned"]
        await gr.stop(0)
        # History B, shown to it: the same number of different events. it has never seen gr's log,
        # so gr alone looks consistent to it; what al cosigned for the same size does not.
        _copy_db(fork_b, db)
        gr = await _open(network, "gr-ekka", rewriter=True)
        await gr.store.audit.record(
            [audit_events.status_changed(at_ms=now, actor="b", case_ref="X-1", status="shut")] * 2
        )
        assert audit_pb2.Checkpoint.FromString((await gr.checkpoints.get()).checkpoint).size == size_a
        [outcome] = await it.witness.check_all(["gr-ekka"])
        assert outcome.result == "alarm"
        assert "two roots" in outcome.detail
        assert "al-shss" in outcome.detail
        [raw] = await it.store.audit.alarms()
        evidence = _check_evidence(raw, it.cache.current)
        assert evidence.log_node == "gr-ekka"
        assert evidence.detected_by == "it-dgi"
        assert await _events(it, audit_pb2.AUDIT_EVENT_KIND_WITNESS_ALARM)
        assert await it.store.audit.witnessed("gr-ekka") is None  # nothing was cosigned
        # Asked again, it reports the same fork without storing it twice.
        assert [o.result for o in await it.witness.check_all(["gr-ekka"])] == ["alarm"]
        assert len(await it.store.audit.alarms()) == 1
        # al, back on history B's direct view, catches the rewrite of what it cosigned.
        [seen_by_al] = await al.witness.check_all(["gr-ekka"])
        assert seen_by_al.result == "alarm"
    finally:
        await gr.stop(0)


async def test_a_rewritten_history_is_caught_by_the_witness_that_cosigned_it(
    network: LocalNetwork, start_node: StartNode
) -> None:
    al = await start_node("al-shss")
    gr = await _open(network, "gr-ekka")
    db = _db(network, "gr-ekka")
    try:
        await _send(gr, "al-shss", case_ref_for(204))
        cut = gr.store.audit.size
        await gr.store.audit.record(
            [audit_events.status_changed(at_ms=1, actor="a", case_ref="X-2", status="open")] * 3
        )
        await gr.checkpoints.get()
        assert [o.result for o in await al.witness.check_all(["gr-ekka"])] == ["cosigned"]
        await gr.stop(0)
        # The operator truncates the log and its checkpoints, then writes a different, longer history.
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM audit_leaves WHERE idx >= ?", (cut,))
            conn.execute("DELETE FROM audit_nodes WHERE (idx + 1) * (1 << level) > ?", (cut,))
            conn.execute("DELETE FROM audit_checkpoints")
            conn.execute("DELETE FROM audit_cases WHERE idx >= ?", (cut,))
        _remove(Path(str(db) + ".hwm"))  # and, controlling every file, the node's high-water mark
        gr = await _open(network, "gr-ekka", rewriter=True)
        event = audit_events.status_changed(at_ms=2, actor="z", case_ref="X-2", status="x")
        await gr.store.audit.record([event] * 5)
        assert (await gr.store.audit.read(find_damage)) is None  # the rewrite is self-consistent
        await gr.checkpoints.get()
        [outcome] = await al.witness.check_all(["gr-ekka"])
        assert outcome.result == "alarm"
        assert "not an extension" in outcome.detail or "no consistency proof" in outcome.detail
        [raw] = await al.store.audit.alarms()
        _check_evidence(raw, al.cache.current)
    finally:
        await gr.stop(0)


async def test_audit_calls_are_for_partners_and_check_what_they_are_given(nodes: dict[str, Node]) -> None:
    gr, al, it = nodes["gr-ekka"], nodes["al-shss"], nodes["it-dgi"]
    await _send(gr, "al-shss", case_ref_for(205))
    signed = await gr.checkpoints.get()
    size = audit_pb2.Checkpoint.FromString(signed.checkpoint).size
    channel = peer_channel(al.keyring.keys.tls, gr)
    stub = node_pb2_grpc.NodeServiceStub(channel)
    try:
        # Proofs outside the log are refused with the sizes named.
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stub.GetConsistencyProof(audit_pb2.ConsistencyProofRequest(old_size=1, new_size=size + 5))
        assert e.value.code() is grpc.StatusCode.OUT_OF_RANGE
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stub.GetInclusionProof(audit_pb2.InclusionProofRequest(index=size, tree_size=size))
        assert e.value.code() is grpc.StatusCode.OUT_OF_RANGE
        # An event about al comes with its leaf; one about nobody in particular only with its path.
        events = [(i, audit_events.decode(leaf)) for i, leaf in await gr.store.audit.events(1000, 0)]
        mine = next(i for i, ev in events if ev.peer_node == "al-shss" and i < size)
        other = next(i for i, ev in events if ev.peer_node != "al-shss" and i < size)
        assert (await stub.GetInclusionProof(audit_pb2.InclusionProofRequest(index=mine, tree_size=size))).leaf
        assert not (await stub.GetInclusionProof(audit_pb2.InclusionProofRequest(index=other, tree_size=size))).leaf
        # A cosignature must be the caller's own, over a checkpoint this node really signed.
        assert al.keyring.log_signer is not None
        assert it.keyring.log_signer is not None
        forged = cosign(it.keyring.log_signer, witness="it-dgi", checkpoint=signed.checkpoint, at_ms=wall_clock_ms())
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stub.Cosign(forged)
        assert e.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        other_checkpoint = audit_pb2.Checkpoint(log_node="gr-ekka", size=size, root_hash=b"\x01" * 32)
        bogus = cosign(
            al.keyring.log_signer,
            witness="al-shss",
            checkpoint=other_checkpoint.SerializeToString(),
            at_ms=wall_clock_ms(),
        )
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stub.Cosign(bogus)
        assert e.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        stranger = AdminSigner.generate()
        unsigned = cosign(stranger, witness="al-shss", checkpoint=signed.checkpoint, at_ms=wall_clock_ms())
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stub.Cosign(unsigned)
        assert e.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert not (await gr.checkpoints.get(create=False)).cosignatures
        genuine = cosign(al.keyring.log_signer, witness="al-shss", checkpoint=signed.checkpoint, at_ms=wall_clock_ms())
        await stub.Cosign(genuine)
        assert len((await gr.checkpoints.get(create=False)).cosignatures) == 1
    finally:
        await channel.close(None)
