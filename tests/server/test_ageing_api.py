"""The ageing report between real nodes: an unanswered routine social inquiry (30 days) ages in the
bilateral view, 15–30 days and on time after 20 days, 31–60 and overdue after 35; the officer's unit
view lists it by reference; the auditor's view withholds the small count; each read is audited."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest

from focalpoint.errors import PermissionDenied, UsageError
from focalpoint.people.roles import Role
from focalpoint.v1 import audit_pb2, messages_pb2
from tests.server.test_cases_api import AL, GR, ref_to
from tests.server.test_people import (
    World,
    world,  # noqa: F401 (the fixture)
)

DAY_MINUTES = 24 * 60
SI = "social_inquiry_request"
Kind = audit_pb2.AuditEventKind


def _routine(now_ms: int) -> Callable[[messages_pb2.Body], None]:
    """A routine inquiry due by the end of the UTC day 29 days on (under the network's 30 days)."""
    due = dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC) + dt.timedelta(days=29)

    def edit(body: messages_pb2.Body) -> None:
        body.context.urgency = messages_pb2.URGENCY_ROUTINE
        body.social_inquiry_request.urgency = messages_pb2.URGENCY_ROUTINE
        body.social_inquiry_request.response_due.year = due.year
        body.social_inquiry_request.response_due.month = due.month
        body.social_inquiry_request.response_due.day = due.day

    return edit


def _entry(report: dict[str, Any]) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [e for e in report["requests"] if e["kind"] == SI]
    [entry] = entries
    return entry


async def test_an_unanswered_social_inquiry_ages_into_overdue(world: World) -> None:  # noqa: F811
    desk = world.desk
    opened = await desk.open()
    notification = await desk.send(GR, opened.case_ref, "case_notification")
    await desk.send(AL, opened.case_ref, "acknowledgement", ref_to("acknowledgement.acknowledges", notification))
    await desk.send(GR, opened.case_ref, SI, _routine(world.clock()))

    operator = await desk.people[GR].operator()
    world.clock.advance(20 * DAY_MINUTES)
    bilateral = json.loads((await operator.get_ageing("bilateral")).report_json)
    inquiry = _entry(bilateral)
    assert inquiry["partner"] == "AL"
    assert inquiry["open"] == 1
    assert inquiry["age_buckets"]["15-30"] == 1
    assert inquiry["overdue"] == 0

    world.clock.advance(15 * DAY_MINUTES)
    bilateral = json.loads((await operator.get_ageing("bilateral")).report_json)
    inquiry = _entry(bilateral)
    assert inquiry["age_buckets"]["31-60"] == 1
    assert inquiry["age_buckets"]["15-30"] == 0
    assert inquiry["overdue"] == 1
    assert inquiry["median_age_days"] is None  # one value: no median

    routing = json.loads((await operator.get_ageing("routing")).report_json)
    [row] = [r for r in routing["rows"] if r["kind"] == SI]
    assert row["reference"] == opened.case_ref
    assert row["days_overdue"] in (5, 6)  # due by the end of a day 29 days on
    assert "days_in_stage" not in row

    officer = await desk.api(GR)
    unit = json.loads((await officer.get_ageing()).report_json)
    assert unit["exempt"] is True
    assert [r["days_overdue"] for r in unit["rows"] if r["kind"] == SI] == [row["days_overdue"]]

    gr = world.nodes[GR]
    before = gr.store.audit.size
    auditor = await desk.people[GR].client("au.1", (Role.AUDITOR,), grants=())
    audit = json.loads((await auditor.get_ageing("audit")).report_json)
    assert _entry(audit)["open"] == "<10"
    assert audit["suppressed"] is True
    assert all("oldest_age_days" not in e for e in audit["requests"])
    reads = [
        audit_pb2.AuditEvent.FromString(leaf)
        for _, leaf in await gr.store.audit.events(gr.store.audit.size - before + 1, 0)
    ]
    assert [(e.actor, e.status) for e in reads if e.kind == Kind.AUDIT_EVENT_KIND_INDICATOR_READ][:1] == [
        ("au.1", "ageing audit node")
    ]

    with pytest.raises(PermissionDenied):
        await officer.get_ageing("bilateral")
    with pytest.raises(PermissionDenied):
        await operator.get_ageing("audit")
    with pytest.raises(UsageError):
        await operator.get_ageing("oldest")
