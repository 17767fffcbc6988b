"""Indicators at a real node's local API: a missed guardian deadline is a breach in I1 on the
officer's own-unit dashboard (exact, a running quarter) and in the auditor's national output once
the quarter has ended (suppressed); a running quarter is refused nationally; a consul and an
operator are refused with ACCESS_DENIED; every computation is an INDICATOR_READ event."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from focalpoint.errors import PermissionDenied, PreconditionFailed
from focalpoint.people.roles import Role
from focalpoint.v1 import audit_pb2, messages_pb2
from tests.server import test_people
from tests.server.test_cases_api import AL, GR, _events
from tests.server.test_people import MINUTE_MS, World

world = test_people.world  # the nodes on one movable clock
Kind = audit_pb2.AuditEventKind
HOUR_MS = 60 * MINUTE_MS


def _quarter(ms: int) -> str:
    at = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return f"{at.year}Q{(at.month - 1) // 3 + 1}"


def _by_id(outputs: Any) -> dict[str, dict[str, Any]]:
    return {o["definition_id"]: o for o in (json.loads(raw) for raw in outputs)}


def _figure(output: dict[str, Any], name: str) -> Any:
    [value] = [f["value"] for f in output["figures"] if f["name"] == name]
    return value


async def test_a_missed_guardian_deadline_is_a_breach_on_the_dashboard_and_in_the_national_output(
    world: World,
) -> None:
    desk = world.desk
    gr = world.nodes[GR]
    opened = await desk.open()
    identified = world.clock() - HOUR_MS

    def no_guardian(body: messages_pb2.Body) -> None:
        body.case_notification.identified_at_ms = identified
        body.case_notification.ClearField("guardian")

    await desk.send(GR, opened.case_ref, "case_notification", no_guardian)
    quarter = _quarter(identified)
    world.clock.advance(25 * 60)  # the 24-hour guardian deadline passes with no guardian

    officer = await desk.api(GR)
    before = gr.store.audit.size
    dashboard = _by_id((await officer.get_indicators(quarter, unit_dashboard=True)).outputs_json)
    i1 = dashboard["I1"]
    assert i1["exempt"] is True
    assert i1["unit_id"] == "gr-ekka/athens"
    assert _figure(i1, "children") == 1
    assert _figure(i1, "open_breaches") == 1
    assert _figure(i1, "guardian_in_time") == 0
    assert _figure(dashboard["I9"], "children") == 1
    reads = [e for e in await _events(gr, before) if e.kind == Kind.AUDIT_EVENT_KIND_INDICATOR_READ]
    assert [(e.actor, e.status) for e in reads] == [("officer.1", f"{quarter} unit gr-ekka/athens")]

    # An officer gets no national output; an auditor gets none for a running quarter.
    with pytest.raises(PermissionDenied):
        await officer.get_indicators(quarter)
    auditor = await desk.people[GR].client("au.1", (Role.AUDITOR,), grants=())
    with pytest.raises(PreconditionFailed):
        await auditor.get_indicators(quarter)

    # Once the quarter has ended, the auditor's output shows the breach, withheld as a small count.
    at = dt.datetime.fromtimestamp(world.clock() / 1000, dt.UTC)
    next_quarter = dt.datetime(at.year + (at.month > 9), (((at.month - 1) // 3 + 1) % 4) * 3 + 1, 1, tzinfo=dt.UTC)
    world.clock.advance((next_quarter.timestamp() * 1000 - world.clock()) / MINUTE_MS + 60)
    auditor = await desk.people[GR].client("au.1", (Role.AUDITOR,), grants=())
    national = _by_id((await auditor.get_indicators(quarter)).outputs_json)
    i1 = national["I1"]
    assert i1["exempt"] is False
    assert i1["suppressed"] is True
    assert i1["threshold"] == 10
    assert _figure(i1, "open_breaches") == "<10"
    assert _figure(i1, "children") == "<10"
    assert i1["tables"]["by_age_band"]["total"] == "<10"
    assert set(national) == {"I1", "I2", "I3", "I4", "I5", "I6", "I7", "I8", "I9", "I10", "I11", "I12"}


async def test_a_consul_and_an_operator_are_refused_with_access_denied(world: World) -> None:
    desk = world.desk
    al = world.nodes[AL]
    consul = await desk.people[AL].client(
        "ca.1", (Role.CONSULAR_OFFICER,), grants=(), unit="al-mfa/athens", consular_state="AL", district=("GR",)
    )
    operator = await desk.people[AL].client("op.2", (Role.OPERATOR,), grants=())
    for client, actor in ((consul, "ca.1"), (operator, "op.2")):
        for dashboard in (False, True):
            before = al.store.audit.size
            with pytest.raises(PermissionDenied):
                await client.get_indicators("2025", unit_dashboard=dashboard)
            denied = [e for e in await _events(al, before) if e.kind == Kind.AUDIT_EVENT_KIND_ACCESS_DENIED]
            assert [e.actor for e in denied] == [actor]
