"""Link summaries between two real node compositions over the fakes: the reports read the same facts
from a stored summary as from a fold; a summary is built again when its link changes, a receipt
starts a clock, its seal does not open, or the partner's agreement changes; one built from data
that changed meanwhile is dropped; and the deadline scan visits only the links whose time has come."""

from __future__ import annotations

from dataclasses import replace

import pytest

from focalpoint.cases.indicators import link_facts
from focalpoint.cases.summary import SummaryView
from focalpoint.node import summaries as summaries_module
from focalpoint.node.summaries import Summaries, link_requests, summarise
from focalpoint.server.node import Node
from focalpoint.storage.base import NewSummary
from focalpoint.v1 import directory_pb2
from tests.node.conftest import Fabric
from tests.node.test_casework import AL, GR, Link
from tests.node.test_deadlines import DAY_S, HOUR_S, _inquiry, _run


def _summaries(node: Node) -> Summaries:
    return Summaries(work=node.casework, store=node.store, clock_ms=node.clock_ms)


async def _stored(node: Node, link_id: str) -> tuple[int, int]:
    row = await node.store.cases.summary(link_id)
    assert row is not None
    return row.generation, row.built_from


async def test_a_stored_summary_holds_what_a_fold_gives_and_is_read_without_building(
    fabric: Fabric, monkeypatch: pytest.MonkeyPatch
) -> None:
    link, _ = await _inquiry(fabric)
    gr = fabric.nodes[GR]
    await gr.deadlines.scan()  # builds and stores the summaries
    row = await link.row(GR)
    events = await gr.casework.events(row)
    state = await gr.casework.state(row, events=events)
    tracked = await link_requests(gr.casework, gr.store, row, events, state)
    generation, built_from = await _stored(gr, row.link_id)
    assert generation == built_from

    built: list[str] = []
    rebuild = Summaries.rebuild

    async def counting(self: Summaries, link_id: str, *, now_ms: int) -> object:
        built.append(link_id)
        return await rebuild(self, link_id, now_ms=now_ms)

    monkeypatch.setattr(Summaries, "rebuild", counting)
    [summary], unreadable = await _summaries(gr).every(None, SummaryView.summary)
    assert (built, unreadable) == ([], 0)
    assert summary == summarise(gr.casework, row, events, state, tracked)
    rules = gr.casework.rules(row)
    assert summary.facts == link_facts(state, events, case_id=row.case_id, rules=rules, tracked=tracked)
    assert [t.kind for t in summary.tracked] == [t.kind for t in tracked]
    # I2 reads the requests with their clocks started at the partner's signed receipt.
    [inquiry] = [r for r in summary.facts.requests if r.kind == "social_inquiry_request"]
    [sent] = [t for t in tracked if t.kind == "social_inquiry_request"]
    assert inquiry.we_asked
    assert inquiry.started_at_ms == sent.started_at_ms is not None


async def test_a_write_a_receipt_and_a_broken_seal_each_have_the_summary_built_again(fabric: Fabric) -> None:
    link, _ = await _inquiry(fabric)
    gr = fabric.nodes[GR]
    await gr.deadlines.scan()
    row = await link.row(GR)
    generation, _ = await _stored(gr, row.link_id)

    await link.send(GR, "risk_assessment_request")  # a write to the link, then its receipt
    moved, built_from = await _stored(gr, row.link_id)
    assert moved > generation
    assert built_from == generation
    assert await gr.store.cases.summaries_due(gr.clock_ms(), {}, 10) == [row.link_id]
    await gr.deadlines.scan()
    generation, built_from = await _stored(gr, row.link_id)
    assert generation == built_from
    [summary], _ = await _summaries(gr).every(None, SummaryView.summary)
    assert "risk_assessment_request" in [t.kind for t in summary.tracked]

    stored = await gr.store.cases.summary(row.link_id)
    assert stored is not None
    broken = bytearray(stored.summary)
    broken[-1] ^= 1
    fixed = NewSummary(row.link_id, stored.generation, stored.context, stored.wake_at_ms, bytes(broken))
    assert await gr.store.cases.save_summaries([fixed]) == 1
    [again], unreadable = await _summaries(gr).every(None, SummaryView.summary)
    assert (again, unreadable) == (summary, 0)  # built again from the events


async def test_a_summary_of_data_that_changed_meanwhile_is_dropped(fabric: Fabric) -> None:
    link, _ = await _inquiry(fabric)
    gr = fabric.nodes[GR]
    row = await link.row(GR)
    generation, _ = await _stored(gr, row.link_id)
    await link.send(GR, "risk_assessment_request")
    late = NewSummary(row.link_id, generation, "ctx", None, b"old")
    assert await gr.store.cases.save_summaries([late]) == 0
    now, built_from = await _stored(gr, row.link_id)
    assert now != built_from  # still to be built


async def test_the_scan_visits_only_links_whose_time_has_come(fabric: Fabric) -> None:
    link, _ = await _inquiry(fabric)
    await _run(fabric, 1)  # delivered, scanned, summarised
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    assert (await gr.deadlines.scan()).links == 0
    assert (await al.deadlines.scan()).links == 0
    fabric.clock.advance(21 * DAY_S)  # the responder's 75 % rung of a 30-day inquiry falls on day 22
    assert (await al.deadlines.scan()).links == 0
    fabric.clock.advance(2 * DAY_S)
    visited = await al.deadlines.scan()
    assert (visited.links, visited.steps) == (1, 1)
    assert (await al.deadlines.scan()).links == 0  # taken, summarised with its next rung
    row = await link.row(AL)
    stored = await al.store.cases.summary(row.link_id)
    assert stored is not None
    assert stored.wake_at_ms is not None
    # The "due tomorrow" rung, a day before the due date (day 29 or so), then the 100 % rung.
    assert stored.wake_at_ms > al.clock_ms() + 4 * DAY_S * 1000
    fabric.clock.advance(-((al.clock_ms() - stored.wake_at_ms) // 1000) - 60)  # whole seconds, rounded up
    assert (await al.deadlines.scan()).links == 0  # a minute early: not yet
    fabric.clock.advance(60)
    visited = await al.deadlines.scan()
    assert (visited.links, visited.steps) == (1, 1)
    tomorrow = await al.store.cases.summary(row.link_id)
    assert tomorrow is not None
    assert tomorrow.wake_at_ms == stored.wake_at_ms + DAY_S * 1000


async def test_a_changed_agreement_has_its_links_summarised_again(fabric: Fabric) -> None:
    link, _ = await _inquiry(fabric)
    await _run(fabric, 1)
    gr = fabric.nodes[GR]
    assert (await gr.deadlines.scan()).links == 0

    def suspend(agreements: dict[str, directory_pb2.Agreement]) -> None:
        for agreement in agreements.values():
            agreement.status = directory_pb2.AGREEMENT_STATUS_SUSPENDED

    await fabric.republish(mutate_agreements=suspend)
    visited = await gr.deadlines.scan()
    assert visited.links == 1  # the partner's rules changed: the link is looked at again
    row = await link.row(GR)
    assert "local:suspended" in [e.kind for e in await gr.casework.events(row)]
    assert (await gr.deadlines.scan()).links == 0


async def test_reports_read_every_link_once_across_pages(fabric: Fabric, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summaries_module, "_PAGE", 2)
    gr = fabric.nodes[GR]
    opened = []
    for n in range(5):
        o = await gr.casework.open_case(
            actor="u-1", partner_node=AL, identified_at_ms=fabric.clock() - (n + 1) * HOUR_S * 1000, unit=""
        )
        opened.append(o)
        await Link(fabric, o.case_ref, o.link_id).send(GR, "case_notification")
    got, unreadable = await _summaries(gr).every(None, SummaryView.summary)
    assert unreadable == 0
    assert sorted(s.case_ref for s in got) == sorted(o.case_ref for o in opened)
    got_again, _ = await _summaries(gr).every(None, SummaryView.summary)
    assert [replace(s) for s in got_again] == got
