"""The storage contract (focalpoint.storage.base): every test taking ``store`` runs on the
SQLite backend and on the in-memory one, which must behave the same; a property test
replays random operations on both and compares everything they answer.

The last section tests the in-memory store's own test hooks (failing writes, frozen rows),
which the SQLite backend does not have; that is not a difference in behaviour.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from focalpoint.audit import events
from focalpoint.audit.verify import check_log, find_damage
from focalpoint.crypto import merkle
from focalpoint.errors import StorageError
from focalpoint.storage.base import (
    EXPIRED,
    NOT_RECEIVED,
    AuditView,
    Delivered,
    DeliveryState,
    InboxOutcome,
    InboxRow,
    NewInbox,
    NewOutbox,
    Store,
    Unconfirmed,
)
from focalpoint.storage.memory import MemoryStore
from focalpoint.v1 import audit_pb2, envelope_pb2
from tests.storage.conftest import open_store

REPLAY = envelope_pb2.REFUSAL_CODE_REPLAY
BAD_SIGNATURE = envelope_pb2.REFUSAL_CODE_BAD_SIGNATURE
MANY = 10_000


# --- helpers -----------------------------------------------------------------------------


def new_id() -> bytes:
    return os.urandom(16)


def outgoing(
    recipient: str = "al-shss",
    *,
    sequence: int = 1,
    created_at_ms: int = 1_000,
    expires_at_ms: int = 100_000,
    client_request_id: str | None = None,
    case_ref: str = "",
    message_id: bytes | None = None,
) -> NewOutbox:
    return NewOutbox(
        message_id=message_id or new_id(),
        recipient=recipient,
        peer_sequence=sequence,
        envelope=b"sealed " + os.urandom(8),
        digest=os.urandom(32),
        local_copy=b"local " + os.urandom(8),
        created_at_ms=created_at_ms,
        expires_at_ms=expires_at_ms,
        client_request_id=client_request_id,
        case_ref=case_ref,
        message_kind="case.note",
    )


def incoming(
    sender: str = "al-shss",
    *,
    message_id: bytes | None = None,
    digest: bytes | None = None,
    case_ref: str = "",
    received_at_ms: int = 2_000,
) -> NewInbox:
    return NewInbox(
        sender=sender,
        message_id=message_id or new_id(),
        envelope=b"envelope " + os.urandom(8),
        digest=digest or os.urandom(32),
        local_copy=b"local " + os.urandom(8),
        received_at_ms=received_at_ms,
        expires_at_ms=received_at_ms + 60_000,
        case_ref=case_ref,
        message_kind="case.reply",
        sequence=7,
    )


class Signer:
    """A ReceiptSigner that records what it is asked to sign; each receipt names its row and index."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[NewInbox, int]]] = []

    def __call__(self, fresh: Sequence[tuple[NewInbox, int]]) -> list[bytes]:
        self.calls.append(list(fresh))
        return [b"receipt " + row.message_id + index.to_bytes(8, "big") for row, index in fresh]


def failing_signer(fresh: Sequence[tuple[NewInbox, int]]) -> list[bytes]:
    raise RuntimeError("the signing key is unavailable")


def kind(leaf: bytes) -> str:
    return events.Kind.Name(events.decode(leaf).kind).removeprefix("AUDIT_EVENT_KIND_")


async def log_of(store: Store) -> list[bytes]:
    """Every leaf of the log, oldest first."""
    return [leaf for _, leaf in reversed(await store.audit.events(MANY, 0))]


async def kinds_from(store: Store, start: int = 0) -> list[str]:
    return [kind(leaf) for leaf in (await log_of(store))[start:]]


def checkpoint(size: int, root: bytes, issued_at_ms: int = 5_000) -> bytes:
    """A SignedCheckpoint (unsigned here: the store never checks signatures)."""
    content = audit_pb2.Checkpoint(log_node="gr-ekka", size=size, root_hash=root, issued_at_ms=issued_at_ms)
    return audit_pb2.SignedCheckpoint(checkpoint=content.SerializeToString()).SerializeToString()


def cosignature(witness: str, at_ms: int = 6_000) -> bytes:
    content = audit_pb2.CosignedContent(checkpoint=b"cp", witness_node=witness, cosigned_at_ms=at_ms)
    return audit_pb2.Cosignature(content=content.SerializeToString()).SerializeToString()


def alarm(reason: str) -> bytes:
    return audit_pb2.ConflictEvidence(log_node="it-dgi", reason=reason, detected_by="gr-ekka").SerializeToString()


# --- outbox ------------------------------------------------------------------------------


async def test_adding_outbox_rows_logs_one_sent_event_each(store: Store) -> None:
    """add stores every row and appends one SENT event per row, in order, indexed by case."""
    rows = [outgoing(sequence=1, case_ref="case-a"), outgoing("it-dgi", sequence=4)]
    assert await store.outbox.add(rows) == [r.message_id for r in rows]
    leaves = await log_of(store)
    assert [kind(leaf) for leaf in leaves] == ["SENT", "SENT"]
    for row, leaf in zip(rows, leaves, strict=True):
        event = events.decode(leaf)
        assert (event.message_id, event.peer_node, event.sequence) == (row.message_id, row.recipient, row.peer_sequence)
        assert (event.envelope_sha256, event.case_ref, event.message_kind) == (row.digest, row.case_ref, "case.note")
    assert await store.audit.case_indices("case-a") == [0]
    assert await store.outbox.add([]) == []
    assert store.audit.size == 2


async def test_a_new_outbox_entry_is_queued_for_its_first_attempt_at_creation(store: Store) -> None:
    """A stored entry keeps its columns, is QUEUED with no attempts, and is first due when created."""
    row = outgoing(created_at_ms=1_234, expires_at_ms=9_999, case_ref="case-a")
    await store.outbox.add([row])
    got = await store.outbox.get(row.message_id)
    assert got is not None
    assert (got.recipient, got.envelope, got.digest, got.local_copy) == (
        row.recipient,
        row.envelope,
        row.digest,
        row.local_copy,
    )
    assert (got.state, got.attempts, got.next_attempt_ms, got.last_error) == (DeliveryState.QUEUED, 0, 1_234, "")
    assert (got.receipt, got.delivered_at_ms, got.expires_at_ms, got.case_ref) == (None, None, 9_999, "case-a")
    assert await store.outbox.get(new_id()) is None


async def test_outbox_seq_numbers_start_at_one_and_grow(store: Store) -> None:
    """Entries are numbered from 1 upwards in the order they were added."""
    await store.outbox.add([outgoing(), outgoing()])
    await store.outbox.add([outgoing()])
    assert [r.seq for r in await store.outbox.page(10, 0)] == [3, 2, 1]


async def test_a_repeated_client_request_id_returns_the_earlier_message_and_inserts_nothing(store: Store) -> None:
    """A second submit with the same client_request_id (in a later call or the same one) adds no row or event."""
    first = outgoing(client_request_id="req-1")
    assert await store.outbox.add([first]) == [first.message_id]
    again = outgoing(client_request_id="req-1")
    assert await store.outbox.add([again]) == [first.message_id]
    assert await store.outbox.get(again.message_id) is None
    assert store.audit.size == 1
    a, b = outgoing(client_request_id="req-2"), outgoing(client_request_id="req-2")
    assert await store.outbox.add([a, b]) == [a.message_id, a.message_id]
    assert await store.outbox.get(b.message_id) is None
    assert store.audit.size == 2
    by_request = await store.outbox.by_client_request("req-1")
    assert by_request is not None
    assert by_request.message_id == first.message_id
    assert await store.outbox.by_client_request("req-9") is None


async def test_a_message_id_stored_twice_fails_the_whole_outbox_write(store: Store) -> None:
    """Reusing a message id raises StorageError and stores none of that call's rows or events."""
    kept = outgoing()
    await store.outbox.add([kept])
    fresh = outgoing()
    with pytest.raises(StorageError):
        await store.outbox.add([fresh, outgoing(message_id=kept.message_id)])
    assert await store.outbox.get(fresh.message_id) is None
    assert store.audit.size == 1
    assert len(await store.outbox.page(10, 0)) == 1


async def test_last_sequences_gives_the_highest_peer_sequence_per_recipient(store: Store) -> None:
    """The highest peer sequence per recipient counts closed entries too."""
    assert await store.outbox.last_sequences() == {}
    high = outgoing("al-shss", sequence=5, expires_at_ms=10)
    await store.outbox.add([outgoing("al-shss", sequence=3), high, outgoing("it-dgi", sequence=1)])
    await store.outbox.expire(1_000)
    assert await store.outbox.last_sequences() == {"al-shss": 5, "it-dgi": 1}


async def test_due_lists_queued_unexpired_entries_whose_attempt_is_due_oldest_first(store: Store) -> None:
    """due skips other recipients, future attempts, expired, closed and excluded entries, and honours limit."""
    old, skipped, newer, newest = (outgoing(created_at_ms=100 + i) for i in range(4))
    later = outgoing(created_at_ms=5_000)
    expired = outgoing(created_at_ms=100, expires_at_ms=1_000)
    closed = outgoing(created_at_ms=100)
    await store.outbox.add([old, skipped, later, expired, closed, outgoing("it-dgi", created_at_ms=100), newer, newest])
    await store.outbox.mark_final(closed.message_id, DeliveryState.FAILED, "refused", REPLAY, 200)
    due = await store.outbox.due("al-shss", 1_000, 10, exclude={skipped.message_id})
    assert [r.message_id for r in due] == [old.message_id, newer.message_id, newest.message_id]
    two = await store.outbox.due("al-shss", 1_000, 2, exclude={skipped.message_id})
    assert [r.message_id for r in two] == [old.message_id, newer.message_id]
    assert [r.message_id for r in await store.outbox.due("al-shss", 999, 1, set())] == [old.message_id]
    assert await store.outbox.due("nobody", 1_000, 10, set()) == []


async def test_due_also_lists_entries_planned_beyond_latest_as_set_by_a_clock_stepped_back(store: Store) -> None:
    """With latest_ms, an attempt planned after it is due now; one between now and latest is not."""
    soon, far = outgoing(created_at_ms=1_000), outgoing(created_at_ms=1_000)
    await store.outbox.add([soon, far])
    await store.outbox.schedule_retry([(soon.message_id, 1_400, "retry"), (far.message_id, 301_000, "retry")])
    due = await store.outbox.due("al-shss", 1_000, 10, set(), latest_ms=1_500)
    assert [r.message_id for r in due] == [far.message_id]
    assert await store.outbox.due("al-shss", 1_000, 10, set()) == []


async def test_next_due_ms_is_the_earliest_attempt_among_queued_entries_not_excluded(store: Store) -> None:
    """next_due_ms ignores excluded, closed and other recipients' entries; None when nothing is queued."""
    first, second, third = (outgoing(created_at_ms=t) for t in (300, 100, 200))
    await store.outbox.add([first, second, third, outgoing("it-dgi", created_at_ms=5)])
    assert await store.outbox.next_due_ms("al-shss", set()) == 100
    assert await store.outbox.next_due_ms("al-shss", {second.message_id}) == 200
    await store.outbox.mark_final(third.message_id, DeliveryState.FAILED, "refused", REPLAY, 1)
    assert await store.outbox.next_due_ms("al-shss", {second.message_id}) == 300
    assert await store.outbox.next_due_ms("al-shss", {first.message_id, second.message_id}) is None
    assert await store.outbox.next_due_ms("nobody", set()) is None


async def test_recipients_with_queued_lists_each_recipient_with_an_open_entry_once(store: Store) -> None:
    """Recipients whose entries are all closed are left out."""
    gone = outgoing("fr-ase")
    await store.outbox.add([outgoing("it-dgi"), outgoing("al-shss"), outgoing("it-dgi"), gone])
    await store.outbox.mark_final(gone.message_id, DeliveryState.FAILED, "refused", REPLAY, 1)
    assert sorted(await store.outbox.recipients_with_queued()) == ["al-shss", "it-dgi"]


async def test_mark_delivered_closes_only_queued_entries_and_logs_receipted_in_message_id_order(
    store: Store,
) -> None:
    """Queued entries get their receipt and RECEIPTED event (sorted by id); a closed entry stays as it was."""
    rows = [outgoing(case_ref="case-a") for _ in range(3)]
    refused = outgoing()
    await store.outbox.add([*rows, refused])
    await store.outbox.mark_final(refused.message_id, DeliveryState.FAILED, "refused", REPLAY, 50)
    before = await store.outbox.get(refused.message_id)
    size = store.audit.size
    done = [Delivered(r.message_id, b"receipt " + r.message_id, 7_000 + i, 40 + i) for i, r in enumerate(rows)]
    await store.outbox.mark_delivered([*reversed(done), Delivered(refused.message_id, b"late", 9_000, 1)])
    assert await store.outbox.get(refused.message_id) == before
    leaves = (await log_of(store))[size:]
    assert [kind(leaf) for leaf in leaves] == ["RECEIPTED"] * 3
    logged = [events.decode(leaf) for leaf in leaves]
    assert [e.message_id for e in logged] == sorted(r.message_id for r in rows)
    by_id = {d.message_id: d for d in done}
    for event in logged:
        d = by_id[event.message_id]
        assert (event.peer_log_index, event.at_ms) == (d.peer_log_index, d.delivered_at_ms)
        assert event.receipt_sha256 == hashlib.sha256(d.receipt).digest()
        assert event.case_ref == "case-a"
    for d in done:
        got = await store.outbox.get(d.message_id)
        assert got is not None
        assert (got.state, got.receipt, got.delivered_at_ms) == (DeliveryState.DELIVERED, d.receipt, d.delivered_at_ms)
    await store.outbox.mark_delivered(done)
    await store.outbox.mark_delivered([])
    assert store.audit.size == size + 3


async def test_mark_final_closes_a_queued_entry_as_refused_and_leaves_a_closed_one_as_it_is(store: Store) -> None:
    """The first refusal sets state, error and attempts with a REFUSED_BY_PEER event; a second changes nothing."""
    row = outgoing(case_ref="case-b")
    await store.outbox.add([row])
    await store.outbox.mark_final(row.message_id, DeliveryState.FAILED, "bad signature", BAD_SIGNATURE, 3_000)
    got = await store.outbox.get(row.message_id)
    assert got is not None
    assert (got.state, got.last_error, got.attempts) == (DeliveryState.FAILED, "bad signature", 1)
    event = events.decode((await log_of(store))[-1])
    assert event.kind == events.Kind.AUDIT_EVENT_KIND_REFUSED_BY_PEER
    assert (event.message_id, event.refusal, event.at_ms, event.case_ref) == (
        row.message_id,
        BAD_SIGNATURE,
        3_000,
        "case-b",
    )
    await store.outbox.mark_final(row.message_id, DeliveryState.EXPIRED, "again", REPLAY, 4_000)
    await store.outbox.mark_final(new_id(), DeliveryState.FAILED, "unknown", REPLAY, 4_000)
    assert await store.outbox.get(row.message_id) == got
    assert store.audit.size == 2


async def test_schedule_retry_increments_attempts_and_moves_the_next_attempt_of_queued_entries(store: Store) -> None:
    """Each retry adds an attempt, sets the next attempt and error; closed entries and the log are untouched."""
    row, closed = outgoing(), outgoing()
    await store.outbox.add([row, closed])
    await store.outbox.mark_final(closed.message_id, DeliveryState.FAILED, "refused", REPLAY, 1)
    before, size = await store.outbox.get(closed.message_id), store.audit.size
    await store.outbox.schedule_retry([(row.message_id, 5_000, "unreachable"), (closed.message_id, 5_000, "x")])
    await store.outbox.schedule_retry([(row.message_id, 9_000, "timeout")])
    await store.outbox.schedule_retry([])
    got = await store.outbox.get(row.message_id)
    assert got is not None
    assert (got.attempts, got.next_attempt_ms, got.last_error, got.state) == (2, 9_000, "timeout", DeliveryState.QUEUED)
    assert await store.outbox.get(closed.message_id) == before
    assert store.audit.size == size


async def test_expire_closes_the_queued_entries_expired_at_now_with_expired_events(store: Store) -> None:
    """Entries with expires_at_ms ≤ now become EXPIRED (events sorted by id); their ids are returned once."""
    gone = [outgoing(expires_at_ms=1_000, case_ref="case-c"), outgoing(expires_at_ms=900)]
    stays, refused = outgoing(expires_at_ms=1_001), outgoing(expires_at_ms=10)
    await store.outbox.add([*gone, stays, refused])
    await store.outbox.mark_final(refused.message_id, DeliveryState.FAILED, "refused", REPLAY, 1)
    size = store.audit.size
    assert sorted(await store.outbox.expire(1_000)) == sorted(r.message_id for r in gone)
    logged = [events.decode(leaf) for leaf in (await log_of(store))[size:]]
    assert [e.message_id for e in logged] == sorted(r.message_id for r in gone)
    assert {(e.kind, e.at_ms) for e in logged} == {(events.Kind.AUDIT_EVENT_KIND_EXPIRED, 1_000)}
    for r in gone:
        got = await store.outbox.get(r.message_id)
        assert got is not None
        assert (got.state, got.last_error) == (DeliveryState.EXPIRED, EXPIRED)
    still, closed = await store.outbox.get(stays.message_id), await store.outbox.get(refused.message_id)
    assert still is not None
    assert closed is not None
    assert (still.state, closed.state) == (DeliveryState.QUEUED, DeliveryState.FAILED)
    assert await store.outbox.expire(1_000) == []
    expired_at = size + [e.message_id for e in logged].index(gone[0].message_id)
    assert await store.audit.case_indices("case-c") == [0, expired_at]


async def test_expire_returns_the_expired_ids_in_the_order_the_entries_were_added(store: Store) -> None:
    """Whatever their next attempt (one retried to later), expire lists the ids oldest entry first."""
    rows = [outgoing(expires_at_ms=1_000) for _ in range(3)]
    await store.outbox.add(rows)
    await store.outbox.schedule_retry([(rows[0].message_id, 5_000, "unreachable")])
    assert await store.outbox.expire(1_000) == [r.message_id for r in rows]


async def test_outbox_page_is_newest_first_below_before(store: Store) -> None:
    """page(limit, before) lists entries with seq < before, newest first; before=0 starts at the newest."""
    rows = [outgoing() for _ in range(5)]
    for row in rows:
        await store.outbox.add([row])
    ids = [r.message_id for r in rows]
    first = await store.outbox.page(2, 0)
    assert [r.message_id for r in first] == ids[:2:-1][:2]
    rest = await store.outbox.page(10, first[-1].seq)
    assert [r.message_id for r in rest] == ids[2::-1]
    assert await store.outbox.page(10, rest[-1].seq) == []
    assert await store.outbox.page(0, 0) == []


async def test_since_lists_outbox_and_inbox_rows_after_a_position_oldest_first(store: Store) -> None:
    """since(after, limit) answers rows with seq above ``after`` in seq order: what a cursor reads next."""
    rows = [outgoing() for _ in range(4)]
    for row in rows:
        await store.outbox.add([row])
    assert [r.message_id for r in await store.outbox.since(0, 10)] == [r.message_id for r in rows]
    assert [r.seq for r in await store.outbox.since(2, 1)] == [3]
    assert await store.outbox.since(4, 10) == []
    received = [incoming() for _ in range(3)]
    await store.inbox.add(received, Signer())
    assert [r.message_id for r in await store.inbox.since(1, 10)] == [r.message_id for r in received[1:]]
    assert await store.inbox.since(3, 10) == []


async def test_outbox_of_case_lists_the_cases_entries_oldest_first(store: Store) -> None:
    """of_case returns exactly the case's entries in the order they were added."""
    a1, b1, a2 = outgoing(case_ref="case-a"), outgoing(case_ref="case-b"), outgoing(case_ref="case-a")
    await store.outbox.add([a1, b1])
    await store.outbox.add([a2])
    assert [r.message_id for r in await store.outbox.of_case("case-a")] == [a1.message_id, a2.message_id]
    assert await store.outbox.of_case("case-z") == []


# --- inbox -------------------------------------------------------------------------------


async def test_a_fresh_inbox_row_is_stored_with_its_delivered_event_and_the_receipt_naming_its_index(
    store: Store,
) -> None:
    """The signer is called once with each fresh row and the log index of its DELIVERED event."""
    await store.audit.record([b"an earlier event"])
    sign = Signer()
    rows = [incoming(case_ref="case-a"), incoming("it-dgi")]
    outcomes = await store.inbox.add(rows, sign)
    assert sign.calls == [[(rows[0], 1), (rows[1], 2)]]
    leaves = await log_of(store)
    for row, index in sign.calls[0]:
        event = events.decode(leaves[index])
        assert kind(leaves[index]) == "DELIVERED"
        assert (event.message_id, event.peer_node, event.envelope_sha256) == (row.message_id, row.sender, row.digest)
        assert (event.case_ref, event.message_kind, event.sequence) == (row.case_ref, "case.reply", 7)
    receipts = sign(sign.calls[0])
    assert outcomes == [InboxOutcome(r, duplicate=False, conflict=False) for r in receipts]
    got = await store.inbox.get(rows[0].sender, rows[0].message_id)
    assert got is not None
    assert (got.envelope, got.digest, got.local_copy, got.receipt, got.case_ref) == (
        rows[0].envelope,
        rows[0].digest,
        rows[0].local_copy,
        receipts[0],
        "case-a",
    )
    assert await store.audit.case_indices("case-a") == [1]


async def test_a_stored_copy_with_the_same_digest_is_a_duplicate_answered_with_the_original_receipt(
    store: Store,
) -> None:
    """A replayed envelope is not signed, stored or logged again."""
    row = incoming()
    [first] = await store.inbox.add([row], Signer())
    sign = Signer()
    again = dataclasses.replace(row, envelope=b"another transport copy", received_at_ms=9_000)
    assert await store.inbox.add([again], sign) == [InboxOutcome(first.receipt, duplicate=True, conflict=False)]
    assert sign.calls == []
    assert (store.audit.size, await store.inbox.count()) == (1, 1)


async def test_a_stored_copy_with_a_different_digest_is_a_conflict(store: Store) -> None:
    """The same (sender, message id) with another digest answers the original receipt as a conflict."""
    row = incoming()
    [first] = await store.inbox.add([row], Signer())
    forged = incoming(row.sender, message_id=row.message_id)
    assert await store.inbox.add([forged], Signer()) == [InboxOutcome(first.receipt, duplicate=False, conflict=True)]
    kept = await store.inbox.get(row.sender, row.message_id)
    assert kept is not None
    assert kept.digest == row.digest
    assert store.audit.size == 1


async def test_a_second_copy_in_the_same_call_is_a_duplicate_of_the_first(store: Store) -> None:
    """Within one call the first copy is fresh; a same-digest copy is a duplicate, another digest a conflict."""
    row = incoming()
    copy = dataclasses.replace(row, envelope=b"copy")
    other = incoming(row.sender, message_id=row.message_id)
    sign = Signer()
    outcomes = await store.inbox.add([row, copy, other], sign)
    [[(signed_row, index)]] = sign.calls
    assert signed_row == row
    receipt = outcomes[0].receipt
    assert outcomes == [
        InboxOutcome(receipt, duplicate=False, conflict=False),
        InboxOutcome(receipt, duplicate=True, conflict=False),
        InboxOutcome(receipt, duplicate=False, conflict=True),
    ]
    assert (await store.inbox.count(), store.audit.size, index) == (1, 1, 0)


async def test_a_raising_receipt_signer_leaves_nothing_stored_and_no_leaf_appended(store: Store) -> None:
    """The signer's exception propagates; no row, no event, and the next write starts at the same index."""
    row = incoming(case_ref="case-a")
    with pytest.raises(RuntimeError, match="signing key"):
        await store.inbox.add([row, incoming()], failing_signer)
    assert (await store.inbox.count(), store.audit.size) == (0, 0)
    assert await store.inbox.get(row.sender, row.message_id) is None
    assert await store.audit.case_indices("case-a") == []
    sign = Signer()
    await store.inbox.add([row], sign)
    assert sign.calls == [[(row, 0)]]
    assert await store.inbox.page(10, 0) == [await store.inbox.get(row.sender, row.message_id)]
    assert (await store.inbox.page(1, 0))[0].seq == 1


async def test_a_signer_returning_the_wrong_number_of_receipts_fails_the_write(store: Store) -> None:
    """Fewer receipts than fresh rows is a StorageError that stores nothing."""
    with pytest.raises(StorageError):
        await store.inbox.add([incoming(), incoming()], lambda fresh: [b"only one"])
    assert (await store.inbox.count(), store.audit.size) == (0, 0)


async def test_inbox_rows_are_found_by_key_by_message_id_by_case_and_by_page(store: Store) -> None:
    """get/find/of_case/count/page see the same rows; one message id from two senders is two rows."""
    shared = new_id()
    a = incoming("al-shss", message_id=shared, case_ref="case-a")
    b = incoming("it-dgi", message_id=shared)
    c = incoming("al-shss", case_ref="case-a")
    await store.inbox.add([a, b], Signer())
    await store.inbox.add([], Signer())
    await store.inbox.add([c], Signer())
    assert await store.inbox.count() == 3
    assert [(r.sender, r.message_id) for r in await store.inbox.find(shared)] == [
        ("al-shss", shared),
        ("it-dgi", shared),
    ]
    assert await store.inbox.find(new_id()) == []
    assert await store.inbox.get("fr-ase", shared) is None
    assert [r.message_id for r in await store.inbox.of_case("case-a")] == [a.message_id, c.message_id]
    page = await store.inbox.page(2, 0)
    assert [r.message_id for r in page] == [c.message_id, b.message_id]
    assert [r.seq for r in page] == [3, 2]
    rest = await store.inbox.page(10, page[-1].seq)
    assert [(type(r), r.message_id) for r in rest] == [(InboxRow, a.message_id)]


async def test_receipts_are_the_stored_ones_of_the_askers_own_messages(store: Store) -> None:
    """receipts(sender, ids) answers the receipt given at storing, only for rows from that sender."""
    shared = new_id()
    mine, theirs = incoming("al-shss", message_id=shared), incoming("it-dgi", message_id=shared)
    other = incoming("al-shss")
    outcomes = await store.inbox.add([mine, theirs, other], Signer())
    unknown = new_id()
    assert await store.inbox.receipts("al-shss", [shared, unknown, other.message_id]) == {
        shared: outcomes[0].receipt,
        other.message_id: outcomes[2].receipt,
    }
    assert await store.inbox.receipts("it-dgi", [other.message_id, shared]) == {shared: outcomes[1].receipt}
    assert await store.inbox.receipts("fr-ase", [shared]) == {}
    assert await store.inbox.receipts("al-shss", []) == {}


# --- directory documents -----------------------------------------------------------------


async def test_saving_directory_documents_logs_events_only_for_new_ones_in_sorted_order(store: Store) -> None:
    """A document already stored is neither replaced nor logged; new ones log DIRECTORY_ACCEPTED sorted."""
    await store.directory.save([("root", "root", 1, b"root v1"), ("node", "it-dgi", 1, b"it v1")], 100)
    size = store.audit.size
    await store.directory.save([("root", "root", 1, b"other bytes"), ("node", "it-dgi", 2, b"it v2")], 200)
    await store.directory.save([], 300)
    logged = [events.decode(leaf) for leaf in await log_of(store)]
    assert [(e.document_kind, e.document_name, e.document_version) for e in logged] == [
        ("node", "it-dgi", 1),
        ("root", "root", 1),
        ("node", "it-dgi", 2),
    ]
    assert size == 2
    assert logged[-1].document_sha256 == hashlib.sha256(b"it v2").digest()
    assert logged[-1].at_ms == 200
    assert {kind(leaf) for leaf in await log_of(store)} == {"DIRECTORY_ACCEPTED"}
    assert await store.directory.document("root", "root", 1) == b"root v1"


async def test_only_the_newest_bundle_is_kept(store: Store) -> None:
    """Storing a bundle drops the older ones; load and the read view give the newest."""
    await store.directory.save([("bundle", "", 1, b"bundle 1")], 100)
    await store.directory.save([("bundle", "", 2, b"bundle 2")], 200)
    assert await store.directory.document("bundle", "", 1) is None
    assert await store.directory.document("bundle", "", 2) == b"bundle 2"
    assert (await store.directory.load())[2] == b"bundle 2"
    assert await store.audit.read(lambda view: view.stored_bundle()) == b"bundle 2"
    assert store.audit.size == 2


async def test_a_bundle_older_than_the_stored_one_does_not_replace_it(store: Store) -> None:
    """Saving an older bundle later (still logged as accepted) leaves the newer one as the last bundle."""
    await store.directory.save([("bundle", "", 5, b"bundle 5")], 100)
    await store.directory.save([("bundle", "", 3, b"bundle 3")], 200)
    assert (await store.directory.load())[2] == b"bundle 5"
    assert await store.audit.read(lambda view: view.stored_bundle()) == b"bundle 5"
    assert await kinds_from(store) == ["DIRECTORY_ACCEPTED", "DIRECTORY_ACCEPTED"]


async def test_load_gives_the_roots_oldest_first_the_highest_versions_and_the_last_bundle(store: Store) -> None:
    """load: root documents by version, the highest version per (kind, name) except bundles, the bundle."""
    assert await store.directory.load() == ([], {}, None)
    await store.directory.save(
        [
            ("root", "root", 2, b"root v2"),
            ("root", "root", 1, b"root v1"),
            ("node", "it-dgi", 3, b"it v3"),
            ("node", "it-dgi", 1, b"it v1"),
            ("bundle", "", 4, b"bundle 4"),
        ],
        100,
    )
    roots, accepted, bundle = await store.directory.load()
    assert roots == [b"root v1", b"root v2"]
    assert accepted == {("root", "root"): 2, ("node", "it-dgi"): 3}
    assert bundle == b"bundle 4"
    assert await store.directory.document("node", "it-dgi", 2) is None


# --- audit log ---------------------------------------------------------------------------


async def test_record_appends_leaves_indexes_the_case_and_sets_meta(store: Store) -> None:
    """record returns the first index, indexes every leaf under the case, and makes meta visible."""
    assert await store.audit.record([b"one", b"two"], "case-a", meta={"key_status": "active"}) == 0
    assert await store.audit.record([b"three"], meta={"key_status": "revoked", "other": "x"}) == 2
    assert await store.audit.record([]) == 3
    assert (await store.audit.meta("key_status"), await store.audit.meta("other")) == ("revoked", "x")
    assert await store.audit.meta("never-set") is None
    assert await store.audit.case_indices("case-a") == [0, 1]
    assert await log_of(store) == [b"one", b"two", b"three"]


async def test_a_failing_record_sets_no_meta_and_appends_nothing(store: Store) -> None:
    """A record whose leaves cannot be stored changes neither the log nor meta."""
    with pytest.raises(TypeError):
        await store.audit.record([b"fine", "not bytes"], "case-a", meta={"key_status": "revoked"})  # type: ignore[list-item]
    assert await store.audit.meta("key_status") is None
    assert (store.audit.size, await store.audit.case_indices("case-a")) == (0, [])
    assert await store.audit.record([b"next"]) == 0


async def test_events_are_newest_first_below_before_and_by_case(store: Store) -> None:
    """events(limit, before, case_ref) pages the log newest first, optionally one case's events only."""
    for i in range(6):
        await store.audit.record([f"event {i}".encode()], "case-a" if i % 2 else "")
    assert await store.audit.events(2, 0) == [(5, b"event 5"), (4, b"event 4")]
    assert await store.audit.events(10, 2) == [(1, b"event 1"), (0, b"event 0")]
    assert await store.audit.events(10, 0, "case-a") == [(5, b"event 5"), (3, b"event 3"), (1, b"event 1")]
    assert await store.audit.events(1, 5, "case-a") == [(3, b"event 3")]
    assert await store.audit.events(10, 0, "case-z") == []
    assert await store.audit.events(0, 0) == []
    assert await store.audit.case_indices("case-a") == [1, 3, 5]


async def test_add_checkpoint_keeps_the_first_checkpoint_for_a_size(store: Store) -> None:
    """A second checkpoint of the same size is not kept; the first one is returned."""
    first, second = checkpoint(3, b"r" * 32, 100), checkpoint(3, b"s" * 32, 200)
    assert await store.audit.add_checkpoint(3, first, 100) == first
    assert await store.audit.add_checkpoint(3, second, 200) == first
    assert await store.audit.checkpoint_at(3) == first
    assert await store.audit.checkpoint_at(4) is None
    assert store.audit.size == 0


async def test_the_latest_checkpoint_comes_with_its_cosignatures_by_witness(store: Store) -> None:
    """latest_checkpoint is the largest size with its cosignatures ordered by witness; a newer one replaces."""
    assert await store.audit.latest_checkpoint() is None
    small, large = checkpoint(1, b"a" * 32), checkpoint(2, b"b" * 32)
    await store.audit.add_checkpoint(2, large, 20)
    await store.audit.add_checkpoint(1, small, 10)
    assert await store.audit.latest_checkpoint() == (large, [])
    await store.audit.add_cosignature(2, "it-dgi", cosignature("it-dgi", 1))
    await store.audit.add_cosignature(2, "al-shss", cosignature("al-shss"))
    await store.audit.add_cosignature(2, "it-dgi", cosignature("it-dgi", 2))
    expected = [cosignature("al-shss"), cosignature("it-dgi", 2)]
    assert await store.audit.latest_checkpoint() == (large, expected)
    assert await store.audit.cosignatures(2) == expected
    assert await store.audit.cosignatures(1) == []
    assert store.audit.size == 0


async def test_the_latest_cosigned_checkpoint_is_the_newest_one_a_witness_cosigned(store: Store) -> None:
    """A newer checkpoint without cosignatures does not hide an older cosigned one."""
    assert await store.audit.latest_cosigned_checkpoint() is None
    for size in (1, 2, 3):
        await store.audit.add_checkpoint(size, checkpoint(size, bytes([size]) * 32), size)
    await store.audit.add_cosignature(9, "it-dgi", cosignature("it-dgi"))  # no checkpoint of size 9
    assert await store.audit.latest_cosigned_checkpoint() is None
    await store.audit.add_cosignature(2, "it-dgi", cosignature("it-dgi"))
    assert await store.audit.latest_cosigned_checkpoint() == (checkpoint(2, bytes([2]) * 32), [cosignature("it-dgi")])


async def test_set_witnessed_never_replaces_a_checkpoint_with_a_smaller_one(store: Store) -> None:
    """The kept partner checkpoint only moves forward (an equal size replaces); every call logs its event."""
    assert await store.audit.witnessed("it-dgi") is None

    def cosigned(size: int) -> bytes:
        return events.cosigned(at_ms=size, peer="it-dgi", size=size, root=bytes([size]) * 32)

    await store.audit.set_witnessed("it-dgi", 5, b"cp 5", cosigned(5), 100)
    await store.audit.set_witnessed("it-dgi", 3, b"cp 3", cosigned(3), 200)
    assert await store.audit.witnessed("it-dgi") == b"cp 5"
    await store.audit.set_witnessed("it-dgi", 5, b"cp 5 again", cosigned(5), 300)
    assert await store.audit.witnessed("it-dgi") == b"cp 5 again"
    await store.audit.set_witnessed("it-dgi", 8, b"cp 8", cosigned(8), 400)
    assert await store.audit.witnessed("it-dgi") == b"cp 8"
    assert await store.audit.witnessed("al-shss") is None
    assert await log_of(store) == [cosigned(5), cosigned(3), cosigned(5), cosigned(8)]


async def test_a_declared_restore_is_kept_and_the_old_epoch_is_no_longer_witnessed(store: Store) -> None:
    """record_restore keeps the evidence with its event and forgets the witnessed checkpoint, so the
    new epoch's smaller checkpoint can be kept; other logs are untouched."""

    def cosigned(peer: str, size: int) -> bytes:
        return events.cosigned(at_ms=size, peer=peer, size=size, root=bytes([size]) * 32)

    await store.audit.set_witnessed("it-dgi", 9, b"cp 9", cosigned("it-dgi", 9), 100)
    await store.audit.set_witnessed("al-shss", 4, b"al 4", cosigned("al-shss", 4), 100)
    restored = events.peer_restored(
        at_ms=200, peer="it-dgi", epoch=1, size=5, root=bytes(32), lost_to=9, declaration=b"decl"
    )
    await store.audit.record_restore("it-dgi", b"evidence 1", restored, 200)
    assert await store.audit.witnessed("it-dgi") is None
    assert await store.audit.witnessed("al-shss") == b"al 4"
    await store.audit.set_witnessed("it-dgi", 6, b"epoch 1 cp 6", cosigned("it-dgi", 6), 300)
    assert await store.audit.witnessed("it-dgi") == b"epoch 1 cp 6"
    assert await store.audit.restores() == [b"evidence 1"]
    assert (await log_of(store))[2] == restored
    assert await store.audit.alarms() == []


async def test_alarms_are_kept_in_order_with_their_events(store: Store) -> None:
    """Each alarm is kept for good, in the order raised, and logs its WITNESS_ALARM event."""
    assert await store.audit.alarms() == []
    for reason in ("fork", "shrank"):
        event = events.witness_alarm(at_ms=1, peer="it-dgi", size=4, root=b"r" * 32, reason=reason)
        await store.audit.add_alarm("it-dgi", alarm(reason), event, 1)
    assert await store.audit.alarms() == [alarm("fork"), alarm("shrank")]
    assert await kinds_from(store) == ["WITNESS_ALARM", "WITNESS_ALARM"]
    assert await store.audit.read(lambda view: view.alarms()) == [alarm("fork"), alarm("shrank")]


async def one_of_each(store: Store) -> list[str]:
    """One write of every kind that logs; the event kinds they append, in order."""
    sent = outgoing(case_ref="case-a", expires_at_ms=500)
    refused, delivered = outgoing(), outgoing()
    await store.outbox.add([sent, refused, delivered])
    await store.outbox.mark_final(refused.message_id, DeliveryState.FAILED, "refused", REPLAY, 100)
    await store.outbox.mark_delivered([Delivered(delivered.message_id, b"receipt", 200, 3)])
    await store.outbox.expire(500)
    await store.inbox.add([incoming(case_ref="case-a")], Signer())
    await store.directory.save([("node", "it-dgi", 1, b"it v1")], 300)
    read = events.read(at_ms=400, actor="officer", case_ref="case-a", message_id=sent.message_id, peer="al", digest=b"")
    await store.audit.record([read], "case-a")
    await store.audit.set_witnessed("it-dgi", 1, b"cp", events.cosigned(at_ms=1, peer="it-dgi", size=1, root=b""), 1)
    await store.audit.add_alarm(
        "it-dgi", alarm("fork"), events.witness_alarm(at_ms=1, peer="x", size=1, root=b"", reason="f"), 1
    )
    return ["SENT"] * 3 + [
        "REFUSED_BY_PEER",
        "RECEIPTED",
        "EXPIRED",
        "DELIVERED",
        "DIRECTORY_ACCEPTED",
        "READ",
        "COSIGNED",
        "WITNESS_ALARM",
    ]


async def test_leaves_decode_into_the_kinds_of_the_writes_that_logged_them(store: Store) -> None:
    """Every write appends exactly its own events, in the order the writes committed."""
    expected = await one_of_each(store)
    assert await kinds_from(store) == expected
    assert await store.audit.case_indices("case-a") == [0, 5, 6, 8]


async def test_the_read_view_gives_the_reference_roots_and_proofs(store: Store) -> None:
    """Roots, inclusion and consistency proofs of every size equal what crypto.merkle computes from the leaves."""
    await one_of_each(store)
    await store.audit.record([f"extra {i}".encode() for i in range(6)])
    leaves = await log_of(store)
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    n = len(leaves)

    def check(view: AuditView) -> None:
        assert (view.size, view.stored_size()) == (n, n)
        assert view.root() == merkle.tree_root(hashes)
        assert view.root(0) == hashlib.sha256(b"").digest()
        assert [view.leaf(i) for i in range(n)] == leaves
        assert view.leaves(2, 5) == [(i, leaves[i]) for i in range(2, 5)]
        assert view.leaves_from(n - 2, 10) == [(n - 2, leaves[n - 2]), (n - 1, leaves[n - 1])]
        for size in range(1, n + 1):
            root = view.root(size)
            assert root == merkle.tree_root(hashes[:size])
            for index in range(size):
                proof = view.inclusion_proof(index, size)
                assert proof == merkle.inclusion_path(index, hashes[:size])
                assert merkle.root_from_inclusion(index, size, hashes[index], proof) == root
            assert merkle.verify_consistency(size, n, root, view.root(), view.consistency_proof(size))
        for bad in (lambda: view.root(n + 1), lambda: view.inclusion_proof(0, n + 1)):
            with pytest.raises(ValueError, match="no tree of size"):
                bad()
        with pytest.raises(ValueError, match="no tree of size"):
            view.consistency_proof(1, n + 1)
        with pytest.raises(ValueError, match="no leaf"):
            view.leaf(n)

    await store.audit.read(check)


async def test_the_read_view_is_whole_and_matches_the_checkpoints_kept(store: Store) -> None:
    """find_damage finds nothing, check_log passes with a true checkpoint and fails with a false one."""
    await one_of_each(store)
    n = store.audit.size
    root = await store.audit.read(lambda view: view.root())
    await store.audit.add_checkpoint(n, checkpoint(n, root), 10)
    await store.audit.add_cosignature(n, "it-dgi", cosignature("it-dgi"))

    def check(view: AuditView) -> tuple[bool, list[bool], int, list[str]]:
        assert find_damage(view) is None
        report = check_log(view, directory=None)
        return report.ok, [c.matches for c in report.checkpoints], report.size, [a.reason for a in report.alarms if a]

    assert await store.audit.read(check) == (True, [True], n, ["fork"])
    assert await store.audit.read(lambda view: view.checkpoints()) == [
        (n, checkpoint(n, root), [cosignature("it-dgi")])
    ]
    await store.audit.add_checkpoint(n - 1, checkpoint(n - 1, b"\x00" * 32), 20)
    report = await store.audit.read(lambda view: check_log(view, directory=None))
    assert (report.ok, report.first_bad_index) == (False, n - 1)


async def test_the_read_view_sees_the_committed_size(store: Store) -> None:
    """Inside read, the view's size is what the store reports committed when it runs."""
    await store.audit.record([b"a", b"b"])
    assert await store.audit.read(lambda view: (view.size, view.stored_size())) == (2, 2)
    await store.audit.record([b"c"])
    assert await store.audit.read(lambda view: view.size) == store.audit.size == 3


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(st.binary(max_size=12), max_size=9), min_size=1, max_size=6))
async def test_batches_appended_in_any_grouping_give_the_reference_root(
    store: Store, batches: list[list[bytes]]
) -> None:
    """However leaves are grouped into writes, the log's root is merkle.tree_root of all of them."""
    start = store.audit.size  # the store is shared by the examples: the log keeps growing
    for batch in batches:
        assert await store.audit.record(batch) == store.audit.size - len(batch)
    leaves = await log_of(store)
    assert leaves[start:] == [leaf for batch in batches for leaf in batch]

    def check(view: AuditView) -> tuple[bytes, bool]:
        return view.root(), find_damage(view) is None

    assert await store.audit.read(check) == (merkle.tree_root([merkle.leaf_hash(x) for x in leaves]), True)


# --- both backends, one random history -----------------------------------------------------


async def test_unconfirmed_lists_a_recipients_expired_entries_oldest_first(store: Store) -> None:
    """Only EXPIRED entries, per recipient, in submission order, up to the limit."""
    rows = [outgoing("al-shss", expires_at_ms=10), outgoing("it-dgi", expires_at_ms=10), outgoing("al-shss")]
    rows += [outgoing("al-shss", expires_at_ms=20)]
    await store.outbox.add(rows)
    assert await store.outbox.unconfirmed("al-shss", 10) == []
    assert await store.outbox.recipients_with_unconfirmed() == []
    await store.outbox.expire(50)
    al = [Unconfirmed(r.message_id, r.digest, r.expires_at_ms) for r in (rows[0], rows[3])]
    assert await store.outbox.unconfirmed("al-shss", 10) == al
    assert await store.outbox.unconfirmed("al-shss", 1) == al[:1]
    assert await store.outbox.unconfirmed("fr-ase", 10) == []
    assert sorted(await store.outbox.recipients_with_unconfirmed()) == ["al-shss", "it-dgi"]


async def test_a_late_receipt_settles_an_expired_entry_as_delivered(store: Store) -> None:
    """mark_delivered closes an EXPIRED entry too (RECEIPTED after EXPIRED); then it is no longer unconfirmed."""
    row = outgoing(expires_at_ms=10, case_ref="case-r")
    await store.outbox.add([row])
    await store.outbox.expire(50)
    await store.outbox.mark_delivered([Delivered(row.message_id, b"the receipt", 70, 9)])
    got = await store.outbox.get(row.message_id)
    assert got is not None
    assert (got.state, got.receipt, got.last_error) == (DeliveryState.DELIVERED, b"the receipt", "")
    assert await kinds_from(store) == ["SENT", "EXPIRED", "RECEIPTED"]
    assert await store.outbox.unconfirmed("al-shss", 10) == []
    await store.outbox.mark_not_received([row.message_id], 80)  # settled: nothing changes
    assert await store.outbox.get(row.message_id) == got
    assert store.audit.size == 3


async def test_mark_not_received_closes_only_expired_entries_with_not_received_events(store: Store) -> None:
    """EXPIRED entries become NOT_RECEIVED (events by id); queued, failed, delivered and unknown ones stay."""
    gone = [outgoing(expires_at_ms=10, case_ref="case-n") for _ in range(2)]
    queued, failed = outgoing(), outgoing(expires_at_ms=10)
    await store.outbox.add([*gone, queued, failed])
    await store.outbox.mark_final(failed.message_id, DeliveryState.FAILED, "refused", REPLAY, 5)
    await store.outbox.expire(50)
    others = [await store.outbox.get(r.message_id) for r in (queued, failed)]
    size = store.audit.size
    await store.outbox.mark_not_received([queued.message_id, *reversed([r.message_id for r in gone])], 90)
    await store.outbox.mark_not_received([failed.message_id, new_id()], 91)
    await store.outbox.mark_not_received([], 92)
    logged = [events.decode(leaf) for leaf in (await log_of(store))[size:]]
    assert [(e.kind, e.message_id, e.at_ms, e.case_ref) for e in logged] == [
        (events.Kind.AUDIT_EVENT_KIND_NOT_RECEIVED, mid, 90, "case-n") for mid in sorted(r.message_id for r in gone)
    ]
    for r in gone:
        got = await store.outbox.get(r.message_id)
        assert got is not None
        assert (got.state, got.last_error) == (DeliveryState.NOT_RECEIVED, NOT_RECEIVED)
    assert [await store.outbox.get(r.message_id) for r in (queued, failed)] == others
    assert await store.outbox.unconfirmed("al-shss", 10) == []


PEERS = ("al-shss", "it-dgi", "fr-ase")
OPS = (
    "send",
    "send-twice",
    "receive",
    "deliver",
    "refuse",
    "retry",
    "expire",
    "not-received",
    "record",
    "directory",
    "witness",
)
Op = tuple[str, int, int, int]


def _send(step: int, a: int, b: int, c: int) -> NewOutbox:
    return NewOutbox(
        message_id=step.to_bytes(16, "big"),
        recipient=PEERS[a % 3],
        peer_sequence=step,
        envelope=b"env %d" % step,
        digest=hashlib.sha256(b"%d" % step).digest(),
        local_copy=b"local %d" % step,
        created_at_ms=10 * step,
        expires_at_ms=10 * step + 30 * (c + 1),
        client_request_id=f"req-{b}" if b else None,
        case_ref=f"case-{c}" if c else "",
    )


def _receive(step: int, a: int, b: int, c: int) -> NewInbox:
    return NewInbox(
        sender=PEERS[a % 3],
        message_id=b.to_bytes(16, "big"),
        envelope=b"env %d" % step,
        digest=hashlib.sha256(bytes([b, c % 2])).digest(),
        local_copy=b"local %d" % step,
        received_at_ms=10 * step,
        expires_at_ms=10 * step + 1_000,
        case_ref=f"case-{c}" if c else "",
        sequence=step,
    )


async def _apply(store: Store, step: int, op: Op, sent: list[bytes]) -> Any:
    """One operation of a random history; what the store answered."""
    name, a, b, c = op
    if name in ("send", "send-twice"):
        rows = [_send(step, a, b, c)] + ([_send(step + 1_000, a, b, c)] if name == "send-twice" else [])
        ids = await store.outbox.add(rows)
        sent.extend(r.message_id for r in rows)
        return ids
    if name == "receive":
        copies = [_receive(step, a, b, c)] * (1 + c // 2)
        return await store.inbox.add(copies, Signer())
    if name == "expire":
        return await store.outbox.expire(10 * step)
    if name == "record":
        return await store.audit.record(
            [b"event %d %d" % (step, i) for i in range(a)], f"case-{c}", meta={f"k{b}": f"{step}"}
        )
    if name == "directory":
        return await store.directory.save(
            [("bundle", "", a + b, b"bundle %d" % step), ("node", f"n{c}", b, b"n")], step
        )
    if name == "witness":
        event = events.cosigned(at_ms=step, peer="it-dgi", size=a + c, root=b"")
        return await store.audit.set_witnessed("it-dgi", a + c, b"cp %d" % step, event, step)
    if not sent:
        return None
    target = sent[(a * 7 + b) % len(sent)]
    if name == "deliver":
        return await store.outbox.mark_delivered([Delivered(target, b"receipt %d" % step, 10 * step, c)])
    if name == "not-received":
        return await store.outbox.mark_not_received([target, sent[b % len(sent)]], 10 * step)
    if name == "refuse":
        return await store.outbox.mark_final(target, DeliveryState.FAILED, f"refused {step}", REPLAY, 10 * step)
    return await store.outbox.schedule_retry([(target, 10 * step + a, f"retry {step}")])


async def _observe(store: Store) -> list[Any]:
    """Everything the store answers about its contents."""
    audit = store.audit
    root = await audit.read(lambda view: (view.root(), find_damage(view)))
    return [
        await audit.events(MANY, 0),
        audit.size,
        root,
        await store.outbox.page(MANY, 0),
        await store.inbox.page(MANY, 0),
        await store.outbox.last_sequences(),
        sorted(await store.outbox.recipients_with_queued()),
        sorted(await store.outbox.recipients_with_unconfirmed()),
        [await store.outbox.unconfirmed(p, 3) for p in PEERS],
        [await store.inbox.receipts(p, [b.to_bytes(16, "big") for b in range(4)]) for p in PEERS],
        [await store.outbox.due(p, 10**9, MANY, set()) for p in PEERS],
        [await store.outbox.next_due_ms(p, set()) for p in PEERS],
        await store.directory.load(),
        await audit.witnessed("it-dgi"),
        [await audit.meta(f"k{b}") for b in range(4)],
        [await audit.case_indices(f"case-{c}") for c in range(4)],
    ]


@settings(max_examples=60, deadline=None)
@given(history=st.lists(st.tuples(st.sampled_from(OPS), *[st.integers(0, 3)] * 3), min_size=1, max_size=20))
async def test_both_backends_answer_any_history_the_same(history: list[Op]) -> None:
    """Any sequence of writes gives the same answers, rows, leaves and root on SQLite and in memory."""
    with tempfile.TemporaryDirectory() as tmp:
        stores = [await open_store("sqlite", Path(tmp) / "node.sqlite"), MemoryStore()]
        try:
            answers: list[list[Any]] = [[], []]
            for store, out in zip(stores, answers, strict=True):
                sent: list[bytes] = []
                for step, op in enumerate(history, start=1):
                    out.append(await _apply(store, step, op, sent))
                out.append(await _observe(store))
            assert answers[0] == answers[1]
            leaves = [leaf for _, leaf in reversed(answers[1][-1][0])]
            assert answers[1][-1][2] == (merkle.tree_root([merkle.leaf_hash(x) for x in leaves]), None)
        finally:
            for store in stores:
                await store.close()


# --- the in-memory store's own hooks (SQLite has none; no difference in behaviour) ------------


async def test_failing_writes_change_nothing_until_the_disk_heals() -> None:
    """fail_next_writes(n) makes the next n writes raise StorageError, after signing, with nothing stored."""
    store = MemoryStore()
    store.fail_next_writes(2)
    sign = Signer()
    row = incoming(case_ref="case-a")
    with pytest.raises(StorageError, match="simulated disk failure"):
        await store.inbox.add([row], sign)
    assert len(sign.calls) == 1  # the receipt was signed, then the commit failed
    with pytest.raises(StorageError):
        await store.audit.record([b"event"], meta={"k": "v"})
    assert await store.outbox.add([]) == []  # no transaction: does not count
    assert (store.audit.size, await store.inbox.count(), await store.audit.meta("k"), store.failing_writes) == (
        0,
        0,
        None,
        0,
    )
    assert await store.audit.case_indices("case-a") == []
    await store.inbox.add([row], sign)
    assert sign.calls[-1] == [(row, 0)]
    assert ((await store.inbox.page(1, 0))[0].seq, store.commits) == (1, 1)
    store.fail_next_writes(1)
    store.fail_next_writes(0)
    await store.outbox.add([outgoing()])
    assert MemoryStore(fail_writes=1).failing_writes == 1


async def test_rows_handed_out_cannot_change_the_stored_state() -> None:
    """Rows are frozen and returned lists are copies."""
    store = MemoryStore()
    row = outgoing(case_ref="case-a")
    await store.outbox.add([row])
    await store.audit.add_cosignature(1, "it-dgi", b"cosig")
    got = await store.outbox.get(row.message_id)
    assert got is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.state = DeliveryState.DELIVERED  # type: ignore[misc]
    (await store.outbox.of_case("case-a")).clear()
    (await store.audit.case_indices("case-a")).append(99)
    (await store.audit.cosignatures(1)).clear()
    (await store.audit.events(10, 0)).clear()
    assert [r.message_id for r in await store.outbox.of_case("case-a")] == [row.message_id]
    assert await store.audit.case_indices("case-a") == [0]
    assert await store.audit.cosignatures(1) == [b"cosig"]
    assert store.audit.size == 1


async def test_a_closed_memory_store_refuses_writes() -> None:
    """After close, writes and log reads raise StorageError."""
    store: Store = MemoryStore()
    await store.close()
    with pytest.raises(StorageError, match="closed"):
        await store.audit.record([b"late"])
    with pytest.raises(StorageError, match="closed"):
        await store.audit.read(lambda view: view.size)
