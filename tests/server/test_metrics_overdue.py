"""Overdue deadlines on /metrics: an unanswered routine social inquiry between two real nodes is
counted as overdue once the shared clock passes its due date — at the asking node as owed by the
partner, at the asked node as owed by us — the count kept a minute and taken again after, every
kind of the fixed list present (zeros included), and no label naming a case."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from focalpoint.errors import StorageError
from focalpoint.node.overdue import KINDS, OWED_BY, OverdueCount
from focalpoint.server.metrics import scrape
from focalpoint.server.node import Node
from tests.server.test_ageing_api import SI, _routine
from tests.server.test_cases_api import AL, GR, ref_to
from tests.server.test_people import (
    World,
    world,  # noqa: F401 (the fixture)
)

DAY_MINUTES = 24 * 60


async def _overdue(node: Node) -> dict[tuple[str, str], float]:
    text = (await scrape(node)).decode()
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "focalpoint_deadlines_overdue":
            for sample in family.samples:
                out[(sample.labels["kind"], sample.labels["owed_by"])] = sample.value
    return out


async def test_an_unanswered_inquiry_shows_as_overdue_by_kind(world: World) -> None:  # noqa: F811
    desk = world.desk
    opened = await desk.open()
    notification = await desk.send(GR, opened.case_ref, "case_notification")
    await desk.send(AL, opened.case_ref, "acknowledgement", ref_to("acknowledgement.acknowledges", notification))
    await desk.send(GR, opened.case_ref, SI, _routine(world.clock()))
    gr, al = world.nodes[GR], world.nodes[AL]

    world.clock.advance(20 * DAY_MINUTES)
    on_time = await _overdue(gr)
    assert set(on_time) == {(kind, by) for kind in KINDS for by in OWED_BY}  # every series, zeros too
    assert sum(on_time.values()) == 0

    world.clock.advance(15 * DAY_MINUTES)  # past the due date (29 days on), and the kept count is old
    late_gr, late_al = await _overdue(gr), await _overdue(al)
    assert late_gr[(SI, "partner")] == 1
    assert sum(late_gr.values()) == 1
    assert late_al[(SI, "us")] == 1
    assert sum(late_al.values()) == 1
    assert opened.case_ref not in (await scrape(gr)).decode()

    # Kept for a minute of the node's clock: the same count object serves the next scrape.
    kept = gr.overdue.last
    assert kept is not None
    await _overdue(gr)
    assert gr.overdue.last is kept
    world.clock.advance(2)
    await _overdue(gr)
    assert gr.overdue.last is not kept


async def test_a_slow_count_serves_the_kept_one(world: World) -> None:  # noqa: F811
    """A walk that outlasts the scrape's wait leaves the previous count in place (absent before any)."""
    gr = world.nodes[GR]
    first = await gr.overdue.read()
    assert isinstance(first, OverdueCount)
    world.clock.advance(2)
    started = time.monotonic()
    assert await gr.overdue.read(wait_s=0) is first
    assert time.monotonic() - started < 0.5
    while gr.overdue.last is first:  # the walk that scrape started goes on by itself
        assert time.monotonic() - started < 10
        await asyncio.sleep(0.01)
    newer = gr.overdue.last
    assert newer is not None
    assert newer.at_ms > first.at_ms


async def test_a_failed_count_keeps_the_previous_one(world: World, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """The store failing during a walk: the gauge keeps its last count (its age grows), no error page."""
    gr = world.nodes[GR]
    first = await gr.overdue.read()
    assert first is not None

    async def broken(*args: object, **kwargs: object) -> None:
        raise StorageError("the disk is gone")

    monkeypatch.setattr(gr.overdue._summaries, "every", broken)
    world.clock.advance(2)
    assert await gr.overdue.read() is first
    text = (await scrape(gr)).decode()
    [age] = re.findall(r"^focalpoint_deadlines_overdue_age_seconds (\S+)$", text, re.M)
    assert 120 <= float(age) < 180  # two minutes of the moved clock, and the test's own time
