"""``focalpoint case deadlines`` between real nodes: a social inquiry's clock from the partner's
receipt on both sides, the responder's 75 % reminder taken by a scan and shown as a level done, the
guardian deadline on the identifying State's side; the operator may read it, a consul may not."""

from __future__ import annotations

import pytest

from focalpoint.cli.case_desk import deadlines_data
from focalpoint.errors import PermissionDenied
from focalpoint.people.roles import Role
from focalpoint.v1 import messages_pb2
from tests.server.test_cases_api import AL, GR, ref_to
from tests.server.test_people import (
    World,
    world,  # noqa: F401 (the fixture)
)

DAY_MINUTES = 24 * 60
DAY_MS = 86_400_000


def _routine(body: messages_pb2.Body) -> None:
    body.context.urgency = messages_pb2.URGENCY_ROUTINE
    body.social_inquiry_request.urgency = messages_pb2.URGENCY_ROUTINE


async def test_case_deadlines_shows_both_sides_clocks_and_is_for_the_routing_view(world: World) -> None:  # noqa: F811
    desk = world.desk
    opened = await desk.open()
    notification = await desk.send(GR, opened.case_ref, "case_notification")
    await desk.send(AL, opened.case_ref, "acknowledgement", ref_to("acknowledgement.acknowledges", notification))
    request = await desk.send(GR, opened.case_ref, "social_inquiry_request", _routine)

    gr_op = await desk.people[GR].operator()
    shown = await gr_op.case_deadlines(case_ref=opened.case_ref, partner_node=AL)
    [inquiry] = [r for r in shown.requests if r.kind == "social_inquiry_request"]
    assert inquiry.message_id == request
    assert inquiry.direction == "we asked"
    assert inquiry.urgency == "ROUTINE"
    assert inquiry.started_at_ms > 0  # the partner's signed receipt
    assert inquiry.due_ms > inquiry.started_at_ms
    assert inquiry.overdue_ms == 0
    assert not inquiry.answered_at_ms
    assert shown.HasField("guardian")  # the identifying State's side: the notification named a guardian
    assert shown.guardian.appointed_at_ms
    assert not shown.guardian.breached
    period_days = (inquiry.due_ms - inquiry.started_at_ms) / DAY_MS

    # Three quarters of the period on: the responder's scan reminds its assignee, once.
    world.clock.advance(period_days * 0.8 * DAY_MINUTES)
    al_link = await desk.link_at(AL, opened.case_ref)
    for node in (world.nodes[GR], world.nodes[AL]):
        await node.deadlines.scan()
        await node.deadlines.scan()
    al_op = await desk.people[AL].operator()
    seen = await al_op.case_deadlines(al_link)
    [theirs] = [r for r in seen.requests if r.kind == "social_inquiry_request"]
    assert theirs.direction == "they asked"
    assert list(theirs.levels_done) == ["REMIND_ASSIGNEE"]
    assert not seen.HasField("guardian")  # the State of origin has no guardian clock
    assert [n.event for n in world.told.sent if n.event.startswith("deadline:")] == ["deadline:75%"]
    data = deadlines_data(seen)
    assert data["requests"][-1]["direction"] == "they asked"
    assert data["guardian"] is None

    consul = await desk.people[AL].client(
        "ca.1", (Role.CONSULAR_OFFICER,), unit="al-mfa/rome", consular_state="AL", district=("IT",)
    )
    with pytest.raises(PermissionDenied):
        await consul.case_deadlines(al_link)
