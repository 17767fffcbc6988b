"""Consular visits: a consul's record of a visit to their national, kept at this node (docs/consuls.md).

A visit is a LOCAL case event (``focalpoint.cases.consular.LOCAL_KIND``) on the link: sealed under
the storage key like every case event, folded as nothing (it moves no stage and no clock), and
never queued to the partner. The visit itself is the event's attachment, the serialized
``ConsularVisit``: coded values and dates only, so a consul, whose view holds no free text,
writes none either. Recording one is audited in the same write: a STATUS_CHANGED leaf naming the
actor and the case reference, never what the visit found.

Who may record is the door's decision (``Action.CONSULAR_VISIT``: the consul of an own national,
or a case officer of the owning unit); this module judges the visit and keeps it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from focalpoint.audit import events as audit_events
from focalpoint.cases.consular import LOCAL_KIND, visit_problems
from focalpoint.cases.events import Event, Origin
from focalpoint.errors import DamagedData, PreconditionFailed, UsageError
from focalpoint.node.casework import CaseWork
from focalpoint.node.ports import Clock
from focalpoint.storage.base import CaseStore, CaseWrite, LinkRow
from focalpoint.v1 import local_pb2

__all__ = ["AUDIT_STATUS", "ConsularVisits", "RecordedVisit"]

# What the audit log says of a recorded visit (the leaf names the actor and the case reference).
AUDIT_STATUS = "consular visit recorded"


@dataclass(frozen=True, slots=True)
class RecordedVisit:
    visit: local_pb2.ConsularVisit
    recorded_by: str  # local user id
    recorded_at_ms: int


class ConsularVisits:
    def __init__(self, *, work: CaseWork, store: CaseStore, clock_ms: Clock) -> None:
        self._work = work
        self._store = store
        self._clock = clock_ms

    async def record(self, link: LinkRow, visit: local_pb2.ConsularVisit, *, actor: str) -> RecordedVisit:
        """Keep ``visit`` on ``link`` as a local event with its audit leaf, in one write; raises
        UsageError naming every field that is wrong, PreconditionFailed on a closed link."""
        now = self._clock()
        problems = visit_problems(visit, now_ms=now)
        if problems:
            raise UsageError("; ".join(f"{name}: {why}" for name, why in problems.items()))
        if link.closed:
            raise PreconditionFailed("the case is closed: a consular visit is recorded on an open case only")
        if not actor:
            raise UsageError("a consular visit is recorded by a person (a session's account)")
        event = Event(
            kind=LOCAL_KIND,
            origin=Origin.LOCAL,
            sender_side=link.our_side,
            sender_node="",
            at_ms=now,
            message_id=b"visit:" + uuid.uuid4().bytes,
            actor=actor,
            attachment=visit.SerializeToString(deterministic=True),
        )
        leaf = audit_events.status_changed(at_ms=now, actor=actor, case_ref=link.case_ref, status=AUDIT_STATUS)
        await self._store.apply(
            CaseWrite(events=[self._work.new_event(link.link_id, event)], leaves=[(leaf, link.case_ref)])
        )
        return RecordedVisit(visit, actor, now)

    async def of_link(self, link: LinkRow) -> list[RecordedVisit]:
        """The link's recorded visits, newest first."""
        out = []
        for e in await self._work.events(link):
            if e.kind != LOCAL_KIND:
                continue
            try:
                visit = local_pb2.ConsularVisit.FromString(e.attachment)
            except DecodeError:
                raise DamagedData(f"link {link.link_id}: a stored consular visit does not parse") from None
            out.append(RecordedVisit(visit, e.actor, e.at_ms))
        return sorted(out, key=lambda v: v.recorded_at_ms, reverse=True)
