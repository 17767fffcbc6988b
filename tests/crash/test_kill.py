"""Crash at any point leaves every message delivered exactly once (docs/architecture.md P5), with real processes.

Two ``focalpoint node run`` processes; messages stream through the sender's local API while
one of them is killed with SIGKILL and restarted. The databases are then read directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest

from focalpoint.audit import events as audit_events
from focalpoint.client import LocalClient
from focalpoint.errors import FocalpointError
from focalpoint.localnet import LocalNetwork, NodeSpec, make_network
from focalpoint.localnet.people import People
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.node.ports import wall_clock_ms
from focalpoint.storage.base import DeliveryState
from focalpoint.storage.sqlite.audit_log import AuditLog
from focalpoint.v1 import audit_pb2, envelope_pb2, local_pb2
from tests.support.procs import NodeProcess, read_only, running

pytestmark = pytest.mark.slow

SENDER, RECEIVER = "gr-ekka", "al-shss"
SPECS = (NodeSpec(SENDER, "GR", "EKKA", ("el", "en")), NodeSpec(RECEIVER, "AL", "SHSS", ("sq", "en")))
FAST_DELIVERY = {"retry_initial_seconds": 0.05, "retry_max_seconds": 0.5, "call_timeout_seconds": 5}
N = 300
CONCURRENCY = 16
DELIVERY_DEADLINE_S = 60.0


@pytest.fixture
def net(tmp_path: Path) -> LocalNetwork:
    """A sender and a receiver with fresh keys, a signed directory and fast retries."""
    return make_network(
        tmp_path / "net", SPECS, now=dt.datetime.now(dt.UTC), delivery=FAST_DELIVERY, directory_refresh_s=0.5
    )


Query = tuple[str, tuple[int, ...]]


def request_id(i: int) -> str:
    return f"crash-{i}"


# When every request's child was identified: a retry must repeat its request exactly (the node
# refuses a client_request_id reused for a different body), so the body may not change between tries.
IDENTIFIED_AT_MS = wall_clock_ms()


def count(db: Path, query: Query) -> int:
    """One COUNT(*) through a read-only connection (0 while the file does not exist yet)."""
    if not db.exists():
        return 0
    with contextlib.closing(read_only(db)) as conn:
        return int(conn.execute(*query).fetchone()[0])


INBOX_ROWS: Query = ("SELECT COUNT(*) FROM inbox", ())
OUTBOX_ROWS: Query = ("SELECT COUNT(*) FROM outbox", ())
DELIVERED_ROWS: Query = ("SELECT COUNT(*) FROM outbox_delivery WHERE state = ?", (int(DeliveryState.DELIVERED),))


async def wait_count(db: Path, query: Query, at_least: int, timeout_s: float = DELIVERY_DEADLINE_S) -> int:
    deadline = time.monotonic() + timeout_s
    while (n := count(db, query)) < at_least:
        if time.monotonic() > deadline:
            raise AssertionError(f"{db.name}: {query[0]!r} is {n} after {timeout_s} s, wanted ≥ {at_least}")
        await asyncio.sleep(0.01)
    return n


async def submit_all(client: LocalClient, indices: Iterable[int]) -> tuple[dict[int, bytes], set[int]]:
    """Submit each index with its client_request_id; return the acknowledged ids and the failed indices."""
    todo = list(indices)
    acked: dict[int, bytes] = {}
    failed: set[int] = set()

    async def worker() -> None:
        while todo:
            i = todo.pop(0)
            req = local_pb2.SubmitRequest(
                recipient_node=RECEIVER,
                body=social_inquiry_request(case_ref_for(9300 + i), identified_at_ms=IDENTIFIED_AT_MS),
                client_request_id=request_id(i),
            )
            try:
                acked[i] = (await client.submit(req)).message_id
            except FocalpointError:
                failed.add(i)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return acked, failed


def assert_exactly_once(sender_db: Path, receiver_db: Path, n: int) -> None:
    """Both databases agree: n messages, each stored once and closed by the receipt the receiver stored."""
    with contextlib.closing(read_only(sender_db)) as s:
        outbox = s.execute(
            "SELECT o.message_id, d.state, d.receipt, o.client_request_id"
            " FROM outbox o JOIN outbox_delivery d ON d.seq = o.seq"
        ).fetchall()
    with contextlib.closing(read_only(receiver_db)) as r:
        inbox = r.execute("SELECT sender, message_id, receipt FROM inbox").fetchall()

    assert len(outbox) == n
    assert sorted(row[3] for row in outbox) == sorted(request_id(i) for i in range(n))
    not_delivered = [
        bytes(mid).hex() for mid, state, receipt, _ in outbox if state != DeliveryState.DELIVERED or receipt is None
    ]
    assert not_delivered == []

    assert len(inbox) == n
    assert len({(sender, bytes(mid)) for sender, mid, _ in inbox}) == n
    assert {sender for sender, _, _ in inbox} == {SENDER}
    assert {bytes(row[0]) for row in outbox} == {bytes(mid) for _, mid, _ in inbox}

    stored = {bytes(mid): bytes(receipt) for _, mid, receipt in inbox}
    differing = [bytes(mid).hex() for mid, _, receipt, _ in outbox if bytes(receipt) != stored[bytes(mid)]]
    assert differing == []
    for mid, _, receipt, _ in outbox:
        content = envelope_pb2.ReceiptContent.FromString(envelope_pb2.Receipt.FromString(receipt).content)
        assert (content.message_id, content.sender_node, content.receiver_node) == (bytes(mid), SENDER, RECEIVER)
    assert_audit_matches(sender_db, receiver_db, outbox, inbox)


def _audit(db: Path) -> dict[int, list[tuple[int, audit_pb2.AuditEvent]]]:
    """The log after the crash: whole (verify), and its events by kind."""
    log = AuditLog(db, readonly=True)
    try:
        assert log.verify() is None
        by_kind: dict[int, list[tuple[int, audit_pb2.AuditEvent]]] = {}
        for index, leaf in log.leaves(0, log.size):
            event = audit_events.decode(leaf)
            by_kind.setdefault(event.kind, []).append((index, event))
        return by_kind
    finally:
        log.close()


def assert_audit_matches(sender_db: Path, receiver_db: Path, outbox: list[Any], inbox: list[Any]) -> None:
    """Killed at any point, each log holds exactly one event per row it committed, and every
    receipt names the receiver's DELIVERED event for that message (events commit with their rows)."""
    sent, received = _audit(sender_db), _audit(receiver_db)
    kind = audit_pb2.AuditEventKind
    sent_ids = sorted(e.message_id for _, e in sent.get(kind.AUDIT_EVENT_KIND_SENT, []))
    assert sent_ids == sorted(bytes(row[0]) for row in outbox)
    receipted = sorted(e.message_id for _, e in sent.get(kind.AUDIT_EVENT_KIND_RECEIPTED, []))
    assert receipted == sent_ids
    delivered = {e.message_id: i for i, e in received.get(kind.AUDIT_EVENT_KIND_DELIVERED, [])}
    assert len(delivered) == len(received.get(kind.AUDIT_EVENT_KIND_DELIVERED, [])) == len(inbox)
    for _, mid, receipt in inbox:
        content = envelope_pb2.ReceiptContent.FromString(envelope_pb2.Receipt.FromString(receipt).content)
        assert delivered[bytes(mid)] == content.log_index


@contextlib.asynccontextmanager
async def officer_of(proc: NodeProcess) -> AsyncIterator[LocalClient]:
    """A case officer logged in to a node process (submitting needs a person's session)."""
    people = People(proc.node.local_address, proc.node.token, unit="gr-ekka/athens")
    try:
        yield await people.client("officer.1")
    finally:
        await people.close()


def stop_all(procs: dict[str, NodeProcess]) -> None:
    for p in procs.values():
        p.terminate()


async def test_receiver_killed_mid_stream_gets_everything_exactly_once(net: LocalNetwork) -> None:
    """kill -9 of the receiver mid-stream, then a restart: all N delivered once, receipts identical on both sides."""
    async with running(net, [SENDER, RECEIVER]) as procs:
        sender, receiver = procs[SENDER], procs[RECEIVER]
        async with officer_of(sender) as client:
            submitting = asyncio.create_task(submit_all(client, range(N)))
            try:
                await wait_count(receiver.database, INBOX_ROWS, at_least=N // 5)
                receiver.kill()
            finally:
                acked, failed = await submitting
            in_inbox_at_crash = count(receiver.database, INBOX_ROWS)
            assert 0 < in_inbox_at_crash < N, "the crash must fall mid-stream"
            assert count(sender.database, DELIVERED_ROWS) < N
            await asyncio.sleep(0.3)  # the sender retries against a dead port meanwhile
            await receiver.start()
        assert failed == set()
        assert len(set(acked.values())) == N
        await wait_count(sender.database, DELIVERED_ROWS, at_least=N)
        stop_all(procs)
    assert receiver.starts == 2
    assert_exactly_once(sender.database, receiver.database, N)


async def test_sender_killed_mid_stream_delivers_everything_exactly_once(net: LocalNetwork) -> None:
    """kill -9 of the sender mid-stream; after a restart and idempotent re-submits all N are delivered once."""
    async with running(net, [SENDER, RECEIVER]) as procs:
        sender, receiver = procs[SENDER], procs[RECEIVER]
        people = People(sender.node.local_address, sender.node.token, unit="gr-ekka/athens")
        officer = await people.client("officer.1")
        session = officer.session
        await people.close()
        async with LocalClient(sender.node.local_address, session=session) as client:
            submitting = asyncio.create_task(submit_all(client, range(N)))
            try:
                # Kill while submits are still arriving and deliveries have begun.
                await wait_count(sender.database, OUTBOX_ROWS, at_least=N // 4)
                await wait_count(sender.database, DELIVERED_ROWS, at_least=1)
                sender.kill()
            finally:
                acked, failed = await submitting
        assert failed, "the crash must fall mid-stream: some submits must have failed"
        assert 0 < count(sender.database, DELIVERED_ROWS) < N
        await sender.start()
        async with LocalClient(sender.node.local_address, session=session) as client:  # sessions outlive a crash
            # Every request again, with the same client_request_id: nothing acknowledged may be sent twice.
            again, still_failed = await submit_all(client, range(N))
        assert still_failed == set()
        assert {i: again[i] for i in acked} == acked
        await wait_count(sender.database, DELIVERED_ROWS, at_least=N)
        stop_all(procs)
    assert sender.starts == 2
    assert_exactly_once(sender.database, receiver.database, N)
    with contextlib.closing(read_only(sender.database)) as s:
        in_outbox = {bytes(r[0]) for r in s.execute("SELECT message_id FROM outbox")}
    assert in_outbox == set(again.values())
