"""A node whose database was restored from a backup declares it (``node.restore``), and its
partners, witnessing its log, record a declared restore instead of a fork alarm — while a
declaration never excuses a log that contradicts what it declares, an epoch that goes back, or a
history shown differently to two partners.

Declarations and checkpoints are forged with gr-ekka's own log key and shown through
``ShowingDoor``; the last tests go through ``Node.open`` on a database marked as restored."""

from __future__ import annotations

import copy
import json

import pytest

from focalpoint.audit import events as audit_events
from focalpoint.audit.checkpoint import make_checkpoint, make_restore_declaration
from focalpoint.crypto.signing import AdminSigner
from focalpoint.errors import StorageError
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.node.restore import SEQUENCE_SHIFT
from focalpoint.server.node import Node
from focalpoint.storage.base import RESTORE_PENDING
from focalpoint.storage.memory import MemoryStore
from focalpoint.v1 import audit_pb2
from tests.node.conftest import Fabric, events
from tests.node.test_witness import ShowingDoor

GR, AL, IT = "gr-ekka", "al-shss", "it-dgi"
Kind = audit_pb2.AuditEventKind


async def _grow(node: Node, n: int, at_ms: int) -> None:
    event = audit_events.status_changed(at_ms=at_ms, actor="t", case_ref=case_ref_for(700), status="open")
    await node.store.audit.record([event] * n)


async def _root(node: Node, size: int) -> bytes:
    return await node.store.audit.read(lambda view: view.root(size))


def _log_signer(fabric: Fabric, node_id: str = GR) -> AdminSigner:
    signer = fabric.nodes[node_id].keyring.log_signer
    assert signer is not None
    return signer


async def _cosigned_by_al(fabric: Fabric, n: int) -> int:
    """gr's log grows by ``n`` events, gr signs, al cosigns; the size al cosigned."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    await _grow(gr, n, fabric.clock())
    await gr.checkpoints.get()
    [outcome] = await al.witness.check_all([GR])
    assert outcome.result == "cosigned"
    return outcome.size


async def _restored_epoch(
    fabric: Fabric,
    *,
    restored: int,
    epoch: int = 1,
    root: bytes | None = None,
    signer: AdminSigner | None = None,
    declared: bool = True,
) -> audit_pb2.SignedCheckpoint:
    """A checkpoint of gr's whole log as it is, in ``epoch``, carrying a declaration that the log
    was restored to its first ``restored`` events (with gr's real root there unless ``root``);
    gr stores it as its own."""
    gr = fabric.nodes[GR]
    size = gr.store.audit.size
    declaration = make_restore_declaration(
        signer or _log_signer(fabric),
        audit_pb2.RestoreDeclaration(
            log_node=GR,
            epoch=epoch,
            restored_size=restored,
            restored_root=root or await _root(gr, restored),
            lost_known_size=0,
            declared_at_ms=fabric.clock(),
            sequence_floor=epoch << SEQUENCE_SHIFT,
        ),
    )
    signed = make_checkpoint(
        _log_signer(fabric),
        log_node=GR,
        size=size,
        root=await _root(gr, size),
        issued_at_ms=fabric.clock(),
        epoch=epoch,
        restore=declaration,
    )
    if not declared:
        signed.ClearField("restore")
    # gr keeps what it signed, as it would (so it accepts cosignatures of it).
    await gr.store.audit.add_checkpoint(size, signed.SerializeToString(), fabric.clock())
    return signed


async def test_a_declared_restore_is_recorded_with_what_was_lost_and_the_new_epoch_is_cosigned(
    fabric: Fabric,
) -> None:
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    cosigned = await _cosigned_by_al(fabric, 10)
    await _grow(gr, 3, fabric.clock())
    shown = await _restored_epoch(fabric, restored=4)
    fabric.network.attach(GR, ShowingDoor(gr.peer_api, {AL: shown}))
    [outcome] = await al.witness.check_all([GR])
    assert (outcome.result, outcome.size) == ("cosigned", gr.store.audit.size)
    assert await al.store.audit.alarms() == []
    [raw] = await al.store.audit.restores()
    evidence = audit_pb2.RestoreEvidence.FromString(raw)
    assert audit_pb2.Checkpoint.FromString(evidence.last_cosigned.checkpoint).size == cosigned
    assert evidence.declaration == shown.restore
    assert evidence.first_seen.checkpoint == shown.checkpoint
    [(_, event)] = await events(al, Kind.AUDIT_EVENT_KIND_PEER_RESTORED)
    assert (event.peer_node, event.log_epoch, event.lost_from, event.lost_to) == (GR, 1, 4, cosigned)
    kept = await al.store.audit.witnessed(GR)
    assert kept is not None
    assert audit_pb2.SignedCheckpoint.FromString(kept).restore == shown.restore  # gossip answers carry it
    [again] = await al.witness.check_all([GR])
    assert again.result == "unchanged"
    assert len(await al.store.audit.restores()) == 1


async def test_a_restore_that_kept_all_a_witness_cosigned_loses_nothing_there(fabric: Fabric) -> None:
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    cosigned = await _cosigned_by_al(fabric, 5)
    await _grow(gr, 4, fabric.clock())
    fabric.network.attach(GR, ShowingDoor(gr.peer_api, {AL: await _restored_epoch(fabric, restored=cosigned + 2)}))
    [outcome] = await al.witness.check_all([GR])
    assert outcome.result == "cosigned"
    [(_, event)] = await events(al, Kind.AUDIT_EVENT_KIND_PEER_RESTORED)
    assert event.lost_from == event.lost_to == cosigned + 2


@pytest.mark.parametrize("case", ["no declaration", "declared with another node's key"])
async def test_a_new_epoch_without_a_valid_declaration_is_not_cosigned(fabric: Fabric, case: str) -> None:
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    cosigned = await _cosigned_by_al(fabric, 6)
    await _grow(gr, 2, fabric.clock())
    if case == "no declaration":
        shown = await _restored_epoch(fabric, restored=3, declared=False)
    else:
        shown = await _restored_epoch(fabric, restored=3, signer=_log_signer(fabric, AL))
    fabric.network.attach(GR, ShowingDoor(gr.peer_api, {AL: shown}))
    [outcome] = await al.witness.check_all([GR])
    assert outcome.result == "skipped"
    assert ("carries no restore declaration" if case == "no declaration" else "not signed by a log key") in (
        outcome.detail
    )
    kept = await al.store.audit.witnessed(GR)
    assert kept is not None
    assert audit_pb2.Checkpoint.FromString(audit_pb2.SignedCheckpoint.FromString(kept).checkpoint).size == cosigned
    assert await al.store.audit.restores() == []


async def test_a_new_epoch_that_does_not_extend_the_log_it_declares_is_an_alarm(fabric: Fabric) -> None:
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    await _cosigned_by_al(fabric, 6)
    await _grow(gr, 2, fabric.clock())
    shown = await _restored_epoch(fabric, restored=3, root=b"\x07" * 32)
    fabric.network.attach(GR, ShowingDoor(gr.peer_api, {AL: shown}))
    [outcome] = await al.witness.check_all([GR])
    assert outcome.result == "alarm"
    assert "not an extension of size 3" in outcome.detail
    assert await al.store.audit.restores() == []


async def test_a_declaration_cannot_excuse_rewriting_what_the_restored_log_still_holds(fabric: Fabric) -> None:
    """al cosigned a root for size 5 that gr's real log does not have; a restore "to" size 8 must
    still contain what al cosigned at 5: it does not, so it is an alarm, not a declared restore."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    await _grow(gr, 8, fabric.clock())
    forged = make_checkpoint(_log_signer(fabric), log_node=GR, size=5, root=b"\x05" * 32, issued_at_ms=fabric.clock())
    await gr.store.audit.add_checkpoint(5, forged.SerializeToString(), fabric.clock())
    fabric.network.attach(GR, ShowingDoor(gr.peer_api, {AL: forged}))
    assert [o.result for o in await al.witness.check_all([GR])] == ["cosigned"]
    await _grow(gr, 2, fabric.clock())
    fabric.network.attach(GR, ShowingDoor(gr.peer_api, {AL: await _restored_epoch(fabric, restored=8)}))
    [outcome] = await al.witness.check_all([GR])
    assert outcome.result == "alarm"
    assert await al.store.audit.restores() == []


async def test_an_epoch_going_back_is_an_alarm(fabric: Fabric) -> None:
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    await _cosigned_by_al(fabric, 4)
    await _grow(gr, 2, fabric.clock())
    door = ShowingDoor(gr.peer_api, {AL: await _restored_epoch(fabric, restored=2)})
    fabric.network.attach(GR, door)
    assert [o.result for o in await al.witness.check_all([GR])] == ["cosigned"]
    await _grow(gr, 2, fabric.clock())
    await gr.checkpoints.get()  # gr itself still signs in epoch 0
    door.shown = {}
    [outcome] = await al.witness.check_all([GR])
    assert outcome.result == "alarm"
    assert "went back from epoch 1 to epoch 0" in outcome.detail


async def test_gossip_catches_an_old_epoch_shown_to_one_partner_after_another_was_shown_the_new(
    fabric: Fabric,
) -> None:
    gr, al, it = fabric.nodes[GR], fabric.nodes[AL], fabric.nodes[IT]
    await _grow(gr, 4, fabric.clock())
    fabric.network.attach(GR, ShowingDoor(gr.peer_api, {IT: await _restored_epoch(fabric, restored=2)}))
    assert [o.result for o in await it.witness.check_all([GR])] == ["cosigned"]
    await _grow(gr, 1, fabric.clock())
    await gr.checkpoints.get()  # epoch 0, shown to al
    [outcome] = await al.witness.check_all([GR])
    assert outcome.result == "alarm"
    assert "epoch 0 shown here, epoch 1 cosigned by it-dgi" in outcome.detail


async def test_a_node_on_a_restored_database_declares_it_at_start_and_numbers_above_the_floor(
    fabric: Fabric,
) -> None:
    """gr's database is marked restored: at open gr signs the declaration (RESTORED event), its
    checkpoints are of epoch 1 and carry it, its sequence numbers continue above 1 << 32, and al
    records the declared restore and cosigns."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    cosigned = await _cosigned_by_al(fabric, 6)
    store = fabric.stores[GR]
    pending = {"restored_at_ms": fabric.clock(), "backup_sha256": "ab" * 32, "lost_known_size": cosigned + 40}
    await store.audit.record([], meta={RESTORE_PENDING: json.dumps(pending)})
    await fabric.close(GR)
    gr = await fabric.open(GR)
    [(index, restored)] = await events(gr, Kind.AUDIT_EVENT_KIND_RESTORED)
    assert index == gr.store.audit.size - 1
    assert (restored.log_epoch, restored.lost_from, restored.lost_to) == (1, index, cosigned + 40)
    signed = await gr.checkpoints.get(create=False)
    assert audit_pb2.Checkpoint.FromString(signed.checkpoint).epoch == 1
    declaration = audit_pb2.RestoreDeclaration.FromString(signed.restore.declaration)
    assert (declaration.epoch, declaration.restored_size, declaration.backup_sha256) == (
        1,
        index,
        bytes.fromhex("ab" * 32),
    )
    sent = await gr.outbox.submit(AL, social_inquiry_request(case_ref_for(100), identified_at_ms=fabric.clock()))
    row = await gr.store.outbox.get(sent.message_id)
    assert row is not None
    assert row.peer_sequence == (1 << SEQUENCE_SHIFT) + 1
    [outcome] = await al.witness.check_all([GR])
    assert outcome.result == "cosigned"
    assert len(await al.store.audit.restores()) == 1
    assert await al.store.audit.alarms() == []
    # Reopened again, nothing more is declared: the marker was cleared with the declaration.
    await fabric.close(GR)
    gr = await fabric.open(GR)
    assert len(await events(gr, Kind.AUDIT_EVENT_KIND_RESTORED)) == 1


async def test_a_copy_from_before_a_declared_restore_is_refused_at_start(fabric: Fabric) -> None:
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    await _cosigned_by_al(fabric, 3)
    store = fabric.stores[GR]
    pending = {"restored_at_ms": fabric.clock(), "backup_sha256": "00" * 32, "lost_known_size": 0}
    await store.audit.record([], meta={RESTORE_PENDING: json.dumps(pending)})
    await fabric.close(GR)
    await fabric.open(GR)
    assert [o.result for o in await al.witness.check_all([GR])] == ["cosigned"]
    await fabric.close(GR)
    with pytest.raises(StorageError, match="in epoch 1, but the database is in epoch 0"):
        await fabric.open(GR, MemoryStore())
    assert gr is not None


async def _mark_restored(store: MemoryStore, fabric: Fabric, *, epoch_floor: int = 0) -> None:
    """What ``focalpoint node restore`` leaves on the copy it puts in place."""
    pending = {"restored_at_ms": fabric.clock(), "backup_sha256": "ab" * 32, "lost_known_size": 0}
    if epoch_floor:
        pending["epoch_floor"] = epoch_floor
    await store.audit.record([], meta={RESTORE_PENDING: json.dumps(pending)})


async def _reopen(fabric: Fabric, store: MemoryStore) -> Node:
    await fabric.close(GR)
    return await fabric.open(GR, store)


@pytest.mark.parametrize("known_from", ["the partner", "the replaced database"])
async def test_a_backup_older_than_a_declared_restore_gets_a_new_epoch_and_new_numbers(
    fabric: Fabric, known_from: str
) -> None:
    """gr restores an epoch-0 backup after it had declared epoch 1: the next epoch is 2 (learnt from
    al's cosignature, or from the marker `node restore` copied from the replaced database when al
    cannot be asked), its numbers are above 2 << 32, and al records a second restore, no alarm."""
    al = fabric.nodes[AL]
    await _cosigned_by_al(fabric, 3)
    old_backup = copy.deepcopy(fabric.stores[GR])
    await _mark_restored(fabric.stores[GR], fabric)
    gr = await _reopen(fabric, fabric.stores[GR])
    await _grow(gr, 4, fabric.clock())
    await gr.checkpoints.get()
    assert [o.result for o in await al.witness.check_all([GR])] == ["cosigned"]
    await _mark_restored(old_backup, fabric, epoch_floor=1 if known_from == "the replaced database" else 0)
    fabric.network.set_down(AL, known_from == "the replaced database")
    gr = await _reopen(fabric, old_backup)
    fabric.network.set_down(AL, False)
    assert gr.checkpoints.epoch.number == 2
    sent = await gr.outbox.submit(AL, social_inquiry_request(case_ref_for(101), identified_at_ms=fabric.clock()))
    row = await gr.store.outbox.get(sent.message_id)
    assert row is not None
    assert row.peer_sequence == (2 << SEQUENCE_SHIFT) + 1
    [outcome] = await al.witness.check_all([GR])
    assert outcome.result == "cosigned", outcome.detail
    assert len(await al.store.audit.restores()) == 2
    assert await al.store.audit.alarms() == []


async def test_a_declaration_cannot_hide_a_rewrite_of_what_a_witness_cosigned_below_the_restored_size(
    fabric: Fabric,
) -> None:
    """al cosigned gr's log at a small size, then at a large one. gr "restores" to a size between
    the two, of another history: what al cosigned at the small size is not its prefix (al finds
    that checkpoint among its own COSIGNED events), so it is an alarm, not a declared restore."""
    al = fabric.nodes[AL]
    first = await _cosigned_by_al(fabric, 1)
    later = await _cosigned_by_al(fabric, 40)
    other = MemoryStore()
    event = audit_events.status_changed(at_ms=1, actor="someone else", case_ref=case_ref_for(999), status="open")
    await other.audit.record([event] * (first + 3))
    await _mark_restored(other, fabric)
    gr = await _reopen(fabric, other)
    assert first < gr.store.audit.size < later  # restored "to" between the two sizes al cosigned
    [outcome] = await al.witness.check_all([GR])
    assert outcome.result == "alarm"
    assert f"extension of size {first}" in outcome.detail
    assert await al.store.audit.restores() == []


async def test_a_witness_that_missed_an_epoch_records_the_restore_without_a_false_alarm(fabric: Fabric) -> None:
    """al cosigned epoch 0 only. gr declared epoch 1 (restored below what al saw), grew past it,
    then declared epoch 2 from an epoch-1 backup: al cannot link epoch 0 to it, and says so by a
    recorded restore, not an alarm against an honest node."""
    al = fabric.nodes[AL]
    await _cosigned_by_al(fabric, 2)
    backup = copy.deepcopy(fabric.stores[GR])  # older than what al cosigns next: epoch 1 restores to it
    cosigned = await _cosigned_by_al(fabric, 10)
    await _mark_restored(backup, fabric)
    fabric.network.set_down(AL)  # al does not see epoch 1
    gr = await _reopen(fabric, backup)
    assert gr.store.audit.size < cosigned
    await _grow(gr, cosigned + 5, fabric.clock())  # another history, past the size al cosigned
    epoch_1_backup = copy.deepcopy(fabric.stores[GR])
    await _mark_restored(epoch_1_backup, fabric)
    gr = await _reopen(fabric, epoch_1_backup)
    fabric.network.set_down(AL, False)
    assert gr.checkpoints.epoch.number == 2
    [outcome] = await al.witness.check_all([GR])
    assert outcome.result == "cosigned", outcome.detail
    assert await al.store.audit.alarms() == []
    [(_, event)] = await events(al, Kind.AUDIT_EVENT_KIND_PEER_RESTORED)
    assert (event.log_epoch, event.lost_to) == (2, max(cosigned, event.lost_from))
