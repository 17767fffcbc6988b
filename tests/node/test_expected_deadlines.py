"""The node acts on the messages a return makes due, between two real node compositions over the
fakes with a fake clock: an unconfirmed handover alerts the supervisors on both sides once, and a
missing three-month follow-up report gets one L1 reminder, delivered and noted."""

from __future__ import annotations

import datetime as dt

from focalpoint.cases.requests import LADDER_KIND
from focalpoint.cases.stages import Stage
from focalpoint.v1 import common_pb2, messages_pb2
from tests.node.conftest import Fabric, eventually
from tests.node.test_casework import AL, GR, Link, _evidence, _ref, assessed
from tests.node.test_deadlines import DAY_S, HOUR_S, _capturing, _count, _run, reminder_noted


def _day(fabric: Fabric, days: int = 0) -> common_pb2.Date:
    day = dt.datetime.fromtimestamp(fabric.clock() / 1000, dt.UTC).date() + dt.timedelta(days=days)
    return common_pb2.Date(year=day.year, month=day.month, day=day.day)


async def _departed(fabric: Fabric) -> Link:
    """A return walked to its departure, on a plan whose departure window is today and tomorrow."""
    link, plan = await assessed(fabric)
    proposal = await link.send(AL, "durable_solution_proposal", _evidence(plan))
    await link.send(GR, "durable_solution_agreement", _ref("durable_solution_agreement.accepts", proposal))

    def soon(body: messages_pb2.Body) -> None:
        body.repatriation_plan.ClearField("supersedes")
        body.repatriation_plan.earliest_departure.CopyFrom(_day(fabric))
        body.repatriation_plan.latest_departure.CopyFrom(_day(fabric, 1))

    repatriation = await link.send(GR, "repatriation_plan", soon)
    await link.send(AL, "repatriation_plan_acceptance", _ref("repatriation_plan_acceptance.accepts", repatriation))
    await link.send(GR, "return_status_update")
    assert await link.stages() == (Stage.RETURN_IN_PROGRESS, Stage.RETURN_IN_PROGRESS)
    return link


async def test_an_unconfirmed_handover_alerts_both_sides_supervisors_once(fabric: Fabric) -> None:
    captured = await _capturing(fabric)
    await _departed(fabric)

    def handover(node_id: str) -> list[str]:
        return [n.event for n in captured[node_id].sent if n.event.startswith("handover:")]

    await _run(fabric, 1, step_s=6 * HOUR_S)  # planned arrival: the end of tomorrow; due a day later
    assert handover(GR) == []
    assert handover(AL) == []
    await _run(fabric, 5, step_s=6 * HOUR_S)  # overdue from day 3 at the latest, then never again
    assert handover(GR) == ["handover:overdue"]
    assert handover(AL) == ["handover:overdue"]
    for node_id in (GR, AL):
        [alert] = [n for n in captured[node_id].sent if n.event == "handover:overdue"]
        assert alert.users == ("op-1",)  # no unit: the operators stand in for its supervisors
        assert await _count(fabric.nodes[node_id], "reminder") == 0  # nothing passes between them


async def test_a_missing_three_month_follow_up_gets_one_l1_reminder(fabric: Fabric) -> None:
    captured = await _capturing(fabric)
    link = await _departed(fabric)
    await link.send(AL, "handover_confirmation")
    assert await link.stages() == (Stage.FOLLOW_UP, Stage.FOLLOW_UP)

    def deadline(node_id: str) -> list[str]:
        return [n.event for n in captured[node_id].sent if n.event.startswith(("deadline:", "handover:"))]

    await _run(fabric, 80, step_s=DAY_S)
    assert deadline(GR) == []
    assert deadline(AL) == []
    # Day 107: past M3 + 14 days (three months are 89 to 92 days), before L2 (7 days after that).
    await _run(fabric, 27, step_s=DAY_S)
    assert deadline(GR) == ["deadline:reminder-L1"]
    assert deadline(AL) == ["deadline:75%", "deadline:24h", "deadline:overdue"]

    async def reminded() -> bool:
        return await _count(fabric.nodes[AL], "reminder") == 1

    await eventually(reminded, what="the follow-up's L1 reminder reaches the State of origin")
    await _run(fabric, 1, step_s=DAY_S)

    await eventually(lambda: reminder_noted(fabric, link), what="the reminder noted with the follow-up's due date")
    for node_id in (GR, AL):
        row = await link.row(node_id)
        assert row.flagged == 0  # the reminder names the departure, the identifying State's own message
    row = await link.row(GR)
    events = await fabric.nodes[GR].casework.events(row)
    [departure] = [e.message_id for e in events if e.kind == "return_status_update"]
    ladder = [e.facts for e in events if e.kind == LADDER_KIND and e.facts.refers_to == departure]
    assert [(f.level, f.occurrence) for f in ladder] == [("REMINDER_L1", 3)]
    data = await fabric.nodes[GR].deadlines.of_link(row.link_id)
    m3 = [r for r in data.requests if r.kind == "follow_up_report" and r.levels_done]
    assert [r.levels_done for r in m3] == [("REMINDER_L1",)]
    assert len([r for r in data.requests if r.kind == "follow_up_report"]) == 3
    # The handover was confirmed in time: no alert, on either side.
    assert [r.answered_at_ms is not None for r in data.requests if r.kind == "handover_confirmation"] == [True]
