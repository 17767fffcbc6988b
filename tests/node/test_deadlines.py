"""The node acts on deadlines, between two real node compositions over the fakes with a fake clock:
an unanswered social inquiry over a simulated month climbs both ladders, each level once, with the
reminders delivered and noted; a restart repeats nothing; a stop-the-clock clarification delays the
steps and an answer ends them; the guardian ladder runs from identification."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from focalpoint.cases.requests import LADDER_KIND
from focalpoint.node.accounts import account_of
from focalpoint.node.notify import CapturingNotifier
from focalpoint.people.roles import Role
from focalpoint.server.node import Node
from focalpoint.storage.base import LinkRow
from focalpoint.v1 import common_pb2, messages_pb2
from tests.node.conftest import Fabric, eventually
from tests.node.test_casework import AL, GR, Link

HOUR_S = 3600
DAY_S = 24 * HOUR_S


def _ref(field: str, message_id: bytes) -> Callable[[messages_pb2.Body], None]:
    def edit(body: messages_pb2.Body) -> None:
        kind, name = field.split(".")
        ref = getattr(getattr(body, kind), name)
        ref.Clear()
        ref.message_id = message_id

    return edit


def _routine(now_ms: int) -> Callable[[messages_pb2.Body], None]:
    """A routine inquiry due at the end of the 29th day from now: a period of 29 to 30 days."""

    def edit(body: messages_pb2.Body) -> None:
        body.context.urgency = messages_pb2.URGENCY_ROUTINE
        body.social_inquiry_request.urgency = messages_pb2.URGENCY_ROUTINE
        due = dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC).date() + dt.timedelta(days=29)
        body.social_inquiry_request.response_due.CopyFrom(common_pb2.Date(year=due.year, month=due.month, day=due.day))

    return edit


async def _capturing(fabric: Fabric) -> dict[str, CapturingNotifier]:
    """Reopen both nodes with capturing notifiers (and an operator each, so someone is told)."""
    captured = {GR: CapturingNotifier(), AL: CapturingNotifier()}
    for node_id, notifier in captured.items():
        fabric.notifiers[node_id] = notifier
        await fabric.close(node_id)
        node = await fabric.open(node_id)
        await node.accounts.add_first_operator("op-1", "focal-point")
    return captured


async def _inquiry(fabric: Fabric) -> tuple[Link, bytes]:
    """A case notified and acknowledged, then a routine social inquiry from the identifying State."""
    gr = fabric.nodes[GR]
    opened = await gr.casework.open_case(
        actor="u-1", partner_node=AL, identified_at_ms=fabric.clock() - HOUR_S * 1000, unit=""
    )
    link = Link(fabric, opened.case_ref, opened.link_id)
    notification = await link.send(GR, "case_notification")
    await link.send(AL, "acknowledgement", _ref("acknowledgement.acknowledges", notification))
    request = await link.send(GR, "social_inquiry_request", _routine(fabric.clock()))
    return link, request


def _deadline_events(notifier: CapturingNotifier) -> list[str]:
    return [n.event for n in notifier.sent if n.event.startswith("deadline:")]


async def _run(fabric: Fabric, days: float, *, step_s: int = 12 * HOUR_S) -> None:
    """Advance the fake clock ``days`` in steps, scanning both nodes and letting messages arrive; the
    directory is published again every ten days, as its publisher would (a version lasts 30)."""
    for _ in range(int(days * DAY_S) // step_s):
        fabric.clock.advance(step_s)
        if fabric.clock() - fabric.published_ms >= 10 * DAY_S * 1000:
            await fabric.republish()
        for node_id in (GR, AL):
            fabric.nodes[node_id].delivery.wake(AL if node_id == GR else GR)
        for node_id in (GR, AL):
            await fabric.nodes[node_id].deadlines.scan()


async def _links(node: Node) -> list[LinkRow]:
    return [r for r in await node.store.cases.worklist(None, limit=100) if isinstance(r, LinkRow)]


async def _count(node: Node, kind: str) -> int:
    await node.casework.catch_up()
    return len([e for link in await _links(node) for e in await node.casework.events(link) if e.kind == kind])


async def reminder_noted(fabric: Fabric, link: Link) -> bool:
    """Whether the identifying State holds the partner's REMINDER_NOTED acknowledgement, with the
    date the answer is now expected by."""
    gr = fabric.nodes[GR]
    await gr.casework.catch_up()
    row = await link.row(GR)
    return any(
        e.kind == "acknowledgement" and e.facts.ack_kind == "REMINDER_NOTED" and e.facts.expected_by_day
        for e in await gr.casework.events(row)
    )


async def test_an_unanswered_inquiry_climbs_both_ladders_each_level_once(fabric: Fabric) -> None:
    captured = await _capturing(fabric)
    link, _request = await _inquiry(fabric)
    await _run(fabric, 21)
    assert _deadline_events(captured[AL]) == []  # 21 of 30 days: nothing yet
    await _run(fabric, 3)
    assert _deadline_events(captured[AL]) == ["deadline:75%"]  # the responder's assignee
    assert _deadline_events(captured[GR]) == []
    # The period is 29 to 30 days (due at the end of a day, whatever the hour now), so the day
    # before falls between day 28 and day 29.
    await _run(fabric, 3.5)  # day 27.5: more than a day left
    assert _deadline_events(captured[AL]) == ["deadline:75%"]
    await _run(fabric, 1.5)  # day 29: due within a day, the same assignee told again
    assert _deadline_events(captured[AL]) == ["deadline:75%", "deadline:24h"]
    early, tomorrow = (n for n in captured[AL].sent if n.event.startswith("deadline:"))
    assert tomorrow.users == early.users
    await _run(fabric, 2)  # day 31: due passed
    assert _deadline_events(captured[AL]) == ["deadline:75%", "deadline:24h", "deadline:overdue"]
    assert _deadline_events(captured[GR]) == ["deadline:reminder-L1"]

    async def reminded() -> bool:
        return await _count(fabric.nodes[AL], "reminder") == 1

    await eventually(reminded, what="the L1 reminder reaches the partner")
    await _run(fabric, 1)  # the responder notes it, with the due date

    await eventually(lambda: reminder_noted(fabric, link), what="the reminder acknowledged REMINDER_NOTED")
    await _run(fabric, 40)  # day 72: L2 at day 45, L3 at day 60
    assert _deadline_events(captured[GR]) == ["deadline:reminder-L1", "deadline:reminder-L2"]
    assert _deadline_events(captured[AL]) == ["deadline:75%", "deadline:24h", "deadline:overdue"]

    async def two_reminders() -> bool:
        return await _count(fabric.nodes[AL], "reminder") == 2

    await eventually(two_reminders, what="the L2 reminder reaches the partner")
    row = await link.row(GR)
    levels = sorted(e.facts.level for e in await fabric.nodes[GR].casework.events(row) if e.kind == LADDER_KIND)
    assert [lv for lv in levels if lv.startswith("REMINDER")] == ["REMINDER_L1", "REMINDER_L2", "REMINDER_L3"]
    data = await fabric.nodes[GR].deadlines.of_link(row.link_id)
    [inquiry] = [r for r in data.requests if r.kind == "social_inquiry_request"]
    assert inquiry.we_asked
    assert inquiry.overdue_ms > 40 * DAY_S * 1000
    assert set(inquiry.levels_done) == {"REMINDER_L1", "REMINDER_L2", "REMINDER_L3"}


async def test_a_restart_never_repeats_a_level(fabric: Fabric) -> None:
    captured = await _capturing(fabric)
    await _inquiry(fabric)
    await _run(fabric, 31)
    assert _deadline_events(captured[GR]) == ["deadline:reminder-L1"]
    for node_id in (GR, AL):
        await fabric.close(node_id)
        await fabric.open(node_id)
    for node_id in (GR, AL):
        await fabric.nodes[node_id].deadlines.scan()
    await _run(fabric, 2)
    assert _deadline_events(captured[GR]) == ["deadline:reminder-L1"]
    assert _deadline_events(captured[AL]) == ["deadline:75%", "deadline:24h", "deadline:overdue"]

    async def one_reminder() -> bool:
        return await _count(fabric.nodes[AL], "reminder") == 1

    await eventually(one_reminder, what="exactly one L1 reminder")


async def test_a_stop_the_clock_clarification_delays_the_steps(fabric: Fabric) -> None:
    captured = await _capturing(fabric)
    link, request = await _inquiry(fabric)
    await _run(fabric, 10)

    def stops(body: messages_pb2.Body) -> None:
        _ref("clarification_request.about", request)(body)
        body.clarification_request.stops_clock = True

    question = await link.send(AL, "clarification_request", stops)
    await _run(fabric, 15)  # stopped for these 15 days
    await link.send(GR, "clarification_response", _ref("clarification_response.answers", question))
    await _run(fabric, 13)  # day 38: without the stop the 75 % (day 22.5) and the due date (day 30) had passed
    assert _deadline_events(captured[AL]) == ["deadline:75%"]
    assert _deadline_events(captured[GR]) == []
    await _run(fabric, 8)  # day 46: due at about day 45
    assert _deadline_events(captured[AL]) == ["deadline:75%", "deadline:24h", "deadline:overdue"]
    assert _deadline_events(captured[GR]) == ["deadline:reminder-L1"]


async def test_answering_ends_the_ladder(fabric: Fabric) -> None:
    captured = await _capturing(fabric)
    link, request = await _inquiry(fabric)
    await _run(fabric, 20)
    await link.send(AL, "social_inquiry_report", answers=request)
    await _run(fabric, 60)
    assert _deadline_events(captured[AL]) == []
    assert _deadline_events(captured[GR]) == []
    row = await link.row(GR)
    data = await fabric.nodes[GR].deadlines.of_link(row.link_id)
    [inquiry] = [r for r in data.requests if r.kind == "social_inquiry_request"]
    assert inquiry.answered_at_ms is not None
    assert inquiry.overdue_ms == 0


async def test_the_guardian_ladder_runs_from_identification(fabric: Fabric) -> None:
    captured = await _capturing(fabric)
    gr = fabric.nodes[GR]
    opened = await gr.casework.open_case(
        actor="u-1", partner_node=AL, identified_at_ms=fabric.clock() - HOUR_S * 1000, unit=""
    )
    fabric.clock.advance(1)

    def guardian() -> list[str]:
        return [n.event for n in captured[GR].sent if n.event.startswith("guardian:")]

    for hours, expected in [
        (10, []),
        (1, ["guardian:12h"]),
        (8, ["guardian:12h", "guardian:20h"]),
        (4, ["guardian:12h", "guardian:20h", "guardian:breach"]),
        (24, ["guardian:12h", "guardian:20h", "guardian:breach", "guardian:daily"]),
        (12, ["guardian:12h", "guardian:20h", "guardian:breach", "guardian:daily"]),
        (12, ["guardian:12h", "guardian:20h", "guardian:breach", "guardian:daily", "guardian:daily"]),
    ]:
        for _ in range(hours):
            fabric.clock.advance(HOUR_S)
            await gr.deadlines.scan()
        assert guardian() == expected, hours
    assert all(n.users == ("op-1",) for n in captured[GR].sent)  # no unit: the operators are told
    assert [n.event for n in captured[AL].sent if n.event.startswith("guardian:")] == []
    data = await gr.deadlines.of_link(opened.link_id)
    assert data.guardian is not None
    assert data.guardian.breached


async def test_an_unacknowledged_emergency_alert_names_the_partners_24_7_contact(fabric: Fabric) -> None:
    captured = await _capturing(fabric)
    link, _ = await _inquiry(fabric)

    def emergency(body: messages_pb2.Body) -> None:
        body.context.urgency = messages_pb2.URGENCY_EMERGENCY

    await link.send(GR, "protection_alert", emergency)
    for _ in range(6):
        fabric.clock.advance(HOUR_S)
        await fabric.nodes[GR].deadlines.scan()
    events = [n.event for n in captured[GR].sent if n.event.startswith("emergency:")]
    assert events == ["emergency:unacknowledged:duty"]


async def test_an_unacknowledged_emergency_alert_goes_to_the_on_call_list(fabric: Fabric) -> None:
    captured = await _capturing(fabric)
    gr = fabric.nodes[GR]
    row = await gr.store.accounts.user("op-1")
    assert row is not None
    operator = account_of(row)
    await gr.accounts.add_user(operator, "duty.1", "focal-point", frozenset({Role.CASE_OFFICER}))
    await gr.accounts.set_on_call(operator, "duty.1", True)
    link, _ = await _inquiry(fabric)

    def emergency(body: messages_pb2.Body) -> None:
        body.context.urgency = messages_pb2.URGENCY_EMERGENCY

    await link.send(GR, "protection_alert", emergency)
    for _ in range(6):
        fabric.clock.advance(HOUR_S)
        await gr.deadlines.scan()
    told = [(n.event, n.users) for n in captured[GR].sent if n.event.startswith("emergency:")]
    assert told == [("emergency:unacknowledged:duty", ("duty.1",))]  # the on-call list, not the operators
