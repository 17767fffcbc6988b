"""Consular visits through the local API of real nodes (docs/consuls.md): a consul of the child's
State records a visit to their national on the Albanian node, a case officer of the owning unit
may too; a consul posted elsewhere, or of another State, and an operator are refused (with an
ACCESS_DENIED event). Every field is judged, every problem named at once. The visit is a local
event: audited as a status change naming the actor (never what was found), shown by ShowCase in
the FULL and REPATRIATION views only, newest first, and never sent: the partner's timeline and
both outboxes are as they were. Plus the pure judgement of a visit, field by field."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st

from focalpoint.cases.consular import CONCERNS, PLACES, TRAVEL_DOCUMENT, latest_today, visit_problems
from focalpoint.errors import PermissionDenied, PreconditionFailed, UsageError
from focalpoint.node.ports import wall_clock_ms
from focalpoint.node.visits import AUDIT_STATUS, ConsularVisits
from focalpoint.people.roles import Role
from focalpoint.v1 import audit_pb2, common_pb2, local_pb2
from tests.server.test_scenarios import _acknowledged
from tests.server.test_views_served import _consul
from tests.server.test_views_served import officials as officials  # the fixture
from tests.support.scenario import AL, GR, Officials

Kind = audit_pb2.AuditEventKind
DAY_MS = 86_400_000
NOW_MS = 1_780_000_000_000  # 2026-05-28, UTC


def _date(d: dt.date) -> common_pb2.Date:
    return common_pb2.Date(year=d.year, month=d.month, day=d.day)


def visit(
    *,
    days_ago: int = 1,
    now_ms: int | None = None,
    concerns: tuple[int, ...] = (local_pb2.CONSULAR_CONCERN_DOCUMENTS,),
    progress: int = local_pb2.TRAVEL_DOCUMENT_PROGRESS_APPLIED,
) -> local_pb2.ConsularVisit:
    """A visit that may be recorded: ``days_ago`` (UTC days before ``now_ms``), the next one in two weeks."""
    today = dt.datetime.fromtimestamp((now_ms or wall_clock_ms()) / 1000, dt.UTC).date()
    return local_pb2.ConsularVisit(
        visited_on=_date(today - dt.timedelta(days=days_ago)),
        place=local_pb2.CONSULAR_VISIT_PLACE_SHELTER,
        child_seen=True,
        interpreter_used=False,
        travel_document=local_pb2.TravelDocumentProgress.ValueType(progress),
        next_visit_on=_date(today + dt.timedelta(days=14)),
        concerns=[local_pb2.ConsularConcern.ValueType(c) for c in concerns],
    )


# --- through the node ---------------------------------------------------------------------------


async def test_a_consul_records_a_visit_that_stays_at_their_node(officials: Officials) -> None:
    o = officials
    ref, _ = await _acknowledged(o)
    link = await o.link(AL, ref)
    consul = await _consul(o, "consul.1")
    partner_before = await o.show(GR, ref)
    outboxes = {n: await o.outbox_size(n) for n in (GR, AL)}

    await consul.record_consular_visit(link, visit(days_ago=3))
    await consul.record_consular_visit(
        link,
        visit(
            days_ago=0, concerns=(local_pb2.CONSULAR_CONCERN_NONE,), progress=local_pb2.TRAVEL_DOCUMENT_PROGRESS_ISSUED
        ),
    )

    shown = await consul.show_case(link)
    assert shown.view == "REPATRIATION"
    [newest, older] = shown.consular_visits
    assert (newest.recorded_by, older.recorded_by) == ("consul.1", "consul.1")
    assert newest.recorded_at_ms >= older.recorded_at_ms
    assert newest.visit.travel_document == local_pb2.TRAVEL_DOCUMENT_PROGRESS_ISSUED
    assert list(newest.visit.concerns) == [local_pb2.CONSULAR_CONCERN_NONE]
    assert older.visit == visit(days_ago=3)

    # The owning unit's officer sees them too (FULL), and may record one.
    officer = await o.api(AL)
    await officer.record_consular_visit(link, visit(days_ago=2))
    full = await officer.show_case(link)
    assert full.view == "FULL"
    assert full.consular_visits[0].recorded_by == "officer.1"
    assert len(full.consular_visits) == 3

    # Local only: no message queued at either node, the partner's timeline is as it was, and the
    # visits are no entry of this node's timeline either.
    assert {n: await o.outbox_size(n) for n in (GR, AL)} == outboxes
    partner_after = await o.show(GR, ref)
    assert list(partner_after.timeline) == list(partner_before.timeline)
    assert list(partner_after.consular_visits) == []
    assert all(not e.kind.startswith("local:") for e in full.timeline)

    # Audited: one status change per visit naming who recorded it, and nothing of what was found.
    recorded = [
        e for e in await o.audit(AL, ref) if e.kind == Kind.AUDIT_EVENT_KIND_STATUS_CHANGED and e.status == AUDIT_STATUS
    ]
    assert [e.actor for e in recorded] == ["consul.1", "consul.1", "officer.1"]
    assert all(e.case_ref == ref for e in recorded)
    assert AUDIT_STATUS not in await o.statuses(GR, ref)


async def test_who_may_record_a_visit(officials: Officials) -> None:
    o = officials
    ref, _ = await _acknowledged(o)
    link = await o.link(AL, ref)
    people = o.people(AL)
    elsewhere = await _consul(o, "consul.rome", unit="al-mfa/rome", district="IT")
    greek = await people.client(
        "consul.gr", (Role.CONSULAR_OFFICER,), unit="gr-mfa/tirana", consular_state="GR", district=("GR",)
    )
    other_unit = await people.client("officer.korca", unit="al-shss/korca")
    operator = await people.operator()
    for client in (elsewhere, greek, other_unit, operator):
        with pytest.raises(PermissionDenied) as refused:
            await client.record_consular_visit(link, visit())
        assert ref not in str(refused.value)
        assert link not in str(refused.value)
    denied = [e for e in await o.audit(AL, ref) if e.kind == Kind.AUDIT_EVENT_KIND_ACCESS_DENIED]
    assert {"consul.rome", "consul.gr", "officer.korca"} <= {e.actor for e in denied}
    assert len(denied) >= 4
    assert list((await (await o.api(AL)).show_case(link)).consular_visits) == []

    # Refused before the visit is judged: a refused caller learns nothing from the validation.
    with pytest.raises(PermissionDenied):
        await elsewhere.record_consular_visit(link, local_pb2.ConsularVisit())


async def test_every_problem_is_named_at_once_and_nothing_is_kept(officials: Officials) -> None:
    o = officials
    ref, _ = await _acknowledged(o)
    link = await o.link(AL, ref)
    consul = await _consul(o, "consul.1")
    tomorrow_somewhere = visit(days_ago=-2)
    tomorrow_somewhere.ClearField("next_visit_on")
    with pytest.raises(UsageError) as future:
        await consul.record_consular_visit(link, tomorrow_somewhere)
    assert str(future.value).endswith(
        "INVALID_ARGUMENT: visited_on: is in the future: record a visit once it has taken place"
    )
    with pytest.raises(UsageError) as empty:
        await consul.record_consular_visit(link, local_pb2.ConsularVisit())
    for name in ("visited_on", "place", "child_seen", "interpreter_used", "travel_document", "concerns"):
        assert f"{name}: " in str(empty.value), name
    with pytest.raises(UsageError, match="visit: give the visit"):
        await consul._call(consul._stub.RecordConsularVisit, local_pb2.RecordConsularVisitRequest(link_id=link))
    assert list((await consul.show_case(link)).consular_visits) == []


async def test_a_closed_case_takes_no_visit(officials: Officials) -> None:
    o = officials
    ref, _ = await _acknowledged(o)
    link = await o.link(AL, ref)
    node = o.nodes[AL]
    row = await node.store.cases.link(link)
    assert row is not None
    visits = ConsularVisits(work=node.casework, store=node.store.cases, clock_ms=node.clock_ms)
    with pytest.raises(PreconditionFailed, match="closed"):
        await visits.record(dataclasses.replace(row, closed=True), visit(), actor="consul.1")
    assert await visits.of_link(row) == []


# --- the judgement, pure --------------------------------------------------------------------------


def test_a_good_visit_has_no_problem_and_the_codes_are_listed() -> None:
    assert visit_problems(visit(now_ms=NOW_MS), now_ms=NOW_MS) == {}
    assert visit_problems(visit(now_ms=NOW_MS, days_ago=0), now_ms=NOW_MS) == {}
    assert {"SHELTER", "OTHER"} <= set(PLACES)
    assert TRAVEL_DOCUMENT[0] == "NOT_STARTED"
    assert CONCERNS[-1] == "NONE"


def test_each_field_names_its_problem() -> None:
    def problems(**change: object) -> dict[str, str]:
        """The problems of the good visit with ``change`` (a field's JSON value; None: left out)."""
        fields = {
            **json_format.MessageToDict(
                visit(now_ms=NOW_MS), use_integers_for_enums=True, preserving_proto_field_name=True
            ),
            **change,
        }
        given = {name: value for name, value in fields.items() if value is not None}
        return visit_problems(json_format.ParseDict(given, local_pb2.ConsularVisit()), now_ms=NOW_MS)

    def day(d: dt.date | common_pb2.Date) -> dict[str, int]:
        d = _date(d) if isinstance(d, dt.date) else d
        return {"year": d.year, "month": d.month, "day": d.day}

    today = latest_today(NOW_MS)
    assert problems(visited_on=None) == {"visited_on": "give the day of the visit"}
    assert "calendar date" in problems(visited_on={"year": 2026, "month": 2, "day": 30})["visited_on"]
    assert "future" in problems(visited_on=day(today + dt.timedelta(days=1)), next_visit_on=None)["visited_on"]
    assert "before 2000" in problems(visited_on={"year": 1999, "month": 12, "day": 31})["visited_on"]
    assert problems(place=0) == {"place": "choose where the visit took place"}
    assert problems(place=99) == {"place": "is not a code of where the visit took place"}
    assert problems(child_seen=None) == {"child_seen": "say whether the child was seen"}
    assert problems(interpreter_used=None) == {"interpreter_used": "say whether an interpreter was used"}
    assert problems(child_seen=False, interpreter_used=False) == {}  # "no" is an answer
    assert problems(travel_document=0) == {"travel_document": "choose the travel document's progress"}
    assert problems(next_visit_on=None) == {}
    v = visit(now_ms=NOW_MS)
    assert problems(next_visit_on=day(v.visited_on)) == {"next_visit_on": "must be after the day of this visit"}
    assert problems(next_visit_on=day(today + dt.timedelta(days=400))) == {
        "next_visit_on": "must be within a year from today"
    }
    assert problems(concerns=[]) == {"concerns": "choose at least one (NONE when nothing was raised)"}
    assert problems(concerns=[1, 1]) == {"concerns": "names a concern twice"}
    assert problems(concerns=[1, 6]) == {"concerns": "NONE cannot be combined with a concern"}
    assert problems(concerns=[0]) == {"concerns": "holds a code that is not a concern"}


def test_today_is_judged_by_the_earliest_time_zone() -> None:
    late_evening_utc = int(dt.datetime(2026, 5, 28, 23, 0, tzinfo=dt.UTC).timestamp() * 1000)
    assert latest_today(late_evening_utc) == dt.date(2026, 5, 29)  # already the 29th in Kiribati
    assert latest_today(int(dt.datetime(2026, 5, 28, 1, 0, tzinfo=dt.UTC).timestamp() * 1000)) == dt.date(2026, 5, 28)


@given(days=st.integers(min_value=-3000, max_value=3000), now=st.integers(min_value=10**12, max_value=4 * 10**12))
def test_the_visit_day_is_refused_exactly_when_it_is_after_the_latest_today(days: int, now: int) -> None:
    day = latest_today(now) + dt.timedelta(days=days)
    v = visit(now_ms=now)
    v.visited_on.CopyFrom(_date(day))
    v.ClearField("next_visit_on")
    problem = visit_problems(v, now_ms=now).get("visited_on", "")
    assert ("future" in problem) == (days > 0)
