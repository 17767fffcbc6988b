"""A node loses its disk and is restored from a backup taken while it ran, over real mutual TLS:
a plain copy of the backup is refused at start (its partner cosigned more), ``restore`` puts it
back marked, the node declares the restore, its partner records it instead of an alarm and
cosigns the new epoch, and messages flow again with sequence numbers never used before."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from focalpoint.audit import events as audit_events
from focalpoint.errors import StorageError
from focalpoint.localnet import LocalNetwork
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.node.ports import wall_clock_ms
from focalpoint.node.restore import SEQUENCE_SHIFT
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState
from focalpoint.storage.sqlite.backup import backup, restore
from focalpoint.v1 import audit_pb2
from tests.conftest import StartNode

GR, AL = "gr-ekka", "al-shss"
Kind = audit_pb2.AuditEventKind

_TAGS = ("BEFORE", "AFTER", "RESTORED")


async def _send(sender: Node, n: int, tag: str) -> list[int]:
    """``n`` messages to al, delivered; their sequence numbers."""
    sent = [
        await sender.outbox.submit(
            AL, social_inquiry_request(case_ref_for(_TAGS.index(tag) * 100 + i), identified_at_ms=wall_clock_ms())
        )
        for i in range(n)
    ]
    states = await asyncio.wait_for(asyncio.gather(*(sender.delivery.wait_closed(s.message_id) for s in sent)), 20)
    assert set(states) == {DeliveryState.DELIVERED}
    rows = [await sender.store.outbox.get(s.message_id) for s in sent]
    return [r.peer_sequence for r in rows if r is not None]


async def _witnessed_by(al: Node, gr: Node) -> int:
    await gr.checkpoints.get()
    [outcome] = await al.witness.check_all([GR])
    assert outcome.result == "cosigned", outcome
    return outcome.size


def _lose_disk(db: Path) -> None:
    for name in (db.name, db.name + "-wal", db.name + "-shm", db.name + ".hwm"):
        db.with_name(name).unlink(missing_ok=True)


async def test_a_node_restored_from_an_online_backup_declares_it_and_its_partner_records_it(
    network: LocalNetwork, start_node: StartNode, tmp_path: Path
) -> None:
    config = load_config(network.nodes[GR].config_path)
    db = config.database
    al = await start_node(AL)
    gr = await Node.open(config)
    try:
        await gr.start()
        first = await _send(gr, 3, "BEFORE")
        await _witnessed_by(al, gr)
        saved = tmp_path / "gr-backup.sqlite"
        copied = await asyncio.to_thread(backup, db, saved)  # while gr runs
        assert copied.log_ok
        later = await _send(gr, 3, "AFTER")
        lost_up_to = await _witnessed_by(al, gr)
        assert lost_up_to > copied.events
    finally:
        await gr.stop(0)

    _lose_disk(db)
    shutil.copy(saved, db)  # a plain copy: the node cannot know it is one, its partner can
    with pytest.raises(StorageError, match=f"{AL} cosigned a checkpoint of this node's log with {lost_up_to} events"):
        await Node.open(config)

    done = await asyncio.to_thread(restore, saved, db, node_id=GR, now_ms=wall_clock_ms())
    assert done.events == copied.events
    gr = await Node.open(config)
    try:
        await gr.start()
        restored = [e for _, e in await _events(gr, Kind.AUDIT_EVENT_KIND_RESTORED)]
        assert [(e.log_epoch, e.lost_from, e.lost_to) for e in restored] == [(1, copied.events, lost_up_to)]
        await _witnessed_by(al, gr)
        assert await al.store.audit.alarms() == []
        [(_, recorded)] = await _events(al, Kind.AUDIT_EVENT_KIND_PEER_RESTORED)
        assert (recorded.peer_node, recorded.lost_from, recorded.lost_to) == (GR, copied.events, lost_up_to)
        again = await _send(gr, 2, "RESTORED")
        assert min(again) > max(first + later)
        assert again == [(1 << SEQUENCE_SHIFT) + 1, (1 << SEQUENCE_SHIFT) + 2]
        delivered = [e.sequence for _, e in await _events(al, Kind.AUDIT_EVENT_KIND_DELIVERED)]
        assert sorted(delivered[-2:]) == again  # delivery order is not guaranteed
        assert len(set(delivered)) == len(delivered)  # al never saw a number twice
    finally:
        await gr.stop(0)


async def _events(node: Node, kind: Kind.ValueType) -> list[tuple[int, audit_pb2.AuditEvent]]:
    found = [(i, audit_events.decode(leaf)) for i, leaf in await node.store.audit.events(-1, 0)]
    return [(i, e) for i, e in reversed(found) if e.kind == kind]
