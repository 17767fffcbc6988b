"""Case links, their events, the cursors of what has been applied to them, and parked messages in
SQLite (docs/adr/0014). ``apply`` writes them in one transaction with the audit leaves it is given;
rows are read with their columns checked (``rows``): a damaged one is a ``DamagedLink`` or a
``DamagedRow`` in a list and a ``DamagedData`` naming it when read alone.

Every worklist query names its index (``INDEXED BY``), so a page of 100,000 links is read in index
order without sorting them (tests/storage/test_schema.py holds the queries to their plans).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from focalpoint.cases.events import Origin
from focalpoint.cases.stages import Side, Stage
from focalpoint.errors import Conflict, NotFound
from focalpoint.storage.base import (
    CaseApplied,
    CaseEventRow,
    CaseWrite,
    CursorMove,
    DamagedLink,
    DamagedRow,
    LinkRow,
    LinkUpdate,
    NewCaseEvent,
    NewLink,
    NewSummary,
    ParkedMessage,
    ParkedRow,
    SummaryRow,
)
from focalpoint.storage.sqlite.db import Database, Tx
from focalpoint.storage.sqlite.rows import BYTES, INT, TEXT, Column, bad_column, damaged_row, stored_int

__all__ = ["WORKLIST_INDEXES", "SqliteCases", "touch_summary", "worklist_sql"]

_LINK_COLS = (
    "rowid, link_id, case_id, case_ref, partner_node, partner_state, our_side, unit, created_at_ms, stage,"
    " stage_since_ms, urgency, gate_missing, next_due_ms, flagged, closed, updated_at_ms, payload"
)
_LINK_COLUMNS: tuple[Column, ...] = (
    ("rowid", INT, False),
    ("link_id", TEXT, False),
    ("case_id", TEXT, False),
    ("case_ref", TEXT, False),
    ("partner_node", TEXT, False),
    ("partner_state", TEXT, False),
    ("our_side", TEXT, False),
    ("unit", TEXT, False),
    ("created_at_ms", INT, False),
    ("stage", TEXT, False),
    ("stage_since_ms", INT, False),
    ("urgency", INT, False),
    ("gate_missing", TEXT, False),
    ("next_due_ms", INT, True),
    ("flagged", INT, False),
    ("closed", INT, False),
    ("updated_at_ms", INT, False),
    ("payload", BYTES, False),
)
_SIDES = frozenset(s.value for s in Side)
_STAGES = frozenset(s.value for s in Stage)
_ORIGINS = frozenset(o.value for o in Origin)

_EVENT_COLS = "seq, link_id, message_id, origin, kind, at_ms, sender_node, sequence, payload"
_EVENT_COLUMNS: tuple[Column, ...] = (
    ("seq", INT, False),
    ("link_id", TEXT, False),
    ("message_id", BYTES, False),
    ("origin", TEXT, False),
    ("kind", TEXT, False),
    ("at_ms", INT, False),
    ("sender_node", TEXT, False),
    ("sequence", INT, False),
    ("payload", BYTES, False),
)
_PARKED_COLS = "seq, sender, message_id, case_ref, kind, at_ms, reason"
_PARKED_COLUMNS: tuple[Column, ...] = (
    ("seq", INT, False),
    ("sender", TEXT, False),
    ("message_id", BYTES, False),
    ("case_ref", TEXT, False),
    ("kind", TEXT, False),
    ("at_ms", INT, False),
    ("reason", TEXT, False),
)

# (of one unit, closed ones too) -> the index that gives that worklist in order.
WORKLIST_INDEXES = {
    (True, False): "case_worklist_unit",
    (False, False): "case_worklist",
    (True, True): "case_links_unit",
    (False, True): "case_links_updated",
}


def worklist_sql(*, of_unit: bool, include_closed: bool, paged: bool) -> str:
    """The worklist query; its parameters: the unit (when ``of_unit``), the page's (updated_at_ms,
    link_id) bound (when ``paged``), the limit."""
    where = [] if include_closed else ["closed = 0"]  # a literal: the open indexes are partial on it
    if of_unit:
        where.append("unit = ?")
    if paged:
        where.append("(updated_at_ms, link_id) < (?, ?)")
    index = WORKLIST_INDEXES[(of_unit, include_closed)]
    return (
        f"SELECT {_LINK_COLS} FROM case_links INDEXED BY {index}"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + " ORDER BY updated_at_ms DESC, link_id DESC LIMIT ?"
    )


_IN_CHUNK = 500
_SUMMARY_COLS = "rowid, link_id, partner_state, generation, built_from, context, wake_at_ms, summary, case_id"
_SUMMARY_COLUMNS: tuple[Column, ...] = (
    ("rowid", INT, False),
    ("link_id", TEXT, False),
    ("partner_state", TEXT, False),
    ("generation", INT, False),
    ("built_from", INT, False),
    ("context", TEXT, False),
    ("wake_at_ms", INT, True),
    ("summary", BYTES, False),
    ("case_id", TEXT, False),
)


def _summary(row: Any) -> SummaryRow | DamagedLink:
    # The common case checked inline (a report reads every row); anything else is told apart by
    # ``bad_column``, which names the column.
    _, link_id, state, generation, built_from, context, wake, summary, case_id = row
    if (
        type(case_id) is str
        and type(link_id) is str
        and type(state) is str
        and type(generation) is int
        and type(built_from) is int
        and type(context) is str
        and (wake is None or type(wake) is int)
        and type(summary) is bytes
    ):
        return SummaryRow(link_id, state, generation, built_from, context, wake, summary, case_id)
    reason = bad_column(row, _SUMMARY_COLUMNS) or "a column holds a value of the wrong type"
    return DamagedLink(row[0], link_id if isinstance(link_id, str) else "", reason)


def _link(row: Any) -> LinkRow | DamagedLink:
    """The stored link, or where it is and why it cannot be read."""
    reason = bad_column(row, _LINK_COLUMNS)
    if not reason:
        if row[6] not in _SIDES:
            reason = "column our_side holds an unknown side"
        elif row[9] not in _STAGES:
            reason = "column stage holds an unknown stage"
        elif row[15] not in (0, 1):
            reason = "column closed holds neither 0 nor 1"
    if reason:
        return DamagedLink(row[0], row[1] if isinstance(row[1], str) else "", reason)
    return LinkRow(
        link_id=row[1],
        case_id=row[2],
        case_ref=row[3],
        partner_node=row[4],
        partner_state=row[5],
        our_side=Side(row[6]),
        unit=row[7],
        created_at_ms=row[8],
        stage=Stage(row[9]),
        stage_since_ms=row[10],
        urgency=row[11],
        gate_missing=row[12],
        next_due_ms=row[13],
        flagged=row[14],
        closed=bool(row[15]),
        updated_at_ms=row[16],
        payload=row[17],
    )


def _event(row: Any) -> CaseEventRow | DamagedRow:
    reason = bad_column(row, _EVENT_COLUMNS) or ("" if row[3] in _ORIGINS else "column origin holds an unknown origin")
    if reason:
        message_id = row[2] if isinstance(row[2], bytes) else b""
        return DamagedRow(row[0], message_id, row[6] if isinstance(row[6], str) else "", reason)
    return CaseEventRow(row[0], row[1], row[2], Origin(row[3]), *row[4:])


def _parked(row: Any) -> ParkedRow | DamagedRow:
    reason = bad_column(row, _PARKED_COLUMNS)
    if reason:
        message_id = row[2] if isinstance(row[2], bytes) else b""
        return DamagedRow(row[0], message_id, row[1] if isinstance(row[1], str) else "", reason)
    return ParkedRow(*row)


class SqliteCases:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_link(self, link: NewLink, leaves: Sequence[bytes] = ()) -> None:
        await self.apply(CaseWrite(links=[link], leaves=[(leaf, link.case_ref) for leaf in leaves]))

    async def apply(self, write: CaseWrite) -> CaseApplied:
        if write.empty():
            return CaseApplied((), self._db.audit_size)  # nothing to do: no transaction

        def body(tx: Tx) -> CaseApplied:
            for new in write.links:
                _create(tx, new)
            for move in write.cursors:
                _move(tx, move, self._db.path)
            new_events = _insert_events(tx, write.events)
            for update in write.updates:
                _update(tx, update)
            for sender, message_id in write.unpark:
                tx.fetchall("DELETE FROM case_parked WHERE sender = ? AND message_id = ?", (sender, message_id))
            for parked in write.park:
                _park(tx, parked)
            for link_id, message_id, payload in write.reseal:
                tx.fetchall(
                    "UPDATE case_events SET payload = ? WHERE link_id = ? AND message_id = ?",
                    (payload, link_id, message_id),
                )
            for sender, message_id in write.purge_inbox:
                tx.fetchall(
                    "UPDATE inbox SET local_copy = x'' WHERE sender = ? AND message_id = ?", (sender, message_id)
                )
            touched = [e.link_id for e in write.events] + [u.link_id for u in write.updates]
            for link_id in dict.fromkeys(touched + [link_id for link_id, _, _ in write.reseal]):
                touch_summary(tx, link_id)
            first = tx.next_index
            for leaf, case_ref in write.leaves:
                tx.log(leaf, case_ref)
            return CaseApplied(new_events, first)

        return await self._db.transaction("case write", body)

    async def _links(self, where: str, params: Sequence[Any]) -> list[LinkRow | DamagedLink]:
        return [_link(r) for r in await self._db.fetch_checked(f"SELECT {_LINK_COLS} FROM case_links {where}", params)]

    async def _one_link(self, where: str, params: Sequence[Any]) -> LinkRow | None:
        """The link ``where`` selects; raises DamagedData naming it when it cannot be read."""
        rows = await self._links(where, params)
        if not rows:
            return None
        got = rows[0]
        if isinstance(got, DamagedLink):
            raise damaged_row(self._db.path, "case_links", got.row, got.reason)
        return got

    async def link(self, link_id: str) -> LinkRow | None:
        return await self._one_link("WHERE link_id = ?", (link_id,))

    async def link_by_ref(self, case_ref: str, partner_node: str) -> LinkRow | None:
        return await self._one_link("WHERE case_ref = ? AND partner_node = ?", (case_ref, partner_node))

    async def links_of_ref(self, case_ref: str) -> list[LinkRow | DamagedLink]:
        return await self._links("WHERE case_ref = ? ORDER BY rowid", (case_ref,))

    async def links_of_case(self, case_id: str) -> list[LinkRow | DamagedLink]:
        return await self._links("WHERE case_id = ? ORDER BY rowid", (case_id,))

    async def events(self, link_id: str) -> list[CaseEventRow | DamagedRow]:
        rows = await self._db.fetch_checked(
            f"SELECT {_EVENT_COLS} FROM case_events WHERE link_id = ? ORDER BY seq", (link_id,)
        )
        return [_event(r) for r in rows]

    async def cursor(self, source: str) -> int:
        rows = await self._db.fetchall("SELECT position FROM case_cursors WHERE source = ?", (source,))
        return stored_int(rows[0][0], self._db.path, f"case_cursors row {source!r}") if rows else 0

    async def worklist(
        self, unit: str | None, *, limit: int, before: tuple[int, str] | None = None, include_closed: bool = False
    ) -> list[LinkRow | DamagedLink]:
        sql = worklist_sql(of_unit=unit is not None, include_closed=include_closed, paged=before is not None)
        params = [*([unit] if unit is not None else []), *(before or ()), limit]
        return [_link(r) for r in await self._db.fetch_checked(sql, params)]

    async def parked(self, limit: int, before: int) -> list[ParkedRow | DamagedRow]:
        rows = await self._db.fetch_checked(
            f"SELECT {_PARKED_COLS} FROM case_parked WHERE seq < ? ORDER BY seq DESC LIMIT ?",
            (before or (1 << 62), limit),
        )
        return [_parked(r) for r in rows]

    async def summary(self, link_id: str) -> SummaryRow | None:
        rows = await self._db.fetch_checked(f"SELECT {_SUMMARY_COLS} FROM case_summaries WHERE link_id = ?", (link_id,))
        if not rows:
            return None
        got = _summary(rows[0])
        if isinstance(got, DamagedLink):
            raise damaged_row(self._db.path, "case_summaries", got.row, got.reason)
        return got

    async def summaries(self, *, limit: int, after: str = "") -> list[SummaryRow | DamagedLink]:
        rows = await self._db.fetch_checked(
            f"SELECT {_SUMMARY_COLS} FROM case_summaries WHERE link_id > ? ORDER BY link_id LIMIT ?", (after, limit)
        )
        return [_summary(r) for r in rows]

    async def summaries_of(self, link_ids: Sequence[str]) -> list[SummaryRow | DamagedLink]:
        ids = list(dict.fromkeys(link_ids))
        out: list[SummaryRow | DamagedLink] = []
        for start in range(0, len(ids), _IN_CHUNK):  # below SQLite's bound on a statement's parameters
            chunk = ids[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT {_SUMMARY_COLS} FROM case_summaries WHERE link_id IN ({marks})"
            out += [_summary(r) for r in await self._db.fetch_checked(sql, chunk)]
        return out

    async def cases_bearing_on(self, end_ms: int, from_ms: int) -> set[str]:
        rows = await self._db.fetchall(
            "SELECT DISTINCT case_id FROM case_summaries WHERE built_from != generation OR first_ms = 0"
            " OR (first_ms < ? AND (last_ms = 0 OR last_ms >= ?))",
            (end_ms, from_ms),
        )
        return {r[0] for r in rows if isinstance(r[0], str)}

    async def summaries_due(self, now_ms: int, contexts: Mapping[str, str], limit: int) -> list[str]:
        # One indexed query per reason (an OR across them would read every row).
        queries: list[tuple[str, Sequence[Any]]] = [
            ("SELECT link_id FROM case_summaries WHERE built_from != generation LIMIT ?", (limit,)),
            (
                "SELECT link_id FROM case_summaries WHERE wake_at_ms IS NOT NULL AND wake_at_ms <= ? LIMIT ?",
                (now_ms, limit),
            ),
        ]
        queries += [
            ("SELECT link_id FROM case_summaries WHERE partner_state = ? AND context != ? LIMIT ?", (state, ctx, limit))
            for state, ctx in sorted(contexts.items())
        ]
        due: set[str] = set()
        for sql, params in queries:
            due.update(r[0] for r in await self._db.fetchall(sql, params) if isinstance(r[0], str))
        return sorted(due)[: max(limit, 0)] if limit >= 0 else sorted(due)

    async def partner_states(self) -> list[str]:
        rows = await self._db.fetchall("SELECT DISTINCT partner_state FROM case_summaries ORDER BY partner_state", ())
        return [r[0] for r in rows if isinstance(r[0], str)]

    async def save_summaries(self, rows: Sequence[NewSummary]) -> int:
        if not rows:
            return 0

        def body(tx: Tx) -> int:
            saved = 0
            for new in rows:
                saved += tx.db.execute(
                    "UPDATE case_summaries SET built_from = ?, context = ?, wake_at_ms = ?, summary = ?,"
                    " case_id = ?, first_ms = ?, last_ms = ? WHERE link_id = ? AND generation = ?",
                    (
                        new.built_from,
                        new.context,
                        new.wake_at_ms,
                        new.summary,
                        new.case_id,
                        new.first_ms,
                        new.last_ms,
                        new.link_id,
                        new.built_from,
                    ),
                ).rowcount
            return saved

        return await self._db.transaction("case summaries", body)


# --- the steps of one write, in the writer's thread (the messages are the in-memory store's) ---


def _create(tx: Tx, new: NewLink) -> None:
    if tx.fetchall("SELECT 1 FROM case_links WHERE link_id = ?", (new.link_id,)):
        raise Conflict(f"case link {new.link_id} already exists; nothing was written")
    other = tx.fetchall(
        "SELECT link_id FROM case_links WHERE case_ref = ? AND partner_node = ?", (new.case_ref, new.partner_node)
    )
    if other:
        raise Conflict(
            f"the case reference already has a link to {new.partner_node} (link {other[0][0]}); nothing was written"
        )
    tx.fetchall(
        "INSERT INTO case_links (link_id, case_id, case_ref, partner_node, partner_state, our_side, created_at_ms,"
        " unit, stage, stage_since_ms, urgency, gate_missing, next_due_ms, flagged, closed, updated_at_ms, payload)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '', NULL, 0, 0, ?, ?)",
        (
            new.link_id,
            new.case_id,
            new.case_ref,
            new.partner_node,
            new.partner_state,
            new.our_side.value,
            new.created_at_ms,
            new.unit,
            new.stage.value,
            new.created_at_ms,
            new.created_at_ms,
            new.payload,
        ),
    )
    tx.fetchall(
        "INSERT INTO case_summaries (link_id, partner_state, generation, built_from, context, wake_at_ms, summary)"
        " VALUES (?, ?, 1, -1, '', NULL, x'')"
        " ON CONFLICT (link_id) DO UPDATE SET generation = generation + 1",
        (new.link_id, new.partner_state),
    )


def touch_summary(tx: Tx, link_id: str) -> None:
    """A write changed what ``link_id``'s summary is built from: move its generation on."""
    tx.fetchall("UPDATE case_summaries SET generation = generation + 1 WHERE link_id = ?", (link_id,))


def _move(tx: Tx, move: CursorMove, path: Path) -> None:
    rows = tx.fetchall("SELECT position FROM case_cursors WHERE source = ?", (move.source,))
    at = stored_int(rows[0][0], path, f"case_cursors row {move.source!r}") if rows else 0
    if at != move.from_position:
        raise Conflict(
            f"case cursor {move.source!r} is at {at}, not {move.from_position}: another writer applied"
            " those rows; nothing was written"
        )
    tx.fetchall(
        "INSERT INTO case_cursors (source, position) VALUES (?, ?)"
        " ON CONFLICT (source) DO UPDATE SET position = excluded.position",
        (move.source, move.to_position),
    )


def _insert_events(tx: Tx, events: Sequence[NewCaseEvent]) -> tuple[tuple[str, bytes], ...]:
    """Insert the events not stored before (each once); their (link id, message id), in order."""
    known: set[str] = set()
    new: dict[tuple[str, bytes], None] = {}
    for e in events:
        if e.link_id not in known:
            if not tx.fetchall("SELECT 1 FROM case_links WHERE link_id = ?", (e.link_id,)):
                raise NotFound(f"no case link {e.link_id}; nothing was written")
            known.add(e.link_id)
        key = (e.link_id, bytes(e.message_id))
        if key in new or tx.fetchall("SELECT 1 FROM case_events WHERE link_id = ? AND message_id = ?", key):
            continue
        new[key] = None
        tx.fetchall(
            "INSERT INTO case_events (link_id, message_id, origin, kind, at_ms, sender_node, sequence, payload)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (e.link_id, e.message_id, e.origin.value, e.kind, e.at_ms, e.sender_node, e.sequence, e.payload),
        )
    return tuple(new)


def _update(tx: Tx, u: LinkUpdate) -> None:
    changed = tx.db.execute(
        "UPDATE case_links SET stage = ?, stage_since_ms = ?, urgency = ?, gate_missing = ?, next_due_ms = ?,"
        " flagged = ?, closed = ?, updated_at_ms = ?, unit = ?, payload = COALESCE(?, payload) WHERE link_id = ?",
        (
            u.stage.value,
            u.stage_since_ms,
            u.urgency,
            u.gate_missing,
            u.next_due_ms,
            u.flagged,
            int(u.closed),
            u.updated_at_ms,
            u.unit,
            u.payload,
            u.link_id,
        ),
    ).rowcount
    if changed != 1:
        raise NotFound(f"no case link {u.link_id}; nothing was written")


def _park(tx: Tx, p: ParkedMessage) -> None:
    """Keep ``p`` unless it is parked already (then it stays as it was, with its place in the list)."""
    if tx.fetchall("SELECT 1 FROM case_parked WHERE sender = ? AND message_id = ?", (p.sender, p.message_id)):
        return
    tx.fetchall(
        "INSERT INTO case_parked (sender, message_id, case_ref, kind, at_ms, reason) VALUES (?, ?, ?, ?, ?, ?)",
        (p.sender, p.message_id, p.case_ref, p.kind, p.at_ms, p.reason),
    )
