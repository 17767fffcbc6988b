"""The case store's summaries (``CaseStore.summary`` … ``save_summaries``), on SQLite and in memory:
a new link has a row with no summary, due at once; every write to the link and every receipt for a
message of its case moves its generation on; a summary is stored only if built from the present
generation; the due list names stale, woken and other-context rows; a period's cases are those
with a link whose span reaches into its window."""

from __future__ import annotations

import os

from focalpoint.cases.events import Origin
from focalpoint.storage.base import (
    CaseWrite,
    Delivered,
    LinkUpdate,
    NewCaseEvent,
    NewOutbox,
    NewSummary,
    Store,
    SummaryRow,
)
from tests.storage.test_cases import PARTNER, new_link


def _event(link_id: str, at: int = 2_000) -> NewCaseEvent:
    return NewCaseEvent(link_id, os.urandom(16), Origin.SENT, "social_inquiry_request", at, "gr-ekka", 1, b"sealed")


async def _row(store: Store, link_id: str) -> SummaryRow:
    row = await store.cases.summary(link_id)
    assert row is not None
    return row


def _saved(row: SummaryRow, *, built_from: int | None = None, wake: int | None = None, **span: object) -> NewSummary:
    return NewSummary(
        row.link_id,
        row.generation if built_from is None else built_from,
        "ctx",
        wake,
        b"sealed-summary",
        str(span.get("case_id", "case-1")),
        int(span.get("first_ms", 1_000)),  # type: ignore[call-overload]
        int(span.get("last_ms", 0)),  # type: ignore[call-overload]
    )


async def test_a_new_link_is_due_and_a_summary_of_its_generation_is_kept(store: Store) -> None:
    link = new_link()
    await store.cases.create_link(link)
    row = await _row(store, link.link_id)
    assert (row.partner_state, row.built_from, row.summary) == ("AL", -1, b"")
    assert await store.cases.summaries_due(0, {}, 10) == [link.link_id]
    assert await store.cases.partner_states() == ["AL"]

    assert await store.cases.save_summaries([_saved(row, built_from=row.generation - 1)]) == 0  # an older one
    assert await store.cases.save_summaries([_saved(row)]) == 1
    kept = await _row(store, link.link_id)
    assert (kept.built_from, kept.context, kept.summary, kept.case_id) == (
        row.generation,
        "ctx",
        b"sealed-summary",
        "case-1",
    )
    assert kept.current("ctx", now_ms=5_000)
    assert not kept.current("other", now_ms=5_000)
    assert await store.cases.summaries_due(5_000, {"AL": "ctx"}, 10) == []
    assert await store.cases.summaries_due(5_000, {"AL": "new rules"}, 10) == [link.link_id]


async def test_writes_to_the_link_and_receipts_move_its_generation_on(store: Store) -> None:
    link = new_link()
    other = new_link("case-2")
    await store.cases.create_link(link)
    await store.cases.create_link(other)
    first = await _row(store, link.link_id)
    untouched = await _row(store, other.link_id)

    await store.cases.apply(CaseWrite(events=[_event(link.link_id)]))
    after_event = await _row(store, link.link_id)
    assert after_event.generation != first.generation
    update = LinkUpdate(link.link_id, link.stage, 1_000, 0, "", None, 0, False, 3_000, "unit-a")
    await store.cases.apply(CaseWrite(updates=[update]))
    after_update = await _row(store, link.link_id)
    assert after_update.generation != after_event.generation

    message_id = os.urandom(16)
    outgoing = NewOutbox(
        message_id=message_id,
        client_request_id=None,
        recipient=PARTNER,
        peer_sequence=1,
        envelope=b"envelope",
        digest=os.urandom(32),
        local_copy=b"copy",
        created_at_ms=4_000,
        expires_at_ms=10**12,
        case_ref=link.case_ref,
        message_kind="social_inquiry_request",
    )
    await store.outbox.add([outgoing])
    await store.outbox.mark_delivered([Delivered(message_id, b"receipt", 4_100, 1)])
    assert (await _row(store, link.link_id)).generation != after_update.generation  # the receipt starts a clock
    assert (await _row(store, other.link_id)).generation == untouched.generation


async def test_a_woken_summary_is_due(store: Store) -> None:
    link = new_link()
    await store.cases.create_link(link)
    row = await _row(store, link.link_id)
    assert await store.cases.save_summaries([_saved(row, wake=9_000)]) == 1
    assert await store.cases.summaries_due(8_999, {}, 10) == []
    assert await store.cases.summaries_due(9_000, {}, 10) == [link.link_id]


async def test_a_periods_cases_are_those_with_a_link_reaching_into_its_window(store: Store) -> None:
    spans = {"old": (1_000, 2_000), "open": (1_000, 0), "late": (9_000, 0), "sibling": (1_000, 1_500)}
    cases = {"old": "case-old", "open": "case-open", "late": "case-late", "sibling": "case-open"}
    for name, (first, last) in spans.items():
        link = new_link(cases[name], link_id=f"link-{name}")
        await store.cases.create_link(link)
        row = await _row(store, link.link_id)
        await store.cases.save_summaries([_saved(row, case_id=cases[name], first_ms=first, last_ms=last)])
    assert await store.cases.cases_bearing_on(8_000, 3_000) == {"case-open"}
    assert await store.cases.cases_bearing_on(8_000, 1_800) == {"case-open", "case-old"}
    unbuilt = new_link("case-new", link_id="link-new")
    await store.cases.create_link(unbuilt)  # no summary yet: its span is not known, so it is read
    assert "" in await store.cases.cases_bearing_on(8_000, 3_000)
    page = await store.cases.summaries(limit=2)
    rest = await store.cases.summaries(limit=10, after=page[-1].link_id)
    assert [r.link_id for r in [*page, *rest]] == sorted(
        ["link-old", "link-open", "link-late", "link-sibling", "link-new"]
    )


async def test_the_summary_rows_of_a_page_of_links_are_read_at_once(store: Store) -> None:
    """``summaries_of``: the rows of the links named (each once, an unknown id left out), also for
    more links than one statement binds."""
    links = [new_link(f"case-{n}") for n in range(3)]
    for link in links:
        await store.cases.create_link(link)
    ids = [link.link_id for link in links]
    got = await store.cases.summaries_of([ids[2], ids[0], ids[0], "no-such-link"])
    assert sorted(r.link_id for r in got) == sorted([ids[0], ids[2]])
    assert all(isinstance(r, SummaryRow) for r in got)
    assert await store.cases.summaries_of([]) == []
    many = await store.cases.summaries_of([*ids, *(f"missing-{n}" for n in range(1200))])
    assert sorted(r.link_id for r in many) == sorted(ids)
