"""Contacts, notification preferences and the 24/7 on-call list at a real node's local API (a
user sets their own, an operator anyone's, each change audited without the address), and what
partners send reaching people: an emergency alert from GR arriving at AL tells AL's on-call users
at once (its operators, with a warning, when nobody is on call), a new request tells the link's
officers. Two real nodes over mutual TLS (``tests.server.test_people.world``)."""

from __future__ import annotations

import asyncio
import time

import pytest
import structlog

from focalpoint.errors import PermissionDenied, UsageError
from focalpoint.people.notices import EMERGENCY_ALERT, NEW_REQUEST
from focalpoint.people.roles import Grant
from focalpoint.v1 import audit_pb2, codes_pb2, messages_pb2
from tests.server import test_people
from tests.server.test_cases_api import AL, GR, _acknowledged, _events
from tests.server.test_people import World

world = test_people.world  # the fixture: two real nodes with capturing notifiers

Kind = audit_pb2.AuditEventKind


def _account_changes(events: list[audit_pb2.AuditEvent]) -> list[tuple[str, str, str]]:
    return [(e.actor, e.subject, e.status) for e in events if e.kind == Kind.AUDIT_EVENT_KIND_ACCOUNT_CHANGED]


async def test_a_user_sets_their_own_contact_and_preferences_and_each_change_is_audited(world: World) -> None:
    al = world.nodes[AL]
    people = world.desk.people[AL]
    officer = await people.client("co.plain", grants=())
    before = al.store.audit.size
    me = await officer.set_contact(email="co.plain@example.org", language="fr")
    assert (me.user_id, me.email, me.language, me.on_call) == ("co.plain", "co.plain@example.org", "fr", False)
    me = await officer.set_notifications(off=["deadlines", "security"])
    assert list(me.notifications_off) == ["deadlines", "security"]
    me = await officer.set_contact(email="")  # removed
    assert (me.email, me.language) == ("", "fr")
    events = await _events(al, before)
    assert _account_changes(events) == [
        ("co.plain", "co.plain", "e-mail address set; notification language fr"),
        ("co.plain", "co.plain", "notifications off: deadlines, security"),
        ("co.plain", "co.plain", "e-mail address removed"),
    ]
    assert "example.org" not in repr(events)  # the audit log records the change, never the address


async def test_others_contacts_are_an_operators_and_the_on_call_list_too(world: World) -> None:
    people = world.desk.people[AL]
    officer = await people.client("co.one", grants=())
    await people.client("co.two", grants=())
    operator = await people.operator()
    with pytest.raises(PermissionDenied):
        await officer.set_contact("co.two", email="x@example.org")
    with pytest.raises(PermissionDenied):
        await officer.set_notifications("co.two", off=["deadlines"])
    with pytest.raises(PermissionDenied):
        await officer.set_on_call("co.one", True)
    before = world.nodes[AL].store.audit.size
    shown = await operator.set_contact("co.two", email="co.two@example.org", language="ar")
    assert (shown.email, shown.language) == ("co.two@example.org", "ar")
    on = await operator.set_on_call("co.two", True)
    assert on.on_call
    assert _account_changes(await _events(world.nodes[AL], before)) == [
        ("operator.1", "co.two", "e-mail address set; notification language ar"),
        ("operator.1", "co.two", "on call"),
    ]
    listed = {u.user_id: u for u in (await operator.list_users()).users}
    assert listed["co.two"].on_call
    assert not listed["co.one"].on_call
    assert await world.nodes[AL].accounts.on_call() == ["co.two"]


async def test_bad_input_is_refused_with_what_was_wrong_and_never_the_address(world: World) -> None:
    people = world.desk.people[AL]
    supervisor = await people.client("sup.one", grants=(Grant.APPROVE,))
    with pytest.raises(UsageError, match="e-mail address such as") as bad:
        await supervisor.set_contact(email="Sup One <sup@example.org>")
    assert "sup@example.org" not in str(bad.value)
    with pytest.raises(UsageError, match="one of en, fr, ar"):
        await supervisor.set_contact(language="de")
    with pytest.raises(UsageError, match="security cannot be turned off"):
        await supervisor.set_notifications(off=["security"])
    with pytest.raises(UsageError, match="not a notification family"):
        await supervisor.set_notifications(off=["weather"])
    operator = await people.operator()
    await operator.set_on_call("sup.one", True)
    with pytest.raises(UsageError, match="emergency cannot be turned off"):
        await supervisor.set_notifications(off=["emergency"])
    me = await supervisor.set_notifications(off=["deadlines", "requests"])
    assert list(me.notifications_off) == ["deadlines", "requests"]


def _emergency(body: messages_pb2.Body) -> None:
    alert = body.protection_alert
    alert.type = codes_pb2.ALERT_TYPE_MISSING
    body.context.urgency = messages_pb2.URGENCY_EMERGENCY


async def _told(world: World, node: str, event: str, timeout_s: float = 10.0) -> list[tuple[tuple[str, ...], str]]:
    """What ``node`` told of ``event`` (waiting until it has, as case work applies in the background)."""
    deadline = time.monotonic() + timeout_s
    while True:
        told = [(n.users, n.case_ref) for n in world.told_at[node].sent if n.event == event]
        if told or time.monotonic() > deadline:
            return told
        await asyncio.sleep(0.02)


async def test_an_emergency_alert_from_a_partner_tells_every_on_call_user_at_once(world: World) -> None:
    desk = world.desk
    people = desk.people[AL]
    operator = await people.operator()
    for user in ("duty.a", "duty.b", "co.off"):
        await people.client(user, grants=())
    await operator.set_on_call("duty.a", True)
    await operator.set_on_call("duty.b", True)
    ref, _ = await _acknowledged(desk)
    await desk.send(GR, ref, "protection_alert", _emergency)
    assert await _told(world, AL, EMERGENCY_ALERT) == [(("duty.a", "duty.b"), ref)]


async def test_with_nobody_on_call_the_operators_are_told_and_a_warning_is_logged(world: World) -> None:
    desk = world.desk
    await desk.people[AL].operator()
    ref, _ = await _acknowledged(desk)
    with structlog.testing.capture_logs() as logs:
        await desk.send(GR, ref, "protection_alert", _emergency)
        told = await _told(world, AL, EMERGENCY_ALERT)
    assert told == [(("operator.1",), ref)]
    warned = [e for e in logs if e["event"] == "nobody_on_call"]
    assert len(warned) == 1
    assert ref not in repr(warned)


def _count(world: World, node: str, event: str) -> int:
    return sum(n.event == event for n in world.told_at[node].sent)


async def _told_after(world: World, node: str, event: str, seen: int) -> list[tuple[tuple[str, ...], str]]:
    """What ``node`` told of ``event`` after the first ``seen`` of them (waiting for one more)."""
    deadline = time.monotonic() + 10
    while _count(world, node, event) <= seen:
        assert time.monotonic() < deadline, f"{node} did not tell {event}"
        await asyncio.sleep(0.02)
    return [(n.users, n.case_ref) for n in world.told_at[node].sent if n.event == event][seen:]


async def test_a_new_request_tells_the_units_officers_then_the_assigned_ones_and_is_no_emergency(
    world: World,
) -> None:
    desk = world.desk
    people = desk.people[AL]
    await people.client("co.al", grants=())
    ref, _ = await _acknowledged(desk)  # AL's unit owns the link; officer.1 and co.al work there
    seen = _count(world, AL, NEW_REQUEST)
    await desk.send(GR, ref, "social_inquiry_request")
    assert await _told_after(world, AL, NEW_REQUEST, seen) == [(("co.al", "officer.1"), ref)]
    officer = await desk.api(AL)
    await officer.assign_case(await desk.link_at(AL, ref), users=["co.al"])
    seen = _count(world, AL, NEW_REQUEST)
    await desk.send(GR, ref, "risk_assessment_request")
    assert await _told_after(world, AL, NEW_REQUEST, seen) == [(("co.al",), ref)]
    assert _count(world, AL, EMERGENCY_ALERT) == 0


async def test_a_new_case_whose_unit_has_no_officers_yet_tells_the_operators(world: World) -> None:
    desk = world.desk
    await desk.people[AL].operator()
    opened = await desk.open()
    await desk.send(GR, opened.case_ref, "case_notification")  # AL has no case officer yet
    assert await _told_after(world, AL, NEW_REQUEST, 0) == [(("operator.1",), opened.case_ref)]
