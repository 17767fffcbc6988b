"""What is owed on each listed link, between real nodes: once a routine social inquiry is receipted,
the identifying State's worklist shows the partner owes an answer by its due date (the date
``CaseDeadlines`` gives) and the State of origin's shows it owes one by that date (from its own
receipt time); after the date, each counts one overdue; an answered one owes nothing; a link with
nothing open owes nothing."""

from __future__ import annotations

from focalpoint.v1 import local_pb2
from tests.server.test_ageing_api import DAY_MINUTES, SI, _routine
from tests.server.test_cases_api import AL, GR, ref_to
from tests.server.test_people import (
    World,
    world,  # noqa: F401 (the fixture)
)


async def _listed(at: World, node_id: str, case_ref: str) -> local_pb2.CaseSummary:
    listed = await (await at.desk.api(node_id)).list_cases()
    [found] = [c for c in listed.cases if c.case_ref == case_ref]
    return found


async def test_the_worklist_says_who_owes_an_answer_by_when_and_what_is_late(world: World) -> None:  # noqa: F811
    desk = world.desk
    quiet = await desk.open()
    opened, answered = await desk.open(), await desk.open()
    inquiries = {}
    for ref in (opened.case_ref, answered.case_ref):
        notification = await desk.send(GR, ref, "case_notification")
        await desk.send(AL, ref, "acknowledgement", ref_to("acknowledgement.acknowledges", notification))
        inquiries[ref] = await desk.send(GR, ref, SI, _routine(world.clock()))
    await desk.send(AL, answered.case_ref, "social_inquiry_report", answers=inquiries[answered.case_ref])

    link = await desk.link_at(GR, opened.case_ref)
    [due] = [r.due_ms for r in (await (await desk.api(GR)).case_deadlines(link)).requests if r.kind == SI]
    assert due > world.clock()
    ours = await _listed(world, GR, opened.case_ref)
    assert (ours.they_owe_due_ms, ours.we_owe_due_ms, ours.they_owe_overdue, ours.we_owe_overdue) == (due, 0, 0, 0)
    assert not ours.deadlines_unreadable
    theirs = await _listed(world, AL, opened.case_ref)
    # Each node starts the clock at the receipt as it recorded it (a few ms apart).
    assert abs(theirs.we_owe_due_ms - due) < 60_000
    assert (theirs.they_owe_due_ms, theirs.we_owe_overdue) == (0, 0)
    nothing = await _listed(world, GR, quiet.case_ref)
    assert (nothing.we_owe_due_ms, nothing.they_owe_due_ms, nothing.we_owe_overdue, nothing.they_owe_overdue) == (
        0,
        0,
        0,
        0,
    )

    world.clock.advance(35 * DAY_MINUTES)
    late = await _listed(world, GR, opened.case_ref)
    assert (late.they_owe_due_ms, late.they_owe_overdue, late.we_owe_overdue) == (due, 1, 0)
    assert (await _listed(world, AL, opened.case_ref)).we_owe_overdue == 1

    done = await _listed(world, GR, answered.case_ref)  # the answer ended its clock
    assert (done.they_owe_due_ms, done.they_owe_overdue, done.we_owe_due_ms) == (0, 0, 0)
