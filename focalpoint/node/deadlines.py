"""The node acts on deadlines: reminders, escalations, the guardian ladder, unanswered emergencies.

Why this module exists: a clock nobody watches is a statement, not accountability. ``scan`` visits
the links whose stored summary says a step may have fallen due, or that must be summarised again
(``focalpoint.node.summaries``: a link that changed, a wake-up time come, a partner's agreement
changed), so a scan costs what is due, not the size of the store. It reads each such link's
requests and their clocks (``focalpoint.cases.requests``), takes each rung of the ladder that has
fallen due (``focalpoint.cases.clocks``) on either side of a request, and stores the link's summary
with its next wake-up time:

- local steps tell this node's own people through the ``Notifier``: the request's assignee (the
  link's assigned officers, else its unit's officers), the unit's supervisors, the focal-point
  head (the enabled operators). Only an event name ("deadline:75%", "guardian:breach") and the
  case reference: never content.
- the requester's L1 and L2 rungs send the partner a ``reminder`` through the desk, as the node;
- a received reminder is answered with acknowledgement(REMINDER_NOTED, expected_by the due date
  as it stands), where the transition table allows an acknowledgement (an active link); on a
  link that is no longer active it is not answered: there is nothing left to expect;
- an expected message (``focalpoint.cases.expected``) runs the same way: a follow-up report climbs
  the ladder; an unconfirmed handover past its window alerts the supervisors on both sides
  ("handover:overdue"), each node from the same signed times, no message between them;
- an EMERGENCY protection alert we sent without acknowledgement for 4 hours tells the 24/7 on-call
  list (the operators when nobody is on call) to phone the partner's 24/7 contact point (its
  directory id in the event name; never a number);
- on the identifying State's links the guardian ladder runs from identification.

Each step taken is a LOCAL case event (``local:ladder``: the request, the level, the occurrence)
with an audit leaf, written after the step is acted on: a restart never repeats a level, and a
crash between acting and recording at worst repeats a notification (a reminder repeated is the
same request id, never a second message). The node also records when it sees the link's agreement
suspended and resumed (``local:suspended``, ``local:resumed``): the clocks stand still between.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

import structlog

from focalpoint.audit import events as audit_events
from focalpoint.cases.clocks import (
    HOUR_MS,
    Action,
    Level,
    Step,
    due_ms,
    emergency_unacknowledged,
    guardian_steps,
    is_stopped,
    overdue_ms,
)
from focalpoint.cases.events import Event, Facts, Origin
from focalpoint.cases.requests import (
    LADDER_KIND,
    RESUMED_KIND,
    SUSPENDED_KIND,
    TrackedRequest,
    done_steps,
    is_suspended,
    levels_done,
    reminded_about,
    request_steps,
)
from focalpoint.cases.stages import ACTIVE, Side
from focalpoint.cases.state import LinkState
from focalpoint.errors import FocalpointError
from focalpoint.node.accounts import Accounts
from focalpoint.node.casedesk import CaseDesk
from focalpoint.node.casework import CaseWork
from focalpoint.node.notify import link_assignees, on_call_or_operators
from focalpoint.node.ports import Clock, Notifier
from focalpoint.node.summaries import Summaries, link_requests
from focalpoint.storage.base import CaseWrite, LinkRow, Store

__all__ = [
    "EMERGENCY_LEVEL",
    "GUARDIAN",
    "Deadlines",
    "GuardianDeadline",
    "LinkDeadlines",
    "RequestDeadline",
    "Scan",
    "link_requests",
]

log = structlog.get_logger("focalpoint.deadlines")

# What the ladder events name for the two ladders that are not one request's.
GUARDIAN = b"guardian"  # the guardian ladder of the link's child
EMERGENCY_LEVEL = "EMERGENCY_UNACKNOWLEDGED"  # an emergency alert unacknowledged: phone the partner

# The notification each level sends (an event name, never content).
_EVENTS = {
    Level.REMIND_ASSIGNEE: "deadline:75%",
    Level.DUE_IN_24H: "deadline:24h",
    Level.ESCALATE_SUPERVISOR: "deadline:overdue",
    Level.REMINDER_L1: "deadline:reminder-L1",
    Level.REMINDER_L2: "deadline:reminder-L2",
    Level.REMINDER_L3: "deadline:reminder-L3",
    Level.GUARDIAN_REMIND_OFFICER: "guardian:12h",
    Level.GUARDIAN_ESCALATE_SUPERVISOR: "guardian:20h",
    Level.GUARDIAN_BREACH: "guardian:breach",
    Level.GUARDIAN_DAILY: "guardian:daily",
    Level.HANDOVER_OVERDUE: "handover:overdue",
}
_MAX_LINKS = 100_000


@dataclasses.dataclass(frozen=True, slots=True)
class Scan:
    """What one scan did: links read, steps taken, reminders sent and noted."""

    links: int = 0
    steps: int = 0
    reminders: int = 0
    noted: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class RequestDeadline:
    """One request's deadline as this node sees it now (times in ms since the epoch, UTC)."""

    message_id: bytes
    kind: str
    we_asked: bool
    urgency: str
    started_at_ms: int | None
    due_ms: int | None
    overdue_ms: int
    stopped: bool
    answered_at_ms: int | None
    levels_done: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class GuardianDeadline:
    identified_at_ms: int
    deadline_ms: int
    appointed_at_ms: int | None
    breached: bool


@dataclasses.dataclass(frozen=True, slots=True)
class LinkDeadlines:
    requests: tuple[RequestDeadline, ...]
    guardian: GuardianDeadline | None


class Deadlines:
    def __init__(
        self,
        *,
        work: CaseWork,
        desk: CaseDesk,
        store: Store,
        accounts: Accounts,
        notifier: Notifier,
        clock_ms: Clock,
        max_links: int = _MAX_LINKS,
    ) -> None:
        self._work = work
        self._desk = desk
        self._store = store
        self._accounts = accounts
        self._notifier = notifier
        self._clock = clock_ms
        self._max_links = max_links
        self._lock = asyncio.Lock()
        self._summaries = Summaries(work=work, store=store, clock_ms=clock_ms)

    # -- the scan ---------------------------------------------------------------------------------

    async def scan(self, now_ms: int | None = None) -> Scan:
        """Take every rung due at ``now_ms`` (default: now) on the links whose summary says a step
        may be due or must be built again (``focalpoint.node.summaries``), at most ``max_links``."""
        async with self._lock:
            now = self._clock() if now_ms is None else now_ms
            await self._work.catch_up()
            contexts = self._summaries.contexts(await self._store.cases.partner_states())
            total = Scan()
            for link_id in await self._store.cases.summaries_due(now, contexts, self._max_links):
                try:
                    done = await self._visit(link_id, now)
                except FocalpointError as e:  # one link must not stop the others
                    log.warning("deadline_scan_failed", link=link_id, error=type(e).__name__)
                    continue
                total = Scan(
                    total.links + done.links,
                    total.steps + done.steps,
                    total.reminders + done.reminders,
                    total.noted + done.noted,
                )
            return total

    async def _visit(self, link_id: str, now: int) -> Scan:
        """Take the link's due steps, then store its summary. A pass that wrote (a step, a
        reminder noted, a suspension seen) reads the link once more to summarise what it wrote."""
        total = Scan()
        for _ in range(2):
            stored = await self._store.cases.summary(link_id)
            link = await self._store.cases.link(link_id)
            if stored is None or link is None:
                break
            events = await self._work.events(link)
            if not link.closed:
                events = await self._track_suspension(link, events, now)
            state = await self._work.state(link, events=events)
            tracked = await link_requests(self._work, self._store, link, events, state)
            done = Scan(1) if link.closed else await self._scan_link(link, events, state, tracked, now)
            total = Scan(1, total.steps + done.steps, total.reminders + done.reminders, total.noted + done.noted)
            after = await self._store.cases.summary(link_id)
            if after is not None and after.generation == stored.generation:  # nothing written since
                await self._summaries.save(link, stored.generation, events, state, tracked, now_ms=now)
                break
        return total

    async def _scan_link(
        self, link: LinkRow, events: list[Event], state: LinkState, tracked: Sequence[TrackedRequest], now: int
    ) -> Scan:
        done = done_steps(events)
        steps = reminders = noted = 0
        for t in tracked:
            for step in request_steps(t, now, done):
                reminders += await self._take(link, t, step, events, now)
                steps += 1
        for t in tracked:
            if t.we_asked and t.emergency and t.kind == "protection_alert":
                steps += await self._emergency(link, t, events, now)
        if link.our_side is Side.IS and state.identified_at_ms:
            rules = self._work.rules(link)
            for step in guardian_steps(
                state.identified_at_ms,
                state.guardian_appointed_at_ms or None,
                state.minority,
                rules.guardian_deadline_hours,
                now,
                done.get(GUARDIAN, frozenset()),
            ):
                await self._act(link, step, now)
                await self._record(link, GUARDIAN, step.level.value, step.occurrence, now)
                steps += 1
        if link.stage in ACTIVE:
            noted = await self._note_reminders(link, events, tracked, now)
        return Scan(1, steps, reminders, noted)

    async def _track_suspension(self, link: LinkRow, events: list[Event], now: int) -> list[Event]:
        """Record a change in the agreement's suspension as the node sees it now."""
        suspended = self._work.suspended(link)
        if suspended == is_suspended(events):
            return events
        kind = SUSPENDED_KIND if suspended else RESUMED_KIND
        event = Event(
            kind=kind,
            origin=Origin.LOCAL,
            sender_side=link.our_side,
            sender_node="",
            at_ms=now,
            message_id=f"{kind}:{now}".encode(),
            actor="node",
        )
        await self._write_local(link, event, status=kind)
        return [*events, event]

    async def _write_local(self, link: LinkRow, event: Event, *, status: str) -> None:
        """One local event of the node's own, with its status-changed leaf, in one write."""
        leaf = audit_events.status_changed(at_ms=event.at_ms, actor="node", case_ref=link.case_ref, status=status)
        await self._store.cases.apply(
            CaseWrite(events=[self._work.new_event(link.link_id, event)], leaves=[(leaf, link.case_ref)])
        )

    async def _tracked(self, link: LinkRow, events: Sequence[Event], state: LinkState) -> list[TrackedRequest]:
        return await link_requests(self._work, self._store, link, events, state)

    # -- acting -------------------------------------------------------------------------------------

    async def _take(self, link: LinkRow, t: TrackedRequest, step: Step, events: Sequence[Event], now: int) -> int:
        sent = 0
        request = next(e for e in events if e.message_id == t.message_id)
        for action in step.actions:
            if action in (Action.SEND_REMINDER_L1, Action.SEND_REMINDER_L2):
                assert t.clock is not None
                was_due = due_ms(t.clock, now) or now
                await self._desk.remind(
                    link.link_id, request, level=step.escalation_code, was_due_ms=was_due, occurrence=t.occurrence
                )
                sent += 1
        await self._act(link, step, now)
        await self._record(link, t.message_id, step.level.value, step.occurrence, now)
        return sent

    async def _act(self, link: LinkRow, step: Step, now: int) -> None:
        """Tell the people each of ``step``'s actions names (the partner's reminders are sent apart)."""
        event = _EVENTS[step.level]
        for action in step.actions:
            users: list[str] | None = None
            if action is Action.NOTIFY_ASSIGNEE:
                users = await link_assignees(self._accounts, link)
            elif action is Action.NOTIFY_SUPERVISOR:
                users = (await self._accounts.supervisors(link.unit) if link.unit else []) or (
                    await self._accounts.operators()
                )
            elif action is Action.NOTIFY_FOCAL_POINT_HEAD:
                users = await self._accounts.operators()
            if users is not None:
                await self._notifier.notify(sorted(users), event, case_ref=link.case_ref)

    async def _record(self, link: LinkRow, about: bytes, level: str, occurrence: int, now: int) -> None:
        """The step done, durably and audited: a LOCAL event (its id names the step, so writing it
        twice stores it once) and a status-changed leaf."""
        event = Event(
            kind=LADDER_KIND,
            origin=Origin.LOCAL,
            sender_side=link.our_side,
            sender_node="",
            at_ms=now,
            message_id=b"ladder:" + about + b":" + level.encode() + b":" + str(occurrence).encode(),
            actor="node",
            facts=Facts(refers_to=about, level=level, occurrence=occurrence),
        )
        await self._write_local(link, event, status=f"deadline:{level}" + (f" #{occurrence}" if occurrence else ""))

    async def _emergency(self, link: LinkRow, t: TrackedRequest, events: Sequence[Event], now: int) -> int:
        """An emergency alert without acknowledgement in its window: the on-call list phones the partner."""
        if any(e.kind == LADDER_KIND and e.facts.refers_to == t.message_id for e in events):
            return 0
        if t.answered_at_ms is not None or not emergency_unacknowledged(
            t.started_at_ms, t.acknowledged_at_ms, now, sent_at_ms=t.sent_at_ms
        ):
            return 0
        contact = self._urgent_contact(link)
        await self._notifier.notify(
            await on_call_or_operators(self._accounts), f"emergency:unacknowledged:{contact}", case_ref=link.case_ref
        )
        await self._record(link, t.message_id, EMERGENCY_LEVEL, 0, now)
        return 1

    def _urgent_contact(self, link: LinkRow) -> str:
        """The id of the partner State's 24/7 contact point in the directory ("" if it lists none)."""
        info = self._work.directory().states.get(link.partner_state)
        if info is None:
            return ""
        return next((c.id for c in info.entry.contact_points if c.urgent_24_7), "")

    async def _note_reminders(
        self, link: LinkRow, events: Sequence[Event], tracked: Sequence[TrackedRequest], now: int
    ) -> int:
        """Answer each received reminder not yet acknowledged, with the request's due date."""
        acked = {e.facts.refers_to for e in events if e.origin is Origin.SENT and e.kind == "acknowledgement"}
        noted = 0
        for e in events:
            if e.origin is not Origin.RECEIVED or e.kind != "reminder" or e.message_id in acked:
                continue
            about = reminded_about(tracked, e.facts.refers_to)
            expected = due_ms(about.clock, now) if about is not None and about.clock is not None else None
            try:
                await self._desk.note_reminder(link.link_id, e, expected_by_ms=expected)
            except FocalpointError as err:  # e.g. the table does not allow it now: the next scan tries again
                log.warning("reminder_not_noted", link=link.link_id, error=type(err).__name__)
                continue
            noted += 1
        return noted

    # -- reading ----------------------------------------------------------------------------------------

    async def of_link(self, link_id: str) -> LinkDeadlines:
        """The link's requests with their deadlines now, and its guardian deadline (identifying State)."""
        await self._work.catch_up()
        link = await self._work.link(link_id)
        now = self._clock()
        events = await self._work.events(link)
        state = await self._work.state(link, events=events)
        done = done_steps(events)
        requests = tuple(
            RequestDeadline(
                message_id=t.message_id,
                kind=t.kind,
                we_asked=t.we_asked,
                urgency=t.urgency.value,
                started_at_ms=t.started_at_ms,
                due_ms=_due(t, now),
                overdue_ms=overdue_ms(t.clock, now) if t.clock is not None else 0,
                stopped=t.clock is not None and not t.closed and is_stopped(t.clock, now),
                answered_at_ms=t.answered_at_ms,
                levels_done=tuple(sorted(lv.value for lv in levels_done(t, done))),
            )
            for t in await self._tracked(link, events, state)
        )
        guardian = None
        if link.our_side is Side.IS and state.identified_at_ms and state.minority != "VERIFIED_ADULT":
            hours = self._work.rules(link).guardian_deadline_hours
            deadline = state.identified_at_ms + min(hours or 24, 24) * HOUR_MS
            appointed = state.guardian_appointed_at_ms or None
            guardian = GuardianDeadline(
                identified_at_ms=state.identified_at_ms,
                deadline_ms=deadline,
                appointed_at_ms=appointed,
                breached=(appointed if appointed is not None else now) > deadline,
            )
        return LinkDeadlines(requests, guardian)


def _due(t: TrackedRequest, now: int) -> int | None:
    """The answer's due date as it stands, else (no response deadline) the acknowledgement's."""
    if t.clock is not None:
        return due_ms(t.clock, now)
    if t.started_at_ms is not None and t.deadline.acknowledge_ms is not None:
        return t.started_at_ms + t.deadline.acknowledge_ms
    return None
