"""The deadline ladder end to end between real nodes over mutual TLS: the identifying State (GR)
asks the State of origin (AL) for a routine social inquiry (30 days) that AL never answers, and
the shared clock moves across ten weeks with each node's deadline scan run twice after every step.

What people and partners see: AL's assigned officer is reminded at 75 % and again a day before
the due date ("deadline:24h"), AL's supervisors at the due date; GR's supervisors are told of the
L1 reminder that travels to AL at the due date, GR's focal-point head of the L2 reminder at +50 %,
and the L3 level puts the request among the L3-escalated ones of the bilateral ageing report. Each
reminder is acknowledged by AL (REMINDER_NOTED, with the due date) and the acknowledgement shows on
GR's timeline. Every level is taken once however often the scan runs; notifications carry an event
name and the case reference, never content; the ageing report and ``case deadlines`` say the same
at each step."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from focalpoint.localnet import LocalNetwork
from focalpoint.node.notify import Notification
from focalpoint.people.roles import Grant
from focalpoint.v1 import codes_pb2, local_pb2
from tests.server.test_ageing_api import SI, _entry, _routine
from tests.server.test_cases_api import AL, GR, ref_to
from tests.server.test_people import (
    World,
    world,  # noqa: F401 (the fixture)
)

DAY_MS = 86_400_000
MINUTE_MS = 60_000
RENEW_MS = 15 * DAY_MS  # the directory's publisher renews a version (valid 30 days) this often
SUPERVISORS = ("officer.1", "supervisor.2")  # the unit's case officers with the approve grant
ASSIGNED = "co.assigned"  # the one AL officer the link is assigned to
HEAD = ("operator.1",)  # the focal-point head: the enabled operators


def _deadline_told(told: list[Notification]) -> list[tuple[str, tuple[str, ...], str]]:
    return [(n.event, n.users, n.case_ref) for n in told if n.event.startswith("deadline:")]


def _strings(message: Message) -> Iterator[str]:
    """Every text a message holds, nested messages included."""
    for field, value in message.ListFields():
        values = value if field.is_repeated else [value]
        for v in values:
            if isinstance(v, Message):
                yield from _strings(v)
            elif isinstance(v, str):
                yield v


@dataclass
class Climb:
    """The scenario's case on both nodes, and the step that moves the clock."""

    world: World
    network: LocalNetwork
    case_ref: str
    links: dict[str, str]  # node -> its link id
    received_ms: int  # AL's signed receipt of the inquiry: where its clock starts
    published_ms: int

    async def to_day(self, days: float) -> None:
        """Move the shared clock to ``days`` after the receipt, keep the directory current (sending
        is refused once it expires), run each node's scan twice, and let what the scans sent arrive
        and be noted (AL acknowledges a reminder in its next scan)."""
        clock = self.world.clock
        clock.advance((self.received_ms + int(days * DAY_MS) - clock()) / MINUTE_MS)
        if clock() - self.published_ms >= RENEW_MS:
            await self._renew_directory()
        for _ in range(2):
            for node_id in (GR, AL):
                await self.world.nodes[node_id].deadlines.scan()
        await self._all_delivered(GR)
        await self.world.nodes[AL].deadlines.scan()
        await self._all_delivered(AL)

    async def _renew_directory(self) -> None:
        now = self.world.clock()
        self.network.publish(now=dt.datetime.fromtimestamp(now / 1000, dt.UTC))
        self.published_ms = now
        deadline = time.monotonic() + 10
        for node_id in (GR, AL):
            while self.world.nodes[node_id].cache.current.version < self.network.version:
                assert time.monotonic() < deadline, f"{node_id} did not load the renewed directory"
                await asyncio.sleep(0.02)

    async def timeline(self, node_id: str) -> list[local_pb2.CaseTimelineEntry]:
        """The link's messages with their bodies, as an officer working it reads them."""
        reader = await self.world.desk.api(node_id, ASSIGNED if node_id == AL else "officer.1")
        shown = await reader.show_case(self.links[node_id], content=True)
        return list(shown.timeline)

    async def _all_delivered(self, node_id: str) -> None:
        for entry in await self.timeline(node_id):
            if entry.direction == "sent":
                await self.world.desk.delivered(node_id, entry.message_id)

    async def bilateral(self) -> dict[str, Any]:
        """GR's bilateral ageing report, its entry for the social inquiry to AL."""
        operator = await self.world.desk.people[GR].operator()
        entry = _entry(json.loads((await operator.get_ageing("bilateral")).report_json))
        assert entry["partner"] == "AL"
        assert entry["open"] == 1
        return entry

    async def levels(self, node_id: str) -> list[str]:
        """The levels ``case deadlines`` shows taken on the inquiry at ``node_id``."""
        operator = await self.world.desk.people[node_id].operator()
        shown = await operator.case_deadlines(self.links[node_id])
        [inquiry] = [r for r in shown.requests if r.kind == SI]
        return list(inquiry.levels_done)

    async def reminders_at_al(self) -> list[local_pb2.CaseTimelineEntry]:
        return [e for e in await self.timeline(AL) if e.kind == "reminder"]

    async def noted_at_gr(self) -> list[local_pb2.CaseTimelineEntry]:
        return [
            e
            for e in await self.timeline(GR)
            if e.kind == "acknowledgement"
            and e.direction == "received"
            and e.body.acknowledgement.kind == codes_pb2.ACK_KIND_REMINDER_NOTED
        ]


async def _unanswered_inquiry(world: World, network: LocalNetwork) -> Climb:  # noqa: F811
    """GR notifies AL of a case, AL acknowledges, GR asks for a routine social inquiry; the people
    who are told: AL's link assigned to one officer, two approving officers in each unit, an operator each."""
    desk = world.desk
    for node_id in (GR, AL):
        await desk.people[node_id].client("supervisor.2", grants=(Grant.APPROVE,))
        await desk.people[node_id].operator()
    opened = await desk.open()
    notification = await desk.send(GR, opened.case_ref, "case_notification")
    await desk.send(AL, opened.case_ref, "acknowledgement", ref_to("acknowledgement.acknowledges", notification))
    await desk.send(GR, opened.case_ref, SI, _routine(world.clock()))
    links = {node_id: await desk.link_at(node_id, opened.case_ref) for node_id in (GR, AL)}
    await desk.people[AL].client(ASSIGNED, grants=())
    await (await desk.api(AL, "supervisor.2")).assign_case(links[AL], users=[ASSIGNED])
    shown = await (await desk.people[GR].operator()).case_deadlines(links[GR])
    [inquiry] = [r for r in shown.requests if r.kind == SI]
    assert inquiry.direction == "we asked"
    return Climb(world, network, opened.case_ref, links, inquiry.started_at_ms, world.clock())


async def test_an_unanswered_social_inquiry_climbs_both_ladders_once_each(
    world: World,  # noqa: F811
    network: LocalNetwork,
) -> None:
    climb = await _unanswered_inquiry(world, network)
    ref = climb.case_ref
    told_al, told_gr = world.told_at[AL].sent, world.told_at[GR].sent
    al_op = await world.desk.people[AL].operator()
    [theirs] = [r for r in (await al_op.case_deadlines(climb.links[AL])).requests if r.kind == SI]
    period_days = (theirs.due_ms - theirs.started_at_ms) / DAY_MS
    # Due by the end of the UTC day 29 days on (the checkpoints below hold for any period in 29-30.1 days).
    assert 29 <= period_days < 30.1
    expected_by = dt.datetime.fromtimestamp(theirs.due_ms / 1000, dt.UTC).date()

    # Day 20: two thirds of the period; nobody is told yet.
    await climb.to_day(20)
    assert _deadline_told(told_al) == _deadline_told(told_gr) == []
    entry = await climb.bilateral()
    assert entry["age_buckets"]["15-30"] == 1
    assert (entry["overdue"], entry["l3_escalated"]) == (0, 0)

    # Day 25, past 75 %: AL reminds its assigned officer, only them.
    await climb.to_day(25)
    assert _deadline_told(told_al) == [("deadline:75%", (ASSIGNED,), ref)]
    assert _deadline_told(told_gr) == []
    assert await climb.levels(AL) == ["REMIND_ASSIGNEE"]
    assert await climb.levels(GR) == []

    # An hour past one day before the due date: AL tells its assigned officer it is due tomorrow.
    await climb.to_day((theirs.due_ms - climb.received_ms) / DAY_MS - 1 + 1 / 24)
    assert _deadline_told(told_al) == [("deadline:75%", (ASSIGNED,), ref), ("deadline:24h", (ASSIGNED,), ref)]
    assert _deadline_told(told_gr) == []
    assert await climb.levels(AL) == ["DUE_IN_24H", "REMIND_ASSIGNEE"]

    # Day 32, past due: AL escalates to its supervisors; GR sends AL the L1 reminder and tells its
    # own supervisors; AL notes the reminder with the due date, and GR receives that.
    await climb.to_day(32)
    assert _deadline_told(told_al) == [
        ("deadline:75%", (ASSIGNED,), ref),
        ("deadline:24h", (ASSIGNED,), ref),
        ("deadline:overdue", SUPERVISORS, ref),
    ]
    assert _deadline_told(told_gr) == [("deadline:reminder-L1", SUPERVISORS, ref)]
    [l1] = await climb.reminders_at_al()
    assert l1.direction == "received"
    assert l1.body.reminder.level == codes_pb2.ESCALATION_LEVEL_L1_OFFICER
    [noted] = await climb.noted_at_gr()
    assert noted.body.acknowledgement.acknowledges.message_id == l1.message_id
    got = noted.body.acknowledgement.expected_by
    assert dt.date(got.year, got.month, got.day) == expected_by
    entry = await climb.bilateral()
    assert entry["age_buckets"]["31-60"] == 1
    assert entry["age_buckets"]["15-30"] == 0
    assert (entry["overdue"], entry["l3_escalated"]) == (1, 0)
    assert await climb.levels(GR) == ["REMINDER_L1"]
    assert await climb.levels(AL) == ["DUE_IN_24H", "ESCALATE_SUPERVISOR", "REMIND_ASSIGNEE"]

    # Day 46, past +50 %: the L2 reminder, for AL's focal-point head; GR's head is told. Noted too.
    await climb.to_day(46)
    assert _deadline_told(told_gr) == [
        ("deadline:reminder-L1", SUPERVISORS, ref),
        ("deadline:reminder-L2", HEAD, ref),
    ]
    assert [r.body.reminder.level for r in await climb.reminders_at_al()] == [
        codes_pb2.ESCALATION_LEVEL_L1_OFFICER,
        codes_pb2.ESCALATION_LEVEL_L2_FOCAL_POINT_HEAD,
    ]
    assert len(await climb.noted_at_gr()) == 2
    entry = await climb.bilateral()
    assert entry["age_buckets"]["31-60"] == 1
    assert (entry["overdue"], entry["l3_escalated"]) == (1, 0)
    assert await climb.levels(GR) == ["REMINDER_L1", "REMINDER_L2"]

    # Day 62, past +100 %: L3 lists the request for the steering contacts (the bilateral report);
    # it sends no message and tells no one.
    await climb.to_day(62)
    entry = await climb.bilateral()
    assert entry["age_buckets"]["61-90"] == 1
    assert entry["age_buckets"]["31-60"] == 0
    assert (entry["overdue"], entry["l3_escalated"]) == (1, 1)
    assert await climb.levels(GR) == ["REMINDER_L1", "REMINDER_L2", "REMINDER_L3"]

    # Day 70: more scans take nothing again, on either side.
    await climb.to_day(70)
    assert _deadline_told(told_gr) == [
        ("deadline:reminder-L1", SUPERVISORS, ref),
        ("deadline:reminder-L2", HEAD, ref),
    ]
    assert _deadline_told(told_al) == [
        ("deadline:75%", (ASSIGNED,), ref),
        ("deadline:24h", (ASSIGNED,), ref),
        ("deadline:overdue", SUPERVISORS, ref),
    ]
    assert len(await climb.reminders_at_al()) == 2
    assert len(await climb.noted_at_gr()) == 2
    assert await climb.levels(GR) == ["REMINDER_L1", "REMINDER_L2", "REMINDER_L3"]
    assert await climb.levels(AL) == ["DUE_IN_24H", "ESCALATE_SUPERVISOR", "REMIND_ASSIGNEE"]
    assert (await climb.bilateral())["l3_escalated"] == 1

    # Only event names and the reference: nothing of what the case's messages say.
    content = {
        text
        for entry in await climb.timeline(GR)
        if entry.kind in ("case_notification", SI)
        for text in _strings(getattr(entry.body, entry.kind))
        if len(text) >= 4 and text != ref
    }
    assert content  # the names, places and notes the inquiry carries
    told = world.told.sent
    assert {n.case_ref for n in told if n.event.startswith("deadline:")} == {ref}
    for n in told:
        said = " ".join((n.event, n.case_ref, *n.users))
        assert not [text for text in content if text in said], n.event
