"""The case store's contract (``focalpoint.storage.base.CaseStore``): every test taking ``store``
runs on SQLite and in memory. Links are one per (case reference, partner); ``apply`` stores each
event once, moves cursors only from where they stand, and writes everything with its audit leaves
or nothing; the worklist pages newest update first; parked messages come back until unparked. A
property replays random applications on both backends and compares every answer."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focalpoint.audit import events as audit_events
from focalpoint.audit.verify import check_log
from focalpoint.cases import mint_case_ref
from focalpoint.cases.events import Origin
from focalpoint.cases.stages import Side, Stage
from focalpoint.errors import Conflict, FocalpointError, NotFound, StorageError
from focalpoint.storage.base import (
    CaseApplied,
    CaseEventRow,
    CaseWrite,
    CursorMove,
    LinkRow,
    LinkUpdate,
    NewCaseEvent,
    NewLink,
    ParkedMessage,
    ParkedRow,
    Store,
)
from focalpoint.storage.memory import MemoryStore
from tests.storage.conftest import open_store

PARTNER = "al-shss"


# --- helpers -----------------------------------------------------------------------------


def new_link(
    case_id: str = "case-1",
    *,
    partner: str = PARTNER,
    case_ref: str | None = None,
    unit: str = "unit-a",
    created_at_ms: int = 1_000,
    stage: Stage = Stage.OPEN,
    link_id: str | None = None,
) -> NewLink:
    return NewLink(
        link_id=link_id or "link-" + os.urandom(6).hex(),
        case_id=case_id,
        case_ref=case_ref or mint_case_ref("GR", os.urandom),
        partner_node=partner,
        partner_state=partner[:2].upper(),
        our_side=Side.IS,
        unit=unit,
        created_at_ms=created_at_ms,
        payload=b"sealed " + os.urandom(12),
        stage=stage,
    )


def event(link_id: str, *, message_id: bytes | None = None, at_ms: int = 2_000, sequence: int = 1) -> NewCaseEvent:
    return NewCaseEvent(
        link_id=link_id,
        message_id=message_id or os.urandom(16),
        origin=Origin.RECEIVED,
        kind="notification",
        at_ms=at_ms,
        sender_node=PARTNER,
        sequence=sequence,
        payload=b"sealed event " + os.urandom(12),
    )


def update(
    link_id: str, *, at_ms: int = 3_000, unit: str = "unit-a", closed: bool = False, **changes: Any
) -> LinkUpdate:
    fields: dict[str, Any] = {
        "stage": Stage.CLOSED if closed else Stage.NOTIFIED,
        "stage_since_ms": at_ms,
        "urgency": 2,
        "gate_missing": "G2,G4",
        "next_due_ms": at_ms + 86_400_000,
        "flagged": 1,
    } | changes
    return LinkUpdate(link_id=link_id, closed=closed, updated_at_ms=at_ms, unit=unit, **fields)


def status_leaf(case_ref: str, status: str, at_ms: int = 3_000) -> bytes:
    return audit_events.status_changed(at_ms=at_ms, actor="", case_ref=case_ref, status=status)


def parked_message(*, sender: str = PARTNER, message_id: bytes | None = None, at_ms: int = 4_000) -> ParkedMessage:
    return ParkedMessage(
        sender=sender,
        message_id=message_id or os.urandom(16),
        case_ref=mint_case_ref("AL", os.urandom),
        kind="notification",
        at_ms=at_ms,
        reason="no link has this case reference",
    )


async def snapshot(store: Store, link_ids: list[str], sources: list[str]) -> list[Any]:
    """Everything the case store answers about the given links and cursors, and the log's size."""
    cases = store.cases
    return [
        [await cases.link(i) for i in link_ids],
        [await cases.events(i) for i in link_ids],
        [await cases.cursor(s) for s in sources],
        await cases.worklist(None, limit=1_000, include_closed=True),
        await cases.parked(1_000, 0),
        store.audit.size,
    ]


# --- links -------------------------------------------------------------------------------


async def test_a_new_link_is_found_by_id_by_reference_and_partner_and_among_its_cases_links(store: Store) -> None:
    """create_link stores the link as given, starting in its stage since its creation with nothing
    due, flagged or missing; each of a case's links (one per partner) is found all three ways."""
    first = new_link(created_at_ms=1_000)
    second = new_link(partner="it-dgi", created_at_ms=1_500, stage=Stage.RECEIVED, unit="")
    other_case = new_link("case-2")
    for link in (first, second, other_case):
        await store.cases.create_link(link)
    got = await store.cases.link(second.link_id)
    assert got == LinkRow(
        link_id=second.link_id,
        case_id="case-1",
        case_ref=second.case_ref,
        partner_node="it-dgi",
        partner_state="IT",
        our_side=Side.IS,
        unit="",
        created_at_ms=1_500,
        stage=Stage.RECEIVED,
        stage_since_ms=1_500,
        urgency=0,
        gate_missing="",
        next_due_ms=None,
        flagged=0,
        closed=False,
        updated_at_ms=1_500,
        payload=second.payload,
    )
    assert await store.cases.link_by_ref(first.case_ref, PARTNER) == await store.cases.link(first.link_id)
    assert await store.cases.link_by_ref(first.case_ref, "it-dgi") is None
    assert [r.link_id for r in await store.cases.links_of_case("case-1") if isinstance(r, LinkRow)] == [
        first.link_id,
        second.link_id,
    ]
    assert await store.cases.link("no-such-link") is None
    assert await store.cases.links_of_case("no-such-case") == []


async def test_a_second_link_of_one_case_reference_to_one_partner_is_a_conflict_that_changes_nothing(
    store: Store,
) -> None:
    """The same (case reference, partner) or the same link id: Conflict, naming neither the case
    reference nor anything of the case, and nothing else of the write is stored; another partner
    for the same reference is a link of its own."""
    link = new_link()
    await store.cases.create_link(link, [status_leaf(link.case_ref, "OPEN")])
    before = await snapshot(store, [link.link_id], [])
    twin = new_link("case-9", case_ref=link.case_ref)
    with pytest.raises(Conflict, match=f"already has a link to {PARTNER} \\(link {link.link_id}\\)") as refused:
        await store.cases.apply(
            CaseWrite(links=[twin], events=[event(twin.link_id)], leaves=[(status_leaf(twin.case_ref, "OPEN"), "")])
        )
    assert link.case_ref not in str(refused.value)
    with pytest.raises(Conflict, match=f"case link {link.link_id} already exists"):
        await store.cases.create_link(new_link(link_id=link.link_id))
    both = new_link(case_ref=link.case_ref.replace("GR", "IT"))
    with pytest.raises(Conflict, match="already has a link"):  # twice in one write: the second one
        await store.cases.apply(CaseWrite(links=[both, new_link(case_ref=both.case_ref)]))
    assert await store.cases.link(twin.link_id) is None
    assert await store.cases.link(both.link_id) is None
    assert await snapshot(store, [link.link_id], []) == before
    elsewhere = new_link(partner="it-dgi", case_ref=link.case_ref)
    await store.cases.create_link(elsewhere)
    assert await store.cases.link_by_ref(link.case_ref, "it-dgi") == await store.cases.link(elsewhere.link_id)


# --- apply: events, updates, leaves ----------------------------------------------------------


async def test_apply_stores_each_event_once_and_reports_only_the_new_ones(store: Store) -> None:
    """An event already stored, or given twice in one write, is stored once; ``new_events`` names
    the new ones in the order given; ``events`` gives a link's events in the order stored, payload as given."""
    link, other = new_link(), new_link("case-2")
    await store.cases.create_link(link)
    await store.cases.create_link(other)
    a, b, c = event(link.link_id, sequence=1), event(link.link_id, sequence=2), event(link.link_id, sequence=3)
    same_id_elsewhere = event(other.link_id, message_id=a.message_id)
    done = await store.cases.apply(CaseWrite(events=[a, b, a]))
    assert done.new_events == ((link.link_id, a.message_id), (link.link_id, b.message_id))
    again = await store.cases.apply(CaseWrite(events=[b, c, a, same_id_elsewhere]))
    assert again.new_events == ((link.link_id, c.message_id), (other.link_id, a.message_id))
    stored = [e for e in await store.cases.events(link.link_id) if isinstance(e, CaseEventRow)]
    assert [(e.message_id, e.origin, e.kind, e.at_ms, e.sender_node, e.sequence, e.payload) for e in stored] == [
        (x.message_id, x.origin, x.kind, x.at_ms, x.sender_node, x.sequence, x.payload) for x in (a, b, c)
    ]
    assert [e.link_id for e in stored] == [link.link_id] * 3
    assert [e.seq for e in stored] == sorted(e.seq for e in stored)
    elsewhere = [e for e in await store.cases.events(other.link_id) if isinstance(e, CaseEventRow)]
    assert [e.payload for e in elsewhere] == [same_id_elsewhere.payload]
    assert await store.cases.events("no-such-link") == []


async def test_an_event_or_update_of_a_link_that_does_not_exist_is_not_found_and_changes_nothing(
    store: Store,
) -> None:
    """NotFound naming the link id; the events, cursor moves and leaves of the same write are not stored."""
    link = new_link()
    await store.cases.create_link(link)
    before = await snapshot(store, [link.link_id], ["inbox"])
    stray = event("link-gone")
    for write in (
        CaseWrite(cursors=[CursorMove("inbox", 0, 5)], events=[event(link.link_id), stray]),
        CaseWrite(events=[event(link.link_id)], updates=[update("link-gone")], leaves=[(b"leaf", link.case_ref)]),
    ):
        with pytest.raises(NotFound, match="no case link link-gone; nothing was written"):
            await store.cases.apply(write)
    assert await snapshot(store, [link.link_id], ["inbox"]) == before
    assert await store.audit.case_indices(link.case_ref) == []


async def test_an_update_sets_the_worklist_columns_and_keeps_the_payload_unless_it_gives_one(store: Store) -> None:
    """Every column of the update is stored; the link's identity stays; a None payload keeps the sealed data."""
    link = new_link()
    await store.cases.create_link(link)
    await store.cases.apply(CaseWrite(updates=[update(link.link_id, at_ms=7_000, unit="unit-b")]))
    got = await store.cases.link(link.link_id)
    assert got is not None
    assert (got.stage, got.stage_since_ms, got.urgency, got.gate_missing, got.next_due_ms, got.flagged) == (
        Stage.NOTIFIED,
        7_000,
        2,
        "G2,G4",
        7_000 + 86_400_000,
        1,
    )
    assert (got.closed, got.updated_at_ms, got.unit, got.payload) == (False, 7_000, "unit-b", link.payload)
    assert (got.case_ref, got.partner_node, got.created_at_ms) == (link.case_ref, PARTNER, 1_000)
    sealed = b"resealed " + os.urandom(8)
    await store.cases.apply(
        CaseWrite(updates=[update(link.link_id, at_ms=8_000, closed=True, next_due_ms=None, payload=sealed)])
    )
    closed = await store.cases.link(link.link_id)
    assert closed is not None
    assert (closed.stage, closed.closed, closed.next_due_ms, closed.payload) == (Stage.CLOSED, True, None, sealed)


async def test_audit_leaves_are_appended_by_the_same_write_under_their_case_and_the_log_stays_whole(
    store: Store,
) -> None:
    """``first_leaf`` is the index of the first leaf; each leaf is indexed under its case reference;
    the log passes the check; a write without leaves reports the log's size."""
    link = new_link()
    opened = status_leaf(link.case_ref, "OPEN", 1_000)
    await store.cases.create_link(link, [opened])
    await store.audit.record([b"an unrelated event"])
    leaves = [status_leaf(link.case_ref, "NOTIFIED"), status_leaf(link.case_ref, "ACKNOWLEDGED")]
    done = await store.cases.apply(
        CaseWrite(
            events=[event(link.link_id)], updates=[update(link.link_id)], leaves=[(x, link.case_ref) for x in leaves]
        )
    )
    assert done.first_leaf == 2
    assert await store.audit.case_indices(link.case_ref) == [0, 2, 3]
    logged = [leaf for _, leaf in reversed(await store.audit.events(10, 0))]
    assert logged == [opened, b"an unrelated event", *leaves]
    assert [audit_events.decode(x).status for x in (logged[0], *logged[2:])] == ["OPEN", "NOTIFIED", "ACKNOWLEDGED"]
    report = await store.audit.read(lambda view: check_log(view, directory=None))
    assert (report.ok, report.size) == (True, 4)
    quiet = await store.cases.apply(CaseWrite(events=[event(link.link_id)]))
    assert quiet.first_leaf == store.audit.size == 4


async def test_an_empty_write_stores_nothing_and_reports_the_logs_size(store: Store) -> None:
    """No links, events, updates, cursors, parked messages or leaves: no transaction."""
    await store.audit.record([b"one", b"two"])
    assert await store.cases.apply(CaseWrite()) == CaseApplied((), 2)


# --- cursors and all-or-nothing ----------------------------------------------------------


async def test_a_cursor_starts_at_zero_and_moves_only_from_where_it_stands(store: Store) -> None:
    """A move from the stored position succeeds (several in one write chain); a move from any other
    position is a Conflict that stores nothing of its write, so two appliers never both apply a row."""
    link = new_link()
    await store.cases.create_link(link)
    assert await store.cases.cursor("inbox") == 0
    await store.cases.apply(CaseWrite(cursors=[CursorMove("inbox", 0, 3), CursorMove("outbox", 0, 1)]))
    await store.cases.apply(CaseWrite(cursors=[CursorMove("inbox", 3, 5), CursorMove("inbox", 5, 9)]))
    assert (await store.cases.cursor("inbox"), await store.cases.cursor("outbox")) == (9, 1)
    before = await snapshot(store, [link.link_id], ["inbox", "outbox"])
    stale = CaseWrite(
        cursors=[CursorMove("outbox", 1, 2), CursorMove("inbox", 5, 12)],
        events=[event(link.link_id)],
        updates=[update(link.link_id)],
        park=[parked_message()],
        leaves=[(status_leaf(link.case_ref, "NOTIFIED"), link.case_ref)],
    )
    with pytest.raises(Conflict, match="case cursor 'inbox' is at 9, not 5: another writer applied") as refused:
        await store.cases.apply(stale)
    assert link.case_ref not in str(refused.value)
    assert await snapshot(store, [link.link_id], ["inbox", "outbox"]) == before


def test_a_cursor_move_backwards_or_without_a_source_is_refused_when_made() -> None:
    """CursorMove checks 0 <= from <= to and a source name, naming what it got."""
    with pytest.raises(ValueError, match=r"case cursor 'inbox': need 0 <= from <= to, got 5 -> 4"):
        CursorMove("inbox", 5, 4)
    with pytest.raises(ValueError, match="need 0 <= from"):
        CursorMove("inbox", -1, 4)
    with pytest.raises(ValueError, match="needs a source name"):
        CursorMove("", 0, 1)
    assert CursorMove("inbox", 4, 4).to_position == 4


async def test_a_failed_write_changes_nothing_and_the_same_write_applies_whole_afterwards() -> None:
    """The memory store's failing disk: StorageError, no link, event, cursor, parked message or leaf;
    repeated after the disk heals, the same write lands whole, with its events new."""
    store = MemoryStore()
    link = new_link()
    write = CaseWrite(
        links=[link],
        cursors=[CursorMove("inbox", 0, 1)],
        events=[event(link.link_id)],
        updates=[update(link.link_id)],
        park=[parked_message()],
        leaves=[(status_leaf(link.case_ref, "NOTIFIED"), link.case_ref)],
    )
    before = await snapshot(store, [link.link_id], ["inbox"])
    store.fail_next_writes(1)
    with pytest.raises(StorageError, match="simulated disk failure"):
        await store.cases.apply(write)
    assert await snapshot(store, [link.link_id], ["inbox"]) == before
    assert await store.audit.case_indices(link.case_ref) == []
    done = await store.cases.apply(write)
    assert done.new_events == ((link.link_id, write.events[0].message_id),)
    assert (await store.cases.cursor("inbox"), len(await store.cases.parked(10, 0)), store.audit.size) == (1, 1, 1)


# --- the worklist ------------------------------------------------------------------------


async def _links_updated(store: Store, plan: list[tuple[str, int, bool]]) -> list[NewLink]:
    """Links of the given (unit, updated_at_ms, closed), one write each."""
    links = [new_link(f"case-{i}", unit=unit, created_at_ms=1) for i, (unit, _, _) in enumerate(plan)]
    for link, (unit, at_ms, closed) in zip(links, plan, strict=True):
        await store.cases.apply(
            CaseWrite(links=[link], updates=[update(link.link_id, at_ms=at_ms, unit=unit, closed=closed)])
        )
    return links


def _ids(rows: list[Any]) -> list[str]:
    return [r.link_id for r in rows]


async def test_the_worklist_is_newest_update_first_of_one_unit_all_units_or_the_unassigned(store: Store) -> None:
    """Order by updated_at_ms, then link id, both descending; unit None is every unit, "" the
    unassigned; closed links only with include_closed."""
    plan = [("unit-a", 50, False), ("", 70, False), ("unit-b", 60, False), ("unit-a", 90, True), ("unit-a", 80, False)]
    links = await _links_updated(store, plan)
    ids = [link.link_id for link in links]
    assert _ids(await store.cases.worklist(None, limit=10)) == [ids[4], ids[1], ids[2], ids[0]]
    assert _ids(await store.cases.worklist("unit-a", limit=10)) == [ids[4], ids[0]]
    assert _ids(await store.cases.worklist("", limit=10)) == [ids[1]]
    assert _ids(await store.cases.worklist("unit-a", limit=10, include_closed=True)) == [ids[3], ids[4], ids[0]]
    assert _ids(await store.cases.worklist(None, limit=2, include_closed=True)) == [ids[3], ids[4]]
    assert await store.cases.worklist("unit-z", limit=10) == []


async def test_paging_the_worklist_gives_every_link_once_even_when_updates_share_a_millisecond(store: Store) -> None:
    """Pages of 3 after the last row's (updated_at_ms, link id): ties in time are ordered by link id
    and none is skipped or repeated."""
    links = await _links_updated(store, [("unit-a", 100 + i // 4, False) for i in range(11)])
    expected = sorted(((link.link_id, 100 + i // 4) for i, link in enumerate(links)), key=lambda x: (x[1], x[0]))
    pages: list[list[str]] = []
    before: tuple[int, str] | None = None
    for _ in range(6):
        page = [r for r in await store.cases.worklist("unit-a", limit=3, before=before) if isinstance(r, LinkRow)]
        if not page:
            break
        pages.append(_ids(page))
        before = (page[-1].updated_at_ms, page[-1].link_id)
    assert [len(p) for p in pages] == [3, 3, 3, 2]
    assert [i for p in pages for i in p] == [link_id for link_id, _ in reversed(expected)]


# --- parked messages ---------------------------------------------------------------------


async def test_a_parked_message_is_listed_newest_first_until_it_is_unparked(store: Store) -> None:
    """park keeps each (sender, message id) once, as first given; parked pages by seq below before;
    unpark removes it (an unknown one is nothing), and parking it again lists it as the newest."""
    first, second, third = parked_message(at_ms=1), parked_message(sender="it-dgi", at_ms=2), parked_message(at_ms=3)
    await store.cases.apply(CaseWrite(park=[first, second]))
    await store.cases.apply(CaseWrite(park=[third, ParkedMessage(PARTNER, first.message_id, "", "other", 9, "again")]))
    listed = await store.cases.parked(10, 0)
    assert [
        (r.sender, r.message_id, r.case_ref, r.kind, r.at_ms, r.reason) for r in listed if isinstance(r, ParkedRow)
    ] == [(p.sender, p.message_id, p.case_ref, p.kind, p.at_ms, p.reason) for p in (third, second, first)]
    assert [r.seq for r in listed] == [3, 2, 1]
    assert [r.message_id for r in await store.cases.parked(1, 3)] == [second.message_id]
    await store.cases.apply(CaseWrite(unpark=[(PARTNER, first.message_id), ("it-dgi", first.message_id)]))
    assert [r.message_id for r in await store.cases.parked(10, 0)] == [third.message_id, second.message_id]
    await store.cases.apply(CaseWrite(unpark=[("nobody", os.urandom(16))]))
    await store.cases.apply(CaseWrite(park=[first]))
    assert [(r.seq, r.message_id) for r in await store.cases.parked(1, 0)] == [(4, first.message_id)]


async def test_unparking_and_linking_a_message_is_one_write(store: Store) -> None:
    """The operator's fix: a new link, the parked message applied to it as an event, unparked, in one write."""
    waiting = parked_message()
    await store.cases.apply(CaseWrite(park=[waiting]))
    link = new_link(case_ref=waiting.case_ref, stage=Stage.RECEIVED)
    done = await store.cases.apply(
        CaseWrite(
            links=[link],
            events=[event(link.link_id, message_id=waiting.message_id)],
            unpark=[(waiting.sender, waiting.message_id)],
        )
    )
    assert done.new_events == ((link.link_id, waiting.message_id),)
    assert await store.cases.parked(10, 0) == []
    assert [e.message_id for e in await store.cases.events(link.link_id)] == [waiting.message_id]


# --- both backends give the same answers ----------------------------------------------------

LINKS = 4
OPS = ("link", "events", "update", "cursor", "park", "unpark", "leaves")
Op = tuple[str, int, int, int]


def _op_write(step: int, op: Op) -> CaseWrite:
    """The write one step of a random history makes (deterministic from the step and its numbers)."""
    name, a, b, c = op
    link_id = f"link-{a}"
    if name == "link":
        ref = f"GR-{b:010d}-Q"
        return CaseWrite(
            links=[
                NewLink(link_id, f"case-{c}", ref, f"node-{c % 2}", "AL", Side.OS, f"unit-{b % 2}", step, b"p%d" % step)
            ],
            leaves=[(status_leaf(ref, "OPEN", step), ref)],
        )
    if name == "events":
        return CaseWrite(
            events=[
                NewCaseEvent(link_id, bytes([b + i]), Origin.SENT, "note", step, "me", step, b"e%d" % step)
                for i in range(c + 1)
            ]
        )
    if name == "update":
        return CaseWrite(
            updates=[update(link_id, at_ms=10 * (b % 2) + c, unit=f"unit-{c % 2}", closed=b == 3, urgency=step)]
        )
    if name == "cursor":
        return CaseWrite(cursors=[CursorMove(f"src-{a % 2}", b, b + c)])
    if name == "park":
        return CaseWrite(park=[ParkedMessage(f"node-{a % 2}", bytes([b]), "GR-0000000000-0", "note", step, "unknown")])
    if name == "unpark":
        return CaseWrite(unpark=[(f"node-{a % 2}", bytes([b]))])
    return CaseWrite(leaves=[(b"leaf %d" % step, f"GR-{b:010d}-Q")])


async def _answer(store: Store, write: CaseWrite) -> Any:
    """What the store answered: its result, or the error's class and message."""
    try:
        return await store.cases.apply(write)
    except FocalpointError as e:
        return (type(e).__name__, str(e))


async def _observe(store: Store) -> list[Any]:
    ids = [f"link-{a}" for a in range(LINKS)]
    return [
        *(await snapshot(store, ids, ["src-0", "src-1"])),
        [await store.cases.links_of_case(f"case-{c}") for c in range(LINKS)],
        [await store.cases.link_by_ref(f"GR-{b:010d}-Q", f"node-{c}") for b in range(LINKS) for c in range(2)],
        [
            await store.cases.worklist(u, limit=3, include_closed=i)
            for u in (None, "unit-0", "unit-1", "")
            for i in (False, True)
        ],
        await store.cases.worklist(None, limit=10, before=(25, "link-2")),
        await store.cases.parked(2, 3),
        [await store.audit.case_indices(f"GR-{b:010d}-Q") for b in range(LINKS)],
        await store.audit.read(lambda view: view.root()),
    ]


@settings(max_examples=60, deadline=None)
@given(history=st.lists(st.tuples(st.sampled_from(OPS), *[st.integers(0, LINKS - 1)] * 3), min_size=1, max_size=25))
async def test_both_backends_answer_any_sequence_of_case_writes_the_same(history: list[Op]) -> None:
    """Any sequence of applications (conflicts and unknown links included) gives SQLite and the
    memory store the same results, errors, rows, cursors, worklists, parked lists and log root."""
    with tempfile.TemporaryDirectory() as tmp:
        stores = [await open_store("sqlite", Path(tmp) / "node.sqlite"), MemoryStore()]
        try:
            answers: list[list[Any]] = [[], []]
            for store, out in zip(stores, answers, strict=True):
                for step, op in enumerate(history, start=1):
                    out.append(await _answer(store, _op_write(step, op)))
                out.append(await _observe(store))
            assert answers[0] == answers[1]
        finally:
            for store in stores:
                await store.close()


async def test_a_withdrawal_reseals_an_event_and_purges_the_inbox_copy_in_the_same_write(store: Store) -> None:
    """reseal replaces a stored event's payload (its derived facts gone); purge_inbox empties a received
    message's local copy; ids, digests and the other events stay."""
    from focalpoint.storage.base import InboxRow, NewInbox

    link = new_link()
    await store.cases.create_link(link)
    a, b = event(link.link_id, sequence=1), event(link.link_id, sequence=2)
    await store.cases.apply(CaseWrite(events=[a, b]))
    received = NewInbox(
        sender=PARTNER,
        message_id=a.message_id,
        envelope=b"envelope",
        digest=b"d" * 32,
        local_copy=b"sealed content",
        received_at_ms=1,
        expires_at_ms=60_000,
    )
    await store.inbox.add([received], lambda fresh: [b"receipt"] * len(fresh))
    await store.cases.apply(
        CaseWrite(reseal=[(link.link_id, a.message_id, b"emptied")], purge_inbox=[(PARTNER, a.message_id)])
    )
    stored = {e.message_id: e for e in await store.cases.events(link.link_id) if isinstance(e, CaseEventRow)}
    assert stored[a.message_id].payload == b"emptied"
    assert stored[b.message_id].payload == b.payload
    row = await store.inbox.get(PARTNER, a.message_id)
    assert isinstance(row, InboxRow)
    assert row.local_copy == b""
    assert row.digest == b"d" * 32
