"""Refused envelopes in the audit log: one event per call and code with a count, a per-peer budget
per window, and one summary past it, so that a flood of refusals stores less than it sends."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from focalpoint.audit import events as audit_events
from focalpoint.errors import Refusal, RefusalError
from focalpoint.node.refusals import REFUSAL_EVENTS_PER_WINDOW, REFUSAL_WINDOW_MS, RefusalLedger
from focalpoint.server.config import load_config
from focalpoint.server.node import Node
from focalpoint.storage.sqlite.store import SqliteStore
from focalpoint.v1 import audit_pb2, envelope_pb2
from tests.node.conftest import Fabric, events, eventually

REFUSED = audit_pb2.AUDIT_EVENT_KIND_REFUSED
BATCHES, PER_BATCH = 10, 1024


def _stored_bytes(db: Path) -> int:
    """The database's size as a reader sees it (committed pages, the WAL included)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    return int(pages) * int(size)


async def _on_sqlite(fabric: Fabric, node_id: str, db: Path) -> Node:
    """Re-open ``node_id`` over a real SQLite database, still on the in-memory network."""
    await fabric.close(node_id)
    node = await Node.open(
        load_config(fabric.files.nodes[node_id].config_path),
        clock_ms=fabric.clock,
        store=await SqliteStore.open(db),
        transport=fabric.network.transport(node_id),
    )
    fabric.network.attach(node_id, node.peer_api)

    async def keys_logged() -> bool:  # a new database logs the keys in use, in the background
        return len(await events(node, audit_pb2.AUDIT_EVENT_KIND_KEY_CHANGED)) == 2

    await eventually(keys_logged, what="the KEY_CHANGED events of a new database are written")
    return node


def _counted(found: list[tuple[int, audit_pb2.AuditEvent]]) -> int:
    return sum(e.count for _, e in found)


async def test_a_flood_of_refused_envelopes_stores_fewer_bytes_than_it_sent(fabric: Fabric, tmp_path: Path) -> None:
    """Ten batches of 1,024 empty envelopes add a handful of leaves, fewer bytes than received, and count them all."""
    db = tmp_path / "al.sqlite"
    al = await _on_sqlite(fabric, "al-shss", db)
    try:
        gr = fabric.nodes["gr-ekka"]
        leaves, before = al.store.audit.size, _stored_bytes(db)
        received = 0
        for _ in range(BATCHES):
            batch = [envelope_pb2.Envelope() for _ in range(PER_BATCH)]
            received += envelope_pb2.EnvelopeBatch(envelopes=batch).ByteSize()
            results = await gr.transport.deliver_batch("al-shss", batch)
            assert {Refusal(r.refused.code) for r in results} == {Refusal.MALFORMED}
        fabric.clock.advance(REFUSAL_WINDOW_MS / 1000)
        await al.inbox.flush_refusals()
        added = al.store.audit.size - leaves
        assert added <= REFUSAL_EVENTS_PER_WINDOW + 1
        new_leaves = await al.store.audit.events(added, 0)
        assert sum(len(leaf) + 32 for _, leaf in new_leaves) < received  # each leaf and its hash
        grown = _stored_bytes(db) - before
        assert grown < received, f"stored {grown} bytes for {received} bytes received"
        found = await events(al, REFUSED)
        assert _counted(found) == BATCHES * PER_BATCH  # every refusal is accounted for
        assert {e.peer_node for _, e in found} == {"gr-ekka"}
    finally:
        await al.stop(0)


async def test_the_refusals_of_one_call_are_one_event_per_code_with_its_count(fabric: Fabric) -> None:
    """A batch with three misaddressed and two empty envelopes: two events, counts 3 and 2, no message ids."""
    al = fabric.nodes["al-shss"]
    stray = [fabric.seal("gr-ekka", "it-dgi").envelope for _ in range(3)]
    good = fabric.seal("gr-ekka", "al-shss")
    size = al.store.audit.size
    results = await al.inbox.receive_batch(
        [stray[0], envelope_pb2.Envelope(), good.envelope, stray[1], envelope_pb2.Envelope(), stray[2]], "gr-ekka"
    )
    assert [r.WhichOneof("outcome") for r in results] == ["refused", "refused", "delivered"] + ["refused"] * 3
    found = await events(al, REFUSED)
    assert al.store.audit.size == size + 3  # one DELIVERED, two REFUSED
    by_code = {Refusal(e.refusal): e for _, e in found}
    assert {code: e.count for code, e in by_code.items()} == {Refusal.WRONG_RECIPIENT: 3, Refusal.MALFORMED: 2}
    assert all(e.message_id == b"" and e.peer_node == "gr-ekka" for e in by_code.values())


async def test_past_its_budget_a_peer_s_refusals_wait_for_one_summary_and_other_peers_keep_theirs(
    fabric: Fabric,
) -> None:
    """gr-ekka's refusals past the budget are counted, then written as one summary; it-dgi's still get events."""
    al = fabric.nodes["al-shss"]
    size = al.store.audit.size
    for _ in range(REFUSAL_EVENTS_PER_WINDOW + 3):
        await al.inbox.receive_batch([envelope_pb2.Envelope()] * 2, "gr-ekka")
    assert al.store.audit.size == size + REFUSAL_EVENTS_PER_WINDOW
    sealed = fabric.seal("it-dgi", "gr-ekka")  # misaddressed: refused, and it-dgi has its own budget
    await al.inbox.receive_batch([sealed.envelope], "it-dgi")
    [(_, other)] = [(i, e) for i, e in await events(al, REFUSED) if e.peer_node == "it-dgi"]
    assert (other.count, other.message_id) == (1, sealed.message_id)
    await al.inbox.flush_refusals()  # the window is still open: nothing yet
    assert al.store.audit.size == size + REFUSAL_EVENTS_PER_WINDOW + 1
    fabric.clock.advance(REFUSAL_WINDOW_MS / 1000)
    await al.inbox.flush_refusals()
    summary = audit_events.decode(await al.store.audit.read(lambda view: view.leaf(view.size - 1)))
    assert summary.kind == REFUSED
    assert summary.peer_node == "gr-ekka"
    assert summary.count == 6
    assert [(Refusal(t.code), t.count) for t in summary.refusal_counts] == [(Refusal.MALFORMED, 6)]
    assert summary.refusal == 0
    assert summary.window_start_ms < summary.at_ms
    assert al.store.audit.size == size + REFUSAL_EVENTS_PER_WINDOW + 2


async def test_a_clean_stop_writes_the_summary_of_an_open_window(fabric: Fabric) -> None:
    """Closing the inbox writes the pending summary rather than dropping the counts."""
    al = fabric.nodes["al-shss"]
    for _ in range(REFUSAL_EVENTS_PER_WINDOW + 1):
        await al.inbox.receive_batch([envelope_pb2.Envelope()], "gr-ekka")
    store = fabric.stores["al-shss"]
    await fabric.close("al-shss")
    node = await fabric.open("al-shss", store)
    found = await events(node, REFUSED)
    assert _counted(found) == REFUSAL_EVENTS_PER_WINDOW + 1
    assert len(found) == REFUSAL_EVENTS_PER_WINDOW + 1
    assert found[-1][1].refusal_counts


@pytest.mark.parametrize(("budget", "window_ms"), [(0, 1000), (1, 0)])
def test_a_ledger_refuses_a_budget_or_window_that_is_not_positive(budget: int, window_ms: int) -> None:
    """Budget and window must be positive: a zero budget would silently drop every event."""
    with pytest.raises(ValueError, match="positive"):
        RefusalLedger(budget=budget, window_ms=window_ms)


def test_a_new_window_starts_once_the_last_one_closed() -> None:
    """After a window closes, the peer's budget is whole again and the summary comes first."""
    ledger = RefusalLedger(budget=1, window_ms=1000)
    error = RefusalError(Refusal.EXPIRED, "expired")
    assert len(ledger.record("gr-ekka", 0, [(b"", error)])) == 1
    assert ledger.record("gr-ekka", 10, [(b"", error)]) == []
    leaves = ledger.record("gr-ekka", 1500, [(b"", error)])
    first, second = (audit_events.decode(leaf) for leaf in leaves)
    assert (first.window_start_ms, first.at_ms, first.count) == (0, 1000, 1)
    assert (Refusal(second.refusal), second.count) == (Refusal.EXPIRED, 1)
