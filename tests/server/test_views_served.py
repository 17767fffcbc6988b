"""What each role's session is served, between real nodes: a consul gets the REPATRIATION view
and nothing outside it, an operator the ROUTING view with no name and no content, each exactly the
pure core's projection of the stored message (``focalpoint.cases.views.project``, property-tested
over generated bodies of every kind in tests/cases/test_views.py); a consul loses the case once the
State of origin answers that the child's nationality is NOT_CONFIRMED."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from google.protobuf.message import Message

from focalpoint.cases.views import project
from focalpoint.client import LocalClient
from focalpoint.errors import PermissionDenied
from focalpoint.node.ports import wall_clock_ms
from focalpoint.people.permissions import View
from focalpoint.people.roles import Role
from focalpoint.server.node import Node
from focalpoint.v1 import common_pb2, local_pb2, messages_pb2
from tests.cases.test_views import _permitted, set_fields
from tests.server.test_scenarios import _acknowledged, _evidence
from tests.support.scenario import AL, GR, Officials, evidence, ref_to

CA = (Role.CONSULAR_OFFICER,)


async def _consul(o: Officials, user_id: str, unit: str = "al-mfa/athens", district: str = "GR") -> LocalClient:
    """A consular officer of Albania posted for ``district``."""
    return await o.people(AL).client(user_id, CA, unit=unit, consular_state="AL", district=(district,))


@pytest.fixture
async def officials(nodes: dict[str, Node]) -> AsyncIterator[Officials]:
    async with contextlib.AsyncExitStack() as stack:
        yield Officials(nodes, stack)


def _outside(view: View, body: Message) -> list[str]:
    return [path for path, _, _ in set_fields(body) if not _permitted(view, path)]


def _free_text(body: Message) -> list[str]:
    return [path for path, field, _ in set_fields(body) if field.message_type is common_pb2.LocalizedText.DESCRIPTOR]


async def _to_return(o: Officials) -> str:
    """A case through its evidence, the agreed return and the accepted plan, the child on the way."""
    ref, _ = await _acknowledged(o)
    found = await _evidence(o, ref)
    proposal = await o.send(AL, GR, ref, "durable_solution_proposal", evidence(*found))
    await o.send(GR, AL, ref, "durable_solution_agreement", ref_to("durable_solution_agreement.accepts", proposal))
    plan = await o.send(GR, AL, ref, "repatriation_plan", lambda b: b.repatriation_plan.ClearField("supersedes"))

    def acceptance(body: messages_pb2.Body) -> None:
        ref_to("repatriation_plan_acceptance.accepts", plan)(body)
        body.repatriation_plan_acceptance.ClearField("gate")

    await o.send(AL, GR, ref, "repatriation_plan_acceptance", acceptance)
    await o.send(GR, AL, ref, "return_status_update")
    return ref


async def test_a_consul_and_an_operator_are_served_their_views_and_nothing_else(officials: Officials) -> None:
    o = officials
    ref = await _to_return(o)
    link = await o.link(AL, ref)
    people = o.people(AL)
    officer = await o.api(AL)
    consul = await _consul(o, "consul.1")
    operator = await people.operator()

    full = await officer.show_case(link, content=True)
    kinds = [e.kind for e in full.timeline]
    assert {"social_inquiry_report", "risk_assessment_report", "child_views_record", "repatriation_plan"} <= set(kinds)
    names = {n for e in full.timeline for n in e.body.case_notification.child.given_names} | {
        e.body.case_notification.child.family_name for e in full.timeline if e.body.case_notification.child.family_name
    }
    assert names

    seen = await consul.show_case(link, content=True)
    routed = await operator.show_case(link, content=True)
    assert (seen.view, seen.purpose) == ("REPATRIATION", "CONSULAR")
    assert (routed.view, routed.purpose) == ("ROUTING", "TRIAGE")
    assert [e.message_id for e in seen.timeline] == [e.message_id for e in full.timeline]
    for mine, theirs, routing in zip(full.timeline, seen.timeline, routed.timeline, strict=True):
        assert theirs.body == project(View.REPATRIATION, mine.body), mine.kind  # exactly the core's projection
        assert routing.body == project(View.ROUTING, mine.body), mine.kind
        assert _outside(View.REPATRIATION, theirs.body) == [], mine.kind
        assert _outside(View.ROUTING, routing.body) == [], mine.kind
        assert _free_text(theirs.body) == [], mine.kind
        assert _free_text(routing.body) == [], mine.kind
    assert not seen.gate  # beside the views, too
    assert not seen.drafts
    assert not routed.side_states
    assert not any(name in str(routed) for name in names)  # the operator never sees a name
    assert any(name in str(seen) for name in names)  # the consul needs the names for the travel document
    assert not seen.timeline[kinds.index("social_inquiry_report")].body.social_inquiry_report.ByteSize()
    assert seen.timeline[kinds.index("repatriation_plan")].body.repatriation_plan.ByteSize()

    # One message at a time (GetMessage): the same projections, and the view named.
    for entry in full.timeline:
        direction = local_pb2.DIRECTION_INBOX if entry.direction == "received" else local_pb2.DIRECTION_OUTBOX
        one = await consul.get_message(direction, entry.message_id, GR)
        assert (one.view, one.body) == ("REPATRIATION", project(View.REPATRIATION, entry.body))
        routed_one = await operator.get_message(direction, entry.message_id, GR)
        assert (routed_one.view, routed_one.body) == ("ROUTING", project(View.ROUTING, entry.body))


async def test_a_consul_loses_the_case_when_nationality_is_answered_not_confirmed(officials: Officials) -> None:
    o = officials
    ref, _ = await _acknowledged(o)
    link = await o.link(AL, ref)
    consul = await _consul(o, "consul.1")
    elsewhere = await _consul(o, "consul.2", unit="al-mfa/rome", district="IT")
    assert (await consul.show_case(link)).view == "REPATRIATION"
    assert ref in {c.case_ref for c in (await consul.list_cases()).cases}
    with pytest.raises(PermissionDenied):
        await elsewhere.show_case(link)  # not their district
    assert (await elsewhere.list_cases()).cases == []

    iv = await o.send(GR, AL, ref, "identity_verification_request")

    def not_a_national(body: messages_pb2.Body) -> None:
        reply = body.identity_verification_reply
        reply.nationality = messages_pb2.CONFIRMATION_NOT_CONFIRMED
        reply.travel_document_can_be_issued = False
        reply.suggested_state = "MK"

    await o.send(AL, GR, ref, "identity_verification_reply", not_a_national, answers=iv)
    with pytest.raises(PermissionDenied, match="nationality is not confirmed"):
        await consul.show_case(link)
    assert ref not in {c.case_ref for c in (await consul.list_cases()).cases}


async def test_a_consuls_page_of_cases_reads_past_the_cases_they_do_not_reach(officials: Officials) -> None:
    """Cases of other children, updated after their national's, never crowd it out of a short page."""
    o = officials
    ref = await _to_return(o)
    link = await o.link(AL, ref)
    officer = await o.api(AL)
    for _ in range(3):  # Albania identified these children: not nationals a consul of Albania serves abroad
        await officer.open_case(GR, wall_clock_ms() - 3_600_000)
    consul = await _consul(o, "consul.2")
    listed = await consul.list_cases(limit=2)
    assert [c.case_ref for c in listed.cases] == [ref]
    assert [c.link_id for c in listed.cases] == [link]
