"""Case links, their events, cursors and parked messages in the in-memory store (as
``focalpoint.storage.sqlite.cases``; the same checks, in the same order, with the same messages)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial

from focalpoint.errors import Conflict, NotFound
from focalpoint.storage.base import (
    CaseApplied,
    CaseEventRow,
    CaseWrite,
    DamagedLink,
    DamagedRow,
    LinkRow,
    NewLink,
    NewSummary,
    ParkedRow,
    SummaryRow,
)
from focalpoint.storage.memory.state import NO_BOUND, State, Tx, limit_rows, pause, touch_summary

__all__ = ["MemoryCases"]


def _created(new: NewLink) -> LinkRow:
    return LinkRow(
        link_id=new.link_id,
        case_id=new.case_id,
        case_ref=new.case_ref,
        partner_node=new.partner_node,
        partner_state=new.partner_state,
        our_side=new.our_side,
        unit=new.unit,
        created_at_ms=new.created_at_ms,
        stage=new.stage,
        stage_since_ms=new.created_at_ms,
        urgency=0,
        gate_missing="",
        next_due_ms=None,
        flagged=0,
        closed=False,
        updated_at_ms=new.created_at_ms,
        payload=bytes(new.payload),
    )


def _recency(link: LinkRow | DamagedLink) -> tuple[int, str]:
    assert isinstance(link, LinkRow)  # rows here are never damaged
    return link.updated_at_ms, link.link_id


class MemoryCases:
    def __init__(self, state: State) -> None:
        self._s = state

    async def create_link(self, link: NewLink, leaves: Sequence[bytes] = ()) -> None:
        await self.apply(CaseWrite(links=[link], leaves=[(leaf, link.case_ref) for leaf in leaves]))

    async def apply(self, write: CaseWrite) -> CaseApplied:
        if write.empty():
            await pause()
            return CaseApplied((), len(self._s.leaves))  # nothing to do: no transaction, as in SQLite
        return await self._s.write("case write", partial(self._apply, write))

    def _apply(self, write: CaseWrite, tx: Tx) -> CaseApplied:
        s = self._s
        links: dict[str, LinkRow] = {}  # this write's new and changed links
        refs: dict[tuple[str, str], str] = {}
        for new in write.links:
            if new.link_id in links or new.link_id in s.case_links:
                raise Conflict(f"case link {new.link_id} already exists; nothing was written")
            key = (new.case_ref, new.partner_node)
            other = refs.get(key) or s.case_refs.get(key)
            if other is not None:
                raise Conflict(
                    f"the case reference already has a link to {new.partner_node} (link {other}); nothing was written"
                )
            links[new.link_id], refs[key] = _created(new), new.link_id
        cursors: dict[str, int] = {}
        for move in write.cursors:
            at = cursors.get(move.source, s.case_cursors.get(move.source, 0))
            if at != move.from_position:
                raise Conflict(
                    f"case cursor {move.source!r} is at {at}, not {move.from_position}: another writer applied"
                    " those rows; nothing was written"
                )
            cursors[move.source] = move.to_position
        new_events: dict[tuple[str, bytes], None] = {}  # in the order given
        for e in write.events:
            if e.link_id not in links and e.link_id not in s.case_links:
                raise NotFound(f"no case link {e.link_id}; nothing was written")
            key_e = (e.link_id, bytes(e.message_id))
            if key_e in new_events or key_e in s.case_events:
                continue
            new_events[key_e] = None
            seq = tx.next_seq("case_event")
            row = CaseEventRow(
                seq, e.link_id, key_e[1], e.origin, e.kind, e.at_ms, e.sender_node, e.sequence, bytes(e.payload)
            )
            tx.put(s.case_events, key_e, row)
        for u in write.updates:
            current = links.get(u.link_id) or s.case_links.get(u.link_id)
            if current is None:
                raise NotFound(f"no case link {u.link_id}; nothing was written")
            links[u.link_id] = replace(
                current,
                stage=u.stage,
                stage_since_ms=u.stage_since_ms,
                urgency=u.urgency,
                gate_missing=u.gate_missing,
                next_due_ms=u.next_due_ms,
                flagged=u.flagged,
                closed=u.closed,
                updated_at_ms=u.updated_at_ms,
                unit=u.unit,
                payload=current.payload if u.payload is None else bytes(u.payload),
            )
        for link_id, link in links.items():
            tx.put(s.case_links, link_id, link)
        for key, link_id in refs.items():
            tx.put(s.case_refs, key, link_id)
        for source, position in cursors.items():
            tx.put(s.case_cursors, source, position)
        parked: dict[tuple[str, bytes], bool] = {}  # this write's view of which messages are parked
        for sender, message_id in write.unpark:
            parked[(sender, bytes(message_id))] = False
            tx.drop(s.case_parked, (sender, bytes(message_id)))
        for p in write.park:
            key_p = (p.sender, bytes(p.message_id))
            if parked.get(key_p, key_p in s.case_parked):
                continue
            parked[key_p] = True
            seq = tx.next_seq("parked")
            tx.put(s.case_parked, key_p, ParkedRow(seq, p.sender, key_p[1], p.case_ref, p.kind, p.at_ms, p.reason))
        for link_id, message_id, payload in write.reseal:
            key_r = (link_id, bytes(message_id))
            stored = s.case_events.get(key_r)
            if stored is not None:
                tx.put(s.case_events, key_r, replace(stored, payload=bytes(payload)))
        for sender, message_id in write.purge_inbox:
            key_i = (sender, bytes(message_id))
            held = s.inbox.get(key_i)
            if held is not None:
                tx.put(s.inbox, key_i, replace(held, row=replace(held.row, local_copy=b"")))
        for new in write.links:
            touch_summary(tx, new.link_id, new.partner_state)
        touched = [e.link_id for e in write.events] + [u.link_id for u in write.updates]
        for link_id in dict.fromkeys(touched + [link_id for link_id, _, _ in write.reseal]):
            touch_summary(tx, link_id)
        first = tx.next_index
        for leaf, case_ref in write.leaves:
            tx.log(leaf, case_ref)
        return CaseApplied(tuple(new_events), first)

    async def link(self, link_id: str) -> LinkRow | None:
        await pause()
        return self._s.case_links.get(link_id)

    async def link_by_ref(self, case_ref: str, partner_node: str) -> LinkRow | None:
        await pause()
        link_id = self._s.case_refs.get((case_ref, partner_node))
        return None if link_id is None else self._s.case_links[link_id]

    async def links_of_ref(self, case_ref: str) -> list[LinkRow | DamagedLink]:
        await pause()
        return [link for link in self._s.case_links.values() if link.case_ref == case_ref]

    async def links_of_case(self, case_id: str) -> list[LinkRow | DamagedLink]:
        """In the order they were created (dicts keep it; an update keeps a link's place)."""
        await pause()
        rows: list[LinkRow | DamagedLink] = [link for link in self._s.case_links.values() if link.case_id == case_id]
        return rows

    async def events(self, link_id: str) -> list[CaseEventRow | DamagedRow]:
        await pause()
        rows: list[CaseEventRow | DamagedRow] = [e for e in self._s.case_events.values() if e.link_id == link_id]
        return rows

    async def cursor(self, source: str) -> int:
        await pause()
        return self._s.case_cursors.get(source, 0)

    async def worklist(
        self, unit: str | None, *, limit: int, before: tuple[int, str] | None = None, include_closed: bool = False
    ) -> list[LinkRow | DamagedLink]:
        await pause()
        rows: list[LinkRow | DamagedLink] = [
            link
            for link in self._s.case_links.values()
            if (unit is None or link.unit == unit)
            and (include_closed or not link.closed)
            and (before is None or (link.updated_at_ms, link.link_id) < before)
        ]
        rows.sort(key=_recency, reverse=True)
        return limit_rows(rows, limit)

    async def parked(self, limit: int, before: int) -> list[ParkedRow | DamagedRow]:
        """As SQLite's; rows here are never damaged."""
        await pause()
        bound = before or NO_BOUND
        rows: list[ParkedRow | DamagedRow] = [p for p in self._s.case_parked.values() if p.seq < bound]
        rows.sort(key=lambda p: p.seq, reverse=True)
        return limit_rows(rows, limit)

    async def summary(self, link_id: str) -> SummaryRow | None:
        await pause()
        return self._s.case_summaries.get(link_id)

    async def summaries(self, *, limit: int, after: str = "") -> list[SummaryRow | DamagedLink]:
        await pause()
        rows: list[SummaryRow | DamagedLink] = sorted(
            (r for r in self._s.case_summaries.values() if r.link_id > after), key=lambda r: r.link_id
        )
        return limit_rows(rows, limit)

    async def summaries_of(self, link_ids: Sequence[str]) -> list[SummaryRow | DamagedLink]:
        await pause()
        return [r for i in dict.fromkeys(link_ids) if (r := self._s.case_summaries.get(i)) is not None]

    async def cases_bearing_on(self, end_ms: int, from_ms: int) -> set[str]:
        await pause()
        spans = self._s.summary_spans
        out: set[str] = set()
        for r in self._s.case_summaries.values():
            _, first, last = spans.get(r.link_id, ("", 0, 0))
            if r.built_from != r.generation or first == 0 or (first < end_ms and (last == 0 or last >= from_ms)):
                out.add(r.case_id)
        return out

    async def summaries_due(self, now_ms: int, contexts: Mapping[str, str], limit: int) -> list[str]:
        await pause()
        due = [
            r.link_id
            for r in self._s.case_summaries.values()
            if r.built_from != r.generation
            or (r.wake_at_ms is not None and r.wake_at_ms <= now_ms)
            or (r.partner_state in contexts and r.context != contexts[r.partner_state])
        ]
        return limit_rows(sorted(due), limit)

    async def partner_states(self) -> list[str]:
        await pause()
        return sorted({r.partner_state for r in self._s.case_summaries.values()})

    async def save_summaries(self, rows: Sequence[NewSummary]) -> int:
        if not rows:
            await pause()
            return 0
        return await self._s.write("case summaries", partial(self._save, rows))

    def _save(self, rows: Sequence[NewSummary], tx: Tx) -> int:
        saved = 0
        for new in rows:
            current = self._s.case_summaries.get(new.link_id)
            if current is None or current.generation != new.built_from:
                continue
            tx.put(
                self._s.case_summaries,
                new.link_id,
                replace(
                    current,
                    built_from=new.built_from,
                    context=new.context,
                    wake_at_ms=new.wake_at_ms,
                    summary=bytes(new.summary),
                    case_id=new.case_id,
                ),
            )
            tx.put(self._s.summary_spans, new.link_id, (new.case_id, new.first_ms, new.last_ms))
            saved += 1
        return saved
